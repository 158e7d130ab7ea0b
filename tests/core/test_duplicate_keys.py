"""Duplicate dimension keys never multiply facts: per analysis, conflicting duplicates stop with
DuplicateKeys naming the table and key, exact copies give the same results as the de-duplicated data.

(A products table with repeated product_id rows once made the forecast 143x the real revenue.)
Each analysis is called through its public entry point, as its notebook calls it, on a small demo
company held in memory (``Dataset.from_frames``).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import salesbench as sb
from salesbench.core.errors import DuplicateKeys
from salesbench.report.params import declaration
from salesbench.report.results import Results


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> dict[str, pd.DataFrame]:
    from salesbench.datasets.demo import generate

    out = generate(tmp_path_factory.mktemp("dupdemo"), seed=4, customers=150)
    return {f.stem: pd.read_parquet(f) for f in Path(out).glob("*.parquet") if not f.stem.startswith("truth")}


def _with_copies(frames, table: str, n: int = 3, conflict: str | None = None) -> sb.Dataset:
    """The data with the first ``n`` rows of ``table`` repeated (exactly, or with column ``conflict`` changed)."""
    out = dict(frames)
    extra = frames[table].head(n).copy()
    if conflict is not None:
        extra[conflict] = extra[conflict].astype(str) + " (other)" if extra[conflict].dtype == object \
            else extra[conflict] * 2 + 1
    out[table] = pd.concat([frames[table], extra], ignore_index=True)
    return sb.Dataset.from_frames(out)


def _conflict(ds, analysis: str, table: str, key: str, tmp_path):
    """The notebook's set-up cell (``ds.require``) stops with DuplicateKeys naming table and key."""
    with pytest.raises(DuplicateKeys) as err:
        ds.require(*declaration(analysis).requires, analysis=analysis, res=Results(analysis, tmp_path))
    assert (err.value.table, err.value.key) == (table, (key,))
    assert f"table {table} has 3 {key} values on several rows with different values" in str(err.value)
    return err.value


def _states_copies(ds, table: str, tmp_path, analysis: str):
    res = Results(analysis, tmp_path)
    ds.require(*declaration(analysis).requires, analysis=analysis, res=res)
    assert {"table": table, "column": None, "reason": "exact copies of another row", "rows": 3,
            "check": "exact_duplicates"}.items() <= next(e for e in res.values["excluded_rows"] if e["table"] == table).items()


def test_segmentation(frames, tmp_path):
    from salesbench.analyses.segmentation import model as seg

    P = sb.params.load("segmentation", {"out_dir": str(tmp_path), "k": 3})  # fixed k: no search
    _conflict(_with_copies(frames, "customers", conflict="region"), "segmentation", "customers", "customer_id", tmp_path)
    with pytest.raises(DuplicateKeys, match="customers"):  # the entry point itself, without the set-up cell
        seg.Segmentation.from_params(P).fit(_with_copies(frames, "customers", conflict="region"))
    dup = _with_copies(frames, "customers")
    _states_copies(dup, "customers", tmp_path, "segmentation")
    a = seg.Segmentation.from_params(P).fit(dup).action_list_
    b = seg.Segmentation.from_params(P).fit(sb.Dataset.from_frames(frames)).action_list_
    pd.testing.assert_frame_equal(a, b)


def test_funnel(frames, tmp_path):
    from salesbench.analyses.funnel.model import Funnel

    stages = sb.params.defaults("funnel")["stages"]
    _conflict(_with_copies(frames, "opportunities", conflict="amount"), "funnel", "opportunities", "opportunity_id", tmp_path)
    with pytest.raises(DuplicateKeys, match="reps"):
        Funnel(stages=stages, pooled_by=[]).fit(_with_copies(frames, "reps", conflict="team"))
    dup = _with_copies(frames, "opportunities")
    _states_copies(dup, "opportunities", tmp_path, "funnel")
    a = Funnel(stages=stages, pooled_by=[]).fit(dup)
    b = Funnel(stages=stages, pooled_by=[]).fit(sb.Dataset.from_frames(frames))
    pd.testing.assert_frame_equal(a.conversion_, b.conversion_)
    pd.testing.assert_frame_equal(a.stuck_, b.stuck_)


FAST_FORECAST = {"models": ["seasonal_naive"], "deep_models": ["seasonal_naive"], "dimensions": ["product_line"],
                 "n_origins": 1, "horizon": 2, "reconciliation": "bottom_up"}


def test_forecasting(frames, tmp_path):
    from salesbench.analyses.forecasting import model as fc

    P = sb.params.load("forecasting", dict(FAST_FORECAST, out_dir=str(tmp_path)))
    _conflict(_with_copies(frames, "products", conflict="product_line"), "forecasting", "products", "product_id", tmp_path)
    with pytest.raises(DuplicateKeys, match=r"products\b.*product_id"):
        fc.SalesForecast.from_params(P).fit(_with_copies(frames, "products", conflict="product_line"))
    dup = _with_copies(frames, "products")
    _states_copies(dup, "products", tmp_path, "forecasting")
    a = fc.SalesForecast.from_params(P).fit(dup)
    b = fc.SalesForecast.from_params(P).fit(sb.Dataset.from_frames(frames))
    pd.testing.assert_frame_equal(a.series_.Y, b.series_.Y)  # history: revenue not multiplied by the join
    pd.testing.assert_frame_equal(a.forecast_, b.forecast_)
    total = a.series_.Y[a.series_.Y.unique_id == fc.TOTAL].y.sum()
    assert total == pytest.approx(frames["orders"].revenue[frames["orders"].order_date <= a.series_.as_of].sum(), rel=0.05)


