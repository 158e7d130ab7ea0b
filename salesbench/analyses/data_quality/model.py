"""The data-quality report (the first report of every run): :class:`DataQuality`.

``DataQuality(as_of=..., strict=...).fit(ds)`` gathers, for one
:class:`~salesbench.core.dataset.Dataset`:

* the summary tables of :mod:`.summaries` — rows and columns per table, date
  coverage, missing values (one aggregate query per table in the engine);
* the findings of :func:`salesbench.core.validate.validate` — schema errors and
  quality problems with counts and example rows;
* the rows every report leaves out (:meth:`salesbench.core.dataset.Dataset.exclusions`).

Wording, tables and publishing are in :mod:`.report`, the coverage chart in
:mod:`.plots`. Example rows are data: display them with
:func:`salesbench.viz.show_table`, which escapes them (customer names may
carry markup).
"""
from __future__ import annotations

import datetime as _dt
from typing import Any

import pandas as pd

from salesbench.analyses.base import Analysis
from salesbench.analyses.data_quality.summaries import date_coverage, missing_values, table_overview  # noqa: F401
from salesbench.core.dataset import Dataset
from salesbench.io.sources import open_data
from salesbench.core.validate import validate


class DataQuality(Analysis):
    """Everything the data-quality report shows; parameters are the keys of ``params/data_quality.yaml``.

    Learned: ``label_``, ``overview_``, ``coverage_``, ``missing_``,
    ``validation_`` (a :class:`~salesbench.core.validate.ValidationReport`),
    ``exclusions_``, ``findings_``, ``rows_with_problems_``, ``examples_``.
    Never raises for bad data: every problem is a finding.
    """

    name = "data_quality"

    def __init__(self, as_of: _dt.date | str | None = None, strict: bool = False):
        self.as_of = as_of
        self.strict = strict

    def fit(self, ds: Dataset) -> "DataQuality":
        """Validate ``ds`` and compute the summary tables; returns ``self``."""
        self.label_ = ds.label
        self.validation_ = validate(ds, strict=self.strict, as_of=self.as_of)
        self.exclusions_: list[dict[str, Any]] = ds.exclusions([t for t in ds.tables if t not in ds.type_errors])
        self.overview_ = table_overview(ds)
        self.coverage_ = date_coverage(ds)
        self.missing_ = missing_values(ds)
        self.findings_ = self._findings()
        self.rows_with_problems_ = int(sum(f.rows for f in self.validation_.findings))
        self.examples_ = self._examples()
        return self

    def _findings(self) -> pd.DataFrame:
        """One row per finding: status (red = schema error, amber = quality problem), severity,
        check, table, column, rows, description."""
        df = self.validation_.table()
        df.insert(0, "status", df.severity.map({"schema": "red", "quality": "amber"}))
        return df

    def _examples(self) -> list[tuple[str, pd.DataFrame]]:
        """``[(title, first offending rows)]`` for each finding that has examples."""
        return [
            (f"{f.check} — {f.table}" + (f".{f.column}" if f.column else "") + f" ({f.rows:,} rows)", f.examples)
            for f in self.validation_.findings
            if not f.examples.empty
        ]

    def results(self) -> dict[str, Any]:
        """The values of ``data_quality.results.json``.

        ``verdict``, ``status_light``, ``schema_errors`` and ``quality_problems``
        (counts), ``defects`` ({check: rows}), ``schema_error_checks``
        ({table.column:check: rows}), ``row_counts`` ({table: rows}), ``as_of``,
        ``table_names``, ``excluded_rows`` (the rows reports leave out).
        """
        v = self.validation_
        return {
            "verdict": v.verdict(),
            "status_light": v.status(),
            "schema_errors": len(v.schema_errors),
            "quality_problems": len(v.quality_problems),
            "defects": {k: int(n) for k, n in v.defect_counts().items()},
            "schema_error_checks": {f"{f.table}.{f.column or ''}:{f.check}": int(f.rows) for f in v.schema_errors},
            "row_counts": {t: int(n) for t, n in zip(self.overview_.table, self.overview_["rows"])},
            "as_of": v.as_of.isoformat(),
            "table_names": list(self.overview_.table),
            "excluded_rows": self.exclusions_,
        }


def assess(source: Dataset | str, as_of: _dt.date | str | None = None, strict: bool = False) -> DataQuality:
    """The fitted :class:`DataQuality` of ``source`` (a Dataset or any :func:`~salesbench.io.sources.open_data` source)."""
    return DataQuality(as_of=as_of, strict=strict).fit(open_data(source))
