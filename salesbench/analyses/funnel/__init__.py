"""The ``funnel`` analysis (notebook ``notebooks/funnel.ipynb``): see ``model.py``."""

#: modules the default path of this analysis imports inside functions (the pooled win rates' quadrature); the run's kernel zygote
#: imports them once for all kernels (:mod:`salesbench.report.zygote`)
PRELOAD: tuple[str, ...] = ("scipy.special",)
