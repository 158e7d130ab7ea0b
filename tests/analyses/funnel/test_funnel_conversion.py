"""Conversion, win rates, lost reasons, stage probabilities and cohorts on the hand-made pipeline of conftest.py."""
from __future__ import annotations

import pandas as pd
import pytest

from salesbench.analyses.funnel import conversion as funnel

T = pd.Timestamp
ASOF = "2024-03-31"


def by_id(deals):
    return deals.frame.set_index("opportunity_id")


def test_stage_conversion_hand_computed(deals):
    c = funnel.stage_conversion(deals).set_index("transition")
    assert list(c.index) == [
        "lead->contact", "contact->needs_confirmed", "needs_confirmed->proposal", "proposal->negotiation",
        "negotiation->contract", "contract->won",
    ]
    assert c.loc["lead->contact", ["reached", "advanced", "lost", "open"]].tolist() == [8, 7, 1, 0]
    assert c.loc["contact->needs_confirmed", ["reached", "advanced", "lost", "open"]].tolist() == [7, 4, 2, 1]
    assert c.loc["needs_confirmed->proposal", ["reached", "advanced", "lost", "open"]].tolist() == [4, 3, 0, 1]
    assert c.loc["proposal->negotiation", ["reached", "advanced", "lost", "open"]].tolist() == [3, 2, 0, 1]
    assert c.loc["lead->contact", "conversion"] == pytest.approx(7 / 8)
    # open deal E is not a loss: 4 advanced of 6 decided, not of 7 reached
    assert c.loc["contact->needs_confirmed", "conversion"] == pytest.approx(4 / 6)
    assert c.loc["contact->needs_confirmed", "conversion_all"] == pytest.approx(4 / 7)
    assert c.loc["needs_confirmed->proposal", "conversion"] == pytest.approx(1.0)
    assert c.loc["contract->won", "cumulative"] == pytest.approx(7 / 8 * 4 / 6)
    assert funnel.conversion_dict(funnel.stage_conversion(deals))["lead->contact"] == pytest.approx(0.875)


def test_conversion_by_channel(deals):
    c = funnel.stage_conversion(deals, "channel")
    online = c[(c["channel"] == "online") & (c["transition"] == "lead->contact")].iloc[0]
    assert (online["reached"], online["advanced"], online["lost"]) == (2, 1, 1)
    store = c[(c["channel"] == "store") & (c["transition"] == "contact->needs_confirmed")].iloc[0]
    assert (store["reached"], store["lost"], store["conversion"]) == (1, 1, 0.0)


def test_win_rates_and_lost_reasons(deals):
    w = funnel.win_rates(deals).iloc[0]
    assert (w["won"], w["lost"], w["open"]) == (2, 3, 3)
    assert w["win_rate"] == pytest.approx(0.4)
    assert w["won_share"] == pytest.approx(2 / 8)
    t = funnel.win_rates(deals, "team").set_index("team")
    assert t.loc["T1", "win_rate"] == pytest.approx(0.5) and t.loc["T2", "win_rate"] == pytest.approx(1 / 3)
    lr = funnel.lost_reasons(deals).set_index("lost_reason")
    assert lr["lost"].to_dict() == {"competitor": 1, "price": 1, "timing": 1}
    assert lr.loc["timing", "lead"] == 1 and lr.loc["price", "contact"] == 1


def test_stage_probability(deals):
    p = funnel.stage_win_probability(funnel.stage_conversion(deals), deals.stages)
    assert p["lead"] == pytest.approx(7 / 8 * 4 / 6)
    assert p["contact"] == pytest.approx(4 / 6)
    assert p["needs_confirmed"] == pytest.approx(1.0) and p["won"] == 1.0


def test_cohorts(deals):
    c = funnel.cohort_table(deals).set_index("cohort")
    assert list(c.index) == ["2024-01", "2024-03"]
    jan = c.loc["2024-01"]
    assert (jan["created"], jan["open"], jan["won"], jan["lost"]) == (7, 2, 2, 3)
    assert jan["reach_contact"] == pytest.approx(6 / 7)
    assert jan["reach_won"] == pytest.approx(2 / 7)
    assert c.loc["2024-03", "open_share"] == 1.0
