"""The purchase models fitted and predicted on distinct (frequency, recency, T) triples.

A customer enters the BG/NBD, MBG/NBD and Pareto/NBD likelihoods only through (x, t_x, T), so
the log-density of the compressed model (one row per distinct triple, weighted by its count) must
equal the per-customer one exactly, its NUTS posterior must agree within Monte Carlo error, and
predictions per triple joined back to customers must equal predictions per customer.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import salesbench as sb
from salesbench.analyses.churn import clv as churn
from salesbench.report.params import repo_root

CAL_END = "1997-09-30"


@pytest.fixture(scope="module")
def cdnow_rfm(cdnow_sample):
    ds = sb.open_data(repo_root() / "params" / "sources" / "cdnow_sample.yaml")
    return churn.rfm_table(ds.table("orders"), CAL_END, "W")


@pytest.fixture(scope="module")
def demo_rfm(small_demo):
    return churn.rfm_table(sb.open_data(small_demo).table("orders"), None, "W")


def test_distinct_triples_rebuild_every_customer(cdnow_rfm):
    rows, counts, index = churn.distinct_triples(cdnow_rfm)
    assert len(rows) == 1016 and counts.sum() == len(cdnow_rfm) == 2357  # 2.3 customers per triple at weeks
    back = rows.iloc[index][list(churn.TRIPLE)].to_numpy()
    np.testing.assert_array_equal(back, cdnow_rfm[list(churn.TRIPLE)].to_numpy())
    assert rows[list(churn.TRIPLE)].duplicated().sum() == 0


@pytest.mark.parametrize("model", ["bg_nbd", "mbg_nbd", "pareto_nbd"])
def test_weighted_log_density_equals_per_customer(cdnow_rfm, model):
    """Same joint log-density (priors + likelihood) at any parameter point, to float precision."""
    cls = churn._model_class(model)
    full = cls()
    full.build_model(data=cdnow_rfm[["customer_id", *churn.TRIPLE]])
    rows, counts, _ = churn.distinct_triples(cdnow_rfm)
    comp = cls()
    comp.build_model(data=rows)
    churn._weight_likelihood(comp.model, counts)
    f_full, f_comp = (m.model.compile_logp(mode="FAST_COMPILE") for m in (full, comp))
    point = full.model.initial_point()
    shifted = {k: v + 0.3 for k, v in point.items()}
    for p in (point, shifted):
        assert f_comp(p) == pytest.approx(f_full(p), rel=1e-10, abs=1e-8)
    assert f_full(shifted) != pytest.approx(f_full(point))


@pytest.mark.parametrize("model,priors", [("bg_nbd", "default"), ("mbg_nbd", "default"), ("bg_nbd", "flat"),
                                          ("mbg_nbd", "flat")])
def test_sufficient_statistics_log_density_equals_pymc_marketing(cdnow_rfm, model, priors):
    """The likelihood written on sufficient statistics (per distinct x, then per triple) has exactly the
    joint log-density of pymc-marketing's per-customer model, at points away from the initial one."""
    full = churn._model_class(model)(model_config=churn.model_config(model, priors))
    full.build_model(data=cdnow_rfm[["customer_id", *churn.TRIPLE]])
    rows, counts, _ = churn.distinct_triples(cdnow_rfm)
    fast = churn.sufficient_model(model, full.model_config, rows, counts)
    f_full, f_fast = (m.compile_logp(mode="FAST_COMPILE") for m in (full.model, fast))
    point = full.model.initial_point()
    assert set(fast.initial_point()) == set(point)  # same free variables and transforms
    rng = np.random.default_rng(1)
    for p in (point, *({k: v + rng.normal(0, 0.4, np.shape(v)) for k, v in point.items()} for _ in range(3))):
        assert f_fast(p) == pytest.approx(f_full(p), rel=1e-10, abs=1e-8)


