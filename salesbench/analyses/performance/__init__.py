"""The ``performance`` analysis (notebook ``notebooks/performance.ipynb``): see ``model.py``."""

#: modules its default path imports inside functions (the rank correlations): the run's kernel zygote imports them
#: once for every kernel (:mod:`salesbench.report.zygote`)
PRELOAD: tuple[str, ...] = ("scipy.stats",)
