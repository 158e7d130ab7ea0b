"""Non-contractual churn: who is probably gone, what they were worth, what is at risk.

The customer base is summarised per customer as *frequency / recency / T*
(Fader, Hardie & Lee 2005, "Counting your customers the easy way", Marketing
Science 24(2)): purchases on the same day are one transaction, ``frequency`` is
the number of *repeat* purchase days, ``recency`` the time from the first to
the last purchase day and ``T`` the time from the first purchase day to the end
of calibration, both fractional in the time unit (D = 1 day, W = 7 days,
M = 365.25/12 days). Spend per repeat purchase feeds the Gamma-Gamma model
(Fader & Hardie 2013, "The Gamma-Gamma model of monetary value").

The models are pymc-marketing's (``pymc_marketing.clv``), with its priors:

* ``bg_nbd``     — :class:`BetaGeoModel` (Fader, Hardie & Lee 2005);
* ``mbg_nbd``    — :class:`ModifiedBetaGeoModel` (Batislam, Denizel &
  Filiztekin 2007): customers may also drop out right after their first
  purchase, so a one-time buyer is not automatically "alive";
* ``pareto_nbd`` — :class:`ParetoNBDModel` (Schmittlein, Morrison & Colombo 1987);
* Gamma-Gamma    — :class:`GammaGammaModel` for spend per transaction.

BG/NBD, MBG/NBD and Gamma-Gamma are fitted on the same densities written in numpy
(:mod:`salesbench.analyses.churn.densities`: ``mcmc`` = nutpie's NUTS, ``map`` = scipy's L-BFGS-B;
:attr:`ChurnModel.engine`), the others with pymc-marketing's current API
``model.fit(data=..., method=...)`` (``mcmc`` = PyMC's NUTS, ``map``, ``advi`` / ``fullrank_advi``). Per-customer
predictions are computed from at most ``max_draws`` evenly thinned posterior
draws and in chunks of ``chunk_size`` customers, so memory is bounded by
``max_draws × chunk_size`` instead of ``chains × draws × customers``.

Everything here takes ibis tables or small pandas frames and returns tidy
pandas frames or small dicts; figures take ``ax=`` and return it.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd

from salesbench.analyses.churn import densities as dens
from salesbench.analyses.churn import predictive as cp
from salesbench.core import forked, nuts
from salesbench.core import dataset as data
from salesbench.core.i18n import N_
from salesbench.core.memory import aggregate_in_passes
from salesbench.core.said import Said, shown

#: Length of one time unit in days.
TIME_UNIT_DAYS: dict[str, float] = {"D": 1.0, "W": 7.0, "M": 365.25 / 12}
#: Population parameters of each transaction model (names as in pymc-marketing).
MODEL_PARAMS: dict[str, tuple[str, ...]] = {
    "bg_nbd": ("r", "alpha", "a", "b"),
    "mbg_nbd": ("r", "alpha", "a", "b"),
    "pareto_nbd": ("r", "alpha", "s", "beta"),
}
GG_PARAMS: tuple[str, ...] = ("p", "q", "v")
FIT_METHODS: tuple[str, ...] = ("mcmc", "map", "advi", "fullrank_advi")
PRIORS: tuple[str, ...] = ("default", "flat")
#: Convergence thresholds (Vehtari, Gelman, Simpson, Carpenter & Bürkner 2021, "Rank-normalization, folding,
#: and localization: an improved R-hat"): R-hat below 1.01 and bulk ESS of at least 100 per chain.
RHAT_MAX = 1.01
ESS_PER_CHAIN_MIN = 100
INTERVAL = 0.94
_Q_LO, _Q_HI = (1 - INTERVAL) / 2, 1 - (1 - INTERVAL) / 2


# --------------------------------------------------------------------------- data
def _as_date(value) -> pd.Timestamp | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return pd.Timestamp(value).normalize()


def check_time_unit(time_unit: str) -> float:
    """Days per ``time_unit`` (D, W or M); raises ``ValueError`` otherwise."""
    if time_unit not in TIME_UNIT_DAYS:
        raise ValueError(f"time_unit must be one of {', '.join(TIME_UNIT_DAYS)}, not {time_unit!r}")
    return TIME_UNIT_DAYS[time_unit]


def last_order_date(orders) -> pd.Timestamp:
    """The last ``order_date`` of an ibis orders table, as a Timestamp (:func:`salesbench.core.dataset.last_order_date`)."""
    return pd.Timestamp(data.last_order_date(orders))


def _purchase_days(orders):
    """ibis: one row per customer and purchase day with the day's revenue, an exact ``DECIMAL(38, 6)``.

    Each order line's revenue is rounded to 6 decimal places and summed as a decimal, so every sum is
    exact and does not depend on the order in which the engine adds the rows. A float sum does: DuckDB
    adds in parallel, in an order that varies run to run, and the last bits of the sums (and of a mean
    spend at a rounding tie) changed between two runs of the same report — so did the Gamma-Gamma fit.
    """
    import ibis.expr.datatypes as dt

    money = orders.revenue.cast(dt.Decimal(38, data.MONEY_SCALE))  # as core.dataset.money_sum, kept a decimal
    return orders.group_by(["customer_id", "order_date"]).aggregate(day_revenue=money.sum())


def _calibration_summary(cal):
    """ibis: per customer ``n_days``, ``first_purchase``, ``last_purchase``, ``revenue`` and the revenue after
    the first purchase day ``repeat_revenue`` (exact decimal sums, then floats) of the order lines ``cal``."""
    days = _purchase_days(cal)
    per = days.group_by("customer_id").aggregate(
        n_days=days.order_date.count(),
        first_purchase=days.order_date.min(),
        last_purchase=days.order_date.max(),
        revenue=days.day_revenue.sum(),
    )
    first = days.join(per, [days.customer_id == per.customer_id, days.order_date == per.first_purchase])
    first = first.select(customer_id=days.customer_id, first_revenue=days.day_revenue)
    per = per.join(first, "customer_id")
    # exact decimal sums and difference, then one rounding each to float: the same bits on every run
    return per.select(per.customer_id, per.n_days, per.first_purchase, per.last_purchase,
                      revenue=per.revenue.cast("float64"),
                      repeat_revenue=(per.revenue - per.first_revenue).cast("float64"))


def rfm_table(orders, calibration_end=None, time_unit: str = "W") -> pd.DataFrame:
    """Per-customer frequency / recency / T and mean repeat spend for the calibration period.

    Parameters
    ----------
    orders : ibis table with ``customer_id``, ``order_date``, ``revenue`` (order lines).
    calibration_end : last day of the calibration period (inclusive); default the last order date.
    time_unit : ``D``, ``W`` or ``M``.

    Returns
    -------
    DataFrame, one row per customer whose first purchase is on or before ``calibration_end``:
    ``customer_id``, ``frequency`` (purchase days − 1), ``recency`` and ``T`` (in ``time_unit``,
    fractional: days / days-per-unit), ``monetary_value`` (mean revenue of the repeat purchase days,
    0 without repeats), ``first_purchase``, ``last_purchase``, ``revenue`` (total in calibration).
    Same-day order lines are one transaction, as in Fader, Hardie & Lee (2005). Aggregation runs
    in the engine; only the per-customer result is brought to pandas. On large data it runs in passes
    over customer partitions (:func:`salesbench.core.memory.aggregate_in_passes`: 4 passes from 10^7
    order lines on DuckDB), which bounds the engine's memory; the result is the same. Revenue is summed
    as an exact decimal of each line rounded to 6 places (:func:`_purchase_days`), so the result is
    bit-identical on every run and whatever the order of the rows.
    """
    unit = check_time_unit(time_unit)
    end = _as_date(calibration_end) or last_order_date(orders)
    cal = orders.filter(orders.order_date <= end.date())
    df = aggregate_in_passes(cal, "customer_id", _calibration_summary)
    df["customer_id"] = df["customer_id"].astype(str)
    df["first_purchase"] = pd.to_datetime(df["first_purchase"])
    df["last_purchase"] = pd.to_datetime(df["last_purchase"])
    df["frequency"] = (df["n_days"] - 1).astype(float)
    df["recency"] = (df["last_purchase"] - df["first_purchase"]).dt.days / unit
    df["T"] = (end - df["first_purchase"]).dt.days / unit
    repeat = df["frequency"] > 0
    df["monetary_value"] = np.where(repeat, df["repeat_revenue"] / df["frequency"].where(repeat, 1), 0.0)
    cols = ["customer_id", "frequency", "recency", "T", "monetary_value", "first_purchase", "last_purchase", "revenue"]
    return df[cols].sort_values("customer_id").reset_index(drop=True)


def holdout_purchases(orders, calibration_end, customers: Iterable[str] | None = None,
                      last: pd.Timestamp | None = None) -> tuple[pd.DataFrame, float]:
    """Purchase days and revenue per customer after ``calibration_end`` (the holdout period).

    Returns ``(frame, length_days)``: frame has ``customer_id``, ``holdout_purchases`` (distinct
    purchase days in (calibration_end, last order date]) and ``holdout_revenue``; customers in
    ``customers`` without holdout orders get zeros. ``length_days`` is the holdout length
    (0 when no order follows ``calibration_end``). ``last`` is the last order date when the
    caller already has it (saves a scan).
    """
    end = _as_date(calibration_end)
    last = last_order_date(orders) if last is None else pd.Timestamp(last)
    hold = orders.filter(orders.order_date > end.date())
    days = _purchase_days(hold)
    per = days.group_by("customer_id").aggregate(
        holdout_purchases=days.order_date.count(), holdout_revenue=days.day_revenue.sum().cast("float64")
    ).to_pandas()
    per["customer_id"] = per["customer_id"].astype(str)
    if customers is not None:
        per = pd.DataFrame({"customer_id": list(customers)}).merge(per, on="customer_id", how="left")
    per["holdout_purchases"] = per["holdout_purchases"].fillna(0).astype(float)
    per["holdout_revenue"] = per["holdout_revenue"].fillna(0.0)
    return per, max(0.0, float((last - end).days))


def customer_attributes(ds, customer_ids: Iterable[str] | None = None, segment_by: str = "tier") -> pd.DataFrame:
    """``customer_id, region, segment, owner_rep_id`` from the customers table ('unknown' where absent).

    ``segment`` is the customers column named by ``segment_by`` (e.g. ``tier``, ``industry``,
    ``channel``); without a customers table every attribute is ``unknown``.
    """
    cols = {"region": "region", "segment": segment_by, "owner_rep_id": "owner_rep_id"}
    if ds is not None and ds.has("customers"):
        t = ds.table("customers")
        sel = {"customer_id": t.customer_id}
        for out, col in cols.items():
            if col in t.columns:
                sel[out] = t[col].cast("string")
        df = t.select(**sel).to_pandas()
    else:
        df = pd.DataFrame({"customer_id": pd.Series(dtype=str)})
    df["customer_id"] = df["customer_id"].astype(str)
    if customer_ids is not None:
        df = pd.DataFrame({"customer_id": list(customer_ids)}).merge(df, on="customer_id", how="left")
    for out in cols:
        if out not in df.columns:
            df[out] = "unknown"
        df[out] = df[out].fillna("unknown").astype(str)
    return df[["customer_id", *cols]]


# --------------------------------------------------------------------------- fitting
@contextmanager
def _quiet():
    """Silence PyMC / PyTensor logging and warnings (report outputs stay clean)."""
    loggers = [logging.getLogger(n) for n in ("pymc", "pytensor", "pymc_marketing", "arviz")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)  # convergence problems are reported by ChurnModel.convergence()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def model_config(model: str, priors: str = "default") -> dict | None:
    """pymc-marketing ``model_config`` for ``priors``.

    ``default`` keeps pymc-marketing's weakly informative priors (Weibull on r, α (and s, β);
    for BG/NBD and MBG/NBD a = φκ, b = (1−φ)κ with φ ~ Uniform(0, 1), κ ~ Pareto(1, 1)).
    ``flat`` puts improper HalfFlat priors on every population parameter, so the MAP estimate
    is the maximum-likelihood estimate of the papers. Gamma-Gamma always uses pymc-marketing's
    default, which is already HalfFlat.
    """
    if model not in MODEL_PARAMS:
        raise ValueError(f"model must be one of {', '.join(MODEL_PARAMS)}, not {model!r}")
    if priors not in PRIORS:
        raise ValueError(f"priors must be one of {', '.join(PRIORS)}, not {priors!r}")
    if priors == "default":
        return None
    with _quiet():
        from pymc_extras.prior import Prior

    return {name: Prior("HalfFlat") for name in MODEL_PARAMS[model]}


def _model_class(model: str):
    with _quiet():  # importing PyMC / ArviZ prints FutureWarnings
        from pymc_marketing.clv import BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel

    return {"bg_nbd": BetaGeoModel, "mbg_nbd": ModifiedBetaGeoModel, "pareto_nbd": ParetoNBDModel}[model]


#: The columns a BG/NBD, MBG/NBD or Pareto/NBD likelihood and prediction depend on (sufficient statistics).
TRIPLE: tuple[str, ...] = ("frequency", "recency", "T")
#: NUTS implementations for ``pm.sample(nuts_sampler=...)``. ``pymc`` (the default) was measured faster
#: than ``nutpie`` for these models (docs/churn.md): on the compressed likelihood a fit is seconds of
#: sampling, and nutpie's numba compilation of every new model (not cached across processes) costs more.
SAMPLERS: tuple[str, ...] = ("pymc", "nutpie")
#: How a model is fitted (:attr:`ChurnModel.engine`): ``auto`` = ``numpy`` where it covers the fit, else ``pymc``.
ENGINES: tuple[str, ...] = ("auto", "numpy", "pymc")


def distinct_triples(rfm: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The distinct (frequency, recency, T) rows of ``rfm``, their counts and each customer's row.

    Returns ``(rows, counts, index)``: ``rows`` has ``customer_id`` ("0", "1", …) and the
    :data:`TRIPLE` columns, one row per distinct triple; ``counts[i]`` customers share row ``i``;
    ``rows.iloc[index[j]]`` is customer ``j``'s triple. The purchase models depend on a customer
    only through this triple, so fitting on ``rows`` with weights ``counts`` (a weighted
    log-likelihood) gives exactly the posterior of the per-customer fit, and a prediction for
    row ``i`` is the prediction of each of its customers.
    """
    keys = rfm[list(TRIPLE)].to_numpy(float)
    if len(keys) == 0:
        return pd.DataFrame(columns=["customer_id", *TRIPLE]), np.zeros(0, int), np.zeros(0, int)
    uniq, index, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    rows = pd.DataFrame(uniq, columns=list(TRIPLE))
    rows.insert(0, "customer_id", np.arange(len(rows)).astype(str))
    return rows, counts, np.asarray(index).ravel()


