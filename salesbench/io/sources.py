"""Open a data source as canonical ibis tables: ``open_data(source) -> Dataset``.

``open_data(source)`` accepts (tried in this order, see :data:`SOURCE_KINDS`)

* ``"demo"`` — the demo company, generated on first use into the cache folder
  (``$SALESBENCH_CACHE`` or ``~/.cache/salesbench``), deterministic by seed;
  ``"demo:seed=3,customers=800"`` selects another seed or size (:mod:`salesbench.io.demo`);
* a SQL database URL (``postgres://user@host/db``), credentials from the URL
  or the environment (``PGPASSWORD``), never written into any output (:mod:`salesbench.io.database`);
* a YAML source spec (``*.yaml``) mapping a foreign export onto the canonical
  tables (:mod:`salesbench.io.sourcespec`);
* a DuckDB database file (``*.duckdb`` / ``*.db``) with canonical table names;
* a folder with one CSV or Parquet file per canonical table
  (``orders.parquet``, ``customers.csv``, ...; :mod:`salesbench.io.folder`);
* a :class:`~salesbench.core.dataset.Dataset` (returned unchanged).

Every table comes back as an ibis expression with the canonical column names
and types (:mod:`salesbench.core.schema`, converted by the Dataset).
"""
from __future__ import annotations

import os
from pathlib import Path

# each module registers its source kind(s) in salesbench.io.kinds when imported
from salesbench.io import database, demo, folder, sourcespec  # noqa: F401
from salesbench.core.dataset import Dataset
from salesbench.core.errors import DataError
from salesbench.core.secrets import redact
from salesbench.io.demo import parse_demo_source  # noqa: F401  (re-exported)
from salesbench.io.kinds import SOURCE_KINDS


def open_for_check(source: str | os.PathLike) -> Dataset:
    """The Dataset ``salesbench run`` checks ``source`` on before any report kernel starts.

    :func:`open_data`, except for a Spark source spec with a local master on local
    Parquet files: the same files on DuckDB, so the check starts no JVM
    (:func:`salesbench.io.spark.open_spark_for_check`); the reports still run on Spark.
    """
    text = str(source)
    if next((name for name, kind in SOURCE_KINDS.items() if kind.matches(text)), None) == "spec":
        return sourcespec.open_spec_for_check(text)
    return open_data(source)


def open_data(source: str | os.PathLike | Dataset = "demo") -> Dataset:
    """Open ``source`` (see module docstring) as a :class:`Dataset`: the first kind that matches opens it."""
    if isinstance(source, Dataset):
        return source
    text = str(source)
    for kind in SOURCE_KINDS.values():
        if kind.matches(text):
            return kind.open(text)
    if not Path(os.path.expandvars(text)).expanduser().exists():
        raise DataError(f"data source {redact(text)!r} does not exist")
    raise DataError(
        f"cannot open data source {redact(text)!r}: expected 'demo', a folder of CSV/Parquet files, "
        "a .duckdb file, a source spec .yaml, or a postgres:// URL"
    )
