"""The matplotlib/seaborn look of every report figure.

* :func:`apply_theme` — seaborn/matplotlib defaults for report figures (text is
  always drawn literally: ``text.parse_math`` and ``text.usetex`` off); for a CJK
  report language (``zh-CN``, any ``zh*``, ``ja``, ``ko``) it adds a CJK font after
  the Latin one, so Chinese, Japanese and Korean labels never show missing-glyph boxes.
* :func:`cjk_font_path` / :func:`register_cjk_font` — the CJK font file (Noto Sans
  CJK SC, SIL Open Font License, shipped by the PyPI package ``mplfonts``) and its
  registration with matplotlib's font manager.
* :func:`finish` — tidy layout and an optional figure title.
* :data:`SEQUENTIAL` — the sequential colormap for heatmaps (light → accent blue).

Importing this module does not import seaborn (see :data:`SEABORN_RC`).
"""
from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
from matplotlib import cycler, font_manager
from matplotlib.colors import LinearSegmentedColormap, to_rgb

from salesbench.viz.palette import ACCENT, PALETTE

# seaborn is not imported here: its import pulls scipy.stats (about 1 s of CPU, 1.7 s under load, in every
# report's start-up, issue #13). The two things the theme took from it are written out below, and
# tests/viz/test_viz_theme.py checks them against seaborn itself.

#: The light end of :data:`SEQUENTIAL`: ``seaborn.light_palette(ACCENT)``'s grey of the accent's hue
#: (HUSL saturation 0.15 × the accent's, lightness 95; seaborn 0.13).
SEQUENTIAL_LIGHT = (0.9389361935719612, 0.9439676036514009, 0.952000570146477)
#: Sequential colormap for heatmaps (light → the accent blue): ``seaborn.light_palette(ACCENT, as_cmap=True)``.
SEQUENTIAL = LinearSegmentedColormap.from_list("blend", [SEQUENTIAL_LIGHT, to_rgb(ACCENT)])

#: What ``seaborn.set_theme(context="notebook", style="whitegrid")`` sets (seaborn 0.13: ``axes_style("whitegrid")``,
#: ``plotting_context("notebook")``, ``font.family`` sans-serif), without seaborn's ``image.cmap`` ("rocket", a
#: colormap only seaborn registers; every report figure with a colour scale names its colormap).
SEABORN_RC = {
    "figure.facecolor": "white", "axes.labelcolor": ".15", "xtick.direction": "out", "ytick.direction": "out",
    "xtick.color": ".15", "ytick.color": ".15", "axes.axisbelow": True, "grid.linestyle": "-", "text.color": ".15",
    "font.family": ["sans-serif"],
    "font.sans-serif": ["Arial", "DejaVu Sans", "Liberation Sans", "Bitstream Vera Sans", "sans-serif"],
    "lines.solid_capstyle": "round", "patch.edgecolor": "w", "patch.force_edgecolor": True,
    "xtick.top": False, "ytick.right": False, "axes.grid": True, "axes.facecolor": "white", "axes.edgecolor": ".8",
    "grid.color": ".8", "axes.spines.left": True, "axes.spines.bottom": True, "axes.spines.right": True,
    "axes.spines.top": True, "xtick.bottom": False, "ytick.left": False,
    "axes.linewidth": 1.25, "grid.linewidth": 1, "lines.linewidth": 1.5, "lines.markersize": 6, "patch.linewidth": 1,
    "xtick.major.width": 1.25, "ytick.major.width": 1.25, "xtick.minor.width": 1, "ytick.minor.width": 1,
    "xtick.major.size": 6, "ytick.major.size": 6, "xtick.minor.size": 4, "ytick.minor.size": 4,
    "font.size": 12, "axes.labelsize": 12, "axes.titlesize": 12, "xtick.labelsize": 11, "ytick.labelsize": 11,
    "legend.fontsize": 11, "legend.title_fontsize": 12,
}


