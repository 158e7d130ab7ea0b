"""forecasting_frame: combination, conformal interval factors, robust choice, honest scores, drivers, fallbacks."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import salesbench as sb
from salesbench.analyses.forecasting import evaluation as FE
from salesbench.analyses.forecasting import metrics as fm
from salesbench.analyses.forecasting import model as F
from salesbench.analyses.forecasting import reconcile as FR
from salesbench.analyses.forecasting import report as R
from salesbench.analyses.forecasting import series as FS
from salesbench.analyses.forecasting import targets as FT
from salesbench.analyses.forecasting import backtest as FF
from salesbench.report.results import ReportSkipped


def _fc(rows):
    """Backtest-like long frame from (uid, origin, h, model, y, mean, half80, half95) tuples."""
    out = []
    for uid, origin, h, model, y, mean, w80, w95 in rows:
        out.append({"unique_id": uid, "ds": pd.Timestamp("2024-01-01") + pd.DateOffset(months=origin + h),
                    "cutoff": pd.Timestamp("2024-01-01") + pd.DateOffset(months=origin), "origin": origin, "h": h,
                    "y": y, "model": model, "mean": mean, "lo80": mean - w80, "hi80": mean + w80,
                    "lo95": mean - w95, "hi95": mean + w95, "scale": 1.0})
    return pd.DataFrame(out)


def test_combination_is_the_median_of_members_per_period():
    fc = _fc([("a", 0, 1, "ets", 10, 9, 1, 2), ("a", 0, 1, "theta", 10, 12, 2, 3), ("a", 0, 1, "arima", 10, 10, 3, 6),
              ("a", 0, 1, "seasonal_naive", 10, 0, 1, 1), ("b", 0, 1, "ets", 5, 5, 1, 1)])
    out = FF.add_combination(fc)
    comb = out[out["model"] == "combination"]
    assert comb["unique_id"].tolist() == ["a"]  # b has one member only: no combination
    r = comb.iloc[0]
    assert r["mean"] == 10 and r["lo80"] == np.median([8, 10, 7]) and r["hi95"] == np.median([11, 15, 16])


def test_interval_factors_are_conformal_quantiles_and_calibrate_stretches():
    # errors of 0..9 against a half-width of 5: ratios 0, .2, ..., 1.8
    rows = [("a", i, 1, "ets", 100 + i, 100, 5, 10) for i in range(10)]
    f = FF.interval_factors(_fc(rows))["ets"]
    # conformal 80% quantile: the ceil(11 * 0.8) = 9th smallest ratio = 8 / 5
    assert f[80] == pytest.approx(8 / 5) and f[95] == pytest.approx(9 / 10)
    cal = FF.calibrate(_fc(rows), {"ets": f})
    assert cal["hi80"].iloc[0] == pytest.approx(100 + 5 * 8 / 5) and cal["lo95"].iloc[0] == pytest.approx(100 - 9)
    assert ((cal["y"] >= cal["lo80"]) & (cal["y"] <= cal["hi80"])).mean() == pytest.approx(0.9)


def test_selection_prefers_the_combination_within_the_margin():
    scores = pd.DataFrame([
        ("a", "seasonal_naive", 0.97), ("a", "ets", 0.96), ("a", "combination", 1.0),  # within 5%: combination
        ("b", "theta", 0.9), ("b", "combination", 1.0),                               # 10% better: theta
        ("c", "seasonal_naive", 1.2), ("c", "combination", np.nan), ("c", "ets", 0.9),  # no combination score
    ], columns=["unique_id", "model", "mase"]).assign(wape=0.1)
    assert FF.select_models(scores) == {"a": "combination", "b": "theta", "c": "ets"}


def test_honest_scores_choose_on_early_origins_and_score_late_ones():
    rows = []
    for o in range(4):
        # ets is perfect on the early origins, bad on the late ones; theta the reverse
        e_ets, e_theta = (0, 4) if o < 2 else (6, 1)
        rows += [("a", o, 1, "ets", 10, 10 + e_ets, 1, 2), ("a", o, 1, "theta", 10, 10 + e_theta, 1, 2)]
    fc = _fc(rows)
    honest = FF.honest_scores(fc, ["ets", "theta"], n_eval=2)
    r = honest.iloc[0]
    assert r["model"] == "ets"  # chosen on origins 0-1
    assert r["wape"] == pytest.approx(0.6) and r["mase"] == pytest.approx(6.0)  # scored on origins 2-3
    # the same-origin choice would have claimed theta's in-sample 0.25
    assert FF.select_models(FF.score_backtest(fc), ["ets", "theta"])["a"] == "theta"
    assert FF.honest_scores(fc, ["ets", "theta"], n_eval=0).empty


def test_planned_drivers_use_plan_then_last_year():
    ds = pd.date_range("2023-01-01", periods=14, freq="MS")
    train = pd.DataFrame({"unique_id": "a", "ds": ds, "promo_share": np.arange(14) / 100})
    fut = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2024-03-01", periods=3, freq="MS")})
    plan = pd.DataFrame({"unique_id": ["a"], "ds": [pd.Timestamp("2024-04-01")], "promo_share": [0.5]})
    out = FF.planned_drivers(train, fut, 12, ["promo_share"], plan)
    # March 2024 = March 2023 (index 2); April planned; May 2024 = May 2023 (index 4)
    assert out["promo_share"].tolist() == pytest.approx([0.02, 0.5, 0.04])


def test_a_plan_of_one_driver_keeps_last_year_for_the_other():
    """A plan file with only promo_share on data with promo and discount: the plan is used, not dropped."""
    ds = pd.date_range("2023-01-01", periods=14, freq="MS")
    train = pd.DataFrame({"unique_id": "a", "ds": ds, "promo_share": np.arange(14) / 100,
                          "discount": np.arange(14) / 1000})
    series = FS.SeriesSet(Y=train, holdout=train.iloc[:0], S=pd.DataFrame({"a": [1]}, index=["a"]), tags={},
                         meta=pd.DataFrame(),
                         frequency="M", freq="MS", season_length=12, metric="revenue", dimensions=[],
                         drivers=["promo_share", "discount"], as_of=None, dropped_periods=[], notes=[])
    plan = FT.plan_frame(pd.DataFrame({"period": ["2024-04-20"], "promo_share": [0.5]}), series)
    assert plan is not None and plan["ds"].tolist() == [pd.Timestamp("2024-04-01")]
    fut = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2024-03-01", periods=3, freq="MS")})
    out = FF.planned_drivers(train, fut, 12, ["promo_share", "discount"], plan)
    assert out["promo_share"].tolist() == pytest.approx([0.02, 0.5, 0.04])  # April planned
    assert out["discount"].tolist() == pytest.approx([0.002, 0.003, 0.004])  # not planned: last year


def _driver_dataset():
    rng = np.random.default_rng(3)
    rows = []
    for i in range(40):
        day = (pd.Timestamp("2021-01-01") + pd.DateOffset(months=i)).date()
        promo = rng.uniform() < 0.4  # promotions do not repeat year on year
        for k in range(3):
            rows.append({"order_id": f"o{i}-{k}", "order_date": day, "customer_id": f"c{k}",
                         "revenue": float(100 * (1.6 if promo else 1.0) * rng.uniform(0.95, 1.05)), "promo": promo})
    return sb.Dataset.from_frames({"orders": pd.DataFrame(rows)})


def test_arimax_backtest_gets_the_drivers_the_forecast_would_get():
    """At every origin, ARIMA + drivers sees last year's promotions for the window — not the actual ones."""
    series = FS.build_series(_driver_dataset(), dimensions=[])
    bt = FE.backtest(series, models=["seasonal_naive", "arimax"], deep_models=[], horizon=3, n_origins=2)
    got = bt.raw[bt.raw["model"] == "arimax"]
    for cut, g in got.groupby("cutoff"):
        train = FS.SeriesSet(**{**series.__dict__, "Y": series.Y[series.Y["ds"] <= cut].reset_index(drop=True)})
        base, _ = FR.forecast_base(train, {FS.TOTAL: "arimax"}, 3)
        assert np.allclose(g.sort_values("ds")["mean"].to_numpy(), base.sort_values("ds")["mean"].to_numpy(),
                           rtol=1e-6), cut
        # and the actual future promotions would have given a different forecast
        assert not np.allclose(FF.planned_drivers(train.Y, g[["unique_id", "ds"]], 12, ["promo_share"])
                               ["promo_share"].to_numpy(),
                               series.Y.set_index("ds").loc[g["ds"], "promo_share"].to_numpy())


