"""The shared words (domain ``salesbench``) in Chinese, and unchanged in English: card badges, the table note,
excluded-row sentences, data-quality findings, skip reasons, data labels, the index page."""
from __future__ import annotations

import datetime as _dt
import re

import pandas as pd
import pytest

from salesbench import viz
from salesbench.core import i18n, validate
from salesbench.core.dataset import Dataset, exclusion_sentence, reason_text
from salesbench.report import index, params, plan, render
from zh_visible_text import english_words, page_english_words

CJK = re.compile(r"[\u3400-\u9fff]")


def test_card_badges_and_table_note_follow_the_language():
    cards = [{"label": "收入", "value": "1.2万", "status": "amber"}, {"label": "x", "value": "1", "status": "green"}]
    frame = pd.DataFrame({"a": range(40)})
    en = str(viz.headline(cards)) + str(viz.show_table(frame, max_rows=5))
    assert '<span class="b">amber</span>' in en and '<span class="b">green</span>' in en
    assert '<p class="s">Showing 5 of 40 rows; the full table is in the exported CSV.</p>' in en
    with i18n.language("zh-CN"):
        zh = str(viz.headline(cards)) + str(viz.show_table(frame, max_rows=5))
    assert '<span class="b">黄灯</span>' in zh and '<span class="b">绿灯</span>' in zh
    assert "仅显示 40 行中的 5 行；完整表格见导出的 CSV 文件。" in zh
    assert "--c:#E69F00" in zh  # the colour still comes from the raw status
    assert english_words([zh]) == []


@pytest.mark.parametrize("record, en, zh", [
    ({"table": "orders", "column": "revenue", "reason": "not a finite number (NaN or infinity)", "rows": 3,
      "examples": [2, 3, 4]},
     "3 orders rows left out: revenue not a finite number (NaN or infinity) (rows 2, 3, 4).",
     "orders 表中有 3 行被排除：revenue 不是有限数值（NaN 或无穷大）（第 2, 3, 4 行）。"),
    ({"table": "orders", "column": "order_date", "reason": "after today (2026-01-05), up to 2100-01-01", "rows": 1,
      "examples": [7]},
     "1 orders row left out: order_date after today (2026-01-05), up to 2100-01-01 (row 7).",
     "orders 表中有 1 行被排除：order_date 晚于今天（2026-01-05），最晚到 2100-01-01（第 7 行）。"),
    ({"table": "customers", "column": None, "reason": "exact copies of another row", "rows": 1234,
      "examples": [1, 2, 3, 4, 5]},
     "1,234 customers rows left out: exact copies of another row (rows 1, 2, 3, 4, 5, …).",
     "customers 表中有 1,234 行被排除：与另一行完全相同的副本（第 1, 2, 3, 4, 5, … 行）。"),
])
def test_excluded_row_sentences(record, en, zh):
    assert exclusion_sentence(record) == en
    with i18n.language("zh-CN"):
        assert exclusion_sentence(record) == zh


def test_excluded_rows_reasons_stay_english_in_results_and_read_chinese_in_reports():
    ds = Dataset.from_frames({"orders": pd.DataFrame({
        "customer_id": ["c1", "c2", "c3"], "order_date": ["2024-01-05", "2099-02-01", "2024-03-09"],
        "revenue": [10.5, float("nan"), 7.25]})})
    with i18n.language("zh-CN"):
        records = ds.exclusions()
        sentences = ds.exclusion_sentences()
    assert {r["reason"].split(" (")[0] for r in records} == {"empty or not a number", "after today"}
    assert all(CJK.search(s) for s in sentences), sentences
    assert english_words(sentences, {"revenue", "order_date", "orders", "NaN"}) == []
    assert reason_text("something else") == "something else"


