"""Time the demo generator and the standard aggregations at 10^5 .. 10^8 order lines.

Usage::

    .venv/bin/python benchmarks/bench_aggregations.py [--sizes 1e5 1e6 1e7] [--demo-max 1e6] [--out DIR]
        [--demo-folder DIR ...]     # e.g. a folder made by `salesbench demo --customers 250000` (~8.7M lines)
        [--engines salesbench pandas spark] [--pandas-max 1e7] [--spark-max 1e7]
    .venv/bin/python benchmarks/bench_aggregations.py --sizes 1e8 --engines salesbench --out /tmp/bench

Sizes of 10^8 and above are written by DuckDB itself (``COPY (SELECT ... FROM range(..)) TO``, one
Parquet file per 10^7 lines in ``lines_<n>/orders/``), never held in pandas; the lines are a
deterministic hash of the line number, so a rerun makes the same file. Generate them under /tmp.

What is measured (each measurement in a fresh process, so peak memory is its own):

* ``demo``: ``salesbench.datasets.demo.generate`` with as many customers as give about N
  order lines (the default company has ~40 lines per customer over 3 years);
  sizes above ``--demo-max`` are skipped (the generator is not the subject).
* ``rfm``: the per-customer RFM summary — first and last order date, number of
  distinct order days, revenue — from a Parquet file of N plain order lines; the engines run it
  through :func:`salesbench.core.memory.aggregate_in_passes` as the analyses do (on DuckDB in
  :func:`~salesbench.core.memory.passes_for` passes over customer partitions: 4 from 10^7 lines;
  ``SALESBENCH_PASSES=1`` gives the one-pass figures);
* ``monthly``: monthly revenue per region x product line from the same file;
* with ``--demo-folder``: the same two aggregations on a demo company folder,
  where region and product line come from joins of orders with customers and
  products (the canonical layout).

Each aggregation runs with each engine: ``salesbench`` = ibis on DuckDB over the
Parquet file(s), only the aggregated frame comes back to pandas (DuckDB's memory
limit and spill folder as :mod:`salesbench.core.memory` sets them from the machine's
memory, or ``SALESBENCH_DUCKDB_MEMORY`` when set: the table's last line states the limit); ``spark`` = the same ibis expressions on Spark in local mode (``local[*]``,
through a ``engine: spark`` source spec; the JVM's start-up is not timed);
``pandas`` = the same aggregation with ``pd.read_parquet`` + ``groupby`` (only up to
``--pandas-max``: 10^8 lines do not fit). The plain order-line files
(customer_id, order_date, revenue, region, product_line) are generated with
numpy rather than the full demo generator, so 10^7 lines take seconds to make.
All engines are checked to give the same totals. Memory: ``peak MB`` is the
process's maximum resident set size (``ru_maxrss``, imports included; for Spark
the Python driver only — the JVM is a child process, reported as ``jvm MB``, its
peak RSS from /proc) and
``+MB`` its growth over the size after imports (0 when the work fits in memory
already touched by the imports); ``CPU-s`` its user + system CPU seconds, which, unlike
the wall time, hardly change when other jobs share the cores. Imports are done before the clock starts.
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


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process so far: comparable on a loaded machine, unlike wall time."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


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


def make_lines_duckdb(folder: Path, n: int, chunk: int = 10_000_000) -> Path:
    """Write ``n`` plain order lines as Parquet files of ``chunk`` lines into ``folder`` with DuckDB.

    Same columns and distributions as :func:`make_lines` (customers = n / 40, dates over three
    years from 2023-01-01, log-normal revenue, 4 regions by customer, 6 product lines), drawn from
    hashes of the line number, so nothing is held in Python memory and a rerun gives the same data.
    """
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    n_cust = max(n // 40, 100)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    for i, lo in enumerate(range(0, n, chunk)):
        target = folder / f"part-{i:04d}.parquet"
        if target.exists():
            continue
        hi = min(n, lo + chunk)
        con.execute(f"""
            COPY (
              WITH r AS (SELECT range AS i, hash(range) AS h1, hash(range + {n}) AS h2, hash(range + 2 * {n}) AS h3
                         FROM range({lo}, {hi}))
              SELECT 'C' || lpad(CAST(h1 % {n_cust} AS VARCHAR), 8, '0') AS customer_id,
                     DATE '2023-01-01' + CAST((h1 // {n_cust}) % 1095 AS INTEGER) AS order_date,
                     round(exp(4.5 + sqrt(-2 * ln(((h2 % 1000000) + 0.5) / 1000000))
                                    * cos(2 * pi() * ((h3 % 1000000) + 0.5) / 1000000)), 2) AS revenue,
                     ['North', 'South', 'East', 'West'][CAST((h1 % {n_cust}) % 4 AS INTEGER) + 1] AS region,
                     ['Hardware', 'Consumables', 'Software', 'Services', 'Smart Home', 'Legacy Print']
                         [CAST((h3 // 1000000) % 6 AS INTEGER) + 1] AS product_line
              FROM r
            ) TO '{target}.part' (FORMAT parquet, ROW_GROUP_SIZE 1000000)""")
        Path(f"{target}.part").rename(target)
    con.close()
    return folder


def _orders_location(arg: str) -> tuple[Path, str]:
    """``(folder, parquet path or glob)`` of the order lines in a benchmark folder."""
    folder = Path(arg)
    if (folder / "orders").is_dir():
        return folder, str(folder / "orders" / "*.parquet")
    return folder, str(folder / "orders.parquet")


def _open(engine: str, arg: str):
    """The Dataset of a benchmark folder on DuckDB (``salesbench``) or Spark local (``spark``)."""
    import salesbench as sb
    from salesbench.core.dataset import Dataset, duckdb_connect

    folder, orders = _orders_location(arg)
    if engine == "spark":
        spec = Path(tempfile.mkdtemp(prefix="salesbench-bench-spark-")) / "spark.yaml"
        tables = "".join(f"  {t}: {{parquet: {p}}}\n" for t, p in
                         [("orders", orders.replace("*.parquet", "") if "*" in orders else orders)] +
                         [(t, str(folder / f"{t}.parquet")) for t in ("customers", "products")
                          if (folder / f"{t}.parquet").exists()])
        spec.write_text(f"engine: spark\nmaster: local[*]\nconf: {{spark.driver.memory: 4g}}\ntables:\n{tables}")
        return sb.open_data(spec)
    if "*" in orders:  # a folder of Parquet parts: the orders table over all of them
        con = duckdb_connect()
        return Dataset(con, {"orders": con.read_parquet(orders, table_name="orders")}, f"folder {folder}")
    return sb.open_data(str(folder))  # the folder source: canonical ibis tables on DuckDB


def _jvm_peak_mb() -> float:
    """Peak RSS (VmHWM) of this process's child JVMs, MB (0 when there are none)."""
    import os

    peak = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("PPid", "").strip() == str(os.getpid()) and "java" in fields.get("Name", ""):
            peak = max(peak, float(fields.get("VmHWM", "0 kB").split()[0]) / 1024.0)
    return peak


def _job(kind: str, engine: str, arg: str, queue) -> None:
    import ibis  # noqa: F401 - everything is imported before the baseline and the clock
    import pandas as pd  # noqa: F401
    import salesbench  # noqa: F401
    import salesbench.datasets.demo  # noqa: F401

    ibis.duckdb.connect().disconnect()  # loads the DuckDB backend (a one-time ~0.8 s import)
    if engine == "spark":  # start the JVM before the clock
        from salesbench.io.spark import spark_session

        spark_session("local[*]", "salesbench-bench", {"spark.driver.memory": "4g"}).range(1).count()
    base = _rss_mb()
    t0, c0 = time.perf_counter(), _cpu_s()
    check = None
    if kind == "demo":
        from salesbench.datasets.demo import generate

        with tempfile.TemporaryDirectory() as tmp:
            generate(tmp, seed=0, customers=int(arg))
            import pyarrow.parquet as pq

            check = pq.ParquetFile(Path(tmp) / "orders.parquet").metadata.num_rows
    elif engine in ("salesbench", "spark"):
        ds = _open(engine, arg)
        o = ds.table("orders")
        if kind == "rfm":
            from salesbench.core.memory import aggregate_in_passes

            out = aggregate_in_passes(o, "customer_id", lambda t: t.group_by("customer_id").aggregate(
                first=t.order_date.min(), last=t.order_date.max(),
                frequency=t.order_date.nunique(), monetary=t.revenue.sum(),
            ))
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
    queue.put((time.perf_counter() - t0, _rss_mb() - base, _rss_mb(), check, _jvm_peak_mb(), _cpu_s() - c0))


def measure(kind: str, engine: str, arg: str):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_job, args=(kind, engine, arg, q))
    p.start()
    p.join()
    if p.exitcode != 0:
        raise RuntimeError(f"{kind}/{engine} on {arg} failed (exit {p.exitcode})")
    return q.get()


def aggregations(size: str, folder: Path, suffix: str = "", engines=("salesbench", "pandas")) -> list[tuple]:
    """RFM and monthly revenue on ``folder`` with ``engines``; checks they agree."""
    rows = []
    for kind, title in (("rfm", "RFM per customer"), ("monthly", "month x region x line")):
        results = {}
        for engine in engines:
            secs, mem, peak, check, jvm, cpu = measure(kind, engine, str(folder))
            results[engine] = check
            note = f"{check[0]:,} groups" + (f"; jvm peak {jvm:,.0f} MB" if jvm else "")
            rows.append((size, title + suffix, engine, secs, cpu, mem, peak, note))
            print(f"  {size} {title}{suffix} {engine}: {secs:.2f} s ({cpu:.1f} CPU-s), +{mem:.0f} MB, peak {peak:.0f} MB,"
                  f" {note}", file=sys.stderr, flush=True)
        first = results[engines[0]]
        for engine, got in results.items():
            assert got[0] == first[0], results
            assert abs(got[1] - first[1]) <= 1e-6 * abs(first[1]) + 0.05, results
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="+", type=float, default=[1e5, 1e6, 1e7])
    ap.add_argument("--demo-max", type=float, default=1e6, help="largest size for which the demo generator is timed")
    ap.add_argument("--out", default=None, help="folder for the generated Parquet files (default: a temp folder)")
    ap.add_argument("--demo-folder", action="append", default=[],
                    help="also run the aggregations on this demo company folder (orders joined to customers/products)")
    ap.add_argument("--engines", nargs="+", default=["salesbench", "pandas", "spark"],
                    choices=["salesbench", "pandas", "spark"])
    ap.add_argument("--pandas-max", type=float, default=1e7, help="largest size run with pandas")
    ap.add_argument("--spark-max", type=float, default=1e7, help="largest size run with Spark local")
    args = ap.parse_args(argv)
    root = Path(args.out or tempfile.mkdtemp(prefix="salesbench-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in args.sizes:
        n = int(size)
        if size <= args.demo_max:
            secs, mem, peak, lines, _jvm, cpu = measure("demo", "-", str(max(n // 40, 50)))
            rows.append((f"{n:.0e}", "salesbench demo", "-", secs, cpu, mem, peak, f"{lines:,} lines"))
        if n >= 100_000_000:
            t0 = time.perf_counter()
            make_lines_duckdb(root / f"lines_{n}" / "orders", n)
            print(f"generated {n:,} lines in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
            f = root / f"lines_{n}" / "orders"
        else:
            f = root / f"lines_{n}" / "orders.parquet"
            if not f.exists():
                f.parent.mkdir(parents=True, exist_ok=True)
                make_lines(f, n)
        engines = [e for e in args.engines if not (e == "pandas" and size > args.pandas_max)
                   and not (e == "spark" and size > args.spark_max)]
        rows += aggregations(f"{n:.0e}", f.parent, engines=engines)
        print(f"done {n:,}", file=sys.stderr, flush=True)
    for folder in args.demo_folder:
        import pyarrow.parquet as pq

        n = pq.ParquetFile(Path(folder) / "orders.parquet").metadata.num_rows
        rows += aggregations(f"{n:.1e}", Path(folder), suffix=" (demo, joins)", engines=args.engines)
    head = f"{'lines':>7}  {'task':<37} {'engine':<11} {'seconds':>8} {'CPU-s':>7} {'+MB':>7} {'peak MB':>8}  result"
    print(head)
    print("-" * len(head))
    for size, task, engine, secs, cpu, mem, peak, note in rows:
        print(f"{size:>7}  {task:<37} {engine:<11} {secs:8.2f} {cpu:7.1f} {mem:7.0f} {peak:8.0f}  {note}")
    print("+MB: growth of the peak resident set over the process after imports; peak MB: the process's peak RSS;"
          " CPU-s: its user + system CPU seconds (Spark: the Python driver only).")
    import os

    print(f"load average at the end: {os.getloadavg()[0]:.1f} (1 min)")
    from salesbench.core.memory import duckdb_memory_limit

    print(f"DuckDB memory_limit {duckdb_memory_limit()} (SALESBENCH_DUCKDB_MEMORY to change it; docs/scaling.md)")
    from salesbench.core.memory import passes_for

    print("DuckDB RFM passes: " + ", ".join(f"{float(s):.0e} lines {passes_for(int(s))}" for s in args.sizes)
          + " (SALESBENCH_PASSES to change it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
