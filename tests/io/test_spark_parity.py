"""Parity: the engine-side step of every analysis gives the same frames on DuckDB and on Spark.

The small demo company (seed 1, 600 customers) is opened twice — as a Parquet folder on DuckDB and
through a Spark source spec (``engine: spark``, local mode) over the same files — and each function
that runs an analysis' aggregation in the engine is called with both Datasets. Frames must be equal:
the same rows (compared after sorting on every column that is not a float), the same columns, floats
to 1e-9.
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from salesbench.io.sources import open_data


@pytest.fixture(scope="module")
def engines(spark, small_demo, small_demo_spark_spec):
    duck, sp = open_data(small_demo), open_data(small_demo_spark_spec)
    assert type(sp.con).__module__.startswith("ibis.backends.pyspark"), type(sp.con)
    return duck, sp


def _normal(df: pd.DataFrame) -> pd.DataFrame:
    df = df.reset_index(drop=not any(n is not None for n in df.index.names))
    df.columns = [str(c) for c in df.columns]
    out = pd.DataFrame(index=df.index)
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            s = pd.to_datetime(s).astype("datetime64[ns]")
        elif pd.api.types.is_bool_dtype(s) or pd.api.types.is_integer_dtype(s) or pd.api.types.is_float_dtype(s):
            s = s.astype("float64")
        elif s.dtype == object or pd.api.types.is_string_dtype(s):
            vals = s.dropna()
            if len(vals) and all(isinstance(v, (_dt.date, pd.Timestamp)) for v in vals):
                s = pd.to_datetime(s).astype("datetime64[ns]")
            elif len(vals) and all(isinstance(v, (int, float, np.number, bool, np.bool_)) for v in vals):
                s = s.astype("float64")
            else:  # lists and dicts (exclusion examples) compared as their text
                s = s.map(lambda v: repr(v) if isinstance(v, (list, dict, tuple)) else v)
                s = s.astype(object).where(s.notna(), None)
        out[c] = s
    keys = [c for c in out.columns if not pd.api.types.is_float_dtype(out[c])]
    if keys:
        out = out.sort_values(keys, na_position="last", kind="mergesort")
    return out.reset_index(drop=True)


def assert_same(a, b, what: str) -> None:
    """Equal frames (or dicts / lists / numbers of them), floats to 1e-9."""
    if isinstance(a, pd.Series):
        a, b = a.to_frame(), b.to_frame()
    if isinstance(a, pd.DataFrame):
        assert isinstance(b, pd.DataFrame), what
        assert sorted(map(str, a.columns)) == sorted(map(str, b.columns)), f"{what}: columns differ"
        assert len(a) == len(b), f"{what}: {len(a)} rows on DuckDB, {len(b)} on Spark"
        na, nb = _normal(a), _normal(b[a.columns])
        pd.testing.assert_frame_equal(na, nb, check_dtype=False, rtol=1e-9, atol=1e-9, obj=what)
    elif isinstance(a, dict):
        assert set(a) == set(b), f"{what}: keys differ"
        for k in a:
            assert_same(a[k], b[k], f"{what}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), what
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{what}[{i}]")
    elif isinstance(a, float):
        assert b == pytest.approx(a, rel=1e-9, abs=1e-9), what
    else:
        assert a == b, f"{what}: {a!r} on DuckDB, {b!r} on Spark"


def both(engines, fn):
    duck, sp = engines
    return fn(duck), fn(sp)


AS_OF = _dt.date(2025, 6, 30)


def test_segmentation_features(engines):
    from salesbench.analyses.segmentation.features import customer_features

    a, b = both(engines, lambda ds: customer_features(ds, as_of=AS_OF))
    assert len(a) > 100
    assert_same(a, b, "segmentation customer_features")


def test_churn_customer_summary(engines):
    from salesbench.analyses.churn import clv as churn

    def run(ds):
        orders = ds.table("orders")
        last = churn.last_order_date(orders)
        end = pd.Timestamp(AS_OF)
        rfm = churn.rfm_table(orders, end, "W")
        hold, days = churn.holdout_purchases(orders, end, rfm["customer_id"], last=last)
        attrs = churn.customer_attributes(ds, rfm["customer_id"])
        return {"last": last, "rfm": rfm, "holdout": hold, "holdout_days": float(days), "attrs": attrs}

    a, b = both(engines, run)
    assert len(a["rfm"]) > 100
    assert_same(a, b, "churn summary")


def test_churn_summary_in_passes(engines, monkeypatch):
    """rfm_table in 3 passes over ``hash(customer_id) % 3`` on Spark equals one pass on DuckDB
    (:func:`salesbench.core.memory.aggregate_in_passes`; DuckDB and PostgreSQL: tests/io/test_passes.py)."""
    from test_passes import _summaries

    duck, sp = engines
    assert_same(_summaries(duck, monkeypatch, 1, features=False), _summaries(sp, monkeypatch, 3, features=False),
                "churn rfm_table, Spark in 3 passes")


def test_churn_warning_indicators(engines):
    from salesbench.analyses.churn.warning import warning_indicators

    a, b = both(engines, lambda ds: warning_indicators(ds, _dt.date(2025, 1, 1)))
    assert len(a) > 50
    assert_same(a, b, "churn warning_indicators")


def test_forecasting_series(engines):
    from salesbench.analyses.forecasting.lifecycle import monthly_line_revenue
    from salesbench.analyses.forecasting.series import build_series
    from salesbench.analyses.forecasting.targets import load_targets

    def run(ds):
        s = build_series(ds, frequency="M", as_of=AS_OF)
        w = build_series(ds, frequency="W", dimensions=("region",))
        return {"Y": s.Y, "holdout": s.holdout, "meta": s.meta, "W": w.Y, "dims": s.dimensions,
                "lines": monthly_line_revenue(ds), "targets": load_targets(ds)}

    a, b = both(engines, run)
    assert len(a["Y"]) > 100
    assert_same(a, b, "forecasting series")


def test_funnel_stage_entries(engines):
    from salesbench.analyses.funnel.deals import load_deals
    from salesbench.analyses.funnel.pipeline import next_period_targets

    def run(ds):
        d = load_deals(ds)
        d2 = load_deals(ds, as_of=AS_OF, start=_dt.date(2024, 1, 1))
        return {"deals": d.frame, "as_of": d.as_of, "unknown": d.unknown_stages, "deals_as_of": d2.frame,
                "targets": next_period_targets(ds, AS_OF)}

    a, b = both(engines, run)
    assert len(a["deals"]) > 100
    assert_same(a, b, "funnel deals")


def test_performance_kpis(engines):
    from salesbench.analyses.performance import measures, periods
    from salesbench.analyses.performance.variance import product_line_volumes

    def run(ds):
        end = periods.data_end(ds, today=AS_OF)
        first, last = pd.Period("2024Q1", "Q"), pd.Period("2025Q2", "Q")
        kpis = measures.compute_kpis(ds, "quarter", first, last, grace_days=15, as_of=end)
        months = [pd.Period("2025-05", "M"), pd.Period("2025-06", "M")]
        return {"end": end, "future": periods.future_orders(ds, end), "kpis": kpis,
                "volumes": product_line_volumes(ds, months)}

    a, b = both(engines, run)
    assert len(a["kpis"]["rep"]) > 10
    assert_same(a, b, "performance kpis")


@pytest.fixture(scope="module")
def dirty_engines(spark, tmp_path_factory, make_spark_spec):
    """The small demo with the generator's injected defects, on DuckDB and on Spark."""
    from salesbench.datasets.demo import generate

    folder = tmp_path_factory.mktemp("small_dirty")
    generate(folder, seed=1, customers=600, dirty=True)
    return open_data(folder), open_data(make_spark_spec(folder, folder.parent / "dirty_spark.yaml"))


