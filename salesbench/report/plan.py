"""Plan a run: which notebooks, with which validated parameters, on which data, skipped or to run.

Everything here happens before a kernel starts or an output folder exists, so
a mistake costs an exit status 2 and a one-line message (:class:`PlanError`):
an unknown notebook, a bad parameter (:func:`salesbench.report.params.resolve_all`
and the notebooks' ``_check`` rules), a data source that cannot be opened or has
conflicting duplicate keys, or parameters that do not fit the data (the
analysis' ``check_data`` hook, e.g. a planned period that has already begun by
the last order date). Each distinct data source is opened once to check
the notebooks' ``_requires`` tables and to record its label (no credentials)
and fingerprint; a notebook whose tables are missing or empty becomes a
*skipped* job without a kernel ("skipped: no opportunities table").

The table checks the runner made (rows per table, rows left out and why: see
:meth:`~salesbench.core.dataset.Dataset.checked_state`) go to each report's kernel
in the environment variable :data:`CHECKED_ENV`; the kernel's ``sb.start``
adopts them (:func:`adopt_checks`) instead of running the same queries again.
"""
from __future__ import annotations

import gc
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from salesbench.core import i18n
from salesbench.core.errors import DataError, MissingTables
from salesbench.core.secrets import is_url
from salesbench.io import sources as _sources  # open_data looked up at call time (tests replace it)
from salesbench.report import params as _params


#: Environment variable holding the runner's table checks for a report kernel (JSON: ``source`` plus
#: :meth:`~salesbench.core.dataset.Dataset.checked_state`); set by the worker, read by :func:`adopt_checks`.
CHECKED_ENV = "SALESBENCH_CHECKED"


class PlanError(Exception):
    """The run cannot start (unknown notebook, bad parameter, unreadable data): exit status 2 with this message."""


def absolute_source(source: str) -> str:
    """A data source with a relative file or folder path made absolute (kernels run in the output folder).

    ``demo``/``demo:...`` and URLs are returned unchanged.
    """
    if source == "demo" or source.startswith("demo:") or is_url(source):
        return source
    path = os.path.expanduser(source)
    return path if os.path.isabs(path) else os.path.abspath(path)



@dataclass
class Job:
    """One report to produce: a notebook with one validated parameter set."""

    index: int
    name: str
    title: str
    params: _params.Params
    rel_dir: str  # folder inside the run folder ("" for top-level reports)
    data_source: str  # the full source (may hold a password; never printed)
    requires: list[str] = field(default_factory=list)
    status: str = "pending"  # ok / failed / skipped
    reason: str | None = None
    error: str | None = None
    duration_s: float | None = None
    cpu_s: float | None = None  # CPU seconds of its worker, kernel and their children (user + system)
    started_at: str | None = None
    headline: list[dict[str, Any]] = field(default_factory=list)
    has_html: bool = False
    has_ipynb: bool = False
    has_results: bool = False
    safe_source: str | None = None  # data_source without its password (set by the runner from split_secret)
    password: str | None = None  # handed to the kernel as PGPASSWORD, never printed
    checked: dict[str, Any] | None = None  # the runner's table checks of the source (Dataset.checked_state)

    @property
    def label(self) -> str | None:
        return self.params.label

    @property
    def lang(self) -> str:
        """The report's language code (its ``lang`` parameter, normalised; ``en`` when it has none)."""
        return i18n.normalize(self.params.as_dict().get("lang"))

    @property
    def display(self) -> str:
        return f"{self.name} · {self.label}" if self.label else self.name

    def path(self, suffix: str) -> str:
        rel = f"{self.name}{suffix}"
        return f"{self.rel_dir}/{rel}" if self.rel_dir else rel


def _slug(label: str) -> str:
    """A folder name for a sweep label: letters, digits and ``._=,+-`` kept, the rest ``_``."""
    slug = re.sub(r"[^A-Za-z0-9._=,+-]+", "_", label).strip("._") or "set"
    return slug[:120]



