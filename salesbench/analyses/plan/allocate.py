"""The plan tree: company → region → team → rep (the levels asked for), then months inside each piece.

:func:`allocate` splits each parent's target among its children with
:func:`~salesbench.analyses.plan.split.split` (drivers summed over the child's reps);
:func:`monthly` splits every leaf piece over the months by its region's monthly
profile and sums the months back up, so every level and every month sum
exactly to their parent.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from salesbench.analyses.plan.split import driver_shares, largest_remainder, split

COLUMN = {"region": "region", "team": "team", "rep": "rep_id"}
DRIVER_COLS = ["forecast", "customers", "last_year", "capacity", "win_rate", "review", "book"]


def allocate(total: float, reps: pd.DataFrame, levels: Sequence[str], weights: Mapping[str, float],
             step: float) -> pd.DataFrame:
    """Rows ``id`` (``level:key``), ``level, key, parent`` (the parent's id), ``region, target`` and the
    summed drivers, from ``company`` down to ``levels[-1]``.

    ``reps`` holds one row per rep with ``region, team, rep_id`` and the columns of
    ``DRIVER_COLS`` it has (a driver it lacks counts as empty). Children are ordered by key (ties in the
    rounding go to the first).
    """
    cols = [d for d in DRIVER_COLS if d in reps.columns]
    rows = [{"id": "company:company", "level": "company", "key": "company", "parent": None, "region": None,
             "target": float(total),
             **{d: float(reps[d].sum()) for d in cols}}]
    groups = {"company:company": reps}
    targets = {"company:company": float(total)}
    for level in levels:
        col = COLUMN[level]
        new_groups, new_targets = {}, {}
        for pkey, g in groups.items():
            agg = g.groupby(col, sort=True).agg(**{d: (d, "sum") for d in cols},
                                                region=("region", "first"))
            amounts = split(targets[pkey], agg, weights, step)
            for key, amount, (_, r) in zip(agg.index, amounts, agg.iterrows()):
                uid = f"{level}:{key}"
                rows.append({"id": uid, "level": level, "key": str(key), "parent": pkey, "region": r["region"],
                             "target": float(amount), **{d: float(r[d]) for d in cols}})
                new_groups[uid] = g[g[col] == key]
                new_targets[uid] = float(amount)
        groups, targets = new_groups, new_targets
    return pd.DataFrame(rows)


def month_profile(forecast: pd.Series, last_year: pd.Series, weights: Mapping[str, float]) -> np.ndarray:
    """Share of each planned month: Σ_d w_d · x_{m,d} / Σ_m x_{m,d} over ``forecast`` and ``last_year`` month values.

    Both series are in month order; a driver that is all zero gets no weight;
    with neither, the months share equally.
    """
    frame = pd.DataFrame({"forecast": np.asarray(forecast, float), "last_year": np.asarray(last_year, float)})
    return driver_shares(frame, {k: weights.get(k, 0.0) for k in ("forecast", "last_year")})


def monthly(tree: pd.DataFrame, profiles: Mapping[str, np.ndarray], month_list: Sequence[pd.Period],
            step: float) -> pd.DataFrame:
    """``level, key, month, target``: leaves split by their region's profile, every other unit the sum of its leaves.

    ``profiles`` maps a region (or ``"company"`` for a one-level tree) to month shares.
    """
    deepest = tree["level"].iloc[-1]
    leaf_months = {}
    for _, r in tree[tree["level"] == deepest].iterrows():
        prof = profiles.get(r["region"], profiles["company"]) if r["region"] is not None else profiles["company"]
        leaf_months[r["id"]] = largest_remainder(r["target"], prof, step)
    children = tree.dropna(subset=["parent"]).groupby("parent")["id"].apply(list).to_dict()

    def months_of(uid):  # a leaf's own months, else the sum of its children's
        if uid in leaf_months:
            return leaf_months[uid]
        return np.sum([months_of(c) for c in children[uid]], axis=0)

    rows = []
    for _, r in tree.iterrows():
        rows += [{"level": r["level"], "key": r["key"], "month": m, "target": float(v)}
                 for m, v in zip(month_list, months_of(r["id"]))]
    return pd.DataFrame(rows)
