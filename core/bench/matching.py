"""Pure matching: the engine's ``OrderBook`` against the plain ``ReferenceBook``.

Both run the same ops in the same process. Fairness rules, applied identically to both:

* every run starts from an empty book built from scratch;
* rounds alternate which implementation goes first;
* before each timed loop ``gc.collect()`` runs and the cyclic collector is disabled, then
  re-enabled after the loop (reference counting still frees memory as usual);
* throughput comes from a loop with no per-op timer (best of the rounds); per-op latency from
  a separate loop that wraps each op in ``time.perf_counter_ns()`` (percentiles: median over
  the rounds). Latencies include the timer's own overhead, which is measured and reported.

Both implementations build the same trade tape, ``(maker_id, taker_id, price, qty)`` per fill;
the tapes, the number of cancels that hit a live order and the final resting orders must be
identical, or the benchmark is void.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
from dataclasses import dataclass
from time import perf_counter_ns

from core.bench.flow import OP_LIMIT, OP_MARKET, Flow, FlowSpec, generate
from core.bench.reference import RefOrder, ReferenceBook
from core.book import OrderBook
from core.orders import Order


class TapeMismatch(RuntimeError):
    """The engine and the reference disagree: the benchmark is void."""


@dataclass
class Run:
    tape: list
    cancel_hits: int
    elapsed_ns: int
    latencies: list[int] | None
    book: object


# --- the engine's book -----------------------------------------------------------------------
def run_engine(ops: list[tuple], timed: bool = False, book_factory=OrderBook, order_cls=Order) -> Run:
    """One pass of ``ops`` through ``core.book.OrderBook`` (factories: for profiling variants)."""
    book = book_factory("BTC/USDT")
    Order = order_cls  # noqa: N806
    match, rest, cancel = book.match, book.rest, book.cancel
    tape: list = []
    push = tape.append
    fills: list = []  # reused: match() appends (maker, price, qty), the loop drains it
    hits = 0
    lat = [0] * len(ops) if timed else None
    clock = perf_counter_ns
    _collect_then_disable()
    try:
        start = clock()
        if not timed:
            for op in ops:
                kind = op[0]
                if kind == OP_LIMIT:
                    _, oid, account, side, price, qty = op
                    order = Order(oid, account, side, price, qty)
                    match(order, price, fills)
                    if fills:
                        for maker, p, q in fills:
                            push((maker.oid, oid, p, q))
                        fills.clear()
                    if order.leaves > 0:
                        rest(order)
                elif kind == OP_MARKET:
                    _, oid, account, side, qty = op
                    order = Order(oid, account, side, None, qty, type="market")
                    match(order, None, fills)
                    for maker, p, q in fills:
                        push((maker.oid, oid, p, q))
                    fills.clear()
                else:
                    if cancel(op[1]) is not None:
                        hits += 1
        else:
            i = 0
            for op in ops:
                t0 = clock()
                kind = op[0]
                if kind == OP_LIMIT:
                    _, oid, account, side, price, qty = op
                    order = Order(oid, account, side, price, qty)
                    match(order, price, fills)
                    if fills:
                        for maker, p, q in fills:
                            push((maker.oid, oid, p, q))
                        fills.clear()
                    if order.leaves > 0:
                        rest(order)
                elif kind == OP_MARKET:
                    _, oid, account, side, qty = op
                    order = Order(oid, account, side, None, qty, type="market")
                    match(order, None, fills)
                    for maker, p, q in fills:
                        push((maker.oid, oid, p, q))
                    fills.clear()
                else:
                    if cancel(op[1]) is not None:
                        hits += 1
                lat[i] = clock() - t0
                i += 1
        elapsed = clock() - start
    finally:
        gc.enable()
    return Run(tape, hits, elapsed, lat, book)


# --- the reference ---------------------------------------------------------------------------
def run_reference(ops: list[tuple], timed: bool = False) -> Run:
    """One pass of ``ops`` through the plain ``ReferenceBook``."""
    book = ReferenceBook()
    match, rest, cancel = book.match, book.rest, book.cancel
    tape: list = []
    hits = 0
    lat = [0] * len(ops) if timed else None
    clock = perf_counter_ns
    _collect_then_disable()
    try:
        start = clock()
        if not timed:
            for op in ops:
                kind = op[0]
                if kind == OP_LIMIT:
                    _, oid, account, side, price, qty = op
                    order = RefOrder(oid, side, price, qty)
                    match(order, price, tape)
                    if order.leaves > 0:
                        rest(order)
                elif kind == OP_MARKET:
                    _, oid, account, side, qty = op
                    order = RefOrder(oid, side, None, qty)
                    match(order, None, tape)
                else:
                    if cancel(op[1]):
                        hits += 1
        else:
            i = 0
            for op in ops:
                t0 = clock()
                kind = op[0]
                if kind == OP_LIMIT:
                    _, oid, account, side, price, qty = op
                    order = RefOrder(oid, side, price, qty)
                    match(order, price, tape)
                    if order.leaves > 0:
                        rest(order)
                elif kind == OP_MARKET:
                    _, oid, account, side, qty = op
                    order = RefOrder(oid, side, None, qty)
                    match(order, None, tape)
                else:
                    if cancel(op[1]):
                        hits += 1
                lat[i] = clock() - t0
                i += 1
        elapsed = clock() - start
    finally:
        gc.enable()
    return Run(tape, hits, elapsed, lat, book)


def _collect_then_disable() -> None:
    gc.collect()
    gc.disable()


# --- comparison ------------------------------------------------------------------------------
def engine_resting(book: OrderBook) -> list[tuple[str, int, int, int]]:
    """Every resting order as (id, side, price, leaves): bids best first, then asks."""
    out = []
    for side in (book.bids, book.asks):
        out.extend((o.oid, o.side, o.price, o.leaves) for o in side.orders_in_priority())
    return out


def compare(eng: Run, ref: Run) -> list[str]:
    """Differences between an engine run and a reference run (empty: identical)."""
    problems = []
    if eng.tape != ref.tape:
        n = min(len(eng.tape), len(ref.tape))
        first = next((i for i in range(n) if eng.tape[i] != ref.tape[i]), n)
        problems.append(
            f"trade tapes differ at trade {first} (engine {len(eng.tape)} trades, "
            f"reference {len(ref.tape)}): engine "
            f"{eng.tape[first] if first < len(eng.tape) else None} vs reference "
            f"{ref.tape[first] if first < len(ref.tape) else None}"
        )
    if eng.cancel_hits != ref.cancel_hits:
        problems.append(f"live cancels differ: engine {eng.cancel_hits}, reference {ref.cancel_hits}")
    if engine_resting(eng.book) != ref.book.resting():
        problems.append("final resting orders differ")
    return problems


# --- statistics ------------------------------------------------------------------------------
def percentile(sorted_values: list[int], q: float) -> int:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return 0
    k = max(0, min(len(sorted_values) - 1, -(-len(sorted_values) * q // 100) - 1))
    return sorted_values[int(k)]


def latency_summary(lat: list[int]) -> dict[str, float]:
    s = sorted(lat)
    return {
        "p50_us": percentile(s, 50) / 1000,
        "p99_us": percentile(s, 99) / 1000,
        "p999_us": percentile(s, 99.9) / 1000,
        "max_us": s[-1] / 1000 if s else 0.0,
    }


def timer_overhead_ns(samples: int = 200_000) -> int:
    """Median cost of an empty ``perf_counter_ns()`` pair in the same loop shape."""
    clock = perf_counter_ns
    lat = [0] * samples
    _collect_then_disable()
    try:
        for i in range(samples):
            t0 = clock()
            lat[i] = clock() - t0
    finally:
        gc.enable()
    return int(statistics.median(lat))


def _median_summary(summaries: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(s[k] for s in summaries), 3) for k in summaries[0]}


# --- the benchmark ---------------------------------------------------------------------------
def bench_pure(flow: Flow, rounds: int = 3, log=None) -> dict:
    """Time both implementations on ``flow`` and check they agree. Raises TapeMismatch."""
    ops = flow.ops
    n = len(ops)
    thr = {"engine": [], "reference": []}
    lats = {"engine": [], "reference": []}
    runners = {"engine": run_engine, "reference": run_reference}
    checked = None
    warm = ops[:20_000]  # warm-up, not counted: allocator arenas, caches, first-call costs
    for name in ("engine", "reference"):
        runners[name](warm, timed=False)
        runners[name](warm, timed=True)
    for r in range(rounds):
        order = ("engine", "reference") if r % 2 == 0 else ("reference", "engine")
        results = {}
        for name in order:
            run = runners[name](ops, timed=False)
            thr[name].append(run.elapsed_ns)
            results[name] = run
        if checked is None:
            problems = compare(results["engine"], results["reference"])
            if problems:
                raise TapeMismatch("; ".join(problems))
            checked = results["engine"]
        for name in order:
            run = runners[name](ops, timed=True)
            lats[name].append(latency_summary(run.latencies))
            if run.tape != checked.tape:  # every run must reproduce the same tape
                raise TapeMismatch(f"{name}: a timed run produced a different tape")
        if log:
            log(
                f"round {r + 1}/{rounds}: engine {n / min(thr['engine']) * 1e9:,.0f} ops/s, "
                f"reference {n / min(thr['reference']) * 1e9:,.0f} ops/s"
            )
    out = {}
    for name in ("engine", "reference"):
        best = min(thr[name])
        out[name] = {
            "ops_per_s": round(n / best * 1e9),
            "mean_us": round(best / n / 1000, 3),
            **_median_summary(lats[name]),
        }
    resting = len(checked.book.orders)
    return {
        "engine": out["engine"],
        "reference": out["reference"],
        "ratio": round(out["engine"]["ops_per_s"] / out["reference"]["ops_per_s"], 3),
        "tapes_equal": True,
        "tape": checked.tape,
        "trades": len(checked.tape),
        "cancel_live": checked.cancel_hits,
        "resting_at_end": resting,
    }


def environment() -> dict:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "gil_enabled": getattr(sys, "_is_gil_enabled", lambda: True)(),
    }


def run_benchmark(
    ops: int = 200_000, seed: int = 1, rounds: int = 3, full_ops: int | None = None, log=None
) -> dict:
    """The whole ``bench matching`` report as a plain dict (see tui/commands/bench.py).

    ``full_ops``: how many ops of the same flow go through the full path (None: all, 0: skip).
    Raises ``TapeMismatch`` when the engine and the reference disagree.
    """
    load_before = _loadavg()
    spec = FlowSpec(ops=ops, seed=seed)
    if log:
        log(f"generating {ops:,} ops (seed {seed})")
    flow = generate(spec)
    overhead = timer_overhead_ns()
    pure = bench_pure(flow, rounds=rounds, log=log)
    tape = pure.pop("tape")
    mix = dict(flow.counts)
    mix["cancel_live"] = pure.pop("cancel_live")
    report = {
        "benchmark": "matching",
        "ops": len(flow.ops),
        "seed": seed,
        "rounds": rounds,
        "mix": mix,
        "trades": pure.pop("trades"),
        "resting_at_end": pure.pop("resting_at_end"),
        **pure,
        "timer_overhead_ns": overhead,
        "method": (
            "same process; fresh book per run; rounds alternate which goes first; gc.collect() "
            "then gc.disable() around every timed loop (re-enabled after); ops/s from loops "
            "without per-op timers (best of rounds); latency percentiles from a separate loop "
            "with perf_counter_ns around each op (median over rounds; timer overhead included)"
        ),
    }
    if full_ops is None or full_ops > 0:
        from core.bench.fullpath import bench_full_path

        sub = flow
        if full_ops is not None and full_ops < len(flow.ops):
            sub = Flow(spec=flow.spec, ops=flow.ops[:full_ops], accounts=flow.accounts)
            tape = run_reference(sub.ops).tape
        report["full_path"] = {"ops": len(sub.ops), **bench_full_path(sub, tape, log=log)}
    report.update(environment())
    report["loadavg_1m"] = {"before": load_before, "after": _loadavg()}
    return report


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # pragma: no cover - platforms without it
        return None
