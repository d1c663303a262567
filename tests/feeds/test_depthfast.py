"""The compiled depth path (feeds._depthfast + the native book core._l2native) equals the pure path.

* Every depthUpdate frame of every Binance recording in ../shared/data (spot and USD-M): the
  compiled parser's DepthDiff equals ``parse_py``'s, and it declines only frames whose symbol
  has no grid yet or that the pure path rejects; replaying each recording with the compiled
  path (native book) and with the pure path (L2BookPy) gives the same report and the same books.
* Hypothesis frames on random grids (non-power-of-ten ticks such as 0.5 or 5, long digit
  strings, zero quantities, off-grid values, whitespace/reordering, garbage bytes): the parser
  (fast first, pure fallback) returns exactly what the pure parser returns, or raises the same
  error; whenever the compiled parser takes a frame its record equals the pure one.
* Random level sequences: the native ``L2Book.update`` / ``best_bid`` / ``best_ask`` leave the
  same levels, best prices, top levels and version as ``L2BookPy`` (tests/feeds/test_l2native.py
  drives every other operation).
"""

from __future__ import annotations

import os
import random
from decimal import Decimal

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import core.l2book as l2
import feeds.binance as bn
import feeds.booksync as booksync
from core.l2book import BookGrid, L2Book, L2BookPy
from feeds.binance import SPOT, USDM, BinanceParser, FeedParseError
from feeds.recordings import WS, read_many
from feeds.session import FeedSession, replay

needs_c = pytest.mark.skipif(
    bn._c_parse_depth is None or l2.L2BookNative is None,
    reason="the optional C extensions are not built here (no compiler at install time, or "
    "TICKDESK_PURE_PYTHON set): the pure path is the only path",
)

BINANCE_RECORDINGS = [
    ["binance/binance_spot_btcusdt_20240808.gz", "binance/binance_spot_btcusdt_20240809.gz"],
    ["binance/BINANCE-b38f7c.0"],
    ["binance/BINANCE.ws.1.0"],
    ["binance/BINANCE.http.0.0"],
    ["binance/BINANCE_FUTURES.ws.1.0"],
    ["binance/BINANCE_FUTURES.http.0.0"],
]


def _outcome(fn, *args):
    """A parse result, or the error as (type, message, key, number_code)."""
    try:
        return ("ok", fn(*args))
    except FeedParseError as exc:
        return ("error", str(exc), exc.key, exc.number_code)


# ---------------------------------------------------------------------------- recordings
@needs_c
@pytest.mark.parametrize("files", BINANCE_RECORDINGS, ids=lambda f: f[0].split("/")[-1])
def test_every_recorded_depth_frame_parses_the_same(shared_data, files):
    paths = [shared_data / f for f in files]
    session = FeedSession()
    compared = declined = 0
    for rec in read_many(paths):
        if rec.kind == WS and '"depthUpdate"' in rec.raw[:120]:
            parser = session.parser(rec.exchange)
            obj = orjson.loads(rec.raw)
            symbol = obj.get("data", obj).get("s")
            known = symbol in parser._specs
            fast = bn._c_parse_depth(rec.raw, parser._specs, rec.ts_ns)
            pure = _outcome(parser.parse_py, rec.raw, rec.ts_ns)
            if fast is None:
                # Declined only when the symbol has no grid yet, or the pure path rejects it.
                assert not known or pure[0] == "error", rec.raw[:200]
                declined += 1
            else:
                assert pure == ("ok", fast)
                assert type(fast) is type(pure[1])
                assert type(fast.bid_ticks) is type(fast.ask_lots) is l2.Levels  # no int per level
                compared += 1
        session.handle(rec)
    assert compared > 0
    # The recordings are exchange output: all but each symbol's first frame take the fast path.
    assert declined <= len(session.syncs), (compared, declined)


