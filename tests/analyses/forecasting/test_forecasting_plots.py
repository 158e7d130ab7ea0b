"""Figures of the forecasting report on small tidy frames: each plot_* draws on the axes it is given and returns them."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from salesbench.analyses.forecasting import plots  # noqa: E402

PERIODS = pd.date_range("2024-01-01", periods=12, freq="MS")
FUTURE = pd.date_range("2025-01-01", periods=3, freq="MS")


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _history(ids=("Total", "North", "South", "East")):
    return pd.DataFrame([{"unique_id": u, "ds": d, "y": 100.0 + i} for u in ids for i, d in enumerate(PERIODS)])


def _forecast(ids=("Total", "North", "South", "East")):
    rows = []
    for u in ids:
        for d in FUTURE:
            rows.append({"unique_id": u, "ds": d, "mean": 110.0, "lo80": 100.0, "hi80": 120.0, "lo95": 90.0,
                         "hi95": 130.0})
    return pd.DataFrame(rows)


def _gap():
    g = _forecast(["Total"]).assign(target=[105.0, 115.0, 140.0])
    return g.assign(gap=g["mean"] - g["target"], gap_pct=0.0, prob_reach=[0.9, 0.3, 0.005], actual=np.nan)


def test_plot_fan_draws_history_bands_forecast_and_targets():
    fig, ax = plt.subplots()
    targets = _gap()
    holdout = pd.DataFrame({"unique_id": "Total", "ds": FUTURE[:1], "y": [111.0]})
    assert plots.plot_fan(_history(), _forecast(), uid="Total", ax=ax, targets=targets, holdout=holdout,
                          title="Total revenue") is ax
    labels = [line.get_label() for line in ax.get_lines()]
    assert {"actual", "forecast", "actual after as-of", "target"} <= set(labels)
    assert len(ax.collections) == 2  # the 80% and 95% bands
    assert ax.get_title() == "Total revenue"


def test_plot_fan_without_ax_makes_its_own_figure():
    ax = plots.plot_fan(_history(), _forecast(), uid="North")
    assert ax.get_title() == "North" and len(ax.get_lines()) >= 2


def test_fan_grid_returns_its_axes_and_hides_the_spare_ones():
    fig = plt.figure()
    axes = plots.fan_grid(_history(), _forecast(), ["North", "South", "East"], fig=fig)
    assert axes.shape == (2, 2) and all(ax.figure is fig for ax in axes.flat)
    assert [ax.get_title() for ax in axes.flat[:3]] == ["North", "South", "East"]
    assert not axes.flat[3].get_visible() and axes.flat[0].get_legend() is not None
    assert axes.flat[1].get_legend() is None


def test_plot_backtest_errors_one_bar_per_level_and_model():
    levels = pd.DataFrame([{"level": lv, "depth": d, "model": m, "mase": v}
                           for lv, d in (("total", 0), ("region", 1))
                           for m, v in (("seasonal_naive", 1.0), ("theta", 0.8), ("chosen", 0.7))])
    fig, ax = plt.subplots()
    assert plots.plot_backtest_errors(levels, ax=ax) is ax
    assert len(ax.patches) == 6
    assert [t.get_text() for t in ax.get_xticklabels()] == ["total", "region"]


def test_plot_target_gap_bars_and_probability_labels():
    fig, ax = plt.subplots()
    assert plots.plot_target_gap(_gap(), ax=ax) is ax
    assert len(ax.patches) == 3
    notes = [t.get_text() for t in ax.texts]
    assert notes == ["90% likely", "30% likely", "<1% likely"]


def test_plot_lifecycle_one_bar_per_line_named_with_its_stage():
    stages = pd.DataFrame({"product_line": ["A", "B", "C"], "relative_growth": [0.3, -0.2, np.nan],
                           "stage": ["growth", "decline", "introduction"]})
    fig, ax = plt.subplots()
    assert plots.plot_lifecycle(stages, ax=ax) is ax
    assert len(ax.patches) == 3
    assert [t.get_text() for t in ax.get_yticklabels()] == ["C  (introduction)", "B  (decline)", "A  (growth)"]
