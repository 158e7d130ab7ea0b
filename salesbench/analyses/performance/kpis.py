"""The KPI catalogue of the performance review: names, labels, direction and format,
the default score weights and warning lines, their validation and text formats.

Every other module of :mod:`salesbench.analyses.performance` reads the catalogue
from here (it has no imports from the analysis, so there is no cycle).

KPI definitions (all per entity and period)
-------------------------------------------
``revenue``               Σ orders.revenue (net of discount) with order_date in the period.
``revenue_growth_pop``    revenue / revenue of the previous period − 1.
``revenue_growth_yoy``    revenue / revenue of the same period one year earlier − 1.
``gross_margin``          (Σ revenue − Σ cost) / Σ revenue, over order lines that have a cost.
``collection_rate``       amount collected / amount due: invoices with due_date in the
                          period; collected = paid_amount paid no later than due_date +
                          ``grace_days`` (and by ``as_of``).
``new_customer_rate``     new customers / active customers. Active = distinct customers
                          with an order in the period; new = active customers whose
                          acquisition date (customers.signup_date, else their first order
                          in the data) falls in the period.
``csat``                  mean survey CSAT (1-5) of surveys in the period.
``nps``                   Net Promoter Score: 100 × (share of 9-10 − share of 0-6)
                          (Reichheld 2003, "The One Number You Need to Grow").
``win_rate``              won / (won + lost) of opportunities closed in the period.
``avg_deal_size``         Σ amount of won opportunities / number won.
``discount_rate``         1 − Σ revenue / Σ list value, list value = revenue / (1 − discount).
``visits_per_customer``   interactions of kind ``visit`` / active customers.
``complaints_per_customer`` interactions of kind ``complaint`` / active customers.
``expense_ratio``         Σ sales expenses / revenue (lower is better), when the data set has
                          an ``expenses`` table (rep_id, expense_date, amount).
``<metric>_target``       Σ of the monthly targets in the period for additive metrics
                          (revenue, new_customers, won_amount), their mean otherwise.
``<metric>_attainment``   actual / target (target / actual for lower-is-better metrics).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from salesbench import viz
from salesbench.core.i18n import NP_, messages

_, ngettext, pgettext = messages(__name__).functions()


@dataclass(frozen=True)
class KPI:
    """Description of one KPI: display label, direction and how to format it."""

    name: str
    label: str
    higher_is_better: bool = True
    kind: str = "pct"  # money | pct | num1 | num0 | num2
    additive_target: bool = False  # monthly targets are summed (True) or averaged (False)


KPIS: dict[str, KPI] = {
    k.name: k
    for k in [
        KPI("revenue", NP_("kpi", "Revenue"), True, "money", True),
        KPI("gross_margin", NP_("kpi", "Gross margin"), True, "pct"),
        KPI("collection_rate", NP_("kpi", "Collection rate"), True, "pct"),
        KPI("new_customer_rate", NP_("kpi", "New-customer rate"), True, "pct"),
        KPI("new_customers", NP_("kpi", "New customers"), True, "num0", True),
        KPI("active_customers", NP_("kpi", "Active customers"), True, "num0", True),
        KPI("csat", NP_("kpi", "CSAT (1-5)"), True, "num2"),
        KPI("nps", NP_("kpi", "NPS"), True, "num0"),
        KPI("win_rate", NP_("kpi", "Win rate"), True, "pct"),
        KPI("avg_deal_size", NP_("kpi", "Average deal size"), True, "money"),
        KPI("won_amount", NP_("kpi", "Won amount"), True, "money", True),
        KPI("discount_rate", NP_("kpi", "Discount rate"), False, "pct"),
        KPI("visits_per_customer", NP_("kpi", "Visits per customer"), True, "num2"),
        KPI("complaints_per_customer", NP_("kpi", "Complaints per customer"), False, "num2"),
        KPI("expense_ratio", NP_("kpi", "Sales expense ratio"), False, "pct"),
        KPI("revenue_growth_pop", NP_("kpi", "Revenue growth vs previous period"), True, "pct"),
        KPI("revenue_growth_yoy", NP_("kpi", "Revenue growth vs last year"), True, "pct"),
    ]
}

#: Default score weights (the issue's: revenue 30%, margin 20%, collection 20%,
#: new-customer rate 15%, satisfaction 15%).
DEFAULT_WEIGHTS: dict[str, float] = {
    "revenue": 0.30,
    "gross_margin": 0.20,
    "collection_rate": 0.20,
    "new_customer_rate": 0.15,
    "csat": 0.15,
}
DEFAULT_LINES: dict[str, dict[str, float]] = {
    "attainment": {"red": 0.80, "amber": 0.95},
    "percentile": {"red": 0.10, "amber": 0.25},
    "score": {"red": 40.0, "amber": 50.0},
}
NORMALIZATIONS = ("target_else_percentile", "percentile")
STATUS_ORDER = {"grey": -1, "green": 0, "amber": 1, "red": 2}
#: the status words as shown (``pgettext("status", word)``); marked here so the catalog holds them
STATUS_WORDS = (NP_("status", "green"), NP_("status", "amber"), NP_("status", "red"), NP_("status", "grey"))


class WeightsError(ValueError):
    """The score weights are invalid (unknown KPI, negative, or not summing to 1)."""



def check_weights(weights: Mapping[str, float], tol: float = 1e-6) -> dict[str, float]:
    """Validate score weights: known KPI names, non-negative numbers summing to 1.

    Raises :class:`WeightsError` with the offending keys or the actual sum.
    """
    if not isinstance(weights, Mapping) or not weights:
        raise WeightsError("score weights must be a non-empty mapping KPI -> weight, e.g. {revenue: 0.3, ...}")
    out = {}
    for k, v in weights.items():
        if k not in KPIS:
            raise WeightsError(f"unknown KPI {k!r} in score weights; known KPIs: {', '.join(KPIS)}")
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise WeightsError(f"score weight for {k!r} must be a number, got {v!r}") from None
        if not math.isfinite(f) or f < 0:
            raise WeightsError(f"score weight for {k!r} must be a non-negative number, got {v!r}")
        out[k] = f
    total = sum(out.values())
    if abs(total - 1.0) > tol:
        listing = ", ".join(f"{k} {v:g}" for k, v in out.items())
        raise WeightsError(f"score weights must sum to 1; they sum to {total:.4g} ({listing})")
    return out


def check_lines(lines: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Validate warning lines ``{attainment|percentile|score: {red, amber}}`` (red ≤ amber)."""
    out = {k: dict(v) for k, v in DEFAULT_LINES.items()}
    for name, spec in (lines or {}).items():
        if name not in DEFAULT_LINES:
            raise ValueError(f"unknown warning line {name!r}; expected one of {', '.join(DEFAULT_LINES)}")
        if not isinstance(spec, Mapping) or set(spec) != {"red", "amber"}:
            raise ValueError(f"warning line {name!r} needs exactly the keys red and amber, got {spec!r}")
        red, amber = float(spec["red"]), float(spec["amber"])
        if red > amber:
            raise ValueError(f"warning line {name!r}: red ({red:g}) must not be above amber ({amber:g})")
        out[name] = {"red": red, "amber": amber}
    return out



