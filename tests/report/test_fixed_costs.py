"""Fixed costs every report pays (issue #13): the kernel is not waited for after the last cell, and the runner
does not import what no report uses."""
from __future__ import annotations

import importlib.util
import subprocess
import sys

import nbformat
import pytest

from kernels import gone, notebook

from salesbench.report import execute


def test_kernel_is_killed_after_the_last_cell_not_asked_to_exit(tmp_path):
    """A kernel's exit (atexit hooks, module teardown) took 0.6-3 s per report; the report needs none of it."""
    marker, pid_file = tmp_path / "atexit-ran", tmp_path / "kernel.pid"
    nb = notebook(tmp_path / "k.ipynb",
                   f"import atexit, os\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
                   f"atexit.register(lambda: open({str(marker)!r}, 'w').write('ran'))",
                   "print('answer', 6 * 7)")
    out = tmp_path / "out.ipynb"
    result, stopped = execute._run_papermill({"input": str(nb), "parameters": {}, "timeout": 120}, out)
    assert (result["status"], stopped) == ("ok", False)
    executed = nbformat.read(str(out), as_version=4)
    assert executed.cells[1].outputs[0].text == "answer 42\n"  # every cell's output is in the notebook
    assert gone(int(pid_file.read_text()))
    assert not marker.exists()  # killed, not a graceful exit: the atexit hook never ran


@pytest.mark.skipif(importlib.util.find_spec("rfc3987_syntax") is None, reason="rfc3987_syntax not installed")
def test_runner_imports_notebook_tools_without_the_iri_grammar():
    code = ("import sys\n"
            "from salesbench.report.execute import import_notebook_tools\n"
            "import_notebook_tools()\n"
            "import nbformat\n"
            "nb = nbformat.v4.new_notebook(); nb.cells.append({'cell_type': 'code'})\n"
            "try:\n    nbformat.validate(nb); print('valid')\n"
            "except nbformat.ValidationError:\n    print('invalid')\n"
            "print(sorted(m for m in ('papermill', 'nbconvert', 'rfc3987_syntax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "invalid"  # nbformat still validates notebooks
    assert out[1] == "['nbconvert', 'papermill']"  # rfc3987_syntax neither imported nor left blocked


def test_parameter_checks_do_not_import_scipy_stats():
    """The runner imports every analysis model to run its parameter checks; ``scipy.stats`` (1 s to import) is
    imported where the analyses use it, so checking the seven reports' parameters stays under half a second."""
    code = ("import sys\n"
            "from salesbench.report import plan\n"
            "names = plan.requested_names(None)\n"
            "plan.resolve_params(names, [], [], 'demo', None)\n"
            "print(len(names), 'scipy.stats' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["7", "False"]
