"""Crash recovery, end to end: ``tickdesk sim run --db`` killed with SIGKILL, then recovered.

The acceptance rule: an event a user has seen belongs to a durable command. After every kill,
(a) every command with a fully written event line in EVENTS is in the DB journal, and EVENTS is
exactly a prefix of the journaled event stream; (b) ``journal state`` equals a fresh in-process
replay of the first K input lines (K = journaled commands); (c) rerunning with the same DB
resumes, and the final state (and EVENTS) equal one uninterrupted run. Kills are placed by
watching EVENTS grow, so no assertion depends on timing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from core.engine import Engine, EngineConfig
from core.journal import JournalStore
from journalgen import write_journal

REPO_ROOT = Path(__file__).resolve().parents[1]
N_LINES = 30_000


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The generated journal, its full event stream (bytes per line) and final state."""
    root = tmp_path_factory.mktemp("crash")
    journal = root / "journal.jsonl"
    lines = write_journal(journal, N_LINES, seed=2024)
    eng = Engine(EngineConfig())
    events: list[bytes] = []
    for i, raw in enumerate(lines, 1):
        events.extend(orjson.dumps(ev) for ev in eng.process_line(raw, i))
    return {"root": root, "journal": journal, "lines": lines, "events": events, "final": eng.state_snapshot()}


def _fresh_state(lines: list[str], k: int) -> dict:
    eng = Engine(EngineConfig())
    for i, raw in enumerate(lines[:k], 1):
        eng.process_line(raw, i)
    return eng.state_snapshot()


def _sim_cmd(journal: Path, db: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tui.cli", "sim", "run", str(journal), "--db", str(db), "--out", str(out), *extra]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )


def _run_and_kill(cmd: list[str], out: Path, kill_at_bytes: int) -> bool:
    """Start the run, SIGKILL it once EVENTS holds ``kill_at_bytes``; True if it was still running."""
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while proc.poll() is None:
            try:
                if out.stat().st_size >= kill_at_bytes:
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.002)
        running = proc.poll() is None
        if running:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        if not running:
            assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else ""
        return running
    finally:
        if proc.stderr is not None:
            proc.stderr.close()
        if proc.poll() is None:  # pragma: no cover - only on a failing assertion above
            proc.kill()
            proc.wait()


