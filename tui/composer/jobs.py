"""The composer's background work, textual-free: finding data, evaluating a preview, and the
backtest job that runs in a separate process (a backtest is CPU-bound; in a thread it would
hold the GIL and starve the UI).

Everything here is a plain function of plain values so the screen's workers stay thin and the
process job pickles cleanly (spec as a mapping, data as a reference string, config as strings).
The job runs as ``python -m tui.composer.jobs`` (request pickled on stdin, outcome on stdout):
a plain subprocess rather than ``multiprocessing``, whose spawn start passes ``sys.stderr``'s
descriptor along and fails while Textual has replaced ``sys.stderr`` with its print capture.
"""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from strategies.results import RunRecord
from strategies.signals import SIGNAL_FLAGS, Bars, Signals

#: Where ``../shared/data/klines`` may be: beside the working directory's repository, or
#: beside this installed tree.
KLINES_DIRS = (
    Path("..") / "shared" / "data" / "klines",
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "klines",
)
KLINE_SUFFIXES = (".json", ".json.gz", ".gz")


def kline_files(dirs: tuple[Path, ...] | None = None) -> list[Path]:
    """Candle files in the klines folders that exist (``KLINES_DIRS`` by default), sorted by
    name, deduplicated."""
    seen: dict[Path, Path] = {}
    for folder in KLINES_DIRS if dirs is None else dirs:
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.name.endswith(KLINE_SUFFIXES):
                    seen.setdefault(path.resolve(), path.resolve())
    return list(seen.values())


def store_refs(data_dir: Path) -> tuple[list[str], str | None]:
    """``store:VENUE:SYMBOL:TF`` references with bars in the market store (read-only), and
    why none could be listed (no store yet, held by another process...)."""
    from core.journal import StoreOwnedError
    from core.store import STORE_FILE, MarketStore, StoreError

    path = Path(data_dir) / STORE_FILE
    if not path.is_file():
        return [], f"no market store at {path}"
    try:
        store = MarketStore(path, read_only=True)
    except (StoreError, StoreOwnedError) as exc:
        return [], f"market store not readable: {exc}"
    try:
        _, rows = store.query("SELECT venue, symbol, tf FROM bars GROUP BY ALL ORDER BY ALL")
    finally:
        store.close()
    return [f"store:{v}:{s}:{tf}" for v, s, tf in rows], None


# ------------------------------------------------------------------ preview


@dataclass(frozen=True, eq=False)
class Preview:
    """One evaluation of the draft on the data: full signals plus what it cost."""

    version: int
    signals: Signals
    seconds: float

    @property
    def counts(self) -> dict[str, int]:
        return {name: int(np.count_nonzero(getattr(self.signals, name))) for name in SIGNAL_FLAGS}


def evaluate(spec: Any, bars: Bars, version: int) -> Preview:
    """Vectorized signals of ``spec`` on ``bars``, timed (the preview's evaluation)."""
    from strategies.evaluate import vectorized

    t0 = time.perf_counter()
    signals = vectorized(spec, bars)
    return Preview(version, signals, time.perf_counter() - t0)


