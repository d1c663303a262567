"""The engine made durable: journal every command, release its events only once they are safe.

Why replay instead of snapshots: the engine is deterministic, so replaying the stored raw lines
through the same ``process_line`` path the live run used rebuilds exactly the same state.
Storing the events as well lets the replay *prove* it: any difference (a tampered file, an
engine change that alters behaviour) is a ``JournalIntegrityError`` naming the first bad seq,
instead of a silently different book.

The rule this module enforces: **a command's events are released (written to the user's
output) only after the batch holding the command is durable.** ``submit`` returns events for
inspection but they are not acknowledged; ``flush`` commits and hands back the released events
in order. So after a crash every event a user has seen belongs to a journaled command, and a
rerun resumes after ``last_line``.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from core.engine import Engine, EngineConfig
from core.journal import JournalError, JournalStore, dump_event
from core.simrun import RunSummary, run_lines

Events = list[dict[str, Any]]


class JournalIntegrityError(JournalError):
    """Replaying the journal did not reproduce the stored events."""

    def __init__(self, seq: int, line: int, detail: str) -> None:
        super().__init__(f"journal integrity check failed at seq {seq} (input line {line}): {detail}")
        self.seq = seq
        self.line = line


class ConfigMismatchError(JournalError):
    """The engine settings differ from the ones the journal was written with."""


class ResumeMismatchError(JournalError):
    """The input being resumed is not the one the journal was written from."""


# --- engine settings recorded in meta -------------------------------------------------------


def config_to_json(config: EngineConfig) -> dict[str, Any]:
    """The engine settings as JSON data, for recording in meta and comparing on reopen."""
    if dataclasses.is_dataclass(config):
        return orjson.loads(orjson.dumps(dataclasses.asdict(config), default=str))
    return {"no_risk": bool(getattr(config, "no_risk", False))}


def config_from_store(store: JournalStore) -> EngineConfig:
    """The settings a journal was written with, as far as the CLI can set them (``--no-risk``).

    A journal written through the Python API with other settings (custom instruments, limits)
    is then refused by the full comparison in ``DurableEngine`` rather than replayed wrongly.
    """
    return EngineConfig(no_risk=store.get_meta("no_risk") == "true")


def _record_or_check_config(store: JournalStore, config: EngineConfig) -> None:
    """First use writes the settings to meta; later uses must match them exactly."""
    want = config_to_json(config)
    have_text = store.get_meta("engine_config")
    if have_text is None or (store.count() == 0 and store.buffered == 0):
        # nothing journaled yet: the settings of the first command's run are the journal's
        if not store.read_only:
            store.update_meta({
                "engine_config": orjson.dumps(want, option=orjson.OPT_SORT_KEYS).decode(),
                "no_risk": "true" if want.get("no_risk") else "false",
            })
        return
    have = orjson.loads(have_text)
    if have != want:
        diffs = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
        if diffs == ["no_risk"]:
            raise ConfigMismatchError(
                f"{store.path} was journaled with no_risk={_flag(have.get('no_risk'))} but this run has "
                f"no_risk={_flag(want.get('no_risk'))}; rerun with the same --no-risk setting"
            )
        raise ConfigMismatchError(
            f"{store.path} was journaled with different engine settings ({', '.join(diffs)} differ)"
        )


def _flag(value: Any) -> str:
    return orjson.dumps(value).decode()


# --- the durable engine ----------------------------------------------------------------------


class DurableEngine:
    """An ``Engine`` rebuilt from a journal, whose new commands are journaled in group commits."""

    def __init__(self, store: JournalStore, config: EngineConfig | None = None, *, verify: bool = True) -> None:
        self.store = store
        self.config = config_from_store(store) if config is None else config
        _record_or_check_config(store, self.config)
        self.engine = Engine(self.config)
        self._pending: list[Events] = []
        self.replayed = 0
        self.replayed_events = 0
        self.replay_seconds = 0.0
        self._replay(verify)

    def _replay(self, verify: bool) -> None:
        """Feed every stored raw line through ``process_line`` and compare with stored events."""
        t0 = time.perf_counter()
        process_line = self.engine.process_line
        for cmd in self.store.iter_commands():
            events = process_line(cmd.raw, cmd.line)
            self.replayed += 1
            self.replayed_events += len(events)
            if not verify:
                continue
            bodies = [dump_event(e) for e in events]
            if bodies != cmd.events:
                raise JournalIntegrityError(cmd.seq, cmd.line, _describe_mismatch(cmd.events, bodies))
        self.replay_seconds = time.perf_counter() - t0

    @property
    def last_line(self) -> int:
        """Input line of the last *durable* command (0 when none); a rerun skips lines <= this."""
        return self.store.last_line()

    def submit(self, raw: str, line: int) -> Events:
        """Process one command line and buffer it. The returned events are NOT yet acknowledged."""
        events = self.engine.process_line(raw, line)
        self.record(raw, line, events)
        return events

    def record(self, raw: str, line: int, events: Events) -> None:
        """Buffer a command this engine has just processed (for loops that time ``process``
        themselves, like ``core.simrun.run_lines``); the events wait for ``flush`` like ``submit``'s."""
        self.store.append(line, raw, events)
        self._pending.append(events)

    @property
    def pending(self) -> int:
        """Commands processed but not yet durable (their events are not released)."""
        return len(self._pending)

    def due(self) -> bool:
        """True when the group-commit policy wants a ``flush``."""
        return self.store.due()

    def flush(self) -> list[Events]:
        """Commit the buffered batch, then release its events (per command, in order)."""
        if not self._pending:
            return []
        self.store.commit()
        released, self._pending = self._pending, []
        return released

    def take_batch(self) -> tuple[Any, list[Events]] | None:
        """Detach the buffered batch and its unreleased events, for a ``BatchWriter``."""
        batch = self.store.take()
        if batch is None:
            return None
        events, self._pending = self._pending, []
        return batch, events

    def state_snapshot(self) -> dict[str, Any]:
        return self.engine.state_snapshot()


