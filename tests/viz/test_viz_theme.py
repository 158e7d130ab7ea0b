"""viz.theme and viz.axes: the report look, literal text, axis formatters, the interval plot."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from salesbench.viz.axes import interval_plot, money_axis, pct_axis  # noqa: E402
from salesbench.viz.palette import ACCENT, PALETTE  # noqa: E402
from salesbench.viz.theme import SEQUENTIAL, apply_theme, finish  # noqa: E402


def test_apply_theme_draws_data_text_literally():
    apply_theme()
    rc = matplotlib.rcParams
    assert rc["text.parse_math"] is False and rc["text.usetex"] is False
    assert rc["axes.titlelocation"] == "left" and rc["axes.spines.top"] is False
    assert matplotlib.colors.to_hex(rc["axes.prop_cycle"].by_key()["color"][0]).upper() == PALETTE[0]
    fig, ax = plt.subplots()
    ax.set_title("$x^$ Region")  # would fail as mathtext
    fig.canvas.draw()
    plt.close(fig)


def test_finish_sets_the_title():
    fig, ax = plt.subplots()
    assert finish(fig, title="Revenue") is fig
    assert fig._suptitle.get_text() == "Revenue"
    plt.close(fig)


def test_axis_formatters():
    fig, ax = plt.subplots()
    assert money_axis(ax) is ax and ax.yaxis.get_major_formatter()(1500, 0) == "1.5k"
    assert pct_axis(ax, axis="x") is ax and ax.xaxis.get_major_formatter()(0.25, 0) == "25%"
    plt.close(fig)


def test_interval_plot_draws_one_row_per_item():
    fig, ax = plt.subplots()
    frame = pd.DataFrame({"rep": ["a", "b"], "m": [0.3, 0.5], "lo": [0.2, 0.4], "hi": [0.4, 0.7]})
    assert interval_plot(frame, "rep", "m", "lo", "hi", ax=ax, reference=0.4) is ax
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert len(ax.lines) >= 2  # the points and the reference line
    plt.close(fig)


def test_sequential_colormap_ends_at_the_accent():
    assert matplotlib.colors.to_hex(SEQUENTIAL(1.0)).upper() == ACCENT
