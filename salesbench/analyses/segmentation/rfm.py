"""RFM: quintile scores for recency, frequency and money, the named segments and their summary.

Steps: :func:`quantile_scores` (deterministic quintiles), :func:`rfm_scores`
(R, F, M per customer), :func:`assign_segments` (named segments from the R/F
score rules of ``params/segmentation.yaml``, checked by :func:`validate_rules`)
and :func:`segment_summary` (size and shares per segment).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

#: The classic R/F grid (quintile scores), in precedence order: a customer gets
#: the first segment whose ranges contain its (R, F) scores. The grid is a
#: complete partition of the 25 cells; ``Lost`` (R1, F1-2) is listed before
#: ``Hibernating`` so the most lapsed low-frequency customers are named apart.
#: Source: the widely used RFM segment table (e.g. the R package ``rfm``,
#: Putler's "RFM analysis" guide), restricted to R and F scores.
DEFAULT_RFM_RULES: dict[str, dict[str, list[int]]] = {
    "Champions": {"r": [5, 5], "f": [4, 5]},
    "Loyal": {"r": [3, 4], "f": [4, 5]},
    "Potential loyalist": {"r": [4, 5], "f": [2, 3]},
    "New": {"r": [5, 5], "f": [1, 1]},
    "Promising": {"r": [4, 4], "f": [1, 1]},
    "Need attention": {"r": [3, 3], "f": [3, 3]},
    "About to sleep": {"r": [3, 3], "f": [1, 2]},
    "Can't lose": {"r": [1, 2], "f": [5, 5]},
    "At risk": {"r": [1, 2], "f": [3, 4]},
    "Lost": {"r": [1, 1], "f": [1, 2]},
    "Hibernating": {"r": [2, 2], "f": [1, 2]},
}

def quantile_scores(values: pd.Series, bins: int = 5, higher_is_better: bool = True,
                    ties: str = "first", tiebreak: pd.Series | Sequence[pd.Series] | None = None) -> pd.Series:
    """Quantile scores ``1..bins`` (5 = best) of ``values``.

    ``ties="first"`` (default) ranks customers by value and breaks ties
    deterministically by ``tiebreak`` (one Series or a list, compared in order;
    the index — e.g. customer ids — always comes last), then cuts the ranks
    into equal-sized groups: ``score = floor((rank-1) × bins / n) + 1`` with
    ranks 1..n from worst to best. Group sizes differ by at most one even when
    most values are tied (one-time buyers), which a plain quantile cut cannot
    do ("bin edges must be unique").

    ``ties="min"`` gives tied values the same score, the one of their lowest
    rank (``score = floor((rank_min-1) × bins / n) + 1``): equal behaviour always
    gets an equal score, at the price of unequal group sizes.

    Returns an int Series aligned with ``values``. NaN values are not allowed.
    """
    if ties not in {"first", "min"}:
        raise ValueError(f"ties must be 'first' or 'min', not {ties!r}")
    if values.isna().any():
        raise ValueError("quantile_scores: values contain NaN")
    n = len(values)
    if n == 0:
        return pd.Series([], dtype="int64", index=values.index)
    v = values.to_numpy(dtype=float)
    key = v if higher_is_better else -v
    if ties == "first":
        extra = [] if tiebreak is None else [tiebreak] if isinstance(tiebreak, pd.Series) else list(tiebreak)
        keys = [sort_codes(pd.Series(values.index))] + [sort_codes(t) for t in reversed(extra)] + [key]
        order = np.lexsort(keys)  # the last key is the primary one
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(1, n + 1)
    else:
        rank = pd.Series(key).rank(method="min").to_numpy().astype(np.int64)
    score = (rank - 1) * bins // n + 1
    return pd.Series(score.astype("int64"), index=values.index)


def sort_codes(s: pd.Series) -> np.ndarray:
    """Numbers that sort like ``s`` (numeric as is, text by its sorted codes) for ``np.lexsort``."""
    if pd.api.types.is_numeric_dtype(s):
        return s.to_numpy(dtype=float)
    text = s.astype(str)
    if text.is_monotonic_increasing:  # already sorted (customer_features sorts by id): positions are the codes
        return np.arange(len(text))
    return pd.factorize(text.to_numpy(), sort=True)[0]


def validate_rules(rules: Mapping[str, Mapping[str, Sequence[int]]], bins: int = 5) -> None:
    """Check segment rules: ranges within ``1..bins`` and every (R, F) cell covered.

    Raises ``ValueError`` naming the segment with a bad range or the uncovered cells.
    """
    if not rules:
        raise ValueError("rfm_segments: at least one segment rule is needed")
    for name, rule in rules.items():
        if not isinstance(rule, Mapping) or "r" not in rule or "f" not in rule:
            raise ValueError(f"rfm_segments[{name!r}] needs 'r' and 'f' score ranges, e.g. {{r: [4, 5], f: [1, 2]}}")
        for axis in ("r", "f", "m"):
            if axis not in rule:
                continue
            lo_hi = list(rule[axis])
            if len(lo_hi) != 2 or not all(isinstance(x, (int, np.integer)) for x in lo_hi):
                raise ValueError(f"rfm_segments[{name!r}].{axis} must be [low, high] integers, not {rule[axis]!r}")
            lo, hi = lo_hi
            if not 1 <= lo <= hi <= bins:
                raise ValueError(f"rfm_segments[{name!r}].{axis} = {lo_hi} is outside 1..{bins} or reversed")
    uncovered = []
    for r in range(1, bins + 1):
        for f in range(1, bins + 1):
            if not any(rule["r"][0] <= r <= rule["r"][1] and rule["f"][0] <= f <= rule["f"][1]
                       and "m" not in rule for rule in rules.values()):
                uncovered.append(f"R{r}F{f}")
    if uncovered:
        raise ValueError(
            "rfm_segments do not cover every R/F cell (rules with an 'm' range do not count as cover): "
            + ", ".join(uncovered)
        )


def assign_segments(r: pd.Series, f: pd.Series, rules: Mapping[str, Mapping[str, Sequence[int]]] | None = None,
                    m: pd.Series | None = None, bins: int = 5) -> pd.Series:
    """Named segment per customer: the first rule (in order) whose ranges hold its scores.

    ``rules`` maps segment name → ``{"r": [lo, hi], "f": [lo, hi]}`` (inclusive
    score ranges; an optional ``"m"`` range needs ``m``). Default
    :data:`DEFAULT_RFM_RULES`. Rules are validated with :func:`validate_rules`,
    so every customer gets a segment.
    """
    rules = DEFAULT_RFM_RULES if rules is None else rules
    validate_rules(rules, bins)
    out = pd.Series(pd.NA, index=r.index, dtype="object")
    rv, fv = r.to_numpy(), f.to_numpy()
    mv = m.to_numpy() if m is not None else None
    for name, rule in rules.items():
        hit = (rv >= rule["r"][0]) & (rv <= rule["r"][1]) & (fv >= rule["f"][0]) & (fv <= rule["f"][1])
        if "m" in rule:
            if mv is None:
                raise ValueError(f"rfm_segments[{name!r}] has an 'm' range but no M scores were given")
            hit &= (mv >= rule["m"][0]) & (mv <= rule["m"][1])
        free = out.isna().to_numpy()
        out[hit & free] = name
    return out.astype(str)


def rfm_scores(features: pd.DataFrame, rules: Mapping | None = None, bins: int = 5, ties: str = "first") -> pd.DataFrame:
    """R, F, M quantile scores, the RFM cell code and the named segment per customer.

    Input: :func:`customer_features` output (``customer_id, recency_days,
    frequency, revenue``). R scores rank *lower* recency higher; F ties are
    broken by monetary value and then customer id, M ties by customer id
    (``ties="first"``, see :func:`quantile_scores`). Monetary = total net revenue
    in the window (Hughes 1994, *Strategic Database Marketing*: R, F, M quintiles).
    Output: ``customer_id, r_score, f_score, m_score, rfm_cell`` ("545"), ``rfm_segment``.
    """
    ids = features["customer_id"].astype(str)
    by_id = features.set_index(ids)
    r = quantile_scores(by_id["recency_days"], bins, higher_is_better=False, ties=ties)
    # F: ties broken by money first, so among one-time buyers the bigger spenders rank higher.
    f = quantile_scores(by_id["frequency"], bins, ties=ties, tiebreak=by_id["revenue"])
    m = quantile_scores(by_id["revenue"], bins, ties=ties)
    out = pd.DataFrame({"customer_id": ids.to_numpy(), "r_score": r.to_numpy(), "f_score": f.to_numpy(),
                        "m_score": m.to_numpy()})
    out["rfm_cell"] = out["r_score"].astype(str) + out["f_score"].astype(str) + out["m_score"].astype(str)
    out["rfm_segment"] = assign_segments(out["r_score"], out["f_score"], rules, m=out["m_score"], bins=bins)
    return out


def segment_summary(frame: pd.DataFrame, segment_col: str = "rfm_segment", order: Sequence[str] | None = None) -> pd.DataFrame:
    """Size, customer share, revenue share, profit share, average order value per segment.

    ``frame`` needs ``customer_id, segment_col, revenue, frequency, value,
    recency_days`` per customer. Output columns: ``segment, customers, revenue,
    orders, value, recency_days`` (median), ``customer_share, revenue_share,
    value_share, avg_order_value``.
    Average order value = Σ revenue / Σ orders of the segment. Rows follow
    ``order`` (segments absent from the data get zero rows so every rule shows).
    """
    g = frame.groupby(segment_col, observed=True).agg(
        customers=("customer_id", "size"), revenue=("revenue", "sum"), orders=("frequency", "sum"),
        value=("value", "sum"), recency_days=("recency_days", "median"),
    )
    if order is not None:
        g = g.reindex(list(order) + [s for s in g.index if s not in order])
        g[["customers", "revenue", "orders", "value"]] = g[["customers", "revenue", "orders", "value"]].fillna(0)
        g["customers"] = g["customers"].astype(int)
        g["orders"] = g["orders"].astype(int)
    total_rev = frame["revenue"].sum()
    total_val = frame["value"].sum()
    g["customer_share"] = g["customers"] / max(len(frame), 1)
    g["revenue_share"] = g["revenue"] / total_rev if total_rev else np.nan
    g["value_share"] = g["value"] / total_val if total_val else np.nan
    g["avg_order_value"] = np.where(g["orders"] > 0, g["revenue"] / g["orders"].where(g["orders"] > 0), np.nan)
    return g.reset_index().rename(columns={segment_col: "segment"})


