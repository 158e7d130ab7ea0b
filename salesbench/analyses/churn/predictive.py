"""Posterior-predictive distribution of each customer's future purchases and spend.

pymc-marketing gives the *expected* number of purchases E[X(t) | x, t_x, T] per posterior draw;
summing those gives an interval for the expected total, which reflects the uncertainty of the
population parameters only. The number of purchases customers will actually make also varies
by chance (who is still active, how fast each one buys). This module adds that purchase-process
noise, in closed form where it exists and by simulation otherwise, for BG/NBD, MBG/NBD and
Pareto/NBD with population parameters from one posterior draw.

Individual-level posterior given a customer's history (x repeat purchases, last at t_x, age T):
the likelihood is a two-part mixture, "still active at T" and "dropped out after the last
purchase", so the customer is active with probability P(alive) (the papers' closed form,
computed by pymc-marketing) and, *given active*, the individual rates have conjugate posteriors

* BG/NBD (Fader, Hardie & Lee 2005): λ ~ Gamma(r + x, α + T), p ~ Beta(a, b + x);
* MBG/NBD (Batislam, Denizel & Filiztekin 2007): λ ~ Gamma(r + x, α + T), p ~ Beta(a, b + x + 1)
  (the customer also survived the drop-out chance right after the first purchase);
* Pareto/NBD (Schmittlein, Morrison & Colombo 1987): λ ~ Gamma(r + x, α + T),
  μ ~ Gamma(s, β + T), independent (the active part of the likelihood is λ^x e^{−λT} e^{−μT}).

Gamma(shape, rate) throughout. Future purchases in (T, T + t] of an active customer:

* BG/NBD, MBG/NBD: N ~ Poisson(λ t) purchase opportunities; after each purchase the customer
  drops out with probability p, so the number of purchases is min(N, K) with
  K ~ Geometric(p) on {1, 2, …}. Integrating λ and p out (N is negative binomial,
  p enters through Beta-function ratios):
  P(0 | active) = NB(0) and, for k ≥ 1,
  P(k | active) = B(a, b' + k − 1)/B(a, b') · NB(k) + B(a + 1, b' + k − 1)/B(a, b') · P(N > k),
  with NB = negative binomial(r + x, (α + T)/(α + T + t)) and b' as above.
* Pareto/NBD: the remaining lifetime L ~ Exponential(μ) (memoryless), purchases
  ~ Poisson(λ · min(t, L)). With μ integrated out L is Lomax(s, β + T), so
  P(k | active) = (β'/(β' + t))^s NB(k; t) + ∫₀ᵗ s β'^s (β' + l)^{−s−1} NB(k; l) dl,
  NB(k; l) = negative binomial(r + x, α'/(α' + l)), integrated by Gauss–Legendre quadrature.

P(X = k | history) = P(alive) · P(k | active) + (1 − P(alive)) · [k = 0]. Its mean equals
pymc-marketing's ``expected_purchases`` (a unit test checks it); the log of it at the actual
holdout counts is the holdout log-likelihood used to choose a model.

Spend (Gamma-Gamma, Fader & Hardie 2013): each purchase is Gamma(p, ν) with the customer's
ν | x, z̄ ~ Gamma(p x + q, v + x z̄), so n future purchases sum to Gamma(n p, ν).

Arrays broadcast: population parameters have shape (draws, 1), customer quantities (n,) or
(1, n); results are (draws, n).
"""
from __future__ import annotations

import numpy as np
from scipy.special import betaln

#: Gauss–Legendre nodes for the Pareto/NBD lifetime integral.
N_NODES = 32


def _col(par: dict, name: str) -> np.ndarray:
    return np.asarray(par[name], dtype=float).reshape(-1, 1)


def active_posterior(model: str, par: dict, x, T) -> dict[str, np.ndarray]:
    """Parameters of the individual-level posterior given the customer is active at ``T`` (see module doc)."""
    x = np.asarray(x, float)[None, :]
    T = np.asarray(T, float)[None, :]
    out = {"r": _col(par, "r") + x, "alpha": _col(par, "alpha") + T}
    if model == "pareto_nbd":
        out["s"] = _col(par, "s") + 0 * x
        out["beta"] = _col(par, "beta") + T
    else:
        out["a"] = _col(par, "a") + 0 * x
        out["b"] = _col(par, "b") + x + (1.0 if model == "mbg_nbd" else 0.0)
    return out


#: Models whose expectations :func:`p_alive` / :func:`expected_if_alive` write out (Pareto/NBD: pymc-marketing's).
CLOSED_FORM_MODELS: tuple[str, ...] = ("bg_nbd", "mbg_nbd")


