"""Figures of the performance review (shared palette and status colours).

Every function is ``plot_<thing>(frame, *, ax=None, ...) -> Axes`` on the
frames :class:`~salesbench.analyses.performance.model.PerformanceReview`
learns (``scope_card_``, ``waterfalls_``, ``pvm_previous_``, ``history_``,
``relationships_``); it creates a figure when ``ax`` is None. Colours come
from :mod:`salesbench.viz`: :data:`~salesbench.viz.STATUS` for warning-line
statuses (Okabe–Ito, colour-blind safe), :data:`~salesbench.viz.ACCENT` for
actuals and :data:`~salesbench.viz.TARGET` for targets and lines. The
colour-coded HTML tables are views in
:mod:`salesbench.analyses.performance.report`.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from salesbench import viz
from salesbench.analyses.performance.kpis import kpi_label, kpi_phrase
from salesbench.analyses.performance.periods import period_text
from salesbench.core.i18n import messages

_, ngettext, pgettext = messages(__name__).functions()


# --------------------------------------------------------------------------- attainment bars
def plot_attainment_bars(
    card: pd.DataFrame,
    *,
    lines: Mapping[str, Mapping[str, float]],
    value: str = "revenue_attainment",
    label: str = "rep_id",
    status: str = "status_revenue",
    ax=None,
    cap: float | None = None,
):
    """Horizontal bars of attainment per rep (sorted), coloured by status, with the warning lines.

    Dashed vertical lines mark the red and amber attainment lines, the solid
    dark line 100% of target. Bars beyond ``cap`` are drawn to ``cap`` with the
    value written at the end.
    """
    ax = _status_bars(card, value, label, status, lines["attainment"], ax, cap, pct=True, reference=1.0)
    ax.set_xlabel(_("revenue attainment (actual / target)"))
    return ax


def plot_score_bars(card: pd.DataFrame, *, lines: Mapping[str, Mapping[str, float]], label: str = "rep_id", ax=None):
    """Horizontal bars of the composite score per rep, coloured by score status, with the score lines."""
    ax = _status_bars(card, "score", label, "score_status", lines["score"], ax, None, pct=False, reference=None)
    ax.set_xlabel(_("composite score (points)"))
    return ax


def plot_overview(card: pd.DataFrame, *, lines: Mapping[str, Mapping[str, float]], period: str, ax=None):
    """The first-screen figure: revenue attainment per rep when targets exist, else the score per rep.

    ``card`` is the scorecard (``scope_card_``), ``period`` the review period's label for the title.
    """
    if "revenue_attainment" in card.columns and card["revenue_attainment"].notna().any():
        ax = plot_attainment_bars(card, lines=lines, ax=ax, cap=1.6)
        ax.set_title(_("Revenue attainment per rep, {period}", period=period))
    else:
        ax = plot_score_bars(card, lines=lines, ax=ax)
        ax.set_title(_("Score per rep, {period} (no revenue targets in the data)", period=period))
    return ax


def _status_bars(card, value, label, status, line, ax, cap, pct, reference):
    df = card.dropna(subset=[value]).sort_values(value)
    n = len(df)
    ax = ax or plt.subplots(figsize=(8, max(3.0, 0.22 * n + 1)))[1]
    colors = [viz.status_color(s) for s in (df[status] if status in df.columns else ["grey"] * n)]
    vals = df[value].to_numpy(dtype=float)
    shown = np.minimum(vals, cap) if cap else vals
    y = np.arange(n)
    ax.barh(y, shown, color=colors, height=0.7)
    ax.set_yticks(y)
    ax.set_yticklabels(df[label].astype(str), fontsize=8 if n > 20 else 10)
    fmt = viz.fmt_pct if pct else (lambda v: f"{v:g}")
    ax.axvline(line["red"], color=viz.STATUS["red"], ls="--", lw=1.2, label=_("red line {value}", value=fmt(line["red"])))
    ax.axvline(line["amber"], color=viz.STATUS["amber"], ls="--", lw=1.2, label=_("amber line {value}", value=fmt(line["amber"])))
    if reference is not None:
        ax.axvline(reference, color=viz.TARGET, lw=1.2, label=_("target"))
    if cap:
        for yi, v, sh in zip(y, vals, shown):
            if v > sh:
                ax.text(sh, yi, f" {fmt(v)}", va="center", fontsize=8)
    if pct:
        viz.pct_axis(ax, "x")
    ax.set_ylim(-0.6, n - 0.4)
    ax.legend(loc="lower right", fontsize=8)
    return ax


# --------------------------------------------------------------------------- waterfalls
def _bridge(ax, labels, starts, ends, colors, annotate=True):
    x = np.arange(len(labels))
    bottoms = np.minimum(starts, ends)
    heights = np.abs(np.asarray(ends) - np.asarray(starts))
    ax.bar(x, heights, bottom=bottoms, color=colors, width=0.65)
    for i in range(len(labels) - 1):
        ax.plot([x[i] + 0.33, x[i + 1] - 0.33], [ends[i], ends[i]], color=viz.MUTED, lw=0.8)
    if annotate:
        for xi, s, e in zip(x, starts, ends):
            d = e - s
            txt = viz.fmt_money(e) if s == 0 else ("+" if d >= 0 else "") + viz.fmt_money(d)
            ax.text(xi, max(s, e), txt, ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=30 if len(labels) > 6 else 0, ha="right" if len(labels) > 6 else "center")
    viz.money_axis(ax)
    return ax


def plot_gap_waterfall(wf: pd.DataFrame, *, ax=None, title: str | None = None):
    """Waterfall of :func:`salesbench.analyses.performance.variance.gap_waterfall`: target → contributions → actual.

    Shortfalls are vermillion, surpluses bluish green (the status colours),
    the target dark grey and the actual in the accent blue. The y axis starts
    near the smaller of target and actual so the steps are visible.
    """
    ax = ax or plt.subplots(figsize=(8, 4))[1]
    colors = []
    for kind, d in zip(wf["kind"], wf["delta"]):
        if kind == "target":
            colors.append(viz.TARGET)
        elif kind == "actual":
            colors.append(viz.ACCENT)
        elif kind == "other":
            colors.append(viz.MUTED)
        else:
            colors.append(viz.STATUS["red"] if d < 0 else viz.STATUS["green"])
    shown = {"target": _("Target"), "actual": _("Actual"), "other": _("Not allocated")}
    labels = [shown[k] if k in shown else lab for k, lab in zip(wf["kind"], wf["label"])]
    _bridge(ax, labels, wf["start"].to_numpy(float), wf["end"].to_numpy(float), colors)
    lo = float(min(wf["start"][wf["kind"] == "child"].min(), wf["end"].min(), wf["end"].iloc[0]))
    hi = float(max(wf["end"].max(), wf["start"].max()))
    pad = (hi - lo) * 0.6 or abs(hi) * 0.05
    ax.set_ylim(max(0.0, lo - pad), hi + pad * 0.4)
    ax.set_ylabel(_("revenue"))
    if title:
        ax.set_title(title)
    return ax


def plot_pvm_bridge(pvm: pd.DataFrame, *, base_label: str, current_label: str, ax=None, title: str | None = None,
                    target_base: bool | None = None):
    """Bridge base revenue → volume → mix → price → current revenue (the ``Total`` row of a PVM frame).

    The base bar is dark grey when the base is the target (``target_base``; None: ``base_label`` says "target").
    """
    ax = ax or plt.subplots(figsize=(8, 4))[1]
    tot = pvm[pvm.iloc[:, 0] == "Total"].iloc[0]
    r0 = float(tot["revenue_base"])
    steps = [float(tot["volume"]), float(tot["mix"]), float(tot["price"])]
    starts = [0.0, r0, r0 + steps[0], r0 + steps[0] + steps[1], 0.0]
    ends = [r0, r0 + steps[0], r0 + steps[0] + steps[1], r0 + sum(steps), float(tot["revenue_current"])]
    if target_base is None:
        target_base = "target" in base_label.lower() or base_label == _("target")
    colors = [viz.TARGET if target_base else viz.MUTED] + [
        viz.STATUS["red"] if s < 0 else viz.STATUS["green"] for s in steps
    ] + [viz.ACCENT]
    _bridge(ax, [base_label, _("volume"), _("mix"), _("price"), current_label], np.array(starts), np.array(ends), colors)
    vals = np.array(ends + starts[1:4])
    lo, hi = float(vals.min()), float(vals.max())
    pad = (hi - lo) * 0.6 or abs(hi) * 0.05
    ax.set_ylim(max(0.0, lo - pad), hi + pad * 0.4)
    if title:
        ax.set_title(title)
    return ax


# --------------------------------------------------------------------------- trend sparklines
def plot_sparklines(
    history: pd.DataFrame,
    *,
    rep_ids: Iterable[str],
    value: str = "revenue_attainment",
    lines: Mapping[str, Mapping[str, float]] | None = None,
    ncols: int = 5,
    ymax: float = 2.0,
    ax=None,
):
    """Small multiples in one axes: a sparkline per rep of ``value`` over the trend periods.

    Each rep gets a cell (``ncols`` per row) with its name, the line of
    ``value`` by period, the 100% line and, for attainment, faint red/amber
    bands below the warning lines; the last point is coloured by the rep's
    status in that period. Values are clipped to ``[0, ymax]`` (attainment:
    200%). Drawing all cells in one axes keeps a 40-rep grid fast.
    Returns ``ax``.
    """
    ids = list(rep_ids)
    if value not in history.columns or not history[value].notna().any():
        value = "score"
    periods = sorted(history["period"].unique())
    n_per = max(len(periods), 2)
    xpos = {p: i for i, p in enumerate(periods)}
    nrows = max(int(np.ceil(len(ids) / ncols)), 1)
    if ax is None:
        ax = plt.subplots(figsize=(1.75 * ncols, 0.9 * nrows + 0.4))[1]
    w, h = 1.0, 1.0  # cell size in axes data units
    is_att = value.endswith("_attainment")
    top = ymax if is_att else float(np.nanmax(history[value].to_numpy(dtype=float)) or 1.0)
    for i, rid in enumerate(ids):
        col, row = i % ncols, i // ncols
        x0, y0 = col * (w + 0.15), -row * (h + 0.45)
        sx = lambda x: x0 + 0.05 * w + 0.9 * w * np.asarray(x, dtype=float) / (n_per - 1)  # noqa: E731
        sy = lambda y: y0 + 0.8 * h * np.clip(np.asarray(y, dtype=float), 0, top) / top  # noqa: E731
        if is_att and lines:
            att = lines["attainment"]
            ax.fill_between([x0, x0 + w], sy(0), sy(att["red"]), color=viz.STATUS["red"], alpha=0.10, lw=0)
            ax.fill_between([x0, x0 + w], sy(att["red"]), sy(att["amber"]), color=viz.STATUS["amber"], alpha=0.10, lw=0)
            ax.plot([x0, x0 + w], [sy(1.0), sy(1.0)], color=viz.TARGET, lw=0.6)
        ax.plot([x0, x0 + w], [y0, y0], color=viz.MUTED, lw=0.6)
        hh = history[history["rep_id"] == rid].sort_values("period")
        name = str(hh["name"].iloc[0]) if "name" in hh.columns and len(hh) and pd.notna(hh["name"].iloc[0]) else str(rid)
        ax.text(x0, y0 + 0.95 * h, name, fontsize=7, va="top", ha="left")
        ok = hh[value].notna()
        if ok.any():
            xs = sx(hh.loc[ok, "period"].map(xpos).to_numpy())
            ys = sy(hh.loc[ok, value].to_numpy(dtype=float))
            ax.plot(xs, ys, color=viz.ACCENT, lw=1.2)
            last = hh.loc[ok].iloc[-1]
            ax.scatter([xs[-1]], [ys[-1]], s=14, zorder=3, color=viz.status_color(last.get("status", "grey")))
    ax.set_axis_off()
    ax.set_xlim(-0.05, ncols * (w + 0.15))
    ax.set_ylim(-(nrows - 1) * (h + 0.45) - 0.1, h + 0.05)
    if len(periods):
        span = dict(first=period_text(periods[0]), last=period_text(periods[-1]))
        if is_att:
            title = _("revenue attainment (line at 100%, bands below the warning lines, clipped at {top}), "
                      "{first} – {last}", top=viz.fmt_pct(top), **span)
        elif value == "score":
            title = _("score, {first} – {last}", **span)
        else:
            title = _("{what}, {first} – {last}", what=value, **span)
        ax.set_title(title, fontsize=9, fontweight="normal")
    return ax


# --------------------------------------------------------------------------- relationships
def plot_relationships(rel: pd.DataFrame, *, ax=None):
    """Forest plot of Spearman correlations with their confidence intervals (zero line dashed)."""
    ax = ax or plt.subplots(figsize=(8, 0.6 * max(len(rel), 1) + 1.2))[1]
    df = rel.dropna(subset=["rho"])
    if "x" in df.columns and "y" in df.columns:
        df = df.assign(pair=[_("{x} vs {y}", x=kpi_label(x), y=kpi_phrase(y)) for x, y in zip(df["x"], df["y"])])
    else:
        df = df.assign(pair=lambda d: d["x_label"] + " vs " + d["y_label"].str.lower())
    if df.empty:
        ax.text(0.5, 0.5, _("no KPI pair has enough reps with data"), ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    viz.interval_plot(df, "pair", "rho", "lo", "hi", ax=ax, reference=0.0)
    ax.set_xlim(-1, 1)
    ax.set_xlabel(_("Spearman correlation across reps (95% interval)"))
    return ax
