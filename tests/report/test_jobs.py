"""``--jobs auto`` and the start order: how many reports run at once, which starts first (issue #13).

The rule is a unit test with cores and memory given; the end-to-end tests run the
tiny ``hello`` fixture notebook (tests/notebooks) in real kernels, serially and
in parallel, and compare what they wrote.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from salesbench import cli
from salesbench.report import plan, runner
from salesbench.report.params import Params

FIXTURES = Path(__file__).resolve().parents[1] / "notebooks"
GIB = 1 << 30


@pytest.mark.parametrize("n_reports, cores, memory, expected", [
    (6, 2, 16 * GIB, 2),         # cores bound: the 2-core machine of the issue
    (6, 16, 16 * GIB, 6),        # reports bound
    (6, 16, 4 * GIB, 2),         # memory bound: 4 GiB // 1.5 GiB
    (1, 8, 16 * GIB, 1),         # one report: one worker
    (6, 8, GIB // 2, 1),         # too little memory for even one: still one (never 0)
    (0, 8, 16 * GIB, 1),         # nothing to run (all skipped): 1, not 0
])
def test_auto_jobs_is_the_smallest_of_cores_reports_and_memory(n_reports, cores, memory, expected):
    assert plan.auto_jobs(n_reports, cores=cores, memory=memory, peak=plan.PEAK_REPORT_BYTES) == expected


def test_auto_jobs_without_a_memory_figure_uses_cores_and_reports(monkeypatch):
    monkeypatch.setattr(plan, "available_memory", lambda: None)
    assert plan.auto_jobs(6, cores=3) == 3
    assert 1 <= plan.auto_jobs(6) <= plan.usable_cores()


def _job(i, name, label=None, status="pending"):
    p = Params(name, {"data": "demo", "out_dir": "."}, label=label)
    job = plan.Job(i, name, name.title(), p, "", "demo")
    job.status = status
    return job


def test_start_order_static_estimates_put_the_longest_report_first():
    names = ["data_quality", "segmentation", "funnel", "forecasting", "churn", "performance"]
    jobs = [_job(i + 1, n) for i, n in enumerate(names)]
    jobs[1].status = "skipped"  # skipped jobs never start
    order = [j.name for j in plan.start_order(jobs)]
    assert order == ["churn", "forecasting", "performance", "funnel", "data_quality"]
    assert [j.name for j in jobs] == names  # the run's own order (index, manifest) is unchanged


def test_start_order_follows_the_previous_runs_durations(tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"reports": [
        {"name": "data_quality", "sweep_label": None, "status": "ok", "duration_s": 50.0},
        {"name": "churn", "sweep_label": None, "status": "ok", "duration_s": 3.0},
        {"name": "funnel", "sweep_label": None, "status": "skipped", "duration_s": 0.0},
    ]}))
    durations = plan.previous_durations([tmp_path / "missing.json", tmp_path, manifest])
    assert durations == {("data_quality", None): 50.0, ("churn", None): 3.0}
    jobs = [_job(1, "data_quality"), _job(2, "funnel"), _job(3, "churn")]
    # data_quality took longest last time; funnel has no duration (skipped) -> its static estimate (4.5 s)
    assert [j.name for j in plan.start_order(jobs, durations)] == ["data_quality", "funnel", "churn"]


@pytest.fixture()
def env(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame({"customer_id": ["c1", "c2"], "order_date": ["2024-01-05", "2024-02-01"],
                  "revenue": [10.5, 20.0]}).to_csv(data / "orders.csv", index=False)
    monkeypatch.setenv("SALESBENCH_NOTEBOOKS", str(FIXTURES))
    monkeypatch.setenv("SALESBENCH_PARAMS", str(FIXTURES / "params"))
    monkeypatch.setenv("SALESBENCH_REPORTS", str(tmp_path / "reports"))
    return {"data": data, "base": tmp_path}


def test_jobs_auto_is_accepted_and_recorded(env, capsys, monkeypatch):
    """``--jobs auto`` through the CLI: the manifest records the number used and that auto was asked for.

    needs_opps is skipped before any kernel (no opportunities table), so this costs no kernel start;
    a parallel run's outputs against a serial run's: test_runner.py::test_parallel_run_writes_what_a_serial_run_writes.
    """
    monkeypatch.setattr(plan, "usable_cores", lambda: 4)
    code = cli.main(["run", "needs_opps", "--data", str(env["data"]), "--out", str(env["base"] / "auto"),
                     "--jobs", "auto"])
    out = capsys.readouterr().out
    assert code == 0, out
    manifest = json.loads((env["base"] / "auto" / "manifest.json").read_text())
    assert manifest["options"]["jobs_requested"] == "auto"
    assert manifest["options"]["jobs"] == 1  # nothing to run in parallel: one worker, not four
    assert "jobs=1" in out and manifest["reports"][0]["status"] == "skipped"
    result = runner.run_reports(["needs_opps"], data=str(env["data"]), out=env["base"] / "n", jobs=3,
                                echo=lambda _l: None)
    manifest = json.loads((result.out_dir / "manifest.json").read_text())
    assert (manifest["options"]["jobs"], manifest["options"]["jobs_requested"]) == (3, 3)


def test_jobs_default_is_auto_and_bad_values_exit_2(env, capsys):
    parser = cli.build_parser("run")
    assert parser.parse_args(["run"]).jobs == "auto"
    assert parser.parse_args(["run", "-j", "3"]).jobs == 3
    with pytest.raises(SystemExit) as exc:
        cli.main(["run", "hello", "--jobs", "many"])
    assert exc.value.code == 2
    assert "expected a whole number or 'auto', got 'many'" in capsys.readouterr().err
