"""A strategy as data: ``StrategySpec`` (pydantic), its TOML/JSON form, parameters and loading.

A spec declares parameters (type, default, range), a list of nodes (a component ``kind``,
its ``params``, and ``inputs`` wired to other nodes by id, to bar fields/sources by name, or
to numbers), an ``outputs`` table mapping ``Signals`` fields to node outputs, and risk rules.
``"$name"`` anywhere in a node's params or inputs, in ``outputs`` or in ``risk`` refers to a
declared parameter, so ``--param fast=10`` and sweeps change a strategy without editing it.

Validation happens in two layers: the structure (pydantic, here) and the meaning (components,
ranges, wiring, types, cycles; ``strategies.graph.compile_spec``). Both raise ``SpecError``
whose issues name the path of the bad field and the allowed values.

Example (the pinned ``sma_cross`` template, abridged)::

    name = "sma_cross"
    timeframe = "1m"
    [params.fast]
    type = "int"
    default = 10
    min = 2
    max = 500
    [[nodes]]
    id = "fast_ma"
    kind = "sma"
    params = { period = "$fast" }
    inputs = { source = "close" }
    ...
    [outputs]
    enter_long = "up"
    exit_long = "down"
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from strategies.errors import SpecError, path_str

ID_PATTERN = r"^[a-z_][a-z0-9_]*$"
TIMEFRAME_PATTERN = r"^[1-9][0-9]*[smhdw]$"
InputValue = str | float | int | bool
FLAG_SIGNALS = ("enter_long", "exit_long", "enter_short", "exit_short")
LEVEL_SIGNALS = ("size", "stop_loss", "take_profit", "trailing_stop", "exit_size")


class ParamDecl(BaseModel):
    """A strategy parameter: what ``--param name=value`` and sweeps may set."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["int", "float", "bool", "choice"]
    default: int | float | bool | str
    min: float | None = None
    max: float | None = None
    choices: list[str] | None = None
    description: str = ""

    def allowed(self) -> str:
        if self.type == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices or [])
        if self.type == "bool":
            return "true or false"
        word = "an integer" if self.type == "int" else "a number"
        lo, hi = _fmt(self.min), _fmt(self.max)
        if self.min is not None and self.max is not None:
            return f"{word} {lo}..{hi}"
        return word + (f" >= {lo}" if self.min is not None else "") + (f" <= {hi}" if self.max is not None else "")

    def coerce(self, value: Any) -> int | float | bool | str:
        """``value`` (a typed value or a command-line string) as this parameter's type, or
        ``ValueError`` (the caller adds the path and the allowed values)."""
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "1", "yes", "on"):
                return True
            if text in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if self.type == "choice":
            if not isinstance(value, str) or value not in (self.choices or []):
                raise ValueError
            return value
        if isinstance(value, bool):
            raise ValueError
        if self.type == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            number: int | float = int(value) if not isinstance(value, str) else int(value.strip())
        else:
            number = float(value)
            if number != number:
                raise ValueError
        if (self.min is not None and number < self.min) or (self.max is not None and number > self.max):
            raise ValueError
        return number

    @model_validator(mode="after")
    def _check(self) -> ParamDecl:
        if self.type == "choice" and not self.choices:
            raise ValueError("a choice parameter needs 'choices'")
        try:
            self.default = self.coerce(self.default)
        except (ValueError, TypeError):
            raise ValueError(f"default must be {self.allowed()}, got {self.default!r}") from None
        return self


def _fmt(x: float | None) -> str:
    return "" if x is None else (str(int(x)) if float(x).is_integer() else f"{x:g}")


