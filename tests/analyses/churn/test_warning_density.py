"""The early-warning model's numpy log-density and its nutpie fit against the PyMC model (issue #13, speed).

:func:`salesbench.analyses.churn.warning.warning_density` is the posterior of
``EarlyWarningModel.build_model`` written in numpy: its value must equal PyMC's log-density on the same
unconstrained (value-variable) point, its gradient the derivative, and NUTS on it (nutpie) must give the
posterior PyMC's NUTS gives, within Monte Carlo error.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesbench.analyses.churn import warning as w
from salesbench.core import nuts

INDS = ["order_decline", "complaints", "days_overdue"]


def _frame(n=400, seed=3):
    """Customers in three regions with discrete indicators (many share a row), the usual-rate control and a
    churn label that depends on order decline and days overdue."""
    rng = np.random.default_rng(seed)
    f = pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(n)],
        "region": rng.choice(["East", "North", "West"], n),
        "order_decline": rng.integers(-2, 3, n) / 2.0,
        "complaints": rng.integers(0, 3, n).astype(float),
        "days_overdue": rng.choice([0.0, 0.0, 3.5, 12.0, 40.25], n),
        "usual_rate": np.log(rng.integers(0, 4, n) + 0.5),
    })
    lin = f["order_decline"] + 0.03 * f["days_overdue"] - 0.5 * f["usual_rate"] - 1
    f["churned"] = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(int)
    return f


def _pymc_point(theta, R, K):
    """θ in the density's order → PyMC's value variables."""
    return {"mu_alpha": theta[0], "sigma_alpha_log__": theta[1], "eps": theta[2:2 + R],
            "mu_beta": theta[2 + R:2 + R + K], "sigma_beta_log__": theta[2 + R + K:2 + R + 2 * K],
            "eta": theta[2 + R + 2 * K:].reshape(R, K)}


@pytest.fixture(scope="module")
def frame():
    return _frame()


def test_density_equals_pymc_log_density_and_gradient(frame):
    ew = w.EarlyWarningModel(INDS)
    model = ew.build_model(frame)
    density = w.EarlyWarningModel(INDS).density(frame)
    R, K = len(ew.regions_), len(ew.indicators_)
    assert (R, K) == (3, 4) and density.n_dim == 2 + R + 2 * K + R * K  # the control joins the indicators
    assert [v.name for v in model.value_vars] == ["mu_alpha", "sigma_alpha_log__", "eps", "mu_beta",
                                                  "sigma_beta_log__", "eta"]
    rng = np.random.default_rng(0)
    for jacobian in (True, False):
        logp = model.compile_logp(jacobian=jacobian, mode="FAST_COMPILE")
        dlogp = model.compile_dlogp(jacobian=jacobian, mode="FAST_COMPILE")
        for _ in range(3):
            theta = rng.normal(size=density.n_dim)
            value, grad = density.logp(theta, jacobian)
            point = _pymc_point(theta, R, K)
            # PyTensor computes ln 1.5 and ln 0.5 of the priors in float32 (it downcasts exact Python
            # constants), an absolute difference of 1.9e-8 in a value of ~-600: far inside 1e-8 relative
            assert value == pytest.approx(float(logp(point)), rel=1e-8)
            np.testing.assert_allclose(grad, dlogp(point), rtol=1e-9, atol=1e-9)


def test_gradient_matches_finite_differences(frame):
    density = w.EarlyWarningModel(INDS).density(frame)
    rng = np.random.default_rng(1)
    h = 1e-6
    for jacobian in (True, False):
        theta = density.start + rng.normal(size=density.n_dim) * 0.7
        _, grad = density.logp(theta, jacobian)
        fd = np.array([(density.logp(theta + h * e, jacobian)[0] - density.logp(theta - h * e, jacobian)[0]) / (2 * h)
                       for e in np.eye(density.n_dim)])
        np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-5)


def test_density_is_finite_far_out(frame):
    """A huge linear predictor (early tuning can propose one) gives a finite log-density and gradient:
    softplus and σ are evaluated without overflow."""
    density = w.EarlyWarningModel(INDS).density(frame)
    theta = np.full(density.n_dim, 4.0)  # σ = e^4, |logit| in the hundreds
    value, grad = density.logp(theta, True)
    assert np.isfinite(value) and np.all(np.isfinite(grad)) and value < -1e4


def test_expand_has_pymc_names_shapes_and_formulas(frame):
    ew = w.EarlyWarningModel(INDS)
    density = ew.density(frame)
    R, K = len(ew.regions_), len(ew.indicators_)
    theta = np.random.default_rng(2).normal(size=density.n_dim)
    point = density.expand(theta)
    assert list(point) == ["mu_alpha", "sigma_alpha", "eps", "alpha", "mu_beta", "sigma_beta", "eta", "beta"]
    assert {k: np.shape(v) for k, v in point.items()} == density.shapes
    assert density.shapes["beta"] == (R, K) and density.coords == {"region": ["East", "North", "West"],
                                                                   "indicator": ew.indicators_}
    assert point["sigma_alpha"] == pytest.approx(np.exp(theta[1]))
    np.testing.assert_allclose(point["alpha"], point["mu_alpha"] + point["sigma_alpha"] * point["eps"])
    np.testing.assert_allclose(point["beta"], point["mu_beta"] + point["sigma_beta"] * point["eta"])


def test_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="engine must be one of auto, numpy, pymc, not 'stan'"):
        w.EarlyWarningModel(engine="stan")


def test_nutpie_engine_without_nutpie_says_so(frame, monkeypatch):
    monkeypatch.setattr(nuts, "available", lambda: False)
    with pytest.raises(RuntimeError, match=r"engine='numpy' needs the nutpie package \(pip install nutpie\)"):
        w.EarlyWarningModel(INDS, engine="numpy").fit(frame)


@pytest.fixture(scope="module")
def fits(frame, request):
    """The same model fitted by nutpie (``auto`` with nutpie installed) and by PyMC (``auto`` without it)."""
    assert nuts.available(), "nutpie is a dependency of salesbench (pyproject.toml)"
    fast = w.EarlyWarningModel(INDS, seed=7).fit(frame)
    mp = pytest.MonkeyPatch()
    mp.setattr(nuts, "available", lambda: False)
    try:
        ref = w.EarlyWarningModel(INDS, seed=7).fit(frame)
    finally:
        mp.undo()
    return fast, ref


@pytest.mark.slow
def test_nutpie_posterior_agrees_with_pymc(fits):
    """The posterior means of the company-wide effects agree within 3.5 Monte Carlo standard errors of their
    difference (both fits 2 × (500 + 500) draws, MCSE from each fit's ESS; at 3.5 four agreeing effects fail
    together with probability about 0.2%, and the seeds are fixed, so the outcome is reproducible).

    Their posterior SDs are only checked to 30%: from 1,000 draws the SD of a hierarchical mean is noisy
    (measured on this frame: 0.176, 0.193 and 0.218 for mu_beta[usual_rate] in three short runs, 0.203 (nutpie)
    and 0.209 (PyMC) from 2 × 4,000 draws each). The log-density itself is pinned by the test above."""
    import arviz as az

    fast, ref = fits
    assert (fast.engine_, ref.engine_) == ("numpy", "pymc")
    assert (fast.summary()["engine"], ref.summary()["engine"]) == ("numpy", "pymc")  # in results.json
    assert fast.idata_.posterior["mu_beta"].shape == ref.idata_.posterior["mu_beta"].shape == (2, 500, 4)
    s = [az.summary(m.idata_, var_names=["mu_beta"], round_to="none") for m in (fast, ref)]
    assert min(s[0]["ess_bulk"].min(), s[1]["ess_bulk"].min()) >= 250
    z = (s[0]["mean"] - s[1]["mean"]) / np.hypot(s[0]["mcse_mean"], s[1]["mcse_mean"])
    assert np.all(np.abs(z) < 3.5), z
    np.testing.assert_allclose(s[0]["sd"], s[1]["sd"], rtol=0.3)
    assert fast.r_hat_max_ < 1.02 and ref.r_hat_max_ < 1.02
    assert fast.divergences_ <= 5 and fast.auc_ == pytest.approx(ref.auc_, abs=0.01)
    # the order-decline and days-overdue effects the data were drawn with are found by both
    for m in (fast, ref):
        eff = m.effects_.set_index("indicator")
        assert eff.loc["order_decline", "lo"] > 0 and eff.loc["days_overdue", "lo"] > 0


@pytest.mark.slow
def test_fit_tables_equal_arviz_summary(fits):
    """``effects_``, ``region_effects_`` and ``r_hat_max_`` (from az.hdi and az.rhat) are what az.summary gives."""
    import arviz as az

    fast = fits[0]
    s = az.summary(fast.idata_, var_names=["mu_beta"], hdi_prob=0.94, round_to="none")
    e = fast.effects_
    assert list(e["indicator"]) == fast.indicators_
    np.testing.assert_allclose(e["mean"], s["mean"], rtol=1e-12)
    np.testing.assert_array_equal(e["lo"], s["hdi_3%"])
    np.testing.assert_array_equal(e["hi"], s["hdi_97%"])
    np.testing.assert_array_equal(e["r_hat"], s["r_hat"])
    rs = az.summary(fast.idata_, var_names=["beta"], hdi_prob=0.94, round_to="none")
    re = fast.region_effects_
    keys = [f"beta[{r}, {k}]" for r, k in zip(re["region"], re["indicator"])]
    assert len(re) == 12 and re[["region", "indicator"]].drop_duplicates().shape[0] == 12
    np.testing.assert_allclose(re["mean"], rs.loc[keys, "mean"], rtol=1e-12)
    np.testing.assert_array_equal(re["lo"], rs.loc[keys, "hdi_3%"])
    np.testing.assert_array_equal(re["hi"], rs.loc[keys, "hdi_97%"])
    full = az.summary(fast.idata_, var_names=w.POPULATION, round_to="none")
    assert fast.r_hat_max_ == full["r_hat"].max()
    assert fast.divergences_ == int(fast.idata_.sample_stats["diverging"].sum())


def test_the_fit_in_a_forked_child_equals_the_fit_here(frame, monkeypatch):
    """Churn.fit fits the early-warning model in a forked child (salesbench.core.forked) while it fits the
    purchase model: the same seeded numbers come back as from a fit in this process."""
    from salesbench.core import forked

    model = w.EarlyWarningModel(INDS, draws=60, tune=60, seed=4)
    there = forked.submit(w._fitted, model, frame, pd.Timestamp("2025-01-01"))
    assert there.forked
    got, reason, as_of = there.result()
    here = w.EarlyWarningModel(INDS, draws=60, tune=60, seed=4).fit(frame)
    assert reason is None and as_of == pd.Timestamp("2025-01-01")
    pd.testing.assert_frame_equal(got.effects_, here.effects_, check_exact=True)
    assert np.array_equal(got.churn_prob_, here.churn_prob_)
