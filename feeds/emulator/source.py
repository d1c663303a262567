"""Turn recordings (any format :mod:`feeds.recordings` reads) into an emulator timeline.

A timeline is the list of market-data frames the exchange pushed, with their original
receive times relative to the first one, plus the REST answers the recorder saw (depth
snapshots, exchangeInfo, OKX instruments).  Frames are kept as raw text and parsed when
served, so a long recording costs little memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import orjson

from feeds.recordings import REST, WS, RecordingError, read_many


class SourceError(ValueError):
    """The recording cannot be served by the requested emulator."""


@dataclass(slots=True)
class Item:
    """One pushed frame: ``t_ns`` since the first frame; ``key`` is the venue's routing key."""

    t_ns: int
    kind: str  # binance: depth, bookTicker, trade, aggTrade, kline, other; okx: the channel
    symbol: str  # exchange symbol (BTCUSDT, BTC-USDT)
    stream: str  # binance stream name / okx channel
    raw: str  # the data payload (binance: the event inside the envelope; okx: the whole frame)


@dataclass
class Timeline:
    exchange: str  # binance | binanceusdm | okx
    items: list[Item] = field(default_factory=list)
    snapshots: dict[str, list[tuple[int, dict]]] = field(default_factory=dict)  # symbol -> [(t_ns, body)]
    rest: dict[str, dict] = field(default_factory=dict)  # normalised REST key -> last body
    files: list[str] = field(default_factory=list)

    @property
    def duration_ns(self) -> int:
        return self.items[-1].t_ns if self.items else 0

    def symbols(self) -> list[str]:
        seen: dict[str, None] = {}
        for it in self.items:
            seen.setdefault(it.symbol, None)
        for sym in self.snapshots:
            seen.setdefault(sym, None)
        return list(seen)


def load_timeline(paths: list[str | os.PathLike[str]], exchange: str) -> Timeline:
    """Read ``paths`` (with their cryptofeed companions) into a timeline for ``exchange``.

    ``exchange`` is ``binance`` or ``okx``; a Binance USD-M recording is served by the Binance
    emulator as ``binanceusdm`` (``/fapi/v1/depth``, ``pu`` continuity).
    """
    for p in paths:
        if not Path(p).is_file():
            raise SourceError(f"recording {p} does not exist")
    try:
        records = list(read_many(paths))
    except (RecordingError, OSError, UnicodeDecodeError) as exc:
        raise SourceError(str(exc)) from None
    wanted = {"binance": ("binance", "binanceusdm"), "okx": ("okx",)}[exchange]
    seen_ex = {r.exchange for r in records if r.kind in (WS, REST) and r.exchange}
    if seen_ex and not seen_ex & set(wanted):
        raise SourceError(f"the recording holds {', '.join(sorted(seen_ex))} data, not {exchange}")
    venue = exchange
    if exchange == "binance" and "binanceusdm" in seen_ex and "binance" not in seen_ex:
        venue = "binanceusdm"
    tl = Timeline(exchange=venue, files=[str(p) for p in paths])
    t0: int | None = None
    pending_bare: list[tuple[int, dict]] = []
    for rec in records:
        if rec.exchange and rec.exchange not in wanted:
            continue
        if rec.kind == REST:
            try:
                body = orjson.loads(rec.raw)
            except orjson.JSONDecodeError:
                continue
            _add_rest(tl, rec.url, rec.ts_ns, body, pending_bare)
            continue
        if rec.kind != WS:
            continue
        try:
            msg = orjson.loads(rec.raw)
        except orjson.JSONDecodeError:
            continue
        item = _binance_item(msg, rec.raw) if exchange == "binance" else _okx_item(msg, rec.raw)
        if item is None:
            continue
        if t0 is None:
            t0 = rec.ts_ns
        item.t_ns = max(0, rec.ts_ns - t0)
        tl.items.append(item)
    # Snapshots recorded without a URL (hftbacktest) belong to the single depth symbol.
    if pending_bare:
        depth_syms = sorted({it.symbol for it in tl.items if it.kind == "depth"})
        if len(depth_syms) != 1:
            raise SourceError(
                f"a depth snapshot without a URL cannot be matched to a symbol (depth symbols: {depth_syms})"
            )
        tl.snapshots.setdefault(depth_syms[0], []).extend(pending_bare)
    if not tl.items:
        raise SourceError(f"no {exchange} market-data frames in {', '.join(map(str, paths))}")
    return tl


def _add_rest(tl: Timeline, url: str | None, ts_ns: int, body: object, pending_bare: list) -> None:
    if not isinstance(body, dict):
        return
    if url is None:
        if "lastUpdateId" in body:
            pending_bare.append((ts_ns, body))
        return
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    path = parts.path
    if path.endswith("/depth") and "lastUpdateId" in body:
        sym = query.get("symbol", "").upper()
        if sym:
            tl.snapshots.setdefault(sym, []).append((ts_ns, body))
    elif path.endswith("/exchangeInfo"):
        tl.rest["exchangeInfo"] = body
    elif path.endswith("/public/instruments"):
        key = "instruments:" + query.get("instType", "").upper()
        if query.get("uly"):
            key += ":" + query["uly"]
        tl.rest[key] = body
    elif path.endswith("/market/books") and isinstance(body.get("data"), list) and body["data"]:
        inst = query.get("instId", "")
        if inst:
            tl.snapshots.setdefault(inst, []).append((ts_ns, body["data"][0]))


def _binance_stream_of(data: dict) -> tuple[str, str] | None:
    """``(kind, stream name)`` of a raw (non-enveloped) Binance event."""
    sym = data.get("s")
    if not isinstance(sym, str):
        return None
    s = sym.lower()
    e = data.get("e")
    if e == "depthUpdate":
        return "depth", f"{s}@depth@100ms"
    if e in ("trade", "aggTrade"):
        return e, f"{s}@{e}"
    if e == "kline":
        return "kline", f"{s}@kline_{data.get('k', {}).get('i', '1m')}"
    if e == "bookTicker" or (e is None and "u" in data and "b" in data and "a" in data):
        return "bookTicker", f"{s}@bookTicker"
    return "other", f"{s}@{e}"


def _binance_item(msg: object, raw: str) -> Item | None:
    if not isinstance(msg, dict):
        return None
    if "stream" in msg and isinstance(msg.get("data"), dict):
        data = msg["data"]
        stream = str(msg["stream"])
        ks = _binance_stream_of(data)
        if ks is None:
            return None
        kind = ks[0]
        data_raw = orjson.dumps(data).decode()
    else:
        if "result" in msg or "code" in msg:  # control replies
            return None
        ks = _binance_stream_of(msg)
        if ks is None:
            return None
        kind, stream = ks
        data = msg
        data_raw = raw
    return Item(0, kind, str(data["s"]).upper(), stream, data_raw)


def _okx_item(msg: object, raw: str) -> Item | None:
    if not isinstance(msg, dict) or "event" in msg:
        return None
    arg = msg.get("arg")
    if not isinstance(arg, dict) or not isinstance(msg.get("data"), list):
        return None
    channel, inst = arg.get("channel"), arg.get("instId")
    if not isinstance(channel, str) or not isinstance(inst, str):
        return None
    return Item(0, channel, inst, channel, raw)
