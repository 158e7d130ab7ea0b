"""salesbench.core.dataset: canonical types, try_cast on bad values, rows left out and why, duplicate keys, require."""
from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

import salesbench as sb
from salesbench.core.errors import DataError, MissingTables, SchemaError
from salesbench.io.sources import open_data
from salesbench.report.params import declaration


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / name
    f.write_text(text)
    return f


def test_from_frames_casts_to_canonical_types():
    ds = sb.Dataset.from_frames({
        "orders": pd.DataFrame({
            "order_id": [1.0, 2.0], "customer_id": [7, 8],
            "order_date": pd.to_datetime(["2024-01-05", "2024-02-29"]),
            "revenue": [10, 20], "promo": [True, False],
        }),
    })
    t = ds.table("orders")
    sch = t.schema()
    assert str(sch["order_id"]) == "string" and str(sch["customer_id"]) == "string"
    assert sch["order_date"].is_date() and sch["revenue"].is_float64() and sch["promo"].is_boolean()
    df = t.order_by("order_id").to_pandas()
    assert df.order_id.tolist() == ["1", "2"]  # float ids lose the ".0"
    assert df.customer_id.tolist() == ["7", "8"]
    assert df.revenue.sum() == 30.0
    assert ds.row_counts() == {"orders": 2}
    assert ds.tables == ["orders"] and ds.has("orders") and not ds.has("customers")
    assert ds.has_columns("orders", ["promo"]) and not ds.has_columns("orders", ["cost"])


def test_missing_table_and_wrong_type_raise_clear_errors():
    ds = sb.Dataset.from_frames({"orders": pd.DataFrame({"customer_id": ["a"], "order_date": [20240131], "revenue": [1.0]})})
    with pytest.raises(MissingTables, match="opportunities"):
        ds.require("opportunities", "stage_history", analysis="funnel")
    with pytest.raises(SchemaError, match=r"order_date is int64, expected date"):
        ds.table("orders")
    assert ds.type_errors == {"orders": {"order_date": "int64"}}
    with pytest.raises(KeyError):
        sb.Dataset.from_frames({"ordres": pd.DataFrame({"a": [1]})})


def test_csv_folder_is_parsed_with_try_cast_and_keeps_leading_zeros(tmp_path):
    _write(tmp_path, "orders.csv",
           "order_id,customer_id,order_date,revenue,promo\n"
           "001,0042,2024-01-31,10.5,true\n"
           "002,0043,2024-13-01,7,false\n"
           "003,0042,2024-02-01,abc,\n")
    ds = open_data(tmp_path)
    assert ds.label == f"folder {tmp_path}" and ds.source_of("orders") == "orders.csv"
    df = ds.canonical_table("orders").order_by("order_id").to_pandas()  # bad values do not raise at query time
    assert df.customer_id.tolist() == ["0042", "0043", "0042"]
    assert df.order_date.isna().tolist() == [False, True, False]
    assert df.revenue.isna().tolist() == [False, False, True]
    assert df.promo.tolist()[:2] == [True, False]
    # the analyses' table leaves out rows whose required date or revenue is unusable, and says so
    assert ds.table("orders").order_id.to_pandas().tolist() == ["001"]
    assert [(e["column"], e["rows"], e["examples"]) for e in ds.exclusions()] == [
        ("order_date", 1, [2]), ("revenue", 1, [3])]
    raw = ds.raw_table("orders").order_by("order_id").to_pandas()
    assert raw.order_date.tolist()[1] == "2024-13-01"  # the raw text stays available to validation


def test_fingerprint_changes_with_the_data(tmp_path):
    _write(tmp_path, "orders.csv", "customer_id,order_date,revenue\na,2024-01-01,1\n")
    fp1 = open_data(tmp_path).fingerprint()
    assert fp1 == open_data(tmp_path).fingerprint()
    _write(tmp_path, "orders.csv", "customer_id,order_date,revenue\na,2024-01-01,1\nb,2024-01-02,2\n")
    assert open_data(tmp_path).fingerprint() != fp1


