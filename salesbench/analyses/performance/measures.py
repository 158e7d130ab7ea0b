"""Engine-side measures and the KPIs computed from them, per level and period.

:func:`kpi_measures` aggregates every table **in the engine** (ibis/DuckDB)
into additive measures per ``(period, key)`` at one level (``rep``, ``team``,
``region`` or ``company``): revenue, cost, amounts due and collected, active
and new customers, survey sums, won/lost deals, visits, targets. Only these
small frames come back to pandas. :func:`kpis_from_measures` turns measures
into KPIs (ratios of sums, so a team's gross margin is its revenue-weighted
margin, not a mean of its reps' margins), growth against the previous period
and the same period last year, and target attainment for every metric that has
a target (definitions: :mod:`salesbench.analyses.performance.kpis`).
:func:`compute_kpis` does both for every level.

Attribution: orders, invoices, surveys, interactions and opportunities are
credited to their ``rep_id`` (for invoices without one, to the customer's
``owner_rep_id``); teams and regions are the reps' team and region from the
``reps`` table. The company level counts every row, also rows without a rep.
The sales-expense ratio needs the optional ``expenses`` table (rep_id,
expense_date, amount); it is NaN when the data set has none.
"""
from __future__ import annotations

import datetime as _dt
from typing import Sequence

import ibis
import numpy as np
import pandas as pd

from salesbench.analyses.performance.kpis import KPI, KPIS
from salesbench.analyses.performance.periods import PERIODS_PER_YEAR, freq_code

LEVELS: tuple[str, ...] = ("rep", "team", "region", "company")


def _unit(period: str) -> str:
    return freq_code(period)  # ibis truncate units: "M", "Q", "Y"


def _as_date(col):
    return col if col.type().is_date() else col.date()


def _window(t, col, start: _dt.date, end: _dt.date):
    c = _as_date(t[col])
    return t.filter((c >= start) & (c < end))


def _with_rep(ds, t):
    """``t`` with a ``rep_id`` column: its own, else the customer's ``owner_rep_id``."""
    if "rep_id" in t.columns:
        return t
    if "customer_id" in t.columns and ds.has_columns("customers", ["customer_id", "owner_rep_id"]):
        c = ds.table("customers")
        owners = c.select(_cust=c.customer_id, rep_id=c.owner_rep_id)
        return t.left_join(owners, t.customer_id == owners._cust).select(*t.columns, "rep_id")
    return None


def _keyed(ds, t, level: str):
    """Attach the grouping key of ``level`` to table ``t`` (None when not possible)."""
    if level == "company":
        return t.mutate(_key=ibis.literal("company"))
    t = _with_rep(ds, t)
    if t is None:
        return None
    if level == "rep":
        return t.filter(t.rep_id.notnull()).mutate(_key=t.rep_id)
    if not ds.has("reps"):
        return None
    r = ds.table("reps")
    rk = r.select(_rep=r.rep_id, _key=r[level])
    j = t.inner_join(rk, t.rep_id == rk._rep)
    return j.select(*t.columns, "_key")


def _periodized(t, col: str, period: str):
    return t.mutate(_period=_as_date(t[col]).truncate(_unit(period)))


def _fetch(expr) -> pd.DataFrame:
    df = expr.to_pandas()
    if "_period" in df.columns:
        df["_period"] = pd.to_datetime(df["_period"])
    return df


def _period_key_measures(ds, table, date_col: str, level, period, start, end, aggregations, where=None):
    """Aggregate ``table`` per (period, key) in the engine: the shape shared by every KPI source.

    Rows are filtered (``where(t)``), restricted to [start, end) on
    ``date_col``, keyed to ``level`` (rep/team/region/company), truncated to
    ``period``, and aggregated with ``aggregations(t) -> {name: expr}``.
    Returns ``None`` when the rows cannot be keyed or nothing is to be measured.
    """
    t = ds.table(table)
    if where is not None:
        t = t.filter(where(t))
    t = _keyed(ds, _window(t, date_col, start, end), level)
    if t is None:
        return None
    t = _periodized(t, date_col, period)
    aggs = aggregations(t)
    if not aggs:
        return None
    return _fetch(t.group_by(["_period", "_key"]).aggregate(**aggs))


