"""Every report on a real PostgreSQL server gives the same results as DuckDB on the same data.

The small demo company (seed 1, 600 customers) is loaded with canonical column
types into a throw-away PostgreSQL server (``pg_demo`` in ``conftest.py``) and
read by a password-authenticated, read-only user. All seven reports run on it
and, with the same parameters, on the same tables as Parquet files through
DuckDB; their ``<name>.results.json`` and ``<name>.<table>.csv`` must agree to
a relative 1e-6. Locally the server tests are skipped without PostgreSQL; under
``CI`` it fails instead (``.ci/run`` installs PostgreSQL 15).
"""
from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

import pgserver

pytestmark = pytest.mark.slow

NOTEBOOKS = ["data_quality", "segmentation", "funnel", "forecasting", "churn", "performance", "plan"]

#: Cheap settings with the same code paths: fewer models, draws and origins.
CHEAP = """\
notebooks:
  segmentation: {k: 3}
  funnel: {mcmc_draws: 100, mcmc_tune: 100, mcmc_chains: 1}
  forecasting: {models: [seasonal_naive, ets], deep_models: [seasonal_naive], n_origins: 2}
  churn: {fit_method: map, max_pred_draws: 100, warning_draws: 100}
"""

#: Result keys that legitimately differ between two runs: wall-clock seconds.
VOLATILE = {"timings", "model_seconds", "fit_seconds", "seconds"}

#: CSV columns that legitimately differ: the data source description.
VOLATILE_COLUMNS = {"data_quality.row_counts.csv": {"source"}, "churn.model_comparison.csv": {"fit_seconds"}}

RTOL = 1e-6


def _run_both(pg_url: str, small_demo: Path, tmp: Path, run_cli) -> dict:
    """``{"postgres": (run folder, process, seconds), "duckdb": (...), "url": pg_url}``: every report."""
    params = tmp / "cheap.yaml"
    params.write_text(CHEAP)
    # the same tables as files; truth.json left out because a database carries no demo ground truth
    folder = tmp / "data"
    folder.mkdir()
    for f in small_demo.glob("*.parquet"):
        if not f.name.startswith("truth"):
            shutil.copy(f, folder / f.name)
    out = {"url": pg_url}
    for engine, data in (("postgres", pg_url), ("duckdb", folder)):
        t0 = time.perf_counter()
        proc = run_cli("run", *NOTEBOOKS, "--data", data, "--out", tmp / engine, "--jobs", "2", "-f", params,
                       timeout=600)
        out[engine] = (tmp / engine, proc, time.perf_counter() - t0)
    print(f"\n{len(NOTEBOOKS)} reports: PostgreSQL {out['postgres'][2]:.1f} s, DuckDB {out['duckdb'][2]:.1f} s")
    return out


