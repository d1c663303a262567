"""tui.orderform: the ticket's grid rounding, field rules and command building (no textual)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.instruments import default_instruments
from tui.orderform import OrderForm, build, check_trail, parse_duration, preset_qty, to_grid

BTC = default_instruments()["BTC/USDT"]


@pytest.mark.parametrize(
    "text, rounding, units, note",
    [
        ("100.00", "ROUND_FLOOR", 10000, None),
        ("100.009", "ROUND_FLOOR", 10000, "price 100.009 is off the 0.01 grid: sends 100.00"),
        ("100.001", "ROUND_CEILING", 10001, "price 100.001 is off the 0.01 grid: sends 100.01"),
        ("100.005", "ROUND_HALF_UP", 10001, "price 100.005 is off the 0.01 grid: sends 100.01"),
    ],
)
def test_to_grid(text, rounding, units, note):
    assert to_grid(text, Decimal("0.01"), rounding, "price") == (units, note)


def test_values_that_round_to_zero_or_are_not_decimals_are_errors():
    form = OrderForm("BTC/USDT", qty="0.000001", price="1e3")
    built = build(form, BTC, 0, "me-1")
    assert built.cmd is None
    assert built.errors == ["qty 0.000001 is zero on the 0.00001 grid", "price is not a plain decimal number: '1e3'"]


def test_fields_follow_the_type_and_tif():
    form = OrderForm("BTC/USDT", type="market", tif="GTC", qty="1", price="5")
    assert build(form, BTC, 0, "x").errors == ["a market order takes tif IOC or FOK"]
    form.tif = "IOC"
    cmd = build(form, BTC, 0, "x").cmd
    assert cmd == {"op": "new", "id": "x", "symbol": "BTC/USDT", "side": "buy", "type": "market", "qty": "1.00000", "tif": "IOC"}
    gtd = OrderForm("BTC/USDT", type="limit", tif="GTD", qty="1", price="100", expiry="90s", post_only=True, display_qty="0.25")
    cmd = build(gtd, BTC, 5_000, "x", account="me").cmd
    assert cmd["expire_ts"] == 5_000 + 90 * 10**9 and cmd["post_only"] is True and cmd["display_qty"] == "0.25000"
    assert cmd["account"] == "me"
    ioc = OrderForm("BTC/USDT", type="limit", tif="IOC", qty="1", price="100", post_only=True, display_qty="0.5")
    cmd = build(ioc, BTC, 0, "x").cmd
    assert "post_only" not in cmd and "display_qty" not in cmd  # neither applies to an IOC
    big = OrderForm("BTC/USDT", qty="1", price="100", display_qty="1")
    assert build(big, BTC, 0, "x").errors == ["display_qty must be below qty (the iceberg's visible part)"]


def test_durations_trails_and_presets():
    assert parse_duration("2h") == 7200 * 10**9 and parse_duration(" 30s ") == 30 * 10**9
    with pytest.raises(ValueError, match="expiry '0m' must be a duration such as 30s, 5m, 2h or 1d"):
        parse_duration("0m")
    assert check_trail("25") == "25" and check_trail("1.5%") == "1.5%"
    for bad in ("0", "2.5", "100%", "0.00001%", "x"):
        with pytest.raises(ValueError, match="must be whole ticks"):
            check_trail(bad)
    avail = {"USDT": "1000.00000000", "BTC": "0.30000000"}
    assert preset_qty(50, "buy", BTC, avail, "30000.00") == "0.01666"  # 500 / 30000 = 0.016666.. down
    assert preset_qty(100, "sell", BTC, avail, None) == "0.30000"
    assert preset_qty(10, "buy", BTC, avail, None) is None  # no price to size a buy
    assert preset_qty(10, "sell", BTC, {"BTC": "0.00001"}, None) is None  # below one lot
