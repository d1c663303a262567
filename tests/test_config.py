"""Settings: load order, strict validation with useful one-line errors, and the config commands."""

from __future__ import annotations

import json
import logging
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from core.config import (
    DEFAULT_FEE_TIERS,
    ENV_CONFIG,
    ConfigError,
    Settings,
    default_config_path,
    load_config,
)
from core.logs import configure_cli_logging, configure_file_logging


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- defaults


def test_defaults():
    s = load_config(env={})
    assert s.engine.no_risk is False
    assert s.risk.model_dump() == dict.fromkeys(
        ["band_pct", "max_order_notional", "max_open_orders", "rate_limit_orders", "rate_limit_window_ms", "max_position"]
    )
    assert s.fees.as_table() == DEFAULT_FEE_TIERS
    assert s.fees.tiers[0].maker == Decimal("0.001")
    assert s.fees.tier_for(Decimal("999999.99")).name == "VIP0"
    assert s.fees.tier_for(Decimal("1000000")).name == "VIP1"
    assert s.fees.tier_for(Decimal("5000000000")).name == "VIP9"
    assert s.logging.level == "WARNING"
    assert s.config_file is None and s.config_path == default_config_path()
    assert set(s.sources.values()) == {"default"}
    assert s.data_dir.name == "tickdesk" and "tickdesk" in str(s.log_dir)


def test_default_fee_table_matches_core_fees():
    from core import fees

    assert tuple(DEFAULT_FEE_TIERS) == tuple(fees.BINANCE_LIKE_TIERS)


def test_default_config_path_is_per_user(_isolated_user_env):
    # conftest points XDG_CONFIG_HOME at a temp dir (Linux); the file name is fixed.
    assert default_config_path().name == "config.toml"
    assert default_config_path().parent.name == "tickdesk"


# --------------------------------------------------------------------------- layering


def test_file_then_env_then_flags(tmp_path):
    cfg = write(
        tmp_path / "c.toml",
        """
        [risk]
        max_open_orders = 10
        band_pct = 2.5
        [simmarket]
        seed = 9
        symbols = ["btc/usdt"]
        [logging]
        level = "info"
        """.replace("        ", ""),
    )
    env = {"TICKDESK_RISK__MAX_OPEN_ORDERS": "50", "TICKDESK_BINANCE_API_KEY": "ignored-secret"}
    s = load_config(cfg, env=env)
    assert s.config_file == cfg
    assert s.risk.max_open_orders == 50  # env beats file
    assert s.risk.band_pct == Decimal("2.5")  # TOML float read exactly
    assert s.simmarket.seed == 9 and s.simmarket.symbols == ["BTC/USDT"]
    assert s.logging.level == "INFO"
    src = s.sources
    assert src["risk.max_open_orders"] == "environment variable TICKDESK_RISK__MAX_OPEN_ORDERS"
    assert src["risk.band_pct"] == f"config file {cfg}"
    assert src["risk.max_position"] == "default"

    s2 = s.with_overrides({"logging.level": "debug", "engine.no_risk": True}, source="option --x")
    assert s2.logging.level == "DEBUG" and s2.engine.no_risk is True
    assert s2.sources["logging.level"] == "option --x"
    assert s.logging.level == "INFO"  # the original is unchanged
    assert s2.risk.max_open_orders == 50


def test_config_chosen_by_env_variable(tmp_path):
    cfg = write(tmp_path / "c.toml", "[simmarket]\nseed = 3\n")
    assert load_config(env={ENV_CONFIG: str(cfg)}).simmarket.seed == 3
    # --config beats $TICKDESK_CONFIG
    other = write(tmp_path / "d.toml", "[simmarket]\nseed = 4\n")
    assert load_config(other, env={ENV_CONFIG: str(cfg)}).simmarket.seed == 4


def test_default_file_is_read_when_present(_isolated_user_env):
    default = default_config_path()
    if not default.is_relative_to(_isolated_user_env) or default.exists():
        pytest.skip(f"the per-user config path {default} is not isolated on this platform (XDG only)")
    default.parent.mkdir(parents=True, exist_ok=True)
    try:
        write(default, "[simmarket]\nrate = 7.5\n")
        s = load_config(env={})
        assert s.simmarket.rate == 7.5 and s.config_file == default
    finally:
        default.unlink()


def test_env_lists_and_empty_values(tmp_path):
    cfg = write(tmp_path / "c.toml", "[risk]\nmax_open_orders = 10\n")
    env = {
        "TICKDESK_SIMMARKET__SYMBOLS": "BTC/USDT, sol/usdt",
        "TICKDESK_RISK__MAX_OPEN_ORDERS": "",  # empty: turn the limit off again
        "TICKDESK_FEES__TIERS": '[{"min_volume": "0", "maker": "0.0002", "taker": 0.0004}]',
    }
    s = load_config(cfg, env=env)
    assert s.simmarket.symbols == ["BTC/USDT", "SOL/USDT"]
    assert s.risk.max_open_orders is None
    assert s.fees.as_table() == (("tier0", "0", "0.0002", "0.0004"),)


