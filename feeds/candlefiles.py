"""Candle files as freqtrade / ccxt ``fetch_ohlcv`` download them: one JSON array of
``[open_time_ms, open, high, low, close, base_volume]`` rows, gzip or not (``../shared/data/klines``).

Numbers are read as ``Decimal`` from their JSON text (never through float), so a price written
``56738.76`` is stored as exactly that. Every row is checked (six fields, an integer open time
on the timeframe's grid, low <= open, close <= high, volume >= 0) before anything is returned:
a bad file is refused whole, with the row that is wrong.
"""

from __future__ import annotations

import gzip
import json
import os
from decimal import Decimal


class CandleFileError(ValueError):
    """The file is not a candle file (the message names the file and the row)."""


Row = tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal]


def read_candle_file(path: str | os.PathLike[str], width_ms: int | None = 60_000) -> list[Row]:
    """Rows sorted by open time, duplicates refused; ``width_ms`` None skips the grid check."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            data = f.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        rows = json.loads(data, parse_float=Decimal, parse_int=int)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise CandleFileError(f"{name}: cannot read: {exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CandleFileError(f"{name}: not JSON ({exc})") from None
    if not isinstance(rows, list):
        raise CandleFileError(f"{name}: expected a JSON array of [open_ms, o, h, l, c, volume] rows")
    out: list[Row] = []
    for i, r in enumerate(rows):
        out.append(_row(name, i, r, width_ms))
    out.sort(key=lambda r: r[0])
    for a, b in zip(out, out[1:]):
        if a[0] == b[0]:
            raise CandleFileError(f"{name}: two rows open at {a[0]} ms")
    return out


def _row(name: str, i: int, r: object, width_ms: int | None) -> Row:
    where = f"{name}: row {i}"
    if not isinstance(r, list) or len(r) < 6:
        raise CandleFileError(f"{where}: expected [open_ms, o, h, l, c, volume], got {str(r)[:80]}")
    t = r[0]
    if isinstance(t, Decimal) and t == t.to_integral():
        t = int(t)
    if not isinstance(t, int) or isinstance(t, bool) or t < 0:
        raise CandleFileError(f"{where}: open time {r[0]!r} is not epoch milliseconds")
    if width_ms and t % width_ms:
        raise CandleFileError(f"{where}: open time {t} is not on the {width_ms // 1000} s grid")
    vals = []
    for label, v in zip(("open", "high", "low", "close", "volume"), r[1:6]):
        if isinstance(v, str):
            try:
                v = Decimal(v)
            except ArithmeticError:
                raise CandleFileError(f"{where}: {label} {v!r} is not a number") from None
        if isinstance(v, bool) or not isinstance(v, (int, Decimal)) or not Decimal(v).is_finite():
            raise CandleFileError(f"{where}: {label} {v!r} is not a number")
        vals.append(Decimal(v))
    o, h, lo, c, vol = vals
    if not (lo <= min(o, c) and max(o, c) <= h) or lo <= 0:
        raise CandleFileError(f"{where}: prices are inconsistent (o {o}, h {h}, l {lo}, c {c})")
    if vol < 0:
        raise CandleFileError(f"{where}: negative volume {vol}")
    return (t, o, h, lo, c, vol)
