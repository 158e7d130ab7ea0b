"""One end-to-end run of the plan notebook through the runner on the small demo (Papermill, HTML, CSVs)."""
from __future__ import annotations

import pandas as pd


def test_plan_report_runs_and_writes_the_targets(run_report):
    out, res = run_report("plan")
    assert res["status"] == "ok" and res["period"] == "2026"
    assert 0 < res["prob_reach"] < 1 and res["target"] == round(res["last_revenue"] * 1.1 / 1000) * 1000
    targets = pd.read_csv(out / "plan.targets.csv")
    assert list(targets.columns) == ["period", "level", "key", "metric", "value"]
    company = targets[targets["level"] == "company"]
    assert len(company) == 12 and company["value"].sum() == res["target"]
    assert (out / "plan.html").exists()


def test_bad_plan_parameters_exit_2_naming_the_key(run_report, tmp_path):
    run = run_report("plan", out=tmp_path / "out", params={"plan.weights": {"forecast": 0.5}}, check=False)
    assert run.proc.returncode == 2
    assert "parameter 'weights' of notebook 'plan': weights must sum to 1, they sum to 0.5" in run.proc.stderr
    assert not (tmp_path / "out").exists()
