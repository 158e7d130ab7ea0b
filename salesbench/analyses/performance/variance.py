"""Why revenue moved: price / volume / mix by product line, and who made the gap to target.

Price / volume / mix (PVM)
--------------------------
For product lines ``i`` with quantity ``q`` and average net price
``p = revenue / q`` in a base period (0) and the current period (1), with
``Q = Σ q`` and the base average price ``P̄0 = R0 / Q0``, the change in revenue
splits into three effects (the standard sales-variance analysis of management
accounting, e.g. Horngren, Datar & Rajan, *Cost Accounting*, ch. "Flexible
budgets … sales-mix and sales-quantity variances"):

* volume_i = (Q1 − Q0) · s0_i · p0_i          (more or fewer units at the base mix and prices)
* mix_i    = Q1 · (s1_i − s0_i) · p0_i        (shift between lines, at base prices)
* price_i  = q1_i · (p1_i − p0_i)             (net price change on current units)

with shares ``s = q / Q``. Per line, volume + mix + price = r1_i − r0_i
exactly, hence also in total; Σ volume_i = (Q1 − Q0)·P̄0. A line sold only in
the current period (a launch) has no base price: its base price is taken as
its current price, so its whole revenue is mix (and no price effect); a line
sold only in the base period has no price effect either.

Against target
--------------
Targets are set on revenue, not per line. The target is turned into a base
with the mix and prices of a reference period (same period last year, else
the previous period) and quantities scaled so that its revenue equals the
target (:func:`scale_to_target`). The decomposition against that base then
reads: volume = units above or below what the target implied at reference
prices and mix; mix and price = the shift in mix and net prices since the
reference period.

Gap to target
-------------
:func:`gap_waterfall`: target → each region's / team's (actual − target) →
actual. Any difference between the total and the sum of the parts (orders
without a rep, targets set only at the top) is shown as "not allocated", so
the bars always add up.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

PVM_COLUMNS = [
    "product_line", "quantity_base", "revenue_base", "price_base", "quantity_current", "revenue_current",
    "price_current", "volume", "mix", "price", "change",
]


def product_line_volumes(ds, periods: Sequence[pd.Period], rep_ids: Iterable[str] | None = None) -> dict:
    """Quantity and revenue per product line for each period in ``periods``.

    Aggregated in the engine (orders joined with products). ``rep_ids``
    restricts to the orders of those reps. Returns ``{period: DataFrame
    [product_line, quantity, revenue]}``; periods without orders are absent.
    """
    periods = list(periods)
    if not periods:
        return {}
    freq = periods[0].freqstr[0]
    unit = {"M": "M", "Q": "Q", "Y": "Y", "A": "Y"}[freq]
    start = min(p.start_time for p in periods).date()
    end = max((p + 1).start_time for p in periods).date()
    o = ds.table("orders")
    o = o.filter((o.order_date >= start) & (o.order_date < end))
    if rep_ids is not None:
        o = o.filter(o.rep_id.isin(list(rep_ids)))
    pr = ds.table("products")
    pr = pr.select(_pid=pr.product_id, product_line=pr.product_line)
    j = o.inner_join(pr, o.product_id == pr._pid)
    j = j.mutate(_period=j.order_date.truncate(unit))
    agg = j.group_by(["_period", "product_line"]).aggregate(quantity=j.quantity.sum(), revenue=j.revenue.sum())
    df = agg.to_pandas()
    if df.empty:
        return {}
    df["_period"] = pd.to_datetime(df["_period"]).dt.to_period(periods[0].freqstr)
    out = {}
    for p in periods:
        part = df[df["_period"] == p]
        if len(part):
            out[p] = part[["product_line", "quantity", "revenue"]].sort_values("product_line").reset_index(drop=True)
    return out


def price_volume_mix(current: pd.DataFrame, base: pd.DataFrame, label: str = "product_line") -> pd.DataFrame:
    """Price / volume / mix decomposition of the revenue change from ``base`` to ``current``.

    Both frames: one row per ``label`` (product line) with ``quantity`` and
    ``revenue``. Returns one row per line plus a ``Total`` row with
    quantity/revenue/average price in both periods and the effects ``volume``,
    ``mix``, ``price`` and ``change`` = revenue_current − revenue_base
    (formulas in the module docstring; volume + mix + price = change per row).

    Raises ``ValueError`` when the base period has no positive quantity.
    """
    for name, f in (("current", current), ("base", base)):
        missing = {label, "quantity", "revenue"} - set(f.columns)
        if missing:
            raise ValueError(f"{name} frame lacks column(s) {', '.join(sorted(missing))}")
    c = current.groupby(label)[["quantity", "revenue"]].sum()
    b = base.groupby(label)[["quantity", "revenue"]].sum()
    idx = b.index.union(c.index)
    c = c.reindex(idx, fill_value=0.0).astype(float)
    b = b.reindex(idx, fill_value=0.0).astype(float)
    q0, r0, q1, r1 = b["quantity"], b["revenue"], c["quantity"], c["revenue"]
    Q0, Q1 = float(q0.sum()), float(q1.sum())
    if Q0 <= 0:
        raise ValueError("the base period has no quantity: price/volume/mix needs units sold in both periods")
    p1_raw = (r1 / q1).where(q1 > 0)
    p0_raw = (r0 / q0).where(q0 > 0)
    p0 = p0_raw.fillna(p1_raw).fillna(0.0)  # launches: base price := current price
    p1 = p1_raw.fillna(p0)  # discontinued: no price effect
    s0 = q0 / Q0
    volume = (Q1 - Q0) * s0 * p0
    mix = (q1 - Q1 * s0) * p0  # = Q1 (s1 - s0) p0, written without dividing by Q1
    price = q1 * (p1 - p0)
    out = pd.DataFrame({
        label: idx,
        "quantity_base": q0.to_numpy(), "revenue_base": r0.to_numpy(), "price_base": p0_raw.to_numpy(),
        "quantity_current": q1.to_numpy(), "revenue_current": r1.to_numpy(), "price_current": p1_raw.to_numpy(),
        "volume": volume.to_numpy(), "mix": mix.to_numpy(), "price": price.to_numpy(),
        "change": (r1 - r0).to_numpy(),
    })
    total = {
        label: "Total",
        "quantity_base": Q0, "revenue_base": float(r0.sum()), "price_base": float(r0.sum()) / Q0,
        "quantity_current": Q1, "revenue_current": float(r1.sum()),
        "price_current": float(r1.sum()) / Q1 if Q1 > 0 else np.nan,
        "volume": float(volume.sum()), "mix": float(mix.sum()), "price": float(price.sum()),
        "change": float(r1.sum() - r0.sum()),
    }
    out = out.sort_values("revenue_current", ascending=False)
    return pd.concat([out, pd.DataFrame([total])], ignore_index=True)[[label] + PVM_COLUMNS[1:]]


def scale_to_target(base: pd.DataFrame, target_revenue: float) -> pd.DataFrame:
    """A target base: ``base`` lines with quantities and revenues scaled so revenue = target.

    Keeps the reference period's mix and prices; the scale factor is
    ``target_revenue / Σ base.revenue``.
    """
    total = float(base["revenue"].sum())
    if total <= 0:
        raise ValueError("the reference period has no revenue to scale to the target")
    f = float(target_revenue) / total
    out = base.copy()
    out["quantity"] = out["quantity"] * f
    out["revenue"] = out["revenue"] * f
    return out


def gap_waterfall(
    children: pd.DataFrame,
    total_actual: float,
    total_target: float,
    label: str = "label",
    actual: str = "revenue",
    target: str = "revenue_target",
    tolerance: float = 1e-6,
) -> pd.DataFrame:
    """Waterfall of the gap to target: target → each child's (actual − target) → actual.

    ``children``: one row per region/team/rep with ``label``, ``actual`` and
    ``target`` columns (a missing target counts as 0). The remainder
    ``(total_actual − Σ actual) − (total_target − Σ target)`` becomes a
    "Not allocated" step when it exceeds ``tolerance × |total_target|``.
    Returns rows ``label, kind (target|child|other|actual), delta, start, end``
    in plotting order (children sorted from largest shortfall to largest
    surplus); each step's ``end`` is the next step's ``start`` and the last
    ``end`` equals ``total_actual``.
    """
    ch = children[[label, actual, target]].copy()
    ch[target] = ch[target].fillna(0.0)
    ch["delta"] = ch[actual].astype(float) - ch[target].astype(float)
    ch = ch.sort_values(["delta", label]).reset_index(drop=True)
    rows = [{"label": "Target", "kind": "target", "delta": float(total_target), "start": 0.0, "end": float(total_target)}]
    level = float(total_target)
    for r in ch.itertuples(index=False):
        d = float(getattr(r, "delta"))
        rows.append({"label": str(getattr(r, label)), "kind": "child", "delta": d, "start": level, "end": level + d})
        level += d
    rest = (float(total_actual) - float(ch[actual].sum())) - (float(total_target) - float(ch[target].sum()))
    if abs(rest) > tolerance * max(abs(float(total_target)), 1.0):
        rows.append({"label": "Not allocated", "kind": "other", "delta": rest, "start": level, "end": level + rest})
        level += rest
    rows.append({"label": "Actual", "kind": "actual", "delta": float(total_actual), "start": 0.0, "end": float(total_actual)})
    return pd.DataFrame(rows)