def _complete_lines(path: Path) -> list[bytes]:
    """The fully written lines of EVENTS (a partial last line, cut by the kill, is left out)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    return data[: data.rfind(b"\n") + 1].splitlines()


def _check_after_crash(workload: dict, db: Path, out: Path) -> int:
    """Checks (a) and (b); returns K, the number of journaled commands."""
    with JournalStore(db, create=False, read_only=True) as store:
        stored = list(store.iter_commands())
    k = len(stored)
    # the journal is a gap-free prefix of the input, stored verbatim
    assert [c.line for c in stored] == list(range(1, k + 1))
    assert [c.raw for c in stored] == workload["lines"][:k]
    # (a) no acknowledged command is missing: EVENTS is a prefix of the journaled event stream
    seen = _complete_lines(out)
    journaled = [body.encode() for c in stored for body in c.events]
    assert len(seen) <= len(journaled)
    assert seen == journaled[: len(seen)]
    seen_cmds = {orjson.loads(b)["cmd"] for b in seen}
    assert all(1 <= cmd <= k for cmd in seen_cmds)
    # the journaled events are the ones a fresh run produces
    assert journaled == workload["events"][: len(journaled)]
    # (b) the recovered state equals a fresh in-process replay of the first K lines
    res = _cli("journal", "state", "--db", str(db), "--json")
    assert res.returncode == 0, res.stderr
    assert orjson.loads(res.stdout) == _fresh_state(workload["lines"], k)
    return k


@pytest.mark.slow
def test_sigkill_during_journaled_run_loses_no_acknowledged_command(workload: dict, tmp_path: Path) -> None:
    db, out = tmp_path / "run.duckdb", tmp_path / "events.jsonl"
    total = sum(len(e) + 1 for e in workload["events"])
    cmd = _sim_cmd(workload["journal"], db, out)
    interrupted = 0
    last_k = 0
    # each rerun resumes from the journal, then is killed again further on
    for fraction in (0.02, 0.25, 0.55, 0.8):
        if _run_and_kill(cmd, out, int(total * fraction)):
            interrupted += 1
        k = _check_after_crash(workload, db, out)
        assert k >= last_k
        last_k = k
    assert interrupted >= 2, "the runs finished before the kills; the test proved nothing"

    # (c) a rerun with the same DB resumes and completes
    res = subprocess.run(cmd + ["--json"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    summary = orjson.loads(res.stdout)
    assert summary["journal"]["resumed_after_line"] == last_k
    assert summary["journal"]["skipped_lines"] == last_k
    assert summary["commands"] == N_LINES - last_k
    final = _cli("journal", "state", "--db", str(db), "--json")
    assert final.returncode == 0, final.stderr
    assert orjson.loads(final.stdout) == workload["final"]
    # and EVENTS equals one uninterrupted run: nothing lost, nothing duplicated
    assert out.read_bytes().splitlines() == workload["events"]

    verify = _cli("journal", "verify", "--db", str(db), "--json")
    assert verify.returncode == 0, verify.stderr
    report = orjson.loads(verify.stdout)
    assert report["ok"] and report["commands"] == N_LINES and report["events"] == len(workload["events"])

    export = tmp_path / "export.jsonl"
    res = _cli("journal", "export", "--db", str(db), "--out", str(export))
    assert res.returncode == 0, res.stderr
    assert export.read_text() == workload["journal"].read_text()


def test_kill_before_first_commit_then_rerun(workload: dict, tmp_path: Path) -> None:
    """A kill right at the start (maybe before the DB exists) still recovers to the full state."""
    db, out = tmp_path / "early.duckdb", tmp_path / "events.jsonl"
    cmd = _sim_cmd(workload["journal"], db, out)
    _run_and_kill(cmd, out, 0)  # as soon as EVENTS is created, before or at the first commit
    if db.exists():
        state = _cli("journal", "state", "--db", str(db), "--json")
        if state.returncode == 0:
            _check_after_crash(workload, db, out)
        else:  # killed between creating the file and creating its tables
            assert "empty DuckDB file" in state.stderr, state.stderr
    res = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    final = _cli("journal", "state", "--db", str(db), "--json")
    assert orjson.loads(final.stdout) == workload["final"]
    assert out.read_bytes().splitlines() == workload["events"]


def test_resume_with_other_settings_or_input_is_a_clear_error(workload: dict, tmp_path: Path) -> None:
    short = tmp_path / "short.jsonl"
    short.write_text("".join(line + "\n" for line in workload["lines"][:500]))
    db = tmp_path / "s.duckdb"
    res = _cli("sim", "run", str(short), "--db", str(db))
    assert res.returncode == 0, res.stderr

    res = _cli("sim", "run", str(short), "--db", str(db), "--no-risk")
    assert res.returncode != 0
    assert res.stderr.count("\n") == 1 and "no_risk" in res.stderr and "--no-risk" in res.stderr

    other = tmp_path / "other.jsonl"
    lines = list(workload["lines"][:600])
    lines[3] = lines[400]
    other.write_text("".join(line + "\n" for line in lines))
    res = _cli("sim", "run", str(other), "--db", str(db))
    assert res.returncode != 0
    assert res.stderr.count("\n") == 1 and "input line 4 differs" in res.stderr

    # a rerun of the same input is a no-op resume
    res = _cli("sim", "run", str(short), "--db", str(db), "--json")
    assert res.returncode == 0, res.stderr
    assert orjson.loads(res.stdout)["journal"]["skipped_lines"] == 500
    assert orjson.loads(res.stdout)["commands"] == 0


def test_cli_refuses_a_store_another_process_owns(workload: dict, tmp_path: Path) -> None:
    db = tmp_path / "owned.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom core.journal import JournalStore\n"
         f"s = JournalStore({str(db)!r})\nprint('ready', flush=True)\nsys.stdin.readline()\n"],
        cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        for args in (
            ("journal", "state", "--db", str(db), "--json"),
            ("journal", "verify", "--db", str(db)),
            ("sim", "run", str(workload["journal"]), "--db", str(db)),
        ):
            res = _cli(*args)
            assert res.returncode != 0
            assert res.stderr.count("\n") == 1, res.stderr
            assert f"owned by another process (pid {holder.pid})" in res.stderr and str(db) in res.stderr
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=30)


def test_journal_commands_on_missing_or_foreign_files(tmp_path: Path) -> None:
    res = _cli("journal", "state", "--db", str(tmp_path / "nope.duckdb"))
    assert res.returncode != 0 and "no journal at" in res.stderr and res.stderr.count("\n") == 1
    assert not (tmp_path / "nope.duckdb").exists()
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    res = _cli("journal", "verify", "--db", str(text))
    assert res.returncode != 0 and "not a tickdesk journal" in res.stderr and res.stderr.count("\n") == 1
