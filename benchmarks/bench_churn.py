"""Benchmark: BG/NBD fit time by fit method and customer count, against the ``lifetimes`` fitter.

Data: pure BG/NBD calibration sets simulated with ``salesbench.datasets.demo.simulate_bgnbd`` at the
CDNOW maximum-likelihood parameters (r 0.243, α 4.414, a 0.793, b 2.426), customer ages T
uniform in 27–39 weeks on whole days and recency floored to whole days (as order dates give them),
at 10^4, 10^5 and 10^6 customers. By default the purchase model is fitted on the distinct
(frequency, recency, T) triples weighted by their counts (``rows`` in the table);
``--no-compress`` fits one row per customer, ``--engine pymc`` fits pymc-marketing's models instead of the numpy
densities (``auto``, the default, as the report: numpy densities with nutpie's NUTS / scipy's MAP where they cover the
fit), ``--sampler nutpie`` uses nutpie's NUTS on the PyMC model,
``--model`` picks bg_nbd / mbg_nbd / pareto_nbd. ``ess_per_second`` = minimum bulk ESS / wall seconds.
``--predict`` then predicts every customer (P(alive), expected purchases, CLV over 24 months; chunks of
``chunk_size`` customers × at most 200 thinned draws; for BG/NBD and MBG/NBD the expectations given
active, including the 24 monthly CLV flows, are computed once per distinct (frequency, T) pair of the whole
base and shared by the chunks) and adds ``predict_seconds`` and ``peak_rss_mb``
(``ru_maxrss`` of the process and of its largest NUTS worker): issue #13 asks for peak memory independent
of draws × customers. Issue #13's sizes: 2 chains × 1,000 draws at 10^5 (≤ 60 s) and 10^6 (≤ 10 min)::

    nice .venv/bin/python benchmarks/bench_churn.py --sizes 100000 1000000 --methods map mcmc \\
        --draws 1000 --tune 1000 --max-mcmc 1000000 --predict --out /tmp/churn_1e6.jsonl

For each size and method it fits :class:`salesbench.analyses.churn.clv.ChurnModel` (``bg_nbd``,
pymc-marketing) and records the wall time and the CPU time (this process and its NUTS worker
processes) of the fit alone, and the estimates. On a shared machine the CPU time is the
fairer number. The first fit
of each method in a process also pays PyTensor compilation; a warm-up fit on 2,000 customers
runs first so the table shows warm times. ``lifetimes`` (0.11.3, the speed reference) does not
install beside numpy 2, so it runs in a separate interpreter given by ``--lifetimes-python``
(a throwaway venv with ``lifetimes numpy<2 pandas<2.2 scipy<1.13``); the same data is passed
as a CSV file, so both libraries fit identical numbers.

Usage::

    .venv/bin/python benchmarks/bench_churn.py --sizes 10000 100000 1000000 \\
        --methods map advi mcmc --max-mcmc 100000 --lifetimes-python /tmp/lt_venv/bin/python

``--cdnow sample|master`` instead runs the model choice on CDNOW (calibration to 1997-09-30, weeks,
39-week holdout): MAP fits of BG/NBD, MBG/NBD and Pareto/NBD with wall and CPU seconds, their
holdout scores (predicted total with the 94% posterior-predictive interval, log-likelihood,
calibration error, ranking AUCs of each signal), then the full NUTS posterior of the chosen model
(``--draws``/``--tune``, 2 chains) with its fit time and predictive interval::

    .venv/bin/python benchmarks/bench_churn.py --cdnow master --draws 500 --tune 500

MCMC above ``--max-mcmc`` customers is skipped. Uncompressed, NUTS cost grows linearly with customers
(about 66 s at 23,570 customers on 2 cores, the better part of an hour at 10^6); compressed, with
the number of distinct triples, which levels off (see docs/churn.md).
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

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from salesbench.analyses.churn import clv as churn  # noqa: E402
from salesbench.datasets.demo import simulate_bgnbd  # noqa: E402

TRUE = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}

LIFETIMES_SCRIPT = """
import sys, time, json
import pandas as pd
from lifetimes import BetaGeoFitter
df = pd.read_csv(sys.argv[1])
t, c = time.perf_counter(), time.process_time()
f = BetaGeoFitter(penalizer_coef=0.0).fit(df["frequency"], df["recency"], df["T"])
dt, dc = time.perf_counter() - t, time.process_time() - c
p = f.params_
print(json.dumps({"seconds": dt, "cpu_seconds": dc, "r": p["r"], "alpha": p["alpha"], "a": p["a"], "b": p["b"]}))
"""


def simulate(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` BG/NBD customers; T and recency on whole days (as rfm_table gives them from order dates)."""
    rng = np.random.default_rng(seed + 1)
    T = rng.integers(27 * 7, 39 * 7 + 1, n) / 7.0
    sim = simulate_bgnbd(n, T=T, seed=seed, **TRUE)
    sim = sim[["customer_id", "frequency", "recency", "T"]].copy()
    sim["recency"] = np.minimum(np.floor(sim["recency"] * 7.0) / 7.0, sim["T"])
    sim["customer_id"] = sim["customer_id"].astype(str)
    sim["monetary_value"] = 0.0
    return sim


