"""The composer's modal forms, all keyboard-driven: tab/shift+tab between fields, up/down to
cycle a field's fitting choices, enter to apply, escape to cancel.

Forms are generated from ``tui.composer.draft.FormField`` lists (a component's parameter
schema, its input ports, the outputs table, the strategy settings) and validated field by
field as the user types: a bad field shows its error (path, allowed values) right under it and
enter is refused until it is fixed. A warning (say ``$fast`` not declared yet) shows the same
way but does not block: the strategy-level issue list keeps reminding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from tui.composer.draft import FormField
from tui.composer.search import rank

Check = Callable[[str, str], tuple[Any, "str | None"]]

_FORM_CSS = """
FormModal, ParamsModal, PaletteModal, PickModal, PromptModal { align: center middle; }
.form-box { width: 96; max-width: 100%; height: auto; max-height: 90%; border: round $accent;
            background: $surface; padding: 0 1; }
.form-title { text-style: bold; }
.form-doc { color: $foreground-muted; margin-bottom: 1; }
.form-row { height: auto; margin-top: 1; }
.form-row Label { width: 16; padding: 0 1 0 0; }
.form-row Input { width: 1fr; border: none; height: 1; padding: 0 1; background: $boost; }
.form-row Input:focus { background: $accent 25%; }
.form-error { color: $error; height: auto; }
.form-error.-empty { display: none; }
.form-choices { color: $foreground-muted; height: auto; }
.form-keys { color: $foreground-muted; margin-top: 1; }
.form-fields { height: auto; max-height: 30; }
"""


class _Fields(VerticalScroll, can_focus=False):
    """The scrolling field list (not a tab stop itself: tab goes field to field)."""


class ChoiceInput(Input):
    """An input whose up/down keys cycle through the values that fit (completion on the right
    arrow as well), so wiring is "choose", never "remember the name"."""

    BINDINGS = [
        Binding("down", "cycle(1)", "Next choice", show=False),
        Binding("up", "cycle(-1)", "Previous choice", show=False),
    ]

    def __init__(self, choices: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(suggester=SuggestFromList(choices) if choices else None, **kwargs)
        self.choices = choices

    def action_cycle(self, step: int) -> None:
        if not self.choices:
            return
        try:
            i = self.choices.index(self.value.strip())
        except ValueError:
            i = -1 if step > 0 else 0
        self.value = self.choices[(i + step) % len(self.choices)]
        self.cursor_position = len(self.value)


class FormModal(ModalScreen[dict[str, Any] | None]):
    """A generated form. Dismisses with ``{field key: checked value}`` or None (escape)."""

    DEFAULT_CSS = _FORM_CSS
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="composer.form.cancel")]

    def __init__(self, title: str, fields: list[FormField], check: Check, doc: str = "",
                 issues: list[str] | None = None) -> None:
        super().__init__()
        self.title_text, self.fields, self.check, self.doc = title, fields, check, doc
        self.issues = issues or []

    def compose(self) -> ComposeResult:
        with Vertical(classes="form-box"):
            yield Label(self.title_text, classes="form-title")
            if self.doc:
                yield Static(self.doc, classes="form-doc", markup=False)
            with _Fields(classes="form-fields"):
                for n, f in enumerate(self.fields):
                    with Horizontal(classes="form-row"):
                        yield Label(f.label)
                        yield ChoiceInput(f.choices, value=f.value, placeholder=f.hint, id=f"field-{n}")
                    if f.choices:
                        yield Static("choices (↑/↓): " + ", ".join(f.choices), classes="form-choices", markup=False)
                    yield Static("", id=f"error-{n}", classes="form-error -empty", markup=False)
            if self.issues:
                yield Static("\n".join(self.issues), classes="form-error", markup=False)
            yield Static("enter apply · esc cancel · tab next field · ↑/↓ choices", classes="form-keys")

    def on_mount(self) -> None:
        if self.fields:
            self.query_one("#field-0", Input).focus()

    def _check(self, n: int) -> tuple[Any, str | None]:
        field = self.fields[n]
        value, error = self.check(field.key, self.query_one(f"#field-{n}", Input).value)
        box = self.query_one(f"#error-{n}", Static)
        box.update(error or "")
        box.set_class(not error, "-empty")
        return value, error

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("field-"):
            self._check(int(event.input.id.partition("-")[2]))

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        values: dict[str, Any] = {}
        first_bad = None
        for n, field in enumerate(self.fields):
            value, error = self._check(n)
            if error and value is None and first_bad is None:
                first_bad = n
            values[field.key] = value
        if first_bad is not None:
            self.query_one(f"#field-{first_bad}", Input).focus()
            return
        self.dismiss(values)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ParamsModal(ModalScreen[bool]):
    """Declare strategy parameters: name, type, default, range. Enter adds (or replaces) the
    parameter and clears the form for the next; ctrl+r removes the one named; escape closes."""

    DEFAULT_CSS = _FORM_CSS
    BINDINGS = [
        Binding("escape", "close", "Close", id="composer.params.close"),
        Binding("ctrl+r", "remove", "Remove named", id="composer.params.remove"),
    ]
    FIELDS = (("name", "name", "lowercase, e.g. fast", ()), ("type", "type", "int, float, bool or choice",
              ("int", "float", "bool", "choice")), ("default", "default", "the value used unless overridden", ()),
              ("min", "min", "optional lower bound", ()), ("max", "max", "optional upper bound", ()),
              ("choices", "choices", "for type choice: a, b, c", ()), ("description", "description", "optional", ()))

    def __init__(self, draft: Any) -> None:
        super().__init__()
        self.draft = draft
        self.changed = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="form-box"):
            yield Label("Strategy parameters ($name in node params, outputs and risk)", classes="form-title")
            yield Static(self._listing(), id="declared", classes="form-doc", markup=False)
            for key, label, hint, choices in self.FIELDS:
                with Horizontal(classes="form-row"):
                    yield Label(label)
                    yield ChoiceInput(choices, value="int" if key == "type" else "", placeholder=hint, id=f"p-{key}")
            yield Static("", id="param-error", classes="form-error -empty", markup=False)
            yield Static("enter declare · ctrl+r remove the named one · esc close · ↑/↓ type", classes="form-keys")

    def on_mount(self) -> None:
        self.query_one("#p-name", Input).focus()

    def _listing(self) -> str:
        if not self.draft.params:
            return "none declared yet"
        rows = []
        for name, d in self.draft.params.items():
            rng = f" [{d.get('min', '')}..{d.get('max', '')}]" if "min" in d or "max" in d else ""
            rows.append(f"{name}: {d['type']} = {d['default']}{rng}")
        return "\n".join(rows)

    def _value(self, key: str) -> str:
        return self.query_one(f"#p-{key}", Input).value

    def _show(self, errors: list[str]) -> None:
        box = self.query_one("#param-error", Static)
        box.update("\n".join(errors))
        box.set_class(not errors, "-empty")
        self.query_one("#declared", Static).update(self._listing())

    @on(Input.Submitted)
    def _declare(self, event: Input.Submitted) -> None:
        event.stop()
        errors = self.draft.declare_param(*(self._value(k) for k in ("name", "type", "default", "min", "max",
                                                                      "choices", "description")))
        self._show(errors)
        if errors:
            return
        self.changed = True
        for key, *_ in self.FIELDS:
            self.query_one(f"#p-{key}", Input).value = "int" if key == "type" else ""
        self.query_one("#p-name", Input).focus()

    def action_remove(self) -> None:
        name = self._value("name").strip()
        if name not in self.draft.params:
            self._show([f"params.{name or '?'}: not declared (declared: {', '.join(self.draft.params) or 'none'})"])
            return
        self.draft.remove_param(name)
        self.changed = True
        self._show([])

    def action_close(self) -> None:
        self.dismiss(self.changed)


class PaletteModal(ModalScreen[str | None]):
    """Add a component: type to fuzzy-search kind, title, category and description; up/down
    choose; enter adds; escape cancels."""

    DEFAULT_CSS = _FORM_CSS + """
    PaletteModal OptionList { height: 14; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="composer.palette.cancel"),
        Binding("down", "move(1)", "Next", show=False, id="composer.palette.down"),
        Binding("up", "move(-1)", "Previous", show=False, id="composer.palette.up"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="form-box"):
            yield Label("Add component", classes="form-title")
            yield Input(placeholder="search: sma, cross, stop, oscillator…", id="palette-query")
            yield OptionList(id="palette-list")
            yield Static("", id="palette-doc", classes="form-doc", markup=False)
            yield Static("enter add · esc cancel · ↑/↓ choose", classes="form-keys")

    def on_mount(self) -> None:
        self._fill("")
        self.query_one(Input).focus()

    def _fill(self, query: str) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        found = rank(query, limit=60)
        options.add_options([Option(f"{c.kind:<16} {c.title}  [{c.category}]", id=c.kind) for c in found])
        if found:
            options.highlighted = 0
        self._describe()

    def _describe(self) -> None:
        options = self.query_one(OptionList)
        doc = ""
        if options.highlighted is not None and options.option_count:
            from strategies.components import REGISTRY

            doc = REGISTRY[options.get_option_at_index(options.highlighted).id].description
        self.query_one("#palette-doc", Static).update(doc)

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    def action_move(self, step: int) -> None:
        options = self.query_one(OptionList)
        if options.option_count:
            current = options.highlighted or 0
            options.highlighted = max(0, min(options.option_count - 1, current + step))
            self._describe()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        options = self.query_one(OptionList)
        if options.highlighted is not None and options.option_count:
            self.dismiss(options.get_option_at_index(options.highlighted).id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PickModal(ModalScreen[str | None]):
    """Choose one of ``items`` ((value, label) pairs); with ``free_text`` a typed value
    (for example a data reference) is accepted too."""

    DEFAULT_CSS = _FORM_CSS + """
    PickModal OptionList { height: auto; max-height: 20; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="composer.pick.cancel")]

    def __init__(self, title: str, items: list[tuple[str, str]], note: str = "", free_text: str | None = None) -> None:
        super().__init__()
        self.title_text, self.items, self.note, self.free_text = title, items, note, free_text

    def compose(self) -> ComposeResult:
        with Vertical(classes="form-box"):
            yield Label(self.title_text, classes="form-title")
            yield OptionList(*(Option(label, id=value) for value, label in self.items), id="pick-list")
            if self.free_text is not None:
                yield Input(placeholder=self.free_text, id="pick-text")
            if self.note:
                yield Static(self.note, classes="form-doc", markup=False)
            keys = "enter choose · esc cancel" + (" · tab: type a value" if self.free_text is not None else "")
            yield Static(keys, classes="form-keys")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if options.option_count:
            options.highlighted = 0
            options.focus()
        elif self.free_text is not None:
            self.query_one("#pick-text", Input).focus()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    @on(Input.Submitted)
    def _typed(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class PromptModal(ModalScreen[str | None]):
    """One text value (a file path) handed to ``attempt``; its error, if any, is shown inline
    and the prompt stays open; on success it dismisses with the text."""

    DEFAULT_CSS = _FORM_CSS
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="composer.prompt.cancel")]

    def __init__(self, title: str, value: str, attempt: Callable[[str], str | None], hint: str = "") -> None:
        super().__init__()
        self.title_text, self.value, self.attempt, self.hint = title, value, attempt, hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="form-box"):
            yield Label(self.title_text, classes="form-title")
            yield Input(value=self.value, placeholder=self.hint, id="prompt-input")
            yield Static("", id="prompt-error", classes="form-error -empty", markup=False)
            yield Static("enter confirm · esc cancel", classes="form-keys")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        error = self.attempt(event.value.strip())
        box = self.query_one("#prompt-error", Static)
        box.update(error or "")
        box.set_class(not error, "-empty")
        if not error:
            self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
