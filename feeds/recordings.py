"""Readers (and a writer) for recorded raw exchange frames.

Three on-disk formats are read, all into the same uniform :class:`RawRecord` stream:

``hftbacktest``  (nkaz001/hftbacktest collector; gzip or plain text)
    one message per line: ``<local receive time, integer ns> <raw frame>``. Websocket frames
    are combined-stream envelopes ``{"stream":...,"data":{...}}`` (or bare events); the REST
    depth snapshot the collector fetched is written inline as a bare
    ``{"lastUpdateId":...,"bids":[...],"asks":[...]}`` line. The format carries no URL, so a
    snapshot record has ``kind="rest"`` and ``url=None`` (the replay assigns it to the
    recording's single depth symbol).

``cryptofeed``  (bmoscon/cryptofeed raw capture; gzip or plain text)
    ``configuration: {json}``                    recorder settings    -> kind ``meta``
    ``<ws url> <-> <ts>``                        connection opened    -> kind ``open``
    ``<url> <- <ts>: <json>``                    frame we sent        -> kind ``sent``
    ``<url> -> <ts>: <json>``                    REST response        -> kind ``rest``
    ``<ts>: <json>``                             websocket frame      -> kind ``ws``
    ``ts`` is epoch seconds as a decimal string; it is converted to ns exactly (no float).
    Received websocket frames carry the URL of the last ``open`` line of the file. A session
    is often split into ``NAME.ws.<conn>.<n>`` (frames) and ``NAME.http.<conn>.<n>`` (REST
    replies) plus ``NAME.<n>[.gz]`` (metadata such as exchangeInfo);
    :func:`companion_files` finds those siblings.

``tickdesk``  (tickdesk's own capture; JSON Lines, gzip when the name ends in ``.gz``)
    line 1: ``{"tickdesk_capture": 1, "created_ns": <int>, ...}`` (header, free extra keys)
    then one object per message::

        {"ts": <local receive ns>, "kind": "ws"|"rest"|"sent"|"open"|"close",
         "ex": "binance"|"binanceusdm"|"okx"|null, "url": "<ws or REST url>"|null,
         "raw": "<frame text exactly as received>"}

    Write it with :class:`CaptureWriter`.

Everything is streamed (no file is loaded whole) and gzip is detected by its magic bytes.
:func:`read_records` sniffs the format; :func:`merge_records` interleaves several files in
local-time order (stable). Timestamps are historical: never compare them with wall time.
"""

from __future__ import annotations

import gzip
import heapq
import io
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, NamedTuple

import orjson

CAPTURE_VERSION = 1

# Record kinds.
WS = "ws"  # a websocket frame received
REST = "rest"  # a REST response body received (url = request url, may be None)
SENT = "sent"  # a frame we sent (subscriptions)
OPEN = "open"  # a websocket connection opened (raw = "")
CLOSE = "close"  # a websocket connection closed (raw = reason, may be "")
META = "meta"  # recorder metadata (raw = JSON text)
KINDS = frozenset({WS, REST, SENT, OPEN, CLOSE, META})


class RawRecord(NamedTuple):
    """One recorded message, whatever the file format.

    ``ts_ns``    local receive (or send) time, integer ns since the epoch.
    ``kind``     one of ``ws``, ``rest``, ``sent``, ``open``, ``close``, ``meta``.
    ``url``      websocket connection URL or REST request URL when the recording has it.
    ``raw``      the frame text exactly as received (``""`` for ``open``).
    ``exchange`` ``"binance"`` (spot), ``"binanceusdm"`` (USD-M futures), ``"okx"`` or None
                 when the recording does not say (see :func:`guess_exchange`).
    """

    ts_ns: int
    kind: str
    url: str | None
    raw: str
    exchange: str | None = None


class RecordingError(ValueError):
    """A file that is not one of the known recording formats, or a malformed line in it."""


# --------------------------------------------------------------------------- helpers


def exchange_from_url(url: str | None) -> str | None:
    """``binance`` / ``binanceusdm`` / ``okx`` from a websocket or REST URL, else None."""
    if not url:
        return None
    u = url.lower()
    if "okx.com" in u or "/api/v5/" in u or "/ws/v5/" in u:
        return "okx"
    if "fstream." in u or "fapi." in u or "/fapi/" in u:
        return "binanceusdm"
    if "binance" in u or "/api/v3/" in u or "/api/v1/" in u:
        return "binance"
    return None


def guess_exchange(raw: str) -> str | None:
    """Exchange from a frame's shape alone (for recordings without URLs).

    OKX frames carry ``"arg"``/``"event"`` objects; Binance frames are combined-stream
    envelopes, events with ``"e"``, spot bookTickers (``"u"`` + ``"s"``) or depth snapshots.
    A depth event with ``"pu"`` or an event with ``"T"`` beside a bookTicker ``"e"`` is USD-M.
    """
    head = raw[:200]
    if '"arg"' in head or head.startswith('{"event"'):
        return "okx"
    if '"pu":' in raw[:400] or '"e":"bookTicker"' in head or '"X":"MARKET"' in raw[:400]:
        return "binanceusdm"
    if head.startswith('{"stream"') or head.startswith('{"e"') or head.startswith('{"u"') or head.startswith('{"lastUpdateId"'):
        return "binance"
    return None


