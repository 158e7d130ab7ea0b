"""Sales performance review: KPIs per rep, team, region and company, a weighted
scorecard, warning lines and the review orchestration.

The question: *how did each rep, team and region do in the period — against
target, against the previous period and the same period last year — and who
needs attention?*

Pipeline
--------
1. :func:`select_period` picks the review period (the last full month, quarter
   or year on or before ``as_of``).
2. :func:`kpi_measures` aggregates every table **in the engine** (ibis/DuckDB)
   into additive measures per ``(period, key)`` at one level (``rep``,
   ``team``, ``region`` or ``company``): revenue, cost, amounts due and
   collected, active and new customers, survey sums, won/lost deals, visits,
   targets. Only these small frames come back to pandas.
3. :func:`kpis_from_measures` turns measures into KPIs (ratios of sums, so a
   team's gross margin is its revenue-weighted margin, not a mean of its reps'
   margins), growth against the previous period and the same period last year,
   and target attainment for every metric that has a target.
4. :func:`composite_score` normalises the weighted KPIs (attainment against
   target where a target exists, otherwise the percentile within the peer
   group; attainment capped) and combines them with the weights from
   ``params/performance.yaml`` (checked to sum to 1, :func:`check_weights`).
5. :func:`classify` draws the warning lines (red / amber / green) and
   :func:`scorecard` ranks reps within their team and the company.

The variance analysis (price / volume / mix, gap-to-target waterfall) lives in
:mod:`salesbench.analyses.performance.variance`, the relationships and per-rep feedback
in :mod:`salesbench.analyses.performance.feedback`, figures and the colour-coded
scorecard table in :mod:`salesbench.analyses.performance.plots`.
:class:`PerformanceReview` runs all of it for the notebook.

KPI definitions (all per entity and period)
-------------------------------------------
``revenue``               Σ orders.revenue (net of discount) with order_date in the period.
``revenue_growth_pop``    revenue / revenue of the previous period − 1.
``revenue_growth_yoy``    revenue / revenue of the same period one year earlier − 1.
``gross_margin``          (Σ revenue − Σ cost) / Σ revenue, over order lines that have a cost.
``collection_rate``       amount collected / amount due: invoices with due_date in the
                          period; collected = paid_amount paid no later than due_date +
                          ``grace_days`` (and by ``as_of``).
``new_customer_rate``     new customers / active customers. Active = distinct customers
                          with an order in the period; new = active customers whose
                          acquisition date (customers.signup_date, else their first order
                          in the data) falls in the period.
``csat``                  mean survey CSAT (1-5) of surveys in the period.
``nps``                   Net Promoter Score: 100 × (share of 9-10 − share of 0-6)
                          (Reichheld 2003, "The One Number You Need to Grow").
``win_rate``              won / (won + lost) of opportunities closed in the period.
``avg_deal_size``         Σ amount of won opportunities / number won.
``discount_rate``         1 − Σ revenue / Σ list value, list value = revenue / (1 − discount).
``visits_per_customer``   interactions of kind ``visit`` / active customers.
``complaints_per_customer`` interactions of kind ``complaint`` / active customers.
``expense_ratio``         Σ sales expenses / revenue (lower is better), when the data set has
                          an ``expenses`` table (rep_id, expense_date, amount).
``<metric>_target``       Σ of the monthly targets in the period for additive metrics
                          (revenue, new_customers, won_amount), their mean otherwise.
``<metric>_attainment``   actual / target (target / actual for lower-is-better metrics).

Attribution: orders, invoices, surveys, interactions and opportunities are
credited to their ``rep_id`` (for invoices without one, to the customer's
``owner_rep_id``); teams and regions are the reps' team and region from the
``reps`` table. The company level counts every row, also rows without a rep.
The sales-expense ratio needs the optional ``expenses`` table (rep_id,
expense_date, amount); it is NaN when the data set has none.
"""
from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from salesbench.report.results import ReportSkipped

#: Period names accepted by the review and their pandas / ibis frequency codes.
FREQS: dict[str, str] = {"month": "M", "quarter": "Q", "year": "Y"}
PERIODS_PER_YEAR: dict[str, int] = {"month": 12, "quarter": 4, "year": 1}
LEVELS: tuple[str, ...] = ("rep", "team", "region", "company")


@dataclass(frozen=True)
class KPI:
    """Description of one KPI: display label, direction and how to format it."""

    name: str
    label: str
    higher_is_better: bool = True
    kind: str = "pct"  # money | pct | num1 | num0 | num2
    additive_target: bool = False  # monthly targets are summed (True) or averaged (False)


