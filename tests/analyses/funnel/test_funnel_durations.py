"""Kaplan–Meier quantiles, sales cycle, key-node SLAs and stuck deals on the hand-made pipeline of conftest.py."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from salesbench.analyses.funnel import durations as funnel

T = pd.Timestamp
ASOF = "2024-03-31"


def by_id(deals):
    return deals.frame.set_index("opportunity_id")


def test_km_quantiles_known_answer():
    # events 1, 2, 3, 4 and one stay censored at 2.5: S = .8, .6, (.6), .3, 0
    assert funnel.km_quantiles([1, 2, 3, 4, 2.5], [False, False, False, False, True]) == [3.0, 4.0]
    med, p90 = funnel.km_quantiles([1, 50], [False, True])
    assert med == 1.0 and math.isnan(p90)  # S never falls to 0.1


def test_cycle_stats(deals):
    c = funnel.cycle_stats(deals)
    assert c["won_deals"] == 2
    assert c["median_cycle_days"] == pytest.approx(25.0)
    assert c["median_hours_to_contact"] == pytest.approx(24.0)
    assert math.isnan(c["p90_hours_to_contact"])  # D (never contacted) is censored at its loss


# --------------------------------------------------------------------------- SLA
def test_sla_edges(deals):
    chk = funnel.sla_breaches(deals, {"needs_confirmed": 48}).set_index("opportunity_id")
    # measured: A (exactly 48 h: on time), F (48 h + 1 min: breach), H (24 h), E (open, pending past the limit)
    assert sorted(chk.index) == ["A", "E", "F", "H"]  # C skipped the stage, B/G lost, D never contacted
    assert chk.loc["A", "elapsed_hours"] == pytest.approx(48.0) and not chk.loc["A", "breach"]
    assert chk.loc["F", "breach"] and chk.loc["F", "elapsed_hours"] == pytest.approx(48 + 1 / 60)
    assert chk.loc["E", "breach"] and chk.loc["E", "pending"]
    assert not chk.loc["H", "breach"]
    s = funnel.sla_summary(chk.reset_index()).iloc[0]
    assert (s["measured"], s["breaches"], s["breach_rate"]) == (4, 2, 0.5)
    team = funnel.sla_summary(chk.reset_index(), "team").set_index("team")["breach_rate"]
    assert team["T1"] == pytest.approx(1 / 3) and team["T2"] == pytest.approx(1.0)
    # a 24-hour limit on contact counts every lead->contact stay over 24 h, none exactly at it
    lead = funnel.sla_breaches(deals, {"contact": 24}).set_index("opportunity_id")
    assert lead["breach"].sum() == 0 and len(lead) == 7


def test_sla_rejects_bad_rules(deals):
    with pytest.raises(ValueError, match="first stage"):
        funnel.sla_breaches(deals, {"lead": 4})
    with pytest.raises(ValueError, match="not one of the funnel stages"):
        funnel.sla_breaches(deals, {"qualified": 4})


# --------------------------------------------------------------------------- stuck, velocity, coverage
def test_stuck_deals_default_and_configured(deals):
    dur = funnel.stage_durations(deals)
    s = funnel.stuck_deals(deals, dur).set_index("opportunity_id")
    assert sorted(s.index) == ["C", "E", "H"]
    assert s.loc["E", "limit_days"] == pytest.approx(3.5)  # KM p90 undefined -> p90 of completed stays
    assert s.loc["H", "limit_days"] == pytest.approx(1 + 0.9 * (6 - 1 / 1440 - 1))
    assert s.loc["C", "days_in_stage"] == pytest.approx(86.0) and s.loc["C", "amount"] == 300
    cfg = funnel.stuck_deals(deals, dur, {"needs_confirmed": 30, "contact": 100, "proposal": 80})
    assert cfg["opportunity_id"].tolist() == ["C"]
