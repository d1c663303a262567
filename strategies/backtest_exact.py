"""Exact-mode fills: the strategy's orders go through ``core.engine.Engine``.

The engine is the venue: market orders, stop-loss (``stop_market``), take-profit
(``take_profit_market``) and trailing stops (``trailing_stop_market`` with a percent trail) are
real engine orders, triggered and matched by the engine's own code. What this module adds is a
**synthetic book built from each bar**:

* a market order at a bar's open meets liquidity a maker account (``lp``) rests at the open;
* while a protective order waits, each bar's path (long: open -> low -> high -> close; short:
  open -> high -> low -> close, the adverse extreme first) is *printed*: ``lp`` rests liquidity
  at the price on the side a triggered order would take and a printer account (``px``) trades
  one lot against it, which moves the engine's last price and runs its triggers. The path is
  continuous, so every trigger level it crosses is printed on the way (a real price passes
  through every level between two prints), and a triggered order fills at the printed price.

The venue runs in ``no_risk`` mode (pure matching): the engine decides *which* orders fill, *at
what price* and *how much*; cash and fees are kept by the backtester's own ledger
(``strategies.backtest_ledger``), because the pinned convention charges fees in the quote
currency on both sides' notional while the engine charges a buyer in the base asset, the way
Binance does. Bars with no protective order waiting send nothing to the engine.
"""

from __future__ import annotations

from core.engine import Engine, EngineConfig
from core.orders import BUY, TRAILING_STOP_MARKET, Order
from core.triggers import fires_upward, trail_offset
from strategies.backtest import Exit, Position, Ticks
from strategies.backtest_ledger import LONG, Grid

BOT, MAKER, PRINTER = "bt", "lp", "px"
_SIDE = {1: "buy", -1: "sell"}


class EngineRejected(RuntimeError):
    """The engine refused an order the synthetic book sent (a bug in this driver)."""


