"""Churn models on the CDNOW 1/10 sample against the published estimates.

Fader, Hardie & Lee (2005), calibration 1997-01-01 … 1997-09-30 in weeks:
BG/NBD MLE r = 0.243, α = 4.414, a = 0.793, b = 2.426; Gamma-Gamma (Fader &
Hardie 2013) p = 6.25, q = 3.74, γ = 15.44 on the 946 repeat buyers.
"""
from __future__ import annotations

import importlib
import pandas as pd
import pytest

import salesbench as sb
from salesbench.analyses.churn import clv as churn
from salesbench.report.params import repo_root

BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
GG = {"p": 6.25, "q": 3.74, "v": 15.44}
CAL_END = "1997-09-30"


@pytest.fixture(scope="module")
def cdnow(cdnow_sample):
    ds = sb.open_data(repo_root() / "params" / "sources" / "cdnow_sample.yaml")
    orders = ds.table("orders")
    rfm = churn.rfm_table(orders, CAL_END, "W")
    hold, days = churn.holdout_purchases(orders, CAL_END, rfm["customer_id"])
    return rfm, hold, days / 7


@pytest.fixture(scope="module")
def map_flat(cdnow):
    return churn.ChurnModel(model="bg_nbd", fit_method="map", priors="flat").fit(cdnow[0])


@pytest.fixture(scope="module")
def mcmc_default(cdnow):
    return churn.ChurnModel(model="bg_nbd", fit_method="mcmc", priors="default", draws=300, tune=300, chains=2,
                            max_draws=200, seed=1).fit(cdnow[0])


def test_cdnow_calibration_summary(cdnow):
    rfm, hold, weeks = cdnow
    assert len(rfm) == 2357
    assert int((rfm["frequency"] == 0).sum()) == 1411
    assert int(rfm["frequency"].sum()) == 2457  # repeat purchase days in 39 weeks
    assert int(((rfm["frequency"] > 0) & (rfm["monetary_value"] > 0)).sum()) == 946
    assert weeks == pytest.approx(39.0)
    assert hold["holdout_purchases"].sum() == 1882


def test_bgnbd_map_flat_priors_matches_published_mle(map_flat):
    got = map_flat.params_.set_index("param")["mean"]
    for name, published in BGNBD.items():
        assert got[name] == pytest.approx(published, rel=0.03), name


def test_gamma_gamma_map_matches_published(map_flat):
    got = map_flat.spend_params_.set_index("param")["mean"]
    for name, published in GG.items():
        assert got[name] == pytest.approx(published, rel=0.03), name


def test_default_priors_pull_map_dropout_parameters(cdnow):
    """pymc-marketing's default priors move a and b ~11-16% below the MLE under MAP (why priors is a parameter)."""
    m = churn.ChurnModel(model="bg_nbd", fit_method="map", priors="default", spend=False).fit(cdnow[0])
    got = m.params_.set_index("param")["mean"]
    assert got["r"] == pytest.approx(BGNBD["r"], rel=0.03)
    assert 0.80 < got["a"] / BGNBD["a"] < 0.95
    assert 0.80 < got["b"] / BGNBD["b"] < 0.95


def test_bgnbd_mcmc_intervals_hold_published_values(mcmc_default):
    tab = mcmc_default.params_.set_index("param")
    for name, published in BGNBD.items():
        assert tab.loc[name, "lo"] < published < tab.loc[name, "hi"], name
    gg = mcmc_default.spend_params_.set_index("param")
    for name, published in GG.items():
        assert gg.loc[name, "lo"] < published < gg.loc[name, "hi"], name
    # short chains (2 × 300): BG/NBD mixes well; Gamma-Gamma with flat priors (p and v correlated) less so
    assert tab["r_hat"].max() < 1.05 and tab["ess_bulk"].min() > 100
    assert gg["r_hat"].max() < 1.1
    conv = mcmc_default.convergence()
    assert conv["r_hat_max"] == max(tab["r_hat"].max(), gg["r_hat"].max())
    # predictions use max_draws evenly thinned draws, not all chains × draws
    assert mcmc_default.tx_idata_.posterior.sizes["draw"] * 2 == 600 and mcmc_default.n_draws_ == 200


def test_holdout_prediction_is_honest(cdnow, mcmc_default):
    """BG/NBD under-predicts CDNOW weeks 40-78 by about 11% (a known property): the check reports it."""
    rfm, hold, weeks = cdnow
    h = mcmc_default.holdout_check(rfm, hold, weeks)
    assert h["actual_total"] == 1882
    assert -0.16 < h["error_pct"] < -0.05
    assert h["predicted_lo"] < h["predicted_total"] < h["predicted_hi"]
    by = h["by_frequency"].set_index("frequency")
    assert by.loc["0", "customers"] == 1411
    assert by["predicted"].is_monotonic_increasing and by["actual"].is_monotonic_increasing
    assert by.loc["7+", "predicted"] == pytest.approx(by.loc["7+", "actual"], rel=0.15)


