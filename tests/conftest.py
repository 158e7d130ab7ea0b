"""Shared fixtures: demo companies, CDNOW files, a CLI runner, one report run on the small demo."""
from __future__ import annotations

import json
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


@pytest.fixture(autouse=True)
def _matplotlib_settings_per_test():
    """``sb.start`` applies the report theme to matplotlib's global settings (titles on the left, ...), as a
    notebook wants; each test gets them back as they were, so no plot test depends on which test ran before it
    in the same worker (``ax.get_title()`` is the centre title: empty once the theme moved titles left)."""
    mpl = sys.modules.get("matplotlib")
    before = {k: v for k, v in mpl.rcParams.items() if k != "backend"} if mpl is not None else None
    yield
    mpl = sys.modules.get("matplotlib")
    if mpl is None:
        return
    if before is None:  # imported during the test: back to matplotlib's own settings (the backend kept)
        before = {k: v for k, v in mpl.rcParamsOrig.items() if k != "backend"}
    dict.update(mpl.rcParams, before)  # as matplotlib's rc_context restores them (no re-validation)


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


class ReportRun(tuple):
    """``(out_dir, results)`` of one ``salesbench run``; ``.proc`` is the finished process (stdout, stderr, returncode).

    ``results`` is ``<name>.results.json`` loaded (``None`` if the report wrote
    none); for several names, ``{name: results or None}``.
    """

    def __new__(cls, out_dir: Path, results, proc):
        run = super().__new__(cls, (out_dir, results))
        run.proc = proc
        return run

    out_dir = property(lambda self: self[0])
    results = property(lambda self: self[1])


def _param_text(value) -> str:
    """A ``-p KEY=VALUE`` value: strings as they are, anything else as JSON (which YAML reads the same)."""
    return value if isinstance(value, str) else json.dumps(value)


@pytest.fixture(scope="session")
def run_report(small_demo, tmp_path_factory):
    """Run report(s) through the CLI (Papermill, as a scheduled run does) and load their results.json.

    ``run_report("funnel", mcmc_draws=150)`` runs on the small demo into a fresh
    temporary folder and returns ``(out_dir, results)`` (a :class:`ReportRun`,
    with ``.proc``). Options: ``data=`` another source, ``out=`` the folder,
    ``args=`` more CLI arguments (``["-j", "2", "-f", file]``), ``params=`` for keys
    that are no Python names (``{"funnel.mcmc_draws": 30}``), ``check=False`` to
    allow a non-zero exit, ``timeout=`` seconds, ``env=``/``cwd=`` for the process.
    """
    def run(name, data=None, *, out=None, args=(), params=None, check=True, timeout=900, env=None, cwd=None,
            **kw) -> ReportRun:
        names = [name] if isinstance(name, str) else list(name)
        out = Path(out) if out is not None else tmp_path_factory.mktemp(f"{names[0]}_run") / "out"
        cli = ["run", *names, "--data", data if data is not None else small_demo, "--out", out, *args]
        for key, value in {**(params or {}), **kw}.items():
            cli += ["-p", f"{key}={_param_text(value)}"]
        proc = _run_cli(*cli, check=check, timeout=timeout, env=env, cwd=cwd)

        def load(n):
            path = out / f"{n}.results.json"
            return json.loads(path.read_text()) if path.exists() else None

        results = load(names[0]) if isinstance(name, str) else {n: load(n) for n in names}
        return ReportRun(out, results, proc)

    return run


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


#: Cheap model settings for the shared Chinese run (those of tests/analyses/test_contract.py; the words of the
#: sections they leave out are checked per analysis in tests/analyses/*/test_*_zh.py)
ZH_CHEAP = {
    "funnel.mcmc_draws": 100, "funnel.mcmc_tune": 100, "funnel.mcmc_chains": 1,
    "churn.fit_method": "map", "churn.early_warning": False, "churn.max_pred_draws": 50,
    "forecasting.dimensions": "[region]", "forecasting.models": "[seasonal_naive,theta]",
    "forecasting.deep_models": "[seasonal_naive]", "forecasting.n_origins": 2, "forecasting.as_of": "2025-09-30",
    "plan.product_lines": False,
}


@pytest.fixture(scope="session")
def zh_run(run_report, tmp_path_factory, request) -> ReportRun:
    """``salesbench run --lang zh-CN`` of all seven reports on the small demo (cheap model settings:
    :data:`ZH_CHEAP`), once per test session: the Chinese report tests and the browser test share it;
    under xdist the workers share one run through a lock in the session's common temporary folder."""
    import fcntl

    from salesbench.report import params as _params

    names = _params.notebook_names()
    base = tmp_path_factory.getbasetemp()
    if hasattr(request.config, "workerinput"):  # an xdist worker: the folder all workers of this session share
        base = base.parent
    out = base / "zh_run" / "out"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(base / "zh_run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "manifest.json").exists():
            run_report(names, out=out, args=["--lang", "zh-CN", "--jobs", "2"], params=ZH_CHEAP)
    results = {n: json.loads((out / f"{n}.results.json").read_text()) for n in names}
    return ReportRun(out, results, None)