def _differences(a, b, path: str = "") -> list[str]:
    """Where two JSON values differ (numbers to a relative RTOL, NaN equal to NaN)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k in VOLATILE:
                continue
            if k not in a or k not in b:
                out.append(f"{path}/{k}: only in {'PostgreSQL' if k in a else 'DuckDB'}")
            else:
                out += _differences(a[k], b[k], f"{path}/{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} vs {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f"{path}[{i}]")]
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        if a == b or (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=RTOL, abs_tol=1e-9):
            return []
    elif a == b and type(a) is type(b):
        return []
    return [f"{path}: PostgreSQL {a!r} vs DuckDB {b!r}"]


def _check_postgres_run(runs) -> None:
    folder, proc, _ = runs["postgres"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = json.loads((folder / "manifest.json").read_text())
    status = {r["name"]: (r["status"], r["error"]) for r in manifest["reports"]}
    assert status == {n: ("ok", None) for n in NOTEBOOKS}
    assert {r["data"] for r in manifest["reports"]} == {runs["url"].replace(pgserver.PASSWORD, "***")}
    for name in NOTEBOOKS:
        res = json.loads((folder / f"{name}.results.json").read_text())
        assert res["status"] == "ok", (name, res.get("reason"))


def _check_results_equal(runs) -> None:
    (pg, _, _), (duck, duck_proc, _) = runs["postgres"], runs["duckdb"]
    assert duck_proc.returncode == 0, duck_proc.stdout + duck_proc.stderr
    differences = []
    for name in NOTEBOOKS:
        a = json.loads((pg / f"{name}.results.json").read_text())
        b = json.loads((duck / f"{name}.results.json").read_text())
        differences += [f"{name}.results.json{d}" for d in _differences(a, b)]
    assert not differences, "\n".join(differences[:40])


def _check_tables_equal(runs) -> None:
    pg, duck = runs["postgres"][0], runs["duckdb"][0]
    names = sorted(p.name for p in pg.glob("*.csv"))
    assert names == sorted(p.name for p in duck.glob("*.csv")) and len(names) > 20
    for name in names:
        a, b = pd.read_csv(pg / name), pd.read_csv(duck / name)
        drop = VOLATILE_COLUMNS.get(name, set())
        a, b = a.drop(columns=list(drop)), b.drop(columns=list(drop))
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=RTOL, atol=1e-9, obj=name)


def _check_no_password(runs) -> None:
    folder, proc, _ = runs["postgres"]
    secret = pgserver.PASSWORD.encode()
    files = [f for f in folder.rglob("*") if f.is_file()]
    assert len(files) > 30
    leaked = [str(f.relative_to(folder)) for f in files if secret in f.read_bytes()]
    assert not leaked
    assert pgserver.PASSWORD not in proc.stdout + proc.stderr
    assert "sbuser:***@127.0.0.1" in proc.stdout  # the URL is shown, redacted


def test_every_report_on_postgresql_equals_duckdb(pg_demo, small_demo, tmp_path, run_cli):
    """All seven reports succeed on PostgreSQL, equal DuckDB's on the same tables, and leak no password.

    One test, not four sharing a fixture: under pytest-xdist a module fixture would run the
    twelve reports once per worker."""
    runs = _run_both(pg_demo, small_demo, tmp_path, run_cli)
    _check_postgres_run(runs)
    _check_results_equal(runs)
    _check_tables_equal(runs)
    _check_no_password(runs)


def test_validate_on_postgresql_finds_the_same_defects(pg_server, tmp_path, run_cli):
    """The dirty demo in PostgreSQL: `salesbench validate` reports the same findings as on the files."""
    from salesbench.io.sources import open_data
    from salesbench.datasets.demo import DEFECTS, generate

    folder = generate(tmp_path / "dirty", seed=1, customers=600, dirty=True)
    pgserver.load_dataset(pg_server, "dirty", open_data(folder))
    url = pg_server.url("dirty", pgserver.USER, pgserver.PASSWORD)
    found = {}
    for engine, data in (("postgres", url), ("duckdb", folder)):
        proc = run_cli("validate", "--data", data, "--json", "--as-of", "2026-01-01")
        assert proc.returncode == 0, proc.stderr
        assert pgserver.PASSWORD not in proc.stdout + proc.stderr
        report = json.loads(proc.stdout)
        found[engine] = [(f["check"], f["table"], f["column"], f["rows"])
                         for f in report["schema_errors"] + report["quality_problems"]]
    assert found["postgres"] == found["duckdb"]
    assert sorted((check, rows) for check, _, _, rows in found["postgres"]) == sorted(DEFECTS.items())


def test_missing_postgresql_skips_locally_but_fails_in_ci(monkeypatch):
    monkeypatch.setattr(pgserver, "binary", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        pgserver.start_or_skip()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set but the PostgreSQL tests cannot run"):
        pgserver.start_or_skip()


def test_funnel_tables_do_not_depend_on_the_storage_order(small_demo):
    """A database returns rows in its own order (PostgreSQL: heap order, DuckDB: hash-join order):
    the funnel's per-deal tables must come out the same whatever order the tables are stored in."""
    from salesbench.analyses.funnel import deals as funnel, durations
    from salesbench.core.dataset import Dataset

    frames = {n: pd.read_parquet(small_demo / f"{n}.parquet") for n in ("opportunities", "stage_history", "reps")}
    shuffled = {n: f.sample(frac=1.0, random_state=7).reset_index(drop=True) for n, f in frames.items()}
    a = funnel.load_deals(Dataset.from_frames(frames))
    b = funnel.load_deals(Dataset.from_frames(shuffled))
    assert a.frame["opportunity_id"].is_monotonic_increasing
    pd.testing.assert_frame_equal(durations.sla_breaches(a, {"needs_confirmed": 48}),
                                  durations.sla_breaches(b, {"needs_confirmed": 48}))
