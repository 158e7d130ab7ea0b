"""The performance notebook's text and publishing: headline cards, narrative,
per-rep feedback blocks and the values written to ``performance.results.json``.

Everything here formats numbers computed by :class:`salesbench.analyses.performance.model.PerformanceReview`;
no KPI is computed here. All text from the data (rep names, team names) is
escaped through :mod:`salesbench.viz`.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from salesbench import viz
from salesbench.analyses.performance.model import KPIS, PerformanceReview, classify, period_label

SCORECARD_COLUMNS = [
    "rank", "rank_team", "rep_id", "name", "team", "region", "score", "score_status", "status", "weight_covered",
]


def headline_cards(rv: PerformanceReview) -> list[dict[str, Any]]:
    """3-5 cards for the first screen: revenue vs target, growth, margin, reps under a warning line, collection."""
    k = rv.scope_kpis_
    lines = rv.config.warning_lines
    att = k.get("revenue_attainment")
    label = period_label(rv.period_)
    cards = []
    status = classify([att], **lines["attainment"]).iat[0] if att is not None else "grey"
    cards.append({
        "label": f"Revenue {label}", "value": viz.fmt_money(k.get("revenue")),
        "sub": (f"{viz.fmt_pct(att)} of target {viz.fmt_money(k.get('revenue_target'))}"
                if att is not None and not pd.isna(att) else "no target"),
        "status": status if att is not None and not pd.isna(att) else None,
    })
    yoy, pop = k.get("revenue_growth_yoy"), k.get("revenue_growth_pop")
    cards.append({
        "label": f"Growth vs {period_label(rv.last_year_)}", "value": _signed_pct(yoy),
        "sub": f"{_signed_pct(pop)} vs {period_label(rv.previous_)}",
    })
    gm = k.get("gross_margin")
    gm_ly = _scope_value(rv, rv.last_year_, "gross_margin")
    cards.append({
        "label": "Gross margin", "value": viz.fmt_pct(gm, 1),
        "sub": f"{viz.fmt_pct(gm_ly, 1)} in {period_label(rv.last_year_)}",
    })
    card = rv.scope_card_
    below = int(card["status"].isin(["red", "amber"]).sum())
    red = int((card["status"] == "red").sum())
    cards.append({
        "label": "Reps below a warning line", "value": f"{below} of {len(card)}",
        "sub": f"{red} red, {below - red} amber",
        "status": "red" if red else ("amber" if below else "green"),
    })
    cards.append({
        "label": "Collection rate", "value": viz.fmt_pct(k.get("collection_rate")),
        "sub": _collection_phrase(rv.config.collection_grace_days),
    })
    return cards


def _collection_phrase(grace_days: int) -> str:
    if grace_days == 0:
        return "of amounts due in the period, paid by the due date"
    return f"of amounts due in the period, paid within {grace_days} days of the due date"


def _signed_pct(x) -> str:
    if x is None or pd.isna(x):
        return "–"
    return ("+" if x >= 0 else "") + viz.fmt_pct(x, 1)


def _scope_value(rv: PerformanceReview, period: pd.Period, col: str):
    f = rv.all_kpis_.get(rv.scope_level_)
    if f is None or col not in f.columns:
        return None
    row = f[(f["period"] == period) & (f["key"] == rv.scope_key_)]
    return row[col].iat[0] if len(row) else None


def summary_sentences(rv: PerformanceReview) -> list[str]:
    """Two or three sentences with the numbers that matter (for :func:`salesbench.viz.narrative`)."""
    k = rv.scope_kpis_
    label = period_label(rv.period_)
    who = "The company" if rv.scope_level_ == "company" else f"{rv.scope_level_.capitalize()} {rv.scope_key_}"
    s = [f"{who} booked {viz.fmt_money(k.get('revenue'))} of revenue in {label}"]
    att = k.get("revenue_attainment")
    if att is not None and not pd.isna(att):
        st = classify([att], **rv.config.warning_lines["attainment"]).iat[0]
        s[0] += f", {viz.fmt_pct(att)} of its {viz.fmt_money(k.get('revenue_target'))} target ({st})"
    yoy = k.get("revenue_growth_yoy")
    if yoy is not None and not pd.isna(yoy):
        s[0] += f" and {viz.fmt_pct(abs(yoy))} {'more' if yoy >= 0 else 'less'} than in {period_label(rv.last_year_)}"
    s[0] += "."
    if rv.waterfalls_:
        level, wf = next(iter(rv.waterfalls_.items()))
        ch = wf[wf["kind"] == "child"]
        if len(ch):
            lo, hi = ch.loc[ch["delta"].idxmin()], ch.loc[ch["delta"].idxmax()]
            parts = []
            if lo["delta"] < 0:
                parts.append(f"the largest shortfall to target is {level} {lo['label']} ({viz.fmt_money(lo['delta'])})")
            if hi["delta"] > 0:
                parts.append(f"the largest surplus {level} {hi['label']} (+{viz.fmt_money(hi['delta'])})")
            if parts:
                sentence = " and ".join(parts)
                s.append(sentence[0].upper() + sentence[1:] + ".")
    card = rv.scope_card_
    below = int(card["status"].isin(["red", "amber"]).sum())
    top = card.dropna(subset=["score"]).head(1)
    txt = f"{below} of {len(card)} reps are below a warning line (score or revenue attainment)"
    if len(top):
        t = top.iloc[0]
        txt += f"; {t.get('name') or t['rep_id']} ({t.get('team', '')}) leads the scorecard with {t['score']:.0f} points"
    s.append(txt + ".")
    if rv.spearman_truth_ is not None:
        s.append(f"Demo check: the score ranks reps like their hidden skill (Spearman {rv.spearman_truth_:.2f}).")
    return s


def feedback_blocks(rv: PerformanceReview, max_reps: int | None = None) -> viz.HTML:
    """One escaped block per rep: heading, summary, strengths, gaps and trend, all with numbers."""
    parts = []
    items = rv.feedback_ if max_reps is None else rv.feedback_[:max_reps]
    for fb in items:
        color = viz.status_color(fb["status"])
        parts.append(
            f'<div style="border-left:6px solid {color};padding:4px 12px;margin:10px 0">'
            f'<h3 style="margin:4px 0">{viz.esc(fb["name"] or fb["rep_id"])} · {viz.esc(fb["team"] or "")}</h3>'
            f"<p>{viz.esc(fb['summary'])}</p>"
        )
        parts.append("<p><b>Strengths</b></p>" + (viz.bullet_list(fb["strengths"]).markup if fb["strengths"]
                                                  else "<p>none stands out against the team median</p>"))
        parts.append("<p><b>Gaps</b></p>" + (viz.bullet_list(fb["gaps"]).markup if fb["gaps"]
                                             else "<p>none stands out against the team median</p>"))
        if fb["trend_text"]:
            parts.append(f"<p>{viz.esc(fb['trend_text'])}</p>")
        parts.append("</div>")
    return viz.HTML("".join(parts))


def feedback_frame(rv: PerformanceReview) -> pd.DataFrame:
    """Feedback as a flat table (one row per rep) for the CSV export."""
    return pd.DataFrame([
        {"rep_id": f["rep_id"], "name": f["name"], "team": f["team"], "score": f["score"], "status": f["status"],
         "strengths": " | ".join(f["strengths"]), "gaps": " | ".join(f["gaps"]), "trend": f["trend_text"]}
        for f in rv.feedback_
    ])


def scorecard_export(rv: PerformanceReview) -> pd.DataFrame:
    """The scope's scorecard with every weighted KPI, its attainment, component and status."""
    card = rv.scope_card_
    cols = [c for c in SCORECARD_COLUMNS if c in card.columns]
    for k in rv.config.weights:
        cols += [c for c in (k, f"{k}_target", f"{k}_attainment", f"c_{k}", f"basis_{k}", f"status_{k}") if c in card.columns]
    extra = [c for c in ("win_rate", "avg_deal_size", "nps", "discount_rate", "revenue_growth_pop", "revenue_growth_yoy")
             if c in card.columns and c not in cols]
    return card[cols + extra]


