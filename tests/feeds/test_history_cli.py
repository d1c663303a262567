"""``tickdesk history ...`` as real subprocesses on real store files.

Imports equal the candle files exactly (read here independently), re-imports change nothing,
a bad file writes nothing; bars/trades/sql/info print what the store holds; SQL is read-only;
exports equal the query; the default store lives in the data dir.
"""

from __future__ import annotations

import csv
import gzip
import json
from decimal import Decimal

import duckdb
import pyarrow.parquet as pq
import pytest

from core.store import MarketStore, trades_table

KLINES = "tooyipjee_binance_spot_BTC_USDT-1m_2021-04-20_2021-05-20.json.gz"


def _file_rows(path) -> list[tuple]:
    data = path.read_bytes()
    rows = json.loads(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data, parse_float=Decimal)
    return [(int(r[0]) * 1_000_000, *(Decimal(x) for x in r[1:6])) for r in rows]


def _ok(result) -> str:
    code, out, err = result
    assert code == 0, err[-2000:]
    return out


def test_import_is_exact_idempotent_and_readable(tmp_path, shared_data, run_cli):
    db = tmp_path / "m.duckdb"
    src = shared_data / "klines" / KLINES
    plain = tmp_path / "plain.json"  # the same rows, not gzipped, as another symbol
    plain.write_bytes(gzip.decompress(src.read_bytes()))
    first = json.loads(_ok(run_cli("history", "import", src, "--symbol", "BTC/USDT", "--store", db, "--json")))
    again = json.loads(_ok(run_cli("history", "import", src, "--symbol", "BTC/USDT", "--store", db, "--json")))
    _ok(run_cli("history", "import", plain, "--symbol", "XBT/USDT", "--store", db))
    want = _file_rows(src)
    assert first["files"][0]["rows"] == again["files"][0]["rows"] == len(want) == 42915
    assert first["series_rows"] == again["series_rows"] == len(want)
    assert first["files"][0]["first"] == "2021-04-20T20:42:00.000Z"
    con = duckdb.connect(str(db), read_only=True)
    for sym in ("BTC/USDT", "XBT/USDT"):
        got = con.execute("SELECT start_ns, open, high, low, close, volume FROM bars WHERE venue = 'file' AND "
                          "symbol = ? AND tf = '1m' ORDER BY start_ns", [sym]).fetchall()
        assert got == want
    con.close()

    bars = json.loads(_ok(run_cli("history", "bars", "BTC/USDT", "--since", "2021-04-20T20:42Z", "--limit", "2",
                                  "--store", db, "--json")))
    assert bars["venue"] == "file" and bars["tf"] == "1m"
    assert [(b["time"], b["open"], b["high"], b["low"], b["close"], b["volume"]) for b in bars["bars"]] == [
        ("2021-04-20T20:42:00.000Z", "56738.76", "56840.3", "56733.23", "56813.98", "50.9752"),
        ("2021-04-20T20:43:00.000Z", "56813.98", "56813.98", "56755.41", "56777", "42.089461")]
    newest = json.loads(_ok(run_cli("history", "bars", "BTC/USDT", "--limit", "3", "--store", db, "--json")))
    assert [b["start_ns"] for b in newest["bars"]] == [r[0] for r in want[-3:]]
    window = json.loads(_ok(run_cli("history", "bars", "BTC/USDT", "--since", "1618951320000", "--until",
                                    "2021-04-20T21:41:00Z", "--limit", "0", "--store", db, "--json")))
    assert len(window["bars"]) == 60
    text = _ok(run_cli("history", "bars", "BTC/USDT", "--since", "2021-04-20T20:42Z", "--limit", "1", "--store", db))
    assert text.splitlines()[1].split() == ["2021-04-20T20:42:00.000Z", "56738.76", "56840.3", "56733.23", "56813.98", "50.9752"]

    info = json.loads(_ok(run_cli("history", "info", "--store", db, "--json")))
    assert info["path"] == str(db) and info["tables"] == {"bars": 2 * len(want), "trades": 0}
    assert [(b["symbol"], b["rows"], b["first"], b["last"]) for b in info["bars"]] == [
        ("BTC/USDT", len(want), "2021-04-20T20:42:00.000Z", "2021-05-20T20:40:00.000Z"),
        ("XBT/USDT", len(want), "2021-04-20T20:42:00.000Z", "2021-05-20T20:40:00.000Z")]


def test_a_bad_file_writes_nothing(tmp_path, shared_data, run_cli):
    db = tmp_path / "m.duckdb"
    good = shared_data / "klines" / KLINES
    bad = tmp_path / "bad.json"
    bad.write_text("[[1618951320000, 10, 12, 9, 11, 1], [1618951380000, 10, 9, 11, 10, 1]]")
    code, out, err = run_cli("history", "import", good, bad, "--symbol", "BTC/USDT", "--store", db)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        f"tickdesk: error: {bad}: row 1: prices are inconsistent (o 10, h 9, l 11, c 10)"]
    assert not db.exists()  # files are checked before the store is even opened
    for content, message in [
        ("{}", "expected a JSON array of [open_ms, o, h, l, c, volume] rows"),
        ("[[1618951320001, 1, 1, 1, 1, 1]]", "row 0: open time 1618951320001 is not on the 60 s grid"),
        ("[[1618951320000, 1, 1, 1, 1]]", "row 0: expected [open_ms, o, h, l, c, volume], got [1618951320000, 1, 1, 1, 1]"),
        ("[[1618951320000, 1, 1, 1, 1, -1]]", "row 0: negative volume -1"),
        ("[[1618951320000, 1, 1, 1, 1, 1], [1618951320000, 1, 1, 1, 1, 1]]", "two rows open at 1618951320000 ms"),
        ("not json", "not JSON"),
    ]:
        bad.write_text(content)
        code, _, err = run_cli("history", "import", bad, "--symbol", "BTC/USDT", "--store", db)
        assert code == 2 and err.startswith(f"tickdesk: error: {bad}: {message}"), err
    for args, message in [
        (["--symbol", "BTCUSDT"], "--symbol 'BTCUSDT' must be a unified symbol such as BTC/USDT"),
        (["--symbol", "BTC/USDT", "--venue", "kraken"], "--venue 'kraken' is not one of binance, binanceusdm, okx, sim, file"),
        (["--symbol", "BTC/USDT", "--tf", "2m"], "--tf '2m' is not one of 1s, 1m, 5m, 15m, 1h, 4h, 1d"),
    ]:
        code, _, err = run_cli("history", "import", good, *args, "--store", db)
        assert code == 2 and err.strip() == f"tickdesk: error: {message}", err
    assert not db.exists()


