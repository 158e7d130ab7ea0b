"""The churn report's words, tables and publishing: what :class:`~salesbench.analyses.churn.model.Churn` learned,
as headline cards, sentences, table views (with their formats) and ``churn.results.json``.

Every function takes a fitted :class:`~salesbench.analyses.churn.model.Churn` (``M``). Where a
figure may be absent (no holdout, no early-warning model) a ``show_*`` function returns the
figure or the sentence to show instead. The figures themselves are in
:mod:`salesbench.analyses.churn.plots`.
"""
from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from salesbench import viz
from salesbench.analyses.churn import choice as churn_choice
from salesbench.analyses.churn import clv
from salesbench.analyses.churn import plots
from salesbench.analyses.churn import warning as churn_warning
from salesbench.core import i18n
from salesbench.core.i18n import N_, NP_, messages
from salesbench.core.said import shown

_, ngettext, pgettext = messages(__name__).functions()

#: formats of :func:`params_view`
PARAMS_FORMATS = {c: ".3f" for c in ("mean", "lo", "hi", "r_hat")} | {"ess_bulk": ".0f"}
#: formats of :func:`comparison_view`
COMPARISON_FORMATS = {"Holdout log-likelihood": ",.1f", "Mean rank": ".2f", "Predicted": ",.0f", "Actual": ",.0f",
                      "Calibration error": ".3f", "AUC expected purchases": ".3f", "AUC P(alive)": ".3f",
                      "AUC recency": ".3f", "Fit (s)": ".1f"}
#: formats of :func:`ranking_view`
RANKING_FORMATS = {"AUC": ".3f"}
NO_HOLDOUT = N_("No holdout test: calibration_end is the last order date. Set it earlier to test the model on "
                "later purchases.")


def _status_word(status: str) -> str:
    """A P(alive) status (``active``, ``slipping``, ``probably gone``) in the report's language."""
    return messages(__name__).label("status", status)


def _header(view: pd.DataFrame) -> dict[str, str]:
    """The shown header of each column of a view (the view's columns stay English)."""
    return {c: pgettext("column", c) for c in view.columns}


#: the column names of the table views, for extraction (shown with ``pgettext("column", name)``)
_COLUMNS = [NP_("column", "Rank"), NP_("column", "Customer"), NP_("column", "Region"), NP_("column", "Segment"),
            NP_("column", "Owner rep"), NP_("column", "P(alive)"), NP_("column", "Value if active"),
            NP_("column", "Revenue at risk"), NP_("column", "P(buys within horizon)"), NP_("column", "Status"),
            NP_("column", "Model"), NP_("column", "Chosen"), NP_("column", "Mean rank"),
            NP_("column", "Holdout log-likelihood"), NP_("column", "Predicted"),
            NP_("column", "94% predictive interval"), NP_("column", "Actual"), NP_("column", "Error"),
            NP_("column", "Calibration error"), NP_("column", "AUC expected purchases"),
            NP_("column", "AUC P(alive)"), NP_("column", "AUC recency"), NP_("column", "Fit (s)"),
            NP_("column", "Signal"), NP_("column", "AUC"), NP_("column", "Used for the at-risk list"),
            NP_("column", "model"), NP_("column", "param"), NP_("column", "mean"), NP_("column", "lo"),
            NP_("column", "hi"), NP_("column", "r_hat"), NP_("column", "ess_bulk")]
_STATUSES = [NP_("status", "active"), NP_("status", "slipping"), NP_("status", "probably gone")]


# --------------------------------------------------------------------------- cards and sentences
def _interval(d: dict, fmt=viz.fmt_money) -> str:
    """"94% predictive interval a–b" / "94% interval a–b (parameter uncertainty only)" / the MAP note."""
    if d.get("lo") is None or d.get("hi") is None:
        return _("MAP point estimate, no interval")
    if d.get("interval") == "posterior predictive":
        if d.get("lo_param") is not None:
            return _("94% predictive interval {lo}–{hi}", lo=fmt(d["lo"]), hi=fmt(d["hi"]))
        return _("94% predictive interval {lo}–{hi} (purchase noise only: a MAP fit has no parameter uncertainty)",
                 lo=fmt(d["lo"]), hi=fmt(d["hi"]))
    return _("94% interval {lo}–{hi} (parameter uncertainty only)", lo=fmt(d["lo"]), hi=fmt(d["hi"]))


def _unit_name(M) -> str:
    return shown(churn_choice.unit_words(M.time_unit))


