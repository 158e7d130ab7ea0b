"""Odd but valid data never breaks segmentation, funnel, performance or data_quality (issue 10).

* Text from the data (names, regions, teams, product lines) reaches figures
  literally — never as mathtext — and HTML escaped.
* Tiny data (1 customer / 1 order, 1 customer with 3 orders, 2 months, 1 rep,
  1 deal, only lost or only open deals) renders what it can, or the report is
  skipped with a one-line reason; never a failed run.
* Unknown stage names in stage_history are counted and named with the fix.
* Zero or negative revenue, no team, NaN targets, an as_of before the first order.

Companies come from :mod:`tiny_company`; notebooks run in process with
:mod:`notebook_exec` (no kernel) except for one end-to-end ``salesbench run``.
"""
from __future__ import annotations

import io
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402

import salesbench as sb  # noqa: E402
import tiny_company  # noqa: E402
from notebook_exec import run_notebook  # noqa: E402
from salesbench.analyses.performance import report as performance_report  # noqa: E402
from salesbench.analyses.funnel import plots as funnel_plots
from salesbench.analyses.funnel import report as funnel_report
from salesbench.analyses.funnel.deals import unknown_stage_rows
from salesbench.analyses.funnel.model import Funnel
from salesbench.analyses.performance import model as performance
from salesbench.analyses.segmentation import model as seg  # noqa: E402
from salesbench.analyses.segmentation import plots as seg_plots, report as seg_report  # noqa: E402
from salesbench.report.results import ReportSkipped, Results  # noqa: E402

HOSTILE = [r"$x^$ Region", r"Price $\notacommand$", r"a\b $10 and $20 <b>x</b>"]
NAME = r"$x^$ Price $\notacommand$ <b>"  # one string with every hazard, for whole companies


def _drawn(fig) -> list[str]:
    """Draw ``fig`` to PNG (mathtext errors surface here) and return the text of every Text artist."""
    fig.savefig(io.BytesIO(), format="png")
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def _literal(fig) -> bool:
    """No Text artist of ``fig`` would be parsed as mathtext."""
    return all(not t._preprocess_math(t.get_text())[1] for t in fig.findobj(Text) if t.get_text())


def _ds(**kw):
    return sb.Dataset.from_frames(tiny_company.company(**kw))


# =========================================================================== 1. data text in figures
def test_theme_draws_data_text_literally():
    import seaborn as sns

    sb.viz.apply_theme()
    fig, ax = plt.subplots()
    frame = pd.DataFrame({"name": HOSTILE, "v": [1.0, 2.0, 3.0]})
    sns.barplot(data=frame, x="name", y="v", hue="name", ax=ax, legend=True)
    ax.set_title(HOSTILE[0])
    ax.set_xlabel(HOSTILE[1])
    ax.annotate(HOSTILE[2], (0, 1))
    ax.text(0, 2, HOSTILE[0])
    texts = _drawn(fig)
    for s in HOSTILE:
        assert texts.count(s) >= 2, (s, texts)  # tick label and legend (and title/label/annotation)
    assert _literal(fig)  # '$10 and $20' would otherwise be drawn as math without an error
    plt.close(fig)


