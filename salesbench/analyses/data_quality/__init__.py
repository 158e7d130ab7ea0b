"""The ``data_quality`` analysis (notebook ``notebooks/data_quality.ipynb``): see ``model.py``."""

#: modules its default path imports inside functions (the table checks): the run's kernel zygote imports them once
#: for every kernel (:mod:`salesbench.report.zygote`)
PRELOAD: tuple[str, ...] = ("pandera.ibis",)
