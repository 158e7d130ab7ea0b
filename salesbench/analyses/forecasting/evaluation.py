"""The backtest of the series hierarchy and what it tells: errors per level, an out-of-sample check of the
model choice, how correlated errors are across horizons and how well intervals of sums cover.

:func:`backtest` runs the rolling-origin engine of :mod:`salesbench.analyses.forecasting.backtest`
on a :class:`~salesbench.analyses.forecasting.series.SeriesSet` (model sets by depth, drivers);
:func:`level_summary`, :func:`nested_check`, :func:`error_correlation` and
:func:`horizon_sum_coverage` score its forecasts.
"""
from __future__ import annotations

import time
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from salesbench.analyses.forecasting import metrics as fm
from salesbench.analyses.forecasting.backtest import (MARGIN, MODELS, Backtest, check_models, run_backtest,
                                                      score_backtest, select_models)
from salesbench.analyses.forecasting.series import SeriesSet, usable_drivers
from salesbench.analyses.forecasting.targets import Z80

#: Model keys, labels and the combination's members live in :mod:`salesbench.analyses.forecasting.backtest`.
#: Default model set for the total and single-dimension series, and for the deeper combinations: the
#: combination is the median of the evaluated members (ETS, Holt-Winters, Theta, ARIMA; Holt-Winters and Theta
#: deeper down).
DEFAULT_MODELS = ("seasonal_naive", "ets", "holt_winters", "theta", "arima", "arimax", "combination")
DEFAULT_DEEP_MODELS = ("seasonal_naive", "holt_winters", "theta", "combination")


def backtest(series: SeriesSet, models: Sequence[str] = DEFAULT_MODELS, horizon: int = 3, n_origins: int = 6,
             step: int = 1, n_jobs: int = 1, refit: bool = True, ids: Iterable[str] | None = None,
             selection_metric: str = "mase", deep_models: Sequence[str] = DEFAULT_DEEP_MODELS,
             deep_depth: int | None = 2, n_eval: int | None = None, margin: float = MARGIN) -> Backtest:
    """Rolling-origin backtest of ``models`` on the series (all, or ``ids``); see :mod:`salesbench.analyses.forecasting.backtest`.

    Origins are the last ``n_origins`` possible cut-offs spaced ``step``
    periods apart; at each origin every model is fitted on the history up to
    the cut-off (``refit=False``: fitted once at the first origin, then only
    updated with new observations) and forecasts ``horizon`` periods with
    80%/95% intervals. ARIMA with drivers gets, in the forecast window, the
    driver values the real forecast will get (the planned calendar, else the
    same period a year earlier: :func:`salesbench.analyses.forecasting.backtest.planned_drivers`).
    The combination is the median of the evaluated members; intervals are
    calibrated on the backtest errors; the model choice prefers the
    combination unless a single model is better by more than ``margin``; and
    the accuracy claimed (``bt.honest``) is that of the choice made on the
    earlier origins, scored on the last ``n_eval`` (default half).

    Model searches (auto ETS, ARIMA) cost 5-10× a fixed-form fit, and the
    many series that combine ``deep_depth`` or more dimensions (e.g. region ×
    product line) are small and noisy: those get ``deep_models`` instead of
    ``models`` (``deep_depth=None``: every series gets ``models``). Seasonal
    naive is always evaluated: it is the baseline every model must beat.

    Errors are scored per origin with the seasonal naive scale of that
    origin's training data (MASE) and pooled over origins and horizons for
    WAPE, bias and coverage (:mod:`salesbench.analyses.forecasting.metrics`).
    """
    t0 = time.perf_counter()
    check_models([*models, *deep_models])
    Y = series.Y if ids is None else series.subset(ids)
    n_hist = Y.groupby("unique_id").size().min()
    need = horizon + (n_origins - 1) * step
    if n_hist - need < max(series.season_length + 1, 4):
        raise ValueError(
            f"{n_hist} periods of history are too few for {n_origins} origins × horizon {horizon} "
            f"(season length {series.season_length}); lower n_origins or horizon"
        )
    drivers = usable_drivers(series)
    depth = series.meta.set_index("unique_id")["depth"]
    all_ids = list(Y["unique_id"].unique())
    upper = [u for u in all_ids if deep_depth is None or depth[u] < deep_depth]
    deep = [u for u in all_ids if u not in set(upper)]
    skipped = ["arimax"] if ("arimax" in [*models, *deep_models] and not drivers) else []
    model_ids: dict[str, list[str]] = {}
    for name in MODELS:
        run_ids = [*(upper if (name in models or name == "seasonal_naive") else []),
                   *(deep if (name in deep_models or name == "seasonal_naive") else [])]
        if run_ids and not (name == "arimax" and not drivers):
            model_ids[name] = run_ids
    bt = run_backtest(Y, model_ids, series.season_length, series.freq, horizon, n_origins, step, n_eval, n_jobs,
                      refit, selection_metric, margin, drivers, series.plan)
    bt.scores = bt.scores.merge(series.meta[["unique_id", "level", "depth"]], on="unique_id", how="left")
    bt.skipped = skipped
    bt.seconds = time.perf_counter() - t0
    return bt


