"""Risk rules applied to a strategy's signals, identically in both evaluators.

The gate is a small state machine stepped once per bar (``RiskGate.step``); the vectorized
evaluator loops it over the bars only when a spec declares rules, the streaming one calls it
per bar, so the two cannot disagree. It sees signals, not fills: the position it tracks is the
one the signals imply (an entry at bar i's close opens it, an exit closes it), marked at
closes. The backtester, which fills at the next open, may therefore see slightly different
equity than the daily-loss rule does; the rule is a circuit breaker, not an accounting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

DAY_MS = 86_400_000
NAN = math.nan


class RiskRules(BaseModel):
    """Optional limits; the defaults impose nothing."""

    model_config = ConfigDict(extra="forbid")

    max_position: float | None = Field(None, gt=0.0, le=1.0, description="largest total position as a fraction of equity; entry sizes are capped to it")
    daily_loss_stop: float | None = Field(None, gt=0.0, lt=1.0, description="close the position and stop entering for the rest of the UTC day once the day's loss reaches this fraction")
    cooldown_bars: int = Field(0, ge=0, le=100000, description="bars after an exit during which no entry is taken")
    max_trades_per_day: int | None = Field(None, ge=1, le=100000, description="entries allowed per UTC day")

    @property
    def active(self) -> bool:
        return (self.max_position is not None or self.daily_loss_stop is not None
                or self.cooldown_bars > 0 or self.max_trades_per_day is not None)


@dataclass
class GateState:
    bar: int = -1
    day: int | None = None
    trades_today: int = 0
    day_equity: float = 1.0
    blocked: bool = False
    side: int = 0            # +1 long, -1 short, 0 flat
    exposure: float = 0.0    # sum of entry sizes of the open position
    last_close: float = NAN
    last_exit: int | None = None


@dataclass(frozen=True)
class GateIn:
    enter_long: bool
    exit_long: bool
    enter_short: bool
    exit_short: bool
    size: float              # NaN = all cash


@dataclass(frozen=True)
class GateOut:
    enter_long: bool
    exit_long: bool
    enter_short: bool
    exit_short: bool
    size: float


class RiskGate:
    """``step(ts, close, signals, commit)`` -> gated signals. ``commit=False`` answers for a
    forming bar without moving the state (the streaming ``peek``)."""

    def __init__(self, rules: RiskRules) -> None:
        self.rules = rules
        self.state = GateState()

    def step(self, ts: int, close: float, sig: GateIn, commit: bool = True) -> GateOut:
        r, s = self.rules, self.state
        st = GateState(**vars(s))
        st.bar += 1
        day = ts // DAY_MS
        if day != st.day:
            st.day, st.trades_today, st.day_equity, st.blocked = day, 0, 1.0, False
        if st.side and st.last_close == st.last_close and st.last_close != 0.0:
            st.day_equity *= 1.0 + st.side * st.exposure * (close / st.last_close - 1.0)
        exit_long, exit_short = sig.exit_long, sig.exit_short
        if r.daily_loss_stop is not None and st.day_equity <= 1.0 - r.daily_loss_stop:
            st.blocked = True
            exit_long = exit_long or st.side > 0
            exit_short = exit_short or st.side < 0
        if (exit_long and st.side > 0) or (exit_short and st.side < 0):
            st.side, st.exposure, st.last_exit = 0, 0.0, st.bar
        enter_long, enter_short, size = self._entries(st, sig)
        st.last_close = close
        if commit:
            self.state = st
        return GateOut(enter_long, exit_long, enter_short, exit_short, size)

    def _entries(self, st: GateState, sig: GateIn) -> tuple[bool, bool, float]:
        r = self.rules
        want = 1 if sig.enter_long else (-1 if sig.enter_short else 0)
        if want == 0:
            return False, False, sig.size
        if st.blocked or (r.max_trades_per_day is not None and st.trades_today >= r.max_trades_per_day):
            return False, False, NAN
        if r.cooldown_bars and st.last_exit is not None and st.bar - st.last_exit <= r.cooldown_bars:
            return False, False, NAN
        size = 1.0 if sig.size != sig.size else sig.size
        if want != st.side:
            st.exposure = 0.0  # a reversal or a fresh position
        if r.max_position is not None:
            size = min(size, r.max_position - st.exposure)
            if size <= 1e-12:
                return False, False, NAN
        st.side, st.exposure = want, st.exposure + size
        st.trades_today += 1
        out_size = size if (r.max_position is not None or sig.size == sig.size) else NAN
        return want > 0, want < 0, out_size
