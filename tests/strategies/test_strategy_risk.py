"""Risk rules on signals, hand-computed: cooldown, trades per day, position cap, daily loss stop;
and the same gate inside both evaluators."""

from __future__ import annotations

import math

import numpy as np

from strategies.evaluate import Streaming, vectorized
from strategies.risk import DAY_MS, GateIn, RiskGate, RiskRules
from strategies.spec import StrategySpec

NAN = math.nan
MIN = 60_000


def run(rules: dict, steps: list[tuple[int, float, str, float]]) -> list[tuple]:
    """steps: (ts, close, one of ''/'L'/'XL'/'S'/'XS', size) -> gated (flags..., size)."""
    gate = RiskGate(RiskRules(**rules))
    out = []
    for ts, close, sig, size in steps:
        g = gate.step(ts, close, GateIn(sig == "L", sig == "XL", sig == "S", sig == "XS", size))
        flags = "".join(k for k, v in (("L", g.enter_long), ("XL", g.exit_long), ("S", g.enter_short), ("XS", g.exit_short)) if v)
        out.append((flags, None if g.size != g.size else round(g.size, 12)))
    return out


def test_cooldown_blocks_entries_for_n_bars_after_an_exit() -> None:
    steps = [(i * MIN, 100.0, s, NAN) for i, s in enumerate(["L", "", "XL", "L", "L", "L", "XL"])]
    got = [f for f, _ in run({"cooldown_bars": 2}, steps)]
    assert got == ["L", "", "XL", "", "", "L", "XL"]


def test_max_trades_per_day_resets_at_utc_midnight() -> None:
    day = DAY_MS
    steps = [(0, 1.0, "L", NAN), (MIN, 1.0, "XL", NAN), (2 * MIN, 1.0, "L", NAN), (3 * MIN, 1.0, "XL", NAN),
             (4 * MIN, 1.0, "L", NAN), (day, 1.0, "L", NAN)]
    got = [f for f, _ in run({"max_trades_per_day": 2}, steps)]
    assert got == ["L", "XL", "L", "XL", "", "L"]


def test_max_position_caps_sizes_and_scale_ins() -> None:
    steps = [(0, 1.0, "L", NAN), (MIN, 1.0, "L", 0.2), (2 * MIN, 1.0, "XL", NAN),
             (3 * MIN, 1.0, "L", 0.3), (4 * MIN, 1.0, "L", 0.3), (5 * MIN, 1.0, "L", 0.3)]
    got = run({"max_position": 0.5}, steps)
    assert got == [("L", 0.5), ("", None), ("XL", None), ("L", 0.3), ("L", 0.2), ("", None)]


def test_daily_loss_stop_closes_and_blocks_until_next_day() -> None:
    # long from 100; closes 97 (-3 %), 94 (-6 %: stop at 5 %) -> forced exit; entries refused
    # for the rest of the day, allowed the next day
    steps = [(0, 100.0, "L", NAN), (MIN, 97.0, "", NAN), (2 * MIN, 94.0, "", NAN),
             (3 * MIN, 95.0, "L", NAN), (DAY_MS, 95.0, "L", NAN)]
    got = [f for f, _ in run({"daily_loss_stop": 0.05}, steps)]
    assert got == ["L", "", "XL", "", "L"]


def test_daily_loss_is_weighted_by_position_size_and_side() -> None:
    # a 0.5 short from 100: a rise to 108 loses 4 % of equity (< 5 %), to 112 loses 6 %
    steps = [(0, 100.0, "S", 0.5), (MIN, 108.0, "", NAN), (2 * MIN, 112.0, "", NAN)]
    got = [f for f, _ in run({"daily_loss_stop": 0.05}, steps)]
    assert got == ["S", "", "XS"]


def test_no_rules_no_gate() -> None:
    assert not RiskRules().active
    assert RiskRules(cooldown_bars=1).active


def test_rules_in_both_evaluators(bars_2021) -> None:
    data = {
        "name": "r",
        "nodes": [
            {"id": "rsi", "kind": "rsi", "params": {"period": 7}},
            {"id": "lo", "kind": "lt", "inputs": {"a": "rsi", "b": 35}},
            {"id": "hi", "kind": "gt", "inputs": {"a": "rsi", "b": 65}},
        ],
        "outputs": {"enter_long": "lo", "exit_long": "hi"},
    }
    bars = bars_2021.slice(0, 3000)
    free = vectorized(StrategySpec.from_dict(data), bars)
    guarded_spec = StrategySpec.from_dict({**data, "risk": {"cooldown_bars": 20, "max_trades_per_day": 3, "max_position": 0.4}})
    guarded = vectorized(guarded_spec, bars)
    assert guarded.enter_long.sum() < free.enter_long.sum()
    entries = np.flatnonzero(guarded.enter_long)
    per_day = np.bincount((bars.ts[entries] // DAY_MS).astype(int) - int(bars.ts[0] // DAY_MS))
    assert per_day.max() <= 3
    assert np.all(guarded.size[entries] == 0.4)
    stream = Streaming(guarded_spec)
    rows = [stream.update(bars.bar(i)) for i in range(len(bars))]
    assert np.array_equal([r.enter_long for r in rows], guarded.enter_long)
    assert np.array_equal([r.size for r in rows], guarded.size, equal_nan=True)
