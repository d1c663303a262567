"""A deterministic busy-venue order flow: limits near the touch, market orders, cancels.

Ops are plain tuples (prices in integer ticks, quantities in integer lots, ids strings)::

    (OP_LIMIT,  oid, account, side, price, qty)
    (OP_MARKET, oid, account, side, qty)
    (OP_CANCEL, oid)

The generator follows a mid price doing a random walk and places orders relative to it; it
does not run a book, so it cannot know which orders filled. Cancels therefore target ids that
were placed earlier and may or may not still rest: a cancel of an order that has already
filled is a no-op in every implementation. To keep the mix honest the runners count how many
cancels hit a live order. To make most of them hit, a cancel picks, among a few recently placed
passive orders, the one farthest from the touch (the least likely to have traded).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

OP_LIMIT = 0
OP_MARKET = 1
OP_CANCEL = 2
OP_NAMES = {OP_LIMIT: "limit", OP_MARKET: "market", OP_CANCEL: "cancel"}

BUY = 1
SELL = -1


@dataclass(frozen=True)
class FlowSpec:
    """Shape of the flow. Defaults: ~60% limits, ~10% market, ~30% cancels."""

    ops: int = 200_000
    seed: int = 1
    p_limit: float = 0.60
    p_market: float = 0.10  # the rest are cancels
    start_mid: int = 3_000_000  # ticks (30000.00 on a 0.01 grid)
    p_move: float = 0.05  # chance the mid moves one tick on an op
    marketable: float = 0.08  # share of limits priced through the touch
    max_through: int = 3  # a marketable limit crosses by 1..max_through ticks past the mid
    max_depth: int = 8  # a passive limit rests 1..max_depth ticks from the mid
    depth_decay: float = 0.4  # depth 1 + Exp(depth_decay) ticks, capped: a few ticks
    limit_lots: tuple[int, int] = (20, 400)  # 0.0002-0.004 BTC: above the 5 USDT min notional
    market_lots: tuple[int, int] = (20, 300)  # modest: one to a few resting orders
    accounts: int = 32
    cancel_window: int = 50  # a cancel looks among this many most recent passive orders
    cancel_sample: int = 4  # ... samples this many and takes the farthest from the mid


@dataclass
class Flow:
    spec: FlowSpec
    ops: list[tuple]
    accounts: list[str]
    counts: dict[str, int] = field(default_factory=dict)


def account_names(n: int) -> list[str]:
    return [f"acct{i:02d}" for i in range(n)]


def generate(spec: FlowSpec) -> Flow:
    """Build the flow for ``spec`` (same spec, same ops, on every machine and Python 3.11+)."""
    rng = random.Random(spec.seed)
    rnd = rng.random
    randint = rng.randint
    accounts = account_names(spec.accounts)
    mid = spec.start_mid
    pool: list[tuple[str, int, int]] = []  # recent passive orders: (oid, side, price)
    ops: list[tuple] = []
    n_limit = n_market = n_cancel = n_marketable = 0
    next_id = 0
    p_limit = spec.p_limit
    p_lm = spec.p_limit + spec.p_market
    lo_l, hi_l = spec.limit_lots
    lo_m, hi_m = spec.market_lots
    while len(ops) < spec.ops:
        if rnd() < spec.p_move:
            mid += 1 if rnd() < 0.5 else -1
        u = rnd()
        if u >= p_lm and not pool:
            u = 0.0  # nothing to cancel yet: place a limit instead
        if u < p_limit:
            next_id += 1
            oid = f"o{next_id}"
            side = BUY if rnd() < 0.5 else SELL
            account = accounts[randint(0, len(accounts) - 1)]
            qty = randint(lo_l, hi_l)
            if rnd() < spec.marketable:
                price = mid + side * randint(1, spec.max_through)
                n_marketable += 1
            else:
                # Near the touch: mostly 1-2 ticks away, a thin tail out to max_depth.
                depth = min(spec.max_depth, 1 + int(rng.expovariate(spec.depth_decay)))
                price = mid - side * depth
                pool.append((oid, side, price))
            if price < 1:
                price = 1
            ops.append((OP_LIMIT, oid, account, side, price, qty))
            n_limit += 1
        elif u < p_lm:
            next_id += 1
            oid = f"o{next_id}"
            side = BUY if rnd() < 0.5 else SELL
            account = accounts[randint(0, len(accounts) - 1)]
            ops.append((OP_MARKET, oid, account, side, randint(lo_m, hi_m)))
            n_market += 1
        else:
            lo = max(0, len(pool) - spec.cancel_window)
            best_i = -1
            best_d = None
            for _ in range(spec.cancel_sample):
                i = randint(lo, len(pool) - 1)
                _oid, side, price = pool[i]
                d = (mid - price) * side  # distance behind the touch on the order's side
                if best_d is None or d > best_d:
                    best_i, best_d = i, d
            oid = pool[best_i][0]
            del pool[best_i]
            ops.append((OP_CANCEL, oid))
            n_cancel += 1
    counts = {
        "limit": n_limit,
        "limit_marketable": n_marketable,
        "market": n_market,
        "cancel": n_cancel,
    }
    return Flow(spec=spec, ops=ops, accounts=accounts, counts=counts)
