"""``tickdesk history ...``: the market-data store (``market.duckdb``) from the command line.

``history import FILE... --symbol BTC/USDT [--venue file]``  1-minute candle files (JSON arrays
    ``[open_ms, o, h, l, c, volume]``, gzip or not, as freqtrade/ccxt download them) into ``bars``;
``history bars SYMBOL --tf 1m [--venue V] [--since T] [--until T] [--limit N] [--json]``;
``history trades SYMBOL [--venue V] [--since T] [--until T] [--limit N] [--json]``;
``history sql "SELECT ..." [--json] [--csv FILE] [--parquet FILE]`` (read-only: anything but
    SELECT / WITH / SHOW / DESCRIBE / EXPLAIN / catalogue PRAGMAs is refused);
``history info`` (tables, row counts, time ranges per series, the file).

Every command takes ``--store PATH`` (default ``<data dir>/market.duckdb``). Reads open the file
read-only; a file held by a running ``feed run --record`` is reported with that process's pid
and command. Times (``--since``/``--until``) are ISO-8601 (UTC unless an offset is given) or
integer epoch milliseconds; ``--until`` is inclusive.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from tui.cli import app, emit_json, fail

history_app = typer.Typer(help="The market-data store: import candle files, read bars and trades, read-only SQL.",
                          no_args_is_help=True)
app.add_typer(history_app, name="history")

StoreOpt = Annotated[Path | None, typer.Option("--store", help="Market store file (default: <data dir>/market.duckdb).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="From this time (ISO-8601 or epoch ms), inclusive.")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Up to this time (ISO-8601 or epoch ms), inclusive.")]
VenueOpt = Annotated[str | None, typer.Option("--venue", help="binance, binanceusdm, okx, sim or file (default: the only one holding the series).")]


# ---------------------------------------------------------------------- shared helpers
def parse_time_ms(text: str, what: str) -> int:
    """ISO-8601 (UTC unless an offset is given; a bare date is midnight) or epoch ms -> epoch ms."""
    t = text.strip()
    if t.lstrip("-").isdigit():
        return int(t)
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        fail(f"{what} {text!r} is neither an ISO-8601 time (2021-04-21T00:00Z) nor epoch milliseconds")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def iso_ns(ns: int) -> str:
    """Epoch ns -> ``2021-04-21T00:01:00.000Z`` (exact to the millisecond)."""
    sec, rem = divmod(int(ns), 1_000_000_000)
    return datetime.fromtimestamp(sec, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{rem // 1_000_000:03d}Z"


def store_path(ctx: typer.Context, store: Path | None) -> Path:
    if store is not None:
        return store
    from core.store import default_store_path
    from tui.commands.root import get_settings

    return default_store_path(get_settings(ctx))


def open_store(ctx: typer.Context, store: Path | None, read_only: bool, wait: float = 3.0):
    """The store, or a one-line error (missing file, not a store, owned by another process).

    A recorder (``feed run --record``) holds the file only while it writes a batch: a busy file
    is tried again for up to ``wait`` seconds before the owner is reported."""
    import time

    from core.journal import JournalError, StoreOwnedError
    from core.store import MarketStore, StoreError

    path = store_path(ctx, store)
    if read_only and not path.exists():
        fail(f"no market store at {path} (fill it with history import, feed backfill or feed run --record)")
    deadline = time.monotonic() + wait
    while True:
        try:
            return MarketStore(path, read_only=read_only)
        except StoreOwnedError as exc:
            if time.monotonic() >= deadline:
                fail(str(exc))
            time.sleep(0.1)
        except (StoreError, JournalError) as exc:
            fail(str(exc))


def _jsonable(v: Any) -> Any:
    from decimal import Decimal

    if isinstance(v, Decimal):
        return format(v.normalize(), "f") if v == v.to_integral() else format(v, "f").rstrip("0")
    if isinstance(v, (datetime,)):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray)):
        return v.hex()
    return v if isinstance(v, (int, float, str, bool, type(None))) else str(v)


def _emit_json(obj: object) -> None:
    emit_json(obj, default=_jsonable)


def _print_table(cols: list[str], rows: list[tuple]) -> None:
    cells = [["" if v is None else str(_jsonable(v)) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(cols)]
    typer.echo("  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip())
    for r in cells:
        typer.echo("  ".join(v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(r, widths)).rstrip())


def _numeric(v: str) -> bool:
    return v.replace(".", "", 1).lstrip("-").isdigit()


def _pick_venue(st, table: str, symbol: str, venue: str | None, tf: str | None = None) -> str:
    """The venue asked for, or the only one holding the series (else a one-line error)."""
    if venue is not None:
        return venue
    where, params = "symbol = ?", [symbol]
    if tf is not None:
        where += " AND tf = ?"
        params.append(tf)
    venues = [r[0] for r in st.con.execute(f"SELECT DISTINCT venue FROM {table} WHERE {where} ORDER BY 1", params).fetchall()]
    what = f"{symbol} {tf} bars" if tf else f"{symbol} trades"
    if not venues:
        fail(f"no {what} in {st.path}")
    if len(venues) > 1:
        fail(f"{what} exist for several venues ({', '.join(venues)}): choose one with --venue")
    return venues[0]


def _window(since: str | None, until: str | None) -> tuple[int | None, int | None]:
    lo = parse_time_ms(since, "--since") * 1_000_000 if since else None
    hi = (parse_time_ms(until, "--until") + 1) * 1_000_000 if until else None
    if lo is not None and hi is not None and hi <= lo:
        fail("--until is before --since")
    return lo, hi


def _limited(st, sql: str, params: list, limit: int, newest: bool, order: str) -> tuple[list[str], list[tuple]]:
    """``sql`` ordered by ``order``; with a limit, the first rows (or the newest, kept ascending)."""
    if limit and newest:
        desc = ", ".join(f"{c.strip()} DESC" for c in order.split(","))
        sql = f"SELECT * FROM ({sql} ORDER BY {desc} LIMIT {limit}) ORDER BY {order}"
    else:
        sql += f" ORDER BY {order}" + (f" LIMIT {limit}" if limit else "")
    cur = st.con.execute(sql, params)
    return [d[0] for d in cur.description], cur.fetchall()


# ---------------------------------------------------------------------- import
@history_app.command("import")
def history_import(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Candle files: JSON arrays of \\[open_ms, o, h, l, c, volume] (gzip or not).")],
    symbol: Annotated[str, typer.Option("--symbol", help="Unified symbol the candles are for (BTC/USDT).")],
    venue: Annotated[str, typer.Option("--venue", help="Venue recorded in the store.")] = "file",
    tf: Annotated[str, typer.Option("--tf", help="Timeframe of the candles in the files.")] = "1m",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import candle files into the store's bars (upsert: importing again changes nothing)."""
    from core.store import TF_NS, VENUES, StoreError, bars_table
    from feeds.candlefiles import CandleFileError, read_candle_file

    if venue not in VENUES:
        fail(f"--venue {venue!r} is not one of {', '.join(VENUES)}")
    if tf not in TF_NS:
        fail(f"--tf {tf!r} is not one of {', '.join(TF_NS)}")
    if "/" not in symbol:
        fail(f"--symbol {symbol!r} must be a unified symbol such as BTC/USDT")
    tables = []
    for f in files:  # read and check every file before writing anything
        if not f.is_file():
            fail(f"candle file {f} does not exist")
        try:
            rows = read_candle_file(f, TF_NS[tf] // 1_000_000)
        except CandleFileError as exc:
            fail(str(exc))
        tables.append((f, len(rows), bars_table([(venue, symbol, tf, t * 1_000_000, o, h, lo, c, v, None)
                                                 for t, o, h, lo, c, v in rows]), rows))
    st = open_store(ctx, store, read_only=False)
    out = []
    try:
        for f, n, table, rows in tables:
            st.append_bars(table)
            out.append({"file": str(f), "rows": n, "first": iso_ns(rows[0][0] * 1_000_000) if rows else None,
                        "last": iso_ns(rows[-1][0] * 1_000_000) if rows else None})
            typer.echo(f"history: {f.name}: {n} {tf} bars of {symbol} ({venue})", err=True)
        (total,) = st.con.execute("SELECT count(*) FROM bars WHERE venue = ? AND symbol = ? AND tf = ?",
                                  [venue, symbol, tf]).fetchone()
    except StoreError as exc:
        fail(str(exc))
    finally:
        st.close()
    result = {"store": str(st.path), "venue": venue, "symbol": symbol, "tf": tf, "files": out, "series_rows": int(total)}
    if as_json:
        _emit_json(result)
    else:
        typer.echo(f"imported {sum(x['rows'] for x in out)} bars from {len(out)} file(s); "
                   f"{venue} {symbol} {tf} now has {total} bars in {st.path}")


# ---------------------------------------------------------------------- bars, trades
@history_app.command("bars")
def history_bars(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="Unified symbol (BTC/USDT).")],
    tf: Annotated[str, typer.Option("--tf", help="Timeframe: 1s 1m 5m 15m 1h 4h 1d.")] = "1m",
    venue: VenueOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many bars (0: all); the newest unless --since.")] = 100,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Bars of one series, oldest first, exact decimals."""
    from core.store import TF_NS

    if tf not in TF_NS:
        fail(f"--tf {tf!r} is not one of {', '.join(TF_NS)}")
    if limit < 0:
        fail(f"--limit must not be negative, got {limit}")
    lo, hi = _window(since, until)
    st = open_store(ctx, store, read_only=True)
    try:
        v = _pick_venue(st, "bars", symbol, venue, tf)
        sql = ("SELECT start_ns, open, high, low, close, volume, trades FROM bars "
               "WHERE venue = ? AND symbol = ? AND tf = ?")
        params: list = [v, symbol, tf]
        sql, params = _bounded(sql, params, "start_ns", lo, hi)
        cols, rows = _limited(st, sql, params, limit, since is None, "start_ns")
    finally:
        st.close()
    _show_series(as_json, {"venue": v, "symbol": symbol, "tf": tf}, cols, rows, "bars")