#: The CJK font's family name and its file inside the ``mplfonts`` package (a pip dependency).
CJK_FONT = "Noto Sans CJK SC"
CJK_FONT_FILE = "fonts/NotoSansCJKsc-Regular.otf"
#: Report languages whose figures need the CJK font: a code starting with one of these.
CJK_LANGS = ("zh", "ja", "ko")

_registered: str | None = None


def is_cjk(lang: str | None) -> bool:
    """Whether report language ``lang`` (``zh-CN``, ``zh_TW``, ``ja``, ``ko-KR``, ...) is written in CJK script."""
    code = str(lang or "").strip().lower().replace("_", "-")
    return any(code == p or code.startswith(p + "-") for p in CJK_LANGS) or code.startswith("zh")


def cjk_font_path() -> Path:
    """The Noto Sans CJK SC file shipped by ``mplfonts`` (found without importing the package).

    Noto Sans CJK SC holds the Han characters (simplified forms by default), kana and Hangul,
    so it serves ``zh``, ``ja`` and ``ko``. Raises ``FileNotFoundError`` naming the fix.
    """
    spec = importlib.util.find_spec("mplfonts")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / CJK_FONT_FILE
        if path.is_file():
            return path
    raise FileNotFoundError(f"the CJK font for figures ({CJK_FONT}) is missing: pip install mplfonts "
                            f"(salesbench depends on it; looked for {CJK_FONT_FILE} in {folders or 'no mplfonts package'})")


def register_cjk_font() -> str:
    """Add the CJK font to matplotlib's font manager (once per process); returns its family name.

    Only the font file is read (``fontManager.addfont``): nothing in matplotlib's
    configuration or cache folder changes.
    """
    global _registered
    if _registered is None:
        path = cjk_font_path()
        font_manager.fontManager.addfont(str(path))
        _registered = font_manager.FontProperties(fname=str(path)).get_name()
        logging.getLogger("matplotlib.font_manager").addFilter(_NoBoldNotice(_registered))
    return _registered


class _NoBoldNotice(logging.Filter):
    """Drops matplotlib's "Failed to find font weight bold for <CJK font>" notice: the font has one
    weight, bold titles draw its CJK glyphs regular (the notice would land in every report's output)."""

    def __init__(self, family: str):
        super().__init__()
        self.family = family

    def filter(self, record: logging.LogRecord) -> bool:
        return not (str(record.msg).startswith("findfont: Failed to find font weight")
                    and self.family in map(str, record.args or ()))


def apply_theme(lang: str = "en") -> None:
    """Apply the report theme (call once per notebook); ``lang`` is the report language.

    For a CJK language (:func:`is_cjk`) the CJK font is registered and
    ``font.family`` becomes [the theme's Latin font, the CJK font]: Latin letters and
    digits keep their look and every CJK character falls back to the CJK font
    (matplotlib ≥ 3.6 picks a font per glyph). Other languages get exactly the
    English theme, which also undoes an earlier CJK call.

    Text in figures is always drawn literally: ``text.parse_math`` is off and
    ``text.usetex`` stays off, so a region, product line, rep or customer name
    such as ``$x^$ Region`` or ``Price $\\notacommand$`` is neither parsed as
    mathtext (which fails or garbles it) nor passed to LaTeX. This covers every
    Text artist made afterwards: titles, tick labels, legends (seaborn's too),
    annotations and heatmap cells. No report label uses mathtext.
    """
    matplotlib.rcParams.update(SEABORN_RC)  # seaborn's "whitegrid" / "notebook" theme (see SEABORN_RC)
    matplotlib.rcParams["axes.prop_cycle"] = cycler("color", [to_rgb(c) for c in PALETTE])
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
    if is_cjk(lang):
        family = register_cjk_font()
        # per-glyph fallback runs over the *named* families of font.family (a generic "sans-serif" resolves to
        # one font): the theme's Latin font as it resolves here, then the CJK font
        latin = font_manager.FontProperties(fname=font_manager.findfont(font_manager.FontProperties(family=["sans-serif"]))).get_name()
        matplotlib.rcParams["font.family"] = [latin, family] if latin != family else [family]
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
