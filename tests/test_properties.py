"""Property tests of the matching engine (hypothesis), on random command flows run in-process.

The flows are built from small abstract actions (deposit, withdraw, new order of many kinds,
cancel, cancel_all, modify, per-account STP) over 2-4 accounts and two symbols that share an
asset (BTC/USDT and ETH/BTC), with prices a few ticks around a mid so most orders cross.
After **every** command the tests check:

* (a) the book: never crossed; each level's quantity is the sum of its live orders' visible
  quantities; the id index, the level counts and the cached best prices agree with the levels;
* (b) money: for every asset the sum over all accounts (the venue's fee account included) of
  available + held equals net deposits (read from the deposited/withdrawn events); no balance
  is negative; every account's held balance equals the sum of its open orders' holds, and a
  resting limit order holds exactly what its remainder needs;
* per-order accounting from the event stream: qty == traded + STP-decremented + leaves, FOK
  orders fill all or nothing, post-only orders never take, trades happen at the maker's price
  and within the taker's limit;
* (c) in no-risk mode, for limit (GTC/IOC/FOK/post-only), market, cancel and modify flows, the
  trade tape, every accept/reject decision, the best prices after every command and the final
  resting orders equal those of ``core.bench.reference.ReferenceBook`` (a plain
  SortedDict+deque price-time book) driven by a small adapter written here;
* (d) determinism: replaying the same commands in a fresh engine, as JSON lines through
  ``process_line``, gives identical events and an identical ``state_snapshot()``.

Every test is derandomized and database-less, so CI sees the same examples on every run.
``PROPERTY_SCALE=10 pytest tests/test_properties.py`` multiplies the number of examples for a
deeper local search.
"""

from __future__ import annotations

import copy
import os
import signal
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass

import orjson
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from core.accounts import VENUE_ACCOUNT
from core.bench.reference import ReferenceBook, RefOrder
from core.engine import Engine, EngineConfig
from core.instruments import default_instruments
from core.numbers import to_units
from core.orders import BUY, LIMIT, SELL, STP_MODES

SCALE = max(1, int(os.environ.get("PROPERTY_SCALE", "1") or 1))


def _settings(examples: int):
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


class EngineHang(AssertionError):
    """A command did not return: the engine is looping."""


