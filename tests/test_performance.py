"""Unit tests of the performance review on hand-made tables with hand-computed answers."""
from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import salesbench as sb
from salesbench.analyses.performance import model as pf
from salesbench.analyses.performance import feedback as fb
from salesbench.analyses.performance import variance as var

ROOT = Path(__file__).resolve().parents[1]
D = dt.date


# --------------------------------------------------------------------------- a tiny company
def _frames():
    reps = pd.DataFrame({
        "rep_id": ["R1", "R2", "R3"], "name": ["Ann", "Bob", "Cy"], "team": ["T1", "T1", "T2"],
        "region": ["North", "North", "South"], "manager_id": ["M1", "M1", "M2"],
        "hire_date": [D(2020, 1, 1)] * 3,
    })
    o = [
        # order_id, date, customer, rep, quantity, revenue, cost, discount, product
        ("O1", D(2025, 2, 10), "A", "R1", 1.0, 100.0, 60.0, 0.2, "P1"),
        ("O2", D(2025, 3, 1), "B", "R1", 3.0, 300.0, 150.0, 0.0, "P2"),
        ("O3", D(2025, 1, 20), "C", "R2", 1.0, 100.0, 80.0, 0.0, "P1"),
        ("O4", D(2025, 3, 31), "D", "R3", 10.0, 1000.0, 500.0, 0.0, "P2"),
        ("O5", D(2024, 11, 5), "C", "R2", 1.0, 50.0, 40.0, 0.0, "P1"),   # C's first order: not new in 2025Q1
        ("O6", D(2024, 12, 1), "B", "R1", 2.0, 200.0, 100.0, 0.0, "P2"),
        ("O7", D(2024, 2, 1), "B", "R1", 4.0, 320.0, 160.0, 0.0, "P2"),
        ("O8", D(2025, 4, 1), "B", "R1", 1.0, 999.0, 1.0, 0.0, "P2"),    # next quarter: excluded
    ]
    orders = pd.DataFrame(o, columns=["order_id", "order_date", "customer_id", "rep_id", "quantity", "revenue",
                                      "cost", "discount", "product_id"])
    orders["line_no"] = 1
    orders["unit_price"] = orders["revenue"] / orders["quantity"]
    customers = pd.DataFrame({
        "customer_id": ["A", "B", "C", "D"], "region": ["North", "North", "North", "South"],
        "signup_date": [D(2025, 2, 1), D(2020, 5, 1), None, None], "owner_rep_id": ["R1", "R1", "R2", "R3"],
    })
    customers["signup_date"] = pd.to_datetime(customers["signup_date"]).dt.date
    inv = [
        # id, customer, rep, invoice_date, due_date, amount, paid_amount, paid_date
        ("I1", "A", "R1", D(2025, 1, 1), D(2025, 2, 1), 100.0, 100.0, D(2025, 2, 1)),   # on the due date
        ("I2", "B", "R1", D(2025, 1, 1), D(2025, 2, 10), 300.0, 300.0, D(2025, 2, 12)),  # 2 days late
        ("I3", "B", "R1", D(2025, 2, 1), D(2025, 3, 1), 50.0, 20.0, D(2025, 2, 20)),     # part-paid on time
        ("I4", "D", "R3", D(2025, 2, 1), D(2025, 3, 30), 80.0, 0.0, None),               # unpaid
        ("I5", "B", "R1", D(2025, 3, 1), D(2025, 4, 5), 999.0, 999.0, D(2025, 4, 1)),    # due next quarter
    ]
    invoices = pd.DataFrame(inv, columns=["invoice_id", "customer_id", "rep_id", "invoice_date", "due_date", "amount",
                                          "paid_amount", "paid_date"])
    invoices["paid_date"] = pd.to_datetime(invoices["paid_date"]).dt.date
    surveys = pd.DataFrame({
        "customer_id": ["A", "B", "D", "D", "B"], "rep_id": ["R1", "R1", "R3", "R3", "R1"],
        "survey_date": [D(2025, 1, 5), D(2025, 2, 5), D(2025, 3, 5), D(2025, 3, 6), D(2024, 3, 1)],
        "csat": [5.0, 4.0, 3.0, 4.0, 1.0], "nps": [10.0, 6.0, 9.0, 8.0, 0.0],
    })
    ts = pd.Timestamp
    opps = pd.DataFrame({
        "opportunity_id": ["D1", "D2", "D3", "D4", "D5"], "customer_id": ["A", "B", "B", "A", "B"],
        "rep_id": ["R1", "R1", "R1", "R1", "R1"],
        "created_at": [ts("2024-12-01")] * 5, "amount": [1000.0, 3000.0, 500.0, 700.0, 9000.0],
        "stage": ["won", "won", "lost", "proposal", "won"], "status": ["won", "won", "lost", "open", "won"],
        "closed_at": [ts("2025-01-15 10:00"), ts("2025-03-31 23:00"), ts("2025-02-01"), pd.NaT, ts("2025-04-02")],
        "lost_reason": [None, None, "price", None, None],
    })
    inter = pd.DataFrame({
        "customer_id": ["A", "A", "B", "B", "B", "D"], "rep_id": ["R1", "R1", "R1", "R1", "R1", "R3"],
        "occurred_at": [ts("2025-01-03 09:00"), ts("2025-02-03"), ts("2025-02-04"), ts("2025-03-04"), ts("2025-03-05"),
                        ts("2025-03-05")],
        "kind": ["visit", "visit", "visit", "visit", "complaint", "call"],
    })
    months = [D(2025, 1, 1), D(2025, 2, 1), D(2025, 3, 1)]
    t = []
    for m, v in zip(months, [100.0, 200.0, 200.0]):
        t.append((m, "rep", "R1", "revenue", v))
        t.append((m, "rep", "R1", "gross_margin", 0.5))
    for m in months:
        t.append((m, "rep", "R2", "revenue", 50.0))
        t.append((m, "rep", "R3", "revenue", 400.0))
        t.append((m, "team", "T1", "revenue", 250.0))
        t.append((m, "team", "T2", "revenue", 400.0))
        t.append((m, "region", "North", "revenue", 250.0))
        t.append((m, "region", "South", "revenue", 400.0))
        t.append((m, "company", "company", "revenue", 500.0))
    targets = pd.DataFrame(t, columns=["period", "level", "key", "metric", "value"])
    products = pd.DataFrame({"product_id": ["P1", "P2"], "product_line": ["Widgets", "Gadgets"],
                             "list_price": [125.0, 100.0], "unit_cost": [60.0, 50.0]})
    return dict(reps=reps, orders=orders, customers=customers, invoices=invoices, surveys=surveys,
                opportunities=opps, interactions=inter, targets=targets, products=products)


