"""Sales forecasting: hierarchical series, rolling-origin backtest, coherent forecasts, gap to target.

The question: what will we sell in the coming months, per region, product line
and channel, how sure are we, and will we reach target?

Pipeline (each step is a function; :class:`SalesForecast` runs them in order)

1. :func:`build_series` — revenue (or order counts) per period for the total
   and every level of the hierarchy, aggregated in the engine (ibis/DuckDB);
   missing periods are zero-filled explicitly (:func:`zero_fill`) before the
   hierarchy is summed with Nixtla's ``hierarchicalforecast.utils.aggregate``.
2. :func:`backtest` — rolling-origin evaluation (Tashman 2000) of seasonal
   naive, ETS, ARIMA and ARIMA with drivers (statsforecast) with MASE, WAPE,
   bias and 80%/95% interval coverage (:mod:`salesbench.analyses.forecasting.metrics`).
3. :func:`select_models` — per series, the model with the lowest backtest
   MASE (seasonal naive unless another model beats it).
4. :func:`forecast_base` — the chosen model of each series refitted on the
   whole history, forecasting ``horizon`` periods with 80%/95% intervals.
5. :func:`reconcile` — coherent forecasts (children sum to parents) with
   ``hierarchicalforecast`` (bottom-up, or MinTrace of Wickramasuriya,
   Athanasopoulos & Hyndman 2019), intervals by the Normality method of
   Panagiotelis et al. (2022).
6. :func:`target_gap` — forecast against the ``targets`` table and the
   probability of reaching each target from the predictive distribution.
7. :func:`product_lifecycle` (module :mod:`salesbench.analyses.forecasting.lifecycle`)
   — introduction / growth / maturity / decline per product line.

Figures live in :mod:`salesbench.analyses.forecasting.plots`. Heavy libraries
(statsforecast, hierarchicalforecast) are imported inside the functions.
"""
from __future__ import annotations

import datetime as _dt
import itertools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from salesbench.analyses.forecasting import metrics as fm
from salesbench.report.results import ReportSkipped
from salesbench.analyses.forecasting.backtest import (COMBINATION_MEMBERS, MARGIN, MODEL_LABELS, MODELS, Backtest,  # noqa: F401
                                future_dates, honest_forecasts, split_forecasts,
                                add_combination, calibrate, check_models, final_forecasts, fit_forecast,
                                forecast_frame, honest_scores, interval_factors, make_models, models_needed,
                                origin_scales, planned_drivers, run_backtest, score_backtest, select_models)
from salesbench.analyses.forecasting.backtest import quiet_single_thread as _quiet_single_thread

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
#: Model keys, labels and the combination's members live in :mod:`salesbench.analyses.forecasting.backtest`.
#: Default model set for the total and single-dimension series, and for the deeper combinations: the
#: combination is the median of the evaluated members (ETS, Holt-Winters, Theta, ARIMA; Holt-Winters and Theta
#: deeper down).
DEFAULT_MODELS = ("seasonal_naive", "ets", "holt_winters", "theta", "arima", "arimax", "combination")
DEFAULT_DEEP_MODELS = ("seasonal_naive", "holt_winters", "theta", "combination")
#: Exogenous drivers built from the orders table when its columns exist.
DRIVERS = ("promo_share", "discount")
RECONCILIATION = {
    "bottom_up": "bottom-up (BottomUp)",
    "mint_shrink": "MinTrace with shrunk residual covariance (mint_shrink)",
    "wls_struct": "MinTrace with structural weights (wls_struct)",
    "ols": "MinTrace OLS (ols)",
}
TOTAL = "Total"
Z80 = 1.2815515655446004  # standard normal 90% quantile: an 80% central interval is mean ± Z80·σ


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
        notes.append(f"{int(dup)} {key} value(s) appear more than once in the {table} table: each uses its "
                     f"alphabetically first {col}, so no order is counted twice.")
    return t.group_by(key).aggregate(**{col: t[col].min()})


def _attach_dimensions(ds, dimensions: Sequence[str], notes: list[str]):
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
                notes.append("No customers table with a region column: no region level.")
        elif dim == "product_line":
            if "product_id" in o.columns and ds.has_columns("products", ["product_id", "product_line"]):
                p = _one_per_key(ds.table("products"), "product_id", "product_line", "products", notes)
                p = p.select(pid_="product_id", product_line_="product_line")
                o = o.left_join(p, o.product_id == p.pid_).drop("pid_")
                o = o.mutate(product_line=o.product_line_.fill_null("unknown")).drop("product_line_")
                found.append(dim)
            else:
                notes.append("No products table (or orders.product_id): no product-line level.")
        elif dim == "channel":
            if "channel" in o.columns:
                o = o.mutate(channel=o.channel.fill_null("unknown"))
                found.append(dim)
            else:
                notes.append("Orders have no channel column: no channel level.")
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
    from hierarchicalforecast.utils import aggregate

    if frequency not in FREQUENCIES:
        raise ValueError(f"frequency must be one of {', '.join(FREQUENCIES)}, not {frequency!r}")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
    unit, alias, default_m = FREQUENCIES[frequency]
    m = int(season_length or default_m)
    notes: list[str] = []
    o, dims = _attach_dimensions(ds, dimensions, notes)

    span = o.aggregate(first=o.order_date.min(), last=o.order_date.max()).to_pandas().iloc[0]
    if pd.isna(span["first"]):
        raise InsufficientHistory("the orders table is empty: nothing to forecast", "no orders")
    data_first, data_last = pd.Timestamp(span["first"]).date(), pd.Timestamp(span["last"]).date()
    first = pd.Timestamp(start).date() if start else data_first
    as_of_d = pd.Timestamp(as_of).date() if as_of else data_last
    if as_of_d < first:
        raise ValueError(f"as_of {as_of_d} is before the first order date {first}")

    o = o.filter(o.order_date >= first)
    if metric == "repeat_orders":
        fb = o.group_by("customer_id").aggregate(first_day_=o.order_date.min())
        o = o.inner_join(fb, "customer_id")
    o = o.mutate(ds=o.order_date.truncate(unit))
    has_promo = "promo" in o.columns
    has_disc = "discount" in o.columns
    aggs = {"revenue_sum": o.revenue.sum()}
    if has_promo:
        aggs["promo_revenue"] = o.revenue.sum(where=o.promo.fill_null(False))
    if has_disc:
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

    dates = o.select(d_=o.order_date).distinct().to_pandas()["d_"]
    level = data_granularity(dates)
    period_level = level is not None and (level == frequency or level == "M")
    if period_level:
        notes.append(f"The data has one date per {'month' if level == 'M' else 'week'} (period-level rows): every "
                     "period is complete, including the first and the last.")
    hist_periods, dropped = complete_periods(first, as_of_d, frequency, 0.0 if period_level else min_coverage)
    if dropped:
        notes.append("Partial periods left out: " + ", ".join(str(d) for d in dropped) + ".")
    if not len(hist_periods):
        raise InsufficientHistory(
            f"no complete {'month' if frequency == 'M' else 'week'} of orders between {first} and {as_of_d}",
            f"no complete {'month' if frequency == 'M' else 'week'} of history")
    if len(hist_periods) < 2 * m + 2 and m > 1:
        notes.append(f"Only {len(hist_periods)} complete periods: seasonal models need more than {2 * m}.")
    hold_periods = pd.DatetimeIndex([])
    if as_of_d < data_last:
        hp, _ = complete_periods(as_of_d + _dt.timedelta(days=1), data_last, frequency, 0.0 if period_level else 1.0)
        hold_periods = hp[hp > (hist_periods.max() if len(hist_periods) else pd.Timestamp(first))]
    all_periods = hist_periods.append(hold_periods)

    bottom = bottom[bottom["ds"].isin(all_periods)]
    filled = zero_fill(bottom, dims, all_periods, value_cols)
    filled["total"] = TOTAL
    spec = [["total"]]
    for k in range(1, len(dims) + 1):
        for combo in itertools.combinations(dims, k):
            spec.append(["total", *combo])
    exog = {c: "sum" for c in value_cols if c != "y"}
    Y, S, tags = aggregate(filled[["total", *dims, "ds", *value_cols]], spec, exog_vars=exog or None)

    def strip(uid: str) -> str:
        return TOTAL if uid == TOTAL else uid[len(TOTAL) + 1:]

    Y["unique_id"] = Y["unique_id"].map(strip)
    Y = Y.rename(columns={f"{c}_sum": c for c in exog})
    S = S.set_index("unique_id")
    S.index = S.index.map(strip)
    S.columns = [strip(c) for c in S.columns]
    tags = {("total" if k == "total" else k[len("total/"):]): np.array([strip(u) for u in v], dtype=object)
            for k, v in tags.items()}
    rows = []
    for level, ids in tags.items():
        level_dims = [] if level == "total" else level.split("/")
        for uid in ids:
            vals = [] if level == "total" else uid.split("/")
            row = {"unique_id": uid, "level": level, "depth": len(level_dims)}
            for d in dims:
                row[d] = vals[level_dims.index(d)] if d in level_dims else None
            rows.append(row)
    meta = pd.DataFrame(rows)

    drivers = []
    rev = Y["revenue_sum"].to_numpy()
    if has_promo:
        Y["promo_share"] = np.divide(Y["promo_revenue"], rev, out=np.zeros(len(Y)), where=rev > 0)
        drivers.append("promo_share")
    if has_disc:
        lst = Y["list_revenue"].to_numpy()
        Y["discount"] = np.divide(lst - rev, lst, out=np.zeros(len(Y)), where=lst > 0)
        drivers.append("discount")
    Y = Y[["unique_id", "ds", "y", *drivers]].sort_values(["unique_id", "ds"]).reset_index(drop=True)
    is_hist = Y["ds"].isin(hist_periods)
    return SeriesSet(
        Y=Y[is_hist].reset_index(drop=True), holdout=Y[~is_hist].reset_index(drop=True), S=S, tags=tags,
        meta=meta, frequency=frequency, freq=alias, season_length=m, metric=metric, dimensions=dims,
        drivers=drivers, as_of=as_of_d, dropped_periods=dropped, notes=notes,
    )


