"""Wording, tables and publishing of the sales forecast report: headline cards, sentences, table views with
their formats, method notes, the figures as the notebook shows them, and ``forecasting.results.json`` / CSVs.

Every function takes a fitted :class:`~salesbench.analyses.forecasting.model.SalesForecast`. Where the data
cannot give a figure or table (no dimensions, no targets, no product lines), the ``show_*`` function returns
the sentence to show instead and the matching ``*_view`` returns None (nothing displayed).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from salesbench import viz
from salesbench.analyses.forecasting import plots
from salesbench.analyses.forecasting.backtest import COMBINATION_MEMBERS, MARGIN, MODEL_LABELS
from salesbench.analyses.forecasting.model import SalesForecast
from salesbench.analyses.forecasting.series import TOTAL, top_series, usable_drivers
from salesbench.analyses.forecasting.targets import period_sum
from salesbench.core import i18n
from salesbench.core.i18n import NP_, messages
from salesbench.core.said import shown

_, ngettext, pgettext = messages(__name__).functions()


# =========================================================================== formats
def _money(v):
    return viz.fmt_money(v)


def _pct(v):
    return viz.fmt_pct(v)


def _pct1(v):
    return viz.fmt_pct(v, 1)


def _prob(v):
    """Probability as a percentage that never rounds to a false certainty (">99%", "<1%")."""
    if v is None or not np.isfinite(v):
        return "–"
    return ">99%" if v > 0.99 else "<1%" if v < 0.01 else viz.fmt_pct(v)


def _diff(v):
    return _money(0.0 if v is not None and np.isfinite(v) and abs(v) < 0.5 else v)


def _two(v):
    return "–" if v is None or not np.isfinite(v) else f"{v:.2f}"


#: show_table formats for forecast / gap tables and for backtest score tables.
FORECAST_FORMATS = {"mean": _money, "lo80": _money, "hi80": _money, "lo95": _money, "hi95": _money,
                    "target": _money, "gap": _money, "actual": _money, "gap_pct": _pct1, "prob_reach": _prob,
                    "sum_of_children": _money, "difference": _diff}
#: show_table formats for the lifecycle table.
LIFECYCLE_FORMATS = {"revenue_last_12m": _money, "revenue_prev_12m": _money, "growth": _pct,
                     "relative_growth": _pct, "share": _pct}
SCORE_FORMATS = {"mase": _two, "mase_seasonal_naive": _two, "wape": _pct1, "bias": _pct1, "accuracy": _pct1,
                 "coverage_80": _pct, "coverage_95": _pct, "beats_baseline": _pct}


def _label(model: str) -> str:
    """A model key in words (:data:`MODEL_LABELS`), in the report's language."""
    return messages(__name__).label("model", MODEL_LABELS.get(model, model))


#: the metrics in words, for extraction (:func:`_metric`)
_METRICS = [NP_("metric", "revenue"), NP_("metric", "orders"), NP_("metric", "repeat orders"),
            NP_("metric", "Revenue"), NP_("metric", "Orders"), NP_("metric", "Repeat orders")]
#: hierarchy levels and dimensions in words (:func:`level_name`)
_LEVELS = [NP_("level", "total"), NP_("level", "region"), NP_("level", "product_line"), NP_("level", "channel")]
#: lifecycle stages (:func:`stage_name`)
_STAGES = [NP_("stage", "introduction"), NP_("stage", "growth"), NP_("stage", "maturity"), NP_("stage", "decline")]
#: the column names of the tables as shown (:func:`_headers`)
_COLUMNS = [NP_("column", "series"), NP_("column", "period"), NP_("column", "mean"), NP_("column", "lo80"),
            NP_("column", "hi80"), NP_("column", "lo95"), NP_("column", "hi95"), NP_("column", "target"),
            NP_("column", "gap"), NP_("column", "gap_pct"), NP_("column", "prob_reach"), NP_("column", "actual"),
            NP_("column", "model"), NP_("column", "mase"), NP_("column", "wape"), NP_("column", "accuracy"),
            NP_("column", "bias"), NP_("column", "coverage_80"), NP_("column", "coverage_95"),
            NP_("column", "level"), NP_("column", "mase_seasonal_naive"), NP_("column", "beats_baseline"),
            NP_("column", "models chosen"), NP_("column", "chosen"), NP_("column", "dimension"),
            NP_("column", "sum_of_children"), NP_("column", "difference"), NP_("column", "product_line"),
            NP_("column", "revenue_last_12m"), NP_("column", "revenue_prev_12m"),
            NP_("column", "first_month"), NP_("column", "age_months"), NP_("column", "growth"),
            NP_("column", "relative_growth"), NP_("column", "share"), NP_("column", "stage"),
            NP_("column", "region"), NP_("column", "channel")]


