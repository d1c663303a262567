"""The native L2 book (core/_l2native.c) is observably the pure-Python L2BookPy.

* Hypothesis drives both with the same random operation sequences (set/remove one level,
  update a message, replace a snapshot, clear, rescale, copy, heap compaction,
  best/top/equality reads; ticks
  up to 2**62, zero lots, repeated ticks) and compares every observable after every step:
  the ``bids``/``asks`` dicts, best bid/ask (and their lots), depth, top(n), sorted levels,
  crossed, version, update_id and equality with the other implementation's levels.
* ``Levels`` (the compiled parser's int64 arrays) behaves as the list of ints it stands for,
  and ``update`` reads it with exactly the result of the same lists.
* Bad input is refused with the pure book's exception types, and the native book changes
  nothing on a refused update or replace.
* Every recording with depth in ../shared/data (Binance spot and USD-M, OKX with checksums)
  replays to the same report and the same books on the native and on the pure book.
"""

from __future__ import annotations

import copy
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import core.l2book as l2
from core.l2book import L2BookPy

native_only = pytest.mark.skipif(
    l2.L2BookNative is None,
    reason="core._l2native is not built here (no compiler at install time, or TICKDESK_PURE_PYTHON "
    "set): the pure book is the only book",
)

TICK = st.integers(1, 2**62) | st.integers(1, 60)  # huge ticks and a dense band that repeats
LOTS = st.sampled_from([0, 0, 1, 2, 10**8, 2**62]) | st.integers(0, 1000)
LEVEL = st.tuples(TICK, LOTS)

OPS = st.one_of(
    st.tuples(st.just("set_bid"), LEVEL),
    st.tuples(st.just("set_ask"), LEVEL),
    st.tuples(st.just("update"), st.tuples(st.lists(LEVEL, max_size=12), st.lists(LEVEL, max_size=12))),
    st.tuples(st.just("replace"), st.tuples(st.lists(LEVEL, max_size=30), st.lists(LEVEL, max_size=30))),
    st.tuples(st.just("clear"), st.none()),
    st.tuples(st.just("rescale"), st.tuples(st.integers(1, 4), st.integers(1, 4))),
    st.tuples(st.just("copy"), st.none()),
    st.tuples(st.just("_compact"), st.booleans()),
    st.tuples(st.just("ids"), st.tuples(st.integers(0, 2**70) | st.none(), st.integers(0, 2**62))),
)


def _observe(book, n: int) -> tuple:
    return (book.bids, book.asks, book.best(), book.best_bid(), book.best_ask(), book.depth(), book.top(n),
            book.top_bids(n + 3), book.top_asks(1), book.levels(), book.is_crossed(), book.version,
            book.update_id, book.ts_ns)


def _apply(book, op: str, arg):
    if op in ("set_bid", "set_ask"):
        getattr(book, op)(*arg)
    elif op == "update":
        bids, asks = arg
        book.update([t for t, _ in bids], [q for _, q in bids], [t for t, _ in asks], [q for _, q in asks])
    elif op == "replace":
        book.replace(*arg)
    elif op == "clear":
        book.clear()
    elif op == "rescale":
        book.rescale(*arg)
    elif op == "copy":
        return book.copy()
    elif op == "_compact":
        book._compact(arg)  # a heap rebuild changes nothing observable
    elif op == "ids":
        book.update_id, book.ts_ns = arg
    return book


def _fits_after_rescale(book, fp: int, fq: int) -> bool:
    ticks = [*book.bids, *book.asks]
    lots = [*book.bids.values(), *book.asks.values()]
    return max(ticks, default=0) * fp < 2**63 and max(lots, default=0) * fq < 2**63