def test_plotting_functions_draw_names_literally():
    sb.viz.apply_theme()
    # segmentation: segment names, region names (heatmap ticks), cluster profiles (legend)
    summary = pd.DataFrame({"segment": HOSTILE, "customers": [1, 2, 3], "customer_share": [0.2, 0.3, 0.5],
                            "revenue_share": [0.5, 0.3, 0.2]})
    fig, ax = plt.subplots()
    seg_plots.plot_segments(summary, ax=ax)
    assert set(HOSTILE) <= set(_drawn(fig)) and _literal(fig)
    breakdown = pd.DataFrame({"region": HOSTILE, "segment": HOSTILE[::-1], "share_of_group": [1.0, 1.0, 1.0]})
    fig, ax = plt.subplots()
    seg_plots.plot_breakdown(breakdown, "region", HOSTILE, ax=ax)
    assert set(HOSTILE) <= set(_drawn(fig)) and _literal(fig)
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(9, 3)))
    labels = pd.Series([1, 2, 3] * 3)
    fig, ax = plt.subplots()
    seg_plots.plot_clusters_2d(X, labels, dict(zip([1, 2, 3], HOSTILE)), ax=ax)
    assert {f"{c}: {p}" for c, p in zip([1, 2, 3], HOSTILE)} <= set(_drawn(fig)) and _literal(fig)
    # funnel: team names on the coverage chart, rep labels on the shrinkage plot
    cov = pd.DataFrame({"team": HOSTILE, "coverage": [1.0, 2.0, 4.0], "coverage_unweighted": [2.0, 3.0, 5.0],
                        "status": ["red", "amber", "green"]})
    fig, ax = plt.subplots()
    funnel_plots.plot_coverage(cov, key="team", threshold=3.0, ax=ax)
    assert set(HOSTILE) <= set(_drawn(fig)) and _literal(fig)
    pooled = pd.DataFrame({"rep_id": HOSTILE, "trials": [4, 5, 6], "raw_rate": [0.2, 0.4, 0.5],
                           "mean": [0.3, 0.4, 0.45], "lo": [0.1, 0.2, 0.3], "hi": [0.5, 0.6, 0.7]})
    fig, ax = plt.subplots()
    funnel_plots.plot_rep_shrinkage(pooled, label="rep_id", population=0.4, ax=ax)
    assert set(HOSTILE) <= {t.split(" (")[0] for t in _drawn(fig)} and _literal(fig)
    fig, ax = plt.subplots()
    sb.viz.interval_plot(pooled, "rep_id", "mean", "lo", "hi", ax=ax)
    assert set(HOSTILE) <= set(_drawn(fig)) and _literal(fig)
    plt.close("all")


@pytest.fixture(scope="module")
def hostile_company(tmp_path_factory):
    """12 customers, 3 reps, 2 regions, 8 deals over 6 months; every name, region, team, product line is NAME.

    Three deals entered a stage the funnel does not know ('Qualified' instead of 'contact').
    """
    frames = tiny_company.company(customers=12, orders=3, months=6, reps=3, opportunities=8, regions=2, text=NAME)
    h = frames["stage_history"]
    h.loc[h.index[(h["stage"] == "contact").to_numpy()][:3], "stage"] = "Qualified"
    return tiny_company.write(tmp_path_factory.mktemp("hostile"), frames)


# notebook -> (hostile names drawn in its figures, shown in its HTML tables); data_quality shows column names only,
# segmentation's tables show customer ids and segment names
_SHOWS_NAMES = {"segmentation": (True, False), "funnel": (True, True), "performance": (True, True),
                "data_quality": (False, False)}


@pytest.mark.parametrize("name", list(_SHOWS_NAMES))
def test_reports_draw_and_escape_hostile_names(name, hostile_company, tmp_path, monkeypatch):
    extra = dict(mcmc_draws=30, mcmc_tune=30, mcmc_chains=1) if name == "funnel" else {}
    run = run_notebook(name, monkeypatch, data=str(hostile_company), out_dir=str(tmp_path), **extra)
    assert run.namespace["res"].status == "ok"
    assert run.figures
    in_figures, in_html = _SHOWS_NAMES[name]
    if in_figures:
        assert NAME in "\n".join(run.texts), run.texts  # literally, '$' and backslash included
    html = run.all_html
    assert NAME not in html  # data text never becomes markup
    if in_html:
        assert sb.viz.esc(NAME) in html
    if name == "funnel":  # the unknown stage sentence comes right after the headline cards, as a warning
        assert "sb-warn" in run.html[1] and "3 stage_history rows name a stage" in run.html[1]
        assert "&#x27;Qualified&#x27; (3 rows)" in run.html[1] and "stages parameter" in run.html[1]
        out = json.loads((tmp_path / "funnel.results.json").read_text())
        assert out["unknown_stage_rows"] == 3 and out["unknown_stages"] == {"Qualified": 3}


