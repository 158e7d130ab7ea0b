"""How much memory the embedded DuckDB engine may use, and where it spills.

DuckDB's own default is 80 % of the machine's RAM and, for an in-memory database, a
``.tmp`` folder in the current directory. salesbench runs several report kernels side by
side and writes reports into the current directory, so every DuckDB connection it opens gets

* ``memory_limit`` = 25 % of the physical memory, at most 3 GiB and at least 512 MiB
  (:func:`duckdb_memory_limit`; on a 23 GiB machine: 3 GiB), and
* ``temp_directory`` = ``<system temp>/salesbench-duckdb-spill``: aggregations larger than the
  limit (a per-customer summary over 10^8 order lines) spill there instead of failing.

Both can be set with environment variables: ``SALESBENCH_DUCKDB_MEMORY`` (a DuckDB size such as
``8GB`` or ``500MB``) and ``SALESBENCH_DUCKDB_TEMP`` (a folder).
"""
from __future__ import annotations

import os
import tempfile

GIB = 1 << 30
#: Share of the physical memory one DuckDB connection may use, and the bounds.
SHARE, CAP, FLOOR = 0.25, 3 * GIB, GIB // 2


def physical_memory() -> int | None:
    """Bytes of physical memory (``None`` when the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def duckdb_memory_limit(total: int | None = None) -> str:
    """The ``memory_limit`` setting, e.g. ``"3072MiB"`` (``SALESBENCH_DUCKDB_MEMORY`` wins)."""
    given = os.environ.get("SALESBENCH_DUCKDB_MEMORY", "").strip()
    if given:
        return given
    total = physical_memory() if total is None else total
    limit = CAP if total is None else int(min(max(total * SHARE, FLOOR), CAP))
    return f"{limit // (1 << 20)}MiB"


def duckdb_spill_folder() -> str:
    """The ``temp_directory`` setting (``SALESBENCH_DUCKDB_TEMP`` wins)."""
    return os.environ.get("SALESBENCH_DUCKDB_TEMP", "").strip() or os.path.join(tempfile.gettempdir(),
                                                                               "salesbench-duckdb-spill")


def apply_duckdb_limits(con) -> None:
    """Set :func:`duckdb_memory_limit` and :func:`duckdb_spill_folder` on an ibis DuckDB connection."""
    con.raw_sql(f"SET memory_limit = '{duckdb_memory_limit()}'")
    con.raw_sql(f"SET temp_directory = '{duckdb_spill_folder()}'")
