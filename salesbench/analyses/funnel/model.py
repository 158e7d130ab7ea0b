"""Sales funnel: where deals leak, where they wait, which rules are broken.

Everything starts from :func:`load_deals`, which scans ``stage_history`` and
``opportunities`` in the engine (ibis/DuckDB) and brings back **one row per
opportunity** (allowed by the project's data rule): the first time each stage
was entered, the furthest stage reached, the close, the owner's team and
region and the customer's segment. All other functions are pure pandas on
that frame and return tidy DataFrames.

Definitions (documented rules, see ``docs/funnel.md``)
------------------------------------------------------
Stages
    ``stages`` is the ordered list of funnel stages ending with the won stage
    (default :data:`salesbench.core.schema.STAGES`); ``lost`` can follow any stage.
Furthest stage (skip rule)
    A deal *reached* stage ``k`` when the furthest stage it ever entered has
    index ``>= k``. A deal that skips a stage (no row for it) but enters a later
    one passed through the skipped stage; a deal that re-enters an earlier stage
    keeps its furthest stage. A ``won`` status counts as reaching the won stage
    even when its final history row is missing. This is the furthest-stage
    definition of stage conversion (FIELD_NOTES, "Funnel definitions").
Decided transitions (right-censoring)
    Transition ``k → k+1`` is *decided* for a deal that reached ``k`` when it
    reached ``k+1`` (advanced) or is closed without reaching it (lost at ``k``).
    A deal still open at its furthest stage ``k`` has an undecided ``k → k+1``
    transition and is left out of that transition only (not counted as lost).
    Stage conversion = advanced ÷ decided. Cumulative conversion to stage ``j``
    is the product of the stage conversions up to ``j`` (an estimate of
    P(reach j | lead)); the last one is the lead-to-won win rate.
Closed cohorts
    Headline conversion uses deals created at least ``mature_days`` before
    ``as_of`` (cohorts old enough to have closed); recent cohorts are shown in
    the cohort view by creation month, labelled, never mixed into the rates.
Time in stage
    From the first entry into stage ``k`` to the first entry into any later
    stage (or the close, for the furthest stage); re-entries do not restart the
    clock. For open deals the furthest stage's time is right-censored at
    ``as_of``; medians and p90s are Kaplan–Meier quantiles
    (``scipy.stats.ecdf`` on censored data; Kaplan & Meier 1958).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from salesbench.core import schema

#: Default key-node SLA: needs_confirmed within 48 hours of entering the stage before it (contact).
DEFAULT_SLA_HOURS: dict[str, float] = {"needs_confirmed": 48.0}
#: Breakdown dimensions understood by the per-group functions.
DIMENSIONS = ("channel", "region", "team", "rep_id", "segment")

_DAY = 86_400.0


# --------------------------------------------------------------------------- loading
@dataclass
class Deals:
    """One row per opportunity plus the stage order and the reference time.

    ``frame`` columns: opportunity_id, rep_id, customer_id, created_at, amount,
    status (open/won/lost), closed_at, lost_reason, channel, team, region,
    segment, ``entered_<k>`` (first entry into stage ``k``, NaT if never),
    lost_at, last_event_at, furthest (index of the furthest stage, -1 if the
    deal has no known stage), current_stage (name of the furthest stage for
    open deals), ``days_<k>`` (time in stage ``k`` in days) and
    ``censored_<k>`` (the stay in ``k`` is still running at ``as_of``).
    """

    frame: pd.DataFrame
    stages: list[str]
    as_of: pd.Timestamp
    unknown_stages: dict[str, int] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.frame)

    def mature(self, mature_days: float) -> "Deals":
        """The deals created at least ``mature_days`` days before ``as_of`` (closed cohorts)."""
        cutoff = self.as_of - pd.Timedelta(days=float(mature_days))
        return self.subset(self.frame["created_at"] <= cutoff)

    def subset(self, mask) -> "Deals":
        return Deals(self.frame.loc[mask].reset_index(drop=True), self.stages, self.as_of, self.unknown_stages)


def load_deals(
    ds,
    stages: Sequence[str] | None = None,
    start=None,
    end=None,
    as_of=None,
    segment_column: str = "tier",
) -> Deals:
    """Per-opportunity funnel frame for deals created in ``[start, end]``.

    Parameters
    ----------
    ds : :class:`salesbench.Dataset` with ``opportunities`` and ``stage_history``
        (``reps`` adds team/region, ``customers`` adds the segment and a channel
        fallback when ``opportunities.channel`` is absent).
    stages : ordered funnel stages ending with the won stage.
    start, end : creation period (dates, inclusive; ``None`` = open-ended).
    as_of : a date: the funnel as it stood at the end of that day (deals created,
        stages entered and closes after it are ignored; deals closed later are
        open); ``None`` = the latest event in the data.
    segment_column : ``customers`` column used as the customer segment.

    The scan of ``stage_history`` (exact duplicate rows dropped, first entry per
    stage, furthest stage) runs in the engine; one row per opportunity comes back.
    """
    import ibis

    stages = list(stages or schema.STAGES)
    if len(stages) < 2 or len(set(stages)) != len(stages):
        raise ValueError(f"stages must be at least two distinct names, got {stages}")
    if "lost" in stages:
        raise ValueError("'lost' is the closing stage of lost deals and cannot be a funnel stage")
    ds.require("opportunities", "stage_history", analysis="funnel")
    opp = ds.table("opportunities")
    sh = ds.table("stage_history").select("opportunity_id", "stage", "entered_at").distinct()

    if as_of is not None:
        sh = sh.filter(sh.entered_at < (pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)).to_pydatetime())
    stage_col = sh.stage.lower().strip()
    idx = ibis.cases(*[(stage_col == s.lower(), i) for i, s in enumerate(stages)], else_=-1)
    sh = sh.mutate(stage_norm=stage_col, idx=idx)
    aggs = {f"entered_{i}": sh.entered_at.min(where=sh.idx == i) for i in range(len(stages))}
    aggs["lost_at"] = sh.entered_at.min(where=sh.stage_norm == "lost")
    aggs["furthest_hist"] = sh.idx.max(where=sh.idx >= 0)
    aggs["last_event_at"] = sh.entered_at.max()
    per_opp = sh.group_by("opportunity_id").aggregate(**aggs)

    unknown = unknown_stage_rows(sh, stages)

    cols = ["opportunity_id", "created_at", "status"]
    for c in ("rep_id", "customer_id", "amount", "closed_at", "lost_reason", "channel", "stage"):
        if c in opp.columns:
            cols.append(c)
    o = opp.select(*cols)
    cutoff = None
    if as_of is not None:  # the state at the end of day ``as_of``: later events are ignored
        cutoff = (pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)).to_pydatetime()
        o = o.filter(o.created_at < cutoff)
        if "closed_at" in cols:
            later = o.closed_at.notnull() & (o.closed_at >= cutoff)
            upd = {"status": ibis.ifelse(later, "open", o.status), "closed_at": ibis.ifelse(later, ibis.null("timestamp"), o.closed_at)}
            if "lost_reason" in cols:
                upd["lost_reason"] = ibis.ifelse(later, ibis.null("string"), o.lost_reason)
            if "stage" in cols:
                upd["stage"] = ibis.ifelse(later, ibis.null("string"), o.stage)
            o = o.mutate(**upd)
    if start is not None:
        o = o.filter(o.created_at >= pd.Timestamp(start).to_pydatetime())
    if end is not None:
        o = o.filter(o.created_at < (pd.Timestamp(end) + pd.Timedelta(days=1)).to_pydatetime())
    j = o.left_join(per_opp, o.opportunity_id == per_opp.opportunity_id).drop("opportunity_id_right")
    if ds.has("reps") and "rep_id" in cols:
        reps = ds.table("reps")
        rcols = [c for c in ("team", "region") if c in reps.columns]
        if rcols:
            r = reps.select("rep_id", *rcols).distinct()
            j = j.left_join(r, j.rep_id == r.rep_id).drop("rep_id_right")
    if ds.has("customers") and "customer_id" in cols:
        cust = ds.table("customers")
        ccols = {}
        if segment_column and segment_column in cust.columns:
            ccols["segment"] = cust[segment_column].cast("string")
        if "channel" not in cols and "channel" in cust.columns:
            ccols["channel"] = cust.channel
        if ccols:
            c = cust.select("customer_id", **ccols).distinct()
            j = j.left_join(c, j.customer_id == c.customer_id).drop("customer_id_right")
    # Arrow -> pandas directly: ibis' to_pandas() converts nullable columns row by row (slow at 10^6 rows)
    # ordered by id: the row order (and every table derived from it) must not depend on the engine
    frame = j.order_by("opportunity_id").to_pyarrow().to_pandas(split_blocks=True, self_destruct=True)

    if as_of is None:
        latest = [frame["created_at"].max(), frame["last_event_at"].max()]
        if "closed_at" in frame:
            latest.append(frame["closed_at"].max())
        latest = [t for t in latest if not pd.isna(t)]
        as_of = max(latest) if latest else pd.Timestamp.now()
    else:
        as_of = pd.Timestamp(cutoff)
    frame = _derive(frame, stages, as_of)
    return Deals(frame, stages, as_of, unknown)


def unknown_stage_rows(stage_history, stages: Sequence[str]) -> dict[str, int]:
    """``{stage name: rows}`` of the ``stage_history`` rows whose stage is neither a funnel stage nor ``lost``.

    ``stage_history`` is the ibis table (its ``stage`` column); names match the
    ``stages`` parameter case-insensitively, ignoring surrounding spaces, as in
    :func:`load_deals`. Counted in the engine; largest count first, then by name.
    Such rows are ignored by the funnel: the report names them with the fix
    (add them, in order, to the ``stages`` parameter).
    """
    known = sorted({s.lower() for s in stages} | {"lost"})
    norm = stage_history.stage.lower().strip()
    odd = stage_history.filter(norm.notnull() & ~norm.isin(known))
    counts = odd.group_by("stage").aggregate(n=odd.count()).to_pandas()
    counts = counts.sort_values(["n", "stage"], ascending=[False, True], kind="mergesort")
    return {str(r.stage): int(r.n) for r in counts.itertuples()}


def unknown_stage_sentence(deals: Deals, show: int = 5) -> str | None:
    """One sentence counting and naming the unknown stage names, with the fix; ``None`` when there are none."""
    unknown = deals.unknown_stages
    if not unknown:
        return None
    total = sum(unknown.values())
    names = ", ".join(f"'{k}' ({v:,} row{'s' if v != 1 else ''})" for k, v in list(unknown.items())[:show])
    more = f" and {len(unknown) - show} more" if len(unknown) > show else ""
    return (f"{total:,} stage_history row{'s' if total != 1 else ''} name{'s' if total == 1 else ''} "
            f"{'a stage' if len(unknown) == 1 else f'{len(unknown)} stages'} that {'is' if len(unknown) == 1 else 'are'} "
            f"not in the funnel's stages and {'was' if total == 1 else 'were'} ignored: {names}{more}. "
            "To count them, add them in funnel order to the stages parameter (params/funnel.yaml, or "
            "-p stages=[...]); the current order is " + ", ".join(deals.stages) + ".")


def _derive(frame: pd.DataFrame, stages: list[str], as_of: pd.Timestamp) -> pd.DataFrame:
    """Add status normalisation, furthest stage, time in stage and censoring flags (modifies ``frame``)."""
    f = frame
    K = len(stages)
    for col in ("amount",):
        if col not in f:
            f[col] = np.nan
    for col in ("rep_id", "customer_id", "closed_at", "lost_reason", "channel", "team", "region", "segment"):
        if col not in f:
            f[col] = pd.NaT if col == "closed_at" else None
    for col in [f"entered_{i}" for i in range(K)] + ["created_at", "closed_at", "lost_at", "last_event_at"]:
        c = f[col]
        if not pd.api.types.is_datetime64_any_dtype(c):
            c = pd.to_datetime(c)
        if c.dt.tz is not None:
            c = c.dt.tz_localize(None)
        f[col] = c.astype("datetime64[ns]")
    f["status"] = f["status"].astype(str).str.strip().str.lower()
    furthest = f["furthest_hist"].astype("float").fillna(-1)
    if "stage" in f:  # deals without history: their current stage, if it is a funnel stage
        cur = f["stage"].astype(str).str.strip().str.lower().map({s.lower(): i for i, s in enumerate(stages)})
        furthest = np.where(furthest < 0, cur.fillna(-1), furthest)
    furthest = pd.Series(furthest, index=f.index).astype(int)
    furthest[f["status"] == "won"] = K - 1
    f["furthest"] = furthest
    f["current_stage"] = np.where(
        (f["status"] == "open") & (f["furthest"] >= 0), np.array(stages, dtype=object)[f["furthest"].clip(0)], None
    )
    # time in stage k: first entry into k -> first entry into any later stage, else the close / as_of
    entered = np.stack([f[f"entered_{i}"].to_numpy("datetime64[ns]") for i in range(K)], axis=1)
    closing = f["lost_at"].to_numpy("datetime64[ns]")
    closed_at = f["closed_at"].to_numpy("datetime64[ns]")
    closing = np.where(np.isnat(closing), closed_at, closing)
    is_open = (f["status"] == "open").to_numpy()
    asof64 = np.datetime64(as_of.to_datetime64(), "ns")
    later = np.full(len(f), np.datetime64("NaT"), dtype="datetime64[ns]")
    for i in range(K - 1, -1, -1):
        start = entered[:, i]
        if i < K - 1:
            nxt = entered[:, i + 1]
            later = np.where(np.isnat(later), nxt, np.where(np.isnat(nxt), later, np.minimum(later, nxt)))
            end_ = np.where(np.isnat(later), closing, later)
            censored = np.isnat(end_) & is_open & ~np.isnat(start)
            end_ = np.where(censored, asof64, end_)
            days = (end_ - start) / np.timedelta64(1, "s") / _DAY
            f[f"days_{i}"] = np.where(np.isnat(start) | np.isnat(end_), np.nan, days)
            f[f"censored_{i}"] = censored
    f["cycle_days"] = (f["closed_at"] - f["created_at"]).dt.total_seconds() / _DAY
    # low-cardinality text as categories: a tenth of the memory at 10^6 deals, faster group-bys
    for col in ("status", "rep_id", "channel", "team", "region", "segment", "current_stage", "stage"):
        if col in f and f[col].dtype == object:
            f[col] = f[col].astype("category")
    return f.drop(columns=["furthest_hist"])


# --------------------------------------------------------------------------- conversion
def _groups(frame: pd.DataFrame, by: str | Sequence[str] | None):
    if by is None:
        yield (), frame
        return
    by = [by] if isinstance(by, str) else list(by)
    for key, g in frame.groupby(by, dropna=False, sort=True, observed=True):
        yield (key if isinstance(key, tuple) else (key,)), g


def stage_conversion(deals: Deals, by: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Stage-to-stage and cumulative conversion with drop-off counts.

    For every consecutive pair ``k → k+1`` (and every group of ``by``):

    * ``reached`` — deals whose furthest stage ≥ k;
    * ``advanced`` — deals whose furthest stage ≥ k+1;
    * ``lost`` — closed deals whose furthest stage is k (the drop-off);
    * ``open`` — deals still open at k (undecided, right-censored);
    * ``conversion`` = advanced ÷ (advanced + lost) — decided transitions only;
    * ``conversion_all`` = advanced ÷ reached — open deals counted as not
      converted (biased low for recent cohorts; shown for contrast);
    * ``cumulative`` = ∏ conversion up to k+1 — estimated P(reach k+1 | lead).
    """
    stages = deals.stages
    rows = []
    by_cols = [] if by is None else ([by] if isinstance(by, str) else list(by))
    for key, g in _groups(deals.frame, by):
        fur = g["furthest"].to_numpy()
        open_ = (g["status"] == "open").to_numpy()
        cum = 1.0
        for k in range(len(stages) - 1):
            reached = int((fur >= k).sum())
            advanced = int((fur >= k + 1).sum())
            at_k = fur == k
            n_open = int((at_k & open_).sum())
            lost = int((at_k & ~open_).sum())
            decided = advanced + lost
            conv = advanced / decided if decided else np.nan
            cum = cum * conv if not np.isnan(cum) else np.nan
            rows.append(
                dict(zip(by_cols, key))
                | {
                    "step": k + 1,
                    "from_stage": stages[k],
                    "to_stage": stages[k + 1],
                    "transition": f"{stages[k]}->{stages[k + 1]}",
                    "reached": reached,
                    "advanced": advanced,
                    "lost": lost,
                    "open": n_open,
                    "conversion": conv,
                    "conversion_all": advanced / reached if reached else np.nan,
                    "cumulative": cum,
                }
            )
    return pd.DataFrame(rows)


