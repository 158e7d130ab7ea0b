"""The one shape every analysis has, in the manner of scikit-learn estimators.

::

    class Funnel(Analysis):
        name = "funnel"                      # params/funnel.yaml, notebooks/funnel.ipynb

        def __init__(self, stages=(...), mature_days=90, ...):   # the keys of params/funnel.yaml
            self.stages = stages                                  # stored as given, nothing else
            self.mature_days = mature_days

        def fit(self, ds):                   # all the work; learned attributes end in "_"
            self.conversion_ = ...
            return self

        def results(self):                   # plain JSON for <name>.results.json
            return {...}

    F = Funnel.from_params(P).fit(ds)         # P: validated parameters (salesbench.report.params)

Rules (checked for every analysis by ``tests/analyses/test_contract.py``):

- ``__init__`` takes exactly the keys of ``params/<name>.yaml`` except ``data``
  and ``out_dir``, with the same defaults, and only stores them under the same
  names; validation happens in :meth:`check_params` (before any kernel starts)
  and in ``fit``.
- ``fit(ds)`` takes a :class:`salesbench.core.dataset.Dataset`, returns ``self``
  and sets only attributes whose names end in ``_``. A data set that cannot
  support the report raises :class:`salesbench.core.errors.ReportSkipped`.
- ``results()`` returns what ``fit`` learned as JSON-serialisable values.
- The analysis' ``report.py`` holds ``headline_cards(model)``,
  ``sentences(model)``, ``publish(model, res)`` and ``*_view(model)`` tables;
  its ``plots.py`` holds ``plot_<thing>(frame, *, ax=None) -> Axes``.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, ClassVar, Mapping, Sequence

from salesbench.core.errors import CheckError

#: parameters every notebook has that belong to the run, not to the analysis
RUN_KEYS = ("data", "out_dir", "lang")


class Analysis:
    """Base class: parameters in ``__init__``, ``fit(ds) -> self``, learned attributes ending in ``_``."""

    #: the notebook / params file name (``params/<name>.yaml``, whose ``_requires`` lists the tables it needs)
    name: ClassVar[str] = ""

    # -- parameters ---------------------------------------------------------------
    @classmethod
    def param_names(cls) -> list[str]:
        """The keyword parameters of ``__init__``, in order."""
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

    @classmethod
    def from_params(cls, params: Mapping[str, Any]):
        """Build the analysis from validated notebook parameters (``P``); run keys such as ``data`` are ignored."""
        return cls(**{k: params[k] for k in cls.param_names() if k in params})

    def get_params(self) -> dict[str, Any]:
        """The parameters as given to ``__init__`` (scikit-learn's ``get_params``)."""
        return {k: getattr(self, k) for k in self.param_names()}

    @classmethod
    def check_params(cls, values: Mapping[str, Any]) -> None:
        """Rules across parameters, checked before any kernel starts; raise :class:`~salesbench.core.errors.CheckError`.

        ``values`` are the validated parameters of one run (types already
        checked). The default accepts everything.
        """

    @classmethod
    def check_data(cls, values: Mapping[str, Any], ds) -> None:
        """Rules between the parameters and the data, checked before any kernel starts; raise ``CheckError(key, ...)``.

        The runner (:func:`salesbench.report.plan.open_sources`) calls it once per
        parameter set, with the opened data source ``ds`` (a
        :class:`~salesbench.core.dataset.Dataset`), after ``check_params`` and only
        when the ``_requires`` tables are present and not empty; the class is the
        one that ``_check`` in ``params/<name>.yaml`` names. A :class:`CheckError`
        becomes exit status 2 naming the key and the data source, with nothing
        written. Keep it cheap (a maximum, a column present): it runs before
        every run of the notebook. The default accepts everything.
        """

    # -- learning -----------------------------------------------------------------
    def fit(self, ds) -> "Analysis":  # pragma: no cover - every analysis defines it
        raise NotImplementedError

    def results(self) -> dict[str, Any]:  # pragma: no cover - every analysis defines it
        raise NotImplementedError

    @property
    def is_fitted(self) -> bool:
        return any(k.endswith("_") and not k.startswith("_") for k in vars(self))

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.get_params().items()
                   if inspect.signature(type(self).__init__).parameters[k].default != v}
        inner = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        return f"{type(self).__name__}({inner})"


# --------------------------------------------------------------------------- helpers for check_params
def one_of(values: Mapping[str, Any], key: str, allowed: Sequence[str]) -> None:
    """``values[key]`` must be one of ``allowed``."""
    if values[key] not in allowed:
        raise CheckError(key, f"must be one of {', '.join(map(str, allowed))}, not {values[key]!r}")


def all_of(values: Mapping[str, Any], key: str, allowed: Sequence[str], what: str) -> None:
    """Every item of ``values[key]`` must be one of ``allowed`` (``what`` names an item in the message)."""
    unknown = [v for v in values[key] if v not in allowed]
    if unknown:
        raise CheckError(key, f"unknown {what} {', '.join(map(repr, unknown))}; choose from {', '.join(allowed)}")


def check_with(key: str, fn: Callable, *args, **kwargs) -> None:
    """Run one of the analysis' own validators; its ``ValueError`` becomes a :class:`CheckError` for ``key``."""
    try:
        fn(*args, **kwargs)
    except ValueError as exc:
        raise CheckError(key, str(exc)) from None


def number(key: str, value: Any) -> float:
    """``value`` as a float; anything else (including booleans) is a :class:`CheckError` for ``key``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CheckError(key, f"expected a number, got {value!r}")
    return float(value)
