"""Report kernels forked from the run's zygote (issue #13): what they preload, that a forked kernel behaves as a
fresh one would, that it dies with its worker, and that what the zygote cannot serve starts the usual way."""
from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from kernels import alive, gone, notebook

from salesbench import analyses
from salesbench.report import execute, zygote

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the zygote is Linux only")


@pytest.fixture
def zygote_on(monkeypatch):
    monkeypatch.delenv(zygote.ENV, raising=False)


# ----------------------------------------------------------------------------- what is preloaded
def test_notebook_imports_are_its_top_level_import_statements(tmp_path):
    nb = notebook(tmp_path / "n.ipynb",
                   "data = 'demo'",
                   "import os, json as j\nfrom collections import OrderedDict as OD\nx = 1",
                   "%matplotlib inline\nimport glob",  # IPython syntax: not Python, skipped
                   "def f():\n    import csv\n    return csv",  # inside a function: imported when called
                   "from . import sibling\nimport os")
    assert zygote.notebook_imports(nb) == ["import os, json as j", "from collections import OrderedDict as OD",
                                           "import os"]


def test_preload_is_the_notebooks_imports_and_their_analysis_preload():
    churn = Path(__file__).resolve().parents[2] / "notebooks" / "churn.ipynb"
    groups = zygote.preload_groups([churn, churn])
    assert [nb for nb, _ in groups] == [str(churn)] * 2 and groups[1][1] == []  # the second time: nothing new
    statements = [st for _nb, group in groups for st in group]
    assert statements[:2] == ["import ipykernel.kernelapp", "import ipykernel.ipkernel"]
    assert "import salesbench as sb" in statements and "from salesbench.analyses.churn import report" in statements
    assert "import arviz" in statements and "import nutpie" in statements  # churn's PRELOAD
    assert len(statements) == len(set(statements))  # the same notebook twice: each statement once


@pytest.mark.parametrize("name", sorted(analyses.ANALYSES))
def test_every_preload_module_exists(name):
    package = importlib.import_module(f"salesbench.analyses.{name}")
    for module in package.PRELOAD:
        assert importlib.util.find_spec(module) is not None, f"{name}.PRELOAD names {module}, which does not exist"


def test_zygote_is_off_with_the_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv(zygote.ENV, "0")
    assert not zygote.enabled() and zygote.Zygote.start([]) is None


# ----------------------------------------------------------------------------- a forked kernel
def test_a_forked_kernel_runs_a_notebook_as_a_fresh_kernel_would(tmp_path, zygote_on, monkeypatch):
    """The kernel is the zygote's child with the modules already imported, and otherwise sees what a fresh kernel
    sees: the worker's environment and working folder, the inline figure backend, its own numpy seed."""
    probe = tmp_path / "probe.json"
    nb = notebook(
        tmp_path / "k.ipynb",
        "import sys, os, json\npreloaded = 'pandas' in sys.modules and 'seaborn' in sys.modules",
        "import numpy as np\nimport pandas as pd\nimport seaborn",
        "import matplotlib.pyplot as plt\nplt.plot([1, 2], [3, 4]);",
        "t = __import__('time').process_time()\nwhile __import__('time').process_time() - t < 0.5: pass",
        "json.dump({'ppid': os.getppid(), 'preloaded': preloaded, 'cwd': os.getcwd(), 'pid': os.getpid(),\n"
        "           'token': os.environ.get('SB_TEST_TOKEN'), 'random': float(np.random.random()),\n"
        "           'parent_pid': os.environ.get('JPY_PARENT_PID')}, open(%r, 'w'))" % str(probe),
    )
    monkeypatch.setenv("SB_TEST_TOKEN", "seen-by-the-kernel")  # e.g. PGPASSWORD, set by the worker
    out = tmp_path / "run" / "k.ipynb"
    out.parent.mkdir()
    randoms = []
    with zygote.Zygote.start([nb]) as z:
        for _ in range(2):
            cpu_before = zygote.kernel_cpu_seconds()
            result, stopped = execute._run_papermill(
                {"input": str(nb), "parameters": {}, "timeout": 120, "zygote": z.address}, out)
            assert (result["status"], stopped) == ("ok", False), result
            seen = json.loads(probe.read_text())
            assert seen["ppid"] == z.proc.pid  # forked by the zygote ...
            assert seen["preloaded"] is True  # ... which had imported the notebook's modules
            assert seen["cwd"] == str(out.parent) and seen["token"] == "seen-by-the-kernel"
            assert seen["parent_pid"] == str(os.getpid())
            assert zygote.kernel_cpu_seconds() - cpu_before >= 0.45  # the kernel's CPU reaches the report's cpu_s
            assert gone(seen["pid"])  # killed after the last cell, and reaped
            randoms.append(seen["random"])
            executed = nbformat.read(str(out), as_version=4)
            assert any("image/png" in o.get("data", {}) for o in executed.cells[2].outputs)  # inline figure
            assert not any(o.get("name") == "stdout" for c in executed.cells for o in c.get("outputs", []))
    assert randoms[0] != randoms[1]  # each kernel seeds numpy's global generator afresh, as a new process does
    assert not alive(z.proc.pid)


