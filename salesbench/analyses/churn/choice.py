"""Choosing the purchase model and the at-risk ranking signal on the user's own data.

A model chosen on the demo company need not suit a real seller. When the data allows a holdout,
:func:`compare_models` fits BG/NBD, MBG/NBD and Pareto/NBD by MAP (cheap; the full posterior is
then fitted for the chosen model only) on the calibration period and scores each on the holdout
(:meth:`salesbench.analyses.churn.clv.ChurnModel.holdout_check`):

* **total error**: |predicted − actual| purchases in the holdout, what a forecast of the
  customer base gets right or wrong;
* **calibration by frequency** (:meth:`holdout_check` ``calibration_error``): mean predicted vs
  actual purchases per calibration-frequency group (Fader, Hardie & Lee 2005, fig. 4), the mean
  symmetric relative gap over the groups;
* **holdout log-likelihood** Σ log P(X = actual | history): a proper score of each customer's
  whole predicted distribution of purchases (dominated by the many customers who do not buy,
  so on its own it can prefer a model that under-forecasts the total);
* **P(alive) ranking**: ROC AUC of P(alive) for "bought again in the holdout" — the report's
  "probably gone" shares and the at-risk list are read from P(alive), and BG/NBD, which gives
  every one-time buyer P(alive) = 1, can rank worse than chance (AUC 0.32 on CDNOW master)
  while forecasting the total well.

**The rule**: each model is ranked on each criterion (1 = best) and the model with the best
mean rank is chosen; ties go to the higher log-likelihood. Whether the actual lies inside the
94% predictive interval and the AUCs of the other ranking signals are shown beside it.

The holdout is the user's own (``calibration_end`` before the last order date) or, when the
report runs up to the last order date, an internal one: the last ``min(horizon, a third of the
history)`` is held out for the choice only (:func:`selection_split`), and the chosen model is
then fitted on all the data.

The at-risk ranking signal (:func:`choose_signal`) is the one with the highest holdout AUC for
"bought again in the holdout" among P(alive), P(purchase within the horizon), expected purchases
and plain recency (time since the last purchase), so the list never ranks worse than recency
on the data it was checked on.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from salesbench.analyses.churn import clv as churn
from salesbench.core.errors import ReportSkipped
from salesbench.core.i18n import N_, NP_, messages
from salesbench.core.said import Said

CANDIDATES: tuple[str, ...] = ("bg_nbd", "mbg_nbd", "pareto_nbd")
#: Ranking signals, in order of preference on equal AUC.
SIGNALS: tuple[str, ...] = ("p_purchase", "expected_purchases", "p_alive", "recency")
#: Used when no holdout is possible: the model's probability of buying within the horizon.
DEFAULT_SIGNAL = "p_purchase"
DEFAULT_MODEL = "mbg_nbd"
RULE = ("best mean rank over four holdout criteria — |total error|, calibration error by frequency, holdout "
        "log-likelihood, AUC of P(alive) for 'bought again' — ties broken by the log-likelihood (MAP fits on the "
        "calibration period)")
#: Minimum data to fit a purchase model at all.
MIN_CUSTOMERS = 10
MIN_REPEAT_CUSTOMERS = 3


MODELS = ("auto", *churn.MODEL_PARAMS)
SIGNAL_CHOICES = ("auto", *churn.RANK_ORDER)


class NotEnoughData(ReportSkipped):
    """The data is too small for the churn models; ``reason`` says why in one sentence.

    A :class:`~salesbench.core.errors.ReportSkipped`: inside ``with res.skipping():`` the run is
    recorded as skipped with this reason.
    """


def data_problem(rfm: pd.DataFrame, when: str = "") -> str | None:
    """Why the churn models cannot be fitted on ``rfm`` (one sentence), or None when they can.

    The purchase models need at least ``MIN_CUSTOMERS`` customers, ``MIN_REPEAT_CUSTOMERS`` of
    whom bought on more than one day: with fewer the purchase rate and the drop-out are not
    identified.
    """
    n = len(rfm)
    rep = int((rfm["frequency"] > 0).sum()) if n else 0
    if n >= MIN_CUSTOMERS and rep >= MIN_REPEAT_CUSTOMERS:
        return None
    fields = dict(min=MIN_CUSTOMERS, min_repeat=MIN_REPEAT_CUSTOMERS, when=when, n=format(n, ","), repeat=format(rep, ","))
    if n == 1:
        return Said(__name__, N_("the churn models need at least {min} customers, {min_repeat} of them with purchases "
                                 "on more than one day{when}; this data has {n} customer and {repeat} with a repeat "
                                 "purchase"), **fields)
    return Said(__name__, N_("the churn models need at least {min} customers, {min_repeat} of them with purchases on "
                             "more than one day{when}; this data has {n} customers and {repeat} with a repeat purchase"),
                **fields)


def selection_split(first_date: pd.Timestamp, last: pd.Timestamp, horizon: float, unit_days: float) -> pd.Timestamp:
    """End of the internal calibration period used to choose the model when no holdout is given.

    Holds out ``min(horizon, a third of the history)`` before the last order date, whole days.
    """
    span = (last - first_date).days
    days = int(min(horizon * unit_days, span / 3))
    return last - pd.Timedelta(days=max(days, 0))


@dataclass
class Choice:
    """Outcome of the model and signal choice.

    ``model`` / ``signal``: what is used; ``table``: one row per candidate (empty when nothing
    was compared); ``calibration_end`` / ``holdout_length``: the split it was decided on (None
    without a holdout); ``holdout``: the chosen candidate's :meth:`holdout_check` result;
    ``reason``: a sentence on how the choice was made; ``seconds``: time spent; ``auc``: the
    holdout AUC of each ranking signal the signal was chosen on (``auc_source`` says which holdout).
    """

    model: str
    signal: str
    table: pd.DataFrame
    calibration_end: pd.Timestamp | None
    holdout_length: float | None
    holdout: dict[str, Any] | None
    reason: str
    signal_reason: str
    seconds: float = 0.0
    auc: dict[str, float | None] | None = None
    auc_source: str | None = None


def compare_models(rfm: pd.DataFrame, holdout: pd.DataFrame, length: float, candidates=CANDIDATES,
                   priors: str = "default", seed: int = 42, chunk_size: int = 5000
                   ) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """MAP-fit each candidate on ``rfm`` and score it on the holdout (see the module doc).

    Returns ``(table, checks)``: ``table`` has ``model, fit_seconds, predicted_total,
    predicted_lo, predicted_hi, actual_total, error_pct, covered, calibration_error, log_lik,
    log_lik_per_customer, auc_p_alive, auc_p_purchase, auc_expected_purchases, auc_recency,
    error, mean_rank, chosen`` (a fit that fails gets its message in ``error`` and is not chosen);
    ``checks`` maps model → its holdout check.
    """
    rows, checks = [], {}
    for name in candidates:
        t0 = time.perf_counter()
        row: dict[str, Any] = {"model": name}
        try:
            m = churn.ChurnModel(model=name, fit_method="map", priors=priors, spend=False, seed=seed,
                                 chunk_size=chunk_size).fit(rfm)
            row["fit_seconds"] = time.perf_counter() - t0
            h = m.holdout_check(rfm, holdout, length)
        except Exception as exc:  # a candidate that cannot be fitted is reported, not fatal
            row.update(fit_seconds=time.perf_counter() - t0, error=f"{type(exc).__name__}: {exc}")
            rows.append(row)
            continue
        checks[name] = h
        row.update({k: h[k] for k in ("predicted_total", "predicted_lo", "predicted_hi", "actual_total", "error_pct",
                                      "covered", "calibration_error", "log_lik", "log_lik_per_customer")})
        row.update({f"auc_{k}": v for k, v in h["auc"].items()})
        row["error"] = None
        rows.append(row)
    table = pd.DataFrame(rows)
    ok = table["log_lik"].notna() if "log_lik" in table else pd.Series(False, index=table.index)
    table["chosen"] = False
    table["mean_rank"] = np.nan
    if ok.any():
        t = table[ok]
        ranks = pd.concat([t["error_pct"].abs().rank(method="min"), t["calibration_error"].rank(method="min"),
                           (-t["log_lik"]).rank(method="min"), (-t["auc_p_alive"]).rank(method="min")], axis=1)
        table.loc[ok, "mean_rank"] = ranks.mean(axis=1)
        best = table[ok].sort_values(["mean_rank", "log_lik"], ascending=[True, False]).index[0]
        table.loc[best, "chosen"] = True
    return table, checks


def choose_signal(auc: dict[str, float | None] | None) -> tuple[str, str]:
    """The ranking signal with the highest holdout AUC (ties: :data:`SIGNALS` order) and a sentence why."""
    valid = {k: v for k, v in (auc or {}).items() if v is not None and k in SIGNALS}
    if not valid:
        return DEFAULT_SIGNAL, Said(__name__, N_("The ranking could not be checked (no holdout with both buyers and "
                                                 "non-buyers): customers are ranked by the model's probability of "
                                                 "buying within the horizon."))
    best = max(SIGNALS, key=lambda k: (valid.get(k, -1.0), -SIGNALS.index(k)))
    rec = valid.get("recency")
    if rec is not None and best != "recency":
        return best, Said(__name__, N_("Ranked by {signal}, the signal that best ranked who bought again in the holdout: "
                                       "AUC {auc} (recency alone: {recency})."),
                          signal=signal_label(best), auc=format(valid[best], ".3f"), recency=format(rec, ".3f"))
    return best, Said(__name__, N_("Ranked by {signal}, the signal that best ranked who bought again in the holdout: "
                                   "AUC {auc}."), signal=signal_label(best), auc=format(valid[best], ".3f"))


SIGNAL_LABELS = {
    "p_purchase": NP_("signal", "the probability of buying within the horizon"),
    "expected_purchases": NP_("signal", "expected purchases over the horizon"),
    "p_alive": NP_("signal", "P(alive)"),
    "recency": NP_("signal", "time since the last purchase (recency)"),
    "revenue_at_risk": NP_("signal", "revenue at risk"),
}


def signal_label(signal: str) -> Said:
    """A ranking signal in words (:data:`SIGNAL_LABELS`; English as a str, the report's language when shown)."""
    return Said(__name__, "{label}", label=lambda: _signal_label_shown(signal))


def _signal_label_shown(signal: str) -> str:
    return messages(__name__).pgettext("signal", SIGNAL_LABELS[signal])


def _set_by_parameters(signal: str) -> Said:
    return Said(__name__, N_("Ranked by {signal} (set by the parameters)."), signal=signal_label(signal))


def _model_set(model: str) -> Said:
    return Said(__name__, N_("Model set by the parameters: {model}."), model=model)


def choose(orders, rfm: pd.DataFrame, end: pd.Timestamp, last: pd.Timestamp, model: str = "auto",
           signal: str = "auto", horizon: float = 52, time_unit: str = "W", priors: str = "default", seed: int = 42,
           chunk_size: int = 5000) -> Choice:
    """Choose the purchase model and the at-risk ranking signal (:mod:`salesbench.analyses.churn.choice`).

    With the user's holdout (``end`` before ``last``) the candidates are compared on it and the
    signal is chosen afterwards from the fitted model's own holdout check (``signal`` None here).
    Otherwise an internal split (:func:`selection_split`) is used for both. Without
    enough data for a holdout the defaults are used and ``reason`` says so.
    """
    t0 = time.perf_counter()
    unit_days = churn.check_time_unit(time_unit)
    auto_model, auto_signal = model == "auto", signal == "auto"
    candidates = CANDIDATES if auto_model else (model,)
    user_holdout = end < last
    if not auto_model and (user_holdout or not auto_signal):
        s = signal if not auto_signal else None
        return Choice(model=model, signal=s, table=pd.DataFrame(), calibration_end=None,
                                   holdout_length=None, holdout=None, reason=_model_set(model),
                                   signal_reason="" if s is None else _set_by_parameters(s))
    if user_holdout:
        cal_end, rfm_c = end, rfm
    else:
        cal_end = selection_split(pd.Timestamp(rfm["first_purchase"].min()), last, horizon, unit_days)
        rfm_c = churn.rfm_table(orders, cal_end, time_unit) if cal_end < last else rfm.iloc[:0]
    problem = None if cal_end < last else Said(__name__, N_("the history is too short to hold out any time"))
    problem = problem or data_problem(rfm_c, Said(__name__, N_(" before {date}"), date=_date(cal_end)))
    if problem:
        m = DEFAULT_MODEL if auto_model else model
        s = DEFAULT_SIGNAL if auto_signal else signal
        return Choice(
            model=m, signal=s, table=pd.DataFrame(), calibration_end=None, holdout_length=None, holdout=None,
            reason=(Said(__name__, N_("No holdout to choose on ({problem}): the default {model} model is used."),
                         problem=problem, model=model_label(m)) if auto_model else _model_set(m)),
            signal_reason=(Said(__name__, N_("No holdout to choose on ({problem}): customers are ranked by {signal}."),
                                problem=problem, signal=signal_label(s)) if auto_signal
                           else _set_by_parameters(s)),
            seconds=time.perf_counter() - t0)
    hold, days = churn.holdout_purchases(orders, cal_end, rfm_c["customer_id"], last=last)
    length = days / unit_days
    table, checks = compare_models(rfm_c, hold, length, candidates, priors=priors, seed=seed,
                                                chunk_size=chunk_size)
    where = (Said(__name__, N_("the holdout after calibration_end")) if user_holdout else
             Said(__name__, N_("an internal holdout (data to {date} to fit, the {length} {unit} after it to test; "
                               "the chosen model is then fitted on all the data)"),
                  date=_date(cal_end), length=format(length, ".1f"), unit=unit_words(time_unit)))
    if table["chosen"].any():
        chosen = str(table.loc[table["chosen"], "model"].iloc[0])
        if not auto_model:
            reason = _model_set(model)
        elif len(candidates) > 1:
            reason = Said(__name__, N_("Model chosen on {where}: {model} scored best of the {n} candidates fitted by MAP "
                                       "(mean rank over total error, calibration by frequency, holdout log-likelihood "
                                       "and how well P(alive) ranks who bought again)."),
                          where=where, model=model_label(chosen), n=len(candidates))
        else:
            reason = Said(__name__, N_("Model chosen on {where}: {model} scored best of the {n} candidate fitted by MAP "
                                       "(mean rank over total error, calibration by frequency, holdout log-likelihood "
                                       "and how well P(alive) ranks who bought again)."),
                          where=where, model=model_label(chosen), n=len(candidates))
    else:
        chosen = DEFAULT_MODEL if auto_model else model
        reason = Said(__name__, N_("No candidate could be fitted on {where}: the default {model} model is used."),
                      where=where, model=model_label(chosen))
    h = checks.get(chosen)
    if user_holdout:
        s, s_reason = (None, "") if auto_signal else (signal, _set_by_parameters(signal))
    elif auto_signal:
        s, s_reason = choose_signal(h["auc"] if h else None)
    else:
        s, s_reason = signal, _set_by_parameters(signal)
    c = Choice(model=chosen, signal=s, table=table, calibration_end=cal_end, holdout_length=length,
                            holdout=h, reason=reason, signal_reason=s_reason, seconds=time.perf_counter() - t0)
    if h is not None and not user_holdout:
        c.auc, c.auc_source = h["auc"], "internal holdout"
    return c


def _date(d: pd.Timestamp):
    """A date field of a :class:`Said`: ISO in English, the report's date format when shown."""
    from salesbench.viz.format import fmt_date
    return lambda: fmt_date(pd.Timestamp(d).date())


def unit_words(time_unit: str) -> Said:
    """The time unit in words (``"W"`` → weeks), English as a str, the report's language when shown."""
    words = {"D": N_("days"), "W": N_("weeks"), "M": N_("months")}[time_unit]
    return Said(__name__, words)


def model_label(model: str) -> str:
    return {"bg_nbd": "BG/NBD", "mbg_nbd": "MBG/NBD", "pareto_nbd": "Pareto/NBD"}.get(model, model)
