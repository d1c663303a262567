"""The venue: matching, accounts, fees, risk, triggers, expiry and surveillance, wired together.

``Engine.process(cmd)`` applies one journal command and returns its events in causal order.
It never raises on bad input: a bad command becomes one ``rejected`` event and changes nothing
(every check runs before the first mutation). The engine is deterministic: time comes only
from the commands' ``ts`` (default: one nanosecond per command), never from the wall clock, so
replaying a journal always rebuilds the same state.
"""

from __future__ import annotations

import copy
import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from core.accounts import VENUE_ACCOUNT, Ledger
from core.book import OrderBook
from core.commands import MAX_BULK, OPS, Reject, check_shape, choice, flag, integer, parse_line, text
from core.fees import FeeSchedule, FeeTier
from core.instruments import Asset, Instrument, default_instruments, make_instrument
from core.numbers import NumberError, parse_decimal
from core.orders import (
    BUY,
    CONDITIONAL_TYPES,
    LIMIT,
    MARKET,
    ORDER_TYPES,
    PRICED_TYPES,
    SELL,
    SIDE_NAMES,
    SIDES,
    STOP_LIMIT,
    STP_MODES,
    STP_NONE,
    TAKE_PROFIT_LIMIT,
    TIFS,
    TRAILING_STOP_MARKET,
    Order,
)
from core.risk import (
    ACTIVE,
    HALTED,
    REDUCING,
    TRADING_STATES,
    BreakerConfig,
    CircuitBreaker,
    LimitBook,
    RateLimiter,
    RiskLimits,
)
from core.surveillance import Surveillance, SurveillanceConfig
from core.triggers import Triggers, would_fire

MS = 1_000_000
#: Ops whose checks ``precheck`` runs in place; any other op is tried on a copy of the venue.
_FAST_PRECHECK = frozenset({"new", "modify", "cancel", "cancel_all", "kill"})
_STP_CANON = {mode: mode for mode in STP_MODES}


@dataclass
class EngineConfig:
    """How the venue is set up before the first command."""

    no_risk: bool = False
    instruments: dict[str, Instrument] = field(default_factory=default_instruments)
    fee_tiers: list[FeeTier] | None = None
    limits: RiskLimits = field(default_factory=RiskLimits)
    symbol_limits: dict[str, RiskLimits] = field(default_factory=dict)
    breakers: dict[str, BreakerConfig] = field(default_factory=dict)
    surveillance: SurveillanceConfig = field(default_factory=SurveillanceConfig)