@pytest.fixture(scope="module")
def tiny():
    return sb.Dataset.from_frames(_frames())


@pytest.fixture(scope="module")
def tiny_kpis(tiny):
    q = pd.Period("2025Q1", "Q")
    return pf.compute_kpis(tiny, "quarter", q, q, grace_days=0, as_of=D(2025, 3, 31))


def _row(kpis, level, key):
    f = kpis[level]
    return f[(f["key"] == key) & (f["period"] == pd.Period("2025Q1", "Q"))].iloc[0]


# --------------------------------------------------------------------------- periods
@pytest.mark.parametrize("period,as_of,expected", [
    ("quarter", "2025-12-31", "2025Q4"), ("quarter", "2025-12-30", "2025Q3"), ("quarter", "2025-04-01", "2025Q1"),
    ("month", "2025-02-28", "2025-02"), ("month", "2025-02-27", "2025-01"),
    ("year", "2025-12-31", "2025"), ("year", "2025-06-30", "2024"),
])
def test_select_period_is_last_full_period(period, as_of, expected):
    assert str(pf.select_period(period, as_of)) == expected


def test_unknown_period_is_a_clear_error():
    with pytest.raises(ValueError, match="period must be one of month, quarter, year"):
        pf.select_period("week", "2025-01-01")


# --------------------------------------------------------------------------- KPI formulas
def test_revenue_growth_and_gross_margin_per_rep(tiny_kpis):
    r1 = _row(tiny_kpis, "rep", "R1")
    assert r1["revenue"] == pytest.approx(400.0)
    assert r1["revenue_prev"] == pytest.approx(200.0)          # 2024Q4
    assert r1["revenue_ly"] == pytest.approx(320.0)            # 2024Q1
    assert r1["revenue_growth_pop"] == pytest.approx(1.0)      # 400 / 200 - 1
    assert r1["revenue_growth_yoy"] == pytest.approx(0.25)     # 400 / 320 - 1
    assert r1["gross_margin"] == pytest.approx((400 - 210) / 400)
    # list value = 100 / 0.8 + 300 = 425 -> discount rate = 1 - 400 / 425
    assert r1["discount_rate"] == pytest.approx(1 - 400 / 425)
    assert r1["name"] == "Ann" and r1["team"] == "T1" and r1["region"] == "North"


