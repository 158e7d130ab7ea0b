"""The computations behind the ``data_quality`` report (the first report of every run).

:func:`assess` gathers, for one :class:`~salesbench.core.dataset.Dataset`:

* :func:`table_overview` — rows and columns per table, which file it came from;
* :func:`date_coverage` — first and last value of every date/timestamp column;
* :func:`missing_values` — empty values per canonical column (NULL, or blank
  text in a text source), with their share of the rows;
* the findings of :func:`salesbench.core.validate.validate` — schema errors and
  quality problems with counts and example rows;
* the rows every report leaves out (:meth:`salesbench.core.dataset.Dataset.exclusions`),
  one sentence each in :meth:`DataQuality.narrative`.

Every count is one aggregate query per table in the engine; only the small
summary frames come back to pandas. Example rows are data: display them with
:func:`salesbench.viz.show_table`, which escapes them (customer names may
carry markup).
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd

from salesbench.core import schema
from salesbench import viz
from salesbench.core.dataset import Dataset, exclusion_sentence
from salesbench.io.sources import open_data
from salesbench.core.validate import ValidationReport, validate

#: The main date column of each table (used for the coverage chart).
MAIN_DATE = {
    "orders": "order_date",
    "customers": "signup_date",
    "reps": "hire_date",
    "products": "launch_date",
    "opportunities": "created_at",
    "stage_history": "entered_at",
    "invoices": "invoice_date",
    "surveys": "survey_date",
    "interactions": "occurred_at",
    "targets": "period",
}


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


@dataclass
class DataQuality:
    """Everything the data-quality report shows (see :func:`assess`)."""

    label: str
    overview: pd.DataFrame
    coverage: pd.DataFrame
    missing: pd.DataFrame
    validation: ValidationReport
    #: rows every report leaves out (:meth:`salesbench.core.dataset.Dataset.exclusions`)
    exclusions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def findings(self) -> pd.DataFrame:
        """One row per finding: status (red = schema error, amber = quality problem), severity,
        check, table, column, rows, description."""
        df = self.validation.table()
        df.insert(0, "status", df.severity.map({"schema": "red", "quality": "amber"}))
        return df

    @property
    def rows_with_problems(self) -> int:
        return int(sum(f.rows for f in self.validation.findings))

    def examples(self) -> list[tuple[str, pd.DataFrame]]:
        """``[(title, first offending rows)]`` for each finding that has examples."""
        return [
            (f"{f.check} — {f.table}" + (f".{f.column}" if f.column else "") + f" ({f.rows:,} rows)", f.examples)
            for f in self.validation.findings
            if not f.examples.empty
        ]

    def headline_cards(self) -> list[dict[str, Any]]:
        """KPI cards: verdict, tables, order lines, order date range, missing values."""
        v = self.validation
        n_orders = int(self.overview.loc[self.overview.table == "orders", "rows"].sum())
        cov = self.coverage[(self.coverage.table == "orders") & (self.coverage.column == "order_date")]
        span = "–"
        if not cov.empty and pd.notna(cov["first"].iloc[0]):
            span = f"{cov['first'].iloc[0]:%Y-%m-%d} → {cov['last'].iloc[0]:%Y-%m-%d}"
        req_missing = int(self.missing.loc[self.missing.required, "missing"].sum()) if not self.missing.empty else 0
        return [
            {"label": "Verdict", "value": v.verdict(), "status": v.status(),
             "sub": (f"{self.rows_with_problems:,} row{'s' if self.rows_with_problems != 1 else ''} affected"
                     if v.findings else "data fit to use")},
            {"label": "Tables", "value": f"{len(self.overview)} of {len(schema.TABLE_NAMES)}",
             "sub": ", ".join(self.overview.table)},
            {"label": "Order lines", "value": viz.fmt_num(n_orders)},
            {"label": "Order dates", "value": span},
            {"label": "Empty required values", "value": viz.fmt_num(req_missing),
             "status": "green" if req_missing == 0 else "red"},
        ]

    def record(self, res) -> None:
        """Put the figures into a :class:`salesbench.report.results.Results`: values, headline, tables.

        Values: ``verdict``, ``status``, ``schema_errors`` and ``quality_problems``
        (counts), ``defects`` ({check: rows}), ``row_counts`` ({table: rows}),
        ``as_of``, ``table_names``, ``excluded_rows`` (the rows reports leave out,
        :meth:`salesbench.core.dataset.Dataset.exclusions`). Tables: ``findings``, ``row_counts``,
        ``date_coverage``, ``missing_values``.
        """
        v = self.validation
        res.set(
            verdict=v.verdict(),
            status_light=v.status(),
            schema_errors=len(v.schema_errors),
            quality_problems=len(v.quality_problems),
            defects=v.defect_counts(),
            schema_error_checks={f"{f.table}.{f.column or ''}:{f.check}": f.rows for f in v.schema_errors},
            row_counts=dict(zip(self.overview.table, self.overview["rows"].astype(int))),
            as_of=v.as_of,
            table_names=list(self.overview.table),
            excluded_rows=self.exclusions,
        )
        res.headline("Verdict", len(v.findings), v.verdict())
        n_orders = int(self.overview.loc[self.overview.table == "orders", "rows"].sum())
        res.headline("Order lines", n_orders, viz.fmt_num(n_orders))
        res.headline("Rows affected", self.rows_with_problems, viz.fmt_num(self.rows_with_problems))
        res.table("findings", self.findings)
        res.table("row_counts", self.overview)
        res.table("date_coverage", self.coverage)
        res.table("missing_values", self.missing)

    def narrative(self) -> list[str]:
        """Two or three plain sentences with the numbers (escape them with :func:`viz.narrative`)."""
        v = self.validation
        n_rows = int(self.overview["rows"].sum())
        s = [f"{self.label}: {len(self.overview)} tables with {n_rows:,} rows in total were checked "
             f"against the canonical schema on {v.as_of:%Y-%m-%d}."]
        if v.schema_errors:
            s.append(f"{len(v.schema_errors)} schema error(s) make the data unusable until fixed: "
                     + "; ".join(f"{f.check} in {f.table}" + (f".{f.column}" if f.column else "") for f in v.schema_errors[:3])
                     + ".")
        if v.quality_problems:
            top = sorted(v.quality_problems, key=lambda f: -f.rows)[:3]
            s.append(f"{len(v.quality_problems)} quality problem(s) were found; the largest: "
                     + ", ".join(f"{f.check.replace('_', ' ')} ({f.rows:,})" for f in top)
                     + ". Reports still run; check these before trusting totals.")
        if not v.findings:
            s.append("No schema error and no quality problem: the data is fit to use.")
        s += [exclusion_sentence(e) for e in self.exclusions]
        return s


def assess(source: Dataset | str, as_of: _dt.date | str | None = None, strict: bool = False) -> DataQuality:
    """Compute the data-quality report for ``source`` (a Dataset or any :func:`open_data` source)."""
    ds = open_data(source)
    report = validate(ds, strict=strict, as_of=as_of)
    excluded = ds.exclusions([t for t in ds.tables if t not in ds.type_errors])
    return DataQuality(ds.label, table_overview(ds), date_coverage(ds), missing_values(ds), report, excluded)


#: Tables whose dates may lie in the future by design (plans, not events).
FORWARD_LOOKING_TABLES = frozenset({"targets"})


def plot_coverage(coverage: pd.DataFrame, as_of: _dt.date | None = None, ax=None):
    """Horizontal bars from first to last date of each table's main date column; returns ``ax``.

    Bars are clipped at ``as_of``; a table whose dates run past it is drawn in
    the red status colour and labelled with its last date — except tables that
    hold plans (``targets``), whose periods lie in the future by design: they
    are drawn in full, in the muted colour.
    """
    ax = ax or plt.gca()
    main = coverage[[MAIN_DATE.get(t) == c for t, c in zip(coverage.table, coverage.column)]].dropna(subset=["first"])
    main = main.reset_index(drop=True)
    cut = pd.Timestamp(as_of) if as_of is not None else None
    for i, r in main.iterrows():
        plan = r["table"] in FORWARD_LOOKING_TABLES
        last = r["last"] if (cut is None or plan) else min(r["last"], cut)
        late = cut is not None and r["last"] > cut and not plan
        color = viz.STATUS["red"] if late else (viz.MUTED if plan else viz.ACCENT)
        start = mdates.date2num(r["first"])
        ax.barh(i, mdates.date2num(last) - start, left=start, color=color, height=0.6)
        note = f" runs to {r['last']:%Y-%m-%d}" if late else ""
        ax.text(mdates.date2num(last), i, f" {r['filled']:,}{note}", va="center", fontsize=8)
    ax.set_yticks(range(len(main)))
    ax.set_yticklabels([f"{t} ({c})" for t, c in zip(main.table, main.column)])
    ax.invert_yaxis()
    ax.xaxis_date()
    ax.set_title("Date coverage per table (bar label: rows with a date)")
    return ax
