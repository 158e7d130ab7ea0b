"""salesbench — a sales-analytics workbench.

Notebooks in ``notebooks/`` call into this package; so do the scheduler (via
``salesbench run``) and the tests, so all three run the same code.

Layers, each importing only the ones before it:
``core`` (schema, Dataset, validation, secrets, errors) ← ``io`` (opening sources) ←
``datasets`` (demo company, public data) ← ``viz`` (formatting, display, theme) ←
``analyses.<name>`` (one sub-package per report) ← ``report`` (params, results,
notebook start-up, runner) ← ``cli``.

Sub-packages are imported on first use (``sb.viz``, ``sb.params``, ...), so the
command line starts quickly.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: short name -> module, for ``sb.<name>`` in notebooks and the shell
_MODULES = {
    "core": "salesbench.core", "io": "salesbench.io", "datasets": "salesbench.datasets",
    "viz": "salesbench.viz", "analyses": "salesbench.analyses", "report": "salesbench.report",
    "params": "salesbench.report.params", "results": "salesbench.report.results",
    "schema": "salesbench.core.schema", "validate": "salesbench.core.validate",
    "demo": "salesbench.datasets.demo",
}
#: short name -> (module, attribute)
_ATTRS = {
    "open_data": ("salesbench.io.sources", "open_data"),
    "Dataset": ("salesbench.core.dataset", "Dataset"),
    "MissingTables": ("salesbench.core.errors", "MissingTables"),
    "DataError": ("salesbench.core.errors", "DataError"),
    "start": ("salesbench.report.start", "start"),
}


def __getattr__(name: str):
    if name in _MODULES:
        return importlib.import_module(_MODULES[name])
    if name in _ATTRS:
        module, attr = _ATTRS[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'salesbench' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_MODULES) | set(_ATTRS))