def conversion_dict(conv: pd.DataFrame) -> dict[str, float]:
    """``{"<from>-><to>": conversion}`` for an ungrouped :func:`stage_conversion` table."""
    return {r.transition: (None if pd.isna(r.conversion) else float(r.conversion)) for r in conv.itertuples()}


def stage_win_probability(conv: pd.DataFrame, stages: Sequence[str]) -> dict[str, float]:
    """P(won | deal is at stage k) = ∏_{j ≥ k} conversion_j from an ungrouped conversion table.

    The weights of the weighted pipeline (FIELD_NOTES: Σ amount × stage probability).
    """
    rates = list(conv["conversion"].fillna(0.0))
    out = {}
    for k, s in enumerate(stages[:-1]):
        out[s] = float(np.prod(rates[k:]))
    out[stages[-1]] = 1.0
    return out


def win_rates(deals: Deals, by: str | Sequence[str] | None = None, conv: pd.DataFrame | None = None) -> pd.DataFrame:
    """Won, lost, open counts and win rates per group.

    ``win_rate`` = won ÷ (won + lost) (closed deals only); ``won_share`` = won ÷
    all created (lower for recent cohorts until they close — label it);
    ``lead_to_won`` = the cumulative decided-transition conversion to the won
    stage (:func:`stage_conversion`; pass ``conv`` when it is already computed for
    the same deals and grouping).
    """
    conv = stage_conversion(deals, by) if conv is None else conv
    by_cols = [] if by is None else ([by] if isinstance(by, str) else list(by))
    last = conv[conv["step"] == len(deals.stages) - 1]
    rows = []
    for key, g in _groups(deals.frame, by):
        won = int((g["status"] == "won").sum())
        lost = int((g["status"] == "lost").sum())
        n_open = int((g["status"] == "open").sum())
        rows.append(
            dict(zip(by_cols, key))
            | {
                "opportunities": len(g),
                "won": won,
                "lost": lost,
                "open": n_open,
                "win_rate": won / (won + lost) if won + lost else np.nan,
                "won_share": won / len(g) if len(g) else np.nan,
            }
        )
    out = pd.DataFrame(rows)
    if by_cols:
        out = out.merge(last[by_cols + ["cumulative"]], on=by_cols, how="left")
    else:
        out["cumulative"] = last["cumulative"].iloc[0] if len(last) else np.nan
    return out.rename(columns={"cumulative": "lead_to_won"})


