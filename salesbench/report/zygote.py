"""Report kernels forked from one process that has already imported what the notebooks import (issue #13).

Every report used to pay for a fresh Python kernel importing pandas, SciPy, seaborn, ibis, the
analysis and what its fit imports on first use (pandera, statsforecast, ArviZ, nutpie ...): 1.5-4 CPU
seconds per kernel, some 20 of the 70 CPU seconds of the seven default reports on 2 cores. The
runner now starts one **zygote** process per run, once every check that can refuse the run has
passed (a refused run starts nothing), which imports, once, the import statements of the selected
notebooks' code cells and each analysis' ``PRELOAD`` list (``salesbench.analyses.<name>.PRELOAD``:
modules its default path imports inside functions), notebook by notebook in the order the reports
start, and serves kernel requests on a Unix socket. Each report's kernel is a ``fork`` of it: the
modules are already in memory (shared copy-on-write), and the kernel starts ``ipykernel`` as a
fresh ``python -m ipykernel_launcher -f <connection file>`` would, with the environment, working
folder, arguments and standard output/error the worker asked for. When two reports start at once
(``--jobs`` 2 or more), the modules every kernel needs (:data:`BASE`) come first, and then a **branch**
forked from the zygote imports the second report's modules while the zygote imports the first's; the
zygote hands that report's kernel requests to the branch (:func:`serve`).

Jupyter's side is unchanged except for how the process is made: :class:`ZygoteKernelManager` (the
``NotebookClient.kernel_manager_class`` of a worker) uses :class:`ZygoteProvisioner`, a
``LocalProvisioner`` whose ``launch_kernel`` asks the zygote instead of calling ``Popen``;
:class:`ForkedKernel` stands for the ``Popen`` object (poll, wait, signals, kill). The request's
socket connection is the kernel's lifeline: when the worker goes (report finished, killed at the
wall-clock limit, runner interrupted), the zygote kills that kernel's process group. Kernels die
with the zygote and the zygote with the runner (``PR_SET_PDEATHSIG``). The zygote reaps each kernel
with ``wait4`` and sends back its exit status and CPU seconds, which the worker adds to the
report's ``cpu_s`` (:func:`kernel_cpu_seconds`).

Fallbacks: anything the zygote cannot serve is launched the usual way (``Popen``) — a zygote that
did not start or died, a kernel command that is not this Python's ``-m ipykernel_launcher``, an
environment that differs from the zygote's in a variable read when modules are imported
(:data:`IMPORT_TIME_ENV`), a platform other than Linux. ``SALESBENCH_ZYGOTE=0`` turns it off.
A notebook import that fails in the zygote is left for the kernel to raise where the notebook shows it.
"""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

from salesbench.core.forked import die_with_parent

#: environment variable: ``0`` (or ``off``/``no``/``false``) launches every kernel with ``Popen`` as before
ENV = "SALESBENCH_ZYGOTE"
#: the matplotlib backend ipykernel sets (``MPLBACKEND``) when the environment has none; the zygote sets it
#: before importing matplotlib, so that forked kernels see the backend a fresh kernel would
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
#: variables read while modules are imported (thread pools, caches, backends, interpreter flags): a kernel
#: whose environment differs from the zygote's in one of them is launched fresh instead
IMPORT_TIME_ENV = re.compile(r"^(PYTHON|MPL|NUMBA_|PYTENSOR|OMP_|OPENBLAS_|MKL_|NUMEXPR_|VECLIB_|DUCKDB|LD_"
                             r"|XDG_|HOME$|JUPYTER|IPYTHON|TZ$|LANG$|LC_)")
#: preloaded modules whose bodies read the kernel's own environment (``IPKernelApp.parent_handle`` is
#: ``JPY_PARENT_PID``, read when the class is defined): a forked kernel imports them again (1 ms)
ENV_AT_IMPORT_MODULES = ("ipykernel.kernelapp", "ipykernel_launcher")
#: seconds a worker waits for the zygote's reply to a kernel request (the zygote answers once its imports
#: are done; past this the kernel is launched fresh)
REQUEST_TIMEOUT = 120.0

