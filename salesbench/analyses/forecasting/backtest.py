"""Model choice for a plain frame of series: candidates, combination, calibrated intervals, honest backtest.

This is the forecasting engine behind the sales forecast report
(:mod:`salesbench.analyses.forecasting.model`) and the public entry point for analysts and
benchmarks, :func:`forecast_frame` (a long frame ``unique_id, ds, y``).

Steps (each a function)

1. :func:`cross_validate` — rolling-origin backtest (Tashman 2000): at each of
   ``n_origins`` cut-offs, ``step`` periods apart, every candidate model is
   fitted on the history up to the cut-off and forecasts ``horizon`` periods
   with 80%/95% intervals (statsforecast). ARIMA with drivers gets, for the
   forecast window, exactly the driver values the real forecast will get
   (:func:`planned_drivers`: the user's plan, else the value one season
   earlier) — never the actual future values.
2. :func:`add_combination` — the *combination* forecast: per series, period
   and origin the median of the member models' forecasts and interval bounds
   (members: ETS, Holt-Winters, Theta and ARIMA in the report; Theta and
   dynamic optimised Theta in :func:`forecast_frame`). Combinations beat each
   member on the M3 and M4 competitions (Makridakis et al. 2020).
3. :func:`interval_factors` / :func:`calibrate` — conformal calibration of the
   intervals: the models' own intervals are too narrow on real sales (80%
   intervals covered 73% of M3 test months). Each backtest error is divided
   by the half-width of the model's interval on its side of the forecast; the
   conformal quantile (Vovk et al. 2005; finite-sample level ⌈(n+1)q⌉/n) of
   these ratios over all series, origins and horizons is the factor that
   stretches (or shrinks) that model's half-widths, separately for 80% and 95%.
4. :func:`select_models` — per series, the candidate with the lowest backtest
   MASE, but the combination unless a single model beats it by more than
   ``margin`` (5%): differences smaller than that are noise over a few
   origins, and the combination is the safer bet.
5. *Honest accuracy* (:func:`honest_scores`): the models are chosen and the
   interval factors estimated on the earlier origins only, then the choice is
   scored on the later ``n_eval`` origins. That score — not the score of the
   origins that made the choice — is the accuracy claimed for the forecast.
6. :func:`final_forecasts` — the chosen model (or the combination's members)
   refitted on the whole history, intervals calibrated with the factors of
   all origins.
"""
from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from salesbench.analyses.forecasting import metrics as fm
from salesbench.core.i18n import NP_

# statsforecast and threadpoolctl are imported inside the functions that fit models: importing statsforecast
# loads numba-compiled code (seconds), which parameter checks, wording and plots importing this module must not pay.

#: Model keys in preference order (ties in backtest error go to the earlier, simpler one).
MODELS = ("seasonal_naive", "theta", "dotm", "ets", "holt_winters", "ces", "arima", "arimax", "combination")
MODEL_LABELS = {
    "seasonal_naive": NP_("model", "Seasonal naive"),
    "theta": "Theta",
    "dotm": NP_("model", "Dynamic optimised Theta"),
    "ets": NP_("model", "ETS (auto)"),
    "holt_winters": "Holt-Winters ETS(M,A,M)",
    "ces": NP_("model", "Complex exp. smoothing"),
    "arima": "ARIMA",
    "arimax": NP_("model", "ARIMA + drivers"),
    "combination": NP_("model", "Combination (median)"),
}
#: Models whose forecasts the combination takes the median of (when they are evaluated for a series).
COMBINATION_MEMBERS = ("ets", "theta", "dotm", "ces", "arima", "holt_winters")
#: Default candidates of :func:`forecast_frame`, chosen on the M3 monthly sales series (docs/forecasting.md):
#: adding ETS or CES to the combination did not lower sMAPE/MASE there and cost 5-10× the time.
FRAME_MODELS = ("theta", "dotm", "combination")
#: A single model replaces the combination only when its backtest error is lower by more than this share.
MARGIN = 0.05
LEVELS = (80, 95)


