"""``salesbench run`` and ``salesbench list``: the command line over the report steps.

A run is a list of named steps, each in its own module:

1. **Plan** (:mod:`salesbench.report.plan`): the notebooks to run, their
   parameters resolved and validated (:mod:`salesbench.report.params`), the
   ``--out`` folder checked (:mod:`salesbench.report.outdir`), each data source
   opened once, one job per notebook and sweep set — skipped without a kernel
   when its ``_requires`` tables are missing. Any error exits with status 2
   naming the key and the file, before a kernel starts or an output folder exists.
2. **Claim the output folder** (:mod:`salesbench.report.outdir`): a new
   timestamped name under ``reports/`` (claimed with ``O_EXCL``) or ``--out``,
   written through a hidden temporary sibling folder.
3. **Execute** (:mod:`salesbench.report.execute`): Papermill in forked workers,
   per-cell and wall-clock timeouts, skip detection; each worker also
   **renders** its HTML (:mod:`salesbench.report.render`). The kernels are forked from
   the run's zygote (:mod:`salesbench.report.zygote`), started once everything is checked
   (a refused run starts nothing).
4. **Publish** (:mod:`salesbench.report.publish`): ``manifest.json`` and
   ``index.html`` (:mod:`salesbench.report.index`) written last, secrets
   scrubbed, the folder renamed into place atomically, ``reports/latest`` switched.

An interrupted run (Ctrl-C, SIGTERM) removes its temporary folder; a killed
run leaves only hidden files, which the next run removes once their process is
gone. Neither becomes ``latest``.

Output of a run folder::

    index.html  manifest.json
    <name>.html  <name>.ipynb  <name>.results.json  <name>.<table>.csv
    <name>/<sweep label>/<name>.html ...       (one sub-folder per sweep set)

Secrets: a password in a database URL (``postgres://user:pw@host/db`` or
``?password=``) is removed from the ``data`` value injected into notebooks and
handed to the kernel as ``PGPASSWORD``; everything printed or written goes
through :func:`salesbench.core.secrets.redact` plus a scrub of the literal secret
(:func:`~salesbench.core.secrets.split_secret`, :class:`~salesbench.core.secrets.Scrubber`).

Exit status: 0 all reports ok or skipped, 1 a report failed, 2 bad input
(parameters, unknown notebook, unreadable data source, unusable ``--out``), 130 interrupted by Ctrl-C
(128 + signal number for SIGTERM/SIGHUP).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shutil
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from salesbench.core import i18n
from salesbench.core.secrets import Scrubber, redact, split_secret  # noqa: F401  (re-exported)
from salesbench.report import execute, outdir, params as _params, plan, publish, render, zygote
from salesbench.report.execute import DEFAULT_TIMEOUT, WALL_GRACE
from salesbench.report.plan import Job, absolute_source  # noqa: F401  (re-exported)

#: ``--jobs auto``: as many reports at once as cores, reports and memory allow (the CLI default).
AUTO = "auto"




@dataclass
class RunResult:
    """What :func:`run_reports` did: exit status, output folder, per-report jobs."""

    exit_code: int
    out_dir: Path | None = None
    index: Path | None = None
    jobs: list[Job] = field(default_factory=list)
    message: str | None = None


def run_reports(
    names: Sequence[str] | None = None,
    data: str | None = None,
    files: Sequence[str] = (),
    overrides: Sequence[str] = (),
    out: str | os.PathLike | None = None,
    jobs: int | str = 1,
    timeout: float = DEFAULT_TIMEOUT,
    wall_timeout: float | None = None,
    echo: Callable[[str], None] | None = None,
    command: Sequence[str] | None = None,
    lang: str | None = None,
) -> RunResult:
    """Plan, execute, render and publish reports (the work behind ``salesbench run``).

    ``timeout`` is the per-cell execution timeout; ``wall_timeout`` (default
    ``timeout + WALL_GRACE``) the outer limit per report after which its worker
    and kernel are killed. ``echo`` receives terminal lines (already scrubbed
    of credentials). Returns a :class:`RunResult`; never raises for a failing
    notebook. ``jobs`` is a number of reports run at once, or ``"auto"``
    (:func:`salesbench.report.plan.auto_jobs`: as many as cores, reports and
    memory allow); either way the longest report starts first (:func:`salesbench.report.plan.start_order`).
    ``lang`` (``--lang``) is the language of every report (:mod:`salesbench.core.i18n`; a per-notebook
    ``-p NAME.lang=...`` still wins) and of ``index.html``; without it the index takes the language
    most reports of the run have.
    """
    scrub = Scrubber()
    say = (lambda line: (echo or _print)(scrub(line)))
    started, run_date = time.monotonic(), _dt.datetime.now(_dt.timezone.utc)
    run_date_text = run_date.strftime("%Y-%m-%d %H:%M UTC")
    options = publish.RunOptions(
        files, overrides, data, 1 if jobs == AUTO else max(1, int(jobs)), timeout,
        float(wall_timeout) if wall_timeout is not None else float(timeout) + WALL_GRACE,
        list(command) if command is not None else ["salesbench", *sys.argv[1:]], lang=lang)
    _add_secrets(scrub, [data or "", *(o.partition("=")[2] for o in overrides)])  # first: errors are scrubbed too
    try:
        requested = plan.requested_names(names)
        sets = plan.resolve_params(requested, files, overrides, data, lang)
        _add_secrets(scrub, [str(p["data"]) for plist in sets.values() for p in plist])
        final = outdir.checked_out(out, plan.data_sources(sets))  # before any data is opened
        sources = plan.open_sources(sets, say, scrub)
        job_list = plan.build_jobs(requested, sets, sources)
        run = outdir.prepare_run_dir(final)
    except (plan.PlanError, outdir.OutError) as exc:
        return RunResult(2, message=scrub(str(exc)))
    order = plan.start_order(job_list, plan.previous_durations(_previous_manifests(final)))
    if jobs == AUTO:
        options.jobs, options.jobs_requested = plan.auto_jobs(len(order)), AUTO
    for job in job_list:
        job.safe_source, job.password = split_secret(job.data_source)
    execute.announce(job_list, options.jobs, run.final, say)
    # the kernels' zygote imports what the notebooks import, first reports first, while the runner imports
    # Papermill and starts the workers; not earlier: a refused run (exit 2) starts nothing and writes nothing
    # (not even a cache that an import fills). It is stopped as soon as the reports have run.
    kernels = zygote.Zygote.start(dict.fromkeys(_params.notebooks_dir() / f"{j.name}.ipynb" for j in order),
                                  branch=options.jobs >= 2) \
        if order else None
    try:
        with execute.signals_interrupt(), kernels or nullcontext():
            execute.execute_jobs(
                job_list, run.tmp, n_jobs=options.jobs, timeout=timeout, wall=options.wall, say=say, scrub=scrub,
                order=order, header=lambda j: render.report_header(j, run_date, sources[j.data_source], scrub),
                zygote=kernels.address if kernels is not None else None)
    except (KeyboardInterrupt, execute.Interrupted) as exc:
        return _abandon(run, exc, say)
    duration = time.monotonic() - started
    manifest = publish.build_manifest(job_list, sources, options, run_date, duration, run.final, scrub)
    meta = publish.index_meta(manifest, run_date_text, duration, run_date)
    kept = publish.publish_run(run, job_list, manifest, meta, scrub)
    return _finish(run, job_list, manifest, kept, duration, say)


def _previous_manifests(final: Path | None) -> list[Path]:
    """Where the previous run's durations are: the ``--out`` folder's own manifest, else ``reports/latest``'s."""
    latest = outdir.reports_root() / "latest" / "manifest.json"
    return ([final / "manifest.json"] if final is not None else []) + [latest]


