"""Hierarchical Beta-Binomial rates: recovery of known simulated group rates, and input checks."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesbench.analyses.funnel.bayes import pooled_rates, win_counts


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
