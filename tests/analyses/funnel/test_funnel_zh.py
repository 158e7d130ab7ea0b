"""The funnel report in zh-CN on the hand-made pipeline of conftest.py: every card, sentence, table header,
label and figure text is Chinese; English output and the stored headline text stay as they were."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from salesbench import viz  # noqa: E402
from salesbench.analyses.funnel import plots, report  # noqa: E402
from salesbench.analyses.funnel.model import Funnel  # noqa: E402
from salesbench.core import i18n  # noqa: E402
from salesbench.report.results import Results  # noqa: E402
from zh_visible_text import english_words, has_cjk, visible_texts  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")  # the CJK font is set by the theme

VIEWS = ("conversion_view", "breakdown_view", "pooled_view", "lost_reasons_view", "cohorts_view", "durations_view",
         "cycle_view", "sla_view", "breaches_view", "stuck_view", "velocity_view", "coverage_view")


@pytest.fixture(scope="module")
def M(ds):
    return Funnel(as_of="2024-03-31", mature_days=0, target_metric="revenue", pooled_by=[]).fit(ds)


def _texts(M) -> list[str]:
    texts = visible_texts(report.headline_cards(M)) + report.sentences(M)
    for name in VIEWS:
        frame = getattr(report, name)(M)  # as the notebook shows it (the coverage table colours its status)
        status = "status" if "status" in frame.columns else None
        texts += visible_texts(report.show_table(frame, max_rows=60, status_col=status))
    for name, (args, kwargs) in report.figure_inputs(M).items():
        ax = getattr(plots, name)(*args, **kwargs)
        texts += visible_texts(ax.figure)
        plt.close(ax.figure)
    return texts


def test_every_visible_word_is_chinese_in_zh_cn(M):
    with i18n.language("zh-CN"):
        texts = _texts(M)
        cards = {c["label"]: c for c in report.headline_cards(M)}
    assert english_words(texts, allowed={"North", "South"}) == []  # region names as the data has them
    assert list(cards) == ["赢单率（赢单 ÷ 已关闭）", "最大流失环节", "SLA 超时：需求确认", "停滞的未关闭商机", "管道覆盖率"]
    assert cards["最大流失环节"]["value"] == "初步接触 → 需求确认"
    assert cards["最大流失环节"]["sub"] == "2 个商机流失（占到达该环节商机的 33%）"
    joined = " ".join(texts)
    for header in ("起始阶段", "转化率（全部同期群）", "输单原因", "阶段停留天数", "覆盖率"):
        assert f" {header} " in joined


def test_views_keep_their_columns_and_show_table_translates_the_headers(M):
    """One way to translate headers, as in the other reports: a view keeps its English column names in every
    language (the cells are translated), and show_table(headers=) shows them in the report's language; the
    coverage status is worded and coloured from its raw value."""
    with i18n.language("zh-CN"):
        conversion, coverage = report.conversion_view(M), report.coverage_view(M)
        assert list(conversion.columns) == list(report.conversion_view(M).columns)[:9] == [
            "from", "to", "reached", "advanced", "lost here", "still open", "conversion", "cumulative",
            "conversion (all cohorts)"]
        assert conversion["to"].iloc[1] == "需求确认" and list(coverage.columns)[-1] == "status"
        conversion_html = report.show_table(conversion)._repr_html_()
        coverage_html = report.show_table(coverage, status_col="status")._repr_html_()
    assert "<th>起始阶段</th>" in conversion_html and "<th>转化率（全部同期群）</th>" in conversion_html
    assert ">from<" not in conversion_html and ">status<" not in coverage_html
    assert "<th>状态</th>" in coverage_html and coverage["status"].iloc[-1] == "amber"
    assert f'background:{viz.status_color("amber")};color:#fff;font-weight:600">黄灯</td>' in coverage_html
    english = report.show_table(report.coverage_view(M), status_col="status")._repr_html_()
    assert str(viz.show_table(report.coverage_view(M), status_col="status")) == str(english)  # English: the names
    assert "<th>weighted pipeline</th>" in english and ">amber</td>" in english


def test_unknown_stages_sentence_in_chinese_names_the_data_and_the_parameter(M):
    with i18n.language("zh-CN"):
        sentence = report.unknown_stage_sentence(M)
    assert sentence.startswith("stage_history 中有 1 行的阶段不在漏斗阶段之内，已被忽略：“qualified”（1 行）。 如需计入")
    M.deals_.unknown_stages["proposal2"] = 3  # two unknown names: the other template, a list in Chinese
    try:
        with i18n.language("zh-CN"):
            two = report.unknown_stage_sentence(M)
        english = report.unknown_stage_sentence(M)
    finally:
        del M.deals_.unknown_stages["proposal2"]
    assert two.startswith("stage_history 中有 4 行涉及 2 个不在漏斗阶段之内的阶段，已被忽略：“qualified”（1 行）、“proposal2”（3 行）。")
    assert english.startswith("4 stage_history rows name 2 stages that are not in the funnel's stages and were ignored: "
                              "'qualified' (1 row), 'proposal2' (3 rows). To count them, add them in funnel order")
    # left in English: the table and parameter names, the unknown names as the data has them, the stage order
    # as the parameter takes it
    allowed = {"stage", "history", "qualified", "stages", "params", "funnel", "yaml", *M.deals_.stages,
               "needs", "confirmed"}
    assert english_words([sentence], allowed) == []


def test_no_pooling_sentence_in_chinese_names_the_parameter(M):
    with i18n.language("zh-CN"):
        texts = visible_texts(report.show_rep_shrinkage(M))
    assert english_words(texts, allowed={"pooled", "rep"}) == []  # the parameter pooled_by and its value rep_id
    assert "未对销售代表赢单率做收缩：参数 pooled_by 中没有 rep_id。" in texts[0]


def test_english_is_unchanged_and_the_stored_headline_stays_english(M, tmp_path):
    before = (report.headline_cards(M), report.sentences(M), report.unknown_stage_sentence(M),
              report.conversion_view(M), report.sla_view(M), report.breaches_view(M))
    with i18n.language("zh-CN"):
        assert all(has_cjk(s) for s in report.sentences(M))
        res = Results("funnel", tmp_path)
        report.publish(M, res)
    after = (report.headline_cards(M), report.sentences(M), report.unknown_stage_sentence(M),
             report.conversion_view(M), report.sla_view(M), report.breaches_view(M))
    assert before[:3] == after[:3] and all(a.equals(b) for a, b in zip(before[3:], after[3:]))
    assert before[2].startswith("1 stage_history row names a stage that is not in the funnel's stages and was "
                                "ignored: 'qualified' (1 row). To count them, add them")
    assert list(before[3].columns)[:3] == ["from", "to", "reached"] and before[3]["to"].iloc[1] == "needs_confirmed"
    assert set(before[4]["level"]) >= {"company", "team"} and before[5]["rule"].iloc[0] == "contact->needs_confirmed"
    leak = [h for h in res.headlines if h["label"] == "Biggest leak"][0]  # the key stays English
    assert leak["text"] == "初步接触 → 需求确认：流失 33%" and leak["shown_label"] == "最大流失环节"  # as the index shows it
    with i18n.language("en"):
        res_en = Results("funnel", tmp_path / "en")
        report.publish(M, res_en)
    leak_en = [h for h in res_en.headlines if h["label"] == "Biggest leak"][0]
    assert leak_en == {"label": "Biggest leak", "value": leak["value"], "text": "contact → needs confirmed: 33% lost"}
