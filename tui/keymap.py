"""Key bindings as data: every binding has an id, the config's ``[keys]`` remaps ids to keys.

``[keys]`` in the config file, e.g.::

    [keys]
    "order.buy" = "f"            # or: order.buy = "f"
    "risk.kill" = "ctrl+k,f12"

is applied with ``App.set_keymap`` (Textual's keymap API, not private binding maps). Unknown ids
are refused when the workstation starts, naming the known ones, so a typo does not silently do
nothing. ``live_bindings(app)`` lists what the keys do *now* (after remapping) for the help
screen, so the help can never drift from the bindings.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from textual.binding import Binding, BindingsMap
from textual.dom import DOMNode


class KeymapError(ValueError):
    """A ``[keys]`` entry names a binding id that does not exist."""


def class_bindings(classes: Iterable[type]) -> dict[str, Binding]:
    """Binding id -> Binding over ``classes`` and their bases (``BINDINGS`` class attributes)."""
    out: dict[str, Binding] = {}
    for cls in classes:
        for klass in cls.__mro__:
            for b in klass.__dict__.get("BINDINGS", ()):
                if isinstance(b, Binding) and b.id:
                    out.setdefault(b.id, b)
    return out


def loaded_tui_classes() -> list[type]:
    """Every widget and screen class of ``tui`` imported so far (modals and forms included),
    found through ``DOMNode`` subclasses: the ids a ``[keys]`` entry may name without a list
    kept by hand that a new modal would be missing from."""
    out: list[type] = []
    todo = list(DOMNode.__subclasses__())
    seen: set[type] = set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("tui."):
            out.append(cls)
    return out


def check_keymap(keymap: dict[str, str], known: Iterable[str]) -> None:
    """Raise ``KeymapError`` (one line) for an id not in ``known``."""
    known = sorted(set(known))
    for ident in keymap:
        if ident not in known:
            close = difflib.get_close_matches(ident, known, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; known ids: {', '.join(known)}"
            raise KeymapError(f"[keys] {ident!r} is not a key binding id{hint}")


@dataclass(frozen=True)
class LiveBinding:
    """One key as it works now: ``keys`` after remapping, where it applies, what it does."""

    keys: str
    description: str
    binding_id: str
    where: str
    action: str


def _nodes(app) -> list[DOMNode]:
    screen = app.screen
    base = [s for s in app.screen_stack if not s.is_modal] or [screen]
    under = base[-1]
    return [app, under, *under.walk_children()]


def live_bindings(app, nodes: Iterable[DOMNode] | None = None) -> list[LiveBinding]:
    """Every binding of the app, the main (non-modal) screen and its widgets, keymap applied.

    Textual's generic navigation keys (no id: the tables' cursor keys, scrolling) appear once,
    with the widgets they work in, instead of once per table."""
    out = _collect(app, nodes)
    generic: dict[tuple[str, str], list[str]] = {}
    for b in out:
        if not b.binding_id:
            generic.setdefault((b.keys, b.description), []).append(b.where)
    merged = [b for b in out if b.binding_id]
    for b in out:
        key = (b.keys, b.description)
        if not b.binding_id and key in generic:
            wheres = generic.pop(key)
            merged.append(LiveBinding(b.keys, b.description, "", ", ".join(wheres), b.action))
    return merged


def _collect(app, nodes: Iterable[DOMNode] | None) -> list[LiveBinding]:
    out: list[LiveBinding] = []
    seen: set[tuple[str, str]] = set()
    keymap = getattr(app, "_keymap", {})
    for node in nodes if nodes is not None else _nodes(app):
        if type(node).__name__ == "Footer":  # its scroll keys are not for the user to learn
            continue
        bindings: BindingsMap = node._bindings.copy()
        if keymap:
            bindings.apply_keymap(keymap)
        by_binding: dict[tuple[str, str], list[str]] = {}
        meta: dict[tuple[str, str], Binding] = {}
        for key, items in bindings.key_to_bindings.items():
            for b in items:
                k = (b.id or b.action, b.action)
                keys_of = by_binding.setdefault(k, [])
                if key not in keys_of:  # a keymap can map several default keys onto one
                    keys_of.append(key)
                meta[k] = b
        where = "global" if node is app else (type(node).__name__)
        for k, keys in by_binding.items():
            b = meta[k]
            if not b.description or (k[0], where) in seen:
                continue
            seen.add((k[0], where))
            out.append(LiveBinding(", ".join(_display(key) for key in keys), b.description, b.id or "", where, b.action))
    return out


def _display(key: str) -> str:
    from textual.keys import format_key

    return format_key(key)
