"""The drivers each split uses, per rep (teams and regions are sums of their reps), from the data.

One engine query brings back revenue per rep and month over the two years up to
the plan (:func:`rep_months`); :func:`rep_drivers` turns it into, per rep:

- ``last_year``: revenue in the same span one year before the planned period;
- ``customers``: the last-year revenue of the rep's *live* customers (ordered in the
  ``live_days`` up to ``as_of``): the customer potential the rep carries into the period;
- ``capacity``: the tenure ramp, min(1, months employed at the period's middle / ``ramp_months``)
  (0 for a rep hired after it); a region's capacity is its ramped headcount;
- ``top_customer_share``: the largest customer's share of ``last_year`` (key-account risk);
- ``book`` (the rep's live book, :func:`book_value`): the last-year revenue of its live customers, each
  × the net revenue retention of its tier (new or established customers) measured one period earlier, plus the
  last-year revenue of the rep's *new* customers: what the customers it carries into the period should
  bring, plus a year of new business like the last one;
- ``win_rate`` (capacity × ability to close): ``capacity`` × the rep's pooled win rate of the deals
  closed in the last period (:func:`pooled_win_rates`; needs ``opportunities`` and ``stage_history``);
- ``review`` (capacity × last review): ``capacity`` × the rep's score in the performance review of
  the last ``review_period`` up to ``as_of`` ÷ 100 (:func:`review_scores`; the median score for a rep
  the review could not score).

The last two are computed only when their weight is above 0 (the review is a whole report's fit).

Orders are attributed to a rep by ``orders.rep_id`` and to a team and a region by the
``reps`` table; orders without a known rep count in the company's history only.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from salesbench.core.dataset import money_sum

DRIVERS = ("forecast", "customers", "last_year", "capacity", "win_rate", "review", "book")
LEVELS = ("region", "team", "rep")


def _in_key_order(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Rows sorted by their group keys: the engine returns groups in an order that changes from run to run, and
    pandas sums taken later (Σ over a rep's customers, a tier's retention) must add in one order to give the same
    bits every run."""
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


def rep_months(ds, first: pd.Period, last: pd.Period) -> pd.DataFrame:
    """Revenue per ``rep_id`` and month ``ds`` (month start) for months ``first``..``last`` (aggregated in the engine)."""
    o = ds.table("orders")
    start, end = first.start_time.date(), last.end_time.date()
    o = o.filter((o.order_date >= start) & (o.order_date <= end))
    o = o.mutate(month=o.order_date.truncate("M"), rep_id=o.rep_id.fill_null("(none)"))
    df = _in_key_order(o.group_by(["rep_id", "month"]).aggregate(revenue=money_sum(o.revenue)).to_pandas(),
                       ["rep_id", "month"])
    df["month"] = pd.to_datetime(df["month"]).dt.to_period("M")
    return df


def customer_revenue(ds, first: pd.Period, last: pd.Period, as_of: dt.date, live_days: int) -> pd.DataFrame:
    """Per ``rep_id, customer_id``: revenue in ``first``..``last`` and ``live`` (ordered in the ``live_days`` up to ``as_of``)."""
    o = ds.table("orders")
    o = o.filter(o.order_date <= as_of).mutate(rep_id=o.rep_id.fill_null("(none)"))
    start, end = first.start_time.date(), last.end_time.date()
    in_span = (o.order_date >= start) & (o.order_date <= end)
    recent = o.order_date > as_of - dt.timedelta(days=live_days)
    df = (o.filter(in_span | recent)
          .group_by(["rep_id", "customer_id"])
          .aggregate(revenue=money_sum(in_span.ifelse(o.revenue, 0.0)), recent=recent.ifelse(1, 0).sum())
          .to_pandas())
    df = _in_key_order(df, ["rep_id", "customer_id"])
    df["live"] = df["recent"] > 0
    return df.drop(columns="recent")


