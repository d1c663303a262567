"""Conditional orders, triggered by the last trade price (never by quotes).

* stop (market/limit): a buy fires when last >= stop_price, a sell when last <= stop_price.
* take profit (market/limit): the other way round (a sell fires when last >= stop_price).
* trailing_stop_market: the trigger follows the best price seen since acceptance (the highest
  trade for a sell, the lowest for a buy) at ``trail`` ticks, or ``trail`` percent of it.
On firing: a ``triggered`` event, then the order works as a market (or limit) order.

``trade(px)`` makes a trade at px between two bystanders (c buys from b) to move the last price.
"""

from __future__ import annotations

from .simkit import LIST_XYZ, assert_events, buy, ev, fund, new, sell

SETUP = [LIST_XYZ, *fund("a", "b", "c", "d")]
_n = iter(range(10**6))


def trade(px: str, buyer_first: bool = True) -> list[dict]:
    """Two commands that print one trade of 1 at ``px`` (resting buyer c, aggressive seller b)."""
    k = next(_n)
    if buyer_first:
        return [buy(f"pb{k}", "c", "1", px), sell(f"ps{k}", "b", "1", px)]
    return [sell(f"ps{k}", "c", "1", px), buy(f"pb{k}", "b", "1", px)]


def test_stop_market_sell_fires_on_the_last_trade_price(sim):
    j = [*SETUP, *trade("100"), new("st", "a", "sell", "2", type="stop_market", stop_price="95")]
    j += [buy("bid94", "d", "3", "94")]  # a lower bid: quotes never trigger
    j += [*trade("96"), *trade("95")]
    r = sim(j)
    assert_events(r.of("st"), [ev("accepted", id="st", type="stop_market", stop_price="95", tif="IOC")])
    assert_events(r.of("bid94"), [ev("accepted", id="bid94")])
    assert [e["event"] for e in r.of(j[-3])] == ["accepted", "trade"]  # 96 > 95: nothing
    assert_events(
        r.of(j[-1]),
        [
            ev("accepted"),
            ev("trade", price="95", qty="1"),
            ev("triggered", id="st", stop_price="95", last_price="95"),
            ev("trade", price="94", qty="2", maker_id="bid94", taker_id="st", taker_side="sell"),
        ],
    )
    assert r.book() == {"bids": [["94", "1", 1]], "asks": []}
    assert "st" not in r.open_ids()


def test_pending_stop_is_listed_and_cancelable(sim):
    j = [*SETUP, *trade("100"), new("st", "a", "sell", "2", type="stop_market", stop_price="95")]
    r1 = sim(j)
    assert r1.open_order("st")["status"] == "pending"
    assert r1.book() == {"bids": [], "asks": []}  # a pending stop is not in the book
    assert r1.balance("a", "XYZ") == ("9998.00000000", "2.00000000")  # its 2 XYZ are held
    r2 = sim([*j, {"op": "cancel", "id": "st"}])
    assert_events(r2.of(len(j) + 1), [ev("canceled", id="st", leaves_qty="2")])
    assert r2.open_ids() == []
    assert r2.balance("a", "XYZ") == ("10000.00000000", "0.00000000")


def test_stop_limit_buy_fires_and_rests_at_its_limit(sim):
    j = [*SETUP, *trade("100"), new("sl", "a", "buy", "2", "106", type="stop_limit", stop_price="105")]
    j += [sell("a105", "b", "1", "105"), sell("a107", "b", "5", "107"), buy("x", "c", "1", "105")]
    r = sim(j)
    # x trades 1 @105 -> last 105 >= 105 fires sl: a limit buy 2 @106 finds only 107 and rests.
    assert_events(
        r.of("x"),
        [
            ev("accepted", id="x"),
            ev("trade", price="105", qty="1", maker_id="a105", taker_id="x"),
            ev("triggered", id="sl", stop_price="105", last_price="105"),
        ],
    )
    assert r.book() == {"bids": [["106", "2", 1]], "asks": [["107", "5", 1]]}
    assert r.open_order("sl")["price"] == "106"
    assert r.open_order("sl")["status"] == "resting"
    # It holds 2 x 106 = 212 USD as a resting limit buy.
    assert r.balance("a", "USD")[1] == "212.00000000"


