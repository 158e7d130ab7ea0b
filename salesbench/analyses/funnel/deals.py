"""Loading: one row per opportunity from ``stage_history`` and ``opportunities`` (rules: :mod:`.model`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import ibis
import numpy as np
import pandas as pd

from salesbench.core import schema

_DAY = 86_400.0


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


def check_stages(stages: Sequence[str] | None) -> list[str]:
    """The funnel stages as a list (``None`` or empty: :data:`salesbench.core.schema.STAGES`); ``ValueError`` when invalid.

    Valid: at least two distinct names, none of them ``lost`` (the closing stage of lost deals).
    """
    stages = list(stages or schema.STAGES)
    if len(stages) < 2 or len(set(stages)) != len(stages):
        raise ValueError(f"stages must be at least two distinct names, got {stages}")
    if "lost" in stages:
        raise ValueError("'lost' is the closing stage of lost deals and cannot be a funnel stage")
    return stages


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
    Steps: :func:`_scan_history`, :func:`_opportunities`, :func:`_join_people`,
    :func:`_reference_time`, :func:`_derive`.
    """
    stages = check_stages(stages)
    ds.require("opportunities", "stage_history", analysis="funnel")
    # the state at the end of day ``as_of``: later events are ignored
    cutoff = None if as_of is None else (pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)).to_pydatetime()
    sh = ds.table("stage_history").select("opportunity_id", "stage", "entered_at").distinct()
    if cutoff is not None:
        sh = sh.filter(sh.entered_at < cutoff)
    per_opp = _scan_history(sh, stages)
    unknown = unknown_stage_rows(sh, stages)
    o, cols = _opportunities(ds.table("opportunities"), cutoff, start, end)
    j = o.left_join(per_opp, o.opportunity_id == per_opp.opportunity_id).drop("opportunity_id_right")
    j = _join_people(ds, j, cols, segment_column)
    # Arrow -> pandas directly: ibis' to_pandas() converts nullable columns row by row (slow at 10^6 rows)
    # ordered by id: the row order (and every table derived from it) must not depend on the engine
    frame = j.order_by("opportunity_id").to_pyarrow().to_pandas(split_blocks=True, self_destruct=True)
    ref = _reference_time(frame, cutoff)
    return Deals(_derive(frame, stages, ref), stages, ref, unknown)


def _scan_history(sh, stages: list[str]):
    """Per opportunity (in the engine): first entry into each stage, first ``lost``, furthest stage, last event."""
    stage_col = sh.stage.lower().strip()
    idx = ibis.cases(*[(stage_col == s.lower(), i) for i, s in enumerate(stages)], else_=-1)
    sh = sh.mutate(stage_norm=stage_col, idx=idx)
    aggs = {f"entered_{i}": sh.entered_at.min(where=sh.idx == i) for i in range(len(stages))}
    aggs["lost_at"] = sh.entered_at.min(where=sh.stage_norm == "lost")
    aggs["furthest_hist"] = sh.idx.max(where=sh.idx >= 0)
    aggs["last_event_at"] = sh.entered_at.max()
    return sh.group_by("opportunity_id").aggregate(**aggs)


def _opportunities(opp, cutoff, start, end):
    """``(table, columns)``: the opportunities created in the period, as they stood at ``cutoff`` (closes after it reopened)."""
    cols = ["opportunity_id", "created_at", "status"]
    for c in ("rep_id", "customer_id", "amount", "closed_at", "lost_reason", "channel", "stage"):
        if c in opp.columns:
            cols.append(c)
    o = opp.select(*cols)
    if cutoff is not None:
        o = o.filter(o.created_at < cutoff)
        if "closed_at" in cols:
            later = o.closed_at.notnull() & (o.closed_at >= cutoff)
            upd = {"status": ibis.ifelse(later, "open", o.status),
                   "closed_at": ibis.ifelse(later, ibis.null("timestamp"), o.closed_at)}
            if "lost_reason" in cols:
                upd["lost_reason"] = ibis.ifelse(later, ibis.null("string"), o.lost_reason)
            if "stage" in cols:
                upd["stage"] = ibis.ifelse(later, ibis.null("string"), o.stage)
            o = o.mutate(**upd)
    if start is not None:
        o = o.filter(o.created_at >= pd.Timestamp(start).to_pydatetime())
    if end is not None:
        o = o.filter(o.created_at < (pd.Timestamp(end) + pd.Timedelta(days=1)).to_pydatetime())
    return o, cols


def _join_people(ds, j, cols: list[str], segment_column: str):
    """Add the owner's team and region (``reps``) and the customer's segment and channel fallback (``customers``)."""
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
    return j


def _reference_time(frame: pd.DataFrame, cutoff) -> pd.Timestamp:
    """``as_of`` as a moment: the midnight after the ``as_of`` day, else the latest event in the data."""
    if cutoff is not None:
        return pd.Timestamp(cutoff)
    latest = [frame["created_at"].max(), frame["last_event_at"].max()]
    if "closed_at" in frame:
        latest.append(frame["closed_at"].max())
    latest = [t for t in latest if not pd.isna(t)]
    return max(latest) if latest else pd.Timestamp.now()


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


