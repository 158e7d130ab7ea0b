"""Segmentation: unit tests on hand-made tables with hand-computed answers."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import salesbench as sb
from salesbench.analyses.segmentation import model as seg, report


# ----------------------------------------------------------------------------- quantile scores
def test_quintile_scores_distinct_values():
    v = pd.Series([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], index=list("abcdefghij"))
    assert seg.quantile_scores(v).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    # lower is better (recency): the smallest value gets 5
    assert seg.quantile_scores(v, higher_is_better=False).tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]


def test_quintile_scores_ties_first_and_min():
    # six one-time buyers: 'first' spreads them over scores 1-3 by the tie-break (id), 'min' keeps them together
    v = pd.Series([1, 1, 1, 1, 1, 1, 2, 3, 4, 5], index=["f", "e", "d", "c", "b", "a", "g", "h", "i", "j"])
    first = seg.quantile_scores(v, ties="first")
    assert first.to_dict() == {"a": 1, "b": 1, "c": 2, "d": 2, "e": 3, "f": 3, "g": 4, "h": 4, "i": 5, "j": 5}
    mins = seg.quantile_scores(v, ties="min")
    assert mins.tolist() == [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]
    # deterministic: shuffling the input does not change any customer's score
    shuffled = v.sample(frac=1, random_state=3)
    assert seg.quantile_scores(shuffled, ties="first").to_dict() == first.to_dict()
    # group sizes differ by at most one even when 90% of the values are tied
    tied = pd.Series([1] * 90 + list(range(2, 12)), index=[f"c{i:03d}" for i in range(100)])
    assert seg.quantile_scores(tied).value_counts().tolist() == [20] * 5
    with pytest.raises(ValueError, match="ties"):
        seg.quantile_scores(v, ties="dense")


def test_rfm_scores_frequency_ties_broken_by_money():
    f = pd.DataFrame({
        "customer_id": list("abcdefghij"),
        "recency_days": [5, 10, 20, 40, 80, 160, 200, 300, 400, 500],
        "frequency": [1, 1, 1, 1, 2, 2, 3, 5, 8, 13],
        "revenue": [100.0, 400.0, 300.0, 200.0, 50.0, 60.0, 70.0, 80.0, 90.0, 1000.0],
    })
    r = seg.rfm_scores(f).set_index("customer_id")
    assert r["r_score"].tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    # one-time buyers a-d: by money d(200)... ranks a(100)<d(200)<c(300)<b(400) -> F 1,1,2,2
    assert r.loc[["a", "d", "c", "b"], "f_score"].tolist() == [1, 1, 2, 2]
    assert r.loc[["e", "f", "g", "h", "i", "j"], "f_score"].tolist() == [3, 3, 4, 4, 5, 5]
    assert r.loc["j", "m_score"] == 5 and r.loc["e", "m_score"] == 1
    assert r.loc["a", "rfm_cell"] == "51" + str(r.loc["a", "m_score"])
    # a: R5 F1 -> New; c: R4 F2 -> Potential loyalist; j: R1 F5 -> Can't lose; i: R1 F5 -> Can't lose
    assert r.loc["a", "rfm_segment"] == "New"
    assert r.loc["c", "rfm_segment"] == "Potential loyalist"
    assert r.loc["j", "rfm_segment"] == "Can't lose"
    assert r.loc["g", "rfm_segment"] == "At risk"  # R2 F4


# ----------------------------------------------------------------------------- segment rules
@pytest.mark.parametrize("r,f,name", [
    (5, 5, "Champions"), (5, 4, "Champions"), (4, 5, "Loyal"), (3, 4, "Loyal"), (5, 2, "Potential loyalist"),
    (4, 3, "Potential loyalist"), (5, 1, "New"), (4, 1, "Promising"), (3, 3, "Need attention"),
    (3, 1, "About to sleep"), (3, 2, "About to sleep"), (2, 5, "Can't lose"), (1, 5, "Can't lose"),
    (1, 3, "At risk"), (2, 4, "At risk"), (1, 1, "Lost"), (1, 2, "Lost"), (2, 1, "Hibernating"), (2, 2, "Hibernating"),
])
def test_default_rules_cells(r, f, name):
    assert seg.assign_segments(pd.Series([r]), pd.Series([f])).iloc[0] == name


def test_default_rules_partition_and_yaml_equal_code():
    from salesbench.report import params

    rr, ff = np.meshgrid(range(1, 6), range(1, 6))
    names = seg.assign_segments(pd.Series(rr.ravel()), pd.Series(ff.ravel()))
    assert names.notna().all() and set(names) == set(seg.DEFAULT_RFM_RULES)
    assert params.declaration("segmentation").defaults["rfm_segments"] == seg.DEFAULT_RFM_RULES


def test_rules_first_match_wins_and_gaps_are_named():
    rules = {"Top": {"r": [4, 5], "f": [4, 5]}, "Recent": {"r": [4, 5], "f": [1, 5]}, "Rest": {"r": [1, 5], "f": [1, 5]}}
    out = seg.assign_segments(pd.Series([5, 5, 2]), pd.Series([5, 1, 5]), rules)
    assert out.tolist() == ["Top", "Recent", "Rest"]
    broken = {k: v for k, v in seg.DEFAULT_RFM_RULES.items() if k != "Lost"}
    with pytest.raises(ValueError, match="R1F1, R1F2"):
        seg.validate_rules(broken)
    with pytest.raises(ValueError, match="outside 1..5"):
        seg.validate_rules({**seg.DEFAULT_RFM_RULES, "Odd": {"r": [0, 6], "f": [1, 1]}})


# ----------------------------------------------------------------------------- value tiers
def test_value_tiers_cut_points():
    v = pd.Series([3.0, 50.0, 10.0, 2.0, 30.0, 5.0], index=["f", "a", "c", "x", "b", "d"])
    # largest first: a 50 (before 0), b 30 (.50), c 10 (.80), d 5 (.90), f 3 (.95), x 2 (.98)
    tiers = seg.value_tiers(v, [0.5, 0.8, 0.95], ["high", "important", "general", "low"])
    assert tiers.to_dict() == {"f": "low", "a": "high", "c": "general", "x": "low", "b": "important", "d": "general"}
    with pytest.raises(ValueError, match="names"):
        seg.value_tiers(v, [0.5, 0.8], ["a", "b"])
    with pytest.raises(ValueError, match="increase"):
        seg.value_tiers(v, [0.8, 0.5], ["a", "b", "c"])


def test_value_tiers_crossing_customer_stays_up_and_negative_last():
    v = pd.Series([60.0, 30.0, 15.0, -5.0], index=list("abcd"))  # total 100
    # a starts at 0 -> tier 1 even though it alone passes 50%; b starts at .6 -> tier 2; c at .9 -> tier 3
    assert seg.value_tiers(v, [0.5, 0.8, 0.95], list("1234")).tolist() == ["1", "2", "3", "4"]


def test_pareto_and_top_share():
    v = pd.Series([1.0] * 8 + [46.0, 46.0], index=[f"c{i}" for i in range(10)])
    assert seg.top_share(v, 0.2) == pytest.approx(0.92)  # 2 customers of 10
    assert seg.top_share(v, 0.25) == pytest.approx(0.93)  # ceil(2.5) = 3
    curve = seg.pareto_curve(v)
    assert curve["value_share"].iloc[1] == pytest.approx(0.92)
    assert curve["customer_share"].iloc[-1] == 1.0 and curve["value_share"].iloc[-1] == pytest.approx(1.0)
    assert curve["customer_id"].iloc[:2].tolist() == ["c8", "c9"]


# ----------------------------------------------------------------------------- lifecycle
def test_lifecycle_relative_to_own_rhythm():
    f = pd.DataFrame({
        "customer_id": list("abcdefg"),
        "frequency": [5, 5, 5, 2, 1, 3, 1],
        "span_days": [100, 100, 100, 50, 0, 2, 0],
        "recency_days": [40, 60, 120, 10, 100, 10, 30],
        "tenure_days": [400, 400, 400, 60, 300, 300, 300],
    })
    life = seg.lifecycle_stage(f, new_days=90, at_risk_after=2.0, lapsed_after=4.0, min_gap_days=7)
    out = life.set_index("customer_id")
    # a, b, c: gap 25 days -> ratios 1.6 / 2.4 / 4.8
    assert out.loc[["a", "b", "c"], "lifecycle"].tolist() == ["active", "at-risk", "lapsed"]
    assert out.loc["a", "expected_gap_days"] == 25
    # d: first order 60 days ago -> new
    assert out.loc["d", "lifecycle"] == "new"
    # f: 3 orders within 2 days -> gap floored at 7 -> ratio 10/7 -> active
    assert out.loc["f", "expected_gap_days"] == 7 and out.loc["f", "lifecycle"] == "active"
    # e, g: one order: median gap of the repeat buyers (25, 25, 25, 50, 7 -> 25): 100/25 = 4 -> at-risk; 30/25 active
    assert out.loc["e", "expected_gap_days"] == 25
    assert out.loc["e", "lifecycle"] == "at-risk" and out.loc["g", "lifecycle"] == "active"
    # the same silence means different stages for different rhythms (no global threshold)
    weekly = pd.DataFrame({"customer_id": ["w", "q"], "frequency": [53, 5], "span_days": [364, 364],
                           "recency_days": [45, 45], "tenure_days": [500, 500]})
    st = seg.lifecycle_stage(weekly).set_index("customer_id")["lifecycle"]
    assert st.to_dict() == {"w": "lapsed", "q": "active"}


# ----------------------------------------------------------------------------- migration & breakdown
def test_migration_counts():
    prev = pd.Series({"a": "Champions", "b": "Champions", "c": "Loyal", "d": "Lost", "h": "Champions"})
    curr = pd.Series({"a": "Champions", "b": "At risk", "c": "Champions", "e": "New", "h": "At risk"})
    m = seg.migration_matrix(prev, curr, list(seg.DEFAULT_RFM_RULES))
    assert m.loc["Champions", "At risk"] == 2
    assert m.loc["Champions", "Champions"] == 1
    assert m.loc["Loyal", "Champions"] == 1
    assert m.loc["Lost", seg.GONE] == 1
    assert m.loc[seg.NEW_CUSTOMER, "New"] == 1
    assert m.to_numpy().sum() == 6
    assert list(m.index[:11]) == list(seg.DEFAULT_RFM_RULES)


def test_segment_breakdown_shares():
    frame = pd.DataFrame({"customer_id": list("abcde"), "region": ["N", "N", "N", "S", None],
                          "rfm_segment": ["Champions", "Lost", "Lost", "Lost", "New"], "revenue": [10.0, 1, 2, 3, 4]})
    b = seg.segment_breakdown(frame, "region")
    n = b[b["region"] == "N"].set_index("segment")
    assert n.loc["Lost", "customers"] == 2 and n.loc["Lost", "share_of_group"] == pytest.approx(2 / 3)
    assert n.loc["Lost", "revenue"] == 3.0
    assert b.groupby("region")["share_of_group"].sum().tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert "(unknown)" in set(b["region"])


# ----------------------------------------------------------------------------- clusters
def test_cluster_customers_recovers_separated_groups():
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(0)
    centers = np.array([[0, 0, 0], [6, 0, 0], [0, 6, 6]])
    truth = np.repeat([0, 1, 2], 150)
    X = pd.DataFrame(centers[truth] + rng.normal(0, 0.5, (450, 3)), columns=list("xyz"))
    order_by = pd.Series(truth.astype(float))  # group 2 has the highest "revenue" -> cluster 1
    res = seg.cluster_customers(X, None, (2, 6), seed=0, order_by=order_by)
    assert res.k == 3 and res.silhouette > 0.7
    assert adjusted_rand_score(truth, res.labels) == pytest.approx(1.0)
    assert (res.labels[truth == 2] == 1).all() and (res.labels[truth == 0] == 3).all()
    # fixed k is honoured; a sample smaller than n still labels every row
    res2 = seg.cluster_customers(X, 2, seed=0, sample=100)
    assert res2.k == 2 and len(res2.labels) == 450 and set(res2.silhouettes) == {2}


def test_silhouettes_in_one_pass_equal_scikit_learns_per_k(monkeypatch):
    """Every k's silhouette from one pass over the distances is exactly scikit-learn's silhouette_score per k
    (whole rows and a random sample of them, a cluster of one row, labels with a gap), and the distance
    matrix is computed once, not once per k."""
    import sklearn
    from sklearn.cluster import KMeans
    from sklearn.metrics import pairwise_distances_chunked, silhouette_score

    from salesbench.analyses.segmentation import clusters as cl

    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(c, 1.0, (400, 4)) for c in (0, 4, 8)] + [np.full((1, 4), 40.0)])
    labelings = {k: KMeans(n_clusters=k, n_init=2, random_state=0).fit(X).labels_ for k in (2, 3, 4, 5)}
    labelings[9] = np.where(labelings[3] == 2, 7, labelings[3])  # codes 0, 1, 7: encoded like scikit-learn does
    assert (np.bincount(labelings[5]) == 1).any()                # the far row alone: silhouette 0 for it
    calls = []
    monkeypatch.setattr("sklearn.metrics.pairwise_distances_chunked",
                        lambda *a, **kw: calls.append(1) or pairwise_distances_chunked(*a, **kw))
    for sample in (None, 500):
        got = cl.silhouettes(X, labelings, seed=3, sample_size=sample)
        with sklearn.config_context(working_memory=128):
            want = {k: float(silhouette_score(X, lab, sample_size=sample, random_state=3))
                    for k, lab in labelings.items()}
        assert got == want
    assert len(calls) == 2                                       # one pass per call, whatever the number of k
    with pytest.raises(ValueError, match="Number of labels is 1"):
        cl.silhouettes(X, {2: np.zeros(len(X), int)}, seed=0)


def test_cluster_matrix_weights_and_channel_group():
    f = pd.DataFrame({"recency_days": [1, 10, 100, 1000], "frequency": [1, 2, 4, 8], "revenue": [0.0, 10, 100, 1000],
                      "tenure_days": [5, 5, 5, 5], "share_a": [1.0, 0, 0.5, 0], "share_b": [0.0, 1, 0.5, 1]})
    X = seg.cluster_matrix(f, {"recency": 1, "frequency": 2, "tenure": 1, "channel_mix": 1, "monetary": 0})
    assert list(X.columns) == ["recency", "frequency", "share_a", "share_b"]  # tenure is constant, monetary weight 0
    assert X["frequency"].std(ddof=0) == pytest.approx(2.0)
    assert X["share_a"].std(ddof=0) == pytest.approx(1 / np.sqrt(2))
    # log transform: frequency 1, 2, 4, 8 are equally spaced after it
    assert np.diff(X["frequency"]).std() == pytest.approx(0, abs=1e-12)
    with pytest.raises(ValueError, match="unknown cluster feature"):
        seg.cluster_matrix(f, {"colour": 1})


def test_describe_clusters_words():
    f = pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(6)],
        "frequency": [40, 50, 2, 3, 1, 1], "order_rate": [20.0, 25, 1, 1.2, 0.5, 0.5],
        "order_value": [5000.0, 6000, 400, 500, 60, 50], "recency_days": [5, 3, 100, 120, 600, 700],
        "revenue": [2e5, 3e5, 200, 360, 90, 80], "share_direct": [0.9, 1.0, 0, 0, 0, 0], "share_online": [0.1, 0, 1, 1, 1, 1],
    })
    d = seg.describe_clusters(f, pd.Series([1, 1, 2, 2, 3, 3])).set_index("cluster")
    assert d.loc[1, "profile"] == "very frequent very large buyers, mostly direct, recently active"
    assert d.loc[2, "profile"] == "regular mid-size buyers, mostly online"
    assert d.loc[3, "profile"] == "one-time small buyers, mostly online, mostly lapsed"
    assert d["customers"].sum() == 6 and d["revenue_share"].sum() == pytest.approx(1.0)


# ----------------------------------------------------------------------------- engine features
def _orders():
    d = pd.to_datetime
    return pd.DataFrame({
        "order_id": ["o1", "o1", "o2", "o3", "o4", "o5", "o6"],
        "order_date": d(["2024-01-01", "2024-01-01", "2024-03-01", "2024-06-30", "2024-05-01", "2023-01-15", "2024-06-01"]),
        "customer_id": ["a", "a", "a", "a", "b", "c", "c"],
        "quantity": [1.0, 3, 2, 2, 10, 1, 1],
        "discount": [0.1, 0.0, 0.2, 0.0, 0.0, 0.0, 0.5],
        "revenue": [100.0, 300, 200, 400, 1000, 50, 50],
        "cost": [60.0, 200, 100, 300, 900, 20, 40],
        "channel": ["direct", "direct", "online", "direct", "store", "online", "online"],
    })


def test_customer_features_in_engine():
    inter = pd.DataFrame({"customer_id": ["a", "a", "b"], "kind": ["complaint", "call", "complaint"],
                          "occurred_at": pd.to_datetime(["2024-02-01 10:00", "2024-02-01 09:00", "2024-07-15 12:00"])})
    cust = pd.DataFrame({"customer_id": ["a", "b", "c"], "region": ["North", "South", "North"]})
    ds = sb.Dataset.from_frames({"orders": _orders(), "interactions": inter, "customers": cust})
    f = seg.customer_features(ds).set_index("customer_id")
    assert f.attrs["as_of"] == dt.date(2024, 6, 30) and f.attrs["value_basis"] == "profit"
    a = f.loc["a"]
    assert a["frequency"] == 3 and a["recency_days"] == 0 and a["tenure_days"] == 181 and a["span_days"] == 181
    assert a["revenue"] == 1000 and a["profit"] == 1000 - 660 and a["value"] == 340
    assert a["order_value"] == pytest.approx(1000 / 3)
    assert a["lines_per_order"] == pytest.approx(4 / 3) and a["units_per_line"] == pytest.approx(8 / 4)
    assert a["discount"] == pytest.approx((0.1 * 100 + 0.2 * 200) / 1000)
    assert a["share_direct"] == pytest.approx(0.8) and a["share_online"] == pytest.approx(0.2)
    assert a["complaints"] == pytest.approx(1 / (181 / 365.25))  # the complaint on 2024-07-15 is after as_of
    assert f.loc["b", "complaints"] == 0 and f.loc["b", "region"] == "South"
    assert f.loc["c", "frequency"] == 2 and f.loc["c", "tenure_days"] == (dt.date(2024, 6, 30) - dt.date(2023, 1, 15)).days

    # a window and an earlier as_of
    w = seg.customer_features(ds, as_of="2024-05-31", lookback_days=100).set_index("customer_id")
    # window = 2024-02-22 .. 2024-05-31: a has o2 only, b has o4, c none in window
    assert sorted(w.index) == ["a", "b"]
    assert w.loc["a", "frequency"] == 1 and w.loc["a", "revenue"] == 200 and w.loc["a", "recency_days"] == 91
    assert w.loc["a", "tenure_days"] == 151  # tenure counts from the first order ever


def test_bare_orders_table_runs_end_to_end():
    o = _orders()[["customer_id", "order_date", "revenue"]]
    rng = np.random.default_rng(1)
    extra = pd.DataFrame({"customer_id": [f"x{i % 40}" for i in range(200)],
                          "order_date": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 540, 200), unit="D"),
                          "revenue": rng.gamma(2, 100, 200)})
    ds = sb.Dataset.from_frames({"orders": pd.concat([o, extra], ignore_index=True)})
    S = seg.Segmentation(k=3).fit(ds)
    r = S.results()
    assert r["value_basis"] == "revenue" and r["n_customers"] == 43
    assert sum(v["customers"] for v in r["rfm_segments"].values()) == 43
    assert sum(v["customers"] for v in r["tiers"].values()) == 43
    assert sum(v["profit_share"] for v in r["tiers"].values()) == pytest.approx(1.0)
    assert r["total_revenue"] == pytest.approx(o["revenue"].sum() + extra["revenue"].sum())
    assert r["clusters"]["k"] == 3 and sum(r["clusters"]["sizes"].values()) == 43
    assert "cluster_ari_vs_truth" not in r
    assert set(r["clusters"]["features"]) == {"recency", "frequency", "monetary", "tenure", "order_rate"}
    acts = S.action_list_
    assert list(acts.columns[:5]) == ["customer_id", "rfm_segment", "tier", "cluster", "lifecycle"]
    assert acts["customer_id"].is_unique and len(acts) == 43
    assert set(acts["lifecycle"]) <= set(seg.LIFECYCLE_STAGES)
    assert any("customers bought" in s for s in report.sentences(S))


def test_empty_window_is_a_clear_error():
    ds = sb.Dataset.from_frames({"orders": _orders()})
    with pytest.raises(ValueError, match="no customer has an order"):
        seg.Segmentation(as_of="2020-01-01").fit(ds)


def test_single_channel_gives_no_channel_mix():
    o = _orders().assign(channel="online")
    f = seg.customer_features(sb.Dataset.from_frames({"orders": o}))
    assert not [c for c in f.columns if c.startswith("share_")] and f.attrs["channels"] == []


@pytest.mark.parametrize("with_order_id", [True, False])
def test_rfm_inputs_give_the_segments_of_the_full_features(with_order_id):
    """The migration step's light aggregation (issue #13): same rows, R/F/M inputs and segments as customer_features."""
    rng = np.random.default_rng(7)
    n = 2000
    o = pd.DataFrame({"order_id": [f"o{i // 2}" for i in range(n)],  # two lines per order
                      "customer_id": [f"c{k}" for k in rng.integers(0, 400, n)],
                      "order_date": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D"),
                      "revenue": rng.choice([10.0, 25.0, 40.0], n), "cost": 5.0, "channel": rng.choice(["a", "b"], n)})
    if not with_order_id:
        o = o.drop(columns="order_id")
    ds = sb.Dataset.from_frames({"orders": o})
    for as_of, lookback in (("2024-06-30", None), ("2024-03-31", 120)):
        full = seg.customer_features(ds, as_of, lookback)
        light = seg.rfm_inputs(ds, as_of, lookback)
        cols = ["customer_id", "recency_days", "frequency", "revenue"]
        pd.testing.assert_frame_equal(light, full[cols])
        pd.testing.assert_frame_equal(seg.rfm_scores(light), seg.rfm_scores(full))
    assert len(seg.rfm_inputs(ds, "2022-12-31")) == 0  # before the first order: no customer
