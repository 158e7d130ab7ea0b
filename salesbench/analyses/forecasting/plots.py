"""Figures of the forecasting report. Each ``plot_*`` takes ``ax=`` (a new figure when None) and returns the axes.

Colours come from :mod:`salesbench.viz`: the accent blue for actuals and the
chosen forecast, muted grey for context, the status colours for lifecycle
stages and target attainment.
"""
from __future__ import annotations

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from salesbench import viz
from salesbench.analyses.forecasting.backtest import MODEL_LABELS
from salesbench.analyses.forecasting.lifecycle import STAGE_STATUS
from salesbench.analyses.forecasting.series import TOTAL
from salesbench.core import i18n
from salesbench.core.i18n import messages

_, ngettext, pgettext = messages(__name__).functions()


def _model(m: str) -> str:
    return messages(__name__).label("model", MODEL_LABELS[m]) if m in MODEL_LABELS else _("chosen per series")


def _date_formatter(locator) -> mdates.ConciseDateFormatter:
    """Concise date ticks; in Chinese with 年/月/日 instead of English month names."""
    if not i18n.is_cjk():
        return mdates.ConciseDateFormatter(locator)
    return mdates.ConciseDateFormatter(
        locator, formats=["%Y年", "%m月", "%d日", "%H:%M", "%H:%M", "%S.%f"],
        zero_formats=["", "%Y年", "%m月", "%m月%d日", "%H:%M", "%H:%M"],
        offset_formats=["", "%Y年", "%Y年%m月", "%Y年%m月%d日", "%Y年%m月%d日", "%Y年%m月%d日 %H:%M"])


def _series(uid) -> str:
    return _("Total") if uid == TOTAL else str(uid)


def plot_fan(history: pd.DataFrame, forecast: pd.DataFrame, *, uid: str = TOTAL, ax=None, n_history: int = 24,
             targets: pd.DataFrame | None = None, holdout: pd.DataFrame | None = None, title: str | None = None,
             money: bool = True):
    """History + forecast fan chart of one series: mean line, 80% and 95% bands, targets as markers.

    ``history``/``holdout``: ``unique_id, ds, y``; ``forecast``: ``unique_id, ds,
    mean, lo80, hi80, lo95, hi95``; ``targets``: ``unique_id, ds, target``.
    """
    if ax is None:
        _fig, ax = plt.subplots(figsize=(9, 4))
    h = history[history["unique_id"] == uid].sort_values("ds").tail(n_history)
    f = forecast[forecast["unique_id"] == uid].sort_values("ds")
    ax.plot(h["ds"], h["y"], color=viz.ACCENT, lw=2, label=_("actual"))
    if len(h) and len(f):  # join the last actual to the first forecast
        f_line = pd.concat([pd.DataFrame({"ds": [h["ds"].iloc[-1]], "mean": [h["y"].iloc[-1]]}), f[["ds", "mean"]]])
    else:
        f_line = f[["ds", "mean"]]
    ax.fill_between(f["ds"], f["lo95"], f["hi95"], color=viz.ACCENT, alpha=0.12, lw=0, label=_("95% interval"))
    ax.fill_between(f["ds"], f["lo80"], f["hi80"], color=viz.ACCENT, alpha=0.25, lw=0, label=_("80% interval"))
    ax.plot(f_line["ds"], f_line["mean"], color=viz.ACCENT, lw=2, ls="--", label=_("forecast"))
    if holdout is not None and not holdout.empty:
        ho = holdout[holdout["unique_id"] == uid]
        ax.plot(ho["ds"], ho["y"], "o", color=viz.TARGET, ms=4, label=_("actual after as-of"))
    if targets is not None and not targets.empty:
        t = targets[targets["unique_id"] == uid]
        ax.plot(t["ds"], t["target"], "_", color=viz.STATUS["red"], ms=18, mew=2.5, label=_("target"))
    if money:
        viz.money_axis(ax)
    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(_date_formatter(locator))
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_title(title or _series(uid))
    ax.legend(loc="upper left", fontsize=8, ncol=2)
    return ax