@needs_c
@pytest.mark.parametrize("files", BINANCE_RECORDINGS, ids=lambda f: f[0].split("/")[-1])
def test_replay_with_the_compiled_path_equals_the_pure_path(shared_data, files, monkeypatch):
    paths = [shared_data / f for f in files]
    fast = replay(read_many(paths))
    monkeypatch.setattr(bn, "_c_parse_depth", None)
    monkeypatch.setattr(booksync, "L2Book", L2BookPy)
    pure = replay(read_many(paths))
    assert all(p.implementation == "python" for p in pure.parsers.values() if isinstance(p, BinanceParser))
    assert fast.report() == pure.report()
    assert fast.syncs.keys() == pure.syncs.keys()
    for key, s in fast.syncs.items():
        a, b = s.book, pure.syncs[key].book
        assert type(a) is l2.L2BookNative and type(b) is L2BookPy
        assert (a.bids, a.asks, a.version, a.update_id) == (b.bids, b.asks, b.version, b.update_id), key
        assert (a.best(), a.top(50), a.depth()) == (b.best(), b.top(50), b.depth()), key


# ---------------------------------------------------------------------------- generated frames
GRIDS = [  # (tick, lot): powers of ten and not
    ("0.01", "0.00001"), ("0.5", "1"), ("5", "0.001"), ("0.00000001", "0.00000001"), ("1", "0.25"),
    ("0.0025", "10"), ("0.1", "0.1"), ("0.000000000000000001", "0.000000000000000001"), ("25", "0.5"),
]


def _fmt(units: int, step: Decimal, extra_zeros: int, lead_zeros: int, places: int | None) -> str:
    """``units * step`` as a decimal string with ``places`` decimals (None: the step's)."""
    value = Decimal(units) * step
    p = -step.as_tuple().exponent if places is None else places
    text = f"{value:.{max(p, 0)}f}"
    if extra_zeros:
        text = text + ("" if "." in text else ".") + "0" * extra_zeros
    return "0" * lead_zeros + text


@st.composite
def level_text(draw, step: Decimal, allow_zero: bool):
    kind = draw(st.sampled_from(["grid", "grid", "grid", "zero", "offgrid", "long", "weird"]))
    if kind == "zero":
        return draw(st.sampled_from(["0", "0.0", "0.00000000", "00.000"]))
    if kind == "offgrid":
        return draw(st.sampled_from(["0.123456789012345678901", "1.0000000000000000001", "3.3", "7", "0.75"]))
    if kind == "weird":
        return draw(st.sampled_from(["", ".5", "5.", "1e3", "-1", " 1", "1,0", "١", "+1", "0x10", "1.2.3",
                                     "9" * 45, "1" + "0" * 19, "18446744073709551616"]))
    units = draw(st.integers(min_value=0 if allow_zero else 1, max_value=10**draw(st.sampled_from([3, 9, 15, 20]))))
    extra = draw(st.integers(0, 25)) if kind == "long" else 0
    lead = draw(st.integers(0, 20)) if kind == "long" else 0
    return _fmt(units, step, extra, lead, None)


