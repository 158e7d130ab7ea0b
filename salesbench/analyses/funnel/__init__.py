"""The ``funnel`` analysis (notebook ``notebooks/funnel.ipynb``): see ``model.py``."""

#: modules its default path imports inside functions (the pooled win rates, the Kaplan-Meier stage durations): the
#: run's kernel zygote imports them once for every kernel (:mod:`salesbench.report.zygote`)
PRELOAD: tuple[str, ...] = ("scipy.special", "scipy.stats")
