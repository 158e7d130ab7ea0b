"""The hierarchy of sales series: orders → periods × dimensions → every level of the hierarchy.

:func:`build_series` runs the steps, each its own function: :func:`attach_dimensions`
(region, product line, channel joined to orders in the engine), :func:`aggregate_bottom`
(the value ``y`` and the driver sums per period × dimensions, ibis/DuckDB),
:func:`history_periods` (complete periods of history and holdout), :func:`sum_hierarchy`
(zero-filled bottom series summed to every level with ``hierarchicalforecast``'s ``aggregate``),
:func:`series_meta` and :func:`add_drivers`. Also here: how much backtest the history allows
(:func:`fit_backtest_to_history`) and which drivers ARIMA gets (:func:`usable_drivers`).
"""
from __future__ import annotations

import datetime as _dt
import itertools
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from salesbench.core.errors import ReportSkipped
from salesbench.core.i18n import N_
from salesbench.core.said import Said

#: Supported frequencies: parameter value → (ibis truncate unit, pandas freq alias, default season length).
FREQUENCIES: dict[str, tuple[str, str, int]] = {
    "M": ("M", "MS", 12),
    "W": ("W", "W-MON", 52),
}
#: Hierarchy dimensions this module knows how to attach to orders.
DIMENSIONS = ("region", "product_line", "channel")
#: Metrics: revenue (sum of net revenue), orders (distinct orders), repeat_orders
#: (distinct customer purchase days after the customer's first purchase day).
METRICS = ("revenue", "orders", "repeat_orders")
#: Exogenous drivers built from the orders table when its columns exist.
DRIVERS = ("promo_share", "discount")
TOTAL = "Total"


# =========================================================================== series
@dataclass
class SeriesSet:
    """The hierarchy of series to forecast.

    Attributes
    ----------
    Y : long frame ``unique_id, ds, y`` (+ driver columns) — history up to ``as_of``
    holdout : same columns for complete periods after ``as_of`` (empty when ``as_of`` is the data's end)
    S : summing matrix, index = every ``unique_id``, columns = bottom ids (1 where the bottom series adds in)
    tags : level name (``"total"``, ``"region"``, ``"region/product_line"``, ...) → array of ids
    meta : ``unique_id, level, depth`` and one column per dimension (None where aggregated)
    frequency : ``"M"`` or ``"W"``; ``freq`` the pandas alias; ``season_length`` m
    metric, dimensions (the hierarchy dimensions found), drivers (exogenous columns available)
    dropped_periods : partial periods at the edges left out (start dates)
    notes : plain-language remarks (dimensions not available, partial periods dropped)
    """

    Y: pd.DataFrame
    holdout: pd.DataFrame
    S: pd.DataFrame
    tags: dict[str, np.ndarray]
    meta: pd.DataFrame
    frequency: str
    freq: str
    season_length: int
    metric: str
    dimensions: list[str]
    drivers: list[str]
    as_of: _dt.date
    dropped_periods: list[_dt.date] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    plan: pd.DataFrame | None = None

    @property
    def ids(self) -> list[str]:
        return list(self.S.index)

    @property
    def bottom_ids(self) -> list[str]:
        return list(self.S.columns)

    @property
    def n_series(self) -> int:
        return len(self.S.index)

    def subset(self, ids: Iterable[str]) -> pd.DataFrame:
        keep = set(ids)
        return self.Y[self.Y["unique_id"].isin(keep)]


