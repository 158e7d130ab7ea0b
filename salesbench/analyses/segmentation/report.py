"""Segmentation report: headline cards, sentences, table views, figures that may be absent, publishing.

All wording of the report lives here. Views return escaped HTML tables
(:func:`salesbench.viz.show_table`) with the report's columns and formats;
``show_*`` functions draw a figure, or return the sentence that stands in for
it when the data cannot support it.

Words are in the report's language (:mod:`salesbench.core.i18n`, catalog
``salesbench/locale/<ll_CC>/LC_MESSAGES/segmentation.po``): cards, sentences, table
views, labels and figure texts. What is stored — ``results.json``, the
CSV exports, the index headline labels and texts — stays English.
"""
from __future__ import annotations

from typing import Any

from salesbench import viz
from salesbench.analyses.segmentation import plots
from salesbench.analyses.segmentation.clusters import profile_text
from salesbench.analyses.segmentation.model import (CALL_SEGMENTS, Segmentation, clusters_skipped_sentence,
                                                    tiers_skipped_sentence)
from salesbench.core.i18n import NP_, messages

_, ngettext, pgettext = messages(__name__).functions()
_label = messages(__name__).label

#: RFM segment table: columns and formats
RFM_COLUMNS = ["segment", "customers", "customer_share", "revenue_share", "avg_order_value", "recency_days"]
RFM_FORMATS = {"customer_share": viz.fmt_pct, "revenue_share": viz.fmt_pct, "avg_order_value": viz.fmt_money,
               "recency_days": ".0f", "customers": ",.0f"}
TIER_FORMATS = {"customer_share": viz.fmt_pct, "value_share": viz.fmt_pct, "revenue_share": viz.fmt_pct,
                "revenue": viz.fmt_money, "value": viz.fmt_money}
CLUSTER_FORMATS = {"customer_share": viz.fmt_pct, "revenue_share": viz.fmt_pct, "median_order_value": viz.fmt_money,
                   "median_order_rate": ".1f", "median_recency_days": ".0f", "mean_discount": viz.fmt_pct,
                   "complaints_per_year": ".2f", "median_orders": ".0f"}
CALL_LIST_FORMATS = {"revenue": viz.fmt_money, "value": viz.fmt_money}
#: rows of the call list shown in the report (the full list is segmentation.customers.csv)
CALL_LIST_ROWS = 15

#: the labels a reader sees, marked for the catalogs: the default segment, tier and lifecycle names, the value
#: bases, the group columns, the demo's channels; a name the catalog does not know is shown as the data has it
LABELS = (
    NP_("segment", "Champions"), NP_("segment", "Loyal"), NP_("segment", "Potential loyalist"), NP_("segment", "New"),
    NP_("segment", "Promising"), NP_("segment", "Need attention"), NP_("segment", "About to sleep"),
    NP_("segment", "At risk"), NP_("segment", "Can't lose"), NP_("segment", "Hibernating"), NP_("segment", "Lost"),
    NP_("segment", "(not a customer yet)"), NP_("segment", "(no order in window)"),
    NP_("tier", "high-value"), NP_("tier", "important"), NP_("tier", "general"), NP_("tier", "low-value"),
    NP_("tier", "(no tiers)"),
    NP_("lifecycle", "new"), NP_("lifecycle", "active"), NP_("lifecycle", "at-risk"), NP_("lifecycle", "lapsed"),
    NP_("basis", "profit"), NP_("basis", "revenue"),
    NP_("group", "region"), NP_("group", "channel"), NP_("group", "industry"),
    NP_("channel", "direct"), NP_("channel", "distributor"), NP_("channel", "online"), NP_("channel", "store"),
    NP_("industry", "manufacturing"), NP_("industry", "retail"), NP_("industry", "healthcare"),
    NP_("industry", "education"), NP_("industry", "hospitality"), NP_("industry", "public sector"),
    NP_("industry", "technology"),
)
#: the shown header of every column of the report's tables (the exported CSVs keep the column names)
HEADERS = (
    NP_("column", "segment"), NP_("column", "customers"), NP_("column", "customer_share"),
    NP_("column", "revenue_share"), NP_("column", "avg_order_value"), NP_("column", "recency_days"),
    NP_("column", "tier"), NP_("column", "revenue"), NP_("column", "value"), NP_("column", "value_share"),
    NP_("column", "cluster"), NP_("column", "median_orders"), NP_("column", "median_order_rate"),
    NP_("column", "median_order_value"), NP_("column", "median_recency_days"), NP_("column", "mean_discount"),
    NP_("column", "complaints_per_year"), NP_("column", "main_channel"), NP_("column", "profile"),
    NP_("column", "customer_id"), NP_("column", "rfm_segment"), NP_("column", "lifecycle"),
    NP_("column", "cluster_profile"), NP_("column", "rfm_cell"), NP_("column", "frequency"),
    NP_("column", "region"), NP_("column", "channel"), NP_("column", "industry"), NP_("column", "customer_name"),
    NP_("column", "expected_gap_days"),
)