def _describe_mismatch(stored: list[str], replayed: list[str]) -> str:
    if len(stored) != len(replayed):
        return f"{len(stored)} events stored, {len(replayed)} replayed"
    for i, (a, b) in enumerate(zip(stored, replayed)):
        if a != b:
            return f"event {i} differs: stored {a[:160]} vs replayed {b[:160]}"
    return "events differ"  # pragma: no cover


# --- background group commit ----------------------------------------------------------------


class BatchWriter:
    """Commits batches on one background thread and acknowledges each after its commit.

    Why: a DuckDB commit is mostly waiting on the disk (fsync), during which the engine can
    keep matching. The engine thread hands a batch over when the group-commit policy says it
    is due *and* the writer is idle; while the writer is busy the next batch keeps growing, so
    batch size adapts to the disk. Past ``max_backlog`` buffered commands the engine waits.
    When the input stalls (commands typed or piped in slowly), the writer itself takes a batch
    once its oldest command is ``max_delay`` old, so nothing waits for the next command.
    ``on_ack(batch_events)`` runs on the writer thread, strictly in commit order, and only
    after the commit returned: the release-after-durable rule holds unchanged.

    At most one batch is outside the buffer at any time (taken only while the writer is idle,
    under one lock with the appends), which is what keeps batches in seq order.
    """

    def __init__(self, de: DurableEngine, on_ack: Callable[[list[Events]], None], *, max_backlog: int | None = None) -> None:
        self._de = de
        self._on_ack = on_ack
        self.max_backlog = max_backlog or 16 * de.store.batch_size
        self._queue: queue.SimpleQueue[tuple[Any, list[Events]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._error: BaseException | None = None
        self.batches = 0
        self.commands = 0
        self.commit_seconds = 0.0
        self._thread = threading.Thread(target=self._run, name="tickdesk-journal-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        perf = time.perf_counter
        delay = max(self._de.store.max_delay, 0.001)
        while True:
            try:
                item = self._queue.get(timeout=delay)
            except queue.Empty:
                with self._lock:  # the input stalled: commit what is due without the engine thread
                    if not (self._idle.is_set() and self._de.due()):
                        continue
                    item = self._de.take_batch()
                    if item is None:
                        continue
                    self._idle.clear()
            if item is None:
                return
            batch, events = item
            try:
                t = perf()
                self._de.store.write(batch)
                self.commit_seconds += perf() - t
                self.batches += 1
                self.commands += len(events)
                self._on_ack(events)
            except BaseException as exc:  # handed to the engine thread at its next call
                self._error = exc
                self._idle.set()
                return
            self._idle.set()

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def _hand_off(self, *, only_if_due: bool) -> bool:
        """Give the buffer to the writer if it is idle; False when it is busy."""
        with self._lock:
            if not self._idle.is_set():
                return False
            if only_if_due and not self._de.due():
                return True
            item = self._de.take_batch()
            if item is not None:
                self._idle.clear()
                self._queue.put(item)
            return True

    def record(self, raw: str, line: int, events: Events) -> None:
        """Buffer one processed command, then hand the buffer over if due and the writer is free."""
        self._check()
        with self._lock:
            self._de.record(raw, line, events)
        if self._idle.is_set():
            self._hand_off(only_if_due=True)
        elif self._de.pending >= self.max_backlog:
            while not self._hand_off(only_if_due=False):
                self._idle.wait()
                self._check()

    def abort(self) -> None:
        """Stop after the batch in flight (if any); what is still buffered is not acknowledged."""
        self._queue.put(None)
        self._thread.join()

    def close(self) -> None:
        """Commit and acknowledge everything still buffered, then stop the thread."""
        while True:
            self._idle.wait()
            self._check()
            if self._hand_off(only_if_due=False):
                break
        self._idle.wait()
        self._queue.put(None)
        self._thread.join()
        self._check()


# --- the journaled run loop (used by ``tickdesk sim run --db``) ------------------------------


@dataclass
class DurableRunResult:
    """What one journaled run did; ``engine`` is the durable engine at the end."""

    engine: DurableEngine
    summary: RunSummary
    skipped: int = 0  # input lines at or below the journal's last line when the run started
    resumed_after: int = 0  # that last line (0: a fresh journal)
    commands: int = 0  # commands made durable in this run
    batches: int = 0
    commit_seconds: float = 0.0  # time inside the group commits

    def as_json(self) -> dict[str, Any]:
        store = self.engine.store
        return {
            "db": store.path,
            "resumed_after_line": self.resumed_after,
            "skipped_lines": self.skipped,
            "replayed": self.engine.replayed,
            "journaled": self.commands,
            "batches": self.batches,
            "commit_seconds": round(self.commit_seconds, 6),
            "total_commands": store.count(),
        }


def _text(raw: str | bytes) -> str:
    """The line as text. Invalid UTF-8 is replaced so the live run and any replay see one input."""
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace")


def run_durable(
    lines: Iterable[tuple[int, str | bytes]],
    store: JournalStore,
    config: EngineConfig,
    on_ack: Callable[[list[Events]], None],
    *,
    summary: RunSummary | None = None,
    source: str | None = None,
    pipelined: bool = True,
) -> DurableRunResult:
    """Run numbered journal lines through a durable engine, resuming after the stored journal.

    The loop is ``core.simrun.run_lines`` (same parsing, timing, blank-line handling and summary
    as a plain ``sim run``); this function adds the journal around it. ``on_ack(batch)`` is
    called once per committed batch with that batch's events, one list per command in order:
    it is the only place events may be written out. Input lines at or below the journal's
    ``last_line`` must equal the stored raw text and are skipped.

    ``pipelined`` (default) commits on a ``BatchWriter`` thread while the engine goes on, and
    ``on_ack`` then runs on that thread; otherwise each due batch is committed inline.
    """
    if source is not None and store.count() == 0 and not store.read_only:
        store.set_meta("source", source)
    de = DurableEngine(store, config)
    result = DurableRunResult(engine=de, summary=summary or RunSummary())
    resume_at = result.resumed_after = de.last_line
    current: list[Any] = [0, ""]  # the (line, text) run_lines is processing right now
    perf = time.perf_counter

    def fresh_lines() -> Iterator[tuple[int, str]]:
        stored = store.iter_raw() if resume_at else iter(())
        held = next(stored, None)
        last_seen = 0
        for line, raw in lines:
            last_seen = line
            text = _text(raw)
            if line <= resume_at:
                while held is not None and held[1] < line:
                    held = next(stored, None)
                if held is not None and held[1] == line and held[2] != text:
                    raise ResumeMismatchError(
                        f"input line {line} differs from the command journaled at seq {held[0]} in "
                        f"{store.path}; this is not the input the journal was written from"
                    )
                result.skipped += 1
                continue
            current[0], current[1] = line, text
            yield line, text
        if resume_at and last_seen < resume_at:
            raise ResumeMismatchError(
                f"the input ends at line {last_seen} but {store.path} has journaled up to line "
                f"{resume_at}; this is not the input the journal was written from"
            )

    def commit() -> None:
        t = perf()
        batch = de.flush()
        result.commit_seconds += perf() - t
        result.batches += 1
        result.commands += len(batch)
        on_ack(batch)

    writer = BatchWriter(de, on_ack) if pipelined else None

    def journal(line: int, events: Events) -> None:
        if line != current[0]:  # run_lines reports each command right after reading it
            raise RuntimeError(f"journal loop out of step: events for line {line}, read line {current[0]}")
        if writer is not None:
            writer.record(current[1], line, events)
        else:
            de.record(current[1], line, events)
            if de.due():
                commit()

    def finish() -> None:
        if writer is not None:
            writer.close()
            result.batches += writer.batches
            result.commands += writer.commands
            result.commit_seconds += writer.commit_seconds
        elif de.pending:
            commit()

    try:
        run_lines(de.engine, fresh_lines(), result.summary, journal)
    except KeyboardInterrupt:
        finish()  # keep and acknowledge what was processed; a rerun resumes after it
        raise
    except BaseException:
        if writer is not None:  # like a crash: what is not durable is not acknowledged
            writer.abort()
        raise
    finish()
    return result