KPIS: dict[str, KPI] = {
    k.name: k
    for k in [
        KPI("revenue", "Revenue", True, "money", True),
        KPI("gross_margin", "Gross margin", True, "pct"),
        KPI("collection_rate", "Collection rate", True, "pct"),
        KPI("new_customer_rate", "New-customer rate", True, "pct"),
        KPI("new_customers", "New customers", True, "num0", True),
        KPI("active_customers", "Active customers", True, "num0", True),
        KPI("csat", "CSAT (1-5)", True, "num2"),
        KPI("nps", "NPS", True, "num0"),
        KPI("win_rate", "Win rate", True, "pct"),
        KPI("avg_deal_size", "Average deal size", True, "money"),
        KPI("won_amount", "Won amount", True, "money", True),
        KPI("discount_rate", "Discount rate", False, "pct"),
        KPI("visits_per_customer", "Visits per customer", True, "num2"),
        KPI("complaints_per_customer", "Complaints per customer", False, "num2"),
        KPI("expense_ratio", "Sales expense ratio", False, "pct"),
        KPI("revenue_growth_pop", "Revenue growth vs previous period", True, "pct"),
        KPI("revenue_growth_yoy", "Revenue growth vs last year", True, "pct"),
    ]
}

#: Default score weights (the issue's: revenue 30%, margin 20%, collection 20%,
#: new-customer rate 15%, satisfaction 15%).
DEFAULT_WEIGHTS: dict[str, float] = {
    "revenue": 0.30,
    "gross_margin": 0.20,
    "collection_rate": 0.20,
    "new_customer_rate": 0.15,
    "csat": 0.15,
}
DEFAULT_LINES: dict[str, dict[str, float]] = {
    "attainment": {"red": 0.80, "amber": 0.95},
    "percentile": {"red": 0.10, "amber": 0.25},
    "score": {"red": 40.0, "amber": 50.0},
}
NORMALISATIONS = ("target_else_percentile", "percentile")
STATUS_ORDER = {"grey": -1, "green": 0, "amber": 1, "red": 2}


class WeightsError(ValueError):
    """The score weights are invalid (unknown KPI, negative, or not summing to 1)."""


# =========================================================================== periods
def _freq(period: str) -> str:
    try:
        return FREQS[period]
    except KeyError:
        raise ValueError(f"period must be one of {', '.join(FREQS)}; got {period!r}") from None


def select_period(period: str, as_of: _dt.date | str | pd.Timestamp) -> pd.Period:
    """The last *full* ``period`` (month / quarter / year) ending on or before ``as_of``.

    >>> str(select_period("quarter", "2025-12-31"))
    '2025Q4'
    >>> str(select_period("quarter", "2025-12-30"))
    '2025Q3'
    """
    day = pd.Timestamp(as_of).normalize()
    p = pd.Period(day, freq=_freq(period))
    if p.end_time.normalize() > day:
        p = p - 1
    return p


def period_label(p: pd.Period) -> str:
    """Human label: ``2025-Q4``, ``2025-12``, ``2025``."""
    s = str(p)
    return s.replace("Q", "-Q") if p.freqstr.startswith("Q") else s


def data_end(ds, today: _dt.date | None = None) -> _dt.date:
    """Latest order date on or before ``today`` (default: the real today) — the default ``as_of``.

    Orders dated in the future are data errors (the data-quality report lists
    them); they must not move the review period.
    """
    from salesbench.core.dataset import last_order_date

    return last_order_date(ds.table("orders"), on_or_before=today or _dt.date.today())


def future_orders(ds, after: _dt.date) -> int:
    """Number of order lines dated after ``after`` (ignored by the review)."""
    o = ds.canonical_table("orders")  # every row: Dataset.table already leaves future-dated ones out
    return int(o.filter(o.order_date > after).count().to_pyarrow().as_py())


# =========================================================================== engine-side measures
def _unit(period: str) -> str:
    return _freq(period)  # ibis truncate units: "M", "Q", "Y"


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
    import ibis

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


def _periodised(t, col: str, period: str):
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
    t = _periodised(t, date_col, period)
    aggs = aggregations(t)
    if not aggs:
        return None
    return _fetch(t.group_by(["_period", "_key"]).aggregate(**aggs))


def _order_measures(ds, level, period, start, end) -> pd.DataFrame | None:
    import ibis

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
    o = _periodised(o, "order_date", period)
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
    import ibis

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
    t = _periodised(t, "period", period)
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
    out.insert(0, "period", pd.to_datetime(out.pop("_period")).dt.to_period(_freq(period)))
    out.insert(1, "key", out.pop("_key"))
    return out.sort_values(["period", "key"]).reset_index(drop=True)


