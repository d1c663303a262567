"""The market-data store: trades and bars in one DuckDB file (``market.duckdb``).

Why a separate file from the journal: the journal is the engine's durable truth and is written
in group commits by the engine; market data arrives at exchange rates from feed threads and
from imports. Keeping them apart means a long import or a backfill never holds the journal.

Why Arrow batches: a DuckDB insert costs the same whether it carries one row or ten thousand,
so writers hand over a ``pyarrow.Table`` per batch (DuckDB scans it without copying row by row).
Each append is one statement, hence one transaction: a crash keeps or loses a whole batch,
never half of one.

Why one owner: DuckDB locks the file for one process. A second process gets
:class:`MarketStoreOwnedError` (a ``core.journal.StoreOwnedError``) naming the owner's pid and
command line, instead of a raw driver message.

Prices and quantities are ``DECIMAL(38,12)``: exact for every exchange grid we know of (the
finest is 1e-10), summable in SQL without float drift. Analytics readers (``bars``) get float64.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from core.journal import JournalError, NotAJournalError, StoreOwnedError
from core.journal import _connect as journal_connect

STORE_FILE = "market.duckdb"
TIMEFRAMES = ("1s", "1m", "5m", "15m", "1h", "4h", "1d")
TF_NS = {
    "1s": 1_000_000_000,
    "1m": 60_000_000_000,
    "5m": 300_000_000_000,
    "15m": 900_000_000_000,
    "1h": 3_600_000_000_000,
    "4h": 14_400_000_000_000,
    "1d": 86_400_000_000_000,
}
VENUES = ("binance", "binanceusdm", "okx", "sim", "file")

_DDL = (
    """CREATE TABLE IF NOT EXISTS trades(
        venue VARCHAR, symbol VARCHAR, ts_ns BIGINT, recv_ns BIGINT, trade_id VARCHAR,
        side VARCHAR, price DECIMAL(38,12), qty DECIMAL(38,12))""",
    """CREATE TABLE IF NOT EXISTS bars(
        venue VARCHAR, symbol VARCHAR, tf VARCHAR, start_ns BIGINT,
        open DECIMAL(38,12), high DECIMAL(38,12), low DECIMAL(38,12), close DECIMAL(38,12),
        volume DECIMAL(38,12), trades BIGINT, PRIMARY KEY (venue, symbol, tf, start_ns))""",
)
TRADE_COLUMNS = ("venue", "symbol", "ts_ns", "recv_ns", "trade_id", "side", "price", "qty")
BAR_COLUMNS = ("venue", "symbol", "tf", "start_ns", "open", "high", "low", "close", "volume", "trades")
_BAR_KEY = ("venue", "symbol", "tf", "start_ns")
_DEC = "DECIMAL(38,12)"
_TRADE_CASTS = {
    "venue": "VARCHAR", "symbol": "VARCHAR", "ts_ns": "BIGINT", "recv_ns": "BIGINT",
    "trade_id": "VARCHAR", "side": "VARCHAR", "price": _DEC, "qty": _DEC,
}
_BAR_CASTS = {
    "venue": "VARCHAR", "symbol": "VARCHAR", "tf": "VARCHAR", "start_ns": "BIGINT",
    "open": _DEC, "high": _DEC, "low": _DEC, "close": _DEC, "volume": _DEC, "trades": "BIGINT",
}
# Exact strings for decimal columns: pyarrow's decimal128 refuses values with more places than
# the type, while DuckDB's VARCHAR -> DECIMAL cast rounds them, which is what a store wants.
TRADES_SCHEMA = pa.schema([(c, pa.int64() if t == "BIGINT" else pa.string()) for c, t in _TRADE_CASTS.items()])
BARS_SCHEMA = pa.schema([(c, pa.int64() if t == "BIGINT" else pa.string()) for c, t in _BAR_CASTS.items()])

_READ_TYPES = {"SELECT", "EXPLAIN"}
_READ_PRAGMAS = {"table_info", "show_tables", "show_tables_expanded", "database_size", "storage_info"}
_HOLDER_RE = re.compile(r"lock is held in (.+?) \(PID")
_PRAGMA_RE = re.compile(r"^\s*pragma\s+([a-z_]+)", re.IGNORECASE)


class StoreError(Exception):
    """A market-store problem the CLI reports as a one-line error."""


class ReadOnlyQueryError(StoreError):
    """``query`` was given something other than one read-only statement."""


class MarketStoreOwnedError(StoreOwnedError):
    """Another process holds ``market.duckdb``; the message names its pid and command line."""

    def __init__(self, path: str, pid: int | None, command: str | None, detail: str = "") -> None:
        super().__init__(path, pid, detail)
        self.command = command
        who = f"pid {pid}" if pid is not None else "pid unknown"
        if command:
            who += f": {command}"
        self.args = (f"{path} is owned by another process ({who}); one process owns a tickdesk store",)


def default_store_path(settings: Any) -> Path:
    """``<data dir>/market.duckdb`` (the data dir comes from the settings' ``paths.data_dir``)."""
    return Path(settings.data_dir) / STORE_FILE


class MarketStore:
    """Trades and bars in one DuckDB file; see the module docstring for the why.

    ``con`` is public: other modules may keep their own tables in the same file.
    Not thread-safe: one thread writes (``feeds.storewriter`` runs a writer thread that owns it).
    """

    def __init__(self, path: str | Path, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        if read_only and not self.path.exists():
            raise StoreError(f"no market store at {self.path}")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con: duckdb.DuckDBPyConnection = _connect(str(self.path), read_only=read_only)
        # Writes go through their own cursor, so a caller's half-read result on ``con`` never
        # blocks an append (DuckDB refuses new work on a connection with an unfinished result).
        self._wcon: duckdb.DuckDBPyConnection | None = None
        if not read_only:
            for ddl in _DDL:
                self.con.execute(ddl)
            self._wcon = self.con.cursor()
        else:
            missing = {"trades", "bars"} - set(self.tables())
            if missing:
                self.con.close()
                raise StoreError(f"{self.path} is not a tickdesk market store (no {', '.join(sorted(missing))} table)")

    # --- writing --------------------------------------------------------------------------

    def append_trades(self, batch: pa.Table) -> int:
        """Append a batch of trades (columns ``TRADE_COLUMNS``, any castable types). Returns rows."""
        if batch.num_rows == 0:
            return 0
        self._check_columns(batch, TRADE_COLUMNS, "trades")
        select = ", ".join(f"CAST({c} AS {t})" for c, t in _TRADE_CASTS.items())
        self._insert("INSERT INTO trades", select, batch, "")
        return batch.num_rows

    def append_bars(self, batch: pa.Table) -> int:
        """Upsert a batch of bars on (venue, symbol, tf, start_ns); the last row for a key wins,
        within the batch and against the table (a forming bar is replaced by its closed self)."""
        if batch.num_rows == 0:
            return 0
        self._check_columns(batch, BAR_COLUMNS, "bars")
        bad = set(batch.column("tf").to_pylist()) - set(TIMEFRAMES)
        if bad:
            raise StoreError(f"unknown bar timeframe {sorted(map(str, bad))[0]!r} (one of {', '.join(TIMEFRAMES)})")
        batch = batch.append_column("_pos", pa.array(np.arange(batch.num_rows, dtype=np.int64)))
        select = ", ".join(f"CAST({c} AS {t}) AS {c}" for c, t in _BAR_CASTS.items())
        last = f"QUALIFY row_number() OVER (PARTITION BY {', '.join(_BAR_KEY)} ORDER BY _pos DESC) = 1"
        self._insert("INSERT OR REPLACE INTO bars", select, batch, last)
        return batch.num_rows

    def _insert(self, into: str, select: str, batch: pa.Table, tail: str) -> None:
        self._writable()
        con = self._wcon
        name = "_tickdesk_batch"
        con.register(name, batch)
        try:
            con.execute(f"{into} SELECT {select} FROM {name} {tail}")
        finally:
            con.unregister(name)

    def _check_columns(self, batch: pa.Table, wanted: Sequence[str], table: str) -> None:
        missing = [c for c in wanted if c not in batch.column_names]
        if missing:
            raise StoreError(f"{table} batch lacks column(s) {', '.join(missing)}")

    def _writable(self) -> None:
        if self.read_only:
            raise StoreError(f"{self.path} is open read-only")

    # --- reading --------------------------------------------------------------------------

    def bars(
        self, venue: str, symbol: str, tf: str, start_ns: int | None = None, end_ns: int | None = None
    ) -> dict[str, np.ndarray]:
        """Bars in time order as arrays (start_ns/trades int64, prices and volume float64).
        ``start_ns`` inclusive, ``end_ns`` exclusive."""
        where, params = _range("start_ns", start_ns, end_ns, [venue, symbol, tf])
        rel = self.con.execute(
            "SELECT start_ns, CAST(open AS DOUBLE) AS open, CAST(high AS DOUBLE) AS high, "
            "CAST(low AS DOUBLE) AS low, CAST(close AS DOUBLE) AS close, "
            "CAST(volume AS DOUBLE) AS volume, COALESCE(trades, 0) AS trades FROM bars "
            f"WHERE venue = ? AND symbol = ? AND tf = ?{where} ORDER BY start_ns",
            params,
        )
        out = rel.fetchnumpy()
        return {
            k: np.asarray(v, dtype=np.int64 if k in ("start_ns", "trades") else np.float64)
            for k, v in out.items()
        }

    def trades(
        self,
        venue: str,
        symbol: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int | None = None,
    ) -> pa.Table:
        """Trades in (ts_ns, trade_id) order; ``start_ns`` inclusive, ``end_ns`` exclusive."""
        where, params = _range("ts_ns", start_ns, end_ns, [venue, symbol])
        sql = f"SELECT * FROM trades WHERE venue = ? AND symbol = ?{where} ORDER BY ts_ns, trade_id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return _arrow(self.con.sql(sql, params=params))

    def query(self, sql: str, params: list | None = None, limit: int | None = None) -> tuple[list[str], list[tuple]]:
        """Run one read-only statement; returns (column names, rows). Anything that could
        change the file (or the session) is refused with :class:`ReadOnlyQueryError`."""
        check_read_only(sql)
        try:
            cur = self.con.execute(sql, params or [])
        except duckdb.Error as exc:
            raise StoreError(" ".join(str(exc).split())) from None
        cols = [d[0] for d in cur.description or []]
        rows = cur.fetchmany(limit) if limit is not None else cur.fetchall()
        return cols, rows

    def query_arrow(self, sql: str, params: list | None = None) -> pa.Table:
        """``query`` as an Arrow table (for CSV/Parquet export of a result)."""
        check_read_only(sql)
        try:
            return _arrow(self.con.sql(sql, params=params or None))
        except duckdb.Error as exc:
            raise StoreError(" ".join(str(exc).split())) from None

    def tables(self) -> list[str]:
        rows = self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY table_name"
        ).fetchall()
        return [str(r[0]) for r in rows]

    def info(self) -> dict[str, Any]:
        """What the file holds: per table its row count; for trades and bars, per series
        (venue, symbol[, tf]) the row count and the first/last time (ns)."""
        tables = {}
        for name in self.tables():
            (count,) = self.con.execute(f'SELECT count(*) FROM "{name}"').fetchone()
            tables[name] = int(count)
        trades = self.con.execute(
            "SELECT venue, symbol, count(*), min(ts_ns), max(ts_ns) FROM trades "
            "GROUP BY venue, symbol ORDER BY venue, symbol"
        ).fetchall()
        bars = self.con.execute(
            "SELECT venue, symbol, tf, count(*), min(start_ns), max(start_ns) FROM bars "
            "GROUP BY venue, symbol, tf ORDER BY venue, symbol, tf"
        ).fetchall()
        return {
            "path": str(self.path),
            "size_bytes": self.path.stat().st_size if self.path.exists() else 0,
            "tables": tables,
            "trades": [
                {"venue": v, "symbol": s, "rows": int(n), "first_ns": int(a), "last_ns": int(b)}
                for v, s, n, a, b in trades
            ],
            "bars": [
                {"venue": v, "symbol": s, "tf": tf, "rows": int(n), "first_ns": int(a), "last_ns": int(b)}
                for v, s, tf, n, a, b in bars
            ],
        }

    # --- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        if self._wcon is not None:
            self._wcon.close()
        self.con.close()

    def __enter__(self) -> MarketStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_table(table: pa.Table, path: str | Path, fmt: str) -> Path:
    """Write an Arrow table as ``csv`` or ``parquet`` atomically (a temporary file beside
    ``path``, then a rename): a failure leaves nothing half-written. StoreError on failure."""
    import os

    target = Path(path)
    if fmt not in ("csv", "parquet"):
        raise StoreError(f"export format must be csv or parquet, got {fmt!r}")
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        if fmt == "csv":
            import pyarrow.csv as pacsv

            pacsv.write_csv(table, str(tmp))
        else:
            import pyarrow.parquet as pq

            pq.write_table(table, str(tmp))
        os.replace(tmp, target)
    except (OSError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"cannot write {target}: {exc}") from None
    return target


def trades_table(rows: Iterable[Sequence[Any]]) -> pa.Table:
    """A trades batch from row tuples in ``TRADE_COLUMNS`` order (prices/qtys as Decimal or str)."""
    cols = list(zip(*rows, strict=True)) or [()] * len(TRADE_COLUMNS)
    return _table(cols, TRADES_SCHEMA)


def bars_table(rows: Iterable[Sequence[Any]]) -> pa.Table:
    """A bars batch from row tuples in ``BAR_COLUMNS`` order (prices/volume as Decimal or str)."""
    cols = list(zip(*rows, strict=True)) or [()] * len(BAR_COLUMNS)
    return _table(cols, BARS_SCHEMA)


def _table(cols: list[Sequence[Any]], schema: pa.Schema) -> pa.Table:
    arrays = []
    for values, fld in zip(cols, schema, strict=True):
        if pa.types.is_string(fld.type):
            values = [None if v is None else (format(v, "f") if isinstance(v, Decimal) else str(v)) for v in values]
        arrays.append(pa.array(values, type=fld.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def check_read_only(sql: str) -> None:
    """Accept exactly one SELECT / WITH / SHOW / DESCRIBE / SUMMARIZE / EXPLAIN statement or a
    catalogue PRAGMA (table_info, show_tables, database_size, storage_info); refuse the rest."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise ReadOnlyQueryError(f"cannot parse query: {' '.join(str(exc).split())}") from None
    if len(statements) != 1:
        raise ReadOnlyQueryError(f"one statement per query (got {len(statements)})")
    kind = statements[0].type.name
    if kind == "PRAGMA":
        m = _PRAGMA_RE.match(statements[0].query)
        if m and m.group(1).lower() in _READ_PRAGMAS:
            return
        raise ReadOnlyQueryError(f"only catalogue pragmas are allowed ({', '.join(sorted(_READ_PRAGMAS))})")
    if kind not in _READ_TYPES:
        raise ReadOnlyQueryError(
            f"read-only: {kind} statements are refused (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN only)"
        )


def _arrow(rel: duckdb.DuckDBPyRelation) -> pa.Table:
    """A relation as one Arrow table (``to_arrow_table`` in DuckDB 2, ``arrow`` before)."""
    fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
    return fetch()


def _range(col: str, start_ns: int | None, end_ns: int | None, params: list[Any]) -> tuple[str, list[Any]]:
    where = ""
    if start_ns is not None:
        where += f" AND {col} >= ?"
        params.append(int(start_ns))
    if end_ns is not None:
        where += f" AND {col} < ?"
        params.append(int(end_ns))
    return where, params


def _owner_command(pid: int | None, holder: str | None) -> str | None:
    """The owner's command line (psutil), else the executable DuckDB named."""
    if pid is not None:
        try:
            import psutil

            cmd = " ".join(" ".join(psutil.Process(pid).cmdline()).split())
            if cmd:
                return cmd if len(cmd) <= 160 else cmd[:157] + "..."
        except Exception:  # noqa: BLE001 - gone, no permission: fall back to DuckDB's text
            pass
    return holder


def _connect(path: str, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Open the file with the journal's opener (same lock handling), then say it in store terms:
    the owner's command line added, format errors naming a market store."""
    try:
        return journal_connect(path, read_only=read_only)
    except StoreOwnedError as exc:
        h = _HOLDER_RE.search(exc.detail)
        command = _owner_command(exc.pid, h.group(1) if h else None)
        raise MarketStoreOwnedError(path, exc.pid, command, exc.detail) from None
    except NotAJournalError:
        raise StoreError(f"{path} is not a tickdesk market store (not a DuckDB database file)") from None
    except JournalError as exc:
        raise StoreError(str(exc)) from None
