"""The performance report's text, views, figures and publishing."""
from __future__ import annotations

import datetime as dt


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
