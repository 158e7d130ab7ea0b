"""The funnel report's words, tables and publishing: headline cards, sentences, table views, ``publish``.

Everything here reads a fitted :class:`salesbench.analyses.funnel.model.Funnel`
(``M``); nothing is computed that the model does not already hold. Table views
return display-ready frames (numbers formatted with :data:`PCT_FORMATS`,
:data:`DAY_FORMATS`, :data:`MONEY_FORMATS` ...) under their English column names;
:func:`show_table` shows one with the headers of :data:`HEADERS` (:func:`headers`).

Words are in the report's language (:mod:`salesbench.core.i18n`, catalog
``salesbench/locale/<ll_CC>/LC_MESSAGES/funnel.po``): cards, sentences, table
cells and headers, labels and figure texts. What is stored — ``results.json``, the
CSV exports, the index headline labels and texts — stays English.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import pandas as pd

from salesbench import viz
from salesbench.analyses.funnel import plots
from salesbench.analyses.funnel.durations import worst_sla
from salesbench.analyses.funnel.model import Funnel
from salesbench.core.i18n import NP_, get_language, messages

_, ngettext, pgettext = messages(__name__).functions()
_label = messages(__name__).label

#: the labels a reader sees, marked for the catalogs: the default stages, the breakdowns and levels, the demo's
#: channels and lost reasons; a name the catalog does not know is shown as the data has it
LABELS = (
    NP_("stage", "lead"), NP_("stage", "contact"), NP_("stage", "needs_confirmed"), NP_("stage", "proposal"),
    NP_("stage", "negotiation"), NP_("stage", "contract"), NP_("stage", "won"), NP_("stage", "lost"),
    NP_("stage", "(unknown)"),
    NP_("breakdown", "channel"), NP_("breakdown", "region"), NP_("breakdown", "team"), NP_("breakdown", "segment"),
    NP_("breakdown", "rep"),
    NP_("level", "company"), NP_("level", "team"), NP_("level", "rep (10 worst)"), NP_("level", "total"),
    NP_("channel", "direct"), NP_("channel", "distributor"), NP_("channel", "online"), NP_("channel", "store"),
    NP_("lost_reason", "price"), NP_("lost_reason", "competitor"), NP_("lost_reason", "no_budget"),
    NP_("lost_reason", "timing"), NP_("lost_reason", "no_decision"), NP_("lost_reason", "(not recorded)"),
    NP_("status", "green"), NP_("status", "amber"), NP_("status", "red"), NP_("status", "grey"),
)
#: the shown header of every column of the report's tables (the exported CSVs keep the column names)
HEADERS = (
    NP_("column", "from"), NP_("column", "to"), NP_("column", "reached"), NP_("column", "advanced"),
    NP_("column", "lost here"), NP_("column", "still open"), NP_("column", "conversion"), NP_("column", "cumulative"),
    NP_("column", "conversion (all cohorts)"), NP_("column", "breakdown"), NP_("column", "group"),
    NP_("column", "deals"), NP_("column", "won"), NP_("column", "lost"), NP_("column", "win rate"),
    NP_("column", "lead to won"), NP_("column", "team"), NP_("column", "closed deals"), NP_("column", "raw rate"),
    NP_("column", "pooled rate"), NP_("column", "lo"), NP_("column", "hi"), NP_("column", "lost_reason"),
    NP_("column", "share"), NP_("column", "amount"), NP_("column", "cohort"), NP_("column", "created"),
    NP_("column", "open"), NP_("column", "win_rate"), NP_("column", "open_share"), NP_("column", "stage"),
    NP_("column", "median_days"), NP_("column", "p90_days"), NP_("column", "mean_days_completed"),
    NP_("column", "p90_days_completed"), NP_("column", "stays"), NP_("column", "censored"),
    NP_("column", "measure"), NP_("column", "value"), NP_("column", "level"),
    NP_("column", "measured"), NP_("column", "breaches"), NP_("column", "breach rate"),
    NP_("column", "median hours"), NP_("column", "opportunity"), NP_("column", "rule"), NP_("column", "rep"),
    NP_("column", "clock started"), NP_("column", "hours"), NP_("column", "limit"), NP_("column", "pending"),
    NP_("column", "owner"), NP_("column", "days in stage"), NP_("column", "limit (days)"),
    NP_("column", "deal age (days)"), NP_("column", "open deals"), NP_("column", "open amount"),
    NP_("column", "avg won amount"), NP_("column", "avg cycle days"), NP_("column", "velocity per day"),
    NP_("column", "weighted pipeline"), NP_("column", "target"), NP_("column", "coverage"),
    NP_("column", "unweighted"), NP_("column", "status"), NP_("column", "note"),
)


def stage_label(stage: str) -> str:
    """A stage as shown: the catalog's word for a default stage, else the name with spaces (``needs confirmed``)."""
    shown = _label("stage", stage)
    return shown if shown != stage else str(stage).replace("_", " ")


