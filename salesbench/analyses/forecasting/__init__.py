"""The ``forecasting`` analysis (notebook ``notebooks/forecasting.ipynb``): see ``model.py``."""

#: modules its default path imports inside functions (the models, the reconciliation, P(reach target)): the run's
#: kernel zygote imports them once for every kernel (:mod:`salesbench.report.zygote`)
PRELOAD: tuple[str, ...] = (
    "statsforecast", "statsforecast.models", "hierarchicalforecast.core", "hierarchicalforecast.methods",
    "hierarchicalforecast.utils", "scipy.stats",
)