def test_churn(frames, tmp_path):
    """The set-up cell stops on conflicting customers; the customer attributes and early-warning
    indicators (where churn reads customers and invoices) equal the de-duplicated ones. (The full
    model fit takes ~25 s and reads customers only through these functions.)"""
    from salesbench.analyses.churn import clv as churn
    from salesbench.analyses.churn import warning as churn_warning

    _conflict(_with_copies(frames, "customers", conflict="tier"), "churn", "customers", "customer_id", tmp_path)
    _conflict(_with_copies(frames, "invoices", conflict="amount"), "churn", "invoices", "invoice_id", tmp_path)
    with pytest.raises(DuplicateKeys, match="customers"):
        churn.customer_attributes(_with_copies(frames, "customers", conflict="tier"))
    clean = sb.Dataset.from_frames(frames)
    dup = _with_copies(_with_copies_frames(frames, "invoices"), "customers")
    _states_copies(dup, "customers", tmp_path, "churn")
    pd.testing.assert_frame_equal(_by_customer(churn.customer_attributes(dup)), _by_customer(churn.customer_attributes(clean)))
    as_of = pd.Timestamp(frames["orders"].order_date.max()) - pd.Timedelta(days=200)
    pd.testing.assert_frame_equal(_by_customer(churn_warning.warning_indicators(dup, as_of)),
                                  _by_customer(churn_warning.warning_indicators(clean, as_of)))


def _by_customer(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values("customer_id").reset_index(drop=True)


def _with_copies_frames(frames, table: str) -> dict[str, pd.DataFrame]:
    out = dict(frames)
    out[table] = pd.concat([frames[table], frames[table].head(3)], ignore_index=True)
    return out


def test_performance(frames, tmp_path):
    from salesbench.analyses.performance import model as performance

    P = sb.params.load("performance", {"out_dir": str(tmp_path), "trend_periods": 1, "relationships": []})
    _conflict(_with_copies(frames, "reps", conflict="region"), "performance", "reps", "rep_id", tmp_path)
    dup = _with_copies(_with_copies_frames(frames, "products"), "reps")
    _states_copies(dup, "reps", tmp_path, "performance")
    a = performance.PerformanceReview.from_params(P).fit(dup)
    b = performance.PerformanceReview.from_params(P).fit(sb.Dataset.from_frames(frames))
    for level in b.kpis_:
        pd.testing.assert_frame_equal(a.kpis_[level], b.kpis_[level])
    pd.testing.assert_frame_equal(a.pvm_previous_, b.pvm_previous_)


def test_data_quality(frames, tmp_path):
    """data_quality never raises: conflicting keys are a red finding naming table and key (the
    runner stops the other reports), exact copies are counted and stated as rows left out."""
    from salesbench.analyses.data_quality import model as quality, report

    frames = {t: frames[t] for t in ("orders", "products")}
    q = quality.assess(_with_copies(frames, "products", conflict="product_line"))
    f = [x for x in q.validation_.schema_errors if x.check == "conflicting_keys"]
    assert len(f) == 1 and (f[0].table, f[0].column, f[0].rows) == ("products", "product_id", 3)
    q = quality.assess(_with_copies(frames, "products"))
    assert q.validation_.schema_errors == [] and q.validation_.defect_counts()["duplicate_product_ids"] == 3
    res = Results("data_quality", tmp_path)
    report.publish(q, res)
    doc = json.loads((tmp_path / "data_quality.results.json").read_text())
    assert [(e["table"], e["rows"], e["examples"]) for e in doc["excluded_rows"]] == [("products", 3, [49, 50, 51])]
    assert "3 products rows left out: exact copies of another row (rows 49, 50, 51)." in report.sentences(q)


def test_run_stops_before_any_kernel_on_conflicting_keys(tmp_path, capsys):
    from salesbench.cli import main

    data = tmp_path / "data"
    data.mkdir()
    (data / "orders.csv").write_text("customer_id,order_date,revenue,product_id\nc1,2024-01-01,5,P1\n")
    (data / "products.csv").write_text("product_id,product_line\nP1,a\nP1,b\n")
    out = tmp_path / "out"
    assert main(["run", "segmentation", "forecasting", "--data", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "products.csv: table products has 1 product_id value on several rows with different values" in err
    assert "Traceback" not in err and not out.exists()


def test_run_skips_reports_whose_table_has_no_rows(tmp_path):
    from salesbench.report.runner import run_reports

    data = tmp_path / "data"
    data.mkdir()
    (data / "orders.csv").write_text("customer_id,order_date,revenue\n")
    result = run_reports(["churn"], data=str(data), out=tmp_path / "out", echo=lambda line: None)
    assert result.exit_code == 0
    assert [(j.status, j.reason) for j in result.jobs] == [("skipped", "orders has no rows (orders.csv)")]
