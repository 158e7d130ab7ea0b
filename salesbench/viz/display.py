"""HTML blocks for reports: KPI cards, sentences, bullet lists and tables — always escaped.

* :func:`headline` — the first screen of a report: a row of KPI cards.
* :func:`narrative`, :func:`bullet_list`, :func:`show_table` — text and tables
  that are always HTML-escaped: customer names or lost reasons from the data
  can never inject markup or script into a report.
* :func:`show` — display a block inside a notebook (nothing outside IPython).

No matplotlib import (pandas only for :func:`show_table`). The words this
module writes itself (the RAG badge, the "Showing n of N rows" note) follow
the report's language (:mod:`salesbench.core.i18n`, shared catalog); the texts
passed in are shown as given (already in the report's language).
"""
from __future__ import annotations

import html
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from salesbench.core.i18n import NP_, is_cjk, messages
from salesbench.viz.format import fmt_num
from salesbench.viz.palette import ACCENT, STATUS, status_color

_, ngettext, pgettext = messages(__name__).functions()

#: The RAG status words of the headline cards' badges (context ``status``), marked for the catalog.
STATUS_WORDS = {"green": NP_("status", "green"), "amber": NP_("status", "amber"), "red": NP_("status", "red"),
                "grey": NP_("status", "grey")}


def status_word(status: str) -> str:
    """A RAG status (``green``/``amber``/``red``/``grey``) as the word a reader sees, in the report's language."""
    return pgettext("status", STATUS_WORDS[status]) if status in STATUS_WORDS else status


class HTML:
    """Minimal rich-display wrapper (``_repr_html_``) so this module needs no IPython import."""

    def __init__(self, markup: str):
        self.markup = markup

    def _repr_html_(self) -> str:
        return self.markup

    def __str__(self) -> str:
        return self.markup


def esc(text: Any) -> str:
    """HTML-escape any value (quotes included)."""
    return html.escape("" if text is None else str(text), quote=True)


_CARD_CSS = (
    "<style>.sb-cards{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0 16px 0}"
    ".sb-card{border:1px solid #ddd;border-left:6px solid var(--c);border-radius:6px;"
    "padding:10px 14px;flex:1 1 170px;max-width:340px;background:#fff}"
    ".sb-card .b{display:inline-block;margin-left:6px;padding:0 6px;border-radius:8px;font-size:.75em;"
    "font-weight:600;color:#fff;background:var(--c);vertical-align:1px}"
    ".sb-card .v{font-size:1.7em;font-weight:700;line-height:1.2}"
    ".sb-card .l{color:#555;font-size:.9em}.sb-card .s{color:#333;font-size:.8em}"
    ".sb-note{background:#f6f8fa;border-left:4px solid #0072B2;padding:8px 12px;margin:8px 0}"
    ".sb-warn{background:#fff4e5;border-left:4px solid #D55E00;padding:8px 12px;margin:8px 0}"
    "</style>"
)


def headline(cards: Sequence[Mapping[str, Any]]) -> HTML:
    """A row of KPI cards: the answer, on the first screen of a report.

    Each card: ``{"label": ..., "value": "formatted text", "sub": "optional line",
    "status": "green|amber|red|grey"}``. All text is escaped; the status is also
    written as a word in the report's language (:func:`status_word`).
    """
    parts = [_CARD_CSS, '<div class="sb-cards">']
    for card in cards:
        color = status_color(card.get("status", "")) if card.get("status") else ACCENT
        sub = f'<div class="s">{esc(card["sub"])}</div>' if card.get("sub") else ""
        # the status is written as a word too (RAG badge), so colour is never the only signal
        badge = f'<span class="b">{esc(status_word(card["status"]))}</span>' if card.get("status") in STATUS else ""
        parts.append(
            f'<div class="sb-card" style="--c:{color}"><div class="l">{esc(card.get("label", ""))}{badge}</div>'
            f'<div class="v">{esc(card.get("value", ""))}</div>{sub}</div>'
        )
    parts.append("</div>")
    return HTML("".join(parts))


def narrative(*sentences: str, warning: bool = False) -> HTML:
    """Generated sentences as an escaped paragraph block (``warning=True`` for alerts); joined by a space, or
    directly in a CJK language, whose full stops need none."""
    body = ("" if is_cjk() else " ").join(esc(s) for s in sentences if s)
    cls = "sb-warn" if warning else "sb-note"
    return HTML(f'{_CARD_CSS}<div class="{cls}">{body}</div>')


def bullet_list(items: Iterable[str]) -> HTML:
    return HTML("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>")


def show_table(
    frame: pd.DataFrame,
    max_rows: int = 30,
    formats: Mapping[str, Any] | None = None,
    status_col: str | None = None,
    caption: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> HTML:
    """Render a DataFrame as an escaped HTML table for reports.

    ``formats`` maps column → callable or format string (e.g. ``fmt_pct``, or a
    function that translates a category label); ``status_col`` colours each
    row's status cell with :data:`STATUS` from the cell's *raw* value (the
    formatted word stays visible; without a format for it, the cell shows
    :func:`status_word` and its header ``status`` in the report's language).
    ``headers`` maps column → the header shown
    (already in the report's language); other columns show their name. Long
    tables are cut at ``max_rows`` with a note.
    """
    raw = frame.head(max_rows)
    df = raw.copy()
    formats = dict(formats or {})
    if status_col is not None and status_col not in formats:  # the RAG word in the report's language
        formats[status_col] = lambda v: status_word(v) if isinstance(v, str) else v
    for col, f in formats.items():
        if col in df.columns:
            fn = f if callable(f) else (lambda v, _f=f: "–" if pd.isna(v) else format(v, _f))
            df[col] = df[col].map(fn)
    cols = list(df.columns)
    shown = dict(headers or {})
    if status_col is not None and status_col not in shown:
        shown[status_col] = pgettext("column", "status")
    head = "".join(f"<th>{esc(shown.get(c, c))}</th>" for c in cols)
    rows = []
    for (_i, r), (_j, r_raw) in zip(df.iterrows(), raw.iterrows()):
        cells = []
        for c in cols:
            v = r[c]
            txt = "–" if (not isinstance(v, str) and pd.api.types.is_scalar(v) and pd.isna(v)) else v
            if status_col is not None and c == status_col:
                cells.append(
                    f'<td style="background:{status_color(str(r_raw[c]))};color:#fff;font-weight:600">{esc(txt)}</td>'
                )
            else:
                cells.append(f"<td>{esc(txt)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    more = ""
    if len(frame) > max_rows:
        note = _("Showing {n} of {total} rows; the full table is in the exported CSV.", n=max_rows,
                 total=fmt_num(len(frame)))
        more = f'<p class="s">{esc(note)}</p>'
    return HTML(
        f'<table class="dataframe sb-table">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{more}"
    )


def show(block: Any) -> None:
    """Display ``block`` (e.g. a :func:`narrative`) in a running notebook; outside IPython do nothing."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython ships with the notebook stack
        return
    if get_ipython() is not None:
        display(block)
