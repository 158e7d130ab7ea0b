"""The funnel notebook: declaration vs parameters cell, end-to-end run through the CLI, skip without tables."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest


ROOT = Path(__file__).resolve().parents[3]
NOTEBOOK = ROOT / "notebooks" / "funnel.ipynb"


@pytest.fixture(scope="module")
def run_small(run_report):
    return run_report("funnel", mcmc_draws=150, mcmc_tune=150).out_dir


def test_end_to_end_on_small_demo(run_small, small_demo):
    res = json.loads((run_small / "funnel.results.json").read_text())
    truth = json.loads((small_demo / "truth.json").read_text())
    opps = pd.read_parquet(small_demo / "opportunities.parquet")
    assert res["status"] == "ok"
    assert res["n_opportunities"] == len(opps)
    assert list(res["stage_conversion"]) == [f"{a}->{b}" for a, b in zip(truth["stages"], truth["stages"][1:])]
    for key, rate in res["stage_conversion"].items():  # ~1,200 deals: sampling error up to ~0.035
        assert rate == pytest.approx(truth["stage_conversion"][key], abs=0.07), key
    assert res["win_rate"] == pytest.approx(truth["win_rate"], abs=0.03)
    assert res["sla_breach_rate"]["needs_confirmed"] == pytest.approx(truth["sla"]["breach_rate"], abs=0.02)
    stuck = pd.read_csv(run_small / "funnel.stuck_deals.csv")
    assert res["stuck_deals"] == len(stuck)
    assert set(stuck["opportunity_id"]) <= set(opps.loc[opps["status"] == "open", "opportunity_id"])
    assert res["velocity_per_day"] > 0 and 30 < res["median_cycle_days"] < 90
    assert 4 <= len(res["headline"]) <= 5
    pooled = pd.read_csv(run_small / "funnel.pooled_win_rate_rep.csv")
    assert pooled["rep_id"].nunique() == opps["rep_id"].nunique()
    assert ((pooled["lo"] <= pooled["mean"]) & (pooled["mean"] <= pooled["hi"])).all()
    html = (run_small / "funnel.html").read_text()
    assert "Sales funnel" in html and "Traceback" not in html
    for heading in ("Conversion by stage", "Key-node SLAs", "Stuck deals", "Velocity and pipeline coverage"):
        assert heading in html
