"""``salesbench run`` and ``salesbench list``: execute notebooks, render reports, write the index.

A run, step by step:

1. **Validate everything first.** Parameters of every requested notebook (and
   every sweep set) are resolved and validated by :mod:`salesbench.report.params`;
   any error exits with status 2 naming the key and the file, before a kernel
   starts or an output folder exists. Each distinct data source is opened
   once (:func:`salesbench.io.sources.open_data`) to check the notebooks'
   ``_requires`` tables and to record its label (no credentials) and
   fingerprint; a notebook whose tables are missing is *skipped* without a
   kernel ("skipped: no opportunities table").
2. **Execute.** Each report runs in a forked worker process that calls
   Papermill's Python API (kernel ``python3``, cwd = the report's folder,
   ``out_dir="."`` and an absolute ``data`` path injected, a per-cell execution timeout, ZMQ over IPC
   sockets in a private folder so parallel kernels cannot collide on TCP
   ports — papermill #511). The parent enforces an outer wall-clock limit per
   report (papermill can hang after the last cell, papermill #711) by killing
   the worker and its kernel. ``--jobs N`` runs N workers at once. Forked
   workers inherit the already-imported Papermill/nbconvert, so a report costs
   a kernel start (~0.7 s), not a Python start-up.
3. **Render.** nbconvert's HTML exporter with the ``salesbench_report``
   template (extends ``lab``; CDN script blocks emptied, so the page fetches
   nothing), inputs excluded, cells tagged ``parameters`` /
   ``injected-parameters`` / ``remove-cell`` removed, stderr streams dropped,
   markdown images embedded, a header (title, run date, data source, changed
   parameters) and a table of contents built from the rendered ``##``
   headings.
4. **Publish atomically.** Everything is written into a hidden temporary
   sibling folder (``.<name>.sbtmp-<pid>-<token>``); ``index.html`` and
   ``manifest.json`` are written last, then the folder is renamed into place.
   An interrupted run (Ctrl-C, SIGTERM) removes its temporary folder; a
   killed run leaves only hidden files, which the next run removes once their
   process is gone. Neither becomes ``latest``.

Where a run goes:

* Without ``--out``: ``reports/<UTC YYYYMMDD-HHMMSS>/``, or ``…-2``, ``…-3`` when
  that name is taken. A name is claimed when the run starts by creating the
  hidden file ``reports/.<name>.sbclaim`` with ``O_EXCL`` (it holds the pid), so
  two runs started in the same second never share a folder; the folder appears
  only when the run is published, and ``reports/latest`` (a relative symlink) is
  then switched with an atomic ``rename``: it always points at a complete run,
  and of concurrent runs the one that finishes last wins.
* ``--out DIR`` never removes or overwrites anything salesbench did not write
  (:func:`check_out`, before any data is opened or kernel started; exit 2 with
  the reason otherwise). DIR may be a new folder, an empty folder, or a
  previous run — recognised by its ``manifest.json`` (``"generator": "salesbench
  run"`` and the list ``run_files``) and holding nothing else. Refused: ``/``,
  the home folder, the project folder, the reports folder, a data source or a
  folder containing one, a file, a non-empty folder that is not a run, a run
  folder holding files it did not write, and a place where no folder can be
  created (a file on the path, no permission, read-only). A previous run is
  swapped out only at the end, and then only the files listed in its manifest
  are deleted; anything else that appeared meanwhile is kept in
  ``DIR.kept-<timestamp>``.

Output of a run folder::

    index.html  manifest.json
    <name>.html  <name>.ipynb  <name>.results.json  <name>.<table>.csv
    <name>/<sweep label>/<name>.html ...       (one sub-folder per sweep set)

Secrets: a password in a database URL (``postgres://user:pw@host/db`` or
``?password=``) is removed from the ``data`` value injected into notebooks and
handed to the kernel as ``PGPASSWORD``; everything printed or written goes
through :func:`salesbench.core.secrets.redact` plus a scrub of the literal secret.

Exit status: 0 all reports ok or skipped, 1 a report failed, 2 bad input
(parameters, unknown notebook, unreadable data source, unusable ``--out``), 130 interrupted by Ctrl-C
(128 + signal number for SIGTERM/SIGHUP).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import errno
import html
import json
import os
import platform
import re
import secrets as _secrets
import shlex
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable, Sequence

from salesbench.report import params as _params
from salesbench.core.errors import DataError, MissingTables
from salesbench.core.secrets import Scrubber, is_url, redact, split_secret  # noqa: F401  (re-exported)

#: Default wall-clock limit per report (seconds); also the per-cell execution timeout.
DEFAULT_TIMEOUT = 3600
#: Extra seconds the outer limit allows beyond ``timeout`` (kernel start/shutdown, HTML rendering).
WALL_GRACE = 60
#: Heartbeat interval for long-running reports (seconds).
HEARTBEAT = 30
#: Cell tags whose cells never appear in the HTML.
REMOVED_TAGS = ("parameters", "injected-parameters", "remove-cell")
#: Packages whose versions go into the manifest.
MANIFEST_PACKAGES = (
    "salesbench", "pandas", "numpy", "pyarrow", "duckdb", "ibis-framework", "pandera", "pydantic", "pyyaml",
    "matplotlib", "seaborn", "scikit-learn", "scipy", "statsmodels", "statsforecast", "pymc", "pymc-marketing",
    "arviz", "papermill", "nbconvert", "nbclient", "nbformat", "ipykernel", "jupyter_client",
)
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "salesbench_report"


# --------------------------------------------------------------------------- sources
def absolute_source(source: str) -> str:
    """A data source with a relative file or folder path made absolute (kernels run in the output folder).

    ``demo``/``demo:...`` and URLs are returned unchanged.
    """
    if source == "demo" or source.startswith("demo:") or is_url(source):
        return source
    path = os.path.expanduser(source)
    return path if os.path.isabs(path) else os.path.abspath(path)


# --------------------------------------------------------------------------- jobs
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
    started_at: str | None = None
    headline: list[dict[str, Any]] = field(default_factory=list)
    has_html: bool = False
    has_ipynb: bool = False
    has_results: bool = False

    @property
    def label(self) -> str | None:
        return self.params.label

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


def _param_summary(p: _params.Params, scrub: Callable[[str], str], limit: int = 8) -> list[tuple[str, str]]:
    """Changed parameters (not ``data``/``out_dir``) as (key, short text) pairs for the HTML header.

    At most ``limit`` pairs; a last pair ``("…", "n more in manifest.json")`` says what was left out.
    """
    out = []
    changed = {k: v for k, v in p.changed().items() if k not in ("data", "out_dir")}
    for key, value in list(changed.items())[:limit]:
        if isinstance(value, (str, _dt.date)):
            text = str(value)
        else:
            text = json.dumps(_params.to_plain(value), ensure_ascii=False)
        if len(text) > 60:
            text = text[:57] + "…"
        out.append((key, scrub(text)))
    if len(changed) > limit:
        out.append(("…", f"{len(changed) - limit} more in manifest.json"))
    return out


# --------------------------------------------------------------------------- worker
def _inject(job: Job, safe_source: str) -> dict[str, Any]:
    values = job.params.plain()
    values["data"] = safe_source  # absolute path or URL without password
    values["out_dir"] = "."
    if values.get("driver_plan"):  # a file the forecast reads: relative to where salesbench was started, like data
        values["driver_plan"] = os.path.abspath(os.path.expanduser(str(values["driver_plan"])))
    return values


def _execute(spec: dict[str, Any]) -> dict[str, Any]:
    """Execute one notebook with Papermill and render its HTML (runs inside the worker process).

    ``spec`` holds: input, workdir, name, parameters, timeout, password, html
    (header resources). Returns ``{status, error, reason, headline, html}``; the parent checks
    which files exist itself (that also covers a killed worker).
    """
    import warnings

    import papermill as pm
    from nbclient.exceptions import CellTimeoutError
    from traitlets.config import Config

    warnings.filterwarnings("ignore", message=".*missing an id field.*")  # nbformat, notebooks saved by old tools
    workdir = Path(spec["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)
    out_nb = workdir / f"{spec['name']}.ipynb"
    if spec.get("password"):
        os.environ["PGPASSWORD"] = spec["password"]
    ipc_dir = tempfile.mkdtemp(prefix="sbk-")  # short path: unix sockets are limited to ~107 bytes
    cfg = Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(ipc_dir, "k")}})
    result: dict[str, Any] = {"status": "ok", "error": None, "reason": None, "headline": []}
    stopped_early = False
    try:
        pm.execute_notebook(
            spec["input"], str(out_nb), parameters=spec["parameters"], kernel_name="python3",
            cwd=str(workdir), progress_bar=False, log_output=False, start_timeout=120,
            execution_timeout=spec["timeout"], config=cfg,
        )
    except pm.PapermillExecutionError as exc:
        result.update(status="failed", error=f"{exc.ename}: {exc.evalue} (cell {exc.exec_count})")
        # the notebook may have stopped on purpose after recording res.skip(reason)
        # (salesbench.report.results.ReportSkipped and its subclasses, MissingTables): its results.json says so below
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
    results_path = workdir / f"{spec['name']}.results.json"
    if results_path.exists():
        try:
            data = json.loads(results_path.read_text(encoding="utf-8"))
            result["headline"] = [h for h in data.get("headline", []) if isinstance(h, dict)]
            if (result["status"] == "ok" or stopped_early) and data.get("status") == "skipped":
                result.update(status="skipped", error=None, reason=str(data.get("reason") or "skipped by the notebook"))
        except (OSError, ValueError) as exc:
            if result["status"] == "ok":
                result.update(status="failed", error=f"unreadable {results_path.name}: {exc}")
    result["html"] = False
    if result["status"] != "failed" and not stopped_early and out_nb.exists():
        try:
            render_html(out_nb, workdir / f"{spec['name']}.html", spec["html"])
            result["html"] = True
        except Exception as exc:
            result.update(status="failed", error=f"HTML rendering failed: {type(exc).__name__}: {exc}")
    return result


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
    _die_with_parent()
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
    try:
        conn.send(result)
    finally:
        conn.close()


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the runner dies (no orphaned workers)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # pragma: no cover
        pass


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


# --------------------------------------------------------------------------- HTML
class _HeadingCollector(HTMLParser):
    """Collect ``(id, text)`` of every ``<h2 id=...>`` in rendered HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.headings: list[tuple[str, str]] = []
        self._current: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "h2":
            ident = dict(attrs).get("id")
            self._current = (ident, []) if ident else None
        elif tag == "a" and self._current is not None and "anchor-link" in (dict(attrs).get("class") or ""):
            self._current[1].append("\0")  # marks the ¶ anchor text to drop

    def handle_data(self, data):
        if self._current is not None:
            self._current[1].append(data)

    def handle_endtag(self, tag):
        if tag == "h2" and self._current is not None:
            ident, parts = self._current
            text = "".join(parts).split("\0")[0].strip()
            self.headings.append((ident, text))
            self._current = None


