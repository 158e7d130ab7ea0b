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

from salesbench import viz
from salesbench.analyses.performance.kpis import KPI, KPIS, format_diff, format_value, kpi_label, kpi_phrase, status_word
from salesbench.analyses.performance.periods import period_text
from salesbench.core import i18n

_, ngettext, pgettext = i18n.messages(__name__).functions()

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
    from scipy.stats import norm, spearmanr  # here: the runner imports this module for its parameter checks

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
        with i18n.language("en"):  # the exported table is English whatever the report's language
            reading = reading_text(x, y, r["rho"], r["lo"], r["hi"])
        rows.append({"x": x, "y": y, "x_label": xl, "y_label": yl, **r, "reading": reading})
    cols = ["x", "y", "x_label", "y_label", "n", "rho", "lo", "hi", "p_value", "reading"]
    return pd.DataFrame(rows, columns=cols)


def reading_text(x: str, y: str, rho: float, lo: float, hi: float) -> str:
    """The plain-language reading of one KPI pair in the report's language (never a cause)."""
    xl, yl = kpi_phrase(x), kpi_phrase(y)
    if np.isnan(rho):
        return _("too few reps with both {x} and {y} to tell", x=xl, y=yl)
    if lo > 0:
        return _("reps with a higher {x} tend to have a higher {y} (association, not cause)", x=xl, y=yl)
    if hi < 0:
        return _("reps with a higher {x} tend to have a lower {y} (association, not cause)", x=xl, y=yl)
    return _("no clear association between {x} and {y}: the interval includes zero", x=xl, y=yl)


# --------------------------------------------------------------------------- feedback
def _spreads(card: pd.DataFrame, kpis: Sequence[str]) -> dict[str, float]:
    """Per KPI of ``kpis`` in ``card``: the sd across all reps (ddof 1; NaN with fewer than two values)."""
    return {k: card[k].std(ddof=1) if card[k].notna().sum() > 1 else np.nan for k in kpis if k in card.columns}


def _medians(team: pd.DataFrame, kpis: Sequence[str]) -> dict[str, float]:
    """Per KPI of ``kpis`` in ``team``: the median of the team's reps (NaN when none has a value)."""
    return {k: team[k].median() if team[k].notna().any() else np.nan for k in kpis if k in team.columns}


def kpi_comparison(card: pd.DataFrame, rep_id: str, kpis: Sequence[str],
                   _stats: dict | None = None) -> pd.DataFrame:
    """One rep's KPIs against the team median, the target and the spread across all reps.

    Returns rows ``kpi, label, value, team_median, diff (value − team median),
    z (oriented diff / sd across reps: positive = better), attainment, status``.
    ``_stats`` (internal, :func:`rep_feedback`): a dict in which the spreads and each team's medians are
    kept between calls on the same ``card`` and ``kpis``, so they are computed once, not once per rep.
    """
    row = card.loc[card["rep_id"] == rep_id]
    if row.empty:
        raise KeyError(f"rep {rep_id!r} is not in the scorecard")
    row = row.iloc[0]
    stats = {} if _stats is None else _stats
    if "sd" not in stats:
        stats["sd"] = _spreads(card, kpis)
    team_key = ("team", row["team"]) if "team" in card.columns else ("team",)
    if team_key not in stats:
        stats[team_key] = _medians(card[card["team"] == row["team"]] if "team" in card.columns else card, kpis)
    sds, meds = stats["sd"], stats[team_key]
    out = []
    for k in kpis:
        if k not in card.columns:
            continue
        v = row[k]
        med = meds[k]
        sd = sds[k]
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
    fields = dict(kpi=kpi_label(k), value=format_value(k, item["value"]), median=format_value(k, item["team_median"]),
                  diff=format_diff(k, item["diff"]))
    if pd.notna(item.get("attainment")):
        return _("{kpi} {value} vs team median {median} ({diff}), {attainment} of target",
                 attainment=viz.fmt_pct(item["attainment"]), **fields)
    return _("{kpi} {value} vs team median {median} ({diff})", **fields)


