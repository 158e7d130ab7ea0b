"""The funnel report's words, tables and publishing: headline cards, sentences, table views, ``publish``.

Everything here reads a fitted :class:`salesbench.analyses.funnel.model.Funnel`
(``M``); nothing is computed that the model does not already hold. Table views
return display-ready frames (numbers formatted with :data:`PCT_FORMATS`,
:data:`DAY_FORMATS`, :data:`MONEY_FORMATS` ...) for :func:`salesbench.viz.show_table`.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import pandas as pd

from salesbench import viz
from salesbench.analyses.funnel import plots
from salesbench.analyses.funnel.durations import worst_sla
from salesbench.analyses.funnel.model import Funnel


def _step(transition: str) -> str:
    """``"contact->needs_confirmed"`` → ``"contact → needs confirmed"``."""
    return transition.replace("->", " → ").replace("_", " ")


def _has_coverage(cov) -> bool:
    return cov is not None and not (isinstance(cov, float) and math.isnan(cov))


# --------------------------------------------------------------------------- cards and sentences
def headline_cards(M: Funnel) -> list[dict[str, Any]]:
    """The 4–5 cards of the first screen: win rate, biggest leak, SLA breach rate, stuck deals, coverage."""
    res = M.results()
    cards = [{"label": "Win rate (won ÷ closed)", "value": viz.fmt_pct(res["win_rate"], 1),
              "sub": f"{M.closed_.n:,} deals in closed cohorts"}]
    leak = res["biggest_leak"]
    if leak:
        cards.append({"label": "Biggest leak", "value": leak["transition"].replace("_", " ").replace("->", " → "),
                      "sub": f"{leak['lost']:,} deals lost ({viz.fmt_pct(1 - leak['conversion'])} of those reaching it)"})
    for stage, rate in res["sla_breach_rate"].items():  # the first SLA rule only
        hours = M.sla_hours.get(stage)
        cards.append({"label": f"SLA breaches: {stage.replace('_', ' ')}", "value": viz.fmt_pct(rate, 1),
                      "sub": f"limit {hours:g} h after the previous stage",
                      "status": "green" if rate <= 0.05 else "amber" if rate <= 0.15 else "red"})
        break
    cards.append({"label": "Stuck open deals", "value": f"{res['stuck_deals']:,}",
                  "sub": f"{viz.fmt_money(res['stuck_amount'])} pipeline past its stage's limit",
                  "status": "green" if res["stuck_deals"] == 0 else "amber"})
    if _has_coverage(res["coverage_ratio"]):
        cards.append({"label": "Pipeline coverage", "value": f"{res['coverage_ratio']:.2f}×",
                      "sub": f"weighted pipeline ÷ next-period target (need {M.coverage_threshold:g}×)",
                      "status": M.coverage_["status"].iloc[0]})
    else:
        cards.append({"label": "Sales velocity", "value": viz.fmt_money(res["velocity_per_day"]) + "/day",
                      "sub": "no next-period target in the data for coverage"})
    return cards


def unknown_stage_sentence(M: Funnel, show: int = 5) -> str | None:
    """One sentence counting and naming the unknown stage names, with the fix; ``None`` when there are none."""
    unknown = M.deals_.unknown_stages
    if not unknown:
        return None
    total = sum(unknown.values())
    names = ", ".join(f"'{k}' ({v:,} row{'s' if v != 1 else ''})" for k, v in list(unknown.items())[:show])
    more = f" and {len(unknown) - show} more" if len(unknown) > show else ""
    return (f"{total:,} stage_history row{'s' if total != 1 else ''} name{'s' if total == 1 else ''} "
            f"{'a stage' if len(unknown) == 1 else f'{len(unknown)} stages'} that {'is' if len(unknown) == 1 else 'are'} "
            f"not in the funnel's stages and {'was' if total == 1 else 'were'} ignored: {names}{more}. "
            "To count them, add them in funnel order to the stages parameter (params/funnel.yaml, or "
            "-p stages=[...]); the current order is " + ", ".join(M.deals_.stages) + ".")


def show_unknown_stages(M: Funnel):
    """The unknown-stage sentence as a warning block, or ``None`` (nothing shown) when every stage is known."""
    sentence = unknown_stage_sentence(M)
    return viz.narrative(sentence, warning=True) if sentence else None


def _scope_sentence(M: Funnel, res: Mapping[str, Any]) -> str:
    scope = (
        "in all cohorts (no deal is old enough for the closed-cohort view, so recent deals weigh in)"
        if M.all_cohorts_
        else f"in the closed cohorts (created at least {M.mature_days:g} days earlier)"
    )
    n = M.deals_.n
    return (f"As of {M.as_of_date.isoformat()}, {n:,} {'opportunity is' if n == 1 else 'opportunities are'} in scope; "
            f"{scope} {viz.fmt_pct(res['win_rate'], 1)} of closed deals were won, and a won deal took "
            f"{viz.fmt_num(res['median_cycle_days'])} days (median) from creation to signature.")


def _conversion_sentences(M: Funnel, res: Mapping[str, Any]) -> list[str]:
    """The biggest leak (most deals lost) and, when it is another step, the weakest step (lowest conversion)."""
    out = []
    leak = res["biggest_leak"]
    if leak:
        out.append(f"The biggest leak is {_step(leak['transition'])}: only {viz.fmt_pct(leak['conversion'])} advance "
                   f"and {leak['lost']:,} deals ({viz.fmt_pct(leak['share_of_lost'])} of all losses) end there.")
    weakest = M.conversion_.dropna(subset=["conversion"])
    if len(weakest):
        w = weakest.loc[weakest["conversion"].idxmin()]
        if not leak or w["transition"] != leak["transition"]:
            out.append(f"The weakest step is {_step(w['transition'])}, "
                       f"where {viz.fmt_pct(w['conversion'])} of deals advance.")
    return out


def _pipeline_sentences(M: Funnel, res: Mapping[str, Any]) -> list[str]:
    """The worst team SLA record, stuck deals and pipeline coverage."""
    out = []
    team_sla = M.sla_by_.get("team")
    worst = worst_sla(team_sla, "team") if team_sla is not None and len(team_sla) else None
    if worst:
        overall = res["sla_breach_rate"].get(worst["stage"])
        out.append(f"The worst SLA record is team {worst['group']} on {worst['stage'].replace('_', ' ')}: "
                   f"{viz.fmt_pct(worst['breach_rate'])} of its deals breach the limit "
                   f"({worst['breaches']} of {worst['measured']}; company {viz.fmt_pct(overall)}).")
    out.append(f"{res['stuck_deals']:,} open deals worth {viz.fmt_money(res['stuck_amount'])} have sat in their stage "
               "longer than the stage's limit and are listed for follow-up.")
    cov = res["coverage_ratio"]
    if _has_coverage(cov):
        thr = M.coverage_threshold
        out.append(f"The weighted open pipeline covers {cov:.2f}× next period's target "
                   f"({'meets' if cov >= thr else 'below'} the {thr:g}× rule).")
    else:
        out.append("No next-period target was found, so pipeline coverage is not assessed.")
    return out


def sentences(M: Funnel) -> list[str]:
    """Generated narrative: volume and win rate, the biggest leak, the worst SLA, stuck deals, coverage, pooled reps."""
    res = M.results()
    out = [_scope_sentence(M, res), *_conversion_sentences(M, res), *_pipeline_sentences(M, res)]
    reps = M.pooled_.get("rep_id")
    if reps is not None and len(reps.table) >= 2:
        t = reps.table
        out.append(f"After pooling, rep win rates range from {viz.fmt_pct(t['mean'].min())} to "
                   f"{viz.fmt_pct(t['mean'].max())} (raw {viz.fmt_pct(t['raw_rate'].min())}–"
                   f"{viz.fmt_pct(t['raw_rate'].max())}).")
    return out


# --------------------------------------------------------------------------- publishing
def publish(M: Funnel, res) -> None:
    """Fill ``res`` (results.json values, the index headlines, the CSV exports) and save it."""
    values = M.results()
    res.set(**values)
    res.headline("Win rate", values["win_rate"], viz.fmt_pct(values["win_rate"], 1))
    leak = values["biggest_leak"]
    if leak:
        res.headline("Biggest leak", 1 - leak["conversion"],
                     f"{_step(leak['transition'])}: {viz.fmt_pct(1 - leak['conversion'])} lost")
    for stage, rate in values["sla_breach_rate"].items():
        res.headline(f"SLA breaches ({stage.replace('_', ' ')})", rate, viz.fmt_pct(rate, 1))
    res.headline("Stuck deals", values["stuck_deals"], f"{values['stuck_deals']:,}")
    if values["coverage_ratio"] is not None:
        res.headline("Pipeline coverage", values["coverage_ratio"], f"{values['coverage_ratio']:.2f}×")
    for name, table in export_tables(M).items():
        res.table(name, table)
    res.save()


def export_tables(M: Funnel) -> dict[str, pd.DataFrame]:
    """``{table name: frame}`` of the CSV exports (``funnel.<name>.csv``), in export order."""
    out = {"stage_conversion": M.conversion_}
    by = [t.assign(dimension=d).rename(columns={d: "group"}) for d, t in M.conversion_by_.items()]
    if by:
        out["conversion_by_group"] = pd.concat(by, ignore_index=True)
    out["cohorts"] = M.cohorts_
    out["stage_durations"] = M.durations_
    out["sla_breaches"] = M.sla_checks_[M.sla_checks_["breach"]]
    out["stuck_deals"] = M.stuck_
    if len(M.velocity_by_team_):
        out["velocity_by_team"] = M.velocity_by_team_
    if len(M.coverage_by_team_):
        out["coverage_by_team"] = M.coverage_by_team_
    for k, p in M.pooled_.items():
        if p is not None:
            out[f"pooled_win_rate_{'rep' if k == 'rep_id' else k}"] = p.table
    return out


# --------------------------------------------------------------------------- figures
def figure_inputs(M: Funnel) -> dict[str, tuple[tuple, dict[str, Any]]]:
    """``{plot function name: (args, kwargs)}`` of every figure in :mod:`.plots`, from the fitted model."""
    reps = M.pooled_.get("rep_id")
    rep_table = reps.table if reps is not None else pd.DataFrame(columns=["rep_id", "raw_rate", "mean", "lo", "hi"])
    population = reps.population_mean if reps is not None else float("nan")
    return {
        "plot_funnel": ((M.conversion_,), {}),
        "plot_rep_shrinkage": ((rep_table,), {"label": "rep_id", "population": population,
                                              "title": "Rep win rate: pooled vs raw"}),
        "plot_cohort_heatmap": ((M.cohorts_,), {"stages": M.deals_.stages}),
        "plot_stage_durations": ((M.stays_,), {}),
        "plot_coverage": ((M.coverage_by_team_,), {"key": "team", "threshold": M.coverage_threshold}),
    }


def show_rep_shrinkage(M: Funnel):
    """The pooled-vs-raw rep figure (drawn, returns ``None``), or the sentence saying why there is none."""
    if "rep_id" not in M.pooled_by:
        return viz.narrative("Rep win rates are not pooled: the pooled_by parameter does not list rep_id.")
    if M.pooled_.get("rep_id") is None:
        return viz.narrative("No rep has a closed deal in the closed cohorts yet, so there are no win rates to pool.")
    args, kwargs = figure_inputs(M)["plot_rep_shrinkage"]
    plots.plot_rep_shrinkage(*args, **kwargs)
    return None


def show_team_coverage(M: Funnel) -> None:
    """Draw the team coverage chart when some team has a next-period target (nothing otherwise)."""
    if len(M.coverage_by_team_):
        args, kwargs = figure_inputs(M)["plot_coverage"]
        plots.plot_coverage(*args, **kwargs)


# --------------------------------------------------------------------------- display tables
def _pct(x):
    return viz.fmt_pct(x, 1)


def _days(x):
    return viz.fmt_num(x, 1)


def _ratio(v):
    return "–" if pd.isna(v) else f"{v:.2f}×"


PCT_FORMATS: dict[str, Callable] = {c: _pct for c in (
    "conversion", "conversion (all cohorts)", "cumulative", "win rate", "lead to won", "won share", "raw rate",
    "pooled rate", "lo", "hi", "breach rate")}
DAY_FORMATS: dict[str, Callable] = {c: _days for c in ("median_days", "p90_days", "mean_days_completed",
                                                       "p90_days_completed")}
MONEY_FORMATS: dict[str, Callable] = {c: viz.fmt_money for c in (
    "open amount", "avg won amount", "velocity per day", "weighted pipeline", "target", "amount")} | {
    "win rate": _pct, "avg cycle days": _days, "coverage": _ratio, "unweighted": _ratio}
LOST_FORMATS: dict[str, Callable] = {"share": viz.fmt_pct, "amount": viz.fmt_money}
COHORT_FORMATS: dict[str, Callable] = {"win_rate": viz.fmt_pct, "open_share": viz.fmt_pct}


def formatted(frame: pd.DataFrame, formats: Mapping[str, Callable]) -> pd.DataFrame:
    """``frame`` with each column named in ``formats`` mapped through its formatter (text for display)."""
    out = frame.copy()
    for col, fn in formats.items():
        if col in out.columns:
            out[col] = out[col].map(fn)
    return out


def conversion_view(M: Funnel) -> pd.DataFrame:
    """Stage conversion table for display (closed cohorts, with the all-cohort rate for contrast)."""
    c = M.conversion_
    allc = M.conversion_all_cohorts_.set_index("transition")["conversion_all"]
    return formatted(pd.DataFrame({
        "from": c["from_stage"], "to": c["to_stage"], "reached": c["reached"], "advanced": c["advanced"],
        "lost here": c["lost"], "still open": c["open"], "conversion": c["conversion"], "cumulative": c["cumulative"],
        "conversion (all cohorts)": c["transition"].map(allc).to_numpy(),
    }), PCT_FORMATS)


def breakdown_view(M: Funnel) -> pd.DataFrame:
    """Win rate and lead-to-won per group of every breakdown (closed cohorts)."""
    parts = []
    for d in ("channel", "region", "team", "segment"):
        if d in M.win_by_:
            t = M.win_by_[d]
            parts.append(pd.DataFrame({"breakdown": d, "group": t[d].astype(str), "deals": t["opportunities"],
                                       "won": t["won"], "lost": t["lost"], "win rate": t["win_rate"],
                                       "lead to won": t["lead_to_won"]}))
    return formatted(pd.concat(parts, ignore_index=True), PCT_FORMATS) if parts else pd.DataFrame()


def pooled_view(M: Funnel) -> pd.DataFrame:
    """Raw vs pooled win rates with credible intervals, all pooled breakdowns stacked."""
    parts = []
    for k, p in M.pooled_.items():
        if p is None:
            continue
        t = p.table
        parts.append(pd.DataFrame({
            "breakdown": "rep" if k == "rep_id" else k, "group": t[k].astype(str),
            "team": t["team"].astype(str) if "team" in t else "", "closed deals": t["trials"], "won": t["successes"],
            "raw rate": t["raw_rate"], "pooled rate": t["mean"], "lo": t["lo"], "hi": t["hi"],
        }))
    return formatted(pd.concat(parts, ignore_index=True), PCT_FORMATS) if parts else pd.DataFrame()


def lost_reasons_view(M: Funnel) -> pd.DataFrame:
    """Lost deals by reason (closed cohorts), share and amount formatted."""
    return formatted(M.lost_, LOST_FORMATS)


def cohorts_view(M: Funnel) -> pd.DataFrame:
    """Creation-month cohorts, newest first: created, open, won, lost, win rate, open share."""
    cols = ["cohort", "created", "open", "won", "lost", "win_rate", "open_share"]
    return formatted(M.cohorts_[cols].iloc[::-1], COHORT_FORMATS)


def durations_view(M: Funnel) -> pd.DataFrame:
    """Time in stage (days): Kaplan–Meier median and p90, completed-stay mean and p90."""
    return formatted(M.durations_, DAY_FORMATS)


def cycle_view(M: Funnel) -> pd.DataFrame:
    """Sales cycle of won deals and time to first contact (closed cohorts)."""
    c = M.cycle_
    return pd.DataFrame({
        "measure": ["won deals (closed cohorts)", "sales cycle of won deals, median (days)", "sales cycle, p90 (days)",
                    "time to first contact, median (hours)", "time to first contact, p90 (hours)"],
        "value": [f"{c['won_deals']:,}", f"{c['median_cycle_days']:.1f}", f"{c['p90_cycle_days']:.1f}",
                  f"{c['median_hours_to_contact']:.1f}", f"{c['p90_hours_to_contact']:.1f}"],
    })


def sla_view(M: Funnel) -> pd.DataFrame:
    """Breach rate per SLA stage: company, then per team, then the 10 worst reps (≥ 10 measured deals)."""
    parts = [M.sla_.assign(level="company", group="company")]
    if "team" in M.sla_by_:
        parts.append(M.sla_by_["team"].assign(level="team").rename(columns={"team": "group"}))
    if "rep_id" in M.sla_by_:
        r = M.sla_by_["rep_id"]
        r = r[r["measured"] >= 10].sort_values("breach_rate", ascending=False).head(10)
        parts.append(r.assign(level="rep (10 worst)").rename(columns={"rep_id": "group"}))
    t = pd.concat(parts, ignore_index=True)
    return formatted(pd.DataFrame({
        "stage": t["stage"], "level": t["level"], "group": t["group"].astype(str), "measured": t["measured"],
        "breaches": t["breaches"], "breach rate": t["breach_rate"],
        "median hours": pd.to_numeric(t["median_hours"], errors="coerce").round(1)}), PCT_FORMATS)


def breaches_view(M: Funnel) -> pd.DataFrame:
    """The SLA breaches, most recent clock start first."""
    b = M.sla_checks_[M.sla_checks_["breach"]].sort_values("started_at", ascending=False)
    return pd.DataFrame({"opportunity": b["opportunity_id"], "rule": b["rule"], "rep": b["rep_id"], "team": b["team"],
                         "clock started": b["started_at"].dt.strftime("%Y-%m-%d %H:%M"),
                         "hours": b["elapsed_hours"].round(1), "limit": b["limit_hours"],
                         "pending": b["pending"].map({True: "yes", False: "no"})})


def stuck_view(M: Funnel) -> pd.DataFrame:
    """Stuck open deals for follow-up: owner, stage, amount, days in stage against the limit, deal age."""
    s = M.stuck_

    def num(col):  # an empty stuck list has untyped (object) columns
        return pd.to_numeric(s[col], errors="coerce")

    return pd.DataFrame({"opportunity": s["opportunity_id"], "owner": s["rep_id"], "team": s["team"],
                         "stage": s["stage"], "amount": s["amount"].map(viz.fmt_money),
                         "days in stage": num("days_in_stage").round(1), "limit (days)": num("limit_days").round(1),
                         "deal age (days)": num("deal_age_days").round(0)})


def velocity_view(M: Funnel) -> pd.DataFrame:
    """Sales velocity per team and in total."""
    parts = []
    if len(M.velocity_by_team_):
        parts.append(M.velocity_by_team_.rename(columns={"team": "group"}))
    parts.append(M.velocity_.assign(group="total"))
    t = pd.concat(parts, ignore_index=True)
    return formatted(pd.DataFrame({
        "group": t["group"], "open deals": t["open_opportunities"], "open amount": t["open_amount"],
        "win rate": t["win_rate"], "avg won amount": t["avg_won_amount"], "avg cycle days": t["avg_cycle_days"],
        "velocity per day": t["velocity_per_day"]}), MONEY_FORMATS)


def coverage_view(M: Funnel) -> pd.DataFrame:
    """Pipeline coverage per team and for the company (a one-row note when there is no target)."""
    parts = []
    if len(M.coverage_by_team_):
        parts.append(M.coverage_by_team_.rename(columns={"team": "group"}))
    if len(M.coverage_):
        parts.append(M.coverage_.drop(columns=["key"]).assign(group="company"))
    if not parts:
        return pd.DataFrame({"note": ["no target for the next period in the targets table"]})
    t = pd.concat(parts, ignore_index=True)
    return formatted(pd.DataFrame({
        "group": t["group"], "open deals": t["open_opportunities"], "amount": t["open_amount"],
        "weighted pipeline": t["weighted_amount"], "target": t["target"], "coverage": t["coverage"],
        "unweighted": t["coverage_unweighted"], "status": t["status"]}), MONEY_FORMATS)
