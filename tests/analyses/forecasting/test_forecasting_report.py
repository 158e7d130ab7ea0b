"""Wording, views and publishing of the forecasting report: known small inputs give the right words."""
from __future__ import annotations

import json
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from salesbench.analyses.forecasting import report as R  # noqa: E402
from salesbench.report.results import Results  # noqa: E402

EMPTY_GAP = pd.DataFrame(columns=["unique_id", "ds", "mean", "lo80", "hi80", "target", "gap", "gap_pct",
                                  "prob_reach", "actual"])


def _fake(**kw):
    base = dict(metric="revenue", frequency="M", targets_=None, gap_=EMPTY_GAP, lifecycle_=pd.DataFrame(),
                series_=SimpleNamespace(dimensions=[]))
    return SimpleNamespace(**{**base, **kw})


def test_target_sentences_say_why_there_is_no_gap():
    assert R.target_sentences(_fake()) == ["The data has no targets table, so there is no gap to target."]
    assert R.target_sentences(_fake(metric="repeat_orders")) == [
        "Targets are revenue targets; a forecast of repeat orders is not compared with them."]
    targets = pd.DataFrame({"period": pd.to_datetime(["2025-01-01", "2025-03-01"])})
    assert R.target_sentences(_fake(targets_=targets, frequency="W")) == [
        "Targets are monthly; this weekly forecast is not compared with them."]
    assert R.target_sentences(_fake(targets_=targets)) == [
        "Targets run to 2025-03; the forecast periods have none yet, so no gap to target is shown."]
    gap = EMPTY_GAP.iloc[:0].copy()
    gap.loc[0] = ["Total", pd.Timestamp("2025-04-01"), 1, 0, 2, 1, 0, 0, 0.5, None]
    assert R.target_sentences(_fake(targets_=targets, gap_=gap)) == []


def test_forecast_sentence_quarter_with_target_and_probability_words():
    q = {"label": "2025-Q2", "mean": 1_250_000.0, "lo80": 1_100_000.0, "hi80": 1_400_000.0, "target": 1_300_000.0,
         "prob_reach": 0.995}
    text = R.forecast_sentence(_fake(quarter_=q))
    assert text.startswith("2025-Q2 revenue is forecast at ")
    assert "80% interval" in text and ">99% likely to reach the target of" in text and text.endswith(".")
    assert "likely" not in R.forecast_sentence(_fake(quarter_={**q, "prob_reach": None}))


def test_probability_never_rounds_to_certainty():
    assert R._prob(0.999) == ">99%" and R._prob(0.001) == "<1%" and R._prob(float("nan")) == "–"


def test_fallbacks_return_the_sentence_to_show():
    f = _fake()
    assert "only the total is forecast" in R.show_segment_fans(f).markup
    assert R.forecast_view(f) is None
    assert "no targets table" in R.show_target_gap(f).markup and R.gap_view(f) is None
    assert "no lifecycle view" in R.show_lifecycle(f).markup and R.lifecycle_view(f) is None


def test_publish_writes_results_and_tables(small_fit, tmp_path):
    res = Results("forecasting", tmp_path)
    R.publish(small_fit, res)
    out = json.loads((tmp_path / "forecasting.results.json").read_text())
    assert out["status"] == "ok"
    assert set(small_fit.results()) <= set(out)
    assert out["forecast_total"] == small_fit.results()["forecast_total"]
    assert [h["label"] for h in out["headline"]] == [c["label"] for c in R.headline_cards(small_fit)[:4]]
    for table in ("forecast", "selection", "backtest_scores"):
        assert (tmp_path / f"forecasting.{table}.csv").exists()


def test_views_and_figures_of_a_fit(small_fit):
    f = small_fit
    view = R.forecast_view(f).markup
    assert view.startswith("<table") and "<th>region</th>" in view and "<td>N</td>" in view and "<td>S</td>" in view
    assert "Total series" in R.total_backtest_view(f).markup
    assert "Chosen models per level" in R.level_view(f).markup
    for show in (R.show_total_fan, R.show_segment_fans, R.show_backtest_errors):
        fig = show(f)
        assert isinstance(fig, Figure) and fig.axes
        assert fig.axes[0].get_lines() or fig.axes[0].patches
    assert len(R.show_segment_fans(f).axes) == 2  # N and S: a 1 × 2 grid
    inputs = R.figure_inputs(f)
    assert set(inputs) == {"plot_fan", "plot_backtest_errors", "plot_target_gap", "plot_lifecycle"}
