"""viz.theme without seaborn (issue #13): the same look as ``seaborn.set_theme``, without its scipy.stats import."""
from __future__ import annotations

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from salesbench.viz.palette import ACCENT, PALETTE  # noqa: E402
from salesbench.viz.theme import SEQUENTIAL, apply_theme  # noqa: E402

#: What apply_theme sets itself after seaborn's theme (the report look); seaborn's "rocket" image.cmap is left out.
OWN_KEYS = {"figure.figsize", "figure.dpi", "savefig.dpi", "axes.titleweight", "axes.titlesize", "axes.titlelocation",
            "axes.spines.top", "axes.spines.right", "legend.frameon", "figure.autolayout", "text.parse_math",
            "text.usetex", "image.cmap"}


def test_theme_start_up_imports_neither_seaborn_nor_scipy_stats():
    code = ("import sys, matplotlib; matplotlib.use('Agg')\n"
            "from salesbench.viz.theme import apply_theme, SEQUENTIAL\n"
            "apply_theme(); SEQUENTIAL(0.5)\n"
            "print(sorted(m for m in ('seaborn', 'scipy.stats') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_theme_matches_seaborn_whitegrid_notebook():
    sns = pytest.importorskip("seaborn")
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
        seaborn_rc = dict(matplotlib.rcParams)
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        apply_theme()
        ours = dict(matplotlib.rcParams)
    differing = sorted(k for k in seaborn_rc if k not in OWN_KEYS and ours[k] != seaborn_rc[k])
    assert differing == []


def test_sequential_is_seaborns_light_palette_of_the_accent():
    sns = pytest.importorskip("seaborn")
    x = np.linspace(0, 1, 257)
    np.testing.assert_allclose(SEQUENTIAL(x), sns.light_palette(ACCENT, as_cmap=True)(x), rtol=0, atol=1e-12)
