"""The business's plans next to the forecast: targets (gap, chance to reach) and the planned driver calendar.

:func:`target_gap` compares forecasts with the ``targets`` table and gives the
probability of reaching each target from the predictive distribution
(:func:`prob_reach`); :func:`period_sum` and :func:`next_quarter` sum months
into a quarter; :func:`read_plan` / :func:`plan_frame` read the ``driver_plan``
file (planned promotion share and discount) for ARIMA with drivers.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from salesbench.analyses.forecasting.series import TOTAL, SeriesSet

Z80 = 1.2815515655446004  # standard normal 90% quantile: an 80% central interval is mean ± Z80·σ


def prob_reach(mean, lo80, hi80, target):
    """P(actual ≥ target) under a normal predictive distribution.

    σ = (hi80 − lo80) / (2 · z₀.₉), z₀.₉ = 1.2816; P = 1 − Φ((target − mean) / σ).
    Works element-wise on arrays; a zero-width interval gives 0 or 1.
    """
    from scipy.stats import norm  # here: the runner imports this module for its parameter checks

    mean, lo80, hi80, target = (np.asarray(v, dtype=float) for v in (mean, lo80, hi80, target))
    sigma = (hi80 - lo80) / (2 * Z80)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (target - mean) / sigma
    p = np.where(sigma > 0, norm.sf(z), (mean >= target).astype(float))
    return p if p.ndim else float(p)


def load_targets(ds, metric: str = "revenue") -> pd.DataFrame | None:
    """Company and region targets of ``metric`` (``period, level, key, value``), or None without a targets table."""
    if not ds.has("targets"):
        return None
    t = ds.table("targets")
    t = t.filter((t.metric == metric) & t.level.isin(["company", "region"]))
    df = t.select("period", "level", "key", "value").to_pandas()
    df["period"] = pd.to_datetime(df["period"])
    return df


def target_gap(forecast: pd.DataFrame, targets: pd.DataFrame | None, series: SeriesSet,
               holdout: pd.DataFrame | None = None) -> pd.DataFrame:
    """Forecast vs target for every forecast period that has a target.

    Company targets compare with the total series, region targets with the
    region series (monthly frequency only: targets are monthly). Columns:
    ``unique_id, ds, mean, lo80, hi80, target, gap (= mean − target),
    gap_pct, prob_reach`` (:func:`prob_reach`) and ``actual`` when the
    period is in the holdout (``as_of`` before the data's end).
    """
    cols = ["unique_id", "ds", "mean", "lo80", "hi80", "target", "gap", "gap_pct", "prob_reach", "actual"]
    if targets is None or targets.empty or series.frequency != "M" or series.metric != "revenue":
        return pd.DataFrame(columns=cols)
    t = targets.copy()
    t["unique_id"] = np.where(t["level"] == "company", TOTAL, t["key"])
    t = t[t["unique_id"].isin(set(series.tags.get("region", [])) | {TOTAL})]
    t = t.groupby(["unique_id", "period"], as_index=False)["value"].sum()
    g = forecast.merge(t.rename(columns={"period": "ds", "value": "target"}), on=["unique_id", "ds"])
    g["gap"] = g["mean"] - g["target"]
    g["gap_pct"] = g["gap"] / g["target"]
    g["prob_reach"] = prob_reach(g["mean"], g["lo80"], g["hi80"], g["target"])
    if holdout is not None and not holdout.empty:
        g = g.merge(holdout[["unique_id", "ds", "y"]].rename(columns={"y": "actual"}), on=["unique_id", "ds"], how="left")
    else:
        g["actual"] = np.nan
    return g[cols].sort_values(["unique_id", "ds"]).reset_index(drop=True)


def period_sum(rows: pd.DataFrame, target: float | None = None, rho: float = 0.0) -> dict:
    """Sum several forecast periods (e.g. the months of a quarter) into one predictive distribution.

    mean = Σ means; σ² = Σσᵢ² + 2ρ Σ_{i<j} σᵢσⱼ, with σ per period from its 80%
    interval and ρ the correlation between the periods' forecast errors
    (ρ = 0: independent errors; ρ = 1: σ = Σσᵢ; see :func:`error_correlation`
    for an estimate). Returns ``{mean, lo80, hi80, sigma, rho, target, prob_reach}``.
    """
    sig = (rows["hi80"].to_numpy() - rows["lo80"].to_numpy()) / (2 * Z80)
    mean = float(rows["mean"].sum())
    var = float(np.sum(sig ** 2) + rho * (np.sum(sig) ** 2 - np.sum(sig ** 2)))
    sigma = float(np.sqrt(max(var, 0.0)))
    out = {"mean": mean, "lo80": mean - Z80 * sigma, "hi80": mean + Z80 * sigma, "sigma": sigma, "rho": rho,
           "target": target, "prob_reach": None}
    if target is not None and np.isfinite(target):
        out["prob_reach"] = float(prob_reach(mean, out["lo80"], out["hi80"], target))
    return out






def next_quarter(forecast_total: pd.DataFrame, gap_total: pd.DataFrame | None = None, rho: float = 0.0) -> dict | None:
    """The first calendar quarter fully inside the forecast (monthly), summed with :func:`period_sum`.

    Returns ``{label: "2026-Q1", months: [...], mean, lo80, hi80, target, prob_reach}``
    or ``None`` when the horizon holds no complete quarter.
    """
    f = forecast_total.sort_values("ds")
    q = f["ds"].dt.to_period("Q")
    for label, rows in f.groupby(q, sort=True):
        if len(rows) == 3:
            target = None
            if gap_total is not None and not gap_total.empty:
                tg = gap_total[gap_total["ds"].isin(rows["ds"])]
                if len(tg) == 3:
                    target = float(tg["target"].sum())
            out = period_sum(rows, target, rho)
            out.update(label=f"{label.year}-Q{label.quarter}", months=[d.date().isoformat() for d in rows["ds"]])
            return out
    return None




# =========================================================================== driver plan
def plan_frame(plan: pd.DataFrame | None, series: SeriesSet) -> pd.DataFrame | None:
    """A planned promotion/price calendar (``period, promo_share, discount``; either driver may be missing)
    as ``unique_id, ds, <drivers>`` for every series, or None.

    The plan is the business's: every series gets the same planned promotion
    share and discount; a driver the plan leaves empty (a missing column or
    an empty cell) keeps the last-year assumption (NaN here); a period with no
    planned driver at all is dropped. Periods are truncated to the
    forecast frequency. Include past periods' plans to have the backtest use
    them too (:func:`salesbench.analyses.forecasting.backtest.planned_drivers`).
    """
    drivers = list(series.drivers)
    if plan is None or plan.empty or not drivers:
        return None
    if "period" not in plan.columns or not any(d in plan.columns for d in drivers):
        raise ValueError(f"the driver plan needs a period column and one of {', '.join(drivers)}")
    df = plan.copy()
    per = pd.to_datetime(df["period"])
    df["ds"] = (per.dt.to_period("M").dt.start_time if series.frequency == "M"
                else per - pd.to_timedelta(per.dt.weekday, unit="D"))
    for d in drivers:
        if d not in df.columns:
            df[d] = np.nan
    df = df.groupby("ds", as_index=False)[drivers].mean().dropna(how="all", subset=drivers)
    if df.empty:
        return None
    ids = series.ids
    return pd.DataFrame({"unique_id": np.repeat(ids, len(df)), "ds": np.tile(df["ds"].to_numpy(), len(ids)),
                         **{d: np.tile(df[d].to_numpy(dtype=float), len(ids)) for d in drivers}})


PLAN_DRIVERS = ("promo_share", "discount")


def read_plan(path: str | os.PathLike) -> pd.DataFrame:
    """The driver plan file of the ``driver_plan`` parameter: a CSV or Parquet table with a ``period`` column
    (a date; any day inside the period) and ``promo_share`` and/or ``discount`` (see :func:`plan_frame`).

    Relative paths are taken from the working directory. Raises ``ValueError("<file>: ...")`` when the file
    is missing or unreadable, lacks those columns, or holds a period that is not a date or a driver that is
    not a number (the rows are named).
    """
    file = Path(os.path.expanduser(str(path))).absolute()
    if not file.is_file():
        raise ValueError(f"{file}: no such file")
    try:
        df = pd.read_parquet(file) if file.suffix.lower() in (".parquet", ".pq") else pd.read_csv(file)
    except Exception as exc:  # parser / engine errors of either format
        raise ValueError(f"{file}: cannot be read as {'Parquet' if file.suffix.lower() in ('.parquet', '.pq') else 'CSV'}"
                         f" ({type(exc).__name__}: {exc})") from None
    drivers = [d for d in PLAN_DRIVERS if d in df.columns]
    if "period" not in df.columns or not drivers:
        raise ValueError(f"{file}: needs a 'period' column and at least one of {', '.join(PLAN_DRIVERS)}; "
                         f"columns are {', '.join(map(str, df.columns)) or 'none'}")
    per = pd.to_datetime(df["period"], errors="coerce")
    bad = df.index[per.isna()]
    if len(bad):
        raise ValueError(f"{file}: column 'period' is not a date in row(s) {_rows(bad)}")
    out = pd.DataFrame({"period": per})
    for d in drivers:
        num = pd.to_numeric(df[d], errors="coerce")
        bad = df.index[num.isna() & df[d].notna()]
        if len(bad):
            raise ValueError(f"{file}: column '{d}' is not a number in row(s) {_rows(bad)}")
        out[d] = num.astype(float)
    return out


def _rows(index, limit: int = 5) -> str:
    """Data rows as the user counts them in a CSV (header = line 1, first data row = 2), at most ``limit``."""
    rows = [str(int(i) + 2) for i in index[:limit]]
    return ", ".join(rows) + (f" and {len(index) - limit} more" if len(index) > limit else "")