#: the kernel's own modules, imported with the first notebook's
KERNEL: tuple[str, ...] = ("import ipykernel.kernelapp", "import ipykernel.ipkernel")
#: what every report's kernel imports whatever its notebook (the kernel, pandas, the figures, the data layer): with a
#: branch (:func:`serve`) imported once before the zygote forks it, so both processes share them
BASE: tuple[str, ...] = (*KERNEL, "import pandas", "import matplotlib.pyplot", "import seaborn",
                         "import salesbench.core.dataset")

_HEADER = struct.Struct("!I")
_kernel_cpu: list[float] = []


def enabled() -> bool:
    """Whether the runner uses a zygote: Linux (``PR_SET_PDEATHSIG``), and :data:`ENV` not ``0``/``off``."""
    setting = os.environ.get(ENV, "").strip().lower()
    return sys.platform.startswith("linux") and setting not in {"0", "off", "no", "false"}


def kernel_cpu_seconds() -> float:
    """CPU seconds (user + system, with their children) of the kernels this process got from a zygote and that have
    ended; a forked worker adds them to the report's ``cpu_s`` since those kernels are not its children."""
    return float(sum(_kernel_cpu))


# --------------------------------------------------------------------------- what the zygote imports
def notebook_imports(path: str | os.PathLike) -> list[str]:
    """The top-level ``import`` / ``from ... import`` statements of a notebook's code cells, in order (source text).

    Cells that are not plain Python (IPython magics) are skipped; relative imports are left out.
    """
    cells = json.loads(Path(path).read_text(encoding="utf-8")).get("cells", [])
    found: list[str] = []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and not node.level):
                found.append(ast.unparse(node))
    return found


def preload_groups(notebooks: Iterable[str | os.PathLike]) -> list[tuple[str, list[str]]]:
    """What the zygote imports, notebook by notebook: ``[(notebook, statements)]``, in the given order.

    A notebook's statements are its import statements and ``import m`` for each module of
    ``salesbench.analyses.<stem>.PRELOAD`` (a notebook that is no analysis has none), less what an
    earlier notebook already imports; the kernel modules (``ipykernel``) come with the first notebook.
    ``notebook`` is the path as given, resolved (what a worker's request names).
    """
    seen: set[str] = set()
    groups: list[tuple[str, list[str]]] = []
    for i, nb in enumerate(notebooks):
        statements = (list(KERNEL) if i == 0 else []) + notebook_statements(nb)
        fresh = [st for st in dict.fromkeys(statements) if st not in seen]
        seen.update(fresh)
        groups.append((str(Path(nb).resolve()), fresh))
    return groups


def notebook_statements(notebook: str | os.PathLike) -> list[str]:
    """All a notebook's kernel imports: its import statements (:func:`notebook_imports`), then ``import m`` for each
    module of its analysis' ``PRELOAD`` (none for a notebook that is no analysis)."""
    import importlib

    try:
        package = importlib.import_module(f"salesbench.analyses.{Path(notebook).stem}")
    except ImportError:
        package = None
    return notebook_imports(notebook) + [f"import {m}" for m in getattr(package, "PRELOAD", ())]