@history_app.command("trades")
def history_trades(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="Unified symbol (BTC/USDT).")],
    venue: VenueOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many trades (0: all); the newest unless --since.")] = 100,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Recorded trades of one symbol, oldest first (exchange time, local receive time, taker side)."""
    if limit < 0:
        fail(f"--limit must not be negative, got {limit}")
    lo, hi = _window(since, until)
    st = open_store(ctx, store, read_only=True)
    try:
        v = _pick_venue(st, "trades", symbol, venue)
        sql = "SELECT ts_ns, recv_ns, trade_id, side, price, qty FROM trades WHERE venue = ? AND symbol = ?"
        sql, params = _bounded(sql, [v, symbol], "ts_ns", lo, hi)
        cols, rows = _limited(st, sql, params, limit, since is None, "ts_ns, trade_id")
    finally:
        st.close()
    _show_series(as_json, {"venue": v, "symbol": symbol}, cols, rows, "trades")


def _bounded(sql: str, params: list, col: str, lo: int | None, hi: int | None) -> tuple[str, list]:
    if lo is not None:
        sql += f" AND {col} >= ?"
        params.append(lo)
    if hi is not None:
        sql += f" AND {col} < ?"
        params.append(hi)
    return sql, params


def _show_series(as_json: bool, head: dict, cols: list[str], rows: list[tuple], what: str) -> None:
    tcol = cols[0]
    if as_json:
        _emit_json({**head, what: [{"time": iso_ns(r[0]), **dict(zip(cols, r))} for r in rows]})
        return
    if not rows:
        typer.echo(f"no {what} in that range", err=True)
        return
    _print_table(["time", *cols[1:]] if tcol in ("start_ns", "ts_ns") else cols,
                 [(iso_ns(r[0]), *r[1:]) for r in rows])