def _weight_likelihood(model, counts: np.ndarray) -> None:
    """Make the observed rows of a built pymc-marketing model count ``counts`` times each.

    The model already holds each distinct row's log-likelihood once; a ``pm.Potential`` adds
    (count − 1) × that same elementwise log-likelihood, so the joint log-density equals that of
    the model built on every customer (PyTensor merges the shared term when compiling).
    """
    import pymc as pm
    import pytensor.tensor as pt

    if np.all(counts == 1):
        return
    with model:
        obs = model.observed_RVs[0]
        ll = model.logp(vars=[obs], sum=False)[0]
        pm.Potential("customer_weights", pt.sum(pt.as_tensor_variable(np.asarray(counts, float) - 1.0) * ll))


#: Purchase models whose log-likelihood :func:`sufficient_model` writes on sufficient statistics.
SUFFICIENT_MODELS: tuple[str, ...] = ("bg_nbd", "mbg_nbd")


def _by_frequency(x: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of ``x`` and the customers (sum of ``counts``) at each."""
    ux, ix = np.unique(x, return_inverse=True)
    return ux, np.bincount(np.asarray(ix).ravel(), weights=counts, minlength=len(ux))


def _priors(model_config: dict, names: tuple[str, ...]):
    """The population-parameter variables of pymc-marketing's build_model (no covariates), in its order:
    ``alpha``, then ``a``/``b`` (direct priors, or ``a = φκ``, ``b = (1 − φ)κ`` from ``phi_dropout`` and
    ``kappa_dropout``), then ``r``; for Gamma-Gamma ``p``, ``q``, ``v``. Call inside a ``pm.Model``."""
    import pymc as pm

    if names == GG_PARAMS:
        return tuple(model_config[k].create_variable(k) for k in GG_PARAMS)
    alpha = model_config["alpha"].create_variable("alpha")
    if "a" in model_config and "b" in model_config:
        a, b = model_config["a"].create_variable("a"), model_config["b"].create_variable("b")
    else:
        phi = model_config["phi_dropout"].create_variable("phi_dropout")
        kappa = model_config["kappa_dropout"].create_variable("kappa_dropout")
        a, b = pm.Deterministic("a", phi * kappa), pm.Deterministic("b", (1.0 - phi) * kappa)
    return alpha, a, b, model_config["r"].create_variable("r")


def sufficient_model(model: str, model_config: dict, rows: pd.DataFrame, counts: np.ndarray):
    """A PyMC model with pymc-marketing's priors and the weighted log-likelihood of ``rows`` written on
    sufficient statistics: the same joint density as one row per customer, a fraction of the work.

    ``model`` is ``bg_nbd``, ``mbg_nbd`` (``rows``: frequency x, recency t_x, T) or ``gamma_gamma``
    (``rows``: frequency x, monetary_value z̄); ``counts[i]`` customers share row ``i``. The terms that
    depend on a customer only through x (the Γ functions, whose derivatives are the costly part of
    pymc-marketing's per-row likelihood) are evaluated once per distinct x and weighted by the customers
    at that x; per row only logs and one softplus remain. With L_T = log(α + T), L_t = log(α + t_x):

    * BG/NBD (Fader, Hardie & Lee 2005, eq. 6): ℓ = ln Γ(r+x) − ln Γ(r) + ln B(a, b+x) − ln B(a, b)
      + r ln α − (r+x) L_T + [x > 0] softplus(ln a − ln(b+x−1) + (r+x)(L_T − L_t));
    * MBG/NBD (Batislam, Denizel & Filiztekin 2007): ℓ = ln Γ(r+x) − ln Γ(r) + ln B(a, b+x+1) − ln B(a, b)
      + r ln α − (r+x) L_T + softplus(ln a − ln(b+x) + (r+x)(L_T − L_t));
    * Gamma-Gamma (Fader & Hardie 2013, eq. 1a): ℓ = ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln v
      + (px−1) ln z̄ + px ln x − (px+q) ln(x z̄ + v).

    These are pymc-marketing's ``BetaGeoNBD`` / ``ModifiedBetaGeoNBD`` / ``GammaGammaModel`` log-densities
    rearranged (equal to 1e-10 relative, tests/analyses/churn/test_churn_compress.py).
    """
    import pymc as pm
    import pytensor.tensor as pt

    counts = np.asarray(counts, float)
    x = rows["frequency"].to_numpy(float)
    ux, cx = _by_frequency(x, counts)
    with pm.Model() as m:
        if model == "gamma_gamma":
            p, q, v = _priors(model_config, GG_PARAMS)
            z = rows["monetary_value"].to_numpy(float)
            per_x = pt.sum(cx * (pt.gammaln(p * ux + q) - pt.gammaln(p * ux))) \
                - counts.sum() * (pt.gammaln(q) - q * pt.log(v))
            per_row = pt.sum(counts * (p * x * (np.log(z) + np.log(x)) - (p * x + q) * pt.log(x * z + v)))
            pm.Potential("likelihood", per_x + per_row - float(np.sum(counts * np.log(z))))
            return m
        alpha, a, b, r = _priors(model_config, MODEL_PARAMS[model])
        t_x, T = rows["recency"].to_numpy(float), rows["T"].to_numpy(float)
        shift = 1.0 if model == "mbg_nbd" else 0.0  # MBG/NBD: B(a, b+x+1); BG/NBD: B(a, b+x)
        per_x = pt.sum(cx * (pt.gammaln(r + ux) + pt.gammaln(b + ux + shift) - pt.gammaln(a + b + ux + shift))) \
            + counts.sum() * (r * pt.log(alpha) - pt.gammaln(r) + pt.gammaln(a + b) - pt.gammaln(b))
        L_T = pt.log(alpha + T)
        ll = -(r + x) * L_T
        if model == "mbg_nbd":
            ll = ll + pt.softplus(pt.log(a) - pt.log(b + x) + (r + x) * (L_T - pt.log(alpha + t_x)))
            per_row = pt.sum(counts * ll)
        else:
            rep = x > 0
            xr, Lr = x[rep], pt.log(alpha + t_x[rep])
            per_row = pt.sum(counts * ll) + pt.sum(counts[rep] * pt.softplus(
                pt.log(a) - pt.log(b + xr - 1.0) + (r + xr) * (pt.log(alpha + T[rep]) - Lr)))
        pm.Potential("likelihood", per_x + per_row)
    return m


def _nuts_sampler(sampler: str) -> str:
    """The ``pm.sample(nuts_sampler=...)`` value for ``sampler``; ``nutpie`` falls back to ``pymc`` when
    the nutpie package is not installed."""
    import importlib.util

    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, not {sampler!r}")
    if sampler == "nutpie" and importlib.util.find_spec("nutpie") is None:
        return "pymc"
    return sampler


#: PyMC NUTS initialisation: jitter, then adapt a *dense* mass matrix during tuning. The population
#: parameters are few (3–5) and strongly correlated (r with α, p with q and v), which a diagonal mass matrix
#: cannot undo; on the default demo the dense one gave 2–3× the bulk ESS per draw at fewer leapfrog steps
#: (MBG/NBD 9.5 → 6.8 steps per draw, ESS min 604 → 1,185; Gamma-Gamma R-hat 1.010 → 1.002, docs/churn.md).
NUTS_INIT = "jitter+adapt_full"


def _fit_kwargs(method: str, draws: int, tune: int, chains: int, seed: int, vi_iterations: int, cores: int | None,
                sampler: str = "pymc") -> dict:
    if method == "mcmc":
        kw = dict(draws=draws, tune=tune, chains=chains, cores=cores or min(chains, 2), random_seed=seed,
                  progressbar=False, target_accept=0.9)
        if sampler != "pymc":
            kw["nuts_sampler"] = sampler
        else:
            kw["init"] = NUTS_INIT
        return kw
    if method == "map":
        return dict(progressbar=False)
    return dict(n=vi_iterations, draws=draws, random_seed=seed, progressbar=False)


def _thin(posterior, max_draws: int, names: Iterable[str]):
    """Evenly thinned posterior of ``names`` as an xarray Dataset with dims (chain=1, draw=k)."""
    stacked = posterior[list(names)].stack(sample=("chain", "draw"))
    n = stacked.sizes["sample"]
    idx = np.unique(np.linspace(0, n - 1, min(n, max_draws)).round().astype(int))
    thin = stacked.isel(sample=idx).drop_vars(["sample", "chain", "draw"], errors="ignore")
    thin = thin.rename({"sample": "draw"}).assign_coords(draw=np.arange(len(idx))).expand_dims(chain=[0])
    return thin.transpose("chain", "draw", ...)


def _predictor(fitted, posterior):
    """A shallow copy of a fitted pymc-marketing model whose posterior is ``posterior``."""
    import arviz as az

    pred = copy.copy(fitted)
    pred.idata = az.InferenceData(posterior=posterior)
    return pred


def summarize_params(idata, names: Iterable[str], method: str) -> pd.DataFrame:
    """Posterior mean, 94% HDI, R-hat and bulk ESS of population parameters.

    MAP fits have a single point: ``lo``/``hi``/``r_hat``/``ess_bulk`` are NaN. Variational fits
    have independent draws from the approximation: interval given, R-hat and ESS NaN.
    """
    import arviz as az

    names = list(names)
    if method == "map":
        post = idata.posterior
        return pd.DataFrame({
            "param": names, "mean": [float(post[n].values.ravel()[0]) for n in names],
            "lo": np.nan, "hi": np.nan, "r_hat": np.nan, "ess_bulk": np.nan,
        })
    with _quiet():
        s = az.summary(idata, var_names=names, hdi_prob=INTERVAL, round_to="none")
    out = pd.DataFrame({
        "param": names, "mean": s.loc[names, "mean"].to_numpy(float),
        "lo": s.loc[names, "hdi_3%"].to_numpy(float), "hi": s.loc[names, "hdi_97%"].to_numpy(float),
        "r_hat": s.loc[names, "r_hat"].to_numpy(float) if method == "mcmc" else np.nan,
        "ess_bulk": s.loc[names, "ess_bulk"].to_numpy(float) if method == "mcmc" else np.nan,
    })
    return out


def clv_flows(clv_months: int, discount_rate: float, unit_days: float) -> tuple[list[float], list[float]]:
    """The CLV's monthly cash-flow times (in time units) and discount factors: ``clv_months`` months discounted at
    the monthly equivalent of the annual ``discount_rate`` (lifetimes / pymc-marketing
    ``customer_lifetime_value``, computed per posterior draw)."""
    month = (365.25 / 12) / unit_days
    d_month = (1.0 + discount_rate) ** (1 / 12) - 1.0
    months = range(1, clv_months + 1)
    return [k * month for k in months], [1.0 / (1 + d_month) ** k for k in months]


def _pair_values(model: str, par: dict, pairs: np.ndarray, times, discounted) -> dict:
    """E[X(t) | active, x, T] for each t of ``times`` and the discounted CLV purchases (``discounted`` = (ts, ws),
    Σ_k ws[k] · (E[X(ts[k])] − E[X(ts[k−1])])) on (x, T) ``pairs``, keyed as :meth:`ChurnModel._expectations`'
    memo keys them."""
    cond = _pair_expectation(model, par, pairs)
    out = {t: cond(t) for t in times}
    if discounted is not None:
        out[("flows", *map(tuple, discounted))] = _discounted(cond, discounted)
    return out


def _pair_expectation(model: str, par: dict, pairs: np.ndarray):
    """t ↦ E[X(t) | active, x, T] per draw on the (x, T) ``pairs`` (:func:`predictive.expected_if_alive`)."""
    return lambda t: cp.expected_if_alive(model, par, pairs[:, 0], pairs[:, 1], t)


def _discounted(cond, discounted):
    """Σ_k ws[k] · (cond(ts[k]) − cond(ts[k−1])) with cond(0) = 0, for ``discounted = (ts, ws)``: the discounted
    purchases behind the CLV, from the cumulative expected purchases ``cond(t)``."""
    acc, prev = 0.0, 0.0
    for t, w in zip(*discounted):
        cum = cond(t)
        acc, prev = acc + w * (cum - prev), cum
    return acc


#: draws × pairs above which :meth:`ChurnModel._fill_pairs` computes half of the pairs in a forked child
PARALLEL_MIN_CELLS = 200_000


@dataclass
class ChurnModel:
    """A BG/NBD, MBG/NBD or Pareto/NBD purchase model plus a Gamma-Gamma spend model.

    scikit-learn shape: configure here, :meth:`fit` an :func:`rfm_table` frame, then
    :meth:`predict` per-customer probability alive, expected purchases and CLV with intervals.

    Parameters
    ----------
    model : ``bg_nbd`` | ``mbg_nbd`` | ``pareto_nbd``
    fit_method : ``mcmc`` (NUTS) | ``map`` | ``advi`` | ``fullrank_advi``
    priors : ``default`` (pymc-marketing's) | ``flat`` (MAP = maximum likelihood), see :func:`model_config`
    draws, tune, chains : NUTS settings (``draws`` is also the number of variational draws)
    seed : random seed of NUTS / ADVI / predictive simulation (same seed → same numbers)
    spend : fit the Gamma-Gamma spend model (needs at least 10 repeat buyers with positive spend;
        without it each customer's own mean repeat spend is used, 0 for one-time buyers)
    max_draws : posterior draws (evenly thinned) used for per-customer predictions
    chunk_size : customers per prediction chunk (memory ≈ 8 × max_draws × chunk_size bytes per array)
    vi_iterations : ADVI optimisation steps (``advi`` / ``fullrank_advi``)
    cores : NUTS chains run at once (default: min(chains, 2) worker processes with the ``pymc`` engine, 1 with
        ``numpy``, whose chains share the GIL)
    n_sims : minimum number of posterior-predictive simulations (one per draw; a MAP fit's single
        draw is simulated ``n_sims`` times)
    compress : fit the purchase model on the distinct (frequency, recency, T) triples weighted by
        their counts (:func:`distinct_triples`; the same posterior as one row per customer) and
        predict once per distinct triple; BG/NBD, MBG/NBD and Gamma-Gamma then use the likelihood
        written on sufficient statistics (:func:`sufficient_model`, the same density at 2–4× less work
        per gradient). ``False`` fits pymc-marketing's own per-customer models and predicts one row per customer
    sampler : NUTS implementation for ``mcmc`` with the ``pymc`` engine: ``pymc`` or ``nutpie`` (:data:`SAMPLERS`;
        ``nutpie`` falls back to ``pymc`` when the package is missing)
    engine : ``auto`` (default) | ``numpy`` | ``pymc`` (:data:`ENGINES`). ``numpy`` fits BG/NBD, MBG/NBD and
        Gamma-Gamma on the numpy densities of :mod:`salesbench.analyses.churn.densities` (the same joint
        densities as the PyMC models, to 1e-10): ``mcmc`` with nutpie's NUTS (chains one after the other in this
        process, started around the mode; ``cores`` chains at once if set), ``map`` with scipy's L-BFGS-B — no
        PyTensor compilation and no worker processes. ``auto`` uses it whenever it covers the fit (those models,
        ``compress``, ``mcmc`` with nutpie installed or ``map``) and pymc-marketing otherwise (Pareto/NBD, ADVI).
        After :meth:`fit`, ``engine_`` says which ran; ``tx_idata_`` / ``gg_idata_`` hold the InferenceData of
        the purchase / spend fit (``tx_`` / ``gg_`` the pymc-marketing models, None with ``numpy``)
    """

    model: str = "mbg_nbd"
    fit_method: str = "mcmc"
    priors: str = "default"
    draws: int = 1000
    tune: int = 1000
    chains: int = 2
    seed: int = 42
    spend: bool = True
    max_draws: int = 400
    chunk_size: int = 5000
    vi_iterations: int = 30000
    cores: int | None = None
    n_sims: int = 200
    compress: bool = True
    sampler: str = "pymc"
    engine: str = "auto"
    params_: pd.DataFrame | None = field(default=None, init=False, repr=False)
    spend_params_: pd.DataFrame | None = field(default=None, init=False, repr=False)

    def __post_init__(self):
        if self.model not in MODEL_PARAMS:
            raise ValueError(f"model must be one of {', '.join(MODEL_PARAMS)}, not {self.model!r}")
        if self.fit_method not in FIT_METHODS:
            raise ValueError(f"fit_method must be one of {', '.join(FIT_METHODS)}, not {self.fit_method!r}")
        model_config(self.model, self.priors)
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, not {self.sampler!r}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {self.engine!r}")

    # -- fitting -------------------------------------------------------------------
    def fit(self, rfm: pd.DataFrame) -> "ChurnModel":
        """Fit the purchase model (and the spend model) on an :func:`rfm_table` frame; returns self."""
        if len(rfm) == 0:
            raise ValueError("no customers with purchases before calibration_end: nothing to fit")
        if self.compress:
            data, counts, _ = distinct_triples(rfm)
        else:
            data, counts = rfm[["customer_id", *TRIPLE]].reset_index(drop=True), np.ones(len(rfm), int)
        self.n_rows_ = len(data)
        self.engine_ = self._engine()
        self.sampler_ = ("nutpie" if self.engine_ == "numpy" else _nuts_sampler(self.sampler)) \
            if self.fit_method == "mcmc" else None
        spenders = rfm[(rfm["frequency"] > 0) & (rfm["monetary_value"] > 0)]
        self.n_spenders_ = len(spenders)
        gg_data = spenders[["customer_id", "frequency", "monetary_value"]].reset_index(drop=True)
        with_spend = self.spend and len(spenders) >= 10
        self.tx_ = self.gg_ = self.gg_idata_ = self.gg_post_ = self.spend_params_ = None
        if self.engine_ == "numpy":
            self.tx_idata_ = self._fit_density(dens.purchase_density(self.model, data["frequency"], data["recency"],
                                                                     data["T"], counts, self.priors), seed=self.seed)
            if with_spend:
                self.gg_idata_ = self._fit_density(dens.spend_density(gg_data["frequency"], gg_data["monetary_value"]),
                                                   seed=self.seed + 1)
        else:
            kwargs = _fit_kwargs(self.fit_method, self.draws, self.tune, self.chains, self.seed, self.vi_iterations,
                                 self.cores, self.sampler_)
            with _quiet():
                self.tx_ = _model_class(self.model)(model_config=model_config(self.model, self.priors))
                self.tx_.build_model(data=data)
                if self.compress and self.model in SUFFICIENT_MODELS:  # fit() then samples this model
                    self.tx_.model = sufficient_model(self.model, self.tx_.model_config, data, counts)
                else:
                    _weight_likelihood(self.tx_.model, counts)
                self.tx_.fit(method=self.fit_method, **kwargs)
            self.tx_idata_ = self.tx_.idata
            if with_spend:
                from pymc_marketing.clv import GammaGammaModel

                with _quiet():
                    self.gg_ = GammaGammaModel()
                    self.gg_.build_model(data=gg_data)
                    if self.compress:
                        self.gg_.model = sufficient_model("gamma_gamma", self.gg_.model_config, gg_data,
                                                          np.ones(len(gg_data)))
                    self.gg_.fit(method=self.fit_method, **kwargs)
                self.gg_idata_ = self.gg_.idata
        self.params_ = summarize_params(self.tx_idata_, MODEL_PARAMS[self.model], self.fit_method)
        self.tx_post_ = _thin(self.tx_idata_.posterior, self.max_draws, MODEL_PARAMS[self.model])
        if self.gg_idata_ is not None:
            self.spend_params_ = summarize_params(self.gg_idata_, GG_PARAMS, self.fit_method)
            self.gg_post_ = _thin(self.gg_idata_.posterior, self.max_draws, GG_PARAMS)
            # pair draws of the two models by position: use the same number of draws in both
            k = min(self.tx_post_.sizes["draw"], self.gg_post_.sizes["draw"])
            self.tx_post_ = self.tx_post_.isel(draw=slice(0, k))
            self.gg_post_ = self.gg_post_.isel(draw=slice(0, k))
        self.n_draws_ = self.tx_post_.sizes["draw"]
        return self

    def _engine(self) -> str:
        """``numpy`` (:mod:`salesbench.analyses.churn.densities`: numpy densities, nutpie NUTS, scipy MAP) when
        ``engine`` allows it and the fit is one it covers, else ``pymc`` (pymc-marketing's models)."""
        if self.engine == "pymc":
            return "pymc"
        covered = (self.model in dens.MODELS and self.compress and self.priors in dens.PRIORS
                   and (self.fit_method == "map" or (self.fit_method == "mcmc" and nuts.available())))
        if not covered:
            if self.engine == "numpy":
                raise ValueError(f"engine='numpy' covers {', '.join(dens.MODELS)} fitted by mcmc (with nutpie "
                                 f"installed) or map on compressed rows, not {self.model} by {self.fit_method}")
            return "pymc"
        return "numpy"

    def _fit_density(self, density, seed: int):
        """MAP (one-point posterior) or NUTS draws of a :class:`salesbench.core.nuts.Density`."""
        if self.fit_method == "map":
            return nuts.map_idata(density, nuts.find_map(density))
        start = nuts.find_map(density)  # chains start around the mode (jittered): short warm-up, same posterior
        return nuts.sample(dataclasses.replace(density, start=start), draws=self.draws, tune=self.tune,
                           chains=self.chains, seed=seed, target_accept=0.9, cores=self.cores or 1)

    def convergence(self) -> dict[str, Any]:
        """``{r_hat_max, ess_bulk_min, ok, message}`` over the purchase and spend model parameters.

        ``ok`` is True when R-hat < 1.01 and bulk ESS ≥ 100 per chain (Vehtari et al. 2021);
        for MAP and variational fits the diagnostics do not apply (``ok`` None).
        """
        frames = [f for f in (self.params_, self.spend_params_) if f is not None]
        tab = pd.concat(frames, ignore_index=True)
        if self.fit_method != "mcmc":
            return {"r_hat_max": None, "ess_bulk_min": None, "ok": None,
                    "message": Said(__name__, N_("{method} fit: R-hat and effective sample size do not apply."),
                                    method=self.fit_method)}
        r_hat, ess = float(tab["r_hat"].max()), float(tab["ess_bulk"].min())
        need = ESS_PER_CHAIN_MIN * self.chains
        bad = [f"R-hat {r_hat:.3f} ≥ {RHAT_MAX}"] if not r_hat < RHAT_MAX else []
        if not ess >= need:
            bad.append(Said(__name__, N_("bulk ESS {ess} < {need}"), ess=format(ess, ".0f"), need=need))
        if bad:
            msg = Said(__name__, N_("Convergence problem: {problems} Treat intervals as unreliable; increase draws/tune "
                                    "or check the data."), problems=lambda: "; ".join(shown(b) for b in bad))
        else:
            msg = Said(__name__, N_("Sampler converged: R-hat max {r_hat}, bulk ESS min {ess}."),
                       r_hat=format(r_hat, ".3f"), ess=format(ess, ".0f"))
        return {"r_hat_max": r_hat, "ess_bulk_min": ess, "ok": not bad, "message": msg}

    def params_dict(self, which: str = "purchase") -> dict[str, dict[str, float | None]]:
        """``{name: {mean, lo, hi}}`` of the purchase (or ``"spend"``) model parameters."""
        tab = self.params_ if which == "purchase" else self.spend_params_
        if tab is None:
            return {}
        return {r.param: {"mean": r.mean, "lo": None if pd.isna(r.lo) else r.lo, "hi": None if pd.isna(r.hi) else r.hi}
                for r in tab.itertuples()}

    # -- predictions -----------------------------------------------------------------
    def _rows(self, chunk: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """The rows to predict for a chunk of customers and each customer's row.

        With ``compress`` the distinct (frequency, recency, T) triples of the chunk
        (:func:`distinct_triples`), else one row per customer: ``rows.iloc[index[j]]`` is customer
        ``j``'s row, so a (draws, rows) prediction ``arr`` is ``arr[:, index]`` per customer.
        """
        if self.compress:
            rows, _, index = distinct_triples(chunk)
            return rows, index
        return chunk[["customer_id", *TRIPLE]].reset_index(drop=True), np.arange(len(chunk))

    def _expectations(self, rows: pd.DataFrame, times: Iterable[float] = (),
                      discounted: tuple[Iterable[float], Iterable[float]] | None = None):
        """P(alive), expected purchases and discounted purchases of ``rows`` (frequency, recency, T) per draw.

        Returns ``(p_alive, [E[X(t)] for t in times], flows)``, each (draws, rows). ``discounted = (ts, ws)``
        gives ``flows`` = Σ_k ws[k] · (E[X(ts[k])] − E[X(ts[k−1])]) (E[X(0)] = 0; None without it): the
        purchases behind the CLV. BG/NBD and MBG/NBD use the closed forms of
        :mod:`salesbench.analyses.churn.predictive`: E[X(t) | x, t_x, T] = P(alive) × E[X(t) | active, x, T],
        whose second factor (the costly ₂F₁) depends only on (x, T), so it is evaluated once per distinct (x, T)
        and per posterior draw, the discounted sum is taken there, and the result is scaled by P(alive) per row.
        Pareto/NBD uses pymc-marketing's ``expected_purchases`` per time.
        """
        times, memo = list(times), None
        if self.model in cp.CLOSED_FORM_MODELS:
            par = self._par()
            x, t_x, T = (rows[c].to_numpy(float) for c in TRIPLE)
            alive = cp.p_alive(self.model, par, x, t_x, T)
            memo = getattr(self, "_pair_memo", None)
            if memo is not None:  # pairs of the whole base (:meth:`_shared_pairs`): each computed once per call
                pairs, inv = memo["pairs"], memo["index"].get_indexer(pd.MultiIndex.from_arrays([x, T]))
                if (inv < 0).any():
                    raise ValueError("rows outside the pairs of _shared_pairs")
            else:
                pairs, inv = np.unique(np.column_stack([x, T]), axis=0, return_inverse=True)
                inv = np.asarray(inv).ravel()

            def cond(t):
                if memo is not None and t in memo["cond"]:
                    return memo["cond"][t]
                out = _pair_expectation(self.model, par, pairs)(t)
                if memo is not None:
                    memo["cond"][t] = out
                return out
            width = len(pairs)
        else:
            tx = _predictor(self.tx_, self.tx_post_)
            with _quiet():
                alive = _flat(tx.expected_probability_alive(data=rows))
            inv, width = None, len(rows)

            def cond(t):
                with _quiet():
                    return _flat(tx.expected_purchases(data=rows, future_t=t))

        def per_row(arr):
            return arr if inv is None else alive * arr[:, inv]

        expected = [per_row(cond(t)) for t in times]
        flows = None
        if discounted is not None:
            key = ("flows", *map(tuple, discounted))
            acc = memo["cond"].get(key) if memo is not None else None
            if acc is None:  # with the memo the monthly arrays are not kept in it
                cum = cond if memo is None else _pair_expectation(self.model, par, pairs)
                acc = np.zeros((alive.shape[0], width)) + _discounted(cum, discounted)
                if memo is not None:
                    memo["cond"][key] = acc
            flows = per_row(acc)
        return alive, expected, flows

    @contextmanager
    def _shared_pairs(self, rfm: pd.DataFrame):
        """Within this block, :meth:`_expectations` evaluates E[X(t) | active, x, T] and the CLV flows once on
        the distinct (x, T) pairs of the whole ``rfm`` and reuses them in every chunk: their number levels off
        with the calendar (10^6 simulated customers: 2,545 pairs), so the ₂F₁ work no longer grows with the
        customers; memory draws × pairs per kept array. Only for :data:`predictive.CLOSED_FORM_MODELS`."""
        if self.model not in cp.CLOSED_FORM_MODELS or len(rfm) == 0:
            yield
            return
        pairs = np.unique(rfm[["frequency", "T"]].to_numpy(float), axis=0)
        self._pair_memo = {"pairs": pairs, "index": pd.MultiIndex.from_arrays([pairs[:, 0], pairs[:, 1]]),
                           "cond": {}}
        try:
            yield
        finally:
            del self._pair_memo

    def _fill_pairs(self, times, discounted) -> None:
        """Inside :meth:`_shared_pairs`: compute the expectations of every pair for ``times`` and the CLV flows
        ``discounted`` up front, every other pair in a forked child on the other core
        (:mod:`salesbench.core.forked`) when the work is large (:data:`PARALLEL_MIN_CELLS`). Elementwise, so the
        result equals the one-process computation exactly."""
        memo = getattr(self, "_pair_memo", None)
        if memo is None:
            return
        pairs, par = memo["pairs"], self._par()
        if len(pairs) * self.n_draws_ < PARALLEL_MIN_CELLS or len(pairs) < 2:
            return  # small: computed when first needed
        # every other pair to the child: the ₂F₁ costs ~3× more at small x than at large x, and pairs are sorted by x
        other = forked.submit(_pair_values, self.model, par, pairs[1::2], list(times), discounted)
        mine = _pair_values(self.model, par, pairs[0::2], list(times), discounted)
        theirs = other.result()
        for key, value in mine.items():
            both = np.empty((value.shape[0], len(pairs)))
            both[:, 0::2], both[:, 1::2] = value, theirs[key]
            memo["cond"][key] = both

    def _draws(self, rfm_chunk: pd.DataFrame, horizon: float, clv_months: int, discount_rate: float,
               unit_days: float, with_clv: bool = True) -> dict[str, np.ndarray]:
        """Draw × customer arrays for one chunk: p_alive, expected purchases, spend, CLV, value if alive.

        ``with_clv=False`` skips the ``clv_months`` monthly predictions behind the CLV (the
        costliest part) when only the horizon quantities are needed.
        """
        data, index = self._rows(rfm_chunk)
        flows = clv_flows(clv_months, discount_rate, unit_days) if with_clv else None
        alive, (exp_h,), clv_purchases = self._expectations(data, [horizon], flows)
        p_alive, exp_h = alive[:, index], exp_h[:, index]
        if self.gg_post_ is not None:
            spend = cp.expected_spend(self._spend_par(slice(None)), rfm_chunk["frequency"].to_numpy(float),
                                      rfm_chunk["monetary_value"].to_numpy(float))
        else:
            spend = np.broadcast_to(rfm_chunk["monetary_value"].to_numpy(float), p_alive.shape)
        clv = spend * clv_purchases[:, index] if with_clv else np.full_like(p_alive, np.nan)
        revenue_h = spend * exp_h
        # Expected revenue over the horizon if the customer is alive: E[X | alive] = E[X] / P(alive).
        value_if_alive = np.divide(revenue_h, p_alive, out=np.zeros_like(revenue_h), where=p_alive > 1e-300)
        at_risk = (1.0 - p_alive) * value_if_alive
        return {"p_alive": p_alive, "expected_purchases": exp_h, "spend": spend, "clv": clv,
                "expected_revenue": revenue_h, "revenue_at_risk": at_risk}

    # -- posterior-predictive simulation ----------------------------------------------
    def _par(self, idx: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Purchase-model population parameters per (thinned) draw, optionally re-indexed."""
        par = {k: self.tx_post_[k].values.ravel() for k in MODEL_PARAMS[self.model]}
        return par if idx is None else {k: v[idx] for k, v in par.items()}

    def _spend_par(self, idx: np.ndarray) -> dict[str, np.ndarray] | None:
        if self.gg_post_ is None:
            return None
        return {k: self.gg_post_[k].values.ravel()[idx] for k in GG_PARAMS}

    def _sim_index(self) -> np.ndarray:
        """Draw index of each predictive simulation: one per posterior draw, at least ``n_sims`` (MAP: repeated)."""
        return np.arange(max(self.n_draws_, self.n_sims)) % self.n_draws_

    def _simulate(self, chunk: pd.DataFrame, p_alive: np.ndarray, t: float, start: int,
                  revenue: bool = True) -> dict[str, np.ndarray]:
        """Posterior-predictive draws for one chunk over (T, T + t] (:mod:`salesbench.analyses.churn.predictive`).

        One simulated outcome per posterior draw (at least ``n_sims``); returns (sims, customers)
        arrays ``purchases`` (what the customer buys), ``revenue`` (its value) and ``revenue_lost``
        (what a customer who has left would have bought had they stayed: the predictive
        counterpart of revenue at risk). Seeded by ``seed`` and the chunk's position.
        """
        idx = self._sim_index()
        rng = np.random.default_rng([self.seed, start])
        x, T = chunk["frequency"].to_numpy(float), chunk["T"].to_numpy(float)
        counts, alive = cp.simulate_counts(self.model, self._par(idx), p_alive[idx], x, T, t, rng)
        out = {"purchases": counts * alive}
        if revenue:
            rev = cp.simulate_revenue(counts, self._spend_par(idx), x, chunk["monetary_value"].to_numpy(float),
                                      chunk["monetary_value"].to_numpy(float), rng)
            out["revenue"] = rev * alive
            out["revenue_lost"] = rev * ~alive
        return out

    def predict(self, rfm: pd.DataFrame, horizon: float, clv_months: int = 24, discount_rate: float = 0.10,
                time_unit: str = "W") -> pd.DataFrame:
        """Per-customer posterior means and 94% intervals, computed chunk by chunk.

        Returns ``customer_id`` plus, for ``p_alive``, ``expected_purchases`` (next ``horizon``
        periods), ``clv`` (discounted value of the next ``clv_months`` months), ``expected_revenue``
        (spend × expected purchases over the horizon) and ``revenue_at_risk`` ((1 − P(alive)) ×
        expected revenue over the horizon if alive), the mean and ``_lo`` / ``_hi`` (3rd / 97th
        percentile of the draws: parameter uncertainty of these expectations). ``spend`` is the
        Gamma-Gamma expected spend per purchase (Fader & Hardie 2013, eq. 5). ``p_purchase`` is
        the probability of at least one purchase over the horizon (posterior mean,
        :func:`salesbench.analyses.churn.predictive.prob_no_purchase`). ``discount_rate`` is annual; cash
        flows are monthly. MAP fits give a single draw: intervals equal the mean.

        Afterwards ``totals_`` holds the customer-base totals of ``expected_purchases``,
        ``expected_revenue`` and ``revenue_at_risk`` as :func:`summarize_predictive` dicts (mean =
        the expected total; ``lo``/``hi`` = 94% *posterior-predictive* interval of the total,
        including purchase-process noise; ``lo_param``/``hi_param`` = parameter uncertainty
        only), and of ``clv`` as a parameter-only :func:`summarize_draws` dict.
        """
        unit_days = check_time_unit(time_unit)
        with self._shared_pairs(rfm):
            self._fill_pairs([horizon], clv_flows(clv_months, discount_rate, unit_days))
            return self._predict(rfm, horizon, clv_months, discount_rate, unit_days)

    def _predict(self, rfm, horizon, clv_months, discount_rate, unit_days) -> pd.DataFrame:
        out = []
        sums: dict[str, np.ndarray] = {}
        sims: dict[str, np.ndarray] = {}
        for start in range(0, len(rfm), self.chunk_size):
            chunk = rfm.iloc[start:start + self.chunk_size]
            arrays = self._draws(chunk, horizon, clv_months, discount_rate, unit_days)
            for name in ("expected_purchases", "clv", "expected_revenue", "revenue_at_risk"):
                sums[name] = sums.get(name, 0.0) + arrays[name].sum(axis=1)
            sim = self._simulate(chunk, arrays["p_alive"], horizon, start)
            for name, key in (("expected_purchases", "purchases"), ("expected_revenue", "revenue"),
                              ("revenue_at_risk", "revenue_lost")):
                sims[name] = sims.get(name, 0.0) + sim[key].sum(axis=1)
            cols = {"customer_id": chunk["customer_id"].to_numpy()}
            for name, arr in arrays.items():
                cols[name] = arr.mean(axis=0)
                if name != "spend":
                    lo, hi = np.quantile(arr, [_Q_LO, _Q_HI], axis=0)
                    cols[f"{name}_lo"], cols[f"{name}_hi"] = lo, hi
            cols["since_last_purchase"] = (chunk["T"] - chunk["recency"]).to_numpy(float)
            cols["p_purchase"] = 1.0 - cp.prob_no_purchase(
                self.model, self._par(), arrays["p_alive"], chunk["frequency"].to_numpy(float),
                chunk["T"].to_numpy(float), horizon).mean(axis=0)
            out.append(pd.DataFrame(cols))
        self.totals_ = {name: summarize_predictive(sums[name], sims[name]) for name in sims}
        self.totals_["clv"] = summarize_draws(sums["clv"]) | {"interval": "parameter uncertainty only"}
        return pd.concat(out, ignore_index=True)

    def group_totals(self, rfm: pd.DataFrame, groups: pd.DataFrame, horizon: float, value: str = "revenue_at_risk",
                     clv_months: int = 24, discount_rate: float = 0.10, time_unit: str = "W") -> pd.DataFrame:
        """A per-customer quantity summed within groups, with 94% posterior-predictive intervals.

        ``groups`` has ``customer_id`` and one or more grouping columns (long format is built per
        column). ``value`` is ``revenue_at_risk``, ``expected_revenue`` or ``expected_purchases``
        (predictive intervals: simulated outcomes summed per simulation, :meth:`_simulate`) or
        ``clv`` (parameter uncertainty only). ``mean`` is the expected sum; ``lo_param`` /
        ``hi_param`` the interval from parameter uncertainty alone (sums per posterior draw).
        Computed chunk by chunk. Returns ``by, group, mean, lo, hi, n_customers, lo_param,
        hi_param``; ``by == "total"`` holds the grand total.
        """
        unit_days = check_time_unit(time_unit)
        sim_key = {"revenue_at_risk": "revenue_lost", "expected_revenue": "revenue", "expected_purchases": "purchases"}
        g = rfm[["customer_id"]].merge(groups, on="customer_id", how="left")
        by_cols = [c for c in groups.columns if c != "customer_id"]
        acc: dict[tuple[str, str], np.ndarray] = {}
        acc_sim: dict[tuple[str, str], np.ndarray] = {}
        counts: dict[tuple[str, str], int] = {}
        with self._shared_pairs(rfm):
            for start in range(0, len(rfm), self.chunk_size):
                chunk = rfm.iloc[start:start + self.chunk_size]
                arrays = self._draws(chunk, horizon, clv_months, discount_rate, unit_days, with_clv=value == "clv")
                arr = arrays[value]
                sim = None
                if value in sim_key:
                    sim = self._simulate(chunk, arrays["p_alive"], horizon, start,
                                         revenue=value != "expected_purchases")[sim_key[value]]
                gchunk = g.iloc[start:start + self.chunk_size]
                keys = [(("total", "all"), np.ones(len(chunk), bool))]
                for col in by_cols:
                    labels = gchunk[col].fillna("unknown").astype(str).to_numpy()
                    keys += [((col, lab), labels == lab) for lab in np.unique(labels)]
                for key, m in keys:
                    _add(acc, counts, key, arr[:, m].sum(axis=1), int(m.sum()))
                    if sim is not None:
                        acc_sim[key] = acc_sim.get(key, 0.0) + sim[:, m].sum(axis=1)
        rows = []
        for (by, lab), draws in acc.items():
            if value in sim_key:
                s = summarize_predictive(draws, acc_sim[(by, lab)])
            else:
                s = summarize_draws(draws)
                s |= {"lo_param": s["lo"], "hi_param": s["hi"]}
            rows.append({"by": by, "group": lab, "mean": s["mean"], "lo": s["lo"], "hi": s["hi"],
                         "n_customers": counts[(by, lab)], "lo_param": s["lo_param"], "hi_param": s["hi_param"]})
        cols = ["by", "group", "mean", "lo", "hi", "n_customers", "lo_param", "hi_param"]
        if not rows:
            return pd.DataFrame(columns=cols)
        return pd.DataFrame(rows, columns=cols).sort_values(["by", "mean"], ascending=[True, False]).reset_index(drop=True)

    # -- model checking ----------------------------------------------------------------
    def repeat_purchase_ppc(self, rfm: pd.DataFrame, max_bucket: int = 7, n_samples: int = 200,
                            max_customers: int = 5000) -> pd.DataFrame:
        """Posterior predictive check of the repeat-purchase histogram (Fader, Hardie & Lee 2005, fig. 2).

        Simulates each customer's number of repeat purchases in their own ``T`` from the fitted
        model (the generative process, vectorised: :func:`salesbench.analyses.churn.predictive.simulate_frequency`;
        one simulated data set per posterior draw), at most ``max_customers`` customers
        (a seeded random subset, counts scaled back to the whole base). Returns ``frequency``
        (0 … ``max_bucket``+, as text), ``observed``, ``predicted`` (mean count), ``lo``, ``hi``
        (94% interval).
        """
        rng = np.random.default_rng(self.seed)
        sub = rfm if len(rfm) <= max_customers else rfm.iloc[np.sort(rng.choice(len(rfm), max_customers, replace=False))]
        scale = len(rfm) / len(sub)
        post = self.tx_post_
        if post.sizes["draw"] > n_samples:
            post = post.isel(draw=np.linspace(0, post.sizes["draw"] - 1, n_samples).round().astype(int))
        if post.sizes["draw"] == 1:  # MAP: simulate repeatedly from the point estimate
            post = post.isel(draw=np.zeros(min(n_samples, 100), dtype=int))
        freq = _simulate_frequency(self.model, post, sub["T"].to_numpy(float), self.seed)
        buckets = np.minimum(freq, max_bucket).astype(int)
        counts = np.stack([(buckets == k).sum(axis=1) for k in range(max_bucket + 1)], axis=1) * scale
        obs = np.minimum(rfm["frequency"].to_numpy(), max_bucket).astype(int)
        observed = np.bincount(obs, minlength=max_bucket + 1)[: max_bucket + 1]
        lo, hi = np.quantile(counts, [_Q_LO, _Q_HI], axis=0)
        labels = [str(k) for k in range(max_bucket)] + [f"{max_bucket}+"]
        return pd.DataFrame({"frequency": labels, "observed": observed, "predicted": counts.mean(axis=0), "lo": lo, "hi": hi})

    def holdout_check(self, rfm: pd.DataFrame, holdout: pd.DataFrame, length: float, max_bucket: int = 7,
                      ll_draws: int = 40) -> dict[str, Any]:
        """Predicted vs actual purchases in the holdout period, per customer, in total and by frequency.

        ``holdout`` comes from :func:`holdout_purchases`; ``length`` is its length in time units.
        Returns

        * ``predicted_total`` (expected purchases), ``predicted_lo`` / ``predicted_hi`` (94%
          posterior-predictive interval of the total: parameter uncertainty *and* purchase-process
          noise, :meth:`_simulate`), ``expected_lo`` / ``expected_hi`` (parameter uncertainty only,
          None for MAP), ``actual_total``, ``covered`` (actual inside the predictive interval),
          ``error_pct``, ``mae`` (per customer), ``length``;
        * ``log_lik``: holdout log-likelihood Σ log P(X = actual count | history), the predictive
          probability averaged over at most ``ll_draws`` posterior draws
          (:func:`salesbench.analyses.churn.predictive.count_pmf`), and ``log_lik_per_customer``;
        * ``calibration_error``: mean over the calibration-frequency buckets (0, 1, …, ``max_bucket``+)
          of the symmetric relative gap |p − a| / ((p + a) / 2) between mean predicted and mean
          actual holdout purchases (0 = every bucket right, 2 = worst; unweighted, so the
          frequent buyers count as much as the many one-time buyers and it does not merely
          repeat the total error);
        * ``auc``: ROC AUC for "bought again in the holdout" of each ranking signal —
          ``p_alive``, ``p_purchase`` (P(at least one purchase in the holdout)),
          ``expected_purchases`` and ``recency`` (− time since the last purchase) — None when
          everybody (or nobody) bought;
        * ``by_frequency``: the calibration plot of Fader, Hardie & Lee (2005, fig. 4), mean
          predicted and actual holdout purchases per calibration frequency bucket;
          ``per_customer``: the per-customer signals and outcome.
        """
        df = rfm[["customer_id", "frequency", "recency", "T"]].merge(holdout, on="customer_id", how="left").fillna(
            {"holdout_purchases": 0.0})
        n = self.n_draws_
        ll_idx = np.unique(np.linspace(0, n - 1, min(n, ll_draws)).round().astype(int))
        totals, sim_totals, cols = [], [], {k: [] for k in ("predicted", "p_alive", "p_purchase", "lik")}
        with self._shared_pairs(df):
            for start in range(0, len(df), self.chunk_size):
                chunk = df.iloc[start:start + self.chunk_size]
                data, index = self._rows(chunk)
                alive, (arr,), _ = self._expectations(data, [length])
                arr, p_alive = arr[:, index], alive[:, index]
                x, T = chunk["frequency"].to_numpy(float), chunk["T"].to_numpy(float)
                totals.append(arr.sum(axis=1))
                sim_totals.append(self._simulate(chunk, p_alive, length, start, revenue=False)["purchases"].sum(axis=1))
                cols["predicted"].append(arr.mean(axis=0))
                cols["p_alive"].append(p_alive.mean(axis=0))
                cols["p_purchase"].append(1.0 - cp.prob_no_purchase(self.model, self._par(), p_alive, x, T, length).mean(axis=0))
                pmf = cp.count_pmf(self.model, self._par(ll_idx), p_alive[ll_idx], x, T, length,
                                   chunk["holdout_purchases"].to_numpy(float))
                cols["lik"].append(pmf.mean(axis=0))
        total = np.sum(totals, axis=0)
        for k, v in cols.items():
            df[k] = np.concatenate(v)
        df["bucket"] = np.minimum(df["frequency"], max_bucket).astype(int)
        by = df.groupby("bucket").agg(customers=("customer_id", "size"), predicted=("predicted", "mean"),
                                      actual=("holdout_purchases", "mean")).reset_index()
        by["frequency"] = [str(b) if b < max_bucket else f"{max_bucket}+" for b in by["bucket"]]
        actual = float(df["holdout_purchases"].sum())
        tot = summarize_predictive(total, np.sum(sim_totals, axis=0))
        pred = tot["mean"]
        loglik = float(np.log(np.maximum(df["lik"].to_numpy(), 1e-300)).sum())
        df["recency_signal"] = df["recency"] - df["T"]
        bought = df["holdout_purchases"].to_numpy() > 0
        signals = {"p_alive": "p_alive", "p_purchase": "p_purchase", "expected_purchases": "predicted",
                   "recency": "recency_signal"}
        auc = {k: (roc_auc(df[c], bought) if 0 < bought.sum() < len(df) else None) for k, c in signals.items()}
        gap = (by["predicted"] - by["actual"]).abs()
        size = (by["predicted"].abs() + by["actual"].abs()) / 2
        calib = float(np.where(size > 0, gap / size.where(size > 0, 1.0), 0.0).mean()) if len(by) else None
        return {
            "predicted_total": pred, "predicted_lo": tot["lo"], "predicted_hi": tot["hi"],
            "expected_lo": tot["lo_param"], "expected_hi": tot["hi_param"], "interval": tot["interval"],
            "actual_total": actual, "covered": bool(tot["lo"] <= actual <= tot["hi"]),
            "error_pct": (pred - actual) / actual if actual else None,
            "mae": float((df["predicted"] - df["holdout_purchases"]).abs().mean()),
            "length": float(length), "log_lik": loglik, "log_lik_per_customer": loglik / len(df) if len(df) else None,
            "calibration_error": calib, "auc": auc, "bought_share": float(bought.mean()) if len(df) else None,
            "by_frequency": by[["frequency", "customers", "predicted", "actual"]],
            "per_customer": df[["customer_id", "frequency", "predicted", "holdout_purchases", "p_alive", "p_purchase",
                                "recency_signal"]],
        }

    def p_alive_grid(self, max_frequency: int, T: float, n_recency: int = 25) -> pd.DataFrame:
        """Mean P(alive) on a frequency × recency grid at customer age ``T`` (long frame).

        Returns ``frequency, recency, p_alive`` for frequency 0 … ``max_frequency`` and
        ``n_recency`` recency values in [0, T] (recency 0 only with frequency 0 is observable;
        the grid shows the model surface, as lifetimes' ``plot_probability_alive_matrix``).
        """
        freqs = np.arange(max_frequency + 1)
        rec = np.linspace(0, T, n_recency)
        f, r = np.meshgrid(freqs, rec, indexing="ij")
        grid = pd.DataFrame({"customer_id": np.arange(f.size).astype(str), "frequency": f.ravel().astype(float),
                             "recency": np.where(f.ravel() == 0, 0.0, r.ravel()), "T": float(T)})
        p = self._expectations(grid)[0].mean(axis=0)
        return pd.DataFrame({"frequency": f.ravel(), "recency": r.ravel(), "p_alive": p})


def _simulate_frequency(model: str, post, T: np.ndarray, seed: int) -> np.ndarray:
    """Simulated repeat-purchase counts, shape (draws, customers), one data set per posterior draw
    (:func:`salesbench.analyses.churn.predictive.simulate_frequency`)."""
    par = {k: post[k].values.ravel() for k in MODEL_PARAMS[model]}
    return cp.simulate_frequency(model, par, T, np.random.default_rng(seed))


def summarize_predictive(draws, sims) -> dict[str, Any]:
    """Expected total and 94% intervals of a customer-base total.

    ``draws``: the total of the per-customer expectations per posterior draw (its mean is the
    expected total; its 3rd–97th percentiles are ``lo_param``/``hi_param``, parameter
    uncertainty only, None for a MAP fit). ``sims``: simulated totals including purchase-process
    noise (:meth:`ChurnModel._simulate`); their 3rd–97th percentiles are ``lo``/``hi``, the
    posterior-predictive interval.
    """
    par = summarize_draws(draws)
    s = np.asarray(sims, dtype=float).ravel()
    lo, hi = np.quantile(s, [_Q_LO, _Q_HI])
    return {"mean": par["mean"], "lo": float(lo), "hi": float(hi), "lo_param": par["lo"], "hi_param": par["hi"],
            "interval": "posterior predictive"}


def summarize_draws(draws) -> dict[str, float | None]:
    """``{mean, lo, hi}`` of a vector of posterior draws (94% equal-tailed interval).

    With a single draw (a MAP fit) ``lo`` and ``hi`` are None: a point estimate has no interval.
    """
    d = np.asarray(draws, dtype=float).ravel()
    if d.size <= 1:
        return {"mean": float(d.mean()) if d.size else None, "lo": None, "hi": None}
    lo, hi = np.quantile(d, [_Q_LO, _Q_HI])
    return {"mean": float(d.mean()), "lo": float(lo), "hi": float(hi)}


def _add(acc, counts, key, draws, n):
    if key in acc:
        acc[key] = acc[key] + draws
        counts[key] += n
    else:
        acc[key] = np.asarray(draws, dtype=float).copy()
        counts[key] = n


def _flat(x) -> np.ndarray:
    """xarray (chain, draw, customer) → numpy (draws, customers)."""
    arr = np.asarray(x.transpose("chain", "draw", "customer_id", missing_dims="ignore").values, dtype=float)
    if arr.ndim == 1:
        arr = arr[None, :]
    return arr.reshape(-1, arr.shape[-1])


# --------------------------------------------------------------------------- actions
#: Order of the at-risk list per ranking signal: (column, ascending) — most at risk first.
RANK_ORDER: dict[str, tuple[str, bool]] = {
    "revenue_at_risk": ("revenue_at_risk", False),
    "p_purchase": ("p_purchase", True),
    "expected_purchases": ("expected_purchases", True),
    "p_alive": ("p_alive", True),
    "recency": ("since_last_purchase", False),
}


def at_risk_customers(pred: pd.DataFrame, attrs: pd.DataFrame | None = None, p_alive_max: float = 0.5,
                      min_clv_quantile: float = 0.5, rank_by: str = "revenue_at_risk") -> pd.DataFrame:
    """The at-risk list: low probability alive and high expected value, ranked most at risk first.

    A customer is at risk when the posterior mean ``p_alive < p_alive_max`` and the expected
    customer lifetime value ``clv`` is at or above its ``min_clv_quantile`` quantile over all
    customers (and positive): still worth a lot, but probably slipping away. Customers long gone
    have a CLV near zero and are not on the list. ``value_if_alive`` = ``expected_revenue /
    p_alive`` and ``revenue_at_risk`` = (1 − P(alive)) × ``value_if_alive``.

    ``rank_by`` orders the list (ties by revenue at risk, then id): ``revenue_at_risk``
    (descending), ``p_purchase`` (probability of buying within the horizon, ascending),
    ``expected_purchases`` (ascending), ``p_alive`` (ascending) or ``recency``
    (``since_last_purchase``, descending) — see :func:`salesbench.analyses.churn.choice.choose_signal`.
    ``rank`` is the position in that order.
    """
    if rank_by not in RANK_ORDER:
        raise ValueError(f"rank_by must be one of {', '.join(RANK_ORDER)}, not {rank_by!r}")
    df = pred.copy()
    df["value_if_alive"] = np.divide(df["expected_revenue"], df["p_alive"], out=np.zeros(len(df)),
                                     where=df["p_alive"].to_numpy() > 1e-300)
    cut = float(df["clv"].quantile(min_clv_quantile)) if len(df) else 0.0
    sel = df[(df["p_alive"] < p_alive_max) & (df["clv"] >= cut) & (df["clv"] > 0)]
    if attrs is not None:
        sel = sel.merge(attrs, on="customer_id", how="left")
    col, asc = RANK_ORDER[rank_by]
    keys, order = [col, "customer_id"], [asc, True]
    if col != "revenue_at_risk":
        keys, order = [col, "revenue_at_risk", "customer_id"], [asc, False, True]
    out = sel.sort_values(keys, ascending=order).reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    return out


def status_of(p_alive: float | np.ndarray, slipping: float = 0.7, gone: float = 0.3):
    """Traffic-light status from P(alive): ≥ ``slipping`` active (green), ≥ ``gone`` slipping (amber),
    else probably gone (red)."""
    p = np.asarray(p_alive, dtype=float)
    return np.where(p >= slipping, "active", np.where(p >= gone, "slipping", "probably gone"))


def roc_auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for the boolean ``positive`` (scikit-learn)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.asarray(positive, bool), np.asarray(score, float)))


def truth_check(pred: pd.DataFrame, truth_customers: pd.DataFrame, calibration_end, at_risk: pd.DataFrame) -> dict:
    """Compare predictions with the demo generator's truth (demo data only).

    ``churned`` = the customer's true ``churned_at`` is on or before ``calibration_end``.
    Returns ``{auc, base_rate, at_risk_churned_share, n}``: the ROC AUC of 1 − P(alive) for
    churned, the share churned among all customers and among the at-risk list.
    """
    end = _as_date(calibration_end)
    tc = truth_customers[["customer_id", "churned_at"]].copy()
    tc["customer_id"] = tc["customer_id"].astype(str)
    tc["churned"] = pd.to_datetime(tc["churned_at"]).le(end).fillna(False).astype(bool)
    df = pred[["customer_id", "p_alive"]].merge(tc[["customer_id", "churned"]], on="customer_id", how="left")
    df["churned"] = df["churned"].fillna(False).astype(bool)
    share = float(df.loc[df["customer_id"].isin(at_risk["customer_id"]), "churned"].mean()) if len(at_risk) else None
    auc = roc_auc(1 - df["p_alive"], df["churned"]) if 0 < df["churned"].sum() < len(df) else None
    return {"auc": auc, "base_rate": float(df["churned"].mean()), "at_risk_churned_share": share, "n": len(df)}
