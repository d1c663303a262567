"""The strategy composer: the textual-free draft (field checks, wiring choices, validation
located on nodes), the component search, and the screen driven with keys only on the real
WorkstationApp (acceptance 5: sma_cross from scratch, preview == the evaluator on the same
data, backtest == the backtester run directly, save, reload == the built spec)."""

from __future__ import annotations

import time
from pathlib import Path
from decimal import Decimal

import numpy as np
import orjson
import pytest
from tests.tui.pilotkit import make_app
from textual.widgets import Input, Static

from strategies import templates
from strategies.backtest import BacktestConfig
from strategies.backtest_report import backtest_strategy
from strategies.components import REGISTRY
from strategies.data import load
from strategies.evaluate import vectorized
from strategies.spec import load_spec
from tui.composer import jobs
from tui.composer.draft import Draft
from tui.composer.forms import FormModal, PaletteModal, PromptModal
from tui.composer.results import BacktestResultsScreen
from tui.composer.search import rank
from tui.screens.composer import ComposerScreen
from tui.screens.confirm import ConfirmModal


# ---------------------------------------------------------------------- draft (no app)


def sma_cross_draft() -> Draft:
    d = Draft()
    for kind in ("close", "sma", "sma", "cross_over", "cross_under"):
        d.add_node(kind)
    d.apply_node("sma_1", {"params.period": "$fast", "inputs.source": "close_1"})
    d.apply_node("sma_2", {"params.period": "$slow", "inputs.source": "close_1"})
    for node in ("cross_over_1", "cross_under_1"):
        d.apply_node(node, {"inputs.a": "sma_1", "inputs.b": "sma_2"})
    d.apply_outputs({"outputs.enter_long": "cross_over_1", "outputs.exit_long": "cross_under_1"})
    assert d.declare_param("fast", "int", "10") == []
    assert d.declare_param("slow", "int", "30") == []
    return d


def test_param_field_errors_name_the_path_and_the_allowed_values():
    d = Draft()
    d.add_node("sma")
    assert d.check_field("sma_1", "params.period", "x") == (
        None, "nodes[0].params.period: must be an integer 2..1000, got 'x'")
    assert d.check_field("sma_1", "params.period", "1")[1] == "nodes[0].params.period: must be an integer 2..1000, got 1"
    assert d.check_field("sma_1", "params.period", "12") == (12, None)
    assert d.check_field("sma_1", "params.period", "") == (None, None)  # empty: the component default
    value, warning = d.check_field("sma_1", "params.period", "$fast")
    assert value == "$fast" and "unknown parameter '$fast' (declared: none" in warning
    d.add_node("threshold")
    assert d.check_field("threshold_1", "params.mode", "sideways")[1] == (
        "nodes[1].params.mode: must be one of 'above', 'below', 'crosses_above', 'crosses_below', got 'sideways'")


def test_input_choices_fit_the_port_type_and_never_make_a_cycle():
    d = sma_cross_draft()
    assert d.input_choices("cross_over_1", "a")[:3] == ["close_1", "sma_1", "sma_2"]
    # sma_1 feeds both crosses: neither may feed sma_1 (and they are bool anyway)
    assert "cross_over_1" not in d.input_choices("sma_1", "source")
    assert "sma_1" not in d.input_choices("sma_1", "source")
    # close_1 feeds sma_1 and sma_2: wiring them into close_1 is impossible (close has no inputs),
    # but sma_2 must not be offered to a node sma_2 depends on
    d.add_node("ema")
    d.apply_node("close_1", {})
    d.apply_node("ema_1", {"inputs.source": "sma_2"})
    assert "ema_1" not in d.input_choices("sma_2", "source")
    assert d.output_choices("enter_long") == ["cross_over_1", "cross_under_1"]
    assert d.check_field("cross_over_1", "inputs.a", "cross_under_1")[1].startswith(
        "nodes[3].inputs.a: expects a float series; choose one of: close_1, sma_1, sma_2")
    assert d.check_output("enter_long", "sma_1")[1] == (
        "outputs.enter_long: expects a bool node output; choose one of: cross_over_1, cross_under_1")


