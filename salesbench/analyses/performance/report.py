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
from salesbench.analyses.performance.feedback import feedback_texts, reading_text
from salesbench.analyses.performance.kpis import format_value, kpi_label, status_word
from salesbench.analyses.performance.model import PerformanceReview
from salesbench.analyses.performance.periods import period_text
from salesbench.analyses.performance.warning_lines import classify
from salesbench.core.i18n import N_, NP_, messages

_, ngettext, pgettext = messages(__name__).functions()

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
    label = period_text(rv.period_)
    cards = []
    status = classify([att], **lines["attainment"]).iat[0] if att is not None else "grey"
    cards.append({
        "label": _("Revenue {period}", period=label), "value": viz.fmt_money(k.get("revenue")),
        "sub": (_("{attainment} of target {target}", attainment=viz.fmt_pct(att),
                  target=viz.fmt_money(k.get("revenue_target")))
                if att is not None and not pd.isna(att) else _("no target")),
        "status": status if att is not None and not pd.isna(att) else None,
    })
    yoy, pop = k.get("revenue_growth_yoy"), k.get("revenue_growth_pop")
    cards.append({
        "label": _("Growth vs {period}", period=period_text(rv.last_year_)), "value": _signed_pct(yoy),
        "sub": _("{growth} vs {period}", growth=_signed_pct(pop), period=period_text(rv.previous_)),
    })
    gm = k.get("gross_margin")
    gm_ly = _scope_value(rv, rv.last_year_, "gross_margin")
    cards.append({
        "label": _("Gross margin"), "value": viz.fmt_pct(gm, 1),
        "sub": _("{margin} in {period}", margin=viz.fmt_pct(gm_ly, 1), period=period_text(rv.last_year_)),
    })
    card = rv.scope_card_
    below = int(card["status"].isin(["red", "amber"]).sum())
    red = int((card["status"] == "red").sum())
    cards.append({
        "label": _("Reps below a warning line"), "value": _("{below} of {n}", below=below, n=len(card)),
        "sub": _("{red} red, {amber} amber", red=red, amber=below - red),
        "status": "red" if red else ("amber" if below else "green"),
    })
    cards.append({
        "label": _("Collection rate"), "value": viz.fmt_pct(k.get("collection_rate")),
        "sub": _collection_phrase(rv.config_.collection_grace_days),
    })
    return cards


def _collection_phrase(grace_days: int) -> str:
    if grace_days == 0:
        return _("of amounts due in the period, paid by the due date")
    return _("of amounts due in the period, paid within {days} days of the due date", days=grace_days)


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


def _subject(rv: PerformanceReview) -> str:
    """Who the review is about, as the subject of a sentence: the company, a region or a team."""
    if rv.scope_level_ == "region":
        return _("Region {key}", key=rv.scope_key_)
    if rv.scope_level_ == "team":
        return _("Team {key}", key=rv.scope_key_)
    if rv.scope_level_ == "company":
        return _("The company")
    return f"{rv.scope_level_.capitalize()} {rv.scope_key_}"


#: a level of the sales organisation as a word in a sentence (``pgettext("level", ...)``)
LEVEL_WORDS = (NP_("level", "company"), NP_("level", "region"), NP_("level", "team"), NP_("level", "rep"))


def level_word(level: str) -> str:
    """``region`` / ``team`` / ``rep`` as a word in the report's language."""
    return pgettext("level", level)


