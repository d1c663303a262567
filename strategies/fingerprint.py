"""The backtest fingerprint: one sha256 over everything that decides a result, and the result.

Inputs, each in a canonical text form so the hash is the same on every run and machine:

* ``data``: the sha256 of the data bytes (``strategies.data``);
* ``spec``: the strategy spec as canonical JSON (sorted keys, no spaces; ``null`` when the
  signals were given directly);
* ``params``: the resolved parameters, as strings;
* ``settings``: cash, fee, symbol, tick, lot, slippage and mode as normalised decimal strings;
* ``trades``: the trade list with exact decimal strings and integer bar indexes/timestamps
  (never a float's repr), and the final equity as an exact decimal string.

The object is serialised with sorted keys and hashed; floats never enter it except through the
spec, whose numbers orjson writes in their shortest round-trip form (the same everywhere).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace: the one text form of a JSON-able value."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def spec_json(spec: Any) -> str:
    """A strategy spec (pydantic model, dict or None) as canonical JSON."""
    if spec is None:
        return "null"
    if hasattr(spec, "model_dump"):
        spec = spec.model_dump(mode="json")
    return canonical_json(spec)


def fingerprint(data_hash: str, spec: Any, params: dict[str, Any], settings: dict[str, str],
                trades: list[dict], final_equity: str) -> str:
    """sha256 hex of the canonical inputs and trade list (see the module doc)."""
    body = {
        "data": data_hash,
        "spec": spec_json(spec),
        "params": {str(k): str(v) for k, v in params.items()},
        "settings": settings,
        "trades": trades,
        "final_equity": final_equity,
        "version": 1,
    }
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()
