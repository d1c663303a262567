"""The emulator's pieces without a network: fault specs, the true book, the venues' playback.

The venue tests drive ``publish`` over a whole recording directly (no server, no clock) and
check the TRUE book against what the recording itself says: every recorded OKX checksum, and
every Binance bookTicker whose update id is a state of the book.
"""

from __future__ import annotations

import orjson
import pytest

from feeds.emulator import EmulatorConfig, FaultSpecError, load_timeline, parse_faults
from feeds.emulator.faults import FaultRoller
from feeds.emulator.server import Emulator
from feeds.emulator.source import SourceError
from feeds.emulator.truebook import TrueBook, okx_checksum

# --------------------------------------------------------------------------- fault specs


def test_fault_spec_parses_every_key():
    spec = parse_faults("drop=0.05, dup=0.02,reorder=0.1,garbage=0.01,corrupt=0.2,disconnect=3,stall=4:1.5,after=1,until=9,seed=7")
    assert (spec.drop, spec.dup, spec.reorder, spec.garbage, spec.corrupt) == (0.05, 0.02, 0.1, 0.01, 0.2)
    assert (spec.disconnect, spec.stall_every, spec.stall_for, spec.after, spec.until, spec.seed) == (3, 4, 1.5, 1, 9, 7)
    assert spec.any
    assert not spec.active(0.5) and spec.active(1) and spec.active(8.9) and not spec.active(9)
    assert parse_faults("stall=2").stall_for is None
    assert parse_faults("shutdown=5").shutdown == 5 and parse_faults("shutdown=5").any
    assert not parse_faults(None).any and not parse_faults("").any and not parse_faults("none").any


@pytest.mark.parametrize(
    "spec, words",
    [
        ("drop", "key=value"),
        ("loss=0.1", "unknown fault"),
        ("drop=1.5", "between 0 and 1"),
        ("drop=x", "not a number"),
        ("drop=nan", "finite"),
        ("disconnect=0", "positive"),
        ("shutdown=-1", "positive"),
        ("stall=3:0", "positive"),
        ("seed=1.5", "integer"),
        ("drop=0.1,drop=0.2", "twice"),
        ("after=5,until=2", "empty"),
    ],
)
def test_fault_spec_errors_are_one_line(spec, words):
    with pytest.raises(FaultSpecError) as err:
        parse_faults(spec)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_fault_rolls_are_seeded():
    spec = parse_faults("drop=0.3,seed=5")
    a = [FaultRoller(spec, 1).roll("drop") for _ in range(1)]
    r1, r2, r3 = FaultRoller(spec, 1), FaultRoller(spec, 1), FaultRoller(spec, 2)
    s1 = [r1.roll("drop") for _ in range(200)]
    assert s1 == [r2.roll("drop") for _ in range(200)]
    assert s1 != [r3.roll("drop") for _ in range(200)]
    assert 0 < sum(s1) < 200 and a


# --------------------------------------------------------------------------- true book


def test_true_book_apply_undo_and_diff():
    book = TrueBook()
    book.reset([["10.0", "1"], ["9.5", "2"]], [["11", "3"], ["12", "0"]], 100)
    assert book.levels() == ([["10.0", "1"], ["9.5", "2"]], [["11", "3"]])
    book.apply([["10.00", "0"], ["9.8", "4"]], [["11", "5"]], 101)  # 10.00 is the 10.0 level
    book.apply([], [["11.5", "1"]], 103)
    assert book.levels() == ([["9.8", "4"], ["9.5", "2"]], [["11", "5"], ["11.5", "1"]])
    assert book.best() == (["9.8", "4"], ["11", "5"])
    old = book.at(101)
    assert old.id == 101 and old.levels() == ([["9.8", "4"], ["9.5", "2"]], [["11", "5"]])
    first = book.at(100)
    assert first.levels() == ([["10.0", "1"], ["9.5", "2"]], [["11", "3"]])
    assert book.at(102) is None and book.at(99) is None
    assert book.levels() == ([["9.8", "4"], ["9.5", "2"]], [["11", "5"], ["11.5", "1"]])  # untouched
    bids, asks = book.diff_to([["10.0", "1"], ["9.5", "2"]], [["11", "3"]])
    book.apply(bids, asks, 104)
    assert book.levels() == ([["10.0", "1"], ["9.5", "2"]], [["11", "3"]])
    assert book.levels(1) == ([["10.0", "1"]], [["11", "3"]])