def segment_label(name: str) -> str:
    """An RFM segment name as shown (the catalog's word for the default names; a custom name as written)."""
    return _label("segment", name)


def tier_label(name: str) -> str:
    return _label("tier", name)


def lifecycle_label(name: str) -> str:
    return _label("lifecycle", name)


def basis_label(basis: str) -> str:
    """``"profit"`` / ``"revenue"`` as shown (毛利 / 销售额 in Chinese)."""
    return _label("basis", basis)


def _headers(frame) -> dict[str, str]:
    """``{column: shown header}`` for :func:`salesbench.viz.show_table` (the name itself in English)."""
    return {c: pgettext("column", c) for c in frame.columns}


def cluster_profiles(model: Segmentation) -> dict[int, str]:
    """``{cluster: profile in the report's language}`` (the English profile where the words are unknown)."""
    parts = model.clusters_.attrs.get("profile_parts") or {}
    return {int(r.cluster): profile_text(parts[int(r.cluster)]) if int(r.cluster) in parts else r.profile
            for r in model.clusters_.itertuples()}


def tiers_skipped_text(model: Segmentation) -> str | None:
    """Why the value tiers were skipped, in the report's language (``None`` when they were not)."""
    if model.tiers_skipped_ is None:
        return None
    return tiers_skipped_sentence(model.value_basis_, float(model.customers_["value"].sum()))


def clusters_skipped_text(model: Segmentation) -> str | None:
    """Why the clusters were skipped, in the report's language (``None`` when they were not)."""
    if model.clusters_skip_reason_ is None:
        return model.clusters_skipped_
    return clusters_skipped_sentence(model.clusters_skip_reason_)


# --------------------------------------------------------------------------- words
def _bought_sentence(model: Segmentation, n: int, basis: str) -> str:
    """The first sentence: who bought in the window and, when there are tiers, how concentrated their value is."""
    date, num, days = viz.fmt_date(model.as_of_), viz.fmt_num(n), model.lookback_days
    if model.tiers_skipped_ is None:
        top, share = viz.fmt_pct(model.top_fraction), viz.fmt_pct(model.top_share_)
        if days:
            return ngettext("As of {date}, {n} customer bought in the last {days} days; "
                            "the top {top} of them make {share} of {basis}.",
                            "As of {date}, {n} customers bought in the last {days} days; "
                            "the top {top} of them make {share} of {basis}.",
                            n, date=date, n=num, days=days, top=top, share=share, basis=basis)
        return ngettext("As of {date}, {n} customer bought since the data begins; "
                        "the top {top} of them make {share} of {basis}.",
                        "As of {date}, {n} customers bought since the data begins; "
                        "the top {top} of them make {share} of {basis}.",
                        n, date=date, n=num, top=top, share=share, basis=basis)
    if days:
        return ngettext("As of {date}, {n} customer bought in the last {days} days.",
                        "As of {date}, {n} customers bought in the last {days} days.", n, date=date, n=num, days=days)
    return ngettext("As of {date}, {n} customer bought since the data begins.",
                    "As of {date}, {n} customers bought since the data begins.", n, date=date, n=num)