def _first_sentence(rv: PerformanceReview) -> str:
    k = rv.scope_kpis_
    f = dict(who=_subject(rv), revenue=viz.fmt_money(k.get("revenue")), period=period_text(rv.period_))
    att, yoy = k.get("revenue_attainment"), k.get("revenue_growth_yoy")
    has_att = att is not None and not pd.isna(att)
    has_yoy = yoy is not None and not pd.isna(yoy)
    if has_att:
        f.update(attainment=viz.fmt_pct(att), target=viz.fmt_money(k.get("revenue_target")),
                 status=status_word(classify([att], **rv.config_.warning_lines["attainment"]).iat[0]))
    if has_yoy:
        f.update(growth=viz.fmt_pct(abs(yoy)), last_year=period_text(rv.last_year_))
    if has_att and has_yoy and yoy >= 0:
        return _("{who} booked {revenue} of revenue in {period}, {attainment} of its {target} target ({status}) "
                 "and {growth} more than in {last_year}.", **f)
    if has_att and has_yoy:
        return _("{who} booked {revenue} of revenue in {period}, {attainment} of its {target} target ({status}) "
                 "and {growth} less than in {last_year}.", **f)
    if has_att:
        return _("{who} booked {revenue} of revenue in {period}, {attainment} of its {target} target ({status}).", **f)
    if has_yoy and yoy >= 0:
        return _("{who} booked {revenue} of revenue in {period} and {growth} more than in {last_year}.", **f)
    if has_yoy:
        return _("{who} booked {revenue} of revenue in {period} and {growth} less than in {last_year}.", **f)
    return _("{who} booked {revenue} of revenue in {period}.", **f)


def sentences(rv: PerformanceReview) -> list[str]:
    """Two or three sentences with the numbers that matter (for :func:`salesbench.viz.narrative`)."""
    s = [_first_sentence(rv)]
    if rv.waterfalls_:
        level, wf = next(iter(rv.waterfalls_.items()))
        ch = wf[wf["kind"] == "child"]
        if len(ch):
            lo, hi = ch.loc[ch["delta"].idxmin()], ch.loc[ch["delta"].idxmax()]
            f = dict(level=level_word(level), lo=lo["label"], lo_delta=viz.fmt_money(lo["delta"]),
                     hi=hi["label"], hi_delta=viz.fmt_money(hi["delta"]))
            if lo["delta"] < 0 and hi["delta"] > 0:
                s.append(_("The largest shortfall to target is {level} {lo} ({lo_delta}) and the largest surplus "
                           "{level} {hi} (+{hi_delta}).", **f))
            elif lo["delta"] < 0:
                s.append(_("The largest shortfall to target is {level} {lo} ({lo_delta}).", **f))
            elif hi["delta"] > 0:
                s.append(_("The largest surplus {level} {hi} (+{hi_delta}).", **f))
    card = rv.scope_card_
    below = int(card["status"].isin(["red", "amber"]).sum())
    top = card.dropna(subset=["score"]).head(1)
    if len(top):
        t = top.iloc[0]
        s.append(_("{below} of {n} reps are below a warning line (score or revenue attainment); {leader} ({team}) "
                   "leads the scorecard with {score} points.", below=below, n=len(card),
                   leader=t.get("name") or t["rep_id"], team=t.get("team", ""), score=format(t["score"], ".0f")))
    else:
        s.append(_("{below} of {n} reps are below a warning line (score or revenue attainment).",
                   below=below, n=len(card)))
    if rv.spearman_truth_ is not None:
        s.append(_("Demo check: the score ranks reps like their hidden skill (Spearman {rho}).",
                   rho=format(rv.spearman_truth_, ".2f")))
    return s


