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

What a per-customer summary holds is the hash table of its distinct count (one entry per customer ×
order day, ~64 B each: ~600 MB at 10^7 order lines). :func:`aggregate_in_passes` runs such a summary in
:func:`passes_for` passes over customer partitions (``hash(customer_id) % k``), so only one partition's
table is in memory at a time: 4 passes from 10^7 lines on (growth ~600 → ~220 MB at 10^7; docs/scaling.md).
"""
from __future__ import annotations

import os
import tempfile

import ibis
import ibis.expr.datatypes as dt

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


# --------------------------------------------------------------------------- per-customer summaries in passes
#: Bytes one distinct (customer, order day) pair takes in DuckDB's aggregate hash table: measured at 10^7
#: order lines, 9.8 M pairs in ~600 MB (docs/scaling.md). A per-customer summary that counts distinct order
#: days holds one such entry per pair; there are at most as many pairs as order lines.
PAIR_BYTES = 64
#: Up to this estimated hash table (2 M order lines) a per-customer summary runs in one pass.
ONE_PASS_BYTES = 128 << 20
#: Above it, the customers are split into this many passes: each pass holds a quarter of the pairs
#: (measured at 10^7 lines: 1 pass +606 MB, 2 passes +345 MB, 4 +210 MB, 8 +150 MB; each pass re-reads the lines).
MAX_PASSES_BY_SIZE = 4
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


def size_bytes(text: str) -> int | None:
    """Bytes of a DuckDB size such as ``"3072MiB"``, ``"8GB"`` or ``"700 MB"`` (``None`` if unreadable)."""
    import re

    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]i?b|b)?\s*", text.lower())
    if not m:
        return None
    return int(float(m.group(1)) * _UNITS[m.group(2) or "b"])


def passes_for(rows: int, limit: str | None = None) -> int:
    """How many passes over customer partitions a per-customer summary of ``rows`` order lines takes on DuckDB.

    The estimate of its hash table is ``rows × PAIR_BYTES`` (every line a distinct customer × day: an upper
    bound). One pass up to :data:`ONE_PASS_BYTES`; above, one pass per ``ONE_PASS_BYTES`` but at most
    :data:`MAX_PASSES_BY_SIZE`, and at least as many as keep each pass's table within half the memory limit
    (``limit``, default :func:`duckdb_memory_limit`), so a pass does not spill:
    10^6 lines → 1, 10^7 → 4, 10^8 → 4 with a 3 GiB limit, 24 with 512 MiB.
    ``SALESBENCH_PASSES`` (a whole number ≥ 1) wins.
    """
    given = os.environ.get("SALESBENCH_PASSES", "").strip()
    if given:
        if not given.isdigit() or int(given) < 1:
            from salesbench.core.errors import ParamError

            raise ParamError(f"SALESBENCH_PASSES must be a whole number of at least 1, not {given!r}",
                             "SALESBENCH_PASSES", "the environment")
        return int(given)
    table = max(int(rows), 0) * PAIR_BYTES
    if table <= ONE_PASS_BYTES:
        return 1
    k = min(-(-table // ONE_PASS_BYTES), MAX_PASSES_BY_SIZE)
    budget = size_bytes(limit or duckdb_memory_limit())
    if budget:
        k = max(k, -(-table // (budget // 2)))
    return int(k)


def _backend_name(table) -> str:
    try:
        return table._find_backend().name
    except Exception:  # pragma: no cover - an unbound table
        return ""


def _duckdb_hash(value):
    """DuckDB's ``hash(value)`` as it is (UBIGINT); ibis' ``hash()`` casts it through BIT to BIGINT per row."""
    @ibis.udf.scalar.builtin(name="hash")
    def _hash(x: dt.string) -> dt.uint64:  # noqa: ARG001 - a DuckDB builtin
        ...

    return _hash(value.cast("string"))


def aggregate_in_passes(table, key: str, build, passes: int | None = None):
    """Run a per-``key`` aggregation of the ibis ``table`` in passes over ``key`` partitions; a pandas frame.

    ``build(t)`` returns the ibis expression of the aggregation (one row per ``key``) over the rows ``t``.
    Pass ``i`` of ``k`` gets the rows whose ``((hash(key) % k) + k) % k == i`` (rows with a null key in
    pass 0; on DuckDB its own unsigned ``hash(key) % k``), so every ``key`` value is in exactly one pass
    and the concatenated frames equal ``build(table)`` (row order aside): only the hash table of one pass
    is in memory at a time. ``hash``, ``%`` and filters are portable ibis (DuckDB, PostgreSQL, Spark,
    Snowflake, BigQuery). ``passes``: default :func:`passes_for` the row count on DuckDB (one count
    query) and 1 on other engines (their memory is not the report process's), unless
    ``SALESBENCH_PASSES`` is set.
    """
    import pandas as pd

    if passes is None:
        if os.environ.get("SALESBENCH_PASSES", "").strip():
            passes = passes_for(0)
        elif _backend_name(table) == "duckdb":
            passes = passes_for(int(table.count().execute()))
        else:
            passes = 1
    if passes <= 1:
        return build(table).to_pandas()
    if _backend_name(table) == "duckdb":  # DuckDB's own hash (UBIGINT): half the CPU of ibis' cast to BIGINT
        part = _duckdb_hash(table[key]) % passes
    else:
        part = ((table[key].hash() % passes) + passes) % passes
    frames = [build(table.filter((part == i) | part.isnull() if i == 0 else part == i)).to_pandas()
              for i in range(passes)]
    filled = [f for f in frames if len(f)] or frames[:1]  # an empty pass adds nothing (and no dtype change)
    return pd.concat(filled, ignore_index=True)
