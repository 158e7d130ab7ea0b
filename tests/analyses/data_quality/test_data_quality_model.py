"""The data-quality report: summary frames on hand-made data, and `salesbench run data_quality` end to end."""
from __future__ import annotations

import datetime as dt
import json
import re

import pandas as pd
import pytest

import salesbench as sb
from salesbench.analyses.data_quality import model as quality, report
from salesbench.report.results import Results


@pytest.fixture()
def hand_made():
    return sb.Dataset.from_frames({
        "orders": pd.DataFrame({
            "order_id": ["O1", "O2", "O3", "O4"], "line_no": [1, 1, 1, 1],
            "customer_id": ["c1", "c2", "c1", None],
            "order_date": [dt.date(2024, 1, 5), dt.date(2024, 3, 1), None, dt.date(2024, 2, 1)],
            "revenue": [10.0, -2.0, 5.0, 1.0], "channel": ["online", None, "store", "store"],
        }),
        "customers": pd.DataFrame({"customer_id": ["c1", "c2"], "name": ["<script>x()</script>", "Bob"],
                                   "signup_date": [dt.date(2023, 12, 1), dt.date(2023, 6, 30)]}),
    }, label="hand-made")


def test_summary_frames_hand_computed(hand_made):
    q = quality.assess(hand_made, as_of=dt.date(2025, 1, 1))
    assert q.overview_.set_index("table")["rows"].to_dict() == {"orders": 4, "customers": 2}
    assert q.overview_.set_index("table").loc["customers", "canonical_columns"] == "3 of 8"
    cov = q.coverage_.set_index(["table", "column"])
    assert cov.loc[("orders", "order_date"), "first"] == pd.Timestamp("2024-01-05")
    assert cov.loc[("orders", "order_date"), "last"] == pd.Timestamp("2024-03-01")
    assert cov.loc[("orders", "order_date"), "span_days"] == 56 and cov.loc[("orders", "order_date"), "filled"] == 3
    miss = q.missing_.set_index(["table", "column"])
    assert miss.loc[("orders", "channel"), "missing"] == 1
    assert miss.loc[("orders", "channel"), "missing_share"] == pytest.approx(0.25)
    assert miss.loc[("orders", "order_date"), "missing"] == 1 and miss.loc[("customers", "name"), "missing"] == 0
    found = sorted(zip(q.findings_.check, q.findings_.column, q.findings_.rows))
    assert found == [("html_in_customer_names", "name", 1), ("nonpositive_revenue", "revenue", 1),
                     ("null_key", "customer_id", 1), ("null_key", "order_date", 1)]
    cards = {c["label"]: c for c in report.headline_cards(q)}
    assert cards["Verdict"]["value"] == "2 quality problems, 2 schema errors" and cards["Verdict"]["status"] == "red"
    assert cards["Order lines"]["value"] == "4" and cards["Order dates"]["value"] == "2024-01-05 → 2024-03-01"
    assert cards["Empty required values"]["value"] == "2"
    text = " ".join(report.sentences(q))
    assert "2 tables with 6 rows" in text and "2 schema error(s)" in text


def test_example_rows_are_escaped_when_shown(hand_made):
    q = quality.assess(hand_made, as_of=dt.date(2025, 1, 1))
    html = "".join(sb.viz.show_table(rows, caption=title).markup for title, rows in q.examples_)
    assert "<script>" not in html and "&lt;script&gt;x()&lt;/script&gt;" in html


def test_publish_writes_results(hand_made, tmp_path):
    q = quality.assess(hand_made, as_of=dt.date(2025, 1, 1))
    res = Results("data_quality", tmp_path)
    report.publish(q, res)
    doc = json.loads((tmp_path / "data_quality.results.json").read_text())
    assert doc["row_counts"] == {"orders": 4, "customers": 2}
    assert doc["schema_errors"] == 2 and doc["quality_problems"] == 2
    assert doc["defects"] == {"nonpositive_revenue": 1, "html_in_customer_names": 1}
    assert (tmp_path / "data_quality.findings.csv").exists()


def test_run_data_quality_end_to_end(small_demo, tmp_path, run_cli):
    """Through the runner CLI and Papermill, exactly as a scheduled run does."""
    out = tmp_path / "run"
    p = run_cli("run", "data_quality", "--data", small_demo, "--out", out, "-p", "as_of=2026-01-01", timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads((out / "data_quality.results.json").read_text())
    truth = json.loads((small_demo / "truth.json").read_text())
    assert doc["status"] == "ok"
    assert doc["row_counts"] == {k: v for k, v in truth["rows"].items() if k in doc["row_counts"]}
    assert set(doc["row_counts"]) == set(truth["rows"])
    assert doc["schema_errors"] == 0 and doc["quality_problems"] == 0
    assert doc["verdict"] == "0 quality problems, 0 schema errors"
    html = (out / "data_quality.html").read_text()
    assert "Data quality" in html and "0 quality problems, 0 schema errors" in html
    assert re.search(r"<h2[^>]*>\s*Findings", html) and "data:image/png;base64" in html
    assert (out / "index.html").exists() and (out / "manifest.json").exists()