def plot_backtest_errors(levels: pd.DataFrame, *, ax=None, metric: str = "mase"):
    """Backtest error (mean MASE by default) per hierarchy level and model; dashed line = MASE 1."""
    if ax is None:
        _fig, ax = plt.subplots(figsize=(9, 4))
    df = levels.copy()
    level_order = list(dict.fromkeys(df.sort_values("depth")["level"]))
    models = [m for m in [*MODEL_LABELS, "chosen"] if m in set(df["model"])]
    width = 0.8 / max(len(models), 1)
    x = np.arange(len(level_order))
    colors = {m: (viz.TARGET if m == "chosen" else viz.PALETTE[(i + 1) % len(viz.PALETTE)]) for i, m in enumerate(models)}
    colors["seasonal_naive"] = viz.MUTED
    for i, m in enumerate(models):
        vals = [df[(df["level"] == lv) & (df["model"] == m)][metric].mean() for lv in level_order]
        ax.bar(x + (i - (len(models) - 1) / 2) * width, vals, width, color=colors[m],
               label=_model(m))
    if metric == "mase":
        ax.axhline(1.0, color=viz.TARGET, lw=1, ls="--")
    ax.set_xticks(x)
    ax.set_xticklabels([" ×\n".join(messages(__name__).label("level", p) for p in lv.split("/")) for lv in level_order],
                       fontsize=8)
    ax.set_ylabel({"mase": _("MASE (lower is better)"), "wape": "WAPE"}.get(metric, metric))
    if metric == "wape":
        viz.pct_axis(ax)
    ax.set_title(_("Backtest error by model and level"))
    ax.legend(fontsize=8, ncol=3, loc="upper left")
    return ax


def plot_target_gap(gap: pd.DataFrame, *, ax=None, uid: str = TOTAL):
    """Forecast (with 80% interval) against target per period, probability of reaching it annotated."""
    if ax is None:
        _fig, ax = plt.subplots(figsize=(8, 3.5))
    g = gap[gap["unique_id"] == uid].sort_values("ds")
    labels = [viz.fmt_month(d) for d in g["ds"]]
    x = np.arange(len(g))
    colors = [viz.STATUS["green"] if p >= 0.5 else viz.STATUS["amber"] if p >= 0.2 else viz.STATUS["red"]
              for p in g["prob_reach"]]
    ax.bar(x, g["mean"], color=colors, alpha=0.85, label=_("forecast"))
    ax.errorbar(x, g["mean"], yerr=[g["mean"] - g["lo80"], g["hi80"] - g["mean"]], fmt="none",
                ecolor=viz.TARGET, capsize=4, label=_("80% interval"))
    ax.plot(x, g["target"], "_", color=viz.STATUS["red"], ms=30, mew=3, label=_("target"))
    if "actual" in g and g["actual"].notna().any():
        ax.plot(x, g["actual"], "o", color=viz.TARGET, label=_("actual"))
    for xi, (m, p) in enumerate(zip(g["hi80"], g["prob_reach"])):
        ax.annotate(_("{prob} likely", prob='>99%' if p > 0.99 else '<1%' if p < 0.01 else viz.fmt_pct(p)), (xi, m), textcoords="offset points", xytext=(0, 4),
                    ha="center", fontsize=9)
    ax.set_xticks(x)
    ax.set_xticklabels(labels)
    viz.money_axis(ax)
    ax.set_title(_("{series}: forecast against target", series=_series(uid)))
    ax.legend(fontsize=8, loc="lower right")
    return ax


def plot_lifecycle(stages: pd.DataFrame, *, ax=None):
    """Relative year-on-year growth per product line, bars coloured by lifecycle stage (stage named)."""
    if ax is None:
        _fig, ax = plt.subplots(figsize=(8, 3.5))
    df = stages.sort_values("relative_growth", na_position="first").reset_index(drop=True)
    vals = df["relative_growth"].fillna(0).clip(-1, 2)
    colors = [viz.status_color(STAGE_STATUS.get(s, "grey")) for s in df["stage"]]
    ax.barh(np.arange(len(df)), vals, color=colors)
    ax.set_yticks(np.arange(len(df)))
    ax.set_yticklabels([_("{line}  ({stage})", line=p, stage=messages(__name__).label("stage", s))
                        for p, s in zip(df["product_line"], df["stage"])])
    ax.axvline(0, color=viz.TARGET, lw=1)
    viz.pct_axis(ax, "x")
    ax.set_xlabel(_("growth vs. the whole business, last 12 months (capped at 200%)"))
    ax.set_title(_("Product lifecycle"))
    return ax


def fan_grid(history: pd.DataFrame, forecast: pd.DataFrame, ids, *, targets: pd.DataFrame | None = None,
             holdout: pd.DataFrame | None = None, ncols: int = 2, n_history: int = 24, fig=None) -> np.ndarray:
    """Small multiples of :func:`plot_fan` for ``ids`` on ``fig`` (default: a new figure sized to the grid).

    Returns the grid's axes (``nrows × ncols``; the ones past the last id are hidden).
    """
    ids = list(ids)
    nrows = max(1, int(np.ceil(len(ids) / ncols)))
    if fig is None:
        fig = plt.figure(figsize=(5 * ncols, 3.2 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, uid in zip(axes.flat, ids):
        plot_fan(history, forecast, uid=uid, ax=ax, targets=targets, holdout=holdout, n_history=n_history)
        ax.tick_params(axis="x", labelsize=8)
        if ax is not axes.flat[0]:
            ax.get_legend().remove()
    for ax in list(axes.flat)[len(ids):]:
        ax.set_visible(False)
    fig.tight_layout()
    return axes
