"""Market-abuse surveillance: flags, never blocks.

* **Wash trade**: a trade whose maker and taker accounts are the same or linked.
* **Spoofing**: an account repeatedly places large orders near the touch and cancels them
  within milliseconds (``spoof_count`` such cancels inside ``spoof_lookback_ns``).
* **Layering**: right after trading on one side, an account cancels orders it had resting on the
  other side at ``layer_levels`` or more distinct prices within ``layer_window_ns``.

Each detector returns flag dicts the engine turns into ``surveillance`` events.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class SurveillanceConfig:
    spoof_min_notional: int = 50_000 * 10**8  # quote units (50k USDT at 8 decimals)
    spoof_near_ticks: int = 10
    spoof_cancel_ns: int = 50_000_000  # cancelled within 50 ms of placement
    spoof_count: int = 3
    spoof_lookback_ns: int = 60_000_000_000
    layer_levels: int = 3
    layer_window_ns: int = 1_000_000_000


class Surveillance:
    """Stateful detectors fed by the engine."""

    def __init__(self, config: SurveillanceConfig | None = None) -> None:
        self.config = config or SurveillanceConfig()
        self._group: dict[str, str] = {}
        self._suspect_orders: dict[str, int] = {}  # oid -> placement ts (large, near touch)
        self._spoof_hits: dict[str, deque[int]] = {}
        self._last_trade: dict[str, tuple[int, int]] = {}  # account -> (ts, side)
        self._layer_cancels: dict[tuple[str, int], deque[tuple[int, int]]] = {}

    # --- links -------------------------------------------------------------------------------
    def link(self, accounts: list[str]) -> None:
        """Treat ``accounts`` (and everything already linked to them) as one beneficial owner."""
        groups = {self._group.get(a, a) for a in accounts}
        root = min(groups)
        for acct, grp in list(self._group.items()):
            if grp in groups:
                self._group[acct] = root
        for a in accounts:
            self._group[a] = root

    def linked(self, a: str, b: str) -> bool:
        return a == b or self._group.get(a, a) == self._group.get(b, b)

    # --- hooks -------------------------------------------------------------------------------
    def on_trade(self, maker_account: str, taker_account: str, taker_side: int, now: int) -> dict | None:
        self._last_trade[taker_account] = (now, taker_side)
        self._last_trade[maker_account] = (now, -taker_side)
        if self.linked(maker_account, taker_account):
            return {"kind": "WASH_TRADE", "accounts": sorted({maker_account, taker_account})}
        return None

    def on_rest(self, oid: str, notional: int, distance_ticks: int | None, now: int) -> None:
        cfg = self.config
        if notional >= cfg.spoof_min_notional and distance_ticks is not None and distance_ticks <= cfg.spoof_near_ticks:
            self._suspect_orders[oid] = now

    def on_done(self, oid: str) -> None:
        """The order filled or expired: it was not a spoof."""
        self._suspect_orders.pop(oid, None)

    def on_cancel(self, oid: str, account: str, side: int, price: int, now: int) -> list[dict]:
        flags: list[dict] = []
        placed = self._suspect_orders.pop(oid, None)
        cfg = self.config
        if placed is not None and now - placed <= cfg.spoof_cancel_ns:
            hits = self._spoof_hits.setdefault(account, deque())
            hits.append(now)
            while hits and hits[0] <= now - cfg.spoof_lookback_ns:
                hits.popleft()
            if len(hits) >= cfg.spoof_count:
                flags.append({"kind": "SPOOFING", "accounts": [account], "count": len(hits)})
                hits.clear()
        last = self._last_trade.get(account)
        if last is not None and last[1] == -side and now - last[0] <= cfg.layer_window_ns:
            key = (account, side)
            recent = self._layer_cancels.setdefault(key, deque())
            recent.append((now, price))
            while recent and recent[0][0] < last[0]:
                recent.popleft()
            levels = {p for _, p in recent}
            if len(levels) >= cfg.layer_levels:
                flags.append({"kind": "LAYERING", "accounts": [account], "levels": len(levels)})
                recent.clear()
        return flags
