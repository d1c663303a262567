"""The composer's editable strategy: a draft spec plus the questions a keyboard form asks.

A ``Draft`` is the spec as plain data (what ``StrategySpec.from_dict`` takes), edited one field
at a time. It never holds an invalid *field* (each form field is checked on its own, with the
path and the allowed values in the message), but it may hold an invalid *strategy* (an
undeclared ``$param``, a dangling reference, no entry signal): ``validate()`` runs the spec
module's two layers and returns every issue, located on the node and field it concerns, so the
screen can show them inline. Textual-free, so it is unit-tested without an app.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from strategies.components import REGISTRY, Component
from strategies.errors import SpecError, describe, model_issues
from strategies.risk import RiskRules
from strategies.spec import FLAG_SIGNALS, ID_PATTERN, LEVEL_SIGNALS, TIMEFRAME_PATTERN, ParamDecl, StrategySpec

#: Parameterless sources a float input may name directly (the compiler adds their nodes).
BARE_SOURCES = tuple(k for k, c in REGISTRY.items() if c.category == "source" and not c.params.model_fields)
SIGNALS = (*FLAG_SIGNALS, *LEVEL_SIGNALS)
_NODE_PATH = re.compile(r"^nodes\[(\d+)\](?:\.(.*))?$")


@dataclass
class NodeDraft:
    id: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    @property
    def component(self) -> Component | None:
        return REGISTRY.get(self.kind)

    def mapping(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.kind}
        if self.params:
            out["params"] = dict(self.params)
        if self.inputs:
            out["inputs"] = dict(self.inputs)
        if self.label:
            out["label"] = self.label
        return out


@dataclass(frozen=True)
class Issue:
    """One validation problem. ``node`` is the node id it concerns (None: the strategy) and
    ``field`` the part of it (``params.period``, ``inputs.a``, ``outputs.enter_long``...)."""

    path: str
    message: str
    node: str | None = None
    field: str | None = None

    def text(self) -> str:
        where = f"{self.node}: {self.field}" if self.node and self.field else (self.node or self.path)
        return f"{where}: {self.message}" if where else self.message


@dataclass(frozen=True)
class Validation:
    spec: StrategySpec | None
    issues: tuple[Issue, ...]

    def for_node(self, node_id: str) -> list[Issue]:
        return [i for i in self.issues if i.node == node_id]


@dataclass(frozen=True)
class FormField:
    """One field of a generated form: ``key`` (``params.period``, ``inputs.source``...), the
    placeholder (default and allowed values) and the current text."""

    key: str
    label: str
    hint: str
    value: str
    choices: tuple[str, ...] = ()


class Draft:
    """A strategy being composed. Mutators keep the node list consistent (unique ids,
    references followed on rename); ``validate()`` says what the spec still lacks."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        data = copy.deepcopy(data or {})
        self.name: str = data.get("name", "my_strategy")
        self.description: str = data.get("description", "")
        self.notes: str = data.get("notes", "")
        self.timeframe: str = data.get("timeframe", "1m")
        self.params: dict[str, dict[str, Any]] = dict(data.get("params", {}))
        self.constraints: list[str] = list(data.get("constraints", []))
        self.nodes: list[NodeDraft] = [
            NodeDraft(n["id"], n["kind"], dict(n.get("params", {})), dict(n.get("inputs", {})), n.get("label", ""))
            for n in data.get("nodes", [])
        ]
        self.outputs: dict[str, Any] = {k: v for k, v in data.get("outputs", {}).items() if v is not None}
        self.risk: dict[str, Any] = dict(data.get("risk", {}))

    @classmethod
    def from_spec(cls, spec: StrategySpec) -> Draft:
        return cls(spec.to_dict())

    # ------------------------------------------------------------------ the spec

    def mapping(self) -> dict[str, Any]:
        """The draft as a spec mapping (``StrategySpec.from_dict`` input)."""
        out: dict[str, Any] = {"name": self.name, "timeframe": self.timeframe}
        for key in ("description", "notes"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.params:
            out["params"] = copy.deepcopy(self.params)
        if self.constraints:
            out["constraints"] = list(self.constraints)
        out["nodes"] = [n.mapping() for n in self.nodes]
        if self.outputs:
            out["outputs"] = dict(self.outputs)
        if self.risk:
            out["risk"] = dict(self.risk)
        return out

    def validate(self) -> Validation:
        """The spec when it is valid, else every issue located on its node and field."""
        try:
            return Validation(StrategySpec.from_dict(self.mapping()), ())
        except SpecError as exc:
            return Validation(None, tuple(self._locate(path, msg) for path, msg in exc.issues))

    def _locate(self, path: str, message: str) -> Issue:
        m = _NODE_PATH.match(path)
        if m and int(m.group(1)) < len(self.nodes):
            return Issue(path, message, self.nodes[int(m.group(1))].id, m.group(2))
        if path.startswith("outputs."):
            return Issue(path, message, None, path)
        return Issue(path, message)

    # ------------------------------------------------------------------ nodes

    def index(self, node_id: str) -> int:
        for i, n in enumerate(self.nodes):
            if n.id == node_id:
                return i
        raise KeyError(f"no node {node_id!r}")

    def node(self, node_id: str) -> NodeDraft:
        return self.nodes[self.index(node_id)]

    def new_id(self, kind: str) -> str:
        taken = {n.id for n in self.nodes}
        k = 1
        while f"{kind}_{k}" in taken:
            k += 1
        return f"{kind}_{k}"

    def add_node(self, kind: str, after: int | None = None) -> NodeDraft:
        """A new node of ``kind`` with default parameters and inputs (after ``after``, else last)."""
        if kind not in REGISTRY:
            raise KeyError(f"unknown component {kind!r}")
        node = NodeDraft(self.new_id(kind), kind)
        self.nodes.insert(len(self.nodes) if after is None else after + 1, node)
        return node

    def remove_node(self, node_id: str) -> int:
        """Remove a node; references to it stay (and show as issues) so nothing changes silently."""
        i = self.index(node_id)
        del self.nodes[i]
        return i

    def move_node(self, node_id: str, delta: int) -> int:
        i = self.index(node_id)
        j = max(0, min(len(self.nodes) - 1, i + delta))
        self.nodes.insert(j, self.nodes.pop(i))
        return j

    def rename_node(self, old: str, new: str) -> None:
        """Rename and follow every reference (inputs and outputs) to the new id."""
        if old == new:
            return
        self.node(old).id = new

        def follow(ref: Any) -> Any:
            if isinstance(ref, str):
                head, dot, tail = ref.partition(".")
                if head == old:
                    return new + dot + tail
            return ref

        for n in self.nodes:
            n.inputs = {k: follow(v) for k, v in n.inputs.items()}
        self.outputs = {k: follow(v) for k, v in self.outputs.items()}

    # ------------------------------------------------------------------ node form

    def node_form(self, node_id: str) -> list[FormField]:
        """The fields of a node's editor: its parameters, then its inputs, then its id."""
        node = self.node(node_id)
        comp = REGISTRY[node.kind]
        fields = []
        for key, info in comp.params.model_fields.items():
            default = "empty" if info.default is None else _text(info.default)
            hint = f"default {default}; {describe(info)}; or $param"
            fields.append(FormField(f"params.{key}", key, hint, _text(node.params.get(key, ""))))
        for port in comp.inputs:
            choices = tuple(self.input_choices(node_id, port.name))
            default = "none" if port.default is None else str(port.default)
            need = "optional" if port.optional else ("required" if port.default is None else f"default {default}")
            hint = f"{port.type} series, {need}" + ("; or a number" if port.type == "float" else "")
            fields.append(FormField(f"inputs.{port.name}", port.name, hint, _text(node.inputs.get(port.name, "")), choices))
        fields.append(FormField("id", "id", "lowercase letters, digits and _", node.id))
        return fields

    def check_field(self, node_id: str, key: str, text: str) -> tuple[Any, str | None]:
        """A form field's text -> (value to store, or None to use the default; error)."""
        where = f"nodes[{self.index(node_id)}].{key}"
        text = text.strip()
        if key == "id":
            return self._check_id(node_id, text, where)
        section, _, name = key.partition(".")
        if section == "params":
            return self._check_param(node_id, name, text, where)
        return self._check_input(node_id, name, text, where)

    def _check_id(self, node_id: str, text: str, where: str) -> tuple[Any, str | None]:
        if not re.fullmatch(ID_PATTERN, text):
            return None, f"{where}: must be lowercase letters, digits and _, starting with a letter or _, got {text!r}"
        if text != node_id and any(n.id == text for n in self.nodes):
            return None, f"{where}: {text!r} is already a node id"
        if text in BARE_SOURCES or text == "constant":
            return None, f"{where}: {text!r} is a source name; choose another id"
        return text, None

    def _check_param(self, node_id: str, name: str, text: str, where: str) -> tuple[Any, str | None]:
        if not text:
            return None, None
        if text.startswith("$"):
            return text, self._check_ref_param(text, where)
        comp = REGISTRY[self.node(node_id).kind]
        try:
            model = comp.params.model_validate({name: _literal(text)})
        except ValidationError as exc:
            path, message = model_issues(comp.params, exc, ())[0]
            return None, f"{where}: {message}"
        return getattr(model, name), None

    def _check_ref_param(self, text: str, where: str) -> str | None:
        if text[1:] in self.params:
            return None
        return f"{where}: unknown parameter {text!r} (declared: {', '.join(self.params) or 'none'}; press p to declare it)"

    def _check_input(self, node_id: str, port_name: str, text: str, where: str) -> tuple[Any, str | None]:
        comp = REGISTRY[self.node(node_id).kind]
        port = next(p for p in comp.inputs if p.name == port_name)
        if not text:
            if port.default is None and not port.optional:
                return None, f"{where}: required ({port.type} series); choose one of: {_list(self.input_choices(node_id, port_name))}"
            return None, None
        if port.type == "float" and _is_number(text):
            return float(text), None
        choices = self.input_choices(node_id, port_name)
        if text in choices:
            return text, None
        return None, f"{where}: expects a {port.type} series; choose one of: {_list(choices)}" + (
            " or a number" if port.type == "float" else "")

    def apply_node(self, node_id: str, values: dict[str, Any]) -> str:
        """Store checked form values (``None`` = default); returns the node's (new) id."""
        node = self.node(node_id)
        for key, value in values.items():
            section, _, name = key.partition(".")
            if section in ("params", "inputs"):
                target = node.params if section == "params" else node.inputs
                if value is None:
                    target.pop(name, None)
                else:
                    target[name] = value
        new_id = values.get("id") or node_id
        self.rename_node(node_id, new_id)
        return new_id

    # ------------------------------------------------------------------ wiring choices

    def input_choices(self, node_id: str, port_name: str) -> list[str]:
        """References that fit ``node_id``'s input: node outputs of the port's type (never the
        node itself or what depends on it: no cycles), then ``$params`` and bare sources for
        numeric inputs."""
        comp = REGISTRY[self.node(node_id).kind]
        port = next(p for p in comp.inputs if p.name == port_name)
        downstream = self._downstream(node_id)
        out = self._refs(port.type, exclude=downstream | {node_id})
        if port.type == "float":
            out += self._numeric_params() + list(BARE_SOURCES)
        return out

    def output_choices(self, signal: str) -> list[str]:
        if signal in FLAG_SIGNALS:
            return self._refs("bool")
        return self._refs("float") + self._numeric_params()

    def _refs(self, want: str, exclude: set[str] = frozenset()) -> list[str]:
        out = []
        for n in self.nodes:
            comp = n.component
            if comp is None or n.id in exclude or comp.category == "action":
                continue
            for k, port in enumerate(comp.outputs):
                if port.type == want:
                    out.append(n.id if k == 0 else f"{n.id}.{port.name}")
        return out

    def _numeric_params(self) -> list[str]:
        return [f"${k}" for k, d in self.params.items() if d.get("type") in ("int", "float")]

    def _downstream(self, node_id: str) -> set[str]:
        """Nodes whose inputs reach ``node_id`` (wiring one of them in would make a cycle)."""
        users: dict[str, set[str]] = {}
        for n in self.nodes:
            for ref in n.inputs.values():
                if isinstance(ref, str):
                    users.setdefault(ref.partition(".")[0], set()).add(n.id)
        seen: set[str] = set()
        todo = [node_id]
        while todo:
            for user in users.get(todo.pop(), ()):
                if user not in seen:
                    seen.add(user)
                    todo.append(user)
        return seen

    # ------------------------------------------------------------------ outputs

    def outputs_form(self) -> list[FormField]:
        fields = []
        for signal in SIGNALS:
            kind = "bool node" if signal in FLAG_SIGNALS else "float node, a number or $param"
            fields.append(FormField(f"outputs.{signal}", signal, f"{kind}; empty = not used",
                                    _text(self.outputs.get(signal, "")), tuple(self.output_choices(signal))))
        return fields

    def check_output(self, signal: str, text: str) -> tuple[Any, str | None]:
        where = f"outputs.{signal}"
        text = text.strip()
        if not text:
            return None, None
        choices = self.output_choices(signal)
        if text in choices:
            return text, self._check_ref_param(text, where) if text.startswith("$") else None
        if signal in LEVEL_SIGNALS:
            if _is_number(text):
                value = float(text)
                if not math.isfinite(value) or value < 0:
                    return None, f"{where}: must be a non-negative number, got {text!r}"
                return value, None
            if text.startswith("$"):
                return text, self._check_ref_param(text, where)
        kind = "bool" if signal in FLAG_SIGNALS else "float"
        return None, f"{where}: expects a {kind} node output; choose one of: {_list(choices)}" + (
            " or a number" if kind == "float" else "")

    def apply_outputs(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            signal = key.partition(".")[2]
            if value is None:
                self.outputs.pop(signal, None)
            else:
                self.outputs[signal] = value

    # ------------------------------------------------------------------ strategy parameters

    def declare_param(self, name: str, type_: str, default: str, lo: str = "", hi: str = "",
                      choices: str = "", description: str = "") -> list[str]:
        """Add or replace a declared parameter; returns the errors (path, allowed values)."""
        name = name.strip()
        where = f"params.{name or '?'}"
        if not re.fullmatch(ID_PATTERN, name):
            return [f"{where}: the name must be lowercase letters, digits and _, got {name!r}"]
        decl: dict[str, Any] = {"type": type_.strip(), "default": default.strip()}
        errors = []
        for key, text in (("min", lo), ("max", hi)):
            if text.strip():
                if not _is_number(text.strip()):
                    errors.append(f"{where}.{key}: must be a number, got {text.strip()!r}")
                else:
                    decl[key] = _literal(text.strip())
        if choices.strip():
            decl["choices"] = [c.strip() for c in choices.split(",") if c.strip()]
        if description.strip():
            decl["description"] = description.strip()
        if errors:
            return errors
        try:
            parsed = ParamDecl.model_validate(decl)
        except ValidationError as exc:
            return [f"{where}.{'.'.join(map(str, e['loc'])) or 'default'}: {_msg(e)}" for e in exc.errors()]
        self.params[name] = parsed.model_dump(mode="json", exclude_defaults=True, exclude_none=True) | {
            "type": parsed.type, "default": parsed.default}
        return []

    def remove_param(self, name: str) -> None:
        self.params.pop(name, None)

    # ------------------------------------------------------------------ strategy settings

    def meta_form(self) -> list[FormField]:
        fields = [
            FormField("name", "name", "lowercase letters, digits and _", self.name),
            FormField("timeframe", "timeframe", "bar length: 1m, 5m, 15m, 1h, 4h, 1d", self.timeframe),
            FormField("description", "description", "one line", self.description),
            FormField("constraints", "constraints", "comma separated, e.g. fast < slow", ", ".join(self.constraints)),
        ]
        for key, info in RiskRules.model_fields.items():
            default = "none" if info.default is None else _text(info.default)
            fields.append(FormField(f"risk.{key}", key, f"default {default}; {describe(info)}; or $param",
                                    _text(self.risk.get(key, ""))))
        return fields

    def check_meta(self, key: str, text: str) -> tuple[Any, str | None]:
        text = text.strip()
        if key == "name":
            ok = re.fullmatch(ID_PATTERN, text)
            return (text, None) if ok else (None, f"name: must be lowercase letters, digits and _, got {text!r}")
        if key == "timeframe":
            ok = re.fullmatch(TIMEFRAME_PATTERN, text)
            return (text, None) if ok else (None, f"timeframe: must be a timeframe like 1m, 15m, 1h, 1d, got {text!r}")
        if key == "description":
            return text, None
        if key == "constraints":
            return [c.strip() for c in text.split(",") if c.strip()], None
        name = key.partition(".")[2]
        if not text:
            return None, None
        if text.startswith("$"):
            return text, self._check_ref_param(text, key)
        try:
            model = RiskRules.model_validate({name: _literal(text)})
        except ValidationError as exc:
            return None, f"{key}: {model_issues(RiskRules, exc, ())[0][1]}"
        return getattr(model, name), None

    def apply_meta(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if key.startswith("risk."):
                name = key.partition(".")[2]
                if value is None:
                    self.risk.pop(name, None)
                else:
                    self.risk[name] = value
            else:
                setattr(self, key, value)


def _literal(text: str) -> Any:
    """Form text as the value a TOML file would hold (numbers and booleans typed)."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _text(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    return str(value)


def _list(choices: list[str]) -> str:
    return ", ".join(choices) if choices else "none yet (add a node first)"


def _msg(err: dict[str, Any]) -> str:
    text = str(err.get("msg", "invalid"))
    return text.removeprefix("Value error, ")
