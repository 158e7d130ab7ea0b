"""Choosing the purchase model and the at-risk ranking signal on the user's own data.

A model chosen on the demo company need not suit a real seller. When the data allows a holdout,
:func:`compare_models` fits BG/NBD, MBG/NBD and Pareto/NBD by MAP (cheap; the full posterior is
then fitted for the chosen model only) on the calibration period and scores each on the holdout
(:meth:`salesbench.analyses.churn.model.ChurnModel.holdout_check`):

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

from salesbench.analyses.churn import model as churn

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


def check_params(values: dict[str, Any]) -> None:
    """Check the churn parameters that take one of a few words; ``_check`` in params/churn.yaml runs it
    before any kernel starts, so a typo is a one-line error (exit 2), not a failed report."""
    allowed = {"model": MODELS, "at_risk_signal": SIGNAL_CHOICES, "fit_method": churn.FIT_METHODS,
               "priors": churn.PRIORS, "time_unit": tuple(churn.TIME_UNIT_DAYS)}
    for key, ok in allowed.items():
        if key in values and values[key] not in ok:
            raise ValueError(f"{key} must be one of {', '.join(ok)}, not {values[key]!r}")


class NotEnoughData(ValueError):
    """The data is too small for the churn models; ``reason`` says why in one sentence."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


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
    return (f"the churn models need at least {MIN_CUSTOMERS} customers, {MIN_REPEAT_CUSTOMERS} of them with "
            f"purchases on more than one day{when}; this data has {n:,} customer{'s' if n != 1 else ''} and "
            f"{rep:,} with a repeat purchase")


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
        return DEFAULT_SIGNAL, ("The ranking could not be checked (no holdout with both buyers and non-buyers): "
                                "customers are ranked by the model's probability of buying within the horizon.")
    best = max(SIGNALS, key=lambda k: (valid.get(k, -1.0), -SIGNALS.index(k)))
    rec = valid.get("recency")
    vs = f" (recency alone: {rec:.3f})" if rec is not None and best != "recency" else ""
    return best, f"Ranked by {SIGNAL_LABELS[best]}, the signal that best ranked who bought again in the holdout: AUC {valid[best]:.3f}{vs}."


SIGNAL_LABELS = {
    "p_purchase": "the probability of buying within the horizon",
    "expected_purchases": "expected purchases over the horizon",
    "p_alive": "P(alive)",
    "recency": "time since the last purchase (recency)",
    "revenue_at_risk": "revenue at risk",
}
