"""Data-quality report: headline cards, sentences, table views, publishing.

All wording of the report lives here. Views return escaped HTML tables
(:func:`salesbench.viz.show_table`, example rows are data) with the report's
formats, or the sentence that stands in for an empty table.
"""
from __future__ import annotations

from typing import Any

from salesbench import viz
from salesbench.analyses.data_quality.model import DataQuality
from salesbench.core import schema
from salesbench.core.dataset import exclusion_sentence

FINDING_FORMATS = {"rows": viz.fmt_num}
OVERVIEW_FORMATS = {"rows": viz.fmt_num}
COVERAGE_FORMATS = {"first": "%Y-%m-%d", "last": "%Y-%m-%d", "filled": viz.fmt_num}
MISSING_FORMATS = {"missing": viz.fmt_num, "rows": viz.fmt_num, "missing_share": lambda v: viz.fmt_pct(v, 1)}
#: rows of the missing-values table shown in the report (the full table is data_quality.missing_values.csv)
MISSING_ROWS = 60


def _order_lines(model: DataQuality) -> int:
    return int(model.overview_.loc[model.overview_.table == "orders", "rows"].sum())


# --------------------------------------------------------------------------- words
def headline_cards(model: DataQuality) -> list[dict[str, Any]]:
    """KPI cards: verdict, tables, order lines, order date range, missing values."""
    v = model.validation_
    cov = model.coverage_[(model.coverage_.table == "orders") & (model.coverage_.column == "order_date")]
    span = "–"
    if not cov.empty and cov["first"].notna().iloc[0]:
        span = f"{cov['first'].iloc[0]:%Y-%m-%d} → {cov['last'].iloc[0]:%Y-%m-%d}"
    missing = model.missing_
    req_missing = int(missing.loc[missing.required, "missing"].sum()) if not missing.empty else 0
    n = model.rows_with_problems_
    return [
        {"label": "Verdict", "value": v.verdict(), "status": v.status(),
         "sub": f"{n:,} row{'s' if n != 1 else ''} affected" if v.findings else "data fit to use"},
        {"label": "Tables", "value": f"{len(model.overview_)} of {len(schema.TABLE_NAMES)}",
         "sub": ", ".join(model.overview_.table)},
        {"label": "Order lines", "value": viz.fmt_num(_order_lines(model))},
        {"label": "Order dates", "value": span},
        {"label": "Empty required values", "value": viz.fmt_num(req_missing),
         "status": "green" if req_missing == 0 else "red"},
    ]


def sentences(model: DataQuality) -> list[str]:
    """Two or three plain sentences with the numbers, then one per excluded-rows note (escape when rendering)."""
    v = model.validation_
    n_rows = int(model.overview_["rows"].sum())
    s = [f"{model.label_}: {len(model.overview_)} tables with {n_rows:,} rows in total were checked "
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
    s += [exclusion_sentence(e) for e in model.exclusions_]
    return s


def narrative_view(model: DataQuality) -> viz.HTML:
    """The sentences as a note, or as a warning when there are findings."""
    return viz.narrative(*sentences(model), warning=bool(model.validation_.findings))


# --------------------------------------------------------------------------- tables
def findings_view(model: DataQuality) -> viz.HTML:
    """One row per finding with its status colour, or the sentence saying there is none."""
    if not len(model.findings_):
        return viz.narrative("No schema error and no quality problem found.")
    return viz.show_table(model.findings_, formats=FINDING_FORMATS, status_col="status")


def examples_view(model: DataQuality) -> viz.HTML:
    """The first offending rows of each finding, one escaped table per finding (captioned), in one block."""
    return viz.HTML("".join(str(viz.show_table(rows, caption=title)) for title, rows in model.examples_))


def overview_view(model: DataQuality) -> viz.HTML:
    """Rows and columns per table, and where each came from."""
    return viz.show_table(model.overview_, formats=OVERVIEW_FORMATS)


def coverage_view(model: DataQuality) -> viz.HTML:
    """First and last date of every date column."""
    return viz.show_table(model.coverage_, formats=COVERAGE_FORMATS)


def missing_view(model: DataQuality) -> viz.HTML:
    """Empty values per canonical column; columns with none are left out."""
    m = model.missing_
    return viz.show_table(m[m.missing > 0], formats=MISSING_FORMATS, max_rows=MISSING_ROWS)


# --------------------------------------------------------------------------- figures
def figure_inputs(model: DataQuality) -> dict[str, tuple[tuple, dict]]:
    """``{plot function name: (args, kwargs)}`` for every figure of the report."""
    return {"plot_coverage": ((model.coverage_,), {"as_of": model.validation_.as_of})}


# --------------------------------------------------------------------------- publishing
def publish(model: DataQuality, res) -> None:
    """Put the figures into ``res`` (a :class:`salesbench.report.results.Results`) and save it.

    Values: :meth:`DataQuality.results`. Headline: verdict, order lines, rows
    affected. Tables: ``findings``, ``row_counts``, ``date_coverage``, ``missing_values``.
    """
    v = model.validation_
    res.set(**model.results())
    res.headline("Verdict", len(v.findings), v.verdict())
    n_orders = _order_lines(model)
    res.headline("Order lines", n_orders, viz.fmt_num(n_orders))
    res.headline("Rows affected", model.rows_with_problems_, viz.fmt_num(model.rows_with_problems_))
    res.table("findings", model.findings_)
    res.table("row_counts", model.overview_)
    res.table("date_coverage", model.coverage_)
    res.table("missing_values", model.missing_)
    res.save()
