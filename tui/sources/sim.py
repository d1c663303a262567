"""The simulated market as a ``MarketSource``: seeded agents on the real engine, and you.

Settings decide the market (``[simmarket]`` seed, symbols, step, pace) and your account
(``account``, default ``me``, funded with ``funds`` at time 0). Everything that touches the
engine runs on the worker's thread: ``submit`` queues a journal command, ``precheck`` runs the
engine's dry-run checks through ``SimMarketWorker.call``; the UI only pulls the published
``MarketView``/``AccountView`` snapshots.

``paused=True`` (tests, snapshots) keeps the clock still until ``step(n)``: with a fixed seed
the market is then the same on every run, whatever the machine's speed.
"""

from __future__ import annotations

from concurrent.futures import Future
from decimal import Decimal
from typing import Any

from core.config import Settings
from core.engine import Engine
from core.fees import RATE_SCALE
from core.market_state import AccountView, MarketState
from core.orders import CONDITIONAL_TYPES, MARKET
from core.simmarket import SimMarket, SimMarketWorker
from core.venue_config import engine_config

#: Ops that act for an account: the source fills in yours when the command leaves it out.
_ACCOUNT_OPS = frozenset({"new", "modify", "cancel", "cancel_all", "bulk_cancel", "kill", "state", "deposit", "withdraw"})


