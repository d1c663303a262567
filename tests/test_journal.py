"""The DuckDB journal store: round trip, group commit, one owning process, refusing foreign files."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import orjson
import pytest

import core.journal as journal
from core.journal import (
    JournalNotFoundError,
    JournalStore,
    NotAJournalError,
    StoreOwnedError,
    command_status,
)

REPO = Path(__file__).resolve().parents[1]


def _events(line: int, kind: str) -> list[dict]:
    if kind == "reject":
        return [{"event": "rejected", "cmd": line, "id": f"o{line}", "reason": "INSUFFICIENT_BALANCE"}]
    if kind == "none":
        return []
    return [
        {"event": "accepted", "cmd": line, "id": f"o{line}", "price": "30000.01", "qty": "0.5"},
        {"event": "trade", "cmd": line, "seq": line, "price": "30000.01", "qty": "0.1", "note": "é\n\"q\""},
    ]


def _fill(store: JournalStore, n: int, start_line: int = 1) -> list[tuple[int, str, list[dict]]]:
    rows = []
    for line in range(start_line, start_line + n):
        kind = ("ok", "reject", "none")[line % 3]
        raw = orjson.dumps({"op": "new", "id": f"o{line}", "qty": "0.5", "text": "ü"}).decode()
        evs = _events(line, kind)
        store.append(line, raw, evs)
        rows.append((line, raw, evs))
    return rows


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "j.duckdb"
    with JournalStore(path) as store:
        assert store.count() == 0 and store.last_line() == 0 and store.last_seq() == 0
        rows = _fill(store, 10)
        assert store.count() == 0 and store.buffered == 10  # nothing durable yet
        assert store.commit() == 10
        assert store.buffered == 0 and store.count() == 10 and store.last_line() == 10
        store.set_meta("source", "cmds.jsonl")
    with JournalStore(path, read_only=True) as store:
        got = list(store.iter_commands())
        assert [c.seq for c in got] == list(range(1, 11))
        for cmd, (line, raw, evs) in zip(got, rows, strict=True):
            assert cmd.line == line and cmd.raw == raw
            assert [orjson.loads(b) for b in cmd.events] == evs
            assert cmd.status == command_status(evs, line)
        assert store.status_counts() == {
            "applied": sum(1 for line, _, e in rows if command_status(e, line) == "applied"),
            "rejected": sum(1 for line, _, e in rows if command_status(e, line) == "rejected"),
        }
        assert store.meta()["source"] == "cmds.jsonl"
        assert store.get_meta("schema_version") == journal.SCHEMA_VERSION
        assert store.event_count() == sum(len(e) for _, _, e in rows)
        assert [r[1] for r in store.iter_raw()] == [r[0] for r in rows]


def test_status_is_rejected_only_for_a_whole_command_reject() -> None:
    assert command_status([{"event": "rejected", "cmd": 3, "reason": "X"}], 3) == "rejected"
    assert command_status([{"event": "expired", "cmd": 3}, {"event": "rejected", "cmd": 3, "op": "new"}], 3) == "rejected"
    assert command_status([{"event": "accepted", "cmd": 3}, {"event": "rejected", "cmd": 3, "op": "bulk_new"}], 3) == "applied"
    assert command_status([{"event": "rejected", "cmd": 2, "reason": "X"}], 3) == "applied"
    assert command_status([], 3) == "applied"


def test_uncommitted_buffer_is_lost_and_seq_continues(tmp_path: Path) -> None:
    path = tmp_path / "j.duckdb"
    with JournalStore(path) as store:
        _fill(store, 5)
        store.commit()
        _fill(store, 3, start_line=6)  # never committed: like a crash before the group commit
    with JournalStore(path) as store:
        assert store.count() == 5 and store.last_line() == 5 and store.last_seq() == 5
        _fill(store, 2, start_line=6)
        store.commit()
        assert [c.seq for c in store.iter_commands()] == [1, 2, 3, 4, 5, 6, 7]
        assert store.last_line() == 7


def test_group_commit_policy(tmp_path: Path) -> None:
    with JournalStore(tmp_path / "j.duckdb", batch_size=4, max_delay=0.020) as store:
        assert not store.due()  # empty buffer is never due
        t0 = journal.time.monotonic()
        for i in range(3):
            _fill(store, 1, start_line=i + 1)
            assert not store.due(now=t0)  # below batch size, no time passed
        assert store.due(now=t0 + 10.0)  # the oldest command waited longer than max_delay
        _fill(store, 1, start_line=4)
        assert store.due(now=t0)  # a full batch
        store.commit()
        assert not store.due(now=t0 + 10.0)
        # the delay clock starts at the oldest buffered command of the next batch
        _fill(store, 1, start_line=5)
        start = store._oldest
        assert start is not None and start >= t0
        assert not store.due(now=start)
        assert store.due(now=start + 0.021)


def test_one_commit_one_transaction_many_batches(tmp_path: Path) -> None:
    """Batches land whole; chunked read-back crosses chunk boundaries in order."""
    path = tmp_path / "j.duckdb"
    with JournalStore(path, batch_size=64) as store:
        line = 1
        for size in (64, 1, 200, 7):
            _fill(store, size, start_line=line)
            line += size
            store.commit()
        assert store.count() == line - 1
    old = journal._READ_CHUNK
    journal._READ_CHUNK = 13
    try:
        with JournalStore(path, read_only=True) as store:
            got = list(store.iter_commands())
            assert [c.line for c in got] == list(range(1, line))
            assert sum(len(c.events) for c in got) == store.event_count()
            assert [r[0] for r in store.iter_raw()] == list(range(1, line))
    finally:
        journal._READ_CHUNK = old


def test_second_process_gets_store_owned_error(tmp_path: Path) -> None:
    path = tmp_path / "owned.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys
                sys.path.insert(0, {str(REPO)!r})
                from core.journal import JournalStore
                store = JournalStore({str(path)!r})
                print("ready", flush=True)
                sys.stdin.readline()
                store.close()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        for read_only in (False, True):
            with pytest.raises(StoreOwnedError) as info:
                JournalStore(path, read_only=read_only)
            assert info.value.pid == holder.pid
            msg = str(info.value)
            assert str(path) in msg and f"pid {holder.pid}" in msg
            assert "one process owns a tickdesk store" in msg
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=30)
    # once the owner exits, the file opens normally
    with JournalStore(path) as store:
        assert store.count() == 0


def test_foreign_files_are_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    with pytest.raises(NotAJournalError, match="not a DuckDB database"):
        JournalStore(text)

    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE prices (ts BIGINT, px DOUBLE)")
    con.close()
    with pytest.raises(NotAJournalError, match="not a tickdesk journal"):
        JournalStore(other)

    future = tmp_path / "future.duckdb"
    with JournalStore(future) as store:
        store.set_meta("schema_version", "99")
    with pytest.raises(NotAJournalError, match="schema version '99'"):
        JournalStore(future)

    with pytest.raises(JournalNotFoundError):
        JournalStore(tmp_path / "missing.duckdb", create=False)
    assert not (tmp_path / "missing.duckdb").exists()


def test_read_only_store_refuses_appends(tmp_path: Path) -> None:
    path = tmp_path / "j.duckdb"
    JournalStore(path).close()
    with JournalStore(path, read_only=True) as store:
        with pytest.raises(journal.JournalError):
            store.append(1, "{}", [])


# --- the durable engine over the store ------------------------------------------------------

from core.durable import (  # noqa: E402
    ConfigMismatchError,
    DurableEngine,
    JournalIntegrityError,
    ResumeMismatchError,
    run_durable,
)
from core.engine import Engine, EngineConfig  # noqa: E402
from journalgen import generate_journal  # noqa: E402


def _fresh_state(lines: list[str], k: int, no_risk: bool = False) -> dict:
    eng = Engine(EngineConfig(no_risk=no_risk))
    for i, raw in enumerate(lines[:k], 1):
        eng.process_line(raw, i)
    return eng.state_snapshot()


def test_durable_engine_releases_only_after_flush_and_recovers(tmp_path: Path) -> None:
    lines = generate_journal(600, seed=3)
    path = tmp_path / "d.duckdb"
    live = Engine()
    expected = [live.process_line(raw, i) for i, raw in enumerate(lines, 1)]
    with JournalStore(path, batch_size=50) as store:
        de = DurableEngine(store, EngineConfig())
        released: list[list[dict]] = []
        for i, raw in enumerate(lines, 1):
            de.submit(raw, i)
            assert store.count() + de.pending == i  # every command is durable or pending
            if de.due():
                batch = de.flush()
                assert de.pending == 0 and store.count() == i  # released only once durable
                released.extend(batch)
        released.extend(de.flush())
        assert released == expected
        assert de.state_snapshot() == live.state_snapshot()
    with JournalStore(path) as store:
        de = DurableEngine(store, EngineConfig())
        assert de.replayed == len(lines) and de.last_line == len(lines)
        assert de.state_snapshot() == live.state_snapshot()
        assert store.status_counts()["rejected"] > 0  # the generator makes some rejects


def test_tampered_event_is_an_integrity_error(tmp_path: Path) -> None:
    lines = generate_journal(300, seed=5)
    path = tmp_path / "d.duckdb"
    with JournalStore(path) as store:
        de = DurableEngine(store, EngineConfig())
        for i, raw in enumerate(lines, 1):
            de.submit(raw, i)
        de.flush()
        seq = store.execute(
            "SELECT min(seq) FROM events WHERE seq > 150 AND body LIKE '%\"event\":\"accepted\"%'"
        ).fetchone()[0]
        assert seq is not None
        store.execute(
            "UPDATE events SET body = replace(body, '\"accepted\"', '\"canceled\"') WHERE seq = ? AND idx = 0",
            [seq],
        )
    with JournalStore(path) as store:
        with pytest.raises(JournalIntegrityError, match=f"seq {seq} ") as info:
            DurableEngine(store, EngineConfig())
        assert info.value.seq == seq
        store.execute(
            "UPDATE events SET body = replace(body, '\"canceled\"', '\"accepted\"') WHERE seq = ? AND idx = 0",
            [seq],
        )
        DurableEngine(store, EngineConfig())  # repaired: replays cleanly again
        # a missing event row is caught as well
        store.execute("DELETE FROM events WHERE seq = ? AND idx = 0", [seq])
        with pytest.raises(JournalIntegrityError, match=f"seq {seq} "):
            DurableEngine(store, EngineConfig())


def test_settings_mismatch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.duckdb"
    with JournalStore(path) as store:
        de = DurableEngine(store, EngineConfig(no_risk=True))
        de.submit('{"op":"deposit","account":"a","asset":"USDT","amount":"5"}', 1)
        de.flush()
        assert store.get_meta("no_risk") == "true"
    with JournalStore(path) as store:
        with pytest.raises(ConfigMismatchError, match="no_risk=true.*no_risk=false.*--no-risk"):
            DurableEngine(store, EngineConfig(no_risk=False))
        assert DurableEngine(store).config.no_risk is True  # recovered from meta


@pytest.mark.parametrize("pipelined", [True, False])
def test_run_durable_acks_durable_batches_and_resumes(tmp_path: Path, pipelined: bool) -> None:
    lines = generate_journal(2_000, seed=11)
    path = tmp_path / "d.duckdb"
    acked: list[list[dict]] = []

    def numbered(upto: int):
        return ((i, raw.encode()) for i, raw in enumerate(lines[:upto], 1))

    def acker(store: JournalStore):
        def on_ack(batch: list[list[dict]]) -> None:
            # everything released is durable: exactly the acked commands are in the file
            assert store.count() == len(acked) + len(batch)
            if not pipelined:
                assert store.buffered == 0
            acked.extend(batch)

        return on_ack

    with JournalStore(path, batch_size=64) as store:
        first = run_durable(numbered(700), store, EngineConfig(), acker(store), source="gen.jsonl", pipelined=pipelined)
        assert first.commands == 700 and first.skipped == 0 and store.count() == 700
        assert first.batches >= (700 // 64 if not pipelined else 1)
    with JournalStore(path, batch_size=64) as store:
        second = run_durable(numbered(2_000), store, EngineConfig(), acker(store), pipelined=pipelined)
        assert second.resumed_after == 700 and second.skipped == 700 and second.commands == 1_300
        assert second.engine.state_snapshot() == _fresh_state(lines, 2_000)
        assert store.meta()["source"] == "gen.jsonl"
    fresh = Engine()
    assert acked == [fresh.process_line(raw, i) for i, raw in enumerate(lines, 1)]
    with JournalStore(path) as store:  # what the writer thread committed reads back whole
        assert [c.line for c in store.iter_commands()] == list(range(1, 2_001))

    # resuming with a different input is refused, as is an input shorter than the journal
    other = list(lines)
    other[10] = generate_journal(2_000, seed=12)[500]
    with JournalStore(path) as store:
        with pytest.raises(ResumeMismatchError, match="input line 11 differs"):
            run_durable(((i, r) for i, r in enumerate(other, 1)), store, EngineConfig(), lambda b: None)
        with pytest.raises(ResumeMismatchError, match="ends at line 1000"):
            run_durable(((i, r) for i, r in enumerate(lines[:1000], 1)), store, EngineConfig(), lambda b: None)
        assert store.count() == 2_000


def test_writer_errors_reach_the_engine_thread(tmp_path: Path) -> None:
    """An acknowledgement that fails (say, the events file's disk is full) stops the run."""
    lines = generate_journal(3_000, seed=13)
    calls = []

    def on_ack(batch: list[list[dict]]) -> None:
        calls.append(len(batch))
        if len(calls) == 2:
            raise OSError(28, "No space left on device")

    with JournalStore(tmp_path / "d.duckdb", batch_size=32) as store:
        with pytest.raises(OSError, match="No space left"):
            run_durable(((i, r) for i, r in enumerate(lines, 1)), store, EngineConfig(), on_ack)
        assert 0 < store.count() < 3_000  # durable batches stay; the rest is as after a crash


def test_stalled_input_is_still_acknowledged(tmp_path: Path) -> None:
    """Commands typed or piped in slowly are committed by the writer's delay policy, not
    held until the next command arrives."""
    import threading

    lines = generate_journal(12, seed=17)
    acked: list[list[dict]] = []
    first_five = threading.Event()

    def on_ack(batch: list[list[dict]]) -> None:
        acked.extend(batch)
        if len(acked) >= 5:
            first_five.set()

    def slow_input():
        for i, raw in enumerate(lines[:5], 1):
            yield i, raw
        # the input stalls here until the first five are durable and released
        assert first_five.wait(timeout=60), "buffered commands were not committed while the input stalled"
        for i, raw in enumerate(lines[5:], 6):
            yield i, raw

    with JournalStore(tmp_path / "d.duckdb", batch_size=256, max_delay=0.005) as store:
        result = run_durable(slow_input(), store, EngineConfig(), on_ack)
        assert result.commands == 12 and store.count() == 12
    fresh = Engine()
    assert acked == [fresh.process_line(raw, i) for i, raw in enumerate(lines, 1)]