def feedback_blocks(rv: PerformanceReview, max_reps: int | None = None) -> viz.HTML:
    """One escaped block per rep: heading, summary, strengths, gaps and trend, all with numbers."""
    parts = []
    items = rv.feedback_ if max_reps is None else rv.feedback_[:max_reps]
    none = _("none stands out against the team median")
    strengths_head, gaps_head = viz.esc(_("Strengths")), viz.esc(_("Gaps"))
    for fb in items:
        text = feedback_texts(fb) if "comparison" in fb else fb
        color = viz.status_color(fb["status"])
        parts.append(
            f'<div style="border-left:6px solid {color};padding:4px 12px;margin:10px 0">'
            f'<h3 style="margin:4px 0">{viz.esc(fb["name"] or fb["rep_id"])} · {viz.esc(fb["team"] or "")}</h3>'
            f"<p>{viz.esc(text['summary'])}</p>"
        )
        parts.append(f"<p><b>{strengths_head}</b></p>" + (viz.bullet_list(text["strengths"]).markup
                                                         if text["strengths"] else f"<p>{viz.esc(none)}</p>"))
        parts.append(f"<p><b>{gaps_head}</b></p>" + (viz.bullet_list(text["gaps"]).markup
                                                    if text["gaps"] else f"<p>{viz.esc(none)}</p>"))
        if text["trend_text"]:
            parts.append(f"<p>{viz.esc(text['trend_text'])}</p>")
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
    # labels stay English in results.json (N_: in the catalog, so the index page shows them translated);
    # the texts are the formatted values as the index shows them, in the report's language
    res.headline(N_("Revenue"), k.get("revenue"), viz.fmt_money(k.get("revenue")))
    res.headline(N_("Attainment"), att, viz.fmt_pct(att) if att is not None and not pd.isna(att) else "–")
    res.headline(N_("Growth vs last year"), k.get("revenue_growth_yoy"), _signed_pct(k.get("revenue_growth_yoy")))
    below = int(rv.scope_card_["status"].isin(["red", "amber"]).sum())
    res.headline(N_("Reps below a warning line"), below, _("{below} of {n}", below=below, n=len(rv.scope_card_)))
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
    heads = [_("Rank"), _("Rep"), _("Team"), _("Score")] + [kpi_label(k) for k in kpis] + [_("Status")]
    rows = []
    for _i, r in df.iterrows():
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
            f'<td style="background:{viz.status_color(st)};color:#fff;font-weight:600">{viz.esc(status_word(st))}</td>'
        )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{viz.esc(caption)}</caption>" if caption else ""
    head = "".join(f"<th>{viz.esc(h)}</th>" for h in heads)
    legend = '<p class="s">' + viz.esc(_(
        "Cell colour and glyph = status against the warning lines: "
        "✓ green, ! amber, ✕ red, blank grey = no data. Percentages in brackets are attainment against target.")) + "</p>"
    more = (
        '<p class="s">' + viz.esc(_("Showing {shown} of {n} reps; the full scorecard is in the exported CSV.",
                                    shown=max_rows, n=format(len(card), ","))) + "</p>"
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
        f'title="{viz.esc(status_word(status))}">{viz.esc(text)}{" " + glyph if glyph else ""}</td>'
    )


def level_table(frame: pd.DataFrame, lines: Mapping[str, Mapping[str, float]], label: str = "key") -> viz.HTML:
    """KPI table for teams or regions with the attainment status coloured (escaped)."""
    df = frame.copy()
    if "revenue_attainment" in df.columns:
        df["status"] = classify(df["revenue_attainment"], **lines["attainment"]).to_numpy()
    cols = [label, "revenue", "revenue_target", "revenue_attainment", "revenue_growth_pop", "revenue_growth_yoy",
            "gross_margin", "collection_rate", "new_customer_rate", "csat", "nps", "win_rate", "status"]
    cols = [c for c in cols if c in df.columns]
    levels = {"region": _("Region"), "team": _("Team"), "rep": _("Rep"), "key": ""}
    pretty = {label: levels.get(label, label.capitalize()), "revenue": _("Revenue"), "revenue_target": _("Target"),
              "revenue_attainment": _("Attainment"), "revenue_growth_pop": _("vs prev."),
              "revenue_growth_yoy": _("vs last year"), "gross_margin": _("Gross margin"),
              "collection_rate": _("Collection"), "new_customer_rate": _("New cust."), "csat": "CSAT", "nps": "NPS",
              "win_rate": _("Win rate"), "status": _("Status")}
    fmts = {"revenue": viz.fmt_money, "revenue_target": viz.fmt_money, "revenue_attainment": viz.fmt_pct,
            "revenue_growth_pop": lambda v: viz.fmt_pct(v, 1), "revenue_growth_yoy": lambda v: viz.fmt_pct(v, 1),
            "gross_margin": lambda v: viz.fmt_pct(v, 1), "collection_rate": viz.fmt_pct,
            "new_customer_rate": lambda v: viz.fmt_pct(v, 1), "csat": lambda v: viz.fmt_num(v, 2),
            "nps": viz.fmt_num, "win_rate": viz.fmt_pct, "status": status_word}
    return viz.show_table(df[cols], formats=fmts, status_col="status" if "status" in cols else None,
                          headers=pretty)