def lost_reasons(deals: Deals) -> pd.DataFrame:
    """Lost deals by reason and by the stage where they were lost (counts and shares)."""
    lost = deals.frame[deals.frame["status"] == "lost"].copy()
    if lost.empty:
        return pd.DataFrame(columns=["lost_reason", "lost", "share", "amount"])
    lost["lost_reason"] = lost["lost_reason"].astype(object).fillna("(not recorded)").astype(str)
    lost["lost_at_stage"] = np.array(deals.stages + ["(unknown)"], dtype=object)[lost["furthest"].where(lost["furthest"] >= 0, len(deals.stages))]
    out = lost.groupby("lost_reason").agg(lost=("opportunity_id", "size"), amount=("amount", "sum")).reset_index()
    out["share"] = out["lost"] / out["lost"].sum()
    by_stage = lost.pivot_table(index="lost_reason", columns="lost_at_stage", values="opportunity_id", aggfunc="size", fill_value=0)
    order = [s for s in deals.stages + ["(unknown)"] if s in by_stage.columns]
    out = out.merge(by_stage[order].reset_index(), on="lost_reason", how="left")
    return out.sort_values("lost", ascending=False).reset_index(drop=True)


def cohort_table(deals: Deals, freq: str = "M") -> pd.DataFrame:
    """Cohort view by creation month: created, open, won, lost, rates and reach shares.

    ``reach_<stage>`` = share of the cohort whose furthest stage ≥ that stage
    (open deals included, so young cohorts look worse until they close);
    ``win_rate`` = won ÷ closed; ``open_share`` shows how unfinished a cohort is.
    """
    f = deals.frame
    cohort = f["created_at"].dt.to_period(freq)
    rows = []
    for per, g in f.groupby(cohort, sort=True):
        won = int((g["status"] == "won").sum())
        lost = int((g["status"] == "lost").sum())
        row = {
            "cohort": str(per),
            "created": len(g),
            "open": int((g["status"] == "open").sum()),
            "won": won,
            "lost": lost,
            "win_rate": won / (won + lost) if won + lost else np.nan,
            "won_share": won / len(g),
            "open_share": float((g["status"] == "open").mean()),
        }
        for k, s in enumerate(deals.stages):
            row[f"reach_{s}"] = float((g["furthest"] >= k).mean())
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- time
def km_quantiles(days: np.ndarray, censored: np.ndarray, probs: Sequence[float] = (0.5, 0.9)) -> list[float]:
    """Kaplan–Meier quantiles of durations with right-censoring.

    ``q(p)`` = the smallest observed time ``t`` with ``1 − S(t) ≥ p`` (S: the
    Kaplan–Meier survival estimate from ``scipy.stats.ecdf`` on
    ``CensoredData``); NaN when the estimate never reaches ``p`` (too much
    censoring) or there are no events.
    """
    from scipy import stats

    days = np.asarray(days, dtype=float)
    censored = np.asarray(censored, dtype=bool)
    ok = ~np.isnan(days)
    days, censored = np.maximum(days[ok], 0.0), censored[ok]
    if (~censored).sum() == 0:
        return [float("nan")] * len(probs)
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
    for key, g in _groups(deals.frame, by):
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


