"""``salesbench warm``: compile the reports' PyTensor models once, so the first ``salesbench run`` does not.

Since issue #13's numpy engine the default churn fits compile nothing either: the BG/NBD, MBG/NBD,
Gamma-Gamma and early-warning models are numpy densities sampled by nutpie (:mod:`salesbench.core.nuts`),
so this step now takes seconds and fills no cache for them. What still compiles is what a parameter
chooses: ``model: auto`` / ``pareto_nbd`` (Pareto/NBD through pymc-marketing), ``fit_method: advi`` and the
``pymc`` engines; warming those was measured at 74 s on the small demo (the Pareto/NBD fits themselves, not
the compiling), too slow for every set-up, so they compile on their first use.

PyTensor compiles every model graph into C the first time it meets it and keeps
the compiled modules in its cache folder (``pytensor.config.compiledir``, under
``~/.pytensor``; ``PYTENSOR_FLAGS=compiledir=...`` moves it). The cache is keyed by
the graph's operations and types, not by array sizes, so fitting the models once
on a small demo company with a few draws compiles what the reports' fits need. On a
cold cache the churn models spent most of a first run's compiling (issue #13).
``make setup`` runs this step after installing; it is safe to run again (a warm
cache makes it quick) and on any machine.

Models compiled: churn's purchase, spend and early-warning models
(:class:`~salesbench.analyses.churn.model.Churn` with its report's default model and fit
method), each fitted with ``WARM_DRAWS`` draws. The funnel's pooled win rates
(:func:`salesbench.analyses.funnel.bayes.pooled_win_rates`) are computed by quadrature by
default and compile nothing; its step runs that fit once (under a second) so that an analysis
importing PyMC is never left out (``tests/report/test_warm.py``); ``method="nuts"`` is not warmed.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Callable

#: NUTS draws and tuning steps per chain of the warm-up fits (enough to build every graph the sampler uses).
WARM_DRAWS = 20


def _funnel(ds):
    from salesbench.analyses.funnel.model import Funnel

    Funnel(mcmc_draws=WARM_DRAWS, mcmc_tune=WARM_DRAWS).fit(ds)


def _churn(ds):
    from salesbench.analyses.churn.model import Churn

    Churn(draws=WARM_DRAWS, tune=WARM_DRAWS, max_pred_draws=WARM_DRAWS).fit(ds)


#: step name -> what it fits (on the opened data)
STEPS: dict[str, Callable] = {"funnel": _funnel, "churn": _churn}


#: The data the warm-up fits use by default: a small demo company. The compiled modules depend on the graphs,
#: not on array sizes, so it compiles what the full reports need (measured: cold cache, 2 cores, 77 s
#: against 285 s on the default demo).
WARM_DATA = "demo:seed=1,customers=600"


def warm(data: str = WARM_DATA, say: Callable[[str], None] = print) -> dict[str, float]:
    """Fit every PyTensor model of the reports once on ``data``; returns seconds per step (``open`` included).

    Raises what opening the data or a fit raises (the caller reports it).
    """
    import logging
    import warnings

    from salesbench.io.sources import open_data

    seconds: dict[str, float] = {}
    t0 = time.monotonic()
    ds = open_data(data)
    seconds["open"] = time.monotonic() - t0
    logging.getLogger("pymc").setLevel(logging.ERROR)
    for name, step in STEPS.items():
        t0 = time.monotonic()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            step(ds)
        seconds[name] = time.monotonic() - t0
        say(f"salesbench warm: {name} models compiled ({seconds[name]:.1f} s)")
    return seconds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``salesbench warm``."""
    parser.add_argument("--data", metavar="SRC", default=WARM_DATA,
                        help=f"data the warm-up fits use (default: {WARM_DATA}, generated on first use)")


def main(args: argparse.Namespace) -> int:
    """``salesbench warm``: 0 when every model compiled, 2 when the data cannot be opened, 1 when a fit failed."""
    from salesbench.core.errors import DataError

    try:
        warm(args.data, say=lambda line: print(line, flush=True))
    except DataError as exc:
        print(f"salesbench warm: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a failed warm-up only costs the first run time; say what failed
        print(f"salesbench warm: error: a warm-up fit failed ({type(exc).__name__}: {exc}); "
              f"reports still run, compiling on first use", file=sys.stderr)
        return 1
    return 0
