"""``tickdesk bench matching``: the engine's book and the plain reference agree exactly.

Correctness only (no timing assertions): both implementations must produce the same trade
tape, the same number of cancels that hit a live order and the same final book, on several
seeds; the full engine path must reproduce the pure-matching tape; the CLI prints valid JSON.
"""

from __future__ import annotations

import json

import pytest

from core.bench.flow import BUY, OP_CANCEL, OP_LIMIT, OP_MARKET, SELL, FlowSpec, generate
from core.bench.matching import compare, engine_resting, percentile, run_engine, run_reference


@pytest.mark.parametrize("seed", [1, 2, 3, 11, 2024])
@pytest.mark.parametrize("ops", [500, 4000])
def test_engine_and_reference_tapes_identical(seed: int, ops: int) -> None:
    flow = generate(FlowSpec(ops=ops, seed=seed))
    eng = run_engine(flow.ops)
    ref = run_reference(flow.ops)
    assert compare(eng, ref) == []
    assert eng.tape == ref.tape
    assert eng.tape, "the flow must trade"
    assert 0 < eng.cancel_hits <= flow.counts["cancel"]
    # The timed loops run the same ops the same way.
    assert run_engine(flow.ops, timed=True).tape == eng.tape
    assert run_reference(flow.ops, timed=True).tape == ref.tape


def test_tapes_identical_under_stress_shapes() -> None:
    """Deeper books, many same-level orders, heavy cancels and large market sweeps."""
    specs = [
        FlowSpec(ops=6000, seed=5, max_depth=2, p_move=0.01),  # crowded levels, long FIFOs
        FlowSpec(ops=6000, seed=6, p_limit=0.4, p_market=0.05),  # 55% cancels
        FlowSpec(ops=6000, seed=7, market_lots=(500, 3000), marketable=0.3),  # sweeps
        FlowSpec(ops=6000, seed=8, cancel_window=5000, cancel_sample=1),  # cancels anywhere
    ]
    for spec in specs:
        flow = generate(spec)
        eng, ref = run_engine(flow.ops), run_reference(flow.ops)
        assert compare(eng, ref) == [], spec


def _book_pair(ops: list[tuple]):
    return run_engine(ops), run_reference(ops)


def test_price_time_priority_by_hand() -> None:
    """A hand-checked scenario: both books fill oldest first at the best price, makers' prices."""
    ops = [
        (OP_LIMIT, "a1", "x", SELL, 101, 50),
        (OP_LIMIT, "a2", "x", SELL, 100, 30),
        (OP_LIMIT, "a3", "x", SELL, 100, 40),
        (OP_LIMIT, "b1", "y", BUY, 98, 10),
        (OP_CANCEL, "a2"),
        (OP_CANCEL, "zz"),  # unknown id: a no-op
        (OP_LIMIT, "t1", "z", BUY, 101, 60),  # takes a3 (40 @100), then a1 (20 @101)
        (OP_MARKET, "m1", "z", SELL, 25),  # takes b1 (10 @98); the rest is discarded
        (OP_MARKET, "m2", "z", BUY, 100),  # takes the 30 left of a1 @101
        (OP_CANCEL, "a1"),  # already filled: a no-op
    ]
    eng, ref = _book_pair(ops)
    want = [("a3", "t1", 100, 40), ("a1", "t1", 101, 20), ("b1", "m1", 98, 10), ("a1", "m2", 101, 30)]
    assert ref.tape == want
    assert eng.tape == want
    assert eng.cancel_hits == ref.cancel_hits == 1
    assert engine_resting(eng.book) == ref.book.resting() == []


def test_flow_is_deterministic_and_has_the_mix() -> None:
    a = generate(FlowSpec(ops=20_000, seed=9))
    b = generate(FlowSpec(ops=20_000, seed=9))
    c = generate(FlowSpec(ops=20_000, seed=10))
    assert a.ops == b.ops and a.ops != c.ops
    n = len(a.ops)
    assert n == 20_000
    assert abs(a.counts["limit"] / n - 0.60) < 0.02
    assert abs(a.counts["market"] / n - 0.10) < 0.02
    assert abs(a.counts["cancel"] / n - 0.30) < 0.02
    ids = [op[1] for op in a.ops if op[0] != OP_CANCEL]
    assert len(ids) == len(set(ids)), "order ids are unique"
    placed: set[str] = set()
    for op in a.ops:  # a cancel only names an id placed before it
        if op[0] == OP_CANCEL:
            assert op[1] in placed
        else:
            placed.add(op[1])
    # Honest mix: most cancels hit a live order.
    ref = run_reference(a.ops)
    assert ref.cancel_hits > 0.6 * a.counts["cancel"]


def test_percentile_nearest_rank() -> None:
    values = list(range(1, 1001))
    assert percentile(values, 50) == 500
    assert percentile(values, 99) == 990
    assert percentile(values, 99.9) == 999
    assert percentile([7], 99.9) == 7


def test_full_path_reproduces_the_pure_tape() -> None:
    from core.bench.fullpath import bench_full_path

    flow = generate(FlowSpec(ops=600, seed=3))
    ref = run_reference(flow.ops)
    out = bench_full_path(flow, ref.tape)
    assert out["tape_equal_to_pure"] is True
    assert out["trades"] == len(ref.tape)
    # The only rejects are cancels of orders that had already traded away.
    missed = flow.counts["cancel"] - ref.cancel_hits
    assert out["rejects"] == ({"ORDER_NOT_OPEN": missed} if missed else {})
    assert out["risk"] is True and isinstance(out["journal"], bool)


def test_cli_json(run_cli) -> None:
    code, out, err = run_cli("bench", "matching", "--ops", "1500", "--seed", "4", "--rounds", "1",
                             "--full-ops", "300", "--json", timeout=300)
    assert code == 0, err
    report = json.loads(out)
    for key in ("ops", "mix", "trades", "engine", "reference", "ratio", "ratio_wall", "tapes_equal",
                "timer_overhead_ns", "noise_floor", "full_path", "python", "cores"):
        assert key in report, key
    assert report["ops"] == 1500
    assert report["tapes_equal"] is True
    for key in ("limit", "market", "cancel", "cancel_live"):
        assert isinstance(report["mix"][key], int)
    for side in ("engine", "reference"):
        for key in ("ops_per_s", "p50_us", "p99_us", "p999_us"):
            assert report[side][key] > 0
        rep = report[side]["repeatable"]
        assert 0 < rep["p50_us"] <= rep["p99_us"] <= rep["p999_us"] <= rep["max_us"]
    fp = report["full_path"]
    for key in ("ops_per_s", "p50_us", "p99_us", "p999_us"):
        assert fp[key] > 0
    assert isinstance(fp["journal"], bool)
    assert fp["ops"] == 300 and fp["tape_equal_to_pure"] is True
    assert "round" in err  # progress on stderr, not stdout


def test_cli_table_and_errors(run_cli) -> None:
    code, out, err = run_cli("bench", "matching", "--ops", "800", "--rounds", "1", "--full-ops", "0")
    assert code == 0, err
    assert "engine book" in out and "reference" in out and "tapes equal: yes" in out
    code, out, err = run_cli("bench", "matching", "--ops", "0")
    assert code != 0 and out == ""
    assert err.strip().startswith("tickdesk: error:") and len(err.strip().splitlines()) == 1