# =========================================================================== 2. tiny data
def test_segmentation_one_customer_renders_rfm_and_tiers_and_says_why_no_clusters(tmp_path):
    S = seg.Segmentation().fit(_ds())
    assert len(S.customers_) == 1 and S.customers_["rfm_segment"].iloc[0] in S.rules
    assert S.tier_summary_["customers"].sum() == 1 and S.tiers_skipped_ is None
    assert S.cluster_result_ is None
    assert seg_report.cluster_sentences(S) == ["Behavioural clusters were skipped: clustering needs at least 3 customers "
                                     "and the data has 1."]
    cards = seg_report.headline_cards(S)
    assert any(c["label"] == "Behavioural clusters" and c["value"] == "–" for c in cards)
    res = Results("segmentation", tmp_path)
    seg_report.publish(S, res)
    out = json.loads((tmp_path / "segmentation.results.json").read_text())
    assert out["status"] == "ok" and out["n_customers"] == 1
    assert out["clusters"]["k"] is None and "at least 3 customers" in out["clusters"]["skipped"]
    assert pd.read_csv(tmp_path / "segmentation.customers.csv")["cluster"].isna().all()


def test_segmentation_identical_customers_skip_clusters_with_the_reason():
    S = seg.Segmentation().fit(_ds(customers=5, orders=3, months=2))  # 5 customers, the same behaviour
    assert S.cluster_result_ is None
    assert "the same for all customers" in seg_report.cluster_sentences(S)[0]
    S = seg.Segmentation().fit(_ds(orders=3, months=2))  # 1 customer, 3 orders
    assert S.customers_["frequency"].iloc[0] == 3 and S.cluster_result_ is None
    assert len(seg_report.sentences(S)) >= 2


@pytest.mark.parametrize("revenue", [0.0, -40.0])
def test_segmentation_zero_or_negative_revenue_skips_tiers_in_one_sentence(revenue):
    import warnings

    with warnings.catch_warnings():  # nothing noisy printed into the report (no discount median of nothing)
        warnings.simplefilter("error", RuntimeWarning)
        S = seg.Segmentation().fit(_ds(customers=6, orders=2, months=3, revenue=revenue))
    assert S.tiers_skipped_.startswith("Value tiers were skipped: the total profit is ")
    assert S.tiers_skipped_ in seg_report.sentences(S)
    assert S.tier_summary_.empty and (S.customers_["tier"] == seg.NO_TIER).all()
    out = S.results()
    assert out["tiers"] == {} and out["tiers_skipped"] == S.tiers_skipped_
    assert out["top_fraction_profit_share"] is None  # results() is plain JSON: no share without tiers (null, as results.json always had)


def test_segmentation_as_of_before_the_first_order_is_a_skip_with_the_reason():
    with pytest.raises(ReportSkipped, match=r"no customer has an order in the analysis window \(orders on or before 2023-06-30\)"):
        seg.Segmentation(as_of="2023-06-30").fit(_ds())


def test_skipping_block_records_the_reason(tmp_path):
    res = Results("performance", tmp_path)
    with pytest.raises(ReportSkipped):
        with res.skipping():
            raise ReportSkipped("no full quarter of orders yet")
    out = json.loads((tmp_path / "performance.results.json").read_text())
    assert out["status"] == "skipped" and out["reason"] == "no full quarter of orders yet"


@pytest.mark.parametrize("kw", [dict(), dict(lost_only=True, opportunities=3, customers=2),
                                dict(open_deals=True, opportunities=3, customers=2)],
                         ids=["one deal", "only lost", "only open"])
