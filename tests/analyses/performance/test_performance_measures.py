"""Periods and KPI formulas of the performance review on the tiny company (hand-computed answers)."""
from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

import salesbench as sb
from salesbench.analyses.performance import measures, periods, scorecard

D = dt.date


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
    assert str(periods.select_period(period, as_of)) == expected


def test_unknown_period_is_a_clear_error():
    with pytest.raises(ValueError, match="period must be one of month, quarter, year"):
        periods.select_period("week", "2025-01-01")


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
    k0 = measures.compute_kpis(tiny, "quarter", q, q, grace_days=0, as_of=D(2025, 3, 31))
    k3 = measures.compute_kpis(tiny, "quarter", q, q, grace_days=3, as_of=D(2025, 3, 31))
    # due in Q1 for R1: 100 + 300 + 50 = 450; on time: 100 + 20; with 3 days grace also the 300
    assert _row(k0, "rep", "R1")["collection_rate"] == pytest.approx(120 / 450)
    assert _row(k3, "rep", "R1")["collection_rate"] == pytest.approx(420 / 450)
    assert _row(k0, "rep", "R3")["collection_rate"] == pytest.approx(0.0)
    assert _row(k0, "company", "company")["collection_rate"] == pytest.approx(120 / 530)
    # payments after as_of do not count: on 2025-02-11 only I1 (paid 02-01) is in, I2 (02-12) and I3 (02-20) not
    early = measures.compute_kpis(tiny, "quarter", q, q, grace_days=3, as_of=D(2025, 2, 11))
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


def test_invoices_without_rep_are_credited_to_the_customer_owner(make_frames):
    frames = make_frames()
    frames["invoices"] = frames["invoices"].drop(columns="rep_id")
    ds = sb.Dataset.from_frames(frames)
    q = pd.Period("2025Q1", "Q")
    k = measures.compute_kpis(ds, "quarter", q, q, as_of=D(2025, 3, 31), levels=("rep",))
    assert _row(k, "rep", "R1")["collection_rate"] == pytest.approx(120 / 450)


def test_sales_expense_ratio_when_an_expenses_table_exists(monkeypatch, make_frames):
    from salesbench.core import schema

    # the canonical schema has no expenses table yet: declare one for this test only
    table = schema.Table("expenses", (schema.Column("rep_id", "id"), schema.Column("expense_date", "date", True),
                                      schema.Column("amount", "float", True)))
    monkeypatch.setitem(schema.TABLES, "expenses", table)
    frames = make_frames()
    frames["expenses"] = pd.DataFrame({"rep_id": ["R1", "R1", "R3", "R1"],
                                       "expense_date": [D(2025, 1, 5), D(2025, 3, 9), D(2025, 2, 1), D(2025, 5, 1)],
                                       "amount": [30.0, 10.0, 250.0, 500.0]})
    ds = sb.Dataset.from_frames(frames)
    q = pd.Period("2025Q1", "Q")
    k = measures.compute_kpis(ds, "quarter", q, q, as_of=D(2025, 3, 31))
    assert _row(k, "rep", "R1")["expense_ratio"] == pytest.approx(40 / 400)
    assert _row(k, "rep", "R3")["expense_ratio"] == pytest.approx(250 / 1000)
    assert _row(k, "company", "company")["expense_ratio"] == pytest.approx(290 / 1500)
    assert _row(k, "rep", "R2")["expense_ratio"] == 0.0          # the table exists, R2 spent nothing
    # lower is better: the cheaper rep ranks higher on an expense-only score
    card = scorecard.scorecard(k["rep"], {"expense_ratio": 1.0}, min_weight=0.1).set_index("rep_id")
    assert card.loc["R1", "score"] > card.loc["R3", "score"]
