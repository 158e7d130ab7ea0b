"""Posterior-predictive purchases, model choice helpers and tiny data (no NUTS; a few MAP fits at most).

The predictive distribution (salesbench.analyses.churn.predictive) is checked against two independent
routes: pymc-marketing's closed-form expectations and P(alive) (the mean of the exact PMF must
equal them) and brute-force simulation of the individual-level processes (the histogram must
match the PMF).
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import salesbench as sb
from salesbench.analyses.churn import clv as churn
from salesbench.analyses.churn import choice as churn_choice
from salesbench.analyses.churn import report as churn_report
from salesbench.analyses.churn import predictive as cp
from salesbench.analyses.churn.model import Churn
from salesbench.core.errors import CheckError, ReportSkipped

PARAMS = {
    "bg_nbd": {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5},
    "mbg_nbd": {"r": 0.5, "alpha": 6.0, "a": 0.9, "b": 1.6},
    "pareto_nbd": {"r": 0.55, "alpha": 10.5, "s": 0.6, "beta": 11.7},
}
HIST = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "frequency": [0.0, 2.0, 7.0, 1.0],
                     "recency": [0.0, 10.0, 30.0, 2.0], "T": [20.0, 30.0, 35.0, 38.0]})
FUTURE = 12.0


@pytest.fixture(scope="module")
def closed_forms():
    """pymc-marketing's expected purchases and P(alive) at fixed parameters, per model."""
    import arviz as az
    import xarray as xr

    out = {}
    for model, par in PARAMS.items():
        m = churn._model_class(model)()
        with churn._quiet():
            m.build_model(HIST)
            m.idata = az.InferenceData(posterior=xr.Dataset({k: (("chain", "draw"), [[v]]) for k, v in par.items()}))
            out[model] = (churn._flat(m.expected_purchases(data=HIST, future_t=FUTURE))[0],
                          churn._flat(m.expected_probability_alive(data=HIST))[0], m)
    return out


def _pmf_table(model, p_alive, kmax=80):
    x, T = HIST["frequency"].to_numpy(), HIST["T"].to_numpy()
    return np.stack([cp.count_pmf(model, PARAMS[model], p_alive[None, :], x, T, FUTURE, np.full(len(x), k))[0]
                     for k in range(kmax)])


@pytest.mark.parametrize("model", list(PARAMS))
def test_pmf_is_a_distribution_whose_mean_is_the_closed_form(model, closed_forms):
    expected, p_alive, _ = closed_forms[model]
    pmf = _pmf_table(model, p_alive)
    assert pmf.min() >= 0
    assert pmf.sum(axis=0) == pytest.approx(1.0, abs=1e-6)
    assert (np.arange(len(pmf))[:, None] * pmf).sum(axis=0) == pytest.approx(expected, rel=1e-4)
    # a customer who has left buys nothing: P(0) >= 1 - P(alive)
    assert (pmf[0] >= 1 - p_alive - 1e-12).all()


@pytest.mark.parametrize("model", list(PARAMS))
def test_simulation_matches_pmf(model, closed_forms):
    """Brute force: simulate the individual-level process 40,000 times per customer."""
    _, p_alive, _ = closed_forms[model]
    x, T = HIST["frequency"].to_numpy(), HIST["T"].to_numpy()
    n = 40_000
    par = {k: np.full(n, v) for k, v in PARAMS[model].items()}
    counts, alive = cp.simulate_counts(model, par, np.broadcast_to(p_alive, (n, len(x))), x, T, FUTURE,
                                       np.random.default_rng(0))
    sim = counts * alive
    pmf = _pmf_table(model, p_alive, kmax=6)
    for k in range(6):
        assert (sim == k).mean(axis=0) == pytest.approx(pmf[k], abs=0.012), k
    assert alive.mean(axis=0) == pytest.approx(p_alive, abs=0.012)


def test_bgnbd_no_purchase_probability(closed_forms):
    """Our P(no purchase) equals pymc-marketing's for repeat buyers; for one-time buyers BG/NBD says P(alive) = 1,
    so it is the NBD zero term — pymc-marketing's expected_probability_no_purchase (0.19.2) omits the δ(x > 0)
    of the drop-out term there and gives a different number."""
    _, p_alive, m = closed_forms["bg_nbd"]
    x, T = HIST["frequency"].to_numpy(), HIST["T"].to_numpy()
    ours = cp.prob_no_purchase("bg_nbd", PARAMS["bg_nbd"], p_alive[None, :], x, T, FUTURE)[0]
    with churn._quiet():
        theirs = churn._flat(m.expected_probability_no_purchase(t=FUTURE, data=HIST))[0]
    rep = x > 0
    assert ours[rep] == pytest.approx(theirs[rep], rel=1e-9)
    p = PARAMS["bg_nbd"]
    assert ours[~rep] == pytest.approx(((p["alpha"] + T[~rep]) / (p["alpha"] + T[~rep] + FUTURE)) ** p["r"], rel=1e-9)
    for model in PARAMS:  # and P(0) is the k = 0 term of the PMF for every model
        _, pa, _ = closed_forms[model]
        assert cp.prob_no_purchase(model, PARAMS[model], pa[None, :], x, T, FUTURE)[0] == pytest.approx(
            _pmf_table(model, pa, kmax=1)[0], rel=1e-9)