def _metric(f: SalesForecast, capital: bool = False) -> str:
    """The forecast metric in words (``revenue``, ``repeat orders``), in the report's language."""
    word = f.metric.replace("_", " ")
    return messages(__name__).label("metric", word.capitalize() if capital else word)


def level_name(level: str) -> str:
    """A hierarchy level (``"total"``, ``"region/product_line"``) in the report's language."""
    return " × ".join(messages(__name__).label("level", p) for p in str(level).split("/")) if i18n.is_cjk() else level


def stage_name(stage: str) -> str:
    """A lifecycle stage in the report's language."""
    return messages(__name__).label("stage", stage)


def series_name(uid: str) -> str:
    """A series id as shown: the total in words, other ids (region names, ...) as the data spells them."""
    return _("Total") if uid == TOTAL else uid


def _headers(frame: pd.DataFrame) -> dict[str, str]:
    """The shown header of each column (the tables keep their canonical column names)."""
    return {c: pgettext("column", c) for c in frame.columns}


def _table(frame: pd.DataFrame, formats: dict, **kwargs):
    """``viz.show_table`` with headers and category labels in the report's language."""
    formats = dict(formats)
    for col, fn in (("level", level_name), ("dimension", level_name), ("stage", stage_name),
                    ("series", series_name), ("period", viz.fmt_date)):
        if col in frame.columns and col not in formats:
            formats[col] = fn
    if i18n.is_cjk() and "first_month" in frame.columns:
        formats["first_month"] = viz.fmt_month
    return viz.show_table(frame, formats=formats, headers=_headers(frame), **kwargs)



def headline_cards(f: SalesForecast) -> list[dict]:
    """The first screen: next quarter (or horizon) forecast, accuracy, chance to reach target, chosen model."""
    cards = []
    q = f.quarter_
    tot = f.forecast_[f.forecast_["unique_id"] == TOTAL].sort_values("ds")
    if q is not None:
        cards.append({"label": _("{period} {metric} forecast", period=viz.fmt_period(q["label"]), metric=_metric(f)),
                      "value": viz.fmt_money(q["mean"]),
                      "sub": _("80% interval {lo}–{hi}", lo=viz.fmt_money(q['lo80']), hi=viz.fmt_money(q['hi80'])),
                      "raw": q["mean"]})
    else:
        s = period_sum(tot)
        cards.append({"label": _("Next {n} periods forecast", n=len(tot)), "value": viz.fmt_money(s["mean"]),
                      "sub": _("80% interval {lo}–{hi}", lo=viz.fmt_money(s['lo80']), hi=viz.fmt_money(s['hi80'])),
                      "raw": s["mean"]})
    acc = f.accuracy_total()
    cards.append({"label": _("Forecast accuracy (1 − WAPE)"), "value": viz.fmt_pct(acc),
                  "sub": shown(f.accuracy_basis()),
                  "status": "green" if acc >= 0.9 else "amber" if acc >= 0.8 else "red", "raw": acc})
    if q is not None and q.get("prob_reach") is not None:
        p = q["prob_reach"]
        cards.append({"label": _("Chance to reach {period} target", period=viz.fmt_period(q["label"])), "value": _prob(p),
                      "sub": _("target {value}", value=viz.fmt_money(q['target'])), "raw": p,
                      "status": "green" if p >= 0.5 else "amber" if p >= 0.2 else "red"})
    elif not f.gap_.empty:
        g = f.gap_[f.gap_["unique_id"] == TOTAL]
        if len(g):
            p = float(g["prob_reach"].iloc[0])
            cards.append({"label": _("Chance to reach {period} target", period=viz.fmt_month(g['ds'].iloc[0])),
                          "value": _prob(p), "raw": p,
                          "status": "green" if p >= 0.5 else "amber" if p >= 0.2 else "red"})
    base = f.backtest_total()["seasonal_naive"]["mase"]
    best = f.backtest_total()[f.chosen_total]["mase"]
    cards.append({"label": _("Model for the total"), "value": _label(f.chosen_total),
                  "sub": _("MASE {best} vs {base} seasonal naive (all {n} backtest origins, before reconciliation)",
                           best=format(best, ".2f"), base=format(base, ".2f"), n=f.bt_.n_origins)})
    return cards


