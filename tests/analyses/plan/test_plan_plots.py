"""The plan's figures draw what their frames hold."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from salesbench import viz  # noqa: E402
from salesbench.analyses.plan import plots  # noqa: E402


def test_waterfall_steps_stack_from_last_period_to_the_target():
    steps = pd.DataFrame({"label": ["2025", "East", "West", "2026 target"], "value": [100.0, 8.0, -3.0, 105.0]})
    ax = plots.plot_waterfall(steps)
    bars = ax.patches
    assert len(bars) == 4
    assert [(b.get_y(), b.get_height()) for b in bars] == [(0, 100), (100, 8), (105, 3), (0, 105)]
    assert matplotlib.colors.to_hex(bars[2].get_facecolor()) == viz.STATUS["red"].lower()
    plt.close(ax.figure)


def test_month_profile_one_panel_per_unit():
    frame = pd.DataFrame({"key": ["A"] * 3 + ["B"] * 3, "month": ["2026-01", "2026-02", "2026-03"] * 2,
                          "target": [1.0, 2, 3, 4, 5, 6], "last_year": [1.0, 1, 1, 2, 2, 2]})
    ax = plots.plot_month_profile(frame)
    # the theme may put titles on the left (axes.titlelocation), so read every title position
    titles = ["".join(a.get_title(loc) for loc in ("left", "center", "right")) for a in ax.figure.axes]
    assert titles == ["A", "B"] and len(ax.lines) == 2
    plt.close(ax.figure)


def test_reach_distribution_counts_and_colours():
    pieces = pd.DataFrame({"prob_reach": [0.05, 0.1, 0.42, 0.9]})
    ax = plots.plot_reach_distribution(pieces, lines={"red": 0.3, "amber": 0.5})
    heights = [b.get_height() for b in ax.patches]
    assert len(heights) == 20 and sum(heights) == 4
    colours = {matplotlib.colors.to_hex(b.get_facecolor()) for b in ax.patches if b.get_height()}
    assert colours == {viz.STATUS[c].lower() for c in ("red", "amber", "green")}
    plt.close(ax.figure)


def test_waterfall_has_a_title_and_a_money_label_in_both_languages():
    from salesbench.core import i18n

    steps = pd.DataFrame({"label": ["2025", "East", "2026 target"], "value": [100.0, 8.0, 108.0]})
    ax = plots.plot_waterfall(steps)
    assert ax.get_title() == "From last period's revenue to the target: the change in each region"
    assert ax.get_ylabel() == "Revenue in the period"
    plt.close(ax.figure)
    with i18n.language("zh-CN"):
        ax = plots.plot_waterfall(steps)
    assert ax.get_title() == "从上一期销售额到目标：各区域的变化" and ax.get_ylabel() == "期间销售额"
    plt.close(ax.figure)
