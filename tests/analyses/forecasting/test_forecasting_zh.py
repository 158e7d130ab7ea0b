"""The forecasting report in Chinese (lang: zh-CN): every word it shows is Chinese, results.json stays English, and
the English report is unchanged (#15). One small fit of the toy company (two regions, two models)."""
from __future__ import annotations

import json
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from zh_visible_text import english_words, figure_texts, zh_figures  # noqa: E402
from test_forecasting_report import _fake  # noqa: E402

from salesbench.analyses.forecasting import model as F  # noqa: E402
from salesbench.analyses.forecasting import plots as P  # noqa: E402
from salesbench.analyses.forecasting import report as R  # noqa: E402
from salesbench.core import i18n  # noqa: E402
from salesbench.report.results import Results  # noqa: E402

#: names a Chinese analyst reads as they are (error measures, model and method names, the library) and the data
#: values of the toy company (regions N and S)
KEEP = ["MASE", "WAPE", "Holt-Winters ETS(M,A,M)", "ETS", "ARIMA", "Theta", "MinTrace", "mint_shrink", "wls_struct",
        "statsforecast", "BottomUp"]
STAGES = pd.DataFrame({"product_line": ["P1", "P2"], "first_month": ["2023-01-01", "2024-05-01"], "age_months": [36, 20],
                       "stage": ["growth", "decline"],
                       "relative_growth": [0.3, -0.4], "revenue_last_12m": [10.0, 5.0], "revenue_prev_12m": [8.0, 7.0],
                       "growth": [0.25, -0.3], "share": [0.6, 0.4]})


@pytest.fixture
def fit(small_fit):
    """The small fit of the toy company (conftest), shared with the English report tests."""
    return small_fit


def _gap(f):
    """The total's forecast against a target 10% above it, with an actual for the first period."""
    t = f.forecast_[f.forecast_["unique_id"] == "Total"].copy()
    return t.assign(target=t["mean"] * 1.1, gap=-0.1 * t["mean"], gap_pct=-0.1, prob_reach=0.3,
                    actual=[t["mean"].iloc[0], *[float("nan")] * (len(t) - 1)])


def test_every_word_of_the_forecast_report_is_chinese(fit):
    with zh_figures():
        cards = R.headline_cards(fit)
        texts = [c[k] for c in cards for k in ("label", "sub", "value") if c.get(k)]
        texts += R.sentences(fit) + R.method_notes(fit) + [R.coherence_sentence(fit)]
        for view in (R.forecast_view, R.total_backtest_view, R.level_view, R.selection_view, R.coherence_view):
            texts.append(view(fit)._repr_html_())
        for show in (R.show_total_fan, R.show_segment_fans, R.show_backtest_errors):
            fig = show(fit)
            texts += figure_texts(fig)
        fig = P.plot_target_gap(_gap(fit)).figure
        texts += figure_texts(fig)
        texts += figure_texts(P.plot_lifecycle(STAGES).figure, ticks=False)
        texts.append(R._table(STAGES, R.LIFECYCLE_FORMATS)._repr_html_())
        texts += [t.get_text() for t in P.plot_lifecycle(STAGES).get_yticklabels()]
        texts.append(R.show_target_gap(fit)._repr_html_())
        for fake in (_fake(), _fake(metric="repeat_orders"), _fake(targets_=pd.DataFrame(
                {"period": pd.to_datetime(["2025-03-01"])})), _fake(targets_=pd.DataFrame({"period": []}), frequency="W")):
            texts += R.target_sentences(fake)
        texts += [R.no_dimensions_sentence(fit), R.no_product_lines_sentence(fit)]
        plt.close("all")
    assert english_words(texts, KEEP) == []
    joined = "\n".join(map(str, texts))
    assert "预测准确率（1 − WAPE）" in joined and "<th>区域</th>" in joined and "季节性朴素法" in joined
    assert "总计" in joined and "成长期" in joined and "2025年3月" in joined


def test_the_english_report_is_unchanged(fit):
    labels = [c["label"] for c in R.headline_cards(fit)]
    assert labels[1:] == ["Forecast accuracy (1 − WAPE)", "Model for the total"]
    assert R.headline_cards(fit)[1]["sub"] == "backtest: model chosen on 1 origins, scored on the next 1 × 3 periods, after reconciliation"
    notes = R.method_notes(fit)
    assert notes[1] == ("Models: Seasonal naive, Holt-Winters ETS(M,A,M) (statsforecast); series combining 2 or more "
                        "dimensions are tried with Seasonal naive, Holt-Winters ETS(M,A,M), Theta, Combination (median) "
                        "only.")
    assert R.coherence_sentence(fit).startswith("Reconciliation: MinTrace with shrunk residual covariance "
                                                "(mint_shrink) over 3 series (2 bottom series); the largest gap")
    view = R.total_backtest_view(fit)._repr_html_()
    assert "<caption>Total series</caption>" in view and "<th>coverage_80</th>" in view and "(chosen)" in view
    assert [t.get_text() for t in P.plot_target_gap(_gap(fit)).get_xticklabels()][0] == "2024-07"
    plt.close("all")


def test_a_chinese_report_writes_english_results(fit, tmp_path, monkeypatch):
    made = []  # the cards: made once shown and once in English for the keys; once in an English run
    monkeypatch.setattr(R, "headline_cards", lambda m, cards=R.headline_cards: made.append(i18n.get_language())
                        or cards(m))
    with i18n.language("zh-CN"):
        R.publish(fit, Results("forecasting", tmp_path))
    assert sorted(made) == ["en", "zh-CN"]
    R.publish(fit, Results("forecasting", tmp_path / "en"))
    assert made[2:] == ["en"]
    out = json.loads((tmp_path / "forecasting.results.json").read_text(encoding="utf-8"))
    assert [h["label"] for h in out["headline"]][1:] == ["Forecast accuracy (1 − WAPE)", "Model for the total"]
    assert out["accuracy_total_basis"] == "backtest: model chosen on 1 origins, scored on the next 1 × 3 periods, after reconciliation"
    assert out["reconciliation"] == "MinTrace with shrunk residual covariance (mint_shrink)"
    assert all(not re.search(r"[\u4e00-\u9fff]", n) for n in out["notes"])


def test_fit_time_notes_are_english_as_stored_and_chinese_when_shown():
    from types import SimpleNamespace

    from salesbench.analyses.forecasting import reconcile
    from salesbench.core.said import shown

    base = pd.DataFrame({"unique_id": ["Total"], "ds": [pd.Timestamp("2025-01-01")], "mean": [1.0], "lo80": [0.5],
                         "hi80": [1.5], "lo95": [0.2], "hi95": [1.8], "model": ["theta"]})
    with i18n.language("zh-CN"):
        _, used, note = reconcile.reconcile_or_fall_back(base, None, SimpleNamespace(n_series=1))
        fallback = F.SalesForecast(reconciliation="mint_shrink")
        fallback.reconciliation_used_ = "bottom_up"
        label = fallback.reconciliation_label()
        assert shown(note) == "只有一个序列（无层级）：无需层级调和。"
        assert shown(label) == "自下而上（BottomUp）（备选：MinTrace，收缩残差协方差（mint_shrink） 无法运行）"
    assert used == "none" and note == "One series (no hierarchy): nothing to reconcile."
    assert label == ("bottom-up (BottomUp) (fallback: MinTrace with shrunk residual covariance (mint_shrink) could "
                     "not run)")
