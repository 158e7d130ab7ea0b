"""All the wording of the sales plan: headline cards, sentences, table views, figure inputs, publish."""
from __future__ import annotations

from typing import Any

import pandas as pd

from salesbench import viz
from salesbench.analyses.plan.feasibility import flag
from salesbench.analyses.plan.model import SalesPlan


def headline_cards(M: SalesPlan) -> list[dict[str, Any]]:
    c = M.company_
    return [{"label": f"Target {M.period_}", "value": viz.fmt_money(c["target"])},
            {"label": "Growth", "value": viz.fmt_pct(c["target"] / M.last_revenue_ - 1, 1) if M.last_revenue_ else "–"},
            {"label": "P(reach)", "value": viz.fmt_pct(c["prob_reach"]),
             "status": str(flag(c["prob_reach"], M.risk_lines))},  # the same warning lines as every piece
            {"label": "Stretch over forecast", "value": viz.fmt_pct(c["stretch"], 1)}]


def _level_sentence(M: SalesPlan) -> str:
    deepest = M.tree_["level"].iloc[-1]
    t = M.tree_[M.tree_["level"] == deepest]
    n = t["status"].value_counts()
    return (f"Of the {len(t)} {deepest} targets, {n.get('green', 0)} are green, {n.get('amber', 0)} amber and "
            f"{n.get('red', 0)} red (P(reach) below {viz.fmt_pct(M.risk_lines['red'])} is red, below "
            f"{viz.fmt_pct(M.risk_lines['amber'])} amber).")


def sentences(M: SalesPlan) -> list[str]:
    c = M.company_
    basis = (f"{viz.fmt_pct(M.growth, 1)} growth over" if M.amount is None else "an absolute amount, against")
    return [
        f"The {M.period_} target is {viz.fmt_money(c['target'])}: {basis} the {viz.fmt_money(M.last_revenue_)} "
        f"sold in {M.last_span_[0]}..{M.last_span_[1]} (plan made as of {M.as_of_:%d %b %Y}).",
        f"The forecast for {M.period_} is {viz.fmt_money(c['mean'])} (80% interval "
        f"{viz.fmt_money(c['mean'] - 1.2816 * c['sigma'])}–{viz.fmt_money(c['mean'] + 1.2816 * c['sigma'])}); "
        f"the target is {viz.fmt_pct(c['stretch'], 1)} above it, so the company reaches it with probability "
        f"{viz.fmt_pct(c['prob_reach'])}.",
        _level_sentence(M),
    ]


def risk_sentence(row: pd.Series) -> str:
    """One piece at risk and what moves it: the gap to its forecast, key-account concentration, ramp."""
    s = (f"{row['key']}: {viz.fmt_pct(row['prob_reach'])} chance of {viz.fmt_money(row['target'])}; "
         f"{viz.fmt_money(abs(row['gap']))} {'above' if row['gap'] > 0 else 'below'} its forecast "
         f"{viz.fmt_money(row['mean'])}")
    top = row.get("top_customer_share")
    if top is not None and pd.notna(top) and top >= 0.2:
        s += f"; its largest customer brought {viz.fmt_pct(top)} of last period's revenue"
    cap = row.get("capacity")
    if row["level"] == "rep" and cap is not None and pd.notna(cap) and cap < 1:
        s += f"; still ramping up ({viz.fmt_pct(cap)} of full capacity)"
    return s + "."


def risk_sentences(M: SalesPlan) -> list[str]:
    return [risk_sentence(r) for _i, r in M.at_risk_.iterrows()] or ["No piece to list."]


def backtest_sentences(M: SalesPlan) -> list[str]:
    """How the plan fared when the data already holds the planned period; else why there is no check."""
    b = M.backtest_
    if b is None:
        return [f"The data does not yet hold the whole of {M.period_}: the plan cannot be checked against actuals."]
    verdict = "better than" if b["brier"] < b["brier_base_rate"] else "no better than"
    return [f"The data already holds {M.period_}: the company sold {viz.fmt_money(b['company_actual'])}, "
            f"{viz.fmt_pct(b['company_attainment'])} of the target.",
            f"Across the {b['n']} {b['level']} targets the median attainment is {viz.fmt_pct(b['median_attainment'])} "
            f"(interquartile range {viz.fmt_pct(b['attainment_iqr'])}); {viz.fmt_pct(b['hit_rate'])} reached theirs. "
            f"The stated P(reach) scores a Brier score of {b['brier']:.3f}, {verdict} giving every piece the base rate "
            f"({b['brier_base_rate']:.3f})."]


def reliability_view(M: SalesPlan) -> pd.DataFrame:
    """Pieces grouped by stated P(reach) (tenths): how many, the mean P(reach), the share that hit (empty without actuals)."""
    if M.backtest_ is None:
        return pd.DataFrame(columns=["P(reach)", "pieces", "mean P(reach)", "share reached"])
    r = M.backtest_["reliability"]
    return pd.DataFrame({"P(reach)": r["bin"], "pieces": r["n"], "mean P(reach)": r["mean_p"].map(viz.fmt_pct),
                         "share reached": r["hit_rate"].map(viz.fmt_pct)})


