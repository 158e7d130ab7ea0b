"""Sales velocity, weighted pipeline, next-period targets and coverage on the hand-made pipeline of conftest.py."""
from __future__ import annotations

import pandas as pd
import pytest

from salesbench.analyses.funnel import conversion, pipeline as funnel

T = pd.Timestamp
ASOF = "2024-03-31"


def by_id(deals):
    return deals.frame.set_index("opportunity_id")


def test_velocity(deals):
    v = funnel.velocity(deals).iloc[0]
    assert v["open_opportunities"] == 3
    assert v["velocity_per_day"] == pytest.approx(3 * 0.4 * 550 / 25)
    t = funnel.velocity(deals, by="team").set_index("team")["velocity_per_day"]
    assert t["T1"] == pytest.approx(2 * 0.5 * 100 / 19)
    assert t["T2"] == pytest.approx(1 * (1 / 3) * 1000 / 31)


def test_coverage_against_next_month_target(ds, deals):
    prob = conversion.stage_win_probability(conversion.stage_conversion(deals), deals.stages)
    tg = funnel.next_period_targets(ds, deals.as_of, 1, "company")
    assert tg["target"].tolist() == [500.0]  # April 2024, not March
    assert funnel.next_period_targets(ds, deals.as_of, 2, "company")["target"].tolist() == [500.0 + 7777.0]
    pipe = funnel.weighted_pipeline(deals, prob)
    assert pipe["weighted_amount"].iloc[0] == pytest.approx(300 + 500 * 4 / 6 + 700)
    team = funnel.coverage(funnel.weighted_pipeline(deals, prob, "team"),
                           funnel.next_period_targets(ds, deals.as_of, 1, "team"), "team", 3.0).set_index("team")
    assert team.loc["T1", "coverage"] == pytest.approx((500 * 4 / 6 + 700) / 400)
    assert team.loc["T2", "coverage"] == pytest.approx(1.5)
    assert team.loc["T1", "status"] == "amber" and team.loc["T2", "status"] == "red"
    assert team.loc["T2", "coverage_unweighted"] == pytest.approx(1.5)
