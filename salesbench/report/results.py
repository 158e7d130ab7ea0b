"""The one helper every notebook uses to publish its figures and tables.

A notebook collects its headline figures and exported tables in a
:class:`Results` object and calls :meth:`Results.save` at the end. That writes

* ``<out_dir>/<name>.results.json`` — every value set with :meth:`Results.set`,
  plus ``headline`` (a list of ``{label, value, text}`` the index shows) and
  ``status`` (``ok`` or ``skipped``);
* ``<out_dir>/<name>.<table>.csv`` — one file per :meth:`Results.table` call.

Values are converted to plain JSON (numpy scalars, dates, NaN → null) so
scheduled runs can feed alerts and other systems without pandas.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from salesbench.core import i18n
from salesbench.core.errors import ReportSkipped  # noqa: F401  (re-exported)
from salesbench.core.jsonable import to_jsonable  # noqa: F401  (re-exported)




def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class Results:
    """Headline figures and exported tables of one notebook run.

    >>> res = Results("funnel", out_dir)
    >>> res.set(win_rate=0.23, n_opportunities=10_000)
    >>> res.headline("Win rate", 0.23, "23%")
    >>> res.table("stuck_deals", stuck_df)     # -> funnel.stuck_deals.csv
    >>> res.save()                              # -> funnel.results.json
    """

    def __init__(self, name: str, out_dir: str | os.PathLike = "."):
        self.name = name
        self.out_dir = Path(out_dir)
        self.values: dict[str, Any] = {}
        self.headlines: list[dict[str, Any]] = []
        self.tables: dict[str, str] = {}
        self.status = "ok"
        self.reason: str | None = None

    # -- values -----------------------------------------------------------------
    def set(self, **values: Any) -> "Results":
        """Record named values for ``<name>.results.json`` (later calls overwrite)."""
        for key, value in values.items():
            if key in {"headline", "status", "reason", "tables", "name"}:
                raise ValueError(f"{key!r} is reserved in results.json; choose another name")
            self.values[key] = to_jsonable(value)
        return self

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def headline(self, label: str, value: Any, text: str | None = None, shown_label: str | None = None) -> "Results":
        """Add a headline figure shown on the index page.

        ``label`` is the English key (stable across languages); ``text`` is the
        formatted value as the reader sees it (in the report's language);
        ``shown_label`` is the label in the report's language when the index
        cannot look it up in the analysis catalog (a label with a date or a
        number in it). It is stored only when it differs from ``label``.
        """
        entry = {"label": str(label), "value": to_jsonable(value), "text": text if text is not None else str(value)}
        if shown_label is not None and str(shown_label) != str(label):
            entry["shown_label"] = str(shown_label)
        self.headlines.append(entry)
        return self

    def headline_cards(self, make_cards: Callable[[], Sequence[Mapping[str, Any]]], n: int | None = None,
                       values: Sequence[Any] | None = None) -> list[Mapping[str, Any]]:
        """Add the first ``n`` (all) headline cards of a report as headline figures; return the cards as shown.

        ``make_cards()`` makes the cards in the current language (e.g. ``lambda: headline_cards(M)``).
        Each figure has the card's English label as its key, its value as the reader sees it as the
        text and its label in the report's language as the label the index shows (:meth:`headline`);
        its value is the matching item of ``values`` (as many figures as values, at most), else the
        English card's ``raw``, else its (English) ``value``. The cards are made once in an English
        report, and once more in English in another language (the keys of ``results.json`` are English).
        """
        shown = list(make_cards())
        if i18n.get_language() == i18n.DEFAULT:
            english = shown
        else:
            with i18n.language(i18n.DEFAULT):
                english = list(make_cards())
        raw = values if values is not None else [card.get("raw", card["value"]) for card in english]
        for card, here, value in zip(english[:n], shown[:n], raw):
            self.headline(card["label"], value, here["value"], shown_label=here["label"])
        return shown

    def table(self, table_name: str, frame: pd.DataFrame, index: bool = False) -> Path:
        """Write ``frame`` to ``<out_dir>/<name>.<table_name>.csv`` and return the path."""
        if not table_name.replace("_", "").isalnum():
            raise ValueError(f"table name {table_name!r} must be letters, digits and underscores")
        path = self.out_dir / f"{self.name}.{table_name}.csv"
        atomic_write_text(path, frame.to_csv(index=index))
        self.tables[table_name] = path.name
        return path

    @contextlib.contextmanager
    def skipping(self):
        """Record a :class:`ReportSkipped` raised inside the block as ``skip(reason)``, then let it end the notebook.

        ``with res.skipping(): rv = Review().fit(ds)`` — the runner reports the
        run as ``skipped: <reason>`` (exit status 0), with no HTML, like a report
        whose tables are missing.
        """
        try:
            yield self
        except ReportSkipped as err:
            self.skip(err.reason)
            raise

    def skip(self, reason: str) -> "Results":
        """Mark the run as skipped (e.g. ``"no opportunities table"``) and save."""
        self.status = "skipped"
        self.reason = reason
        return self.save()

    # -- output -----------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "status": self.status}
        if self.reason:
            out["reason"] = self.reason
        out.update(self.values)
        out["headline"] = self.headlines
        out["tables"] = self.tables
        return out

    def save(self) -> "Results":
        """Write ``<out_dir>/<name>.results.json`` atomically."""
        path = self.out_dir / f"{self.name}.results.json"
        atomic_write_text(path, json.dumps(self.as_dict(), indent=2, allow_nan=False))
        return self

    @staticmethod
    def load(path: str | os.PathLike) -> dict[str, Any]:
        return json.loads(Path(path).read_text(encoding="utf-8"))
