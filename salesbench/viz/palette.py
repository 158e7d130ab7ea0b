"""The colours every report shares, without plotting imports (the runner's index uses them).

:mod:`salesbench.viz` re-exports every name; analysis code uses ``sb.viz``.
"""
from __future__ import annotations

#: Okabe & Ito (2008) colour-blind-safe categorical palette (black omitted).
PALETTE: list[str] = [
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#999999",  # grey
]

#: Traffic-light status colours shared by scorecards, warning lines and the index.
STATUS: dict[str, str] = {
    "green": "#009E73",
    "amber": "#E69F00",
    "red": "#D55E00",
    "grey": "#999999",
}

#: Colour for "the thing the report is about" (actuals, the chosen model) and for context.
ACCENT = PALETTE[0]
MUTED = "#B0B0B0"
TARGET = "#333333"


def status_color(status: str) -> str:
    """The :data:`STATUS` colour of ``status`` (grey for an unknown word)."""
    return STATUS.get(str(status), STATUS["grey"])
