"""Open a data source as canonical ibis tables.

``open_data(source)`` accepts

* ``"demo"`` — the demo company, generated on first use into the cache folder
  (``$SALESBENCH_CACHE`` or ``~/.cache/salesbench``), deterministic by seed;
  ``"demo:seed=3,customers=800"`` selects another seed or size;
* a folder with one CSV or Parquet file per canonical table
  (``orders.parquet``, ``customers.csv``, ...);
* a DuckDB database file (``*.duckdb`` / ``*.db``) with canonical table names;
* a SQL database URL (``postgres://user@host/db``), credentials from the URL
  or the environment (``PGPASSWORD``), never written into any output;
* a YAML source spec (``*.yaml``) mapping a foreign export onto the canonical
  tables (see :mod:`salesbench.sourcespec`);
* a :class:`Dataset` (returned unchanged).

Every table comes back as an ibis expression with the canonical column names
and types (:mod:`salesbench.schema`): ids as strings, dates as dates,
timestamps as timestamps. Aggregations run in the engine (DuckDB by default);
only their small results are brought to pandas with ``.to_pandas()``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from . import schema

IBIS_TYPES: dict[str, dt.DataType] = {
    "id": dt.string,
    "str": dt.string,
    "date": dt.date,
    "timestamp": dt.timestamp,
    "float": dt.float64,
    "int": dt.int64,
    "bool": dt.boolean,
}


class DataError(Exception):
    """A data source cannot be opened or does not match the canonical schema.

    The message names the file or table, the column, how many rows and the
    first offending rows. The CLI exits with status 2 on it.
    """


class MissingTables(DataError):
    """An analysis needs tables this data set does not have."""

    def __init__(self, missing: list[str], analysis: str | None = None):
        self.missing = list(missing)
        self.reason = "no " + " and no ".join(f"{m} table" for m in self.missing)
        who = f"The {analysis} report" if analysis else "This analysis"
        super().__init__(
            f"{who} needs the {', '.join(self.missing)} table(s), which this data set does not have: "
            f"skipped ({self.reason})."
        )


def redact(text: str) -> str:
    """Remove passwords and tokens from URLs and ``key=value`` strings."""
    text = re.sub(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<pw>[^@/\s]*)@", r"\g<scheme>\g<user>:***@", text)
    text = re.sub(r"(?i)\b(password|passwd|pwd|token|secret|api_key|apikey)=([^&;\s]+)", r"\1=***", text)
    return text


class Dataset:
    """A set of canonical tables living in one ibis backend.

    Attributes
    ----------
    con : ibis backend (DuckDB unless the source is a remote database)
    label : description of the source, safe to print (no credentials)
    """

    def __init__(
        self,
        con: Any,
        tables: Mapping[str, Any],
        label: str,
        truth_dir: str | os.PathLike | None = None,
        files: Iterable[str | os.PathLike] = (),
    ):
        self.con = con
        self._tables = {name: canonicalize(name, t) for name, t in tables.items()}
        self.label = redact(label)
        self.truth_dir = Path(truth_dir) if truth_dir else None
        self.files = [Path(f) for f in files]
        self._truth: dict | None = None

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_frames(cls, frames: Mapping[str, pd.DataFrame], label: str = "in-memory tables", truth: dict | None = None) -> "Dataset":
        """In-memory DuckDB tables from pandas frames (for tests and notebooks)."""
        con = ibis.duckdb.connect()
        tables = {}
        for name, df in frames.items():
            schema.table(name)  # raises on unknown table names
            tables[name] = con.create_table(name, df, overwrite=True)
        ds = cls(con, tables, label)
        ds._truth = truth
        return ds

    @classmethod
    def from_folder(cls, path: str | os.PathLike, label: str | None = None) -> "Dataset":
        """One ``<table>.parquet`` / ``<table>.csv`` per canonical table in ``path``."""
        folder = Path(path)
        if not folder.is_dir():
            raise DataError(f"data folder {folder} does not exist")
        con = ibis.duckdb.connect()
        tables, files = {}, []
        for name in schema.TABLE_NAMES:
            for ext in (".parquet", ".csv", ".csv.gz"):
                f = folder / f"{name}{ext}"
                if f.exists():
                    if ext == ".parquet":
                        tables[name] = con.read_parquet(f, table_name=name)
                    else:
                        tables[name] = con.read_csv(f, table_name=name)
                    files.append(f)
                    break
        if not tables:
            raise DataError(
                f"data folder {folder} holds no canonical table file "
                f"(expected e.g. orders.parquet or orders.csv; tables: {', '.join(schema.TABLE_NAMES)})"
            )
        return cls(con, tables, label or f"folder {folder}", truth_dir=folder, files=files)

    # -- access -------------------------------------------------------------------
    @property
    def tables(self) -> list[str]:
        return [t for t in schema.TABLE_NAMES if t in self._tables]

    def has(self, name: str) -> bool:
        return name in self._tables

    def has_columns(self, name: str, columns: Iterable[str]) -> bool:
        return self.has(name) and all(c in self._tables[name].columns for c in columns)

    def table(self, name: str):
        """The canonical ibis table ``name`` (raises :class:`MissingTables` if absent)."""
        if name not in self._tables:
            schema.table(name)
            raise MissingTables([name])
        return self._tables[name]

    def require(self, *names: str, analysis: str | None = None) -> None:
        """Raise :class:`MissingTables` naming every absent table."""
        missing = [n for n in names if not self.has(n)]
        if missing:
            raise MissingTables(missing, analysis)

    def missing(self, *names: str) -> list[str]:
        return [n for n in names if not self.has(n)]

    # -- demo truth -----------------------------------------------------------------
    @property
    def truth(self) -> dict | None:
        """The generator's ``truth.json`` when the data is the demo company, else ``None``."""
        if self._truth is None and self.truth_dir is not None:
            f = self.truth_dir / "truth.json"
            if f.exists():
                self._truth = json.loads(f.read_text())
        return self._truth

    def truth_customers(self) -> pd.DataFrame | None:
        """Per-customer truth (type, purchase rate, dropout probability, churn date) or ``None``."""
        if self.truth_dir is None:
            return None
        f = self.truth_dir / "truth_customers.parquet"
        return pd.read_parquet(f) if f.exists() else None

    # -- identity -------------------------------------------------------------------
    def fingerprint(self) -> str:
        """A short hash identifying the data: file sizes and mtimes, else row counts per table."""
        h = hashlib.sha256()
        if self.files:
            for f in sorted(self.files):
                st = f.stat()
                h.update(f"{f.name}:{st.st_size}:{int(st.st_mtime)}".encode())
        else:
            for name in self.tables:
                h.update(f"{name}:{int(self._tables[name].count().to_pyarrow().as_py())}".encode())
        return h.hexdigest()[:16]

    def row_counts(self) -> dict[str, int]:
        return {name: int(self._tables[name].count().to_pyarrow().as_py()) for name in self.tables}

    def __repr__(self) -> str:
        return f"Dataset({self.label!r}, tables={self.tables})"