# =========================================================================== KPIs
def _ratio(num, den) -> pd.Series:
    num = pd.to_numeric(num, errors="coerce").astype(float)
    den = pd.to_numeric(den, errors="coerce").astype(float)
    return (num / den).where(den > 0)


def _col(df: pd.DataFrame, name: str) -> pd.Series:
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
    out["revenue"] = _col(m, "revenue").fillna(0.0)
    out["gross_margin"] = _ratio(_col(m, "revenue_costed") - _col(m, "cost"), _col(m, "revenue_costed"))
    collected = _col(m, "amount_collected")
    if "amount_collected" in m.columns:  # nothing paid on time is 0 collected, not unknown
        collected = collected.fillna(0.0).where(_col(m, "amount_due").notna())
    out["collection_rate"] = _ratio(collected, _col(m, "amount_due"))
    out["active_customers"] = _col(m, "active_customers").fillna(0)
    out["new_customers"] = _col(m, "new_customers").fillna(0)
    out["new_customer_rate"] = _ratio(_col(m, "new_customers"), _col(m, "active_customers"))
    out["csat"] = _ratio(_col(m, "csat_sum"), _col(m, "csat_n"))
    out["nps"] = 100 * _ratio(_col(m, "promoters") - _col(m, "detractors"), _col(m, "nps_n"))
    out["win_rate"] = _ratio(_col(m, "won"), _col(m, "won") + _col(m, "lost"))
    closed = _col(m, "won").fillna(0) + _col(m, "lost").fillna(0)
    out["won_amount"] = _col(m, "won_amount").fillna(0.0).where(closed > 0)  # 0 when deals closed, none won
    out["avg_deal_size"] = _ratio(_col(m, "won_amount"), _col(m, "won"))
    out["discount_rate"] = 1 - _ratio(_col(m, "revenue_discounted"), _col(m, "list_value"))
    out["visits_per_customer"] = _ratio(_col(m, "visits"), _col(m, "active_customers"))
    out["complaints_per_customer"] = _ratio(_col(m, "complaints"), _col(m, "active_customers"))
    expenses = _col(m, "expenses").fillna(0.0) if "expenses" in m.columns else _col(m, "expenses")
    out["expense_ratio"] = _ratio(expenses, out["revenue"])  # no expense rows for a rep = 0 spent
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
    out["revenue_growth_pop"] = _ratio(out["revenue"] - out["revenue_prev"], out["revenue_prev"])
    out["revenue_growth_yoy"] = _ratio(out["revenue"] - out["revenue_ly"], out["revenue_ly"])
    # targets and attainment
    targets = [c for c in m.columns if c.endswith("_target")]
    for tcol in targets:
        metric = tcol[: -len("_target")]
        out[tcol] = m.set_index(["period", "key"])[tcol].reindex(pd.MultiIndex.from_frame(out[["period", "key"]])).to_numpy()
        if metric in out.columns:
            if KPIS.get(metric, KPI(metric, metric)).higher_is_better:
                out[f"{metric}_attainment"] = _ratio(out[metric], out[tcol])
            else:
                out[f"{metric}_attainment"] = _ratio(out[tcol], out[metric])
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


# =========================================================================== score
def check_weights(weights: Mapping[str, float], tol: float = 1e-6) -> dict[str, float]:
    """Validate score weights: known KPI names, non-negative numbers summing to 1.

    Raises :class:`WeightsError` with the offending keys or the actual sum.
    """
    if not isinstance(weights, Mapping) or not weights:
        raise WeightsError("score weights must be a non-empty mapping KPI -> weight, e.g. {revenue: 0.3, ...}")
    out = {}
    for k, v in weights.items():
        if k not in KPIS:
            raise WeightsError(f"unknown KPI {k!r} in score weights; known KPIs: {', '.join(KPIS)}")
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise WeightsError(f"score weight for {k!r} must be a number, got {v!r}") from None
        if not math.isfinite(f) or f < 0:
            raise WeightsError(f"score weight for {k!r} must be a non-negative number, got {v!r}")
        out[k] = f
    total = sum(out.values())
    if abs(total - 1.0) > tol:
        listing = ", ".join(f"{k} {v:g}" for k, v in out.items())
        raise WeightsError(f"score weights must sum to 1; they sum to {total:.4g} ({listing})")
    return out


