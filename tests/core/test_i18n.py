"""The language machinery: catalogs compiled from .po, fallbacks, plurals, contexts, fields, markdown cells."""
from __future__ import annotations

import pytest

from salesbench.core import i18n

PO = r'''
msgid ""
msgstr ""
"Language: zh_CN\n"
"Plural-Forms: nplurals=1; plural=0;\n"
"Content-Type: text/plain; charset=utf-8\n"

msgid "As of {date}, {n} customers bought."
msgstr "截至{date}，共有{n}位客户购买。"

msgid "{n} customer"
msgid_plural "{n} customers"
msgstr[0] "{n}位客户"

msgctxt "segment"
msgid "Champions"
msgstr "重要价值客户"

msgid "Method"
msgstr "方法"

msgid "RFM quintiles, 5 = best."
msgstr "RFM 五分位，5 为最好。"

#, fuzzy
msgid "Unchecked"
msgstr "未校对"
'''

SHARED_PO = r'''
msgid ""
msgstr ""
"Language: zh_CN\n"
"Content-Type: text/plain; charset=utf-8\n"

msgid "green"
msgstr "绿"
'''


@pytest.fixture
def catalogs(tmp_path, monkeypatch):
    folder = tmp_path / "zh_CN" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "demo_domain.po").write_text(PO, encoding="utf-8")
    (folder / "salesbench.po").write_text(SHARED_PO, encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n._catalog.cache_clear()
    yield i18n.Messages("demo_domain")
    i18n._catalog.cache_clear()


def test_normalize_accepts_the_usual_spellings_and_names_the_choices():
    assert [i18n.normalize(x) for x in ("zh_CN", "zh-cn", "zh", "ZH-Hans", None, "", "en-US")] == \
        ["zh-CN", "zh-CN", "zh-CN", "zh-CN", "en", "en", "en"]
    with pytest.raises(ValueError, match="unknown language 'fr'.*en, zh-CN"):
        i18n.normalize("fr")


def test_english_is_the_message_itself_with_fields_filled(catalogs):
    _, ngettext, pgettext = catalogs.functions()
    with i18n.language("en"):
        assert _("As of {date}, {n} customers bought.", date="2025-12-31", n="1,204") == \
            "As of 2025-12-31, 1,204 customers bought."
        assert ngettext("{n} customer", "{n} customers", 1, n="1") == "1 customer"
        assert ngettext("{n} customer", "{n} customers", 2, n="2") == "2 customers"
        assert pgettext("segment", "Champions") == "Champions"
        assert catalogs.label("segment", "Champions") == "Champions"


def test_chinese_sentences_plurals_contexts_and_fallbacks(catalogs):
    _, ngettext, pgettext = catalogs.functions()
    with i18n.language("zh-CN"):
        assert _("As of {date}, {n} customers bought.", date="2025年12月31日", n="1,204") == \
            "截至2025年12月31日，共有1,204位客户购买。"
        assert ngettext("{n} customer", "{n} customers", 1, n="1") == "1位客户"
        assert ngettext("{n} customer", "{n} customers", 7, n="7") == "7位客户"
        assert pgettext("segment", "Champions") == "重要价值客户"
        assert _("Champions") == "Champions"  # the context is part of the key
        assert catalogs.label("segment", "Champions") == "重要价值客户"
        assert catalogs.label("segment", "Acme Corp") == "Acme Corp"  # data values without a message stay
        assert catalogs.label("segment", 3) == 3
        assert _("green") == "绿"  # falls back to the shared domain
        assert _("Unchecked") == "Unchecked"  # fuzzy translations are not used
        assert _("no {such} message", such="x") == "no x message"
    assert i18n.get_language() == "en"  # restored after the block


def test_braces_are_left_alone_without_fields(catalogs):
    _, _n, _p = catalogs.functions()
    assert _("a {literal} brace") == "a {literal} brace"


def test_markdown_cells_are_translated_paragraph_by_paragraph(catalogs):
    cell = "## Method\n\nRFM quintiles, 5 = best.\n\nA paragraph nobody translated."
    assert i18n.markdown_messages(cell) == ["Method", "RFM quintiles, 5 = best.", "A paragraph nobody translated."]
    with i18n.language("zh-CN"):
        assert i18n.translate_markdown(cell, "demo_domain") == \
            "## 方法\n\nRFM 五分位，5 为最好。\n\nA paragraph nobody translated."
    assert i18n.translate_markdown(cell, "demo_domain") == cell


def test_domain_of_a_module():
    assert i18n.domain_of("salesbench.analyses.funnel.report") == "funnel"
    assert i18n.domain_of("salesbench.analyses.base") == "salesbench"
    assert i18n.domain_of("salesbench.viz.display") == "salesbench"
    assert i18n.messages("salesbench.analyses.churn.plots").domain == "churn"
