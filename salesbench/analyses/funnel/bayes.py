"""Partially pooled conversion rates: a hierarchical Beta-Binomial model, its posterior by quadrature.

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
— so the posterior has only the two hyperparameters. With two parameters the
posterior is computed by quadrature (:func:`grid_posterior`): the exact log
density on a fine grid over (logit μ, log(κ − 1)), refined around the region
that holds the mass, and draws taken from it — no sampler, no compilation, no
PyMC import, and the full uncertainty of κ kept (which ADVI's Gaussian
approximation understates). ``method="nuts"`` samples the same model with PyMC's
NUTS instead (the cross-check: both agree within Monte Carlo error). Each group's
rate is then drawn exactly from its conditional posterior
``θ_g | μ, κ, y ~ Beta(μκ + y_g, (1−μ)κ + n_g − y_g)`` for every posterior draw
of (μ, κ) (BDA3 eq. 5.5). Groups with the same (y_g, n_g) share their
likelihood term (sufficient statistics: the distinct pairs with counts).
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
    groups matrix of group rates; ``divergences``: NUTS divergent transitions (0 with the grid).
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
    method: str = "grid",
) -> PooledRates:
    """Fit the hierarchical Beta-Binomial model to per-group counts.

    Parameters
    ----------
    frame : one row per group with columns ``group``, ``successes``, ``trials``
        (groups with zero trials are dropped).
    draws, chains : ``draws × chains`` posterior draws of (μ, κ), and of every group's rate.
    tune : NUTS tuning steps per chain (``method="nuts"`` only).
    method : ``"grid"`` (default) — the posterior of (μ, κ) by quadrature (:func:`grid_posterior`),
        deterministic by ``seed``; ``"nuts"`` — PyMC's NUTS (``cores=1``: deterministic by ``seed``).
    prob : credible-interval mass (equal-tailed).
    """
    if method not in ("grid", "nuts"):
        raise ValueError(f"method must be 'grid' or 'nuts', not {method!r}")
    df = frame[[group, successes, trials]].copy()
    df = df[df[trials] > 0].reset_index(drop=True)
    if df.empty:
        raise ValueError("pooled_rates needs at least one group with trials > 0")
    y = df[successes].to_numpy(dtype="int64")
    n = df[trials].to_numpy(dtype="int64")
    if (y < 0).any() or (y > n).any():
        raise ValueError("successes must lie between 0 and trials for every group")
    rng = np.random.default_rng(seed)
    if method == "grid":
        mu_d, kappa_d = grid_posterior(y, n, draws * chains, rng)
        divergences = 0
    else:
        mu_d, kappa_d, divergences = _nuts(y, n, draws, tune, chains, seed)
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


#: Outer box of the posterior grid in (logit μ, log(κ − 1)): μ within 3e-7 of 0 or 1, κ − 1 from e⁻¹⁰ to e³⁰.
#: The density falls at least like e^{−|u|} in u and like the Pareto prior's e^{−1.5 v} in v (the likelihood is
#: bounded), so the mass outside is below 1e-6.
GRID_BOX = ((-15.0, 15.0), (-10.0, 30.0))
GRID_POINTS = 160  # per axis and refinement
GRID_DROP = 25.0  # log-density drop below the maximum that still counts as mass (e^-25 ≈ 1.4e-11 per cell)


def log_posterior(u: np.ndarray, v: np.ndarray, y: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Log posterior density (up to a constant) of u = logit μ, v = log(κ − 1) given successes ``y`` of ``n``.

    log Beta(μ | 1, 1) + log Pareto(κ | m=1, α=1.5) + Σ_g log BetaBinomial(y_g | n_g, μκ, (1−μ)κ) + the
    Jacobian log μ + log(1 − μ) + v; the binomial coefficients are dropped (constant). Groups with equal
    (y_g, n_g) are evaluated once and weighted by their count. Works element-wise on arrays ``u``, ``v``.
    """
    from scipy.special import betaln

    u, v = np.asarray(u, dtype=float), np.asarray(v, dtype=float)
    log_mu, log_1mu = -np.logaddexp(0.0, -u), -np.logaddexp(0.0, u)
    mu = np.exp(log_mu)
    kappa = 1.0 + np.exp(v)
    a, b = mu * kappa, (1.0 - mu) * kappa
    pairs, count = np.unique(np.stack([np.asarray(y), np.asarray(n)], axis=1), axis=0, return_counts=True)
    out = np.log(1.5) - 2.5 * np.log(kappa) + log_mu + log_1mu + v - count.sum() * betaln(a, b)
    for (yg, ng), c in zip(pairs, count):
        out = out + c * betaln(a + yg, b + (ng - yg))
    return out


def grid_posterior(y: np.ndarray, n: np.ndarray, n_draws: int, rng: np.random.Generator,
                   points: int = GRID_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Draws of (μ, κ) from the exact posterior by quadrature on a grid.

    The log density (:func:`log_posterior`) is evaluated on ``points × points`` over :data:`GRID_BOX`; the box
    then shrinks to the cells within :data:`GRID_DROP` of the maximum (plus one cell on each side) and the grid
    is evaluated again, until that region spans at least half of the grid on both axes (so the mass is
    covered by more than ``points / 2`` cells each way). Draws pick cells in proportion to their density and a
    uniform point inside the cell (midpoint rule). Returns ``(mu, kappa)`` arrays of ``n_draws``.
    """
    lo = np.array([GRID_BOX[0][0], GRID_BOX[1][0]])
    hi = np.array([GRID_BOX[0][1], GRID_BOX[1][1]])
    for _ in range(12):
        U, V = np.linspace(lo[0], hi[0], points), np.linspace(lo[1], hi[1], points)
        lp = log_posterior(U[:, None], V[None, :], y, n)
        lp[~np.isfinite(lp)] = -np.inf
        keep = lp > lp.max() - GRID_DROP
        iu, jv = np.flatnonzero(keep.any(axis=1)), np.flatnonzero(keep.any(axis=0))
        if iu[-1] - iu[0] >= points // 2 and jv[-1] - jv[0] >= points // 2:
            break
        step = np.array([U[1] - U[0], V[1] - V[0]])
        lo = np.maximum(np.array([U[iu[0]], V[jv[0]]]) - step, [GRID_BOX[0][0], GRID_BOX[1][0]])
        hi = np.minimum(np.array([U[iu[-1]], V[jv[-1]]]) + step, [GRID_BOX[0][1], GRID_BOX[1][1]])
    w = np.exp(lp - lp.max()).ravel()
    cell = rng.choice(w.size, size=n_draws, p=w / w.sum())
    du, dv = U[1] - U[0], V[1] - V[0]
    u = U[cell // points] + (rng.random(n_draws) - 0.5) * du
    v = V[cell % points] + (rng.random(n_draws) - 0.5) * dv
    return 1.0 / (1.0 + np.exp(-u)), 1.0 + np.exp(v)


def _nuts(y, n, draws, tune, chains, seed):
    """(μ draws, κ draws, divergences) from PyMC's NUTS on the marginal Beta-Binomial model."""
    # pymc is heavy (seconds to import): imported only when NUTS is asked for
    with warnings.catch_warnings():  # pip-installed PyTensor warns once that it found no BLAS; harmless here
        warnings.filterwarnings("ignore", message=".*could not link to a BLAS.*")
        import pymc as pm

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
    return (post["mu"].to_numpy().reshape(-1), post["kappa"].to_numpy().reshape(-1),
            int(idata.sample_stats["diverging"].to_numpy().sum()))


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
