"""The weighted scorecard: each KPI normalized (attainment against target, else the
percentile among peers), combined with the score weights, ranked and classified.

score = 100 × Σ_k w_k · c_k / Σ_{k available} w_k (:func:`composite_score`); the
weights come from ``params/performance.yaml`` and are checked to sum to 1
(:func:`salesbench.analyses.performance.kpis.check_weights`).
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from salesbench.analyses.performance.kpis import (
    DEFAULT_LINES, DEFAULT_WEIGHTS, KPI, KPIS, NORMALIZATIONS, check_lines, check_weights,
)
from salesbench.analyses.performance.measures import column
from salesbench.analyses.performance.warning_lines import classify, worst_status


def peer_percentile(values: pd.Series, groups: pd.Series | None = None, higher_is_better: bool = True) -> pd.Series:
    """Mid-rank percentile of each value within its peer group, in (0, 1).

    ``(rank − 0.5) / n`` with average ranks for ties and ``n`` the number of
    non-missing values in the group (Hazen plotting position), so the median
    peer sits at 0.5 and a group of one at 0.5. Lower-is-better KPIs are ranked
    on the negated value. Missing values stay NaN.
    """
    v = pd.to_numeric(values, errors="coerce").astype(float)
    if not higher_is_better:
        v = -v
    if groups is None:
        r = v.rank(method="average")
        n = v.notna().sum()
        return (r - 0.5) / n if n else r
    r = v.groupby(groups).rank(method="average")
    n = v.groupby(groups).transform("count")
    return (r - 0.5) / n


def normalize_kpi(
    frame: pd.DataFrame,
    kpi: str,
    normalisation: str = "target_else_percentile",
    cap: float = 1.2,
    peer: pd.Series | None = None,
) -> tuple[pd.Series, pd.Series]:
    """The score component of one KPI and its basis (``target`` / ``percentile``).

    ``target_else_percentile``: attainment against target clipped to
    ``[0, cap]`` where the row has a target, else the peer percentile
    (:func:`peer_percentile`, in (0, 1)). ``percentile``: always the percentile.
    """
    if normalisation not in NORMALIZATIONS:
        raise ValueError(f"normalisation must be one of {', '.join(NORMALIZATIONS)}; got {normalisation!r}")
    info = KPIS.get(kpi, KPI(kpi, kpi))
    values = column(frame, kpi)
    pct = peer_percentile(values, peer, info.higher_is_better)
    att_col = f"{kpi}_attainment"
    if normalisation == "target_else_percentile" and att_col in frame.columns:
        att = frame[att_col].astype(float)
        has = att.notna()
        comp = att.clip(0, cap).where(has, pct)
        basis = pd.Series(np.where(has, "target", "percentile"), index=frame.index)
    else:
        comp = pct
        basis = pd.Series("percentile", index=frame.index)
    basis = basis.where(comp.notna(), "missing")
    return comp, basis


def composite_score(
    frame: pd.DataFrame,
    weights: Mapping[str, float] = DEFAULT_WEIGHTS,
    normalisation: str = "target_else_percentile",
    cap: float = 1.2,
    peer: pd.Series | None = None,
    min_weight: float = 0.5,
) -> pd.DataFrame:
    """Weighted composite score per row of ``frame`` (one row per rep).

    score = 100 × Σ_k w_k · c_k / Σ_{k available} w_k

    with ``c_k`` the normalised component of KPI ``k`` (:func:`normalize_kpi`).
    Missing-KPI rule: a KPI the rep has no value for (no surveys, no invoices
    due, table absent) drops out and its weight is spread proportionally over
    the KPIs the rep has; if the weight left (``weight_covered``) is below
    ``min_weight`` the score is NaN. On this scale 100 means "on target" for
    target-based components and 50 "median peer" for percentile components.

    Returns a frame (same index) with ``c_<kpi>``, ``basis_<kpi>``,
    ``weight_covered`` and ``score``.
    """
    w = check_weights(weights)
    out = pd.DataFrame(index=frame.index)
    num = pd.Series(0.0, index=frame.index)
    covered = pd.Series(0.0, index=frame.index)
    for k, wk in w.items():
        comp, basis = normalize_kpi(frame, k, normalisation, cap, peer)
        out[f"c_{k}"] = comp
        out[f"basis_{k}"] = basis
        has = comp.notna()
        num += np.where(has, wk * comp.fillna(0.0), 0.0)
        covered += np.where(has, wk, 0.0)
    out["weight_covered"] = covered
    enough = covered >= min_weight - 1e-12
    out["score"] = (100 * num / covered.where(covered > 0)).where(enough)
    return out



def kpi_status(
    frame: pd.DataFrame,
    components: pd.DataFrame,
    kpis: Iterable[str],
    lines: Mapping[str, Mapping[str, float]],
    peer: pd.Series | None = None,
) -> pd.DataFrame:
    """Status per KPI: attainment lines where the row has a target, else percentile lines.

    Returns ``status_<kpi>`` columns (red / amber / green / grey).
    """
    lines = check_lines(lines)
    out = pd.DataFrame(index=frame.index)
    for k in kpis:
        info = KPIS.get(k, KPI(k, k))
        pct = peer_percentile(column(frame, k), peer, info.higher_is_better)
        by_pct = classify(pct, **lines["percentile"])
        att_col = f"{k}_attainment"
        basis = components.get(f"basis_{k}")
        if att_col in frame.columns and basis is not None:
            by_att = classify(frame[att_col], **lines["attainment"])
            out[f"status_{k}"] = np.where(basis == "target", by_att, by_pct)
        else:
            out[f"status_{k}"] = by_pct
    return out


def scorecard(
    rep_kpis: pd.DataFrame,
    weights: Mapping[str, float] = DEFAULT_WEIGHTS,
    lines: Mapping[str, Mapping[str, float]] | None = None,
    normalisation: str = "target_else_percentile",
    cap: float = 1.2,
    peer_group: str = "company",
    min_weight: float = 0.5,
) -> pd.DataFrame:
    """Scorecard of one period: one row per rep, best first.

    Input: the rep rows of :func:`compute_kpis` for one period. Adds the
    components and ``score`` (:func:`composite_score`), ``status_<kpi>`` per
    weighted KPI, ``score_status`` (score lines), ``status`` = the worst of the
    score status and the statuses of target-based KPIs, ``rank`` (1 = best in
    the company, ties share the best rank) and ``rank_team``. Percentiles are
    taken within ``peer_group`` (``company`` or ``team``).
    """
    lines = check_lines(lines or DEFAULT_LINES)
    df = rep_kpis.reset_index(drop=True).copy()
    if peer_group not in ("company", "team"):
        raise ValueError(f"peer_group must be 'company' or 'team'; got {peer_group!r}")
    peer = df["team"] if peer_group == "team" and "team" in df.columns else None
    comps = composite_score(df, weights, normalisation, cap, peer, min_weight)
    df = pd.concat([df, comps], axis=1)
    w = check_weights(weights)
    st = kpi_status(df, comps, w, lines, peer)
    df = pd.concat([df, st], axis=1)
    df["score_status"] = classify(df["score"], **lines["score"])
    target_cols = [f"status_{k}" for k in w if (comps[f"basis_{k}"] == "target").any()]
    masked = df[["score_status"]].copy()
    for c in target_cols:
        k = c[len("status_"):]
        masked[c] = df[c].where(comps[f"basis_{k}"] == "target", "grey")
    df["status"] = worst_status(masked)
    df["rank"] = df["score"].rank(ascending=False, method="min").astype("Int64")
    if "team" in df.columns:
        df["rank_team"] = df.groupby("team")["score"].rank(ascending=False, method="min").astype("Int64")
    return df.sort_values(["score", "rep_id"], ascending=[False, True], na_position="last").reset_index(drop=True)



def score_truth_spearman(card: pd.DataFrame, truth: Mapping[str, Any] | None) -> float | None:
    """Spearman correlation of rep scores with the demo generator's latent rep skill.

    ``truth`` is ``Dataset.truth``; returns None when it has no ``rep_skill``
    or fewer than three reps have both a score and a skill.
    """
    if not truth or "rep_skill" not in truth:
        return None
    skill = pd.Series(truth["rep_skill"], dtype=float)
    df = card[["rep_id", "score"]].dropna()
    df = df[df["rep_id"].isin(skill.index)]
    if len(df) < 3:
        return None
    from scipy.stats import spearmanr  # here: the runner imports this module for its parameter checks

    return float(spearmanr(df["score"], skill.reindex(df["rep_id"]).to_numpy()).statistic)


def company_kpis(company_row: Mapping[str, Any]) -> dict[str, Any]:
    """The company KPIs published in results.json from the company-level KPI row."""
    keys = [
        "revenue", "revenue_target", "revenue_attainment", "revenue_prev", "revenue_ly",
        "revenue_growth_pop", "revenue_growth_yoy", "gross_margin", "collection_rate",
        "new_customer_rate", "csat", "nps", "win_rate", "avg_deal_size", "expense_ratio",
    ]
    out = {k: company_row.get(k) for k in keys}
    out["attainment"] = out.pop("revenue_attainment")
    return {k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)) for k, v in out.items()}