def _step(transition: str) -> str:
    """``"contact->needs_confirmed"`` → ``"contact → needs confirmed"`` (the stages in the report's language)."""
    return " → ".join(stage_label(s) for s in transition.split("->"))


def stage_value(stage: str) -> str:
    """A stage in a table cell: the catalog's word for a default stage, else the name as written."""
    return _label("stage", stage)


def _rule(rule: str) -> str:
    """An SLA rule cell (``"contact->needs_confirmed"``): as written in English, the stages translated otherwise."""
    return rule if get_language() == "en" else "->".join(stage_value(s) for s in str(rule).split("->"))


def _step_en(transition: str) -> str:
    """The English step, for what is stored (the index headline text)."""
    return transition.replace("->", " → ").replace("_", " ")


def _header(column: str) -> str:
    """The shown header of a display column (a stage column of the lost-reasons table shows the stage)."""
    shown = pgettext("column", column)
    return shown if shown != column or get_language() == "en" else stage_label(column)


def headers(frame: pd.DataFrame) -> dict[str, str]:
    """``{column: shown header}`` of a table view, for :func:`salesbench.viz.show_table` (the name in English)."""
    return {c: _header(c) for c in frame.columns}


def show_table(frame: pd.DataFrame, **kwargs):
    """A table view as the report shows it: :func:`salesbench.viz.show_table` (``max_rows``, ``status_col``,
    ``caption`` ...) with the headers in the report's language (the view keeps its column names)."""
    return viz.show_table(frame, headers=headers(frame), **kwargs)


def _labels(values: pd.Series, context: str) -> pd.Series:
    return values.map(lambda v: _label(context, v))


def _has_coverage(cov) -> bool:
    return cov is not None and not (isinstance(cov, float) and math.isnan(cov))


# --------------------------------------------------------------------------- cards and sentences
def headline_cards(M: Funnel) -> list[dict[str, Any]]:
    """The 4–5 cards of the first screen: win rate, biggest leak, SLA breach rate, stuck deals, coverage."""
    res = M.results()
    cards = [{"label": _("Win rate (won ÷ closed)"), "value": viz.fmt_pct(res["win_rate"], 1),
              "sub": _("{n} deals in closed cohorts", n=viz.fmt_num(M.closed_.n))}]
    leak = res["biggest_leak"]
    if leak:
        cards.append({"label": _("Biggest leak"), "value": _step(leak["transition"]),
                      "sub": _("{n} deals lost ({share} of those reaching it)", n=viz.fmt_num(leak["lost"]),
                               share=viz.fmt_pct(1 - leak["conversion"]))})
    for stage, rate in res["sla_breach_rate"].items():  # the first SLA rule only
        hours = f"{M.sla_hours.get(stage):g}"
        cards.append({"label": _("SLA breaches: {stage}", stage=stage_label(stage)), "value": viz.fmt_pct(rate, 1),
                      "sub": _("limit {hours} h after the previous stage", hours=hours),
                      "status": "green" if rate <= 0.05 else "amber" if rate <= 0.15 else "red"})
        break
    cards.append({"label": _("Stuck open deals"), "value": viz.fmt_num(res["stuck_deals"]),
                  "sub": _("{amount} pipeline past its stage's limit", amount=viz.fmt_money(res["stuck_amount"])),
                  "status": "green" if res["stuck_deals"] == 0 else "amber"})
    if _has_coverage(res["coverage_ratio"]):
        ratio, need = f"{res['coverage_ratio']:.2f}", f"{M.coverage_threshold:g}"
        cards.append({"label": _("Pipeline coverage"), "value": f"{ratio}×",
                      "sub": _("weighted pipeline ÷ next-period target (need {need}×)", need=need),
                      "status": M.coverage_["status"].iloc[0]})
    else:
        velocity = viz.fmt_money(res["velocity_per_day"])
        cards.append({"label": _("Sales velocity"), "value": _("{amount}/day", amount=velocity),
                      "sub": _("no next-period target in the data for coverage")})
    return cards


