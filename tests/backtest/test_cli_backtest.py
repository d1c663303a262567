"""``tickdesk backtest`` as a real subprocess: acceptance 2, errors, storage, store data."""

from __future__ import annotations

import gzip
import json
import math
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pytest

from tests.backtest.conftest import KLINES


def pinned_sma_cross(rows: np.ndarray, fast: int, slow: int, fee: float, cash: float, lot: float) -> dict:
    """An independent numpy implementation of the pinned sma_cross rule.

    SMA of close; cross up at bar i's close: fast > slow at i and fast <= slow at i-1, all four
    defined; a cross up while flat buys with all cash at bar i+1's open; a cross down sells the
    whole position at bar i+1's open; long only; fee on both sides' notional; equity marked at
    the last close. The cross down is the mirror: fast <= slow at i, fast > slow at i-1.
    "All cash", as documented: the largest whole number of lots whose notional
    plus the buy fee fits in the cash, floor(cash / (open * (1 + fee)) / lot) lots.
    """
    open_, close = rows[:, 1], rows[:, 4]
    kernel_f, kernel_s = np.ones(fast) / fast, np.ones(slow) / slow
    f = np.full(len(close), np.nan)
    s = np.full(len(close), np.nan)
    f[fast - 1:] = np.convolve(close, kernel_f, mode="valid")
    s[slow - 1:] = np.convolve(close, kernel_s, mode="valid")
    entries, exits, qtys = [], [], []
    qty = 0.0
    for i in range(1, len(close) - 1):
        if np.isnan(s[i - 1]) or np.isnan(f[i - 1]):
            continue
        up = f[i] > s[i] and f[i - 1] <= s[i - 1]
        down = f[i] <= s[i] and f[i - 1] > s[i - 1]
        price = open_[i + 1]
        if up and qty == 0.0:
            lots = math.floor(cash / (price * (1 + fee)) / lot)
            if lots > 0:
                qty = lots * lot
                cash -= qty * price * (1 + fee)
                entries.append(i + 1)
                qtys.append(qty)
        elif down and qty > 0.0:
            cash += qty * price * (1 - fee)
            qty = 0.0
            exits.append(i + 1)
    return {"entries": entries, "exits": exits, "qty": qtys, "final_equity": cash + qty * close[-1]}


def _rows(path: Path) -> np.ndarray:
    return np.asarray(json.loads(gzip.decompress(path.read_bytes())), dtype=np.float64)


@pytest.fixture
def store_env(tmp_path: Path) -> dict[str, str]:
    return {"TICKDESK_PATHS__DATA_DIR": str(tmp_path / "data")}


@pytest.mark.parametrize("name", KLINES)
def test_acceptance_2_sma_cross_equals_an_independent_numpy_implementation(run_cli, shared_data, store_env, name):
    path = shared_data / "klines" / name
    args = ("backtest", "--strategy", "sma_cross", "--param", "fast=10", "--param", "slow=30", "--data", path,
            "--fee", "0.001", "--cash", "10000", "--json")
    code, out, err = run_cli(*args, env=store_env)
    assert code == 0, err
    got = json.loads(out)
    ref = pinned_sma_cross(_rows(path), 10, 30, 0.001, 10000.0, 0.00001)
    assert got["entries"] == len(ref["entries"]) > 500
    assert got["exits"] == len(ref["exits"])
    assert [t["entry_bar"] for t in got["trades"]] == ref["entries"]
    assert [t["exit_bar"] for t in got["trades"] if t["exit_bar"] is not None] == ref["exits"]
    assert [Decimal(t["qty"]) for t in got["trades"]] == [Decimal(f"{q:.5f}") for q in ref["qty"]]
    # exact ledger (fee rounded up to 1e-8) vs floats: equal to well under a cent
    assert got["final_equity"] == pytest.approx(ref["final_equity"], abs=1e-4)
    assert got["bars"] == len(_rows(path))
    for key in ("total_return", "sharpe", "sortino", "max_drawdown", "fingerprint", "seconds"):
        assert key in got
    code2, out2, _ = run_cli(*args, env=store_env)
    assert code2 == 0 and json.loads(out2)["fingerprint"] == got["fingerprint"]


def test_results_are_stored_in_the_market_store(run_cli, kline_path, store_env):
    code, out, err = run_cli("backtest", "--strategy", "sma_cross", "--param", "fast=20", "--param", "slow=60",
                             "--data", kline_path, "--json", env=store_env)
    assert code == 0, err
    got = json.loads(out)
    db = Path(store_env["TICKDESK_PATHS__DATA_DIR"]) / "market.duckdb"
    con = duckdb.connect(str(db), read_only=True)
    try:
        run = con.execute("SELECT run_id, fingerprint, entries, exits, CAST(final_equity AS VARCHAR), metrics, "
                          "settings FROM backtests").fetchall()
        trades = con.execute("SELECT count(*), sum(pnl) FROM backtest_trades WHERE run_id = ?", [got["run_id"]]).fetchone()
    finally:
        con.close()
    assert len(run) == 1
    run_id, fp, entries, exits, final, metrics, settings = run[0]
    assert (run_id, fp, entries, exits) == (got["run_id"], got["fingerprint"], got["entries"], got["exits"])
    assert Decimal(final) == Decimal(got["final_equity_exact"])
    assert json.loads(metrics)["sharpe"] == pytest.approx(got["sharpe"])
    assert json.loads(settings)["fee"] == "0.001"
    assert trades[0] == got["entries"]
    assert trades[1] == sum(Decimal(t["pnl"]) for t in got["trades"])


