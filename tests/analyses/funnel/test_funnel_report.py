"""The funnel report's words and tables on the hand-made pipeline of conftest.py (known answers, no MCMC)."""
from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from salesbench.analyses.funnel import report  # noqa: E402
from salesbench.analyses.funnel.model import Funnel  # noqa: E402
from salesbench.report.results import Results  # noqa: E402

ASOF = "2024-03-31"


@pytest.fixture(scope="module")
def M(ds):
    """as_of 2024-03-31, every cohort closed (mature_days 0), revenue targets: coverage of April 2024."""
    return Funnel(as_of=ASOF, mature_days=0, target_metric="revenue", pooled_by=[]).fit(ds)


def test_headline_cards_known_values(M):
    cards = {c["label"]: c for c in report.headline_cards(M)}
    assert list(cards) == ["Win rate (won ÷ closed)", "Biggest leak", "SLA breaches: needs confirmed",
                           "Stuck open deals", "Pipeline coverage"]
    assert cards["Win rate (won ÷ closed)"]["value"] == "40.0%"
    assert cards["Win rate (won ÷ closed)"]["sub"] == "8 deals in closed cohorts"
    assert cards["Biggest leak"]["value"] == "contact → needs confirmed"
    assert cards["Biggest leak"]["sub"] == "2 deals lost (33% of those reaching it)"
    sla = cards["SLA breaches: needs confirmed"]
    assert (sla["value"], sla["sub"], sla["status"]) == ("50.0%", "limit 48 h after the previous stage", "red")
    assert cards["Stuck open deals"]["value"] == "3" and cards["Stuck open deals"]["status"] == "amber"
    cov = cards["Pipeline coverage"]
    assert cov["value"] == f"{(300 + 500 * 4 / 6 + 700) / 500:.2f}×" and cov["status"] == "amber"  # 2.67 of 3


def test_sentences_known_words(M):
    text = report.sentences(M)
    assert text[0] == ("As of 2024-03-31, 8 opportunities are in scope; in the closed cohorts (created at least 0 days "
                       "earlier) 40.0% of closed deals were won, and a won deal took 25 days (median) from creation "
                       "to signature.")
    assert text[1] == ("The biggest leak is contact → needs confirmed: only 67% advance and 2 deals "
                       "(67% of all losses) end there.")
    assert "The worst SLA record is team T2 on needs confirmed: 100% of its deals breach the limit (1 of 1; " \
           "company 50%)." in text
    assert "3 open deals worth" in " ".join(text) and "below the 3× rule" in text[-1]


def test_no_target_sentence_and_velocity_card(ds):
    M = Funnel(as_of=ASOF, mature_days=0, target_metric="margin", pooled_by=[]).fit(ds)  # no margin targets
    assert report.sentences(M)[-1] == "No next-period target was found, so pipeline coverage is not assessed."
    assert report.headline_cards(M)[-1]["label"] == "Sales velocity"
    assert list(report.coverage_view(M).columns) == ["note"]


def test_unknown_stage_sentence_and_warning(M):
    assert report.unknown_stage_sentence(M) == (
        "1 stage_history row names a stage that is not in the funnel's stages and was ignored: 'qualified' (1 row). "
        "To count them, add them in funnel order to the stages parameter (params/funnel.yaml, or -p stages=[...]); "
        "the current order is lead, contact, needs_confirmed, proposal, negotiation, contract, won.")
    html = report.show_unknown_stages(M)._repr_html_()
    assert "sb-warn" in html and "&#x27;qualified&#x27; (1 row)" in html


def test_rep_shrinkage_says_why_when_there_is_no_figure(M, ds):
    plt.close("all")
    said = report.show_rep_shrinkage(M)._repr_html_()
    assert "the pooled_by parameter does not list rep_id" in said and not plt.get_fignums()
    early = Funnel(as_of="2024-01-02", mature_days=0, pooled_by=["rep_id"]).fit(ds)  # nothing closed yet
    assert ("No rep has a closed deal in the closed cohorts yet, so there are no win rates to pool."
            in report.show_rep_shrinkage(early)._repr_html_())