def plan_frame(plan: pd.DataFrame | None, series: SeriesSet) -> pd.DataFrame | None:
    """A planned promotion/price calendar (``period, promo_share, discount``; either driver may be missing)
    as ``unique_id, ds, <drivers>`` for every series, or None.

    The plan is the business's: every series gets the same planned promotion
    share and discount; a driver the plan leaves empty (a missing column or
    an empty cell) keeps the last-year assumption (NaN here); a period with no
    planned driver at all is dropped. Periods are truncated to the
    forecast frequency. Include past periods' plans to have the backtest use
    them too (:func:`salesbench.analyses.forecasting.backtest.planned_drivers`).
    """
    drivers = list(series.drivers)
    if plan is None or plan.empty or not drivers:
        return None
    if "period" not in plan.columns or not any(d in plan.columns for d in drivers):
        raise ValueError(f"the driver plan needs a period column and one of {', '.join(drivers)}")
    df = plan.copy()
    per = pd.to_datetime(df["period"])
    df["ds"] = (per.dt.to_period("M").dt.start_time if series.frequency == "M"
                else per - pd.to_timedelta(per.dt.weekday, unit="D"))
    for d in drivers:
        if d not in df.columns:
            df[d] = np.nan
    df = df.groupby("ds", as_index=False)[drivers].mean().dropna(how="all", subset=drivers)
    if df.empty:
        return None
    ids = series.ids
    return pd.DataFrame({"unique_id": np.repeat(ids, len(df)), "ds": np.tile(df["ds"].to_numpy(), len(ids)),
                         **{d: np.tile(df[d].to_numpy(dtype=float), len(ids)) for d in drivers}})


PLAN_DRIVERS = ("promo_share", "discount")


def read_plan(path: str | os.PathLike) -> pd.DataFrame:
    """The driver plan file of the ``driver_plan`` parameter: a CSV or Parquet table with a ``period`` column
    (a date; any day inside the period) and ``promo_share`` and/or ``discount`` (see :func:`plan_frame`).

    Relative paths are taken from the working directory. Raises ``ValueError("<file>: ...")`` when the file
    is missing or unreadable, lacks those columns, or holds a period that is not a date or a driver that is
    not a number (the rows are named).
    """
    file = Path(os.path.expanduser(str(path))).absolute()
    if not file.is_file():
        raise ValueError(f"{file}: no such file")
    try:
        df = pd.read_parquet(file) if file.suffix.lower() in (".parquet", ".pq") else pd.read_csv(file)
    except Exception as exc:  # parser / engine errors of either format
        raise ValueError(f"{file}: cannot be read as {'Parquet' if file.suffix.lower() in ('.parquet', '.pq') else 'CSV'}"
                         f" ({type(exc).__name__}: {exc})") from None
    drivers = [d for d in PLAN_DRIVERS if d in df.columns]
    if "period" not in df.columns or not drivers:
        raise ValueError(f"{file}: needs a 'period' column and at least one of {', '.join(PLAN_DRIVERS)}; "
                         f"columns are {', '.join(map(str, df.columns)) or 'none'}")
    per = pd.to_datetime(df["period"], errors="coerce")
    bad = df.index[per.isna()]
    if len(bad):
        raise ValueError(f"{file}: column 'period' is not a date in row(s) {_rows(bad)}")
    out = pd.DataFrame({"period": per})
    for d in drivers:
        num = pd.to_numeric(df[d], errors="coerce")
        bad = df.index[num.isna() & df[d].notna()]
        if len(bad):
            raise ValueError(f"{file}: column '{d}' is not a number in row(s) {_rows(bad)}")
        out[d] = num.astype(float)
    return out


def _rows(index, limit: int = 5) -> str:
    """Data rows as the user counts them in a CSV (header = line 1, first data row = 2), at most ``limit``."""
    rows = [str(int(i) + 2) for i in index[:limit]]
    return ", ".join(rows) + (f" and {len(index) - limit} more" if len(index) > limit else "")


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
        series.notes.append(f"Only {n_hist} periods: too few for seasonal models (season length {m}); the "
                            "series are treated as non-seasonal.")
        series.season_length = m = 1
        fits = n_hist - horizon - 3
    if fits < 1:
        raise InsufficientHistory(
            f"only {n_hist} complete period(s) of history: a {horizon}-period forecast with a backtest needs at "
            f"least {horizon + 4}", f"only {n_hist} complete period(s) of history; the forecast needs {horizon + 4}")
    if fits < n_origins:
        series.notes.append(f"Only {n_hist} periods: the backtest uses {fits} origin(s) instead of {n_origins}.")
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


# =========================================================================== backtest
def backtest(series: SeriesSet, models: Sequence[str] = DEFAULT_MODELS, horizon: int = 3, n_origins: int = 6,
             step: int = 1, n_jobs: int = 1, refit: bool = True, ids: Iterable[str] | None = None,
             selection_metric: str = "mase", deep_models: Sequence[str] = DEFAULT_DEEP_MODELS,
             deep_depth: int | None = 2, n_eval: int | None = None, margin: float = MARGIN) -> Backtest:
    """Rolling-origin backtest of ``models`` on the series (all, or ``ids``); see :mod:`salesbench.analyses.forecasting.backtest`.

    Origins are the last ``n_origins`` possible cut-offs spaced ``step``
    periods apart; at each origin every model is fitted on the history up to
    the cut-off (``refit=False``: fitted once at the first origin, then only
    updated with new observations) and forecasts ``horizon`` periods with
    80%/95% intervals. ARIMA with drivers gets, in the forecast window, the
    driver values the real forecast will get (the planned calendar, else the
    same period a year earlier: :func:`salesbench.analyses.forecasting.backtest.planned_drivers`).
    The combination is the median of the evaluated members; intervals are
    calibrated on the backtest errors; the model choice prefers the
    combination unless a single model is better by more than ``margin``; and
    the accuracy claimed (``bt.honest``) is that of the choice made on the
    earlier origins, scored on the last ``n_eval`` (default half).

    Model searches (auto ETS, ARIMA) cost 5-10× a fixed-form fit, and the
    many series that combine ``deep_depth`` or more dimensions (e.g. region ×
    product line) are small and noisy: those get ``deep_models`` instead of
    ``models`` (``deep_depth=None``: every series gets ``models``). Seasonal
    naive is always evaluated: it is the baseline every model must beat.

    Errors are scored per origin with the seasonal naive scale of that
    origin's training data (MASE) and pooled over origins and horizons for
    WAPE, bias and coverage (:mod:`salesbench.analyses.forecasting.metrics`).
    """
    t0 = time.perf_counter()
    check_models([*models, *deep_models])
    Y = series.Y if ids is None else series.subset(ids)
    n_hist = Y.groupby("unique_id").size().min()
    need = horizon + (n_origins - 1) * step
    if n_hist - need < max(series.season_length + 1, 4):
        raise ValueError(
            f"{n_hist} periods of history are too few for {n_origins} origins × horizon {horizon} "
            f"(season length {series.season_length}); lower n_origins or horizon"
        )
    drivers = usable_drivers(series)
    depth = series.meta.set_index("unique_id")["depth"]
    all_ids = list(Y["unique_id"].unique())
    upper = [u for u in all_ids if deep_depth is None or depth[u] < deep_depth]
    deep = [u for u in all_ids if u not in set(upper)]
    skipped = ["arimax"] if ("arimax" in [*models, *deep_models] and not drivers) else []
    model_ids: dict[str, list[str]] = {}
    for name in MODELS:
        run_ids = [*(upper if (name in models or name == "seasonal_naive") else []),
                   *(deep if (name in deep_models or name == "seasonal_naive") else [])]
        if run_ids and not (name == "arimax" and not drivers):
            model_ids[name] = run_ids
    bt = run_backtest(Y, model_ids, series.season_length, series.freq, horizon, n_origins, step, n_eval, n_jobs,
                      refit, selection_metric, margin, drivers, series.plan)
    bt.scores = bt.scores.merge(series.meta[["unique_id", "level", "depth"]], on="unique_id", how="left")
    bt.skipped = skipped
    bt.seconds = time.perf_counter() - t0
    return bt


