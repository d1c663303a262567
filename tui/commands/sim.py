"""``tickdesk sim run``: replay a command journal through the matching engine (pinned)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from tui.cli import fail, sim_app


def _open_output(path: Path | None):
    if path is None:
        return None
    try:
        return open(path, "wb")
    except OSError as exc:
        fail(f"cannot write events file {path}: {exc.strerror}")


@sim_app.command("run")
def sim_run(
    journal: Annotated[Path, typer.Argument(help="Command journal (JSON Lines), or - for stdin.")],
    out: Annotated[Path | None, typer.Option("--out", help="Write every event as JSON Lines here.")] = None,
    no_risk: Annotated[bool, typer.Option("--no-risk", help="Pure matching: no balances, holds or risk checks.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one summary object on stdout.")] = False,
    state_out: Annotated[Path | None, typer.Option("--state-out", help="Write the final venue state (JSON).")] = None,
    db: Annotated[
        Path | None,
        typer.Option("--db", help="Journal every command in this DuckDB file; events reach --out only once durable, "
                     "and a rerun with the same --db resumes after the last journaled line."),
    ] = None,
) -> None:
    """Replay JOURNAL deterministically; bad lines become reject events and the run goes on."""
    import orjson

    from core.engine import Engine, EngineConfig
    from core.simrun import RunSummary, numbered_lines, run_lines

    if str(journal) != "-" and not journal.is_file():
        fail(f"journal file {journal} does not exist")
    engine = Engine(EngineConfig(no_risk=no_risk))
    summary = RunSummary()
    sink = _open_output(out) if db is None else None
    journal_info = None

    def write(_line: int, events: list[dict]) -> None:
        for ev in events:
            sink.write(orjson.dumps(ev))
            sink.write(b"\n")

    source = sys.stdin.buffer if str(journal) == "-" else open(journal, "rb")
    try:
        with source:
            if db is not None:
                from tui.commands.journal import run_sim_durable

                engine, journal_info = run_sim_durable(db, str(journal), numbered_lines(source), no_risk, summary, out)
            else:
                run_lines(engine, numbered_lines(source), summary, write if sink else None)
    finally:
        if sink is not None:
            sink.close()
    result = summary.as_json(engine)
    if journal_info is not None:
        result["journal"] = journal_info
    if state_out is not None:
        state_out.write_bytes(orjson.dumps(engine.state_snapshot(), option=orjson.OPT_INDENT_2))
    if as_json:
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
        return
    _print_summary(result)


def _print_summary(result: dict) -> None:
    """Human-readable summary (plain text: this command never needs rich)."""
    typer.echo(f"commands   {result['commands']}  (applied {result['applied']}, rejected {result['rejected_total']})")
    typer.echo(f"accepted   {result['accepted']} orders")
    typer.echo(f"trades     {result['trades']}")
    for sym, qty in result["traded_qty"].items():
        best = result["best"].get(sym, {})
        typer.echo(f"  {sym:<10} traded {qty}  best bid {best.get('bid')}  ask {best.get('ask')}")
    for reason, count in result["rejected"].items():
        typer.echo(f"rejected   {reason:<26} {count}")
    typer.echo(f"engine     {result['engine_seconds']:.3f} s")