def test_no_store_writes_nothing(run_cli, kline_path, store_env):
    code, out, err = run_cli("backtest", "--strategy", "sma_cross", "--data", kline_path, "--json", "--no-store",
                             "--no-trades", env=store_env)
    assert code == 0, err
    got = json.loads(out)
    assert got["run_id"] is None and "trades" not in got
    assert not (Path(store_env["TICKDESK_PATHS__DATA_DIR"]) / "market.duckdb").exists()


def test_store_bars_backtest_like_the_file(run_cli, kline_path, store_env):
    from core.store import MarketStore, bars_table

    rows = _rows(kline_path)[:5000]
    db = Path(store_env["TICKDESK_PATHS__DATA_DIR"]) / "market.duckdb"
    with MarketStore(db) as store:
        store.append_bars(bars_table(
            ("file", "BTC/USDT", "1m", int(r[0]) * 1_000_000, *(repr(float(x)) for x in r[1:6]), 0) for r in rows))
    small = db.parent / "small.json"
    small.write_text(json.dumps(rows.tolist()))
    results = []
    for data in ("store:file:BTC/USDT:1m", str(small)):
        code, out, err = run_cli("backtest", "--strategy", "sma_cross", "--data", data, "--json", "--no-store",
                                 env=store_env)
        assert code == 0, err
        results.append(json.loads(out))
    a, b = results
    assert a["bars"] == b["bars"] == 5000
    assert a["trades"] == b["trades"] and a["final_equity_exact"] == b["final_equity_exact"]


def test_exact_mode_from_the_cli_gives_the_bar_result(run_cli, kline_path, store_env):
    outs = []
    for mode in ("bar", "exact"):
        code, out, err = run_cli("backtest", "--strategy", "sma_cross", "--data", kline_path, "--mode", mode,
                                 "--json", "--no-store", env=store_env)
        assert code == 0, err
        outs.append(json.loads(out))
    assert outs[0]["trades"] == outs[1]["trades"]
    assert outs[0]["final_equity_exact"] == outs[1]["final_equity_exact"]


def test_human_summary(run_cli, kline_path, store_env):
    code, out, err = run_cli("backtest", "--strategy", "sma_cross", "--data", kline_path, "--no-store", env=store_env)
    assert code == 0, err
    assert "Sharpe" in out and "max drawdown" in out and "fingerprint" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--strategy", "no_such_template"), "no_such_template"),
        (("--strategy", "sma_cross", "--param", "fast=abc"), "fast"),
        (("--strategy", "sma_cross", "--param", "fast"), "--param 'fast' must look like name=value"),
        (("--strategy", "sma_cross", "--param", "fast=40", "--param", "slow=20"), "fast < slow"),
        (("--strategy", "sma_cross", "--fee", "lots"), "--fee 'lots' is not a number"),
        (("--strategy", "sma_cross", "--mode", "tick"), "mode must be one of bar, exact"),
        (("--strategy", "sma_cross", "--cash", "0"), "--cash must be a positive number"),
    ],
)
def test_bad_input_is_one_line_naming_it(run_cli, kline_path, store_env, extra, message):
    code, out, err = run_cli("backtest", "--data", kline_path, "--json", *extra, env=store_env)
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err
    assert not (Path(store_env["TICKDESK_PATHS__DATA_DIR"]) / "market.duckdb").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "does not exist"), (b"[]", "no candles (empty data)"), (b"not json", "not a candle file"),
     (b"[[1, 2, 3]]", "rows must be"), (b"[[2,1,1,1,1,1],[1,1,1,1,1,1]]", "is not after the previous one")],
)
def test_bad_data_is_one_line_naming_the_file(run_cli, tmp_path, store_env, content, message):
    path = tmp_path / "candles.json"
    if content is not None:
        path.write_bytes(content)
    code, out, err = run_cli("backtest", "--strategy", "sma_cross", "--data", path, env=store_env)
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err and "candles.json" in err


def test_missing_store_data_is_named(run_cli, store_env):
    code, _, err = run_cli("backtest", "--strategy", "sma_cross", "--data", "store:binance:BTC/USDT:1m", env=store_env)
    assert code != 0 and "market store" in err
    code, _, err = run_cli("backtest", "--strategy", "sma_cross", "--data", "store:binance", env=store_env)
    assert code != 0 and "store:VENUE:SYMBOL:TF" in err


def test_a_store_held_by_another_process_is_named_and_no_store_still_works(run_cli, kline_path, store_env):
    from core.store import MarketStore

    db = Path(store_env["TICKDESK_PATHS__DATA_DIR"]) / "market.duckdb"
    with MarketStore(db):  # this test process owns the file
        code, out, err = run_cli("backtest", "--strategy", "sma_cross", "--data", kline_path, "--json", env=store_env)
        assert code != 0 and out == ""
        assert "results not stored" in err and "--no-store" in err and len(err.strip().splitlines()) == 1
        code, out, err = run_cli("backtest", "--strategy", "sma_cross", "--data", kline_path, "--json", "--no-store",
                                 env=store_env)
        assert code == 0, err
