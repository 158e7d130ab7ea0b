"""Sales plan: next period's company target, broken down to region, team, rep and month, with P(reach) per piece.

The question: what should each unit sell next period so that the pieces add up
to the company target, and how likely is each piece?

:class:`SalesPlan` runs the steps, each in its own module:

1. :mod:`~salesbench.analyses.plan.target` — the planned period.
2. The forecasting analysis (:class:`~salesbench.analyses.forecasting.model.SalesForecast`,
   total and regions, cheap settings) — the predictive distribution of every planned month.
3. :mod:`~salesbench.analyses.plan.drivers` — per rep: the live book (live customers × their tier's
   retention + a year of new business), last-year revenue, last-year revenue of live customers,
   tenure-ramped capacity (alone, × pooled win rate, × last review score), forecast share; then the
   company target: the ``basis`` (Σ books, last period's revenue or the forecast mean) × (1 + ``growth``),
   or the absolute ``amount``.
4. :mod:`~salesbench.analyses.plan.allocate` — the split down ``levels`` by the ``weights`` of the
   drivers and inside each piece over the months (largest-remainder rounding: exact sums).
5. :mod:`~salesbench.analyses.plan.feasibility` — P(reach) and a red/amber/green flag per piece and month
   (company and regions from the forecast; teams and reps centred on the reps' books with ``reversion``).

Wording and tables live in :mod:`salesbench.analyses.plan.report`, figures in
:mod:`salesbench.analyses.plan.plots`; formulas in ``docs/plan.md``.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from salesbench.analyses.base import Analysis, all_of, check_with, number, one_of
from salesbench.analyses.forecasting.backtest import MODELS
from salesbench.analyses.forecasting.model import SalesForecast
from salesbench.analyses.forecasting.reconcile import RECONCILIATION
from salesbench.analyses.forecasting.series import TOTAL
from salesbench.analyses.plan import allocate as al
from salesbench.analyses.plan import backtest as bt
from salesbench.analyses.plan import drivers as dv
from salesbench.analyses.plan import feasibility as fz
from salesbench.analyses.plan import target as tg
from salesbench.analyses.plan.split import split
from salesbench.core.errors import CheckError, ReportSkipped
from salesbench.core.i18n import messages
from salesbench.viz.format import fmt_month

#: the skip reasons are shown in the report's language (named gettext, not ``_``: this module loops with ``for _, ...``)
gettext = messages(__name__).gettext

MONTH_DRIVERS = ("forecast", "last_year")


def _weights(values: Mapping[str, Any], key: str, allowed) -> None:
    w = values[key]
    all_of({key: list(w)}, key, allowed, "driver")
    for k, v in w.items():
        if number(f"{key}.{k}", v) < 0:
            raise CheckError(key, f"weight of {k} must not be negative, got {v}")
    if abs(sum(float(v) for v in w.values()) - 1.0) > 1e-6:
        raise CheckError(key, f"weights must sum to 1, they sum to {sum(float(v) for v in w.values()):g}")


class _PlanForecast(SalesForecast):
    """The forecasting analysis with only the steps whose results the plan reads (``forecast_``, ``rho_``): series,
    backtest, forecast, reconciliation. The targets, the gap to them, the next quarter and the product lifecycle
    (two more engine queries) are shown by the forecasting report only, so the plan does not compute them; what it
    reads is the same as :meth:`SalesForecast.fit`'s (``tests/analyses/plan/test_plan_steps.py``)."""

    def fit(self, ds) -> "_PlanForecast":
        self._fit_model_steps(ds)
        return self


