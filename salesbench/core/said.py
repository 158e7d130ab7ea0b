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
"""
from __future__ import annotations

from typing import Any

from salesbench.core import i18n


class Said(str):
    """A sentence: the English text as a ``str``, its message and fields kept for :func:`shown`."""

    domain: str
    msgid: str
    fields: dict[str, Any]

    def __new__(cls, module: str, msgid: str, /, **fields: Any) -> "Said":
        domain = i18n.messages(module).domain
        with i18n.language(i18n.DEFAULT):
            english = _fill(msgid, fields) if fields else msgid
        self = super().__new__(cls, english)
        self.domain, self.msgid, self.fields = domain, msgid, fields
        return self

    def shown(self) -> str:
        """The sentence in the current language (English: the ``str`` itself)."""
        if i18n.get_language() == i18n.DEFAULT:
            return str(self)
        return _fill(i18n.messages(self.domain).gettext(self.msgid), self.fields)

    def __reduce__(self):
        return (_english, (str(self),))  # a copy or pickle is the stored (English) text


def _english(text: str) -> str:
    return text


def _value(v: Any) -> Any:
    if isinstance(v, Said):
        return v.shown()
    return v() if callable(v) else v


def _fill(text: str, fields: dict[str, Any]) -> str:
    return text.format(**{k: _value(v) for k, v in fields.items()}) if fields else text


def shown(text: Any) -> Any:
    """``text`` in the current language when it is a :class:`Said`; anything else unchanged."""
    return text.shown() if isinstance(text, Said) else text
