"""All the wording of the sales plan: headline cards, sentences, table views, figure inputs, publish."""
from __future__ import annotations

from typing import Any

import pandas as pd

from salesbench import viz
from salesbench.analyses.plan.feasibility import flag
from salesbench.analyses.plan.model import SalesPlan
from salesbench.core import i18n
from salesbench.core.i18n import NP_

_, ngettext, pgettext = i18n.messages(__name__).functions()

#: words of the plan's data shown as labels (``pgettext(context, value)``): levels, statuses, the company key
LABEL_WORDS = (NP_("level", "company"), NP_("level", "region"), NP_("level", "team"), NP_("level", "rep"),
               NP_("status", "green"), NP_("status", "amber"), NP_("status", "red"), NP_("status", "grey"),
               NP_("unit", "company"))


def _label(context: str, value: Any) -> Any:
    """A data value shown as a label (a level, a status word, the key ``company``): translated when known."""
    return i18n.messages(__name__).label(context, value)


def _span(M: SalesPlan) -> str:
    """Last period's months as shown: ``2024-01..2024-12`` | ``2024年1月..2024年12月``."""
    return f"{viz.fmt_month(str(M.last_span_[0]))}..{viz.fmt_month(str(M.last_span_[1]))}"


def headline_cards(M: SalesPlan) -> list[dict[str, Any]]:
    c = M.company_
    return [{"label": _("Target {period}", period=viz.fmt_period(M.period_)), "value": viz.fmt_money(c["target"])},
            {"label": _("Growth"),
             "value": viz.fmt_pct(c["target"] / M.last_revenue_ - 1, 1) if M.last_revenue_ else "–"},
            {"label": _("P(reach)"), "value": viz.fmt_pct(c["prob_reach"]),
             "status": str(flag(c["prob_reach"], M.risk_lines))},  # the same warning lines as every piece
            {"label": _("Stretch over forecast"), "value": viz.fmt_pct(c["stretch"], 1)}]


def _level_sentence(M: SalesPlan) -> str:
    deepest = M.tree_["level"].iloc[-1]
    t = M.tree_[M.tree_["level"] == deepest]
    n = t["status"].value_counts()
    f = dict(n=len(t), green=n.get("green", 0), amber=n.get("amber", 0), red=n.get("red", 0),
             red_line=viz.fmt_pct(M.risk_lines["red"]), amber_line=viz.fmt_pct(M.risk_lines["amber"]))
    if deepest == "region":
        return _("Of the {n} region targets, {green} are green, {amber} amber and {red} red (P(reach) below "
                 "{red_line} is red, below {amber_line} amber).", **f)
    if deepest == "team":
        return _("Of the {n} team targets, {green} are green, {amber} amber and {red} red (P(reach) below "
                 "{red_line} is red, below {amber_line} amber).", **f)
    if deepest == "rep":
        return _("Of the {n} rep targets, {green} are green, {amber} amber and {red} red (P(reach) below "
                 "{red_line} is red, below {amber_line} amber).", **f)
    return (f"Of the {len(t)} {deepest} targets, {f['green']} are green, {f['amber']} amber and {f['red']} red "
            f"(P(reach) below {f['red_line']} is red, below {f['amber_line']} amber).")


