"""Sentences a model writes once and two readers need: ``results.json`` (English, always) and the report (its language).

A model decides *why* at fit time (why the default model is used, why a step was skipped),
but the fit runs after ``sb.start`` set the report's language, while every value stored in
``<name>.results.json`` must stay canonical English. A :class:`Said` is both: it *is* the
English sentence (a ``str``: stored, compared, concatenated as before) and it remembers its
message and fields, so :func:`shown` gives it in the current language at display time::

    from salesbench.core.i18n import N_
    from salesbench.core.said import Said, shown

    why = Said(__name__, N_("No holdout before {date}."), date=lambda: viz.fmt_date(d))
    res.set(reason=why)            # "No holdout before 2025-12-31." in every language
    viz.narrative(shown(why))      # "2025年12月31日之前没有留出期。" in zh-CN

Fields are filled as :meth:`str.format` fills them; a field may be another :class:`Said`
(shown in the same language) or a callable without arguments, called in the language of the
text being made (dates and money then follow the language, e.g. ``viz.fmt_date``). ``N_`` marks
the message for extraction (``salesbench catalogs``); the message belongs to the catalog domain
of ``module`` (:func:`salesbench.core.i18n.domain_of`).

Text that was stored as a plain ``str`` (an exclusion reason, a data-quality finding, a data
label: records that crossed a process or a file) is shown the same way: :func:`retranslate`
finds the marked template it was made from (:func:`compile_templates`) and shows it as the
:class:`Said` it was, with the same field values.
"""
from __future__ import annotations

import functools
import re
from typing import Any, Callable, Iterable, Mapping

from salesbench.core import i18n


class Said(str):
    """A sentence: the English text as a ``str``, its message and fields kept for :func:`shown`."""

    domain: str
    msgid: str
    fields: dict[str, Any]

    def __new__(cls, module: str, msgid: str, /, **fields: Any) -> "Said":
        domain = i18n.messages(module).domain
        with i18n.language(i18n.DEFAULT):
            english = i18n.messages(domain).gettext(msgid, **_values(fields))
        self = super().__new__(cls, english)
        self.domain, self.msgid, self.fields = domain, msgid, fields
        return self

    def shown(self) -> str:
        """The sentence in the current language (English: the ``str`` itself)."""
        if i18n.get_language() == i18n.DEFAULT:
            return str(self)
        return i18n.messages(self.domain).gettext(self.msgid, **_values(self.fields))

    def __reduce__(self):
        return (_english, (str(self),))  # a copy or pickle is the stored (English) text


def _english(text: str) -> str:
    return text


def _values(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields' values in the current language: a :class:`Said` shown, a callable called."""
    return {k: v.shown() if isinstance(v, Said) else v() if callable(v) else v for k, v in fields.items()}


def shown(text: Any) -> Any:
    """``text`` in the current language when it is a :class:`Said`; anything else unchanged."""
    return text.shown() if isinstance(text, Said) else text


def _template_pattern(template: str) -> re.Pattern:
    parts = re.split(r"\{(\w+)\}", template)
    return re.compile("".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts)))


def compile_templates(templates: Iterable[str]) -> list[tuple[str, re.Pattern]]:
    """``[(template, pattern)]`` for :func:`retranslate`: each ``{field}`` of a template matches any text."""
    return [(t, _template_pattern(t)) for t in templates]


def retranslate(text: str, templates: list[tuple[str, re.Pattern]],
                fields: Mapping[str, Callable[[str], str]] | None = None, module: str = i18n.SHARED) -> str:
    """``text`` (English, built from one of ``templates`` by :meth:`str.format`) in the report's language.

    For texts that are stored in English (``results.json``, CSV exports) and shown translated: the
    first template (from :func:`compile_templates`, marked for the catalog of ``module``, the shared one
    by default) that matches the whole text is shown as the :class:`Said` it was made as, with the same
    field values; ``fields`` maps a field name to a function translating its value too. Any other text
    comes back unchanged. In English the text is returned as is.
    """
    if i18n.get_language() == i18n.DEFAULT:
        return text
    for template, pattern in templates:
        m = pattern.fullmatch(text)
        if m:
            values = {k: functools.partial(fields[k], v) if fields and k in fields else v
                      for k, v in m.groupdict().items()}
            return Said(module, template, **values).shown()
    return text