def test_team_region_company_kpis_are_ratios_of_sums(tiny_kpis):
    t1 = _row(tiny_kpis, "team", "T1")
    assert t1["revenue"] == pytest.approx(500.0)
    assert t1["gross_margin"] == pytest.approx((500 - 290) / 500)   # not the mean of 0.475 and 0.2
    assert t1["region"] == "North"
    north = _row(tiny_kpis, "region", "North")
    assert north["revenue"] == pytest.approx(500.0)
    co = _row(tiny_kpis, "company", "company")
    assert co["revenue"] == pytest.approx(1500.0)
    assert co["gross_margin"] == pytest.approx((1500 - 790) / 1500)
    assert co["revenue_prev"] == pytest.approx(250.0)


def test_new_customer_rate_uses_signup_else_first_order(tiny_kpis):
    # R1: A signed up 2025-02-01 (new), B in 2020 (not new)
    assert _row(tiny_kpis, "rep", "R1")["new_customer_rate"] == pytest.approx(1 / 2)
    # R2: C has no signup date and first ordered in 2024-11 -> not new
    assert _row(tiny_kpis, "rep", "R2")["new_customer_rate"] == pytest.approx(0.0)
    # R3: D has no signup date, first order 2025-03-31 -> new
    assert _row(tiny_kpis, "rep", "R3")["new_customer_rate"] == pytest.approx(1.0)
    co = _row(tiny_kpis, "company", "company")
    assert co["active_customers"] == 4 and co["new_customers"] == 2
    assert co["new_customer_rate"] == pytest.approx(2 / 4)


def test_collection_rate_counts_payments_by_due_date_plus_grace(tiny):
    q = pd.Period("2025Q1", "Q")
    k0 = pf.compute_kpis(tiny, "quarter", q, q, grace_days=0, as_of=D(2025, 3, 31))
    k3 = pf.compute_kpis(tiny, "quarter", q, q, grace_days=3, as_of=D(2025, 3, 31))
    # due in Q1 for R1: 100 + 300 + 50 = 450; on time: 100 + 20; with 3 days grace also the 300
    assert _row(k0, "rep", "R1")["collection_rate"] == pytest.approx(120 / 450)
    assert _row(k3, "rep", "R1")["collection_rate"] == pytest.approx(420 / 450)
    assert _row(k0, "rep", "R3")["collection_rate"] == pytest.approx(0.0)
    assert _row(k0, "company", "company")["collection_rate"] == pytest.approx(120 / 530)
    # payments after as_of do not count: on 2025-02-11 only I1 (paid 02-01) is in, I2 (02-12) and I3 (02-20) not
    early = pf.compute_kpis(tiny, "quarter", q, q, grace_days=3, as_of=D(2025, 2, 11))
    assert _row(early, "rep", "R1")["collection_rate"] == pytest.approx(100 / 450)


def test_satisfaction_win_rate_deal_size_and_activity(tiny_kpis):
    r1 = _row(tiny_kpis, "rep", "R1")
    assert r1["csat"] == pytest.approx(4.5)
    assert r1["nps"] == pytest.approx(0.0)                 # one promoter (10), one detractor (6)
    assert r1["win_rate"] == pytest.approx(2 / 3)          # D1, D2 won; D3 lost; D4 open; D5 next quarter
    assert r1["avg_deal_size"] == pytest.approx(2000.0)
    assert r1["visits_per_customer"] == pytest.approx(4 / 2)
    assert r1["complaints_per_customer"] == pytest.approx(1 / 2)
    r3 = _row(tiny_kpis, "rep", "R3")
    assert r3["csat"] == pytest.approx(3.5)
    assert r3["nps"] == pytest.approx(50.0)                # 9 promoter, 8 passive
    assert math.isnan(r3["win_rate"])                      # no closed deal: missing, not 0


def test_targets_sum_additive_and_average_rates(tiny_kpis):
    r1 = _row(tiny_kpis, "rep", "R1")
    assert r1["revenue_target"] == pytest.approx(500.0)
    assert r1["revenue_attainment"] == pytest.approx(0.8)
    assert r1["gross_margin_target"] == pytest.approx(0.5)    # monthly 0.5 averaged, not summed
    assert r1["gross_margin_attainment"] == pytest.approx(0.475 / 0.5)
    co = _row(tiny_kpis, "company", "company")
    assert co["revenue_target"] == pytest.approx(1500.0) and co["revenue_attainment"] == pytest.approx(1.0)


def test_invoices_without_rep_are_credited_to_the_customer_owner():
    frames = _frames()
    frames["invoices"] = frames["invoices"].drop(columns="rep_id")
    ds = sb.Dataset.from_frames(frames)
    q = pd.Period("2025Q1", "Q")
    k = pf.compute_kpis(ds, "quarter", q, q, as_of=D(2025, 3, 31), levels=("rep",))
    assert _row(k, "rep", "R1")["collection_rate"] == pytest.approx(120 / 450)