class EngineFills:
    """A fill model over the matching engine (see the module doc)."""

    def __init__(self, grid: Grid, ticks: Ticks) -> None:
        self.inst = grid.instrument()
        self.sym = self.inst.symbol
        self.engine = Engine(EngineConfig(no_risk=True, instruments={self.sym: self.inst}))
        self.ticks = ticks
        self._ids = 0
        self.armed: dict[str, str] = {}  # engine order id -> exit reason
        self._filled_open = -1  # the bar whose open a market fill printed

    # ---------------------------------------------------------------- plumbing
    def _id(self, who: str) -> str:
        self._ids += 1
        return f"{who}{self._ids}"

    def _send(self, cmd: dict) -> list[dict]:
        events = self.engine.process(cmd)
        for ev in events:
            if ev["event"] == "rejected":
                raise EngineRejected(f"engine rejected {cmd}: {ev['reason']} {ev.get('message', '')}")
        return events

    def _order(self, who: str, side: int, otype: str, lots: int, **extra: str) -> list[dict]:
        cmd = {"op": "new", "id": self._id(who), "account": who, "symbol": self.sym, "side": _SIDE[side],
               "type": otype, "qty": self.inst.fmt_qty(lots), **extra}
        return self._send(cmd)

    def _rest(self, side: int, price: int, lots: int) -> None:
        """The maker rests ``lots`` at ``price`` (GTC limit) on ``side``."""
        self._order(MAKER, side, "limit", lots, price=self.inst.fmt_price(price))

    def _clear_maker(self) -> None:
        if self.engine.by_account.get(MAKER):
            self._send({"op": "cancel_all", "account": MAKER, "symbol": self.sym})

    def _bot_fills(self, events: list[dict]) -> list[tuple[str, int, int]]:
        """(order id, price ticks, lots) of every fill of the strategy's orders."""
        out = []
        for ev in events:
            if ev["event"] != "trade":
                continue
            oid = ev["taker_id"] if ev["taker_account"] == BOT else (ev["maker_id"] if ev["maker_account"] == BOT else None)
            if oid is not None:
                out.append((oid, self.inst.price_to_ticks(ev["price"]), self.inst.qty_to_lots(ev["qty"])))
        return out

    # ---------------------------------------------------------------- market orders
    def quote(self, bar: int, side: int) -> int:
        return int(self.ticks.open[bar])

    def market(self, bar: int, side: int, lots: int) -> int:
        """A market order at the bar's open against the maker's liquidity there."""
        price = int(self.ticks.open[bar])
        self._rest(-side, price, lots)
        fills = self._bot_fills(self._order(BOT, side, "market", lots))
        self._clear_maker()
        if sum(q for _, _, q in fills) != lots or any(p != price for _, p, _ in fills):
            raise EngineRejected(f"market {_SIDE[side]} {lots} lots at bar {bar} filled as {fills}")
        self._filled_open = bar
        return price

    # ---------------------------------------------------------------- protective orders
    def arm(self, pos: Position, bar: int) -> Exit | None:
        """Stop, take-profit, trailing stop: engine conditional orders, in that priority.

        A fixed level the last price (this bar's open, just printed by the fill) has already
        reached is one the engine refuses to place (WOULD_TRIGGER_IMMEDIATELY): as a venue's
        triggered stop would, the position is closed at once at the market instead."""
        close_side, lots = -pos.side, pos.qty
        fmt = self.inst.fmt_price
        self.armed.clear()
        last = self.engine.last_price.get(self.sym)
        for reason, level, reached in (
            ("stop_loss", pos.stop, lambda lv: (last - lv) * pos.side <= 0),
            ("take_profit", pos.take_profit, lambda lv: (last - lv) * pos.side >= 0),
        ):
            if level is not None and last is not None and reached(level):
                self.disarm(pos)
                return Exit(bar, self.market(bar, close_side, lots), reason)
        if pos.stop is not None:
            self._arm("stop_loss", close_side, "stop_market", lots, stop_price=fmt(pos.stop))
        if pos.take_profit is not None:
            self._arm("take_profit", close_side, "take_profit_market", lots, stop_price=fmt(pos.take_profit))
        if pos.trail_ppm is not None:
            pct = f"{pos.trail_ppm // 10_000}.{pos.trail_ppm % 10_000:04d}%"
            self._arm("trailing_stop", close_side, "trailing_stop_market", lots, trail=pct)

    def _arm(self, reason: str, side: int, otype: str, lots: int, **extra: str) -> None:
        before = self._ids + 1
        self._order(BOT, side, otype, lots, **extra)
        self.armed[f"{BOT}{before}"] = reason

    def disarm(self, pos: Position) -> None:
        for oid in list(self.armed):
            if oid in self.engine.orders:
                self._send({"op": "cancel", "id": oid, "account": BOT})
        self.armed.clear()

    def watch(self, pos: Position, last: int) -> Exit | None:
        """Print each bar's path until a protective order fills (or the slice ends)."""
        t = self.ticks
        side = pos.side
        for bar in range(pos.start, last + 1):
            o, h, l, c = int(t.open[bar]), int(t.high[bar]), int(t.low[bar]), int(t.close[bar])
            if self._quiet(l, h):
                continue
            path = (l, h, c) if side == LONG else (h, l, c)
            current = o
            if bar != self._filled_open:  # else the open was printed by our own fill
                hit = self._print(o, pos)
                if hit:
                    return Exit(bar, hit[1], hit[0])
            for target in path:
                for level in self._levels_between(current, target):
                    hit = self._print(level, pos)
                    if hit:
                        return Exit(bar, hit[1], hit[0])
                if target != current:
                    hit = self._print(target, pos)
                    if hit:
                        return Exit(bar, hit[1], hit[0])
                current = target
        return None

    def _quiet(self, low: int, high: int) -> bool:
        """No armed level inside the bar and no trailing anchor the bar could move: printing it
        would change nothing in the engine, so it is skipped (the common bar, and the speed-up)."""
        for oid in self.armed:
            order = self.engine.orders.get(oid)
            if order is None:
                continue
            if order.type == TRAILING_STOP_MARKET:
                level, _ = self._trigger_level(order)
                if order.side == BUY and not (low >= order.anchor and high < level):
                    return False
                if order.side != BUY and not (high <= order.anchor and low > level):
                    return False
            elif low <= order.stop_price <= high:
                return False
        return True

    def _trigger_level(self, order: Order) -> tuple[int, bool]:
        """(level in ticks, fires when the price rises to it) of an armed order, from its state."""
        if order.type == TRAILING_STOP_MARKET:
            anchor = order.anchor
            if order.side == BUY:
                return anchor + trail_offset(order, anchor), True
            return anchor - trail_offset(order, anchor), False
        return order.stop_price, fires_upward(order)

    def _levels_between(self, start: int, end: int) -> list[int]:
        """Armed levels strictly between ``start`` and ``end`` that this move crosses, in path order."""
        rising = end > start
        levels = set()
        for oid in self.armed:
            order = self.engine.orders.get(oid)
            if order is None:
                continue
            level, upward = self._trigger_level(order)
            if upward == rising and min(start, end) < level < max(start, end):
                levels.add(level)
        return sorted(levels, reverse=not rising)

    def _print(self, price: int, pos: Position) -> tuple[str, int] | None:
        """Trade one lot at ``price``; returns (reason, price) when a protective order filled."""
        close_side, lots = -pos.side, pos.qty
        # Liquidity for the closing order at exactly this price, plus one lot for the print.
        self._rest(-close_side, price, lots + 1)
        events = self._order(PRINTER, close_side, "market", 1)
        self._clear_maker()
        fills = self._bot_fills(events)
        if not fills:
            return None
        oid = fills[0][0]
        if sum(q for _, _, q in fills) != lots:
            raise EngineRejected(f"protective order {oid} filled {fills}, expected {lots} lots")
        reason = self.armed.pop(oid)
        self.disarm(pos)
        return reason, fills[0][1]
