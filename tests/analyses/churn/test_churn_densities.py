"""The numpy densities of the purchase and spend models against the PyMC models they replace.

:mod:`salesbench.analyses.churn.densities` must be the same joint density as
:func:`salesbench.analyses.churn.clv.sufficient_model` (itself checked against pymc-marketing's per-customer
models in test_churn_compress.py), its gradient must be exact, and a MAP fit on it must land on PyMC's
``find_MAP`` point. The NUTS posteriors of both engines are compared in test_churn_compress.py
(``test_compressed_nuts_posterior_agrees_*``: numpy + nutpie against pymc-marketing per customer).
"""
from __future__ import annotations

import numpy as np
import pytest

import salesbench as sb
from salesbench.analyses.churn import clv as churn
from salesbench.analyses.churn import densities as dens
from salesbench.core import nuts
from salesbench.report.params import repo_root

CAL_END = "1997-09-30"


@pytest.fixture(scope="module")
def cdnow_rfm(cdnow_sample):
    ds = sb.open_data(repo_root() / "params" / "sources" / "cdnow_sample.yaml")
    return churn.rfm_table(ds.table("orders"), CAL_END, "W")


def _constrained_logp(pm_model):
    """PyMC's log-density of ``pm_model`` as a function of the constrained parameters (no transforms)."""
    from pymc.model.transform.conditioning import remove_value_transforms

    plain = remove_value_transforms(pm_model)
    f = plain.compile_logp(mode="FAST_COMPILE")
    return lambda point: float(f({k: point[k] for k in plain.initial_point()}))


def _finite_difference(density, theta, jacobian, h=1e-6):
    return np.array([(density.logp(theta + h * e, jacobian)[0] - density.logp(theta - h * e, jacobian)[0]) / (2 * h)
                     for e in np.eye(len(theta))])


@pytest.mark.parametrize("model", ["bg_nbd", "mbg_nbd"])
@pytest.mark.parametrize("priors", ["default", "flat"])
def test_purchase_density_equals_pymc_and_its_gradient_is_exact(cdnow_rfm, model, priors):
    rows, counts, _ = churn.distinct_triples(cdnow_rfm)
    d = dens.purchase_density(model, rows["frequency"], rows["recency"], rows["T"], counts, priors)
    tx = churn._model_class(model)(model_config=churn.model_config(model, priors))
    tx.build_model(data=rows)
    ref = _constrained_logp(churn.sufficient_model(model, tx.model_config, rows, counts))
    rng = np.random.default_rng(3)
    for theta in (d.start, *(d.start + rng.normal(0, 0.7, d.n_dim) for _ in range(3))):
        # jacobian=False is the density of the constrained parameters: PyMC's value exactly
        assert d.logp(theta, False)[0] == pytest.approx(ref(d.expand(theta)), rel=1e-10)
        for jac in (True, False):
            g = d.logp(theta, jac)[1]
            assert g == pytest.approx(_finite_difference(d, theta, jac), rel=1e-5, abs=1e-4)


def test_spend_density_equals_pymc_and_its_gradient_is_exact(cdnow_rfm):
    from pymc_marketing.clv import GammaGammaModel

    sp = cdnow_rfm[(cdnow_rfm["frequency"] > 0) & (cdnow_rfm["monetary_value"] > 0)]
    sp = sp[["customer_id", "frequency", "monetary_value"]].reset_index(drop=True)
    d = dens.spend_density(sp["frequency"], sp["monetary_value"])
    gg = GammaGammaModel()
    gg.build_model(data=sp)
    ref = _constrained_logp(churn.sufficient_model("gamma_gamma", gg.model_config, sp, np.ones(len(sp))))
    for shift in (0.0, 0.5, -0.4):
        theta = d.start + shift
        assert d.logp(theta, False)[0] == pytest.approx(ref(d.expand(theta)), rel=1e-10)
        assert d.logp(theta, True)[1] == pytest.approx(_finite_difference(d, theta, True), rel=1e-5, abs=1e-4)


@pytest.mark.parametrize("model,priors", [("bg_nbd", "flat"), ("mbg_nbd", "default")])
def test_numpy_map_lands_on_pymc_find_map(cdnow_rfm, model, priors):
    kw = dict(model=model, fit_method="map", priors=priors)
    fast, ref = churn.ChurnModel(**kw).fit(cdnow_rfm), churn.ChurnModel(**kw, engine="pymc").fit(cdnow_rfm)
    assert (fast.engine_, ref.engine_) == ("numpy", "pymc")
    for mine, theirs in ((fast.params_, ref.params_), (fast.spend_params_, ref.spend_params_)):
        a, b = mine.set_index("param")["mean"], theirs.set_index("param")["mean"]
        assert a.to_numpy() == pytest.approx(b[a.index].to_numpy(), rel=2e-4)


def test_engine_is_checked_and_falls_back_without_nutpie(cdnow_rfm, monkeypatch):
    with pytest.raises(ValueError, match="engine must be one of auto, numpy, pymc"):
        churn.ChurnModel(engine="jax")
    with pytest.raises(ValueError, match="engine='numpy' covers bg_nbd, mbg_nbd"):
        churn.ChurnModel(model="pareto_nbd", fit_method="map", engine="numpy").fit(cdnow_rfm.head(200))
    assert churn.ChurnModel(model="pareto_nbd", fit_method="map")._engine() == "pymc"
    assert churn.ChurnModel(fit_method="advi")._engine() == "pymc"
    assert churn.ChurnModel(compress=False)._engine() == "pymc"
    monkeypatch.setattr(nuts, "available", lambda: False)
    assert churn.ChurnModel(fit_method="mcmc")._engine() == "pymc"
    assert churn.ChurnModel(fit_method="map")._engine() == "numpy"  # MAP needs only scipy


def test_frequency_must_be_whole_and_spend_positive():
    with pytest.raises(ValueError, match="whole number"):
        dens.purchase_density("mbg_nbd", [1.5], [1.0], [2.0], [1])
    with pytest.raises(ValueError, match="positive mean spend"):
        dens.spend_density([1.0, 2.0], [10.0, 0.0])


def test_nuts_draws_are_reproducible_and_start_near_the_mode(cdnow_rfm):
    rows, counts, _ = churn.distinct_triples(cdnow_rfm)
    d = dens.purchase_density("bg_nbd", rows["frequency"], rows["recency"], rows["T"], counts, "flat")
    a, b = (nuts.sample(d, draws=60, tune=60, chains=2, seed=9, cores=1).posterior for _ in range(2))
    assert np.array_equal(a["r"].values, b["r"].values)
    assert a.sizes["chain"] == 2 and a.sizes["draw"] == 60
    assert float(a["r"].mean()) == pytest.approx(0.243, rel=0.15)  # the published MLE, well inside the posterior
