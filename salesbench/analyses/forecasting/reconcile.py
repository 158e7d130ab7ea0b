"""Final forecasts and coherence: the chosen models refitted on the whole history, then reconciled so that
children add up to parents, with reconciled intervals calibrated on the reconciled backtest.

:func:`forecast_base` (chosen model per series, calibrated intervals), :func:`reconcile`
(``hierarchicalforecast``: bottom-up or MinTrace, Normality intervals), :func:`reconcile_or_fall_back`,
:func:`reconcile_backtest` / :func:`reconciled_factors` / :func:`calibrate_reconciled` (per-level
conformal stretch of reconciled intervals), :func:`reconciled_honest` (held-out scores of what is
shown) and :func:`coherence_error`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from salesbench.analyses.forecasting.backtest import (Backtest, calibrate,
                                                      final_forecasts, fit_forecast, future_dates, interval_factors,
                                                      models_needed, planned_drivers, score_backtest)
from salesbench.analyses.forecasting.backtest import quiet_single_thread as _quiet_single_thread
from salesbench.analyses.forecasting.series import TOTAL, SeriesSet, usable_drivers
from salesbench.core.i18n import N_, NP_, messages
from salesbench.core.said import Said, shown

RECONCILIATION = {
    "bottom_up": NP_("reconciliation", "bottom-up (BottomUp)"),
    "mint_shrink": NP_("reconciliation", "MinTrace with shrunk residual covariance (mint_shrink)"),
    "wls_struct": NP_("reconciliation", "MinTrace with structural weights (wls_struct)"),
    "ols": "MinTrace OLS (ols)",
}


def reconciliation_name(method: str) -> Said:
    """A reconciliation method in words (:data:`RECONCILIATION`): English as a str, the report's language shown."""
    return Said(__name__, "{name}", name=lambda: messages(__name__).label("reconciliation", RECONCILIATION[method]))


def future_drivers(series: SeriesSet, horizon: int, drivers: Sequence[str]) -> pd.DataFrame:
    """Driver values for the forecast periods (:func:`salesbench.analyses.forecasting.backtest.planned_drivers`): the
    planned calendar (``series.plan``) where given, else the same period one season earlier."""
    fut = future_dates(series.Y, horizon, series.freq)
    return planned_drivers(series.Y, fut, series.season_length, drivers, series.plan)