def seconds_to_ns(text: str) -> int:
    """Exact ``"1617647603.4249449"`` -> 1617647603424944900 (no float)."""
    whole, _, frac = text.partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()):
        raise RecordingError(f"bad timestamp {text[:40]!r}")
    return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9])


def _open_text(path: str | os.PathLike[str]) -> IO[str]:
    """Open a text file, transparently gunzipping (by magic bytes, not by name)."""
    f = open(path, "rb")
    magic = f.read(2)
    f.seek(0)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.GzipFile(fileobj=f), encoding="utf-8", newline="\n")
    return io.TextIOWrapper(f, encoding="utf-8", newline="\n")


def sniff_format(path: str | os.PathLike[str]) -> str:
    """``"tickdesk"``, ``"hftbacktest"`` or ``"cryptofeed"``; RecordingError otherwise."""
    with _open_text(path) as f:
        for line in f:
            line = line.strip()
            if line:
                return _sniff_line(line, path)
    raise RecordingError(f"{path}: empty file")


def _sniff_line(line: str, path: object) -> str:
    if line.startswith('{"tickdesk_capture"'):
        return "tickdesk"
    if line.startswith("configuration: ") or _CF_OPEN.match(line) or _CF_URL_LINE.match(line):
        return "cryptofeed"
    if _CF_WS.match(line):
        return "cryptofeed"
    head, sep, rest = line.partition(" ")
    if sep and head.isdigit() and rest.startswith(("{", "[")):
        return "hftbacktest"
    raise RecordingError(
        f"{path}: not a known recording format (tickdesk capture, hftbacktest, cryptofeed): "
        f"first line starts {line[:60]!r}"
    )


# --------------------------------------------------------------------------- readers

_TS = r"(\d+(?:\.\d+)?)"
_CF_OPEN = re.compile(r"^(\S+) <-> " + _TS + r"$")
_CF_URL_LINE = re.compile(r"^(\S+) (->|<-) " + _TS + r": ")
_CF_WS = re.compile(r"^" + _TS + r": ")


def read_hftbacktest(path: str | os.PathLike[str]) -> Iterator[RawRecord]:
    """``<ns> <frame>`` lines; bare depth snapshots become ``rest`` records without URL."""
    exchange: str | None = None
    with _open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line:
                continue
            head, sep, raw = line.partition(" ")
            if not sep or not head.isdigit():
                raise RecordingError(f"{path}:{lineno}: expected '<ns> <frame>', got {line[:60]!r}")
            if exchange is None:
                exchange = guess_exchange(raw)
            kind = REST if raw.startswith('{"lastUpdateId"') else WS
            yield RawRecord(int(head), kind, None, raw, exchange)


def read_cryptofeed(path: str | os.PathLike[str]) -> Iterator[RawRecord]:
    """cryptofeed's raw capture (``.ws.*``, ``.http.*``, metadata ``.N`` files alike)."""
    ws_url: str | None = None
    ws_ex: str | None = None
    last_ts = 0  # metadata lines take the time of the line before them (0 at the top)
    with _open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line:
                continue
            c = line[0]
            if c.isdigit():
                ts, sep, raw = line.partition(": ")
                if sep:
                    # Websocket frame on the file's connection.
                    last_ts = seconds_to_ns(ts)
                    yield RawRecord(last_ts, WS, ws_url, raw, ws_ex or guess_exchange(raw))
                    continue
            if line.startswith("configuration: "):
                yield RawRecord(last_ts, META, None, line[len("configuration: "):], None)
                continue
            m = _CF_OPEN.match(line)
            if m:
                ws_url = m.group(1)
                ws_ex = exchange_from_url(ws_url)
                last_ts = seconds_to_ns(m.group(2))
                yield RawRecord(last_ts, OPEN, ws_url, "", ws_ex)
                continue
            m = _CF_URL_LINE.match(line)
            if m:
                url, arrow, ts = m.group(1), m.group(2), m.group(3)
                raw = line[m.end():]
                kind = REST if arrow == "->" else SENT
                last_ts = seconds_to_ns(ts)
                yield RawRecord(last_ts, kind, url, raw, exchange_from_url(url) or guess_exchange(raw))
                continue
            raise RecordingError(f"{path}:{lineno}: not a cryptofeed capture line: {line[:60]!r}")