# --------------------------------------------------------------------------- rows no analysis may use
ODD_ORDERS = (
    "order_id,line_no,customer_id,order_date,revenue,cost,unit_price\n"
    "O1,1,c1,2024-01-01,10,4,10\n"
    "O2,1,c1,2024-01-02,NaN,4,10\n"      # row 2
    "O3,1,c2,2024-01-03,inf,,5\n"        # row 3
    "O4,1,c2,2024-01-04,-inf,1,5\n"      # row 4
    "O5,1,c2,2024-01-05,1e300,1,5\n"     # row 5
    "O6,1,c3,2024-01-06,7,nan,5\n"       # row 6: an optional money column
    "O7,1,c3,2024-01-07,8,2,-1e16\n"     # row 7
    "O8,1,c3,2024-01-08,9,2,9\n"
)


def test_non_finite_and_absurd_money_rows_are_left_out_and_stated(tmp_path):
    _write(tmp_path, "orders.csv", ODD_ORDERS)
    ds = open_data(tmp_path)
    kept = ds.table("orders").order_by("order_id").to_pandas()
    assert kept.order_id.tolist() == ["O1", "O8"]
    assert kept.revenue.sum() == 19.0
    ex = {(e["column"], e["check"]): (e["rows"], e["examples"]) for e in ds.exclusions()}
    assert ex == {
        ("revenue", "nonfinite_values"): (3, [2, 3, 4]),
        ("revenue", "implausible_values"): (1, [5]),
        ("cost", "nonfinite_values"): (1, [6]),
        ("unit_price", "implausible_values"): (1, [7]),
    }
    assert "3 orders rows left out: revenue not a finite number (NaN or infinity) (rows 2, 3, 4)." in ds.exclusion_sentences()
    assert ds.canonical_table("orders").count().to_pyarrow().as_py() == 8  # validation still sees every row
    # segmentation used to fail with "quantile_scores: values contain NaN"
    from salesbench.analyses.segmentation import model as seg

    feats = seg.customer_features(ds, as_of="2024-02-01")
    assert set(feats.customer_id) == {"c1", "c3"} and feats.filter(like="monetary").notna().all().all()


def test_require_records_and_shows_the_rows_left_out(tmp_path):
    from salesbench.report.results import Results

    _write(tmp_path / "d", "orders.csv", ODD_ORDERS)
    ds = open_data(tmp_path / "d")
    res = Results("segmentation", tmp_path / "out")
    sentences = ds.require(*declaration("segmentation").requires, analysis="segmentation", res=res)
    res.save()
    import json

    doc = json.loads((tmp_path / "out" / "segmentation.results.json").read_text())
    assert doc["status"] == "ok"
    assert [(e["table"], e["column"], e["rows"]) for e in doc["excluded_rows"]] == [
        ("orders", "unit_price", 1), ("orders", "revenue", 3), ("orders", "revenue", 1), ("orders", "cost", 1)]
    assert doc["excluded_rows"][1]["reason"] == "not a finite number (NaN or infinity)"
    assert doc["excluded_rows"][1]["examples"] == [2, 3, 4]
    assert sentences[1] == "3 orders rows left out: revenue not a finite number (NaN or infinity) (rows 2, 3, 4)."
    assert len(sentences) == 4
    clean = Results("segmentation", tmp_path / "out2")
    open_data(tmp_path / "d").require("orders", res=clean)
    _write(tmp_path / "c", "orders.csv", "customer_id,order_date,revenue\na,2024-01-01,1\n")
    ok = Results("churn", tmp_path / "out3")
    assert open_data(tmp_path / "c").require(*declaration("churn").requires, analysis="churn", res=ok) == []
    assert ok.values["excluded_rows"] == []