# --------------------------------------------------------------------------- velocity and coverage
def velocity(deals: Deals, closed: Deals | None = None, by: str | None = None) -> pd.DataFrame:
    """Sales velocity per group (revenue per day).

    velocity = open opportunities × win rate × average won deal size ÷ average
    won cycle length (days) — the standard sales-velocity equation (FIELD_NOTES).
    Open opportunities are counted in ``deals`` (all cohorts, open at
    ``as_of``); win rate (won ÷ closed), average won amount and average cycle
    come from ``closed`` (default: ``deals``), normally the mature cohorts.
    """
    closed = closed or deals
    by_cols = [] if by is None else [by]
    open_counts = {}
    open_amount = {}
    for key, g in _groups(deals.frame, by):
        o = g[g["status"] == "open"]
        open_counts[key] = len(o)
        open_amount[key] = float(o["amount"].sum())
    rows = []
    for key, g in _groups(closed.frame, by):
        won = g[g["status"] == "won"]
        n_closed = int(g["status"].isin(["won", "lost"]).sum())
        wr = len(won) / n_closed if n_closed else np.nan
        avg_won = float(won["amount"].mean()) if len(won) else np.nan
        cycle = float(won["cycle_days"].mean()) if len(won) else np.nan
        n_open = open_counts.get(key, 0)
        v = n_open * wr * avg_won / cycle if cycle and not np.isnan(cycle) and cycle > 0 else np.nan
        rows.append(
            dict(zip(by_cols, key))
            | {
                "open_opportunities": n_open,
                "open_amount": open_amount.get(key, 0.0),
                "win_rate": wr,
                "avg_won_amount": avg_won,
                "avg_cycle_days": cycle,
                "velocity_per_day": v,
            }
        )
    return pd.DataFrame(rows)


def weighted_pipeline(deals: Deals, stage_prob: Mapping[str, float], by: str | None = None) -> pd.DataFrame:
    """Open pipeline per group: Σ amount and Σ amount × P(won | current stage)."""
    f = deals.frame[deals.frame["status"] == "open"].copy()
    f["p_win"] = f["current_stage"].map(dict(stage_prob)).astype(float)
    f["weighted"] = f["amount"] * f["p_win"]
    if by is None:
        return pd.DataFrame(
            {"open_opportunities": [len(f)], "open_amount": [float(f["amount"].sum())],
             "weighted_amount": [float(f["weighted"].sum())]}
        )
    return (
        f.groupby(by, dropna=False, observed=True)
        .agg(open_opportunities=("opportunity_id", "size"), open_amount=("amount", "sum"), weighted_amount=("weighted", "sum"))
        .reset_index()
    )


