"""Validate a data source against the canonical schema and count data-quality problems.

Two kinds of findings
---------------------
**Schema errors** make the data unusable as it is; they are fatal
(``salesbench validate`` exits with status 2):

* ``missing_table`` — the required ``orders`` table is absent;
* ``missing_column`` — a required column of a present table is absent;
* ``wrong_type`` — a column is stored in a type that cannot be converted to
  its canonical type (e.g. a date column stored as a number);
* ``unparsable_value`` — text that does not parse as the column's date,
  timestamp, number or boolean (found with DuckDB ``TRY_CAST``: the raw text
  is present but the converted value is NULL);
* ``null_key`` — a required column (an id, a date, revenue) is empty.

Required columns, types and nullability (``missing_column``, ``wrong_type``,
``null_key``) are checked by a pandera schema per table, generated from
:mod:`salesbench.core.schema` and run with pandera's ibis backend, i.e. inside the
engine (:func:`pandera_schema`); ``unparsable_value`` compares the raw text
with its ``TRY_CAST`` in one aggregate query per table.

**Quality problems** are counted and listed but not fatal unless ``strict``:
duplicate ids and order lines, non-positive revenue, dates after ``as_of``,
orders of unknown customers, stage history out of order, invoices paid more
than invoiced or due before issued, CSAT outside 1-5 / NPS outside 0-10,
customer names carrying HTML markup (see :data:`QUALITY_CHECKS`). Each
check is an ibis expression: counts are computed in the engine and only the
first offending rows come back to pandas.

Every finding names the file or table, the column, how many rows and the first
offending rows (with their row number in the source).

Language: findings are English (``salesbench validate``, ``results.json``, the
``findings`` CSV of the data-quality report). Reports show them in their
language with :func:`description_text` (a finding's ``description``) and
:meth:`ValidationReport.verdict_text`; the descriptions are built from templates
marked for the shared catalog (:data:`DESCRIPTIONS`).
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Callable

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from salesbench.core import schema
from salesbench.core.dataset import IBIS_TYPES, Dataset, compile_templates, reason_text, retranslate
from salesbench.core.i18n import N_, NP_, messages
from salesbench.core.errors import SchemaError
from salesbench.core.jsonable import to_jsonable

__all__ = [
    "Finding", "ValidationReport", "SchemaError", "validate", "schema_findings", "quality_findings",
    "pandera_schema", "QUALITY_CHECKS",
    "exclusion_findings", "conflicting_key_findings", "unknown_stages", "unknown_stage_findings",
    "DESCRIPTIONS", "description_text", "type_word",
]

_, ngettext, pgettext = messages(__name__).functions()

#: How many offending rows a finding keeps as examples.
N_EXAMPLES = 5
ROW = "row"  # name of the row-number column in examples

#: The descriptions of findings with values in them (English in results and CSVs; see :func:`description_text`).
DESCRIPTIONS = (
    N_("stored as {have}, must be {want}"),
    N_("values that do not parse as {kind}"),
    N_("values that do not parse as {kind} or lie outside {first}-{last}"),
    N_("{column} {reason} (rows left out)"),
    N_("{key} values on several rows with different values (a run stops)"),
)
#: The canonical column types as words (``{want}``/``{kind}`` of :data:`DESCRIPTIONS`), context ``type``.
TYPE_WORDS = {"id": NP_("type", "id"), "str": NP_("type", "str"), "date": NP_("type", "date"),
              "timestamp": NP_("type", "timestamp"), "float": NP_("type", "float"), "int": NP_("type", "int"),
              "bool": NP_("type", "bool")}


def type_word(kind: str) -> str:
    """A canonical column type (``date``, ``float`` ...) as a word in the report's language."""
    return pgettext("type", TYPE_WORDS[kind]) if kind in TYPE_WORDS else kind


_DESCRIPTION_PATTERNS: list | None = None


def description_text(description: str) -> str:
    """A finding's ``description`` (English, as stored) in the report's language; unknown text unchanged.

    Use it where a report shows findings, e.g.
    ``viz.show_table(findings, formats={"description": validate.description_text})``.
    """
    global _DESCRIPTION_PATTERNS
    if _DESCRIPTION_PATTERNS is None:
        fixed = [N_("required table is missing"), N_("the table has no rows"), N_("required column is missing"),
                 N_("required column is empty"), N_("stage names not among the funnel's stages (ignored by the funnel)")]
        _DESCRIPTION_PATTERNS = compile_templates([*fixed, *(c.description for c in QUALITY_CHECKS), *DESCRIPTIONS])
    return retranslate(description, _DESCRIPTION_PATTERNS,
                       fields={"want": type_word, "kind": type_word, "reason": reason_text})


