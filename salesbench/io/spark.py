"""Spark as an engine: a source spec with ``engine: spark`` opens the canonical tables
through ibis' PySpark backend, so every aggregation of a report runs on Spark and
only the aggregated frames come back to the driver.

Format of a Spark source spec (``params/sources/demo_spark.yaml`` is one)::

    name: sales lake on Spark          # label shown in reports
    engine: spark
    master: local[*]                   # local[*] | local[2] | spark://host:7077 | yarn | k8s://https://host:443
    app_name: salesbench               # the Spark application name (default salesbench)
    cache: true                        # keep each table in Spark memory after its first scan
                                       # (default: true for local masters, false for clusters)
    conf:                              # any Spark setting, passed to SparkSession.builder.config
      spark.executor.memory: 8g
      spark.sql.shuffle.partitions: 200
    # the tables: one of dataset, folder, tables (tables may also complete a folder or dataset)
    dataset: demo                      # the demo company (demo | demo:seed=3,customers=800), the same
                                       # Parquet files ``--data demo`` reads (from the salesbench cache)
    folder: /lake/sales                # one <table>.parquet file or <table>/ folder of Parquet files per table
    tables:
      orders: {parquet: /lake/sales/orders/}          # a Parquet file, folder or glob (s3a://, hdfs:// ...)
      customers: {table: crm.customers}                # a table of the Spark catalog (Hive metastore, Unity ...)
      products: /lake/sales/products.parquet           # shorthand for {parquet: ...}

Relative paths are relative to the spec file; ``~`` and ``$VARS`` are expanded;
paths with a scheme (``s3a://``, ``hdfs://``, ``abfss://``) are passed to Spark
unchanged. Local Parquet paths are checked when the spec is opened (a missing
file is a :class:`~salesbench.io.sourcespec.SpecError` naming the spec and key).

One Spark session per process: when a session is already active (a notebook
that made one, the test suite's session) it is reused and ``master``/``conf``
are not applied again. The session's time zone is UTC (so timestamps read the
same as on DuckDB) and the Spark UI is off unless ``conf`` turns it on.
With ``cache`` on, each table is cached in Spark memory (``DataFrame.cache()``
through ibis) once its timestamps are converted, so the dozens of small queries of a
report scan the Parquet files and convert nanoseconds once per table instead of once
per query (measured in ``docs/scaling.md``). Tables are read as the files store them; the canonical conversions and row
checks of :class:`~salesbench.core.dataset.Dataset` are ibis expressions and run
on Spark like on DuckDB.
"""
from __future__ import annotations

import os
from pathlib import Path

import ibis
import ibis.expr.datatypes as dt

from salesbench.core import schema
from salesbench.core.dataset import DataError, Dataset
from salesbench.core.secrets import is_url
from salesbench.io.demo import parse_demo_source

SPARK_KEYS = {"name", "description", "engine", "master", "app_name", "conf", "cache", "dataset", "folder", "tables"}
TABLE_KINDS = ("parquet", "table")
#: Settings applied to a session salesbench creates (``conf`` in the spec overrides them).
DEFAULT_CONF = {
    "spark.sql.session.timeZone": "UTC",  # timestamps as stored, like DuckDB (no shift to the JVM's zone)
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",  # the progress bar would print into notebook outputs
    "spark.sql.execution.arrow.pyspark.enabled": "true",  # results come back as Arrow, not row by row
    "spark.sql.shuffle.partitions": "8",  # Spark's 200 suits clusters; aggregated results are small
}
#: Spark refuses Parquet ``TIMESTAMP(NANOS)`` columns (what pandas writes by default); with this
#: setting it reads them as the number of nanoseconds, which :func:`_nanos_to_timestamps` converts back.
NANOS_AS_LONG = "spark.sql.legacy.parquet.nanosAsLong"