def requested_names(names: Sequence[str] | None) -> list[str]:
    """The notebooks to run, in order and without repeats (default: every notebook, in ``_order``).

    Raises :class:`PlanError` for an unknown name (with a suggestion and the list of available ones).
    """
    available = _params._all_notebook_names()
    requested = list(names or [])
    if not requested:
        try:
            requested = _params.notebook_names()
        except _params.ParamError as exc:
            raise PlanError(str(exc)) from None
        if not requested:
            raise PlanError(f"no notebooks in {_params.notebooks_dir()}")
    for n in requested:
        if n not in available:
            hint = _params._suggest(n, available)
            raise PlanError(f"unknown notebook '{n}'{hint} (available: {', '.join(available) or 'none'}; "
                            f"folder {_params.notebooks_dir()})")
    return list(dict.fromkeys(requested))


def resolve_params(names: list[str], files: Sequence[str], overrides: Sequence[str],
                   data: str | None, lang: str | None = None) -> dict[str, list[_params.Params]]:
    """Validated parameter sets per notebook (:func:`salesbench.report.params.resolve_all`); :class:`PlanError` if bad."""
    try:
        return _params.resolve_all(names, files, overrides, data=data, lang=lang)
    except _params.ParamError as exc:
        raise PlanError(str(exc)) from None


def data_sources(sets: dict[str, list[_params.Params]]) -> list[str]:
    """Every distinct data source of the run (absolute paths, URLs, ``demo...``), in first-use order."""
    return list(dict.fromkeys(absolute_source(str(p["data"])) for plist in sets.values() for p in plist))


def open_sources(sets: dict[str, list[_params.Params]], say: Callable[[str], None],
                 scrub: Callable[[str], str]) -> dict[str, dict[str, Any]]:
    """Open each distinct data source once: ``{source: {label, fingerprint, tables, empty, checked}}``.

    Sources are opened with :func:`salesbench.io.sources.open_for_check` (a Spark
    spec on local Parquet files is checked on DuckDB, without a JVM); ``checked`` is
    what the checks found (:meth:`~salesbench.core.dataset.Dataset.checked_state`),
    handed to the kernels (:data:`CHECKED_ENV`).

    Conflicting duplicate keys (``DuplicateKeys``) or a source that cannot be
    opened raise :class:`PlanError` naming the source and where its ``data``
    parameter came from. While a source is open, each parameter set on it whose
    ``_requires`` tables are present and not empty goes through its analysis'
    ``check_data`` hook (:func:`data_check`): a :class:`CheckError` becomes a
    :class:`PlanError` naming the key. Connections are closed before workers fork.
    """
    sources: dict[str, dict[str, Any]] = {}
    opened: dict[str, Any] = {}
    try:
        for name, plist in sets.items():
            decl = _params.declaration(name)
            check = data_check(decl)
            for p in plist:
                src = absolute_source(str(p["data"]))
                if src not in sources:
                    say(f"opening data: {src}")
                    try:
                        ds = _sources.open_for_check(src)  # a local Spark spec: on DuckDB, no JVM
                        ds.check_keys()  # conflicting duplicate keys: DuplicateKeys (a DataError), exit 2 before any kernel
                        sources[src] = {"label": scrub(ds.label), "fingerprint": ds.fingerprint(), "tables": ds.tables,
                                        "empty": ds.empty_tables()}
                    except Exception as exc:  # DataError, or a driver error from a database
                        what = str(exc) if isinstance(exc, DataError) else f"{type(exc).__name__}: {exc}"
                        raise PlanError(f"cannot open data source {src!r} (parameter 'data', from "
                                        f"{p.sources.get('data', 'defaults')}): {what}") from None
                    opened[src] = ds
                if check is not None and _skip_reason(decl, sources[src]) is None:
                    _run_data_check(check, decl, p, opened[src], src)
        for src, ds in opened.items():  # what the checks found, for the kernels (adopt_checks)
            sources[src]["checked"] = ds.checked_state(sources[src]["fingerprint"])
    finally:
        ds = None  # noqa: F841 - close the connections before workers fork
        opened.clear()
        gc.collect()
    return sources


