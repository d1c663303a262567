"""One backtest run end to end: spec + params -> signals -> fills -> metrics -> fingerprint.

Shared by ``tickdesk backtest``, the sweep workers and the benchmark, so the JSON object and the
stored record are built in one place. The strategy side goes through the strategies package's
contract: ``strategies.spec.load_spec(name_or_path, params)`` and
``strategies.evaluate.vectorized(spec, bars) -> Signals``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from strategies.backtest import BacktestConfig, BacktestResult, run_backtest
from strategies.data import LoadedData
from strategies.fingerprint import fingerprint, spec_json
from strategies.results import RunRecord
from strategies.signals import Bars, Signals

#: The fields ``--json`` always prints (pinned in ../shared/docs/architecture.md), in order.
PINNED = ("bars", "entries", "exits", "final_equity", "total_return", "sharpe", "sortino", "max_drawdown",
          "fingerprint", "seconds")


class StrategyError(ValueError):
    """The strategy could not be loaded or evaluated (unknown template, bad parameter)."""


def load_strategy(ref: str, params: dict[str, str]) -> Any:
    """The validated spec for a template name or spec file, with ``params`` applied."""
    from strategies.spec import load_spec

    try:
        return load_spec(ref, params)
    except (ValueError, KeyError, LookupError) as exc:
        text = exc.one_line() if hasattr(exc, "one_line") else " ".join(str(exc).split()) or type(exc).__name__
        raise StrategyError(f"strategy {ref!r}: {text}") from None
    except OSError as exc:
        raise StrategyError(f"strategy {ref!r}: cannot read it ({exc.strerror or exc})") from None


def evaluate(spec: Any, bars: Bars) -> Signals:
    from strategies.evaluate import vectorized

    try:
        return vectorized(spec, bars)
    except (ValueError, KeyError) as exc:
        text = exc.one_line() if hasattr(exc, "one_line") else " ".join(str(exc).split())
        raise StrategyError(f"strategy cannot be evaluated: {text}") from None


@dataclass
class Report:
    """A finished run: the result plus what identifies it."""

    strategy: str
    params: dict[str, str]
    spec: Any
    data: LoadedData
    result: BacktestResult
    fingerprint: str
    seconds: float  # signals + fills + metrics

    def as_json(self, with_trades: bool = True) -> dict:
        r = self.result
        m = r.metrics
        out: dict[str, Any] = {
            "bars": r.bars,
            "entries": r.entries,
            "exits": r.exits,
            "final_equity": float(r.final_equity),
            "total_return": m["total_return"],
            "sharpe": m["sharpe"],
            "sortino": m["sortino"],
            "max_drawdown": m["max_drawdown"],
            "fingerprint": self.fingerprint,
            "seconds": round(self.seconds, 6),
            "final_equity_exact": r.grid.cash(r.final_equity_units),
            "strategy": self.strategy,
            "params": self.params,
            "data": self.data.source,
            "symbol": r.config.symbol,
            "settings": r.config.settings(),
            "metrics": m,
        }
        if with_trades:
            out["trades"] = r.trade_rows()
        return out

    def record(self) -> RunRecord:
        r = self.result
        return RunRecord(
            strategy=self.strategy, spec=spec_json(self.spec), params=self.params, data=self.data.source,
            data_hash=self.data.data_hash, settings=r.config.settings(), bars=r.bars, entries=r.entries,
            exits=r.exits, final_equity=r.grid.cash(r.final_equity_units), metrics=r.metrics,
            fingerprint=self.fingerprint, seconds=self.seconds, trades=r.trade_rows(),
        )


def backtest_signals(strategy: str, params: dict[str, str], spec: Any, signals: Signals, data: LoadedData,
                     config: BacktestConfig, started: float | None = None) -> Report:
    """Backtest ready signals and fingerprint the run."""
    t0 = time.perf_counter() if started is None else started
    result = run_backtest(data.bars, signals, config)
    fp = fingerprint(data.data_hash, spec, params, config.settings(), result.trade_rows(),
                     result.grid.cash(result.final_equity_units))
    return Report(strategy, params, spec, data, result, fp, time.perf_counter() - t0)


def backtest_strategy(strategy: str, params: dict[str, str], data: LoadedData, config: BacktestConfig) -> Report:
    """Load the strategy, evaluate it on the data and backtest it."""
    spec = load_strategy(strategy, params)
    t0 = time.perf_counter()
    signals = evaluate(spec, data.bars)
    return backtest_signals(strategy, params, spec, signals, data, config, started=t0)
