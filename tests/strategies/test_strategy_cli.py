"""``tickdesk strategy ...`` as a real subprocess: listings (--json), show, validate (exit code and
the path-naming error), new."""

from __future__ import annotations

import json
from pathlib import Path

from strategies.components import REGISTRY
from strategies.templates import names


def test_components_json(run_cli) -> None:
    code, out, err = run_cli("strategy", "components", "--json")
    assert code == 0, err
    items = json.loads(out)
    assert len(items) == len(REGISTRY) >= 50
    sma = next(i for i in items if i["kind"] == "sma")
    assert sma["params"]["properties"]["period"]["minimum"] == 2
    assert sma["inputs"][0] == {"name": "source", "type": "float", "doc": "input series", "default": "close", "optional": False}


def test_components_by_category_and_bad_category(run_cli) -> None:
    code, out, _ = run_cli("strategy", "components", "--category", "action")
    assert code == 0
    kinds = [line.split()[0] for line in out.splitlines()]
    assert "enter_long" in kinds and "sma" not in kinds
    code, out, err = run_cli("strategy", "components", "--category", "magic")
    assert code == 2 and out == ""
    assert "--category: must be one of source, indicator, transform, logic, action, got 'magic'" in err


def test_templates_json(run_cli) -> None:
    code, out, _ = run_cli("strategy", "templates", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["name"] for r in rows] == names()
    assert next(r for r in rows if r["name"] == "sma_cross")["params"] == {"fast": 10, "slow": 30}


def test_show_template_with_param(run_cli) -> None:
    code, out, _ = run_cli("strategy", "show", "sma_cross", "--param", "fast=7")
    assert code == 0
    assert "param fast = 7  (an integer 2..1000)" in out
    assert "When it fails" in out
    code, out, _ = run_cli("strategy", "show", "sma_cross", "--json")
    assert json.loads(out)["params"]["slow"]["default"] == 30


def test_validate_ok_and_errors(run_cli, tmp_path: Path) -> None:
    code, out, _ = run_cli("strategy", "validate", "sma_cross", "-p", "fast=5", "-p", "slow=50", "--json")
    assert code == 0
    assert json.loads(out) == {"ok": True, "name": "sma_cross", "timeframe": "1m", "params": {"fast": 5, "slow": 50},
                               "nodes": 4, "signals": ["enter_long", "exit_long"]}
    code, out, err = run_cli("strategy", "validate", "sma_cross", "--param", "fast=x")
    assert code == 2 and out == ""
    assert err.strip() == "tickdesk: error: sma_cross: params.fast: must be an integer 2..1000, got 'x'"
    code, _, err = run_cli("strategy", "validate", "sma_cross", "--param", "fast")
    assert code == 2 and "--param: expected KEY=VALUE, got 'fast'" in err

    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\n[[nodes]]\nid = "m"\nkind = "sma"\nparams = { period = "x" }\n'
                   '[[nodes]]\nid = "up"\nkind = "cross_over"\ninputs = { a = "close", b = "m" }\n'
                   '[outputs]\nenter_long = "up"\n')
    code, _, err = run_cli("strategy", "validate", bad)
    assert code == 2
    assert err.strip() == f"tickdesk: error: {bad}: nodes[0].params.period: must be an integer 2..1000, got 'x'"


def test_new_from_template_then_validate(run_cli, tmp_path: Path) -> None:
    out_file = tmp_path / "mine.toml"
    code, _, err = run_cli("strategy", "new", "donchian_breakout", out_file)
    assert code == 0, err
    assert "turtle" in out_file.read_text()
    code, out, _ = run_cli("strategy", "validate", out_file, "-p", "entry=55", "-p", "exit=20")
    assert code == 0 and out.startswith("ok: donchian_breakout")
    code, _, err = run_cli("strategy", "new", "donchian_breakout", out_file)
    assert code == 2 and "exists (use --force to overwrite)" in err
    code, _, err = run_cli("strategy", "new", "nosuch", tmp_path / "x.toml")
    assert code == 2 and "no template 'nosuch'" in err
    assert not (tmp_path / "x.toml").exists()
    json_file = tmp_path / "mine.json"
    code, _, _ = run_cli("strategy", "new", "grid", json_file)
    assert code == 0 and json.loads(json_file.read_text())["name"] == "grid"