@ibis.udf.scalar.builtin
def timestamp_micros(micros: int) -> dt.timestamp:  # noqa: D401 - Spark SQL builtin
    """Spark ``TIMESTAMP_MICROS(n)``: the timestamp ``n`` microseconds after 1970-01-01 00:00 (UTC)."""


def _nanos_to_timestamps(name: str, t):
    """``t`` with each canonical timestamp column that Spark read as an integer (Parquet
    ``TIMESTAMP(NANOS)`` under :data:`NANOS_AS_LONG`) turned back into a timestamp (to microseconds)."""
    spec = schema.table(name)
    fix = {c.name: timestamp_micros(t[c.name] // 1000) for c in spec.columns
           if c.type == "timestamp" and c.name in t.columns and t[c.name].type().is_integer()}
    return t.mutate(**fix) if fix else t


def _fail(path: Path, key: str, message: str) -> DataError:
    from salesbench.core.errors import SpecError

    return SpecError(f"{path}: {key}: {message}")


def spark_session(master: str = "local[*]", app_name: str = "salesbench", conf: dict | None = None):
    """The active Spark session, or a new one on ``master`` with :data:`DEFAULT_CONF` + ``conf``.

    Raises :class:`DataError` when pyspark is not installed or Java cannot be started.
    """
    try:
        from pyspark.sql import SparkSession
    except ModuleNotFoundError:
        raise DataError("the spark engine needs pyspark: pip install 'salesbench[spark]' (and Java 17)") from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.master(str(master)).appName(str(app_name))
    given = {str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (conf or {}).items()}
    for k, v in {**DEFAULT_CONF, **given}.items():
        builder = builder.config(k, v)
    try:
        return builder.getOrCreate()
    except Exception as exc:  # no java on PATH / JAVA_HOME, a master that cannot be reached
        first = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise DataError(f"cannot start Spark (master {master}): {first}; Spark needs Java 17 "
                        "(apt-get install openjdk-17-jre-headless) or JAVA_HOME set") from None


def _local(spec_path: Path, text: str) -> str:
    if is_url(text):
        return text
    expanded = os.path.expanduser(os.path.expandvars(text))
    if not os.path.isabs(expanded):
        expanded = str(spec_path.parent / expanded)
    return expanded


def _parquet_in(folder: Path, name: str) -> Path | None:
    for cand in (folder / f"{name}.parquet", folder / name):
        if cand.is_file() or (cand.is_dir() and any(cand.rglob("*.parquet"))):
            return cand
    return None


def _table_sources(spec_path: Path, doc: dict) -> tuple[dict[str, tuple[str, str]], Path | None]:
    """``({table: ("parquet", location) | ("table", catalog name)}, folder with truth.json or None)``."""
    given = [k for k in ("dataset", "folder") if k in doc]
    if len(given) > 1:
        raise _fail(spec_path, given[1], "give dataset or folder, not both")
    if not given and "tables" not in doc:
        raise _fail(spec_path, "tables", "a spark spec needs dataset, folder or tables")
    out: dict[str, tuple[str, str]] = {}
    folder = None
    if given:
        key = given[0]
        value = doc[key]
        if not isinstance(value, str) or not value.strip():
            raise _fail(spec_path, key, "expected " + ("demo or demo:seed=..,customers=.." if key == "dataset"
                                                       else "a folder path"))
        if key == "dataset":
            if value != "demo" and not value.startswith("demo:"):
                raise _fail(spec_path, key, f"unknown data set {value!r}; a spark spec knows demo "
                                            "(use folder or tables for your own files)")
            from salesbench.datasets.demo import ensure_demo

            try:
                folder = ensure_demo(**parse_demo_source(value))
            except DataError as exc:
                raise _fail(spec_path, key, str(exc)) from None
        else:
            folder = Path(_local(spec_path, value))
            if not folder.is_dir():
                raise _fail(spec_path, key, f"folder {folder} does not exist")
        for name in schema.TABLE_NAMES:
            found = _parquet_in(folder, name)
            if found is not None:
                out[name] = ("parquet", str(found))
        if not out:
            raise _fail(spec_path, key, f"{folder} holds no <table>.parquet file or <table>/ folder "
                                        f"(tables: {', '.join(schema.TABLE_NAMES)})")
    tables = doc.get("tables") or {}
    if not isinstance(tables, dict):
        raise _fail(spec_path, "tables", "expected a mapping canonical table -> {parquet: path} or {table: name}")
    for name, tdef in tables.items():
        key = f"tables.{name}"
        if name not in schema.TABLES:
            raise _fail(spec_path, key, f"{name!r} is not a canonical table ({', '.join(schema.TABLE_NAMES)})")
        if isinstance(tdef, str):
            tdef = {"parquet": tdef}
        if not isinstance(tdef, dict) or len(tdef) != 1 or next(iter(tdef)) not in TABLE_KINDS \
                or not isinstance(next(iter(tdef.values())), str):
            raise _fail(spec_path, key, "expected {parquet: path} or {table: catalog.table}")
        kind, where = next(iter(tdef.items()))
        if kind == "parquet":
            where = _local(spec_path, where)
            if not is_url(where) and not any(Path(p).exists() for p in _globbed(where)):
                raise _fail(spec_path, f"{key}.parquet", f"no Parquet file or folder at {where}")
        out[name] = (kind, where)
    if not out:
        raise _fail(spec_path, "tables", "names no table")
    truth = folder if folder is not None and (folder / "truth.json").exists() else None
    return out, truth


def _globbed(where: str) -> list[str]:
    import glob

    return glob.glob(where) if any(c in where for c in "*?[") else [where]


def _files(location: str) -> list[Path]:
    """Local Parquet files behind a location (for the data fingerprint)."""
    if is_url(location):
        return []
    out: list[Path] = []
    for p in map(Path, _globbed(location)):
        out += sorted(p.rglob("*.parquet")) if p.is_dir() else [p]
    return out


def _checked_doc(spec_path: Path, doc: dict) -> tuple[str, dict, bool, dict[str, tuple[str, str]], Path | None]:
    """``(master, conf, cache, table sources, truth folder)`` of a Spark spec; :class:`SpecError` naming the key."""
    unknown = set(map(str, doc)) - SPARK_KEYS
    if unknown:
        raise _fail(spec_path, sorted(unknown)[0], f"unknown key for engine: spark; allowed: {', '.join(sorted(SPARK_KEYS))}")
    conf = doc.get("conf") or {}
    if not isinstance(conf, dict):
        raise _fail(spec_path, "conf", "expected a mapping of Spark settings (spark.executor.memory: 4g, ...)")
    master = doc.get("master", "local[*]")
    if not isinstance(master, str) or not master.strip():
        raise _fail(spec_path, "master", "expected local[*], spark://host:7077, yarn or k8s://...")
    cache = doc.get("cache", master.strip().startswith("local"))
    if not isinstance(cache, bool):
        raise _fail(spec_path, "cache", "expected true or false")
    sources, truth_dir = _table_sources(spec_path, doc)
    return master, conf, cache, sources, truth_dir


def _label(spec_path: Path, doc: dict) -> str:
    return str(doc.get("name") or f"Spark source spec {spec_path.name}")


def open_spark(spec_path: Path, doc: dict) -> Dataset:
    """The :class:`Dataset` of a source spec with ``engine: spark`` (``doc`` is the parsed YAML)."""
    master, conf, cache, sources, truth_dir = _checked_doc(spec_path, doc)
    session = spark_session(master, str(doc.get("app_name", "salesbench")), conf)
    session.conf.set(NANOS_AS_LONG, "true")
    con = ibis.pyspark.connect(session)
    tables, files, shown = {}, [], {}
    for name, (kind, where) in sources.items():
        key = f"tables.{name}"
        try:
            if kind == "parquet":
                tables[name] = _nanos_to_timestamps(name, con.read_parquet(where, table_name=f"sb_{name}"))
                files += _files(where)
                shown[name] = Path(where).name  # as for a folder on DuckDB: messages name the file
            else:
                db, _, tbl = where.rpartition(".")
                tables[name] = con.table(tbl, database=db) if db else con.table(tbl)
                shown[name] = f"Spark table {where} (spec {spec_path.name})"
            if cache:  # lazy: filled by the first query that scans the table
                tables[name] = tables[name].cache()
        except Exception as exc:
            first = " ".join(str(exc).split())[:300] or type(exc).__name__
            raise _fail(spec_path, key, f"Spark cannot read {where}: {first}") from None
    return Dataset(con, tables, _label(spec_path, doc), truth_dir=truth_dir, files=files, sources=shown)


def java_problem() -> str | None:
    """Why Spark could not start a JVM here (no pyspark, no java, Java older than 17), or ``None``.

    Costs a ``java -version`` (a fraction of a second), not a Spark session.
    """
    import importlib.util
    import re
    import shutil
    import subprocess

    if importlib.util.find_spec("pyspark") is None:
        return "the spark engine needs pyspark: pip install 'salesbench[spark]' (and Java 17)"
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
        return "cannot start Spark: no java on PATH or JAVA_HOME; Spark needs Java 17 (apt-get install openjdk-17-jre-headless)"
    try:
        said = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60).stderr
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot start Spark: {java} -version failed ({exc})"
    m = re.search(r'version "(\d+)(?:\.(\d+))?', said)
    major = None if not m else int(m.group(2) if m.group(1) == "1" and m.group(2) else m.group(1))
    if major is not None and major < 17:
        return f"cannot start Spark: {java} is Java {major}; pyspark 4 needs Java 17 or later"
    return None