# =========================================================================== sentences
def sentences(f: SalesForecast) -> list[str]:
    """Generated sentences with the numbers of the first screen (forecast, accuracy, partial periods, targets)."""
    out = [forecast_sentence(f), accuracy_sentence(f)]
    if f.series_.dropped_periods:
        periods = _(", ").join(str(d) for d in f.series_.dropped_periods)
        out.append(_("Left out as partial: {periods}.", periods=periods))
    return out + target_sentences(f)


def _what(f: SalesForecast) -> tuple[str, object]:
    """The metric in words (capitalised) and its number format."""
    return _metric(f, capital=True), (viz.fmt_money if f.metric == "revenue" else (lambda v: viz.fmt_num(v)))


def forecast_sentence(f: SalesForecast) -> str:
    """The next quarter's (or the horizon's) forecast with its 80% interval and chance to reach target."""
    _what_word, fmt = _what(f)
    q = f.quarter_
    if q is not None:
        fields = dict(period=viz.fmt_period(q["label"]), metric=_metric(f), mean=fmt(q['mean']), lo=fmt(q['lo80']),
                      hi=fmt(q['hi80']))
        if q.get("prob_reach") is not None:
            return _("{period} {metric} is forecast at {mean} (80% interval {lo}–{hi}), {prob} likely to reach the "
                     "target of {target}.", prob=_prob(q['prob_reach']), target=fmt(q['target']), **fields)
        return _("{period} {metric} is forecast at {mean} (80% interval {lo}–{hi}).", **fields)
    tot = f.forecast_[f.forecast_["unique_id"] == TOTAL].sort_values("ds")
    s = period_sum(tot)
    return _("{metric} over the next {n} periods is forecast at {mean} (80% interval {lo}–{hi}).",
             metric=_what_word, n=len(tot), mean=fmt(s['mean']), lo=fmt(s['lo80']), hi=fmt(s['hi80']))


def accuracy_sentence(f: SalesForecast) -> str:
    """How accurate the total's model was in the backtest (held out when origins allow) and its interval coverage."""
    bt = f.backtest_total()
    h = f.honest_total()
    if h is not None:
        fields = dict(model=_label(f.chosen_total), n_choice=f.bt_.n_origins - f.bt_.n_eval, n_eval=f.bt_.n_eval,
                      accuracy=viz.fmt_pct(f.accuracy_total()), mase=format(h['mase'], ".2f"),
                      base=format(bt['seasonal_naive']['mase'], ".2f"), coverage=viz.fmt_pct(h['coverage_80']))
        if 'reconciliation' in f.accuracy_basis():
            return _("The forecast for the total uses the {model} model. Choosing the model on the first {n_choice} "
                     "backtest origins and forecasting from the last {n_eval} was {accuracy} accurate after "
                     "reconciliation (MASE {mase}; seasonal naive {base} over all origins) and its calibrated 80% "
                     "intervals held {coverage} of the actuals.", **fields)
        return _("The forecast for the total uses the {model} model. Choosing the model on the first {n_choice} "
                 "backtest origins and forecasting from the last {n_eval} was {accuracy} accurate (MASE {mase}; "
                 "seasonal naive {base} over all origins) and its calibrated 80% intervals held {coverage} of the "
                 "actuals.", **fields)
    return _("Measured on the last {n} forecast origins, the {model} model was {accuracy} accurate on the total (MASE "
             "{mase} against {base} for the seasonal naive baseline) and its 80% intervals held {coverage} of the "
             "actuals; with one origin the accuracy is measured on the same origin that chose the model.",
             n=f.bt_.n_origins, model=_label(f.chosen_total), accuracy=viz.fmt_pct(f.accuracy_total()),
             mase=format(bt[f.chosen_total]['mase'], ".2f"), base=format(bt['seasonal_naive']['mase'], ".2f"),
             coverage=viz.fmt_pct(bt[f.chosen_total]['coverage_80']))