def headline_cards(M) -> list[dict[str, Any]]:
    """The first-screen KPI cards: revenue at risk, customers at risk, probably gone, customer base value."""
    p = M.predictions_["p_alive"]
    gone = int((clv.status_of(p) == "probably gone").sum())
    rar = M.revenue_at_risk_
    base = M.clv_model_.totals_["clv"]
    unit = _unit_name(M)
    return [
        {"label": _("Revenue at risk (next {horizon} {unit})", horizon=M.horizon, unit=unit),
         "value": viz.fmt_money(rar["mean"]), "sub": _interval(rar), "status": "red" if rar["mean"] else "green"},
        {"label": _("Customers at risk"), "value": viz.fmt_num(len(M.at_risk_)),
         "sub": _("P(alive) < {p}, CLV in the top {q}", p=format(M.at_risk_p_alive, ".0%"),
                  q=format(1 - M.at_risk_min_value_quantile, ".0%")),
         "status": "amber"},
        {"label": _("Probably gone"), "value": viz.fmt_pct(gone / len(p)),
         "sub": _("{gone} of {n} customers with P(alive) < 30%", gone=format(gone, ","), n=format(len(p), ","))},
        {"label": _("Customer base value ({months} months)", months=M.clv_months), "value": viz.fmt_money(base["mean"]),
         "sub": _interval(base)},
    ]


def sentences(M) -> list[str]:
    """Generated sentences with the numbers of the first screen."""
    p = M.predictions_["p_alive"]
    status = clv.status_of(p)
    n = len(p)
    rar = M.revenue_at_risk_
    s = [
        _("Of {n} customers who bought by {date}, {active} are probably still active, {slipping} are slipping and "
          "{gone} are probably gone ({model} model, {fit} fit).",
          n=format(n, ","), date=viz.fmt_date(M.calibration_end_), active=viz.fmt_pct((status == 'active').mean()),
          slipping=viz.fmt_pct((status == 'slipping').mean()), gone=viz.fmt_pct((status == 'probably gone').mean()),
          model=M.model_.replace('_', '/').upper(), fit=M.fit_method.upper()),
    ]
    if len(M.at_risk_):
        reg = M.risk_by_[M.risk_by_["by"] == "region"].sort_values("mean", ascending=False)
        fields = dict(n=format(len(M.at_risk_), ","), value=viz.fmt_money(rar['mean']), horizon=M.horizon,
                      unit=_unit_name(M), interval=_interval(rar))
        if len(reg):
            s.append(_("{n} high-value customers are at risk: {value} of revenue over the next {horizon} {unit} "
                       "({interval}) if they have left. The largest part is in {region} ({region_value}).",
                       region=reg.iloc[0]['group'], region_value=viz.fmt_money(reg.iloc[0]['mean']), **fields))
        else:
            s.append(_("{n} high-value customers are at risk: {value} of revenue over the next {horizon} {unit} "
                       "({interval}) if they have left.", **fields))
    else:
        s.append(_("No high-value customer currently has a low probability of being active."))
    if M.choice_ is not None:
        s.append(shown(M.choice_.reason))
        if M.choice_.signal_reason:
            s.append(shown(M.choice_.signal_reason))
    if M.warning_ is not None:
        s.append(churn_warning.effect_sentence(M.warning_.effects_))
    elif M.warning_reason_:
        s.append(shown(M.warning_reason_))
    return s


