"""The bad-input corpus (tests/corpus, docs/reliability.md): one test per case, spread by pytest-xdist.

Each case builds its input in a private sandbox, runs ``salesbench`` (in this
process for errors that must come before any kernel, as a subprocess for runs,
signals and concurrency) and checks its precise expectation: exit status, the
words of the message, no traceback, nothing written outside the run folder,
``latest`` unchanged, no secret in any output. The same cases run from the
command line with a summary table: ``python -m tests.corpus``.
"""
from __future__ import annotations

import pytest

from ci_guard import skip_or_fail
from tests.corpus.cases import CASES, by_id
from tests.corpus.engine import run_case


def test_corpus_is_large_and_covers_every_theme():
    themes = {c.theme for c in by_id().values()}
    assert len(CASES) >= 70
    assert themes == {"schema", "references", "odd values", "hostile text", "secrets", "parameters", "source specs",
                      "tiny data", "process faults"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case, tmp_path):
    result = run_case(case, tmp_path)
    if result.passed is None:  # e.g. a tmpfs that cannot be mounted without root
        skip_or_fail(f"corpus case {case.id}", result.got)
    if not result.passed:
        pytest.fail(f"{case.id} ({case.theme}): expected {result.expected}; got {result.got}\n  - "
                    + "\n  - ".join(result.problems), pytrace=False)