def next_period_targets(ds, as_of, months: int = 1, level: str = "team", metric: str = "revenue") -> pd.DataFrame:
    """Sum of ``targets.value`` for the ``months`` calendar months after ``as_of``'s month, per key.

    Aggregated in the engine. Returns ``key, target`` (empty when the table or
    the period is missing).
    """
    if not ds.has("targets"):
        return pd.DataFrame(columns=["key", "target"])
    t = ds.table("targets")
    month = (pd.Timestamp(as_of) - pd.Timedelta(microseconds=1)).to_period("M")  # as_of may be the midnight after
    first = (month + 1).to_timestamp()
    last = (month + months).to_timestamp()
    q = t.filter(
        (t.level == level) & (t.metric == metric) & (t.period >= first.date()) & (t.period <= last.date())
    )
    return q.group_by("key").aggregate(target=q.value.sum()).to_pandas()


def coverage(
    pipeline: pd.DataFrame, targets: pd.DataFrame, key_col: str, threshold: float = 3.0
) -> pd.DataFrame:
    """Pipeline coverage = weighted open pipeline ÷ next-period target, with a status flag.

    ``status``: green when coverage ≥ ``threshold``, amber when ≥ 2/3 of it,
    red below; grey when there is no target. ``coverage_unweighted`` = open
    amount ÷ target is kept for the classic "3× pipeline" reading.
    """
    out = pipeline.merge(targets.rename(columns={"key": key_col}), on=key_col, how="outer")
    for c in ("open_opportunities", "open_amount", "weighted_amount"):
        out[c] = out[c].fillna(0)
    tgt = out["target"].where(out["target"] > 0)
    out["coverage"] = out["weighted_amount"] / tgt
    out["coverage_unweighted"] = out["open_amount"] / tgt
    out["status"] = np.select(
        [out["coverage"].isna(), out["coverage"] >= threshold, out["coverage"] >= threshold * 2 / 3],
        ["grey", "green", "amber"],
        "red",
    )
    return out.sort_values(key_col).reset_index(drop=True)


# --------------------------------------------------------------------------- narrative helpers
def biggest_leak(conv: pd.DataFrame) -> dict[str, Any] | None:
    """The transition losing the most deals (largest ``lost`` count), with its conversion."""
    if conv.empty or conv["lost"].sum() == 0:
        return None
    r = conv.loc[conv["lost"].idxmax()]
    return {"transition": r["transition"], "from_stage": r["from_stage"], "lost": int(r["lost"]),
            "conversion": float(r["conversion"]), "share_of_lost": float(r["lost"] / conv["lost"].sum())}


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


# --------------------------------------------------------------------------- the whole analysis
@dataclass
class FunnelReport:
    """Everything the funnel notebook shows (see :func:`analyze`)."""

    deals: Deals
    closed: Deals
    conversion: pd.DataFrame
    conversion_all_cohorts: pd.DataFrame
    conversion_by: dict[str, pd.DataFrame]
    win: pd.DataFrame
    win_by: dict[str, pd.DataFrame]
    lost: pd.DataFrame
    cohorts: pd.DataFrame
    durations: pd.DataFrame
    cycle: dict[str, float]
    sla_checks: pd.DataFrame
    sla: pd.DataFrame
    sla_by: dict[str, pd.DataFrame]
    stuck: pd.DataFrame
    velocity: pd.DataFrame
    velocity_by_team: pd.DataFrame
    stage_prob: dict[str, float]
    coverage: pd.DataFrame
    coverage_by_team: pd.DataFrame
    params: dict[str, Any]

    def results(self) -> dict[str, Any]:
        """The values for ``funnel.results.json``."""
        total_v = self.velocity["velocity_per_day"].iloc[0] if len(self.velocity) else None
        cov = self.coverage["coverage"].iloc[0] if len(self.coverage) else None
        rates = self.sla.set_index("stage")["breach_rate"].to_dict() if len(self.sla) else {}
        wr = self.win["win_rate"].iloc[0]
        return {
            "n_opportunities": self.deals.n,
            "n_closed_cohort": self.closed.n,
            "as_of": (self.deals.as_of - pd.Timedelta(microseconds=1)).date(),
            "stage_conversion": conversion_dict(self.conversion),
            "win_rate": wr,
            "lead_to_won": self.win["lead_to_won"].iloc[0],
            "median_cycle_days": self.cycle["median_cycle_days"],
            "p90_cycle_days": self.cycle["p90_cycle_days"],
            "median_hours_to_contact": self.cycle["median_hours_to_contact"],
            "sla_breach_rate": {k: float(v) for k, v in rates.items()},
            "stuck_deals": int(len(self.stuck)),
            "stuck_amount": float(self.stuck["amount"].sum()) if len(self.stuck) else 0.0,
            "velocity_per_day": total_v,
            "coverage_ratio": cov,
            "coverage_threshold": self.params["coverage_threshold"],
            "open_opportunities": int((self.deals.frame["status"] == "open").sum()),
            "biggest_leak": biggest_leak(self.conversion),
            "unknown_stage_rows": int(sum(self.deals.unknown_stages.values())),
            "unknown_stages": dict(self.deals.unknown_stages),
        }


def _check_params(mature_days, sla_hours, stuck_days, coverage_threshold, coverage_months) -> None:
    def positive(name, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}")

    if isinstance(mature_days, bool) or not isinstance(mature_days, (int, float)) or mature_days < 0:
        raise ValueError(f"mature_days must be a number ≥ 0, got {mature_days!r}")
    for stage, hours in dict(sla_hours or {}).items():
        positive(f"sla_hours[{stage!r}]", hours)
    for stage, days in dict(stuck_days or {}).items():
        positive(f"stuck_days[{stage!r}]", days)
    positive("coverage_threshold", coverage_threshold)
    if isinstance(coverage_months, bool) or not isinstance(coverage_months, int) or coverage_months < 1:
        raise ValueError(f"coverage_months must be a whole number ≥ 1, got {coverage_months!r}")


