"""salesbench.core.jit: importing it leaves ArviZ's lazily-jitted R-hat helper compiled (issue #13), so that kernels
forked from the run's zygote, and the children they fork, do not compile it again."""
from __future__ import annotations

import os

import numpy as np
import pytest


def test_import_compiles_arvizs_variance_helper_for_forked_children():
    import arviz as az
    from arviz.stats.stats_utils import stats_variance_1d

    from salesbench.core import jit

    assert jit.COMPILED and jit.compile_arviz_helpers()
    compiled = stats_variance_1d.numba_fn.overloads  # the machine code, per signature
    assert len(compiled) == 1
    draws = np.random.default_rng(0).normal(size=(2, 200))
    r_hat = float(az.rhat(draws))
    assert 0.98 < r_hat < 1.02 and len(stats_variance_1d.numba_fn.overloads) == 1  # R-hat used that one, no other
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a forked kernel: the helper is there already
        os.close(read)
        os.write(write, str(len(stats_variance_1d.numba_fn.overloads)).encode())
        os._exit(0)
    os.close(write)
    assert os.read(read, 10) == b"1"
    os.waitpid(pid, 0)
    assert stats_variance_1d(np.array([1.0, 2.0, 3.0, 4.0]), 0) == pytest.approx(1.25)
