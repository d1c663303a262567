"""The component registry: every building block a strategy spec can name in ``kind``.

``REGISTRY`` maps kind -> ``Component`` (see ``base.py`` for what a component carries);
``get(kind)`` raises ``KeyError`` with the closest names, ``catalog()`` is the
machine-readable list a UI or ``tickdesk strategy components --json`` shows.
"""

from __future__ import annotations

import difflib
from typing import Any

from strategies.components import actions, indicators, logic, sources, transforms
from strategies.components.base import CATEGORIES, Component, Port

__all__ = ["REGISTRY", "Component", "Port", "catalog", "get", "suggest"]


def _build() -> dict[str, Component]:
    registry: dict[str, Component] = {}
    for module in (sources, indicators, transforms, logic, actions):
        for component in module.components():
            if component.kind in registry:
                raise RuntimeError(f"component kind {component.kind!r} registered twice")
            registry[component.kind] = component
    return registry


REGISTRY: dict[str, Component] = _build()


def suggest(kind: str) -> list[str]:
    """Registered kinds that look like ``kind`` (for error messages)."""
    return difflib.get_close_matches(kind, list(REGISTRY), n=3, cutoff=0.6)


def get(kind: str) -> Component:
    try:
        return REGISTRY[kind]
    except KeyError:
        raise KeyError(kind) from None


def catalog() -> list[dict[str, Any]]:
    """Every component's schema, grouped by category order then kind."""
    order = {c: i for i, c in enumerate(CATEGORIES)}
    items = sorted(REGISTRY.values(), key=lambda c: (order[c.category], c.kind))
    return [c.schema() for c in items]
