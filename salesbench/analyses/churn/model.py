"""The churn analysis as one estimator: :class:`Churn` (parameters of ``params/churn.yaml``).

``Churn.from_params(P).fit(ds)`` runs every step of the churn report:

1. the calibration summary per customer (:func:`salesbench.analyses.churn.clv.rfm_table`),
   raising :class:`~salesbench.analyses.churn.choice.NotEnoughData` (a
   :class:`~salesbench.core.errors.ReportSkipped`) when the data is too small;
2. the purchase model and the at-risk ranking signal (:func:`salesbench.analyses.churn.choice.choose`,
   on a holdout when ``model`` / ``at_risk_signal`` are ``auto``);
3. the purchase and spend models (:class:`salesbench.analyses.churn.clv.ChurnModel`) and a
   prediction for every customer;
4. the holdout test when orders after ``calibration_end`` exist;
5. the at-risk list and revenue at risk per region / segment / owner rep;
6. the model checks (convergence, posterior predictive check, the P(alive) grid);
7. the early-warning model (:func:`salesbench.analyses.churn.warning.start_early_warning`: its indicators are
   queried after step 1 and the model is fitted in a forked child process while steps 2–6 run, see
   :mod:`salesbench.core.forked`);
8. on the demo company, the check against the generator's truth.

The words, tables and figures are in :mod:`salesbench.analyses.churn.report` and
:mod:`salesbench.analyses.churn.plots`.
"""
from __future__ import annotations

import math
import time
from typing import Any

import pandas as pd

from salesbench.analyses.base import Analysis, one_of
from salesbench.analyses.churn import choice as churn_choice
from salesbench.analyses.churn import clv
from salesbench.analyses.churn import warning as churn_warning
from salesbench.core.jsonable import to_jsonable

#: the exported per-customer columns (``churn.customers.csv``)
CUSTOMER_COLUMNS = ["customer_id", "p_alive", "expected_purchases", "clv", "p_alive_lo", "p_alive_hi",
                    "expected_purchases_lo", "expected_purchases_hi", "clv_lo", "clv_hi", "revenue_at_risk",
                    "p_purchase", "since_last_purchase"]
#: the exported at-risk columns (``churn.at_risk.csv``)
AT_RISK_COLUMNS = ["customer_id", "region", "segment", "owner_rep_id", "p_alive", "value_if_alive",
                   "revenue_at_risk", "revenue_at_risk_lo", "revenue_at_risk_hi", "clv", "rank", "p_purchase",
                   "expected_purchases", "since_last_purchase"]
#: the holdout-check keys written to ``churn.results.json``
HOLDOUT_KEYS = ("predicted_total", "predicted_lo", "predicted_hi", "actual_total", "error_pct", "mae", "length",
                "expected_lo", "expected_hi", "interval", "covered", "log_lik", "log_lik_per_customer",
                "calibration_error", "auc", "bought_share")


