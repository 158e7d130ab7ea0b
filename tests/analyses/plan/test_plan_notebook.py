"""One end-to-end run of the plan notebook through the runner on the small demo (Papermill, HTML, CSVs)."""
from __future__ import annotations

import shutil

import pandas as pd


def test_plan_report_runs_and_writes_the_targets(run_report):
    out, res = run_report("plan")
    assert res["status"] == "ok" and res["period"] == "2026"
    assert 0 < res["prob_reach"] < 1 and res["basis"] == "book"
    assert res["target"] == round(res["basis_amount"] / 1000) * 1000 and set(res["retention"]) == {"new", "established"}
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


def test_a_period_already_past_by_the_data_exits_2_before_any_kernel(run_report, tmp_path):
    # as_of null: the end of the history is the data's last order date (2025-12-31 on the demo)
    run = run_report("plan", out=tmp_path / "out", params={"plan.period": '"2020"'}, check=False)
    assert run.proc.returncode == 2
    assert "parameter 'period' of notebook 'plan'" in run.proc.stderr
    assert "2020 has already begun by 2025-12-31" in run.proc.stderr
    assert "Traceback" not in run.proc.stderr and not (tmp_path / "out").exists()


def test_a_level_missing_from_the_reps_table_exits_2_naming_levels(run_report, small_demo, tmp_path):
    data = tmp_path / "no_team"
    shutil.copytree(small_demo, data)
    reps = pd.read_parquet(data / "reps.parquet")
    reps.drop(columns="team").to_parquet(data / "reps.parquet", index=False)
    run = run_report("plan", data=data, out=tmp_path / "out", check=False)
    assert run.proc.returncode == 2
    assert "parameter 'levels' of notebook 'plan'" in run.proc.stderr and "the reps table has no team" in run.proc.stderr
    assert "Traceback" not in run.proc.stderr and not (tmp_path / "out").exists()
    # without team in levels the same data plans region -> rep (checked before any kernel: nothing refused)
    from salesbench.analyses.plan.model import SalesPlan
    from salesbench.io.sources import open_data
    SalesPlan.check_data({**SalesPlan().get_params(), "levels": ["region", "rep"]}, open_data(data))
