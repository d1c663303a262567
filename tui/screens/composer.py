"""``ComposerScreen``: build a strategy from components with the keyboard, see its signals on
the candles while editing, backtest it, save and load it.

The strategy is a ``tui.composer.draft.Draft`` (a spec being edited, textual-free). Every edit
re-validates the draft (issues shown inline, located on their node and field) and, after a
short debounce, evaluates it on the loaded bars in a thread worker (``vectorized`` is numpy:
milliseconds on 50k bars); the result comes back as a message and the chart draws the window
of bars with the overlays and entry/exit markers. A backtest runs in a separate process (a
thread would hold the GIL through the Python event loop) and opens the results screen.

Keys: a add · enter edit · x delete · K/J move · o outputs · p params · m settings ·
t template · n new · d data · b backtest · ctrl+s save · ctrl+o load · , . pan · < > signals ·
l latest.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Label, OptionList, Static
from textual.widgets.option_list import Option

from strategies import templates
from strategies.components import REGISTRY
from strategies.errors import SpecError
from strategies.signals import Bars
from strategies.spec import StrategySpec, dump_spec, read_spec_file
from tui.composer import jobs
from tui.composer.chart import PreviewCandles
from tui.composer.draft import Draft, FormField, NodeDraft, Validation
from tui.composer.forms import FormModal, ParamsModal, PaletteModal, PickModal, PromptModal
from tui.composer.results import BacktestResultsScreen
from tui.screens.confirm import ConfirmModal

DEBOUNCE_S = 0.15
BACKTEST_MODES = ("bar", "exact")


class DataLoaded(Message, bubble=False):
    def __init__(self, ref: str, bars: Bars | None, error: str | None, symbol: str | None = None) -> None:
        super().__init__()
        self.ref, self.bars, self.error, self.symbol = ref, bars, error, symbol


class PreviewReady(Message, bubble=False):
    def __init__(self, version: int, preview: jobs.Preview | None, error: str | None) -> None:
        super().__init__()
        self.version, self.preview, self.error = version, preview, error


class BacktestDone(Message, bubble=False):
    def __init__(self, outcome: jobs.BacktestOutcome) -> None:
        super().__init__()
        self.outcome = outcome


def node_line(node: NodeDraft, bad: bool) -> str:
    """One node in the list: mark, id, kind, non-default params and wired inputs."""
    params = ", ".join(f"{k}={v}" for k, v in node.params.items())
    inputs = ", ".join(f"{k}={v}" for k, v in node.inputs.items())
    text = f"{'✗' if bad else ' '} {node.id:<16} {node.kind}"
    if params:
        text += f"({params})"
    if inputs:
        text += f" ← {inputs}"
    return text


class ComposerScreen(Screen):
    """The strategy composer (mode ``composer``, f7)."""

    DEFAULT_CSS = """
    ComposerScreen #composer-status { height: 2; padding: 0 1; background: $panel; }
    ComposerScreen #composer-left { width: 60; }
    ComposerScreen #nodes { height: 1fr; }
    ComposerScreen #composer-right { width: 1fr; }
    ComposerScreen #chart { height: 1fr; border: round $panel; }
    ComposerScreen #issues { height: auto; max-height: 12; padding: 0 1; }
    ComposerScreen #issues.-bad { color: $error; }
    ComposerScreen #issues.-ok { color: $success; }
    ComposerScreen .section { height: auto; padding: 0 1; color: $foreground-muted; }
    """
    BINDINGS = [
        Binding("a", "add", "Add", id="composer.add"),
        Binding("e", "edit", "Edit", show=False, id="composer.edit"),
        Binding("x,delete", "delete", "Delete", id="composer.delete"),
        Binding("K,shift+up", "move(-1)", "Move up", show=False, id="composer.move-up"),
        Binding("J,shift+down", "move(1)", "Move down", show=False, id="composer.move-down"),
        Binding("o", "outputs", "Signals", id="composer.outputs"),
        Binding("p", "params", "Params", id="composer.params"),
        Binding("m", "settings", "Settings", show=False, id="composer.settings"),
        Binding("t", "template", "Template", id="composer.template"),
        Binding("n", "new", "New", show=False, id="composer.new"),
        Binding("d", "data", "Data", id="composer.data"),
        Binding("b", "backtest", "Backtest", id="composer.backtest"),
        Binding("ctrl+s", "save", "Save", id="composer.save"),
        Binding("ctrl+o", "load", "Load", id="composer.load"),
        Binding("comma", "pan(-1)", "Pan left", show=False, id="composer.pan-left"),
        Binding("full_stop", "pan(1)", "Pan right", show=False, id="composer.pan-right"),
        Binding("less_than_sign", "jump(-1)", "Prev signal", show=False, id="composer.prev-signal"),
        Binding("greater_than_sign", "jump(1)", "Next signal", show=False, id="composer.next-signal"),
        Binding("l", "latest", "Latest bars", show=False, id="composer.latest"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.draft = Draft()
        self.clean = self.draft.mapping()
        self.validation: Validation = self.draft.validate()
        self.data_ref: str | None = None
        self.data_note = ""
        self.bars: Bars | None = None
        self.edit_version = 0
        self.preview: jobs.Preview | None = None
        self.preview_error: str | None = None
        self.latency_s: float | None = None
        self.path: str | None = None
        self.backtest_form = {"cash": "10000", "fee": "0.001", "mode": "bar"}
        self.backtest_running = False
        self.outcome: jobs.BacktestOutcome | None = None
        self._edited_at: dict[int, float] = {}
        self._debounce: Timer | None = None
        self._proc: subprocess.Popen | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Static("", id="composer-status", markup=False)
        with Horizontal():
            with Vertical(id="composer-left"):
                yield Label(" nodes (a add · enter edit · x delete · K/J move)")
                yield OptionList(id="nodes")
                yield Static("", id="signals-view", classes="section", markup=False)
                yield Static("", id="params-view", classes="section", markup=False)
            with Vertical(id="composer-right"):
                yield PreviewCandles(id="chart")
                yield Static("", id="issues", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        files = jobs.kline_files()
        if files:
            self.load_data(str(files[0]))
        else:
            self.data_note = ("no candle files in ../shared/data/klines: press d to choose data "
                              "(a candle file or store:VENUE:SYMBOL:TF)")
        self.edited()
        self.query_one("#nodes", OptionList).focus()

    def on_unmount(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()  # a backtest still running when the app closes: nobody will read it

    # ------------------------------------------------------------------ edits

    @property
    def selected(self) -> str | None:
        nodes = self.query_one("#nodes", OptionList)
        if nodes.highlighted is None or not nodes.option_count:
            return None
        return nodes.get_option_at_index(nodes.highlighted).id

    def edited(self, select: str | None = None) -> None:
        """After any change: validate, redraw the lists, schedule a preview (debounced)."""
        self.edit_version += 1
        self._edited_at[self.edit_version] = time.perf_counter()
        self.validation = self.draft.validate()
        self.refresh_views(select)
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE_S, self.start_preview)

    def refresh_views(self, select: str | None = None) -> None:
        nodes = self.query_one("#nodes", OptionList)
        keep = select or self.selected
        bad = {i.node for i in self.validation.issues if i.node}
        nodes.clear_options()
        nodes.add_options([Option(node_line(n, n.id in bad), id=n.id) for n in self.draft.nodes])
        ids = [n.id for n in self.draft.nodes]
        if ids:
            nodes.highlighted = ids.index(keep) if keep in ids else min(len(ids) - 1, nodes.highlighted or 0)
        mapped = [f"{k} ← {v}" for k, v in self.draft.outputs.items()]
        self.query_one("#signals-view", Static).update("signals (o): " + (" · ".join(mapped) or "none mapped"))
        declared = [f"{k} {d['type']}={d['default']}" for k, d in self.draft.params.items()]
        self.query_one("#params-view", Static).update("params (p): " + (" · ".join(declared) or "none declared"))
        issues = self.query_one("#issues", Static)
        if self.validation.issues:
            issues.update(f"✗ {len(self.validation.issues)} issue(s):\n" + "\n".join(i.text() for i in self.validation.issues))
        elif self.draft.nodes:
            issues.update(f"✓ valid: {len(self.draft.nodes)} nodes")
        else:
            issues.update("empty strategy: a adds a component, t starts from a template")
        issues.set_class(bool(self.validation.issues), "-bad")
        issues.set_class(not self.validation.issues, "-ok")
        self.update_status()

    def data_text(self) -> str:
        """The data in use for the status line: its name and size, or what is wrong."""
        if self.data_note:
            return self.data_note
        if self.data_ref is None or self.bars is None:
            return "loading…"
        name = self.data_ref if self.data_ref.startswith("store:") else Path(self.data_ref).name
        return f"{name} ({len(self.bars):,} bars)"

    def update_status(self) -> None:
        d = self.draft
        line1 = f"composer · {d.name} ({d.timeframe}) · data: {self.data_text()}"
        if self.path:
            line1 += f" · file: {self.path}"
        if self.preview_error:
            line2 = f"preview failed: {self.preview_error}"
        elif self.preview is not None:
            c = self.preview.counts
            line2 = (f"preview: eval {self.preview.seconds * 1000:.1f} ms"
                     + (f", edit→chart {self.latency_s * 1000:.0f} ms" if self.latency_s is not None else "")
                     + f" · ▲ enter long {c['enter_long']} · ▽ exit long {c['exit_long']}"
                     + f" · ▼ enter short {c['enter_short']} · △ exit short {c['exit_short']}")
            if self.preview.version != self.edit_version:
                line2 += " · (updating…)"
        else:
            line2 = "preview: " + ("fix the issues to see signals" if self.validation.issues else "waiting for data")
        if self.backtest_running:
            line2 += " · backtest running…"
        self.query_one("#composer-status", Static).update(f"{line1}\n{line2}")

    # ------------------------------------------------------------------ preview

    def start_preview(self) -> None:
        self._debounce = None
        spec = self.validation.spec
        if spec is None or self.bars is None:
            self.draw_chart()
            self.update_status()
            return
        self.evaluate(spec, self.bars, self.edit_version)

    @work(thread=True, exclusive=True, group="composer-preview", exit_on_error=False)
    def evaluate(self, spec: StrategySpec, bars: Bars, version: int) -> None:
        try:
            self.post_message(PreviewReady(version, jobs.evaluate(spec, bars, version), None))
        except Exception as exc:  # a component failing at run time: show it, keep the UI alive
            self.post_message(PreviewReady(version, None, " ".join(str(exc).split()) or type(exc).__name__))

    @on(PreviewReady)
    def _preview_ready(self, msg: PreviewReady) -> None:
        if self.preview is not None and msg.version < self.preview.version:
            return  # an older evaluation finishing late
        self.preview, self.preview_error = msg.preview, msg.error
        self.draw_chart()
        started = self._edited_at.get(msg.version)
        self._edited_at = {v: t for v, t in self._edited_at.items() if v > msg.version}

        def painted() -> None:
            if started is not None:
                self.latency_s = time.perf_counter() - started
            self.update_status()

        self.call_after_refresh(painted)

    def draw_chart(self) -> None:
        """Signals and overlays of the current preview onto the chart (the bars are set when
        data loads); an invalid draft shows the candles alone."""
        chart = self.query_one("#chart", PreviewCandles)
        fresh = self.preview if self.validation.spec is not None and self.bars is not None else None
        if fresh is None or fresh.signals.n != len(self.bars):
            chart.show_signals(None, {})
            return
        chart.show_signals(fresh.signals, jobs.price_overlays(self.bars, fresh.signals.plots))

    def action_pan(self, direction: int) -> None:
        self.query_one("#chart", PreviewCandles).action_page(-direction)

    def action_jump(self, direction: int) -> None:
        """Scroll the chart so the previous/next signal sits a third of the way from the right."""
        if self.bars is None or self.preview is None:
            return
        chart = self.query_one("#chart", PreviewCandles)
        n, width = len(self.bars), chart.plot_width()
        centre = n - chart.bars_back - width // 3
        marks = jobs.signal_bars(self.preview.signals)
        ahead = marks[marks > centre] if direction > 0 else marks[marks < centre][::-1]
        if not len(ahead):
            self.notify("no further signal that way", timeout=2)
            return
        chart.bars_back = max(0, n - (int(ahead[0]) + width // 3 + 1))
        chart.action_scroll_bars(0)

    def action_latest(self) -> None:
        self.query_one("#chart", PreviewCandles).action_live()

    # ------------------------------------------------------------------ data

    def load_data(self, ref: str) -> None:
        self.data_ref, self.data_note, self.bars = ref, "", None
        self.query_one("#chart", PreviewCandles).show_history(None, "loading…")
        self.update_status()
        self._load(ref)

    @work(thread=True, exclusive=True, group="composer-data", exit_on_error=False)
    def _load(self, ref: str) -> None:
        from strategies.data import DataError, load

        try:
            loaded = load(ref, Path(self.app.settings.data_dir))
        except DataError as exc:
            self.post_message(DataLoaded(ref, None, str(exc)))
            return
        self.post_message(DataLoaded(ref, loaded.bars, None, loaded.symbol))

    @on(DataLoaded)
    def _data_loaded(self, msg: DataLoaded) -> None:
        if msg.ref != self.data_ref:
            return
        self.bars, self.data_note = msg.bars, (f"{msg.error} (press d to choose data)" if msg.error else "")
        self.preview = None
        label = msg.symbol or (Path(msg.ref).name if not msg.ref.startswith("store:") else msg.ref)
        self.query_one("#chart", PreviewCandles).show_history(self.bars, label)
        self.update_status()
        self.start_preview()

    def action_data(self) -> None:
        items = [(str(p), f"{p.name}") for p in jobs.kline_files()]
        refs, why = jobs.store_refs(Path(self.app.settings.data_dir))
        items += [(r, r) for r in refs]
        note = ("candle files from ../shared/data/klines" if items else "no candle files found in ../shared/data/klines")
        if why:
            note += f"; store: {why}"

        def chosen(ref: str | None) -> None:
            if ref:
                self.load_data(ref)

        self.app.push_screen(PickModal("Data for preview and backtest", items, note,
                                       free_text="or type a candle file path or store:VENUE:SYMBOL:TF"), chosen)

    # ------------------------------------------------------------------ nodes

    def action_add(self) -> None:
        def added(kind: str | None) -> None:
            if not kind:
                return
            node = self.draft.add_node(kind)
            self.edited(select=node.id)
            comp = REGISTRY[kind]
            if comp.params.model_fields or comp.inputs:
                self.edit_node(node.id)

        self.app.push_screen(PaletteModal(), added)

    @on(OptionList.OptionSelected, "#nodes")
    def _node_chosen(self, event: OptionList.OptionSelected) -> None:
        self.edit_node(event.option.id)

    def action_edit(self) -> None:
        if self.selected:
            self.edit_node(self.selected)

    def edit_node(self, node_id: str) -> None:
        node = self.draft.node(node_id)
        comp = REGISTRY.get(node.kind)
        if comp is None:
            self.notify(f"{node_id}: unknown component {node.kind!r}; delete the node", severity="error")
            return

        def applied(values: dict[str, Any] | None) -> None:
            if values is not None:
                self.edited(select=self.draft.apply_node(node_id, values))

        self.app.push_screen(
            FormModal(f"{node_id} · {comp.title} [{comp.category}]", self.draft.node_form(node_id),
                      lambda key, text: self.draft.check_field(node_id, key, text), doc=comp.description,
                      issues=[i.text() for i in self.validation.for_node(node_id)]),
            applied,
        )

    def action_delete(self) -> None:
        if self.selected:
            index = self.draft.remove_node(self.selected)
            ids = [n.id for n in self.draft.nodes]
            self.edited(select=ids[min(index, len(ids) - 1)] if ids else None)

    def action_move(self, delta: int) -> None:
        if self.selected:
            node_id = self.selected
            self.draft.move_node(node_id, delta)
            self.edited(select=node_id)

    # ------------------------------------------------------------------ signals, params, settings

    def action_outputs(self) -> None:
        def applied(values: dict[str, Any] | None) -> None:
            if values is not None:
                self.draft.apply_outputs(values)
                self.edited()

        issues = [i.text() for i in self.validation.issues if i.path.startswith("outputs")]
        self.app.push_screen(FormModal("Signals: map node outputs to what the strategy does",
                                       self.draft.outputs_form(), lambda key, text: self.draft.check_output(
                                           key.partition(".")[2], text), issues=issues), applied)

    def action_params(self) -> None:
        def closed(changed: bool | None) -> None:
            if changed:
                self.edited()

        self.app.push_screen(ParamsModal(self.draft), closed)

    def action_settings(self) -> None:
        def applied(values: dict[str, Any] | None) -> None:
            if values is not None:
                self.draft.apply_meta(values)
                self.edited()

        issues = [i.text() for i in self.validation.issues if i.node is None and not i.path.startswith("outputs")]
        self.app.push_screen(FormModal("Strategy settings and risk rules", self.draft.meta_form(),
                                       self.draft.check_meta, issues=issues), applied)

    def action_template(self) -> None:
        items = [("", "(empty strategy: start from scratch)")]
        for name in templates.names():
            items.append((name, f"{name:<22} {templates.raw(name).get('description', '')}"))

        def chosen(name: str | None) -> None:
            if name is not None:
                self.start_from(Draft(templates.raw(name)) if name else Draft(), None)

        self.discard_then(lambda: self.app.push_screen(PickModal("Start from a template", items), chosen))

    def action_new(self) -> None:
        self.discard_then(lambda: self.start_from(Draft(), None))

    def start_from(self, draft: Draft, path: str | None) -> None:
        self.draft, self.path, self.preview, self.latency_s = draft, path, None, None
        self.clean = draft.mapping()
        self.edited(select=draft.nodes[0].id if draft.nodes else None)

    @property
    def dirty(self) -> bool:
        """Edits since the last start, save or load (an empty draft has nothing to lose)."""
        return bool(self.draft.nodes) and self.draft.mapping() != self.clean

    def discard_then(self, action: Callable[[], None]) -> None:
        """Run ``action`` (which replaces the draft), asking first when there are unsaved edits."""
        if not self.dirty:
            action()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                action()

        self.app.push_screen(ConfirmModal("Discard changes?", f"{self.draft.name} has unsaved changes "
                                          "(ctrl+s saves them).", yes="Discard (y)"), answered)

    # ------------------------------------------------------------------ save / load

    def action_save(self) -> None:
        default = self.path or f"{self.draft.name}.toml"
        self.app.push_screen(PromptModal("Save strategy spec (.toml or .json)", default, self.save_to,
                                         hint="path of the spec file"))

    def save_to(self, text: str) -> str | None:
        """Write the spec to ``text``; the error to show inline, or None when saved."""
        if not text:
            return "path: empty; type the file to write, e.g. my_strategy.toml"
        spec = self.validation.spec
        if spec is None:
            first = self.validation.issues[0].text() if self.validation.issues else "no nodes"
            return f"not saved: fix {len(self.validation.issues)} issue(s) first ({first})"
        target = Path(text).expanduser()
        if target.suffix.lower() not in (".toml", ".json"):
            return f"path: must end in .toml or .json, got {target.name!r}"
        try:
            written = dump_spec(spec, target)
        except OSError as exc:
            return f"cannot write {target}: {exc.strerror or exc}"
        self.path, self.clean = str(written), self.draft.mapping()
        self.notify(f"saved {written}", timeout=4)
        self.update_status()
        return None

    def action_load(self) -> None:
        self.discard_then(lambda: self.app.push_screen(PromptModal(
            "Load strategy spec (.toml or .json)", self.path or "", self.load_from, hint="path of a spec file")))

    def load_from(self, text: str) -> str | None:
        """Load the spec at ``text`` into the composer; the error to show inline, or None."""
        if not text:
            return "path: empty; type the spec file to load"
        try:
            data = read_spec_file(Path(text).expanduser())
        except SpecError as exc:
            return exc.one_line()
        try:
            draft = Draft.from_spec(StrategySpec.from_dict(data))
        except SpecError as exc:
            try:
                StrategySpec.model_validate(data)  # structure fine: load it, show what is wrong
            except Exception:
                return f"{text}: {exc.one_line()}"
            draft = Draft(data)
        self.start_from(draft, text)
        return None

    # ------------------------------------------------------------------ backtest

    def action_backtest(self) -> None:
        if self.backtest_running:
            self.notify("a backtest is already running", severity="warning")
            return
        if self.validation.spec is None:
            self.notify("fix the strategy's issues before backtesting", severity="error")
            return
        if self.data_ref is None or self.bars is None:
            self.notify("no data loaded: press d to choose data", severity="error")
            return

        fields = [FormField("cash", "cash", "starting cash (quote currency)", self.backtest_form["cash"]),
                  FormField("fee", "fee", "fee rate on each side's notional, 0.001 = 0.1 %", self.backtest_form["fee"]),
                  FormField("mode", "mode", "bar (vectorized) or exact (matching engine)", self.backtest_form["mode"],
                            BACKTEST_MODES)]

        def confirmed(values: dict[str, Any] | None) -> None:
            if values is None:
                return
            self.backtest_form = {k: str(v) for k, v in values.items()}
            spec = self.validation.spec
            if spec is None or self.data_ref is None:
                return
            req = jobs.BacktestRequest(spec.to_dict(), self.data_ref, str(self.app.settings.data_dir),
                                       **self.backtest_form)
            self.backtest_running = True
            self.update_status()
            self.run_backtest(req)

        self.app.push_screen(FormModal(f"Backtest {self.draft.name} on {Path(self.data_ref).name}", fields,
                                       check_backtest_field), confirmed)

    @work(thread=True, exclusive=True, group="composer-backtest", exit_on_error=False)
    def run_backtest(self, req: jobs.BacktestRequest) -> None:
        try:
            self._proc = jobs.start_backtest_process(req)
            outcome = jobs.finish_backtest_process(self._proc, req)
        except Exception as exc:  # no interpreter, or an unreadable answer: say so, never hang
            outcome = jobs.failed_outcome(req, f"backtest process failed: {exc}")
        finally:
            self._proc = None
        self.post_message(BacktestDone(outcome))

    @on(BacktestDone)
    def _backtest_done(self, msg: BacktestDone) -> None:
        self.backtest_running = False
        self.outcome = msg.outcome
        self.update_status()
        if msg.outcome.error:
            self.notify(f"backtest failed: {msg.outcome.error}", severity="error", timeout=8)
            return
        self.app.push_screen(BacktestResultsScreen(msg.outcome))


def check_backtest_field(key: str, text: str) -> tuple[Any, str | None]:
    """The backtest form's fields: positive cash, a fee in [0, 1), a known mode."""
    text = text.strip()
    if key == "mode":
        return (text, None) if text in BACKTEST_MODES else (None, f"mode: must be one of {', '.join(BACKTEST_MODES)}, got {text!r}")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None, f"{key}: must be a number, got {text!r}"
    if not value.is_finite() or value < 0 or (key == "cash" and value == 0) or (key == "fee" and value >= 1):
        allowed = "a positive number" if key == "cash" else "a number from 0 up to (not incl.) 1"
        return None, f"{key}: must be {allowed}, got {text!r}"
    return text, None
