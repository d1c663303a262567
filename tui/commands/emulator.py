"""``tickdesk emulator``: a protocol-faithful Binance / OKX emulator serving a recording.

It prints where it listens as soon as it is ready (one JSON line on stdout with ``--json``),
serves until ``--seconds`` have passed or it gets SIGINT/SIGTERM, then prints its final state
(a second JSON line with ``--json``).  Logs go to stderr.

OKX: market channels on ``/ws/v5/public``, candles on ``/ws/v5/business`` (recorded, or derived
from the served trades when the recording has none; the listening line says which). Binance:
kline streams the recording lacks are derived from its trades. ``--klines FILE`` (a 1-minute
candle file) feeds ``/api/v3/klines`` and OKX ``/api/v5/market/(history-)candles`` for backfills.
"""

from __future__ import annotations

import asyncio
import enum
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from tui.cli import app, fail


class EmuExchange(str, enum.Enum):
    binance = "binance"
    okx = "okx"


class OkxChecksum(str, enum.Enum):
    computed = "computed"
    zero = "zero"


@app.command("emulator")
def emulator(
    exchange: Annotated[EmuExchange, typer.Option("--exchange", help="Which exchange to emulate.", case_sensitive=False)],
    files: Annotated[
        list[Path],
        typer.Option("--file", help="Recording to serve (repeatable; cryptofeed companions are found automatically). "
                     "Formats: tickdesk capture, hftbacktest, cryptofeed."),
    ],
    port: Annotated[int, typer.Option("--port", help="TCP port (0: any free port, printed when ready).")] = 0,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    speed: Annotated[float, typer.Option("--speed", help="Pace multiplier of the recorded times (0: as fast as clients read).")] = 1.0,
    rate: Annotated[float | None, typer.Option("--rate", help="Serve this many frames per second, ignoring recorded times.")] = None,
    loop: Annotated[bool, typer.Option("--loop", help="Start again at the end, continuously (ids keep increasing, no gap).")] = False,
    faults: Annotated[
        str | None,
        typer.Option("--faults", help="Faults, e.g. drop=0.05,dup=0.02,reorder=0.02,garbage=0.01,corrupt=0.05,"
                     "disconnect=5,stall=4[:10],after=1,until=20,seed=7."),
    ] = None,
    seconds: Annotated[float | None, typer.Option("--seconds", help="Stop after this many seconds.")] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Start the playback now, not at the first subscription.")] = False,
    keep_times: Annotated[bool, typer.Option("--keep-times", help="Keep the recorded event times (default: the send time).")] = False,
    okx_checksum: Annotated[
        OkxChecksum, typer.Option("--okx-checksum", help="OKX books checksum: computed CRC32, or zero (OKX since June 2026).")
    ] = OkxChecksum.computed,
    okx_snapshot: Annotated[
        bool, typer.Option("--okx-snapshot/--no-okx-snapshot", help="OKX: send a books snapshot on subscribe (off: REST bootstrap).")
    ] = True,
    klines: Annotated[Path | None, typer.Option("--klines", help="1-minute candle file for the REST klines/candles endpoints (default: built from trades).")] = None,
    ping_interval: Annotated[float, typer.Option("--ping-interval", help="Binance: seconds between server pings (0: off).")] = 20.0,
    history: Annotated[int, typer.Option("--history", help="Book updates kept per symbol for /debug/book?at=ID.")] = 5_000,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines on stdout: where it listens, then the final state.")] = False,
) -> None:
    """Serve FILE as a live exchange: WebSocket streams, REST snapshots and faults on demand."""
    from feeds.emulator import Emulator, EmulatorConfig, FaultSpecError, SourceError, load_timeline, parse_faults

    if not 0 <= port <= 65535:
        fail(f"--port must be between 0 and 65535, got {port}")
    if speed < 0 or speed != speed:
        fail(f"--speed must be 0 or more, got {speed}")
    if rate is not None and not rate > 0:
        fail(f"--rate must be positive, got {rate}")
    if seconds is not None and not seconds > 0:
        fail(f"--seconds must be positive, got {seconds}")
    if history < 1:
        fail(f"--history must be at least 1, got {history}")
    if klines is not None and not klines.is_file():
        fail(f"candle file {klines} does not exist")
    try:
        spec = parse_faults(faults)
    except FaultSpecError as exc:
        fail(f"--faults: {exc}")
    try:
        timeline = load_timeline([str(f) for f in files], exchange.value)
    except SourceError as exc:
        fail(str(exc))
    config = EmulatorConfig(
        speed=speed, rate=rate, loop=loop, faults=spec, host=host, port=port, wait_client=not no_wait,
        rewrite_times=not keep_times, ping_interval=ping_interval or None,
        okx_checksum=okx_checksum.value, okx_snapshot=okx_snapshot, klines_path=str(klines) if klines else None,
        history=history,
    )
    try:
        emu = Emulator(timeline, config)
    except (KeyError, ValueError) as exc:
        fail(f"cannot serve {', '.join(map(str, files))}: {exc}")
    try:
        state = asyncio.run(_serve(emu, seconds, as_json))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    if as_json:
        import orjson

        sys.stdout.write(orjson.dumps({"event": "stopped", **state}).decode() + "\n")
    else:
        f = state["faults"]
        typer.echo(
            f"emulator stopped: {state['published']} frames published ({state['loops']} loops), "
            f"{state['clients_total']} clients; faults: "
            + (", ".join(f"{k} {v}" for k, v in f.items() if v) or "none")
        )


async def _serve(emu, seconds: float | None, as_json: bool) -> dict:
    import orjson

    await emu.start()
    urls = emu.urls()
    recorded = getattr(emu.venue, "recorded_candles", None)  # OKX: candles recorded or derived
    if recorded is not None:
        urls["candles"] = "recorded" if recorded else "derived from trades"
    if as_json:
        sys.stdout.write(orjson.dumps({"event": "listening", **urls, "frames": len(emu.timeline.items)}).decode() + "\n")
    else:
        sys.stdout.write(
            f"emulator: {urls['exchange']} on {urls['ws_url']} (REST {urls['rest_url']}, "
            f"debug {urls['debug_url']}); {len(emu.timeline.items)} frames\n"
        )
        if recorded is not None:
            sys.stdout.write(f"emulator: candles on {urls['business_ws_url']}: "
                             f"{'as recorded' if recorded else 'the recording has none: derived from its trades'}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover (non-Unix)
            pass
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        pass
    state = emu.state()
    await emu.stop()
    return state