# --------------------------------------------------------------------------- the runner's side
class Zygote:
    """The zygote process of one run (:meth:`start`, :attr:`address`, :meth:`close`)."""

    def __init__(self, proc: subprocess.Popen, folder: str):
        self.proc = proc
        self.folder = folder
        self.address = os.path.join(folder, "z")

    @classmethod
    def start(cls, notebooks: Iterable[str | os.PathLike], branch: bool = False) -> "Zygote | None":
        """Start a zygote for these notebooks (``None`` when :func:`enabled` says no or it cannot start); ``branch``:
        the second notebook's imports go to a branch process (:func:`serve`), for runs whose first two reports
        start together."""
        if not enabled():
            return None
        folder = tempfile.mkdtemp(prefix="sbz-")  # short: Unix socket paths are limited to ~107 bytes
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:  # bound and listening before the zygote starts: a worker can never be too early
            listener.bind(os.path.join(folder, "z"))
            listener.listen(64)
            cmd = [sys.executable, "-m", "salesbench.report.zygote", str(listener.fileno()), *(["--branch"] * branch),
                   *(str(Path(nb).resolve()) for nb in notebooks)]
            debug = bool(os.environ.get("SALESBENCH_DEBUG"))
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=None if debug else subprocess.DEVNULL,
                                    stderr=None if debug else subprocess.DEVNULL, pass_fds=[listener.fileno()])
        except OSError:
            shutil.rmtree(folder, ignore_errors=True)
            return None
        finally:
            listener.close()  # the zygote has its own copy
        return cls(proc, folder)

    def close(self) -> None:
        """Stop the zygote (its kernels, if any are left, die with it) and remove its socket folder.

        SIGTERM first: the zygote then stops its branch and waits for it, so that the CPU time of the branch's
        kernels is counted in this process' children, as that of the zygote's own kernels is."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not wait for anything
            pass
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "Zygote":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------- the worker's side
class ZygoteRefused(OSError):
    """The zygote cannot serve this kernel (it says why); the kernel is launched with ``Popen`` instead."""


def _send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    payload = _HEADER.pack(len(data)) + data
    if fds:
        sent = socket.send_fds(sock, [payload], fds)
        payload = payload[sent:]
    if payload:
        sock.sendall(payload)


def _recv_exact(sock: socket.socket, n: int, first: bytes = b"") -> bytes:
    buf = bytearray(first)
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return bytes(buf)


def _recv(sock: socket.socket, with_fds: int = 0) -> tuple[dict[str, Any], list[int]]:
    fds: list[int] = []
    if with_fds:
        data, fds, _flags, _addr = socket.recv_fds(sock, 65536, with_fds)
        if not data:
            raise EOFError("connection closed")
    else:
        data = b""
    head = _recv_exact(sock, _HEADER.size, data[:_HEADER.size])
    (length,) = _HEADER.unpack(head)
    body = _recv_exact(sock, length, data[_HEADER.size:])
    return json.loads(body[:length]), fds


def _import_time_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if IMPORT_TIME_ENV.match(k)}


class ForkedKernel:
    """A kernel process forked by the zygote, with the part of ``subprocess.Popen`` jupyter_client uses.

    ``pid`` is the kernel (leader of its own session, so ``pgid == pid``); ``poll``/``wait`` read the exit
    status the zygote sends when it reaps the kernel; closing the connection (``close``, or this process
    ending) makes the zygote kill the kernel's process group.
    """

    stdin = stdout = stderr = None

    def __init__(self, sock: socket.socket, pid: int):
        self._sock = sock
        self.pid = pid
        self.returncode: int | None = None
        self.cpu_s: float | None = None

    @classmethod
    def request(cls, address: str, cmd: list[str], env: dict[str, str] | None, cwd: str | None,
                notebook: str | None = None, timeout: float = REQUEST_TIMEOUT) -> "ForkedKernel":
        """Ask the zygote at ``address`` for a kernel running ``cmd``, to execute ``notebook`` (the zygote forks it
        once that notebook's imports are done; ``None``: once all are); raises ``OSError`` (or
        :class:`ZygoteRefused`)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            stdio = [sys.stdout.fileno(), sys.stderr.fileno()]
            env = dict(os.environ if env is None else env)
            env["JPY_PARENT_PID"] = str(os.getpid())  # as jupyter_client's launch_kernel sets it (no "--existing" note)
            message = {"argv": list(cmd), "env": env,
                       "cwd": str(cwd) if cwd is not None else os.getcwd(),
                       "notebook": str(Path(notebook).resolve()) if notebook else None}
            _send(sock, message, stdio)
            reply, _ = _recv(sock)
        except (OSError, EOFError, ValueError) as exc:
            sock.close()
            raise OSError(f"zygote at {address}: {exc}") from exc
        if "pid" not in reply:
            sock.close()
            raise ZygoteRefused(reply.get("refused", "refused"))
        sock.settimeout(None)
        return cls(sock, int(reply["pid"]))

    def _take_exit(self, block: bool) -> None:
        if self.returncode is not None:
            return
        try:
            self._sock.setblocking(block)
            reply, _ = _recv(self._sock)
        except (BlockingIOError, InterruptedError):
            return
        except (OSError, EOFError, ValueError):  # the zygote died: its kernels died with it (PDEATHSIG)
            self.returncode = -signal.SIGKILL
        else:
            self.returncode = int(reply.get("exit", -signal.SIGKILL))
            self.cpu_s = float(reply.get("cpu_s", 0.0))
            _kernel_cpu.append(self.cpu_s)
        finally:
            try:
                self._sock.setblocking(True)
            except OSError:
                pass
        self.close()

    def poll(self) -> int | None:
        self._take_exit(block=False)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
            time.sleep(0.02)
        return self.returncode  # type: ignore[return-value]

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass


