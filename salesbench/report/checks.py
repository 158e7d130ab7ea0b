"""Pre-kernel parameter checks: the ``_check`` hooks named in ``params/<name>.yaml``.

Each function takes one notebook's validated parameter values (a dict, types
already checked by :mod:`salesbench.report.params`) and raises
:class:`salesbench.report.params.CheckError` naming the offending key when the values
can never give a report — rules that span keys or choices from a fixed list.
The runner calls them before any kernel starts, so the mistake costs an exit
status 2 and one line naming the file (or ``-p``) and the key, not a failed
report after the kernel has loaded the data.

Every rule here is one the analysis code also enforces inside the kernel (for
notebooks run by hand); where that code has a function or a list of allowed
values, the check calls or reads it, so the two cannot drift apart. Checks that
need the data (an unknown region, too little history) stay in the kernel.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from salesbench.analyses.base import all_of as _all_of, check_with as _call, number as _number, one_of as _one_of  # noqa: F401
from salesbench.core.errors import CheckError


# --------------------------------------------------------------------------- notebooks


#: Which key a :class:`salesbench.analyses.performance.model.ReviewConfig` message is about, by its first words.
_PERFORMANCE_KEYS = (("score weight", "weights"), ("unknown KPI", "weights"), ("warning line", "warning_lines"),
                     ("unknown warning line", "warning_lines"), ("each relationship", "relationships"))


def performance(values: Mapping[str, Any]) -> None:
    """Everything :class:`salesbench.analyses.performance.model.ReviewConfig` checks (weights sum to 1, warning lines, ...)."""
    from salesbench.analyses.performance.model import ReviewConfig

    try:
        ReviewConfig.from_params(values)
    except ValueError as exc:
        msg = str(exc)
        key = next((k for prefix, k in _PERFORMANCE_KEYS if msg.startswith(prefix)), None)
        key = key or next((k for k in values if msg.startswith(k)), None)
        if key is None:
            raise
        raise CheckError(key, msg) from None
