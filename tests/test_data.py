"""salesbench.data: sources, canonical types, try_cast on bad values, secrets never shown."""
from __future__ import annotations

import socket
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import salesbench as sb
from salesbench.data import DataError, MissingTables, SchemaError, open_data, parse_demo_source, redact


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
    df = ds.table("orders").order_by("order_id").to_pandas()  # bad values do not raise at query time
    assert df.customer_id.tolist() == ["0042", "0043", "0042"]
    assert df.order_date.isna().tolist() == [False, True, False]
    assert df.revenue.isna().tolist() == [False, False, True]
    assert df.promo.tolist()[:2] == [True, False]
    raw = ds.raw_table("orders").order_by("order_id").to_pandas()
    assert raw.order_date.tolist()[1] == "2024-13-01"  # the raw text stays available to validation


def test_duckdb_file_source(tmp_path):
    f = tmp_path / "sales.duckdb"
    con = duckdb.connect(str(f))
    con.execute("CREATE TABLE orders AS SELECT 'c' || (i % 3) AS customer_id, DATE '2024-01-01' + CAST(i AS INTEGER) AS order_date, "
                "i * 1.5 AS revenue FROM range(10) t(i)")
    con.execute("CREATE TABLE notes AS SELECT 1 AS x")
    con.close()
    ds = open_data(f)
    assert ds.tables == ["orders"] and ds.label == "duckdb sales.duckdb"
    t = ds.table("orders")
    assert t.revenue.sum().to_pyarrow().as_py() == pytest.approx(1.5 * 45)
    assert t.customer_id.nunique().to_pyarrow().as_py() == 3
    with pytest.raises(DataError, match="does not exist"):
        open_data(tmp_path / "nope.duckdb")


def test_folder_errors_and_unknown_sources(tmp_path):
    with pytest.raises(DataError, match="holds no canonical table"):
        open_data(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        open_data(tmp_path / "missing-folder")
    with pytest.raises(DataError, match="unknown demo option 'size'"):
        parse_demo_source("demo:size=3")
    assert parse_demo_source("demo:seed=3,customers=800") == {"seed": 3, "customers": 800}
    assert parse_demo_source("demo:seed=2,dirty=true") == {"seed": 2, "dirty": True}


def test_fingerprint_changes_with_the_data(tmp_path):
    _write(tmp_path, "orders.csv", "customer_id,order_date,revenue\na,2024-01-01,1\n")
    fp1 = open_data(tmp_path).fingerprint()
    assert fp1 == open_data(tmp_path).fingerprint()
    _write(tmp_path, "orders.csv", "customer_id,order_date,revenue\na,2024-01-01,1\nb,2024-01-02,2\n")
    assert open_data(tmp_path).fingerprint() != fp1


def test_redact_removes_passwords_and_known_secrets():
    assert redact("postgres://ann:s3cr3t@db.example/sales") == "postgres://ann:***@db.example/sales"
    assert redact("host=x password=hunter2 user=y") == "host=x password=*** user=y"
    assert redact("failed for token abcdef", secrets=["abcdef"]) == "failed for token ***"


def test_postgres_connection_error_never_shows_the_password(monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "env-pw-9876")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgres://ann:url-pw-1234@127.0.0.1:{port}/sales"
    with pytest.raises(DataError) as err:
        open_data(url)
    msg = str(err.value)
    assert "cannot connect to postgres://ann:***@127.0.0.1" in msg
    assert "url-pw-1234" not in msg and "env-pw-9876" not in msg


@pytest.fixture(scope="module")
def postgres_server(pg_server):
    """Database ``typed`` on the throw-away server: ids stored as integers, money as numeric, promo as 0/1."""
    import pgserver

    pg_server.create_database("typed")
    with pg_server.connect("typed") as c:
        c.execute("CREATE TABLE orders (customer_id integer, order_date date, revenue numeric(10,2), promo bigint)")
        c.execute("INSERT INTO orders VALUES (1, '2024-01-01', 10.50, 1), (2, '2024-01-03', 4.25, 0), "
                  "(1, '2024-02-01', 5.00, NULL)")
    return pg_server.port, pgserver.USER, pgserver.PASSWORD


def test_postgres_source_with_password_from_url_or_environment(postgres_server, monkeypatch):
    port, user, pw = postgres_server
    ds = open_data(f"postgres://{user}:{pw}@127.0.0.1:{port}/typed")
    assert pw not in ds.label and "***" in ds.label
    t = ds.table("orders")
    assert str(t.schema()["customer_id"]) == "string" and t.schema()["revenue"].is_float64()
    assert t.revenue.sum().to_pyarrow().as_py() == pytest.approx(19.75)
    assert t.promo.type().is_boolean()  # PostgreSQL has no bigint -> boolean cast
    assert t.order_by("order_date").promo.to_pyarrow().to_pylist() == [True, False, None]
    monkeypatch.setenv("PGPASSWORD", pw)
    ds2 = open_data(f"postgres://{user}@127.0.0.1:{port}/typed")
    assert ds2.row_counts() == {"orders": 3}
    monkeypatch.setenv("PGPASSWORD", "wrong-pw-5555")
    with pytest.raises(DataError) as err:
        open_data(f"postgres://{user}@127.0.0.1:{port}/typed")
    assert "wrong-pw-5555" not in str(err.value)


def test_demo_source_opens_the_small_demo_folder(small_demo):
    ds = open_data(small_demo)
    truth = ds.truth
    assert truth is not None and truth["n_customers"] == 600
    assert ds.row_counts()["customers"] == 600
    assert ds.truth_customers() is not None
    o = ds.table("orders")
    assert o.schema()["order_date"].is_date()
    assert o.count().to_pyarrow().as_py() == truth["rows"]["orders"]
