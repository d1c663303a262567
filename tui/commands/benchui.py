"""``tickdesk bench ui``: the real workstation, headless, under a synthetic 20k updates/s feed.

What runs: ``WorkstationApp`` (the same Trade screen, pump, widgets and tables as ``tickdesk``)
in Textual's headless test driver at a fixed size, on ``SyntheticSource``: a thread applies
random L2 deltas near the touch to an ``L2Book`` at ``--rate`` updates/s (1 ms batches, 20 % of
deltas delete a level, ~1 % print a trade) and publishes the book into the versioned
``MarketState`` every ``--publish-ms`` (20 ms; the exchange feed sources publish at most every
50 ms), so every update lands in the state and the UI never sees a message per update. The UI pulls it at
``[ui] refresh_hz`` (or ``--refresh-hz``).

What is measured (tui-guide §C1 harness):

* key latency: a prober thread posts a real ``Key`` event (``up``/``down``: the ladder cursor)
  every ``--key-ms`` as the terminal driver does; latency is post -> the ladder's action runs
  (``handled``) and post -> the next frame the compositor produces after it (``key``). p50,
  p99 and max in ms.
* paints/s: frames produced (``App._display`` calls with an update), over wall time.
  Headless, Textual does not encode a frame for a terminal; ``--render`` adds that step (the
  update rendered to escape sequences, then discarded), which is what a real terminal costs.
* CPU: the whole process (UI + producer) from psutil, as % of one core; RSS at the start and
  the end of the measured window (a growing cache or garbage waiting for collection shows).

Floor: key p99 < 50 ms and >= 15 paints/s; ``pass`` says whether it was met, and a miss exits 1
(after printing the figures).
"""

from __future__ import annotations

import asyncio
import random
import sys
import threading
import time
from concurrent.futures import Future
from typing import Annotated

import typer

from tui.cli import bench_app, fail

KEY_P99_FLOOR_MS = 50.0
PAINTS_FLOOR = 15.0
SYMBOL = "BTC/USDT"


