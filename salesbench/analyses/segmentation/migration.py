"""Segments by group (region, channel, industry) and the migration between two analysis dates."""
from __future__ import annotations

from typing import Sequence

import pandas as pd

NEW_CUSTOMER = "(not a customer yet)"
GONE = "(no order in window)"

def segment_breakdown(frame: pd.DataFrame, by: str, segment_col: str = "rfm_segment",
                      order: Sequence[str] | None = None) -> pd.DataFrame:
    """Customers and revenue per (``by`` value, segment), long format.

    Columns: ``<by>, segment, customers, revenue, share_of_group`` (customers of the
    segment ÷ customers of the ``by`` group) — the mix of segments inside each
    region, channel or industry.
    """
    if by not in frame.columns:
        raise KeyError(f"no column {by!r} to break segments down by")
    f = frame.assign(**{by: frame[by].fillna("(unknown)").astype(str)})
    g = f.groupby([by, segment_col]).agg(customers=("customer_id", "size"), revenue=("revenue", "sum")).reset_index()
    g["share_of_group"] = g["customers"] / g.groupby(by)["customers"].transform("sum")
    g = g.rename(columns={segment_col: "segment"})
    if order is not None:
        rank = {s: i for i, s in enumerate(order)}
        g = g.sort_values([by, "segment"], key=lambda s: s.map(rank).fillna(len(rank)) if s.name == "segment" else s)
    return g.reset_index(drop=True)


def migration_matrix(previous: pd.Series, current: pd.Series, order: Sequence[str] | None = None) -> pd.DataFrame:
    """Transition counts: rows = segment at the previous date, columns = segment now.

    ``previous`` and ``current`` are segment labels indexed by customer id.
    Customers only in ``current`` appear in the row ``(not a customer yet)``;
    customers only in ``previous`` (no order in the current window) in the
    column ``(no order in window)``. Cell (i, j) = number of customers that were
    in segment i and are now in segment j, so "how many Champions became At risk"
    is ``matrix.loc["Champions", "At risk"]``.
    """
    prev = previous.copy()
    prev.index = prev.index.astype(str)
    curr = current.copy()
    curr.index = curr.index.astype(str)
    ids = prev.index.union(curr.index)
    p = prev.reindex(ids).fillna(NEW_CUSTOMER)
    c = curr.reindex(ids).fillna(GONE)
    m = pd.crosstab(p, c)
    names = list(order) if order is not None else sorted((set(p) | set(c)) - {NEW_CUSTOMER, GONE})
    rows = names + ([NEW_CUSTOMER] if NEW_CUSTOMER in m.index else [])
    cols = names + ([GONE] if GONE in m.columns else [])
    extra_r = [s for s in m.index if s not in rows]
    extra_c = [s for s in m.columns if s not in cols]
    m = m.reindex(index=rows + extra_r, columns=cols + extra_c, fill_value=0).astype(int)
    m.index.name, m.columns.name = "previous", "current"
    return m


