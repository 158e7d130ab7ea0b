"""The churn notebook: parameters match the declaration; end-to-end run through the CLI; bare orders."""
from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

import salesbench as sb
from salesbench.analyses.churn import clv
from salesbench.analyses.churn import report as churn_report
from salesbench.analyses.churn.model import Churn
from salesbench.report.params import repo_root

NOTEBOOK = repo_root() / "notebooks" / "churn.ipynb"


def _expected_counts(folder, cal_end):
    o = pd.read_parquet(folder / "orders.parquet", columns=["customer_id", "order_date"])
    o["order_date"] = pd.to_datetime(o["order_date"])
    cal = o[o["order_date"] <= cal_end]
    customers = set(cal["customer_id"].astype(str))
    hold = o[(o["order_date"] > cal_end) & o["customer_id"].astype(str).isin(customers)]
    return len(customers), len(hold.drop_duplicates(["customer_id", "order_date"]))


def test_end_to_end_small_demo(run_cli, small_demo, tmp_path):
    out = tmp_path / "report"
    proc = run_cli("run", "churn", "--data", small_demo, "--out", out, "-p", "fit_method=map", "-p", "model=auto",
                   "-p", "calibration_end=2025-06-30", "-p", "warning_draws=100", timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads((out / "churn.results.json").read_text())
    assert res["status"] == "ok"
    n_customers, holdout_days = _expected_counts(small_demo, pd.Timestamp("2025-06-30"))
    assert res["model_requested"] == "auto" and res["fit_method"] == "map" and res["time_unit"] == "W"
    # model chosen on the holdout after calibration_end, by the stated rule; the comparison is exported
    choice = res["model_choice"]
    assert res["model"] == choice["chosen"] and choice["calibration_end"] == "2025-06-30"
    comparison = pd.read_csv(out / "churn.model_comparison.csv")
    assert list(comparison["model"]) == ["bg_nbd", "mbg_nbd", "pareto_nbd"]
    assert comparison.loc[comparison["chosen"], "model"].tolist() == [res["model"]]
    assert comparison.loc[comparison["chosen"], "mean_rank"].iloc[0] == comparison["mean_rank"].min()
    # the at-risk list is ordered by the signal that ranked best on the holdout, never worse than recency
    rank = res["ranking"]
    assert rank["measured_on"] == "holdout" and rank["auc_signal"] >= rank["auc_recency"]
    assert rank["auc"][rank["signal"]] == max(v for v in rank["auc"].values() if v is not None)
    h = res["holdout"]
    assert h["interval"] == "posterior predictive" and h["predicted_lo"] < h["predicted_total"] < h["predicted_hi"]
    assert h["covered"] == (h["predicted_lo"] <= h["actual_total"] <= h["predicted_hi"])
    assert res["calibration_end"] == "2025-06-30"
    assert res["n_customers"] == n_customers
    assert res["holdout"]["actual_total"] == holdout_days
    assert 0.6 < res["holdout"]["predicted_total"] / holdout_days < 1.4
    assert set(res["params"]) == set(clv.MODEL_PARAMS[res["model"]])
    assert res["r_hat_max"] is None  # MAP: no sampler diagnostics
    assert res["revenue_at_risk"]["mean"] > 0
    customers = pd.read_csv(out / "churn.customers.csv")
    assert len(customers) == n_customers
    assert {"customer_id", "p_alive", "expected_purchases", "clv"} <= set(customers.columns)
    assert customers["p_alive"].between(0, 1).all()
    at_risk = pd.read_csv(out / "churn.at_risk.csv")
    assert len(at_risk) == res["n_at_risk"]
    assert at_risk["revenue_at_risk"].sum() == pytest.approx(res["revenue_at_risk"]["mean"], rel=1e-3)
    by = pd.read_csv(out / "churn.revenue_at_risk_by.csv")
    regions = by[by["by"] == "region"]
    assert regions["mean"].sum() == pytest.approx(res["revenue_at_risk"]["mean"], rel=1e-6)
    # second seed of the demo company: P(alive) still separates true churners
    assert res["truth_check"]["auc"] >= 0.75
    assert res["truth_check"]["at_risk_churned_share"] > res["truth_check"]["base_rate"]
    assert "effects" in res["early_warning"]
    assert len(res["headline"]) == 3
    html = (out / "churn.html").read_text()
    assert "Revenue at risk" in html and "Traceback" not in html
    assert "Model choice and ranking check" in html and "94% predictive interval" in html


def test_bare_orders_skips_early_warning(small_demo, tmp_path):
    shutil.copy(small_demo / "orders.parquet", tmp_path / "orders.parquet")
    ds = sb.open_data(tmp_path)
    A = Churn(fit_method="map", horizon=26).fit(ds)
    assert A.warning_ is None and "only orders" in A.warning_reason_
    assert A.truth_ is None and A.holdout_ is None
    assert set(A.attrs_["region"]) == {"unknown"}
    res = sb.results.Results("churn", tmp_path)
    churn_report.publish(A, res)
    assert res["early_warning"] == {"skipped": A.warning_reason_}
    assert res["n_customers"] == len(A.rfm_) == len(A.predictions_)
