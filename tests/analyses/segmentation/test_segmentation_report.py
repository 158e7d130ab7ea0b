"""Segmentation report.py and plots.py: words, views and figures on a small hand-made data set."""
from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import salesbench as sb  # noqa: E402
from salesbench.analyses.segmentation import model as seg, plots, report  # noqa: E402
from salesbench.core.errors import CheckError  # noqa: E402
from salesbench.report import params  # noqa: E402
from salesbench.report.results import Results  # noqa: E402


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(4)
    n = 300
    o = pd.DataFrame({"customer_id": [f"c{i % 30:02d}" for i in range(n)],
                      "order_date": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 540, n), unit="D"),
                      "revenue": rng.gamma(2, 100, n)})
    return seg.Segmentation(k=3).fit(sb.Dataset.from_frames({"orders": o}))


def test_sentences_and_cards_state_the_numbers(fitted):
    S = fitted
    text = report.sentences(S)
    assert text[0].startswith(f"As of {S.as_of_.isoformat()}, 30 customers bought since the data begins; the top 20% ")
    assert text[0].endswith(f"make {sb.viz.fmt_pct(S.top_share_)} of revenue.")
    top = S.rfm_summary_.sort_values("revenue_share", ascending=False).iloc[0]
    assert f"The largest revenue segment is {top['segment']} (" in " ".join(text)
    words = report.cluster_sentences(S)
    assert words[0] == f"K-means found 3 clusters (mean silhouette {S.cluster_result_.silhouette:.2f})."
    assert len(words) == 4 and all(w.startswith(f"Cluster {i}: ") for i, w in zip((1, 2, 3), words[1:]))
    cards = {c["label"]: c for c in report.headline_cards(S)}
    assert cards["Customers analysed"]["value"] == "30" and cards["Behavioural clusters"]["value"] == "3"
    assert cards["Top 20% of customers make"]["value"] == sb.viz.fmt_pct(S.top_share_)


def test_views_format_the_report_columns(fitted):
    html = report.rfm_view(fitted).markup
    assert "<th>avg_order_value</th>" in html and "<th>revenue</th>" not in html  # the report's column list
    assert "<th>value_share</th>" in report.tier_view(fitted).markup
    assert "<th>profile</th>" in report.cluster_view(fitted).markup
    calls = fitted.call_list()
    assert set(calls["rfm_segment"]) <= {"At risk", "Can't lose"} and calls["revenue"].is_monotonic_decreasing
    assert report.call_list_view(fitted).markup.count("<tr>") == min(len(calls), 15) + 1


def test_skipped_tiers_show_the_sentence_instead_of_the_pareto():
    o = pd.DataFrame({"customer_id": ["a", "b", "c", "a"], "revenue": [0.0, 0.0, 0.0, 0.0],
                      "order_date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-03-05"])})
    S = seg.Segmentation().fit(sb.Dataset.from_frames({"orders": o}))
    shown = report.show_pareto(S)
    assert "Value tiers were skipped: the total revenue is" in shown.markup
    assert report.tier_view(S).markup == ""
    assert "plot_pareto" not in report.figure_inputs(S)


def test_publish_saves_the_results(fitted, tmp_path):
    res = Results("segmentation", tmp_path)
    report.publish(fitted, res)
    doc = json.loads((tmp_path / "segmentation.results.json").read_text())
    assert doc["status"] == "ok" and doc["n_customers"] == 30 and doc["clusters"]["k"] == 3
    assert pd.read_csv(tmp_path / "segmentation.customers.csv").shape[0] == 30


@pytest.mark.parametrize("name", ["plot_segments", "plot_pareto", "plot_migration", "plot_clusters_2d",
                                  "plot_lifecycle", "plot_breakdown"])
def test_each_plot_draws_on_its_ax(fitted, name):
    S = fitted.__class__(k=3)
    vars(S).update({k: v for k, v in vars(fitted).items() if k.endswith("_")})
    S.breakdowns_ = {"region": seg.segment_breakdown(fitted.customers_.assign(region=["N", "S"] * 15), "region")}
    args, kwargs = report.figure_inputs(S)[name]
    fig, ax = plt.subplots()
    try:
        assert getattr(plots, name)(*args, ax=ax, **kwargs) is ax
        assert len(ax.patches) + len(ax.lines) + len(ax.collections) + len(ax.texts) > 0
    finally:
        plt.close(fig)
    created = getattr(plots, name)(*args, **kwargs)  # without ax: a new figure of the report's size
    try:
        assert created.figure is not fig and created.get_title()
    finally:
        plt.close(created.figure)


def test_check_params_moved_to_the_class():
    ok = params.defaults("segmentation")
    seg.Segmentation.check_params(ok)
    with pytest.raises(CheckError, match="k_max"):
        seg.Segmentation.check_params({**ok, "k_min": 9})
    with pytest.raises(CheckError, match="unknown cluster feature 'colour'"):
        seg.Segmentation.check_params({**ok, "cluster_weights": {"colour": 1.0}})
    assert params.declaration("segmentation").check.endswith("model:Segmentation.check_params")
