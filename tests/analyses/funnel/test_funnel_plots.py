"""Every funnel figure draws on the axes it is given (or a new figure) and returns them; no deprecation warnings."""
from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from salesbench.analyses.funnel import plots  # noqa: E402

STAGES = ["lead", "contact", "proposal", "won"]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _conv():
    return pd.DataFrame({"from_stage": STAGES[:-1], "to_stage": STAGES[1:], "conversion": [0.8, 0.5, 0.4],
                         "cumulative": [0.8, 0.4, 0.16]})


def test_plot_funnel_bars_and_labels():
    fig, ax = plt.subplots()
    assert plots.plot_funnel(_conv(), ax=ax) is ax
    assert len(ax.patches) == 2 * len(STAGES)  # drop-off bar + reach bar per stage
    assert [t.get_text() for t in ax.get_yticklabels()] == STAGES
    assert "40%  (50% of previous)" in [t.get_text() for t in ax.texts]


def test_plot_stage_durations_horizontal_boxes_without_deprecation():
    rng = np.random.default_rng(0)
    stays = pd.DataFrame({"stage": pd.Categorical(["lead"] * 20 + ["contact"] * 20 + ["proposal"] * 0,
                                                  categories=STAGES[:-1], ordered=True),
                          "days": rng.lognormal(1, 0.5, 40)})
    fig, ax = plt.subplots()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # seaborn's boxplot passed the deprecated vert= (MatplotlibDeprecationWarning)
        assert plots.plot_stage_durations(stays, ax=ax) is ax
    assert [t.get_text() for t in ax.get_yticklabels()] == ["lead", "contact", "proposal"]
    assert len(ax.patches) == 3 and ax.get_xscale() == "log"
    box = ax.patches[0].get_path().vertices
    assert np.ptp(box[:, 1]) == pytest.approx(0.6)  # horizontal: the box width (0.6) runs along y, days along x
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # first stage on top


def test_plot_cohort_heatmap_cells():
    cohorts = pd.DataFrame({"cohort": ["2024-01", "2024-02"], **{f"reach_{s}": [0.9, 0.5] for s in STAGES[1:]}})
    fig, ax = plt.subplots()
    assert plots.plot_cohort_heatmap(cohorts, stages=STAGES, ax=ax) is ax
    assert ax.collections and ax.collections[0].get_array().size == 2 * 3
    assert [t.get_text() for t in ax.get_xticklabels()] == STAGES[1:]


def test_plot_coverage_bars_and_threshold():
    cov = pd.DataFrame({"team": ["T1", "T2"], "coverage": [1.5, 3.5], "status": ["red", "green"]})
    fig, ax = plt.subplots()
    assert plots.plot_coverage(cov, key="team", threshold=3.0, ax=ax) is ax
    assert len(ax.patches) == 2 and ax.lines[0].get_xdata()[0] == 3.0
    assert " 3.50× (green)" in [t.get_text() for t in ax.texts]


def test_plot_rep_shrinkage_intervals_and_raw_markers():
    table = pd.DataFrame({"rep_id": ["r1", "r2", "r3"], "raw_rate": [0.2, 0.5, 0.9], "mean": [0.3, 0.45, 0.7],
                          "lo": [0.1, 0.3, 0.5], "hi": [0.5, 0.6, 0.85]})
    fig, ax = plt.subplots()
    assert plots.plot_rep_shrinkage(table, label="rep_id", population=0.45, ax=ax, title="Rep win rate") is ax
    assert ax.get_title() == "Rep win rate" and ax.collections and ax.lines
    assert {"r1", "r2", "r3"} <= {t.get_text() for t in ax.get_yticklabels()}


def test_new_figure_when_no_axes_given():
    ax = plots.plot_funnel(_conv())
    assert ax.figure.get_size_inches().tolist() == [8.0, 4.0] and len(ax.patches) == 2 * len(STAGES)
