"""Customer segmentation: RFM segments, value tiers, behavioural clusters, lifecycle, migration.

The question: *who are our most valuable customers, who is slipping away, and
which groups need which treatment?* — answered for an analysis date ``as_of``
and an optional look-back window.

:class:`Segmentation` chains the steps, each a module with unit tests:

1. :mod:`.features` — one row per customer, aggregated **in the engine**
   (ibis/DuckDB): recency, frequency, monetary value, profit, tenure, purchase
   span, order rate and, where the data has them, discount rate, lines per
   order, units per line, channel mix and complaints.
2. :mod:`.rfm` — quintile scores 1-5 for R, F and M with ties broken
   deterministically, and the named segments from the R/F score rules of
   ``params/segmentation.yaml``.
3. :mod:`.tiers` — tiers by cumulative share of gross profit (revenue when
   cost is absent) and the Pareto (ABC) concentration.
4. :mod:`.clusters` — K-means (scikit-learn) on log-transformed, standardised
   behavioural features, k chosen by silhouette; profiles in words.
5. :mod:`.lifecycle` — new / active / at-risk / lapsed relative to each
   customer's own purchase rhythm.
6. :mod:`.migration` — segments by region/channel/industry and transitions
   between two analysis dates.

Wording, tables and publishing are in :mod:`.report`, figures in :mod:`.plots`.
"""
from __future__ import annotations

import datetime as _dt
import time
from typing import Any, Mapping, Sequence

import pandas as pd

from salesbench.core.jsonable import to_jsonable
from salesbench.analyses.base import Analysis, check_with, number
from salesbench.analyses.segmentation.clusters import (  # noqa: F401  (re-exported: the step API in one place)
    CLUSTER_FEATURES, DEFAULT_CLUSTER_WEIGHTS, ClusteringSkipped, ClusterResult, cluster_ari, cluster_customers,
    cluster_matrix, describe_clusters,
)
from salesbench.analyses.segmentation.features import customer_features, rfm_inputs  # noqa: F401  (rfm_inputs re-exported)
from salesbench.analyses.segmentation.lifecycle import LIFECYCLE_STAGES, lifecycle_stage
from salesbench.analyses.segmentation.migration import GONE, NEW_CUSTOMER, migration_matrix, segment_breakdown  # noqa: F401
from salesbench.analyses.segmentation.rfm import (  # noqa: F401
    DEFAULT_RFM_RULES, assign_segments, quantile_scores, rfm_scores, segment_summary, validate_rules,
)
from salesbench.analyses.segmentation.tiers import (  # noqa: F401
    DEFAULT_TIER_CUTS, DEFAULT_TIER_NAMES, NO_TIER, pareto_curve, tier_summary, top_share, value_tiers,
)
from salesbench.core import i18n
from salesbench.core.i18n import N_
from salesbench.core.errors import CheckError, ReportSkipped
from salesbench.viz import fmt_money

_tr = i18n.messages(__name__).gettext
_label = i18n.messages(__name__).label

#: groups the RFM segments are broken down by (those the data has)
BREAKDOWN_BY = ("region", "channel", "industry")
#: the segments of the first call list
CALL_SEGMENTS = ("Can't lose", "At risk")


def tiers_skipped_sentence(basis: str, total_value: float) -> str:
    """Why the value tiers were skipped, in the current language (``basis``: ``"profit"`` or ``"revenue"``)."""
    return _tr(N_("Value tiers were skipped: the total {basis} is {total}, and tiers share out a positive total."),
               basis=_label("basis", basis), total=fmt_money(total_value))


def clusters_skipped_sentence(why: ClusteringSkipped) -> str:
    """Why the behavioural clusters were skipped, in the current language."""
    return _tr(N_("Behavioural clusters were skipped: {why}."), why=why.text())


