"""Figures of the funnel report (seaborn/matplotlib): ``plot_<thing>(frame, *, ax=None, ...) -> Axes``.

Each draws on ``ax`` (a new figure of the report's size when ``None``, laid
out with :func:`salesbench.viz.finish`) and returns it; no computation beyond
reshaping for the figure. The frames are the learned tables of
:class:`salesbench.analyses.funnel.model.Funnel`.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from salesbench import viz
from salesbench.core.i18n import messages

_, ngettext, pgettext = messages(__name__).functions()
_tr = messages(__name__).gettext  # for titles given as arguments (translated where they are written)


def _label(stage: str) -> str:
    """A stage as shown on an axis: the catalog's word for a default stage, else the name with spaces."""
    shown = messages(__name__).label("stage", stage)
    return shown if shown != stage else str(stage).replace("_", " ")


def _axes(ax, figsize: tuple[float, float]):
    """``(ax, created)``: the given axes, or those of a new figure of ``figsize``."""
    if ax is not None:
        return ax, False
    return plt.subplots(figsize=figsize)[1], True


def _done(ax, created: bool):
    if created:
        viz.finish(ax.figure)
    return ax


def plot_funnel(conv: pd.DataFrame, *, ax=None):
    """Horizontal funnel of an ungrouped :func:`salesbench.analyses.funnel.conversion.stage_conversion` table.

    Bar length = cumulative conversion from the first stage (estimated share of
    leads that reach the stage); each bar is labelled with the share and the
    stage-to-stage conversion; the grey bar behind shows the drop-off (deals
    lost at the stage before).
    """
    ax, created = _axes(ax, (8, 4))
    stages = [conv["from_stage"].iloc[0]] + list(conv["to_stage"])
    reach = np.concatenate([[1.0], conv["cumulative"].to_numpy(float)])
    prev = np.concatenate([[1.0], reach[:-1]])
    y = np.arange(len(stages))
    ax.barh(y, prev, color=viz.MUTED, alpha=0.35, height=0.7, label=_("lost at the stage before"))
    ax.barh(y, reach, color=viz.ACCENT, height=0.7, label=_("reach the stage"))
    conv_vals = [None] + list(conv["conversion"])
    for i, (r, c) in enumerate(zip(reach, conv_vals)):
        text = viz.fmt_pct(r) if c is None else _("{reach}  ({share} of previous)", reach=viz.fmt_pct(r),
                                                                 share=viz.fmt_pct(c))
        ax.text(r + 0.01, i, text, va="center", fontsize=9)
    ax.set_yticks(y)
    ax.set_yticklabels([_label(s) for s in stages])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.35)
    ax.set_xticks(np.linspace(0, 1, 6))
    viz.pct_axis(ax, "x")
    ax.set_xlabel(_("share of leads reaching the stage (closed cohorts)"))
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(_("Funnel: conversion and drop-off"))
    return _done(ax, created)


def plot_stage_durations(stays: pd.DataFrame, *, ax=None):
    """Box plots of completed time in stage (days, log scale) from :func:`salesbench.analyses.funnel.durations.stay_lengths`.

    One horizontal box per stage (first stage on top; the stage categories' order
    when ``stage`` is categorical), whiskers at 1.5 IQR, no fliers. Drawn with
    Matplotlib's ``boxplot(orientation="horizontal")`` in seaborn's look (seaborn 0.13.2
    still passes ``vert``, deprecated since Matplotlib 3.11).
    """
    ax, created = _axes(ax, (8, 4))
    data = stays[stays["days"] > 0]
    stage = stays["stage"]
    order = list(stage.cat.categories) if isinstance(stage.dtype, pd.CategoricalDtype) else list(pd.unique(stage))
    groups = [data.loc[data["stage"] == s, "days"].to_numpy(float) for s in order]
    line = dict(color="#3d3d3d", linewidth=1.1)
    ax.boxplot(groups, orientation="horizontal", showfliers=False, widths=0.6, patch_artist=True,
               positions=np.arange(len(order)), boxprops=dict(facecolor=sns.desaturate(viz.PALETTE[4], 0.75), edgecolor="#3d3d3d"),
               whiskerprops=line, capprops=line, medianprops=line)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _p: f"{v:g}"))
    ax.set_xlabel(_("days in stage (completed stays, log scale; whiskers 1.5 IQR)"))
    ax.set_ylabel("")
    ax.set_yticks(np.arange(len(order)), [_label(s) for s in order])
    ax.set_ylim(len(order) - 0.5, -0.5)  # first stage on top
    ax.yaxis.grid(False)  # no grid lines across the stage axis (as seaborn draws categorical axes)
    ax.set_title(_("Time in stage"))
    return _done(ax, created)