def forecast_base(series: SeriesSet, chosen: dict[str, str], horizon: int, n_jobs: int = 1,
                  factors: dict | None = None, members_by_id: dict[str, Sequence[str]] | None = None,
                  n_train: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit each series' chosen model on its whole history and forecast ``horizon`` periods.

    A series whose choice is the combination gets its members fitted
    (``members_by_id``, default: every member in :data:`COMBINATION_MEMBERS`
    chosen anywhere) and the median taken; intervals are calibrated with the
    backtest's ``factors`` (:func:`salesbench.analyses.forecasting.backtest.calibrate`).
    Returns ``(base, fitted)``: base = ``unique_id, ds, model, mean, lo80,
    hi80, lo95, hi95``; fitted = in-sample one-step fitted values ``unique_id,
    ds, y, fitted`` (needed by MinTrace to estimate the error covariance).
    """
    drivers = usable_drivers(series)
    chosen = {uid: ("arima" if chosen.get(uid, "seasonal_naive") == "arimax" and not drivers
                    else chosen.get(uid, "seasonal_naive")) for uid in series.ids}
    if members_by_id is None:
        members_by_id = {uid: ["ets", "theta"] for uid in series.ids}
    need = models_needed(chosen, members_by_id)
    base, fitted = fit_forecast(series.Y, need, series.season_length, series.freq, horizon, n_jobs, drivers,
                                series.plan, fitted=True, n_train=n_train)
    return final_forecasts(base, chosen, factors or {}, fitted)


def reconcile(base: pd.DataFrame, fitted: pd.DataFrame, series: SeriesSet, method: str = "mint_shrink") -> pd.DataFrame:
    """Coherent forecasts: every parent equals the sum of its children.

    ``method``: ``bottom_up`` (sum the bottom forecasts), ``mint_shrink``
    (MinTrace, Wickramasuriya et al. 2019, with the Schäfer–Strimmer shrunk
    covariance of in-sample errors), ``wls_struct`` or ``ols``. Reconciled
    80%/95% intervals come from hierarchicalforecast's Normality method
    (Panagiotelis et al. 2022): N(S P ŷ, S P W_h Pᵀ Sᵀ). Returns
    ``unique_id, ds, mean, lo80, hi80, lo95, hi95, base_mean, base_model``.
    """
    # heavy (hierarchicalforecast pulls numba/scipy.sparse code): imported only when a forecast is reconciled
    from hierarchicalforecast.core import HierarchicalReconciliation
    from hierarchicalforecast.methods import BottomUp, MinTrace

    if method not in RECONCILIATION:
        raise ValueError(f"reconciliation must be one of {', '.join(RECONCILIATION)}, not {method!r}")
    rec = BottomUp() if method == "bottom_up" else MinTrace(method=method)
    ids = series.ids
    Yhat = base.rename(columns={"mean": "f", "lo80": "f-lo-80", "hi80": "f-hi-80", "lo95": "f-lo-95", "hi95": "f-hi-95"})
    Yhat = Yhat[["unique_id", "ds", "f", "f-lo-80", "f-hi-80", "f-lo-95", "f-hi-95"]]
    Yhat = Yhat.set_index("unique_id").loc[ids].reset_index()
    Yfit = fitted.rename(columns={"fitted": "f"})
    Yfit = Yfit.set_index("unique_id").loc[ids].reset_index()
    if method == "mint_shrink":  # the first m fitted values of a seasonal naive are undefined
        Yfit["f"] = Yfit["f"].fillna(Yfit["y"])
    S_df = series.S.loc[ids].reset_index().rename(columns={"index": "unique_id"})
    with _quiet_single_thread():
        hr = HierarchicalReconciliation(reconcilers=[rec])
        out = hr.reconcile(Y_hat_df=Yhat, tags=series.tags, S_df=S_df, Y_df=Yfit, level=[80, 95],
                           intervals_method="normality")
    col = [c for c in out.columns if c.startswith("f/") and "-lo-" not in c and "-hi-" not in c][0]
    res = pd.DataFrame({"unique_id": out["unique_id"], "ds": out["ds"], "mean": out[col],
                        "lo80": out[f"{col}-lo-80"], "hi80": out[f"{col}-hi-80"],
                        "lo95": out[f"{col}-lo-95"], "hi95": out[f"{col}-hi-95"], "base_mean": out["f"]})
    res = res.merge(base[["unique_id", "ds", "model"]].rename(columns={"model": "base_model"}), on=["unique_id", "ds"])
    return res.reset_index(drop=True)


def reconcile_or_fall_back(base: pd.DataFrame, fitted: pd.DataFrame, series: SeriesSet,
                           method: str = "mint_shrink") -> tuple[pd.DataFrame, str, str | None]:
    """:func:`reconcile`, or the nearest method that can run; returns (forecast, method used, note or None).

    One series: nothing to reconcile — the base forecast is shown (method
    ``"none"``). MinTrace with a shrunk covariance needs in-sample residuals
    that are not all near zero; when hierarchicalforecast cannot run it
    ("Insample residuals close to 0", a singular covariance), MinTrace OLS is
    used instead (it needs no residuals), and bottom-up if that fails too.
    """
    if method not in RECONCILIATION:
        raise ValueError(f"reconciliation must be one of {', '.join(RECONCILIATION)}, not {method!r}")
    if series.n_series == 1:
        out = base.rename(columns={"model": "base_model"}).assign(base_mean=base["mean"])
        cols = ["unique_id", "ds", "mean", "lo80", "hi80", "lo95", "hi95", "base_mean", "base_model"]
        return (out[cols].reset_index(drop=True), "none",
                Said(__name__, N_("One series (no hierarchy): nothing to reconcile.")))
    tried = []
    for m in dict.fromkeys([method, "ols", "bottom_up"]):
        try:
            out = reconcile(base, fitted, series, m)
        except Exception as exc:  # hierarchicalforecast raises plain Exception/ValueError on singular inputs
            tried.append(Said(__name__, N_("{method} could not run ({error})"), method=reconciliation_name(m),
                              error=str(exc).strip().splitlines()[0][:120]))
            continue
        note = None if m == method else Said(__name__, N_("{tried}: used {method} instead."),
                                             tried=lambda t=tuple(tried): "; ".join(shown(x) for x in t),
                                             method=reconciliation_name(m))
        return out, m, note
    raise RuntimeError("; ".join(tried))


def reconcile_backtest(fc: pd.DataFrame, fitted: pd.DataFrame, series: SeriesSet, method: str) -> pd.DataFrame | None:
    """Backtest forecasts as the report would show them: each origin's (``cutoff``) forecasts of every series
    (one model per series, calibrated) reconciled with ``method`` (MinTrace weights from the final fit's
    in-sample errors). Returns ``unique_id, ds, cutoff, origin, y, scale, model, level`` and the reconciled
    ``mean, lo80, hi80, lo95, hi95``; None when there is nothing to reconcile or an origin cannot be."""
    if method == "none" or fc.empty or set(fc["unique_id"]) != set(series.ids):
        return None
    for _, g in fc.groupby("cutoff"):
        if (set(g["unique_id"]) != set(series.ids) or g.groupby("unique_id").size().nunique() != 1
                or g[["mean", "lo80", "hi80", "lo95", "hi95"]].isna().any().any()):
            return None
    # every origin in one reconciliation: each (cut-off, period) is its own column of ŷ, and MinTrace's P, S P ŷ and
    # the Normality covariances are computed column by column from the same in-sample errors, so stacking the
    # origins gives each origin's reconciliation (to rounding) with one covariance estimate instead of one per origin
    key = pd.MultiIndex.from_frame(fc[["cutoff", "ds"]])
    code, _ = pd.factorize(key, sort=True)
    stacked = fc[["unique_id", "model", "mean", "lo80", "hi80", "lo95", "hi95"]].assign(
        ds=pd.Timestamp("2000-01-01") + pd.to_timedelta(code, unit="D"))
    try:
        rec = reconcile(stacked, fitted, series, method)
    except Exception:  # noqa: BLE001 - a backtest origin hierarchicalforecast cannot reconcile
        return None
    keep = fc[["unique_id", "ds", "cutoff", "origin", "y", "scale", "model"]].assign(_col=stacked["ds"].to_numpy())
    cols = ["mean", "lo80", "hi80", "lo95", "hi95"]
    out = keep.merge(rec[["unique_id", "ds", *cols]].rename(columns={"ds": "_col"}), on=["unique_id", "_col"],
                     how="left")
    out = out.drop(columns="_col").sort_values("cutoff", kind="stable").reset_index(drop=True)  # origin by origin
    return out.merge(series.meta[["unique_id", "level"]], on="unique_id", how="left")


def reconciled_factors(rec_fc: pd.DataFrame, widen_only: bool = True) -> dict[str, dict[int, float]]:
    """Hierarchy level → {80: k, 95: k}: the conformal factors (:func:`salesbench.analyses.forecasting.backtest.interval_factors`)
    of reconciled backtest forecasts (:func:`reconcile_backtest`), pooled per level (total, region, ...) over its
    series, origins and horizons: k > 1 when reconciled errors exceed the reconciled intervals' half-widths.

    ``widen_only`` (default) keeps k ≥ 1: the base intervals are already calibrated on the same origins, and this
    step corrects what reconciliation loses; a level's few reconciled errors (the total has one series: origins ×
    horizon points) that happen to fall well inside must not shrink them (on the default demo, k = 0.43 for the
    total on the choice origins, whose held-out errors then exceeded even the unshrunk intervals)."""
    k = interval_factors(rec_fc.assign(model=rec_fc["level"]))
    return {lv: {q: max(v, 1.0) for q, v in d.items()} for lv, d in k.items()} if widen_only else k


def calibrate_reconciled(forecast: pd.DataFrame, factors: dict[str, dict[int, float]],
                         series: SeriesSet) -> pd.DataFrame:
    """Stretch reconciled intervals (``unique_id, ds, mean, lo80, ...``) by their level's factor
    (:func:`reconciled_factors`; 1 for a level without one). Means — and so coherence — are unchanged."""
    if not factors:
        return forecast
    level = forecast["unique_id"].map(series.meta.set_index("unique_id")["level"])
    had_model = "model" in forecast.columns
    out = calibrate(forecast.assign(_model=forecast.get("model"), model=level), factors)
    out["model"] = out["_model"]
    out = out.drop(columns="_model")
    return out if had_model else out.drop(columns="model")


def reconciled_honest(bt: Backtest, fitted: pd.DataFrame, series: SeriesSet, method: str):
    """Honest scores of what the report shows: on the choice origins (all but the last ``bt.n_eval``), the
    early-chosen, calibrated base forecasts are reconciled and the per-level factors of the reconciled errors
    estimated (:func:`reconciled_factors`); on the held-out origins the same reconciled forecasts, stretched by
    those factors, are scored. Returns ``(scores, scores_before, factors)`` — :func:`score_backtest` rows after
    and before the reconciled-interval calibration — or None when there is nothing to reconcile, no held-out
    origin, or reconciliation fails on a backtest origin."""
    if method == "none" or bt.n_eval < 1:
        return None
    early, late = bt.split()  # split_forecasts(bt.raw, bt.models, bt.n_eval), shared with the honest scores
    rec_late = reconcile_backtest(late, fitted, series, method)
    if rec_late is None:
        return None
    rec_early = reconcile_backtest(early, fitted, series, method)
    factors = reconciled_factors(rec_early) if rec_early is not None else {}
    after = calibrate_reconciled(rec_late, factors, series) if factors else rec_late
    return score_backtest(after), score_backtest(rec_late), factors


def total_scores(h: pd.DataFrame | None, keys=("model", "mase", "wape", "bias", "coverage_80", "coverage_95")):
    """The total's row of an honest-scores table as ``{key: value}``, or None when there is none."""
    if h is None or h.empty or TOTAL not in set(h["unique_id"]):
        return None
    r = h[h["unique_id"] == TOTAL].iloc[0]
    return {k: (str(r[k]) if k == "model" else float(r[k])) for k in keys}


def coherence_error(forecast: pd.DataFrame, series: SeriesSet, col: str = "mean") -> float:
    """Largest |parent − Σ bottom children| relative to the parent, over all series and periods (0 = coherent)."""
    wide = forecast.pivot(index="unique_id", columns="ds", values=col)
    bottom = wide.loc[series.bottom_ids].to_numpy()
    implied = series.S.loc[wide.index].to_numpy() @ bottom
    denom = np.maximum(np.abs(wide.to_numpy()), 1e-9)
    return float(np.max(np.abs(wide.to_numpy() - implied) / denom))

