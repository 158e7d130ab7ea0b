"""The contract every notebook in notebooks/ keeps (one test for all of them).

Papermill needs a kernelspec *and* a language; the `python3` kernel name
resolves to whatever environment runs Papermill or JupyterLab; notebooks are
committed without outputs; the `parameters` cell repeats the declared defaults
of params/<name>.yaml exactly; the next cell validates them; cells stay thin
(calls into the package); the last cell publishes the results.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from salesbench.report import params

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

#: What each report needs and where it stands in the index.
EXPECTED = {
    "data_quality": (["orders"], 0),
    "segmentation": (["orders"], 10),
    "funnel": (["opportunities", "stage_history"], 20),
    "forecasting": (["orders"], 30),
    "churn": (["orders"], 40),
    "performance": (["orders", "reps"], 50),
    "plan": (["orders", "reps"], 60),
}
MAX_CELL_LINES = 10


def test_every_report_has_a_notebook_and_a_params_file():
    assert {p.stem for p in NOTEBOOKS} == set(EXPECTED)
    assert {p.stem for p in (ROOT / "params").glob("*.yaml")} == set(EXPECTED)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_contract(path):
    name = path.stem
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"] == {"name": "python3", "display_name": "Python 3", "language": "python"}
    assert nb.metadata["language_info"]["name"] == "python"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "commit without outputs"
    assert "parameters" in code[0].metadata.get("tags", [])
    # one set-up call; the fit in a skipping block; report.publish fills and saves the results (issue #12)
    assert f'P, ds, res = sb.start("{name}", globals())' in code[1].source
    assert "with res.skipping():" in code[2].source and ".from_params(P).fit(ds)" in code[2].source
    assert "report.publish(" in code[2].source
    loops = [c.source.splitlines()[0] for c in code[1:] if any(ln.lstrip().startswith(("for ", "while ", "if ", "try:"))
                                                               for ln in c.source.splitlines())]
    assert not loops, f"loops, ifs and try blocks belong in salesbench/: {loops}"
    shown = [c.source for c in code[1:] if c.source.rstrip().splitlines()[-1].startswith("plots.")
             and not c.source.rstrip().endswith(";")]
    assert not shown, f"a figure cell without ';' prints '<Axes: ...>' above its figure in the report: {shown}"
    too_long = [c.source.splitlines()[0] for c in code[1:] if len(c.source.splitlines()) > MAX_CELL_LINES]
    assert not too_long, f"cells with logic belong in salesbench/: {too_long}"
    assert any(c.cell_type == "markdown" and c.source.lstrip().startswith("## ") for c in nb.cells)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_repeats_the_declared_defaults(path):
    decl = params.declaration(path.stem)
    assert params.parameters_cell_values(path) == decl.defaults
    assert {"data", "out_dir"} <= set(decl.defaults)
    assert (decl.requires, decl.order) == EXPECTED[path.stem]
    assert decl.title
