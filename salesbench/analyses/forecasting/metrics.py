"""Forecast accuracy metrics used by the forecasting backtest.

All functions take plain arrays (actuals ``y``, point forecasts ``y_hat``,
interval bounds) and return a float. Empty inputs or a zero denominator give
``nan`` — never a silent 0 or ∞.

Definitions (as in Hyndman & Athanasopoulos, *Forecasting: Principles and
Practice*, 3rd ed., §5.8, and the M4 competition guide):

* MASE (Hyndman & Koehler 2006) ``= mean|y − ŷ| / scale`` where ``scale`` is
  the in-sample mean absolute error of the seasonal naive forecast on the
  training data, ``mean_{t>m} |y_t − y_{t−m}|`` (:func:`seasonal_naive_scale`).
  Below 1 means better than the in-sample seasonal naive.
* WAPE ``= Σ|y − ŷ| / Σ|y|`` (a fraction; *forecast accuracy = 1 − WAPE*).
* bias ``= Σ(ŷ − y) / Σ|y|``: positive = over-forecast, as a share of actuals.
* interval coverage ``= share of actuals with lo ≤ y ≤ hi``; a calibrated 80%
  interval covers about 80%.
* sMAPE (M4) ``= (200 / h) Σ |y − ŷ| / (|y| + |ŷ|)`` in percent.

The values agree with Nixtla's ``utilsforecast.losses`` (which returns WAPE
and sMAPE/200 as fractions); a unit test checks that.
"""
from __future__ import annotations

import numpy as np

__all__ = ["seasonal_naive_scale", "mase", "wape", "bias", "coverage", "smape"]


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def seasonal_naive_scale(y_train, season_length: int) -> float:
    """In-sample MAE of the seasonal naive forecast: ``mean_{t>m} |y_t − y_{t−m}|``.

    ``season_length`` m = 12 for monthly, 52 for weekly data, 1 gives the naive
    (random-walk) scale. Returns ``nan`` when the training series has no more
    than ``m`` points.
    """
    y = _arr(y_train)
    m = int(season_length)
    if m < 1:
        raise ValueError("season_length must be >= 1")
    if len(y) <= m:
        return float("nan")
    return float(np.mean(np.abs(y[m:] - y[:-m])))


def mase(y, y_hat, y_train=None, season_length: int = 1, scale: float | None = None) -> float:
    """Mean absolute scaled error: ``mean|y − ŷ| / scale``.

    ``scale`` is given directly or computed from ``y_train`` with
    :func:`seasonal_naive_scale` (Hyndman & Koehler 2006). A zero or missing
    scale (a flat training series) gives ``nan``.
    """
    y, y_hat = _arr(y), _arr(y_hat)
    if scale is None:
        if y_train is None:
            raise ValueError("mase needs y_train or scale")
        scale = seasonal_naive_scale(y_train, season_length)
    if len(y) == 0 or not np.isfinite(scale) or scale <= 0:
        return float("nan")
    return float(np.mean(np.abs(y - y_hat)) / scale)


def wape(y, y_hat) -> float:
    """Weighted absolute percentage error ``Σ|y − ŷ| / Σ|y|`` (a fraction)."""
    y, y_hat = _arr(y), _arr(y_hat)
    denom = np.sum(np.abs(y))
    if len(y) == 0 or denom == 0:
        return float("nan")
    return float(np.sum(np.abs(y - y_hat)) / denom)


def bias(y, y_hat) -> float:
    """Relative bias ``Σ(ŷ − y) / Σ|y|``: > 0 means the forecast runs high."""
    y, y_hat = _arr(y), _arr(y_hat)
    denom = np.sum(np.abs(y))
    if len(y) == 0 or denom == 0:
        return float("nan")
    return float(np.sum(y_hat - y) / denom)


def coverage(y, lo, hi) -> float:
    """Share of actuals inside their prediction interval, ``mean(lo ≤ y ≤ hi)``."""
    y, lo, hi = _arr(y), _arr(lo), _arr(hi)
    ok = np.isfinite(y) & np.isfinite(lo) & np.isfinite(hi)
    if not ok.any():
        return float("nan")
    y, lo, hi = y[ok], lo[ok], hi[ok]
    return float(np.mean((y >= lo) & (y <= hi)))


def smape(y, y_hat) -> float:
    """M4 symmetric MAPE in percent: ``(200 / h) Σ |y − ŷ| / (|y| + |ŷ|)`` (0/0 terms count 0)."""
    y, y_hat = _arr(y), _arr(y_hat)
    if len(y) == 0:
        return float("nan")
    denom = np.abs(y) + np.abs(y_hat)
    terms = np.divide(np.abs(y - y_hat), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(200.0 * np.mean(terms))
