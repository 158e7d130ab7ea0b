"""Score weights, the composite score, peer percentiles and warning lines (hand-computed answers)."""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from salesbench.analyses.performance import kpis, scorecard, warning_lines
from salesbench.analyses.performance import model as pf

D = dt.date


# --------------------------------------------------------------------------- weights and score
def test_weights_not_summing_to_one_is_a_clear_error():
    with pytest.raises(kpis.WeightsError, match=r"must sum to 1; they sum to 0\.9"):
        kpis.check_weights({"revenue": 0.5, "gross_margin": 0.4})
    with pytest.raises(kpis.WeightsError, match="unknown KPI 'happiness'"):
        kpis.check_weights({"revenue": 0.5, "happiness": 0.5})
    with pytest.raises(kpis.WeightsError, match="non-negative"):
        kpis.check_weights({"revenue": 1.5, "csat": -0.5})
    with pytest.raises(kpis.WeightsError):
        pf.ReviewConfig(weights={"revenue": 0.3, "csat": 0.3})
    assert kpis.check_weights(kpis.DEFAULT_WEIGHTS) == kpis.DEFAULT_WEIGHTS


def test_composite_score_hand_computed():
    frame = pd.DataFrame({
        "rep_id": ["a", "b", "c"], "revenue": [1.0, 1.0, 1.0],
        "revenue_attainment": [1.5, 1.0, 0.5], "gross_margin": [0.3, 0.2, 0.1],
    })
    out = scorecard.composite_score(frame, {"revenue": 0.5, "gross_margin": 0.5}, cap=1.2)
    # revenue: attainment capped at 1.2; margin: mid-rank percentile (rank - 0.5) / 3
    assert list(out["c_revenue"]) == pytest.approx([1.2, 1.0, 0.5])
    assert list(out["c_gross_margin"]) == pytest.approx([5 / 6, 1 / 2, 1 / 6])
    assert list(out["score"]) == pytest.approx([100 * (0.6 + 5 / 12), 100 * (0.5 + 0.25), 100 * (0.25 + 1 / 12)])
    assert list(out["basis_revenue"]) == ["target"] * 3
    assert list(out["basis_gross_margin"]) == ["percentile"] * 3
    # all-percentile normalisation ignores targets
    pct = scorecard.composite_score(frame, {"revenue": 0.5, "gross_margin": 0.5}, normalisation="percentile")
    assert list(pct["c_revenue"]) == pytest.approx([0.5, 0.5, 0.5])   # tied revenue -> all median


def test_missing_kpi_weight_is_spread_and_min_weight_applies():
    frame = pd.DataFrame({"rep_id": ["a", "b"], "revenue": [1.0, 1.0], "revenue_attainment": [0.9, 1.1],
                          "gross_margin": [np.nan, 0.3], "csat": [4.0, np.nan]})
    w = {"revenue": 0.5, "gross_margin": 0.3, "csat": 0.2}
    out = scorecard.composite_score(frame, w, min_weight=0.5)
    # a: revenue 0.9 (w .5) + csat percentile 0.5 (only value, w .2) over 0.7
    assert out.loc[0, "score"] == pytest.approx(100 * (0.5 * 0.9 + 0.2 * 0.5) / 0.7)
    assert out.loc[0, "weight_covered"] == pytest.approx(0.7)
    assert out.loc[1, "score"] == pytest.approx(100 * (0.5 * 1.1 + 0.3 * 0.5) / 0.8)
    strict = scorecard.composite_score(frame, w, min_weight=0.75)
    assert math.isnan(strict.loc[0, "score"]) and not math.isnan(strict.loc[1, "score"])


def test_peer_percentile_within_groups_ties_and_direction():
    v = pd.Series([10.0, 20.0, 20.0, 5.0, np.nan])
    g = pd.Series(["x", "x", "x", "y", "y"])
    p = scorecard.peer_percentile(v, g)
    assert list(p[:4]) == pytest.approx([0.5 / 3, 2 / 3, 2 / 3, 0.5])
    assert math.isnan(p[4])
    low = scorecard.peer_percentile(pd.Series([1.0, 2.0, 3.0]), higher_is_better=False)
    assert list(low) == pytest.approx([5 / 6, 1 / 2, 1 / 6])


# --------------------------------------------------------------------------- warning lines
def test_classify_edges_value_on_a_line_is_on_the_better_side():
    s = warning_lines.classify([0.7999, 0.8, 0.9499, 0.95, 1.3, np.nan], red=0.8, amber=0.95)
    assert list(s) == ["red", "amber", "amber", "green", "green", "grey"]
    assert 80 / 100 == 0.8 and list(warning_lines.classify([80 / 100], 0.8, 0.95)) == ["amber"]
    low = warning_lines.classify([0.5, 0.3, 0.31, 0.2, 0.1], red=0.3, amber=0.2, higher_is_better=False)
    assert list(low) == ["red", "amber", "red", "green", "green"]   # 0.3 on the red line -> amber, 0.2 on amber -> green


def test_warning_line_validation():
    with pytest.raises(ValueError, match="red .* must not be above amber"):
        kpis.check_lines({"attainment": {"red": 0.95, "amber": 0.8}})
    with pytest.raises(ValueError, match="unknown warning line"):
        kpis.check_lines({"margin": {"red": 0.1, "amber": 0.2}})


def test_scorecard_status_ranks_and_warning_list():
    reps = pd.DataFrame({
        "rep_id": ["a", "b", "c", "d"], "name": ["A", "B", "C", "D"], "team": ["t1", "t1", "t2", "t2"],
        "revenue": [1.0, 1.0, 1.0, 1.0], "revenue_attainment": [1.3, 0.79, 0.9, 1.0],
        "gross_margin": [0.4, 0.3, 0.2, 0.1],
    })
    lines = {"attainment": {"red": 0.8, "amber": 0.95}, "percentile": {"red": 0.1, "amber": 0.25},
             "score": {"red": 40.0, "amber": 50.0}}
    card = scorecard.scorecard(reps, {"revenue": 0.5, "gross_margin": 0.5}, lines)
    by = card.set_index("rep_id")
    # scores: a 100*(.6 + .4375) ; b 100*(.395 + .3125) ; c 100*(.45 + .1875) ; d 100*(.5 + .0625)
    assert by.loc["a", "score"] == pytest.approx(103.75)
    assert by.loc["b", "score"] == pytest.approx(70.75)
    assert by.loc["c", "score"] == pytest.approx(63.75)
    assert by.loc["d", "score"] == pytest.approx(56.25)
    assert list(card["rep_id"]) == ["a", "b", "c", "d"]
    assert list(card["rank"]) == [1, 2, 3, 4]
    assert by.loc["c", "rank_team"] == 1 and by.loc["d", "rank_team"] == 2
    # b scores green but its revenue attainment is under the red line -> overall red
    assert by.loc["b", "score_status"] == "green" and by.loc["b", "status_revenue"] == "red"
    assert by.loc["b", "status"] == "red"
    assert by.loc["c", "status"] == "amber" and by.loc["a", "status"] == "green"
    # d's margin is the lowest of four: percentile 0.125 -> amber (not a red-triggering target KPI)
    assert by.loc["d", "status_gross_margin"] == "amber" and by.loc["d", "status"] == "green"
    wl = warning_lines.warning_list(card, ["revenue", "gross_margin"])
    assert list(zip(wl["rep_id"], wl["measure"], wl["status"])) == [
        ("b", "revenue", "red"), ("c", "revenue", "amber"), ("d", "gross_margin", "amber")]
