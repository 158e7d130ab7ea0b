"""Shared axis helpers: money and percent tick labels, the point-and-interval (forest) plot."""
from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

from salesbench.viz.format import fmt_money
from salesbench.viz.palette import ACCENT, TARGET


def money_axis(ax, axis: str = "y"):
    """Format an axis with :func:`fmt_money` tick labels."""
    formatter = mticker.FuncFormatter(lambda v, _pos: fmt_money(v))
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(formatter)
    return ax


def pct_axis(ax, axis: str = "y"):
    formatter = mticker.PercentFormatter(1.0, decimals=0)
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(formatter)
    return ax


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
