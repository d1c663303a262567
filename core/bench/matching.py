"""Pure matching: the engine's ``OrderBook`` against the plain ``ReferenceBook``.

Both run the same ops in the same process. Fairness rules, applied identically to both:

* every run starts from an empty book built from scratch, after one warm-up pass of each;
* rounds alternate which implementation goes first;
* before each timed loop ``gc.collect()`` runs and the cyclic collector is disabled, then
  re-enabled after the loop (reference counting still frees memory as usual);
* throughput comes from loops with no per-op timer; per-op latency from a separate loop that
  wraps each op in ``time.perf_counter_ns()``. Latencies include the timer's own overhead,
  which is measured and reported.

On a shared machine other processes steal time at random. The state of a run is
deterministic, so the same stretch of ops does the same work in every round; the figures use
that to separate the implementation's cost from the machine's noise:

* ``ops_per_s``: ops / sum over stretches of CHUNK ops of the best time of each stretch across
  rounds (a finer-grained best-of-rounds); ``ops_per_s_wall``: the best whole run.
* ``p50_us``/``p99_us``/``p999_us``: percentiles of each round, median over rounds (what a
  user on this machine sees, noise included); ``repeatable``: percentiles of each op's fastest
  time across rounds (one-off noise removed; slow ops that are slow every time stay).
* ``noise_floor``: the same per-op timing around a fixed workload, for scale.

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

#: Untimed passes read the clock once per this many ops (a negligible cost).
CHUNK = 256


class TapeMismatch(RuntimeError):
    """The engine and the reference disagree: the benchmark is void."""


@dataclass
class Run:
    tape: list
    cancel_hits: int
    elapsed_ns: int
    latencies: list[int] | None  # timed passes: ns per op
    chunks_ns: list[int] | None  # untimed passes: ns per CHUNK ops
    book: object


def _chunks(ops: list[tuple]) -> list[list[tuple]]:
    return [ops[i : i + CHUNK] for i in range(0, len(ops), CHUNK)]


def _collect_then_disable() -> None:
    gc.collect()
    gc.disable()


# --- the engine's book -----------------------------------------------------------------------
def run_engine(ops: list[tuple], timed: bool = False, book_factory=OrderBook, order_cls=Order) -> Run:
    """One pass of ``ops`` through ``core.book.OrderBook`` (the factories: profiling variants).

    The book reports each taker's fills as a list of ``(maker, price, qty)``; the loop keeps
    those lists as they are and the common ``(maker_id, taker_id, price, qty)`` tape is built
    after the clock stops, the way the reference's tape tuples are its own native output.
    """
    book = book_factory("BTC/USDT")
    Order = order_cls  # noqa: N806
    place, sweep, cancel = book.place, book.sweep, book.cancel
    outputs: list = []
    keep = outputs.append
    fills: list = []
    hits = 0
    lat = [0] * len(ops) if timed else None
    marks: list[int] = []
    chunks = _chunks(ops)
    clock = perf_counter_ns
    _collect_then_disable()
    try:
        start = clock()
        if not timed:
            for chunk in chunks:
                for op in chunk:
                    kind = op[0]
                    if kind == OP_LIMIT:
                        order = Order(op[1], op[2], op[3], op[4], op[5])
                        place(order, fills)
                        if fills:
                            keep((op[1], fills))
                            fills = []
                    elif kind == OP_MARKET:
                        order = Order(op[1], op[2], op[3], None, op[4])
                        sweep(order, fills)
                        if fills:
                            keep((op[1], fills))
                            fills = []
                    elif cancel(op[1]) is not None:
                        hits += 1
                marks.append(clock())
        else:
            i = 0
            for op in ops:
                t0 = clock()
                kind = op[0]
                if kind == OP_LIMIT:
                    order = Order(op[1], op[2], op[3], op[4], op[5])
                    place(order, fills)
                    if fills:
                        keep((op[1], fills))
                        fills = []
                elif kind == OP_MARKET:
                    order = Order(op[1], op[2], op[3], None, op[4])
                    sweep(order, fills)
                    if fills:
                        keep((op[1], fills))
                        fills = []
                elif cancel(op[1]) is not None:
                    hits += 1
                lat[i] = clock() - t0
                i += 1
        elapsed = clock() - start
    finally:
        gc.enable()
    tape = [(maker.oid, taker_id, p, q) for taker_id, fl in outputs for maker, p, q in fl]
    return Run(tape, hits, elapsed, lat, _deltas(start, marks) if not timed else None, book)


# --- the reference ---------------------------------------------------------------------------
def run_reference(ops: list[tuple], timed: bool = False) -> Run:
    """One pass of ``ops`` through the plain ``ReferenceBook``."""
    book = ReferenceBook()
    match, rest, cancel = book.match, book.rest, book.cancel
    tape: list = []
    hits = 0
    lat = [0] * len(ops) if timed else None
    marks: list[int] = []
    chunks = _chunks(ops)
    clock = perf_counter_ns
    _collect_then_disable()
    try:
        start = clock()
        if not timed:
            for chunk in chunks:
                for op in chunk:
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
                marks.append(clock())
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
    return Run(tape, hits, elapsed, lat, _deltas(start, marks) if not timed else None, book)


def _deltas(start: int, marks: list[int]) -> list[int]:
    out = []
    prev = start
    for m in marks:
        out.append(m - prev)
        prev = m
    return out


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


def noise_floor(samples: int = 200_000) -> dict[str, float]:
    """Per-op timing of a fixed pure-Python workload (about an engine op's median cost): its
    p99/p99.9 above its p50 is the machine (preemption, interrupts, frequency), not the code."""
    clock = perf_counter_ns
    lat = [0] * samples
    work = tuple(range(24))
    _collect_then_disable()
    try:
        for i in range(samples):
            t0 = clock()
            acc = 0
            for x in work:
                acc += x
            lat[i] = clock() - t0
    finally:
        gc.enable()
    return _rounded(latency_summary(lat))


def _rounded(d: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in d.items()}


def _median_summary(summaries: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(s[k] for s in summaries), 3) for k in summaries[0]}


def best_chunks_ns(rounds: list[list[int]]) -> int:
    """Sum over stretches of the fastest time of each stretch across rounds."""
    return sum(min(times) for times in zip(*rounds))


# --- the benchmark ---------------------------------------------------------------------------
def bench_pure(flow: Flow, rounds: int = 3, log=None) -> dict:
    """Time both implementations on ``flow`` and check they agree. Raises TapeMismatch."""
    ops = flow.ops
    n = len(ops)
    names = ("engine", "reference")
    runners = {"engine": run_engine, "reference": run_reference}
    walls: dict[str, list[int]] = {k: [] for k in names}
    chunks: dict[str, list[list[int]]] = {k: [] for k in names}
    lats: dict[str, list[list[int]]] = {k: [] for k in names}
    checked = None
    warm = ops[:20_000]  # warm-up, not counted: allocator arenas, caches, first-call costs
    for name in names:
        runners[name](warm, timed=False)
        runners[name](warm, timed=True)
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        results = {}
        for name in order:
            run = runners[name](ops, timed=False)
            walls[name].append(run.elapsed_ns)
            chunks[name].append(run.chunks_ns)
            results[name] = run
        if checked is None:
            problems = compare(results["engine"], results["reference"])
            if problems:
                raise TapeMismatch("; ".join(problems))
            checked = results["engine"]
        for name in order:
            run = runners[name](ops, timed=True)
            lats[name].append(run.latencies)
            if run.tape != checked.tape:  # every run must reproduce the same tape
                raise TapeMismatch(f"{name}: a timed run produced a different tape")
        del results, run
        if log:
            log(
                f"round {r + 1}/{rounds}: engine {n / best_chunks_ns(chunks['engine']) * 1e9:,.0f} ops/s, "
                f"reference {n / best_chunks_ns(chunks['reference']) * 1e9:,.0f} ops/s"
            )
    out = {}
    for name in names:
        best = best_chunks_ns(chunks[name])
        fastest = [min(t) for t in zip(*lats[name])]
        out[name] = {
            "ops_per_s": round(n / best * 1e9),
            "ops_per_s_wall": round(n / min(walls[name]) * 1e9),
            "mean_us": round(best / n / 1000, 3),
            **_median_summary([latency_summary(lat) for lat in lats[name]]),
            "repeatable": {"mean_us": round(sum(fastest) / n / 1000, 3), **_rounded(latency_summary(fastest))},
        }
    return {
        "engine": out["engine"],
        "reference": out["reference"],
        "ratio": round(out["engine"]["ops_per_s"] / out["reference"]["ops_per_s"], 3),
        "ratio_wall": round(out["engine"]["ops_per_s_wall"] / out["reference"]["ops_per_s_wall"], 3),
        "tapes_equal": True,
        "tape": checked.tape,
        "trades": len(checked.tape),
        "cancel_live": checked.cancel_hits,
        "resting_at_end": len(checked.book.orders),
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
    ops: int = 200_000,
    seed: int = 1,
    rounds: int = 3,
    full_ops: int | None = None,
    full_rounds: int = 2,
    log=None,
) -> dict:
    """The whole ``bench matching`` report as a plain dict (see tui/commands/bench.py).

    ``full_ops``: how many ops of the same flow go through the full path (None: all, 0: skip);
    ``full_rounds``: passes of each full-path configuration.
    Raises ``TapeMismatch`` when the engine and the reference disagree.
    """
    load_before = _loadavg()
    spec = FlowSpec(ops=ops, seed=seed)
    if log:
        log(f"generating {ops:,} ops (seed {seed})")
    flow = generate(spec)
    overhead = timer_overhead_ns()
    floor = noise_floor()
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
        "noise_floor": floor,
        "gc": "gc.collect() then gc.disable() around every timed loop, re-enabled after (both)",
        "method": (
            "same process; fresh book per run after a warm-up; rounds alternate which goes first; "
            f"ops/s from loops without per-op timers: sum over {CHUNK}-op stretches of each "
            "stretch's best time across rounds (ops_per_s_wall: best whole run); latency "
            "percentiles from a separate loop with perf_counter_ns around each op, median over "
            "rounds, timer overhead included (repeatable: percentiles of each op's best time)"
        ),
    }
    if full_ops is None or full_ops > 0:
        from core.bench.fullpath import bench_full_path

        sub = flow
        if full_ops is not None and full_ops < len(flow.ops):
            sub = Flow(spec=flow.spec, ops=flow.ops[:full_ops], accounts=flow.accounts)
            tape = run_reference(sub.ops).tape
        report["full_path"] = {"ops": len(sub.ops), **bench_full_path(sub, tape, full_rounds, log=log)}
    report.update(environment())
    report["loadavg_1m"] = {"before": load_before, "after": _loadavg()}
    return report


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # pragma: no cover - platforms without it
        return None