def sentences(M: SalesPlan) -> list[str]:
    c = M.company_
    f = dict(period=viz.fmt_period(M.period_), target=viz.fmt_money(c["target"]), growth=viz.fmt_pct(M.growth, 1),
             last=viz.fmt_money(M.last_revenue_), span=_span(M), as_of=_as_of_text(M.as_of_))
    if M.amount is None and M.basis == "book" and M.growth == 0:
        first = _("The {period} target is {target}, the reps' live books: last period's revenue of the customers "
                  "each rep carries into {period}, grown or shrunk as such customers did a year earlier, plus a year "
                  "of new business like the last; against the {last} sold in {span} (plan made as of {as_of}).", **f)
    elif M.amount is None and M.basis == "book":
        first = _("The {period} target is {target}: {growth} over the reps' live books ({basis}: last period's "
                  "revenue of the customers each rep carries into {period}, grown or shrunk as such customers did a "
                  "year earlier, plus a year of new business like the last), against the {last} sold in {span} "
                  "(plan made as of {as_of}).", basis=viz.fmt_money(M.basis_amount_), **f)
    elif M.amount is None and M.basis == "forecast":
        first = _("The {period} target is {target}: {growth} over the forecast mean ({basis}), against the {last} "
                  "sold in {span} (plan made as of {as_of}).", basis=viz.fmt_money(M.basis_amount_), **f)
    elif M.amount is None:
        first = _("The {period} target is {target}: {growth} growth over the {last} sold in {span} "
                  "(plan made as of {as_of}).", **f)
    else:
        first = _("The {period} target is {target}: an absolute amount, against the {last} sold in {span} "
                  "(plan made as of {as_of}).", **f)
    g = dict(period=viz.fmt_period(M.period_), mean=viz.fmt_money(c["mean"]),
             lo=viz.fmt_money(c["mean"] - 1.2816 * c["sigma"]), hi=viz.fmt_money(c["mean"] + 1.2816 * c["sigma"]),
             stretch=viz.fmt_pct(abs(c["stretch"]), 1), p=viz.fmt_pct(c["prob_reach"]))
    if c["stretch"] >= 0:
        second = _("The forecast for {period} is {mean} (80% interval {lo}–{hi}); the target is {stretch} above it, "
                   "so the company reaches it with probability {p}.", **g)
    else:   # a target below the forecast (e.g. the reps' books when the forecast runs high)
        second = _("The forecast for {period} is {mean} (80% interval {lo}–{hi}); the target is {stretch} below it, "
                   "so the company reaches it with probability {p}.", **g)
    return [first, second, _level_sentence(M)]


def _as_of_text(day) -> str:
    """The plan's day as shown: ``31 Dec 2024`` | ``2024年12月31日``."""
    return viz.fmt_date(day) if i18n.get_language() != i18n.DEFAULT else f"{day:%d %b %Y}"


def risk_sentence(row: pd.Series) -> str:
    """One piece at risk and what moves it: the gap to its forecast, key-account concentration, ramp."""
    f = dict(key=row["key"], p=viz.fmt_pct(row["prob_reach"]), target=viz.fmt_money(row["target"]),
             gap=viz.fmt_money(abs(row["gap"])), mean=viz.fmt_money(row["mean"]))
    top = row.get("top_customer_share")
    cap = row.get("capacity")
    has_top = top is not None and pd.notna(top) and top >= 0.2
    ramping = row["level"] == "rep" and cap is not None and pd.notna(cap) and cap < 1
    if has_top:
        f["top"] = viz.fmt_pct(top)
    if ramping:
        f["capacity"] = viz.fmt_pct(cap)
    above = row["gap"] > 0
    if above and has_top and ramping:
        return _("{key}: {p} chance of {target}; {gap} above its forecast {mean}; its largest customer brought {top} "
                 "of last period's revenue; still ramping up ({capacity} of full capacity).", **f)
    if above and has_top:
        return _("{key}: {p} chance of {target}; {gap} above its forecast {mean}; its largest customer brought {top} "
                 "of last period's revenue.", **f)
    if above and ramping:
        return _("{key}: {p} chance of {target}; {gap} above its forecast {mean}; still ramping up ({capacity} of "
                 "full capacity).", **f)
    if above:
        return _("{key}: {p} chance of {target}; {gap} above its forecast {mean}.", **f)
    if has_top and ramping:
        return _("{key}: {p} chance of {target}; {gap} below its forecast {mean}; its largest customer brought {top} "
                 "of last period's revenue; still ramping up ({capacity} of full capacity).", **f)
    if has_top:
        return _("{key}: {p} chance of {target}; {gap} below its forecast {mean}; its largest customer brought {top} "
                 "of last period's revenue.", **f)
    if ramping:
        return _("{key}: {p} chance of {target}; {gap} below its forecast {mean}; still ramping up ({capacity} of "
                 "full capacity).", **f)
    return _("{key}: {p} chance of {target}; {gap} below its forecast {mean}.", **f)


def risk_sentences(M: SalesPlan) -> list[str]:
    return [risk_sentence(r) for _i, r in M.at_risk_.iterrows()] or [_("No piece to list.")]


