"""Logging setup (stdlib only): CLI commands log to stderr, the TUI to a rotating file.

Nothing here ever writes to stdout: stdout carries command output (``--json``) only. Modules
log through ``logging.getLogger(__name__)`` as usual; the entry points call one of the two
functions below once.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

LOG_FILENAME = "tickdesk.log"
LOG_FILE_BYTES = 5 * 1024 * 1024
LOG_FILE_BACKUPS = 3
CLI_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
FILE_FORMAT = "%(asctime)s %(levelname)-7s [%(threadName)s] %(name)s: %(message)s"

_OWN = "_tickdesk_handler"


class StderrHandler(logging.StreamHandler):
    """A stream handler bound to whatever ``sys.stderr`` is at emit time (pytest swaps it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):  # noqa: D102
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    value = logging.getLevelName(level.upper())
    if not isinstance(value, int):
        raise ValueError(f"unknown log level {level!r}")
    return value


def _install(handler: logging.Handler, level: str | int) -> logging.Handler:
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OWN, False)]:
        root.removeHandler(old)
        old.close()
    setattr(handler, _OWN, True)
    root.addHandler(handler)
    root.setLevel(_level(level))
    logging.captureWarnings(True)
    return handler


def configure_cli_logging(level: str | int = "WARNING") -> logging.Handler:
    """Log records at ``level`` and above to stderr. Safe to call again (replaces the handler)."""
    handler = StderrHandler()
    handler.setFormatter(logging.Formatter(CLI_FORMAT, datefmt="%H:%M:%S"))
    return _install(handler, level)


def configure_file_logging(log_dir: Path, level: str | int = "INFO") -> Path:
    """Log to ``log_dir/tickdesk.log``, rotated at 5 MB with 3 backups (the TUI owns the
    terminal, so nothing goes to stderr). Returns the log file path."""
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / LOG_FILENAME
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS, encoding="utf-8", delay=True
    )
    handler.setFormatter(logging.Formatter(FILE_FORMAT))
    _install(handler, level)
    return path
