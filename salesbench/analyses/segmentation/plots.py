"""Segmentation figures: ``plot_<thing>(frame, *, ax=None, ...) -> Axes`` on the tables of :class:`.model.Segmentation`.

Each function draws on ``ax`` and returns it; with ``ax=None`` it creates a
figure of the report's size, draws, and tidies the layout (the notebook's
inline backend shows it). Titles are the report's; text is drawn literally
(:func:`salesbench.viz.apply_theme` turns mathtext off).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from sklearn.decomposition import PCA

from salesbench import viz
from salesbench.core.i18n import N_, messages
from salesbench.analyses.segmentation.lifecycle import LIFECYCLE_STAGES
from salesbench.analyses.segmentation.tiers import DEFAULT_TIER_CUTS, DEFAULT_TIER_NAMES

_, ngettext, pgettext = messages(__name__).functions()
_tr = messages(__name__).gettext  # for titles given as arguments (marked where they are written)
_label = messages(__name__).label


def _axes(ax, figsize: tuple[float, float]):
    """``ax``, or the axes of a new figure of ``figsize``."""
    return ax if ax is not None else plt.subplots(figsize=figsize)[1]


def _done(ax, title: str | None, created: bool):
    """Set the title; tidy the layout of a figure this module created. Returns ``ax``."""
    if title:
        ax.set_title(_tr(title))
    if created:
        viz.finish(ax.figure)
    return ax


def plot_segments(summary: pd.DataFrame, *, ax=None, label: str = "segment",
                  title: str | None = N_("RFM segments: share of revenue vs share of customers")):
    """Horizontal bars per segment: share of customers (grey) vs share of revenue (accent).

    ``summary`` from :func:`.rfm.segment_summary`. Sorted by revenue share. Returns ``ax``.
    """
    created = ax is None
    ax = _axes(ax, (8, 4.5))
    s = summary[summary["customers"] > 0].sort_values("revenue_share")
    y = np.arange(len(s))
    h = 0.4
    ax.barh(y + h / 2, s["revenue_share"], height=h, color=viz.ACCENT, label=_("share of revenue"))
    ax.barh(y - h / 2, s["customer_share"], height=h, color=viz.MUTED, label=_("share of customers"))
    ax.set_yticks(y)
    ax.set_yticklabels([_label("segment", x) for x in s[label].astype(str)])
    for yi, v in zip(y, s["revenue_share"]):
        ax.text(v, yi + h / 2, f" {viz.fmt_pct(v)}", va="center", fontsize=8)
    viz.pct_axis(ax, "x")
    ax.legend(loc="lower right")
    ax.set_xlabel("")
    return _done(ax, title, created)


def plot_pareto(curve: pd.DataFrame, cuts: Sequence[float] = DEFAULT_TIER_CUTS,
                names: Sequence[str] = DEFAULT_TIER_NAMES, *, ax=None, basis: str = "profit",
                title: str | None = N_("Pareto curve")):
    """Pareto curve: cumulative share of value vs share of customers, tier bands shaded.

    The 20% of customers mark and the diagonal (equal shares) are drawn for reference.
    """
    created = ax is None
    ax = _axes(ax, (8, 4))
    x = np.concatenate([[0.0], curve["customer_share"].to_numpy()])
    y = np.concatenate([[0.0], curve["value_share"].to_numpy()])
    ax.plot(x, y, color=viz.ACCENT, lw=2)
    ax.plot([0, 1], [0, 1], color=viz.MUTED, lw=1, ls=":")
    shown = _label("basis", basis)
    bounds = [0.0] + list(cuts) + [max(1.0, float(np.nanmax(y)) if len(y) else 1.0)]
    for i, name in enumerate(names):
        lo, hi = bounds[i], bounds[i + 1]
        ax.axhspan(lo, hi, color=viz.PALETTE[i % len(viz.PALETTE)], alpha=0.08, lw=0)
        ax.text(0.99, (lo + min(hi, 1.0)) / 2, _label("tier", name),
                ha="right", va="center", fontsize=8, transform=ax.get_yaxis_transform())
    if len(x) > 1:
        y20 = float(np.interp(0.2, x, y))
        ax.axvline(0.2, color=viz.TARGET, lw=1, ls="--")
        ax.annotate(_("top 20% → {share} of {basis}", share=viz.fmt_pct(y20), basis=shown), (0.2, y20), xytext=(8, -14),
                    textcoords="offset points", fontsize=9)
    viz.pct_axis(ax, "x")
    viz.pct_axis(ax, "y")
    ax.set_xlabel(_("share of customers (largest first)"))
    ax.set_ylabel(_("cumulative share of {basis}", basis=shown))
    ax.set_xlim(0, 1)
    return _done(ax, title, created)


def plot_migration(matrix: pd.DataFrame, *, ax=None, normalize: bool = False, title: str | None = None):
    """Heatmap of :func:`.migration.migration_matrix` counts (row shares with ``normalize=True``)."""
    created = ax is None
    ax = _axes(ax, (9, 6))
    m = matrix.loc[matrix.sum(axis=1) > 0, matrix.sum(axis=0) > 0]
    data = m.div(m.sum(axis=1), axis=0) if normalize else m
    data = data.rename(index=lambda x: _label("segment", x), columns=lambda x: _label("segment", x))
    sns.heatmap(data, ax=ax, cmap=viz.SEQUENTIAL, annot=m.to_numpy(), fmt="d", cbar=False,
                linewidths=0.5, linecolor="white", annot_kws={"fontsize": 7})
    ax.set_ylabel(_("segment before"))
    ax.set_xlabel(_("segment now"))
    ax.tick_params(axis="x", rotation=45)
    for lab in ax.get_xticklabels():
        lab.set_horizontalalignment("right")
    return _done(ax, title, created)


def plot_clusters_2d(X: pd.DataFrame, labels: pd.Series, profiles: Mapping[int, str] | None = None, *,
                     ax=None, max_points: int = 5000, seed: int = 0,
                     title: str | None = N_("Clusters on the first two principal components")):
    """2-D view of the clusters: the first two principal components of the model matrix.

    Plots a random sample of at most ``max_points`` customers, one colour per
    cluster (legend = cluster number and profile). Returns ``ax``.
    """
    created = ax is None
    ax = _axes(ax, (8, 5))
    pca = PCA(n_components=2, random_state=seed).fit(X.to_numpy())
    n = len(X)
    idx = np.sort(np.random.default_rng(seed).choice(n, size=min(n, max_points), replace=False))
    P = pca.transform(X.to_numpy()[idx])
    lab = labels.to_numpy()[idx]
    for i, c in enumerate(sorted(set(labels))):
        m = lab == c
        text = f"{c}: {profiles[c]}" if profiles and c in profiles else str(c)
        ax.scatter(P[m, 0], P[m, 1], s=6, alpha=0.5, color=viz.PALETTE[i % len(viz.PALETTE)], label=text)
    ev = pca.explained_variance_ratio_
    ax.set_xlabel(_("component 1 ({share} of variance)", share=viz.fmt_pct(ev[0])))
    ax.set_ylabel(_("component 2 ({share})", share=viz.fmt_pct(ev[1])))
    ax.legend(loc="best", fontsize=8, markerscale=3)
    return _done(ax, title, created)


def plot_lifecycle(summary: pd.DataFrame, *, ax=None, title: str | None = N_("Customers by lifecycle stage")):
    """Bars of customers per lifecycle stage in status colours (new blue, active green, at-risk amber, lapsed red)."""
    created = ax is None
    ax = _axes(ax, (7, 3.5))
    colors = {"new": viz.ACCENT, "active": viz.STATUS["green"], "at-risk": viz.STATUS["amber"], "lapsed": viz.STATUS["red"]}
    s = summary.set_index("segment").reindex(LIFECYCLE_STAGES).fillna(0)
    ax.bar([_label("lifecycle", x) for x in s.index], s["customers"], color=[colors[x] for x in s.index])
    for i, (v, sh) in enumerate(zip(s["customers"], s["revenue_share"])):
        ax.text(i, v, _("{n}\n{share} of revenue", n=viz.fmt_num(v), share=viz.fmt_pct(sh)), ha="center", va="bottom",
                fontsize=8)
    ax.set_ylabel(_("customers"))
    ax.margins(y=0.2)
    return _done(ax, title, created)


def plot_breakdown(breakdown: pd.DataFrame, by: str, order: Sequence[str] | None = None, *, ax=None,
                   title: str | None = None):
    """Heatmap: share of each segment inside each ``by`` group (rows = groups)."""
    created = ax is None
    ax = _axes(ax, (9, 0.45 * breakdown[by].nunique() + 1.6))
    m = breakdown.pivot(index=by, columns="segment", values="share_of_group").fillna(0)
    if order is not None:
        m = m.reindex(columns=[s for s in order if s in m.columns])
    m = m.rename(columns=lambda x: _label("segment", x), index=lambda x: _label(by, x))
    sns.heatmap(m, ax=ax, cmap=viz.SEQUENTIAL, annot=True, fmt=".0%", cbar=False, linewidths=0.5,
                linecolor="white", annot_kws={"fontsize": 7})
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.tick_params(axis="y", rotation=0)
    ax.tick_params(axis="x", rotation=45)
    for lab in ax.get_xticklabels():
        lab.set_horizontalalignment("right")
    return _done(ax, title, created)