def _order_measures(ds, level, period, start, end) -> pd.DataFrame | None:
    orders = ds.table("orders")
    cols = set(orders.columns)
    # acquisition date per customer: signup_date when known, else first order in the data
    first = orders.group_by("customer_id").aggregate(_first=orders.order_date.min())
    if ds.has_columns("customers", ["customer_id", "signup_date"]):
        cu = ds.table("customers").select("customer_id", "signup_date")
        first = first.left_join(cu, first.customer_id == cu.customer_id).select(
            "customer_id", _acq=ibis.coalesce(cu.signup_date, first._first)
        )
    else:
        first = first.select("customer_id", _acq=first._first)
    o = _window(orders, "order_date", start, end)
    o = _keyed(ds, o, level)
    if o is None:
        return None
    o = _periodized(o, "order_date", period)
    o = o.left_join(first, o.customer_id == first.customer_id).select(*o.columns, "_acq")
    is_new = o._acq.truncate(_unit(period)) == o._period
    aggs = dict(
        revenue=o.revenue.sum(),
        order_lines=o.count(),
        active_customers=o.customer_id.nunique(),
        new_customers=o.customer_id.nunique(where=is_new),
    )
    if "order_id" in cols:
        aggs["orders"] = o.order_id.nunique()
    if "cost" in cols:
        aggs["revenue_costed"] = o.revenue.sum(where=o.cost.notnull())
        aggs["cost"] = o.cost.sum()
    if "discount" in cols:
        ok = o.discount.notnull() & (o.discount < 1) & (o.discount >= 0)
        aggs["list_value"] = (o.revenue / (1 - o.discount)).sum(where=ok)
        aggs["revenue_discounted"] = o.revenue.sum(where=ok)
    if "quantity" in cols:
        aggs["quantity"] = o.quantity.sum()
    return _fetch(o.group_by(["_period", "_key"]).aggregate(**aggs))


def _invoice_measures(ds, level, period, start, end, grace_days: int, as_of: _dt.date):
    if not ds.has("invoices"):
        return None

    def aggs(i):
        out = dict(amount_due=i.amount.sum())
        if "paid_amount" in i.columns and "paid_date" in i.columns:
            limit = i.due_date + ibis.interval(days=int(grace_days))
            on_time = i.paid_date.notnull() & (i.paid_date <= limit) & (i.paid_date <= as_of)
            out["amount_collected"] = i.paid_amount.fill_null(0).sum(where=on_time)
        return out

    return _period_key_measures(ds, "invoices", "due_date", level, period, start, end, aggs)


def _survey_measures(ds, level, period, start, end):
    if not ds.has("surveys"):
        return None

    def aggs(s):
        out = {}
        if "csat" in s.columns:
            out.update(csat_sum=s.csat.sum(), csat_n=s.csat.count())
        if "nps" in s.columns:
            out.update(nps_n=s.nps.count(), promoters=s.nps.count(where=s.nps >= 9),
                       detractors=s.nps.count(where=s.nps <= 6))
        return out

    return _period_key_measures(ds, "surveys", "survey_date", level, period, start, end, aggs)


def _opportunity_measures(ds, level, period, start, end):
    if not ds.has_columns("opportunities", ["status", "closed_at"]):
        return None

    def aggs(op):
        won = op.status == "won"
        out = dict(won=op.count(where=won), lost=op.count(where=op.status == "lost"))
        if "amount" in op.columns:
            out["won_amount"] = op.amount.sum(where=won)
        return out

    return _period_key_measures(ds, "opportunities", "closed_at", level, period, start, end, aggs,
                                where=lambda op: op.closed_at.notnull() & op.status.isin(["won", "lost"]))


def _interaction_measures(ds, level, period, start, end):
    if not ds.has("interactions"):
        return None
    return _period_key_measures(
        ds, "interactions", "occurred_at", level, period, start, end,
        lambda it: dict(visits=it.count(where=it.kind == "visit"), complaints=it.count(where=it.kind == "complaint")),
    )


def _expense_measures(ds, level, period, start, end):
    """Sales expenses per period and key, from an ``expenses`` table (rep_id, expense_date, amount).

    Returns nothing when the data set has no ``expenses`` table (the ratio is then NaN).
    """
    if not ds.has_columns("expenses", ["expense_date", "amount"]):
        return None
    return _period_key_measures(ds, "expenses", "expense_date", level, period, start, end,
                                lambda e: dict(expenses=e.amount.sum()))