_classes: tuple[type, type] | None = None


def _provisioner_classes() -> tuple[type, type]:
    """``(ZygoteProvisioner, ZygoteKernelManager)``, built on first use (jupyter_client stays out of the zygote's
    and the command line's imports until a worker needs it)."""
    global _classes
    if _classes is not None:
        return _classes
    import pathlib
    import uuid

    from jupyter_client import AsyncKernelManager
    from jupyter_client.provisioning import LocalProvisioner
    from traitlets import Unicode

    class ZygoteProvisioner(LocalProvisioner):
        """``LocalProvisioner`` that forks the kernel from the zygote at ``address`` (``Popen`` when it cannot)."""

        address = Unicode("")
        notebook = Unicode("")

        async def launch_kernel(self, cmd, **kwargs):
            try:
                process = ForkedKernel.request(self.address, cmd, kwargs.get("env"), kwargs.get("cwd"),
                                               self.notebook or None)
            except OSError as exc:
                self.log.debug("salesbench zygote not used: %s", exc)
                return await super().launch_kernel(cmd, **kwargs)
            self.process, self.pid, self.pgid = process, process.pid, process.pid
            self.cwd = kwargs.get("cwd", pathlib.Path.cwd())
            return self.connection_info

    class ZygoteKernelManager(AsyncKernelManager):
        """The kernel manager of a worker when the run has a zygote (``zygote``: its socket address; ``notebook``:
        the notebook the kernel will execute)."""

        zygote = Unicode("", config=True)
        notebook = Unicode("", config=True)

        async def _async_pre_start_kernel(self, **kw):
            if self.provisioner is None and self.zygote:
                self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
                self.provisioner = ZygoteProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec,
                                                     parent=self, address=self.zygote, notebook=self.notebook)
            return await super()._async_pre_start_kernel(**kw)

    _classes = (ZygoteProvisioner, ZygoteKernelManager)
    return _classes


def kernel_manager_config(address: str | None, notebook: str | os.PathLike | None = None) -> dict[str, Any]:
    """Traitlets config entries that make a ``NotebookClient`` take its kernel for ``notebook`` from the zygote at
    ``address`` (``{}`` without one)."""
    if not address:
        return {}
    _provisioner, manager = _provisioner_classes()
    return {"NotebookClient": {"kernel_manager_class": manager},
            manager.__name__: {"zygote": address, "notebook": str(notebook or "")}}


