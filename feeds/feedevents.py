"""Discrete feed events, pushed: gaps, resyncs, checksum failures, stale streams, reconnects,
arbitrage opened/closed.

Health is pulled (the UI reads counters at its own pace); these are the moments a trader wants
to be told about as they happen. :class:`HealthEvents` turns a consumer's counters into events:
the consumer's 100 ms watchdog calls :meth:`HealthEvents.poll` on the feed thread, so an event
is out within about 100 ms of the frame that caused it. :class:`EventStream` fans every event
out, thread-safely, to in-process subscribers (a ``core.market_state.MarketState``'s
``post_event`` for the TUI, or any callable) and to a JSON Lines sink (one object per line,
flushed per event, so ``tail -f`` and pipes see it at once).

Every event is a flat dict with ``event`` (its kind), ``ts_ns`` (local wall time, ns) and
``venue``/``symbol`` where it concerns one (``symbol`` unified, ``key`` the exchange's).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import IO, Any

import orjson

EVENT_KINDS = ("gap", "resync", "checksum_failure", "stale", "disconnect", "reconnect",
               "arbitrage_open", "arbitrage_close")

EventFn = Callable[[dict[str, Any]], None]


class EventStream:
    """Thread-safe fan-out of discrete events to subscribers and an optional JSONL sink."""

    def __init__(self, sink: IO[str] | None = None) -> None:
        self._sink = sink
        self._lock = threading.Lock()
        self._subscribers: list[EventFn] = []
        self.count = 0
        self.by_kind: dict[str, int] = {}

    def subscribe(self, fn: EventFn) -> Callable[[], None]:
        """Call ``fn(event)`` for every later event (on the emitting thread; must not block).
        Returns the function that unsubscribes."""
        with self._lock:
            self._subscribers.append(fn)

        def unsubscribe() -> None:
            with self._lock:
                if fn in self._subscribers:
                    self._subscribers.remove(fn)

        return unsubscribe

    def attach_state(self, state: Any) -> Callable[[], None]:
        """Deliver every event to ``state.post_event`` (a ``core.market_state.MarketState``)."""
        return self.subscribe(state.post_event)

    def emit(self, event: dict[str, Any]) -> None:
        event.setdefault("ts_ns", time.time_ns())
        with self._lock:
            self.count += 1
            kind = str(event.get("event"))
            self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
            if self._sink is not None:
                self._sink.write(orjson.dumps(event).decode() + "\n")
                self._sink.flush()
            subscribers = list(self._subscribers)
        for fn in subscribers:
            fn(event)

    __call__ = emit


class HealthEvents:
    """Diff one consumer's health counters into events (called on its feed thread)."""

    def __init__(self, venue: str, emit: EventFn) -> None:
        self.venue = venue
        self.emit = emit
        self._seen: dict[tuple[str, str], int] = {}

    def _delta(self, key: tuple[str, str], value: int) -> int:
        old = self._seen.get(key, 0)
        self._seen[key] = value
        return value - old

    def poll(self, consumer: Any) -> None:
        """Emit what changed since the last poll (takes the consumer's lock briefly)."""
        out: list[dict[str, Any]] = []
        with consumer.lock:
            syncs = consumer.session.syncs
            for s in consumer.symbols.values():
                sync = syncs.get(s.key)
                base = {"venue": self.venue, "symbol": s.unified, "key": s.key}
                if sync is not None:
                    h = sync.health
                    for kind, total in (("gap", h.gaps), ("resync", h.resyncs), ("checksum_failure", h.checksum_bad)):
                        n = self._delta((s.key, kind), total)
                        if n > 0:
                            ev = {"event": kind, **base, "count": n, "total": total}
                            if kind == "resync" and sync.last_resync_reason:
                                ev["reason"] = sync.last_resync_reason
                            out.append(ev)
                n = self._delta((s.key, "stale"), s.stale)
                if n > 0:
                    out.append({"event": "stale", **base, "count": n, "total": s.stale})
        n = self._delta(("", "stale"), consumer.conn_stale)
        if n > 0:
            out.append({"event": "stale", "venue": self.venue, "scope": "connection", "total": consumer.conn_stale})
        lost = consumer.disconnects + consumer.connect_failures
        if self._delta(("", "lost"), lost) > 0:
            last = consumer.history[-1] if consumer.history else {}
            out.append({"event": "disconnect", "venue": self.venue, "reason": last.get("reason"),
                        "retry_in": last.get("retry_in"), "connected_for": last.get("connected_for")})
        reconnects = max(0, consumer.connects - 1 - consumer.rotations)
        if self._delta(("", "reconnect"), reconnects) > 0:
            out.append({"event": "reconnect", "venue": self.venue, "connects": consumer.connects,
                        "reconnects": reconnects, "url": consumer.ws_url})
        b = getattr(consumer, "business", None)  # OKX candles' own connection
        if b is not None:
            if self._delta(("business", "lost"), b.disconnects + b.connect_failures) > 0:
                out.append({"event": "disconnect", "venue": self.venue, "scope": "business", "reason": b.last_error})
            if self._delta(("business", "reconnect"), max(0, b.connects - 1)) > 0:
                out.append({"event": "reconnect", "venue": self.venue, "scope": "business", "connects": b.connects,
                            "url": b.url})
        for ev in out:
            self.emit(ev)
