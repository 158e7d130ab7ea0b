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
    Monthly targets per rep, team, region and company for ``revenue`` (set on
    1 January of each year from what is known then: 105% of the skill-neutral
    expected revenue of each rep's book — churn during the year expected, not
    known — plus an equal share of the region's expected new-customer revenue,
    times a negotiation factor ``exp(0.10 z)`` per rep and year; so attainment
    reflects skill, luck and politics, never hindsight) and ``new_business`` (set on 1 January the same way:
    105% of the skill-neutral expected won deal amount of the rep's book, opportunities expected from each
    live customer's rate, plus an equal share of the region's new customers'). Targets run 12 months past the
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from salesbench.datasets.public import cache_dir
from salesbench.core.schema import STAGES

GENERATOR_VERSION = 6
START = pd.Timestamp("2023-01-01")
END = pd.Timestamp("2025-12-31")
N_DAYS = (END - START).days + 1
DAYS = pd.date_range(START, END, freq="D")
_END_NS = (END + pd.Timedelta(days=1)).to_datetime64()  # the first instant after the data

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
TARGET_POLITICS = 0.10  # sd of the log negotiation factor of a rep's yearly revenue target
PLAN_GROWTH = 0.08  # targets for the 12 months after the data: last year's × 1.08

TYPES = ["key_account", "regular", "occasional", "one_off"]
TYPE_PARAMS = {
    # share, λ ~ Gamma(rate_shape, rate_scale) per year, p ~ Beta(dropout_a, dropout_b); lines = extra order
    # lines per order (Poisson), qty = extra units per line (Poisson). Value concentration (generator v5): the top
    # 20% of customers make 79-83% of gross profit on seeds 0-4 (5000 customers; 600: 81-82%), a realistic Pareto:
    # key accounts buy the most often and the deepest baskets but at a volume discount, occasional buyers
    # buy broad baskets of single units (units per line, the type signature the clusters find, is unchanged).
    "key_account": dict(share=0.08, rate_shape=8.0, rate_scale=3.0, dropout_a=0.6, dropout_b=60.0,
                        lines=2.0, qty=12.0, discount=0.25, opp_weight=5.0, deal_size=50_000.0,
                        channels=[0.75, 0.20, 0.05, 0.00], contacts=[3.0, 6.0, 12.0], complaints=0.4,
                        pay_delay=2.0),
    "regular": dict(share=0.30, rate_shape=6.0, rate_scale=1.5, dropout_a=1.0, dropout_b=25.0,
                    lines=2.0, qty=4.0, discount=0.08, opp_weight=2.0, deal_size=12_000.0,
                    channels=[0.30, 0.50, 0.15, 0.05], contacts=[1.0, 3.0, 6.0], complaints=0.3,
                    pay_delay=-3.0),
    "occasional": dict(share=0.40, rate_shape=3.0, rate_scale=0.8, dropout_a=2.0, dropout_b=10.0,
                       lines=6.0, qty=1.0, discount=0.03, opp_weight=0.5, deal_size=3_000.0,
                       channels=[0.00, 0.10, 0.50, 0.40], contacts=[0.1, 0.5, 1.5], complaints=0.2,
                       pay_delay=-4.0),
    "one_off": dict(share=0.22, rate_shape=2.0, rate_scale=0.5, dropout_a=8.0, dropout_b=2.0,
                    lines=3.0, qty=0.5, discount=0.01, opp_weight=0.2, deal_size=2_000.0,
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


# ----------------------------------------------------------------------------- the world
@dataclass
class World:
    """What every table simulator shares: the seed, the size, the reps and products, the calendar.

    The truth parameters are the module constants above (written to ``truth.json``);
    ``rng`` is the run's generator (reps, products); each chunk of customers draws
    from its own generator seeded ``[seed, first customer index]`` (:class:`Chunk`).
    """

    seed: int
    n_customers: int
    rng: np.random.Generator
    reps: pd.DataFrame
    products: pd.DataFrame
    day_factor: np.ndarray  # calendar multiplier per day (seasonality × trend × promotion)
    promo_day: np.ndarray  # promotion flag per day
    line_time_w: np.ndarray  # (product lines, days) demand multipliers
    line_products: dict[int, np.ndarray]  # product-line index -> product row indices
    month_index: np.ndarray  # month 0..35 of each day
    month_bounds: list[tuple[int, int]]  # first and last day of each month
    month_factor: np.ndarray  # Σ day factors per month

    @classmethod
    def build(cls, seed: int, customers: int) -> "World":
        rng = np.random.default_rng(seed)
        reps = _make_reps(rng)
        products = _make_products(rng)
        day_factor, promo_day = _day_factor()
        month_index = ((DAYS.year - START.year) * 12 + DAYS.month - 1).to_numpy()
        return cls(
            seed=seed, n_customers=customers, rng=rng, reps=reps, products=products,
            day_factor=day_factor, promo_day=promo_day, line_time_w=_line_time_weights(),
            line_products={li: np.flatnonzero(products["product_line"].to_numpy() == line)
                           for li, line in enumerate(PRODUCT_LINES)},
            month_index=month_index,
            month_bounds=[(int(np.flatnonzero(month_index == m)[0]), int(np.flatnonzero(month_index == m)[-1]))
                          for m in range(36)],
            month_factor=np.bincount(month_index, weights=day_factor, minlength=36),
        )

    @property
    def rep_ids(self) -> np.ndarray:
        return self.reps["rep_id"].to_numpy()

    @property
    def rep_skill(self) -> np.ndarray:
        return self.reps["skill"].to_numpy()


@dataclass
class Tally:
    """Sums kept across chunks: id counters, the truth of the pipeline, the potential behind targets."""

    n_reps: int
    reach_sum: dict[str, np.ndarray] = field(default_factory=dict)  # Σ P(reach stage k) per channel and "all"
    opp_count: dict[str, int] = field(default_factory=dict)
    sla_num: int = 0
    sla_den: int = 0
    potential: np.ndarray = None  # expected orders of the book known on 1 January, per type × rep × month
    new_potential: np.ndarray = None  # expected orders of the year's new customers, per type × region × month
    nb_potential: np.ndarray = None  # expected won deal amount of the book known on 1 January, per rep × month
    nb_new_potential: np.ndarray = None  # expected won deal amount of the year's new customers, per region × month
    rep_visits: np.ndarray = None  # visits per rep × month (drive travel expenses)
    type_value_sum: dict[str, float] = field(default_factory=dict)
    type_orders: dict[str, int] = field(default_factory=dict)
    next_order: int = 0
    next_invoice: int = 0
    next_opp: int = 0

    def __post_init__(self):
        n_stage = len(STAGES) - 1
        self.reach_sum = {c: np.zeros(n_stage + 1) for c in CHANNELS + ["all"]}
        self.opp_count = {c: 0 for c in CHANNELS + ["all"]}
        self.potential = np.zeros((len(TYPES), self.n_reps, 36))
        self.new_potential = np.zeros((len(TYPES), len(REGIONS), 36))
        self.nb_potential = np.zeros((self.n_reps, 36))
        self.nb_new_potential = np.zeros((len(REGIONS), 36))
        self.rep_visits = np.zeros((self.n_reps, 36))
        self.type_value_sum = {t: 0.0 for t in TYPES}
        self.type_orders = {t: 0 for t in TYPES}


@dataclass
class Chunk:
    """One chunk of customers: latent attributes, then what the simulators add in order
    (purchase days, order revenue, active spans). ``rng`` is consumed in simulator order."""

    c0: int
    n: int
    rng: np.random.Generator
    ids: np.ndarray
    ctype_idx: np.ndarray
    ctype: np.ndarray
    par: dict[str, np.ndarray]  # TYPE_PARAMS per customer
    lam: np.ndarray  # purchase rate per year (before the owner's skill)
    p_drop: np.ndarray
    region_idx: np.ndarray
    region: np.ndarray
    pre_existing: np.ndarray
    first_day: np.ndarray
    signup: np.ndarray
    owner: np.ndarray  # rep row index
    oskill: np.ndarray
    lam_eff: np.ndarray
    chan_p: np.ndarray
    channel_idx: np.ndarray
    channel: np.ndarray
    churned: np.ndarray = None
    churn_day: np.ndarray = None
    ev_c: np.ndarray = None  # purchase events: customer index, day
    ev_d: np.ndarray = None
    order_rev: np.ndarray = None  # revenue per purchase event
    span_start: np.ndarray = None
    span_end: np.ndarray = None
    span_years: np.ndarray = None

    def span_events(self, rate_per_year):
        """Events at ``rate_per_year`` spread uniformly over each customer's active span: (customer, day)."""
        k = self.rng.poisson(rate_per_year * self.span_years)
        cc = np.repeat(np.arange(self.n), k)
        dd = self.span_start[cc] + np.floor(
            self.rng.random(len(cc)) * (self.span_end[cc] - self.span_start[cc] + 1)).astype(int)
        return cc, dd


# ----------------------------------------------------------------------------- per-chunk simulators
def _simulate_customer_attributes(world: World, c0: int, n: int) -> Chunk:
    """Latent type, purchase rate, dropout probability, region, owner rep and channel of ``n`` customers."""
    crng = np.random.default_rng([world.seed, c0])
    rep_skill, rep_region = world.rep_skill, world.reps["region"].to_numpy()
    ids = np.array([f"C{c0 + i + 1:07d}" for i in range(n)])
    ctype_idx = crng.choice(len(TYPES), size=n, p=[TYPE_PARAMS[t]["share"] for t in TYPES])
    par = {k: np.array([TYPE_PARAMS[t][k] for t in TYPES])[ctype_idx]
           for k in ("rate_shape", "rate_scale", "dropout_a", "dropout_b", "lines", "qty", "discount",
                     "opp_weight", "deal_size", "complaints", "pay_delay")}
    lam = crng.gamma(par["rate_shape"], par["rate_scale"])
    p_drop = crng.beta(par["dropout_a"], par["dropout_b"])
    region_idx = crng.choice(len(REGIONS), size=n, p=REGION_WEIGHTS)
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
    chan_p = np.array([TYPE_PARAMS[t]["channels"] for t in TYPES])[ctype_idx]
    channel_idx = _choice_rows(crng, chan_p)
    return Chunk(c0=c0, n=n, rng=crng, ids=ids, ctype_idx=ctype_idx, ctype=np.array(TYPES)[ctype_idx], par=par,
                 lam=lam, p_drop=p_drop, region_idx=region_idx, region=np.array(REGIONS)[region_idx],
                 pre_existing=pre_existing, first_day=first_day, signup=signup, owner=owner, oskill=oskill,
                 lam_eff=lam * np.exp(SKILL_RATE * oskill), chan_p=chan_p, channel_idx=channel_idx,
                 channel=np.array(CHANNELS)[channel_idx])


def _simulate_purchases(world: World, ch: Chunk) -> None:
    """Purchase days (MBG/NBD dropout after each purchase, early-warning thinning) → ``ch.ev_c``, ``ch.ev_d``."""
    n, crng = ch.n, ch.rng
    days = np.arange(N_DAYS)
    intensity = (ch.lam_eff[:, None] / 365.25) * world.day_factor[None, :]
    active = days[None, :] >= ch.first_day[:, None]
    buy = (crng.random((n, N_DAYS)) < intensity) & active
    new = ~ch.pre_existing
    buy[np.flatnonzero(new), ch.first_day[new]] = True
    cum = np.cumsum(buy, axis=1)
    k_drop = crng.geometric(ch.p_drop)  # the customer leaves right after purchase number k_drop
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
    ch.churned, ch.churn_day = churned, churn_day
    ch.ev_c, ch.ev_d = np.nonzero(buy)


def _simulate_orders(world: World, tally: Tally, ch: Chunk) -> pd.DataFrame:
    """Order lines of the chunk's purchases: product mix by type and launch/decline, quantity, discount, channel."""
    crng, ev_c, ev_d = ch.rng, ch.ev_c, ch.ev_d
    products = world.products
    prod_id, prod_price, prod_cost = (products[c].to_numpy() for c in ("product_id", "list_price", "unit_cost"))
    n_ev = len(ev_c)
    n_lines = 1 + crng.poisson(ch.par["lines"][ev_c])
    line_c = np.repeat(ev_c, n_lines)
    line_d = np.repeat(ev_d, n_lines)
    line_no = np.concatenate([np.arange(1, k + 1) for k in n_lines]) if n_ev else np.array([], int)
    order_num = np.repeat(np.arange(tally.next_order, tally.next_order + n_ev), n_lines)
    tally.next_order += n_ev
    mix = np.array([LINE_MIX[t] for t in TYPES])[ch.ctype_idx[line_c]] * world.line_time_w[:, line_d].T
    pl = _choice_rows(crng, mix)
    prod = np.empty(len(pl), dtype=int)
    for li, cand in world.line_products.items():
        m = pl == li
        prod[m] = crng.choice(cand, size=int(m.sum()))
    qty = 1 + crng.poisson(ch.par["qty"][line_c])
    promo = world.promo_day[line_d]
    chan_add = np.where(ch.channel[line_c] == "distributor", 0.05, 0.0)
    disc = ch.par["discount"][line_c] + chan_add - 0.02 * ch.oskill[line_c] + np.where(promo, PROMO["extra_discount"], 0)
    disc = np.round(np.clip(disc + crng.normal(0, 0.02, len(disc)), 0, 0.6) / 0.005) * 0.005
    unit_price = np.round(prod_price[prod] * (1 - disc), 2)
    revenue = np.round(qty * unit_price, 2)
    cost = np.round(qty * prod_cost[prod], 2)
    # channel per order: mostly the customer's main channel
    order_chan = ch.channel_idx[ev_c].copy()
    switch = crng.random(n_ev) < 0.15
    order_chan[switch] = _choice_rows(crng, ch.chan_p[ev_c[switch]]) if switch.any() else order_chan[switch]
    line_chan = np.repeat(order_chan, n_lines)
    orders = pd.DataFrame({
        "order_id": pd.Series(order_num).map(lambda v: f"O{v + 1:09d}").to_numpy(),
        "line_no": line_no.astype(np.int64),
        "order_date": (START + pd.to_timedelta(line_d, unit="D")).date,
        "customer_id": ch.ids[line_c],
        "product_id": prod_id[prod],
        "quantity": qty.astype(np.float64),
        "unit_price": unit_price,
        "discount": disc,
        "revenue": revenue,
        "cost": cost,
        "rep_id": world.rep_ids[ch.owner[line_c]],
        "channel": np.array(CHANNELS)[line_chan],
        "promo": promo,
    })
    # average order value per type (turns expected orders into the revenue potential of targets)
    ch.order_rev = np.bincount(order_num - order_num.min(), weights=revenue, minlength=n_ev) if n_ev else np.zeros(0)
    for ti, t in enumerate(TYPES):
        m = ch.ctype_idx[ev_c] == ti
        tally.type_value_sum[t] += float(ch.order_rev[m].sum())
        tally.type_orders[t] += int(m.sum())
    return orders


def _simulate_invoices(world: World, tally: Tally, ch: Chunk) -> pd.DataFrame:
    """One invoice per order: terms by type, payment delay by type, rep skill and early warning; some unpaid."""
    crng, ev_c, ev_d, n_ev = ch.rng, ch.ev_c, ch.ev_d, len(ch.ev_c)
    win = EARLY_WARNING["window_days"]
    inv_date = START + pd.to_timedelta(ev_d, unit="D")
    terms = np.where(ch.ctype[ev_c] == "key_account", 45, 30)
    due = inv_date + pd.to_timedelta(terms, unit="D")
    ew_inv = ch.churned[ev_c] & (ev_d > ch.churn_day[ev_c] - win)
    delay = (ch.par["pay_delay"][ev_c] - 4.0 * ch.oskill[ev_c] + crng.normal(0, 8, n_ev)
             + np.where(ew_inv, EARLY_WARNING["extra_pay_delay_days"], 0))
    paid_date = due + pd.to_timedelta(np.maximum(np.round(delay).astype(int), -terms), unit="D")  # never before issue
    unpaid = crng.random(n_ev) < (0.02 + 0.015 * np.clip(-ch.oskill[ev_c], 0, None) + 0.05 * ew_inv)
    partial = (~unpaid) & (crng.random(n_ev) < 0.02)
    paid_share = np.where(unpaid, 0.0, np.where(partial, crng.uniform(0.5, 0.9, n_ev), 1.0))
    not_yet = paid_date > END
    paid_share = np.where(not_yet, 0.0, paid_share)
    inv_amount = np.round(ch.order_rev, 2)
    invoices = pd.DataFrame({
        "invoice_id": [f"I{v + 1:09d}" for v in range(tally.next_invoice, tally.next_invoice + n_ev)],
        "customer_id": ch.ids[ev_c],
        "rep_id": world.rep_ids[ch.owner[ev_c]],
        "invoice_date": inv_date.date,
        "due_date": due.date,
        "amount": inv_amount,
        "paid_amount": np.round(inv_amount * paid_share, 2),
        "paid_date": pd.Series(paid_date.date).where(paid_share > 0, None).to_numpy(),
    })
    tally.next_invoice += n_ev
    return invoices


def _active_spans(ch: Chunk) -> None:
    """Each customer's active span: from the start (pre-existing) or first purchase to churn or the end."""
    first_buy = np.full(ch.n, N_DAYS)
    np.minimum.at(first_buy, ch.ev_c, ch.ev_d)
    ch.span_start = np.where(ch.pre_existing, 0, first_buy)
    span_end = np.where(ch.churned, ch.churn_day, N_DAYS - 1)
    ch.span_end = np.maximum(span_end, ch.span_start)
    ch.span_years = (ch.span_end - ch.span_start + 1) / 365.25


def _simulate_surveys(world: World, ch: Chunk) -> pd.DataFrame:
    """CSAT (1-5) and NPS (0-10) surveys over the active span; lower in the early-warning window."""
    win = EARLY_WARNING["window_days"]
    sv_rate = np.where(np.isin(ch.ctype, ["key_account", "regular"]), 1.5, 0.5)
    sc, sd = ch.span_events(sv_rate)
    ew_s = ch.churned[sc] & (sd > ch.churn_day[sc] - win)
    csat = np.clip(np.round(ch.rng.normal(3.9 + 0.3 * ch.oskill[sc] - EARLY_WARNING["csat_drop"] * ew_s, 0.8)), 1, 5)
    nps = np.clip(np.round(ch.rng.normal(7.0 + 0.8 * ch.oskill[sc] - EARLY_WARNING["nps_drop"] * ew_s, 1.8)), 0, 10)
    return pd.DataFrame({
        "customer_id": ch.ids[sc], "survey_date": (START + pd.to_timedelta(sd, unit="D")).date,
        "csat": csat.astype(float), "nps": nps.astype(float), "rep_id": world.rep_ids[ch.owner[sc]],
    })


def _simulate_interactions(world: World, tally: Tally, ch: Chunk) -> pd.DataFrame:
    """Visits, calls, emails (rates by type; visits grow with skill) and complaints (6× in the warning window)."""
    crng, n = ch.rng, ch.n
    win = EARLY_WARNING["window_days"]
    inter = []
    contacts = np.array([TYPE_PARAMS[t]["contacts"] for t in TYPES])[ch.ctype_idx]
    for ki, kind in enumerate(["visit", "call", "email"]):
        mult = np.exp(0.3 * ch.oskill) if kind == "visit" else 1.0
        cc, dd = ch.span_events(contacts[:, ki] * mult)
        inter.append((cc, dd, kind))
    np.add.at(tally.rep_visits, (ch.owner[inter[0][0]], world.month_index[inter[0][1]]), 1)
    # complaints: base rate, 6x inside the early-warning window
    cc, dd = ch.span_events(ch.par["complaints"])
    inter.append((cc, dd, "complaint"))
    ew_start = np.maximum(ch.churn_day - win, ch.span_start)
    ew_len = np.where(ch.churned, np.maximum(ch.churn_day - ew_start, 0), 0)
    k_extra = crng.poisson(ch.par["complaints"] * (EARLY_WARNING["complaint_multiplier"] - 1) * ew_len / 365.25)
    cc = np.repeat(np.arange(n), k_extra)
    dd = ew_start[cc] + np.floor(crng.random(len(cc)) * np.maximum(ew_len[cc], 1)).astype(int)
    inter.append((cc, dd, "complaint"))
    ic = np.concatenate([x[0] for x in inter])
    idd = np.concatenate([x[1] for x in inter])
    ikind = np.concatenate([np.full(len(x[0]), x[2]) for x in inter])
    minutes = crng.integers(8 * 60, 18 * 60, len(ic))
    return pd.DataFrame({
        "customer_id": ch.ids[ic], "rep_id": world.rep_ids[ch.owner[ic]],
        "occurred_at": START + pd.to_timedelta(idd, unit="D") + pd.to_timedelta(minutes, unit="min"),
        "kind": ikind,
    }).sort_values(["occurred_at", "customer_id"], kind="stable")


@dataclass
class _Walk:
    """The stage walk of a chunk's opportunities (see :func:`_walk_pipeline`)."""

    oc: np.ndarray  # customer index per opportunity
    created_day: np.ndarray
    created_ns: np.ndarray
    och: np.ndarray  # channel index
    q_base: np.ndarray  # skill-neutral advance probabilities (n_opp, stages - 1)
    k_final: np.ndarray  # furthest stage index reached
    dur: np.ndarray  # days spent in each stage before the next event
    entry: np.ndarray  # entry[:, k] = time stage k is entered (k = 6: won)
    entered: np.ndarray
    skip: np.ndarray

    @property
    def n(self) -> int:
        return len(self.oc)


def _walk_pipeline(world: World, tally: Tally, ch: Chunk) -> _Walk:
    """Opportunities over the active span; each advances stage by stage with a channel- and skill-dependent
    probability after a lognormal stage duration. Adds the true reach probabilities to ``tally``."""
    crng, n_stage = ch.rng, len(STAGES) - 1
    n_opp_c = crng.poisson(ch.par["opp_weight"] * OPPS_PER_WEIGHT_YEAR * ch.span_years)
    oc = np.repeat(np.arange(ch.n), n_opp_c)
    n_opp = len(oc)
    span_len = np.maximum(ch.span_end[oc] - ch.span_start[oc], 1)
    created_day = ch.span_start[oc] + crng.random(n_opp) * span_len
    created_ns = (START.to_datetime64() + (created_day * 1440).round().astype(np.int64) * np.timedelta64(60, "s")).astype("datetime64[ns]")
    och = ch.channel_idx[oc]
    q_base = np.array([STAGE_Q[c] for c in CHANNELS])[och]  # (n_opp, 6)
    osk = ch.oskill[oc]
    q = _expit(_logit(q_base) + SKILL_LOGIT * osk[:, None])
    reach = np.concatenate([np.ones((n_opp, 1)), np.cumprod(q, axis=1)], axis=1)  # P(reach stage k)
    for ci, cname in enumerate(CHANNELS):
        m = och == ci
        tally.reach_sum[cname] += reach[m].sum(axis=0)
        tally.opp_count[cname] += int(m.sum())
    tally.reach_sum["all"] += reach.sum(axis=0)
    tally.opp_count["all"] += n_opp
    adv = crng.random((n_opp, n_stage)) < q
    k_final = np.where(adv.all(axis=1), n_stage, np.argmin(adv, axis=1))  # furthest stage index reached
    speed = np.exp(-SKILL_SPEED * osk)
    dur = np.stack([_lognormal(crng, STAGE_DURATION[s][0], STAGE_DURATION[s][1], n_opp) * speed
                    for s in STAGES[:-1]], axis=1)  # days spent in each stage before the next event
    dur_ns = (dur * 86400).round().astype(np.int64) * np.timedelta64(1, "s")
    entry = created_ns[:, None] + np.concatenate(
        [np.zeros((n_opp, 1), dtype="timedelta64[s]"), np.cumsum(dur_ns, axis=1)], axis=1
    ).astype("timedelta64[ns]")  # entry[:, k] = time stage k is entered (k = 6: won)
    kk = np.arange(n_stage + 1)[None, :]
    entered = (kk <= k_final[:, None]) & (entry < _END_NS)
    skip = (crng.random(n_opp) < SKIP_SHARE) & entered[:, 3]
    return _Walk(oc=oc, created_day=created_day, created_ns=created_ns, och=och, q_base=q_base, k_final=k_final,
                 dur=dur, entry=entry, entered=entered, skip=skip)


def _simulate_opportunities(world: World, tally: Tally, ch: Chunk) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(opportunities, stage_history)`` of the chunk: status, lost reasons, the recording artefacts
    (skipped ``needs_confirmed`` rows, re-entries into ``proposal``), amounts; SLA and new-business tallies."""
    crng, n_stage = ch.rng, len(STAGES) - 1
    wk = _walk_pipeline(world, tally, ch)
    n_opp, entry, entered, k_final = wk.n, wk.entry, wk.entered, wk.k_final
    kk = np.arange(n_stage + 1)[None, :]
    recorded = entered & ~((kk == 2) & wk.skip[:, None])
    lost_time = entry[np.arange(n_opp), np.minimum(k_final + 1, n_stage)]
    is_won = (k_final == n_stage) & entered[:, n_stage]
    is_lost = (k_final < n_stage) & (lost_time < _END_NS)
    last_k = entered.sum(axis=1) - 1
    status = np.where(is_won, "won", np.where(is_lost, "lost", "open"))
    stage_names = np.array(list(STAGES))
    cur_stage = np.where(is_won, "won", np.where(is_lost, "lost", stage_names[np.clip(last_k, 0, n_stage)]))
    closed = np.where(is_won, entry[:, n_stage], np.where(is_lost, lost_time, np.datetime64("NaT")))
    reason_p = np.where((k_final < 3)[:, None], np.array(LOST_REASON_EARLY)[None, :], np.array(LOST_REASON_LATE)[None, :])
    lost_reason = np.where(is_lost, np.array(LOST_REASONS)[_choice_rows(crng, reason_p)], None)
    opp_ids = np.array([f"D{v + 1:08d}" for v in range(tally.next_opp, tally.next_opp + n_opp)])
    tally.next_opp += n_opp
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
    sla_m = entered[:, 2] & ~wk.skip
    tally.sla_den += int(sla_m.sum())
    tally.sla_num += int((sla_m & (wk.dur[:, 1] * 24 > SLA_HOURS)).sum())
    opp_amount = np.round(_lognormal(crng, ch.par["deal_size"][wk.oc], 0.6, n_opp), -1)
    opps = pd.DataFrame({
        "opportunity_id": opp_ids, "customer_id": ch.ids[wk.oc], "rep_id": world.rep_ids[ch.owner[wk.oc]],
        "created_at": wk.created_ns, "amount": opp_amount,
        "stage": cur_stage, "status": status, "closed_at": closed.astype("datetime64[ns]"),
        "lost_reason": lost_reason, "channel": np.array(CHANNELS)[wk.och],
    })
    return opps, stage_history


def _simulate_customers(world: World, ch: Chunk) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(customers, truth_customers)`` of the chunk: the CRM record (noisy tier, name, industry) and the truth."""
    crng, n = ch.rng, ch.n
    tier = np.array(["A", "B", "C"])[_choice_rows(crng, np.array([TIER_GIVEN_TYPE[t] for t in TYPES])[ch.ctype_idx])]
    names = [f"{WORDS_A[a]} {WORDS_B[b]} {WORDS_C[c]}" for a, b, c in zip(
        crng.integers(0, len(WORDS_A), n), crng.integers(0, len(WORDS_B), n), crng.integers(0, len(WORDS_C), n))]
    cust = pd.DataFrame({
        "customer_id": ch.ids, "name": names, "region": ch.region, "channel": ch.channel,
        "industry": np.array(INDUSTRIES)[crng.integers(0, len(INDUSTRIES), n)], "tier": tier,
        "signup_date": pd.to_datetime(ch.signup).date, "owner_rep_id": world.rep_ids[ch.owner],
    })
    churned_at = pd.Series((START + pd.to_timedelta(np.where(ch.churned, ch.churn_day, 0), unit="D")).date).where(ch.churned, None)
    truth = pd.DataFrame({
        "customer_id": ch.ids, "customer_type": ch.ctype, "purchase_rate": np.round(ch.lam_eff, 4),
        "dropout_prob": np.round(ch.p_drop, 5), "churned_at": churned_at.to_numpy(),
        "signup_date": cust["signup_date"].to_numpy(), "owner_rep_id": world.rep_ids[ch.owner],
        "pre_existing": ch.pre_existing,
    })
    return cust, truth


def _add_target_potential(world: World, tally: Tally, ch: Chunk) -> None:
    """What the company can know on 1 January of each year, as skill-neutral expected orders per type × month.

    Book (per owner rep): the customers that bought before the year and have not left by its first day,
    each with ``λ × calendar × exp(−λ·p·t)`` (t = years from 1 January to the middle of the month: under the
    dropout process a customer leaves with probability p after each of its ~λ purchases a year), so the
    churn *during* the year is expected, not known. New customers (per region): those whose first purchase
    falls in the year, the same expectation from their first day plus that first purchase; the company
    plans for a region's sign-ups, not for who wins them. No realised event of the year enters a target.
    New business the same way: each customer's expected opportunities (``opp_weight × OPPS_PER_WEIGHT_YEAR`` a
    year while active, the same survival) × its won deal's expected worth (mean deal size × the channel's
    skill-neutral win rate), per owner rep (book) and per region (new customers); not the opportunities that
    were in fact created.
    """
    n_reps = len(world.reps)
    gone_day = np.where(ch.churned, ch.churn_day, N_DAYS)  # the customer has left after this day
    # a won deal's expected worth: the lognormal mean of the type's deal size × the channel's neutral win rate
    neutral_win = np.prod(np.array([STAGE_Q[c] for c in CHANNELS])[ch.channel_idx], axis=1)
    deal_value = ch.par["deal_size"] * np.exp(0.6 ** 2 / 2) * neutral_win
    for y in range(3):
        y0, y1 = world.month_bounds[12 * y][0], world.month_bounds[12 * y + 11][1]
        book = (ch.pre_existing | (ch.span_start < y0)) & (gone_day >= y0)
        new = ~ch.pre_existing & (ch.span_start >= y0) & (ch.span_start <= y1)
        for mi in range(12 * y, 12 * y + 12):
            lo, hi = world.month_bounds[mi]
            rate = ch.lam * world.month_factor[mi] / 365.25  # expected orders in the whole month
            t_book = ((lo + hi) / 2 - y0 + 0.5) / 365.25
            exp_book = np.where(book, rate * np.exp(-ch.lam * ch.p_drop * t_book), 0.0)
            share = np.clip(hi - np.maximum(ch.span_start, lo) + 1, 0, None) / (hi - lo + 1)
            t_new = np.maximum((np.maximum(ch.span_start, lo) + hi) / 2 - ch.span_start, 0) / 365.25
            first = (ch.span_start >= lo) & (ch.span_start <= hi)
            exp_new = np.where(new, rate * share * np.exp(-ch.lam * ch.p_drop * t_new) + first, 0.0)
            # new business: opportunities arrive at opp_weight × OPPS_PER_WEIGHT_YEAR a year while the customer
            # is active, each won with the channel's skill-neutral probability, worth the type's mean deal size
            opps = ch.par["opp_weight"] * OPPS_PER_WEIGHT_YEAR * (hi - lo + 1) / 365.25 * deal_value
            nb_book = np.where(book, opps * np.exp(-ch.lam * ch.p_drop * t_book), 0.0)
            nb_new = np.where(new, opps * share * np.exp(-ch.lam * ch.p_drop * t_new), 0.0)
            tally.nb_potential[:, mi] += np.bincount(ch.owner, weights=nb_book, minlength=n_reps)
            tally.nb_new_potential[:, mi] += np.bincount(ch.region_idx, weights=nb_new, minlength=len(REGIONS))
            for ti in range(len(TYPES)):
                m = ch.ctype_idx == ti
                tally.potential[ti, :, mi] += np.bincount(ch.owner[m], weights=exp_book[m], minlength=n_reps)
                tally.new_potential[ti, :, mi] += np.bincount(ch.region_idx[m], weights=exp_new[m],
                                                              minlength=len(REGIONS))


def _simulate_chunk(world: World, tally: Tally, c0: int, n: int) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """All tables of customers ``c0 .. c0 + n - 1`` (the simulators share one generator, in this order)."""
    ch = _simulate_customer_attributes(world, c0, n)
    _simulate_purchases(world, ch)
    tables = {"orders": _simulate_orders(world, tally, ch), "invoices": _simulate_invoices(world, tally, ch)}
    _active_spans(ch)
    tables["surveys"] = _simulate_surveys(world, ch)
    tables["interactions"] = _simulate_interactions(world, tally, ch)
    tables["opportunities"], tables["stage_history"] = _simulate_opportunities(world, tally, ch)
    tables["customers"], truth = _simulate_customers(world, ch)
    _add_target_potential(world, tally, ch)
    return tables, truth


# ----------------------------------------------------------------------------- company-wide tables
def _simulate_targets(world: World, tally: Tally) -> pd.DataFrame:
    """Monthly targets per rep, team, region and company for revenue and new business.

    revenue, set on 1 January of each year from what the company knows then (:func:`_add_target_potential`):
    the expected revenue of the rep's book plus an equal share of the region's expected new-customer
    revenue (expected orders × the type's average order value), × :data:`TARGET_STRETCH`, × a per rep and
    year negotiation factor ``exp(TARGET_POLITICS × z)``, z ~ N(0, 1), rescaled so each region keeps its
    total (the "politics" of target setting: some reps talk their target down, some are pushed up).
    Skill-neutral, so attainment reflects skill. new_business, set on 1 January the same way: the expected
    won deal amount of the rep's book plus an equal share of the region's new customers' (no negotiation).
    The plan for the year after the data (the "coming
    periods") is the last year's targets × (1 + PLAN_GROWTH).
    """
    reps = world.reps
    aov = np.array([tally.type_value_sum[t] / max(tally.type_orders[t], 1) for t in TYPES])
    region_idx = reps["region"].map({r: i for i, r in enumerate(REGIONS)}).to_numpy()
    per_region = np.bincount(region_idx, minlength=len(REGIONS))
    revenue = (np.einsum("t,trm->rm", aov, tally.potential)
               + np.einsum("t,tgm->gm", aov, tally.new_potential)[region_idx] / per_region[region_idx, None])
    prng = np.random.default_rng([world.seed, 78])
    politics = np.exp(TARGET_POLITICS * prng.standard_normal((len(reps), 3)))
    for y in range(3):
        year = revenue[:, 12 * y:12 * y + 12]
        before = np.bincount(region_idx, weights=year.sum(axis=1), minlength=len(REGIONS))
        year *= politics[:, [y]]
        after = np.bincount(region_idx, weights=year.sum(axis=1), minlength=len(REGIONS))
        year *= (before / after)[region_idx, None]
    new_business = tally.nb_potential + tally.nb_new_potential[region_idx] / per_region[region_idx, None]
    tg = []
    for metric, pot in (("revenue", revenue), ("new_business", new_business)):
        pot = pot * TARGET_STRETCH
        pot = np.concatenate([pot, pot[:, 24:36] * (1 + PLAN_GROWTH)], axis=1)
        periods = [(START + pd.DateOffset(months=m)).date() for m in range(pot.shape[1])]
        rep_tg = pd.DataFrame(pot, index=world.rep_ids, columns=periods).round(-2)
        for level, keys in (("rep", reps["rep_id"]), ("team", reps["team"]), ("region", reps["region"]),
                            ("company", pd.Series("company", index=reps.index))):
            agg = rep_tg.groupby(keys.to_numpy()).sum()
            long = agg.stack().rename("value").reset_index()
            long.columns = ["key", "period", "value"]
            long["level"] = level
            long["metric"] = metric
            tg.append(long)
    return pd.concat(tg, ignore_index=True)[["period", "level", "key", "metric", "value"]]


def _simulate_expenses(world: World, tally: Tally) -> pd.DataFrame:
    """Sales expenses per rep and month: a fixed allowance, travel per visit, entertainment."""
    rep_ids, n_reps = world.rep_ids, len(world.reps)
    erng = np.random.default_rng([world.seed, 77])
    exp_rows = []
    for mi in range(36):
        period = (START + pd.DateOffset(months=mi)).date()
        travel = tally.rep_visits[:, mi] * erng.uniform(300, 700, n_reps)
        allowance = np.full(n_reps, 8000.0)
        entertainment = erng.gamma(2.0, 3000.0 * np.exp(-0.2 * world.rep_skill))
        for cat, amt in (("allowance", allowance), ("travel", travel), ("entertainment", entertainment)):
            exp_rows.append(pd.DataFrame({"rep_id": rep_ids, "expense_date": period, "category": cat,
                                          "amount": np.round(amt, 2)}))
    expenses = pd.concat(exp_rows, ignore_index=True)
    expenses.insert(0, "expense_id", [f"E{i + 1:07d}" for i in range(len(expenses))])
    return expenses


def _stage_rates(sums: np.ndarray) -> dict[str, float]:
    return {f"{STAGES[k]}->{STAGES[k + 1]}": float(sums[k + 1] / sums[k]) for k in range(len(STAGES) - 1)}


def _pipeline_truth(tally: Tally) -> dict[str, Any]:
    """The funnel's truth: stage conversion (implied by the deals' true probabilities), win rates, durations, SLA."""
    reach_sum, opp_count = tally.reach_sum, tally.opp_count
    return {
        "stage_conversion": _stage_rates(reach_sum["all"]),
        "stage_conversion_by_channel": {c: _stage_rates(reach_sum[c]) for c in CHANNELS if opp_count[c]},
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
                "breach_rate": float(tally.sla_num / max(tally.sla_den, 1))},
    }


def _truth(world: World, tally: Tally, truth_customers: pd.DataFrame, rows: dict[str, int]) -> dict[str, Any]:
    """``truth.json``: every parameter of the processes and the realised pipeline, type and row counts."""
    return {
        "generator_version": GENERATOR_VERSION,
        "seed": world.seed,
        "n_customers": world.n_customers,
        "start_date": START.date().isoformat(),
        "end_date": END.date().isoformat(),
        "stages": list(STAGES),
        **_pipeline_truth(tally),
        "seasonality": {str(m + 1): float(v) for m, v in enumerate(SEASONALITY)},
        "annual_growth": ANNUAL_GROWTH,
        "promotion": dict(PROMO),
        "rep_skill": {r: float(s) for r, s in world.reps.set_index("rep_id")["skill"].items()},
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
                    "revenue_basis": "set on 1 January from what is known then: skill-neutral expected revenue of "
                                     "each rep's book (churn during the year expected, not known) + an equal share "
                                     "of the region's expected new-customer revenue, x a negotiation factor",
                    "politics_sd": TARGET_POLITICS,
                    "new_business_basis": "set on 1 January: skill-neutral expected won amount of the opportunities "
                                          "of the rep's live book plus an equal share of the region's new customers'",
                    "plan_growth_after_data": PLAN_GROWTH, "last_period": "2026-12-01"},
        "rows": dict(rows),
    }


# ----------------------------------------------------------------------------- the generator
#: per-chunk tables in the order they are written
_CHUNK_TABLES = ("customers", "orders", "invoices", "surveys", "interactions", "opportunities", "stage_history")


def generate(out_dir, seed: int = 0, customers: int = 5000, dirty: bool = False, verbose: bool = False) -> Path:
    """Generate the demo company into ``out_dir`` (created if needed); returns the folder.

    Writes ``<table>.parquet`` for every canonical table, ``truth.json`` and
    ``truth_customers.parquet``. ``dirty=True`` injects the defects listed in
    ``truth.json["defects"]`` (for validation tests). Customers are simulated in
    chunks of :data:`CHUNK` (bounded memory), each table by its own simulator
    over the shared :class:`World`.
    """
    if customers < 50:
        raise ValueError("the demo company needs at least 50 customers")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    world = World.build(seed, customers)
    tally = Tally(n_reps=len(world.reps))
    w = _Writer(out)
    w.write("reps", world.reps.drop(columns="skill"))
    w.write("products", world.products)
    truth_parts = []
    for c0 in range(0, customers, CHUNK):
        n = min(CHUNK, customers - c0)
        tables, truth_part = _simulate_chunk(world, tally, c0, n)
        truth_parts.append(truth_part)
        for name in _CHUNK_TABLES:
            w.write(name, tables[name])
        if verbose:
            print(f"  customers {c0 + n:,}/{customers:,}  ({time.perf_counter() - t0:.1f}s)", file=sys.stderr)
    truth_customers = pd.concat(truth_parts, ignore_index=True)
    w.write("targets", _simulate_targets(world, tally))
    w.write("expenses", _simulate_expenses(world, tally))
    w.close()
    truth = _truth(world, tally, truth_customers, w.rows)
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
    parser.add_argument("--format", default="parquet", choices=["parquet", "cn-gbk"],
                        help="parquet (default): the canonical tables and truth files; cn-gbk: a Chinese CRM/ERP "
                             "export (GBK CSV, Chinese headers) of orders, customers and reps for "
                             "params/sources/example_cn_gbk.yaml")


def main_demo(args) -> int:
    if args.customers < 50:
        print(f"salesbench demo: --customers {args.customers}: the demo company needs at least 50 customers",
              file=sys.stderr)
        return 2
    if args.format == "cn-gbk":
        if args.dirty:
            print("salesbench demo: --dirty applies to --format parquet only", file=sys.stderr)
            return 2
        from salesbench.datasets.cn_export import write_cn_export

        out = write_cn_export(args.out, ensure_demo(seed=args.seed, customers=args.customers), seed=args.seed)
        print(out)
        print(f"next: SALESBENCH_CN_EXPORT={out} salesbench validate --data params/sources/example_cn_gbk.yaml",
              file=sys.stderr)
        return 0
    out = generate(args.out, seed=args.seed, customers=args.customers, dirty=args.dirty, verbose=True)
    print(out)
    return 0