def target_sentences(f: SalesForecast) -> list[str]:
    """Why there is no gap to target, when there is none (no targets table, not revenue, weekly, no overlap)."""
    if f.targets_ is None:
        return [_("The data has no targets table, so there is no gap to target.") if f.metric == "revenue" else
                _("Targets are revenue targets; a forecast of {metric} is not compared with them.", metric=_metric(f))]
    if f.frequency != "M":
        return [_("Targets are monthly; this weekly forecast is not compared with them.")]
    if f.gap_.empty:
        last = f.targets_["period"].max()
        return [_("Targets run to {month}; the forecast periods have none yet, so no gap to target is shown.",
                  month=viz.fmt_month(last))]
    return []


# =========================================================================== results.json and CSVs
def publish(f: SalesForecast, res) -> None:
    """Record results.json values, headline figures and CSV exports on ``res`` (a Results), then save it."""
    res.set(**f.results())
    if not f.lifecycle_.empty:
        res.table("lifecycle", f.lifecycle_)
    res.headline_cards(lambda: headline_cards(f), 4)  # English keys and raw values; labels, texts as shown
    res.table("forecast", f.forecast_)
    res.table("selection", f.selection_table())
    res.table("backtest_scores", f.bt_.scores)
    if not f.gap_.empty:
        res.table("target_gap", f.gap_)
    res.save()


# =========================================================================== tables
def forecast_table(f: SalesForecast, level: str) -> pd.DataFrame:
    """Reconciled forecasts of one level's series (period as YYYY-MM-DD), for display."""
    ids = set(f.series_.tags.get(level, []))
    t = f.forecast_[f.forecast_["unique_id"].isin(ids)].copy()
    t["period"] = t["ds"].dt.date
    t["model"] = t["base_model"].map(_label)
    return t[["unique_id", "period", "mean", "lo80", "hi80", "model"]].rename(columns={"unique_id": level})


def selection_display(f: SalesForecast) -> pd.DataFrame:
    """:meth:`SalesForecast.selection_table` with model names spelled out, for display."""
    t = f.selection_table().drop(columns="depth")
    t["chosen"] = t["chosen"].map(_label)
    return t.rename(columns={"unique_id": "series"})


def gap_table(f: SalesForecast) -> pd.DataFrame:
    """Forecast vs target rows for display."""
    t = f.gap_.copy()
    t["period"] = t["ds"].dt.date
    cols = ["unique_id", "period", "mean", "lo80", "hi80", "target", "gap", "gap_pct", "prob_reach"]
    if t["actual"].notna().any():
        cols.append("actual")
    t = t.assign(_o=t["unique_id"] != TOTAL).sort_values(["_o", "unique_id", "ds"])
    return t[cols].rename(columns={"unique_id": "series"})


def total_backtest_table(f: SalesForecast) -> pd.DataFrame:
    """Backtest scores of every model on the total series, with accuracy = 1 − WAPE."""
    t = f.bt_.total_table()
    t["accuracy"] = 1 - t["wape"]
    t["model"] = [_("{model} (chosen)", model=_label(m)) if c else _label(m) for m, c in zip(t["model"], t["chosen"])]
    return t[["model", "mase", "wape", "accuracy", "bias", "coverage_80", "coverage_95"]]