def checked_env(source: str, checked: dict[str, Any] | None) -> str | None:
    """The :data:`CHECKED_ENV` value for a kernel reading ``source`` (as injected, without password), or None."""
    return None if not checked else json.dumps({"source": source, **checked})


def adopt_checks(ds, source: str) -> list[str]:
    """In a report kernel: adopt the runner's table checks of ``source`` from :data:`CHECKED_ENV`.

    Returns the tables adopted (none when the variable is unset or unreadable, names
    another source, or the data changed since: see
    :meth:`~salesbench.core.dataset.Dataset.adopt_checked_state`); the others are
    checked in this kernel as before.
    """
    text = os.environ.get(CHECKED_ENV)
    if not text:
        return []
    try:
        state = json.loads(text)
        if state.get("source") != source:
            return []
        return ds.adopt_checked_state(state)
    except (ValueError, TypeError, KeyError, AttributeError):  # a hand-written or stale variable: check again
        return []


def data_check(decl: _params.Declaration) -> Callable | None:
    """The ``check_data`` hook of the analysis class that the declaration's ``_check`` names, or None.

    ``_check: "pkg.module:Class.check_params"`` names a method of an
    :class:`~salesbench.analyses.base.Analysis`; that class' ``check_data(values, ds)``
    (rules between the parameters and the opened data) is then run by
    :func:`open_sources`. A ``_check`` that is a plain function has no data hook.
    """
    import importlib

    if not decl.check:
        return None
    module, _, attr = decl.check.partition(":")
    owner, _, _ = attr.rpartition(".")
    if not owner:
        return None
    try:
        obj: Any = importlib.import_module(module)
        for part in owner.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None  # reported by the _check hook itself (params._run_check)
    return getattr(obj, "check_data", None) if isinstance(obj, type) else None


def _run_data_check(check: Callable, decl: _params.Declaration, p: _params.Params, ds, src: str) -> None:
    """Call one ``check_data`` hook; its :class:`CheckError` (or a data error) is a :class:`PlanError`."""
    try:
        check(dict(p), ds)
    except (ValueError, DataError) as exc:  # a CheckError (a ValueError) names its key
        key = getattr(exc, "key", None) if isinstance(exc, ValueError) else None
        if key is None:
            raise PlanError(f"notebook '{decl.name}' cannot use data source {src!r}: {exc}") from None
        where = p.sources.get(key) or decl.source
        raise PlanError(f"{where}: parameter '{key}' of notebook '{decl.name}' on data source {src!r}: {exc}") from None


def _skip_reason(decl: _params.Declaration, source: dict[str, Any]) -> str | None:
    """Why a notebook is skipped on a source (a ``_requires`` table missing or empty), or None."""
    missing = [t for t in decl.requires if t not in source["tables"]]
    empty = [source["empty"][t] for t in decl.requires if t in source["empty"]]
    if missing or empty:
        return MissingTables(missing).reason if missing else "; ".join(empty)
    return None


def _sweep_dir(name: str, label: str | None, used: set[str]) -> str:
    """The folder of one sweep set inside the run folder (``""`` without a sweep); repeated slugs get ``-2``, ``-3``."""
    if label is None:
        return ""
    slug = _slug(label)
    base, k = slug, 2
    while slug in used:
        slug, k = f"{base}-{k}", k + 1
    used.add(slug)
    return f"{name}/{slug}"


def build_jobs(names: list[str], sets: dict[str, list[_params.Params]],
               sources: dict[str, dict[str, Any]]) -> list[Job]:
    """One :class:`Job` per notebook and sweep set; skipped (with the reason) when a ``_requires`` table is missing or empty."""
    jobs: list[Job] = []
    for name in names:
        decl = _params.declaration(name)
        used: set[str] = set()
        for p in sets[name]:
            job = Job(len(jobs) + 1, name, decl.title, p, _sweep_dir(name, p.label, used),
                      absolute_source(str(p["data"])), list(decl.requires))
            reason = _skip_reason(decl, sources[job.data_source])
            job.checked = sources[job.data_source].get("checked")
            if reason is not None:
                job.status, job.reason = "skipped", reason
            jobs.append(job)
    return jobs