def test_data_quality_checks(dirty_engines):
    """Validation findings (with their example row numbers), rows left out, overview, coverage, missing values."""
    from salesbench.analyses.data_quality.summaries import date_coverage, missing_values, table_overview
    from salesbench.core.validate import validate

    def run(ds):
        rep = validate(ds, as_of=AS_OF)
        findings = pd.DataFrame([{**f.to_dict(), "examples": repr(f.to_dict().get("examples"))} for f in rep.findings])
        return {"overview": table_overview(ds).drop(columns=["source"]), "coverage": date_coverage(ds),
                "missing": missing_values(ds), "findings": findings, "ok": rep.ok,
                "exclusions": pd.DataFrame(ds.exclusions()), "rows": ds.row_counts(),
                "fingerprint": ds.fingerprint()}

    a, b = both(dirty_engines, run)
    assert len(a["overview"]) >= 8
    assert len(a["findings"]) >= 5 and len(a["exclusions"]) >= 1  # the injected defects are found
    assert_same(a, b, "data quality")

    # The runner checks a local Spark spec on DuckDB over the same files (no JVM) and hands the state to
    # the Spark kernels: rows, rows left out with their example rows, fingerprint are what Spark finds.
    from salesbench.io.sources import open_for_check

    duck, sp = dirty_engines
    twin = open_for_check(next(Path(duck.files[0]).parent.parent.glob("dirty_spark.yaml")))
    assert type(twin.con).__module__.startswith("ibis.backends.duckdb"), type(twin.con)
    assert (twin.label, twin.tables, twin.sources) == (sp.label, sp.tables, sp.sources)
    twin.check_keys(), twin.empty_tables(), sp.check_keys(), sp.empty_tables()  # sp: prepared above already
    state = twin.checked_state()
    assert state["tables"]["orders"]["exclusions"], "the dirty demo has rows left out"
    assert_same(state, sp.checked_state(), "the runner's checked state")