def zero_fill(frame: pd.DataFrame, keys: Sequence[str], periods: Sequence, value_cols: Sequence[str],
              period_col: str = "ds") -> pd.DataFrame:
    """Complete ``frame`` to every (key combination × period), filling value columns with 0.

    ``keys`` are the columns identifying a series (may be empty: one series);
    the key combinations are those present in ``frame``; ``periods`` is the
    full list of period start dates. Rows whose period is not in ``periods``
    are dropped. A period with no sales is a real zero for sales series, and
    leaving it out would shift seasonal lags and inflate averages, so the
    zeros are made explicit. Returns a frame sorted by keys and period.
    """
    keys = list(keys)
    periods = pd.DatetimeIndex(pd.to_datetime(list(periods)))
    df = frame.copy()
    df[period_col] = pd.to_datetime(df[period_col])
    df = df[df[period_col].isin(periods)]
    if keys:
        combos = frame[keys].drop_duplicates().reset_index(drop=True)
        grid = combos.merge(pd.DataFrame({period_col: periods}), how="cross")
    else:
        grid = pd.DataFrame({period_col: periods})
    out = grid.merge(df[keys + [period_col] + list(value_cols)], on=keys + [period_col], how="left")
    for c in value_cols:
        out[c] = out[c].fillna(0.0).astype(float)
    return out.sort_values(keys + [period_col]).reset_index(drop=True)


def complete_periods(first: _dt.date, last: _dt.date, frequency: str = "M",
                     min_coverage: float = 0.9) -> tuple[pd.DatetimeIndex, list[_dt.date]]:
    """Period start dates between ``first`` and ``last`` (inclusive dates covered by the data).

    A period is kept when the data covers at least ``min_coverage`` of its
    days (only the first and the last period can be partial); partial edge
    periods would look like a collapse in sales. Returns (kept period
    starts, dropped period starts).
    """
    unit, alias, _ = FREQUENCIES[frequency]
    first, last = pd.Timestamp(first), pd.Timestamp(last)
    start = first.to_period("M").start_time if frequency == "M" else first - pd.Timedelta(days=first.weekday())
    starts = pd.date_range(start, last, freq=alias)
    kept, dropped = [], []
    for s in starts:
        e = s + pd.offsets.MonthEnd(0) if frequency == "M" else s + pd.Timedelta(days=6)
        days = (e - s).days + 1
        covered = (min(e, last) - max(s, first)).days + 1
        (kept if covered / days >= min_coverage else dropped).append(s)
    return pd.DatetimeIndex(kept), [d.date() for d in dropped]


def data_granularity(dates) -> str | None:
    """``"M"`` when the data holds period-level monthly rows, ``"W"`` for weekly rows, else None (transactions).

    Monthly: at least two distinct dates, all on the same day of the month
    (e.g. the 1st) or all on the month's last day, at least 28 days apart.
    Weekly: at least two distinct dates, all on the same weekday (e.g. Friday),
    at least 7 days apart. Such a row stands for its whole period, so the
    partial-period rule of :func:`complete_periods` must not drop the first
    and last periods.
    """
    d = pd.DatetimeIndex(pd.to_datetime(pd.Series(dates).dropna().unique())).sort_values()
    if len(d) < 2:
        return None
    gaps = np.diff(d.normalize().to_numpy().astype("datetime64[D]").astype(np.int64))  # days
    if gaps.min() >= 28 and (d.day.nunique() == 1 or bool(d.is_month_end.all())):
        return "M"
    if gaps.min() >= 7 and d.weekday.nunique() == 1:
        return "W"
    return None


def _one_per_key(t, key: str, col: str, table: str, notes: list[str]):
    """``key, col`` with one row per key, so that joining it to orders can never multiply revenue.

    A key listed more than once (a quality problem validate reports) keeps
    its alphabetically first non-null ``col``; the count goes to ``notes``.
    """
    t = t.select(key, col)
    dup = t.group_by(key).aggregate(n_=t[key].count()).filter(lambda x: x.n_ > 1).count().to_pandas()
    if int(dup):
        notes.append(Said(__name__, N_("{n} {key} value(s) appear more than once in the {table} table: each uses its "
                                       "alphabetically first {col}, so no order is counted twice."),
                          n=int(dup), key=key, table=table, col=col))
    return t.group_by(key).aggregate(**{col: t[col].min()})


