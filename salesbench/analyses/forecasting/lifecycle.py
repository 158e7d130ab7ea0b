"""Product lifecycle stage per product line: introduction, growth, maturity or decline.

The classic product life cycle (Levitt 1965) reads the stage off the sales
trend. The trend here is the year-on-year growth of the last twelve complete
months against the twelve before them,

    growth = Σ revenue(last 12 months) / Σ revenue(previous 12 months) − 1,

which compares whole years and so needs no seasonal adjustment. With
``relative=True`` (the default) the growth is measured against the whole
business, ``(1 + growth_line) / (1 + growth_all_lines) − 1`` — the change in
the line's share of revenue — so a line that merely grows with the company
reads as mature, and one that shrinks while the company grows as declining.
Rules, in order:

* introduction — first sale less than ``intro_months`` months before the end
  of the history (too young for a year-on-year comparison);
* growth — growth ≥ ``growth`` (default +10% a year);
* decline — growth ≤ ``decline`` (default −10% a year);
* maturity — otherwise.

The thresholds are parameters: what counts as "growth" depends on the market.
"""
from __future__ import annotations

import datetime as _dt

import numpy as np
import pandas as pd

from salesbench.core.dataset import last_order_date

STAGES = ("introduction", "growth", "maturity", "decline")
STAGE_STATUS = {"introduction": "grey", "growth": "green", "maturity": "amber", "decline": "red"}


def monthly_line_revenue(ds, as_of: _dt.date | str | None = None) -> pd.DataFrame | None:
    """Revenue per product line and month (engine group-by), or None without product lines.

    Returns ``product_line, month, revenue`` for complete months up to ``as_of``
    (default: the last order date; a trailing partial month is left out).
    """
    if not (ds.has_columns("products", ["product_id", "product_line"]) and "product_id" in ds.table("orders").columns):
        return None
    o = ds.table("orders")
    p = ds.table("products").select(pid_="product_id", product_line="product_line")
    # one row per product (a duplicated product_id keeps its alphabetically first line): never multiply revenue
    p = p.group_by("pid_").aggregate(product_line=p.product_line.min())
    j = o.inner_join(p, o.product_id == p.pid_)
    last = pd.Timestamp(as_of) if as_of else pd.Timestamp(last_order_date(o))
    j = j.filter(j.order_date <= last.date())
    df = j.group_by([j.product_line, j.order_date.truncate("M").name("month")]).aggregate(
        revenue=j.revenue.sum()).to_pandas()
    df["month"] = pd.to_datetime(df["month"])
    month_end = last + pd.offsets.MonthEnd(0)
    if last.normalize() != month_end.normalize():
        df = df[df["month"] < last.to_period("M").start_time]
    return df.sort_values(["product_line", "month"]).reset_index(drop=True)


def classify_lifecycle(monthly: pd.DataFrame, intro_months: int = 12, growth: float = 0.10,
                       decline: float = -0.10, relative: bool = True) -> pd.DataFrame:
    """Stage per product line from ``product_line, month, revenue`` (see module docstring).

    Missing months count as zero. Returns ``product_line, first_month,
    age_months, revenue_last_12m, revenue_prev_12m, growth`` (own year-on-year),
    ``relative_growth`` (against all lines), ``share, stage``, largest lines first.
    """
    if growth <= decline:
        raise ValueError("the growth threshold must be above the decline threshold")
    if monthly is None or monthly.empty:
        return pd.DataFrame(columns=["product_line", "first_month", "age_months", "revenue_last_12m",
                                     "revenue_prev_12m", "growth", "relative_growth", "share", "stage"])
    end = monthly["month"].max()
    months = pd.date_range(end - pd.DateOffset(months=23), end, freq="MS")
    last12, prev12 = months[12:], months[:12]
    tot_last = float(monthly.loc[monthly["month"].isin(last12), "revenue"].sum())
    tot_prev = float(monthly.loc[monthly["month"].isin(prev12), "revenue"].sum())
    company = tot_last / tot_prev - 1 if (relative and tot_prev > 0) else 0.0
    rows = []
    for line, g in monthly.groupby("product_line"):
        g = g[g["revenue"] > 0]
        first = g["month"].min() if len(g) else end
        age = (end.year - first.year) * 12 + (end.month - first.month) + 1
        r_last = float(g.loc[g["month"].isin(last12), "revenue"].sum())
        r_prev = float(g.loc[g["month"].isin(prev12), "revenue"].sum())
        gr = r_last / r_prev - 1 if r_prev > 0 else np.nan
        rel = (1 + gr) / (1 + company) - 1 if np.isfinite(gr) else np.nan
        if age < intro_months or not np.isfinite(rel):
            stage = "introduction"
        elif rel >= growth:
            stage = "growth"
        elif rel <= decline:
            stage = "decline"
        else:
            stage = "maturity"
        rows.append({"product_line": line, "first_month": first.date(), "age_months": int(age),
                     "revenue_last_12m": r_last, "revenue_prev_12m": r_prev, "growth": gr, "relative_growth": rel, "stage": stage})
    out = pd.DataFrame(rows)
    out["share"] = out["revenue_last_12m"] / out["revenue_last_12m"].sum()
    cols = ["product_line", "first_month", "age_months", "revenue_last_12m", "revenue_prev_12m", "growth",
            "relative_growth", "share", "stage"]
    return out[cols].sort_values("revenue_last_12m", ascending=False).reset_index(drop=True)


def product_lifecycle(ds, as_of=None, intro_months: int = 12, growth: float = 0.10, decline: float = -0.10,
                      relative: bool = True):
    """:func:`monthly_line_revenue` then :func:`classify_lifecycle`; returns (stages, monthly) or (empty, None)."""
    monthly = monthly_line_revenue(ds, as_of)
    return classify_lifecycle(monthly, intro_months, growth, decline, relative), monthly