@dataclass
class Finding:
    """One schema error or quality problem.

    ``rows`` is the number of offending rows (for ``stage_history_out_of_order``
    the number of opportunities, for ``duplicate_*`` the number of surplus
    copies); ``examples`` holds the first offending rows with their 1-based
    ``row`` number in the source table.
    """

    check: str
    severity: str  # "schema" | "quality"
    table: str
    column: str | None
    rows: int
    message: str
    examples: pd.DataFrame = field(default_factory=pd.DataFrame)
    description: str = ""  # short, without file name and examples (for report tables)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity,
            "table": self.table,
            "column": self.column,
            "rows": int(self.rows),
            "message": self.message,
            "description": self.description,
            "examples": to_jsonable(self.examples.head(N_EXAMPLES)),
        }


@dataclass
class ValidationReport:
    """All findings for one data source (see :func:`validate`)."""

    label: str
    findings: list[Finding]
    as_of: _dt.date
    strict: bool = False
    #: What the source did on purpose that a reader should know (e.g. a source spec's ``dedupe`` rule
    #: dropping rows): printed after the findings, never a problem by itself.
    notes: list[str] = field(default_factory=list)

    @property
    def schema_errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "schema"]

    @property
    def quality_problems(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "quality"]

    @property
    def ok(self) -> bool:
        """No schema error (and, when ``strict``, no quality problem)."""
        return not self.schema_errors and not (self.strict and self.quality_problems)

    @property
    def exit_code(self) -> int:
        """0 when :attr:`ok`, else 2 (bad input)."""
        return 0 if self.ok else 2

    def defect_counts(self) -> dict[str, int]:
        """``{check: offending rows}`` for the quality problems found (summed over the
        columns of checks that run per column, such as ``nonfinite_values``)."""
        out: dict[str, int] = {}
        for f in self.quality_problems:
            out[f.check] = out.get(f.check, 0) + int(f.rows)
        return out

    def verdict(self) -> str:
        """One line such as ``"3 quality problems, 0 schema errors"``."""
        q, s = len(self.quality_problems), len(self.schema_errors)
        return f"{q} quality problem{'s' if q != 1 else ''}, {s} schema error{'s' if s != 1 else ''}"

    def verdict_text(self) -> str:
        """:meth:`verdict` in the report's language (:mod:`salesbench.core.i18n`)."""
        q, s = len(self.quality_problems), len(self.schema_errors)
        if s == 1:
            return ngettext("{q} quality problem, {s} schema error", "{q} quality problems, {s} schema error", q,
                            q=q, s=s)
        return ngettext("{q} quality problem, {s} schema errors", "{q} quality problems, {s} schema errors", q,
                        q=q, s=s)

    def status(self) -> str:
        """Traffic light: red with schema errors, amber with quality problems, else green."""
        if self.schema_errors:
            return "red"
        return "amber" if self.quality_problems else "green"

    def table(self) -> pd.DataFrame:
        """One row per finding: severity, check, table, column, rows, description."""
        cols = ["severity", "check", "table", "column", "rows", "description"]
        return pd.DataFrame([{c: getattr(f, c) for c in cols} for f in self.findings], columns=cols)

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": self.label,
            "as_of": self.as_of.isoformat(),
            "strict": self.strict,
            "ok": self.ok,
            "verdict": self.verdict(),
            "schema_errors": [f.to_dict() for f in self.schema_errors],
            "quality_problems": [f.to_dict() for f in self.quality_problems],
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        """A readable multi-line summary for the terminal."""
        lines = [f"Data: {self.label}", f"Verdict: {self.verdict()}" + (" (strict)" if self.strict else "")]
        for title, group in (("Schema errors", self.schema_errors), ("Quality problems", self.quality_problems)):
            if group:
                lines.append(f"{title}:")
                lines += [f"  - [{f.check}] {f.message}" for f in group]
        if not self.findings:
            lines.append("No problem found.")
        if self.notes:
            lines.append("Notes:")
            lines += [f"  - {n}" for n in self.notes]
        return "\n".join(lines)

    def raise_for_errors(self) -> None:
        """Raise :class:`SchemaError` with every message when not :attr:`ok`."""
        if not self.ok:
            bad = self.schema_errors + (self.quality_problems if self.strict else [])
            raise SchemaError("\n".join(f.message for f in bad))


