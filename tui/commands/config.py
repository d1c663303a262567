"""``tickdesk config show [--json]`` and ``tickdesk config path [--json]``."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from core.config import SECTIONS, Settings, resolve_config_path
from tui.cli import app
from tui.commands.root import CONFIG_ERROR_KEY, get_settings

config_app = typer.Typer(help="The effective configuration and where each value comes from.", no_args_is_help=True)
app.add_typer(config_app, name="config")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (str, Decimal, Path)):
        return json.dumps(str(value))
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(type(value))


def render_toml(settings: Settings) -> str:
    """The effective settings as TOML (valid as a config file), each value's source in a comment."""
    data = settings.effective()
    sources = settings.sources
    lines = []
    file = settings.config_file
    lines.append(f"# config file: {file}" if file else f"# config file: {settings.config_path} (not found: defaults used)")
    for section in SECTIONS:
        values = data[section]
        lines.append("")
        if section == "fees":
            lines.append(f"# fees.tiers: {sources['fees.tiers']} (maker/taker are fractions: 0.001 = 0.1%)")
            for tier in values["tiers"]:
                lines.append("[[fees.tiers]]")
                for key, value in tier.items():
                    if value is not None:
                        lines.append(f"{key} = {_toml_value(value)}")
            continue
        lines.append(f"[{section}]")
        for key, value in values.items():
            source = sources[f"{section}.{key}"]
            if value is None:
                entry = f"# {key} = (off)"
            elif section == "paths" and source == "default":
                entry = f"# {key} = {_toml_value(value)}"  # commented: copying it would pin the path
                source = "default (platform user dir)"
            else:
                entry = f"{key} = {_toml_value(value)}"
            lines.append(f"{entry:<44} # {source}")
    return "\n".join(lines) + "\n"


@config_app.command("show")
def show(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Print the effective configuration (defaults < config file < TICKDESK_* env < flags)."""
    settings = get_settings(ctx)
    if as_json:
        out = {
            "config_file": str(settings.config_path),
            "config_file_loaded": settings.config_file is not None,
            "config": settings.effective(),
            "sources": settings.sources,
        }
        typer.echo(json.dumps(out, indent=2))
    else:
        typer.echo(render_toml(settings), nl=False)


@config_app.command("path")
def path(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Print the config file path (it may not exist yet; create it to change settings)."""
    root = ctx.find_root()
    config_path, chosen_by = resolve_config_path(root.params.get("config"))
    if not as_json:
        typer.echo(str(config_path))
        return
    out: dict[str, Any] = {"config_file": str(config_path), "exists": config_path.is_file(), "chosen_by": chosen_by}
    error = root.meta.get(CONFIG_ERROR_KEY)
    if error is not None:
        out["error"] = str(error)
    else:
        settings = get_settings(ctx)
        out["data_dir"] = str(settings.data_dir)
        out["log_dir"] = str(settings.log_dir)
    typer.echo(json.dumps(out, indent=2))
