"""One contract for all analyses, in the manner of scikit-learn's ``estimator_checks``.

For every notebook in :data:`salesbench.analyses.ANALYSES`: the defaults declared
in ``params/<name>.yaml`` are the class defaults; ``__init__`` only stores its
parameters; ``fit`` returns ``self`` and adds only attributes ending in ``_``;
``results()`` is plain JSON; ``report.publish`` writes ``<name>.results.json``;
every ``plot_*`` in the analysis' ``plots.py`` draws on the axes it is given
and returns them (inputs from ``report.figure_inputs(model)``).
"""
from __future__ import annotations

import inspect
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from salesbench import analyses  # noqa: E402
from salesbench.analyses.base import RUN_KEYS, Analysis  # noqa: E402
from salesbench.io.sources import open_data  # noqa: E402
from salesbench.report import params  # noqa: E402
from salesbench.report.results import Results  # noqa: E402

NAMES = sorted(analyses.ANALYSES)

#: cheaper settings for the fit on the small demo (same code paths, fewer draws / origins)
FAST = {
    "churn": {"fit_method": "map", "early_warning": False, "max_pred_draws": 50},
    "funnel": {"mcmc_draws": 100, "mcmc_tune": 100, "mcmc_chains": 1},
    "forecasting": {"n_origins": 2, "models": ["seasonal_naive", "theta"], "deep_models": ["seasonal_naive"]},
    "plan": {"product_lines": False},   # the product-line forecast is covered by tests/analyses/plan
}


@pytest.mark.parametrize("name", NAMES)
def test_declared_defaults_are_the_class_defaults(name):
    cls = analyses.get(name)
    assert issubclass(cls, Analysis) and cls.name == name
    declared = {k: v for k, v in params.defaults(name).items() if k not in RUN_KEYS}
    sig = inspect.signature(cls.__init__)
    init = {k: p.default for k, p in sig.parameters.items() if k != "self"}
    assert list(init) == cls.param_names(), "__init__ takes keyword parameters only (no *args/**kwargs)"
    assert sorted(init) == sorted(declared), f"params/{name}.yaml keys and {cls.__name__}.__init__ differ"
    for key, value in declared.items():
        default = init[key]
        assert params.to_plain(default) == params.to_plain(value), f"{name}.{key}: yaml {value!r} != class {default!r}"


@pytest.mark.parametrize("name", NAMES)
def test_init_only_stores_parameters(name):
    cls = analyses.get(name)
    model = cls.from_params(params.defaults(name))
    assert sorted(vars(model)) == sorted(cls.param_names())
    assert model.get_params() == {k: params.defaults(name)[k] for k in cls.param_names()}


@pytest.fixture(scope="module")
def small_ds(small_demo):
    return open_data(small_demo)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_fit_publish_and_plots(name, small_ds, tmp_path):
    cls = analyses.get(name)
    values = params.validate(name, FAST.get(name, {})).as_dict()
    model = cls.from_params(values)
    before = set(vars(model))
    assert model.fit(small_ds) is model
    learned = set(vars(model)) - before
    assert learned and all(k.endswith("_") for k in learned), sorted(learned)

    out = model.results()
    json.dumps(out, allow_nan=False)  # plain JSON, no NaN

    report = analyses.report_module(name)
    res = Results(name, tmp_path)
    report.publish(model, res)
    written = json.loads((tmp_path / f"{name}.results.json").read_text())
    assert written["status"] == "ok"

    plots = __import__(f"salesbench.analyses.{name}.plots", fromlist=["plots"])
    plot_fns = {k: f for k, f in vars(plots).items()
                if k.startswith("plot_") and callable(f) and getattr(f, "__module__", "") == plots.__name__}
    inputs = report.figure_inputs(model)
    assert set(plot_fns) <= set(inputs), f"no figure_inputs for {sorted(set(plot_fns) - set(inputs))}"
    for fn_name, (args, kwargs) in inputs.items():
        fig, ax = plt.subplots()
        try:
            assert plot_fns[fn_name](*args, ax=ax, **kwargs) is ax, f"{name}.plots.{fn_name} did not return its ax"
        finally:
            plt.close(fig)
