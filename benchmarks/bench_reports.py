"""Benchmark: all seven reports (``REPORTS``) on the default demo against ``salesbench run data_quality`` alone (issue #13).

    python benchmarks/bench_reports.py                  # one sitting: data_quality, all --jobs 1, all --jobs auto
    python benchmarks/bench_reports.py --repeats 3      # median of 3 runs of each
    python benchmarks/bench_reports.py --cold           # plus one run with an empty PyTensor compile cache
    python benchmarks/bench_reports.py --skip-serial    # only data_quality alone and all --jobs auto (the ratio)
    python benchmarks/bench_reports.py --six            # "all" = the six reports of issue #13's text (no plan)

Each measurement is a whole ``salesbench run`` process (``python -m salesbench
run ... --out <temp>``, the venv's Python, the current PYTHONPATH), so start-up,
data opening, kernels, rendering and publishing all count. Wall seconds are the
process's; CPU seconds are user + system of the process and all its children
(kernels, g++), from ``getrusage(RUSAGE_CHILDREN)`` deltas; the per-report
seconds come from each run's ``manifest.json``. The target of issue #13 is
``all (default) / data_quality alone <= 5``. The machine load (``os.getloadavg``)
is printed before and after: other work on the machine slows every figure, which
is why the ratio is taken in one sitting.

``--cold`` is a fresh machine's first run after set-up: with every cache empty
(PyTensor's compiledir, matplotlib's font cache ``MPLCONFIGDIR``, numba's
``NUMBA_CACHE_DIR``, the demo data in ``SALESBENCH_CACHE``) it runs ``salesbench
warm`` (what ``make setup`` runs; timed on its own) and then all reports once; the
target is ``cold / warm <= 2``.

CPU seconds per report come from ``manifest.json`` (``reports[].cpu_s``: the
report's worker, kernel and their children); runs of a version without that key
show ``–``. The load average is printed with every run.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: every report of ``salesbench run`` (the plan report came with #16; issue #13 asks for all of them)
REPORTS = ["data_quality", "segmentation", "funnel", "forecasting", "churn", "performance", "plan"]
#: the six reports there were when issue #13 was written ("all six reports ≤ 5× data_quality alone")
SIX = [name for name in REPORTS if name != "plan"]


def run(names: list[str], jobs: str | None, out: Path, data: str, env: dict[str, str] | None = None) -> dict:
    """One ``salesbench run`` process: wall and CPU seconds, exit code, per-report durations (manifest)."""
    cmd = [sys.executable, "-m", "salesbench", "run", *names, "--data", data, "--out", str(out)]
    if jobs is not None:
        cmd += ["--jobs", jobs]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    per, per_cpu, jobs_used = {}, {}, None
    manifest = out / "manifest.json"
    if manifest.exists():
        m = json.loads(manifest.read_text())
        per = {r["name"]: r["duration_s"] for r in m["reports"]}
        per_cpu = {r["name"]: r.get("cpu_s") for r in m["reports"]}
        jobs_used = m["options"]["jobs"]
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n", file=sys.stderr)
    return {"wall": wall, "cpu": cpu, "code": proc.returncode, "per_report": per, "per_report_cpu": per_cpu,
            "jobs": jobs_used, "load": os.getloadavg()[0]}


def timed(cmd: list[str], env: dict[str, str]) -> dict:
    """Wall and CPU seconds (with children) and exit code of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n", file=sys.stderr)
    return {"wall": wall, "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "code": proc.returncode}


def cold_env(folder: Path) -> dict[str, str]:
    """The environment of a fresh machine: every cache the reports fill points into an empty ``folder``."""
    dirs = {"compiledir": folder / "pytensor", "MPLCONFIGDIR": folder / "matplotlib",
            "NUMBA_CACHE_DIR": folder / "numba", "SALESBENCH_CACHE": folder / "salesbench"}
    for d in dirs.values():
        d.mkdir(parents=True)
    env = {k: str(v) for k, v in dirs.items() if k != "compiledir"}
    return dict(os.environ, PYTENSOR_FLAGS=f"compiledir={dirs['compiledir']}", **env)


def line(label: str, r: dict) -> str:
    """One measurement: wall, CPU, load, then each report's wall (and CPU) seconds."""
    per = "  ".join(f"{n} {s:.1f}" + (f"/{r['per_report_cpu'][n]:.1f}" if r["per_report_cpu"].get(n) else "")
                    for n, s in r["per_report"].items())
    return (f"  {label:<28} {r['wall']:7.1f} s wall  {r['cpu']:7.1f} s CPU  load {r['load']:5.2f}  exit {r['code']}  "
            f"jobs={r['jobs']}  {per}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="demo")
    ap.add_argument("--repeats", type=int, default=1, help="runs of each measurement (median reported)")
    ap.add_argument("--cold", action="store_true",
                    help="also a fresh machine's first run: empty caches, salesbench warm, then all reports")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    ap.add_argument("--skip-serial", action="store_true", help="leave out the --jobs 1 run (the ratio does not use it)")
    ap.add_argument("--six", action="store_true", help="all = the six reports of issue #13's text (without plan)")
    args = ap.parse_args()
    reports = SIX if args.six else REPORTS
    print(f"all = {len(reports)} reports: {' '.join(reports)}")

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; cpus {os.cpu_count()}")
    rows: dict[str, list[dict]] = {"data_quality alone": [], "all --jobs 1": [], "all (default: --jobs auto)": []}
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as tmp:
        k = 0
        for _ in range(args.repeats):  # interleaved, so a change in machine load hits every measurement alike
            for label, names, jobs in (("data_quality alone", ["data_quality"], None),
                                       ("all --jobs 1", reports, "1"),
                                       ("all (default: --jobs auto)", reports, None)):
                if args.skip_serial and jobs == "1":
                    continue
                k += 1
                r = run(names, jobs, Path(tmp) / f"run{k}", args.data)
                rows[label].append(r)
                print(line(label, r), flush=True)
        cold = setup = None
        if args.cold:
            env = cold_env(Path(tmp) / "cold-caches")
            setup = timed([sys.executable, "-m", "salesbench", "warm"], env)
            print(f"  {'set-up: salesbench warm':<28} {setup['wall']:7.1f} s wall  {setup['cpu']:7.1f} s CPU  "
                  f"exit {setup['code']}", flush=True)
            cold = run(reports, None, Path(tmp) / "cold", args.data, env)
            print(line("all, first run after set-up", cold), flush=True)
    med = {label: {"wall": statistics.median(r["wall"] for r in rs), "cpu": statistics.median(r["cpu"] for r in rs)}
           for label, rs in rows.items() if rs}
    base = med["data_quality alone"]["wall"]
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"median of {args.repeats}:")
    for label, m in med.items():
        print(f"  {label:<28} {m['wall']:7.1f} s wall ({m['wall'] / base:4.1f}x data_quality)  {m['cpu']:7.1f} s CPU")
    ratio = med["all (default: --jobs auto)"]["wall"] / base
    print(f"ratio all (default) / data_quality alone: {ratio:.1f} (target <= 5)")
    if cold is not None:
        print(f"cold / warm (default): {cold['wall'] / med['all (default: --jobs auto)']['wall']:.2f} (target <= 2)")
    if args.json:
        args.json.write_text(json.dumps({"median": med, "runs": rows, "cold": cold, "setup": setup, "ratio": ratio},
                                        indent=2))
    return 0 if all(r["code"] == 0 for rs in rows.values() for r in rs) else 1


if __name__ == "__main__":
    sys.exit(main())
