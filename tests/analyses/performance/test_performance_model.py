"""PerformanceReview on the tiny company: results, scope, missing tables, parameters and the period."""
from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

import salesbench as sb
from salesbench.analyses.performance import kpis, periods
from salesbench.analyses.performance import model as pf

D = dt.date


# --------------------------------------------------------------------------- the review on the tiny company
def test_review_on_tiny_company(tiny_review, tmp_path):
    from salesbench.analyses.performance import report

    rv = tiny_review  # PerformanceReview(period="quarter", as_of=D(2025, 3, 31), trend_periods=2).fit(tiny)
    r = rv.results()
    assert r["period"] == "2025Q1" and r["previous_period"] == "2024Q4" and r["last_year_period"] == "2024Q1"
    assert r["company"]["revenue"] == pytest.approx(1500.0)
    assert r["company"]["attainment"] == pytest.approx(1.0)
    assert [s["rep_id"] for s in r["scorecard"]] == list(rv.card_["rep_id"])
    assert sorted(s["rank"] for s in r["scorecard"]) == [1, 2, 3]
    assert r["below_warning"] == sum(s["status"] in ("red", "amber") for s in r["scorecard"])
    assert r["score_vs_truth_spearman"] is None                       # not the demo
    assert r["pvm_previous"]["volume"] + r["pvm_previous"]["mix"] + r["pvm_previous"]["price"] == pytest.approx(
        r["pvm_previous"]["change"])
    wf = rv.waterfalls_["region"]
    assert wf["end"].iloc[-2] == pytest.approx(1500.0) and wf["delta"].iloc[0] == pytest.approx(1500.0)
    res = sb.results.Results("performance", tmp_path)
    report.publish(rv, res)
    res.save()
    saved = json.loads((tmp_path / "performance.results.json").read_text())
    assert saved["weights"] == kpis.DEFAULT_WEIGHTS and len(saved["headline"]) == 4
    assert (tmp_path / "performance.scorecard.csv").exists()


def test_review_scope_and_bad_scope(tiny):
    rv = pf.PerformanceReview(as_of=D(2025, 3, 31), trend_periods=1, team="T1").fit(tiny)
    assert set(rv.scope_card_["rep_id"]) == {"R1", "R2"}
    assert rv.scope_kpis_["revenue"] == pytest.approx(500.0)
    assert list(rv.waterfalls_) == ["rep"]
    with pytest.raises(ValueError, match="unknown region 'Mars'; regions: North, South"):
        pf.PerformanceReview(as_of=D(2025, 3, 31), region="Mars").fit(tiny)


def test_review_without_optional_tables_spreads_weights(tmp_path, make_frames):
    frames = {k: v for k, v in make_frames().items() if k in ("orders", "reps")}
    ds = sb.Dataset.from_frames(frames)
    rv = pf.PerformanceReview(as_of=D(2025, 3, 31), trend_periods=1, min_weight=0.3).fit(ds)
    assert rv.card_["collection_rate"].isna().all() and rv.card_["csat"].isna().all()
    # revenue (percentile: no targets), margin and new-customer rate carry the score
    assert rv.card_["weight_covered"].tolist() == pytest.approx([0.65] * 3)
    assert any("Collection rate cannot be computed" in n for n in rv.notes_)
    assert any("no targets table" in n for n in rv.notes_)


def test_missing_reps_table_skips_with_a_clear_reason(tmp_path, make_frames):
    from salesbench.core.dataset import MissingTables

    ds = sb.Dataset.from_frames({"orders": make_frames()["orders"]})
    res = sb.results.Results("performance", tmp_path)
    with pytest.raises(MissingTables, match="needs the reps table"):
        ds.require("orders", "reps", analysis="performance", res=res)
    saved = json.loads((tmp_path / "performance.results.json").read_text())
    assert saved["status"] == "skipped" and saved["reason"] == "no reps table"


# --------------------------------------------------------------------------- params and notebook
def test_declared_defaults_are_the_module_defaults():
    from salesbench.report import params

    defaults = params.declaration("performance").defaults
    assert defaults["weights"] == kpis.DEFAULT_WEIGHTS and defaults["warning_lines"] == kpis.DEFAULT_LINES
    cfg = pf.ReviewConfig.from_params(params.load("performance", defaults))
    assert cfg.weights == kpis.DEFAULT_WEIGHTS and cfg.period == "quarter" and cfg.as_of is None
    bad = {"weights": {"revenue": 0.5, "csat": 0.4}}
    with pytest.raises(kpis.WeightsError, match="sum to 0.9"):
        pf.ReviewConfig.from_params(bad)
    with pytest.raises(params.ParamError, match="sum to 0.9"):  # the declared _check, before any kernel
        params.load("performance", bad)


def test_future_dated_orders_do_not_move_the_review_period(make_frames):
    frames = make_frames()
    extra = frames["orders"].iloc[[0]].assign(order_id="O99", order_date=D(2099, 1, 1))
    frames["orders"] = pd.concat([frames["orders"], extra], ignore_index=True)
    ds = sb.Dataset.from_frames(frames)
    assert periods.data_end(ds, today=D(2026, 1, 1)) == D(2025, 4, 1)
    assert periods.future_orders(ds, D(2026, 1, 1)) == 1
    rv = pf.PerformanceReview(trend_periods=1).fit(ds)
    assert str(rv.period_) == "2025Q1"            # last full quarter on or before 2025-04-01
    assert rv.notes_ == ["1 order line dated in the future (after today) was ignored"]


def test_check_params_names_the_key_before_any_kernel():
    from salesbench.core.errors import CheckError
    from salesbench.report import params

    with pytest.raises(CheckError, match="sum to 0.9") as err:
        pf.PerformanceReview.check_params({"weights": {"revenue": 0.5, "csat": 0.4}})
    assert err.value.key == "weights"
    with pytest.raises(CheckError, match="red \\(0.95\\) must not be above amber") as err:
        pf.PerformanceReview.check_params({"warning_lines": {"attainment": {"red": 0.95, "amber": 0.8}}})
    assert err.value.key == "warning_lines"
    with pytest.raises(CheckError, match="each relationship is a pair of KPI names") as err:
        pf.PerformanceReview.check_params({"relationships": [["csat"]]})
    assert err.value.key == "relationships"
    pf.PerformanceReview.check_params(params.declaration("performance").defaults)      # the defaults pass
    assert params.declaration("performance").check == "salesbench.analyses.performance.model:PerformanceReview.check_params"


def test_init_only_stores_and_fit_validates():
    rv = pf.PerformanceReview(weights={"revenue": 2.0})                 # stored as given, checked in fit
    assert rv.weights == {"revenue": 2.0} and not rv.is_fitted
    with pytest.raises(kpis.WeightsError, match="sum to 1"):
        rv.fit(None)
