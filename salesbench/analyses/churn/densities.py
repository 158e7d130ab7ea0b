"""The purchase and spend models' log-densities in numpy, with their exact gradient.

The same joint densities as the PyMC models of :func:`salesbench.analyses.churn.clv.sufficient_model`
(pymc-marketing's priors and likelihoods on sufficient statistics), written for
:mod:`salesbench.core.nuts`: NUTS through nutpie and MAP through scipy without PyTensor. A test checks
the values against the PyMC model's ``compile_logp`` and the gradients against finite differences
(tests/analyses/churn/test_churn_densities.py).

**Likelihood.** The Γ-function terms depend on a customer only through the integer frequency x. With
S_c(m) = Σ_{j<m} ln(c + j) = ln Γ(c + m) − ln Γ(c), the terms of the papers'
ln Γ(r+x) − ln Γ(r) + ln B(a, b+x+s) − ln B(a, b) (s = 1 for MBG/NBD, 0 for BG/NBD) are
S_r(x) + S_b(x+s) − S_{a+b}(x+s), and Σ over customers of S_c(x + s) = Σ_j ln(c + j) · #{customers with
x + s > j}: one dot product over j = 0 … max x, with no special function at all (the digamma terms of
the gradient become Σ_j #{…}/(c + j)). Per distinct (x, t_x, T) row with n customers, with
L_T = ln(α + T), L_t = ln(α + t_x):

* MBG/NBD: n · [r ln α − (r + x) L_T + softplus(ln a − ln(b + x) + (r + x)(L_T − L_t))];
* BG/NBD: the same with ln(b + x − 1) and the softplus only for x > 0;
* Gamma-Gamma (rows x, z̄): Σ_rows n · [ln Γ(p x + q) − ln Γ(p x) + p x ln(x z̄) − (p x + q) ln(x z̄ + v)]
  − N (ln Γ(q) − q ln v), the Γ terms once per distinct x with scipy's ``gammaln`` (p x is not an integer),
  minus the constant Σ n ln z̄ (the density of the spends, as in :func:`sufficient_model`).

**Priors** (pymc-marketing 0.19's defaults, ``priors="default"``): α ~ Weibull(2, 10), r ~ Weibull(2, 1),
a = φκ, b = (1 − φ)κ with φ ~ Uniform(0, 1), κ ~ Pareto(α=1, m=1); ``flat``: HalfFlat on r, α, a, b.
Gamma-Gamma: HalfFlat on p, q, v. **Unconstrained θ**: log of the positive parameters, logit φ,
log(κ − 1).
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import digamma, expit, gammaln

from salesbench.core.nuts import Density

#: purchase models with a numpy density here (Pareto/NBD keeps PyMC)
MODELS: tuple[str, ...] = ("bg_nbd", "mbg_nbd")
PRIORS: tuple[str, ...] = ("default", "flat")
_LOG_WEIBULL_A = np.log(2.0 / 10.0)  # ln(k/λ) of Weibull(2, 10)
_LOG2 = np.log(2.0)


def _softplus_sigmoid(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """softplus(z) = ln(1 + e^z) and its derivative σ(z), without overflow."""
    e = np.exp(-np.abs(z))
    sp = np.maximum(z, 0.0) + np.log1p(e)
    sg = np.where(z >= 0, 1.0, e) / (1.0 + e)
    return sp, sg


def _at_least(x: np.ndarray, counts: np.ndarray, shift: int) -> np.ndarray:
    """G[j] = customers with x + shift > j, for j = 0 … max x + shift − 1."""
    top = int(x.max()) + shift if len(x) else 0
    hist = np.bincount((x + shift).astype(int), weights=counts, minlength=top + 1)
    return (hist[::-1].cumsum()[::-1])[1:top + 1]  # G[j] = Σ_{m > j} hist[m]


class _PurchaseData:
    """Sufficient statistics of a BG/NBD or MBG/NBD fit: the frequency tallies, the distinct ages T and
    recencies t_x (a log over each distinct value, gathered per row) and the rows of the softplus term."""

    def __init__(self, model: str, x, t_x, T, counts):
        x, t_x, T, n = (np.asarray(v, float) for v in (x, t_x, T, counts))
        if np.any(x != np.round(x)) or np.any(x < 0):
            raise ValueError("frequency must be a whole number of repeat purchases")
        shift = 1 if model == "mbg_nbd" else 0
        self.N = float(n.sum())
        self.j = np.arange(int(x.max()) + shift + 1 if len(x) else 1, dtype=float)
        self.G_r = _at_least(x, n, 0)  # S_r(x)
        self.G_b = _at_least(x, n, shift)  # S_b(x + s) and S_{a+b}(x + s)
        # −Σ n (r + x) ln(α + T) = −Σ_T (r N_T + X_T) ln(α + T) over the distinct ages
        self.T_u, T_i = np.unique(T, return_inverse=True)
        self.N_T = np.bincount(T_i, weights=n, minlength=len(self.T_u))
        self.X_T = np.bincount(T_i, weights=n * x, minlength=len(self.T_u))
        keep = x > 0 if model == "bg_nbd" else np.ones(len(x), bool)  # BG/NBD: softplus for repeat buyers only
        self.t_u, t_i = np.unique(t_x[keep], return_inverse=True)
        self.iT, self.it = np.asarray(T_i)[keep], np.asarray(t_i).ravel()
        self.sx, self.sn = x[keep], n[keep]
        self.sidx = (x[keep] - (1 - shift)).astype(int)  # ln(b + x) for MBG/NBD, ln(b + x − 1) for BG/NBD
        self.mean_x = float(n @ x) / max(self.N, 1.0)
        self.mean_T = float(n @ T) / max(self.N, 1.0)


def _purchase_loglik(d: _PurchaseData, r, alpha, a, b):
    """Log-likelihood and its gradient in (r, α, a, b)."""
    j = d.j
    lr, lb, lab = r + j[:len(d.G_r)], b + j[:len(d.G_b)], a + b + j[:len(d.G_b)]
    log_b = np.log(b + j)
    ll = d.G_r @ np.log(lr) + d.G_b @ (log_b[:len(d.G_b)] - np.log(lab))
    iab = 1.0 / lab
    dr = d.G_r @ (1.0 / lr)
    da = -(d.G_b @ iab)
    db = d.G_b @ (1.0 / lb - iab)
    # r ln α − (r + x) ln(α + T), on the distinct ages
    aT = alpha + d.T_u
    LT, iT = np.log(aT), 1.0 / aT
    w_T = r * d.N_T + d.X_T
    log_alpha = math.log(alpha)
    ll += d.N * r * log_alpha - w_T @ LT
    dr += d.N * log_alpha - d.N_T @ LT
    dalpha = d.N * r / alpha - w_T @ iT
    # softplus(z), z = ln a − ln(b + x') + (r + x)(L_T − L_t), per row
    if len(d.sx):
        at = alpha + d.t_u
        D = LT[d.iT] - np.log(at)[d.it]
        rx = r + d.sx
        z = (math.log(a) - log_b[d.sidx]) + rx * D
        e = np.exp(-np.abs(z))
        sp = np.maximum(z, 0.0) + np.log1p(e)
        w = d.sn * np.exp(z - sp)  # n σ(z)
        ll += d.sn @ sp
        dr += w @ D
        dalpha += (w * rx) @ (iT[d.iT] - (1.0 / at)[d.it])
        ws = w.sum()
        da += ws / a
        db -= w @ (1.0 / (b + j))[d.sidx]
    return ll, dr, dalpha, da, db


def purchase_density(model: str, x, t_x, T, counts, priors: str = "default") -> Density:
    """The posterior density of a BG/NBD or MBG/NBD model on distinct rows (x, t_x, T) with ``counts``
    customers each. Parameters (expanded): ``alpha, r, a, b`` and, with the default priors,
    ``phi_dropout, kappa_dropout`` (pymc-marketing's names)."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, not {model!r}")
    if priors not in PRIORS:
        raise ValueError(f"priors must be one of {', '.join(PRIORS)}, not {priors!r}")
    d = _PurchaseData(model, x, t_x, T, counts)
    rate_alpha = np.log(max(d.mean_T / max(d.mean_x, 0.1), 0.5))  # α from the purchase rate

    if priors == "default":
        def unpack(th):
            alpha, r, ek = math.exp(th[0]), math.exp(th[1]), math.exp(th[3])
            phi = float(expit(th[2]))
            return alpha, r, phi, 1.0 + ek, ek

        def logp(th, jacobian=True):
            alpha, r, phi, kappa, ek = unpack(th)
            a, b = phi * kappa, (1.0 - phi) * kappa
            ll, dr, dal, da, db = _purchase_loglik(d, r, alpha, a, b)
            u_al, u_r = alpha / 10.0, r
            lp = (_LOG_WEIBULL_A + math.log(u_al) - u_al * u_al + _LOG2 + math.log(u_r) - u_r * u_r
                  - 2.0 * math.log(kappa))
            dphi, dkap = kappa * (da - db), phi * da + (1.0 - phi) * db
            g = np.array([(dal + 1.0 / alpha - 2.0 * alpha / 100.0) * alpha,
                          (dr + 1.0 / r - 2.0 * r) * r,
                          dphi * phi * (1.0 - phi),
                          (dkap - 2.0 / kappa) * ek])
            if jacobian:  # θ = (ln α, ln r, logit φ, ln(κ − 1))
                lp += th[0] + th[1] + math.log(phi) + math.log1p(-phi) + th[3]
                g += np.array([1.0, 1.0, 1.0 - 2.0 * phi, 1.0])
            return ll + lp, g

        def expand(th):
            alpha, r, phi, kappa, _ = unpack(th)
            return {"alpha": alpha, "r": r, "phi_dropout": phi, "kappa_dropout": kappa, "a": phi * kappa,
                    "b": (1.0 - phi) * kappa}

        start = np.array([rate_alpha, 0.0, np.log(0.25), 0.0])  # r = 1, a : b = 1 : 4
        shapes = {k: () for k in ("alpha", "r", "phi_dropout", "kappa_dropout", "a", "b")}
    else:
        def logp(th, jacobian=True):
            alpha, r, a, b = (math.exp(t) for t in th)
            ll, dr, dal, da, db = _purchase_loglik(d, r, alpha, a, b)
            g = np.array([dal * alpha, dr * r, da * a, db * b])
            if jacobian:
                return ll + th.sum(), g + 1.0
            return ll, g

        def expand(th):
            alpha, r, a, b = np.exp(th)
            return {"alpha": alpha, "r": r, "a": a, "b": b}

        start = np.array([rate_alpha, 0.0, 0.0, np.log(4.0)])
        shapes = {k: () for k in ("alpha", "r", "a", "b")}
    return Density(logp=logp, expand=expand, start=start, shapes=shapes)


def spend_density(x, zbar, counts=None) -> Density:
    """The Gamma-Gamma posterior density (HalfFlat p, q, v) on repeat buyers' frequency x and mean spend z̄
    (``counts`` customers per row, default 1). The Γ terms are evaluated once per distinct x."""
    x, z = np.asarray(x, float), np.asarray(zbar, float)
    n = np.ones_like(x) if counts is None else np.asarray(counts, float)
    if np.any(x <= 0) or np.any(z <= 0):
        raise ValueError("the spend model needs repeat buyers (frequency > 0) with positive mean spend")
    ux, ix = np.unique(x, return_inverse=True)
    cx = np.bincount(np.asarray(ix).ravel(), weights=n, minlength=len(ux))
    N, xz = n.sum(), x * z
    nx_lxz = (n * x) @ np.log(xz)
    const = n @ np.log(z)
    cux = cx * ux

    def logp(th, jacobian=True):
        p, q, v = np.exp(th)
        pu = p * ux
        L, inv = np.log(xz + v), 1.0 / (xz + v)
        px_q = p * x + q
        ll = (cx @ (gammaln(pu + q) - gammaln(pu)) - N * (gammaln(q) - q * np.log(v)) + p * nx_lxz
              - n @ (px_q * L) - const)
        dpq = digamma(pu + q)
        nL = n * L
        dp = cux @ (dpq - digamma(pu)) + nx_lxz - nL @ x
        dq = cx @ dpq - N * digamma(q) + N * np.log(v) - nL.sum()
        dv = N * q / v - (n * px_q) @ inv
        g = np.array([dp * p, dq * q, dv * v])
        if jacobian:
            return ll + th.sum(), g + 1.0
        return ll, g

    def expand(th):
        p, q, v = np.exp(th)
        return {"p": p, "q": q, "v": v}

    # start at p = 2, q = 3 and v from the mean spend p v/(q − 1)
    start = np.array([np.log(2.0), np.log(3.0), np.log(max(float(np.average(z, weights=n)), 1e-3))])
    return Density(logp=logp, expand=expand, start=start, shapes={"p": (), "q": (), "v": ()})
