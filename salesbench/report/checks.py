"""Pre-kernel parameter checks: the ``_check`` hooks named in ``params/<name>.yaml``.

Each function takes one notebook's validated parameter values (a dict, types
already checked by :mod:`salesbench.report.params`) and raises
:class:`salesbench.report.params.CheckError` naming the offending key when the values
can never give a report — rules that span keys or choices from a fixed list.
The runner calls them before any kernel starts, so the mistake costs an exit
status 2 and one line naming the file (or ``-p``) and the key, not a failed
report after the kernel has loaded the data.

Every rule here is one the analysis code also enforces inside the kernel (for
notebooks run by hand); where that code has a function or a list of allowed
values, the check calls or reads it, so the two cannot drift apart. Checks that
need the data (an unknown region, too little history) stay in the kernel.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from salesbench.analyses.base import all_of as _all_of, check_with as _call, number as _number, one_of as _one_of  # noqa: F401
from salesbench.core.errors import CheckError


# --------------------------------------------------------------------------- notebooks
def segmentation(values: Mapping[str, Any]) -> None:
    """RFM segment rules cover all 25 R/F cells; tiers, ties, cluster weights, k range, lifecycle thresholds."""
    import pandas as pd

    from salesbench.analyses.segmentation import model as seg

    _call("rfm_segments", seg.validate_rules, values["rfm_segments"])
    one = pd.Series([1.0], index=["c1"])  # the validators check their settings before touching the values
    try:
        seg.value_tiers(one, values["tier_cuts"], values["tier_names"])
    except ValueError as exc:
        raise CheckError("tier_names" if str(exc).startswith("tier_names") else "tier_cuts", str(exc)) from None
    _call("score_ties", seg.quantile_scores, one, ties=values["score_ties"])
    _call("top_fraction", seg.top_share, one, values["top_fraction"])
    weights = values["cluster_weights"]
    for name, w in weights.items():
        if name not in seg.CLUSTER_FEATURES:
            raise CheckError("cluster_weights", f"unknown cluster feature {name!r}; choose from "
                                                f"{', '.join(seg.CLUSTER_FEATURES)}")
        if _number(f"cluster_weights.{name}", w) < 0:
            raise CheckError("cluster_weights", f"the weight of {name!r} must be >= 0, not {w}")
    if not any(float(w) > 0 for w in weights.values()):
        raise CheckError("cluster_weights", "every weight is 0: no feature to cluster on")
    k, k_min, k_max = values["k"], values["k_min"], values["k_max"]
    if k is not None and k < 2:
        raise CheckError("k", f"must be at least 2 (or null to choose it by silhouette), not {k}")
    if k is None and max(2, k_min) > k_max:
        raise CheckError("k_max", f"no k to try: k_min = {k_min} and k_max = {k_max} (k_min ≤ k_max, k_max ≥ 2)")
    at_risk, lapsed = values["lifecycle_at_risk_after"], values["lifecycle_lapsed_after"]
    if not 0 < at_risk < lapsed:
        raise CheckError("lifecycle_lapsed_after" if at_risk > 0 else "lifecycle_at_risk_after",
                         f"need 0 < lifecycle_at_risk_after < lifecycle_lapsed_after, got {at_risk} and {lapsed}")


def funnel(values: Mapping[str, Any]) -> None:
    """Stages (two or more, distinct, no ``lost``), SLA stages among them, positive limits and thresholds."""
    from salesbench.analyses.funnel import model as fu
    from salesbench.core import schema

    stages = list(values["stages"]) or list(schema.STAGES)  # an empty list means the default stages
    if len(stages) < 2 or len(set(stages)) != len(stages):
        raise CheckError("stages", f"must be at least two distinct names, got {stages}")
    if "lost" in stages:
        raise CheckError("stages", "'lost' is the closing stage of lost deals and cannot be a funnel stage")
    try:
        fu._check_params(values["mature_days"], values["sla_hours"], values["stuck_days"],
                         values["coverage_threshold"], values["coverage_months"])
    except ValueError as exc:
        msg = str(exc)
        key = next((k for k in ("sla_hours", "stuck_days", "mature_days", "coverage_threshold", "coverage_months")
                    if msg.startswith(k)), "mature_days")
        raise CheckError(key, msg) from None
    for stage in values["sla_hours"]:
        if stage not in stages:
            raise CheckError("sla_hours", f"SLA stage {stage!r} is not one of the funnel stages {stages}")
        if stage == stages[0]:
            raise CheckError("sla_hours", f"SLA stage {stage!r} is the first stage; it has no previous stage to "
                                          "start the clock")
    if not 0 < values["credible_mass"] < 1:
        raise CheckError("credible_mass", f"must be between 0 and 1, got {values['credible_mass']}")


def forecasting(values: Mapping[str, Any]) -> None:
    """Frequency, metric, dimensions, models, selection metric, reconciliation, season length, lifecycle thresholds;
    the ``driver_plan`` file exists and has a period and a driver column (:func:`salesbench.analyses.forecasting.model.read_plan`)."""
    from salesbench.analyses.forecasting import model as fc

    _one_of(values, "frequency", list(fc.FREQUENCIES))
    _one_of(values, "metric", fc.METRICS)
    _all_of(values, "dimensions", fc.DIMENSIONS, "hierarchy level")
    _all_of(values, "models", fc.MODELS, "model")
    _all_of(values, "deep_models", fc.MODELS, "model")
    if not values["models"]:
        raise CheckError("models", "at least one model is needed")
    _one_of(values, "selection_metric", ("mase", "wape"))
    _one_of(values, "reconciliation", list(fc.RECONCILIATION))
    if values["season_length"] is not None and values["season_length"] < 1:
        raise CheckError("season_length", f"must be at least 1 (or null), not {values['season_length']}")
    if values["lifecycle_growth"] <= values["lifecycle_decline"]:
        raise CheckError("lifecycle_growth", f"the growth threshold ({values['lifecycle_growth']}) must be above "
                                             f"the decline threshold ({values['lifecycle_decline']})")
    if values.get("driver_plan"):  # relative to the caller's working directory, as the runner passes it on
        _call("driver_plan", fc.read_plan, values["driver_plan"])


def churn(values: Mapping[str, Any]) -> None:
    """Purchase model (or ``auto``), at-risk ranking signal, fit method, priors and time unit from their fixed lists."""
    from salesbench.analyses.churn import choice as churn_choice

    try:  # the same check the notebook runs; its message starts with the key
        churn_choice.check_params(dict(values))
    except ValueError as exc:
        raise CheckError(str(exc).split()[0], str(exc)) from None
