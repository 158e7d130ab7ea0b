"""Figures of the sales plan: the waterfall from last period to the target, the month profile per
region, the P(reach) distribution across the deepest level's pieces. Each draws on ``ax`` (a new figure
when None) and returns it; colours from :mod:`salesbench.viz` (status colours for the risk flags)."""
from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from salesbench import viz
from salesbench.core.i18n import messages

_, ngettext, pgettext = messages(__name__).functions()


def plot_waterfall(steps: pd.DataFrame, *, ax=None):
    """Bars from last period's revenue (first row) through each region's change to the target (last row).

    ``steps``: ``label, value`` — the first and last rows are levels, the rows between are changes.
    """
    if ax is None:
        _fig, ax = plt.subplots(figsize=(8, 3.5))
    vals = steps["value"].to_numpy(float)
    bottoms, heights, colors = [], [], []
    running = vals[0]
    for i, v in enumerate(vals):
        if i in (0, len(vals) - 1):
            bottoms.append(0.0), heights.append(v), colors.append(viz.ACCENT if i else viz.MUTED)
        else:
            bottoms.append(running if v >= 0 else running + v), heights.append(abs(v))
            colors.append(viz.STATUS["green"] if v >= 0 else viz.STATUS["red"])
            running += v
    x = np.arange(len(vals))
    ax.bar(x, heights, bottom=bottoms, color=colors)
    ax.set_xticks(x, steps["label"].astype(str), rotation=30, ha="right")
    viz.money_axis(ax)
    lo = min(b for b in bottoms[1:-1]) if len(vals) > 2 else 0
    ax.set_ylim(bottom=max(0.0, 0.9 * min(lo, vals[0], vals[-1])))
    ax.set_ylabel(_("Revenue in the period"))
    ax.set_title(_("From last period's revenue to the target: the change in each region"))
    return ax


def plot_month_profile(monthly: pd.DataFrame, *, ax=None):
    """One line per unit (``key``): the monthly target (solid) and the same month last period (dotted).

    ``monthly``: ``key, month`` (a label), ``target, last_year``. Drawn as small multiples when ``ax`` is
    None; on a given ``ax`` every unit shares it.
    """
    keys = list(dict.fromkeys(monthly["key"]))
    if ax is None:
        fig, axes = plt.subplots(1, len(keys), figsize=(2.6 * len(keys) + 1, 3), sharey=True, squeeze=False)
        axes = list(axes[0])
        ax = axes[0]
    else:
        axes = [ax] * len(keys)
    for a, key, color in zip(axes, keys, viz.PALETTE * (len(keys) // len(viz.PALETTE) + 1)):
        g = monthly[monthly["key"] == key]
        a.plot(g["month"].astype(str), g["target"], color=color, label=_("{key} target", key=key))
        a.plot(g["month"].astype(str), g["last_year"], color=color, linestyle=":",
               label=_("{key} last year", key=key))
        a.tick_params(axis="x", labelrotation=90, labelsize=7)
        viz.money_axis(a)
        if a is not ax or len(set(map(id, axes))) > 1:
            a.set_title(str(key))
    if len(set(map(id, axes))) > 1:
        ax.legend([_("target"), _("last period")], fontsize=7, loc="upper left")
    return ax


def plot_reach_distribution(pieces: pd.DataFrame, *, lines: Mapping[str, float], ax=None):
    """Histogram of P(reach) across pieces (``prob_reach``), bars coloured by the risk band, lines at red/amber."""
    if ax is None:
        _fig, ax = plt.subplots(figsize=(7, 3))
    bins = np.linspace(0, 1, 21)
    counts, edges = np.histogram(pieces["prob_reach"].to_numpy(float), bins=bins)
    mids = (edges[:-1] + edges[1:]) / 2
    colors = [viz.STATUS["red"] if m < lines["red"] else viz.STATUS["amber"] if m < lines["amber"]
              else viz.STATUS["green"] for m in mids]
    ax.bar(mids, counts, width=edges[1] - edges[0], color=colors, edgecolor="white")
    for name in ("red", "amber"):
        ax.axvline(lines[name], color=viz.TARGET, linestyle="--", linewidth=1)
    viz.pct_axis(ax, "x")
    ax.set_xlim(0, 1)
    ax.set_xlabel(_("P(reach the planned target)"))
    ax.set_ylabel(_("pieces"))
    return ax
