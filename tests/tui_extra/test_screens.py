"""Pilot tests of the feed-health, journal, SQL console and replay screens, each in a harness App
with ``.source`` and ``.settings`` (real sources: the seeded sim market, replays of
``../shared/data`` recordings, a capture with a deleted depth frame; a real DuckDB store)."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pyarrow as pa
import pytest
from textual.app import App
from textual.widgets import DataTable, Input, Static

from core.config import load_config
from core.store import MarketStore, default_store_path
from feeds.recordings import CaptureWriter, read_many
from tui.sources.base import open_source
from tui.sources.replay import ReplaySource
from tui.themes import DARK, THEMES

NS = 1_000_000_000
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """Pilot tests run on asyncio (Textual's loop) through anyio's pytest plugin."""
    return "asyncio"


class Harness(App):
    """The smallest app a screen needs: ``source``, ``settings``, the tickdesk themes."""

    def __init__(self, source, settings, screen_cls) -> None:
        super().__init__()
        self.source, self.settings, self.refresh_hz = source, settings, 15
        self.screen_cls = screen_cls
        for t in THEMES:
            self.register_theme(t)
        self.theme = DARK

    def on_mount(self) -> None:
        self.push_screen(self.screen_cls())


def _settings(tmp_path: Path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[simmarket]\nseed = 3\n[paths]\ndata_dir = "{tmp_path / "data"}"\n')
    return load_config(cfg, env={})


def _replayed(path: Path, **kw) -> ReplaySource:
    src = ReplaySource([path], speed=0, **kw)
    src.start()
    assert src.replay.wait(120)
    return src


async def _until(pilot, predicate, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("timed out")
        await pilot.pause(0.05)


def _cells(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


# --------------------------------------------------------------------------- health


async def test_health_screen_rows_match_the_source(shared_data, tmp_path):
    from tui.screens.health import FeedHealthScreen, health_cells, is_stale

    src = _replayed(shared_data / "okx/OKX.ws.1.0")
    try:
        app = Harness(src, _settings(tmp_path), FeedHealthScreen)
        async with app.run_test(size=(140, 30)) as pilot:
            screen = app.screen
            assert isinstance(screen, FeedHealthScreen)
            screen.pull()
            await pilot.pause()
            health = src.health()
            assert sorted(health) == ["okx:BTC/USD:BTC-220527", "okx:BTC/USDT", "okx:UNI/USD:UNI"]
            assert _cells(screen.query_one(DataTable)) == [list(health_cells(k, health[k])) for k in sorted(health)]
            row = health["okx:BTC/USDT"]
            assert (row["state"], row["gaps"], row["resyncs"], row["checksum_ok"], row["checksum_bad"]) == ("synced", 0, 0, 98, 0)
            assert 0 <= row["last_update_age_ms"] <= (src.replay.position_ns - src.replay.start_ns) / 1e6
            assert screen.stale_keys == {k for k, r in health.items() if is_stale(r)}
            assert "Feed health: replay:" in str(screen.query_one("#health-title", Static).render())
    finally:
        src.stop()


def test_health_cells_show_the_feeds_candle_history():
    from tui.screens.health import HealthTable, health_cells

    assert [c for c, _ in HealthTable.COLUMNS][-1] == "history"
    row = {"state": "synced", "history": "720 1m + 600 1s candles"}
    assert health_cells("binance:BTC/USDT", row)[-1] == "720 1m + 600 1s candles"
    assert health_cells("sim:BTC/USDT", {"state": "live"})[-1] == "-"  # sources without history
    assert len(health_cells("x", row)) == len(HealthTable.COLUMNS)


async def test_health_screen_highlights_a_stopped_feed(tmp_path):
    from tui.screens.health import FeedHealthScreen

    settings = _settings(tmp_path)
    src = open_source("sim", settings, ["BTC/USDT"], paused=True)
    src.start()
    app = Harness(src, settings, FeedHealthScreen)
    async with app.run_test(size=(140, 30)) as pilot:
        screen = app.screen
        await asyncio.wrap_future(src.step(10))
        screen.pull()
        await pilot.pause()
        assert screen.stale_keys == set()
        src.stop()
        screen.pull()
        await pilot.pause()
        assert screen.stale_keys == {"sim:BTC/USDT"}
        row = screen.query_one(DataTable).get_row_at(0)
        assert str(row[1]) == "stopped" and "bold" in str(row[1].style)
        assert "1 need attention" in str(screen.query_one("#health-title", Static).render())


# --------------------------------------------------------------------------- journal


async def test_journal_shows_fills_and_rejects_with_reasons_and_filters(tmp_path):
    from tui.screens.journal import JournalScreen

    settings = _settings(tmp_path)
    src = open_source("sim", settings, ["BTC/USDT"], paused=True)
    src.start()
    try:
        await asyncio.wrap_future(src.step(50))
        rejected = await asyncio.wrap_future(src.submit({"op": "new", "symbol": "BTC/USDT", "side": "buy", "type": "limit",
                                                          "price": "1.001", "qty": "0.01", "tif": "GTC"}))
        filled = await asyncio.wrap_future(src.submit({"op": "new", "symbol": "BTC/USDT", "side": "buy", "type": "market",
                                                        "qty": "0.001"}))
        reason = next(e for e in rejected if e["event"] == "rejected")["reason"]
        fills = [e for e in filled if e["event"] == "trade"]
        assert fills, filled
        app = Harness(src, settings, JournalScreen)
        async with app.run_test(size=(160, 30)) as pilot:
            screen = app.screen
            screen.pull()
            await pilot.pause()
            rows = _cells(screen.query_one(DataTable))
            kinds = [r[1] for r in rows]
            assert "reject" in kinds and kinds.count("fill") == len(fills)
            reject_row = rows[kinds.index("reject")]
            assert reject_row[2] == "rejected" and reject_row[4].startswith(reason)
            await pilot.press("slash")
            await pilot.press(*"kind:reject")
            await pilot.pause()
            assert [r[1] for r in _cells(screen.query_one(DataTable))] == ["reject"]
            await pilot.press("ctrl+a", "ctrl+k")  # clear the input
            await pilot.press(*"kind:fill BTC")
            await pilot.pause()
            assert [r[1] for r in _cells(screen.query_one(DataTable))] == ["fill"] * len(fills)
            assert f"{len(fills)} of {len(rows)} events shown" in str(screen.query_one("#journal-status", Static).render())
    finally:
        src.stop()


def _capture_without_one_depth_frame(shared_data: Path, tmp_path: Path) -> Path:
    """BINANCE.ws.1.0 (+ its REST snapshots) as a tickdesk capture with NKNUSDT's 20th depth frame gone."""
    out = tmp_path / "gap.jsonl"
    seen = 0
    with CaptureWriter(out, exchange="binance") as w:
        for rec in read_many([shared_data / "binance/BINANCE.ws.1.0"]):
            if rec.kind == "ws" and '"e":"depthUpdate"' in rec.raw and '"s":"NKNUSDT"' in rec.raw:
                seen += 1
                if seen == 20:
                    continue
            w.write(rec.ts_ns, rec.kind, rec.raw, url=rec.url, exchange=rec.exchange or "binance")
    return out


async def test_journal_shows_a_feed_gap_from_a_replay(shared_data, tmp_path):
    from tui.screens.journal import JournalScreen

    src = _replayed(_capture_without_one_depth_frame(shared_data, tmp_path))
    try:
        summary = src.summary()
        assert summary["NKN/USDT"]["gaps"] == 1 and summary["NKN/USDT"]["resyncs"] == 1
        app = Harness(src, _settings(tmp_path), JournalScreen)
        async with app.run_test(size=(160, 30)) as pilot:
            screen = app.screen
            screen.pull()
            await pilot.pause()
            rows = _cells(screen.query_one(DataTable))
            feed = [r for r in rows if r[1] == "feed"]
            assert [r[2] for r in feed] == ["feed_gap", "feed_resync"]
            assert all(r[3] == "NKN/USDT" for r in feed)
    finally:
        src.stop()


# --------------------------------------------------------------------------- SQL console


def _store_with_trades(settings) -> list[tuple]:
    rows = [("binance", "BTC/USDT", 1_000 + i, 2_000 + i, str(i), "buy" if i % 2 else "sell", f"6000{i}.5", "0.01")
            for i in range(5)] + [("okx", "ETH/USDT", 9_000, 9_001, "x", "sell", "2000.25", "1.5")]
    cols = ("venue", "symbol", "ts_ns", "recv_ns", "trade_id", "side", "price", "qty")
    table = pa.table({c: [r[i] for r in rows] for i, c in enumerate(cols)})
    store = MarketStore(default_store_path(settings))
    try:
        store.append_trades(table)
    finally:
        store.close()
    return rows


async def test_sql_console_queries_the_store_errors_inline_and_exports(tmp_path):
    from tui.screens.sql import SqlConsoleScreen

    settings = _settings(tmp_path)
    _store_with_trades(settings)
    src = open_source("sim", settings, ["BTC/USDT"], paused=True)
    app = Harness(src, settings, SqlConsoleScreen)
    async with app.run_test(size=(140, 30)) as pilot:
        screen = app.screen
        await pilot.press(*"SELECT venue, count(*) AS n, sum(qty) AS q FROM trades GROUP BY venue ORDER BY venue", "enter")
        await _until(pilot, lambda: screen.query_one(DataTable).row_count == 2)
        assert _cells(screen.query_one(DataTable)) == [["binance", "5", "0.050000000000"], ["okx", "1", "1.500000000000"]]
        assert screen.status_text.startswith("2 rows") and not screen.error

        box = screen.query_one("#sql-input", Input)
        box.value = "DELETE FROM trades"
        await pilot.press("enter")
        await _until(pilot, lambda: screen.error)
        assert screen.status_text.startswith("error: ") and "DELETE" in screen.status_text.upper()
        assert screen.query_one("#sql-status", Static).has_class("-error")

        box.value = "SELEC nonsense"
        await pilot.press("enter")
        await _until(pilot, lambda: screen.error and "SELEC" in screen.status_text)

        box.value = "SELECT trade_id, price FROM trades WHERE venue = 'binance' ORDER BY ts_ns"
        await pilot.press("enter")
        await _until(pilot, lambda: not screen.error and screen.status_text.startswith("5 rows"))
        out = tmp_path / "out.csv"
        await pilot.press("ctrl+s")
        await pilot.pause()
        app.screen.query_one(Input).value = str(out)
        await pilot.press("enter")
        await _until(pilot, lambda: screen.status_text.startswith("exported"))
        with open(out, newline="") as f:
            assert list(csv.reader(f)) == [["trade_id", "price"]] + [[str(i), f"6000{i}.500000000000"] for i in range(5)]

        await pilot.press("ctrl+s")
        await pilot.pause()
        app.screen.query_one(Input).value = str(tmp_path / "nodir" / "x.csv")
        await pilot.press("enter")
        await _until(pilot, lambda: screen.error)
        assert "does not exist" in screen.status_text and not (tmp_path / "nodir").exists()


async def test_sql_console_over_the_journal(tmp_path):
    from tui.screens.sql import SqlConsoleScreen

    settings = _settings(tmp_path)
    src = open_source("sim", settings, ["BTC/USDT"], paused=True)
    src.start()
    try:
        await asyncio.wrap_future(src.step(20))
        await asyncio.wrap_future(src.submit({"op": "new", "symbol": "BTC/USDT", "side": "buy", "type": "limit",
                                              "price": "0.001", "qty": "0.01", "tif": "GTC"}))
        app = Harness(src, settings, SqlConsoleScreen)
        async with app.run_test(size=(140, 30)) as pilot:
            screen = app.screen
            await pilot.press("ctrl+o")
            assert "target: journal" in screen.status_text
            await pilot.press(*"SELECT kind, event, reason FROM journal ORDER BY seq", "enter")
            await _until(pilot, lambda: screen.query_one(DataTable).row_count >= 1)
            _seq, events = src.state.events_since(0)
            assert _cells(screen.query_one(DataTable)) == [
                [kind, e["event"], str(e["reason"]) if e.get("reason") else "NULL"]
                for e, kind in ((e, "reject" if e["event"] == "rejected" else "order") for e in events)]
    finally:
        src.stop()


async def test_sql_console_without_a_store(tmp_path):
    from tui.screens.sql import SqlConsoleScreen

    settings = _settings(tmp_path)
    src = open_source("sim", settings, ["BTC/USDT"], paused=True)
    app = Harness(src, settings, SqlConsoleScreen)
    async with app.run_test(size=(140, 30)) as pilot:
        screen = app.screen
        await pilot.press(*"SELECT 1", "enter")
        await _until(pilot, lambda: screen.error)
        assert f"no market store at {default_store_path(settings)}" in screen.status_text


# --------------------------------------------------------------------------- replay


async def test_replay_screen_transport(shared_data, tmp_path):
    from tui.screens.replay import ReplayScreen
    from tui.widgets.ladder import Ladder

    src = ReplaySource([shared_data / "binance/binance_spot_btcusdt_20240808.gz"], speed=1, playing=False)
    src.start()
    try:
        app = Harness(src, _settings(tmp_path), ReplayScreen)
        async with app.run_test(size=(160, 40)) as pilot:
            screen = app.screen
            ctl = src.replay
            transport = screen.query_one("#replay-transport", Static)
            await pilot.pause(0.2)
            assert "paused" in str(transport.render()) and "x1" in str(transport.render())
            start = ctl.position_ns
            for _ in range(3):
                await pilot.press("full_stop")
            await _until(pilot, lambda: ctl.handled >= 3 and ctl.position_ns > start)
            await pilot.press("plus", "plus", "minus")
            assert ctl.speed == 2.0
            await pilot.press("g")
            await pilot.pause()
            box = app.screen.query_one(Input)
            box.value = "+120"
            target = ctl.position_ns + 120 * NS
            await pilot.press("enter")
            await _until(pilot, lambda: ctl.position_ns == target)
            view = src.state.view("BTC/USDT")
            assert view.best_bid is not None and view.ts == target
            await _until(pilot, lambda: (v := screen.query_one(Ladder).view) is not None and v.version == view.version)
            assert "00:0" in str(transport.render()) or "23:5" in str(transport.render())
            await pilot.press("space")
            await _until(pilot, lambda: ctl.playing)
            await pilot.press("space")
            await _until(pilot, lambda: not ctl.playing)
            await pilot.press("g")
            await pilot.pause()
            app.screen.query_one(Input).value = "not a time"
            await pilot.press("enter")
            await pilot.pause()
            assert ctl.position_ns >= target
    finally:
        src.stop()


async def test_replay_screen_on_a_source_that_is_not_a_replay(tmp_path):
    from tui.screens.replay import ReplayScreen

    settings = _settings(tmp_path)
    src = open_source("sim", settings, ["BTC/USDT"], paused=True)
    app = Harness(src, settings, ReplayScreen)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("space", "full_stop", "plus")
        notice = str(app.screen.query_one("#replay-notice", Static).render())
        assert notice.startswith("sim is not a replay")


def test_parse_jump():
    from tui.screens.replay import parse_jump

    pos = 1_723_161_600 * NS + 250_000_000  # 2024-08-09 00:00:00.250 UTC
    assert parse_jump("+1.5", pos) == pos + 1_500_000_000
    assert parse_jump("-60", pos) == pos - 60 * NS
    assert parse_jump("00:01:02", pos) == 1_723_161_662 * NS
    assert parse_jump("00:01:02.125", pos) == 1_723_161_662 * NS + 125_000_000
    assert parse_jump("2024-08-08T23:59:00Z", pos) == 1_723_161_540 * NS
    with pytest.raises(ValueError, match="'soon' is not a time"):
        parse_jump("soon", pos)
