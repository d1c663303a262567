"""core.preview.estimate on hand-computed books (exact figures worked out in the comments)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.instruments import default_instruments
from core.preview import estimate, preview_for
from tests.marketviews import hand_view

TICK, LOT = Decimal("0.01"), Decimal("0.001")
# bids 99.98 x 2.000, 99.95 x 1.000 ; asks 100.02 x 1.500, 100.05 x 2.000, 100.10 x 0.500
BIDS = [(9998, 2000), (9995, 1000)]
ASKS = [(10002, 1500), (10005, 2000), (10010, 500)]


def test_market_buy_walks_three_levels():
    # 3.000: 1.5 @ 100.02 + 1.5 @ 100.05 = 150.03 + 150.075 = 300.105 ; avg 100.035
    # mid = (99.98 + 100.02) / 2 = 100.00 ; slippage = 3.5 bps ; fee 0.1% = 0.300105
    p = estimate(BIDS, ASKS, "buy", 3000, None, "0.001", TICK, LOT)
    assert p.filled_lots == 3000 and p.filled_qty == "3.000"
    assert p.avg_price == "100.035"
    assert p.notional == "300.105"
    assert p.slippage_bps_vs_mid == "3.5"
    assert p.fee == "0.300105"
    assert p.fee_base == "0.003"  # a buy's fee is charged in the base asset: 3.000 x 0.001
    assert p.levels_used == 2 and not p.partial and p.stopped_by is None
    assert p.worst_price == "100.05" and p.mid == "100.0"


def test_limit_stops_the_walk_and_leaves_a_partial():
    # limit 100.04: only the 100.02 level (1.5) is at or under it
    p = estimate(BIDS, ASKS, "buy", 3000, 10004, "0.001", TICK, LOT)
    assert (p.filled_lots, p.partial, p.stopped_by, p.levels_used) == (1500, True, "limit", 1)
    assert p.avg_price == "100.02" and p.notional == "150.03"
    assert p.slippage_bps_vs_mid == "2.0"


def test_book_running_out_is_partial():
    # buy 5.000: all 4.0 visible: 150.03 + 200.10 + 50.05 = 400.18 ; avg 100.045
    p = estimate(BIDS, ASKS, "buy", 5000, None, "0.001", TICK, LOT)
    assert (p.filled_lots, p.partial, p.stopped_by, p.levels_used) == (4000, True, "book", 3)
    assert p.notional == "400.18" and p.avg_price == "100.045"


def test_market_sell_slippage_is_positive_when_worse_than_mid():
    # sell 2.500: 2 @ 99.98 + 0.5 @ 99.95 = 199.96 + 49.975 = 249.935 ; avg 99.974
    # slippage = (100.00 - 99.974) / 100.00 = 2.6 bps ; fee 0.00075 x 249.935 = 0.18745125
    p = estimate(BIDS, ASKS, "sell", 2500, None, "0.00075", TICK, LOT)
    assert p.avg_price == "99.974" and p.notional == "249.935"
    assert p.slippage_bps_vs_mid == "2.6"
    assert p.fee == "0.18745125" and p.fee_base is None


def test_repeating_average_is_rounded_half_even_not_floated():
    # 1 @ 10002 + 1 @ 10005 + 1 @ 10010 = 30017 / 3 = 10005.666.. ticks -> 100.056667 (4 extra places)
    asks = [(10002, 1), (10005, 1), (10010, 1)]
    p = estimate(BIDS, asks, "buy", 3, None, "0", TICK, LOT)
    assert p.avg_price == "100.056667"
    assert p.fee == "0.0"


def test_nothing_fills_and_bad_input():
    p = estimate(BIDS, ASKS, "buy", 1000, 10000, "0.001", TICK, LOT)  # limit under the best ask
    assert (p.filled_lots, p.avg_price, p.slippage_bps_vs_mid, p.stopped_by) == (0, None, None, "limit")
    p = estimate(BIDS, [], "buy", 1000, None, "0.001", TICK, LOT)
    assert (p.filled_lots, p.stopped_by, p.mid) == (0, "book", None)
    with pytest.raises(ValueError, match="side must be buy or sell"):
        estimate(BIDS, ASKS, "long", 1, None, "0.001")
    with pytest.raises(ValueError, match="qty_lots must be positive"):
        estimate(BIDS, ASKS, "buy", 0, None, "0.001")


def test_preview_for_a_market_view_uses_the_instrument_grid():
    ins = default_instruments()["BTC/USDT"]
    view = hand_view(bids=[("30000.00", "0.50000")], asks=[("30000.10", "0.20000"), ("30001.00", "1.00000")])
    # buy 0.3: 0.2 @ 30000.10 + 0.1 @ 30001.00 = 6000.02 + 3000.10 = 9000.12 ; avg 30000.40
    p = preview_for(view, ins, "buy", 30000, None, "0.001")
    assert p.notional == "9000.12" and p.avg_price == "30000.4"
    # mid 30000.05: (30000.40 - 30000.05) / 30000.05 x 1e4 = 0.11666.. bps
    assert p.slippage_bps_vs_mid == "0.12"