# --------------------------------------------------------------------------- formatting
def kpi_label(name: str) -> str:
    """The display label of KPI ``name`` in the report's language (:attr:`KPI.label` is the English one); unknown names as given."""
    return pgettext("kpi", KPIS[name].label) if name in KPIS else name


def kpi_phrase(name: str) -> str:
    """:func:`kpi_label` inside a sentence: lower case in English (``csat (1-5)``), as labelled in other languages
    (Chinese has no case, and its acronyms stay upper case)."""
    from salesbench.core.i18n import DEFAULT, get_language

    label = kpi_label(name)
    return label.lower() if get_language() == DEFAULT else label


def status_word(status: Any) -> str:
    """A warning-line status (green/amber/red/grey) as the word shown in the report's language."""
    return pgettext("status", str(status)) if isinstance(status, str) and status in STATUS_ORDER else status


def format_value(kpi: str, value: Any) -> str:
    """A KPI value formatted for text (money compact, rates as %, scores with decimals)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    kind = KPIS.get(kpi, KPI(kpi, kpi, kind="num2")).kind
    if kind == "money":
        return viz.fmt_money(value)
    if kind == "pct":
        return viz.fmt_pct(value, 1)
    if kind == "num0":
        return viz.fmt_num(value, 0)
    return viz.fmt_num(value, 2)


def format_diff(kpi: str, diff: float) -> str:
    """A signed difference in the KPI's unit (percentage points for rates)."""
    if diff is None or (isinstance(diff, float) and math.isnan(diff)):
        return "–"
    kind = KPIS.get(kpi, KPI(kpi, kpi, kind="num2")).kind
    sign = "+" if diff >= 0 else "−"
    a = abs(float(diff))
    if kind == "money":
        return f"{sign}{viz.fmt_money(a)}"
    if kind == "pct":
        return _("{sign}{value} pts", sign=sign, value=format(100 * a, ".1f"))
    if kind == "num0":
        return f"{sign}{a:,.0f}"
    return f"{sign}{a:.2f}"
