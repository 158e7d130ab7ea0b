"""Database sources: a DuckDB file (``*.duckdb``, ``*.db``, ``*.ddb``) and a SQL database URL (``postgres://...``).

Credentials come from the URL or from the libpq environment (``PGPASSWORD``,
``PGUSER``, ...); neither ever reaches a label or an error message
(:mod:`salesbench.core.secrets`).
"""
from __future__ import annotations

import os
from pathlib import Path

import ibis

from salesbench.core import schema
from salesbench.core.dataset import Dataset, duckdb_connect
from salesbench.core.errors import DataError
from salesbench.core.secrets import is_url, redact
from salesbench.io.kinds import register

#: file name endings of a DuckDB database
DUCKDB_SUFFIXES = {".duckdb", ".db", ".ddb"}


def is_duckdb_file(text: str) -> bool:
    """Whether ``text`` names a DuckDB file (by its ending; the file need not exist yet)."""
    return Path(os.path.expandvars(text)).suffix.lower() in DUCKDB_SUFFIXES


def open_duckdb(path: str | os.PathLike) -> Dataset:
    """Open the canonical tables of a DuckDB file read-only (its folder's ``truth.json`` when there is one)."""
    path = Path(os.path.expandvars(str(path))).expanduser()
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


def open_url(url: str) -> Dataset:
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


register("database", is_url, open_url, rank=10)
register("duckdb", is_duckdb_file, open_duckdb, rank=30)
