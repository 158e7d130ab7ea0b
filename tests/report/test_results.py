"""Unit tests of salesbench.report.results: plain JSON values, headline, tables, skips, atomic files."""
from __future__ import annotations

import datetime as dt
import json
import os

import numpy as np
import pandas as pd
import pytest

from salesbench.core import i18n
from salesbench.core.errors import ReportSkipped
from salesbench.report.results import Results, atomic_write_text, to_jsonable
from salesbench.viz import fmt_num


def test_to_jsonable_gives_plain_json():
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, np.nan]})
    assert to_jsonable(frame) == [{"a": 1, "b": 0.5}, {"a": 2, "b": None}]
    assert to_jsonable(pd.Series([1.5, 2.0], index=["x", "y"])) == {"x": 1.5, "y": 2.0}
    assert to_jsonable({1: np.int64(3), "f": np.float32(0.25), "t": np.bool_(True)}) == {"1": 3, "f": 0.25, "t": True}
    assert to_jsonable([np.inf, -np.inf, float("nan"), None, pd.NaT]) == [None, None, None, None, None]
    assert to_jsonable(pd.Timestamp("2025-03-31")) == "2025-03-31"  # midnight: a date
    assert to_jsonable(pd.Timestamp("2025-03-31 14:05")) == "2025-03-31T14:05:00"
    assert to_jsonable(dt.date(2025, 1, 2)) == "2025-01-02"
    assert to_jsonable(pd.Period("2025Q4")) == "2025Q4"
    assert to_jsonable(np.array([[1, 2], [3, 4]])) == [[1, 2], [3, 4]]
    assert to_jsonable((1, {2})) == [1, [2]]
    json.dumps(to_jsonable({"x": [np.float64("nan"), np.int32(1)]}), allow_nan=False)


def test_results_json_holds_values_headline_tables_and_status(tmp_path):
    res = Results("funnel", tmp_path)
    res.set(win_rate=np.float64(0.23), n=np.int64(10), missing=float("nan"))
    res.headline("Win rate", 0.23, "23%").headline("Deals", 10)
    path = res.table("stuck_deals", pd.DataFrame({"id": ["o1"], "days": [40]}))
    assert path == tmp_path / "funnel.stuck_deals.csv"
    assert pd.read_csv(path).to_dict("records") == [{"id": "o1", "days": 40}]
    assert res["win_rate"] == 0.23
    res.save()
    saved = Results.load(tmp_path / "funnel.results.json")
    assert saved == {
        "name": "funnel", "status": "ok", "win_rate": 0.23, "n": 10, "missing": None,
        "headline": [{"label": "Win rate", "value": 0.23, "text": "23%"}, {"label": "Deals", "value": 10, "text": "10"}],
        "tables": {"stuck_deals": "funnel.stuck_deals.csv"},
    }


@pytest.mark.parametrize("key", ["headline", "status", "reason", "tables", "name"])
def test_reserved_keys_are_refused(tmp_path, key):
    with pytest.raises(ValueError, match=f"'{key}' is reserved in results.json"):
        Results("x", tmp_path).set(**{key: 1})


@pytest.mark.parametrize("bad", ["a b", "../up", "x.csv", ""])
def test_table_names_are_letters_digits_underscores(tmp_path, bad):
    with pytest.raises(ValueError, match="must be letters, digits and underscores"):
        Results("x", tmp_path).table(bad, pd.DataFrame({"a": [1]}))
    assert list(tmp_path.iterdir()) == []


def test_skipping_records_the_reason_saves_and_reraises(tmp_path):
    res = Results("performance", tmp_path)
    with pytest.raises(ReportSkipped):
        with res.skipping():
            raise ReportSkipped("no full quarter of orders yet")
    saved = json.loads((tmp_path / "performance.results.json").read_text())
    assert saved["status"] == "skipped" and saved["reason"] == "no full quarter of orders yet"
    with pytest.raises(KeyError):  # anything else is not a skip: it propagates, nothing recorded
        with Results("other", tmp_path).skipping():
            raise KeyError("x")
    assert not (tmp_path / "other.results.json").exists()


def test_save_refuses_nan_that_bypassed_set(tmp_path):
    res = Results("x", tmp_path)
    res.values["raw"] = float("nan")  # set() would have turned it into null
    with pytest.raises(ValueError):
        res.save()
    assert not (tmp_path / "x.results.json").exists() and list(tmp_path.iterdir()) == []


def test_atomic_write_replaces_whole_files_with_shared_permissions(tmp_path):
    path = tmp_path / "sub" / "a.json"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two"
    assert [p.name for p in path.parent.iterdir()] == ["a.json"]  # no temporary file left
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_headline_cards_are_made_once_keyed_in_english_and_shown_in_the_reports_language(tmp_path):
    calls = []

    def cards():  # a report's headline_cards(M): labels and texts in the current language
        calls.append(i18n.get_language())
        label = i18n.messages(i18n.SHARED).gettext("Contents")
        return [{"label": label, "value": fmt_num(123456), "raw": 123456}, {"label": f"{label} 2", "value": "7"},
                {"label": "not a headline", "value": "0"}]

    en = Results("demo", tmp_path)
    shown = en.headline_cards(cards, 2)
    assert calls == ["en"] and shown == cards()  # made once in an English report; all cards returned
    assert en.headlines == [{"label": "Contents", "value": 123456, "text": "123,456"},
                            {"label": "Contents 2", "value": "7", "text": "7"}]
    calls.clear()
    with i18n.language("zh-CN"):
        zh = Results("demo", tmp_path)
        shown = zh.headline_cards(cards, values=[1.5, None])
    assert calls == ["zh-CN", "en"] and shown[0]["label"] == "目录"  # the keys of results.json are English
    assert zh.headlines == [{"label": "Contents", "value": 1.5, "text": "123,456", "shown_label": "目录"},
                            {"label": "Contents 2", "value": None, "text": "7", "shown_label": "目录 2"}]
