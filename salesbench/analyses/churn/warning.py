"""Early-warning signs of churn: a hierarchical Bayesian logistic model (numpy density + nutpie NUTS, or PyMC).

Which observable signs really precede a customer going quiet? At a snapshot
date ``as_of`` every customer who bought in the ``window_days`` before it gets
four warning indicators measured in that window:

* ``order_decline`` — log((purchase days in the two windows before the last
  one, halved, + ½) / (purchase days in the last window + ½)); positive =
  buying less often than usual;
* ``csat_drop`` — mean CSAT before the window minus mean CSAT in it (the
  company's mean CSAT before the window stands in for a customer without
  earlier surveys; 0 without a survey in the window); positive = satisfaction fell;
* ``complaints`` — complaints (interactions of kind ``complaint``) in the window;
* ``days_overdue`` — mean days past due of invoices due in the window (paid
  late, or still unpaid at ``as_of``; 0 without such invoices).

Customer types that buy rarely also go quiet more often, whatever their
warning signs; the control ``usual_rate`` = log(purchase days in the two windows
before the last one + ½) keeps that apart from the warning effects.

The outcome is observable churn: no purchase in the ``label_days`` after
``as_of``. The model (Gelman & Hill 2007, ch. 14; non-centred parameterisation)::

    z_ik = (x_ik − mean_k) / sd_k                   standardised indicators
    churn_i ~ Bernoulli(logit⁻¹(α_g[i] + Σ_k β_g[i],k z_ik))
    α_g = μ_α + σ_α ε_g,     β_gk = μ_k + σ_k η_gk,     ε, η ~ N(0, 1)
    μ_α ~ N(0, 1.5),  μ_k ~ N(0, 1),  σ_α ~ HalfNormal(1),  σ_k ~ HalfNormal(0.5)

with regions ``g`` partially pooled: a region's effects shrink toward the
company-wide effect ``μ_k`` as much as the data allow. ``μ_k`` is the change in
log-odds of churn for a one-standard-deviation rise in indicator ``k``.

The likelihood is evaluated on the distinct (region, indicators) rows
(:func:`covariate_groups`): ``k_j`` of the ``n_j`` customers sharing row ``j``
churned, and Σ_j [k_j·η_j − n_j·log(1 + e^η_j)] is exactly the Bernoulli
log-likelihood of every customer (the binomial coefficients are constant). The
linear predictor is one dense product ``[onehot(g) | Z ⊗ onehot(g)] · (α, vec β)``,
whose gradient is a matrix product too, instead of gathering ``β_g[i]`` row by row
(measured per log-density + gradient evaluation: 2.3× cheaper on the default demo,
docs/churn.md).

**Sampler.** The same posterior is written twice: as a PyMC model (:meth:`EarlyWarningModel.build_model`,
the reference) and in numpy with its exact gradient (:func:`warning_density`, equal to PyMC's log-density
on PyMC's unconstrained value variables, tested). ``EarlyWarningModel(engine="auto")`` samples the numpy
density with nutpie's NUTS (:mod:`salesbench.core.nuts`; the chains one after the other in this process)
when nutpie is installed, else PyMC's NUTS; ``engine="pymc"`` forces PyMC. Both run at target_accept 0.95
with a diagonal mass matrix. Without PyTensor there is no model to build, compile or load from the compile
cache and no worker process to start: on the default demo ``fit_early_warning`` took 12.6 s wall (19.0 CPU
s) with PyMC and 5.7 s (5.7 CPU s) with nutpie (docs/churn.md, "Early-warning sampler").

Indicators are computed in the engine (ibis); only one row per customer comes back.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any

import numpy as np
import pandas as pd

from salesbench.analyses.churn.clv import INTERVAL, _quiet, roc_auc
from salesbench.core import forked, nuts
from salesbench.core.i18n import N_, NP_, is_cjk, messages
from salesbench.core.said import Said

_, ngettext, pgettext = messages(__name__).functions()

INDICATORS: dict[str, str] = {
    "order_decline": NP_("indicator", "Order-frequency decline"),
    "csat_drop": NP_("indicator", "CSAT drop"),
    "complaints": NP_("indicator", "Complaints"),
    "days_overdue": NP_("indicator", "Days overdue on invoices"),
}
#: Control covariate: how often the customer usually buys (not a warning sign).
CONTROLS: dict[str, str] = {"usual_rate": NP_("indicator", "Usual purchase rate (control)")}
LABELS: dict[str, str] = {**INDICATORS, **CONTROLS}
#: Tables that carry each indicator (besides orders).
INDICATOR_TABLES: dict[str, str | None] = {
    "order_decline": None, "csat_drop": "surveys", "complaints": "interactions", "days_overdue": "invoices",
}


def available_indicators(ds) -> list[str]:
    """Indicators whose source table exists; empty when only orders are available (model skipped)."""
    signals = [k for k, t in INDICATOR_TABLES.items() if t is not None and ds.has(t)]
    if not signals:
        return []
    return ["order_decline", *signals]


def warning_indicators(ds, as_of, window_days: int = 180, label_days: int = 180) -> pd.DataFrame:
    """One row per customer with a purchase in the ``window_days`` before ``as_of``: indicators, region, label.

    Returns ``customer_id, region, order_decline, csat_drop, complaints, days_overdue, churned``
    (indicators whose table is missing are absent). ``churned`` = no purchase day in
    (``as_of``, ``as_of + label_days``].
    """
    as_of = pd.Timestamp(as_of).date()
    w0 = as_of - _dt.timedelta(days=window_days)
    w_prev = as_of - _dt.timedelta(days=3 * window_days)
    label_end = as_of + _dt.timedelta(days=label_days)
    o = ds.table("orders")
    days = o.select("customer_id", "order_date").distinct()
    d = days.order_date
    per = days.group_by("customer_id").aggregate(
        recent=((d > w0) & (d <= as_of)).ifelse(1, 0).sum(),
        previous=((d > w_prev) & (d <= w0)).ifelse(1, 0).sum(),
        future=((d > as_of) & (d <= label_end)).ifelse(1, 0).sum(),
    )
    per = per.filter(per.recent > 0)
    df = per.to_pandas()
    df["customer_id"] = df["customer_id"].astype(str)
    df["order_decline"] = np.log((df["previous"] / 2 + 0.5) / (df["recent"] + 0.5))
    df["usual_rate"] = np.log(df["previous"] + 0.5)
    df["churned"] = (df["future"] == 0).astype(int)

    if ds.has("surveys"):
        s = ds.table("surveys")
        s = s.filter(s.csat.notnull() & (s.survey_date <= as_of))
        in_w = s.survey_date > w0
        cs = s.group_by("customer_id").aggregate(
            csat_before=s.csat.mean(where=~in_w), csat_window=s.csat.mean(where=in_w)).to_pandas()
        overall = s.filter(~in_w).csat.mean().to_pyarrow().as_py()
        cs["customer_id"] = cs["customer_id"].astype(str)
        baseline = cs["csat_before"].fillna(overall if overall is not None else cs["csat_window"].mean())
        cs["csat_drop"] = (baseline - cs["csat_window"]).fillna(0.0)
        df = df.merge(cs[["customer_id", "csat_drop"]], on="customer_id", how="left")
        df["csat_drop"] = df["csat_drop"].fillna(0.0)
    if ds.has("interactions"):
        i = ds.table("interactions")
        dt_ = i.occurred_at.date()
        i = i.filter((i.kind == "complaint") & (dt_ > w0) & (dt_ <= as_of))
        cp = i.group_by("customer_id").aggregate(complaints=i.count()).to_pandas()
        cp["customer_id"] = cp["customer_id"].astype(str)
        df = df.merge(cp, on="customer_id", how="left")
        df["complaints"] = df["complaints"].fillna(0).astype(float)
    if ds.has("invoices"):
        v = ds.table("invoices")
        v = v.filter((v.due_date > w0) & (v.due_date <= as_of))
        paid = v.paid_date.fill_null(as_of)
        paid = (paid > as_of).ifelse(as_of, paid)
        late = paid.delta(v.due_date, unit="day").clip(lower=0)
        ov = v.group_by("customer_id").aggregate(days_overdue=late.mean()).to_pandas()
        ov["customer_id"] = ov["customer_id"].astype(str)
        df = df.merge(ov, on="customer_id", how="left")
        df["days_overdue"] = df["days_overdue"].fillna(0.0).astype(float)

    if ds.has_columns("customers", ["region"]):
        c = ds.table("customers").select("customer_id", "region").to_pandas()
        c["customer_id"] = c["customer_id"].astype(str)
        df = df.merge(c, on="customer_id", how="left")
    else:
        df["region"] = "all"
    df["region"] = df["region"].fillna("unknown").astype(str)
    cols = ["customer_id", "region", *[k for k in LABELS if k in df.columns], "churned"]
    # the engine sums floats in parallel (order varies run to run): round so reruns feed NUTS identical numbers
    df[cols[2:-1]] = df[cols[2:-1]].astype(float).round(9)
    return df[cols].sort_values("customer_id").reset_index(drop=True)


def covariate_groups(Z: np.ndarray, g: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (region, covariates) rows with churn counts: the binomial form of a Bernoulli likelihood.

    ``Z`` (customers × K) covariates, ``g`` region codes, ``y`` 0/1 outcomes. Returns ``(rows, churned, n)``:
    ``rows[:, 0]`` the region code and ``rows[:, 1:]`` the covariates of each distinct row, ``n`` the
    customers sharing it and ``churned`` how many of them churned (Σ n = customers, Σ churned = Σ y).
    """
    keys = np.column_stack([np.asarray(g, float), np.asarray(Z, float)])
    rows, index = np.unique(keys, axis=0, return_inverse=True)
    index = np.asarray(index).ravel()
    n = np.bincount(index, minlength=len(rows)).astype(float)
    churned = np.bincount(index, weights=np.asarray(y, float), minlength=len(rows))
    return rows, churned, n