def backtest_sentences(M: SalesPlan) -> list[str]:
    """How the plan fared when the data already holds the planned period; else why there is no check."""
    b = M.backtest_
    period = viz.fmt_period(M.period_)
    if b is None:
        return [_("The data does not yet hold the whole of {period}: the plan cannot be checked against actuals.",
                  period=period)]
    f = dict(period=period, actual=viz.fmt_money(b["company_actual"]), attainment=viz.fmt_pct(b["company_attainment"]),
             n=b["n"], level=pgettext("level", str(b["level"])), median=viz.fmt_pct(b["median_attainment"]),
             iqr=viz.fmt_pct(b["attainment_iqr"]), hit=viz.fmt_pct(b["hit_rate"]), brier=format(b["brier"], ".3f"),
             base=format(b["brier_base_rate"], ".3f"))
    first = _("The data already holds {period}: the company sold {actual}, {attainment} of the target.", **f)
    if b["level"] in ("region", "team", "rep"):
        targets = {"region": _("Across the {n} region targets the median attainment is {median} (interquartile range "
                               "{iqr}); {hit} reached theirs.", **f),
                   "team": _("Across the {n} team targets the median attainment is {median} (interquartile range "
                             "{iqr}); {hit} reached theirs.", **f),
                   "rep": _("Across the {n} rep targets the median attainment is {median} (interquartile range "
                            "{iqr}); {hit} reached theirs.", **f)}[b["level"]]
    else:
        targets = (f"Across the {b['n']} {b['level']} targets the median attainment is {f['median']} (interquartile "
                   f"range {f['iqr']}); {f['hit']} reached theirs.")
    if b["brier"] < b["brier_base_rate"]:
        brier = _("The stated P(reach) scores a Brier score of {brier}, better than giving every piece the base rate "
                  "({base}).", **f)
    else:
        brier = _("The stated P(reach) scores a Brier score of {brier}, no better than giving every piece the base "
                  "rate ({base}).", **f)
    return [first, _("{targets} {brier}", targets=targets, brier=brier)]


def reliability_view(M: SalesPlan) -> pd.DataFrame:
    """Pieces grouped by stated P(reach) (tenths): how many, the mean P(reach), the share that hit (empty without actuals).

    The columns are the headers shown, in the report's language.
    """
    cols = [_("P(reach)"), _("pieces"), _("mean P(reach)"), _("share reached")]
    if M.backtest_ is None:
        return pd.DataFrame(columns=cols)
    r = M.backtest_["reliability"]
    return pd.DataFrame(dict(zip(cols, [r["bin"], r["n"], r["mean_p"].map(viz.fmt_pct), r["hit_rate"].map(viz.fmt_pct)])))


def waterfall_steps(M: SalesPlan) -> pd.DataFrame:
    """``label, value``: last period, each region's change (target − last-year revenue of its reps), target.

    Orders without a rep (in the company's history, in no region) appear as their own step.
    """
    regions = M.tree_[M.tree_["level"] == "region"]
    target = _("{period} target", period=viz.fmt_period(M.period_))
    if regions.empty:
        return pd.DataFrame({"label": [_("{year} actual", year=viz.fmt_period(str(M.last_span_[0].year))), target],
                             "value": [M.last_revenue_, M.company_["target"]]})
    rows = [(_span(M), M.last_revenue_)]
    rows += [(r["key"], r["target"] - r["last_year"]) for _i, r in regions.iterrows()]
    unassigned = M.last_revenue_ - regions["last_year"].sum()
    if abs(unassigned) > 0.5:
        rows.append((_("no rep"), -unassigned))
    rows.append((target, M.company_["target"]))
    return pd.DataFrame(rows, columns=["label", "value"])


def month_profile_frame(M: SalesPlan) -> pd.DataFrame:
    """``key, month, target, last_year`` for the regions (the company when the plan has no region level)."""
    level = "region" if "region" in M.levels else "company"
    mo = M.monthly_[M.monthly_["level"] == level].copy()
    ly = {g: dict(zip(M.months_, d["last_year_months"])) for g, d in M.regions_.items()}
    ly["company"] = dict(zip(M.months_, M.last_monthly_.groupby("month")["revenue"].sum()
                             .reindex([m - 12 for m in M.months_], fill_value=0.0)))
    mo["last_year"] = [ly.get(k, {}).get(m, float("nan")) for k, m in zip(mo["key"], mo["month"])]
    mo["month"] = mo["month"].astype(str).map(viz.fmt_month)
    mo["key"] = mo["key"].map(lambda k: _label("unit", k))
    return mo[["key", "month", "target", "last_year"]].reset_index(drop=True)


def deepest_pieces(M: SalesPlan) -> pd.DataFrame:
    return M.tree_[M.tree_["level"] == M.tree_["level"].iloc[-1]].reset_index(drop=True)


