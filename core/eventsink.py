"""The events file of a journaled run: written only after commits, brought up to date on resume.

Why catch up instead of truncating: after a crash the events file holds the events of every
command acknowledged so far (maybe ending in a half-written line). A rerun must neither lose
those nor duplicate them. The journal holds every durable command's events, so the rerun cuts
the partial line, finds the last event written (its ``cmd`` line and how many of that
command's events made it), re-emits the journaled events after that point, then appends new
ones. The file then equals the output of one uninterrupted run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

import orjson

from core.journal import JournalError, JournalStore

_BLOCK = 1 << 16


class EventsFileError(JournalError):
    """The events file cannot be brought up to date from the journal."""


def scan_tail(path: Path) -> tuple[int, int | None, int]:
    """``(bytes to keep, cmd of the last complete event or None, how many trailing events share it)``.

    Reads backwards from the end only as far as needed; a trailing partial line is not kept.
    """
    size = path.stat().st_size
    if size == 0:
        return 0, None, 0
    with path.open("rb") as fh:
        tail = b""
        pos = size
        while True:
            step = min(_BLOCK if not tail else len(tail), pos)
            pos -= step
            fh.seek(pos)
            tail = fh.read(step) + tail
            cut = tail.rfind(b"\n")
            if cut < 0:
                if pos == 0:
                    return 0, None, 0  # no complete line at all
                continue
            complete = tail[: cut + 1]
            lines = complete.split(b"\n")[:-1]
            # lines[0] may be partial unless we reached the start of the file
            usable = lines if pos == 0 else lines[1:]
            if not usable:
                if pos == 0:
                    return 0, None, 0
                continue
            last_cmd = _cmd_of(usable[-1], path)
            count = 0
            for raw in reversed(usable):
                if _cmd_of(raw, path) != last_cmd:
                    return pos + cut + 1, last_cmd, count
                count += 1
            if pos == 0:
                return cut + 1, last_cmd, count


def _cmd_of(raw: bytes, path: Path) -> int:
    try:
        event = orjson.loads(raw)
        cmd = event["cmd"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise EventsFileError(f"{path} has a line that is not a tickdesk event: {raw[:80]!r}") from None
    if not isinstance(cmd, int):
        raise EventsFileError(f"{path} has an event without a command line number: {raw[:80]!r}")
    return cmd


class DurableEventSink:
    """Writes acknowledged events (one JSON object a line), flushing after every batch."""

    def __init__(self, path: Path, store: JournalStore, *, resume: bool) -> None:
        """``resume``: the journal already held commands when this run started."""
        self.path = path
        self.caught_up = 0
        self.kept_bytes = 0
        if not resume or not path.exists():
            self._fh: BinaryIO = path.open("wb")
            if resume:
                self._catch_up(store, 0, 0)
            return
        keep, last_cmd, n_last = scan_tail(path)
        if last_cmd is not None and last_cmd > store.last_line():
            raise EventsFileError(
                f"{path} has events for input line {last_cmd} but the journal {store.path} ends at line "
                f"{store.last_line()}; use a new --out file or the journal that wrote this one"
            )
        self._fh = path.open("r+b")
        self._fh.truncate(keep)
        self._fh.seek(keep)
        self.kept_bytes = keep
        self._catch_up(store, last_cmd or 0, n_last)

    def _catch_up(self, store: JournalStore, from_line: int, skip: int) -> None:
        """Re-emit journaled events after the last one the file holds."""
        write = self._fh.write
        for cmd in store.iter_commands(from_line=from_line):
            bodies = cmd.events
            if cmd.line == from_line:
                if skip > len(bodies):
                    raise EventsFileError(
                        f"{self.path} holds {skip} events of input line {from_line}, the journal only "
                        f"{len(bodies)}; it was not written from this journal"
                    )
                bodies = bodies[skip:]
            for body in bodies:
                write(body.encode())
                write(b"\n")
                self.caught_up += 1
        self._fh.flush()

    def write_batch(self, batch: list[list[dict[str, Any]]]) -> None:
        """Append one committed batch's events and flush them to the OS."""
        write = self._fh.write
        dumps = orjson.dumps
        for events in batch:
            for event in events:
                write(dumps(event))
                write(b"\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()