def region_design(Z: np.ndarray, g: np.ndarray, n_regions: int) -> np.ndarray:
    """Design matrix ``[onehot(g) | Z ⊗ onehot(g)]`` (rows × (R + R·K)) of the varying-intercept,
    varying-slope model: times ``(α_1..α_R, β_11..β_1K, …, β_RK)`` it gives ``α_g[i] + Σ_k β_g[i],k z_ik``."""
    n, k = Z.shape
    out = np.zeros((n, n_regions + n_regions * k))
    rows = np.arange(n)
    out[rows, g] = 1.0
    cols = n_regions + g[:, None] * k + np.arange(k)[None, :]
    out[rows[:, None], cols] = Z
    return out


#: the population parameters whose largest R-hat is ``r_hat_max_``
POPULATION: list[str] = ["mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta"]
#: ``EarlyWarningModel(engine=…)``: ``auto`` = the numpy density + nutpie when nutpie is installed, else PyMC
ENGINES: tuple[str, ...] = ("auto", "numpy", "pymc")
_LOG_NORMAL = -0.5 * np.log(2 * np.pi)  # ln N(x | 0, σ) = _LOG_NORMAL − ln σ − x²/(2σ²)
_LOG_HALF_NORMAL = 0.5 * np.log(2 / np.pi)  # ln HalfNormal(x | σ) = _LOG_HALF_NORMAL − ln σ − x²/(2σ²), x ≥ 0