def test_draft_builds_the_template_signals_and_rename_follows_references(shared_data):
    d = sma_cross_draft()
    validation = d.validate()
    assert validation.issues == ()
    bars = load(str(sorted((shared_data / "klines").iterdir())[0])).bars.slice(0, 5000)
    ours, theirs = vectorized(validation.spec, bars), vectorized(templates.load("sma_cross"), bars)
    assert np.array_equal(ours.enter_long, theirs.enter_long) and ours.enter_long.any()
    assert np.array_equal(ours.exit_long, theirs.exit_long)
    d.rename_node("sma_1", "fast_ma")
    assert d.node("cross_over_1").inputs == {"a": "fast_ma", "b": "sma_2"}
    assert d.validate().issues == ()


def test_validation_issues_are_located_on_their_node_and_field():
    d = Draft()
    d.add_node("sma")
    d.apply_node("sma_1", {"params.period": "$fast"})
    d.add_node("cross_over")
    issues = d.validate().issues
    assert [(i.node, i.field, i.message) for i in issues] == [
        ("sma_1", "params.period", "unknown parameter '$fast' (declared: none)"),
        ("cross_over_1", "inputs.a", "required (float series)"),
        ("cross_over_1", "inputs.b", "required (float series)"),
    ]
    assert issues[0].text() == "sma_1: params.period: unknown parameter '$fast' (declared: none)"


def test_declare_param_errors_and_move_delete():
    d = Draft()
    assert d.declare_param("Fast", "int", "10") == ["params.Fast: the name must be lowercase letters, digits and _, got 'Fast'"]
    assert d.declare_param("fast", "int", "x", lo="2") == ["params.fast.default: default must be an integer >= 2, got 'x'"]
    assert d.declare_param("fast", "int", "10", lo="two") == ["params.fast.min: must be a number, got 'two'"]
    assert d.declare_param("fast", "int", "10", lo="2", hi="50") == []
    assert d.params == {"fast": {"type": "int", "default": 10, "min": 2.0, "max": 50.0}}
    for kind in ("close", "sma", "ema"):
        d.add_node(kind)
    assert d.move_node("ema_1", -1) == 1
    assert [n.id for n in d.nodes] == ["close_1", "ema_1", "sma_1"]
    d.remove_node("close_1")
    assert [n.id for n in d.nodes] == ["ema_1", "sma_1"]


def test_search_ranks_names_titles_categories_and_descriptions():
    assert [c.kind for c in rank("sma", 1)] == ["sma"]
    assert rank("cross over", 1)[0].kind == "cross_over"
    assert {c.kind for c in rank("cross", 2)} == {"cross_over", "cross_under"}
    assert rank("bollinger", 1)[0].kind == "bbands"  # found through the title/description
    assert rank("stop", 1)[0].kind == "stop_loss"
    assert len(rank("")) == len(rank("", None)) and rank("")[0].category == "source"
    assert rank("qqqqzzzz") == []


# ---------------------------------------------------------------------- the screen (Pilot)


def load_run(settings, run_id: str) -> tuple[str, int]:
    """(fingerprint, stored trades) of a run in the market store."""
    from core.store import MarketStore, default_store_path

    store = MarketStore(default_store_path(settings), read_only=True)
    try:
        _, rows = store.query("SELECT b.fingerprint, (SELECT count(*) FROM backtest_trades t WHERE t.run_id = b.run_id) "
                              "FROM backtests b WHERE b.run_id = ?", [run_id])
    finally:
        store.close()
    return rows[0]

