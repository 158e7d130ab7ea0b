"""The corpus engine: build a case's input in a private sandbox, run its command, check its expectation.

A case (:class:`Case`) is data: how to build its input, the command, and an
:class:`Expect` record. :func:`run_case` returns a :class:`Result` (expected,
got, the list of broken promises). Every case gets the same sandbox layout::

    <workdir>/<case id>/
        data/       inputs written by the case's ``build`` (and anything else it writes)
        reports/    $SALESBENCH_REPORTS: where runs without --out go
        out/        the conventional --out folder (not created unless the case does)

The command runs with the sandbox as working folder, either in this process
(``salesbench.cli.main``, stdout/stderr captured at the file-descriptor level,
``SystemExit`` and uncaught exceptions turned into an exit status and a
traceback text, as the ``salesbench`` script would show them) or as a
``python -m salesbench`` subprocess (kernels, signals, concurrency).

Checks applied to every case (on top of its own expectation):

* no ``Traceback`` in stdout or stderr;
* nothing created, changed or removed in the sandbox outside ``reports/`` and
  ``out/`` (the run's own folders) — hidden temporary folders left next to them
  included, unless the case allows them (a SIGKILLed run cannot clean up);
* ``latest`` unchanged unless the case expects a new run to be published;
* when the case has a secret: the secret in no output line and no byte of any
  file the run wrote.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_NOTEBOOKS = ROOT / "tests" / "notebooks"
#: Environment of the fixture notebooks (hello/boom/needs_opps/slow) used by some process-fault cases.
FIXTURE_ENV = {"SALESBENCH_NOTEBOOKS": str(FIXTURE_NOTEBOOKS), "SALESBENCH_PARAMS": str(FIXTURE_NOTEBOOKS / "params")}
STATUSES = ("ok", "failed", "skipped")


# --------------------------------------------------------------------------- the declarative record
@dataclass
class Expect:
    """What must be observed after the command.

    exit      allowed exit status(es)
    says      every item must occur in stdout+stderr (str: case-insensitive substring; re.Pattern: search)
    never     none of these may occur in stdout+stderr (``Traceback`` is always added)
    published True: a run folder is published (``out/`` or a new ``reports/<run>``) with index.html and
              manifest.json; False: no run folder (``out/`` absent or unchanged, nothing new in reports/);
              None: not checked
    reports   {notebook name or "*": allowed statuses} read from the published manifest.json; a skipped
              report must give a reason
    files     [(glob in the published folder, pattern)]: the pattern must occur in some matching file
              (HTML is compared as its visible text, tags removed and entities decoded, and raw)
    files_never [(glob, pattern)]: no matching file (raw bytes as UTF-8) may contain the pattern
    json      [(file in the published folder, dotted key, expected value)]
    (with exit status 2, stderr must carry the error as one line: argparse's usage block aside)
    secret    a text that must appear in no output line and no file the run wrote
    no_kernel the command must fail before any report starts (no "started" line, no .ipynb anywhere)
    allow_hidden_leftovers  hidden ``.*.sbtmp-*`` folders may remain (a SIGKILLed runner cannot clean up)
    writable  top-level sandbox folders the command may write into (default reports/ and out/)
    """

    exit: int | tuple[int, ...] = 0
    says: Sequence[Any] = ()
    never: Sequence[Any] = ()
    published: bool | None = None
    reports: dict[str, Any] = field(default_factory=dict)
    files: Sequence[tuple[str, Any]] = ()
    files_never: Sequence[tuple[str, Any]] = ()
    json: Sequence[tuple[str, str, Any]] = ()
    secret: str | None = None
    no_kernel: bool = False
    allow_hidden_leftovers: bool = False
    writable: tuple[str, ...] = ("reports", "out")

    def summary(self) -> str:
        codes = self.exit if isinstance(self.exit, tuple) else (self.exit,)
        parts = ["exit " + "/".join(map(str, codes))]
        for s in list(self.says)[:2]:
            text = s.pattern if isinstance(s, re.Pattern) else s
            parts.append(repr(text if len(text) <= 28 else text[:25] + "..."))
        if self.reports:
            parts.append(",".join(f"{k}:{'/'.join(v) if isinstance(v, tuple) else v}" for k, v in self.reports.items()))
        if self.published is False:
            parts.append("nothing published")
        if self.secret:
            parts.append("no secret")
        return " ".join(parts)


@dataclass
class Case:
    """One corpus case.

    build(ctx)   writes the input into the sandbox (``ctx`` holds Paths: sb, data, reports, out) and may
                 add entries used by ``argv``/``env`` placeholders
    argv         the ``salesbench`` arguments, ``{name}`` placeholders filled from ``ctx``
    env          extra environment variables (placeholders filled too)
    mode         "inproc" (salesbench.cli.main in this process) or "subprocess"
    drive        for process faults: ``drive(ctx, env) -> Outcome`` replaces the single command
    check        extra invariant: ``check(ctx, outcome) -> list[str]`` of broken promises
    needs        "mount" for cases that need a tmpfs mount (skipped cleanly when mounting fails)
    timeout      seconds before the command is killed (a hang is a failure)
    """

    id: str
    theme: str
    build: Callable[[dict], None]
    argv: Sequence[str] = ()
    expect: Expect = field(default_factory=Expect)
    env: dict[str, str] = field(default_factory=dict)
    mode: str = "inproc"
    drive: Callable[[dict, dict], "Outcome"] | None = None
    check: Callable[[dict, "Outcome"], list[str]] | None = None
    needs: str | None = None
    timeout: float = 300
    note: str = ""


@dataclass
class Outcome:
    """What the command did: exit status(es) and the text it printed."""

    exit: int | None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.stdout + "\n" + self.stderr


@dataclass
class Result:
    id: str
    theme: str
    expected: str
    got: str
    passed: bool | None  # None: skipped (e.g. cannot mount a tmpfs)
    problems: list[str]
    seconds: float
    cpu: float = 0.0  # CPU seconds of this process and its waited-for children during the case


class Skip(Exception):
    """The case cannot run on this machine (e.g. no permission to mount a tmpfs)."""


# --------------------------------------------------------------------------- running a command
def _fill(value: str, ctx: dict) -> str:
    """Replace ``{name}`` placeholders naming ``ctx`` entries (other braces, e.g. YAML flow maps, stay)."""
    return re.sub(r"\{(\w+)\}", lambda m: str(ctx[m.group(1)]) if m.group(1) in ctx else m.group(0), value)


def base_env(ctx: dict, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a case: this process's, without database credentials, plus the sandbox's reports root."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG") and not k.startswith("SALESBENCH_")}
    env["SALESBENCH_REPORTS"] = str(ctx["reports"])
    if "SALESBENCH_CACHE" in os.environ:
        env["SALESBENCH_CACHE"] = os.environ["SALESBENCH_CACHE"]
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update({k: _fill(v, ctx) for k, v in (extra or {}).items()})
    return env


def salesbench_cmd(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "salesbench", *map(str, args)]


def run_subprocess(args: Sequence[str], env: dict, cwd: Path, timeout: float) -> Outcome:
    t0 = time.monotonic()
    proc = subprocess.Popen(salesbench_cmd(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=cwd, errors="replace", start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        out, err = proc.communicate()
        code = None
        err += f"\n[corpus] killed after {timeout:g} s (hang)"
    return Outcome(code, out, err, time.monotonic() - t0)


def kill_group(pid: int) -> None:
    """Kill a process group this corpus started (start_new_session=True) — never anything else."""
    import signal

    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


@contextlib.contextmanager
def _captured_fds():
    """Capture fd 1 and 2 (and sys.stdout/sys.stderr) into two temporary files."""
    files = [tempfile.TemporaryFile(mode="w+b"), tempfile.TemporaryFile(mode="w+b")]
    sys.stdout.flush(), sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    texts = [io.StringIO(), io.StringIO()]
    box: dict[str, str] = {}
    try:
        os.dup2(files[0].fileno(), 1)
        os.dup2(files[1].fileno(), 2)
        with contextlib.redirect_stdout(texts[0]), contextlib.redirect_stderr(texts[1]):
            yield box, texts
    finally:
        sys.stdout.flush(), sys.stderr.flush()
        os.dup2(saved[0], 1), os.dup2(saved[1], 2)
        os.close(saved[0]), os.close(saved[1])
        for i, name in enumerate(("stdout", "stderr")):
            files[i].seek(0)
            box[name] = texts[i].getvalue() + files[i].read().decode("utf-8", "replace")
            files[i].close()


def run_inprocess(args: Sequence[str], env: dict, cwd: Path) -> Outcome:
    """``salesbench.cli.main(args)`` in this process, with ``env`` and ``cwd`` applied for the call."""
    from salesbench import cli

    old_env, old_cwd = dict(os.environ), os.getcwd()
    t0 = time.monotonic()
    code: int | None = None
    with _captured_fds() as (box, texts):
        try:
            os.environ.clear()
            os.environ.update(env)
            os.chdir(cwd)
            try:
                code = int(cli.main(list(args)) or 0)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if exc.code is not None and not isinstance(exc.code, int):
                    print(exc.code, file=sys.stderr)
            except BaseException:  # what the console script would print
                code = 1
                traceback.print_exc(file=sys.stderr)
        finally:
            os.chdir(old_cwd)
            os.environ.clear()
            os.environ.update(old_env)
    return Outcome(code, box["stdout"], box["stderr"], time.monotonic() - t0)


# --------------------------------------------------------------------------- sandbox state
def snapshot(root: Path) -> dict[str, str]:
    """``{relative path: sha256 or '->target' for symlinks or '<dir>'}`` of everything under ``root``."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            try:
                if p.is_symlink():
                    out[rel] = "->" + os.readlink(p)
                elif p.is_dir():
                    out[rel] = "<dir>"
                else:
                    out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            except OSError as exc:
                out[rel] = f"<unreadable {exc.errno}>"
    return out


def visible_runs(reports: Path) -> list[str]:
    if not reports.is_dir():
        return []
    return sorted(p.name for p in reports.iterdir() if not p.name.startswith(".") and p.name != "latest")


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data):
        self.parts.append(data)


