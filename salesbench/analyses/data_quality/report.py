"""Data-quality report: headline cards, sentences, table views, publishing.

All wording of the report lives here. Views return escaped HTML tables
(:func:`salesbench.viz.show_table`, example rows are data) with the report's
formats, or the sentence that stands in for an empty table.

Words are in the report's language (:mod:`salesbench.core.i18n`, catalog
``salesbench/locale/<ll_CC>/LC_MESSAGES/data_quality.po``): cards, sentences, table
views, labels and figure texts. What is stored — ``results.json``, the
CSV exports, the index headline labels and texts — stays English.
"""
from __future__ import annotations

import re
from typing import Any

from salesbench import viz
from salesbench.analyses.data_quality.model import DataQuality
from salesbench.core import schema, validate
from salesbench.core.dataset import data_label_text, exclusion_sentence
from salesbench.core.i18n import NP_, get_language, messages

_, ngettext, pgettext = messages(__name__).functions()
_label = messages(__name__).label

FINDING_FORMATS = {"rows": viz.fmt_num}
OVERVIEW_FORMATS = {"rows": viz.fmt_num}
COVERAGE_FORMATS = {"first": "%Y-%m-%d", "last": "%Y-%m-%d", "filled": viz.fmt_num}
MISSING_FORMATS = {"missing": viz.fmt_num, "rows": viz.fmt_num, "missing_share": lambda v: viz.fmt_pct(v, 1)}
#: rows of the missing-values table shown in the report (the full table is data_quality.missing_values.csv)
MISSING_ROWS = 60

#: the words of the findings a reader sees, marked for the catalogs: statuses, severities, the check names and
#: the fixed descriptions of :mod:`salesbench.core.validate` (a description the catalog does not know is shown
#: as written). Table and column names are identifiers (what to fix in the data) and stay as they are.
LABELS = (
    NP_("status", "green"), NP_("status", "amber"), NP_("status", "red"),
    NP_("severity", "schema"), NP_("severity", "quality"),
    NP_("check", "missing_table"), NP_("check", "empty_table"), NP_("check", "missing_column"),
    NP_("check", "wrong_type"), NP_("check", "null_key"), NP_("check", "schema"), NP_("check", "unparsable_value"),
    NP_("check", "conflicting_keys"), NP_("check", "unknown_stages"), NP_("check", "nonfinite_values"),
    NP_("check", "implausible_values"), NP_("check", "required_value_missing"), NP_("check", "future_dates"),
    NP_("check", "duplicate_order_lines"), NP_("check", "nonpositive_revenue"), NP_("check", "future_order_dates"),
    NP_("check", "future_stage_history_dates"), NP_("check", "future_invoice_dates"),
    NP_("check", "future_survey_dates"), NP_("check", "future_interaction_dates"),
    NP_("check", "unknown_customer_orders"), NP_("check", "duplicate_customer_ids"),
    NP_("check", "duplicate_product_ids"), NP_("check", "duplicate_rep_ids"),
    NP_("check", "duplicate_opportunity_ids"), NP_("check", "duplicate_invoice_ids"),
    NP_("check", "opportunities_closed_before_created"), NP_("check", "stage_history_out_of_order"),
    NP_("check", "overpaid_invoices"), NP_("check", "invoices_due_before_issued"), NP_("check", "csat_out_of_range"),
    NP_("check", "nps_out_of_range"), NP_("check", "html_in_customer_names"),
    NP_("finding", "required table is missing"), NP_("finding", "the table has no rows"),
    NP_("finding", "required column is missing"), NP_("finding", "required column is empty"),
    NP_("finding", "stage names not among the funnel's stages (ignored by the funnel)"),
    NP_("finding", "order lines repeated with the same order_id and line_no (surplus copies; reports drop exact "
                   "copies)"),
    NP_("finding", "order lines with zero or negative revenue"),
    NP_("finding", "order lines dated after the as-of date"),
    NP_("finding", "stage history rows entered after the as-of date"),
    NP_("finding", "invoices dated after the as-of date (due dates may lie ahead)"),
    NP_("finding", "surveys dated after the as-of date"),
    NP_("finding", "interactions that occurred after the as-of date"),
    NP_("finding", "order lines whose customer_id is not in customers (empty ids are null-key errors)"),
    NP_("finding", "customers listed more than once (surplus copies; reports drop exact copies, conflicting copies "
                   "stop a run)"),
    NP_("finding", "products listed more than once (surplus copies; reports drop exact copies, conflicting copies "
                   "stop a run)"),
    NP_("finding", "reps listed more than once (surplus copies; reports drop exact copies, conflicting copies stop "
                   "a run)"),
    NP_("finding", "opportunities listed more than once (surplus copies; reports drop exact copies, conflicting "
                   "copies stop a run)"),
    NP_("finding", "invoices listed more than once (surplus copies; reports drop exact copies, conflicting copies "
                   "stop a run)"),
    NP_("finding", "opportunities closed before they were created"),
    NP_("finding", "opportunities whose stage history is out of time order (a stage entered before the first stage "
                   "or before the opportunity was created, or after the deal closed)"),
    NP_("finding", "invoices paid more than invoiced (by more than half a cent)"),
    NP_("finding", "invoices due before their invoice date"),
    NP_("finding", "survey CSAT scores outside 1-5"),
    NP_("finding", "survey NPS scores outside 0-10"),
    NP_("finding", "customer names containing HTML/script markup (reports escape them)"),
)
#: the shown header of every column of the report's tables (the exported CSVs keep the column names)
HEADERS = (
    NP_("column", "status"), NP_("column", "severity"), NP_("column", "check"), NP_("column", "table"),
    NP_("column", "column"), NP_("column", "rows"), NP_("column", "description"), NP_("column", "source"),
    NP_("column", "columns"), NP_("column", "canonical_columns"), NP_("column", "first"), NP_("column", "last"),
    NP_("column", "span_days"), NP_("column", "filled"), NP_("column", "required"), NP_("column", "missing"),
    NP_("column", "missing_share"), NP_("column", "row"),
)