def level_summary(bt: Backtest, series: SeriesSet) -> pd.DataFrame:
    """Backtest error per hierarchy level × model, plus the per-series chosen models ("chosen").

    mase = mean of the series' MASE; wape = pooled Σ|e| / Σ|y| over the level's
    series; coverage pooled likewise; ``beats_baseline`` = share of the level's
    series where the row's model has a lower MASE than seasonal naive.
    """
    fc = bt.forecasts.merge(series.meta[["unique_id", "level", "depth"]], on="unique_id")
    ch = fc[fc["model"] == fc["unique_id"].map(bt.chosen)].assign(model="chosen")
    fc = pd.concat([fc, ch], ignore_index=True)
    sc = pd.concat([bt.scores, bt.scores[bt.scores["model"] == bt.scores["unique_id"].map(bt.chosen)]
                    .assign(model="chosen")], ignore_index=True)
    base = sc[sc["model"] == "seasonal_naive"].set_index("unique_id")["mase"]
    rows = []
    for (level, model), g in fc.groupby(["level", "model"], sort=False):
        s = sc[(sc["level"] == level) & (sc["model"] == model)]
        b = base.reindex(s["unique_id"]).to_numpy()
        rows.append({
            "level": level, "depth": int(g["depth"].iloc[0]), "model": model, "n_series": int(s["unique_id"].nunique()),
            "mase": float(np.nanmean(s["mase"])) if s["mase"].notna().any() else float("nan"),
            "wape": fm.wape(g["y"], g["mean"]), "bias": fm.bias(g["y"], g["mean"]),
            "coverage_80": fm.coverage(g["y"], g["lo80"], g["hi80"]),
            "coverage_95": fm.coverage(g["y"], g["lo95"], g["hi95"]),
            "beats_baseline": float(np.mean(s["mase"].to_numpy() < b)) if len(b) and model != "seasonal_naive" else float("nan"),
        })
    out = pd.DataFrame(rows)
    order = {m: i for i, m in enumerate([*MODELS, "chosen"])}
    return out.sort_values(["depth", "level", "model"], key=lambda c: c.map(order) if c.name == "model" else c).reset_index(drop=True)


def nested_check(bt: Backtest, series: SeriesSet, last_origins: int = 2, metric: str = "mase") -> pd.DataFrame:
    """Out-of-sample check of the model choice: select on the early origins, score on the last ones.

    Choosing the model with the lowest backtest error and reporting that same
    error flatters the choice. Here models are chosen per series on all but
    the last ``last_origins`` origins and scored (MASE) on those last origins
    only, next to seasonal naive on the same origins. No refits: it reuses the
    backtest forecasts. Returns per level ``n_series, mase_nested_choice,
    mase_seasonal_naive, beats_baseline`` (share of series where the nested
    choice is strictly better).
    """
    fc = bt.forecasts
    cutoffs = sorted(fc["cutoff"].unique())
    if len(cutoffs) <= last_origins:
        return pd.DataFrame(columns=["level", "n_series", "mase_nested_choice", "mase_seasonal_naive", "beats_baseline"])
    early = fc[fc["cutoff"].isin(cutoffs[:-last_origins])]
    late = fc[fc["cutoff"].isin(cutoffs[-last_origins:])]
    choice = select_models(score_backtest(early), bt.models, metric=metric)
    late_scores = score_backtest(late).set_index(["unique_id", "model"])["mase"]
    rows = []
    for uid, model in choice.items():
        rows.append({"unique_id": uid, "chosen": late_scores.get((uid, model), np.nan),
                     "base": late_scores.get((uid, "seasonal_naive"), np.nan)})
    df = pd.DataFrame(rows).merge(series.meta[["unique_id", "level", "depth"]], on="unique_id")
    out = df.groupby(["depth", "level"], as_index=False).agg(
        n_series=("unique_id", "size"), mase_nested_choice=("chosen", "mean"), mase_seasonal_naive=("base", "mean"),
        beats_baseline=("chosen", lambda c: float(np.mean(c.to_numpy() < df.loc[c.index, "base"].to_numpy()))))
    return out.drop(columns="depth")