def html_text(page: str) -> str:
    t = _Text()
    t.feed(page)
    return " ".join(" ".join(t.parts).split())


def found(pattern: Any, text: str) -> bool:
    if isinstance(pattern, re.Pattern):
        return pattern.search(text) is not None
    return str(pattern).lower() in text.lower()


def show(pattern: Any) -> str:
    return f"/{pattern.pattern}/" if isinstance(pattern, re.Pattern) else repr(pattern)


def published_folders(ctx: dict, before_runs: list[str]) -> list[Path]:
    """The run folders this case published: ``out/`` if it has a manifest, and every new ``reports/<run>``."""
    folders = []
    out = Path(ctx.get("out_dir", ctx["out"]))
    if (out / "manifest.json").exists():
        folders.append(out)
    folders += [ctx["reports"] / n for n in visible_runs(ctx["reports"]) if n not in before_runs]
    return folders


def kernel_processes_in(folder: Path) -> list:
    """Processes (kernels, workers) whose working folder lies under ``folder``."""
    try:
        import psutil
    except ImportError:  # pragma: no cover
        return []
    found_ = []
    for p in psutil.process_iter(["pid"]):
        try:
            if p.pid != os.getpid() and str(folder) in p.cwd():
                found_.append(p)
        except (psutil.Error, OSError):
            pass
    return found_