def unknown_stage_sentence(M: Funnel, show: int = 5) -> str | None:
    """One sentence counting and naming the unknown stage names, with the fix; ``None`` when there are none."""
    unknown = M.deals_.unknown_stages
    if not unknown:
        return None
    total = sum(unknown.values())
    sep = pgettext("list separator", ", ")
    names = sep.join(ngettext("'{name}' ({n} row)", "'{name}' ({n} rows)", v, name=k, n=viz.fmt_num(v))
                     for k, v in list(unknown.items())[:show])
    if len(unknown) > show:
        names = _("{names} and {more} more", names=names, more=len(unknown) - show)
    if len(unknown) == 1:
        first = ngettext("{total} stage_history row names a stage that is not in the funnel's stages and was ignored: "
                         "{names}.",
                         "{total} stage_history rows name a stage that is not in the funnel's stages and were ignored: "
                         "{names}.", total, total=viz.fmt_num(total), names=names)
    else:
        first = _("{total} stage_history rows name {k} stages that are not in the funnel's stages and were ignored: "
                  "{names}.", total=viz.fmt_num(total), k=len(unknown), names=names)
    fix = _("To count them, add them in funnel order to the stages parameter (params/funnel.yaml, or "
            "-p stages=[...]); the current order is {order}.", order=", ".join(M.deals_.stages))
    return f"{first} {fix}"


def show_unknown_stages(M: Funnel):
    """The unknown-stage sentence as a warning block, or ``None`` (nothing shown) when every stage is known."""
    sentence = unknown_stage_sentence(M)
    return viz.narrative(sentence, warning=True) if sentence else None


def _scope_sentence(M: Funnel, res: Mapping[str, Any]) -> str:
    n = M.deals_.n
    fields = dict(date=viz.fmt_date(M.as_of_date), n=viz.fmt_num(n), rate=viz.fmt_pct(res["win_rate"], 1),
                  days=viz.fmt_num(res["median_cycle_days"]), mature=f"{M.mature_days:g}")
    if M.all_cohorts_:
        return ngettext(
            "As of {date}, {n} opportunity is in scope; in all cohorts (no deal is old enough for the closed-cohort "
            "view, so recent deals weigh in) {rate} of closed deals were won, and a won deal took {days} days "
            "(median) from creation to signature.",
            "As of {date}, {n} opportunities are in scope; in all cohorts (no deal is old enough for the closed-cohort "
            "view, so recent deals weigh in) {rate} of closed deals were won, and a won deal took {days} days "
            "(median) from creation to signature.", n, **fields)
    return ngettext(
        "As of {date}, {n} opportunity is in scope; in the closed cohorts (created at least {mature} days earlier) "
        "{rate} of closed deals were won, and a won deal took {days} days (median) from creation to signature.",
        "As of {date}, {n} opportunities are in scope; in the closed cohorts (created at least {mature} days earlier) "
        "{rate} of closed deals were won, and a won deal took {days} days (median) from creation to signature.",
        n, **fields)


