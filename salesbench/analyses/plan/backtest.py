"""Checking a plan made in the past against what happened: attainment per piece and calibration of P(reach).

When the data already holds the whole planned period (``as_of`` before its end),
:func:`unit_actuals` gives each unit's revenue in the period (reps by
``orders.rep_id``, teams and regions as sums of their reps, the company all orders);
:func:`calibration` scores the stated P(reach) against hit = actual ≥ target:
Brier score Σ(p − hit)²/n next to the base rate's (every piece given the share that
hit), and the reliability table (pieces grouped by P(reach) in tenths: count, mean
P(reach), share that hit).
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def unit_actuals(tree: pd.DataFrame, reps: pd.DataFrame, rep_revenue: pd.Series, company: float) -> np.ndarray:
    """Actual revenue of every row of ``tree`` (``level, key``) from revenue per rep and the company's total."""
    r = reps[["rep_id", "team", "region"]].copy()
    r["actual"] = r["rep_id"].map(rep_revenue).fillna(0.0)
    by = {"rep": r.set_index("rep_id")["actual"], "team": r.groupby("team")["actual"].sum(),
          "region": r.groupby("region")["actual"].sum()}
    return np.array([company if lv == "company" else float(by[lv].get(k, 0.0))
                     for lv, k in zip(tree["level"], tree["key"])])


def calibration(prob: pd.Series, hit: pd.Series) -> dict:
    """``{n, hit_rate, brier, brier_base_rate, reliability}`` (reliability: ``bin, n, mean_p, hit_rate`` per tenth)."""
    p, h = np.asarray(prob, float), np.asarray(hit, float)
    base = h.mean()
    bins = np.minimum((p * 10).astype(int), 9)
    table = (pd.DataFrame({"bin": bins, "p": p, "hit": h}).groupby("bin")
             .agg(n=("p", "size"), mean_p=("p", "mean"), hit_rate=("hit", "mean")).reset_index())
    table["bin"] = [f"{b / 10:.1f}–{(b + 1) / 10:.1f}" for b in table["bin"]]
    return {"n": int(len(p)), "hit_rate": float(base), "brier": float(np.mean((p - h) ** 2)),
            "brier_base_rate": float(np.mean((base - h) ** 2)), "reliability": table}
