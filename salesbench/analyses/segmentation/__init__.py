"""The ``segmentation`` analysis (notebook ``notebooks/segmentation.ipynb``): see ``model.py``."""

#: modules its default path imports inside functions (k-means, the silhouettes): the run's kernel zygote imports
#: them once for every kernel (:mod:`salesbench.report.zygote`)
PRELOAD: tuple[str, ...] = ("sklearn.cluster", "sklearn.metrics", "sklearn.preprocessing")
