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
