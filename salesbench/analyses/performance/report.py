"""The performance notebook's text, tables, figures and publishing.

Headline cards, summary sentences, the colour-coded scorecard and team/region
tables, the warning table, price/volume/mix views, per-rep feedback blocks,
method notes, the values and CSV tables written by :func:`publish`, and the
``show_*`` calls that draw each figure of the notebook (one call per cell,
several figures where the review has several waterfalls or bridges).

Everything here formats numbers computed by
:class:`salesbench.analyses.performance.model.PerformanceReview`; no KPI is
computed here. All text from the data (rep names, team names) is escaped
through :mod:`salesbench.viz`. Status is never shown by colour alone: the
scorecard writes a glyph next to each value and the status word in its last
column.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from salesbench import viz
from salesbench.analyses.performance import plots
from salesbench.analyses.performance.kpis import KPIS, format_value
from salesbench.analyses.performance.model import PerformanceReview
from salesbench.analyses.performance.periods import period_label
from salesbench.analyses.performance.warning_lines import classify

#: Glyph written next to a value so status is readable without colour.
GLYPH = {"green": "✓", "amber": "!", "red": "✕", "grey": ""}
_TINT = {"green": "#CCEBE3", "amber": "#F9E5BF", "red": "#F5CFB3", "grey": "#F0F0F0"}

SCORECARD_COLUMNS = [
    "rank", "rank_team", "rep_id", "name", "team", "region", "score", "score_status", "status", "weight_covered",
]


def headline_cards(rv: PerformanceReview) -> list[dict[str, Any]]:
    """3-5 cards for the first screen: revenue vs target, growth, margin, reps under a warning line, collection."""
    k = rv.scope_kpis_
    lines = rv.config_.warning_lines
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
        "sub": _collection_phrase(rv.config_.collection_grace_days),
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


def sentences(rv: PerformanceReview) -> list[str]:
    """Two or three sentences with the numbers that matter (for :func:`salesbench.viz.narrative`)."""
    k = rv.scope_kpis_
    label = period_label(rv.period_)
    who = "The company" if rv.scope_level_ == "company" else f"{rv.scope_level_.capitalize()} {rv.scope_key_}"
    s = [f"{who} booked {viz.fmt_money(k.get('revenue'))} of revenue in {label}"]
    att = k.get("revenue_attainment")
    if att is not None and not pd.isna(att):
        st = classify([att], **rv.config_.warning_lines["attainment"]).iat[0]
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
    for k in rv.config_.weights:
        cols += [c for c in (k, f"{k}_target", f"{k}_attainment", f"c_{k}", f"basis_{k}", f"status_{k}") if c in card.columns]
    extra = [c for c in ("win_rate", "avg_deal_size", "nps", "discount_rate", "revenue_growth_pop", "revenue_growth_yoy")
             if c in card.columns and c not in cols]
    return card[cols + extra]


def publish(rv: PerformanceReview, res) -> None:
    """Fill ``res`` with the results values, headline figures and CSV tables, then save ``performance.results.json``."""
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
    res.save()


# --------------------------------------------------------------------------- table views
def scorecard_view(rv: PerformanceReview, max_rows: int = 60) -> viz.HTML:
    """The scope's colour-coded scorecard with every weighted KPI (:func:`scorecard_table`)."""
    return scorecard_table(rv.scope_card_, list(rv.config_.weights), max_rows=max_rows)


def level_view(rv: PerformanceReview, level: str) -> viz.HTML:
    """The KPI table of the regions or teams in scope (:func:`level_frame`, :func:`level_table`)."""
    return level_table(level_frame(rv, level), rv.config_.warning_lines, label=level)


