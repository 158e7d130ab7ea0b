"""Funnel estimates against the demo generator's ground truth (truth.json)."""
from __future__ import annotations

import pandas as pd
import pytest

from salesbench import open_data
from salesbench.analyses.funnel.model import Funnel


@pytest.fixture(scope="module")
def demo(default_demo):
    ds = open_data(str(default_demo))
    return ds, Funnel(pooled_by=[]).fit(ds)  # pooled rates: test_funnel_notebook.py


def test_stage_conversion_within_003_of_truth(demo):
    ds, rep = demo
    got = rep.results()["stage_conversion"]
    assert list(got) == list(ds.truth["stage_conversion"])
    for key, rate in got.items():
        assert rate == pytest.approx(ds.truth["stage_conversion"][key], abs=0.03), key


def test_channel_breakdown_recovers_true_ordering(demo):
    ds, rep = demo
    true = ds.truth["win_rate_by_channel"]
    est = rep.win_by_["channel"].set_index("channel")["lead_to_won"]
    assert list(est.sort_values().index) == sorted(true, key=true.get)
    for channel, rate in est.items():  # P(won | lead) per channel
        assert rate == pytest.approx(true[channel], abs=0.03), channel
    conv = rep.conversion_by_["channel"]
    for channel, truth in ds.truth["stage_conversion_by_channel"].items():
        c = conv[conv["channel"] == channel].set_index("transition")
        for key, rate in truth.items():
            # small channels reach late stages with few deals: allow 3 binomial standard errors (at least 0.03)
            n = c.loc[key, "advanced"] + c.loc[key, "lost"]
            tol = max(0.03, 3 * (rate * (1 - rate) / n) ** 0.5)
            assert c.loc[key, "conversion"] == pytest.approx(rate, abs=tol), (channel, key, n)


def test_sla_and_durations_match_generator(demo):
    ds, rep = demo
    assert rep.results()["sla_breach_rate"]["needs_confirmed"] == pytest.approx(ds.truth["sla"]["breach_rate"], abs=0.01)
    d = rep.durations_.set_index("stage")
    for stage, t in ds.truth["stage_duration_days"].items():
        # truth is the skill-neutral lognormal median; deals of skilled reps are faster and survive to later
        # stages more often, so observed medians run up to ~12% below it: 20% tolerance
        assert d.loc[stage, "median_days"] == pytest.approx(t["median"], rel=0.2), stage
        assert d.loc[stage, "p90_days"] == pytest.approx(t["p90"], rel=0.2), stage


def test_coverage_and_velocity_on_demo(demo):
    ds, _ = demo
    rep = Funnel(as_of="2025-11-30", pooled_by=[]).fit(ds)
    r = rep.results()
    targets = pd.read_parquet(ds.truth_dir / "targets.parquet")
    dec = targets[(targets["level"] == "company") & (targets["metric"] == "new_business")
                  & (pd.to_datetime(targets["period"]) == "2025-12-01")]
    weighted = rep.coverage_["weighted_amount"].iloc[0]
    assert r["coverage_ratio"] == pytest.approx(weighted / dec["value"].sum())
    opps = pd.read_parquet(ds.truth_dir / "opportunities.parquet")
    cutoff = pd.Timestamp("2025-12-01")
    open_then = (opps["created_at"] < cutoff) & ((opps["status"] == "open") | (opps["closed_at"] >= cutoff))
    assert r["open_opportunities"] == int(open_then.sum())
    assert 0 < weighted < opps.loc[open_then, "amount"].sum()
    assert set(rep.coverage_by_team_["team"]) == set(pd.read_parquet(ds.truth_dir / "reps.parquet")["team"])
    v = rep.velocity_.iloc[0]
    assert v["velocity_per_day"] == pytest.approx(
        v["open_opportunities"] * v["win_rate"] * v["avg_won_amount"] / v["avg_cycle_days"])
