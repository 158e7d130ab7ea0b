"""Publish a finished run: ``manifest.json``, ``index.html``, the atomic rename into place, ``latest``.

Everything is written into the hidden temporary sibling folder
(:class:`salesbench.report.outdir.RunDir`); ``index.html`` and ``manifest.json``
are written last, literal secrets are scrubbed from every text file, then the
folder is renamed into place (:func:`swap_in`). A previous run at ``--out`` is
swapped out only now, and only the files its manifest lists are deleted.
``reports/latest`` (a relative symlink) is switched with an atomic ``rename``
(:func:`point_latest`): it always points at a complete run.
"""
from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import platform
import secrets as _secrets
import shlex
import shutil
from collections import Counter
from importlib import metadata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from salesbench.core import i18n
from salesbench.report.index import index_html
from salesbench.report.outdir import RUN_SIGNATURE, RunDir, _files_under, discard_run
from salesbench.report.plan import Job

#: Packages whose versions go into the manifest.
MANIFEST_PACKAGES = (
    "salesbench", "pandas", "numpy", "pyarrow", "duckdb", "ibis-framework", "pandera", "pydantic", "pyyaml",
    "matplotlib", "seaborn", "scikit-learn", "scipy", "statsmodels", "statsforecast", "pymc", "pymc-marketing",
    "arviz", "papermill", "nbconvert", "nbclient", "nbformat", "ipykernel", "jupyter_client",
)


def package_versions() -> dict[str, str | None]:
    """Python and the versions of :data:`MANIFEST_PACKAGES` (``None`` when not installed)."""
    out = {"python": platform.python_version()}
    for pkg in MANIFEST_PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out



def _retarget_paths(tmp: Path, final: Path) -> None:
    """Replace the temporary folder's path by the final one in executed notebooks (papermill's output_path)."""
    for path in tmp.rglob("*.ipynb"):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if str(tmp) in text:
            path.write_text(text.replace(str(tmp), str(final)), encoding="utf-8")


def _readable(root: Path) -> None:
    """Give files created private (``mkstemp`` makes 0600) the normal umask permissions, so reports can be served."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [root, *root.rglob("*")]:
        try:
            if path.is_symlink():
                continue
            mode = path.stat().st_mode & 0o777
            want = (0o777 if path.is_dir() else 0o666) & ~umask
            if mode | want != mode:
                os.chmod(path, mode | want)
        except OSError:
            pass


def swap_in(tmp: Path, final: Path) -> Path | None:
    """Move the finished run folder ``tmp`` into place at ``final``.

    A new name or an empty folder is replaced by one ``rename``. A previous run
    is swapped out only now (rename away, rename in, roll back on failure); then
    only the files that run wrote (:func:`run_files`) are deleted. Anything else
    found in it (a file added while this run was running) is kept in
    ``<final>.kept-<timestamp>``, whose path is returned (``None`` normally).
    """
    try:
        os.rename(tmp, final)
        return None
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    old = final.parent / f".{final.name}.sbold-{os.getpid()}-{_secrets.token_hex(3)}"
    os.rename(final, old)
    try:
        os.rename(tmp, final)
    except BaseException:
        os.rename(old, final)
        raise
    return discard_run(old, final)




def point_latest(root: Path, target: Path) -> bool:
    """Atomically switch ``root/latest`` to the symlink ``target.name`` (returns False if ``latest`` is a real folder)."""
    latest = root / "latest"
    if latest.exists() and not latest.is_symlink():
        return False
    tmp_link = root / f".latest.sbtmp-{os.getpid()}-{_secrets.token_hex(3)}"
    os.symlink(target.name, tmp_link)
    os.replace(tmp_link, latest)
    return True




@dataclass
class RunOptions:
    """What a run was asked to do, as recorded in ``manifest.json["options"]`` and ``["command"]``."""

    files: Sequence[str] = ()
    overrides: Sequence[str] = ()
    data: str | None = None
    jobs: int = 1  # reports run at once (``--jobs auto`` resolved to its number)
    timeout: float = 3600
    wall: float = 3660
    command: Sequence[str] = ()
    jobs_requested: int | str | None = None  # what --jobs said ("auto"), when it differs from ``jobs``
    lang: str | None = None  # --lang (``None``: each notebook's own ``lang``)


def _report_entry(j: Job, sources: dict[str, dict[str, Any]], scrub: Callable[[str], str]) -> dict[str, Any]:
    """One report's entry in ``manifest.json["reports"]`` (``data`` without its password)."""
    return {
        "name": j.name,
        "title": j.title,
        "sweep_label": j.label,
        "dir": j.rel_dir or ".",
        "status": j.status,
        "reason": j.reason,
        "error": j.error,
        "started_at": j.started_at,
        "duration_s": None if j.duration_s is None else round(j.duration_s, 3),
        "cpu_s": None if j.cpu_s is None else round(j.cpu_s, 3),
        "html": j.path(".html") if j.has_html else None,
        "ipynb": j.path(".ipynb") if j.has_ipynb else None,
        "results": j.path(".results.json") if j.has_results else None,
        "data": sources[j.data_source]["label"],
        "data_fingerprint": sources[j.data_source]["fingerprint"],
        "requires": j.requires,
        "parameters": {k: scrub(v) if isinstance(v, str) else v
                       for k, v in {**j.params.plain(), "data": j.safe_source, "out_dir": "."}.items()},
        "parameter_sources": dict(j.params.sources),
        "headline": j.headline,
    }


