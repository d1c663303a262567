"""A recording as a ``MarketSource``, driven by a transport (play/pause, step, speed, seek).

Input: tickdesk's own capture (``tickdesk feed run --record``) or a third-party recording in
``../shared/data`` (hftbacktest, cryptofeed with its companion files), read by
:mod:`feeds.recordings` and run through a :class:`feeds.session.FeedSession`: the same parsers
and book syncs as the live feed, so a replay shows what the live run showed (gaps and resyncs
included). Books and trades reach ``state`` through the same
:class:`tui.sources.session_state.SessionPublisher` as the live source, at most every
``publish_interval`` wall seconds.

Clock: the replay clock is the recording's time -- each record's recorded receive time (in
file order, so it never goes backwards), shown as ``position_ns`` and returned by
``clock_ns()``. Trades carry the exchange's own event time into the tape and candles. Pacing
at ``speed`` x: a record is handled ``(its time - anchor) / speed`` wall seconds after the anchor
(re-anchored on play, speed change, step and seek); speed 0 means as fast as possible.

Transport (:class:`Player`, the source's ``replay``; safe from any thread):

* ``play()`` / ``pause()``;
* ``step(n)`` pauses and handles the next ``n`` market messages (websocket frames and REST
  snapshots);
* ``set_speed(x)`` for x in 0.25..64 (``SPEEDS``), or 0 (as fast as possible);
* ``seek(ts)``: forward handles everything up to ``ts`` at once; backward rebuilds from the
  start (a new session, ``MarketState.reset``) up to ``ts`` -- books can only be rebuilt from a
  snapshot, and the recording's snapshot is at its start.

The replay stops (paused, ``done`` set) at the end of the recording or at ``until_ns``.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.instruments import Instrument
from core.market_state import MarketState
from feeds.recordings import REST, WS, RawRecord, RecordingError, expand_paths, read_many
from feeds.session import FeedSession
from tui.sources.session_state import ReadOnlySource, SessionPublisher

log = logging.getLogger(__name__)

NOT_TRADABLE = "trading needs the simulated market: a replay only shows a recording"
SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
MARKET = (WS, REST)  # the record kinds a step counts
PRIME_RECORDS = 5_000  # records read at open to learn the symbols and their grids


def next_speed(speed: float, direction: int) -> float:
    """The next speed in ``SPEEDS`` up (+1) or down (-1) from ``speed`` (clamped at the ends;
    from 0, "as fast as possible", either way goes to the fastest paced speed)."""
    if speed <= 0:
        return SPEEDS[-1]
    i = bisect.bisect_right(SPEEDS, speed) if direction > 0 else bisect.bisect_left(SPEEDS, speed) - 1
    return SPEEDS[max(0, min(len(SPEEDS) - 1, i))]


def check_speed(x: float) -> float:
    if x != 0 and not SPEEDS[0] <= x <= SPEEDS[-1]:
        raise ValueError(f"speed must be 0 (as fast as possible) or between {SPEEDS[0]} and {SPEEDS[-1]:g}, got {x:g}")
    return float(x)


@dataclass(frozen=True)
class Recording:
    """What a first pass over the files found: time span, size, symbols."""

    files: tuple[Path, ...]
    start_ns: int
    end_ns: int
    records: int


def scan(paths: list[Path]) -> Recording:
    """Read every record once for the time span (ValueError, one line, for a bad file)."""
    files = expand_paths(paths)
    start = end = 0
    n = 0
    try:
        for rec in read_many(files, companions=False):
            n += 1
            if rec.ts_ns > 0:  # cryptofeed metadata before the first frame is stamped 0
                start = start or rec.ts_ns
                end = rec.ts_ns
    except (RecordingError, OSError, UnicodeDecodeError, EOFError) as exc:
        raise ValueError(f"cannot replay {', '.join(map(str, paths))}: {exc}") from None
    if not n:
        raise ValueError(f"cannot replay {', '.join(map(str, paths))}: no records")
    return Recording(tuple(files), start, end, n)


class Player:
    """The replay thread and its transport (``ReplayControl``); see the module docstring."""

    def __init__(self, source: "ReplaySource", speed: float, playing: bool, until_ns: int | None) -> None:
        self.source = source
        self.start_ns = source.recording.start_ns
        self.end_ns = min(source.recording.end_ns, until_ns) if until_ns else source.recording.end_ns
        self.until_ns = until_ns
        self.speed = check_speed(speed)
        self.playing = playing
        self.position_ns = self.start_ns
        self.handled = 0  # records handled since the (last) start
        self.done = threading.Event()  # the end (or until) was reached
        self.error: BaseException | None = None
        self._cond = threading.Condition()
        self._steps = 0
        self._seek: int | None = None
        self._stop = False
        self._anchor: tuple[float, int] | None = None
        self._thread = threading.Thread(target=self._run, name="replay", daemon=True)

    # ------------------------------------------------------------------ ReplayControl
    def play(self) -> None:
        with self._cond:
            if not self.done.is_set():
                self.playing = True
                self._anchor = None
            self._cond.notify_all()

    def pause(self) -> None:
        with self._cond:
            self.playing = False
            self._cond.notify_all()

    def toggle(self) -> None:
        (self.pause if self.playing else self.play)()

    def step(self, n: int = 1) -> None:
        if n < 1:
            raise ValueError(f"step needs a positive count, got {n}")
        with self._cond:
            self.playing = False
            self._steps += n
            self._cond.notify_all()

    def set_speed(self, x: float) -> None:
        with self._cond:
            self.speed = check_speed(x)
            self._anchor = None
            self._cond.notify_all()

    def seek(self, ts_ns: int) -> None:
        with self._cond:
            self._seek = max(self.start_ns, min(int(ts_ns), self.end_ns))
            self._cond.notify_all()

    @property
    def at_end(self) -> bool:
        return self.done.is_set()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError("the replay thread did not stop in time")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the end (or ``until``) is reached; True if it was."""
        return self.done.wait(timeout)

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        src = self.source
        records = src.open_records()
        pending: RawRecord | None = None
        last_flush = 0.0
        try:
            while True:
                with self._cond:
                    while not self._stop and self._seek is None and not (self._steps or (self.playing and not self.done.is_set())):
                        self._cond.wait(0.25)
                    if self._stop:
                        return
                    seek, self._seek = self._seek, None
                if seek is not None:
                    if seek < self.position_ns:
                        records, pending = src.rewind(), None
                        self.position_ns, self.handled = self.start_ns, 0
                        self.done.clear()
                    pending = self._fast_forward(records, pending, seek)
                    src.publisher.flush(self.position_ns)
                    self._anchor = None
                    continue
                if pending is None:
                    pending = next(records, None)
                if pending is None or (self.until_ns is not None and pending.ts_ns > self.until_ns):
                    self._finish()
                    continue
                if self.playing and not self._steps and self.speed > 0 and pending.ts_ns > 0:
                    if not self._wait_due(pending.ts_ns):
                        continue  # woken by a control: decide again
                self._handle(pending)
                counted = pending.kind in MARKET
                pending = None
                stepped = False
                with self._cond:
                    if self._steps and counted:
                        self._steps -= 1
                        stepped = not self._steps
                now = time.monotonic()
                if stepped or now - last_flush >= src.publish_interval:
                    src.publisher.flush(self.position_ns)
                    last_flush = now
        except BaseException as exc:  # reported by stop()/wait() callers through .error
            self.error = exc
            log.exception("replay failed")
            self.done.set()

    def _handle(self, rec: RawRecord) -> None:
        with self.source.lock:
            self.source.session.handle(rec)
        if rec.ts_ns > 0:
            self.position_ns = rec.ts_ns
        self.handled += 1

    def _fast_forward(self, records: Iterator[RawRecord], pending: RawRecord | None, target: int) -> RawRecord | None:
        """Handle every record stamped at or before ``target``; returns the first one after it."""
        while True:
            rec = pending if pending is not None else next(records, None)
            pending = None
            if rec is None:
                self._finish()
                return None
            if rec.ts_ns > target:
                self.position_ns = target
                return rec
            self._handle(rec)

    def _wait_due(self, ts_ns: int) -> bool:
        """Sleep until the record at ``ts_ns`` is due; False when a control woke us first."""
        with self._cond:
            if self._anchor is None:
                self._anchor = (time.monotonic(), self.position_ns)
            wall0, rec0 = self._anchor
            due = wall0 + max(0, ts_ns - rec0) / 1e9 / self.speed
            remaining = due - time.monotonic()
            if remaining <= 0:
                return True
            self._cond.wait(min(remaining, 0.25))
            return False

    def _finish(self) -> None:
        self.source.publisher.flush(self.position_ns)
        with self._cond:
            self.playing = False
            self._steps = 0
        self.done.set()


