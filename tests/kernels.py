"""Helpers of the kernel tests (tests/report/test_fixed_costs.py, tests/report/test_zygote.py): a tiny notebook,
whether a process is still alive."""
from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat


def notebook(path: Path, *sources: str) -> Path:
    """A Python 3 notebook at ``path`` with one code cell per source."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, str(path))
    return path


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):  # ended between the two looks, or being reaped (or no /proc)
        return not Path("/proc/self").exists()


def gone(pid: int, timeout: float = 10.0) -> bool:
    """Whether the process has ended within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)
