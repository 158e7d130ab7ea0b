"""Sales funnel: where deals leak, where they wait, which rules are broken.

Everything starts from :func:`load_deals`, which scans ``stage_history`` and
``opportunities`` in the engine (ibis/DuckDB) and brings back **one row per
opportunity** (allowed by the project's data rule): the first time each stage
was entered, the furthest stage reached, the close, the owner's team and
region and the customer's segment. All other functions are pure pandas on
that frame and return tidy DataFrames.

Definitions (documented rules, see ``docs/funnel.md``)
------------------------------------------------------
Stages
    ``stages`` is the ordered list of funnel stages ending with the won stage
    (default :data:`salesbench.core.schema.STAGES`); ``lost`` can follow any stage.
Furthest stage (skip rule)
    A deal *reached* stage ``k`` when the furthest stage it ever entered has
    index ``>= k``. A deal that skips a stage (no row for it) but enters a later
    one passed through the skipped stage; a deal that re-enters an earlier stage
    keeps its furthest stage. A ``won`` status counts as reaching the won stage
    even when its final history row is missing. This is the furthest-stage
    definition of stage conversion (FIELD_NOTES, "Funnel definitions").
Decided transitions (right-censoring)
    Transition ``k → k+1`` is *decided* for a deal that reached ``k`` when it
    reached ``k+1`` (advanced) or is closed without reaching it (lost at ``k``).
    A deal still open at its furthest stage ``k`` has an undecided ``k → k+1``
    transition and is left out of that transition only (not counted as lost).
    Stage conversion = advanced ÷ decided. Cumulative conversion to stage ``j``
    is the product of the stage conversions up to ``j`` (an estimate of
    P(reach j | lead)); the last one is the lead-to-won win rate.
Closed cohorts
    Headline conversion uses deals created at least ``mature_days`` before
    ``as_of`` (cohorts old enough to have closed); recent cohorts are shown in
    the cohort view by creation month, labelled, never mixed into the rates.
Time in stage
    From the first entry into stage ``k`` to the first entry into any later
    stage (or the close, for the furthest stage); re-entries do not restart the
    clock. For open deals the furthest stage's time is right-censored at
    ``as_of``; medians and p90s are Kaplan–Meier quantiles
    (``scipy.stats.ecdf`` on censored data; Kaplan & Meier 1958).
"""
from __future__ import annotations

import datetime as _dt
from typing import Any, Mapping

import pandas as pd

from salesbench.analyses.base import Analysis, all_of, number
from salesbench.analyses.funnel.bayes import PooledRates, pooled_win_rates
from salesbench.analyses.funnel.conversion import (biggest_leak, cohort_table, conversion_dict, lost_reasons,
                                                   stage_conversion, stage_win_probability, win_rates)
from salesbench.analyses.funnel.deals import check_stages, load_deals
from salesbench.analyses.funnel.durations import (cycle_stats, sla_breaches, sla_summary, stage_durations,
                                                  stay_lengths, stuck_deals)
from salesbench.analyses.funnel.pipeline import coverage, next_period_targets, velocity, weighted_pipeline
from salesbench.core.jsonable import to_jsonable
from salesbench.core.errors import CheckError, ReportSkipped

#: Breakdown dimensions understood by the per-group functions.
DIMENSIONS = ("channel", "region", "team", "rep_id", "segment")
#: Breakdowns whose win rates can be pooled (``pooled_by``).
POOLABLE = ("rep_id", "segment", "channel", "region", "team")


