"""The ``performance`` analysis (notebook ``notebooks/performance.ipynb``): see ``model.py``."""

#: modules the default path of this analysis imports inside functions (nothing beyond the notebook's imports); the run's kernel zygote
#: imports them once for all kernels (:mod:`salesbench.report.zygote`)
PRELOAD: tuple[str, ...] = ()