def test_one_series_hierarchy_forecasts_without_reconciliation():
    """A bare orders export (no region / product line / channel): one series, nothing to reconcile."""
    rng = np.random.default_rng(1)
    days = pd.date_range("2022-01-01", "2024-12-31", freq="D")
    orders = pd.DataFrame({"customer_id": "a", "order_date": days.date,
                           "revenue": 50 + 10 * np.sin(2 * np.pi * days.dayofyear / 365) + rng.normal(0, 2, len(days))})
    ds = sb.Dataset.from_frames({"orders": orders})
    f = F.SalesForecast(n_origins=4, reconciliation="mint_shrink").fit(ds)
    assert f.series_.ids == [FS.TOTAL] and f.reconciliation_used_ == "none"
    assert len(f.forecast_) == 3 and f.forecast_["mean"].notna().all()
    assert "nothing to reconcile" in R.coherence_sentence(f)
    assert any("nothing to reconcile" in n for n in R.method_notes(f))
    assert R.headline_cards(f) and R.sentences(f)


def test_mint_failure_falls_back_to_ols_and_says_so(monkeypatch):
    from test_forecasting_model import _toy_dataset

    real = FR.reconcile

    def failing(base, fitted, series, method="mint_shrink"):
        if method == "mint_shrink":
            raise Exception("Insample residuals close to 0, zero_residual_prc=0.99. Check `Y_df`")
        return real(base, fitted, series, method)

    monkeypatch.setattr(FR, "reconcile", failing)
    f = F.SalesForecast(dimensions=["region"], models=["seasonal_naive", "holt_winters"], n_origins=2,
                        as_of="2024-06-30").fit(_toy_dataset())
    assert f.reconciliation_used_ == "ols" and f.coherence_ < 1e-6
    assert "Insample residuals close to 0" in f.reconciliation_note_ and "used MinTrace OLS" in f.reconciliation_note_
    assert "fallback" in f.reconciliation_label()


def test_period_level_exports_keep_their_first_and_last_periods():
    months = pd.date_range("2023-01-01", "2024-06-01", freq="MS")
    monthly = pd.DataFrame({"customer_id": "a", "order_date": months.date, "revenue": np.arange(len(months)) + 10.0})
    s = FS.build_series(sb.Dataset.from_frames({"orders": monthly}), dimensions=[], as_of="2024-06-01")
    # one row per month dated the 1st: January 2023 and June 2024 are whole months, not 1-day slivers
    assert s.Y["ds"].min() == pd.Timestamp("2023-01-01") and s.Y["ds"].max() == pd.Timestamp("2024-06-01")
    assert s.dropped_periods == [] and len(s.Y) == 18
    fridays = pd.date_range("2024-01-05", periods=30, freq="W-FRI")
    weekly = pd.DataFrame({"customer_id": "a", "order_date": fridays.date, "revenue": 5.0})
    w = FS.build_series(sb.Dataset.from_frames({"orders": weekly}), frequency="W", dimensions=[])
    assert len(w.Y) == 30 and w.dropped_periods == []
    # transactions (every day) still lose a partial edge period
    days = pd.date_range("2024-01-10", "2024-04-30", freq="D")
    daily = pd.DataFrame({"customer_id": "a", "order_date": days.date, "revenue": 1.0})
    t = FS.build_series(sb.Dataset.from_frames({"orders": daily}), dimensions=[])
    assert t.dropped_periods == [pd.Timestamp("2024-01-01").date()] and len(t.Y) == 3
    assert FS.data_granularity(days) is None and FS.data_granularity(months) == "M" and FS.data_granularity(fridays) == "W"