def test_stop_buy_does_not_fire_below_its_stop(sim):
    j = [*SETUP, *trade("100"), new("sl", "a", "buy", "2", "106", type="stop_limit", stop_price="105"), *trade("104")]
    r = sim(j)
    assert "triggered" not in [e["event"] for e in r.main()]
    assert r.open_order("sl")["status"] == "pending"


def test_take_profit_market_sell_fires_when_price_rises_to_it(sim):
    j = [*SETUP, *trade("100"), new("tp", "a", "sell", "2", type="take_profit_market", stop_price="110")]
    j += [buy("bid108", "d", "5", "108"), sell("a110", "b", "1", "110"), buy("x", "c", "1", "110")]
    r = sim(j)
    assert_events(
        r.of("x"),
        [
            ev("accepted", id="x"),
            ev("trade", price="110", qty="1", maker_id="a110", taker_id="x"),
            ev("triggered", id="tp", stop_price="110", last_price="110"),
            ev("trade", price="108", qty="2", maker_id="bid108", taker_id="tp", taker_side="sell"),
        ],
    )
    assert r.book() == {"bids": [["108", "3", 1]], "asks": []}


def test_take_profit_limit_buy_fires_when_price_falls_to_it(sim):
    j = [*SETUP, *trade("100"), new("tpl", "a", "buy", "3", "91", type="take_profit_limit", stop_price="90")]
    j += [sell("ask91", "b", "2", "91"), buy("bid90", "c", "1", "90"), sell("x", "d", "1", "90")]
    r = sim(j)
    # x trades 1 @90 -> last 90 <= 90 fires tpl: a limit buy 3 @91 takes ask91's 2, rests 1.
    assert_events(
        r.of("x"),
        [
            ev("accepted", id="x"),
            ev("trade", price="90", qty="1", maker_id="bid90", taker_id="x"),
            ev("triggered", id="tpl", stop_price="90", last_price="90"),
            ev("trade", price="91", qty="2", maker_id="ask91", taker_id="tpl", taker_side="buy"),
        ],
    )
    assert r.book() == {"bids": [["91", "1", 1]], "asks": []}


def test_take_profit_sell_does_not_fire_on_a_fall(sim):
    j = [*SETUP, *trade("100"), new("tp", "a", "sell", "2", type="take_profit_market", stop_price="110"), *trade("90")]
    r = sim(j)
    assert "triggered" not in [e["event"] for e in r.main()]


def test_trailing_stop_sell_in_ticks_follows_the_high_then_fires(sim):
    j = [*SETUP, *trade("100"), new("tr", "a", "sell", "2", type="trailing_stop_market", trail="5")]
    j += [buy("bid90", "d", "5", "90")]
    j += trade("103")  # high 103 -> trigger 98
    j += trade("99")  # 99 > 98: no (a trigger left at 100 - 5 = 95 would not fire either)
    j += trade("98")  # 98 <= 98: fires
    r = sim(j)
    assert_events(r.of("tr"), [ev("accepted", id="tr", type="trailing_stop_market", trail="5")])
    triggered = [e for e in r.main() if e["event"] == "triggered"]
    assert len(triggered) == 1
    assert_events(
        r.of(j[-1]),
        [
            ev("accepted"),
            ev("trade", price="98", qty="1"),
            ev("triggered", id="tr", stop_price="98", last_price="98"),
            ev("trade", price="90", qty="2", maker_id="bid90", taker_id="tr", taker_side="sell"),
        ],
    )


