"""Per-customer behaviour, aggregated in the engine: the input of every segmentation step.

:func:`customer_features` chains four steps: :func:`order_aggregations` (the
ibis expressions per customer: first/last order, orders, revenue, profit,
units, discount, channel revenue), :func:`with_complaints` (complaint
interactions), :func:`derived_columns` (the ratios computed in pandas on the
small per-customer frame) and :func:`with_customer_attributes` (region,
channel, industry from ``customers``).
"""
from __future__ import annotations

import datetime as _dt
from typing import Any

import ibis
import numpy as np
import pandas as pd

from salesbench.core.dataset import last_order_date
from salesbench.core.memory import aggregate_in_passes


def as_date(value) -> _dt.date | None:
    """``value`` (ISO text, Timestamp, datetime, date or None) as a ``datetime.date``."""
    if value is None:
        return None
    if isinstance(value, str):
        return _dt.date.fromisoformat(value)
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, _dt.datetime):
        return value.date()
    return value


def value_basis(ds) -> str:
    """``"profit"`` when ``orders.cost`` exists and is filled on every row, else ``"revenue"``."""
    if not ds.has_columns("orders", ["cost"]):
        return "revenue"
    o = ds.table("orders")
    missing = o.aggregate(n=o.count(), filled=o.cost.count()).to_pandas().iloc[0]
    return "profit" if int(missing["n"]) > 0 and int(missing["filled"]) == int(missing["n"]) else "revenue"


def top_channels(orders, in_window, max_channels: int) -> list[str]:
    """The ``orders.channel`` values with the most order lines in the window (at most ``max_channels``;
    none when there is only one channel: no mix to describe)."""
    ch = orders.filter(in_window).channel.value_counts().to_pandas()
    ch = ch.dropna().sort_values(ch.columns[1], ascending=False)
    channels = [str(c) for c in ch.iloc[:max_channels, 0]]
    return channels if len(channels) >= 2 else []


def order_aggregations(o, in_window, basis: str, channels: list[str]) -> dict[str, Any]:
    """The per-customer ibis aggregations of the order lines ``o`` (``in_window``: the look-back filter).

    Helper columns start with ``_`` (units, discount weights, channel revenue)
    and are turned into ratios by :func:`derived_columns`.
    """
    cols = set(o.columns)
    order_key = o.order_id if "order_id" in cols else o.order_date
    aggs: dict[str, Any] = {
        "first_ever": o.order_date.min(),
        "first_order": o.order_date.min(where=in_window),
        "last_order": o.order_date.max(where=in_window),
        "frequency": order_key.nunique(where=in_window),
        "revenue": o.revenue.sum(where=in_window),
        "n_lines": o.count(where=in_window),
    }
    if basis == "profit":
        aggs["profit"] = (o.revenue - o.cost).sum(where=in_window)
    if "quantity" in cols:
        aggs["_units"] = o.quantity.sum(where=in_window)
    if "discount" in cols:
        aggs["_disc_w"] = (o.discount * o.revenue).sum(where=in_window & o.discount.notnull())
        aggs["_disc_rev"] = o.revenue.sum(where=in_window & o.discount.notnull())
    for i, c in enumerate(channels):
        aggs[f"_ch{i}"] = o.revenue.sum(where=in_window & (o.channel == c))
    return aggs


def with_complaints(g, ds, as_of_lit, start: _dt.date | None):
    """Left-join ``n_complaints`` (complaint interactions up to ``as_of``, from ``start`` when set) onto ``g``."""
    if not ds.has("interactions"):
        return g
    it = ds.table("interactions")
    when = it.occurred_at.cast("date")
    cond = (it.kind == "complaint") & (when <= as_of_lit)
    if start is not None:
        cond = cond & (when >= ibis.date(start))
    fc = it.filter(cond)
    comp = fc.group_by("customer_id").aggregate(n_complaints=fc.count())
    return g.left_join(comp, "customer_id").drop("customer_id_right")