def test_fee_tiers_from_toml(tmp_path):
    cfg = write(
        tmp_path / "c.toml",
        '[[fees.tiers]]\nname = "base"\nmin_volume = 0\nmaker = 0.0002\ntaker = "0.0005"\n'
        '[[fees.tiers]]\nmin_volume = "1000000"\nmaker = 0\ntaker = 0.0003\n',
    )
    s = load_config(cfg, env={})
    assert s.fees.as_table() == (("base", "0", "0.0002", "0.0005"), ("tier1", "1000000", "0", "0.0003"))
    # the table goes straight into core.fees
    from core.fees import FeeSchedule

    schedule = FeeSchedule(FeeSchedule.from_table(s.fees.as_table()))
    assert [t.taker_e8 for t in schedule.tiers] == [50_000, 30_000]


def test_relative_paths(tmp_path, monkeypatch):
    cfg = write(tmp_path / "c.toml", '[paths]\ndata_dir = "data"\nlog_dir = "~/logs"\n')
    s = load_config(cfg, env={})
    assert s.data_dir == tmp_path / "data"  # relative to the config file
    assert s.log_dir == Path("~/logs").expanduser()
    monkeypatch.chdir(tmp_path)
    s = load_config(env={"TICKDESK_PATHS__DATA_DIR": "here"})
    assert s.data_dir == tmp_path / "here"  # relative to the working directory


def test_settings_is_immutable_and_has_a_schema():
    s = load_config(env={})
    with pytest.raises(Exception):
        s.risk.max_open_orders = 3  # type: ignore[misc]
    schema = Settings.model_json_schema()
    assert set(schema["properties"]) == {"engine", "risk", "fees", "simmarket", "paths", "logging", "ui", "keys"}


def test_show_output_is_a_valid_config(tmp_path):
    from tui.commands.config import render_toml

    s = load_config(env={"TICKDESK_RISK__MAX_OPEN_ORDERS": "5", "TICKDESK_RISK__BAND_PCT": "1.5"})
    text = render_toml(s)
    assert "# environment variable TICKDESK_RISK__MAX_OPEN_ORDERS" in text
    round_trip = load_config(write(tmp_path / "again.toml", text), env={})
    assert round_trip.model_dump() == s.model_dump()
    assert tomllib.loads(text)["risk"]["max_open_orders"] == 5


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[risk]\nmax_open_order = 5\n", "risk.max_open_order: unknown key; expected one of: band_pct,"),
        ("[riks]\nmax_open_orders = 5\n", "riks: unknown section; expected one of: engine, risk, fees"),
        ("seed = 1\n", "seed: unknown section"),
        ("risk = 5\n", "risk: expected a table"),
        ("[risk]\nmax_open_orders = 0\n", "risk.max_open_orders: expected a value greater than or equal to 1 (got 0)"),
        ("[risk]\nmax_open_orders = 2.5\n", "risk.max_open_orders: expected an integer, got 2.5"),
        ("[risk]\nmax_open_orders = true\n", "risk.max_open_orders: expected an integer, got a boolean"),
        ("[risk]\nmax_open_orders = \"many\"\n", "risk.max_open_orders: expected a valid integer"),
        ("[risk]\nmax_position = \"1e3\"\n", "risk.max_position: expected a plain decimal number such as 0.5 (got '1e3')"),
        ("[risk]\nband_pct = -1\n", "risk.band_pct: expected a value greater than 0"),
        ("[engine]\nno_risk = \"perhaps\"\n", "engine.no_risk: expected a valid boolean"),
        ("[logging]\nlevel = \"loud\"\n", "logging.level: expected 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'"),
        ("[simmarket]\nsymbols = [\"BTCUSDT\"]\n", "simmarket.symbols[0]: expected a symbol like BTC/USDT"),
        ("[simmarket]\nsymbols = [\"BTC/USDT\", \"btc/usdt\"]\n", "simmarket: symbols must not repeat"),
        ("[simmarket]\nrate = 0\n", "simmarket.rate: expected a value greater than 0"),
        ("[[fees.tiers]]\nmin_volume = 5\nmaker = 0.001\ntaker = 0.001\n", "fees.tiers: the first tier must start at min_volume 0"),
        (
            "[[fees.tiers]]\nmin_volume = 0\nmaker = 0.001\ntaker = 0.001\n[[fees.tiers]]\nmin_volume = 0\nmaker = 0.001\ntaker = 0.001\n",
            "fees.tiers: tiers must be sorted by strictly increasing min_volume",
        ),
        ("[[fees.tiers]]\nmin_volume = 0\nmaker = 0.001\n", "fees.tiers[0].taker: missing required key"),
        ("[[fees.tiers]]\nmin_volume = 0\nmaker = 0.001\ntaker = 1\n", "fees.tiers[0].taker: expected a value less than 1"),
        ("[[fees.tiers]]\nmin_volume = 0\nmaker = 0.000000001\ntaker = 0\n", "fees.tiers[0]: maker rate 0.000000001 has more than 8 decimal places"),
        ("[[fees.tiers]]\nmin_volume = 0\nmaker = 0.001\ntaker = 0.001\nvip = 1\n", "fees.tiers[0].vip: unknown key; expected one of: name, min_volume, maker, taker"),
        ("[risk\n", "invalid TOML: "),
        ("[ui]\nrefresh_hz = 0\n", "ui.refresh_hz: expected a value greater than or equal to 1"),
        ("[ui]\ntheme = \"dracula\"\n", "ui.theme: expected 'tickdesk-dark' or 'tickdesk-light'"),
        ("[ui]\ntimeframe = \"2m\"\n", "ui.timeframe: expected '1s', '1m', '5m', '15m' or '1h'"),
        ("[keys]\n\"Order Buy\" = \"f\"\n", "keys: 'Order Buy' is not a binding id"),
        ("[keys]\n\"order.buy\" = \"ctrl+\"\n", "keys: order.buy: 'ctrl+' is not a key name"),
        ("[keys]\n\"order.buy\" = 3\n", "keys: order.buy: expected a key"),
        ("[simmarket]\nfunds = [\"lots USDT\"]\n", "simmarket.funds[0]: expected 'AMOUNT ASSET'"),
        ("[simmarket]\nfunds = [\"1 USDT\", \"2 usdt\"]\n", "simmarket: funds must name each asset once"),
    ],
)
def test_file_errors_name_file_key_and_expectation(tmp_path, toml, expected):
    cfg = write(tmp_path / "bad.toml", toml)
    with pytest.raises(ConfigError) as info:
        load_config(cfg, env={})
    message = str(info.value)
    assert message.startswith(f"config file {cfg}: "), message
    assert expected in message, message
    assert "\n" not in message


