"""Pipeline: sales velocity, weighted open pipeline, next-period targets and coverage."""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from salesbench.analyses.funnel.conversion import groups_of
from salesbench.analyses.funnel.deals import Deals


def velocity(deals: Deals, closed: Deals | None = None, by: str | None = None) -> pd.DataFrame:
    """Sales velocity per group (revenue per day).

    velocity = open opportunities × win rate × average won deal size ÷ average
    won cycle length (days) — the standard sales-velocity equation (FIELD_NOTES).
    Open opportunities are counted in ``deals`` (all cohorts, open at
    ``as_of``); win rate (won ÷ closed), average won amount and average cycle
    come from ``closed`` (default: ``deals``), normally the mature cohorts.
    """
    closed = closed or deals
    by_cols = [] if by is None else [by]
    open_counts = {}
    open_amount = {}
    for key, g in groups_of(deals.frame, by):
        o = g[g["status"] == "open"]
        open_counts[key] = len(o)
        open_amount[key] = float(o["amount"].sum())
    rows = []
    for key, g in groups_of(closed.frame, by):
        won = g[g["status"] == "won"]
        n_closed = int(g["status"].isin(["won", "lost"]).sum())
        wr = len(won) / n_closed if n_closed else np.nan
        avg_won = float(won["amount"].mean()) if len(won) else np.nan
        cycle = float(won["cycle_days"].mean()) if len(won) else np.nan
        n_open = open_counts.get(key, 0)
        v = n_open * wr * avg_won / cycle if cycle and not np.isnan(cycle) and cycle > 0 else np.nan
        rows.append(
            dict(zip(by_cols, key))
            | {
                "open_opportunities": n_open,
                "open_amount": open_amount.get(key, 0.0),
                "win_rate": wr,
                "avg_won_amount": avg_won,
                "avg_cycle_days": cycle,
                "velocity_per_day": v,
            }
        )
    return pd.DataFrame(rows)


def weighted_pipeline(deals: Deals, stage_prob: Mapping[str, float], by: str | None = None) -> pd.DataFrame:
    """Open pipeline per group: Σ amount and Σ amount × P(won | current stage)."""
    f = deals.frame[deals.frame["status"] == "open"].copy()
    f["p_win"] = f["current_stage"].map(dict(stage_prob)).astype(float)
    f["weighted"] = f["amount"] * f["p_win"]
    if by is None:
        return pd.DataFrame(
            {"open_opportunities": [len(f)], "open_amount": [float(f["amount"].sum())],
             "weighted_amount": [float(f["weighted"].sum())]}
        )
    return (
        f.groupby(by, dropna=False, observed=True)
        .agg(open_opportunities=("opportunity_id", "size"), open_amount=("amount", "sum"), weighted_amount=("weighted", "sum"))
        .reset_index()
    )


def next_period_targets(ds, as_of, months: int = 1, level: str = "team", metric: str = "revenue") -> pd.DataFrame:
    """Sum of ``targets.value`` for the ``months`` calendar months after ``as_of``'s month, per key.

    Aggregated in the engine. Returns ``key, target`` (empty when the table or
    the period is missing).
    """
    if not ds.has("targets"):
        return pd.DataFrame(columns=["key", "target"])
    t = ds.table("targets")
    month = (pd.Timestamp(as_of) - pd.Timedelta(microseconds=1)).to_period("M")  # as_of may be the midnight after
    first = (month + 1).to_timestamp()
    last = (month + months).to_timestamp()
    q = t.filter(
        (t.level == level) & (t.metric == metric) & (t.period >= first.date()) & (t.period <= last.date())
    )
    return q.group_by("key").aggregate(target=q.value.sum()).to_pandas()


def coverage(
    pipeline: pd.DataFrame, targets: pd.DataFrame, key_col: str, threshold: float = 3.0
) -> pd.DataFrame:
    """Pipeline coverage = weighted open pipeline ÷ next-period target, with a status flag.

    ``status``: green when coverage ≥ ``threshold``, amber when ≥ 2/3 of it,
    red below; grey when there is no target. ``coverage_unweighted`` = open
    amount ÷ target is kept for the classic "3× pipeline" reading.
    """
    out = pipeline.merge(targets.rename(columns={"key": key_col}), on=key_col, how="outer")
    for c in ("open_opportunities", "open_amount", "weighted_amount"):
        out[c] = out[c].fillna(0)
    tgt = out["target"].where(out["target"] > 0)
    out["coverage"] = out["weighted_amount"] / tgt
    out["coverage_unweighted"] = out["open_amount"] / tgt
    out["status"] = np.select(
        [out["coverage"].isna(), out["coverage"] >= threshold, out["coverage"] >= threshold * 2 / 3],
        ["grey", "green", "amber"],
        "red",
    )
    return out.sort_values(key_col).reset_index(drop=True)