class SalesPlan(Analysis):
    """Configure, then ``fit(ds)``: period → company target → forecast → drivers → split → months → P(reach).

    After ``fit``: ``as_of_``, ``period_`` (label), ``months_`` (month starts), ``last_span_`` (the
    same span a year earlier), ``last_revenue_``, ``basis_amount_`` (what the target grows from), ``target_``,
    ``retention_`` (the book's net revenue retention per tier, ``new`` / ``established``), ``book_scale_`` (last
    period's revenue ÷ that of the 12 months the book is measured on; 1 for a year planned from its eve); ``forecast_`` (the forecast's rows
    for the planned months), ``rho_``; ``total_`` (the total's period mean, σ, monthly means, monthly σ);
    ``regions_`` (the same per region, and its last-year months); ``company_`` (``mean, sigma, prob_reach, stretch``);
    ``reps_`` (drivers per rep, with ``book``, ``rep_mean`` (the expected revenue behind its P(reach),
    :func:`~.feasibility.rep_means`) and ``mean_share`` (its share of the region's books)); ``win_rates_`` / ``review_scores_`` (per rep, empty when their driver's weight
    is 0); ``rep_sigma_`` (a rep's own relative year-to-year swing, :func:`~.feasibility.rep_sigma`); ``tree_`` (one row per unit: ``level, key, parent, target``,
    drivers, ``mean, sigma, prob_reach, status``, and ``actual, attainment`` when the data holds the period); ``monthly_`` (``level, key, month, target,
    last_year, mean, sigma, prob_reach, status``); ``at_risk_`` (the riskiest reps); ``lines_`` (each region's target over its
    product lines, or None without ``products.product_line`` / with ``product_lines`` false); ``backtest_`` (None, or
    when the data already holds the whole period: actuals, attainment and the calibration of P(reach),
    :mod:`~salesbench.analyses.plan.backtest`).
    """

    name = "plan"

    def __init__(self, as_of=None, period=None, growth=0.0, amount=None, basis="book",
                 levels=["region", "team", "rep"],
                 weights={"book": 1.0},
                 month_weights={"forecast": 0.5, "last_year": 0.5}, rounding=1000.0, live_days=180,
                 ramp_months=6.0, win_rate_prior=20.0, reversion=0.5, review_period="quarter", product_lines=True,
                 risk_lines={"red": 0.3, "amber": 0.5},
                 forecast_models=["seasonal_naive", "ets"], forecast_origins=2,
                 forecast_reconciliation="wls_struct", at_risk=10):
        self.as_of = as_of
        self.period = period
        self.growth = growth
        self.amount = amount
        self.basis = basis
        self.levels = levels
        self.weights = weights
        self.month_weights = month_weights
        self.rounding = rounding
        self.live_days = live_days
        self.ramp_months = ramp_months
        self.win_rate_prior = win_rate_prior
        self.reversion = reversion
        self.review_period = review_period
        self.product_lines = product_lines
        self.risk_lines = risk_lines
        self.forecast_models = forecast_models
        self.forecast_origins = forecast_origins
        self.forecast_reconciliation = forecast_reconciliation
        self.at_risk = at_risk

    # -- parameters -----------------------------------------------------------------------------
    @classmethod
    def check_params(cls, values: Mapping[str, Any]) -> None:
        """Period format (and not begun by ``as_of`` when given), growth > −100 %, a known basis, reversion ≥ 0,
        amount ≥ 0, levels in hierarchy order, driver weights known, non-negative and summing to 1, rounding ≥ 0,
        risk lines ordered."""
        if values["period"] is not None:
            check_with("period", tg.parse_period, values["period"])
            if values["as_of"] is not None:
                check_with("period", tg.plan_period, values["period"], values["as_of"])
        if number("growth", values["growth"]) <= -1:
            raise CheckError("growth", f"must be above -1 (a fall of 100%), not {values['growth']}")
        one_of(values, "basis", list(tg.BASES))
        if number("reversion", values["reversion"]) < 0:
            raise CheckError("reversion", f"must be 0 (the book alone) or positive, not {values['reversion']}")
        if values["amount"] is not None and number("amount", values["amount"]) < 0:
            raise CheckError("amount", f"a target cannot be below zero, got {values['amount']}")
        levels = list(values["levels"])
        all_of(values, "levels", dv.LEVELS, "level")
        if not levels or levels != [lv for lv in dv.LEVELS if lv in levels]:
            raise CheckError("levels", f"give one or more of {', '.join(dv.LEVELS)} in that order, not {levels}")
        _weights(values, "weights", dv.DRIVERS)
        _weights(values, "month_weights", MONTH_DRIVERS)
        if number("win_rate_prior", values["win_rate_prior"]) < 0:
            raise CheckError("win_rate_prior", f"must be 0 (no pooling) or a positive number of deals, "
                                               f"not {values['win_rate_prior']}")
        one_of(values, "review_period", ["month", "quarter", "year"])
        if number("rounding", values["rounding"]) < 0:
            raise CheckError("rounding", f"must be 0 (no rounding) or a positive step, not {values['rounding']}")
        lines = values["risk_lines"]
        if set(lines) != {"red", "amber"} or not 0 <= number("risk_lines.red", lines["red"]) \
                <= number("risk_lines.amber", lines["amber"]) <= 1:
            raise CheckError("risk_lines", f"needs red ≤ amber, both probabilities in [0, 1], got {lines}")
        all_of(values, "forecast_models", MODELS, "model")
        if not values["forecast_models"]:
            raise CheckError("forecast_models", "at least one model is needed")
        one_of(values, "forecast_reconciliation", list(RECONCILIATION))

    @classmethod
    def check_data(cls, values: Mapping[str, Any], ds) -> None:
        """The period must not have begun by the end of the history (``as_of``, or the last order date when
        ``as_of`` is null) and every level of ``levels`` above ``rep`` must be in the data (a ``reps`` column
        with values); :class:`CheckError` naming ``period`` / ``levels``."""
        missing = [lv for lv in values["levels"] if lv != "rep" and not dv.has_level(ds, lv)]
        if missing:
            raise CheckError("levels", f"the reps table has no {' or '.join(missing)} (a column with values); "
                                       f"drop {', '.join(missing)} from levels or add the column")
        as_of = values["as_of"]
        if as_of is None:
            as_of = ds.table("orders").order_date.max().to_pyarrow().as_py()
            if as_of is None:
                return  # no orders: the report is skipped in fit
        try:
            tg.plan_period(values["period"], as_of)
        except ValueError as exc:
            raise CheckError("period", str(exc)) from None

    # -- learning -------------------------------------------------------------------------------
    def fit(self, ds) -> "SalesPlan":
        """Every step on ``ds``; :class:`ReportSkipped` without reps or a full last period of orders,
        :class:`CheckError` for the rules of :meth:`check_data` (a period already begun, a level not in the data)."""
        ds.require("orders", "reps", analysis="plan")
        self.check_data(self.get_params(), ds)
        o = ds.table("orders")
        last_date = o.order_date.max().to_pyarrow().as_py()
        if last_date is None:
            raise ReportSkipped(gettext("no orders"))
        self.as_of_ = self.as_of or last_date
        try:
            self.period_, first, last = tg.plan_period(self.period, self.as_of_)
        except ValueError as exc:
            raise CheckError("period", str(exc)) from None
        self.months_ = tg.months(first, last)
        ly_first, ly_last = first - 12, last - 12
        first_date = self._first_date_ = o.order_date.min().to_pyarrow().as_py()
        if ly_first.start_time.date() < first_date or ly_last.end_time.date() > self.as_of_:
            raise ReportSkipped(gettext("the orders do not cover the whole last period {first}..{last}",
                                  first=fmt_month(str(ly_first)), last=fmt_month(str(ly_last))))
        self.last_span_ = (ly_first, ly_last)
        self._fit_target(ds, ly_first, ly_last)
        self._fit_forecast(ds, last)
        self._fit_drivers(ds, ly_first, ly_last, first, last)
        self._fit_basis()
        self._fit_tree()
        self._fit_feasibility()
        self._fit_lines()
        self._fit_backtest(ds, first, last, last_date)
        return self

    def _fit_backtest(self, ds, first, last, last_date) -> None:
        """Actuals and calibration when the data holds the whole planned period (a plan made in the past)."""
        self.backtest_ = None
        if last_date < last.end_time.date():
            return
        rev = dv.rep_months(ds, first, last).groupby("rep_id")["revenue"].sum()
        company = float(rev.sum())
        t = self.tree_
        t["actual"] = bt.unit_actuals(t, self.reps_, rev, company)
        t["attainment"] = t["actual"] / t["target"].where(t["target"] > 0)
        deepest = t[t["level"] == t["level"].iloc[-1]]
        att = deepest["attainment"].dropna()
        cal = bt.calibration(deepest["prob_reach"], deepest["actual"] >= deepest["target"])
        self.backtest_ = {"level": str(deepest["level"].iloc[0]), "company_actual": company,
                          "company_attainment": company / self.target_ if self.target_ else None,
                          "median_attainment": float(att.median()),
                          "attainment_iqr": float(att.quantile(0.75) - att.quantile(0.25)), **cal}

    def _fit_target(self, ds, ly_first, ly_last) -> None:
        monthly = dv.rep_months(ds, ly_first, ly_last)
        self.last_monthly_ = monthly
        self.last_revenue_ = float(monthly["revenue"].sum())

    def _fit_basis(self) -> None:
        """The company target over its ``basis``: last period's revenue, the reps' books or the forecast mean."""
        self.basis_amount_ = {"last_year": self.last_revenue_, "book": float(self.reps_["book"].sum()),
                              "forecast": float(self.total_[0])}[self.basis]
        if self.basis_amount_ <= 0 and self.amount is None:
            raise ReportSkipped(gettext("the basis of the company target is zero: there is nothing to grow from"))
        self.target_ = tg.company_target(self.basis_amount_, self.growth, self.amount, self.rounding)

    def _fit_forecast(self, ds, last) -> None:
        horizon = (last - pd.Period(self.as_of_, "M")).n + 1   # the as_of month may be incomplete (dropped)
        self.line_data_ = dv.line_revenue(ds, *self.last_span_) if self.product_lines else None
        dims = ["region", "product_line"] if self.line_data_ is not None else ["region"]
        f = _PlanForecast(dimensions=dims, as_of=self.as_of_, horizon=horizon, n_origins=self.forecast_origins,
                          models=list(self.forecast_models), deep_models=list(self.forecast_models),
                          reconciliation=self.forecast_reconciliation).fit(ds)
        starts = [m.start_time for m in self.months_]
        self.forecast_ = f.forecast_[f.forecast_["ds"].isin(starts)].reset_index(drop=True)
        self.rho_ = float(f.rho_) if np.isfinite(f.rho_) else 0.0
        if set(self.forecast_.loc[self.forecast_["unique_id"] == TOTAL, "ds"]) != set(starts):
            raise ReportSkipped(gettext("the forecast does not reach {month}", month=fmt_month(str(self.months_[-1]))))
        self.total_ = fz.unit_distribution(self.forecast_, TOTAL, starts, self.rho_)

    def _fit_drivers(self, ds, ly_first, ly_last, first, last) -> None:
        reps = dv.reps_frame(ds)
        mid = (first.start_time + (last.end_time - first.start_time) / 2).date()
        cust = dv.customer_revenue(ds, ly_first, ly_last, self.as_of_, self.live_days)
        r = dv.rep_drivers(reps, self.last_monthly_, cust, mid, self.ramp_months)
        r["book"] = r["rep_id"].map(self._book(ds, ly_first, ly_last)).fillna(0.0)
        self.win_rates_ = self.review_scores_ = pd.Series(dtype=float)
        if self.weights.get("win_rate", 0) > 0:
            self.win_rates_ = dv.pooled_win_rates(ds, ly_first, ly_last, self.as_of_, float(self.win_rate_prior))
        if self.weights.get("review", 0) > 0:
            self.review_scores_ = dv.review_scores(ds, self.as_of_, self.review_period) / 100
        w0 = self.win_rates_
        r["win_rate"] = dv.ability(r["capacity"], r["rep_id"], w0, w0.attrs.get("company", 1.0))
        s0 = self.review_scores_
        r["review"] = dv.ability(r["capacity"], r["rep_id"], s0, float(s0.median()) if len(s0) else 1.0)
        region_ly = r.groupby("region")["last_year"].transform("sum")
        n_in_region = r.groupby("region")["rep_id"].transform("count")
        r["region_share"] = np.where(region_ly > 0, r["last_year"] / region_ly.where(region_ly > 0, 1), 1 / n_in_region)
        starts = [m.start_time for m in self.months_]
        self.regions_ = {}
        for region in sorted(r["region"].unique()):
            self.regions_[region] = self._region_distribution(region, r, starts)
        r["forecast"] = [self.regions_[g]["mean"] * s for g, s in zip(r["region"], r["region_share"])]
        self.rep_sigma_ = 0.0
        prev = pd.Series(dtype=float)
        prev_first = ly_first - 12
        if prev_first.start_time.date() >= self._first_date_:
            prev = dv.rep_months(ds, prev_first, ly_last - 12).groupby("rep_id")["revenue"].sum()
            ix = r.set_index("rep_id")
            self.rep_sigma_ = fz.rep_sigma(ix.index.map(prev).to_series(index=ix.index), ix["last_year"], ix["region"])
        r["rep_mean"] = fz.rep_means(r["book"], r["rep_id"].map(prev), r["last_year"], r["region"], float(self.reversion))
        book_region = r.groupby("region")["book"].transform("sum")
        r["mean_share"] = np.where(book_region > 0, r["rep_mean"] / book_region.where(book_region > 0, 1),
                                   r["region_share"])
        self.reps_ = r

    def _book(self, ds, ly_first, ly_last) -> pd.Series:
        """Each rep's book for the planned period: the book of the 12 full months up to ``as_of``
        (:func:`~.drivers.book_value`) × (last period's revenue ÷ those 12 months' revenue), so a quarter's book
        keeps the customers won after the same quarter a year earlier; a year planned from its eve: factor 1."""
        t_last = pd.Period(self.as_of_, "M")
        if self.as_of_ != t_last.end_time.date():
            t_last -= 1
        t_first = t_last - 11
        book, self.retention_ = dv.book_value(ds, t_first, t_last, self.as_of_, self.live_days, self._first_date_)
        self.book_scale_ = 1.0
        if (t_first, t_last) != (ly_first, ly_last):
            trailing = float(dv.rep_months(ds, t_first, t_last)["revenue"].sum())
            self.book_scale_ = self.last_revenue_ / trailing if trailing > 0 else 1.0
        return book * self.book_scale_

    def _region_distribution(self, region: str, reps: pd.DataFrame, starts) -> dict:
        """The region's forecast series; without one (a region only the reps table knows), the total × its last-year share."""
        try:
            mean, sigma, mm, ms = fz.unit_distribution(self.forecast_, region, starts, self.rho_)
        except KeyError:
            total = fz.unit_distribution(self.forecast_, TOTAL, starts, self.rho_)
            ly = reps["last_year"].sum()
            share = reps.loc[reps["region"] == region, "last_year"].sum() / ly if ly > 0 else 0.0
            mean, sigma = fz.scaled(total[0], total[1], share)
            mm, ms = fz.scaled(total[2], total[3], share)
        ly_months = self.last_monthly_.merge(reps.loc[reps["region"] == region, ["rep_id"]], on="rep_id")
        ly = ly_months.groupby("month")["revenue"].sum().reindex([m - 12 for m in self.months_], fill_value=0.0)
        return {"mean": float(mean), "sigma": float(sigma), "month_mean": np.asarray(mm, float),
                "month_sigma": np.asarray(ms, float), "last_year_months": ly.to_numpy(float)}

    def _fit_tree(self) -> None:
        step = float(self.rounding)
        self.tree_ = al.allocate(self.target_, self.reps_, list(self.levels), self.weights, step)
        profiles = {g: al.month_profile(d["month_mean"], d["last_year_months"], self.month_weights)
                    for g, d in self.regions_.items()}
        total = self.total_
        ly_total = self.last_monthly_.groupby("month")["revenue"].sum().reindex([m - 12 for m in self.months_],
                                                                                fill_value=0.0)
        profiles["company"] = al.month_profile(total[2], ly_total.to_numpy(float), self.month_weights)
        self.monthly_ = al.monthly(self.tree_, profiles, self.months_, step)

    def _fit_feasibility(self) -> None:
        t, r = self.tree_, self.reps_
        share = {f"region:{g}": 1.0 for g in self.regions_}
        share.update({f"rep:{k}": s for k, s in zip(r["rep_id"], r["mean_share"])})
        share.update({f"team:{k}": s for k, s in r.groupby("team")["mean_share"].sum().items()})
        # each rep's own swing (rep_sigma_ × its mean) adds to its variance; a team adds its reps' (Σ share²)
        own = {f"rep:{k}": s * s for k, s in zip(r["rep_id"], r["mean_share"])}
        own.update({f"team:{k}": v for k, v in (r["mean_share"] ** 2).groupby(r["team"]).sum().items()})
        # below the region, the level is the reps' books (the bottom-up forecast), the spread the region's relative σ
        level = {g: (b / self.regions_[g]["mean"] if b > 0 and self.regions_[g]["mean"] > 0 else 1.0)
                 for g, b in r.groupby("region")["book"].sum().items()}
        means, sigmas, mmeans, msigmas = [], [], {}, {}
        for _, row in t.iterrows():
            if row["level"] == "company":
                m, s, mm, ms = self.total_
            else:
                d = dict(self.regions_[row["region"]])
                if row["level"] != "region":
                    k = level.get(row["region"], 1.0)
                    d = {**d, **{c: d[c] * k for c in ("mean", "sigma", "month_mean", "month_sigma")}}
                m, s = fz.scaled(d["mean"], d["sigma"], share[row["id"]])
                mm, ms = fz.scaled(d["month_mean"], d["month_sigma"], share[row["id"]])
                extra = self.rep_sigma_ ** 2 * own.get(row["id"], 0.0)
                s = np.sqrt(s ** 2 + extra * d["mean"] ** 2)
                ms = np.sqrt(ms ** 2 + extra * d["month_mean"] ** 2)
            means.append(float(m)), sigmas.append(float(s))
            mmeans[(row["level"], row["key"])], msigmas[(row["level"], row["key"])] = mm, ms
        t["mean"], t["sigma"] = means, sigmas
        t["prob_reach"] = fz.reach(t["mean"], t["sigma"], t["target"])
        t["status"] = fz.flag(t["prob_reach"], self.risk_lines)
        mo = self.monthly_
        idx = {m: i for i, m in enumerate(self.months_)}
        mo["mean"] = [mmeans[(lv, k)][idx[m]] for lv, k, m in zip(mo["level"], mo["key"], mo["month"])]
        mo["sigma"] = [msigmas[(lv, k)][idx[m]] for lv, k, m in zip(mo["level"], mo["key"], mo["month"])]
        mo["prob_reach"] = fz.reach(mo["mean"], mo["sigma"], mo["target"])
        mo["status"] = fz.flag(mo["prob_reach"], self.risk_lines)
        c = t.iloc[0]
        self.company_ = {"target": float(c["target"]), "mean": float(c["mean"]), "sigma": float(c["sigma"]),
                         "prob_reach": float(c["prob_reach"]), "stretch": float(c["target"] / c["mean"] - 1)}
        self.at_risk_ = self._at_risk()

    def _fit_lines(self) -> None:
        """Each region's target (the company's without a region level) split over its product lines by
        ``month_weights`` of the line's forecast and last-year revenue; P(reach) from the region/line forecast."""
        self.lines_ = None
        if self.line_data_ is None:
            return
        lines = self.line_data_.merge(self.reps_[["rep_id", "region"]], on="rep_id", how="inner")
        by_region = "region" in self.levels
        parents = self.tree_[self.tree_["level"] == ("region" if by_region else "company")]
        starts = [m.start_time for m in self.months_]
        rows = []
        for _, par in parents.iterrows():
            sub = lines[lines["region"] == par["key"]] if by_region else lines
            g = sub.groupby("product_line", sort=True)["revenue"].sum().rename("last_year").to_frame()
            if g.empty:
                continue
            dist = {}
            for line in g.index:
                uid = f"{par['key']}/{line}" if by_region else line
                try:
                    dist[line] = fz.unit_distribution(self.forecast_, uid, starts, self.rho_)[:2]
                except KeyError:  # no forecast series: the parent's scaled by the line's last-year share
                    dist[line] = fz.scaled(par["mean"], par["sigma"], g.loc[line, "last_year"] / g["last_year"].sum())
            g["forecast"] = [float(dist[ln][0]) for ln in g.index]
            g["sigma"] = [float(dist[ln][1]) for ln in g.index]
            g["target"] = split(par["target"], g, self.month_weights, float(self.rounding))
            g["parent"] = par["key"]
            rows.append(g.reset_index())
        if not rows:
            return
        out = pd.concat(rows, ignore_index=True)
        out["growth"] = out["target"] / out["last_year"].where(out["last_year"] > 0) - 1
        out["prob_reach"] = fz.reach(out["forecast"], out["sigma"], out["target"])
        out["status"] = fz.flag(out["prob_reach"], self.risk_lines)
        self.lines_ = out[["parent", "product_line", "last_year", "target", "growth", "forecast", "sigma",
                           "prob_reach", "status"]]

    def _at_risk(self) -> pd.DataFrame:
        """The deepest level's pieces with the lowest P(reach), with the gap and the key-account share."""
        deepest = self.tree_["level"].iloc[-1]
        t = self.tree_[self.tree_["level"] == deepest].copy()
        if deepest == "rep":
            t = t.merge(self.reps_[["rep_id", "top_customer_share"]], left_on="key", right_on="rep_id",
                        how="left").drop(columns="rep_id")
        t["gap"] = t["target"] - t["mean"]
        return t.sort_values(["prob_reach", "key"]).head(int(self.at_risk)).reset_index(drop=True)

    # -- output ---------------------------------------------------------------------------------
    def targets_frame(self) -> pd.DataFrame:
        """The plan in the canonical ``targets`` shape: ``period`` (month start), ``level``, ``key``, ``metric``, ``value``."""
        mo = self.monthly_
        return pd.DataFrame({"period": [m.start_time.date() for m in mo["month"]], "level": mo["level"],
                             "key": mo["key"], "metric": "revenue", "value": mo["target"].astype(float)})

    def results(self) -> dict[str, Any]:
        c = self.company_
        by_level = self.tree_.groupby("level")["status"].value_counts().unstack(fill_value=0)
        return {
            "as_of": self.as_of_.isoformat(), "period": self.period_,
            "last_period": f"{self.last_span_[0]}..{self.last_span_[1]}",
            "last_revenue": self.last_revenue_, "basis": self.basis, "basis_amount": self.basis_amount_,
            "retention": dict(self.retention_), "target": c["target"],
            "growth": c["target"] / self.last_revenue_ - 1 if self.last_revenue_ > 0 else None,
            "forecast_mean": c["mean"], "forecast_sigma": c["sigma"], "prob_reach": c["prob_reach"],
            "stretch": c["stretch"], "levels": list(self.levels),
            "status_counts": {lv: {k: int(v) for k, v in row.items()} for lv, row in by_level.iterrows()},
            "backtest": ({k: v for k, v in self.backtest_.items() if k != "reliability"}
                         if self.backtest_ else None),
            "at_risk": [{"level": r["level"], "key": r["key"], "target": float(r["target"]),
                         "prob_reach": float(r["prob_reach"])} for _, r in self.at_risk_.iterrows()],
        }