def test_sufficient_statistics_gamma_gamma_equals_pymc_marketing(cdnow_rfm):
    from pymc_marketing.clv import GammaGammaModel

    sp = cdnow_rfm[(cdnow_rfm["frequency"] > 0) & (cdnow_rfm["monetary_value"] > 0)]
    sp = sp[["customer_id", "frequency", "monetary_value"]].reset_index(drop=True)
    full = GammaGammaModel()
    full.build_model(data=sp)
    fast = churn.sufficient_model("gamma_gamma", full.model_config, sp, np.ones(len(sp)))
    f_full, f_fast = (m.compile_logp(mode="FAST_COMPILE") for m in (full.model, fast))
    point = full.model.initial_point()
    for shift in (0.0, 0.3, -0.5):
        p = {k: v + shift for k, v in point.items()}
        assert f_fast(p) == pytest.approx(f_full(p), rel=1e-10, abs=1e-8)


def _agree(a: churn.ChurnModel, b: churn.ChurnModel, names) -> None:
    """Means within 4 Monte Carlo standard errors; 3% / 97% quantiles within 4 quantile MCSEs."""
    import arviz as az

    pa, pb = a.tx_idata_.posterior, b.tx_idata_.posterior
    for name in names:
        for prob in (None, 0.03, 0.97):
            method = "mean" if prob is None else "quantile"
            kw = {} if prob is None else {"prob": prob}
            ea = float(az.mcse(pa, var_names=[name], method=method, **kw)[name])
            eb = float(az.mcse(pb, var_names=[name], method=method, **kw)[name])
            va = float(pa[name].mean() if prob is None else pa[name].quantile(prob))
            vb = float(pb[name].mean() if prob is None else pb[name].quantile(prob))
            assert abs(va - vb) < 4 * np.hypot(ea, eb), (name, prob, va, vb, ea, eb)


def test_compressed_nuts_posterior_agrees_on_cdnow(cdnow_rfm):
    kw = dict(model="bg_nbd", fit_method="mcmc", draws=250, tune=150, chains=2, spend=False, max_draws=100, seed=5)
    comp = churn.ChurnModel(**kw).fit(cdnow_rfm)
    full = churn.ChurnModel(**kw, compress=False).fit(cdnow_rfm)
    assert comp.n_rows_ == 1016 and full.n_rows_ == 2357
    assert (comp.engine_, full.engine_) == ("numpy", "pymc")  # numpy density + nutpie against pymc-marketing
    _agree(comp, full, churn.MODEL_PARAMS["bg_nbd"])


def test_compressed_nuts_posterior_agrees_on_small_demo(demo_rfm):
    kw = dict(model="mbg_nbd", fit_method="mcmc", draws=250, tune=150, chains=2, spend=False, max_draws=100, seed=5)
    comp = churn.ChurnModel(**kw).fit(demo_rfm)
    full = churn.ChurnModel(**kw, compress=False).fit(demo_rfm)
    assert comp.n_rows_ < full.n_rows_ == len(demo_rfm)
    assert (comp.engine_, full.engine_) == ("numpy", "pymc")
    _agree(comp, full, churn.MODEL_PARAMS["mbg_nbd"])


def test_predictions_per_triple_equal_per_customer(cdnow_rfm):
    rfm = cdnow_rfm.head(400)
    m = churn.ChurnModel(model="bg_nbd", fit_method="mcmc", draws=40, tune=40, chains=2, max_draws=40, seed=2, spend=False,
                         chunk_size=150).fit(rfm)
    comp = m.predict(rfm, horizon=26, clv_months=3)
    comp_totals = m.totals_
    m.compress = False
    full = m.predict(rfm, horizon=26, clv_months=3)
    pd.testing.assert_frame_equal(comp, full, rtol=1e-12, atol=1e-12)
    for name, tot in comp_totals.items():
        for k, v in tot.items():
            assert v == pytest.approx(m.totals_[name][k], rel=1e-12) if isinstance(v, float) else v == m.totals_[name][k]


