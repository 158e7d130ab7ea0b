"""The churn report: runs the churn analysis end to end and turns it into cards, text, figures.

:func:`analyse` is what the notebook calls: it builds the calibration summary
(:func:`salesbench.analyses.churn.model.rfm_table`), fits the purchase and spend models
(:class:`salesbench.analyses.churn.model.ChurnModel`), predicts every customer, ranks the
at-risk list, sums revenue at risk per region / segment / owner rep, runs the
model checks (convergence, posterior predictive check, holdout test when data
after ``calibration_end`` exists) and the early-warning model
(:mod:`salesbench.analyses.churn.warning`) when the data has the signals. The other
functions turn the resulting :class:`ChurnAnalysis` into headline cards,
sentences, figures and ``churn.results.json`` entries.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from salesbench.analyses.churn import model as churn
from salesbench.analyses.churn import choice as churn_choice
from salesbench.analyses.churn import warning as churn_warning
from salesbench import viz


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
    choice: churn_choice.Choice | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def revenue_at_risk(self) -> dict[str, Any]:
        """Total revenue at risk of the at-risk list: expected value, 94% posterior-predictive interval
        (``lo``/``hi``) and the parameter-only interval (``lo_param``/``hi_param``)."""
        tot = self.risk_by[self.risk_by["by"] == "total"]
        if tot.empty:
            return {"mean": 0.0, "lo": 0.0, "hi": 0.0, "lo_param": None, "hi_param": None,
                    "interval": "posterior predictive"}
        r = tot.iloc[0]
        return {"mean": float(r["mean"]), "lo": _none(r["lo"]), "hi": _none(r["hi"]), "lo_param": _none(r["lo_param"]),
                "hi_param": _none(r["hi_param"]), "interval": "posterior predictive"}


def _none(x):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def analyse(ds, model: str = "mbg_nbd", fit_method: str = "mcmc", priors: str = "default", time_unit: str = "W",
            calibration_end=None, horizon: int = 52, clv_months: int = 24, discount_rate: float = 0.10,
            draws: int = 1000, tune: int = 1000, chains: int = 2, seed: int = 42, max_pred_draws: int = 400,
            chunk_size: int = 5000, vi_iterations: int = 30000, at_risk_p_alive: float = 0.5,
            at_risk_min_value_quantile: float = 0.5, at_risk_signal: str = "auto", segment_by: str = "tier",
            early_warning: bool = True, warning_window_days: int = 180, warning_label_days: int = 180,
            warning_draws: int = 500, **_ignored) -> ChurnAnalysis:
    """Run the whole churn analysis on a :class:`salesbench.Dataset` (parameters as in ``params/churn.yaml``).

    The notebook passes its whole parameter set (``analyse(ds, **P)``); the keys that do not
    concern the analysis itself (``data``, ``out_dir``, ``top_n``) are accepted and ignored.
    ``model="auto"`` and ``at_risk_signal="auto"`` choose the purchase model and the ranking
    signal on a holdout of the data (:func:`choose`). Raises
    :class:`salesbench.analyses.churn.choice.NotEnoughData` (one sentence in ``reason``) when the data
    is too small to fit a purchase model.
    """
    unknown = set(_ignored) - {"data", "out_dir", "top_n"}
    if unknown:
        raise TypeError(f"analyse() got unknown parameter(s): {', '.join(sorted(unknown))}")
    churn_choice.check_params({"model": model, "at_risk_signal": at_risk_signal, "fit_method": fit_method,
                               "priors": priors, "time_unit": time_unit})
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
    problem = churn_choice.data_problem(rfm, f" by {end.date()}")
    if problem:
        raise churn_choice.NotEnoughData(problem[0].upper() + problem[1:] + ".")
    choice = choose(orders, rfm, end, last, model=model, signal=at_risk_signal, horizon=horizon,
                    time_unit=time_unit, priors=priors, seed=seed, chunk_size=chunk_size)
    params["model_requested"], params["model"] = model, choice.model
    cm = churn.ChurnModel(model=choice.model, fit_method=fit_method, priors=priors, draws=draws, tune=tune,
                          chains=chains, seed=seed, max_draws=max_pred_draws, chunk_size=chunk_size,
                          vi_iterations=vi_iterations)
    t0 = time.perf_counter()
    cm.fit(rfm)
    fit_seconds = time.perf_counter() - t0
    pred = cm.predict(rfm, horizon=horizon, clv_months=clv_months, discount_rate=discount_rate, time_unit=time_unit)
    holdout = None
    if end < last:
        hold, length_days = churn.holdout_purchases(orders, end, rfm["customer_id"], last=last)
        holdout = cm.holdout_check(rfm, hold, length_days / unit_days)
        choice.auc, choice.auc_source = holdout["auc"], "holdout"
        if choice.signal is None:  # the user's holdout: check the signals of the fitted model itself
            choice.signal, choice.signal_reason = churn_choice.choose_signal(holdout["auc"])
    attrs = churn.customer_attributes(ds, rfm["customer_id"], segment_by=segment_by)
    at_risk = churn.at_risk_customers(pred, attrs, p_alive_max=at_risk_p_alive,
                                      min_clv_quantile=at_risk_min_value_quantile, rank_by=choice.signal)
    sub = rfm[rfm["customer_id"].isin(at_risk["customer_id"])]
    risk_by = cm.group_totals(sub, attrs[["customer_id", "region", "segment", "owner_rep_id"]], horizon,
                              value="revenue_at_risk", clv_months=clv_months, discount_rate=discount_rate,
                              time_unit=time_unit)
    ppc = cm.repeat_purchase_ppc(rfm)
    max_f = int(min(max(rfm["frequency"].quantile(0.99), 5), 40))
    grid = cm.p_alive_grid(max_f, float(rfm["T"].quantile(0.9)))
    A = ChurnAnalysis(params=params, calibration_end=end, rfm=rfm, model=cm, predictions=pred, attrs=attrs,
                      at_risk=at_risk, risk_by=risk_by, convergence=cm.convergence(), ppc=ppc, grid=grid,
                      holdout=holdout, choice=choice)
    A.extras["fit_seconds"] = fit_seconds
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


def choose(orders, rfm: pd.DataFrame, end: pd.Timestamp, last: pd.Timestamp, model: str = "auto",
           signal: str = "auto", horizon: float = 52, time_unit: str = "W", priors: str = "default", seed: int = 42,
           chunk_size: int = 5000) -> churn_choice.Choice:
    """Choose the purchase model and the at-risk ranking signal (:mod:`salesbench.analyses.churn.choice`).

    With the user's holdout (``end`` before ``last``) the candidates are compared on it and the
    signal is chosen afterwards from the fitted model's own holdout check (``signal`` None here).
    Otherwise an internal split (:func:`churn_choice.selection_split`) is used for both. Without
    enough data for a holdout the defaults are used and ``reason`` says so.
    """
    t0 = time.perf_counter()
    unit_days = churn.check_time_unit(time_unit)
    unit = {"D": "days", "W": "weeks", "M": "months"}[time_unit]
    auto_model, auto_signal = model == "auto", signal == "auto"
    candidates = churn_choice.CANDIDATES if auto_model else (model,)
    user_holdout = end < last
    if not auto_model and (user_holdout or not auto_signal):
        s = signal if not auto_signal else None
        return churn_choice.Choice(model=model, signal=s, table=pd.DataFrame(), calibration_end=None,
                                   holdout_length=None, holdout=None, reason=f"Model set by the parameters: {model}.",
                                   signal_reason="" if s is None else f"Ranked by {churn_choice.SIGNAL_LABELS[s]} (set by the parameters).")
    if user_holdout:
        cal_end, rfm_c = end, rfm
    else:
        cal_end = churn_choice.selection_split(pd.Timestamp(rfm["first_purchase"].min()), last, horizon, unit_days)
        rfm_c = churn.rfm_table(orders, cal_end, time_unit) if cal_end < last else rfm.iloc[:0]
    problem = None if cal_end < last else "the history is too short to hold out any time"
    problem = problem or churn_choice.data_problem(rfm_c, f" before {cal_end.date()}")
    if problem:
        m = churn_choice.DEFAULT_MODEL if auto_model else model
        s = churn_choice.DEFAULT_SIGNAL if auto_signal else signal
        why = f"No holdout to choose on ({problem})"
        return churn_choice.Choice(
            model=m, signal=s, table=pd.DataFrame(), calibration_end=None, holdout_length=None, holdout=None,
            reason=(f"{why}: the default {_model_label(m)} model is used." if auto_model else f"Model set by the parameters: {m}."),
            signal_reason=(f"{why}: customers are ranked by {churn_choice.SIGNAL_LABELS[s]}." if auto_signal
                           else f"Ranked by {churn_choice.SIGNAL_LABELS[s]} (set by the parameters)."),
            seconds=time.perf_counter() - t0)
    hold, days = churn.holdout_purchases(orders, cal_end, rfm_c["customer_id"], last=last)
    length = days / unit_days
    table, checks = churn_choice.compare_models(rfm_c, hold, length, candidates, priors=priors, seed=seed,
                                                chunk_size=chunk_size)
    where = ("the holdout after calibration_end" if user_holdout else
             f"an internal holdout (data to {cal_end.date()} to fit, the {length:.1f} {unit} after it to test; "
             "the chosen model is then fitted on all the data)")
    if table["chosen"].any():
        chosen = str(table.loc[table["chosen"], "model"].iloc[0])
        reason = (f"Model chosen on {where}: {_model_label(chosen)} scored best "
                  f"of the {len(candidates)} candidate{'s' if len(candidates) > 1 else ''} fitted by MAP "
                  "(mean rank over total error, calibration by frequency, holdout log-likelihood and how well P(alive) "
                  "ranks who bought again).") if auto_model \
            else f"Model set by the parameters: {model}."
    else:
        chosen = churn_choice.DEFAULT_MODEL if auto_model else model
        reason = f"No candidate could be fitted on {where}: the default {_model_label(chosen)} model is used."
    h = checks.get(chosen)
    if user_holdout:
        s, s_reason = (None, "") if auto_signal else (signal, f"Ranked by {churn_choice.SIGNAL_LABELS[signal]} (set by the parameters).")
    elif auto_signal:
        s, s_reason = churn_choice.choose_signal(h["auc"] if h else None)
    else:
        s, s_reason = signal, f"Ranked by {churn_choice.SIGNAL_LABELS[signal]} (set by the parameters)."
    c = churn_choice.Choice(model=chosen, signal=s, table=table, calibration_end=cal_end, holdout_length=length,
                            holdout=h, reason=reason, signal_reason=s_reason, seconds=time.perf_counter() - t0)
    if h is not None and not user_holdout:
        c.auc, c.auc_source = h["auc"], "internal holdout"
    return c


def _model_label(model: str) -> str:
    return {"bg_nbd": "BG/NBD", "mbg_nbd": "MBG/NBD", "pareto_nbd": "Pareto/NBD"}.get(model, model)


# --------------------------------------------------------------------------- text and cards
def _interval(d: dict, fmt=viz.fmt_money) -> str:
    """"94% predictive interval a–b" / "94% interval a–b (parameter uncertainty only)" / the MAP note."""
    if d.get("lo") is None or d.get("hi") is None:
        return "MAP point estimate, no interval"
    if d.get("interval") == "posterior predictive":
        note = "" if d.get("lo_param") is not None else " (purchase noise only: a MAP fit has no parameter uncertainty)"
        return f"94% predictive interval {fmt(d['lo'])}–{fmt(d['hi'])}{note}"
    return f"94% interval {fmt(d['lo'])}–{fmt(d['hi'])} (parameter uncertainty only)"


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
    if A.choice is not None:
        s.append(A.choice.reason)
        if A.choice.signal_reason:
            s.append(A.choice.signal_reason)
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
    c = A.choice
    res.set(model_requested=A.params.get("model_requested", A.params["model"]), fit_seconds=A.extras.get("fit_seconds"),
            expected_revenue_total=A.model.totals_["expected_revenue"])
    if c is not None:
        res.set(model_choice={"rule": churn_choice.RULE, "chosen": c.model, "reason": c.reason,
                              "calibration_end": c.calibration_end.date() if c.calibration_end is not None else None,
                              "holdout_length": c.holdout_length, "seconds": c.seconds,
                              "table": c.table if len(c.table) else None},
                ranking={"signal": c.signal, "reason": c.signal_reason, "auc": c.auc, "measured_on": c.auc_source,
                         "auc_signal": (c.auc or {}).get(c.signal), "auc_recency": (c.auc or {}).get("recency")})
        if len(c.table):
            res.table("model_comparison", c.table.round(6))
    if A.holdout is not None:
        h = A.holdout
        res.set(holdout={k: h[k] for k in ("predicted_total", "predicted_lo", "predicted_hi", "actual_total",
                                           "error_pct", "mae", "length", "expected_lo", "expected_hi", "interval",
                                           "covered", "log_lik", "log_lik_per_customer", "calibration_error",
                                           "auc", "bought_share")}
                | {"by_frequency": h["by_frequency"], "statement": holdout_sentence(A)})
    if A.warning is not None:
        res.set(early_warning=A.warning.summary() | {"as_of": A.extras["warning_as_of"].date()})
    else:
        res.set(early_warning={"skipped": A.warning_reason})
    if A.truth is not None:
        res.set(truth_check=A.truth)
    for card in headline_cards(A)[:3]:
        res.headline(card["label"], card["value"], card["value"])
    cols = ["customer_id", "p_alive", "expected_purchases", "clv", "p_alive_lo", "p_alive_hi",
            "expected_purchases_lo", "expected_purchases_hi", "clv_lo", "clv_hi", "revenue_at_risk", "p_purchase",
            "since_last_purchase"]
    res.table("customers", A.predictions[cols].round(6))
    ar_cols = ["customer_id", "region", "segment", "owner_rep_id", "p_alive", "value_if_alive", "revenue_at_risk",
               "revenue_at_risk_lo", "revenue_at_risk_hi", "clv", "rank", "p_purchase", "expected_purchases",
               "since_last_purchase"]
    res.table("at_risk", A.at_risk[ar_cols].round(4))
    res.table("revenue_at_risk_by", A.risk_by.round(2))
    if A.warning is not None:
        res.table("warning_effects", A.warning.effects_.round(4))


def at_risk_display(A: ChurnAnalysis, top_n: int = 25) -> pd.DataFrame:
    """The first ``top_n`` rows of the at-risk list with readable column names."""
    df = A.at_risk.head(top_n)
    return pd.DataFrame({
        "Rank": df["rank"], "Customer": df["customer_id"], "Region": df["region"], "Segment": df["segment"], "Owner rep": df["owner_rep_id"],
        "P(alive)": df["p_alive"].map(lambda v: viz.fmt_pct(v)),
        "Value if active": df["value_if_alive"].map(viz.fmt_money),
        "Revenue at risk": df["revenue_at_risk"].map(viz.fmt_money),
        "P(buys within horizon)": df["p_purchase"].map(lambda v: viz.fmt_pct(v)),
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
    ax.set_xlabel("Revenue at risk (expected, 94% predictive interval)")
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
    """Holdout result in words: predicted vs actual purchases after calibration_end, and whether the
    actual lies inside the 94% predictive interval (a miss is stated, with its size)."""
    h = A.holdout
    if h is None:
        return ""
    lo, hi = h.get("predicted_lo"), h.get("predicted_hi")
    map_note = "" if h.get("expected_lo") is not None else "; purchase noise only, a MAP fit has no parameter uncertainty"
    iv = f" (94% predictive interval {viz.fmt_num(lo)}–{viz.fmt_num(hi)}{map_note})" if lo is not None else ""
    err = f", {viz.fmt_pct(h['error_pct'], 1)} off" if h.get("error_pct") is not None else ""
    s = (f"Holdout test over {h['length']:.1f} {_unit_name(A)} after {A.calibration_end.date()}: the model predicted "
         f"{viz.fmt_num(h['predicted_total'])} purchases{iv}; customers made {viz.fmt_num(h['actual_total'])}{err}. ")
    if lo is not None and not h.get("covered", True):
        side = "above" if h["actual_total"] > hi else "below"
        s += (f"The actual lies {side} the 94% predictive interval: the miss is larger than chance explains, so the "
              f"model's forecasts for this data are biased {'low' if side == 'above' else 'high'} by about "
              f"{viz.fmt_pct(abs(h['error_pct']), 0)}. ")
    elif lo is not None:
        s += "The actual lies inside the 94% predictive interval. "
    return s + f"Mean absolute error per customer: {h['mae']:.2f} purchases."


def comparison_display(A: ChurnAnalysis) -> pd.DataFrame | None:
    """The model comparison table with readable column names (None when no comparison ran)."""
    c = A.choice
    if c is None or not len(c.table):
        return None
    t = c.table
    get = lambda col: t[col] if col in t else pd.Series(np.nan, index=t.index)  # noqa: E731
    return pd.DataFrame({
        "Model": t["model"].map(_model_label), "Chosen": np.where(t["chosen"], "yes", ""), "Mean rank": get("mean_rank"),
        "Holdout log-likelihood": get("log_lik"), "Predicted": get("predicted_total"),
        "94% predictive interval": [("–" if pd.isna(a) else f"{viz.fmt_num(a)}–{viz.fmt_num(b)}")
                                    for a, b in zip(get("predicted_lo"), get("predicted_hi"))],
        "Actual": get("actual_total"), "Error": get("error_pct").map(lambda v: "–" if pd.isna(v) else viz.fmt_pct(v, 1)),
        "Calibration error": get("calibration_error"), "AUC expected purchases": get("auc_expected_purchases"),
        "AUC P(alive)": get("auc_p_alive"), "AUC recency": get("auc_recency"), "Fit (s)": get("fit_seconds"),
    })


def ranking_display(A: ChurnAnalysis) -> pd.DataFrame | None:
    """AUC of each ranking signal for "bought again in the holdout", the chosen one marked (None if unmeasured)."""
    c = A.choice
    if c is None or not c.auc:
        return None
    rows = [{"Signal": churn_choice.SIGNAL_LABELS[k], "AUC": v, "Used for the at-risk list": "yes" if k == c.signal else ""}
            for k, v in c.auc.items() if v is not None]
    return pd.DataFrame(rows).sort_values("AUC", ascending=False) if rows else None


def ranking_sentence(A: ChurnAnalysis) -> str:
    """How well the at-risk ranking sorts customers who bought again, against plain recency."""
    c = A.choice
    if c is None:
        return ""
    if not c.auc or c.auc.get(c.signal) is None:
        return c.signal_reason
    where = ("the holdout after calibration_end" if c.auc_source == "holdout" else
             f"the internal holdout after {c.calibration_end.date()}")
    return (f"On {where}, {churn_choice.SIGNAL_LABELS[c.signal]} ranked customers who bought again above those who "
            f"did not with AUC {c.auc[c.signal]:.3f} (1 = perfect, 0.5 = chance); time since the last purchase alone "
            f"scored {c.auc['recency']:.3f}. The at-risk list is ordered by this signal (most at risk first).")


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