def _typed(df: pd.DataFrame, basis: str) -> pd.DataFrame:
    """Plain pandas types, sorted by ``customer_id``; ``value`` = profit or revenue."""
    df = df.sort_values("customer_id", kind="mergesort").reset_index(drop=True)
    df["customer_id"] = df["customer_id"].astype(str)
    for c in ("first_order", "last_order", "first_ever"):
        df[c] = pd.to_datetime(df[c])
    for c in ("recency_days", "tenure_days", "span_days", "window_days", "frequency", "n_lines"):
        df[c] = df[c].astype("int64")
    df["revenue"] = df["revenue"].astype(float)
    if basis == "profit":
        df["profit"] = df["profit"].astype(float)
        df["value"] = df["profit"]
    else:
        df["value"] = df["revenue"]
    return df


def derived_columns(df: pd.DataFrame, basis: str, channels: list[str], has_order_id: bool) -> pd.DataFrame:
    """The ratios of :func:`customer_features` from the aggregated frame (helper ``_`` columns dropped).

    ``order_value = revenue / frequency``; ``order_rate = frequency / max(window
    tenure, 30 days) × 365.25``; ``lines_per_order``, ``units_per_line``,
    revenue-weighted ``discount``, ``share_<channel>``, ``complaints`` per year.
    """
    df = _typed(df, basis)
    df["order_value"] = df["revenue"] / df["frequency"]
    life_years = np.maximum(df["window_days"].to_numpy(), 30) / 365.25
    df["order_rate"] = df["frequency"] / life_years
    if has_order_id:
        df["lines_per_order"] = df["n_lines"] / df["frequency"]
    if "_units" in df.columns:
        df["units_per_line"] = df["_units"].astype(float) / df["n_lines"]
        df = df.drop(columns=["_units"])
    if "_disc_w" in df.columns:
        df["discount"] = np.where(df["_disc_rev"].fillna(0) > 0, df["_disc_w"] / df["_disc_rev"], np.nan)
        df = df.drop(columns=["_disc_w", "_disc_rev"])
    if channels:
        total = df[[f"_ch{i}" for i in range(len(channels))]].fillna(0).sum(axis=1)
        for i, c in enumerate(channels):
            share = df[f"_ch{i}"].fillna(0) / total.where(total != 0)
            df[f"share_{c}"] = share.fillna(0.0)
        df = df.drop(columns=[f"_ch{i}" for i in range(len(channels))])
    if "n_complaints" in df.columns:
        df["complaints"] = pd.to_numeric(df["n_complaints"], errors="coerce").fillna(0.0).to_numpy(dtype=float) / life_years
        df = df.drop(columns=["n_complaints"])
    return df.drop(columns=["first_ever", "window_days"])


def with_customer_attributes(df: pd.DataFrame, ds) -> pd.DataFrame:
    """``region``, ``channel``, ``industry`` from ``customers`` (those present), merged on ``customer_id``."""
    if not ds.has("customers"):
        return df
    cu = ds.table("customers")
    keep = [c for c in ("region", "channel", "industry") if c in cu.columns]
    if not keep:
        return df
    attrs = cu.select("customer_id", *keep).to_pandas().drop_duplicates("customer_id")
    attrs["customer_id"] = attrs["customer_id"].astype(str)
    return df.merge(attrs, on="customer_id", how="left")


def _window(o, as_of: _dt.date, lookback_days: int | None):
    """``(orders up to as_of, the look-back condition, its first day or None)`` as :func:`customer_features` uses them."""
    o = o.filter(o.order_date <= ibis.date(as_of))
    if lookback_days:
        start = as_of - _dt.timedelta(days=int(lookback_days) - 1)
        return o, o.order_date >= ibis.date(start), start
    return o, ibis.literal(True), None