class SyntheticSource:
    """A read-only ``MarketSource`` fed by a seeded random L2 feed thread."""

    can_trade = False
    replay = None

    def __init__(self, rate: int, seed: int = 1, publish_ms: int = 20) -> None:
        from core.instruments import default_instruments
        from core.market_state import MarketState

        self.name = "synthetic"
        self.symbols = [SYMBOL]
        self.instruments = {SYMBOL: default_instruments()[SYMBOL]}
        self.state = MarketState()
        self.rate = rate
        self.publish_ms = publish_ms
        self.rng = random.Random(seed)
        self.applied = 0
        self.publishes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="synthetic-feed", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def submit(self, cmd: dict) -> Future:
        from tui.sources.base import refused

        return refused("the synthetic benchmark feed is read-only")

    def precheck(self, cmd: dict) -> Future:
        return self.submit(cmd)

    def account(self):
        return None

    def health(self) -> dict[str, dict]:
        return {f"synthetic:{SYMBOL}": {"state": "live", "stale_now": not self._thread.is_alive()}}

    def clock_ns(self) -> int:
        return time.time_ns()

    def _run(self) -> None:
        from core.l2book import L2Book

        ins = self.instruments[SYMBOL]
        book = L2Book()
        rng = self.rng
        mid = 3_000_000  # 30000.00
        for i in range(1, 200):
            book.set_bid(mid - i, rng.randint(1, 500))
            book.set_ask(mid + i, rng.randint(1, 500))
        per_ms = max(1, self.rate // 1000)
        seq = 0
        t0 = time.perf_counter()
        k = 0
        trades: list[dict] = []
        while not self._stop.is_set():
            for _ in range(per_ms):
                off = int(rng.expovariate(0.08)) + 1
                lots = 0 if rng.random() < 0.2 else rng.randint(1, 800)
                if rng.random() < 0.5:
                    book.set_bid(mid - off, lots)
                else:
                    book.set_ask(mid + off, lots)
                if rng.random() < 0.01:
                    seq += 1
                    side = "buy" if rng.random() < 0.5 else "sell"
                    price = mid + 1 if side == "buy" else mid - 1
                    trades.append({"price": ins.fmt_price(price), "qty": ins.fmt_qty(rng.randint(1, 300)),
                                   "taker_side": side, "ts": time.time_ns(), "seq": seq})
                    mid += rng.choice((-1, 0, 1))
                    self._uncross(book, mid)
            self.applied += per_ms
            k += 1
            if k % self.publish_ms == 0:  # coalesce: one versioned snapshot per publish interval
                self.state.publish_l2(ins, book, trades, time.time_ns())
                self.publishes += 1
                trades = []
            delay = t0 + k / 1000 - time.perf_counter()
            if delay > 0:
                time.sleep(delay)

    @staticmethod
    def _uncross(book, mid: int) -> None:
        """Keep bids below and asks above the drifting mid."""
        bids, asks = book.top(3)
        for tick, _ in bids:
            if tick >= mid:
                book.set_bid(tick, 0)
        for tick, _ in asks:
            if tick <= mid:
                book.set_ask(tick, 0)
        if not book.top(1)[0]:
            book.set_bid(mid - 1, 100)
        if not book.top(1)[1]:
            book.set_ask(mid + 1, 100)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def measure(
    seconds: float, rate: int, key_ms: int, size: tuple[int, int], refresh_hz: int | None, publish_ms: int = 20,
    render: bool = False,
) -> dict:
    """Run the app headless for ``seconds`` and return the figures."""
    from tui import textual_env

    textual_env.apply()  # the same Textual settings as `tickdesk`
    import psutil
    from textual import events

    from core.config import load_config
    from tui.app import WorkstationApp

    settings = load_config(env={})
    if refresh_hz is not None:
        settings = settings.with_overrides({"ui.refresh_hz": refresh_hz}, source="option --refresh-hz")
    source = SyntheticSource(rate, publish_ms=publish_ms)
    app = WorkstationApp(source, settings)
    paints: list[float] = []
    pending: list[float] = []  # post times of keys not yet handled
    handled: list[tuple[float, float]] = []  # (posted, handled) waiting for the next frame
    key_ms_out: list[float] = []
    handled_ms: list[float] = []
    stop = threading.Event()
    sent = 0

    display = app._display

    def counting_display(screen, renderable) -> None:
        display(screen, renderable)
        if renderable is None or app._batch_count:
            return
        if render:  # what a terminal driver adds: the frame as escape sequences (discarded)
            renderable.render_segments(app.console)
        now = time.perf_counter()
        paints.append(now)
        while handled:
            posted, _ = handled.pop(0)
            key_ms_out.append((now - posted) * 1000)

    app._display = counting_display  # type: ignore[method-assign]

    def prober() -> None:
        nonlocal sent
        flip = False
        while not stop.wait(key_ms / 1000):
            flip = not flip
            key = "up" if flip else "down"
            pending.append(time.perf_counter())
            sent += 1
            app.post_message(events.Key(key, None))

    async with app.run_test(size=size) as pilot:
        ladder = app.screen.query_one("#ladder")
        ladder.focus()
        move = ladder.action_move_cursor

        def timed_move(rows: int) -> None:
            move(rows)
            now = time.perf_counter()
            if pending:
                posted = pending.pop(0)
                handled_ms.append((now - posted) * 1000)
                handled.append((posted, now))

        ladder.action_move_cursor = timed_move  # the binding resolves the instance attribute
        await pilot.pause(0.5)  # warm-up: first frames, book filled
        proc = psutil.Process()
        rss0 = proc.memory_info().rss
        cpu0 = proc.cpu_times()
        paints.clear()
        key_ms_out.clear()
        handled_ms.clear()
        applied0, pub0 = source.applied, source.publishes
        t0 = time.perf_counter()
        thread = threading.Thread(target=prober, name="key-prober", daemon=True)
        thread.start()
        await asyncio.sleep(seconds)
        stop.set()
        thread.join()
        wall = time.perf_counter() - t0
        cpu1 = proc.cpu_times()
        rss1 = proc.memory_info().rss
        n_paints = sum(1 for p in paints if p >= t0)
        applied, pubs = source.applied - applied0, source.publishes - pub0
        await pilot.pause(0.2)
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    r = lambda v: None if v is None else round(v, 2)  # noqa: E731
    out = {
        "seconds": round(wall, 2),
        "size": f"{size[0]}x{size[1]}",
        "refresh_hz": app.refresh_hz,
        "rate_target": rate,
        "updates_applied_per_s": round(applied / wall),
        "publishes_per_s": round(pubs / wall),
        "publish_ms": publish_ms,
        "render": render,
        "keys_sent": sent,
        "keys_handled": len(handled_ms),
        "handled_p50_ms": r(_pct(handled_ms, 0.5)),
        "handled_p99_ms": r(_pct(handled_ms, 0.99)),
        "key_p50_ms": r(_pct(key_ms_out, 0.5)),
        "key_p99_ms": r(_pct(key_ms_out, 0.99)),
        "key_max_ms": r(max(key_ms_out) if key_ms_out else None),
        "paints_per_s": round(n_paints / wall, 1),
        "cpu_pct": round(100 * cpu / wall, 1),
        "rss_mb_start": round(rss0 / 2**20, 1),
        "rss_mb_end": round(rss1 / 2**20, 1),
        "floor": {"key_p99_ms_below": KEY_P99_FLOOR_MS, "paints_per_s_at_least": PAINTS_FLOOR},
    }
    out["pass"] = bool(
        out["key_p99_ms"] is not None
        and out["key_p99_ms"] < KEY_P99_FLOOR_MS
        and out["paints_per_s"] >= PAINTS_FLOOR
        and out["keys_handled"] == sent
    )
    return out


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        fail(f"--size must look like 120x40, got {text!r}")
        raise
    if w < 40 or h < 12:
        fail(f"--size {text} is too small (at least 40x12)")
    return w, h


@bench_app.command("ui")
def bench_ui(
    seconds: Annotated[float, typer.Option("--seconds", min=1, help="Measured duration (after 0.5 s warm-up).")] = 10.0,
    rate: Annotated[int, typer.Option("--rate", min=1000, help="Synthetic book updates per second.")] = 20_000,
    key_ms: Annotated[int, typer.Option("--key-ms", min=10, help="Interval between key presses (ms).")] = 50,
    size: Annotated[str, typer.Option("--size", help="Terminal size WxH.")] = "120x40",
    refresh_hz: Annotated[
        int | None, typer.Option("--refresh-hz", min=1, max=60, help="Pump rate (default: \\[ui] refresh_hz).")
    ] = None,
    publish_ms: Annotated[int, typer.Option("--publish-ms", min=1, help="Feed thread's snapshot interval (ms).")] = 20,
    render: Annotated[
        bool, typer.Option("--render", help="Also encode every frame as terminal output, as a real terminal would.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object on stdout.")] = False,
) -> None:
    """Drive the real workstation headless under a synthetic feed; key latency, paints/s, CPU.

    Floor: key p99 under 50 ms and at least 15 paints/s (exit 1 when missed, after the figures).
    """
    dims = _size(size)
    print(f"bench ui: {seconds:g} s at {rate} updates/s, keys every {key_ms} ms, {size} ...", file=sys.stderr)
    result = asyncio.run(measure(seconds, rate, key_ms, dims, refresh_hz, publish_ms, render))
    if as_json:
        import json

        typer.echo(json.dumps(result))
    else:
        for key, value in result.items():
            typer.echo(f"{key:>22}: {value}")
    if not result["pass"]:
        fail(
            f"below the floor: key p99 {result['key_p99_ms']} ms (< {KEY_P99_FLOOR_MS:g}), "
            f"{result['paints_per_s']} paints/s (>= {PAINTS_FLOOR:g}), keys {result['keys_handled']}/{result['keys_sent']}",
            code=1,
        )
