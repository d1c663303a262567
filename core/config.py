"""User settings: defaults < TOML file < environment < command-line flags, strictly validated.

Where the values come from, lowest priority first:

1. the built-in defaults below;
2. one TOML file: ``--config PATH``, else ``$TICKDESK_CONFIG``, else
   ``platformdirs.user_config_dir("tickdesk")/config.toml`` (absent is fine there; a file named
   explicitly must exist);
3. environment variables ``TICKDESK_<SECTION>__<KEY>``, e.g. ``TICKDESK_RISK__MAX_OPEN_ORDERS=50``
   (list values: a JSON array or comma-separated; an empty value turns an optional setting off);
4. command-line flags, applied with :meth:`Settings.with_overrides`.

Unknown keys and bad values are a :class:`ConfigError` whose one-line message names the source
(file, environment variable or option), the key path and what was expected. Numbers that matter
(fees, notionals, positions) are parsed exactly: TOML floats are read as ``Decimal`` and Python
floats are refused, like everywhere else in ``core``.

This module is pure stdlib + pydantic + platformdirs (no textual, no rich).
"""

from __future__ import annotations

import json
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from core.fees import BINANCE_LIKE_TIERS
from core.numbers import NumberError, parse_decimal

APP_NAME = "tickdesk"
ENV_PREFIX = "TICKDESK_"
ENV_CONFIG = "TICKDESK_CONFIG"
CONFIG_FILENAME = "config.toml"
DEFAULT_SOURCE = "default"

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """A configuration problem, with a one-line message fit for ``tickdesk: error: ...``."""

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.source = source
        self.key = key


# --------------------------------------------------------------------------- value types