def _add_secrets(scrub: Scrubber, sources: Sequence[str]) -> None:
    """Remember the password of every database URL among ``sources``, so that no output shows it."""
    for src in sources:
        scrub.add(split_secret(src)[1])


def _abandon(run: outdir.RunDir, exc: BaseException, say: Callable[[str], None]) -> RunResult:
    """After Ctrl-C or SIGTERM/SIGHUP (workers already killed): remove the temporary folder, publish nothing."""
    shutil.rmtree(run.tmp, ignore_errors=True)
    run.release()
    say(f"interrupted ({exc or 'Ctrl-C'}): nothing published; {run.final if run.root is None else run.root} unchanged")
    code = 128 + int(exc.signum) if isinstance(exc, execute.Interrupted) else 130
    return RunResult(code, message="interrupted")


def _finish(run: outdir.RunDir, jobs: list[Job], manifest: dict, kept: Path | None, duration: float,
            say: Callable[[str], None]) -> RunResult:
    """Switch ``latest`` (runs without ``--out``), print the summary and where the index is; the exit status."""
    final = run.final
    if kept is not None:
        say(f"note: {final} held files salesbench did not write; the previous run with them is now in {kept}")
    shown = final
    if run.root is not None:
        if publish.point_latest(run.root, final):
            shown = run.root / "latest"
        else:
            say(f"note: {run.root / 'latest'} is a real folder, not a symlink; left unchanged")
    s = manifest["summary"]
    say(f"{s['ok']} ok, {s['failed']} failed, {s['skipped']} skipped in {duration:.1f} s")
    shown_index = shown / "index.html"
    try:  # reports/latest/index.html when it lies below the working folder, else the full path
        shown_index = shown_index.relative_to(Path.cwd())
    except ValueError:
        pass
    say(f"index: {shown_index}")
    return RunResult(1 if s["failed"] else 0, final, final / "index.html", jobs)


