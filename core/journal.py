"""The durable command journal: one DuckDB file, written in group commits.

Why a journal: the engine is deterministic, so the command lines alone (in order) are enough to
rebuild every balance, order and book after a crash. The events are stored too, so a replay can
prove it reproduced exactly what was acknowledged (see ``core.durable``).

Why group commit: a DuckDB commit costs about a millisecond or two (WAL write and sync). Paying
that per command caps the engine at a few hundred commands a second; paying it per batch of up
to ``batch_size`` commands, or at most every ``max_delay`` seconds, keeps the engine's speed
while bounding how long an event waits for durability. A batch goes in as one transaction
built from numpy arrays (a DuckDB scan of a Python dict), never row-by-row ``executemany``.

Why one owner: DuckDB locks the file for one writing process. A second process gets
``StoreOwnedError`` naming the owner's pid instead of a raw driver message.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import orjson

SCHEMA_VERSION = "1"
DEFAULT_BATCH_SIZE = 256
DEFAULT_MAX_DELAY = 0.020  # seconds
_READ_CHUNK = 20_000  # commands fetched per round trip when reading back

_SCHEMA = {
    "commands": [("seq", "BIGINT"), ("line", "BIGINT"), ("raw", "VARCHAR"), ("status", "VARCHAR")],
    "events": [("seq", "BIGINT"), ("idx", "INTEGER"), ("body", "VARCHAR")],
    "meta": [("key", "VARCHAR"), ("value", "VARCHAR")],
}
_PID_RE = re.compile(r"\(PID (\d+)\)")
_BULK_OPS = ("bulk_new", "bulk_cancel")


class JournalError(Exception):
    """Base class for journal problems the CLI reports as one-line errors."""


class StoreOwnedError(JournalError):
    """Another process holds the DuckDB file (DuckDB allows one writing process)."""

    def __init__(self, path: str, pid: int | None, detail: str = "") -> None:
        who = f"pid {pid}" if pid is not None else "pid unknown"
        super().__init__(f"{path} is owned by another process ({who}); one process owns a tickdesk store")
        self.path = path
        self.pid = pid
        self.detail = detail


class NotAJournalError(JournalError):
    """The file exists but is not a tickdesk journal this version can read."""


class JournalNotFoundError(JournalError):
    """Reading commands (state, export, verify) on a path with no journal."""


@dataclass(frozen=True)
class StoredCommand:
    """One journaled command and the serialised events it produced, as read back."""

    seq: int
    line: int
    raw: str
    status: str
    events: list[str]  # orjson bodies, in event order


@dataclass
class _Batch:
    """Buffered commands and their events, column by column, ready for a columnar insert."""

    seq: list[int] = field(default_factory=list)
    line: list[int] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    e_seq: list[int] = field(default_factory=list)
    e_idx: list[int] = field(default_factory=list)
    e_body: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.seq)

    def extended(self, other: _Batch) -> _Batch:
        return _Batch(*(getattr(self, f) + getattr(other, f) for f in _BATCH_FIELDS))


_BATCH_FIELDS = ("seq", "line", "raw", "status", "e_seq", "e_idx", "e_body")


def command_status(events: list[dict[str, Any]], line: int) -> str:
    """'rejected' when the command itself was refused, else 'applied'.

    A refused command has one whole-command ``rejected`` event for its line. It is usually
    the first event, but clock events its timestamp caused (expiries, breaker resumes) may
    come before it; a bulk op's per-order rejects do not make the bulk op rejected. This is
    the same rule as ``core.simrun.RunSummary``, so ``journal verify`` and ``sim run`` agree.
    """
    for event in events:
        if (
            event.get("event") == "rejected"
            and event.get("cmd", line) == line
            and event.get("op") not in _BULK_OPS
        ):
            return "rejected"
    return "applied"


def dump_event(event: dict[str, Any]) -> str:
    """The one serialisation used for stored events (and for comparing replays against them)."""
    return orjson.dumps(event).decode()


class JournalStore:
    """A tickdesk journal over one DuckDB file, with an in-memory buffer and group commit.

    ``append`` only buffers; ``commit`` makes the whole buffer durable in one transaction.
    ``due`` tells the caller when the group-commit policy wants a commit.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_delay: float = DEFAULT_MAX_DELAY,
        create: bool = True,
        read_only: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.path = str(path)
        self.batch_size = batch_size
        self.max_delay = max_delay
        self.read_only = read_only
        if not create and not Path(self.path).exists():
            raise JournalNotFoundError(f"no journal at {self.path}")
        self._con = _connect(self.path, read_only=read_only)
        try:
            self._check_or_create_schema(create and not read_only)
        except BaseException:
            self._con.close()
            raise
        row = self._con.execute("SELECT max(seq), count(*) FROM commands").fetchone()
        self._last_seq: int = int(row[0]) if row and row[0] is not None else 0
        self._count: int = int(row[1]) if row else 0
        line_row = self._con.execute(
            "SELECT line FROM commands WHERE seq = ?", [self._last_seq]
        ).fetchone()
        self._last_line: int = int(line_row[0]) if line_row else 0
        self._next_seq = self._last_seq
        # Writes go through their own cursor so a background writer never shares the
        # connection object that the owning thread reads with.
        self._wcon = self._con if read_only else self._con.cursor()
        self._reset_buffer()

    # --- schema ---------------------------------------------------------------------------

    def _check_or_create_schema(self, create: bool) -> None:
        """Create the tables in an empty file; refuse any file that is not our journal."""
        tables = _table_columns(self._con)
        if not tables:
            if not create:
                raise NotAJournalError(f"{self.path} is an empty DuckDB file, not a tickdesk journal")
            self._con.begin()
            for name, cols in _SCHEMA.items():
                col_sql = ", ".join(f"{c} {t}" for c, t in cols)
                self._con.execute(f"CREATE TABLE {name} ({col_sql})")
            self._con.execute(
                "INSERT INTO meta VALUES ('schema_version', ?), ('created_ns', ?)",
                [SCHEMA_VERSION, str(time.time_ns())],
            )
            self._con.commit()
            return
        for name, cols in _SCHEMA.items():
            have = tables.get(name)
            if have is None:
                raise NotAJournalError(f"{self.path} is not a tickdesk journal (no '{name}' table)")
            if have != cols:
                raise NotAJournalError(
                    f"{self.path} is not a tickdesk journal (table '{name}' has columns {have})"
                )
        version = self.get_meta("schema_version")
        if version != SCHEMA_VERSION:
            raise NotAJournalError(
                f"{self.path} is a tickdesk journal of schema version {version!r}; "
                f"this tickdesk reads version {SCHEMA_VERSION}"
            )

    # --- meta -----------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return None if row is None else str(row[0])

    def meta(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._con.execute("SELECT key, value FROM meta ORDER BY key").fetchall()}

    def set_meta(self, key: str, value: str) -> None:
        """Write one meta value durably (its own small transaction; meta changes are rare)."""
        self.update_meta({key: value})

    def update_meta(self, values: dict[str, str]) -> None:
        """Write several meta values durably in one transaction."""
        self._con.begin()
        for key, value in values.items():
            self._con.execute("DELETE FROM meta WHERE key = ?", [key])
            self._con.execute("INSERT INTO meta VALUES (?, ?)", [key, value])
        self._con.commit()

    # --- writing --------------------------------------------------------------------------

    def _reset_buffer(self) -> None:
        self._buf = _Batch()
        self._oldest: float | None = None

    def append(self, line: int, raw: str, events: list[dict[str, Any]]) -> int:
        """Buffer one command and its events; returns its seq. Not durable until committed."""
        if self.read_only:
            raise JournalError(f"{self.path} is open read-only")
        self._next_seq += 1
        seq = self._next_seq
        if self._oldest is None:
            self._oldest = time.monotonic()
        b = self._buf
        b.seq.append(seq)
        b.line.append(line)
        b.raw.append(raw)
        b.status.append(command_status(events, line))
        for idx, event in enumerate(events):
            b.e_seq.append(seq)
            b.e_idx.append(idx)
            b.e_body.append(dump_event(event))
        return seq

    @property
    def buffered(self) -> int:
        """Commands appended but not yet taken for a commit."""
        return len(self._buf.seq)

    def due(self, now: float | None = None) -> bool:
        """The group-commit policy: a full batch, or the oldest buffered command waited too long."""
        if not self._buf.seq:
            return False
        if len(self._buf.seq) >= self.batch_size:
            return True
        assert self._oldest is not None
        return (time.monotonic() if now is None else now) - self._oldest >= self.max_delay

    def commit(self) -> int:
        """Write the buffer in one transaction; returns the number of commands made durable.

        When this returns, the batch survives a process kill. On failure the buffer is kept
        (nothing of it is visible in the file) and the error propagates.
        """
        batch = self.take()
        if batch is None:
            return 0
        try:
            return self.write(batch)
        except BaseException:
            self._restore(batch)
            raise

    def take(self) -> _Batch | None:
        """Detach the buffer as a batch for ``write`` (None when empty); appends start a new one.

        Splitting take from write lets a background thread write batch N while the engine fills
        batch N+1 (see ``core.durable.BatchWriter``).
        """
        if not self._buf.seq:
            return None
        batch = self._buf
        self._reset_buffer()
        return batch

    def _restore(self, batch: _Batch) -> None:
        """Put a failed batch back in front of the buffer (sync ``commit`` keeps it on failure)."""
        self._buf = batch.extended(self._buf)
        self._oldest = 0.0  # long overdue: the next ``due`` asks for a commit again

    def write(self, batch: _Batch) -> int:
        """Write one taken batch in ONE transaction, columnar; batches must be written in take order.

        Safe to call from one writer thread while another thread appends: it touches only the
        batch and its own DuckDB cursor.
        """
        n = len(batch.seq)
        if batch.seq[0] != self._last_seq + 1:
            raise JournalError(f"batch starting at seq {batch.seq[0]} written out of order (last {self._last_seq})")
        # DuckDB's replacement scan reads these local dicts of numpy arrays by name: one
        # columnar insert per table, no per-row Python round trips, no register/unregister.
        cmd_batch = {  # noqa: F841 (read by the SQL below)
            "seq": np.array(batch.seq, dtype=np.int64),
            "line": np.array(batch.line, dtype=np.int64),
            "raw": np.array(batch.raw, dtype=object),
            "status": np.array(batch.status, dtype=object),
        }
        evt_batch = {  # noqa: F841
            "seq": np.array(batch.e_seq, dtype=np.int64),
            "idx": np.array(batch.e_idx, dtype=np.int32),
            "body": np.array(batch.e_body, dtype=object),
        }
        con = self._wcon
        con.begin()
        try:
            con.execute("INSERT INTO commands SELECT seq, line, raw, status FROM cmd_batch")
            if batch.e_seq:
                con.execute("INSERT INTO events SELECT seq, idx, body FROM evt_batch")
            con.commit()
        except BaseException:
            try:
                con.rollback()
            except duckdb.Error:
                pass
            raise
        self._last_seq = batch.seq[-1]
        self._last_line = batch.line[-1]
        self._count += n
        return n

    # --- reading --------------------------------------------------------------------------

    def count(self) -> int:
        """Durable commands in the file (the buffer is not counted)."""
        return self._count

    def last_seq(self) -> int:
        """Seq of the last durable command, 0 when empty."""
        return self._last_seq

    def last_line(self) -> int:
        """Input line of the last durable command, 0 when empty (input lines start at 1)."""
        return self._last_line

    def event_count(self) -> int:
        row = self._con.execute("SELECT count(*) FROM events").fetchone()
        return int(row[0]) if row else 0

    def status_counts(self) -> dict[str, int]:
        rows = self._con.execute("SELECT status, count(*) FROM commands GROUP BY status ORDER BY status").fetchall()
        return {str(s): int(c) for s, c in rows}

    def iter_raw(self) -> Iterator[tuple[int, int, str]]:
        """(seq, line, raw) of every durable command in seq order, fetched in chunks."""
        after = 0
        while True:
            rows = self._con.execute(
                "SELECT seq, line, raw FROM commands WHERE seq > ? ORDER BY seq LIMIT ?",
                [after, _READ_CHUNK],
            ).fetchall()
            if not rows:
                return
            yield from rows
            after = rows[-1][0]

    def iter_commands(self, from_line: int = 0) -> Iterator[StoredCommand]:
        """Every durable command (from input line ``from_line`` on) with its event bodies, in seq order."""
        after = 0
        while True:
            rows = self._con.execute(
                "SELECT seq, line, raw, status FROM commands WHERE seq > ? AND line >= ? ORDER BY seq LIMIT ?",
                [after, from_line, _READ_CHUNK],
            ).fetchall()
            if not rows:
                return
            lo, hi = rows[0][0], rows[-1][0]
            by_seq: dict[int, list[str]] = {}
            for seq, _idx, body in self._con.execute(
                "SELECT seq, idx, body FROM events WHERE seq BETWEEN ? AND ? ORDER BY seq, idx",
                [lo, hi],
            ).fetchall():
                by_seq.setdefault(seq, []).append(body)
            for seq, line, raw, status in rows:
                yield StoredCommand(int(seq), int(line), raw, status, by_seq.get(seq, []))
            after = hi

    # --- lifecycle ------------------------------------------------------------------------

    def execute(self, sql: str, params: list[Any] | None = None) -> duckdb.DuckDBPyConnection:
        """Raw SQL access, for tests and diagnostics (e.g. tampering to prove verification works)."""
        return self._con.execute(sql, params or [])

    def close(self) -> None:
        """Close the file. Buffered (uncommitted) commands are dropped, as in a crash."""
        if self._wcon is not self._con:
            self._wcon.close()
        self._con.close()

    def __enter__(self) -> JournalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _connect(path: str, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Open the file, turning DuckDB's lock and format errors into our clear ones."""
    try:
        return duckdb.connect(path, read_only=read_only)
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            m = _PID_RE.search(text)
            raise StoreOwnedError(path, int(m.group(1)) if m else None, text) from None
        if "not a valid DuckDB database" in text:
            raise NotAJournalError(f"{path} is not a tickdesk journal (not a DuckDB database file)") from None
        raise JournalError(f"cannot open {path}: {text}") from None
    except duckdb.Error as exc:
        raise NotAJournalError(f"{path} is not a tickdesk journal ({exc})") from None


def _table_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
    ).fetchall()
    out: dict[str, list[tuple[str, str]]] = {}
    for table, col, dtype in rows:
        out.setdefault(str(table), []).append((str(col), str(dtype)))
    return out
