"""The ``demo`` source: the demo company, generated on first use into the cache folder.

``"demo"`` or ``"demo:seed=3,customers=800"`` (``dirty=1`` for the copy with
injected data defects); :func:`salesbench.datasets.demo.ensure_demo` writes the
Parquet files once, then they are read as a folder.
"""
from __future__ import annotations

from typing import Any

from salesbench.core.dataset import Dataset
from salesbench.core.errors import DataError
from salesbench.datasets.demo import ensure_demo
from salesbench.io.folder import open_folder
from salesbench.io.kinds import register


def is_demo(text: str) -> bool:
    return text == "demo" or text.startswith("demo:")


def parse_demo_source(source: str) -> dict[str, Any]:
    """``"demo"`` → {}; ``"demo:seed=3,customers=800"`` → {"seed": 3, "customers": 800}.

    ``dirty=1`` (or ``true``) selects the demo with injected data defects.
    """
    if source == "demo":
        return {}
    body = source.split(":", 1)[1]
    out: dict[str, Any] = {}
    for part in filter(None, body.split(",")):
        key, _, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if key not in {"seed", "customers", "dirty"}:
            raise DataError(f"unknown demo option {key!r} in {source!r} (use seed=, customers=, dirty=)")
        if key == "dirty":
            if value.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                raise DataError(f"demo option dirty={value!r} in {source!r} must be true or false")
            out[key] = value.lower() in {"1", "true", "yes"}
            continue
        try:
            out[key] = int(value)
        except ValueError:
            raise DataError(f"demo option {key}={value!r} in {source!r} is not an integer") from None
    return out


def open_demo(text: str) -> Dataset:
    """Open the demo company named by ``text`` (generated and cached on first use)."""
    opts = parse_demo_source(text)
    folder = ensure_demo(**opts)
    label = "demo company" + (f" ({', '.join(f'{k}={v}' for k, v in opts.items())})" if opts else "")
    return open_folder(folder, label=label)


register("demo", is_demo, open_demo, rank=0)
