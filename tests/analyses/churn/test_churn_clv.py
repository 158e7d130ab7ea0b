"""Churn: pure functions on hand-made tables with hand-computed answers (no model fits)."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import salesbench as sb
from salesbench.analyses.churn import clv as churn
from salesbench.analyses.churn import warning as churn_warning


def _orders(rows):
    df = pd.DataFrame(rows, columns=["customer_id", "order_date", "revenue"])
    df["order_date"] = pd.to_datetime(df["order_date"]).dt.date
    df["order_id"] = [f"o{i}" for i in range(len(df))]
    return df


@pytest.fixture(scope="module")
def hand_ds():
    orders = _orders([
        # A: two lines on day 0 (one transaction of 30), then 50 on day 14 and 70 on day 28
        ("A", "2024-01-01", 10.0), ("A", "2024-01-01", 20.0), ("A", "2024-01-15", 50.0), ("A", "2024-01-29", 70.0),
        # A after calibration: two lines on one day = one holdout purchase, then one more day
        ("A", "2024-03-01", 5.0), ("A", "2024-03-01", 5.0), ("A", "2024-03-20", 9.0),
        # B: one purchase only
        ("B", "2024-02-01", 40.0),
        # C: first purchase after calibration_end: not a calibration customer
        ("C", "2024-03-05", 12.0),
    ])
    return sb.Dataset.from_frames({"orders": orders})


def test_rfm_table_weekly_hand_computed(hand_ds):
    rfm = churn.rfm_table(hand_ds.table("orders"), "2024-02-12", "W").set_index("customer_id")
    assert list(rfm.index) == ["A", "B"]  # C starts after calibration_end
    a, b = rfm.loc["A"], rfm.loc["B"]
    assert a["frequency"] == 2  # 3 purchase days, same-day lines merged
    assert a["recency"] == pytest.approx(28 / 7)
    assert a["T"] == pytest.approx(42 / 7)
    assert a["monetary_value"] == pytest.approx((50 + 70) / 2)  # repeat purchases only
    assert a["revenue"] == pytest.approx(150)
    assert (b["frequency"], b["recency"], b["monetary_value"]) == (0, 0, 0)
    assert b["T"] == pytest.approx(11 / 7)


def _tie_orders(seed):
    """Customer X: 1.00 on the first day, then 32 repeat days of 10.01 in total (mean 0.3128125, a tie at the
    6th decimal); Y: many lines of cents whose float sum depends on the order. Rows shuffled by ``seed``."""
    values = np.random.default_rng(0).choice([0.1, 0.2, 0.3, 0.7, 1e6 + 0.01, 123.45], 400)
    cents = [31] * 23 + [32] * 9  # 1,001 cents over 32 days
    rows = [("X", "2024-01-01", 1.0)] + [("X", str(dt.date(2024, 1, 2) + dt.timedelta(days=i)), c / 100)
                                        for i, c in enumerate(cents)]
    rows += [("Y", str(dt.date(2024, 1, 1) + dt.timedelta(days=i % 5)), v)
             for i, v in enumerate(values)]
    frame = _orders(rows)
    return frame.iloc[np.random.default_rng(seed).permutation(len(frame))].reset_index(drop=True)


def test_rfm_table_sums_exactly_whatever_the_row_order():
    """Mean repeat spend from exact decimal sums: the same bits for any row order (the engine adds in parallel,
    in an order that changes run to run) and no rounding of the mean (0.3128125, not 0.312812 or 0.312813)."""
    frames = [churn.rfm_table(sb.Dataset.from_frames({"orders": _tie_orders(0).iloc[order].reset_index(drop=True)}).table("orders"),
                              None, "W") for order in (slice(None), slice(None, None, -1))]
    frames.append(churn.rfm_table(sb.Dataset.from_frames({"orders": _tie_orders(1)}).table("orders"), None, "W"))
    x = frames[0].set_index("customer_id").loc["X"]
    assert x["frequency"] == 32 and x["monetary_value"] == 10.01 / 32 and x["revenue"] == 11.01
    for other in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], other, check_exact=True)


@pytest.mark.parametrize("unit,days", [("D", 1.0), ("W", 7.0), ("M", 365.25 / 12)])
def test_rfm_table_time_units(hand_ds, unit, days):
    rfm = churn.rfm_table(hand_ds.table("orders"), "2024-02-12", unit).set_index("customer_id")
    assert rfm.loc["A", "recency"] == pytest.approx(28 / days)
    assert rfm.loc["A", "T"] == pytest.approx(42 / days)


def test_rfm_table_defaults_to_last_order_date(hand_ds):
    rfm = churn.rfm_table(hand_ds.table("orders"), None, "D").set_index("customer_id")
    assert set(rfm.index) == {"A", "B", "C"}
    assert rfm.loc["A", "frequency"] == 4
    assert rfm.loc["C", "T"] == pytest.approx(15)  # 2024-03-05 → 2024-03-20


def test_bad_time_unit_is_a_clear_error(hand_ds):
    with pytest.raises(ValueError, match="time_unit must be one of D, W, M"):
        churn.rfm_table(hand_ds.table("orders"), None, "Q")


def test_holdout_purchases_counts_days(hand_ds):
    hold, length = churn.holdout_purchases(hand_ds.table("orders"), "2024-02-12", ["A", "B"])
    hold = hold.set_index("customer_id")
    assert length == 37  # 2024-02-12 → 2024-03-20
    assert hold.loc["A", "holdout_purchases"] == 2
    assert hold.loc["A", "holdout_revenue"] == pytest.approx(19)
    assert hold.loc["B", "holdout_purchases"] == 0
    assert "C" not in hold.index  # not a calibration customer


def test_model_config_and_validation():
    assert churn.model_config("bg_nbd", "default") is None
    flat = churn.model_config("pareto_nbd", "flat")
    assert set(flat) == {"r", "alpha", "s", "beta"}
    assert all(p.distribution == "HalfFlat" for p in flat.values())
    with pytest.raises(ValueError, match="model must be one of"):
        churn.ChurnModel(model="bgnbd")
    with pytest.raises(ValueError, match="fit_method must be one of"):
        churn.ChurnModel(fit_method="nuts")
    with pytest.raises(ValueError, match="priors must be one of"):
        churn.ChurnModel(priors="vague")


def test_summarize_draws():
    d = churn.summarize_draws(np.arange(101.0))
    assert d["mean"] == 50 and d["lo"] == pytest.approx(3.0) and d["hi"] == pytest.approx(97.0)
    assert churn.summarize_draws([7.0]) == {"mean": 7.0, "lo": None, "hi": None}


def test_status_of_thresholds():
    assert list(churn.status_of([0.9, 0.7, 0.5, 0.3, 0.1])) == [
        "active", "active", "slipping", "slipping", "probably gone"]


def test_at_risk_list_selects_and_ranks():
    pred = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e"],
        "p_alive": [0.9, 0.2, 0.4, 0.1, 0.3],
        "clv": [500.0, 60.0, 80.0, 2.0, 90.0],  # median 80
        "expected_revenue": [900.0, 20.0, 40.0, 1.0, 60.0],  # value if alive: 1000, 100, 100, 10, 200
        "revenue_at_risk": [100.0, 80.0, 60.0, 9.0, 140.0],
    })
    ar = churn.at_risk_customers(pred, p_alive_max=0.5, min_clv_quantile=0.5)
    # a is alive; b and d have CLV below the median
    assert list(ar["customer_id"]) == ["e", "c"]
    assert ar["value_if_alive"].tolist() == pytest.approx([200, 100])
    assert list(churn.at_risk_customers(pred, p_alive_max=0.5, min_clv_quantile=0.0)["customer_id"]) == ["e", "b", "c", "d"]


def test_truth_check_auc_and_shares():
    pred = pd.DataFrame({"customer_id": list("abcd"), "p_alive": [0.9, 0.8, 0.2, 0.1]})
    truth = pd.DataFrame({"customer_id": list("abcd"),
                          "churned_at": [None, dt.date(2025, 6, 1), dt.date(2024, 1, 1), dt.date(2024, 5, 1)]})
    at_risk = pd.DataFrame({"customer_id": ["c", "d"]})
    t = churn.truth_check(pred, truth, "2024-12-31", at_risk)
    assert t["auc"] == 1.0  # b churned after calibration_end: still alive at that date
    assert t["base_rate"] == 0.5 and t["at_risk_churned_share"] == 1.0


def test_warning_indicators_hand_computed():
    as_of = dt.date(2024, 12, 31)
    d = lambda days: as_of - dt.timedelta(days=days)  # noqa: E731
    orders = _orders([
        # X: 3 purchase days in the previous window, 1 in the last; none after as_of → churned
        ("X", d(300), 10), ("X", d(250), 10), ("X", d(200), 10), ("X", d(20), 10),
        # Y: 1 previous, 2 recent, buys again after as_of
        ("Y", d(300), 10), ("Y", d(100), 10), ("Y", d(50), 10), ("Y", as_of + dt.timedelta(days=30), 10),
        # Z: no purchase in the last window: not in the population
        ("Z", d(300), 10),
    ])
    surveys = pd.DataFrame({"customer_id": ["X", "X", "Y"], "survey_date": [d(300), d(10), d(10)],
                            "csat": [5.0, 2.0, 4.0]})
    interactions = pd.DataFrame({"customer_id": ["X", "X", "Y", "X"], "kind": ["complaint", "complaint", "call", "complaint"],
                                 "occurred_at": pd.to_datetime([d(30), d(5), d(5), d(400)])})
    invoices = pd.DataFrame({
        "invoice_id": ["i1", "i2", "i3"], "customer_id": ["X", "X", "Y"],
        "invoice_date": [d(60), d(40), d(40)], "due_date": [d(30), d(10), d(10)],
        "amount": [1.0, 1.0, 1.0], "paid_amount": [1.0, None, 1.0], "paid_date": [d(20), None, d(12)],
    })
    ds = sb.Dataset.from_frames({"orders": orders, "surveys": surveys, "interactions": interactions, "invoices": invoices})
    assert churn_warning.available_indicators(ds) == ["order_decline", "csat_drop", "complaints", "days_overdue"]
    f = churn_warning.warning_indicators(ds, as_of, window_days=180, label_days=180).set_index("customer_id")
    assert list(f.index) == ["X", "Y"]
    # previous period = the two windows before the last: X 3 purchase days, Y 1
    assert f.loc["X", "order_decline"] == pytest.approx(np.log((3 / 2 + 0.5) / (1 + 0.5)))
    assert f.loc["Y", "order_decline"] == pytest.approx(np.log((1 / 2 + 0.5) / (2 + 0.5)))
    assert f.loc["X", "usual_rate"] == pytest.approx(np.log(3.5))
    assert f.loc["X", "csat_drop"] == pytest.approx(3.0)  # 5 before, 2 in the window
    assert f.loc["Y", "csat_drop"] == pytest.approx(1.0)  # company mean before (5) − 4
    assert f.loc["X", "complaints"] == 2 and f.loc["Y", "complaints"] == 0
    assert f.loc["X", "days_overdue"] == pytest.approx((10 + 10) / 2)  # paid 10 days late; unpaid 10 days
    assert f.loc["Y", "days_overdue"] == 0  # paid early
    assert (f.loc["X", "churned"], f.loc["Y", "churned"]) == (1, 0)
    assert f.loc["X", "region"] == "all"


def test_orders_only_has_no_warning_indicators(hand_ds):
    assert churn_warning.available_indicators(hand_ds) == []


def test_effect_sentence_names_clear_signs():
    eff = pd.DataFrame({"label": ["Complaints", "CSAT drop"], "mean": [0.5, 0.1], "lo": [0.2, -0.1],
                        "hi": [0.8, 0.3], "odds_ratio": [np.exp(0.5), np.exp(0.1)]})
    s = churn_warning.effect_sentence(eff)
    assert "clearly predict churn: Complaints (odds ×1.65" in s and "no effect: CSAT drop" in s