def sentences(model: Segmentation) -> list[str]:
    """Generated narrative sentences with the key numbers (plain text; escape when rendering)."""
    rs = model.rfm_summary_.set_index("segment")
    n = len(model.customers_)
    basis = basis_label(model.value_basis_)
    out = [_bought_sentence(model, n, basis)]
    if model.tiers_skipped_ is None:
        first = model.tier_summary_.iloc[0]
        out.append(ngettext("{n} {tier} customer ({share} of the base) make {value_share} of {basis}.",
                            "{n} {tier} customers ({share} of the base) make {value_share} of {basis}.",
                            first["customers"], n=viz.fmt_num(first["customers"]), tier=tier_label(first["tier"]),
                            share=viz.fmt_pct(first["customer_share"], 1),
                            value_share=viz.fmt_pct(first["value_share"]),
                            basis=basis))
    else:
        out.append(tiers_skipped_text(model))
    top = rs.sort_values("revenue_share", ascending=False).iloc[0]
    out.append(ngettext("The largest revenue segment is {segment} ({n} customer, {share} of revenue).",
                        "The largest revenue segment is {segment} ({n} customers, {share} of revenue).",
                        top.customers, segment=segment_label(top.name), n=viz.fmt_num(top.customers),
                        share=viz.fmt_pct(top.revenue_share)))
    k, share = model.at_risk()
    if k:
        out.append(_("{n} customers are At risk or Can't lose, with {share} of revenue: the first call list.",
                     n=viz.fmt_num(k), share=viz.fmt_pct(share)))
    m = model.migration_
    was = int(m.loc["Champions"].sum()) if "Champions" in m.index else 0
    if was:
        out.append(_("Of {n} Champions on {date}, {kept} still are and {at_risk} are now At risk.",
                     n=viz.fmt_num(was), date=viz.fmt_date(model.previous_as_of_),
                     kept=viz.fmt_num(model.migrated("Champions", "Champions")),
                     at_risk=viz.fmt_num(model.migrated("Champions", "At risk"))))
    return out


def cluster_sentences(model: Segmentation) -> list[str]:
    """One sentence per cluster (size, share of revenue, profile), plus the ARI when the truth is known."""
    cr = model.cluster_result_
    if cr is None:
        return [clusters_skipped_text(model)]
    silhouette = f"{cr.silhouette:.2f}"
    out = [_("K-means found {k} clusters (mean silhouette {silhouette}).", k=cr.k, silhouette=silhouette)]
    profiles = cluster_profiles(model)
    for r in model.clusters_.itertuples():
        out.append(_("Cluster {cluster}: {profile} — {n} customers, {share} of revenue.", cluster=r.cluster,
                     profile=profiles[int(r.cluster)], n=viz.fmt_num(r.customers), share=viz.fmt_pct(r.revenue_share)))
    if model.ari_ is not None:
        ari = f"{model.ari_:.2f}"
        out.append(_("Against the demo generator's latent customer types the adjusted Rand index is {ari} "
                     "(1 = the same grouping, 0 = chance).", ari=ari))
    return out


