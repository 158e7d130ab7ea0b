"""Process faults: signals mid-run, concurrent runs, read-only and full file systems.

The drives start ``python -m salesbench run`` as subprocesses in their own
session and act on them by process id only (never by name). Mid-run signals use
the fixture notebook ``slow`` (tests/notebooks: sleeps ``seconds``), so the
signal always lands while a kernel is executing a cell.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from .engine import FIXTURE_ENV, Outcome, Skip, kernel_processes_in, kill_group, salesbench_cmd, snapshot


def _exit_code(returncode: int | None) -> int | None:
    """A subprocess return code as the shell shows it (killed by signal N → 128+N)."""
    if returncode is None:
        return None
    return 128 - returncode if returncode < 0 else returncode


def _read_until(proc: subprocess.Popen, text: str, timeout: float) -> list[str]:
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"never saw {text!r} in: {''.join(lines)}")


def signal_midrun(sig: int, out: bool = False, wait_after: float = 1.0):
    """Start ``run slow -p seconds=60``, wait until its report started, send ``sig`` to the runner only."""
    def drive(ctx: dict, env: dict) -> Outcome:
        args = ["run", "slow", "-p", "seconds=60", "--data", str(ctx["data"])]
        if out:
            args += ["--out", str(ctx["out"])]
        t0 = time.monotonic()
        proc = subprocess.Popen(salesbench_cmd(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**env, **FIXTURE_ENV}, cwd=ctx["sb"], start_new_session=True)
        try:
            lines = _read_until(proc, "started", 120)
            time.sleep(wait_after)
            os.kill(proc.pid, sig)
            rest, _ = proc.communicate(timeout=60)
            code = _exit_code(proc.returncode)
        except (AssertionError, subprocess.TimeoutExpired) as exc:
            kill_group(proc.pid)
            rest, code, lines = f"[corpus] {exc}", None, []
        orphans = _wait_no_processes(ctx["sb"], 15)
        text = "".join(lines) + (rest or "")
        if orphans:
            text_err = f"[corpus] {len(orphans)} worker/kernel process(es) survived the runner"
        else:
            text_err = ""
        return Outcome(code, text, text_err, time.monotonic() - t0, {"orphans": orphans})
    return drive


def _wait_no_processes(folder: Path, timeout: float) -> list[int]:
    """Wait until no process works inside ``folder``; kill and return the pids of any that remain."""
    deadline = time.monotonic() + timeout
    procs = kernel_processes_in(folder)
    while procs and time.monotonic() < deadline:
        time.sleep(0.3)
        procs = kernel_processes_in(folder)
    pids = []
    for p in procs:  # started by this case's runner: its worker or kernel, found by working folder
        pids.append(p.pid)
        try:
            p.kill()
        except Exception:
            pass
    return pids


def no_orphans(ctx: dict, outcome: Outcome) -> list[str]:
    pids = outcome.extra.get("orphans") or []
    return [f"worker/kernel processes survived the runner: {pids}"] if pids else []


def concurrent(n: int, args_of):
    """Start ``n`` runs at the same moment (``args_of(ctx)`` gives the arguments); exits in ``extra['exits']``."""
    def drive(ctx: dict, env: dict) -> Outcome:
        t0 = time.monotonic()
        args = args_of(ctx)
        procs = [subprocess.Popen(salesbench_cmd(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env, cwd=ctx["sb"], start_new_session=True) for _ in range(n)]
        outs, errs, exits = [], [], []
        for p in procs:
            try:
                o, e = p.communicate(timeout=300)
            except subprocess.TimeoutExpired:
                kill_group(p.pid)
                o, e = p.communicate()
            outs.append(o)
            errs.append(e)
            exits.append(_exit_code(p.returncode))
        return Outcome(exits[0], "\n".join(outs), "\n".join(errs), time.monotonic() - t0,
                       {"exits": exits, "stdouts": outs})
    return drive


def distinct_complete_runs(n: int):
    """Check: ``n`` runs announced ``n`` different folders, each published complete; latest is one of them."""
    def check(ctx: dict, outcome: Outcome) -> list[str]:
        problems = []
        announced = []
        for text in outcome.extra.get("stdouts", []):
            m = re.search(r"output (\S+)", text)
            announced.append(m.group(1) if m else None)
        if len(set(announced)) != n or None in announced:
            problems.append(f"{n} runs announced {len(set(a for a in announced if a))} distinct folder(s): {announced}")
        runs = [p for p in ctx["reports"].iterdir() if not p.name.startswith(".") and p.name != "latest"]
        complete = [p for p in runs if (p / "index.html").exists() and (p / "manifest.json").exists()]
        if len(complete) != n:
            problems.append(f"{len(complete)} complete run folder(s) in reports/, expected {n}")
        latest = ctx["reports"] / "latest"
        if not latest.is_symlink() or (ctx["reports"] / os.readlink(latest)) not in complete:
            problems.append("reports/latest does not point at one of the complete runs")
        return problems
    return check


# --------------------------------------------------------------------------- mounts (root only)
def mount_tmpfs(ctx: dict, where: Path, size: str, read_only: bool = False) -> None:
    """Mount a tmpfs of ``size`` at ``where`` (read-only if asked); unmounted after the case. Raises Skip."""
    where.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if read_only else "")
    try:
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)],
                              capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Skip(f"cannot mount a tmpfs: {exc}") from None
    if proc.returncode != 0:
        raise Skip(f"cannot mount a tmpfs ({proc.stderr.strip() or proc.returncode})")
    previous = ctx.get("cleanup")

    def cleanup():
        for _ in range(20):
            if subprocess.run(["umount", str(where)], capture_output=True).returncode == 0:
                break
            time.sleep(0.25)
        if previous:
            previous()
    ctx["cleanup"] = cleanup


def untouched(key: str = "inputs", allow_new_report: bool = True):
    """Check: every file recorded in ``ctx[key]`` (a snapshot of data/ or out/) still exists, byte-identical.

    The issue allows either refusing (exit 2, nothing new) or writing the report next to the files
    (exit 0, index.html and manifest.json beside them, nothing else touched).
    """
    def check(ctx: dict, outcome: Outcome) -> list[str]:
        root: Path = ctx[key + "_root"]
        before: dict = ctx[key]
        after = snapshot(root) if root.exists() else {}
        problems = [f"{root.name}/{rel} was {'removed' if rel not in after else 'changed'}"
                    for rel, digest in before.items() if after.get(rel) != digest]
        new = [rel for rel in after if rel not in before]
        if outcome.exit == 2:
            if str(root) not in outcome.text:
                problems.append(f"the refusal does not name {root}")
            if new:
                problems.append(f"refused, but {root.name}/ gained {new[:3]}")
        elif outcome.exit == 0:
            if not (root / "index.html").exists():
                problems.append(f"exit 0 but no index.html written into {root.name}/")
        return problems
    return check


def record(key: str, which: str):
    """Build step: remember a snapshot of sandbox folder ``which`` under ``ctx[key]``."""
    def build(ctx: dict) -> None:
        root = ctx["sb"] / which
        ctx[key] = snapshot(root)
        ctx[key + "_root"] = root
    return build


def gone(rel: str):
    def check(ctx: dict, outcome: Outcome) -> list[str]:
        return [f"{rel} is still there"] if (ctx["sb"] / rel).exists() else []
    return check


def latest_real_folder_kept(ctx: dict, outcome: Outcome) -> list[str]:
    latest = ctx["reports"] / "latest"
    if latest.is_symlink() or not (latest / "index.html").exists():
        return ["reports/latest (a real folder) was replaced"]
    if (latest / "index.html").read_text() != "my own page":
        return ["reports/latest/index.html was changed"]
    return []


def signal_name(sig: int) -> str:
    return signal.Signals(sig).name
