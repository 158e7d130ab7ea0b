"""The :class:`Dataset` type: canonical ibis tables in one backend, with the rows left out and why.

Sources are opened by :func:`salesbench.io.sources.open_data` (demo, folder of
CSV/Parquet, DuckDB file, database URL, source spec), which hands the raw
tables to :class:`Dataset`; this module converts them to the canonical schema.

Every table comes back as an ibis expression with the canonical column names
and types (:mod:`salesbench.core.schema`): ids as strings, dates as dates,
timestamps as timestamps. Aggregations run in the engine (DuckDB by default);
only their small results are brought to pandas with ``.to_pandas()``.

Bad values never raise at query time
------------------------------------
Text sources (CSV files, source specs) are read with every column as text and
converted to the canonical type with ``TRY_CAST`` (or ``TRY_STRPTIME`` for a
source spec's date format): a value that does not parse becomes NULL instead
of aborting a query half-way through a report. :mod:`salesbench.core.validate`
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from salesbench.core import schema
from salesbench.core.i18n import N_, messages
from salesbench.core.memory import apply_duckdb_limits
from salesbench.core.said import compile_templates, retranslate  # noqa: F401  (re-exported)
from salesbench.core.secrets import redact  # noqa: F401  (re-exported)
from salesbench.core.errors import (  # noqa: F401  (re-exported: `from salesbench.core.dataset import DataError` works)
    DataError, DuplicateKeys, EmptyTables, MissingTables, SchemaError,
)

_, ngettext, pgettext = messages(__name__).functions()

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


#: decimal places of :func:`money_sum` (order lines are rounded to them before they are added)
MONEY_SCALE = 6


def money_sum(value):
    """ibis: the sum of a money expression as an exact ``DECIMAL(38, 6)``, returned as float64.

    A float sum depends on the order in which the engine adds the rows, and DuckDB adds in parallel in an
    order that changes from run to run: the last digits of a report's sums (and what is computed from them)
    changed between two runs on the same data. Each value is rounded to :data:`MONEY_SCALE` places and the
    decimal sum is exact, so the result is the same bits whatever the order.
    """
    return value.cast(dt.Decimal(38, MONEY_SCALE)).sum().cast("float64")


def today() -> _dt.date:
    """The run date: event rows dated after it are left out, and the default analysis date
    is the last order on or before it (tests replace this function)."""
    return _dt.date.today()


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
        if want.is_date() or want.is_timestamp():
            # TRY_CAST alone reads 'epoch' as 1970-01-01 and '2024-01-05 garbage' as 2024-01-05
            return ibis.ifelse(value.re_search(DATE_TEXT), value.try_cast(want), ibis.null().cast(want))
        return value.try_cast(want)
    if col.type == "id" and have.is_floating():
        value = value.cast(dt.int64)
    if want.is_boolean() and have.is_integer():
        return value != 0  # PostgreSQL has no bigint -> boolean cast
    return value.cast(want)


#: Text a date or timestamp column accepts: ``YYYY-MM-DD`` (or ``YYYY/MM/DD``), optionally followed
#: by a time (``HH:MM[:SS[.fff]]``, separated by a blank or ``T``) and a UTC offset (``Z``, ``UTC``,
#: ``+02``, ``+02:00``).
DATE_TEXT = (r"^[ \t]*[0-9]{4}[-/][0-9]{1,2}[-/][0-9]{1,2}"
             r"([ T][0-9]{1,2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?[ \t]*(Z|UTC|[+-][0-9]{2}(:?[0-9]{2})?)?)?[ \t]*$")


def plausible_dates(expr):
    """``expr`` (a date or timestamp column) with values outside
    [:data:`schema.DATE_MIN`, :data:`schema.DATE_MAX`] set to NULL (``infinity``,
    ``0001-01-01``, year 5881580 never reach an analysis or a Python date)."""
    typ = expr.type()
    if typ.is_date():
        lo, hi = ibis.literal(schema.DATE_MIN), ibis.literal(schema.DATE_MAX)
    else:
        lo = ibis.literal(_dt.datetime.combine(schema.DATE_MIN, _dt.time())).cast(typ)
        hi = ibis.literal(_dt.datetime.combine(schema.DATE_MAX, _dt.time(23, 59, 59))).cast(typ)
    return ibis.ifelse(expr.between(lo, hi), expr, ibis.null().cast(typ))


def _table_conversions(name: str, raw, converters: Mapping[str, Converter] | None = None):
    """``({column: converted expr}, {column: storage type that cannot be converted})``.

    Date and timestamp columns are bounded by :func:`plausible_dates`."""
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
        else:
            expr = convert_column(raw[col.name], col)
            if expr is None:
                wrong[col.name] = str(raw[col.name].type())
                continue
        if col.type in ("date", "timestamp"):
            expr = plausible_dates(expr)
        exprs[col.name] = expr
    return exprs, wrong


# --------------------------------------------------------------------------- Dataset
def last_order_date(orders, on_or_before: _dt.date | None = None) -> _dt.date:
    """The latest ``order_date`` on or before ``on_or_before`` (default: :func:`today`)
    of an ibis ``orders`` table, computed in the engine.

    The default analysis date of every report: an order dated 2100-01-01 must not
    become the reference date and make every customer lapsed (future-dated orders
    are data errors; :meth:`Dataset.table` leaves them out too). Pass the report's
    ``as_of`` to look back from another date. Raises ``ValueError`` when no order
    qualifies.
    """
    if on_or_before is None:
        on_or_before = today()
    orders = orders.filter(orders.order_date <= on_or_before)
    value = orders.order_date.max().to_pyarrow().as_py()
    if value is None:
        raise ValueError(f"the orders table has no order_date on or before {on_or_before}: "
                         "no analysis date can be derived")
    return value.date() if isinstance(value, _dt.datetime) else value


def duckdb_connect(path: str | None = None, **kwargs):
    """An ibis DuckDB connection for reports: no progress bar (it would print into notebook outputs),
    memory limit and spill folder as :mod:`salesbench.core.memory` sets them."""
    con = ibis.duckdb.connect(path, **kwargs) if path else ibis.duckdb.connect(**kwargs)
    try:
        con.raw_sql("SET enable_progress_bar = false")
    except Exception:  # pragma: no cover - older DuckDB
        pass
    apply_duckdb_limits(con)  # memory limit and spill folder from the machine's memory (core/memory.py)
    return con


#: How many row numbers an exclusion or a duplicate key keeps as examples.
EXAMPLE_ROWS = 5


@dataclass
class _Prepared:
    """What :meth:`Dataset.table` returns for one table and what it left out."""

    table: Any
    rows: int  # rows in the canonical table before anything is left out
    exclusions: list[dict[str, Any]]
    conflict: "DuplicateKeys | None"


def _any_of(rules: list[tuple[str, str, str, Callable[[Any], Any]]]) -> Callable[[Any], Any]:
    """``u -> bad_1(u) | bad_2(u) | ...``: whether a row breaks any of ``rules`` (at least one)."""
    def any_bad(u):
        expr = rules[0][3](u)
        for _c, _r, _k, bad in rules[1:]:
            expr = expr | bad(u)
        return expr

    return any_bad


def _exclusion(table: str, column: str | None, reason: str, rows: int, examples: list[int],
               check: str) -> dict[str, Any]:
    return {"table": table, "column": column, "reason": reason, "rows": int(rows),
            "examples": [int(r) for r in examples], "check": check}


#: Why rows are left out (``reason`` of an exclusion record, in English in ``results.json``): the templates,
#: marked for the shared catalog; :func:`reason_text` translates a reason built from one of them.
REASONS = (
    N_("not a finite number (NaN or infinity)"),
    N_("implausibly large (magnitude {limit} or more)"),
    N_("empty, not a date or outside {first}-{last}"),
    N_("empty, not a timestamp or outside {first}-{last}"),
    N_("empty or not a number"),
    N_("after today ({today})"),
    N_("after today ({today}), up to {latest}"),
    N_("exact copies of another row"),
)


_REASON_PATTERNS = compile_templates(REASONS)


def reason_text(reason: str) -> str:
    """An exclusion ``reason`` (English, built from one of :data:`REASONS`) in the report's language
    (``"after today (2026-01-05)"`` → ``"晚于今天（2026-01-05）"``); any other text is returned as it is."""
    return retranslate(reason, _REASON_PATTERNS)


def exclusion_sentence(e: Mapping[str, Any]) -> str:
    """``"3 orders rows left out: revenue not a finite number (rows 4, 9, 17)."``

    Plain text (reports escape it) in the report's language (:mod:`salesbench.core.i18n`; the record
    itself stays English); ``e`` is one :meth:`Dataset.exclusions` record. A record with a ``field``
    (the column as the source names it) says both: ``订单日期 (order_date) empty ...``.
    """
    n, ex = int(e["rows"]), list(e.get("examples") or [])
    reason = reason_text(e["reason"])
    col = f"{e['field']} ({e['column']})" if e.get("field") and e.get("column") else e.get("column")
    what = _("{column} {reason}", column=col, reason=reason) if col else reason
    fields = {"n": f"{n:,}", "table": e["table"], "what": what}
    if not ex:
        return ngettext("{n} {table} row left out: {what}.", "{n} {table} rows left out: {what}.", n, **fields)
    # one example and no more rows is the only singular case (examples are at most the rows)
    rows = ", ".join(str(r) for r in ex) + (", …" if n > len(ex) else "")
    return ngettext("{n} {table} row left out: {what} (row {rows}).",
                    "{n} {table} rows left out: {what} (rows {rows}).", n, rows=rows, **fields)


class Dataset:
    """A set of canonical tables living in one ibis backend.

    Attributes
    ----------
    con : ibis backend (DuckDB unless the source is a remote database)
    label : description of the source, safe to print (no credentials)
    files : data files behind the tables (for the fingerprint)
    sources : table name -> file name or description used in error messages
    field_names : table -> {canonical column: the field as the source names it} where the
        two differ (a source spec's ``map``, e.g. ``{"orders": {"order_date": "订单日期"}}``);
        messages name both (:meth:`column_label`)
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
        field_names: Mapping[str, Mapping[str, str]] | None = None,
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
        self.field_names = {t: {c: str(f) for c, f in m.items() if str(f) != c} for t, m in (field_names or {}).items()}
        self._truth: dict | None = None
        self._prepared: dict[str, _Prepared] = {}
        self.today: _dt.date | None = None  # set from :func:`today` when the first table is read

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

    # -- access -------------------------------------------------------------------
    @property
    def tables(self) -> list[str]:
        return [t for t in schema.TABLE_NAMES if t in self._tables]

    def has(self, name: str) -> bool:
        return name in self._tables

    def has_columns(self, name: str, columns: Iterable[str]) -> bool:
        return self.has(name) and all(c in self._tables[name].columns for c in columns)

    def table(self, name: str):
        """The canonical ibis table ``name``, without the rows no analysis may use.

        Left out (and stated, see :meth:`exclusions`): rows with a number that is
        not finite or implausibly large, rows whose required date, timestamp or
        number is empty, unparsable or out of range, rows of an event table dated
        after :func:`today`, and exact copies of a row in a table with a key.
        The counts are computed once per table in the engine; a table without
        such rows is returned as it is (no filter in later queries).

        Raises :class:`MissingTables` if absent, :class:`SchemaError` if a column
        is stored in a type that cannot be converted to its canonical type, and
        :class:`DuplicateKeys` if a table whose key must be unique has rows sharing
        a key with different values (run ``salesbench validate`` for the full list
        of problems).
        """
        if name not in self._tables:
            schema.table(name)
            raise MissingTables([name])
        if name in self.type_errors:
            cols = ", ".join(
                f"{c} is {t}, expected {schema.table(name).column(c).type}" for c, t in self.type_errors[name].items()
            )
            raise SchemaError(f"{self.source_of(name)}: wrong column type ({cols})")
        prep = self._prepare(name)
        if prep.conflict is not None:
            raise prep.conflict
        return prep.table

    # -- rows left out ------------------------------------------------------------
    def _row_rules(self, name: str, t) -> list[tuple[str, str, str, Callable[[Any], Any]]]:
        """``[(column, reason, check, predicate)]``: the rows :meth:`table` leaves out.

        Each predicate takes a table with the canonical columns and is never NULL.
        """
        spec = schema.table(name)
        rules: list[tuple[str, str, str, Callable[[Any], Any]]] = []
        limit = schema.MAX_ABS_NUMBER
        for col in spec.columns:
            c = col.name
            if c not in t.columns or c in self.type_errors.get(name, {}):
                continue
            if col.type == "float":
                rules.append((c, REASONS[0], "nonfinite_values",
                              lambda u, c=c: u[c].notnull() & (u[c].isnan() | u[c].isinf())))
                rules.append((c, REASONS[1].format(limit=f"{limit:.0e}".replace("+", "")),
                              "implausible_values", lambda u, c=c: u[c].notnull() & ~u[c].isnan() & ~u[c].isinf() & (u[c].abs() >= limit)))
            if col.required and col.type in ("date", "timestamp"):
                rules.append((c, REASONS[2 if col.type == "date" else 3].format(
                                  first=schema.DATE_MIN.year, last=schema.DATE_MAX.year),
                              "required_value_missing", lambda u, c=c: u[c].isnull()))
            elif col.required and col.type == "float":
                rules.append((c, REASONS[4], "required_value_missing", lambda u, c=c: u[c].isnull()))
        ev = spec.event_date
        if ev and ev in t.columns and ev not in self.type_errors.get(name, {}):
            day = self.today
            if spec.column(ev).type == "date":
                rules.append((ev, REASONS[5].format(today=day), "future_dates",
                              lambda u: u[ev].notnull() & (u[ev] > day)))
            else:
                rules.append((ev, REASONS[5].format(today=day), "future_dates",
                              lambda u: u[ev].notnull() & (u[ev].date() > day)))
        return rules

    def _prepare(self, name: str) -> "_Prepared":
        """Count (in the engine, once) the rows :meth:`table` leaves out and the conflicting keys."""
        if name in self._prepared:
            return self._prepared[name]
        if self.today is None:
            self.today = today()
        t = self._tables[name]
        spec = schema.table(name)
        rules = self._row_rules(name, t)
        aggs = {"__n": t.count()}
        for i, (_c, _r, _k, bad) in enumerate(rules):
            aggs[f"__r{i}"] = t.count(where=bad(t))
        counts = t.aggregate(**aggs).to_pyarrow().to_pylist()[0]
        n = int(counts["__n"] or 0)
        hit = [(rule, int(counts[f"__r{i}"] or 0)) for i, rule in enumerate(rules) if counts[f"__r{i}"]]
        exclusions: list[dict[str, Any]] = []
        kept = t
        if hit:
            any_bad = _any_of([rule for rule, _n in hit])
            numbered = t.mutate(sb_row_=ibis.row_number() + 1)
            for (col, reason, check, bad), k in hit:
                rows = numbered.filter(bad(numbered)).order_by("sb_row_").limit(EXAMPLE_ROWS)["sb_row_"]
                if check == "future_dates":  # say how far ahead: a typo (2100 for 2010) shows at once
                    latest = t.filter(bad(t))[col].max().to_pyarrow().as_py()
                    reason = REASONS[6].format(today=self.today,
                                               latest=latest.date() if hasattr(latest, 'date') else latest)
                exclusions.append(_exclusion(name, col, reason, k, rows.to_pyarrow().to_pylist(), check))
                if col in self.field_names.get(name, {}):
                    exclusions[-1]["field"] = self.field_names[name][col]
            kept = t.filter(~any_bad(t))
        conflict = None
        key = [c for c in spec.key if c in t.columns]
        repeated = 0
        if key and len(key) == len(spec.key) and n:
            # cheap first: does any key occur twice? (a group-by on the key columns only)
            gk = kept.group_by(key).aggregate(sb_k_=kept.count())
            repeated = int(gk.count(where=gk["sb_k_"] > 1).to_pyarrow().as_py() or 0)
        if repeated:
            d = kept.distinct()
            g = d.group_by(key).aggregate(sb_k_=d.count())
            complete = ibis.and_(*[g[c].notnull() for c in key])
            st = g.aggregate(sb_distinct_=g["sb_k_"].sum(), sb_conflicts_=g.count(where=complete & (g["sb_k_"] > 1)))
            st = st.to_pyarrow().to_pylist()[0]
            n_kept = int(kept.count().to_pyarrow().as_py()) if hit else n
            surplus = n_kept - int(st["sb_distinct_"] or 0)
            if surplus > 0:
                numbered = t.mutate(sb_row_=ibis.row_number() + 1)
                if hit:
                    numbered = numbered.filter(~any_bad(numbered))
                cols = list(kept.columns)
                copies = numbered.mutate(sb_copy_=ibis.row_number().over(group_by=cols, order_by="sb_row_"))
                rows = copies.filter(copies["sb_copy_"] > 0).order_by("sb_row_").limit(EXAMPLE_ROWS)["sb_row_"]
                exclusions.append(_exclusion(name, None, REASONS[7], surplus,
                                             rows.to_pyarrow().to_pylist(), "exact_duplicates"))
                kept = d
            n_conf = int(st["sb_conflicts_"] or 0)
            if n_conf and spec.unique_key:
                conflict = self._conflict(name, key, g.filter(complete & (g["sb_k_"] > 1)), n_conf,
                                          any_bad if hit else None)
        self._prepared[name] = _Prepared(kept, n, exclusions, conflict)
        return self._prepared[name]

    def _conflict(self, name: str, key: list[str], bad_keys, n_keys: int, any_bad) -> "DuplicateKeys":
        """The :class:`DuplicateKeys` error for ``bad_keys`` (the first three keys, by first row)."""
        numbered = self._tables[name].mutate(sb_row_=ibis.row_number() + 1)
        if any_bad is not None:
            numbered = numbered.filter(~any_bad(numbered))
        rows = numbered.semi_join(bad_keys.select(*key), key).order_by("sb_row_").limit(200)
        df = rows.select(*key, "sb_row_").to_pandas()
        examples: dict[tuple, list[int]] = {}
        for rec in df.itertuples(index=False):
            vals, r = tuple(rec[:-1]), int(rec[-1])
            if vals in examples or len(examples) < 3:
                examples.setdefault(vals, []).append(r)
        return DuplicateKeys(self.source_of(name), name, key, n_keys,
                             [(k, v[:EXAMPLE_ROWS]) for k, v in examples.items()])

    def checked_state(self, fingerprint: str | None = None) -> dict[str, Any]:
        """What the table checks found so far, as plain JSON: ``{today, fingerprint, tables: {name: {rows, exclusions}}}``.

        ``tables`` holds every table :meth:`table`, :meth:`empty_tables` or
        :meth:`check_keys` has prepared (row count before anything is left out, and
        the :meth:`exclusions` records), none with a key conflict. The runner takes it
        after its pre-check and hands it to the report kernels, which give it to
        :meth:`adopt_checked_state` instead of counting again. ``fingerprint``: the
        :meth:`fingerprint` if the caller has it already (a database counts rows for it).
        """
        return {"today": None if self.today is None else self.today.isoformat(),
                "fingerprint": fingerprint or self.fingerprint(),
                "tables": {name: {"rows": p.rows, "exclusions": [dict(e) for e in p.exclusions]}
                           for name, p in self._prepared.items() if p.conflict is None}}

    def adopt_checked_state(self, state: Mapping[str, Any]) -> list[str]:
        """Take the table checks of :meth:`checked_state` (made by another process on the same data)
        instead of running them again; returns the tables adopted.

        Nothing is adopted when the data's :meth:`fingerprint` differs from the
        state's (the files changed in between) or the run date (:func:`today`, which
        decides which dates lie in the future) is not the state's. For each adopted
        table the canonical table without the left-out rows is rebuilt from the
        exclusion records alone (the same filter and ``distinct`` as :meth:`table`
        builds), without a query; tables already prepared here are kept as they are.
        """
        day = _dt.date.fromisoformat(state["today"]) if state.get("today") else None
        if day is None or day != (self.today or today()) or state.get("fingerprint") != self.fingerprint():
            return []
        self.today = day
        adopted = []
        for name, st in (state.get("tables") or {}).items():
            if name not in self._tables or name in self.type_errors or name in self._prepared:
                continue
            t = self._tables[name]
            excl = [dict(e) for e in st["exclusions"]]
            found = {(e["column"], e["check"]) for e in excl}
            hit = [rule for rule in self._row_rules(name, t) if (rule[0], rule[2]) in found]
            kept = t.filter(~_any_of(hit)(t)) if hit else t
            if any(e["check"] == "exact_duplicates" for e in excl):
                kept = kept.distinct()
            self._prepared[name] = _Prepared(kept, int(st["rows"]), excl, None)
            adopted.append(name)
        return adopted

    def exclusions(self, tables: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The rows :meth:`table` leaves out: ``[{table, column, reason, rows, examples, check}]``.

        ``rows`` is the number of rows, ``examples`` the first 1-based row numbers
        in the source; ``column`` is ``None`` for exact copies of a row; ``check``
        is a code: ``nonfinite_values``, ``implausible_values``,
        ``required_value_missing``, ``future_dates`` or ``exact_duplicates``.
        A row can count under several reasons. Tables with a wrong-type column are skipped
        (they cannot be read at all).
        """
        names = [t for t in (tables if tables is not None else self.tables) if self.has(t)]
        out = []
        for name in names:
            if name in self.type_errors:
                continue
            out += [dict(e) for e in self._prepare(name).exclusions]
        return out

    def exclusion_sentences(self, tables: Iterable[str] | None = None) -> list[str]:
        """One sentence per :meth:`exclusions` record, e.g.
        ``"3 orders rows left out: revenue not a finite number (rows 4, 9, 17)."``"""
        return [exclusion_sentence(e) for e in self.exclusions(tables)]

    def empty_tables(self, tables: Iterable[str] | None = None) -> dict[str, str]:
        """``{table: "orders has no rows (orders.csv)"}`` for present tables without rows."""
        names = [t for t in (tables if tables is not None else self.tables) if self.has(t)]
        out = {}
        for name in names:
            n = self._prepare(name).rows if name not in self.type_errors else \
                int(self._raw[name].count().to_pyarrow().as_py())
            if n == 0:
                out[name] = f"{name} has no rows ({self.source_of(name)})"
        return out

    def check_keys(self, tables: Iterable[str] | None = None) -> None:
        """Raise :class:`DuplicateKeys` for the first table (of ``tables``, default all)
        whose key must be unique but has rows sharing a key with different values.

        The runner calls it before any kernel starts, so ``salesbench run`` stops
        with exit status 2 and this message.
        """
        conflicts = self.key_conflicts(tables)
        if conflicts:
            raise conflicts[0]

    def key_conflicts(self, tables: Iterable[str] | None = None) -> list["DuplicateKeys"]:
        """One :class:`DuplicateKeys` per table (of ``tables``, default all) whose key must
        be unique but has rows sharing a key with different values (not raised)."""
        names = [t for t in (tables if tables is not None else self.tables) if self.has(t)]
        out = []
        for name in names:
            if name in self.type_errors or not schema.table(name).unique_key:
                continue
            conflict = self._prepare(name).conflict
            if conflict is not None:
                out.append(conflict)
        return out

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

    def field_name(self, table: str, column: str) -> str:
        """The field of the source that canonical ``column`` of ``table`` comes from (``订单日期`` for
        ``order_date`` in a spec mapping it so), or ``column`` itself."""
        return self.field_names.get(table, {}).get(column, column)

    def column_label(self, table: str, column: str) -> str:
        """``"'order_date'"``, or ``"'订单日期' (order_date)"`` when the source names the column otherwise:
        how messages name a column, so the user finds it under the header they wrote."""
        src = self.field_name(table, column)
        return f"{src!r} ({column})" if src != column else repr(column)

    def require(self, *names: str, analysis: str | None = None, res=None) -> list[str]:
        """Check the tables an analysis needs, and state the rows it will not see.

        ``names`` are the tables the analysis needs (a notebook's ``_requires`` in
        ``params/<analysis>.yaml``, passed by :func:`salesbench.report.start.start`);
        ``analysis`` names the report in messages and adds the tables whose schema
        ``enables`` it to those checked for duplicate keys and exclusions. Raises
        :class:`MissingTables` naming every absent table, :class:`EmptyTables` when
        one has no rows ("orders has no rows (orders.csv)") and :class:`DuplicateKeys`
        when a table the analysis reads has conflicting duplicate keys. With ``res``
        (a :class:`salesbench.report.results.Results`), a skip is first recorded with
        the reason, e.g. ``"no opportunities table"``; otherwise the rows left out of
        the tables the analysis reads are recorded under ``excluded_rows``.

        Returns one plain-text sentence per exclusion (:func:`exclusion_sentence`,
        empty without ``res``) for the caller to show (escaped) in the notebook.
        """
        if not names:
            raise TypeError("Dataset.require needs the names of the tables the analysis needs "
                            "(e.g. ds.require('orders', analysis='churn'))")
        missing = [n for n in names if not self.has(n)]
        if missing:
            err = MissingTables(missing, analysis)
            if res is not None:
                res.skip(err.reason)
            raise err
        usable = [n for n in names if n not in self.type_errors]
        empty = self.empty_tables(usable)
        if empty:
            err = EmptyTables(empty, analysis)
            if res is not None:
                res.skip(err.reason)
            raise err
        reads = list(dict.fromkeys([*names, *(t for t in self.tables
                                               if analysis is not None and analysis in schema.table(t).enables)]))
        self.check_keys(reads)
        if res is None:
            return []
        excluded = self.exclusions(reads)
        res.set(excluded_rows=excluded)
        return [exclusion_sentence(e) for e in excluded]

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


#: How the data layer (:mod:`salesbench.io`) labels a source, marked here for the shared catalog: the label
#: stays as it is in ``manifest.json``; reports and the index show it with :func:`data_label_text`.
DATA_LABELS = compile_templates([
    N_("demo company"), N_("demo company ({options})"), N_("folder {path}"), N_("source spec {name}"),
    N_("Spark source spec {name}"), N_("duckdb {name}"),
])


def data_label_text(label: str) -> str:
    """A data source's label (``folder /data/sales``) in the current language (``文件夹 /data/sales``)."""
    return retranslate(str(label), DATA_LABELS)
