"""Conversion: stage-to-stage and cumulative rates, win rates, lost reasons, cohorts (rules: :mod:`.model`)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from salesbench.analyses.funnel.deals import Deals


def groups_of(frame: pd.DataFrame, by: str | Sequence[str] | None):
    """``(key tuple, rows)`` per group of ``by`` (one group with key ``()`` when ``by`` is None), NaN keys kept."""
    if by is None:
        yield (), frame
        return
    by = [by] if isinstance(by, str) else list(by)
    for key, g in frame.groupby(by, dropna=False, sort=True, observed=True):
        yield (key if isinstance(key, tuple) else (key,)), g


def stage_conversion(deals: Deals, by: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Stage-to-stage and cumulative conversion with drop-off counts.

    For every consecutive pair ``k → k+1`` (and every group of ``by``):

    * ``reached`` — deals whose furthest stage ≥ k;
    * ``advanced`` — deals whose furthest stage ≥ k+1;
    * ``lost`` — closed deals whose furthest stage is k (the drop-off);
    * ``open`` — deals still open at k (undecided, right-censored);
    * ``conversion`` = advanced ÷ (advanced + lost) — decided transitions only;
    * ``conversion_all`` = advanced ÷ reached — open deals counted as not
      converted (biased low for recent cohorts; shown for contrast);
    * ``cumulative`` = ∏ conversion up to k+1 — estimated P(reach k+1 | lead).
    """
    stages = deals.stages
    rows = []
    by_cols = [] if by is None else ([by] if isinstance(by, str) else list(by))
    for key, g in groups_of(deals.frame, by):
        fur = g["furthest"].to_numpy()
        open_ = (g["status"] == "open").to_numpy()
        cum = 1.0
        for k in range(len(stages) - 1):
            reached = int((fur >= k).sum())
            advanced = int((fur >= k + 1).sum())
            at_k = fur == k
            n_open = int((at_k & open_).sum())
            lost = int((at_k & ~open_).sum())
            decided = advanced + lost
            conv = advanced / decided if decided else np.nan
            cum = cum * conv if not np.isnan(cum) else np.nan
            rows.append(
                dict(zip(by_cols, key))
                | {
                    "step": k + 1,
                    "from_stage": stages[k],
                    "to_stage": stages[k + 1],
                    "transition": f"{stages[k]}->{stages[k + 1]}",
                    "reached": reached,
                    "advanced": advanced,
                    "lost": lost,
                    "open": n_open,
                    "conversion": conv,
                    "conversion_all": advanced / reached if reached else np.nan,
                    "cumulative": cum,
                }
            )
    return pd.DataFrame(rows)


def conversion_dict(conv: pd.DataFrame) -> dict[str, float]:
    """``{"<from>-><to>": conversion}`` for an ungrouped :func:`stage_conversion` table."""
    return {r.transition: (None if pd.isna(r.conversion) else float(r.conversion)) for r in conv.itertuples()}


def stage_win_probability(conv: pd.DataFrame, stages: Sequence[str]) -> dict[str, float]:
    """P(won | deal is at stage k) = ∏_{j ≥ k} conversion_j from an ungrouped conversion table.

    The weights of the weighted pipeline (FIELD_NOTES: Σ amount × stage probability).
    """
    rates = list(conv["conversion"].fillna(0.0))
    out = {}
    for k, s in enumerate(stages[:-1]):
        out[s] = float(np.prod(rates[k:]))
    out[stages[-1]] = 1.0
    return out


