"""Each figure of the performance review on a small hand-made frame: it returns its axes and draws the data."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from salesbench.analyses.performance import plots  # noqa: E402
from salesbench.analyses.performance import variance as var  # noqa: E402
from salesbench.analyses.performance.kpis import DEFAULT_LINES  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _card():
    return pd.DataFrame({
        "rep_id": ["R1", "R2", "R3"], "name": ["Ann", "Bob", "Cy"], "score": [77.0, 40.0, 63.0],
        "score_status": ["green", "amber", "green"], "status": ["amber", "red", "amber"],
        "revenue_attainment": [0.8, 0.667, 1.9], "status_revenue": ["amber", "red", "green"],
    })


def test_attainment_bars_sorted_with_lines_and_capped_values():
    fig, ax = plt.subplots()
    assert plots.plot_attainment_bars(_card(), lines=DEFAULT_LINES, cap=1.6, ax=ax) is ax
    assert len(ax.patches) == 3
    assert [t.get_text() for t in ax.get_yticklabels()] == ["R2", "R1", "R3"]           # lowest first
    assert sorted(round(float(ln.get_xdata()[0]), 2) for ln in ax.lines) == [0.8, 0.95, 1.0]
    assert max(p.get_width() for p in ax.patches) == pytest.approx(1.6)                 # 190% drawn to the cap
    assert [t.get_text() for t in ax.texts] == [" 190%"]                                # ... and written out


def test_score_bars_and_overview_fall_back_without_targets():
    fig, ax = plt.subplots()
    assert plots.plot_score_bars(_card(), lines=DEFAULT_LINES, ax=ax) is ax
    assert sorted(float(ln.get_xdata()[0]) for ln in ax.lines) == [40.0, 50.0]
    card = _card().drop(columns="revenue_attainment")
    fig, ax = plt.subplots()
    assert plots.plot_overview(card, lines=DEFAULT_LINES, period="2025-Q1", ax=ax) is ax
    assert ax.get_title() == "Score per rep, 2025-Q1 (no revenue targets in the data)" and len(ax.patches) == 3
    ax2 = plots.plot_overview(_card(), lines=DEFAULT_LINES, period="2025-Q1")            # creates its own figure
    assert ax2.get_title() == "Revenue attainment per rep, 2025-Q1"


def test_gap_waterfall_and_pvm_bridge_draw_every_step():
    f = pd.DataFrame({"label": ["North", "South"], "revenue": [500.0, 1000.0], "revenue_target": [750.0, 1200.0]})
    wf = var.gap_waterfall(f, 1500.0, 1950.0)
    fig, ax = plt.subplots()
    assert plots.plot_gap_waterfall(wf, ax=ax, title="gap") is ax
    assert len(ax.patches) == len(wf) and ax.get_title() == "gap"
    assert [t.get_text() for t in ax.get_xticklabels()] == list(wf["label"])
    cur = pd.DataFrame({"product_line": ["A", "B"], "quantity": [10.0, 5.0], "revenue": [100.0, 100.0]})
    base = pd.DataFrame({"product_line": ["A", "B"], "quantity": [8.0, 5.0], "revenue": [80.0, 90.0]})
    pvm = var.price_volume_mix(cur, base)
    fig, ax = plt.subplots()
    assert plots.plot_pvm_bridge(pvm, base_label="2024-Q4", current_label="2025-Q1", ax=ax) is ax
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2024-Q4", "volume", "mix", "price", "2025-Q1"]
    assert len(ax.patches) == 5
    top = max(p.get_y() + p.get_height() for p in ax.patches)
    assert top == pytest.approx(200.0)                                                  # the current revenue


def test_sparklines_one_cell_per_rep():
    history = pd.concat([_card().assign(period=pd.Period("2024Q4", "Q")),
                         _card().assign(period=pd.Period("2025Q1", "Q"))], ignore_index=True)
    fig, ax = plt.subplots()
    assert plots.plot_sparklines(history, rep_ids=["R1", "R2", "R3"], lines=DEFAULT_LINES, ax=ax) is ax
    assert [t.get_text() for t in ax.texts] == ["Ann", "Bob", "Cy"]
    assert len(ax.collections) >= 3 and ax.get_title().startswith("revenue attainment")


def test_relationships_forest_and_empty_fallback():
    rel = pd.DataFrame({"x_label": ["Discount rate", "Visits per customer"], "y_label": ["Gross margin", "Win rate"],
                        "rho": [-0.5, 0.2], "lo": [-0.8, -0.1], "hi": [-0.1, 0.5]})
    fig, ax = plt.subplots()
    assert plots.plot_relationships(rel, ax=ax) is ax
    assert ax.get_xlim() == (-1.0, 1.0) and (ax.lines or ax.collections)
    fig, ax = plt.subplots()
    assert plots.plot_relationships(rel.assign(rho=float("nan")), ax=ax) is ax
    assert [t.get_text() for t in ax.texts] == ["no KPI pair has enough reps with data"]
