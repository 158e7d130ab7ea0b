"""Forecasting against the demo company's ground truth (default demo, 5,000 customers) and on CDNOW."""
from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

import salesbench as sb
from salesbench.analyses.forecasting import evaluation as FE
from salesbench.analyses.forecasting import model as F
from salesbench.analyses.forecasting import series as FS
from salesbench.analyses.forecasting.lifecycle import product_lifecycle


@pytest.fixture(scope="module")
def demo_ds(default_demo):
    return sb.open_data(default_demo)


@pytest.fixture(scope="module")
def region_backtest(demo_ds):
    """Default models, origins and horizon on the total and the four regions."""
    series = FS.build_series(demo_ds, dimensions=["region"])
    return series, FE.backtest(series)


def test_series_total_matches_orders(default_demo, region_backtest):
    series, _ = region_backtest
    orders = pd.read_parquet(default_demo / "orders.parquet", columns=["order_date", "revenue"])
    month = pd.to_datetime(orders["order_date"]).dt.to_period("M").dt.start_time
    expected = orders.groupby(month)["revenue"].sum()
    tot = series.Y[series.Y["unique_id"] == FS.TOTAL].set_index("ds")["y"]
    assert len(tot) == 36 and np.allclose(tot.to_numpy(), expected.loc[tot.index].to_numpy())
    regions = series.Y[series.Y["unique_id"].isin(series.tags["region"])].groupby("ds")["y"].sum()
    assert np.allclose(regions.to_numpy(), tot.to_numpy())


def test_chosen_models_beat_seasonal_naive(region_backtest):
    series, bt = region_backtest
    mase = bt.scores.set_index(["unique_id", "model"])["mase"]
    total_choice = bt.chosen[FS.TOTAL]
    assert total_choice != "seasonal_naive"
    assert mase[(FS.TOTAL, total_choice)] < mase[(FS.TOTAL, "seasonal_naive")]
    regions = list(series.tags["region"])
    beats = [mase[(r, bt.chosen[r])] < mase[(r, "seasonal_naive")] for r in regions]
    assert sum(beats) > len(regions) / 2, dict(zip(regions, beats))


def test_backtest_interval_coverage_is_calibrated(region_backtest):
    series, bt = region_backtest
    fc = bt.forecasts
    chosen = fc[fc["model"] == fc["unique_id"].map(bt.chosen)]
    cov80 = ((chosen["y"] >= chosen["lo80"]) & (chosen["y"] <= chosen["hi80"])).mean()
    cov95 = ((chosen["y"] >= chosen["lo95"]) & (chosen["y"] <= chosen["hi95"])).mean()
    assert len(chosen) == 5 * bt.n_origins * bt.horizon
    assert 0.70 <= cov80 <= 0.90, cov80
    assert cov95 >= cov80


def test_lifecycle_recovers_the_generated_trends(demo_ds):
    truth = demo_ds.truth["product_lines"]
    stages, _ = product_lifecycle(demo_ds)
    got = dict(zip(stages["product_line"], stages["stage"]))
    expected = {"growth": {"growth", "introduction"}, "decline": {"decline"}, "stable": {"maturity"}}
    for line, info in truth.items():
        assert got[line] in expected[info["trend"]], (line, got[line], info)


def test_cdnow_weekly_repeat_purchases_end_to_end(cdnow_master):
    spec = sb.params.repo_root() / "params" / "sources" / "cdnow_master.yaml"
    ds = sb.open_data(spec)
    f = F.SalesForecast(frequency="W", metric="repeat_orders", dimensions=[], season_length=1, horizon=4,
                        n_origins=8, models=["seasonal_naive", "ets", "arima"]).fit(ds)
    # independent count from the raw file: purchase days after each customer's first, per Monday week
    raw = pd.read_csv(cdnow_master, sep=r"\s+", skiprows=1, header=None, names=["id", "date", "cds", "dollars"])
    raw["date"] = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d")
    days = raw[["id", "date"]].drop_duplicates()
    first = days.groupby("id")["date"].transform("min")
    rep = days[days["date"] > first]
    week = rep["date"] - pd.to_timedelta(rep["date"].dt.weekday, unit="D")
    expected = week.value_counts()
    y = f.series_.Y.set_index("ds")["y"]
    assert len(y) == 77  # 1997-01-06 .. 1998-06-22: partial first and last weeks left out
    assert np.allclose(y.to_numpy(), expected.reindex(y.index).fillna(0).to_numpy())
    bt = f.backtest_total()
    assert bt[f.chosen_total]["mase"] < bt["seasonal_naive"]["mase"]
    assert f.accuracy_total() > 0.8
    fc = f.forecast_total()
    assert [r["period"] for r in fc] == ["1998-06-29", "1998-07-06", "1998-07-13", "1998-07-20"]
    recent = y.tail(8).mean()
    for r in fc:
        assert r["lo95"] <= r["lo80"] < r["mean"] < r["hi80"] <= r["hi95"]
        assert 0.5 * recent < r["mean"] < 1.5 * recent