def level_table(f: SalesForecast) -> pd.DataFrame:
    """Per level: chosen models' backtest error against seasonal naive and how often they beat it."""
    lv = f.levels_
    ch = lv[lv["model"] == "chosen"].set_index("level")
    sn = lv[lv["model"] == "seasonal_naive"].set_index("level")
    out = pd.DataFrame({
        "level": ch.index, "series": ch["n_series"].to_numpy(), "mase": ch["mase"].to_numpy(),
        "mase_seasonal_naive": sn.loc[ch.index, "mase"].to_numpy(), "wape": ch["wape"].to_numpy(),
        "bias": ch["bias"].to_numpy(), "coverage_80": ch["coverage_80"].to_numpy(),
        "coverage_95": ch["coverage_95"].to_numpy(), "beats_baseline": ch["beats_baseline"].to_numpy(),
    })
    counts = pd.Series(f.bt_.chosen).rename("model").to_frame().join(f.series_.meta.set_index("unique_id")["level"])
    sep = _(", ")
    mix = counts.groupby("level")["model"].agg(lambda s: sep.join(f"{_label(k)} {v}" for k, v in s.value_counts().items()))
    out["models chosen"] = out["level"].map(mix)
    return out


def coherence_table(f: SalesForecast) -> pd.DataFrame:
    """Total forecast next to the sum of each first-level dimension's series, per period."""
    tot = f.forecast_[f.forecast_["unique_id"] == TOTAL].set_index("ds")["mean"]
    rows = []
    for dim in f.series_.dimensions:
        ids = set(f.series_.tags[dim])
        s = f.forecast_[f.forecast_["unique_id"].isin(ids)].groupby("ds")["mean"].sum()
        for d, v in s.items():
            rows.append({"period": d.date(), "dimension": dim, "mean": tot[d], "sum_of_children": v,
                         "difference": v - tot[d]})
    return pd.DataFrame(rows)


def coherence_sentence(f: SalesForecast) -> str:
    if f.reconciliation_used_ == "none":
        return shown(f.reconciliation_note_)
    return _("Reconciliation: {method} over {n} series ({n_bottom} bottom series); the largest gap between a parent and "
             "the sum of its children is {gap} of the parent.", method=shown(f.reconciliation_label()),
             n=f.series_.n_series, n_bottom=len(f.series_.bottom_ids), gap=format(f.coherence_, ".1e"))



# =========================================================================== views (formatted tables)
def forecast_view(f: SalesForecast):
    """Reconciled forecasts of the first dimension's series, formatted; None without dimensions."""
    if not f.series_.dimensions:
        return None
    return _table(forecast_table(f, f.series_.dimensions[0]), FORECAST_FORMATS)


def gap_view(f: SalesForecast):
    """Forecast against target, formatted; None without a gap to target."""
    return None if f.gap_.empty else _table(gap_table(f), FORECAST_FORMATS)


def total_backtest_view(f: SalesForecast):
    return _table(total_backtest_table(f), SCORE_FORMATS, caption=_("Total series"))


def level_view(f: SalesForecast):
    return _table(level_table(f), SCORE_FORMATS, caption=_("Chosen models per level"))


def selection_view(f: SalesForecast):
    return _table(selection_display(f), SCORE_FORMATS, max_rows=20)


def coherence_view(f: SalesForecast):
    return _table(coherence_table(f), FORECAST_FORMATS)


def lifecycle_view(f: SalesForecast):
    """The lifecycle table, formatted; None without product lines."""
    return None if f.lifecycle_.empty else _table(f.lifecycle_, LIFECYCLE_FORMATS)


# =========================================================================== figures as the notebook shows them
def _shown(ax):
    """The figure of ``ax`` for display as a cell's result (closed, so Jupyter shows it once)."""
    fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
    plt.close(fig)
    return fig


def show_total_fan(f: SalesForecast):
    """The total's history and forecast fan (a figure)."""
    args, kwargs = figure_inputs(f)["plot_fan"]
    return _shown(plots.plot_fan(*args, **kwargs))


