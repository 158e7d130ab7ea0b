"""Loading rules of the funnel (as_of state, furthest stage, period, cohorts, time in stage) on the hand-made pipeline of conftest.py."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from salesbench.analyses.funnel import deals as funnel, durations

T = pd.Timestamp
ASOF = "2024-03-31"


def by_id(deals):
    return deals.frame.set_index("opportunity_id")


def test_as_of_state_and_furthest_stage(deals):
    f = by_id(deals)
    assert deals.as_of == T("2024-04-01")
    assert sorted(f.index) == list("ABCDEFGH")  # I was created after as_of
    assert f.loc["H", "status"] == "open" and pd.isna(f.loc["H", "closed_at"])  # lost only after as_of
    assert f.loc["H", "current_stage"] == "needs_confirmed"
    expected = {"A": 6, "B": 1, "C": 3, "D": 0, "E": 1, "F": 6, "G": 1, "H": 2}
    assert f["furthest"].to_dict() == expected
    assert f.loc["C", "current_stage"] == "proposal"  # skipped needs_confirmed, furthest rule
    assert deals.unknown_stages == {"qualified": 1}


def test_without_as_of_uses_latest_event(ds):
    d = funnel.load_deals(ds)
    f = by_id(d)
    assert d.as_of == T("2024-04-15")
    assert len(f) == 9 and f.loc["H", "status"] == "lost"


def test_period_filter_and_mature_cohort(ds, deals):
    d = funnel.load_deals(ds, start="2024-02-01", end="2024-04-30")
    assert sorted(d.frame["opportunity_id"]) == ["H", "I"]
    assert sorted(deals.mature(60).frame["opportunity_id"]) == list("ABCDEFG")  # created ≤ 2024-02-01


def test_time_in_stage_rules(deals):
    f = by_id(deals)
    # lead: D waited until its loss; duplicate lead rows of F do not change anything
    assert f["days_0"].to_dict() == pytest.approx({"A": 1, "B": 1, "C": 1, "D": 9, "E": 0.5, "F": 1, "G": 1, "H": 1})
    # contact: C skipped needs_confirmed, so its contact stay runs to proposal; E is still running (censored)
    assert f.loc["C", "days_1"] == pytest.approx(4.0)
    assert f.loc["E", "days_1"] == pytest.approx(90.5) and f.loc["E", "censored_1"]
    # re-entry: F's proposal time is first proposal -> first negotiation, negotiation runs to contract
    assert f.loc["F", "days_3"] == pytest.approx(5.0)
    assert f.loc["F", "days_4"] == pytest.approx(10.0)
    assert math.isnan(f.loc["C", "days_2"])
    d = durations.stage_durations(deals).set_index("stage")
    assert d.loc["lead", "median_days"] == pytest.approx(1.0) and d.loc["lead", "p90_days"] == pytest.approx(9.0)
    assert d.loc["contact", "median_days"] == pytest.approx(2 + 1 / 1440)
    assert math.isnan(d.loc["contact", "p90_days"]) and d.loc["contact", "censored"] == 1
    assert d.loc["contact", "p90_days_completed"] == pytest.approx(3.5)
    assert d.loc["proposal", "median_days"] == pytest.approx(5.0)
