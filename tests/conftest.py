"""Shared test fixtures.

* Every test runs with the user's own tickdesk settings out of the way: ``TICKDESK_*``
  variables are removed and the XDG config/data/state/cache homes point at a per-session
  temporary directory, so a developer's ``~/.config/tickdesk/config.toml`` never leaks into
  a test (subprocesses started by tests inherit this environment).
* ``shared_data``: the ``../shared/data`` folder beside the repository (real recorded market
  data); tests that use it skip with a reason when it is absent (a user's fresh clone). CI has it.
* ``run_cli(*args, input=None, timeout=120)``: runs ``tickdesk ARGS`` as a real subprocess and
  returns ``(code, stdout, stderr)``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _isolated_user_env(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("user-dirs")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("TICKDESK_"):
                mp.delenv(name)
        for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
            mp.setenv(var, str(home / var.lower()))
        yield home


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (relative to the repository root), or skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"shared test data not found at {SHARED_DATA} (it sits beside the repository in CI; "
            "a fresh clone does not have it)"
        )
    return SHARED_DATA


class CliResult(NamedTuple):
    code: int
    stdout: str
    stderr: str


def _run_cli(
    *args: str | os.PathLike[str],
    input: str | None = None,
    timeout: float = 120,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> CliResult:
    """``tickdesk ARGS`` in a subprocess (``python -m tui.cli``, the same entry point as the
    console script). ``env`` entries are added to the current environment."""
    full_env = {**os.environ, "PYTHONIOENCODING": "utf-8", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "tui.cli", *map(str, args)],
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        env=full_env,
        cwd=cwd or REPO_ROOT,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def run_cli():
    """Run the CLI as a real subprocess: ``code, out, err = run_cli("sim", "run", path, "--json")``."""
    return _run_cli
