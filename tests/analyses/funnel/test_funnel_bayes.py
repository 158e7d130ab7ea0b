"""Hierarchical Beta-Binomial rates: recovery of known simulated group rates, the grid posterior against scipy's
densities, dense quadrature and NUTS, and input checks."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesbench.analyses.funnel.bayes import grid_posterior, log_posterior, pooled_rates, win_counts


@pytest.fixture(scope="module")
def simulated():
    """40 groups with true rates θ_g ~ Beta(12, 28) (mean 0.3, κ = 40) and 5–79 trials each."""
    rng = np.random.default_rng(1)
    groups = 40
    theta = rng.beta(12, 28, groups)
    n = rng.integers(5, 80, groups)
    y = rng.binomial(n, theta)
    frame = pd.DataFrame({"g": [f"g{i:02d}" for i in range(groups)], "y": y, "n": n})
    fit = pooled_rates(frame, "g", "y", "n", draws=300, tune=300, chains=2, seed=0)
    return frame, theta, fit


def test_recovers_population_and_beats_raw_rates(simulated):
    frame, theta, fit = simulated
    tab = fit.table.set_index("g").loc[frame["g"]]
    assert fit.divergences <= 5
    assert fit.population_mean == pytest.approx(0.3, abs=0.04)
    raw_rmse = np.sqrt(np.mean((frame["y"] / frame["n"] - theta) ** 2))
    pooled_rmse = np.sqrt(np.mean((tab["mean"].to_numpy() - theta) ** 2))
    assert pooled_rmse < 0.75 * raw_rmse  # partial pooling removes noise (≈ 0.05 vs ≈ 0.10 here)
    covered = np.mean((tab["lo"].to_numpy() <= theta) & (theta <= tab["hi"].to_numpy()))
    assert covered >= 0.8  # nominal 90% intervals
    # small groups move more towards the mean than large ones
    small, large = tab["trials"] < 20, tab["trials"] > 60
    assert tab.loc[small, "shrinkage"].mean() > tab.loc[large, "shrinkage"].mean()
    assert ((tab["lo"] <= tab["mean"]) & (tab["mean"] <= tab["hi"])).all()


def test_table_is_sorted_and_complete(simulated):
    frame, _, fit = simulated
    assert len(fit.table) == len(frame)
    assert fit.table["mean"].is_monotonic_decreasing
    assert fit.theta.shape == (600, len(frame))


def test_input_checks():
    bad = pd.DataFrame({"g": ["a"], "y": [5], "n": [3]})
    with pytest.raises(ValueError, match="between 0 and trials"):
        pooled_rates(bad, "g", "y", "n")
    with pytest.raises(ValueError, match="at least one group"):
        pooled_rates(pd.DataFrame({"g": ["a"], "y": [0], "n": [0]}), "g", "y", "n")


def test_win_counts():
    t = pd.DataFrame({"rep_id": ["r1", "r2"], "won": [2, 0], "lost": [3, 4]})
    out = win_counts(t, "rep_id")
    assert out.to_dict("list") == {"rep_id": ["r1", "r2"], "won": [2, 0], "closed": [5, 4]}


def test_log_posterior_is_scipys_densities_plus_the_jacobian():
    """Beta(1,1) prior on μ, Pareto(1, 1.5) on κ, Beta-Binomial likelihood per group (equal groups merged), and the
    Jacobian of u = logit μ, v = log(κ − 1): equal to scipy's log densities up to one constant."""
    from scipy import stats

    y, n = np.array([3, 0, 7, 3, 12]), np.array([10, 4, 7, 10, 40])  # groups 1 and 4 equal: counted twice
    rng = np.random.default_rng(0)
    u, v = rng.normal(0, 2, 50), rng.normal(2, 3, 50)
    mu, kappa = 1 / (1 + np.exp(-u)), 1 + np.exp(v)
    want = (stats.beta.logpdf(mu, 1, 1) + stats.pareto.logpdf(kappa, 1.5)
            + stats.betabinom.logpmf(y[None, :], n[None, :], (mu * kappa)[:, None], ((1 - mu) * kappa)[:, None]).sum(1)
            + np.log(mu) + np.log1p(-mu) + v)
    diff = log_posterior(u, v, y, n) - want
    assert np.ptp(diff) < 1e-8


