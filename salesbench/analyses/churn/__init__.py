"""The ``churn`` analysis (notebook ``notebooks/churn.ipynb``): see ``model.py``."""

#: modules the default path of this analysis imports inside functions (the numpy densities' sampler and MAP, the predictions, the early-warning AUC); the run's kernel zygote
#: imports them once for all kernels (:mod:`salesbench.report.zygote`)
PRELOAD: tuple[str, ...] = ("arviz", "nutpie", "nutpie.compiled_pyfunc", "scipy.optimize", "scipy.special", "sklearn.metrics")