def show_segment_fans(f: SalesForecast):
    """Fan charts of the largest ``top_series`` series of the first dimension, or the sentence why there are none."""
    if not f.series_.dimensions:
        return viz.narrative(no_dimensions_sentence(f))
    ids = top_series(f.series_.Y, f.series_.meta, f.series_.dimensions[0], f.top_series)
    return _shown(plots.fan_grid(f.series_.Y, f.forecast_, ids, targets=f.gap_, holdout=f.series_.holdout))


def show_target_gap(f: SalesForecast):
    """The total's forecast against target (a figure), or the sentences why there is no gap to target."""
    if f.gap_.empty:
        return viz.narrative(*(target_sentences(f) or [_("No targets to compare with.")]))
    return _shown(plots.plot_target_gap(f.gap_))


def show_backtest_errors(f: SalesForecast):
    return _shown(plots.plot_backtest_errors(f.levels_))


def show_lifecycle(f: SalesForecast):
    """Product lifecycle stages (a figure), or the sentence why there are none."""
    if f.lifecycle_.empty:
        return viz.narrative(no_product_lines_sentence(f))
    return _shown(plots.plot_lifecycle(f.lifecycle_))


def no_dimensions_sentence(f: SalesForecast) -> str:
    return _("The data has no region, product line or channel: only the total is forecast.")


def no_product_lines_sentence(f: SalesForecast) -> str:
    return _("The data has no product lines (products table): no lifecycle view.")


def figure_inputs(f: SalesForecast) -> dict[str, tuple[tuple, dict]]:
    """``plot_* name → (args, kwargs)`` for every figure of :mod:`salesbench.analyses.forecasting.plots`
    (the contract test draws each; the ``show_*`` functions use the same inputs)."""
    s = f.series_
    gap = f.gap_
    return {
        "plot_fan": ((s.Y, f.forecast_), dict(uid=TOTAL, targets=gap, holdout=s.holdout, money=f.metric == "revenue",
                                             title=_("Total {metric}: history and forecast", metric=_metric(f)))),
        "plot_backtest_errors": ((f.levels_,), {}),
        "plot_target_gap": ((gap if not gap.empty else _example_gap(f),), {}),
        "plot_lifecycle": ((f.lifecycle_,), {}),
    }


def _example_gap(f: SalesForecast) -> pd.DataFrame:
    """Without targets: the total's forecast against itself as target (only for drawing the figure in tests)."""
    t = f.forecast_[f.forecast_["unique_id"] == TOTAL].copy()
    return t.assign(target=t["mean"], gap=0.0, gap_pct=0.0, prob_reach=0.5, actual=np.nan)