def book_value(ds, first: pd.Period, last: pd.Period, as_of: dt.date, live_days: int,
               first_day: dt.date | None = None) -> tuple[pd.Series, dict]:
    """``(book per rep_id, retention)``: each rep's live book carried into the period after ``as_of``.

    A customer *starts* on its ``customers.signup_date`` (its first order when the data has none) and is
    *new* in a period it started in. book = Σ over the rep's live customers (ordered in the ``live_days`` up to
    ``as_of``) of last-period revenue × the retention of its tier (``new``: started in the last period;
    ``established``: before) + Σ last-period revenue of its new customers (a year of new business like the
    last one). retention (net revenue retention) of a tier = Σ last-period revenue ÷ Σ revenue in the period
    one year earlier, over the (rep, customer) pairs of that tier one year earlier (live on ``as_of`` − 1 year,
    started in / before that earlier period): first-year customers grow into a full year, established ones
    drift. A tier without such revenue takes the pooled retention; 1.0 when the orders do not reach back to the
    earlier period. Only orders up to ``as_of`` are read (aggregated in the engine); ``retention`` is
    ``{"new": …, "established": …}``. ``first_day``: the first order date of the data when the caller has it
    (one engine query less); default: queried here.
    """
    o = ds.table("orders")
    o = o.filter(o.order_date <= as_of).mutate(rep_id=o.rep_id.fill_null("(none)"))
    starts = o.group_by(cid_=o.customer_id).aggregate(start=o.order_date.min())
    if ds.has_columns("customers", ["customer_id", "signup_date"]):
        c = ds.table("customers")
        signup = c.group_by(sid_=c.customer_id).aggregate(signup=c.signup_date.min())
        starts = starts.left_join(signup, starts.cid_ == signup.sid_)
        starts = starts.select("cid_", start=starts.signup.fill_null(starts.start))
    prev_as_of = (pd.Timestamp(as_of) - pd.DateOffset(years=1)).date()
    start, end = first.start_time.date(), last.end_time.date()
    p_start, p_end = (first - 12).start_time.date(), (last - 12).end_time.date()
    j = o.left_join(starts, o.customer_id == starts.cid_)
    j = j.filter((j.order_date >= p_start) | (j.order_date > prev_as_of - dt.timedelta(days=live_days)))
    in_span = (j.order_date >= start) & (j.order_date <= end)
    in_prev = (j.order_date >= p_start) & (j.order_date <= p_end)
    recent = j.order_date > as_of - dt.timedelta(days=live_days)
    recent_prev = (j.order_date > prev_as_of - dt.timedelta(days=live_days)) & (j.order_date <= prev_as_of)
    df = (j.group_by(["rep_id", "customer_id"])
          .aggregate(revenue=money_sum(in_span.ifelse(j.revenue, 0.0)), prev_revenue=money_sum(in_prev.ifelse(j.revenue, 0.0)),
                     live=recent.ifelse(1, 0).sum(), live_prev=recent_prev.ifelse(1, 0).sum(), start=j.start.min())
          .to_pandas())
    df = _in_key_order(df, ["rep_id", "customer_id"])
    began = pd.to_datetime(df["start"])
    new = (began >= pd.Timestamp(start)) & (began <= pd.Timestamp(end))
    tier_prev = np.where(began >= pd.Timestamp(p_start), "new", "established")
    if first_day is None:
        first_day = ds.table("orders").order_date.min().to_pyarrow().as_py()
    kept = df[(df["live_prev"] > 0) & (df["prev_revenue"] > 0)]
    reaches_back = first_day is not None and first_day <= p_start and len(kept) > 0
    pooled = float(kept["revenue"].sum() / kept["prev_revenue"].sum()) if reaches_back else 1.0
    retention = {}
    for tier in ("new", "established"):
        k = kept[tier_prev[kept.index] == tier] if reaches_back else kept.iloc[:0]
        retention[tier] = float(k["revenue"].sum() / k["prev_revenue"].sum()) if k["prev_revenue"].sum() > 0 else pooled
    rate = np.where(new, retention["new"], retention["established"])
    book = (rate * df["revenue"].where(df["live"] > 0, 0.0) + df["revenue"].where(new, 0.0)).clip(lower=0)
    return book.groupby(df["rep_id"]).sum(), retention


def has_level(ds, level: str) -> bool:
    """Whether the ``reps`` table has the hierarchy level ``level`` (``team``/``region``): the column, with a value."""
    if level == "rep":
        return True
    if not ds.has_columns("reps", [level]):
        return False
    return bool(ds.table("reps")[level].count().to_pyarrow().as_py())


def reps_frame(ds) -> pd.DataFrame:
    """``rep_id, team, region, hire_date`` of the ``reps`` table (missing columns as NaN)."""
    cols = [c for c in ("rep_id", "team", "region", "hire_date") if ds.has_columns("reps", [c])]
    df = ds.table("reps").select(*cols).to_pandas()
    for c in ("team", "region", "hire_date"):
        if c not in df:
            df[c] = np.nan
    df["team"] = df["team"].fillna("(no team)").astype(str)
    df["region"] = df["region"].fillna("(no region)").astype(str)
    return df


def ramp(hire_date, mid: dt.date, ramp_months: float) -> float:
    """Tenure ramp at ``mid``: min(1, months employed / ``ramp_months``); 1 without a hire date; 0 before hire."""
    if hire_date is None or pd.isna(hire_date):
        return 1.0
    months = (pd.Timestamp(mid) - pd.Timestamp(hire_date)).days / 30.4375
    if ramp_months <= 0:
        return float(months >= 0)
    return float(np.clip(months / ramp_months, 0.0, 1.0))


