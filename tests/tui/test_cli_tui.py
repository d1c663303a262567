"""The workstation as a user starts it: ``tickdesk`` in tmux, ``serve-web`` on loopback,
``bench ui --json``; and the errors they give on bad input."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


def _wait(predicate, deadline_s: float, what: str):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_tickdesk_in_tmux_shows_the_ladder_and_quits_cleanly(tmp_path):
    session = f"tickdesk-e2e-{os.getpid()}"
    exit_file = tmp_path / "exit"
    cfg = tmp_path / "config.toml"
    logs = tmp_path / "logs"
    cfg.write_text(f'[simmarket]\nseed = 3\n[paths]\nlog_dir = "{logs}"\n[logging]\nlevel = "info"\n')
    script = (
        f"cd {REPO} && unset COLUMNS LINES && TERM=xterm-256color {sys.executable} -m tui.cli --config {cfg}; "
        f"echo $? > {exit_file}; sleep 30"
    )
    tmux = ["tmux", "-f", "/dev/null", "-L", session]
    # A shell first, sized and configured, then the command typed into it, as a user would.
    subprocess.run([*tmux, "new-session", "-d", "-s", session, "-x", "120", "-y", "40", "sh"], check=True)
    try:
        subprocess.run([*tmux, "set", "-t", session, "-s", "escape-time", "0"], check=True)
        subprocess.run([*tmux, "send-keys", "-t", session, "-l", script], check=True)
        subprocess.run([*tmux, "send-keys", "-t", session, "Enter"], check=True)

        def screen() -> str:
            return subprocess.run([*tmux, "capture-pane", "-t", session, "-p"], capture_output=True, text=True).stdout

        # The status bar and the ladder's prices around 30000 (BTC/USDT) are on screen.
        def trade_screen() -> str | None:
            text = screen()
            return text if "SRC sim" in text and "3000" in text else None

        text = _wait(trade_screen, 60, "the Trade screen")
        status = [line for line in text.splitlines() if "SRC sim" in line][0]
        assert "ACTIVE" in status and "feeds 2/2 ok" in status, status
        assert "Kill switch" in text and "Buy" in text, text
        ladder_rows = [line for line in text.splitlines() if line.startswith("│") and "3000" in line[:40]]
        assert len(ladder_rows) >= 10, text
        subprocess.run([*tmux, "send-keys", "-t", session, "C-q"], check=True)
        code = _wait(lambda: exit_file.read_text().strip() if exit_file.exists() else None, 30, "tickdesk to exit")
        assert code == "0"
        # Logs went to the rotating file while the app owned the terminal.
        assert "workstation on sim" in (logs / "tickdesk.log").read_text()
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_web_serves_the_app_page_on_loopback():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "serve-web", "--port", str(port)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        def page():
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
            except httpx.HTTPError:
                return None
            return r if r.status_code == 200 else None

        r = _wait(page, 60, "serve-web to answer")
        assert f"ws://127.0.0.1:{port}/ws" in r.text and "tickdesk" in r.text
    finally:
        proc.terminate()
        proc.wait(10)


def test_serve_web_refuses_a_public_host_without_the_flag(run_cli):
    code, out, err = run_cli("serve-web", "--host", "0.0.0.0", "--port", "8765")
    assert code == 2 and out == ""
    assert err.startswith("tickdesk: error: refusing to serve on 0.0.0.0: textual-serve has no authentication")
    assert "--i-know-there-is-no-auth" in err and err.count("\n") == 1


def test_bad_source_is_one_line(run_cli):
    code, out, err = run_cli("--source", "kraken")
    assert code == 2 and out == ""
    assert err == "tickdesk: error: unknown source 'kraken'; expected one of: sim, binance, okx, emulator:URL, replay:FILE\n"


def test_bench_ui_json_reports_every_figure(run_cli):
    code, out, err = run_cli("bench", "ui", "--seconds", "1", "--render", "--json", timeout=120)
    result = json.loads(out)
    assert result["render"] is True  # frames also encoded as terminal output
    assert code == (0 if result["pass"] else 1)
    if code == 1:
        assert err.strip().splitlines()[-1].startswith("tickdesk: error: below the floor: key p99")
    for key in ("key_p50_ms", "key_p99_ms", "handled_p50_ms", "paints_per_s", "cpu_pct", "updates_applied_per_s",
                "rss_mb_start", "rss_mb_end"):
        assert isinstance(result[key], (int, float)), key
    assert result["rate_target"] == 20000 and result["size"] == "120x40"
    assert result["keys_sent"] > 0 and result["updates_applied_per_s"] > 0 and result["paints_per_s"] > 0