def warning_frame(rv: PerformanceReview) -> pd.DataFrame:
    """The warning list with readable measure names and formatted values (:func:`warning_view` shows it)."""
    w = rv.warnings_.copy()
    if w.empty:
        return pd.DataFrame(columns=["Rep", "Team", "Measure", "Value", "Against", "status"])
    def fmt(r):
        if r["basis"] == "attainment":
            return _("{attainment} of target", attainment=viz.fmt_pct(r["value"]))
        if r["basis"] == "score":
            return _("{score} points", score=viz.fmt_num(r["value"], 0))
        return format_value(r["measure"], r["value"])
    return pd.DataFrame({
        "Rep": w["name"].fillna(w["rep_id"]), "Team": w["team"],
        "Measure": w["measure"].map(lambda m: _("Score") if m == "score" else kpi_label(m)),
        "Value": w.apply(fmt, axis=1),
        "Against": w["basis"].map({"attainment": _("target"), "percentile": _("peers (percentile)"),
                                   "score": _("score lines")}),
        "status": w["status"],
    })


def warning_view(rv: PerformanceReview, max_rows: int = 60) -> viz.HTML:
    """Everyone under a warning line as an escaped table with the status coloured (headers and status words shown
    in the report's language; :func:`warning_frame`'s columns stay English)."""
    headers = {"Rep": _("Rep"), "Team": _("Team"), "Measure": _("Measure"), "Value": _("Value"),
               "Against": _("Against"), "status": _("status")}
    return viz.show_table(warning_frame(rv), max_rows=max_rows, status_col="status", headers=headers,
                          formats={"status": status_word})


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
    cur = period_text(rv.period_)
    out = []
    if rv.pvm_previous_ is not None:
        out.append((_("Revenue bridge {base} → {current}", base=period_text(rv.previous_), current=cur),
                    rv.pvm_previous_, period_text(rv.previous_), cur))
    if rv.pvm_target_ is not None:
        if rv.pvm_target_base_ == "same period last year":
            title = _("Revenue bridge target → {current} (target at same period last year's mix and prices)",
                      current=cur)
        elif rv.pvm_target_base_ == "previous period":
            title = _("Revenue bridge target → {current} (target at previous period's mix and prices)", current=cur)
        else:
            title = f"Revenue bridge target → {cur} (target at {rv.pvm_target_base_}'s mix and prices)"
        out.append((title, rv.pvm_target_, _("target"), cur))
    return out


def relationship_readings(rv: PerformanceReview) -> viz.HTML:
    """One plain-language reading per KPI pair (associations, never causes)."""
    rel = rv.relationships_
    return viz.bullet_list([reading_text(r.x, r.y, r.rho, r.lo, r.hi) for r in rel.itertuples(index=False)])


def pvm_table(pvm: pd.DataFrame) -> viz.HTML:
    """A PVM frame as an escaped table (money compact, prices with two decimals)."""
    cols = {"product_line": _("Product line"), "revenue_base": _("Base revenue"), "revenue_current": _("Revenue"),
            "volume": _("Volume"), "mix": _("Mix"), "price": _("Price"), "change": _("Change"),
            "price_base": _("Base price"), "price_current": _("Price now")}
    fmts = {c: viz.fmt_money for c in ("revenue_base", "revenue_current", "volume", "mix", "price", "change")}
    fmts.update({"price_base": lambda v: viz.fmt_num(v, 2), "price_current": lambda v: viz.fmt_num(v, 2),
                 "product_line": lambda v: _("Total") if v == "Total" else v})
    return viz.show_table(pvm[list(cols)], formats=fmts, headers=cols)