def level_summary(bt: Backtest, series: SeriesSet) -> pd.DataFrame:
    """Backtest error per hierarchy level × model, plus the per-series chosen models ("chosen").

    mase = mean of the series' MASE; wape = pooled Σ|e| / Σ|y| over the level's
    series; coverage pooled likewise; ``beats_baseline`` = share of the level's
    series where the row's model has a lower MASE than seasonal naive.
    """
    fc = bt.forecasts.merge(series.meta[["unique_id", "level", "depth"]], on="unique_id")
    ch = fc[fc["model"] == fc["unique_id"].map(bt.chosen)].assign(model="chosen")
    fc = pd.concat([fc, ch], ignore_index=True)
    sc = pd.concat([bt.scores, bt.scores[bt.scores["model"] == bt.scores["unique_id"].map(bt.chosen)]
                    .assign(model="chosen")], ignore_index=True)
    base = sc[sc["model"] == "seasonal_naive"].set_index("unique_id")["mase"]
    rows = []
    for (level, model), g in fc.groupby(["level", "model"], sort=False):
        s = sc[(sc["level"] == level) & (sc["model"] == model)]
        b = base.reindex(s["unique_id"]).to_numpy()
        rows.append({
            "level": level, "depth": int(g["depth"].iloc[0]), "model": model, "n_series": int(s["unique_id"].nunique()),
            "mase": float(np.nanmean(s["mase"])) if s["mase"].notna().any() else float("nan"),
            "wape": fm.wape(g["y"], g["mean"]), "bias": fm.bias(g["y"], g["mean"]),
            "coverage_80": fm.coverage(g["y"], g["lo80"], g["hi80"]),
            "coverage_95": fm.coverage(g["y"], g["lo95"], g["hi95"]),
            "beats_baseline": float(np.mean(s["mase"].to_numpy() < b)) if len(b) and model != "seasonal_naive" else float("nan"),
        })
    out = pd.DataFrame(rows)
    order = {m: i for i, m in enumerate([*MODELS, "chosen"])}
    return out.sort_values(["depth", "level", "model"], key=lambda c: c.map(order) if c.name == "model" else c).reset_index(drop=True)


def nested_check(bt: Backtest, series: SeriesSet, last_origins: int = 2, metric: str = "mase") -> pd.DataFrame:
    """Out-of-sample check of the model choice: select on the early origins, score on the last ones.

    Choosing the model with the lowest backtest error and reporting that same
    error flatters the choice. Here models are chosen per series on all but
    the last ``last_origins`` origins and scored (MASE) on those last origins
    only, next to seasonal naive on the same origins. No refits: it reuses the
    backtest forecasts. Returns per level ``n_series, mase_nested_choice,
    mase_seasonal_naive, beats_baseline`` (share of series where the nested
    choice is strictly better).
    """
    fc = bt.forecasts
    cutoffs = sorted(fc["cutoff"].unique())
    if len(cutoffs) <= last_origins:
        return pd.DataFrame(columns=["level", "n_series", "mase_nested_choice", "mase_seasonal_naive", "beats_baseline"])
    early = fc[fc["cutoff"].isin(cutoffs[:-last_origins])]
    late = fc[fc["cutoff"].isin(cutoffs[-last_origins:])]
    choice = select_models(score_backtest(early), bt.models, metric=metric)
    late_scores = score_backtest(late).set_index(["unique_id", "model"])["mase"]
    rows = []
    for uid, model in choice.items():
        rows.append({"unique_id": uid, "chosen": late_scores.get((uid, model), np.nan),
                     "base": late_scores.get((uid, "seasonal_naive"), np.nan)})
    df = pd.DataFrame(rows).merge(series.meta[["unique_id", "level", "depth"]], on="unique_id")
    out = df.groupby(["depth", "level"], as_index=False).agg(
        n_series=("unique_id", "size"), mase_nested_choice=("chosen", "mean"), mase_seasonal_naive=("base", "mean"),
        beats_baseline=("chosen", lambda c: float(np.mean(c.to_numpy() < df.loc[c.index, "base"].to_numpy()))))
    return out.drop(columns="depth")


def horizon_sum_coverage(bt: Backtest, series: SeriesSet, rho: float = 0.0) -> pd.DataFrame:
    """How well :func:`period_sum` intervals cover the actual sum over the whole horizon, in the backtest.

    For every series and origin, the chosen model's ``horizon`` forecasts are
    summed with :func:`period_sum` (error correlation ``rho``) and the actual
    sum is checked against the 80% interval. Coverage well below 0.8 means
    the intervals of sums are too narrow. Returns per level ``n, coverage_80``.
    """
    fc = bt.forecasts
    fc = fc[fc["model"] == fc["unique_id"].map(bt.chosen)]
    rows = []
    for (uid, _cut), g in fc.groupby(["unique_id", "cutoff"], sort=False):
        if len(g) != bt.horizon or g[["lo80", "hi80"]].isna().any().any():
            continue
        s = period_sum(g, rho=rho)
        y = float(g["y"].sum())
        rows.append({"unique_id": uid, "inside": s["lo80"] <= y <= s["hi80"]})
    df = pd.DataFrame(rows, columns=["unique_id", "inside"]).merge(series.meta[["unique_id", "level", "depth"]],
                                                                 on="unique_id")
    out = df.groupby(["depth", "level"], as_index=False).agg(n=("inside", "size"), coverage_80=("inside", "mean"))
    return out.drop(columns="depth")


# =========================================================================== forecasts
def future_drivers(series: SeriesSet, horizon: int, drivers: Sequence[str]) -> pd.DataFrame:
    """Driver values for the forecast periods (:func:`salesbench.analyses.forecasting.backtest.planned_drivers`): the
    planned calendar (``series.plan``) where given, else the same period one season earlier."""
    fut = future_dates(series.Y, horizon, series.freq)
    return planned_drivers(series.Y, fut, series.season_length, drivers, series.plan)