def _order_lines(model: DataQuality) -> int:
    return int(model.overview_.loc[model.overview_.table == "orders", "rows"].sum())


def _headers(frame) -> dict[str, str]:
    """``{column: shown header}`` for :func:`salesbench.viz.show_table` (the name itself in English)."""
    return {c: pgettext("column", c) for c in frame.columns}


def check_label(check: str) -> str:
    """A check code as shown (the catalog's name for it; the code itself in English)."""
    return _label("check", check)


# --------------------------------------------------------------------------- words
def headline_cards(model: DataQuality) -> list[dict[str, Any]]:
    """KPI cards: verdict, tables, order lines, order date range, missing values."""
    v = model.validation_
    cov = model.coverage_[(model.coverage_.table == "orders") & (model.coverage_.column == "order_date")]
    span = "–"
    if not cov.empty and cov["first"].notna().iloc[0]:
        span = f"{viz.fmt_date(cov['first'].iloc[0])} → {viz.fmt_date(cov['last'].iloc[0])}"
    missing = model.missing_
    req_missing = int(missing.loc[missing.required, "missing"].sum()) if not missing.empty else 0
    n = model.rows_with_problems_
    return [
        {"label": _("Verdict"), "value": v.verdict_text(), "status": v.status(),
         "sub": ngettext("{n} row affected", "{n} rows affected", n, n=viz.fmt_num(n)) if v.findings
         else _("data fit to use")},
        {"label": _("Tables"), "value": _("{k} of {total}", k=len(model.overview_), total=len(schema.TABLE_NAMES)),
         "sub": ", ".join(model.overview_.table)},
        {"label": _("Order lines"), "value": viz.fmt_num(_order_lines(model))},
        {"label": _("Order dates"), "value": span},
        {"label": _("Empty required values"), "value": viz.fmt_num(req_missing),
         "status": "green" if req_missing == 0 else "red"},
    ]


def sentences(model: DataQuality) -> list[str]:
    """Two or three plain sentences with the numbers, then one per excluded-rows note (escape when rendering)."""
    v = model.validation_
    n_rows = int(model.overview_["rows"].sum())
    s = [_("{label}: {k} tables with {rows} rows in total were checked against the canonical schema on {date}.",
           label=data_label_text(model.label_), k=len(model.overview_), rows=viz.fmt_num(n_rows), date=viz.fmt_date(v.as_of))]
    sep = pgettext("list separator", "; ")
    if v.schema_errors:
        where = sep.join(_("{check} in {table}", check=check_label(f.check), table=_where(f))
                         for f in v.schema_errors[:3])
        s.append(_("{n} schema error(s) make the data unusable until fixed: {where}.",
                   n=len(v.schema_errors), where=where))
    if v.quality_problems:
        top = sorted(v.quality_problems, key=lambda f: -f.rows)[:3]
        largest = pgettext("list separator", ", ").join(
            _("{check} ({rows})", check=_check_words(f.check), rows=viz.fmt_num(f.rows)) for f in top)
        s.append(_("{n} quality problem(s) were found; the largest: {largest}. Reports still run; check these before "
                   "trusting totals.", n=len(v.quality_problems), largest=largest))
    if not v.findings:
        s.append(_("No schema error and no quality problem: the data is fit to use."))
    s += [exclusion_sentence(e) for e in model.exclusions_]
    return s


