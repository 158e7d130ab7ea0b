"""Partially pooled conversion rates: a hierarchical Beta-Binomial model in PyMC.

Small reps and small segments have noisy raw rates (2 wins out of 3 is not a
67% win rate). The model pools them towards the group mean in proportion to
how little data they have, and gives each a credible interval, so nobody is
ranked on noise.

Model (Carpenter 2016, "Hierarchical Partial Pooling for Repeated Binary
Trials", Stan case study; Gelman et al., *Bayesian Data Analysis* 3rd ed.,
§5.3)::

    μ ~ Beta(1, 1)                 population mean rate
    κ ~ Pareto(m=1, α=1.5)         population "sample size" (concentration)
    θ_g ~ Beta(μκ, (1 − μ)κ)       rate of group g
    y_g ~ Binomial(n_g, θ_g)       successes out of trials

Inference: the θ_g are integrated out — ``y_g ~ BetaBinomial(n_g, μκ, (1−μ)κ)``
— so NUTS samples only the two hyperparameters (fast and well-conditioned
whatever the number of groups). Each group's rate is then drawn exactly from
its conditional posterior ``θ_g | μ, κ, y ~ Beta(μκ + y_g, (1−μ)κ + n_g − y_g)``
for every posterior draw of (μ, κ) (BDA3 eq. 5.5). NUTS rather than ADVI
because with two parameters it costs a few seconds and keeps the full
uncertainty of κ, which ADVI's Gaussian approximation understates.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class PooledRates:
    """Result of :func:`pooled_rates`.

    ``table``: one row per group — group, trials, successes, raw_rate, mean,
    lo, hi (equal-tailed credible interval of ``prob``), shrinkage (how far the
    posterior mean moved from the raw rate towards the population mean, 0–1).
    ``mu``, ``kappa``: posterior draws of the hyperparameters; ``theta``: draws ×
    groups matrix of group rates; ``divergences``: NUTS divergent transitions.
    """

    table: pd.DataFrame
    mu: np.ndarray
    kappa: np.ndarray
    theta: np.ndarray
    prob: float
    divergences: int

    @property
    def population_mean(self) -> float:
        return float(np.mean(self.mu))


def pooled_rates(
    frame: pd.DataFrame,
    group: str,
    successes: str,
    trials: str,
    draws: int = 500,
    tune: int = 500,
    chains: int = 2,
    seed: int = 0,
    prob: float = 0.9,
) -> PooledRates:
    """Fit the hierarchical Beta-Binomial model to per-group counts.

    Parameters
    ----------
    frame : one row per group with columns ``group``, ``successes``, ``trials``
        (groups with zero trials are dropped).
    draws, tune, chains : NUTS settings (``cores=1``: deterministic by ``seed``).
    prob : credible-interval mass (equal-tailed).
    """
    # pymc is heavy (seconds to import): imported only when a model is fitted
    with warnings.catch_warnings():  # pip-installed PyTensor warns once that it found no BLAS; harmless here
        warnings.filterwarnings("ignore", message=".*could not link to a BLAS.*")
        import pymc as pm

    df = frame[[group, successes, trials]].copy()
    df = df[df[trials] > 0].reset_index(drop=True)
    if df.empty:
        raise ValueError("pooled_rates needs at least one group with trials > 0")
    y = df[successes].to_numpy(dtype="int64")
    n = df[trials].to_numpy(dtype="int64")
    if (y < 0).any() or (y > n).any():
        raise ValueError("successes must lie between 0 and trials for every group")
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.ERROR)  # no sampler chatter in report outputs
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*could not link to a BLAS.*")
            idata = _sample(pm, y, n, draws, tune, chains, seed)
    finally:
        logger.setLevel(level)
    post = idata.posterior
    mu_d = post["mu"].to_numpy().reshape(-1)
    kappa_d = post["kappa"].to_numpy().reshape(-1)
    divergences = int(idata.sample_stats["diverging"].to_numpy().sum())
    rng = np.random.default_rng(seed)
    a = mu_d[:, None] * kappa_d[:, None] + y[None, :]
    b = (1.0 - mu_d[:, None]) * kappa_d[:, None] + (n - y)[None, :]
    theta = rng.beta(a, b)
    raw = y / n
    mean = theta.mean(axis=0)
    tail = (1.0 - prob) / 2.0
    lo, hi = np.quantile(theta, [tail, 1.0 - tail], axis=0)
    pop = float(mu_d.mean())
    with np.errstate(divide="ignore", invalid="ignore"):
        shrink = np.where(np.abs(raw - pop) > 1e-12, (raw - mean) / (raw - pop), 0.0)
    table = pd.DataFrame(
        {
            group: df[group].to_numpy(),
            "trials": n,
            "successes": y,
            "raw_rate": raw,
            "mean": mean,
            "lo": lo,
            "hi": hi,
            "shrinkage": np.clip(shrink, 0.0, 1.0),
        }
    ).sort_values("mean", ascending=False, ignore_index=True)
    return PooledRates(table=table, mu=mu_d, kappa=kappa_d, theta=theta, prob=prob, divergences=divergences)


def _sample(pm, y, n, draws, tune, chains, seed):
    with pm.Model():
        mu = pm.Beta("mu", 1.0, 1.0)
        kappa = pm.Pareto("kappa", alpha=1.5, m=1.0)
        pm.BetaBinomial("y", n=n, alpha=mu * kappa, beta=(1.0 - mu) * kappa, observed=y)
        return pm.sample(
            draws=draws, tune=tune, chains=chains, cores=1, random_seed=seed,
            progressbar=False, compute_convergence_checks=False, target_accept=0.9,
        )


def win_counts(win_table: pd.DataFrame, group: str) -> pd.DataFrame:
    """``group, won, closed`` from a :func:`salesbench.analyses.funnel.model.win_rates` table (closed = won + lost)."""
    out = win_table[[group, "won", "lost"]].copy()
    out["closed"] = out["won"] + out["lost"]
    out[group] = out[group].astype(str)
    return out[[group, "won", "closed"]]


def pooled_win_rates(win_table: pd.DataFrame | None, by: str, teams: pd.Series | None = None, draws: int = 500,
                     tune: int = 500, chains: int = 2, seed: int = 0, prob: float = 0.9) -> PooledRates | None:
    """Hierarchical Beta-Binomial win rates (won ÷ closed) per ``by`` group of a win-rate table.

    ``win_table``: :func:`salesbench.analyses.funnel.conversion.win_rates` by ``by``
    (closed cohorts); ``None`` when the breakdown is absent. Returns ``None`` when
    there is nothing to pool (no breakdown, or no closed deal yet). ``teams``
    (rep_id → team) labels the reps with their team (column ``team`` after ``rep_id``).
    """
    if win_table is None:
        return None
    counts = win_counts(win_table, by)
    if not (counts["closed"] > 0).any():  # no closed deal yet: nothing to pool
        return None
    pooled = pooled_rates(counts, by, "won", "closed", draws=draws, tune=tune, chains=chains, seed=seed, prob=prob)
    if by == "rep_id" and teams is not None:
        pooled.table.insert(1, "team", pooled.table["rep_id"].map(teams))
    return pooled