class NodeSpec(BaseModel):
    """One component instance. ``inputs`` values: a node id (``"fast"``), a node output
    (``"macd.signal"``), a bar field or parameterless source (``"close"``, ``"hl2"``), a number,
    or ``"$param"``."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    inputs: dict[str, InputValue] = Field(default_factory=dict)
    label: str = ""


class Outputs(BaseModel):
    """Which node output feeds each ``Signals`` field (flags: a bool output; levels: a float
    output, a number or ``"$param"``)."""

    model_config = ConfigDict(extra="forbid")

    enter_long: str | None = None
    exit_long: str | None = None
    enter_short: str | None = None
    exit_short: str | None = None
    size: str | float | None = None
    stop_loss: str | float | None = None
    take_profit: str | float | None = None
    trailing_stop: str | float | None = None
    exit_size: str | float | None = None


class StrategySpec(BaseModel):
    """A validated strategy. Build with ``from_dict``/``load_spec`` (which also check meaning);
    ``with_params`` returns a copy with parameter values set."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=ID_PATTERN)
    description: str = ""
    notes: str = ""
    timeframe: str = Field("1m", pattern=TIMEFRAME_PATTERN)
    params: dict[str, ParamDecl] = Field(default_factory=dict)
    constraints: list[str] = Field(default_factory=list)
    nodes: list[NodeSpec] = Field(default_factory=list)
    outputs: Outputs = Field(default_factory=Outputs)
    risk: dict[str, Any] = Field(default_factory=dict)

    # -------------------------------------------------------------- construction

    @classmethod
    def from_dict(cls, data: dict[str, Any], params: dict[str, Any] | None = None) -> StrategySpec:
        """Structure + meaning validated; ``params`` override declared defaults."""
        try:
            spec = cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(_structure_issues(exc)) from None
        if params:
            spec = spec.with_params(params)
        spec.check()
        return spec

    def with_params(self, values: dict[str, Any]) -> StrategySpec:
        """A copy whose declared parameters default to ``values`` (strings are parsed)."""
        issues = []
        decls = {k: v.model_copy() for k, v in self.params.items()}
        for key, raw in values.items():
            decl = decls.get(key)
            if decl is None:
                declared = ", ".join(decls) or "none"
                issues.append((f"params.{key}", f"unknown parameter (declared: {declared})"))
                continue
            try:
                decl.default = decl.coerce(raw)
            except (ValueError, TypeError):
                issues.append((f"params.{key}", f"must be {decl.allowed()}, got {raw!r}"))
        if issues:
            raise SpecError(issues)
        return self.model_copy(update={"params": decls})

    def param_values(self) -> dict[str, Any]:
        return {k: v.default for k, v in self.params.items()}

    def check(self) -> None:
        """Validate meaning (raises ``SpecError``); see ``strategies.graph.compile_spec``."""
        from strategies.graph import compile_spec

        compile_spec(self)

    # -------------------------------------------------------------- serialisation

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=True, exclude_none=True)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def to_toml(self) -> str:
        """TOML text (tomllib only reads, so writing goes through tomli-w)."""
        import tomli_w

        return tomli_w.dumps(self.to_dict())


def _structure_issues(exc: ValidationError) -> list[tuple[str, str]]:
    issues = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        # pydantic adds union-member names to the location (e.g. 'str', 'float'); drop them
        loc = tuple(p for p in loc if not (isinstance(p, str) and (p in ("str", "float", "int", "bool") or "[" in p)))
        path = path_str(loc)
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(_model_at(loc[:-1]).model_fields)
            issues.append((path, f"unknown field; allowed: {allowed}"))
        elif err["type"] == "missing":
            issues.append((path, "required"))
        elif err["type"] == "string_pattern_mismatch":
            what = "a timeframe like 1m, 15m, 1h, 1d" if loc[-1] == "timeframe" else "lowercase letters, digits and _, starting with a letter or _"
            issues.append((path, f"must be {what}, got {err['input']!r}"))
        elif err["type"] == "value_error":
            issues.append((path, str(err["ctx"]["error"])))
        else:
            issues.append((path, f"{err['msg']}, got {err['input']!r}"))
    return list(dict.fromkeys(issues))


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel]:
    """The model that holds the field at ``loc`` (for the "allowed fields" of an error)."""
    if loc[:1] == ("nodes",) and len(loc) == 2:
        return NodeSpec
    if loc[:1] == ("outputs",):
        return Outputs
    if loc[:1] == ("params",) and len(loc) == 2:
        return ParamDecl
    return StrategySpec


# ------------------------------------------------------------------ files and templates


def read_spec_file(path: str | Path) -> dict[str, Any]:
    """The raw mapping of a ``.toml`` or ``.json`` spec file (``SpecError`` on bad syntax)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([("", f"cannot read {path}: {exc.strerror or exc}")]) from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError([("", f"{path}: not valid {path.suffix.lstrip('.').upper() or 'TOML'}: {exc}")]) from None
    if not isinstance(data, dict):
        raise SpecError([("", f"{path}: a spec must be a table/object at the top level")])
    return data


def load_spec(path_or_template_name: str | Path, params: dict[str, str] | None = None) -> StrategySpec:
    """A spec from a file (``.toml``/``.json``) or a template name, with ``params`` applied
    (command-line strings are parsed by the declared types), fully validated."""
    from strategies import templates

    target = str(path_or_template_name)
    path = Path(target)
    if path.suffix.lower() in (".toml", ".json") or path.exists():
        data = read_spec_file(path)
    elif re.fullmatch(ID_PATTERN, target) and target in templates.names():
        data = templates.raw(target)
    else:
        known = ", ".join(templates.names())
        raise SpecError([("", f"no spec file or template named {target!r} (templates: {known})")])
    return StrategySpec.from_dict(data, params)


def dump_spec(spec: StrategySpec, path: str | Path) -> Path:
    """Write ``spec`` to ``path``: TOML for a ``.toml`` suffix, JSON otherwise; returns the path."""
    path = Path(path)
    text = spec.to_toml() if path.suffix.lower() == ".toml" else spec.to_json()
    path.write_text(text, encoding="utf-8")
    return path