def forecast_base(series: SeriesSet, chosen: dict[str, str], horizon: int, n_jobs: int = 1,
                  factors: dict | None = None, members_by_id: dict[str, Sequence[str]] | None = None,
                  n_train: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit each series' chosen model on its whole history and forecast ``horizon`` periods.

    A series whose choice is the combination gets its members fitted
    (``members_by_id``, default: every member in :data:`COMBINATION_MEMBERS`
    chosen anywhere) and the median taken; intervals are calibrated with the
    backtest's ``factors`` (:func:`salesbench.analyses.forecasting.backtest.calibrate`).
    Returns ``(base, fitted)``: base = ``unique_id, ds, model, mean, lo80,
    hi80, lo95, hi95``; fitted = in-sample one-step fitted values ``unique_id,
    ds, y, fitted`` (needed by MinTrace to estimate the error covariance).
    """
    drivers = usable_drivers(series)
    chosen = {uid: ("arima" if chosen.get(uid, "seasonal_naive") == "arimax" and not drivers
                    else chosen.get(uid, "seasonal_naive")) for uid in series.ids}
    if members_by_id is None:
        members_by_id = {uid: ["ets", "theta"] for uid in series.ids}
    need = models_needed(chosen, members_by_id)
    base, fitted = fit_forecast(series.Y, need, series.season_length, series.freq, horizon, n_jobs, drivers,
                                series.plan, fitted=True, n_train=n_train)
    return final_forecasts(base, chosen, factors or {}, fitted)


def reconcile(base: pd.DataFrame, fitted: pd.DataFrame, series: SeriesSet, method: str = "mint_shrink") -> pd.DataFrame:
    """Coherent forecasts: every parent equals the sum of its children.

    ``method``: ``bottom_up`` (sum the bottom forecasts), ``mint_shrink``
    (MinTrace, Wickramasuriya et al. 2019, with the Schäfer–Strimmer shrunk
    covariance of in-sample errors), ``wls_struct`` or ``ols``. Reconciled
    80%/95% intervals come from hierarchicalforecast's Normality method
    (Panagiotelis et al. 2022): N(S P ŷ, S P W_h Pᵀ Sᵀ). Returns
    ``unique_id, ds, mean, lo80, hi80, lo95, hi95, base_mean, base_model``.
    """
    from hierarchicalforecast.core import HierarchicalReconciliation
    from hierarchicalforecast.methods import BottomUp, MinTrace

    if method not in RECONCILIATION:
        raise ValueError(f"reconciliation must be one of {', '.join(RECONCILIATION)}, not {method!r}")
    rec = BottomUp() if method == "bottom_up" else MinTrace(method=method)
    ids = series.ids
    Yhat = base.rename(columns={"mean": "f", "lo80": "f-lo-80", "hi80": "f-hi-80", "lo95": "f-lo-95", "hi95": "f-hi-95"})
    Yhat = Yhat[["unique_id", "ds", "f", "f-lo-80", "f-hi-80", "f-lo-95", "f-hi-95"]]
    Yhat = Yhat.set_index("unique_id").loc[ids].reset_index()
    Yfit = fitted.rename(columns={"fitted": "f"})
    Yfit = Yfit.set_index("unique_id").loc[ids].reset_index()
    if method == "mint_shrink":  # the first m fitted values of a seasonal naive are undefined
        Yfit["f"] = Yfit["f"].fillna(Yfit["y"])
    S_df = series.S.loc[ids].reset_index().rename(columns={"index": "unique_id"})
    with _quiet_single_thread():
        hr = HierarchicalReconciliation(reconcilers=[rec])
        out = hr.reconcile(Y_hat_df=Yhat, tags=series.tags, S_df=S_df, Y_df=Yfit, level=[80, 95],
                           intervals_method="normality")
    col = [c for c in out.columns if c.startswith("f/") and "-lo-" not in c and "-hi-" not in c][0]
    res = pd.DataFrame({"unique_id": out["unique_id"], "ds": out["ds"], "mean": out[col],
                        "lo80": out[f"{col}-lo-80"], "hi80": out[f"{col}-hi-80"],
                        "lo95": out[f"{col}-lo-95"], "hi95": out[f"{col}-hi-95"], "base_mean": out["f"]})
    res = res.merge(base[["unique_id", "ds", "model"]].rename(columns={"model": "base_model"}), on=["unique_id", "ds"])
    return res.reset_index(drop=True)


def reconcile_or_fall_back(base: pd.DataFrame, fitted: pd.DataFrame, series: SeriesSet,
                           method: str = "mint_shrink") -> tuple[pd.DataFrame, str, str | None]:
    """:func:`reconcile`, or the nearest method that can run; returns (forecast, method used, note or None).

    One series: nothing to reconcile — the base forecast is shown (method
    ``"none"``). MinTrace with a shrunk covariance needs in-sample residuals
    that are not all near zero; when hierarchicalforecast cannot run it
    ("Insample residuals close to 0", a singular covariance), MinTrace OLS is
    used instead (it needs no residuals), and bottom-up if that fails too.
    """
    if method not in RECONCILIATION:
        raise ValueError(f"reconciliation must be one of {', '.join(RECONCILIATION)}, not {method!r}")
    if series.n_series == 1:
        out = base.rename(columns={"model": "base_model"}).assign(base_mean=base["mean"])
        cols = ["unique_id", "ds", "mean", "lo80", "hi80", "lo95", "hi95", "base_mean", "base_model"]
        return out[cols].reset_index(drop=True), "none", "One series (no hierarchy): nothing to reconcile."
    tried = []
    for m in dict.fromkeys([method, "ols", "bottom_up"]):
        try:
            out = reconcile(base, fitted, series, m)
        except Exception as exc:  # hierarchicalforecast raises plain Exception/ValueError on singular inputs
            tried.append(f"{RECONCILIATION[m]} could not run ({str(exc).strip().splitlines()[0][:120]})")
            continue
        note = None if m == method else "; ".join(tried) + f": used {RECONCILIATION[m]} instead."
        return out, m, note
    raise RuntimeError("; ".join(tried))


def reconcile_backtest(fc: pd.DataFrame, fitted: pd.DataFrame, series: SeriesSet, method: str) -> pd.DataFrame | None:
    """Backtest forecasts as the report would show them: each origin's (``cutoff``) forecasts of every series
    (one model per series, calibrated) reconciled with ``method`` (MinTrace weights from the final fit's
    in-sample errors). Returns ``unique_id, ds, cutoff, origin, y, scale, model, level`` and the reconciled
    ``mean, lo80, hi80, lo95, hi95``; None when there is nothing to reconcile or an origin cannot be."""
    if method == "none" or fc.empty or set(fc["unique_id"]) != set(series.ids):
        return None
    parts = []
    try:
        for _, g in fc.groupby("cutoff"):
            if (set(g["unique_id"]) != set(series.ids) or g.groupby("unique_id").size().nunique() != 1
                    or g[["mean", "lo80", "hi80", "lo95", "hi95"]].isna().any().any()):
                return None
            rec = reconcile(g[["unique_id", "ds", "model", "mean", "lo80", "hi80", "lo95", "hi95"]], fitted, series,
                            method)
            keep = g[["unique_id", "ds", "cutoff", "origin", "y", "scale", "model"]]
            parts.append(keep.merge(rec[["unique_id", "ds", "mean", "lo80", "hi80", "lo95", "hi95"]],
                                    on=["unique_id", "ds"]))
    except Exception:  # noqa: BLE001 - a backtest origin hierarchicalforecast cannot reconcile
        return None
    out = pd.concat(parts, ignore_index=True)
    return out.merge(series.meta[["unique_id", "level"]], on="unique_id", how="left")


def reconciled_factors(rec_fc: pd.DataFrame, widen_only: bool = True) -> dict[str, dict[int, float]]:
    """Hierarchy level → {80: k, 95: k}: the conformal factors (:func:`salesbench.analyses.forecasting.backtest.interval_factors`)
    of reconciled backtest forecasts (:func:`reconcile_backtest`), pooled per level (total, region, ...) over its
    series, origins and horizons: k > 1 when reconciled errors exceed the reconciled intervals' half-widths.

    ``widen_only`` (default) keeps k ≥ 1: the base intervals are already calibrated on the same origins, and this
    step corrects what reconciliation loses; a level's few reconciled errors (the total has one series: origins ×
    horizon points) that happen to fall well inside must not shrink them (on the default demo, k = 0.43 for the
    total on the choice origins, whose held-out errors then exceeded even the unshrunk intervals)."""
    k = interval_factors(rec_fc.assign(model=rec_fc["level"]))
    return {lv: {q: max(v, 1.0) for q, v in d.items()} for lv, d in k.items()} if widen_only else k


def calibrate_reconciled(forecast: pd.DataFrame, factors: dict[str, dict[int, float]],
                         series: SeriesSet) -> pd.DataFrame:
    """Stretch reconciled intervals (``unique_id, ds, mean, lo80, ...``) by their level's factor
    (:func:`reconciled_factors`; 1 for a level without one). Means — and so coherence — are unchanged."""
    if not factors:
        return forecast
    level = forecast["unique_id"].map(series.meta.set_index("unique_id")["level"])
    had_model = "model" in forecast.columns
    out = calibrate(forecast.assign(_model=forecast.get("model"), model=level), factors)
    out["model"] = out["_model"]
    out = out.drop(columns="_model")
    return out if had_model else out.drop(columns="model")


def reconciled_honest(bt: Backtest, fitted: pd.DataFrame, series: SeriesSet, method: str):
    """Honest scores of what the report shows: on the choice origins (all but the last ``bt.n_eval``), the
    early-chosen, calibrated base forecasts are reconciled and the per-level factors of the reconciled errors
    estimated (:func:`reconciled_factors`); on the held-out origins the same reconciled forecasts, stretched by
    those factors, are scored. Returns ``(scores, scores_before, factors)`` — :func:`score_backtest` rows after
    and before the reconciled-interval calibration — or None when there is nothing to reconcile, no held-out
    origin, or reconciliation fails on a backtest origin."""
    if method == "none" or bt.n_eval < 1:
        return None
    early, late = split_forecasts(bt.raw, bt.models, bt.n_eval)
    rec_late = reconcile_backtest(late, fitted, series, method)
    if rec_late is None:
        return None
    rec_early = reconcile_backtest(early, fitted, series, method)
    factors = reconciled_factors(rec_early) if rec_early is not None else {}
    after = calibrate_reconciled(rec_late, factors, series) if factors else rec_late
    return score_backtest(after), score_backtest(rec_late), factors


def _total_scores(h: pd.DataFrame | None, keys=("model", "mase", "wape", "bias", "coverage_80", "coverage_95")):
    """The total's row of an honest-scores table as ``{key: value}``, or None when there is none."""
    if h is None or h.empty or TOTAL not in set(h["unique_id"]):
        return None
    r = h[h["unique_id"] == TOTAL].iloc[0]
    return {k: (str(r[k]) if k == "model" else float(r[k])) for k in keys}


def _honest_base_total(f) -> dict | None:
    return _total_scores(f.bt.honest, ("model", "mase", "wape", "coverage_80"))


def reconciliation_label(f) -> str:
    """The reconciliation actually applied, in words (with the fallback when the requested one could not run)."""
    if f.reconciliation_used == "none":
        return "none (one series)"
    label = RECONCILIATION[f.reconciliation_used]
    return label if f.reconciliation_used == f.reconciliation else f"{label} (fallback: {RECONCILIATION[f.reconciliation]} could not run)"


