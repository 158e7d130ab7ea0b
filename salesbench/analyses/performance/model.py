"""Sales performance review: the estimator that runs every step for one period.

The question: *how did each rep, team and region do in the period — against
target, against the previous period and the same period last year — and who
needs attention?*

Steps (one module each)
-----------------------
1. :mod:`~salesbench.analyses.performance.periods` picks the review period (the
   last full month, quarter or year on or before ``as_of``).
2. :mod:`~salesbench.analyses.performance.measures` aggregates every table in
   the engine into additive measures per ``(period, key)`` and level, and turns
   them into KPIs (catalogue and formulas:
   :mod:`~salesbench.analyses.performance.kpis`).
3. :mod:`~salesbench.analyses.performance.scorecard` normalizes the weighted
   KPIs, combines them into the composite score and ranks reps;
   :mod:`~salesbench.analyses.performance.warning_lines` draws the red / amber /
   green lines and lists everyone under one.
4. :mod:`~salesbench.analyses.performance.variance` splits revenue change into
   price / volume / mix and the gap to target by team, region and rep.
5. :mod:`~salesbench.analyses.performance.feedback` measures relationships
   between KPIs across reps and writes quantified feedback per rep.

``PerformanceReview.from_params(P).fit(ds)`` runs all of it; the notebook's
text, tables and publishing are in :mod:`~salesbench.analyses.performance.report`,
its figures in :mod:`~salesbench.analyses.performance.plots`.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from salesbench.analyses.base import Analysis
from salesbench.analyses.performance import feedback as fb
from salesbench.analyses.performance import variance as var
from salesbench.analyses.performance.kpis import (
    DEFAULT_LINES, DEFAULT_WEIGHTS, KPIS, NORMALIZATIONS, check_lines, check_weights, kpi_label,
)
from salesbench.analyses.performance.measures import compute_kpis
from salesbench.analyses.performance.periods import (
    PERIODS_PER_YEAR, data_end, freq_code, future_orders, period_text, select_period,
)
from salesbench.analyses.performance.scorecard import company_kpis, score_truth_spearman, scorecard
from salesbench.analyses.performance.warning_lines import warning_list
from salesbench.core import i18n
from salesbench.core.i18n import NP_
from salesbench.core.errors import CheckError, ReportSkipped
from salesbench.viz.format import fmt_date

_, ngettext, pgettext = i18n.messages(__name__).functions()

#: Which parameter a :class:`ReviewConfig` message is about, by its first words.
_CHECK_KEYS = (("score weight", "weights"), ("unknown KPI", "weights"), ("warning line", "warning_lines"),
               ("unknown warning line", "warning_lines"), ("each relationship", "relationships"))


@dataclass
class ReviewConfig:
    """Parameters of a review (the keys of ``params/performance.yaml``)."""

    period: str = "quarter"
    as_of: _dt.date | None = None
    region: str | None = None
    team: str | None = None
    weights: Mapping[str, float] = None  # type: ignore[assignment]
    normalisation: str = "target_else_percentile"
    attainment_cap: float = 1.2
    peer_group: str = "company"
    min_weight: float = 0.5
    warning_lines: Mapping[str, Mapping[str, float]] = None  # type: ignore[assignment]
    collection_grace_days: int = 0
    trend_periods: int = 6
    relationships: Sequence[Sequence[str]] = (
        ("discount_rate", "gross_margin"),
        ("visits_per_customer", "win_rate"),
        ("complaints_per_customer", "csat"),
    )
    confidence: float = 0.95

    def __post_init__(self):
        self.weights = check_weights(self.weights or DEFAULT_WEIGHTS)
        self.warning_lines = check_lines(self.warning_lines or DEFAULT_LINES)
        freq_code(self.period)
        if self.normalisation not in NORMALIZATIONS:
            raise ValueError(f"normalisation must be one of {', '.join(NORMALIZATIONS)}; got {self.normalisation!r}")
        if self.attainment_cap <= 0:
            raise ValueError("attainment_cap must be positive")
        if self.trend_periods < 1:
            raise ValueError("trend_periods must be at least 1")
        if not 0 < self.confidence < 1:
            raise ValueError("confidence must be between 0 and 1")
        for pair in self.relationships:
            if len(pair) != 2 or any(p not in KPIS for p in pair):
                raise ValueError(f"each relationship is a pair of KPI names from {', '.join(KPIS)}; got {pair!r}")

    @classmethod
    def from_params(cls, P) -> "ReviewConfig":
        """Build from the validated notebook parameters (``sb.params.load``) or any mapping.

        Keys that are not review settings (``data``, ``out_dir``) are ignored;
        null values keep the defaults.
        """
        values = P.as_dict() if hasattr(P, "as_dict") else dict(P)
        kwargs = {k: values[k] for k in cls.__dataclass_fields__ if values.get(k) is not None}
        if "relationships" in kwargs:
            kwargs["relationships"] = [tuple(p) for p in kwargs["relationships"]]
        return cls(**kwargs)



class PerformanceReview(Analysis):
    """The whole review for one period: ``PerformanceReview.from_params(P).fit(ds)``.

    Parameters are the keys of ``params/performance.yaml`` (see the comments
    there); ``fit`` validates them into :class:`ReviewConfig` (``config_``).

    After :meth:`fit`:

    ``config_`` (:class:`ReviewConfig`); ``period_`` (pandas Period),
    ``previous_``, ``last_year_``, ``as_of_``, ``trend_first_`` (first trend
    period); ``all_kpis_`` {level: KPI frame of every fetched period};
    ``kpis_`` {level: KPI frame of the review period}; ``scope_level_`` /
    ``scope_key_`` / ``scope_kpis_`` (the company, region or team the report
    is about and its KPI row); ``history_`` rep scorecards for the last
    ``trend_periods`` periods; ``card_`` the scorecard of all reps;
    ``scope_card_`` its rows in the region/team scope; ``warnings_``
    (:func:`~salesbench.analyses.performance.warning_lines.warning_list` of the
    scope); ``company_`` (:func:`~salesbench.analyses.performance.scorecard.company_kpis`);
    ``pvm_previous_`` / ``pvm_target_`` (price/volume/mix by product line) and
    ``pvm_target_base_``; ``waterfalls_`` {level: gap waterfall};
    ``relationships_``; ``feedback_`` (one dict per rep in scope);
    ``spearman_truth_`` (demo only) and ``notes_`` (what was skipped and why, in English for results.json;
    :meth:`notes_text` gives them in the report's language).
    """

    name = "performance"

    def __init__(
        self,
        period="quarter",
        as_of=None,
        region=None,
        team=None,
        weights={"revenue": 0.30, "gross_margin": 0.20, "collection_rate": 0.20,  # noqa: B006 - never mutated
                 "new_customer_rate": 0.15, "csat": 0.15},
        normalisation="target_else_percentile",
        attainment_cap=1.2,
        peer_group="company",
        min_weight=0.5,
        warning_lines={"attainment": {"red": 0.80, "amber": 0.95},  # noqa: B006 - never mutated
                       "percentile": {"red": 0.10, "amber": 0.25}, "score": {"red": 40.0, "amber": 50.0}},
        collection_grace_days=0,
        trend_periods=6,
        relationships=[["discount_rate", "gross_margin"], ["visits_per_customer", "win_rate"],  # noqa: B006
                       ["complaints_per_customer", "csat"]],
        confidence=0.95,
    ):
        self.period = period
        self.as_of = as_of
        self.region = region
        self.team = team
        self.weights = weights
        self.normalisation = normalisation
        self.attainment_cap = attainment_cap
        self.peer_group = peer_group
        self.min_weight = min_weight
        self.warning_lines = warning_lines
        self.collection_grace_days = collection_grace_days
        self.trend_periods = trend_periods
        self.relationships = relationships
        self.confidence = confidence

    @classmethod
    def check_params(cls, values: Mapping[str, Any]) -> None:
        """Everything :class:`ReviewConfig` checks (weights are known KPIs summing to 1, warning lines, ...).

        A message about a known parameter becomes a :class:`CheckError` for
        that key (the runner names it); anything else is raised unchanged.
        """
        try:
            ReviewConfig.from_params(values)
        except ValueError as exc:
            msg = str(exc)
            key = next((k for prefix, k in _CHECK_KEYS if msg.startswith(prefix)), None)
            key = key or next((k for k in values if msg.startswith(k)), None)
            if key is None:
                raise
            raise CheckError(key, msg) from None

    # ------------------------------------------------------------------ fit
    def fit(self, ds) -> "PerformanceReview":
        """Run the review on ``ds``; raises :class:`ReportSkipped` when no full period has orders credited to reps."""
        self.config_ = ReviewConfig.from_params(self.get_params())
        ds.require("orders", "reps", analysis="performance")
        self.notes_: list[str] = []
        self.note_keys_: list[tuple[str, dict[str, Any]]] = []
        self._fit_periods(ds)
        self._fit_kpis(ds)
        self._fit_scorecards(ds)
        self._fit_variance(ds)
        cfg = self.config_
        # relationships across all reps of the company (more data than one team)
        self.relationships_ = fb.relationships(self.card_, cfg.relationships, cfg.confidence)
        self.feedback_ = fb.rep_feedback(self.card_, self.history_, list(cfg.weights), self.scope_card_["rep_id"])
        return self

    def _fit_periods(self, ds) -> None:
        """The review period, its comparisons and the first trend period."""
        cfg = self.config_
        self.as_of_ = pd.Timestamp(cfg.as_of).date() if cfg.as_of else data_end(ds)
        self.period_ = select_period(cfg.period, self.as_of_)
        self.previous_ = self.period_ - 1
        self.last_year_ = self.period_ - PERIODS_PER_YEAR[cfg.period]
        self.trend_first_ = self.period_ - (cfg.trend_periods - 1)

    def _fit_kpis(self, ds) -> None:
        """KPIs of every level and period; skip when the review period has no orders (credited to reps)."""
        cfg = self.config_
        first = min(self.trend_first_, self.last_year_)
        kpis = compute_kpis(ds, cfg.period, first, self.period_, cfg.collection_grace_days, self.as_of_)
        self.all_kpis_ = kpis
        self.kpis_ = {lvl: f[f["period"] == self.period_].reset_index(drop=True) for lvl, f in kpis.items()}
        if "company" not in kpis or self.kpis_["company"].empty:
            raise ReportSkipped(self._no_orders_reason(ds))
        if "rep" not in kpis or self.kpis_["rep"].empty:
            raise ReportSkipped(_("no order in the review period {period} has a rep_id: "
                                  "the review needs orders credited to reps", period=period_text(self.period_)))
        n_future = future_orders(ds, _dt.date.today())
        if n_future:
            self._note("future_orders", n=n_future)
        self._check_scope(kpis["rep"])
        self._notes_missing(ds)

    def _fit_scorecards(self, ds) -> None:
        """Scorecards of every trend period (percentiles within each period), the scope's card and warnings."""
        cfg = self.config_
        trend_reps = self.all_kpis_["rep"][self.all_kpis_["rep"]["period"] >= self.trend_first_]
        hist = [scorecard(grp, cfg.weights, cfg.warning_lines, cfg.normalisation, cfg.attainment_cap,
                          cfg.peer_group, cfg.min_weight)
                for _p, grp in trend_reps.groupby("period", sort=True)]
        self.history_ = pd.concat(hist, ignore_index=True)
        self.card_ = self.history_[self.history_["period"] == self.period_].reset_index(drop=True)
        self.scope_card_ = self._in_scope(self.card_).reset_index(drop=True)
        self.warnings_ = warning_list(self.scope_card_, cfg.weights)
        self.company_ = company_kpis(self.kpis_["company"].iloc[0].to_dict())
        self.scope_kpis_ = self._scope_row()
        self.spearman_truth_ = score_truth_spearman(self.scope_card_, ds.truth)

    def _fit_variance(self, ds) -> None:
        """Price/volume/mix against the previous period and target, and the gap-to-target waterfalls."""
        rep_ids = None if self.scope_level_ == "company" else list(self.scope_card_["rep_id"])
        self.pvm_previous_ = self.pvm_target_ = None
        self.pvm_target_base_ = None
        if ds.has_columns("orders", ["product_id", "quantity"]) and ds.has_columns("products", ["product_id", "product_line"]):
            lines = var.product_line_volumes(ds, [self.period_, self.previous_, self.last_year_], rep_ids)
            cur = lines.get(self.period_)
            prev = lines.get(self.previous_)
            ly = lines.get(self.last_year_)
            if cur is not None and prev is not None:
                self.pvm_previous_ = var.price_volume_mix(cur, prev)
            target = self.scope_kpis_.get("revenue_target")
            base = ly if ly is not None else prev
            if cur is not None and base is not None and target is not None and not pd.isna(target):
                self.pvm_target_base_ = "same period last year" if ly is not None else "previous period"
                self.pvm_target_ = var.price_volume_mix(cur, var.scale_to_target(base, float(target)))
        else:
            self._note("no_pvm")
        self.waterfalls_ = self._waterfalls()

    # ------------------------------------------------------------------ helpers
    def _no_orders_reason(self, ds) -> str:
        """Why the review period is empty, in one line: the period, the data's order dates, what to change."""
        o = ds.table("orders")
        o = o.filter(o.order_date <= self.as_of_)
        span = o.aggregate(first=o.order_date.min(), last=o.order_date.max()).to_pandas().iloc[0]
        label = period_text(self.period_)
        if pd.isna(span["first"]):
            return _("no orders on or before {as_of}", as_of=fmt_date(self.as_of_))
        first, last = pd.Timestamp(span["first"]).date(), pd.Timestamp(span["last"]).date()
        fields = dict(label=label, as_of=fmt_date(self.as_of_), first=fmt_date(first), last=fmt_date(last),
                      period=pgettext("period", self.config_.period))
        if first > self.period_.end_time.date():
            if self.config_.period == "month":
                return _("no full {period} of orders yet: the last full {period} ending on or before {as_of} is "
                         "{label}, and the orders run from {first} to {last}", **fields)
            return _("no full {period} of orders yet: the last full {period} ending on or before {as_of} is "
                     "{label}, and the orders run from {first} to {last} (try -p period=month)", **fields)
        return _("no orders in the review period {label} (orders run from {first} to {last})", **fields)

    def _check_scope(self, rep_kpis: pd.DataFrame) -> None:
        cfg = self.config_
        if cfg.team and cfg.region:
            raise ValueError("set either region or team, not both")
        if cfg.team:
            known = sorted(rep_kpis["team"].dropna().unique())
            if cfg.team not in known:
                raise ValueError(f"unknown team {cfg.team!r}; teams: {', '.join(known)}")
            self.scope_level_, self.scope_key_ = "team", cfg.team
        elif cfg.region:
            known = sorted(rep_kpis["region"].dropna().unique())
            if cfg.region not in known:
                raise ValueError(f"unknown region {cfg.region!r}; regions: {', '.join(known)}")
            self.scope_level_, self.scope_key_ = "region", cfg.region
        else:
            self.scope_level_, self.scope_key_ = "company", "company"

    def _in_scope(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.scope_level_ == "company":
            return frame
        return frame[frame[self.scope_level_] == self.scope_key_]

    def _scope_row(self) -> dict[str, Any]:
        f = self.kpis_.get(self.scope_level_)
        if f is None:
            return {}
        row = f[f["key"] == self.scope_key_]
        return row.iloc[0].to_dict() if len(row) else {}

    def _notes_missing(self, ds) -> None:
        f = self.kpis_["company"]
        for k in self.config_.weights:
            if k not in f.columns or f[k].isna().all():
                self._note("missing_kpi", kpi=k)
        if not ds.has("targets"):
            self._note("no_targets")

    def _note(self, key: str, **fields: Any) -> None:
        """Record a note (:func:`note_text`): in English in ``notes_`` (results.json), by key for the report."""
        self.note_keys_.append((key, fields))
        with i18n.language("en"):
            self.notes_.append(note_text(key, **fields))

    def notes_text(self) -> list[str]:
        """The notes of the review in the report's language."""
        return [note_text(key, **fields) for key, fields in getattr(self, "note_keys_", [])]

    def _waterfalls(self) -> dict[str, pd.DataFrame]:
        out = {}
        children = {"company": ["region", "team"], "region": ["team", "rep"], "team": ["rep"]}[self.scope_level_]
        total_actual = self.scope_kpis_.get("revenue")
        total_target = self.scope_kpis_.get("revenue_target")
        if total_target is None or pd.isna(total_target):
            return out
        for level in children:
            f = self.kpis_.get(level)
            if f is None or "revenue_target" not in f.columns:
                continue
            f = f.copy()
            if level == "rep":
                f = f[f["rep_id"].isin(self.scope_card_["rep_id"])]
                f["label"] = f["rep_id"]
            else:
                if self.scope_level_ != "company":
                    f = f[f[self.scope_level_] == self.scope_key_] if self.scope_level_ in f.columns else f
                f["label"] = f["key"]
            out[level] = var.gap_waterfall(f, float(total_actual), float(total_target))
        return out

    # ------------------------------------------------------------------ outputs
    def results(self) -> dict[str, Any]:
        """The values for ``performance.results.json`` as plain JSON (see docs/performance.md); NaN → None."""
        card = self.scope_card_
        below = card[card["status"].isin(["red", "amber"])]
        rel = self.relationships_
        return {
            "period": str(self.period_),
            "period_type": self.config_.period,
            "period_start": self.period_.start_time.date().isoformat(),
            "period_end": self.period_.end_time.date().isoformat(),
            "previous_period": str(self.previous_),
            "last_year_period": str(self.last_year_),
            "scope": {"level": self.scope_level_, "key": self.scope_key_},
            "weights": dict(self.config_.weights),
            "normalisation": self.config_.normalisation,
            "attainment_cap": _num(self.config_.attainment_cap),
            "warning_lines": self.config_.warning_lines,
            "scorecard": [
                {"rep_id": str(r.rep_id), "name": _text(getattr(r, "name", None)), "team": _text(getattr(r, "team", None)),
                 "score": _num(r.score), "rank": None if pd.isna(r.rank) else int(r.rank),
                 "rank_team": None if pd.isna(getattr(r, "rank_team", np.nan)) else int(r.rank_team),
                 "status": r.status}
                for r in card.itertuples(index=False)
            ],
            "company": self.company_,
            "scope_kpis": {k: _num(self.scope_kpis_.get(k)) for k in ("revenue", "revenue_target", "revenue_attainment")},
            "below_warning": int(len(below)),
            "below_warning_reps": [str(r) for r in below["rep_id"]],
            "n_reps": int(len(card)),
            "score_vs_truth_spearman": _num(self.spearman_truth_),
            "pvm_previous": _pvm_totals(self.pvm_previous_),
            "pvm_target": _pvm_totals(self.pvm_target_),
            "relationships": [
                {"x": r.x, "y": r.y, "n": int(r.n), "rho": _num(r.rho), "lo": _num(r.lo), "hi": _num(r.hi)}
                for r in rel.itertuples(index=False)
            ] if rel is not None else [],
            "notes": list(self.notes_),
        }


#: the review's period types as shown in its sentences (``pgettext("period", ...)``)
PERIOD_WORDS = (NP_("period", "month"), NP_("period", "quarter"), NP_("period", "year"))


def note_text(key: str, **fields: Any) -> str:
    """One note of the review (what was skipped and why) in the report's language.

    ``future_orders`` (``n``): order lines dated after today were ignored; ``missing_kpi`` (``kpi``): a weighted
    KPI the data cannot give; ``no_targets``; ``no_pvm``: no product data for price/volume/mix.
    """
    if key == "future_orders":
        n = int(fields["n"])
        return ngettext("{n} order line dated in the future (after today) was ignored",
                        "{n} order lines dated in the future (after today) were ignored", n, n=format(n, ","))
    if key == "missing_kpi":
        return _("{kpi} cannot be computed from this data set: its weight is spread over the other KPIs",
                 kpi=kpi_label(fields["kpi"]))
    if key == "no_targets":
        return _("no targets table: every KPI is scored by its percentile among peers")
    if key == "no_pvm":
        return _("price/volume/mix needs orders.product_id, orders.quantity and a products table")
    raise KeyError(f"unknown note {key!r}")


def _num(value: Any) -> float | None:
    """A number as a plain float; None, NaN and infinities as None."""
    if value is None:
        return None
    f = float(value)
    return f if np.isfinite(f) else None


def _text(value: Any) -> str | None:
    """A label as a plain string; None and NaN as None."""
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _pvm_totals(pvm: pd.DataFrame | None) -> dict[str, float] | None:
    if pvm is None:
        return None
    tot = pvm[pvm["product_line"] == "Total"].iloc[0]
    return {k: _num(tot[k]) for k in ("revenue_base", "volume", "mix", "price", "revenue_current", "change")}