# --------------------------------------------------------------------------- helpers
def _count(expr) -> int:
    value = expr.to_pyarrow().as_py()
    return int(value or 0)


def _with_rownum(t):
    """``t`` plus a 1-based ``row`` number in source order."""
    return t.mutate(**{ROW: ibis.row_number() + 1})


def _examples(t, cols: list[str] | None = None) -> pd.DataFrame:
    if cols is not None:
        keep = [ROW] + [c for c in dict.fromkeys(cols) if c in t.columns and c != ROW]
        t = t.select(*keep)
    return t.order_by(ROW).limit(N_EXAMPLES).to_pandas() if ROW in t.columns else t.limit(N_EXAMPLES).to_pandas()


def _fmt_value(v: Any) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NaT:
        return "empty"
    if isinstance(v, pd.Timestamp):
        v = v.date() if v == v.normalize() else v
    text = str(v)
    if len(text) > 40:
        text = text[:37] + "..."
    return repr(text) if isinstance(v, str) else text


def _describe_rows(examples: pd.DataFrame, limit: int = 3, labels: dict[str, str] | None = None) -> str:
    """``"row 3: order_id='O3', order_date='2023-13-45'; row 7: ..."``; with ``labels``
    (canonical column -> the source's field name, :attr:`Dataset.field_names`) the cells
    carry the source's names: ``订单编号='O3', 订单日期='2023-13-45'``."""
    labels = labels or {}
    parts = []
    for _, r in examples.head(limit).iterrows():
        cells = ", ".join(f"{labels.get(c, c)}={_fmt_value(r[c])}" for c in examples.columns if c != ROW)
        parts.append(f"row {int(r[ROW])}: {cells}" if ROW in examples.columns else cells)
    return "; ".join(parts)


def _bare_label(ds: Dataset, table: str, column: str) -> str:
    """``revenue``, or ``销售额 (revenue)`` when the source names the column otherwise (no quotes)."""
    src = ds.field_name(table, column)
    return f"{src} ({column})" if src != column else column


def _key_columns(name: str, t, extra: list[str]) -> list[str]:
    spec = schema.table(name)
    keys = [c for c in spec.key if c in t.columns]
    if not keys:
        keys = [c.name for c in spec.columns if c.type == "id" and c.name in t.columns][:2]
    return keys + [c for c in extra if c not in keys]


# --------------------------------------------------------------------------- schema
def pandera_schema(name: str, actual: ibis.Schema | None = None):
    """The pandera (ibis backend) schema of canonical table ``name``.

    One ``Column`` per canonical column with its canonical ibis type,
    ``required`` and ``nullable`` from :mod:`salesbench.core.schema`; extra columns
    are allowed. Timestamps accept any precision/time zone the source stores
    (``actual``, the table's ibis schema, supplies it).
    """
    import pandera.ibis as pa

    spec = schema.table(name)
    cols = {}
    for c in spec.columns:
        want = IBIS_TYPES[c.type]
        if actual is not None and c.name in actual and want.is_timestamp() and actual[c.name].is_timestamp():
            want = actual[c.name]
        cols[c.name] = pa.Column(want, nullable=c.nullable, required=c.required)
    return pa.DataFrameSchema(cols, name=name, strict=False)


