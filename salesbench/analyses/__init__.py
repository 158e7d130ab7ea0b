"""One sub-package per report: ``analyses/<name>/`` with ``model.py`` (the :class:`~salesbench.analyses.base.Analysis`),
step modules, ``report.py`` (cards, sentences, table views, publish) and ``plots.py`` (figures).

:data:`ANALYSES` maps each notebook name to its analysis class (imported on first use).
"""
from __future__ import annotations

import importlib

#: notebook name -> "module:Class" of its analysis
ANALYSES = {
    "data_quality": "salesbench.analyses.data_quality.model:DataQuality",
    "segmentation": "salesbench.analyses.segmentation.model:Segmentation",
    "funnel": "salesbench.analyses.funnel.model:Funnel",
    "forecasting": "salesbench.analyses.forecasting.model:SalesForecast",
    "churn": "salesbench.analyses.churn.model:Churn",
    "performance": "salesbench.analyses.performance.model:PerformanceReview",
    "plan": "salesbench.analyses.plan.model:SalesPlan",
}


def get(name: str):
    """The analysis class of notebook ``name`` (e.g. ``get("funnel")`` → ``Funnel``)."""
    module, _, attr = ANALYSES[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def report_module(name: str):
    """``salesbench.analyses.<name>.report``: headline cards, sentences, table views, publish."""
    return importlib.import_module(f"salesbench.analyses.{name}.report")
