"""The bottom line of every trading screen: source, feed health, trading state, clock, latency.

The trading state is always shown; HALTED (kill switch) and REDUCING turn the whole bar the
theme's ``$halted`` / ``$warning-state`` colour so nobody keeps clicking into a halted account.
Nothing here reads the wall clock (the screen passes the figures in), which keeps snapshots
deterministic.

``show(...)`` runs every pump tick, but the bar repaints only when its text changes, and the
live figures (clock to the second, data age, pump time) are redrawn at most every
``LIVE_EVERY`` ticks, showing the worst age and pump time seen since the last redraw. The bar
is the bottom line: a repaint there on every tick made each market-data frame span the whole
screen (Textual composites the bounding box of the dirty areas, so the account tables and the
footer were re-rendered 15 times a second for a clock digit), and keys waited behind it.
State changes (trading state, health, source, note) repaint on the tick they are seen.
"""

from __future__ import annotations

from datetime import datetime, timezone

from rich.text import Text
from textual.widget import Widget

EPOCH_THRESHOLD_NS = 10**17  # clocks above this are Unix time (exchange/replay), below: elapsed sim time


#: Pump ticks between redraws of the live figures (clock, age, pump time): ~2 a second at 15 Hz.
LIVE_EVERY = 8


def format_clock(ns: int) -> str:
    """Exchange/replay clocks as UTC ``HH:MM:SS``, the simulated clock as elapsed time.

    Whole seconds: the bar redraws its live figures about twice a second, so milliseconds
    would only show stale digits (the tape and the journal carry the millisecond stamps)."""
    if ns >= EPOCH_THRESHOLD_NS:
        dt = datetime.fromtimestamp(ns // 1_000_000_000, tz=timezone.utc)
        return dt.strftime("%H:%M:%S UTC")
    s = ns // 1_000_000_000
    return f"T+{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


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
    """One line: ``SRC sim │ feeds 2/2 ok │ ACTIVE │ VIP0 │ T+00:01:05 │ age 40ms pump 1.2ms``."""

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
        self._state_key: tuple = ()
        self._shown_text = ""
        self._ticks_since_live = LIVE_EVERY  # the first show draws everything
        self._age_peak: float | None = None
        self._pump_peak: float | None = None

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
        force: bool = False,
    ) -> None:
        """Take this tick's figures; ``force`` (an explicit tick) redraws the live ones now."""
        if health is not None:
            self.health_text, self.healthy = health_summary(health)
        self.source_name, self.trading_state, self.fee_tier, self.note = source, trading_state, fee_tier, note
        self._age_peak = _peak(self._age_peak, age_ms)
        self._pump_peak = _peak(self._pump_peak, pump_ms)
        self._ticks_since_live += 1
        state_key = (source, self.health_text, self.healthy, trading_state, fee_tier, note)
        if not force and state_key == self._state_key and self._ticks_since_live < LIVE_EVERY:
            return  # only live figures moved: they wait for their slot
        self._state_key = state_key
        self._ticks_since_live = 0
        self.clock = format_clock(clock_ns)
        self.age_ms, self.pump_ms = self._age_peak, self._pump_peak
        self._age_peak = self._pump_peak = None
        self.set_class(trading_state == "HALTED", "-halted")
        self.set_class(trading_state == "REDUCING", "-reducing")
        self.set_class(not self.healthy, "-unhealthy")
        text = self.text()
        if text != self._shown_text:
            self._shown_text = text
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


def _peak(current: float | None, value: float | None) -> float | None:
    """The larger of two optional figures."""
    if value is None:
        return current
    return value if current is None else max(current, value)
