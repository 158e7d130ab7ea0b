"""The ``plan`` analysis (notebook ``notebooks/plan.ipynb``): see ``model.py``."""

#: modules its default path imports inside functions (the forecasting analysis' models): the run's kernel zygote
#: imports them once for every kernel (:mod:`salesbench.report.zygote`)
PRELOAD: tuple[str, ...] = (
    "statsforecast", "statsforecast.models", "hierarchicalforecast.core", "hierarchicalforecast.methods",
    "hierarchicalforecast.utils", "scipy.stats",
)
