"""Run one function in a forked child process while this process goes on: a second core for independent steps.

The churn report's early-warning model does not depend on the purchase model, and both are single-threaded
numpy (the NUTS log-densities hold the GIL, so threads would not help). :func:`submit` forks: the child
inherits everything already imported and computed (no start-up, no pickling of the inputs), runs the
function and sends the pickled result back through a pipe, while the parent runs the next steps on the
other core. :meth:`Pending.result` collects it.

Rules for the function: plain numpy / nutpie work on data already in memory. It must not touch database
connections (DuckDB's are not fork-safe: compute the inputs first), print, or start a Jupyter widget;
the child's ``sys.stdout`` / ``sys.stderr`` go to /dev/null and it leaves with ``os._exit`` (no atexit
handlers, so a kernel's sockets inherited by the child are never closed by it). PyMC forks its chain workers
from the same report kernels in the same way.

Fallbacks: where ``os.fork`` does not exist, on macOS (unless ``SALESBENCH_FORK=1``), when ``SALESBENCH_FORK=0``,
when the fork fails, or when the
child dies without an answer, the function runs in this process at :meth:`Pending.result` (same result:
the functions given here are deterministic for a given seed). An exception raised in the child is raised
again by :meth:`Pending.result`.
"""
from __future__ import annotations

import os
import pickle
import sys
from typing import Any, Callable

#: environment variable: ``0`` runs every submitted function in this process (no fork)
ENV = "SALESBENCH_FORK"


def enabled() -> bool:
    """Whether :func:`submit` forks: ``os.fork`` exists and ``SALESBENCH_FORK`` is not ``0``; on macOS only with
    ``SALESBENCH_FORK=1`` (its system libraries are not fork-safe; PyMC avoids fork there too)."""
    if not hasattr(os, "fork"):
        return False
    setting = os.environ.get(ENV, "").strip().lower()
    if setting in ("0", "false", "no"):
        return False
    return sys.platform != "darwin" or setting in ("1", "true", "yes")


class Pending:
    """The answer of a submitted function: :meth:`result` waits for the child (or runs the function here)."""

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict):
        self._call = (fn, args, kwargs)
        self._pid: int | None = None
        self._fd: int | None = None
        self.forked = False

    def _start(self) -> None:
        if not enabled():
            return
        try:
            r, w = os.pipe()
            pid = os.fork()
        except OSError:
            return
        if pid == 0:  # the child: compute, answer, leave without running any exit handler
            os.close(r)
            _child(w, self._call)
        os.close(w)
        self._pid, self._fd, self.forked = pid, r, True

    def result(self) -> Any:
        """The function's return value (raises what it raised)."""
        if self._fd is not None:
            chunks = []
            try:
                while True:
                    block = os.read(self._fd, 1 << 20)
                    if not block:
                        break
                    chunks.append(block)
            finally:
                os.close(self._fd)
                self._fd = None
                os.waitpid(self._pid, 0)
            if chunks:
                status, value = pickle.loads(b"".join(chunks))
                if status == "error":
                    raise value
                return value
        fn, args, kwargs = self._call  # no fork, or the child died without an answer: compute here
        return fn(*args, **kwargs)


def submit(fn: Callable[..., Any], *args, **kwargs) -> Pending:
    """Start ``fn(*args, **kwargs)`` in a forked child (see the module doc) and return its :class:`Pending`."""
    pending = Pending(fn, args, kwargs)
    pending._start()
    return pending


def done(value: Any) -> Pending:
    """A :class:`Pending` whose result is ``value`` (for a step that had nothing to submit)."""
    return Pending(_identity, (value,), {})


def die_with_parent(signum: int | None = None) -> None:
    """Ask Linux to send this process ``signum`` (default SIGKILL) when its parent dies (``PR_SET_PDEATHSIG``;
    elsewhere nothing): the runner's workers, the kernel zygote and its kernels are never left orphaned. The
    zygote asks for SIGTERM, which it handles by cleaning up (its branch, its socket folder) before it exits."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL if signum is None else signum)
    except Exception:  # pragma: no cover
        pass


def _identity(value):
    return value


def _child(fd: int, call) -> None:
    """In the child: run ``call``, write the pickled ``("ok", value)`` or ``("error", exception)`` to ``fd`` and
    ``os._exit``. A value that cannot be pickled sends nothing, so the parent computes it itself."""
    code = 1
    try:
        devnull = open(os.devnull, "w")
        sys.stdout = sys.stderr = devnull
        fn, args, kwargs = call
        try:
            value = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - the parent raises it again
            try:
                payload = pickle.dumps(("error", exc), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # noqa: BLE001 - an exception that cannot be pickled: its text
                payload = pickle.dumps(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
        else:
            payload = pickle.dumps(("ok", value), protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
        code = 0
    except BaseException:  # noqa: BLE001 - no answer: the parent computes it itself
        pass
    finally:
        os._exit(code)
