"""Relationships worth a manager's attention, and quantified feedback per rep.

Relationships
-------------
:func:`relationships` measures, across reps, the Spearman rank correlation of
pairs of KPIs (discount vs gross margin, visits vs win rate, complaints vs
CSAT) with a confidence interval from the Fisher z-transform using the
Bonett & Wright (2000, *Psychometrika* 65:23-28) standard error for Spearman's
rho, ``SE(z) = sqrt((1 + rho²/2) / (n − 3))``. They are associations between
reps, not causes: a rep with big accounts may both discount more and earn a
different margin.

Feedback
--------
:func:`rep_feedback` compares each rep with the median of their team on every
KPI (and with target where there is one), orients each difference so that
positive is good, scales it by the KPI's spread across all reps (standard
deviation) to rank KPIs against each other, and names the two largest
strengths and gaps with their numbers. The trend is the rep's score and
revenue attainment over the last periods.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm, spearmanr

from salesbench import viz
from salesbench.analyses.performance.kpis import KPI, KPIS, format_diff, format_value
from salesbench.analyses.performance.periods import period_label

#: KPIs considered for feedback in addition to the weighted ones.
FEEDBACK_EXTRA: tuple[str, ...] = ("win_rate", "avg_deal_size", "nps", "discount_rate", "expense_ratio")


# --------------------------------------------------------------------------- relationships
def spearman_ci(x: Sequence[float], y: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """Spearman's rho with a Fisher-z confidence interval (Bonett & Wright SE) and p-value.

    Returns ``{n, rho, lo, hi, p_value}``; NaN entries when n < 5 or a
    variable is constant.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    n = int(len(x))
    nan = {"n": n, "rho": np.nan, "lo": np.nan, "hi": np.nan, "p_value": np.nan}
    if n < 5 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return nan
    res = spearmanr(x, y)
    rho = float(res.statistic)
    z = math.atanh(max(min(rho, 0.999999), -0.999999))
    se = math.sqrt((1 + rho**2 / 2) / (n - 3))
    zc = float(norm.ppf(1 - (1 - confidence) / 2))
    return {"n": n, "rho": rho, "lo": math.tanh(z - zc * se), "hi": math.tanh(z + zc * se),
            "p_value": float(res.pvalue)}


def relationships(frame: pd.DataFrame, pairs: Iterable[Sequence[str]], confidence: float = 0.95) -> pd.DataFrame:
    """Spearman correlation with confidence interval for each KPI pair across the rows (reps).

    Returns one row per pair: ``x, y, x_label, y_label, n, rho, lo, hi,
    p_value, reading`` where ``reading`` is a plain-language sentence that
    never claims a cause. Pairs with a KPI absent from ``frame`` are skipped.
    """
    rows = []
    for x, y in pairs:
        if x not in frame.columns or y not in frame.columns:
            continue
        r = spearman_ci(frame[x], frame[y], confidence)
        xl, yl = KPIS[x].label if x in KPIS else x, KPIS[y].label if y in KPIS else y
        if np.isnan(r["rho"]):
            reading = f"too few reps with both {xl.lower()} and {yl.lower()} to tell"
        elif r["lo"] > 0:
            reading = f"reps with a higher {xl.lower()} tend to have a higher {yl.lower()} (association, not cause)"
        elif r["hi"] < 0:
            reading = f"reps with a higher {xl.lower()} tend to have a lower {yl.lower()} (association, not cause)"
        else:
            reading = f"no clear association between {xl.lower()} and {yl.lower()}: the interval includes zero"
        rows.append({"x": x, "y": y, "x_label": xl, "y_label": yl, **r, "reading": reading})
    cols = ["x", "y", "x_label", "y_label", "n", "rho", "lo", "hi", "p_value", "reading"]
    return pd.DataFrame(rows, columns=cols)


# --------------------------------------------------------------------------- feedback
def kpi_comparison(card: pd.DataFrame, rep_id: str, kpis: Sequence[str]) -> pd.DataFrame:
    """One rep's KPIs against the team median, the target and the spread across all reps.

    Returns rows ``kpi, label, value, team_median, diff (value − team median),
    z (oriented diff / sd across reps: positive = better), attainment, status``.
    """
    row = card.loc[card["rep_id"] == rep_id]
    if row.empty:
        raise KeyError(f"rep {rep_id!r} is not in the scorecard")
    row = row.iloc[0]
    team = card[card["team"] == row["team"]] if "team" in card.columns else card
    out = []
    for k in kpis:
        if k not in card.columns:
            continue
        v = row[k]
        med = team[k].median() if team[k].notna().any() else np.nan
        sd = card[k].std(ddof=1) if card[k].notna().sum() > 1 else np.nan
        sign = 1.0 if KPIS.get(k, KPI(k, k)).higher_is_better else -1.0
        diff = v - med if pd.notna(v) and pd.notna(med) else np.nan
        z = sign * diff / sd if pd.notna(diff) and sd and sd > 0 else np.nan
        out.append({
            "kpi": k, "label": KPIS[k].label if k in KPIS else k, "value": v, "team_median": med,
            "diff": diff, "z": z, "attainment": row.get(f"{k}_attainment", np.nan),
            "status": row.get(f"status_{k}", "grey"),
        })
    return pd.DataFrame(out)