# --------------------------------------------------------------------------- one case
def run_case(case: Case, workdir: Path) -> Result:
    """Build, run and check one case in ``workdir/<case.id>``; never raises for a broken promise."""
    sb = Path(workdir) / case.id
    if sb.exists():
        import shutil

        shutil.rmtree(sb)
    sb.mkdir(parents=True)
    ctx: dict[str, Any] = {"sb": sb, "data": sb / "data", "reports": sb / "reports", "out": sb / "out"}
    ctx["data"].mkdir()
    t0, c0 = time.monotonic(), _cpu()
    try:
        case.build(ctx)
    except Skip as exc:
        return Result(case.id, case.theme, case.expect.summary(), f"skipped: {exc}", None, [], time.monotonic() - t0)
    try:
        result = _run_and_check(case, ctx, t0)
        result.cpu = _cpu() - c0
        return result
    finally:
        cleanup = ctx.get("cleanup")
        if cleanup:
            cleanup()


def _cpu() -> float:
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _run_and_check(case: Case, ctx: dict, t0: float) -> Result:
    e = case.expect
    sb: Path = ctx["sb"]
    latest = ctx["reports"] / "latest"
    before = snapshot(sb)
    before_runs = visible_runs(ctx["reports"])
    latest_before = os.readlink(latest) if latest.is_symlink() else None
    out_before = {k: v for k, v in before.items() if k == "out" or k.startswith("out/")}
    env = base_env(ctx, case.env)
    argv = [_fill(a, ctx) for a in case.argv]
    if case.drive is not None:
        outcome = case.drive(ctx, env)
    elif case.mode == "subprocess":
        outcome = run_subprocess(argv, env, sb, case.timeout)
    else:
        outcome = run_inprocess(argv, env, sb)
    problems: list[str] = []

    # exit status and messages
    codes = e.exit if isinstance(e.exit, tuple) else (e.exit,)
    exits = outcome.extra.get("exits", [outcome.exit])
    for code in exits:
        if code not in codes:
            problems.append(f"exit {code}, expected {'/'.join(map(str, codes))}")
    text = outcome.text
    for s in e.says:
        if not found(s, text):
            problems.append(f"message lacks {show(s)}")
    for s in ["Traceback", *e.never]:
        if found(s, text):
            problems.append(f"output contains {show(s)}")
    if 2 in exits and len(message_lines(outcome.stderr)) > 1:
        problems.append(f"the error is not one line ({len(message_lines(outcome.stderr))} lines on stderr)")
    if e.no_kernel:
        if re.search(r"\]\s.*\bstarted\b", outcome.stdout):
            problems.append("a report was started (the error must come before any kernel)")

    # the sandbox outside reports/ and out/ is untouched
    after = snapshot(sb)
    allowed = e.writable
    hidden_tmp = re.compile(r"(^|/)\..+\.sb(tmp|old)-\d+-[0-9a-f]+(/|$)")
    leftovers = set()
    for rel in sorted(set(before) | set(after)):
        if before.get(rel) == after.get(rel):
            continue
        m = hidden_tmp.search(rel)
        if m:
            if rel in after and not e.allow_hidden_leftovers:
                leftovers.add(rel[: m.end()].rstrip("/"))
            continue
        if rel.split("/", 1)[0] in allowed:
            continue
        what = "created" if rel not in before else "removed" if rel not in after else "changed"
        problems.append(f"{what} outside the run folder: {rel}")
        if len(problems) > 12:
            break
    for rel in sorted(leftovers):
        problems.append(f"leftover temporary entry {rel}")

    # publication, latest
    folders = published_folders(ctx, before_runs)
    latest_after = os.readlink(latest) if latest.is_symlink() else None
    if e.published is True:
        if not folders:
            problems.append("no run folder published")
        for f in folders:
            for name in ("index.html", "manifest.json"):
                if not (f / name).exists():
                    problems.append(f"published {f.relative_to(sb)} lacks {name}")
        if "--out" not in argv and case.drive is None and latest_after is None:
            problems.append("reports/latest missing after a published run")
        if latest_after is not None and not (latest / "manifest.json").exists():
            problems.append("reports/latest points at an incomplete run")
    elif e.published is False:
        new_runs = [n for n in visible_runs(ctx["reports"]) if n not in before_runs]
        if new_runs:
            problems.append(f"run folder published: reports/{new_runs[0]}")
        out_after = {k: v for k, v in after.items() if k == "out" or k.startswith("out/")}
        if out_after != out_before:
            problems.append("out/ was " + ("created" if not out_before else "changed"))
        if latest_after != latest_before:
            problems.append(f"reports/latest moved from {latest_before} to {latest_after}")

    # manifest statuses, files, json values
    manifests = []
    for f in folders:
        try:
            manifests.append((f, json.loads((f / "manifest.json").read_text(encoding="utf-8"))))
        except (OSError, ValueError) as exc:
            problems.append(f"{f.name}/manifest.json unreadable: {exc}")
    got_status = {}
    for f, m in manifests:
        for r in m.get("reports", []):
            got_status[r["name"]] = r["status"]
            want = e.reports.get(r["name"], e.reports.get("*"))
            if want is None:
                continue
            want = want if isinstance(want, tuple) else (want,)
            if r["status"] not in want:
                detail = r.get("error") or r.get("reason") or ""
                problems.append(f"{r['name']} {r['status']}, expected {'/'.join(want)}: {detail[:160]}")
            if r["status"] == "skipped" and not (r.get("reason") or "").strip():
                problems.append(f"{r['name']} skipped without a reason")
    for name in e.reports:
        if name != "*" and name not in got_status:
            problems.append(f"{name}: no report in any manifest")
    if e.reports and not manifests:
        problems.append("no manifest.json to read report statuses from")
    for pattern_glob, pattern in e.files:
        hits = [p for f in folders for p in f.glob(pattern_glob) if p.is_file()]
        ok = False
        for p in hits:
            raw = p.read_text(encoding="utf-8", errors="replace")
            if found(pattern, raw) or (p.suffix == ".html" and found(pattern, html_text(raw))):
                ok = True
                break
        if not ok:
            problems.append(f"no {pattern_glob} contains {show(pattern)}" + ("" if hits else f" (no {pattern_glob} at all)"))
    for pattern_glob, pattern in e.files_never:
        for f in folders:
            for p in f.glob(pattern_glob):
                if p.is_file() and found(pattern, p.read_text(encoding="utf-8", errors="replace")):
                    problems.append(f"{p.relative_to(sb)} contains {show(pattern)}")
    for fname, key, value in e.json:
        hits = [f / fname for f in folders if (f / fname).exists()]
        if not hits:
            problems.append(f"no {fname} published")
            continue
        data: Any = json.loads(hits[0].read_text(encoding="utf-8"))
        for part in key.split("."):
            data = data.get(part) if isinstance(data, dict) else None
        if data != value:
            problems.append(f"{fname} {key} = {data!r}, expected {value!r}")

    # secrets: no output line, no file the run wrote
    if e.secret:
        if e.secret in text:
            problems.append("the secret appears in stdout/stderr")
        for rel, digest in after.items():
            if before.get(rel) == digest or digest.startswith(("<", "->")):
                continue
            try:
                if e.secret.encode() in (sb / rel).read_bytes():
                    problems.append(f"the secret appears in {rel}")
            except OSError:
                pass

    if case.check is not None:
        problems += case.check(ctx, outcome)

    got = describe(outcome, got_status)
    return Result(case.id, case.theme, e.summary(), got, not problems, problems, time.monotonic() - t0)