def holdout_sentence(M) -> str:
    """Holdout result in words: predicted vs actual purchases after calibration_end, and whether the
    actual lies inside the 94% predictive interval (a miss is stated, with its size)."""
    h = M.holdout_
    if h is None:
        return ""
    lo, hi = h.get("predicted_lo"), h.get("predicted_hi")
    fields = dict(length=format(h['length'], ".1f"), unit=_unit_name(M), date=viz.fmt_date(M.calibration_end_),
                  predicted=viz.fmt_num(h['predicted_total']), actual=viz.fmt_num(h['actual_total']))
    if lo is not None:
        fields["interval"] = (_("94% predictive interval {lo}–{hi}", lo=viz.fmt_num(lo), hi=viz.fmt_num(hi))
                              if h.get("expected_lo") is not None else
                              _("94% predictive interval {lo}–{hi}; purchase noise only, a MAP fit has no parameter "
                                "uncertainty", lo=viz.fmt_num(lo), hi=viz.fmt_num(hi)))
    if h.get("error_pct") is not None:
        fields["error"] = viz.fmt_pct(h['error_pct'], 1)
    templates = {  # (interval shown, error shown) → the whole sentence
        (True, True): N_("Holdout test over {length} {unit} after {date}: the model predicted {predicted} purchases "
                         "({interval}); customers made {actual}, {error} off."),
        (True, False): N_("Holdout test over {length} {unit} after {date}: the model predicted {predicted} purchases "
                          "({interval}); customers made {actual}."),
        (False, True): N_("Holdout test over {length} {unit} after {date}: the model predicted {predicted} purchases; "
                          "customers made {actual}, {error} off."),
        (False, False): N_("Holdout test over {length} {unit} after {date}: the model predicted {predicted} purchases; "
                           "customers made {actual}."),
    }
    s = [_(templates[(lo is not None, "error" in fields)], **fields)]
    if lo is not None and not h.get("covered", True):
        bias = viz.fmt_pct(abs(h['error_pct']), 0)
        s.append(_("The actual lies above the 94% predictive interval: the miss is larger than chance explains, so the "
                   "model's forecasts for this data are biased low by about {bias}.", bias=bias)
                 if h["actual_total"] > hi else
                 _("The actual lies below the 94% predictive interval: the miss is larger than chance explains, so the "
                   "model's forecasts for this data are biased high by about {bias}.", bias=bias))
    elif lo is not None:
        s.append(_("The actual lies inside the 94% predictive interval."))
    s.append(_("Mean absolute error per customer: {mae} purchases.", mae=format(h['mae'], ".2f")))
    return ("" if i18n.is_cjk() else " ").join(s)


def comparison_view(M) -> pd.DataFrame | None:
    """The model comparison table with readable column names (None when no comparison ran)."""
    c = M.choice_
    if c is None or not len(c.table):
        return None
    t = c.table
    get = lambda col: t[col] if col in t else pd.Series(np.nan, index=t.index)  # noqa: E731
    return pd.DataFrame({
        "Model": t["model"].map(churn_choice.model_label), "Chosen": np.where(t["chosen"], _("yes"), ""), "Mean rank": get("mean_rank"),
        "Holdout log-likelihood": get("log_lik"), "Predicted": get("predicted_total"),
        "94% predictive interval": [("–" if pd.isna(a) else f"{viz.fmt_num(a)}–{viz.fmt_num(b)}")
                                    for a, b in zip(get("predicted_lo"), get("predicted_hi"))],
        "Actual": get("actual_total"), "Error": get("error_pct").map(lambda v: "–" if pd.isna(v) else viz.fmt_pct(v, 1)),
        "Calibration error": get("calibration_error"), "AUC expected purchases": get("auc_expected_purchases"),
        "AUC P(alive)": get("auc_p_alive"), "AUC recency": get("auc_recency"), "Fit (s)": get("fit_seconds"),
    })


def ranking_view(M) -> pd.DataFrame | None:
    """AUC of each ranking signal for "bought again in the holdout", the chosen one marked (None if unmeasured)."""
    c = M.choice_
    if c is None or not c.auc:
        return None
    rows = [{"Signal": shown(churn_choice.signal_label(k)), "AUC": v,
             "Used for the at-risk list": _("yes") if k == c.signal else ""}
            for k, v in c.auc.items() if v is not None]
    return pd.DataFrame(rows).sort_values("AUC", ascending=False) if rows else None


def ranking_sentence(M) -> str:
    """How well the at-risk ranking sorts customers who bought again, against plain recency."""
    c = M.choice_
    if c is None:
        return ""
    if not c.auc or c.auc.get(c.signal) is None:
        return shown(c.signal_reason)
    fields = dict(signal=shown(churn_choice.signal_label(c.signal)), auc=format(c.auc[c.signal], ".3f"),
                  recency=format(c.auc['recency'], ".3f"))
    if c.auc_source == "holdout":
        return _("On the holdout after calibration_end, {signal} ranked customers who bought again above those who did "
                 "not with AUC {auc} (1 = perfect, 0.5 = chance); time since the last purchase alone scored {recency}. "
                 "The at-risk list is ordered by this signal (most at risk first).", **fields)
    return _("On the internal holdout after {date}, {signal} ranked customers who bought again above those who did not "
             "with AUC {auc} (1 = perfect, 0.5 = chance); time since the last purchase alone scored {recency}. The "
             "at-risk list is ordered by this signal (most at risk first).", date=viz.fmt_date(c.calibration_end),
             **fields)


def truth_sentence(M) -> str:
    """Demo data only: how well P(alive) separates the customers who truly churned."""
    t = M.truth_
    if not t:
        return ""
    auc = "–" if t["auc"] is None else f"{t['auc']:.2f}"
    share = "–" if t["at_risk_churned_share"] is None else viz.fmt_pct(t["at_risk_churned_share"])
    return _("Check against the demo generator's truth: P(alive) separates customers who truly churned by "
             "calibration_end from those still active with AUC {auc}; {share} of the at-risk list truly churned, "
             "against a base rate of {base}.", auc=auc, share=share, base=viz.fmt_pct(t['base_rate']))