def _kernel_command(tmp_path: Path, name: str = "kernel") -> list[str]:
    """A kernel's command line with its own connection file (two kernels on one file would share its ports)."""
    return [sys.executable, "-m", "ipykernel_launcher", "-f", str(tmp_path / f"{name}.json")]


def test_a_kernel_dies_when_its_worker_goes(tmp_path, zygote_on):
    nb = notebook(tmp_path / "k.ipynb", "import json")
    with zygote.Zygote.start([nb]) as z:
        kernel = zygote.ForkedKernel.request(z.address, _kernel_command(tmp_path, "k1"), dict(os.environ), str(tmp_path))
        assert alive(kernel.pid) and kernel.poll() is None
        kernel.close()  # what the worker's end does when it exits or is killed at the wall-clock limit
        assert gone(kernel.pid)

        kernel = zygote.ForkedKernel.request(z.address, _kernel_command(tmp_path, "k2"), dict(os.environ), str(tmp_path))
        kernel.send_signal(signal.SIGKILL)
        assert kernel.wait(timeout=10) == -signal.SIGKILL and kernel.cpu_s is not None
    assert gone(kernel.pid)


def test_what_the_zygote_cannot_serve_starts_fresh(tmp_path, zygote_on, monkeypatch):
    nb = notebook(tmp_path / "k.ipynb", "import os\nopen('ppid', 'w').write(str(os.getppid()))")
    out = tmp_path / "k.out.ipynb"
    with zygote.Zygote.start([nb]) as z:
        with pytest.raises(zygote.ZygoteRefused, match="not an ipykernel command"):
            zygote.ForkedKernel.request(z.address, [sys.executable, "-c", "pass"], None, str(tmp_path))
        env = dict(os.environ, OMP_NUM_THREADS="7")  # read when numpy is imported: the zygote's import is stale
        with pytest.raises(zygote.ZygoteRefused, match="OMP_NUM_THREADS"):
            zygote.ForkedKernel.request(z.address, _kernel_command(tmp_path, "k3"), env, str(tmp_path))

        monkeypatch.setenv("OMP_NUM_THREADS", "7")  # the notebook still runs, in a kernel started with Popen
        result, _ = execute._run_papermill({"input": str(nb), "parameters": {}, "timeout": 120,
                                            "zygote": z.address}, out)
        assert result["status"] == "ok", result
        assert int((tmp_path / "ppid").read_text()) == os.getpid()
    # and without a zygote at all (it died, or never started)
    result, _ = execute._run_papermill({"input": str(nb), "parameters": {}, "timeout": 120,
                                        "zygote": str(tmp_path / "no-such-socket")}, out)
    assert result["status"] == "ok", result