class Funnel(Analysis):
    """The sales funnel of ``params/funnel.yaml``: conversion, time in stage, SLAs, stuck deals, velocity, coverage.

    ``Funnel.from_params(P).fit(ds)`` learns (closed cohorts = deals created at
    least ``mature_days`` before ``as_of``; every cohort when none is that old,
    ``all_cohorts_`` then True):

    * ``deals_`` (:class:`~salesbench.analyses.funnel.deals.Deals`, every deal in the
      period), ``closed_`` (the closed cohorts);
    * ``conversion_`` / ``conversion_all_cohorts_`` / ``conversion_by_`` (per breakdown),
      ``win_`` / ``win_by_``, ``lost_``, ``cohorts_`` (:mod:`.conversion`);
    * ``durations_``, ``stays_``, ``cycle_``, ``sla_checks_``, ``sla_``, ``sla_by_``,
      ``stuck_`` (:mod:`.durations`);
    * ``velocity_``, ``velocity_by_team_``, ``stage_prob_``, ``coverage_``,
      ``coverage_by_team_`` (:mod:`.pipeline`);
    * ``pooled_``: ``{breakdown: PooledRates or None}`` for every ``pooled_by``
      breakdown — hierarchical Beta-Binomial win rates (:mod:`.bayes`: the posterior by quadrature,
      ``mcmc_draws × mcmc_chains`` draws by ``seed``, intervals of ``credible_mass``; ``mcmc_tune`` is
      NUTS's, used only by ``pooled_rates(method="nuts")``).

    Raises :class:`~salesbench.core.errors.ReportSkipped` when no opportunity is in scope.
    """

    name = "funnel"

    def __init__(self, start=None, end=None, as_of=None,
                 stages=["lead", "contact", "needs_confirmed", "proposal", "negotiation", "contract", "won"],
                 mature_days=90, segment_column="tier", sla_hours={"needs_confirmed": 48}, stuck_days={},
                 coverage_threshold=3.0, coverage_months=1, target_metric="new_business",
                 pooled_by=["rep_id", "segment"], mcmc_draws=500, mcmc_tune=500, mcmc_chains=2,
                 credible_mass=0.9, seed=0):
        self.start = start
        self.end = end
        self.as_of = as_of
        self.stages = stages
        self.mature_days = mature_days
        self.segment_column = segment_column
        self.sla_hours = sla_hours
        self.stuck_days = stuck_days
        self.coverage_threshold = coverage_threshold
        self.coverage_months = coverage_months
        self.target_metric = target_metric
        self.pooled_by = pooled_by
        self.mcmc_draws = mcmc_draws
        self.mcmc_tune = mcmc_tune
        self.mcmc_chains = mcmc_chains
        self.credible_mass = credible_mass
        self.seed = seed

    # -- parameters ---------------------------------------------------------------
    @classmethod
    def check_params(cls, values: Mapping[str, Any]) -> None:
        """Stages (two or more, distinct, no ``lost``), SLA stages among them (not the first), positive limits and
        thresholds, ``mature_days`` ≥ 0, ``coverage_months`` a whole number ≥ 1, ``credible_mass`` in (0, 1),
        ``pooled_by`` among :data:`POOLABLE`."""
        try:
            stages = check_stages(values["stages"])  # an empty list means the default stages
        except ValueError as exc:
            raise CheckError("stages", str(exc).removeprefix("stages ")) from None
        mature = values["mature_days"]
        if isinstance(mature, bool) or not isinstance(mature, (int, float)) or mature < 0:
            raise CheckError("mature_days", f"mature_days must be a number ≥ 0, got {mature!r}")
        for key in ("sla_hours", "stuck_days"):
            for stage, limit in dict(values[key] or {}).items():
                _positive(key, f"{key}[{stage!r}]", limit)
        for stage in dict(values["sla_hours"] or {}):
            if stage not in stages:
                raise CheckError("sla_hours", f"SLA stage {stage!r} is not one of the funnel stages {stages}")
            if stage == stages[0]:
                raise CheckError("sla_hours", f"SLA stage {stage!r} is the first stage; it has no previous stage to "
                                              "start the clock")
        _positive("coverage_threshold", "coverage_threshold", values["coverage_threshold"])
        months = values["coverage_months"]
        if isinstance(months, bool) or not isinstance(months, int) or months < 1:
            raise CheckError("coverage_months", f"coverage_months must be a whole number ≥ 1, got {months!r}")
        if not 0 < number("credible_mass", values["credible_mass"]) < 1:
            raise CheckError("credible_mass", f"must be between 0 and 1, got {values['credible_mass']}")
        all_of(values, "pooled_by", POOLABLE, "breakdown")

    # -- learning -----------------------------------------------------------------
    def fit(self, ds) -> "Funnel":
        """Run the whole funnel analysis on ``ds`` (the rules: this module's docstring).

        Conversion, win rates, lost reasons, cycle lengths, velocity inputs and stage probabilities come from
        the closed cohorts; open counts, stuck deals, SLA checks, durations and cohorts use every deal in the
        period. Steps: :meth:`_fit_conversion`, :meth:`_fit_time`, :meth:`_fit_pipeline`, :meth:`_fit_pooled`.
        """
        self.check_params(self.get_params())
        deals = load_deals(ds, self.stages, self.start, self.end, self.as_of, self.segment_column)
        if deals.n == 0:
            raise ReportSkipped(self._no_deals_reason())
        closed = deals.mature(self.mature_days)
        self.all_cohorts_ = closed.n == 0  # no deal old enough: fall back to every cohort, and say so
        self.deals_, self.closed_ = deals, (deals if self.all_cohorts_ else closed)
        present = [d for d in DIMENSIONS if d in deals.frame and deals.frame[d].notna().any()]
        self._fit_conversion(present)
        self._fit_time(present)
        self._fit_pipeline(ds, present)
        self._fit_pooled()
        return self

    def _no_deals_reason(self) -> str:
        when = [f"from {pd.Timestamp(self.start).date()}" if self.start is not None else "",
                f"to {pd.Timestamp(self.end).date()}" if self.end is not None else "",
                f"on or before {pd.Timestamp(self.as_of).date()}" if self.as_of is not None else ""]
        return "no opportunity was created " + (" ".join(w for w in when if w) or "in the data")

    def _fit_conversion(self, present: list[str]) -> None:
        """Stage conversion (closed cohorts, per breakdown, all cohorts for contrast), win rates, losses, cohorts."""
        deals, closed = self.deals_, self.closed_
        self.conversion_ = stage_conversion(closed)
        self.conversion_all_cohorts_ = self.conversion_ if closed is deals else stage_conversion(deals)
        self.conversion_by_ = {d: stage_conversion(closed, d) for d in present}
        self.win_ = win_rates(closed, conv=self.conversion_)
        self.win_by_ = {d: win_rates(closed, d, conv=self.conversion_by_[d]) for d in present}
        self.lost_ = lost_reasons(closed)
        self.cohorts_ = cohort_table(deals)

    def _fit_time(self, present: list[str]) -> None:
        """Time in stage (every deal), stays for the box plot, sales cycle (closed cohorts), SLAs, stuck deals."""
        deals = self.deals_
        self.durations_ = stage_durations(deals)
        self.stays_ = stay_lengths(deals, seed=self.seed)
        self.cycle_ = cycle_stats(self.closed_)
        self.sla_checks_ = sla_breaches(deals, self.sla_hours)
        self.sla_ = sla_summary(self.sla_checks_)
        self.sla_by_ = {d: sla_summary(self.sla_checks_, d) for d in ("rep_id", "team") if d in present}
        self.stuck_ = stuck_deals(deals, self.durations_, self.stuck_days)

    def _fit_pipeline(self, ds, present: list[str]) -> None:
        """Velocity (company, per team), stage win probabilities, weighted pipeline vs next-period targets."""
        deals, closed = self.deals_, self.closed_
        self.velocity_ = velocity(deals, closed)
        self.velocity_by_team_ = velocity(deals, closed, "team") if "team" in present else pd.DataFrame()
        self.stage_prob_ = stage_win_probability(self.conversion_, deals.stages)
        company_t = next_period_targets(ds, deals.as_of, self.coverage_months, "company", self.target_metric)
        pipe = weighted_pipeline(deals, self.stage_prob_)
        pipe["key"] = "company"
        cov = coverage(pipe, company_t, "key", self.coverage_threshold) if len(company_t) else pd.DataFrame()
        self.coverage_ = cov[cov["key"] == "company"].reset_index(drop=True) if len(cov) else cov
        self.coverage_by_team_ = pd.DataFrame()
        if "team" in present:
            team_t = next_period_targets(ds, deals.as_of, self.coverage_months, "team", self.target_metric)
            if len(team_t):
                self.coverage_by_team_ = coverage(weighted_pipeline(deals, self.stage_prob_, "team"), team_t, "team",
                                                  self.coverage_threshold)

    def _fit_pooled(self) -> None:
        """Partially pooled win rates per ``pooled_by`` breakdown (``None`` where there is nothing to pool)."""
        frame = self.closed_.frame
        teams = frame.dropna(subset=["rep_id"]).drop_duplicates("rep_id").set_index("rep_id")["team"]
        mcmc = dict(draws=self.mcmc_draws, tune=self.mcmc_tune, chains=self.mcmc_chains, seed=self.seed,
                    prob=self.credible_mass)
        self.pooled_: dict[str, PooledRates | None] = {
            by: pooled_win_rates(self.win_by_.get(by), by, teams, **mcmc) for by in self.pooled_by
        }

    # -- results ------------------------------------------------------------------
    @property
    def as_of_date(self) -> _dt.date:
        """The reference day (``as_of`` is the midnight after it, or the latest event)."""
        return (self.deals_.as_of - pd.Timedelta(microseconds=1)).date()

    def results(self) -> dict[str, Any]:
        """The values of ``funnel.results.json`` (plain JSON: NaN as null, dates as ISO text)."""
        total_v = self.velocity_["velocity_per_day"].iloc[0] if len(self.velocity_) else None
        cov = self.coverage_["coverage"].iloc[0] if len(self.coverage_) else None
        rates = self.sla_.set_index("stage")["breach_rate"].to_dict() if len(self.sla_) else {}
        values = {
            "n_opportunities": self.deals_.n,
            "n_closed_cohort": self.closed_.n,
            "as_of": self.as_of_date,
            "stage_conversion": conversion_dict(self.conversion_),
            "win_rate": self.win_["win_rate"].iloc[0],
            "lead_to_won": self.win_["lead_to_won"].iloc[0],
            "median_cycle_days": self.cycle_["median_cycle_days"],
            "p90_cycle_days": self.cycle_["p90_cycle_days"],
            "median_hours_to_contact": self.cycle_["median_hours_to_contact"],
            "sla_breach_rate": {k: float(v) for k, v in rates.items()},
            "stuck_deals": int(len(self.stuck_)),
            "stuck_amount": float(self.stuck_["amount"].sum()) if len(self.stuck_) else 0.0,
            "velocity_per_day": total_v,
            "coverage_ratio": cov,
            "coverage_threshold": self.coverage_threshold,
            "open_opportunities": int((self.deals_.frame["status"] == "open").sum()),
            "biggest_leak": biggest_leak(self.conversion_),
            "unknown_stage_rows": int(sum(self.deals_.unknown_stages.values())),
            "unknown_stages": dict(self.deals_.unknown_stages),
            "pooled_win_rate": {k: p.table.set_index(k)["mean"].to_dict() for k, p in self.pooled_.items()
                                if p is not None},
            "win_rate_by_channel": (self.win_by_["channel"].set_index("channel")["win_rate"].to_dict()
                                    if "channel" in self.win_by_ else {}),
        }
        return to_jsonable(values)


def _positive(key: str, name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise CheckError(key, f"{name} must be a positive number, got {value!r}")

