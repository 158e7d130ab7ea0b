"""Forecasting: metrics, zero-filling, series building, selection, reconciliation, targets, lifecycle.

Hand-made tables with hand-computed answers; no demo data needed.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import salesbench as sb
from salesbench.analyses.forecasting import backtest as FF
from salesbench.analyses.forecasting import evaluation as FE
from salesbench.analyses.forecasting import model as F
from salesbench.analyses.forecasting import reconcile as FR
from salesbench.analyses.forecasting import report as R
from salesbench.analyses.forecasting import series as FS
from salesbench.analyses.forecasting import targets as FT
from salesbench.analyses.forecasting import metrics as fm
from salesbench.analyses.forecasting.lifecycle import classify_lifecycle


# --------------------------------------------------------------------------- metrics
Y = [10.0, 20.0, 30.0]
YHAT = [12.0, 18.0, 33.0]  # |e| = 2, 2, 3 ; Σ|e| = 7 ; Σ|y| = 60


def test_wape_bias_by_hand():
    assert fm.wape(Y, YHAT) == pytest.approx(7 / 60)
    assert fm.bias(Y, YHAT) == pytest.approx((2 - 2 + 3) / 60)
    assert fm.bias(Y, [8.0, 18.0, 27.0]) < 0  # under-forecast is negative
    assert np.isnan(fm.wape([0, 0], [1, 1]))


def test_mase_by_hand():
    train = [1.0, 2.0, 4.0, 8.0, 16.0]
    # m = 1: |diffs| 1, 2, 4, 8 -> scale 3.75 ; mean|e| = 7/3
    assert fm.seasonal_naive_scale(train, 1) == pytest.approx(3.75)
    assert fm.mase(Y, YHAT, train, 1) == pytest.approx((7 / 3) / 3.75)
    # m = 2: |y_t - y_{t-2}| = 3, 6, 12 -> scale 7
    assert fm.mase(Y, YHAT, train, 2) == pytest.approx((7 / 3) / 7)
    assert np.isnan(fm.mase(Y, YHAT, [5.0, 5.0, 5.0], 1))  # flat training series: undefined, not inf
    assert np.isnan(fm.seasonal_naive_scale([1.0, 2.0], 12))


def test_coverage_and_smape_by_hand():
    assert fm.coverage(Y, [9, 19, 31], [11, 21, 34]) == pytest.approx(2 / 3)  # 30 < 31: outside
    assert fm.coverage(Y, [10, 20, 30], [10, 20, 30]) == 1.0  # bounds are inclusive
    expected = 200 / 3 * (2 / 22 + 2 / 38 + 3 / 63)
    assert fm.smape(Y, YHAT) == pytest.approx(expected)


def test_metrics_agree_with_utilsforecast():
    from utilsforecast import losses

    rng = np.random.default_rng(3)
    train = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2020-01-01", periods=30, freq="MS"),
                          "y": rng.gamma(5, 10, 30)})
    test = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2022-07-01", periods=6, freq="MS"),
                         "y": rng.gamma(5, 10, 6), "m": rng.gamma(5, 10, 6)})
    uf_mase = losses.mase(test, ["m"], 12, train)["m"].iloc[0]
    assert fm.mase(test["y"], test["m"], train["y"], 12) == pytest.approx(uf_mase)
    assert fm.wape(test["y"], test["m"]) == pytest.approx(losses.nd(test, ["m"])["m"].iloc[0])
    assert fm.smape(test["y"], test["m"]) == pytest.approx(200 * losses.smape(test, ["m"])["m"].iloc[0])


# --------------------------------------------------------------------------- zero-fill and periods
def test_zero_fill_makes_missing_periods_explicit():
    periods = pd.date_range("2024-01-01", periods=4, freq="MS")
    frame = pd.DataFrame({
        "region": ["N", "N", "S"],
        "ds": pd.to_datetime(["2024-01-01", "2024-03-01", "2024-02-01"]),
        "y": [5.0, 7.0, 3.0],
    })
    out = zf = FS.zero_fill(frame, ["region"], periods, ["y"])
    assert len(out) == 8  # 2 regions × 4 months
    n = zf[zf["region"] == "N"].set_index("ds")["y"]
    assert n.tolist() == [5.0, 0.0, 7.0, 0.0]
    s = zf[zf["region"] == "S"].set_index("ds")["y"]
    assert s.tolist() == [0.0, 3.0, 0.0, 0.0]
    one = FS.zero_fill(frame.drop(columns="region").groupby("ds", as_index=False).sum(), [], periods, ["y"])
    assert one["y"].tolist() == [5.0, 3.0, 7.0, 0.0]


def test_complete_periods_drop_partial_edges():
    kept, dropped = FS.complete_periods(dt.date(1997, 1, 1), dt.date(1997, 2, 5), "W")
    # 1997-01-01 is a Wednesday: week of 1996-12-30 covers 5/7 days; week of 1997-02-03 covers 3/7
    assert kept[0] == pd.Timestamp("1997-01-06") and kept[-1] == pd.Timestamp("1997-01-27")
    assert dropped == [dt.date(1996, 12, 30), dt.date(1997, 2, 3)]
    kept, dropped = FS.complete_periods(dt.date(2023, 1, 3), dt.date(2023, 3, 20), "M")
    assert list(kept) == [pd.Timestamp("2023-01-01"), pd.Timestamp("2023-02-01")]  # Jan 29/31 covered, Mar 20/31 not
    assert dropped == [dt.date(2023, 3, 1)]


# --------------------------------------------------------------------------- series from a hand-made data set
def _toy_dataset(months: int = 30, seed: int = 0) -> sb.Dataset:
    """Two regions × two product lines × one channel, monthly, with one hole and a promo every 3rd month."""
    rng = np.random.default_rng(seed)
    rows = []
    custs = {"c1": "N", "c2": "S"}
    prods = {"p1": "A", "p2": "B"}
    for i in range(months):
        day = (pd.Timestamp("2022-01-01") + pd.DateOffset(months=i)).date()
        season = 1 + 0.3 * np.sin(2 * np.pi * i / 12)
        for c in custs:
            for p in prods:
                if c == "c2" and p == "p2" and i == 5:
                    continue  # no sale: must become an explicit zero
                promo = i % 3 == 0
                rev = float(round(100 * season * (1 + 0.02 * i) * rng.uniform(0.9, 1.1) * (1.2 if promo else 1), 2))
                rows.append({"order_id": f"o{i}{c}{p}", "order_date": day, "customer_id": c, "product_id": p,
                             "revenue": rev, "channel": "direct", "promo": promo,
                             "discount": 0.2 if promo else 0.1})
    orders = pd.DataFrame(rows)
    customers = pd.DataFrame({"customer_id": list(custs), "region": list(custs.values())})
    products = pd.DataFrame({"product_id": list(prods), "product_line": list(prods.values())})
    return sb.Dataset.from_frames({"orders": orders, "customers": customers, "products": products})


@pytest.fixture(scope="module")
def toy():
    return _toy_dataset()


@pytest.fixture(scope="module")
def toy_series(toy):
    return FS.build_series(toy, dimensions=["region", "product_line"], as_of="2024-06-30")


def test_build_series_levels_sums_and_zero(toy, toy_series):
    s = toy_series
    orders = toy.table("orders").to_pandas()
    assert set(s.tags) == {"total", "region", "product_line", "region/product_line"}
    assert s.n_series == 1 + 2 + 2 + 4 and sorted(s.bottom_ids) == ["N/A", "N/B", "S/A", "S/B"]
    assert s.Y.groupby("unique_id").size().eq(30).all()  # every series has every month
    tot = s.Y[s.Y["unique_id"] == "Total"]
    assert tot["y"].sum() == pytest.approx(orders["revenue"].sum())
    hole = s.Y[(s.Y["unique_id"] == "S/B") & (s.Y["ds"] == "2022-06-01")]
    assert hole["y"].tolist() == [0.0]
    # S matrix: the total adds every bottom series, region N adds N/A and N/B
    assert s.S.loc["Total"].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert s.S.loc["N"].to_dict() == {"N/A": 1.0, "N/B": 1.0, "S/A": 0.0, "S/B": 0.0}
    # drivers: promo months have all revenue on promo; discount 1 - rev/list = 0.2 in promo months
    jan = s.Y[(s.Y["unique_id"] == "Total") & (s.Y["ds"] == "2022-01-01")].iloc[0]
    feb = s.Y[(s.Y["unique_id"] == "Total") & (s.Y["ds"] == "2022-02-01")].iloc[0]
    assert jan["promo_share"] == pytest.approx(1.0) and feb["promo_share"] == pytest.approx(0.0)
    assert jan["discount"] == pytest.approx(0.2) and feb["discount"] == pytest.approx(0.1)
    assert FS.usable_drivers(s) == ["promo_share"]  # discount moves with promo: dropped as collinear


def test_bare_orders_table_gives_total_only():
    orders = pd.DataFrame({"customer_id": ["a", "b", "a"], "order_date": pd.to_datetime(
        ["2024-01-01", "2024-01-31", "2024-03-15"]).date, "revenue": [1.0, 2.0, 4.0]})
    ds = sb.Dataset.from_frames({"orders": orders})
    s = FS.build_series(ds, dimensions=["region", "product_line", "channel"], as_of="2024-03-31")
    assert s.ids == ["Total"] and s.dimensions == [] and s.drivers == []
    assert s.Y["y"].tolist() == [3.0, 0.0, 4.0]  # February had no orders: an explicit zero
    assert len(s.notes) >= 3


def test_repeat_orders_metric_counts_purchase_days_after_the_first():
    orders = pd.DataFrame({
        "customer_id": ["a", "a", "a", "b", "b", "c"],
        "order_id": ["1", "2", "3", "4", "5", "6"],
        "order_date": pd.to_datetime(["2024-01-02", "2024-01-02", "2024-02-10", "2024-01-20", "2024-03-05",
                                      "2024-03-30"]).date,
        "revenue": [1.0] * 6,
    })
    ds = sb.Dataset.from_frames({"orders": orders})
    s = FS.build_series(ds, metric="repeat_orders", dimensions=[], start="2024-01-01", as_of="2024-03-31")
    # a: first day Jan 2 (two orders that day = one purchase day), repeat Feb 10; b: repeat Mar 5; c: none
    assert s.Y["y"].tolist() == [0.0, 1.0, 1.0]
    s2 = FS.build_series(ds, metric="orders", dimensions=[], start="2024-01-01", as_of="2024-03-31")
    assert s2.Y["y"].tolist() == [3.0, 1.0, 2.0]


def test_as_of_moves_later_periods_to_holdout(toy):
    s = FS.build_series(toy, dimensions=["region"], as_of="2023-12-31")
    assert s.Y["ds"].max() == pd.Timestamp("2023-12-01")
    # every order is dated the 1st: period-level monthly rows, so June 2024 (last order 2024-06-01) is a whole
    # month, not a one-day sliver (issue #11: period-level exports lost their last period)
    assert sorted(s.holdout["ds"].unique()) == list(pd.date_range("2024-01-01", "2024-06-01", freq="MS"))


def test_unknown_options_raise(toy):
    with pytest.raises(ValueError, match="frequency"):
        FS.build_series(toy, frequency="Q")
    with pytest.raises(ValueError, match="hierarchy level"):
        FS.build_series(toy, dimensions=["planet"])
    with pytest.raises(ValueError, match="unknown model"):
        FE.backtest(FS.build_series(toy, dimensions=[]), models=["prophet"])


# --------------------------------------------------------------------------- selection
def test_select_models_lowest_mase_ties_and_undefined():
    scores = pd.DataFrame([
        ("a", "seasonal_naive", 1.0), ("a", "ets", 0.5), ("a", "arima", 0.5),    # tie -> ets (earlier)
        ("b", "seasonal_naive", 0.8), ("b", "ets", 0.9), ("b", "arima", 1.1),    # nothing beats the baseline
        ("c", "seasonal_naive", np.nan), ("c", "ets", np.nan),                   # flat series
    ], columns=["unique_id", "model", "mase"])
    scores["wape"] = 0.1
    assert FF.select_models(scores) == {"a": "ets", "b": "seasonal_naive", "c": "seasonal_naive"}


# --------------------------------------------------------------------------- backtest + reconciliation on the toy
@pytest.fixture(scope="module")
def toy_fit(toy):
    return F.SalesForecast(dimensions=["region", "product_line"], models=["seasonal_naive", "holt_winters"],
                           deep_models=["seasonal_naive", "holt_winters"], n_origins=3, horizon=3,
                           reconciliation="mint_shrink", as_of="2024-06-30").fit(toy)


def test_backtest_shapes_and_scores(toy_fit):
    bt = toy_fit.bt_
    assert set(bt.forecasts["model"]) == {"seasonal_naive", "holt_winters"}
    assert len(bt.forecasts) == 9 * 2 * 3 * 3  # series × models × origins × horizon
    assert bt.forecasts["h"].max() == 3 and bt.forecasts["cutoff"].nunique() == 3
    # recompute one score by hand from the stored forecasts
    g = bt.forecasts[(bt.forecasts["unique_id"] == "Total") & (bt.forecasts["model"] == "seasonal_naive")]
    assert bt.scores.set_index(["unique_id", "model"]).loc[("Total", "seasonal_naive"), "wape"] == pytest.approx(
        np.abs(g["y"] - g["mean"]).sum() / g["y"].abs().sum())
    ok = bt.forecasts.dropna(subset=["lo80"])
    assert (ok["lo95"] <= ok["lo80"] + 1e-9).all() and (ok["hi80"] <= ok["hi95"] + 1e-9).all()


def test_reconciled_children_sum_to_parents(toy_fit):
    f = toy_fit
    assert f.coherence_ < 1e-6
    w = f.forecast_.pivot(index="ds", columns="unique_id", values="mean")
    assert np.allclose(w["N"] + w["S"], w["Total"])
    assert np.allclose(w["A"] + w["B"], w["Total"])
    assert np.allclose(w["N/A"] + w["N/B"], w["N"])
    assert (f.forecast_["lo80"] <= f.forecast_["mean"]).all() and (f.forecast_["mean"] <= f.forecast_["hi80"]).all()


def test_bottom_up_equals_sum_of_base_bottom_forecasts(toy_fit):
    f = toy_fit
    bu = FR.reconcile(f.base_, f.fitted_, f.series_, "bottom_up")
    base = f.base_.pivot(index="ds", columns="unique_id", values="mean")
    rec = bu.pivot(index="ds", columns="unique_id", values="mean")
    assert np.allclose(rec["Total"], base[["N/A", "N/B", "S/A", "S/B"]].sum(axis=1))
    assert np.allclose(rec["N/A"], base["N/A"])  # bottom series are unchanged
    assert FR.coherence_error(bu, f.series_) < 1e-9
    with pytest.raises(ValueError, match="reconciliation"):
        FR.reconcile(f.base_, f.fitted_, f.series_, "top_down_magic")


# --------------------------------------------------------------------------- targets
def test_prob_reach_and_period_sum_by_hand():
    from scipy.stats import norm

    lo, hi = 100 - FT.Z80 * 10, 100 + FT.Z80 * 10  # σ = 10
    assert FT.prob_reach(100, lo, hi, 110) == pytest.approx(1 - norm.cdf(1.0))
    assert FT.prob_reach(100, lo, hi, 100) == pytest.approx(0.5)
    assert FT.prob_reach(100, 100, 100, 99) == 1.0 and FT.prob_reach(100, 100, 100, 101) == 0.0
    rows = pd.DataFrame({"mean": [50.0, 60.0], "lo80": [50 - FT.Z80 * 3, 60 - FT.Z80 * 4],
                         "hi80": [50 + FT.Z80 * 3, 60 + FT.Z80 * 4]})
    s = FT.period_sum(rows, target=115.0)
    assert s["mean"] == pytest.approx(110) and s["sigma"] == pytest.approx(5.0)  # √(3² + 4²)
    assert s["prob_reach"] == pytest.approx(1 - norm.cdf(1.0))


def test_target_gap_maps_company_and_region_targets(toy_fit):
    f = toy_fit
    periods = sorted(f.forecast_["ds"].unique())
    targets = pd.DataFrame({
        "period": [periods[0], periods[0], periods[1], periods[0]],
        "level": ["company", "region", "region", "team"],
        "key": ["company", "N", "N", "team-1"],
        "value": [1.0, 1e9, 2.0, 5.0],
    })
    g = FT.target_gap(f.forecast_, targets, f.series_)
    assert set(zip(g["unique_id"], g["ds"])) == {("Total", periods[0]), ("N", periods[0]), ("N", periods[1])}
    tot = g[g["unique_id"] == "Total"].iloc[0]
    assert tot["gap"] == pytest.approx(tot["mean"] - 1.0) and tot["prob_reach"] > 0.99
    assert g[(g["unique_id"] == "N") & (g["ds"] == periods[0])]["prob_reach"].iloc[0] < 0.01


# --------------------------------------------------------------------------- lifecycle
def test_classify_lifecycle_by_hand():
    months = pd.date_range("2023-01-01", "2024-12-01", freq="MS")
    rows = []
    for i, m in enumerate(months):
        rows.append(("Flat", m, 100.0 * (1.05 if i >= 12 else 1.0)))   # +5%: with a +5% business -> maturity
        rows.append(("Up", m, 100.0 * (1.40 if i >= 12 else 1.0)))     # +40%
        rows.append(("Down", m, 100.0 * (0.60 if i >= 12 else 1.0)))   # −40%
        if i >= 18:
            rows.append(("New", m, 50.0))                               # 6 months old
    monthly = pd.DataFrame(rows, columns=["product_line", "month", "revenue"])
    out = classify_lifecycle(monthly).set_index("product_line")
    assert out.loc["Up", "growth"] == pytest.approx(0.40)
    company = (12 * (105 + 140 + 60) + 6 * 50) / (12 * 300) - 1  # all lines: last 12 vs previous 12 months = +10%
    assert company == pytest.approx(0.10)
    assert out.loc["Flat", "relative_growth"] == pytest.approx(1.05 / 1.10 - 1)  # −4.5%
    assert out["stage"].to_dict() == {"Up": "growth", "Flat": "maturity", "Down": "decline", "New": "introduction"}
    own = classify_lifecycle(monthly, relative=False).set_index("product_line")
    assert own.loc["Flat", "stage"] == "maturity" and own.loc["Up", "stage"] == "growth"
    with pytest.raises(ValueError):
        classify_lifecycle(monthly, growth=-0.2, decline=0.1)


def test_nested_check_selects_on_early_origins_only(toy_fit):
    f = toy_fit
    nested = FE.nested_check(f.bt_, f.series_, last_origins=1)
    assert set(nested["level"]) == {"total", "region", "product_line", "region/product_line"}
    fc = f.bt_.forecasts
    early = fc[fc["cutoff"] < fc["cutoff"].max()]
    late = fc[fc["cutoff"] == fc["cutoff"].max()]
    pick = FF.select_models(FF.score_backtest(early), f.bt_.models)["Total"]
    g = late[(late["unique_id"] == "Total") & (late["model"] == pick)]
    expected = fm.mase(g["y"], g["mean"], scale=g["scale"].iloc[0])
    assert nested.set_index("level").loc["total", "mase_nested_choice"] == pytest.approx(expected)
    assert FE.nested_check(f.bt_, f.series_, last_origins=5).empty  # not enough origins to split


def test_horizon_sum_coverage_counts_by_hand(toy_fit):
    f = toy_fit
    cov = FE.horizon_sum_coverage(f.bt_, f.series_).set_index("level")
    assert cov["n"].sum() == 9 * 3  # series × origins (every window has the full horizon)
    fc = f.bt_.forecasts
    tot = fc[(fc["unique_id"] == "Total") & (fc["model"] == f.bt_.chosen["Total"])]
    inside = []
    for _, g in tot.groupby("cutoff"):
        s = FT.period_sum(g)
        inside.append(s["lo80"] <= g["y"].sum() <= s["hi80"])
    assert cov.loc["total", "coverage_80"] == pytest.approx(np.mean(inside))


def test_period_sum_with_error_correlation():
    rows = pd.DataFrame({"mean": [50.0, 60.0], "lo80": [50 - FT.Z80 * 3, 60 - FT.Z80 * 4],
                         "hi80": [50 + FT.Z80 * 3, 60 + FT.Z80 * 4]})
    assert FT.period_sum(rows, rho=1.0)["sigma"] == pytest.approx(7.0)  # fully persistent errors: σ's add
    assert FT.period_sum(rows, rho=0.5)["sigma"] == pytest.approx(np.sqrt(9 + 16 + 2 * 0.5 * 12))


def test_error_correlation_by_hand():
    # two series × one origin × horizon 2, σ = 1 everywhere (80% interval mean ± Z80)
    def rows(uid, errors):
        return pd.DataFrame({"unique_id": uid, "cutoff": pd.Timestamp("2024-01-01"), "model": "ets",
                             "y": errors, "mean": 0.0, "lo80": -FT.Z80, "hi80": FT.Z80})
    fc = pd.concat([rows("a", [1.0, 1.0]), rows("b", [2.0, -2.0])], ignore_index=True)
    bt = FF.Backtest(fc, pd.DataFrame(), {"a": "ets", "b": "ets"}, ["ets"], [], 2, 1, 0.0)
    # pairs: 1·1 = 1 and 2·(−2) = −4 -> mean −1.5; mean z² = (1 + 1 + 4 + 4) / 4 = 2.5 -> clipped at 0
    assert FE.error_correlation(bt) == 0.0
    fc2 = pd.concat([rows("a", [1.0, 1.0]), rows("b", [2.0, 1.0])], ignore_index=True)
    bt2 = FF.Backtest(fc2, pd.DataFrame(), {"a": "ets", "b": "ets"}, ["ets"], [], 2, 1, 0.0)
    assert FE.error_correlation(bt2) == pytest.approx(((1 + 2) / 2) / ((1 + 1 + 4 + 1) / 4))


def test_headline_and_narrative_carry_the_numbers(toy_fit):
    from salesbench import viz

    f = toy_fit
    q = f.quarter_
    assert q["label"] == "2024-Q3" and q["months"] == ["2024-07-01", "2024-08-01", "2024-09-01"]
    total = f.forecast_[f.forecast_["unique_id"] == "Total"]
    assert q["mean"] == pytest.approx(total["mean"].sum())
    text = " ".join(R.sentences(f))
    assert f"2024-Q3 revenue is forecast at {viz.fmt_money(q['mean'])}" in text
    assert "no targets table" in text
    cards = R.headline_cards(f)
    assert cards[0]["raw"] == pytest.approx(q["mean"]) and cards[1]["raw"] == pytest.approx(f.accuracy_total())
    # the claimed accuracy is the held-out one: model chosen on the earlier origins, scored on the later
    assert f.accuracy_total() == pytest.approx(1 - f.honest_total()["wape"])


def test_reconciled_backtest_equals_origin_by_origin_reconciliation(toy_fit):
    """All origins are reconciled in one call (issue #13: one covariance estimate instead of one per origin); each
    origin's result is that of reconciling it alone, rows in the same order."""
    f = toy_fit
    bt = f.bt_
    fc = bt.forecasts[bt.forecasts["model"] == bt.forecasts["unique_id"].map(bt.chosen)]
    got = FR.reconcile_backtest(fc, f.fitted_, f.series_, "mint_shrink")
    cols = ["mean", "lo80", "hi80", "lo95", "hi95"]
    parts = []
    for _, g in fc.groupby("cutoff"):
        rec = FR.reconcile(g[["unique_id", "ds", "model", *cols]], f.fitted_, f.series_, "mint_shrink")
        parts.append(g[["unique_id", "ds", "cutoff"]].merge(rec[["unique_id", "ds", *cols]], on=["unique_id", "ds"]))
    want = pd.concat(parts, ignore_index=True)
    assert fc["cutoff"].nunique() == 3 and len(got) == len(want) == len(fc)
    assert got[["unique_id", "ds", "cutoff"]].equals(want[["unique_id", "ds", "cutoff"]])
    np.testing.assert_allclose(got[cols].to_numpy(), want[cols].to_numpy(), rtol=1e-9)
    assert not np.allclose(got["mean"], fc.sort_values("cutoff", kind="stable")["mean"])  # reconciliation moved them