# --------------------------------------------------------------------------- the zygote process
def _refusal(message: dict[str, Any], own_env: dict[str, str]) -> str | None:
    """Why a request cannot be served by this zygote (``None`` if it can)."""
    argv = message.get("argv") or []
    if len(argv) < 3 or argv[1:3] != ["-m", "ipykernel_launcher"]:
        return f"not an ipykernel command: {argv[:3]}"
    if os.path.realpath(argv[0]) != os.path.realpath(sys.executable):
        return f"another Python: {argv[0]}"
    asked = _import_time_env(message.get("env") or {})
    if asked != own_env:
        diff = sorted(set(asked.items()) ^ set(own_env.items()))
        return f"environment differs in {sorted({k for k, _ in diff})}"
    return None


def _become_kernel(message: dict[str, Any], fds: list[int], start_dir: str) -> None:
    """In the forked child: turn into ``python -m ipykernel_launcher <args>``; never returns."""
    import atexit
    import runpy

    code = 1
    try:
        os.setsid()
        die_with_parent()
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        for target, fd in zip((1, 2), fds):
            os.dup2(fd, target)
        for fd in fds:
            os.close(fd)
        cwd = message["cwd"]
        os.chdir(cwd)
        if sys.path and sys.path[0] == start_dir:
            sys.path[0] = cwd
        os.environ.clear()
        os.environ.update(message["env"])
        if "numpy.random" in sys.modules:  # a fresh process seeds the global generator from the OS
            sys.modules["numpy.random"].seed()
        for name in ENV_AT_IMPORT_MODULES:  # their class bodies read the environment: run them again with the kernel's
            sys.modules.pop(name, None)
            package, _, attr = name.rpartition(".")
            if package in sys.modules and hasattr(sys.modules[package], attr):  # ``from package import attr``
                delattr(sys.modules[package], attr)
        sys.argv = ["ipykernel_launcher", *message["argv"][3:]]
        runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _close_fds(fds: Iterable[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


class _Server:
    """The zygote's socket: accept kernel requests and fork, kill a kernel whose worker went, reap and report."""

    def __init__(self, listener: socket.socket, own_env: dict[str, str], forwarded: bool = False):
        import selectors

        self.own_env = own_env
        self.forwarded = forwarded  # a branch: ``listener`` is the zygote's channel of forwarded requests
        self.forward: tuple[socket.socket, str] | None = None  # (channel to the branch, the branch's notebook)
        self.start_dir = os.getcwd()
        self.listener = listener
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.listener, selectors.EVENT_READ)
        self.kernel_of: dict[socket.socket, int] = {}
        self.conn_of: dict[int, socket.socket] = {}
        self.waiting: list[tuple[socket.socket, dict[str, Any], list[int]]] = []  # requests before their imports
        self.ready: set[str] = set()  # notebooks whose imports are done
        self.all_ready = False

    def poll(self, timeout: float) -> None:
        """Serve what is waiting (at most ``timeout`` seconds), then reap the kernels that ended."""
        for key, _events in self.sel.select(timeout=timeout):
            if key.fileobj is self.listener:
                self._take_forwarded() if self.forwarded else self._accept()
            else:
                self._lifeline(key.fileobj)
        self._reap()

    def mark_ready(self, notebook: str | None = None) -> None:
        """``notebook``'s imports are done (``None``: all are): fork the kernels that waited for them."""
        if notebook is None:
            self.all_ready = True
        else:
            self.ready.add(notebook)
        self.retry()

    def serve_while_child_of(self, parent: int) -> None:
        """Serve requests until this process' parent is no longer ``parent`` (it died: PDEATHSIG covers Linux,
        this the rest)."""
        while os.getppid() == parent:
            self.poll(0.05)

    def retry(self) -> None:
        """Serve again the requests that waited (their notebook is ready now, or goes to the branch)."""
        waiting, self.waiting = self.waiting, []
        for conn, message, fds in waiting:
            self._serve(conn, message, fds)

    def close(self) -> None:
        """In a process forked from this one (a branch or a kernel): close this server's sockets, not the parent's."""
        self.listener.close()
        self.sel.close()
        for conn in (*self.kernel_of, *(c for c, _m, _f in self.waiting)):
            conn.close()
        for _c, _m, fds in self.waiting:
            _close_fds(fds)
        if self.forward is not None:
            self.forward[0].close()

    def _accept(self) -> None:
        conn, _addr = self.listener.accept()
        try:
            conn.settimeout(30)
            message, fds = _recv(conn, with_fds=2)
        except (OSError, EOFError, ValueError):
            conn.close()
            return
        self._serve(conn, message, fds)

    def _take_forwarded(self) -> None:
        """A branch: one request the zygote forwarded (its message; the worker's stdout, stderr and connection)."""
        try:
            data, fds, _flags, _addr = socket.recv_fds(self.listener, 1 << 22, 3)
        except OSError:
            return
        if not data or len(fds) != 3:  # the zygote is gone (or sent something else)
            _close_fds(fds)
            if not data:
                self.sel.unregister(self.listener)
            return
        conn = socket.socket(fileno=fds[2])
        try:
            message = json.loads(data)
        except ValueError:
            conn.close()
            _close_fds(fds[:2])
            return
        self._serve(conn, message, fds[:2])

    def _forward(self, conn: socket.socket, message: dict[str, Any], fds: list[int]) -> None:
        """The zygote: hand a request for the branch's notebook to the branch (it forks and answers the kernel)."""
        try:
            socket.send_fds(self.forward[0], [json.dumps(message).encode()], [*fds, conn.fileno()])
        except OSError as exc:  # the branch is gone: the worker starts its kernel with Popen
            try:
                _send(conn, {"refused": f"the zygote's branch is gone ({exc})"})
            except OSError:
                pass
        finally:
            _close_fds(fds)
            conn.close()

    def _serve(self, conn: socket.socket, message: dict[str, Any], fds: list[int]) -> None:
        import selectors

        if self.forward is not None and message.get("notebook") == self.forward[1]:
            self._forward(conn, message, fds)
            return
        if not (self.all_ready or message.get("notebook") in self.ready):
            self.waiting.append((conn, message, fds))
            return
        try:
            why = _refusal(message, self.own_env)
            if why:
                _send(conn, {"refused": why})
                conn.close()
                return
            pid = os.fork()
            if pid == 0:
                conn.close()
                self.close()
                _become_kernel(message, fds, self.start_dir)
            conn.settimeout(None)
            _send(conn, {"pid": pid})
        except (OSError, EOFError, ValueError):
            conn.close()
            return
        finally:
            _close_fds(fds)
        self.kernel_of[conn], self.conn_of[pid] = pid, conn
        self.sel.register(conn, selectors.EVENT_READ)

    def _lifeline(self, conn: socket.socket) -> None:
        """The worker closed its end (or died): its kernel goes too."""
        try:
            if conn.recv(1):
                return
        except OSError:
            pass
        self.sel.unregister(conn)
        pid = self.kernel_of.pop(conn)
        conn.close()
        if self.conn_of.pop(pid, None) is not None:
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                    break
                except OSError:
                    pass

    def _reap(self) -> None:
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.conn_of.pop(pid, None)
            if conn is None:
                continue
            try:
                _send(conn, {"exit": os.waitstatus_to_exitcode(status), "cpu_s": usage.ru_utime + usage.ru_stime})
            except OSError:
                pass
            self.sel.unregister(conn)
            self.kernel_of.pop(conn, None)
            conn.close()


def serve(listener: socket.socket, notebooks: list[str], branch: bool = False) -> None:
    """The zygote's main loop: import for ``notebooks``, then fork a kernel per request on ``listener``.

    The notebooks come in the order their reports start (longest first). A request names its notebook and
    waits until that notebook's imports are done, not all of them: the first reports' kernels start while
    the zygote goes on importing for the later ones. (Serving every request between two import statements,
    the kernel importing the rest itself, was measured slower: all seven default reports 36.5 s wall and
    65 CPU s against 34.7 s and 60 CPU s when waiting for every import, since those modules were then
    imported twice.)

    ``branch`` (the runner passes it when two reports start at once): the imports every kernel needs
    (:data:`BASE`) come first, then the zygote forks a **branch** that imports the second notebook's modules
    while the zygote imports the first's, so the first two kernels wait for one notebook's imports each, on
    two cores, instead of both notebooks' one after the other. The zygote hands the requests for the second
    notebook to the branch (:meth:`_Server._forward`), which forks those kernels itself.
    """
    signal.signal(signal.SIGTERM, _stop)  # Zygote.close, or the runner gone: stop here, with the branch waited for
    die_with_parent(signal.SIGTERM)
    parent = os.getppid()
    own_env = _import_time_env(dict(os.environ))  # what the kernels' environments are compared with
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)  # what ipykernel sets; read when matplotlib is imported
    server = _Server(listener, own_env)
    order = list(dict.fromkeys(str(Path(nb).resolve()) for nb in notebooks))
    branch_pid = 0
    try:
        if branch and len(order) >= 2:
            _run(BASE, server)
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            branch_pid = os.fork()
            if branch_pid == 0:
                ours.close()
                server.close()
                _branch(theirs, order[1], own_env)
            theirs.close()
            server.forward = (ours, order[1])
            server.retry()  # requests for the branch's notebook that came in meanwhile
            order.pop(1)
        for notebook, statements in preload_groups(order):
            _run(statements, server)
            server.mark_ready(notebook)
        server.mark_ready()
        server.serve_while_child_of(parent)  # until the runner is gone
    except SystemExit:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if branch_pid > 0:  # its kernels (it reaped them) count in our children's CPU time, and so in the runner's
            os.kill(branch_pid, signal.SIGKILL)
            os.waitpid(branch_pid, 0)
        if os.getppid() != parent:  # the runner died without closing us: its socket folder is ours to remove
            _remove_socket_folder(listener)


