"""Data-quality figures: ``plot_coverage`` (date coverage per table)."""
from __future__ import annotations

import datetime as _dt

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd

from salesbench import viz
from salesbench.core.i18n import N_, messages

_, ngettext, pgettext = messages(__name__).functions()
_tr = messages(__name__).gettext  # for titles given as arguments (marked where they are written)

#: The main date column of each table (used for the coverage chart).
MAIN_DATE = {
    "orders": "order_date",
    "customers": "signup_date",
    "reps": "hire_date",
    "products": "launch_date",
    "opportunities": "created_at",
    "stage_history": "entered_at",
    "invoices": "invoice_date",
    "surveys": "survey_date",
    "interactions": "occurred_at",
    "targets": "period",
}
#: Tables whose dates may lie in the future by design (plans, not events).
FORWARD_LOOKING_TABLES = frozenset({"targets"})


def plot_coverage(coverage: pd.DataFrame, as_of: _dt.date | None = None, *, ax=None,
                  title: str | None = N_("Date coverage per table (bar label: rows with a date)")):
    """Horizontal bars from first to last date of each table's main date column; returns ``ax``.

    Bars are clipped at ``as_of``; a table whose dates run past it is drawn in
    the red status colour and labelled with its last date — except tables that
    hold plans (``targets``), whose periods lie in the future by design: they
    are drawn in full, in the muted colour. With ``ax=None`` a figure of the
    report's size is created and its layout tidied.
    """
    created = ax is None
    ax = ax if ax is not None else plt.subplots(figsize=(8, 4))[1]
    main = coverage[[MAIN_DATE.get(t) == c for t, c in zip(coverage.table, coverage.column)]].dropna(subset=["first"])
    main = main.reset_index(drop=True)
    cut = pd.Timestamp(as_of) if as_of is not None else None
    for i, r in main.iterrows():
        plan = r["table"] in FORWARD_LOOKING_TABLES
        last = r["last"] if (cut is None or plan) else min(r["last"], cut)
        late = cut is not None and r["last"] > cut and not plan
        color = viz.STATUS["red"] if late else (viz.MUTED if plan else viz.ACCENT)
        start = mdates.date2num(r["first"])
        ax.barh(i, mdates.date2num(last) - start, left=start, color=color, height=0.6)
        filled = viz.fmt_num(r["filled"])
        text = (_(" {filled} runs to {date}", filled=filled, date=viz.fmt_date(r["last"])) if late
                else _(" {filled}", filled=filled))
        ax.text(mdates.date2num(last), i, text, va="center", fontsize=8)
    ax.set_yticks(range(len(main)))
    ax.set_yticklabels([f"{t} ({c})" for t, c in zip(main.table, main.column)])
    ax.invert_yaxis()
    ax.xaxis_date()
    if title:
        ax.set_title(_tr(title))
    if created:
        viz.finish(ax.figure)
    return ax