# =========================================================================== method notes
def method_notes(f: SalesForecast) -> list[str]:
    """Plain-language notes on data and method for the last section."""
    s = f.series_
    sep = _(", ")
    models = sep.join(_label(m) for m in f.bt_.models)
    notes = [
        _("History: {start} to {end} ({n} periods, frequency {frequency}, season length {m}); missing periods are "
          "zero-filled.", start=viz.fmt_date(s.Y['ds'].min()), end=viz.fmt_date(s.Y['ds'].max()),
          n=s.Y['ds'].nunique(), frequency=s.frequency, m=s.season_length),
        _("Models: {models} (statsforecast); series combining {depth} or more dimensions are tried with {deep} only.",
          models=models, depth=f.deep_depth, deep=sep.join(_label(m) for m in f.deep_models))
        if f.deep_depth is not None else _("Models: {models} (statsforecast).", models=models),
        _("Backtest: {n} rolling origins × {h} periods, {seconds} s.", n=f.bt_.n_origins, h=f.horizon,
          seconds=format(f.bt_.seconds, ".0f")),
    ]
    tot = f.nested_[f.nested_["level"] == "total"]
    if len(tot):
        r = tot.iloc[0]
        notes.append(_(
            "Scores in the backtest tables come from the same origins that made the choice, which flatters it; "
            "the headline accuracy does not (chosen on the earlier origins, scored on the later). Chosen on the "
            "earlier origins only and scored on the last two, the total's MASE is {mase} against {base} for seasonal "
            "naive; across all series the nested choice beats seasonal naive in {share} of series.",
            mase=format(r['mase_nested_choice'], ".2f"), base=format(r['mase_seasonal_naive'], ".2f"),
            share=_pct((f.nested_['beats_baseline'] * f.nested_['n_series']).sum() / f.nested_['n_series'].sum())))
    drivers = usable_drivers(s)
    if "arimax" in f.bt_.models:
        fields = dict(drivers=", ".join(drivers))
        notes.append(
            _("ARIMA + drivers uses {drivers}. For the periods it forecasts it gets the planned calendar where the plan "
              "gives it, else the values of the same period a year earlier — in the backtest exactly as in the "
              "forecast, so its backtest accuracy is the one to expect.", **fields) if s.plan is not None else
            _("ARIMA + drivers uses {drivers}. For the periods it forecasts it gets the values of the same period a "
              "year earlier — in the backtest exactly as in the forecast, so its backtest accuracy is the one to "
              "expect.", **fields))
    if "combination" in f.bt_.models:
        notes.append(_(
            "The combination is the median of the member models' forecasts and interval bounds ({members}); a single "
            "model replaces it only when its backtest MASE is more than {margin} lower. Interval widths are "
            "calibrated on the backtest errors (80%: ×{factors}).",
            members=sep.join(_label(m) for m in COMBINATION_MEMBERS if m in f.bt_.models), margin=format(MARGIN, ".0%"),
            factors=sep.join(f"{f.bt_.factors.get(m, {}).get(80, 1.0):.2f} {_label(m)}"
                             for m in sorted(set(f.bt_.chosen.values())))))
    if f.reconciliation_note_:
        notes.append(shown(f.reconciliation_note_))
    k = f.reconciled_factors_
    if k:
        cov = f.honest_coverage()
        factors = sep.join(f"{d.get(80, 1.0):.2f} {level_name(lv)}" for lv, d in k.items())
        if "shown" in cov and "reconciled" in cov and "total_80" in cov["shown"]:
            notes.append(_(
                "Reconciled intervals come from a normal approximation that ignores how the base models err; the "
                "intervals shown are stretched per level by the conformal factor of the reconciled backtest "
                "forecasts' errors (80%: ×{factors}). Chosen and calibrated on the earlier origins, the total's 80% "
                "interval held {held} of the later origins' actuals (reconciled intervals without this step: "
                "{without}).", factors=factors, held=_pct(cov['shown']['total_80']),
                without=_pct(cov['reconciled']['total_80'])))
        else:
            notes.append(_(
                "Reconciled intervals come from a normal approximation that ignores how the base models err; the "
                "intervals shown are stretched per level by the conformal factor of the reconciled backtest "
                "forecasts' errors (80%: ×{factors}).", factors=factors))
    elif f.reconciliation_used_ != "none":
        notes.append(_("The reconciled intervals are shown as reconciliation gives them: the backtest could not be "
                       "reconciled origin by origin, so they are not calibrated on their own backtest errors."))
    if f.bt_.skipped:
        notes.append(_("ARIMA + drivers was not run: the data has no usable promotion or discount columns."))
    if f.quarter_ is not None:
        def pooled(cov):
            return float((cov["coverage_80"] * cov["n"]).sum() / cov["n"].sum()) if len(cov) else float("nan")

        notes.append(_(
            "Quarter totals add the months' forecasts. Their spread allows for forecast errors that persist from "
            "month to month: the correlation between a backtest origin's errors at different horizons is {rho}. In "
            "the backtest, 80% intervals of {h}-period sums built this way held {held} of the actual sums over all "
            "series (estimate and check use the same backtest); assuming independent months they would have held "
            "{independent}.", rho=format(f.rho_, ".2f"), h=f.horizon, held=_pct(pooled(f.sum_coverage_)),
            independent=_pct(pooled(f.sum_coverage_independent_))))
    return notes + [shown(n) for n in s.notes]
