"""A seeded generator of long, valid-looking command journals for durability tests.

Why a generator and not a fixture file: the crash test needs tens of thousands of lines so a
SIGKILL lands mid-run; a seed makes every run of the test see the same journal.
Prices sit on BTC/USDT's 0.01 grid and quantities on its 0.00001 grid; a few lines are bad on
purpose (off-grid, tiny notional, unknown ids) so rejects are journaled too.
"""

from __future__ import annotations

import random
from pathlib import Path

import orjson

ACCOUNTS = ("alice", "bob", "carol")
SYMBOL = "BTC/USDT"


def _price(ticks: int) -> str:
    return f"{ticks // 100}.{ticks % 100:02d}"


def _qty(lots: int) -> str:
    return f"{lots // 100_000}.{lots % 100_000:05d}"


def generate_journal(n: int, seed: int = 7, accounts: tuple[str, ...] = ACCOUNTS) -> list[str]:
    """``n`` JSONL command lines (no newlines): deposits first, then new/cancel/modify traffic."""
    rng = random.Random(seed)
    lines: list[dict] = []
    for acct in accounts:
        lines.append({"op": "deposit", "account": acct, "asset": "USDT", "amount": "50000000"})
        lines.append({"op": "deposit", "account": acct, "asset": "BTC", "amount": "1500"})
    mid = 3_000_000  # ticks: 30000.00
    live: list[tuple[str, str]] = []  # (order id, account), may already be filled
    next_id = 1
    while len(lines) < n:
        mid = max(1_000_000, mid + rng.randint(-40, 40))
        r = rng.random()
        acct = rng.choice(accounts)
        if r < 0.55 or not live:
            oid = f"o{next_id}"
            next_id += 1
            side = rng.choice(("buy", "sell"))
            offset = rng.randint(-60, 300)  # mostly resting, sometimes crossing
            ticks = mid - offset if side == "buy" else mid + offset
            lots = rng.randint(20, 5_000)
            cmd = {"op": "new", "id": oid, "account": acct, "symbol": SYMBOL, "side": side,
                   "type": "limit", "price": _price(ticks), "qty": _qty(lots)}
            if rng.random() < 0.1:
                cmd["tif"] = rng.choice(("IOC", "FOK", "GTC"))
            if rng.random() < 0.01:
                cmd["price"] = _price(ticks) + "5"  # off the 0.01 grid: a reject
            lines.append(cmd)
            live.append((oid, acct))
        elif r < 0.63:
            oid = f"o{next_id}"
            next_id += 1
            lines.append({"op": "new", "id": oid, "account": acct, "symbol": SYMBOL,
                          "side": rng.choice(("buy", "sell")), "type": "market",
                          "qty": _qty(rng.randint(20, 3_000))})
        elif r < 0.83:
            oid, owner = live.pop(rng.randrange(len(live)))
            lines.append({"op": "cancel", "id": oid})
        elif r < 0.96:
            oid, owner = live[rng.randrange(len(live))]
            cmd = {"op": "modify", "id": oid, "qty": _qty(rng.randint(20, 5_000))}
            if rng.random() < 0.5:
                cmd["price"] = _price(mid + rng.randint(-300, 300))
            lines.append(cmd)
        elif r < 0.98:
            lines.append({"op": "deposit", "account": acct, "asset": rng.choice(("USDT", "BTC")),
                          "amount": rng.choice(("1000", "0.5", "25.12345678"))})
        else:
            lines.append({"op": "cancel", "id": f"missing{rng.randint(1, 10**6)}"})
        if len(live) > 400:
            oid, owner = live.pop(0)
            lines.append({"op": "cancel", "id": oid})
    return [orjson.dumps(c).decode() for c in lines[:n]]


def write_journal(path: Path, n: int, seed: int = 7) -> list[str]:
    """Write the generated journal (one command per line) and return its lines."""
    lines = generate_journal(n, seed)
    path.write_text("".join(line + "\n" for line in lines))
    return lines