def price_overlays(bars: Bars, plots: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The plots that share the price scale (moving averages, bands, stops), to draw over the
    candles; oscillators and volumes (RSI 0..100, ATR, OBV) would flatten the candles, so they
    are left out: a plot qualifies when its 1st..99th percentile lies within the data's price
    range widened by a fifth."""
    if not len(bars):
        return {}
    lo, hi = float(bars.low.min()), float(bars.high.max())
    out = {}
    for name, series in plots.items():
        finite = np.asarray(series, dtype=np.float64)
        finite = finite[np.isfinite(finite)]
        if len(finite):
            p1, p99 = np.percentile(finite, (1, 99))
            if p1 >= lo * 0.8 and p99 <= hi * 1.2:
                out[name] = np.asarray(series, dtype=np.float64)
    return out


def signal_bars(signals: Signals) -> np.ndarray:
    """Bar indexes with any flag set (for jumping between signals on the chart)."""
    any_flag = signals.enter_long | signals.exit_long | signals.enter_short | signals.exit_short
    return np.flatnonzero(any_flag)


# ------------------------------------------------------------------ backtest (process job)


@dataclass(frozen=True)
class BacktestRequest:
    spec: dict[str, Any]
    data: str
    data_dir: str
    cash: str = "10000"
    fee: str = "0.001"
    mode: str = "bar"
    store: bool = True


@dataclass
class BacktestOutcome:
    """What the results screen shows (plain values: it crosses a process boundary). ``record``
    is the stored form of the run (``strategies.results.RunRecord``); None when it failed."""

    record: RunRecord | None
    equity: np.ndarray
    ts: np.ndarray
    run_id: str | None = None
    store_note: str = ""
    error: str | None = None


def run_backtest_job(req: BacktestRequest) -> BacktestOutcome:
    """Load the data, evaluate the spec, backtest, store the run: ``tickdesk backtest``'s path
    (``strategies.backtest_report``) for a spec held in memory. Errors come back as
    ``error`` text (never an exception across the process boundary)."""
    from strategies.backtest import BacktestConfig
    from strategies.backtest_report import backtest_signals
    from strategies.data import DataError, load
    from strategies.evaluate import vectorized
    from strategies.spec import StrategySpec

    try:
        spec = StrategySpec.from_dict(req.spec)
        loaded = load(req.data, Path(req.data_dir))
        config = BacktestConfig(cash=Decimal(req.cash), fee=Decimal(req.fee), mode=req.mode,
                                symbol=loaded.symbol or "BTC/USDT")
        t0 = time.perf_counter()
        signals = vectorized(spec, loaded.bars)
        report = backtest_signals(spec.name, {}, spec, signals, loaded, config, started=t0)
    except (DataError, ValueError, ArithmeticError) as exc:
        text = exc.one_line() if hasattr(exc, "one_line") else " ".join(str(exc).split())
        return failed_outcome(req, text or type(exc).__name__)
    out = BacktestOutcome(report.record(), report.result.equity, report.result.ts)
    if req.store:
        out.run_id, out.store_note = _store(report, Path(req.data_dir))
    else:
        out.store_note = "not stored"
    return out


def _store(report: Any, data_dir: Path) -> tuple[str | None, str]:
    from core.journal import StoreOwnedError
    from core.store import STORE_FILE, MarketStore, StoreError
    from strategies.results import save

    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        store = MarketStore(data_dir / STORE_FILE)
    except (StoreError, StoreOwnedError, OSError) as exc:
        return None, f"not stored: {exc}"
    try:
        run_id = save(store.con, report.record())
    finally:
        store.close()
    return run_id, f"stored as run {run_id}"


def failed_outcome(req: BacktestRequest, text: str) -> BacktestOutcome:
    return BacktestOutcome(None, np.zeros(0), np.zeros(0, dtype=np.int64), error=text)


def fmt_metric(value: Any, pct: bool = False) -> str:
    """A metric for display (n/a when undefined)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value * 100:,.2f} %" if pct else f"{value:,.4f}"


def start_backtest_process(req: BacktestRequest) -> subprocess.Popen:
    """The job in a fresh interpreter; hand the process to ``finish_backtest_process``."""
    return subprocess.Popen([sys.executable, "-m", "tui.composer.jobs"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish_backtest_process(proc: subprocess.Popen, req: BacktestRequest) -> BacktestOutcome:
    """Send the request, wait, and read the outcome (an error outcome if the process died)."""
    out, err = proc.communicate(pickle.dumps(req))
    if proc.returncode != 0 or not out:
        tail = " ".join(err.decode(errors="replace").split()[-30:]) or f"exit code {proc.returncode}"
        return failed_outcome(req, f"backtest process failed: {tail}")
    return pickle.loads(out)


def _main() -> None:
    # Through the imported module, not ``__main__``: the parent unpickles tui.composer.jobs classes.
    from tui.composer import jobs

    req = pickle.loads(sys.stdin.buffer.read())
    sys.stdout.buffer.write(pickle.dumps(jobs.run_backtest_job(req)))


if __name__ == "__main__":
    _main()
