"""Chinese exports as input: the GBK, Chinese-headed export of the demo company through the shipped spec
``params/sources/example_cn_gbk.yaml`` (validate, run, errors naming the column as the file writes it)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from salesbench.datasets import cn_export
from salesbench.io.sources import open_data
from salesbench.io.sourcespec import SpecError, open_spec

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "params" / "sources" / "example_cn_gbk.yaml"
SEED, CUSTOMERS = 1, 300
#: churn as tests/analyses/test_contract.py's FAST settings (MAP fit, no early-warning model)
CHURN_FAST = {"churn.fit_method": "map", "churn.early_warning": False, "churn.max_pred_draws": 50}


def _cli(capsys, *args) -> tuple[int, str]:
    from salesbench.cli import main

    code = main(list(map(str, args)))
    out = capsys.readouterr()
    return code, out.err + out.out


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A private cache (the small demo and the UTF-8 copies of the GBK files go there) and the export
    written by ``salesbench demo --format cn-gbk``; yields the environment variables the spec needs."""
    cache = tmp_path_factory.mktemp("cn_cache")
    folder = tmp_path_factory.mktemp("cn") / "export"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SALESBENCH_CACHE", str(cache))
        from salesbench.cli import main

        assert main(["demo", "--format", "cn-gbk", "--seed", str(SEED), "--customers", str(CUSTOMERS),
                     "--out", str(folder)]) == 0
        mp.setenv("SALESBENCH_CN_EXPORT", str(folder))
        yield {"SALESBENCH_CACHE": str(cache), "SALESBENCH_CN_EXPORT": str(folder)}


@pytest.fixture(scope="module")
def demo_folder(env) -> Path:
    from salesbench.datasets.demo import ensure_demo

    return ensure_demo(seed=SEED, customers=CUSTOMERS)  # the cached copy the export was made from


def _corrupt(env, tmp_path, monkeypatch, change) -> Path:
    folder = tmp_path / "export"
    shutil.copytree(env["SALESBENCH_CN_EXPORT"], folder)
    change(folder)
    monkeypatch.setenv("SALESBENCH_CN_EXPORT", str(folder))
    return folder