def _where(finding) -> str:
    """``orders.customer_id`` (or the table alone)."""
    return finding.table + ("." + finding.column if finding.column else "")


def _check_words(check: str) -> str:
    """A check in a sentence: ``duplicate order lines`` in English, the catalog's name otherwise."""
    shown = check_label(check)
    return shown if shown != check else check.replace("_", " ")


def narrative_view(model: DataQuality) -> viz.HTML:
    """The sentences as a note, or as a warning when there are findings."""
    return viz.narrative(*sentences(model), warning=bool(model.validation_.findings))


# --------------------------------------------------------------------------- tables
def findings_view(model: DataQuality) -> viz.HTML:
    """One row per finding with its status colour, or the sentence saying there is none."""
    if not len(model.findings_):
        return viz.narrative(_("No schema error and no quality problem found."))
    f = model.findings_
    frame = f.assign(description=f["description"].map(validate.description_text))
    formats = {**FINDING_FORMATS, "status": lambda x: _label("status", x), "severity": lambda x: _label("severity", x),
               "check": check_label}
    return viz.show_table(frame, formats=formats, status_col="status", headers=_headers(frame))


def examples_view(model: DataQuality) -> viz.HTML:
    """The first offending rows of each finding, one escaped table per finding (captioned), in one block."""
    with_examples = [f for f in model.validation_.findings if not f.examples.empty]  # the order of model.examples_
    row = {"row": pgettext("column", "row")}  # the other columns are the data's own (what to fix)
    return viz.HTML("".join(str(viz.show_table(rows, caption=_caption(f), headers=row))
                            for f, (_title, rows) in zip(with_examples, model.examples_)))


def _caption(finding) -> str:
    """An example table's caption: ``"null_key — orders.customer_id (1 rows)"`` (the check in the report's language)."""
    return _("{check} — {where} ({n} rows)", check=check_label(finding.check), where=_where(finding),
             n=viz.fmt_num(finding.rows))


def overview_view(model: DataQuality) -> viz.HTML:
    """Rows and columns per table, and where each came from."""
    frame = model.overview_
    formats = {**OVERVIEW_FORMATS, "canonical_columns": _k_of_n}
    return viz.show_table(frame, formats=formats, headers=_headers(frame))


def _k_of_n(text) -> str:
    """``"7 of 9"`` (canonical columns present) in the report's language."""
    m = re.fullmatch(r"(\d+) of (\d+)", str(text))
    return _("{k} of {total}", k=m[1], total=m[2]) if m else text


def _date(v) -> str:
    return viz.fmt_date(v)


def coverage_view(model: DataQuality) -> viz.HTML:
    """First and last date of every date column."""
    frame = model.coverage_
    formats = COVERAGE_FORMATS if get_language() == "en" else {**COVERAGE_FORMATS, "first": _date, "last": _date}
    return viz.show_table(frame, formats=formats, headers=_headers(frame))


def missing_view(model: DataQuality) -> viz.HTML:
    """Empty values per canonical column; columns with none are left out."""
    m = model.missing_
    frame = m[m.missing > 0]
    formats = dict(MISSING_FORMATS)
    if get_language() != "en":
        formats["required"] = lambda x: _("yes") if x else _("no")
    return viz.show_table(frame, formats=formats, max_rows=MISSING_ROWS, headers=_headers(frame))


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
    # labels: the English key, and as the index shows them; texts: as the reader sees them
    res.headline("Verdict", len(v.findings), v.verdict_text(), shown_label=_("Verdict"))
    n_orders = _order_lines(model)
    res.headline("Order lines", n_orders, viz.fmt_num(n_orders), shown_label=_("Order lines"))
    res.headline("Rows affected", model.rows_with_problems_, viz.fmt_num(model.rows_with_problems_),
                 shown_label=_("Rows affected"))
    res.table("findings", model.findings_)
    res.table("row_counts", model.overview_)
    res.table("date_coverage", model.coverage_)
    res.table("missing_values", model.missing_)
    res.save()
