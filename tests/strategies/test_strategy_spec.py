"""Spec validation: every error names the path of the bad field and what is allowed; parameters
(``--param`` strings, ``$refs``, constraints); TOML/JSON loading and dumping."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from strategies import templates
from strategies.errors import SpecError
from strategies.evaluate import vectorized
from strategies.spec import StrategySpec, dump_spec, load_spec


def spec_with(nodes: list[dict], outputs: dict | None = None, **extra) -> dict:
    return {"name": "t", "nodes": nodes, "outputs": outputs or {"enter_long": "x"}, **extra}


CROSS = [
    {"id": "f", "kind": "sma", "params": {"period": 5}},
    {"id": "s", "kind": "sma", "params": {"period": 20}},
    {"id": "x", "kind": "cross_over", "inputs": {"a": "f", "b": "s"}},
]


def issues_of(data: dict, params: dict | None = None) -> list[str]:
    with pytest.raises(SpecError) as info:
        StrategySpec.from_dict(data, params)
    return [f"{p}: {m}" for p, m in info.value.issues]


def test_valid_spec_builds() -> None:
    spec = StrategySpec.from_dict(spec_with(CROSS))
    assert [n.id for n in spec.nodes] == ["f", "s", "x"]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["nodes"][0]["params"].update(period="x"), "nodes[0].params.period: must be an integer 2..1000, got 'x'"),
        (lambda d: d["nodes"][0]["params"].update(period=1), "nodes[0].params.period: must be an integer 2..1000, got 1"),
        (lambda d: d["nodes"][0]["params"].update(perod=3), "nodes[0].params.perod: unknown field; allowed: period"),
        (lambda d: d["nodes"][2].update(kind="cross_ovr"),
         "nodes[2].kind: unknown component 'cross_ovr'; did you mean 'cross_over'"),
        (lambda d: d["nodes"][2]["inputs"].update(b="slow"),
         "nodes[2].inputs.b: unknown node 'slow'; known: f, s, x, open, high, low, close, volume"),
        (lambda d: d["nodes"][2]["inputs"].update(c="f"), "nodes[2].inputs.c: unknown input; allowed: a, b"),
        (lambda d: d["nodes"][2]["inputs"].pop("a"), "nodes[2].inputs.a: required (float series)"),
        (lambda d: d["outputs"].update(enter_long="f"), "outputs.enter_long: type mismatch: expects bool, 'f' is float"),
        (lambda d: d["outputs"].update(exit_long="s.upper"), "outputs.exit_long: 's' (sma) has no output 'upper'; outputs: value"),
        (lambda d: d["nodes"][1].update(id="f"), "nodes[1].id: duplicate id 'f' (also nodes[0])"),
        (lambda d: d["nodes"][1].update(id="close"), "nodes[1].id: 'close' is a source name; choose another id"),
        (lambda d: d["nodes"][0]["params"].update(period="$fast"), "nodes[0].params.period: unknown parameter '$fast' (declared: none)"),
        (lambda d: d.update(risk={"cooldown_bars": -1}), "risk.cooldown_bars: must be an integer 0..100000, got -1"),
        (lambda d: d.update(risk={"max_position": 2}), "risk.max_position: must be a number 0..1 or empty, got 2"),
        (lambda d: d.update(risk={"cooldown": 3}), "risk.cooldown: unknown field; allowed: max_position, daily_loss_stop, cooldown_bars, max_trades_per_day"),
        (lambda d: d["nodes"].append({"id": "b", "kind": "bbands", "params": {"ma": "hull"}}),
         "nodes[3].params.ma: must be one of 'sma', 'ema', 'wma', 'dema', 'tema', 'trima', 'kama', 'mama', 't3', got 'hull'"),
        (lambda d: d["nodes"].append({"id": "r", "kind": "resample", "params": {"tf": "30s"}}),
         "nodes[3].params.tf: must be a multiple of the strategy timeframe 1m larger than it, got '30s'"),
        (lambda d: d["nodes"].append({"id": "r", "kind": "resample", "params": {"tf": "hour"}}),
         "nodes[3].params.tf: must be a timeframe like 15m, 1h, 4h, 1d, got 'hour'"),
        (lambda d: d["nodes"].append({"id": "n", "kind": "not", "inputs": {"cond": 1}}),
         "nodes[3].inputs.cond: expects a bool series (a node id), got the number 1"),
        (lambda d: d.update(outputs={"exit_long": "x"}), "outputs: no entry signal"),
        (lambda d: d.update(timeframe="1x"), "timeframe: must be a timeframe like 1m, 15m, 1h, 1d, got '1x'"),
        (lambda d: d.update(name="My Strategy"), "name: must be lowercase letters, digits and _"),
        (lambda d: d.update(colour="red"), "colour: unknown field; allowed: name, description, notes, timeframe"),
        (lambda d: d["nodes"][0].pop("kind"), "nodes[0].kind: required"),
        (lambda d: d["outputs"].update(enter=1), "outputs.enter: unknown field; allowed: enter_long, exit_long"),
    ],
)
def test_error_names_path_and_allowed_values(mutate, expected: str) -> None:
    data = json.loads(json.dumps(spec_with(CROSS)))
    mutate(data)
    found = issues_of(data)
    assert any(line.startswith(expected) for line in found), found


def test_cycle_is_reported_with_its_path() -> None:
    nodes = [
        {"id": "a", "kind": "and", "inputs": {"a": "b", "b": "b"}},
        {"id": "b", "kind": "or", "inputs": {"a": "a", "b": "a"}},
    ]
    found = issues_of(spec_with(nodes, {"enter_long": "a"}))
    assert "nodes[0]: cycle: a -> b -> a" in found


def test_all_problems_reported_once() -> None:
    data = spec_with(CROSS)
    data["nodes"][0]["params"]["period"] = "x"  # f is referenced twice by x
    data["nodes"][1]["kind"] = "nope"
    found = issues_of(data)
    assert found[0] == "nodes[0].params.period: must be an integer 2..1000, got 'x'"
    assert found.count(found[0]) == 1
    assert any(line.startswith("nodes[1].kind: unknown component 'nope'") for line in found)


# ------------------------------------------------------------------ parameters

PARAM_SPEC = {
    "name": "p",
    "params": {
        "fast": {"type": "int", "default": 5, "min": 2, "max": 50},
        "slow": {"type": "int", "default": 20, "min": 3, "max": 500},
        "mode": {"type": "choice", "default": "above", "choices": ["above", "below"]},
        "stop": {"type": "float", "default": 0.02, "min": 0.001, "max": 0.5},
        "guard": {"type": "bool", "default": False},
    },
    "constraints": ["fast < slow"],
    "nodes": [
        {"id": "f", "kind": "sma", "params": {"period": "$fast"}},
        {"id": "s", "kind": "sma", "params": {"period": "$slow"}},
        {"id": "x", "kind": "cross_over", "inputs": {"a": "f", "b": "s"}},
    ],
    "outputs": {"enter_long": "x", "stop_loss": "$stop"},
}


def test_params_from_command_line_strings() -> None:
    spec = StrategySpec.from_dict(PARAM_SPEC, {"fast": "7", "stop": "0.05", "mode": "below", "guard": "yes"})
    assert spec.param_values() == {"fast": 7, "slow": 20, "mode": "below", "stop": 0.05, "guard": True}
    assert spec.nodes[0].params == {"period": "$fast"}  # refs stay refs; values live in params


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"fast": "x"}, "params.fast: must be an integer 2..50, got 'x'"),
        ({"fast": "1"}, "params.fast: must be an integer 2..50, got '1'"),
        ({"fast": "2.5"}, "params.fast: must be an integer 2..50, got '2.5'"),
        ({"stop": "nan"}, "params.stop: must be a number 0.001..0.5, got 'nan'"),
        ({"mode": "sideways"}, "params.mode: must be one of 'above', 'below', got 'sideways'"),
        ({"guard": "maybe"}, "params.guard: must be true or false, got 'maybe'"),
        ({"fsat": "3"}, "params.fsat: unknown parameter (declared: fast, slow, mode, stop, guard)"),
        ({"fast": "30", "slow": "20"}, "constraints[0]: fast < slow does not hold (fast=30, slow=20)"),
    ],
)
def test_bad_param_override(override: dict, expected: str) -> None:
    assert expected in issues_of(PARAM_SPEC, override)


def test_param_declaration_default_out_of_range() -> None:
    data = json.loads(json.dumps(PARAM_SPEC))
    data["params"]["fast"]["default"] = 100
    found = issues_of(data)
    assert any(line == "params.fast: default must be an integer 2..50, got 100" for line in found), found


def test_param_ref_in_risk_and_inputs(bars_2021) -> None:
    data = json.loads(json.dumps(PARAM_SPEC))
    data["nodes"].append({"id": "lvl", "kind": "gt", "inputs": {"a": "f", "b": "$slow"}})
    data["risk"] = {"cooldown_bars": "$fast"}
    spec = StrategySpec.from_dict(data, {"fast": "9"})
    from strategies.graph import compile_spec

    plan = compile_spec(spec)
    assert plan.risk.cooldown_bars == 9
    const = [n for n in plan.nodes if n.component.kind == "constant"]
    assert [n.params.value for n in const] == [20.0]


def test_changing_a_param_changes_the_signals(bars_2021) -> None:
    bars = bars_2021.slice(0, 5000)
    a = vectorized(templates.load("sma_cross"), bars)
    b = vectorized(load_spec("sma_cross", {"fast": "5", "slow": "40"}), bars)
    assert a.enter_long.sum() != b.enter_long.sum()


# ------------------------------------------------------------------ files


def test_load_template_and_files(tmp_path: Path) -> None:
    spec = load_spec("sma_cross", {"fast": "12"})
    assert spec.param_values() == {"fast": 12, "slow": 30}
    json_path = dump_spec(spec, tmp_path / "mine.json")
    again = load_spec(json_path, {})
    assert again == spec
    toml_path = tmp_path / "copy.toml"
    toml_path.write_text(templates.path("rsi_reversion").read_text())
    assert load_spec(toml_path, {"period": "21"}).param_values()["period"] == 21


def test_dump_toml_and_json_round_trip(tmp_path: Path) -> None:
    spec = load_spec("sma_cross", {})
    written = dump_spec(spec, tmp_path / "out.toml")
    assert written == tmp_path / "out.toml"
    assert StrategySpec.from_dict(tomllib.loads(written.read_text())) == spec
    assert load_spec(written, {}) == spec
    written = dump_spec(spec, tmp_path / "out.json")
    assert StrategySpec.from_dict(json.loads(written.read_text())) == spec


@pytest.mark.parametrize(
    ("content", "suffix", "expected"),
    [
        ("name = ", ".toml", "not valid TOML"),
        ("{", ".json", "not valid JSON"),
        ("[1, 2]", ".json", "a spec must be a table/object at the top level"),
    ],
)
def test_bad_files(tmp_path: Path, content: str, suffix: str, expected: str) -> None:
    path = tmp_path / f"bad{suffix}"
    path.write_text(content)
    with pytest.raises(SpecError, match=expected):
        load_spec(path, {})


def test_unknown_template_or_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no spec file or template named 'nosuch'"):
        load_spec("nosuch", {})
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "missing.toml", {})