def _note(*sentences: str, warning: bool = False):
    """A narrative box, or None (nothing shown) when there is no sentence."""
    return viz.narrative(*sentences, warning=warning) if any(sentences) else None


def holdout_note(M):
    """The holdout sentence under the calibration figure; None without a holdout (:func:`show_holdout_calibration`
    then shows :data:`NO_HOLDOUT` instead of the figure)."""
    return _note(holdout_sentence(M))


def warning_note(M):
    """The early-warning sentence under the effects figure; None when the model is absent (:func:`show_effects`
    then shows why instead of the figure). When its sampler did not converge (R-hat of the population
    parameters ≥ 1.01, or divergent transitions) a second sentence says so and the box is a warning."""
    if M.warning_ is None:
        return None
    w = M.warning_
    r_hat, div = getattr(w, "r_hat_max_", None), getattr(w, "divergences_", 0) or 0
    unsure = (r_hat is not None and not r_hat < clv.RHAT_MAX) or div > 0
    caveat = _("The early-warning sampler did not fully converge (R-hat max {r_hat}, {div} divergent transitions): "
               "read its intervals as approximate.", r_hat=format(r_hat if r_hat is not None else float("nan"), ".3f"),
               div=div) if unsure else ""
    return _note(churn_warning.effect_sentence(w.effects_), caveat, warning=unsure)


def convergence_note(M):
    """The sampler's convergence message, as a warning box when it failed (MAP / VI: the note that none applies)."""
    conv = M.convergence_
    return viz.narrative(shown(conv["message"]), warning=conv["ok"] is False)


def convergence_alert(M):
    """On the first screen: the convergence message as a warning when the sampler failed; None otherwise."""
    conv = M.convergence_
    return viz.narrative(shown(conv["message"]), warning=True) if conv["ok"] is False else None


def choice_note(M):
    """How the purchase model was chosen (one sentence)."""
    return viz.narrative(shown(M.choice_.reason))


def ranking_note(M):
    """How well the at-risk ranking sorts who bought again (:func:`ranking_sentence`)."""
    return viz.narrative(ranking_sentence(M))


def truth_note(M):
    """Demo data only: the check against the generator's truth; None on other data."""
    return _note(truth_sentence(M)) if M.truth_ is not None else None


def narrative_note(M):
    """The first-screen sentences (:func:`sentences`)."""
    return viz.narrative(*sentences(M))


def cards(M):
    """The first-screen KPI cards (:func:`headline_cards`)."""
    return viz.headline(headline_cards(M))


# --------------------------------------------------------------------------- table views
def at_risk_view(M) -> pd.DataFrame:
    """The first ``top_n`` rows of the at-risk list with readable column names (already formatted)."""
    df = M.at_risk_.head(M.top_n)
    return pd.DataFrame({
        "Rank": df["rank"], "Customer": df["customer_id"], "Region": df["region"], "Segment": df["segment"],
        "Owner rep": df["owner_rep_id"],
        "P(alive)": df["p_alive"].map(lambda v: viz.fmt_pct(v)),
        "Value if active": df["value_if_alive"].map(viz.fmt_money),
        "Revenue at risk": df["revenue_at_risk"].map(viz.fmt_money),
        "P(buys within horizon)": df["p_purchase"].map(lambda v: viz.fmt_pct(v)),
        "Status": [_status_word(v) for v in clv.status_of(df["p_alive"])],
    })


def params_view(M) -> pd.DataFrame:
    """Population parameters of both models with intervals, R-hat and ESS (formats: :data:`PARAMS_FORMATS`)."""
    cm = M.clv_model_
    frames = [cm.params_.assign(model=M.model_)]
    if cm.spend_params_ is not None:
        frames.append(cm.spend_params_.assign(model="gamma_gamma"))
    return pd.concat(frames, ignore_index=True)[["model", "param", "mean", "lo", "hi", "r_hat", "ess_bulk"]]


def show_at_risk(M):
    """The at-risk table as shown in the report (the first ``top_n`` rows)."""
    view = at_risk_view(M)
    return viz.show_table(view, max_rows=M.top_n, headers=_header(view))


def show_params(M):
    """The parameter table as shown in the report."""
    view = params_view(M)
    return viz.show_table(view, formats=PARAMS_FORMATS, headers=_header(view))


