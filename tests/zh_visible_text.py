"""What a reader sees of a report's pieces, and the English words left in it (for the zh-CN report tests).

``visible_texts(obj)`` collects the text of headline cards (label, value, sub),
sentences, :class:`salesbench.viz.HTML` blocks (tags stripped, entities
unescaped) and matplotlib figures (titles, axis labels, tick labels, texts and
annotations, legend entries, colour-bar labels). ``english_words(texts, allowed)``
is the one check of the Chinese tests: the ASCII words of three or more letters
left once the acronyms and units a Chinese analyst uses as they are
(:data:`ALLOWED`) and the terms a test names are taken out (a data value, a
parameter name, a phrase such as ``"R-hat"`` or ``"early_warning = false"``).
``page_english_words(html)`` applies it to the visible text of a rendered page.
"""
from __future__ import annotations

import html
import re
import warnings
from contextlib import contextmanager
from html.parser import HTMLParser
from typing import Any, Iterable, Iterator

#: acronyms, method names and units kept in Chinese text (see the translation rules)
ALLOWED = frozenset({
    "RFM", "KPI", "CLV", "ARI", "AUC", "MASE", "SLA", "CRM", "CSV", "ETS", "NUTS", "IQR", "ERP",
    "means",  # K-means
})
#: Words a Chinese report page keeps as they are (besides all-capital acronyms, ids, file names and data values).
PAGE_KEEP = frozenset({"salesbench", "DuckDB", "PostgreSQL", "Spark", "NaN", "alive", "Papermill",
                       # names of methods, their authors and libraries, kept in Latin script as Chinese texts do
                       "Rousseeuw", "scikit", "learn", "means", "Beta", "Kaplan", "Meier", "Holt", "Winters",
                       "MinTrace", "Theta", "statsforecast", "Gamma", "Spearman",
                       # sampler diagnostics and model parameter names as the tables show them (R-hat, bulk ESS,
                       # alpha), the fit method's value and the English term given in brackets after its translation
                       "hat", "bulk", "alpha", "map", "partial", "pooling",
                       # parameter values quoted in a sentence ("product_lines 设为 false")
                       "true", "false", "null"})
_WORD = re.compile(r"[A-Za-z]{3,}")
_TAG = re.compile(r"<[^>]+>")
_STYLE = re.compile(r"<style.*?</style>", re.S)
_MARKUP = re.compile(r"<style.*?</style>|</?[A-Za-z!][^>]*>", re.S)  # a tag starts with a letter: "P < 50%" is text
_HIDDEN = {"script", "style", "code", "pre", "svg"}


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


def english_words(texts: Iterable[Any], allowed: Iterable[str] = ()) -> list[str]:
    """The English words a reader meets in ``texts``: every ASCII word of three or more letters, except
    :data:`ALLOWED` and the ``allowed`` terms. A term is a word (``"North"``, matched whole and in its case) or
    a term of any shape, taken out where it stands between non-letters (``"R-hat"``, ``"BG/NBD"``, ``"rep_id"``,
    ``"early_warning = false"``). A text may be HTML: tags and styles are left out, entities read as characters."""
    texts = [texts] if isinstance(texts, str) else texts
    words, terms = set(ALLOWED), []
    for term in allowed:
        (words.add if re.fullmatch(r"[A-Za-z]+", term) else terms.append)(term)
    # the longest first: "bulk ESS" before "ESS"
    pattern = re.compile("|".join(rf"(?<![A-Za-z]){re.escape(t)}(?![A-Za-z])"
                                  for t in sorted(terms, key=len, reverse=True))) if terms else None
    found = []
    for text in texts:
        text = html.unescape(_MARKUP.sub(" ", "" if text is None else str(text)))
        if pattern is not None:
            text = pattern.sub(" ", text)
        found += [w for w in _WORD.findall(text) if w not in words]
    return found


class _Visible(HTMLParser):
    """The text a reader sees: everything outside :data:`_HIDDEN` elements (the ``<title>`` included)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in _HIDDEN:
            self._hidden += 1

    def handle_endtag(self, tag):
        if tag in _HIDDEN and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)


def visible_text(page: str) -> str:
    """The visible text of an HTML page (``<script>``, ``<style>``, ``<code>``, ``<pre>``, ``<svg>`` left out)."""
    v = _Visible()
    v.feed(page)
    return " ".join(v.parts)


def _page_word(token: re.Match) -> str:
    word = token.group()
    return word if word.isalpha() and not word.isupper() else " "


def page_english_words(page: str, allowed: Iterable[str] = ()) -> list[str]:
    """:func:`english_words` in the visible text of a rendered page, once paths, URLs, file names, ids and
    column names (words with digits or underscores) and all-capital acronyms (RFM, KPI, CSV) are taken out;
    :data:`PAGE_KEEP` and ``allowed`` (e.g. names and regions of the data) match in any case."""
    text = visible_text(page)
    text = re.sub(r"\S*[/\\]\S*", " ", text)  # paths, URLs, BG/NBD
    text = re.sub(r"\S+\.(?:csv|json|html|ipynb|yaml|yml|parquet|duckdb|py)\b", " ", text)  # file names
    text = re.sub(r"[A-Za-z0-9_]+", _page_word, text)
    keep = {w.lower() for w in (*PAGE_KEEP, *allowed)}
    return [w for w in english_words([text]) if w.lower() not in keep]


def has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def figure_texts(fig, ticks: bool = True) -> list[str]:
    """Titles, axis labels, texts, legend entries and (``ticks``) tick labels of every axes of ``fig``, after
    drawing it (date ticks get their text when drawn)."""
    out = []
    for ax in fig.axes:
        # the theme puts titles on the left (axes.titlelocation), so read every title position
        out += [*(ax.get_title(loc) for loc in ("left", "center", "right")), ax.get_xlabel(), ax.get_ylabel(),
                *(t.get_text() for t in ax.texts)]
        if ticks:
            fig.canvas.draw()
            out += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
        if ax.get_legend() is not None:
            out += [t.get_text() for t in ax.get_legend().get_texts()]
    return out


@contextmanager
def zh_figures() -> Iterator[None]:
    """Inside: the report language is zh-CN and figures use the report theme with its CJK font, as in a report
    (rcParams restored afterwards); a glyph missing from the fonts is an error, not a warning."""
    import matplotlib

    from salesbench import viz
    from salesbench.core import i18n

    with i18n.language("zh-CN"), matplotlib.rc_context(), warnings.catch_warnings():
        viz.apply_theme(lang="zh-CN")
        warnings.filterwarnings("error", message=r".*missing from font")
        yield
