"""Backtest results in DuckDB: ``backtests`` (one row a run) and ``backtest_trades``.

The tables live in the market store (``core.store.MarketStore.con``, ``<data dir>/market.duckdb``),
which other modules may extend with their own tables (contract section 1). One process owns
that file: when another process holds it, saving fails with the store's error naming the owner
(and ``tickdesk backtest --no-store`` skips saving). A run and its trades are written in one
transaction, the trades as one Arrow batch: a crash keeps the whole run or none of it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from strategies.fingerprint import canonical_json

_DDL = (
    """CREATE TABLE IF NOT EXISTS backtests(
        run_id VARCHAR PRIMARY KEY, created_ns BIGINT, strategy VARCHAR, spec VARCHAR,
        params VARCHAR, data VARCHAR, data_hash VARCHAR, mode VARCHAR, settings VARCHAR,
        bars BIGINT, entries BIGINT, exits BIGINT, final_equity DECIMAL(38,12),
        metrics VARCHAR, fingerprint VARCHAR, seconds DOUBLE)""",
    """CREATE TABLE IF NOT EXISTS backtest_trades(
        run_id VARCHAR, n INTEGER, side VARCHAR, qty DECIMAL(38,12),
        entry_bar BIGINT, entry_ts BIGINT, entry_price DECIMAL(38,12), entry_fee DECIMAL(38,12),
        exit_bar BIGINT, exit_ts BIGINT, exit_price DECIMAL(38,12), exit_fee DECIMAL(38,12),
        pnl DECIMAL(38,12), reason VARCHAR)""",
)
_TRADE_FIELDS = ("side", "qty", "entry_bar", "entry_ts", "entry_price", "entry_fee", "exit_bar", "exit_ts",
                 "exit_price", "exit_fee", "pnl", "reason")


@dataclass(frozen=True)
class RunRecord:
    """What one backtest run stores (metrics are plain JSON values)."""

    strategy: str
    spec: str  # canonical JSON
    params: dict[str, str]
    data: str
    data_hash: str
    settings: dict[str, str]
    bars: int
    entries: int
    exits: int
    final_equity: str
    metrics: dict[str, Any]
    fingerprint: str
    seconds: float
    trades: list[dict]


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    for ddl in _DDL:
        con.execute(ddl)


def save(con: duckdb.DuckDBPyConnection, rec: RunRecord) -> str:
    """Write one run and its trades atomically; returns the new run id."""
    ensure_tables(con)
    run_id = uuid.uuid4().hex
    trades = pa.table({
        "run_id": pa.array([run_id] * len(rec.trades), pa.string()),
        "n": pa.array(range(1, len(rec.trades) + 1), pa.int32()),
        **{f: pa.array([t[f] for t in rec.trades], pa.int64() if f.endswith(("_bar", "_ts")) else pa.string())
           for f in _TRADE_FIELDS},
    })
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "INSERT INTO backtests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS DECIMAL(38,12)), ?, ?, ?)",
            [run_id, time.time_ns(), rec.strategy, rec.spec, canonical_json(rec.params), rec.data, rec.data_hash,
             rec.settings.get("mode", ""), canonical_json(rec.settings), rec.bars, rec.entries, rec.exits,
             rec.final_equity, canonical_json(rec.metrics), rec.fingerprint, rec.seconds],
        )
        if rec.trades:
            con.register("_bt_trades", trades)
            try:
                cols = ", ".join(
                    f"CAST({f} AS DECIMAL(38,12))" if f in ("qty", "entry_price", "entry_fee", "exit_price", "exit_fee", "pnl")
                    else f for f in _TRADE_FIELDS)
                con.execute(f"INSERT INTO backtest_trades SELECT run_id, n, {cols} FROM _bt_trades")
            finally:
                con.unregister("_bt_trades")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return run_id