def _exact_decimal(value: Any) -> Any:
    """Decimal from a TOML number (already a Decimal), an int or a plain decimal string."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("expected a finite decimal number")
        return value
    if isinstance(value, float):
        raise ValueError("expected an exact decimal (a TOML number or a string such as \"0.5\"), got a float")
    try:
        return parse_decimal(value, "value")
    except NumberError:
        raise ValueError("expected a plain decimal number such as 0.5") from None


def _strict_int(value: Any) -> Any:
    """Integers, or an integral decimal/string; never a boolean."""
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise ValueError(f"expected an integer, got {value}")
        return int(value)
    return value


def _log_level(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().upper()
    return value


ExactDecimal = Annotated[Decimal, BeforeValidator(_exact_decimal)]
StrictInt = Annotated[int, BeforeValidator(_strict_int)]
LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_log_level)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- sections


class EngineConfig(_Section):
    """``[engine]``"""

    no_risk: bool = Field(False, description="Skip balance and risk checks (pure matching, unlimited balances).")


class RiskConfig(_Section):
    """``[risk]``: venue-wide pre-trade limits. Every limit is optional; unset means off."""

    band_pct: ExactDecimal | None = Field(
        None, gt=0, le=100, description="Reject limit prices more than this percent away from the reference price."
    )
    max_order_notional: ExactDecimal | None = Field(None, gt=0, description="Largest order notional, in quote.")
    max_open_orders: StrictInt | None = Field(None, ge=1, description="Open orders per account and symbol.")
    rate_limit_orders: StrictInt | None = Field(None, ge=1, description="Orders allowed per rate-limit window.")
    rate_limit_window_ms: StrictInt | None = Field(None, ge=1, description="Rate-limit window in milliseconds.")
    max_position: ExactDecimal | None = Field(None, gt=0, description="Largest absolute position, in base.")


class FeeTier(_Section):
    """One row of the fee table: applies from ``min_volume`` (30-day traded notional, quote) up.

    ``maker`` and ``taker`` are fractions: ``0.001`` is 0.1%.
    """

    name: str | None = None
    min_volume: ExactDecimal = Field(ge=0)
    maker: ExactDecimal = Field(ge=0, lt=1)
    taker: ExactDecimal = Field(ge=0, lt=1)

    @model_validator(mode="after")
    def _eight_places(self) -> FeeTier:
        for label in ("maker", "taker"):
            rate: Decimal = getattr(self, label)
            if (rate * 10**8) % 1 != 0:
                raise ValueError(f"{label} rate {rate:f} has more than 8 decimal places")
        return self


#: The default table is core.fees' Binance-spot-like VIP 0..9 (one source of truth).
DEFAULT_FEE_TIERS: tuple[tuple[str, str, str, str], ...] = BINANCE_LIKE_TIERS


def _default_tiers() -> list[FeeTier]:
    return [
        FeeTier(name=n, min_volume=Decimal(v), maker=Decimal(m), taker=Decimal(t)) for n, v, m, t in DEFAULT_FEE_TIERS
    ]


class FeesConfig(_Section):
    """``[fees]``: the maker/taker tier table by 30-day traded notional (quote)."""

    tiers: list[FeeTier] = Field(default_factory=_default_tiers, min_length=1)

    @field_validator("tiers")
    @classmethod
    def _ordered(cls, tiers: list[FeeTier]) -> list[FeeTier]:
        if tiers[0].min_volume != 0:
            raise ValueError(f"the first tier must start at min_volume 0, not {tiers[0].min_volume}")
        for prev, cur in zip(tiers, tiers[1:]):
            if cur.min_volume <= prev.min_volume:
                raise ValueError(
                    f"tiers must be sorted by strictly increasing min_volume ({cur.min_volume} after {prev.min_volume})"
                )
        return tiers

    def as_table(self) -> tuple[tuple[str, str, str, str], ...]:
        """Rows of ``(name, min_volume, maker, taker)`` decimal strings (``core.fees`` format)."""
        return tuple(
            (t.name or f"tier{i}", f"{t.min_volume:f}", f"{t.maker:f}", f"{t.taker:f}") for i, t in enumerate(self.tiers)
        )

    def tier_for(self, volume: Decimal) -> FeeTier:
        """The tier that applies at a 30-day traded notional of ``volume``."""
        chosen = self.tiers[0]
        for t in self.tiers:
            if volume >= t.min_volume:
                chosen = t
        return chosen


def _symbol(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip().upper()
        base, sep, quote = value.partition("/")
        if not (sep and base.isalnum() and quote.isalnum()):
            raise ValueError(f"expected a symbol like BTC/USDT, got {value!r}")
    return value


Symbol = Annotated[str, BeforeValidator(_symbol)]


def _fund(value: Any) -> Any:
    """``"100000 USDT"`` -> the same string, normalised, after checking amount and asset."""
    if not isinstance(value, str):
        return value
    parts = value.split()
    if len(parts) != 2 or not parts[1].isalnum():
        raise ValueError(f"expected 'AMOUNT ASSET' such as '100000 USDT', got {value!r}")
    try:
        amount = parse_decimal(parts[0], "amount")
    except NumberError:
        raise ValueError(f"expected 'AMOUNT ASSET' with a plain decimal amount, got {value!r}") from None
    if amount <= 0:
        raise ValueError(f"the amount must be positive, got {value!r}")
    return f"{amount:f} {parts[1].upper()}"


Fund = Annotated[str, BeforeValidator(_fund)]


class SimMarketConfig(_Section):
    """``[simmarket]``: the seeded simulated market the workstation opens on."""

    seed: StrictInt = Field(1, ge=0, description="Random seed: the same seed gives the same market.")
    rate: float = Field(1.0, gt=0, description="Pace of the simulated market as a multiple of real time.")
    symbols: list[Symbol] = Field(default_factory=lambda: ["BTC/USDT", "ETH/USDT"], min_length=1)
    step_ms: StrictInt = Field(100, ge=1, description="Simulated clock step in milliseconds.")
    account: str = Field("me", min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_]+$",
                         description="Your account on the simulated venue (orders from the workstation).")
    funds: list[Fund] = Field(
        default_factory=lambda: ["100000 USDT", "2 BTC", "20 ETH"],
        description="Deposited into your account at the start, as 'AMOUNT ASSET'.",
    )

    @model_validator(mode="after")
    def _unique(self) -> SimMarketConfig:
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("symbols must not repeat")
        assets = [f.split()[1] for f in self.funds]
        if len(set(assets)) != len(assets):
            raise ValueError("funds must name each asset once")
        return self

    def fund_amounts(self) -> list[tuple[str, str]]:
        """``[(asset, amount)]`` from ``funds``."""
        return [(f.split()[1], f.split()[0]) for f in self.funds]


class UiConfig(_Section):
    """``[ui]``: the workstation's look and pace."""

    # Only the workstation's own themes carry the market colours ($bid, $ask, ...) its widgets
    # draw with; tui.themes defines them under these names (a test keeps the two in step).
    theme: Literal["tickdesk-dark", "tickdesk-light"] = Field(
        "tickdesk-dark", description="Theme name: tickdesk-dark or tickdesk-light.")
    refresh_hz: StrictInt = Field(15, ge=1, le=60, description="How often the screens pull market data (per second).")
    symbol: Symbol | None = Field(None, description="Symbol shown first (default: the source's first).")
    # The candle chart's timeframes (tui.widgets.candles.TIMEFRAMES; a test keeps them in step).
    timeframe: Literal["1s", "1m", "5m", "15m", "1h"] = Field(
        "1m", description="The candle chart's timeframe at start (t / T cycle it).")
    source: str = Field("sim", min_length=1, description="Market source: sim, binance, okx, emulator:URL or replay:FILE.")


