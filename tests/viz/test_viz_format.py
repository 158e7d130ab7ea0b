"""viz.format: numbers, percents and money as report text, without matplotlib."""
from __future__ import annotations

import math
import subprocess
import sys

from salesbench.viz.format import fmt_money, fmt_num, fmt_pct


def test_fmt_money_compact_units():
    assert fmt_money(1234) == "1.2k"
    assert fmt_money(3.4e6) == "3.4M"
    assert fmt_money(2.5e9, currency="$") == "$2.5B"
    assert fmt_money(-1500) == "-1.5k"
    assert fmt_money(999) == "999"
    assert fmt_money(None) == "–" and fmt_money(math.nan) == "–"


def test_fmt_pct_and_num():
    assert fmt_pct(0.1234) == "12%" and fmt_pct(0.1234, 1) == "12.3%"
    assert fmt_num(1234567.891) == "1,234,568" and fmt_num(2.5, 2) == "2.50"
    assert fmt_pct(None) == "–" and fmt_num(float("nan")) == "–"


def test_format_and_display_import_no_matplotlib():
    code = ("import salesbench.viz.format, salesbench.viz.display, salesbench.viz.palette, sys; "
            "from salesbench import viz; viz.fmt_money(1); viz.narrative('x'); "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_public_name_is_reachable_from_viz():
    from salesbench import viz

    for name in viz.__all__:
        assert getattr(viz, name) is not None, name
    assert viz.fmt_money is fmt_money
    from salesbench.viz import apply_theme, narrative  # noqa: F401  (from-imports work too)


# --------------------------------------------------------------------------- languages
def test_english_formats_are_unchanged_by_the_language_machinery():
    from salesbench.viz import format as f

    assert [f.fmt_money(1234), f.fmt_money(3.4e6), f.fmt_money(-2.5e9), f.fmt_money(512)] == ["1.2k", "3.4M", "-2.5B", "512"]
    assert [f.fmt_pct(0.123), f.fmt_pct(0.1234, 1), f.fmt_num(12345.678, 1)] == ["12%", "12.3%", "12,345.7"]
    assert [f.fmt_date("2025-12-31"), f.fmt_month("2025-12"), f.fmt_period("2026-Q2"), f.fmt_period("2026")] == \
        ["2025-12-31", "2025-12", "2026-Q2", "2026"]


def test_chinese_money_uses_wan_and_yi_and_dates_read_as_chinese():
    import datetime as dt

    import pandas as pd

    from salesbench.core import i18n
    from salesbench.viz import format as f

    with i18n.language("zh-CN"):
        assert [f.fmt_money(1234), f.fmt_money(12345), f.fmt_money(3.4e6), f.fmt_money(2.51e8), f.fmt_money(-5e4)] == \
            ["1,234", "1.2万", "340.0万", "2.5亿", "-5.0万"]
        assert [f.fmt_pct(0.123), f.fmt_pct(0.1234, 1), f.fmt_num(12345.678, 1)] == ["12%", "12.3%", "12,345.7"]
        assert f.fmt_date(dt.date(2025, 12, 31)) == "2025年12月31日"
        assert f.fmt_date(pd.Timestamp("2025-03-07 10:00")) == "2025年3月7日"
        assert f.fmt_month(pd.Timestamp("2025-12-01")) == "2025年12月"
        assert [f.fmt_period("2026-Q2"), f.fmt_period("2026"), f.fmt_period("2026-05")] == \
            ["2026年第2季度", "2026年", "2026年5月"]
        assert [f.fmt_money(None), f.fmt_date(pd.NaT), f.fmt_pct(float("nan"))] == ["–", "–", "–"]