def test_sentences_are_displayed_escaped_in_a_notebook(tmp_path, monkeypatch):
    import IPython
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())  # as inside a kernel
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj._repr_html_()))
    _write(tmp_path, "orders.csv", "order_id,customer_id,order_date,revenue\n<b>x</b>,c1,2024-01-01,NaN\n"
                                   "o2,<script>alert(1)</script>,2024-01-01,1\n")
    sb.start("segmentation", {"data": str(tmp_path), "out_dir": str(tmp_path / "o")})  # the notebooks' set-up call
    assert len(shown) == 1
    assert "1 orders row left out: revenue not a finite number (NaN or infinity) (row 1)." in shown[0]
    assert "<script" not in shown[0] and "<b>" not in shown[0]


def test_future_dated_events_are_left_out_but_plans_and_due_dates_are_kept(tmp_path, monkeypatch):
    import datetime as dt

    from salesbench.core import dataset as data_mod

    monkeypatch.setattr(data_mod, "today", lambda: dt.date(2025, 6, 30))
    _write(tmp_path, "orders.csv", "customer_id,order_date,revenue\na,2025-06-01,1\nb,2025-06-30,2\nc,2100-01-01,3\n")
    _write(tmp_path, "invoices.csv", "invoice_id,customer_id,invoice_date,due_date,amount\n"
                                     "I1,a,2025-06-01,2025-07-31,10\nI2,b,2025-07-02,2025-08-01,5\n")
    _write(tmp_path, "stage_history.csv", "opportunity_id,stage,entered_at\nP1,lead,2025-06-30 23:00:00\n"
                                          "P1,contact,2025-07-01 08:00:00\n")
    _write(tmp_path, "targets.csv", "period,level,key,metric,value\n2025-12-01,company,company,revenue,100\n")
    ds = open_data(tmp_path)
    assert ds.table("orders").customer_id.to_pandas().tolist() == ["a", "b"]
    assert ds.table("invoices").invoice_id.to_pandas().tolist() == ["I1"]  # due 2025-07-31 is fine
    assert ds.table("stage_history").stage.to_pandas().tolist() == ["lead"]
    assert ds.table("targets").count().to_pyarrow().as_py() == 1  # plans lie in the future by design
    assert {(e["table"], e["reason"], e["rows"]) for e in ds.exclusions()} == {
        ("orders", "after today (2025-06-30), up to 2100-01-01", 1),
        ("invoices", "after today (2025-06-30), up to 2025-07-02", 1),
        ("stage_history", "after today (2025-06-30), up to 2025-07-01", 1)}
    # the default analysis date is the last order on or before today, never 2100-01-01
    assert data_mod.last_order_date(ds.canonical_table("orders")) == dt.date(2025, 6, 30)
    assert data_mod.last_order_date(ds.canonical_table("orders"), on_or_before=dt.date(2025, 6, 15)) == dt.date(2025, 6, 1)


ODD_DATES = ["epoch", "-infinity", "infinity", "2024-01-05 garbage", "5881580-01-01", "0000-01-01",
             "9999-99-99", "1899-12-31", "2201-01-01", "today"]


def test_odd_date_text_never_becomes_a_date(tmp_path):
    rows = "".join(f"O{i},c{i},{d},1\n" for i, d in enumerate(ODD_DATES))
    _write(tmp_path, "orders.csv", "order_id,customer_id,order_date,revenue\n" + rows + "OK,c,2024-01-05,1\n"
           "OK2,c,2024-01-05T10:30:00Z,1\nOK3,c, 2024-01-06 ,1\nOK4,c,2024/01/07,1\n")
    _write(tmp_path, "interactions.csv", "customer_id,occurred_at,kind\n" +
           "".join(f"c,{d},call\n" for d in ODD_DATES) + "c,2024-01-05 10:00:00,call\nc,2024-01-05T10:00:00+02:00,call\n"
           "c,2024-01-05 10:00:00 UTC,call\n")
    ds = open_data(tmp_path)
    dates = ds.canonical_table("orders").order_date.to_pandas()
    assert dates.isna().tolist() == [True] * len(ODD_DATES) + [False, False, False, False]
    assert ds.canonical_table("interactions").occurred_at.to_pandas().notna().sum() == 3
    assert ds.table("orders").count().to_pyarrow().as_py() == 4  # a required date: rows left out
    e = [x for x in ds.exclusions() if x["table"] == "orders"]
    assert [(x["column"], x["rows"], x["examples"]) for x in e] == [("order_date", 10, [1, 2, 3, 4, 5])]