def coherence_error(forecast: pd.DataFrame, series: SeriesSet, col: str = "mean") -> float:
    """Largest |parent − Σ bottom children| relative to the parent, over all series and periods (0 = coherent)."""
    wide = forecast.pivot(index="unique_id", columns="ds", values=col)
    bottom = wide.loc[series.bottom_ids].to_numpy()
    implied = series.S.loc[wide.index].to_numpy() @ bottom
    denom = np.maximum(np.abs(wide.to_numpy()), 1e-9)
    return float(np.max(np.abs(wide.to_numpy() - implied) / denom))


# =========================================================================== targets
def prob_reach(mean, lo80, hi80, target):
    """P(actual ≥ target) under a normal predictive distribution.

    σ = (hi80 − lo80) / (2 · z₀.₉), z₀.₉ = 1.2816; P = 1 − Φ((target − mean) / σ).
    Works element-wise on arrays; a zero-width interval gives 0 or 1.
    """
    from scipy.stats import norm

    mean, lo80, hi80, target = (np.asarray(v, dtype=float) for v in (mean, lo80, hi80, target))
    sigma = (hi80 - lo80) / (2 * Z80)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (target - mean) / sigma
    p = np.where(sigma > 0, norm.sf(z), (mean >= target).astype(float))
    return p if p.ndim else float(p)


def load_targets(ds, metric: str = "revenue") -> pd.DataFrame | None:
    """Company and region targets of ``metric`` (``period, level, key, value``), or None without a targets table."""
    if not ds.has("targets"):
        return None
    t = ds.table("targets")
    t = t.filter((t.metric == metric) & t.level.isin(["company", "region"]))
    df = t.select("period", "level", "key", "value").to_pandas()
    df["period"] = pd.to_datetime(df["period"])
    return df


def target_gap(forecast: pd.DataFrame, targets: pd.DataFrame | None, series: SeriesSet,
               holdout: pd.DataFrame | None = None) -> pd.DataFrame:
    """Forecast vs target for every forecast period that has a target.

    Company targets compare with the total series, region targets with the
    region series (monthly frequency only: targets are monthly). Columns:
    ``unique_id, ds, mean, lo80, hi80, target, gap (= mean − target),
    gap_pct, prob_reach`` (:func:`prob_reach`) and ``actual`` when the
    period is in the holdout (``as_of`` before the data's end).
    """
    cols = ["unique_id", "ds", "mean", "lo80", "hi80", "target", "gap", "gap_pct", "prob_reach", "actual"]
    if targets is None or targets.empty or series.frequency != "M" or series.metric != "revenue":
        return pd.DataFrame(columns=cols)
    t = targets.copy()
    t["unique_id"] = np.where(t["level"] == "company", TOTAL, t["key"])
    t = t[t["unique_id"].isin(set(series.tags.get("region", [])) | {TOTAL})]
    t = t.groupby(["unique_id", "period"], as_index=False)["value"].sum()
    g = forecast.merge(t.rename(columns={"period": "ds", "value": "target"}), on=["unique_id", "ds"])
    g["gap"] = g["mean"] - g["target"]
    g["gap_pct"] = g["gap"] / g["target"]
    g["prob_reach"] = prob_reach(g["mean"], g["lo80"], g["hi80"], g["target"])
    if holdout is not None and not holdout.empty:
        g = g.merge(holdout[["unique_id", "ds", "y"]].rename(columns={"y": "actual"}), on=["unique_id", "ds"], how="left")
    else:
        g["actual"] = np.nan
    return g[cols].sort_values(["unique_id", "ds"]).reset_index(drop=True)


def period_sum(rows: pd.DataFrame, target: float | None = None, rho: float = 0.0) -> dict:
    """Sum several forecast periods (e.g. the months of a quarter) into one predictive distribution.

    mean = Σ means; σ² = Σσᵢ² + 2ρ Σ_{i<j} σᵢσⱼ, with σ per period from its 80%
    interval and ρ the correlation between the periods' forecast errors
    (ρ = 0: independent errors; ρ = 1: σ = Σσᵢ; see :func:`error_correlation`
    for an estimate). Returns ``{mean, lo80, hi80, sigma, rho, target, prob_reach}``.
    """
    sig = (rows["hi80"].to_numpy() - rows["lo80"].to_numpy()) / (2 * Z80)
    mean = float(rows["mean"].sum())
    var = float(np.sum(sig ** 2) + rho * (np.sum(sig) ** 2 - np.sum(sig ** 2)))
    sigma = float(np.sqrt(max(var, 0.0)))
    out = {"mean": mean, "lo80": mean - Z80 * sigma, "hi80": mean + Z80 * sigma, "sigma": sigma, "rho": rho,
           "target": target, "prob_reach": None}
    if target is not None and np.isfinite(target):
        out["prob_reach"] = float(prob_reach(mean, out["lo80"], out["hi80"], target))
    return out


def error_correlation(bt: Backtest) -> float:
    """Correlation of the chosen models' forecast errors between horizons of the same origin.

    Standardised errors zₕ = (y − ŷ) / σₕ (σₕ from the 80% interval) of each
    series and origin; ρ = mean over pairs h < h' of zₕ zₕ' divided by the mean
    of zₕ², pooled over all series and origins, clipped to [0, 1]. Errors
    that persist from one period to the next (a level the model missed) give
    ρ near 1; independent noise gives ρ near 0.
    """
    fc = bt.forecasts
    fc = fc[fc["model"] == fc["unique_id"].map(bt.chosen)].copy()
    fc["sigma"] = (fc["hi80"] - fc["lo80"]) / (2 * Z80)
    fc = fc[np.isfinite(fc["sigma"]) & (fc["sigma"] > 0)]
    fc["z"] = (fc["y"] - fc["mean"]) / fc["sigma"]
    cross, n_pairs, sq, n = 0.0, 0, 0.0, 0
    for _, g in fc.groupby(["unique_id", "cutoff"], sort=False):
        z = g["z"].to_numpy()
        sq += float(np.sum(z ** 2))
        n += len(z)
        cross += float((np.sum(z) ** 2 - np.sum(z ** 2)) / 2)
        n_pairs += len(z) * (len(z) - 1) // 2
    if n_pairs == 0 or sq == 0:
        return 0.0
    return float(np.clip((cross / n_pairs) / (sq / n), 0.0, 1.0))


def next_quarter(forecast_total: pd.DataFrame, gap_total: pd.DataFrame | None = None, rho: float = 0.0) -> dict | None:
    """The first calendar quarter fully inside the forecast (monthly), summed with :func:`period_sum`.

    Returns ``{label: "2026-Q1", months: [...], mean, lo80, hi80, target, prob_reach}``
    or ``None`` when the horizon holds no complete quarter.
    """
    f = forecast_total.sort_values("ds")
    q = f["ds"].dt.to_period("Q")
    for label, rows in f.groupby(q, sort=True):
        if len(rows) == 3:
            target = None
            if gap_total is not None and not gap_total.empty:
                tg = gap_total[gap_total["ds"].isin(rows["ds"])]
                if len(tg) == 3:
                    target = float(tg["target"].sum())
            out = period_sum(rows, target, rho)
            out.update(label=f"{label.year}-Q{label.quarter}", months=[d.date().isoformat() for d in rows["ds"]])
            return out
    return None


