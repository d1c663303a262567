"""Fuzzy search over the component registry for the composer's "add component" palette.

Matches the query against each component's kind and title (Textual's fuzzy matcher: letters in
order, runs and word starts score higher), its category, and the words of its description, so
"avg" finds the moving averages and "cross" the cross transforms. Pure: no app needed.
"""

from __future__ import annotations

from textual.fuzzy import FuzzySearch

from strategies.components import REGISTRY, Component, catalog

_FUZZY = FuzzySearch()
_ORDER = [item["kind"] for item in catalog()]


def rank(query: str, limit: int | None = None) -> list[Component]:
    """Components best first for ``query`` (all of them, in catalog order, for an empty one)."""
    query = query.strip().lower()
    if not query:
        found = [REGISTRY[k] for k in _ORDER]
        return found[:limit] if limit else found
    scored = []
    for position, kind in enumerate(_ORDER):
        score = score_component(query, REGISTRY[kind])
        if score > 0:
            scored.append((-score, position, REGISTRY[kind]))
    scored.sort(key=lambda t: (t[0], t[1]))
    found = [c for _, _, c in scored]
    return found[:limit] if limit else found


def score_component(query: str, comp: Component) -> float:
    """How well ``query`` names ``comp``: an exact kind wins, then fuzzy kind/title matches,
    then the category, then description words that all contain the query's words."""
    if query == comp.kind:
        return 1000.0
    kind = _FUZZY.match(query, comp.kind)[0] * 3.0
    title = _FUZZY.match(query, comp.title.lower())[0] * 2.0
    category = 1.0 if comp.category.startswith(query) else 0.0
    words = query.split()
    text = f"{comp.kind} {comp.title} {comp.description}".lower()
    described = 0.5 if words and all(w in text for w in words) else 0.0
    prefix = 5.0 if comp.kind.startswith(query.replace(" ", "_")) else 0.0
    return max(kind, title, category, described) + prefix