def _conversion_sentences(M: Funnel, res: Mapping[str, Any]) -> list[str]:
    """The biggest leak (most deals lost) and, when it is another step, the weakest step (lowest conversion)."""
    out = []
    leak = res["biggest_leak"]
    if leak:
        out.append(_("The biggest leak is {step}: only {conversion} advance and {lost} deals ({share} of all losses) "
                     "end there.", step=_step(leak["transition"]), conversion=viz.fmt_pct(leak["conversion"]),
                     lost=viz.fmt_num(leak["lost"]), share=viz.fmt_pct(leak["share_of_lost"])))
    weakest = M.conversion_.dropna(subset=["conversion"])
    if len(weakest):
        w = weakest.loc[weakest["conversion"].idxmin()]
        if not leak or w["transition"] != leak["transition"]:
            out.append(_("The weakest step is {step}, where {conversion} of deals advance.",
                         step=_step(w["transition"]), conversion=viz.fmt_pct(w["conversion"])))
    return out


def _pipeline_sentences(M: Funnel, res: Mapping[str, Any]) -> list[str]:
    """The worst team SLA record, stuck deals and pipeline coverage."""
    out = []
    team_sla = M.sla_by_.get("team")
    worst = worst_sla(team_sla, "team") if team_sla is not None and len(team_sla) else None
    if worst:
        overall = res["sla_breach_rate"].get(worst["stage"])
        out.append(_("The worst SLA record is team {team} on {stage}: {rate} of its deals breach the limit "
                     "({breaches} of {measured}; company {overall}).", team=worst["group"],
                     stage=stage_label(worst["stage"]), rate=viz.fmt_pct(worst["breach_rate"]),
                     breaches=worst["breaches"], measured=worst["measured"], overall=viz.fmt_pct(overall)))
    out.append(_("{n} open deals worth {amount} have sat in their stage longer than the stage's limit and are "
                 "listed for follow-up.", n=viz.fmt_num(res["stuck_deals"]), amount=viz.fmt_money(res["stuck_amount"])))
    cov = res["coverage_ratio"]
    if _has_coverage(cov):
        ratio, thr = f"{cov:.2f}", f"{M.coverage_threshold:g}"
        if cov >= M.coverage_threshold:
            out.append(_("The weighted open pipeline covers {ratio}× next period's target (meets the {thr}× rule).",
                         ratio=ratio, thr=thr))
        else:
            out.append(_("The weighted open pipeline covers {ratio}× next period's target (below the {thr}× rule).",
                         ratio=ratio, thr=thr))
    else:
        out.append(_("No next-period target was found, so pipeline coverage is not assessed."))
    return out


def sentences(M: Funnel) -> list[str]:
    """Generated narrative: volume and win rate, the biggest leak, the worst SLA, stuck deals, coverage, pooled reps."""
    res = M.results()
    out = [_scope_sentence(M, res), *_conversion_sentences(M, res), *_pipeline_sentences(M, res)]
    reps = M.pooled_.get("rep_id")
    if reps is not None and len(reps.table) >= 2:
        t = reps.table
        out.append(_("After pooling, rep win rates range from {low} to {high} (raw {raw_low}–{raw_high}).",
                     low=viz.fmt_pct(t["mean"].min()), high=viz.fmt_pct(t["mean"].max()),
                     raw_low=viz.fmt_pct(t["raw_rate"].min()), raw_high=viz.fmt_pct(t["raw_rate"].max())))
    return out