def test_several_problems_are_counted(tmp_path):
    cfg = write(tmp_path / "bad.toml", "[risk]\nmax_open_orders = 0\nmax_position = -1\nfoo = 1\n")
    with pytest.raises(ConfigError, match=r"\(and 2 more problems\)$"):
        load_config(cfg, env={})


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"TICKDESK_RISK__MAX_OPEN_ORDERS": "abc"}, "environment variable TICKDESK_RISK__MAX_OPEN_ORDERS: risk.max_open_orders: expected a valid integer"),
        ({"TICKDESK_RISK__MAX_OPEN_ORDRS": "5"}, "environment variable TICKDESK_RISK__MAX_OPEN_ORDRS: risk.max_open_ordrs: unknown key"),
        ({"TICKDESK_NOPE__X": "5"}, "environment variable TICKDESK_NOPE__X: nope: unknown section"),
        ({"TICKDESK_FEES__TIERS": "[{"}, "environment variable TICKDESK_FEES__TIERS: fees.tiers: invalid JSON array"),
        ({ENV_CONFIG: "/nonexistent/tickdesk.toml"}, "config file /nonexistent/tickdesk.toml: not found (given by TICKDESK_CONFIG)"),
    ],
)
def test_env_errors_name_the_variable(env, expected):
    with pytest.raises(ConfigError) as info:
        load_config(env=env)
    assert str(info.value).startswith(expected), str(info.value)


def test_file_error_blamed_on_the_layer_that_set_it(tmp_path):
    cfg = write(tmp_path / "c.toml", "[risk]\nmax_open_orders = 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(cfg, env={}).with_overrides({"risk.max_open_orders": -2}, source="option --max-open")
    assert str(info.value).startswith("option --max-open: risk.max_open_orders: expected a value greater than or equal to 1")


def test_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"not found \(given by --config\)"):
        load_config(tmp_path / "nope.toml", env={})
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path, env={})


# --------------------------------------------------------------------------- logging


def test_cli_logging_goes_to_stderr_only(capsys):
    configure_cli_logging("INFO")
    logging.getLogger("tickdesk.test").info("hello from a test")
    logging.getLogger("tickdesk.test").debug("too detailed")
    out, err = capsys.readouterr()
    assert out == ""
    assert "hello from a test" in err and "too detailed" not in err
    configure_cli_logging("INFO")  # idempotent: one handler, not two
    logging.getLogger("tickdesk.test").warning("once")
    assert capsys.readouterr().err.count("once") == 1


