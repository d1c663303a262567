"""Helpers for tests that run ``tickdesk emulator`` (and ``tickdesk feed run``) as subprocesses.

Everything listens on 127.0.0.1 only, every wait is bounded, and every process started here is
stopped (SIGTERM, then SIGKILL) when the ``with`` block ends.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict:
    return {**os.environ, "PYTHONIOENCODING": "utf-8"}


def _readline(proc: subprocess.Popen, timeout: float) -> str:
    """One stdout line, waiting at most ``timeout`` seconds (empty string on EOF)."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        if not sel.select(timeout):
            raise TimeoutError(f"no output from {proc.args!r} within {timeout} s")
        return proc.stdout.readline()
    finally:
        sel.close()


class EmulatorProc:
    def __init__(self, proc: subprocess.Popen, info: dict) -> None:
        self.proc = proc
        self.info = info
        self.final: dict | None = None
        self.stderr = ""

    @property
    def ws_url(self) -> str:
        return self.info["ws_url"]

    @property
    def rest_url(self) -> str:
        return self.info["rest_url"]

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, object]:
        try:
            with urllib.request.urlopen(self.rest_url + path, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def state(self) -> dict:
        status, body = self.get("/debug/state")
        assert status == 200, body
        return body

    def book(self, symbol: str, at: int | None = None) -> dict:
        q = f"/debug/book?symbol={symbol}" + (f"&at={at}" if at is not None else "")
        status, body = self.get(q)
        assert status == 200, body
        return body

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate(timeout=timeout)
        self.stderr = err or ""
        for line in (out or "").splitlines():
            if line.strip().startswith("{"):
                obj = json.loads(line)
                if obj.get("event") == "stopped":
                    self.final = obj


@contextmanager
def emulator(*args: str | os.PathLike, seconds: float = 60.0, start_timeout: float = 30.0):
    """``tickdesk emulator ARGS --json --port 0 --seconds N`` as a subprocess; yields :class:`EmulatorProc`."""
    cmd = [sys.executable, "-m", "tui.cli", "emulator", *map(str, args), "--json", "--port", "0", "--seconds", str(seconds)]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        encoding="utf-8", cwd=REPO_ROOT, env=_env(),
    )
    emu = None
    try:
        line = _readline(proc, start_timeout)
        if not line:
            proc.wait(10)
            raise AssertionError(f"emulator exited {proc.returncode}: {proc.stderr.read()[-3000:]}")
        info = json.loads(line)
        assert info["event"] == "listening", info
        emu = EmulatorProc(proc, info)
        yield emu
    finally:
        if emu is None:
            emu = EmulatorProc(proc, {})
        emu.stop()
        assert "Traceback" not in emu.stderr, emu.stderr[-4000:]


def run_cli(*args: str | os.PathLike, timeout: float = 120.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *map(str, args)], stdin=subprocess.DEVNULL, capture_output=True, text=True,
        encoding="utf-8", timeout=timeout, cwd=REPO_ROOT, env=_env(),
    )


def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate()`` until it returns a truthy value (returned) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
