"""salesbench.io: every source kind (DuckDB file, folder, database URL, demo), the registry's order, clear errors."""
from __future__ import annotations

import socket
from pathlib import Path

import duckdb
import pytest

from salesbench.core.dataset import Dataset
from salesbench.core.errors import DataError, SpecError
from salesbench.io import kinds
from salesbench.io.sources import SOURCE_KINDS, open_data, parse_demo_source


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / name
    f.write_text(text)
    return f


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


@pytest.mark.parametrize("body,line,fields", [
    ("1,2024-01-01,C1,10\n2,2024-01-02,C2\n3,2024-01-03,C3,5\n", 3, 3),
    ("1,2024-01-01,C1,10\n2,2024-01-02,C2,4\n3,2024-01-03,C3,5,9\n", 4, 5),
    ("".join(f"{i},2024-01-01,C{i},10\n" for i in range(30000)) + "x,2024-01-01,C9\n", 30002, 3),
])
def test_ragged_csv_row_names_the_file_and_the_line(tmp_path, body, line, fields):
    _write(tmp_path, "orders.csv", "order_id,order_date,customer_id,revenue\n" + body)
    with pytest.raises(DataError) as err:
        open_data(tmp_path)
    msg = str(err.value)
    assert "orders.csv" in msg and f"line {line} has {fields} fields but the header line has 4" in msg


# --------------------------------------------------------------------------- the registry
def test_source_kinds_are_tried_in_order():
    assert list(SOURCE_KINDS) == ["demo", "database", "spec", "duckdb", "folder"]
    assert SOURCE_KINDS["database"].matches("postgres://ann@h/x.yaml")  # a URL wins over a .yaml ending
    assert not SOURCE_KINDS["spec"].matches("sales.duckdb") and SOURCE_KINDS["spec"].matches("x.YML")


def test_a_folder_named_like_a_spec_is_a_spec_error(tmp_path):
    (tmp_path / "export.yaml").mkdir()
    with pytest.raises(SpecError, match="is a folder, not a YAML file"):
        open_data(tmp_path / "export.yaml")


def test_an_unknown_file_names_the_kinds_and_hides_passwords(tmp_path):
    f = _write(tmp_path, "sales.txt", "x")
    with pytest.raises(DataError, match=r"expected 'demo', a folder of CSV/Parquet files, a \.duckdb file"):
        open_data(f)
    with pytest.raises(DataError) as err:
        open_data("nowhere/password=hunter2")
    assert "hunter2" not in str(err.value) and "does not exist" in str(err.value)


def test_a_registered_kind_opens_its_sources(monkeypatch):
    ds = Dataset.from_frames({})
    monkeypatch.setattr(kinds, "SOURCE_KINDS", dict(SOURCE_KINDS))  # leave the real registry untouched
    import salesbench.io.sources as sources

    monkeypatch.setattr(sources, "SOURCE_KINDS", kinds.SOURCE_KINDS)
    kinds.register("memory", lambda text: text == "memory", lambda text: ds, rank=5)
    assert list(kinds.SOURCE_KINDS)[:2] == ["demo", "memory"]
    assert open_data("memory") is ds