def test_trailing_stop_sell_in_percent(sim):
    j = [*SETUP, *trade("300"), new("tr", "a", "sell", "2", type="trailing_stop_market", trail="1%")]
    j += [buy("bid200", "d", "5", "200")]
    j += trade("400")  # high 400 -> 1% = 4 ticks -> trigger 396
    j += trade("397")  # no (with the offset of the old anchor, 400 - 3 = 397, it would fire here)
    j += trade("396")  # fires
    r = sim(j)
    assert_events(r.of("tr"), [ev("accepted", id="tr", trail="1%")])
    assert [e["event"] for e in r.of(j[-3])] == ["accepted", "trade"]
    assert_events(
        r.of(j[-1]),
        [
            ev("accepted"),
            ev("trade", price="396", qty="1"),
            ev("triggered", id="tr", stop_price="396", last_price="396"),
            ev("trade", price="200", qty="2", maker_id="bid200", taker_id="tr"),
        ],
    )


def test_trailing_stop_buy_in_ticks_follows_the_low_then_fires(sim):
    j = [*SETUP, *trade("100"), new("tr", "a", "buy", "2", type="trailing_stop_market", trail="5")]
    j += [sell("ask120", "d", "5", "120")]
    j += trade("90")  # low 90 -> trigger 95
    j += trade("94")  # 94 < 95: no (a trigger left at 100 + 5 = 105 would not fire either)
    j += trade("95")  # fires
    r = sim(j)
    assert [e["event"] for e in r.of(j[-3])] == ["accepted", "trade"]
    assert_events(
        r.of(j[-1]),
        [
            ev("accepted"),
            ev("trade", price="95", qty="1"),
            ev("triggered", id="tr", stop_price="95", last_price="95"),
            ev("trade", price="120", qty="2", maker_id="ask120", taker_id="tr", taker_side="buy"),
        ],
    )


def test_triggered_orders_cascade(sim):
    j = [*SETUP, *trade("100")]
    j += [new("st1", "a", "sell", "2", type="stop_market", stop_price="95")]
    j += [new("st2", "d", "sell", "2", type="stop_market", stop_price="94")]
    j += [buy("b94", "c", "2", "94"), buy("b92", "c", "5", "92")]
    j += trade("95")
    r = sim(j)
    # 95 fires st1, which prints 94, which fires st2, which prints 92.
    assert_events(
        r.of(j[-1]),
        [
            ev("accepted"),
            ev("trade", price="95", qty="1"),
            ev("triggered", id="st1", stop_price="95", last_price="95"),
            ev("trade", price="94", qty="2", maker_id="b94", taker_id="st1"),
            ev("triggered", id="st2", stop_price="94", last_price="94"),
            ev("trade", price="92", qty="2", maker_id="b92", taker_id="st2"),
        ],
    )


def test_pending_stop_limit_gtd_expires(sim):
    j = [*SETUP, {**new("sl", "a", "buy", "2", "106", type="stop_limit", stop_price="105", tif="GTD", expire_ts=5000), "ts": 100}]
    j += [{"op": "time", "ts": 5000}]
    r = sim(j)
    assert_events(r.of(j[-1]), [ev("expired", id="sl", leaves_qty="2", reason="GTD")])
    assert r.open_ids() == []
    assert r.balance("a", "USD") == ("1000000.00000000", "0.00000000")


def test_trailing_stop_accepted_before_any_trade_anchors_on_the_first(sim):
    j = [*SETUP, new("tr", "a", "sell", "2", type="trailing_stop_market", trail="5"), buy("bid80", "d", "5", "80")]
    j += trade("100")  # first trade: anchor 100, trigger 95
    j += trade("95")
    r = sim(j)
    assert_events(
        r.of(j[-1]),
        [
            ev("accepted"),
            ev("trade", price="95"),
            ev("triggered", id="tr", stop_price="95", last_price="95"),
            ev("trade", price="80", qty="2", maker_id="bid80", taker_id="tr"),
        ],
    )