def schema_findings(ds: Dataset) -> list[Finding]:
    """Schema errors of ``ds``: missing table/column, wrong type, unparsable value, null key."""
    import pandera.ibis as pa
    from pandera.errors import SchemaErrorReason

    findings: list[Finding] = []
    for spec in schema.TABLES.values():
        if spec.required and not ds.has(spec.name):
            findings.append(Finding(
                "missing_table", "schema", spec.name, None, 0,
                f"{ds.label}: the required table {spec.name!r} is missing "
                f"(a data set needs at least {spec.name} with {', '.join(spec.required_columns)})",
                description=N_("required table is missing"),
            ))
    no_rows = ds.empty_tables([t for t in ds.tables if t not in ds.type_errors])
    for name in ds.tables:
        src = ds.source_of(name)
        raw = ds.raw_table(name)
        if name in no_rows:
            spec = schema.table(name)
            findings.append(Finding(
                "empty_table", "schema" if spec.required else "quality", name, None, 0,
                f"{no_rows[name]}: reports that need {name} are skipped",
                description=N_("the table has no rows"),
            ))
            continue
        numbered = _with_rownum(raw)  # row numbers only for the example rows of a failing check
        canon = ds.canonical_table(name)
        conv = ds.conversions(name)
        unparsable = _unparsable_findings(ds, name, raw, numbered, conv)
        findings += unparsable
        try:
            pandera_schema(name, canon.schema()).validate(canon, lazy=True)
            continue
        except pa.errors.SchemaErrors as exc:
            errors = exc.schema_errors
        except pa.errors.SchemaError as exc:  # pragma: no cover - lazy=True collects
            errors = [exc]
        for err in errors:
            reason = err.reason_code
            column = getattr(err.schema, "name", None) if reason != SchemaErrorReason.COLUMN_NOT_IN_DATAFRAME else None
            if reason == SchemaErrorReason.COLUMN_NOT_IN_DATAFRAME:
                missing = [c for c in schema.table(name).required_columns if c not in canon.columns]
                for c in missing:
                    if any(f.check == "missing_column" and f.table == name and f.column == c for f in findings):
                        continue
                    findings.append(Finding(
                        "missing_column", "schema", name, c, 0,
                        f"{src}: required column {ds.column_label(name, c)} is missing "
                        f"(columns present: {', '.join(canon.columns)})",
                        description=N_("required column is missing"),
                    ))
            elif reason == SchemaErrorReason.WRONG_DATATYPE:
                have = canon.schema()[column]
                want = schema.table(name).column(column).type
                n = _count(raw.count())
                hint = " (for dates stored as numbers like 20240131, use a source spec with format: '%Y%m%d')" if want == "date" and have.is_integer() else ""
                findings.append(Finding(
                    "wrong_type", "schema", name, column, n,
                    f"{src}: column {ds.column_label(name, column)} is stored as {have} but must be {want}: "
                    f"all {n:,} rows{hint}",
                    _examples(numbered, _key_columns(name, raw, [column])),
                    description=DESCRIPTIONS[0].format(have=have, want=want),
                ))
            elif reason == SchemaErrorReason.SERIES_CONTAINS_NULLS:
                rc = raw[column]
                empty = rc.isnull() | (rc.cast(dt.string).strip() == "") if rc.type().is_string() else rc.isnull()
                n = _count(raw.filter(empty).count())
                if n == 0:
                    continue  # the NULLs come from unparsable values or NaN, reported on their own
                ex = _examples(numbered.filter(empty), _key_columns(name, raw, [column]))
                findings.append(Finding(
                    "null_key", "schema", name, column, n,
                    f"{src}: required column {ds.column_label(name, column)} is empty in {n:,} "
                    f"row{'s' if n != 1 else ''} (first: {_describe_rows(ex, labels=ds.field_names.get(name))})",
                    ex,
                    description=N_("required column is empty"),
                ))
            else:  # pragma: no cover - other pandera checks are not declared
                findings.append(Finding("schema", "schema", name, column, 0, f"{src}: {err}"))
    return findings


def _unparsable_findings(ds: Dataset, name: str, raw, numbered, conv: dict[str, Any]) -> list[Finding]:
    """Text values present in the source that the conversion turns into NULL (one scan per table)."""
    spec = schema.table(name)
    flags = {}
    for col, expr in conv.items():
        rc = raw[col]
        kind = spec.column(col).type
        if IBIS_TYPES[kind].is_string():
            continue
        if rc.type().is_string():
            flags[col] = rc.notnull() & (rc.strip() != "") & expr.isnull()
        elif kind in ("date", "timestamp"):  # stored as a date: only out-of-range values (infinity, year 0001) fail
            flags[col] = rc.notnull() & expr.isnull()
    if not flags:
        return []
    counts = raw.aggregate(**{c: raw.count(where=f) for c, f in flags.items()}).to_pandas().iloc[0]
    out = []
    for col, n in counts.items():
        n = int(0 if pd.isna(n) else n)
        if n == 0:
            continue
        shown = numbered.filter(flags[col])
        keep = [ROW] + [c for c in _key_columns(name, raw, [col]) if c in shown.columns]
        # as text: a stored 'infinity' or year 5881580 cannot become a Python date
        shown = shown.select(*[shown[c] if c == ROW or shown[c].type().is_string() else shown[c].cast(dt.string)
                               for c in dict.fromkeys(keep)])
        ex = _examples(shown)
        kind = spec.column(col).type
        bounds = (f" or lie outside {schema.DATE_MIN.year}-{schema.DATE_MAX.year}"
                  if kind in ("date", "timestamp") else "")
        label, shown_rows = ds.column_label(name, col), _describe_rows(ex, labels=ds.field_names.get(name))
        description = (DESCRIPTIONS[2].format(kind=kind, first=schema.DATE_MIN.year, last=schema.DATE_MAX.year)
                       if bounds else DESCRIPTIONS[1].format(kind=kind))
        out.append(Finding(
            "unparsable_value", "schema", name, col, n,
            f"{ds.source_of(name)}: column {label} has {n:,} value{'s' if n != 1 else ''} that "
            f"{'do' if n != 1 else 'does'} not parse as {kind}{bounds} (first: {shown_rows}); "
            f"rows need a valid {ds.field_name(name, col)} to be used" if spec.column(col).required else
            f"{ds.source_of(name)}: column {label} has {n:,} value{'s' if n != 1 else ''} that "
            f"{'do' if n != 1 else 'does'} not parse as {kind}{bounds} (first: {shown_rows}); "
            "reports treat them as empty",
            ex,
            description=description,
        ))
    return out


