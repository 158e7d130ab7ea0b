"""The performance report's text, views, figures and publishing."""
from __future__ import annotations

import datetime as dt
import json


import salesbench as sb
from salesbench.analyses.performance import model as pf

D = dt.date


def test_figures_and_tables_fall_back_and_escape(tiny, make_frames):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from salesbench.analyses.performance import plots
    from salesbench.analyses.performance import report

    frames = make_frames()
    frames["reps"].loc[0, "name"] = "<script>alert(1)</script>"
    rv = pf.PerformanceReview(as_of=D(2025, 3, 31), trend_periods=2).fit(sb.Dataset.from_frames(frames))
    args, kwargs = report.figure_inputs(rv)["plot_overview"]
    ax = plots.plot_overview(*args, **kwargs)
    xs = sorted({round(float(line.get_xdata()[0]), 4) for line in ax.lines})
    assert xs == [0.8, 0.95, 1.0] and ax.get_xlabel().startswith("revenue attainment")
    html = report.scorecard_table(rv.card_, list(rv.config_.weights)).markup + report.feedback_blocks(rv).markup
    assert "<script>" not in html and "&lt;script&gt;" in html
    # without targets the first figure shows the score against the score lines
    bare = pf.PerformanceReview(as_of=D(2025, 3, 31), trend_periods=2).fit(
        sb.Dataset.from_frames({k: frames[k] for k in ("orders", "reps")}))
    args, kwargs = report.figure_inputs(bare)["plot_overview"]
    ax2 = plots.plot_overview(*args, **kwargs)
    assert ax2.get_xlabel() == "composite score (points)"
    assert sorted({float(line.get_xdata()[0]) for line in ax2.lines}) == [40.0, 50.0]
    plots.plot_sparklines(bare.history_, rep_ids=bare.scope_card_["rep_id"], lines=bare.config_.warning_lines)
    wf = plots.plot_gap_waterfall(rv.waterfalls_["region"])
    assert [t.get_text() for t in wf.get_xticklabels()] == list(rv.waterfalls_["region"]["label"])
    plt.close("all")


# --------------------------------------------------------------------------- words and numbers on the tiny company
# 2025Q1: revenue 1,500 (R1 400, R2 100, R3 1,000) against a company target of 3 × 500; 2024Q1 revenue 320 (O7),
# 2024Q4 250 (O5 + O6). Attainment R1 400/500 = 80% (on the red line: amber), R2 100/150 = 67% (red),
# R3 1,000/1,200 = 83% (amber). Invoices due in Q1: 530, paid by the due date 100 + 20 = 120 (23%).
def test_headline_cards_on_the_tiny_company(tiny_review):
    from salesbench.analyses.performance import report

    cards = {c["label"]: c for c in report.headline_cards(tiny_review)}
    assert cards["Revenue 2025-Q1"]["value"] == "1.5k"
    assert cards["Revenue 2025-Q1"]["sub"] == "100% of target 1.5k" and cards["Revenue 2025-Q1"]["status"] == "green"
    assert cards["Growth vs 2024-Q1"]["value"] == "+368.8%"              # 1500 / 320 − 1
    assert cards["Growth vs 2024-Q1"]["sub"] == "+500.0% vs 2024-Q4"      # 1500 / 250 − 1
    assert cards["Reps below a warning line"]["value"] == "3 of 3"
    assert cards["Reps below a warning line"]["sub"] == "1 red, 2 amber"
    assert cards["Collection rate"]["value"] == "23%"                     # 120 / 530
    assert cards["Collection rate"]["sub"] == "of amounts due in the period, paid by the due date"


def test_sentences_name_the_numbers_and_the_shortfall(tiny_review):
    from salesbench.analyses.performance import report

    s = report.sentences(tiny_review)
    assert s[0] == ("The company booked 1.5k of revenue in 2025-Q1, 100% of its 1.5k target (green) "
                    "and 369% more than in 2024-Q1.")
    # North: 500 against 3 × 250; South: 1,000 against 3 × 400 — North has the largest shortfall, no region a surplus
    assert s[1] == "The largest shortfall to target is region North (-250)."
    assert s[2] == ("3 of 3 reps are below a warning line (score or revenue attainment); "
                    "Ann (T1) leads the scorecard with 77 points.")
    assert len(s) == 3                                                     # not the demo: no skill check


def test_collection_phrase_and_signed_percentages():
    from salesbench.analyses.performance import report

    assert report._collection_phrase(3) == "of amounts due in the period, paid within 3 days of the due date"
    assert report._signed_pct(0.125) == "+12.5%" and report._signed_pct(-0.05) == "-5.0%"
    assert report._signed_pct(None) == "–" and report._signed_pct(float("nan")) == "–"