def plot_cohort_heatmap(cohorts: pd.DataFrame, *, stages: Sequence[str], ax=None):
    """Heatmap of the share of each creation-month cohort reaching each stage (open deals included)."""
    ax, created = _axes(ax, (9, 8))
    cols = [f"reach_{s}" for s in stages[1:]]
    mat = cohorts.set_index("cohort")[cols]
    mat.columns = [_label(s) for s in stages[1:]]
    mat.index = [viz.fmt_month(c) for c in mat.index]
    sns.heatmap(mat, ax=ax, cmap=viz.SEQUENTIAL, vmin=0, vmax=1, annot=len(mat) <= 40, fmt=".0%",
                annot_kws={"fontsize": 7}, cbar_kws={"label": _("share of cohort")})
    cbar = ax.collections[0].colorbar
    cbar.ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _p: viz.fmt_pct(v)))
    ax.set_ylabel(_("creation month"))
    ax.set_xlabel(_("reached stage"))
    ax.set_title(_("Cohorts: share of deals reaching each stage (recent cohorts still open)"))
    return _done(ax, created)


def plot_coverage(cov: pd.DataFrame, *, key: str = "team", threshold: float = 3.0, ax=None):
    """Bars of pipeline coverage per ``key`` coloured by status, with the threshold line."""
    ax, created = _axes(ax, (8, 4))
    df = cov.dropna(subset=["coverage"]).sort_values("coverage")
    colors = [viz.status_color(s) for s in df["status"]]
    ax.barh(df[key].astype(str), df["coverage"], color=colors)
    ax.axvline(threshold, color=viz.TARGET, ls="--", lw=1.2)
    thr = f"{threshold:g}"
    ax.text(threshold, len(df) - 0.4, _(" threshold {threshold}×", threshold=thr), va="bottom", fontsize=9)
    for i, (v, status) in enumerate(zip(df["coverage"], df["status"])):
        ratio = f"{v:.2f}"
        ax.text(v, i, _(" {ratio}× ({status})", ratio=ratio, status=messages(__name__).label("status", status)),
                va="center", fontsize=8)
    ax.set_xlabel(_("weighted open pipeline ÷ next-period target"))
    ax.set_title(_("Pipeline coverage by team"))
    return _done(ax, created)


def plot_rep_shrinkage(table: pd.DataFrame, *, label: str = "rep_id", population: float, ax=None, max_rows: int = 40,
                       title: str | None = None):
    """Posterior mean and credible interval (forest plot) with the raw rate as open markers.

    ``table``: a :class:`salesbench.analyses.funnel.bayes.PooledRates` table (``label``,
    raw_rate, mean, lo, hi); ``population``: the pooled population mean (reference line).
    """
    ax, created = _axes(ax, (8, 7))
    df = table.head(max_rows).reset_index(drop=True)
    viz.interval_plot(df, label, "mean", "lo", "hi", ax=ax, reference=population)
    y = np.arange(len(df))
    ax.scatter(df["raw_rate"], y, marker="o", facecolors="none", edgecolors=viz.PALETTE[1], zorder=3,
               label=_("raw rate"))
    ax.plot([], [], "o", color=viz.ACCENT, label=_("pooled (90% interval)"))
    viz.pct_axis(ax, "x")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel(_("win rate (won ÷ closed)"))
    if title:
        ax.set_title(_tr(title))
    return _done(ax, created)
