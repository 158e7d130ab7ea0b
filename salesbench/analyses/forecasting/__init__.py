"""The ``forecasting`` analysis (notebook ``notebooks/forecasting.ipynb``): see ``model.py``."""

#: modules the default path of this analysis imports inside functions (the models and the reconciliation); the run's kernel zygote
#: imports them once for all kernels (:mod:`salesbench.report.zygote`)
PRELOAD: tuple[str, ...] = ("statsforecast", "statsforecast.models", "hierarchicalforecast.core", "hierarchicalforecast.methods",
           "hierarchicalforecast.utils")