def open_spark_for_check(spec_path: Path, doc: dict) -> Dataset:
    """The Dataset the runner checks a Spark spec on before the report kernels start.

    A spec with a local master (``local``, ``local[*]``, ...) whose tables are all
    local Parquet files (no URL, no catalog table, no ``key=value`` partition
    folders) is checked on DuckDB over the same files: the same label, tables,
    fingerprint and canonical conversions, and the checks are the same ibis
    expressions, which give equal results on both engines (``tests/io/test_spark_parity.py``).
    The runner then starts no JVM of its own (one fewer per run) and hands what it
    found to the kernels (:func:`salesbench.report.plan.adopt_checks`), which run the
    reports on Spark. Whether Spark can start at all (pyspark, Java 17) is still
    checked first (:func:`java_problem`, a :class:`DataError`). Any other spec is
    opened on Spark (:func:`open_spark`).
    """
    master, _conf, _cache, sources, truth_dir = _checked_doc(spec_path, doc)
    files_of = {name: _files(where) for name, (kind, where) in sources.items() if kind == "parquet"}
    local = master.strip().startswith("local") and len(files_of) == len(sources) and all(
        not is_url(where) for _k, where in sources.values()) and all(
        files and not any("=" in part for f in files for part in f.parts[-3:-1]) for files in files_of.values())
    if not local:
        return open_spark(spec_path, doc)
    problem = java_problem()
    if problem:
        raise DataError(problem)
    from salesbench.core.dataset import duckdb_connect

    con = duckdb_connect()
    tables, shown, files = {}, {}, []
    for name, (_kind, where) in sources.items():
        try:
            tables[name] = con.read_parquet([str(f) for f in files_of[name]], table_name=f"sb_{name}")
        except Exception as exc:
            first = " ".join(str(exc).split())[:300] or type(exc).__name__
            raise _fail(spec_path, f"tables.{name}", f"cannot read {where}: {first}") from None
        files += files_of[name]
        shown[name] = Path(where).name
    return Dataset(con, tables, _label(spec_path, doc), truth_dir=truth_dir, files=files, sources=shown)