# --------------------------------------------------------------------------- quality
@dataclass(frozen=True)
class QualityCheck:
    """A named quality check: ``run(ds, as_of) -> (count, offending)``.

    ``count`` is computed in the engine; ``offending()`` builds the expression
    of the offending rows with their ``row`` number (only called when count > 0,
    because numbering rows is a window over the whole table).
    """

    name: str
    tables: tuple[str, ...]
    columns: dict[str, tuple[str, ...]]
    description: str
    run: Callable[[Dataset, _dt.date], tuple[int, Any]]


def _duplicates(name: str, keys: tuple[str, ...]):
    def run(ds, as_of):
        t = ds.canonical_table(name)
        counts = t.group_by(list(keys)).aggregate(_n=t.count())
        dup = counts.filter(counts._n > 1)
        surplus = _count((dup._n - 1).sum())
        return surplus, lambda: _with_rownum(t).semi_join(dup, list(keys))
    return run


def _rows_where(name: str, predicate: Callable[[Any, _dt.date], Any]):
    def run(ds, as_of):
        t = ds.canonical_table(name)
        n = _count(t.filter(predicate(t, as_of)).count())
        return n, lambda: (lambda u: u.filter(predicate(u, as_of)))(_with_rownum(t))
    return run


def _unknown_customers(ds, as_of):
    c = ds.canonical_table("customers").select("customer_id").distinct()

    def rows(o):
        return o.filter(o.customer_id.notnull()).anti_join(c, "customer_id")

    o = ds.canonical_table("orders")
    return _count(rows(o).count()), lambda: rows(_with_rownum(o))


def _stage_history_out_of_order(ds, as_of):
    """Opportunities whose history starts before its first stage, enters a stage before the
    opportunity was created, or records a stage after its closing (won/lost) row."""
    sh = ds.canonical_table("stage_history")
    first = schema.STAGES[0]
    closing = list(schema.CLOSED_STAGES)
    per = sh.group_by("opportunity_id").aggregate(
        first_entry=sh.entered_at.min(),
        last_entry=sh.entered_at.max(),
        first_stage_at=sh.entered_at.min(where=sh.stage == first),
        closed_at=sh.entered_at.max(where=sh.stage.isin(closing)),
    )
    bad = (per.first_stage_at.notnull() & (per.first_entry < per.first_stage_at)) | (
        per.closed_at.notnull() & (per.closed_at < per.last_entry)
    )
    if ds.has_columns("opportunities", ["opportunity_id", "created_at"]):
        opp = ds.canonical_table("opportunities").select("opportunity_id", "created_at")
        per = per.left_join(opp, "opportunity_id").select(per, opp.created_at)
        bad = (per.first_stage_at.notnull() & (per.first_entry < per.first_stage_at)) | (
            per.closed_at.notnull() & (per.closed_at < per.last_entry)
        ) | (per.created_at.notnull() & (per.first_entry < per.created_at))
    bad_opps = per.filter(bad).select("opportunity_id")
    n = _count(bad_opps.count())
    return n, lambda: _with_rownum(sh).semi_join(bad_opps, "opportunity_id").order_by(["opportunity_id", ROW])


_HTML_RE = r"<\s*/?\s*[A-Za-z!]"


def _html_names(ds, as_of):
    t = ds.canonical_table("customers")
    n = _count(t.filter(t.name.re_search(_HTML_RE)).count())
    return n, lambda: (lambda u: u.filter(u.name.re_search(_HTML_RE)))(_with_rownum(t))


