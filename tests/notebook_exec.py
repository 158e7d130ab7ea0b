"""Run a report notebook's code cells in this process (no kernel) and keep what it draws and shows.

Much faster than Papermill for unit-level checks of the notebooks on odd data:
the parameters cell runs first, then the given parameters override it (as
Papermill's injected cell does); every ``plt.show()`` draws each open figure to
PNG (so mathtext or layout errors surface) and records the text of every Text
artist; every displayed value (``display(...)`` and a cell's last expression)
is recorded with its HTML.
"""
from __future__ import annotations

import ast
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Run:
    figures: list[list[str]] = field(default_factory=list)  # per figure: the text of every Text artist
    html: list[str] = field(default_factory=list)  # every displayed value's HTML (or str)
    namespace: dict = field(default_factory=dict)

    @property
    def texts(self) -> list[str]:
        return [t for fig in self.figures for t in fig]

    @property
    def all_html(self) -> str:
        return "\n".join(self.html)


def run_notebook(name: str, monkeypatch, **params) -> Run:
    """Execute ``notebooks/<name>.ipynb`` with ``params`` overriding the defaults; return what it drew/showed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    run = Run()

    def show(*_a, **_k):
        for num in plt.get_fignums():
            fig = plt.figure(num)
            fig.savefig(io.BytesIO(), format="png")  # draws every artist: mathtext errors surface here
            run.figures.append([t.get_text() for t in fig.findobj(Text) if t.get_text()])
            plt.close(fig)

    def display(*values):
        for v in values:
            run.html.append(v._repr_html_() if hasattr(v, "_repr_html_") else str(v))

    monkeypatch.setattr(plt, "show", show)
    nb = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
    ns: dict = {"display": display, "__name__": "__main__"}
    run.namespace = ns
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        tree = ast.parse(src)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, f"<{name} cell {i}>", "exec"), ns)
        if last is not None:
            value = eval(compile(ast.Expression(last.value), f"<{name} cell {i}>", "eval"), ns)
            if value is not None:
                display(value)
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            ns.update(params)
    show()
    return run