class Engine:
    """One venue's complete state. Not thread-safe: one thread owns it (see core.simmarket)."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        cfg = config or EngineConfig()
        self.config = cfg
        self.no_risk = cfg.no_risk
        self.instruments: dict[str, Instrument] = {}
        self.assets: dict[str, Asset] = {}
        self.books: dict[str, OrderBook] = {}
        self.triggers: dict[str, Triggers] = {}
        self.breakers: dict[str, CircuitBreaker] = {}
        for inst in cfg.instruments.values():
            self._list(inst)
        for sym, bc in cfg.breakers.items():
            self.breakers[sym] = CircuitBreaker(bc)
        self.ledger = Ledger()
        self.fees = FeeSchedule(cfg.fee_tiers)
        self.limits = LimitBook(venue=cfg.limits, by_symbol=dict(cfg.symbol_limits))
        self.rate = RateLimiter()
        self.surveillance = Surveillance(cfg.surveillance)
        self.symbol_state: dict[str, str] = {}
        self.account_state: dict[str, str] = {}
        self.account_stp: dict[str, str] = {}
        self.orders: dict[str, Order] = {}  # open: resting or waiting for a trigger
        self.closed: set[str] = set()
        self.by_account: dict[str, dict[str, Order]] = {}
        self.positions: dict[tuple[str, str], int] = {}
        self.last_price: dict[str, int] = {}
        self._gtd: list[tuple[int, int, str]] = []
        self.now = 0
        self.trade_seq = 0
        self._order_seq = 0
        self._events: list[dict] = []
        self._line: int | None = None

    # ================================================================ entry points
    def process_line(self, raw: str | bytes, line: int | None = None) -> list[dict]:
        """Apply one JSONL command line."""
        try:
            cmd = parse_line(raw)
        except Reject as rej:
            self._line = line
            return [self._reject_event(rej, None, None)]
        return self.process(cmd, line)

    def process(self, cmd: dict, line: int | None = None) -> list[dict]:
        """Apply one command dict; returns its events (a single ``rejected`` on bad input)."""
        self._events = events = []
        self._line = line
        op = cmd.get("op") if isinstance(cmd.get("op"), str) else None
        try:
            op = check_shape(cmd)
            ts = self._command_time(cmd)
            self._advance(ts)
            getattr(self, f"_op_{op}")(cmd)
        except Reject as rej:
            events.append(self._reject_event(rej, op, cmd))
        return events

    def precheck(self, cmd: dict) -> list[Reject]:
        """Dry run of ``process(cmd)``: the rejects it would meet, changing nothing.

        Runs the very check functions the real path runs. The first reject listed is the one
        ``process`` would report; for new orders and modifies the list goes on with every other
        risk check that fails too (the real path stops at the first), so a user sees all that
        stands in the way. Empty: ``process`` would accept the command (it may still end
        unfilled: an IOC remainder, a FOK that cannot fill, a tripped breaker).

        The clock is moved to the command's time only for the duration of the checks. When
        reaching that time would expire GTD orders or end a breaker halt, the checks run on a
        copy advanced to it, since those change balances, open orders and trading states."""
        try:
            op = check_shape(cmd)
            ts = self._command_time(cmd)
        except Reject as rej:
            return [rej]
        if op not in _FAST_PRECHECK or self._advance_would_change(ts):
            return self._precheck_on_copy(cmd, op, ts)
        saved = self.now
        self.now = ts
        try:
            return self._precheck_checks(op, cmd)
        finally:
            self.now = saved

    def _advance_would_change(self, ts: int) -> bool:
        if any(b.halted_until is not None and b.halted_until <= ts for b in self.breakers.values()):
            return True
        orders = self.orders
        return any(exp <= ts and oid in orders and orders[oid].expire_ts == exp for exp, _, oid in self._gtd)

    def _precheck_on_copy(self, cmd: dict, op: str, ts: int) -> list[Reject]:
        """The checks on a deep copy advanced to ``ts`` (tens of ms on a busy simulated venue:
        taken only for rare ops and when ``ts`` reaches an expiry or a breaker's end)."""
        probe = copy.deepcopy(self)
        probe._events = []
        probe._advance(ts)
        if op in _FAST_PRECHECK:
            return probe._precheck_checks(op, cmd)
        events = probe.process(cmd)
        return [Reject(e["reason"], e["message"]) for e in events[:1] if e["event"] == "rejected"]

    def _precheck_checks(self, op: str, cmd: dict) -> list[Reject]:
        try:
            if op == "cancel":
                self._open_order(cmd, text(cmd, "id"))
                return []
            if op in ("cancel_all", "kill"):  # the kill switch and cancel-all only name things
                text(cmd, "account")
                if "symbol" in cmd:
                    self._instrument(cmd)
                return []
            if op == "modify":
                order, inst, book, new_price, new_qty = self._parse_modify(cmd)
                new_leaves = new_qty - (order.qty - order.leaves)
                if new_price == order.price and new_qty < order.qty:
                    return []
                rejects = list(self._modify_failures(order, inst, book, new_price, new_leaves))
                extra = self._hold_for(order, new_leaves, new_price) - order.hold
                if extra > 0 and not self.no_risk and self.ledger.free(order.account, self._hold_asset(order)) < extra:
                    rejects.append(Reject("INSUFFICIENT_BALANCE", "not enough available balance for the larger order"))
                return rejects
            order, inst = self._parse_new(cmd)
        except Reject as rej:
            return [rej]
        book = self.books[inst.symbol]
        rejects = [] if self.no_risk else list(self._pre_trade_failures(order, inst, book))
        rejects.extend(self._placement_failures(order, inst, book))
        if not self.no_risk:
            try:
                short = self._hold_failure(order, self._new_hold_units(order, inst, book))
            except Reject as rej:
                short = rej
            if short is not None:
                rejects.append(short)
        return rejects

    # ================================================================ events
    def _emit(self, event: dict) -> None:
        event["cmd"] = self._line
        self._events.append(event)

    def _reject_event(self, rej: Reject, op: str | None, cmd: dict | None) -> dict:
        ev: dict = {"event": "rejected", "cmd": self._line, "reason": rej.code, "message": rej.message}
        if op is not None:
            ev["op"] = op
        if cmd is not None and isinstance(cmd.get("id"), str):
            ev["id"] = cmd["id"][:64]
        return ev

    # ================================================================ time
    def _command_time(self, cmd: dict) -> int:
        if "ts" not in cmd:
            return self.now + 1
        ts = integer(cmd, "ts")
        if ts < self.now:
            raise Reject("TIME_WENT_BACKWARDS", f"ts {ts} is before the engine clock {self.now}")
        return ts

    def _advance(self, ts: int) -> None:
        """Move the clock: expire GTD orders and end circuit-breaker halts that are due."""
        self.now = ts
        gtd = self._gtd
        while gtd and gtd[0][0] <= ts:
            expire_ts, _, oid = heapq.heappop(gtd)
            order = self.orders.get(oid)
            if order is not None and order.expire_ts == expire_ts:
                self._remove_open(order)
                self._emit({"event": "expired", "id": oid, "leaves_qty": self._fq(order, order.leaves), "reason": "GTD"})
                self._close(order)
        for sym, breaker in self.breakers.items():
            if breaker.halted_until is not None and breaker.halted_until <= ts:
                breaker.halted_until = None
                self._emit({"event": "resumed", "scope": "symbol", "symbol": sym, "reason": "CIRCUIT_BREAKER_COOLDOWN"})

    # ================================================================ reference data
    def _list(self, inst: Instrument) -> None:
        self.instruments[inst.symbol] = inst
        self.assets.setdefault(inst.base.code, inst.base)
        self.assets.setdefault(inst.quote.code, inst.quote)
        self.books[inst.symbol] = OrderBook(inst.symbol)
        self.triggers[inst.symbol] = Triggers()

    def _instrument(self, cmd: dict) -> Instrument:
        sym = text(cmd, "symbol", 32)
        inst = self.instruments.get(sym)
        if inst is None:
            raise Reject("UNKNOWN_SYMBOL", f"unknown symbol {sym!r}")
        return inst

    def _asset(self, cmd: dict) -> Asset:
        code = text(cmd, "asset", 16)
        asset = self.assets.get(code)
        if asset is None:
            raise Reject("UNKNOWN_ASSET", f"unknown asset {code!r}")
        return asset

    def _amount(self, asset: Asset, cmd: dict) -> int:
        try:
            units = asset.to_units(cmd.get("amount"), "amount")
        except NumberError as exc:
            code = "OFF_GRID_AMOUNT" if exc.code == "OFF_GRID" else exc.code
            raise Reject(code, str(exc)) from None
        if units <= 0:
            raise Reject("NON_POSITIVE_AMOUNT", f"amount must be positive, got {cmd.get('amount')}")
        if units > 10**30:
            raise Reject("INVALID_NUMBER", "amount is absurdly large")
        return units

    def _fq(self, order: Order, lots: int) -> str:
        return self.instruments[order.symbol].fmt_qty(lots)

    # ================================================================ simple ops
    def _op_time(self, cmd: dict) -> None:
        """Only advances the clock (expiries, breaker cooldowns); acknowledged like any command."""
        self._emit({"event": "clock", "ts": self.now})

    def _op_deposit(self, cmd: dict) -> None:
        account = text(cmd, "account")
        asset = self._asset(cmd)
        units = self._amount(asset, cmd)
        self.ledger.deposit(account, asset.code, units)
        self._emit({"event": "deposited", "account": account, "asset": asset.code, "amount": asset.fmt(units)})

    def _op_withdraw(self, cmd: dict) -> None:
        account = text(cmd, "account")
        asset = self._asset(cmd)
        units = self._amount(asset, cmd)
        if not self.ledger.has_account(account):
            raise Reject("UNKNOWN_ACCOUNT", f"unknown account {account!r}")
        if not self.ledger.withdraw(account, asset.code, units):
            free = asset.fmt(self.ledger.free(account, asset.code))
            raise Reject("INSUFFICIENT_BALANCE", f"withdraw {asset.fmt(units)} {asset.code} but only {free} available")
        self._emit({"event": "withdrawn", "account": account, "asset": asset.code, "amount": asset.fmt(units)})

    def _op_instrument(self, cmd: dict) -> None:
        sym = text(cmd, "symbol", 32)
        try:
            kwargs = {k: cmd[k] for k in ("min_qty", "min_notional", "max_qty", "max_price") if k in cmd}
            for k, v in list(kwargs.items()) + [("tick_size", cmd["tick_size"]), ("lot_size", cmd["lot_size"])]:
                if not isinstance(v, str):
                    raise Reject("INVALID_NUMBER", f"{k} must be a decimal string")
            inst = make_instrument(sym, cmd["tick_size"], cmd["lot_size"], assets=self.assets, **kwargs)
        except NumberError as exc:
            raise Reject.from_number(exc) from None
        except ValueError as exc:
            raise Reject("INVALID_VALUE", str(exc)) from None
        existing = self.instruments.get(sym)
        if existing is not None:
            if existing != inst:
                raise Reject("DUPLICATE_SYMBOL", f"{sym} is already listed with another definition")
        else:
            self._list(inst)
        self._emit(
            {
                "event": "listed",
                "symbol": sym,
                "tick_size": cmd["tick_size"],
                "lot_size": cmd["lot_size"],
                "min_qty": inst.fmt_qty(inst.min_lots),
                "min_notional": inst.quote.fmt(inst.min_notional_units),
            }
        )

    def _op_limits(self, cmd: dict) -> None:
        account = text(cmd, "account") if "account" in cmd else None
        inst = self._instrument(cmd) if "symbol" in cmd else None
        vals: dict = {}
        try:
            if "band_pct" in cmd:
                vals["band_bps"] = _bps(cmd["band_pct"], "band_pct")
            if "max_order_notional" in cmd:
                quote = inst.quote if inst else Asset("QUOTE")
                vals["max_order_notional"] = self._amount(quote, {"amount": cmd["max_order_notional"]})
            if "max_position" in cmd:
                if inst is None:
                    raise Reject("MISSING_FIELD", "max_position needs a symbol (it is in the symbol's lots)")
                vals["max_position"] = inst.qty_to_lots(cmd["max_position"], "max_position")
        except NumberError as exc:
            raise Reject.from_number(exc) from None
        if "max_open_orders" in cmd:
            vals["max_open_orders"] = integer(cmd, "max_open_orders", 0, 10**6)
        if "rate_limit_orders" in cmd:
            vals["rate_limit_orders"] = integer(cmd, "rate_limit_orders", 1, 10**9)
        if "rate_limit_window_ms" in cmd:
            vals["rate_limit_window_ns"] = integer(cmd, "rate_limit_window_ms", 1, 10**9) * MS
        limits = RiskLimits(**vals)
        if account and inst:
            key = (account, inst.symbol)
            self.limits.by_account_symbol[key] = self.limits.by_account_symbol.get(key, RiskLimits()).merged(limits)
        elif account:
            self.limits.by_account[account] = self.limits.by_account.get(account, RiskLimits()).merged(limits)
        elif inst:
            self.limits.by_symbol[inst.symbol] = self.limits.by_symbol.get(inst.symbol, RiskLimits()).merged(limits)
        else:
            self.limits.venue = self.limits.venue.merged(limits)
        scope = {}
        if account:
            scope["account"] = account
        if inst:
            scope["symbol"] = inst.symbol
        self._emit({"event": "limits_set", **scope, **{k: cmd[k] for k in cmd if k not in ("op", "ts", "account", "symbol")}})

    def _op_breaker(self, cmd: dict) -> None:
        inst = self._instrument(cmd)
        try:
            bps = _bps(cmd["move_pct"], "move_pct")
        except NumberError as exc:
            raise Reject.from_number(exc) from None
        if bps <= 0:
            raise Reject("INVALID_VALUE", "move_pct must be positive")
        window = integer(cmd, "window_ms", 1, 10**9) * MS
        cooldown = integer(cmd, "cooldown_ms", 0, 10**9) * MS
        self.breakers[inst.symbol] = CircuitBreaker(BreakerConfig(bps, window, cooldown))
        self._emit({"event": "breaker_set", "symbol": inst.symbol, "move_pct": cmd["move_pct"], "window_ms": cmd["window_ms"], "cooldown_ms": cmd["cooldown_ms"]})

    def _op_state(self, cmd: dict) -> None:
        state = choice(cmd, "state", TRADING_STATES)
        if ("account" in cmd) == ("symbol" in cmd):
            raise Reject("INVALID_VALUE", "state takes exactly one of account or symbol")
        if "account" in cmd:
            account = text(cmd, "account")
            self.account_state[account] = state
            self._emit({"event": "state", "scope": "account", "account": account, "state": state})
        else:
            inst = self._instrument(cmd)
            self.symbol_state[inst.symbol] = state
            self._emit({"event": "state", "scope": "symbol", "symbol": inst.symbol, "state": state})

    def _op_kill(self, cmd: dict) -> None:
        """Kill switch: cancel everything the account has open, then halt it."""
        account = text(cmd, "account")
        for order in list(self.by_account.get(account, {}).values()):
            self._cancel_open(order, "KILL_SWITCH")
        self.account_state[account] = HALTED
        self._emit({"event": "halted", "scope": "account", "account": account, "reason": "KILL_SWITCH"})

    def _op_link(self, cmd: dict) -> None:
        accounts = cmd.get("accounts")
        if not isinstance(accounts, list) or len(accounts) < 2 or not all(isinstance(a, str) and a for a in accounts):
            raise Reject("INVALID_VALUE", "accounts must be a list of at least two account names")
        self.surveillance.link(accounts)
        self._emit({"event": "linked", "accounts": sorted(set(accounts))})

    def _op_account(self, cmd: dict) -> None:
        account = text(cmd, "account")
        stp = choice(cmd, "stp", STP_MODES, STP_NONE)
        self.account_stp[account] = stp
        self._emit({"event": "account_set", "account": account, "stp": stp})

    # ================================================================ cancels
    def _op_cancel(self, cmd: dict) -> None:
        order = self._open_order(cmd, text(cmd, "id"))
        self._cancel_open(order, "USER")

    def _op_cancel_all(self, cmd: dict) -> None:
        account = text(cmd, "account")
        sym = self._instrument(cmd).symbol if "symbol" in cmd else None
        victims = [o for o in self.by_account.get(account, {}).values() if sym is None or o.symbol == sym]
        for order in victims:
            self._cancel_open(order, "CANCEL_ALL")
        self._emit({"event": "canceled_all", "account": account, "symbol": sym, "count": len(victims)})

    def _op_bulk_cancel(self, cmd: dict) -> None:
        ids = cmd.get("ids")
        if not isinstance(ids, list) or not ids or len(ids) > MAX_BULK:
            raise Reject("INVALID_VALUE", f"ids must be a list of 1 to {MAX_BULK} order ids")
        for oid in ids:
            try:
                if not isinstance(oid, str):
                    raise Reject("INVALID_VALUE", "every id must be a string")
                order = self._open_order({"account": cmd.get("account")} if "account" in cmd else {}, oid)
                self._cancel_open(order, "USER")
            except Reject as rej:
                ev = self._reject_event(rej, "bulk_cancel", {"id": oid} if isinstance(oid, str) else None)
                self._events.append(ev)

    def _open_order(self, cmd: dict, oid: str) -> Order:
        order = self.orders.get(oid)
        if order is None or ("account" in cmd and cmd["account"] != order.account):
            if oid in self.closed and "account" not in cmd:
                raise Reject("ORDER_NOT_OPEN", f"order {oid!r} is no longer open")
            raise Reject("UNKNOWN_ORDER", f"no open order {oid!r}")
        return order

    def _cancel_open(self, order: Order, reason: str) -> None:
        self._remove_open(order)
        self._emit({"event": "canceled", "id": order.oid, "leaves_qty": self._fq(order, order.leaves), "reason": reason})
        for flag_ in self.surveillance.on_cancel(order.oid, order.account, order.side, order.price or 0, self.now):
            self._emit({"event": "surveillance", "symbol": order.symbol, **flag_, "order_id": order.oid})
        self._close(order)

    def _remove_open(self, order: Order) -> None:
        """Take an open order out of the book or the trigger set and free its hold."""
        if order.oid in self.books[order.symbol].orders:
            self.books[order.symbol].cancel(order.oid)
        else:
            self.triggers[order.symbol].remove(order)
        self._release_all(order)

    def _close(self, order: Order) -> None:
        order.live = False
        self.orders.pop(order.oid, None)
        acct_orders = self.by_account.get(order.account)
        if acct_orders is not None:
            acct_orders.pop(order.oid, None)
        self.closed.add(order.oid)
        self.surveillance.on_done(order.oid)

    # ================================================================ holds
    def _hold_asset(self, order: Order) -> str:
        inst = self.instruments[order.symbol]
        return inst.quote.code if order.side == BUY else inst.base.code

    def _hold_for(self, order: Order, lots: int, price: int | None) -> int:
        """Units to hold for ``lots`` of ``order`` (buys at ``price``)."""
        inst = self.instruments[order.symbol]
        if order.side == BUY:
            return inst.notional_units(price or 0, lots)
        return inst.base_units(lots)

    def _take_hold(self, order: Order, units: int) -> bool:
        if self.no_risk or units == 0:
            return True
        if not self.ledger.hold(order.account, self._hold_asset(order), units):
            return False
        order.hold += units
        return True

    def _release(self, order: Order, units: int) -> None:
        if self.no_risk or units == 0:
            return
        self.ledger.release(order.account, self._hold_asset(order), units)
        order.hold -= units

    def _release_all(self, order: Order) -> None:
        self._release(order, order.hold)

    # ================================================================ new orders
    def _op_new(self, cmd: dict) -> None:
        self._new(cmd)

    def _op_bulk_new(self, cmd: dict) -> None:
        orders = cmd.get("orders")
        if not isinstance(orders, list) or not orders or len(orders) > MAX_BULK:
            raise Reject("INVALID_VALUE", f"orders must be a list of 1 to {MAX_BULK} order objects")
        for sub in orders:
            try:
                if not isinstance(sub, dict):
                    raise Reject("INVALID_VALUE", "every entry of orders must be an object")
                if "op" in sub or "ts" in sub:
                    raise Reject("UNKNOWN_FIELD", "entries of bulk_new take no op or ts")
                check_shape(sub, op_override="new")
                self._new(sub)
            except Reject as rej:
                self._events.append(self._reject_event(rej, "bulk_new", sub if isinstance(sub, dict) else None))

    def _parse_new(self, cmd: dict) -> tuple[Order, Instrument]:
        """Every shape and grid check of a new order; builds the Order without side effects."""
        oid = text(cmd, "id")
        if oid in self.orders or oid in self.closed:
            raise Reject("DUPLICATE_ID", f"order id {oid!r} was already used")
        account = text(cmd, "account")
        inst = self._instrument(cmd)
        side = SIDES.get(cmd["side"]) if isinstance(cmd.get("side"), str) else None
        if side is None:
            raise Reject("INVALID_VALUE", f"side must be buy or sell, got {str(cmd.get('side'))[:20]!r}")
        otype = choice(cmd, "type", ORDER_TYPES)
        try:
            qty = inst.qty_to_lots(cmd.get("qty"), "qty")
            price = None
            if otype in PRICED_TYPES:
                if "price" not in cmd:
                    raise Reject("MISSING_FIELD", f"a {otype} order needs a price")
                price = inst.price_to_ticks(cmd["price"], "price")
            elif "price" in cmd:
                raise Reject("UNKNOWN_FIELD", f"a {otype} order takes no price")
            stop_price = 0
            if otype in CONDITIONAL_TYPES and otype != TRAILING_STOP_MARKET:
                if "stop_price" not in cmd:
                    raise Reject("MISSING_FIELD", f"a {otype} order needs a stop_price")
                stop_price = inst.price_to_ticks(cmd["stop_price"], "stop_price")
            elif "stop_price" in cmd:
                raise Reject("UNKNOWN_FIELD", f"a {otype} order takes no stop_price")
            display = 0
            if "display_qty" in cmd:
                display = inst.qty_to_lots(cmd["display_qty"], "display_qty")
        except NumberError as exc:
            raise Reject.from_number(exc) from None
        trail, trail_ppm = 0, None
        if otype == TRAILING_STOP_MARKET:
            if "trail" not in cmd:
                raise Reject("MISSING_FIELD", "a trailing_stop_market order needs a trail")
            trail, trail_ppm = _parse_trail(cmd["trail"])
        elif "trail" in cmd:
            raise Reject("UNKNOWN_FIELD", f"a {otype} order takes no trail")
        default_tif = "IOC" if otype in (MARKET,) or (otype in CONDITIONAL_TYPES and otype not in PRICED_TYPES) else "GTC"
        tif = choice(cmd, "tif", TIFS, default_tif)
        post_only = flag(cmd, "post_only")
        # Canonical constant objects, so the matching loop compares cheaply and reliably.
        stp = _STP_CANON[choice(cmd, "stp", STP_MODES, self.account_stp.get(account, STP_NONE))]
        if otype not in PRICED_TYPES and tif in ("GTC", "GTD"):
            raise Reject("INVALID_TIF", f"a {otype} order cannot rest: tif must be IOC or FOK")
        if post_only and (otype != LIMIT or tif in ("IOC", "FOK")):
            raise Reject("INVALID_TIF", "post_only needs a resting limit order (GTC or GTD)")
        if display and (otype not in (LIMIT, STOP_LIMIT, TAKE_PROFIT_LIMIT) or tif in ("IOC", "FOK") or display >= qty):
            raise Reject("INVALID_DISPLAY_QTY", "display_qty must be below qty on a resting limit order")
        expire_ts = 0
        if tif == "GTD":
            if "expire_ts" not in cmd:
                raise Reject("MISSING_FIELD", "a GTD order needs expire_ts")
            expire_ts = integer(cmd, "expire_ts")
            if expire_ts <= self.now:
                raise Reject("EXPIRE_IN_PAST", f"expire_ts {expire_ts} is not after the engine clock {self.now}")
        elif "expire_ts" in cmd:
            raise Reject("UNKNOWN_FIELD", "expire_ts goes with tif GTD")
        order = Order(oid, account, side, price, qty)
        order.symbol = inst.symbol
        order.type = otype
        order.tif = tif
        order.set_display(display)
        order.stp = stp
        order.post_only = post_only
        order.stop_price = stop_price
        order.trail = trail
        order.trail_pct = trail_ppm
        order.expire_ts = expire_ts
        order.ts = self.now
        return order, inst

    def _new(self, cmd: dict) -> None:
        order, inst = self._parse_new(cmd)
        book = self.books[inst.symbol]
        sym = inst.symbol
        if not self.no_risk:
            self._pre_trade(order, inst, book)
        _raise_first(self._placement_failures(order, inst, book))
        last = self.last_price.get(sym)
        conditional = order.type in CONDITIONAL_TYPES
        # Balance: the last check, because it is the first mutation.
        if not self.no_risk:
            self._hold_new(order, inst, book)
            self._count_rate(order)
        self._order_seq += 1
        order.seq = self._order_seq
        self._emit(self._accepted_event(order, inst))
        self.orders[order.oid] = order
        self.by_account.setdefault(order.account, {})[order.oid] = order
        if order.expire_ts:
            heapq.heappush(self._gtd, (order.expire_ts, order.seq, order.oid))
        if conditional:
            self.triggers[sym].add(order, last)
            return
        self._execute(order, inst, book)
        self._run_triggers(sym)

    def _placement_failures(self, order: Order, inst: Instrument, book: OrderBook) -> Iterator[Reject]:
        """Checks against the book and the last price (after risk, before the balance hold)."""
        if order.post_only and book.would_cross(order.side, order.price):
            yield Reject("POST_ONLY_WOULD_TAKE", "post-only order would take liquidity")
        last = self.last_price.get(inst.symbol)
        if order.type in CONDITIONAL_TYPES and order.type != TRAILING_STOP_MARKET and last is not None and would_fire(order, last):
            yield Reject("WOULD_TRIGGER_IMMEDIATELY", f"stop_price {inst.fmt_price(order.stop_price)} already reached by last trade {inst.fmt_price(last)}")

    def _accepted_event(self, order: Order, inst: Instrument) -> dict:
        ev = {
            "event": "accepted",
            "id": order.oid,
            "account": order.account,
            "symbol": order.symbol,
            "side": SIDE_NAMES[order.side],
            "type": order.type,
            "qty": inst.fmt_qty(order.qty),
            "tif": order.tif,
        }
        if order.price is not None:
            ev["price"] = inst.fmt_price(order.price)
        if order.stop_price:
            ev["stop_price"] = inst.fmt_price(order.stop_price)
        if order.type == TRAILING_STOP_MARKET:
            ev["trail"] = f"{Decimal(order.trail_pct) / 10000}%" if order.trail_pct is not None else str(order.trail)
        if order.display:
            ev["display_qty"] = inst.fmt_qty(order.display)
        if order.post_only:
            ev["post_only"] = True
        if order.expire_ts:
            ev["expire_ts"] = order.expire_ts
        if order.stp != STP_NONE:
            ev["stp"] = order.stp
        return ev

    # ---------------------------------------------------------------- pre-trade risk
    def _trading_state(self, account: str, symbol: str) -> str:
        """The stricter of the symbol's and the account's state (a breaker halt counts)."""
        breaker = self.breakers.get(symbol)
        if breaker is not None and breaker.halted_until is not None:
            return "BREAKER"
        s = self.symbol_state.get(symbol, ACTIVE)
        a = self.account_state.get(account, ACTIVE)
        if s == HALTED:
            return "SYMBOL_HALTED"
        if a == HALTED:
            return "ACCOUNT_HALTED"
        if REDUCING in (s, a):
            return REDUCING
        return ACTIVE

    def _reference_price(self, order: Order, book: OrderBook) -> int | None:
        """Price used for notional checks of orders without a limit price."""
        if order.price is not None:
            return order.price
        if order.stop_price:
            return order.stop_price
        opp = book.best_ask if order.side == BUY else book.best_bid
        return opp if opp is not None else self.last_price.get(order.symbol)

    def _open_qty(self, account: str, symbol: str, side: int, skip: Order | None = None) -> int:
        return sum(
            o.leaves
            for o in self.by_account.get(account, {}).values()
            if o.symbol == symbol and o.side == side and o is not skip
        )

    def _pre_trade(self, order: Order, inst: Instrument, book: OrderBook, replacing: Order | None = None) -> None:
        """Every pre-trade risk check, in a fixed order; raises the first failure."""
        _raise_first(self._pre_trade_failures(order, inst, book, replacing))

    def _pre_trade_failures(
        self, order: Order, inst: Instrument, book: OrderBook, replacing: Order | None = None
    ) -> Iterator[Reject]:
        """Every pre-trade risk check, in a fixed order, yielding each failure.

        The real path stops at the first (``_pre_trade``); ``precheck`` lists them all.
        ``replacing`` is the resting order a modify replaces: it is not counted twice."""
        account, sym = order.account, inst.symbol
        if not self.ledger.has_account(account):
            yield Reject("UNKNOWN_ACCOUNT", f"account {account!r} has no funds (deposit first)")
        state = self._trading_state(account, sym)
        if state == "BREAKER":
            yield Reject("SYMBOL_HALTED", f"{sym} is halted by its circuit breaker")
        if state in ("SYMBOL_HALTED", "ACCOUNT_HALTED"):
            yield Reject(state, f"{sym if state == 'SYMBOL_HALTED' else account} is halted")
        pos = self.positions.get((account, sym), 0)
        if state == REDUCING:
            same_side_open = self._open_qty(account, sym, order.side, replacing)
            reduces = pos * order.side < 0 and order.qty + same_side_open <= abs(pos)
            if not reduces:
                yield Reject("REDUCE_ONLY", f"trading is REDUCING and this order would not reduce the position {inst.fmt_qty(abs(pos))}")
        if order.qty < inst.min_lots:
            yield Reject("BELOW_MIN_QTY", f"qty {inst.fmt_qty(order.qty)} is below the minimum {inst.fmt_qty(inst.min_lots)}")
        ref = self._reference_price(order, book)
        notional = inst.notional_units(ref, order.qty) if ref is not None else None
        if notional is not None and notional < inst.min_notional_units:
            yield Reject("BELOW_MIN_NOTIONAL", f"notional {inst.quote.fmt(notional)} is below the minimum {inst.quote.fmt(inst.min_notional_units)}")
        limits = self.limits.effective(account, sym)
        if limits.band_bps is not None and order.price is not None:
            anchor = self.last_price.get(sym)
            if anchor is None and book.best_bid is not None and book.best_ask is not None:
                anchor = (book.best_bid + book.best_ask) // 2
            if anchor is not None and abs(order.price - anchor) * 10_000 > anchor * limits.band_bps:
                yield Reject("PRICE_OUT_OF_BAND", f"price {inst.fmt_price(order.price)} is more than {Decimal(limits.band_bps) / 100}% from the reference {inst.fmt_price(anchor)}")
        if limits.max_order_notional is not None and notional is not None and notional > limits.max_order_notional:
            yield Reject("MAX_ORDER_NOTIONAL", f"notional {inst.quote.fmt(notional)} exceeds the limit {inst.quote.fmt(limits.max_order_notional)}")
        if replacing is None and limits.max_open_orders is not None and len(self.by_account.get(account, ())) >= limits.max_open_orders:
            yield Reject("MAX_OPEN_ORDERS", f"{account} already has {limits.max_open_orders} open orders")
        if limits.max_position is not None:
            worst = pos + order.side * (order.qty + self._open_qty(account, sym, order.side, replacing))
            if abs(worst) > limits.max_position:
                yield Reject("POSITION_LIMIT", f"position could reach {inst.fmt_qty(abs(worst))}, above the limit {inst.fmt_qty(limits.max_position)}")
        if limits.rate_limit_orders is not None and not self.rate.allow(account, self.now, limits.rate_limit_orders, limits.rate_limit_window_ns, record=False):
            yield Reject("RATE_LIMITED", f"{account} sent more than {limits.rate_limit_orders} orders in {limits.rate_limit_window_ns // MS} ms")

    def _count_rate(self, order: Order) -> None:
        """Record an accepted order against its account's rate limit (rejects do not count)."""
        limits = self.limits.effective(order.account, order.symbol)
        if limits.rate_limit_orders is not None:
            self.rate.allow(order.account, self.now, limits.rate_limit_orders, limits.rate_limit_window_ns)

    def _hold_new(self, order: Order, inst: Instrument, book: OrderBook) -> None:
        """Reserve funds for an accepted order, or reject with INSUFFICIENT_BALANCE."""
        need = self._new_hold_units(order, inst, book)
        if need is not None and not self._take_hold(order, need):
            raise self._short_of(order, need)

    def _new_hold_units(self, order: Order, inst: Instrument, book: OrderBook) -> int | None:
        """Units a new order must hold (None: a market buy, which holds nothing and spends
        from available, capped by its budget while matching; its sweep is checked here)."""
        if order.type == MARKET and order.side == BUY:
            cost = self._sweep_cost(book, order.qty)
            free = self.ledger.free(order.account, inst.quote.code)
            if cost is not None and cost > free:
                raise Reject("INSUFFICIENT_BALANCE", f"the sweep costs about {inst.quote.fmt(cost)} {inst.quote.code}, {inst.quote.fmt(free)} available")
            return None
        price = order.price if order.price is not None else order.stop_price
        return self._hold_for(order, order.qty, price)

    def _short_of(self, order: Order, need: int) -> Reject:
        asset = self.assets[self._hold_asset(order)]
        return Reject("INSUFFICIENT_BALANCE", f"needs {asset.fmt(need)} {asset.code}, {asset.fmt(self.ledger.free(order.account, asset.code))} available")

    def _hold_failure(self, order: Order, need: int | None) -> Reject | None:
        """What ``_take_hold(order, need)`` would refuse, without holding anything."""
        if need is None or self.no_risk or need == 0:
            return None
        if self.ledger.free(order.account, self._hold_asset(order)) < need:
            return self._short_of(order, need)
        return None

    def _sweep_cost(self, book: OrderBook, lots: int) -> int | None:
        """Quote units a market buy of ``lots`` would pay against the current asks."""
        inst = self.instruments[book.symbol]
        cost, left = 0, lots
        for price in book.asks.prices_from_best():
            for o in book.asks.levels[price].orders:
                if o.live:
                    take = min(left, o.leaves)
                    cost += inst.notional_units(price, take)
                    left -= take
                    if left == 0:
                        return cost
        return cost

    # ---------------------------------------------------------------- execution
    def _execute(self, order: Order, inst: Instrument, book: OrderBook) -> None:
        """Match an accepted limit/market order, settle fills, then rest or end the remainder."""
        limit = order.price
        breaker = self.breakers.get(order.symbol) if not self.no_risk else None
        band = breaker.band(self.now) if breaker is not None else None
        eff_limit = limit
        if band is not None:
            lo, hi = band
            opp_best = book.best_ask if order.side == BUY else book.best_bid
            crosses = opp_best is not None and (limit is None or (opp_best - limit) * order.side <= 0)
            if crosses and not lo <= opp_best <= hi:
                self._trip(order, breaker, opp_best)
                self._end_remainder(order, "HALTED")
                return
            bound = hi if order.side == BUY else lo
            eff_limit = bound if limit is None else (min(limit, bound) if order.side == BUY else max(limit, bound))
        if order.type == MARKET and order.side == BUY and not self.no_risk:
            order.budget = self.ledger.free(order.account, inst.quote.code) // inst.notional_factor
        if order.tif == "FOK":
            stp_acct = order.account if order.stp != STP_NONE else None
            if book.fillable(order.side, eff_limit, order.leaves, stp_acct, order.budget, order.stp) < order.leaves:
                self._release_all(order)
                self._emit({"event": "expired", "id": order.oid, "leaves_qty": inst.fmt_qty(order.leaves), "reason": "FOK"})
                self._close(order)
                return
        actions: list = []  # fills, STP actions and refills, in the order they happened
        stopped = book.match(order, eff_limit, actions, actions, actions)
        for act in actions:
            first = act[0]
            if first.__class__ is not str:
                self._settle(first, order, act[1], act[2], inst)
            elif first == "refill":
                self._emit({"event": "refilled", "id": act[1].oid, "visible_qty": inst.fmt_qty(act[2]), "leaves_qty": inst.fmt_qty(act[3])})
            else:
                self._apply_stp(act, inst)
        order.budget = None
        if order.leaves == 0:
            self._close(order)
            return
        if stopped == "STP":
            self._end_remainder(order, "STP")
            return
        if band is not None and limit != eff_limit:
            # Liquidity the order would still take lies beyond the band: the move trips the breaker.
            opp_best = book.best_ask if order.side == BUY else book.best_bid
            beyond = opp_best is not None and (opp_best > band[1] if order.side == BUY else opp_best < band[0])
            if beyond and (limit is None or (opp_best - limit) * order.side <= 0):
                self._trip(order, breaker, opp_best)
                self._end_remainder(order, "HALTED")
                return
        if order.type == MARKET or order.tif in ("IOC", "FOK"):
            reason = "INSUFFICIENT_BALANCE" if stopped == "BUDGET" else ("NO_LIQUIDITY" if order.type == MARKET else "IOC")
            self._end_remainder(order, reason)
            return
        # Rest: release any hold beyond what the remainder needs (price improvement already refunded).
        book.rest(order)
        opp = book.best_bid if order.side == BUY else book.best_ask
        distance = abs(order.price - opp) if opp is not None else None
        self.surveillance.on_rest(order.oid, inst.notional_units(order.price, order.leaves), distance, self.now)

    def _end_remainder(self, order: Order, reason: str) -> None:
        self._release_all(order)
        self._emit({"event": "canceled", "id": order.oid, "leaves_qty": self._fq(order, order.leaves), "reason": reason})
        self._close(order)

    def _trip(self, order: Order, breaker: CircuitBreaker, price: int) -> None:
        until = breaker.trip(self.now)
        inst = self.instruments[order.symbol]
        self._emit({"event": "halted", "scope": "symbol", "symbol": order.symbol, "reason": "CIRCUIT_BREAKER", "price": inst.fmt_price(price), "until_ts": until})

    def _settle(self, maker: Order, taker: Order, price: int, qty: int, inst: Instrument) -> None:
        """Move money for one fill, charge fees, update positions and emit the trade."""
        now = self.now
        notional = inst.notional_units(price, qty)
        base_units = inst.base_units(qty)
        m_tier = self.fees.tier(maker.account, now)
        t_tier = self.fees.tier(taker.account, now)
        buyer, seller = (taker, maker) if taker.side == BUY else (maker, taker)
        buyer_rate = t_tier.taker_e8 if buyer is taker else m_tier.maker_e8
        seller_rate = t_tier.taker_e8 if seller is taker else m_tier.maker_e8
        fee_base = FeeSchedule.fee(base_units, buyer_rate)
        fee_quote = FeeSchedule.fee(notional, seller_rate)
        if not self.no_risk:
            ledger = self.ledger
            quote, base = inst.quote.code, inst.base.code
            if buyer.hold:
                held_part = inst.notional_units(buyer.price, qty)
                ledger.pay(buyer.account, quote, notional, True, seller.account)
                ledger.release(buyer.account, quote, held_part - notional)
                buyer.hold -= held_part
            else:
                ledger.pay(buyer.account, quote, notional, False, seller.account)
            ledger.pay(seller.account, base, base_units, bool(seller.hold), buyer.account)
            if seller.hold:
                seller.hold -= base_units
            ledger.pay(buyer.account, base, fee_base, False, VENUE_ACCOUNT)
            ledger.pay(seller.account, quote, fee_quote, False, VENUE_ACCOUNT)
        self.fees.record(maker.account, now, notional)
        self.fees.record(taker.account, now, notional)
        sym = inst.symbol
        self.positions[(buyer.account, sym)] = self.positions.get((buyer.account, sym), 0) + qty
        self.positions[(seller.account, sym)] = self.positions.get((seller.account, sym), 0) - qty
        self.last_price[sym] = price
        breaker = self.breakers.get(sym)
        if breaker is not None:
            breaker.record(now, price)
        self.trade_seq += 1
        maker_fee, maker_asset = (fee_base, inst.base) if maker is buyer else (fee_quote, inst.quote)
        taker_fee, taker_asset = (fee_base, inst.base) if taker is buyer else (fee_quote, inst.quote)
        self._emit(
            {
                "event": "trade",
                "seq": self.trade_seq,
                "ts": now,
                "symbol": sym,
                "price": inst.fmt_price(price),
                "qty": inst.fmt_qty(qty),
                "maker_id": maker.oid,
                "taker_id": taker.oid,
                "taker_side": SIDE_NAMES[taker.side],
                "maker_account": maker.account,
                "taker_account": taker.account,
                "maker_fee": maker_asset.fmt(maker_fee),
                "maker_fee_asset": maker_asset.code,
                "taker_fee": taker_asset.fmt(taker_fee),
                "taker_fee_asset": taker_asset.code,
            }
        )
        flagged = self.surveillance.on_trade(maker.account, taker.account, taker.side, now)
        if flagged is not None:
            self._emit({"event": "surveillance", "symbol": sym, **flagged, "trade_seq": self.trade_seq})
        if maker.leaves == 0:
            self._close(maker)

    def _apply_stp(self, action: tuple, inst: Instrument) -> None:
        """Account for a self-trade-prevention action the book took."""
        kind, victim, qty = action[0], action[1], action[2]
        if kind == "cancel_maker":
            self._release_all(victim)
            self._emit({"event": "canceled", "id": victim.oid, "leaves_qty": inst.fmt_qty(victim.leaves), "reason": "STP"})
            self._close(victim)
        elif kind in ("decrement_maker", "decrement_taker"):
            if victim.hold:
                self._release(victim, self._hold_for(victim, qty, victim.price))
            self._emit({"event": "decremented", "id": victim.oid, "qty": inst.fmt_qty(qty), "leaves_qty": inst.fmt_qty(action[3]), "reason": "STP"})
            if victim.leaves == 0 and kind == "decrement_maker":
                self._release_all(victim)
                self._close(victim)
        # "cancel_taker" is handled by the caller once matching stops.

    # ---------------------------------------------------------------- triggers
    def _run_triggers(self, sym: str) -> None:
        """Fire conditional orders reached by the last trade price, cascading."""
        triggers = self.triggers[sym]
        if not len(triggers):
            return
        inst = self.instruments[sym]
        book = self.books[sym]
        seen_price = None
        while True:
            last = self.last_price.get(sym)
            if last is None or last == seen_price and not triggers.trailing:
                return
            fired = triggers.fire(last)
            if not fired:
                return
            seen_price = last
            for order in fired:
                if order.oid not in self.orders:
                    continue
                self._emit({"event": "triggered", "id": order.oid, "stop_price": inst.fmt_price(order.stop_price), "last_price": inst.fmt_price(last)})
                self._activate(order, inst, book)

    def _activate(self, order: Order, inst: Instrument, book: OrderBook) -> None:
        """Turn a triggered conditional order into a live limit or market order."""
        self._release_all(order)
        order.type = LIMIT if order.type in PRICED_TYPES else MARKET
        if not self.no_risk:
            try:
                state = self._trading_state(order.account, order.symbol)
                if state not in (ACTIVE, REDUCING):
                    raise Reject("SYMBOL_HALTED" if state == "BREAKER" else state, "halted")
                self._hold_new(order, inst, book)
            except Reject as rej:
                self._emit({"event": "canceled", "id": order.oid, "leaves_qty": inst.fmt_qty(order.leaves), "reason": rej.code})
                self._close(order)
                return
        self._execute(order, inst, book)

    # ================================================================ modify
    def _op_modify(self, cmd: dict) -> None:
        order, inst, book, new_price, new_qty = self._parse_modify(cmd)
        new_leaves = new_qty - (order.qty - order.leaves)
        if new_price == order.price and new_qty < order.qty:
            # A pure decrease keeps time priority.
            self._release(order, self._hold_for(order, order.leaves - new_leaves, order.price))
            book.reduce(order, new_leaves)
            order.qty = new_qty
            self._emit(self._modified_event(order, inst, "kept"))
            return
        _raise_first(self._modify_failures(order, inst, book, new_price, new_leaves))
        need = self._hold_for(order, new_leaves, new_price)
        extra = need - order.hold
        if extra > 0 and not self._take_hold(order, extra):
            raise Reject("INSUFFICIENT_BALANCE", "not enough available balance for the larger order")
        if not self.no_risk:
            self._count_rate(order)
        book.cancel(order.oid)
        order = self._replace_record(order)
        if extra < 0:
            self._release(order, -extra)
        order.price = new_price
        order.qty = new_qty
        order.leaves = new_leaves
        order.visible = order.display if 0 < order.display < new_leaves else new_leaves
        self._emit(self._modified_event(order, inst, "lost"))
        self._execute(order, inst, book)
        self._run_triggers(order.symbol)

    def _parse_modify(self, cmd: dict) -> tuple[Order, Instrument, OrderBook, int, int]:
        """Shape and grid checks of a modify: (order, instrument, book, new price, new qty)."""
        order = self._open_order(cmd, text(cmd, "id"))
        inst = self.instruments[order.symbol]
        book = self.books[order.symbol]
        if order.type != LIMIT or order.oid not in book.orders:
            raise Reject("NOT_MODIFIABLE", f"order {order.oid!r} is not a resting limit order")
        try:
            new_price = inst.price_to_ticks(cmd["price"], "price") if "price" in cmd else order.price
            new_qty = inst.qty_to_lots(cmd["qty"], "qty") if "qty" in cmd else order.qty
        except NumberError as exc:
            raise Reject.from_number(exc) from None
        filled = order.qty - order.leaves
        if new_qty <= filled:
            raise Reject("QTY_BELOW_FILLED", f"qty {inst.fmt_qty(new_qty)} is not above the filled {inst.fmt_qty(filled)}")
        if new_price == order.price and new_qty == order.qty:
            raise Reject("NO_CHANGE", "modify changes neither price nor qty")
        return order, inst, book, new_price, new_qty

    def _modify_failures(self, order: Order, inst: Instrument, book: OrderBook, new_price: int, new_leaves: int) -> Iterator[Reject]:
        """Risk and book checks of a modify that loses priority (before its extra hold)."""
        if not self.no_risk:
            # The replacement is checked like a new order of the remaining quantity, with the
            # order itself left out of the open-order counts it would otherwise double.
            probe = Order(order.oid, order.account, order.side, new_price, new_leaves)
            probe.symbol = order.symbol
            yield from self._pre_trade_failures(probe, inst, book, replacing=order)
        if order.post_only and new_price != order.price:
            # Check against the book without this order (it cannot cross itself).
            if book.would_cross(order.side, new_price):
                yield Reject("POST_ONLY_WOULD_TAKE", "post-only order would take liquidity at the new price")

    def _replace_record(self, order: Order) -> Order:
        """Swap in a fresh copy of a cancelled-for-replace order (see Order.clone)."""
        fresh = order.clone()
        fresh.live = True
        self.orders[fresh.oid] = fresh
        self.by_account[fresh.account][fresh.oid] = fresh
        return fresh

    def _modified_event(self, order: Order, inst: Instrument, priority: str) -> dict:
        return {
            "event": "modified",
            "id": order.oid,
            "price": inst.fmt_price(order.price),
            "qty": inst.fmt_qty(order.qty),
            "leaves_qty": inst.fmt_qty(order.leaves),
            "priority": priority,
        }

    # ================================================================ state
    def balances(self) -> dict[str, dict[str, dict[str, str]]]:
        out: dict[str, dict[str, dict[str, str]]] = {}
        for account, assets in self.ledger.snapshot().items():
            out[account] = {
                a: {"available": self.assets[a].fmt(av), "held": self.assets[a].fmt(h)} for a, (av, h) in assets.items()
            }
        return out

    def order_view(self, order: Order) -> dict:
        inst = self.instruments[order.symbol]
        view = {
            "id": order.oid,
            "account": order.account,
            "symbol": order.symbol,
            "side": SIDE_NAMES[order.side],
            "type": order.type,
            "price": inst.fmt_price(order.price) if order.price is not None else None,
            "qty": inst.fmt_qty(order.qty),
            "leaves_qty": inst.fmt_qty(order.leaves),
            "visible_qty": inst.fmt_qty(order.visible),
            "tif": order.tif,
            "status": "resting" if order.oid in self.books[order.symbol].orders else "pending",
        }
        if order.stop_price:
            view["stop_price"] = inst.fmt_price(order.stop_price)
        return view

    def state_snapshot(self) -> dict:
        """Everything that defines the venue's state, as deterministic JSON-able data."""
        open_orders = []
        books = {}
        for sym in sorted(self.books):
            book = self.books[sym]
            inst = self.instruments[sym]
            for side in (book.bids, book.asks):
                open_orders.extend(self.order_view(o) for o in side.orders_in_priority())
            open_orders.extend(self.order_view(o) for o in self.triggers[sym].orders())
            bids, asks = book.depth(10**9)
            books[sym] = {
                "bids": [[inst.fmt_price(p), inst.fmt_qty(q), n] for p, q, n in bids],
                "asks": [[inst.fmt_price(p), inst.fmt_qty(q), n] for p, q, n in asks],
            }
        return {
            "now": self.now,
            "balances": self.balances(),
            "open_orders": open_orders,
            "books": books,
            "last_price": {s: self.instruments[s].fmt_price(p) for s, p in sorted(self.last_price.items())},
            "positions": {
                f"{a}|{s}": self.instruments[s].fmt_qty(q) if q >= 0 else "-" + self.instruments[s].fmt_qty(-q)
                for (a, s), q in sorted(self.positions.items())
                if q
            },
            "states": {
                "symbols": dict(sorted(self.symbol_state.items())),
                "accounts": dict(sorted(self.account_state.items())),
                "breakers": {s: b.halted_until for s, b in sorted(self.breakers.items()) if b.halted_until is not None},
            },
            "trade_seq": self.trade_seq,
        }

    def best(self, symbol: str) -> dict[str, str | None]:
        book, inst = self.books[symbol], self.instruments[symbol]
        bid, ask = book.best_bid, book.best_ask
        return {
            "bid": inst.fmt_price(bid) if bid is not None else None,
            "ask": inst.fmt_price(ask) if ask is not None else None,
        }

    def conservation(self) -> dict[str, bool]:
        """For every asset: sum over all accounts (venue included) == net deposits."""
        return {a: self.ledger.total(a) == self.ledger.deposited.get(a, 0) for a in sorted(self.ledger.assets())}


def _raise_first(failures: Iterator[Reject]) -> None:
    """The real path's side of a shared check: stop at the first failure."""
    for rej in failures:
        raise rej


def _bps(value: object, field: str) -> int:
    """A percentage string -> basis points (exact; at most two decimals of a percent)."""
    pct = parse_decimal(value, field)
    bps = pct * 100
    if bps != bps.to_integral_value() or bps < 0:
        raise NumberError("INVALID_NUMBER", f"{field} {value} must be a non-negative percent with at most 2 decimals")
    return int(bps)


def _parse_trail(value: object) -> tuple[int, int | None]:
    """'25' -> 25 ticks; '1.5%' -> 15000 parts per million."""
    if not isinstance(value, str) or not value:
        raise Reject("INVALID_TRAIL", "trail must be a string: ticks such as \"25\" or a percent such as \"1.5%\"")
    try:
        if value.endswith("%"):
            pct = parse_decimal(value[:-1], "trail")
            ppm = pct * 10_000
            if ppm != ppm.to_integral_value() or not 0 < ppm < 1_000_000:
                raise Reject("INVALID_TRAIL", f"trail {value} must be a percent in (0, 100) with at most 4 decimals")
            return 0, int(ppm)
        ticks = parse_decimal(value, "trail")
    except NumberError:
        raise Reject("INVALID_TRAIL", f"trail {value!r} is not a number of ticks or a percent") from None
    if ticks != ticks.to_integral_value() or ticks <= 0:
        raise Reject("INVALID_TRAIL", f"trail {value} must be a positive whole number of ticks")
    return int(ticks), None


__all__ = ["Engine", "EngineConfig", "OPS", "SELL"]
