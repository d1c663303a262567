"""``tickdesk journal state|export|verify``: read a durable journal written by ``sim run --db``.

These commands open the DuckDB file read-only; while another process owns it they fail with a
one-line error naming that process, rather than waiting on or disturbing it. Heavy imports
(duckdb, numpy, the engine) happen inside the commands so ``tickdesk --help`` stays fast.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from tui.cli import fail, journal_app

DbOption = Annotated[Path, typer.Option("--db", help="The DuckDB journal file (written by `sim run --db`).")]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")]


def _open(db: Path):  # -> JournalStore
    from core.journal import JournalError, JournalStore

    try:
        return JournalStore(db, create=False, read_only=True)
    except JournalError as exc:
        fail(str(exc))


def _recover(db: Path):  # -> DurableEngine
    """Open the journal and rebuild (and verify) the engine from it."""
    from core.durable import DurableEngine
    from core.journal import JournalError

    store = _open(db)
    try:
        return DurableEngine(store)
    except JournalError as exc:
        store.close()
        fail(str(exc))


@journal_app.command("state")
def state(db: DbOption, json_out: JsonOption = False) -> None:
    """Print the engine state recovered from the journal (balances, open orders, books)."""
    import orjson

    de = _recover(db)
    try:
        snap = de.state_snapshot()
    finally:
        de.store.close()
    option = orjson.OPT_SORT_KEYS if json_out else orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2
    sys.stdout.write(orjson.dumps(snap, option=option).decode() + "\n")


@journal_app.command("export")
def export(
    db: DbOption,
    out: Annotated[Path | None, typer.Option("--out", help="Write the commands here (default: stdout).")] = None,
) -> None:
    """Write the journaled commands as a JSONL command journal, in the order they were applied."""
    store = _open(db)
    n = 0
    try:
        target = out.open("w", encoding="utf-8") if out is not None else sys.stdout
        try:
            for _seq, _line, raw in store.iter_raw():
                target.write(raw)
                target.write("\n")
                n += 1
        finally:
            if out is not None:
                target.close()
            else:
                target.flush()
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")
    finally:
        store.close()
    typer.echo(f"exported {n} commands", err=True)


@journal_app.command("verify")
def verify(db: DbOption, json_out: JsonOption = False) -> None:
    """Replay the journal through the engine and check every stored event is reproduced."""
    import orjson

    t0 = time.perf_counter()
    de = _recover(db)
    store = de.store
    try:
        statuses = store.status_counts()
        report = {
            "ok": True,
            "commands": store.count(),
            "applied": statuses.get("applied", 0),
            "rejected": statuses.get("rejected", 0),
            "events": store.event_count(),
            "replayed_events": de.replayed_events,
            "last_line": store.last_line(),
            "meta": {k: v for k, v in store.meta().items() if k != "engine_config"},
            "seconds": round(time.perf_counter() - t0, 6),
        }
    finally:
        store.close()
    if report["events"] != report["replayed_events"]:
        fail(f"{db}: {report['events']} events stored but {report['replayed_events']} replayed")
    if json_out:
        sys.stdout.write(orjson.dumps(report).decode() + "\n")
    else:
        typer.echo(
            f"ok: {report['commands']} commands ({report['applied']} applied, {report['rejected']} rejected), "
            f"{report['events']} events reproduced, last input line {report['last_line']}"
        )


def run_sim_durable(db: Path, source: str, lines, no_risk: bool, summary, out: Path | None):
    """The body of ``sim run --db``: the journaled loop with events released after each commit.

    Returns ``(engine, journal info for the --json summary)``. Every journal problem (owned
    file, foreign file, settings or input mismatch) becomes a one-line error.
    """
    from core.durable import run_durable
    from core.engine import EngineConfig
    from core.eventsink import DurableEventSink
    from core.journal import JournalError, JournalStore

    try:
        store = JournalStore(db)
    except JournalError as exc:
        fail(str(exc))
    sink = None
    try:
        resume = store.count() > 0
        if out is not None:
            sink = DurableEventSink(out, store, resume=resume)
        on_ack = sink.write_batch if sink is not None else (lambda _batch: None)
        result = run_durable(lines, store, EngineConfig(no_risk=no_risk), on_ack, summary=summary, source=source)
        info = result.as_json()
        if sink is not None:
            info["caught_up_events"] = sink.caught_up
        return result.engine.engine, info
    except JournalError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write events file {out}: {exc.strerror or exc}")
    finally:
        if sink is not None:
            sink.close()
        store.close()