def headline_cards(model: Segmentation) -> list[dict[str, Any]]:
    """The first-screen KPI cards (for :func:`salesbench.viz.headline`)."""
    rs = model.rfm_summary_.set_index("segment")
    n_risk, risk_share = model.at_risk()
    basis = basis_label(model.value_basis_)
    top_label = _("Top {share} of customers make", share=viz.fmt_pct(model.top_fraction))
    cards = [{"label": _("Customers analysed"), "value": viz.fmt_num(len(model.customers_)),
              "sub": _("as of {date}", date=viz.fmt_date(model.as_of_))}]
    if model.tiers_skipped_ is None:
        first = model.tier_summary_.iloc[0]
        cards.append({"label": top_label, "value": viz.fmt_pct(model.top_share_),
                      "sub": _("of {basis}; {n} {tier} customers make {share}", basis=basis,
                               n=viz.fmt_num(first["customers"]), tier=tier_label(first["tier"]),
                               share=viz.fmt_pct(first["value_share"]))})
    else:
        cards.append({"label": top_label, "value": "–",
                      "sub": _("no tiers: total {basis} is not positive", basis=basis)})
    if "Champions" in rs.index:
        cards.append({"label": segment_label("Champions"), "value": viz.fmt_num(rs.loc["Champions", "customers"]),
                      "sub": _("{share} of revenue", share=viz.fmt_pct(rs.loc["Champions", "revenue_share"])),
                      "status": "green"})
    cards.append({"label": _("At risk / Can't lose"), "value": viz.fmt_num(n_risk),
                  "sub": _("{share} of revenue to win back", share=viz.fmt_pct(risk_share)),
                  "status": "red" if risk_share >= 0.10 else "amber" if risk_share >= 0.03 else "green"})
    cr = model.cluster_result_
    if cr is None:
        cards.append({"label": _("Behavioural clusters"), "value": "–",
                      "sub": _("skipped (see the clusters section)")})
    else:
        silhouette = f"{cr.silhouette:.2f}"
        ari = f"{model.ari_:.2f}" if model.ari_ is not None else None
        sub = (_("silhouette {silhouette}; ARI vs truth {ari}", silhouette=silhouette, ari=ari)
               if ari is not None else _("silhouette {silhouette}", silhouette=silhouette))
        cards.append({"label": _("Behavioural clusters"), "value": str(cr.k), "sub": sub})
    return cards


def migration_title(model: Segmentation) -> str:
    return _("From {previous} to {date}", previous=viz.fmt_date(model.previous_as_of_), date=viz.fmt_date(model.as_of_))


def breakdown_title(by: str) -> str:
    return _("RFM segments by {by}", by=_label("group", by))


# --------------------------------------------------------------------------- tables
def rfm_view(model: Segmentation) -> viz.HTML:
    """The RFM segment table: size, shares, average order value, median recency."""
    frame = model.rfm_summary_[RFM_COLUMNS]
    return viz.show_table(frame, formats={**RFM_FORMATS, "segment": segment_label}, headers=_headers(frame))


def tier_view(model: Segmentation) -> viz.HTML:
    """The value-tier table (nothing when the tiers were skipped: the sentence stands in the Pareto's place)."""
    if model.tiers_skipped_ is not None:
        return viz.HTML("")
    frame = model.tier_summary_
    return viz.show_table(frame, formats={**TIER_FORMATS, "tier": tier_label}, headers=_headers(frame))


def cluster_view(model: Segmentation) -> viz.HTML:
    """The cluster profiles table (nothing when the clusters were skipped; the sentences say why)."""
    if model.cluster_result_ is None:
        return viz.HTML("")
    frame = model.clusters_.assign(profile=model.clusters_["cluster"].map(cluster_profiles(model)))
    return viz.show_table(frame, formats={**CLUSTER_FORMATS, "main_channel": lambda v: _label("channel", v)},
                          headers=_headers(frame))


def call_list_view(model: Segmentation) -> viz.HTML:
    """The first call list: At risk and Can't lose customers, largest revenue first (first rows)."""
    frame = model.call_list(CALL_SEGMENTS)
    profiles = cluster_profiles(model)
    formats = {**CALL_LIST_FORMATS, "rfm_segment": segment_label, "tier": tier_label, "lifecycle": lifecycle_label,
               "channel": lambda v: _label("channel", v)}
    if profiles:
        frame = frame.assign(cluster_profile=frame["cluster"].map(profiles))
    return viz.show_table(frame, max_rows=CALL_LIST_ROWS, formats=formats, headers=_headers(frame))


# --------------------------------------------------------------------------- figures that may be absent
def show_pareto(model: Segmentation) -> viz.HTML | None:
    """Draw the Pareto curve with the tier bands, or return the sentence saying why the tiers were skipped."""
    if model.tiers_skipped_ is not None:
        return viz.narrative(tiers_skipped_text(model))
    plots.plot_pareto(model.pareto_, model.tier_cuts, model.tier_names, basis=model.value_basis_)
    return None


