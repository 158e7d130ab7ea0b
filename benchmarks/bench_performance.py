"""Benchmark: the performance review (time and peak memory) as the company grows.

    python benchmarks/bench_performance.py                         # 5,000 and 50,000 customers
    python benchmarks/bench_performance.py --customers 5000 200000 --period month
    python benchmarks/bench_performance.py --notebook              # also the notebook through Papermill

For each size a demo company (``salesbench.datasets.demo.generate``, seed 0) is written
to a temporary folder (generation time is reported but is not the subject).
The review then runs in a fresh child process so that its peak memory
(``VmHWM``, imports included) is its own, in phases:

* ``kpis``: :func:`salesbench.analyses.performance.measures.compute_kpis` — the engine-side
  group-bys of orders, invoices, surveys, opportunities, interactions and
  targets at rep / team / region / company level for the trend window;
* ``fit``: the whole :class:`~salesbench.analyses.performance.model.PerformanceReview`
  (KPIs again, scorecards for every trend period, price/volume/mix,
  waterfalls, relationships, feedback for every rep).

With ``--notebook`` the notebook is also executed through Papermill's Python
API on each company (kernel start and imports included) into a temporary
folder. Results are printed as a table and, with ``--out``, written as JSON.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _peak_mb() -> float:
    """Peak resident set size of this process (VmHWM; unlike ru_maxrss it is not inherited across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(folder: str, period: str) -> dict:
    t0 = time.perf_counter()
    import salesbench as sb
    from salesbench.analyses.performance import measures, periods
    from salesbench.analyses.performance import model as pf

    t_import = time.perf_counter() - t0
    rss0 = _peak_mb()
    ds = sb.open_data(folder)
    rows = ds.row_counts()
    t = time.perf_counter()
    end = periods.data_end(ds)
    p = periods.select_period(period, end)
    measures.compute_kpis(ds, period, p - 5, p, as_of=end)
    t_kpis = time.perf_counter() - t
    t = time.perf_counter()
    rv = pf.PerformanceReview(period=period).fit(ds)
    t_fit = time.perf_counter() - t
    return {
        "orders": rows.get("orders"), "invoices": rows.get("invoices"), "import_s": round(t_import, 2),
        "kpis_s": round(t_kpis, 2), "fit_s": round(t_fit, 2),
        "peak_mb": round(_peak_mb(), 1),
        "rss_after_import_mb": round(rss0, 1), "spearman": rv.spearman_truth_, "period": str(rv.period_),
    }


def _notebook(folder: str, out_dir: str) -> float:
    import papermill as pm

    t = time.perf_counter()
    pm.execute_notebook(str(ROOT / "notebooks" / "performance.ipynb"), str(Path(out_dir) / "performance.ipynb"),
                        parameters={"data": folder, "out_dir": out_dir}, kernel_name="python3",
                        progress_bar=False, cwd=out_dir)
    return time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, nargs="+", default=[5000, 50000])
    ap.add_argument("--period", default="quarter", choices=["month", "quarter", "year"])
    ap.add_argument("--notebook", action="store_true", help="also execute the notebook through Papermill")
    ap.add_argument("--out", type=Path, help="write the measurements as JSON to this file")
    ap.add_argument("--_child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._child:
        print(json.dumps(_child(args._child[0], args._child[1])))
        return 0
    from salesbench.datasets.demo import generate

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.customers:
            folder = Path(tmp) / f"c{n}"
            t = time.perf_counter()
            generate(folder, seed=0, customers=n)
            gen_s = time.perf_counter() - t
            proc = subprocess.run([sys.executable, __file__, "--_child", str(folder), args.period],
                                  capture_output=True, text=True, check=True)
            row = {"customers": n, "generate_s": round(gen_s, 1), **json.loads(proc.stdout.strip().splitlines()[-1])}
            if args.notebook:
                nb_out = Path(tmp) / f"nb{n}"
                nb_out.mkdir()
                row["notebook_s"] = round(_notebook(str(folder), str(nb_out)), 1)
            results.append(row)
            print(json.dumps(row), flush=True)
    cols = ["customers", "orders", "generate_s", "kpis_s", "fit_s", "peak_mb", "spearman"] + (
        ["notebook_s"] if args.notebook else [])
    print("\n" + " | ".join(cols))
    for r in results:
        print(" | ".join(f"{r[c]:.3f}" if isinstance(r[c], float) and c == "spearman" else str(r[c]) for c in cols))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
