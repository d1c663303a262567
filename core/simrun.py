"""Replay a command journal through the engine and summarise what happened.

Shared by ``tickdesk sim run`` (with or without the durable journal) and the tests, so the
summary fields are computed in one place.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from core.commands import Reject, parse_line
from core.engine import Engine

BULK_OPS = ("bulk_new", "bulk_cancel")


@dataclass
class RunSummary:
    """Counts over a run; ``as_json`` is the pinned ``sim run --json`` object."""

    lines: int = 0
    blank: int = 0
    commands: int = 0
    applied: int = 0
    rejected: Counter = field(default_factory=Counter)
    item_rejected: Counter = field(default_factory=Counter)  # entries of bulk_new / bulk_cancel
    accepted: int = 0
    trades: int = 0
    events: Counter = field(default_factory=Counter)
    traded_lots: Counter = field(default_factory=Counter)
    engine_seconds: float = 0.0

    def add(self, events: list[dict]) -> None:
        """Fold one command's events into the counts."""
        self.commands += 1
        # A rejected command has exactly one whole-command reject, possibly after clock events
        # (expiries, breaker resumes) its timestamp caused.
        whole = next((ev for ev in events if ev["event"] == "rejected" and ev.get("op") not in BULK_OPS), None)
        if whole is not None:
            self.rejected[whole["reason"]] += 1
        else:
            self.applied += 1
        for ev in events:
            kind = ev["event"]
            self.events[kind] += 1
            if kind == "accepted":
                self.accepted += 1
            elif kind == "trade":
                self.trades += 1
            elif kind == "rejected" and ev.get("op") in BULK_OPS:
                self.item_rejected[ev["reason"]] += 1

    def as_json(self, engine: Engine) -> dict:
        traded: dict[str, str] = {}
        for sym, lots in sorted(self.traded_lots.items()):
            traded[sym] = engine.instruments[sym].fmt_qty(lots)
        active = sorted(set(self.traded_lots) | {s for s, b in engine.books.items() if b.orders})
        return {
            "lines": self.lines,
            "blank_lines": self.blank,
            "commands": self.commands,
            "applied": self.applied,
            "accepted": self.accepted,
            "rejected": dict(sorted(self.rejected.items())),
            "rejected_total": sum(self.rejected.values()),
            "bulk_items_rejected": dict(sorted(self.item_rejected.items())),
            "trades": self.trades,
            "traded_qty": traded,
            "best": {sym: engine.best(sym) for sym in active},
            "events": dict(sorted(self.events.items())),
            "conservation": engine.conservation(),
            "engine_seconds": round(self.engine_seconds, 6),
        }


def numbered_lines(raw_lines: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line without its newline) for every line."""
    for number, raw in enumerate(raw_lines, 1):
        yield number, raw.rstrip(b"\r\n")


def run_lines(
    engine: Engine,
    lines: Iterable[tuple[int, bytes]],
    summary: RunSummary,
    on_events=None,
) -> RunSummary:
    """Apply numbered journal lines; ``on_events(line, events)`` sees each command's events.

    Only ``engine.process`` is timed: JSON decoding and output are outside ``engine_seconds``.
    """
    clock = time.perf_counter
    for number, raw in lines:
        summary.lines += 1
        if not raw.strip():
            summary.blank += 1
            continue
        try:
            cmd = parse_line(raw)
        except Reject:
            events = engine.process_line(raw, number)
        else:
            t0 = clock()
            events = engine.process(cmd, number)
            summary.engine_seconds += clock() - t0
        for ev in events:
            if ev["event"] == "trade":
                summary.traded_lots[ev["symbol"]] += engine.instruments[ev["symbol"]].qty_to_lots(ev["qty"])
        summary.add(events)
        if on_events is not None:
            on_events(number, events)
    return summary