def test_predictions_bgnbd_properties(cdnow, mcmc_default):
    rfm = cdnow[0]
    pred = mcmc_default.predict(rfm, horizon=39, clv_months=6, time_unit="W")
    assert len(pred) == 2357
    zero = pred["customer_id"].isin(rfm.loc[rfm["frequency"] == 0, "customer_id"])
    assert (pred.loc[zero, "p_alive"] == 1).all()  # BG/NBD: no repeat purchase ⇒ alive
    assert pred["p_alive"].mean() == pytest.approx(0.81, abs=0.03)  # FIELD_NOTES: 0.81 on CDNOW
    for col in ("p_alive", "expected_purchases", "clv"):
        assert (pred[f"{col}_lo"] <= pred[col] + 1e-9).all() and (pred[col] <= pred[f"{col}_hi"] + 1e-9).all()
    # the total expected purchases over 39 weeks equals the holdout prediction
    assert mcmc_default.totals_["expected_purchases"]["mean"] == pytest.approx(
        mcmc_default.holdout_check(rfm, cdnow[1], 39.0)["predicted_total"], rel=1e-6)


def test_repeat_purchase_ppc_covers_observed(cdnow, mcmc_default):
    ppc = mcmc_default.repeat_purchase_ppc(cdnow[0])
    assert ppc["observed"].sum() == 2357
    assert ppc["predicted"].sum() == pytest.approx(2357, rel=1e-9)
    inside = (ppc["lo"] <= ppc["observed"]) & (ppc["observed"] <= ppc["hi"])
    assert inside.sum() >= 7  # at most one bucket outside its 94% interval
    # fixed seed: the same simulation on a rerun
    pd.testing.assert_frame_equal(ppc, mcmc_default.repeat_purchase_ppc(cdnow[0]))


def test_chunked_predictions_equal_unchunked(cdnow, map_flat):
    rfm = cdnow[0].head(1200)
    import copy

    small = copy.copy(map_flat)
    small.chunk_size = 250
    a = map_flat.predict(rfm, horizon=10, time_unit="W")
    b = small.predict(rfm, horizon=10, time_unit="W")
    pd_cols = ["p_alive", "expected_purchases", "clv", "revenue_at_risk"]
    assert (a[pd_cols] - b[pd_cols]).abs().max().max() < 1e-9
    # MAP: one draw, intervals are the point and totals carry no interval
    assert (a["clv_lo"] == a["clv"]).all() and map_flat.totals_["clv"]["lo"] is None


def test_uses_current_pymc_marketing_api(cdnow, monkeypatch):
    """No deprecated pymc-marketing call (``Model(data)``, ``fit_method=``): the code must run on the 1.x line."""
    import contextlib
    import warnings

    monkeypatch.setattr(churn, "_quiet", contextlib.nullcontext)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = churn.ChurnModel(model="bg_nbd", fit_method="map", engine="pymc").fit(cdnow[0].head(300))
        m.predict(cdnow[0].head(50), horizon=4, clv_months=2, time_unit="W")
    # pymc-marketing's deprecations say "... will be removed in version 1.0" (Model(data), fit_method=, *_prior keys)
    deprecated = [str(w.message) for w in caught if "removed in version 1.0" in str(w.message)
                  or "fit_method" in str(w.message)]
    assert deprecated == []


def test_holdout_interval_is_predictive_and_wider_than_parameter_only(cdnow, mcmc_default):
    """The 94% interval of the holdout count includes purchase-process noise: it contains the parameter-only one."""
    rfm, hold, weeks = cdnow
    h = mcmc_default.holdout_check(rfm, hold, weeks)
    assert h["interval"] == "posterior predictive"
    assert h["predicted_lo"] < h["expected_lo"] < h["predicted_total"] < h["expected_hi"] < h["predicted_hi"]
    # the ratio of the two widths is itself a Monte Carlo estimate (200 draws, 200 simulations): over three seeds
    # it was 1.24-1.34 with PyMC's diagonal mass matrix and 1.27-1.51 with the dense one (docs/churn.md), so a
    # threshold at 1.3 passed or failed by seed; purchase noise only widens the interval, by about a third here
    assert (h["predicted_hi"] - h["predicted_lo"]) > 1.15 * (h["expected_hi"] - h["expected_lo"])