def warning_density(design: np.ndarray, churned: np.ndarray, n: np.ndarray, regions, indicators) -> nuts.Density:
    """The posterior density of :meth:`EarlyWarningModel.build_model` in numpy, with its exact gradient.

    ``design`` = :func:`region_design` of the distinct rows (rows × (R + R·K)), ``churned`` / ``n`` their
    counts (:func:`covariate_groups`), ``regions`` / ``indicators`` the names (R and K of them).

    Unconstrained θ = (μ_α, ln σ_α, ε[R], μ[K], ln σ[K], η[R·K], η row-major by region): the order and the
    transforms of PyMC's value variables (``sigma_alpha_log__`` …), so ``logp(θ, jacobian=True)`` equals
    PyMC's ``compile_logp(jacobian=True)``, normalising constants included. With c = θ except c = e^θ at the
    two ln σ blocks, the weights are w = (α, vec β) = c[MU] + c[SD] · θ[V] (MU, SD, V: which μ, σ and ε/η
    each weight takes), the linear predictor ℓ = design · w and

        log p = Σ_j [k_j ℓ_j − n_j softplus(ℓ_j)] − ½ Σ_i c_i² / s_i² + const (+ Σ ln σ with the Jacobian),

    s_i the prior scales (1.5 for μ_α, 0.5 for σ_k, else 1). Gradient: ∂/∂w = designᵀ (k − n σ(ℓ)); to c it
    is summed per μ (∂w/∂μ = 1), per σ (∂w/∂σ = ε or η) and taken times σ for ε and η; the prior adds
    −c_i / s_i²; at the ln σ entries the chain rule multiplies by σ and the Jacobian adds 1.
    ``expand`` gives PyMC's variables and dims: ``mu_alpha, sigma_alpha, eps[region], alpha[region],
    mu_beta[indicator], sigma_beta[indicator], eta[region, indicator], beta[region, indicator]``.
    Measured on the default demo (1,625 rows, R = 4, K = 5): 42 µs per log-density + gradient.
    """
    R, K = len(regions), len(indicators)
    D = np.ascontiguousarray(design, dtype=float)
    DT = np.ascontiguousarray(D.T)
    k_, n_ = np.asarray(churned, float), np.asarray(n, float)
    if D.shape != (len(k_), R + R * K):
        raise ValueError(f"design has shape {D.shape}, expected ({len(k_)}, {R + R * K})")
    n_dim, n_w = 2 + R + 2 * K + R * K, R + R * K
    i_eps, i_mb = np.arange(2, 2 + R), np.arange(2 + R, 2 + R + K)
    i_sb, i_eta = np.arange(2 + R + K, 2 + R + 2 * K), np.arange(2 + R + 2 * K, n_dim)
    LOG = np.r_[1, i_sb]  # the ln σ entries
    is_log = np.zeros(n_dim, bool)
    is_log[LOG] = True
    jac = is_log.astype(float)  # ∂(ln σ)/∂θ of the Jacobian term
    MU = np.r_[np.zeros(R, int), np.tile(i_mb, R)]  # weight → its μ, σ and ε / η entry
    SD = np.r_[np.ones(R, int), np.tile(i_sb, R)]
    V = np.r_[i_eps, i_eta]
    B = np.zeros((n_dim, 3 * n_w))  # ∂/∂c = B · (∂/∂w, ∂/∂w · θ[V], ∂/∂w · c[SD])
    B[MU, np.arange(n_w)] = B[SD, n_w + np.arange(n_w)] = B[V, 2 * n_w + np.arange(n_w)] = 1.0
    prec = np.ones(n_dim)  # 1 / s²
    prec[0], prec[i_sb] = 1 / 1.5 ** 2, 1 / 0.5 ** 2
    const = ((1 + R + K + R * K) * _LOG_NORMAL - np.log(1.5)  # μ_α ~ N(0, 1.5); ε, μ, η ~ N(0, 1)
             + (1 + K) * _LOG_HALF_NORMAL - K * np.log(0.5))  # σ_α ~ HalfNormal(1), σ_k ~ HalfNormal(0.5)

    def constrained(th):
        c = np.array(th, dtype=float)  # a fresh copy: chains may call from several threads
        c[LOG] = np.exp(c[LOG])
        return c

    def logp(th, jacobian=True):
        th = np.asarray(th, dtype=float)
        c = constrained(th)
        sd_w, v = c[SD], c[V]
        z = D @ (c[MU] + sd_w * v)
        # softplus(ℓ) = max(ℓ, 0) + ln(1 + e^−|ℓ|) without overflow, and σ(ℓ) = e^(ℓ − softplus ℓ); in place
        sp = np.abs(z)
        np.negative(sp, out=sp)
        np.exp(sp, out=sp)
        np.log1p(sp, out=sp)
        sp += np.maximum(z, 0.0)
        res = z - sp
        np.exp(res, out=res)
        res *= n_
        np.subtract(k_, res, out=res)  # k − n σ(ℓ)
        gw = DT @ res
        cp = c * prec
        lp = const + k_ @ z - n_ @ sp - 0.5 * (c @ cp)
        g = (B @ np.concatenate([gw, gw * v, gw * sd_w]) - cp) * np.where(is_log, c, 1.0)
        if jacobian:  # ln |dσ/d ln σ| = ln σ
            return float(lp + th[LOG].sum()), g + jac
        return float(lp), g

    def expand(th):
        c = constrained(th)
        mu_a, sd_a, eps = c[0], c[1], c[i_eps]
        mu_b, sd_b, eta = c[i_mb], c[i_sb], c[i_eta].reshape(R, K)
        return {"mu_alpha": mu_a, "sigma_alpha": sd_a, "eps": eps, "alpha": mu_a + sd_a * eps,
                "mu_beta": mu_b, "sigma_beta": sd_b, "eta": eta, "beta": mu_b + sd_b * eta}

    rate = float(np.clip(k_.sum() / max(n_.sum(), 1.0), 0.01, 0.99))
    start = np.zeros(n_dim)
    start[0] = np.log(rate / (1 - rate))  # μ_α at the overall churn log-odds, the σ at their prior scales
    start[i_sb] = np.log(0.5)
    shapes = {"mu_alpha": (), "sigma_alpha": (), "eps": (R,), "alpha": (R,), "mu_beta": (K,),
              "sigma_beta": (K,), "eta": (R, K), "beta": (R, K)}
    dims = {"eps": ("region",), "alpha": ("region",), "mu_beta": ("indicator",), "sigma_beta": ("indicator",),
            "eta": ("region", "indicator"), "beta": ("region", "indicator")}
    coords = {"region": [str(r) for r in regions], "indicator": list(indicators)}
    return nuts.Density(logp=logp, expand=expand, start=start, shapes=shapes, dims=dims, coords=coords)


