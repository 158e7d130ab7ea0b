"""Compile on import the numba function ArviZ would compile on first use, for the run's kernel zygote.

ArviZ compiles its variance helper (``arviz.stats.stats_utils.stats_variance_1d``, behind R-hat and ESS) with
numba the first time it runs, and does not keep it in numba's disk cache: about 0.3 CPU s in every process that
computes an R-hat. The churn report does so twice, in its kernel and in the early-warning fit's forked child.
Importing this module compiles it once (churn's ``PRELOAD``: the zygote imports it), and every kernel forked
from the zygote, and every child forked from such a kernel, inherits the machine code. Where ArviZ keeps
this helper elsewhere (another version), importing this module does nothing.
"""
from __future__ import annotations

import numpy as np


def compile_arviz_helpers() -> bool:
    """Compile ArviZ's lazily-jitted variance helper for the arguments R-hat and ESS pass; False when not found."""
    try:
        from arviz.stats.stats_utils import stats_variance_1d
    except ImportError:
        return False
    try:
        stats_variance_1d(np.zeros(2), 0)  # float64 array, int ddof: the signature arviz.rhat / arviz.ess use
    except Exception:  # noqa: BLE001 - a warm-up only: the first R-hat compiles it as it always did
        return False
    return True


COMPILED = compile_arviz_helpers()