def canonicalize(name: str, t):
    """Cast the columns of table ``name`` to their canonical ibis types (by name).

    Columns that are not part of the canonical schema are kept as they are.
    """
    spec = schema.table(name)
    casts = {}
    for col in spec.columns:
        if col.name not in t.columns:
            continue
        want = IBIS_TYPES[col.type]
        have = t.schema()[col.name]
        if have == want or (want.is_timestamp() and have.is_timestamp()):
            continue
        expr = t[col.name]
        if col.type == "id" and have.is_floating():
            expr = expr.cast(dt.int64)
        casts[col.name] = expr.cast(want)
    return t.mutate(**casts) if casts else t


def parse_demo_source(source: str) -> dict[str, int]:
    """``"demo"`` → {}; ``"demo:seed=3,customers=800"`` → {"seed": 3, "customers": 800}."""
    if source == "demo":
        return {}
    body = source.split(":", 1)[1]
    out = {}
    for part in filter(None, body.split(",")):
        key, _, value = part.partition("=")
        key = key.strip()
        if key not in {"seed", "customers"}:
            raise DataError(f"unknown demo option {key!r} in {source!r} (use seed=, customers=)")
        try:
            out[key] = int(value)
        except ValueError:
            raise DataError(f"demo option {key}={value!r} in {source!r} is not an integer") from None
    return out


def open_data(source: str | os.PathLike | Dataset = "demo") -> Dataset:
    """Open ``source`` (see module docstring) as a :class:`Dataset`."""
    if isinstance(source, Dataset):
        return source
    text = str(source)
    if text == "demo" or text.startswith("demo:"):
        from .demo import ensure_demo

        opts = parse_demo_source(text)
        folder = ensure_demo(**opts)
        label = "demo company" + (f" ({', '.join(f'{k}={v}' for k, v in opts.items())})" if opts else "")
        return Dataset.from_folder(folder, label=label)
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", text):
        return _open_url(text)
    path = Path(text).expanduser()
    if path.suffix.lower() in {".yaml", ".yml"}:
        from .sourcespec import open_spec

        return open_spec(path)
    if path.suffix.lower() in {".duckdb", ".db", ".ddb"}:
        return _open_duckdb(path)
    if path.is_dir():
        return Dataset.from_folder(path)
    raise DataError(
        f"cannot open data source {redact(text)!r}: expected 'demo', a folder of CSV/Parquet files, "
        "a .duckdb file, a source spec .yaml, or a postgres:// URL"
    )


def _open_duckdb(path: Path) -> Dataset:
    if not path.exists():
        raise DataError(f"DuckDB file {path} does not exist")
    con = ibis.duckdb.connect(str(path), read_only=True)
    names = set(con.list_tables())
    tables = {n: con.table(n) for n in schema.TABLE_NAMES if n in names}
    if not tables:
        raise DataError(f"DuckDB file {path} has no canonical table (found: {', '.join(sorted(names)) or 'none'})")
    return Dataset(con, tables, f"duckdb {path.name}", truth_dir=path.parent if (path.parent / "truth.json").exists() else None, files=[path])


def _open_url(url: str) -> Dataset:
    safe = redact(url)
    try:
        con = ibis.connect(url)
    except Exception as exc:  # pragma: no cover - needs a server
        raise DataError(f"cannot connect to {safe}: {redact(str(exc))}") from None
    names = set(con.list_tables())
    tables = {n: con.table(n) for n in schema.TABLE_NAMES if n in names}
    if not tables:
        raise DataError(f"database {safe} has no canonical table")
    return Dataset(con, tables, safe)