# --------------------------------------------------------------------------- weights and score
def test_weights_not_summing_to_one_is_a_clear_error():
    with pytest.raises(pf.WeightsError, match=r"must sum to 1; they sum to 0\.9"):
        pf.check_weights({"revenue": 0.5, "gross_margin": 0.4})
    with pytest.raises(pf.WeightsError, match="unknown KPI 'happiness'"):
        pf.check_weights({"revenue": 0.5, "happiness": 0.5})
    with pytest.raises(pf.WeightsError, match="non-negative"):
        pf.check_weights({"revenue": 1.5, "csat": -0.5})
    with pytest.raises(pf.WeightsError):
        pf.ReviewConfig(weights={"revenue": 0.3, "csat": 0.3})
    assert pf.check_weights(pf.DEFAULT_WEIGHTS) == pf.DEFAULT_WEIGHTS


def test_composite_score_hand_computed():
    frame = pd.DataFrame({
        "rep_id": ["a", "b", "c"], "revenue": [1.0, 1.0, 1.0],
        "revenue_attainment": [1.5, 1.0, 0.5], "gross_margin": [0.3, 0.2, 0.1],
    })
    out = pf.composite_score(frame, {"revenue": 0.5, "gross_margin": 0.5}, cap=1.2)
    # revenue: attainment capped at 1.2; margin: mid-rank percentile (rank - 0.5) / 3
    assert list(out["c_revenue"]) == pytest.approx([1.2, 1.0, 0.5])
    assert list(out["c_gross_margin"]) == pytest.approx([5 / 6, 1 / 2, 1 / 6])
    assert list(out["score"]) == pytest.approx([100 * (0.6 + 5 / 12), 100 * (0.5 + 0.25), 100 * (0.25 + 1 / 12)])
    assert list(out["basis_revenue"]) == ["target"] * 3
    assert list(out["basis_gross_margin"]) == ["percentile"] * 3
    # all-percentile normalisation ignores targets
    pct = pf.composite_score(frame, {"revenue": 0.5, "gross_margin": 0.5}, normalisation="percentile")
    assert list(pct["c_revenue"]) == pytest.approx([0.5, 0.5, 0.5])   # tied revenue -> all median


def test_missing_kpi_weight_is_spread_and_min_weight_applies():
    frame = pd.DataFrame({"rep_id": ["a", "b"], "revenue": [1.0, 1.0], "revenue_attainment": [0.9, 1.1],
                          "gross_margin": [np.nan, 0.3], "csat": [4.0, np.nan]})
    w = {"revenue": 0.5, "gross_margin": 0.3, "csat": 0.2}
    out = pf.composite_score(frame, w, min_weight=0.5)
    # a: revenue 0.9 (w .5) + csat percentile 0.5 (only value, w .2) over 0.7
    assert out.loc[0, "score"] == pytest.approx(100 * (0.5 * 0.9 + 0.2 * 0.5) / 0.7)
    assert out.loc[0, "weight_covered"] == pytest.approx(0.7)
    assert out.loc[1, "score"] == pytest.approx(100 * (0.5 * 1.1 + 0.3 * 0.5) / 0.8)
    strict = pf.composite_score(frame, w, min_weight=0.75)
    assert math.isnan(strict.loc[0, "score"]) and not math.isnan(strict.loc[1, "score"])


def test_peer_percentile_within_groups_ties_and_direction():
    v = pd.Series([10.0, 20.0, 20.0, 5.0, np.nan])
    g = pd.Series(["x", "x", "x", "y", "y"])
    p = pf.peer_percentile(v, g)
    assert list(p[:4]) == pytest.approx([0.5 / 3, 2 / 3, 2 / 3, 0.5])
    assert math.isnan(p[4])
    low = pf.peer_percentile(pd.Series([1.0, 2.0, 3.0]), higher_is_better=False)
    assert list(low) == pytest.approx([5 / 6, 1 / 2, 1 / 6])


# --------------------------------------------------------------------------- warning lines
def test_classify_edges_value_on_a_line_is_on_the_better_side():
    s = pf.classify([0.7999, 0.8, 0.9499, 0.95, 1.3, np.nan], red=0.8, amber=0.95)
    assert list(s) == ["red", "amber", "amber", "green", "green", "grey"]
    assert 80 / 100 == 0.8 and list(pf.classify([80 / 100], 0.8, 0.95)) == ["amber"]
    low = pf.classify([0.5, 0.3, 0.31, 0.2, 0.1], red=0.3, amber=0.2, higher_is_better=False)
    assert list(low) == ["red", "amber", "red", "green", "green"]   # 0.3 on the red line -> amber, 0.2 on amber -> green


