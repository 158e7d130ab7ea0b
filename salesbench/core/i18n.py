"""The language of every word a reader sees: gettext catalogs read with Babel.

Languages: :data:`LANGUAGES` (``en``, the default, and ``zh-CN``). English is
the source language: the messages in the code *are* the English text, so an
English report needs no catalog and never changes when catalogs do.

Catalogs are gettext ``.po`` files, one per *domain*, under
``salesbench/locale/<ll_CC>/LC_MESSAGES/<domain>.po``: one domain per analysis
(``segmentation``, ``funnel``, …: the messages of
``salesbench/analyses/<name>/``, of ``notebooks/<name>.ipynb``'s markdown and
of ``params/<name>.yaml``'s title) and the shared domain ``salesbench`` for
everything else (viz, report, core). A domain falls back to the shared one,
then to the English message. They are compiled in memory on first use (no
``.mo`` build step). ``salesbench catalogs`` (:mod:`salesbench.report.catalogs`)
extracts the messages with Babel and updates the ``.po`` files; a test fails
when a message is missing from a catalog or left untranslated.

How a module marks its words (the names are the ones Babel extracts)::

    from salesbench.core.i18n import messages
    _, ngettext, pgettext = messages(__name__).functions()

    _("As of {date}, {n} customers bought.", date=d, n=fmt_num(n))    # whole sentence, named fields
    ngettext("{n} customer", "{n} customers", n, n=fmt_num(n))       # plural forms from the catalog
    pgettext("segment", "Champions")                                  # a label with its context
    N_("revenue_share")   # mark now, translate later with _(); NP_("column", "revenue_share") likewise

Placeholders are filled with :meth:`str.format` *after* translation, only when
keyword arguments are given, so translators can reorder them. Write whole
sentences (never glue translated fragments), and format numbers, money, dates
with :mod:`salesbench.viz.format`, which follows the language too.

The current language is process-wide state set once per report by
``sb.start`` (from the ``lang`` parameter); :func:`language` sets it for a
block (tests, the runner's index page).
"""
from __future__ import annotations

import contextlib
import functools
import gettext as _gettext
import io
from pathlib import Path
from typing import Any, Callable, Iterator

#: language code → its name in that language (the codes ``lang:`` accepts)
LANGUAGES: dict[str, str] = {"en": "English", "zh-CN": "简体中文"}
DEFAULT = "en"
#: the shared domain (viz, report, core, io)
SHARED = "salesbench"
#: where the catalogs live: <LOCALE_DIR>/<ll_CC>/LC_MESSAGES/<domain>.po
LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"
#: the keywords Babel extracts (Babel's defaults plus the deferred markers N_ and NP_)
KEYWORDS: dict[str, Any] = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2),
                            "npgettext": ((1, "c"), 2, 3), "N_": None, "NP_": ((1, "c"), 2)}

_current = DEFAULT


def normalize(lang: str | None) -> str:
    """``"zh_CN"``, ``"zh-cn"``, ``"zh"`` → ``"zh-CN"``; ``None``/``""`` → ``"en"``; anything else → ``ValueError``."""
    if lang is None or str(lang).strip() == "":
        return DEFAULT
    key = str(lang).strip().replace("_", "-").lower()
    aliases = {code.lower(): code for code in LANGUAGES}
    aliases.update({"zh": "zh-CN", "zh-hans": "zh-CN", "zh-hans-cn": "zh-CN", "en-us": "en", "en-gb": "en"})
    if key not in aliases:
        raise ValueError(f"unknown language {lang!r}; use one of {', '.join(LANGUAGES)}")
    return aliases[key]


def set_language(lang: str | None) -> str:
    """Make ``lang`` the language of every message from now on; returns the normalised code."""
    global _current
    _current = normalize(lang)
    return _current


def get_language() -> str:
    """The current language code (``"en"`` unless :func:`set_language` chose another)."""
    return _current


@contextlib.contextmanager
def language(lang: str | None) -> Iterator[str]:
    """``with language("zh-CN"): ...`` — the language for a block, restored afterwards."""
    before = _current
    code = set_language(lang)
    try:
        yield code
    finally:
        set_language(before)


def is_cjk(lang: str | None = None) -> bool:
    """True for Chinese, Japanese and Korean (figures need a CJK font, money uses 万/亿 in Chinese)."""
    code = normalize(lang) if lang is not None else _current
    return code.split("-")[0] in {"zh", "ja", "ko"}


def locale_dir_name(lang: str) -> str:
    """The catalog folder of a language: ``"zh-CN"`` → ``"zh_CN"``."""
    return normalize(lang).replace("-", "_")