def attach_dimensions(ds, dimensions: Sequence[str], notes: list[str]):
    """Orders with the requested hierarchy dimensions joined in (ibis); returns (table, dims found)."""
    o = ds.table("orders")
    found: list[str] = []
    for dim in dimensions:
        if dim not in DIMENSIONS:
            raise ValueError(f"unknown hierarchy level {dim!r}; choose from {', '.join(DIMENSIONS)}")
        if dim == "region":
            if ds.has_columns("customers", ["customer_id", "region"]):
                c = _one_per_key(ds.table("customers"), "customer_id", "region", "customers", notes)
                c = c.select("customer_id", region_="region")
                o = o.left_join(c, o.customer_id == c.customer_id).drop("customer_id_right")
                o = o.mutate(region=o.region_.fill_null("unknown")).drop("region_")
                found.append(dim)
            else:
                notes.append(Said(__name__, N_("No customers table with a region column: no region level.")))
        elif dim == "product_line":
            if "product_id" in o.columns and ds.has_columns("products", ["product_id", "product_line"]):
                p = _one_per_key(ds.table("products"), "product_id", "product_line", "products", notes)
                p = p.select(pid_="product_id", product_line_="product_line")
                o = o.left_join(p, o.product_id == p.pid_).drop("pid_")
                o = o.mutate(product_line=o.product_line_.fill_null("unknown")).drop("product_line_")
                found.append(dim)
            else:
                notes.append(Said(__name__, N_("No products table (or orders.product_id): no product-line level.")))
        elif dim == "channel":
            if "channel" in o.columns:
                o = o.mutate(channel=o.channel.fill_null("unknown"))
                found.append(dim)
            else:
                notes.append(Said(__name__, N_("Orders have no channel column: no channel level.")))
    return o, found



def build_series(ds, frequency: str = "M", metric: str = "revenue",
                 dimensions: Sequence[str] = ("region", "product_line", "channel"),
                 as_of: _dt.date | str | None = None, start: _dt.date | str | None = None,
                 min_coverage: float = 0.9, season_length: int | None = None) -> SeriesSet:
    """Build the hierarchy of sales series from ``ds`` (a :class:`salesbench.Dataset`).

    In the engine (ibis): orders get their region (customers), product line
    (products) and channel, are truncated to the period (``M`` month starts,
    ``W`` ISO weeks starting Monday) and grouped by period × dimensions into
    the value ``y`` and three sums for the drivers (revenue, promo revenue,
    list-price revenue ``revenue / (1 − discount)``). In pandas (small): the
    bottom series (every dimension combination present) are zero-filled
    over all complete periods, then summed to every level — total, each
    dimension, every combination — with ``hierarchicalforecast``'s
    ``aggregate``, which also returns the summing matrix ``S``.

    Drivers per series and period: ``promo_share = promo revenue / revenue``,
    ``discount = 1 − revenue / list revenue`` (0 when there is no revenue).

    Values: ``revenue`` = Σ net revenue; ``orders`` = distinct orders per cell
    (an order spanning k product lines counts in each of them, so levels
    stay additive); ``repeat_orders`` = distinct (customer, day) purchases
    after the customer's first purchase day (Fader, Hardie & Lee 2005).

    ``as_of`` (default: last order date) ends the history; complete periods
    after it go to ``holdout``. ``start`` (default: first order date) starts it.
    """
    if frequency not in FREQUENCIES:
        raise ValueError(f"frequency must be one of {', '.join(FREQUENCIES)}, not {frequency!r}")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
    m = int(season_length or FREQUENCIES[frequency][2])
    notes: list[str] = []
    o, dims = attach_dimensions(ds, dimensions, notes)
    first, as_of_d, data_last = history_span(o, start, as_of)
    o = o.filter(o.order_date >= first)
    if metric == "repeat_orders":  # each customer's first purchase day, for "purchase days after the first"
        o = o.inner_join(o.group_by("customer_id").aggregate(first_day_=o.order_date.min()), "customer_id")
    bottom, value_cols, drivers = aggregate_bottom(o, metric, FREQUENCIES[frequency][0], dims)
    hist_periods, hold_periods, dropped = history_periods(o, frequency, first, as_of_d, data_last, min_coverage,
                                                          m, notes)
    Y, S, tags = sum_hierarchy(bottom, dims, hist_periods.append(hold_periods), value_cols)
    Y = add_drivers(Y, drivers)
    is_hist = Y["ds"].isin(hist_periods)
    return SeriesSet(
        Y=Y[is_hist].reset_index(drop=True), holdout=Y[~is_hist].reset_index(drop=True), S=S, tags=tags,
        meta=series_meta(tags, dims), frequency=frequency, freq=FREQUENCIES[frequency][1], season_length=m,
        metric=metric, dimensions=dims, drivers=drivers, as_of=as_of_d, dropped_periods=dropped, notes=notes,
    )


