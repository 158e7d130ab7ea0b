"""Every message a reader can see is in the catalogs and translated (``salesbench catalogs --check``)."""
from __future__ import annotations

import pytest

from salesbench.core import i18n
from salesbench.report import catalogs


@pytest.mark.parametrize("lang", catalogs.TRANSLATED)
@pytest.mark.parametrize("domain", catalogs.domains())
def test_catalog_is_complete_and_translated(lang, domain):
    found = catalogs.problems(lang, domain)
    assert found == [], "\n".join(found[:20]) + f"\n({len(found)} problems; run `salesbench catalogs`, then translate)"


def test_the_check_catches_missing_untranslated_and_mismatched_fields(tmp_path, monkeypatch):
    pkg = tmp_path / "salesbench"
    (pkg / "analyses" / "toy").mkdir(parents=True)
    (pkg / "analyses" / "toy" / "__init__.py").write_text("")
    (pkg / "analyses" / "toy" / "report.py").write_text(
        "from salesbench.core.i18n import messages\n_, ngettext, pgettext = messages(__name__).functions()\n"
        "A = _('Revenue grew {pct}.', pct='5%')\nB = pgettext('tier', 'Gold')\nC = _('Brand new')\n")
    locale = pkg / "locale"
    monkeypatch.setattr(catalogs, "PACKAGE", pkg)
    monkeypatch.setattr(catalogs, "REPO", tmp_path)
    monkeypatch.setattr(i18n, "LOCALE_DIR", locale)
    catalogs.update("zh-CN", "toy")
    po = i18n.catalog_path("toy", "zh-CN")
    text = po.read_text(encoding="utf-8")
    assert 'msgctxt "tier"' in text and 'msgid "Revenue grew {pct}."' in text
    text = text.replace('msgid "Revenue grew {pct}."\nmsgstr ""', 'msgid "Revenue grew {pct}."\nmsgstr "收入增长{percent}。"')
    text = text.replace('msgid "Gold"\nmsgstr ""', 'msgid "Gold"\nmsgstr "金牌"')
    po.write_text(text, encoding="utf-8")
    (pkg / "analyses" / "toy" / "report.py").write_text(
        (pkg / "analyses" / "toy" / "report.py").read_text() + "D = _('Added later')\n")
    found = "\n".join(catalogs.problems("zh-CN", "toy"))
    assert "'Revenue grew {pct}.': the translation uses fields ['percent'], the message ['pct']" in found
    assert "'Brand new' from salesbench/analyses/toy/report.py:5 is not translated" in found
    assert "'Added later' from salesbench/analyses/toy/report.py:6 is missing" in found
    assert "Gold" not in found
    assert catalogs.main(type("A", (), {"check": True, "lang": ["zh-CN"]})()) == 1