def _cpu() -> float:
    """CPU seconds (user + system) of this process and its finished children (NUTS chain workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _peak_rss_mb() -> float:
    """Peak resident memory (MB) of this process and of its largest finished child (NUTS chain workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return max(me.ru_maxrss, kids.ru_maxrss) / 1024


def fit_time(rfm: pd.DataFrame, method: str, draws: int, tune: int, compress: bool = True, sampler: str = "pymc",
             model: str = "bg_nbd", predict: bool = False, engine: str = "auto") -> dict:
    m = churn.ChurnModel(model=model, fit_method=method, priors="flat" if method == "map" else "default",
                         draws=draws, tune=tune, chains=2, spend=False, vi_iterations=20000, max_draws=200,
                         compress=compress, sampler=sampler, engine=engine)
    t, c = time.perf_counter(), _cpu()
    m.fit(rfm)
    dt, dc = time.perf_counter() - t, _cpu() - c
    est = m.params_.set_index("param")["mean"].to_dict()
    conv = m.convergence()
    out = {"model": model, "engine": m.engine_, "compress": compress, "sampler": m.sampler_, "rows": m.n_rows_,
           "seconds": dt,
           "cpu_seconds": dc, **est, "r_hat_max": conv["r_hat_max"], "ess_bulk_min": conv["ess_bulk_min"],
           "ess_per_second": (conv["ess_bulk_min"] / dt) if conv["ess_bulk_min"] else None,
           "peak_rss_mb_fit": _peak_rss_mb()}
    if predict:  # every customer, chunked: memory bounded by max_draws x chunk_size, not draws x customers
        t, c = time.perf_counter(), _cpu()
        pred = m.predict(rfm, horizon=52, clv_months=24)
        out |= {"predict_seconds": time.perf_counter() - t, "predict_cpu_seconds": _cpu() - c,
                "predicted_customers": len(pred), "peak_rss_mb": _peak_rss_mb()}
    return out


def fit_lifetimes(rfm: pd.DataFrame, python: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rfm.csv"
        rfm[["frequency", "recency", "T"]].to_csv(path, index=False)
        proc = subprocess.run([python, "-c", LIFETIMES_SCRIPT, str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cdnow_comparison(which: str, draws: int, tune: int, mcmc: bool = True) -> list[dict]:
    """Model choice on CDNOW ``which`` with timings (see the module doc); returns the rows printed."""
    from salesbench import open_data
    from salesbench.analyses.churn import choice as churn_choice
    from salesbench.report.params import repo_root

    ds = open_data(repo_root() / "params" / "sources" / f"cdnow_{which}.yaml")
    orders = ds.table("orders")
    rfm = churn.rfm_table(orders, "1997-09-30", "W")
    hold, days = churn.holdout_purchases(orders, "1997-09-30", rfm["customer_id"])
    churn.ChurnModel(model="bg_nbd", fit_method="map", spend=False).fit(rfm.head(500))  # compile outside timings
    rows = []
    for name in churn_choice.CANDIDATES:
        m = churn.ChurnModel(model=name, fit_method="map", spend=False)
        t, c = time.perf_counter(), _cpu()
        m.fit(rfm)
        fit_s, fit_c = time.perf_counter() - t, _cpu() - c
        t, c = time.perf_counter(), _cpu()
        h = m.holdout_check(rfm, hold, days / 7)
        rows.append({"data": which, "model": name, "method": "map", "fit_seconds": fit_s, "fit_cpu_seconds": fit_c,
                     "check_seconds": time.perf_counter() - t, "check_cpu_seconds": _cpu() - c,
                     **{k: h[k] for k in ("predicted_total", "predicted_lo", "predicted_hi", "actual_total", "error_pct",
                                          "covered", "log_lik", "calibration_error")},
                     **{f"auc_{k}": v for k, v in h["auc"].items()}})
        print(json.dumps(rows[-1]), flush=True)
    table, _ = churn_choice.compare_models(rfm, hold, days / 7)
    chosen = str(table.loc[table["chosen"], "model"].iloc[0])
    if mcmc:
        m = churn.ChurnModel(model=chosen, fit_method="mcmc", draws=draws, tune=tune, chains=2, spend=False)
        t, c = time.perf_counter(), _cpu()
        m.fit(rfm)
        fit_s, fit_c = time.perf_counter() - t, _cpu() - c
        h = m.holdout_check(rfm, hold, days / 7)
        rows.append({"data": which, "model": chosen, "method": f"mcmc 2x({tune}+{draws})", "fit_seconds": fit_s,
                     "fit_cpu_seconds": fit_c, "r_hat_max": m.convergence()["r_hat_max"],
                     **{k: h[k] for k in ("predicted_total", "predicted_lo", "predicted_hi", "expected_lo",
                                          "expected_hi", "actual_total", "error_pct", "covered", "log_lik")}})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--methods", nargs="+", default=["map", "advi", "mcmc"])
    ap.add_argument("--max-mcmc", type=int, default=100_000, help="skip MCMC above this many customers")
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--tune", type=int, default=500)
    ap.add_argument("--no-compress", action="store_true",
                    help="fit one likelihood row per customer instead of per distinct (frequency, recency, T)")
    ap.add_argument("--sampler", choices=churn.SAMPLERS, default="pymc", help="NUTS implementation for mcmc")
    ap.add_argument("--model", choices=list(churn.MODEL_PARAMS), default="bg_nbd")
    ap.add_argument("--engine", choices=churn.ENGINES, default="auto",
                    help="numpy densities + nutpie/scipy (auto where covered) or pymc-marketing")
    ap.add_argument("--predict", action="store_true",
                    help="also predict every customer (chunked; predict seconds and peak RSS in the table)")
    ap.add_argument("--lifetimes-python", default=None, help="interpreter with lifetimes installed")
    ap.add_argument("--out", default=None, help="write the table as JSON lines here")
    ap.add_argument("--cdnow", choices=["sample", "master"], default=None,
                    help="instead: model choice on CDNOW with timings (MAP comparison, then NUTS for the chosen model)")
    ap.add_argument("--no-mcmc", action="store_true", help="with --cdnow: skip the NUTS fit of the chosen model")
    args = ap.parse_args(argv)

    if args.cdnow:
        rows = cdnow_comparison(args.cdnow, args.draws, args.tune, mcmc=not args.no_mcmc)
        print(pd.DataFrame(rows).to_string(index=False))
        if args.out:
            Path(args.out).write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        return 0

    rows = []
    warm = simulate(2000, seed=99)
    opts = dict(compress=not args.no_compress, sampler=args.sampler, model=args.model, predict=args.predict,
                engine=args.engine)
    for method in args.methods:
        fit_time(warm, method, 50, 50, **opts)  # compile once, outside the timings (nutpie compiles every model)
    for n in args.sizes:
        rfm = simulate(n)
        for method in args.methods:
            if method == "mcmc" and n > args.max_mcmc:
                rows.append({"customers": n, "method": method, "seconds": None, "note": f"skipped (> {args.max_mcmc})"})
                continue
            r = fit_time(rfm, method, args.draws, args.tune, **opts)
            rows.append({"customers": n, "method": method, **r})
            print(json.dumps(rows[-1]), flush=True)
        if args.lifetimes_python:
            r = fit_lifetimes(rfm, args.lifetimes_python)
            rows.append({"customers": n, "method": "lifetimes BetaGeoFitter (MLE)", **r})
            print(json.dumps(rows[-1]), flush=True)
    table = pd.DataFrame(rows)
    print()
    try:
        print(table.to_markdown(index=False, floatfmt=".3f"))
    except ImportError:  # tabulate not installed
        print(table.to_string(index=False))
    if args.out:
        Path(args.out).write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