def test_simulated_revenue_mean_is_gamma_gamma_expected_spend():
    """n purchases × Gamma-Gamma expected spend (Fader & Hardie 2013, eq. 5) on average."""
    p, q, v = 6.25, 3.74, 15.44
    x, zbar = np.array([0.0, 3.0]), np.array([0.0, 40.0])
    n = 200_000
    counts = np.full((n, 2), 2.0)
    rev = cp.simulate_revenue(counts, {"p": np.full(n, p), "q": np.full(n, q), "v": np.full(n, v)}, x, zbar, zbar,
                              np.random.default_rng(1))
    spend = (p * (v + x * zbar)) / (p * x + q - 1)
    assert rev.mean(axis=0) == pytest.approx(2 * spend, rel=0.02)
    assert (cp.simulate_revenue(np.zeros((3, 2)), None, x, zbar, np.array([5.0, 7.0]), None) == 0).all()


def test_summarize_predictive_keeps_expected_mean_and_both_intervals():
    s = churn.summarize_predictive(np.arange(101.0), np.arange(1001.0))
    assert s["mean"] == 50 and s["lo_param"] == pytest.approx(3.0) and s["hi_param"] == pytest.approx(97.0)
    assert s["lo"] == pytest.approx(30.0) and s["hi"] == pytest.approx(970.0)
    assert s["interval"] == "posterior predictive"
    m = churn.summarize_predictive([7.0], [5.0, 9.0])  # MAP: process noise only
    assert m["lo_param"] is None and m["lo"] is not None


def test_choose_signal_picks_best_auc_and_says_why():
    s, why = churn_choice.choose_signal({"p_alive": 0.70, "p_purchase": 0.755, "expected_purchases": 0.765,
                                         "recency": 0.759})
    assert s == "expected_purchases" and "AUC 0.765" in why and "recency alone: 0.759" in why
    assert churn_choice.choose_signal({"p_alive": 0.32, "p_purchase": 0.70, "expected_purchases": 0.70,
                                       "recency": 0.80})[0] == "recency"
    assert churn_choice.choose_signal({"p_purchase": 0.7, "expected_purchases": 0.7, "recency": 0.7})[0] == "p_purchase"
    s, why = churn_choice.choose_signal(None)
    assert s == "p_purchase" and "could not be checked" in why


def test_at_risk_ranked_by_signal():
    pred = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"], "p_alive": [0.2, 0.3, 0.1, 0.4], "clv": [50.0, 60.0, 70.0, 80.0],
        "expected_revenue": [10.0, 20.0, 30.0, 40.0], "revenue_at_risk": [40.0, 30.0, 270.0, 60.0],
        "p_purchase": [0.3, 0.1, 0.2, 0.4], "expected_purchases": [0.5, 0.2, 0.9, 0.1],
        "since_last_purchase": [10.0, 30.0, 20.0, 5.0],
    })
    kw = dict(p_alive_max=0.5, min_clv_quantile=0.0)
    assert list(churn.at_risk_customers(pred, rank_by="p_purchase", **kw)["customer_id"]) == ["b", "c", "a", "d"]
    assert list(churn.at_risk_customers(pred, rank_by="expected_purchases", **kw)["customer_id"]) == ["d", "b", "a", "c"]
    assert list(churn.at_risk_customers(pred, rank_by="recency", **kw)["customer_id"]) == ["b", "c", "a", "d"]
    ar = churn.at_risk_customers(pred, rank_by="revenue_at_risk", **kw)
    assert list(ar["customer_id"]) == ["c", "d", "a", "b"] and list(ar["rank"]) == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="rank_by must be one of"):
        churn.at_risk_customers(pred, rank_by="clv")


def test_check_params_names_key_and_choices():
    Churn.check_params({"model": "auto", "at_risk_signal": "recency", "fit_method": "map"})
    with pytest.raises(CheckError, match="must be one of auto, bg_nbd, mbg_nbd, pareto_nbd, not 'bgnbd'") as err:
        Churn.check_params({"model": "bgnbd"})
    assert err.value.key == "model"
    with pytest.raises(CheckError, match="must be one of") as err:
        Churn.check_params({"at_risk_signal": "clv"})
    assert err.value.key == "at_risk_signal"


