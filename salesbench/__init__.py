"""salesbench — a sales-analytics workbench.

Notebooks in ``notebooks/`` call into this package; so do the scheduler (via
``salesbench run``) and the tests, so all three run the same code.

Layers, each importing only itself and the ones before it (``tests/test_architecture.py``
walks the imports and fails on an upward import or a cycle):

1. ``core`` — schema, the Dataset type, validation, secrets (URL redaction, output
   scrubbing), the whole exception hierarchy (``core.errors``);
2. ``datasets`` — the demo company generator and the public data loaders (CDNOW,
   Superstore): they write and find files, and need nothing from ``io``;
3. ``io`` — opening sources (``io.sources.open_data``; kinds: demo, database URL,
   source spec, DuckDB file, folder), which calls ``datasets`` for ``demo`` and a
   spec's ``dataset:`` key; the ``salesbench validate`` command;
4. ``viz`` — formatting (``viz.format``, no matplotlib), HTML display, theme, palette;
5. ``analyses.<name>`` — one sub-package per report (they may use each other's
   modules, without cycles);
6. ``report`` — params, results, notebook start-up, runner;
7. ``cli`` (and ``__main__``).

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
