"""How likely each piece of the plan is, from the forecasting analysis' predictive distribution.

The company uses the total series, a region its region series (forecast
months summed with :func:`~salesbench.analyses.forecasting.targets.period_sum`,
correlation ρ between months from the forecast's backtest). A team or rep takes
its share ``s`` of its region's last-year revenue: mean = s · region mean and
σ = √s · region σ (a piece's variance proportional to its size, as for a sum of
independent parts), plus each rep's own year-to-year swing: a rep with mean m adds
(m · σ_rep)² to the variance (a team the sum over its reps), σ_rep the spread over reps
of their log growth from the year before last to last year net of their region's
(:func:`rep_sigma`; 0 when the data holds no year before last). P(reach) = P(actual ≥ target)
under that normal distribution (:func:`~salesbench.analyses.forecasting.targets.prob_reach`);
the flag is red below ``risk_lines.red``, amber below ``risk_lines.amber``, else green.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from salesbench.analyses.forecasting.targets import Z80, period_sum, prob_reach


def unit_distribution(fc: pd.DataFrame, uid: str, months: list, rho: float) -> tuple[float, float, np.ndarray, np.ndarray]:
    """``(period mean, period σ, monthly means, monthly σ)`` of forecast series ``uid`` over ``months`` (month starts)."""
    rows = fc[(fc["unique_id"] == uid) & fc["ds"].isin(months)].sort_values("ds")
    if len(rows) != len(months):
        raise KeyError(uid)
    tot = period_sum(rows, None, rho)
    sig = (rows["hi80"].to_numpy() - rows["lo80"].to_numpy()) / (2 * Z80)
    return tot["mean"], tot["sigma"], rows["mean"].to_numpy(float), sig


def flag(p, lines: Mapping[str, float]) -> np.ndarray:
    """``red`` below ``lines['red']``, ``amber`` below ``lines['amber']``, else ``green`` (a value on a line: the better side)."""
    p = np.asarray(p, dtype=float)
    return np.where(p < lines["red"], "red", np.where(p < lines["amber"], "amber", "green"))


def reach(mean, sigma, target) -> np.ndarray:
    """P(actual ≥ target) for a normal(mean, σ) forecast."""
    mean, sigma = np.asarray(mean, float), np.asarray(sigma, float)
    return prob_reach(mean, mean - Z80 * sigma, mean + Z80 * sigma, target)


def scaled(region_mean, region_sigma, share) -> tuple:
    """A piece holding ``share`` of its region: (share · mean, √share · σ)."""
    share = np.asarray(share, float)
    return share * np.asarray(region_mean, float), np.sqrt(share) * np.asarray(region_sigma, float)


def relative_growth(prev, last, region) -> pd.Series:
    """Each rep's growth over its region's: (last_i / prev_i) ÷ (Σ last / Σ prev over the region's reps with revenue
    in both years); NaN for a rep without revenue in both years or without a region. Aligned by position."""
    df = pd.DataFrame({"prev": np.asarray(prev, float), "last": np.asarray(last, float),
                       "region": np.asarray(region, object)})
    ok = (df["prev"] > 0) & (df["last"] > 0) & df["region"].notna()
    tot = df[ok].groupby("region")[["prev", "last"]].sum()
    return df["last"] / df["prev"].where(ok) / df["region"].map(tot["last"] / tot["prev"])


def rep_sigma(prev: pd.Series, last: pd.Series, region: pd.Series) -> float:
    """Relative σ of a rep's year around its region's: the standard deviation (ddof 1) over reps of
    log(last / prev) − log(Σ last / Σ prev of the rep's region) (:func:`relative_growth`), reps with revenue in
    both years (all three Series indexed by rep); 0 with fewer than 3 such reps."""
    df = pd.DataFrame({"prev": prev, "last": last, "region": region})
    dev = np.log(relative_growth(df["prev"], df["last"], df["region"])).dropna()
    return float(dev.std(ddof=1)) if len(dev) >= 3 else 0.0


def rep_means(book: pd.Series, prev: pd.Series, last: pd.Series, region: pd.Series, reversion: float) -> np.ndarray:
    """Each rep's expected revenue next period: its ``book`` × (its region-relative growth last period)^−``reversion``,
    rescaled so each region's reps keep the region's Σ ``book``.

    growth_i = :func:`relative_growth` (last_i / prev_i ÷ Σ last / Σ prev of the region), clipped to [0.2, 5]; a rep whose year beat its
    region's is expected to fall back part of the way (a lucky year does not repeat), one that lagged to recover.
    ``reversion`` 0: the book alone; 1: full return to the year before. Factor 1 for a rep without revenue in
    both years (or data not reaching back). All Series aligned by position.
    """
    df = pd.DataFrame({"book": np.asarray(book, float), "region": np.asarray(region)})
    growth = relative_growth(prev, last, region).clip(0.2, 5.0)
    m = df["book"] * growth.fillna(1.0) ** (-float(reversion))
    scale = df.groupby("region")["book"].transform("sum") / m.groupby(df["region"]).transform("sum")
    return (m * scale.where(np.isfinite(scale) & (scale > 0), 1.0)).to_numpy(float)