def test_driver_plan_feeds_the_forecast_and_the_backtest_windows_it_covers():
    ds = _driver_dataset()
    plan = pd.DataFrame({"period": pd.to_datetime(["2024-05-15", "2024-06-01"]).date, "promo_share": [1.0, 0.0]})
    series = FS.build_series(ds, dimensions=[])
    series.plan = FT.plan_frame(plan, series)
    assert series.Y["ds"].max() == pd.Timestamp("2024-04-01")
    fut = FR.future_drivers(series, 3, ["promo_share"])
    last_july = series.Y.set_index("ds").loc["2023-07-01", "promo_share"]
    assert fut["promo_share"].tolist() == pytest.approx([1.0, 0.0, last_july])  # plan, plan, last year
    f = F.SalesForecast(dimensions=[], models=["seasonal_naive", "arimax"], n_origins=2, driver_plan=plan).fit(ds)
    assert any("Planned drivers for 2 period(s)" in n for n in f.series_.notes)
    assert any("planned calendar" in n for n in R.method_notes(f))


def _bare(dates, revenue=100.0):
    return sb.Dataset.from_frames({"orders": pd.DataFrame(
        {"customer_id": "a", "order_date": pd.to_datetime(dates).date, "revenue": revenue})})


def test_tiny_data_is_skipped_with_a_reason_never_a_crash(tmp_path):
    one_order = _bare(["2024-03-14"])
    two_months = _bare(pd.date_range("2024-01-01", "2024-02-29", freq="D"))
    P = {"frequency": "M", "metric": "revenue", "dimensions": ["region", "product_line", "channel"], "as_of": None,
         "start": None, "horizon": 3, "n_origins": 6, "models": list(FE.DEFAULT_MODELS),
         "deep_models": list(FE.DEFAULT_DEEP_MODELS), "deep_depth": 2, "selection_metric": "mase",
         "reconciliation": "mint_shrink", "season_length": None, "min_period_coverage": 0.9, "refit": True,
         "n_jobs": 1}
    for ds, words in [(one_order, "no complete month"), (two_months, "only 2 complete period(s)")]:
        with pytest.raises(FS.InsufficientHistory, match=words.replace("(", r"\(").replace(")", r"\)")):
            F.SalesForecast().fit(ds)
        res = sb.results.Results("forecasting", tmp_path)
        with pytest.raises(ReportSkipped):  # as in the notebook: recorded as skipped, then the notebook stops
            with res.skipping():
                F.SalesForecast.from_params(P).fit(ds)
        assert res.status == "skipped" and words.split()[0] in res.reason


def test_short_history_uses_fewer_origins_and_no_season():
    rng = np.random.default_rng(0)
    days = pd.date_range("2024-01-01", "2024-10-31", freq="D")
    f = F.SalesForecast(n_origins=6).fit(_bare(days, 100 + rng.normal(0, 5, len(days))))
    assert f.series_.season_length == 1 and f.bt_.n_origins == 4  # 10 months − horizon 3 − 3
    assert any("non-seasonal" in n for n in f.series_.notes) and any("4 origin(s)" in n for n in f.series_.notes)
    assert len(f.forecast_) == 3 and R.headline_cards(f) and R.method_notes(f) and R.sentences(f)


def test_weekly_seasons_reach_ets_and_arima_through_mstl_when_history_allows():
    long = FF.make_models(["ets", "arima", "theta", "seasonal_naive"], 52, n_train=120)
    assert [type(m).__name__ for m in long] == ["MSTL", "MSTL", "Theta", "SeasonalNaive"]
    assert long[0].season_length in (52, [52]) and long[2].season_length == 52
    short = FF.make_models(["ets", "arima"], 52, n_train=90)  # under two years: no yearly season for ETS/ARIMA
    assert [type(m).__name__ for m in short] == ["AutoETS", "AutoARIMA"] and short[0].season_length == 1
    assert [type(m).__name__ for m in FF.make_models(["ets"], 12, n_train=120)] == ["AutoETS"]


def test_forecast_frame_on_a_plain_frame_with_a_short_series():
    rng = np.random.default_rng(5)
    parts = []
    for uid, n in [("a", 60), ("b", 60), ("c", 10)]:
        ds = pd.date_range("2020-01-01", periods=n, freq="MS")
        y = 100 + 10 * np.sin(2 * np.pi * np.arange(n) / 12) + rng.normal(0, 2, n)
        parts.append(pd.DataFrame({"unique_id": uid, "ds": ds, "y": y}))
    res = FF.forecast_frame(pd.concat(parts), h=6, freq="MS", season_length=12)
    assert res.not_backtested == ["c"] and res.chosen["c"] == "combination"
    assert len(res.forecast) == 18 and res.forecast[["mean", "lo80", "hi80"]].notna().all().all()
    assert (res.forecast["lo95"] <= res.forecast["lo80"]).all() and (res.forecast["hi80"] <= res.forecast["hi95"]).all()
    assert set(res.claimed()["unique_id"]) == {"a", "b"}
    with pytest.raises(ValueError, match="missing y"):
        FF.forecast_frame(pd.concat(parts).drop(columns="y"), h=6)


