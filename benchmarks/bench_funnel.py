"""Benchmark: the funnel computation at 10^6 opportunities (time and peak memory).

    python benchmarks/bench_funnel.py                 # 1,000,000 opportunities
    python benchmarks/bench_funnel.py --n 200000 --keep /tmp/pipeline

A vectorised synthetic pipeline (same shape as the demo company's: 7 stages,
4 channels with per-channel advance probabilities, lognormal stage durations,
5% skipped needs_confirmed rows, 3% proposal re-entries, deals still open at
the end) is written as Parquet. The analysis then runs in a fresh child
process, so the reported peak memory (``ru_maxrss`` of that child) is the
analysis alone: ``load_deals`` (the stage_history scan and per-opportunity
pivot in DuckDB, one row per opportunity back to pandas) and every step of
``Funnel(pooled_by=[]).fit``, plus the hierarchical Beta-Binomial fit of rep win rates (its posterior by
quadrature since issue #13; wall and CPU seconds).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

STAGES = ["lead", "contact", "needs_confirmed", "proposal", "negotiation", "contract", "won"]
Q = {"direct": [0.80, 0.70, 0.65, 0.60, 0.75, 0.92], "distributor": [0.75, 0.65, 0.60, 0.55, 0.70, 0.90],
     "online": [0.60, 0.55, 0.55, 0.50, 0.65, 0.88], "store": [0.55, 0.50, 0.45, 0.40, 0.55, 0.80]}
MEDIAN_DAYS = [3.0, 1.2, 10.0, 18.0, 14.0, 7.0]
START, END = pd.Timestamp("2023-01-01"), pd.Timestamp("2026-01-01")


def generate(folder: Path, n: int, seed: int = 0) -> dict[str, int]:
    """Write opportunities, stage_history, reps, customers and targets Parquet files for ``n`` deals."""
    rng = np.random.default_rng(seed)
    channels = np.array(list(Q))
    ch = rng.choice(len(channels), n, p=[0.4, 0.3, 0.2, 0.1])
    q = np.array([Q[c] for c in channels])[ch]
    adv = rng.random((n, 6)) < q
    k_final = np.where(adv.all(axis=1), 6, np.argmin(adv, axis=1))
    span_ns = (END - START).value
    created = START.value + (rng.random(n) * span_ns).astype(np.int64)
    dur_ns = (rng.lognormal(np.log(MEDIAN_DAYS), 0.6, (n, 6)) * 86_400e9).astype(np.int64)
    entry = created[:, None] + np.concatenate([np.zeros((n, 1), np.int64), np.cumsum(dur_ns, axis=1)], axis=1)
    k = np.arange(7)[None, :]
    skip = rng.random(n) < 0.05
    keep = (k <= k_final[:, None]) & (entry < END.value) & ~((k == 2) & skip[:, None])
    rows_i, rows_k = np.nonzero(keep)
    closing = entry[np.arange(n), np.minimum(k_final + 1, 6)]
    lost = (k_final < 6) & (closing < END.value)
    won = (k_final == 6) & (entry[:, 6] < END.value)
    lost_i = np.flatnonzero(lost)
    re_i = np.flatnonzero((k_final >= 5) & (rng.random(n) < 0.03) & (entry[:, 5] < END.value))
    ids = np.char.add("D", np.char.zfill(np.arange(n).astype(str), 8))
    sh = pd.DataFrame({
        "opportunity_id": np.concatenate([ids[rows_i], ids[lost_i], ids[re_i], ids[re_i]]),
        "stage": np.concatenate([np.array(STAGES, dtype=object)[rows_k], np.full(len(lost_i), "lost", dtype=object),
                                 np.full(len(re_i), "proposal", dtype=object),
                                 np.full(len(re_i), "negotiation", dtype=object)]),
        "entered_at": pd.to_datetime(np.concatenate([entry[rows_i, rows_k], closing[lost_i],
                                                     entry[re_i, 4] + 86_400_000_000_000,
                                                     entry[re_i, 4] + 2 * 86_400_000_000_000])),
    })
    reps = pd.DataFrame({"rep_id": [f"R{i:03d}" for i in range(200)], "team": [f"T{i // 10:02d}" for i in range(200)],
                         "region": [["North", "South", "East", "West"][i // 50] for i in range(200)]})
    rep = rng.integers(0, 200, n)
    status = np.where(won, "won", np.where(lost, "lost", "open"))
    closed_at = np.where(won, entry[:, 6], np.where(lost, closing, np.iinfo(np.int64).min))
    opps = pd.DataFrame({
        "opportunity_id": ids, "customer_id": np.char.add("C", rng.integers(0, n // 2 + 1, n).astype(str)),
        "rep_id": reps["rep_id"].to_numpy()[rep], "created_at": pd.to_datetime(created),
        "amount": np.round(rng.lognormal(np.log(8000), 0.8, n), -1), "stage": np.where(status == "open", "lead", status),
        "status": status, "closed_at": pd.to_datetime(np.where(won | lost, closed_at, np.datetime64("NaT").astype(np.int64)).astype("datetime64[ns]")),
        "lost_reason": np.where(lost, "price", None), "channel": channels[ch],
    })
    customers = pd.DataFrame({"customer_id": np.char.add("C", np.arange(n // 2 + 1).astype(str)),
                              "tier": rng.choice(["A", "B", "C"], n // 2 + 1)})
    months = pd.date_range("2023-01-01", "2026-12-01", freq="MS").date
    targets = pd.concat([
        pd.DataFrame({"period": months, "level": "company", "key": "company", "metric": "revenue", "value": n * 150.0}),
        *[pd.DataFrame({"period": months, "level": "team", "key": t, "metric": "revenue", "value": n * 7.5})
          for t in reps["team"].unique()],
    ])
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in {"opportunities": opps, "stage_history": sh, "reps": reps, "customers": customers,
                     "targets": targets}.items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    return {"opportunities": len(opps), "stage_history": len(sh)}


def analyze(folder: Path) -> dict[str, float]:
    """Time each step of the funnel analysis on ``folder`` (runs in the child process)."""
    import salesbench as sb
    from salesbench.analyses.funnel import bayes, conversion, deals as funnel_deals, durations
    from salesbench.analyses.funnel.model import Funnel

    out: dict[str, float] = {}
    t0 = time.perf_counter()
    ds = sb.open_data(str(folder))
    deals = funnel_deals.load_deals(ds)
    out["load_deals_s"] = time.perf_counter() - t0
    t = time.perf_counter()
    closed = deals.mature(90)
    conv = conversion.stage_conversion(closed)
    out["stage_conversion_s"] = time.perf_counter() - t
    t = time.perf_counter()
    conversion.stage_conversion(closed, "rep_id")
    out["stage_conversion_by_rep_s"] = time.perf_counter() - t
    t = time.perf_counter()
    dur = durations.stage_durations(deals)
    out["stage_durations_s"] = time.perf_counter() - t
    t = time.perf_counter()
    durations.sla_summary(durations.sla_breaches(deals))
    out["sla_s"] = time.perf_counter() - t
    t = time.perf_counter()
    durations.stuck_deals(deals, dur)
    out["stuck_s"] = time.perf_counter() - t
    del deals, closed, conv, dur
    t = time.perf_counter()
    rep = Funnel(pooled_by=[]).fit(ds)
    out["analyze_total_s"] = time.perf_counter() - t
    t, c = time.perf_counter(), time.process_time()
    bayes.pooled_win_rates(rep.win_by_.get("rep_id"), "rep_id", draws=500, tune=500)
    out["pooled_rep_win_rates_s"] = time.perf_counter() - t
    out["pooled_rep_win_rates_cpu_s"] = time.process_time() - c
    out["n_opportunities"] = rep.deals_.n
    out["win_rate"] = float(rep.win_["win_rate"].iloc[0])
    out["end_to_end_s"] = time.perf_counter() - t0
    out["end_to_end_cpu_s"] = time.process_time()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="number of opportunities")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, default=None, help="folder for the generated data (kept)")
    ap.add_argument("--analyze", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.analyze:  # child process
        print(json.dumps(analyze(args.analyze)))
        return 0
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench_funnel_"))
    t = time.perf_counter()
    rows = generate(folder, args.n, args.seed)
    gen_s = time.perf_counter() - t
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, __file__, "--analyze", str(folder)], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return proc.returncode
    timings = json.loads(proc.stdout.strip().splitlines()[-1])
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
    report = {"rows": rows, "generate_s": round(gen_s, 1), **{k: round(v, 3) for k, v in timings.items()},
              "peak_rss_mb": round(peak_mb, 1), "cpus": os.cpu_count()}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
