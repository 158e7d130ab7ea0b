"""salesbench.core.said: a sentence stored in English and shown in the report's language."""
from __future__ import annotations

import copy
import json
import pickle
from types import SimpleNamespace

import pandas as pd

from salesbench.analyses.churn import choice, warning
from salesbench.core import i18n, validate
from salesbench.core.said import Said, compile_templates, retranslate, shown


def test_a_said_made_in_chinese_is_english_as_a_str_and_chinese_when_shown():
    with i18n.language("zh-CN"):
        no_tables = SimpleNamespace(has=lambda table: False)
        why = warning.fit_early_warning(no_tables, pd.Timestamp("2025-06-30"), pd.Timestamp("2020-01-01"),
                                        enabled=False)[1]
        assert isinstance(why, Said)
        assert why == "The early-warning model was switched off (early_warning = false)."
        assert json.dumps({"skipped": why}) == '{"skipped": "The early-warning model was switched off (early_warning = false)."}'
        assert shown(why) == "流失预警模型已关闭（early_warning = false）。"
    assert shown(why) == str(why)  # back in English


def test_nested_sentences_and_callable_fields_follow_the_language_they_are_shown_in():
    rfm = pd.DataFrame({"frequency": [0, 2]})
    with i18n.language("zh-CN"):
        when = Said(choice.__name__, i18n.N_(" before {date}"), date=choice._date(pd.Timestamp("2025-06-30")))
        problem = choice.data_problem(rfm, when)
        assert problem == ("the churn models need at least 10 customers, 3 of them with purchases on more than one day "
                           "before 2025-06-30; this data has 2 customers and 1 with a repeat purchase")
        assert shown(problem) == ("流失模型至少需要 10 位客户，其中 3 位2025年6月30日之前在不止一天有过购买；"
                                  "这份数据只有 2 位客户，其中 1 位有复购")
    one = choice.data_problem(rfm.iloc[:1])
    assert one.endswith("this data has 1 customer and 0 with a repeat purchase")


def test_a_copy_or_pickle_is_the_stored_english_text():
    s = Said(choice.__name__, i18n.N_("Model set by the parameters: {model}."), model="bg_nbd")
    assert pickle.loads(pickle.dumps(s)) == "Model set by the parameters: bg_nbd."
    assert copy.deepcopy(s) == s and shown("plain text") == "plain text"


def test_text_read_back_from_a_file_is_shown_as_the_said_it_was_made_as():
    """One way to show stored English: retranslate finds the template a plain str was made from and shows it as
    that Said (same values; a field's translator runs in the language shown); other text stays as it is."""
    templates = compile_templates([i18n.N_("after today ({today})"), i18n.N_("stored as {have}, must be {want}")])
    with i18n.language("zh-CN"):
        made = Said("salesbench", i18n.N_("stored as {have}, must be {want}"), have="int64",
                    want=lambda: validate.type_word("date"))
        stored = json.loads(json.dumps({"description": made}))["description"]  # a plain str, as a report reads it
        assert type(stored) is str and stored == "stored as int64, must be date"
        assert retranslate(stored, templates, fields={"want": validate.type_word}) == shown(made) == \
            "存储类型为 int64，应为日期"
        assert retranslate("after today (2026-01-05)", templates) == "晚于今天（2026-01-05）"
        assert retranslate("something else", templates) == "something else"
    assert retranslate(stored, templates, fields={"want": validate.type_word}) == stored  # English: as stored
