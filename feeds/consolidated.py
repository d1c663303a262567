"""Consolidated view of one unified symbol across venues, and arbitrage-opportunity events.

The view is pulled (like the UI pulls books): call :meth:`Consolidator.update` with each
venue's current top of book, as often as you like (the CLI does it at 20 Hz).  For every
unified symbol quoted by two or more venues it keeps the best bid and ask per venue, the
cross-venue best bid / best ask and their spread, and it emits an *opportunity* event when
buying at one venue's ask and selling at another's bid earns more than both taker fees:

    net = bid_B * (1 - fee_B) - ask_A * (1 + fee_A)  > 0

An opportunity is reported once when it opens (with the executable quantity: the smaller of
the two top quantities) and once more when it closes (with how long it lasted and its best
net edge).  Only books in sync are used.  Prices are exact ``Decimal``; nothing goes through
float except the basis-point figures in the report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal

DEFAULT_TAKER_FEE = Decimal("0.001")


@dataclass
class Quote:
    venue: str  # exchange
    key: str  # "binance:BTCUSDT"
    bid: Decimal | None
    bid_qty: Decimal | None
    ask: Decimal | None
    ask_qty: Decimal | None


@dataclass
class _Open:
    event: dict
    opened: float
    best_net: Decimal


@dataclass
class Consolidator:
    fees: dict[str, Decimal] = field(default_factory=dict)  # venue -> taker fee rate
    default_fee: Decimal = DEFAULT_TAKER_FEE
    events: list[dict] = field(default_factory=list)
    max_events: int = 1000
    opened: int = 0
    _open: dict[tuple[str, str, str], _Open] = field(default_factory=dict)
    last: dict[str, list[Quote]] = field(default_factory=dict)

    def fee(self, venue: str) -> Decimal:
        return self.fees.get(venue, self.default_fee)

    def update(self, quotes: dict[str, list[Quote]], now: float | None = None) -> list[dict]:
        """``{unified symbol: [Quote per venue]}`` -> the events this update produced."""
        now = time.monotonic() if now is None else now
        out: list[dict] = []
        self.last = quotes
        seen: set[tuple[str, str, str]] = set()
        for symbol, qs in quotes.items():
            for buy in qs:
                if buy.ask is None:
                    continue
                for sell in qs:
                    if sell is buy or sell.bid is None or sell.venue == buy.venue:
                        continue
                    net = sell.bid * (1 - self.fee(sell.venue)) - buy.ask * (1 + self.fee(buy.venue))
                    k = (symbol, buy.venue, sell.venue)
                    if net <= 0:
                        continue
                    seen.add(k)
                    cur = self._open.get(k)
                    if cur is None:
                        qty = min(x for x in (buy.ask_qty, sell.bid_qty) if x is not None) if (buy.ask_qty or sell.bid_qty) else None
                        ev = {
                            "event": "arbitrage_open",
                            "symbol": symbol,
                            "buy_venue": buy.venue,
                            "sell_venue": sell.venue,
                            "buy_price": str(buy.ask),
                            "sell_price": str(sell.bid),
                            "qty": str(qty) if qty is not None else None,
                            "net_per_unit": str(net),
                            "net_bps": round(float(net / buy.ask) * 10_000, 2),
                            "fees": {buy.venue: str(self.fee(buy.venue)), sell.venue: str(self.fee(sell.venue))},
                            "t": round(now, 3),
                        }
                        self._open[k] = _Open(ev, now, net)
                        self.opened += 1
                        out.append(ev)
                    elif net > cur.best_net:
                        cur.best_net = net
        for k in [k for k in self._open if k not in seen]:
            cur = self._open.pop(k)
            out.append({
                "event": "arbitrage_close",
                "symbol": k[0],
                "buy_venue": k[1],
                "sell_venue": k[2],
                "lasted_s": round(now - cur.opened, 3),
                "best_net_per_unit": str(cur.best_net),
                "t": round(now, 3),
            })
        for ev in out:
            if len(self.events) < self.max_events:
                self.events.append(ev)
        return out

    def view(self) -> list[dict]:
        """Per symbol: each venue's best bid/ask, the cross-venue best bid/ask and spread."""
        rows = []
        for symbol, qs in sorted(self.last.items()):
            bids = [q for q in qs if q.bid is not None]
            asks = [q for q in qs if q.ask is not None]
            best_b = max(bids, key=lambda q: q.bid) if bids else None
            best_a = min(asks, key=lambda q: q.ask) if asks else None
            rows.append({
                "symbol": symbol,
                "venues": {q.venue: {"bid": _s(q.bid), "bid_qty": _s(q.bid_qty), "ask": _s(q.ask), "ask_qty": _s(q.ask_qty)} for q in qs},
                "best_bid": _s(best_b.bid) if best_b else None,
                "bid_venue": best_b.venue if best_b else None,
                "best_ask": _s(best_a.ask) if best_a else None,
                "ask_venue": best_a.venue if best_a else None,
                "spread": _s(best_a.ask - best_b.bid) if best_a and best_b else None,
                "crossed": bool(best_a and best_b and best_b.bid >= best_a.ask),
            })
        return rows

    def report(self) -> dict:
        return {
            "spreads": self.view(),
            "opportunities": self.opened,
            "open_now": len(self._open),
            "events": self.events[-100:],
        }


def _s(x: Decimal | None) -> str | None:
    return None if x is None else str(x)


def group_quotes(tops: list[dict]) -> dict[str, list[Quote]]:
    """Rows ``{"venue","key","unified","synced","bid","bid_qty","ask","ask_qty"}`` (strings) -> by symbol.

    Only synced books count; symbols quoted by one venue are left out.
    """
    by: dict[str, list[Quote]] = {}
    for t in tops:
        if not t.get("synced"):
            continue
        unified = t["unified"]
        by.setdefault(unified, []).append(Quote(
            t["venue"], t["key"], _d(t.get("bid")), _d(t.get("bid_qty")), _d(t.get("ask")), _d(t.get("ask_qty"))
        ))
    return {s: qs for s, qs in by.items() if len({q.venue for q in qs}) > 1}


def _d(x: str | None) -> Decimal | None:
    return None if x is None else Decimal(x)


def consolidate(symbols: dict[str, dict], fees: dict[str, Decimal] | None = None) -> dict:
    """A one-shot consolidated view from ``feed run``'s per-symbol health (final state)."""
    tops = []
    for key, d in symbols.items():
        best = d.get("best") or {}
        tops.append({
            "venue": d.get("exchange") or key.split(":", 1)[0], "key": key, "unified": d.get("unified"),
            "synced": d.get("synced"), "bid": best.get("bid"), "bid_qty": best.get("bid_qty"),
            "ask": best.get("ask"), "ask_qty": best.get("ask_qty"),
        })
    c = Consolidator(fees=fees or {})
    c.update(group_quotes(tops))
    return c.report()