def history_span(o, start, as_of) -> tuple[_dt.date, _dt.date, _dt.date]:
    """(first day of the history, ``as_of``, last order date) of the orders table ``o`` (ibis).

    ``start``/``as_of`` default to the first/last order date; an empty table is
    :class:`InsufficientHistory`, ``as_of`` before the start a ``ValueError``.
    """
    span = o.aggregate(first=o.order_date.min(), last=o.order_date.max()).to_pandas().iloc[0]
    if pd.isna(span["first"]):
        raise InsufficientHistory("the orders table is empty: nothing to forecast", "no orders")
    data_first, data_last = pd.Timestamp(span["first"]).date(), pd.Timestamp(span["last"]).date()
    first = pd.Timestamp(start).date() if start else data_first
    as_of_d = pd.Timestamp(as_of).date() if as_of else data_last
    if as_of_d < first:
        raise ValueError(f"as_of {as_of_d} is before the first order date {first}")
    return first, as_of_d, data_last


def aggregate_bottom(o, metric: str, unit: str, dims: Sequence[str]) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The bottom series in the engine: per period (``unit``) × ``dims``, the value ``y`` and the driver sums.

    Returns ``(bottom, value_cols, drivers)``: ``bottom`` has ``ds, <dims>, y,
    revenue_sum`` and ``promo_revenue`` / ``list_revenue`` when the orders have
    ``promo`` / ``discount`` (``drivers`` then names ``promo_share`` / ``discount``).
    ``repeat_orders`` needs ``first_day_`` (each customer's first purchase day) on ``o``.
    """
    o = o.mutate(ds=o.order_date.truncate(unit))
    drivers = [d for d, col in (("promo_share", "promo"), ("discount", "discount")) if col in o.columns]
    aggs = {"revenue_sum": o.revenue.sum()}
    if "promo_share" in drivers:
        aggs["promo_revenue"] = o.revenue.sum(where=o.promo.fill_null(False))
    if "discount" in drivers:
        aggs["list_revenue"] = (o.revenue / (1 - o.discount.fill_null(0.0).clip(upper=0.99))).sum()
    if metric == "revenue":
        aggs["y"] = o.revenue.sum()
    elif metric == "orders":
        key = o.order_id if "order_id" in o.columns else (o.customer_id.concat("|", o.order_date.cast("string")))
        aggs["y"] = key.nunique()
    else:
        cd = o.customer_id.concat("|", o.order_date.cast("string"))
        aggs["y"] = cd.nunique(where=o.order_date > o.first_day_)
    bottom = o.group_by(["ds", *dims]).aggregate(**aggs).to_pandas()
    value_cols = ["y", *[c for c in ("revenue_sum", "promo_revenue", "list_revenue") if c in bottom.columns]]
    bottom["ds"] = pd.to_datetime(bottom["ds"])
    return bottom, value_cols, drivers


def history_periods(o, frequency: str, first: _dt.date, as_of: _dt.date, data_last: _dt.date,
                    min_coverage: float, m: int, notes: list[str]):
    """Complete periods of history (``first`` … ``as_of``) and of holdout (after ``as_of``).

    Period-level data (one date per month or week, :func:`data_granularity`)
    keeps its edge periods; transactions drop edge periods covered less than
    ``min_coverage`` (:func:`complete_periods`). Returns ``(history periods,
    holdout periods, dropped period starts)``; remarks go to ``notes``.
    """
    dates = o.select(d_=o.order_date).distinct().to_pandas()["d_"]
    level = data_granularity(dates)
    period_level = level is not None and (level == frequency or level == "M")
    if period_level:
        notes.append(Said(__name__, N_("The data has one date per month (period-level rows): every period is complete, "
                                       "including the first and the last.")) if level == "M" else
                     Said(__name__, N_("The data has one date per week (period-level rows): every period is complete, "
                                       "including the first and the last.")))
    hist_periods, dropped = complete_periods(first, as_of, frequency, 0.0 if period_level else min_coverage)
    if dropped:
        notes.append(Said(__name__, N_("Partial periods left out: {periods}."), periods=", ".join(str(d) for d in dropped)))
    if not len(hist_periods):
        raise InsufficientHistory(
            f"no complete {'month' if frequency == 'M' else 'week'} of orders between {first} and {as_of}",
            f"no complete {'month' if frequency == 'M' else 'week'} of history")
    if len(hist_periods) < 2 * m + 2 and m > 1:
        notes.append(Said(__name__, N_("Only {n} complete periods: seasonal models need more than {need}."),
                          n=len(hist_periods), need=2 * m))
    hold_periods = pd.DatetimeIndex([])
    if as_of < data_last:
        hp, _ = complete_periods(as_of + _dt.timedelta(days=1), data_last, frequency, 0.0 if period_level else 1.0)
        hold_periods = hp[hp > (hist_periods.max() if len(hist_periods) else pd.Timestamp(first))]
    return hist_periods, hold_periods, dropped


def _strip(uid: str) -> str:
    """``Total/East/Web`` → ``East/Web`` (the total keeps its name)."""
    return TOTAL if uid == TOTAL else uid[len(TOTAL) + 1:]


def sum_hierarchy(bottom: pd.DataFrame, dims: Sequence[str], periods: pd.DatetimeIndex, value_cols: Sequence[str]):
    """Zero-fill the bottom series over ``periods`` and sum them to every level (``hierarchicalforecast``).

    Levels: the total, each dimension and every combination of dimensions.
    Returns ``(Y, S, tags)`` with ids such as ``East/Web`` (level
    ``region/channel``) and the driver sums under their own names.
    """
    from hierarchicalforecast.utils import aggregate  # heavy (imports numba code): only when series are built

    bottom = bottom[bottom["ds"].isin(periods)]
    filled = zero_fill(bottom, dims, periods, value_cols)
    filled["total"] = TOTAL
    spec = [["total"]]
    for k in range(1, len(dims) + 1):
        for combo in itertools.combinations(dims, k):
            spec.append(["total", *combo])
    exog = {c: "sum" for c in value_cols if c != "y"}
    Y, S, tags = aggregate(filled[["total", *dims, "ds", *value_cols]], spec, exog_vars=exog or None)
    Y["unique_id"] = Y["unique_id"].map(_strip)
    Y = Y.rename(columns={f"{c}_sum": c for c in exog})
    S = S.set_index("unique_id")
    S.index = S.index.map(_strip)
    S.columns = [_strip(c) for c in S.columns]
    tags = {("total" if k == "total" else k[len("total/"):]): np.array([_strip(u) for u in v], dtype=object)
            for k, v in tags.items()}
    return Y, S, tags


def series_meta(tags: dict[str, np.ndarray], dims: Sequence[str]) -> pd.DataFrame:
    """``unique_id, level, depth`` and one column per dimension (None where the level aggregates it)."""
    rows = []
    for level, ids in tags.items():
        level_dims = [] if level == "total" else level.split("/")
        for uid in ids:
            vals = [] if level == "total" else uid.split("/")
            row = {"unique_id": uid, "level": level, "depth": len(level_dims)}
            for d in dims:
                row[d] = vals[level_dims.index(d)] if d in level_dims else None
            rows.append(row)
    return pd.DataFrame(rows)


def add_drivers(Y: pd.DataFrame, drivers: Sequence[str]) -> pd.DataFrame:
    """``unique_id, ds, y`` and the drivers per series and period, from the summed driver columns.

    ``promo_share = promo revenue / revenue``; ``discount = 1 − revenue / list
    revenue`` (0 when there is no revenue).
    """
    rev = Y["revenue_sum"].to_numpy()
    if "promo_share" in drivers:
        Y["promo_share"] = np.divide(Y["promo_revenue"], rev, out=np.zeros(len(Y)), where=rev > 0)
    if "discount" in drivers:
        lst = Y["list_revenue"].to_numpy()
        Y["discount"] = np.divide(lst - rev, lst, out=np.zeros(len(Y)), where=lst > 0)
    return Y[["unique_id", "ds", "y", *drivers]].sort_values(["unique_id", "ds"]).reset_index(drop=True)

class InsufficientHistory(ReportSkipped):
    """Too little history for a forecast with a backtest; ``reason`` is the short form for a skipped report.

    A :class:`~salesbench.report.results.ReportSkipped`: inside ``with res.skipping():`` the
    report is recorded as skipped with the reason, as every report does.
    """

    def __init__(self, message: str, reason: str):
        ValueError.__init__(self, message)
        self.reason = reason


def fit_backtest_to_history(series: SeriesSet, horizon: int, n_origins: int) -> int:
    """The number of backtest origins the history allows (≤ ``n_origins``), adapting short histories.

    Every origin needs ``max(m + 1, 4)`` periods of training data before it.
    With fewer periods than ``n_origins`` need, fewer origins are used; when
    not even one origin fits with the season length m, the series are treated
    as non-seasonal (m = 1). Each change is added to ``series.notes``. Raises
    :class:`InsufficientHistory` when not even that fits (fewer than
    ``horizon + 4`` periods).
    """
    n_hist = int(series.Y.groupby("unique_id").size().min())
    m = series.season_length
    fits = n_hist - horizon - max(m + 1, 4) + 1
    if fits < 1 and m > 1:
        series.notes.append(Said(__name__, N_("Only {n} periods: too few for seasonal models (season length {m}); the "
                                              "series are treated as non-seasonal."), n=n_hist, m=m))
        series.season_length = m = 1
        fits = n_hist - horizon - 3
    if fits < 1:
        raise InsufficientHistory(
            f"only {n_hist} complete period(s) of history: a {horizon}-period forecast with a backtest needs at "
            f"least {horizon + 4}", f"only {n_hist} complete period(s) of history; the forecast needs {horizon + 4}")
    if fits < n_origins:
        series.notes.append(Said(__name__, N_("Only {n} periods: the backtest uses {fits} origin(s) instead of "
                                              "{n_origins}."), n=n_hist, fits=fits, n_origins=n_origins))
        return fits
    return n_origins


def usable_drivers(series: SeriesSet, max_corr: float = 0.9) -> list[str]:
    """Drivers worth giving ARIMA: not constant on the total, not near-collinear with an earlier one.

    Two drivers that move together (|Pearson r| > ``max_corr`` on the total
    series, e.g. a promotion that is also a price cut) make the regression
    ill-conditioned; the later one is dropped.
    """
    tot = series.Y[series.Y["unique_id"] == TOTAL]
    keep: list[str] = []
    for d in series.drivers:
        x = tot[d].to_numpy()
        if np.nanstd(x) < 1e-9:
            continue
        if any(abs(np.corrcoef(x, tot[k].to_numpy())[0, 1]) > max_corr for k in keep):
            continue
        keep.append(d)
    return keep



def top_series(history: pd.DataFrame, meta: pd.DataFrame, level: str, n: int = 4) -> list[str]:
    """The ``n`` series of ``level`` with the largest total over the history."""
    ids = meta.loc[meta["level"] == level, "unique_id"]
    sums = history[history["unique_id"].isin(set(ids))].groupby("unique_id")["y"].sum()
    return list(sums.sort_values(ascending=False).index[:n])
