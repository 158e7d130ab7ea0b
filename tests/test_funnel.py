"""Funnel computations on a small hand-made pipeline with hand-computed answers.

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

import math

import pandas as pd
import pytest

from salesbench import Dataset
from salesbench.analyses.funnel import model as funnel
from salesbench.core.dataset import MissingTables
from salesbench.report.results import Results

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


@pytest.fixture(scope="module")
def ds():
    return Dataset.from_frames(_frames())


@pytest.fixture(scope="module")
def deals(ds):
    return funnel.load_deals(ds, as_of=ASOF)


def by_id(deals):
    return deals.frame.set_index("opportunity_id")


# --------------------------------------------------------------------------- loading rules
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


# --------------------------------------------------------------------------- conversion
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


# --------------------------------------------------------------------------- time
def test_km_quantiles_known_answer():
    # events 1, 2, 3, 4 and one stay censored at 2.5: S = .8, .6, (.6), .3, 0
    assert funnel.km_quantiles([1, 2, 3, 4, 2.5], [False, False, False, False, True]) == [3.0, 4.0]
    med, p90 = funnel.km_quantiles([1, 50], [False, True])
    assert med == 1.0 and math.isnan(p90)  # S never falls to 0.1


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
    d = funnel.stage_durations(deals).set_index("stage")
    assert d.loc["lead", "median_days"] == pytest.approx(1.0) and d.loc["lead", "p90_days"] == pytest.approx(9.0)
    assert d.loc["contact", "median_days"] == pytest.approx(2 + 1 / 1440)
    assert math.isnan(d.loc["contact", "p90_days"]) and d.loc["contact", "censored"] == 1
    assert d.loc["contact", "p90_days_completed"] == pytest.approx(3.5)
    assert d.loc["proposal", "median_days"] == pytest.approx(5.0)


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


def test_velocity(deals):
    v = funnel.velocity(deals).iloc[0]
    assert v["open_opportunities"] == 3
    assert v["velocity_per_day"] == pytest.approx(3 * 0.4 * 550 / 25)
    t = funnel.velocity(deals, by="team").set_index("team")["velocity_per_day"]
    assert t["T1"] == pytest.approx(2 * 0.5 * 100 / 19)
    assert t["T2"] == pytest.approx(1 * (1 / 3) * 1000 / 31)


def test_coverage_against_next_month_target(ds, deals):
    prob = funnel.stage_win_probability(funnel.stage_conversion(deals), deals.stages)
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


# --------------------------------------------------------------------------- the whole analysis
def test_analyze_results(ds):
    rep = funnel.analyze(ds, as_of=ASOF, mature_days=0, target_metric="revenue")
    r = rep.results()
    assert r["n_opportunities"] == 8
    assert r["stage_conversion"]["contact->needs_confirmed"] == pytest.approx(4 / 6)
    assert r["win_rate"] == pytest.approx(0.4)
    assert r["median_cycle_days"] == pytest.approx(25.0)
    assert r["sla_breach_rate"] == {"needs_confirmed": pytest.approx(0.5)}
    assert r["stuck_deals"] == 3
    assert r["velocity_per_day"] == pytest.approx(26.4)
    assert r["coverage_ratio"] == pytest.approx((300 + 500 * 4 / 6 + 700) / 500)
    assert r["as_of"].isoformat() == ASOF
    assert r["biggest_leak"]["transition"] == "contact->needs_confirmed"  # 2 lost there, 1 at lead
    cards = funnel.headline_cards(rep)
    assert 4 <= len(cards) <= 5
    text = " ".join(funnel.summary_sentences(rep))
    assert "contact → needs confirmed" in text and "team T2" in text
    # mature cohorts: H (created 03-01) leaves the rates, not the open counts
    rep60 = funnel.analyze(ds, as_of=ASOF, mature_days=60)
    assert rep60.closed.n == 7 and rep60.results()["open_opportunities"] == 3


def test_publish_writes_results(ds, tmp_path):
    rep = funnel.analyze(ds, as_of=ASOF, mature_days=0)
    res = Results("funnel", tmp_path)
    funnel.publish(rep, res)
    res.save()
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
        funnel.analyze(ds, sla_hours={"needs_confirmed": -1})
    with pytest.raises(ValueError, match="coverage_threshold"):
        funnel.analyze(ds, coverage_threshold=0)
    with pytest.raises(ValueError, match="cannot be a funnel stage"):
        funnel.load_deals(ds, stages=["lead", "lost", "won"])


def test_missing_tables_skip_with_one_sentence(tmp_path):
    ds = Dataset.from_frames({"opportunities": _frames()["opportunities"]})
    res = Results("funnel", tmp_path)
    with pytest.raises(MissingTables, match="stage_history"):
        ds.require("opportunities", "stage_history", analysis="funnel", res=res)
    out = Results.load(tmp_path / "funnel.results.json")
    assert out["status"] == "skipped" and out["reason"] == "no stage_history table"


def test_young_data_falls_back_to_all_cohorts(ds):
    rep = funnel.analyze(ds, as_of=ASOF, mature_days=400)  # no deal is 400 days old
    assert rep.params["all_cohorts"] and rep.closed.n == 8
    assert "no deal is old enough" in funnel.summary_sentences(rep)[0]
