"""Unit tests of the plan's steps with known answers: period, company target, splits and rounding, months, P(reach)."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import salesbench as sb
from salesbench.analyses.plan import allocate as al
from salesbench.analyses.plan import feasibility as fz
from salesbench.analyses.plan import target as tg
from salesbench.analyses.plan.drivers import ramp
from salesbench.analyses.plan.model import SalesPlan
from salesbench.analyses.plan.split import driver_shares, largest_remainder
from salesbench.core.errors import CheckError
from salesbench.report import params


def test_plan_period_year_quarter_and_default():
    label, first, last = tg.plan_period(None, dt.date(2025, 12, 31))
    assert (label, str(first), str(last)) == ("2026", "2026-01", "2026-12")
    label, first, last = tg.plan_period("2026-Q2", dt.date(2025, 12, 31))
    assert (label, str(first), str(last)) == ("2026-Q2", "2026-04", "2026-06")
    assert len(tg.months(first, last)) == 3


def test_plan_period_already_begun_or_malformed():
    with pytest.raises(ValueError, match="2025 has already begun by 2025-03-31"):
        tg.plan_period("2025", dt.date(2025, 3, 31))
    with pytest.raises(ValueError, match="a year .2026. or a quarter"):
        tg.parse_period("2026-Q5")


def test_company_target_growth_amount_rounding():
    assert tg.company_target(1_000_000, 0.10, None, 1000) == 1_100_000
    assert tg.company_target(1_234_567, 0.0, None, 1000) == 1_235_000
    assert tg.company_target(1_000_000, 0.10, 2_500_000, 1000) == 2_500_000  # amount wins over growth
    assert tg.company_target(100.0, 0.05, None, 0) == pytest.approx(105.0)


def test_largest_remainder_known_answer_and_ties():
    assert list(largest_remainder(10, [1, 1, 1], 1)) == [4, 3, 3]           # tie: the first listed gets the step
    assert list(largest_remainder(10_000, [0.5, 0.3, 0.2], 1000)) == [5000, 3000, 2000]
    assert list(largest_remainder(7000, [0.46, 0.34, 0.20], 1000)) == [3000, 2000, 2000]   # 3.22, 2.38, 1.40: 0.40 is largest


def test_largest_remainder_sums_exactly_in_steps():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = rng.integers(1, 30)
        parent = float(rng.integers(0, 10_000)) * 1000
        out = largest_remainder(parent, rng.random(n), 1000)
        assert out.sum() == parent and (out >= 0).all() and np.all(out % 1000 == 0)


def test_driver_shares_blend_and_empty_driver():
    d = pd.DataFrame({"forecast": [3.0, 1.0], "capacity": [1.0, 1.0], "customers": [0.0, 0.0]})
    s = driver_shares(d, {"forecast": 0.5, "capacity": 0.3, "customers": 0.2})   # customers empty: 0.2 spread
    assert s == pytest.approx([(0.5 * 0.75 + 0.3 * 0.5) / 0.8, (0.5 * 0.25 + 0.3 * 0.5) / 0.8])


def _reps():
    return pd.DataFrame({"rep_id": ["R1", "R2", "R3", "R4", "R5"], "team": ["N1", "N1", "N2", "S1", "S1"],
                         "region": ["North", "North", "North", "South", "South"],
                         "forecast": [10.0, 20, 30, 25, 5], "customers": [9.0, 21, 33, 20, 7],
                         "last_year": [10.0, 20, 30, 25, 5], "capacity": [1.0, 1, 0.5, 1, 1]})


def test_every_level_and_month_sums_exactly_to_its_parent():
    tree = al.allocate(1_234_000, _reps(), ["region", "team", "rep"], {"forecast": 0.3, "customers": 0.4,
                                                                        "capacity": 0.3}, 1000)
    assert tree["level"].value_counts().to_dict() == {"company": 1, "region": 2, "team": 3, "rep": 5}
    for pid, kids in tree.dropna(subset=["parent"]).groupby("parent"):
        assert kids["target"].sum() == tree.loc[tree["id"] == pid, "target"].item(), pid
    months = [pd.Period(f"2026-{m:02d}", "M") for m in range(1, 13)]
    prof = {"company": np.full(12, 1 / 12), "North": np.linspace(1, 2, 12) / np.linspace(1, 2, 12).sum(),
            "South": np.full(12, 1 / 12)}
    mo = al.monthly(tree, prof, months, 1000)
    by_unit = mo.groupby(["level", "key"])["target"].sum()
    for _, r in tree.iterrows():
        assert by_unit[(r["level"], r["key"])] == r["target"]
    assert np.all(mo["target"] % 1000 == 0)
    reps_m = mo[mo["level"] == "rep"].merge(tree[["key", "parent"]], on="key")
    team_from_reps = reps_m.groupby(["parent", "month"])["target"].sum()
    teams = mo[mo["level"] == "team"].set_index(["key", "month"])["target"]
    for (parent, month), v in team_from_reps.items():
        assert teams[(parent.split(":", 1)[1], month)] == v


def test_levels_without_team_split_regions_straight_to_reps():
    tree = al.allocate(100_000, _reps(), ["region", "rep"], {"last_year": 1.0}, 1000)
    north = tree[tree["parent"] == "region:North"]
    assert list(north["key"]) == ["R1", "R2", "R3"] and north["target"].sum() == \
        tree.loc[tree["id"] == "region:North", "target"].item()
    assert tree.loc[tree["id"] == "region:North", "target"].item() == 67_000   # 60 of 90 last-year, rounded


def test_prob_reach_falls_as_the_target_rises():
    targets = np.linspace(50, 150, 41)
    p = fz.reach(np.full(41, 100.0), np.full(41, 10.0), targets)
    assert np.all(np.diff(p) < 0) and p[20] == pytest.approx(0.5)
    assert list(fz.flag([0.1, 0.3, 0.49, 0.5, 0.9], {"red": 0.3, "amber": 0.5})) == \
        ["red", "amber", "amber", "green", "green"]


def test_scaled_piece_variance_proportional_to_size():
    m, s = fz.scaled(100.0, 20.0, 0.25)
    assert (m, s) == (25.0, 10.0)


def test_rep_sigma_known_answer():
    """Log growth net of the region: North grows ×1.5 in total, R1 ×2, R2 ×1.2; South's reps move with it."""
    prev = pd.Series({"R1": 100.0, "R2": 200.0, "R3": 50.0, "R4": 50.0, "R5": 0.0})
    last = pd.Series({"R1": 200.0, "R2": 250.0, "R3": 60.0, "R4": 60.0, "R5": 80.0})   # R5: no prior year, left out
    region = pd.Series({"R1": "N", "R2": "N", "R3": "S", "R4": "S", "R5": "S"})
    dev = np.log([2.0 / 1.5, 1.25 / 1.5, 1.0, 1.0])
    assert fz.rep_sigma(prev, last, region) == pytest.approx(np.std(dev, ddof=1))
    assert fz.rep_sigma(prev[:2], last[:2], region[:2]) == 0.0   # fewer than 3 reps: no estimate