def test_warning_line_validation():
    with pytest.raises(ValueError, match="red .* must not be above amber"):
        pf.check_lines({"attainment": {"red": 0.95, "amber": 0.8}})
    with pytest.raises(ValueError, match="unknown warning line"):
        pf.check_lines({"margin": {"red": 0.1, "amber": 0.2}})


def test_scorecard_status_ranks_and_warning_list():
    reps = pd.DataFrame({
        "rep_id": ["a", "b", "c", "d"], "name": ["A", "B", "C", "D"], "team": ["t1", "t1", "t2", "t2"],
        "revenue": [1.0, 1.0, 1.0, 1.0], "revenue_attainment": [1.3, 0.79, 0.9, 1.0],
        "gross_margin": [0.4, 0.3, 0.2, 0.1],
    })
    lines = {"attainment": {"red": 0.8, "amber": 0.95}, "percentile": {"red": 0.1, "amber": 0.25},
             "score": {"red": 40.0, "amber": 50.0}}
    card = pf.scorecard(reps, {"revenue": 0.5, "gross_margin": 0.5}, lines)
    by = card.set_index("rep_id")
    # scores: a 100*(.6 + .4375) ; b 100*(.395 + .3125) ; c 100*(.45 + .1875) ; d 100*(.5 + .0625)
    assert by.loc["a", "score"] == pytest.approx(103.75)
    assert by.loc["b", "score"] == pytest.approx(70.75)
    assert by.loc["c", "score"] == pytest.approx(63.75)
    assert by.loc["d", "score"] == pytest.approx(56.25)
    assert list(card["rep_id"]) == ["a", "b", "c", "d"]
    assert list(card["rank"]) == [1, 2, 3, 4]
    assert by.loc["c", "rank_team"] == 1 and by.loc["d", "rank_team"] == 2
    # b scores green but its revenue attainment is under the red line -> overall red
    assert by.loc["b", "score_status"] == "green" and by.loc["b", "status_revenue"] == "red"
    assert by.loc["b", "status"] == "red"
    assert by.loc["c", "status"] == "amber" and by.loc["a", "status"] == "green"
    # d's margin is the lowest of four: percentile 0.125 -> amber (not a red-triggering target KPI)
    assert by.loc["d", "status_gross_margin"] == "amber" and by.loc["d", "status"] == "green"
    wl = pf.warning_list(card, ["revenue", "gross_margin"])
    assert list(zip(wl["rep_id"], wl["measure"], wl["status"])) == [
        ("b", "revenue", "red"), ("c", "revenue", "amber"), ("d", "gross_margin", "amber")]


# --------------------------------------------------------------------------- price / volume / mix
def test_price_volume_mix_hand_computed_with_a_launch():
    base = pd.DataFrame({"product_line": ["A", "B"], "quantity": [10.0, 10.0], "revenue": [100.0, 200.0]})
    cur = pd.DataFrame({"product_line": ["A", "B", "C"], "quantity": [10.0, 20.0, 5.0],
                        "revenue": [120.0, 400.0, 50.0]})
    out = var.price_volume_mix(cur, base).set_index("product_line")
    assert out.loc["A", ["volume", "mix", "price", "change"]].tolist() == [75.0, -75.0, 20.0, 20.0]
    assert out.loc["B", ["volume", "mix", "price", "change"]].tolist() == [150.0, 50.0, 0.0, 200.0]
    assert out.loc["C", ["volume", "mix", "price", "change"]].tolist() == [0.0, 50.0, 0.0, 50.0]
    tot = out.loc["Total"]
    assert tot[["volume", "mix", "price", "change"]].tolist() == [225.0, 25.0, 20.0, 270.0]
    assert tot["volume"] + tot["mix"] + tot["price"] == tot["change"]      # exactly
    assert tot["volume"] == (35 - 20) * (300 / 20)                         # (Q1 - Q0) * base average price


def test_price_volume_mix_discontinued_line_and_random_additivity():
    base = pd.DataFrame({"product_line": ["A", "D"], "quantity": [4.0, 4.0], "revenue": [40.0, 80.0]})
    cur = pd.DataFrame({"product_line": ["A"], "quantity": [8.0], "revenue": [64.0]})
    out = var.price_volume_mix(cur, base).set_index("product_line")
    assert out.loc["D", "price"] == 0.0 and out.loc["D", "change"] == -80.0
    assert out.loc["D", "volume"] + out.loc["D", "mix"] == -80.0
    rng = np.random.default_rng(7)
    for _ in range(50):
        k = 6
        b = pd.DataFrame({"product_line": list("abcdef"), "quantity": rng.integers(0, 50, k).astype(float),
                          "revenue": 0.0})
        b["revenue"] = b["quantity"] * rng.uniform(5, 500, k)
        c = pd.DataFrame({"product_line": list("abcdef"), "quantity": rng.integers(0, 50, k).astype(float)})
        c["revenue"] = c["quantity"] * rng.uniform(5, 500, k)
        if b["quantity"].sum() == 0:
            continue
        res = var.price_volume_mix(c, b)
        comp = res["volume"] + res["mix"] + res["price"]
        assert np.allclose(comp, res["change"], rtol=0, atol=1e-9 * res["revenue_base"].max())


