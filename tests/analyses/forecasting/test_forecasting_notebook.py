"""The forecasting notebook: metadata, parameters cell vs declaration, end-to-end run on the small demo."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest


ROOT = Path(__file__).resolve().parents[3]
NOTEBOOK = ROOT / "notebooks" / "forecasting.ipynb"


@pytest.fixture(scope="module")
def run_small(run_report):
    return run_report("forecasting", dimensions="[region]", models="[seasonal_naive,holt_winters,arima]",
                      n_origins=4, as_of="2025-09-30").out_dir


def test_end_to_end_on_small_demo(run_small, small_demo):
    res = json.loads((run_small / "forecasting.results.json").read_text())
    assert res["status"] == "ok"
    assert res["frequency"] == "M" and res["horizon"] == 3 and res["n_series"] == 5
    assert set(res["backtest"]) == {"seasonal_naive", "holt_winters", "arima"}
    chosen = res["chosen_model_total"]
    assert chosen in res["backtest"]
    # the headline accuracy is the held-out one: chosen on the first 2 origins, scored on the last 2
    assert res["n_eval_origins"] == 2 and res["honest_total"]["model"] in res["backtest"]
    assert res["accuracy_total"] == pytest.approx(1 - res["honest_total"]["wape"])
    for m in res["backtest"].values():
        assert set(m) >= {"mase", "wape", "coverage_80", "coverage_95"}
        assert 0 <= m["coverage_80"] <= m["coverage_95"] <= 1
    periods = [r["period"] for r in res["forecast_total"]]
    assert periods == ["2025-10-01", "2025-11-01", "2025-12-01"]
    for r in res["forecast_total"]:
        assert r["lo80"] < r["mean"] < r["hi80"]
    assert set(res["prob_reach_target"]) == set(periods)
    assert all(0 <= p <= 1 for p in res["prob_reach_target"].values())
    # the forecast made at the end of September against what the demo company then sold
    orders = pd.read_parquet(small_demo / "orders.parquet", columns=["order_date", "revenue"])
    d = pd.to_datetime(orders["order_date"])
    actual = orders[d >= "2025-10-01"].groupby(d.dt.month)["revenue"].sum()
    fc = [r["mean"] for r in res["forecast_total"]]
    wape = sum(abs(a - f) for a, f in zip(actual, fc)) / actual.sum()
    assert wape < 0.3
    assert res["coherence_max_rel_error"] < 1e-6
    assert set(res["lifecycle"]) == {"Hardware", "Consumables", "Software", "Services", "Smart Home", "Legacy Print"}
    assert 3 <= len(res["headline"]) <= 5
    gap = pd.read_csv(run_small / "forecasting.target_gap.csv")
    assert set(gap["unique_id"]) == {"Total", "North", "South", "East", "West"}
    html = (run_small / "forecasting.html").read_text()
    assert "Gap to target" in html and "Backtest" in html


def test_bare_orders_table_runs(small_demo, run_cli, tmp_path):
    """Only customer_id, order_date, revenue: total series only, no targets, no lifecycle — still a report."""
    data = tmp_path / "bare"
    data.mkdir()
    orders = pd.read_parquet(small_demo / "orders.parquet", columns=["customer_id", "order_date", "revenue"])
    orders.to_parquet(data / "orders.parquet")
    out = tmp_path / "out"
    run_cli("run", "forecasting", "--data", data, "-p", "models=[seasonal_naive,holt_winters]", "-p", "n_origins=3",
            "--out", out, check=True)
    res = json.loads((out / "forecasting.results.json").read_text())
    assert res["status"] == "ok" and res["n_series"] == 1 and res["dimensions"] == []
    assert "prob_reach_target" not in res and "lifecycle" not in res
    assert len(res["forecast_total"]) == 3 and res["drivers"] == []
    monthly = orders.groupby(pd.to_datetime(orders["order_date"]).dt.to_period("M"))["revenue"].sum()
    assert res["history_start"] == "2023-01-01" and res["history_end"] == "2025-12-01" and len(monthly) == 36
    html = (out / "forecasting.html").read_text()
    assert "no targets table" in html and "no product lines" in html
