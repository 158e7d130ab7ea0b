"""Review periods: the last full month, quarter or year on or before ``as_of``, labels, the data's end."""
from __future__ import annotations

import datetime as _dt

import pandas as pd

from salesbench.core.dataset import last_order_date

#: Period names accepted by the review and their pandas / ibis frequency codes.
FREQS: dict[str, str] = {"month": "M", "quarter": "Q", "year": "Y"}
PERIODS_PER_YEAR: dict[str, int] = {"month": 12, "quarter": 4, "year": 1}


def freq_code(period: str) -> str:
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
    p = pd.Period(day, freq=freq_code(period))
    if p.end_time.normalize() > day:
        p = p - 1
    return p


def period_label(p: pd.Period) -> str:
    """Human label: ``2025-Q4``, ``2025-12``, ``2025``."""
    s = str(p)
    return s.replace("Q", "-Q") if p.freqstr.startswith("Q") else s


def period_text(p: pd.Period) -> str:
    """:func:`period_label` as shown in the report's language (``2025-Q4`` | ``2025年第4季度``, via :func:`viz.fmt_period`)."""
    from salesbench.viz.format import fmt_period

    return fmt_period(period_label(p))


def data_end(ds, today: _dt.date | None = None) -> _dt.date:
    """Latest order date on or before ``today`` (default: the real today) — the default ``as_of``.

    Orders dated in the future are data errors (the data-quality report lists
    them); they must not move the review period.
    """
    return last_order_date(ds.table("orders"), on_or_before=today or _dt.date.today())


def future_orders(ds, after: _dt.date) -> int:
    """Number of order lines dated after ``after`` (ignored by the review)."""
    o = ds.canonical_table("orders")  # every row: Dataset.table already leaves future-dated ones out
    return int(o.filter(o.order_date > after).count().to_pyarrow().as_py())