# --------------------------------------------------------------------------- the export and the spec
def test_export_files_are_gbk_with_chinese_headers_and_values(env):
    folder = Path(env["SALESBENCH_CN_EXPORT"])
    assert sorted(p.name for p in folder.iterdir()) == ["customers.csv", "orders.csv", "reps.csv"]
    raw = (folder / "orders.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # really GBK, not UTF-8
    head = raw.decode("gbk").splitlines()
    assert head[0] == "订单编号,行号,订单日期,客户编号,产品编号,数量,单价,折扣,销售额,成本,渠道,促销,销售代表编号"
    first = head[1].split(",")
    assert first[2].count("/") == 2 and first[10] in cn_export.CHANNELS_CN.values() and first[11] in ("是", "否")
    customers = pd.read_csv(folder / "customers.csv", encoding="gbk", dtype=str)
    assert set(customers["区域"]) <= set(cn_export.REGIONS_CN.values())
    assert customers["客户名称"].str.endswith("有限公司").all()


def test_gbk_export_validates_through_the_shipped_spec_with_the_demos_counts(env, demo_folder, capsys):
    code, text = _cli(capsys, "validate", "--data", SPEC, "--json")
    assert code == 0, text
    report = json.loads(text[text.index("{"):])
    assert report["schema_errors"] == report["quality_problems"] == [] and "dropped 9 duplicate rows of 309 (key 客户编号" in report["notes"][0]
    ds = open_data(str(SPEC))
    demo = open_data(str(demo_folder))
    assert sorted(ds.tables) == ["customers", "orders", "reps"]
    assert ds.row_counts() == {t: demo.row_counts()[t] for t in ds.tables}  # after the dedupe rule
    # the dedupe rule (key 客户编号, latest by 更新日期) dropped each customer's older row and kept the current owner
    (dd,) = ds.dedupe.values()
    stale = round(cn_export.OLD_ROW_SHARE * CUSTOMERS)
    assert dd.key == ["客户编号"] and dd.rows_before == CUSTOMERS + stale and dd.dropped == stale
    got = ds.table("customers").to_pandas().set_index("customer_id").sort_index()
    want = pd.read_parquet(demo_folder / "customers.parquet").set_index("customer_id").sort_index()
    assert (got["owner_rep_id"] == want["owner_rep_id"]).all()
    assert (got["channel"] == want["channel"]).all()  # 直销/经销商/线上/门店 mapped back by the spec's expr
    assert (got["region"] == want["region"].map(cn_export.REGIONS_CN)).all()
    assert (pd.to_datetime(got["signup_date"]) == pd.to_datetime(want["signup_date"])).all()
    # order lines: every canonical column equals the demo's (dates from 2025/3/7, promo from 是/否)
    cols = ["order_id", "line_no", "order_date", "customer_id", "product_id", "quantity", "unit_price", "discount",
            "revenue", "cost", "rep_id", "channel", "promo"]
    o = ds.table("orders").to_pandas()[cols].sort_values(["order_id", "line_no"]).reset_index(drop=True)
    w = pd.read_parquet(demo_folder / "orders.parquet")[cols].sort_values(["order_id", "line_no"]).reset_index(drop=True)
    o["order_date"], w["order_date"] = pd.to_datetime(o["order_date"]), pd.to_datetime(w["order_date"])
    pd.testing.assert_frame_equal(o, w, check_dtype=False)


def test_spec_run_segmentation_and_churn_end_to_end(env, demo_folder, run_report, tmp_path):
    """Through Papermill on the GBK export; the results equal a fit on the demo's own tables."""
    run = run_report(["segmentation", "churn"], data=str(SPEC), args=["-j", "2"], params=CHURN_FAST, env=env,
                     timeout=600)
    assert run.proc.returncode == 0, run.proc.stdout + run.proc.stderr
    seg, churn = run.results["segmentation"], run.results["churn"]
    assert seg["status"] == "ok" and churn["status"] == "ok"

    # the same tables from the demo's Parquet files, fitted in this process
    same = tmp_path / "same"
    same.mkdir()
    for t in ("orders", "customers", "reps"):
        shutil.copy(demo_folder / f"{t}.parquet", same / f"{t}.parquet")
    from salesbench.analyses.segmentation.model import Segmentation
    from salesbench.report import params

    ref = Segmentation.from_params(params.validate("segmentation", {}).as_dict()).fit(open_data(str(same))).results()
    assert seg["n_customers"] == ref["n_customers"] == CUSTOMERS - _never_bought(demo_folder)
    assert {k: v["customers"] for k, v in seg["rfm_segments"].items()} == \
        {k: v["customers"] for k, v in ref["rfm_segments"].items()}
    assert {k: v["customers"] for k, v in seg["tiers"].items()} == {k: v["customers"] for k, v in ref["tiers"].items()}
    assert seg["total_revenue"] == pytest.approx(ref["total_revenue"], rel=1e-12)
    assert seg["clusters"]["sizes"] == ref["clusters"]["sizes"]
    # churn: known answers from the demo's orders (customers with an order by the calibration end; holdout days)
    orders = pd.read_parquet(demo_folder / "orders.parquet", columns=["customer_id", "order_date"])
    orders["order_date"] = pd.to_datetime(orders["order_date"])
    assert churn["n_customers"] == orders["customer_id"].nunique()
    cal_end = pd.Timestamp(churn["model_choice"]["calibration_end"])
    cal = set(orders.loc[orders["order_date"] <= cal_end, "customer_id"])
    hold = orders[(orders["order_date"] > cal_end) & orders["customer_id"].isin(cal)]
    assert churn["model_choice"]["table"][0]["actual_total"] == len(hold.drop_duplicates())
    # the Chinese region names reach the published tables as the export writes them
    by = pd.read_csv(run.out_dir / "churn.revenue_at_risk_by.csv")
    assert set(by.loc[by["by"] == "region", "group"]) == set(cn_export.REGIONS_CN.values())


def _never_bought(demo_folder: Path) -> int:
    customers = pd.read_parquet(demo_folder / "customers.parquet", columns=["customer_id"])
    orders = pd.read_parquet(demo_folder / "orders.parquet", columns=["customer_id"])
    return int((~customers["customer_id"].isin(orders["customer_id"])).sum())


# --------------------------------------------------------------------------- a corrupted export
def _bad_dates(folder: Path) -> None:
    """Data rows 5 and 9 of orders.csv get dates that do not parse (2025年3月7日, 2025/13/40); row 12 no 客户编号."""
    f = folder / "orders.csv"
    lines = f.read_bytes().split(b"\r\n")  # line 0 is the header: data row k is lines[k]
    for k, field, value in ((5, 2, "2025年3月7日"), (9, 2, "2025/13/40"), (12, 3, "")):
        parts = lines[k].split(b",")
        parts[field] = value.encode("gbk")
        lines[k] = b",".join(parts)
    f.write_bytes(b"\r\n".join(lines))


def test_bad_date_in_the_chinese_date_column_names_it_the_rows_and_the_file(env, tmp_path, monkeypatch, capsys):
    _corrupt(env, tmp_path, monkeypatch, _bad_dates)
    code, text = _cli(capsys, "validate", "--data", SPEC)
    assert code == 2, text
    line = next(ln for ln in text.splitlines() if "unparsable_value" in ln)
    for words in ("orders.csv", "column '订单日期' (order_date) has 2 values that do not parse as date",
                  "row 5: 订单编号=", "订单日期='2025年3月7日'", "row 9:", "订单日期='2025/13/40'",
                  "rows need a valid 订单日期"):
        assert words in line, (words, line)
    line = next(ln for ln in text.splitlines() if "null_key" in ln)
    assert "orders.csv" in line and "required column '客户编号' (customer_id) is empty in 1 row (first: row 12:" in line
    # the rows a report leaves out say so in the same words
    ds = open_data(str(SPEC))
    (ex,) = [e for e in ds.exclusions(["orders"]) if e["column"] == "order_date"]
    assert ex["field"] == "订单日期" and ex["rows"] == 2 and ex["examples"] == [5, 9]
    assert ds.exclusion_sentences(["orders"]) == [
        "2 orders rows left out: 订单日期 (order_date) empty, not a date or outside 1900-2200 (rows 5, 9)."]


def test_utf8_file_declared_gbk_says_so(env, tmp_path, monkeypatch, capsys):
    def to_utf8(folder):
        f = folder / "orders.csv"
        f.write_bytes(f.read_bytes().decode("gbk").encode("utf-8"))

    folder = _corrupt(env, tmp_path, monkeypatch, to_utf8)
    code, text = _cli(capsys, "validate", "--data", SPEC)
    assert code == 2 and "Traceback" not in text and len(text.strip().splitlines()) == 1, text
    assert f"tables.orders.encoding: {folder / 'orders.csv'}: line 1 is UTF-8 text, not gbk" in text
    assert "encoding: utf-8" in text


def test_missing_chinese_column_is_named_as_written_with_its_file(env, tmp_path, monkeypatch, capsys):
    def drop_region(folder):
        f = folder / "customers.csv"
        pd.read_csv(f, encoding="gbk", dtype=str).drop(columns=["区域"]).to_csv(f, index=False, encoding="gbk")

    _corrupt(env, tmp_path, monkeypatch, drop_region)
    code, text = _cli(capsys, "validate", "--data", SPEC)
    assert code == 2 and "Traceback" not in text and len(text.strip().splitlines()) == 1, text
    assert "tables.customers.map.region: no field named '区域' in customers.csv (fields: 客户编号, 客户名称," in text


def test_unset_export_variable_is_named(env, monkeypatch, capsys):
    monkeypatch.delenv("SALESBENCH_CN_EXPORT")
    code, text = _cli(capsys, "validate", "--data", SPEC)
    assert code == 2 and len(text.strip().splitlines()) == 1, text
    assert "tables.orders.file: '${SALESBENCH_CN_EXPORT}/orders.csv' uses the environment variable " \
           "SALESBENCH_CN_EXPORT, which is not set" in text


# --------------------------------------------------------------------------- Chinese names in every spec key
def test_chinese_names_in_map_expr_dedupe_and_latest_by(tmp_path, monkeypatch):
    monkeypatch.setenv("SALESBENCH_CACHE", str(tmp_path / "cache"))
    rows = ["单号,日期,客户,金额（元）,成本,版本", "A1,2025/1/5,甲,100,60,1", "A1,2025/1/5,甲,120,70,2",
            "A2,2025/2/6,乙,50,20,1", "A3,2025/3/7,丙,10,4,1"]
    (tmp_path / "x.csv").write_bytes("\r\n".join(rows).encode("gb18030"))
    (tmp_path / "s.yaml").write_text(
        "tables:\n  orders:\n    file: x.csv\n    encoding: gb18030\n    header: true\n"
        "    dedupe: {key: [单号, 客户], keep: {latest_by: number(版本)}}\n"
        "    map:\n      order_id: 单号\n      order_date: {from: 日期, format: '%Y/%m/%d'}\n      customer_id: 客户\n"
        "      revenue: {expr: \"number(field('金额（元）'))\"}\n      cost: {expr: 成本 * 1}\n"
        "      discount: {expr: \"(field('金额（元）') - 成本) / field('金额（元）')\"}\n", encoding="utf-8")
    ds = open_spec(tmp_path / "s.yaml")
    o = ds.table("orders").to_pandas().sort_values("order_id")
    assert list(o["revenue"]) == [120.0, 50.0, 10.0] and list(o["cost"]) == [70.0, 20.0, 4.0]
    assert o["discount"].round(4).tolist() == [round(50 / 120, 4), 0.6, 0.6]
    assert ds.dedupe["orders"].dropped == 1
    assert ds.field_names["orders"] == {"order_id": "单号", "order_date": "日期", "customer_id": "客户",
                                        "revenue": "金额（元）", "cost": "成本",
                                        "discount": "(field('金额（元）') - 成本) / field('金额（元）')"}


def test_bare_names_match_headers_written_with_compatibility_characters(tmp_path):
    # Python reads the bare name ｑｔｙ (full-width) as qty (NFKC); the header keeps ｑｔｙ
    (tmp_path / "x.csv").write_text("id,day,ｑｔｙ,价格\nA,2025-01-05,3,2.5\n", encoding="utf-8")
    (tmp_path / "s.yaml").write_text(
        "tables:\n  orders:\n    file: x.csv\n    header: true\n"
        "    map: {customer_id: id, order_date: day, revenue: {expr: ｑｔｙ * 价格}}\n", encoding="utf-8")
    assert open_spec(tmp_path / "s.yaml").table("orders").revenue.sum().to_pyarrow().as_py() == 7.5


def test_unknown_chinese_name_in_an_expression_names_the_file(tmp_path):
    (tmp_path / "x.csv").write_text("客户,日期,金额\nA,2025-01-05,3\n", encoding="utf-8")
    (tmp_path / "s.yaml").write_text(
        "tables:\n  orders:\n    file: x.csv\n    header: true\n"
        "    map: {customer_id: 客户, order_date: 日期, revenue: {expr: 销售额 * 1}}\n", encoding="utf-8")
    with pytest.raises(SpecError, match=r"tables\.orders\.map\.revenue\.expr: unknown name '销售额'; available "
                                        r"columns: 客户, 日期, 金额 \(the fields of x\.csv\)"):
        open_spec(tmp_path / "s.yaml")


def test_demo_cn_format_refuses_dirty(capsys, tmp_path):
    code, text = _cli(capsys, "demo", "--format", "cn-gbk", "--dirty", "--out", tmp_path / "x")
    assert code == 2 and "--dirty applies to --format parquet only" in text and not (tmp_path / "x").exists()


def test_cn_dates_have_no_leading_zeros_and_keep_empty_values():
    assert cn_export.cn_date(["2025-03-07", "2024-12-31", None]).tolist() == ["2025/3/7", "2024/12/31", ""]


@pytest.mark.parametrize("fmt", ["cn-gbk", "parquet"])
def test_demo_with_too_few_customers_exits_2_with_one_line(capsys, tmp_path, fmt):
    code, text = _cli(capsys, "demo", "--format", fmt, "--customers", "10", "--out", tmp_path / "x")
    assert code == 2 and "Traceback" not in text and len(text.strip().splitlines()) == 1, text
    assert "--customers 10: the demo company needs at least 50 customers" in text
