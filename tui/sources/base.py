"""What the workstation and the one-shot commands read market data from, and trade through.

A ``MarketSource`` owns its threads (the simulated venue's engine thread, a feed's network
thread, a replay's clock) and publishes into a ``core.market_state.MarketState``; the UI PULLS
``state.view(symbol)`` and ``account()`` at a fixed rate and compares versions. Nothing here
imports textual, so ``tickdesk book SYMBOL --source binance`` starts fast.

``open_source(spec, settings, symbols)`` picks the implementation from a ``--source`` spec:

=================  ==========================================================================
``sim``            ``tui.sources.sim.SimSource``: the seeded simulated market, tradable
``binance``/``okx``  ``tui.sources.feed.open_feed(spec, settings, symbols)``: live public feeds
``emulator:URL``   ``tui.sources.feed.open_feed(spec, settings, symbols)``: the local emulator
``replay:FILE``    ``tui.sources.replay.open_replay(path, settings, symbols)``: a recording
=================  ==========================================================================

The feed and replay modules are imported only when asked for (they pull in websockets, ccxt,
DuckDB); an ``ImportError`` there is a real bug and propagates.
"""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from core.config import Settings
    from core.instruments import Instrument
    from core.market_state import AccountView, MarketState

SPECS = ("sim", "binance", "okx", "emulator:URL", "replay:FILE")


@runtime_checkable
class ReplayControl(Protocol):
    """Transport of a replay source (``source.replay``)."""

    playing: bool
    speed: float
    position_ns: int
    start_ns: int
    end_ns: int

    def play(self) -> None: ...
    def pause(self) -> None: ...
    def step(self, n: int = 1) -> None: ...
    def set_speed(self, x: float) -> None: ...
    def seek(self, ts_ns: int) -> None: ...


@runtime_checkable
class MarketSource(Protocol):
    """One market for the UI: versioned views to pull, commands to submit, health to show."""

    name: str  # "sim", "binance", "okx", "emulator:ws://...", "replay:PATH"
    symbols: list[str]  # unified, e.g. ["BTC/USDT", "ETH/USDT"]
    instruments: dict[str, Instrument]
    state: MarketState
    can_trade: bool  # False for exchange/replay sources: submit() fails with a clear reason
    replay: ReplayControl | None  # only replay sources

    def start(self) -> None: ...
    def stop(self, timeout: float = 5.0) -> None: ...  # joins every thread it started
    def submit(self, cmd: dict) -> Future[list[dict]]: ...  # a journal command; resolves to its events
    def health(self) -> dict[str, dict]: ...  # per "<venue>:<symbol>"
    def clock_ns(self) -> int: ...  # the source's clock (sim / exchange / replay time)
    def account(self) -> AccountView | None: ...  # the user account (None when not tradable)
    def precheck(self, cmd: dict) -> Future[dict]: ...  # dry run: {"ok", "rejects", "fee_rate", "tier"}


class NotTradable(RuntimeError):
    """Raised into the futures of ``submit``/``precheck`` on a source without an account."""


def refused(message: str) -> Future:
    """A future already failed with ``NotTradable(message)`` (for read-only sources)."""
    fut: Future = Future()
    fut.set_exception(NotTradable(message))
    return fut


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``"emulator:ws://h:1"`` -> ``("emulator", "ws://h:1")``; ValueError (one line) when bad."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"empty source; expected one of: {', '.join(SPECS)}")
    spec = spec.strip()
    kind, sep, arg = spec.partition(":")
    kind = kind.lower()
    if kind in ("sim", "binance", "okx"):
        if sep:
            raise ValueError(f"source {spec!r}: {kind} takes no argument; expected one of: {', '.join(SPECS)}")
        return kind, None
    if kind in ("emulator", "replay"):
        if not arg:
            what = "URL (e.g. emulator:ws://127.0.0.1:9001)" if kind == "emulator" else "FILE (e.g. replay:capture.jsonl)"
            raise ValueError(f"source {spec!r}: {kind} needs a {what}")
        return kind, arg
    raise ValueError(f"unknown source {spec!r}; expected one of: {', '.join(SPECS)}")


def open_source(spec: str, settings: Settings, symbols: list[str] | None = None, **options: Any) -> MarketSource:
    """Build (not start) the source named by ``spec``. ``symbols`` defaults to the source's
    own (the config's ``[simmarket] symbols`` for sim). ``options`` go to the sim source only
    (``paused``, ``rate``, ``seed``: tests and benchmarks)."""
    kind, arg = parse_spec(spec)
    if kind == "sim":
        from tui.sources.sim import SimSource

        return SimSource(settings, symbols, **options)
    if options:
        raise ValueError(f"source {spec!r} takes no options ({', '.join(options)})")
    if kind == "replay":
        path = Path(arg).expanduser()
        if not path.exists():
            raise ValueError(f"source {spec!r}: no such file: {path}")
        from tui.sources.replay import open_replay

        return open_replay(path, settings, symbols)
    from tui.sources.feed import open_feed

    return open_feed(spec if kind != "emulator" else f"emulator:{arg}", settings, symbols)
