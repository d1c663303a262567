"""The fingerprint: a hash of canonical inputs and the exact trade list."""

from __future__ import annotations

from decimal import Decimal

from strategies.backtest import BacktestConfig, run_backtest
from strategies.fingerprint import canonical_json, fingerprint, spec_json
from tests.backtest.conftest import make_bars, make_signals

BARS = make_bars([(100, 101, 99, 100), (100, 102, 99, 101), (102, 103, 101, 102), (104, 105, 103, 104)])


def _fp(config: BacktestConfig, params=None, data_hash="d" * 64, spec=None) -> str:
    res = run_backtest(BARS, make_signals(4, enter_long=[0], exit_long=[2]), config)
    return fingerprint(data_hash, spec, params or {"fast": "10"}, config.settings(), res.trade_rows(),
                       res.grid.cash(res.final_equity_units))


def test_same_inputs_same_fingerprint():
    cfg = BacktestConfig(cash=Decimal("1000"))
    assert _fp(cfg) == _fp(BacktestConfig(cash=Decimal("1000.00")))  # settings are normalised decimals
    assert len(_fp(cfg)) == 64


def test_every_input_changes_it():
    base = _fp(BacktestConfig(cash=Decimal("1000")))
    others = {
        _fp(BacktestConfig(cash=Decimal("1001"))), _fp(BacktestConfig(cash=Decimal("1000"), fee=Decimal("0.002"))),
        _fp(BacktestConfig(cash=Decimal("1000"), mode="exact")), _fp(BacktestConfig(cash=Decimal("1000")), {"fast": "11"}),
        _fp(BacktestConfig(cash=Decimal("1000")), data_hash="e" * 64),
        _fp(BacktestConfig(cash=Decimal("1000")), spec={"name": "x"}),
        _fp(BacktestConfig(cash=Decimal("1000"), lot=Decimal("0.001"))),
    }
    assert base not in others and len(others) == 7


def test_trade_rows_are_exact_strings_and_integers():
    res = run_backtest(BARS, make_signals(4, enter_long=[0], exit_long=[2]), BacktestConfig(cash=Decimal("1000")))
    (row,) = res.trade_rows()
    assert row == {
        "side": "long", "qty": "9.99000", "entry_bar": 1, "entry_ts": int(BARS.ts[1]), "entry_price": "100.00",
        "entry_fee": "0.99900000", "exit_bar": 3, "exit_ts": int(BARS.ts[3]), "exit_price": "104.00",
        "exit_fee": "1.03896000", "pnl": "37.92204000", "reason": "signal",
    }


def test_canonical_json_sorts_keys_and_drops_whitespace():
    assert canonical_json({"b": 1, "a": [1, "x"]}) == '{"a":[1,"x"],"b":1}'
    assert spec_json(None) == "null"
    assert spec_json({"z": 0.1, "a": 2}) == '{"a":2,"z":0.1}'