def test_out_of_range_dates_stored_by_a_database_become_empty(tmp_path):
    f = tmp_path / "odd.duckdb"
    con = duckdb.connect(str(f))
    con.execute("CREATE TABLE orders AS SELECT * FROM (VALUES ('a', DATE '2024-01-01', 1.0), ('b', 'infinity'::DATE, 2.0), "
                "('c', '-infinity'::DATE, 3.0), ('d', DATE '0001-01-01', 4.0), ('e', DATE '5881580-07-10', 5.0)) "
                "t(customer_id, order_date, revenue)")
    con.execute("CREATE TABLE interactions AS SELECT * FROM (VALUES ('a', 'infinity'::TIMESTAMP, 'call'), "
                "('a', TIMESTAMP '2024-01-01 10:00', 'call')) t(customer_id, occurred_at, kind)")
    con.close()
    ds = open_data(f)
    assert ds.canonical_table("orders").order_date.to_pandas().notna().tolist() == [True, False, False, False, False]
    assert ds.table("orders").customer_id.to_pandas().tolist() == ["a"]
    assert ds.table("interactions").count().to_pyarrow().as_py() == 1
    from salesbench.core.validate import validate

    f_ = [x for x in validate(ds).findings if x.check == "unparsable_value" and x.table == "orders"]
    assert len(f_) == 1 and f_[0].rows == 4 and f_[0].examples[ROW_COL].tolist() == [2, 3, 4, 5]
    assert "outside 1900-2200" in f_[0].message


ROW_COL = "row"


def test_header_only_csv_says_the_table_has_no_rows(tmp_path):
    from salesbench.core.dataset import EmptyTables
    from salesbench.report.results import Results

    _write(tmp_path, "orders.csv", "order_id,customer_id,order_date,revenue\n")
    ds = open_data(tmp_path)
    assert ds.empty_tables() == {"orders": "orders has no rows (orders.csv)"}
    res = Results("churn", tmp_path / "out")
    with pytest.raises(EmptyTables, match=r"orders has no rows \(orders\.csv\)") as err:
        ds.require(*declaration("churn").requires, analysis="churn", res=res)
    assert isinstance(err.value, MissingTables)  # notebooks and the runner treat it as a skip
    assert res.status == "skipped" and res.reason == "orders has no rows (orders.csv)"


# --------------------------------------------------------------------------- duplicate keys
def test_exact_duplicate_rows_are_dropped_and_conflicting_keys_stop(tmp_path):
    from salesbench.core.dataset import DuplicateKeys

    _write(tmp_path, "orders.csv", "order_id,line_no,customer_id,order_date,revenue,product_id\n"
                                   "O1,1,c1,2024-01-01,10,P1\nO2,1,c1,2024-01-02,5,P2\nO1,1,c1,2024-01-01,10,P1\n")
    _write(tmp_path, "products.csv", "product_id,product_line\nP1,a\nP2,b\nP1,a\nP1,a\nP2,b\n")
    _write(tmp_path, "customers.csv", "customer_id,region\nc1,North\nc2,South\nc1,South\nc2,West\nc3,East\n")
    ds = open_data(tmp_path)
    assert ds.table("products").count().to_pyarrow().as_py() == 2
    assert ds.table("orders").revenue.sum().to_pyarrow().as_py() == 15.0
    ex = {e["table"]: (e["rows"], e["examples"], e["reason"]) for e in ds.exclusions(["orders", "products"])}
    assert ex == {"orders": (1, [3], "exact copies of another row"), "products": (3, [3, 4, 5], "exact copies of another row")}
    with pytest.raises(DuplicateKeys) as err:
        ds.table("customers")
    e = err.value
    assert (e.table, e.key, e.n_keys) == ("customers", ("customer_id",), 2)
    assert e.examples == [(("c1",), [1, 3]), (("c2",), [2, 4])]
    assert str(e).startswith("customers.csv: table customers has 2 customer_id values on several rows with different values "
                             "(first: 'c1' in rows 1, 3; 'c2' in rows 2, 4)")
    with pytest.raises(DuplicateKeys, match="customers.csv"):
        ds.check_keys()
    ds.check_keys(["orders", "products"])  # no conflict there
    assert isinstance(e, DataError)  # the CLI exits 2 on it