# --------------------------------------------------------------------------- publishing
def publish(M: Funnel, res) -> None:
    """Fill ``res`` (results.json values, the index headlines, the CSV exports) and save it."""
    values = M.results()
    res.set(**values)
    # labels: the English key, and as the index shows them (shown_label); texts: as the reader sees them
    res.headline("Win rate", values["win_rate"], viz.fmt_pct(values["win_rate"], 1), shown_label=_("Win rate"))
    leak = values["biggest_leak"]
    if leak:
        lost = viz.fmt_pct(1 - leak["conversion"])
        text = (f"{_step_en(leak['transition'])}: {lost} lost" if get_language() == "en"
                else _("{step}: {share} lost", step=_step(leak["transition"]), share=lost))
        res.headline("Biggest leak", 1 - leak["conversion"], text, shown_label=_("Biggest leak"))
    for stage, rate in values["sla_breach_rate"].items():
        res.headline(f"SLA breaches ({stage.replace('_', ' ')})", rate, viz.fmt_pct(rate, 1),
                     shown_label=_("SLA breaches: {stage}", stage=stage_label(stage)))
    res.headline("Stuck deals", values["stuck_deals"], f"{values['stuck_deals']:,}", shown_label=_("Stuck deals"))
    if values["coverage_ratio"] is not None:
        res.headline("Pipeline coverage", values["coverage_ratio"], f"{values['coverage_ratio']:.2f}×",
                     shown_label=_("Pipeline coverage"))
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
                                              "title": _("Rep win rate: pooled vs raw")}),
        "plot_cohort_heatmap": ((M.cohorts_,), {"stages": M.deals_.stages}),
        "plot_stage_durations": ((M.stays_,), {}),
        "plot_coverage": ((M.coverage_by_team_,), {"key": "team", "threshold": M.coverage_threshold}),
    }


def show_rep_shrinkage(M: Funnel):
    """The pooled-vs-raw rep figure (drawn, returns ``None``), or the sentence saying why there is none."""
    if "rep_id" not in M.pooled_by:
        return viz.narrative(_("Rep win rates are not pooled: the pooled_by parameter does not list rep_id."))
    if M.pooled_.get("rep_id") is None:
        return viz.narrative(
            _("No rep has a closed deal in the closed cohorts yet, so there are no win rates to pool."))
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


def _group_labels(values: pd.Series, breakdown: str) -> pd.Series:
    """The groups of a breakdown as text (a channel the catalog knows in the report's language; ids as they are)."""
    return values.astype(str).map(lambda v: _label(breakdown, v))


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
        "from": c["from_stage"].map(stage_value), "to": c["to_stage"].map(stage_value),
        "reached": c["reached"], "advanced": c["advanced"],
        "lost here": c["lost"], "still open": c["open"], "conversion": c["conversion"], "cumulative": c["cumulative"],
        "conversion (all cohorts)": c["transition"].map(allc).to_numpy(),
    }), PCT_FORMATS)


def breakdown_view(M: Funnel) -> pd.DataFrame:
    """Win rate and lead-to-won per group of every breakdown (closed cohorts)."""
    parts = []
    for d in ("channel", "region", "team", "segment"):
        if d in M.win_by_:
            t = M.win_by_[d]
            parts.append(pd.DataFrame({"breakdown": _label("breakdown", d), "group": _group_labels(t[d], d),
                                       "deals": t["opportunities"],
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
            "breakdown": _label("breakdown", "rep" if k == "rep_id" else k), "group": _group_labels(t[k], k),
            "team": t["team"].astype(str) if "team" in t else "", "closed deals": t["trials"], "won": t["successes"],
            "raw rate": t["raw_rate"], "pooled rate": t["mean"], "lo": t["lo"], "hi": t["hi"],
        }))
    return formatted(pd.concat(parts, ignore_index=True), PCT_FORMATS) if parts else pd.DataFrame()


def lost_reasons_view(M: Funnel) -> pd.DataFrame:
    """Lost deals by reason (closed cohorts), share and amount formatted."""
    lost = M.lost_.assign(lost_reason=_labels(M.lost_["lost_reason"], "lost_reason")) if len(M.lost_) else M.lost_
    return formatted(lost, LOST_FORMATS)


def cohorts_view(M: Funnel) -> pd.DataFrame:
    """Creation-month cohorts, newest first: created, open, won, lost, win rate, open share."""
    cols = ["cohort", "created", "open", "won", "lost", "win_rate", "open_share"]
    return formatted(M.cohorts_[cols].iloc[::-1], {**COHORT_FORMATS, "cohort": viz.fmt_month})