def test_data_quality_findings_descriptions_and_verdict():
    ds = Dataset.from_frames({"orders": pd.DataFrame({
        "customer_id": ["c1", "c2"], "order_date": ["2024-01-05", "2024-02-01"], "revenue": [10.0, -3.0]})})
    report = validate.validate(ds, as_of=_dt.date(2025, 1, 1))
    descriptions = list(report.table()["description"])
    assert "order lines with zero or negative revenue" in descriptions
    assert report.verdict_text() == report.verdict() == "1 quality problem, 0 schema errors"
    with i18n.language("zh-CN"):
        shown = [validate.description_text(d) for d in descriptions]
        assert "销售额为零或负数的订单行" in shown
        assert report.verdict_text() == "1 个数据质量问题，0 个结构错误"
        assert validate.description_text("stored as int64, must be date") == "存储类型为 int64，应为日期"
        assert validate.description_text("revenue not a finite number (NaN or infinity) (rows left out)") == \
            "revenue 不是有限数值（NaN 或无穷大）（这些行已排除）"
        for check in validate.QUALITY_CHECKS:  # every quality check reads Chinese
            assert CJK.search(validate.description_text(check.description)), check.name
    assert list(report.table()["description"]) == descriptions  # the table (CSV) stays English


def _job(status, reason=None, lang="zh-CN"):
    p = params.Params("hello", {"data": "demo", "out_dir": ".", "lang": lang})
    job = plan.Job(1, "hello", "salesbench reports", p, "", "demo")
    job.status, job.reason, job.duration_s = status, reason, 1.25
    return job


def test_index_page_in_chinese_and_skip_reasons():
    meta = {"run_date": "2026-01-05 09:30 UTC", "run_at": _dt.datetime(2026, 1, 5, 9, 30), "duration_s": 12.3,
            "version": "1.2.3", "data": [{"label": "demo company (seed=1)", "fingerprint": "abc"}], "lang": "zh-CN"}
    ok = _job("ok")
    ok.headline = [{"label": "Contents", "value": 5, "text": "5"}]  # a label the report's catalog knows
    jobs = [ok, _job("skipped", "no opportunities table and no stage_history table"),
            _job("skipped", "orders has no rows (orders.csv)"), _job("skipped", "skipped by the notebook")]
    page = index.index_html(jobs, meta)
    assert '<html lang="zh-CN">' in page and "<title>salesbench 报告汇总 · 2026年1月5日 09:30 UTC</title>" in page
    assert "运行于 2026年1月5日 09:30 UTC · 共 4 份报告，耗时 12.3 秒 · salesbench 1.2.3" in page
    assert "已跳过：缺少 opportunities 表；缺少 stage_history 表" in page
    assert "已跳过：orders 表没有数据行（orders.csv）" in page and "已跳过：笔记本主动跳过" in page
    assert '<span class="hl">目录</span> 5' in page  # 'hello' has no catalog: the shared one answers
    assert "演示公司（seed=1）" in page and "1.2 秒" in page and "manifest.json</a>。</p>" in page
    assert page_english_words(page, {"hello", "opportunities", "orders", "seed", "abc"}) == []
    en = index.index_html(jobs, {**meta, "lang": "en"})
    assert '<html lang="en">' in en and not CJK.search(en)
    assert "skipped: no opportunities table and no stage_history table" in en
    assert '<span class="hl">Contents</span> 5' in en


def test_report_header_in_the_reports_language():
    src = {"label": "folder /data/sales", "fingerprint": "f00"}
    when = _dt.datetime(2026, 1, 5, 9, 30)
    header = render.report_header(_job("ok"), when, src, lambda s: s)
    assert header["lang"] == "zh-CN" and header["domain"] == "hello"
    assert header["title"] == "salesbench 报告汇总"  # 'hello' has no catalog: the shared one answers
    assert header["run_date"] == "2026年1月5日 09:30 UTC" and header["data_label"] == "文件夹 /data/sales"
    en = render.report_header(_job("ok", lang="en"), when, src, lambda s: s)
    assert (en["title"], en["run_date"], en["data_label"]) == ("salesbench reports", "2026-01-05 09:30 UTC",
                                                               "folder /data/sales")
    assert i18n.get_language() == "en"