def test_ramp():
    mid = dt.date(2026, 7, 1)
    assert ramp(None, mid, 6) == 1.0
    assert ramp(dt.date(2026, 4, 1), mid, 6) == pytest.approx(91 / 30.4375 / 6)
    assert ramp(dt.date(2026, 9, 1), mid, 6) == 0.0


@pytest.mark.parametrize("change, key, words", [
    ({"amount": -5.0}, "amount", "below zero"),
    ({"weights": {"forecast": 0.5, "customers": 0.4}}, "weights", "sum to 1"),
    ({"weights": {"forecast": 0.5, "charm": 0.5}}, "weights", "charm"),
    ({"levels": ["rep", "region"]}, "levels", "in that order"),
    ({"period": "2025", "as_of": dt.date(2025, 6, 30)}, "period", "already begun"),
    ({"period": "next year"}, "period", "a quarter"),
    ({"risk_lines": {"red": 0.6, "amber": 0.5}}, "risk_lines", "red ≤ amber"),
    ({"win_rate_prior": -1}, "win_rate_prior", "positive number of deals"),
    ({"review_period": "decade"}, "review_period", "decade"),
    ({"basis": "hope"}, "basis", "hope"),
    ({"reversion": -0.5}, "reversion", "positive"),
])
def test_check_params_names_the_key(change, key, words):
    values = {**params.defaults("plan"), **change}
    with pytest.raises(CheckError) as err:
        SalesPlan.check_params(values)
    assert err.value.key == key and words in str(err.value)


