"""The Funnel analysis end to end on the hand-made pipeline of conftest.py: fit, results, publish, parameters, skips."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesbench import Dataset
from salesbench.analyses.funnel import bayes, report
from salesbench.analyses.funnel.deals import load_deals
from salesbench.analyses.funnel.model import Funnel
from salesbench.core.dataset import MissingTables
from salesbench.core.errors import CheckError, ReportSkipped
from salesbench.report.results import Results

ASOF = "2024-03-31"


def fit(ds, **params):
    """The funnel on ``ds`` without pooled rates (no MCMC) unless ``pooled_by`` is given."""
    return Funnel(**{"pooled_by": [], **params}).fit(ds)


def test_analyze_results(ds):
    rep = fit(ds, as_of=ASOF, mature_days=0, target_metric="revenue")
    r = rep.results()
    assert r["n_opportunities"] == 8
    assert r["stage_conversion"]["contact->needs_confirmed"] == pytest.approx(4 / 6)
    assert r["win_rate"] == pytest.approx(0.4)
    assert r["median_cycle_days"] == pytest.approx(25.0)
    assert r["sla_breach_rate"] == {"needs_confirmed": pytest.approx(0.5)}
    assert r["stuck_deals"] == 3
    assert r["velocity_per_day"] == pytest.approx(26.4)
    assert r["coverage_ratio"] == pytest.approx((300 + 500 * 4 / 6 + 700) / 500)
    assert r["as_of"] == ASOF and rep.as_of_date.isoformat() == ASOF
    assert r["biggest_leak"]["transition"] == "contact->needs_confirmed"  # 2 lost there, 1 at lead
    cards = report.headline_cards(rep)
    assert 4 <= len(cards) <= 5
    text = " ".join(report.sentences(rep))
    assert "contact → needs confirmed" in text and "team T2" in text
    # mature cohorts: H (created 03-01) leaves the rates, not the open counts
    rep60 = fit(ds, as_of=ASOF, mature_days=60)
    assert rep60.closed_.n == 7 and rep60.results()["open_opportunities"] == 3


def test_publish_writes_results(ds, tmp_path):
    rep = fit(ds, as_of=ASOF, mature_days=0)
    res = Results("funnel", tmp_path)
    report.publish(rep, res)  # saves
    out = Results.load(tmp_path / "funnel.results.json")
    for key in ("n_opportunities", "stage_conversion", "win_rate", "median_cycle_days", "sla_breach_rate",
                "stuck_deals", "velocity_per_day", "coverage_ratio"):
        assert key in out
    stuck = pd.read_csv(tmp_path / "funnel.stuck_deals.csv")
    assert sorted(stuck["opportunity_id"]) == ["C", "E", "H"]
    assert set(stuck.columns) >= {"rep_id", "amount", "days_in_stage", "deal_age_days"}
    breaches = pd.read_csv(tmp_path / "funnel.sla_breaches.csv")
    assert sorted(breaches["opportunity_id"]) == ["E", "F"]


def test_bad_parameters(ds):
    with pytest.raises(ValueError, match="sla_hours"):
        fit(ds, sla_hours={"needs_confirmed": -1})
    with pytest.raises(ValueError, match="coverage_threshold"):
        fit(ds, coverage_threshold=0)
    with pytest.raises(ValueError, match="cannot be a funnel stage"):
        load_deals(ds, stages=["lead", "lost", "won"])
    with pytest.raises(ValueError, match="cannot be a funnel stage"):
        fit(ds, stages=["lead", "lost", "won"], sla_hours={})


@pytest.mark.parametrize("change, key, words", [
    ({"stages": ["lead", "lead"]}, "stages", "must be at least two distinct names"),
    ({"stages": ["lead", "lost", "won"], "sla_hours": {}}, "stages", "'lost' is the closing stage"),
    ({"sla_hours": {"demo": 4}}, "sla_hours", "SLA stage 'demo' is not one of the funnel stages"),
    ({"sla_hours": {"lead": 4}}, "sla_hours", "'lead' is the first stage"),
    ({"sla_hours": {"needs_confirmed": 0}}, "sla_hours", "sla_hours['needs_confirmed'] must be a positive number"),
    ({"stuck_days": {"proposal": -3}}, "stuck_days", "stuck_days['proposal'] must be a positive number, got -3"),
    ({"mature_days": -1}, "mature_days", "mature_days must be a number ≥ 0, got -1"),
    ({"coverage_threshold": 0}, "coverage_threshold", "coverage_threshold must be a positive number, got 0"),
    ({"coverage_months": 0}, "coverage_months", "coverage_months must be a whole number ≥ 1, got 0"),
    ({"credible_mass": 1.0}, "credible_mass", "must be between 0 and 1, got 1.0"),
    ({"pooled_by": ["rep_id", "planet"]}, "pooled_by", "unknown breakdown 'planet'"),
])
def test_check_params_names_the_key(change, key, words):
    with pytest.raises(CheckError) as err:
        Funnel.check_params({**Funnel().get_params(), **change})
    assert err.value.key == key and words in str(err.value)


def test_check_params_accepts_the_defaults_and_empty_stages():
    Funnel.check_params(Funnel().get_params())
    Funnel.check_params({**Funnel().get_params(), "stages": []})  # an empty list means the default stages


def test_missing_tables_skip_with_one_sentence(tmp_path, frames):
    ds = Dataset.from_frames({"opportunities": frames["opportunities"]})
    res = Results("funnel", tmp_path)
    with pytest.raises(MissingTables, match="stage_history"):
        ds.require("opportunities", "stage_history", analysis="funnel", res=res)
    out = Results.load(tmp_path / "funnel.results.json")
    assert out["status"] == "skipped" and out["reason"] == "no stage_history table"


def test_no_deal_in_the_period_skips_with_the_period(ds):
    with pytest.raises(ReportSkipped, match="^no opportunity was created from 2030-01-01$"):
        fit(ds, start="2030-01-01")


def test_young_data_falls_back_to_all_cohorts(ds):
    rep = fit(ds, as_of=ASOF, mature_days=400)  # no deal is 400 days old
    assert rep.all_cohorts_ and rep.closed_.n == 8
    assert "no deal is old enough" in report.sentences(rep)[0]


def test_fit_pools_rep_and_segment_win_rates(ds, monkeypatch):
    """The pooled rates the notebook computed in a loop are learned by fit (pooled_by, mcmc_*, seed, credible_mass).

    The sampler is replaced by a recorder (its own accuracy: test_funnel_bayes.py; a real fit: the contract test).
    """
    calls = []

    def fake_pooled_rates(frame, group, successes, trials, **mcmc):
        calls.append((group, frame.copy(), mcmc))
        t = frame.rename(columns={successes: "successes", trials: "trials"})
        t["raw_rate"] = t["mean"] = t["successes"] / t["trials"]
        t["lo"], t["hi"], t["shrinkage"] = t["mean"] - 0.1, t["mean"] + 0.1, 0.0
        return bayes.PooledRates(t, np.array([0.4]), np.array([5.0]), np.zeros((1, len(t))), mcmc["prob"], 0)

    monkeypatch.setattr(bayes, "pooled_rates", fake_pooled_rates)
    rep = Funnel(as_of=ASOF, mature_days=0, mcmc_draws=123, mcmc_tune=45, mcmc_chains=3, seed=7,
                 credible_mass=0.8).fit(ds)
    assert [c[0] for c in calls] == ["rep_id", "segment"] and set(rep.pooled_) == {"rep_id", "segment"}
    assert calls[0][2] == {"draws": 123, "tune": 45, "chains": 3, "seed": 7, "prob": 0.8}
    # closed deals: r1 has A won, B lost (E and H are open at as_of); r2 has F won, D and G lost (C open)
    counts = calls[0][1].set_index("rep_id")
    assert counts.loc["r1", ["won", "closed"]].tolist() == [1, 2] and counts.loc["r2", ["won", "closed"]].tolist() == [1, 3]
    reps = rep.pooled_["rep_id"].table.set_index("rep_id")
    assert reps.loc["r1", "team"] == "T1" and reps.loc["r2", "team"] == "T2"
    assert rep.results()["pooled_win_rate"] == {"rep_id": {"r1": 0.5, "r2": pytest.approx(1 / 3)},
                                                "segment": {"A": 1.0, "B": 0.25}}  # tiers: c1 A, c2 B
    assert Funnel(as_of=ASOF, pooled_by=["segment"]).fit(ds).pooled_.keys() == {"segment"}


def test_nothing_to_pool_gives_none(ds):
    """No closed deal in the closed cohorts: nothing is pooled (the report says so instead of drawing)."""
    rep = Funnel(as_of="2024-01-02", mature_days=0, pooled_by=["rep_id"]).fit(ds)
    assert rep.pooled_ == {"rep_id": None} and rep.results()["pooled_win_rate"] == {}
