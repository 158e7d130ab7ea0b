"""The plan fitted on the small demo as of 2024-12-31 for 2025: exact sums, the canonical targets shape,
and the round trip into the performance review (plan.targets.csv replacing the data's targets)."""
from __future__ import annotations

import datetime as dt
import shutil

import numpy as np
import pytest

from salesbench.analyses.performance.model import PerformanceReview
from salesbench.analyses.plan.model import SalesPlan
from salesbench.core.dataset import Dataset
from salesbench.core.errors import CheckError, ReportSkipped
from salesbench.core.schema import TABLES
from salesbench.io.sources import open_data

AS_OF = dt.date(2024, 12, 31)


def test_plan_for_the_next_year_sums_exactly_at_every_level(plan):
    assert plan.period_ == "2025" and [str(m) for m in plan.months_][::11] == ["2025-01", "2025-12"]
    t = plan.tree_
    assert plan.basis == "book" and plan.basis_amount_ == pytest.approx(plan.reps_["book"].sum())
    assert t.loc[0, "target"] == plan.target_ == round(plan.basis_amount_ / 1000) * 1000   # growth 0 over the books
    for pid, kids in t.dropna(subset=["parent"]).groupby("parent"):
        assert kids["target"].sum() == t.loc[t["id"] == pid, "target"].item(), pid
    by_unit = plan.monthly_.groupby(["level", "key"])["target"].sum()
    assert all(by_unit[(r["level"], r["key"])] == r["target"] for _, r in t.iterrows())
    company = plan.monthly_[plan.monthly_["level"] == "company"].set_index("month")["target"]
    regions = plan.monthly_[plan.monthly_["level"] == "region"].groupby("month")["target"].sum()
    assert (company == regions).all()
    assert 0 < plan.company_["prob_reach"] < 1 and t["prob_reach"].between(0, 1).all()
    assert set(t["status"]) <= {"red", "amber", "green"} and len(plan.at_risk_) == 10
    assert plan.at_risk_["prob_reach"].is_monotonic_increasing


def test_targets_frame_has_the_canonical_shape(plan):
    frame = plan.targets_frame()
    assert list(frame.columns) == TABLES["targets"].column_names
    assert set(frame["level"]) == {"company", "region", "team", "rep"} and set(frame["metric"]) == {"revenue"}
    assert not frame.duplicated(["period", "level", "key", "metric"]).any()
    back = Dataset.from_frames({"targets": frame}).table("targets").to_pandas()   # converts and validates
    assert len(back) == len(frame) and back["value"].sum() == pytest.approx(frame["value"].sum())