QUALITY_CHECKS: list[QualityCheck] = [
    QualityCheck("duplicate_order_lines", ("orders",), {"orders": ("order_id", "line_no")},
                 N_("order lines repeated with the same order_id and line_no (surplus copies; reports drop exact copies)"),
                 _duplicates("orders", ("order_id", "line_no"))),
    QualityCheck("nonpositive_revenue", ("orders",), {"orders": ("revenue",)},
                 N_("order lines with zero or negative revenue"),
                 _rows_where("orders", lambda t, d: t.revenue <= 0)),
    QualityCheck("future_order_dates", ("orders",), {"orders": ("order_date",)},
                 N_("order lines dated after the as-of date"),
                 _rows_where("orders", lambda t, d: t.order_date > d)),
    QualityCheck("future_stage_history_dates", ("stage_history",), {"stage_history": ("entered_at",)},
                 N_("stage history rows entered after the as-of date"),
                 _rows_where("stage_history", lambda t, d: t.entered_at.date() > d)),
    QualityCheck("future_invoice_dates", ("invoices",), {"invoices": ("invoice_date",)},
                 N_("invoices dated after the as-of date (due dates may lie ahead)"),
                 _rows_where("invoices", lambda t, d: t.invoice_date > d)),
    QualityCheck("future_survey_dates", ("surveys",), {"surveys": ("survey_date",)},
                 N_("surveys dated after the as-of date"),
                 _rows_where("surveys", lambda t, d: t.survey_date > d)),
    QualityCheck("future_interaction_dates", ("interactions",), {"interactions": ("occurred_at",)},
                 N_("interactions that occurred after the as-of date"),
                 _rows_where("interactions", lambda t, d: t.occurred_at.date() > d)),
    QualityCheck("unknown_customer_orders", ("orders", "customers"), {"orders": ("customer_id",), "customers": ("customer_id",)},
                 N_("order lines whose customer_id is not in customers (empty ids are null-key errors)"),
                 _unknown_customers),
    QualityCheck("duplicate_customer_ids", ("customers",), {"customers": ("customer_id",)},
                 N_("customers listed more than once (surplus copies; reports drop exact copies, conflicting copies stop a run)"),
                 _duplicates("customers", ("customer_id",))),
    QualityCheck("duplicate_product_ids", ("products",), {"products": ("product_id",)},
                 N_("products listed more than once (surplus copies; reports drop exact copies, conflicting copies stop a run)"),
                 _duplicates("products", ("product_id",))),
    QualityCheck("duplicate_rep_ids", ("reps",), {"reps": ("rep_id",)},
                 N_("reps listed more than once (surplus copies; reports drop exact copies, conflicting copies stop a run)"),
                 _duplicates("reps", ("rep_id",))),
    QualityCheck("duplicate_opportunity_ids", ("opportunities",), {"opportunities": ("opportunity_id",)},
                 N_("opportunities listed more than once (surplus copies; reports drop exact copies, conflicting copies stop a run)"),
                 _duplicates("opportunities", ("opportunity_id",))),
    QualityCheck("duplicate_invoice_ids", ("invoices",), {"invoices": ("invoice_id",)},
                 N_("invoices listed more than once (surplus copies; reports drop exact copies, conflicting copies stop a run)"),
                 _duplicates("invoices", ("invoice_id",))),
    QualityCheck("opportunities_closed_before_created", ("opportunities",), {"opportunities": ("created_at", "closed_at")},
                 N_("opportunities closed before they were created"),
                 _rows_where("opportunities", lambda t, d: t.closed_at < t.created_at)),
    QualityCheck("stage_history_out_of_order", ("stage_history",), {"stage_history": ("opportunity_id", "stage", "entered_at")},
                 N_("opportunities whose stage history is out of time order (a stage entered before the first "
                 "stage or before the opportunity was created, or after the deal closed)"),
                 _stage_history_out_of_order),
    QualityCheck("overpaid_invoices", ("invoices",), {"invoices": ("amount", "paid_amount")},
                 N_("invoices paid more than invoiced (by more than half a cent)"),
                 _rows_where("invoices", lambda t, d: t.paid_amount > t.amount + 0.005)),
    QualityCheck("invoices_due_before_issued", ("invoices",), {"invoices": ("invoice_date", "due_date")},
                 N_("invoices due before their invoice date"),
                 _rows_where("invoices", lambda t, d: t.due_date < t.invoice_date)),
    QualityCheck("csat_out_of_range", ("surveys",), {"surveys": ("csat",)},
                 N_("survey CSAT scores outside 1-5"),
                 _rows_where("surveys", lambda t, d: (t.csat < 1) | (t.csat > 5))),
    QualityCheck("nps_out_of_range", ("surveys",), {"surveys": ("nps",)},
                 N_("survey NPS scores outside 0-10"),
                 _rows_where("surveys", lambda t, d: (t.nps < 0) | (t.nps > 10))),
    QualityCheck("html_in_customer_names", ("customers",), {"customers": ("name",)},
                 N_("customer names containing HTML/script markup (reports escape them)"),
                 _html_names),
]