def rep_drivers(reps: pd.DataFrame, monthly_ly: pd.DataFrame, cust: pd.DataFrame, mid: dt.date,
                ramp_months: float) -> pd.DataFrame:
    """One row per rep of ``reps``: ``rep_id, team, region, last_year, customers, capacity, top_customer_share``."""
    out = reps.copy()
    ly = monthly_ly.groupby("rep_id")["revenue"].sum()
    out["last_year"] = out["rep_id"].map(ly).fillna(0.0)
    live = cust[cust["live"]].groupby("rep_id")["revenue"].sum()
    out["customers"] = out["rep_id"].map(live).fillna(0.0).clip(lower=0)
    out["capacity"] = [ramp(h, mid, ramp_months) for h in out["hire_date"]]
    top = cust.groupby("rep_id")["revenue"].agg(lambda r: r.max() / r.sum() if r.sum() > 0 else np.nan)
    out["top_customer_share"] = out["rep_id"].map(top)
    return out.reset_index(drop=True)


def line_revenue(ds, first: pd.Period, last: pd.Period) -> pd.DataFrame | None:
    """Revenue per ``rep_id`` and ``product_line`` in months ``first``..``last`` (orders joined to products in the
    engine), or None when the data has no ``products.product_line``."""
    if not (ds.has_columns("products", ["product_id", "product_line"]) and ds.has_columns("orders", ["product_id"])):
        return None
    o = ds.table("orders")
    o = o.filter((o.order_date >= first.start_time.date()) & (o.order_date <= last.end_time.date()))
    products = ds.table("products")  # one line per product (min: portable SQL; DISTINCT ON is not, e.g. PostgreSQL)
    p = products.group_by(pid_=products.product_id).aggregate(product_line=products.product_line.min())
    j = o.left_join(p, o.product_id == p.pid_)
    j = j.mutate(rep_id=j.rep_id.fill_null("(none)"), product_line=j.product_line.fill_null("(unknown)"))
    return _in_key_order(j.group_by(["rep_id", "product_line"]).aggregate(revenue=money_sum(j.revenue)).to_pandas(),
                         ["rep_id", "product_line"])


def pooled_win_rates(ds, first: pd.Period, last: pd.Period, as_of: dt.date, prior_deals: float) -> pd.Series:
    """Win rate per ``rep_id`` of the deals (the funnel's, :func:`~salesbench.analyses.funnel.deals.load_deals`
    as of ``as_of``) closed won or lost in months ``first``..``last``, partially pooled towards the company's:
    (won + m · p₀) / (closed + m), p₀ = Σ won / Σ closed, m = ``prior_deals`` (a Beta prior worth m deals;
    p₀ is in ``.attrs['company']``: the rate of a rep without closed deals). Empty when the data has no
    deals or none closed in the span."""
    from salesbench.analyses.funnel.deals import load_deals

    if not (ds.has("opportunities") and ds.has("stage_history")):
        return pd.Series(dtype=float)
    f = load_deals(ds, as_of=as_of).frame
    closed_at = pd.to_datetime(f["closed_at"])
    f = f[f["status"].isin(["won", "lost"]) & (closed_at >= first.start_time) & (closed_at <= last.end_time)]
    f = f[f["rep_id"].notna()]
    if f.empty:
        return pd.Series(dtype=float)
    rep = f["rep_id"].astype(str).to_numpy()
    g = pd.DataFrame({"won": (f["status"] == "won").to_numpy(int), "closed": 1}).groupby(rep).sum()
    p0 = g["won"].sum() / g["closed"].sum()
    out = (g["won"] + prior_deals * p0) / (g["closed"] + prior_deals)
    out.attrs["company"] = float(p0)
    return out


def review_scores(ds, as_of: dt.date, period: str) -> pd.Series:
    """Score per ``rep_id`` of the performance review of the last ``period`` (month/quarter/year) up to
    ``as_of`` (:class:`~salesbench.analyses.performance.model.PerformanceReview`, default weights; 100 = on
    target). Empty when the review cannot run on the data."""
    from salesbench.analyses.performance.model import PerformanceReview
    from salesbench.core.errors import CheckError, ReportSkipped

    try:
        card = PerformanceReview(period=period, as_of=as_of, trend_periods=1).fit(ds).card_
    except (ReportSkipped, CheckError, ValueError):
        return pd.Series(dtype=float)
    return card.set_index("rep_id")["score"].dropna()


def ability(capacity: pd.Series, rep_ids: pd.Series, values: pd.Series, fallback: float) -> np.ndarray:
    """``capacity`` × the rep's value (``values`` by rep id; ``fallback`` for a rep without one, and
    everyone when ``values`` is empty: the driver is then plain capacity)."""
    v = rep_ids.map(values).astype(float).fillna(fallback).to_numpy()
    return capacity.to_numpy(float) * np.clip(v, 0, None)
