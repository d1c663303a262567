"""Fault injection for the exchange emulator: the ``--faults SPEC`` mini-language.

``SPEC`` is a comma-separated list of ``key=value`` items, e.g.
``drop=0.05,dup=0.02,reorder=0.02,garbage=0.01,disconnect=3,stall=4:10,seed=7,until=20``:

===============  =====================================================================
``drop=P``       each data frame is not sent with probability ``P`` (0..1)
``dup=P``        each data frame is sent twice with probability ``P``
``reorder=P``    each data frame is held back and sent after the next one, probability ``P``
``garbage=P``    before each data frame, a malformed frame is injected with probability ``P``
``corrupt=P``    OKX ``books`` updates get a wrong checksum with probability ``P``
``disconnect=N`` every connection is closed by the server after N seconds (each connection)
``shutdown=N``   Binance: after N seconds a connection gets ``serverShutdown`` and is closed
                 2 s later (clients should switch to a new connection without a gap)
``stall=N[:D]``  after N seconds of a connection, it stops delivering data frames (still
                 open, still answering pings) until the client re-subscribes, or for ``D``
                 seconds (default: until re-subscribed); then again N seconds later
``after=S``      faults start S seconds after playback starts (default 0)
``until=S``      no fault after S seconds of playback (default: never stop)
``seed=N``       seed of the per-connection random generators (deterministic runs)
===============  =====================================================================

Faults touch data frames only: control replies (subscribe acks, ``pong``, REST) are always
answered, as a real exchange would.  Every connection counts what it did to its client, and
the emulator sums those counts (``/debug/state``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields

PROBABILITIES = ("drop", "dup", "reorder", "garbage", "corrupt")
FAULT_KINDS = PROBABILITIES + ("disconnect", "shutdown", "stall")
SHUTDOWN_GRACE = 2.0  # seconds between the serverShutdown notice and the close


class FaultSpecError(ValueError):
    """A malformed ``--faults`` spec."""


@dataclass(frozen=True)
class FaultSpec:
    drop: float = 0.0
    dup: float = 0.0
    reorder: float = 0.0
    garbage: float = 0.0
    corrupt: float = 0.0
    disconnect: float | None = None  # seconds per connection
    shutdown: float | None = None  # seconds per connection before a serverShutdown notice
    stall_every: float | None = None  # seconds of connection time before a stall
    stall_for: float | None = None  # None: until the client re-subscribes
    after: float = 0.0
    until: float | None = None
    seed: int = 0

    @property
    def any(self) -> bool:
        return (any(getattr(self, p) > 0 for p in PROBABILITIES) or self.disconnect is not None
                or self.shutdown is not None or self.stall_every is not None)

    def active(self, playback_seconds: float) -> bool:
        """Are faults on at this point of the playback?"""
        if playback_seconds < self.after:
            return False
        return self.until is None or playback_seconds < self.until

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _number(key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FaultSpecError(f"fault {key}={text!r}: not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise FaultSpecError(f"fault {key}={text!r}: not a finite number")
    return value


def parse_faults(spec: str | None) -> FaultSpec:
    """Parse a ``--faults`` spec; raises :class:`FaultSpecError` with a one-line message."""
    if spec is None or not spec.strip() or spec.strip().lower() == "none":
        return FaultSpec()
    values: dict = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            raise FaultSpecError(f"fault {item!r}: expected key=value (known keys: {', '.join(_KEYS)})")
        key, _, text = item.partition("=")
        key, text = key.strip().lower(), text.strip()
        if key not in _KEYS:
            raise FaultSpecError(f"unknown fault {key!r} (known: {', '.join(_KEYS)})")
        if key in values or (key == "stall" and "stall_every" in values):
            raise FaultSpecError(f"fault {key!r} given twice")
        if key in PROBABILITIES:
            p = _number(key, text)
            if not 0.0 <= p <= 1.0:
                raise FaultSpecError(f"fault {key}={text}: a probability must be between 0 and 1")
            values[key] = p
        elif key in ("disconnect", "shutdown"):
            n = _number(key, text)
            if n <= 0:
                raise FaultSpecError(f"fault {key}={text}: seconds must be positive")
            values[key] = n
        elif key == "stall":
            every, _, dur = text.partition(":")
            n = _number(key, every)
            if n <= 0:
                raise FaultSpecError(f"fault stall={text}: seconds must be positive")
            values["stall_every"] = n
            if dur:
                d = _number(key, dur)
                if d <= 0:
                    raise FaultSpecError(f"fault stall={text}: the stall duration must be positive")
                values["stall_for"] = d
        elif key in ("after", "until"):
            s = _number(key, text)
            if s < 0:
                raise FaultSpecError(f"fault {key}={text}: seconds must not be negative")
            values[key] = s
        elif key == "seed":
            try:
                values["seed"] = int(text)
            except ValueError:
                raise FaultSpecError(f"fault seed={text!r}: not an integer") from None
    spec_obj = FaultSpec(**values)
    if spec_obj.until is not None and spec_obj.until <= spec_obj.after:
        raise FaultSpecError("fault window is empty: until must be greater than after")
    return spec_obj


_KEYS = PROBABILITIES + ("disconnect", "shutdown", "stall", "after", "until", "seed")


GARBAGE = (
    '{"stream":"',  # truncated JSON
    "this is not json",
    "{}",
    '{"unexpected":true,"payload":[1,2,3]}',
    "[1,2,",
    '{"stream":"nosuch@depth","data":{"e":"depthUpdate","U":"x"}}',
    "\u0000\u0001\u0002",
)


@dataclass
class FaultCounters:
    """What one connection (or the sum of all) did to its client."""

    dropped: int = 0
    dropped_depth: int = 0
    duplicated: int = 0
    duplicated_depth: int = 0
    reordered: int = 0
    reordered_depth: int = 0
    garbage: int = 0
    corrupted: int = 0
    disconnects: int = 0
    shutdowns: int = 0
    stalls: int = 0
    stalled_frames: int = 0
    stalled_depth: int = 0

    def add(self, other: "FaultCounters") -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class FaultRoller:
    """The random decisions of one connection (seeded: same spec and order, same faults)."""

    spec: FaultSpec
    conn_index: int
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.spec.seed * 1_000_003 + self.conn_index)

    def roll(self, name: str) -> bool:
        p = getattr(self.spec, name)
        return p > 0 and self.rng.random() < p

    def garbage_frame(self) -> str:
        return GARBAGE[self.rng.randrange(len(GARBAGE))]