def test_price_volume_mix_needs_base_quantity():
    empty = pd.DataFrame({"product_line": ["A"], "quantity": [0.0], "revenue": [0.0]})
    cur = pd.DataFrame({"product_line": ["A"], "quantity": [1.0], "revenue": [5.0]})
    with pytest.raises(ValueError, match="base period has no quantity"):
        var.price_volume_mix(cur, empty)


def test_scale_to_target_keeps_prices_and_mix():
    base = pd.DataFrame({"product_line": ["A", "B"], "quantity": [10.0, 30.0], "revenue": [100.0, 300.0]})
    t = var.scale_to_target(base, 500.0)
    assert t["revenue"].sum() == pytest.approx(500.0)
    assert list(t["revenue"] / t["quantity"]) == pytest.approx([10.0, 10.0])
    assert list(t["quantity"] / t["quantity"].sum()) == pytest.approx([0.25, 0.75])


def test_gap_waterfall_adds_up_with_unallocated_rest():
    ch = pd.DataFrame({"label": ["N", "S"], "revenue": [90.0, 130.0], "revenue_target": [100.0, 100.0]})
    wf = var.gap_waterfall(ch, total_actual=230.0, total_target=200.0)
    assert list(wf["label"]) == ["Target", "N", "S", "Not allocated", "Actual"]
    assert list(wf["delta"]) == [200.0, -10.0, 30.0, 10.0, 230.0]
    assert list(wf["end"]) == [200.0, 190.0, 220.0, 230.0, 230.0]
    wf2 = var.gap_waterfall(ch, total_actual=220.0, total_target=200.0)
    assert "Not allocated" not in set(wf2["label"])


# --------------------------------------------------------------------------- relationships and feedback
def test_spearman_ci_hand_computed():
    # ranks 1..5 vs 2,1,4,3,5: sum d^2 = 4 -> rho = 1 - 6*4 / (5*24) = 0.8
    r = fb.spearman_ci([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])
    assert r["rho"] == pytest.approx(0.8)
    z, se = math.atanh(0.8), math.sqrt((1 + 0.32) / 2)       # Bonett & Wright SE, n - 3 = 2
    assert r["lo"] == pytest.approx(math.tanh(z - 1.959964 * se), abs=1e-5)
    assert r["hi"] == pytest.approx(math.tanh(z + 1.959964 * se), abs=1e-5)
    assert r["lo"] == pytest.approx(-0.4571, abs=1e-3) and r["hi"] == pytest.approx(0.9908, abs=1e-3)
    assert math.isnan(fb.spearman_ci([1, 2, 3], [1, 2, 3])["rho"])   # n < 5


def test_relationships_readings_never_claim_causes():
    x = np.arange(30, dtype=float)
    frame = pd.DataFrame({"discount_rate": x, "gross_margin": -x + np.sin(x), "visits_per_customer": x,
                          "win_rate": np.cos(x * 7.3)})
    rel = fb.relationships(frame, [("discount_rate", "gross_margin"), ("visits_per_customer", "win_rate"),
                                   ("complaints_per_customer", "csat")])
    assert list(rel["x"]) == ["discount_rate", "visits_per_customer"]       # absent pair skipped
    assert rel.loc[0, "hi"] < 0 and "lower gross margin" in rel.loc[0, "reading"]
    assert "not cause" in rel.loc[0, "reading"]
    assert rel.loc[1, "lo"] < 0 < rel.loc[1, "hi"] and "no clear association" in rel.loc[1, "reading"]