def _flatten_keys(value: Any) -> Any:
    """``[keys]`` may be written ``"order.buy" = "f"`` or as TOML dotted keys (nested tables)."""
    if not isinstance(value, Mapping):
        return value
    out: dict[str, Any] = {}

    def walk(prefix: str, node: Mapping) -> None:
        for key, item in node.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(item, Mapping):
                walk(name, item)
            else:
                out[name] = item

    walk("", value)
    return out


_BINDING_ID = r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$"
_KEY_NAME = r"^[a-z0-9_]+(\+[a-z0-9_]+)*$"


class KeysConfig(BaseModel):
    """``[keys]``: binding id -> key(s), e.g. ``"order.buy" = "f"`` or ``"mode.health" = "f2,h"``.

    Only the shape is checked here (ids and key names); the workstation refuses ids it does not
    have, naming the known ones, when it starts."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, value: Any) -> Any:
        return _flatten_keys(value)

    @model_validator(mode="after")
    def _check(self) -> KeysConfig:
        import re

        for ident, keys in (self.model_extra or {}).items():
            if not re.match(_BINDING_ID, ident):
                raise ValueError(f"{ident!r} is not a binding id (like 'order.buy')")
            if not isinstance(keys, str) or not keys.strip():
                raise ValueError(f"{ident}: expected a key such as \"f\" or \"ctrl+b,f5\", got {keys!r}")
            for key in keys.split(","):
                if not re.match(_KEY_NAME, key.strip()):
                    raise ValueError(f"{ident}: {key.strip()!r} is not a key name (like 'f', 'ctrl+b', 'f5')")
        return self

    def mapping(self) -> dict[str, str]:
        """Binding id -> comma-separated keys (spaces removed)."""
        return {ident: ",".join(k.strip() for k in keys.split(",")) for ident, keys in (self.model_extra or {}).items()}


class PathsConfig(_Section):
    """``[paths]``: override where data and logs go (default: the platform's user dirs)."""

    data_dir: Path | None = None
    log_dir: Path | None = None


class LoggingConfig(_Section):
    """``[logging]``"""

    level: LogLevel = "WARNING"


SECTIONS = ("engine", "risk", "fees", "simmarket", "paths", "logging", "ui", "keys")


class Settings(_Section):
    """The effective configuration. Built by :func:`load_config`; immutable."""

    engine: EngineConfig = Field(default_factory=EngineConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    fees: FeesConfig = Field(default_factory=FeesConfig)
    simmarket: SimMarketConfig = Field(default_factory=SimMarketConfig)
    paths: PathsConfig = Field(default_factory=PathsConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    ui: UiConfig = Field(default_factory=UiConfig)
    keys: KeysConfig = Field(default_factory=KeysConfig)

    _layers: tuple[tuple[str, dict], ...] = PrivateAttr(default=())
    _config_path: Path | None = PrivateAttr(default=None)
    _config_loaded: bool = PrivateAttr(default=False)

    # ---- where things are

    @property
    def config_path(self) -> Path:
        """The config file that was looked for (it may not exist)."""
        return self._config_path or default_config_path()

    @property
    def config_file(self) -> Path | None:
        """The config file actually read, or None."""
        return self.config_path if self._config_loaded else None

    @property
    def data_dir(self) -> Path:
        return self.paths.data_dir or Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))

    @property
    def log_dir(self) -> Path:
        return self.paths.log_dir or Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))

    @property
    def sources(self) -> dict[str, str]:
        """``"section.key"`` -> where its effective value came from (``"default"``, a file, ...)."""
        out = {f"{section}.{key}": DEFAULT_SOURCE for section in SECTIONS for key in _section_model(section).model_fields}
        for label, layer in self._layers:
            for dotted in _leaves(layer):
                out[dotted] = label
        return out

    # ---- layering

    def with_overrides(self, values: Mapping[str, Any], source: str) -> Settings:
        """A copy with ``{"section.key": value}`` applied on top (command-line flags).

        ``source`` names the flag in errors and in ``config show`` (e.g. ``"option --log-level"``).
        """
        layer: dict[str, Any] = {}
        for dotted, value in values.items():
            section, _, key = dotted.partition(".")
            if not key:
                raise ConfigError(f"{source}: {dotted}: expected a 'section.key' path", source=source, key=dotted)
            layer.setdefault(section, {})[key] = value
        return _build(self._layers + ((source, layer),), self._config_path, self._config_loaded)

    def effective(self) -> dict[str, Any]:
        """The effective values as JSON-ready data (decimals as strings, paths resolved)."""
        data = self.model_dump(mode="json")
        data["paths"] = {"data_dir": str(self.data_dir), "log_dir": str(self.log_dir)}
        return data


