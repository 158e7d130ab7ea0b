"""Where a run goes, and the safety rules of ``--out`` (checked before any data is opened or kernel started).

* Without ``--out``: ``reports/<UTC YYYYMMDD-HHMMSS>/``, or ``…-2``, ``…-3`` when
  that name is taken. A name is claimed when the run starts by creating the
  hidden file ``reports/.<name>.sbclaim`` with ``O_EXCL`` (it holds the pid), so
  two runs started in the same second never share a folder (:func:`claim_run_dir`).
* ``--out DIR`` never removes or overwrites anything salesbench did not write
  (:func:`check_out`): DIR may be a new folder, an empty folder, or a previous
  run — recognised by its ``manifest.json`` (``"generator": "salesbench run"``
  and the list ``run_files``) and holding nothing else.
* Leftovers of killed runs (hidden ``.<name>.sbtmp-<pid>-<token>`` folders,
  ``.sbold-`` swapped-out runs, ``.sbclaim`` files) are removed by the next run
  once their process is gone (:func:`clean_stale_tmp`).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
import secrets as _secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from salesbench.core.secrets import is_url
from salesbench.report import params as _params

#: ``manifest.json["generator"]`` of every run folder: how a later ``--out`` recognises a previous run.
RUN_SIGNATURE = "salesbench run"


class OutError(Exception):
    """``--out`` (or the reports folder) cannot be used; the message says why and what to do. Exit status 2."""


def reports_root() -> Path:
    """Where runs without ``--out`` go: ``$SALESBENCH_REPORTS`` or ``<repo>/reports``."""
    env = os.environ.get("SALESBENCH_REPORTS")
    return Path(env).expanduser().resolve() if env else _params.repo_root() / "reports"


def _local_paths(sources: Sequence[str]) -> list[Path]:
    """The files/folders among data sources (not ``demo``, not URLs), resolved."""
    out = []
    for src in sources:
        if src == "demo" or src.startswith("demo:") or is_url(src):
            continue
        out.append(Path(os.path.expandvars(src)).expanduser().resolve())
    return out


def run_files(folder: Path) -> set[str] | None:
    """The files a previous salesbench run wrote in ``folder`` (paths relative to it), or ``None`` if not a run.

    A run folder holds a ``manifest.json`` with ``"generator": "salesbench run"``
    and the list of its files under ``"run_files"``. Folders written before that
    signature existed are recognised by their manifest (``salesbench_version`` and
    ``reports``); their files are ``index.html``, ``manifest.json`` and, in each
    report's folder, the files named ``<notebook>.*``.
    """
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict):
        return None
    if manifest.get("generator") == RUN_SIGNATURE and isinstance(manifest.get("run_files"), list):
        return {str(f) for f in manifest["run_files"]} | {"manifest.json"}
    reports = manifest.get("reports")
    if "salesbench_version" not in manifest or not isinstance(reports, list):
        return None
    own = {"index.html", "manifest.json"}
    for rep in reports:
        if not isinstance(rep, dict) or not rep.get("name"):
            continue
        sub = folder / str(rep.get("dir") or ".")
        try:
            names = [p.name for p in sub.iterdir() if p.name.startswith(f"{rep['name']}.")]
        except OSError:
            continue
        rel = os.path.relpath(sub, folder)
        own.update(n if rel == "." else f"{rel}/{n}" for n in names)
    return own


def _files_under(folder: Path) -> list[str]:
    """Every file and symlink below ``folder`` (relative paths, ``/``-separated, sorted)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        rel = os.path.relpath(dirpath, folder)
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            out.append(name if rel == "." else f"{rel}/{name}".replace(os.sep, "/"))
    return sorted(out)


def _first_writable_problem(path: Path) -> str | None:
    """Why no folder can be created at ``path`` (a file in the way, no permission, read-only), or ``None``."""
    probe = path
    while not probe.exists():
        if probe.is_symlink():
            return f"{probe} is a broken symbolic link"
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is a file, not a folder"
    if probe != path:  # the folder will be created inside probe
        if not os.access(probe, os.W_OK | os.X_OK):
            return f"no permission to create folders in {probe} (or it is read-only)"
    return None


