"""``SimMarketWorker``: runs a ``SimMarket`` on its own thread, the only thread that touches the
engine, and publishes what readers pull.

* Pacing: step ``k`` is due ``k * step / rate`` wall seconds after start (``rate`` 0 = as fast
  as possible). Falling behind is not "caught up" by skipping steps: the simulated clock only
  ever advances by whole steps, so the command stream stays deterministic at any speed.
* Inbox: ``submit(cmd)`` from any thread returns a ``Future`` resolved with the command's events.
  Submissions wake the worker, so a user's order does not wait for the next step.
* Publishing: after each step (and after user commands) every symbol's ``MarketView`` is
  published to the ``MarketState``; discrete events that concern non-agent accounts (the user's
  acks, rejects, fills, expiries) are posted to it as events.
* Stopping: ``stop()`` sets a flag the loop checks between steps and interrupts its sleep, then
  joins the thread; pending submissions fail with ``WorkerStopped``.
* ``call(fn)`` runs any function on the engine thread (a dry-run pre-check, a state read that
  must not race the matching loop) and returns a ``Future`` of its result.
* ``pause()`` / ``resume()`` / ``step(n)``: a paused worker still serves submissions and calls
  but only advances the clock when asked, which is what deterministic UI tests step with.
* ``account``: the user account whose ``AccountView`` (balances, open orders, positions,
  trading state, fee tier) is published into the ``MarketState`` after every step and command.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from core.market_state import MarketState
from core.simmarket.account import AccountPublisher
from core.simmarket.agent import account_of
from core.simmarket.market import SimMarket

StepHook = Callable[[SimMarket, list[dict[str, Any]]], None]


class WorkerStopped(RuntimeError):
    """The worker is not running, so a submitted command was not (and will not be) processed."""


class SimMarketWorker:
    def __init__(
        self,
        market: SimMarket,
        rate: float = 1.0,
        state: MarketState | None = None,
        max_steps: int | None = None,
        on_step: StepHook | None = None,
        name: str = "simmarket",
        account: str | None = None,
        paused: bool = False,
    ) -> None:
        if rate < 0:
            raise ValueError("rate must be >= 0 (0 = as fast as possible)")
        self.market = market
        self.rate = rate
        self.state = state if state is not None else MarketState()
        self.max_steps = max_steps
        self.hooks: list[StepHook] = [on_step] if on_step is not None else []
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._inbox: queue.SimpleQueue[tuple[dict[str, Any] | Callable[[], Any], Future]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._paused = paused
        self._resumed = False
        self._wake = threading.Event()
        self._gate = threading.Lock()  # orders "accepting submissions" against shutdown
        self._accepting = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._agent_accounts = market.accounts
        self.account = AccountPublisher(market.engine, account, self.state) if account is not None else None

    # --- control (any thread) ------------------------------------------------------------
    def start(self) -> SimMarketWorker:
        with self._gate:
            self._accepting = True
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        """Ask the loop to end after the current step and wait for the thread to exit."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError("simulated market worker did not stop in time")

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the loop to end on its own (``max_steps``); True if it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> SimMarketWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def submit(self, cmd: dict[str, Any]) -> Future[list[dict[str, Any]]]:
        """Queue a journal command for the engine; the future resolves to its events."""
        return self._enqueue(dict(cmd))

    def call(self, fn: Callable[[], Any]) -> Future[Any]:
        """Run ``fn()`` on the engine thread between steps; the future resolves to its result
        (or its exception). ``fn`` must be quick: the market does not step while it runs."""
        if not callable(fn):
            raise TypeError("call() takes a function of no arguments")
        return self._enqueue(fn)

    def _enqueue(self, item: dict[str, Any] | Callable[[], Any]) -> Future:
        fut: Future = Future()
        with self._gate:
            if not self._accepting:
                fut.set_exception(WorkerStopped("the simulated market is not running"))
                return fut
            self._inbox.put((item, fut))
        self._wake.set()
        return fut

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Stop advancing the clock (submissions and calls are still served)."""
        self._paused = True
        self._wake.set()

    def resume(self) -> None:
        """Advance the clock again, paced from now on."""
        self._paused = False
        self._resumed = True
        self._wake.set()

    def step(self, n: int = 1) -> Future[int]:
        """Advance exactly ``n`` steps on the engine thread (typically while paused); the
        future resolves to the step count reached."""
        if n < 0:
            raise ValueError("n must be >= 0")

        def run() -> int:
            for _ in range(n):
                self._step_once()
            return self.market.step_count

        return self.call(run)

    # --- the loop (worker thread) --------------------------------------------------------
    def _run(self) -> None:
        market = self.market
        step_s = market.step_ms / 1000.0
        try:
            self._publish([])
            t0 = time.monotonic()
            k = 0
            while not self._stop.is_set():
                self._serve_inbox()
                if self.max_steps is not None and market.step_count >= self.max_steps:
                    break
                if self._paused:
                    self._wake.wait(0.5)
                    self._wake.clear()
                    continue
                if self._resumed:  # pace from the moment of resuming, not from the start
                    self._resumed = False
                    t0, k = time.monotonic(), 0
                self._step_once()
                k += 1
                if self.rate > 0:
                    self._sleep_until(t0 + k * step_s / self.rate)
        except BaseException as exc:  # noqa: BLE001 - reported to the owner via .error
            self.error = exc
        finally:
            with self._gate:
                self._accepting = False
            self._fail_pending()
            self.done.set()

    def _step_once(self) -> None:
        events = self.market.step()
        self._publish(events)
        for hook in self.hooks:
            hook(self.market, events)

    def _sleep_until(self, due: float) -> None:
        while not self._stop.is_set() and not self._paused:
            remaining = due - time.monotonic()
            if remaining <= 0:
                return
            self._wake.wait(remaining)
            self._wake.clear()
            self._serve_inbox()

    def _serve_inbox(self) -> None:
        served = []
        while True:
            try:
                cmd, fut = self._inbox.get_nowait()
            except queue.Empty:
                break
            if not fut.set_running_or_notify_cancel():
                continue
            if callable(cmd):
                try:
                    fut.set_result(cmd())
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    fut.set_exception(exc)
                continue
            try:
                events = self.market.submit(cmd)
            except Exception as exc:  # a malformed dict the engine could not even reject
                fut.set_exception(exc)
                continue
            served.extend(events)
            for ev in events:
                self.state.post_event(ev)
            fut.set_result(events)
        if served:
            self._publish(served, user=True)

    def _fail_pending(self) -> None:
        while True:
            try:
                _, fut = self._inbox.get_nowait()
            except queue.Empty:
                return
            if fut.set_running_or_notify_cancel():
                fut.set_exception(WorkerStopped("the simulated market stopped before this command ran"))

    def _publish(self, events: list[dict[str, Any]], user: bool = False) -> None:
        """Publish every symbol's view; post agent-step events that concern other accounts."""
        market = self.market
        trades: dict[str, list[dict[str, Any]]] = {}
        for ev in events:
            if ev["event"] == "trade":
                trades.setdefault(ev["symbol"], []).append(ev)
            if not user and self._concerns_user(ev):
                self.state.post_event(ev)
        for sym in market.symbols:
            self.state.publish(market.engine.instruments[sym], market.engine.books[sym], trades.get(sym, ()), market.now_ns)
        if self.account is not None:
            self.account.publish(events)

    def _concerns_user(self, ev: dict[str, Any]) -> bool:
        kind = ev["event"]
        agents = self._agent_accounts
        if kind == "trade":
            return ev["maker_account"] not in agents or ev["taker_account"] not in agents
        if kind in ("canceled", "expired", "refilled", "triggered", "decremented"):
            return account_of(ev.get("id", "")) not in agents
        return kind in ("halted", "resumed")
