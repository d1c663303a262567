"""``tickdesk feed backfill`` through the ccxt gateway against the emulator's kline endpoints
(Binance ``/api/v3/klines``, OKX ``/api/v5/market/history-candles``) serving a real candle file.

The stored bars equal the file's rows exactly (read here independently, as Decimals from the
JSON text); hourly bars equal the file aggregated here; a second run changes nothing; the
exchange's own holes are reported; bad input fails with one line and writes nothing.
"""

from __future__ import annotations

import gzip
import json
from decimal import Decimal

import duckdb
import pytest
from emukit import emulator, run_cli

pytestmark = pytest.mark.slow

KLINES = "tooyipjee_binance_spot_BTC_USDT-1m_2021-04-20_2021-05-20.json.gz"
SINCE, UNTIL = 1_618_963_200_000, 1_619_136_000_000  # 2021-04-21T00:00Z .. 2021-04-23T00:00Z
HOLE_SINCE, HOLE_UNTIL = 1_619_308_800_000, 1_619_395_200_000  # 2021-04-25 (a 284-minute hole)


def _file_rows(shared_data) -> dict[int, tuple]:
    rows = json.loads(gzip.decompress((shared_data / "klines" / KLINES).read_bytes()), parse_float=Decimal)
    return {int(r[0]): tuple(Decimal(x) for x in r[1:6]) for r in rows}


def _hourly(rows: dict[int, tuple], lo: int, hi: int) -> dict[int, tuple]:
    out: dict[int, list] = {}
    for t in sorted(rows):
        h = t - t % 3_600_000
        if not lo <= h <= hi:
            continue
        o, hi_, low, c, v = rows[t]
        b = out.get(h)
        if b is None:
            out[h] = [o, hi_, low, c, v]
        else:
            b[1], b[2], b[3], b[4] = max(b[1], hi_), min(b[2], low), c, b[4] + v
    return {k: tuple(v) for k, v in out.items()}


def _stored(db, venue: str, tf: str) -> dict[int, tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT start_ns, open, high, low, close, volume FROM bars WHERE venue = ? AND "
                           "symbol = 'BTC/USDT' AND tf = ? ORDER BY start_ns", [venue, tf]).fetchall()
    finally:
        con.close()
    return {r[0] // 1_000_000: tuple(r[1:]) for r in rows}


def _backfill(emu, exchange: str, db, tf: str, since, until):
    proc = run_cli("feed", "backfill", "--exchange", exchange, "--symbols", "BTC/USDT", "--tf", tf,
                   "--since", str(since), "--until", str(until), "--rest-url", emu.rest_url, "--store", db, "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (res,) = json.loads(proc.stdout)["symbols"]
    return res


@pytest.mark.parametrize("exchange, recording", [("binance", ("binance", "binance_spot_btcusdt_20240808.gz")),
                                                  ("okx", ("okx", "OKX.ws.1.0"))])
def test_backfill_stores_the_candle_file_exactly_and_idempotently(tmp_path, shared_data, exchange, recording):
    db = tmp_path / "market.duckdb"
    rows = _file_rows(shared_data)
    want = {t: v for t, v in rows.items() if SINCE <= t <= UNTIL}
    with emulator("--exchange", exchange, "--file", shared_data.joinpath(*recording),
                  "--klines", shared_data / "klines" / KLINES, seconds=300) as emu:
        first = _backfill(emu, exchange, db, "1m", "2021-04-21T00:00:00Z", UNTIL)
        again = _backfill(emu, exchange, db, "1m", SINCE, "2021-04-23")
        hourly = _backfill(emu, exchange, db, "1h", SINCE, UNTIL)
        hole = _backfill(emu, exchange, db, "1m", HOLE_SINCE, HOLE_UNTIL)
    assert first["rows"] == again["rows"] == len(want) == 2881
    assert first["pages"] == (3 if exchange == "binance" else 29)  # 1,000 rows a page vs OKX's 100
    stored = _stored(db, exchange, "1m")
    assert {t: v for t, v in stored.items() if SINCE <= t <= UNTIL} == want
    assert _stored(db, exchange, "1h") == _hourly(rows, SINCE, UNTIL) and hourly["rows"] == 49
    gap_from = max(t for t in rows if HOLE_SINCE <= t <= HOLE_UNTIL and t + 60_000 not in rows)
    gap_to = min(t for t in rows if t > gap_from) - 60_000
    assert hole["gaps"] == [{"from_ms": gap_from + 60_000, "to_ms": gap_to}] and gap_to - gap_from == 284 * 60_000
    assert len(stored) == len(want) + hole["rows"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--exchange", "kraken"], "--exchange 'kraken' is not one of binance, binanceusdm, okx"),
        (["--exchange", "binance", "--tf", "2m"], "--tf '2m': binance klines are one of 1s, 1m, 5m, 15m, 1h, 4h, 1d"),
        (["--exchange", "binance", "--since", "yesterday"],
         "--since 'yesterday' is neither an ISO-8601 time (2021-04-21T00:00Z) nor epoch milliseconds"),
        (["--exchange", "binance", "--until", "2020-01-01"], "--until is before --since"),
        (["--exchange", "binance", "--rest-url", "ftp://x"], "--rest-url 'ftp://x' must be an http/https URL with a host"),
    ],
)
def test_backfill_input_errors(tmp_path, args, message):
    db = tmp_path / "market.duckdb"
    full = {"--since": "2021-04-21", "--symbols": "BTC/USDT", "--store": str(db)}
    for i in range(0, len(args), 2):
        full[args[i]] = args[i + 1]
    proc = run_cli("feed", "backfill", *[x for kv in full.items() for x in kv])
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"tickdesk: error: {message}"]
    assert not db.exists()


def test_backfill_unknown_symbol_fails_and_writes_no_bars(tmp_path, shared_data):
    db = tmp_path / "market.duckdb"
    with emulator("--exchange", "okx", "--file", shared_data / "okx" / "OKX.ws.1.0") as emu:
        proc = run_cli("feed", "backfill", "--exchange", "okx", "--symbols", "NOPE/USDT", "--since", "2021-04-21",
                       "--rest-url", emu.rest_url, "--store", db)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == "tickdesk: error: backfill NOPE/USDT: okx: unknown symbol 'NOPE/USDT'"
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM bars").fetchone() == (0,)
    con.close()