def _remove_socket_folder(listener: socket.socket) -> None:
    """Remove the ``sbz-`` folder of the runner's socket (what :meth:`Zygote.close` would have removed)."""
    try:
        folder = os.path.dirname(listener.getsockname())
    except OSError:
        return
    if os.path.basename(folder).startswith("sbz-"):
        shutil.rmtree(folder, ignore_errors=True)


def _stop(_signum, _frame) -> None:
    raise SystemExit(0)


def _run(statements: Iterable[str], server: _Server) -> None:
    """Execute import statements, taking requests in between (they wait for their notebook), then freeze what they
    made: forked kernels leave the preloaded objects' pages shared (the GC does not touch frozen objects)."""
    import gc

    for statement in statements:
        try:
            exec(compile(statement, "<zygote>", "exec"), {})
        except Exception:  # the kernel will meet (and show) the same error where the notebook imports it
            pass
        server.poll(0)
    gc.collect()
    gc.freeze()


def _branch(channel: socket.socket, notebook: str, own_env: dict[str, str]) -> None:
    """The branch (forked from the zygote after :data:`BASE`): import ``notebook``'s modules, then fork a kernel
    for each request the zygote forwards on ``channel``, until the zygote is gone; never returns."""
    code = 0
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        die_with_parent()
        zygote = os.getppid()
        server = _Server(channel, own_env, forwarded=True)
        _run(notebook_statements(notebook), server)
        server.mark_ready(notebook)
        server.serve_while_child_of(zygote)
    except BaseException:  # noqa: BLE001 - a branch never returns into the zygote's loop
        code = 1
    finally:
        os._exit(code)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv  # the listening socket's descriptor, [--branch], the notebooks
    branch = len(args) > 1 and args[1] == "--branch"
    serve(socket.socket(fileno=int(args[0])), args[2:] if branch else args[1:], branch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
