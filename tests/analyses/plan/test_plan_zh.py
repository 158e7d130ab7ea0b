"""The sales plan in Chinese (#15): every word the report writes is Chinese, results.json and the CSV tables
stay English, English output is unchanged. Uses the plan fitted once in conftest.py (no extra fit)."""
from __future__ import annotations

import copy
import datetime as dt
import json
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from salesbench.analyses.plan import plots, report  # noqa: E402
from salesbench.analyses.plan.model import SalesPlan  # noqa: E402
from salesbench.core import i18n  # noqa: E402
from salesbench.core.errors import ReportSkipped  # noqa: E402
from salesbench.io.sources import open_data  # noqa: E402
from salesbench.report.results import Results  # noqa: E402
from zh_visible_text import english_words, visible_texts  # noqa: E402

#: Latin words a Chinese report keeps: the method's name, file and parameter names
ALLOWED = {"Brier", "docs", "plan", "targets", "csv", "month_weights", "as_of", "product_line", "product_lines",
           "false", "products"}


def _views(M) -> list[pd.DataFrame]:
    return [report.tree_view(M), report.at_risk_view(M), report.lines_view(M), report.month_view(M),
            report.reliability_view(M)]


def _everything(M) -> list[str]:
    """Cards, sentences, table headers and cells (but the raw ``status`` column), figure texts, as shown."""
    out = []
    for c in report.headline_cards(M):
        out += [c["label"], c["value"]]
    out += report.sentences(M) + report.risk_sentences(M) + report.backtest_sentences(M)
    for v in _views(M):
        shown = v.drop(columns=["status"], errors="ignore")  # status: raw words, coloured by viz.show_table
        out += list(shown.columns) + [str(x) for x in shown.to_numpy().ravel()]
    for name, (args, kwargs) in report.figure_inputs(M).items():
        ax = getattr(plots, name)(*args, **kwargs)
        out += visible_texts(ax)
        plt.close(ax.figure)
    return out


def _data_words(M) -> set[str]:
    names = list(M.tree_["key"]) + list(M.tree_["parent"].dropna())
    if M.lines_ is not None:
        names += list(M.lines_["product_line"])
    return {w for n in names for w in re.findall(r"[A-Za-z][A-Za-z_]{2,}", str(n))} - {"company"}


def test_every_word_of_the_plan_is_chinese(plan):
    with i18n.language("zh-CN"):
        texts = _everything(plan)
    assert english_words(texts, ALLOWED | _data_words(plan)) == []
    joined = "\n".join(texts)
    for words in ("2025年目标", "达成概率", "销售代表", "增长率", "2024年1月..2024年12月", "2024年12月31日", "区域", "公司"):
        assert words in joined, words


def test_results_and_tables_stay_english_in_a_chinese_run(plan, tmp_path, monkeypatch):
    made = []  # the cards: made once shown and once in English for the keys; once in an English run
    monkeypatch.setattr(report, "headline_cards", lambda m, cards=report.headline_cards: made.append(i18n.get_language())
                        or cards(m))
    with i18n.language("zh-CN"):
        report.publish(plan, Results("plan", tmp_path))
    assert sorted(made) == ["en", "zh-CN"]
    report.publish(plan, Results("plan", tmp_path / "en"))
    assert made[2:] == ["en"]
    saved = json.loads((tmp_path / "plan.results.json").read_text())
    assert [h["label"] for h in saved["headline"]] == ["Target 2025", "Growth", "P(reach)", "Stretch over forecast"]
    with i18n.language("zh-CN"):  # the text is the value as the index page shows it, in the report's language
        assert saved["headline"][0]["text"] == report.viz.fmt_money(plan.company_["target"])
    assert saved["headline"][0]["text"].endswith("万")
    pieces = pd.read_csv(tmp_path / "plan.pieces.csv")
    assert set(pieces["level"]) == {"company", "region", "team", "rep"}
    assert set(pieces["status"]) <= {"green", "amber", "red"}


def test_english_output_is_unchanged(plan):
    assert list(report.tree_view(plan).columns) == ["level", "unit", "target", "last year", "forecast", "P(reach)",
                                                    "status"]
    assert list(report.reliability_view(plan).columns) == ["P(reach)", "pieces", "mean P(reach)", "share reached"]
    assert report.tree_view(plan)["unit"].iat[0] == "company"
    steps = report.waterfall_steps(plan)
    assert steps["label"].iat[0] == "2024-01..2024-12" and steps["label"].iat[-1] == "2025 target"
    s = report.sentences(plan)
    assert re.fullmatch(r"The 2025 target is [\d.]+M, the reps' live books: last period's revenue "
                        r"of the customers each rep carries into 2025, .* plus a year of new business like the last; "
                        r"against the [\d.]+M sold in 2024-01\.\.2024-12 \(plan made as of 31 Dec 2024\)\.", s[0]), s[0]
    stretched = copy.copy(plan)
    stretched.growth = 0.05   # wording only: with a stretch the sentence names it and the books' amount
    assert re.fullmatch(r"The 2025 target is [\d.]+M: 5\.0% over the reps' live books \([\d.]+M: last period's revenue "
                        r"of the customers each rep carries into 2025, .* plus a year of new business like the last\), "
                        r"against the [\d.]+M sold in 2024-01\.\.2024-12 \(plan made as of 31 Dec 2024\)\.",
                        report.sentences(stretched)[0])
    assert plan.company_["stretch"] < 0   # the small demo's books are below its (high-running) forecast
    assert re.fullmatch(r"The forecast for 2025 is [\d.]+M \(80% interval [\d.]+M–[\d.]+M\); the target is [\d.]+% "
                        r"below it, so the company reaches it with probability \d+%\.", s[1]), s[1]
    assert re.fullmatch(r"Of the 40 rep targets, \d+ are green, \d+ amber and \d+ red \(P\(reach\) below 30% is red, "
                        r"below 50% amber\)\.", s[2])
    assert report.backtest_sentences(plan)[1].startswith("Across the 40 rep targets the median attainment is ")
    assert list(report.month_profile_frame(plan)["month"].iloc[:2]) == ["2025-01", "2025-02"]
    assert english_words(_everything(plan), ALLOWED | _data_words(plan))  # the check does see English


def test_skip_reason_in_the_reports_language(small_demo):
    with i18n.language("zh-CN"), pytest.raises(ReportSkipped) as err:
        SalesPlan(as_of=dt.date(2023, 6, 30)).fit(open_data(small_demo))
    assert err.value.reason.startswith("订单未覆盖完整的上一期 2023年1月..2023年12月")
