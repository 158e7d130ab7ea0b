"""Sales forecasting: hierarchical series, rolling-origin backtest, coherent forecasts, gap to target.

The question: what will we sell in the coming months, per region, product line
and channel, how sure are we, and will we reach target?

:class:`SalesForecast` runs the steps, each in its own module:

1. :func:`~salesbench.analyses.forecasting.series.build_series` — revenue (or order counts) per
   period for the total and every level of the hierarchy, aggregated in the engine (ibis/DuckDB);
   missing periods zero-filled, then summed with Nixtla's ``hierarchicalforecast``.
2. :func:`~salesbench.analyses.forecasting.evaluation.backtest` — rolling-origin evaluation
   (Tashman 2000) of the candidate models (statsforecast) with MASE, WAPE, bias and 80%/95%
   interval coverage; the model choice per series and the honest (held-out) accuracy
   (:mod:`salesbench.analyses.forecasting.backtest`).
3. :func:`~salesbench.analyses.forecasting.reconcile.forecast_base` — the chosen model of each
   series refitted on the whole history; :func:`~salesbench.analyses.forecasting.reconcile.reconcile`
   — coherent forecasts (bottom-up or MinTrace, Wickramasuriya, Athanasopoulos & Hyndman 2019),
   intervals by the Normality method of Panagiotelis et al. (2022), calibrated per level.
4. :func:`~salesbench.analyses.forecasting.targets.target_gap` — forecast against the ``targets``
   table and the probability of reaching each target; the next quarter's total.
5. :func:`~salesbench.analyses.forecasting.lifecycle.product_lifecycle` — introduction / growth /
   maturity / decline per product line.

Wording, tables and publishing live in :mod:`salesbench.analyses.forecasting.report`, figures
in :mod:`salesbench.analyses.forecasting.plots`.
"""
from __future__ import annotations

import os
import time
from typing import Any, Mapping

import numpy as np
import pandas as pd

from salesbench.analyses.base import Analysis, all_of, check_with, one_of
from salesbench.analyses.forecasting.backtest import MODELS
from salesbench.analyses.forecasting.evaluation import (backtest, error_correlation, horizon_sum_coverage,
                                                        level_summary, nested_check)
from salesbench.analyses.forecasting.lifecycle import product_lifecycle
from salesbench.analyses.forecasting.reconcile import (RECONCILIATION, calibrate_reconciled, coherence_error,
                                                       forecast_base, reconcile_backtest, reconcile_or_fall_back,
                                                       reconciled_factors, reconciled_honest, reconciliation_name,
                                                       total_scores)
from salesbench.analyses.forecasting.series import (DIMENSIONS, FREQUENCIES, METRICS, TOTAL, build_series,
                                                    fit_backtest_to_history, usable_drivers)
from salesbench.analyses.forecasting.targets import load_targets, next_quarter, plan_frame, read_plan, target_gap
from salesbench.core.errors import CheckError
from salesbench.core.i18n import N_
from salesbench.core.said import Said