@st.composite
def depth_frame(draw):
    tick, lot = map(Decimal, draw(st.sampled_from(GRIDS)))
    usdm = draw(st.booleans())
    n_b = draw(st.integers(0, 6))
    n_a = draw(st.integers(0, 6))
    b = [[draw(level_text(tick, False)), draw(level_text(lot, True))] for _ in range(n_b)]
    a = [[draw(level_text(tick, False)), draw(level_text(lot, True))] for _ in range(n_a)]
    E = draw(st.sampled_from([1723161255208, 0, 9_000_000_000_001, 10**18 - 1]))
    U = draw(st.integers(0, 10**19))
    u = draw(st.integers(0, 10**18))
    data = {"e": "depthUpdate", "E": E}
    if usdm:
        data["T"] = E - 13
    data["s"] = draw(st.sampled_from(["BTCUSDT", "ETHUSDT"]))
    data["U"], data["u"] = U, u
    if usdm:
        data["pu"] = draw(st.integers(0, 10**18))
    data["b"], data["a"] = b, a
    obj = {"stream": data["s"].lower() + "@depth@100ms", "data": data} if draw(st.booleans()) else data
    raw = orjson.dumps(obj)
    mutation = draw(st.sampled_from(["none"] * 6 + ["space", "reorder", "garbage", "truncate", "escape", "bytes"]))
    if mutation == "space":
        i = draw(st.integers(0, len(raw)))
        raw = raw[:i] + b" " + raw[i:]
    elif mutation == "reorder":
        raw = orjson.dumps({k: data[k] for k in reversed(list(data))})
    elif mutation == "garbage":
        i = draw(st.integers(0, len(raw) - 1))
        raw = raw[:i] + bytes([draw(st.integers(0, 255))]) + raw[i + 1:]
    elif mutation == "truncate":
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    elif mutation == "escape":
        raw = raw.replace(b'"BTCUSDT"', b'"BTC\\u0055SDT"').replace(b'"depthUpdate"', b'"depth\\u0055pdate"')
    out = raw if mutation == "bytes" else raw.decode("utf-8", errors="replace")
    return (tick, lot), (USDM if usdm else SPOT), out, mutation


def _parsers(exchange: str, grid: tuple[Decimal, Decimal]) -> tuple[BinanceParser, BinanceParser]:
    pair = BinanceParser(exchange), BinanceParser(exchange, fast=False)
    for p in pair:
        for sym in ("BTCUSDT", "ETHUSDT"):
            p.set_grid(sym, BookGrid(*grid))
    return pair


@needs_c
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(depth_frame())
def test_generated_frames_give_identical_results_or_errors(case):
    grid, exchange, raw, mutation = case
    fast, pure = _parsers(exchange, grid)
    assert _outcome(fast.parse, raw, 7) == _outcome(pure.parse, raw, 7)
    direct = bn._c_parse_depth(raw, fast._specs, 7)
    if direct is not None:
        assert pure.parse(raw, 7) == direct


def test_canonical_frames_take_the_compiled_path():
    """Not vacuous: well-formed on-grid frames on each kind of grid are taken by the C parser
    (spot and USD-M shapes, envelope and bare, str and bytes)."""
    if bn._c_parse_depth is None:
        pytest.skip("feeds._depthfast is not built here: nothing compiled to exercise")
    rng = random.Random(3)
    for tick, lot in GRIDS:
        t, q = Decimal(tick), Decimal(lot)
        for exchange in (SPOT, USDM):
            fast, pure = _parsers(exchange, (t, q))
            levels = [[_fmt(rng.randrange(1, 10**9), t, 0, 0, None), _fmt(rng.randrange(0, 10**6), q, 0, 0, None)]
                      for _ in range(20)]
            data = {"e": "depthUpdate", "E": 1723161255208, **({"T": 1723161255200} if exchange == USDM else {}),
                    "s": "BTCUSDT", "U": 5, "u": 9, **({"pu": 4} if exchange == USDM else {}),
                    "b": levels[:10], "a": levels[10:]}
            for obj in ({"stream": "btcusdt@depth@100ms", "data": data}, data):
                for raw in (orjson.dumps(obj), orjson.dumps(obj).decode()):
                    got = bn._c_parse_depth(raw, fast._specs, 11)
                    assert got is not None, (tick, lot, raw[:120])
                    assert got == pure.parse(raw, 11)
                    assert got.prev_id == (4 if exchange == USDM else None)