def message_lines(text: str) -> list[str]:
    """The lines of an error output that carry a message (argparse's usage block and indented lines excluded)."""
    return [l.strip() for l in text.splitlines()
            if l.strip() and not l.startswith(("usage:", " ", "\t")) and not l.startswith("[corpus]")]


def describe(outcome: Outcome, statuses: dict[str, str]) -> str:
    exits = outcome.extra.get("exits", [outcome.exit])
    parts = ["exit " + "/".join("hang" if c is None else str(c) for c in exits)]
    if statuses:
        parts.append(",".join(f"{k}:{v}" for k, v in statuses.items()))
    err = message_lines(outcome.stderr)
    finding = [l.strip() for l in outcome.stdout.splitlines() if l.startswith("  - [") or "FAILED" in l]
    rest = [l.strip() for l in outcome.stdout.splitlines() if l.strip()]
    line = (err or finding or rest[-1:] or [""])[0]
    if "Traceback" in outcome.text:
        line = "Traceback: " + (err[-1] if err else line)
    if line:
        parts.append(line[:120])
    return " ".join(parts)


# --------------------------------------------------------------------------- a table of results
def table(results: Iterable[Result], width: int = 60) -> str:
    rows = [("id", "theme", "expected", "got", "result")]
    for r in results:
        verdict = "skip" if r.passed is None else "pass" if r.passed else "FAIL"
        rows.append((r.id, r.theme, _cut(r.expected, width), _cut(r.got, width), verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def command_line(case: Case) -> str:
    return "salesbench " + shlex.join(case.argv) if case.argv else "(driven: see the case)"