def check_out(final: Path, data_sources: Sequence[str] = (), reports: Path | None = None) -> str:
    """Check an ``--out`` folder before anything runs; returns ``"new"``, ``"empty"`` or ``"run"`` (a previous run).

    The rule: ``--out`` may be a new folder, an empty folder, or the folder of a
    previous salesbench run (:func:`run_files`) holding only that run's files.
    Anything else raises :class:`OutError` with a one-line reason: ``/``, the home
    folder, the project folder or the reports folder; a data source or a folder
    containing one; a non-empty folder that is not a run; a run folder holding
    files salesbench did not write; a file; a place where no folder can be
    created (a file on the path, no permission, read-only file system).
    """
    try:
        return _check_out(final, data_sources, reports)
    except OSError as exc:  # e.g. a name too long for the file system
        raise OutError(f"--out {final}: {exc.strerror or exc}") from None


def _check_out(final: Path, data_sources: Sequence[str] = (), reports: Path | None = None) -> str:
    """The checks of :func:`check_out`."""
    hint = "choose a new folder (it will be created) or an empty one"
    special = {Path("/"): "the root folder", Path.home().resolve(): "your home folder",
               _params.repo_root(): "the salesbench project folder"}
    if reports is not None:
        special[reports] = "the reports folder (runs without --out go to a new timestamped folder inside it)"
    if final in special:
        raise OutError(f"--out {final} is {special[final]}; {hint}")
    for data in _local_paths(data_sources):
        if final == data or final in data.parents:
            what = "is the data source" if final == data else f"contains the data source {data}"
            raise OutError(f"--out {final} {what}; writing the report there could destroy the data; {hint}")
    if final.is_symlink() and not final.exists():
        raise OutError(f"--out {final} is a broken symbolic link; {hint}")
    if final.exists() and not final.is_dir():
        raise OutError(f"--out {final} exists and is not a folder; {hint}")
    problem = _first_writable_problem(final.parent)
    if problem:
        raise OutError(f"--out {final}: cannot create the output folder: {problem}")
    if not final.exists():
        if not os.access(final.parent, os.W_OK | os.X_OK):
            raise OutError(f"--out {final}: no permission to create folders in {final.parent} (or it is read-only)")
        return "new"
    try:
        present = _files_under(final)
        empty = not any(final.iterdir())
    except OSError as exc:
        raise OutError(f"--out {final}: cannot read the folder: {exc.strerror}") from None
    if not os.access(final.parent, os.W_OK | os.X_OK):
        raise OutError(f"--out {final}: no permission to replace it in {final.parent} (or it is read-only)")
    if empty:
        return "empty"
    own = run_files(final)
    if own is None:
        shown = ", ".join(present[:3]) + (f" and {len(present) - 3} more" if len(present) > 3 else "")
        raise OutError(f"--out {final} is a folder that holds other files ({shown or 'sub-folders'}) and is not a "
                       f"previous salesbench run; salesbench never overwrites files it did not write; {hint}")
    foreign = [f for f in present if f not in own]
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise OutError(f"--out {final} is a previous salesbench run, but it also holds files salesbench did not "
                       f"write ({shown}); move them elsewhere or {hint}")
    return "run"


def claim_run_dir(root: Path, now: _dt.datetime | None = None) -> tuple[Path, Path]:
    """Reserve a new run folder name ``root/<YYYYMMDD-HHMMSS>[-N]``; returns (folder, claim file).

    The claim is the hidden file ``root/.<name>.sbclaim`` created with
    ``O_CREAT | O_EXCL`` (so two runs can never hold the same name) and holding
    the process id; a name whose folder already exists is skipped. The folder
    itself appears only when the run is published; the claim is removed then, or
    by a later run once its process is gone.
    """
    root.mkdir(parents=True, exist_ok=True)
    stamp = (now or _dt.datetime.now(_dt.timezone.utc)).strftime("%Y%m%d-%H%M%S")
    n = 1
    while True:
        name = stamp if n == 1 else f"{stamp}-{n}"
        n += 1
        claim = root / f".{name}.sbclaim"
        try:
            fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
        if (root / name).exists() or (root / name).is_symlink():
            claim.unlink()
            continue
        return root / name, claim


