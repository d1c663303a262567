"""The replay source over real ``../shared/data`` recordings: same books as ``feed replay``, candles
equal to an independent Decimal reference built from the raw trade frames, and the transport
(step counts, pause, seek back and forth giving the same state as a straight run)."""

from __future__ import annotations

import gzip
import json
from collections import OrderedDict
from decimal import Decimal

import pytest

from feeds.recordings import read_many
from feeds.session import replay as session_replay
from tui.sources.replay import SPEEDS, ReplaySource, check_speed, next_speed

BTC_2024 = "binance/binance_spot_btcusdt_20240808.gz"


def _run(src: ReplaySource, timeout: float = 120) -> ReplaySource:
    src.start()
    try:
        assert src.replay.wait(timeout), "the replay did not reach the end"
        assert src.replay.error is None
    finally:
        src.stop()
    return src


def _reference_candles(path) -> list[tuple]:
    """1-minute OHLCV from the raw trade frames, in Decimal, by trade time (flat candles for
    empty minutes, at the previous close)."""
    bars: OrderedDict[int, list] = OrderedDict()
    with gzip.open(path, "rt") as f:
        for line in f:
            _, _, raw = line.partition(" ")
            if '"e":"trade"' not in raw:
                continue
            d = json.loads(raw)["data"]
            minute = d["T"] // 60_000
            p, q = Decimal(d["p"]), Decimal(d["q"])
            bar = bars.get(minute)
            if bar is None:
                bars[minute] = [p, p, p, p, q, 1]
            else:
                bar[1], bar[2], bar[3] = max(bar[1], p), min(bar[2], p), p
                bar[4] += q
                bar[5] += 1
    out = []
    keys = list(bars)
    for m in range(keys[0], keys[-1] + 1):
        if m in bars:
            out.append((m * 60_000_000_000, *bars[m]))
        else:
            close = out[-1][4]
            out.append((m * 60_000_000_000, close, close, close, close, Decimal(0), 0))
    return out


@pytest.mark.parametrize("name", [BTC_2024, "binance/BINANCE.ws.1.0", "okx/OKX.ws.1.0", "binance/BINANCE_FUTURES.ws.1.0"])
def test_replay_books_equal_feed_replay(shared_data, name):
    path = shared_data / name
    src = _run(ReplaySource([path], speed=0))
    ref = session_replay(read_many([path])).report()["symbols"]
    summary = src.summary()
    assert summary, "no symbol replayed"
    for sym, s in summary.items():
        r = ref[f"{s['venue']}:{s['exchange_symbol']}"]
        assert (s["events"], s["applied"], s["gaps"], s["resyncs"], s["crossed"]) == (
            r["events"], r["applied"], r["gaps"], r["resyncs"], r["crossed"])
        assert s["top"] == r["best"]
        view = src.state.view(sym)
        if r["synced"] and r["best"]["bid"] is not None:
            assert (Decimal(view.best_bid), Decimal(view.best_ask)) == (Decimal(r["best"]["bid"]), Decimal(r["best"]["ask"]))
            assert Decimal(view.bids[0].qty) == Decimal(r["best"]["bid_qty"])


def test_replay_trades_and_candles_match_the_raw_frames(shared_data):
    path = shared_data / BTC_2024
    src = _run(ReplaySource([path], speed=0))
    with gzip.open(path, "rt") as f:
        trade_frames = sum('"e":"trade"' in line for line in f)
    s = src.summary()["BTC/USDT"]
    assert s["trades"] == trade_frames
    view = src.state.view("BTC/USDT")
    assert view.trade_count == trade_frames
    got = [(c.start, Decimal(c.open), Decimal(c.high), Decimal(c.low), Decimal(c.close), Decimal(c.volume), c.trades)
           for c in view.candles_1m]
    assert got == _reference_candles(path)
    assert s["candles_1m"] == len(view.candles_1m)


def test_step_counts_market_messages_and_pause_holds(shared_data):
    path = shared_data / "binance/BINANCE.ws.1.0"
    src = ReplaySource([path], speed=1, playing=False)
    src.start()
    try:
        src.replay.step(5)
        _wait(lambda: src.session.counts["ws"] + src.session.counts["rest"] == 5)
        first = src.replay.position_ns
        assert first > src.replay.start_ns or src.session.counts["ws"] + src.session.counts["rest"] == 5
        src.replay.step(7)
        _wait(lambda: src.session.counts["ws"] + src.session.counts["rest"] == 12)
        assert src.replay.playing is False
        assert src.replay.position_ns >= first
    finally:
        src.stop()


def test_seek_back_and_forth_gives_the_same_state_as_a_straight_run(shared_data):
    path = shared_data / "binance/BINANCE-b38f7c.0"
    straight = _run(ReplaySource([path], speed=0)).summary()
    src = ReplaySource([path], speed=0, playing=False)
    src.start()
    try:
        mid = (src.replay.start_ns + src.replay.end_ns) // 2
        src.replay.seek(mid)
        _wait(lambda: src.replay.position_ns == mid)
        at_mid = src.summary()
        assert sum(s["events"] for s in at_mid.values()) < sum(s["events"] for s in straight.values())
        src.replay.seek(src.replay.end_ns)
        assert src.replay.wait(60)
        src.replay.seek(src.replay.start_ns + 1)  # backwards: rebuilt from the start
        _wait(lambda: not src.replay.at_end and src.replay.position_ns == src.replay.start_ns + 1)
        src.replay.set_speed(0)
        src.replay.play()
        assert src.replay.wait(60)
        assert src.summary() == straight
    finally:
        src.stop()


def test_until_stops_the_replay_at_that_time(shared_data):
    path = shared_data / "okx/OKX.ws.1.0"
    whole = ReplaySource([path], speed=0)
    until = (whole.recording.start_ns + whole.recording.end_ns) // 2
    src = _run(ReplaySource([path], speed=0, until_ns=until))
    assert src.replay.position_ns <= until
    handled = src.replay.handled
    expected = sum(1 for r in read_many(whole.recording.files, companions=False) if r.ts_ns <= until)
    assert handled == expected


def test_speeds_and_bad_inputs(shared_data, tmp_path):
    assert [next_speed(1, +1), next_speed(1, -1), next_speed(64, +1), next_speed(0.25, -1), next_speed(3, +1)] == [
        2.0, 0.5, 64.0, 0.25, 4.0]
    assert check_speed(0) == 0 and check_speed(SPEEDS[-1]) == 64
    with pytest.raises(ValueError, match="speed must be 0 .* between 0.25 and 64, got 100"):
        check_speed(100)
    bad = tmp_path / "bad.txt"
    bad.write_text("hello world\n")
    with pytest.raises(ValueError, match="cannot replay .*bad.txt: .*not a known recording format"):
        ReplaySource([bad])
    with pytest.raises(ValueError, match="no such file"):
        ReplaySource([tmp_path / "missing.gz"])
    with pytest.raises(ValueError, match="unknown symbol DOGE/USDT: the recording has BTC/USDT"):
        ReplaySource([shared_data / BTC_2024], symbols=["DOGE/USDT"])


def test_a_replay_cannot_trade(shared_data):
    src = ReplaySource([shared_data / "okx/OKX.ws.1.0"], playing=False)
    with pytest.raises(Exception, match="trading needs the simulated market"):
        src.submit({"op": "new"}).result(1)
    with pytest.raises(Exception, match="trading needs the simulated market"):
        src.precheck({"op": "new"}).result(1)
    assert src.can_trade is False and src.account() is None


def _wait(predicate, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the replay")
        time.sleep(0.01)
