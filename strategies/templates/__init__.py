"""Strategy templates: one TOML spec per file in this folder, each with an educational
``notes`` text (what it does, when it fails).

``load(name)`` returns the validated spec; ``raw(name)`` the mapping; ``path(name)`` the file
(``strategy new`` copies it verbatim, comments included).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from strategies.spec import StrategySpec

FOLDER = Path(__file__).resolve().parent


def names() -> list[str]:
    return sorted(p.stem for p in FOLDER.glob("*.toml"))


def path(name: str) -> Path:
    file = FOLDER / f"{name}.toml"
    if not file.is_file():
        raise KeyError(f"no template {name!r} (templates: {', '.join(names())})")
    return file


def raw(name: str) -> dict[str, Any]:
    with path(name).open("rb") as fh:
        return tomllib.load(fh)


def load(name: str, params: dict[str, Any] | None = None) -> StrategySpec:
    """The validated template spec, with optional parameter overrides."""
    return StrategySpec.from_dict(raw(name), params)
