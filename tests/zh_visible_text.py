"""What a reader sees of a report's pieces, and the English words left in it (for the zh-CN report tests).

``visible_texts(obj)`` collects the text of headline cards (label, value, sub),
sentences, :class:`salesbench.viz.HTML` blocks (tags stripped, entities
unescaped) and matplotlib figures (titles, axis labels, tick labels, texts and
annotations, legend entries, colour-bar labels). ``english_words(texts)`` lists
the ASCII words of three or more letters, minus the acronyms and units a
Chinese analyst uses as they are and the data values a test names.
"""
from __future__ import annotations

import html
import re
from typing import Any, Iterable

#: acronyms, method names and units kept in Chinese text (see the translation rules)
ALLOWED = frozenset({
    "RFM", "KPI", "CLV", "ARI", "AUC", "MASE", "SLA", "CRM", "CSV", "ETS", "NUTS", "IQR", "ERP",
    "means",  # K-means
})
_WORD = re.compile(r"[A-Za-z]{3,}")
_TAG = re.compile(r"<[^>]+>")
_STYLE = re.compile(r"<style.*?</style>", re.S)


def _axes_texts(ax) -> list[str]:
    out = [ax.get_title(), ax.get_title("left"), ax.get_title("right"), ax.get_xlabel(), ax.get_ylabel()]
    out += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
    out += [t.get_text() for t in ax.texts]
    legend = ax.get_legend()
    if legend is not None:
        out += [t.get_text() for t in legend.get_texts()]
        out.append(legend.get_title().get_text())
    return out


def visible_texts(obj: Any) -> list[str]:
    """Every visible string of ``obj``: a card list, a string, a list of them, an HTML block, a Figure or Axes."""
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    if obj is None:
        return []
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, Figure):
        out = [obj._suptitle.get_text()] if obj._suptitle is not None else []
        for ax in obj.axes:
            out += _axes_texts(ax)
        return out
    if isinstance(obj, Axes):
        return visible_texts(obj.figure)
    if hasattr(obj, "markup"):
        return [html.unescape(_TAG.sub(" ", _STYLE.sub(" ", obj.markup)))]
    if isinstance(obj, dict):
        return [str(obj[k]) for k in ("label", "value", "sub") if obj.get(k) is not None]
    if isinstance(obj, Iterable):
        return [t for item in obj for t in visible_texts(item)]
    return [str(obj)]


def english_words(texts: Iterable[str], allowed: Iterable[str] = ()) -> list[tuple[str, str]]:
    """``[(word, the text it is in)]`` for every ASCII word of ≥ 3 letters not in :data:`ALLOWED` or ``allowed``."""
    ok = ALLOWED | set(allowed)
    return [(w, t) for t in texts for w in _WORD.findall(t or "") if w not in ok]


def has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


_TERM_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]{2,}")


def words_left(texts: Iterable[Any], keep: Iterable[str]) -> list[str]:
    """The English words of ``texts`` (tags stripped) once the ``keep`` terms (``"R-hat"``, ``"BG/NBD"``,
    ``"early_warning = false"``: terms of any shape) are taken out — for tests whose kept terms are phrases."""
    found = []
    for text in texts:
        text = _TAG.sub(" ", _STYLE.sub(" ", str(text)))
        for term in keep:
            text = re.sub(rf"(?<![A-Za-z]){re.escape(term)}(?![A-Za-z])", " ", text)
        found += _TERM_WORD.findall(text)
    return found


def figure_texts(fig, ticks: bool = True) -> list[str]:
    """Titles, axis labels, texts, legend entries and (``ticks``) tick labels of every axes of ``fig``, after
    drawing it (date ticks get their text when drawn)."""
    out = []
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel(), *(t.get_text() for t in ax.texts)]
        if ticks:
            fig.canvas.draw()
            out += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
        if ax.get_legend() is not None:
            out += [t.get_text() for t in ax.get_legend().get_texts()]
    return out
