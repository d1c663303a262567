"""``tickdesk sim market``: the simulated market headless, as a live ticker or a JSON summary.

``run_live`` is also what bare ``tickdesk`` shows until the Textual workstation lands: it pulls
the published ``MarketView`` once per simulated second and prints one plain line, the same way
the UI pump will pull (never a message per tick).
"""

from __future__ import annotations

import queue
import sys
import time
from collections.abc import Sequence
from typing import IO, Annotated

import typer

from tui.cli import fail, sim_app

NS_PER_SECOND = 1_000_000_000


def _clock(ns: int) -> str:
    """Simulated time since the start as HH:MM:SS."""
    s = ns // NS_PER_SECOND
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def live_line(view, trades_in_second: int, now_ns: int) -> str:
    """One top-of-book line from a ``MarketView`` at simulated time ``now_ns``."""
    bid = f"{view.bids[0].price} x {view.bids[0].qty}" if view.bids else "-"
    ask = f"{view.asks[0].price} x {view.asks[0].qty}" if view.asks else "-"
    return (
        f"{_clock(now_ns)}  {view.symbol}  bid {bid}  ask {ask}  last {view.last or '-'}  trades {trades_in_second}"
    )


def _build(seed: int, symbols: tuple[str, ...], step_ms: int):
    """A SimMarket, or a one-line error for an unknown symbol."""
    from core.simmarket import SimMarket

    try:
        return SimMarket(seed, symbols=symbols, step_ms=step_ms)
    except ValueError as exc:
        fail(str(exc))
        raise  # unreachable


def run_live(
    seed: int = 1,
    rate: float = 1.0,
    seconds: int | None = None,
    symbol: str = "BTC/USDT",
    step_ms: int = 100,
    out: IO[str] | None = None,
    symbols: Sequence[str] | None = None,
) -> None:
    """Run the simulated market at ``rate`` x real time (0 = unpaced), printing one line per
    symbol per simulated second, for ``seconds`` or until Ctrl+C (a clean stop, not an error).
    ``symbols`` (e.g. the config's ``simmarket.symbols``) overrides ``symbol``."""
    from core.market_state import MarketState
    from core.simmarket import SimMarketWorker

    out = out or sys.stdout
    names = tuple(symbols) if symbols else (symbol,)
    market = _build(seed, names, step_ms)
    state = MarketState(depth=5)
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()
    printed = dict.fromkeys(names, 0)  # trade count at the last line, per symbol

    def on_step(m, _events) -> None:
        if m.now_ns % NS_PER_SECOND:
            return
        for name in names:
            view = state.view(name)
            if view is not None:
                lines.put(live_line(view, view.trade_count - printed[name], m.now_ns))
                printed[name] = view.trade_count

    max_steps = None if seconds is None else seconds * 1000 // step_ms
    worker = SimMarketWorker(market, rate=rate, state=state, max_steps=max_steps, on_step=on_step)
    worker.start()
    try:
        while True:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                if worker.done.is_set() and lines.empty():
                    break
                continue
            out.write(line + "\n")
            out.flush()
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:  # `tickdesk sim market | head`
        pass
    finally:
        worker.stop()
    if worker.error is not None:
        fail(f"simulated market stopped: {worker.error!r}", code=1)


@sim_app.command("market")
def sim_market(
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed: the same seed gives the same market.")] = 1,
    seconds: Annotated[
        int | None, typer.Option("--seconds", min=1, help="Simulated seconds to run (default: until Ctrl+C).")
    ] = None,
    rate: Annotated[float, typer.Option("--rate", help="Speed as a multiple of real time.")] = 1.0,
    fast: Annotated[bool, typer.Option("--fast", help="As fast as possible (same result as paced).")] = False,
    symbol: Annotated[str, typer.Option("--symbol", help="Symbol to simulate.")] = "BTC/USDT",
    step_ms: Annotated[int, typer.Option("--step-ms", min=1, help="Simulated clock step.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print one summary object on stdout at the end.")] = False,
) -> None:
    """Run the simulated market: agents quoting and trading on the venue.

    Without --json: one top-of-book line per simulated second. With --json (needs --seconds):
    one summary of trades, spread, depth and a balance conservation check.
    """
    if not fast and rate <= 0:
        fail("--rate must be positive (use --fast for an unpaced run)")
    pace = 0.0 if fast else rate
    if not as_json:
        run_live(seed=seed, rate=pace, seconds=seconds, symbol=symbol, step_ms=step_ms)
        return
    if seconds is None:
        fail("--json needs --seconds (the summary is of a finite run)")
    if (seconds * 1000) % step_ms:
        fail(f"--seconds {seconds} is not a whole number of {step_ms} ms steps")

    import orjson

    from core.simmarket import SimMarketWorker
    from core.simmarket.summary import RunStats

    market = _build(seed, (symbol,), step_ms)
    stats = RunStats(market, symbol)
    worker = SimMarketWorker(market, rate=pace, max_steps=seconds * 1000 // step_ms, on_step=stats)
    started = time.perf_counter()
    worker.start()
    try:
        while not worker.join(0.2):
            pass
    except KeyboardInterrupt:
        worker.stop()
        fail("interrupted", code=130)
    wall = time.perf_counter() - started
    if worker.error is not None:
        fail(f"simulated market stopped: {worker.error!r}", code=1)
    result = stats.summary(seconds)
    result["rate"] = "fast" if fast else rate
    result["timing"] = {"wall_seconds": round(wall, 3), "speed": round(seconds / wall, 2) if wall else None}
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