# =========================================================================== the whole analysis
@dataclass
class SalesForecast:
    """Configure, then ``fit(ds)``: series → backtest → selection → forecast → reconciliation → targets.

    Parameters mirror ``params/forecasting.yaml``. After ``fit`` the attributes
    ``series`` (:class:`SeriesSet`), ``bt`` (:class:`Backtest`), ``levels``
    (:func:`level_summary`), ``base`` / ``fitted`` (:func:`forecast_base`),
    ``forecast`` (reconciled, :func:`reconcile`, intervals stretched by :func:`calibrate_reconciled`;
    ``forecast_uncalibrated`` before that), ``gap`` (:func:`target_gap`),
    ``quarter`` (:func:`next_quarter`), ``nested`` (:func:`nested_check`), ``sum_coverage``
    (:func:`horizon_sum_coverage`) and ``timings`` (seconds per step) are set.
    """

    frequency: str = "M"
    metric: str = "revenue"
    dimensions: Sequence[str] = ("region", "product_line", "channel")
    as_of: _dt.date | str | None = None
    start: _dt.date | str | None = None
    horizon: int = 3
    n_origins: int = 6
    models: Sequence[str] = DEFAULT_MODELS
    deep_models: Sequence[str] = DEFAULT_DEEP_MODELS
    deep_depth: int | None = 2
    selection_metric: str = "mase"
    reconciliation: str = "mint_shrink"
    season_length: int | None = None
    min_period_coverage: float = 0.9
    refit: bool = True
    n_jobs: int = 1
    plan: pd.DataFrame | None = None  # planned drivers (period, promo_share, discount): see plan_frame

    @classmethod
    def from_params(cls, P) -> "SalesForecast":
        """Build from the notebook parameters (``sb.params.load("forecasting", ...)``)."""
        keys = ("frequency", "metric", "dimensions", "as_of", "start", "horizon", "n_origins", "models",
                "deep_models", "deep_depth", "selection_metric", "reconciliation", "season_length",
                "min_period_coverage", "refit", "n_jobs")
        plan_file = P.get("driver_plan")  # the planned promotion/price calendar (a file): read_plan
        return cls(**{k: P[k] for k in keys}, plan=read_plan(plan_file) if plan_file else None)

    def fit(self, ds) -> "SalesForecast":
        self.timings: dict[str, float] = {}
        t = time.perf_counter()
        self.series = build_series(ds, self.frequency, self.metric, self.dimensions, self.as_of, self.start,
                                   self.min_period_coverage, self.season_length)
        self.series.plan = plan_frame(self.plan, self.series)
        if self.series.plan is not None:
            self.series.notes.append(f"Planned drivers for {self.series.plan['ds'].nunique()} period(s).")
        self.timings["series"] = time.perf_counter() - t
        t = time.perf_counter()
        self.n_origins = fit_backtest_to_history(self.series, self.horizon, self.n_origins)
        self.bt = backtest(self.series, self.models, self.horizon, self.n_origins, n_jobs=self.n_jobs,
                           refit=self.refit, selection_metric=self.selection_metric,
                           deep_models=self.deep_models, deep_depth=self.deep_depth)
        self.levels = level_summary(self.bt, self.series)
        self.nested = nested_check(self.bt, self.series)
        self.rho = error_correlation(self.bt)
        self.sum_coverage = horizon_sum_coverage(self.bt, self.series, self.rho)
        self.sum_coverage_independent = horizon_sum_coverage(self.bt, self.series, 0.0)
        self.timings["backtest"] = time.perf_counter() - t
        t = time.perf_counter()
        self.base, self.fitted = forecast_base(self.series, self.bt.chosen, self.horizon, self.n_jobs,
                                               self.bt.factors, self.bt.members_by_id(), self.bt.n_train)
        self.timings["forecast"] = time.perf_counter() - t
        t = time.perf_counter()
        self.forecast, self.reconciliation_used, note = reconcile_or_fall_back(
            self.base, self.fitted, self.series, self.reconciliation)
        self.reconciliation_note = note
        rh = reconciled_honest(self.bt, self.fitted, self.series, self.reconciliation_used)
        self.honest_reconciled, self.honest_reconciled_uncalibrated = (rh[0], rh[1]) if rh is not None else (None, None)
        # the intervals shown: reconciled, then stretched per level by the reconciled backtest's own factors
        # (all origins, each series' final choice, like the base factors)
        self.forecast_uncalibrated = self.forecast
        self.reconciled_factors: dict = {}
        chosen_fc = self.bt.forecasts[self.bt.forecasts["model"] == self.bt.forecasts["unique_id"].map(self.bt.chosen)]
        rec_all = reconcile_backtest(chosen_fc, self.fitted, self.series, self.reconciliation_used)
        if rec_all is not None:
            self.reconciled_factors = reconciled_factors(rec_all)
            self.forecast = calibrate_reconciled(self.forecast, self.reconciled_factors, self.series)
        self.coherence = coherence_error(self.forecast, self.series)
        self.timings["reconcile"] = time.perf_counter() - t
        self.targets = load_targets(ds, self.metric) if self.metric == "revenue" else None
        self.gap = target_gap(self.forecast, self.targets, self.series, self.series.holdout)
        total = self.forecast[self.forecast["unique_id"] == TOTAL]
        self.quarter = (next_quarter(total, self.gap[self.gap["unique_id"] == TOTAL], self.rho)
                        if self.frequency == "M" else None)
        return self

    # -- results ------------------------------------------------------------------------------
    @property
    def chosen_total(self) -> str:
        return self.bt.chosen[TOTAL]

    def backtest_total(self) -> dict[str, dict[str, float]]:
        """model → {mase, wape, bias, coverage_80, coverage_95} on the total series."""
        t = self.bt.total_table()
        return {r.model: {"mase": r.mase, "wape": r.wape, "bias": r.bias, "coverage_80": r.coverage_80,
                          "coverage_95": r.coverage_95} for r in t.itertuples()}

    def honest_total(self) -> dict | None:
        """The claimed accuracy of the total: the model chosen on the earlier origins, scored (calibrated
        intervals included) on the last ``bt.n_eval`` origins *after reconciliation* when the report
        reconciles (what is shown), else of the base forecasts — ``{model, mase, wape, bias, coverage_80,
        coverage_95}``, or None with too few origins to hold any out."""
        rec = getattr(self, "honest_reconciled", None)
        return _total_scores(rec if rec is not None and not rec.empty else self.bt.honest)

    def honest_coverage(self) -> dict:
        """Held-out 80%/95% coverage (the last ``bt.n_eval`` origins) of the total and of all series pooled
        (points weighted equally): ``base`` (calibrated base forecasts), ``reconciled`` (their reconciled
        intervals as hierarchicalforecast gives them) and ``shown`` (reconciled intervals stretched by the
        per-level factors of the choice origins: what the report shows). A stage that did not run is absent."""
        out = {}
        stages = {"base": self.bt.honest, "reconciled": getattr(self, "honest_reconciled_uncalibrated", None),
                  "shown": getattr(self, "honest_reconciled", None)}
        for name, h in stages.items():
            if h is None or h.empty or h["n"].sum() == 0:
                continue
            w = h["n"].to_numpy(dtype=float)
            d = {f"all_{lv}": float(np.nansum(h[f"coverage_{lv}"] * w) / w.sum()) for lv in (80, 95)}
            t = h[h["unique_id"] == TOTAL]
            if not t.empty:
                d.update({f"total_{lv}": float(t[f"coverage_{lv}"].iloc[0]) for lv in (80, 95)})
            out[name] = d
        return out

    def accuracy_total(self) -> float:
        """Forecast accuracy claimed for the total: 1 − WAPE of the model choice on origins it did not see
        (:meth:`honest_total`); 1 − the chosen model's backtest WAPE when no origin could be held out."""
        h = self.honest_total()
        return 1.0 - (h["wape"] if h is not None else self.backtest_total()[self.chosen_total]["wape"])

    def accuracy_basis(self) -> str:
        """How :meth:`accuracy_total` was measured, in words."""
        if self.honest_total() is None:
            return f"backtest, {self.bt.n_origins} origins × {self.horizon} periods (the origins that chose the model)"
        rec = getattr(self, "honest_reconciled", None)
        after = ", after reconciliation" if rec is not None and not rec.empty else ""
        return (f"backtest: model chosen on {self.bt.n_origins - self.bt.n_eval} origins, scored on the next "
                f"{self.bt.n_eval} × {self.horizon} periods{after}")

    def forecast_total(self) -> list[dict]:
        """[{period, mean, lo80, hi80, lo95, hi95}] for the total series (reconciled)."""
        f = self.forecast[self.forecast["unique_id"] == TOTAL].sort_values("ds")
        return [{"period": d.date().isoformat(), "mean": m, "lo80": a, "hi80": b, "lo95": c, "hi95": e}
                for d, m, a, b, c, e in zip(f["ds"], f["mean"], f["lo80"], f["hi80"], f["lo95"], f["hi95"])]

    def prob_reach_target(self) -> dict[str, float]:
        """period → P(total ≥ company target) for forecast periods with a target."""
        g = self.gap[self.gap["unique_id"] == TOTAL]
        return {d.date().isoformat(): float(p) for d, p in zip(g["ds"], g["prob_reach"])}

    def selection_table(self) -> pd.DataFrame:
        """Per series: level, chosen model, its backtest MASE/WAPE and the seasonal naive MASE."""
        sc = self.bt.scores
        ch = pd.DataFrame({"unique_id": list(self.bt.chosen), "chosen": list(self.bt.chosen.values())})
        best = sc.merge(ch, left_on=["unique_id", "model"], right_on=["unique_id", "chosen"])
        base = sc[sc["model"] == "seasonal_naive"][["unique_id", "mase"]].rename(columns={"mase": "mase_seasonal_naive"})
        out = best.merge(base, on="unique_id", how="left")
        out = out[["unique_id", "level", "depth", "chosen", "mase", "wape", "coverage_80", "mase_seasonal_naive"]]
        return out.sort_values(["depth", "level", "unique_id"]).reset_index(drop=True)


# =========================================================================== report helpers
def _label(model: str) -> str:
    return MODEL_LABELS.get(model, model)


