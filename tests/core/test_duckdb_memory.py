"""DuckDB's memory limit and spill folder come from the machine's memory (salesbench.core.memory)."""
from __future__ import annotations

from salesbench.core import memory
from salesbench.core.dataset import duckdb_connect

GIB = 1 << 30


def test_limit_is_a_quarter_of_memory_between_512mib_and_3gib(monkeypatch):
    monkeypatch.delenv("SALESBENCH_DUCKDB_MEMORY", raising=False)
    assert memory.duckdb_memory_limit(total=8 * GIB) == "2048MiB"
    assert memory.duckdb_memory_limit(total=23 * GIB) == "3072MiB"  # capped
    assert memory.duckdb_memory_limit(total=1 * GIB) == "512MiB"  # floor


def test_environment_overrides_limit_and_spill_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("SALESBENCH_DUCKDB_MEMORY", "700MB")
    monkeypatch.setenv("SALESBENCH_DUCKDB_TEMP", str(tmp_path / "spill"))
    con = duckdb_connect()
    limit, temp = con.raw_sql("SELECT current_setting('memory_limit'), current_setting('temp_directory')").fetchone()
    assert limit == "667.5 MiB"  # DuckDB shows 700 MB (10^6 bytes) in MiB
    assert temp == str(tmp_path / "spill")


def test_every_connection_gets_the_default_settings(monkeypatch):
    monkeypatch.delenv("SALESBENCH_DUCKDB_MEMORY", raising=False)
    monkeypatch.delenv("SALESBENCH_DUCKDB_TEMP", raising=False)
    con = duckdb_connect()
    limit, temp = con.raw_sql("SELECT current_setting('memory_limit'), current_setting('temp_directory')").fetchone()
    want = int(memory.duckdb_memory_limit().removesuffix("MiB"))
    assert abs(float(limit.split()[0]) * (1024 if "GiB" in limit else 1) - want) < 1, limit
    assert temp == memory.duckdb_spill_folder()


def test_size_bytes_reads_duckdb_sizes():
    assert memory.size_bytes("3072MiB") == 3 * GIB
    assert memory.size_bytes("700 MB") == 700_000_000
    assert memory.size_bytes("1.5GiB") == 3 * GIB // 2
    assert memory.size_bytes("lots") is None


def test_passes_grow_with_the_lines_and_keep_each_pass_within_half_the_limit(monkeypatch):
    monkeypatch.delenv("SALESBENCH_PASSES", raising=False)
    assert memory.passes_for(10**6, "3072MiB") == 1  # 64 MB of distinct pairs: one pass
    assert memory.passes_for(3 * 10**6, "3072MiB") == 2
    assert memory.passes_for(10**7, "3072MiB") == 4  # ~640 MB: a quarter per pass
    assert memory.passes_for(10**8, "3072MiB") == 4  # 6.4 GB: 1.6 GB per pass, within half of 3 GiB
    assert memory.passes_for(10**8, "512MiB") == 24  # each pass within 256 MiB
    monkeypatch.setenv("SALESBENCH_PASSES", "3")
    assert memory.passes_for(10**8) == 3


def test_bad_passes_setting_is_a_one_line_error(monkeypatch):
    import pytest

    from salesbench.core.errors import ParamError

    for bad in ("0", "four", "-2"):
        monkeypatch.setenv("SALESBENCH_PASSES", bad)
        with pytest.raises(ParamError, match=f"^SALESBENCH_PASSES must be a whole number of at least 1, not '{bad}'$"):
            memory.passes_for(10**7)


def _rfm(t):
    return t.group_by("customer_id").aggregate(first=t.order_date.min(), last=t.order_date.max(),
                                               frequency=t.order_date.nunique(), monetary=t.revenue.sum())


def test_summary_in_passes_equals_one_pass_and_keeps_null_keys(monkeypatch):
    import ibis
    import numpy as np
    import pandas as pd

    monkeypatch.delenv("SALESBENCH_PASSES", raising=False)
    rng = np.random.default_rng(3)
    n = 5000
    frame = pd.DataFrame({"customer_id": [f"C{c:04d}" for c in rng.integers(0, 400, n)],
                          "order_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, n), "D"),
                          "revenue": rng.integers(1, 1000, n) / 4})  # quarters: sums are exact in any order
    frame.loc[:9, "customer_id"] = None
    con = duckdb_connect()
    t = con.create_table("orders", ibis.memtable(frame))
    want = memory.aggregate_in_passes(t, "customer_id", _rfm, passes=1)
    assert want["customer_id"].isna().sum() == 1 and len(want) == 401
    sort = lambda df: df.sort_values("customer_id", na_position="first").reset_index(drop=True)  # noqa: E731
    built = []
    for k in (2, 3, 7):
        got = memory.aggregate_in_passes(t, "customer_id", lambda p: built.append(1) or _rfm(p), passes=k)
        pd.testing.assert_frame_equal(sort(got), sort(want))
    assert len(built) == 2 + 3 + 7  # one query per pass
    # by default the count decides: 5,000 lines fit one pass unless a pass may hold less
    assert memory.aggregate_in_passes(t, "customer_id", lambda p: built.append(1) or _rfm(p)).shape == want.shape
    assert len(built) == 13
    monkeypatch.setattr(memory, "ONE_PASS_BYTES", 5000 * memory.PAIR_BYTES // 3 + 1)  # 3 passes
    got = memory.aggregate_in_passes(t, "customer_id", lambda p: built.append(1) or _rfm(p))
    assert len(built) == 13 + 3
    pd.testing.assert_frame_equal(sort(got), sort(want))