def scorecard_table(card: pd.DataFrame, kpis: Sequence[str], max_rows: int = 60, caption: str | None = None) -> viz.HTML:
    """Colour-coded scorecard (escaped HTML): rank, rep, team, score, each KPI, status.

    Each KPI cell shows the value (and attainment where the KPI has a target)
    on a tint of its status colour with a status glyph (✓ green, ! amber,
    ✕ red); the last column repeats the overall status as a word.
    """
    df = card.head(max_rows)
    heads = ["Rank", "Rep", "Team", "Score"] + [KPIS[k].label if k in KPIS else k for k in kpis] + ["Status"]
    rows = []
    for _, r in df.iterrows():
        cells = [
            f"<td>{viz.esc('' if pd.isna(r.get('rank')) else int(r['rank']))}</td>",
            f"<td>{viz.esc(r.get('name') or r['rep_id'])}</td>",
            f"<td>{viz.esc(r.get('team', ''))}</td>",
            _status_cell(viz.fmt_num(r["score"], 0), r.get("score_status", "grey")),
        ]
        for k in kpis:
            txt = format_value(k, r.get(k))
            if r.get(f"basis_{k}") == "target" and pd.notna(r.get(f"{k}_attainment")):
                txt += f" ({viz.fmt_pct(r[f'{k}_attainment'])})"
            cells.append(_status_cell(txt, r.get(f"status_{k}", "grey")))
        st = r.get("status", "grey")
        cells.append(
            f'<td style="background:{viz.status_color(st)};color:#fff;font-weight:600">{viz.esc(st)}</td>'
        )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{viz.esc(caption)}</caption>" if caption else ""
    head = "".join(f"<th>{viz.esc(h)}</th>" for h in heads)
    legend = (
        '<p class="s">Cell colour and glyph = status against the warning lines: '
        "✓ green, ! amber, ✕ red, blank grey = no data. Percentages in brackets are attainment against target.</p>"
    )
    more = (
        f'<p class="s">Showing {max_rows} of {len(card):,} reps; the full scorecard is in the exported CSV.</p>'
        if len(card) > max_rows else ""
    )
    return viz.HTML(
        f'<table class="dataframe sb-table">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{legend}{more}"
    )


def _status_cell(text: str, status: str) -> str:
    status = status if status in _TINT else "grey"
    glyph = GLYPH[status]
    return (
        f'<td style="background:{_TINT[status]};border-left:4px solid {viz.status_color(status)}" '
        f'title="{viz.esc(status)}">{viz.esc(text)}{" " + glyph if glyph else ""}</td>'
    )


def level_table(frame: pd.DataFrame, lines: Mapping[str, Mapping[str, float]], label: str = "key") -> viz.HTML:
    """KPI table for teams or regions with the attainment status coloured (escaped)."""
    df = frame.copy()
    if "revenue_attainment" in df.columns:
        df["status"] = classify(df["revenue_attainment"], **lines["attainment"]).to_numpy()
    cols = [label, "revenue", "revenue_target", "revenue_attainment", "revenue_growth_pop", "revenue_growth_yoy",
            "gross_margin", "collection_rate", "new_customer_rate", "csat", "nps", "win_rate", "status"]
    cols = [c for c in cols if c in df.columns]
    pretty = {label: label.capitalize() if label != "key" else "", "revenue": "Revenue", "revenue_target": "Target",
              "revenue_attainment": "Attainment", "revenue_growth_pop": "vs prev.", "revenue_growth_yoy": "vs last year",
              "gross_margin": "Gross margin", "collection_rate": "Collection", "new_customer_rate": "New cust.",
              "csat": "CSAT", "nps": "NPS", "win_rate": "Win rate", "status": "Status"}
    out = df[cols].rename(columns=pretty)
    fmts = {"Revenue": viz.fmt_money, "Target": viz.fmt_money, "Attainment": viz.fmt_pct,
            "vs prev.": lambda v: viz.fmt_pct(v, 1), "vs last year": lambda v: viz.fmt_pct(v, 1),
            "Gross margin": lambda v: viz.fmt_pct(v, 1), "Collection": viz.fmt_pct,
            "New cust.": lambda v: viz.fmt_pct(v, 1), "CSAT": lambda v: viz.fmt_num(v, 2),
            "NPS": viz.fmt_num, "Win rate": viz.fmt_pct}
    return viz.show_table(out, formats=fmts, status_col="Status" if "Status" in out.columns else None)



def kpi_label(name: str) -> str:
    return KPIS[name].label if name in KPIS else name