def show_comparison(M):
    """The model comparison table, or None (nothing shown) when no comparison ran."""
    view = comparison_view(M)
    return None if view is None else viz.show_table(view, formats=COMPARISON_FORMATS, headers=_header(view))


def show_ranking(M):
    """The ranking-signal table, or None (nothing shown) when the signals were not measured."""
    view = ranking_view(M)
    return None if view is None else viz.show_table(view, formats=RANKING_FORMATS, headers=_header(view))


# --------------------------------------------------------------------------- figures or what to show instead
def _figure(size: tuple[float, float], ncols: int = 1):
    fig, axes = plt.subplots(1, ncols, figsize=size)
    return fig, axes


def _done(fig):
    """Lay out ``fig`` and hand it to the notebook as the cell's value (closed, so it is shown once)."""
    viz.finish(fig)
    plt.close(fig)
    return fig


def show_revenue_at_risk_by_region(M):
    fig, ax = _figure((8, 3.5))
    plots.plot_revenue_at_risk(M.risk_by_, "region", ax=ax)
    return _done(fig)


def show_revenue_at_risk_by_segment_and_rep(M):
    fig, axes = _figure((11, 4), ncols=2)
    plots.plot_revenue_at_risk(M.risk_by_, "segment", ax=axes[0])
    plots.plot_revenue_at_risk(M.risk_by_, "owner_rep_id", ax=axes[1], top=12)
    return _done(fig)


def show_p_alive_heatmap(M):
    fig, ax = _figure((8, 4.5))
    plots.plot_p_alive_heatmap(M.grid_, ax=ax, T=M.grid_["recency"].max(), unit=M.time_unit)
    return _done(fig)


def show_clv_distribution(M):
    fig, ax = _figure((8, 3.5))
    plots.plot_clv_distribution(M.predictions_, ax=ax)
    return _done(fig)


def show_ppc(M):
    fig, ax = _figure((8, 3.5))
    plots.plot_ppc(M.ppc_, ax=ax)
    return _done(fig)


def show_effects(M):
    """The early-warning forest plot, or why the model is absent."""
    if M.warning_ is None:
        return viz.narrative(shown(M.warning_reason_))
    fig, ax = _figure((8, 3))
    plots.plot_effects(M.warning_.effects_, ax=ax)
    return _done(fig)


def show_holdout_calibration(M):
    """Holdout predicted vs actual by frequency, or :data:`NO_HOLDOUT`."""
    if M.holdout_ is None:
        return viz.narrative(_(NO_HOLDOUT))
    fig, ax = _figure((8, 3.5))
    plots.plot_holdout_calibration(M.holdout_["by_frequency"], ax=ax)
    return _done(fig)


def figure_inputs(M) -> dict[str, tuple[tuple, dict]]:
    """``{plot function name: (args, kwargs)}`` of every figure in :mod:`~salesbench.analyses.churn.plots`
    for a fitted ``M`` (the early-warning and holdout figures get a small stand-in frame when absent)."""
    effects = (M.warning_.effects_ if M.warning_ is not None else
               pd.DataFrame({"label": ["a", "b"], "mean": [0.5, -0.1], "lo": [0.1, -0.4], "hi": [0.9, 0.2]}))
    by_freq = (M.holdout_["by_frequency"] if M.holdout_ is not None else
               pd.DataFrame({"frequency": ["0", "1"], "actual": [0.1, 0.5], "predicted": [0.12, 0.45]}))
    return {
        "plot_revenue_at_risk": ((M.risk_by_,), {"by": "region"}),
        "plot_p_alive_heatmap": ((M.grid_,), {"T": float(M.grid_["recency"].max()), "unit": M.time_unit}),
        "plot_clv_distribution": ((M.predictions_,), {}),
        "plot_ppc": ((M.ppc_,), {}),
        "plot_effects": ((effects,), {}),
        "plot_holdout_calibration": ((by_freq,), {}),
    }


# --------------------------------------------------------------------------- publishing
def publish(M, res) -> None:
    """Every ``churn.results.json`` value, the headline figures and the exported CSV tables; then save."""
    res.set(**M.results())
    with i18n.language(i18n.DEFAULT):  # results.json is English in every report language
        statement = holdout_sentence(M) if M.holdout_ is not None else None
    if statement is not None:
        res.set(holdout=res["holdout"] | {"statement": statement})
    res.headline_cards(lambda: headline_cards(M), 3)  # English keys; the index shows the report's language
    for name, frame in M.tables().items():
        res.table(name, frame)
    res.save()
