"""Fixtures for the Spark engine tests: one local Spark session for the whole test session."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ci_guard import skip_or_fail


#: Test-only: the JVMs of the tests (this session's and the report kernels') compile with the
#: quick C1 compiler only and a serial GC: on the tiny demo most JVM CPU goes to C2 compiling
#: code run a few times (measured: JVM CPU of the parity steps 61 s -> 34 s; see docs/scaling.md).
FAST_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def java_problem() -> str | None:
    """Why Spark cannot start here (no pyspark, no Java 17+), or ``None``."""
    try:
        import pyspark  # noqa: F401
    except ModuleNotFoundError:
        return "pyspark is not installed (pip install 'salesbench[spark]')"
    java = shutil.which("java")
    if java is None:
        return "no java on PATH (apt-get install openjdk-17-jre-headless)"
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    m = re.search(r'version "(\d+)', out)
    if not m or int(m.group(1)) < 17:
        return f"pyspark 4 needs Java 17 or later; java -version says {out.splitlines()[0] if out else 'nothing'!r}"
    return None


@pytest.fixture(scope="session")
def spark():
    """The one SparkSession of the test session (local[2], 2 shuffle partitions, UI off), stopped at the end."""
    problem = java_problem()
    if problem:
        skip_or_fail("the Spark tests", problem)
    from salesbench.io.spark import spark_session

    session = spark_session("local[2]", "salesbench-tests", {"spark.sql.shuffle.partitions": 2,
                                                              "spark.default.parallelism": 2,
                                                              "spark.driver.extraJavaOptions": FAST_JVM})
    yield session
    session.stop()


def spark_spec(folder: Path, target: Path, master: str = "local[2]") -> Path:
    """Write a Spark source spec reading the Parquet files of ``folder`` to ``target``."""
    target.write_text(f"name: small demo (Spark)\nengine: spark\nmaster: {master}\n"
                      f"conf: {{spark.sql.shuffle.partitions: 2, spark.driver.extraJavaOptions: '{FAST_JVM}'}}\n"
                      f"folder: {folder}\n")
    return target


@pytest.fixture(scope="session")
def make_spark_spec():
    """``make_spark_spec(folder, target)``: see :func:`spark_spec`."""
    return spark_spec


@pytest.fixture(scope="session")
def small_demo_spark_spec(small_demo, tmp_path_factory) -> Path:
    return spark_spec(small_demo, tmp_path_factory.mktemp("spark_spec") / "small_spark.yaml")
