"""The data-quality report in zh-CN: verdict, cards, sentences, findings, exclusions, headers and figure texts are
Chinese (table and column names stay: they say what to fix); English output and the results stay as they were."""
from __future__ import annotations

import datetime as dt
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import salesbench as sb  # noqa: E402
from salesbench.analyses.data_quality import model, plots, report  # noqa: E402
from salesbench.core import i18n, schema  # noqa: E402
from zh_visible_text import english_words, has_cjk, visible_texts  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")  # the CJK font is set by the theme

#: identifiers kept as they are: the data set's label, table and column names (what to fix in the data)
IDENTIFIERS = {"tiny", "NaN", "inf", *schema.TABLE_NAMES,
               *(w for t in schema.TABLE_NAMES for c in schema.table(t).column_names for w in re.split(r"_", c))}


@pytest.fixture(scope="module")
def M():
    orders = pd.DataFrame({
        "order_id": ["O1", "O2", "O3", "O4", "O5"], "line_no": [1, 1, 1, 1, 1],
        "customer_id": ["c1", None, "c2", "c3", "c4"],
        "order_date": [dt.date(2024, 1, 5), dt.date(2024, 3, 1), dt.date(2024, 4, 1), dt.date(2026, 2, 1),
                       dt.date(2024, 5, 1)],
        "revenue": [-1.0, 20.0, np.inf, 30.0, 40.0]})
    return model.DataQuality(as_of=dt.date(2025, 1, 1)).fit(sb.Dataset.from_frames({"orders": orders}, label="tiny"))


VIEWS = ("narrative_view", "findings_view", "examples_view", "overview_view", "coverage_view", "missing_view")


def _texts(M) -> list[str]:
    texts = visible_texts(report.headline_cards(M)) + report.sentences(M)
    for name in VIEWS:
        texts += visible_texts(getattr(report, name)(M))
    for name, (args, kwargs) in report.figure_inputs(M).items():
        ax = getattr(plots, name)(*args, **kwargs)
        texts += visible_texts(ax.figure)
        plt.close(ax.figure)
    return texts


def test_every_visible_word_is_chinese_in_zh_cn(M):
    assert {f.check for f in M.validation_.findings} >= {"null_key", "nonpositive_revenue", "future_order_dates",
                                                         "nonfinite_values"}
    with i18n.language("zh-CN"):
        texts = _texts(M)
        cards = report.headline_cards(M)
        said = report.sentences(M)
    # "table orders": the source of an in-memory table as Dataset.source_of names it (a file path for files)
    assert english_words(texts, IDENTIFIERS | {"table"}) == []
    assert cards[0]["label"] == "结论" and re.fullmatch(r"\d+ 个数据质量问题，1 个结构错误", cards[0]["value"])
    assert "1 个结构错误使数据在修复前无法使用：orders.customer_id 中的主键为空。" in said
    assert "orders 表中有 1 行被排除：revenue 不是有限数值（NaN 或无穷大）（第 3 行）。" in said
    joined = " ".join(texts)
    assert "销售额为零或负数的订单行" in joined and "主键为空 —— orders.customer_id（1 行）" in joined


def test_english_is_unchanged_and_results_stay_english(M):
    before = (report.headline_cards(M), report.sentences(M), report.findings_view(M).markup,
              report.examples_view(M).markup, report.coverage_view(M).markup)
    with i18n.language("zh-CN"):
        assert has_cjk(report.findings_view(M).markup)
        results = M.results()
    assert before == (report.headline_cards(M), report.sentences(M), report.findings_view(M).markup,
                      report.examples_view(M).markup, report.coverage_view(M).markup)
    assert before[0][0]["value"] == M.validation_.verdict() and results["verdict"] == M.validation_.verdict()
    assert "1 orders row left out: revenue not a finite number (NaN or infinity) (row 3)." in before[1]
    assert "null_key — orders.customer_id (1 rows)" in before[3] and "<td>2024-01-05</td>" in before[4]
