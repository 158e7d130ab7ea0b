"""``sb.start(name, globals())``: the one set-up call of every notebook (salesbench.report.start)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from salesbench.core.dataset import Dataset, MissingTables
from salesbench.core.errors import ParamError
from salesbench.report import params, start
from salesbench.report.results import Results

FIXTURES = Path(__file__).resolve().parents[1] / "notebooks"  # hello (no tables needed), needs_opps (opportunities)


@pytest.fixture()
def repo(tmp_path, monkeypatch):
    """A repository layout in tmp: notebooks/ and params/ (the fixture declarations), an orders-only data folder."""
    (tmp_path / "notebooks").mkdir()
    for name in ("hello", "needs_opps"):
        (tmp_path / "notebooks" / f"{name}.ipynb").write_bytes((FIXTURES / f"{name}.ipynb").read_bytes())
    monkeypatch.setenv("SALESBENCH_NOTEBOOKS", str(tmp_path / "notebooks"))
    monkeypatch.setenv("SALESBENCH_PARAMS", str(FIXTURES / "params"))
    monkeypatch.setattr(params, "repo_root", lambda: tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame({"customer_id": ["c1", "c2"], "order_date": ["2024-01-05", "2024-02-01"],
                  "revenue": [10.5, 20.0]}).to_csv(data / "orders.csv", index=False)
    return tmp_path


def test_start_returns_validated_params_open_data_and_results(repo, tmp_path):
    out = tmp_path / "explicit"
    P, ds, res = start.start("hello", {"data": str(repo / "data"), "out_dir": str(out), "n": 7, "as_of": "2025-01-31"})
    assert isinstance(P, params.Params) and P.n == 7 and P.greeting == "hi"  # missing keys take their defaults
    assert str(P.as_of) == "2025-01-31" and P.as_of.year == 2025  # validated: a date, not text
    assert isinstance(ds, Dataset) and ds.has("orders")
    assert isinstance(res, Results) and res.name == "hello"
    assert res.out_dir == out  # an explicit out_dir is kept


def test_a_bad_parameter_is_a_param_error_naming_the_key(repo):
    with pytest.raises(ParamError) as err:
        start.start("hello", {"data": str(repo / "data"), "n": "three"})
    assert err.value.key == "n"
    assert "parameter 'n' of notebook 'hello'" in str(err.value)
    with pytest.raises(ParamError) as err:
        start.start("hello", {"data": str(repo / "data"), "as_of": "2025-02-30"})
    assert err.value.key == "as_of"


def test_a_missing_table_records_the_skip_and_raises_missing_tables(repo, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(MissingTables) as err:
        start.start("needs_opps", {"data": str(repo / "data"), "out_dir": str(out)})
    assert err.value.missing == ["opportunities", "stage_history"]
    saved = json.loads((out / "needs_opps.results.json").read_text())
    assert saved["status"] == "skipped"
    assert saved["reason"] == "no opportunities table and no stage_history table" == err.value.reason


def test_interactive_run_from_the_notebooks_folder_writes_to_reports_interactive(repo, monkeypatch):
    monkeypatch.chdir(repo / "notebooks")  # JupyterLab's working directory: the notebook's folder
    _P, _ds, res = start.start("hello", {"data": str(repo / "data"), "out_dir": "."})
    assert res.out_dir == repo / "reports" / "interactive" / "hello"
    assert res.out_dir.is_dir()
    res.save()
    assert (repo / "reports" / "interactive" / "hello" / "hello.results.json").exists()
    assert not list((repo / "notebooks").glob("hello.*.json"))  # nothing written next to the notebooks


def test_interactive_out_dir_rules(repo, tmp_path):
    nb = repo / "notebooks"
    assert start.interactive_out_dir("hello", ".", cwd=nb) == repo / "reports" / "interactive" / "hello"
    assert start.interactive_out_dir("hello", str(nb), cwd=tmp_path) == repo / "reports" / "interactive" / "hello"
    # "." anywhere else (a run folder, where Papermill runs the kernel) and explicit folders are kept
    assert start.interactive_out_dir("hello", ".", cwd=tmp_path / "run") == tmp_path / "run"
    assert start.interactive_out_dir("hello", "sub", cwd=nb) == nb / "sub"
    assert start.interactive_out_dir("hello", tmp_path / "x", cwd=nb) == tmp_path / "x"
