"""What the SQL console runs (no textual here): read-only queries over the market store or the
source's event journal, and exports of a whole result to CSV or Parquet.

Targets:

``store``    the market store (``core.store.MarketStore`` at ``<data dir>/market.duckdb``: tables
             ``trades``, ``bars`` and whatever else lives in it), opened read-only for each query
             and closed after, so the console never holds the file another tickdesk process owns.
``journal``  the current source's recent discrete events (``state.events_since``) as one in-memory
             table ``journal(seq, ts_ns, kind, event, symbol, account, reason, message, detail)``
             -- fills, rejects with reasons, risk changes, surveillance flags, feed gaps.

Both refuse anything but one read-only statement (``core.store.check_read_only``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

TARGETS = ("store", "journal")
EXPORT_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
JOURNAL_COLUMNS = ("seq", "ts_ns", "kind", "event", "symbol", "account", "reason", "message", "detail")


class ConsoleError(Exception):
    """A one-line problem to show inline (bad SQL, no store, refused statement, bad path)."""


def journal_table(events: list[dict[str, Any]]):
    """The events as an Arrow table with ``JOURNAL_COLUMNS``."""
    import pyarrow as pa

    from tui.screens.journal import kind_of

    cols: dict[str, list] = {c: [] for c in JOURNAL_COLUMNS}
    for i, ev in enumerate(events, 1):
        ts = ev.get("ts")
        cols["seq"].append(i)
        cols["ts_ns"].append(ts if isinstance(ts, int) else None)
        cols["kind"].append(kind_of(ev))
        cols["event"].append(str(ev.get("event", "")))
        for c in ("symbol", "account", "reason", "message"):
            v = ev.get(c)
            cols[c].append(None if v is None else str(v))
        cols["detail"].append(orjson.dumps(ev, default=str).decode())
    types = {"seq": pa.int64(), "ts_ns": pa.int64()}
    return pa.table({c: pa.array(v, type=types.get(c, pa.string())) for c, v in cols.items()})


class SqlConsole:
    """Runs queries for one source and settings; ``target`` is ``store`` or ``journal``."""

    def __init__(self, settings, source, target: str = "store") -> None:
        self.settings = settings
        self.source = source
        self.target = target

    @property
    def store_path(self) -> Path:
        from core.store import default_store_path

        return default_store_path(self.settings)

    def toggle(self) -> str:
        self.target = TARGETS[(TARGETS.index(self.target) + 1) % len(TARGETS)]
        return self.target

    def query(self, sql: str, limit: int | None = 1000) -> tuple[list[str], list[tuple]]:
        """(column names, up to ``limit`` rows) of one read-only statement."""
        return self._run(sql, lambda db, q: db.query(q, limit=limit))

    def arrow(self, sql: str):
        """The whole result as an Arrow table (for export)."""
        return self._run(sql, lambda db, q: db.query_arrow(q))

    def _run(self, sql: str, fn):
        import duckdb

        from core.journal import JournalError
        from core.store import MarketStore, StoreError, check_read_only

        if not sql.strip():
            raise ConsoleError("type a query first (e.g. SELECT * FROM trades LIMIT 10)")
        try:
            check_read_only(sql)
        except StoreError as exc:
            raise ConsoleError(str(exc)) from None
        if self.target == "journal":
            _seq, events = self.source.state.events_since(0)
            con = duckdb.connect(":memory:")
            try:
                con.register("journal_events", journal_table(events))
                con.execute("CREATE TABLE journal AS SELECT * FROM journal_events")
                con.unregister("journal_events")
                return fn(_JournalDb(con), sql)
            except duckdb.Error as exc:
                raise ConsoleError(" ".join(str(exc).split())) from None
            finally:
                con.close()
        try:
            store = MarketStore(self.store_path, read_only=True)
        except (StoreError, JournalError) as exc:
            raise ConsoleError(str(exc)) from None
        try:
            return fn(store, sql)
        except StoreError as exc:
            raise ConsoleError(str(exc)) from None
        finally:
            store.close()

    def export(self, sql: str, path: str | Path) -> tuple[Path, int]:
        """Write the whole result of ``sql`` to ``path`` (CSV or Parquet by suffix), atomically:
        a failure leaves nothing behind. Returns (path, rows)."""
        target = Path(path).expanduser()
        fmt = EXPORT_FORMATS.get(target.suffix.lower())
        if fmt is None:
            raise ConsoleError(f"export path {target} must end in .csv, .parquet or .pq")
        if not target.parent.is_dir():
            raise ConsoleError(f"directory {target.parent} does not exist")
        from core.store import StoreError, write_table

        table = self.arrow(sql)
        try:
            write_table(table, target, fmt)
        except StoreError as exc:
            raise ConsoleError(str(exc)) from None
        return target, table.num_rows


class _JournalDb:
    """The in-memory journal with the store's ``query`` / ``query_arrow`` shape."""

    def __init__(self, con) -> None:
        self.con = con

    def query(self, sql: str, limit: int | None = None) -> tuple[list[str], list[tuple]]:
        cur = self.con.execute(sql)
        cols = [d[0] for d in cur.description or []]
        return cols, cur.fetchmany(limit) if limit is not None else cur.fetchall()

    def query_arrow(self, sql: str):
        from core.store import _arrow

        return _arrow(self.con.sql(sql))
