"""The ``plan`` analysis (notebook ``notebooks/plan.ipynb``): see ``model.py``."""
from salesbench.analyses.forecasting import PRELOAD as _FORECASTING_PRELOAD

#: modules its default path imports inside functions (the forecasting analysis' models, so forecasting's list): the
#: run's kernel zygote imports them once for every kernel (:mod:`salesbench.report.zygote`)
PRELOAD: tuple[str, ...] = _FORECASTING_PRELOAD