def show_cluster_map(model: Segmentation) -> None:
    """Draw the clusters on the first two principal components (nothing when skipped: see :func:`cluster_sentences`)."""
    if model.cluster_result_ is not None:
        plots.plot_clusters_2d(*_cluster_map_args(model))


def show_breakdowns(model: Segmentation) -> None:
    """One heatmap per group column the data has (region, channel, industry): segment mix inside each group."""
    for by, table in model.breakdowns_.items():
        plots.plot_breakdown(table, by, list(model.rules), title=breakdown_title(by))


def show_migration(model: Segmentation) -> None:
    """The migration heatmap, titled with the two analysis dates."""
    plots.plot_migration(model.migration_, title=migration_title(model))


def _cluster_map_args(model: Segmentation) -> tuple:
    return model.cluster_matrix_, model.customers_["cluster"], cluster_profiles(model)


def figure_inputs(model: Segmentation) -> dict[str, tuple[tuple, dict]]:
    """``{plot function name: (args, kwargs)}`` for every figure of the report (the contract test draws them)."""
    out = {
        "plot_segments": ((model.rfm_summary_,), {}),
        "plot_lifecycle": ((model.lifecycle_summary_,), {}),
        "plot_migration": ((model.migration_,), {"title": migration_title(model)}),
    }
    if model.tiers_skipped_ is None:
        out["plot_pareto"] = ((model.pareto_, model.tier_cuts, model.tier_names), {"basis": model.value_basis_})
    if model.cluster_result_ is not None:
        out["plot_clusters_2d"] = (_cluster_map_args(model), {})
    for by, table in list(model.breakdowns_.items())[:1]:
        out["plot_breakdown"] = ((table, by, list(model.rules)), {"title": breakdown_title(by)})
    return out


# --------------------------------------------------------------------------- publishing
def publish(model: Segmentation, res) -> None:
    """Record results, headline figures and CSV exports in ``res`` (a :class:`salesbench.report.results.Results`) and save it.

    Tables: ``customers`` (the CRM action list), ``rfm_segments``, ``tiers``,
    ``clusters``, ``lifecycle``, ``migration`` (a matrix, previous segment as rows).
    """
    out = model.results()
    res.set(**out)
    rs = model.rfm_summary_.set_index("segment")
    n_risk, _risk_share = model.at_risk()
    # labels: the English key, and as the index shows them (shown_label); texts: as the reader sees them
    res.headline("Customers analysed", out["n_customers"], viz.fmt_num(out["n_customers"]),
                 shown_label=_("Customers analysed"))
    res.headline(f"Top {viz.fmt_pct(model.top_fraction)} share of {model.value_basis_}",
                 out["top_fraction_profit_share"], viz.fmt_pct(out["top_fraction_profit_share"]),
                 shown_label=_("Top {share} share of {basis}", share=viz.fmt_pct(model.top_fraction),
                               basis=basis_label(model.value_basis_)))
    if "Champions" in rs.index:
        res.headline("Champions", int(rs.loc["Champions", "customers"]), viz.fmt_num(rs.loc["Champions", "customers"]),
                     shown_label=pgettext("segment", "Champions"))
    res.headline("At risk / Can't lose", n_risk, viz.fmt_num(n_risk), shown_label=_("At risk / Can't lose"))
    if out["clusters"]["k"] is not None:
        res.headline("Behavioural clusters", out["clusters"]["k"], str(out["clusters"]["k"]),
                     shown_label=_("Behavioural clusters"))
    res.table("customers", model.action_list_)
    res.table("rfm_segments", model.rfm_summary_)
    res.table("tiers", model.tier_summary_)
    res.table("clusters", model.clusters_)
    res.table("lifecycle", model.lifecycle_summary_)
    res.table("migration", model.migration_.reset_index())
    res.save()