class SimSource:
    """``MarketSource`` over ``core.simmarket``; ``can_trade`` is True."""

    can_trade = True
    replay = None

    def __init__(
        self,
        settings: Settings,
        symbols: list[str] | None = None,
        *,
        paused: bool = False,
        rate: float | None = None,
        seed: int | None = None,
        depth: int = 25,
    ) -> None:
        sm = settings.simmarket
        self.name = "sim"
        self.symbols = list(symbols or sm.symbols)
        self.account_name = sm.account
        engine = Engine(engine_config(settings))
        # SimMarket raises a one-line ValueError for an unknown symbol: the caller reports it.
        self.market = SimMarket(sm.seed if seed is None else seed, symbols=tuple(self.symbols), step_ms=sm.step_ms, engine=engine)
        self.instruments = {s: engine.instruments[s] for s in self.symbols}
        self._fund(sm.fund_amounts())
        self.state = MarketState(depth=depth)
        self.worker = SimMarketWorker(
            self.market,
            rate=sm.rate if rate is None else rate,
            state=self.state,
            account=self.account_name,
            paused=paused,
            name="sim-source",
        )
        self._next_id = 1  # the source's own order ids: me-1, me-2, ...

    def _fund(self, funds: list[tuple[str, str]]) -> None:
        """Deposit ``funds`` into the user account at time 0 (before the worker owns the engine)."""
        for asset, amount in funds:
            events = self.market.submit({"op": "deposit", "account": self.account_name, "asset": asset, "amount": amount})
            bad = [e for e in events if e["event"] == "rejected"]
            if bad:
                raise ValueError(f"[simmarket] funds: cannot deposit {amount} {asset}: {bad[0]['message']}")

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Start the engine thread (again: no-op, so a caller may start it before the app)."""
        if self.worker.alive or self.worker.done.is_set():
            return
        self.worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the engine thread and wait for it (no thread is left behind)."""
        self.worker.stop(timeout)

    # --- trading -------------------------------------------------------------------------
    def _complete(self, cmd: dict[str, Any], consume_id: bool = True) -> dict[str, Any]:
        """Fill in the user account and, for a new order, an id the engine has not seen."""
        cmd = dict(cmd)
        op = cmd.get("op")
        if op in _ACCOUNT_OPS and "account" not in cmd and not (op == "state" and "symbol" in cmd):
            cmd["account"] = self.account_name
        if op == "new" and not cmd.get("id"):
            cmd["id"] = f"{self.account_name}-{self._next_id}"
            if consume_id:
                self._next_id += 1
        return cmd

    def submit(self, cmd: dict) -> Future[list[dict]]:
        """Queue a journal command for your account; resolves to the engine's events."""
        return self.worker.submit(self._complete(cmd))

    def precheck(self, cmd: dict) -> Future[dict]:
        """The engine's dry-run checks for ``cmd`` (nothing changes), plus the fee rate and tier
        that would apply: ``{"ok", "rejects": [{"reason", "message"}], "fee_rate", "tier",
        "liquidity"}``."""
        full = self._complete(cmd, consume_id=False)
        engine = self.market.engine

        def run() -> dict[str, Any]:
            # Stamped like SimMarket.submit stamps the real command, so GTD expiries and breaker
            # cooldowns are judged at the same instant the order would be processed.
            rejects = engine.precheck(full if "ts" in full else {**full, "ts": self.market.now_ns})
            tier = engine.fees.tier(self.account_name, engine.now)
            liquidity = _liquidity(engine, full)
            rate = tier.taker_e8 if liquidity == "taker" else tier.maker_e8
            return {
                "ok": not rejects,
                "rejects": [{"reason": r.code, "message": r.message} for r in rejects],
                "fee_rate": f"{(Decimal(rate) / RATE_SCALE).normalize():f}",
                "tier": tier.name,
                "liquidity": liquidity,
            }

        return self.worker.call(run)

    def account(self) -> AccountView | None:
        return self.state.account()

    # --- clock and health ----------------------------------------------------------------
    def clock_ns(self) -> int:
        """Simulated time (step count x step), read without locking: an int attribute."""
        return self.market.now_ns

    def step(self, n: int = 1) -> Future[int]:
        """Advance ``n`` steps on the engine thread (for a paused source)."""
        return self.worker.step(n)

    def pause(self) -> None:
        self.worker.pause()

    def resume(self) -> None:
        self.worker.resume()

    @property
    def paused(self) -> bool:
        return self.worker.paused

    def health(self) -> dict[str, dict]:
        """Per ``sim:SYMBOL``: the same headline keys as a live feed's health (a simulated
        venue has no gaps, resyncs or lag; it is stale only when its thread stopped)."""
        alive = self.worker.alive
        out: dict[str, dict] = {}
        now = self.market.now_ns
        elapsed = max(now / 1e9, 1e-9)
        for sym in self.symbols:
            view = self.state.view(sym)
            trades = view.trade_count if view else 0
            out[f"sim:{sym}"] = {
                "exchange": "sim",
                "symbol": sym,
                "unified": sym,
                "state": "live" if alive and self.worker.error is None else "stopped",
                "synced": view is not None,
                "messages": view.version if view else 0,
                "trades": trades,
                "trades_per_s": round(trades / elapsed, 2) if now else 0.0,
                "gaps": 0,
                "resyncs": 0,
                "checksum_failures": 0,
                "reconnects": 0,
                "lag_ms": None,
                "last_update_age_ms": round((now - view.ts) / 1e6, 1) if view else None,
                "stale_now": not alive,
                "paused": self.worker.paused,
                "error": repr(self.worker.error) if self.worker.error else None,
            }
        return out


def _liquidity(engine: Any, cmd: dict[str, Any]) -> str:
    """Whether a new order would take (cross the book now) or make liquidity; conditional
    orders count as takers (when they trigger they usually cross)."""
    typ = cmd.get("type")
    if cmd.get("op") != "new" or cmd.get("post_only"):
        return "maker"
    if typ == MARKET or typ in CONDITIONAL_TYPES:
        return "taker"
    book = engine.books.get(cmd.get("symbol"))
    ins = engine.instruments.get(cmd.get("symbol"))
    if book is None or ins is None:
        return "taker"
    try:
        price = ins.price_to_ticks(cmd.get("price"))
    except Exception:  # an invalid price: the checks report it; the fee is the taker's
        return "taker"
    if cmd.get("side") == "buy":
        return "taker" if book.best_ask is not None and price >= book.best_ask else "maker"
    return "taker" if book.best_bid is not None and price <= book.best_bid else "maker"