def test_performance_review_reads_the_plan_as_its_targets(plan, small_demo, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(small_demo, data)
    for old in data.glob("targets.*"):
        old.unlink()
    plan.targets_frame().to_csv(data / "targets.csv", index=False)            # what docs/plan.md tells users
    review = PerformanceReview(period="year", as_of=dt.date(2025, 12, 31)).fit(open_data(data))
    reps = review.kpis_["rep"].set_index("key")["revenue_target"]
    planned = plan.tree_[plan.tree_["level"] == "rep"].set_index("key")["target"]
    assert np.allclose(reps.reindex(planned.index), planned)
    assert review.kpis_["company"]["revenue_target"].item() == plan.target_


def test_a_period_already_begun_or_without_history(small_demo):
    ds = open_data(small_demo)
    with pytest.raises(CheckError, match="2024 has already begun") as err:
        SalesPlan(as_of=AS_OF, period="2024").fit(ds)
    assert err.value.key == "period"
    with pytest.raises(ReportSkipped, match="do not cover the whole last period"):
        SalesPlan(as_of=dt.date(2023, 6, 30)).fit(ds)


def test_a_plan_made_in_the_past_is_checked_against_the_actuals(plan, small_demo):
    o = open_data(small_demo).table("orders")
    actual = o.filter((o.order_date >= dt.date(2025, 1, 1)) & (o.order_date <= dt.date(2025, 12, 31))).revenue.sum()
    b = plan.backtest_
    assert b["company_actual"] == pytest.approx(float(actual.to_pyarrow().as_py()))
    reps = plan.tree_[plan.tree_["level"] == "rep"]
    assert b["n"] == len(reps) == b["reliability"]["n"].sum()
    hit = (reps["actual"] >= reps["target"]).to_numpy(float)
    assert b["brier"] == pytest.approx(np.mean((reps["prob_reach"].to_numpy() - hit) ** 2))
    assert b["median_attainment"] == pytest.approx((reps["actual"] / reps["target"]).median())


def test_product_lines_sum_exactly_to_their_region(plan):
    lines = plan.lines_
    regions = plan.tree_[plan.tree_["level"] == "region"].set_index("key")["target"]
    assert set(lines["parent"]) == set(regions.index) and lines["product_line"].nunique() >= 3
    assert (lines.groupby("parent")["target"].sum() == regions.reindex(sorted(set(lines["parent"])))).all()
    assert lines["prob_reach"].between(0, 1).all() and np.all(lines["target"] % 1000 == 0)


def test_check_data_uses_the_last_order_date_when_as_of_is_null(small_demo):
    ds = open_data(small_demo)
    values = SalesPlan(period="2025-Q4").get_params()
    with pytest.raises(CheckError, match="2025-Q4 has already begun by 2025-12-31") as err:
        SalesPlan.check_data(values, ds)
    assert err.value.key == "period"
    SalesPlan.check_data({**values, "period": "2026-Q1"}, ds)  # not begun: accepted
    with pytest.raises(CheckError, match="2025-Q4 has already begun"):
        SalesPlan(period="2025-Q4").fit(ds)  # the notebook refuses it the same way


def test_headline_card_flags_the_company_chance_with_the_warning_lines(plan):
    """The P(reach) card carries the same red/amber/green word as every piece (its colour is never the only signal)."""
    from salesbench.analyses.plan import report

    card = next(c for c in report.headline_cards(plan) if c["label"] == "P(reach)")
    p, lines = plan.company_["prob_reach"], plan.risk_lines
    assert card["status"] == ("red" if p < lines["red"] else "amber" if p < lines["amber"] else "green")
    assert card["value"] == report.viz.fmt_pct(p)


def test_a_reps_spread_adds_its_own_swing_to_its_regions(plan):
    """A rep's mean is its rep_mean (book with mean reversion); σ = √(s·(k·σ_region)² + (rep_mean·rep_sigma)²) with
    s its share of the region's books and k = Σ books ÷ the region's forecast mean: wider than the share alone."""
    assert 0 < plan.rep_sigma_ < 2
    rep = plan.tree_[plan.tree_["level"] == "rep"].iloc[0]
    r = plan.reps_.set_index("rep_id")
    books = r.loc[r["region"] == rep["region"], "book"].sum()
    s = r.loc[rep["key"], "rep_mean"] / books
    d = plan.regions_[rep["region"]]
    k = books / d["mean"]
    assert rep["mean"] == pytest.approx(r.loc[rep["key"], "rep_mean"])
    assert rep["sigma"] == pytest.approx(np.sqrt(s * (k * d["sigma"]) ** 2 + (s * books * plan.rep_sigma_) ** 2))
    assert rep["sigma"] > np.sqrt(s) * k * d["sigma"]


def test_pooled_win_rates_equal_an_independent_computation(small_demo):
    """(won + 20·p₀)/(closed + 20) per rep over the deals closed in 2024, p₀ the company's 2024 rate."""
    import pandas as pd

    from salesbench.analyses.plan import drivers as dv

    got = dv.pooled_win_rates(open_data(small_demo), pd.Period("2024-01", "M"), pd.Period("2024-12", "M"), AS_OF, 20.0)
    o = pd.read_parquet(small_demo / "opportunities.parquet")
    c = o[o["status"].isin(["won", "lost"]) & (o["closed_at"] >= "2024-01-01") & (o["closed_at"] < "2025-01-01")]
    won, closed = (c["status"] == "won").groupby(c["rep_id"]).sum(), c.groupby("rep_id").size()
    p0 = won.sum() / closed.sum()
    pd.testing.assert_series_equal(got.sort_index(), ((won + 20 * p0) / (closed + 20)).sort_index(),
                                   check_names=False, check_dtype=False)
    assert got.attrs["company"] == pytest.approx(p0)
    assert got.std() < (won / closed).std()          # pooled: pulled towards p0


def test_win_rate_and_review_drivers_split_by_ramped_ability(small_demo):
    """With the whole weight on win_rate, reps of a team get shares ∝ capacity × pooled win rate;
    the review driver is capacity × last review score / 100 (the median for a rep without a score)."""
    ds = open_data(small_demo)
    p = SalesPlan(as_of=AS_OF, weights={"win_rate": 0.5, "review": 0.5}, product_lines=False, rounding=0,
                  forecast_models=["seasonal_naive"], forecast_origins=1).fit(ds)
    r = p.reps_.set_index("rep_id")
    wr = p.win_rates_.reindex(r.index).fillna(p.win_rates_.attrs["company"])
    assert np.allclose(r["win_rate"], r["capacity"] * wr)
    sc = p.review_scores_.reindex(r.index).fillna(p.review_scores_.median())
    assert len(p.review_scores_) >= 30 and np.allclose(r["review"], r["capacity"] * sc)
    reps = p.tree_[p.tree_["level"] == "rep"].set_index("key")
    team = r[r["team"] == r["team"].iloc[0]]
    x = 0.5 * team["win_rate"] / team["win_rate"].sum() + 0.5 * team["review"] / team["review"].sum()
    assert np.allclose(reps.loc[team.index, "target"] / reps.loc[team.index, "target"].sum(), x)


def test_the_plan_uses_nothing_after_its_day(plan, small_demo, tmp_path):
    """The same plan from the data cut at 2024-12-31: every target, the books and the rep means are identical
    (the 2025 orders only feed the check against actuals)."""
    import pandas as pd

    data = tmp_path / "cut"
    shutil.copytree(small_demo, data)
    o = pd.read_parquet(data / "orders.parquet")
    o[pd.to_datetime(o["order_date"]) <= "2024-12-31"].to_parquet(data / "orders.parquet", index=False)
    cut = SalesPlan(as_of=AS_OF, period="2025").fit(open_data(data))
    assert cut.backtest_ is None and plan.backtest_ is not None
    assert cut.target_ == plan.target_
    assert cut.tree_["target"].tolist() == plan.tree_["target"].tolist()
    assert cut.monthly_["target"].tolist() == plan.monthly_["target"].tolist()
    for col in ("book", "rep_mean"):
        assert np.allclose(cut.reps_[col], plan.reps_[col]), col


def test_back_test_on_the_small_demo_beats_the_shipped_targets_and_the_base_rate(plan, small_demo):
    """Issue #16's check on the small demo (seed 1): the reps' attainment of the plan is less spread (IQR ÷ median)
    than their attainment of the demo's own 2025 targets, and the stated P(reach) scores a better Brier score than
    the base rate. (Its median, ~140 %, is outside 100 % ± 7 %: this company outgrew its books by a third.)"""
    import pandas as pd

    tg = pd.read_parquet(small_demo / "targets.parquet")
    tg = tg[(tg["level"] == "rep") & (tg["metric"] == "revenue") & (pd.to_datetime(tg["period"]).dt.year == 2025)]
    reps = plan.tree_[plan.tree_["level"] == "rep"].set_index("key")
    shipped = reps["actual"] / tg.groupby("key")["value"].sum().reindex(reps.index)
    planned = reps["attainment"]

    def rel(a):
        return (a.quantile(0.75) - a.quantile(0.25)) / a.median()

    b = plan.backtest_
    assert rel(planned) < rel(shipped)
    assert b["brier"] < b["brier_base_rate"]
    assert b["median_attainment"] == pytest.approx(planned.median())


def test_a_quarter_is_planned_from_the_books_of_the_last_twelve_months(small_demo):
    """2025-Q1 planned on 2024-12-31: the book is measured on 2024 (customers won after 2024-Q1 count too) and
    scaled to the quarter by 2024-Q1's share of 2024's revenue; back-tested, the median rep reaches 98.7 %."""
    import pandas as pd

    from salesbench.analyses.plan import drivers as dv

    ds = open_data(small_demo)
    p = SalesPlan(as_of=AS_OF, period="2025-Q1", product_lines=False, forecast_models=["seasonal_naive"],
                  forecast_origins=1).fit(ds)
    y24 = (pd.Period("2024-01", "M"), pd.Period("2024-12", "M"))
    book, _ = dv.book_value(ds, *y24, AS_OF, 180)
    scale = p.last_revenue_ / dv.rep_months(ds, *y24)["revenue"].sum()
    assert p.book_scale_ == pytest.approx(scale) and 0.15 < scale < 0.35
    assert p.basis_amount_ == pytest.approx(book.sum() * scale)
    assert p.target_ == round(p.basis_amount_ / 1000) * 1000
    assert p.backtest_["median_attainment"] == pytest.approx(0.987, abs=0.005)
