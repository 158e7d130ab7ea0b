"""Time: time in stage (Kaplan–Meier), stay lengths, sales cycle; key-node SLAs and stuck deals."""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd


from salesbench.analyses.funnel.conversion import groups_of
from salesbench.analyses.funnel.deals import Deals

#: Default key-node SLA: needs_confirmed within 48 hours of entering the stage before it (contact).
DEFAULT_SLA_HOURS: dict[str, float] = {"needs_confirmed": 48.0}
_DAY = 86_400.0


def km_quantiles(days: np.ndarray, censored: np.ndarray, probs: Sequence[float] = (0.5, 0.9)) -> list[float]:
    """Kaplan–Meier quantiles of durations with right-censoring.

    ``q(p)`` = the smallest observed time ``t`` with ``1 − S(t) ≥ p`` (S: the
    Kaplan–Meier survival estimate from ``scipy.stats.ecdf`` on
    ``CensoredData``); NaN when the estimate never reaches ``p`` (too much
    censoring) or there are no events.
    """
    days = np.asarray(days, dtype=float)
    censored = np.asarray(censored, dtype=bool)
    ok = ~np.isnan(days)
    days, censored = np.maximum(days[ok], 0.0), censored[ok]
    if (~censored).sum() == 0:
        return [float("nan")] * len(probs)
    from scipy import stats  # here: the runner imports this module for its parameter checks

    res = stats.ecdf(stats.CensoredData(uncensored=days[~censored], right=days[censored]))
    t, s = res.sf.quantiles, res.sf.probabilities
    out = []
    for p in probs:
        hit = np.flatnonzero(1.0 - s >= p - 1e-12)
        out.append(float(t[hit[0]]) if len(hit) else float("nan"))
    return out