# ---------------------------------------------------------------------- sql, info
@history_app.command("sql")
def history_sql(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="One read-only statement: SELECT, WITH, SHOW, DESCRIBE, EXPLAIN.")],
    csv: Annotated[Path | None, typer.Option("--csv", help="Write the whole result to this CSV file.")] = None,
    parquet: Annotated[Path | None, typer.Option("--parquet", help="Write the whole result to this Parquet file.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows printed (0: all); exports always hold every row.")] = 1000,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a read-only SQL query on the store; print it, or export it to CSV / Parquet."""
    from core.store import ReadOnlyQueryError, StoreError, check_read_only

    if limit < 0:
        fail(f"--limit must not be negative, got {limit}")
    for target in (csv, parquet):
        if target is not None and not target.parent.is_dir():
            fail(f"directory {target.parent} does not exist")
    try:
        check_read_only(query)
    except ReadOnlyQueryError as exc:
        fail(str(exc))
    st = open_store(ctx, store, read_only=True)
    try:
        if csv is not None or parquet is not None:
            table = st.query_arrow(query)
            written = {}
            if csv is not None:
                written["csv"] = _export(table, csv, "csv")
            if parquet is not None:
                written["parquet"] = _export(table, parquet, "parquet")
            if as_json:
                _emit_json({"rows": table.num_rows, "columns": table.column_names, "written": written})
            else:
                typer.echo(f"{table.num_rows} rows written to " + ", ".join(written.values()))
            return
        cols, rows = st.query(query, limit=limit + 1 if limit else None)
    except StoreError as exc:
        fail(str(exc))
    finally:
        st.close()
    more = bool(limit) and len(rows) > limit
    rows = rows[:limit] if limit else rows
    if as_json:
        _emit_json({"columns": cols, "rows": [list(r) for r in rows], "truncated": more})
        return
    _print_table(cols, rows)
    if more:
        typer.echo(f"(first {limit} rows; --limit 0 for all, or --csv/--parquet)", err=True)


def _export(table, path: Path, fmt: str) -> str:
    from core.store import StoreError, write_table

    try:
        return str(write_table(table, path, fmt))
    except StoreError as exc:
        fail(str(exc))
        raise  # unreachable: fail() exits


@history_app.command("info")
def history_info(ctx: typer.Context, store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """What the store holds: tables, row counts, the time range of every series, the file."""
    st = open_store(ctx, store, read_only=True)
    try:
        info = st.info()
    finally:
        st.close()
    for series in info["trades"] + info["bars"]:
        series["first"] = iso_ns(series["first_ns"])
        series["last"] = iso_ns(series["last_ns"])
    if as_json:
        _emit_json(info)
        return
    typer.echo(f"{info['path']} ({info['size_bytes']:,} bytes)")
    typer.echo("tables: " + ", ".join(f"{t} {n:,} rows" for t, n in info["tables"].items()))
    if info["bars"]:
        _print_table(["bars", "symbol", "tf", "rows", "first", "last"],
                     [(b["venue"], b["symbol"], b["tf"], b["rows"], b["first"], b["last"]) for b in info["bars"]])
    if info["trades"]:
        _print_table(["trades", "symbol", "rows", "first", "last"],
                     [(t["venue"], t["symbol"], t["rows"], t["first"], t["last"]) for t in info["trades"]])
