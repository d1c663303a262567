"""Clocks: where "now" comes from, so live trading, replays and tests share one code path.

The engine itself never reads a clock: every command carries its ``ts``. Whatever produces
commands (the simulated market, the UI's order ticket, a feed replay) stamps them from one of
these, which is what makes a journal replay reproduce the original run exactly.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Nanoseconds since the Unix epoch (UTC)."""

    def now_ns(self) -> int: ...


class LiveClock:
    """Wall-clock time, made monotonic: it never goes backwards even if the system clock does."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def now_ns(self) -> int:
        with self._lock:
            now = time.time_ns()
            if now <= self._last:
                now = self._last + 1
            self._last = now
            return now


class ReplayClock:
    """Time driven by recorded data: it is whatever the last replayed event said.

    ``advance_to`` refuses to go backwards, because a replay that did would reorder events.
    """

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def advance_to(self, ts_ns: int) -> None:
        if ts_ns < self._now:
            raise ValueError(f"replay time went backwards: {ts_ns} < {self._now}")
        self._now = ts_ns


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def tick(self, delta_ns: int = 1) -> int:
        if delta_ns < 0:
            raise ValueError("a FakeClock only moves forward")
        self._now += delta_ns
        return self._now

    def set(self, ts_ns: int) -> None:
        if ts_ns < self._now:
            raise ValueError("a FakeClock only moves forward")
        self._now = ts_ns
