"""One theme, one palette, one status colour code for every report.

The names live in small modules and are re-exported here on first use (so
``from salesbench import viz; viz.fmt_money`` works, and importing
:mod:`salesbench.viz.format` or :mod:`salesbench.viz.display` never loads matplotlib):

* :mod:`~salesbench.viz.palette` — :data:`PALETTE` (Okabe–Ito, colour-blind
  safe, used in the same order everywhere), :data:`STATUS` (the traffic-light
  code green / amber / red / grey; every status is also written as a word so
  colour is never the only signal), :data:`ACCENT`, :data:`MUTED`,
  :data:`TARGET`, :func:`status_color`;
* :mod:`~salesbench.viz.format` — :func:`fmt_money`, :func:`fmt_pct`, :func:`fmt_num`, :func:`fmt_date`, :func:`fmt_month`, :func:`fmt_period` (no matplotlib; they follow the report language);
* :mod:`~salesbench.viz.display` — :func:`headline` (KPI cards), :func:`narrative`,
  :func:`bullet_list`, :func:`show_table`, :func:`esc`, :class:`HTML`, :func:`show`:
  always HTML-escaped, so names from the data can never inject markup;
* :mod:`~salesbench.viz.theme` — :func:`apply_theme`, :func:`finish`, :data:`SEQUENTIAL`;
* :mod:`~salesbench.viz.axes` — :func:`money_axis`, :func:`pct_axis`, :func:`interval_plot`.

Plotting functions in the analysis modules take ``ax=`` and return the axes.
"""
from __future__ import annotations

import importlib

#: public name -> the module of salesbench.viz that defines it
_NAMES = {
    **dict.fromkeys(("PALETTE", "STATUS", "ACCENT", "MUTED", "TARGET", "status_color"), "palette"),
    **dict.fromkeys(("fmt_money", "fmt_pct", "fmt_num", "fmt_date", "fmt_month", "fmt_period"), "format"),
    **dict.fromkeys(("HTML", "esc", "headline", "narrative", "bullet_list", "show_table", "show"), "display"),
    **dict.fromkeys(("apply_theme", "finish", "SEQUENTIAL"), "theme"),
    **dict.fromkeys(("money_axis", "pct_axis", "interval_plot"), "axes"),
}
_MODULES = ("palette", "format", "display", "theme", "axes")

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        value = getattr(importlib.import_module(f"salesbench.viz.{_NAMES[name]}"), name)
        globals()[name] = value
        return value
    if name in _MODULES:
        return importlib.import_module(f"salesbench.viz.{name}")
    raise AttributeError(f"module 'salesbench.viz' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_NAMES) | set(_MODULES))