class EarlyWarningModel:
    """Hierarchical logistic regression of churn on warning indicators, regions partially pooled.

    ``fit(frame)`` takes :func:`warning_indicators` output; afterwards ``effects_`` holds the
    company-wide effect of each indicator (log-odds per SD: ``mean, lo, hi`` = 94% HDI,
    ``prob_positive`` = P(effect > 0), ``odds_ratio`` = exp(mean)), ``region_effects_`` the
    per-region effects and ``churn_prob_`` the posterior mean churn probability per customer.

    ``engine``: ``auto`` (nutpie's NUTS on the numpy :meth:`density` when nutpie is installed, else PyMC on
    :meth:`build_model`), ``numpy`` or ``pymc`` (as :attr:`salesbench.analyses.churn.clv.ChurnModel.engine`); the
    one used is ``engine_``. ``cores``: chains at once
    (PyMC: worker processes, default 2; nutpie: threads, default 1 — they would share the GIL).
    """

    def __init__(self, indicators: list[str] | None = None, draws: int = 500, tune: int = 500, chains: int = 2,
                 seed: int = 42, cores: int | None = None, engine: str = "auto"):
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        self.indicators = indicators
        self.draws, self.tune, self.chains, self.seed, self.cores = draws, tune, chains, seed, cores
        self.engine = engine

    def _data(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Standardise the indicators and group the customers: ``(design, churned, n)`` of the distinct rows.

        Sets ``indicators_``, ``center_`` / ``scale_`` (the standardisation) and ``regions_``.
        """
        inds = [k for k in (self.indicators or INDICATORS) if k in frame.columns]
        inds += [k for k in CONTROLS if k in frame.columns and k not in inds]
        X = frame[inds].to_numpy(float)
        self.center_, self.scale_ = X.mean(axis=0), X.std(axis=0)
        self.scale_[self.scale_ == 0] = 1.0
        Z = (X - self.center_) / self.scale_
        y = frame["churned"].to_numpy(int)
        if y.min() == y.max():
            raise ValueError("every customer has the same churn label: the early-warning model cannot be fitted")
        regions, g = np.unique(frame["region"].astype(str), return_inverse=True)
        self.indicators_, self.regions_ = inds, regions
        self._Z, self._g, self._y = Z, g, y
        rows, churned, n = covariate_groups(Z, g, y)
        return region_design(rows[:, 1:], rows[:, 0].astype(int), len(regions)), churned, n

    def density(self, frame: pd.DataFrame) -> nuts.Density:
        """The model of :meth:`build_model` as a numpy :class:`~salesbench.core.nuts.Density`
        (:func:`warning_density`); sets the same attributes."""
        design, churned, n = self._data(frame)
        return warning_density(design, churned, n, self.regions_, self.indicators_)

    def build_model(self, frame: pd.DataFrame):
        """The PyMC model of :meth:`fit` on :func:`warning_indicators` output (also kept as ``model_``): the
        reference for :meth:`density` and the sampler without nutpie.

        Sets ``indicators_``, ``center_`` / ``scale_`` (the standardisation) and ``regions_``.
        """
        with _quiet():
            import pymc as pm
            import pytensor.tensor as pt

        design, churned, n = self._data(frame)
        inds, regions = self.indicators_, self.regions_
        coords = {"indicator": inds, "region": list(regions)}
        with pm.Model(coords=coords) as self.model_:
            mu_a = pm.Normal("mu_alpha", 0, 1.5)
            sd_a = pm.HalfNormal("sigma_alpha", 1.0)
            eps = pm.Normal("eps", 0, 1, dims="region")
            alpha = pm.Deterministic("alpha", mu_a + sd_a * eps, dims="region")
            mu_b = pm.Normal("mu_beta", 0, 1, dims="indicator")
            sd_b = pm.HalfNormal("sigma_beta", 0.5, dims="indicator")
            eta = pm.Normal("eta", 0, 1, dims=("region", "indicator"))
            beta = pm.Deterministic("beta", mu_b + sd_b * eta, dims=("region", "indicator"))
            logit = pt.dot(design, pt.concatenate([alpha, beta.reshape((len(regions) * len(inds),))]))
            pm.Potential("churned", pt.sum(churned * logit - n * pt.softplus(logit)))
        return self.model_

    def fit(self, frame: pd.DataFrame) -> "EarlyWarningModel":
        """NUTS on the model, then the effects, region effects, R-hat, divergences and AUC.

        The engine (``engine_``): ``numpy`` runs nutpie's NUTS on :meth:`density` (the chains one after the
        other: the numpy log-density holds the GIL), ``pymc`` PyMC's NUTS on :meth:`build_model`; ``auto``
        takes nutpie when it is installed. Both at ``target_accept`` 0.95 with a diagonal mass matrix.
        """
        with _quiet():
            import arviz as az

        self.engine_ = ("numpy" if nuts.available() else "pymc") if self.engine == "auto" else self.engine
        if self.engine_ == "numpy":
            if not nuts.available():
                raise RuntimeError("engine='numpy' needs the nutpie package (pip install nutpie) for its NUTS")
            with _quiet():
                self.idata_ = nuts.sample(self.density(frame), draws=self.draws, tune=self.tune, chains=self.chains,
                                          seed=self.seed, target_accept=0.95, cores=self.cores or 1, dense=False,
                                          grad_based=False)
        else:
            with _quiet():
                import pymc as pm
            with self.build_model(frame):
                with _quiet():
                    self.idata_ = pm.sample(draws=self.draws, tune=self.tune, chains=self.chains,
                                            cores=self.cores or min(self.chains, 2), random_seed=self.seed,
                                            target_accept=0.95, progressbar=False)
        inds, regions, Z, g, y = self.indicators_, self.regions_, self._Z, self._g, self._y
        post = self.idata_.posterior
        with _quiet():  # ArviZ's HDI and rank-normalised R-hat directly: az.summary would add ESS and MCSE
            hdi = az.hdi(post[["mu_beta", "beta"]], hdi_prob=INTERVAL)
            r_hat = az.rhat(post[POPULATION])
        mu = post["mu_beta"].sel(indicator=inds).stack(sample=("chain", "draw")).values  # (K, S)
        mean = mu.mean(axis=1)
        lo_hi = hdi["mu_beta"].sel(indicator=inds).values  # (K, 2)
        self.effects_ = pd.DataFrame({
            "indicator": inds, "label": [LABELS[k] for k in inds], "mean": mean, "lo": lo_hi[:, 0],
            "hi": lo_hi[:, 1], "prob_positive": (mu > 0).mean(axis=1), "odds_ratio": np.exp(mean),
            "r_hat": r_hat["mu_beta"].sel(indicator=inds).values.astype(float),
        })
        beta_mean = post["beta"].mean(("chain", "draw")).sel(region=list(regions), indicator=inds)
        beta_hdi = hdi["beta"].sel(region=list(regions), indicator=inds).values  # (R, K, 2)
        self.region_effects_ = pd.DataFrame({
            "region": np.repeat(np.asarray(regions, dtype=object), len(inds)), "indicator": inds * len(regions),
            "label": [LABELS[k] for k in inds] * len(regions), "mean": beta_mean.values.ravel(),
            "lo": beta_hdi[..., 0].ravel(), "hi": beta_hdi[..., 1].ravel()})
        self.r_hat_max_ = float(max(np.nanmax(r_hat[v].values) for v in POPULATION))
        self.divergences_ = int(self.idata_.sample_stats["diverging"].sum())
        a = post["alpha"].mean(("chain", "draw")).values
        b = beta_mean.values
        lin = a[g] + (Z * b[g]).sum(axis=1)
        self.churn_prob_ = 1 / (1 + np.exp(-lin))
        self.auc_ = roc_auc(self.churn_prob_, y.astype(bool))
        self.n_, self.base_rate_ = len(y), float(y.mean())
        return self

    def summary(self) -> dict[str, Any]:
        """Plain dict for results.json: effects, AUC, R-hat, divergences, customers, churn rate and the sampler
        (``engine``: numpy, i.e. nutpie's NUTS on the numpy density, or pymc)."""
        eff = self.effects_
        return {
            "effects": {r.indicator: {"mean": r.mean, "lo": r.lo, "hi": r.hi, "prob_positive": r.prob_positive,
                                      "odds_ratio": r.odds_ratio} for r in eff.itertuples()},
            "auc": self.auc_, "r_hat_max": self.r_hat_max_, "divergences": self.divergences_,
            "n_customers": self.n_, "churn_rate": self.base_rate_, "engine": self.engine_,
        }


def fit_early_warning(ds, calibration_end: pd.Timestamp, first_purchase: pd.Timestamp, enabled: bool = True,
                      window_days: int = 180, label_days: int = 180, draws: int = 500, chains: int = 2,
                      seed: int = 42) -> tuple["EarlyWarningModel | None", str | None, pd.Timestamp | None]:
    """The churn report's early-warning step: ``(model, None, as_of)`` or ``(None, reason, None)``.

    The indicators are measured over the ``window_days`` before ``as_of = calibration_end −
    label_days`` and the outcome (no purchase) over the ``label_days`` after it. Skipped, with a
    sentence why, when switched off, when the data has only orders, when the history before
    ``calibration_end`` (first purchase ``first_purchase``) is shorter than two windows plus the
    outcome period, or when fewer than 50 customers or no churn are in the outcome period.
    """
    return start_early_warning(ds, calibration_end, first_purchase, enabled, window_days, label_days, draws, chains,
                               seed, background=False).result()


def start_early_warning(ds, calibration_end: pd.Timestamp, first_purchase: pd.Timestamp, enabled: bool = True,
                        window_days: int = 180, label_days: int = 180, draws: int = 500, chains: int = 2,
                        seed: int = 42, background: bool = True) -> forked.Pending:
    """:func:`fit_early_warning` with the model fitted in the background: the indicators are queried here, then
    (``background``) the fit runs in a forked child (:mod:`salesbench.core.forked`) while the caller goes on;
    ``.result()`` gives ``fit_early_warning``'s tuple, the same numbers (the fit is seeded)."""
    inds = available_indicators(ds)
    as_of = calibration_end - pd.Timedelta(days=label_days)
    if not enabled:
        return forked.done((None, Said(__name__, N_("The early-warning model was switched off (early_warning = "
                                                    "false).")), None))
    if not inds:
        return forked.done((None, Said(__name__, N_("The early-warning model is skipped: the data has only orders, "
                                                    "no surveys, interactions or invoices to take warning signs "
                                                    "from.")), None))
    if as_of - pd.Timedelta(days=2 * window_days) < pd.Timestamp(first_purchase):
        return forked.done((None, Said(__name__, N_("The early-warning model is skipped: the history before "
                                                    "calibration_end is too short for a {window}-day window plus a "
                                                    "{label}-day outcome period."),
                                       window=window_days, label=label_days), None))
    frame = warning_indicators(ds, as_of, window_days, label_days)  # the database query, in this process
    if frame["churned"].nunique() < 2 or len(frame) < 50:
        return forked.done((None, Said(__name__, N_("The early-warning model is skipped: too few customers or no "
                                                    "churn in the outcome period.")), None))
    model = EarlyWarningModel(inds, draws=draws, tune=draws, chains=chains, seed=seed)
    if not background:
        return forked.done(_fitted(model, frame, as_of))
    return forked.submit(_fitted, model, frame, as_of)


def _fitted(model: "EarlyWarningModel", frame: pd.DataFrame, as_of: pd.Timestamp):
    return model.fit(frame), None, as_of


def effect_sentence(effects: pd.DataFrame) -> str:
    """A sentence naming the indicators whose 94% interval excludes zero (the signs that predict churn).

    Control covariates (``usual_rate``) are left out: they are not warning signs.
    """
    if "indicator" in effects.columns:
        effects = effects[~effects["indicator"].isin(list(CONTROLS))]
    strong = effects[(effects["lo"] > 0)].sort_values("mean", ascending=False)
    weak = effects[~((effects["lo"] > 0) | (effects["hi"] < 0))]
    parts = []
    sep = _(", ")
    if len(strong):
        signs = [_("{label} (odds ×{odds} per standard deviation)", label=indicator_label(r.label),
                   odds=format(r.odds_ratio, ".2f")) for r in strong.itertuples()]
        parts.append(_("Signs that clearly predict churn: {signs}.", signs=sep.join(signs)))
    else:
        parts.append(_("No warning indicator clearly predicts churn (every 94% interval includes zero)."))
    if len(weak):
        parts.append(_("Not distinguishable from no effect: {signs}.", signs=sep.join(map(indicator_label, weak["label"]))))
    return ("" if is_cjk() else " ").join(parts)


def indicator_label(label: str) -> str:
    """An indicator's label (:data:`LABELS`) in the report's language."""
    return messages(__name__).label("indicator", label)
