"""The demo company: a seller simulated from known processes, with its ground truth.

``generate(out_dir, seed=0, customers=5000)`` writes one Parquet file per
canonical table plus ``truth.json`` and ``truth_customers.parquet``, so every
analysis can be checked against the truth it should recover. The generator is
deterministic by seed and streams customers in chunks, so
``customers=1_000_000`` runs in bounded memory.

The processes (all parameters are written to ``truth.json``)
--------------------------------------------------------------
Calendar
    Orders from 2023-01-01 to 2025-12-31. Daily purchase intensity is
    ``rate/365.25 × seasonality[month] × (1 + annual_growth)^years ×
    promotion uplift (during promotion weeks)``.
Customers
    Four latent types (``key_account``, ``regular``, ``occasional``,
    ``one_off``). Each customer has a purchase rate ``λ ~ Gamma(shape, scale)``
    per year and a dropout probability ``p ~ Beta(a, b)`` of its type: after
    every purchase — the first included, as in the MBG/NBD model of Batislam,
    Denizel & Filiztekin (2007) — the customer leaves for good with
    probability ``p``. ``churned_at`` is the day of that last purchase. At most
    one purchase per customer-day is recorded (same-day purchases are one
    transaction). Types also differ in lines per order, quantity, discount,
    channel mix, product mix, contacts and complaints. The owner rep's skill
    multiplies the purchase rate by ``exp(0.12 × skill)``.
Early warning
    In the ``window_days`` before a churner's last purchase, half of its
    purchases are thinned away, complaints are 6× as frequent, CSAT drops by
    1.2 points, NPS by 2.5 and invoices are paid 20 days later.
Pipeline
    About two opportunities per customer. Each walks lead → contact →
    needs_confirmed → proposal → negotiation → contract → won; at stage ``k`` the
    deal advances with probability ``logit⁻¹(logit(q_k[channel]) + 0.25 ×
    skill)`` after a lognormal stage duration, otherwise it is lost (with a
    reason). Recording artefacts: 5% of deals have no ``needs_confirmed`` row
    (a skipped stage, the deal still passed it) and 3% re-enter ``proposal``
    after ``negotiation``. Deals still running on 2025-12-31 are open. The
    truth's ``stage_conversion`` is the rate implied by each deal's true
    probabilities, averaged over the generated channel and rep mix:
    ``Σ_deals P(reach k+1) / Σ_deals P(reach k)``.
Reps
    40 reps in 8 teams over 4 regions; latent skill ``~ N(0, 1)`` drives win
    rate, discount (margin), invoice payment speed, CSAT/NPS, visits, new
    customer acquisition and customer purchase rates.
Targets
    Monthly targets per rep, team, region and company for ``revenue`` (105% of
    the skill-neutral expected revenue of each rep's live book, so attainment
    reflects skill) and ``new_business`` (105% of the skill-neutral expected
    won amount of the rep's opportunities). Targets run 12 months past the
    data (2026: the 2025 targets × 1.08), so forecasts and pipeline coverage
    have a target for the coming periods.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from salesbench.datasets.public import cache_dir
from salesbench.core.schema import STAGES

GENERATOR_VERSION = 4
START = pd.Timestamp("2023-01-01")
END = pd.Timestamp("2025-12-31")
N_DAYS = (END - START).days + 1
DAYS = pd.date_range(START, END, freq="D")

REGIONS = ["North", "South", "East", "West"]
REGION_WEIGHTS = np.array([0.30, 0.25, 0.25, 0.20])
TEAMS_PER_REGION = 2
REPS_PER_TEAM = 5
CHANNELS = ["direct", "distributor", "online", "store"]
INDUSTRIES = ["manufacturing", "retail", "healthcare", "education", "hospitality", "public sector", "technology"]

SEASONALITY = np.array([0.82, 0.88, 1.02, 0.98, 1.00, 0.95, 0.85, 0.80, 1.05, 1.10, 1.20, 1.35])
ANNUAL_GROWTH = 0.06
PROMO = {"months": [3, 6, 9, 11], "first_days": 14, "uplift": 1.35, "extra_discount": 0.10}
SKILL_RATE = 0.12  # purchase-rate multiplier exp(SKILL_RATE * skill)
SKILL_LOGIT = 0.25  # stage-conversion logit shift per unit skill
TARGET_STRETCH = 1.05
PLAN_GROWTH = 0.08  # targets for the 12 months after the data: last year's × 1.08

TYPES = ["key_account", "regular", "occasional", "one_off"]
TYPE_PARAMS = {
    # share, λ ~ Gamma(rate_shape, rate_scale) per year, p ~ Beta(dropout_a, dropout_b)
    "key_account": dict(share=0.08, rate_shape=8.0, rate_scale=3.0, dropout_a=0.6, dropout_b=60.0,
                        lines=4.0, qty=12.0, discount=0.12, opp_weight=5.0, deal_size=50_000.0,
                        channels=[0.75, 0.20, 0.05, 0.00], contacts=[3.0, 6.0, 12.0], complaints=0.4,
                        pay_delay=2.0),
    "regular": dict(share=0.30, rate_shape=6.0, rate_scale=1.5, dropout_a=1.0, dropout_b=25.0,
                    lines=2.2, qty=4.0, discount=0.08, opp_weight=2.0, deal_size=12_000.0,
                    channels=[0.30, 0.50, 0.15, 0.05], contacts=[1.0, 3.0, 6.0], complaints=0.3,
                    pay_delay=-3.0),
    "occasional": dict(share=0.40, rate_shape=3.0, rate_scale=0.8, dropout_a=2.0, dropout_b=10.0,
                       lines=0.4, qty=1.0, discount=0.03, opp_weight=0.5, deal_size=3_000.0,
                       channels=[0.00, 0.10, 0.50, 0.40], contacts=[0.1, 0.5, 1.5], complaints=0.2,
                       pay_delay=-4.0),
    "one_off": dict(share=0.22, rate_shape=2.0, rate_scale=0.5, dropout_a=8.0, dropout_b=2.0,
                    lines=0.0, qty=0.5, discount=0.01, opp_weight=0.2, deal_size=2_000.0,
                    channels=[0.00, 0.00, 0.60, 0.40], contacts=[0.0, 0.2, 0.5], complaints=0.2,
                    pay_delay=-5.0),
}
PRE_EXISTING_SHARE = 0.35  # customers already buying on START
TIER_GIVEN_TYPE = {  # declared account tier A/B/C: a noisy CRM field, not the latent type
    "key_account": [0.60, 0.30, 0.10],
    "regular": [0.15, 0.55, 0.30],
    "occasional": [0.00, 0.20, 0.80],
    "one_off": [0.00, 0.00, 1.00],
}

PRODUCT_LINES = ["Hardware", "Consumables", "Software", "Services", "Smart Home", "Legacy Print"]
LINE_PRICE = {"Hardware": 420.0, "Consumables": 28.0, "Software": 260.0, "Services": 780.0,
              "Smart Home": 160.0, "Legacy Print": 210.0}
LINE_COST_RATIO = {"Hardware": 0.68, "Consumables": 0.55, "Software": 0.22, "Services": 0.60,
                   "Smart Home": 0.62, "Legacy Print": 0.72}
LINE_MIX = {  # product-line weights per customer type
    "key_account": [0.25, 0.25, 0.15, 0.20, 0.05, 0.10],
    "regular": [0.20, 0.35, 0.10, 0.10, 0.10, 0.15],
    "occasional": [0.15, 0.45, 0.05, 0.02, 0.18, 0.15],
    "one_off": [0.30, 0.30, 0.05, 0.00, 0.20, 0.15],
}
SMART_HOME_LAUNCH = pd.Timestamp("2024-07-01")
SMART_HOME_RAMP_DAYS = 365
LEGACY_DECLINE = 0.40  # Legacy Print demand shrinks 40% a year
PRODUCTS_PER_LINE = 8

STAGE_Q = {  # probability of advancing from STAGES[k] to STAGES[k+1], per channel
    "direct": [0.80, 0.70, 0.65, 0.60, 0.75, 0.92],
    "distributor": [0.75, 0.65, 0.60, 0.55, 0.70, 0.90],
    "online": [0.60, 0.55, 0.55, 0.50, 0.65, 0.88],
    "store": [0.55, 0.50, 0.45, 0.40, 0.55, 0.80],
}
STAGE_DURATION = {  # lognormal time spent in a stage before the next event: median days, sigma
    "lead": (3.0, 0.6), "contact": (1.2, 0.5), "needs_confirmed": (10.0, 0.6),
    "proposal": (18.0, 0.6), "negotiation": (14.0, 0.6), "contract": (7.0, 0.5),
}
SKILL_SPEED = 0.15  # stage durations scale with exp(-SKILL_SPEED * skill)
SKIP_SHARE = 0.05
REENTRY_SHARE = 0.03
LOST_REASONS = ["price", "competitor", "no_budget", "timing", "no_decision"]
LOST_REASON_EARLY = [0.10, 0.15, 0.35, 0.20, 0.20]
LOST_REASON_LATE = [0.40, 0.35, 0.05, 0.10, 0.10]
SLA_HOURS = 48
EARLY_WARNING = {"window_days": 180, "purchase_keep": 0.5, "complaint_multiplier": 6.0,
                 "csat_drop": 1.2, "nps_drop": 2.5, "extra_pay_delay_days": 20}

OPPS_PER_WEIGHT_YEAR = 1.15  # expected opportunities per year of active life per unit of opp_weight
CHUNK = 10_000
WORDS_A = ["North", "Blue", "Silver", "Bright", "Grand", "Prime", "Green", "Iron", "Swift", "True", "Oak",
           "Summit", "River", "Stone", "Clear", "Golden", "Metro", "Alpine", "Coastal", "Urban"]
WORDS_B = ["Systems", "Supplies", "Works", "Partners", "Foods", "Clinic", "Logistics", "Labs", "Retail",
           "Builders", "Academy", "Hotels", "Motors", "Energy", "Design", "Media", "Farms", "Tools"]
WORDS_C = ["Ltd", "GmbH", "Inc", "AG", "& Co", "Group", "SA", "LLC"]


# ----------------------------------------------------------------------------- helpers
def _day_factor() -> tuple[np.ndarray, np.ndarray]:
    """Calendar multiplier per day (seasonality × growth trend × promotion) and promo flag."""
    months = DAYS.month.to_numpy()
    years = (DAYS - START).days.to_numpy() / 365.25
    promo = np.isin(months, PROMO["months"]) & (DAYS.day.to_numpy() <= PROMO["first_days"])
    factor = SEASONALITY[months - 1] * (1 + ANNUAL_GROWTH) ** years * np.where(promo, PROMO["uplift"], 1.0)
    return factor.astype(np.float64), promo


def _line_time_weights() -> np.ndarray:
    """(n_lines, n_days) demand multipliers: Smart Home launch ramp, Legacy Print decline."""
    w = np.ones((len(PRODUCT_LINES), N_DAYS))
    since = (DAYS - SMART_HOME_LAUNCH).days.to_numpy()
    w[PRODUCT_LINES.index("Smart Home")] = np.clip(since / SMART_HOME_RAMP_DAYS, 0, 1) * (since >= 0)
    years = (DAYS - START).days.to_numpy() / 365.25
    w[PRODUCT_LINES.index("Legacy Print")] = (1 - LEGACY_DECLINE) ** years
    return w


def _expit(x):
    return 1 / (1 + np.exp(-x))


def _logit(p):
    return np.log(p / (1 - p))


def _lognormal(rng, median, sigma, size):
    return median * np.exp(sigma * rng.standard_normal(size))


def _choice_rows(rng, probs: np.ndarray) -> np.ndarray:
    """Sample one column index per row of a (rows, k) probability matrix."""
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    u = rng.random((probs.shape[0], 1))
    return (u > cum).sum(axis=1)


class _Writer:
    """Append pandas chunks to one Parquet file per table (bounded memory)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.schemas: dict[str, pa.Schema] = {}
        self.rows: dict[str, int] = {}

    def write(self, name: str, df: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(df, preserve_index=False)
        if name not in self.writers:
            self.schemas[name] = table.schema
            self.writers[name] = pq.ParquetWriter(self.folder / f"{name}.parquet", table.schema)
        else:
            table = table.cast(self.schemas[name])
        self.writers[name].write_table(table)
        self.rows[name] = self.rows.get(name, 0) + len(df)

    def close(self) -> None:
        for w in self.writers.values():
            w.close()


# ----------------------------------------------------------------------------- reps and products
def _make_reps(rng) -> pd.DataFrame:
    rows = []
    i = 0
    for region in REGIONS:
        for t in range(TEAMS_PER_REGION):
            team = f"{region}-{t + 1}"
            manager = f"M{len(rows) // REPS_PER_TEAM + 1:02d}"
            for _ in range(REPS_PER_TEAM):
                i += 1
                rows.append(dict(rep_id=f"R{i:03d}", name=f"Rep {i:03d}", team=team, region=region,
                                 manager_id=manager,
                                 hire_date=(pd.Timestamp("2015-01-01") + pd.Timedelta(days=int(rng.integers(0, 2900)))).date()))
    reps = pd.DataFrame(rows)
    reps["skill"] = np.round(rng.standard_normal(len(reps)), 3)
    return reps


def _make_products(rng) -> pd.DataFrame:
    rows = []
    for li, line in enumerate(PRODUCT_LINES):
        for j in range(PRODUCTS_PER_LINE):
            price = round(float(_lognormal(rng, LINE_PRICE[line], 0.35, 1)[0]), 2)
            cost = round(price * LINE_COST_RATIO[line] * float(rng.uniform(0.9, 1.1)), 2)
            launch = SMART_HOME_LAUNCH.date() if line == "Smart Home" else dt.date(2018, 1, 1)
            rows.append(dict(product_id=f"P{li + 1}{j + 1:02d}", product_line=line, list_price=price,
                             unit_cost=cost, launch_date=launch))
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- the generator
def generate(out_dir, seed: int = 0, customers: int = 5000, dirty: bool = False, verbose: bool = False) -> Path:
    """Generate the demo company into ``out_dir`` (created if needed); returns the folder.

    Writes ``<table>.parquet`` for every canonical table, ``truth.json`` and
    ``truth_customers.parquet``. ``dirty=True`` injects the defects listed in
    ``truth.json["defects"]`` (for validation tests).
    """
    if customers < 50:
        raise ValueError("the demo company needs at least 50 customers")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    reps = _make_reps(rng)
    products = _make_products(rng)
    skill = reps.set_index("rep_id")["skill"]
    rep_ids = reps["rep_id"].to_numpy()
    rep_skill = reps["skill"].to_numpy()
    rep_region = reps["region"].to_numpy()

    day_factor, promo_day = _day_factor()
    line_time_w = _line_time_weights()
    line_products = {li: np.flatnonzero(products["product_line"].to_numpy() == line)
                     for li, line in enumerate(PRODUCT_LINES)}
    prod_id = products["product_id"].to_numpy()
    prod_price = products["list_price"].to_numpy()
    prod_cost = products["unit_cost"].to_numpy()

    w = _Writer(out)
    w.write("reps", reps.drop(columns="skill"))
    w.write("products", products)

    # accumulators across chunks
    n_stage = len(STAGES) - 1
    reach_sum = {c: np.zeros(n_stage + 1) for c in CHANNELS + ["all"]}
    opp_count = {c: 0 for c in CHANNELS + ["all"]}
    sla_num = sla_den = 0
    potential = np.zeros((len(TYPES), len(rep_ids), 36))  # skill-neutral expected orders per type × rep × month
    nb_potential = np.zeros((len(rep_ids), 36))
    rep_visits = np.zeros((len(rep_ids), 36))  # visits per rep × month (drive travel expenses)  # skill-neutral expected won deal amount per rep × month
    type_value_sum = {t: 0.0 for t in TYPES}
    type_orders = {t: 0 for t in TYPES}
    next_order = next_invoice = next_opp = 0
    month_index = ((DAYS.year - START.year) * 12 + DAYS.month - 1).to_numpy()
    month_bounds = [(int(np.flatnonzero(month_index == m)[0]), int(np.flatnonzero(month_index == m)[-1])) for m in range(36)]
    month_factor = np.bincount(month_index, weights=day_factor, minlength=36)  # Σ day factors per month

    truth_parts = []
    for c0 in range(0, customers, CHUNK):
        n = min(CHUNK, customers - c0)
        crng = np.random.default_rng([seed, c0])
        ids = np.array([f"C{c0 + i + 1:07d}" for i in range(n)])
        ctype_idx = crng.choice(len(TYPES), size=n, p=[TYPE_PARAMS[t]["share"] for t in TYPES])
        ctype = np.array(TYPES)[ctype_idx]
        par = {k: np.array([TYPE_PARAMS[t][k] for t in TYPES])[ctype_idx]
               for k in ("rate_shape", "rate_scale", "dropout_a", "dropout_b", "lines", "qty", "discount",
                         "opp_weight", "deal_size", "complaints", "pay_delay")}
        lam = crng.gamma(par["rate_shape"], par["rate_scale"])
        p_drop = crng.beta(par["dropout_a"], par["dropout_b"])
        region_idx = crng.choice(len(REGIONS), size=n, p=REGION_WEIGHTS)
        region = np.array(REGIONS)[region_idx]
        pre_existing = crng.random(n) < PRE_EXISTING_SHARE
        first_day = np.where(pre_existing, 0, crng.integers(0, N_DAYS - 60, size=n))
        signup = np.where(
            pre_existing,
            (START - pd.to_timedelta(crng.integers(30, 5 * 365, size=n), unit="D")).values,
            (START + pd.to_timedelta(first_day, unit="D")).values,
        )
        # owner rep: same region; new customers go preferentially to skilled reps (acquisition)
        owner = np.empty(n, dtype=int)
        for r_i, reg in enumerate(REGIONS):
            cand = np.flatnonzero(rep_region == reg)
            mask = region_idx == r_i
            wt_new = np.exp(0.5 * rep_skill[cand])
            owner[mask & pre_existing] = crng.choice(cand, size=int((mask & pre_existing).sum()))
            owner[mask & ~pre_existing] = crng.choice(cand, size=int((mask & ~pre_existing).sum()), p=wt_new / wt_new.sum())
        oskill = rep_skill[owner]
        lam_eff = lam * np.exp(SKILL_RATE * oskill)
        chan_p = np.array([TYPE_PARAMS[t]["channels"] for t in TYPES])[ctype_idx]
        channel_idx = _choice_rows(crng, chan_p)
        channel = np.array(CHANNELS)[channel_idx]

        # -- purchase days ------------------------------------------------------
        days = np.arange(N_DAYS)
        intensity = (lam_eff[:, None] / 365.25) * day_factor[None, :]
        active = days[None, :] >= first_day[:, None]
        buy = (crng.random((n, N_DAYS)) < intensity) & active
        new = ~pre_existing
        buy[np.flatnonzero(new), first_day[new]] = True
        cum = np.cumsum(buy, axis=1)
        k_drop = crng.geometric(p_drop)  # the customer leaves right after purchase number k_drop
        buy &= cum <= k_drop[:, None]
        total = buy.sum(axis=1)
        churned = total >= k_drop
        last_day = np.where(total > 0, N_DAYS - 1 - np.argmax(buy[:, ::-1], axis=1), -1)
        churn_day = np.where(churned, last_day, -1)
        # early warning: thin purchases in the window before the last purchase of churners
        win = EARLY_WARNING["window_days"]
        in_window = churned[:, None] & (days[None, :] > (churn_day - win)[:, None]) & (days[None, :] < churn_day[:, None])
        thin = in_window & buy & (crng.random((n, N_DAYS)) > EARLY_WARNING["purchase_keep"])
        buy &= ~thin
        del cum, intensity, active, thin

        ev_c, ev_d = np.nonzero(buy)
        del buy
        n_ev = len(ev_c)
        # -- order lines ------------------------------------------------------------
        n_lines = 1 + crng.poisson(par["lines"][ev_c])
        line_c = np.repeat(ev_c, n_lines)
        line_d = np.repeat(ev_d, n_lines)
        line_no = np.concatenate([np.arange(1, k + 1) for k in n_lines]) if n_ev else np.array([], int)
        order_num = np.repeat(np.arange(next_order, next_order + n_ev), n_lines)
        next_order += n_ev
        mix = np.array([LINE_MIX[t] for t in TYPES])[ctype_idx[line_c]] * line_time_w[:, line_d].T
        pl = _choice_rows(crng, mix)
        prod = np.empty(len(pl), dtype=int)
        for li, cand in line_products.items():
            m = pl == li
            prod[m] = crng.choice(cand, size=int(m.sum()))
        qty = 1 + crng.poisson(par["qty"][line_c])
        promo = promo_day[line_d]
        chan_add = np.where(channel[line_c] == "distributor", 0.05, 0.0)
        disc = par["discount"][line_c] + chan_add - 0.02 * oskill[line_c] + np.where(promo, PROMO["extra_discount"], 0)
        disc = np.round(np.clip(disc + crng.normal(0, 0.02, len(disc)), 0, 0.6) / 0.005) * 0.005
        unit_price = np.round(prod_price[prod] * (1 - disc), 2)
        revenue = np.round(qty * unit_price, 2)
        cost = np.round(qty * prod_cost[prod], 2)
        # channel per order: mostly the customer's main channel
        order_chan = channel_idx[ev_c].copy()
        switch = crng.random(n_ev) < 0.15
        order_chan[switch] = _choice_rows(crng, chan_p[ev_c[switch]]) if switch.any() else order_chan[switch]
        line_chan = np.repeat(order_chan, n_lines)
        orders = pd.DataFrame({
            "order_id": pd.Series(order_num).map(lambda v: f"O{v + 1:09d}").to_numpy(),
            "line_no": line_no.astype(np.int64),
            "order_date": (START + pd.to_timedelta(line_d, unit="D")).date,
            "customer_id": ids[line_c],
            "product_id": prod_id[prod],
            "quantity": qty.astype(np.float64),
            "unit_price": unit_price,
            "discount": disc,
            "revenue": revenue,
            "cost": cost,
            "rep_id": rep_ids[owner[line_c]],
            "channel": np.array(CHANNELS)[line_chan],
            "promo": promo,
        })
        # average order value per type (turns expected orders into the revenue potential of targets)
        order_rev = np.bincount(order_num - order_num.min(), weights=revenue, minlength=n_ev) if n_ev else np.zeros(0)
        for ti, t in enumerate(TYPES):
            m = ctype_idx[ev_c] == ti
            type_value_sum[t] += float(order_rev[m].sum())
            type_orders[t] += int(m.sum())

        # -- invoices (one per order) ------------------------------------------------
        inv_date = START + pd.to_timedelta(ev_d, unit="D")
        terms = np.where(ctype[ev_c] == "key_account", 45, 30)
        due = inv_date + pd.to_timedelta(terms, unit="D")
        ew_inv = churned[ev_c] & (ev_d > churn_day[ev_c] - win)
        delay = (par["pay_delay"][ev_c] - 4.0 * oskill[ev_c] + crng.normal(0, 8, n_ev)
                 + np.where(ew_inv, EARLY_WARNING["extra_pay_delay_days"], 0))
        paid_date = due + pd.to_timedelta(np.maximum(np.round(delay).astype(int), -terms), unit="D")  # never before issue
        unpaid = crng.random(n_ev) < (0.02 + 0.015 * np.clip(-oskill[ev_c], 0, None) + 0.05 * ew_inv)
        partial = (~unpaid) & (crng.random(n_ev) < 0.02)
        paid_share = np.where(unpaid, 0.0, np.where(partial, crng.uniform(0.5, 0.9, n_ev), 1.0))
        not_yet = paid_date > END
        paid_share = np.where(not_yet, 0.0, paid_share)
        inv_amount = np.round(order_rev, 2)
        invoices = pd.DataFrame({
            "invoice_id": [f"I{v + 1:09d}" for v in range(next_invoice, next_invoice + n_ev)],
            "customer_id": ids[ev_c],
            "rep_id": rep_ids[owner[ev_c]],
            "invoice_date": inv_date.date,
            "due_date": due.date,
            "amount": inv_amount,
            "paid_amount": np.round(inv_amount * paid_share, 2),
            "paid_date": pd.Series(paid_date.date).where(paid_share > 0, None).to_numpy(),
        })
        next_invoice += n_ev

        # -- active spans: surveys, interactions -------------------------------------
        first_buy = np.full(n, N_DAYS)
        np.minimum.at(first_buy, ev_c, ev_d)
        span_start = np.where(pre_existing, 0, first_buy)
        span_end = np.where(churned, churn_day, N_DAYS - 1)
        span_end = np.maximum(span_end, span_start)
        span_years = (span_end - span_start + 1) / 365.25

        def events(rate_per_year):
            k = crng.poisson(rate_per_year * span_years)
            cc = np.repeat(np.arange(n), k)
            dd = span_start[cc] + np.floor(crng.random(len(cc)) * (span_end[cc] - span_start[cc] + 1)).astype(int)
            return cc, dd

        sv_rate = np.where(np.isin(ctype, ["key_account", "regular"]), 1.5, 0.5)
        sc, sd = events(sv_rate)
        ew_s = churned[sc] & (sd > churn_day[sc] - win)
        csat = np.clip(np.round(crng.normal(3.9 + 0.3 * oskill[sc] - EARLY_WARNING["csat_drop"] * ew_s, 0.8)), 1, 5)
        nps = np.clip(np.round(crng.normal(7.0 + 0.8 * oskill[sc] - EARLY_WARNING["nps_drop"] * ew_s, 1.8)), 0, 10)
        surveys = pd.DataFrame({
            "customer_id": ids[sc], "survey_date": (START + pd.to_timedelta(sd, unit="D")).date,
            "csat": csat.astype(float), "nps": nps.astype(float), "rep_id": rep_ids[owner[sc]],
        })
        inter = []
        contacts = np.array([TYPE_PARAMS[t]["contacts"] for t in TYPES])[ctype_idx]
        for ki, kind in enumerate(["visit", "call", "email"]):
            mult = np.exp(0.3 * oskill) if kind == "visit" else 1.0
            cc, dd = events(contacts[:, ki] * mult)
            inter.append((cc, dd, kind))
        np.add.at(rep_visits, (owner[inter[0][0]], month_index[inter[0][1]]), 1)
        # complaints: base rate, 6x inside the early-warning window
        cc, dd = events(par["complaints"])
        inter.append((cc, dd, "complaint"))
        ew_start = np.maximum(churn_day - win, span_start)
        ew_len = np.where(churned, np.maximum(churn_day - ew_start, 0), 0)
        k_extra = crng.poisson(par["complaints"] * (EARLY_WARNING["complaint_multiplier"] - 1) * ew_len / 365.25)
        cc = np.repeat(np.arange(n), k_extra)
        dd = ew_start[cc] + np.floor(crng.random(len(cc)) * np.maximum(ew_len[cc], 1)).astype(int)
        inter.append((cc, dd, "complaint"))
        ic = np.concatenate([x[0] for x in inter])
        idd = np.concatenate([x[1] for x in inter])
        ikind = np.concatenate([np.full(len(x[0]), x[2]) for x in inter])
        minutes = crng.integers(8 * 60, 18 * 60, len(ic))
        interactions = pd.DataFrame({
            "customer_id": ids[ic], "rep_id": rep_ids[owner[ic]],
            "occurred_at": START + pd.to_timedelta(idd, unit="D") + pd.to_timedelta(minutes, unit="min"),
            "kind": ikind,
        }).sort_values(["occurred_at", "customer_id"], kind="stable")

        # -- opportunities --------------------------------------------------------------
        n_opp_c = crng.poisson(par["opp_weight"] * OPPS_PER_WEIGHT_YEAR * span_years)
        oc = np.repeat(np.arange(n), n_opp_c)
        n_opp = len(oc)
        span_len = np.maximum(span_end[oc] - span_start[oc], 1)
        created_day = span_start[oc] + crng.random(n_opp) * span_len
        created_ns = (START.to_datetime64() + (created_day * 1440).round().astype(np.int64) * np.timedelta64(60, "s")).astype("datetime64[ns]")
        och = channel_idx[oc]
        q_base = np.array([STAGE_Q[c] for c in CHANNELS])[och]  # (n_opp, 6)
        osk = oskill[oc]
        q = _expit(_logit(q_base) + SKILL_LOGIT * osk[:, None])
        reach = np.concatenate([np.ones((n_opp, 1)), np.cumprod(q, axis=1)], axis=1)  # P(reach stage k)
        for ci, cname in enumerate(CHANNELS):
            m = och == ci
            reach_sum[cname] += reach[m].sum(axis=0)
            opp_count[cname] += int(m.sum())
        reach_sum["all"] += reach.sum(axis=0)
        opp_count["all"] += n_opp
        adv = crng.random((n_opp, n_stage)) < q
        k_final = np.where(adv.all(axis=1), n_stage, np.argmin(adv, axis=1))  # furthest stage index reached
        speed = np.exp(-SKILL_SPEED * osk)
        dur = np.stack([_lognormal(crng, STAGE_DURATION[s][0], STAGE_DURATION[s][1], n_opp) * speed
                        for s in STAGES[:-1]], axis=1)  # days spent in each stage before the next event
        dur_ns = (dur * 86400).round().astype(np.int64) * np.timedelta64(1, "s")
        entry = created_ns[:, None] + np.concatenate(
            [np.zeros((n_opp, 1), dtype="timedelta64[s]"), np.cumsum(dur_ns, axis=1)], axis=1
        ).astype("timedelta64[ns]")  # entry[:, k] = time stage k is entered (k = 6: won)
        end_ns = (END + pd.Timedelta(days=1)).to_datetime64()
        kk = np.arange(n_stage + 1)[None, :]
        entered = (kk <= k_final[:, None]) & (entry < end_ns)
        skip = (crng.random(n_opp) < SKIP_SHARE) & entered[:, 3]
        recorded = entered & ~((kk == 2) & skip[:, None])
        lost_time = entry[np.arange(n_opp), np.minimum(k_final + 1, n_stage)]
        is_won = (k_final == n_stage) & entered[:, n_stage]
        is_lost = (k_final < n_stage) & (lost_time < end_ns)
        last_k = entered.sum(axis=1) - 1
        status = np.where(is_won, "won", np.where(is_lost, "lost", "open"))
        stage_names = np.array(list(STAGES))
        cur_stage = np.where(is_won, "won", np.where(is_lost, "lost", stage_names[np.clip(last_k, 0, n_stage)]))
        closed = np.where(is_won, entry[:, n_stage], np.where(is_lost, lost_time, np.datetime64("NaT")))
        reason_p = np.where((k_final < 3)[:, None], np.array(LOST_REASON_EARLY)[None, :], np.array(LOST_REASON_LATE)[None, :])
        lost_reason = np.where(is_lost, np.array(LOST_REASONS)[_choice_rows(crng, reason_p)], None)
        opp_ids = np.array([f"D{v + 1:08d}" for v in range(next_opp, next_opp + n_opp)])
        next_opp += n_opp
        ro, rk = np.nonzero(recorded)
        parts = [(ro, stage_names[rk], entry[ro, rk])]
        lo_ = np.flatnonzero(is_lost)
        parts.append((lo_, np.full(len(lo_), "lost"), lost_time[lo_]))
        # re-entry artefact: back to proposal 2 days after entering negotiation, negotiation again 3 days later
        back = entry[:, 4] + np.timedelta64(2, "D")
        again = entry[:, 4] + np.timedelta64(5, "D")
        re_ = np.flatnonzero((crng.random(n_opp) < REENTRY_SHARE) & entered[:, 5] & (again < entry[:, 5]))
        parts.append((re_, np.full(len(re_), "proposal"), back[re_]))
        parts.append((re_, np.full(len(re_), "negotiation"), again[re_]))
        sh_o = np.concatenate([p[0] for p in parts])
        stage_history = pd.DataFrame({
            "opportunity_id": opp_ids[sh_o],
            "stage": np.concatenate([p[1] for p in parts]),
            "entered_at": np.concatenate([p[2] for p in parts]).astype("datetime64[ns]"),
        }).sort_values(["opportunity_id", "entered_at"], kind="stable")
        sla_m = entered[:, 2] & ~skip
        sla_den += int(sla_m.sum())
        sla_num += int((sla_m & (dur[:, 1] * 24 > SLA_HOURS)).sum())
        opp_amount = np.round(_lognormal(crng, par["deal_size"][oc], 0.6, n_opp), -1)
        neutral_win = np.prod(q_base, axis=1)
        created_month = np.minimum((created_day // 1).astype(int), N_DAYS - 1)
        np.add.at(nb_potential, (owner[oc], month_index[created_month]), opp_amount * neutral_win)
        opps = pd.DataFrame({
            "opportunity_id": opp_ids, "customer_id": ids[oc], "rep_id": rep_ids[owner[oc]],
            "created_at": created_ns, "amount": opp_amount,
            "stage": cur_stage, "status": status, "closed_at": closed.astype("datetime64[ns]"),
            "lost_reason": lost_reason, "channel": np.array(CHANNELS)[och],
        })

        # -- customers and truth --------------------------------------------------------
        tier = np.array(["A", "B", "C"])[_choice_rows(crng, np.array([TIER_GIVEN_TYPE[t] for t in TYPES])[ctype_idx])]
        names = [f"{WORDS_A[a]} {WORDS_B[b]} {WORDS_C[c]}" for a, b, c in zip(
            crng.integers(0, len(WORDS_A), n), crng.integers(0, len(WORDS_B), n), crng.integers(0, len(WORDS_C), n))]
        cust = pd.DataFrame({
            "customer_id": ids, "name": names, "region": region, "channel": channel,
            "industry": np.array(INDUSTRIES)[crng.integers(0, len(INDUSTRIES), n)], "tier": tier,
            "signup_date": pd.to_datetime(signup).date, "owner_rep_id": rep_ids[owner],
        })
        churned_at = pd.Series((START + pd.to_timedelta(np.where(churned, churn_day, 0), unit="D")).date).where(churned, None)
        truth_parts.append(pd.DataFrame({
            "customer_id": ids, "customer_type": ctype, "purchase_rate": np.round(lam_eff, 4),
            "dropout_prob": np.round(p_drop, 5), "churned_at": churned_at.to_numpy(),
            "signup_date": cust["signup_date"].to_numpy(), "owner_rep_id": rep_ids[owner],
            "pre_existing": pre_existing,
        }))
        # skill-neutral expected orders per type × rep × month (targets): λ × calendar × alive share
        alive_to = np.where(churned, churn_day, N_DAYS - 1)
        for mi in range(36):
            lo, hi = month_bounds[mi]
            overlap = np.clip(np.minimum(alive_to, hi) - np.maximum(span_start, lo) + 1, 0, None) / (hi - lo + 1)
            exp_orders = lam * month_factor[mi] / 365.25 * overlap
            for ti in range(len(TYPES)):
                m = ctype_idx == ti
                potential[ti, :, mi] += np.bincount(owner[m], weights=exp_orders[m], minlength=len(rep_ids))

        w.write("customers", cust)
        w.write("orders", orders)
        w.write("invoices", invoices)
        w.write("surveys", surveys)
        w.write("interactions", interactions)
        w.write("opportunities", opps)
        w.write("stage_history", stage_history)
        if verbose:
            print(f"  customers {c0 + n:,}/{customers:,}  ({time.perf_counter() - t0:.1f}s)", file=sys.stderr)
    truth_customers = pd.concat(truth_parts, ignore_index=True)
    # -- targets ---------------------------------------------------------------------------
    aov = np.array([type_value_sum[t] / max(type_orders[t], 1) for t in TYPES])
    # revenue: skill-neutral expected revenue of the live book; new_business: skill-neutral expected
    # won deal amount. The plan for the year after the data (the "coming periods") is the last year's
    # targets × (1 + PLAN_GROWTH).
    tg = []
    for metric, pot in (("revenue", np.einsum("t,trm->rm", aov, potential)), ("new_business", nb_potential)):
        pot = pot * TARGET_STRETCH
        pot = np.concatenate([pot, pot[:, 24:36] * (1 + PLAN_GROWTH)], axis=1)
        periods = [(START + pd.DateOffset(months=m)).date() for m in range(pot.shape[1])]
        rep_tg = pd.DataFrame(pot, index=rep_ids, columns=periods).round(-2)
        for level, keys in (("rep", reps["rep_id"]), ("team", reps["team"]), ("region", reps["region"]),
                            ("company", pd.Series("company", index=reps.index))):
            agg = rep_tg.groupby(keys.to_numpy()).sum()
            long = agg.stack().rename("value").reset_index()
            long.columns = ["key", "period", "value"]
            long["level"] = level
            long["metric"] = metric
            tg.append(long)
    targets = pd.concat(tg, ignore_index=True)[["period", "level", "key", "metric", "value"]]
    w.write("targets", targets)
    # sales expenses per rep and month: a fixed allowance, travel per visit, entertainment
    erng = np.random.default_rng([seed, 77])
    exp_rows = []
    for mi in range(36):
        period = (START + pd.DateOffset(months=mi)).date()
        travel = rep_visits[:, mi] * erng.uniform(300, 700, len(rep_ids))
        allowance = np.full(len(rep_ids), 8000.0)
        entertainment = erng.gamma(2.0, 3000.0 * np.exp(-0.2 * rep_skill))
        for cat, amt in (("allowance", allowance), ("travel", travel), ("entertainment", entertainment)):
            exp_rows.append(pd.DataFrame({"rep_id": rep_ids, "expense_date": period, "category": cat,
                                          "amount": np.round(amt, 2)}))
    expenses = pd.concat(exp_rows, ignore_index=True)
    expenses.insert(0, "expense_id", [f"E{i + 1:07d}" for i in range(len(expenses))])
    w.write("expenses", expenses)
    w.close()

    # -- truth -------------------------------------------------------------------------------
    def rates(sums):
        return {f"{STAGES[k]}->{STAGES[k + 1]}": float(sums[k + 1] / sums[k]) for k in range(n_stage)}

    truth = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "n_customers": customers,
        "start_date": START.date().isoformat(),
        "end_date": END.date().isoformat(),
        "stages": list(STAGES),
        "stage_conversion": rates(reach_sum["all"]),
        "stage_conversion_by_channel": {c: rates(reach_sum[c]) for c in CHANNELS if opp_count[c]},
        "stage_probabilities_by_channel": {c: STAGE_Q[c] for c in CHANNELS},
        "win_rate_by_channel": {c: float(reach_sum[c][-1] / opp_count[c]) for c in CHANNELS if opp_count[c]},
        "win_rate": float(reach_sum["all"][-1] / max(opp_count["all"], 1)),
        "opportunities_by_channel": {c: opp_count[c] for c in CHANNELS},
        "skill_logit_effect": SKILL_LOGIT,
        "stage_duration_days": {
            s: {"median": med, "sigma": sig, "p90": float(med * np.exp(1.2815515655446004 * sig))}
            for s, (med, sig) in STAGE_DURATION.items()
        },
        "stage_duration_skill_effect": SKILL_SPEED,
        "skipped_stage_share": SKIP_SHARE,
        "reentry_share": REENTRY_SHARE,
        "sla": {"needs_confirmed_hours_after_contact": SLA_HOURS,
                "breach_rate": float(sla_num / max(sla_den, 1))},
        "seasonality": {str(m + 1): float(v) for m, v in enumerate(SEASONALITY)},
        "annual_growth": ANNUAL_GROWTH,
        "promotion": dict(PROMO),
        "rep_skill": {r: float(s) for r, s in skill.items()},
        "skill_effects": {"purchase_rate": SKILL_RATE, "stage_logit": SKILL_LOGIT, "discount_per_sd": -0.02,
                          "pay_delay_days_per_sd": -4.0, "csat_per_sd": 0.3, "nps_per_sd": 0.8,
                          "new_customer_allocation": 0.5, "visits": 0.3},
        "customer_types": {t: {k: v for k, v in TYPE_PARAMS[t].items()} for t in TYPES},
        "customer_type_counts": truth_customers["customer_type"].value_counts().to_dict(),
        "pre_existing_share": PRE_EXISTING_SHARE,
        "dropout_process": "MBG/NBD-style: after every purchase, the first included, the customer leaves with probability p",
        "product_lines": {
            line: {"launch_date": (SMART_HOME_LAUNCH.date().isoformat() if line == "Smart Home" else None),
                   "trend": ("growth" if line == "Smart Home" else "decline" if line == "Legacy Print" else "stable"),
                   "cost_ratio": LINE_COST_RATIO[line]}
            for line in PRODUCT_LINES
        },
        "early_warning": dict(EARLY_WARNING),
        "targets": {"metrics": ["revenue", "new_business"], "stretch": TARGET_STRETCH,
                    "revenue_basis": "skill-neutral expected revenue of each rep's live book",
                    "new_business_basis": "skill-neutral expected won amount of the rep's opportunities, by creation month",
                    "plan_growth_after_data": PLAN_GROWTH, "last_period": "2026-12-01"},
        "rows": dict(w.rows),
    }
    if dirty:
        truth["defects"] = _inject_defects(out, seed)
        truth["rows"]["orders"] += DEFECTS["duplicate_order_lines"]
    truth_customers.to_parquet(out / "truth_customers.parquet", index=False)
    (out / "truth.json").write_text(json.dumps(truth, indent=2, default=str))
    if verbose:
        print(f"demo company: {customers:,} customers, {w.rows.get('orders', 0):,} order lines "
              f"in {time.perf_counter() - t0:.1f}s -> {out}", file=sys.stderr)
    return out


#: Defects injected by ``dirty=True`` (counts are exact, rows are distinct):
#: duplicate_order_lines — order lines repeated with the same (order_id, line_no);
#: nonpositive_revenue — revenue set to a negative value or zero;
#: future_order_dates — order dates in 2099;
#: unknown_customer_orders — orders whose customer_id is not in customers;
#: stage_history_out_of_order — opportunities with a later stage entered *before* the opportunity's
#:     creation (3 days before its lead row);
#: overpaid_invoices — paid_amount 1.5 × amount;
#: html_in_customer_names — customer names carrying <script> markup (reports must escape them).
DEFECTS = {
    "duplicate_order_lines": 25,
    "nonpositive_revenue": 15,
    "future_order_dates": 10,
    "unknown_customer_orders": 12,
    "stage_history_out_of_order": 8,
    "overpaid_invoices": 7,
    "html_in_customer_names": 3,
}


def _inject_defects(folder: Path, seed: int) -> dict[str, int]:
    """Inject :data:`DEFECTS` into the written tables (distinct rows per defect); returns the counts."""
    rng = np.random.default_rng([seed, 999])
    orders = pd.read_parquet(folder / "orders.parquet")
    idx = rng.choice(len(orders), size=sum(DEFECTS[k] for k in
                     ("duplicate_order_lines", "nonpositive_revenue", "future_order_dates", "unknown_customer_orders")),
                     replace=False)
    a, b, c, d = np.split(idx, np.cumsum([DEFECTS["duplicate_order_lines"], DEFECTS["nonpositive_revenue"],
                                          DEFECTS["future_order_dates"]]))
    orders.loc[orders.index[b], "revenue"] = -orders.loc[orders.index[b], "revenue"].abs() * (np.arange(len(b)) % 2)
    orders.loc[orders.index[c], "order_date"] = [dt.date(2099, 1, 1) + dt.timedelta(days=int(i)) for i in range(len(c))]
    orders.loc[orders.index[d], "customer_id"] = [f"X{i:07d}" for i in range(len(d))]
    orders = pd.concat([orders, orders.iloc[a]], ignore_index=True)
    orders.to_parquet(folder / "orders.parquet", index=False)

    sh = pd.read_parquet(folder / "stage_history.parquet")
    counts = sh.groupby("opportunity_id").size()
    multi = counts[counts >= 3].index.to_numpy()
    bad = rng.choice(multi, size=DEFECTS["stage_history_out_of_order"], replace=False)
    for opp in bad:  # the second stage is recorded before the first
        rows = sh.index[sh["opportunity_id"] == opp]
        first, second = rows[0], rows[1]
        sh.loc[second, "entered_at"] = sh.loc[first, "entered_at"] - pd.Timedelta(days=3)
    sh.to_parquet(folder / "stage_history.parquet", index=False)

    inv = pd.read_parquet(folder / "invoices.parquet")
    paid = np.flatnonzero(inv["paid_amount"].to_numpy() >= inv["amount"].to_numpy() - 0.005)
    over = rng.choice(paid, size=DEFECTS["overpaid_invoices"], replace=False)
    inv.loc[inv.index[over], "paid_amount"] = (inv.loc[inv.index[over], "amount"] * 1.5).round(2)
    inv.to_parquet(folder / "invoices.parquet", index=False)

    cust = pd.read_parquet(folder / "customers.parquet")
    evil = rng.choice(len(cust), size=DEFECTS["html_in_customer_names"], replace=False)
    cust.loc[cust.index[evil], "name"] = [f'<script>alert("pwned {i}")</script><b>Evil {i} Ltd</b>' for i in range(len(evil))]
    cust.to_parquet(folder / "customers.parquet", index=False)
    return dict(DEFECTS)


# ----------------------------------------------------------------------------- cache
def demo_cache_dir(seed: int = 0, customers: int = 5000, dirty: bool = False) -> Path:
    tag = f"v{GENERATOR_VERSION}-seed{seed}-c{customers}" + ("-dirty" if dirty else "")
    return cache_dir() / "demo" / tag


def ensure_demo(seed: int = 0, customers: int = 5000, dirty: bool = False) -> Path:
    """The cached demo company for (seed, customers), generated on first use.

    Generation goes to a temporary sibling folder that is renamed into place,
    so concurrent callers and interrupted runs never see a half-written cache.
    """
    target = demo_cache_dir(seed, customers, dirty)
    if (target / "truth.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        generate(tmp, seed=seed, customers=customers, dirty=dirty)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "truth.json").exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


# ----------------------------------------------------------------------------- BG/NBD simulator
def simulate_bgnbd(n: int, r: float, alpha: float, a: float, b: float, T=52.0, seed: int = 0,
                   dropout_at_first: bool = False) -> pd.DataFrame:
    """Simulate calibration data from a BG/NBD process with known parameters.

    λ ~ Gamma(shape r, rate α), p ~ Beta(a, b); purchases follow a Poisson
    process with rate λ from time 0 (the first purchase) to ``T``; after each
    repeat purchase (and at time 0 too when ``dropout_at_first``, the MBG/NBD
    variant) the customer becomes inactive with probability p
    (Fader, Hardie & Lee 2005). Returns one row per customer:
    ``customer_id, frequency, recency, T, lam, p, alive``, where frequency is
    the number of repeat purchases and recency the time of the last one.
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    T_arr = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
    freq = np.zeros(n, dtype=int)
    rec = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    if dropout_at_first:
        alive &= rng.random(n) >= p
    t = np.zeros(n)
    running = alive.copy()
    while running.any():
        idx = np.flatnonzero(running)
        t[idx] += rng.exponential(1.0 / np.maximum(lam[idx], 1e-12))
        within = t[idx] <= T_arr[idx]
        hit = idx[within]
        freq[hit] += 1
        rec[hit] = t[hit]
        drop = hit[rng.random(len(hit)) < p[hit]]
        alive[drop] = False
        running[idx[~within]] = False
        running[drop] = False
    return pd.DataFrame({"customer_id": np.arange(n), "frequency": freq, "recency": rec, "T": T_arr,
                         "lam": lam, "p": p, "alive": alive})


# ----------------------------------------------------------------------------- CLI
def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="folder to write the tables and truth files into")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--customers", type=int, default=5000, help="number of customers (default 5000)")
    parser.add_argument("--dirty", action="store_true", help="inject the known data defects listed in truth.json")


def main_demo(args) -> int:
    out = generate(args.out, seed=args.seed, customers=args.customers, dirty=args.dirty, verbose=True)
    print(out)
    return 0
