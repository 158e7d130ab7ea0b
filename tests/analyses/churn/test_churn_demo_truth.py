"""Churn models against known truth: simulated BG/NBD data and the demo company."""
from __future__ import annotations

import pandas as pd
import pytest

import salesbench as sb
from salesbench.analyses.churn import clv as churn
from salesbench.analyses.churn import warning as churn_warning
from salesbench.datasets.demo import simulate_bgnbd

TRUE = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}


@pytest.fixture(scope="module")
def simulated_fit():
    sim = simulate_bgnbd(2000, T=52.0, seed=11, **TRUE)
    rfm = sim[["customer_id", "frequency", "recency", "T"]].assign(monetary_value=0.0)
    rfm["customer_id"] = rfm["customer_id"].astype(str)
    model = churn.ChurnModel(model="bg_nbd", fit_method="mcmc", draws=250, tune=250, chains=2, spend=False,
                             max_draws=100, seed=3).fit(rfm)
    return sim, model


def test_simulated_bgnbd_intervals_cover_truth(simulated_fit):
    _, model = simulated_fit
    tab = model.params_.set_index("param")
    for name, true in TRUE.items():
        assert tab.loc[name, "lo"] < true < tab.loc[name, "hi"], (name, tab.loc[name].to_dict())
    assert model.convergence()["r_hat_max"] < 1.05


@pytest.fixture(scope="module")
def demo_fit(default_demo):
    ds = sb.open_data(default_demo)
    orders = ds.table("orders")
    rfm = churn.rfm_table(orders, None, "W")
    model = churn.ChurnModel(model="mbg_nbd", fit_method="map").fit(rfm)
    pred = model.predict(rfm, horizon=52, time_unit="W")
    at_risk = churn.at_risk_customers(pred, churn.customer_attributes(ds, rfm["customer_id"]))
    truth = churn.truth_check(pred, ds.truth_customers(), churn.last_order_date(orders), at_risk)
    return ds, rfm, pred, at_risk, truth


def test_demo_p_alive_separates_true_churners(demo_fit):
    *_, truth = demo_fit
    assert truth["n"] > 4500
    assert truth["auc"] >= 0.85  # measured 0.925 (seed 0); BG/NBD gives 0.48 on the same data


def test_demo_at_risk_list_is_enriched_in_churners(demo_fit):
    _, _, _, at_risk, truth = demo_fit
    assert len(at_risk) >= 30
    assert truth["at_risk_churned_share"] >= truth["base_rate"] + 0.15  # measured 0.83 vs 0.59
    assert at_risk["revenue_at_risk"].is_monotonic_decreasing
    assert set(at_risk["region"]) <= {"North", "South", "East", "West"}


def test_demo_mbg_one_time_buyers_are_not_all_alive(demo_fit):
    _, rfm, pred, _, _ = demo_fit
    one_off = pred["customer_id"].isin(rfm.loc[rfm["frequency"] == 0, "customer_id"])
    assert pred.loc[one_off, "p_alive"].max() < 1.0
    assert pred.loc[one_off, "p_alive"].mean() < 0.6


@pytest.fixture(scope="module")
def warning_fit(demo_fit):
    ds = demo_fit[0]
    as_of = churn.last_order_date(ds.table("orders")) - pd.Timedelta(days=180)
    frame = churn_warning.warning_indicators(ds, as_of)
    return frame, churn_warning.EarlyWarningModel(draws=250, tune=250, chains=2, seed=5).fit(frame)


def test_demo_warning_signs_found(warning_fit):
    frame, ew = warning_fit
    assert len(frame) > 1500 and set(frame["region"]) == {"North", "South", "East", "West"}
    eff = ew.effects_.set_index("indicator")
    # the generator delays invoice payment by 20 days before churn: a clear positive effect
    assert eff.loc["days_overdue", "lo"] > 0
    assert ew.auc_ > 0.65
    assert set(ew.region_effects_["region"]) == {"North", "South", "East", "West"}
