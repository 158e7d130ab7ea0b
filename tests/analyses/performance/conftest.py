"""Shared fixtures of the performance tests: a tiny company with hand-computed answers."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import salesbench as sb
from salesbench.analyses.performance import measures
from salesbench.analyses.performance import model as pf

D = dt.date


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


@pytest.fixture
def make_frames():
    """A function that builds the tiny company's tables afresh (tests may change them)."""
    return _frames


@pytest.fixture(scope="session")
def tiny():
    return sb.Dataset.from_frames(_frames())


@pytest.fixture(scope="module")
def tiny_kpis(tiny):
    q = pd.Period("2025Q1", "Q")
    return measures.compute_kpis(tiny, "quarter", q, q, grace_days=0, as_of=D(2025, 3, 31))


@pytest.fixture(scope="session")
def tiny_review(tiny):
    """The review of the tiny company's 2025Q1 with two trend periods."""
    return pf.PerformanceReview(period="quarter", as_of=D(2025, 3, 31), trend_periods=2).fit(tiny)
