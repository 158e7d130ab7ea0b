"""The segmentation report in zh-CN: every card, sentence, table header, label and figure text is Chinese;
English output and the machine-read results stay as they were."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import salesbench as sb  # noqa: E402
from salesbench.analyses.segmentation import model as seg, plots, report  # noqa: E402
from salesbench.core import i18n  # noqa: E402
from zh_visible_text import english_words, has_cjk, visible_texts  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")  # the CJK font is set by the theme


def _orders(n_customers: int = 40, n: int = 400, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cid = rng.integers(0, n_customers, n)
    return pd.DataFrame({"customer_id": [f"c{i:02d}" for i in cid],
                         "order_date": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 540, n), unit="D"),
                         "revenue": rng.gamma(2, 100, n) * (1 + 20 * (cid < 4)),
                         "channel": np.where(cid % 3 == 0, "online", "direct")})


@pytest.fixture(scope="module")
def fitted():
    return seg.Segmentation(k=3, migration_days=120).fit(sb.Dataset.from_frames({"orders": _orders()}))


def _report_texts(S) -> list[str]:
    texts = visible_texts(report.headline_cards(S)) + report.sentences(S) + report.cluster_sentences(S)
    for view in (report.rfm_view, report.tier_view, report.cluster_view, report.call_list_view):
        texts += visible_texts(view(S))
    for name, (args, kwargs) in report.figure_inputs(S).items():
        ax = getattr(plots, name)(*args, **kwargs)
        texts += visible_texts(ax.figure)
        plt.close(ax.figure)
    return texts


def test_every_visible_word_is_chinese_in_zh_cn(fitted):
    with i18n.language("zh-CN"):
        texts = _report_texts(fitted)
    assert english_words(texts) == []
    joined = " ".join(texts)
    assert "冠军客户" in joined or "重要挽留客户" in joined  # segment names as labels
    assert "客户数占比" in joined and "价值层级" in joined  # table headers
    assert "K-means 聚类得到 3 个客户类别" in joined
    with i18n.language("zh-CN"):
        cards = {c["label"]: c for c in report.headline_cards(fitted)}
    day = fitted.as_of_
    assert cards["分析客户数"]["value"] == "40" and cards["分析客户数"]["sub"] == f"截至 {day.year}年{day.month}月{day.day}日"


def test_english_is_unchanged_and_exports_stay_english_after_a_zh_report(fitted):
    S = fitted
    before = (report.sentences(S), report.cluster_sentences(S), report.headline_cards(S), report.rfm_view(S).markup)
    with i18n.language("zh-CN"):
        zh_sentences = report.sentences(S)
        results = S.results()
    assert all(has_cjk(s) for s in zh_sentences)
    assert (report.sentences(S), report.cluster_sentences(S), report.headline_cards(S), report.rfm_view(S).markup) == before
    text = before[0]
    assert text[0].startswith(f"As of {S.as_of_.isoformat()}, 40 customers bought since the data begins; the top 20% ")
    first = S.tier_summary_.iloc[0]
    assert text[1] == (f"{first['customers']} {first['tier']} customers ({sb.viz.fmt_pct(first['customer_share'], 1)} of "
                       f"the base) make {sb.viz.fmt_pct(first['value_share'])} of revenue.")
    assert [c["label"] for c in before[2]][:2] == ["Customers analysed", "Top 20% of customers make"]
    assert "<th>avg_order_value</th>" in before[3]
    # the profiles shown in English are the exported ones; the results hold English words only
    assert before[1][1] == (f"Cluster 1: {S.clusters_.profile.iloc[0]} — {S.clusters_.customers.iloc[0]} customers, "
                            f"{sb.viz.fmt_pct(S.clusters_.revenue_share.iloc[0])} of revenue.")
    assert all(p.endswith(("buyers", "direct", "online", "lapsed", "active")) for p in S.clusters_.profile)
    assert not any(has_cjk(str(v)) for v in results["clusters"]["profiles"].values())


def test_skip_reasons_are_shown_in_chinese_and_stored_in_english():
    o = pd.DataFrame({"customer_id": ["a", "b", "a"], "revenue": [0.0, 0.0, 0.0],
                      "order_date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-05"])})
    with i18n.language("zh-CN"):  # the kernel's language is set before the model is fitted
        S = seg.Segmentation().fit(sb.Dataset.from_frames({"orders": o}))
        shown = visible_texts(report.show_pareto(S)) + report.cluster_sentences(S) + report.sentences(S)
        cards = visible_texts(report.headline_cards(S))
    assert S.tiers_skipped_ == ("Value tiers were skipped: the total revenue is 0, "
                                "and tiers share out a positive total.")
    assert S.clusters_skipped_ == "Behavioural clusters were skipped: clustering needs at least 3 customers and the data has 2."
    assert S.results()["clusters"]["skipped"] == S.clusters_skipped_
    assert "未进行价值分层：销售额总额为 0，而分层需要总额为正。" in shown
    assert "未进行行为聚类：聚类至少需要 3 位客户，而数据中只有 2 位。" in shown
    assert english_words(shown + cards) == []
