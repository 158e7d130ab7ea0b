"""The one set-up call of every notebook: ``P, ds, res = sb.start("funnel", globals())``.

It does, in order: validate the notebook's parameters (the ``parameters``
cell plus what Papermill injected) against ``params/<name>.yaml``; set the
report's language (``lang``, :mod:`salesbench.core.i18n`); open the
data source (adopting the table checks the runner made, if it handed them over:
:func:`salesbench.report.plan.adopt_checks`); apply the report theme; create the :class:`Results` that
``report.publish`` fills; check the tables the notebook needs (``_requires``),
recording a skip with the reason and stopping the notebook when one is
missing or empty, and showing the rows the analysis will not see.

Run by hand in JupyterLab (``out_dir`` left at ``"."`` with the notebook
folder as working directory), the outputs go to the git-ignored
``reports/interactive/<name>/``, never into ``notebooks/``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from salesbench import viz
from salesbench.core import i18n
from salesbench.core.dataset import Dataset
from salesbench.io.sources import open_data
from salesbench.report import params as _params
from salesbench.report.plan import adopt_checks
from salesbench.report.results import Results


def interactive_out_dir(name: str, out_dir: str | Path, cwd: Path | None = None) -> Path:
    """Where a notebook writes its outputs: ``out_dir``, except ``"."`` inside ``notebooks/`` → ``reports/interactive/<name>/``."""
    cwd = Path.cwd() if cwd is None else cwd
    out = Path(out_dir)
    if not out.is_absolute():
        out = cwd / out
    try:
        in_notebooks = out.resolve() == _params.notebooks_dir().resolve()
    except OSError:
        in_notebooks = False
    if in_notebooks:
        out = _params.repo_root() / "reports" / "interactive" / name
        out.mkdir(parents=True, exist_ok=True)
    return out


def start(name: str, namespace: Mapping[str, Any] | None = None) -> tuple[_params.Params, Dataset, Results]:
    """Validate parameters, open data, theme, results, required tables → ``(P, ds, res)``.

    Raises :class:`~salesbench.core.errors.ParamError` for a bad parameter and
    :class:`~salesbench.core.dataset.MissingTables` (after recording the skip
    in ``<name>.results.json``) when a required table is absent or empty.
    """
    P = _params.load(name, namespace)
    i18n.set_language(P.lang)  # every word after this is in the report's language
    ds = open_data(P.data)
    adopt_checks(ds, P.data)  # the runner's table checks, if it handed them over (no second count)
    viz.apply_theme(lang=P.lang)  # zh-CN: a CJK font for the figures
    res = Results(name, interactive_out_dir(name, P.out_dir))
    requires = _params.declaration(name).requires
    excluded = ds.require(*requires, analysis=name, res=res) if requires else []
    if excluded:  # the rows the analysis will not see, one escaped sentence each
        viz.show(viz.narrative(*excluded, warning=True))
    return P, ds, res
