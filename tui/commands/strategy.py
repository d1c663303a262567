"""``tickdesk strategy components|templates|show|validate|new``: strategies as data.

Listing the component catalogue and the templates, showing a spec, validating a spec file
(with ``--param`` overrides; a bad spec exits non-zero with the path of the bad field and the
allowed values) and starting a new spec from a template. Heavy imports (numpy, ta-lib,
pydantic) happen inside the commands.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tui.cli import app, fail

strategy_app = typer.Typer(help="Strategies as data: components, templates, validation.", no_args_is_help=True)
app.add_typer(strategy_app, name="strategy")

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
ParamOption = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="Set a declared parameter: KEY=VALUE (repeatable)."),
]


def parse_params(items: list[str] | None) -> dict[str, str]:
    """``["fast=10", "slow=30"]`` -> ``{"fast": "10", "slow": "30"}`` (fails on bad items)."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--param: expected KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _load(target: str, params: dict[str, str]):  # -> StrategySpec
    from strategies.errors import SpecError
    from strategies.spec import load_spec

    try:
        return load_spec(target, params)
    except SpecError as exc:
        fail(f"{target}: {exc.one_line()}")


@strategy_app.command("components")
def components(
    json_out: JsonOption = False,
    category: Annotated[str | None, typer.Option("--category", help="source, indicator, transform, logic or action.")] = None,
) -> None:
    """List every component: kind, category, typed inputs and outputs, title."""
    from strategies.components import catalog
    from strategies.components.base import CATEGORIES

    if category is not None and category not in CATEGORIES:
        fail(f"--category: must be one of {', '.join(CATEGORIES)}, got {category!r}")
    items = [c for c in catalog() if category is None or c["category"] == category]
    if json_out:
        _emit_json(items)
        return
    for c in items:
        ins = ", ".join(f"{p['name']}:{p['type']}" for p in c["inputs"]) or "-"
        outs = ", ".join(f"{p['name']}:{p['type']}" for p in c["outputs"])
        params = ", ".join(c["params"].get("properties", {})) or "-"
        typer.echo(f"{c['kind']:<16} {c['category']:<10} ({ins}) -> ({outs})  params: {params}  {c['title']}")
    typer.echo(f"{len(items)} components", err=True)


@strategy_app.command("templates")
def templates_cmd(json_out: JsonOption = False) -> None:
    """List the strategy templates with their one-line descriptions."""
    from strategies import templates

    rows = []
    for name in templates.names():
        raw = templates.raw(name)
        rows.append({"name": name, "description": raw.get("description", ""),
                     "params": {k: v.get("default") for k, v in raw.get("params", {}).items()}})
    if json_out:
        _emit_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['name']:<22} {row['description']}")


@strategy_app.command("show")
def show(
    target: Annotated[str, typer.Argument(help="A template name or a spec file (.toml/.json).")],
    params: ParamOption = None,
    json_out: JsonOption = False,
) -> None:
    """Show a spec: description, notes, parameters with ranges, nodes and outputs."""
    spec = _load(target, parse_params(params))
    if json_out:
        _emit_json(spec.model_dump(mode="json", exclude_none=True))
        return
    typer.echo(f"{spec.name} ({spec.timeframe}): {spec.description}")
    if spec.notes:
        typer.echo("\n" + spec.notes.strip() + "\n")
    for name, decl in spec.params.items():
        typer.echo(f"  param {name} = {decl.default!r}  ({decl.allowed()}){'  ' + decl.description if decl.description else ''}")
    for text in spec.constraints:
        typer.echo(f"  constraint {text}")
    for node in spec.nodes:
        wiring = ", ".join(f"{k}={v}" for k, v in node.inputs.items())
        args = ", ".join(f"{k}={v}" for k, v in node.params.items())
        typer.echo(f"  node {node.id}: {node.kind}({args}) <- {wiring or '(defaults)'}")
    for name, value in spec.outputs.model_dump(exclude_none=True).items():
        typer.echo(f"  output {name} <- {value}")
    for name, value in spec.risk.items():
        typer.echo(f"  risk {name} = {value}")


@strategy_app.command("validate")
def validate(
    target: Annotated[str, typer.Argument(help="A spec file (.toml/.json) or a template name.")],
    params: ParamOption = None,
    json_out: JsonOption = False,
) -> None:
    """Validate a spec (structure, component parameters, wiring, types, cycles, risk rules).

    Exits 2 with every problem on one line, each naming the path of the bad field."""
    from strategies.graph import compile_spec

    spec = _load(target, parse_params(params))
    plan = compile_spec(spec)
    summary = {"ok": True, "name": spec.name, "timeframe": spec.timeframe, "params": spec.param_values(),
               "nodes": len(spec.nodes), "signals": sorted({*plan.outputs, *plan.constants} | {
                   p.name for i in plan.actions for p in plan.nodes[i].component.outputs})}
    if json_out:
        _emit_json(summary)
        return
    values = ", ".join(f"{k}={v!r}" for k, v in summary["params"].items())
    typer.echo(f"ok: {spec.name} ({spec.timeframe}, {summary['nodes']} nodes; {values or 'no params'}) "
               f"-> {', '.join(summary['signals'])}")


@strategy_app.command("new")
def new(
    template: Annotated[str, typer.Argument(help="The template to start from (see `strategy templates`).")],
    out: Annotated[Path, typer.Argument(help="The new spec file (.toml keeps the template's comments; .json).")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Start a new spec file from a template."""
    from strategies import templates
    from strategies.spec import dump_spec

    if template not in templates.names():
        fail(f"no template {template!r} (templates: {', '.join(templates.names())})")
    if out.suffix.lower() not in (".toml", ".json"):
        fail(f"{out}: the file name must end in .toml or .json")
    if out.exists() and not force:
        fail(f"{out} exists (use --force to overwrite)")
    if not out.parent.is_dir():
        fail(f"{out.parent}: no such directory")
    if out.suffix.lower() == ".toml":
        out.write_text(templates.path(template).read_text(encoding="utf-8"), encoding="utf-8")
    else:
        dump_spec(templates.load(template), out)
    typer.echo(f"wrote {out} (from template {template})", err=True)
