"""Drive ``tickdesk sim run`` as a real subprocess on a hand-written journal.

The scenario tests write a journal (a list of command dicts, or raw strings for lines that
are not valid JSON), run ``tickdesk sim run JOURNAL --out EVENTS --json --state-out STATE``
through the ``run_cli`` fixture of ``tests/conftest.py`` and read the events back.

Expected events are written by hand as dicts holding only the fields that matter;
``assert_events`` compares each actual event restricted to the expected event's keys, in
order, after dropping bookkeeping events (listings, deposits, configuration echoes).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

XYZ = "XYZ/USD"
BTC = "BTC/USDT"

#: A toy instrument that keeps the arithmetic in whole numbers: tick 1, lot 1.
LIST_XYZ = {"op": "instrument", "symbol": XYZ, "tick_size": "1", "lot_size": "1", "min_qty": "1", "min_notional": "0"}

#: Events that only echo set-up commands; dropped before comparing unless asked for.
BOOKKEEPING = frozenset({"listed", "deposited", "account_set", "breaker_set", "limits_set", "linked", "clock"})


def dep(account: str, asset: str, amount: str) -> dict:
    return {"op": "deposit", "account": account, "asset": asset, "amount": amount}


def fund(*accounts: str, usd: str = "1000000", xyz: str = "10000") -> list[dict]:
    """Deposits that make balances irrelevant to a matching scenario on XYZ/USD."""
    out = []
    for a in accounts:
        out += [dep(a, "USD", usd), dep(a, "XYZ", xyz)]
    return out


def new(
    oid: str,
    account: str,
    side: str,
    qty: str,
    price: str | None = None,
    type: str = "limit",
    symbol: str = XYZ,
    **extra,
) -> dict:
    """A ``new`` command; ``price`` is left out when None (market and stop orders)."""
    cmd = {"op": "new", "id": oid, "account": account, "symbol": symbol, "side": side, "type": type, "qty": qty}
    if price is not None:
        cmd["price"] = price
    cmd.update(extra)
    return cmd


def buy(oid: str, account: str, qty: str, price: str | None = None, **kw) -> dict:
    return new(oid, account, "buy", qty, price, **kw)


def sell(oid: str, account: str, qty: str, price: str | None = None, **kw) -> dict:
    return new(oid, account, "sell", qty, price, **kw)


def ev(kind: str, **fields) -> dict:
    """An expected event: ``ev("trade", price="100", qty="2", maker_id="s1", taker_id="b1")``."""
    return {"event": kind, **fields}


@dataclass
class SimRun:
    code: int
    stdout: str
    stderr: str
    events: list[dict]
    summary: dict
    state: dict
    journal: list

    def line_of(self, marker) -> int:
        """1-based journal line of the command ``marker`` (the dict itself, or an order id)."""
        for i, cmd in enumerate(self.journal, 1):
            if cmd is marker or (isinstance(cmd, dict) and cmd.get("op") == "new" and cmd.get("id") == marker):
                return i
        raise KeyError(marker)

    def of(self, marker, drop: Iterable[str] = ("clock",)) -> list[dict]:
        """Events caused by one journal line (a line number, the command dict or an order id),
        without the ``clock`` acknowledgement a ``time`` command always gets."""
        line = marker if isinstance(marker, int) else self.line_of(marker)
        dropped = set(drop)
        return [e for e in self.events if e.get("cmd") == line and e["event"] not in dropped]

    def main(self, drop: Iterable[str] = BOOKKEEPING) -> list[dict]:
        """Every event except the bookkeeping ones."""
        dropped = set(drop)
        return [e for e in self.events if e["event"] not in dropped]

    def since(self, marker, drop: Iterable[str] = BOOKKEEPING) -> list[dict]:
        """Events from journal line ``marker`` onwards, bookkeeping dropped."""
        line = marker if isinstance(marker, int) else self.line_of(marker)
        dropped = set(drop)
        return [e for e in self.events if (e.get("cmd") or 0) >= line and e["event"] not in dropped]

    # --- state helpers -------------------------------------------------------------------
    def balance(self, account: str, asset: str) -> tuple[str, str]:
        """(available, held) from the final state, as the decimal strings it holds."""
        b = self.state["balances"].get(account, {}).get(asset)
        if b is None:
            return ("0", "0")
        return (b["available"], b["held"])

    def book(self, symbol: str = XYZ) -> dict:
        return self.state["books"][symbol]

    def open_ids(self) -> list[str]:
        return [o["id"] for o in self.state["open_orders"]]

    def open_order(self, oid: str) -> dict:
        for o in self.state["open_orders"]:
            if o["id"] == oid:
                return o
        raise KeyError(oid)


class Sim:
    """``sim(journal, no_risk=False)`` -> SimRun, each call in its own directory."""

    #: Journals here are a few dozen lines: a run that takes longer than this is a hang.
    TIMEOUT = 30

    def __init__(self, run_cli, tmp_path: Path) -> None:
        self._run_cli = run_cli
        self._tmp = tmp_path
        self._n = 0

    def __call__(self, journal: list, *, no_risk: bool = False, check: bool = True) -> SimRun:
        self._n += 1
        d = self._tmp / f"run{self._n}"
        d.mkdir()
        jpath, epath, spath = d / "journal.jsonl", d / "events.jsonl", d / "state.json"
        lines = [c if isinstance(c, str) else json.dumps(c) for c in journal]
        jpath.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        args = ["sim", "run", str(jpath), "--out", str(epath), "--json", "--state-out", str(spath)]
        if no_risk:
            args.append("--no-risk")
        code, out, err = self._run_cli(*args, timeout=self.TIMEOUT)
        if check:
            assert code == 0, f"sim run exited {code}: {err}"
        events = [json.loads(x) for x in epath.read_text(encoding="utf-8").splitlines() if x.strip()] if epath.exists() else []
        summary = json.loads(out) if code == 0 else {}
        state = json.loads(spath.read_text(encoding="utf-8")) if spath.exists() else {}
        return SimRun(code, out, err, events, summary, state, list(journal))


_MISSING = "<missing>"


def assert_events(actual: list[dict], expected: list[dict]) -> None:
    """Same number of events, same kinds in the same order, and every field the expected
    event names has exactly that value (other fields of the actual event are ignored)."""
    got = []
    for i, a in enumerate(actual):
        keys = expected[i].keys() if i < len(expected) else ("event", "id", "reason", "price", "qty", "leaves_qty")
        got.append({k: a.get(k, _MISSING) for k in keys if k in a or i < len(expected)})
    assert got == expected
