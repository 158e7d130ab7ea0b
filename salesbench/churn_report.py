"""The churn report: runs the churn analysis end to end and turns it into cards, text, figures.

:func:`analyse` is what the notebook calls: it builds the calibration summary
(:func:`salesbench.churn.rfm_table`), fits the purchase and spend models
(:class:`salesbench.churn.ChurnModel`), predicts every customer, ranks the
at-risk list, sums revenue at risk per region / segment / owner rep, runs the
model checks (convergence, posterior predictive check, holdout test when data
after ``calibration_end`` exists) and the early-warning model
(:mod:`salesbench.churn_warning`) when the data has the signals. The other
functions turn the resulting :class:`ChurnAnalysis` into headline cards,
sentences, figures and ``churn.results.json`` entries.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import churn, churn_warning, viz


@dataclass
class ChurnAnalysis:
    """Everything the churn report shows (see :func:`analyse`)."""

    params: dict[str, Any]
    calibration_end: pd.Timestamp
    rfm: pd.DataFrame
    model: churn.ChurnModel
    predictions: pd.DataFrame
    attrs: pd.DataFrame
    at_risk: pd.DataFrame
    risk_by: pd.DataFrame
    convergence: dict[str, Any]
    ppc: pd.DataFrame
    grid: pd.DataFrame
    holdout: dict[str, Any] | None = None
    warning: churn_warning.EarlyWarningModel | None = None
    warning_reason: str | None = None
    truth: dict[str, Any] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def revenue_at_risk(self) -> dict[str, float | None]:
        tot = self.risk_by[self.risk_by["by"] == "total"]
        if tot.empty:
            return {"mean": 0.0, "lo": 0.0 if self.model.n_draws_ > 1 else None, "hi": 0.0 if self.model.n_draws_ > 1 else None}
        r = tot.iloc[0]
        return {"mean": float(r["mean"]), "lo": _none(r["lo"]), "hi": _none(r["hi"])}


def _none(x):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def analyse(ds, model: str = "mbg_nbd", fit_method: str = "mcmc", priors: str = "default", time_unit: str = "W",
            calibration_end=None, horizon: int = 52, clv_months: int = 24, discount_rate: float = 0.10,
            draws: int = 1000, tune: int = 1000, chains: int = 2, seed: int = 42, max_pred_draws: int = 400,
            chunk_size: int = 5000, vi_iterations: int = 30000, at_risk_p_alive: float = 0.5,
            at_risk_min_value_quantile: float = 0.5, segment_by: str = "tier", early_warning: bool = True,
            warning_window_days: int = 180, warning_label_days: int = 180, warning_draws: int = 500,
            **_ignored) -> ChurnAnalysis:
    """Run the whole churn analysis on a :class:`salesbench.Dataset` (parameters as in ``params/churn.yaml``).

    The notebook passes its whole parameter set (``analyse(ds, **P)``); the keys that do not
    concern the analysis itself (``data``, ``out_dir``, ``top_n``) are accepted and ignored.
    """
    unknown = set(_ignored) - {"data", "out_dir", "top_n"}
    if unknown:
        raise TypeError(f"analyse() got unknown parameter(s): {', '.join(sorted(unknown))}")
    params = dict(locals())
    for k in ("ds", "_ignored", "unknown"):
        params.pop(k)
    orders = ds.table("orders")
    last = churn.last_order_date(orders)
    end = pd.Timestamp(calibration_end).normalize() if calibration_end is not None else last
    if end > last:
        raise ValueError(f"calibration_end {end.date()} is after the last order date {last.date()}")
    unit_days = churn.check_time_unit(time_unit)
    rfm = churn.rfm_table(orders, end, time_unit)
    cm = churn.ChurnModel(model=model, fit_method=fit_method, priors=priors, draws=draws, tune=tune, chains=chains,
                          seed=seed, max_draws=max_pred_draws, chunk_size=chunk_size, vi_iterations=vi_iterations)
    cm.fit(rfm)
    pred = cm.predict(rfm, horizon=horizon, clv_months=clv_months, discount_rate=discount_rate, time_unit=time_unit)
    attrs = churn.customer_attributes(ds, rfm["customer_id"], segment_by=segment_by)
    at_risk = churn.at_risk_customers(pred, attrs, p_alive_max=at_risk_p_alive,
                                      min_clv_quantile=at_risk_min_value_quantile)
    sub = rfm[rfm["customer_id"].isin(at_risk["customer_id"])]
    risk_by = cm.group_totals(sub, attrs[["customer_id", "region", "segment", "owner_rep_id"]], horizon,
                              value="revenue_at_risk", clv_months=clv_months, discount_rate=discount_rate,
                              time_unit=time_unit)
    ppc = cm.repeat_purchase_ppc(rfm)
    max_f = int(min(max(rfm["frequency"].quantile(0.99), 5), 40))
    grid = cm.p_alive_grid(max_f, float(rfm["T"].quantile(0.9)))
    holdout = None
    if end < last:
        hold, length_days = churn.holdout_purchases(orders, end, rfm["customer_id"], last=last)
        holdout = cm.holdout_check(rfm, hold, length_days / unit_days)
    A = ChurnAnalysis(params=params, calibration_end=end, rfm=rfm, model=cm, predictions=pred, attrs=attrs,
                      at_risk=at_risk, risk_by=risk_by, convergence=cm.convergence(), ppc=ppc, grid=grid,
                      holdout=holdout)
    A.extras["last_order_date"] = last
    # early-warning model
    inds = churn_warning.available_indicators(ds)
    as_of = end - pd.Timedelta(days=warning_label_days)
    if not early_warning:
        A.warning_reason = "The early-warning model was switched off (early_warning = false)."
    elif not inds:
        A.warning_reason = ("The early-warning model is skipped: the data has only orders, no surveys, "
                            "interactions or invoices to take warning signs from.")
    elif as_of - pd.Timedelta(days=2 * warning_window_days) < pd.Timestamp(rfm["first_purchase"].min()):
        A.warning_reason = ("The early-warning model is skipped: the history before calibration_end is too short "
                            f"for a {warning_window_days}-day window plus a {warning_label_days}-day outcome period.")
    else:
        frame = churn_warning.warning_indicators(ds, as_of, warning_window_days, warning_label_days)
        if frame["churned"].nunique() < 2 or len(frame) < 50:
            A.warning_reason = "The early-warning model is skipped: too few customers or no churn in the outcome period."
        else:
            A.warning = churn_warning.EarlyWarningModel(inds, draws=warning_draws, tune=warning_draws, chains=chains,
                                                        seed=seed).fit(frame)
            A.extras["warning_as_of"] = as_of
    # ground truth (demo data only)
    tc = ds.truth_customers() if hasattr(ds, "truth_customers") else None
    if tc is not None and "churned_at" in tc.columns:
        A.truth = churn.truth_check(pred, tc, end, at_risk)
    return A


# --------------------------------------------------------------------------- text and cards
def _interval(d: dict, fmt=viz.fmt_money) -> str:
    if d.get("lo") is None or d.get("hi") is None:
        return "MAP point estimate, no interval"
    return f"94% interval {fmt(d['lo'])}–{fmt(d['hi'])}"


def _unit_name(A: "ChurnAnalysis") -> str:
    return {"D": "days", "W": "weeks", "M": "months"}[A.params["time_unit"]]


def headline_cards(A: ChurnAnalysis) -> list[dict[str, Any]]:
    """The first-screen KPI cards: revenue at risk, customers at risk, probably gone, customer base value."""
    p = A.predictions["p_alive"]
    gone = int((churn.status_of(p) == "probably gone").sum())
    rar = A.revenue_at_risk
    clv = A.model.totals_["clv"]
    unit = _unit_name(A)
    return [
        {"label": f"Revenue at risk (next {A.params['horizon']} {unit})", "value": viz.fmt_money(rar["mean"]),
         "sub": _interval(rar), "status": "red" if rar["mean"] else "green"},
        {"label": "Customers at risk", "value": viz.fmt_num(len(A.at_risk)),
         "sub": f"P(alive) < {A.params['at_risk_p_alive']:.0%}, CLV in the top {1 - A.params['at_risk_min_value_quantile']:.0%}",
         "status": "amber"},
        {"label": "Probably gone", "value": viz.fmt_pct(gone / len(p)),
         "sub": f"{gone:,} of {len(p):,} customers with P(alive) < 30%"},
        {"label": f"Customer base value ({A.params['clv_months']} months)", "value": viz.fmt_money(clv["mean"]),
         "sub": _interval(clv)},
    ]


def narrative_sentences(A: ChurnAnalysis) -> list[str]:
    """Generated sentences with the numbers of the first screen."""
    p = A.predictions["p_alive"]
    status = churn.status_of(p)
    n = len(p)
    rar = A.revenue_at_risk
    s = [
        f"Of {n:,} customers who bought by {A.calibration_end.date()}, {viz.fmt_pct((status == 'active').mean())} "
        f"are probably still active, {viz.fmt_pct((status == 'slipping').mean())} are slipping and "
        f"{viz.fmt_pct((status == 'probably gone').mean())} are probably gone "
        f"({A.params['model'].replace('_', '/').upper()} model, {A.params['fit_method'].upper()} fit).",
    ]
    if len(A.at_risk):
        reg = A.risk_by[A.risk_by["by"] == "region"].sort_values("mean", ascending=False)
        top = f" The largest part is in {reg.iloc[0]['group']} ({viz.fmt_money(reg.iloc[0]['mean'])})." if len(reg) else ""
        s.append(f"{len(A.at_risk):,} high-value customers are at risk: {viz.fmt_money(rar['mean'])} of revenue "
                 f"over the next {A.params['horizon']} {_unit_name(A)} ({_interval(rar)}) if they have left.{top}")
    else:
        s.append("No high-value customer currently has a low probability of being active.")
    if A.warning is not None:
        s.append(churn_warning.effect_sentence(A.warning.effects_))
    elif A.warning_reason:
        s.append(A.warning_reason)
    return s


def record_results(A: ChurnAnalysis, res) -> None:
    """Write every churn.results.json value, the headline figures and the exported CSV tables."""
    conv = A.convergence
    rar = A.revenue_at_risk
    res.set(
        model=A.params["model"], fit_method=A.params["fit_method"], priors=A.params["priors"],
        time_unit=A.params["time_unit"], calibration_end=A.calibration_end.date(), horizon=A.params["horizon"],
        clv_months=A.params["clv_months"], discount_rate=A.params["discount_rate"], seed=A.params["seed"],
        params=A.model.params_dict("purchase"), spend_params=A.model.params_dict("spend"),
        r_hat_max=conv["r_hat_max"], ess_bulk_min=conv["ess_bulk_min"], converged=conv["ok"],
        n_customers=len(A.rfm), n_at_risk=len(A.at_risk), revenue_at_risk=rar,
        revenue_at_risk_by={by: A.risk_by[A.risk_by["by"] == by][["group", "mean", "lo", "hi", "n_customers"]]
                            for by in ("region", "segment", "owner_rep_id")},
        customer_value=A.model.totals_["clv"], expected_purchases_total=A.model.totals_["expected_purchases"],
        mean_p_alive=float(A.predictions["p_alive"].mean()),
        status_counts=pd.Series(churn.status_of(A.predictions["p_alive"])).value_counts().to_dict(),
        repeat_purchase_ppc=A.ppc,
    )
    if A.holdout is not None:
        h = A.holdout
        res.set(holdout={k: h[k] for k in ("predicted_total", "predicted_lo", "predicted_hi", "actual_total",
                                           "error_pct", "mae", "length")} | {"by_frequency": h["by_frequency"]})
    if A.warning is not None:
        res.set(early_warning=A.warning.summary() | {"as_of": A.extras["warning_as_of"].date()})
    else:
        res.set(early_warning={"skipped": A.warning_reason})
    if A.truth is not None:
        res.set(truth_check=A.truth)
    for card in headline_cards(A)[:3]:
        res.headline(card["label"], card["value"], card["value"])
    cols = ["customer_id", "p_alive", "expected_purchases", "clv", "p_alive_lo", "p_alive_hi",
            "expected_purchases_lo", "expected_purchases_hi", "clv_lo", "clv_hi", "revenue_at_risk"]
    res.table("customers", A.predictions[cols].round(6))
    ar_cols = ["customer_id", "region", "segment", "owner_rep_id", "p_alive", "value_if_alive", "revenue_at_risk",
               "revenue_at_risk_lo", "revenue_at_risk_hi", "clv"]
    res.table("at_risk", A.at_risk[ar_cols].round(4))
    res.table("revenue_at_risk_by", A.risk_by.round(2))
    if A.warning is not None:
        res.table("warning_effects", A.warning.effects_.round(4))


def at_risk_display(A: ChurnAnalysis, top_n: int = 25) -> pd.DataFrame:
    """The first ``top_n`` rows of the at-risk list with readable column names."""
    df = A.at_risk.head(top_n)
    return pd.DataFrame({
        "Customer": df["customer_id"], "Region": df["region"], "Segment": df["segment"], "Owner rep": df["owner_rep_id"],
        "P(alive)": df["p_alive"].map(lambda v: viz.fmt_pct(v)),
        "Value if active": df["value_if_alive"].map(viz.fmt_money),
        "Revenue at risk": df["revenue_at_risk"].map(viz.fmt_money),
        "Status": churn.status_of(df["p_alive"]),
    })


def params_display(A: ChurnAnalysis) -> pd.DataFrame:
    """Population parameters of both models with intervals, R-hat and ESS."""
    frames = [A.model.params_.assign(model=A.params["model"])]
    if A.model.spend_params_ is not None:
        frames.append(A.model.spend_params_.assign(model="gamma_gamma"))
    return pd.concat(frames, ignore_index=True)[["model", "param", "mean", "lo", "hi", "r_hat", "ess_bulk"]]


# --------------------------------------------------------------------------- figures
def plot_revenue_at_risk(risk_by: pd.DataFrame, by: str = "region", ax=None, top: int = 15):
    """Revenue at risk per group (``by`` = region, segment or owner_rep_id) with 94% intervals."""
    ax = ax or plt.gca()
    df = risk_by[risk_by["by"] == by].sort_values("mean", ascending=False).head(top)
    if df.empty:
        ax.text(0.5, 0.5, "No customer at risk", ha="center", va="center", transform=ax.transAxes)
        return ax
    lo, hi = pd.to_numeric(df["lo"], errors="coerce"), pd.to_numeric(df["hi"], errors="coerce")
    df = df.assign(lo=lo.fillna(df["mean"]), hi=hi.fillna(df["mean"]))  # MAP: a point, no interval
    viz.interval_plot(df, label="group", mean="mean", lo="lo", hi="hi", ax=ax, color=viz.STATUS["red"])
    viz.money_axis(ax, "x")
    ax.set_xlabel("Revenue at risk (posterior mean, 94% interval)")
    ax.set_ylabel("")
    ax.set_title(f"Revenue at risk by {by.replace('_id', '').replace('_', ' ')}")
    return ax


def plot_p_alive_heatmap(grid: pd.DataFrame, ax=None, T: float | None = None, unit: str = "W"):
    """Heatmap of P(alive) over frequency (rows) × recency (columns) at a fixed customer age."""
    ax = ax or plt.gca()
    mat = grid.pivot(index="frequency", columns="recency", values="p_alive").sort_index(ascending=False)
    im = ax.imshow(mat.to_numpy(), aspect="auto", cmap=viz.SEQUENTIAL, vmin=0, vmax=1,
                   extent=[mat.columns.min(), mat.columns.max(), mat.index.min() - 0.5, mat.index.max() + 0.5])
    plt.colorbar(im, ax=ax, label="P(alive)")
    units = {"D": "days", "W": "weeks", "M": "months"}[unit]
    ax.set_xlabel(f"Recency: time of last purchase since first ({units})")
    ax.set_ylabel("Repeat purchases (frequency)")
    ax.grid(False)
    title = "Probability a customer is still active"
    ax.set_title(title + (f" (customer age {T:.0f} {units})" if T else ""))
    return ax


def plot_clv_distribution(pred: pd.DataFrame, ax=None):
    """Histogram of customer lifetime value (posterior means), log scale, median marked."""
    ax = ax or plt.gca()
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
    ax.annotate(f"median {viz.fmt_money(med)}", (med, ax.get_ylim()[1] * 0.9), xytext=(4, 0),
                textcoords="offset points")
    ax.set_xlabel("Customer lifetime value (discounted, log scale)")
    ax.set_ylabel("Customers")
    ax.set_title("Distribution of customer lifetime value")
    return ax


def plot_ppc(ppc: pd.DataFrame, ax=None):
    """Observed vs model-simulated repeat-purchase histogram with 94% intervals."""
    ax = ax or plt.gca()
    x = np.arange(len(ppc))
    ax.bar(x - 0.2, ppc["observed"], width=0.4, color=viz.ACCENT, label="observed")
    ax.bar(x + 0.2, ppc["predicted"], width=0.4, color=viz.MUTED, label="model (mean)")
    ax.errorbar(x + 0.2, ppc["predicted"], yerr=[ppc["predicted"] - ppc["lo"], ppc["hi"] - ppc["predicted"]],
                fmt="none", ecolor=viz.TARGET, capsize=3, label="94% interval")
    ax.set_xticks(x)
    ax.set_xticklabels(ppc["frequency"])
    ax.set_xlabel("Repeat purchases in the calibration period")
    ax.set_ylabel("Customers")
    ax.set_title("Posterior predictive check: repeat purchases")
    ax.legend()
    return ax


def plot_holdout_calibration(by_frequency: pd.DataFrame, ax=None):
    """Mean predicted vs actual holdout purchases per calibration frequency (Fader et al. 2005, fig. 4)."""
    ax = ax or plt.gca()
    x = np.arange(len(by_frequency))
    ax.plot(x, by_frequency["actual"], "o-", color=viz.ACCENT, label="actual")
    ax.plot(x, by_frequency["predicted"], "s--", color=viz.PALETTE[1], label="predicted")
    ax.set_xticks(x)
    ax.set_xticklabels(by_frequency["frequency"])
    ax.set_xlabel("Repeat purchases in the calibration period")
    ax.set_ylabel("Purchases per customer in the holdout")
    ax.set_title("Holdout: predicted vs actual by frequency")
    ax.legend()
    return ax


def plot_effects(effects: pd.DataFrame, ax=None):
    """Forest plot of the company-wide effect of each warning indicator (log-odds per SD, 94% HDI)."""
    ax = ax or plt.gca()
    df = effects.sort_values("mean", ascending=False)
    viz.interval_plot(df, label="label", mean="mean", lo="lo", hi="hi", ax=ax, reference=0.0)
    ax.set_xlabel("Effect on churn (log-odds per standard deviation, 94% interval)")
    ax.set_title("Which warning signs predict churn")
    return ax


def holdout_sentence(A: ChurnAnalysis) -> str:
    """Holdout result in words: predicted vs actual purchases after calibration_end."""
    h = A.holdout
    if h is None:
        return ""
    iv = (f" (94% interval {viz.fmt_num(h['predicted_lo'])}–{viz.fmt_num(h['predicted_hi'])})"
          if h.get("predicted_lo") is not None else "")
    err = f", {viz.fmt_pct(h['error_pct'], 1)} off" if h.get("error_pct") is not None else ""
    return (f"Holdout test over {h['length']:.1f} {_unit_name(A)} after {A.calibration_end.date()}: the model predicted "
            f"{viz.fmt_num(h['predicted_total'])} purchases{iv}; customers made {viz.fmt_num(h['actual_total'])}{err}. "
            f"Mean absolute error per customer: {h['mae']:.2f} purchases.")


def truth_sentence(A: ChurnAnalysis) -> str:
    """Demo data only: how well P(alive) separates the customers who truly churned."""
    t = A.truth
    if not t:
        return ""
    auc = "–" if t["auc"] is None else f"{t['auc']:.2f}"
    share = "–" if t["at_risk_churned_share"] is None else viz.fmt_pct(t["at_risk_churned_share"])
    return (f"Check against the demo generator's truth: P(alive) separates customers who truly churned by "
            f"calibration_end from those still active with AUC {auc}; {share} of the at-risk list truly churned, "
            f"against a base rate of {viz.fmt_pct(t['base_rate'])}.")
