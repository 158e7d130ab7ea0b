"""The churn report's figures: each ``plot_<thing>(frame, *, ax=None, ...) -> Axes`` on a tidy frame of
:class:`~salesbench.analyses.churn.model.Churn` (``risk_by_``, ``grid_``, ``predictions_``, ``ppc_``,
``warning_.effects_``, ``holdout_["by_frequency"]``); a new figure when ``ax`` is None.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from salesbench import viz
from salesbench.core.i18n import N_, messages

_, ngettext, pgettext = messages(__name__).functions()

#: the title of :func:`plot_revenue_at_risk` per grouping
_BY_TITLES = {"region": N_("Revenue at risk by region"), "segment": N_("Revenue at risk by segment"),
              "owner_rep_id": N_("Revenue at risk by owner rep")}
_UNITS = {"D": N_("days"), "W": N_("weeks"), "M": N_("months")}


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots()
    return ax


def plot_revenue_at_risk(risk_by: pd.DataFrame, by: str = "region", *, ax=None, top: int = 15):
    """Revenue at risk per group (``by`` = region, segment or owner_rep_id) with 94% intervals."""
    ax = _axes(ax)
    df = risk_by[risk_by["by"] == by].sort_values("mean", ascending=False).head(top)
    if df.empty:
        ax.text(0.5, 0.5, _("No customer at risk"), ha="center", va="center", transform=ax.transAxes)
        return ax
    lo, hi = pd.to_numeric(df["lo"], errors="coerce"), pd.to_numeric(df["hi"], errors="coerce")
    df = df.assign(lo=lo.fillna(df["mean"]), hi=hi.fillna(df["mean"]))  # MAP: a point, no interval
    viz.interval_plot(df, label="group", mean="mean", lo="lo", hi="hi", ax=ax, color=viz.STATUS["red"])
    viz.money_axis(ax, "x")
    ax.set_xlabel(_("Revenue at risk (expected, 94% predictive interval)"))
    ax.set_ylabel("")
    ax.set_title(_(_BY_TITLES[by]) if by in _BY_TITLES else f"Revenue at risk by {by.replace('_id', '').replace('_', ' ')}")
    return ax


def plot_p_alive_heatmap(grid: pd.DataFrame, *, ax=None, T: float | None = None, unit: str = "W"):
    """Heatmap of P(alive) over frequency (rows) × recency (columns) at a fixed customer age."""
    ax = _axes(ax)
    mat = grid.pivot(index="frequency", columns="recency", values="p_alive").sort_index(ascending=False)
    im = ax.imshow(mat.to_numpy(), aspect="auto", cmap=viz.SEQUENTIAL, vmin=0, vmax=1,
                   extent=[mat.columns.min(), mat.columns.max(), mat.index.min() - 0.5, mat.index.max() + 0.5])
    ax.figure.colorbar(im, ax=ax, label="P(alive)")
    units = _(_UNITS[unit])
    ax.set_xlabel(_("Recency: time of last purchase since first ({units})", units=units))
    ax.set_ylabel(_("Repeat purchases (frequency)"))
    ax.grid(False)
    ax.set_title(_("Probability a customer is still active (customer age {age} {units})", age=format(T, ".0f"), units=units)
                 if T else _("Probability a customer is still active"))
    return ax


def plot_clv_distribution(pred: pd.DataFrame, *, ax=None):
    """Histogram of customer lifetime value (posterior means), log scale, median marked."""
    ax = _axes(ax)
    v = pred["clv"].to_numpy()
    v = v[v > 0]
    if len(v) == 0:
        return ax
    low = max(float(np.quantile(v, 0.005)), 1.0)
    bins = np.logspace(np.log10(low), np.log10(max(v.max(), low * 10)), 40)
    ax.hist(np.clip(v, low, None), bins=bins, color=viz.ACCENT, alpha=0.85)  # the tiny tail joins the first bin
    ax.set_xscale("log")
    viz.money_axis(ax, "x")
    med = float(np.median(v))
    ax.axvline(med, color=viz.TARGET, ls="--", lw=1)
    ax.annotate(_("median {value}", value=viz.fmt_money(med)), (med, ax.get_ylim()[1] * 0.9), xytext=(4, 0),
                textcoords="offset points")
    ax.set_xlabel(_("Customer lifetime value (discounted, log scale)"))
    ax.set_ylabel(_("Customers"))
    ax.set_title(_("Distribution of customer lifetime value"))
    return ax


def plot_ppc(ppc: pd.DataFrame, *, ax=None):
    """Observed vs model-simulated repeat-purchase histogram with 94% intervals."""
    ax = _axes(ax)
    x = np.arange(len(ppc))
    ax.bar(x - 0.2, ppc["observed"], width=0.4, color=viz.ACCENT, label=_("observed"))
    ax.bar(x + 0.2, ppc["predicted"], width=0.4, color=viz.MUTED, label=_("model (mean)"))
    ax.errorbar(x + 0.2, ppc["predicted"], yerr=[ppc["predicted"] - ppc["lo"], ppc["hi"] - ppc["predicted"]],
                fmt="none", ecolor=viz.TARGET, capsize=3, label=_("94% interval"))
    ax.set_xticks(x)
    ax.set_xticklabels(ppc["frequency"])
    ax.set_xlabel(_("Repeat purchases in the calibration period"))
    ax.set_ylabel(_("Customers"))
    ax.set_title(_("Posterior predictive check: repeat purchases"))
    ax.legend()
    return ax


def plot_holdout_calibration(by_frequency: pd.DataFrame, *, ax=None):
    """Mean predicted vs actual holdout purchases per calibration frequency (Fader et al. 2005, fig. 4)."""
    ax = _axes(ax)
    x = np.arange(len(by_frequency))
    ax.plot(x, by_frequency["actual"], "o-", color=viz.ACCENT, label=_("actual"))
    ax.plot(x, by_frequency["predicted"], "s--", color=viz.PALETTE[1], label=_("predicted"))
    ax.set_xticks(x)
    ax.set_xticklabels(by_frequency["frequency"])
    ax.set_xlabel(_("Repeat purchases in the calibration period"))
    ax.set_ylabel(_("Purchases per customer in the holdout"))
    ax.set_title(_("Holdout: predicted vs actual by frequency"))
    ax.legend()
    return ax


def plot_effects(effects: pd.DataFrame, *, ax=None):
    """Forest plot of the company-wide effect of each warning indicator (log-odds per SD, 94% HDI)."""
    ax = _axes(ax)
    df = effects.sort_values("mean", ascending=False)
    df = df.assign(label=[messages(__name__).label("indicator", v) for v in df["label"]])
    viz.interval_plot(df, label="label", mean="mean", lo="lo", hi="hi", ax=ax, reference=0.0)
    ax.set_xlabel(_("Effect on churn (log-odds per standard deviation, 94% interval)"))
    ax.set_title(_("Which warning signs predict churn"))
    return ax
