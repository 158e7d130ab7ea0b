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
