"""The per-customer summaries give the same frames in passes over customer partitions on every engine.

:func:`salesbench.core.memory.aggregate_in_passes` splits churn's RFM summary and segmentation's customer
features into ``hash(customer_id) % k`` partitions on large data (4 passes from 10^7 order lines on DuckDB),
so DuckDB holds one partition's distinct-count table at a time. ``hash`` is a different function on each
engine; what must hold everywhere is that every customer lands in exactly one pass: the frames in 3 passes
equal the one-pass frames (small demo, floats to 1e-9).
"""
from __future__ import annotations

import datetime as _dt

import pandas as pd
from salesbench.analyses.churn import clv as churn
from salesbench.analyses.segmentation.features import customer_features
from salesbench.core import memory
from salesbench.io.sources import open_data
from test_spark_parity import assert_same

AS_OF = _dt.date(2025, 6, 30)


def _summaries(ds, monkeypatch, passes: int, features: bool = True) -> dict:
    """churn's rfm_table (and segmentation's features) with ``passes`` passes; checks the passes ran."""
    monkeypatch.setenv("SALESBENCH_PASSES", str(passes))
    built = []
    real = memory.aggregate_in_passes

    def spy(table, key, build, passes=None):
        return real(table, key, lambda t: built.append(1) or build(t), passes)

    monkeypatch.setattr(churn, "aggregate_in_passes", spy)
    out = {"rfm": churn.rfm_table(ds.table("orders"), pd.Timestamp(AS_OF), "W")}
    if features:
        import salesbench.analyses.segmentation.features as feat

        monkeypatch.setattr(feat, "aggregate_in_passes", spy)
        out["features"] = customer_features(ds, as_of=AS_OF)
    assert len(built) == passes * len(out)
    return out


def test_duckdb_summaries_in_passes_equal_one_pass(small_demo, monkeypatch):
    ds = open_data(small_demo)
    one = _summaries(ds, monkeypatch, 1)
    assert len(one["rfm"]) > 100
    assert_same(one, _summaries(ds, monkeypatch, 3), "DuckDB, 3 passes against 1")


def test_postgresql_rfm_in_passes_equals_duckdb(pg_demo, small_demo, monkeypatch):
    one = _summaries(open_data(small_demo), monkeypatch, 1, features=False)
    assert_same(one, _summaries(open_data(pg_demo), monkeypatch, 3, features=False),
                "PostgreSQL in 3 passes against DuckDB")


# Spark: tests/io/test_spark_parity.py::test_churn_summary_in_passes (it shares that module's Spark Dataset)


def test_other_engines_run_one_pass_by_default(small_demo, monkeypatch):
    monkeypatch.delenv("SALESBENCH_PASSES", raising=False)
    monkeypatch.setattr(memory, "ONE_PASS_BYTES", 1)  # DuckDB would now split even the small demo
    monkeypatch.setattr(memory, "_backend_name", lambda table: "pyspark")
    built = []
    t = open_data(small_demo).table("orders")
    out = memory.aggregate_in_passes(t, "customer_id",
                                     lambda p: built.append(1) or p.group_by("customer_id").aggregate(n=p.count()))
    assert len(built) == 1 and out["n"].sum() == t.count().execute()