def test_claimed_accuracy_is_that_of_the_reconciled_forecasts():
    from test_forecasting_model import _toy_dataset

    f = F.SalesForecast(dimensions=["region"], models=["seasonal_naive", "holt_winters", "theta", "combination"],
                        n_origins=4, as_of="2024-06-30", reconciliation="ols").fit(_toy_dataset())
    rec = f.honest_reconciled_.set_index("unique_id")
    assert f.accuracy_total() == pytest.approx(1 - rec.loc["Total", "wape"])
    assert "after reconciliation" in f.accuracy_basis()
    # by hand: reconcile the held-out origins' early-chosen forecasts and score the total
    hf = FF.honest_forecasts(f.bt_.raw, f.bt_.models, f.bt_.n_eval)
    ys, ms = [], []
    for _, g in hf.groupby("cutoff"):
        r = FR.reconcile(g[["unique_id", "ds", "model", "mean", "lo80", "hi80", "lo95", "hi95"]], f.fitted_, f.series_,
                        "ols")
        t = r[r["unique_id"] == "Total"].merge(g[["unique_id", "ds", "y"]], on=["unique_id", "ds"])
        ys += t["y"].tolist()
        ms += t["mean"].tolist()
    assert rec.loc["Total", "wape"] == pytest.approx(np.abs(np.subtract(ys, ms)).sum() / np.abs(ys).sum())


def test_reconciled_intervals_widen_when_reconciled_backtest_errors_exceed_them():
    """Issue #11: the shown (reconciled) 80% interval of the total held 33% of held-out months; the intervals
    shown must be calibrated from the backtest errors of what is shown. Known answer: Total = A + B, reconciled
    backtest errors of the total are exactly twice its interval half-widths (factor 2), those of A and B half of
    theirs (factor 0.5)."""
    from types import SimpleNamespace

    series = SimpleNamespace(meta=pd.DataFrame({"unique_id": ["Total", "A", "B"],
                                                "level": ["total", "bottom", "bottom"]}))
    rows = []
    for uid, ratio in (("Total", 2.0), ("A", 0.5), ("B", 0.5)):
        for o in range(3):
            for h in range(4):
                sign = 1 if (o + h) % 2 else -1
                rows.append({"unique_id": uid, "origin": o, "h": h, "mean": 100.0, "lo80": 90.0, "hi80": 110.0,
                             "lo95": 80.0, "hi95": 120.0, "y": 100.0 + sign * ratio * 10.0,
                             "level": series.meta.set_index("unique_id").loc[uid, "level"]})
    rec_fc = pd.DataFrame(rows)
    rec_fc.loc[rec_fc["unique_id"] == "Total", "y"] = 100 + np.sign(rec_fc["y"] - 100) * 20.0  # 2× the 80% half-width
    raw = FR.reconciled_factors(rec_fc, widen_only=False)
    assert raw["total"][80] == pytest.approx(2.0) and raw["total"][95] == pytest.approx(1.0)  # 20 / 20 at 95%
    assert raw["bottom"][80] == pytest.approx(0.5)
    k = FR.reconciled_factors(rec_fc)  # default: never narrower than reconciliation gives
    assert k["total"][80] == pytest.approx(2.0) and k["bottom"][80] == 1.0
    fc = pd.DataFrame({"unique_id": ["Total", "A"], "ds": pd.to_datetime(["2025-01-01"] * 2), "mean": [100.0, 50.0],
                       "lo80": [90.0, 45.0], "hi80": [110.0, 55.0], "lo95": [75.0, 40.0], "hi95": [125.0, 60.0]})
    out = FR.calibrate_reconciled(fc, k, series).set_index("unique_id")
    assert out.loc["Total", ["lo80", "hi80"]].tolist() == pytest.approx([80.0, 120.0])  # widened ×2
    assert out.loc["A", ["lo80", "hi80"]].tolist() == pytest.approx([45.0, 55.0])  # kept
    narrowed = FR.calibrate_reconciled(fc, raw, series).set_index("unique_id")
    assert narrowed.loc["A", ["lo80", "hi80"]].tolist() == pytest.approx([47.5, 52.5])  # ×0.5 without widen_only
    assert out["mean"].tolist() == [100.0, 50.0] and "model" not in out.columns
    # P(reach) uses the widened interval: σ doubles
    assert FT.prob_reach(100.0, out.loc["Total", "lo80"], out.loc["Total", "hi80"], 110.0) == pytest.approx(
        1 - __import__("scipy.stats").stats.norm.cdf(10 / (20 / FT.Z80)))


def test_shown_intervals_are_calibrated_on_the_reconciled_backtest():
    from test_forecasting_model import _toy_dataset

    f = F.SalesForecast(dimensions=["region"], models=["seasonal_naive", "holt_winters", "theta", "combination"],
                        n_origins=4, as_of="2024-06-30", reconciliation="ols").fit(_toy_dataset())
    # by hand: reconcile every origin's chosen, calibrated forecasts; the total's conformal 80% factor
    fc = f.bt_.forecasts[f.bt_.forecasts["model"] == f.bt_.forecasts["unique_id"].map(f.bt_.chosen)]
    r = []
    for _, g in fc.groupby("cutoff"):
        rec = FR.reconcile(g[["unique_id", "ds", "model", "mean", "lo80", "hi80", "lo95", "hi95"]], f.fitted_, f.series_,
                          "ols")
        t = rec[rec["unique_id"] == "Total"].merge(g[["unique_id", "ds", "y"]], on=["unique_id", "ds"])
        half = np.where(t["y"] >= t["mean"], t["hi80"] - t["mean"], t["mean"] - t["lo80"])
        r += list(np.abs(t["y"] - t["mean"]) / half)
    r = np.sort(r)
    k = max(1.0, r[min(len(r), int(np.ceil((len(r) + 1) * 0.8))) - 1])  # widen only
    assert f.reconciled_factors_["total"][80] == pytest.approx(k)
    shown = f.forecast_.set_index(["unique_id", "ds"]).loc["Total"]
    before = f.forecast_uncalibrated_.set_index(["unique_id", "ds"]).loc["Total"]
    assert (shown["hi80"] - shown["mean"]).to_numpy() == pytest.approx(k * (before["hi80"] - before["mean"]).to_numpy())
    assert (shown["mean"] == before["mean"]).all() and FR.coherence_error(f.forecast_, f.series_) < 1e-9
    cov = f.honest_coverage()
    assert set(cov) == {"base", "reconciled", "shown"} and 0 <= cov["shown"]["total_80"] <= 1
    assert any("stretched per level by the conformal factor" in n for n in R.method_notes(f))
    # an origin that cannot be reconciled (a series missing) → no factors; one series → nothing to reconcile
    assert FR.reconcile_backtest(fc[fc["unique_id"] != "Total"], f.fitted_, f.series_, "ols") is None
    assert FR.reconcile_backtest(fc, f.fitted_, f.series_, "none") is None
    f.reconciled_factors_ = {}
    assert any("not calibrated on their own backtest errors" in n for n in R.method_notes(f))


