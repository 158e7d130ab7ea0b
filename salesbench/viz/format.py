"""Numbers, percents, money, dates and periods as report text, in the report's language.

Plain Python, no matplotlib, no pandas: analyses import this at the top
(``from salesbench.viz import format`` or ``sb.viz.fmt_money``) at no start-up
cost. A missing value (``None`` or NaN) is written as an en dash ``–``.

English (the default) is written exactly as it always was (``1.2M``,
``2025-12-31``, ``2025-12``, ``2026-Q2``). In Chinese (``zh-CN``, see
:mod:`salesbench.core.i18n`) Babel's zh_CN locale data writes the numbers and
dates, and large money amounts use 万 (10^4) and 亿 (10^8): ``1.2万``,
``3.4亿``, ``2025年12月31日``, ``2025年12月``, ``2026年第2季度``.
"""
from __future__ import annotations

import datetime as _dt
import math
import re
from typing import Any

from salesbench.core import i18n


def _missing(x: Any) -> bool:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return True
    try:
        return bool(x != x)  # NaN-like (numpy NaN, NaT)
    except (TypeError, ValueError):  # pd.NA
        return True


def _zh() -> bool:
    return i18n.get_language() == "zh-CN"


def _decimal(x: float, digits: int) -> str:
    """``x`` with grouping and ``digits`` decimals, in the current locale (Babel for zh-CN)."""
    if not _zh():
        return f"{x:,.{digits}f}"
    from babel.numbers import format_decimal

    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(x, format=pattern, locale="zh_CN")


def fmt_money(x: float | None, currency: str = "") -> str:
    """Compact money: 1234 → '1.2k', 3.4e6 → '3.4M' (zh-CN: 12,345 → '1.2万', 3.4e8 → '3.4亿')."""
    if _missing(x):
        return "–"
    sign = "-" if x < 0 else ""
    a = abs(float(x))
    units = (("亿", 1e8), ("万", 1e4)) if _zh() else (("B", 1e9), ("M", 1e6), ("k", 1e3))
    for unit, div in units:
        if a >= div:
            return f"{sign}{currency}{_decimal(a / div, 1)}{unit}"
    return f"{sign}{currency}{_decimal(a, 0)}"


def fmt_pct(x: float | None, digits: int = 0) -> str:
    if _missing(x):
        return "–"
    if not _zh():
        return f"{100 * float(x):.{digits}f}%"
    from babel.numbers import format_percent

    pattern = "0" + ("." + "0" * digits if digits else "") + "%"
    return format_percent(float(x), format=pattern, locale="zh_CN")


def fmt_num(x: float | None, digits: int = 0) -> str:
    if _missing(x):
        return "–"
    return _decimal(float(x), digits)


def _as_date(d: Any) -> _dt.date:
    if isinstance(d, _dt.datetime):
        return d.date()
    if isinstance(d, _dt.date):
        return d
    if hasattr(d, "to_pydatetime"):  # pandas Timestamp
        return d.to_pydatetime().date()
    return _dt.date.fromisoformat(str(d)[:10])


def fmt_date(d: Any) -> str:
    """A day: ``2025-12-31`` (zh-CN ``2025年12月31日``); missing → ``–``."""
    if _missing(d):
        return "–"
    day = _as_date(d)
    return f"{day.year}年{day.month}月{day.day}日" if _zh() else day.isoformat()


def fmt_month(d: Any) -> str:
    """A month: ``2025-12`` (zh-CN ``2025年12月``); accepts a date, a Timestamp or ``"2025-12"``."""
    if _missing(d):
        return "–"
    if isinstance(d, str) and re.fullmatch(r"\d{4}-\d{2}", d):
        d = d + "-01"
    day = _as_date(d)
    return f"{day.year}年{day.month}月" if _zh() else f"{day.year}-{day.month:02d}"


def fmt_period(period: Any) -> str:
    """A planning period: ``"2026"`` → ``2026`` / ``2026年``; ``"2026-Q2"`` → ``2026-Q2`` / ``2026年第2季度``;
    ``"2026-05"`` → a month as :func:`fmt_month`. Anything else is returned as text."""
    if _missing(period):
        return "–"
    text = str(period).strip()
    if m := re.fullmatch(r"(\d{4})-?Q([1-4])", text, flags=re.I):
        return f"{m[1]}年第{m[2]}季度" if _zh() else f"{m[1]}-Q{m[2]}"
    if re.fullmatch(r"\d{4}", text):
        return f"{text}年" if _zh() else text
    if re.fullmatch(r"\d{4}-\d{2}", text):
        return fmt_month(text)
    return text