def test_feedback_strengths_and_gaps_against_team_median():
    card = pd.DataFrame({
        "rep_id": ["a", "b", "c", "z"], "name": ["A", "B", "C", "Z"], "team": ["t", "t", "t", "u"],
        "score": [70.0, 60.0, 50.0, 40.0], "rank": [1, 2, 3, 4], "rank_team": [1, 2, 3, 1],
        "status": ["green", "green", "amber", "red"],
        "gross_margin": [0.40, 0.30, 0.20, 0.30], "csat": [3.0, 4.0, 4.5, 4.0],
        "revenue": [100.0, 100.0, 100.0, 100.0], "revenue_attainment": [1.1, 1.0, 0.9, 0.8],
    })
    history = card.assign(period=pd.Period("2025Q1", "Q"))
    out = fb.rep_feedback(card, history, ["revenue", "gross_margin", "csat"], ["a"])
    a = out[0]
    # gross margin 40% vs team median 30%: +10 pts (strength); CSAT 3.00 vs median 4.00 (gap)
    assert a["strengths"] == ["Gross margin 40.0% vs team median 30.0% (+10.0 pts)"]
    assert a["gaps"] == ["CSAT (1-5) 3.00 vs team median 4.00 (−1.00)"]
    assert "rank 1 of 4 in the company and 1 of 3 in t" in a["summary"]
    comp = fb.kpi_comparison(card, "a", ["revenue", "gross_margin"]).set_index("kpi")
    assert comp.loc["revenue", "attainment"] == pytest.approx(1.1) and comp.loc["revenue", "diff"] == 0.0


# --------------------------------------------------------------------------- the review on the tiny company
def test_review_on_tiny_company(tiny, tmp_path):
    from salesbench.analyses.performance import report

    rv = pf.PerformanceReview(period="quarter", as_of=D(2025, 3, 31), trend_periods=2).fit(tiny)
    r = rv.results()
    assert r["period"] == "2025Q1" and r["previous_period"] == "2024Q4" and r["last_year_period"] == "2024Q1"
    assert r["company"]["revenue"] == pytest.approx(1500.0)
    assert r["company"]["attainment"] == pytest.approx(1.0)
    assert [s["rep_id"] for s in r["scorecard"]] == list(rv.card_["rep_id"])
    assert sorted(s["rank"] for s in r["scorecard"]) == [1, 2, 3]
    assert r["below_warning"] == sum(s["status"] in ("red", "amber") for s in r["scorecard"])
    assert r["score_vs_truth_spearman"] is None                       # not the demo
    assert r["pvm_previous"]["volume"] + r["pvm_previous"]["mix"] + r["pvm_previous"]["price"] == pytest.approx(
        r["pvm_previous"]["change"])
    wf = rv.waterfalls_["region"]
    assert wf["end"].iloc[-2] == pytest.approx(1500.0) and wf["delta"].iloc[0] == pytest.approx(1500.0)
    res = sb.results.Results("performance", tmp_path)
    report.publish(rv, res)
    res.save()
    saved = json.loads((tmp_path / "performance.results.json").read_text())
    assert saved["weights"] == pf.DEFAULT_WEIGHTS and len(saved["headline"]) == 4
    assert (tmp_path / "performance.scorecard.csv").exists()


def test_review_scope_and_bad_scope(tiny):
    rv = pf.PerformanceReview(as_of=D(2025, 3, 31), trend_periods=1, team="T1").fit(tiny)
    assert set(rv.scope_card_["rep_id"]) == {"R1", "R2"}
    assert rv.scope_kpis_["revenue"] == pytest.approx(500.0)
    assert list(rv.waterfalls_) == ["rep"]
    with pytest.raises(ValueError, match="unknown region 'Mars'; regions: North, South"):
        pf.PerformanceReview(as_of=D(2025, 3, 31), region="Mars").fit(tiny)


def test_review_without_optional_tables_spreads_weights(tmp_path):
    frames = {k: v for k, v in _frames().items() if k in ("orders", "reps")}
    ds = sb.Dataset.from_frames(frames)
    rv = pf.PerformanceReview(as_of=D(2025, 3, 31), trend_periods=1, min_weight=0.3).fit(ds)
    assert rv.card_["collection_rate"].isna().all() and rv.card_["csat"].isna().all()
    # revenue (percentile: no targets), margin and new-customer rate carry the score
    assert rv.card_["weight_covered"].tolist() == pytest.approx([0.65] * 3)
    assert any("Collection rate cannot be computed" in n for n in rv.notes_)
    assert any("no targets table" in n for n in rv.notes_)


def test_missing_reps_table_skips_with_a_clear_reason(tmp_path):
    from salesbench.core.dataset import MissingTables

    ds = sb.Dataset.from_frames({"orders": _frames()["orders"]})
    res = sb.results.Results("performance", tmp_path)
    with pytest.raises(MissingTables, match="needs the reps table"):
        ds.require("orders", "reps", analysis="performance", res=res)
    saved = json.loads((tmp_path / "performance.results.json").read_text())
    assert saved["status"] == "skipped" and saved["reason"] == "no reps table"


