"""The ``segmentation`` analysis (notebook ``notebooks/segmentation.ipynb``): see ``model.py``."""

#: modules the default path of this analysis imports inside functions (k-means and the silhouettes); the run's kernel zygote
#: imports them once for all kernels (:mod:`salesbench.report.zygote`)
PRELOAD: tuple[str, ...] = ("sklearn.cluster", "sklearn.metrics", "sklearn.preprocessing")
