"""Data-quality report.py and plots.py on a hand-made data set."""
from __future__ import annotations

import datetime as dt

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

import salesbench as sb  # noqa: E402
from salesbench.analyses.data_quality import model, plots, report  # noqa: E402


def _fit(orders):
    return model.DataQuality(as_of=dt.date(2025, 1, 1)).fit(sb.Dataset.from_frames({"orders": orders}, label="tiny"))


CLEAN = pd.DataFrame({"order_id": ["O1", "O2"], "line_no": [1, 1], "customer_id": ["c1", "c2"],
                      "order_date": [dt.date(2024, 1, 5), dt.date(2024, 3, 1)], "revenue": [10.0, 20.0]})


def test_clean_data_reads_fit_to_use():
    M = _fit(CLEAN)
    assert report.sentences(M) == ["tiny: 1 tables with 2 rows in total were checked against the canonical schema "
                                   "on 2025-01-01.", "No schema error and no quality problem: the data is fit to use."]
    assert "No schema error and no quality problem found." in report.findings_view(M).markup
    assert report.examples_view(M).markup == ""
    assert "sb-note" in report.narrative_view(M).markup
    assert report.headline_cards(M)[0]["sub"] == "data fit to use"


def test_problems_are_listed_with_examples_and_formats():
    M = _fit(CLEAN.assign(revenue=[-1.0, 20.0], customer_id=["c1", None]))
    text = " ".join(report.sentences(M))
    assert "1 schema error(s) make the data unusable until fixed: null_key in orders.customer_id." in text
    assert "1 quality problem(s) were found; the largest: nonpositive revenue (1)." in text
    html = report.examples_view(M).markup
    assert html.count("<caption>") == 2 and "null_key — orders.customer_id (1 rows)" in html
    assert "sb-warn" in report.narrative_view(M).markup
    assert "<td>2024-01-05</td>" in report.coverage_view(M).markup
    assert "<td>50.0%</td>" in report.missing_view(M).markup  # one of two customer ids empty


def test_plot_coverage_draws_and_flags_dates_after_as_of():
    M = _fit(CLEAN.assign(order_date=[dt.date(2024, 1, 5), dt.date(2026, 3, 1)]))
    (args, kwargs), = report.figure_inputs(M).values()
    fig, ax = plt.subplots()
    try:
        assert plots.plot_coverage(*args, ax=ax, **kwargs) is ax
        assert len(ax.patches) == 1 and "runs to 2026-03-01" in ax.texts[0].get_text()
    finally:
        plt.close(fig)