def test_calibration_known_answer():
    from salesbench.analyses.plan.backtest import calibration
    cal = calibration(pd.Series([0.9, 0.8, 0.15, 0.1]), pd.Series([True, False, False, False]))
    assert cal["hit_rate"] == 0.25
    assert cal["brier"] == pytest.approx((0.01 + 0.64 + 0.0225 + 0.01) / 4)
    assert cal["brier_base_rate"] == pytest.approx((0.5625 + 3 * 0.0625) / 4)
    assert cal["reliability"][["bin", "n"]].values.tolist() == [["0.1–0.2", 2], ["0.8–0.9", 1], ["0.9–1.0", 1]]


def _book_frames(with_signup: bool = True) -> dict:
    """Five customers of two reps over 2023–2025 (one order after the plan's day): the book's known answer."""
    rows = [("A", "R1", "2023-01-01", 100.0), ("A", "R1", "2023-11-01", 100.0), ("A", "R1", "2024-02-01", 90.0),
            ("A", "R1", "2024-10-01", 90.0),
            ("B", "R1", "2023-09-01", 50.0), ("B", "R1", "2024-03-01", 100.0), ("B", "R1", "2024-12-01", 50.0),
            ("C", "R2", "2024-06-01", 40.0), ("C", "R2", "2024-08-01", 20.0),
            ("D", "R2", "2023-12-01", 30.0), ("D", "R2", "2024-01-15", 70.0),
            ("E", "R2", "2024-12-20", 10.0), ("E", "R2", "2025-01-15", 1000.0)]
    orders = pd.DataFrame(rows, columns=["customer_id", "rep_id", "order_date", "revenue"])
    orders["order_date"] = pd.to_datetime(orders["order_date"]).dt.date
    orders.insert(0, "order_id", [f"O{i}" for i in range(len(orders))])
    frames = {"orders": orders}
    if with_signup:
        frames["customers"] = pd.DataFrame({"customer_id": list("ABCDE"), "signup_date": pd.to_datetime(
            ["2020-01-01", "2023-06-01", "2024-05-01", "2019-01-01", "2021-01-01"]).date})
    return frames


def test_book_known_answer_by_customer_tier():
    """Retention one year earlier, by tier: established A and D (200 + 30 → 180 + 70), new B (50 → 150);
    R1 carries A and B (established by 2025) at 250/230; R2 carries new C at ×3 plus C's year as new business,
    and E at 250/230 (D ordered last in January: not live). E's order after the plan's day is not read."""
    from salesbench.analyses.plan.drivers import book_value
    from salesbench.core.dataset import Dataset

    y24 = (pd.Period("2024-01", "M"), pd.Period("2024-12", "M"))
    book, retention = book_value(Dataset.from_frames(_book_frames()), *y24, dt.date(2024, 12, 31), 180)
    assert retention == pytest.approx({"established": 250 / 230, "new": 3.0})
    assert book.to_dict() == pytest.approx({"R1": 330 * 250 / 230, "R2": 60 * 3.0 + 60 + 10 * 250 / 230})
    # without customers.signup_date a customer starts at its first order: every 2023 customer was new then, no
    # established tier to measure, so both tiers take the pooled 400/280; C and E (first order in 2024) are new
    book, retention = book_value(Dataset.from_frames(_book_frames(with_signup=False)), *y24, dt.date(2024, 12, 31), 180)
    assert retention == pytest.approx({"established": 400 / 280, "new": 400 / 280})
    assert book.to_dict() == pytest.approx({"R1": 330 * 400 / 280, "R2": 70 * 400 / 280 + 70})
    # a history that does not reach back a year: retention 1
    book, retention = book_value(Dataset.from_frames(_book_frames()), pd.Period("2023-01", "M"),
                                 pd.Period("2023-12", "M"), dt.date(2023, 12, 31), 180)
    assert retention == {"new": 1.0, "established": 1.0}


