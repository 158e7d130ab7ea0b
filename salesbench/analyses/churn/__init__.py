"""The ``churn`` analysis (notebook ``notebooks/churn.ipynb``): see ``model.py``."""

#: modules its default path imports inside functions (sampler, MAP, predictions, the early-warning AUC), and
#: :mod:`salesbench.core.jit` (compiles ArviZ's R-hat helper): the run's kernel zygote imports them once for every
#: kernel (:mod:`salesbench.report.zygote`)
PRELOAD: tuple[str, ...] = (
    "arviz", "nutpie", "nutpie.compiled_pyfunc", "scipy.optimize", "scipy.special", "scipy.stats",
    "sklearn.metrics", "salesbench.core.jit",
)
