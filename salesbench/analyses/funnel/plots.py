"""Figures of the funnel report (seaborn/matplotlib; each takes ``ax=`` and returns it)."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from salesbench import viz


def _label(stage: str) -> str:
    return str(stage).replace("_", " ")


def funnel_chart(conv: pd.DataFrame, ax=None):
    """Horizontal funnel of an ungrouped :func:`salesbench.analyses.funnel.model.stage_conversion` table.

    Bar length = cumulative conversion from the first stage (estimated share of
    leads that reach the stage); each bar is labelled with the share and the
    stage-to-stage conversion; the grey bar behind shows the drop-off (deals
    lost at the stage before).
    """
    ax = ax or plt.gca()
    stages = [conv["from_stage"].iloc[0]] + list(conv["to_stage"])
    reach = np.concatenate([[1.0], conv["cumulative"].to_numpy(float)])
    prev = np.concatenate([[1.0], reach[:-1]])
    y = np.arange(len(stages))
    ax.barh(y, prev, color=viz.MUTED, alpha=0.35, height=0.7, label="lost at the stage before")
    ax.barh(y, reach, color=viz.ACCENT, height=0.7, label="reach the stage")
    conv_vals = [None] + list(conv["conversion"])
    for i, (r, c) in enumerate(zip(reach, conv_vals)):
        text = viz.fmt_pct(r) + ("" if c is None else f"  ({viz.fmt_pct(c)} of previous)")
        ax.text(r + 0.01, i, text, va="center", fontsize=9)
    ax.set_yticks(y)
    ax.set_yticklabels([_label(s) for s in stages])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.35)
    ax.set_xticks(np.linspace(0, 1, 6))
    viz.pct_axis(ax, "x")
    ax.set_xlabel("share of leads reaching the stage (closed cohorts)")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Funnel: conversion and drop-off")
    return ax


def duration_boxplot(stays: pd.DataFrame, ax=None):
    """Box plots of completed time in stage (days, log scale) from :func:`salesbench.analyses.funnel.model.stay_lengths`."""
    ax = ax or plt.gca()
    data = stays[stays["days"] > 0]
    sns.boxplot(data=data, x="days", y="stage", ax=ax, color=viz.PALETTE[4], showfliers=False, width=0.6)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _p: f"{v:g}"))
    ax.set_xlabel("days in stage (completed stays, log scale; whiskers 1.5 IQR)")
    ax.set_ylabel("")
    ax.set_yticks(ax.get_yticks())
    ax.set_yticklabels([_label(t.get_text()) for t in ax.get_yticklabels()])
    ax.set_title("Time in stage")
    return ax


def cohort_heatmap(cohorts: pd.DataFrame, stages: Sequence[str], ax=None):
    """Heatmap of the share of each creation-month cohort reaching each stage (open deals included)."""
    ax = ax or plt.gca()
    cols = [f"reach_{s}" for s in stages[1:]]
    mat = cohorts.set_index("cohort")[cols]
    mat.columns = [_label(s) for s in stages[1:]]
    sns.heatmap(mat, ax=ax, cmap=viz.SEQUENTIAL, vmin=0, vmax=1, annot=len(mat) <= 40, fmt=".0%",
                annot_kws={"fontsize": 7}, cbar_kws={"label": "share of cohort"})
    cbar = ax.collections[0].colorbar
    cbar.ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _p: viz.fmt_pct(v)))
    ax.set_ylabel("creation month")
    ax.set_xlabel("reached stage")
    ax.set_title("Cohorts: share of deals reaching each stage (recent cohorts still open)")
    return ax


def coverage_chart(cov: pd.DataFrame, key: str, threshold: float, ax=None):
    """Bars of pipeline coverage per ``key`` coloured by status, with the threshold line."""
    ax = ax or plt.gca()
    df = cov.dropna(subset=["coverage"]).sort_values("coverage")
    colors = [viz.status_color(s) for s in df["status"]]
    ax.barh(df[key].astype(str), df["coverage"], color=colors)
    ax.axvline(threshold, color=viz.TARGET, ls="--", lw=1.2)
    ax.text(threshold, len(df) - 0.4, f" threshold {threshold:g}×", va="bottom", fontsize=9)
    for i, (v, status) in enumerate(zip(df["coverage"], df["status"])):
        ax.text(v, i, f" {v:.2f}× ({status})", va="center", fontsize=8)
    ax.set_xlabel("weighted open pipeline ÷ next-period target")
    ax.set_title("Pipeline coverage by team")
    return ax


def shrinkage_plot(table: pd.DataFrame, label: str, population: float, ax=None, max_rows: int = 40):
    """Posterior mean and credible interval (forest plot) with the raw rate as open markers."""
    ax = ax or plt.gca()
    df = table.head(max_rows).reset_index(drop=True)
    viz.interval_plot(df, label, "mean", "lo", "hi", ax=ax, reference=population)
    y = np.arange(len(df))
    ax.scatter(df["raw_rate"], y, marker="o", facecolors="none", edgecolors=viz.PALETTE[1], zorder=3, label="raw rate")
    ax.plot([], [], "o", color=viz.ACCENT, label="pooled (90% interval)")
    viz.pct_axis(ax, "x")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("win rate (won ÷ closed)")
    return ax