def exclusion_findings(ds: Dataset) -> list[Finding]:
    """Numbers that are not finite (NaN, inf, -inf) or implausibly large (magnitude
    ``schema.MAX_ABS_NUMBER`` or more), per table and column: quality problems
    ``nonfinite_values`` / ``implausible_values``, from the same engine counts as the
    rows :meth:`Dataset.table` leaves out (reports state them too)."""
    out = []
    usable = [t for t in ds.tables if t not in ds.type_errors]
    for e in ds.exclusions(usable):
        if e["check"] not in ("nonfinite_values", "implausible_values"):
            continue
        name, col = e["table"], e["column"]
        t = _with_rownum(ds.canonical_table(name))
        ex = _examples(t.filter(t[ROW].isin(e["examples"])), _key_columns(name, t, [col]))
        ex[col] = ex[col].astype(object).map(repr)  # nan / inf / 1e+300 as text (JSON has no NaN)
        n = e["rows"]
        out.append(Finding(
            e["check"], "quality", name, col, n,
            f"{ds.source_of(name)}: {n:,} row{'s' if n != 1 else ''}: {_bare_label(ds, name, col)} "
            f"{e['reason']}; reports leave {'these rows' if n != 1 else 'this row'} out "
            f"(first: {_describe_rows(ex, labels=ds.field_names.get(name))})",
            ex,
            description=DESCRIPTIONS[3].format(column=col, reason=e['reason']),
        ))
    return out


def conflicting_key_findings(ds: Dataset) -> list[Finding]:
    """Tables whose key must be unique (``schema.Table.unique_key``) with rows sharing a key
    but differing in other values: schema errors ``conflicting_keys`` (a run stops on
    them with :class:`salesbench.core.dataset.DuplicateKeys`)."""
    out = []
    for err in ds.key_conflicts([t for t in ds.tables if t not in ds.type_errors]):
        ex = pd.DataFrame([{ROW: r, **dict(zip(err.key, vals))} for vals, rows in err.examples for r in rows])
        out.append(Finding(
            "conflicting_keys", "schema", err.table, ", ".join(err.key), err.n_keys, str(err), ex,
            description=DESCRIPTIONS[4].format(key=", ".join(err.key)),
        ))
    return out


def unknown_stages(ds: Dataset, stages: list[str] | tuple[str, ...] | None = None) -> pd.DataFrame:
    """Stage names in ``stage_history.stage`` and ``opportunities.stage`` that are not funnel stages.

    ``stages`` is the funnel's ``stages`` parameter (default: the canonical
    :data:`salesbench.core.schema.STAGES`, the default of ``params/funnel.yaml``);
    ``won`` and ``lost`` are always known. Returns one row per unknown name, most rows
    first: ``table, column, stage, rows, first_row`` (counted in the engine; empty
    frame when every name is known or the tables are absent). The funnel ignores
    these rows; the fix is to add them to ``stages`` or map them in a source spec.
    """
    if stages is None:
        stages = schema.STAGES
    # matched as the funnel matches them (funnel.load_deals): case-insensitive, surrounding spaces ignored
    known = sorted({str(s).strip().lower() for s in [*stages, *schema.CLOSED_STAGES]})
    frames = []
    for name in ("stage_history", "opportunities"):
        if not ds.has_columns(name, ["stage"]) or "stage" in ds.type_errors.get(name, {}):
            continue
        t = _with_rownum(ds.canonical_table(name))
        bad = t.filter(t.stage.notnull() & ~t.stage.strip().lower().isin(known))
        agg = bad.group_by("stage").aggregate(rows=bad.count(), first_row=bad[ROW].min()).to_pandas()
        if not agg.empty:
            agg.insert(0, "column", "stage")
            agg.insert(0, "table", name)
            frames.append(agg)
    cols = ["table", "column", "stage", "rows", "first_row"]
    if not frames:
        return pd.DataFrame(columns=cols)
    out = pd.concat(frames, ignore_index=True)[cols]
    out["rows"] = out["rows"].astype(int)
    out["first_row"] = out["first_row"].astype(int)
    return out.sort_values(["table", "rows", "stage"], ascending=[False, False, True]).reset_index(drop=True)


