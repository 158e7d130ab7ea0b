"""Source specs: the shipped CDNOW examples and every mapping feature on hand-made exports."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from salesbench.data import open_data
from salesbench.sourcespec import SpecError, open_spec
from salesbench.validate import validate

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "params" / "sources"


def _orders(ds) -> pd.DataFrame:
    o = ds.table("orders")
    return o.aggregate(n=o.count(), customers=o.customer_id.nunique(), revenue=o.revenue.sum(),
                       quantity=o.quantity.sum(), first=o.order_date.min(), last=o.order_date.max()).to_pandas().iloc[0]


def test_cdnow_sample_spec_matches_an_independent_pandas_read(cdnow_sample):
    ds = open_data(SPECS / "cdnow_sample.yaml")
    got = _orders(ds)
    raw = pd.read_csv(cdnow_sample, sep=r"\s+", header=None, names=["id", "sid", "date", "cds", "dollars"],
                      dtype={"id": str, "sid": str, "date": str})
    assert got.n == len(raw) == 6919
    assert got.customers == raw.id.nunique() == 2357
    assert got.revenue == pytest.approx(raw.dollars.sum(), abs=1e-6)
    assert got.quantity == raw.cds.sum()
    assert pd.Timestamp(got["first"]) == pd.Timestamp("1997-01-01") and pd.Timestamp(got["last"]) == pd.Timestamp("1998-06-30")
    df = ds.table("orders").order_by(["customer_id", "order_date"]).limit(1).to_pandas()
    assert df.customer_id.iloc[0] == "00004"  # ids stay strings with their leading zeros
    assert df.channel.iloc[0] == "online"  # constant column
    assert ds.label == "CDNOW 1/10 sample"


def test_cdnow_master_spec_matches_an_independent_pandas_read(cdnow_master):
    ds = open_data(SPECS / "cdnow_master.yaml")
    got = _orders(ds)
    raw = pd.read_csv(cdnow_master, sep=r"\s+", skiprows=1, header=None, names=["id", "date", "cds", "dollars"],
                      dtype={"id": str, "date": str})
    assert got.n == len(raw) == 69659
    assert got.customers == raw.id.nunique() == 23570
    assert got.revenue == pytest.approx(raw.dollars.sum(), abs=1e-6)
    dates = pd.to_datetime(raw.date, format="%Y%m%d")
    assert pd.Timestamp(got["first"]) == dates.min() and pd.Timestamp(got["last"]) == dates.max()


def test_whitespace_export_with_files_glob_env_var_and_conversions(tmp_path, monkeypatch):
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "2024a.txt").write_text("  7   20240131   2   1250\r\n8 20240201 1 99\r\n\r\n")
    (exports / "2024b.txt").write_text("7\t20240305\t3\t5\n")
    monkeypatch.setenv("SB_TEST_EXPORTS", str(exports))
    spec = tmp_path / "legacy.yaml"
    spec.write_text(
        "name: legacy export\n"
        "tables:\n"
        "  orders:\n"
        "    files: $SB_TEST_EXPORTS/2024*.txt\n"
        "    delimiter: whitespace\n"
        "    columns: [cust, day, qty, cents]\n"
        "    map:\n"
        "      customer_id: 1\n"
        "      order_date: {from: day, format: '%Y%m%d'}\n"
        "      quantity: {from: qty, type: int}\n"
        "      revenue: {from: cents, multiply: 0.01}\n"
        "    constants: {channel: store, promo: false}\n"
    )
    ds = open_spec(spec)
    df = ds.table("orders").order_by("order_date").to_pandas()
    assert df.customer_id.tolist() == ["7", "8", "7"]
    assert [d.date() for d in pd.to_datetime(df.order_date)] == [dt.date(2024, 1, 31), dt.date(2024, 2, 1), dt.date(2024, 3, 5)]
    assert df.quantity.tolist() == [2.0, 1.0, 3.0]
    assert df.revenue.tolist() == pytest.approx([12.50, 0.99, 0.05])
    assert set(df.channel) == {"store"} and not df.promo.any()
    assert len(ds.files) == 2


def test_delimited_export_with_header_skip_rows_and_days_since(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sales.csv").write_text(
        "exported by ERP 9\n"
        "Kunde;Tag;Betrag;Region\n"
        "A-1;0;10,5;Nord\n"
        "A-2;31;3;Sud\n"
        "A-1;x;4;Nord\n"
    )
    spec = tmp_path / "erp.yml"
    spec.write_text(
        "tables:\n"
        "  orders:\n"
        "    files: data/sales.csv\n"
        "    delimiter: ';'\n"
        "    header: true\n"
        "    skip_rows: 1\n"
        "    map:\n"
        "      customer_id: Kunde\n"
        "      order_date: {from: Tag, days_since: 2024-01-01}\n"
        "      revenue: Betrag\n"
    )
    ds = open_data(spec)
    df = ds.canonical_table("orders").to_pandas()  # every row; ds.table leaves the unusable ones out
    assert df.customer_id.tolist() == ["A-1", "A-2", "A-1"]
    assert pd.to_datetime(df.order_date).dt.date.tolist()[:2] == [dt.date(2024, 1, 1), dt.date(2024, 2, 1)]
    # "10,5" (decimal comma) and day "x" do not parse: NULL at query time, reported by validation
    assert df.revenue.isna().tolist() == [True, False, False]
    report = validate(ds)
    bad = {(f.check, f.column): f for f in report.schema_errors}
    assert bad[("unparsable_value", "revenue")].rows == 1
    assert bad[("unparsable_value", "order_date")].rows == 1
    assert "sales.csv (spec erp.yml, table orders)" in bad[("unparsable_value", "revenue")].message
    assert "'10,5'" in bad[("unparsable_value", "revenue")].message
    assert report.exit_code == 2


@pytest.mark.parametrize(
    "body, key",
    [
        ("tables:\n  orders:\n    files: x.txt\n    columns: [a]\n", "tables.orders.files"),
        ("tables:\n  ordres:\n    files: x.txt\n", "tables.ordres"),
        ("tables:\n  orders:\n    file: data.txt\n    columns: [a, b]\n    map: {customer_id: 3}\n", "tables.orders.map.customer_id"),
        ("tables:\n  orders:\n    file: data.txt\n    columns: [a, b]\n    map: {customer_id: {from: a, multiply: two}}\n",
         "tables.orders.map.customer_id.multiply"),
        ("tables:\n  orders:\n    file: data.txt\n    columns: [a, b]\n    map: {order_date: {from: b, fmt: '%Y'}}\n",
         "tables.orders.map.order_date.fmt"),
        ("tables:\n  orders:\n    file: data.txt\n    map: {customer_id: a}\n", "tables.orders.columns"),
        ("tables:\n  orders:\n    file: data.txt\n    columns: [a, b]\n    header: maybe\n", "tables.orders.header"),
        ("tables:\n  orders:\n    file: data.txt\n    columns: [a, b]\n    map: {revnue: a}\n", "tables.orders.map.revnue"),
        ("tables:\n  orders:\n    dataset: cdnow_full\n", "tables.orders.dataset"),
        ("tabels: {}\n", "tabels"),
        ("tables:\n  orders:\n    file: data.txt\n    columns: [a, b]\n    constants: {order_date: someday}\n",
         "tables.orders.constants.order_date"),
    ],
)
def test_spec_errors_name_the_file_and_the_key(tmp_path, body, key):
    (tmp_path / "data.txt").write_text("1,2\n")
    spec = tmp_path / "bad.yaml"
    spec.write_text(body)
    with pytest.raises(SpecError) as err:
        open_spec(spec)
    msg = str(err.value)
    assert str(spec) in msg and f": {key}:" in msg


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        open_spec(tmp_path / "nope.yaml")