def analyze(
    ds,
    stages: Sequence[str] | None = None,
    start=None,
    end=None,
    as_of=None,
    mature_days: float = 90,
    segment_column: str = "tier",
    sla_hours: Mapping[str, float] | None = None,
    stuck_days: Mapping[str, float] | None = None,
    coverage_threshold: float = 3.0,
    coverage_months: int = 1,
    target_metric: str = "new_business",
    breakdowns: Iterable[str] = DIMENSIONS,
) -> FunnelReport:
    """Run the whole funnel analysis on ``ds`` (see the module docstring for the rules).

    Conversion, win rates, lost reasons, cycle lengths, velocity inputs and stage probabilities come from the
    closed cohorts (created ≥ ``mature_days`` before ``as_of``); open counts,
    stuck deals, SLA checks, durations and cohorts use every deal in the period.
    """
    _check_params(mature_days, sla_hours, stuck_days, coverage_threshold, coverage_months)
    deals = load_deals(ds, stages, start, end, as_of, segment_column)
    if deals.n == 0:
        from salesbench.report.results import ReportSkipped

        when = [f"from {pd.Timestamp(start).date()}" if start is not None else "",
                f"to {pd.Timestamp(end).date()}" if end is not None else "",
                f"on or before {pd.Timestamp(as_of).date()}" if as_of is not None else ""]
        raise ReportSkipped("no opportunity was created " + (" ".join(w for w in when if w) or "in the data"))
    closed = deals.mature(mature_days)
    all_cohorts = closed.n == 0  # no deal old enough: fall back to every cohort, and say so
    if all_cohorts:
        closed = deals
    present = [d for d in breakdowns if d in deals.frame and deals.frame[d].notna().any()]
    conv = stage_conversion(closed)
    conv_by = {d: stage_conversion(closed, d) for d in present}
    win = win_rates(closed, conv=conv)
    win_by = {d: win_rates(closed, d, conv=conv_by[d]) for d in present}
    durations = stage_durations(deals)
    checks = sla_breaches(deals, sla_hours)
    sla = sla_summary(checks)
    sla_by = {d: sla_summary(checks, d) for d in ("rep_id", "team") if d in present}
    stuck = stuck_deals(deals, durations, stuck_days)
    vel = velocity(deals, closed)
    vel_team = velocity(deals, closed, "team") if "team" in present else pd.DataFrame()
    prob = stage_win_probability(conv, deals.stages)
    company_t = next_period_targets(ds, deals.as_of, coverage_months, "company", target_metric)
    pipe = weighted_pipeline(deals, prob)
    pipe["key"] = "company"
    cov = coverage(pipe, company_t, "key", coverage_threshold) if len(company_t) else pd.DataFrame()
    if len(cov):
        cov = cov[cov["key"] == "company"].reset_index(drop=True)
    cov_team = pd.DataFrame()
    if "team" in present:
        team_t = next_period_targets(ds, deals.as_of, coverage_months, "team", target_metric)
        if len(team_t):
            cov_team = coverage(weighted_pipeline(deals, prob, "team"), team_t.rename(columns={}), "team", coverage_threshold)
    params = dict(stages=deals.stages, mature_days=mature_days, all_cohorts=all_cohorts, sla_hours=dict(DEFAULT_SLA_HOURS if sla_hours is None else sla_hours),
                  coverage_threshold=coverage_threshold, coverage_months=coverage_months)
    return FunnelReport(
        deals=deals, closed=closed, conversion=conv, conversion_all_cohorts=conv if closed is deals else stage_conversion(deals),
        conversion_by=conv_by, win=win, win_by=win_by, lost=lost_reasons(closed), cohorts=cohort_table(deals),
        durations=durations, cycle=cycle_stats(closed), sla_checks=checks, sla=sla, sla_by=sla_by, stuck=stuck,
        velocity=vel, velocity_by_team=vel_team, stage_prob=prob, coverage=cov, coverage_by_team=cov_team,
        params=params,
    )


# --------------------------------------------------------------------------- notebook helpers
def pooled_win_rates(report: FunnelReport, by: str, draws: int = 500, tune: int = 500, chains: int = 2,
                     seed: int = 0, prob: float = 0.9):
    """Hierarchical Beta-Binomial win rates (won ÷ closed, closed cohorts) per ``by`` group.

    Returns a :class:`salesbench.analyses.funnel.bayes.PooledRates` (``None`` when the
    breakdown is absent). Labels reps with their team when known.
    """
    from salesbench.analyses.funnel.bayes import pooled_rates, win_counts

    if by not in report.win_by:
        return None
    counts = win_counts(report.win_by[by], by)
    if not (counts["closed"] > 0).any():  # no closed deal yet: nothing to pool
        return None
    pooled = pooled_rates(counts, by, "won", "closed", draws=draws, tune=tune, chains=chains, seed=seed, prob=prob)
    if by == "rep_id" and "team" in report.closed.frame:
        teams = report.closed.frame.dropna(subset=["rep_id"]).drop_duplicates("rep_id").set_index("rep_id")["team"]
        pooled.table.insert(1, "team", pooled.table["rep_id"].map(teams))
    return pooled


def _as_of_date(report: FunnelReport):
    return (report.deals.as_of - pd.Timedelta(microseconds=1)).date()


def headline_cards(report: FunnelReport) -> list[dict[str, Any]]:
    """The 4–5 cards of the first screen: win rate, biggest leak, SLA breach rate, stuck deals, coverage."""
    from salesbench import viz

    res = report.results()
    cards = [{"label": "Win rate (won ÷ closed)", "value": viz.fmt_pct(res["win_rate"], 1),
              "sub": f"{report.closed.n:,} deals in closed cohorts"}]
    leak = res["biggest_leak"]
    if leak:
        cards.append({"label": "Biggest leak", "value": leak["transition"].replace("_", " ").replace("->", " → "),
                      "sub": f"{leak['lost']:,} deals lost ({viz.fmt_pct(1 - leak['conversion'])} of those reaching it)"})
    for stage, rate in res["sla_breach_rate"].items():
        hours = report.params["sla_hours"].get(stage)
        cards.append({"label": f"SLA breaches: {stage.replace('_', ' ')}", "value": viz.fmt_pct(rate, 1),
                      "sub": f"limit {hours:g} h after the previous stage",
                      "status": "green" if rate <= 0.05 else "amber" if rate <= 0.15 else "red"})
        break
    cards.append({"label": "Stuck open deals", "value": f"{res['stuck_deals']:,}",
                  "sub": f"{viz.fmt_money(res['stuck_amount'])} pipeline past its stage's limit",
                  "status": "green" if res["stuck_deals"] == 0 else "amber"})
    if res["coverage_ratio"] is not None and not (isinstance(res["coverage_ratio"], float) and math.isnan(res["coverage_ratio"])):
        status = report.coverage["status"].iloc[0]
        cards.append({"label": "Pipeline coverage", "value": f"{res['coverage_ratio']:.2f}×",
                      "sub": f"weighted pipeline ÷ next-period target (need {report.params['coverage_threshold']:g}×)",
                      "status": status})
    else:
        cards.append({"label": "Sales velocity", "value": viz.fmt_money(res["velocity_per_day"]) + "/day",
                      "sub": "no next-period target in the data for coverage"})
    return cards


