"""Fixtures of the forecasting tests."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def small_fit():
    """One small fit of the toy company (two regions, two models, two origins), shared by the report tests."""
    from test_forecasting_model import _toy_dataset

    from salesbench.analyses.forecasting import model as F

    return F.SalesForecast(dimensions=["region"], models=["seasonal_naive", "holt_winters"], n_origins=2,
                           as_of="2024-06-30").fit(_toy_dataset())