# --------------------------------------------------------------------------- loading


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / CONFIG_FILENAME


def resolve_config_path(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> tuple[Path, str]:
    """The config file to read and how it was chosen: ``"--config"``, ``ENV_CONFIG`` or ``"default"``."""
    env = os.environ if env is None else env
    if path is not None and str(path) != "":
        return Path(path).expanduser(), "--config"
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG]).expanduser(), ENV_CONFIG
    return default_config_path(), "default"


def load_config(path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None) -> Settings:
    """Defaults < TOML file < ``TICKDESK_<SECTION>__<KEY>`` environment variables.

    ``path`` is the ``--config`` value (None: ``$TICKDESK_CONFIG`` or the per-user default).
    Raises :class:`ConfigError`.
    """
    env = os.environ if env is None else env
    config_path, chosen_by = resolve_config_path(path, env)
    layers: list[tuple[str, dict]] = []
    loaded = False
    if config_path.is_file() or chosen_by != "default":
        layers.append((f"config file {config_path}", _read_toml(config_path, chosen_by)))
        loaded = True
    layers.extend(_env_layers(env))
    return _build(tuple(layers), config_path, loaded)


def _read_toml(path: Path, chosen_by: str) -> dict:
    label = f"config file {path}"
    how = "" if chosen_by == "default" else f" (given by {chosen_by})"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{label}: not found{how}", source=label) from None
    except IsADirectoryError:
        raise ConfigError(f"{label}: is a directory, expected a TOML file{how}", source=label) from None
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read: {exc.strerror or exc}", source=label) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"), parse_float=Decimal)
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: not UTF-8 text", source=label) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{label}: invalid TOML: {exc}", source=label) from None
    paths = data.get("paths")
    if isinstance(paths, dict):  # relative paths in a file are relative to that file
        for key, value in list(paths.items()):
            if isinstance(value, str) and value:
                p = Path(value).expanduser()
                paths[key] = str(p if p.is_absolute() else (path.parent / p).absolute())
    return data


def _env_layers(env: Mapping[str, str]) -> list[tuple[str, dict]]:
    """One layer per ``TICKDESK_<SECTION>__<KEY>`` variable (sorted, so errors are stable)."""
    layers = []
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or "__" not in name[len(ENV_PREFIX) :]:
            continue  # TICKDESK_CONFIG, secrets such as TICKDESK_BINANCE_API_KEY, ...
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        label = f"environment variable {name}"
        value = _env_value(section, key, env[name], label)
        layers.append((label, {section: {key: value}}))
    return layers