def durations_view(M: Funnel) -> pd.DataFrame:
    """Time in stage (days): Kaplan–Meier median and p90, completed-stay mean and p90."""
    return formatted(M.durations_, {**DAY_FORMATS, "stage": stage_value})


def _one_decimal(x) -> str:
    """``12.3``; a missing value is ``–`` (``nan`` in English, as it always was)."""
    return "–" if get_language() != "en" and pd.isna(x) else f"{x:.1f}"


def cycle_view(M: Funnel) -> pd.DataFrame:
    """Sales cycle of won deals and time to first contact (closed cohorts)."""
    c = M.cycle_
    return pd.DataFrame({
        "measure": [_("won deals (closed cohorts)"), _("sales cycle of won deals, median (days)"),
                    _("sales cycle, p90 (days)"), _("time to first contact, median (hours)"),
                    _("time to first contact, p90 (hours)")],
        "value": [f"{c['won_deals']:,}", _one_decimal(c["median_cycle_days"]), _one_decimal(c["p90_cycle_days"]),
                  _one_decimal(c["median_hours_to_contact"]), _one_decimal(c["p90_hours_to_contact"])],
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
    group = t["group"].astype(str).where(t["level"] != "company", _label("level", "company"))
    return formatted(pd.DataFrame({
        "stage": t["stage"].map(stage_value), "level": _labels(t["level"], "level"), "group": group,
        "measured": t["measured"], "breaches": t["breaches"], "breach rate": t["breach_rate"],
        "median hours": pd.to_numeric(t["median_hours"], errors="coerce").round(1)}), PCT_FORMATS)


def breaches_view(M: Funnel) -> pd.DataFrame:
    """The SLA breaches, most recent clock start first."""
    b = M.sla_checks_[M.sla_checks_["breach"]].sort_values("started_at", ascending=False)
    return pd.DataFrame({"opportunity": b["opportunity_id"], "rule": b["rule"].map(_rule),
                         "rep": b["rep_id"], "team": b["team"],
                         "clock started": b["started_at"].dt.strftime("%Y-%m-%d %H:%M"),
                         "hours": b["elapsed_hours"].round(1), "limit": b["limit_hours"],
                         "pending": b["pending"].map({True: _("yes"), False: _("no")})})


def breaches_caption() -> str:
    """The caption of the breaches table (the notebook shows the first rows)."""
    return _("Most recent breaches (full list in funnel.sla_breaches.csv)")


def stuck_view(M: Funnel) -> pd.DataFrame:
    """Stuck open deals for follow-up: owner, stage, amount, days in stage against the limit, deal age."""
    s = M.stuck_

    def num(col):  # an empty stuck list has untyped (object) columns
        return pd.to_numeric(s[col], errors="coerce")

    return pd.DataFrame({"opportunity": s["opportunity_id"], "owner": s["rep_id"], "team": s["team"],
                         "stage": s["stage"].map(stage_value), "amount": s["amount"].map(viz.fmt_money),
                         "days in stage": num("days_in_stage").round(1),
                         "limit (days)": num("limit_days").round(1),
                         "deal age (days)": num("deal_age_days").round(0)})


def velocity_view(M: Funnel) -> pd.DataFrame:
    """Sales velocity per team and in total."""
    parts = []
    if len(M.velocity_by_team_):
        parts.append(M.velocity_by_team_.rename(columns={"team": "group"}))
    parts.append(M.velocity_.assign(group=_label("level", "total")))
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
        parts.append(M.coverage_.drop(columns=["key"]).assign(group=_label("level", "company")))
    if not parts:
        return pd.DataFrame({"note": [_("no target for the next period in the targets table")]})
    t = pd.concat(parts, ignore_index=True)
    return formatted(pd.DataFrame({
        "group": t["group"], "open deals": t["open_opportunities"], "amount": t["open_amount"],
        "weighted pipeline": t["weighted_amount"], "target": t["target"], "coverage": t["coverage"],
        "unweighted": t["coverage_unweighted"], "status": t["status"]}), MONEY_FORMATS)  # show_table(status_col=) words and colours it
