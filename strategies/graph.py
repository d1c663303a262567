"""From a spec to an executable plan: parameters substituted, component params validated,
inputs resolved to (node, output) pairs, types checked, nodes in dependency order.

Both evaluators run the same ``Plan``, which is why they cannot disagree about wiring.
Every problem is collected with the path of the field at fault (``nodes[3].inputs.a``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from strategies.components import REGISTRY, Component, suggest
from strategies.components.sources import RAW_FIELDS
from strategies.components.transforms import tf_ms
from strategies.errors import SpecError, model_issues
from strategies.risk import RiskRules
from strategies.spec import FLAG_SIGNALS, LEVEL_SIGNALS, StrategySpec

Ref = tuple[int, int]  # (plan node index, output index)
_CONSTRAINT = re.compile(r"^\s*\$?([a-z_][a-z0-9_]*)\s*(<=|>=|<|>|!=|==)\s*\$?([a-z_][a-z0-9_]*|-?[0-9.]+)\s*$")
_OPS = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b, "!=": lambda a, b: a != b, "==": lambda a, b: a == b}


@dataclass
class PlanNode:
    id: str
    component: Component
    params: BaseModel
    inputs: list[Ref | None]
    declared: bool  # False for sources/constants the compiler added


@dataclass
class Plan:
    nodes: list[PlanNode]
    outputs: dict[str, Ref]
    constants: dict[str, float]          # level outputs given as numbers
    actions: list[int]                   # action nodes, in declaration order
    risk: RiskRules
    bar_ms: int
    plots: list[tuple[str, Ref]] = field(default_factory=list)


class _Compiler:
    def __init__(self, spec: StrategySpec) -> None:
        self.spec = spec
        self.values = spec.param_values()
        self.issues: list[tuple[str, str]] = []
        self.decl_index = {n.id: i for i, n in enumerate(spec.nodes)}
        self.plan_index: dict[str, int] = {}
        self.nodes: list[PlanNode] = []
        self.visiting: list[str] = []
        self.failed: set[str] = set()  # reported once, however many nodes refer to them

    # ---------------------------------------------------------------- helpers

    def issue(self, path: str, message: str) -> None:
        self.issues.append((path, message))

    def subst(self, value: Any, path: str) -> Any:
        if isinstance(value, str) and value.startswith("$"):
            name = value[1:]
            if name not in self.values:
                declared = ", ".join(self.values) or "none"
                self.issue(path, f"unknown parameter {value!r} (declared: {declared})")
                return None
            return self.values[name]
        return value

    def _implicit(self, key: str, kind: str, params: dict[str, Any]) -> int:
        if key not in self.plan_index:
            comp = REGISTRY[kind]
            self.nodes.append(PlanNode(key, comp, comp.params.model_validate(params), [], False))
            self.plan_index[key] = len(self.nodes) - 1
        return self.plan_index[key]

    def constant(self, value: float) -> Ref:
        return (self._implicit(f"const:{value!r}", "constant", {"value": value}), 0)

    # ---------------------------------------------------------------- references

    def resolve(self, raw: Any, want: str, path: str) -> Ref | None:
        """An input/output reference -> (node, output), checking that its type is ``want``."""
        value = self.subst(raw, path)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            self.issue(path, f"expects a {want} series, got {raw!r}")
            return None
        if isinstance(value, (int, float)):
            if want != "float":
                self.issue(path, f"expects a {want} series (a node id), got the number {raw!r}")
                return None
            if not math.isfinite(value):
                self.issue(path, f"must be a finite number, got {raw!r}")
                return None
            return self.constant(float(value))
        name, _, out = value.partition(".")
        if name in self.decl_index:
            index = self.build(self.decl_index[name])
            if index is None:
                return None
        elif name in REGISTRY and REGISTRY[name].category == "source" and not REGISTRY[name].params.model_fields and not out:
            index = self.build_source(name)
        else:
            known = ", ".join([*self.decl_index, *RAW_FIELDS]) or "none"
            self.issue(path, f"unknown node {name!r}; known: {known}")
            return None
        comp = self.nodes[index].component
        slot = comp.output_index(out) if out else 0
        if slot is None or not comp.outputs:
            names = ", ".join(p.name for p in comp.outputs) or "none"
            self.issue(path, f"{name!r} ({comp.kind}) has no output {out!r}; outputs: {names}")
            return None
        got = comp.outputs[slot].type
        if got != want:
            self.issue(path, f"type mismatch: expects {want}, {value!r} is {got}")
            return None
        return (index, slot)

    def build_source(self, kind: str) -> int:
        if kind in self.plan_index:
            return self.plan_index[kind]
        comp = REGISTRY[kind]
        inputs = [self.resolve(p.default, p.type, f"<{kind}>") for p in comp.inputs]
        self.nodes.append(PlanNode(kind, comp, comp.params(), inputs, False))
        self.plan_index[kind] = len(self.nodes) - 1
        return self.plan_index[kind]

    # ---------------------------------------------------------------- nodes

    def build(self, i: int) -> int | None:
        """Compile declared node ``i`` (and, first, what it depends on); its plan index."""
        node = self.spec.nodes[i]
        if node.id in self.plan_index:
            return self.plan_index[node.id]
        if node.id in self.failed:
            return None
        if node.id in self.visiting:
            cycle = " -> ".join([*self.visiting[self.visiting.index(node.id):], node.id])
            self.issue(f"nodes[{i}]", f"cycle: {cycle}")
            return None
        where = f"nodes[{i}]"
        comp = REGISTRY.get(node.kind)
        if comp is None:
            close = suggest(node.kind)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            self.issue(f"{where}.kind", f"unknown component {node.kind!r}{hint} "
                       f"(`tickdesk strategy components` lists all {len(REGISTRY)})")
            return None
        params = self.node_params(comp, node.params, where)
        self.visiting.append(node.id)
        try:
            inputs = self.node_inputs(comp, node.inputs, where)
        finally:
            self.visiting.pop()
        if params is None or inputs is None:
            self.failed.add(node.id)
            return None
        self.nodes.append(PlanNode(node.id, comp, params, inputs, True))
        self.plan_index[node.id] = len(self.nodes) - 1
        return self.plan_index[node.id]

    def node_params(self, comp: Component, raw: dict[str, Any], where: str) -> BaseModel | None:
        values = {k: self.subst(v, f"{where}.params.{k}") for k, v in raw.items()}
        if any(v is None and raw[k] is not None for k, v in values.items()):
            return None
        try:
            params = comp.params.model_validate(values)
        except ValidationError as exc:
            self.issues.extend(model_issues(comp.params, exc, (*_split(where), "params")))
            return None
        base = tf_ms(self.spec.timeframe)
        if hasattr(params, "tf") and (tf_ms(params.tf) <= base or tf_ms(params.tf) % base):
            self.issue(f"{where}.params.tf", f"must be a multiple of the strategy timeframe "
                       f"{self.spec.timeframe} larger than it, got {params.tf!r}")
            return None
        return params

    def node_inputs(self, comp: Component, raw: dict[str, Any], where: str) -> list[Ref | None] | None:
        ports = {p.name: p for p in comp.inputs}
        ok = True
        for key in raw:
            if key not in ports:
                allowed = ", ".join(ports) or "none (this component takes no inputs)"
                self.issue(f"{where}.inputs.{key}", f"unknown input; allowed: {allowed}")
                ok = False
        refs: list[Ref | None] = []
        for port in comp.inputs:
            path = f"{where}.inputs.{port.name}"
            value = raw.get(port.name, port.default)
            if value is None:
                if not port.optional:
                    self.issue(path, f"required ({port.type} series)")
                    ok = False
                refs.append(None)
                continue
            ref = self.resolve(value, port.type, path)
            ok = ok and ref is not None
            refs.append(ref)
        return refs if ok else None

    # ---------------------------------------------------------------- whole spec

    def run(self) -> Plan:
        spec = self.spec
        self.check_constraints()
        for i in range(len(spec.nodes)):
            self.build(i)
        seen: dict[str, int] = {}
        for i, node in enumerate(spec.nodes):
            if node.id in seen:
                self.issue(f"nodes[{i}].id", f"duplicate id {node.id!r} (also nodes[{seen[node.id]}])")
            elif node.id in REGISTRY and REGISTRY[node.id].category == "source":
                self.issue(f"nodes[{i}].id", f"{node.id!r} is a source name; choose another id")
            seen.setdefault(node.id, i)
        outputs: dict[str, Ref] = {}
        constants: dict[str, float] = {}
        for name in (*FLAG_SIGNALS, *LEVEL_SIGNALS):
            raw = getattr(spec.outputs, name)
            if raw is None:
                continue
            path = f"outputs.{name}"
            if name in LEVEL_SIGNALS:
                value = self.subst(raw, path)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    constants[name] = float(value)
                    continue
            ref = self.resolve(raw, "bool" if name in FLAG_SIGNALS else "float", path)
            if ref is not None:
                outputs[name] = ref
        risk = self.risk_rules()
        actions = [self.plan_index[n.id] for n in spec.nodes
                   if n.id in self.plan_index and self.nodes[self.plan_index[n.id]].component.category == "action"]
        has_entry = any(k in outputs for k in ("enter_long", "enter_short")) or any(
            any(p.name.startswith("enter_") for p in self.nodes[a].component.outputs) for a in actions)
        if not has_entry and not self.issues:
            self.issue("outputs", "no entry signal: map enter_long or enter_short to a bool node, or "
                       "add an enter_long/enter_short/scale_in action node")
        if self.issues:
            raise SpecError(list(dict.fromkeys(self.issues)))
        plots = [
            (n.id if len(n.component.outputs) == 1 else f"{n.id}.{port.name}", (i, k))
            for i, n in enumerate(self.nodes) if n.declared and n.component.category != "action"
            for k, port in enumerate(n.component.outputs) if port.type == "float"
        ]
        return Plan(self.nodes, outputs, constants, actions, risk, tf_ms(spec.timeframe), plots)

    def risk_rules(self) -> RiskRules:
        values = {k: self.subst(v, f"risk.{k}") for k, v in self.spec.risk.items()}
        try:
            return RiskRules.model_validate(values)
        except ValidationError as exc:
            self.issues.extend(model_issues(RiskRules, exc, ("risk",)))
            return RiskRules()

    def check_constraints(self) -> None:
        for i, text in enumerate(self.spec.constraints):
            m = _CONSTRAINT.match(text)
            if not m:
                self.issue(f"constraints[{i}]", f"must look like 'fast < slow' (a parameter, one of "
                           f"{', '.join(_OPS)}, a parameter or number), got {text!r}")
                continue
            left, op, right = m.groups()
            try:
                a = self.values[left]
                b = self.values[right] if right in self.values else float(right)
            except (KeyError, ValueError):
                declared = ", ".join(self.values) or "none"
                self.issue(f"constraints[{i}]", f"{text!r} names an unknown parameter (declared: {declared})")
                continue
            if not _OPS[op](a, b):
                shown = ", ".join(f"{k}={self.values[k]!r}" for k in (left, right) if k in self.values)
                self.issue(f"constraints[{i}]", f"{text.strip()} does not hold ({shown})")


def _split(where: str) -> tuple[Any, ...]:
    name, _, rest = where.partition("[")
    return (name, int(rest.rstrip("]")))


def compile_spec(spec: StrategySpec) -> Plan:
    """The executable plan of a spec, or ``SpecError`` listing every problem."""
    return _Compiler(spec).run()
