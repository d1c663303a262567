"""``tickdesk bench backtest``: the three implementations agree; the synthetic year is sound."""

from __future__ import annotations

import json

import numpy as np

from strategies.backtest_bench import gbm_year, tiled_year


def test_bench_backtest_json(run_cli, kline_path):
    code, out, err = run_cli("bench", "backtest", "--json", "--rounds", "1", "--data", kline_path, timeout=900)
    assert code == 0, err
    r = json.loads(out)
    assert r["bars"] == 525_600 and r["results_equal"] is True
    assert "tiled" in r["data"] and kline_path.name in r["data"]
    bar, ref, exact = r["bar_mode"], r["reference"], r["exact_mode"]
    assert bar["entries"] == ref["entries"] == exact["entries"] > 5000
    assert bar["exits"] == ref["exits"] == exact["exits"]
    assert bar["final_equity"] == exact["final_equity"]
    assert abs(float(bar["final_equity"]) - ref["final_equity"]) <= 0.01
    for d in (bar, ref, exact):
        assert d["seconds"] > 0


def test_bench_backtest_bad_input(run_cli, tmp_path):
    code, out, err = run_cli("bench", "backtest", "--rounds", "0")
    assert code != 0 and "--rounds" in err and out == ""
    code, out, err = run_cli("bench", "backtest", "--data", tmp_path / "missing.json.gz")
    assert code != 0 and "does not exist" in err


def test_tiled_year_keeps_candles_valid_and_is_deterministic(kline_path):
    a, b = tiled_year(kline_path, n=100_000), tiled_year(kline_path, n=100_000)
    assert len(a) == 100_000
    for f in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert (a.low <= np.minimum(a.open, a.close)).all() and (a.high >= np.maximum(a.open, a.close)).all()
    assert (np.diff(a.ts) == 60_000).all()
    cents = a.close * 100
    np.testing.assert_allclose(cents, np.rint(cents), atol=1e-6)  # on the 0.01 tick


def test_gbm_year_is_seeded():
    a, b = gbm_year(n=1000, seed=3), gbm_year(n=1000, seed=3)
    np.testing.assert_array_equal(a.close, b.close)
    assert not np.array_equal(a.close, gbm_year(n=1000, seed=4).close)
    assert (a.low <= np.minimum(a.open, a.close)).all() and (a.high >= np.maximum(a.open, a.close)).all()