def stage_durations(deals: Deals, by: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Time in each stage (days): Kaplan–Meier median and p90, counts of stays and censored stays."""
    rows = []
    by_cols = [] if by is None else ([by] if isinstance(by, str) else list(by))
    for key, g in groups_of(deals.frame, by):
        for k, s in enumerate(deals.stages[:-1]):
            d = g[f"days_{k}"].to_numpy(float)
            c = g[f"censored_{k}"].to_numpy(bool)
            m = ~np.isnan(d)
            med, p90 = km_quantiles(d[m], c[m])
            rows.append(
                dict(zip(by_cols, key))
                | {
                    "stage": s,
                    "stays": int(m.sum()),
                    "censored": int((c & m).sum()),
                    "median_days": med,
                    "p90_days": p90,
                    "mean_days_completed": float(np.nanmean(d[m & ~c])) if (m & ~c).any() else np.nan,
                    "p90_days_completed": float(np.nanquantile(d[m & ~c], 0.9)) if (m & ~c).any() else np.nan,
                }
            )
    return pd.DataFrame(rows)


def stay_lengths(deals: Deals, completed_only: bool = True, max_rows: int | None = 200_000, seed: int = 0) -> pd.DataFrame:
    """Long frame ``stage, days`` of stays (for box plots); sampled to ``max_rows`` rows."""
    parts = []
    for k, s in enumerate(deals.stages[:-1]):
        d = deals.frame[f"days_{k}"]
        m = d.notna()
        if completed_only:
            m &= ~deals.frame[f"censored_{k}"]
        parts.append(pd.DataFrame({"stage": s, "days": d[m].to_numpy()}))
    out = pd.concat(parts, ignore_index=True)
    if max_rows is not None and len(out) > max_rows:
        out = out.sample(max_rows, random_state=seed)
    out["stage"] = pd.Categorical(out["stage"], categories=deals.stages[:-1], ordered=True)
    return out.reset_index(drop=True)


def cycle_stats(deals: Deals) -> dict[str, float]:
    """Sales-cycle length of won deals and time to first contact.

    * ``median_cycle_days``, ``p90_cycle_days``, ``mean_cycle_days``: won deals,
      ``closed_at − created_at`` in days;
    * ``median_hours_to_contact``, ``p90_hours_to_contact``: first entry into
      the second stage (``contact``) − ``created_at``, Kaplan–Meier with open
      deals not yet contacted censored at ``as_of`` (deals lost before contact
      are censored at their close — they can no longer be contacted).
    """
    f = deals.frame
    won = f.loc[f["status"] == "won", "cycle_days"].dropna()
    contact = f["entered_1"]
    end = contact.copy()
    has = contact.notna()
    skipped = (~has) & (f["furthest"] >= 1)
    closed_end = f["closed_at"].where(f["closed_at"].notna(), f["last_event_at"])
    end = end.where(has, closed_end.where(f["status"] != "open", deals.as_of))
    hours = (end - f["created_at"]).dt.total_seconds() / 3600.0
    keep = ~skipped & hours.notna()
    med_h, p90_h = km_quantiles(hours[keep].to_numpy(), (~has)[keep].to_numpy())
    return {
        "won_deals": int(len(won)),
        "median_cycle_days": float(won.median()) if len(won) else float("nan"),
        "p90_cycle_days": float(won.quantile(0.9)) if len(won) else float("nan"),
        "mean_cycle_days": float(won.mean()) if len(won) else float("nan"),
        "median_hours_to_contact": med_h,
        "p90_hours_to_contact": p90_h,
    }


# --------------------------------------------------------------------------- SLAs
def sla_breaches(deals: Deals, sla_hours: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Per-deal check of the key-node SLAs.

    ``sla_hours`` maps a stage to the hours allowed between the first entry into
    the stage before it (in ``stages`` order) and the first entry into it:
    ``{"needs_confirmed": 48}`` = "needs confirmed within 48 hours of first
    contact". For each rule a deal is *measured* when

    * it entered both stages (elapsed = first entry into the stage − first entry
      into the previous one), or
    * it is open, still at the previous stage, and the clock already exceeds
      the limit (a pending breach; elapsed = ``as_of`` − clock start).

    Deals that skipped the stage (no row for it), never entered the previous
    stage, or were lost before reaching it are not measured. Breach = elapsed
    **strictly greater** than the limit (exactly at the limit is on time).
    Returns one row per measured deal and rule: opportunity_id, rule, stage,
    rep_id, team, region, channel, started_at, elapsed_hours, limit_hours,
    breach, pending.
    """
    sla_hours = dict(DEFAULT_SLA_HOURS if sla_hours is None else sla_hours)
    f = deals.frame
    parts = []
    for stage, limit in sla_hours.items():
        if stage not in deals.stages:
            raise ValueError(f"SLA stage {stage!r} is not one of the funnel stages {deals.stages}")
        k = deals.stages.index(stage)
        if k == 0:
            raise ValueError(f"SLA stage {stage!r} is the first stage; it has no previous stage to start the clock")
        start = f[f"entered_{k - 1}"]
        stop = f[f"entered_{k}"]
        both = start.notna() & stop.notna()
        pending = start.notna() & stop.isna() & (f["status"] == "open") & (f["furthest"] == k - 1)
        end = stop.where(both, deals.as_of)
        elapsed = (end - start).dt.total_seconds() / 3600.0
        measured = both | (pending & (elapsed > float(limit)))
        g = f.loc[measured, ["opportunity_id", "rep_id", "team", "region", "channel", "segment", "amount"]].copy()
        g.insert(1, "rule", f"{deals.stages[k - 1]}->{stage}")
        g.insert(2, "stage", stage)
        g["started_at"] = start[measured]
        g["elapsed_hours"] = elapsed[measured]
        g["limit_hours"] = float(limit)
        g["breach"] = g["elapsed_hours"] > float(limit)
        g["pending"] = pending[measured].to_numpy()
        parts.append(g)
    if not parts:  # no rule (sla_hours: {}): the same columns, no rows
        return pd.DataFrame({"opportunity_id": pd.Series(dtype=object), "rule": pd.Series(dtype=object),
                             "stage": pd.Series(dtype=object), "rep_id": pd.Series(dtype=object),
                             "team": pd.Series(dtype=object), "region": pd.Series(dtype=object),
                             "channel": pd.Series(dtype=object), "segment": pd.Series(dtype=object),
                             "amount": pd.Series(dtype=float), "started_at": pd.Series(dtype="datetime64[ns]"),
                             "elapsed_hours": pd.Series(dtype=float), "limit_hours": pd.Series(dtype=float),
                             "breach": pd.Series(dtype=bool), "pending": pd.Series(dtype=bool)})
    return pd.concat(parts, ignore_index=True)


def sla_summary(checks: pd.DataFrame, by: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Breach rate per SLA stage (and group): measured deals, breaches, rate, median elapsed hours."""
    keys = ["stage"] + ([] if by is None else ([by] if isinstance(by, str) else list(by)))
    if checks.empty:
        return pd.DataFrame(columns=keys + ["measured", "breaches", "breach_rate", "median_hours"])
    out = (
        checks.groupby(keys, dropna=False, observed=True)
        .agg(measured=("breach", "size"), breaches=("breach", "sum"), median_hours=("elapsed_hours", "median"))
        .reset_index()
    )
    out["breaches"] = out["breaches"].astype(int)
    out["breach_rate"] = out["breaches"] / out["measured"]
    return out


# --------------------------------------------------------------------------- stuck deals
def stuck_deals(
    deals: Deals, durations: pd.DataFrame | None = None, stuck_days: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """Open deals whose time in their current (furthest) stage exceeds the stage's limit.

    The limit is ``stuck_days[stage]`` when configured, else the stage's p90 time
    in stage from ``durations`` (:func:`stage_durations`, ungrouped; the p90 of
    completed stays when censoring leaves the Kaplan–Meier p90 undefined). Returns
    opportunity_id, rep_id, team, region, channel, customer_id, stage, amount,
    days_in_stage, limit_days, deal_age_days, entered_stage_at — oldest first
    relative to the limit.
    """
    stuck_days = dict(stuck_days or {})
    if durations is None:
        durations = stage_durations(deals)
    p90 = dict(zip(durations["stage"], durations["p90_days"].fillna(durations["p90_days_completed"])))
    f = deals.frame
    open_ = f[(f["status"] == "open") & (f["furthest"] >= 0) & (f["furthest"] < len(deals.stages) - 1)]
    rows = []
    for k, s in enumerate(deals.stages[:-1]):
        g = open_[open_["furthest"] == k]
        if g.empty:
            continue
        limit = float(stuck_days.get(s, p90.get(s, np.nan)))
        if math.isnan(limit):
            continue
        age = g[f"days_{k}"]
        hit = g[age > limit]
        rows.append(
            pd.DataFrame(
                {
                    "opportunity_id": hit["opportunity_id"],
                    "rep_id": hit["rep_id"],
                    "team": hit["team"],
                    "region": hit["region"],
                    "channel": hit["channel"],
                    "customer_id": hit["customer_id"],
                    "stage": s,
                    "amount": hit["amount"],
                    "days_in_stage": hit[f"days_{k}"],
                    "limit_days": limit,
                    "deal_age_days": (deals.as_of - hit["created_at"]).dt.total_seconds() / _DAY,
                    "entered_stage_at": hit[f"entered_{k}"],
                }
            )
        )
    cols = ["opportunity_id", "rep_id", "team", "region", "channel", "customer_id", "stage", "amount",
            "days_in_stage", "limit_days", "deal_age_days", "entered_stage_at"]
    if not rows:
        return pd.DataFrame(columns=cols)
    out = pd.concat(rows, ignore_index=True)
    out["overdue_ratio"] = out["days_in_stage"] / out["limit_days"]
    return out.sort_values(["overdue_ratio", "amount"], ascending=[False, False]).reset_index(drop=True)


def worst_sla(summary: pd.DataFrame, group_col: str, min_measured: int = 10) -> dict[str, Any] | None:
    """The group with the highest breach rate among groups with ≥ ``min_measured`` measured deals.

    When no group has that many measured deals, every group counts. Ties go to
    the group with more breaches.
    """
    if summary.empty:
        return None
    s = summary[summary["measured"] >= min_measured]
    if s.empty:
        s = summary
    s = s.sort_values(["breach_rate", "breaches"], ascending=False)
    r = s.iloc[0]
    return {"stage": r["stage"], "group": r[group_col], "breach_rate": float(r["breach_rate"]),
            "breaches": int(r["breaches"]), "measured": int(r["measured"])}