def test_duplicate_dimension_keys_never_multiply_revenue():
    """Issue #11: a products table listing a product_id twice made the forecast series a multiple of revenue.

    Exact copies are dropped by ``Dataset.table``; conflicting rows stop with ``DuplicateKeys`` (exit 2 in a
    run); the join itself still keeps one row per key (``_one_per_key``) as a second line of defence.
    """
    import ibis

    from salesbench.core.dataset import DuplicateKeys
    from salesbench.analyses.forecasting.lifecycle import monthly_line_revenue

    months = pd.date_range("2023-01-01", "2024-12-01", freq="MS")
    orders = pd.DataFrame({"order_id": [f"o{i}" for i in range(len(months))], "customer_id": "c1",
                           "order_date": months.date, "product_id": "p1", "revenue": 100.0})
    copies = pd.DataFrame({"product_id": ["p1", "p1", "p1"], "product_line": ["A", "A", "A"]})
    customers = pd.DataFrame({"customer_id": ["c1", "c1"], "region": ["North", "North"]})
    ds = sb.Dataset.from_frames({"orders": orders, "products": copies, "customers": customers})
    s = FS.build_series(ds, dimensions=["region", "product_line"])
    tot = s.Y[s.Y["unique_id"] == FS.TOTAL]
    assert tot["y"].sum() == pytest.approx(100.0 * len(months))
    assert set(s.tags["product_line"]) == {"A"} and set(s.tags["region"]) == {"North"}
    line = monthly_line_revenue(ds)
    # (the lifecycle leaves out the trailing partial month: the last order is on 2024-12-01)
    assert line["revenue"].sum() == pytest.approx(100.0 * (len(months) - 1)) and set(line["product_line"]) == {"A"}

    conflicting = pd.DataFrame({"product_id": ["p1", "p1"], "product_line": ["B", "A"]})
    ds = sb.Dataset.from_frames({"orders": orders, "products": conflicting, "customers": customers})
    with pytest.raises(DuplicateKeys, match=r"table products .*product_id"):
        FS.build_series(ds, dimensions=["region", "product_line"])

    notes: list[str] = []
    one = FS._one_per_key(ibis.memtable(conflicting), "product_id", "product_line", "products", notes).to_pandas()
    assert one.to_dict("records") == [{"product_id": "p1", "product_line": "A"}]
    assert any("product_id value(s) appear more than once in the products table" in n for n in notes)



def test_driver_plan_file_from_params_gives_the_same_forecast_as_a_plan_frame(tmp_path, monkeypatch):
    """`driver_plan` (notebook/scheduler users): a CSV or Parquet file read by from_params, relative to the cwd."""
    from salesbench.report import params as SP

    ds = _driver_dataset()
    plan = pd.DataFrame({"period": pd.to_datetime(["2024-05-15", "2024-06-01"]).date, "promo_share": [0.37, 0.61]})
    (tmp_path / "plans").mkdir()
    plan.to_csv(tmp_path / "plans" / "2026.csv", index=False)
    plan.assign(period=pd.to_datetime(plan["period"])).to_parquet(tmp_path / "plans" / "2026.parquet")
    monkeypatch.chdir(tmp_path)
    opts = ["dimensions=[]", "models=[seasonal_naive, arimax]", "n_origins=2"]
    ref = F.SalesForecast(dimensions=[], models=["seasonal_naive", "arimax"], n_origins=2, driver_plan=plan).fit(ds)
    for name in ("plans/2026.csv", "plans/2026.parquet"):
        P = SP.resolve("forecasting", overrides=[*opts, f"driver_plan={name}"])[0]
        f = F.SalesForecast.from_params(P).fit(ds)
        pd.testing.assert_frame_equal(f.forecast_, ref.forecast_)
        assert "Planned drivers for 2 period(s)." in f.series_.notes
        assert any("planned calendar" in n for n in R.method_notes(f))
        # the drivers the forecast (and the backtest) get are the planned ones
        fut = FR.future_drivers(f.series_, 3, ["promo_share"])["promo_share"].tolist()
        assert fut[:2] == pytest.approx([0.37, 0.61])
    no_plan = F.SalesForecast.from_params(SP.resolve("forecasting", overrides=opts)[0]).fit(ds)
    assert no_plan.series_.plan is None and not any("Planned drivers" in n for n in no_plan.series_.notes)
    assert FR.future_drivers(no_plan.series_, 3, ["promo_share"])["promo_share"].tolist()[:2] != pytest.approx([0.37, 0.61])


def test_read_plan_names_the_file_and_the_rows_it_cannot_use(tmp_path):
    bad = tmp_path / "plan.csv"
    bad.write_text("month,promo_share\n2026-01-01,0.2\n")
    with pytest.raises(ValueError, match=rf"^{bad}: needs a 'period' column .* columns are month, promo_share"):
        FT.read_plan(bad)
    bad.write_text("period,discount\n2026-01-01,0.1\nsoon,0.2\n2026-03-01,lots\n")
    with pytest.raises(ValueError, match=r"column 'period' is not a date in row\(s\) 3$"):
        FT.read_plan(bad)
    bad.write_text("period,discount\n2026-01-01,0.1\n2026-03-01,lots\n")
    with pytest.raises(ValueError, match=r"column 'discount' is not a number in row\(s\) 3$"):
        FT.read_plan(bad)
    with pytest.raises(ValueError, match=rf"^{tmp_path / 'nope.csv'}: no such file"):
        FT.read_plan(tmp_path / "nope.csv")