def catalog_path(domain: str, lang: str) -> Path:
    return LOCALE_DIR / locale_dir_name(lang) / "LC_MESSAGES" / f"{domain}.po"


def domain_of(module: str) -> str:
    """The catalog domain of a module: ``salesbench.analyses.<name>.*`` → ``<name>``, anything else → ``salesbench``."""
    parts = module.split(".")
    if len(parts) >= 3 and parts[:2] == ["salesbench", "analyses"] and (LOCALE_DIR.parent / "analyses" / parts[2]).is_dir():
        return parts[2]
    return SHARED


@functools.lru_cache(maxsize=None)
def _catalog(domain: str, lang: str) -> _gettext.NullTranslations:
    """The compiled catalog of ``domain`` in ``lang``, falling back to the shared domain, then to English."""
    if lang == DEFAULT:
        return _gettext.NullTranslations()
    fallback = _catalog(SHARED, lang) if domain != SHARED else _gettext.NullTranslations()
    path = catalog_path(domain, lang)
    if not path.is_file():
        return fallback
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with path.open("rb") as f:
        catalog = read_po(f, locale=locale_dir_name(lang), domain=domain)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)  # fuzzy (unchecked) translations are not used
    buf.seek(0)
    translations = _gettext.GNUTranslations(buf)
    translations.add_fallback(fallback)
    return translations


def _fill(text: str, fields: dict[str, Any]) -> str:
    return text.format(**fields) if fields else text


def N_(msgid: str) -> str:
    """Mark ``msgid`` for extraction without translating it now (translate later with ``_``)."""
    return msgid


def NP_(context: str, msgid: str) -> str:
    """Mark ``msgid`` with a context for extraction without translating it now (later: ``pgettext``)."""
    return msgid


class Messages:
    """The messages of one domain, translated into the current language at call time."""

    def __init__(self, domain: str):
        self.domain = domain

    def _catalog(self) -> _gettext.NullTranslations:
        return _catalog(self.domain, _current)

    def gettext(self, msgid: str, /, **fields: Any) -> str:
        """``msgid`` in the current language, its ``{fields}`` filled."""
        return _fill(self._catalog().gettext(msgid), fields)

    def ngettext(self, singular: str, plural: str, n: int | float, /, **fields: Any) -> str:
        """The singular or plural form for ``n`` (the catalog's plural rule), its ``{fields}`` filled."""
        count = int(n) if n == n else 0  # NaN counts as plural
        return _fill(self._catalog().ngettext(singular, plural, count), fields)

    def pgettext(self, context: str, msgid: str, /, **fields: Any) -> str:
        """``msgid`` in ``context`` (e.g. ``"segment"``, ``"column"``) in the current language."""
        return _fill(self._catalog().pgettext(context, msgid), fields)

    def label(self, context: str, value: Any) -> Any:
        """A data value shown as a label: translated when the catalog knows it, else unchanged (names, ids)."""
        if not isinstance(value, str) or _current == DEFAULT:
            return value
        return self._catalog().pgettext(context, value)

    def functions(self) -> tuple[Callable[..., str], Callable[..., str], Callable[..., str]]:
        """``(_, ngettext, pgettext)`` bound to this domain."""
        return self.gettext, self.ngettext, self.pgettext


@functools.lru_cache(maxsize=None)
def messages(module_or_domain: str) -> Messages:
    """The :class:`Messages` of a module (``messages(__name__)``) or of a domain by name."""
    domain = domain_of(module_or_domain) if "." in module_or_domain else module_or_domain
    return Messages(domain)


def translate_markdown(source: str, domain: str) -> str:
    """A notebook markdown cell in the current language, paragraph by paragraph.

    The cell is split on blank lines; each block is one message (a heading's
    ``#`` marks are kept outside the message), exactly as
    :func:`markdown_messages` extracts them. Blocks without a translation stay as they are.
    """
    if _current == DEFAULT:
        return source
    cat = _catalog(domain, _current)
    out = []
    for marks, text in _markdown_blocks(source):
        out.append(marks + cat.gettext(text) if text else marks)
    return "\n\n".join(out)


def markdown_messages(source: str) -> list[str]:
    """The messages of a markdown cell (for extraction): one per paragraph, heading marks removed."""
    return [text for _marks, text in _markdown_blocks(source) if text]


def _markdown_blocks(source: str) -> list[tuple[str, str]]:
    blocks = []
    for block in source.strip().split("\n\n"):
        block = block.strip("\n")
        stripped = block.lstrip("#")
        if stripped != block and stripped.startswith(" ") and "\n" not in block:
            marks = block[: len(block) - len(stripped)] + " "
            blocks.append((marks, stripped.strip()))
        else:
            blocks.append(("", block))
    return blocks