# --------------------------------------------------------------------------- CDNOW master (23,570 customers)
MASTER = {"customers": 23570, "repeats": 24337, "holdout": 19684, "bgnbd": {"r": 0.2516, "alpha": 4.789, "a": 0.7234,
                                                                           "b": 2.161}, "bgnbd_holdout": 16874,
          "recency_auc": 0.759}


@pytest.fixture(scope="module")
def master(cdnow_master):
    """The report's analysis on CDNOW master with a holdout (MAP, flat priors: the comparison fits are the MLE)."""
    from salesbench.analyses.churn.model import Churn

    ds = sb.open_data(repo_root() / "params" / "sources" / "cdnow_master.yaml")
    return Churn(model="auto", fit_method="map", priors="flat", calibration_end=CAL_END, horizon=39,
                 clv_months=1, early_warning=False).fit(ds)


def test_master_summary_and_published_bgnbd(master):
    assert len(master.rfm_) == MASTER["customers"]
    assert int(master.rfm_["frequency"].sum()) == MASTER["repeats"]
    assert master.holdout_["actual_total"] == MASTER["holdout"]
    tab = master.choice_.table.set_index("model")
    assert list(tab.index) == ["bg_nbd", "mbg_nbd", "pareto_nbd"] and tab["error"].isna().all()
    assert tab.loc["bg_nbd", "predicted_total"] == pytest.approx(MASTER["bgnbd_holdout"], rel=0.002)
    # every model under-forecasts CDNOW's weeks 40-78 (BG/NBD by 14%, the published behaviour)
    assert (tab["error_pct"] < -0.10).all()
    # P(alive) ranks "bought again" badly under BG/NBD (every one-time buyer is alive) and at ~0.70 under MBG/NBD
    assert tab.loc["bg_nbd", "auc_p_alive"] == pytest.approx(0.32, abs=0.01)
    assert tab.loc["mbg_nbd", "auc_p_alive"] == pytest.approx(0.70, abs=0.01)


def test_master_model_choice_follows_the_stated_rule(master):
    tab = master.choice_.table
    assert tab["chosen"].sum() == 1
    chosen = tab[tab["chosen"]].iloc[0]
    assert chosen["model"] == master.model_ == master.clv_model_.model
    assert chosen["mean_rank"] == tab["mean_rank"].min()
    ranks = pd.concat([tab["error_pct"].abs().rank(method="min"), tab["calibration_error"].rank(method="min"),
                       (-tab["log_lik"]).rank(method="min"), (-tab["auc_p_alive"]).rank(method="min")],
                      axis=1).mean(axis=1)
    assert list(ranks) == list(tab["mean_rank"])


def test_master_predictive_interval_states_the_miss(master, tmp_path):
    """The chosen model's 94% predictive interval (MAP fit: purchase-process noise) misses 19,684 — the model
    under-forecasts this holdout by more than chance — and the report and results say so."""
    from salesbench.analyses.churn import report as churn_report

    h = master.holdout_
    assert h["predicted_lo"] < h["predicted_total"] < h["predicted_hi"] < h["actual_total"]
    assert 300 < h["predicted_hi"] - h["predicted_lo"] < 2000  # ~ ±2 sd of a sum of 23,570 customers' counts
    assert h["covered"] is False
    text = churn_report.holdout_sentence(master)
    assert "customers made 19,684" in text and "The actual lies above the 94% predictive interval" in text
    assert "biased low" in text
    res = sb.results.Results("churn", tmp_path)
    churn_report.publish(master, res)
    saved = res.load(tmp_path / "churn.results.json")
    assert saved["holdout"]["covered"] is False and saved["holdout"]["interval"] == "posterior predictive"
    assert "lies above the 94% predictive interval" in saved["holdout"]["statement"]
    assert saved["revenue_at_risk"]["interval"] == "posterior predictive"


def test_master_at_risk_ranking_beats_recency(master):
    auc = master.choice_.auc
    assert auc["recency"] == pytest.approx(MASTER["recency_auc"], abs=0.001)  # FIELD_NOTES: 0.759
    signal = master.choice_.signal
    assert signal != "recency" and auc[signal] >= auc["recency"]
    assert auc[signal] == max(auc.values())
    col, asc = churn.RANK_ORDER[signal]
    ranked = master.at_risk_[col]
    assert (ranked.is_monotonic_increasing if asc else ranked.is_monotonic_decreasing)
    assert "time since the last purchase alone scored 0.759" in importlib.import_module("salesbench.analyses.churn.report").ranking_sentence(master)