def headline_cards(f: SalesForecast) -> list[dict]:
    """The first screen: next quarter (or horizon) forecast, accuracy, chance to reach target, chosen model."""
    from salesbench import viz

    cards = []
    q = f.quarter
    tot = f.forecast[f.forecast["unique_id"] == TOTAL].sort_values("ds")
    if q is not None:
        cards.append({"label": f"{q['label']} {f.metric.replace('_', ' ')} forecast", "value": viz.fmt_money(q["mean"]),
                      "sub": f"80% interval {viz.fmt_money(q['lo80'])}–{viz.fmt_money(q['hi80'])}", "raw": q["mean"]})
    else:
        s = period_sum(tot)
        cards.append({"label": f"Next {len(tot)} periods forecast", "value": viz.fmt_money(s["mean"]),
                      "sub": f"80% interval {viz.fmt_money(s['lo80'])}–{viz.fmt_money(s['hi80'])}", "raw": s["mean"]})
    acc = f.accuracy_total()
    cards.append({"label": "Forecast accuracy (1 − WAPE)", "value": viz.fmt_pct(acc),
                  "sub": f.accuracy_basis(),
                  "status": "green" if acc >= 0.9 else "amber" if acc >= 0.8 else "red", "raw": acc})
    if q is not None and q.get("prob_reach") is not None:
        p = q["prob_reach"]
        cards.append({"label": f"Chance to reach {q['label']} target", "value": _prob(p),
                      "sub": f"target {viz.fmt_money(q['target'])}", "raw": p,
                      "status": "green" if p >= 0.5 else "amber" if p >= 0.2 else "red"})
    elif not f.gap.empty:
        g = f.gap[f.gap["unique_id"] == TOTAL]
        if len(g):
            p = float(g["prob_reach"].iloc[0])
            cards.append({"label": f"Chance to reach {g['ds'].iloc[0]:%Y-%m} target", "value": _prob(p), "raw": p,
                          "status": "green" if p >= 0.5 else "amber" if p >= 0.2 else "red"})
    base = f.backtest_total()["seasonal_naive"]["mase"]
    best = f.backtest_total()[f.chosen_total]["mase"]
    cards.append({"label": "Model for the total", "value": _label(f.chosen_total),
                  "sub": f"MASE {best:.2f} vs {base:.2f} seasonal naive (all {f.bt.n_origins} backtest origins, "
                         f"before reconciliation)"})
    return cards


def narrative_sentences(f: SalesForecast) -> list[str]:
    """Generated sentences with the numbers of the first screen."""
    from salesbench import viz

    out = []
    q = f.quarter
    what = "Revenue" if f.metric == "revenue" else f.metric.replace("_", " ").capitalize()
    fmt = viz.fmt_money if f.metric == "revenue" else (lambda v: viz.fmt_num(v))
    if q is not None:
        s = f"{q['label']} {what.lower()} is forecast at {fmt(q['mean'])} (80% interval {fmt(q['lo80'])}–{fmt(q['hi80'])})"
        if q.get("prob_reach") is not None:
            s += f", {_prob(q['prob_reach'])} likely to reach the target of {fmt(q['target'])}"
        out.append(s + ".")
    else:
        tot = f.forecast[f.forecast["unique_id"] == TOTAL].sort_values("ds")
        s = period_sum(tot)
        out.append(f"{what} over the next {len(tot)} periods is forecast at {fmt(s['mean'])} "
                   f"(80% interval {fmt(s['lo80'])}–{fmt(s['hi80'])}).")
    bt = f.backtest_total()
    h = f.honest_total()
    if h is not None:
        out.append(
            f"The forecast for the total uses the {_label(f.chosen_total)} model. Choosing the model on the first "
            f"{f.bt.n_origins - f.bt.n_eval} backtest origins and forecasting from the last {f.bt.n_eval} was "
            f"{viz.fmt_pct(f.accuracy_total())} accurate"
            f"{' after reconciliation' if 'reconciliation' in f.accuracy_basis() else ''} (MASE {h['mase']:.2f}; seasonal naive "
            f"{bt['seasonal_naive']['mase']:.2f} over all origins) and its calibrated 80% intervals held "
            f"{viz.fmt_pct(h['coverage_80'])} of the actuals.")
    else:
        out.append(
            f"Measured on the last {f.bt.n_origins} forecast origins, the {_label(f.chosen_total)} model was "
            f"{viz.fmt_pct(f.accuracy_total())} accurate on the total (MASE {bt[f.chosen_total]['mase']:.2f} against "
            f"{bt['seasonal_naive']['mase']:.2f} for the seasonal naive baseline) and its 80% intervals held "
            f"{viz.fmt_pct(bt[f.chosen_total]['coverage_80'])} of the actuals; with one origin the accuracy is "
            "measured on the same origin that chose the model.")
    if f.series.dropped_periods:
        out.append("Left out as partial: " + ", ".join(str(d) for d in f.series.dropped_periods) + ".")
    if f.targets is None:
        out.append("The data has no targets table, so there is no gap to target." if f.metric == "revenue" else
                   f"Targets are revenue targets; a forecast of {f.metric.replace('_', ' ')} is not compared with them.")
    elif f.frequency != "M":
        out.append("Targets are monthly; this weekly forecast is not compared with them.")
    elif f.gap.empty:
        last = f.targets["period"].max()
        out.append(f"Targets run to {last:%Y-%m}; the forecast periods have none yet, so no gap to target is shown.")
    return out


def publish(f: SalesForecast, res, lifecycle: pd.DataFrame | None = None) -> None:
    """Record results.json values, headline figures and CSV exports on ``res`` (a Results)."""
    res.set(
        frequency=f.frequency, metric=f.metric, horizon=f.horizon, n_origins=f.bt.n_origins,
        n_series=f.series.n_series, n_bottom_series=len(f.series.bottom_ids), dimensions=f.series.dimensions,
        as_of=f.series.as_of, history_start=f.series.Y["ds"].min(), history_end=f.series.Y["ds"].max(),
        backtest=f.backtest_total(), chosen_model_total=f.chosen_total, accuracy_total=f.accuracy_total(),
        accuracy_total_basis=f.accuracy_basis(), honest_total=f.honest_total(), n_eval_origins=f.bt.n_eval,
        honest_total_before_reconciliation=_honest_base_total(f),
        interval_factors={m: {str(k): v for k, v in d.items()} for m, d in f.bt.factors.items()},
        honest_coverage=f.honest_coverage(),
        reconciled_interval_factors={lv: {str(k): v for k, v in d.items()}
                                     for lv, d in getattr(f, "reconciled_factors", {}).items()},
        reconciliation_used=f.reconciliation_used, dropped_periods=f.series.dropped_periods,
        forecast_total=f.forecast_total(), reconciliation=reconciliation_label(f),
        coherence_max_rel_error=f.coherence, models=f.bt.models, drivers=usable_drivers(f.series),
        chosen_counts=pd.Series(f.bt.chosen).value_counts().to_dict(),
        backtest_levels=f.levels.to_dict(orient="records"), nested_check=f.nested.to_dict(orient="records"),
        error_correlation=f.rho, horizon_sum_coverage=f.sum_coverage.to_dict(orient="records"),
        horizon_sum_coverage_independent=f.sum_coverage_independent.to_dict(orient="records"),
        timings=f.timings, model_seconds=f.bt.model_seconds, notes=f.series.notes,
    )
    if f.quarter is not None:
        res.set(quarter=f.quarter)
    if f.targets is not None:
        res.set(prob_reach_target=f.prob_reach_target())
    if lifecycle is not None and not lifecycle.empty:
        res.set(lifecycle=dict(zip(lifecycle["product_line"], lifecycle["stage"])))
        res.table("lifecycle", lifecycle)
    for card in headline_cards(f)[:4]:
        res.headline(card["label"], card.get("raw", card["value"]), card["value"])
    res.table("forecast", f.forecast)
    res.table("selection", f.selection_table())
    res.table("backtest_scores", f.bt.scores)
    if not f.gap.empty:
        res.table("target_gap", f.gap)


def _money(v):
    from salesbench import viz

    return viz.fmt_money(v)


def _pct(v):
    from salesbench import viz

    return viz.fmt_pct(v)


def _pct1(v):
    from salesbench import viz

    return viz.fmt_pct(v, 1)


def _prob(v):
    """Probability as a percentage that never rounds to a false certainty (">99%", "<1%")."""
    from salesbench import viz

    if v is None or not np.isfinite(v):
        return "–"
    return ">99%" if v > 0.99 else "<1%" if v < 0.01 else viz.fmt_pct(v)


def _diff(v):
    return _money(0.0 if v is not None and np.isfinite(v) and abs(v) < 0.5 else v)


def _two(v):
    return "–" if v is None or not np.isfinite(v) else f"{v:.2f}"


#: show_table formats for forecast / gap tables and for backtest score tables.
FORECAST_FORMATS = {"mean": _money, "lo80": _money, "hi80": _money, "lo95": _money, "hi95": _money,
                    "target": _money, "gap": _money, "actual": _money, "gap_pct": _pct1, "prob_reach": _prob,
                    "sum_of_children": _money, "difference": _diff}
