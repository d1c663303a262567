"""core.store.MarketStore on real DuckDB files: exact round trips, upserts, the read-only query
guard, atomic batches, and the one-owner rule across processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from decimal import Decimal

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from core.journal import StoreOwnedError
from core.store import (
    MarketStore,
    ReadOnlyQueryError,
    StoreError,
    bars_table,
    default_store_path,
    trades_table,
)

BAR = ("file", "BTC/USDT", "1m")


def _bar(start_ns: int, o: str, h: str, lo: str, c: str, v: str, n: int | None = 1, tf: str = "1m") -> tuple:
    return ("file", "BTC/USDT", tf, start_ns, o, h, lo, c, v, n)


@pytest.fixture
def store(tmp_path):
    s = MarketStore(tmp_path / "market.duckdb")
    yield s
    s.close()


def test_trades_round_trip_exact_and_ordered(store):
    rows = [
        ("okx", "BTC/USDT", 2_000, 2_100, "b", "sell", Decimal("87654.3"), Decimal("0.00012345")),
        ("okx", "BTC/USDT", 1_000, 1_050, "a", "buy", "87654.1", "1.5"),
        ("okx", "ETH/USDT", 1_500, 1_600, "c", "buy", "3000.01", "2"),
    ]
    assert store.append_trades(trades_table(rows)) == 3
    got = store.trades("okx", "BTC/USDT").to_pylist()
    assert [(r["trade_id"], r["side"], r["price"], r["qty"], r["recv_ns"]) for r in got] == [
        ("a", "buy", Decimal("87654.1"), Decimal("1.5"), 1_050),
        ("b", "sell", Decimal("87654.3"), Decimal("0.00012345"), 2_100),
    ]
    assert store.trades("okx", "BTC/USDT", start_ns=1_001).column("trade_id").to_pylist() == ["b"]
    assert store.trades("okx", "BTC/USDT", end_ns=2_000).column("trade_id").to_pylist() == ["a"]
    assert store.trades("okx", "BTC/USDT", limit=1).num_rows == 1


def test_bars_upsert_last_row_wins_within_and_across_batches(store):
    store.append_bars(bars_table([_bar(60, "1", "2", "0.5", "1.5", "10", 3), _bar(60, "1", "3", "0.5", "2", "11", 4)]))
    store.append_bars(bars_table([_bar(120, "2", "2", "2", "2", "1"), _bar(0, "0.1", "0.2", "0.1", "0.2", "5", None)]))
    store.append_bars(bars_table([_bar(120, "2", "4", "1", "3", "7", 9)]))  # replace the forming bar
    got = store.bars(*BAR)
    assert got["start_ns"].dtype == np.int64 and got["close"].dtype == np.float64
    assert got["start_ns"].tolist() == [0, 60, 120]
    assert got["high"].tolist() == [0.2, 3.0, 4.0]
    assert got["close"].tolist() == [0.2, 2.0, 3.0]
    assert got["volume"].tolist() == [5.0, 11.0, 7.0]
    assert got["trades"].tolist() == [0, 4, 9]
    (count,) = store.con.execute("SELECT count(*) FROM bars").fetchone()
    assert count == 3
    assert store.bars(*BAR, start_ns=60, end_ns=120)["start_ns"].tolist() == [60]


def test_bad_batches_write_nothing(store):
    with pytest.raises(StoreError, match="unknown bar timeframe '2m'"):
        store.append_bars(bars_table([_bar(0, "1", "1", "1", "1", "1"), _bar(60, "1", "1", "1", "1", "1", tf="2m")]))
    with pytest.raises(duckdb.ConversionException):
        store.append_bars(bars_table([_bar(0, "1", "1", "1", "1", "1"), _bar(60, "x", "1", "1", "1", "1")]))
    with pytest.raises(StoreError, match="trades batch lacks column.*qty"):
        store.append_trades(pa.table({c: [1] for c in ("venue", "symbol", "ts_ns", "recv_ns", "trade_id", "side", "price")}))
    assert store.query("SELECT (SELECT count(*) FROM bars), (SELECT count(*) FROM trades)")[1] == [(0, 0)]


@pytest.mark.parametrize(
    "sql, message",
    [
        ("DELETE FROM bars", "DELETE statements are refused"),
        ("INSERT INTO bars SELECT * FROM bars", "INSERT statements are refused"),
        ("WITH x AS (SELECT 1) INSERT INTO trades SELECT * FROM trades", "INSERT statements are refused"),
        ("DROP TABLE trades", "DROP statements are refused"),
        ("SELECT 1; DROP TABLE trades", "one statement per query"),
        ("COPY trades TO 'x.csv'", "COPY statements are refused"),
        ("ATTACH 'other.duckdb'", "ATTACH statements are refused"),
        ("PRAGMA threads=1", "SET statements are refused"),
        ("SET threads = 1", "SET statements are refused"),
        ("SELEC 1", "cannot parse query"),
    ],
)
def test_query_guard_refuses_writes(store, sql, message):
    with pytest.raises(ReadOnlyQueryError, match=message):
        store.query(sql)
    assert store.tables() == ["bars", "trades"]


def test_query_allows_reads_and_limits(store):
    store.append_bars(bars_table([_bar(i * 60, "1", "1", "1", str(i), "1") for i in range(5)]))
    cols, rows = store.query("WITH b AS (SELECT * FROM bars) SELECT start_ns, close FROM b ORDER BY start_ns", limit=2)
    assert cols == ["start_ns", "close"] and rows == [(0, Decimal("0E-12")), (60, Decimal("1.000000000000"))]
    assert store.query("SELECT count(*) FROM bars WHERE start_ns >= ?", [120])[1] == [(3,)]
    assert ("bars",) in store.query("SHOW TABLES")[1]
    assert [r[1] for r in store.query("DESCRIBE trades")[1]][:2] == ["VARCHAR", "VARCHAR"]
    assert [r[1] for r in store.query("PRAGMA table_info('bars')")[1]][:4] == ["venue", "symbol", "tf", "start_ns"]
    with pytest.raises(StoreError, match="no_such_table"):
        store.query("SELECT * FROM no_such_table")


def test_info_reports_series_ranges(store):
    store.append_bars(bars_table([_bar(60, "1", "1", "1", "1", "1"), _bar(180, "1", "1", "1", "1", "1")]))
    store.append_trades(trades_table([("binance", "ETH/USDT", 5, 6, "1", "buy", "1", "1")]))
    info = store.info()
    assert info["tables"] == {"bars": 2, "trades": 1}
    assert info["bars"] == [{"venue": "file", "symbol": "BTC/USDT", "tf": "1m", "rows": 2, "first_ns": 60, "last_ns": 180}]
    assert info["trades"] == [{"venue": "binance", "symbol": "ETH/USDT", "rows": 1, "first_ns": 5, "last_ns": 5}]


def test_data_persists_and_read_only_refuses_writes(tmp_path):
    path = tmp_path / "m.duckdb"
    with MarketStore(path) as s:
        s.append_bars(bars_table([_bar(60, "1", "2", "0.5", "1.5", "10")]))
    with MarketStore(path, read_only=True) as ro:
        assert ro.bars(*BAR)["high"].tolist() == [2.0]
        with pytest.raises(StoreError, match="open read-only"):
            ro.append_bars(bars_table([_bar(120, "1", "1", "1", "1", "1")]))


def test_open_errors_are_clear(tmp_path):
    with pytest.raises(StoreError, match="no market store at"):
        MarketStore(tmp_path / "absent.duckdb", read_only=True)
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"not a database at all" * 300)
    with pytest.raises(StoreError, match="not a tickdesk market store"):
        MarketStore(junk)
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()
    with pytest.raises(StoreError, match="not a tickdesk market store \\(no bars, trades table\\)"):
        MarketStore(other, read_only=True)


def test_second_process_gets_owner_error_naming_pid_and_command(tmp_path):
    path = tmp_path / "market.duckdb"
    script = tmp_path / "holder.py"
    script.write_text(textwrap.dedent(f"""
            import sys
            from core.store import MarketStore
            s = MarketStore({str(path)!r})
            print("ready", flush=True)
            sys.stdin.readline()
        """))
    holder = subprocess.Popen(
        [sys.executable, str(script), "store-holder-marker"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        for read_only in (False, True):
            with pytest.raises(StoreOwnedError) as info:
                MarketStore(path, read_only=read_only)
            assert info.value.pid == holder.pid
            assert f"pid {holder.pid}: " in str(info.value)
            assert "store-holder-marker" in str(info.value)
            assert "one process owns a tickdesk store" in str(info.value)
    finally:
        holder.communicate("\n", timeout=30)


def test_default_store_path(tmp_path):
    from core.config import load_config

    settings = load_config(env={"TICKDESK_PATHS__DATA_DIR": str(tmp_path)})
    assert default_store_path(settings) == tmp_path / "market.duckdb"