def test_funnel_on_tiny_pipelines(kw):
    rep = Funnel(pooled_by=["rep_id"] if kw.get("open_deals") else []).fit(_ds(**kw))  # pooling: only without MCMC
    out = rep.results()
    assert out["n_opportunities"] == kw.get("opportunities", 1)
    if kw.get("lost_only"):
        assert out["win_rate"] == 0.0
    for view in (funnel_report.conversion_view, funnel_report.breakdown_view, funnel_report.cycle_view,
                 funnel_report.sla_view, funnel_report.breaches_view, funnel_report.stuck_view,
                 funnel_report.velocity_view, funnel_report.coverage_view):
        view(rep)  # the empty SLA and stuck tables are untyped: these used to raise TypeError
    funnel_report.headline_cards(rep)
    funnel_report.sentences(rep)
    if kw.get("open_deals"):  # nothing closed: nothing to pool, no model fitted
        assert rep.pooled_["rep_id"] is None


def test_funnel_without_deals_in_scope_is_a_skip_with_the_reason():
    with pytest.raises(ReportSkipped, match="no opportunity was created on or before 2023-06-30"):
        Funnel(as_of="2023-06-30").fit(_ds())


# =========================================================================== 3. unknown stage names
def _unknown_stage_company():
    frames = tiny_company.company(customers=3, orders=2, months=3, opportunities=5)
    h = frames["stage_history"]
    h.loc[h["stage"] == "contact", "stage"] = "Qualified"
    extra = h[h["stage"] == "proposal"].assign(stage="Demo Scheduled")
    frames["stage_history"] = pd.concat([h, extra.iloc[:2]], ignore_index=True)
    return frames


def test_unknown_stage_rows_counted_in_the_engine():
    ds = sb.Dataset.from_frames(_unknown_stage_company())
    counts = unknown_stage_rows(ds.table("stage_history"), ["lead", "contact", "proposal", "won"])
    assert counts == {"Qualified": 5, "Demo Scheduled": 2}
    # case does not make a stage unknown; lost is always known
    assert unknown_stage_rows(ds.table("stage_history"),
                              ["LEAD", "QUALIFIED", "demo scheduled", "proposal", "won"]) == {}


def test_funnel_names_unknown_stages_with_the_fix(tmp_path):
    ds = sb.Dataset.from_frames(_unknown_stage_company())
    rep = Funnel(stages=["lead", "contact", "proposal", "won"], sla_hours={}, pooled_by=[]).fit(ds)
    sentence = funnel_report.unknown_stage_sentence(rep)
    assert sentence.startswith("7 stage_history rows name 2 stages that are not in the funnel's stages and were ignored: "
                               "'Qualified' (5 rows), 'Demo Scheduled' (2 rows).")
    assert "stages parameter (params/funnel.yaml" in sentence
    res = Results("funnel", tmp_path)
    funnel_report.publish(rep, res)
    out = json.loads((tmp_path / "funnel.results.json").read_text())
    assert out["unknown_stage_rows"] == 7 and out["unknown_stages"] == {"Qualified": 5, "Demo Scheduled": 2}
    clean = Funnel(stages=["lead", "contact", "proposal", "won"], sla_hours={},
                   pooled_by=[]).fit(sb.Dataset.from_frames(tiny_company.company()))
    assert funnel_report.unknown_stage_sentence(clean) is None and clean.results()["unknown_stage_rows"] == 0



# =========================================================================== 2 + 4. performance on tiny and odd data
def test_performance_without_a_full_review_period_is_skipped_with_the_reason():
    with pytest.raises(ReportSkipped, match=r"no full quarter of orders yet: the last full quarter ending on or before "
                                            r"2024-01-03 is 2023-Q4, and the orders run from 2024-01-03 to 2024-01-03 "
                                            r"\(try -p period=month\)"):
        performance.PerformanceReview(period="quarter").fit(_ds())
    with pytest.raises(ReportSkipped, match="no orders on or before 2023-06-30"):
        performance.PerformanceReview(as_of="2023-06-30").fit(_ds(customers=3, orders=4, months=4))


def _nan_targets(**kw):
    frames = tiny_company.company(**kw)
    frames["targets"]["value"] = np.nan
    return sb.Dataset.from_frames(frames)