def summary_sentences(report: FunnelReport, pooled_reps=None) -> list[str]:
    """Generated narrative: volume and win rate, the biggest leak, the worst SLA, stuck deals, coverage."""
    from salesbench import viz

    res = report.results()
    scope = (
        "in all cohorts (no deal is old enough for the closed-cohort view, so recent deals weigh in)"
        if report.params.get("all_cohorts")
        else f"in the closed cohorts (created at least {report.params['mature_days']:g} days earlier)"
    )
    out = [
        f"As of {_as_of_date(report).isoformat()}, {report.deals.n:,} "
        f"{'opportunity is' if report.deals.n == 1 else 'opportunities are'} in scope; "
        f"{scope} "
        f"{viz.fmt_pct(res['win_rate'], 1)} of closed deals were won, and a won deal took "
        f"{viz.fmt_num(res['median_cycle_days'])} days (median) from creation to signature."
    ]
    leak = res["biggest_leak"]
    if leak:
        out.append(
            f"The biggest leak is {leak['transition'].replace('->', ' → ').replace('_', ' ')}: only "
            f"{viz.fmt_pct(leak['conversion'])} advance and {leak['lost']:,} deals "
            f"({viz.fmt_pct(leak['share_of_lost'])} of all losses) end there."
        )
    weakest = report.conversion.dropna(subset=["conversion"])
    if len(weakest):
        w = weakest.loc[weakest["conversion"].idxmin()]
        if not leak or w["transition"] != leak["transition"]:
            out.append(
                f"The weakest step is {w['transition'].replace('->', ' → ').replace('_', ' ')}, "
                f"where {viz.fmt_pct(w['conversion'])} of deals advance."
            )
    team_sla = report.sla_by.get("team")
    worst = worst_sla(team_sla, "team") if team_sla is not None and len(team_sla) else None
    if worst:
        overall = res["sla_breach_rate"].get(worst["stage"])
        out.append(
            f"The worst SLA record is team {worst['group']} on {worst['stage'].replace('_', ' ')}: "
            f"{viz.fmt_pct(worst['breach_rate'])} of its deals breach the limit "
            f"({worst['breaches']} of {worst['measured']}; company {viz.fmt_pct(overall)})."
        )
    out.append(
        f"{res['stuck_deals']:,} open deals worth {viz.fmt_money(res['stuck_amount'])} have sat in their stage "
        "longer than the stage's limit and are listed for follow-up."
    )
    cov = res["coverage_ratio"]
    if cov is not None and not (isinstance(cov, float) and math.isnan(cov)):
        thr = report.params["coverage_threshold"]
        out.append(
            f"The weighted open pipeline covers {cov:.2f}× next period's target "
            f"({'meets' if cov >= thr else 'below'} the {thr:g}× rule)."
        )
    else:
        out.append("No next-period target was found, so pipeline coverage is not assessed.")
    if pooled_reps is not None and len(pooled_reps.table) >= 2:
        t = pooled_reps.table
        out.append(
            f"After pooling, rep win rates range from {viz.fmt_pct(t['mean'].min())} to "
            f"{viz.fmt_pct(t['mean'].max())} (raw {viz.fmt_pct(t['raw_rate'].min())}–{viz.fmt_pct(t['raw_rate'].max())})."
        )
    return out


def publish(report: FunnelReport, res, pooled: Mapping[str, Any] | None = None) -> None:
    """Record the results.json values, the index headlines and the CSV exports on ``res``."""
    from salesbench import viz

    values = report.results()
    values["as_of"] = _as_of_date(report)
    values["pooled_win_rate"] = {
        k: v.table[[c for c in v.table.columns if c in (k, "team", "trials", "successes", "raw_rate", "mean", "lo", "hi")]]
        .set_index(k)["mean"].to_dict()
        for k, v in (pooled or {}).items() if v is not None
    }
    values["win_rate_by_channel"] = (
        report.win_by["channel"].set_index("channel")["win_rate"].to_dict() if "channel" in report.win_by else {}
    )
    res.set(**values)
    res.headline("Win rate", values["win_rate"], viz.fmt_pct(values["win_rate"], 1))
    leak = values["biggest_leak"]
    if leak:
        step = leak["transition"].replace("->", " → ").replace("_", " ")
        res.headline("Biggest leak", 1 - leak["conversion"], f"{step}: {viz.fmt_pct(1 - leak['conversion'])} lost")
    for stage, rate in values["sla_breach_rate"].items():
        res.headline(f"SLA breaches ({stage.replace('_', ' ')})", rate, viz.fmt_pct(rate, 1))
    res.headline("Stuck deals", values["stuck_deals"], f"{values['stuck_deals']:,}")
    if values["coverage_ratio"] is not None:
        res.headline("Pipeline coverage", values["coverage_ratio"], f"{values['coverage_ratio']:.2f}×")
    res.table("stage_conversion", report.conversion)
    by = [t.assign(dimension=d).rename(columns={d: "group"}) for d, t in report.conversion_by.items()]
    if by:
        res.table("conversion_by_group", pd.concat(by, ignore_index=True))
    res.table("cohorts", report.cohorts)
    res.table("stage_durations", report.durations)
    res.table("sla_breaches", report.sla_checks[report.sla_checks["breach"]])
    res.table("stuck_deals", report.stuck)
    if len(report.velocity_by_team):
        res.table("velocity_by_team", report.velocity_by_team)
    if len(report.coverage_by_team):
        res.table("coverage_by_team", report.coverage_by_team)
    for k, v in (pooled or {}).items():
        if v is not None:
            res.table(f"pooled_win_rate_{'rep' if k == 'rep_id' else k}", v.table)


# --------------------------------------------------------------------------- display tables
def _pct(x):
    from salesbench.viz import fmt_pct

    return fmt_pct(x, 1)


def _money(x):
    from salesbench.viz import fmt_money

    return fmt_money(x)


def _days(x):
    from salesbench.viz import fmt_num

    return fmt_num(x, 1)


PCT_FORMATS = {c: _pct for c in ("conversion", "conversion (all cohorts)", "cumulative", "win rate", "lead to won",
                                 "won share", "raw rate", "pooled rate", "lo", "hi", "breach rate")}