def test_pure_python_switch_reports_python():
    """TICKDESK_PURE_PYTHON=1 disables both compiled parts, and tickdesk says so; "0" does not."""
    import subprocess
    import sys

    code = ("import core.l2book as l, feeds.binance as b, feeds.bench as fb;"
            "print(l.UPDATE_IMPLEMENTATION, b.DEPTH_IMPLEMENTATION, fb.implementation())")
    env = {**os.environ, "TICKDESK_PURE_PYTHON": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["python", "python", "python"]
    env["TICKDESK_PURE_PYTHON"] = "0"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    book, parser = _built()
    assert out.stdout.split() == [book, parser, "c" if book == parser == "c" else "python"]


def _built() -> tuple[str, str]:
    """What a process without TICKDESK_PURE_PYTHON runs: (book, depth parser), "c" when built.
    (Not this process's modules: the suite may itself run with the pure path forced, and the
    test session clears TICKDESK_* for its subprocesses.)"""
    from importlib.util import find_spec

    return tuple("c" if find_spec(m) is not None else "python" for m in ("core._l2native", "feeds._depthfast"))


# ---------------------------------------------------------------------------- book update
def _state(book) -> tuple:
    return (book.bids, book.asks, book.version, book.best(), book.top(5), book.depth())


@needs_c
@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.lists(st.tuples(st.integers(1, 400), st.sampled_from([0, 0, 1, 2, 7, 10**12, 2**62]))),
                          st.lists(st.tuples(st.integers(1, 400), st.sampled_from([0, 0, 1, 3, 10**15])))),
                max_size=40),
       st.booleans())
def test_native_update_equals_the_python_loop(messages, big_ticks):
    a, b = L2Book(), L2BookPy()
    scale = 2**52 if big_ticks else 1  # ticks near the 64-bit limit
    for bids, asks in messages:
        bt, bl = [t * scale for t, _ in bids], [q for _, q in bids]
        at, al = [t * scale for t, _ in asks], [q for _, q in asks]
        a.update(bt, bl, at, al)
        b.update_py(bt, bl, at, al)
        assert (a.best_bid(), a.best_ask()) == (b.best_bid_py(), b.best_ask_py())
        assert _state(a) == _state(b)


@needs_c
def test_native_update_compacts_its_heaps():
    """Thousands of levels set and removed: same book as the Python loop, heaps stay bounded."""
    rng = random.Random(11)
    a, b = L2Book(), L2BookPy()
    for _ in range(300):
        bt = [rng.randrange(1, 5000) for _ in range(30)]
        bl = [rng.choice([0, 0, rng.randrange(1, 100)]) for _ in bt]
        at = [rng.randrange(5001, 10000) for _ in range(30)]
        al = [rng.choice([0, 0, rng.randrange(1, 100)]) for _ in at]
        a.update(bt, bl, at, al)
        b.update_py(bt, bl, at, al)
        assert _state(a) == _state(b)
    nb, na = a._heap_sizes()
    assert nb <= 2 * len(a.bids) + 256 and na <= 2 * len(a.asks) + 256


@needs_c
def test_native_update_raises_like_the_python_loop():
    for bad in (([[1]], [5], [], []), (["a"], [1], [], []), (5, [1], [], [])):
        errors = []
        for make, fn in ((L2Book, L2Book.update), (L2BookPy, L2BookPy.update_py)):
            try:
                fn(make(), *bad)
                errors.append(None)
            except Exception as exc:  # noqa: BLE001 - comparing what each raises
                errors.append(type(exc))
        assert errors[0] == errors[1] and errors[0] is not None, (bad, errors)


def test_bench_feed_reports_the_pure_path_when_forced(shared_data, run_cli):
    """The bench runs (books equal to the reference) on the pure path and says it did."""
    code, out, err = run_cli("bench", "feed", "--rounds", "1", "--json", env={"TICKDESK_PURE_PYTHON": "1"})
    assert code == 0, err
    r = orjson.loads(out)
    assert r["implementation"] == "python"
    assert r["implementation_parts"] == {"depth_parser": "python", "book_update": "python"}
    assert r["books_equal"] is True and r["sync_path"]["gaps"] == 0


def test_bench_feed_reports_the_active_implementation(shared_data, run_cli):
    code, out, err = run_cli("bench", "feed", "--rounds", "1", "--json")
    assert code == 0, err
    r = orjson.loads(out)
    book, parser = _built()
    assert r["implementation"] == ("c" if book == parser == "c" else "python")
    assert r["implementation_parts"] == {"depth_parser": parser, "book_update": book}
    assert r["books_equal"] is True
