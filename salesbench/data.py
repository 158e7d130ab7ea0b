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

Bad values never raise at query time
------------------------------------
Text sources (CSV files, source specs) are read with every column as text and
converted to the canonical type with ``TRY_CAST`` (or ``TRY_STRPTIME`` for a
source spec's date format): a value that does not parse becomes NULL instead
of aborting a query half-way through a report. :mod:`salesbench.validate`
finds and counts those values (the raw text is kept next to the conversion,
see :meth:`Dataset.raw_table` and :meth:`Dataset.conversions`) and reports them
as schema errors. A column whose *storage* type cannot be converted at all
(a date column stored as a number, say) is a wrong-type schema error:
:meth:`Dataset.table` refuses such a table with :class:`SchemaError` rather
than hand an analysis a column of NULLs.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

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

#: A conversion from the raw column (an ibis value) to the canonical column.
Converter = Callable[[Any], Any]


class DataError(Exception):
    """A data source cannot be opened or does not match the canonical schema.

    The message names the file or table, the column, how many rows and the
    first offending rows. The CLI exits with status 2 on it.
    """


class SchemaError(DataError):
    """The data does not fit the canonical schema (missing table or column,
    wrong type, unparsable value, null key). Raised by
    :func:`salesbench.validate.validate` with ``raise_on_error=True`` and by
    :meth:`Dataset.table` for a table with a column of an unconvertible type."""


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


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove passwords and tokens from URLs and ``key=value`` strings.

    ``secrets`` are literal strings (e.g. the value of ``PGPASSWORD``) replaced
    by ``***`` wherever they occur.
    """
    text = str(text)
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
    text = re.sub(
        r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<pw>[^@/\s]*)@",
        r"\g<scheme>\g<user>:***@",
        text,
    )
    text = re.sub(r"(?i)\b(password|passwd|pwd|token|secret|api_key|apikey)=([^&;\s]+)", r"\1=***", text)
    return text


# --------------------------------------------------------------------------- type conversion
def _convertible(have: dt.DataType, want: dt.DataType) -> bool:
    """Whether a column stored as ``have`` can be converted to the canonical ``want``."""
    if have == want or have.is_null():
        return True
    if have.is_string():
        return True  # parsed with TRY_CAST; unparsable values are counted by validation
    if want.is_string():
        return True
    if want.is_date() or want.is_timestamp():
        return have.is_date() or have.is_timestamp()
    if want.is_floating() or want.is_integer():
        return have.is_numeric() or have.is_boolean()
    if want.is_boolean():
        return have.is_boolean() or have.is_integer()
    return False


def convert_column(value, col: schema.Column):
    """Convert one raw ibis column to the canonical type of ``col``.

    Text is parsed with ``TRY_CAST`` (bad values become NULL); ids stored as
    floating point numbers (``123.0``) become ``"123"``. Returns ``None`` when
    the storage type cannot be converted (a wrong-type schema error).
    """
    want = IBIS_TYPES[col.type]
    have = value.type()
    if have == want or (want.is_timestamp() and have.is_timestamp()):
        return value
    if not _convertible(have, want):
        return None
    if have.is_null():
        return ibis.null().cast(want)
    if have.is_string():
        if want.is_string():
            return value
        return value.try_cast(want)
    if col.type == "id" and have.is_floating():
        value = value.cast(dt.int64)
    if want.is_boolean() and have.is_integer():
        return value != 0  # PostgreSQL has no bigint -> boolean cast
    return value.cast(want)


def _table_conversions(name: str, raw, converters: Mapping[str, Converter] | None = None):
    """``({column: converted expr}, {column: storage type that cannot be converted})``."""
    spec = schema.table(name)
    converters = converters or {}
    exprs, wrong = {}, {}
    for col in spec.columns:
        if col.name not in raw.columns:
            continue
        if col.name in converters:
            expr = converters[col.name](raw[col.name])
            want = IBIS_TYPES[col.type]
            if expr.type() != want and not (want.is_timestamp() and expr.type().is_timestamp()):
                expr = expr.cast(want)
            exprs[col.name] = expr
            continue
        expr = convert_column(raw[col.name], col)
        if expr is None:
            wrong[col.name] = str(raw[col.name].type())
        else:
            exprs[col.name] = expr
    return exprs, wrong


# --------------------------------------------------------------------------- Dataset
def last_order_date(orders, on_or_before: _dt.date | None = None) -> _dt.date:
    """The latest ``order_date`` of an ibis ``orders`` table, computed in the engine.

    The default analysis date of every report. ``on_or_before`` ignores orders
    dated after it (future-dated orders are data errors that must not move a
    review period). Raises ``ValueError`` when no order qualifies.
    """
    if on_or_before is not None:
        orders = orders.filter(orders.order_date <= on_or_before)
    value = orders.order_date.max().to_pyarrow().as_py()
    if value is None:
        raise ValueError("the orders table has no order_date"
                         + (f" on or before {on_or_before}" if on_or_before is not None else "")
                         + ": no analysis date can be derived")
    return value.date() if isinstance(value, _dt.datetime) else value


def duckdb_connect(path: str | None = None, **kwargs):
    """An ibis DuckDB connection for reports: no progress bar (it would print into notebook outputs)."""
    con = ibis.duckdb.connect(path, **kwargs) if path else ibis.duckdb.connect(**kwargs)
    try:
        con.raw_sql("SET enable_progress_bar = false")
    except Exception:  # pragma: no cover - older DuckDB
        pass
    return con


class Dataset:
    """A set of canonical tables living in one ibis backend.

    Attributes
    ----------
    con : ibis backend (DuckDB unless the source is a remote database)
    label : description of the source, safe to print (no credentials)
    files : data files behind the tables (for the fingerprint)
    sources : table name -> file name or description used in error messages
    type_errors : table -> {column: storage type} for columns whose type cannot
        be converted to the canonical type
    """

    def __init__(
        self,
        con: Any,
        tables: Mapping[str, Any],
        label: str,
        truth_dir: str | os.PathLike | None = None,
        files: Iterable[str | os.PathLike] = (),
        converters: Mapping[str, Mapping[str, Converter]] | None = None,
        sources: Mapping[str, str] | None = None,
    ):
        self.con = con
        self.label = redact(label)
        self._raw = dict(tables)
        self._converters = {k: dict(v) for k, v in (converters or {}).items()}
        self._tables: dict[str, Any] = {}
        self.type_errors: dict[str, dict[str, str]] = {}
        for name, raw in self._raw.items():
            exprs, wrong = _table_conversions(name, raw, self._converters.get(name))
            changed = {k: v for k, v in exprs.items() if not v.equals(raw[k])}
            self._tables[name] = raw.mutate(**changed) if changed else raw
            if wrong:
                self.type_errors[name] = wrong
        self.truth_dir = Path(truth_dir) if truth_dir else None
        self.files = [Path(f) for f in files]
        self.sources = {name: redact(str(src)) for name, src in (sources or {}).items()}
        self._truth: dict | None = None

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_frames(
        cls, frames: Mapping[str, pd.DataFrame], label: str = "in-memory tables", truth: dict | None = None
    ) -> "Dataset":
        """In-memory DuckDB tables from pandas frames (for tests and notebooks).

        Frames are copied into an in-memory DuckDB database, one table per
        canonical table name (unknown names raise ``KeyError``).
        """
        con = duckdb_connect()
        tables = {}
        for name, df in frames.items():
            schema.table(name)  # raises on unknown table names
            tmp = f"_salesbench_frame_{name}"
            con.con.register(tmp, df)
            try:
                con.con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM "{tmp}"')
            finally:
                con.con.unregister(tmp)
            tables[name] = con.table(name)
        ds = cls(con, tables, label, sources={n: f"table {n}" for n in tables})
        ds._truth = truth
        return ds

    @classmethod
    def from_folder(cls, path: str | os.PathLike, label: str | None = None) -> "Dataset":
        """One ``<table>.parquet`` / ``<table>.csv`` / ``<table>.csv.gz`` per canonical table in ``path``.

        CSV files are read with every column as text (header line required,
        delimiter sniffed); canonical columns are then parsed with ``TRY_CAST``.
        """
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise DataError(f"data folder {folder} does not exist")
        con = duckdb_connect()
        tables, files, sources = {}, [], {}
        for name in schema.TABLE_NAMES:
            for ext in (".parquet", ".csv", ".csv.gz"):
                f = folder / f"{name}{ext}"
                if f.exists():
                    try:
                        if ext == ".parquet":
                            tables[name] = con.read_parquet(f, table_name=name)
                        else:
                            tables[name] = con.read_csv(f, table_name=name, all_varchar=True, header=True)
                    except Exception as exc:
                        raise DataError(f"{f}: cannot be read as {ext.lstrip('.')}: {exc}") from None
                    files.append(f)
                    sources[name] = f.name
                    break
        if not tables:
            raise DataError(
                f"data folder {folder} holds no canonical table file "
                f"(expected e.g. orders.parquet or orders.csv; tables: {', '.join(schema.TABLE_NAMES)})"
            )
        return cls(con, tables, label or f"folder {folder}", truth_dir=folder, files=files, sources=sources)

    # -- access -------------------------------------------------------------------
    @property
    def tables(self) -> list[str]:
        return [t for t in schema.TABLE_NAMES if t in self._tables]

    def has(self, name: str) -> bool:
        return name in self._tables

    def has_columns(self, name: str, columns: Iterable[str]) -> bool:
        return self.has(name) and all(c in self._tables[name].columns for c in columns)

    def table(self, name: str):
        """The canonical ibis table ``name``.

        Raises :class:`MissingTables` if absent and :class:`SchemaError` if a
        column is stored in a type that cannot be converted to its canonical
        type (run ``salesbench validate`` for the full list of problems).
        """
        if name not in self._tables:
            schema.table(name)
            raise MissingTables([name])
        if name in self.type_errors:
            cols = ", ".join(
                f"{c} is {t}, expected {schema.table(name).column(c).type}" for c, t in self.type_errors[name].items()
            )
            raise SchemaError(f"{self.source_of(name)}: wrong column type ({cols})")
        return self._tables[name]

    def canonical_table(self, name: str):
        """Like :meth:`table` but never raises for wrong column types (used by validation)."""
        if name not in self._tables:
            raise MissingTables([name])
        return self._tables[name]

    def raw_table(self, name: str):
        """The table as the source stores it, before conversion to canonical types."""
        if name not in self._raw:
            raise MissingTables([name])
        return self._raw[name]

    def conversions(self, name: str) -> dict[str, Any]:
        """``{column: expression on raw_table(name) giving the canonical column}``."""
        exprs, _wrong = _table_conversions(name, self.raw_table(name), self._converters.get(name))
        return exprs

    def source_of(self, name: str) -> str:
        """The file (or description) a table comes from, for messages."""
        return self.sources.get(name, f"table {name}")

    def require(self, *names: str, analysis: str | None = None, res=None) -> None:
        """Raise :class:`MissingTables` naming every absent table.

        Without ``names``, the tables are those the notebook ``analysis``
        declares under ``_requires`` in ``params/<analysis>.yaml`` (the list the
        runner checks too). With ``res`` (a :class:`salesbench.results.Results`),
        the run is first recorded as skipped with the reason, e.g.
        ``"no opportunities table"`` — the one call every notebook makes.
        """
        if not names and analysis is not None:
            from .params import declaration

            names = tuple(declaration(analysis).requires)
        missing = [n for n in names if not self.has(n)]
        if missing:
            err = MissingTables(missing, analysis)
            if res is not None:
                res.skip(err.reason)
            raise err

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
        """A short hash identifying the data: file names, sizes and mtimes, else row counts per table."""
        h = hashlib.sha256()
        if self.files:
            for f in sorted(self.files):
                st = f.stat()
                h.update(f"{f.name}:{st.st_size}:{int(st.st_mtime)}".encode())
        else:
            for name in self.tables:
                h.update(f"{name}:{int(self._raw[name].count().to_pyarrow().as_py())}".encode())
        return h.hexdigest()[:16]

    def row_counts(self) -> dict[str, int]:
        """``{table: number of rows}`` counted in the engine."""
        return {name: int(self._raw[name].count().to_pyarrow().as_py()) for name in self.tables}

    def __repr__(self) -> str:
        return f"Dataset({self.label!r}, tables={self.tables})"


# --------------------------------------------------------------------------- sources
def parse_demo_source(source: str) -> dict[str, Any]:
    """``"demo"`` → {}; ``"demo:seed=3,customers=800"`` → {"seed": 3, "customers": 800}.

    ``dirty=1`` (or ``true``) selects the demo with injected data defects.
    """
    if source == "demo":
        return {}
    body = source.split(":", 1)[1]
    out: dict[str, Any] = {}
    for part in filter(None, body.split(",")):
        key, _, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if key not in {"seed", "customers", "dirty"}:
            raise DataError(f"unknown demo option {key!r} in {source!r} (use seed=, customers=, dirty=)")
        if key == "dirty":
            if value.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                raise DataError(f"demo option dirty={value!r} in {source!r} must be true or false")
            out[key] = value.lower() in {"1", "true", "yes"}
            continue
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
    path = Path(os.path.expandvars(text)).expanduser()
    if path.suffix.lower() in {".yaml", ".yml"}:
        from .sourcespec import open_spec

        return open_spec(path)
    if path.suffix.lower() in {".duckdb", ".db", ".ddb"}:
        return _open_duckdb(path)
    if path.is_dir():
        return Dataset.from_folder(path)
    if not path.exists():
        raise DataError(f"data source {redact(text)!r} does not exist")
    raise DataError(
        f"cannot open data source {redact(text)!r}: expected 'demo', a folder of CSV/Parquet files, "
        "a .duckdb file, a source spec .yaml, or a postgres:// URL"
    )


def _open_duckdb(path: Path) -> Dataset:
    if not path.exists():
        raise DataError(f"DuckDB file {path} does not exist")
    try:
        con = duckdb_connect(str(path), read_only=True)
    except Exception as exc:
        raise DataError(f"DuckDB file {path} cannot be opened: {exc}") from None
    names = set(con.list_tables())
    tables = {n: con.table(n) for n in schema.TABLE_NAMES if n in names}
    if not tables:
        raise DataError(f"DuckDB file {path} has no canonical table (found: {', '.join(sorted(names)) or 'none'})")
    truth_dir = path.parent if (path.parent / "truth.json").exists() else None
    sources = {n: f"{path.name}:{n}" for n in tables}
    return Dataset(con, tables, f"duckdb {path.name}", truth_dir=truth_dir, files=[path], sources=sources)


def _url_secrets(url: str) -> list[str]:
    """Literal secrets to scrub from messages: the URL's password and ``PGPASSWORD``."""
    from urllib.parse import unquote, urlsplit

    secrets = []
    try:
        pw = urlsplit(url).password
    except ValueError:
        pw = None
    if pw:
        secrets += [pw, unquote(pw)]
    if os.environ.get("PGPASSWORD"):
        secrets.append(os.environ["PGPASSWORD"])
    return secrets


def _open_url(url: str) -> Dataset:
    """Connect to a database URL through ibis (``postgres://`` / ``postgresql://``).

    Credentials come from the URL or from the libpq environment (``PGPASSWORD``,
    ``PGUSER``, ...); neither ever reaches a label or an error message.
    """
    secrets = _url_secrets(url)
    safe = redact(url, secrets)
    try:
        con = ibis.connect(url)
    except ModuleNotFoundError as exc:
        raise DataError(
            f"cannot connect to {safe}: the database driver is not installed ({exc.name}); "
            "install the postgres extra: pip install 'salesbench[postgres]'"
        ) from None
    except Exception as exc:
        raise DataError(f"cannot connect to {safe}: {redact(str(exc), secrets)}") from None
    names = set(con.list_tables())
    tables = {n: con.table(n) for n in schema.TABLE_NAMES if n in names}
    if not tables:
        raise DataError(f"database {safe} has no canonical table")
    return Dataset(con, tables, safe, sources={n: f"{safe} table {n}" for n in tables})