def test_rep_means_revert_part_of_last_years_luck_within_the_region():
    """North grew ×4/3: R1 (flat) lagged it, R2 (×2) beat it; reversion 0.5 moves each book by growth^−0.5,
    then the region keeps Σ book; South's single rep (and a rep without a prior year) keeps its book."""
    book, prev = pd.Series([100.0, 100.0, 50.0, 30.0]), pd.Series([100.0, 50.0, 10.0, np.nan])
    last, region = pd.Series([100.0, 100.0, 10.0, 5.0]), pd.Series(["N", "N", "S", "S"])
    m = np.array([100 * 0.75 ** -0.5, 100 * 1.5 ** -0.5])
    got = fz.rep_means(book, prev, last, region, 0.5)
    assert got[:2] == pytest.approx(m * 200 / m.sum()) and got[2:] == pytest.approx([50.0, 30.0])
    assert fz.rep_means(book, prev, last, region, 0.0) == pytest.approx(book.to_numpy())


def test_company_target_over_the_basis():
    assert tg.company_target(1_234_567.0, 0.0, None, 1000.0) == 1_235_000.0     # the books, no stretch
    assert tg.company_target(1_000_000.0, 0.05, None, 0) == 1_050_000.0
    assert set(tg.BASES) == {"book", "last_year", "forecast"}


def test_plan_forecast_skips_the_report_only_steps_same_numbers(small_demo):
    """The plan's forecast runs series, backtest, forecast and reconciliation only (no targets, gap or product
    lifecycle: the forecasting report's), and what the plan reads of it (``forecast_``, ``rho_``) is exactly
    what the whole :class:`SalesForecast` fit gives."""
    from salesbench.analyses.forecasting.model import SalesForecast
    from salesbench.analyses.plan.model import _PlanForecast
    from salesbench.io.sources import open_data

    ds = open_data(small_demo)
    kw = dict(dimensions=["region", "product_line"], as_of=dt.date(2024, 12, 31), horizon=12, n_origins=1,
              models=["seasonal_naive"], deep_models=["seasonal_naive"], reconciliation="wls_struct")
    mine, whole = _PlanForecast(**kw).fit(ds), SalesForecast(**kw).fit(ds)
    assert not hasattr(mine, "lifecycle_") and not hasattr(mine, "targets_")
    assert hasattr(whole, "lifecycle_") and hasattr(whole, "targets_")
    pd.testing.assert_frame_equal(mine.forecast_, whole.forecast_)
    assert mine.rho_ == whole.rho_ or (np.isnan(mine.rho_) and np.isnan(whole.rho_))


def test_book_value_with_the_first_order_date_given_equals_the_query(small_demo):
    """book_value with the data's first order date passed in (the plan's: one engine query less) = the default."""
    from salesbench.analyses.plan import drivers as dv
    from salesbench.io.sources import open_data

    ds = open_data(small_demo)
    first_day = ds.table("orders").order_date.min().to_pyarrow().as_py()
    args = (ds, pd.Period("2024-01", "M"), pd.Period("2024-12", "M"), dt.date(2024, 12, 31), 180)
    book, retention = dv.book_value(*args)
    book2, retention2 = dv.book_value(*args, first_day)
    pd.testing.assert_series_equal(book, book2, check_exact=False, rtol=1e-12)
    assert retention2 == pytest.approx(retention, rel=1e-12) and set(retention) == {"new", "established"}


def test_revenue_sums_are_exact_whatever_the_row_order():
    """The engine adds rows in an order that changes from run to run: the plan's revenue sums are exact decimals,
    so the same bits come out (0.1 + 0.2 + 0.3 added as floats gives 0.6000000000000001 in one order, 0.6 in
    the other)."""
    from salesbench.analyses.plan import drivers

    rows = pd.DataFrame({"order_id": ["o1", "o2", "o3"], "customer_id": ["c1", "c2", "c3"], "rep_id": ["r1"] * 3,
                         "order_date": [dt.date(2024, 3, 1), dt.date(2024, 3, 2), dt.date(2024, 3, 3)],
                         "revenue": [0.1, 0.2, 0.3]})
    got = []
    for order in (slice(None), slice(None, None, -1)):
        ds = sb.Dataset.from_frames({"orders": rows.iloc[order].reset_index(drop=True)})
        month = pd.Period("2024-03", "M")
        got.append((drivers.rep_months(ds, month, month)["revenue"].iloc[0],
                    drivers.customer_revenue(ds, month, month, dt.date(2024, 3, 31), 90)["revenue"].sum()))
    assert got[0] == got[1] and got[0][0] == 0.6
