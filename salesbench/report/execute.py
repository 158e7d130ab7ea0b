"""Execute the planned reports: Papermill in forked workers, timeouts, skip detection.

Each report runs in a forked worker process that calls Papermill's Python API
(kernel ``python3``, cwd = the report's folder, ``out_dir="."`` and an absolute
``data`` path injected, a per-cell execution timeout, ZMQ over IPC sockets in a
private folder so parallel kernels cannot collide on TCP ports — papermill
#511), then renders the HTML (:func:`salesbench.report.render.render_html`). The
parent enforces an outer wall-clock limit per report (papermill can hang after
the last cell, papermill #711) by killing the worker and its kernel. ``--jobs N``
runs N workers at once (``--jobs auto``: :func:`salesbench.report.plan.auto_jobs`), the
longest report first. Forked workers inherit the already-imported
Papermill/nbconvert, and their kernels are forked from the run's zygote
(:mod:`salesbench.report.zygote`), which has already imported what the notebooks
import, so a report costs neither a Python start-up nor the notebook's imports.
Once its last cell has replied the kernel is killed, not asked to
exit (an exit cost 0.6–3 s per report, issue #13); ``cpu_s`` records the CPU
seconds the report used. A notebook that stopped after recording
``res.skip(reason)`` (its ``results.json`` says ``"status": "skipped"``) is a
skip, not a failure.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import multiprocessing as mp
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from salesbench.core.forked import die_with_parent
from salesbench.core.i18n import N_
from salesbench.report import params as _params, zygote as _zygote
from salesbench.report.plan import CHECKED_ENV, Job, checked_env
from salesbench.report.render import render_html

#: Default wall-clock limit per report (seconds); also the per-cell execution timeout.
DEFAULT_TIMEOUT = 3600
#: Extra seconds the outer limit allows beyond ``timeout`` (kernel start/shutdown, HTML rendering).
WALL_GRACE = 60
#: Heartbeat interval for long-running reports (seconds).
HEARTBEAT = 30
#: Modules kept out of the runner's imports (:func:`import_notebook_tools`): ``jsonschema`` (through nbformat)
#: imports ``rfc3987_syntax`` when installed, whose import builds a grammar (1.2 s quiet, 6 s at load 10, 2 cores)
#: for the ``iri`` string format that no notebook schema uses.
UNUSED_IMPORTS = ("rfc3987_syntax",)


def import_notebook_tools() -> None:
    """Import Papermill and nbconvert once in the runner (forked workers inherit them), without :data:`UNUSED_IMPORTS`.

    Each of those names is blocked (``sys.modules[name] = None``: importing it raises ``ImportError``, which
    ``jsonschema`` tolerates) only while Papermill and nbconvert are imported, then unblocked, so code that
    imports it later still can. A module already imported stays as it is.
    """
    blocked = [name for name in UNUSED_IMPORTS if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import nbconvert  # noqa: F401
        import nbformat  # noqa: F401
        import papermill  # noqa: F401
    finally:
        for name in blocked:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]


def _inject(job: Job, safe_source: str) -> dict[str, Any]:
    values = job.params.plain()
    values["data"] = safe_source  # absolute path or URL without password
    values["out_dir"] = "."
    if values.get("driver_plan"):  # a file the forecast reads: relative to where salesbench was started, like data
        values["driver_plan"] = os.path.abspath(os.path.expanduser(str(values["driver_plan"])))
    return values




def timed_out_cell(ipynb: str | os.PathLike) -> str | None:
    """Where an executed notebook stopped: ``section "<## heading>", code cell <n> (<first code line>)``.

    Papermill saves the notebook when a cell times out; the cell that was
    running is the last code cell with a ``papermill.start_time``. The section is
    the nearest ``## `` heading in a markdown cell above it; the code line is its
    first line that is neither blank nor a comment (cut at 80 characters).
    ``None`` if the notebook cannot be read or no cell had started.
    """
    try:
        cells = json.loads(Path(ipynb).read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return None
    started = [i for i, c in enumerate(cells) if c.get("cell_type") == "code"
               and (c.get("metadata", {}).get("papermill") or {}).get("start_time")]
    if not started:
        return None
    idx = started[-1]

    def text(cell) -> str:
        src = cell.get("source", "")
        return "".join(src) if isinstance(src, list) else str(src)

    section = None
    for cell in reversed(cells[:idx]):
        if cell.get("cell_type") == "markdown":
            heads = [ln[3:].strip() for ln in text(cell).splitlines() if ln.startswith("## ")]
            if heads:
                section = heads[-1]
                break
    code = next((ln.strip() for ln in text(cells[idx]).splitlines() if ln.strip() and not ln.lstrip().startswith("#")),
                "")
    if len(code) > 80:
        code = code[:79] + "…"
    number = sum(1 for c in cells[:idx + 1] if c.get("cell_type") == "code")
    where = f'section "{section}", ' if section else ""
    return f"{where}code cell {number}" + (f" ({code})" if code else "")


def _worker_main(spec: dict[str, Any], conn) -> None:
    """Entry point of a forked worker: die with the parent, execute, send the result back."""
    die_with_parent()
    if not os.environ.get("SALESBENCH_DEBUG"):
        # Kernel chatter (e.g. ipykernel's "KeyboardInterrupt caught in kernel" at shutdown) would
        # interleave with the progress lines; errors reach the user through the result instead.
        # SALESBENCH_DEBUG=1 keeps the kernels' stderr on the terminal.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    try:
        result = _execute(spec)
    except BaseException as exc:  # pragma: no cover - reported to the parent
        result = {"status": "failed", "error": f"{type(exc).__name__}: {exc}", "headline": []}
    result["cpu_s"] = cpu_seconds() + _zygote.kernel_cpu_seconds()  # a zygote's kernel is not the worker's child
    try:
        conn.send(result)
    finally:
        conn.close()


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its children that have ended (``getrusage``).

    In a forked worker (its counters start at zero) this is the report's CPU time: the worker (Papermill,
    HTML) plus its kernel and whatever the kernel started and waited for (sampler chains, g++). Less
    dependent on other load than wall time, so ``manifest.json`` records it as ``cpu_s``.
    """
    import resource

    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN)))