def waterfall_steps(M: SalesPlan) -> pd.DataFrame:
    """``label, value``: last period, each region's change (target − last-year revenue of its reps), target.

    Orders without a rep (in the company's history, in no region) appear as their own step.
    """
    regions = M.tree_[M.tree_["level"] == "region"]
    if regions.empty:
        return pd.DataFrame({"label": [f"{M.last_span_[0].year} actual", f"{M.period_} target"],
                             "value": [M.last_revenue_, M.company_["target"]]})
    rows = [(f"{M.last_span_[0]}..{M.last_span_[1]}", M.last_revenue_)]
    rows += [(r["key"], r["target"] - r["last_year"]) for _i, r in regions.iterrows()]
    unassigned = M.last_revenue_ - regions["last_year"].sum()
    if abs(unassigned) > 0.5:
        rows.append(("no rep", -unassigned))
    rows.append((f"{M.period_} target", M.company_["target"]))
    return pd.DataFrame(rows, columns=["label", "value"])


def month_profile_frame(M: SalesPlan) -> pd.DataFrame:
    """``key, month, target, last_year`` for the regions (the company when the plan has no region level)."""
    level = "region" if "region" in M.levels else "company"
    mo = M.monthly_[M.monthly_["level"] == level].copy()
    ly = {g: dict(zip(M.months_, d["last_year_months"])) for g, d in M.regions_.items()}
    ly["company"] = dict(zip(M.months_, M.last_monthly_.groupby("month")["revenue"].sum()
                             .reindex([m - 12 for m in M.months_], fill_value=0.0)))
    mo["last_year"] = [ly.get(k, {}).get(m, float("nan")) for k, m in zip(mo["key"], mo["month"])]
    mo["month"] = mo["month"].astype(str)
    return mo[["key", "month", "target", "last_year"]].reset_index(drop=True)


def deepest_pieces(M: SalesPlan) -> pd.DataFrame:
    return M.tree_[M.tree_["level"] == M.tree_["level"].iloc[-1]].reset_index(drop=True)


def tree_view(M: SalesPlan) -> pd.DataFrame:
    t = M.tree_
    return pd.DataFrame({"level": t["level"], "unit": t["key"], "target": t["target"].map(viz.fmt_money),
                         "last year": t["last_year"].map(viz.fmt_money), "forecast": t["mean"].map(viz.fmt_money),
                         "P(reach)": t["prob_reach"].map(viz.fmt_pct), "status": t["status"]})


def at_risk_view(M: SalesPlan) -> pd.DataFrame:
    a = M.at_risk_
    return pd.DataFrame({"unit": a["key"], "parent": a["parent"].str.split(":", n=1).str[1],
                         "target": a["target"].map(viz.fmt_money), "forecast": a["mean"].map(viz.fmt_money),
                         "P(reach)": a["prob_reach"].map(viz.fmt_pct), "status": a["status"],
                         "why": [risk_sentence(r) for _i, r in a.iterrows()]})


def lines_view(M: SalesPlan) -> pd.DataFrame:
    """Each region's target over its product lines (a note when the plan has none)."""
    if M.lines_ is None:
        return pd.DataFrame({"note": ["no product lines: the data has no products.product_line, or product_lines is false"]})
    x = M.lines_
    return pd.DataFrame({"within": x["parent"], "product line": x["product_line"],
                         "last year": x["last_year"].map(viz.fmt_money), "target": x["target"].map(viz.fmt_money),
                         "growth": x["growth"].map(lambda g: viz.fmt_pct(g, 1)),
                         "forecast": x["forecast"].map(viz.fmt_money), "P(reach)": x["prob_reach"].map(viz.fmt_pct),
                         "status": x["status"]})


def month_view(M: SalesPlan) -> pd.DataFrame:
    """Company and region targets per month with P(reach)."""
    mo = M.monthly_[M.monthly_["level"].isin(["company", "region"])]
    return pd.DataFrame({"unit": mo["key"], "month": mo["month"].astype(str), "target": mo["target"].map(viz.fmt_money),
                         "forecast": mo["mean"].map(viz.fmt_money), "P(reach)": mo["prob_reach"].map(viz.fmt_pct),
                         "status": mo["status"]})


def figure_inputs(M: SalesPlan) -> dict[str, tuple[tuple, dict[str, Any]]]:
    return {"plot_waterfall": ((waterfall_steps(M),), {}),
            "plot_month_profile": ((month_profile_frame(M),), {}),
            "plot_reach_distribution": ((deepest_pieces(M),), {"lines": M.risk_lines})}


def publish(M: SalesPlan, res) -> None:
    """results.json keys of :meth:`SalesPlan.results`; tables ``targets`` (canonical shape), ``pieces``, ``monthly``."""
    res.set(**M.results())
    c, cards = M.company_, headline_cards(M)
    for card, value in zip(cards, (c["target"], c["target"] / M.last_revenue_ - 1 if M.last_revenue_ else None,
                                   c["prob_reach"], c["stretch"])):
        res.headline(card["label"], value, card["value"])
    res.table("targets", M.targets_frame())                       # -> plan.targets.csv
    res.table("pieces", M.tree_.drop(columns=["id"]))             # -> plan.pieces.csv
    mo = M.monthly_.copy()
    mo["month"] = mo["month"].astype(str)
    res.table("monthly", mo)                                      # -> plan.monthly.csv
    if M.lines_ is not None:
        res.table("product_lines", M.lines_)                      # -> plan.product_lines.csv
    res.save()