# --------------------------------------------------------------------------- how many at once, in which order
#: Seconds each report took on the default demo (2 cores, all seven with ``--jobs auto``, warm caches, December
#: 2026; issue #13): the start order when no previous run recorded durations. With these the short reports
#: come last, so a parallel run ends on the shortest one. Unknown notebooks count as :data:`DEFAULT_ESTIMATE_S`.
STATIC_ESTIMATES_S = {"churn": 23.0, "forecasting": 14.0, "segmentation": 5.0, "performance": 4.8,
                      "funnel": 4.5, "plan": 4.3, "data_quality": 2.8}
DEFAULT_ESTIMATE_S = 10.0
#: Memory one report may take at its peak (kernel + worker, bytes): the measured peak RSS of the heaviest
#: report on the default demo is about 0.8 GB; 1.5 GiB leaves room for larger data.
PEAK_REPORT_BYTES = 3 << 29


def usable_cores() -> int:
    """CPUs this process may run on (``sched_getaffinity``, else ``os.cpu_count()``), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def available_memory() -> int | None:
    """Bytes of memory available for new processes (``MemAvailable`` of /proc/meminfo), ``None`` if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def auto_jobs(n_reports: int, cores: int | None = None, memory: int | None = None,
              peak: int = PEAK_REPORT_BYTES) -> int:
    """``--jobs auto``: ``min(cores, reports, memory // peak)``, at least 1.

    ``cores`` defaults to :func:`usable_cores`, ``memory`` (bytes) to
    :func:`available_memory` (no memory limit when unknown); ``peak`` is what one
    report may need at its peak. ``n_reports`` counts the reports that will start a kernel.
    """
    cores = usable_cores() if cores is None else cores
    memory = available_memory() if memory is None else memory
    limits = [cores, n_reports]
    if memory is not None:
        limits.append(memory // max(1, peak))
    return max(1, min(limits))


def previous_durations(manifests: Sequence[os.PathLike | str]) -> dict[tuple[str, str | None], float]:
    """``{(name, sweep label): seconds}`` from the first readable ``manifest.json`` among ``manifests``.

    Reports that were skipped or have no duration are left out; an unreadable or
    foreign file is ignored (the static estimates are used instead).
    """
    import json

    for path in manifests:
        try:
            with open(path, encoding="utf-8") as fh:
                reports = json.load(fh).get("reports") or []
            found = {(str(r["name"]), r.get("sweep_label")): float(r["duration_s"]) for r in reports
                     if r.get("status") in ("ok", "failed") and isinstance(r.get("duration_s"), (int, float))}
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            continue
        if found:
            return found
    return {}


def start_order(jobs: list[Job], durations: dict[tuple[str, str | None], float] | None = None) -> list[Job]:
    """The jobs to run (pending ones) longest first, so a parallel run does not end waiting on one long report.

    A job's expected time is its duration in the previous run (``durations``,
    same notebook and sweep label, else the same notebook's longest), else
    :data:`STATIC_ESTIMATES_S`. Ties keep the ``_order`` of the run.
    """
    durations = durations or {}
    by_name: dict[str, float] = {}
    for (name, _label), secs in durations.items():
        by_name[name] = max(secs, by_name.get(name, 0.0))

    def expected(job: Job) -> float:
        if (job.name, job.label) in durations:
            return durations[(job.name, job.label)]
        if job.name in by_name:
            return by_name[job.name]
        return STATIC_ESTIMATES_S.get(job.name, DEFAULT_ESTIMATE_S)

    pending = [j for j in jobs if j.status == "pending"]
    return sorted(pending, key=lambda j: -expected(j))  # sorted() is stable: ties keep the run order
