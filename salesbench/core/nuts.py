"""Posteriors of small models written in numpy: NUTS through nutpie, MAP through scipy.

The churn report's models have 3–5 population parameters (the purchase and spend models) or a
few dozen (the early-warning model), and their log-densities are a few array expressions on
sufficient statistics. Written in numpy with their gradient they need no PyTensor graph, no C
compilation, no compile cache to load and no worker processes, which is what most of a PyMC
fit of these models cost (docs/churn.md, "Speed"). The sampler is nutpie's NUTS (Rust, by the PyMC
developers), which calls the numpy function for each gradient; PyMC stays the reference
implementation the tests compare against.

A model is a :class:`Density`: ``logp(θ, jacobian)`` on an unconstrained vector θ returns the log
density and its gradient; ``expand(θ)`` names the constrained parameters. ``jacobian=True`` is the
density NUTS samples (the change-of-variables term included); ``jacobian=False`` is the density of
the constrained parameters themselves, whose maximum is PyMC's ``find_MAP`` (which also drops the
Jacobian), so :func:`find_map` returns the same point as a PyMC MAP fit of the same model.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

#: jitter of the chains' starting points around :attr:`Density.start` (uniform, unconstrained scale)
JITTER = 0.5


@dataclass
class Density:
    """A log-density on an unconstrained vector and how to read its parameters.

    ``logp(theta, jacobian)`` → ``(log density, gradient)``; ``expand(theta)`` → ``{name: value}``
    (constrained parameters, scalars or arrays of ``shapes[name]``); ``start`` a starting point;
    ``dims`` / ``coords``: named dimensions of array parameters (as in ArviZ).
    """

    logp: Callable[[np.ndarray, bool], tuple[float, np.ndarray]]
    expand: Callable[[np.ndarray], dict[str, np.ndarray]]
    start: np.ndarray
    shapes: dict[str, tuple[int, ...]]
    dims: dict[str, tuple[str, ...]] = field(default_factory=dict)
    coords: dict[str, list] = field(default_factory=dict)

    @property
    def n_dim(self) -> int:
        return len(self.start)


def available() -> bool:
    """Whether nutpie is installed (the callers fall back to PyMC without it)."""
    return importlib.util.find_spec("nutpie") is not None


def find_map(density: Density, start: np.ndarray | None = None) -> np.ndarray:
    """The unconstrained θ that maximises ``density.logp(θ, jacobian=False)`` (L-BFGS-B with the exact
    gradient, as PyMC's ``find_MAP``). Raises ``RuntimeError`` when the optimiser ends on a non-finite value."""
    from scipy.optimize import minimize

    def neg(theta):
        v, g = density.logp(theta, False)
        if not np.isfinite(v):
            return np.inf, np.zeros_like(theta)
        return -v, -g

    x0 = density.start if start is None else start
    res = minimize(neg, x0, jac=True, method="L-BFGS-B", options={"maxiter": 5000, "gtol": 1e-9, "ftol": 1e-14})
    if not np.isfinite(res.fun):
        raise RuntimeError(f"MAP optimisation failed: {res.message}")
    return res.x


def map_idata(density: Density, theta: np.ndarray):
    """An ArviZ InferenceData whose posterior is the single point ``theta`` (chain 0, draw 0), as
    pymc-marketing's MAP fits give."""
    import arviz as az

    point = density.expand(theta)
    return az.from_dict(posterior={k: np.asarray(v, float)[None, None, ...] for k, v in point.items()},
                        dims=density.dims, coords=density.coords)


def sample(density: Density, draws: int = 1000, tune: int = 1000, chains: int = 2, seed: int = 42,
           target_accept: float = 0.8, cores: int = 1, dense: bool = True, grad_based: bool = True):
    """NUTS draws of ``density`` (nutpie): an ArviZ InferenceData with ``posterior`` (the expanded
    parameters) and ``sample_stats`` (``diverging``, ``n_steps``, …).

    Chains start at ``density.start`` jittered uniformly by ±:data:`JITTER` (seeded by ``seed`` and the
    chain). ``dense`` adapts nutpie's low-rank-modified mass matrix, which undoes the strong correlations
    of the purchase models' parameters (r with α); without it a diagonal mass matrix. ``cores`` chains run at
    once, as threads of this process; the Python log-density holds the GIL, so more than one only adds
    contention (MBG/NBD on the demo: 5.2 s one after the other, 8.8 s as two threads). ``grad_based``: nutpie's
    mass-matrix estimate from draw and gradient variances; False adapts it from the draws alone (as PyMC and
    Stan do), which mixed the early-warning model's hierarchical scales better (docs/churn.md). Only with
    ``dense=False`` (nutpie's low-rank estimate is always gradient-based).
    """
    import nutpie
    from nutpie.compiled_pyfunc import from_pyfunc

    names = list(density.shapes)

    def make_logp_fn():
        def logp(theta, **_):
            v, g = density.logp(theta, True)
            return float(v), np.ascontiguousarray(g, dtype=float)
        return logp

    def make_expand_fn(*_seeds):
        def expand(theta, **_):
            return {k: np.asarray(v, dtype=float).reshape(density.shapes[k])
                    for k, v in density.expand(theta).items()}
        return expand

    def initial(chain_seed):
        rng = np.random.default_rng([seed, int(chain_seed) % (2 ** 32)])
        return density.start + rng.uniform(-JITTER, JITTER, density.n_dim)

    model = from_pyfunc(density.n_dim, make_logp_fn, make_expand_fn, [np.dtype("float64")] * len(names),
                        [density.shapes[k] for k in names], names, coords=density.coords, dims=density.dims,
                        make_initial_point_fn=initial)
    extra = {} if dense else {"use_grad_based_mass_matrix": grad_based}  # the low-rank estimate is gradient-based
    return nutpie.sample(model, draws=draws, tune=tune, chains=chains, cores=cores, seed=seed,
                         progress_bar=False, target_accept=target_accept, low_rank_modified_mass_matrix=dense,
                         save_warmup=False, **extra)