SCORE_FORMATS = {"mase": _two, "mase_seasonal_naive": _two, "wape": _pct1, "bias": _pct1, "accuracy": _pct1,
                 "coverage_80": _pct, "coverage_95": _pct, "beats_baseline": _pct}


def forecast_table(f: SalesForecast, level: str) -> pd.DataFrame:
    """Reconciled forecasts of one level's series (period as YYYY-MM-DD), for display."""
    ids = set(f.series.tags.get(level, []))
    t = f.forecast[f.forecast["unique_id"].isin(ids)].copy()
    t["period"] = t["ds"].dt.date
    t["model"] = t["base_model"].map(_label)
    return t[["unique_id", "period", "mean", "lo80", "hi80", "model"]].rename(columns={"unique_id": level})


def selection_display(f: SalesForecast) -> pd.DataFrame:
    """:meth:`SalesForecast.selection_table` with model names spelled out, for display."""
    t = f.selection_table().drop(columns="depth")
    t["chosen"] = t["chosen"].map(_label)
    return t.rename(columns={"unique_id": "series"})


def gap_table(f: SalesForecast) -> pd.DataFrame:
    """Forecast vs target rows for display."""
    t = f.gap.copy()
    t["period"] = t["ds"].dt.date
    cols = ["unique_id", "period", "mean", "lo80", "hi80", "target", "gap", "gap_pct", "prob_reach"]
    if t["actual"].notna().any():
        cols.append("actual")
    t = t.assign(_o=t["unique_id"] != TOTAL).sort_values(["_o", "unique_id", "ds"])
    return t[cols].rename(columns={"unique_id": "series"})


def total_backtest_table(f: SalesForecast) -> pd.DataFrame:
    """Backtest scores of every model on the total series, with accuracy = 1 − WAPE."""
    t = f.bt.total_table()
    t["accuracy"] = 1 - t["wape"]
    t["model"] = t["model"].map(_label) + np.where(t["chosen"], " (chosen)", "")
    return t[["model", "mase", "wape", "accuracy", "bias", "coverage_80", "coverage_95"]]


def level_table(f: SalesForecast) -> pd.DataFrame:
    """Per level: chosen models' backtest error against seasonal naive and how often they beat it."""
    lv = f.levels
    ch = lv[lv["model"] == "chosen"].set_index("level")
    sn = lv[lv["model"] == "seasonal_naive"].set_index("level")
    out = pd.DataFrame({
        "level": ch.index, "series": ch["n_series"].to_numpy(), "mase": ch["mase"].to_numpy(),
        "mase_seasonal_naive": sn.loc[ch.index, "mase"].to_numpy(), "wape": ch["wape"].to_numpy(),
        "bias": ch["bias"].to_numpy(), "coverage_80": ch["coverage_80"].to_numpy(),
        "coverage_95": ch["coverage_95"].to_numpy(), "beats_baseline": ch["beats_baseline"].to_numpy(),
    })
    counts = pd.Series(f.bt.chosen).rename("model").to_frame().join(f.series.meta.set_index("unique_id")["level"])
    mix = counts.groupby("level")["model"].agg(lambda s: ", ".join(f"{_label(k)} {v}" for k, v in s.value_counts().items()))
    out["models chosen"] = out["level"].map(mix)
    return out


def coherence_table(f: SalesForecast) -> pd.DataFrame:
    """Total forecast next to the sum of each first-level dimension's series, per period."""
    tot = f.forecast[f.forecast["unique_id"] == TOTAL].set_index("ds")["mean"]
    rows = []
    for dim in f.series.dimensions:
        ids = set(f.series.tags[dim])
        s = f.forecast[f.forecast["unique_id"].isin(ids)].groupby("ds")["mean"].sum()
        for d, v in s.items():
            rows.append({"period": d.date(), "dimension": dim, "mean": tot[d], "sum_of_children": v,
                         "difference": v - tot[d]})
    return pd.DataFrame(rows)


def coherence_sentence(f: SalesForecast) -> str:
    if f.reconciliation_used == "none":
        return f.reconciliation_note
    return (f"Reconciliation: {reconciliation_label(f)} over {f.series.n_series} series "
            f"({len(f.series.bottom_ids)} bottom series); the largest gap between a parent and the sum of its "
            f"children is {f.coherence:.1e} of the parent.")


def method_notes(f: SalesForecast) -> list[str]:
    """Plain-language notes on data and method for the last section."""
    s = f.series
    notes = [
        f"History: {s.Y['ds'].min():%Y-%m-%d} to {s.Y['ds'].max():%Y-%m-%d} ({s.Y['ds'].nunique()} periods, "
        f"frequency {s.frequency}, season length {s.season_length}); missing periods are zero-filled.",
        f"Models: {', '.join(_label(m) for m in f.bt.models)} (statsforecast); series combining "
        f"{f.deep_depth} or more dimensions are tried with {', '.join(_label(m) for m in f.deep_models)} only."
        if f.deep_depth is not None else f"Models: {', '.join(_label(m) for m in f.bt.models)} (statsforecast).",
        f"Backtest: {f.bt.n_origins} rolling origins × {f.horizon} periods, {f.bt.seconds:.0f} s.",
    ]
    tot = f.nested[f.nested["level"] == "total"]
    if len(tot):
        r = tot.iloc[0]
        notes.append(
            "Scores in the backtest tables come from the same origins that made the choice, which flatters it; "
            "the headline accuracy does not (chosen on the earlier origins, scored on the later). Chosen on the "
            f"earlier origins only and scored on the last two, the total's MASE is {r['mase_nested_choice']:.2f} "
            f"against {r['mase_seasonal_naive']:.2f} for seasonal naive; across all series the nested choice beats "
            f"seasonal naive in {_pct((f.nested['beats_baseline'] * f.nested['n_series']).sum() / f.nested['n_series'].sum())}"
            " of series.")
    drivers = usable_drivers(s)
    if "arimax" in f.bt.models:
        how = ("the planned calendar where the plan gives it, else the values of the same period a "
               "year earlier" if s.plan is not None else "the values of the same period a year earlier")
        notes.append(f"ARIMA + drivers uses {', '.join(drivers)}. For the periods it forecasts it gets {how} — "
                     "in the backtest exactly as in the forecast, so its backtest accuracy is the one to expect.")
    if "combination" in f.bt.models:
        notes.append(
            "The combination is the median of the member models' forecasts and interval bounds "
            f"({', '.join(_label(m) for m in COMBINATION_MEMBERS if m in f.bt.models)}); a single model replaces "
            f"it only when its backtest MASE is more than {MARGIN:.0%} lower. Interval widths are calibrated on the "
            "backtest errors (80%: ×" + ", ".join(f"{f.bt.factors.get(m, {}).get(80, 1.0):.2f} {_label(m)}"
                                                for m in sorted(set(f.bt.chosen.values()))) + ").")
    if f.reconciliation_note:
        notes.append(f.reconciliation_note)
    k = getattr(f, "reconciled_factors", {})
    if k:
        cov = f.honest_coverage()
        held = ""
        if "shown" in cov and "reconciled" in cov and "total_80" in cov["shown"]:
            held = (f" Chosen and calibrated on the earlier origins, the total's 80% interval held "
                    f"{_pct(cov['shown']['total_80'])} of the later origins' actuals (reconciled intervals without "
                    f"this step: {_pct(cov['reconciled']['total_80'])}).")
        notes.append(
            "Reconciled intervals come from a normal approximation that ignores how the base models err; the "
            "intervals shown are stretched per level by the conformal factor of the reconciled backtest forecasts' "
            "errors (80%: ×" + ", ".join(f"{d.get(80, 1.0):.2f} {lv}" for lv, d in k.items()) + ")." + held)
    elif f.reconciliation_used != "none":
        notes.append("The reconciled intervals are shown as reconciliation gives them: the backtest could not be "
                     "reconciled origin by origin, so they are not calibrated on their own backtest errors.")
    if f.bt.skipped:
        notes.append("ARIMA + drivers was not run: the data has no usable promotion or discount columns.")
    if f.quarter is not None:
        def pooled(cov):
            return float((cov["coverage_80"] * cov["n"]).sum() / cov["n"].sum()) if len(cov) else float("nan")

        notes.append(
            f"Quarter totals add the months' forecasts. Their spread allows for forecast errors that persist from "
            f"month to month: the correlation between a backtest origin's errors at different horizons is "
            f"{f.rho:.2f}. In the backtest, 80% intervals of {f.horizon}-period sums built this way held "
            f"{_pct(pooled(f.sum_coverage))} of the actual sums over all series (estimate and check use the same "
            f"backtest); assuming independent months they would have held {_pct(pooled(f.sum_coverage_independent))}.")
    return notes + list(s.notes)