def publish(rv: PerformanceReview, res) -> None:
    """Write results values, headline figures and CSV tables (call ``res.save()`` afterwards)."""
    res.set(**rv.results())
    k = rv.scope_kpis_
    att = k.get("revenue_attainment")
    res.headline("Revenue", k.get("revenue"), viz.fmt_money(k.get("revenue")))
    res.headline("Attainment", att, viz.fmt_pct(att) if att is not None and not pd.isna(att) else "–")
    res.headline("Growth vs last year", k.get("revenue_growth_yoy"), _signed_pct(k.get("revenue_growth_yoy")))
    below = int(rv.scope_card_["status"].isin(["red", "amber"]).sum())
    res.headline("Reps below a warning line", below, f"{below} of {len(rv.scope_card_)}")
    res.table("scorecard", scorecard_export(rv))
    res.table("warnings", rv.warnings_)
    for level in ("team", "region"):
        if level in rv.kpis_:
            res.table(f"{level}s", rv.kpis_[level].drop(columns=["period"]).rename(columns={"key": level}))
    if rv.pvm_previous_ is not None:
        res.table("pvm_previous", rv.pvm_previous_)
    if rv.pvm_target_ is not None:
        res.table("pvm_target", rv.pvm_target_)
    for level, wf in rv.waterfalls_.items():
        res.table(f"gap_by_{level}", wf)
    res.table("relationships", rv.relationships_)
    res.table("feedback", feedback_frame(rv))


def kpi_label(name: str) -> str:
    return KPIS[name].label if name in KPIS else name