def feedback_texts(fb: dict[str, Any]) -> dict[str, Any]:
    """``summary``, ``strengths``, ``gaps`` and ``trend_text`` of one :func:`rep_feedback` item in the report's language.

    Built from the item's numbers (``comparison``, ``trend``, ``strength_kpis``, ``gap_kpis``, ranks and
    counts); the item's own text fields are these in English (the exported table).
    """
    comp = fb["comparison"]
    rid, name = fb["rep_id"], fb.get("shown_name", fb["rep_id"])
    score, rank, rank_team = fb["score"], fb.get("rank"), fb.get("rank_team")
    status = status_word(fb["status"])
    fields = dict(name=name, rep_id=rid, status=status, score=f"{score:.0f}" if pd.notna(score) else "",
                  rank="" if rank is None or pd.isna(rank) else int(rank), n=fb["n_company"],
                  rank_team="" if rank_team is None or pd.isna(rank_team) else int(rank_team),
                  team_n=fb["team_n"], team=fb.get("team"))
    has_rank = fields["rank"] != ""
    has_team = fb.get("has_rank_team", False) and fields["rank_team"] != ""
    if pd.isna(score):
        if has_rank and has_team:
            summary = _("{name} ({rep_id}): no score (too few KPIs), rank {rank} of {n} in the company and "
                        "{rank_team} of {team_n} in {team}; status {status}.", **fields)
        elif has_rank:
            summary = _("{name} ({rep_id}): no score (too few KPIs), rank {rank} of {n} in the company; "
                        "status {status}.", **fields)
        elif has_team:
            summary = _("{name} ({rep_id}): no score (too few KPIs) and {rank_team} of {team_n} in {team}; "
                        "status {status}.", **fields)
        else:
            summary = _("{name} ({rep_id}): no score (too few KPIs); status {status}.", **fields)
    elif has_rank and has_team:
        summary = _("{name} ({rep_id}): score {score}, rank {rank} of {n} in the company and "
                    "{rank_team} of {team_n} in {team}; status {status}.", **fields)
    elif has_rank:
        summary = _("{name} ({rep_id}): score {score}, rank {rank} of {n} in the company; status {status}.", **fields)
    elif has_team:
        summary = _("{name} ({rep_id}): score {score} and {rank_team} of {team_n} in {team}; status {status}.",
                    **fields)
    else:
        summary = _("{name} ({rep_id}): score {score}; status {status}.", **fields)
    trend = fb["trend"]
    sep = _(", ")
    if len(trend) >= 2 and "revenue_attainment" in trend and trend["revenue_attainment"].notna().sum() >= 2:
        seq = sep.join(_("{period} {value}", period=period_text(p), value=viz.fmt_pct(a))
                       for p, a in zip(trend["period"], trend["revenue_attainment"]) if pd.notna(a))
        trend_txt = _("Revenue attainment by period: {seq}.", seq=seq)
    elif len(trend) >= 2:
        seq = sep.join(_("{period} {value}", period=period_text(p), value=format(s, ".0f"))
                       for p, s in zip(trend["period"], trend["score"]) if pd.notna(s))
        trend_txt = _("Score by period: {seq}.", seq=seq)
    else:
        trend_txt = ""
    return {"summary": summary,
            "strengths": [_item_text(comp[comp["kpi"] == k].iloc[0]) for k in fb["strength_kpis"]],
            "gaps": [_item_text(comp[comp["kpi"] == k].iloc[0]) for k in fb["gap_kpis"]],
            "trend_text": trend_txt}


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
    with score, ranks and status. The texts (``summary``, ``strengths``,
    ``gaps``, ``trend_text``) are English (the exported feedback table);
    :func:`feedback_texts` writes them in the report's language from the
    item's numbers (``strength_kpis``, ``gap_kpis``, ``n_company``, ``team_n``).
    """
    candidates = list(dict.fromkeys(list(kpis) + [k for k in FEEDBACK_EXTRA if k in card.columns]))
    ids = list(card["rep_id"]) if rep_ids is None else list(rep_ids)
    n_company = int(card["score"].notna().sum())
    out = []
    stats: dict = {}  # the spreads and team medians, once per card (not once per rep)
    for rid in ids:
        row = card.loc[card["rep_id"] == rid].iloc[0]
        comp = kpi_comparison(card, rid, candidates, stats)
        ranked = comp.dropna(subset=["z"]).sort_values("z", ascending=False)
        strength_kpis = list(ranked[ranked["z"] >= min_z].head(n_items)["kpi"])
        gap_kpis = list(ranked[ranked["z"] <= -min_z].sort_values("z").head(n_items)["kpi"])
        cols = [c for c in ("period", "score", "revenue", "revenue_target", "revenue_attainment", "status") if c in history.columns]
        trend = history.loc[history["rep_id"] == rid, cols].sort_values("period").reset_index(drop=True)
        team_n = int((card["team"] == row.get("team")).sum()) if "team" in card.columns else n_company
        item = {
            "rep_id": rid, "name": row.get("name"), "team": row.get("team"), "region": row.get("region"),
            "score": row["score"], "rank": row.get("rank"), "rank_team": row.get("rank_team"), "status": row["status"],
            "comparison": comp, "trend": trend, "strength_kpis": strength_kpis, "gap_kpis": gap_kpis,
            "n_company": n_company, "team_n": team_n, "has_rank_team": "rank_team" in row,
            "shown_name": row.get("name", rid),
        }
        with i18n.language("en"):  # the exported table is English whatever the report's language
            item.update(feedback_texts(item))
        out.append(item)
    return out
