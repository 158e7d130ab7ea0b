"""Relationships between KPIs across reps and the per-rep feedback."""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from salesbench.analyses.performance import feedback as fb

D = dt.date


# --------------------------------------------------------------------------- relationships and feedback
def test_spearman_ci_hand_computed():
    # ranks 1..5 vs 2,1,4,3,5: sum d^2 = 4 -> rho = 1 - 6*4 / (5*24) = 0.8
    r = fb.spearman_ci([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])
    assert r["rho"] == pytest.approx(0.8)
    z, se = math.atanh(0.8), math.sqrt((1 + 0.32) / 2)       # Bonett & Wright SE, n - 3 = 2
    assert r["lo"] == pytest.approx(math.tanh(z - 1.959964 * se), abs=1e-5)
    assert r["hi"] == pytest.approx(math.tanh(z + 1.959964 * se), abs=1e-5)
    assert r["lo"] == pytest.approx(-0.4571, abs=1e-3) and r["hi"] == pytest.approx(0.9908, abs=1e-3)
    assert math.isnan(fb.spearman_ci([1, 2, 3], [1, 2, 3])["rho"])   # n < 5


def test_relationships_readings_never_claim_causes():
    x = np.arange(30, dtype=float)
    frame = pd.DataFrame({"discount_rate": x, "gross_margin": -x + np.sin(x), "visits_per_customer": x,
                          "win_rate": np.cos(x * 7.3)})
    rel = fb.relationships(frame, [("discount_rate", "gross_margin"), ("visits_per_customer", "win_rate"),
                                   ("complaints_per_customer", "csat")])
    assert list(rel["x"]) == ["discount_rate", "visits_per_customer"]       # absent pair skipped
    assert rel.loc[0, "hi"] < 0 and "lower gross margin" in rel.loc[0, "reading"]
    assert "not cause" in rel.loc[0, "reading"]
    assert rel.loc[1, "lo"] < 0 < rel.loc[1, "hi"] and "no clear association" in rel.loc[1, "reading"]


def test_feedback_strengths_and_gaps_against_team_median():
    card = pd.DataFrame({
        "rep_id": ["a", "b", "c", "z"], "name": ["A", "B", "C", "Z"], "team": ["t", "t", "t", "u"],
        "score": [70.0, 60.0, 50.0, 40.0], "rank": [1, 2, 3, 4], "rank_team": [1, 2, 3, 1],
        "status": ["green", "green", "amber", "red"],
        "gross_margin": [0.40, 0.30, 0.20, 0.30], "csat": [3.0, 4.0, 4.5, 4.0],
        "revenue": [100.0, 100.0, 100.0, 100.0], "revenue_attainment": [1.1, 1.0, 0.9, 0.8],
    })
    history = card.assign(period=pd.Period("2025Q1", "Q"))
    out = fb.rep_feedback(card, history, ["revenue", "gross_margin", "csat"], ["a"])
    a = out[0]
    # gross margin 40% vs team median 30%: +10 pts (strength); CSAT 3.00 vs median 4.00 (gap)
    assert a["strengths"] == ["Gross margin 40.0% vs team median 30.0% (+10.0 pts)"]
    assert a["gaps"] == ["CSAT (1-5) 3.00 vs team median 4.00 (−1.00)"]
    assert "rank 1 of 4 in the company and 1 of 3 in t" in a["summary"]
    comp = fb.kpi_comparison(card, "a", ["revenue", "gross_margin"]).set_index("kpi")
    assert comp.loc["revenue", "attainment"] == pytest.approx(1.1) and comp.loc["revenue", "diff"] == 0.0


def test_feedback_team_medians_and_spreads_once_per_card(monkeypatch):
    """rep_feedback computes each team's medians and the spreads once (not once per rep), with the numbers
    kpi_comparison gives one rep at a time: teams are not mixed up (a rep with no team value included)."""
    rng = np.random.default_rng(3)
    n = 12
    card = pd.DataFrame({
        "rep_id": [f"r{i}" for i in range(n)], "name": [f"R{i}" for i in range(n)],
        "team": ["t", "u", "v", None] * 3, "score": rng.uniform(30, 90, n), "rank": np.arange(1, n + 1),
        "status": ["green"] * n, "gross_margin": rng.uniform(0.1, 0.5, n), "csat": rng.uniform(2, 5, n),
        "revenue": rng.uniform(50, 150, n), "revenue_attainment": rng.uniform(0.7, 1.3, n),
    })
    card.loc[3, "csat"] = np.nan
    history = card.assign(period=pd.Period("2025Q1", "Q"))
    kpis = ["revenue", "gross_margin", "csat"]
    calls = {"medians": 0, "spreads": 0}
    medians, spreads = fb._medians, fb._spreads
    monkeypatch.setattr(fb, "_medians", lambda *a: calls.__setitem__("medians", calls["medians"] + 1) or medians(*a))
    monkeypatch.setattr(fb, "_spreads", lambda *a: calls.__setitem__("spreads", calls["spreads"] + 1) or spreads(*a))
    out = fb.rep_feedback(card, history, kpis)
    assert calls["spreads"] == 1
    assert calls["medians"] <= 3 + 3          # t, u, v once each; the reps without a team may each miss the cache
    for item in out:
        alone = fb.kpi_comparison(card, item["rep_id"], list(item["comparison"]["kpi"]))
        pd.testing.assert_frame_equal(item["comparison"], alone)
    t_reps = card[card["team"] == "t"]
    first_t = next(i for i in out if i["rep_id"] == "r0")["comparison"].set_index("kpi")
    assert first_t.loc["gross_margin", "team_median"] == t_reps["gross_margin"].median()
    assert first_t.loc["csat", "z"] == pytest.approx(
        (card.loc[0, "csat"] - t_reps["csat"].median()) / card["csat"].std(ddof=1))
