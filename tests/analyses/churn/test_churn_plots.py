"""Each churn figure draws on the axes it is given (or a new one) and returns them."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from salesbench.analyses.churn import plots  # noqa: E402

RISK_BY = pd.DataFrame({"by": ["region", "region", "segment"], "group": ["North", "South", "x"],
                        "mean": [1200.0, 300.0, 500.0], "lo": [800.0, None, 400.0], "hi": [1600.0, None, 700.0]})
GRID = pd.DataFrame({"frequency": [0, 0, 1, 1], "recency": [0.0, 10.0, 0.0, 10.0], "p_alive": [0.9, 0.9, 0.2, 0.8]})
PRED = pd.DataFrame({"clv": [0.0, 100.0, 300.0, 50.0, 900.0]})
PPC = pd.DataFrame({"frequency": ["0", "1", "2+"], "observed": [30, 10, 5], "predicted": [28.0, 11.0, 6.0],
                    "lo": [25.0, 8.0, 4.0], "hi": [31.0, 14.0, 8.0]})
EFFECTS = pd.DataFrame({"label": ["Complaints", "CSAT drop"], "mean": [0.6, 0.05], "lo": [0.2, -0.3], "hi": [1.0, 0.4]})
BY_FREQ = pd.DataFrame({"frequency": ["0", "1"], "actual": [0.2, 1.0], "predicted": [0.1, 0.9]})

CASES = [(plots.plot_revenue_at_risk, RISK_BY, {"by": "region"}), (plots.plot_p_alive_heatmap, GRID, {"T": 10.0}),
         (plots.plot_clv_distribution, PRED, {}), (plots.plot_ppc, PPC, {}), (plots.plot_effects, EFFECTS, {}),
         (plots.plot_holdout_calibration, BY_FREQ, {})]


@pytest.mark.parametrize("fn,frame,kw", CASES, ids=[c[0].__name__ for c in CASES])
def test_plot_returns_the_given_ax_and_draws(fn, frame, kw):
    fig, ax = plt.subplots()
    assert fn(frame, ax=ax, **kw) is ax
    assert len(ax.lines) + len(ax.patches) + len(ax.collections) + len(ax.images) > 0
    assert ax.get_title()
    plt.close(fig)


@pytest.mark.parametrize("fn,frame,kw", CASES, ids=[c[0].__name__ for c in CASES])
def test_plot_without_ax_makes_a_figure(fn, frame, kw):
    ax = fn(frame, **kw)
    assert ax.figure is not None and ax.has_data()
    plt.close(ax.figure)


def test_revenue_at_risk_states_an_empty_list_and_map_points():
    ax = plots.plot_revenue_at_risk(RISK_BY.iloc[:0], "region")
    assert [t.get_text() for t in ax.texts] == ["No customer at risk"]
    plt.close(ax.figure)
    ax = plots.plot_revenue_at_risk(RISK_BY, "region")
    assert ax.get_title() == "Revenue at risk by region"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["North", "South"]  # largest first; South: a MAP point
    plt.close(ax.figure)


def test_heatmap_titles_the_customer_age_in_the_unit():
    ax = plots.plot_p_alive_heatmap(GRID, T=10.0, unit="M")
    assert ax.get_title() == "Probability a customer is still active (customer age 10 months)"
    assert ax.get_xlabel().endswith("(months)")
    plt.close(ax.figure)
