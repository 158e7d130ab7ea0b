"""The registry of source kinds: how ``open_data`` recognises and opens a data source.

``SOURCE_KINDS`` maps a kind's name to ``(matches(text) -> bool, open(text) -> Dataset)``,
in the order they are tried (by ``rank``: the first kind whose ``matches`` is
true opens the source). The kinds register themselves when their module is
imported (:mod:`salesbench.io.demo` ``demo`` 0, :mod:`salesbench.io.database`
``database`` 10 and ``duckdb`` 30, :mod:`salesbench.io.sourcespec` ``spec`` 20,
:mod:`salesbench.io.folder` ``folder`` 50); :mod:`salesbench.io.sources`
imports them all.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

from salesbench.core.dataset import Dataset


class SourceKind(NamedTuple):
    matches: Callable[[str], bool]
    open: Callable[[str], Dataset]
    rank: int


#: kind name -> (matches, open, rank), ordered by rank
SOURCE_KINDS: dict[str, SourceKind] = {}


def register(name: str, matches: Callable[[str], bool], open: Callable[[str], Dataset], rank: int) -> None:
    """Add (or replace) the source kind ``name``; kinds are tried in ``rank`` order, lowest first."""
    SOURCE_KINDS[name] = SourceKind(matches, open, rank)
    ordered = sorted(SOURCE_KINDS.items(), key=lambda kv: kv[1].rank)
    SOURCE_KINDS.clear()
    SOURCE_KINDS.update(ordered)
