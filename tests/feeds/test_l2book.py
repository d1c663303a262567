"""core.l2book: the integer L2 book and the exact memoised string parsers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import core.l2book as l2
from core.l2book import BookGrid, L2BookPy, UnitParser
from core.numbers import NumberError

# Every test of the book runs on both implementations: the pure-Python one always, the native
# one (core/_l2native.c) when it is built; ``L2Book`` is the native one then.
BOOKS = [L2BookPy] + ([l2.L2BookNative] if l2.L2BookNative is not None else [])
book_types = pytest.mark.parametrize("L2Book", BOOKS, ids=lambda c: c.__name__)


@book_types
def test_set_delete_best_top_version(L2Book):
    b = L2Book()
    assert b.best() == (None, None) and not b.is_crossed() and b.top(5) == ([], [])
    b.set_bid(100, 5)
    b.set_bid(102, 1)
    b.set_bid(101, 2)
    b.set_ask(105, 3)
    b.set_ask(104, 4)
    assert b.best() == ((102, 1), (104, 4))
    assert b.top(2) == ([(102, 1), (101, 2)], [(104, 4), (105, 3)])
    v = b.version
    b.set_bid(102, 0)  # delete the best
    assert b.best_bid() == 101 and b.version == v + 1
    b.set_bid(102, 7)  # re-add: the stale heap entry must not confuse anything
    b.set_bid(102, 0)
    b.set_bid(102, 9)
    assert b.best_bid() == 102 and b.bids[102] == 9
    assert b.top_bids(10) == [(102, 9), (101, 2), (100, 5)]
    b.set_ask(102, 1)
    assert b.is_crossed()
    with pytest.raises(ValueError):
        b.set_bid(0, 1)
    with pytest.raises(ValueError):
        b.set_ask(5, -1)


@book_types
def test_update_replace_equality_rescale(L2Book):
    a, b = L2Book(), L2Book()
    a.replace([(10, 1), (9, 2), (8, 0)], [(12, 1), (13, 5)])
    assert a.depth() == (2, 2)  # the zero level is skipped
    a.update([10, 7], [0, 4], [12, 11, 11], [3, 2, 0])  # last entry for a tick wins
    b.replace([(9, 2), (7, 4)], [(12, 3), (13, 5)])
    assert a == b
    assert a.levels() == ([(9, 2), (7, 4)], [(12, 3), (13, 5)])
    c = a.copy()
    c.rescale(10, 100)
    assert c.levels() == ([(90, 200), (70, 400)], [(120, 300), (130, 500)])
    assert c.best() == ((90, 200), (120, 300))
    assert a != c


@book_types
def test_heap_compaction_keeps_the_best_right(L2Book):
    b = L2Book()
    for i in range(1, 5000):
        b.set_ask(i, 1)
        if i > 3:
            b.set_ask(i - 3, 0)
    assert b._heap_sizes()[1] <= 2 * len(b.asks) + 256  # stale entries stay bounded
    assert b.best_ask() == min(b.asks)
    b.set_bid(1, 1)
    for i in range(2, 3000):  # compaction right after a new level: the new level survives it
        b.set_bid(i, 1)
        b.set_bid(i - 1, 0)
        assert b.best_bid() == i
    assert b._heap_sizes()[0] <= 2 * len(b.bids) + 256
    b.update([], [], list(range(4996, 5000)), [0, 0, 0, 0])
    assert b.best_ask() is None or b.best_ask() == min(b.asks)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 40), st.integers(0, 3)), max_size=200), st.integers(1, 8),
       st.sampled_from(BOOKS))
def test_matches_a_plain_reference(ops, n, L2Book):
    book = L2Book()
    ref = {True: {}, False: {}}
    for i in range(0, len(ops), 7):
        chunk = ops[i:i + 7]
        bt = [t for side, t, q in chunk if side]
        bl = [q for side, t, q in chunk if side]
        at = [t + 50 for side, t, q in chunk if not side]
        al = [q for side, t, q in chunk if not side]
        book.update(bt, bl, at, al)
        for side, t, q in chunk:
            t = t if side else t + 50
            if q:
                ref[side][t] = q
            else:
                ref[side].pop(t, None)
        assert book.bids == ref[True] and book.asks == ref[False]
        assert book.best_bid() == (max(ref[True]) if ref[True] else None)
        assert book.best_ask() == (min(ref[False]) if ref[False] else None)
        assert book.top_bids(n) == sorted(ref[True].items(), reverse=True)[:n]
        assert book.top_asks(n) == sorted(ref[False].items())[:n]


def test_unit_parser_exact_and_strict():
    p = UnitParser("0.01", what="price")
    q = UnitParser(Decimal("0.00000001"), allow_zero=True)
    assert p["61837.63000000"] == 6183763 and p["61837.63"] == 6183763 and p["5"] == 500
    assert q["0.00000000"] == 0 and q["93.75858700"] == 9375858700
    assert q("1.5") == 150000000  # callable too
    for bad in ("1e5", "-1", "+1", "1_0", "\u0661", "", ".", " 1", "1 ", "0x1", "1.2.3", "nan", "inf"):
        with pytest.raises(NumberError):
            p[bad]
        assert bad not in p  # never memoised
    with pytest.raises(NumberError) as e:
        p["0.001"]
    assert e.value.code == "OFF_GRID"
    with pytest.raises(NumberError):
        p["0.00"]  # a price of 0
    with pytest.raises(NumberError):
        p[1.5]  # a float is never accepted
    small = UnitParser("0.1", max_size=3)
    for s in ("1", "2", "3", "4"):
        small[s]
    assert len(small) <= 3


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**12), st.integers(0, 10), st.integers(0, 4))
def test_unit_parser_agrees_with_decimal(units, places, pad):
    step = Decimal(1).scaleb(-places)
    text = format(Decimal(units).scaleb(-places), "f")
    if pad and "." in text:
        text += "0" * pad
    elif pad:
        text += "." + "0" * pad
    parser = UnitParser(step, allow_zero=True)
    assert parser[text] == int(Decimal(text) / step)
    assert parser.parse(text) == parser[text]


def test_grid_formats_back():
    g = BookGrid(Decimal("0.01"), Decimal("0.00001"), source="test")
    assert g.fmt_price(g.prices["61837.63"]) == "61837.63"
    assert g.fmt_qty(g.qtys["0.5"]) == "0.50000"
    assert g == BookGrid(Decimal("0.010"), Decimal("0.00001"))
