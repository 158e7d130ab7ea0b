"""Splitting a parent's target among its children so that the pieces sum exactly to the parent.

:func:`driver_shares` blends the children's drivers (each normalised to a share
among siblings) with the plan's weights; :func:`largest_remainder` turns shares
into amounts that are multiples of the rounding step and sum exactly to the parent
(Hamilton's method: floor every quota, then give one step to the largest
remainders; ties go to the child listed first).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd


def driver_shares(drivers: pd.DataFrame, weights: Mapping[str, float]) -> np.ndarray:
    """share_i = Σ_d w_d · x_{i,d} / Σ_j x_{j,d}, over the drivers ``d`` in ``weights``.

    A driver that is zero (or missing) for every sibling carries no information
    there: its weight is spread over the other drivers; when all are empty the
    siblings share equally.
    """
    n = len(drivers)
    total, used = np.zeros(n), 0.0
    for d, w in weights.items():
        if w <= 0 or d not in drivers:
            continue
        x = np.clip(drivers[d].fillna(0).to_numpy(dtype=float), 0, None)
        if x.sum() > 0:
            total += w * x / x.sum()
            used += w
    return total / used if used > 0 else np.full(n, 1.0 / n)


def largest_remainder(parent: float, shares, step: float) -> np.ndarray:
    """Amounts that are multiples of ``step`` (≥ 0), proportional to ``shares`` and summing exactly to ``parent``.

    ``parent`` must itself be a multiple of ``step`` (``step`` ≤ 0: no rounding,
    plain proportions). Computed in whole steps (integers), so the sum is exact.
    """
    s = np.asarray(shares, dtype=float)
    s = s / s.sum() if s.sum() > 0 else np.full(len(s), 1.0 / len(s))
    if step <= 0:
        out = parent * s
        out[-1] = parent - out[:-1].sum()
        return out
    units = int(round(parent / step))
    quota = units * s
    base = np.floor(quota).astype(np.int64)
    left = units - int(base.sum())
    order = np.lexsort((np.arange(len(s)), -(quota - base)))  # largest remainder first, then list order
    base[order[:left]] += 1
    return base.astype(float) * step


def split(parent: float, drivers: pd.DataFrame, weights: Mapping[str, float], step: float) -> np.ndarray:
    """:func:`driver_shares` then :func:`largest_remainder`: the children's targets."""
    return largest_remainder(parent, driver_shares(drivers, weights), step)