def horizon_sum_coverage(bt: Backtest, series: SeriesSet, rho: float = 0.0) -> pd.DataFrame:
    """How well :func:`period_sum` intervals cover the actual sum over the whole horizon, in the backtest.

    For every series and origin, the chosen model's ``horizon`` forecasts are
    summed with :func:`period_sum` (error correlation ``rho``) and the actual
    sum is checked against the 80% interval. Coverage well below 0.8 means
    the intervals of sums are too narrow. Returns per level ``n, coverage_80``.
    """
    fc = bt.forecasts
    fc = fc[fc["model"] == fc["unique_id"].map(bt.chosen)]
    uid, inside = _sum_inside(fc, bt.horizon, rho)
    df = pd.DataFrame({"unique_id": uid, "inside": inside}).merge(series.meta[["unique_id", "level", "depth"]],
                                                                   on="unique_id")
    out = df.groupby(["depth", "level"], as_index=False).agg(n=("inside", "size"), coverage_80=("inside", "mean"))
    return out.drop(columns="depth")


def _sum_inside(fc: pd.DataFrame, horizon: int, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """Per series × cut-off of ``fc`` with all ``horizon`` periods and finite 80% bounds (in order of first
    appearance): the series and whether the actual sum lies inside :func:`period_sum`'s 80% interval — the
    same sums, in the same order, as :func:`period_sum` on each group's rows, on arrays sorted once."""
    if fc.empty:
        return np.array([], dtype=object), np.array([], dtype=bool)
    group, _ = pd.factorize(pd.MultiIndex.from_frame(fc[["unique_id", "cutoff"]]))
    by = np.argsort(group, kind="stable")  # each group's rows in fc's order
    g = group[by]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    sizes = np.diff(np.r_[starts, len(g)])
    lo, hi = fc["lo80"].to_numpy(dtype=float)[by], fc["hi80"].to_numpy(dtype=float)[by]
    bad = np.add.reduceat(np.isnan(lo) | np.isnan(hi), starts) > 0
    keep = (sizes == horizon) & ~bad
    rows = starts[keep][:, None] + np.arange(horizon)  # positions in ``by`` of each kept group's periods
    sig = (hi[rows] - lo[rows]) / (2 * Z80)
    mean = np.nansum(fc["mean"].to_numpy(dtype=float)[by][rows], axis=1)  # pandas' sum skips NaN
    y = np.nansum(fc["y"].to_numpy(dtype=float)[by][rows], axis=1)
    ss = np.sum(sig ** 2, axis=1)
    var = ss + rho * (np.sum(sig, axis=1) ** 2 - ss)
    sigma = np.sqrt(np.maximum(var, 0.0))
    inside = (mean - Z80 * sigma <= y) & (y <= mean + Z80 * sigma)
    return fc["unique_id"].to_numpy()[by][starts[keep]], inside


def error_correlation(bt: Backtest) -> float:
    """Correlation of the chosen models' forecast errors between horizons of the same origin.

    Standardised errors zₕ = (y − ŷ) / σₕ (σₕ from the 80% interval) of each
    series and origin; ρ = mean over pairs h < h' of zₕ zₕ' divided by the mean
    of zₕ², pooled over all series and origins, clipped to [0, 1]. Errors
    that persist from one period to the next (a level the model missed) give
    ρ near 1; independent noise gives ρ near 0.
    """
    fc = bt.forecasts
    fc = fc[fc["model"] == fc["unique_id"].map(bt.chosen)].copy()
    fc["sigma"] = (fc["hi80"] - fc["lo80"]) / (2 * Z80)
    fc = fc[np.isfinite(fc["sigma"]) & (fc["sigma"] > 0)]
    fc["z"] = (fc["y"] - fc["mean"]) / fc["sigma"]
    cross, n_pairs, sq, n = 0.0, 0, 0.0, 0
    for _, g in fc.groupby(["unique_id", "cutoff"], sort=False):
        z = g["z"].to_numpy()
        sq += float(np.sum(z ** 2))
        n += len(z)
        cross += float((np.sum(z) ** 2 - np.sum(z ** 2)) / 2)
        n_pairs += len(z) * (len(z) - 1) // 2
    if n_pairs == 0 or sq == 0:
        return 0.0
    return float(np.clip((cross / n_pairs) / (sq / n), 0.0, 1.0))
