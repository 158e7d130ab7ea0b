"""One theme, one palette, one status colour code for every report.

* :data:`PALETTE` — categorical colours (Okabe–Ito, colour-blind safe), used in
  the same order everywhere (defined in :mod:`salesbench.viz.palette`).
* :data:`STATUS` — the traffic-light code (also in :mod:`salesbench.viz.palette`): green / amber / red / grey. The hues
  are Okabe–Ito bluish green, orange and vermillion, distinguishable with the
  common colour-vision deficiencies; every status is also written as a word so
  colour is never the only signal.
* :func:`apply_theme` — seaborn/matplotlib defaults for report figures.
* :func:`headline` — the first screen of a report: a row of KPI cards.
* :func:`narrative`, :func:`show_table` — text and tables that are always
  HTML-escaped: customer names or lost reasons from the data can never inject
  markup or script into a report.

Plotting functions in the analysis modules take ``ax=`` and return the axes.
"""
from __future__ import annotations

import html
import math
from typing import Any, Iterable, Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
import seaborn as sns

from salesbench.viz.palette import PALETTE, STATUS  # noqa: E402,F401  (re-exported; light module for the runner)

#: Colour for "the thing the report is about" (actuals, the chosen model) and for context.
ACCENT = PALETTE[0]
MUTED = "#B0B0B0"
TARGET = "#333333"

#: Sequential colormap for heatmaps (light → the accent blue).
SEQUENTIAL = sns.light_palette(ACCENT, as_cmap=True)


def apply_theme() -> None:
    """Apply the report theme (call once per notebook).

    Text in figures is always drawn literally: ``text.parse_math`` is off and
    ``text.usetex`` stays off, so a region, product line, rep or customer name
    such as ``$x^$ Region`` or ``Price $\\notacommand$`` is neither parsed as
    mathtext (which fails or garbles it) nor passed to LaTeX. This covers every
    Text artist made afterwards: titles, tick labels, legends (seaborn's too),
    annotations and heatmap cells. No report label uses mathtext.
    """
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    matplotlib.rcParams.update(
        {
            "figure.figsize": (8, 4),
            "figure.dpi": 96,
            "savefig.dpi": 96,
            "axes.titleweight": "bold",
            "axes.titlesize": 12,
            "axes.titlelocation": "left",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
            "figure.autolayout": False,
            # data text (names, regions, products) must reach the figure literally, never as math or LaTeX
            "text.parse_math": False,
            "text.usetex": False,
        }
    )
    try:  # PNG figures: small, embedded as base64, render everywhere.
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("png")
    except Exception:  # pragma: no cover - outside IPython
        pass


def status_color(status: str) -> str:
    return STATUS.get(str(status), STATUS["grey"])


# --------------------------------------------------------------------------- formatting
def fmt_money(x: float | None, currency: str = "") -> str:
    """Compact money: 1234 → '1.2k', 3.4e6 → '3.4M'."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    sign = "-" if x < 0 else ""
    a = abs(float(x))
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if a >= div:
            return f"{sign}{currency}{a / div:.1f}{unit}"
    return f"{sign}{currency}{a:,.0f}"


def fmt_pct(x: float | None, digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{100 * float(x):.{digits}f}%"


def fmt_num(x: float | None, digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{float(x):,.{digits}f}"


def money_axis(ax, axis: str = "y"):
    """Format an axis with :func:`fmt_money` tick labels."""
    formatter = mticker.FuncFormatter(lambda v, _pos: fmt_money(v))
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(formatter)
    return ax


def pct_axis(ax, axis: str = "y"):
    formatter = mticker.PercentFormatter(1.0, decimals=0)
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(formatter)
    return ax


# --------------------------------------------------------------------------- HTML blocks
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
    "status": "green|amber|red|grey"}``. All text is escaped.
    """
    parts = [_CARD_CSS, '<div class="sb-cards">']
    for card in cards:
        color = status_color(card.get("status", "")) if card.get("status") else ACCENT
        sub = f'<div class="s">{esc(card["sub"])}</div>' if card.get("sub") else ""
        # the status is written as a word too (RAG badge), so colour is never the only signal
        status_word = f'<span class="b">{esc(card["status"])}</span>' if card.get("status") in STATUS else ""
        parts.append(
            f'<div class="sb-card" style="--c:{color}"><div class="l">{esc(card.get("label", ""))}{status_word}</div>'
            f'<div class="v">{esc(card.get("value", ""))}</div>{sub}</div>'
        )
    parts.append("</div>")
    return HTML("".join(parts))


def narrative(*sentences: str, warning: bool = False) -> HTML:
    """Generated sentences as an escaped paragraph block (``warning=True`` for alerts)."""
    body = " ".join(esc(s) for s in sentences if s)
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
) -> HTML:
    """Render a DataFrame as an escaped HTML table for reports.

    ``formats`` maps column → callable or format string (e.g. ``fmt_pct``);
    ``status_col`` colours each row's status cell with :data:`STATUS` (the word
    stays visible). Long tables are cut at ``max_rows`` with a note.
    """
    df = frame.head(max_rows).copy()
    formats = dict(formats or {})
    for col, f in formats.items():
        if col in df.columns:
            fn = f if callable(f) else (lambda v, _f=f: "–" if pd.isna(v) else format(v, _f))
            df[col] = df[col].map(fn)
    cols = list(df.columns)
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    rows = []
    for _, r in df.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            txt = "–" if (not isinstance(v, str) and pd.api.types.is_scalar(v) and pd.isna(v)) else v
            if status_col is not None and c == status_col:
                cells.append(
                    f'<td style="background:{status_color(str(v))};color:#fff;font-weight:600">{esc(txt)}</td>'
                )
            else:
                cells.append(f"<td>{esc(txt)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    more = (
        f'<p class="s">Showing {max_rows} of {len(frame):,} rows; the full table is in the exported CSV.</p>'
        if len(frame) > max_rows
        else ""
    )
    return HTML(
        f'<table class="dataframe sb-table">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{more}"
    )


def finish(fig=None, title: str | None = None):
    """Tidy layout; optional figure title."""
    fig = fig or plt.gcf()
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontweight="bold")
    fig.tight_layout()
    return fig


def interval_plot(
    frame: pd.DataFrame,
    label: str,
    mean: str,
    lo: str,
    hi: str,
    ax=None,
    color: str | None = None,
    reference: float | None = None,
):
    """Horizontal point + interval plot (forest plot) of ``frame`` rows; returns ``ax``."""
    ax = ax or plt.gca()
    df = frame.reset_index(drop=True)
    y = np.arange(len(df))
    ax.errorbar(
        df[mean], y, xerr=[df[mean] - df[lo], df[hi] - df[mean]], fmt="o",
        color=color or ACCENT, ecolor=color or ACCENT, capsize=3,
    )
    ax.set_yticks(y)
    ax.set_yticklabels(df[label].astype(str))
    ax.invert_yaxis()
    if reference is not None:
        ax.axvline(reference, color=TARGET, lw=1, ls="--")
    return ax
