"""The root callback: global options, config loading, logging, and bare ``tickdesk``.

``tickdesk [--config PATH] [--log-level LEVEL] [--version] [COMMAND ...]``

The loaded :class:`core.config.Settings` is stored on the Typer context (``ctx.obj``); commands
read it with :func:`get_settings`. Running ``tickdesk`` with no command opens the workstation.
"""

from __future__ import annotations

import enum
import logging
from pathlib import Path
from typing import Annotated, Optional

import typer

from core.config import ConfigError, Settings, load_config
from core.logs import configure_cli_logging, configure_file_logging
from tui.cli import app, fail

CONFIG_ERROR_KEY = "tickdesk.config_error"


class LogLevel(str, enum.Enum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"
    critical = "critical"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tickdesk")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown (not installed)"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"tickdesk {_version()}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    config: Annotated[
        Optional[Path],
        typer.Option(
            "--config",
            metavar="PATH",
            help="Config file (TOML). Default: $TICKDESK_CONFIG, else the per-user config.toml "
            "(see `tickdesk config path`).",
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[
        Optional[LogLevel],
        typer.Option("--log-level", case_sensitive=False, help="Log level for this run (logs go to stderr).", show_default=False),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    source: Annotated[
        Optional[str],
        typer.Option(
            "--source",
            metavar="SPEC",
            help="Market source for the workstation: sim, binance, okx, emulator:URL or replay:FILE "
            "(default: the config's ui.source, sim).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """tickdesk: a terminal trading workstation over an exact matching simulator.

    Run with no command to open the workstation on the simulated market.
    """
    if ctx.resilient_parsing:  # shell completion: no side effects
        return
    try:
        settings = load_config(config)
        if log_level is not None:
            settings = settings.with_overrides({"logging.level": log_level.value}, source="option --log-level")
    except ConfigError as exc:
        if ctx.invoked_subcommand == "config":
            # `tickdesk config path` must still work to find the broken file; `config show`
            # reports the error itself.
            ctx.meta[CONFIG_ERROR_KEY] = exc
            configure_cli_logging(log_level.value if log_level else "WARNING")
            return
        fail(str(exc))
        return
    configure_cli_logging(settings.logging.level)
    ctx.obj = settings
    if ctx.invoked_subcommand is None:
        open_workstation(settings, source or settings.ui.source)
    elif source is not None:
        fail("--source opens the workstation: give it without a command (commands take their own --source)")


def get_settings(ctx: typer.Context) -> Settings:
    """The settings loaded by the root callback (loads them if a command runs without it)."""
    obj = ctx.find_root().obj if ctx.obj is None else ctx.obj
    if isinstance(obj, Settings):
        return obj
    error = ctx.find_root().meta.get(CONFIG_ERROR_KEY)
    if error is not None:
        fail(str(error))
    try:
        settings = load_config()
    except ConfigError as exc:
        fail(str(exc))
        raise  # unreachable: fail() exits
    ctx.find_root().obj = settings
    return settings


def open_workstation(settings: Settings, source: str = "sim") -> None:
    """What bare ``tickdesk`` does: the Textual workstation on ``source`` (textual is imported
    only here, so every other command starts without it)."""
    from tui.sources.base import open_source

    try:
        src = open_source(source, settings)
    except ValueError as exc:
        fail(str(exc))
        return
    from tui import textual_env

    textual_env.apply()
    from tui.app import WorkstationApp
    from tui.keymap import KeymapError

    try:
        app = WorkstationApp(src, settings)
    except (KeymapError, ValueError) as exc:
        fail(str(exc))
        return
    run_app(app, src, settings)


def run_app(app, source, settings: Settings) -> None:
    """Run a workstation app until it quits: logs go to the rotating file while Textual owns
    the terminal (a stderr line would tear the screen), and the source is always stopped."""
    path = configure_file_logging(settings.log_dir, settings.logging.level)
    logging.getLogger(__name__).info("workstation on %s (log %s)", source.name, path)
    try:
        app.run()
    finally:
        source.stop()  # idempotent: the app stops it on exit; this covers a crash before mount
        configure_cli_logging(settings.logging.level)
    if app.return_code:
        raise typer.Exit(app.return_code)


from tui.commands import config as _config  # noqa: E402,F401  (registers `tickdesk config`)