@pytest.mark.parametrize("make", [
    lambda: _ds(orders=3, months=2),  # 1 customer, 3 orders, monthly review
    lambda: _ds(customers=3, orders=4, months=4, reps=2, teams=False),
    lambda: _ds(customers=3, orders=4, months=4, reps=2, revenue=0.0),
    lambda: _ds(customers=3, orders=4, months=4, reps=2, revenue=-20.0),
    lambda: _nan_targets(customers=3, orders=4, months=4, reps=2),
], ids=["1 customer 3 orders", "rep without team", "zero revenue", "negative revenue", "NaN targets"])
def test_performance_review_on_odd_data(make, tmp_path):
    ds = make()
    period = "month" if len(ds.table("orders").to_pandas()) == 3 else "quarter"
    rv = performance.PerformanceReview(period=period).fit(ds)
    res = Results("performance", tmp_path)
    performance_report.publish(rv, res)
    performance_report.headline_cards(rv)
    performance_report.sentences(rv)
    performance_report.warning_frame(rv)
    res.save()
    assert json.loads((tmp_path / "performance.results.json").read_text())["status"] == "ok"


# =========================================================================== end to end
def test_run_on_a_one_order_company_never_fails(tmp_path, run_report):
    """One customer with one order, one rep, one deal, hostile names: exit 0, every report ok or skipped with a reason."""
    data = tiny_company.write(tmp_path / "data", tiny_company.company(text=NAME))
    run = run_report(["segmentation", "funnel", "performance", "data_quality"], data=data, out=tmp_path / "out",
                     args=["-j", "2"], check=False,
                     params={"funnel.mcmc_draws": 30, "funnel.mcmc_tune": 30, "funnel.mcmc_chains": 1})
    out, proc = run.out_dir, run.proc
    assert run.results["performance"]["status"] == "skipped" and run.results["segmentation"]["status"] == "ok"
    assert proc.returncode == 0, proc.stdout + proc.stderr
    reports = {r["name"]: r for r in json.loads((out / "manifest.json").read_text())["reports"]}
    assert {n: r["status"] for n, r in reports.items()} == {
        "segmentation": "ok", "funnel": "ok", "performance": "skipped", "data_quality": "ok"}
    assert reports["performance"]["reason"].startswith("no full quarter of orders yet")
    assert "skipped: no full quarter of orders yet" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    seg_html = (out / "segmentation.html").read_text()
    assert "Behavioural clusters were skipped: clustering needs at least 3 customers and the data has 1." in seg_html
    assert not (out / "performance.html").exists()


def test_funnel_without_sla_rules_shows_empty_breach_tables():
    rep = Funnel(sla_hours={}, pooled_by=[]).fit(_ds(opportunities=2))
    assert funnel_report.breaches_view(rep).empty and funnel_report.sla_view(rep).shape[0] == 0
    assert rep.results()["sla_breach_rate"] == {}


def test_funnel_with_reps_without_team_and_nan_targets():
    frames = tiny_company.company(customers=3, orders=2, months=3, opportunities=4, reps=2, teams=False)
    frames["targets"]["value"] = np.nan
    rep = Funnel(pooled_by=[]).fit(sb.Dataset.from_frames(frames))
    assert "team" not in rep.win_by_ and rep.coverage_by_team_.empty
    cards = funnel_report.headline_cards(rep)
    assert cards[-1]["label"] in ("Sales velocity", "Pipeline coverage")
    funnel_report.sentences(rep)
    funnel_report.coverage_view(rep)


def test_one_customer_and_one_deal_read_in_the_singular():
    S = seg.Segmentation().fit(_ds())
    text = " ".join(seg_report.sentences(S))
    assert "1 high-value customer (100.0% of the base)" in text and "(1 customer, 100% of revenue)" in text
    assert "1 opportunity is in scope" in funnel_report.sentences(Funnel(pooled_by=[]).fit(_ds()))[0]
