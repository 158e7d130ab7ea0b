"""The ``data_quality`` analysis (notebook ``notebooks/data_quality.ipynb``): see ``model.py``."""

#: modules the default path of this analysis imports inside functions (the table checks (:mod:`salesbench.core.validate`)); the run's kernel zygote
#: imports them once for all kernels (:mod:`salesbench.report.zygote`)
PRELOAD: tuple[str, ...] = ("pandera.ibis",)