class SalesForecast(Analysis):
    """Configure, then ``fit(ds)``: series → backtest → selection → forecast → reconciliation → targets → lifecycle.

    Parameters are the keys of ``params/forecasting.yaml``; ``driver_plan`` is the
    plan file (:func:`~salesbench.analyses.forecasting.targets.read_plan`) or an
    already-read frame ``period, promo_share, discount``. After ``fit``:

    - ``series_`` (:class:`SeriesSet`), ``plan_`` (the plan read, or None), ``n_origins_`` (origins used);
    - ``bt_`` (:class:`Backtest`), ``levels_`` (:func:`level_summary`), ``nested_`` (:func:`nested_check`),
      ``rho_`` (:func:`error_correlation`), ``sum_coverage_`` / ``sum_coverage_independent_``
      (:func:`horizon_sum_coverage` with ``rho_`` / 0);
    - ``base_`` / ``fitted_`` (:func:`forecast_base`); ``forecast_`` (reconciled, intervals stretched by
      :func:`calibrate_reconciled`; ``forecast_uncalibrated_`` before that), ``reconciliation_used_``,
      ``reconciliation_note_``, ``reconciled_factors_``, ``honest_reconciled_`` /
      ``honest_reconciled_uncalibrated_`` (:func:`reconciled_honest`), ``coherence_`` (:func:`coherence_error`);
    - ``targets_`` (:func:`load_targets`), ``gap_`` (:func:`target_gap`), ``quarter_`` (:func:`next_quarter`);
    - ``lifecycle_`` / ``line_monthly_`` (:func:`product_lifecycle`); ``timings_`` (seconds per step).
    """

    name = "forecasting"

    def __init__(self, frequency="M", metric="revenue", dimensions=["region", "product_line", "channel"],
                 as_of=None, start=None, horizon=3, n_origins=6,
                 models=["seasonal_naive", "ets", "holt_winters", "theta", "arima", "arimax", "combination"],
                 deep_models=["seasonal_naive", "holt_winters", "theta", "combination"], deep_depth=2,
                 selection_metric="mase", reconciliation="mint_shrink", season_length=None,
                 min_period_coverage=0.9, driver_plan=None, refit=False, n_jobs=1, top_series=4,
                 lifecycle_intro_months=12, lifecycle_growth=0.1, lifecycle_decline=-0.1):
        self.frequency = frequency
        self.metric = metric
        self.dimensions = dimensions
        self.as_of = as_of
        self.start = start
        self.horizon = horizon
        self.n_origins = n_origins
        self.models = models
        self.deep_models = deep_models
        self.deep_depth = deep_depth
        self.selection_metric = selection_metric
        self.reconciliation = reconciliation
        self.season_length = season_length
        self.min_period_coverage = min_period_coverage
        self.driver_plan = driver_plan
        self.refit = refit
        self.n_jobs = n_jobs
        self.top_series = top_series
        self.lifecycle_intro_months = lifecycle_intro_months
        self.lifecycle_growth = lifecycle_growth
        self.lifecycle_decline = lifecycle_decline

    # -- parameters -----------------------------------------------------------------------------
    @classmethod
    def check_params(cls, values: Mapping[str, Any]) -> None:
        """Frequency, metric, dimensions, models, selection metric, reconciliation, season length, lifecycle
        thresholds; the ``driver_plan`` file exists and has a period and a driver column (:func:`read_plan`)."""
        one_of(values, "frequency", list(FREQUENCIES))
        one_of(values, "metric", METRICS)
        all_of(values, "dimensions", DIMENSIONS, "hierarchy level")
        all_of(values, "models", MODELS, "model")
        all_of(values, "deep_models", MODELS, "model")
        if not values["models"]:
            raise CheckError("models", "at least one model is needed")
        one_of(values, "selection_metric", ("mase", "wape"))
        one_of(values, "reconciliation", list(RECONCILIATION))
        if values["season_length"] is not None and values["season_length"] < 1:
            raise CheckError("season_length", f"must be at least 1 (or null), not {values['season_length']}")
        if values["lifecycle_growth"] <= values["lifecycle_decline"]:
            raise CheckError("lifecycle_growth", f"the growth threshold ({values['lifecycle_growth']}) must be "
                                                 f"above the decline threshold ({values['lifecycle_decline']})")
        if values.get("driver_plan"):  # relative to the caller's working directory, as the runner passes it on
            check_with("driver_plan", read_plan, values["driver_plan"])

    # -- learning -------------------------------------------------------------------------------
    def fit(self, ds) -> "SalesForecast":
        """Every step on ``ds``; raises :class:`InsufficientHistory` (a ReportSkipped) when the history is too short."""
        self._fit_model_steps(ds)
        self._fit_targets(ds)
        self.lifecycle_, self.line_monthly_ = product_lifecycle(
            ds, self.series_.as_of, self.lifecycle_intro_months, self.lifecycle_growth, self.lifecycle_decline)
        return self

    def _fit_model_steps(self, ds) -> None:
        """The timed steps every user of the forecast needs: series, backtest, forecast, reconciliation."""
        self.timings_: dict[str, float] = {}
        self._timed("series", self._fit_series, ds)
        self._timed("backtest", self._fit_backtest)
        self._timed("forecast", self._fit_forecast)
        self._timed("reconcile", self._fit_reconcile)

    def _timed(self, step: str, fn, *args) -> None:
        t = time.perf_counter()
        fn(*args)
        self.timings_[step] = time.perf_counter() - t

    def _fit_series(self, ds) -> None:
        """The series hierarchy (:func:`build_series`) and the planned drivers on it (:func:`plan_frame`)."""
        plan = self.driver_plan
        self.plan_ = read_plan(plan) if isinstance(plan, (str, os.PathLike)) else plan
        self.series_ = build_series(ds, self.frequency, self.metric, self.dimensions, self.as_of, self.start,
                                    self.min_period_coverage, self.season_length)
        self.series_.plan = plan_frame(self.plan_, self.series_)
        if self.series_.plan is not None:
            self.series_.notes.append(Said(__name__, N_("Planned drivers for {n} period(s)."),
                                           n=self.series_.plan['ds'].nunique()))

    def _fit_backtest(self) -> None:
        """Origins the history allows, the backtest and its scores per level, nested check and sum coverage."""
        s = self.series_
        self.n_origins_ = fit_backtest_to_history(s, self.horizon, self.n_origins)
        self.bt_ = backtest(s, self.models, self.horizon, self.n_origins_, n_jobs=self.n_jobs, refit=self.refit,
                            selection_metric=self.selection_metric, deep_models=self.deep_models,
                            deep_depth=self.deep_depth)
        self.levels_ = level_summary(self.bt_, s)
        self.nested_ = nested_check(self.bt_, s)
        self.rho_ = error_correlation(self.bt_)
        self.sum_coverage_ = horizon_sum_coverage(self.bt_, s, self.rho_)
        self.sum_coverage_independent_ = horizon_sum_coverage(self.bt_, s, 0.0)

    def _fit_forecast(self) -> None:
        self.base_, self.fitted_ = forecast_base(self.series_, self.bt_.chosen, self.horizon, self.n_jobs,
                                                 self.bt_.factors, self.bt_.members_by_id(), self.bt_.n_train)

    def _fit_reconcile(self) -> None:
        """Reconciled forecasts, then their intervals stretched per level by the reconciled backtest's own factors
        (all origins, each series' final choice, like the base factors); honest scores of what is shown."""
        s, bt = self.series_, self.bt_
        self.forecast_, self.reconciliation_used_, self.reconciliation_note_ = reconcile_or_fall_back(
            self.base_, self.fitted_, s, self.reconciliation)
        rh = reconciled_honest(bt, self.fitted_, s, self.reconciliation_used_)
        self.honest_reconciled_, self.honest_reconciled_uncalibrated_ = (rh[0], rh[1]) if rh is not None else (None, None)
        self.forecast_uncalibrated_ = self.forecast_
        self.reconciled_factors_: dict = {}
        chosen_fc = bt.forecasts[bt.forecasts["model"] == bt.forecasts["unique_id"].map(bt.chosen)]
        rec_all = reconcile_backtest(chosen_fc, self.fitted_, s, self.reconciliation_used_)
        if rec_all is not None:
            self.reconciled_factors_ = reconciled_factors(rec_all)
            self.forecast_ = calibrate_reconciled(self.forecast_, self.reconciled_factors_, s)
        self.coherence_ = coherence_error(self.forecast_, s)

    def _fit_targets(self, ds) -> None:
        """Targets (revenue only), the gap to them and the next full quarter's total."""
        self.targets_ = load_targets(ds, self.metric) if self.metric == "revenue" else None
        self.gap_ = target_gap(self.forecast_, self.targets_, self.series_, self.series_.holdout)
        total = self.forecast_[self.forecast_["unique_id"] == TOTAL]
        self.quarter_ = (next_quarter(total, self.gap_[self.gap_["unique_id"] == TOTAL], self.rho_)
                         if self.frequency == "M" else None)

    # -- what was learned -----------------------------------------------------------------------
    @property
    def chosen_total(self) -> str:
        return self.bt_.chosen[TOTAL]

    def backtest_total(self) -> dict[str, dict[str, float]]:
        """model → {mase, wape, bias, coverage_80, coverage_95} on the total series."""
        t = self.bt_.total_table()
        return {r.model: {"mase": r.mase, "wape": r.wape, "bias": r.bias, "coverage_80": r.coverage_80,
                          "coverage_95": r.coverage_95} for r in t.itertuples()}

    def honest_total(self) -> dict | None:
        """The claimed accuracy of the total: the model chosen on the earlier origins, scored (calibrated
        intervals included) on the last ``bt_.n_eval`` origins *after reconciliation* when the report
        reconciles (what is shown), else of the base forecasts — ``{model, mase, wape, bias, coverage_80,
        coverage_95}``, or None with too few origins to hold any out."""
        rec = self.honest_reconciled_
        return total_scores(rec if rec is not None and not rec.empty else self.bt_.honest)

    def honest_base_total(self) -> dict | None:
        """The held-out scores of the total's base forecasts (before reconciliation), or None."""
        return total_scores(self.bt_.honest, ("model", "mase", "wape", "coverage_80"))

    def honest_coverage(self) -> dict:
        """Held-out 80%/95% coverage (the last ``bt_.n_eval`` origins) of the total and of all series pooled
        (points weighted equally): ``base`` (calibrated base forecasts), ``reconciled`` (their reconciled
        intervals as hierarchicalforecast gives them) and ``shown`` (reconciled intervals stretched by the
        per-level factors of the choice origins: what the report shows). A stage that did not run is absent."""
        out = {}
        stages = {"base": self.bt_.honest, "reconciled": self.honest_reconciled_uncalibrated_,
                  "shown": self.honest_reconciled_}
        for name, h in stages.items():
            if h is None or h.empty or h["n"].sum() == 0:
                continue
            w = h["n"].to_numpy(dtype=float)
            d = {f"all_{lv}": float(np.nansum(h[f"coverage_{lv}"] * w) / w.sum()) for lv in (80, 95)}
            t = h[h["unique_id"] == TOTAL]
            if not t.empty:
                d.update({f"total_{lv}": float(t[f"coverage_{lv}"].iloc[0]) for lv in (80, 95)})
            out[name] = d
        return out

    def accuracy_total(self) -> float:
        """Forecast accuracy claimed for the total: 1 − WAPE of the model choice on origins it did not see
        (:meth:`honest_total`); 1 − the chosen model's backtest WAPE when no origin could be held out."""
        h = self.honest_total()
        return 1.0 - (h["wape"] if h is not None else self.backtest_total()[self.chosen_total]["wape"])

    def accuracy_basis(self) -> str:
        """How :meth:`accuracy_total` was measured, in words (a :class:`~salesbench.core.said.Said`: English as a
        str, the report's language with ``shown``)."""
        if self.honest_total() is None:
            return Said(__name__, N_("backtest, {n} origins × {h} periods (the origins that chose the model)"),
                        n=self.bt_.n_origins, h=self.horizon)
        rec = self.honest_reconciled_
        fields = dict(n=self.bt_.n_origins - self.bt_.n_eval, n_eval=self.bt_.n_eval, h=self.horizon)
        if rec is not None and not rec.empty:
            return Said(__name__, N_("backtest: model chosen on {n} origins, scored on the next {n_eval} × {h} periods, "
                                     "after reconciliation"), **fields)
        return Said(__name__, N_("backtest: model chosen on {n} origins, scored on the next {n_eval} × {h} periods"),
                    **fields)

    def reconciliation_label(self) -> str:
        """The reconciliation actually applied, in words (with the fallback when the requested one could not run);
        a :class:`~salesbench.core.said.Said`."""
        if self.reconciliation_used_ == "none":
            return Said(__name__, N_("none (one series)"))
        label = reconciliation_name(self.reconciliation_used_)
        if self.reconciliation_used_ == self.reconciliation:
            return label
        return Said(__name__, N_("{label} (fallback: {requested} could not run)"), label=label,
                    requested=reconciliation_name(self.reconciliation))

    def forecast_total(self) -> list[dict]:
        """[{period, mean, lo80, hi80, lo95, hi95}] for the total series (reconciled)."""
        f = self.forecast_[self.forecast_["unique_id"] == TOTAL].sort_values("ds")
        return [{"period": d.date().isoformat(), "mean": m, "lo80": a, "hi80": b, "lo95": c, "hi95": e}
                for d, m, a, b, c, e in zip(f["ds"], f["mean"], f["lo80"], f["hi80"], f["lo95"], f["hi95"])]

    def prob_reach_target(self) -> dict[str, float]:
        """period → P(total ≥ company target) for forecast periods with a target."""
        g = self.gap_[self.gap_["unique_id"] == TOTAL]
        return {d.date().isoformat(): float(p) for d, p in zip(g["ds"], g["prob_reach"])}

    def selection_table(self) -> pd.DataFrame:
        """Per series: level, chosen model, its backtest MASE/WAPE and the seasonal naive MASE."""
        sc = self.bt_.scores
        ch = pd.DataFrame({"unique_id": list(self.bt_.chosen), "chosen": list(self.bt_.chosen.values())})
        best = sc.merge(ch, left_on=["unique_id", "model"], right_on=["unique_id", "chosen"])
        base = sc[sc["model"] == "seasonal_naive"][["unique_id", "mase"]].rename(columns={"mase": "mase_seasonal_naive"})
        out = best.merge(base, on="unique_id", how="left")
        out = out[["unique_id", "level", "depth", "chosen", "mase", "wape", "coverage_80", "mase_seasonal_naive"]]
        return out.sort_values(["depth", "level", "unique_id"]).reset_index(drop=True)

    def results(self) -> dict[str, Any]:
        """The values of ``forecasting.results.json`` (plain JSON: dates as ISO strings, NaN as None)."""
        f, bt, s = self, self.bt_, self.series_
        out = dict(
            frequency=f.frequency, metric=f.metric, horizon=f.horizon, n_origins=bt.n_origins,
            n_series=s.n_series, n_bottom_series=len(s.bottom_ids), dimensions=s.dimensions,
            as_of=s.as_of, history_start=s.Y["ds"].min(), history_end=s.Y["ds"].max(),
            backtest=f.backtest_total(), chosen_model_total=f.chosen_total, accuracy_total=f.accuracy_total(),
            accuracy_total_basis=f.accuracy_basis(), honest_total=f.honest_total(), n_eval_origins=bt.n_eval,
            honest_total_before_reconciliation=f.honest_base_total(),
            interval_factors={m: {str(k): v for k, v in d.items()} for m, d in bt.factors.items()},
            honest_coverage=f.honest_coverage(),
            reconciled_interval_factors={lv: {str(k): v for k, v in d.items()}
                                         for lv, d in f.reconciled_factors_.items()},
            reconciliation_used=f.reconciliation_used_, dropped_periods=s.dropped_periods,
            forecast_total=f.forecast_total(), reconciliation=f.reconciliation_label(),
            coherence_max_rel_error=f.coherence_, models=bt.models, drivers=usable_drivers(s),
            chosen_counts=pd.Series(bt.chosen).value_counts().to_dict(),
            backtest_levels=f.levels_.to_dict(orient="records"), nested_check=f.nested_.to_dict(orient="records"),
            error_correlation=f.rho_, horizon_sum_coverage=f.sum_coverage_.to_dict(orient="records"),
            horizon_sum_coverage_independent=f.sum_coverage_independent_.to_dict(orient="records"),
            timings=f.timings_, model_seconds=bt.model_seconds, notes=s.notes,
        )
        if f.quarter_ is not None:
            out["quarter"] = f.quarter_
        if f.targets_ is not None:
            out["prob_reach_target"] = f.prob_reach_target()
        if not f.lifecycle_.empty:
            out["lifecycle"] = dict(zip(f.lifecycle_["product_line"], f.lifecycle_["stage"]))
        return to_plain(out)


def to_plain(value: Any) -> Any:
    """numpy/pandas/date values (recursively) as plain JSON: NaN and infinities → None, dates → ISO strings."""
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is None or value is pd.NaT:
        return None
    return value