class ReplaySource(ReadOnlySource):
    """A recording replayed into ``state`` (see the module docstring)."""

    not_tradable = NOT_TRADABLE

    def __init__(
        self,
        paths: list[Path],
        symbols: list[str] | None = None,
        speed: float = 1.0,
        playing: bool = True,
        until_ns: int | None = None,
        publish_interval: float = 0.05,
        recording: Recording | None = None,
    ) -> None:
        """``recording``: the result of :func:`scan` when the caller already has it."""
        self.paths = [Path(p) for p in paths]
        for p in self.paths:
            if not p.is_file():
                raise ValueError(f"cannot replay {p}: no such file")
        self.recording = recording or scan(self.paths)
        self.name = "replay:" + ",".join(str(p) for p in self.paths)
        self.wanted = set(symbols) if symbols else None
        self.publish_interval = publish_interval
        self.state = MarketState()
        self.lock = threading.Lock()
        self._new_session()
        self._prime()
        self.replay = Player(self, speed, playing, until_ns)

    # ------------------------------------------------------------------ sessions
    def open_records(self) -> Iterator[RawRecord]:
        return read_many(self.recording.files, companions=False)

    def _new_session(self) -> None:
        session = FeedSession()
        publisher = SessionPublisher(self.state, session, self.clock_ns, self.lock, self.wanted)
        session.on_event = publisher.on_event
        with self.lock:
            self.session, self.publisher = session, publisher

    def rewind(self) -> Iterator[RawRecord]:
        """Back to the start: a new session, an empty state (views keep monotonic versions)."""
        self.state.reset()
        self._new_session()
        return self.open_records()

    def _prime(self) -> None:
        """Learn the symbols (names, grids) from the first records, then forget them; an
        asked-for symbol the recording does not have is a ValueError."""
        session = FeedSession()
        probe = SessionPublisher(MarketState(), session, lambda: 0, None)
        session.on_event = probe.on_event
        exhausted = True
        for i, rec in enumerate(self.open_records()):
            if i >= PRIME_RECORDS:
                exhausted = False
                break
            session.handle(rec)
        found = list(probe.symbols.values())
        if not found and exhausted:
            # Read to the end without one book, trade or candle: a REST dump or a capture of
            # acks only. Playing it would show "waiting for market data" forever.
            names = ", ".join(str(p) for p in self.paths)
            raise ValueError(f"cannot replay {names}: no market data in it (no book, trade or candle "
                             "stream; a REST capture such as instruments?)")
        if self.wanted is not None:
            missing = sorted(self.wanted - {n for s in found for n in (s.name, s.exchange_symbol)})
            if missing:
                known = ", ".join(s.name for s in found) or "no symbol"
                raise ValueError(f"unknown symbol {', '.join(missing)}: the recording has {known}")
            found = [s for s in found if {s.name, s.exchange_symbol} & self.wanted]
        self._primed = {s.name: s.instrument for s in found}

    # ------------------------------------------------------------------ MarketSource
    @property
    def symbols(self) -> list[str]:
        live = [s.name for s in self.publisher.symbols.values()]
        return live + [n for n in self._primed if n not in live]

    @property
    def instruments(self) -> dict[str, Instrument]:
        return {**self._primed, **{s.name: s.instrument for s in self.publisher.symbols.values()}}

    def start(self) -> None:
        self.replay.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.replay.stop(timeout)

    def clock_ns(self) -> int:
        return self.replay.position_ns if hasattr(self, "replay") else self.recording.start_ns

    def health(self) -> dict[str, dict]:
        return self.publisher.health()

    # ------------------------------------------------------------------ headless
    def summary(self) -> dict:
        """Per-symbol figures of the replay so far (``tickdesk replay --json``)."""
        with self.lock:
            report = self.session.report()
            syms = list(self.publisher.symbols.values())
        out = {}
        for s in syms:
            rep = report["symbols"].get(s.key, {})
            view = self.state.view(s.name)
            first, last = s.first_trade_ts, s.last_trade_ts
            out[s.name] = {
                "venue": s.venue,
                "exchange_symbol": s.exchange_symbol,
                "state": rep.get("state"),
                "events": rep.get("events", 0),
                "applied": rep.get("applied", 0),
                "dropped": rep.get("dropped", 0),
                "gaps": rep.get("gaps", 0),
                "resyncs": rep.get("resyncs", 0),
                "crossed": rep.get("crossed", 0),
                "checksum_ok": rep.get("checksum_ok", 0),
                "checksum_bad": rep.get("checksum_bad", 0),
                "trades": s.trades_total,
                "candles_1s": candle_count(first, last, 1_000_000_000),
                "candles_1m": candle_count(first, last, 60_000_000_000),
                "top": rep.get("best"),
                "last": view.last if view is not None else None,
                "grid": rep.get("grid"),
                "first_ts_ns": s.first_ts,
                "last_ts_ns": s.last_ts,
                "duration_s": round((s.last_ts - s.first_ts) / 1e9, 3) if s.first_ts else 0.0,
            }
        return out


def candle_count(first_ns: int, last_ns: int, interval_ns: int) -> int:
    """Candles a series builds from trades between these times (empty intervals included as
    flat candles, as ``core.market_state.CandleSeries`` does); 0 without trades."""
    if not first_ns:
        return 0
    return (last_ns // interval_ns) - (first_ns // interval_ns) + 1


def open_replay(path: Path, settings, symbols: list[str] | None = None) -> ReplaySource:
    """``--source replay:FILE``: the recording at x1, playing from the start."""
    return ReplaySource([path], symbols)