def win_rates(deals: Deals, by: str | Sequence[str] | None = None, conv: pd.DataFrame | None = None) -> pd.DataFrame:
    """Won, lost, open counts and win rates per group.

    ``win_rate`` = won ÷ (won + lost) (closed deals only); ``won_share`` = won ÷
    all created (lower for recent cohorts until they close — label it);
    ``lead_to_won`` = the cumulative decided-transition conversion to the won
    stage (:func:`stage_conversion`; pass ``conv`` when it is already computed for
    the same deals and grouping).
    """
    conv = stage_conversion(deals, by) if conv is None else conv
    by_cols = [] if by is None else ([by] if isinstance(by, str) else list(by))
    last = conv[conv["step"] == len(deals.stages) - 1]
    rows = []
    for key, g in groups_of(deals.frame, by):
        won = int((g["status"] == "won").sum())
        lost = int((g["status"] == "lost").sum())
        n_open = int((g["status"] == "open").sum())
        rows.append(
            dict(zip(by_cols, key))
            | {
                "opportunities": len(g),
                "won": won,
                "lost": lost,
                "open": n_open,
                "win_rate": won / (won + lost) if won + lost else np.nan,
                "won_share": won / len(g) if len(g) else np.nan,
            }
        )
    out = pd.DataFrame(rows)
    if by_cols:
        out = out.merge(last[by_cols + ["cumulative"]], on=by_cols, how="left")
    else:
        out["cumulative"] = last["cumulative"].iloc[0] if len(last) else np.nan
    return out.rename(columns={"cumulative": "lead_to_won"})


def lost_reasons(deals: Deals) -> pd.DataFrame:
    """Lost deals by reason and by the stage where they were lost (counts and shares)."""
    lost = deals.frame[deals.frame["status"] == "lost"].copy()
    if lost.empty:
        return pd.DataFrame(columns=["lost_reason", "lost", "share", "amount"])
    lost["lost_reason"] = lost["lost_reason"].astype(object).fillna("(not recorded)").astype(str)
    lost["lost_at_stage"] = np.array(deals.stages + ["(unknown)"], dtype=object)[lost["furthest"].where(lost["furthest"] >= 0, len(deals.stages))]
    out = lost.groupby("lost_reason").agg(lost=("opportunity_id", "size"), amount=("amount", "sum")).reset_index()
    out["share"] = out["lost"] / out["lost"].sum()
    by_stage = lost.pivot_table(index="lost_reason", columns="lost_at_stage", values="opportunity_id", aggfunc="size", fill_value=0)
    order = [s for s in deals.stages + ["(unknown)"] if s in by_stage.columns]
    out = out.merge(by_stage[order].reset_index(), on="lost_reason", how="left")
    return out.sort_values("lost", ascending=False).reset_index(drop=True)


def cohort_table(deals: Deals, freq: str = "M") -> pd.DataFrame:
    """Cohort view by creation month: created, open, won, lost, rates and reach shares.

    ``reach_<stage>`` = share of the cohort whose furthest stage ≥ that stage
    (open deals included, so young cohorts look worse until they close);
    ``win_rate`` = won ÷ closed; ``open_share`` shows how unfinished a cohort is.
    """
    f = deals.frame
    cohort = f["created_at"].dt.to_period(freq)
    rows = []
    for per, g in f.groupby(cohort, sort=True):
        won = int((g["status"] == "won").sum())
        lost = int((g["status"] == "lost").sum())
        row = {
            "cohort": str(per),
            "created": len(g),
            "open": int((g["status"] == "open").sum()),
            "won": won,
            "lost": lost,
            "win_rate": won / (won + lost) if won + lost else np.nan,
            "won_share": won / len(g),
            "open_share": float((g["status"] == "open").mean()),
        }
        for k, s in enumerate(deals.stages):
            row[f"reach_{s}"] = float((g["furthest"] >= k).mean())
        rows.append(row)
    return pd.DataFrame(rows)


def biggest_leak(conv: pd.DataFrame) -> dict[str, Any] | None:
    """The transition losing the most deals (largest ``lost`` count), with its conversion."""
    if conv.empty or conv["lost"].sum() == 0:
        return None
    r = conv.loc[conv["lost"].idxmax()]
    return {"transition": r["transition"], "from_stage": r["from_stage"], "lost": int(r["lost"]),
            "conversion": float(r["conversion"]), "share_of_lost": float(r["lost"] / conv["lost"].sum())}


