"""Segmentation report: headline cards, sentences, table views, figures that may be absent, publishing.

All wording of the report lives here. Views return escaped HTML tables
(:func:`salesbench.viz.show_table`) with the report's columns and formats;
``show_*`` functions draw a figure, or return the sentence that stands in for
it when the data cannot support it.
"""
from __future__ import annotations

from typing import Any

from salesbench import viz
from salesbench.analyses.segmentation import plots
from salesbench.analyses.segmentation.model import CALL_SEGMENTS, Segmentation

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


def _customers(n) -> str:
    return "customer" if n == 1 else "customers"


# --------------------------------------------------------------------------- words
def sentences(model: Segmentation) -> list[str]:
    """Generated narrative sentences with the key numbers (plain text; escape when rendering)."""
    rs = model.rfm_summary_.set_index("segment")
    n = len(model.customers_)
    basis = model.value_basis_
    when = f"in the last {model.lookback_days} days" if model.lookback_days else "since the data begins"
    bought = f"As of {model.as_of_.isoformat()}, {viz.fmt_num(n)} customer{'s' if n != 1 else ''} bought {when}"
    if model.tiers_skipped_ is None:
        first = model.tier_summary_.iloc[0]
        out = [f"{bought}; the top {viz.fmt_pct(model.top_fraction)} of them make {viz.fmt_pct(model.top_share_)} of {basis}.",
               f"{viz.fmt_num(first['customers'])} {first['tier']} {_customers(first['customers'])} "
               f"({viz.fmt_pct(first['customer_share'], 1)} of the base) make {viz.fmt_pct(first['value_share'])} of {basis}."]
    else:
        out = [f"{bought}.", model.tiers_skipped_]
    top = rs.sort_values("revenue_share", ascending=False).iloc[0]
    out.append(f"The largest revenue segment is {top.name} ({viz.fmt_num(top.customers)} {_customers(top.customers)}, "
               f"{viz.fmt_pct(top.revenue_share)} of revenue).")
    k, share = model.at_risk()
    if k:
        out.append(f"{viz.fmt_num(k)} customers are At risk or Can't lose, "
                   f"with {viz.fmt_pct(share)} of revenue: the first call list.")
    m = model.migration_
    was = int(m.loc["Champions"].sum()) if "Champions" in m.index else 0
    if was:
        out.append(f"Of {viz.fmt_num(was)} Champions on {model.previous_as_of_.isoformat()}, "
                   f"{viz.fmt_num(model.migrated('Champions', 'Champions'))} still are and "
                   f"{viz.fmt_num(model.migrated('Champions', 'At risk'))} are now At risk.")
    return out


def cluster_sentences(model: Segmentation) -> list[str]:
    """One sentence per cluster (size, share of revenue, profile), plus the ARI when the truth is known."""
    cr = model.cluster_result_
    if cr is None:
        return [model.clusters_skipped_]
    out = [f"K-means found {cr.k} clusters (mean silhouette {cr.silhouette:.2f})."]
    for r in model.clusters_.itertuples():
        out.append(f"Cluster {r.cluster}: {r.profile} — {viz.fmt_num(r.customers)} customers, "
                   f"{viz.fmt_pct(r.revenue_share)} of revenue.")
    if model.ari_ is not None:
        out.append(f"Against the demo generator's latent customer types the adjusted Rand index is {model.ari_:.2f} "
                   "(1 = the same grouping, 0 = chance).")
    return out