# --------------------------------------------------------------------------- params and notebook
def test_declared_defaults_are_the_module_defaults():
    from salesbench.report import params

    defaults = params.declaration("performance").defaults
    assert defaults["weights"] == pf.DEFAULT_WEIGHTS and defaults["warning_lines"] == pf.DEFAULT_LINES
    cfg = pf.ReviewConfig.from_params(params.load("performance", defaults))
    assert cfg.weights == pf.DEFAULT_WEIGHTS and cfg.period == "quarter" and cfg.as_of is None
    bad = {"weights": {"revenue": 0.5, "csat": 0.4}}
    with pytest.raises(pf.WeightsError, match="sum to 0.9"):
        pf.ReviewConfig.from_params(bad)
    with pytest.raises(params.ParamError, match="sum to 0.9"):  # the declared _check, before any kernel
        params.load("performance", bad)


def test_future_dated_orders_do_not_move_the_review_period():
    frames = _frames()
    extra = frames["orders"].iloc[[0]].assign(order_id="O99", order_date=D(2099, 1, 1))
    frames["orders"] = pd.concat([frames["orders"], extra], ignore_index=True)
    ds = sb.Dataset.from_frames(frames)
    assert pf.data_end(ds, today=D(2026, 1, 1)) == D(2025, 4, 1)
    assert pf.future_orders(ds, D(2026, 1, 1)) == 1
    rv = pf.PerformanceReview(trend_periods=1).fit(ds)
    assert str(rv.period_) == "2025Q1"            # last full quarter on or before 2025-04-01
    assert rv.notes_ == ["1 order line dated in the future (after today) was ignored"]


def test_figures_and_tables_fall_back_and_escape(tiny):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from salesbench.analyses.performance import plots
    from salesbench.analyses.performance import report

    frames = _frames()
    frames["reps"].loc[0, "name"] = "<script>alert(1)</script>"
    rv = pf.PerformanceReview(as_of=D(2025, 3, 31), trend_periods=2).fit(sb.Dataset.from_frames(frames))
    ax = plots.overview_bars(rv)
    xs = sorted({round(float(line.get_xdata()[0]), 4) for line in ax.lines})
    assert xs == [0.8, 0.95, 1.0] and ax.get_xlabel().startswith("revenue attainment")
    html = plots.scorecard_table(rv.card_, list(rv.config.weights)).markup + report.feedback_blocks(rv).markup
    assert "<script>" not in html and "&lt;script&gt;" in html
    # without targets the first figure shows the score against the score lines
    bare = pf.PerformanceReview(as_of=D(2025, 3, 31), trend_periods=2).fit(
        sb.Dataset.from_frames({k: frames[k] for k in ("orders", "reps")}))
    ax2 = plots.overview_bars(bare)
    assert ax2.get_xlabel() == "composite score (points)"
    assert sorted({float(line.get_xdata()[0]) for line in ax2.lines}) == [40.0, 50.0]
    plots.sparklines(bare.history_, bare.scope_card_["rep_id"], lines=bare.config.warning_lines)
    wf = plots.gap_waterfall_plot(rv.waterfalls_["region"])
    assert [t.get_text() for t in wf.get_xticklabels()] == list(rv.waterfalls_["region"]["label"])
    plt.close("all")


def test_sales_expense_ratio_when_an_expenses_table_exists(monkeypatch):
    from salesbench.core import schema

    # the canonical schema has no expenses table yet: declare one for this test only
    table = schema.Table("expenses", (schema.Column("rep_id", "id"), schema.Column("expense_date", "date", True),
                                      schema.Column("amount", "float", True)))
    monkeypatch.setitem(schema.TABLES, "expenses", table)
    frames = _frames()
    frames["expenses"] = pd.DataFrame({"rep_id": ["R1", "R1", "R3", "R1"],
                                       "expense_date": [D(2025, 1, 5), D(2025, 3, 9), D(2025, 2, 1), D(2025, 5, 1)],
                                       "amount": [30.0, 10.0, 250.0, 500.0]})
    ds = sb.Dataset.from_frames(frames)
    q = pd.Period("2025Q1", "Q")
    k = pf.compute_kpis(ds, "quarter", q, q, as_of=D(2025, 3, 31))
    assert _row(k, "rep", "R1")["expense_ratio"] == pytest.approx(40 / 400)
    assert _row(k, "rep", "R3")["expense_ratio"] == pytest.approx(250 / 1000)
    assert _row(k, "company", "company")["expense_ratio"] == pytest.approx(290 / 1500)
    assert _row(k, "rep", "R2")["expense_ratio"] == 0.0          # the table exists, R2 spent nothing
    # lower is better: the cheaper rep ranks higher on an expense-only score
    card = pf.scorecard(k["rep"], {"expense_ratio": 1.0}, min_weight=0.1).set_index("rep_id")
    assert card.loc["R1", "score"] > card.loc["R3", "score"]