def _kill_tree(pid: int) -> None:
    """SIGKILL a worker and every descendant (its kernel runs in its own session)."""
    try:
        import psutil

        proc = psutil.Process(pid)
        procs = proc.children(recursive=True) + [proc]
    except Exception:
        procs = []
    for p in procs:
        try:
            p.kill()
        except Exception:
            pass
    if not procs:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass




# --------------------------------------------------------------------------- inside the worker
def _run_papermill(spec: dict[str, Any], out_nb: Path) -> tuple[dict[str, Any], bool]:
    """Execute the notebook; returns ``({status, error, reason, headline}, stopped_early)``.

    ``stopped_early`` is True when a cell raised (the notebook may have stopped
    on purpose after recording ``res.skip(reason)``: :func:`_read_outcome` decides).
    """
    import warnings

    import papermill as pm  # imported by the parent before forking; here for the names
    from nbclient.exceptions import CellTimeoutError
    from traitlets.config import Config

    warnings.filterwarnings("ignore", message=".*missing an id field.*")  # nbformat, notebooks saved by old tools
    ipc_dir = tempfile.mkdtemp(prefix="sbk-")  # short path: unix sockets are limited to ~107 bytes
    # shutdown "immediate": once the last cell has replied, the kernel's process group is killed instead of asked
    # to exit (a "graceful" exit of a kernel holding pandas/matplotlib/PyMC took 0.6-3 s per report, and nothing
    # a report writes waits for it: every file is written by a cell that has finished).
    cfg = Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(ipc_dir, "k")},
                  "NotebookClient": {"shutdown_kernel": "immediate"}})
    for section, values in _zygote.kernel_manager_config(spec.get("zygote"), spec["input"]).items():  # forked
        cfg[section].update(values)
    result: dict[str, Any] = {"status": "ok", "error": None, "reason": None, "headline": []}
    stopped_early = False
    try:
        pm.execute_notebook(
            spec["input"], str(out_nb), parameters=spec["parameters"], kernel_name="python3",
            cwd=str(out_nb.parent), progress_bar=False, log_output=False, start_timeout=120,
            execution_timeout=spec["timeout"], config=cfg,
        )
    except pm.PapermillExecutionError as exc:
        result.update(status="failed", error=f"{exc.ename}: {exc.evalue} (cell {exc.exec_count})")
        stopped_early = True
    except CellTimeoutError:  # its own text ends in the cell's source between lines of dashes
        where = timed_out_cell(out_nb) or "a cell"
        result.update(status="failed", error=f"timed out: {where} ran longer than the per-cell limit of "
                                             f"{spec['timeout']:g} s (--timeout)")
    except Exception as exc:  # dead kernels, missing kernelspec, ...
        msg = str(exc).strip().splitlines()
        result.update(status="failed", error=f"{type(exc).__name__}: {msg[-1] if msg else ''}".strip())
    finally:
        shutil.rmtree(ipc_dir, ignore_errors=True)
    return result, stopped_early