@contextmanager
def watchdog(seconds: float = 3.0):
    """Turn an engine infinite loop into a test failure (hypothesis then shrinks it)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def _alarm(signum, frame):
        raise EngineHang(f"a command did not return within {seconds} s (infinite loop in the engine?)")

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


INSTRUMENTS = default_instruments()
ACCOUNTS = ("alice", "bob", "carol", "dave")


@dataclass(frozen=True)
class SymSpec:
    mid: int  # ticks
    qty_step: int  # lots per qty unit drawn by the strategies


SYMBOLS = {
    # 30000.00 USDT, 0.00025 BTC steps (7.5 USDT, above the 5 USDT minimum notional)
    "BTC/USDT": SymSpec(mid=3_000_000, qty_step=25),
    # 0.06500 BTC, 0.005 ETH steps (0.000325 BTC, above the 0.0001 BTC minimum notional)
    "ETH/BTC": SymSpec(mid=6_500, qty_step=5),
}
#: asset -> units (of 1e-8) per amount step the strategies draw
AMOUNT_STEP = {"USDT": 10**8, "BTC": 10**5, "ETH": 10**6}

KINDS = (
    ["limit"] * 6
    + ["ioc", "fok", "post_only", "iceberg", "gtd", "market", "market", "market_fok"]
    + ["stop_market", "stop_limit", "take_profit_market", "take_profit_limit", "trailing"]
)


# ====================================================================== strategies
def flows(action, max_len: int):
    """Lists of ``action`` of a length drawn uniformly-ish in 1..max_len (plain ``st.lists``
    mostly draws a handful of elements, too few for books to build up); shrinks to short."""
    return st.integers(1, max_len).flatmap(lambda n: st.lists(action, min_size=n, max_size=n))


accounts_st = st.integers(min_value=2, max_value=4)

deposit_st = st.tuples(
    st.just("deposit"),
    st.integers(0, 3),
    st.sampled_from(sorted(AMOUNT_STEP)),
    st.integers(0, 3000),
)
withdraw_st = st.tuples(
    st.just("withdraw"),
    st.integers(0, 3),
    st.sampled_from(sorted(AMOUNT_STEP)),
    st.integers(0, 3000),
)
new_st = st.tuples(
    st.just("new"),
    st.integers(0, 3),  # account
    st.sampled_from(["BTC/USDT"] * 3 + ["ETH/BTC"]),
    st.sampled_from(["buy", "sell"]),
    st.sampled_from(KINDS),
    st.integers(-6, 6),  # price offset from mid (ticks)
    st.integers(1, 12),  # qty in steps
    st.integers(-8, 8),  # stop price offset / trail ticks / gtd lifetime
    st.integers(1, 12),  # display qty in steps (iceberg)
    st.sampled_from([None] * 8 + list(STP_MODES)),  # stp
    st.integers(0, 40),  # 0: reuse an earlier id (duplicate)
)
cancel_st = st.tuples(st.just("cancel"), st.integers(0, 200), st.integers(0, 12))
cancel_all_st = st.tuples(st.just("cancel_all"), st.integers(0, 3), st.sampled_from([None, "BTC/USDT", "ETH/BTC"]))
modify_st = st.tuples(
    st.just("modify"),
    st.integers(0, 200),
    st.one_of(st.none(), st.integers(-6, 6)),
    st.one_of(st.none(), st.integers(1, 12)),
)
account_stp_st = st.tuples(st.just("account"), st.integers(0, 3), st.sampled_from(STP_MODES))

action_st = st.one_of(
    new_st, new_st, new_st, new_st, cancel_st, modify_st, deposit_st, withdraw_st, cancel_all_st, account_stp_st
)
initial_st = st.lists(
    st.tuples(st.integers(200, 5000), st.integers(5, 100), st.integers(20, 500)), min_size=4, max_size=4
)


ASSETS = {a.code: a for inst in INSTRUMENTS.values() for a in (inst.base, inst.quote)}


def _fmt_amount(asset: str, steps: int) -> str:
    return ASSETS[asset].fmt(steps * AMOUNT_STEP[asset])


def build_flow(n_accounts: int, initial, actions, risk: bool = True) -> list[dict]:
    """Turn abstract actions into journal command dicts (deterministic)."""
    accts = ACCOUNTS[:n_accounts]
    cmds: list[dict] = []
    if risk:
        for i, acct in enumerate(accts):
            usdt, btc, eth = initial[i]
            cmds.append({"op": "deposit", "account": acct, "asset": "USDT", "amount": _fmt_amount("USDT", usdt)})
            cmds.append({"op": "deposit", "account": acct, "asset": "BTC", "amount": _fmt_amount("BTC", btc)})
            cmds.append({"op": "deposit", "account": acct, "asset": "ETH", "amount": _fmt_amount("ETH", eth)})
    issued: list[str] = []
    for act in actions:
        kind = act[0]
        position = len(cmds) + 1  # the engine clock after this command (one ns per command)
        if kind in ("deposit", "withdraw"):
            _, a, asset, amount = act
            cmds.append({"op": kind, "account": accts[a % n_accounts], "asset": asset, "amount": _fmt_amount(asset, amount)})
        elif kind == "new":
            _, a, sym, side, okind, poff, qsteps, xoff, dsteps, stp, dup = act
            inst, spec = INSTRUMENTS[sym], SYMBOLS[sym]
            oid = issued[dup % len(issued)] if dup == 0 and issued else f"o{len(issued) + 1}"
            issued.append(oid)
            cmd = {"op": "new", "id": oid, "account": accts[a % n_accounts], "symbol": sym, "side": side}
            price = inst.fmt_price(spec.mid + poff)
            cmd["qty"] = inst.fmt_qty(qsteps * spec.qty_step)
            stop = inst.fmt_price(spec.mid + xoff)
            if okind in ("limit", "ioc", "fok", "post_only", "iceberg", "gtd"):
                cmd.update(type="limit", price=price)
                if okind == "ioc":
                    cmd["tif"] = "IOC"
                elif okind == "fok":
                    cmd["tif"] = "FOK"
                elif okind == "post_only":
                    cmd["post_only"] = True
                elif okind == "iceberg":
                    cmd["display_qty"] = inst.fmt_qty(dsteps * spec.qty_step)
                elif okind == "gtd":
                    cmd.update(tif="GTD", expire_ts=position + 1 + abs(xoff) * 3)
            elif okind == "market":
                cmd["type"] = "market"
            elif okind == "market_fok":
                cmd.update(type="market", tif="FOK")
            elif okind in ("stop_market", "take_profit_market"):
                cmd.update(type=okind, stop_price=stop)
            elif okind in ("stop_limit", "take_profit_limit"):
                cmd.update(type=okind, stop_price=stop, price=price)
            elif okind == "trailing":
                cmd.update(type="trailing_stop_market", trail=str(1 + abs(xoff) % 4) if xoff >= 0 else "0.01%")
            if stp is not None:
                cmd["stp"] = stp
            cmds.append(cmd)
        elif kind == "cancel":
            _, ref, extra = act
            if issued and ref % 13 != 0:
                oid = issued[ref % len(issued)]
            else:
                oid = f"unknown{ref}"
            cmd = {"op": "cancel", "id": oid}
            if extra == 0:
                cmd["account"] = accts[ref % n_accounts]
            cmds.append(cmd)
        elif kind == "cancel_all":
            _, a, sym = act
            cmd = {"op": "cancel_all", "account": accts[a % n_accounts]}
            if sym is not None:
                cmd["symbol"] = sym
            cmds.append(cmd)
        elif kind == "modify":
            _, ref, poff, qsteps = act
            oid = issued[ref % len(issued)] if issued else "unknown"
            cmd = {"op": "modify", "id": oid}
            # the symbol of the target is unknown here; use BTC/USDT's grid when the id is not
            # known and let the engine reject off-grid values on ETH/BTC (that is a case too).
            target_sym = next((c["symbol"] for c in reversed(cmds) if c.get("op") == "new" and c["id"] == oid), "BTC/USDT")
            inst, spec = INSTRUMENTS[target_sym], SYMBOLS[target_sym]
            if poff is not None:
                cmd["price"] = inst.fmt_price(spec.mid + poff)
            if qsteps is not None:
                cmd["qty"] = inst.fmt_qty(qsteps * spec.qty_step)
            cmds.append(cmd)
        elif kind == "account":
            _, a, mode = act
            cmds.append({"op": "account", "account": accts[a % n_accounts], "stp": mode})
    return cmds


# ====================================================================== invariant checks
def check_book(engine: Engine) -> None:
    """(a) not crossed; levels, counts, index and cached best agree with the live orders."""
    for sym, book in engine.books.items():
        bb, ba = book.best_bid, book.best_ask
        if bb is not None and ba is not None:
            assert bb < ba, f"{sym}: crossed book, bid {bb} >= ask {ba}"
        live_ids: set[str] = set()
        for side_name, side, pick in (("bids", book.bids, max), ("asks", book.asks, min)):
            expect_best = pick(side.levels) if side.levels else None
            assert side.best == expect_best, f"{sym} {side_name}: cached best {side.best} != {expect_best}"
            for price, level in side.levels.items():
                live = [o for o in level.orders if o.live]
                assert live, f"{sym} {side_name}: empty level {price} kept"
                assert level.price == price
                assert level.count == len(live), f"{sym} {side_name} {price}: count {level.count} != {len(live)}"
                assert level.qty == sum(o.visible for o in live), (
                    f"{sym} {side_name} {price}: level qty {level.qty} != sum of visible {sum(o.visible for o in live)}"
                )
                assert level.dead == len(level.orders) - len(live), f"{sym} {side_name} {price}: dead count off"
                for o in live:
                    assert o.price == price and o.symbol == sym
                    assert (o.side == BUY) == (side_name == "bids")
                    assert 0 < o.visible <= o.leaves, f"{o!r}: visible not in (0, leaves]"
                    if not o.display:
                        assert o.visible == o.leaves, f"{o!r}: non-iceberg shows less than its leaves"
                    else:
                        assert o.visible == min(o.display, o.leaves) or o.visible < o.display, repr(o)
                    assert o.oid not in live_ids, f"{o.oid} rests twice"
                    live_ids.add(o.oid)
                    assert engine.orders.get(o.oid) is o, f"{o.oid} rests in the book but is not open in the engine"
        assert set(book.orders) == live_ids, f"{sym}: id index {sorted(book.orders)} != live orders {sorted(live_ids)}"
    # every open order is either resting or waiting for a trigger, never both, never neither
    pending = {o.oid for t in engine.triggers.values() for o in t.orders()}
    resting = {oid for b in engine.books.values() for oid in b.orders}
    assert not pending & resting
    assert set(engine.orders) == pending | resting, (
        f"open orders {sorted(engine.orders)} != resting {sorted(resting)} + pending {sorted(pending)}"
    )
    for acct, orders in engine.by_account.items():
        for oid, o in orders.items():
            assert engine.orders.get(oid) is o and o.account == acct
    assert sum(len(v) for v in engine.by_account.values()) == len(engine.orders)


def check_money(engine: Engine, net: Counter) -> None:
    """(b) conservation per asset, no negative balance, held == sum of the open orders' holds."""
    ledger = engine.ledger
    for key, v in list(ledger.available.items()) + list(ledger.held.items()):
        assert v >= 0, f"negative balance {key}: {v}"
    assets = ledger.assets() | set(net)
    for asset in assets:
        assert ledger.total(asset) == net[asset], f"{asset}: balances sum to {ledger.total(asset)}, net deposits {net[asset]}"
        assert ledger.deposited.get(asset, 0) == net[asset]
    assert all(engine.conservation().values())
    holds: Counter = Counter()
    for o in engine.orders.values():
        inst = engine.instruments[o.symbol]
        asset = inst.quote.code if o.side == BUY else inst.base.code
        holds[(o.account, asset)] += o.hold
        assert o.hold >= 0
        if engine.no_risk:
            assert o.hold == 0
        elif o.oid in engine.books[o.symbol].orders:
            need = inst.notional_units(o.price, o.leaves) if o.side == BUY else inst.base_units(o.leaves)
            assert o.hold == need, f"{o!r} holds {o.hold}, its remainder needs {need}"
    for key in set(ledger.held) | set(holds):
        assert ledger.held.get(key, 0) == holds.get(key, 0), f"held {key}: ledger {ledger.held.get(key, 0)} != orders {holds.get(key, 0)}"
    assert ledger.held.get((VENUE_ACCOUNT, "USDT"), 0) == 0


