"""salesbench — a sales-analytics workbench.

Notebooks in ``notebooks/`` call into this package; so do the scheduler (via
``salesbench run``) and the tests, so all three run the same code.

Sub-modules are imported on first use (``sb.viz``, ``sb.params``, ...), so the
command line starts quickly; ``sb.open_data`` and ``sb.Dataset`` come from
:mod:`salesbench.data`.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = {
    "params", "results", "schema", "viz", "data", "demo", "datasets", "validate", "quality", "sourcespec",
    "runner", "segmentation", "funnel", "forecasting", "churn", "performance",
}
_FROM_DATA = {"open_data", "Dataset", "MissingTables", "DataError"}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _FROM_DATA:
        return getattr(importlib.import_module(f"{__name__}.data"), name)
    raise AttributeError(f"module 'salesbench' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES | _FROM_DATA)
