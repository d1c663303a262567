"""Statistics of a simulated-market run, for ``tickdesk sim market --json`` and its tests.

``RunStats`` is a step hook: after each step it samples the book (spread, depth) and folds in
the step's trades. Exact quantities (volume, notional, prices) stay integers until formatted;
spread and depth statistics are floats (they are analytics, not amounts).
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import numpy as np

from core.accounts import VENUE_ACCOUNT
from core.simmarket.market import SimMarket

NS_PER_SECOND = 1_000_000_000
TOP_LEVELS = 20


class RunStats:
    """Per-step samples of one symbol's book and every trade in it."""

    def __init__(self, market: SimMarket, symbol: str) -> None:
        self.market = market
        self.symbol = symbol
        self.ins = market.engine.instruments[symbol]
        self.spread_ticks: list[int] = []
        self.spread_bps: list[float] = []
        self.levels: dict[str, list[int]] = {"bids": [], "asks": []}
        self.qty: dict[str, list[int]] = {"bids": [], "asks": []}  # total visible lots per side
        self.top_qty: dict[str, list[int]] = {"bids": [], "asks": []}  # visible lots in the top 20
        self.one_sided = 0
        self.per_second: Counter[int] = Counter()
        self.trades = 0
        self.volume_lots = 0
        self.notional_units = 0
        self.first: int | None = None
        self.last: int | None = None
        self.high: int | None = None
        self.low: int | None = None
        self.taker_volume = {"buy": 0, "sell": 0}

    def __call__(self, market: SimMarket, events: list[dict[str, Any]]) -> None:
        ins = self.ins
        for ev in events:
            if ev["event"] != "trade" or ev["symbol"] != self.symbol:
                continue
            ticks = ins.price_to_ticks(ev["price"])
            lots = ins.qty_to_lots(ev["qty"])
            self.trades += 1
            self.volume_lots += lots
            self.notional_units += ins.notional_units(ticks, lots)
            self.taker_volume[ev["taker_side"]] += lots
            # Second i holds the steps stamped in (i s, i+1 s]: S seconds -> buckets 0..S-1.
            self.per_second[(int(ev["ts"]) - 1) // NS_PER_SECOND] += 1
            if self.first is None:
                self.first = ticks
            self.last = ticks
            self.high = ticks if self.high is None else max(self.high, ticks)
            self.low = ticks if self.low is None else min(self.low, ticks)
        book = market.engine.books[self.symbol]
        bid, ask = book.best_bid, book.best_ask
        if bid is None or ask is None:
            self.one_sided += 1
        else:
            self.spread_ticks.append(ask - bid)
            self.spread_bps.append((ask - bid) / ((ask + bid) / 2) * 1e4)
        for name, side in (("bids", book.bids), ("asks", book.asks)):
            levels = side.levels
            self.levels[name].append(len(levels))
            self.qty[name].append(sum(level.qty for level in levels.values()))
            self.top_qty[name].append(sum(q for _, q, _ in side.depth(TOP_LEVELS)))

    # --- the summary ---------------------------------------------------------------------
    def summary(self, seconds: int) -> dict[str, Any]:
        m, ins = self.market, self.ins
        fp, fq = ins.fmt_price, ins.fmt_qty
        tps = [self.per_second.get(s, 0) for s in range(seconds)]
        book = m.engine.books[self.symbol]
        lot = float(ins.lot_size)
        return {
            "seed": m.seed,
            "symbol": self.symbol,
            "seconds": seconds,
            "step_ms": m.step_ms,
            "steps": m.step_count,
            "commands": m.commands,
            "rejected": dict(sorted(m.rejected.items())),
            "surveillance_flags": dict(sorted(m.flags.items())),
            "trades": self.trades,
            "volume": fq(self.volume_lots),
            "taker_buy_volume": fq(self.taker_volume["buy"]),
            "taker_sell_volume": fq(self.taker_volume["sell"]),
            "notional": ins.quote.fmt(self.notional_units),
            "trades_per_second": {
                "min": min(tps) if tps else 0,
                "mean": round(float(np.mean(tps)), 3) if tps else 0.0,
                "max": max(tps) if tps else 0,
            },
            "seconds_without_trade": sum(1 for n in tps if n == 0),
            "spread": {
                "samples": len(self.spread_ticks),
                "one_sided_samples": self.one_sided,
                "ticks": _dist(self.spread_ticks),
                "bps": _dist(self.spread_bps),
            },
            "depth": {
                side: {
                    "levels_min": int(min(self.levels[side], default=0)),
                    "levels_mean": round(float(np.mean(self.levels[side])), 2) if self.levels[side] else 0.0,
                    "levels_final": len(getattr(book, side).levels),
                    "qty_mean": round(float(np.mean(self.qty[side])) * lot, 5) if self.qty[side] else 0.0,
                    "qty_min": round(min(self.qty[side], default=0) * lot, 5),
                    "top20_qty_mean": round(float(np.mean(self.top_qty[side])) * lot, 5) if self.top_qty[side] else 0.0,
                }
                for side in ("bids", "asks")
            },
            "price": {
                "first": fp(self.first) if self.first is not None else None,
                "last": fp(self.last) if self.last is not None else None,
                "high": fp(self.high) if self.high is not None else None,
                "low": fp(self.low) if self.low is not None else None,
                "fair_final": round(m.fair(self.symbol), 2),
            },
            "final": m.engine.best(self.symbol),
            "conservation": conservation(m),
        }


def _dist(values: list[int] | list[float]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "median": 0.0, "p95": 0.0, "max": 0.0}
    arr = np.asarray(values, dtype=float)
    return {
        "mean": round(float(arr.mean()), 3),
        "median": round(float(np.median(arr)), 3),
        "p95": round(float(np.percentile(arr, 95)), 3),
        "max": round(float(arr.max()), 3),
    }


def conservation(market: SimMarket) -> dict[str, Any]:
    """For every asset: the sum of available + held over all accounts (the venue's fee account
    included), read from the engine's state snapshot, equals the net deposits seen in events."""
    balances = market.engine.state_snapshot()["balances"]
    totals: dict[str, Decimal] = {}
    for assets in balances.values():
        for asset, b in assets.items():
            totals[asset] = totals.get(asset, Decimal(0)) + Decimal(b["available"]) + Decimal(b["held"])
    out: dict[str, Any] = {}
    for asset in sorted(set(totals) | set(market.deposits)):
        dep = market.deposits.get(asset, Decimal(0))
        tot = totals.get(asset, Decimal(0))
        unit = market.engine.assets[asset].unit
        out[asset] = {"deposited": f"{dep.quantize(unit):f}", "balances": f"{tot.quantize(unit):f}", "ok": dep == tot}
    venue = balances.get(VENUE_ACCOUNT, {})
    return {
        "ok": all(v["ok"] for v in out.values()),
        "assets": out,
        "venue_fees": {a: b["available"] for a, b in sorted(venue.items())},
    }
