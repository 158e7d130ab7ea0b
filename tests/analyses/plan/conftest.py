"""Shared fixtures of the plan tests."""
from __future__ import annotations

import datetime as dt

import pytest

from salesbench.analyses.plan.model import SalesPlan
from salesbench.io.sources import open_data

AS_OF = dt.date(2024, 12, 31)


@pytest.fixture(scope="session")
def plan(small_demo):
    """The plan of the small demo made as of 2024-12-31 for 2025 (fitted once: the forecast is the slow part)."""
    return SalesPlan(as_of=AS_OF).fit(open_data(small_demo))