def test_sampler_choice_checked_and_falls_back(monkeypatch):
    import importlib.util

    with pytest.raises(ValueError, match="sampler must be one of pymc, nutpie"):
        churn.ChurnModel(sampler="numpyro")
    assert churn._nuts_sampler("pymc") == "pymc"
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "nutpie" else real(name, *a))
    assert churn._nuts_sampler("nutpie") == "pymc"
    kw = churn._fit_kwargs("mcmc", 10, 10, 2, 1, 100, None, churn._nuts_sampler("nutpie"))
    assert "nuts_sampler" not in kw


@pytest.mark.parametrize("model, par", [
    ("bg_nbd", {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}),
    ("mbg_nbd", {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}),
    ("pareto_nbd", {"r": 0.55, "alpha": 10.58, "s": 0.61, "beta": 11.67}),
])
def test_vectorised_frequency_simulation_matches_model_mean(model, par):
    """The PPC's vectorised simulation has the model's E[X(T)] for a new customer (pymc-marketing's formula)."""
    import arviz as az
    import xarray as xr

    from salesbench.analyses.churn import predictive as cp

    T = np.array([10.0, 39.0, 78.0])
    sims = cp.simulate_frequency(model, {k: np.full(40, v) for k, v in par.items()}, np.repeat(T, 5000),
                                 np.random.default_rng(0)).reshape(40, 3, 5000)
    m = churn._model_class(model)()
    m.build_model(data=pd.DataFrame({"customer_id": ["0", "1"], "frequency": [0.0, 2.0], "recency": [0.0, 5.0],
                                     "T": [10.0, 10.0]}))
    m.idata = az.InferenceData(posterior=xr.Dataset({k: (("chain", "draw"), [[v]]) for k, v in par.items()}))
    for i, t in enumerate(T):
        want = float(np.asarray(m.expected_purchases_new_customer(
            data=pd.DataFrame({"customer_id": ["0"], "t": [t]}), t=t)).ravel()[0])
        got = sims[:, i, :]
        assert abs(got.mean() - want) < 4 * got.std() / np.sqrt(got.size), (t, got.mean(), want)


# --------------------------------------------------------------------------- early-warning model (issue #13)
def _warning_frame(n=300, seed=3):
    rng = np.random.default_rng(seed)
    f = pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(n)],
        "region": rng.choice(["East", "North", "West"], n),
        "order_decline": rng.integers(-2, 3, n) / 2.0,  # discrete: many customers share a row
        "complaints": rng.integers(0, 3, n).astype(float),
        "days_overdue": rng.choice([0.0, 0.0, 3.5, 12.0, 40.25], n),
    })
    f["churned"] = (rng.random(n) < 1 / (1 + np.exp(-(f["order_decline"] + 0.03 * f["days_overdue"] - 1)))).astype(int)
    return f


def test_warning_covariate_groups_count_every_customer():
    from salesbench.analyses.churn import warning as w

    f = _warning_frame()
    Z = f[["order_decline", "complaints", "days_overdue"]].to_numpy(float)
    regions, g = np.unique(f["region"], return_inverse=True)
    rows, churned, n = w.covariate_groups(Z, g, f["churned"].to_numpy())
    assert len(rows) < len(f) and n.sum() == len(f) and churned.sum() == f["churned"].sum()
    assert np.all(churned <= n)
    D = w.region_design(Z, g, len(regions))  # [onehot | Z ⊗ onehot]: times (α, vec β) = α_g + Σ β_g,k z_k
    alpha, beta = np.array([0.1, -0.2, 0.3]), np.arange(9.0).reshape(3, 3) / 10
    np.testing.assert_allclose(D @ np.concatenate([alpha, beta.ravel()]), alpha[g] + (Z * beta[g]).sum(axis=1))


