"""The Spark engine: ``engine: spark`` source specs (salesbench.io.spark), the shipped
``params/sources/demo_spark.yaml`` and one end-to-end report run through Spark."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from salesbench.core.errors import DataError, SpecError
from salesbench.io.sources import open_data

ROOT = Path(__file__).resolve().parents[2]


def _spec(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "lake.yaml"
    f.write_text(text)
    return f


# ------------------------------------------------------------------ spec errors (no Spark started)
@pytest.mark.parametrize("body, key, words", [
    ("engine: flink\ntables: {}\n", "engine", "unknown engine 'flink'; use duckdb (default) or spark"),
    ("engine: spark\nmaster: local[2]\nfolders: x\n", "folders", "unknown key for engine: spark"),
    ("engine: spark\n", "tables", "a spark spec needs dataset, folder or tables"),
    ("engine: spark\nfolder: nowhere\n", "folder", "does not exist"),
    ("engine: spark\ndataset: superstore\n", "dataset", "unknown data set 'superstore'; a spark spec knows demo"),
    ("engine: spark\ndataset: demo\nfolder: x\n", "folder", "give dataset or folder, not both"),
    ("engine: spark\ntables: {orderz: {parquet: a.parquet}}\n", "tables.orderz", "'orderz' is not a canonical table"),
    ("engine: spark\ntables: {orders: {csv: a.csv}}\n", "tables.orders", "expected {parquet: path} or {table: catalog.table}"),
    ("engine: spark\ntables: {orders: {parquet: missing/orders/}}\n", "tables.orders.parquet", "no Parquet file or folder at"),
    ("engine: spark\nconf: [a]\ndataset: demo\n", "conf", "expected a mapping of Spark settings"),
    ("engine: spark\nmaster: ''\ndataset: demo\n", "master", "expected local[*], spark://host:7077"),
    ("engine: spark\ncache: maybe\ndataset: demo\n", "cache", "expected true or false"),
])
def test_spark_spec_errors_name_file_and_key(tmp_path, body, key, words):
    f = _spec(tmp_path, body)
    with pytest.raises(SpecError) as err:
        open_data(f)
    msg = str(err.value)
    assert msg.startswith(f"{f}: {key}: "), msg
    assert words in msg


def test_bad_spark_spec_exits_2_with_one_line(tmp_path, run_cli):
    f = _spec(tmp_path, "engine: spark\nfolder: nowhere\n")
    proc = run_cli("run", "segmentation", "--data", f, "--out", tmp_path / "out", timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert f"{f}: folder: folder {tmp_path / 'nowhere'} does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "segmentation.html").exists()


def test_engine_duckdb_is_the_default_spec_kind(tmp_path, small_demo):
    f = _spec(tmp_path, f"engine: duckdb\ntables:\n  orders:\n    files: {small_demo}/customers.parquet\n")
    with pytest.raises(SpecError):  # the DuckDB spec kind reads text exports, not Parquet: its own errors
        open_data(f)


def test_no_pyspark_is_a_clear_data_error(monkeypatch):
    import builtins

    from salesbench.io import spark as spark_io

    real = builtins.__import__

    def no_pyspark(name, *args, **kwargs):
        if name.startswith("pyspark"):
            raise ModuleNotFoundError(name=name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyspark)
    with pytest.raises(DataError, match=r"the spark engine needs pyspark: pip install 'salesbench\[spark\]'"):
        spark_io.spark_session()


# ------------------------------------------------------------------ on Spark
def test_demo_spark_spec_reads_the_demo_company_through_spark(spark, default_demo):
    ds = open_data(ROOT / "params" / "sources" / "demo_spark.yaml")
    duck = open_data("demo")
    assert type(ds.con).__module__.startswith("ibis.backends.pyspark")
    assert ds.label == "demo company (Spark local)"
    assert ds.tables == duck.tables
    assert ds.row_counts() == duck.row_counts()
    assert ds.fingerprint() == duck.fingerprint()  # the same Parquet files
    assert ds.truth == duck.truth  # the generator's truth travels with the files


def test_nanosecond_timestamps_read_as_timestamps(spark, small_demo, small_demo_spark_spec):
    """pandas writes TIMESTAMP(NANOS), which Spark refuses; they come back as the same timestamps."""
    ds = open_data(small_demo_spark_spec)
    sh = ds.table("stage_history")
    assert sh.entered_at.type().is_timestamp()
    # local master: each table is cached in Spark memory (converted once, not per query)
    assert all(ds.raw_table(t).op().name.startswith("ibis_cache") for t in ds.tables), ds.raw_table("orders").op()
    got = sh.order_by(["opportunity_id", "entered_at", "stage"]).to_pandas()
    want = pd.read_parquet(small_demo / "stage_history.parquet").sort_values(
        ["opportunity_id", "entered_at", "stage"]).reset_index(drop=True)
    assert (pd.to_datetime(got.entered_at).astype("datetime64[us]") == want.entered_at.astype("datetime64[us]")).all()


def _values(doc, path=""):
    """Flatten results.json into {path: value}, leaving out wall-clock timings."""
    out = {}
    if isinstance(doc, dict):
        for k, v in doc.items():
            if any(w in k for w in ("seconds", "elapsed", "timing", "generated", "data_label", "source")):
                continue
            out.update(_values(v, f"{path}.{k}"))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.update(_values(v, f"{path}[{i}]"))
    else:
        out[path] = doc
    return out


@pytest.mark.slow
def test_segmentation_and_churn_run_end_to_end_on_spark(spark, small_demo, small_demo_spark_spec, tmp_path, run_cli):
    out = tmp_path / "spark"
    proc = run_cli("run", "segmentation", "churn", "--data", small_demo_spark_spec, "--out", out,
                   "-p", "churn.fit_method=map", "-p", "churn.calibration_end=2025-06-30",
                   "-p", "churn.early_warning=false", timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("segmentation", "churn"):
        assert (out / f"{name}.html").exists()
        assert json.loads((out / f"{name}.results.json").read_text())["status"] == "ok"
    duck = tmp_path / "duck"
    run_cli("run", "segmentation", "--data", small_demo, "--out", duck, check=True, timeout=600)
    a = _values(json.loads((duck / "segmentation.results.json").read_text()))
    b = _values(json.loads((out / "segmentation.results.json").read_text()))
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], float) and isinstance(b[k], float):
            assert math.isclose(a[k], b[k], rel_tol=1e-9, abs_tol=1e-9), k
        else:
            assert a[k] == b[k], k
    csvs = sorted(p.name for p in duck.glob("segmentation.*.csv"))
    assert csvs and csvs == sorted(p.name for p in out.glob("segmentation.*.csv"))
    for name in csvs:  # the same rows and columns; floats to 1e-9 (Spark sums in another order)
        pd.testing.assert_frame_equal(pd.read_csv(duck / name), pd.read_csv(out / name), check_dtype=False,
                                      rtol=1e-9, atol=1e-9, obj=name)
    from salesbench.analyses.churn.clv import rfm_table

    n = len(rfm_table(open_data(small_demo).table("orders"), pd.Timestamp("2025-06-30")))
    assert json.loads((out / "churn.results.json").read_text())["n_customers"] == n


# ------------------------------------------------------------------ the runner's check of a Spark spec
def test_local_spark_spec_is_checked_without_starting_spark(spark, small_demo, small_demo_spark_spec, monkeypatch):
    """A local master on local Parquet files: the runner's check runs on DuckDB, no Spark session is asked for."""
    import salesbench.io.spark as sp
    from salesbench.io.sources import open_for_check

    def no_spark(*_a, **_k):
        raise AssertionError("the runner's check must not start Spark for a local spec")

    monkeypatch.setattr(sp, "spark_session", no_spark)
    ds = open_for_check(small_demo_spark_spec)
    assert type(ds.con).__module__.startswith("ibis.backends.duckdb")
    assert ds.label == "small demo (Spark)" and ds.tables == open_data(small_demo).tables
    assert ds.row_counts() == open_data(small_demo).row_counts()


@pytest.mark.parametrize("body", [
    "master: spark://spark-master:7077\nfolder: {folder}\n",  # a cluster reads its own storage
    "master: local[2]\nfolder: {folder}\ntables: {{reps: {{table: crm.reps}}}}\n",  # a catalog table
])
def test_cluster_or_catalog_spec_is_checked_on_spark(tmp_path, small_demo, monkeypatch, body):
    import salesbench.io.spark as sp
    from salesbench.io.sources import open_for_check

    opened = []
    monkeypatch.setattr(sp, "open_spark", lambda path, doc: opened.append(path) or "spark dataset")
    f = _spec(tmp_path, "engine: spark\n" + body.format(folder=small_demo))
    assert open_for_check(f) == "spark dataset" and opened == [f]


def test_runner_without_java_exits_2_before_any_kernel(tmp_path, small_demo, run_cli):
    f = _spec(tmp_path, f"engine: spark\nmaster: local[2]\nfolder: {small_demo}\n")
    proc = run_cli("run", "segmentation", "--data", f, "--out", tmp_path / "out", timeout=120,
                   env={"JAVA_HOME": str(tmp_path / "no-jdk")})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no java on PATH or JAVA_HOME" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "out").exists()