@pytest.fixture
def filled(tmp_path):
    db = tmp_path / "m.duckdb"
    with MarketStore(db) as s:
        s.append_trades(trades_table([
            ("okx", "BTC/USDT", 1_700_000_000_000_000_000 + i * 1_000_000_000, 1_700_000_000_005_000_000 + i * 1_000_000_000,
             str(100 + i), "buy" if i % 2 else "sell", f"3000{i}.5", f"0.00{i + 1}") for i in range(5)]))
        s.append_trades(trades_table([("binance", "BTC/USDT", 1_700_000_000_000_000_000, 1, "7", "buy", "1", "1")]))
    return db


def test_trades_and_venue_choice(filled, run_cli):
    got = json.loads(_ok(run_cli("history", "trades", "BTC/USDT", "--venue", "okx", "--limit", "2", "--store", filled, "--json")))
    assert [(t["time"], t["trade_id"], t["side"], t["price"], t["qty"]) for t in got["trades"]] == [
        ("2023-11-14T22:13:23.000Z", "103", "buy", "30003.5", "0.004"),
        ("2023-11-14T22:13:24.000Z", "104", "sell", "30004.5", "0.005")]
    code, _, err = run_cli("history", "trades", "BTC/USDT", "--store", filled)
    assert code == 2 and err.strip() == (
        "tickdesk: error: BTC/USDT trades exist for several venues (binance, okx): choose one with --venue")
    code, _, err = run_cli("history", "bars", "BTC/USDT", "--store", filled)
    assert code == 2 and err.strip() == f"tickdesk: error: no BTC/USDT 1m bars in {filled}"
    code, _, err = run_cli("history", "trades", "BTC/USDT", "--since", "2024-01-01", "--until", "2023-01-01", "--store", filled)
    assert code == 2 and err.strip() == "tickdesk: error: --until is before --since"


def test_sql_reads_exports_and_refuses_writes(filled, tmp_path, run_cli):
    q = "SELECT venue, trade_id, price FROM trades ORDER BY venue, trade_id"
    got = json.loads(_ok(run_cli("history", "sql", q, "--store", filled, "--json")))
    assert got["columns"] == ["venue", "trade_id", "price"] and got["truncated"] is False
    assert got["rows"] == [["binance", "7", "1"], *[["okx", str(100 + i), f"3000{i}.5"] for i in range(5)]]
    short = json.loads(_ok(run_cli("history", "sql", q, "--limit", "2", "--store", filled, "--json")))
    assert len(short["rows"]) == 2 and short["truncated"] is True
    out_csv, out_pq = tmp_path / "r.csv", tmp_path / "r.parquet"
    _ok(run_cli("history", "sql", q, "--limit", "1", "--csv", out_csv, "--parquet", out_pq, "--store", filled))
    with out_csv.open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["venue", "trade_id", "price"] and len(rows) == 7
    assert [(r[0], r[1], Decimal(r[2])) for r in rows[1:]] == [(a, b, Decimal(c)) for a, b, c in got["rows"]]
    table = pq.read_table(out_pq)
    assert [(r["venue"], r["trade_id"], r["price"]) for r in table.to_pylist()] == [
        (a, b, Decimal(c)) for a, b, c in got["rows"]]
    for sql, message in [
        ("DELETE FROM trades", "read-only: DELETE statements are refused (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN only)"),
        ("SELECT 1; DROP TABLE trades", "one statement per query (got 2)"),
        ("COPY trades TO 'x.csv'", "read-only: COPY statements are refused (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN only)"),
    ]:
        code, out, err = run_cli("history", "sql", sql, "--store", filled)
        assert code == 2 and out == "" and err.strip() == f"tickdesk: error: {message}"
    code, _, err = run_cli("history", "sql", "SELECT * FROM nope", "--store", filled)
    assert code == 2 and "nope" in err and len(err.strip().splitlines()) == 1
    assert json.loads(_ok(run_cli("history", "info", "--store", filled, "--json")))["tables"] == {"bars": 0, "trades": 6}


def test_default_store_is_in_the_data_dir_and_missing_store_is_clear(tmp_path, run_cli, shared_data):
    env = {"TICKDESK_PATHS__DATA_DIR": str(tmp_path / "data")}
    code, _, err = run_cli("history", "info", env=env)
    assert code == 2 and err.strip() == (
        f"tickdesk: error: no market store at {tmp_path / 'data' / 'market.duckdb'} "
        "(fill it with history import, feed backfill or feed run --record)")
    _ok(run_cli("history", "import", shared_data / "klines" / KLINES, "--symbol", "BTC/USDT", env=env))
    info = json.loads(_ok(run_cli("history", "info", "--json", env=env)))
    assert info["path"] == str(tmp_path / "data" / "market.duckdb") and info["tables"]["bars"] == 42915
