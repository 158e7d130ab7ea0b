"""Value tiers and concentration: tiers by cumulative share of value, the Pareto curve, the top-X% share.

Value is gross profit (revenue − cost) when the data has cost on every order
line, revenue otherwise (:func:`salesbench.analyses.segmentation.features.value_basis`).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from salesbench.analyses.segmentation.rfm import sort_codes

DEFAULT_TIER_CUTS: list[float] = [0.50, 0.80, 0.95]
DEFAULT_TIER_NAMES: list[str] = ["high-value", "important", "general", "low-value"]
#: The tier of every customer when the total value is not positive (tiers skipped).
NO_TIER = "(no tiers)"

def pareto_curve(values: pd.Series) -> pd.DataFrame:
    """Pareto (ABC / Lorenz-type) curve: customers sorted by value, largest first.

    Returns ``rank`` (1..n), ``customer_share`` = rank / n and ``value_share`` =
    cumulative value / total value (the share made by the top ``rank`` customers).
    Ties in value are ordered by the index for determinism.
    """
    v = pd.Series(values.to_numpy(dtype=float), index=values.index.astype(str))
    order = np.lexsort((sort_codes(pd.Series(v.index)), -v.to_numpy()))
    sv = v.to_numpy()[order]
    total = sv.sum()
    n = len(sv)
    cum = np.cumsum(sv)
    return pd.DataFrame({
        "customer_id": v.index.to_numpy()[order],
        "rank": np.arange(1, n + 1),
        "customer_share": np.arange(1, n + 1) / n if n else np.array([]),
        "value_share": cum / total if total else np.full(n, np.nan),
    })


def top_share(values: pd.Series, fraction: float = 0.2) -> float:
    """Share of total value made by the top ``fraction`` of customers.

    The top group has ``ceil(fraction × n)`` customers (at least one); e.g. with
    10 customers, the top 20% are the 2 largest. The 80/20 "Pareto principle" is
    the benchmark this is read against.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], not {fraction}")
    v = np.sort(values.to_numpy(dtype=float))[::-1]
    if len(v) == 0 or v.sum() == 0:
        return float("nan")
    k = max(1, math.ceil(fraction * len(v) - 1e-9))
    return float(v[:k].sum() / v.sum())


def value_tiers(values: pd.Series, cuts: Sequence[float] = DEFAULT_TIER_CUTS,
                names: Sequence[str] = DEFAULT_TIER_NAMES) -> pd.Series:
    """Tier per customer by cumulative share of value (largest customers first).

    With ``cuts = [0.5, 0.8, 0.95]``: the customers that together make the first
    50% of value are the first tier, the next 30% the second, the next 15% the
    third, the last 5% the fourth. A customer belongs to the tier in which its
    cumulative share *starts*: tier = number of cuts ≤ (value of all larger
    customers) / total, so the customer that crosses a cut stays in the upper
    tier and the top customer is always in the first tier. Customers with zero
    or negative value fall at the end (lowest tier). ``len(names)`` must be
    ``len(cuts) + 1``; cuts strictly increasing in (0, 1).
    """
    cuts = [float(c) for c in cuts]
    if len(names) != len(cuts) + 1:
        raise ValueError(f"tier_names needs {len(cuts) + 1} names for the {len(cuts)} tier_cuts, got {len(names)}")
    if any(not 0 < c < 1 for c in cuts) or any(b <= a for a, b in zip(cuts, cuts[1:])):
        raise ValueError(f"tier_cuts must increase strictly inside (0, 1), got {cuts}")
    v = values.to_numpy(dtype=float)
    total = v.sum()
    if not total > 0:
        raise ValueError("value tiers need a positive total value")
    order = np.lexsort((sort_codes(pd.Series(values.index)), -v))  # largest first, ties by id
    sv = v[order]
    before = (np.cumsum(sv) - sv) / total  # share made by all larger customers
    idx = np.empty(len(v), dtype=np.int64)
    idx[order] = np.searchsorted(np.array(cuts), before + 1e-12, side="right")
    return pd.Series(np.array(list(names), dtype=object)[idx], index=values.index)


def tier_summary(frame: pd.DataFrame, names: Sequence[str] = DEFAULT_TIER_NAMES) -> pd.DataFrame:
    """Customers, customer share, value (profit) share and revenue share per tier, in tier order."""
    g = frame.groupby("tier").agg(customers=("customer_id", "size"), revenue=("revenue", "sum"), value=("value", "sum"))
    g = g.reindex(list(names)).fillna(0)
    g["customers"] = g["customers"].astype(int)
    g["customer_share"] = g["customers"] / max(len(frame), 1)
    g["value_share"] = g["value"] / frame["value"].sum()
    g["revenue_share"] = g["revenue"] / frame["revenue"].sum()
    return g.reset_index()