class OrderAudit:
    """Follows every order through the event stream and checks its accounting."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.qty: dict[str, int] = {}
        self.price: dict[str, int | None] = {}
        self.side: dict[str, int] = {}
        self.tif: dict[str, str] = {}
        self.post_only: set[str] = set()
        self.done: Counter = Counter()  # traded + decremented lots
        self.traded: Counter = Counter()
        self.terminal: dict[str, int] = {}  # leaves at cancel/expire
        self.net: Counter = Counter()  # asset -> net deposits in units
        self.sym: dict[str, str] = {}

    def _lots(self, oid: str, text: str) -> int:
        return to_units(text, self.engine.instruments[self.sym[oid]].lot_size)

    def feed(self, cmd: dict, events: list[dict]) -> None:
        eng = self.engine
        for ev in events:
            kind = ev["event"]
            if kind == "deposited":
                self.net[ev["asset"]] += eng.assets[ev["asset"]].to_units(ev["amount"])
            elif kind == "withdrawn":
                self.net[ev["asset"]] -= eng.assets[ev["asset"]].to_units(ev["amount"])
            elif kind == "accepted":
                oid = ev["id"]
                inst = eng.instruments[ev["symbol"]]
                assert oid not in self.qty, f"{oid} accepted twice"
                self.sym[oid] = ev["symbol"]
                self.qty[oid] = inst.qty_to_lots(ev["qty"])
                self.price[oid] = inst.price_to_ticks(ev["price"]) if "price" in ev else None
                self.side[oid] = BUY if ev["side"] == "buy" else SELL
                self.tif[oid] = ev["tif"]
                if ev.get("post_only"):
                    self.post_only.add(oid)
            elif kind == "modified":
                oid = ev["id"]
                inst = eng.instruments[self.sym[oid]]
                self.qty[oid] = inst.qty_to_lots(ev["qty"])
                self.price[oid] = inst.price_to_ticks(ev["price"])
            elif kind == "trade":
                inst = eng.instruments[ev["symbol"]]
                price, lots = inst.price_to_ticks(ev["price"]), inst.qty_to_lots(ev["qty"])
                maker, taker = ev["maker_id"], ev["taker_id"]
                assert maker != taker
                assert self.price[maker] == price, f"trade at {price} but maker {maker} rests at {self.price[maker]}"
                tp = self.price[taker]
                if tp is not None:
                    assert (price - tp) * self.side[taker] <= 0, f"trade at {price} beyond taker {taker}'s limit {tp}"
                assert self.side[maker] == -self.side[taker]
                assert taker not in self.post_only, f"post-only order {taker} took liquidity"
                for oid in (maker, taker):
                    self.done[oid] += lots
                    self.traded[oid] += lots
                    assert self.done[oid] <= self.qty[oid], f"{oid} filled {self.done[oid]} > qty {self.qty[oid]}"
            elif kind == "decremented":
                self.done[ev["id"]] += self._lots(ev["id"], ev["qty"])
            elif kind in ("canceled", "expired"):
                oid = ev["id"]
                assert oid not in self.terminal, f"{oid} ended twice"
                self.terminal[oid] = self._lots(oid, ev["leaves_qty"])
        for oid, tif in self.tif.items():
            # fill or kill: once it trades, all of it is consumed (STP decrement counts as
            # consumed: it shrinks the order instead of filling it); nothing left to cancel
            if tif == "FOK" and self.traded[oid]:
                assert self.done[oid] == self.qty[oid] and not self.terminal.get(oid), (
                    f"FOK order {oid} partially filled: traded {self.traded[oid]}, "
                    f"STP-decremented {self.done[oid] - self.traded[oid]} of {self.qty[oid]} lots, "
                    f"{self.terminal.get(oid, 0)} cancelled"
                )

    def final(self) -> None:
        eng = self.engine
        for oid, qty in self.qty.items():
            order = eng.orders.get(oid)
            if order is not None:
                assert oid not in self.terminal
                assert order.qty == qty, f"{oid}: engine qty {order.qty} != events {qty}"
                assert order.leaves == qty - self.done[oid], f"{oid}: leaves {order.leaves} != {qty} - {self.done[oid]}"
            elif oid in self.terminal:
                assert self.done[oid] + self.terminal[oid] == qty, (
                    f"{oid}: done {self.done[oid]} + leaves at end {self.terminal[oid]} != qty {qty}"
                )
            else:
                assert self.done[oid] == qty, f"{oid} vanished: done {self.done[oid]} of {qty}, no cancel/expire event"


def run_checked(cmds: list[dict], no_risk: bool = False) -> tuple[Engine, list[list[dict]]]:
    """Apply ``cmds`` one by one, checking every invariant after each; returns all events."""
    engine = Engine(EngineConfig(no_risk=no_risk))
    audit = OrderAudit(engine)
    out: list[list[dict]] = []
    for line, cmd in enumerate(cmds, 1):
        with watchdog():
            events = engine.process(copy.deepcopy(cmd), line)
        assert events, f"command {line} produced no event"
        assert all(ev["cmd"] == line for ev in events)
        rejected = [ev for ev in events if ev["event"] == "rejected"]
        if rejected and cmd["op"] not in ("bulk_new", "bulk_cancel"):
            # a rejected command changes nothing: at most the clock moved first (GTD expiries)
            assert len(rejected) == 1 and events[-1] is rejected[0], events
            assert all(ev["event"] in ("expired", "resumed") for ev in events[:-1]), events
        audit.feed(cmd, events)
        check_book(engine)
        check_money(engine, audit.net)
        out.append(events)
    audit.final()
    return engine, out


def replay_lines(cmds: list[dict], no_risk: bool = False) -> tuple[Engine, list[list[dict]]]:
    engine = Engine(EngineConfig(no_risk=no_risk))
    with watchdog(30.0):
        return engine, [engine.process_line(orjson.dumps(c), i) for i, c in enumerate(cmds, 1)]


# ====================================================================== (a) (b) (d)
@_settings(400)
@given(n_accounts=accounts_st, initial=initial_st, actions=flows(action_st, 60))
def test_invariants_and_determinism_with_risk(n_accounts, initial, actions):
    cmds = build_flow(n_accounts, initial, actions)
    note("\n".join(orjson.dumps(c).decode() for c in cmds))
    engine, events = run_checked(cmds)
    # (d) the same journal as JSON lines, in a fresh engine: identical events and state
    engine2, events2 = replay_lines(cmds)
    assert events2 == events
    assert engine2.state_snapshot() == engine.state_snapshot()
    orjson.dumps(engine.state_snapshot())  # JSON-able


@_settings(200)
@given(n_accounts=accounts_st, initial=initial_st, actions=flows(action_st, 60))
def test_invariants_and_determinism_no_risk(n_accounts, initial, actions):
    cmds = build_flow(n_accounts, initial, actions, risk=False)
    note("\n".join(orjson.dumps(c).decode() for c in cmds))
    engine, events = run_checked(cmds, no_risk=True)
    engine2, events2 = replay_lines(cmds, no_risk=True)
    assert events2 == events
    assert engine2.state_snapshot() == engine.state_snapshot()


STP_KINDS = ["limit"] * 6 + ["fok"] * 3 + ["ioc", "market", "market_fok", "iceberg", "post_only"]
stp_new_st = st.tuples(
    st.just("new"),
    st.integers(0, 1),
    st.just("BTC/USDT"),
    st.sampled_from(["buy", "sell"]),
    st.sampled_from(STP_KINDS),
    st.integers(-3, 3),
    st.integers(1, 8),
    st.just(0),
    st.integers(1, 4),
    st.sampled_from(list(STP_MODES[1:])),
    st.integers(1, 40),
)
stp_action_st = st.one_of(stp_new_st, stp_new_st, stp_new_st, stp_new_st, stp_new_st, stp_new_st, cancel_st, modify_st)


@_settings(200)
@given(initial=initial_st, actions=flows(stp_action_st, 50))
def test_invariants_self_trade_prevention_heavy(initial, actions):
    """Two accounts trading with each other under every STP mode, many FOK/IOC/market takers."""
    cmds = build_flow(2, initial, actions)
    note("\n".join(orjson.dumps(c).decode() for c in cmds))
    run_checked(cmds)


# ====================================================================== (c) reference model
class RefVenue:
    """Drives ``ReferenceBook`` with the journal semantics the engine documents (no-risk mode).

    Supports limit GTC/IOC/FOK, post-only, market IOC/FOK, cancel and modify (a pure qty
    decrease keeps priority; any other change re-enters the book as a new taker).
    """

    def __init__(self, symbol: str) -> None:
        self.inst = INSTRUMENTS[symbol]
        self.book = ReferenceBook()
        self.used: set[str] = set()
        self.qty: dict[str, int] = {}
        self.post_only: set[str] = set()
        self.tape: list[tuple[str, str, int, int]] = []

    def _avail(self, side: int, limit: int | None) -> int:
        return sum(
            leaves
            for _, s, price, leaves in self.book.resting()
            if s != side and (limit is None or (price - limit) * side <= 0)
        )

    def _crosses(self, side: int, price: int) -> bool:
        if side == BUY:
            ask = self.book.best_ask()
            return ask is not None and ask <= price
        bid = self.book.best_bid()
        return bid is not None and bid >= price

    def _take_then_rest(self, order: RefOrder, limit: int | None, rest: bool) -> None:
        self.book.match(order, limit, self.tape)
        if order.leaves and rest:
            self.book.rest(order)

    def apply(self, cmd: dict) -> str:
        """Returns "ok" or "rejected"."""
        inst = self.inst
        op = cmd["op"]
        if op == "new":
            oid = cmd["id"]
            if oid in self.used:
                return "rejected"
            side = BUY if cmd["side"] == "buy" else SELL
            price = inst.price_to_ticks(cmd["price"]) if cmd["type"] == LIMIT else None
            lots = inst.qty_to_lots(cmd["qty"])
            tif = cmd.get("tif", "GTC" if price is not None else "IOC")
            if cmd.get("post_only") and self._crosses(side, price):
                return "rejected"
            self.used.add(oid)
            self.qty[oid] = lots
            if cmd.get("post_only"):
                self.post_only.add(oid)
            if tif == "FOK" and self._avail(side, price) < lots:
                return "ok"
            self._take_then_rest(RefOrder(oid, side, price, lots), price, tif == "GTC" and price is not None)
            return "ok"
        if op == "cancel":
            return "ok" if self.book.cancel(cmd["id"]) else "rejected"
        if op == "modify":
            order = self.book.orders.get(cmd["id"])
            if order is None:
                return "rejected"
            new_price = inst.price_to_ticks(cmd["price"]) if "price" in cmd else order.price
            new_qty = inst.qty_to_lots(cmd["qty"]) if "qty" in cmd else self.qty[order.oid]
            filled = self.qty[order.oid] - order.leaves
            if new_qty <= filled or (new_price == order.price and new_qty == self.qty[order.oid]):
                return "rejected"
            if order.oid in self.post_only and new_price != order.price and self._crosses(order.side, new_price):
                return "rejected"
            self.qty[order.oid] = new_qty
            if new_price == order.price and new_qty < filled + order.leaves:
                order.leaves = new_qty - filled  # keeps its place in the queue
                return "ok"
            self.book.cancel(order.oid)
            self._take_then_rest(RefOrder(order.oid, order.side, new_price, new_qty - filled), new_price, True)
            return "ok"
        raise AssertionError(f"reference does not model {op}")


REF_KINDS = ["limit"] * 6 + ["ioc", "fok", "post_only", "market", "market_fok"]
ref_new_st = st.tuples(
    st.just("new"),
    st.integers(0, 3),
    st.just("BTC/USDT"),
    st.sampled_from(["buy", "sell"]),
    st.sampled_from(REF_KINDS),
    st.integers(-5, 5),
    st.integers(1, 10),
    st.just(0),
    st.just(1),
    st.just(None),
    st.integers(0, 40),
)
ref_action_st = st.one_of(ref_new_st, ref_new_st, ref_new_st, cancel_st, modify_st)


@_settings(300)
@given(n_accounts=accounts_st, actions=flows(ref_action_st, 80))
def test_trade_tape_equals_reference(n_accounts, actions):
    cmds = build_flow(n_accounts, None, actions, risk=False)
    cmds = [c for c in cmds if "account" not in c or c["op"] != "cancel"]  # id-only cancels
    note("\n".join(orjson.dumps(c).decode() for c in cmds))
    inst = INSTRUMENTS["BTC/USDT"]
    engine = Engine(EngineConfig(no_risk=True))
    ref = RefVenue("BTC/USDT")
    tape: list[tuple[str, str, int, int]] = []
    book = engine.books["BTC/USDT"]
    for line, cmd in enumerate(cmds, 1):
        with watchdog():
            events = engine.process(copy.deepcopy(cmd), line)
        got = "rejected" if events[0]["event"] == "rejected" else "ok"
        want = ref.apply(cmd)
        assert got == want, f"line {line} {cmd}: engine {got} ({events[0]}), reference {want}"
        for ev in events:
            if ev["event"] == "trade":
                tape.append((ev["maker_id"], ev["taker_id"], inst.price_to_ticks(ev["price"]), inst.qty_to_lots(ev["qty"])))
        assert tape == ref.tape, f"after line {line} {cmd}: tape differs"
        assert (book.best_bid, book.best_ask) == (ref.book.best_bid(), ref.book.best_ask())
        resting = [(o.oid, o.side, o.price, o.leaves) for side in (book.bids, book.asks) for o in side.orders_in_priority()]
        assert resting == ref.book.resting(), f"after line {line} {cmd}: resting orders differ"
        assert sorted(book.orders) == sorted(ref.book.orders), f"after line {line} {cmd}: id index differs"


# ====================================================================== targeted examples
def _lim(oid, acct, side, price, qty, **kw):
    return {"op": "new", "id": oid, "account": acct, "symbol": "BTC/USDT", "side": side, "type": "limit",
            "price": price, "qty": qty, **kw}


def test_fok_with_stp_cancel_newest_is_all_or_nothing():
    """Regression: a FOK taker stopped by self-trade prevention (cancel_newest) must not be
    left partly filled.

    ``OrderBook.fillable`` used to skip the taker's own orders and count the liquidity behind
    them, while ``match`` stops at the first own order under cancel_newest: the FOK traded
    against what came before it and the rest was cancelled (found by this file's properties;
    PROPERTY_SCALE=20 shrinks it to four orders).
    """
    cmds = [
        _lim("m1", "x", "sell", "100", "1"),
        _lim("s1", "me", "sell", "101", "1"),
        _lim("m2", "x", "sell", "101", "1"),
        _lim("t", "me", "buy", "101", "2", tif="FOK", stp="cancel_newest"),
    ]
    run_checked(cmds, no_risk=True)


def test_modify_that_loses_priority_leaves_a_live_order():
    """Regression: a modify that re-queues the order (qty up or price change) must leave it live.

    ``_op_modify`` took the order out with ``book.cancel`` (which marks it dead for lazy
    deletion) and put the same object back; nothing marked it live again, so it sat in the
    level and the id index as a ghost that matching skipped, and a crossing order then spun
    forever in ``OrderBook.match`` (level count 1, empty queue). Marking it live again is not
    enough either: the dead entry left in the deque is the same object and comes back to life
    beside the new one (level count 2, three live entries).
    """
    cmds = [
        _lim("o1", "a", "buy", "100", "1"),
        {"op": "modify", "id": "o1", "qty": "2"},
        _lim("o2", "b", "sell", "100", "1"),
    ]
    engine, _ = run_checked(cmds, no_risk=True)
    assert engine.orders["o1"].leaves == 100_000  # 1 of 2 left after the sell


def test_reference_adapter_sanity():
    """The adapter itself on a hand-checked flow (guards the guard)."""
    ref = RefVenue("BTC/USDT")
    assert ref.apply(_lim("a", "x", "sell", "100", "1")) == "ok"
    assert ref.apply(_lim("b", "x", "sell", "100", "2")) == "ok"
    assert ref.apply(_lim("c", "y", "buy", "100", "1.5", tif="FOK")) == "ok"
    assert ref.tape == [("a", "c", 10000, 100_000), ("b", "c", 10000, 50_000)]
    assert ref.apply(_lim("d", "y", "buy", "99", "1", post_only=True)) == "ok"
    assert ref.apply(_lim("e", "y", "buy", "100", "1", post_only=True)) == "rejected"
    assert ref.apply({"op": "modify", "id": "b", "qty": "1.9"}) == "ok"
    assert ref.book.resting() == [("d", BUY, 9900, 100_000), ("b", SELL, 10000, 140_000)]
    assert ref.apply({"op": "modify", "id": "b", "qty": "0.5"}) == "rejected"  # not above filled
    assert ref.apply({"op": "modify", "id": "b", "qty": "1.9"}) == "rejected"  # no change
    assert ref.apply({"op": "modify", "id": "b", "price": "99"}) == "ok"  # crosses d, rests the rest
    assert ref.tape[-1] == ("d", "b", 9900, 100_000)
    assert ref.book.resting() == [("b", SELL, 9900, 40_000)]
    assert ref.apply({"op": "cancel", "id": "b"}) == "ok"
    assert ref.apply({"op": "cancel", "id": "b"}) == "rejected"