def test_warning_model_log_density_equals_per_customer_bernoulli():
    """The binomial-on-distinct-rows, dense-design model has exactly the per-customer Bernoulli log-density
    of the hierarchical logistic model (docs/churn.md), at random parameter values."""
    import pymc as pm

    from salesbench.analyses.churn import warning as w

    f = _warning_frame()
    ew = w.EarlyWarningModel(["order_decline", "complaints", "days_overdue"])
    fast = ew.build_model(f)
    Z, g, y = ew._Z, ew._g, ew._y
    with pm.Model(coords=fast.coords) as slow:  # the model as written per customer (Gelman & Hill 2007, ch. 14)
        mu_a, sd_a = pm.Normal("mu_alpha", 0, 1.5), pm.HalfNormal("sigma_alpha", 1.0)
        alpha = mu_a + sd_a * pm.Normal("eps", 0, 1, dims="region")
        mu_b, sd_b = pm.Normal("mu_beta", 0, 1, dims="indicator"), pm.HalfNormal("sigma_beta", 0.5, dims="indicator")
        beta = mu_b + sd_b * pm.Normal("eta", 0, 1, dims=("region", "indicator"))
        pm.Bernoulli("churned", logit_p=alpha[g] + (Z * beta[g]).sum(axis=1), observed=y)
    lp_fast, lp_slow = fast.compile_logp(mode="FAST_COMPILE"), slow.compile_logp(mode="FAST_COMPILE")
    rng = np.random.default_rng(0)
    for _ in range(3):
        pt = {"mu_alpha": rng.normal(), "sigma_alpha_log__": rng.normal(), "eps": rng.normal(size=3),
              "mu_beta": rng.normal(size=3), "sigma_beta_log__": rng.normal(size=3), "eta": rng.normal(size=(3, 3))}
        # FAST_COMPILE skips PyTensor's stabilising rewrites (log1p(exp)), hence 1e-9, not 1e-10
        assert lp_fast(pt) == pytest.approx(lp_slow(pt), rel=1e-9)


@pytest.fixture(scope="module")
def spread_fits(cdnow_rfm):
    """BG/NBD and MBG/NBD with Gamma-Gamma at 7 posterior draws around the CDNOW estimates (no fit needed)."""
    import xarray as xr
    from pymc_marketing.clv import GammaGammaModel

    scale = np.linspace(0.8, 1.2, 7)[None, :]

    def post(**par):
        return xr.Dataset({k: (("chain", "draw"), v * scale) for k, v in par.items()})

    out = {}
    for model in churn.SUFFICIENT_MODELS:
        m = churn.ChurnModel(model=model, fit_method="map")
        m.tx_, m.gg_ = churn._model_class(model)(), GammaGammaModel()
        m.tx_.build_model(data=cdnow_rfm[["customer_id", *churn.TRIPLE]])
        m.gg_.build_model(data=cdnow_rfm.loc[cdnow_rfm["frequency"] > 0, ["customer_id", "frequency", "monetary_value"]])
        m.tx_post_ = post(r=0.243, alpha=4.414, a=0.793, b=2.426)
        m.gg_post_ = post(p=6.25, q=3.74, v=15.44).isel(draw=slice(None, None, -1))
        m.n_draws_ = 7
        out[model] = m
    return out


@pytest.mark.parametrize("model", churn.SUFFICIENT_MODELS)
def test_closed_form_predictions_equal_pymc_marketing(spread_fits, cdnow_rfm, model):
    """P(alive), expected purchases, spend and the CLV's 24 monthly flows from the closed forms on distinct
    (x, T) (predictive.p_alive / expected_if_alive / expected_spend) equal pymc-marketing's methods per customer."""
    m = spread_fits[model]
    rfm = cdnow_rfm.iloc[::3].reset_index(drop=True)
    got = m._draws(rfm, horizon=39, clv_months=24, discount_rate=0.1, unit_days=7.0)
    tx, gg = churn._predictor(m.tx_, m.tx_post_), churn._predictor(m.gg_, m.gg_post_)
    data = rfm[["customer_id", *churn.TRIPLE]]
    flat = churn._flat
    np.testing.assert_allclose(got["p_alive"], flat(tx.expected_probability_alive(data=data)), rtol=1e-12)
    np.testing.assert_allclose(got["expected_purchases"], flat(tx.expected_purchases(data=data, future_t=39)),
                               rtol=1e-10)
    spend = flat(gg.expected_customer_spend(data=rfm[["customer_id", "frequency", "monetary_value"]]))
    np.testing.assert_allclose(got["spend"], spend, rtol=1e-12)
    month, d = (365.25 / 12) / 7.0, 1.1 ** (1 / 12) - 1
    cum = [flat(tx.expected_purchases(data=data, future_t=k * month)) for k in range(25)]
    clv = spend * sum((cum[k] - cum[k - 1]) / (1 + d) ** k for k in range(1, 25))
    np.testing.assert_allclose(got["clv"], clv, rtol=1e-9)
    assert np.ptp(got["clv"], axis=0).max() > 0  # the seven draws differ