class Segmentation(Analysis):
    """The whole segmentation for one data set and analysis date.

    >>> S = Segmentation(as_of=None, lookback_days=None).fit(ds)
    >>> S.customers_          # one row per customer: features, scores, segment, tier, cluster, lifecycle
    >>> S.rfm_summary_, S.tier_summary_, S.clusters_, S.migration_, S.action_list_

    Parameters are the keys of ``params/segmentation.yaml`` (same order and
    defaults); see each step module for the formulas.
    """

    name = "segmentation"

    def __init__(self, as_of=None, lookback_days: int | None = None, migration_days: int = 182,
                 score_ties: str = "first", rfm_segments: Mapping | None = DEFAULT_RFM_RULES,
                 tier_cuts: Sequence[float] = DEFAULT_TIER_CUTS, tier_names: Sequence[str] = DEFAULT_TIER_NAMES,
                 top_fraction: float = 0.2, k: int | None = None, k_min: int = 3, k_max: int = 8,
                 cluster_weights: Mapping[str, float] | None = DEFAULT_CLUSTER_WEIGHTS, cluster_sample: int = 20000,
                 lifecycle_new_days: int = 90, lifecycle_at_risk_after: float = 2.0,
                 lifecycle_lapsed_after: float = 4.0, seed: int = 0):
        self.as_of = as_of
        self.lookback_days = lookback_days
        self.migration_days = migration_days
        self.score_ties = score_ties
        self.rfm_segments = rfm_segments
        self.tier_cuts = tier_cuts
        self.tier_names = tier_names
        self.top_fraction = top_fraction
        self.k = k
        self.k_min = k_min
        self.k_max = k_max
        self.cluster_weights = cluster_weights
        self.cluster_sample = cluster_sample
        self.lifecycle_new_days = lifecycle_new_days
        self.lifecycle_at_risk_after = lifecycle_at_risk_after
        self.lifecycle_lapsed_after = lifecycle_lapsed_after
        self.seed = seed

    @property
    def rules(self) -> Mapping:
        """The RFM segment rules (``rfm_segments``, or :data:`DEFAULT_RFM_RULES` when empty)."""
        return self.rfm_segments or DEFAULT_RFM_RULES

    # -- parameters -----------------------------------------------------------------
    @classmethod
    def check_params(cls, values: Mapping[str, Any]) -> None:
        """RFM segment rules cover all 25 R/F cells; tiers, ties, cluster weights, k range, lifecycle thresholds."""
        check_with("rfm_segments", validate_rules, values["rfm_segments"])
        one = pd.Series([1.0], index=["c1"])  # the validators check their settings before touching the values
        try:
            value_tiers(one, values["tier_cuts"], values["tier_names"])
        except ValueError as exc:
            raise CheckError("tier_names" if str(exc).startswith("tier_names") else "tier_cuts", str(exc)) from None
        check_with("score_ties", quantile_scores, one, ties=values["score_ties"])
        check_with("top_fraction", top_share, one, values["top_fraction"])
        cls._check_cluster_params(values)
        at_risk, lapsed = values["lifecycle_at_risk_after"], values["lifecycle_lapsed_after"]
        if not 0 < at_risk < lapsed:
            raise CheckError("lifecycle_lapsed_after" if at_risk > 0 else "lifecycle_at_risk_after",
                             f"need 0 < lifecycle_at_risk_after < lifecycle_lapsed_after, got {at_risk} and {lapsed}")

    @staticmethod
    def _check_cluster_params(values: Mapping[str, Any]) -> None:
        """Known features with weights ≥ 0 (one > 0), k ≥ 2 or a non-empty k range."""
        weights = values["cluster_weights"]
        for name, w in weights.items():
            if name not in CLUSTER_FEATURES:
                raise CheckError("cluster_weights", f"unknown cluster feature {name!r}; choose from "
                                                    f"{', '.join(CLUSTER_FEATURES)}")
            if number(f"cluster_weights.{name}", w) < 0:
                raise CheckError("cluster_weights", f"the weight of {name!r} must be >= 0, not {w}")
        if not any(float(w) > 0 for w in weights.values()):
            raise CheckError("cluster_weights", "every weight is 0: no feature to cluster on")
        k, k_min, k_max = values["k"], values["k_min"], values["k_max"]
        if k is not None and k < 2:
            raise CheckError("k", f"must be at least 2 (or null to choose it by silhouette), not {k}")
        if k is None and max(2, k_min) > k_max:
            raise CheckError("k_max", f"no k to try: k_min = {k_min} and k_max = {k_max} (k_min ≤ k_max, k_max ≥ 2)")

    # -- learning -------------------------------------------------------------------
    def fit(self, ds) -> "Segmentation":
        """Compute every table of the report for ``ds`` (a :class:`salesbench.Dataset`).

        Raises :class:`~salesbench.core.errors.ReportSkipped` when no customer
        has an order in the analysis window. ``timings_`` records the seconds
        spent in each step.
        """
        self.timings_: dict[str, float] = {}
        clock = time.perf_counter()
        validate_rules(self.rules)
        steps = (("features", self._fit_features), ("rfm_tiers", self._fit_rfm_tiers),
                 ("clusters", self._fit_clusters), ("summaries", self._fit_summaries),
                 ("migration", self._fit_migration))
        for step, fn in steps:
            fn(ds)
            now = time.perf_counter()
            self.timings_[step], clock = now - clock, now
        truth = ds.truth_customers() if hasattr(ds, "truth_customers") else None
        cust = self.customers_
        self.ari_ = (cluster_ari(cust["cluster"], cust["customer_id"], truth)
                     if truth is not None and self.cluster_result_ is not None else None)
        self.action_list_ = self._action_list()
        return self

    def _fit_features(self, ds) -> None:
        """``customers_`` starts as the per-customer features; ``as_of_``, ``value_basis_``."""
        feats = customer_features(ds, self.as_of, self.lookback_days)
        if len(feats) == 0:
            window = f"in the {self.lookback_days} days up to" if self.lookback_days else "on or before"
            raise ReportSkipped(f"no customer has an order in the analysis window (orders {window} "
                                f"{feats.attrs['as_of'].isoformat()})")
        self.as_of_ = feats.attrs["as_of"]
        self.value_basis_ = feats.attrs["value_basis"]
        self.customers_ = feats

    def _fit_rfm_tiers(self, ds) -> None:
        """RFM scores and segment, value tier per customer; ``tiers_skipped_`` when the total value is not positive."""
        rfm = rfm_scores(self.customers_, self.rules, ties=self.score_ties)
        cust = self.customers_.merge(rfm, on="customer_id")
        total_value = float(cust["value"].sum())
        self.tiers_skipped_: str | None = None
        if total_value > 0:
            cust["tier"] = value_tiers(cust.set_index("customer_id")["value"], self.tier_cuts, self.tier_names).to_numpy()
        else:  # nothing to share out: no tiers, said in one sentence
            cust["tier"] = NO_TIER
            with i18n.language("en"):  # stored in the results: English whatever the report's language
                self.tiers_skipped_ = tiers_skipped_sentence(self.value_basis_, total_value)
        self.customers_ = cust

    def _fit_clusters(self, ds) -> None:
        """K-means clusters (``cluster_result_``, ``cluster_matrix_``), or ``clusters_skipped_`` with the reason."""
        cust = self.customers_
        self.clusters_skipped_: str | None = None
        self.clusters_skip_reason_: ClusteringSkipped | None = None
        X = pd.DataFrame(index=cust.index)
        try:
            if len(cust) < 3:
                raise ClusteringSkipped(N_("clustering needs at least 3 customers and the data has {n}"), n=len(cust))
            X = cluster_matrix(cust, self.cluster_weights)
            self.cluster_result_ = cluster_customers(X, self.k, (self.k_min, self.k_max), self.seed,
                                                     self.cluster_sample, order_by=cust["revenue"])
            cust["cluster"] = self.cluster_result_.labels.to_numpy()
        except ClusteringSkipped as why:
            self.cluster_result_ = None
            self.clusters_skip_reason_ = why
            with i18n.language("en"):  # stored in the results: English whatever the report's language
                self.clusters_skipped_ = clusters_skipped_sentence(why)
            cust["cluster"] = pd.array([pd.NA] * len(cust), dtype="Int64")
        self.cluster_matrix_ = X
        life = lifecycle_stage(cust, self.lifecycle_new_days, self.lifecycle_at_risk_after, self.lifecycle_lapsed_after)
        cust["expected_gap_days"] = life["expected_gap_days"].to_numpy()
        cust["lifecycle"] = life["lifecycle"].to_numpy()

    def _fit_summaries(self, ds) -> None:
        """The summary tables: RFM segments, tiers, Pareto curve, top share, clusters, lifecycle, breakdowns."""
        cust = self.customers_
        order = list(self.rules)
        self.rfm_summary_ = segment_summary(cust, "rfm_segment", order)
        self.tier_summary_ = (tier_summary(cust, self.tier_names) if self.tiers_skipped_ is None else pd.DataFrame(
            columns=["tier", "customers", "revenue", "value", "customer_share", "value_share", "revenue_share"]))
        self.pareto_ = pareto_curve(cust.set_index("customer_id")["value"])
        self.top_share_ = top_share(cust["value"], self.top_fraction) if self.tiers_skipped_ is None else float("nan")
        self.clusters_ = (describe_clusters(cust, cust["cluster"]) if self.cluster_result_ is not None
                          else pd.DataFrame(columns=["cluster", "customers", "customer_share", "revenue_share", "profile"]))
        self.lifecycle_summary_ = segment_summary(cust, "lifecycle", LIFECYCLE_STAGES)
        self.breakdowns_ = {by: segment_breakdown(cust, by, order=order) for by in BREAKDOWN_BY if by in cust.columns}

    def _fit_migration(self, ds) -> None:
        """The same RFM rules at ``previous_as_of_`` = as_of − migration_days: the migration matrix ``migration_``."""
        self.previous_as_of_ = self.as_of_ - _dt.timedelta(days=int(self.migration_days))
        prev_feats = rfm_inputs(ds, self.previous_as_of_, self.lookback_days)  # the segments need only R, F, M
        if len(prev_feats):
            prev = rfm_scores(prev_feats, self.rules, ties=self.score_ties).set_index("customer_id")["rfm_segment"]
        else:
            prev = pd.Series([], dtype=object)
        self.migration_ = migration_matrix(prev, self.customers_.set_index("customer_id")["rfm_segment"], list(self.rules))

    def _action_list(self) -> pd.DataFrame:
        """The CRM export: ``customer_id, rfm_segment, tier, cluster, lifecycle`` plus context columns."""
        c = self.customers_
        out = c[["customer_id", "rfm_segment", "tier", "cluster", "lifecycle"]].copy()
        out["cluster_profile"] = out["cluster"].map(self.clusters_.set_index("cluster")["profile"])
        for col in ("rfm_cell", "recency_days", "frequency", "revenue", "value"):
            out[col] = c[col].to_numpy()
        out["revenue"] = out["revenue"].round(2)
        out["value"] = out["value"].round(2)
        return out

    # -- outputs --------------------------------------------------------------------
    def call_list(self, segments: Sequence[str] = CALL_SEGMENTS) -> pd.DataFrame:
        """Action-list rows of the given segments, largest revenue first (the first call list)."""
        a = self.action_list_
        return a[a["rfm_segment"].isin(segments)].sort_values("revenue", ascending=False).reset_index(drop=True)

    def at_risk(self) -> tuple[int, float]:
        """Customers and revenue share of the At risk and Can't lose segments."""
        rs = self.rfm_summary_.set_index("segment")
        risk = [s for s in ("At risk", "Can't lose") if s in rs.index]
        if not risk:
            return 0, 0.0
        return int(rs.loc[risk, "customers"].sum()), float(rs.loc[risk, "revenue_share"].sum())

    def migrated(self, before: str, now: str) -> int:
        """Customers in segment ``before`` at ``previous_as_of_`` and in ``now`` at ``as_of_`` (0 when absent)."""
        m = self.migration_
        return int(m.loc[before, now]) if before in m.index and now in m.columns else 0

    def results(self) -> dict[str, Any]:
        """The values for ``segmentation.results.json`` (plain types; NaN where tiers were skipped)."""
        rs = self.rfm_summary_.set_index("segment")
        ts = self.tier_summary_.set_index("tier")
        out = {
            "as_of": self.as_of_.isoformat(),
            "previous_as_of": self.previous_as_of_.isoformat(),
            "lookback_days": self.lookback_days,
            "value_basis": self.value_basis_,
            "n_customers": int(len(self.customers_)),
            "total_revenue": float(self.customers_["revenue"].sum()),
            "total_value": float(self.customers_["value"].sum()),
            "rfm_segments": {s: {"customers": int(r.customers), "revenue_share": float(r.revenue_share),
                                 "avg_order_value": None if pd.isna(r.avg_order_value) else float(r.avg_order_value)}
                             for s, r in rs.iterrows()},
            "tiers": {t: {"customers": int(r.customers), "customer_share": float(r.customer_share),
                          "profit_share": float(r.value_share)} for t, r in ts.iterrows()},
            "top_fraction": float(self.top_fraction),
            "top_20pct_profit_share": (top_share(self.customers_["value"], 0.2) if self.tiers_skipped_ is None
                                       else float("nan")),
            "tiers_skipped": self.tiers_skipped_,
            "top_fraction_profit_share": float(self.top_share_),
            "clusters": self._cluster_results(),
            "lifecycle": {s: int(n) for s, n in
                          self.customers_["lifecycle"].value_counts().reindex(LIFECYCLE_STAGES, fill_value=0).items()},
            "migration": {"champions_to_at_risk": self.migrated("Champions", "At risk"),
                          "champions_kept": self.migrated("Champions", "Champions")},
        }
        if self.ari_ is not None:
            out["cluster_ari_vs_truth"] = float(self.ari_)
        return to_jsonable(out)

    def _cluster_results(self) -> dict[str, Any]:
        cr = self.cluster_result_
        if cr is None:
            return {"k": None, "silhouette": None, "silhouettes": {}, "sizes": {}, "profiles": {}, "features": [],
                    "skipped": self.clusters_skipped_}
        return {"k": int(cr.k), "silhouette": float(cr.silhouette),
                "silhouettes": {str(k): v for k, v in cr.silhouettes.items()},
                "sizes": {str(c): int(n) for c, n in cr.labels.value_counts().sort_index().items()},
                "profiles": {str(r.cluster): r.profile for r in self.clusters_.itertuples()},
                "features": cr.columns, "skipped": None}
