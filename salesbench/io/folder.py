"""A folder with one CSV or Parquet file per canonical table (``orders.parquet``, ``customers.csv``, ...).

CSV files are read with every column as text (header line required, delimiter
sniffed); :class:`~salesbench.core.dataset.Dataset` then converts canonical
columns with ``TRY_CAST``. A file that cannot be read (empty, not UTF-8,
ragged rows, corrupt Parquet) is a :class:`~salesbench.core.errors.DataError`
naming the file and the line.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from salesbench.core import schema
from salesbench.core.dataset import Dataset, duckdb_connect
from salesbench.core.errors import DataError
from salesbench.io.kinds import register


def is_folder(text: str) -> bool:
    """Whether ``text`` (``~`` and ``$VARS`` expanded) names an existing folder."""
    return Path(os.path.expandvars(text)).expanduser().is_dir()


def open_folder(path: str | os.PathLike, label: str | None = None) -> Dataset:
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
                if ext == ".parquet":
                    try:
                        tables[name] = con.read_parquet(f, table_name=name)
                    except Exception as exc:
                        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                        raise DataError(f"{f}: cannot be read as parquet: {first}") from None
                else:
                    tables[name] = _read_csv(con, f, name)
                files.append(f)
                sources[name] = f.name
                break
    if not tables:
        raise DataError(
            f"data folder {folder} holds no canonical table file "
            f"(expected e.g. orders.parquet or orders.csv; tables: {', '.join(schema.TABLE_NAMES)})"
        )
    return Dataset(con, tables, label or f"folder {folder}", truth_dir=folder, files=files, sources=sources)


def _open_text(f: Path):
    import gzip

    return gzip.open(f, "rt", encoding="utf-8", errors="replace", newline="") if f.name.endswith(".gz") \
        else open(f, encoding="utf-8", errors="replace", newline="")


def _csv_header(f: Path) -> tuple[str, list[str]]:
    """``(delimiter, header fields)`` of a CSV file: the delimiter among ``, ; tab |``
    that occurs most in the first line, read with Python's csv module."""
    import csv

    with _open_text(f) as fh:
        first = fh.readline()
    delim = max(",;\t|", key=first.count) if any(d in first for d in ",;\t|") else ","
    return delim, next(csv.reader([first], delimiter=delim), [])


def _ragged_line(f: Path) -> tuple[int, int, int] | None:
    """``(line number, fields, header fields)`` of the first line whose number of fields
    differs from the header line's, else ``None`` (blank lines are ignored).

    Reads the whole file with Python: only called when DuckDB could not read it.
    """
    import csv

    delim, header = _csv_header(f)
    with _open_text(f) as fh:
        fh.readline()
        lines = csv.reader(fh, delimiter=delim)
        for row in lines:
            if row and len(row) != len(header):
                return lines.line_num + 1, len(row), len(header)
    return None


def _not_utf8(f: Path, chunk: int = 1 << 20) -> tuple[int, int] | None:
    """(line number, offending byte) of the first byte sequence in ``f`` that is not UTF-8, else ``None``.

    Streams the file in 1 MiB chunks with an incremental decoder (a character split
    across two chunks is not an error).
    """
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with open(f, "rb") as fh:
        while True:
            block = fh.read(chunk)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                return line + block[: exc.start].count(b"\n"), block[exc.start] if exc.start < len(block) else 0
            if not block:
                return None
            line += block.count(b"\n")


def _read_csv(con, f: Path, name: str):
    """Read a CSV file (header line, every column as text) with DuckDB.

    A ragged row (another number of fields than the header line) is a
    :class:`DataError` naming the file and the line number, whether DuckDB's
    dialect sniffer trips over it or the scan meets it further down the file
    (the whole file is counted here once, so no query of a report meets it later).
    """
    if f.suffix == ".csv" and f.stat().st_size == 0:
        raise DataError(f"{f}: the file is empty (0 bytes, no header line): {name} has no rows")
    if f.suffix == ".csv":
        bad = _not_utf8(f)
        if bad is not None:
            line, byte = bad
            raise DataError(f"{f}: line {line} is not UTF-8 text (byte 0x{byte:02x}): save the file as UTF-8, or read "
                            f"it through a source spec with its encoding (e.g. `encoding: latin-1` or `gbk`)")
    try:
        t = con.read_csv(f, table_name=name, all_varchar=True, header=True)
        if len(t.columns) != len(_csv_header(f)[1]):
            raise DataError("the columns read differ from the header line")
        t.count().to_pyarrow()
        return t
    except Exception as exc:
        try:
            bad = _ragged_line(f)
        except (OSError, EOFError, UnicodeError):
            bad = None
        if bad is not None:
            line, n, n_header = bad
            raise DataError(f"{f}: line {line} has {n} field{'s' if n != 1 else ''} but the header line has "
                            f"{n_header}: every line needs the same number of fields (a ragged row)") from None
        m = re.search(r"CSV Error on Line: (\d+)", str(exc))
        where = f" (line {m.group(1)})" if m else ""
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{f}: cannot be read as csv{where}: {first}") from None


register("folder", is_folder, lambda text: open_folder(Path(os.path.expandvars(text))), rank=50)