def clean_stale_tmp(parent: Path) -> None:
    """Remove temporary run folders and name claims left by runs whose process is gone (e.g. killed with SIGKILL)."""
    if not parent.is_dir():
        return
    for p in parent.iterdir():
        m = re.fullmatch(r"\..+\.sb(?:tmp|old)-(\d+)-[0-9a-f]+", p.name)
        if m:
            pid = int(m.group(1))
        elif re.fullmatch(r"\..+\.sbclaim", p.name) and p.is_file():
            try:
                pid = int(p.read_text().strip())
            except (OSError, ValueError):
                continue  # being written right now
        else:
            continue
        if pid == os.getpid() or _pid_alive(pid):
            continue
        if p.is_symlink() or p.is_file():
            p.unlink(missing_ok=True)
        elif ".sbold-" in p.name:  # a previous run being swapped out: only its own files go
            try:
                discard_run(p, parent / p.name[1:p.name.rindex(".sbold-")])
            except OSError:
                pass
        elif p.is_dir():
            shutil.rmtree(p, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True




def discard_run(old: Path, final: Path) -> Path | None:
    """Delete the files a swapped-out run wrote (:func:`run_files`), then its empty folders.

    Whatever else is left (files salesbench did not write) is moved to
    ``<final>.kept-<timestamp>``, whose path is returned (``None`` if nothing was left).
    """
    inside = os.path.realpath(old)
    for rel in run_files(old) or ():
        path = old / rel
        if os.path.isabs(rel) or ".." in Path(rel).parts or not (
                os.path.realpath(path.parent) + os.sep).startswith(inside + os.sep):
            continue  # never follow a manifest entry out of the old run folder
        if path.is_symlink() or path.is_file():
            path.unlink(missing_ok=True)
    for dirpath, _dirs, _files in os.walk(old, topdown=False):
        try:
            os.rmdir(dirpath)
        except OSError:
            pass
    if not old.exists():
        return None
    kept = final.parent / f"{final.name}.kept-{_dt.datetime.now(_dt.timezone.utc):%Y%m%d-%H%M%S}"
    n = 2
    while kept.exists():
        kept, n = kept.with_name(f"{final.name}.kept-{_dt.datetime.now(_dt.timezone.utc):%Y%m%d-%H%M%S}-{n}"), n + 1
    os.rename(old, kept)
    return kept




def resolve_out(out: str | os.PathLike) -> Path:
    """``--out`` as an absolute, resolved path (:class:`OutError` for e.g. a symlink loop)."""
    final = Path(out).expanduser().absolute()
    try:
        return final.resolve()
    except (OSError, RuntimeError) as exc:
        raise OutError(f"--out {final}: {exc}") from None


@dataclass
class RunDir:
    """Where a run is written while it runs (``tmp``) and where it is published (``final``).

    ``root`` is the reports folder for runs without ``--out`` (its ``latest`` link
    is switched on publishing), ``claim`` the name claim of such a run.
    """

    final: Path
    tmp: Path
    root: Path | None = None
    claim: Path | None = None

    def release(self) -> None:
        """Drop the name claim (after publishing, or when the run is abandoned)."""
        if self.claim is not None:
            self.claim.unlink(missing_ok=True)


def prepare_run_dir(final: Path | None) -> RunDir:
    """Claim the run folder (a new timestamped name when ``final`` is ``None``) and create its hidden temporary sibling.

    Stale leftovers of dead runs next to it are removed first. Raises
    :class:`OutError` when no folder can be created there.
    """
    claim = root = None
    try:
        if final is None:
            root = reports_root()
            problem = _first_writable_problem(root)
            if problem:
                raise OutError(f"reports folder {root}: cannot write a run there: {problem}")
            clean_stale_tmp(root)
            final, claim = claim_run_dir(root)
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            clean_stale_tmp(final.parent)
        tmp = final.parent / f".{final.name}.sbtmp-{os.getpid()}-{_secrets.token_hex(3)}"
        tmp.mkdir()
    except OSError as exc:
        if claim is not None:
            claim.unlink(missing_ok=True)
        where = Path(exc.filename).parent if exc.filename else (final or reports_root()).parent
        what = f"--out {final}" if root is None else f"reports folder {reports_root()}"
        raise OutError(f"{what}: cannot create a folder in {where}: {exc.strerror or exc}") from None
    return RunDir(final, tmp, root, claim)


def checked_out(out: str | os.PathLike | None, data_sources: Sequence[str]) -> Path | None:
    """The ``--out`` folder, resolved and checked by :func:`check_out` (``None`` without ``--out``)."""
    if out is None:
        return None
    final = resolve_out(out)
    check_out(final, data_sources, reports_root())
    return final
