"""``tickdesk replay FILE... [--speed X] [--headless] [--json] [--until TS] [--symbols S,...]``

Replays a recording (tickdesk's own ``--record`` capture, or an hftbacktest / cryptofeed file such
as those in ``../shared/data``) through the same parsers and book syncs as the live feed.

* ``--headless``: no terminal UI (textual is never imported); the replay runs at ``--speed``
  (0, the default here, = as fast as possible) and prints a summary per symbol: messages,
  applied, gaps, resyncs, crossed books, trades, candles built, the final top of book and the
  recorded time it covered. ``--json`` prints it as one object.
* otherwise: the workstation opens on the Replay screen (space play/pause, ``.`` step, ``+``/``-``
  speed, ``g`` jump to a time) over the same source, starting paused at ``--speed`` (default 1).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from tui.cli import app, fail
from tui.commands.marketdata import UntilOpt, fmt_ns, parse_until


@app.command("replay")
def replay(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Recording file(s); cryptofeed companions are found automatically.")],
    speed: Annotated[float | None, typer.Option("--speed", help="x recorded time: 0.25..64, or 0 = as fast as possible "
                                                "(default: 0 headless, 1 in the UI).")] = None,
    headless: Annotated[bool, typer.Option("--headless", help="No UI: replay, then print a summary.")] = False,
    until: UntilOpt = None,
    symbols: Annotated[str | None, typer.Option("--symbols", help="Only these symbols (comma-separated).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="With --headless: print the summary as one JSON object.")] = False,
) -> None:
    """Replay a capture or recording: headless with a summary, or in the workstation's Replay screen."""
    from tui.sources.replay import ReplaySource, check_speed, scan

    if as_json and not headless:
        fail("--json needs --headless (the UI prints nothing on stdout)")
    pace = (0.0 if headless else 1.0) if speed is None else speed
    try:
        check_speed(pace)
    except ValueError as exc:
        fail(f"--speed: {exc}")
    if not headless and pace == 0:
        fail("--speed 0 (as fast as possible) is for --headless; the Replay screen plays at 0.25..64")
    for f in files:
        if not f.is_file():
            fail(f"cannot replay {f}: no such file")
    wanted = [s.strip() for s in symbols.split(",") if s.strip()] if symbols else None
    try:
        recording = scan(files)
        until_ns = parse_until(until, recording.start_ns)
        source = ReplaySource(files, wanted, speed=pace, playing=headless, until_ns=until_ns, recording=recording)
    except ValueError as exc:
        fail(str(exc))
    if not headless:
        _open_ui(ctx, source)
        return
    started = time.perf_counter()
    source.start()
    try:
        while not source.replay.wait(0.2):
            pass
    except KeyboardInterrupt:
        source.stop()
        fail("interrupted", code=130)
    source.stop()
    if source.replay.error is not None:
        fail(f"replay failed: {type(source.replay.error).__name__}: {source.replay.error}", code=1)
    result = {
        "files": [str(p) for p in recording.files],
        "records": source.replay.handled,
        "start_ns": recording.start_ns,
        "end_ns": source.replay.end_ns,
        "recorded_seconds": round((source.replay.position_ns - recording.start_ns) / 1e9, 3),
        "speed": pace,
        "wall_seconds": round(time.perf_counter() - started, 3),
        "symbols": source.summary(),
    }
    if as_json:
        import orjson

        sys.stdout.write(orjson.dumps(result).decode() + "\n")
        return
    typer.echo(render_summary(result))


def render_summary(r: dict) -> str:
    cols = ("events", "applied", "gaps", "resyncs", "crossed", "trades", "candles_1m")
    width = max([len(s) for s in r["symbols"]] + [6])
    lines = [f"replayed {r['records']:,} records, {fmt_ns(r['start_ns'])} -> {fmt_ns(r['start_ns'] + int(r['recorded_seconds'] * 1e9))} "
             f"({r['recorded_seconds']:g} s recorded) in {r['wall_seconds']:g} s",
             f"{'symbol':{width}}" + "".join(f"{c:>11}" for c in cols) + "   bid / ask   (recorded s)"]
    for name, s in r["symbols"].items():
        top = s["top"] or {}
        lines.append(f"{name:{width}}" + "".join(f"{s[c]:>11,}" for c in cols)
                     + f"   {top.get('bid')} / {top.get('ask')}   ({s['duration_s']:g})")
    return "\n".join(lines)


def _open_ui(ctx: typer.Context, source) -> None:
    """The workstation opened on its Replay screen (textual is imported here only)."""
    from tui import textual_env

    textual_env.apply()
    from tui.app import WorkstationApp
    from tui.commands.root import get_settings, run_app
    from tui.keymap import KeymapError

    class ReplayWorkstation(WorkstationApp):
        DEFAULT_MODE = "replay"

    settings = get_settings(ctx)
    try:
        app_ = ReplayWorkstation(source, settings)
    except (KeymapError, ValueError) as exc:
        source.stop()
        fail(str(exc))
        return
    run_app(app_, source, settings)