def read_tickdesk(path: str | os.PathLike[str]) -> Iterator[RawRecord]:
    """tickdesk's own JSONL capture (see the module docstring)."""
    loads = orjson.loads
    with _open_text(path) as f:
        first = True
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = loads(line)
            except orjson.JSONDecodeError as exc:
                raise RecordingError(f"{path}:{lineno}: invalid JSON ({exc})") from None
            if first:
                first = False
                if not isinstance(obj, dict) or "tickdesk_capture" not in obj:
                    raise RecordingError(f"{path}:{lineno}: missing the tickdesk_capture header")
                if obj["tickdesk_capture"] != CAPTURE_VERSION:
                    raise RecordingError(f"{path}: capture version {obj['tickdesk_capture']!r} is not supported")
                continue
            try:
                ts, kind, raw = obj["ts"], obj["kind"], obj["raw"]
            except (KeyError, TypeError):
                raise RecordingError(f"{path}:{lineno}: a record needs ts, kind and raw") from None
            if not isinstance(ts, int) or kind not in KINDS or not isinstance(raw, str):
                raise RecordingError(f"{path}:{lineno}: bad record (ts int, kind in {sorted(KINDS)}, raw str)")
            url = obj.get("url")
            yield RawRecord(ts, kind, url, raw, obj.get("ex") or exchange_from_url(url) or guess_exchange(raw))


READERS = {"tickdesk": read_tickdesk, "hftbacktest": read_hftbacktest, "cryptofeed": read_cryptofeed}


def read_records(path: str | os.PathLike[str], fmt: str | None = None) -> Iterator[RawRecord]:
    """Every record of one file, in file order; ``fmt`` defaults to :func:`sniff_format`."""
    fmt = fmt or sniff_format(path)
    try:
        reader = READERS[fmt]
    except KeyError:
        raise RecordingError(f"unknown recording format {fmt!r} (known: {sorted(READERS)})") from None
    return reader(path)


_CF_SESSION = re.compile(r"^(?P<name>.+)\.(?:ws|http)\.\d+\.\d+(?:\.gz)?$")


def companion_files(path: str | os.PathLike[str]) -> list[Path]:
    """cryptofeed siblings of ``NAME.ws.C.N``: ``NAME.http.*.*`` and ``NAME.N[.gz]`` metadata.

    Returns the other files of the same recording session (not ``path`` itself), sorted.
    Other formats have no companions.
    """
    p = Path(path)
    m = _CF_SESSION.match(p.name)
    if not m:
        return []
    name = m.group("name")
    meta = re.compile(re.escape(name) + r"\.(?:(?:ws|http)\.\d+\.\d+|\d+)(?:\.gz)?$")
    return sorted(q for q in p.parent.iterdir() if q != p and q.is_file() and meta.match(q.name))


def merge_records(streams: Iterable[Iterable[RawRecord]]) -> Iterator[RawRecord]:
    """Interleave several record streams by ``ts_ns`` (stable: ties keep stream order).

    Each stream must already be in time order (recorders write in receive order; a
    cryptofeed ``meta`` line takes the time of the line before it).
    """
    return heapq.merge(*streams, key=lambda r: r.ts_ns)


def read_many(paths: Iterable[str | os.PathLike[str]], companions: bool = True) -> Iterator[RawRecord]:
    """All records of ``paths`` (plus their cryptofeed companions) merged in local-time order."""
    seen: list[Path] = []
    for p in paths:
        p = Path(p)
        for q in [p, *(companion_files(p) if companions else [])]:
            if q.resolve() not in [s.resolve() for s in seen]:
                seen.append(q)
    return merge_records([read_records(q) for q in seen])


def expand_paths(paths: Iterable[str | os.PathLike[str]], companions: bool = True) -> list[Path]:
    """The files :func:`read_many` would read, in order (for reports)."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        for q in [p, *(companion_files(p) if companions else [])]:
            if q.resolve() not in [s.resolve() for s in out]:
                out.append(q)
    return out


# --------------------------------------------------------------------------- writer


class CaptureWriter:
    """Append records to a tickdesk capture (JSONL; gzip when the name ends in ``.gz``).

    >>> with CaptureWriter(path) as w:
    ...     w.write(time.time_ns(), "ws", raw_text, url=ws_url, exchange="binance")

    Lines are buffered; ``flush()`` pushes them to the OS. Not thread-safe: one writer per
    thread (the feed thread owns it).
    """

    def __init__(self, path: str | os.PathLike[str], created_ns: int | None = None, **header: object) -> None:
        import time

        self.path = Path(path)
        raw = open(self.path, "wb")
        self._f: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=5) if self.path.suffix == ".gz" else raw
        self._raw = raw
        self.count = 0
        head = {"tickdesk_capture": CAPTURE_VERSION, "created_ns": created_ns or time.time_ns(), **header}
        self._f.write(orjson.dumps(head) + b"\n")

    def write(self, ts_ns: int, kind: str, raw: str, url: str | None = None, exchange: str | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
        self._f.write(orjson.dumps({"ts": ts_ns, "kind": kind, "ex": exchange, "url": url, "raw": raw}) + b"\n")
        self.count += 1

    def write_record(self, rec: RawRecord) -> None:
        self.write(rec.ts_ns, rec.kind, rec.raw, rec.url, rec.exchange)

    def flush(self) -> None:
        self._f.flush()
        if self._f is not self._raw:
            self._raw.flush()

    def close(self) -> None:
        if not self._raw.closed:
            self._f.close()
            if self._f is not self._raw:
                self._raw.close()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