def test_warning_view_lists_every_measure_under_a_line(tiny_review):
    from salesbench.analyses.performance import report

    w = report.warning_frame(tiny_review)
    assert list(w.columns) == ["Rep", "Team", "Measure", "Value", "Against", "status"]
    assert list(w["status"]) == ["red", "red", "amber", "amber", "amber", "amber"]       # red first
    bob = w[w["Rep"] == "Bob"].set_index("Measure")
    assert bob.loc["Revenue", "Value"] == "67% of target" and bob.loc["Revenue", "Against"] == "target"
    assert bob.loc["Score", "Value"] == "40 points" and bob.loc["Score", "Against"] == "score lines"
    html = report.warning_view(tiny_review).markup
    assert "67% of target" in html and "peers (percentile)" in html


def test_level_views_in_scope(tiny, tiny_review):
    from salesbench.analyses.performance import model as pf
    from salesbench.analyses.performance import report

    regions = report.level_frame(tiny_review, "region")
    assert list(regions["region"]) == ["South", "North"]                   # biggest first
    assert list(regions["revenue_target"]) == [1200.0, 750.0]
    html = report.level_view(tiny_review, "region").markup
    assert "South" in html and "Attainment" in html and "83%" in html
    team = pf.PerformanceReview(as_of=D(2025, 3, 31), trend_periods=1, team="T1").fit(tiny)
    assert list(report.level_frame(team, "team")["team"]) == ["T1"]
    assert list(report.level_frame(team, "region")["region"]) == ["North"]


def test_scorecard_view_and_feedback_frame(tiny_review):
    from salesbench.analyses.performance import report

    html = report.scorecard_view(tiny_review).markup
    assert html.count("<tr>") == 1 + 3 and "Ann" in html and "80% of target" not in html
    assert "400 (80%) !" in html                                           # revenue, attainment, amber glyph
    fb = report.feedback_frame(tiny_review).set_index("rep_id")
    assert fb.loc["R2", "gaps"].startswith("Gross margin 20.0% vs team median 33.8% (−13.8 pts)")
    assert fb.loc["R2", "trend"] == "Score by period: 2024-Q4 37, 2025-Q1 40."


def test_method_notes_and_pvm_views(tiny_review):
    from salesbench.analyses.performance import report

    notes = report.method_notes(tiny_review)
    assert notes[0] == ("Review period 2025-Q1 (2025-01-01 to 2025-03-31), compared with 2024-Q4 and 2024-Q1; "
                        "data up to 2025-03-31.")
    assert "Revenue 30%, Gross margin 20%, Collection rate 20%, New-customer rate 15%, CSAT (1-5) 15%" in notes[1]
    titles = [v[0] for v in report.pvm_views(tiny_review)]
    assert titles == ["Revenue bridge 2024-Q4 → 2025-Q1",
                      "Revenue bridge target → 2025-Q1 (target at same period last year's mix and prices)"]
    table = report.pvm_table(tiny_review.pvm_previous_).markup
    assert "Product line" in table and "Gadgets" in table and "Total" in table


def test_publish_saves_results_and_tables(tiny_review, tmp_path):
    from salesbench.analyses.performance import report

    res = sb.results.Results("performance", tmp_path)
    report.publish(tiny_review, res)                                      # no res.save() needed afterwards
    saved = json.loads((tmp_path / "performance.results.json").read_text())
    assert saved["status"] == "ok" and saved["company"]["revenue"] == 1500.0
    assert [h["text"] for h in saved["headline"]] == ["1.5k", "100%", "+368.8%", "3 of 3"]
    names = sorted(p.name for p in tmp_path.glob("performance.*.csv"))
    assert names == sorted(f"performance.{t}.csv" for t in (
        "scorecard", "warnings", "teams", "regions", "pvm_previous", "pvm_target", "gap_by_region", "gap_by_team",
        "relationships", "feedback"))
    json.dumps(tiny_review.results(), allow_nan=False)                    # plain JSON already


def test_figure_inputs_and_show_calls_draw_every_figure(tiny_review):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from salesbench.analyses.performance import plots, report

    inputs = report.figure_inputs(tiny_review)
    assert set(inputs) == {k for k in vars(plots) if k.startswith("plot_")}
    plt.close("all")
    report.show_gap_waterfalls(tiny_review)                               # one figure per level: region, team
    assert len(plt.get_fignums()) == 2
    titles = [plt.figure(n).axes[0].get_title() for n in plt.get_fignums()]
    assert titles == ["Revenue gap to target by region", "Revenue gap to target by team"]
    plt.close("all")
    report.show_pvm(tiny_review)                                          # previous period and target bridges
    assert len(plt.get_fignums()) == 2
    plt.close("all")
    for show in (report.show_overview, report.show_relationships, report.show_sparklines):
        show(tiny_review)
    assert len(plt.get_fignums()) == 3
    plt.close("all")
    # three reps: too few for a correlation (spearman_ci needs five)
    assert "too few reps with both discount rate and gross margin to tell" in report.relationship_readings(
        tiny_review).markup