def test_grid_draws_match_dense_quadrature():
    """Posterior means of μ and κ from the refined grid's draws against a dense quadrature over the whole box, on
    a heavy-tailed case (three groups: κ's posterior follows the Pareto tail) and on the 40-group simulation."""
    rng = np.random.default_rng(1)
    theta = rng.beta(12, 28, 40)
    n40 = rng.integers(5, 80, 40)
    cases = [(np.array([447, 458, 298]), np.array([2790, 3806, 2772]), (-15, 15), (-10, 30)),  # the whole box
             (rng.binomial(n40, theta), n40, (-3, 1), (-2, 9))]  # |u − mode| > 13 sd, v's mass well inside
    for y, n, ub, vb in cases:
        U, V = np.linspace(*ub, 1000), np.linspace(*vb, 1000)
        lp = log_posterior(U[:, None], V[None, :], y, n)
        w = np.exp(lp - lp.max())
        w /= w.sum()
        mu_q, kappa_q = (w.sum(1) * (1 / (1 + np.exp(-U)))).sum(), (w.sum(0) * (1 + np.exp(V))).sum()
        mu_d, kappa_d = grid_posterior(y, n, 20000, np.random.default_rng(2))
        assert abs(mu_d.mean() - mu_q) < 4 * mu_d.std() / np.sqrt(len(mu_d))
        assert abs(kappa_d.mean() - kappa_q) < 4 * kappa_d.std() / np.sqrt(len(kappa_d))


def test_grid_and_nuts_agree(simulated):
    """The default (grid) and PyMC's NUTS (the method before issue #13) give the same posterior within Monte Carlo
    error: μ, κ, and every group's mean and 90% interval bounds."""
    frame = simulated[0]
    grid = pooled_rates(frame, "g", "y", "n", draws=2000, chains=2, seed=0)
    nuts = pooled_rates(frame, "g", "y", "n", draws=300, tune=300, chains=2, seed=0, method="nuts")
    assert grid.divergences == 0 and nuts.divergences <= 5
    def se(x, ess_share=1.0):  # Monte Carlo standard error of a mean (NUTS draws counted at a quarter)
        return x.std(axis=0) / np.sqrt(len(x) * ess_share)
    for a, b in ((grid.mu, nuts.mu), (grid.kappa, nuts.kappa)):
        assert abs(a.mean() - b.mean()) < 4 * np.hypot(se(a), se(b, 0.25))
    order = grid.table["g"]
    cols = {g: i for i, g in enumerate(frame["g"])}
    ga, na = grid.theta[:, [cols[g] for g in order]], nuts.theta[:, [cols[g] for g in order]]
    err = np.abs(ga.mean(0) - na.mean(0)) / np.hypot(se(ga), se(na, 0.25))
    assert err.max() < 4.5, err.max()
    g, m = grid.table.set_index("g"), nuts.table.set_index("g").loc[order]
    assert np.max(np.abs(g[["lo", "hi"]].to_numpy() - m[["lo", "hi"]].to_numpy())) < 0.04
    with pytest.raises(ValueError, match="method"):
        pooled_rates(frame, "g", "y", "n", method="advi")


def test_default_fit_imports_no_pymc():
    """The pooled rates of a report need neither PyMC nor PyTensor (no import, no compilation on a cold cache)."""
    import subprocess
    import sys

    code = ("import sys, pandas as pd; from salesbench.analyses.funnel.bayes import pooled_rates; "
            "pooled_rates(pd.DataFrame({'g': ['a', 'b'], 'y': [1, 5], 'n': [4, 9]}), 'g', 'y', 'n'); "
            "print(sorted(m for m in ('pymc', 'pytensor') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