def _view(columns: dict[str, Any]) -> pd.DataFrame:
    """A table view whose column names are the headers shown, in the report's language.

    ``columns`` maps the English header to the column's values. ``status`` keeps its name and its raw words
    (the notebook colours the cells with ``status_col="status"`` from them).
    """
    headers = {"level": _("level"), "unit": _("unit"), "parent": _("parent"), "target": _("target"),
               "last year": _("last year"), "forecast": _("forecast"), "within": _("within"),
               "product line": _("product line"), "growth": _("growth"), "month": _("month"), "why": _("why"),
               "note": _("note"), "P(reach)": _("P(reach)")}
    return pd.DataFrame({headers.get(k, k): v for k, v in columns.items()})


def tree_view(M: SalesPlan) -> pd.DataFrame:
    t = M.tree_
    return _view({"level": t["level"].map(lambda v: _label("level", v)), "unit": t["key"].map(lambda k: _label("unit", k)),
                  "target": t["target"].map(viz.fmt_money), "last year": t["last_year"].map(viz.fmt_money),
                  "forecast": t["mean"].map(viz.fmt_money), "P(reach)": t["prob_reach"].map(viz.fmt_pct),
                  "status": t["status"]})


def at_risk_view(M: SalesPlan) -> pd.DataFrame:
    a = M.at_risk_
    return _view({"unit": a["key"], "parent": a["parent"].str.split(":", n=1).str[1],
                  "target": a["target"].map(viz.fmt_money), "forecast": a["mean"].map(viz.fmt_money),
                  "P(reach)": a["prob_reach"].map(viz.fmt_pct), "status": a["status"],
                  "why": [risk_sentence(r) for _i, r in a.iterrows()]})


def lines_view(M: SalesPlan) -> pd.DataFrame:
    """Each region's target over its product lines (a note when the plan has none)."""
    if M.lines_ is None:
        return _view({"note": [_("no product lines: the data has no products.product_line, or product_lines is false")]})
    x = M.lines_
    return _view({"within": x["parent"], "product line": x["product_line"],
                  "last year": x["last_year"].map(viz.fmt_money), "target": x["target"].map(viz.fmt_money),
                  "growth": x["growth"].map(lambda g: viz.fmt_pct(g, 1)),
                  "forecast": x["forecast"].map(viz.fmt_money), "P(reach)": x["prob_reach"].map(viz.fmt_pct),
                  "status": x["status"]})


def month_view(M: SalesPlan) -> pd.DataFrame:
    """Company and region targets per month with P(reach)."""
    mo = M.monthly_[M.monthly_["level"].isin(["company", "region"])]
    return _view({"unit": mo["key"].map(lambda k: _label("unit", k)), "month": mo["month"].astype(str).map(viz.fmt_month),
                  "target": mo["target"].map(viz.fmt_money), "forecast": mo["mean"].map(viz.fmt_money),
                  "P(reach)": mo["prob_reach"].map(viz.fmt_pct), "status": mo["status"]})


def figure_inputs(M: SalesPlan) -> dict[str, tuple[tuple, dict[str, Any]]]:
    return {"plot_waterfall": ((waterfall_steps(M),), {}),
            "plot_month_profile": ((month_profile_frame(M),), {}),
            "plot_reach_distribution": ((deepest_pieces(M),), {"lines": M.risk_lines})}


def publish(M: SalesPlan, res) -> None:
    """results.json keys of :meth:`SalesPlan.results`; tables ``targets`` (canonical shape), ``pieces``, ``monthly``."""
    res.set(**M.results())
    c = M.company_
    # English labels as keys, these values; the text: the formatted value in the report's language
    res.headline_cards(lambda: headline_cards(M), values=(
        c["target"], c["target"] / M.last_revenue_ - 1 if M.last_revenue_ else None, c["prob_reach"], c["stretch"]))
    res.table("targets", M.targets_frame())                       # -> plan.targets.csv
    res.table("pieces", M.tree_.drop(columns=["id"]))             # -> plan.pieces.csv
    mo = M.monthly_.copy()
    mo["month"] = mo["month"].astype(str)
    res.table("monthly", mo)                                      # -> plan.monthly.csv
    if M.lines_ is not None:
        res.table("product_lines", M.lines_)                      # -> plan.product_lines.csv
    res.save()