def warning_frame(rv: PerformanceReview) -> pd.DataFrame:
    """The warning list with readable measure names and formatted values (:func:`warning_view` shows it)."""
    w = rv.warnings_.copy()
    if w.empty:
        return pd.DataFrame(columns=["Rep", "Team", "Measure", "Value", "Against", "status"])
    def fmt(r):
        if r["basis"] == "attainment":
            return viz.fmt_pct(r["value"]) + " of target"
        if r["basis"] == "score":
            return viz.fmt_num(r["value"], 0) + " points"
        return format_value(r["measure"], r["value"])
    return pd.DataFrame({
        "Rep": w["name"].fillna(w["rep_id"]), "Team": w["team"],
        "Measure": w["measure"].map(lambda m: "Score" if m == "score" else kpi_label(m)),
        "Value": w.apply(fmt, axis=1),
        "Against": w["basis"].map({"attainment": "target", "percentile": "peers (percentile)", "score": "score lines"}),
        "status": w["status"],
    })


def warning_view(rv: PerformanceReview, max_rows: int = 60) -> viz.HTML:
    """Everyone under a warning line as an escaped table with the status coloured."""
    return viz.show_table(warning_frame(rv), max_rows=max_rows, status_col="status")


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


def relationship_readings(rv: PerformanceReview) -> viz.HTML:
    """One plain-language reading per KPI pair (associations, never causes)."""
    return viz.bullet_list(rv.relationships_["reading"])


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
    cfg = rv.config_
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


# --------------------------------------------------------------------------- figures
def figure_inputs(rv: PerformanceReview) -> dict[str, tuple[tuple, dict[str, Any]]]:
    """``{plot function name: (args, kwargs)}`` for every figure the review can draw (first waterfall / bridge).

    Figures whose data the review does not have (no targets: no attainment
    bars, no waterfall; no products: no bridge) are left out.
    """
    card, lines = rv.scope_card_, rv.config_.warning_lines
    out: dict[str, tuple[tuple, dict[str, Any]]] = {
        "plot_overview": ((card,), {"lines": lines, "period": period_label(rv.period_)}),
        "plot_score_bars": ((card,), {"lines": lines}),
        "plot_sparklines": ((rv.history_,), {"rep_ids": list(card["rep_id"]), "lines": lines}),
        "plot_relationships": ((rv.relationships_,), {}),
    }
    if "revenue_attainment" in card.columns and card["revenue_attainment"].notna().any():
        out["plot_attainment_bars"] = ((card,), {"lines": lines, "cap": 1.6})
    if rv.waterfalls_:
        level, wf = next(iter(rv.waterfalls_.items()))
        out["plot_gap_waterfall"] = ((wf,), {"title": f"Revenue gap to target by {level}"})
    views = pvm_views(rv)
    if views:
        title, pvm, base, cur = views[0]
        out["plot_pvm_bridge"] = ((pvm,), {"base_label": base, "current_label": cur, "title": title})
    return out


def _show(ax) -> None:
    """Lay out and show the figure of ``ax`` (inline in a notebook), then let it go."""
    viz.finish(ax.figure)
    plt.show()


def show_overview(rv: PerformanceReview) -> None:
    """The first-screen figure: revenue attainment per rep against the warning lines (score per rep without targets)."""
    args, kwargs = figure_inputs(rv)["plot_overview"]
    _show(plots.plot_overview(*args, **kwargs))


def show_gap_waterfalls(rv: PerformanceReview) -> None:
    """One gap-to-target waterfall per level below the scope (regions and teams, or teams and reps); none without targets."""
    for level, wf in rv.waterfalls_.items():
        _show(plots.plot_gap_waterfall(wf, title=f"Revenue gap to target by {level}"))


def show_pvm(rv: PerformanceReview) -> None:
    """Each price/volume/mix bridge (vs the previous period, vs target) followed by its table by product line."""
    for title, pvm, base, cur in pvm_views(rv):
        _show(plots.plot_pvm_bridge(pvm, base_label=base, current_label=cur, title=title))
        display(pvm_table(pvm))


def show_relationships(rv: PerformanceReview) -> None:
    """The forest plot of the KPI pairs' rank correlations with their intervals."""
    _show(plots.plot_relationships(rv.relationships_))


def show_sparklines(rv: PerformanceReview) -> None:
    """Revenue attainment (else score) per rep over the trend periods, one small multiple per rep in scope."""
    args, kwargs = figure_inputs(rv)["plot_sparklines"]
    _show(plots.plot_sparklines(*args, **kwargs))
