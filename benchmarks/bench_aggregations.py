"""Time the demo generator and the standard aggregations at 10^5, 10^6, 10^7 order lines.

Usage::

    .venv/bin/python benchmarks/bench_aggregations.py [--sizes 1e5 1e6 1e7] [--demo-max 1e6] [--out DIR]
        [--demo-folder DIR ...]     # e.g. a folder made by `salesbench demo --customers 250000` (~8.7M lines)

What is measured (each measurement in a fresh process, so peak memory is its own):

* ``demo``: ``salesbench.datasets.demo.generate`` with as many customers as give about N
  order lines (the default company has ~40 lines per customer over 3 years);
  sizes above ``--demo-max`` are skipped (the generator is not the subject).
* ``rfm``: the per-customer RFM summary — first and last order date, number of
  distinct order days, revenue — from a Parquet file of N plain order lines;
* ``monthly``: monthly revenue per region x product line from the same file;
* with ``--demo-folder``: the same two aggregations on a demo company folder,
  where region and product line come from joins of orders with customers and
  products (the canonical layout).

Each aggregation runs twice: ``salesbench`` = ibis on DuckDB over the Parquet
file, only the aggregated frame comes back to pandas; ``pandas`` = the same
aggregation with ``pd.read_parquet`` + ``groupby``. The plain order-line files
(customer_id, order_date, revenue, region, product_line) are generated with
numpy rather than the full demo generator, so 10^7 lines take seconds to make.
Both sides are checked to give the same totals. Memory: ``peak MB`` is the
process's maximum resident set size (``ru_maxrss``, imports included) and
``+MB`` its growth over the size after imports (0 when the work fits in memory
already touched by the imports). Imports are done before the clock starts.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_lines(path: Path, n: int, seed: int = 0) -> Path:
    """Write ``n`` plain order lines to ``path`` (Parquet, row groups of 1M)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    n_cust = max(n // 40, 100)
    regions = np.array(["North", "South", "East", "West"])
    lines = np.array(["Hardware", "Consumables", "Software", "Services", "Smart Home", "Legacy Print"])
    start = np.datetime64("2023-01-01")
    writer = None
    for lo in range(0, n, 1_000_000):
        m = min(1_000_000, n - lo)
        cust = rng.integers(0, n_cust, m)
        table = pa.table({
            "customer_id": pa.array([f"C{c:08d}" for c in cust]),
            "order_date": pa.array(start + rng.integers(0, 1095, m).astype("timedelta64[D]")),
            "revenue": pa.array(np.round(rng.lognormal(4.5, 1.0, m), 2)),
            "region": pa.array(regions[cust % 4]),
            "product_line": pa.array(lines[rng.integers(0, 6, m)]),
        })
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()
    return path


def _job(kind: str, engine: str, arg: str, queue) -> None:
    import ibis  # noqa: F401 - everything is imported before the baseline and the clock
    import pandas as pd  # noqa: F401
    import salesbench  # noqa: F401
    import salesbench.datasets.demo  # noqa: F401

    ibis.duckdb.connect().disconnect()  # loads the DuckDB backend (a one-time ~0.8 s import)
    base = _rss_mb()
    t0 = time.perf_counter()
    check = None
    if kind == "demo":
        from salesbench.datasets.demo import generate

        with tempfile.TemporaryDirectory() as tmp:
            generate(tmp, seed=0, customers=int(arg))
            import pyarrow.parquet as pq

            check = pq.ParquetFile(Path(tmp) / "orders.parquet").metadata.num_rows
    elif engine == "salesbench":
        import salesbench as sb

        ds = sb.open_data(arg)  # the folder source: canonical ibis tables on DuckDB
        o = ds.table("orders")
        if kind == "rfm":
            out = o.group_by("customer_id").aggregate(
                first=o.order_date.min(), last=o.order_date.max(),
                frequency=o.order_date.nunique(), monetary=o.revenue.sum(),
            ).to_pandas()
            check = (len(out), round(float(out.monetary.sum()), 2))
        else:
            if "region" not in o.columns:  # demo company: region from customers, line from products
                c = ds.table("customers").select("customer_id", "region")
                p = ds.table("products").select("product_id", "product_line")
                o = o.left_join(c, "customer_id").left_join(p, "product_id")
            month = o.order_date.truncate("M")
            out = o.group_by([month.name("month"), "region", "product_line"]).aggregate(revenue=o.revenue.sum()).to_pandas()
            check = (len(out), round(float(out.revenue.sum()), 2))
    else:
        import pandas as pd

        folder = Path(arg)
        if kind == "rfm":
            df = pd.read_parquet(folder / "orders.parquet", columns=["customer_id", "order_date", "revenue"])
            out = df.groupby("customer_id").agg(first=("order_date", "min"), last=("order_date", "max"),
                                                frequency=("order_date", "nunique"), monetary=("revenue", "sum"))
            check = (len(out), round(float(out.monetary.sum()), 2))
        else:
            if (folder / "customers.parquet").exists():
                df = pd.read_parquet(folder / "orders.parquet", columns=["order_date", "customer_id", "product_id", "revenue"])
                df = df.merge(pd.read_parquet(folder / "customers.parquet", columns=["customer_id", "region"]),
                              on="customer_id", how="left")
                df = df.merge(pd.read_parquet(folder / "products.parquet", columns=["product_id", "product_line"]),
                              on="product_id", how="left")
            else:
                df = pd.read_parquet(folder / "orders.parquet", columns=["order_date", "region", "product_line", "revenue"])
            df["month"] = pd.to_datetime(df.order_date).dt.to_period("M")
            out = df.groupby(["month", "region", "product_line"], observed=True).revenue.sum()
            check = (len(out), round(float(out.sum()), 2))
    queue.put((time.perf_counter() - t0, _rss_mb() - base, _rss_mb(), check))


def measure(kind: str, engine: str, arg: str):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_job, args=(kind, engine, arg, q))
    p.start()
    p.join()
    if p.exitcode != 0:
        raise RuntimeError(f"{kind}/{engine} on {arg} failed (exit {p.exitcode})")
    return q.get()


