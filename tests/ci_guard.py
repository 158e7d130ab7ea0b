"""One rule for tests that need something outside Python (a server, a browser, downloaded data, root).

Locally such a test is skipped with the reason; when ``CI`` is set (``.ci/run`` sets ``CI=true`` and
installs PostgreSQL and Chromium) it fails instead: a skipped test proves nothing in CI.
"""
from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def skip_or_fail(what: str, reason: str, allow_module_level: bool = False):
    """Skip (locally) or fail (under CI) because ``what`` cannot run: ``reason``."""
    if in_ci():
        pytest.fail(f"CI is set but {what} cannot run: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=allow_module_level)
