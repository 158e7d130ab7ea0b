"""The runner's table checks are handed to the report kernels, which then do not count again.

The runner opens every data source once before any kernel starts (row counts, rows left out, key
conflicts: ``Dataset.checked_state``); a kernel's ``sb.start`` adopts that state
(``plan.adopt_checks``, through the ``SALESBENCH_CHECKED`` variable) instead of running the same
queries, on every engine. These tests use DuckDB on the small demo with injected defects, so the
state has exclusions of every kind (filters and exact copies) to rebuild.
"""
from __future__ import annotations

import json
import os

import pytest

from salesbench.core import schema
from salesbench.core.dataset import Dataset
from salesbench.io.sources import open_data
from salesbench.report import plan
from salesbench.report.plan import CHECKED_ENV, adopt_checks, checked_env


@pytest.fixture(scope="module")
def dirty_small(tmp_path_factory):
    from salesbench.datasets.demo import generate

    return generate(tmp_path_factory.mktemp("dirty_small"), seed=1, customers=300, dirty=True)


def _runner_state(folder) -> tuple[str, dict]:
    """What ``plan.open_sources`` records for the folder: the source and its ``checked`` state."""
    sources = plan.open_sources({"segmentation": [_params("segmentation", folder)]}, lambda _l: None, str)
    (src, info), = sources.items()
    return src, info["checked"]


def _params(name, folder):
    from salesbench.report import params as _p

    return _p.resolve_all([name], data=str(folder))[name][0]


def _count_queries(monkeypatch, ds: Dataset) -> list[str]:
    """Every query ``ds``'s backend executes from now on (one entry per call)."""
    calls: list[str] = []
    for meth in ("to_pyarrow", "to_pyarrow_batches", "execute", "raw_sql"):
        orig = getattr(ds.con, meth)

        def counted(*a, _orig=orig, _m=meth, **k):
            calls.append(_m)
            return _orig(*a, **k)

        monkeypatch.setattr(ds.con, meth, counted)
    return calls


def test_runner_state_lists_rows_and_exclusions(dirty_small):
    src, state = _runner_state(dirty_small)
    assert src == str(dirty_small)
    fresh = open_data(dirty_small)
    assert state["fingerprint"] == fresh.fingerprint()
    assert state["tables"]["orders"]["rows"] == fresh.row_counts()["orders"]
    checks = {e["check"] for e in state["tables"]["orders"]["exclusions"]}
    assert {"exact_duplicates", "future_dates", "implausible_values"} <= checks or \
        {"exact_duplicates", "future_dates"} <= checks, checks
    json.dumps(state)  # plain JSON: it travels in an environment variable


def test_kernel_adopts_the_checks_without_a_query(dirty_small, monkeypatch):
    src, state = _runner_state(dirty_small)
    reference = open_data(dirty_small)
    ref_excl = reference.exclusions()
    ref_rows = {t: int(reference.table(t).count().to_pyarrow().as_py()) for t in reference.tables
                if t not in reference.type_errors}

    ds = open_data(dirty_small)
    calls = _count_queries(monkeypatch, ds)
    monkeypatch.setenv(CHECKED_ENV, checked_env(src, state))
    adopted = adopt_checks(ds, src)
    assert set(adopted) == set(state["tables"])
    sentences = ds.require("orders", "customers", analysis="segmentation")
    assert ds.exclusions() == ref_excl
    ds.empty_tables()
    ds.check_keys()
    assert calls == [], f"the kernel repeated {len(calls)} queries of the runner's checks"
    assert sentences == [] and ref_excl  # require() without res shows nothing; the data has defects
    monkeypatch.undo()
    # the rebuilt tables leave out exactly the rows the counted ones leave out (defect counts of truth.json)
    assert {t: int(ds.table(t).count().to_pyarrow().as_py()) for t in ref_rows} == ref_rows
    defects = json.loads((dirty_small / "truth.json").read_text())["defects"]
    dup = [e for e in ds.exclusions(["orders"]) if e["check"] == "exact_duplicates"]
    assert dup and dup[0]["rows"] == defects["duplicate_order_lines"]


def test_changed_data_or_other_source_is_checked_again(dirty_small, monkeypatch, tmp_path):
    src, state = _runner_state(dirty_small)
    ds = open_data(dirty_small)
    assert adopt_checks(ds, src + "-other") == []  # no variable set
    monkeypatch.setenv(CHECKED_ENV, checked_env(src, state))
    assert adopt_checks(ds, src + "-other") == []  # the state of another source
    stale = dict(state, fingerprint="0" * 16)  # the files changed after the runner's check
    assert ds.adopt_checked_state(stale) == []
    assert ds.adopt_checked_state(dict(state, today="2001-01-01")) == []  # another run date
    monkeypatch.setenv(CHECKED_ENV, "{not json")
    assert adopt_checks(ds, src) == []
    calls = _count_queries(monkeypatch, ds)
    ds.exclusions(["orders"])
    assert calls, "without an adopted state the kernel counts itself"


def test_start_adopts_the_state_handed_to_the_kernel(dirty_small, monkeypatch, tmp_path):
    """``sb.start`` (what every notebook runs first) adopts the variable's state: no check query."""
    from salesbench.report import start as start_mod

    src, state = _runner_state(dirty_small)
    opened: list[Dataset] = []
    real_open = start_mod.open_data

    def open_and_count(source):
        ds = real_open(source)
        opened.append(ds)
        opened.append(_count_queries(monkeypatch, ds))
        return ds

    monkeypatch.setattr(start_mod, "open_data", open_and_count)
    monkeypatch.setenv(CHECKED_ENV, checked_env(src, state))
    monkeypatch.chdir(tmp_path)
    P, ds, res = start_mod.start("segmentation", {"data": src, "out_dir": str(tmp_path)})
    assert ds is opened[0] and opened[1] == []
    reads = [t for t in ds.tables if t in P_requires(P.name) or "segmentation" in schema.table(t).enables]
    assert res["excluded_rows"] == open_data(dirty_small).exclusions(reads)
    assert res["excluded_rows"], "the dirty demo has rows left out"


def P_requires(name):
    from salesbench.report import params as _p

    return _p.declaration(name).requires


def test_worker_spec_carries_the_state_for_its_source(dirty_small):
    from salesbench.report import execute

    sets = {"segmentation": [_params("segmentation", dirty_small)]}
    sources = plan.open_sources(sets, lambda _l: None, str)
    job, = plan.build_jobs(["segmentation"], sets, sources)
    job.safe_source = job.data_source
    spec = execute.job_spec(job, dirty_small, 60, {})
    handed = json.loads(spec["checked"])
    assert handed["source"] == spec["parameters"]["data"] == str(dirty_small)
    assert handed["tables"] == sources[str(dirty_small)]["checked"]["tables"]
    assert len(spec["checked"]) < 100_000  # well inside one environment string (128 KiB on Linux)
    assert os.environ.get(CHECKED_ENV) is None
