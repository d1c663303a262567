"""Replay: transport controls over a replay source, driving the Trade screen's widgets (f6).

Keys (ids in brackets): space play/pause [replay.play], ``.`` step one market message
[replay.step], ``+``/``-`` speed x2 / /2 between 0.25 and 64 [replay.faster/replay.slower], ``g`` jump to a time [replay.jump] (``HH:MM:SS[.mmm]`` on the replay's day, an ISO 8601 UTC time, or
``+SECONDS``/``-SECONDS`` from the current position), ``[``/``]`` previous/next symbol.

The transport line shows play state, speed, the replay clock (recorded time, UTC) and how far
through the recording it is. The ladder, candles and tape pull the current symbol's
``MarketView`` on the pump timer like the Trade screen (versions gate the redraws). With a
source that is not a replay the screen says how to open one.
"""

from __future__ import annotations

import importlib
import importlib.util
from datetime import datetime, timezone

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Static

from tui.pump import PumpedScreen
from tui.screens.prompt import TextPrompt
from tui.widgets.ladder import Ladder
from tui.widgets.tape import Tape

NS = 1_000_000_000


def parse_jump(text: str, position_ns: int) -> int:
    """The replay time ``text`` names (see the module docstring); ValueError (one line) if none."""
    t = text.strip()
    if t[:1] in "+-" and t[1:].replace(".", "", 1).isdigit():
        from decimal import Decimal

        return position_ns + int(Decimal(t) * NS)
    day = datetime.fromtimestamp(position_ns // NS, timezone.utc).date()
    try:
        if "T" in t or " " in t or (len(t) >= 10 and t[4] == "-"):
            dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
        else:
            tm = datetime.strptime(t, "%H:%M:%S.%f" if "." in t else "%H:%M:%S").time()
            dt = datetime.combine(day, tm)
    except ValueError:
        raise ValueError(f"{text!r} is not a time: use HH:MM:SS, an ISO 8601 time, or +/-SECONDS") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp()) * NS + dt.microsecond * 1000


def fmt_clock(ns: int) -> str:
    return datetime.fromtimestamp(ns // NS, timezone.utc).strftime("%Y-%m-%d %H:%M:%S") + f".{ns // 1_000_000 % 1000:03d}"


def transport_text(ctl, symbol: str) -> str:
    """``> playing x4  2024-08-09 00:01:23.456  35.2%  BTC/USDT`` for a ReplayControl."""
    span = max(1, ctl.end_ns - ctl.start_ns)
    done = min(100.0, max(0.0, (ctl.position_ns - ctl.start_ns) * 100 / span))
    state = "▶ playing" if ctl.playing else ("■ end" if getattr(ctl, "at_end", False) else "❚❚ paused")
    speed = "max" if ctl.speed == 0 else f"x{ctl.speed:g}"
    return f"{state}  {speed}  {fmt_clock(ctl.position_ns)}  {done:5.1f}%  {symbol}"


class ReplayScreen(PumpedScreen):
    """Transport + ladder, candles, tape of the replayed market (f6)."""

    DEFAULT_CSS = """
    ReplayScreen #replay-transport { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    ReplayScreen #replay-body { height: 1fr; }
    ReplayScreen #replay-ladder { width: 44; }
    ReplayScreen #replay-side { width: 1fr; }
    ReplayScreen #replay-candles { height: 2fr; }
    ReplayScreen #replay-tape { height: 1fr; }
    ReplayScreen #replay-notice { padding: 1 2; }
    """
    BINDINGS = [
        Binding("space", "toggle_play", "Play/pause", id="replay.play"),
        Binding("full_stop", "step", "Step", id="replay.step"),
        Binding("plus,equals_sign,greater_than_sign", "speed(1)", "Faster", id="replay.faster"),
        Binding("minus,less_than_sign", "speed(-1)", "Slower", id="replay.slower"),
        Binding("g", "jump", "Jump to time", id="replay.jump"),
        Binding("left_square_bracket", "symbol(-1)", "Prev symbol", show=False, id="replay.symbol-prev"),
        Binding("right_square_bracket", "symbol(1)", "Next symbol", show=False, id="replay.symbol-next"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.symbol = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="replay-transport")
        if getattr(self.app.source, "replay", None) is None:
            yield Static(
                f"{self.app.source.name} is not a replay. Open a recording with `tickdesk replay FILE` "
                "or `tickdesk --source replay:FILE`.",
                id="replay-notice",
            )
        else:
            with Horizontal(id="replay-body"):
                ladder = Ladder(id="replay-ladder")
                ladder.can_focus = False  # nothing to trade here: +/- are the transport's, not the ladder's grouping
                yield ladder
                with Vertical(id="replay-side"):
                    if importlib.util.find_spec("tui.widgets.candles") is not None:
                        chart = importlib.import_module("tui.widgets.candles").CandleChart
                        yield chart(id="replay-candles")
                    yield Tape(id="replay-tape")
        yield Footer()

    def on_mount(self) -> None:
        symbols = self.app.source.symbols
        self.symbol = symbols[0] if symbols else ""
        super().on_mount()

    @property
    def control(self):
        return getattr(self.app.source, "replay", None)

    # --- the pump ----------------------------------------------------------------------------
    def pump(self) -> None:
        ctl = self.control
        if ctl is None:
            return
        if not self.symbol and self.app.source.symbols:
            self.symbol = self.app.source.symbols[0]
        self.query_one("#replay-transport", Static).update(transport_text(ctl, self.symbol))
        view = self.app.source.state.view(self.symbol) if self.symbol else None
        if view is not None and self.gate.changed(("view", self.symbol), view.version):
            self.query_one(Ladder).show(view, {})
            self.query_one(Tape).show(view)
            for chart in self.query("#replay-candles"):
                chart.show(view)

    # --- transport ---------------------------------------------------------------------------
    def action_toggle_play(self) -> None:
        ctl = self.control
        if ctl is not None:
            ctl.pause() if ctl.playing else ctl.play()
            self.pump()

    def action_step(self) -> None:
        if self.control is not None:
            self.control.step(1)

    def action_speed(self, direction: int) -> None:
        from tui.sources.replay import next_speed

        ctl = self.control
        if ctl is not None:
            ctl.set_speed(next_speed(ctl.speed, direction))
            self.pump()

    def action_symbol(self, delta: int) -> None:
        symbols = self.app.source.symbols
        if symbols:
            i = symbols.index(self.symbol) if self.symbol in symbols else 0
            self.symbol = symbols[(i + delta) % len(symbols)]
            self.gate.forget()
            self.pump()

    def action_jump(self) -> None:
        ctl = self.control
        if ctl is None:
            return

        def chosen(text: str | None) -> None:
            if not text:
                return
            try:
                target = parse_jump(text, ctl.position_ns)
            except ValueError as exc:
                self.notify(str(exc), severity="error")
                return
            if not ctl.start_ns <= target <= ctl.end_ns:
                self.notify(f"{fmt_clock(target)} is outside the recording ({fmt_clock(ctl.start_ns)} .. "
                            f"{fmt_clock(ctl.end_ns)})", severity="error")
                return
            ctl.seek(target)

        self.app.push_screen(TextPrompt("Jump to (HH:MM:SS, ISO time, or +/-seconds):", "+30",
                                        fmt_clock(ctl.position_ns)[11:]), callback=chosen)