@native_only
@settings(max_examples=400, deadline=None)
@given(st.lists(OPS, max_size=40), st.integers(0, 40))
def test_native_book_equals_the_pure_book_after_every_step(ops, n):
    native, pure = l2.L2BookNative(), L2BookPy()
    for op, arg in ops:
        if op == "rescale" and not _fits_after_rescale(pure, *arg):
            continue  # beyond 64 bits: the native book refuses (tested below)
        native = _apply(native, op, arg)
        pure = _apply(pure, op, arg)
        assert type(native) is l2.L2BookNative and type(pure) is L2BookPy
        assert _observe(native, n) == _observe(pure, n), (op, arg)
        assert native == native.copy() and pure == pure.copy()
        assert native == pure and pure == native  # levels compared across implementations
        assert native._heap_sizes()[0] <= 2 * len(native.bids) + 256 + 1
        assert repr(native) == repr(pure)


@native_only
def test_equality_and_pickling_of_native_books():
    a, b = l2.L2BookNative(), l2.L2BookNative()
    a.replace([(5, 1), (4, 2)], [(7, 3)])
    b.update([4, 5], [2, 1], [7], [3])
    assert a == b and not (a != b)
    b.set_ask(8, 1)
    assert a != b
    for clone in (pickle.loads(pickle.dumps(b)), copy.deepcopy(b), b.copy()):
        assert type(clone) is l2.L2BookNative
        assert (clone.bids, clone.asks, clone.version, clone.update_id, clone.ts_ns) == (
            b.bids, b.asks, b.version, b.update_id, b.ts_ns)
    with pytest.raises(TypeError):
        hash(a)


@native_only
def test_bids_dict_is_cached_until_the_next_change():
    b = l2.L2BookNative()
    b.replace([(5, 1)], [(7, 3)])
    first = b.bids
    assert b.bids is first and first == {5: 1}
    b.set_ask(9, 1)  # any change invalidates both sides' dicts
    assert b.bids is not first and b.bids == {5: 1} and b.asks == {7: 3, 9: 1}
    b.version = 0  # version is the caller's counter; the cache does not depend on it
    b.set_bid(6, 2)
    assert b.bids == {5: 1, 6: 2}


# ---------------------------------------------------------------------------- Levels
@native_only
def test_levels_behave_as_the_list_they_stand_for():
    from feeds.binance import BinanceParser

    parser = BinanceParser()
    raw = ('{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["100.50","1.5"],["100.40","0.0"]],'
           '"a":[["101.00","2.25"]]}')
    parser.meta("BTCUSDT", "100.50", "1.50")
    d = parser.parse(raw)
    if parser.implementation != "c":
        pytest.skip("feeds._depthfast is not built here: frames hold lists")
    assert type(d.bid_ticks) is l2.Levels
    assert d.bid_ticks == [10050, 10040] and [10050, 10040] == d.bid_ticks and d.bid_lots == (150, 0)
    assert d.bid_ticks != [10050] and d.ask_lots == [225]
    assert list(d.bid_ticks) == [10050, 10040] and len(d.bid_ticks) == 2 and bool(d.ask_ticks)
    assert d.bid_ticks[-1] == 10040 and d.bid_ticks[:1] == [10050] and repr(d.bid_ticks) == "[10050, 10040]"
    with pytest.raises(IndexError):
        d.bid_ticks[2]
    with pytest.raises(TypeError):
        hash(d.bid_ticks)
    assert pickle.loads(pickle.dumps(d.bid_ticks)) == [10050, 10040]
    assert d == parser.parse_py(raw)  # the whole record equals the pure parser's lists
    assert d._replace(bid_ticks=[t * 10 for t in d.bid_ticks]).bid_ticks == [100500, 100400]
    a, b = l2.L2BookNative(), l2.L2BookNative()
    a.update(d.bid_ticks, d.bid_lots, d.ask_ticks, d.ask_lots)
    b.update(list(d.bid_ticks), list(d.bid_lots), list(d.ask_ticks), list(d.ask_lots))
    assert a.levels() == b.levels() == ([(10050, 150)], [(10100, 225)]) and a.version == b.version == 1


# ---------------------------------------------------------------------------- bad input
BAD_UPDATES = [([[1]], [5], [], []), (["a"], [1], [], []), (5, [1], [], []), ([1.5], [1], [], []), ([1], [True], [], [])]


