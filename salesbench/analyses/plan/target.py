"""The plan period and the company target.

:func:`plan_period` reads ``period`` (``"2026"``, ``"2026-Q2"`` or None = the next
full calendar year after ``as_of``); :func:`last_period` is the same span one
year earlier; :func:`company_target` = the basis amount × (1 + growth), or the
absolute ``amount``, rounded to a multiple of ``rounding``. The basis (:data:`BASES`)
is the reps' books (Σ ``drivers.book_value``), last-period revenue or the forecast mean.
"""
from __future__ import annotations

import datetime as dt
import re

import pandas as pd

#: what the company target grows from (``basis``): the reps' books, last period's revenue, the forecast mean
BASES = ("book", "last_year", "forecast")

_PERIOD = re.compile(r"^(\d{4})(?:-Q([1-4]))?$")


def parse_period(text: str) -> tuple[int, int | None]:
    """``"2026"`` → (2026, None); ``"2026-Q2"`` → (2026, 2); anything else raises ``ValueError``."""
    m = _PERIOD.match(str(text).strip())
    if not m:
        raise ValueError(f"must be a year (2026) or a quarter (2026-Q2), not {text!r}")
    return int(m.group(1)), (int(m.group(2)) if m.group(2) else None)


def plan_period(period: str | None, as_of: dt.date) -> tuple[str, pd.Period, pd.Period]:
    """``(label, first month, last month)`` of the planned period.

    None: the calendar year after ``as_of``'s year. Raises ``ValueError`` when the
    period starts on or before ``as_of`` (a plan is made for a period not yet begun).
    """
    if period is None:
        year, quarter = as_of.year + 1, None
    else:
        year, quarter = parse_period(period)
    if quarter is None:
        first, last, label = pd.Period(f"{year}-01", "M"), pd.Period(f"{year}-12", "M"), str(year)
    else:
        first = pd.Period(f"{year}-{3 * quarter - 2:02d}", "M")
        last, label = first + 2, f"{year}-Q{quarter}"
    if first.start_time.date() <= as_of:
        raise ValueError(f"{label} has already begun by {as_of.isoformat()} (the end of the history); "
                         f"plan a period starting after it")
    return label, first, last


def months(first: pd.Period, last: pd.Period) -> list[pd.Period]:
    """The months ``first``..``last``."""
    return list(pd.period_range(first, last, freq="M"))


def company_target(basis_amount: float, growth: float, amount: float | None, rounding: float) -> float:
    """``amount`` when given, else ``basis_amount × (1 + growth)``; rounded to the nearest multiple of ``rounding``."""
    raw = float(amount) if amount is not None else float(basis_amount) * (1.0 + float(growth))
    return float(round(raw / rounding) * rounding) if rounding > 0 else raw
