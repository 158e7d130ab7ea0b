"""The churn report in Chinese (lang: zh-CN): every word it shows is Chinese, results.json stays English, and the
English report is unchanged (#15). Runs on the hand-made fitted model of test_churn_report (no sampling)."""
from __future__ import annotations

import json
import re
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from zh_visible_text import english_words, figure_texts, zh_figures  # noqa: E402
from test_churn_plots import CASES  # noqa: E402
from test_churn_report import _fitted  # noqa: E402

from salesbench.analyses.churn import choice, clv, report, warning  # noqa: E402
from salesbench.core import i18n  # noqa: E402
from salesbench.core.said import shown  # noqa: E402
from salesbench.report.results import Results  # noqa: E402

#: terms a Chinese analyst reads as they are (acronyms, parameter names, the diagnostics' own names) and the data
#: values of the fixture (regions, ids, model codes and parameter names of the parameter table)
KEEP = ["P(alive)", "calibration_end", "early_warning = false", "R-hat", "bulk ESS", "ESS", "BG/NBD", "MBG/NBD",
        "Pareto/NBD", "AUC", "MAP", "CLV", "CSAT", "mbg_nbd", "alpha", "North", "South",
        "map"]  # the value of fit_method, as the parameter is written


def _with_fit_sentences(M):
    """The fixture with the sentences the model writes at fit time (model choice, ranking, skip, convergence)."""
    M.convergence_ = clv.ChurnModel.convergence(SimpleNamespace(params_=M.clv_model_.params_, spend_params_=None,
                                                                fit_method="map", chains=2))
    M.choice_.reason = choice._model_set("mbg_nbd")
    M.choice_.signal, M.choice_.signal_reason = choice.choose_signal(M.choice_.auc)
    if M.warning_ is None:
        no_tables = SimpleNamespace(has=lambda table: False)
        M.warning_reason_ = warning.fit_early_warning(no_tables, pd.Timestamp("2025-06-30"),
                                                      pd.Timestamp("2020-01-01"), enabled=False)[1]
    return M


def _shown(M) -> list[str]:
    cards = report.headline_cards(M)
    texts = [c[k] for c in cards for k in ("label", "sub") if c.get(k)]
    texts += report.sentences(M) + [report.holdout_sentence(M), report.ranking_sentence(M), report.truth_sentence(M)]
    for show in (report.show_at_risk, report.show_params, report.show_comparison, report.show_ranking,
                 report.convergence_note, report.choice_note):
        texts.append(show(M)._repr_html_())
    for show in (report.show_effects, report.show_holdout_calibration, report.show_revenue_at_risk_by_region,
                 report.show_revenue_at_risk_by_segment_and_rep):
        out = show(M)
        texts += figure_texts(out) if hasattr(out, "axes") else [out._repr_html_()]
    return texts


@pytest.mark.parametrize("holdout,warn", [(True, True), (False, False)], ids=["holdout+warning", "fallbacks"])
def test_every_word_of_the_churn_report_is_chinese(holdout, warn):
    M = _with_fit_sentences(_fitted(holdout=holdout, warning=warn))
    with zh_figures():
        texts = _shown(M)
    assert english_words(texts, KEEP) == []
    joined = "\n".join(map(str, texts))
    assert "风险收入（未来 26 周）" in joined and "正在流失" in joined and "客户分群" in joined
    if holdout:
        assert "实际值高于 94% 预测区间" in joined and "能明确预测流失的信号：投诉（每个标准差的几率比 ×1.82）" in joined
    else:
        assert "没有留出期检验" in joined and "流失预警模型已关闭（early_warning = false）。" in joined


@pytest.mark.parametrize("fn,frame,kw", CASES, ids=[c[0].__name__ for c in CASES])
def test_every_churn_figure_speaks_chinese(fn, frame, kw):
    with zh_figures():
        fig, ax = plt.subplots()
        fn(frame, ax=ax, **kw)
        texts = [t for t in figure_texts(fig) if t not in ("x", "0", "1", "2+")]
        plt.close(fig)
    assert english_words(texts, KEEP) == []
    assert any(re.search(r"[\u4e00-\u9fff]", t) for t in texts)


