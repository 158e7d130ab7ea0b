"""Numbers, percents and money as report text — plain Python, no matplotlib, no pandas.

Analyses import this at the top (``from salesbench.viz import format`` or
``sb.viz.fmt_money``) at no start-up cost. A missing value (``None`` or NaN)
is written as an en dash ``–``.
"""
from __future__ import annotations

import math


def fmt_money(x: float | None, currency: str = "") -> str:
    """Compact money: 1234 → '1.2k', 3.4e6 → '3.4M'."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    sign = "-" if x < 0 else ""
    a = abs(float(x))
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if a >= div:
            return f"{sign}{currency}{a / div:.1f}{unit}"
    return f"{sign}{currency}{a:,.0f}"


def fmt_pct(x: float | None, digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{100 * float(x):.{digits}f}%"


def fmt_num(x: float | None, digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{float(x):,.{digits}f}"
