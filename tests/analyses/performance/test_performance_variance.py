"""Price / volume / mix and the gap-to-target waterfall (hand-computed answers)."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from salesbench.analyses.performance import variance as var

D = dt.date


# --------------------------------------------------------------------------- price / volume / mix
def test_price_volume_mix_hand_computed_with_a_launch():
    base = pd.DataFrame({"product_line": ["A", "B"], "quantity": [10.0, 10.0], "revenue": [100.0, 200.0]})
    cur = pd.DataFrame({"product_line": ["A", "B", "C"], "quantity": [10.0, 20.0, 5.0],
                        "revenue": [120.0, 400.0, 50.0]})
    out = var.price_volume_mix(cur, base).set_index("product_line")
    assert out.loc["A", ["volume", "mix", "price", "change"]].tolist() == [75.0, -75.0, 20.0, 20.0]
    assert out.loc["B", ["volume", "mix", "price", "change"]].tolist() == [150.0, 50.0, 0.0, 200.0]
    assert out.loc["C", ["volume", "mix", "price", "change"]].tolist() == [0.0, 50.0, 0.0, 50.0]
    tot = out.loc["Total"]
    assert tot[["volume", "mix", "price", "change"]].tolist() == [225.0, 25.0, 20.0, 270.0]
    assert tot["volume"] + tot["mix"] + tot["price"] == tot["change"]      # exactly
    assert tot["volume"] == (35 - 20) * (300 / 20)                         # (Q1 - Q0) * base average price


def test_price_volume_mix_discontinued_line_and_random_additivity():
    base = pd.DataFrame({"product_line": ["A", "D"], "quantity": [4.0, 4.0], "revenue": [40.0, 80.0]})
    cur = pd.DataFrame({"product_line": ["A"], "quantity": [8.0], "revenue": [64.0]})
    out = var.price_volume_mix(cur, base).set_index("product_line")
    assert out.loc["D", "price"] == 0.0 and out.loc["D", "change"] == -80.0
    assert out.loc["D", "volume"] + out.loc["D", "mix"] == -80.0
    rng = np.random.default_rng(7)
    for _ in range(50):
        k = 6
        b = pd.DataFrame({"product_line": list("abcdef"), "quantity": rng.integers(0, 50, k).astype(float),
                          "revenue": 0.0})
        b["revenue"] = b["quantity"] * rng.uniform(5, 500, k)
        c = pd.DataFrame({"product_line": list("abcdef"), "quantity": rng.integers(0, 50, k).astype(float)})
        c["revenue"] = c["quantity"] * rng.uniform(5, 500, k)
        if b["quantity"].sum() == 0:
            continue
        res = var.price_volume_mix(c, b)
        comp = res["volume"] + res["mix"] + res["price"]
        assert np.allclose(comp, res["change"], rtol=0, atol=1e-9 * res["revenue_base"].max())


def test_price_volume_mix_needs_base_quantity():
    empty = pd.DataFrame({"product_line": ["A"], "quantity": [0.0], "revenue": [0.0]})
    cur = pd.DataFrame({"product_line": ["A"], "quantity": [1.0], "revenue": [5.0]})
    with pytest.raises(ValueError, match="base period has no quantity"):
        var.price_volume_mix(cur, empty)


def test_scale_to_target_keeps_prices_and_mix():
    base = pd.DataFrame({"product_line": ["A", "B"], "quantity": [10.0, 30.0], "revenue": [100.0, 300.0]})
    t = var.scale_to_target(base, 500.0)
    assert t["revenue"].sum() == pytest.approx(500.0)
    assert list(t["revenue"] / t["quantity"]) == pytest.approx([10.0, 10.0])
    assert list(t["quantity"] / t["quantity"].sum()) == pytest.approx([0.25, 0.75])


def test_gap_waterfall_adds_up_with_unallocated_rest():
    ch = pd.DataFrame({"label": ["N", "S"], "revenue": [90.0, 130.0], "revenue_target": [100.0, 100.0]})
    wf = var.gap_waterfall(ch, total_actual=230.0, total_target=200.0)
    assert list(wf["label"]) == ["Target", "N", "S", "Not allocated", "Actual"]
    assert list(wf["delta"]) == [200.0, -10.0, 30.0, 10.0, 230.0]
    assert list(wf["end"]) == [200.0, 190.0, 220.0, 230.0, 230.0]
    wf2 = var.gap_waterfall(ch, total_actual=220.0, total_target=200.0)
    assert "Not allocated" not in set(wf2["label"])
