"""The bottom line of every trading screen: source, feed health, trading state, clock, latency.

The trading state is always shown; HALTED (kill switch) and REDUCING turn the whole bar the
theme's ``$halted`` / ``$warning-state`` colour so nobody keeps clicking into a halted account.
``show(...)`` assigns and refreshes once per pump tick; nothing here reads the wall clock (the
screen passes the figures in), which keeps snapshots deterministic.
"""

from __future__ import annotations

from datetime import datetime, timezone

from rich.text import Text
from textual.widget import Widget

EPOCH_THRESHOLD_NS = 10**17  # clocks above this are Unix time (exchange/replay), below: elapsed sim time


def format_clock(ns: int) -> str:
    """Exchange/replay clocks as UTC ``HH:MM:SS.mmm``, the simulated clock as elapsed time."""
    if ns >= EPOCH_THRESHOLD_NS:
        dt = datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)
        return dt.strftime("%H:%M:%S.") + f"{dt.microsecond // 1000:03d} UTC"
    ms = ns // 1_000_000
    s, ms = divmod(ms, 1000)
    return f"T+{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{ms:03d}"


def health_summary(health: dict[str, dict]) -> tuple[str, bool]:
    """``("feeds 2/2 ok", healthy)`` from ``source.health()``."""
    if not health:
        return "feeds -", True
    bad = [k for k, h in health.items() if h.get("stale_now") or h.get("state") in ("stopped", "error", "stale")]
    total = len(health)
    if bad:
        return f"feeds {total - len(bad)}/{total} ok, stale: {', '.join(bad)}", False
    return f"feeds {total}/{total} ok", True


class StatusBar(Widget):
    """One line: ``SRC sim │ feeds 2/2 ok │ ACTIVE │ VIP0 │ T+00:01:05.300 │ age 40ms pump 1.2ms``."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    StatusBar.-halted { background: $halted; color: $text; text-style: bold; }
    StatusBar.-reducing { background: $warning-state; color: $text; text-style: bold; }
    StatusBar.-unhealthy { color: $warning; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source_name = ""
        self.health_text = "feeds -"
        self.healthy = True
        self.trading_state = "-"
        self.fee_tier = ""
        self.clock = ""
        self.age_ms: float | None = None
        self.pump_ms: float | None = None
        self.note = ""

    def show(
        self,
        *,
        source: str,
        health: dict[str, dict] | None,
        trading_state: str,
        fee_tier: str,
        clock_ns: int,
        age_ms: float | None,
        pump_ms: float | None,
        note: str = "",
    ) -> None:
        self.source_name = source
        if health is not None:
            self.health_text, self.healthy = health_summary(health)
        self.trading_state = trading_state
        self.fee_tier = fee_tier
        self.clock = format_clock(clock_ns)
        self.age_ms, self.pump_ms = age_ms, pump_ms
        self.note = note
        self.set_class(trading_state == "HALTED", "-halted")
        self.set_class(trading_state == "REDUCING", "-reducing")
        self.set_class(not self.healthy, "-unhealthy")
        self.refresh()

    def text(self) -> str:
        state = self.trading_state
        if state == "HALTED":
            state = "■ HALTED: trading stopped (kill switch) ■"
        parts = [f"SRC {self.source_name}", self.health_text, state]
        if self.fee_tier:
            parts.append(self.fee_tier)
        parts.append(self.clock)
        if self.age_ms is not None:
            parts.append(f"age {self.age_ms:.0f}ms pump {self.pump_ms or 0:.1f}ms")
        if self.note:
            parts.append(self.note)
        return " │ ".join(parts)

    def render(self) -> Text:
        return Text(self.text(), no_wrap=True, overflow="ellipsis")
