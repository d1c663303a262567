"""Sweeps: grid parsing, invalid combinations, ranking, walk-forward, Monte Carlo, the CLI."""

from __future__ import annotations

import gzip
import json
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from strategies.backtest import BacktestConfig
from strategies.backtest_report import backtest_strategy
from strategies.data import load
from strategies.sweep import (
    SweepError,
    SweepJob,
    fold_bounds,
    invalid_reason,
    monte_carlo,
    parse_grid,
    path_drawdown,
    rank,
    run_sweep,
)


@pytest.fixture(scope="module")
def small_file(kline_path, tmp_path_factory) -> Path:
    """The first 12,000 candles of a real file (a temporary copy, never in the repo)."""
    rows = json.loads(gzip.decompress(kline_path.read_bytes()))[:12_000]
    path = tmp_path_factory.mktemp("klines") / "BTC_USDT-1m-part.json"
    path.write_text(json.dumps(rows))
    return path


def test_parse_grid():
    assert parse_grid("fast=5:50:5") == ("fast", [str(v) for v in range(5, 55, 5)])
    assert parse_grid("slow=20:200:10")[1][-1] == "200"
    assert parse_grid("k=0.5:1.5:0.5") == ("k", ["0.5", "1", "1.5"])
    assert parse_grid("fast=3,7,9") == ("fast", ["3", "7", "9"])
    for bad in ("fast", "fast=5:1:1", "fast=1:5:0", "fast=a:b:c", "fast=1:2"):
        with pytest.raises(SweepError, match="--grid"):
            parse_grid(bad)


def test_invalid_combinations():
    assert invalid_reason({"fast": "30", "slow": "30"}) == "fast >= slow"
    assert invalid_reason({"fast": "10", "slow": "30"}) is None
    assert invalid_reason({"ma_fast": "50", "ma_slow": "20"}) == "ma_fast >= ma_slow"


def test_fold_bounds_cover_the_bars_without_overlap():
    b = fold_bounds(1000, 3)
    assert b == [(0, 250), (250, 500), (500, 750), (750, 1000)]


def test_ranking_puts_undefined_last_and_drawdown_lowest_first():
    rows = [{"params": {"a": str(i)}, "metrics": {"sharpe": s, "max_drawdown": d}}
            for i, (s, d) in enumerate([(1.0, 0.3), (None, 0.1), (2.0, 0.2)])]
    assert [r["params"]["a"] for r in rank(rows, "sharpe")] == ["2", "0", "1"]
    assert [r["params"]["a"] for r in rank(rows, "max_drawdown")] == ["1", "2", "0"]


def test_monte_carlo_drawdown_distribution_is_seeded():
    rets = np.array([0.1, -0.2, 0.05, -0.05, 0.15, -0.1])
    a, b = monte_carlo(rets, 500, 7), monte_carlo(rets, 500, 7)
    assert a == b and a != monte_carlo(rets, 500, 8)
    d = a["max_drawdown"]
    assert d["p5"] <= d["p50"] <= d["p95"] <= d["worst"]
    # a drawdown by hand: 1.1 -> 0.88 -> 0.924 -> 0.8778 -> ...: peak 1.1, trough 0.8778
    assert path_drawdown(rets[None, :4])[0] == pytest.approx(1 - 0.8778 / 1.1)


def test_sweep_with_any_executor_matches_single_backtests(small_file):
    job = SweepJob("sma_cross", str(small_file), None, BacktestConfig(fee=Decimal("0.001")), "sharpe", folds=2)
    grid = {"fast": ["10", "20", "30"], "slow": ["20", "40"]}
    with ThreadPoolExecutor(2) as pool:
        out = run_sweep(job, grid, executor=pool, top=10, monte_carlo_runs=200, seed=3)
    assert (out["combinations"], out["evaluated"], out["invalid"]) == (6, 4, 2)
    assert out["invalid_reasons"] == {"fast >= slow": 2}  # (20, 20), (30, 20)
    sharpes = [r["metrics"]["sharpe"] for r in out["ranked"]]
    assert sharpes == sorted(sharpes, reverse=True)
    data = load(str(small_file))
    for row in out["ranked"]:
        single = backtest_strategy("sma_cross", row["params"], data, job.config)
        assert row["metrics"]["sharpe"] == single.result.metrics["sharpe"]
        assert row["metrics"]["trades"] == single.result.metrics["trades"]
    wf = out["walk_forward"]
    assert [f["fold"] for f in wf["folds"]] == [1, 2]
    for f in wf["folds"]:
        assert f["params"] in [r["params"] for r in out["ranked"]]
    mc = out["monte_carlo"]
    assert mc["params"] == out["ranked"][0]["params"] and mc["runs"] == 200


def test_acceptance_6_sweep_cli_100_pairs_ranked(run_cli, kline_path, tmp_path):
    env = {"TICKDESK_PATHS__DATA_DIR": str(tmp_path)}
    code, out, err = run_cli("sweep", "--strategy", "sma_cross", "--grid", "fast=2:20:2", "--grid", "slow=30:120:10",
                             "--data", kline_path, "--jobs", "2", "--top", "100", "--json", timeout=600, env=env)
    assert code == 0, err
    got = json.loads(out)
    assert (got["combinations"], got["evaluated"], got["invalid"]) == (100, 100, 0)
    assert len(got["ranked"]) == 100 and [r["rank"] for r in got["ranked"]] == list(range(1, 101))
    sharpes = [r["metrics"]["sharpe"] for r in got["ranked"]]
    assert sharpes == sorted(sharpes, reverse=True)
    assert len({(r["params"]["fast"], r["params"]["slow"]) for r in got["ranked"]}) == 100
    assert got["jobs"] == 2 and got["cpu"]["cpu_seconds"] > 0  # measured, reported (no timing assertion)
    workers = got["cpu"]["workers"]
    assert len(workers) == 2 and sum(w["combinations"] for w in workers) == 100  # both processes took work


def test_sweep_cli_human_table_and_errors(run_cli, small_file, tmp_path):
    env = {"TICKDESK_PATHS__DATA_DIR": str(tmp_path)}
    code, out, err = run_cli("sweep", "--strategy", "sma_cross", "--grid", "fast=10:30:10", "--grid", "slow=20:40:10",
                             "--data", small_file, "--jobs", "2", "--walk-forward", "2", "--monte-carlo", "100", env=env)
    assert code == 0, err
    assert "skipped as invalid" in out and "walk-forward fold 2" in out and "Monte Carlo" in out
    for args, message in [
        (("--grid", "fast=1:2"), "--grid"), (("--metric", "luck"), "--metric 'luck'"),
        (("--strategy", "nope"), "nope"), (("--jobs", "-1"), "--jobs"),
    ]:
        base = ["sweep", "--strategy", "sma_cross", "--data", str(small_file)]
        if args[0] == "--strategy":
            base[2] = args[1]
            args = ()
        code, out, err = run_cli(*base, *args, env=env)
        assert code != 0 and out == "" and message in err and len(err.strip().splitlines()) == 1
