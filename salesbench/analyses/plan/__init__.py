"""The ``plan`` analysis (notebook ``notebooks/plan.ipynb``): see ``model.py``."""

#: modules the default path of this analysis imports inside functions (the plan's forecasts (the forecasting analysis' models)); the run's kernel zygote
#: imports them once for all kernels (:mod:`salesbench.report.zygote`)
PRELOAD: tuple[str, ...] = ("statsforecast", "statsforecast.models", "hierarchicalforecast.core", "hierarchicalforecast.methods",
           "hierarchicalforecast.utils")