DAY_FORMATS = {c: _days for c in ("median_days", "p90_days", "mean_days_completed", "p90_days_completed")}
MONEY_FORMATS = {c: _money for c in ("open amount", "avg won amount", "velocity per day", "weighted pipeline",
                                     "target", "amount")} | {"win rate": _pct, "avg cycle days": _days,
                                                             "coverage": lambda v: "–" if pd.isna(v) else f"{v:.2f}×",
                                                             "unweighted": lambda v: "–" if pd.isna(v) else f"{v:.2f}×"}


def conversion_view(report: FunnelReport) -> pd.DataFrame:
    """Stage conversion table for display (closed cohorts, with the all-cohort rate for contrast)."""
    c = report.conversion.copy()
    allc = report.conversion_all_cohorts.set_index("transition")["conversion_all"]
    return pd.DataFrame({
        "from": c["from_stage"], "to": c["to_stage"], "reached": c["reached"], "advanced": c["advanced"],
        "lost here": c["lost"], "still open": c["open"], "conversion": c["conversion"], "cumulative": c["cumulative"],
        "conversion (all cohorts)": c["transition"].map(allc).to_numpy(),
    })


def breakdown_view(report: FunnelReport) -> pd.DataFrame:
    """Win rate and lead-to-won per group of every breakdown (closed cohorts)."""
    parts = []
    names = {"channel": "channel", "region": "region", "team": "team", "segment": "segment"}
    for d, label in names.items():
        if d in report.win_by:
            t = report.win_by[d]
            parts.append(pd.DataFrame({"breakdown": label, "group": t[d].astype(str), "deals": t["opportunities"],
                                       "won": t["won"], "lost": t["lost"], "win rate": t["win_rate"],
                                       "lead to won": t["lead_to_won"]}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def pooled_view(pooled: Mapping[str, Any]) -> pd.DataFrame:
    """Raw vs pooled win rates with credible intervals, all pooled breakdowns stacked."""
    parts = []
    for k, p in pooled.items():
        if p is None:
            continue
        t = p.table
        parts.append(pd.DataFrame({
            "breakdown": "rep" if k == "rep_id" else k, "group": t[k].astype(str),
            "team": t["team"].astype(str) if "team" in t else "", "closed deals": t["trials"], "won": t["successes"],
            "raw rate": t["raw_rate"], "pooled rate": t["mean"], "lo": t["lo"], "hi": t["hi"],
        }))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def cycle_view(report: FunnelReport) -> pd.DataFrame:
    c = report.cycle
    return pd.DataFrame({
        "measure": ["won deals (closed cohorts)", "sales cycle of won deals, median (days)", "sales cycle, p90 (days)",
                    "time to first contact, median (hours)", "time to first contact, p90 (hours)"],
        "value": [f"{c['won_deals']:,}", f"{c['median_cycle_days']:.1f}", f"{c['p90_cycle_days']:.1f}",
                  f"{c['median_hours_to_contact']:.1f}", f"{c['p90_hours_to_contact']:.1f}"],
    })


def sla_view(report: FunnelReport) -> pd.DataFrame:
    """Breach rate per SLA stage: company, then per team, then the 10 worst reps (≥ 10 measured deals)."""
    parts = [report.sla.assign(level="company", group="company")]
    if "team" in report.sla_by:
        parts.append(report.sla_by["team"].assign(level="team").rename(columns={"team": "group"}))
    if "rep_id" in report.sla_by:
        r = report.sla_by["rep_id"]
        r = r[r["measured"] >= 10].sort_values("breach_rate", ascending=False).head(10)
        parts.append(r.assign(level="rep (10 worst)").rename(columns={"rep_id": "group"}))
    t = pd.concat(parts, ignore_index=True)
    return pd.DataFrame({"stage": t["stage"], "level": t["level"], "group": t["group"].astype(str), "measured": t["measured"],
                         "breaches": t["breaches"], "breach rate": t["breach_rate"],
                         "median hours": pd.to_numeric(t["median_hours"], errors="coerce").round(1)})


def breach_list(report: FunnelReport) -> pd.DataFrame:
    b = report.sla_checks[report.sla_checks["breach"]].sort_values("started_at", ascending=False)
    return pd.DataFrame({"opportunity": b["opportunity_id"], "rule": b["rule"], "rep": b["rep_id"], "team": b["team"],
                         "clock started": b["started_at"].dt.strftime("%Y-%m-%d %H:%M"),
                         "hours": b["elapsed_hours"].round(1), "limit": b["limit_hours"],
                         "pending": b["pending"].map({True: "yes", False: "no"})})


def stuck_view(report: FunnelReport) -> pd.DataFrame:
    from salesbench.viz import fmt_money

    s = report.stuck

    def num(col):  # an empty stuck list has untyped (object) columns
        return pd.to_numeric(s[col], errors="coerce")

    return pd.DataFrame({"opportunity": s["opportunity_id"], "owner": s["rep_id"], "team": s["team"],
                         "stage": s["stage"], "amount": s["amount"].map(fmt_money),
                         "days in stage": num("days_in_stage").round(1), "limit (days)": num("limit_days").round(1),
                         "deal age (days)": num("deal_age_days").round(0)})


def velocity_view(report: FunnelReport) -> pd.DataFrame:
    parts = []
    if len(report.velocity_by_team):
        parts.append(report.velocity_by_team.rename(columns={"team": "group"}))
    parts.append(report.velocity.assign(group="total"))
    t = pd.concat(parts, ignore_index=True)
    return pd.DataFrame({"group": t["group"], "open deals": t["open_opportunities"], "open amount": t["open_amount"],
                         "win rate": t["win_rate"], "avg won amount": t["avg_won_amount"],
                         "avg cycle days": t["avg_cycle_days"], "velocity per day": t["velocity_per_day"]})


def coverage_view(report: FunnelReport) -> pd.DataFrame:
    parts = []
    if len(report.coverage_by_team):
        parts.append(report.coverage_by_team.rename(columns={"team": "group"}))
    if len(report.coverage):
        parts.append(report.coverage.drop(columns=["key"]).assign(group="company"))
    if not parts:
        return pd.DataFrame({"note": ["no target for the next period in the targets table"]})
    t = pd.concat(parts, ignore_index=True)
    return pd.DataFrame({"group": t["group"], "open deals": t["open_opportunities"], "amount": t["open_amount"],
                         "weighted pipeline": t["weighted_amount"], "target": t["target"], "coverage": t["coverage"],
                         "unweighted": t["coverage_unweighted"], "status": t["status"]})
