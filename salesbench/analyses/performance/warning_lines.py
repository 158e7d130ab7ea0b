"""Warning lines: the red / amber / green status of values, of each rep's KPIs and the list of everyone under a line.

A value exactly on a line is on the better side. Statuses are ranked
``red > amber > green > grey`` (grey = no data); a rep's overall status is the
worst of its score status and the statuses of its target-based KPIs
(:func:`salesbench.analyses.performance.scorecard.scorecard`).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from salesbench.analyses.performance.kpis import STATUS_ORDER


def classify(values, red: float, amber: float, higher_is_better: bool = True) -> pd.Series:
    """Traffic-light status of each value against two warning lines.

    Higher is better: ``value < red`` → red, ``red ≤ value < amber`` → amber,
    ``value ≥ amber`` → green (a value exactly on a line is on the better side).
    Lower is better: ``value > red`` → red, ``amber < value ≤ red`` → amber.
    Missing values → grey.
    """
    v = pd.Series(values, dtype=float)
    if higher_is_better:
        status = np.where(v < red, "red", np.where(v < amber, "amber", "green"))
    else:
        status = np.where(v > red, "red", np.where(v > amber, "amber", "green"))
    return pd.Series(np.where(v.isna(), "grey", status), index=v.index)



def worst_status(statuses: pd.DataFrame) -> pd.Series:
    """Row-wise worst status (red > amber > green > grey)."""
    ranks = statuses.apply(lambda c: c.map(STATUS_ORDER)).max(axis=1)
    back = {v: k for k, v in STATUS_ORDER.items()}
    return ranks.map(back).fillna("grey")



def warning_list(card: pd.DataFrame, kpis: Iterable[str]) -> pd.DataFrame:
    """Everyone under a warning line: one row per (rep, measure) with red or amber status.

    Columns: rep_id, name, team, measure, value, basis (attainment /
    percentile / score), status. Sorted red first, then by rep.
    """
    rows = []
    for _, r in card.iterrows():
        if r["score_status"] in ("red", "amber"):
            rows.append((r, "score", r["score"], "score", r["score_status"]))
        for k in kpis:
            st = r.get(f"status_{k}")
            if st in ("red", "amber"):
                basis = r.get(f"basis_{k}")
                value = r.get(f"{k}_attainment") if basis == "target" else r.get(k)
                rows.append((r, k, value, "attainment" if basis == "target" else "percentile", st))
    out = pd.DataFrame(
        [
            {"rep_id": r["rep_id"], "name": r.get("name"), "team": r.get("team"), "measure": m,
             "value": v, "basis": b, "status": s}
            for r, m, v, b, s in rows
        ],
        columns=["rep_id", "name", "team", "measure", "value", "basis", "status"],
    )
    if out.empty:
        return out
    out["_o"] = out["status"].map({"red": 0, "amber": 1})
    return out.sort_values(["_o", "rep_id", "measure"]).drop(columns="_o").reset_index(drop=True)