def test_bad_model_parameter_is_exit_2_before_any_kernel(run_cli, tmp_path):
    proc = run_cli("run", "churn", "--data", "demo", "--out", tmp_path / "r", "-p", "model=bgnbd", timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "parameter 'model'" in out and "must be one of auto, bg_nbd, mbg_nbd, pareto_nbd, not 'bgnbd'" in out
    assert "Traceback" not in proc.stdout + proc.stderr


def test_selection_split_holds_out_horizon_or_a_third():
    last = pd.Timestamp("2024-12-31")
    assert churn_choice.selection_split(pd.Timestamp("2020-01-01"), last, 52, 7.0) == last - pd.Timedelta(days=364)
    assert churn_choice.selection_split(pd.Timestamp("2024-11-01"), last, 52, 7.0) == last - pd.Timedelta(days=20)


# --------------------------------------------------------------------------- tiny data
def _orders(rows):
    df = pd.DataFrame(rows, columns=["customer_id", "order_date", "revenue"])
    df["order_date"] = pd.to_datetime(df["order_date"]).dt.date
    df["order_id"] = [f"o{i}" for i in range(len(df))]
    return df


@pytest.mark.parametrize("rows,words", [
    ([("A", "2024-01-05", 10.0)], "this data has 1 customer and 0 with a repeat purchase"),
    ([("A", "2024-01-05", 10.0), ("A", "2024-02-01", 12.0), ("A", "2024-03-01", 9.0)],
     "this data has 1 customer and 1 with a repeat purchase"),
    ([(f"C{i}", f"2024-01-{i + 1:02d}", 10.0) for i in range(20)], "20 customers and 0 with a repeat purchase"),
])
def test_tiny_data_is_a_clean_skip_with_a_reason(rows, words):
    ds = sb.Dataset.from_frames({"orders": _orders(rows)})
    with pytest.raises(churn_choice.NotEnoughData) as err:
        Churn(fit_method="map").fit(ds)
    assert isinstance(err.value, ReportSkipped)
    assert words in err.value.reason
    assert err.value.reason.startswith("The churn models need at least 10 customers, 3 of them with purchases on more")


def test_two_months_of_data_choose_fit_and_record(tmp_path):
    """Two months, 12 customers: the three models are compared on an internal holdout of the last 19 days
    (a third of the history), the chosen one is fitted on everything and the results are written."""
    rng = np.random.default_rng(4)
    rows = []
    for i in range(12):
        days = sorted(rng.choice(np.arange(0, 40), size=1 + (i % 3), replace=False))
        rows += [(f"C{i:02d}", str((pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(d))).date()), 20.0 + i)
                 for d in days]
    rows += [("C00", "2024-02-29", 15.0), ("C04", "2024-02-20", 15.0)]
    ds = sb.Dataset.from_frames({"orders": _orders(rows)})
    A = Churn(model="auto", fit_method="map", horizon=4, clv_months=2, early_warning=False).fit(ds)
    c = A.choice_
    assert c.calibration_end == pd.Timestamp("2024-02-10") and c.holdout_length == pytest.approx(19 / 7)
    assert list(c.table["model"]) == list(churn_choice.CANDIDATES) and c.table["chosen"].sum() == 1
    assert A.model_ == c.model and A.model == "auto" and A.results()["model_requested"] == "auto"
    assert c.signal in churn_choice.SIGNALS and c.auc["recency"] is not None
    assert len(A.predictions_) == 12 and A.predictions_["p_alive"].between(0, 1).all()
    res = sb.results.Results("churn", tmp_path)
    churn_report.publish(A, res)
    saved = json.loads((tmp_path / "churn.results.json").read_text())
    assert saved["model_choice"]["chosen"] == c.model and saved["ranking"]["signal"] == c.signal
    assert len(pd.read_csv(tmp_path / "churn.model_comparison.csv")) == 3


def test_one_order_is_a_skipped_report_with_its_reason(run_cli, tmp_path):
    """``with res.skipping():`` in the notebook: a skipped run like one whose tables are missing — the reason in
    results.json, the run summary and the index page; no report HTML of its own (was: an HTML page saying
    "Skipped: ...")."""
    data = tmp_path / "data"
    data.mkdir()
    _orders([("A", "2024-01-05", 10.0)]).to_csv(data / "orders.csv", index=False)
    out = tmp_path / "report"
    proc = run_cli("run", "churn", "--data", data, "--out", out, "-p", "fit_method=map", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads((out / "churn.results.json").read_text())
    assert res["status"] == "skipped"
    assert "need at least 10 customers" in res["reason"] and "1 customer and 0 with a repeat purchase" in res["reason"]
    assert not (out / "churn.html").exists()
    index = (out / "index.html").read_text()
    assert "The churn models need at least 10 customers" in index and "Traceback" not in index
    assert "skipped: The churn models need at least 10 customers" in proc.stdout