def toc_html(body: str) -> str:
    """A ``<nav>`` table of contents linking every ``##`` heading of a rendered report ('' if none)."""
    collector = _HeadingCollector()
    collector.feed(body)
    if not collector.headings:
        return ""
    items = " · ".join(
        f'<a href="#{html.escape(ident, quote=True)}">{html.escape(text)}</a>'
        for ident, text in collector.headings
    )
    # One compact line (wrapping if needed): the answer, not the contents, owns the first screen.
    return f'<nav class="sb-toc" aria-label="Contents"><strong>Contents</strong> {items}</nav>'


def _drop_leading_title(nb) -> None:
    """Remove the ``# Title`` line of the first markdown cell: the report header already shows the title."""
    for cell in nb.cells:
        if cell.get("cell_type") != "markdown":
            if cell.get("cell_type") == "code" and not set(cell.get("metadata", {}).get("tags", [])) & set(REMOVED_TAGS):
                return
            continue
        lines = cell.get("source", "").splitlines()
        if lines and lines[0].startswith("# "):
            cell["source"] = "\n".join(lines[1:]).lstrip("\n")
        return


def render_html(ipynb: str | os.PathLike, out: str | os.PathLike, header: dict[str, Any]) -> Path:
    """Render an executed notebook to a self-contained HTML report for executives.

    Inputs are hidden, cells tagged :data:`REMOVED_TAGS` are dropped, stderr
    streams are dropped, images are embedded, no script/style is fetched from
    the network. ``header`` holds ``title``, ``run_date``, ``data_label``,
    ``fingerprint``, ``params`` (list of (key, text)) and optionally
    ``index_href``; all of it is HTML-escaped by the template.
    """
    import nbformat
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    nb = nbformat.read(str(ipynb), as_version=4)
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in cell.get("outputs", [])
                               if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    _drop_leading_title(nb)
    nb.metadata["title"] = str(header.get("title") or Path(ipynb).stem)
    cfg = Config()
    cfg.TagRemovePreprocessor.enabled = True
    cfg.TagRemovePreprocessor.remove_cell_tags = set(REMOVED_TAGS)
    cfg.HTMLExporter.preprocessors = ["nbconvert.preprocessors.TagRemovePreprocessor"]
    exporter = HTMLExporter(
        config=cfg, template_name=TEMPLATE_NAME, extra_template_basedirs=[str(TEMPLATES_DIR)],
    )
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    exporter.embed_images = True
    body, _ = exporter.from_notebook_node(nb, resources={"salesbench": dict(header)})
    body = body.replace("<!--SALESBENCH-TOC-->", toc_html(body), 1)
    out = Path(out)
    out.write_text(body, encoding="utf-8")
    return out