def _target_measures(ds, level, period, start, end) -> pd.DataFrame | None:
    """Targets summed (additive metrics) or averaged over the months of each period, wide by metric."""
    if not ds.has("targets"):
        return None
    t = ds.table("targets")
    t = t.filter(t.level == level)
    t = _window(t, "period", start, end)
    t = t.mutate(_key=t.key) if level != "company" else t.mutate(_key=t.key.fill_null("company"))
    t = _periodized(t, "period", period)
    agg = _fetch(
        t.group_by(["_period", "_key", "metric"]).aggregate(value_sum=t.value.sum(), value_mean=t.value.mean())
    )
    if agg.empty:
        return None
    if level == "company":
        agg["_key"] = "company"
    additive = agg["metric"].map(lambda m: KPIS[m].additive_target if m in KPIS else True)
    agg["value"] = np.where(additive, agg["value_sum"], agg["value_mean"])
    wide = agg.pivot_table(index=["_period", "_key"], columns="metric", values="value", aggfunc="sum")
    wide.columns = [f"{m}_target" for m in wide.columns]
    return wide.reset_index()


def kpi_measures(
    ds,
    level: str,
    period: str,
    first: pd.Period,
    last: pd.Period,
    grace_days: int = 0,
    as_of: _dt.date | None = None,
) -> pd.DataFrame:
    """Additive measures per ``(period, key)`` for periods ``first``..``last`` at one level.

    Parameters
    ----------
    ds : Dataset with at least ``orders``; other tables add measures when present.
    level : ``rep`` | ``team`` | ``region`` | ``company``.
    period : ``month`` | ``quarter`` | ``year``.
    first, last : pandas Periods of that frequency (inclusive range).
    grace_days : days after the due date a payment still counts as collected.
    as_of : payments after this date are not counted (default: end of ``last``).

    Returns
    -------
    DataFrame with ``period`` (pandas Period), ``key`` and the measure columns
    (revenue, cost, revenue_costed, amount_due, amount_collected,
    active_customers, new_customers, csat_sum, csat_n, promoters, detractors,
    nps_n, won, lost, won_amount, visits, complaints, list_value,
    revenue_discounted, <metric>_target, ...). All group-bys run in the engine.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}; got {level!r}")
    start = first.start_time.date()
    end = (last + 1).start_time.date()
    as_of = as_of or (end - _dt.timedelta(days=1))
    parts = [
        _order_measures(ds, level, period, start, end),
        _invoice_measures(ds, level, period, start, end, grace_days, as_of),
        _survey_measures(ds, level, period, start, end),
        _opportunity_measures(ds, level, period, start, end),
        _interaction_measures(ds, level, period, start, end),
        _expense_measures(ds, level, period, start, end),
        _target_measures(ds, level, period, start, end),
    ]
    frames = [p for p in parts if p is not None]
    if not frames:
        return pd.DataFrame(columns=["period", "key"])
    out = frames[0]
    for f in frames[1:]:
        out = out.merge(f, on=["_period", "_key"], how="outer")
    out["_key"] = out["_key"].astype(str)
    out.insert(0, "period", pd.to_datetime(out.pop("_period")).dt.to_period(freq_code(period)))
    out.insert(1, "key", out.pop("_key"))
    return out.sort_values(["period", "key"]).reset_index(drop=True)


# =========================================================================== KPIs
def ratio(num, den) -> pd.Series:
    num = pd.to_numeric(num, errors="coerce").astype(float)
    den = pd.to_numeric(den, errors="coerce").astype(float)
    return (num / den).where(den > 0)


def column(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df.columns else pd.Series(np.nan, index=df.index)


def kpis_from_measures(measures: pd.DataFrame, period: str = "quarter") -> pd.DataFrame:
    """KPIs (see the module docstring for every formula) from :func:`kpi_measures` output.

    Ratios are ratios of sums within the entity. Growth compares each row with
    the same key one period earlier (``revenue_prev``) and one year earlier
    (``revenue_ly``); missing comparison periods give NaN. For every
    ``<metric>_target`` column with a matching KPI, ``<metric>_attainment`` is
    actual / target (target / actual when lower is better). A KPI whose inputs
    are absent is NaN, never 0 — except revenue, which is 0 for an entity that
    appears (e.g. has a target) but sold nothing.
    """
    m = measures.copy()
    out = m[["period", "key"]].copy()
    out["revenue"] = column(m, "revenue").fillna(0.0)
    out["gross_margin"] = ratio(column(m, "revenue_costed") - column(m, "cost"), column(m, "revenue_costed"))
    collected = column(m, "amount_collected")
    if "amount_collected" in m.columns:  # nothing paid on time is 0 collected, not unknown
        collected = collected.fillna(0.0).where(column(m, "amount_due").notna())
    out["collection_rate"] = ratio(collected, column(m, "amount_due"))
    out["active_customers"] = column(m, "active_customers").fillna(0)
    out["new_customers"] = column(m, "new_customers").fillna(0)
    out["new_customer_rate"] = ratio(column(m, "new_customers"), column(m, "active_customers"))
    out["csat"] = ratio(column(m, "csat_sum"), column(m, "csat_n"))
    out["nps"] = 100 * ratio(column(m, "promoters") - column(m, "detractors"), column(m, "nps_n"))
    out["win_rate"] = ratio(column(m, "won"), column(m, "won") + column(m, "lost"))
    closed = column(m, "won").fillna(0) + column(m, "lost").fillna(0)
    out["won_amount"] = column(m, "won_amount").fillna(0.0).where(closed > 0)  # 0 when deals closed, none won
    out["avg_deal_size"] = ratio(column(m, "won_amount"), column(m, "won"))
    out["discount_rate"] = 1 - ratio(column(m, "revenue_discounted"), column(m, "list_value"))
    out["visits_per_customer"] = ratio(column(m, "visits"), column(m, "active_customers"))
    out["complaints_per_customer"] = ratio(column(m, "complaints"), column(m, "active_customers"))
    expenses = column(m, "expenses").fillna(0.0) if "expenses" in m.columns else column(m, "expenses")
    out["expense_ratio"] = ratio(expenses, out["revenue"])  # no expense rows for a rep = 0 spent
    for extra in ("cost", "amount_due", "amount_collected", "csat_n", "nps_n", "won", "lost", "visits", "complaints",
                  "expenses"):
        if extra in m.columns:
            out[extra] = m[extra]
    # growth against the previous period and the same period last year
    ppy = PERIODS_PER_YEAR[period]
    rev = out[["period", "key", "revenue"]]
    for suffix, lag in (("prev", 1), ("ly", ppy)):
        shifted = rev.assign(period=rev["period"] + lag).rename(columns={"revenue": f"revenue_{suffix}"})
        out = out.merge(shifted, on=["period", "key"], how="left")
    out["revenue_growth_pop"] = ratio(out["revenue"] - out["revenue_prev"], out["revenue_prev"])
    out["revenue_growth_yoy"] = ratio(out["revenue"] - out["revenue_ly"], out["revenue_ly"])
    # targets and attainment
    targets = [c for c in m.columns if c.endswith("_target")]
    for tcol in targets:
        metric = tcol[: -len("_target")]
        out[tcol] = m.set_index(["period", "key"])[tcol].reindex(pd.MultiIndex.from_frame(out[["period", "key"]])).to_numpy()
        if metric in out.columns:
            if KPIS.get(metric, KPI(metric, metric)).higher_is_better:
                out[f"{metric}_attainment"] = ratio(out[metric], out[tcol])
            else:
                out[f"{metric}_attainment"] = ratio(out[tcol], out[metric])
    return out


def compute_kpis(
    ds,
    period: str,
    first: pd.Period,
    last: pd.Period,
    grace_days: int = 0,
    as_of: _dt.date | None = None,
    levels: Sequence[str] = LEVELS,
) -> dict[str, pd.DataFrame]:
    """KPIs for every level in ``levels`` and every period ``first``..``last``.

    Returns ``{level: frame}``. The rep frame gains ``name``, ``team`` and
    ``region`` from the ``reps`` table and keeps only reps that had activity or
    a target in a period (a rep with a target and no sales shows revenue 0);
    team frames gain ``region``. Periods before ``first`` needed for growth are
    fetched automatically (one year earlier).
    """
    ppy = PERIODS_PER_YEAR[period]
    fetch_first = first - ppy
    out = {}
    reps = ds.table("reps").to_pandas() if ds.has("reps") else None
    for level in levels:
        if level in ("team", "region") and reps is None:
            continue
        meas = kpi_measures(ds, level, period, fetch_first, last, grace_days, as_of)
        if meas.empty:
            continue
        k = kpis_from_measures(meas, period)
        k = k[k["period"] >= first].reset_index(drop=True)
        if reps is not None and level == "rep":
            info = reps.set_index("rep_id")
            for c in ("name", "team", "region"):
                if c in info.columns:
                    k[c] = k["key"].map(info[c])
            k.insert(1, "rep_id", k["key"])
        elif reps is not None and level == "team":
            team_region = reps.groupby("team")["region"].agg(lambda s: s.mode().iat[0])
            k["region"] = k["key"].map(team_region)
        out[level] = k
    return out


