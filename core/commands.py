"""The command journal's vocabulary: which ops exist and which fields each takes.

Shape checks happen here, before the engine touches any state, so a malformed command is
rejected whole. Value checks that need reference data (grids, balances) live in the engine.
"""

from __future__ import annotations

import orjson

from core.numbers import NumberError


class Reject(Exception):
    """A command the engine refuses; ``code`` is one of ``core.reasons.REASONS``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @classmethod
    def from_number(cls, exc: NumberError) -> Reject:
        return cls(exc.code, str(exc))


_COMMON = {"op", "ts"}

#: op -> (required fields, optional fields)
OPS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "deposit": (frozenset({"account", "asset", "amount"}), frozenset()),
    "withdraw": (frozenset({"account", "asset", "amount"}), frozenset()),
    "new": (
        frozenset({"id", "account", "symbol", "side", "type", "qty"}),
        frozenset({"price", "stop_price", "trail", "tif", "expire_ts", "post_only", "display_qty", "stp"}),
    ),
    "modify": (frozenset({"id"}), frozenset({"price", "qty", "account"})),
    "cancel": (frozenset({"id"}), frozenset({"account"})),
    "cancel_all": (frozenset({"account"}), frozenset({"symbol"})),
    "bulk_new": (frozenset({"orders"}), frozenset()),
    "bulk_cancel": (frozenset({"ids"}), frozenset({"account"})),
    "instrument": (
        frozenset({"symbol", "tick_size", "lot_size"}),
        frozenset({"min_qty", "min_notional", "max_qty", "max_price"}),
    ),
    "limits": (
        frozenset(),
        frozenset(
            {
                "account",
                "symbol",
                "band_pct",
                "max_order_notional",
                "max_open_orders",
                "rate_limit_orders",
                "rate_limit_window_ms",
                "max_position",
            }
        ),
    ),
    "breaker": (frozenset({"symbol", "move_pct", "window_ms", "cooldown_ms"}), frozenset()),
    "state": (frozenset({"state"}), frozenset({"account", "symbol"})),
    "kill": (frozenset({"account"}), frozenset()),
    "link": (frozenset({"accounts"}), frozenset()),
    "account": (frozenset({"account"}), frozenset({"stp"})),
    "time": (frozenset({"ts"}), frozenset()),
}

MAX_ID_LEN = 64
MAX_BULK = 1000


def parse_line(raw: str | bytes) -> dict:
    """Decode one journal line into a command dict, or raise Reject(MALFORMED_JSON)."""
    try:
        cmd = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Reject("MALFORMED_JSON", f"not valid JSON: {exc}") from None
    if not isinstance(cmd, dict):
        raise Reject("MALFORMED_JSON", f"a command must be a JSON object, got {type(cmd).__name__}")
    return cmd


def check_shape(cmd: dict, op_override: str | None = None) -> str:
    """Validate the op and field names of ``cmd``; return the op."""
    op = op_override or cmd.get("op")
    if op_override is None:
        if "op" not in cmd:
            raise Reject("MISSING_FIELD", "missing field 'op'")
        if not isinstance(op, str) or op not in OPS:
            raise Reject("UNKNOWN_OP", f"unknown op {str(op)[:40]!r}; known: {', '.join(OPS)}")
    required, optional = OPS[op]
    allowed = required | optional | _COMMON
    unknown = [k for k in cmd if k not in allowed]
    if unknown:
        raise Reject("UNKNOWN_FIELD", f"{op}: unknown field {str(unknown[0])[:40]!r}")
    missing = sorted(required - cmd.keys())
    if missing:
        raise Reject("MISSING_FIELD", f"{op}: missing field {missing[0]!r}")
    return op


def text(cmd: dict, field: str, max_len: int = MAX_ID_LEN) -> str:
    """A required non-empty string field of bounded length."""
    value = cmd.get(field)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise Reject("INVALID_VALUE", f"{field} must be a non-empty string of at most {max_len} characters")
    return value


def choice(cmd: dict, field: str, allowed, default: str | None = None) -> str:
    value = cmd.get(field, default)
    if value not in allowed:
        raise Reject("INVALID_VALUE", f"{field} must be one of {', '.join(allowed)}, got {str(value)[:40]!r}")
    return value


def integer(cmd: dict, field: str, minimum: int = 0, maximum: int = 2**63 - 1) -> int:
    value = cmd.get(field)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise Reject("INVALID_VALUE", f"{field} must be an integer in [{minimum}, {maximum}]")
    return value


def flag(cmd: dict, field: str) -> bool:
    value = cmd.get(field, False)
    if not isinstance(value, bool):
        raise Reject("INVALID_VALUE", f"{field} must be true or false")
    return value
