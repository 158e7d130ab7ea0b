"""Shared fixtures: demo companies, CDNOW files, a CLI runner."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Many small model fits: one BLAS thread each is much faster than oversubscription.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> Path:
    """A small demo company (seed 1, 600 customers) in a temporary folder."""
    from salesbench.datasets.demo import generate

    out = tmp_path_factory.mktemp("small_demo")
    generate(out, seed=1, customers=600)
    return out


@pytest.fixture(scope="session")
def default_demo() -> Path:
    """The default demo company (seed 0, default size), generated once into the cache."""
    from salesbench.datasets.demo import ensure_demo

    return ensure_demo()


@pytest.fixture(scope="session")
def cdnow_sample() -> Path:
    from salesbench.datasets.public import cdnow_path

    return cdnow_path("sample")


@pytest.fixture(scope="session")
def cdnow_master() -> Path:
    from salesbench.datasets.public import cdnow_path

    return cdnow_path("master")


def _run_cli(*args: str, check: bool = False, timeout: float = 900, env: dict | None = None, cwd: Path | None = None):
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "salesbench", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd or ROOT,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"salesbench {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def run_cli():
    """``run_cli("run", "funnel", "--data", path, check=True)`` → CompletedProcess."""
    return _run_cli


@pytest.fixture(scope="session")
def pg_server():
    """A throw-away PostgreSQL server on 127.0.0.1 (see ``tests/pgserver.py``), removed at the end.

    Skipped when PostgreSQL or psycopg is not installed, except when ``CI`` is set: then it fails.
    """
    import pgserver

    server = pgserver.start_or_skip()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_demo(pg_server, small_demo) -> str:
    """The small demo company (``small_demo``) in database ``sales`` of ``pg_server`` with canonical
    column types; returns the URL for the password-authenticated, read-only test user."""
    import pgserver

    from salesbench.io.sources import open_data

    pgserver.load_dataset(pg_server, "sales", open_data(small_demo))
    return pg_server.url("sales", pgserver.USER, pgserver.PASSWORD)