#: The fix named by every unknown-stage message.
STAGES_FIX = ("add them to the `stages` parameter of params/funnel.yaml (or -p stages=[...]) "
              "or map them onto known stages in a source spec")


def unknown_stage_findings(ds: Dataset, stages=None) -> list[Finding]:
    """Quality problems ``unknown_stages``: one per table whose stage names the funnel does not know."""
    frame = unknown_stages(ds, stages)
    out = []
    for name, g in frame.groupby("table", sort=False):
        n = int(g["rows"].sum())
        names = ", ".join(f"{s!r} ({r:,})" for s, r in zip(g.stage.head(8), g["rows"].head(8)))
        more = f" and {len(g) - 8} more" if len(g) > 8 else ""
        out.append(Finding(
            "unknown_stages", "quality", name, "stage", n,
            f"{ds.source_of(name)}: {n:,} row{'s' if n != 1 else ''} with {len(g)} stage name"
            f"{'s' if len(g) != 1 else ''} the funnel does not know: {names}{more}; the funnel ignores them: "
            f"{STAGES_FIX}",
            g.rename(columns={"first_row": ROW})[[ROW, "stage", "rows"]].head(N_EXAMPLES).reset_index(drop=True),
            description=N_("stage names not among the funnel's stages (ignored by the funnel)"),
        ))
    return out


def quality_findings(ds: Dataset, as_of: _dt.date | None = None) -> list[Finding]:
    """Run every applicable :data:`QUALITY_CHECKS` entry on ``ds``.

    A check runs only when its tables and columns are present and of a
    convertible type. ``as_of`` (default: today) is the date after which an
    order date counts as "in the future".
    """
    as_of = as_of or _dt.date.today()
    out = []
    for check in QUALITY_CHECKS:
        if not all(ds.has_columns(t, check.columns.get(t, ())) for t in check.tables):
            continue
        if any(c in ds.type_errors.get(t, {}) for t in check.tables for c in check.columns.get(t, ())):
            continue
        n, offending = check.run(ds, as_of)
        if n == 0:
            continue
        rows = offending()
        table = check.tables[0]
        cols = list(check.columns.get(table, ()))
        ex = _examples(rows, _key_columns(table, rows, cols)) if check.name != "stage_history_out_of_order" \
            else rows.select(ROW, "opportunity_id", "stage", "entered_at").limit(N_EXAMPLES).to_pandas()
        unit = "opportunities" if check.name == "stage_history_out_of_order" else "rows"
        out.append(Finding(
            check.name, "quality", table, ", ".join(cols) or None, n,
            f"{ds.source_of(table)}: {n:,} {unit}: {check.description} "
            f"(first: {_describe_rows(ex, labels=ds.field_names.get(table))})",
            ex,
            description=check.description,
        ))
    return out


def validate(
    ds: Dataset, strict: bool = False, as_of: _dt.date | str | None = None, raise_on_error: bool = False
) -> ValidationReport:
    """Validate the data set ``ds`` (open a source with :func:`salesbench.io.sources.open_data`).

    Returns a :class:`ValidationReport` with schema errors and quality problems.
    Quality checks run on tables without schema errors in the columns they use.
    ``strict`` makes quality problems fatal (``report.ok`` False);
    ``raise_on_error`` raises :class:`SchemaError` when the report is not ok.
    """
    as_of = _dt.date.fromisoformat(as_of) if isinstance(as_of, str) else (as_of or _dt.date.today())
    findings = schema_findings(ds)
    findings += conflicting_key_findings(ds)
    findings += exclusion_findings(ds)
    findings += quality_findings(ds, as_of)  # it skips checks whose columns are missing or mistyped
    findings += unknown_stage_findings(ds)
    # a source spec's dedupe rules (salesbench.io.sourcespec.Dedupe records on ds.dedupe): stated, not findings
    notes = [d.message() for d in getattr(ds, "dedupe", {}).values() if d.dropped]
    report = ValidationReport(ds.label, findings, as_of, strict, notes)
    if raise_on_error:
        report.raise_for_errors()
    return report