def check_lines(lines: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Validate warning lines ``{attainment|percentile|score: {red, amber}}`` (red ≤ amber)."""
    out = {k: dict(v) for k, v in DEFAULT_LINES.items()}
    for name, spec in (lines or {}).items():
        if name not in DEFAULT_LINES:
            raise ValueError(f"unknown warning line {name!r}; expected one of {', '.join(DEFAULT_LINES)}")
        if not isinstance(spec, Mapping) or set(spec) != {"red", "amber"}:
            raise ValueError(f"warning line {name!r} needs exactly the keys red and amber, got {spec!r}")
        red, amber = float(spec["red"]), float(spec["amber"])
        if red > amber:
            raise ValueError(f"warning line {name!r}: red ({red:g}) must not be above amber ({amber:g})")
        out[name] = {"red": red, "amber": amber}
    return out


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


def peer_percentile(values: pd.Series, groups: pd.Series | None = None, higher_is_better: bool = True) -> pd.Series:
    """Mid-rank percentile of each value within its peer group, in (0, 1).

    ``(rank − 0.5) / n`` with average ranks for ties and ``n`` the number of
    non-missing values in the group (Hazen plotting position), so the median
    peer sits at 0.5 and a group of one at 0.5. Lower-is-better KPIs are ranked
    on the negated value. Missing values stay NaN.
    """
    v = pd.to_numeric(values, errors="coerce").astype(float)
    if not higher_is_better:
        v = -v
    if groups is None:
        r = v.rank(method="average")
        n = v.notna().sum()
        return (r - 0.5) / n if n else r
    r = v.groupby(groups).rank(method="average")
    n = v.groupby(groups).transform("count")
    return (r - 0.5) / n


def normalise_kpi(
    frame: pd.DataFrame,
    kpi: str,
    normalisation: str = "target_else_percentile",
    cap: float = 1.2,
    peer: pd.Series | None = None,
) -> tuple[pd.Series, pd.Series]:
    """The score component of one KPI and its basis (``target`` / ``percentile``).

    ``target_else_percentile``: attainment against target clipped to
    ``[0, cap]`` where the row has a target, else the peer percentile
    (:func:`peer_percentile`, in (0, 1)). ``percentile``: always the percentile.
    """
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {', '.join(NORMALISATIONS)}; got {normalisation!r}")
    info = KPIS.get(kpi, KPI(kpi, kpi))
    values = _col(frame, kpi)
    pct = peer_percentile(values, peer, info.higher_is_better)
    att_col = f"{kpi}_attainment"
    if normalisation == "target_else_percentile" and att_col in frame.columns:
        att = frame[att_col].astype(float)
        has = att.notna()
        comp = att.clip(0, cap).where(has, pct)
        basis = pd.Series(np.where(has, "target", "percentile"), index=frame.index)
    else:
        comp = pct
        basis = pd.Series("percentile", index=frame.index)
    basis = basis.where(comp.notna(), "missing")
    return comp, basis


def composite_score(
    frame: pd.DataFrame,
    weights: Mapping[str, float] = DEFAULT_WEIGHTS,
    normalisation: str = "target_else_percentile",
    cap: float = 1.2,
    peer: pd.Series | None = None,
    min_weight: float = 0.5,
) -> pd.DataFrame:
    """Weighted composite score per row of ``frame`` (one row per rep).

    score = 100 × Σ_k w_k · c_k / Σ_{k available} w_k

    with ``c_k`` the normalised component of KPI ``k`` (:func:`normalise_kpi`).
    Missing-KPI rule: a KPI the rep has no value for (no surveys, no invoices
    due, table absent) drops out and its weight is spread proportionally over
    the KPIs the rep has; if the weight left (``weight_covered``) is below
    ``min_weight`` the score is NaN. On this scale 100 means "on target" for
    target-based components and 50 "median peer" for percentile components.

    Returns a frame (same index) with ``c_<kpi>``, ``basis_<kpi>``,
    ``weight_covered`` and ``score``.
    """
    w = check_weights(weights)
    out = pd.DataFrame(index=frame.index)
    num = pd.Series(0.0, index=frame.index)
    covered = pd.Series(0.0, index=frame.index)
    for k, wk in w.items():
        comp, basis = normalise_kpi(frame, k, normalisation, cap, peer)
        out[f"c_{k}"] = comp
        out[f"basis_{k}"] = basis
        has = comp.notna()
        num += np.where(has, wk * comp.fillna(0.0), 0.0)
        covered += np.where(has, wk, 0.0)
    out["weight_covered"] = covered
    enough = covered >= min_weight - 1e-12
    out["score"] = (100 * num / covered.where(covered > 0)).where(enough)
    return out


def kpi_status(
    frame: pd.DataFrame,
    components: pd.DataFrame,
    kpis: Iterable[str],
    lines: Mapping[str, Mapping[str, float]],
    peer: pd.Series | None = None,
) -> pd.DataFrame:
    """Status per KPI: attainment lines where the row has a target, else percentile lines.

    Returns ``status_<kpi>`` columns (red / amber / green / grey).
    """
    lines = check_lines(lines)
    out = pd.DataFrame(index=frame.index)
    for k in kpis:
        info = KPIS.get(k, KPI(k, k))
        pct = peer_percentile(_col(frame, k), peer, info.higher_is_better)
        by_pct = classify(pct, **lines["percentile"])
        att_col = f"{k}_attainment"
        basis = components.get(f"basis_{k}")
        if att_col in frame.columns and basis is not None:
            by_att = classify(frame[att_col], **lines["attainment"])
            out[f"status_{k}"] = np.where(basis == "target", by_att, by_pct)
        else:
            out[f"status_{k}"] = by_pct
    return out


def worst_status(statuses: pd.DataFrame) -> pd.Series:
    """Row-wise worst status (red > amber > green > grey)."""
    ranks = statuses.apply(lambda c: c.map(STATUS_ORDER)).max(axis=1)
    back = {v: k for k, v in STATUS_ORDER.items()}
    return ranks.map(back).fillna("grey")


def scorecard(
    rep_kpis: pd.DataFrame,
    weights: Mapping[str, float] = DEFAULT_WEIGHTS,
    lines: Mapping[str, Mapping[str, float]] | None = None,
    normalisation: str = "target_else_percentile",
    cap: float = 1.2,
    peer_group: str = "company",
    min_weight: float = 0.5,
) -> pd.DataFrame:
    """Scorecard of one period: one row per rep, best first.

    Input: the rep rows of :func:`compute_kpis` for one period. Adds the
    components and ``score`` (:func:`composite_score`), ``status_<kpi>`` per
    weighted KPI, ``score_status`` (score lines), ``status`` = the worst of the
    score status and the statuses of target-based KPIs, ``rank`` (1 = best in
    the company, ties share the best rank) and ``rank_team``. Percentiles are
    taken within ``peer_group`` (``company`` or ``team``).
    """
    lines = check_lines(lines or DEFAULT_LINES)
    df = rep_kpis.reset_index(drop=True).copy()
    if peer_group not in ("company", "team"):
        raise ValueError(f"peer_group must be 'company' or 'team'; got {peer_group!r}")
    peer = df["team"] if peer_group == "team" and "team" in df.columns else None
    comps = composite_score(df, weights, normalisation, cap, peer, min_weight)
    df = pd.concat([df, comps], axis=1)
    w = check_weights(weights)
    st = kpi_status(df, comps, w, lines, peer)
    df = pd.concat([df, st], axis=1)
    df["score_status"] = classify(df["score"], **lines["score"])
    target_cols = [f"status_{k}" for k in w if (comps[f"basis_{k}"] == "target").any()]
    masked = df[["score_status"]].copy()
    for c in target_cols:
        k = c[len("status_"):]
        masked[c] = df[c].where(comps[f"basis_{k}"] == "target", "grey")
    df["status"] = worst_status(masked)
    df["rank"] = df["score"].rank(ascending=False, method="min").astype("Int64")
    if "team" in df.columns:
        df["rank_team"] = df.groupby("team")["score"].rank(ascending=False, method="min").astype("Int64")
    return df.sort_values(["score", "rep_id"], ascending=[False, True], na_position="last").reset_index(drop=True)


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


def score_truth_spearman(card: pd.DataFrame, truth: Mapping[str, Any] | None) -> float | None:
    """Spearman correlation of rep scores with the demo generator's latent rep skill.

    ``truth`` is ``Dataset.truth``; returns None when it has no ``rep_skill``
    or fewer than three reps have both a score and a skill.
    """
    from scipy.stats import spearmanr

    if not truth or "rep_skill" not in truth:
        return None
    skill = pd.Series(truth["rep_skill"], dtype=float)
    df = card[["rep_id", "score"]].dropna()
    df = df[df["rep_id"].isin(skill.index)]
    if len(df) < 3:
        return None
    return float(spearmanr(df["score"], skill.reindex(df["rep_id"]).to_numpy()).statistic)


def company_kpis(company_row: Mapping[str, Any]) -> dict[str, Any]:
    """The company KPIs published in results.json from the company-level KPI row."""
    keys = [
        "revenue", "revenue_target", "revenue_attainment", "revenue_prev", "revenue_ly",
        "revenue_growth_pop", "revenue_growth_yoy", "gross_margin", "collection_rate",
        "new_customer_rate", "csat", "nps", "win_rate", "avg_deal_size", "expense_ratio",
    ]
    out = {k: company_row.get(k) for k in keys}
    out["attainment"] = out.pop("revenue_attainment")
    return {k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)) for k, v in out.items()}


# =========================================================================== orchestration
@dataclass
class ReviewConfig:
    """Parameters of a review (the keys of ``params/performance.yaml``)."""

    period: str = "quarter"
    as_of: _dt.date | None = None
    region: str | None = None
    team: str | None = None
    weights: Mapping[str, float] = None  # type: ignore[assignment]
    normalisation: str = "target_else_percentile"
    attainment_cap: float = 1.2
    peer_group: str = "company"
    min_weight: float = 0.5
    warning_lines: Mapping[str, Mapping[str, float]] = None  # type: ignore[assignment]
    collection_grace_days: int = 0
    trend_periods: int = 6
    relationships: Sequence[Sequence[str]] = (
        ("discount_rate", "gross_margin"),
        ("visits_per_customer", "win_rate"),
        ("complaints_per_customer", "csat"),
    )
    confidence: float = 0.95

    def __post_init__(self):
        self.weights = check_weights(self.weights or DEFAULT_WEIGHTS)
        self.warning_lines = check_lines(self.warning_lines or DEFAULT_LINES)
        _freq(self.period)
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {', '.join(NORMALISATIONS)}; got {self.normalisation!r}")
        if self.attainment_cap <= 0:
            raise ValueError("attainment_cap must be positive")
        if self.trend_periods < 1:
            raise ValueError("trend_periods must be at least 1")
        if not 0 < self.confidence < 1:
            raise ValueError("confidence must be between 0 and 1")
        for pair in self.relationships:
            if len(pair) != 2 or any(p not in KPIS for p in pair):
                raise ValueError(f"each relationship is a pair of KPI names from {', '.join(KPIS)}; got {pair!r}")

    @classmethod
    def from_params(cls, P) -> "ReviewConfig":
        """Build from the validated notebook parameters (``sb.params.load``) or any mapping.

        Keys that are not review settings (``data``, ``out_dir``) are ignored;
        null values keep the defaults.
        """
        values = P.as_dict() if hasattr(P, "as_dict") else dict(P)
        kwargs = {k: values[k] for k in cls.__dataclass_fields__ if values.get(k) is not None}
        if "relationships" in kwargs:
            kwargs["relationships"] = [tuple(p) for p in kwargs["relationships"]]
        return cls(**kwargs)


class PerformanceReview:
    """The whole review for one period (scikit-learn shape: configure, ``fit(ds)``).

    After :meth:`fit`:

    ``period_`` (pandas Period), ``previous_``, ``last_year_``, ``as_of_``,
    ``trend_first_`` (first trend period); ``all_kpis_`` {level: KPI frame of
    every fetched period}; ``kpis_`` {level: KPI frame of the review period};
    ``scope_level_`` / ``scope_key_`` / ``scope_kpis_`` (the company, region or
    team the report is about and its KPI row); ``history_`` rep KPI
    frames for the last ``trend_periods`` periods with their scores;
    ``card_`` the scorecard of all reps; ``scope_card_`` its rows in the
    region/team scope; ``warnings_`` (:func:`warning_list` of the scope);
    ``company_`` (:func:`company_kpis`); ``pvm_previous_`` / ``pvm_target_``
    (price/volume/mix by product line); ``waterfalls_`` {level: gap waterfall};
    ``relationships_``; ``feedback_`` (one dict per rep in scope);
    ``spearman_truth_`` (demo only) and ``notes_`` (what was skipped and why).
    """

    def __init__(self, config: ReviewConfig | None = None, **kwargs):
        self.config = config or ReviewConfig(**kwargs)

    # ------------------------------------------------------------------ fit
    def fit(self, ds) -> "PerformanceReview":
        from salesbench.analyses.performance import feedback as fb
        from salesbench.analyses.performance import variance as var

        cfg = self.config
        ds.require("orders", "reps", analysis="performance")
        self.notes_: list[str] = []
        self.as_of_ = pd.Timestamp(cfg.as_of).date() if cfg.as_of else data_end(ds)
        self.period_ = select_period(cfg.period, self.as_of_)
        self.previous_ = self.period_ - 1
        self.last_year_ = self.period_ - PERIODS_PER_YEAR[cfg.period]
        self.trend_first_ = self.period_ - (cfg.trend_periods - 1)
        first = min(self.trend_first_, self.last_year_)
        kpis = compute_kpis(ds, cfg.period, first, self.period_, cfg.collection_grace_days, self.as_of_)
        self.all_kpis_ = kpis
        self.kpis_ = {lvl: f[f["period"] == self.period_].reset_index(drop=True) for lvl, f in kpis.items()}
        if "company" not in kpis or self.kpis_["company"].empty:
            raise ReportSkipped(self._no_orders_reason(ds))
        if "rep" not in kpis or self.kpis_["rep"].empty:
            raise ReportSkipped(f"no order in the review period {period_label(self.period_)} has a rep_id: "
                                "the review needs orders credited to reps")
        n_future = future_orders(ds, _dt.date.today())
        if n_future:
            one = n_future == 1
            self.notes_.append(f"{n_future:,} order line{'' if one else 's'} dated in the future (after today) "
                               f"{'was' if one else 'were'} ignored")
        self._check_scope(kpis["rep"])
        self._notes_missing(ds)

        # scorecards for every trend period (percentiles within each period)
        hist = []
        trend_reps = kpis["rep"][kpis["rep"]["period"] >= self.trend_first_]
        for p, grp in trend_reps.groupby("period", sort=True):
            card = scorecard(grp, cfg.weights, cfg.warning_lines, cfg.normalisation, cfg.attainment_cap,
                             cfg.peer_group, cfg.min_weight)
            hist.append(card)
        self.history_ = pd.concat(hist, ignore_index=True)
        self.card_ = self.history_[self.history_["period"] == self.period_].reset_index(drop=True)
        self.scope_card_ = self._in_scope(self.card_).reset_index(drop=True)
        self.warnings_ = warning_list(self.scope_card_, cfg.weights)
        self.company_ = company_kpis(self.kpis_["company"].iloc[0].to_dict())
        self.scope_kpis_ = self._scope_row()
        self.spearman_truth_ = score_truth_spearman(self.scope_card_, ds.truth)

        # variance analysis
        rep_ids = None if self.scope_level_ == "company" else list(self.scope_card_["rep_id"])
        self.pvm_previous_ = self.pvm_target_ = None
        self.pvm_target_base_ = None
        if ds.has_columns("orders", ["product_id", "quantity"]) and ds.has_columns("products", ["product_id", "product_line"]):
            lines = var.product_line_volumes(ds, [self.period_, self.previous_, self.last_year_], rep_ids)
            cur = lines.get(self.period_)
            prev = lines.get(self.previous_)
            ly = lines.get(self.last_year_)
            if cur is not None and prev is not None:
                self.pvm_previous_ = var.price_volume_mix(cur, prev)
            target = self.scope_kpis_.get("revenue_target")
            base = ly if ly is not None else prev
            if cur is not None and base is not None and target is not None and not pd.isna(target):
                self.pvm_target_base_ = "same period last year" if ly is not None else "previous period"
                self.pvm_target_ = var.price_volume_mix(cur, var.scale_to_target(base, float(target)))
        else:
            self.notes_.append("price/volume/mix needs orders.product_id, orders.quantity and a products table")
        self.waterfalls_ = self._waterfalls(var)

        # relationships across all reps of the company (more data than one team)
        self.relationships_ = fb.relationships(self.card_, cfg.relationships, cfg.confidence)
        self.feedback_ = fb.rep_feedback(self.card_, self.history_, list(cfg.weights), self.scope_card_["rep_id"])
        return self

    # ------------------------------------------------------------------ helpers
    def _no_orders_reason(self, ds) -> str:
        """Why the review period is empty, in one line: the period, the data's order dates, what to change."""
        o = ds.table("orders")
        o = o.filter(o.order_date <= self.as_of_)
        span = o.aggregate(first=o.order_date.min(), last=o.order_date.max()).to_pandas().iloc[0]
        label = period_label(self.period_)
        if pd.isna(span["first"]):
            return f"no orders on or before {self.as_of_.isoformat()}"
        first, last = pd.Timestamp(span["first"]).date(), pd.Timestamp(span["last"]).date()
        if first > self.period_.end_time.date():
            return (f"no full {self.config.period} of orders yet: the last full {self.config.period} ending on or before "
                    f"{self.as_of_.isoformat()} is {label}, and the orders run from {first.isoformat()} to "
                    f"{last.isoformat()}" + ("" if self.config.period == "month" else " (try -p period=month)"))
        return f"no orders in the review period {label} (orders run from {first.isoformat()} to {last.isoformat()})"

    def _check_scope(self, rep_kpis: pd.DataFrame) -> None:
        cfg = self.config
        if cfg.team and cfg.region:
            raise ValueError("set either region or team, not both")
        if cfg.team:
            known = sorted(rep_kpis["team"].dropna().unique())
            if cfg.team not in known:
                raise ValueError(f"unknown team {cfg.team!r}; teams: {', '.join(known)}")
            self.scope_level_, self.scope_key_ = "team", cfg.team
        elif cfg.region:
            known = sorted(rep_kpis["region"].dropna().unique())
            if cfg.region not in known:
                raise ValueError(f"unknown region {cfg.region!r}; regions: {', '.join(known)}")
            self.scope_level_, self.scope_key_ = "region", cfg.region
        else:
            self.scope_level_, self.scope_key_ = "company", "company"

    def _in_scope(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.scope_level_ == "company":
            return frame
        return frame[frame[self.scope_level_] == self.scope_key_]

    def _scope_row(self) -> dict[str, Any]:
        f = self.kpis_.get(self.scope_level_)
        if f is None:
            return {}
        row = f[f["key"] == self.scope_key_]
        return row.iloc[0].to_dict() if len(row) else {}

    def _notes_missing(self, ds) -> None:
        f = self.kpis_["company"]
        for k in self.config.weights:
            if k not in f.columns or f[k].isna().all():
                self.notes_.append(
                    f"{KPIS[k].label} cannot be computed from this data set: its weight is spread over the other KPIs"
                )
        if not ds.has("targets"):
            self.notes_.append("no targets table: every KPI is scored by its percentile among peers")

    def _waterfalls(self, var) -> dict[str, pd.DataFrame]:
        out = {}
        children = {"company": ["region", "team"], "region": ["team", "rep"], "team": ["rep"]}[self.scope_level_]
        total_actual = self.scope_kpis_.get("revenue")
        total_target = self.scope_kpis_.get("revenue_target")
        if total_target is None or pd.isna(total_target):
            return out
        for level in children:
            f = self.kpis_.get(level)
            if f is None or "revenue_target" not in f.columns:
                continue
            f = f.copy()
            if level == "rep":
                f = f[f["rep_id"].isin(self.scope_card_["rep_id"])]
                f["label"] = f["rep_id"]
            else:
                if self.scope_level_ != "company":
                    f = f[f[self.scope_level_] == self.scope_key_] if self.scope_level_ in f.columns else f
                f["label"] = f["key"]
            out[level] = var.gap_waterfall(f, float(total_actual), float(total_target))
        return out

    # ------------------------------------------------------------------ outputs
    @property
    def scope_label(self) -> str:
        return "the company" if self.scope_level_ == "company" else f"{self.scope_level_} {self.scope_key_}"

    def results(self) -> dict[str, Any]:
        """The values for ``performance.results.json`` (see docs/performance.md)."""
        card = self.scope_card_
        below = card[card["status"].isin(["red", "amber"])]
        return {
            "period": str(self.period_),
            "period_type": self.config.period,
            "period_start": self.period_.start_time.date(),
            "period_end": self.period_.end_time.date(),
            "previous_period": str(self.previous_),
            "last_year_period": str(self.last_year_),
            "scope": {"level": self.scope_level_, "key": self.scope_key_},
            "weights": dict(self.config.weights),
            "normalisation": self.config.normalisation,
            "attainment_cap": self.config.attainment_cap,
            "warning_lines": self.config.warning_lines,
            "scorecard": [
                {"rep_id": r.rep_id, "name": getattr(r, "name", None), "team": getattr(r, "team", None),
                 "score": r.score, "rank": None if pd.isna(r.rank) else int(r.rank),
                 "rank_team": None if pd.isna(getattr(r, "rank_team", np.nan)) else int(r.rank_team),
                 "status": r.status}
                for r in card.itertuples(index=False)
            ],
            "company": self.company_,
            "scope_kpis": {k: self.scope_kpis_.get(k) for k in ("revenue", "revenue_target", "revenue_attainment")},
            "below_warning": int(len(below)),
            "below_warning_reps": list(below["rep_id"]),
            "n_reps": int(len(card)),
            "score_vs_truth_spearman": self.spearman_truth_,
            "pvm_previous": _pvm_totals(self.pvm_previous_),
            "pvm_target": _pvm_totals(self.pvm_target_),
            "relationships": self.relationships_[["x", "y", "n", "rho", "lo", "hi"]].to_dict(orient="records")
            if self.relationships_ is not None and len(self.relationships_) else [],
            "notes": list(self.notes_),
        }


def _pvm_totals(pvm: pd.DataFrame | None) -> dict[str, float] | None:
    if pvm is None:
        return None
    tot = pvm[pvm["product_line"] == "Total"].iloc[0]
    return {k: float(tot[k]) for k in ("revenue_base", "volume", "mix", "price", "revenue_current", "change")}