def _index_html(jobs: list[Job], meta: dict[str, Any]) -> str:
    """The run's ``index.html``: a summary line, then one row per report (all text escaped)."""
    from salesbench.viz.palette import STATUS

    def esc(text) -> str:
        return html.escape(str(text), quote=True)

    colors = {"ok": STATUS["green"], "failed": STATUS["red"], "skipped": STATUS["grey"]}
    counts = {s: sum(j.status == s for j in jobs) for s in ("ok", "failed", "skipped")}
    cards = "".join(
        f'<div class="card" style="--c:{colors[s]}"><div class="v">{counts[s]}</div><div class="l">{s}</div></div>'
        for s in ("ok", "failed", "skipped")
    )
    rows = []
    for j in jobs:
        name_cell = esc(j.title) + (f' <span class="sub">· {esc(j.label)}</span>' if j.label else "")
        if j.has_html:
            name_cell = f'<a href="{esc(j.path(".html"))}">{name_cell}</a>'
        status_text = j.status if j.status != "skipped" else f"skipped: {j.reason or ''}".strip()
        status_cell = f'<span class="st" style="background:{colors.get(j.status, STATUS["grey"])}">{esc(j.status)}</span>'
        if j.status == "skipped":
            status_cell += f' <span class="why">{esc(status_text)}</span>'
        heads = "".join(
            f'<span class="h"><span class="hl">{esc(h.get("label", ""))}</span> {esc(h.get("text", h.get("value", "")))}</span>'
            for h in j.headline[:6]
        )
        details = []
        if j.status == "failed":
            details.append(f'<div class="err">{esc(j.error or "failed")}</div>')
        links = []
        if j.has_ipynb:
            links.append(f'<a href="{esc(j.path(".ipynb"))}">executed notebook</a>')
        if j.has_results:
            links.append(f'<a href="{esc(j.path(".results.json"))}">results.json</a>')
        if links:
            details.append(" · ".join(links))
        dur = "–" if j.duration_s is None else f"{j.duration_s:.1f} s"
        rows.append(
            f'<tr class="{esc(j.status)}"><td>{name_cell}<div class="nb">{esc(j.name)}</div></td><td>{status_cell}</td>'
            f"<td>{heads}</td><td class=\"num\">{dur}</td><td>{''.join(details)}</td></tr>"
        )
    data_lines = "".join(
        f"<li>{esc(d['label'])} <span class=\"fp\">fingerprint {esc(d['fingerprint'])}</span></li>"
        for d in meta["data"]
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>salesbench reports · {esc(meta['run_date'])}</title>
<style>
body{{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 16px}}
h1{{font-size:1.6em;margin:0 0 4px 0}} .meta{{color:#555;font-size:.9em;margin:0 0 12px 0}}
.meta ul{{margin:2px 0;padding-left:18px}} .fp{{color:#888;font-size:.85em}}
.cards{{display:flex;gap:12px;margin:12px 0 18px 0}}
.card{{border:1px solid #ddd;border-left:6px solid var(--c);border-radius:6px;padding:8px 16px;min-width:110px}}
.card .v{{font-size:1.8em;font-weight:700}} .card .l{{color:#555}}
table{{border-collapse:collapse;width:100%}} th,td{{border-bottom:1px solid #e3e3e3;padding:8px 10px;text-align:left;vertical-align:top}}
th{{background:#f6f8fa;font-weight:600}} td.num{{text-align:right;white-space:nowrap}}
a{{color:#0072B2}} .sub{{color:#555}} .nb{{color:#888;font-size:.8em}}
.st{{color:#fff;font-weight:600;border-radius:4px;padding:1px 8px;display:inline-block}}
.why{{color:#555;font-size:.9em}} .err{{color:#D55E00;font-family:ui-monospace,monospace;font-size:.85em;white-space:pre-wrap;margin-bottom:4px}}
.h{{display:inline-block;border:1px solid #e3e3e3;border-radius:4px;padding:2px 8px;margin:0 6px 4px 0;font-size:.9em}}
.hl{{color:#555}}
</style></head><body>
<h1>salesbench reports</h1>
<div class="meta">Run {esc(meta['run_date'])} · {len(jobs)} report(s) in {meta['duration_s']:.1f} s · salesbench {esc(meta['version'])}
<ul>{data_lines}</ul></div>
<div class="cards">{cards}</div>
<table><thead><tr><th>Report</th><th>Status</th><th>Headline figures</th><th>Duration</th><th>Details</th></tr></thead>
<tbody>{''.join(rows)}</tbody></table>
<p class="meta">Parameters, data fingerprints, package versions and timings: <a href="manifest.json">manifest.json</a>.</p>
</body></html>
"""


# --------------------------------------------------------------------------- output folders
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


def _claim_run_dir(root: Path, now: _dt.datetime | None = None) -> tuple[Path, Path]:
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


def _clean_stale_tmp(parent: Path) -> None:
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
                _discard_run(p, parent / p.name[1:p.name.rindex(".sbold-")])
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


def _publish(tmp: Path, final: Path) -> Path | None:
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
    return _discard_run(old, final)


def _discard_run(old: Path, final: Path) -> Path | None:
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


def _point_latest(root: Path, target: Path) -> bool:
    """Atomically switch ``root/latest`` to the symlink ``target.name`` (returns False if ``latest`` is a real folder)."""
    latest = root / "latest"
    if latest.exists() and not latest.is_symlink():
        return False
    tmp_link = root / f".latest.sbtmp-{os.getpid()}-{_secrets.token_hex(3)}"
    os.symlink(target.name, tmp_link)
    os.replace(tmp_link, latest)
    return True


# --------------------------------------------------------------------------- the run
@dataclass
class RunResult:
    """What :func:`run_reports` did: exit status, output folder, per-report jobs."""

    exit_code: int
    out_dir: Path | None = None
    index: Path | None = None
    jobs: list[Job] = field(default_factory=list)
    message: str | None = None


class _Interrupted(Exception):
    """Raised by the SIGTERM/SIGHUP handler so that the run cleans up like after Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _package_versions() -> dict[str, str | None]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in MANIFEST_PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def run_reports(
    names: Sequence[str] | None = None,
    data: str | None = None,
    files: Sequence[str] = (),
    overrides: Sequence[str] = (),
    out: str | os.PathLike | None = None,
    jobs: int = 1,
    timeout: float = DEFAULT_TIMEOUT,
    wall_timeout: float | None = None,
    echo: Callable[[str], None] | None = None,
    command: Sequence[str] | None = None,
) -> RunResult:
    """Validate, execute, render and publish reports (the work behind ``salesbench run``).

    ``timeout`` is the per-cell execution timeout; ``wall_timeout`` (default
    ``timeout + WALL_GRACE``) the outer limit per report after which its worker
    and kernel are killed. ``echo`` receives terminal lines (already scrubbed
    of credentials). Returns a :class:`RunResult`; never raises for a failing
    notebook.
    """
    scrub = Scrubber()
    say = (lambda line: (echo or _print)(scrub(line)))
    started = time.monotonic()
    run_date = _dt.datetime.now(_dt.timezone.utc)
    wall = float(wall_timeout) if wall_timeout is not None else float(timeout) + WALL_GRACE

    # secrets first, so that even error messages are scrubbed
    for src in [data or "", *overrides]:
        scrub.add(split_secret(src.partition("=")[2] if src in overrides else src)[1])

    # ---- 1. validate --------------------------------------------------------
    available = _params._all_notebook_names()
    requested = list(names or [])
    if not requested:
        try:
            requested = _params.notebook_names()
        except _params.ParamError as exc:
            return RunResult(2, message=scrub(str(exc)))
        if not requested:
            return RunResult(2, message=f"no notebooks in {_params.notebooks_dir()}")
    for n in requested:
        if n not in available:
            hint = _params._suggest(n, available)
            return RunResult(2, message=f"unknown notebook '{n}'{hint} (available: {', '.join(available) or 'none'}; "
                                        f"folder {_params.notebooks_dir()})")
    requested = list(dict.fromkeys(requested))
    try:
        sets = _params.resolve_all(requested, files, overrides, data=data)
    except _params.ParamError as exc:
        return RunResult(2, message=scrub(str(exc)))
    for plist in sets.values():
        for p in plist:
            scrub.add(split_secret(str(p["data"]))[1])
    all_sources = list(dict.fromkeys(absolute_source(str(p["data"])) for plist in sets.values() for p in plist))
    if out is not None:
        final = Path(out).expanduser().absolute()
        try:
            final = final.resolve()
        except (OSError, RuntimeError) as exc:  # e.g. a symlink loop
            return RunResult(2, message=f"--out {final}: {exc}")
        try:
            check_out(final, all_sources, reports_root())
        except OutError as exc:
            return RunResult(2, message=scrub(str(exc)))

    sources: dict[str, dict[str, Any]] = {}
    for plist in sets.values():
        for p in plist:
            src = absolute_source(str(p["data"]))
            if src in sources:
                continue
            say(f"opening data: {src}")
            try:
                from salesbench.io.sources import open_data

                ds = open_data(src)
                ds.check_keys()  # conflicting duplicate keys: DuplicateKeys (a DataError), exit 2 before any kernel
                sources[src] = {"label": scrub(ds.label), "fingerprint": ds.fingerprint(), "tables": ds.tables,
                                "empty": ds.empty_tables()}
            except Exception as exc:  # DataError, or a driver error from a database
                what = str(exc) if isinstance(exc, DataError) else f"{type(exc).__name__}: {exc}"
                return RunResult(2, message=scrub(f"cannot open data source {src!r} (parameter 'data', from "
                                                  f"{p.sources.get('data', 'defaults')}): {what}"))
            finally:
                ds = None  # noqa: F841 - close the connection before workers fork
    import gc

    gc.collect()

    job_list: list[Job] = []
    for name in requested:
        decl = _params.declaration(name)
        used: set[str] = set()
        for p in sets[name]:
            rel = ""
            if p.label is not None:
                slug = _slug(p.label)
                base, k = slug, 2
                while slug in used:
                    slug, k = f"{base}-{k}", k + 1
                used.add(slug)
                rel = f"{name}/{slug}"
            job = Job(len(job_list) + 1, name, decl.title, p, rel, absolute_source(str(p["data"])),
                      list(decl.requires))
            missing = [t for t in decl.requires if t not in sources[job.data_source]["tables"]]
            empty = [sources[job.data_source]["empty"][t] for t in decl.requires if t in sources[job.data_source]["empty"]]
            if missing or empty:
                job.status, job.reason = "skipped", MissingTables(missing).reason if missing else "; ".join(empty)
            job_list.append(job)

    # ---- 2. output folder (see check_out and _claim_run_dir for the rules) ----------
    claim = None
    try:
        if out is None:
            root = reports_root()
            problem = _first_writable_problem(root)
            if problem:
                return RunResult(2, message=f"reports folder {root}: cannot write a run there: {problem}")
            _clean_stale_tmp(root)
            final, claim = _claim_run_dir(root)
        else:
            root = None
            final.parent.mkdir(parents=True, exist_ok=True)
            _clean_stale_tmp(final.parent)
        tmp = final.parent / f".{final.name}.sbtmp-{os.getpid()}-{_secrets.token_hex(3)}"
        tmp.mkdir()
    except OSError as exc:
        if claim is not None:
            claim.unlink(missing_ok=True)
        where = Path(exc.filename).parent if exc.filename else final.parent
        what = f"--out {final}" if out is not None else f"reports folder {reports_root()}"
        return RunResult(2, message=f"{what}: cannot create a folder in {where}: {exc.strerror or exc}")

    import multiprocessing as mp

    if any(j.status == "pending" for j in job_list):  # a run of skipped reports needs neither
        import nbconvert  # noqa: F401  - import once in the parent; forked workers inherit it
        import papermill  # noqa: F401

    ctx = mp.get_context("fork")
    running: dict[int, tuple[Job, Any, Any, float]] = {}
    pending = [j for j in job_list if j.status == "pending"]
    total = len(job_list)
    n_jobs = max(1, int(jobs))
    say(f"salesbench run: {total} report(s), jobs={n_jobs}, output {final}")
    for j in job_list:
        if j.status == "skipped":
            j.duration_s = 0.0
            say(f"  [{j.index}/{total}] {j.display:<32} skipped: {j.reason}")

    old_handlers = {}

    def _on_signal(signum, _frame):
        raise _Interrupted(signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            old_handlers[sig] = signal.signal(sig, _on_signal)
        except (ValueError, OSError):  # not in the main thread
            pass

    header_common = {"run_date": run_date.strftime("%Y-%m-%d %H:%M UTC")}
    last_beat = time.monotonic()
    try:
        while pending or running:
            while pending and len(running) < n_jobs:
                job = pending.pop(0)
                safe_src, password = split_secret(job.data_source)
                workdir = tmp / job.rel_dir if job.rel_dir else tmp
                depth = len(Path(job.rel_dir).parts) if job.rel_dir else 0
                spec = {
                    "input": str(_params.notebooks_dir() / f"{job.name}.ipynb"),
                    "workdir": str(workdir),
                    "name": job.name,
                    "parameters": _inject(job, safe_src),
                    "timeout": int(timeout) if float(timeout).is_integer() else float(timeout),
                    "password": password,
                    "html": {
                        **header_common,
                        "title": job.title + (f" · {job.label}" if job.label else ""),
                        "data_label": sources[job.data_source]["label"],
                        "fingerprint": sources[job.data_source]["fingerprint"],
                        "params": _param_summary(job.params, scrub),
                        "index_href": "../" * depth + "index.html",
                    },
                }
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_worker_main, args=(spec, send), name=f"salesbench-{job.name}")
                job.started_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
                proc.start()
                send.close()
                running[proc.pid] = (job, proc, recv, time.monotonic())
                say(f"  [{job.index}/{total}] {job.display:<32} started")
            time.sleep(0.05)
            now = time.monotonic()
            for pid, (job, proc, recv, t0) in list(running.items()):
                result = None
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
                elif not proc.is_alive():
                    proc.join()
                    result = {"status": "failed", "error": f"worker process died (exit code {proc.exitcode})"}
                elif now - t0 > wall:
                    _kill_tree(proc.pid)
                    proc.join(timeout=10)
                    result = {"status": "failed",
                              "error": f"timed out: exceeded the wall-clock limit of {wall:g} s; worker and kernel killed"}
                if result is None:
                    continue
                del running[pid]
                recv.close()
                job.duration_s = now - t0
                job.status = result.get("status", "failed")
                job.error = scrub(str(result["error"])) if result.get("error") else None
                job.reason = result.get("reason") or job.reason
                job.headline = result.get("headline") or []
                job.has_html = bool(result.get("html"))
                workdir = tmp / job.rel_dir if job.rel_dir else tmp
                job.has_ipynb = (workdir / f"{job.name}.ipynb").exists()
                job.has_results = (workdir / f"{job.name}.results.json").exists()
                tail = {"ok": "ok", "failed": f"FAILED  {job.error}", "skipped": f"skipped: {job.reason}"}[job.status]
                say(f"  [{job.index}/{total}] {job.display:<32} {job.duration_s:6.1f} s  {tail}")
            if running and now - last_beat >= HEARTBEAT:
                last_beat = now
                for job, _p, _r, t0 in running.values():
                    if now - t0 >= HEARTBEAT:
                        say(f"  … {job.display} still running ({now - t0:.0f} s)")
    except (KeyboardInterrupt, _Interrupted) as exc:
        for job, proc, recv, _t0 in running.values():
            _kill_tree(proc.pid)
            proc.join(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
        if claim is not None:
            claim.unlink(missing_ok=True)
        say(f"interrupted ({exc or 'Ctrl-C'}): nothing published; {final if out is not None else root} unchanged")
        code = 128 + int(exc.signum) if isinstance(exc, _Interrupted) else 130
        return RunResult(code, message="interrupted")
    finally:
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)

    # ---- 3. index + manifest, then publish -------------------------------------
    duration = time.monotonic() - started
    meta = {
        "run_date": header_common["run_date"],
        "duration_s": duration,
        "version": _package_versions().get("salesbench") or "",
        "data": [{"label": s["label"], "fingerprint": s["fingerprint"]} for s in sources.values()],
    }
    cmd = list(command) if command is not None else ["salesbench", *sys.argv[1:]]
    manifest = {
        "generator": RUN_SIGNATURE,
        "salesbench_version": meta["version"],
        "started_at": run_date.isoformat(timespec="seconds"),
        "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(duration, 3),
        "command": scrub(shlex.join(cmd)),
        "output": str(final),
        "options": {"jobs": n_jobs, "timeout_s": timeout, "wall_timeout_s": wall,
                    "files": [str(f) for f in files], "overrides": [scrub(o) for o in overrides],
                    "data": scrub(data) if data else None},
        "data": [{"source": s["label"], "fingerprint": s["fingerprint"], "tables": s["tables"]} for s in sources.values()],
        "packages": _package_versions(),
        "platform": {"system": platform.system(), "machine": platform.machine(), "cpus": os.cpu_count()},
        "summary": {s: sum(j.status == s for j in job_list) for s in ("ok", "failed", "skipped")},
        "reports": [
            {
                "name": j.name,
                "title": j.title,
                "sweep_label": j.label,
                "dir": j.rel_dir or ".",
                "status": j.status,
                "reason": j.reason,
                "error": j.error,
                "started_at": j.started_at,
                "duration_s": None if j.duration_s is None else round(j.duration_s, 3),
                "html": j.path(".html") if j.has_html else None,
                "ipynb": j.path(".ipynb") if j.has_ipynb else None,
                "results": j.path(".results.json") if j.has_results else None,
                "data": sources[j.data_source]["label"],
                "data_fingerprint": sources[j.data_source]["fingerprint"],
                "requires": j.requires,
                "parameters": {k: scrub(v) if isinstance(v, str) else v
                               for k, v in {**j.params.plain(), "data": split_secret(j.data_source)[0],
                                            "out_dir": "."}.items()},
                "parameter_sources": dict(j.params.sources),
                "headline": j.headline,
            }
            for j in job_list
        ],
    }
    try:
        (tmp / "index.html").write_text(_index_html(job_list, meta), encoding="utf-8")
        manifest["run_files"] = sorted({*_files_under(tmp), "manifest.json"})  # what a later --out may delete
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
        _retarget_paths(tmp, final)
        scrub.scrub_tree(tmp)
        _readable(tmp)
        kept = _publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if claim is not None:
            claim.unlink(missing_ok=True)
    if kept is not None:
        say(f"note: {final} held files salesbench did not write; the previous run with them is now in {kept}")
    shown = final
    if root is not None:
        if _point_latest(root, final):
            shown = root / "latest"
        else:
            say(f"note: {root / 'latest'} is a real folder, not a symlink; left unchanged")
    failed = sum(j.status == "failed" for j in job_list)
    s = manifest["summary"]
    say(f"{s['ok']} ok, {s['failed']} failed, {s['skipped']} skipped in {duration:.1f} s")
    index = final / "index.html"
    shown_index = shown / "index.html"
    try:  # reports/latest/index.html when it lies below the working folder, else the full path
        shown_index = shown_index.relative_to(Path.cwd())
    except ValueError:
        pass
    say(f"index: {shown_index}")
    return RunResult(1 if failed else 0, final, index, job_list)


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
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="output folder (default: reports/<timestamp>/, with reports/latest pointing to it)")
    parser.add_argument("--jobs", "-j", type=int, default=1, metavar="N", help="notebooks run in parallel (default 1)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"per-cell execution limit; a report is killed after SECONDS+{WALL_GRACE} "
                             f"(default {DEFAULT_TIMEOUT})")


def main_run(args: argparse.Namespace) -> int:
    """``salesbench run``: returns 0 (all ok/skipped), 1 (a report failed), 2 (bad input), 128+N (signal N)."""
    if args.jobs < 1:
        print(f"salesbench run: error: --jobs must be at least 1, got {args.jobs}", file=sys.stderr)
        return 2
    if not 0 < args.timeout < float("inf"):  # also rejects nan
        print(f"salesbench run: error: --timeout must be a positive number of seconds, got {args.timeout:g}",
              file=sys.stderr)
        return 2
    try:
        result = run_reports(
            names=args.names, data=args.data, files=args.files, overrides=args.overrides, out=args.out,
            jobs=args.jobs, timeout=args.timeout,
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