def test_score_backtest_equals_the_groupby_loop_exactly():
    """The sliced scoring (issue #13: it took most of the scoring time) gives bit-identical numbers and row order."""
    rng = np.random.default_rng(5)
    rows = []
    for uid in [f"s{i}" for i in range(40)]:
        for model in ["theta", "ets", "combination"]:
            for k, cut in enumerate(pd.date_range("2024-01-31", periods=4, freq="ME")):
                for h in range(3):
                    y = float(rng.gamma(2.0, 50.0))
                    mean = y + float(rng.normal(0, 20))
                    rows.append({"unique_id": uid, "model": model, "cutoff": cut, "ds": cut + pd.offsets.MonthEnd(h + 1),
                                 "y": np.nan if rng.random() < 0.03 else y, "mean": mean,
                                 "lo80": mean - 15, "hi80": mean + 15, "lo95": mean - 30, "hi95": mean + 30,
                                 "scale": 0.0 if uid == "s3" else 40.0 + k})
    fc = pd.DataFrame(rows).sample(frac=1.0, random_state=1).reset_index(drop=True)  # groups interleaved
    got = FF.score_backtest(fc)
    want = FF._score_backtest_groupby(fc)
    assert len(got) == 120 and got["mase"].notna().sum() == 117  # s3: zero scale -> nan MASE for its 3 models
    pd.testing.assert_frame_equal(got, want, check_exact=True)



def test_score_backtest_of_uneven_groups_equals_the_groupby_loop_exactly():
    """Scoring by blocks of equal-length slices (issue #13) keeps numpy's per-slice summation bit for bit: groups
    of 1 to 40 rows (pairwise summation starts at 8), origins of unequal length, NaN actuals and bounds, zero
    scales and all-zero actuals; rows in first-appearance order."""
    rng = np.random.default_rng(11)
    rows = []
    for i in range(60):
        for model in ["theta", "combination"]:
            n_orig = int(rng.integers(1, 9))
            for k, cut in enumerate(pd.date_range("2023-01-31", periods=n_orig, freq="ME")):
                for h in range(int(rng.integers(1, 6))):
                    y = 0.0 if i == 7 else float(rng.gamma(2.0, 1e5)) * 10.0 ** rng.integers(-3, 3)
                    mean = y * float(rng.lognormal(0, 0.3))
                    rows.append({"unique_id": f"s{i}", "model": model, "cutoff": cut, "ds": cut + pd.offsets.MonthEnd(h + 1),
                                 "y": np.nan if rng.random() < 0.01 else y, "mean": mean,
                                 "lo80": np.nan if rng.random() < 0.05 else mean * 0.8, "hi80": mean * 1.2,
                                 "lo95": mean * 0.6, "hi95": mean * 1.4, "scale": 0.0 if i == 3 else float(rng.gamma(2.0, 1e4))})
    fc = pd.DataFrame(rows).sample(frac=1.0, random_state=2).reset_index(drop=True)
    got = FF.score_backtest(fc)
    want = FF._score_backtest_groupby(fc)
    assert got["n"].max() >= 24 and got["n"].min() <= 3 and got["wape"].notna().sum() >= 80
    assert got.loc[got["unique_id"] == "s7", "wape"].isna().all()  # all-zero actuals: no WAPE
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def _select_models_loop(scores, models=FF.MODELS, metric="mase", margin=FF.MARGIN):
    """The per-series pandas loop select_models was before issue #13 (the reference for the vectorised one)."""
    order = {m: i for i, m in enumerate(models)}
    baseline = "seasonal_naive" if "seasonal_naive" in order else models[0]
    chosen = {}
    for uid, g in scores.groupby("unique_id", sort=False):
        g = g[g["model"].isin(order)].copy()
        g["rank"] = g["model"].map(order)
        g = g[np.isfinite(g[metric])]
        if g.empty:
            chosen[uid] = baseline
            continue
        comb = g[g["model"] == "combination"]
        single = g[g["model"] != "combination"].sort_values([metric, "rank"])
        if comb.empty or single.empty:
            chosen[uid] = str(g.sort_values([metric, "rank"]).iloc[0]["model"])
        elif single.iloc[0][metric] < (1 - margin) * comb.iloc[0][metric]:
            chosen[uid] = str(single.iloc[0]["model"])
        else:
            chosen[uid] = "combination"
    return chosen


def test_select_models_equals_the_per_series_loop_exactly():
    """The vectorised choice (issue #13: the loop took seconds per report) picks what the loop picked, in the same
    order: ties on the error, NaN errors, series without a combination or with only one, models not offered."""
    rng = np.random.default_rng(7)
    rows = []
    for i in range(80):
        for m in rng.permutation(["seasonal_naive", "theta", "ets", "arima", "combination", "dotm"]):
            if rng.random() < 0.2:
                continue
            err = float(rng.choice([0.5, 0.52, 0.9, np.nan])) if i % 7 == 0 else float(rng.gamma(3.0, 0.2))
            rows.append((f"s{i}", str(m), err, float(rng.gamma(3.0, 0.05))))
    scores = pd.DataFrame(rows, columns=["unique_id", "model", "mase", "wape"]).sample(frac=1.0, random_state=2)
    offered = ["seasonal_naive", "theta", "ets", "arima", "combination"]  # dotm rows are ignored
    for metric, models, margin in (("mase", offered, 0.05), ("wape", FF.MODELS, 0.0), ("mase", ["theta", "ets"], 0.1)):
        got = FF.select_models(scores, models, metric, margin)
        want = _select_models_loop(scores, models, metric, margin)
        assert list(got.items()) == list(want.items())
    picked = set(FF.select_models(scores, offered).values())
    assert {"combination", "seasonal_naive", "theta"} <= picked  # every branch taken on this data
    flat = pd.DataFrame({"unique_id": ["a", "a"], "model": ["ets", "theta"], "mase": [np.nan, np.nan], "wape": 0.1})
    assert FF.select_models(flat, ["ets", "theta"]) == _select_models_loop(flat, ["ets", "theta"]) == {"a": "ets"}