@contextlib.contextmanager
def quiet_single_thread():
    """One BLAS thread per process (many small fits) and no library warnings in reports."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def memoise_statsforecast_quantiles() -> None:
    """Make statsforecast look up its interval quantiles instead of rebuilding them at every forecast.

    statsforecast 2.x computes the normal quantiles of the interval levels (z₀.₉ for 80%, z₀.₉₇₅ for 95%)
    inside every model's forecast by building a frozen ``scipy.stats`` distribution, about 0.5 ms of CPU a
    call, nearly all of it scipy composing the frozen distribution's docstring. A backtest makes thousands of
    such calls for the same two levels (on the default demo about 2,800, more than a seasonal naive fit costs).
    The quantiles are a pure function of (levels, distribution, its parameters), so they are cached here and
    copied out: the same float values, bit for bit (``test_memoised_quantiles_are_scipy_s``). Idempotent; does
    nothing when statsforecast's private ``_quantiles`` is not where 2.1 keeps it.
    """
    import importlib

    utils = importlib.import_module("statsforecast.utils")
    original = getattr(utils, "_quantiles", None)
    if original is None or getattr(original, "_salesbench_memo", False):
        return
    cache: dict = {}

    def _quantiles(level, distribution="normal", dist_params=None):
        try:
            lv = np.asarray(level, dtype=float)
            key = (lv.shape, tuple(lv.ravel().tolist()), distribution,
                   None if dist_params is None else tuple(sorted(dist_params.items())))
            hash(key)
        except (TypeError, ValueError, AttributeError):  # anything unusual: compute it as statsforecast does
            return original(level, distribution=distribution, dist_params=dist_params)
        if key not in cache:
            cache[key] = np.asarray(original(level, distribution=distribution, dist_params=dist_params))
        return cache[key].copy()

    _quantiles._salesbench_memo = True
    _quantiles.__wrapped__ = original
    for name in ("statsforecast.utils", "statsforecast.distributions", "statsforecast.models", "statsforecast.arima"):
        mod = importlib.import_module(name)
        if getattr(mod, "_quantiles", None) is original:
            mod._quantiles = _quantiles


#: scipy's default finite-difference step for BFGS without a gradient (``scipy.optimize._optimize._epsilon``)
_FD_STEP = float(np.sqrt(np.finfo(float).eps))
#: non-empty once :func:`fast_statsforecast_arima_gradients` found this scipy's estimate different (probed once)
_FD_REFUSED: list[bool] = []


def forward_difference_gradient(fun, x, f0: float, args: tuple = ()) -> np.ndarray:
    """The gradient scipy's BFGS estimates when given none, computed the same way, value for value.

    scipy ``minimize(method="BFGS")`` without ``jac`` takes forward differences with the absolute step
    √ε (``approx_derivative(method="2-point", abs_step=√ε)``; a relative step √ε·max(1, |x|) where
    ``x + √ε`` rounds back to ``x``), dividing by the step as actually represented, ``(x + h) − x``.
    This loop does exactly that without scipy's general machinery (checks, bounds, a generator and a
    wrapper per call), which was most of the time of statsforecast's ARIMA fits (issue #13).
    ``f0 = fun(x)``.
    """
    x0 = np.atleast_1d(np.asarray(x, dtype=float))
    sign = (x0 >= 0).astype(float) * 2 - 1
    h = np.where(((x0 + _FD_STEP) - x0) == 0, _FD_STEP * sign * np.maximum(1.0, np.abs(x0)), _FD_STEP)
    grad = np.empty(x0.size)
    for i in range(x0.size):
        x1 = x0.copy()
        x1[i] = x0[i] + h[i]
        grad[i] = (float(fun(x1, *args)) - f0) / ((x0[i] + h[i]) - x0[i])
    return grad


def _bfgs_with_forward_differences(original):
    """``scipy.optimize.minimize`` for statsforecast's ARIMA: a BFGS call without ``jac`` gets
    :func:`forward_difference_gradient` as its ``jac`` (the same numbers as scipy's own estimate); anything else
    goes to scipy unchanged."""
    def minimize(fun, x0, args=(), method=None, jac=None, tol=None, options=None, **kwargs):
        if method != "BFGS" or jac is not None or kwargs:
            return original(fun, x0, args=args, method=method, jac=jac, tol=tol, options=options, **kwargs)
        last: dict[str, Any] = {}

        def value(x):
            v = fun(x, *args)
            last["x"], last["f"] = np.asarray(x, dtype=float).tobytes(), v  # the point, bit for bit
            return v

        def gradient(x):
            same = last.get("x") == np.asarray(x, dtype=float).tobytes()
            f0 = last["f"] if same else fun(x, *args)
            return forward_difference_gradient(fun, x, float(f0), args)

        return original(value, x0, method=method, jac=gradient, tol=tol, options=options)

    minimize._salesbench_fd = True
    minimize.__wrapped__ = original
    return minimize


def fast_statsforecast_arima_gradients() -> None:
    """Give statsforecast's ARIMA optimiser the finite-difference gradient scipy would estimate, computed directly.

    statsforecast 2.x fits every ARIMA (the order search of AutoARIMA tries a dozen per series) with scipy's
    BFGS and no gradient, so scipy estimates one by forward differences at every step; scipy's general
    finite-difference code, not the ARIMA likelihood, took most of that time. statsforecast's module-level
    ``minimize`` is replaced by :func:`_bfgs_with_forward_differences`, which hands BFGS the same differences
    as its ``jac`` (:func:`forward_difference_gradient`): BFGS then takes the same steps and ends on the same
    coefficients, forecasts and intervals, bit for bit (``test_arima_gradients_are_scipy_s``); on the default
    demo the forecasting fit took 7.5 CPU s instead of 9.0. Idempotent; does nothing when statsforecast's
    ``arima.minimize`` is not scipy's, or when this scipy's own estimate differs from the copy (checked on a
    probe function, so that a scipy that changes its scheme only loses the speed).
    """
    import importlib

    from scipy.optimize import minimize as scipy_minimize

    arima = importlib.import_module("statsforecast.arima")
    current = getattr(arima, "minimize", None)
    if getattr(current, "_salesbench_fd", False) or current is not scipy_minimize or _FD_REFUSED:
        return
    patched = _bfgs_with_forward_differences(scipy_minimize)

    def probe(x, scale):  # smooth, with a coordinate so large that x + √ε rounds back to x
        return float(scale * np.sum((x[:3] - 1.5) ** 2 * np.cosh(x[:3] / 4)) + 1e-17 * x[3] ** 2)

    for minimize in (scipy_minimize, patched):
        res = minimize(probe, np.array([0.2, -1.0, 3.0, 4.0e8]), args=(2.0,), method="BFGS", tol=1e-8,
                       options={"maxiter": 100})
        if minimize is scipy_minimize:
            want = res
        elif not (np.array_equal(res.x, want.x) and res.fun == want.fun
                  and np.array_equal(res.hess_inv, want.hess_inv)):
            _FD_REFUSED.append(True)  # remembered: make_models calls this for every model set
            return  # this scipy estimates its gradient otherwise: leave statsforecast as it is
    arima.minimize = patched


def model_season(m: int) -> int:
    """Season length given to ETS/ARIMA/CES: m up to 24 (ETS does not support longer seasons), else 1."""
    return m if m <= 24 else 1


def make_models(names: Sequence[str], season_length: int, n_train: int | None = None):
    """statsforecast model objects for the model keys in ``names`` (aliases = the keys).

    seasonal_naive = ``SeasonalNaive(m)`` (the baseline); theta = ``Theta``
    (Assimakopoulos & Nikolopoulos 2000, the M3 winner: SES with drift on the
    seasonally adjusted series); dotm = ``DynamicOptimizedTheta`` (Fiorucci et
    al. 2016); ets = ``AutoETS`` (Hyndman et al. 2002, AICc selection);
    holt_winters = ``AutoETS(model="MAM")`` (ETS(M,A,M)); ces = ``AutoCES``
    (Svetunkov & Kourentzes); arima / arimax = ``AutoARIMA`` (Hyndman &
    Khandakar 2008), arimax with the driver columns as regressors. The
    combination is not a model object: :func:`add_combination` builds it.

    Long seasons (m > 24, e.g. 52 weeks): ETS, Holt-Winters, CES and ARIMA
    cannot hold the season themselves, so when every series has at least
    ``2m + 1`` training points (``n_train``) they run on the seasonally
    adjusted series of an STL decomposition and the season is added back
    (``MSTL(m, trend_forecaster=...)``, Bandara et al. 2021). With less
    history they run without a season (m = 1).
    """
    from statsforecast.models import (AutoARIMA, AutoCES, AutoETS, DynamicOptimizedTheta, SeasonalNaive,
                                      Theta)

    memoise_statsforecast_quantiles()
    fast_statsforecast_arima_gradients()
    ms = model_season(season_length)
    if season_length > 24 and n_train is not None and n_train >= 2 * season_length + 1:
        return [_long_season(n, season_length) for n in names]
    out = []
    for n in names:
        if n == "seasonal_naive":
            out.append(SeasonalNaive(season_length=season_length, alias=n))
        elif n == "theta":
            out.append(Theta(season_length=season_length, alias=n))
        elif n == "dotm":
            out.append(DynamicOptimizedTheta(season_length=season_length, alias=n))
        elif n == "ets":
            out.append(AutoETS(season_length=ms, alias=n))
        elif n == "holt_winters":
            out.append(AutoETS(season_length=ms, model="MAM" if ms > 1 else "MAN", alias=n))
        elif n == "ces":
            out.append(AutoCES(season_length=ms, alias=n))
        elif n in ("arima", "arimax"):
            out.append(AutoARIMA(season_length=ms, alias=n))
        else:
            raise ValueError(f"unknown model {n!r}; choose from {', '.join(m for m in MODELS if m != 'combination')}")
    return out


def _long_season(name: str, m: int):
    from statsforecast.models import (MSTL, AutoARIMA, AutoCES, AutoETS, DynamicOptimizedTheta, SeasonalNaive,
                                      Theta)

    if name == "seasonal_naive":
        return SeasonalNaive(season_length=m, alias=name)
    if name == "theta":
        return Theta(season_length=m, alias=name)
    if name == "dotm":
        return DynamicOptimizedTheta(season_length=m, alias=name)
    trend = {"ets": lambda: AutoETS(season_length=1, model="ZZN"),
             "holt_winters": lambda: AutoETS(season_length=1, model="ZAN"),
             "ces": lambda: AutoCES(season_length=1), "arima": lambda: AutoARIMA(season_length=1)}
    if name == "arimax":  # regressors do not pass through MSTL
        return AutoARIMA(season_length=1, alias=name)
    if name not in trend:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(m for m in MODELS if m != 'combination')}")
    return MSTL(season_length=m, trend_forecaster=trend[name](), alias=name)


def check_models(names: Sequence[str]) -> None:
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(map(str, unknown))}; choose from {', '.join(MODELS)}")


def statsforecast(models, freq: str, n_jobs: int = 1):
    from statsforecast import StatsForecast
    from statsforecast.models import Naive

    return StatsForecast(models=models, freq=freq, n_jobs=n_jobs, fallback_model=Naive())


def long_forecasts(frame: pd.DataFrame, names: Sequence[str], keys: Sequence[str]) -> pd.DataFrame:
    """statsforecast wide output (model, model-lo-80, ...) → long rows per model (mean, lo80, hi80, lo95, hi95)."""
    parts = []
    for n in names:
        if n not in frame.columns:
            continue
        part = frame[list(keys)].copy()
        part["model"] = n
        part["mean"] = frame[n].to_numpy(dtype=float)
        for lv in LEVELS:
            part[f"lo{lv}"] = frame.get(f"{n}-lo-{lv}", np.nan)
            part[f"hi{lv}"] = frame.get(f"{n}-hi-{lv}", np.nan)
        parts.append(_order_bounds(part))
    return pd.concat(parts, ignore_index=True)


def _order_bounds(part: pd.DataFrame) -> pd.DataFrame:
    """statsforecast 2.1 can return the fallback model's bounds with the levels swapped; a 95% interval
    always contains the 80% one, and both contain the point forecast: order the bounds."""
    lo = part[["lo80", "lo95"]].to_numpy(dtype=float)
    hi = part[["hi80", "hi95"]].to_numpy(dtype=float)
    mean = part["mean"].to_numpy(dtype=float)
    lo80, lo95 = np.fmax(lo[:, 0], lo[:, 1]), np.fmin(lo[:, 0], lo[:, 1])
    hi80, hi95 = np.fmin(hi[:, 0], hi[:, 1]), np.fmax(hi[:, 0], hi[:, 1])
    with np.errstate(invalid="ignore"):
        part["lo80"], part["lo95"] = np.fmin(lo80, mean), np.fmin(lo95, mean)
        part["hi80"], part["hi95"] = np.fmax(hi80, mean), np.fmax(hi95, mean)
    return part


# =========================================================================== drivers
def planned_drivers(train: pd.DataFrame, future: pd.DataFrame, season_length: int, drivers: Sequence[str],
                    plan: pd.DataFrame | None = None) -> pd.DataFrame:
    """Driver values for forecast periods, the way the forecast will know them.

    ``train`` = history ``unique_id, ds, <drivers>``; ``future`` = the rows
    ``unique_id, ds`` to fill. A period found in ``plan`` (``unique_id, ds,
    <drivers>``: the user's planned promotion/price calendar) takes the plan
    for each driver the plan gives (NaN: not planned); otherwise the value of the same period one season earlier (promotion
    calendars and price lists repeat year on year), or the last value when the
    history is shorter than a season. The backtest and the forecast both call
    this, so the backtest measures the forecast the user will get.
    """
    rows = []
    m = int(season_length)
    planned = None
    if plan is not None and not plan.empty:
        planned = plan.set_index(["unique_id", "ds"])[list(drivers)]
    for uid, fut in future.groupby("unique_id", sort=False):
        g = train[train["unique_id"] == uid].sort_values("ds")
        hist = g[list(drivers)].to_numpy(dtype=float)
        n = len(hist)
        for i, d in enumerate(sorted(fut["ds"])):
            if n == 0:
                vals = np.zeros(len(drivers))
            else:
                pos = n + i - m
                vals = hist[pos] if 0 <= pos < n else hist[-1]
            if planned is not None and (uid, d) in planned.index:  # a driver the plan leaves empty: as above
                plan_vals = planned.loc[(uid, d)].to_numpy(dtype=float)
                vals = np.where(np.isnan(plan_vals), vals, plan_vals)
            rows.append({"unique_id": uid, "ds": d, **dict(zip(drivers, vals))})
    return pd.DataFrame(rows, columns=["unique_id", "ds", *drivers])


# =========================================================================== backtest
def cutoffs_of(Y: pd.DataFrame, horizon: int, n_origins: int, step: int) -> pd.DataFrame:
    """Per series, the ``n_origins`` cut-offs (last training date) ``step`` periods apart, ending ``horizon``
    periods before the series' end: ``unique_id, cutoff, origin`` (origin 0 = earliest)."""
    rows = []
    for uid, g in Y.groupby("unique_id", sort=False):
        ds = np.sort(g["ds"].to_numpy())
        for k in range(n_origins):
            pos = len(ds) - horizon - 1 - (n_origins - 1 - k) * step
            rows.append((uid, pd.Timestamp(ds[pos]), k))
    return pd.DataFrame(rows, columns=["unique_id", "cutoff", "origin"])


def cross_validate(Y: pd.DataFrame, model_ids: dict[str, Sequence[str]], season_length: int, freq: str,
                   horizon: int, n_origins: int, step: int = 1, n_jobs: int = 1, refit: bool = True,
                   drivers: Sequence[str] = (), plan: pd.DataFrame | None = None
                   ) -> tuple[pd.DataFrame, dict[str, float]]:
    """Backtest forecasts of every model on its series (``model_ids``: model → ids).

    Returns (long frame ``unique_id, ds, cutoff, origin, h, y, model, mean,
    lo80, hi80, lo95, hi95, scale``, seconds per model). ``scale`` = the MASE
    scale of the training data up to the cut-off (:func:`origin_scales`).
    ``arimax`` is run origin by origin so that its drivers in the forecast
    window come from :func:`planned_drivers`, as in the real forecast.
    ``refit=False``: every model is fitted once per series, at the first
    origin, and forwarded to the later ones (:func:`_cv_one`,
    :func:`_forward_with_drivers`) — the parameters (and the ETS form or
    ARIMA orders) of the first origin, states and residual variance updated.
    """
    keys = ["unique_id", "ds", "cutoff", "y"]
    parts, seconds = [], {}
    with quiet_single_thread():
        for name, ids in model_ids.items():
            if not len(ids) or name == "combination":
                continue
            ids = set(ids)
            tm = time.perf_counter()
            if name == "arimax":
                parts.append(_cv_with_drivers(Y[Y["unique_id"].isin(ids)], season_length, freq, horizon,
                                              n_origins, step, n_jobs, list(drivers), plan, refit))
            else:
                df = Y[Y["unique_id"].isin(ids)][["unique_id", "ds", "y"]]
                n_train = int(df.groupby("unique_id").size().min()) - horizon - (n_origins - 1) * step
                parts.append(long_forecasts(_cv_one(df, name, season_length, n_train, freq, horizon, n_origins,
                                                    step, n_jobs, refit), [name], keys))
            seconds[name] = time.perf_counter() - tm
    fc = pd.concat(parts, ignore_index=True)
    fc["cutoff"] = pd.to_datetime(fc["cutoff"])
    fc = fc.sort_values(["unique_id", "model", "cutoff", "ds"]).reset_index(drop=True)
    fc["h"] = fc.groupby(["unique_id", "cutoff", "model"]).cumcount() + 1
    origin = fc[["unique_id", "cutoff"]].drop_duplicates().sort_values(["unique_id", "cutoff"])
    origin["origin"] = origin.groupby("unique_id").cumcount()
    fc = fc.merge(origin, on=["unique_id", "cutoff"], how="left")
    scales = origin_scales(Y, origin, season_length)
    fc = fc.merge(scales, on=["unique_id", "cutoff"], how="left")
    return fc, seconds


def _cv_one(df, name, season_length, n_train, freq, horizon, n_origins, step, n_jobs, refit):
    """statsforecast's ``cross_validation`` of one model. With ``refit=False`` the model is fitted once per series
    at the first origin and *forwarded* at the later ones (same parameters, states run over the longer history);
    statsforecast has no fallback for a forward that fails, so then the model is backtested refitting instead."""
    def run(refit_):
        sf = statsforecast(make_models([name], season_length, n_train), freq, n_jobs)
        return sf.cross_validation(h=horizon, df=df, n_windows=n_origins, step_size=step, level=list(LEVELS),
                                   refit=refit_)
    if refit:
        return run(True)
    try:
        return run(False)
    except Exception:  # noqa: BLE001 - a forward statsforecast cannot do: refit at every origin (its own fallback)
        return run(True)


def _cv_with_drivers(Y, season_length, freq, horizon, n_origins, step, n_jobs, drivers, plan, refit=True):
    """ARIMA + drivers origin by origin, the forecast window's drivers from :func:`planned_drivers`; with
    ``refit=False`` fitted once per series at the first origin and then only updated (:func:`_forward_with_drivers`)."""
    cuts = cutoffs_of(Y, horizon, n_origins, step)
    n_train = int(Y.groupby("unique_id").size().min()) - horizon - (n_origins - 1) * step
    windows = []
    for k in range(n_origins):
        ck = cuts[cuts["origin"] == k].set_index("unique_id")["cutoff"]
        train = Y[Y["ds"] <= Y["unique_id"].map(ck)]
        after = Y[Y["ds"] > Y["unique_id"].map(ck)].sort_values(["unique_id", "ds"])
        test = after.groupby("unique_id", sort=False).head(horizon)
        X = planned_drivers(train, test[["unique_id", "ds"]], season_length, drivers, plan)
        windows.append((ck, train, test, X))
    if not refit:
        return _forward_with_drivers(windows, make_models(["arimax"], season_length, n_train)[0], horizon, drivers)
    parts = []
    for ck, train, test, X in windows:
        sf = statsforecast(make_models(["arimax"], season_length, n_train), freq, n_jobs)
        out = sf.forecast(h=horizon, df=train[["unique_id", "ds", "y", *drivers]], X_df=X, level=list(LEVELS))
        out = out.merge(test[["unique_id", "ds", "y"]], on=["unique_id", "ds"], how="inner")
        out["cutoff"] = out["unique_id"].map(ck)
        parts.append(long_forecasts(out, ["arimax"], ["unique_id", "ds", "cutoff", "y"]))
    return pd.concat(parts, ignore_index=True)


def _forward_with_drivers(windows, model, horizon: int, drivers: Sequence[str]) -> pd.DataFrame:
    """The ``refit=False`` backtest of ARIMA + drivers: per series, ``model`` (a statsforecast AutoARIMA) is
    fitted on the first origin's history and drivers, then at every origin *forwarded*: the same orders and
    coefficients run over the history up to that origin (states and residual variance updated), and forecast
    with the planned drivers of the window — what statsforecast's ``cross_validation(refit=False)`` does for
    models without drivers. A series whose fit or forward fails gets the naive forecast (as statsforecast's
    fallback model gives)."""
    from statsforecast.models import Naive

    level = list(LEVELS)
    cols = ["unique_id", "ds", "cutoff", "y", "model", "mean", "lo80", "hi80", "lo95", "hi95"]
    split = [(ck, dict(tuple(train.groupby("unique_id", sort=False))), dict(tuple(test.groupby("unique_id", sort=False))),
              dict(tuple(X.groupby("unique_id", sort=False)))) for ck, train, test, X in windows]
    rows = []
    for uid in split[0][2]:
        fitted = None
        for ck, train, test, X in split:
            tr, te, xf = train[uid].sort_values("ds"), test[uid], X[uid].sort_values("ds")
            y, x = tr["y"].to_numpy(dtype=float), tr[list(drivers)].to_numpy(dtype=float)
            x_fut = xf[list(drivers)].to_numpy(dtype=float)
            if fitted is None:
                try:
                    fitted = model.new().fit(y=y, X=x)
                except Exception:  # noqa: BLE001 - statsforecast's fallback: the naive model
                    fitted = Naive().fit(y=y)
            try:
                res = fitted.forward(y=y, h=horizon, X=x, X_future=x_fut, level=level)
            except Exception:  # noqa: BLE001
                res = Naive().forecast(y=y, h=horizon, level=level)
            ds = xf["ds"].to_numpy()
            actual = te.set_index("ds")["y"].reindex(ds).to_numpy(dtype=float)
            rows.append(pd.DataFrame({"unique_id": uid, "ds": ds, "cutoff": ck[uid], "y": actual, "model": "arimax",
                                      "mean": res["mean"], **{f"lo{lv}": res[f"lo-{lv}"] for lv in LEVELS},
                                      **{f"hi{lv}": res[f"hi-{lv}"] for lv in LEVELS}}))
    if not rows:
        return pd.DataFrame(columns=cols)
    return _order_bounds(pd.concat(rows, ignore_index=True)[cols])


def origin_scales(Y: pd.DataFrame, cutoffs: pd.DataFrame, season_length: int) -> pd.DataFrame:
    """MASE scale of every series at each of its cut-offs (``cutoffs``: ``unique_id, cutoff``): the seasonal
    naive in-sample MAE of the history up to the cut-off
    (:func:`salesbench.analyses.forecasting.metrics.seasonal_naive_scale`)."""
    srt = Y.sort_values(["unique_id", "ds"], kind="stable")  # per series by date (stable: equal dates keep order)
    uid_all, ds_all, y_all = srt["unique_id"].to_numpy(), srt["ds"].to_numpy(), srt["y"].to_numpy(dtype=float)
    bounds = {u: (a, b) for u, a, b in zip(*_runs(uid_all))}
    scales = []
    for uid, c in zip(cutoffs["unique_id"], cutoffs["cutoff"]):
        a, b = bounds[uid]
        ds, y = ds_all[a:b], y_all[a:b]
        scales.append(fm.seasonal_naive_scale(y[ds <= np.datetime64(c)], season_length))
    return pd.DataFrame({"unique_id": cutoffs["unique_id"].to_numpy(), "cutoff": cutoffs["cutoff"].to_numpy(),
                         "scale": np.array(scales, dtype=float)})


def _runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(key, start, end) of each run of equal values in ``keys`` (sorted or grouped)."""
    if not len(keys):
        return keys[:0], np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return keys[starts], starts, np.r_[starts[1:], len(keys)]


def add_combination(fc: pd.DataFrame, members: Sequence[str] = COMBINATION_MEMBERS,
                    keys: Sequence[str] | None = None) -> pd.DataFrame:
    """Append ``model = "combination"`` rows: the median over member models of the point forecast and of
    each interval bound, per series and period (and origin). Series with fewer than two members get none."""
    keys = list(keys or [c for c in ("unique_id", "ds", "cutoff", "origin", "h", "y", "scale") if c in fc.columns])
    mem = fc[fc["model"].isin(set(members))]
    if mem.empty:
        return fc
    n = mem.groupby("unique_id")["model"].nunique()
    mem = mem[mem["unique_id"].isin(set(n[n >= 2].index))]
    if mem.empty:
        return fc
    vals = ["mean", "lo80", "hi80", "lo95", "hi95"]
    comb = mem.groupby(keys, sort=False, dropna=False)[vals].median().reset_index()
    comb["model"] = "combination"
    return pd.concat([fc, _order_bounds(comb)[fc.columns]], ignore_index=True)


# =========================================================================== intervals
def _conformal_quantile(scores: np.ndarray, q: float) -> float:
    s = np.sort(scores[np.isfinite(scores)])
    n = len(s)
    if n == 0:
        return float("nan")
    k = min(n, math.ceil((n + 1) * q))
    return float(s[k - 1])


def interval_factors(fc: pd.DataFrame) -> dict[str, dict[int, float]]:
    """Per model, the factor by which its 80% and 95% half-widths must be multiplied to cover their level.

    For each backtest error the ratio r = (y − ŷ) / (hi − ŷ) when y ≥ ŷ, else
    (ŷ − y) / (ŷ − lo); the factor is the conformal quantile of r at the
    level (r ≤ 1 means inside the model's own interval). Pooled over series,
    origins and horizons. Models without usable intervals get 1.
    """
    out: dict[str, dict[int, float]] = {}
    for model, g in fc.groupby("model", sort=False):
        y, mu = g["y"].to_numpy(dtype=float), g["mean"].to_numpy(dtype=float)
        out[model] = {}
        for lv in LEVELS:
            lo, hi = g[f"lo{lv}"].to_numpy(dtype=float), g[f"hi{lv}"].to_numpy(dtype=float)
            width = np.where(y >= mu, hi - mu, mu - lo)
            with np.errstate(divide="ignore", invalid="ignore"):
                r = np.abs(y - mu) / width
            r[~np.isfinite(r) | (width <= 0)] = np.nan
            k = _conformal_quantile(r, lv / 100)
            out[model][lv] = k if np.isfinite(k) and k > 0 else 1.0
    return out


def calibrate(fc: pd.DataFrame, factors: dict[str, dict[int, float]]) -> pd.DataFrame:
    """Stretch each row's interval half-widths (both sides) by its model's factor (:func:`interval_factors`)."""
    out = fc.copy()
    mu = out["mean"].to_numpy(dtype=float)
    for lv in LEVELS:
        k = out["model"].map(lambda m, lv=lv: factors.get(m, {}).get(lv, 1.0)).to_numpy(dtype=float)
        out[f"lo{lv}"] = mu - k * (mu - out[f"lo{lv}"].to_numpy(dtype=float))
        out[f"hi{lv}"] = mu + k * (out[f"hi{lv}"].to_numpy(dtype=float) - mu)
    return _order_bounds(out)


# =========================================================================== scores and choice
SCORE_COLUMNS = ["unique_id", "model", "mase", "wape", "bias", "coverage_80", "coverage_95", "n"]


def score_backtest(fc: pd.DataFrame) -> pd.DataFrame:
    """Per series × model: MASE (mean of per-origin MASE), WAPE, bias, 80%/95% coverage, n points.

    Rows in order of first appearance in ``fc``. The metrics are the functions of
    :mod:`~salesbench.analyses.forecasting.metrics` applied to each group's rows
    (in ``fc``'s order; per origin, in cut-off order), on NumPy slices of the
    frame sorted once — the same numbers as a pandas ``groupby`` loop (which
    took most of the scoring time: ~4,000 groups per call on the demo), without its per-group cost.
    """
    keys = fc[["unique_id", "model", "cutoff"]]
    if fc.empty or keys.isna().to_numpy().any():  # groupby drops missing keys: keep its exact behaviour there
        return _score_backtest_groupby(fc)
    uid_codes, _ = pd.factorize(fc["unique_id"])
    model_codes, models = pd.factorize(fc["model"])
    group, _ = pd.factorize(uid_codes.astype(np.int64) * len(models) + model_codes)  # first-appearance order
    cut = pd.to_datetime(fc["cutoff"]).to_numpy().astype("datetime64[ns]").astype(np.int64)
    y, mean = fc["y"].to_numpy(dtype=float), fc["mean"].to_numpy(dtype=float)
    bounds = {c: fc[c].to_numpy(dtype=float) for c in ("lo80", "hi80", "lo95", "hi95")}
    scale = fc["scale"].to_numpy(dtype=float)
    by_group = np.argsort(group, kind="stable")  # each group's rows in fc's order
    by_origin = np.lexsort((cut, group))  # ... and by cut-off within a group (stable: fc's order within an origin)
    starts = np.flatnonzero(np.r_[True, np.diff(group[by_group]) != 0])
    ends = np.r_[starts[1:], len(by_group)]
    g_sorted, c_sorted = group[by_origin], cut[by_origin]
    o_starts = np.flatnonzero(np.r_[True, (np.diff(g_sorted) != 0) | (np.diff(c_sorted) != 0)])
    o_ends = np.r_[o_starts[1:], len(by_origin)]
    o_group = g_sorted[o_starts]  # sorted: the origins of group k are o_first[k]:o_first[k + 1]
    o_first = np.searchsorted(o_group, np.arange(len(starts) + 1))
    first_row = by_group[starts]
    # per-origin MASE, then WAPE, bias and coverage per group, each metric on a block of equal-length slices at once
    o_mase = _mase_rows(_blocks(by_origin, o_starts, o_ends), y, mean, scale)
    g_blocks = _blocks(by_group, starts, ends)
    wape, bias = _wape_bias_rows(g_blocks, y, mean, len(starts))
    cov = {lv: _coverage_rows(g_blocks, y, bounds[f"lo{lv}"], bounds[f"hi{lv}"], len(starts)) for lv in LEVELS}
    mase = np.full(len(starts), np.nan)
    for k in range(len(starts)):
        per_origin = o_mase[o_first[k]:o_first[k + 1]]
        per_origin = per_origin[np.isfinite(per_origin)]
        if len(per_origin):
            mase[k] = float(np.mean(per_origin.tolist()))  # a list, as the loop gave np.mean: same summation
    uid, model = fc["unique_id"].to_numpy()[first_row], fc["model"].to_numpy()[first_row]
    rows = [{"unique_id": uid[k], "model": model[k], "mase": float(mase[k]), "wape": float(wape[k]),
             "bias": float(bias[k]), "coverage_80": float(cov[80][k]), "coverage_95": float(cov[95][k]),
             "n": int(ends[k] - starts[k])} for k in range(len(starts))]
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def _blocks(order: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Slices ``order[a:b]`` grouped by length: ``[(slice numbers, row positions (n_slices × length))]``.

    numpy sums each row of a C-ordered 2-D block exactly as it sums that row alone (the same pairwise
    summation over the same ``length`` values), so a metric of a block's rows equals the metric of each slice
    (``test_score_backtest_equals_the_groupby_loop_exactly``), with one call per length instead of per slice."""
    sizes = ends - starts
    out = []
    for n in np.unique(sizes):
        which = np.flatnonzero(sizes == n)
        out.append((which, order[starts[which][:, None] + np.arange(n)]))
    return out


def _mase_rows(blocks, y: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """:func:`salesbench.analyses.forecasting.metrics.mase` with a given scale, per slice of :func:`_blocks`."""
    out = np.full(sum(len(w) for w, _ in blocks), np.nan)
    for which, pos in blocks:
        if pos.shape[1] == 0:
            continue
        s = scale[pos[:, 0]]
        with np.errstate(invalid="ignore", divide="ignore"):
            v = np.mean(np.abs(y[pos] - mean[pos]), axis=1) / s
        out[which] = np.where(np.isfinite(s) & (s > 0), v, np.nan)
    return out


def _wape_bias_rows(blocks, y: np.ndarray, mean: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~salesbench.analyses.forecasting.metrics.wape` and :func:`~salesbench.analyses.forecasting.metrics.bias`
    per slice of :func:`_blocks` (NaN where Σ|y| is 0 or the slice is empty)."""
    wape, bias = np.full(n, np.nan), np.full(n, np.nan)
    for which, pos in blocks:
        if pos.shape[1] == 0:
            continue
        yy, mm = y[pos], mean[pos]
        denom = np.sum(np.abs(yy), axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            w, b = np.sum(np.abs(yy - mm), axis=1) / denom, np.sum(mm - yy, axis=1) / denom
        wape[which], bias[which] = np.where(denom == 0, np.nan, w), np.where(denom == 0, np.nan, b)
    return wape, bias


def _coverage_rows(blocks, y: np.ndarray, lo: np.ndarray, hi: np.ndarray, n: int) -> np.ndarray:
    """:func:`~salesbench.analyses.forecasting.metrics.coverage` per slice of :func:`_blocks`: inside ÷ finite
    points (counts: exact in any order), NaN without a finite point."""
    out = np.full(n, np.nan)
    for which, pos in blocks:
        yy, ll, hh = y[pos], lo[pos], hi[pos]
        ok = np.isfinite(yy) & np.isfinite(ll) & np.isfinite(hh)
        n_ok = ok.sum(axis=1)
        inside = (ok & (yy >= ll) & (yy <= hh)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[which] = np.where(n_ok > 0, inside / n_ok, np.nan)
    return out


def _score_backtest_groupby(fc: pd.DataFrame) -> pd.DataFrame:
    """:func:`score_backtest` as a pandas ``groupby`` loop (frames with missing keys: groupby's rules apply)."""
    rows = []
    for (uid, model), g in fc.groupby(["unique_id", "model"], sort=False):
        per_origin = [fm.mase(o["y"], o["mean"], scale=o["scale"].iloc[0]) for _, o in g.groupby("cutoff")]
        per_origin = [v for v in per_origin if np.isfinite(v)]
        rows.append({
            "unique_id": uid, "model": model,
            "mase": float(np.mean(per_origin)) if per_origin else float("nan"),
            "wape": fm.wape(g["y"], g["mean"]), "bias": fm.bias(g["y"], g["mean"]),
            "coverage_80": fm.coverage(g["y"], g["lo80"], g["hi80"]),
            "coverage_95": fm.coverage(g["y"], g["lo95"], g["hi95"]),
            "n": int(len(g)),
        })
    return pd.DataFrame(rows, columns=["unique_id", "model", "mase", "wape", "bias", "coverage_80",
                                       "coverage_95", "n"])


def select_models(scores: pd.DataFrame, models: Sequence[str] = MODELS, metric: str = "mase",
                  margin: float = MARGIN) -> dict[str, str]:
    """Per series, the model to use, from its backtest ``metric`` (``mase`` or ``wape``).

    Without a combination among the scores: the lowest error (ties go to the
    earlier model in ``models``). With one: the combination, unless the best
    single model's error is lower than ``(1 − margin)`` × the combination's.
    Seasonal naive competes only when it is among ``models``: :func:`forecast_frame`
    leaves it out (on the M3 sales series picking it on a few origins' luck
    cost 0.4 sMAPE points), the report keeps it (it is the baseline there).
    A series on which the metric is undefined for every model (a flat zero
    series) keeps the baseline, seasonal naive (or the first model evaluated).
    """
    if metric not in ("mase", "wape"):
        raise ValueError("selection metric must be 'mase' or 'wape'")
    order = {m: i for i, m in enumerate(models)}
    baseline = "seasonal_naive" if "seasonal_naive" in order else models[0]
    uids = pd.unique(scores["unique_id"])  # first-appearance order, as the groupby loop gave it
    chosen = dict.fromkeys(uids, baseline)
    rank = scores["model"].map(order).to_numpy(dtype=float)  # NaN: a model not in ``models``
    err = scores[metric].to_numpy(dtype=float)
    ok = np.isfinite(rank) & np.isfinite(err)
    if not ok.any():
        return chosen
    code = pd.Index(uids).get_indexer(scores["unique_id"])[ok]
    rank, err, model = rank[ok], err[ok], scores["model"].to_numpy()[ok]
    is_comb = model == "combination"
    # per series: the lowest error (ties: the earlier model), over all rows and over single models only
    first = np.lexsort((rank, err, code))
    best_any = _first_per_group(code, first)
    single = first[~is_comb[first]]
    best_single = _first_per_group(code, single)
    comb = np.flatnonzero(is_comb)
    comb_first = _first_per_group(code, comb[np.argsort(code[comb], kind="stable")])  # first combination row
    for k, uid in enumerate(uids):
        c, s1 = comb_first.get(k), best_single.get(k)
        if k not in best_any:  # the metric is undefined for every model: the baseline
            continue
        if c is None or s1 is None:
            chosen[uid] = str(model[best_any[k]])
        elif err[s1] < (1 - margin) * err[c]:
            chosen[uid] = str(model[s1])
        else:
            chosen[uid] = "combination"
    return chosen


def _first_per_group(code: np.ndarray, rows: np.ndarray) -> dict[int, int]:
    """Group code → the first of ``rows`` in it; ``rows`` (positions) sorted by ``code[rows]``, each group's rows
    in the wanted order."""
    g = code[rows]
    first = np.r_[True, g[1:] != g[:-1]] if len(g) else np.zeros(0, dtype=bool)
    return dict(zip(g[first].tolist(), rows[first].tolist()))


def honest_scores(fc: pd.DataFrame, models: Sequence[str], n_eval: int, metric: str = "mase",
                  margin: float = MARGIN) -> pd.DataFrame:
    """Accuracy of the model choice on origins it did not see.

    Per series, models are chosen (:func:`select_models`) and interval factors
    estimated (:func:`interval_factors`) on all but the last ``n_eval``
    origins; the chosen model's calibrated forecasts are scored on the last
    ``n_eval`` origins. ``fc`` holds *uncalibrated* backtest forecasts with an
    ``origin`` column. Returns :func:`score_backtest` rows (one per series,
    ``model`` = the early choice). Empty when there are too few origins.
    """
    return _late_scores(honest_forecasts(fc, models, n_eval, metric, margin))


def _late_scores(late: pd.DataFrame) -> pd.DataFrame:
    """:func:`honest_scores` of the held-out forecasts ``late`` (:func:`split_forecasts`)."""
    cols = ["unique_id", "model", "mase", "wape", "bias", "coverage_80", "coverage_95", "n"]
    if late.empty:
        return pd.DataFrame(columns=cols)
    return score_backtest(late)[cols]


def honest_forecasts(fc: pd.DataFrame, models: Sequence[str], n_eval: int, metric: str = "mase",
                     margin: float = MARGIN) -> pd.DataFrame:
    """The forecasts :func:`honest_scores` scores: on the last ``n_eval`` origins, each series' model chosen
    on the earlier origins, intervals calibrated with the earlier origins' factors (empty when too few)."""
    return split_forecasts(fc, models, n_eval, metric, margin)[1]


def split_forecasts(fc: pd.DataFrame, models: Sequence[str], n_eval: int, metric: str = "mase",
                    margin: float = MARGIN) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(early, late)``: each series' model chosen on all but the last ``n_eval`` origins, with intervals
    calibrated by those origins' factors, on the choice origins (early) and on the held-out ones (late, what
    :func:`honest_forecasts` returns). Both empty when there are too few origins."""
    last = fc.groupby("unique_id")["origin"].transform("max")
    late_mask = fc["origin"] > last - n_eval
    early, late = fc[~late_mask], fc[late_mask]
    if n_eval < 1 or early.empty or late.empty:
        return fc.iloc[:0], fc.iloc[:0]
    choice = select_models(score_backtest(early), models, metric, margin)
    factors = interval_factors(early)
    early = early[early["model"] == early["unique_id"].map(choice)]
    late = late[late["model"] == late["unique_id"].map(choice)]
    return calibrate(early, factors), calibrate(late, factors)


@dataclass
class Backtest:
    """Rolling-origin backtest results.

    forecasts : long frame ``unique_id, ds, cutoff, origin, h, y, model, mean, lo80, hi80, lo95, hi95, scale``
        (intervals calibrated with ``factors``); raw : the same before calibration
    scores : per series × model ``mase, wape, bias, coverage_80, coverage_95, n`` (+ level in the report)
    chosen : ``unique_id → model`` (:func:`select_models` on all origins)
    honest : per series, the choice made on the earlier origins scored on the last ``n_eval`` ones
        (:func:`honest_scores`) — the accuracy claimed for the forecast
    factors : model → {80: k, 95: k} interval factors from all origins (:func:`interval_factors`)
    models : model keys evaluated; skipped : requested models not run (e.g. arimax without drivers)
    horizon, n_origins, n_eval, step, seconds ; model_seconds : seconds per model (and for scoring)
    """

    forecasts: pd.DataFrame
    scores: pd.DataFrame
    chosen: dict[str, str]
    models: list[str]
    skipped: list[str]
    horizon: int
    n_origins: int
    seconds: float
    model_seconds: dict[str, float] = field(default_factory=dict)
    honest: pd.DataFrame = field(default_factory=pd.DataFrame)
    factors: dict = field(default_factory=dict)
    n_eval: int = 0
    step: int = 1
    raw: pd.DataFrame | None = None
    n_train: int | None = None
    _splits: dict = field(default_factory=dict, repr=False, compare=False)

    def split(self, metric: str = "mase", margin: float = MARGIN) -> tuple[pd.DataFrame, pd.DataFrame]:
        """:func:`split_forecasts` of ``raw`` (choice by ``metric``/``margin`` on all but the last ``n_eval``
        origins), computed once: the honest scores and the reconciled honest scores (:mod:`reconcile`) both
        start from it. Recomputed when ``raw``, ``models`` or ``n_eval`` were replaced."""
        key = (metric, margin, tuple(self.models), self.n_eval)
        hit = self._splits.get(key)
        if hit is None or hit[0] is not self.raw:
            hit = (self.raw, split_forecasts(self.raw, self.models, self.n_eval, metric, margin))
            self._splits[key] = hit
        return hit[1]

    def members_by_id(self) -> dict[str, list[str]]:
        """Per series, the combination members evaluated for it (what a chosen combination is built from)."""
        fc = self.forecasts
        mem = fc[fc["model"].isin(set(COMBINATION_MEMBERS))][["unique_id", "model"]].drop_duplicates()
        return {u: [m for m in COMBINATION_MEMBERS if m in set(g["model"])] for u, g in mem.groupby("unique_id")}

    def total_table(self, uid: str = "Total") -> pd.DataFrame:
        """Scores of every model on one series (default the total), chosen model flagged."""
        t = self.scores[self.scores["unique_id"] == uid].copy()
        t["chosen"] = t["model"] == self.chosen.get(uid)
        return t.reset_index(drop=True)


def default_n_eval(n_origins: int) -> int:
    """Origins kept out of the choice to score it: half of them (0 with a single origin)."""
    return n_origins // 2


def run_backtest(Y: pd.DataFrame, model_ids: dict[str, Sequence[str]], season_length: int, freq: str,
                 horizon: int, n_origins: int, step: int = 1, n_eval: int | None = None, n_jobs: int = 1,
                 refit: bool = True, selection_metric: str = "mase", margin: float = MARGIN,
                 drivers: Sequence[str] = (), plan: pd.DataFrame | None = None,
                 members: Sequence[str] = COMBINATION_MEMBERS) -> Backtest:
    """Backtest → combination → scores → choice → honest scores → interval factors (see the module doc).

    ``model_ids``: model key → series it is tried on (``"combination"`` →
    series that get a combination of their evaluated members).
    """
    t0 = time.perf_counter()
    check_models(list(model_ids))
    n_eval = default_n_eval(n_origins) if n_eval is None else int(n_eval)
    raw, seconds = cross_validate(Y, model_ids, season_length, freq, horizon, n_origins, step, n_jobs, refit,
                                  drivers, plan)
    t_score = time.perf_counter()
    comb_ids = set(model_ids.get("combination", []))
    if comb_ids:
        with_comb = add_combination(raw[raw["unique_id"].isin(comb_ids)], members)
        raw = pd.concat([raw, with_comb[with_comb["model"] == "combination"]], ignore_index=True)
    evaluated = [m for m in MODELS if m in set(raw["model"])]
    factors = interval_factors(raw)
    fc = calibrate(raw, factors)
    scores = score_backtest(fc)
    chosen = select_models(scores, evaluated, selection_metric, margin)
    n_train = int(Y.groupby("unique_id").size().min()) - horizon - (n_origins - 1) * step
    bt = Backtest(fc, scores, chosen, evaluated, [], horizon, n_origins, 0.0, seconds, pd.DataFrame(), factors,
                  n_eval, step, raw, n_train)
    bt.honest = _late_scores(bt.split(selection_metric, margin)[1])  # = honest_scores(raw, evaluated, n_eval, ...)
    seconds["scoring"] = time.perf_counter() - t_score
    bt.seconds = time.perf_counter() - t0
    return bt


# =========================================================================== final forecasts
def fit_forecast(Y: pd.DataFrame, model_ids: dict[str, Sequence[str]], season_length: int, freq: str,
                 horizon: int, n_jobs: int = 1, drivers: Sequence[str] = (), plan: pd.DataFrame | None = None,
                 fitted: bool = False, n_train: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Fit each model on the whole history of its series and forecast ``horizon`` periods.

    ``n_train`` decides the model form for long seasons (:func:`make_models`); pass the backtest's
    (``Backtest.n_train``) so that the forecast uses the form the backtest measured.

    Returns (long ``unique_id, ds, model, mean, lo80, hi80, lo95, hi95``,
    in-sample fitted values ``unique_id, ds, y, model, fitted`` or None).
    """
    base, fits = [], []
    if n_train is None:
        n_train = int(Y.groupby("unique_id").size().min())
    with quiet_single_thread():
        for name, ids in model_ids.items():
            if not len(ids) or name == "combination":
                continue
            ids = set(ids)
            xcols = list(drivers) if name == "arimax" else []
            df = Y[Y["unique_id"].isin(ids)][["unique_id", "ds", "y", *xcols]]
            X = None
            if name == "arimax":
                fut = future_dates(df, horizon, freq)
                X = planned_drivers(df, fut, season_length, xcols, plan)
            sf = statsforecast(make_models([name], season_length, n_train), freq, n_jobs)
            out = sf.forecast(h=horizon, df=df, X_df=X, level=list(LEVELS), fitted=fitted)
            base.append(long_forecasts(out, [name], ["unique_id", "ds"]))
            if fitted:
                fv = sf.forecast_fitted_values()
                fits.append(fv[["unique_id", "ds", "y"]].assign(model=name, fitted=fv[name].to_numpy()))
    return (pd.concat(base, ignore_index=True),
            pd.concat(fits, ignore_index=True) if fitted else None)


def future_dates(Y: pd.DataFrame, horizon: int, freq: str) -> pd.DataFrame:
    """``unique_id, ds`` of the ``horizon`` periods after each series' last date."""
    rows = []
    for uid, last in Y.groupby("unique_id", sort=False)["ds"].max().items():
        for d in pd.date_range(last, periods=horizon + 1, freq=freq)[1:]:
            rows.append((uid, d))
    return pd.DataFrame(rows, columns=["unique_id", "ds"])


def models_needed(chosen: dict[str, str], members_by_id: dict[str, Sequence[str]]) -> dict[str, list[str]]:
    """model → ids to fit for the final forecast: each series' chosen model, or its members for the combination."""
    need: dict[str, list[str]] = {}
    for uid, model in chosen.items():
        for m in (members_by_id.get(uid, []) if model == "combination" else [model]):
            need.setdefault(m, []).append(uid)
    return need


def final_forecasts(base: pd.DataFrame, chosen: dict[str, str], factors: dict,
                    fitted: pd.DataFrame | None = None, members: Sequence[str] = COMBINATION_MEMBERS
                    ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Each series' chosen forecast (combination built from its members), intervals calibrated.

    Returns (``unique_id, ds, model, mean, lo80, hi80, lo95, hi95``, fitted
    ``unique_id, ds, y, fitted`` of the chosen model — the members' median for
    the combination — or None).
    """
    comb_ids = {u for u, m in chosen.items() if m == "combination"}
    if comb_ids:
        part = add_combination(base[base["unique_id"].isin(comb_ids)], members, ["unique_id", "ds"])
        base = pd.concat([base, part[part["model"] == "combination"]], ignore_index=True)
    out = base[base["model"] == base["unique_id"].map(chosen)]
    out = calibrate(out, factors).sort_values(["unique_id", "ds"]).reset_index(drop=True)
    fit_out = None
    if fitted is not None:
        f = fitted.copy()
        if comb_ids:
            mem = f[f["unique_id"].isin(comb_ids) & f["model"].isin(set(members))]
            cf = mem.groupby(["unique_id", "ds"], as_index=False).agg(y=("y", "first"), fitted=("fitted", "median"))
            f = pd.concat([f, cf.assign(model="combination")], ignore_index=True)
        fit_out = f[f["model"] == f["unique_id"].map(chosen)][["unique_id", "ds", "y", "fitted"]]
        fit_out = fit_out.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    return out, fit_out


# =========================================================================== public entry point
@dataclass
class FrameForecast:
    """Result of :func:`forecast_frame`.

    forecast : ``unique_id, ds, model, mean, lo80, hi80, lo95, hi95`` (the chosen model, calibrated intervals)
    backtest : :class:`Backtest` (``scores`` per series × model, ``honest`` = the claimed accuracy)
    chosen : ``unique_id → model``
    not_backtested : series too short for the backtest (forecast with the combination, no claim)
    seconds : wall-clock seconds (backtest, forecast)
    """

    forecast: pd.DataFrame
    backtest: Backtest | None
    chosen: dict[str, str]
    not_backtested: list[str]
    seconds: dict[str, float]

    def claimed(self) -> pd.DataFrame:
        """Per series: chosen model and the accuracy claimed for it (honest backtest), one row per series."""
        if self.backtest is None or self.backtest.honest.empty:
            return pd.DataFrame(columns=["unique_id", "model", "mase", "wape", "coverage_80", "coverage_95"])
        return self.backtest.honest[["unique_id", "model", "mase", "wape", "coverage_80", "coverage_95"]]


def forecast_frame(df: pd.DataFrame, h: int, freq: str = "MS", season_length: int = 12,
                   models: Sequence[str] = FRAME_MODELS, n_origins: int = 4, step: int | None = None,
                   n_eval: int | None = None, selection_metric: str = "mase", margin: float = MARGIN,
                   n_jobs: int = 1, members: Sequence[str] = COMBINATION_MEMBERS) -> FrameForecast:
    """Forecast every series of a plain frame ``unique_id, ds, y`` ``h`` periods ahead, with the report's
    model choice, calibrated 80%/95% intervals and honest backtest.

    ``freq`` is a pandas alias (``"MS"`` month starts, ``"W-MON"`` weeks);
    ``step`` (default ``max(1, h // 3)``) spaces the ``n_origins`` backtest
    origins; ``n_eval`` (default half of them) are held out of the choice to
    score it (:func:`honest_scores`). Series too short for the backtest
    (fewer than ``h + (n_origins − 1)·step + max(season_length + 1, 4)``
    points) are forecast with the combination of ``models`` and the interval
    factors of the other series (1 when none can be backtested).
    """
    check_models(models)
    need_cols = {"unique_id", "ds", "y"}
    if not need_cols <= set(df.columns):
        missing = ", ".join(sorted(need_cols - set(df.columns)))
        raise ValueError(f"forecast_frame needs columns unique_id, ds, y; missing {missing}")
    if h < 1:
        raise ValueError("h must be at least 1")
    Y = df[["unique_id", "ds", "y"]].copy()
    Y["ds"] = pd.to_datetime(Y["ds"])
    Y["y"] = Y["y"].astype(float)
    Y = Y.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    step = max(1, h // 3) if step is None else int(step)
    n = Y.groupby("unique_id").size()
    need = h + (n_origins - 1) * step + max(season_length + 1, 4)
    ok = list(n[n >= need].index)
    short = [u for u in n.index if u not in set(ok)]
    fitting = [m for m in models if m != "combination"]
    t0 = time.perf_counter()
    bt = None
    chosen: dict[str, str] = {}
    factors: dict = {}
    if ok:
        ids = {m: ok for m in models}
        bt = run_backtest(Y[Y["unique_id"].isin(set(ok))], ids, season_length, "MS" if freq is None else freq,
                          h, n_origins, step, n_eval, n_jobs, True, selection_metric, margin, members=members)
        chosen.update(bt.chosen)
        factors = bt.factors
    fallback = "combination" if "combination" in models else fitting[0]
    chosen.update({u: fallback for u in short})
    t1 = time.perf_counter()
    member_list = [m for m in fitting if m in set(members)]
    need_models = models_needed(chosen, {u: member_list for u in chosen})
    base, _ = fit_forecast(Y, need_models, season_length, freq, h, n_jobs,
                           n_train=bt.n_train if bt is not None else None)
    fc, _ = final_forecasts(base, chosen, factors, None, members)
    return FrameForecast(fc, bt, chosen, short, {"backtest": t1 - t0, "forecast": time.perf_counter() - t1})
