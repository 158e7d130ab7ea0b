"""Every exception salesbench raises on purpose, in one place (the ``core`` layer, so any layer can raise them).

Exit status on the command line: :class:`ParamError`, :class:`CheckError` and
:class:`DataError` (bad input) → 2; a report that fails → 1;
:class:`ReportSkipped` → the report is listed as skipped with its reason (0).

Hierarchy::

    Exception
    ├── DataError                 a data source cannot be read as the canonical schema
    │   ├── SchemaError           a table breaks the schema (missing column, unparsable values)
    │   ├── MissingTables         tables an analysis needs are absent
    │   │   └── EmptyTables       ... or present with no rows
    │   ├── DuplicateKeys         two rows share a key with different values
    │   └── SpecError             a source spec (YAML) is invalid; names the spec file and the key
    └── ValueError
        ├── ExprError             a source-spec expression is not in the grammar
        ├── ParamError            a parameter file or value is invalid
        ├── CheckError            a rule across parameters fails (raised by an analysis' check_params)
        └── ReportSkipped         the data cannot support the report at all; the message is the reason

The modules that raise them re-export them (``from salesbench.core.dataset import
DataError`` and ``from salesbench.io.sourcespec import SpecError`` keep working).
"""
from __future__ import annotations

from typing import Mapping, Sequence


class DataError(Exception):
    """A data source cannot be opened or does not match the canonical schema.

    The message names the file or table, the column, how many rows and the
    first offending rows. The CLI exits with status 2 on it.
    """


class SchemaError(DataError):
    """The data does not fit the canonical schema (missing table or column,
    wrong type, unparsable value, null key). Raised by
    :func:`salesbench.core.validate.validate` with ``raise_on_error=True`` and by
    :meth:`salesbench.core.dataset.Dataset.table` for a table with a column of an unconvertible type."""


class MissingTables(DataError):
    """An analysis needs tables this data set does not have."""

    def __init__(self, missing: list[str], analysis: str | None = None):
        self.missing = list(missing)
        self.reason = "no " + " and no ".join(f"{m} table" for m in self.missing)
        who = f"The {analysis} report" if analysis else "This analysis"
        super().__init__(
            f"{who} needs the {', '.join(self.missing)} table(s), which this data set does not have: "
            f"skipped ({self.reason})."
        )


class EmptyTables(MissingTables):
    """An analysis needs a table that is present but has no rows (e.g. a header-only CSV)."""

    def __init__(self, reasons: Mapping[str, str], analysis: str | None = None):
        self.missing = list(reasons)
        self.reason = "; ".join(reasons.values())
        who = f"The {analysis} report" if analysis else "This analysis"
        DataError.__init__(self, f"{who} needs rows in {', '.join(self.missing)}: skipped ({self.reason}).")


class DuplicateKeys(DataError):
    """Rows of a table whose key must be unique share a key but differ in other values.

    Other tables are joined onto such a table by its key (orders onto products by
    ``product_id``), so a repeated key would multiply facts. Exact copies of a row
    are dropped by :meth:`salesbench.core.dataset.Dataset.table`; conflicting rows stop the analysis with
    this error. Attributes: ``source`` (file), ``table``, ``key`` (columns),
    ``n_keys`` (keys with conflicting rows), ``examples`` (``[(key values, [row numbers])]``).
    """

    def __init__(self, source: str, table: str, key: Sequence[str], n_keys: int,
                 examples: Sequence[tuple[tuple, list[int]]]):
        self.source, self.table, self.key, self.n_keys = source, table, tuple(key), int(n_keys)
        self.examples = list(examples)
        keyname = ", ".join(self.key)
        shown = "; ".join(
            f"{'/'.join(str(v) for v in vals)!r} in rows {', '.join(str(r) for r in rows)}"
            for vals, rows in self.examples
        )
        plural = "s" if self.n_keys != 1 else ""
        super().__init__(
            f"{source}: table {table} has {self.n_keys:,} {keyname} value{plural} on several rows with different "
            f"values (first: {shown}); other tables are joined on {keyname}, so it must be unique: keep one row "
            f"per {keyname} (exact copies of a row are dropped automatically)"
        )


class SpecError(DataError):
    """A source spec is invalid; the message names the spec file and the key."""


class ExprError(ValueError):
    """A source-spec expression is not in the grammar; the message names the offending part."""


class ParamError(ValueError):
    """A parameter file or value is invalid. The CLI exits with status 2.

    ``key`` is the offending parameter (or ``None``), ``source`` where its
    value came from (a file path, ``-p``, ``--data`` or the notebook).
    """

    def __init__(self, message: str, key: str | None = None, source: str | None = None):
        super().__init__(message)
        self.key = key
        self.source = source


class CheckError(ValueError):
    """Raised by an analysis' ``check_params``: ``key`` is the parameter the message is about."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


class ReportSkipped(ValueError):
    """The data cannot support the report at all (e.g. no full review period); the message is the one-line reason.

    Raised by an analysis; inside :meth:`salesbench.report.results.Results.skipping`
    it marks the run as skipped and the runner reports ``skipped: <reason>``
    instead of a failure.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
