"""salesbench — a sales-analytics workbench.

Notebooks in ``notebooks/`` call into this package; so do the scheduler (via
``salesbench run``) and the tests, so all three run the same code.
"""
from __future__ import annotations

__version__ = "0.1.0"

from . import results, schema, viz  # noqa: E402,F401  (light modules)
from .data import Dataset, open_data  # noqa: E402,F401