def method_notes(rv: PerformanceReview) -> list[str]:
    """Plain sentences describing weights, normalisation, lines and definitions actually used."""
    cfg = rv.config_
    lines = cfg.warning_lines
    w = _(", ").join(_("{kpi} {weight}", kpi=kpi_label(k), weight=viz.fmt_pct(v)) for k, v in cfg.weights.items())
    peers = pgettext("peer_group", cfg.peer_group)
    if cfg.normalisation == "target_else_percentile":
        scoring = _("Score weights: {weights}. Each KPI is scored as attainment against target (capped at {cap}) where "
                    "the rep has a target, otherwise the percentile among {peers} peers; score = 100 × weighted mean "
                    "of these components.", weights=w, cap=viz.fmt_pct(cfg.attainment_cap), peers=peers)
    else:
        scoring = _("Score weights: {weights}. Each KPI is scored as the percentile among {peers} peers; "
                    "score = 100 × weighted mean of these components.", weights=w, peers=peers)
    definitions = _("New-customer rate = customers acquired in the period (sign-up date, else first order) ÷ active "
                    "customers. Gross margin = (revenue − cost) ÷ revenue. NPS = % promoters (9-10) − % detractors (0-6).")
    if cfg.collection_grace_days == 0:
        collection = _("Collection rate = amount due in the period and paid by the due date ÷ amount due in the "
                       "period. {definitions}", definitions=definitions)
    else:
        collection = _("Collection rate = amount due in the period and paid within {days} days of the due date ÷ "
                       "amount due in the period. {definitions}", days=cfg.collection_grace_days,
                       definitions=definitions)
    notes = [
        _("Review period {period} ({start} to {end}), compared with {previous} and {last_year}; data up to {as_of}.",
          period=period_text(rv.period_), start=viz.fmt_date(rv.period_.start_time.date()),
          end=viz.fmt_date(rv.period_.end_time.date()), previous=period_text(rv.previous_),
          last_year=period_text(rv.last_year_), as_of=viz.fmt_date(rv.as_of_)),
        scoring,
        _("A KPI a rep has no data for drops out and its weight is spread over the rep's other KPIs; reps with less "
          "than {min_weight} of the weight covered get no score.", min_weight=viz.fmt_pct(cfg.min_weight)),
        _("Warning lines: attainment below {att_red} red, below {att_amber} amber; percentile below {pct_red} red, "
          "below {pct_amber} amber; score below {score_red} red, below {score_amber} amber. A rep's status is the "
          "worst of the score and target-attainment statuses.",
          att_red=viz.fmt_pct(lines["attainment"]["red"]), att_amber=viz.fmt_pct(lines["attainment"]["amber"]),
          pct_red=viz.fmt_pct(lines["percentile"]["red"]), pct_amber=viz.fmt_pct(lines["percentile"]["amber"]),
          score_red=format(lines["score"]["red"], "g"), score_amber=format(lines["score"]["amber"], "g")),
        collection,
    ]
    notes += [_("Note: {note}.", note=n) for n in rv.notes_text()]
    return notes


#: the peer groups of the percentile normalisation as words (``pgettext("peer_group", ...)``)
PEER_GROUP_WORDS = (NP_("peer_group", "company"), NP_("peer_group", "team"))

#: the title of each gap-to-target waterfall, by the level of its steps
GAP_TITLES = {"region": NP_("title", "Revenue gap to target by region"),
              "team": NP_("title", "Revenue gap to target by team"),
              "rep": NP_("title", "Revenue gap to target by rep")}


def gap_title(level: str) -> str:
    """The title of the gap-to-target waterfall of ``level`` in the report's language."""
    return pgettext("title", GAP_TITLES[level]) if level in GAP_TITLES else f"Revenue gap to target by {level}"


# --------------------------------------------------------------------------- figures
def figure_inputs(rv: PerformanceReview) -> dict[str, tuple[tuple, dict[str, Any]]]:
    """``{plot function name: (args, kwargs)}`` for every figure the review can draw (first waterfall / bridge).

    Figures whose data the review does not have (no targets: no attainment
    bars, no waterfall; no products: no bridge) are left out.
    """
    card, lines = rv.scope_card_, rv.config_.warning_lines
    out: dict[str, tuple[tuple, dict[str, Any]]] = {
        "plot_overview": ((card,), {"lines": lines, "period": period_text(rv.period_)}),
        "plot_score_bars": ((card,), {"lines": lines}),
        "plot_sparklines": ((rv.history_,), {"rep_ids": list(card["rep_id"]), "lines": lines}),
        "plot_relationships": ((rv.relationships_,), {}),
    }
    if "revenue_attainment" in card.columns and card["revenue_attainment"].notna().any():
        out["plot_attainment_bars"] = ((card,), {"lines": lines, "cap": 1.6})
    if rv.waterfalls_:
        level, wf = next(iter(rv.waterfalls_.items()))
        out["plot_gap_waterfall"] = ((wf,), {"title": gap_title(level)})
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
        _show(plots.plot_gap_waterfall(wf, title=gap_title(level)))


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
