"""viz.theme and viz.axes: the report look, literal text, axis formatters, the interval plot."""
from __future__ import annotations

import logging
import re
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from salesbench.viz.axes import interval_plot, money_axis, pct_axis  # noqa: E402
from salesbench.viz.palette import ACCENT, PALETTE  # noqa: E402
from salesbench.viz.theme import (  # noqa: E402
    CJK_FONT, SEQUENTIAL, apply_theme, cjk_font_path, finish, is_cjk, register_cjk_font,
)


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


# --------------------------------------------------------------------------- CJK report languages
CN_TITLE, CN_AXIS, CN_LEGEND, CN_TICKS = "各区域销售额", "区域", "销售额（万元）", ["华北", "华南", "华东", "华西"]


def _chinese_figure():
    fig, ax = plt.subplots()
    ax.bar(CN_TICKS, [4, 3, 5, 2], label=CN_LEGEND)
    ax.set_title(CN_TITLE)
    ax.set_xlabel(CN_AXIS)
    ax.set_ylabel("金额")
    ax.legend()
    return fig, ax


@pytest.fixture
def restore_theme():
    yield
    apply_theme()  # the English theme again for the tests after


@pytest.mark.parametrize("lang, cjk", [("en", False), ("de", False), ("zh-CN", True), ("zh_TW", True), ("zh", True),
                                       ("ja", True), ("ko-KR", True), ("", False), (None, False), ("kok", False)])
def test_is_cjk(lang, cjk):
    assert is_cjk(lang) is cjk


def test_chinese_labels_draw_without_missing_glyphs_under_zh_cn(restore_theme):
    apply_theme(lang="zh-CN")
    assert matplotlib.rcParams["font.family"][-1] == CJK_FONT == register_cjk_font()
    assert matplotlib.rcParams["text.parse_math"] is False  # the rest of the theme is there too
    fig, _ax = _chinese_figure()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph 38144 (...) missing from font(s) DejaVu Sans." would raise
        fig.canvas.draw()
    plt.close(fig)


def test_the_same_figure_under_en_shows_missing_glyphs(restore_theme):
    apply_theme(lang="en")  # English output as before: no CJK font in the family list
    assert CJK_FONT not in matplotlib.rcParams["font.family"]
    fig, _ax = _chinese_figure()
    with pytest.warns(UserWarning, match=r"Glyph \d+ .* missing from font"):
        fig.canvas.draw()
    plt.close(fig)


def test_english_theme_is_unchanged_by_the_cjk_code(restore_theme):
    apply_theme()
    before = dict(matplotlib.rcParams)
    apply_theme(lang="zh-CN")
    apply_theme(lang="en")
    assert {k for k in before if before[k] != matplotlib.rcParams[k]} == set()


def _text_width(text: str, size: float = 20.0) -> float:
    """Width in pixels of ``text`` drawn at ``size`` points on a 100-dpi Agg canvas."""
    fig = plt.figure(dpi=100)
    t = fig.text(0, 0, text, fontsize=size)
    fig.canvas.draw()
    width = t.get_window_extent().width
    plt.close(fig)
    return width


def test_chinese_glyphs_are_drawn_one_em_wide_not_as_missing_glyph_boxes(restore_theme):
    label, n, size = "华东华北华南", 6, 20.0
    em = size * 100 / 72  # one em in pixels at 100 dpi (27.8 px)
    apply_theme(lang="en")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        box = _text_width("\ue000", size)  # a private-use character: the missing-glyph box of any font
        boxes = _text_width(label, size)
    assert boxes == pytest.approx(n * box)  # without the CJK font every character is that box
    apply_theme(lang="zh-CN")
    drawn = _text_width(label, size)
    # Noto Sans CJK advances every ideograph by exactly one em (1000 of 1000 units); Agg rounds to whole pixels
    assert abs(drawn - n * em) <= n, (drawn, n * em)
    assert abs(drawn - boxes) >= 2 * n, (drawn, boxes)  # measurably not the boxes
    # Latin text keeps the theme's Latin font under zh-CN
    latin = _text_width("Revenue 2025", size)
    apply_theme(lang="en")
    assert latin == pytest.approx(_text_width("Revenue 2025", size), rel=0.01)


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_chinese_figure_saves_with_only_the_used_glyphs(restore_theme, tmp_path, fmt):
    apply_theme(lang="zh-CN")
    fig, _ax = _chinese_figure()
    out = tmp_path / f"f.{fmt}"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig.savefig(out, format=fmt)
    plt.close(fig)
    size = out.stat().st_size
    assert 1_000 < size < 200_000, size  # the font file is 16 MB: a figure embeds (or traces) only its glyphs
    assert cjk_font_path().stat().st_size > 10_000_000
    if fmt == "svg":  # each glyph is traced once as a path: the distinct CJK characters of the figure, no more
        glyphs = set(re.findall(r'<path id="(NotoSansCJKsc-Regular-[0-9a-f]+)"', out.read_text(encoding="utf-8")))
        chars = set(CN_TITLE + CN_AXIS + CN_LEGEND + "".join(CN_TICKS) + "金额") - set("（）")
        assert 0 < len(glyphs) <= len(chars) + 2, (len(glyphs), len(chars))


def test_missing_font_package_is_named(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(FileNotFoundError, match="pip install mplfonts"):
        cjk_font_path()


def test_bold_titles_leave_no_font_weight_notice_in_the_output(restore_theme, caplog):
    from matplotlib import font_manager

    apply_theme(lang="zh-CN")
    logger = logging.getLogger("matplotlib.font_manager")
    notice = [f for f in logger.filters if type(f).__name__ == "_NoBoldNotice"]
    assert len(notice) == 1

    def bold_title_notices():
        font_manager.FontManager._findfont_cached.cache_clear()  # findfont logs once per font query
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="matplotlib.font_manager"):
            fig, ax = plt.subplots()
            ax.set_title("各区域销售额", fontweight="bold")
            fig.canvas.draw()
            plt.close(fig)
        return [r.getMessage() for r in caplog.records if "Failed to find font weight" in r.getMessage()]

    assert bold_title_notices() == []
    logger.removeFilter(notice[0])
    try:  # without the filter matplotlib says it (into every report's output)
        assert any(CJK_FONT in m for m in bold_title_notices())
    finally:
        logger.addFilter(notice[0])