@native_only
@pytest.mark.parametrize("bad", BAD_UPDATES, ids=range(len(BAD_UPDATES)))
def test_native_update_refuses_what_the_pure_update_cannot_take(bad):
    book = l2.L2BookNative()
    book.replace([(3, 1)], [(9, 1)])
    with pytest.raises(TypeError):
        book.update(*bad)
    assert book.levels() == ([(3, 1)], [(9, 1)]) and book.version == 1  # nothing applied


@native_only
def test_native_book_refuses_bad_levels_and_changes_nothing():
    book = l2.L2BookNative()
    book.replace([(3, 1)], [(9, 1)])
    for bad in ([(0, 1)], [(5, -1)], [(5, 1.0)], [(2**63, 1)], [(5, 1, 2)]):
        with pytest.raises((ValueError, OverflowError)):
            book.replace([(4, 1)], bad)
        assert book.levels() == ([(3, 1)], [(9, 1)]) and book.version == 1
    with pytest.raises(ValueError):
        book.update([3, 0], [1, 1], [], [])  # tick 0: refused before anything changes
    with pytest.raises(OverflowError):
        book.update([], [], [9], [2**63])
    assert book.levels() == ([(3, 1)], [(9, 1)]) and book.version == 1
    for setter in (book.set_bid, book.set_ask):
        for t, q in ((0, 1), (5, -1), (True, 1), (5, 1.0)):
            with pytest.raises(ValueError, match="level must be"):
                setter(t, q)
        with pytest.raises(OverflowError):
            setter(2**64, 1)
    assert book.version == 1


@pytest.mark.parametrize("impl", ["pure", "native"])
def test_set_refuses_like_the_pure_book(impl):
    if impl == "native" and l2.L2BookNative is None:
        pytest.skip("core._l2native is not built here")
    book = L2BookPy() if impl == "pure" else l2.L2BookNative()
    for t, q in ((0, 1), (5, -1), (True, 1), ("5", 1)):
        with pytest.raises(ValueError, match=r"level must be \(tick > 0, lots >= 0\) integers"):
            book.set_bid(t, q)


# ---------------------------------------------------------------------------- recordings
RECORDINGS = [  # every recording with depth in ../shared/data (Binance spot/USD-M, OKX books)
    ["binance/binance_spot_btcusdt_20240808.gz", "binance/binance_spot_btcusdt_20240809.gz"],
    ["binance/BINANCE-b38f7c.0"],
    ["binance/BINANCE.ws.1.0", "binance/BINANCE.http.0.0"],
    ["binance/BINANCE_FUTURES.ws.1.0", "binance/BINANCE_FUTURES.http.0.0"],
    ["okx/OKX.ws.1.0"],
]


@native_only
@pytest.mark.parametrize("files", RECORDINGS, ids=lambda f: f[0].split("/")[-1])
def test_recordings_replay_the_same_on_the_native_and_the_pure_book(shared_data, files, monkeypatch):
    """The real path (FeedSession, the venue's sync, L2Book) with the native book and with the
    pure one: the same report (events, gaps, resyncs, crossed, OKX checksums...) and books."""
    import feeds.booksync as booksync
    from feeds.recordings import read_many
    from feeds.session import replay

    paths = [shared_data / f for f in files]
    native = replay(read_many(paths))
    monkeypatch.setattr(booksync, "L2Book", L2BookPy)
    pure = replay(read_many(paths))
    assert native.report() == pure.report()
    assert native.syncs.keys() == pure.syncs.keys() and native.syncs
    applied = 0
    for key, s in native.syncs.items():
        a, b = s.book, pure.syncs[key].book
        assert type(a) is l2.L2BookNative and type(b) is L2BookPy
        assert (a.bids, a.asks, a.version, a.update_id, a.ts_ns) == (b.bids, b.asks, b.version, b.update_id, b.ts_ns), key
        assert (a.best(), a.top(25), a.depth()) == (b.best(), b.top(25), b.depth()), key
        applied += s.health.applied
    assert applied > 0  # not vacuous: messages were applied to the books