def test_okx_checksum_matches_the_documented_vectors():
    assert okx_checksum([["3366.1", "7"], ["3366", "6"]], [["3366.8", "9"], ["3368", "8"]]) == -1881014294


# --------------------------------------------------------------------------- venues over whole recordings


def _drive(paths, exchange):
    """Publish every frame of a recording through the venue (no server) and return it."""
    emu = Emulator(load_timeline(paths, exchange), EmulatorConfig(rewrite_times=False))
    for item in emu.timeline.items:
        emu.venue.publish(item, 0)
    return emu


def test_okx_true_book_reproduces_every_recorded_checksum(shared_data):
    emu = _drive([shared_data / "okx" / "OKX.ws.1.0"], "okx")
    state = emu.venue.symbols_state()
    assert set(state) == {"BTC-USDT", "BTC-USD-220527", "UNI-USD-SWAP"}
    ok = sum(s["recorded_checksum_ok"] for s in state.values())
    bad = sum(s["recorded_checksum_bad"] for s in state.values())
    books = sum(1 for it in emu.timeline.items if it.kind == "books")
    assert bad == 0 and ok == books


def test_binance_true_book_matches_every_comparable_book_ticker(shared_data):
    """For each bookTicker whose ``u`` is a state id of the true book, its best bid/ask agree."""
    emu = Emulator(load_timeline([shared_data / "binance" / "BINANCE.ws.1.0"], "binance"), EmulatorConfig(rewrite_times=False))
    venue = emu.venue
    best_at: dict[tuple[str, int], tuple] = {}
    tickers = []
    for item in emu.timeline.items:
        venue.publish(item, 0)
        s = venue.syms[item.symbol]
        if item.kind == "depth" and s.book.known:
            bid, ask = s.book.best()
            best_at[(item.symbol, s.book.id)] = (bid[:2], ask[:2])
        elif item.kind == "bookTicker":
            tickers.append(orjson.loads(item.raw))
    checked = 0
    for t in tickers:
        got = best_at.get((t["s"], t["u"]))
        if got is not None:
            assert got == ([t["b"], t["B"]], [t["a"], t["A"]]), t
            checked += 1
    assert checked > 0
    for name, s in venue.syms.items():
        if s.book.known:
            assert s.applied > 0, name


def test_binance_loop_rewinds_continuously(shared_data):
    emu = Emulator(load_timeline([shared_data / "binance" / "BINANCE.ws.1.0"], "binance"), EmulatorConfig(rewrite_times=False, loop=True))
    venue = emu.venue
    sent: list[dict] = []

    class Sink:  # a client subscribed to one depth stream, receiving the raw events
        combined = False

        def send_data(self, text, is_depth, corrupt=None, group=None):
            sent.append(orjson.loads(text))

    venue.routes["nknusdt@depth@100ms"] = {Sink(): "nknusdt@depth@100ms"}
    start = venue.syms["NKNUSDT"].book.levels()
    for loop_k in range(3):
        if loop_k:
            venue.on_loop(loop_k)
            assert venue.syms["NKNUSDT"].book.levels() == start  # rewound to the snapshot state
        for item in emu.timeline.items:
            venue.publish(item, loop_k)
    snapshot_id = venue.syms["NKNUSDT"].start_id
    live = [d for d in sent if d["u"] > snapshot_id]
    assert len(live) > 3 * 10
    for prev, nxt in zip(live, live[1:]):
        assert nxt["U"] == prev["u"] + 1, (prev, nxt)


def test_load_timeline_errors(tmp_path, shared_data):
    with pytest.raises(SourceError, match="does not exist"):
        load_timeline([tmp_path / "nope.gz"], "binance")
    with pytest.raises(SourceError, match="not binance"):
        load_timeline([shared_data / "okx" / "OKX.ws.1.0"], "binance")
    bad = tmp_path / "bad.txt"
    bad.write_text("hello world\n")
    with pytest.raises(SourceError):
        load_timeline([bad], "okx")
