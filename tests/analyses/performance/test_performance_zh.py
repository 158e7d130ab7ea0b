"""The performance review in Chinese (#15): every word the report writes is Chinese, the machine-read
outputs (results notes, the feedback and relationships tables) stay English, and English output is unchanged."""
from __future__ import annotations

import datetime as dt

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import salesbench as sb  # noqa: E402
from salesbench.analyses.performance import model as pf  # noqa: E402
from salesbench.analyses.performance import plots, report  # noqa: E402
from salesbench.core import i18n  # noqa: E402
from salesbench.core.errors import ReportSkipped  # noqa: E402
from zh_visible_text import english_words, visible_texts  # noqa: E402

D = dt.date
#: Latin words a Chinese report keeps: acronyms, units, method names, parameter syntax, file/column names
ALLOWED = {"KPI", "KPIs", "CSAT", "NPS", "Spearman", "CSV", "rep_id", "period", "month", "product_id", "quantity",
           "orders", "products"}


def _everything(rv) -> list[str]:
    """The cards, sentences, tables, feedback, notes and figure texts of the report, as shown."""
    out = []
    for c in report.headline_cards(rv):
        out += [c["label"], c.get("sub") or "", c["value"]]
    out += report.sentences(rv) + report.method_notes(rv)
    out += [report.scorecard_view(rv).markup, report.warning_view(rv).markup, report.feedback_blocks(rv).markup,
            report.relationship_readings(rv).markup]
    out += [report.level_view(rv, lv).markup for lv in ("region", "team")]
    out += [report.pvm_table(pvm).markup + title + base for title, pvm, base, _cur in report.pvm_views(rv)]
    for name, (args, kwargs) in report.figure_inputs(rv).items():
        ax = getattr(plots, name)(*args, **kwargs)
        out += visible_texts(ax)
        plt.close(ax.figure)
    return out


def _review_zh(frames):
    """The tiny company's review fitted in Chinese, with one order dated in the future (a note)."""
    future = frames["orders"].iloc[[0]].assign(order_id="O9", order_date=dt.date.today() + dt.timedelta(days=30))
    frames["orders"] = pd.concat([frames["orders"], future], ignore_index=True)
    with i18n.language("zh-CN"):
        return pf.PerformanceReview(as_of=D(2025, 3, 31), trend_periods=2).fit(sb.Dataset.from_frames(frames))


DATA_WORDS = {"Ann", "Bob", "Widgets", "Gadgets", "North", "South"}


def test_a_chinese_review_speaks_chinese_and_exports_english(make_frames, tiny_review):
    """Every word of the report is Chinese; feedback.csv, relationships.csv and results.json notes are machine-read:
    the same English words as an English run (one fit in Chinese serves both checks)."""
    review_zh = _review_zh(make_frames())
    with i18n.language("zh-CN"):
        texts = _everything(review_zh)
        assert review_zh.notes_text()  # the future order is noted
    assert english_words(texts, ALLOWED | DATA_WORDS) == []
    joined = "\n".join(texts)
    for words in ("销售额", "目标", "预警线", "销售代表", "回款率", "红灯", "2025年第1季度", "优势", "短板", "注："):
        assert words in joined
    assert "已忽略 1 条日期在未来（今天之后）的订单明细" in joined

    zh_feedback, en_feedback = report.feedback_frame(review_zh), report.feedback_frame(tiny_review)
    assert en_feedback["trend"].iloc[0].startswith("Score by period: 2024-Q4 ")
    pd.testing.assert_frame_equal(zh_feedback, en_feedback)
    pd.testing.assert_frame_equal(review_zh.relationships_, tiny_review.relationships_)
    notes = review_zh.results()["notes"]
    assert notes[0] == "1 order line dated in the future (after today) was ignored"
    assert notes[1:] == tiny_review.results()["notes"]


def test_english_output_is_unchanged(tiny_review):
    """The English words the report wrote before the catalogs (pinned here as the reader saw them)."""
    cards = report.headline_cards(tiny_review)
    assert [c["label"] for c in cards] == ["Revenue 2025-Q1", "Growth vs 2024-Q1", "Gross margin",
                                           "Reps below a warning line", "Collection rate"]
    s = report.sentences(tiny_review)
    assert s[0].startswith("The company booked 1.5k of revenue in 2025-Q1, 100% of its 1.5k target (green)")
    assert s[-1].startswith("3 of 3 reps are below a warning line (score or revenue attainment); ")
    notes = report.method_notes(tiny_review)
    assert notes[0] == ("Review period 2025-Q1 (2025-01-01 to 2025-03-31), compared with 2024-Q4 and 2024-Q1; "
                        "data up to 2025-03-31.")
    html = report.feedback_blocks(tiny_review).markup
    assert "<p><b>Strengths</b></p>" in html and "<p><b>Gaps</b></p>" in html
    assert "<th>Region</th><th>Revenue</th><th>Target</th><th>Attainment</th>" in report.level_view(tiny_review,
                                                                                                   "region").markup
    fb = tiny_review.feedback_[0]
    assert fb["summary"].startswith(f"{fb['name']} ({fb['rep_id']}): score ")
    ax = plots.plot_overview(*report.figure_inputs(tiny_review)["plot_overview"][0],
                             **report.figure_inputs(tiny_review)["plot_overview"][1])
    assert ax.get_title() == "Revenue attainment per rep, 2025-Q1"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["red line 80%", "amber line 95%", "target"]
    plt.close(ax.figure)
    assert english_words(_everything(tiny_review), ALLOWED | DATA_WORDS)  # and the check does see English


def test_skip_reason_in_the_reports_language(tiny):
    ds = tiny
    with i18n.language("zh-CN"), pytest.raises(ReportSkipped) as err:
        pf.PerformanceReview(period="year", as_of=D(2024, 6, 30)).fit(ds)
    assert err.value.reason.startswith("尚无完整年度的订单：在 2024年6月30日 或之前结束的最后一个完整年度是 2023年")
    assert "（可尝试 -p period=month）" in err.value.reason  # the English reason: tests/test_robustness.py