def warning_table(rv: PerformanceReview) -> pd.DataFrame:
    """The warning list with readable measure names and formatted values (for ``show_table``)."""
    w = rv.warnings_.copy()
    if w.empty:
        return pd.DataFrame(columns=["Rep", "Team", "Measure", "Value", "Against", "status"])
    def fmt(r):
        if r["basis"] == "attainment":
            return viz.fmt_pct(r["value"]) + " of target"
        if r["basis"] == "score":
            return viz.fmt_num(r["value"], 0) + " points"
        from salesbench.analyses.performance.feedback import format_value
        return format_value(r["measure"], r["value"])
    return pd.DataFrame({
        "Rep": w["name"].fillna(w["rep_id"]), "Team": w["team"],
        "Measure": w["measure"].map(lambda m: "Score" if m == "score" else kpi_label(m)),
        "Value": w.apply(fmt, axis=1),
        "Against": w["basis"].map({"attainment": "target", "percentile": "peers (percentile)", "score": "score lines"}),
        "status": w["status"],
    })


def level_frame(rv: PerformanceReview, level: str) -> pd.DataFrame:
    """KPIs of the review period for ``level`` (team/region) within the report's scope, biggest first."""
    f = rv.kpis_.get(level)
    if f is None:
        return pd.DataFrame(columns=["key"])
    if rv.scope_level_ == "region" and level == "team":
        f = f[f["region"] == rv.scope_key_]
    elif rv.scope_level_ == "region" and level == "region":
        f = f[f["key"] == rv.scope_key_]
    elif rv.scope_level_ == "team":
        f = f[f["key"] == rv.scope_key_] if level == "team" else f[f["key"] == rv.scope_card_["region"].iat[0]]
    return f.rename(columns={"key": level}).sort_values("revenue", ascending=False).reset_index(drop=True)


def pvm_views(rv: PerformanceReview) -> list[tuple[str, pd.DataFrame, str, str]]:
    """(title, PVM frame, base label, current label) for the previous-period and target comparisons."""
    cur = period_label(rv.period_)
    out = []
    if rv.pvm_previous_ is not None:
        out.append((f"Revenue bridge {period_label(rv.previous_)} → {cur}", rv.pvm_previous_,
                    period_label(rv.previous_), cur))
    if rv.pvm_target_ is not None:
        out.append((f"Revenue bridge target → {cur} (target at {rv.pvm_target_base_}'s mix and prices)",
                    rv.pvm_target_, "target", cur))
    return out


def pvm_table(pvm: pd.DataFrame) -> viz.HTML:
    """A PVM frame as an escaped table (money compact, prices with two decimals)."""
    cols = {"product_line": "Product line", "revenue_base": "Base revenue", "revenue_current": "Revenue",
            "volume": "Volume", "mix": "Mix", "price": "Price", "change": "Change",
            "price_base": "Base price", "price_current": "Price now"}
    df = pvm[list(cols)].rename(columns=cols)
    money = {c: viz.fmt_money for c in ("Base revenue", "Revenue", "Volume", "Mix", "Price", "Change")}
    money.update({"Base price": lambda v: viz.fmt_num(v, 2), "Price now": lambda v: viz.fmt_num(v, 2)})
    return viz.show_table(df, formats=money)


def method_notes(rv: PerformanceReview) -> list[str]:
    """Plain sentences describing weights, normalisation, lines and definitions actually used."""
    cfg = rv.config
    lines = cfg.warning_lines
    w = ", ".join(f"{kpi_label(k)} {viz.fmt_pct(v)}" for k, v in cfg.weights.items())
    norm = (f"attainment against target (capped at {viz.fmt_pct(cfg.attainment_cap)}) where the rep has a target, "
            f"otherwise the percentile among {cfg.peer_group} peers"
            if cfg.normalisation == "target_else_percentile" else f"the percentile among {cfg.peer_group} peers")
    notes = [
        f"Review period {period_label(rv.period_)} ({rv.period_.start_time.date()} to {rv.period_.end_time.date()}), "
        f"compared with {period_label(rv.previous_)} and {period_label(rv.last_year_)}; data up to {rv.as_of_}.",
        f"Score weights: {w}. Each KPI is scored as {norm}; score = 100 × weighted mean of these components.",
        f"A KPI a rep has no data for drops out and its weight is spread over the rep's other KPIs; reps with less than "
        f"{viz.fmt_pct(cfg.min_weight)} of the weight covered get no score.",
        f"Warning lines: attainment below {viz.fmt_pct(lines['attainment']['red'])} red, below "
        f"{viz.fmt_pct(lines['attainment']['amber'])} amber; percentile below {viz.fmt_pct(lines['percentile']['red'])} "
        f"red, below {viz.fmt_pct(lines['percentile']['amber'])} amber; score below {lines['score']['red']:g} red, below "
        f"{lines['score']['amber']:g} amber. A rep's status is the worst of the score and target-attainment statuses.",
        f"Collection rate = amount due in the period and paid {'by the due date' if cfg.collection_grace_days == 0 else f'within {cfg.collection_grace_days} days of the due date'} ÷ amount due in the period. "
        "New-customer rate = customers acquired in the period (sign-up date, else first order) ÷ active customers. "
        "Gross margin = (revenue − cost) ÷ revenue. NPS = % promoters (9-10) − % detractors (0-6).",
    ]
    notes += [f"Note: {n}." for n in rv.notes_]
    return notes
