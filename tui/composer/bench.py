"""``tickdesk bench composer``: how long an edit takes to reach the chart on N bars.

Runs the real ``WorkstationApp`` headless (a paused sim source, nothing else running), opens
the composer on the first ``bars`` candles of a file (written to a temporary file, removed
afterwards), starts from the ``sma_cross`` template and edits ``fast_ma``'s period through the
node form with keys, ``edits`` times. For each edit it records the evaluation time (the thread
worker's ``vectorized`` call) and the edit-to-chart latency (from the applied edit to the
repaint after the preview message: debounce + evaluation + message + paint). Figures only; the
equality of preview and evaluator is what the tests check.
"""

from __future__ import annotations

import asyncio
import gzip
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson


async def _drive(settings: Any, data: Path, edits: int) -> list[tuple[float, float]]:
    from tui.app import WorkstationApp
    from tui.composer import jobs
    from tui.screens.composer import ComposerScreen
    from tui.sources.base import open_source

    old_dirs = jobs.KLINES_DIRS
    jobs.KLINES_DIRS = (data.parent,)
    try:
        app = WorkstationApp(open_source("sim", settings, paused=True), settings, wall_clock=lambda: 0.0)
        out: list[tuple[float, float]] = []
        async with app.run_test(size=(180, 50)) as pilot:
            await pilot.press("f7")
            screen = app.screen
            assert isinstance(screen, ComposerScreen)
            await _until(pilot, lambda: screen.bars is not None)
            await pilot.press("t", *["down"] * (1 + _template_index("sma_cross")), "enter")
            for k in range(edits):
                await _until(pilot, lambda: _settled(screen))
                screen.query_one("#nodes").highlighted = 0
                await pilot.press("enter", "ctrl+u", *str(5 + k % 5), "enter")
                await _until(pilot, lambda: _settled(screen) and screen.latency_s is not None)
                out.append((screen.preview.seconds, screen.latency_s))
                screen.latency_s = None
        return out
    finally:
        jobs.KLINES_DIRS = old_dirs


def _template_index(name: str) -> int:
    from strategies import templates

    return templates.names().index(name)


def _settled(screen: Any) -> bool:
    return screen.preview is not None and screen.preview.version == screen.edit_version


async def _until(pilot: Any, condition: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the composer did not update in time")
        await pilot.pause(0.01)


def run(settings: Any, source: Path, bars: int, edits: int) -> dict[str, Any]:
    """Measure; returns the figures (seconds) for printing or ``--json``."""
    from strategies.data import load_file

    loaded = load_file(source)
    n = min(bars, len(loaded.bars))
    cut = loaded.bars.slice(0, n)
    rows = [list(r) for r in zip(*(getattr(cut, f).tolist() for f in ("ts", "open", "high", "low", "close", "volume")))]
    with tempfile.TemporaryDirectory(prefix="tickdesk-bench-composer-") as tmp:
        path = Path(tmp) / f"bench_BTC_USDT-1m-{n}.json.gz"
        path.write_bytes(gzip.compress(orjson.dumps(rows)))
        samples = asyncio.run(_drive(settings, path, edits))
    evals = [s[0] for s in samples]
    latencies = [s[1] for s in samples]
    return {
        "bars": n, "edits": len(samples), "template": "sma_cross", "source": str(source),
        "eval_median_s": statistics.median(evals), "eval_max_s": max(evals),
        "edit_to_chart_median_s": statistics.median(latencies), "edit_to_chart_max_s": max(latencies),
        "debounce_s": _debounce(),
    }


def _debounce() -> float:
    from tui.screens.composer import DEBOUNCE_S

    return DEBOUNCE_S