def test_horizon_sums_equal_period_sum_per_window_exactly():
    """Coverage of horizon sums on arrays gives, per series and origin, the interval of period_sum exactly;
    windows with a missing period or a missing bound are left out as before."""
    rng = np.random.default_rng(3)
    rows = []
    for i in range(30):
        for k, cut in enumerate(pd.date_range("2024-01-31", periods=5, freq="ME")):
            for h in range(3 if (i, k) != (4, 2) else 2):  # one window short of the horizon
                mean = float(rng.gamma(5.0, 20.0))
                w = float(rng.gamma(2.0, 5.0))
                rows.append({"unique_id": f"s{i}", "cutoff": cut, "ds": cut + pd.offsets.MonthEnd(h + 1),
                             "y": mean + float(rng.normal(0, 12)), "mean": mean, "lo80": mean - w,
                             "hi80": np.nan if (i, k, h) == (7, 1, 0) else mean + w})
    fc = pd.DataFrame(rows).sample(frac=1.0, random_state=4).reset_index(drop=True)
    for rho in (0.0, 0.37, 1.0):
        uid, inside = FE._sum_inside(fc, 3, rho)
        want_uid, want_inside = [], []
        for (u, _), g in fc.groupby(["unique_id", "cutoff"], sort=False):
            if len(g) != 3 or g[["lo80", "hi80"]].isna().any().any():
                continue
            s = FT.period_sum(g, rho=rho)
            want_uid.append(u)
            want_inside.append(s["lo80"] <= float(g["y"].sum()) <= s["hi80"])
        assert len(uid) == 30 * 5 - 2 and list(uid) == want_uid and list(inside) == want_inside
    assert 0 < np.mean(inside) < 1


def test_origin_scales_equal_the_seasonal_naive_scale_of_each_prefix():
    rng = np.random.default_rng(9)
    Y = pd.DataFrame([(f"s{i}", d, float(rng.gamma(2.0, 10.0))) for i in range(6)
                      for d in pd.date_range("2022-01-01", periods=30 + i, freq="MS")], columns=["unique_id", "ds", "y"])
    Y = Y.sample(frac=1.0, random_state=0).reset_index(drop=True)  # rows in no order
    cuts = pd.DataFrame([(f"s{i}", pd.Timestamp("2024-01-01") + pd.DateOffset(months=k)) for i in range(6)
                         for k in range(3)], columns=["unique_id", "cutoff"])
    got = FF.origin_scales(Y, cuts, 12)
    for r in got.itertuples():
        g = Y[(Y["unique_id"] == r.unique_id) & (Y["ds"] <= r.cutoff)].sort_values("ds")
        assert r.scale == fm.seasonal_naive_scale(g["y"].to_numpy(), 12)
    assert got[["unique_id", "cutoff"]].equals(cuts)


def test_memoised_quantiles_are_scipy_s():
    """statsforecast's interval quantiles, cached (issue #13), are scipy's values bit for bit, for any levels,
    distribution and parameters, and a caller changing the returned array cannot change the cache."""
    from scipy import stats
    import statsforecast.arima as sf_arima
    import statsforecast.models as sf_models
    import statsforecast.utils as sf_utils

    FF.memoise_statsforecast_quantiles()
    FF.memoise_statsforecast_quantiles()  # idempotent: one wrapper
    q = sf_utils._quantiles
    assert q._salesbench_memo and sf_models._quantiles is q and sf_arima._quantiles is q
    assert not getattr(q.__wrapped__, "_salesbench_memo", False)
    for level in ([80, 95], np.array([80, 95]), [95, 80], [50], np.array([80.0, 90.0, 99.0])):
        want = stats.norm(scale=1.0).ppf(0.5 + np.asarray(level) / 200)
        for _ in range(2):
            got = q(level)
            assert got.dtype == want.dtype and np.array_equal(got, want)
        got[0] = -1.0
        assert np.array_equal(q(level), want)
    want_t = stats.t(df=4.0, scale=1.0).ppf(0.5 + np.array([80, 95]) / 200)
    assert np.array_equal(q([80, 95], distribution="t", dist_params={"df": 4.0}), want_t)
    assert not np.array_equal(q([80, 95], distribution="t", dist_params={"df": 9.0}), want_t)


def test_arima_gradients_are_scipy_s(monkeypatch):
    """statsforecast's ARIMA optimiser gets scipy's own finite-difference gradient, computed directly (issue #13): the
    same order search, coefficients, variance, forecasts and intervals, bit for bit, with and without drivers;
    anything that is not a gradient-free BFGS call reaches scipy untouched."""
    import scipy.optimize
    import statsforecast.arima as sf_arima
    from statsforecast.models import AutoARIMA

    FF.fast_statsforecast_arima_gradients()
    FF.fast_statsforecast_arima_gradients()  # idempotent: one wrapper
    patched = sf_arima.minimize
    assert patched._salesbench_fd and patched.__wrapped__ is scipy.optimize.minimize
    rng = np.random.default_rng(5)
    t = np.arange(72)
    fits = {}
    for name, minimize in (("scipy", scipy.optimize.minimize), ("fast", patched)):
        monkeypatch.setattr(sf_arima, "minimize", minimize)
        out = []
        for k in range(4):
            noise = np.cumsum(rng.normal(0, 3, t.size)) if k % 2 else rng.normal(0, 5, t.size)
            y = 100 + 0.8 * t + 12 * np.sin(2 * np.pi * t / 12 + k) + noise
            X = (rng.random((t.size, 1)) < 0.3).astype(float)
            y = y + 15 * X[:, 0] if k >= 2 else y
            model = AutoARIMA(season_length=12).fit(y=y[:66], X=X[:66] if k >= 2 else None)
            pred = model.predict(h=6, X=X[66:] if k >= 2 else None, level=[80, 95])
            out.append((model.model_["arma"], model.model_["coef"], model.model_["sigma2"], model.model_["aic"], pred))
        rng = np.random.default_rng(5)
        fits[name] = out
    for (arma, coef, sigma2, aic, pred), (arma2, coef2, sigma22, aic2, pred2) in zip(fits["scipy"], fits["fast"]):
        assert arma == arma2 and sigma2 == sigma22 and aic == aic2
        assert all(np.array_equal(np.asarray(coef[c]), np.asarray(coef2[c])) for c in coef)
        assert all(np.array_equal(pred[c], pred2[c]) for c in pred)
    # other methods, or a caller's own gradient, go to scipy as they are
    res = patched(lambda x: float((x - 2.0) @ (x - 2.0)), np.zeros(2), method="Nelder-Mead")
    assert res.nfev > 0 and np.allclose(res.x, 2.0, atol=1e-3)
    seen = []
    res = patched(lambda x: float(x @ x), np.ones(2), method="BFGS", jac=lambda x: seen.append(1) or 2 * x)
    assert seen and np.allclose(res.x, 0.0)


