"""The summary tables of the data-quality report, one aggregate query per table in the engine.

* :func:`table_overview` — rows and columns per table, which file it came from;
* :func:`date_coverage` — first and last value of every date/timestamp column;
* :func:`missing_values` — empty values per canonical column (NULL, or blank
  text in a text source), with their share of the rows.
"""
from __future__ import annotations

import pandas as pd

from salesbench.core import schema
from salesbench.core.dataset import Dataset


def table_overview(ds: Dataset) -> pd.DataFrame:
    """One row per table present: ``table, source, rows, columns, canonical_columns``.

    ``canonical_columns`` is "k of n": how many of the table's canonical
    columns the source provides. Rows are counted in the engine.
    """
    counts = ds.row_counts()
    rows = []
    for name in ds.tables:
        spec = schema.table(name)
        raw = ds.raw_table(name)
        present = [c for c in spec.column_names if c in raw.columns]
        rows.append({
            "table": name,
            "source": ds.source_of(name),
            "rows": counts[name],
            "columns": len(raw.columns),
            "canonical_columns": f"{len(present)} of {len(spec.column_names)}",
        })
    return pd.DataFrame(rows, columns=["table", "source", "rows", "columns", "canonical_columns"])


def date_coverage(ds: Dataset) -> pd.DataFrame:
    """First and last value of every canonical date/timestamp column.

    Columns: ``table, column, first, last, span_days, filled`` (non-empty
    values). Unparsable or wrong-typed columns are skipped (validation reports
    them). One aggregate query per table.
    """
    out = []
    for name in ds.tables:
        spec = schema.table(name)
        t = ds.canonical_table(name)
        cols = [c.name for c in spec.columns if c.type in {"date", "timestamp"} and c.name in t.columns
                and c.name not in ds.type_errors.get(name, {})]
        if not cols:
            continue
        aggs = {}
        for c in cols:
            aggs[f"{c}__first"] = t[c].min()
            aggs[f"{c}__last"] = t[c].max()
            aggs[f"{c}__filled"] = t[c].count()
        r = t.aggregate(**aggs).to_pandas().iloc[0]
        for c in cols:
            first, last = pd.Timestamp(r[f"{c}__first"]), pd.Timestamp(r[f"{c}__last"])
            out.append({
                "table": name,
                "column": c,
                "first": first,
                "last": last,
                "span_days": (last - first).days if pd.notna(first) and pd.notna(last) else None,
                "filled": int(r[f"{c}__filled"]),
            })
    return pd.DataFrame(out, columns=["table", "column", "first", "last", "span_days", "filled"])


def missing_values(ds: Dataset) -> pd.DataFrame:
    """Empty values per canonical column: ``table, column, required, rows, missing, missing_share``.

    "Empty" is NULL in the source, or blank text in a text source
    (``missing_share = missing / rows``). Unparsable values are not counted
    here (they are schema errors). One aggregate query per table.
    """
    out = []
    for name in ds.tables:
        spec = schema.table(name)
        raw = ds.raw_table(name)
        cols = [c for c in spec.columns if c.name in raw.columns]
        if not cols:
            continue
        aggs = {"__rows": raw.count()}
        for c in cols:
            v = raw[c.name]
            empty = v.isnull() | (v.strip() == "") if v.type().is_string() else v.isnull()
            aggs[c.name] = empty.ifelse(1, 0).sum()  # PostgreSQL has no boolean -> bigint cast
        r = raw.aggregate(**aggs).to_pandas().iloc[0]
        n = int(r["__rows"])
        for c in cols:
            miss = int(0 if pd.isna(r[c.name]) else r[c.name])
            out.append({
                "table": name,
                "column": c.name,
                "required": c.required,
                "rows": n,
                "missing": miss,
                "missing_share": miss / n if n else 0.0,
            })
    return pd.DataFrame(out, columns=["table", "column", "required", "rows", "missing", "missing_share"])
