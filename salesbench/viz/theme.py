"""The matplotlib/seaborn look of every report figure.

* :func:`apply_theme` — seaborn/matplotlib defaults for report figures (text is
  always drawn literally: ``text.parse_math`` and ``text.usetex`` off).
* :func:`finish` — tidy layout and an optional figure title.
* :data:`SEQUENTIAL` — the sequential colormap for heatmaps (light → accent blue).
"""
from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import seaborn as sns

from salesbench.viz.palette import ACCENT, PALETTE

#: Sequential colormap for heatmaps (light → the accent blue).
SEQUENTIAL = sns.light_palette(ACCENT, as_cmap=True)


def apply_theme() -> None:
    """Apply the report theme (call once per notebook).

    Text in figures is always drawn literally: ``text.parse_math`` is off and
    ``text.usetex`` stays off, so a region, product line, rep or customer name
    such as ``$x^$ Region`` or ``Price $\\notacommand$`` is neither parsed as
    mathtext (which fails or garbles it) nor passed to LaTeX. This covers every
    Text artist made afterwards: titles, tick labels, legends (seaborn's too),
    annotations and heatmap cells. No report label uses mathtext.
    """
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    matplotlib.rcParams.update(
        {
            "figure.figsize": (8, 4),
            "figure.dpi": 96,
            "savefig.dpi": 96,
            "axes.titleweight": "bold",
            "axes.titlesize": 12,
            "axes.titlelocation": "left",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
            "figure.autolayout": False,
            # data text (names, regions, products) must reach the figure literally, never as math or LaTeX
            "text.parse_math": False,
            "text.usetex": False,
        }
    )
    try:  # PNG figures: small, embedded as base64, render everywhere.
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("png")
    except Exception:  # pragma: no cover - outside IPython
        pass


def finish(fig=None, title: str | None = None):
    """Tidy layout; optional figure title."""
    fig = fig or plt.gcf()
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontweight="bold")
    fig.tight_layout()
    return fig