def test_arima_gradients_stay_scipy_s_when_this_scipy_differs(monkeypatch):
    """When the probe finds a different estimate (here: another step), statsforecast keeps scipy's own minimize, and
    the refusal is remembered: later model sets do not probe again."""
    import scipy.optimize
    import statsforecast.arima as sf_arima

    monkeypatch.setattr(sf_arima, "minimize", scipy.optimize.minimize)
    monkeypatch.setattr(FF, "_FD_STEP", FF._FD_STEP * 2)
    monkeypatch.setattr(FF, "_FD_REFUSED", [])
    probes, wrap = [], FF._bfgs_with_forward_differences
    monkeypatch.setattr(FF, "_bfgs_with_forward_differences", lambda original: probes.append(1) or wrap(original))
    for _ in range(3):
        FF.fast_statsforecast_arima_gradients()
    assert sf_arima.minimize is scipy.optimize.minimize and FF._FD_REFUSED and probes == [1]


def test_arimax_without_refit_forwards_the_first_origins_model():
    """refit=False (issue #13): ARIMA + drivers is fitted once, at the first origin, and at every origin that model
    runs over the history to the cut-off and forecasts with the planned drivers of the window."""
    series = FS.build_series(_driver_dataset(), dimensions=[])
    bt = FE.backtest(series, models=["seasonal_naive", "arimax"], deep_models=[], horizon=3, n_origins=3, refit=False)
    got = bt.raw[bt.raw["model"] == "arimax"].sort_values(["cutoff", "ds"])
    cuts = sorted(got["cutoff"].unique())
    Y = series.Y.sort_values("ds")
    first = Y[Y["ds"] <= cuts[0]]
    model = FF.make_models(["arimax"], 12)[0].fit(y=first["y"].to_numpy(float), X=first[["promo_share"]].to_numpy(float))
    for cut in cuts:
        train, g = Y[Y["ds"] <= cut], got[got["cutoff"] == cut]
        X = FF.planned_drivers(train, g[["unique_id", "ds"]], 12, ["promo_share"])
        res = model.forward(y=train["y"].to_numpy(float), h=3, X=train[["promo_share"]].to_numpy(float),
                            X_future=X[["promo_share"]].to_numpy(float), level=[80, 95])
        assert np.allclose(g["mean"], res["mean"], rtol=1e-9) and np.allclose(g["hi95"], res["hi-95"], rtol=1e-9)
        assert np.allclose(g["y"], Y.set_index("ds").loc[g["ds"], "y"])
    g0 = got[got["cutoff"] == cuts[0]]  # at the first origin: the fitted model's own forecast (what a refit gives)
    X0 = FF.planned_drivers(first, g0[["unique_id", "ds"]], 12, ["promo_share"])[["promo_share"]].to_numpy(float)
    assert np.allclose(g0["mean"], model.predict(h=3, X=X0)["mean"], rtol=1e-9)


def test_backtest_without_refit_refits_a_model_whose_forward_fails(monkeypatch):
    """statsforecast has no fallback for a failing forward: that model is then backtested refitting at every
    origin, and the report still gets its forecasts."""
    from statsforecast.models import AutoETS

    series = FS.build_series(_driver_dataset(), dimensions=[])
    ids = {"holt_winters": series.ids}
    refit, _ = FF.cross_validate(series.Y, ids, 12, series.freq, 3, 3, refit=True)
    kept, _ = FF.cross_validate(series.Y, ids, 12, series.freq, 3, 3, refit=False)
    assert not np.allclose(kept["mean"], refit["mean"])  # forwarded: not the refitted forecasts

    def broken(self, *a, **k):
        raise ValueError("forward failed")

    monkeypatch.setattr(AutoETS, "forward", broken)
    fallback, _ = FF.cross_validate(series.Y, ids, 12, series.freq, 3, 3, refit=False)
    pd.testing.assert_frame_equal(fallback, refit)


def test_backtest_split_is_made_once_and_is_the_honest_split(small_fit):
    """The held-out split the honest scores and the reconciled honest scores both start from is computed once per
    backtest (issue #13) and is exactly :func:`split_forecasts` of the raw backtest; replacing ``raw`` recomputes it."""
    import dataclasses

    bt = small_fit.bt_
    early, late = bt.split()
    assert bt.split()[1] is late and not late.empty  # the second caller gets the same frames
    want_early, want_late = FF.split_forecasts(bt.raw, bt.models, bt.n_eval)
    pd.testing.assert_frame_equal(early, want_early, check_exact=True)
    pd.testing.assert_frame_equal(late, want_late, check_exact=True)
    pd.testing.assert_frame_equal(bt.honest, FF.honest_scores(bt.raw, bt.models, bt.n_eval), check_exact=True)
    other = dataclasses.replace(bt, raw=bt.raw[bt.raw["model"] == "seasonal_naive"])
    assert set(other.split()[1]["model"]) == {"seasonal_naive"}