def p_alive(model: str, par: dict, x, t_x, T) -> np.ndarray:
    """P(alive at T | x, t_x, T) per draw and customer, (draws, n), for BG/NBD and MBG/NBD.

    BG/NBD (Fader, Hardie & Lee 2005, eq. 11): 1 / (1 + [x > 0] · a/(b + x − 1) · ((α + T)/(α + t_x))^(r+x));
    MBG/NBD (Batislam et al. 2007): 1 / (1 + a/(b + x) · ((α + T)/(α + t_x))^(r+x)). The same expressions
    as pymc-marketing's ``expected_probability_alive``.
    """
    x, t_x, T = (np.asarray(v, float)[None, :] for v in (x, t_x, T))
    r, alpha, a, b = (_col(par, k) for k in ("r", "alpha", "a", "b"))
    if model == "mbg_nbd":
        odds = a / (b + x) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            odds = np.where(x > 0, a / (b + x - 1.0) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
    return 1.0 / (1.0 + odds)


def expected_if_alive(model: str, par: dict, x, T, t: float) -> np.ndarray:
    """E[X(T, T + t] | active at T, x, T] per draw and customer, (draws, n), for BG/NBD and MBG/NBD.

    The expected purchases E[X(t) | x, t_x, T] of the papers (pymc-marketing's ``expected_purchases``)
    factor as :func:`p_alive` × this, which does not depend on t_x, so it is computed once per distinct
    (x, T). With z = t/(α + T + t):

    * BG/NBD (Fader, Hardie & Lee 2005, eq. 10): (a + b + x − 1)/(a − 1) ·
      [1 − ((α + T)/(α + T + t))^(r+x) ₂F₁(r + x, b + x; a + b + x − 1; z)];
    * MBG/NBD (Batislam et al. 2007): (a + b + x)/(a − 1) ·
      [1 − ((α + T)/(α + T + t))^(r+x) ₂F₁(r + x, b + x + 1; a + b + x; z)].
    """
    from scipy.special import hyp2f1

    x, T = (np.asarray(v, float)[None, :] for v in (x, T))
    r, alpha, a, b = (_col(par, k) for k in ("r", "alpha", "a", "b"))
    shift = 1.0 if model == "mbg_nbd" else 0.0
    aT = alpha + T
    hyp = hyp2f1(r + x, b + x + shift, a + b + x + shift - 1.0, t / (aT + t))
    return (a + b + x + shift - 1.0) / (a - 1.0) * (1.0 - (aT / (aT + t)) ** (r + x) * hyp)


def expected_spend(spend_par: dict, x, zbar) -> np.ndarray:
    """Gamma-Gamma expected spend per purchase (Fader & Hardie 2013, eq. 5) per draw and customer:
    (1 − w) · v p/(q − 1) + w · z̄ with w = p x/(p x + q − 1) (pymc-marketing's ``expected_customer_spend``)."""
    x, zbar = (np.asarray(v, float)[None, :] for v in (x, zbar))
    p, q, v = (_col(spend_par, k) for k in ("p", "q", "v"))
    w = p * x / (p * x + q - 1.0)
    return (1.0 - w) * (v * p / (q - 1.0)) + w * zbar


def _nb_pmf(k, r, alpha, t):
    from scipy import stats  # here: the runner imports this module for its parameter checks

    return np.exp(stats.nbinom.logpmf(k, r, alpha / (alpha + t)))


def count_pmf(model: str, par: dict, p_alive, x, T, t: float, k) -> np.ndarray:
    """P(X(T, T + t] = k | x, t_x, T) for each customer and draw (formula in the module doc).

    ``p_alive`` (draws, n) is the closed-form probability active at ``T`` (it carries the
    dependence on ``t_x``); ``k`` (n,) the counts whose probability is wanted.
    """
    post = active_posterior(model, par, x, T)
    k = np.asarray(k, float)[None, :]
    r, al = post["r"], post["alpha"]
    if model == "pareto_nbd":
        s, be = post["s"], post["beta"]
        cond = (be / (be + t)) ** s * _nb_pmf(k, r, al, t)
        nodes, weights = np.polynomial.legendre.leggauss(N_NODES)
        for u, w in zip(nodes, weights):
            ll = (u + 1.0) * t / 2.0
            dens = s / (be + ll) * (be / (be + ll)) ** s
            cond = cond + w * t / 2.0 * dens * _nb_pmf(k, r, al, ll)
    else:
        from scipy import stats  # here: the runner imports this module for its parameter checks

        a, b = post["a"], post["b"]
        q = al / (al + t)
        nb = np.exp(stats.nbinom.logpmf(k, r, q))
        sf = stats.nbinom.sf(k, r, q)
        km1 = np.maximum(k - 1.0, 0.0)
        e_surv = np.exp(betaln(a, b + km1) - betaln(a, b))
        e_drop = np.exp(betaln(a + 1.0, b + km1) - betaln(a, b))
        cond = np.where(k == 0, nb, e_surv * nb + e_drop * sf)
    p_alive = np.asarray(p_alive, float)
    return p_alive * cond + (1.0 - p_alive) * (k == 0)


def prob_no_purchase(model: str, par: dict, p_alive, x, T, t: float) -> np.ndarray:
    """P(no purchase in (T, T + t] | history) per draw and customer: :func:`count_pmf` at k = 0.

    Written out (NB(0; l) = (α'/(α' + l))^{r'}) because it is evaluated for every posterior
    draw and customer: (1 − P(alive)) + P(alive) · P(0 | active).
    """
    post = active_posterior(model, par, x, T)
    r, al = post["r"], post["alpha"]
    cond = (al / (al + t)) ** r
    if model == "pareto_nbd":
        s, be = post["s"], post["beta"]
        cond = (be / (be + t)) ** s * cond
        nodes, weights = np.polynomial.legendre.leggauss(N_NODES)
        for u, w in zip(nodes, weights):
            ll = (u + 1.0) * t / 2.0
            cond = cond + w * t / 2.0 * s / (be + ll) * (be / (be + ll)) ** s * (al / (al + ll)) ** r
    p_alive = np.asarray(p_alive, float)
    return 1.0 - p_alive + p_alive * cond


def simulate_counts(model: str, par: dict, p_alive, x, T, t: float, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray]:
    """One simulated number of purchases in (T, T + t] per draw and customer, and the alive indicator.

    Returns ``(counts, alive)``, both (draws, n); ``counts`` is the purchases an *active*
    customer makes (so ``counts * alive`` is the simulated outcome and ``counts * ~alive`` what a
    customer who has left would have bought had they stayed).
    """
    post = active_posterior(model, par, x, T)
    p_alive = np.asarray(p_alive, float)
    shape = np.broadcast(post["r"], p_alive).shape
    alive = rng.random(shape) < p_alive
    lam = rng.gamma(np.broadcast_to(post["r"], shape), 1.0 / np.broadcast_to(post["alpha"], shape))
    with np.errstate(divide="ignore", over="ignore"):
        if model == "pareto_nbd":
            mu = rng.gamma(np.broadcast_to(post["s"], shape), 1.0 / np.broadcast_to(post["beta"], shape))
            life = rng.standard_exponential(shape) / mu
            counts = rng.poisson(lam * np.minimum(t, life))
        else:
            p = rng.beta(np.broadcast_to(post["a"], shape), np.broadcast_to(post["b"], shape))
            p = np.clip(p, 1e-12, 1.0)
            counts = np.minimum(rng.poisson(lam * t), rng.geometric(p))
    return counts.astype(float), alive


def simulate_frequency(model: str, par: dict, T, rng: np.random.Generator) -> np.ndarray:
    """Simulated repeat purchases in (0, T] of new customers, one data set per draw: (draws, n).

    The generative processes, vectorised: purchase rate λ ~ Gamma(r, rate α), purchases a
    Poisson process from the first purchase at time 0. BG/NBD (Fader, Hardie & Lee 2005): after
    each repeat purchase the customer leaves with probability p ~ Beta(a, b), so the count is
    min(N(T), J) with N(T) ~ Poisson(λT) and J ~ Geometric(p) on {1, 2, …}; MBG/NBD (Batislam et
    al. 2007) may also leave right at the first purchase: min(N(T), J − 1); Pareto/NBD
    (Schmittlein et al. 1987): lifetime τ ~ Exponential(μ), μ ~ Gamma(s, rate β), count
    Poisson(λ min(τ, T)). The same processes as pymc-marketing's ``BetaGeoNBD`` /
    ``ModifiedBetaGeoNBD`` / ``ParetoNBD`` random variables, without their per-customer Python loop.
    """
    r, alpha = _col(par, "r"), _col(par, "alpha")
    T = np.asarray(T, float)[None, :]
    shape = np.broadcast(r, T).shape
    lam = rng.gamma(np.broadcast_to(r, shape), 1.0 / np.broadcast_to(alpha, shape))
    with np.errstate(divide="ignore", over="ignore"):
        if model == "pareto_nbd":
            mu = rng.gamma(np.broadcast_to(_col(par, "s"), shape), 1.0 / np.broadcast_to(_col(par, "beta"), shape))
            life = rng.standard_exponential(shape) / mu
            return rng.poisson(lam * np.minimum(T, life)).astype(float)
        p = np.clip(rng.beta(np.broadcast_to(_col(par, "a"), shape), np.broadcast_to(_col(par, "b"), shape)),
                    1e-12, 1.0)
        j = rng.geometric(p) - (1 if model == "mbg_nbd" else 0)
        return np.minimum(rng.poisson(lam * T), j).astype(float)


def simulate_revenue(counts, spend_par: dict | None, x, zbar, own_spend, rng: np.random.Generator) -> np.ndarray:
    """Simulated revenue of ``counts`` purchases per draw and customer.

    With Gamma-Gamma draws ``spend_par`` (p, q, v of shape (draws,)): ν ~ Gamma(p x + q, v + x z̄),
    revenue ~ Gamma(n p, ν) (0 when n = 0). Without a spend model each purchase is worth the
    customer's own mean repeat spend ``own_spend``.
    """
    counts = np.asarray(counts, float)
    if spend_par is None:
        return counts * np.asarray(own_spend, float)[None, :]
    x = np.asarray(x, float)[None, :]
    zbar = np.asarray(zbar, float)[None, :]
    p, q, v = (_col(spend_par, k) for k in ("p", "q", "v"))
    shape = counts.shape
    nu = rng.gamma(np.broadcast_to(p * x + q, shape), 1.0 / np.broadcast_to(v + x * zbar, shape))
    return rng.gamma(counts * np.broadcast_to(p, shape), 1.0) / nu