async def until(pilot, condition, what: str, timeout: float = 120.0) -> None:
    """Let the app run until ``condition()`` holds (workers, timers, a spawned process)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


KEY_NAMES = {"enter", "tab", "shift+tab", "escape", "down", "up", "backspace", "delete", "ctrl+s", "ctrl+o", "f7"}


async def keys(pilot, *items: str) -> None:
    """Press keys; an item longer than one character that is not a key name is typed."""
    for item in items:
        if len(item) > 1 and item not in KEY_NAMES:
            await pilot.press(*item)
        else:
            await pilot.press(item)


async def open_composer(pilot) -> ComposerScreen:
    await pilot.press("f7")
    screen = pilot.app.screen
    assert isinstance(screen, ComposerScreen)
    return screen


async def preview_settled(pilot, screen: ComposerScreen) -> None:
    await until(pilot, lambda: screen.preview is not None and screen.preview.version == screen.edit_version,
                "the preview")


@pytest.mark.anyio
async def test_acceptance5_sma_cross_from_scratch_preview_backtest_save_reload(tui_settings, shared_data, tmp_path):
    app = make_app(tui_settings)
    async with app.run_test(size=(180, 50)) as pilot:
        screen = await open_composer(pilot)
        await until(pilot, lambda: screen.bars is not None, "the default candle file")
        data_ref = screen.data_ref
        assert data_ref == str(sorted((shared_data / "klines").iterdir())[0].resolve())

        await keys(pilot, "a", "close", "enter")              # no params, no inputs: no form
        await keys(pilot, "a", "sma", "enter")                # form: period, source, id
        assert isinstance(app.screen, FormModal)
        await keys(pilot, "$fast", "tab", "close_1", "enter")
        await keys(pilot, "a", "sma", "enter", "$slow", "tab", "close_1", "enter")
        await keys(pilot, "a", "cross over", "enter", "sma_1", "tab", "sma_2", "enter")
        await keys(pilot, "a", "cross under", "enter", "sma_1", "tab", "sma_2", "enter")
        assert app.screen is screen
        assert "unknown parameter '$fast'" in str(screen.query_one("#issues", Static).render())
        await keys(pilot, "o", "cross_over_1", "tab", "cross_under_1", "enter")
        await keys(pilot, "p", "fast", "tab", "tab", "10", "enter", "slow", "tab", "tab", "30", "enter", "escape")
        assert app.screen is screen
        assert screen.validation.issues == ()
        built = screen.validation.spec
        assert [n.id for n in built.nodes] == ["close_1", "sma_1", "sma_2", "cross_over_1", "cross_under_1"]
        assert built.param_values() == {"fast": 10, "slow": 30}

        # preview == the evaluator on the template, same data
        await preview_settled(pilot, screen)
        loaded = load(data_ref)
        reference = vectorized(templates.load("sma_cross"), loaded.bars)
        assert np.array_equal(screen.preview.signals.enter_long, reference.enter_long)
        assert np.array_equal(screen.preview.signals.exit_long, reference.exit_long)
        assert screen.preview.counts["enter_long"] == int(reference.enter_long.sum()) > 0
        chart = screen.query_one("#chart")
        header = chart.render_line(0).text
        assert header.startswith("BTC/USDT 1m") and "• close_1 • sma_1 • sma_2" in header
        buys = set(np.flatnonzero(reference.enter_long).tolist())
        sells = set(np.flatnonzero(reference.exit_long).tolist())
        assert chart.markers == {i: frozenset({"buy"} if i in buys else set()) | ({"sell"} if i in sells else set())
                                 for i in buys | sells}
        assert set(chart.overlays) == {"close_1", "sma_1", "sma_2"}

        # backtest (separate process) == the backtester run directly
        await keys(pilot, "b", "enter")
        await until(pilot, lambda: isinstance(app.screen, BacktestResultsScreen) or (
            screen.outcome is not None and screen.outcome.error), "the backtest")
        outcome = screen.outcome
        assert outcome.error is None
        direct = backtest_strategy("sma_cross", {}, loaded, BacktestConfig(cash=Decimal("10000"), fee=Decimal("0.001"),
                                                                           symbol=loaded.symbol)).result
        ran = outcome.record
        assert (ran.bars, ran.entries, ran.exits) == (len(loaded.bars), direct.entries, direct.exits)
        assert ran.final_equity == direct.grid.cash(direct.final_equity_units)
        assert ran.metrics == direct.metrics
        assert ran.trades == direct.trade_rows()
        assert np.array_equal(outcome.equity, direct.equity)
        assert outcome.run_id and outcome.store_note == f"stored as run {outcome.run_id}"
        stored = load_run(tui_settings, outcome.run_id)
        assert stored == (ran.fingerprint, len(ran.trades))
        await pilot.pause()
        results = app.screen
        assert results.query_one("#trades").row_count == len(ran.trades)
        metric_rows = dict(results.query_one("#metrics").get_row_at(i) for i in range(results.query_one("#metrics").row_count))
        assert metric_rows["final equity"] == ran.final_equity
        assert metric_rows["total return"] == f"{ran.metrics['total_return'] * 100:,.2f} %"
        await keys(pilot, "escape")
        assert app.screen is screen

        # save, start over, reload
        path = tmp_path / "mine.toml"
        await keys(pilot, "ctrl+s")
        assert isinstance(app.screen, PromptModal)
        app.screen.query_one(Input).value = str(path)
        await keys(pilot, "enter")
        assert app.screen is screen
        saved = screen.path
        assert Path(saved) == path
        assert load_spec(saved) == built
        await keys(pilot, "n")
        assert screen.draft.nodes == []
        await keys(pilot, "ctrl+o")
        app.screen.query_one(Input).value = saved
        await keys(pilot, "enter")
        assert app.screen is screen
        assert screen.validation.spec == built


@pytest.mark.anyio
async def test_a_bad_field_shows_inline_and_blocks_until_fixed(tui_settings, shared_data):
    app = make_app(tui_settings)
    async with app.run_test(size=(180, 50)) as pilot:
        screen = await open_composer(pilot)
        await keys(pilot, "a", "sma", "enter", "x")
        form = app.screen
        assert isinstance(form, FormModal)
        error = str(form.query_one("#error-0", Static).render())
        assert error == "nodes[0].params.period: must be an integer 2..1000, got 'x'"
        await keys(pilot, "enter")
        assert app.screen is form  # refused
        await keys(pilot, "backspace", "7", "tab", "nope")
        assert str(form.query_one("#error-0", Static).render()) == ""
        assert str(form.query_one("#error-1", Static).render()).startswith(
            "nodes[0].inputs.source: expects a float series; choose one of: open, high, low, close")
        await keys(pilot, "backspace", "backspace", "backspace", "backspace", "down", "enter")
        assert app.screen is screen
        assert screen.draft.node("sma_1").params == {"period": 7}
        assert screen.draft.node("sma_1").inputs == {"source": "open"}
        # strategy-level issues inline: no entry signal yet
        issues = str(screen.query_one("#issues", Static).render())
        assert "outputs: no entry signal" in issues
        # save refuses an invalid strategy, inline
        await keys(pilot, "ctrl+s", "enter")
        prompt = app.screen
        assert isinstance(prompt, PromptModal)
        assert str(prompt.query_one("#prompt-error", Static).render()).startswith("not saved: fix 1 issue(s) first (outputs: no entry signal")
        await keys(pilot, "escape")
        await keys(pilot, "ctrl+o")
        assert isinstance(app.screen, ConfirmModal)  # the sma_1 edits are not saved
        await keys(pilot, "y")
        app.screen.query_one(Input).value = "/nonexistent/spec.toml"
        await keys(pilot, "enter")
        assert str(app.screen.query_one("#prompt-error", Static).render()).startswith("cannot read /nonexistent/spec.toml")


@pytest.mark.anyio
async def test_template_start_and_palette_search(tui_settings, shared_data):
    app = make_app(tui_settings)
    async with app.run_test(size=(180, 50)) as pilot:
        screen = await open_composer(pilot)
        await keys(pilot, "t")
        names = templates.names()
        await keys(pilot, *["down"] * (1 + names.index("rsi_reversion")), "enter")
        assert screen.draft.name == "rsi_reversion"
        assert screen.validation.spec == templates.load("rsi_reversion")
        await until(pilot, lambda: screen.bars is not None, "data")
        await preview_settled(pilot, screen)
        loaded = load(screen.data_ref)
        assert np.array_equal(screen.preview.signals.enter_long,
                              vectorized(templates.load("rsi_reversion"), loaded.bars).enter_long)
        # reorder and delete with keys
        first, second = (n.id for n in screen.draft.nodes[:2])
        await keys(pilot, "J")
        assert [n.id for n in screen.draft.nodes[:2]] == [second, first]
        await keys(pilot, "K")
        assert [n.id for n in screen.draft.nodes[:2]] == [first, second]
        # edits not saved: starting over asks first; "n" keeps them, "y" discards
        await keys(pilot, "x")
        assert first not in [n.id for n in screen.draft.nodes]
        assert screen.dirty
        await keys(pilot, "n")
        assert isinstance(app.screen, ConfirmModal)
        await keys(pilot, "n")
        assert app.screen is screen and screen.draft.name == "rsi_reversion"
        await keys(pilot, "n", "y")
        assert app.screen is screen and screen.draft.nodes == [] and not screen.dirty
        await keys(pilot, "a", "bollinger")
        palette = app.screen
        assert isinstance(palette, PaletteModal)
        assert str(palette.query_one("#palette-doc", Static).render()).startswith(
            REGISTRY["bbands"].description[:30])
        await keys(pilot, "escape")
        assert app.screen is screen


@pytest.mark.anyio
async def test_no_candle_files_says_how_to_choose_data(tui_settings, tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "KLINES_DIRS", (tmp_path / "nothing-here",))
    app = make_app(tui_settings)
    async with app.run_test(size=(180, 50)) as pilot:
        screen = await open_composer(pilot)
        status = str(screen.query_one("#composer-status", Static).render())
        assert "no candle files in ../shared/data/klines: press d to choose data" in status
        await keys(pilot, "d")
        app.screen.query_one(Input).value = str(tmp_path / "missing.json")
        app.screen.query_one(Input).focus()
        await keys(pilot, "enter")
        await until(pilot, lambda: "does not exist" in screen.data_note, "the data error")
        assert screen.data_note == f"data file {tmp_path / 'missing.json'} does not exist (press d to choose data)"


def test_equity_columns_take_each_buckets_last_value():
    from tui.composer.chart import EquityChart

    chart = EquityChart(np.arange(10, dtype=np.float64))
    assert chart.columns(5).tolist() == [1.0, 3.0, 5.0, 7.0, 9.0]
    assert chart.columns(20).tolist()[-1] == 9.0 and len(chart.columns(20)) == 20
    assert EquityChart(np.zeros(0)).columns(5).tolist() == []


def test_only_price_scale_plots_are_overlaid(shared_data):
    bars = load(str(sorted((shared_data / "klines").iterdir())[0])).bars.slice(0, 3000)
    plots = {"sma": np.convolve(bars.close, np.ones(20) / 20, mode="same"), "rsi": np.linspace(0, 100, len(bars)),
             "atr": (bars.high - bars.low) * 14, "gappy": np.where(np.arange(len(bars)) < 50, np.nan, bars.close)}
    assert set(jobs.price_overlays(bars, plots)) == {"sma", "gappy"}
    preview = jobs.evaluate(templates.load("rsi_reversion"), bars, 1)
    assert set(jobs.price_overlays(bars, preview.signals.plots)) == set()  # the RSI stays off the candles


# ---------------------------------------------------------------------- tickdesk bench composer


def test_bench_composer_prints_figures_for_the_bars_asked(run_cli, shared_data):
    code, out, err = run_cli("bench", "composer", "--bars", "3000", "--edits", "2", "--json", timeout=300)
    assert code == 0, err
    figures = orjson.loads(out)
    assert (figures["bars"], figures["edits"], figures["template"]) == (3000, 2, "sma_cross")
    assert 0 < figures["eval_median_s"] <= figures["eval_max_s"]
    assert figures["debounce_s"] < figures["edit_to_chart_median_s"] <= figures["edit_to_chart_max_s"]


def test_bench_composer_refuses_bad_input_in_one_line(run_cli, tmp_path):
    code, out, err = run_cli("bench", "composer", "--bars", "10")
    assert (code, out, err.strip()) == (2, "", "tickdesk: error: --bars must be at least 100 and --edits 1..100, got 10 and 10")
    code, out, err = run_cli("bench", "composer", "--data", str(tmp_path / "none.json"))
    assert (code, out, err.strip()) == (2, "", f"tickdesk: error: data file {tmp_path / 'none.json'} does not exist")