def rfm_inputs(ds, as_of, lookback_days: int | None = None) -> pd.DataFrame:
    """Only what :func:`salesbench.analyses.segmentation.rfm.rfm_scores` reads, aggregated in the engine.

    ``customer_id, recency_days, frequency, revenue`` with exactly the definitions
    and rows of :func:`customer_features` (same window, same customers, same sort),
    so the RFM scores and segments are the same; none of the other aggregations,
    joins and ratios. The migration step needs the segments at an earlier date
    only: at 10^6 customers this aggregation costs a fraction of the full one
    (``benchmarks/bench_segmentation.py``).
    """
    as_of = as_date(as_of) or last_order_date(ds.table("orders"))
    o, in_window, _start = _window(ds.table("orders"), as_of, lookback_days)
    order_key = o.order_id if "order_id" in o.columns else o.order_date
    g = o.group_by("customer_id").aggregate(
        last_order=o.order_date.max(where=in_window), frequency=order_key.nunique(where=in_window),
        revenue=o.revenue.sum(where=in_window),
    ).filter(lambda t: t.frequency > 0)
    g = g.mutate(recency_days=ibis.date(as_of).delta(g.last_order, unit="day")).drop("last_order")
    df = g.to_pandas().sort_values("customer_id", kind="mergesort").reset_index(drop=True)
    df["customer_id"] = df["customer_id"].astype(str)
    df["recency_days"] = df["recency_days"].astype("int64")
    df["frequency"] = df["frequency"].astype("int64")
    df["revenue"] = df["revenue"].astype(float)
    df.attrs.update(as_of=as_of, lookback_days=lookback_days)
    return df[["customer_id", "recency_days", "frequency", "revenue"]]


def customer_features(ds, as_of=None, lookback_days: int | None = None, max_channels: int = 8) -> pd.DataFrame:
    """Per-customer behaviour up to ``as_of``, aggregated in the engine.

    Parameters
    ----------
    ds : Dataset with at least ``orders(customer_id, order_date, revenue)``.
    as_of : analysis date (orders on or before it count); default the last order date.
    lookback_days : only orders in ``(as_of - lookback_days, as_of]`` count towards
        recency, frequency and money; ``None`` = the whole history. Customers
        without an order in the window are not in the result. Tenure always uses
        the first order ever (up to ``as_of``).
    max_channels : at most this many ``orders.channel`` values become channel-share columns.

    Returns
    -------
    DataFrame, one row per customer (sorted by ``customer_id``) with
    ``customer_id, first_order, last_order, recency_days`` (as_of − last order),
    ``tenure_days`` (as_of − first order ever), ``span_days`` (last − first order
    in the window), ``frequency`` (distinct orders: ``order_id`` when present,
    else distinct order days), ``revenue``, ``profit`` (revenue − cost, only when
    cost is filled everywhere), ``value`` (profit, or revenue without cost),
    ``order_value`` (revenue / frequency), ``order_rate`` (orders per year of
    observed life, ``frequency / max(window tenure, 30 days) × 365.25``) and,
    when present in the data, ``discount`` (revenue-weighted mean line
    discount), ``lines_per_order``, ``units_per_line`` (Σ quantity / lines),
    ``share_<channel>`` (revenue share by order channel; only with two or more
    channels), ``complaints`` (complaint interactions per year in the
    window), plus ``region``, ``channel``, ``industry`` from ``customers``.
    ``attrs["as_of"]``, ``attrs["value_basis"]`` and ``attrs["channels"]`` record the choices.
    """
    as_of = as_date(as_of) or last_order_date(ds.table("orders"))
    as_of_lit = ibis.date(as_of)
    o, in_window, start = _window(ds.table("orders"), as_of, lookback_days)
    basis = value_basis(ds)
    channels = top_channels(o, in_window, max_channels) if "channel" in o.columns else []

    def per_customer(t):  # the rows of some customers (all, or one pass's partition)
        window = t.order_date >= ibis.date(start) if start is not None else ibis.literal(True)
        g = t.group_by("customer_id").aggregate(**order_aggregations(t, window, basis, channels))
        g = g.filter(g.frequency > 0)
        g = g.mutate(
            recency_days=as_of_lit.delta(g.last_order, unit="day"),
            tenure_days=as_of_lit.delta(g.first_ever, unit="day"),
            span_days=g.last_order.delta(g.first_order, unit="day"),
            window_days=as_of_lit.delta(g.first_order, unit="day"),
        )
        return with_complaints(g, ds, as_of_lit, start)

    # in passes over customer partitions on large data: bounds the engine's memory (core/memory.py)
    df = derived_columns(aggregate_in_passes(o, "customer_id", per_customer), basis, channels,
                         has_order_id="order_id" in o.columns)
    df = with_customer_attributes(df, ds)
    df.attrs.update(as_of=as_of, value_basis=basis, channels=channels, lookback_days=lookback_days)
    return df
