"""Validation: one test per schema error class on hand-made CSV folders, quality checks with
hand-computed counts, the dirty demo's known defects, and the `salesbench validate` CLI."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

import salesbench as sb
from salesbench.core.errors import SchemaError
from salesbench.io.sources import open_data
from salesbench.core.validate import QUALITY_CHECKS, pandera_schema, validate

AS_OF = dt.date(2026, 1, 1)
ORDERS_HEADER = "order_id,line_no,customer_id,order_date,revenue\n"


def folder(tmp_path: Path, **tables: str) -> Path:
    for name, text in tables.items():
        (tmp_path / f"{name}.csv").write_text(text)
    return tmp_path


def only(report, check):
    found = [f for f in report.findings if f.check == check]
    assert len(found) == 1, report.summary()
    return found[0]


def test_clean_hand_made_folder_passes(tmp_path):
    src = folder(tmp_path, orders=ORDERS_HEADER + "O1,1,c1,2024-01-01,10\nO1,2,c1,2024-01-01,5\nO2,1,c2,2024-02-01,7\n",
                 customers="customer_id,name\nc1,Ann\nc2,Bob\n")
    report = validate(open_data(src), as_of=AS_OF)
    assert report.findings == [] and report.ok and report.exit_code == 0
    assert report.verdict() == "0 quality problems, 0 schema errors"


def test_missing_required_table(tmp_path):
    src = folder(tmp_path, customers="customer_id,name\nc1,Ann\n")
    f = only(validate(open_data(src), as_of=AS_OF), "missing_table")
    assert f.severity == "schema" and f.table == "orders" and "'orders' is missing" in f.message


def test_missing_required_column(tmp_path):
    src = folder(tmp_path, orders="order_id,customer_id,order_date,amount\nO1,c1,2024-01-01,10\n")
    report = validate(open_data(src), as_of=AS_OF)
    f = only(report, "missing_column")
    assert (f.table, f.column) == ("orders", "revenue")
    assert f.message.startswith("orders.csv: required column 'revenue' is missing")
    assert report.exit_code == 2


def test_wrong_type_names_table_column_and_rows(tmp_path):
    pd.DataFrame({"customer_id": ["a", "b", "c"], "order_date": [20240101, 20240102, 20240103],
                  "revenue": [1.0, 2.0, 3.0]}).to_parquet(tmp_path / "orders.parquet")
    ds = sb.open_data(tmp_path)
    f = only(validate(ds, as_of=AS_OF), "wrong_type")
    assert f.message.startswith("orders.parquet: column 'order_date' is stored as int64")
    assert (f.table, f.column, f.rows) == ("orders", "order_date", 3)
    assert "stored as int64 but must be date: all 3 rows" in f.message and "format: '%Y%m%d'" in f.message
    with pytest.raises(SchemaError, match="order_date"):
        validate(ds, as_of=AS_OF, raise_on_error=True)


def test_unparsable_date_and_number_with_first_rows(tmp_path):
    src = folder(tmp_path, orders=ORDERS_HEADER + "O1,1,c1,2024-01-01,10\nO2,1,c1,2024-02-30,5\n"
                 "O3,1,c2,yesterday,7\nO4,1,c2,2024-03-01,1.234,5\n".replace("1.234,5", '"1.234,5"'))
    report = validate(open_data(src), as_of=AS_OF)
    dates = [f for f in report.schema_errors if f.column == "order_date"]
    assert len(dates) == 1 and dates[0].check == "unparsable_value" and dates[0].rows == 2
    assert dates[0].message.startswith("orders.csv: column 'order_date' has 2 values that do not parse as date")
    assert "row 2: order_id='O2', line_no='1', order_date='2024-02-30'" in dates[0].message
    assert "row 3:" in dates[0].message and dates[0].examples[["row"]].squeeze().tolist() == [2, 3]
    money = [f for f in report.schema_errors if f.column == "revenue"]
    assert money[0].rows == 1 and "'1.234,5'" in money[0].message
    # the unparsable values are not double-counted as empty keys
    assert not [f for f in report.findings if f.check == "null_key"]


def test_null_key(tmp_path):
    src = folder(tmp_path, orders=ORDERS_HEADER + "O1,1,,2024-01-01,10\nO2,1,c2,2024-01-02,5\nO3,1,  ,2024-01-03,1\n")
    f = only(validate(open_data(src), as_of=AS_OF), "null_key")
    assert (f.table, f.column, f.rows) == ("orders", "customer_id", 2)
    assert "required column 'customer_id' is empty in 2 rows (first: row 1: order_id='O1'" in f.message


def test_quality_checks_hand_made(tmp_path):
    src = folder(
        tmp_path,
        orders=ORDERS_HEADER + "O1,1,c1,2024-01-01,10\nO1,1,c1,2024-01-01,10\nO1,1,c1,2024-01-01,10\n"
        "O2,1,c2,2024-01-02,0\nO3,1,c9,2024-01-03,-4\nO4,1,c1,2027-05-01,3\n",
        customers="customer_id,name\nc1,<b>Bold</b> Ltd\nc2,Bob & Sons\nc2,Bob & Sons\n",
        invoices="invoice_id,customer_id,invoice_date,due_date,amount,paid_amount,paid_date\n"
        "I1,c1,2024-01-10,2024-02-10,100,100.004,2024-02-01\nI2,c1,2024-01-10,2024-01-01,50,60,2024-01-05\n",
        surveys="customer_id,survey_date,csat,nps\nc1,2024-01-01,6,11\nc2,2024-01-01,1,0\n",
        opportunities="opportunity_id,created_at,stage,status\nD1,2024-01-01 00:00:00,won,won\nD2,2024-01-01 00:00:00,lost,lost\n",
        stage_history="opportunity_id,stage,entered_at\nD1,lead,2024-01-01 00:00:00\nD1,contact,2024-01-02 00:00:00\n"
        "D1,won,2024-01-09 00:00:00\nD2,lead,2024-01-05 00:00:00\nD2,contact,2024-01-03 00:00:00\nD2,lost,2024-01-06 00:00:00\n",
    )
    report = validate(open_data(src), as_of=AS_OF)
    assert report.schema_errors == []
    assert report.defect_counts() == {
        "duplicate_order_lines": 2,        # three copies of O1/1: two surplus
        "nonpositive_revenue": 2,          # 0 and -4
        "future_order_dates": 1,           # 2027 > as_of
        "unknown_customer_orders": 1,      # c9
        "duplicate_customer_ids": 1,
        "stage_history_out_of_order": 1,   # D2: contact before lead
        "overpaid_invoices": 1,            # I2 (I1 is within half a cent)
        "invoices_due_before_issued": 1,   # I2 (paid before issue is a prepayment: not flagged)
        "csat_out_of_range": 1,
        "nps_out_of_range": 1,
        "html_in_customer_names": 1,       # "<b>", not "&"
    }
    assert report.ok and report.exit_code == 0
    strict = validate(open_data(src), as_of=AS_OF, strict=True)
    assert not strict.ok and strict.exit_code == 2
    assert report.verdict() == "11 quality problems, 0 schema errors"


def test_pandera_schema_is_generated_from_the_canonical_schema():
    s = pandera_schema("orders")
    assert set(s.columns) == set(sb.schema.table("orders").column_names)
    assert s.columns["customer_id"].nullable is False and s.columns["customer_id"].required
    assert s.columns["promo"].nullable and not s.columns["promo"].required
    assert {c.name for c in QUALITY_CHECKS} >= {"duplicate_order_lines", "nonpositive_revenue", "future_order_dates",
                                                "unknown_customer_orders", "stage_history_out_of_order",
                                                "overpaid_invoices", "html_in_customer_names"}


@pytest.fixture(scope="module", params=[1, 2])
def dirty_demo(request, tmp_path_factory):
    from salesbench.datasets.demo import generate

    out = tmp_path_factory.mktemp(f"dirty{request.param}")
    generate(out, seed=request.param, customers=600, dirty=True)
    return out


def test_dirty_demo_defects_are_found_exactly(dirty_demo):
    ds = sb.open_data(dirty_demo)
    report = validate(ds, as_of=AS_OF)
    assert report.schema_errors == []
    assert report.defect_counts() == ds.truth["defects"]


def test_clean_demo_has_no_finding(small_demo):
    report = validate(open_data(small_demo), as_of=AS_OF)
    assert report.findings == [], report.summary()


def test_cli_exit_codes_and_json(tmp_path, small_demo, capsys):
    from salesbench.cli import main
    from salesbench.datasets.demo import generate

    (tmp_path / "bad").mkdir()
    bad = folder(tmp_path / "bad", orders=ORDERS_HEADER + "O1,1,c1,2024-13-01,10\n")
    assert main(["validate", "--data", str(bad)]) == 2  # the value `salesbench` exits with
    out = capsys.readouterr().out
    assert "Verdict: 0 quality problems, 1 schema error" in out and "orders.csv: column 'order_date'" in out

    dirty = generate(tmp_path / "dirty", seed=3, customers=600, dirty=True)
    assert main(["validate", "--data", str(dirty), "--json", "--as-of", "2026-01-01"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {f["check"]: f["rows"] for f in doc["quality_problems"]} == json.loads((dirty / "truth.json").read_text())["defects"]
    assert main(["validate", "--data", str(dirty), "--strict", "--as-of", "2026-01-01"]) == 2
    assert "7 quality problems, 0 schema errors (strict)" in capsys.readouterr().out
    assert main(["validate", "--data", str(small_demo), "--as-of", "2026-01-01"]) == 0
    assert "No problem found." in capsys.readouterr().out
    assert main(["validate", "--data", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


# --------------------------------------------------------------------------- odd values
def test_non_finite_and_absurd_money_is_a_counted_finding(tmp_path, capsys):
    from salesbench.cli import main

    src = folder(tmp_path, orders=ORDERS_HEADER.replace("revenue", "revenue,cost") +
                 "O1,1,c1,2024-01-01,10,1\nO2,1,c1,2024-01-02,NaN,1\nO3,1,c2,2024-01-03,inf,inf\n"
                 "O4,1,c2,2024-01-04,-inf,1\nO5,1,c2,2024-01-05,1e300,1\n",
                 opportunities="opportunity_id,created_at,stage,status,amount\nD1,2024-01-01 00:00:00,lead,open,NaN\n")
    report = validate(open_data(src), as_of=AS_OF)
    assert not [f for f in report.findings if f.check == "null_key"]  # no more "empty in 0 rows"
    got = {(f.check, f.table, f.column): (f.rows, f.examples["row"].tolist()) for f in report.findings
           if f.check in ("nonfinite_values", "implausible_values")}
    assert got == {
        ("nonfinite_values", "orders", "revenue"): (3, [2, 3, 4]),
        ("implausible_values", "orders", "revenue"): (1, [5]),
        ("nonfinite_values", "orders", "cost"): (1, [3]),
        ("nonfinite_values", "opportunities", "amount"): (1, [1]),
    }
    f = [f for f in report.findings if f.check == "nonfinite_values" and f.column == "revenue"][0]
    assert f.severity == "quality" and f.message.startswith(
        "orders.csv: 3 rows: revenue not a finite number (NaN or infinity); reports leave these rows out (first: row 2:")
    assert report.defect_counts()["nonfinite_values"] == 5
    assert main(["validate", "--data", str(src), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)  # valid JSON: NaN examples are shown as text
    assert any(p["check"] == "implausible_values" and p["examples"][0]["revenue"] == "1e+300" for p in doc["quality_problems"])


ODD = ["epoch", "-infinity", "infinity", "2024-01-05 garbage", "5881580-01-01", "0000-01-01", "9999-99-99", "1850-06-01"]


def test_odd_dates_are_counted_as_unparsable_and_never_crash(tmp_path, capsys):
    from salesbench.cli import main

    rows = "".join(f"O{i},1,c1,{d},1\n" for i, d in enumerate(ODD, start=2))
    src = folder(tmp_path, orders=ORDERS_HEADER + "O1,1,c1,2024-01-01,1\n" + rows,
                 customers="customer_id,signup_date\nc1,infinity\nc2,2020-01-01\n")
    assert main(["validate", "--data", str(src)]) == 2
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "out of range" not in out.err
    report = validate(open_data(src), as_of=AS_OF)
    f = [x for x in report.schema_errors if x.check == "unparsable_value" and x.column == "order_date"]
    assert len(f) == 1 and f[0].rows == len(ODD)
    assert f[0].examples["row"].tolist() == [2, 3, 4, 5, 6]
    assert "do not parse as date or lie outside 1900-2200" in f[0].message and "order_date='epoch'" in f[0].message
    s = [x for x in report.schema_errors if x.table == "customers" and x.column == "signup_date"]
    assert len(s) == 1 and s[0].rows == 1 and "reports treat them as empty" in s[0].message
    from salesbench.analyses.data_quality.model import assess

    q = assess(src, as_of=AS_OF)  # the data-quality report renders: coverage ends at real dates
    cov = q.coverage_.set_index(["table", "column"])
    assert cov.loc[("orders", "order_date"), "last"] == pd.Timestamp("2024-01-01")


def test_header_only_orders_has_no_rows(tmp_path):
    src = folder(tmp_path, orders=ORDERS_HEADER)
    report = validate(open_data(src), as_of=AS_OF)
    assert [(f.check, f.severity, f.table) for f in report.findings] == [("empty_table", "schema", "orders")]
    assert report.findings[0].message.startswith("orders has no rows (orders.csv)")
    assert "empty in 0 rows" not in report.summary()


def test_future_dated_events_other_than_orders(tmp_path):
    src = folder(tmp_path, orders=ORDERS_HEADER + "O1,1,c1,2024-01-01,1\n",
                 invoices="invoice_id,customer_id,invoice_date,due_date,amount\nI1,c1,2025-12-01,2026-02-01,5\n"
                          "I2,c1,2026-03-01,2026-04-01,5\n",
                 interactions="customer_id,occurred_at,kind\nc1,2026-01-02 09:00:00,call\nc1,2025-01-02 09:00:00,call\n",
                 targets="period,level,key,metric,value\n2027-01-01,company,company,revenue,5\n")
    counts = validate(open_data(src), as_of=AS_OF).defect_counts()
    assert counts == {"future_invoice_dates": 1, "future_interaction_dates": 1}  # due dates and targets may be ahead


def test_conflicting_keys_are_listed_not_raised(tmp_path, capsys):
    from salesbench.cli import main

    src = folder(tmp_path, orders=ORDERS_HEADER + "O1,1,c1,2024-01-01,1\n",
                 products="product_id,product_line\nP1,a\nP1,b\nP2,c\nP2,c\n",
                 reps="rep_id,team,region\nR1,t,North\nR1,t,North\n")
    report = validate(open_data(src), as_of=AS_OF)
    f = only(report, "conflicting_keys")
    assert (f.severity, f.table, f.column, f.rows) == ("schema", "products", "product_id", 1)
    assert f.message.startswith("products.csv: table products has 1 product_id value on several rows with different values "
                                "(first: 'P1' in rows 1, 2)")
    assert f.examples["row"].tolist() == [1, 2]
    assert report.defect_counts() == {"duplicate_product_ids": 2, "duplicate_rep_ids": 1}
    assert main(["validate", "--data", str(src)]) == 2
    assert "[conflicting_keys] products.csv" in capsys.readouterr().out


def test_unknown_stages_are_counted_and_named_with_the_fix(tmp_path):
    from salesbench.core.validate import unknown_stages

    sh = "opportunity_id,stage,entered_at\n" + "".join(
        f"D{i},{s},2024-01-0{1 + i % 5} 00:00:00\n" for i, s in enumerate(["lead"] * 3 + ["Qualified"] * 4 + ["Demo Scheduled"] * 2))
    src = folder(tmp_path, orders=ORDERS_HEADER + "O1,1,c1,2024-01-01,1\n", stage_history=sh,
                 opportunities="opportunity_id,created_at,stage,status\nD1,2024-01-01 00:00:00,Qualified,open\n"
                               "D2,2024-01-01 00:00:00,won,won\n")
    ds = sb.open_data(src)
    frame = unknown_stages(ds)
    assert frame.to_dict("records") == [
        {"table": "stage_history", "column": "stage", "stage": "Qualified", "rows": 4, "first_row": 4},
        {"table": "stage_history", "column": "stage", "stage": "Demo Scheduled", "rows": 2, "first_row": 8},
        {"table": "opportunities", "column": "stage", "stage": "Qualified", "rows": 1, "first_row": 1},
    ]
    assert unknown_stages(ds, ["lead", "Qualified", "Demo Scheduled"]).empty
    report = validate(ds, as_of=AS_OF)
    f = [x for x in report.findings if x.check == "unknown_stages" and x.table == "stage_history"][0]
    assert f.rows == 6 and "'Qualified' (4), 'Demo Scheduled' (2)" in f.message
    assert "add them to the `stages` parameter of params/funnel.yaml" in f.message and "source spec" in f.message
    assert report.defect_counts()["unknown_stages"] == 7


def test_unknown_stages_default_is_the_funnel_default():
    """core.validate knows the funnel stages from the schema; they must be params/funnel.yaml's default."""
    from salesbench.core import schema
    from salesbench.report.params import defaults

    assert list(defaults("funnel")["stages"]) == list(schema.STAGES)