def test_file_logging_rotates_in_the_log_dir(tmp_path, capsys):
    path = configure_file_logging(tmp_path / "logs", "INFO")
    try:
        logging.getLogger("tickdesk.test").info("into the file")
        out, err = capsys.readouterr()
        assert out == "" and "into the file" not in err
        assert path.parent == tmp_path / "logs" and "into the file" in path.read_text()
    finally:
        configure_cli_logging("WARNING")


# --------------------------------------------------------------------------- the CLI


def test_cli_config_show_json(run_cli, tmp_path):
    cfg = write(tmp_path / "c.toml", "[simmarket]\nseed = 11\n")
    code, out, err = run_cli("--config", cfg, "--log-level", "INFO", "config", "show", "--json", env={"TICKDESK_RISK__MAX_POSITION": "2.5"})
    assert code == 0, err
    data = json.loads(out)
    assert data["config_file"] == str(cfg) and data["config_file_loaded"] is True
    assert data["config"]["simmarket"]["seed"] == 11
    assert data["config"]["risk"]["max_position"] == "2.5"
    assert data["config"]["logging"]["level"] == "INFO"
    assert data["config"]["fees"]["tiers"][3] == {"name": "VIP3", "min_volume": "20000000", "maker": "0.00042", "taker": "0.0006"}
    assert data["sources"]["simmarket.seed"] == f"config file {cfg}"
    assert data["sources"]["risk.max_position"] == "environment variable TICKDESK_RISK__MAX_POSITION"
    assert data["sources"]["logging.level"] == "option --log-level"


def test_cli_config_show_text(run_cli):
    code, out, err = run_cli("config", "show", env={"TICKDESK_RISK__MAX_OPEN_ORDERS": "50"})
    assert code == 0, err
    assert "[risk]" in out and "max_open_orders = 50" in out and "TICKDESK_RISK__MAX_OPEN_ORDERS" in out
    assert "(not found: defaults used)" in out


def test_cli_bad_config_is_one_line_error(run_cli, tmp_path):
    cfg = write(tmp_path / "c.toml", "[risk]\nmax_open_orders = -1\n")
    code, out, err = run_cli("--config", cfg, "config", "show")
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0
    assert err.startswith(f"tickdesk: error: config file {cfg}: risk.max_open_orders: expected a value greater than or equal to 1")
    code, out, err = run_cli("config", "show", env={"TICKDESK_LOGGING__LEVEL": "chatty"})
    assert code == 2 and "environment variable TICKDESK_LOGGING__LEVEL: logging.level" in err


def test_cli_config_path_works_with_a_broken_config(run_cli, tmp_path):
    cfg = write(tmp_path / "c.toml", "[risk\n")
    code, out, err = run_cli("--config", cfg, "config", "path")
    assert code == 0, err
    assert out.strip() == str(cfg)
    code, out, err = run_cli("--config", cfg, "config", "path", "--json")
    data = json.loads(out)
    assert data["chosen_by"] == "--config" and data["exists"] is True and "invalid TOML" in data["error"]


def test_cli_config_path_default(run_cli, _isolated_user_env):
    code, out, err = run_cli("config", "path", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["chosen_by"] == "default"
    if Path(data["config_file"]).is_relative_to(_isolated_user_env):  # XDG platforms
        assert data["exists"] is False
    assert data["config_file"].endswith("config.toml") and data["data_dir"] and data["log_dir"]


def test_cli_version_and_bad_log_level(run_cli):
    code, out, err = run_cli("--version")
    assert code == 0 and out.startswith("tickdesk ")
    code, out, err = run_cli("--log-level", "loud", "config", "show")
    assert code == 2 and out == ""


def test_cli_logs_never_reach_stdout(run_cli):
    code, out, err = run_cli("--log-level", "debug", "config", "show", "--json")
    assert code == 0, err
    json.loads(out)  # stdout is pure JSON even at debug level


def test_readme_example_config_is_valid(tmp_path):
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(.*?)```", readme, re.S)
    assert block, "README.md has no ```toml example"
    s = load_config(write(tmp_path / "readme.toml", block.group(1)), env={})
    assert s.risk.max_open_orders is not None


def test_ui_and_keys_sections(tmp_path):
    cfg = write(
        tmp_path / "c.toml",
        '[ui]\ntheme = "tickdesk-light"\nrefresh_hz = 20\nsymbol = "eth/usdt"\n'
        '[keys]\norder.buy = "f"\n"order.sell" = "g, ctrl+g"\n',
    )
    s = load_config(cfg, env={})
    assert (s.ui.theme, s.ui.refresh_hz, s.ui.symbol, s.ui.source) == ("tickdesk-light", 20, "ETH/USDT", "sim")
    assert s.keys.mapping() == {"order.buy": "f", "order.sell": "g,ctrl+g"}
    assert s.sources["keys.order.buy"] == f"config file {cfg}"