def _read_outcome(result: dict[str, Any], results_path: Path, stopped_early: bool) -> None:
    """Take the headline from ``<name>.results.json``; a recorded skip turns an ok or stopped run into ``skipped``."""
    if not results_path.exists():
        return
    try:
        data = json.loads(results_path.read_text(encoding="utf-8"))
        result["headline"] = [h for h in data.get("headline", []) if isinstance(h, dict)]
        if (result["status"] == "ok" or stopped_early) and data.get("status") == "skipped":
            result.update(status="skipped", error=None, reason=str(data.get("reason") or N_("skipped by the notebook")))
    except (OSError, ValueError) as exc:
        if result["status"] == "ok":
            result.update(status="failed", error=f"unreadable {results_path.name}: {exc}")


def _execute(spec: dict[str, Any]) -> dict[str, Any]:
    """Execute one notebook with Papermill and render its HTML (runs inside the worker process).

    ``spec`` holds: input, workdir, name, parameters, timeout, password, html
    (header resources). Returns ``{status, error, reason, headline, html}``; the parent checks
    which files exist itself (that also covers a killed worker).
    """
    workdir = Path(spec["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)
    out_nb = workdir / f"{spec['name']}.ipynb"
    if spec.get("password"):
        os.environ["PGPASSWORD"] = spec["password"]
    os.environ.pop(CHECKED_ENV, None)
    if spec.get("checked"):  # the runner's table checks: the kernel's sb.start adopts them (plan.adopt_checks)
        os.environ[CHECKED_ENV] = spec["checked"]
    result, stopped_early = _run_papermill(spec, out_nb)
    _read_outcome(result, workdir / f"{spec['name']}.results.json", stopped_early)
    result["html"] = False
    if result["status"] != "failed" and not stopped_early and out_nb.exists():
        try:
            render_html(out_nb, workdir / f"{spec['name']}.html", spec["html"])
            result["html"] = True
        except Exception as exc:
            result.update(status="failed", error=f"HTML rendering failed: {type(exc).__name__}: {exc}")
    return result


# --------------------------------------------------------------------------- the parent: a pool of workers
class Interrupted(Exception):
    """Raised by the SIGTERM/SIGHUP handler so that the run cleans up like after Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """While inside: SIGTERM and SIGHUP raise :class:`Interrupted` (the previous handlers come back after)."""
    def _on_signal(signum, _frame):
        raise Interrupted(signum)

    old_handlers = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            old_handlers[sig] = signal.signal(sig, _on_signal)
        except (ValueError, OSError):  # not in the main thread
            pass
    try:
        yield
    finally:
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)


def job_spec(job: Job, tmp: Path, timeout: float, header: dict[str, Any], zygote: str | None = None) -> dict[str, Any]:
    """What a worker needs for one report (see :func:`_execute`); ``data`` injected without its password."""
    source = job.safe_source if job.safe_source is not None else job.data_source
    return {
        "input": str(_params.notebooks_dir() / f"{job.name}.ipynb"),
        "workdir": str(tmp / job.rel_dir if job.rel_dir else tmp),
        "name": job.name,
        "parameters": _inject(job, source),
        "timeout": int(timeout) if float(timeout).is_integer() else float(timeout),
        "password": job.password,
        "html": header,
        "checked": checked_env(source, job.checked),
        "zygote": zygote,
    }


def _start_worker(ctx, job: Job, spec: dict[str, Any]) -> tuple[Job, Any, Any, float]:
    """Fork a worker for one report; returns ``(job, process, receiving pipe end, start time)``."""
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker_main, args=(spec, send), name=f"salesbench-{job.name}")
    job.started_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    proc.start()
    send.close()
    return job, proc, recv, time.monotonic()


def _poll_worker(proc, recv, t0: float, now: float, wall: float) -> dict[str, Any] | None:
    """The worker's result once it is done, died, or passed the wall-clock limit (then killed); else ``None``."""
    if recv.poll():
        try:
            result = recv.recv()
        except (EOFError, OSError):
            result = None
        proc.join(timeout=30)
        if proc.is_alive():
            _kill_tree(proc.pid)
        if result is None:
            result = {"status": "failed", "error": f"worker ended without a result (exit code {proc.exitcode})"}
        return result
    if not proc.is_alive():
        proc.join()
        return {"status": "failed", "error": f"worker process died (exit code {proc.exitcode})"}
    if now - t0 > wall:
        _kill_tree(proc.pid)
        proc.join(timeout=10)
        return {"status": "failed",
                "error": f"timed out: exceeded the wall-clock limit of {wall:g} s; worker and kernel killed"}
    return None


def _record(job: Job, result: dict[str, Any], tmp: Path, duration: float, scrub: Callable[[str], str]) -> str:
    """Store a worker's result on its job (error text scrubbed, which files exist); returns the progress-line tail."""
    job.duration_s = duration
    job.cpu_s = result.get("cpu_s")
    job.status = result.get("status", "failed")
    job.error = scrub(str(result["error"])) if result.get("error") else None
    job.reason = result.get("reason") or job.reason
    job.headline = result.get("headline") or []
    job.has_html = bool(result.get("html"))
    workdir = tmp / job.rel_dir if job.rel_dir else tmp
    job.has_ipynb = (workdir / f"{job.name}.ipynb").exists()
    job.has_results = (workdir / f"{job.name}.results.json").exists()
    return {"ok": "ok", "failed": f"FAILED  {job.error}", "skipped": f"skipped: {job.reason}"}[job.status]


def announce(jobs: list[Job], n_jobs: int, final: Path, say: Callable[[str], None]) -> None:
    """The run's first lines: how many reports, where to; then one line per report skipped before any kernel."""
    say(f"salesbench run: {len(jobs)} report(s), jobs={n_jobs}, output {final}")
    for j in jobs:
        if j.status == "skipped":
            j.duration_s = 0.0
            say(f"  [{j.index}/{len(jobs)}] {j.display:<32} skipped: {j.reason}")


def execute_jobs(jobs: list[Job], tmp: Path, *, n_jobs: int, timeout: float, wall: float,
                 header: Callable[[Job], dict[str, Any]], say: Callable[[str], None],
                 scrub: Callable[[str], str], order: list[Job] | None = None, zygote: str | None = None) -> None:
    """Run every pending job, ``n_jobs`` at a time, into ``tmp``; each job gets its status, error, headline, files.

    ``order`` is the sequence in which jobs start (default: ``jobs``' order;
    the runner passes :func:`salesbench.report.plan.start_order`, longest first).
    ``zygote`` is the socket address of the run's :class:`salesbench.report.zygote.Zygote` (kernels forked from
    it; ``None``: started with ``Popen``).
    On Ctrl-C or :class:`Interrupted` every running worker and its kernel are
    killed before the exception propagates.
    """
    pending = [j for j in (jobs if order is None else order) if j.status == "pending"]
    if pending:  # a run of skipped reports needs neither
        import_notebook_tools()  # once in the parent; forked workers inherit it
    ctx = mp.get_context("fork")
    running: dict[int, tuple[Job, Any, Any, float]] = {}
    last_beat = time.monotonic()
    try:
        while pending or running:
            while pending and len(running) < n_jobs:
                job = pending.pop(0)
                worker = _start_worker(ctx, job, job_spec(job, tmp, timeout, header(job), zygote))
                running[worker[1].pid] = worker
                say(f"  [{job.index}/{len(jobs)}] {job.display:<32} started")
            time.sleep(0.05)
            now = time.monotonic()
            for pid, (job, proc, recv, t0) in list(running.items()):
                result = _poll_worker(proc, recv, t0, now, wall)
                if result is None:
                    continue
                del running[pid]
                recv.close()
                tail = _record(job, result, tmp, now - t0, scrub)
                say(f"  [{job.index}/{len(jobs)}] {job.display:<32} {job.duration_s:6.1f} s  {tail}")
            if running and now - last_beat >= HEARTBEAT:
                last_beat = now
                for job, _p, _r, t0 in running.values():
                    if now - t0 >= HEARTBEAT:
                        say(f"  … {job.display} still running ({now - t0:.0f} s)")
    except BaseException:
        for _job, proc, _recv, _t0 in running.values():
            _kill_tree(proc.pid)
            proc.join(timeout=10)
        raise