def test_team_coverage_figure_only_with_team_targets(M, ds):
    plt.close("all")
    report.show_team_coverage(M)
    assert len(plt.get_fignums()) == 1
    plt.close("all")
    report.show_team_coverage(Funnel(as_of=ASOF, mature_days=0, target_metric="margin", pooled_by=[]).fit(ds))
    assert not plt.get_fignums()


def test_views_are_formatted_for_display(M):
    conv = report.conversion_view(M).set_index("from")
    assert conv.loc["contact", "conversion"] == "66.7%" and conv.loc["contact", "still open"] == 1
    assert conv.loc["lead", "cumulative"] == "87.5%"
    b = report.breakdown_view(M)
    assert set(b["breakdown"]) == {"channel", "region", "team", "segment"}
    assert b.set_index(["breakdown", "group"]).loc[("team", "T1"), "win rate"] == "50.0%"
    sla = report.sla_view(M)
    assert sla.iloc[0][["level", "group", "breach rate"]].tolist() == ["company", "company", "50.0%"]
    assert report.breaches_view(M)["opportunity"].tolist() == ["F", "E"]  # most recent clock start (contact) first
    assert sorted(report.stuck_view(M)["opportunity"]) == ["C", "E", "H"]
    vel = report.velocity_view(M).set_index("group")
    assert vel.loc["total", "win rate"] == "40.0%" and vel.loc["total", "open deals"] == 3
    cov = report.coverage_view(M).set_index("group")
    assert cov.loc["T2", "coverage"] == "1.50×" and cov.loc["T2", "status"] == "red"
    assert report.cohorts_view(M)["cohort"].tolist() == ["2024-03", "2024-01"]  # newest first
    assert report.lost_reasons_view(M).set_index("lost_reason").loc["price", "share"] == "33%"
    assert report.durations_view(M).set_index("stage").loc["lead", "median_days"] == "1.0"
    assert report.cycle_view(M).iloc[1]["value"] == "25.0"
    assert report.pooled_view(M).empty


def test_publish_keeps_the_results_keys_and_csv_names(M, tmp_path):
    res = Results("funnel", tmp_path)
    report.publish(M, res)
    out = json.loads((tmp_path / "funnel.results.json").read_text())
    assert out["status"] == "ok" and out["as_of"] == ASOF
    assert {"n_opportunities", "n_closed_cohort", "stage_conversion", "win_rate", "lead_to_won", "median_cycle_days",
            "p90_cycle_days", "median_hours_to_contact", "sla_breach_rate", "stuck_deals", "stuck_amount",
            "velocity_per_day", "coverage_ratio", "coverage_threshold", "open_opportunities", "biggest_leak",
            "unknown_stage_rows", "unknown_stages", "pooled_win_rate", "win_rate_by_channel"} <= set(out)
    assert out["win_rate_by_channel"] == {"direct": 1.0, "online": 0.0, "store": 0.0}
    assert [h["label"] for h in out["headline"]] == ["Win rate", "Biggest leak", "SLA breaches (needs confirmed)",
                                                     "Stuck deals", "Pipeline coverage"]
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == sorted(
        f"funnel.{t}.csv" for t in ("stage_conversion", "conversion_by_group", "cohorts", "stage_durations",
                                    "sla_breaches", "stuck_deals", "velocity_by_team", "coverage_by_team"))
    assert pd.read_csv(tmp_path / "funnel.conversion_by_group.csv")["dimension"].unique().tolist() == [
        "channel", "region", "team", "rep_id", "segment"]


def test_figure_inputs_cover_every_plot(M):
    from salesbench.analyses.funnel import plots

    names = {k for k in vars(plots) if k.startswith("plot_")}
    assert set(report.figure_inputs(M)) == names
