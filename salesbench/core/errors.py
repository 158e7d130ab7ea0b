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
    │   └── DuplicateKeys         two rows share a key with different values
    └── ValueError
        ├── ParamError            a parameter file or value is invalid
        ├── CheckError            a rule across parameters fails (raised by an analysis' check_params)
        └── ReportSkipped         the data cannot support the report at all; the message is the reason
"""
from __future__ import annotations


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