def test_pairs_shared_across_chunks_equal_one_chunk(spread_fits, cdnow_rfm):
    """Predicting in 12 chunks with the (x, T) expectations computed once for the whole base
    (ChurnModel._shared_pairs) gives the per-customer table of a single chunk."""
    m, rfm = spread_fits["mbg_nbd"], cdnow_rfm.iloc[:600]
    m.chunk_size = 50
    chunked = m.predict(rfm, horizon=39)
    m.chunk_size = len(rfm)
    whole = m.predict(rfm, horizon=39)
    pd.testing.assert_frame_equal(chunked, whole, rtol=1e-12, atol=0)
    assert not hasattr(m, "_pair_memo")


def test_spend_model_mixes_with_dense_mass_matrix_on_default_demo(default_demo):
    """Gamma-Gamma on the default demo's 3,281 spenders with the report's NUTS settings (2 × (1000 + 1000)):
    with PyMC's diagonal mass matrix bulk ESS was 570–615 and R-hat 1.007–1.010 (the report showed a convergence
    problem on one run); the dense one (``clv.NUTS_INIT``) gives about 1,800."""
    from pymc_marketing.clv import GammaGammaModel

    rfm = churn.rfm_table(sb.open_data(default_demo).table("orders"), None, "W")
    spenders = rfm.loc[(rfm["frequency"] > 0) & (rfm["monetary_value"] > 0), ["customer_id", "frequency",
                                                                              "monetary_value"]]
    gg = GammaGammaModel()
    gg.build_model(data=spenders.reset_index(drop=True))
    gg.model = churn.sufficient_model("gamma_gamma", gg.model_config, spenders, np.ones(len(spenders)))
    with churn._quiet():
        gg.fit(method="mcmc", **churn._fit_kwargs("mcmc", 1000, 1000, 2, 42, 0, None))
    s = churn.summarize_params(gg.idata, churn.GG_PARAMS, "mcmc")
    assert len(spenders) == 3281
    assert s["ess_bulk"].min() > 1000 and s["r_hat"].max() < 1.01, s


def test_predictions_split_over_a_forked_child_equal_one_process(cdnow_rfm, monkeypatch):
    """The CLV flows of half of the (x, T) pairs computed in a forked child (salesbench.core.forked) give exactly
    the numbers of one process."""
    m = churn.ChurnModel(model="bg_nbd", fit_method="mcmc", draws=60, tune=60, chains=2, max_draws=100, seed=3,
                         spend=False).fit(cdnow_rfm)
    monkeypatch.setattr(churn, "PARALLEL_MIN_CELLS", 1)
    split = m.predict(cdnow_rfm, horizon=39, clv_months=6)
    split_totals = m.totals_
    monkeypatch.setenv("SALESBENCH_FORK", "0")
    halves_here = m.predict(cdnow_rfm, horizon=39, clv_months=6)
    monkeypatch.setattr(churn, "PARALLEL_MIN_CELLS", 10 ** 12)
    one = m.predict(cdnow_rfm, horizon=39, clv_months=6)
    pd.testing.assert_frame_equal(split, one, check_exact=True)
    pd.testing.assert_frame_equal(halves_here, one, check_exact=True)
    assert split_totals == m.totals_
