"""The churn report's words, views and publishing on a small hand-made fitted model (no sampling)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from salesbench.analyses.churn import choice as churn_choice  # noqa: E402
from salesbench.analyses.churn import plots, report  # noqa: E402
from salesbench.analyses.churn.model import Churn, total_at_risk  # noqa: E402
from salesbench.report.results import Results  # noqa: E402


def _risk_by():
    rows = [("total", "all", 1500.0, 1000.0, 2000.0, 1100.0, 1900.0, 2)]
    rows += [("region", "North", 1200.0, 800.0, 1600.0, np.nan, np.nan, 1),
             ("region", "South", 300.0, 100.0, 500.0, np.nan, np.nan, 1)]
    rows += [(by, g, 750.0, 500.0, 1000.0, np.nan, np.nan, 1) for by in ("segment", "owner_rep_id") for g in ("x", "y")]
    return pd.DataFrame(rows, columns=["by", "group", "mean", "lo", "hi", "lo_param", "hi_param", "n_customers"])


def _fitted(holdout=True, warning=False) -> Churn:
    """A Churn with the learned attributes the report reads: 4 customers (2 active, 1 slipping, 1 gone), 2 at risk."""
    M = Churn(model="auto", fit_method="map", horizon=26, clv_months=12, top_n=1)
    M.model_, M.calibration_end_ = "mbg_nbd", pd.Timestamp("2025-06-30")
    M.predictions_ = pd.DataFrame({"customer_id": list("abcd"), "p_alive": [0.9, 0.8, 0.5, 0.1]})
    M.at_risk_ = pd.DataFrame({"rank": [1, 2], "customer_id": ["d", "c"], "region": ["North", "South"],
                               "segment": ["x", "y"], "owner_rep_id": ["r1", "r2"], "p_alive": [0.1, 0.5],
                               "value_if_alive": [1400.0, 600.0], "revenue_at_risk": [1200.0, 300.0],
                               "p_purchase": [0.05, 0.4]})
    M.risk_by_ = _risk_by()
    M.revenue_at_risk_ = total_at_risk(M.risk_by_)
    params = pd.DataFrame({"param": ["r", "alpha"], "mean": [0.25, 4.8], "lo": [np.nan, np.nan],
                           "hi": [np.nan, np.nan], "r_hat": [np.nan, np.nan], "ess_bulk": [np.nan, np.nan]})
    M.clv_model_ = SimpleNamespace(totals_={"clv": {"mean": 9000.0, "lo": 8000.0, "hi": 10000.0}},
                                   params_=params, spend_params_=None, model="mbg_nbd")
    M.convergence_ = {"ok": None, "message": "MAP fit: no sampler diagnostics."}
    table = pd.DataFrame({"model": ["bg_nbd", "mbg_nbd"], "chosen": [False, True], "mean_rank": [2.0, 1.0],
                          "log_lik": [-10.0, -9.0], "predicted_total": [90.0, 100.0], "predicted_lo": [80.0, 85.0],
                          "predicted_hi": [100.0, 115.0], "actual_total": [110.0, 110.0],
                          "error_pct": [-0.18, -0.09]})
    M.choice_ = churn_choice.Choice(model="mbg_nbd", signal="p_purchase", table=table,
                                    calibration_end=pd.Timestamp("2025-06-30"), holdout_length=26.0, holdout=None,
                                    reason="Model chosen on the holdout.", signal_reason="Ranked by P(purchase).",
                                    auc={"p_purchase": 0.81, "expected_purchases": 0.8, "p_alive": 0.7,
                                         "recency": 0.75}, auc_source="holdout")
    M.holdout_ = ({"length": 26.0, "predicted_total": 100.0, "predicted_lo": 85.0, "predicted_hi": 105.0,
                   "actual_total": 120.0, "error_pct": -0.1667, "mae": 0.42, "expected_lo": None, "covered": False,
                   "by_frequency": pd.DataFrame({"frequency": ["0", "1"], "actual": [0.2, 1.0],
                                                 "predicted": [0.1, 0.9]})} if holdout else None)
    M.warning_ = (SimpleNamespace(effects_=pd.DataFrame({
        "indicator": ["complaints", "csat_drop"], "label": ["Complaints", "CSAT drop"], "mean": [0.6, 0.05],
        "lo": [0.2, -0.3], "hi": [1.0, 0.4], "odds_ratio": [1.82, 1.05]})) if warning else None)
    M.warning_reason_ = None if warning else "The early-warning model was switched off (early_warning = false)."
    M.truth_ = {"auc": 0.83, "at_risk_churned_share": 0.6, "base_rate": 0.3}
    return M


def test_headline_cards_and_sentences_carry_the_numbers():
    M = _fitted()
    cards = report.headline_cards(M)
    assert [c["label"] for c in cards] == ["Revenue at risk (next 26 weeks)", "Customers at risk", "Probably gone",
                                           "Customer base value (12 months)"]
    assert cards[0]["value"] == "1.5k" and cards[0]["sub"] == "94% predictive interval 1.0k–2.0k"
    assert cards[1]["value"] == "2" and cards[2]["value"] == "25%" and cards[2]["sub"].startswith("1 of 4 customers")
    s = report.sentences(M)
    assert s[0].startswith("Of 4 customers who bought by 2025-06-30, 50% are probably still active, 25% are slipping")
    assert "(MBG/NBD model, MAP fit)" in s[0]
    assert s[1].startswith("2 high-value customers are at risk: 1.5k of revenue over the next 26 weeks")
    assert "The largest part is in North (1.2k)." in s[1]
    assert s[2:] == ["Model chosen on the holdout.", "Ranked by P(purchase).",
                     "The early-warning model was switched off (early_warning = false)."]


def test_holdout_ranking_and_truth_sentences():
    M = _fitted()
    h = report.holdout_sentence(M)
    assert h.startswith("Holdout test over 26.0 weeks after 2025-06-30: the model predicted 100 purchases "
                        "(94% predictive interval 85–105; purchase noise only")
    assert "customers made 120, -16.7% off" in h and "lies above the 94% predictive interval" in h
    assert "biased low by about 17%" in h and h.endswith("Mean absolute error per customer: 0.42 purchases.")
    r = report.ranking_sentence(M)
    assert r.startswith("On the holdout after calibration_end, the probability of buying within the horizon ranked")
    assert "AUC 0.810" in r and "scored 0.750" in r
    assert report.truth_sentence(M) == (
        "Check against the demo generator's truth: P(alive) separates customers who truly churned by "
        "calibration_end from those still active with AUC 0.83; 60% of the at-risk list truly churned, "
        "against a base rate of 30%.")


def test_fallbacks_return_what_to_show():
    M = _fitted(holdout=False, warning=False)
    assert report.NO_HOLDOUT in report.show_holdout_calibration(M)._repr_html_()
    assert report.holdout_note(M) is None
    assert "switched off" in report.show_effects(M)._repr_html_() and report.warning_note(M) is None
    assert report.convergence_alert(M) is None
    assert "MAP fit: no sampler diagnostics." in report.convergence_note(M)._repr_html_()
    M.choice_.table, M.choice_.auc = pd.DataFrame(), None
    assert report.comparison_view(M) is None and report.show_comparison(M) is None
    assert report.ranking_view(M) is None and report.show_ranking(M) is None
    M.truth_ = None
    assert report.truth_note(M) is None


def test_figures_when_present():
    M = _fitted(holdout=True, warning=True)
    for show in (report.show_holdout_calibration, report.show_effects, report.show_revenue_at_risk_by_region,
                 report.show_revenue_at_risk_by_segment_and_rep):
        fig = show(M)
        assert isinstance(fig, Figure) and fig.axes and fig.axes[0].has_data()
    assert "Complaints (odds ×1.82 per standard deviation)" in report.warning_note(M)._repr_html_()
    assert "customers made 120" in report.holdout_note(M)._repr_html_()


def test_views_and_their_formats():
    M = _fitted()
    at = report.at_risk_view(M)
    assert len(at) == 1 and at.iloc[0]["Customer"] == "d" and at.iloc[0]["P(alive)"] == "10%"
    assert at.iloc[0]["Status"] == "probably gone" and at.iloc[0]["Revenue at risk"] == "1.2k"
    comp = report.comparison_view(M)
    assert list(comp["Model"]) == ["BG/NBD", "MBG/NBD"] and list(comp["Chosen"]) == ["", "yes"]
    assert comp.iloc[1]["94% predictive interval"] == "85–115" and comp.iloc[1]["Error"] == "-9.0%"
    assert set(report.COMPARISON_FORMATS) <= set(comp.columns)
    rank = report.ranking_view(M)
    assert rank.iloc[0]["AUC"] == 0.81 and rank.iloc[0]["Used for the at-risk list"] == "yes"
    html = report.show_comparison(M)._repr_html_()
    assert "<td>1.00</td><td>-9.0</td><td>100</td>" in html  # mean rank ".2f", log-likelihood ",.1f", predicted ",.0f"
    params = report.params_view(M)
    assert list(params.columns) == ["model", "param", "mean", "lo", "hi", "r_hat", "ess_bulk"]
    assert "0.250</td>" in report.show_params(M)._repr_html_()


def test_figure_inputs_cover_every_plot():
    M = _fitted(holdout=False, warning=False)
    M.grid_ = pd.DataFrame({"frequency": [0, 0, 1, 1], "recency": [0.0, 10.0, 0.0, 10.0],
                            "p_alive": [0.9, 0.9, 0.2, 0.8]})
    M.predictions_["clv"] = [100.0, 300.0, 50.0, 900.0]
    M.ppc_ = pd.DataFrame({"frequency": ["0", "1"], "observed": [3, 1], "predicted": [2.8, 1.1], "lo": [2, 0],
                           "hi": [4, 2]})
    inputs = report.figure_inputs(M)
    assert set(inputs) == {n for n in dir(plots) if n.startswith("plot_")}


def test_publish_writes_results_tables_and_headlines(tmp_path, monkeypatch):
    M = _fitted()
    monkeypatch.setattr(Churn, "results", lambda self: {"model": self.model_, "n_at_risk": 2,
                                                               "holdout": {"covered": False}})
    monkeypatch.setattr(Churn, "tables", lambda self: {"at_risk": self.at_risk_})
    res = Results("churn", tmp_path)
    report.publish(M, res)
    saved = json.loads((tmp_path / "churn.results.json").read_text())
    assert saved["status"] == "ok" and saved["model"] == "mbg_nbd"
    assert saved["holdout"]["statement"] == report.holdout_sentence(M)
    assert [h["label"] for h in saved["headline"]] == ["Revenue at risk (next 26 weeks)", "Customers at risk",
                                                      "Probably gone"]
    assert len(pd.read_csv(tmp_path / "churn.at_risk.csv")) == 2


def test_total_at_risk_reads_the_total_row():
    rar = total_at_risk(_risk_by())
    assert rar == {"mean": 1500.0, "lo": 1000.0, "hi": 2000.0, "lo_param": 1100.0, "hi_param": 1900.0,
                   "interval": "posterior predictive"}
    empty = total_at_risk(_risk_by().iloc[:0])
    assert empty["mean"] == 0.0 and empty["lo_param"] is None


@pytest.mark.parametrize("key,value", [("model", "bgnbd"), ("fit_method", "nuts"), ("priors", "weak"),
                                       ("time_unit", "Y"), ("at_risk_signal", "clv")])
def test_check_params_rejects_unknown_words(key, value):
    from salesbench.core.errors import CheckError

    with pytest.raises(CheckError, match="must be one of") as err:
        Churn.check_params(Churn().get_params() | {key: value})
    assert err.value.key == key


def test_warning_note_says_when_the_early_warning_sampler_did_not_converge():
    M = _fitted(warning=True)
    M.warning_.r_hat_max_, M.warning_.divergences_ = 1.004, 0
    assert "did not fully converge" not in report.warning_note(M)._repr_html_()
    M.warning_.r_hat_max_, M.warning_.divergences_ = 1.034, 2
    html = report.warning_note(M)._repr_html_()
    assert ("The early-warning sampler did not fully converge (R-hat max 1.034, 2 divergent transitions): read its "
            "intervals as approximate.") in html


def test_sentences_of_a_note_join_without_a_space_in_chinese():
    from salesbench.core import i18n

    M = _fitted(warning=True)
    M.warning_.r_hat_max_, M.warning_.divergences_ = 1.034, 2
    with i18n.language("zh-CN"):
        html = report.warning_note(M)._repr_html_()
    assert "。预警模型的采样器未完全收敛（R-hat 最大值 1.034，2 次发散转移）" in html
