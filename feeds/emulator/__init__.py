"""A protocol-faithful exchange emulator serving recorded frames (``tickdesk emulator``).

* :mod:`feeds.emulator.source`   recordings (via :mod:`feeds.recordings`) -> a timeline
* :mod:`feeds.emulator.truebook` the TRUE book the emulator keeps (the tests' oracle)
* :mod:`feeds.emulator.faults`   the ``--faults`` spec and per-connection fault injection
* :mod:`feeds.emulator.server`   the websockets server (WS + REST + ``/debug``) and player
* :mod:`feeds.emulator.binance`, :mod:`feeds.emulator.okx`  the two venues

Debug endpoints (for tests and for people testing their bots):

``GET /debug/state``                          playback position, clients, fault counts, books
``GET /debug/book?symbol=S[&at=ID][&depth=N]`` the true book now, or as it was at update id
                                              ``ID`` (Binance ``lastUpdateId``/``u``, OKX ``seqId``)
"""

from feeds.emulator.faults import FaultSpec, FaultSpecError, parse_faults
from feeds.emulator.server import Emulator, EmulatorConfig, EmulatorThread
from feeds.emulator.source import SourceError, Timeline, load_timeline

__all__ = [
    "Emulator",
    "EmulatorConfig",
    "EmulatorThread",
    "FaultSpec",
    "FaultSpecError",
    "SourceError",
    "Timeline",
    "load_timeline",
    "parse_faults",
]