def _env_value(section: str, key: str, text: str, label: str) -> Any:
    annotation = _field_annotation(section, key)
    if annotation is None:
        return text  # unknown key: validation reports it with the list of known keys
    if text.strip() == "" and _is_optional(annotation):
        return None
    if _is_list(annotation):
        stripped = text.strip()
        if stripped.startswith("["):
            try:
                return json.loads(stripped, parse_float=Decimal)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{label}: {section}.{key}: invalid JSON array: {exc}", source=label) from None
        return [part.strip() for part in stripped.split(",") if part.strip()]
    if section == "paths" and text:
        return str(Path(text).expanduser().absolute())
    return text


def _build(layers: tuple[tuple[str, dict], ...], config_path: Path | None, loaded: bool) -> Settings:
    merged: dict[str, Any] = {}
    for _label, layer in layers:
        _deep_merge(merged, layer)
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        raise _explain(exc, layers) from None
    settings._layers = layers
    settings._config_path = config_path
    settings._config_loaded = loaded
    return settings


def _deep_merge(into: dict, new: Mapping) -> None:
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value


def _leaves(data: Mapping, prefix: str = "") -> list[str]:
    """Dotted paths of the values set in a layer (tables are walked, lists are single values)."""
    out = []
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.extend(_leaves(value, dotted + "."))
        else:
            out.append(dotted)
    return out


# --------------------------------------------------------------------------- error messages


def _section_model(section: str) -> type[BaseModel]:
    return Settings.model_fields[section].annotation  # type: ignore[return-value]


def _field_annotation(section: str, key: str) -> Any:
    if section not in Settings.model_fields:
        return None
    fields = _section_model(section).model_fields
    return fields[key].annotation if key in fields else None


def _unwrap(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [a for arg in typing.get_args(annotation) for a in _unwrap(arg)]
    if typing.get_origin(annotation) is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    return [annotation]


def _is_optional(annotation: Any) -> bool:
    return type(None) in _unwrap(annotation)


def _is_list(annotation: Any) -> bool:
    return any(typing.get_origin(a) is list for a in _unwrap(annotation))


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The model class whose fields sit at ``loc`` (used to list the allowed keys)."""
    model: type[BaseModel] | None = Settings
    annotation: Any = Settings
    for part in loc:
        if isinstance(part, int):
            items = [typing.get_args(a)[0] for a in _unwrap(annotation) if typing.get_origin(a) is list]
            annotation = items[0] if items else None
        else:
            if model is None or part not in model.model_fields:
                return None
            annotation = model.model_fields[part].annotation
        models = [a for a in _unwrap(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
        model = models[0] if models else None
    return model


def _key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _show(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{value:f}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(err: Mapping[str, Any]) -> str:
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        parent = _model_at(loc[:-1])
        known = ", ".join(parent.model_fields) if parent else ""
        what = "section" if len(loc) == 1 else "key"
        return f"unknown {what}" + (f"; expected one of: {known}" if known else "")
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected a table (section), got {_show(err.get('input'))}"
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    elif msg.startswith("Input should be "):
        msg = msg[len("Input should be ") :]
        if msg.startswith(("greater", "less")):
            msg = "a value " + msg
        msg = "expected " + msg
    if kind == "missing":
        return "missing required key"
    if "got" not in msg and "input" in err and not isinstance(err["input"], (dict, list)):
        msg += f" (got {_show(err['input'])})"
    return msg


def _source_of(loc: tuple, layers: tuple[tuple[str, dict], ...]) -> str:
    """The layer that set the value at (or under, or above) ``loc``: the last one wins."""
    want = _key_path(tuple(p for p in loc if not isinstance(p, int)))
    found = DEFAULT_SOURCE
    for label, layer in layers:
        for dotted in _leaves(layer):
            if dotted == want or dotted.startswith(want + ".") or want.startswith(dotted + "."):
                found = label
    return found


def _explain(exc: ValidationError, layers: tuple[tuple[str, dict], ...]) -> ConfigError:
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = tuple(first["loc"])
    source = _source_of(loc, layers)
    key = _key_path(loc) or "(top level)"
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    label = "built-in default" if source == DEFAULT_SOURCE else source
    return ConfigError(f"{label}: {key}: {_describe(first)}{more}", source=source, key=key)