def _print(line: str) -> None:
    print(line, flush=True)


# --------------------------------------------------------------------------- CLI
def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``salesbench run``."""
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="notebooks to run (default: every notebook, in _order)")
    parser.add_argument("--data", metavar="SRC", default=None,
                        help="data source for every notebook: demo, demo:seed=N,customers=N, folder, .duckdb, "
                             "source spec .yaml, postgres:// URL (default: each notebook's 'data' parameter)")
    parser.add_argument("-f", "--file", dest="files", action="append", default=[], metavar="PARAMS.yaml",
                        help="parameter file (plain keys, 'sweep:' list, 'notebooks:' sections); repeatable")
    parser.add_argument("-p", "--param", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="set a parameter (value parsed as YAML; NAME.KEY=VALUE for one notebook); repeatable")
    parser.add_argument("--lang", metavar="LANG", default=None,
                        help="language of every report and of the index: " + ", ".join(i18n.LANGUAGES)
                             + " (default: each notebook's 'lang' parameter, en); -p NAME.lang=... still wins")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="output folder (default: reports/<timestamp>/, with reports/latest pointing to it)")
    parser.add_argument("--jobs", "-j", type=_jobs_value, default=AUTO, metavar="N",
                        help="notebooks run in parallel: a number, or 'auto' = as many as cores, reports and "
                             "memory allow (default auto); the longest report starts first")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"per-cell execution limit; a report is killed after SECONDS+{WALL_GRACE} "
                             f"(default {DEFAULT_TIMEOUT})")


def _jobs_value(text: str) -> int | str:
    """``--jobs``: ``auto`` or a whole number (checked to be at least 1 by :func:`main_run`)."""
    if text.strip().lower() == AUTO:
        return AUTO
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'auto', got {text!r}") from None


def main_run(args: argparse.Namespace) -> int:
    """``salesbench run``: returns 0 (all ok/skipped), 1 (a report failed), 2 (bad input), 128+N (signal N)."""
    if args.jobs != AUTO and args.jobs < 1:
        print(f"salesbench run: error: --jobs must be at least 1, got {args.jobs}", file=sys.stderr)
        return 2
    if not 0 < args.timeout < float("inf"):  # also rejects nan
        print(f"salesbench run: error: --timeout must be a positive number of seconds, got {args.timeout:g}",
              file=sys.stderr)
        return 2
    try:
        result = run_reports(
            names=args.names, data=args.data, files=args.files, overrides=args.overrides, out=args.out,
            jobs=args.jobs, timeout=args.timeout, lang=getattr(args, "lang", None),
        )
    except KeyboardInterrupt:  # before any report started: nothing to clean up
        print("salesbench run: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # disk full, folder removed under us ...: the temporary folder is already gone
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"salesbench run: error: could not write the run{where}: {exc.strerror or exc}; nothing was "
              f"published and the previous run is unchanged", file=sys.stderr)
        return 1
    if result.exit_code == 2 and result.message:
        print(f"salesbench run: error: {result.message}", file=sys.stderr)
    return result.exit_code


def add_list_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``salesbench list``."""
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def main_list(args: argparse.Namespace) -> int:
    """``salesbench list``: every notebook in run order with its title, required tables and parameters."""
    try:
        names = _params.notebook_names()
        decls = [_params.declaration(n) for n in names]
    except _params.ParamError as exc:
        print(f"salesbench list: error: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "json", False):
        out = [
            {"name": d.name, "title": d.title, "order": d.order, "requires": d.requires,
             "params_file": str(d.path) if d.path else None,
             "parameters": {k: {"type": str(t), "default": _params.to_plain(d.defaults[k])} for k, t in d.types.items()}}
            for d in decls
        ]
        print(json.dumps(out, indent=2))
        return 0
    if not decls:
        print(f"no notebooks in {_params.notebooks_dir()}")
        return 0
    for d in decls:
        req = f"  needs: {', '.join(d.requires)}" if d.requires else ""
        print(f"{d.order:>4}  {d.name} — {d.title}{req}")
        if d.path is None:
            print("        (no params file: common keys only)")
        for key, t in d.types.items():
            default = json.dumps(_params.to_plain(d.defaults[key]), ensure_ascii=False)
            print(f"        {key}: {t} = {default}")
    return 0