def test_the_english_report_is_unchanged():
    M = _with_fit_sentences(_fitted(warning=True))
    cards = report.headline_cards(M)
    assert [(c["label"], c["sub"]) for c in cards] == [
        ("Revenue at risk (next 26 weeks)", "94% predictive interval 1.0k–2.0k"),
        ("Customers at risk", "P(alive) < 50%, CLV in the top 50%"),
        ("Probably gone", "1 of 4 customers with P(alive) < 30%"),
        ("Customer base value (12 months)", "94% interval 8.0k–10.0k (parameter uncertainty only)")]
    assert report.sentences(M)[1:] == [
        "2 high-value customers are at risk: 1.5k of revenue over the next 26 weeks (94% predictive interval "
        "1.0k–2.0k) if they have left. The largest part is in North (1.2k).",
        "Model set by the parameters: mbg_nbd.",
        "Ranked by the probability of buying within the horizon, the signal that best ranked who bought again in the "
        "holdout: AUC 0.810 (recency alone: 0.750).",
        "Signs that clearly predict churn: Complaints (odds ×1.82 per standard deviation). Not distinguishable from "
        "no effect: CSAT drop."]
    assert report.holdout_sentence(M) == (
        "Holdout test over 26.0 weeks after 2025-06-30: the model predicted 100 purchases (94% predictive interval "
        "85–105; purchase noise only, a MAP fit has no parameter uncertainty); customers made 120, -16.7% off. The "
        "actual lies above the 94% predictive interval: the miss is larger than chance explains, so the model's "
        "forecasts for this data are biased low by about 17%. Mean absolute error per customer: 0.42 purchases.")
    assert "<th>Revenue at risk</th>" in report.show_at_risk(M)._repr_html_()
    assert "map fit: R-hat and effective sample size do not apply." in report.convergence_note(M)._repr_html_()


def test_a_chinese_report_writes_english_results(tmp_path, monkeypatch):
    M = _with_fit_sentences(_fitted())
    monkeypatch.setattr(type(M), "results", lambda self: {"holdout": {}, "model_choice": {"reason": self.choice_.reason},
                                                          "ranking": {"reason": self.choice_.signal_reason}})
    monkeypatch.setattr(type(M), "tables", lambda self: {})
    made = []  # the cards: made once shown and once in English for the keys; once in an English run
    monkeypatch.setattr(report, "headline_cards", lambda m, cards=report.headline_cards: made.append(i18n.get_language())
                        or cards(m))
    with i18n.language("zh-CN"):
        report.publish(M, Results("churn", tmp_path))
    assert sorted(made) == ["en", "zh-CN"]
    report.publish(M, Results("churn", tmp_path / "en"))
    assert made[2:] == ["en"]
    out = json.loads((tmp_path / "churn.results.json").read_text(encoding="utf-8"))
    assert [h["label"] for h in out["headline"]] == ["Revenue at risk (next 26 weeks)", "Customers at risk",
                                                     "Probably gone"]
    assert out["holdout"]["statement"].startswith("Holdout test over 26.0 weeks after 2025-06-30")
    assert out["model_choice"]["reason"] == "Model set by the parameters: mbg_nbd."
    assert out["ranking"]["reason"].startswith("Ranked by the probability of buying within the horizon")


def test_the_convergence_message_is_stored_in_english_and_shown_in_chinese():
    params = pd.DataFrame({"r_hat": [1.05, 1.0], "ess_bulk": [150.0, 900.0]})
    fit = SimpleNamespace(params_=params, spend_params_=None, fit_method="mcmc", chains=2)
    with i18n.language("zh-CN"):
        bad = clv.ChurnModel.convergence(fit)
        good = clv.ChurnModel.convergence(SimpleNamespace(**{**vars(fit), "params_": params.assign(r_hat=1.0, ess_bulk=900.0)}))
        assert report.convergence_alert(SimpleNamespace(convergence_=bad)) is not None
        assert shown(bad["message"]) == "收敛有问题：R-hat 1.050 ≥ 1.01; bulk ESS 150 < 200。区间不可靠；请增加 draws/tune 或检查数据。"
        assert "收敛有问题" in report.convergence_note(SimpleNamespace(convergence_=bad))._repr_html_()
        assert english_words([shown(good["message"])], KEEP) == []
    assert bad["message"] == ("Convergence problem: R-hat 1.050 ≥ 1.01; bulk ESS 150 < 200 Treat intervals as "
                              "unreliable; increase draws/tune or check the data.")
    assert good["message"] == "Sampler converged: R-hat max 1.000, bulk ESS min 900."