def _item_text(item: pd.Series) -> str:
    k = item["kpi"]
    text = (f"{item['label']} {format_value(k, item['value'])} vs team median "
            f"{format_value(k, item['team_median'])} ({format_diff(k, item['diff'])})")
    if pd.notna(item.get("attainment")):
        text += f", {viz.fmt_pct(item['attainment'])} of target"
    return text


def rep_feedback(
    card: pd.DataFrame,
    history: pd.DataFrame,
    kpis: Sequence[str],
    rep_ids: Iterable[str] | None = None,
    n_items: int = 2,
    min_z: float = 0.25,
) -> list[dict[str, Any]]:
    """Feedback for each rep in ``rep_ids`` (default: all reps of ``card``).

    ``card`` is the scorecard of the review period, ``history`` the
    scorecards of the trend periods (with a ``period`` column). For each rep:
    ``strengths`` / ``gaps`` — up to ``n_items`` KPIs (the weighted ones plus
    :data:`FEEDBACK_EXTRA`) whose oriented, spread-scaled difference from the
    team median is at least ``min_z`` (best first / worst first) as sentences
    with the numbers; ``comparison`` (:func:`kpi_comparison`); ``trend``
    (period, score, revenue, revenue_attainment); ``summary`` one sentence
    with score, ranks and status.
    """
    candidates = list(dict.fromkeys(list(kpis) + [k for k in FEEDBACK_EXTRA if k in card.columns]))
    ids = list(card["rep_id"]) if rep_ids is None else list(rep_ids)
    n_company = int(card["score"].notna().sum())
    out = []
    for rid in ids:
        row = card.loc[card["rep_id"] == rid].iloc[0]
        comp = kpi_comparison(card, rid, candidates)
        ranked = comp.dropna(subset=["z"]).sort_values("z", ascending=False)
        strengths = [_item_text(r) for _, r in ranked[ranked["z"] >= min_z].head(n_items).iterrows()]
        gaps = [_item_text(r) for _, r in ranked[ranked["z"] <= -min_z].sort_values("z").head(n_items).iterrows()]
        cols = [c for c in ("period", "score", "revenue", "revenue_target", "revenue_attainment", "status") if c in history.columns]
        trend = history.loc[history["rep_id"] == rid, cols].sort_values("period").reset_index(drop=True)
        team_n = int((card["team"] == row.get("team")).sum()) if "team" in card.columns else n_company
        score_txt = "no score (too few KPIs)" if pd.isna(row["score"]) else f"score {row['score']:.0f}"
        rank_txt = "" if pd.isna(row.get("rank")) else f", rank {int(row['rank'])} of {n_company} in the company"
        if "rank_team" in row and pd.notna(row["rank_team"]):
            rank_txt += f" and {int(row['rank_team'])} of {team_n} in {row['team']}"
        summary = f"{row.get('name', rid)} ({rid}): {score_txt}{rank_txt}; status {row['status']}."
        if len(trend) >= 2 and "revenue_attainment" in trend and trend["revenue_attainment"].notna().sum() >= 2:
            seq = ", ".join(f"{period_label(p)} {viz.fmt_pct(a)}" for p, a in zip(trend["period"], trend["revenue_attainment"]) if pd.notna(a))
            trend_txt = f"Revenue attainment by period: {seq}."
        elif len(trend) >= 2:
            seq = ", ".join(f"{period_label(p)} {s:.0f}" for p, s in zip(trend["period"], trend["score"]) if pd.notna(s))
            trend_txt = f"Score by period: {seq}."
        else:
            trend_txt = ""
        out.append({
            "rep_id": rid, "name": row.get("name"), "team": row.get("team"), "region": row.get("region"),
            "score": row["score"], "rank": row.get("rank"), "rank_team": row.get("rank_team"), "status": row["status"],
            "summary": summary, "strengths": strengths, "gaps": gaps, "trend_text": trend_txt,
            "comparison": comp, "trend": trend,
        })
    return out
