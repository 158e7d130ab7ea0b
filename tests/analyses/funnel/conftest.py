"""Fixtures of the funnel tests: a small hand-made pipeline with hand-computed answers.

The pipeline (all deals created 2024-01-01 00:00 unless noted; reference date
``as_of = 2024-03-31``, i.e. the state at 2024-04-01 00:00):

==  ======  =====  ==================================================================
id  rep     chan   history
==  ======  =====  ==================================================================
A   r1/T1   direct lead 01-01, contact 01-02, needs_confirmed 01-04 00:00 (exactly 48 h),
                   proposal 01-05, negotiation 01-08, contract 01-15, won 01-20;
                   plus an unknown stage row 'qualified'
B   r1/T1   online lead, contact 01-02, lost 01-05 (price)
C   r2/T2   direct lead, contact 01-02, proposal 01-06 (needs_confirmed skipped); open
D   r2/T2   online lead, lost 01-10 (timing)
E   r1/T1   direct lead, contact 01-01 12:00; open (pending SLA breach)
F   r2/T2   direct lead twice (duplicate row), contact 01-02, needs_confirmed 01-04 00:01
                   (48 h + 1 min), proposal 01-10, negotiation 01-15, proposal again 01-17,
                   negotiation again 01-20, contract 01-25, won 02-01
G   r2/T2   store  lead, 'Contact ' 01-02 (odd spelling), lost 01-03 (competitor)
H   r1/T1   direct created 03-01: lead 03-01, contact 03-02, needs_confirmed 03-03,
                   lost 04-15 (after as_of: open at as_of)
I   r1/T1   direct created 04-10 (after as_of)
==  ======  =====  ==================================================================
"""
from __future__ import annotations

import pandas as pd
import pytest

from salesbench import Dataset
from salesbench.analyses.funnel.deals import load_deals

T = pd.Timestamp
ASOF = "2024-03-31"


def _history():
    rows = [
        ("A", "lead", "2024-01-01"), ("A", "contact", "2024-01-02"), ("A", "qualified", "2024-01-03"),
        ("A", "needs_confirmed", "2024-01-04"), ("A", "proposal", "2024-01-05"), ("A", "negotiation", "2024-01-08"),
        ("A", "contract", "2024-01-15"), ("A", "won", "2024-01-20"),
        ("B", "lead", "2024-01-01"), ("B", "contact", "2024-01-02"), ("B", "lost", "2024-01-05"),
        ("C", "lead", "2024-01-01"), ("C", "contact", "2024-01-02"), ("C", "proposal", "2024-01-06"),
        ("D", "lead", "2024-01-01"), ("D", "lost", "2024-01-10"),
        ("E", "lead", "2024-01-01"), ("E", "contact", "2024-01-01 12:00"),
        ("F", "lead", "2024-01-01"), ("F", "lead", "2024-01-01"), ("F", "contact", "2024-01-02"),
        ("F", "needs_confirmed", "2024-01-04 00:01"), ("F", "proposal", "2024-01-10"),
        ("F", "negotiation", "2024-01-15"), ("F", "proposal", "2024-01-17"), ("F", "negotiation", "2024-01-20"),
        ("F", "contract", "2024-01-25"), ("F", "won", "2024-02-01"),
        ("G", "lead", "2024-01-01"), ("G", "Contact ", "2024-01-02"), ("G", "lost", "2024-01-03"),
        ("H", "lead", "2024-03-01"), ("H", "contact", "2024-03-02"), ("H", "needs_confirmed", "2024-03-03"),
        ("H", "lost", "2024-04-15"),
        ("I", "lead", "2024-04-10"),
    ]
    sh = pd.DataFrame(rows, columns=["opportunity_id", "stage", "entered_at"])
    sh["entered_at"] = pd.to_datetime(sh["entered_at"], format="ISO8601")
    return sh


def _frames():
    opps = pd.DataFrame({
        "opportunity_id": list("ABCDEFGHI"),
        "customer_id": ["c1", "c2", "c1", "c2", "c1", "c2", "c2", "c1", "c1"],
        "rep_id": ["r1", "r1", "r2", "r2", "r1", "r2", "r2", "r1", "r1"],
        "created_at": [T("2024-01-01")] * 7 + [T("2024-03-01"), T("2024-04-10")],
        "amount": [100.0, 200.0, 300.0, 400.0, 500.0, 1000.0, 50.0, 700.0, 80.0],
        "stage": ["won", "lost", "proposal", "lost", "contact", "won", "lost", "lost", "lead"],
        "status": ["won", "lost", "open", "lost", "open", "won", "lost", "lost", "open"],
        "closed_at": [T("2024-01-20"), T("2024-01-05"), pd.NaT, T("2024-01-10"), pd.NaT, T("2024-02-01"),
                      T("2024-01-03"), T("2024-04-15"), pd.NaT],
        "lost_reason": [None, "price", None, "timing", None, None, "competitor", "price", None],
        "channel": ["direct", "online", "direct", "online", "direct", "direct", "store", "direct", "direct"],
    })
    reps = pd.DataFrame({"rep_id": ["r1", "r2"], "name": ["Ann", "Bob"], "team": ["T1", "T2"],
                         "region": ["North", "South"], "manager_id": ["m", "m"]})
    customers = pd.DataFrame({"customer_id": ["c1", "c2"], "name": ["X", "Y"], "tier": ["A", "B"],
                              "industry": ["retail", "education"]})
    targets = pd.DataFrame({
        "period": pd.to_datetime(["2024-03-01", "2024-04-01", "2024-04-01", "2024-04-01", "2024-05-01"]).date,
        "level": ["company", "company", "team", "team", "company"],
        "key": ["company", "company", "T1", "T2", "company"],
        "metric": ["revenue"] * 5,
        "value": [9999.0, 500.0, 400.0, 200.0, 7777.0],
    })
    return {"opportunities": opps, "stage_history": _history(), "reps": reps, "customers": customers,
            "targets": targets}


@pytest.fixture
def frames():
    """The hand-made tables (fresh copies): opportunities, stage_history, reps, customers, targets."""
    return _frames()


@pytest.fixture(scope="session")
def ds():
    """The hand-made data set (shared by every funnel test module; nothing mutates it)."""
    return Dataset.from_frames(_frames())


@pytest.fixture(scope="session")
def deals(ds):
    """``load_deals`` at as_of 2024-03-31 (read-only)."""
    return load_deals(ds, as_of=ASOF)