def test_exclusion_filters_compile_for_postgres():
    """The filters are portable ibis (isnan/isinf, COUNT FILTER), no DuckDB-only cast of booleans."""
    import ibis

    ds = sb.Dataset.from_frames({"orders": pd.DataFrame({
        "customer_id": ["a"], "order_date": pd.to_datetime(["2024-01-01"]), "revenue": [1.0]}),
        "stage_history": pd.DataFrame({"opportunity_id": ["o"], "stage": ["lead"],
                                       "entered_at": pd.to_datetime(["2024-01-01 10:00"])})})
    for name in ("orders", "stage_history"):
        t = ds.canonical_table(name)
        rules = ds._row_rules(name, t)
        sql = ibis.to_sql(t.aggregate(**{f"r{i}": t.count(where=r[3](t)) for i, r in enumerate(rules)}), dialect="postgres")
        assert "FILTER" in sql and "AS BIGINT" not in sql.upper().replace("CAST(NULL", "")


def test_postgres_rows_left_out_match_duckdb(pg_server):
    """NaN, Infinity, 1e300, infinite and future dates, duplicate keys on a real PostgreSQL server."""
    import pgserver

    pg_server.create_database("odd")
    with pg_server.connect("odd") as c:
        c.execute("CREATE TABLE orders (order_id text, line_no int, customer_id text, order_date date, "
                  "revenue double precision, cost numeric)")
        c.execute("INSERT INTO orders VALUES ('O1',1,'a','2024-01-01',10,1), ('O2',1,'a','2024-01-02','NaN',1), "
                  "('O3',1,'b','2024-01-03','Infinity',1), ('O4',1,'b','2024-01-04','-Infinity',NULL), "
                  "('O5',1,'b','2024-01-05',1e300,1), ('O6',1,'c','infinity',5,1), ('O7',1,'c','2100-01-01',5,1), "
                  "('O8',1,'c',NULL,5,1), ('O1',1,'a','2024-01-01',10,1)")
        c.execute("CREATE TABLE products (product_id text, product_line text)")
        c.execute("INSERT INTO products VALUES ('P1','a'), ('P1','b'), ('P2','c'), ('P2','c')")
    url = pg_server.url("odd", pgserver.USER, pgserver.PASSWORD)
    ds = open_data(url)
    assert ds.table("orders").order_id.to_pandas().tolist() == ["O1"]
    got = sorted((e["column"] or "", e["check"], e["rows"], tuple(e["examples"])) for e in ds.exclusions(["orders"]))
    assert got == sorted([("revenue", "nonfinite_values", 3, (2, 3, 4)), ("revenue", "implausible_values", 1, (5,)),
                          ("order_date", "required_value_missing", 2, (6, 8)), ("order_date", "future_dates", 1, (7,)),
                          ("", "exact_duplicates", 1, (9,))])
    from salesbench.core.dataset import DuplicateKeys

    with pytest.raises(DuplicateKeys, match=r"table products has 1 product_id value .*'P1' in rows 1, 2"):
        ds.check_keys()


def test_require_needs_the_table_names():
    """core does not look up what a report needs (that is params/<name>.yaml, a higher layer): the caller passes it."""
    ds = sb.Dataset.from_frames({"orders": pd.DataFrame({"customer_id": ["a"], "revenue": [1.0]})})
    with pytest.raises(TypeError, match="needs the names of the tables"):
        ds.require(analysis="churn")
    assert ds.require("orders", analysis="churn") == []  # no res: nothing recorded, nothing to show
