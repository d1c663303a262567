"""``SimMarket``: a seeded population of agents trading on one engine, one step at a time.

Determinism: every random draw comes from generators derived from the seed (one stream per
fair-value process, per agent and per symbol's turn order, so adding an agent leaves the others'
streams alone), and every command is stamped with the simulated clock
``ts = step * step_ms * 1e6`` ns. Nothing reads the wall clock, so one seed always produces the
same command stream, the same events and the same book.

Step order for each symbol: the fair value moves (including the impact of the last step's net
taker flow), the liquidity providers re-quote, then the takers act in a freshly shuffled order.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal
from typing import Any

import numpy as np

from core.orders import BUY, SELL, SIDES
from core.simmarket.agent import Agent, OrderIds, StepContext, account_of
from core.simmarket.fair_value import FairValueProcess
from core.simmarket.roster import IMPACT_UNIT_USD, PROFILES, ROSTER, SymbolProfile

Recorder = Callable[[dict[str, Any], list[dict[str, Any]]], None]
NS_PER_MS = 1_000_000
RECENT_TRADES = 2000
#: Per-account overrides of venue-wide risk limits for agent accounts (journal ``limits`` op).
AGENT_LIMITS = {
    "band_pct": "100",
    "max_order_notional": "1000000000000",
    "max_open_orders": 1_000_000,
    "rate_limit_orders": 1_000_000_000,
}


class _SymbolSim:
    """Per-symbol pieces: fair value, agents (providers first), recent trades, taker flow."""

    def __init__(self, symbol: str, profile: SymbolProfile, fair: FairValueProcess, rng: np.random.Generator) -> None:
        self.symbol = symbol
        self.profile = profile
        self.fair = fair
        self.rng = rng  # shuffles the takers' turn order
        self.providers: list[Agent] = []
        self.takers: list[Agent] = []
        self.trades: deque[dict[str, Any]] = deque(maxlen=RECENT_TRADES)
        self.flow_usd = 0.0


class SimMarket:
    """Agents on a venue. ``step()`` advances the simulated clock by ``step_ms``.

    Not thread-safe, like the engine it drives: use ``SimMarketWorker`` to run it in the
    background and to submit user commands from another thread.
    """

    def __init__(
        self,
        seed: int,
        symbols: tuple[str, ...] | list[str] = ("BTC/USDT",),
        step_ms: int = 100,
        engine: Any = None,
        recorder: Recorder | None = None,
        requote: str = "modify",
    ) -> None:
        if step_ms <= 0:
            raise ValueError("step_ms must be positive")
        if engine is None:
            from core.engine import Engine, EngineConfig

            engine = Engine(EngineConfig())
        self.engine = engine
        self.seed = seed
        self.symbols = tuple(symbols)
        self.step_ms = step_ms
        self.step_ns = step_ms * NS_PER_MS
        self.dt = step_ms / 1000.0
        self.step_count = 0
        self.commands = 0
        self.rejected: Counter[str] = Counter()
        self.flags: Counter[str] = Counter()  # surveillance events by kind
        self.deposits: dict[str, Decimal] = {}  # asset -> net deposits seen in events
        self.recorder = recorder
        if requote not in ("modify", "replace"):
            raise ValueError("requote must be 'modify' or 'replace'")
        self.requote = requote
        for sym in self.symbols:
            if sym not in engine.instruments:
                raise ValueError(f"unknown symbol {sym!r}; listed: {', '.join(sorted(engine.instruments))}")
            if sym not in PROFILES:
                raise ValueError(f"no simulated-market profile for {sym!r}; have: {', '.join(PROFILES)}")

        root = np.random.SeedSequence(seed)
        sym_seqs = root.spawn(len(self.symbols))
        self._sims: dict[str, _SymbolSim] = {}
        self.agents: dict[tuple[str, str], Agent] = {}  # (account, symbol) -> agent
        ids = {account: OrderIds(account) for account, _, _ in ROSTER}
        for sym, ss in zip(self.symbols, sym_seqs):
            profile = PROFILES[sym]
            fair_ss, order_ss, *agent_ss = ss.spawn(2 + len(ROSTER))
            fair = FairValueProcess(profile.fair_params(), self.dt, np.random.default_rng(fair_ss))
            sim = _SymbolSim(sym, profile, fair, np.random.default_rng(order_ss))
            ins = engine.instruments[sym]
            for (account, cls, params), a_ss in zip(ROSTER, agent_ss):
                agent = cls(account, sym, ins, np.random.default_rng(a_ss), ids[account], params=params)
                (sim.providers if agent.kind in ("maker", "depth") else sim.takers).append(agent)
                self.agents[(account, sym)] = agent
            self._sims[sym] = sim
        self.accounts = frozenset(account for account, _ in self.agents)
        self._fund()

    # --- time ----------------------------------------------------------------------------
    @property
    def now_ns(self) -> int:
        return self.step_count * self.step_ns

    def fair(self, symbol: str) -> float:
        return self._sims[symbol].fair.price

    # --- the one door to the engine ------------------------------------------------------
    def process(self, cmd: dict[str, Any]) -> list[dict[str, Any]]:
        """Send one command to the engine and account for its events (fills, rejects)."""
        self.commands += 1
        events = self.engine.process(cmd, self.commands)
        for ev in events:
            kind = ev["event"]
            if kind == "trade":
                self._on_trade(ev)
            elif kind == "rejected":
                self.rejected[ev["reason"]] += 1
            elif kind == "surveillance":
                self.flags[ev.get("kind", "?")] += 1
            elif kind == "deposited":
                self.deposits[ev["asset"]] = self.deposits.get(ev["asset"], Decimal(0)) + Decimal(ev["amount"])
            elif kind == "withdrawn":
                self.deposits[ev["asset"]] -= Decimal(ev["amount"])
        if self.recorder is not None:
            self.recorder(cmd, events)
        return events

    def submit(self, cmd: dict[str, Any]) -> list[dict[str, Any]]:
        """A command from outside the population (the user), stamped with the current sim time."""
        if not isinstance(cmd, dict):
            raise TypeError("a command is a dict in the journal format")
        for key in ("account", "id"):
            value = cmd.get(key)
            if isinstance(value, str) and (value in self.accounts or account_of(value) in self.accounts):
                raise ValueError(f"{key} {value!r} belongs to a simulated agent; use your own account and ids")
        if "ts" not in cmd:
            cmd = {**cmd, "ts": self.now_ns}
        return self.process(cmd)

    def _on_trade(self, ev: dict[str, Any]) -> None:
        sym = ev["symbol"]
        sim = self._sims.get(sym)
        if sim is None:
            return
        taker_side = SIDES[ev["taker_side"]]
        maker = self.agents.get((ev["maker_account"], sym))
        taker = self.agents.get((ev["taker_account"], sym))
        if maker is not None or taker is not None:
            ins = self.engine.instruments[sym]
            ticks = ins.price_to_ticks(ev["price"])
            lots = ins.qty_to_lots(ev["qty"])
            if maker is not None:
                maker.on_fill(-taker_side, ticks, lots)
            if taker is not None:
                taker.on_fill(taker_side, ticks, lots)
        sim.flow_usd += taker_side * float(ev["price"]) * float(ev["qty"]) * sim.profile.usd_per_quote
        sim.trades.append(ev)

    # --- setup ---------------------------------------------------------------------------
    def _fund(self) -> None:
        """Deposit what each account's agents need, summed over symbols, and lift the user's risk
        limits off the agents, all at ts 0."""
        need: dict[tuple[str, str], Decimal] = {}
        for (account, sym), agent in self.agents.items():
            ins = self.engine.instruments[sym]
            profile = self._sims[sym].profile
            usd = Decimal(repr(agent.deposit_usd()))
            quote = usd / Decimal(repr(profile.usd_per_quote))
            base = quote / Decimal(repr(profile.start))
            for asset, amount in ((ins.quote, quote), (ins.base, base)):
                key = (account, asset.code)
                need[key] = need.get(key, Decimal(0)) + amount
        for (account, asset), amount in need.items():
            amount = amount.quantize(Decimal("0.01"), rounding=ROUND_DOWN) if amount >= 1 else amount.quantize(
                self.engine.assets[asset].unit, rounding=ROUND_DOWN
            )
            self.process({"op": "deposit", "account": account, "asset": asset, "amount": f"{amount:f}", "ts": 0})
        # The agents stand for the rest of the market: the user's pre-trade limits (config
        # [risk]) are for the user, so each agent account gets the loosest the venue allows.
        for account in sorted(self.accounts):
            self.process({"op": "limits", "account": account, "ts": 0, **AGENT_LIMITS})

    # --- stepping ------------------------------------------------------------------------
    def step(self) -> list[dict[str, Any]]:
        """Advance the clock one step; returns every event the agents' commands produced."""
        self.step_count += 1
        now = self.now_ns
        out: list[dict[str, Any]] = []

        def send(cmd: dict[str, Any]) -> list[dict[str, Any]]:
            events = self.process(cmd)
            out.extend(events)
            return events

        for sym in self.symbols:
            sim = self._sims[sym]
            fair = sim.fair.step(sim.flow_usd / IMPACT_UNIT_USD)
            sim.flow_usd = 0.0
            ctx = StepContext(
                symbol=sym,
                instrument=self.engine.instruments[sym],
                book=self.engine.books[sym],
                fair=fair,
                vol_multiple=sim.fair.vol_multiple,
                now_ns=now,
                dt=self.dt,
                usd_per_quote=sim.profile.usd_per_quote,
                send=send,
                trades=sim.trades,
                requote=self.requote,
            )
            for agent in sim.providers:
                agent.on_step(ctx)
            for i in sim.rng.permutation(len(sim.takers)):
                sim.takers[i].on_step(ctx)
        return out

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.step()


__all__ = ["BUY", "SELL", "SimMarket"]