def aggregations(size: str, folder: Path, suffix: str = "") -> list[tuple]:
    """RFM and monthly revenue on ``folder`` with both engines; checks they agree."""
    rows = []
    for kind, title in (("rfm", "RFM per customer"), ("monthly", "month x region x line")):
        results = {}
        for engine in ("salesbench", "pandas"):
            secs, mem, peak, check = measure(kind, engine, str(folder))
            results[engine] = check
            rows.append((size, title + suffix, engine, secs, mem, peak, f"{check[0]:,} groups"))
        assert results["salesbench"][0] == results["pandas"][0], results
        assert abs(results["salesbench"][1] - results["pandas"][1]) <= 1e-6 * abs(results["pandas"][1]) + 0.05, results
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="+", type=float, default=[1e5, 1e6, 1e7])
    ap.add_argument("--demo-max", type=float, default=1e6, help="largest size for which the demo generator is timed")
    ap.add_argument("--out", default=None, help="folder for the generated Parquet files (default: a temp folder)")
    ap.add_argument("--demo-folder", action="append", default=[],
                    help="also run the aggregations on this demo company folder (orders joined to customers/products)")
    args = ap.parse_args(argv)
    root = Path(args.out or tempfile.mkdtemp(prefix="salesbench-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in args.sizes:
        n = int(size)
        if size <= args.demo_max:
            secs, mem, peak, lines = measure("demo", "-", str(max(n // 40, 50)))
            rows.append((f"{n:.0e}", "salesbench demo", "-", secs, mem, peak, f"{lines:,} lines"))
        f = root / f"lines_{n}" / "orders.parquet"
        if not f.exists():
            f.parent.mkdir(parents=True, exist_ok=True)
            make_lines(f, n)
        rows += aggregations(f"{n:.0e}", f.parent)
        print(f"done {n:,}", file=sys.stderr, flush=True)
    for folder in args.demo_folder:
        import pyarrow.parquet as pq

        n = pq.ParquetFile(Path(folder) / "orders.parquet").metadata.num_rows
        rows += aggregations(f"{n:.1e}", Path(folder), suffix=" (demo, joins)")
    head = f"{'lines':>7}  {'task':<37} {'engine':<11} {'seconds':>8} {'+MB':>7} {'peak MB':>8}  result"
    print(head)
    print("-" * len(head))
    for size, task, engine, secs, mem, peak, note in rows:
        print(f"{size:>7}  {task:<37} {engine:<11} {secs:8.2f} {mem:7.0f} {peak:8.0f}  {note}")
    print("+MB: growth of the peak resident set over the process after imports; peak MB: the process's peak RSS.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