def build_manifest(jobs: list[Job], sources: dict[str, dict[str, Any]], options: RunOptions,
                   run_date: _dt.datetime, duration: float, final: Path,
                   scrub: Callable[[str], str]) -> dict[str, Any]:
    """``manifest.json`` of a run (without ``run_files``, added by :func:`publish_run`)."""
    versions = package_versions()
    return {
        "generator": RUN_SIGNATURE,
        "salesbench_version": versions.get("salesbench") or "",
        "started_at": run_date.isoformat(timespec="seconds"),
        "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(duration, 3),
        "command": scrub(shlex.join(options.command)),
        "output": str(final),
        "options": {"jobs": options.jobs, "jobs_requested": options.jobs_requested or options.jobs,
                    "timeout_s": options.timeout, "wall_timeout_s": options.wall,
                    "files": [str(f) for f in options.files], "overrides": [scrub(o) for o in options.overrides],
                    "data": scrub(options.data) if options.data else None,
                    "lang": i18n.normalize(options.lang) if options.lang else None},
        "lang": run_language(jobs, options.lang),
        "data": [{"source": s["label"], "fingerprint": s["fingerprint"], "tables": s["tables"]} for s in sources.values()],
        "packages": versions,
        "platform": {"system": platform.system(), "machine": platform.machine(), "cpus": os.cpu_count()},
        "summary": {s: sum(j.status == s for j in jobs) for s in ("ok", "failed", "skipped")},
        "reports": [_report_entry(j, sources, scrub) for j in jobs],
    }


def run_language(jobs: list[Job], lang: str | None = None) -> str:
    """The language of a run's index page: ``--lang`` when given, else the language most of its reports
    have (the first report's on a tie; ``en`` without reports)."""
    if lang:
        return i18n.normalize(lang)
    counts = Counter(j.lang for j in jobs)
    return counts.most_common(1)[0][0] if counts else i18n.DEFAULT


def index_meta(manifest: dict[str, Any], run_date_text: str, duration: float,
               run_date: _dt.datetime | None = None) -> dict[str, Any]:
    """What the index page shows above the table: language, run date (text, and the time itself for
    the page's date format), duration, salesbench version, data sources."""
    return {
        "lang": manifest.get("lang", i18n.DEFAULT),
        "run_at": run_date,
        "run_date": run_date_text,
        "duration_s": duration,
        "version": manifest["salesbench_version"],
        "data": [{"label": d["source"], "fingerprint": d["fingerprint"]} for d in manifest["data"]],
    }


def publish_run(run: RunDir, jobs: list[Job], manifest: dict[str, Any], meta: dict[str, Any],
                scrub) -> Path | None:
    """Write ``index.html`` and ``manifest.json`` last, scrub secrets, rename the run into place.

    ``scrub`` is the run's :class:`~salesbench.report.runner.Scrubber` (its
    ``scrub_tree`` replaces literal secrets in every text file). Returns the
    ``.kept-`` folder when a previous run held foreign files (else ``None``).
    The temporary folder is removed on any failure; the name claim always.
    """
    tmp, final = run.tmp, run.final
    try:
        (tmp / "index.html").write_text(index_html(jobs, meta), encoding="utf-8")
        manifest["run_files"] = sorted({*_files_under(tmp), "manifest.json"})  # what a later --out may delete
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
        _retarget_paths(tmp, final)
        scrub.scrub_tree(tmp)
        _readable(tmp)
        return swap_in(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        run.release()