def _blocking_module(tmp_path: Path, monkeypatch) -> Path:
    """A module ``blocking_module`` on the kernels' path whose import waits until the returned file exists."""
    release = tmp_path / "release"
    (tmp_path / "blocking_module.py").write_text(
        "import os, time\n"
        f"while not os.path.exists({str(release)!r}):\n    time.sleep(0.02)\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    return release


def test_a_kernel_waits_for_its_own_notebooks_imports_only(tmp_path, zygote_on, monkeypatch):
    """The first report's kernel is forked once its notebook's imports are done, while the zygote goes on
    importing for the later reports; a later report's kernel waits for its own."""
    release = _blocking_module(tmp_path, monkeypatch)
    first = notebook(tmp_path / "first.ipynb", "import json")
    second = notebook(tmp_path / "second.ipynb", "import blocking_module")
    with zygote.Zygote.start([first, second]) as z:
        kernel = zygote.ForkedKernel.request(z.address, _kernel_command(tmp_path, "k4"), None, str(tmp_path), str(first))
        assert alive(kernel.pid) and not release.exists()  # served while the second notebook's import blocks
        with pytest.raises(OSError, match="timed out"):  # the second waits for blocking_module
            zygote.ForkedKernel.request(z.address, _kernel_command(tmp_path, "k5"), None, str(tmp_path), str(second),
                                        timeout=1.0)
        release.write_text("go")
        later = zygote.ForkedKernel.request(z.address, _kernel_command(tmp_path, "k6"), None, str(tmp_path), str(second))
        assert alive(later.pid)
        for k in (kernel, later):
            k.close()
            assert gone(k.pid)


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def test_with_a_branch_the_second_notebook_is_imported_and_served_beside_the_first(tmp_path, zygote_on, monkeypatch):
    """``branch``: the second notebook's modules are imported by a branch forked from the zygote, at the same time as
    the first's in the zygote; the branch forks that notebook's kernels, later notebooks come from the zygote again,
    and when the zygote closes, the branch is stopped and waited for (its kernels' CPU time is not lost)."""
    release = _blocking_module(tmp_path, monkeypatch)
    first = notebook(tmp_path / "first.ipynb", "import blocking_module")
    second = notebook(tmp_path / "second.ipynb", "import json")
    third = notebook(tmp_path / "third.ipynb", "import csv")
    with zygote.Zygote.start([first, second, third], branch=True) as z:
        kernel = zygote.ForkedKernel.request(z.address, _kernel_command(tmp_path, "b1"), None, str(tmp_path),
                                             str(second))
        branch = _ppid(kernel.pid)
        assert alive(kernel.pid) and not release.exists()  # served while the first notebook's import blocks ...
        assert branch != z.proc.pid and _ppid(branch) == z.proc.pid  # ... by the branch, the zygote's child
        with pytest.raises(OSError, match="timed out"):  # the first waits for blocking_module
            zygote.ForkedKernel.request(z.address, _kernel_command(tmp_path, "b2"), None, str(tmp_path), str(first),
                                        timeout=1.0)
        release.write_text("go")
        later = [zygote.ForkedKernel.request(z.address, _kernel_command(tmp_path, f"b{i}"), None, str(tmp_path),
                                             str(nb)) for i, nb in ((3, first), (4, third))]
        assert [_ppid(k.pid) for k in later] == [z.proc.pid] * 2
        again = zygote.ForkedKernel.request(z.address, _kernel_command(tmp_path, "b5"), None, str(tmp_path),
                                            str(second))
        assert _ppid(again.pid) == branch
        for k in (kernel, again, *later):
            k.close()
            assert gone(k.pid)
    assert z.proc.returncode == 0 and gone(branch)  # stopped by SIGTERM: it waited for its branch


def test_a_zygote_whose_runner_is_killed_stops_and_removes_its_socket_folder(tmp_path, zygote_on):
    """A runner killed with SIGKILL cannot close its zygote: the zygote (told by Linux, PR_SET_PDEATHSIG = SIGTERM)
    stops its branch and kernels and removes the runner's ``sbz-`` socket folder itself, leaving nothing behind."""
    first = notebook(tmp_path / "a.ipynb", "import json")
    second = notebook(tmp_path / "b.ipynb", "import csv")
    runner = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom salesbench.report import zygote\n"
         f"z = zygote.Zygote.start([{str(first)!r}, {str(second)!r}], branch=True)\n"
         f"k = zygote.ForkedKernel.request(z.address, {_kernel_command(tmp_path, 'r1')!r}, None, {str(tmp_path)!r}, "
         f"{str(second)!r})\n"
         "print(z.folder, z.proc.pid, k.pid, flush=True)\ntime.sleep(120)"],
        stdout=subprocess.PIPE, text=True)
    folder, zygote_pid, kernel_pid = runner.stdout.readline().split()
    assert Path(folder).is_dir() and alive(int(zygote_pid)) and alive(int(kernel_pid))
    runner.kill()
    runner.wait()
    assert gone(int(zygote_pid)) and gone(int(kernel_pid))
    deadline = time.monotonic() + 10
    while Path(folder).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(folder).exists()
