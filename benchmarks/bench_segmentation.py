"""Time and peak memory of the segmentation step at 10^4 … 10^6 customers.

Usage::

    .venv/bin/python benchmarks/bench_segmentation.py [--customers 1e4 1e5 1e6] [--out DIR]

Data: a folder with ``orders.parquet`` (order_id, line_no, order_date,
customer_id, quantity, discount, revenue, cost, channel) generated with numpy
for the requested number of customers — about 6 order lines per customer over
three years (purchase rates ~ Gamma, 1 + Poisson(0.8) lines per order, four
channels). The demo generator is not used: at 10^6 customers it would take
minutes and it is not the subject.

What is measured, each size in a fresh process (so the peak memory is its own):

* ``features``: :func:`salesbench.analyses.segmentation.model.customer_features` — the ibis/DuckDB
  aggregation of the order lines to one row per customer, brought to pandas;
* ``fit``: :meth:`Segmentation.fit` with the default parameters — features,
  RFM scores and segments, value tiers, K-means with k = 3..8 by silhouette
  (on a 20,000-customer sample, then every customer is assigned), lifecycle,
  breakdowns and the migration matrix (a second feature aggregation);
* ``export``: the CRM action list as CSV (one row per customer).

``fit CPU s`` is the CPU time (user + system, all threads: DuckDB's and
scikit-learn's) of ``fit``: on a loaded machine wall seconds grow with the load,
CPU seconds much less; ``load`` is the 1-minute load average after the size.
``peak MB`` is the measuring process's peak resident set size (``VmHWM``,
imports included); ``base MB`` the size after imports. ``steps`` lists the
seconds of each step inside ``fit`` (``Segmentation.timings_``).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _rss_mb() -> float:
    """Peak resident set size of this process in MB (``VmHWM``; ``ru_maxrss`` where /proc is absent).

    ``ru_maxrss`` survives fork + exec on Linux, so a child would report its parent's peak;
    ``VmHWM`` belongs to the process's own address space.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_orders(folder: Path, customers: int, seed: int = 0) -> int:
    """Write ``folder/orders.parquet`` for ``customers`` customers; returns the number of lines."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    channels = np.array(["direct", "distributor", "online", "store"])
    writer = None
    n_lines = 0
    next_order = 0
    chunk = 200_000
    for c0 in range(0, customers, chunk):
        n = min(chunk, customers - c0)
        rate = rng.gamma(1.5, 1.2, n)                           # orders per year
        n_orders = 1 + rng.poisson(rate * rng.uniform(0.2, 3.0, n))
        cust = np.repeat(np.arange(c0, c0 + n), n_orders)
        m = len(cust)
        order_day = rng.integers(0, 3 * 365, m)
        lines = 1 + rng.poisson(0.8, m)
        line_cust = np.repeat(cust, lines)
        line_day = np.repeat(order_day, lines)
        order_num = np.repeat(np.arange(next_order, next_order + m), lines)
        next_order += m
        line_no = np.concatenate([np.arange(1, k + 1) for k in lines])
        k = len(line_cust)
        qty = 1 + rng.poisson(2.0, k)
        price = rng.lognormal(4.5, 1.0, k)
        disc = np.clip(rng.normal(0.05, 0.04, k), 0, 0.5)
        revenue = np.round(qty * price * (1 - disc), 2)
        main_chan = rng.integers(0, 4, n)
        chan = np.where(rng.random(k) < 0.85, main_chan[line_cust - c0], rng.integers(0, 4, k))
        table = pa.table({
            "order_id": pa.array(np.char.add("O", order_num.astype(str))),
            "line_no": line_no.astype(np.int64),
            "order_date": pa.array((np.datetime64("2023-01-01") + line_day.astype("timedelta64[D]")).astype("datetime64[D]")),
            "customer_id": pa.array(np.char.add("C", line_cust.astype(str))),
            "quantity": qty.astype(float),
            "discount": disc,
            "revenue": revenue,
            "cost": np.round(revenue * rng.uniform(0.4, 0.8, k), 2),
            "channel": pa.array(channels[chan]),
        })
        if writer is None:
            writer = pq.ParquetWriter(folder / "orders.parquet", table.schema)
        writer.write_table(table)
        n_lines += k
    writer.close()
    return n_lines


def _measure(folder: str, queue) -> None:
    import salesbench as sb
    from salesbench.analyses.segmentation import model as seg

    base = _rss_mb()
    ds = sb.open_data(folder)
    t = time.perf_counter()
    feats = seg.customer_features(ds)
    t_feat = time.perf_counter() - t
    del feats
    t, c = time.perf_counter(), time.process_time()
    S = seg.Segmentation().fit(ds)
    t_fit, c_fit = time.perf_counter() - t, time.process_time() - c
    t = time.perf_counter()
    out = Path(folder) / "segmentation.customers.csv"
    S.action_list_.to_csv(out, index=False)
    t_exp = time.perf_counter() - t
    queue.put({"customers": len(S.customers_), "features_s": t_feat, "fit_s": t_fit, "fit_cpu_s": c_fit, "export_s": t_exp,
               "k": S.cluster_result_.k, "base_mb": base, "peak_mb": _rss_mb(), "steps": S.timings_})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", nargs="+", type=float, default=[1e4, 1e5, 1e6])
    ap.add_argument("--out", type=Path, default=None, help="keep the generated data here")
    args = ap.parse_args(argv)
    ctx = mp.get_context("spawn")
    print(f"{'customers':>10} {'lines':>11} {'gen s':>7} {'features s':>11} {'fit s':>7} {'export s':>9} "
          f"{'k':>3} {'base MB':>8} {'peak MB':>8} {'fit CPU s':>9} {'load':>5}")
    for size in args.customers:
        n = int(size)
        with tempfile.TemporaryDirectory(dir=args.out) as tmp:
            folder = Path(tmp)
            t = time.perf_counter()
            lines = make_orders(folder, n)
            gen = time.perf_counter() - t
            q = ctx.Queue()
            p = ctx.Process(target=_measure, args=(str(folder), q))
            p.start()
            r = q.get()
            p.join()
            print(f"{r['customers']:>10,} {lines:>11,} {gen:>7.1f} {r['features_s']:>11.1f} {r['fit_s']:>7.1f} "
                  f"{r['export_s']:>9.1f} {r['k']:>3} {r['base_mb']:>8.0f} {r['peak_mb']:>8.0f} {r['fit_cpu_s']:>9.1f} "
                  f"{os.getloadavg()[0]:>5.1f}", flush=True)
            print("    fit steps (s): " + ", ".join(f"{k} {v:.1f}" for k, v in r["steps"].items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