def headline_cards(model: Segmentation) -> list[dict[str, Any]]:
    """The first-screen KPI cards (for :func:`salesbench.viz.headline`)."""
    rs = model.rfm_summary_.set_index("segment")
    n_risk, risk_share = model.at_risk()
    top_label = f"Top {viz.fmt_pct(model.top_fraction)} of customers make"
    cards = [{"label": "Customers analysed", "value": viz.fmt_num(len(model.customers_)),
              "sub": f"as of {model.as_of_.isoformat()}"}]
    if model.tiers_skipped_ is None:
        first = model.tier_summary_.iloc[0]
        cards.append({"label": top_label, "value": viz.fmt_pct(model.top_share_),
                      "sub": f"of {model.value_basis_}; {viz.fmt_num(first['customers'])} {first['tier']} customers make "
                             f"{viz.fmt_pct(first['value_share'])}"})
    else:
        cards.append({"label": top_label, "value": "–", "sub": f"no tiers: total {model.value_basis_} is not positive"})
    if "Champions" in rs.index:
        cards.append({"label": "Champions", "value": viz.fmt_num(rs.loc["Champions", "customers"]),
                      "sub": f"{viz.fmt_pct(rs.loc['Champions', 'revenue_share'])} of revenue", "status": "green"})
    cards.append({"label": "At risk / Can't lose", "value": viz.fmt_num(n_risk),
                  "sub": f"{viz.fmt_pct(risk_share)} of revenue to win back",
                  "status": "red" if risk_share >= 0.10 else "amber" if risk_share >= 0.03 else "green"})
    cr = model.cluster_result_
    if cr is None:
        cards.append({"label": "Behavioural clusters", "value": "–", "sub": "skipped (see the clusters section)"})
    else:
        ari = f"; ARI vs truth {model.ari_:.2f}" if model.ari_ is not None else ""
        cards.append({"label": "Behavioural clusters", "value": str(cr.k), "sub": f"silhouette {cr.silhouette:.2f}{ari}"})
    return cards


def migration_title(model: Segmentation) -> str:
    return f"From {model.previous_as_of_} to {model.as_of_}"


def breakdown_title(by: str) -> str:
    return f"RFM segments by {by}"


# --------------------------------------------------------------------------- tables
def rfm_view(model: Segmentation) -> viz.HTML:
    """The RFM segment table: size, shares, average order value, median recency."""
    return viz.show_table(model.rfm_summary_[RFM_COLUMNS], formats=RFM_FORMATS)


def tier_view(model: Segmentation) -> viz.HTML:
    """The value-tier table (nothing when the tiers were skipped: the sentence stands in the Pareto's place)."""
    if model.tiers_skipped_ is not None:
        return viz.HTML("")
    return viz.show_table(model.tier_summary_, formats=TIER_FORMATS)


def cluster_view(model: Segmentation) -> viz.HTML:
    """The cluster profiles table (nothing when the clusters were skipped; the sentences say why)."""
    if model.cluster_result_ is None:
        return viz.HTML("")
    return viz.show_table(model.clusters_, formats=CLUSTER_FORMATS)


def call_list_view(model: Segmentation) -> viz.HTML:
    """The first call list: At risk and Can't lose customers, largest revenue first (first rows)."""
    return viz.show_table(model.call_list(CALL_SEGMENTS), max_rows=CALL_LIST_ROWS, formats=CALL_LIST_FORMATS)


# --------------------------------------------------------------------------- figures that may be absent
def show_pareto(model: Segmentation) -> viz.HTML | None:
    """Draw the Pareto curve with the tier bands, or return the sentence saying why the tiers were skipped."""
    if model.tiers_skipped_ is not None:
        return viz.narrative(model.tiers_skipped_)
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
    profiles = model.clusters_.set_index("cluster")["profile"].to_dict()
    return model.cluster_matrix_, model.customers_["cluster"], profiles


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
    n_risk, _ = model.at_risk()
    res.headline("Customers analysed", out["n_customers"], viz.fmt_num(out["n_customers"]))
    res.headline(f"Top {viz.fmt_pct(model.top_fraction)} share of {model.value_basis_}",
                 out["top_fraction_profit_share"], viz.fmt_pct(out["top_fraction_profit_share"]))
    if "Champions" in rs.index:
        res.headline("Champions", int(rs.loc["Champions", "customers"]), viz.fmt_num(rs.loc["Champions", "customers"]))
    res.headline("At risk / Can't lose", n_risk, viz.fmt_num(n_risk))
    if out["clusters"]["k"] is not None:
        res.headline("Behavioural clusters", out["clusters"]["k"], str(out["clusters"]["k"]))
    res.table("customers", model.action_list_)
    res.table("rfm_segments", model.rfm_summary_)
    res.table("tiers", model.tier_summary_)
    res.table("clusters", model.clusters_)
    res.table("lifecycle", model.lifecycle_summary_)
    res.table("migration", model.migration_.reset_index())
    res.save()