class Churn(Analysis):
    """Who is probably gone, what they were worth, what is at risk (parameters: ``params/churn.yaml``).

    Learned attributes (after :meth:`fit`): ``calibration_end_``, ``last_order_date_``, ``rfm_``
    (frequency / recency / T per customer), ``choice_`` (:class:`~salesbench.analyses.churn.choice.Choice`),
    ``model_`` (the purchase model used), ``clv_model_`` (the fitted
    :class:`~salesbench.analyses.churn.clv.ChurnModel`), ``fit_seconds_``, ``predictions_``,
    ``holdout_`` (None without orders after ``calibration_end``), ``attrs_``, ``at_risk_``, ``risk_by_``,
    ``revenue_at_risk_``, ``ppc_``, ``grid_``, ``convergence_``, ``warning_`` / ``warning_reason_`` /
    ``warning_as_of_``, ``truth_`` (demo data only).
    """

    name = "churn"

    def __init__(self, model="mbg_nbd", fit_method="mcmc", priors="default", time_unit="W", calibration_end=None,
                 horizon=52, clv_months=24, discount_rate=0.1, draws=1000, tune=1000, chains=2, seed=42,
                 vi_iterations=30000, max_pred_draws=400, chunk_size=5000, at_risk_p_alive=0.5,
                 at_risk_min_value_quantile=0.5, at_risk_signal="auto", segment_by="tier", early_warning=True,
                 warning_window_days=180, warning_label_days=180, warning_draws=500, top_n=25):
        self.model = model
        self.fit_method = fit_method
        self.priors = priors
        self.time_unit = time_unit
        self.calibration_end = calibration_end
        self.horizon = horizon
        self.clv_months = clv_months
        self.discount_rate = discount_rate
        self.draws = draws
        self.tune = tune
        self.chains = chains
        self.seed = seed
        self.vi_iterations = vi_iterations
        self.max_pred_draws = max_pred_draws
        self.chunk_size = chunk_size
        self.at_risk_p_alive = at_risk_p_alive
        self.at_risk_min_value_quantile = at_risk_min_value_quantile
        self.at_risk_signal = at_risk_signal
        self.segment_by = segment_by
        self.early_warning = early_warning
        self.warning_window_days = warning_window_days
        self.warning_label_days = warning_label_days
        self.warning_draws = warning_draws
        self.top_n = top_n

    @classmethod
    def check_params(cls, values) -> None:
        """Purchase model (or ``auto``), at-risk ranking signal, fit method, priors and time unit from their lists."""
        allowed = {"model": churn_choice.MODELS, "at_risk_signal": churn_choice.SIGNAL_CHOICES,
                   "fit_method": clv.FIT_METHODS, "priors": clv.PRIORS, "time_unit": tuple(clv.TIME_UNIT_DAYS)}
        for key, ok in allowed.items():
            if key in values:
                one_of(values, key, ok)

    # -- fit ------------------------------------------------------------------------------------
    def fit(self, ds) -> "Churn":
        """Run every step of the churn analysis on a :class:`~salesbench.core.dataset.Dataset` (module doc)."""
        type(self).check_params(self.get_params())
        orders = ds.table("orders")
        self._calibrate(orders)
        # the early-warning model needs none of the steps below: fitted meanwhile on the other core
        warning = churn_warning.start_early_warning(
            ds, self.calibration_end_, self.rfm_["first_purchase"].min(), enabled=self.early_warning,
            window_days=self.warning_window_days, label_days=self.warning_label_days, draws=self.warning_draws,
            chains=self.chains, seed=self.seed)
        self._choose_and_fit(orders)
        self._holdout_test(orders)
        self._rank(ds)
        self._model_checks()
        self.warning_, self.warning_reason_, self.warning_as_of_ = warning.result()
        tc = ds.truth_customers() if hasattr(ds, "truth_customers") else None
        self.truth_ = (clv.truth_check(self.predictions_, tc, self.calibration_end_, self.at_risk_)
                       if tc is not None and "churned_at" in tc.columns else None)
        return self

    def _calibrate(self, orders) -> None:
        """Calibration end, last order date and the per-customer summary; NotEnoughData when too small."""
        last = clv.last_order_date(orders)
        end = pd.Timestamp(self.calibration_end).normalize() if self.calibration_end is not None else last
        if end > last:
            raise ValueError(f"calibration_end {end.date()} is after the last order date {last.date()}")
        self.unit_days_ = clv.check_time_unit(self.time_unit)
        self.last_order_date_, self.calibration_end_ = last, end
        self.rfm_ = clv.rfm_table(orders, end, self.time_unit)
        problem = churn_choice.data_problem(self.rfm_, f" by {end.date()}")
        if problem:
            raise churn_choice.NotEnoughData(problem[0].upper() + problem[1:] + ".")

    def _choose_and_fit(self, orders) -> None:
        """Choose the purchase model and signal, fit it (timed) and predict every customer."""
        self.choice_ = churn_choice.choose(
            orders, self.rfm_, self.calibration_end_, self.last_order_date_, model=self.model,
            signal=self.at_risk_signal, horizon=self.horizon, time_unit=self.time_unit, priors=self.priors,
            seed=self.seed, chunk_size=self.chunk_size)
        self.model_ = self.choice_.model
        cm = clv.ChurnModel(model=self.model_, fit_method=self.fit_method, priors=self.priors, draws=self.draws,
                            tune=self.tune, chains=self.chains, seed=self.seed, max_draws=self.max_pred_draws,
                            chunk_size=self.chunk_size, vi_iterations=self.vi_iterations)
        t0 = time.perf_counter()
        cm.fit(self.rfm_)
        self.fit_seconds_ = time.perf_counter() - t0
        self.clv_model_ = cm
        self.predictions_ = cm.predict(self.rfm_, horizon=self.horizon, clv_months=self.clv_months,
                                       discount_rate=self.discount_rate, time_unit=self.time_unit)

    def _holdout_test(self, orders) -> None:
        """Predicted vs actual purchases after ``calibration_end`` (None when it is the last order date)."""
        self.holdout_ = None
        end, last, rfm = self.calibration_end_, self.last_order_date_, self.rfm_
        if end >= last:
            return
        hold, length_days = clv.holdout_purchases(orders, end, rfm["customer_id"], last=last)
        self.holdout_ = self.clv_model_.holdout_check(rfm, hold, length_days / self.unit_days_)
        c = self.choice_
        c.auc, c.auc_source = self.holdout_["auc"], "holdout"
        if c.signal is None:  # the user's holdout: check the signals of the fitted model itself
            c.signal, c.signal_reason = churn_choice.choose_signal(self.holdout_["auc"])

    def _rank(self, ds) -> None:
        """The at-risk list and revenue at risk per region / segment / owner rep."""
        self.attrs_ = clv.customer_attributes(ds, self.rfm_["customer_id"], segment_by=self.segment_by)
        self.at_risk_ = clv.at_risk_customers(self.predictions_, self.attrs_, p_alive_max=self.at_risk_p_alive,
                                              min_clv_quantile=self.at_risk_min_value_quantile,
                                              rank_by=self.choice_.signal)
        sub = self.rfm_[self.rfm_["customer_id"].isin(self.at_risk_["customer_id"])]
        self.risk_by_ = self.clv_model_.group_totals(
            sub, self.attrs_[["customer_id", "region", "segment", "owner_rep_id"]], self.horizon,
            value="revenue_at_risk", clv_months=self.clv_months, discount_rate=self.discount_rate,
            time_unit=self.time_unit)
        self.revenue_at_risk_ = total_at_risk(self.risk_by_)

    def _model_checks(self) -> None:
        """Posterior predictive check, the P(alive) grid and the sampler's convergence."""
        rfm = self.rfm_
        self.ppc_ = self.clv_model_.repeat_purchase_ppc(rfm)
        max_f = int(min(max(rfm["frequency"].quantile(0.99), 5), 40))
        self.grid_ = self.clv_model_.p_alive_grid(max_f, float(rfm["T"].quantile(0.9)))
        self.convergence_ = self.clv_model_.convergence()

    # -- results --------------------------------------------------------------------------------
    def results(self) -> dict[str, Any]:
        """The values of ``churn.results.json`` (plain JSON; see docs/churn.md)."""
        return to_jsonable(self._result_values())

    def _result_values(self) -> dict[str, Any]:
        conv, cm, pred = self.convergence_, self.clv_model_, self.predictions_
        out = {
            "model": self.model_, "fit_method": self.fit_method, "priors": self.priors, "time_unit": self.time_unit,
            "calibration_end": self.calibration_end_.date(), "horizon": self.horizon, "clv_months": self.clv_months,
            "discount_rate": self.discount_rate, "seed": self.seed, "params": cm.params_dict("purchase"),
            "spend_params": cm.params_dict("spend"), "r_hat_max": conv["r_hat_max"],
            "ess_bulk_min": conv["ess_bulk_min"], "converged": conv["ok"], "n_customers": len(self.rfm_),
            "n_at_risk": len(self.at_risk_), "revenue_at_risk": self.revenue_at_risk_,
            "revenue_at_risk_by": {by: self.risk_by_[self.risk_by_["by"] == by][["group", "mean", "lo", "hi",
                                                                                 "n_customers"]]
                                   for by in ("region", "segment", "owner_rep_id")},
            "customer_value": cm.totals_["clv"], "expected_purchases_total": cm.totals_["expected_purchases"],
            "mean_p_alive": float(pred["p_alive"].mean()),
            "status_counts": pd.Series(clv.status_of(pred["p_alive"])).value_counts().to_dict(),
            "repeat_purchase_ppc": self.ppc_, "model_requested": self.model, "fit_seconds": self.fit_seconds_,
            "expected_revenue_total": cm.totals_["expected_revenue"],
        }
        out.update(self._choice_values())
        if self.holdout_ is not None:
            out["holdout"] = {k: self.holdout_[k] for k in HOLDOUT_KEYS} | {"by_frequency":
                                                                            self.holdout_["by_frequency"]}
        out["early_warning"] = (self.warning_.summary() | {"as_of": self.warning_as_of_.date()}
                                if self.warning_ is not None else {"skipped": self.warning_reason_})
        if self.truth_ is not None:
            out["truth_check"] = self.truth_
        return out

    def _choice_values(self) -> dict[str, Any]:
        c = self.choice_
        return {
            "model_choice": {"rule": churn_choice.RULE, "chosen": c.model, "reason": c.reason,
                             "calibration_end": c.calibration_end.date() if c.calibration_end is not None else None,
                             "holdout_length": c.holdout_length, "seconds": c.seconds,
                             "table": c.table if len(c.table) else None},
            "ranking": {"signal": c.signal, "reason": c.signal_reason, "auc": c.auc, "measured_on": c.auc_source,
                        "auc_signal": (c.auc or {}).get(c.signal), "auc_recency": (c.auc or {}).get("recency")},
        }

    def tables(self) -> dict[str, pd.DataFrame]:
        """The exported tables ``churn.<name>.csv`` (rounded as published)."""
        out = {}
        if len(self.choice_.table):
            out["model_comparison"] = self.choice_.table.round(6)
        out["customers"] = self.predictions_[CUSTOMER_COLUMNS].round(6)
        out["at_risk"] = self.at_risk_[AT_RISK_COLUMNS].round(4)
        out["revenue_at_risk_by"] = self.risk_by_.round(2)
        if self.warning_ is not None:
            out["warning_effects"] = self.warning_.effects_.round(4)
        return out


def total_at_risk(risk_by: pd.DataFrame) -> dict[str, Any]:
    """Total revenue at risk of the at-risk list: expected value, 94% posterior-predictive interval
    (``lo``/``hi``) and the parameter-only interval (``lo_param``/``hi_param``); from the ``by == "total"`` row."""
    tot = risk_by[risk_by["by"] == "total"]
    if tot.empty:
        return {"mean": 0.0, "lo": 0.0, "hi": 0.0, "lo_param": None, "hi_param": None,
                "interval": "posterior predictive"}
    r = tot.iloc[0]
    return {"mean": float(r["mean"]), "lo": _none(r["lo"]), "hi": _none(r["hi"]), "lo_param": _none(r["lo_param"]),
            "hi_param": _none(r["hi_param"]), "interval": "posterior predictive"}


def _none(x):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)

