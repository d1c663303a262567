"""Ladder: fixed grid, columns, cumulative bars, own orders, flashes, cursor keys, grouping."""

from __future__ import annotations

import asyncio

from rich.color import blend_rgb

from tests.widgets.harness import Harness, advance, hand_view, sim_views
from tui.widgets.ladder import FLASH_S, Ladder


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def run(coro):
    return asyncio.run(coro)


BOOK = dict(
    bids=[("100.00", "0.50000"), ("99.98", "1.00000"), ("99.95", "2.50000")],
    asks=[("100.02", "0.25000"), ("100.03", "0.75000"), ("100.06", "3.00000")],
)


def rows_of(lad: Ladder) -> list[str]:
    return [lad.row_text(y) for y in range(lad.size.height)]


def test_rows_show_bid_price_ask_on_a_one_tick_grid_centred_on_the_mid():
    async def go():
        lad = Ladder(auto_group=False)
        async with Harness(lad).run_test(size=(44, 11)) as pilot:
            lad.show(hand_view(**BOOK))
            await pilot.pause()
            rows = rows_of(lad)
            # mid = (10000 + 10002) // 2 = 10001 ticks -> the middle row (5 of 11) is 100.01
            assert "100.01" in rows[5]
            # one row per tick, highest price on top
            keys = [lad._rows[y].key for y in range(11)]
            assert keys == list(range(10006, 9995, -1))
            # bid qty left of the price, ask qty right of it
            r_bid = rows[keys.index(10000)]
            assert r_bid.index("0.50000") < r_bid.index("100.00")
            r_ask = rows[keys.index(10003)]
            assert r_ask.index("100.03") < r_ask.index("0.75000")
            # an empty grid price between levels still has its row, without a quantity
            r_gap = rows[keys.index(9999)]
            assert r_gap.split() == ["99.99"] or r_gap.strip().endswith("99.99")
            assert "0." not in r_gap

    run(go())


def test_cumulative_depth_bars_in_eighths():
    async def go():
        lad = Ladder(auto_group=False)
        async with Harness(lad).run_test(size=(44, 11)) as pilot:
            lad.show(hand_view(**BOOK))
            await pilot.pause()
            qw, pw = lad._widths
            bar_w = 44 - (2 * qw + pw + 4)
            lw, rw = bar_w // 2, bar_w - bar_w // 2
            keys = [r.key for r in lad._rows]
            # largest cumulative depth on screen: asks 0.25+0.75+3 = 4.0 BTC = 400000 lots
            assert lad._bar_max == 400000
            # ask row 100.03: cumulative 1.0 of 4.0 -> rw*8/4 eighths
            row = lad._rows[keys.index(10003)]
            assert row.ask_cum == 100000
            text = lad.row_text(keys.index(10003))
            eighths = rw * 8 * 100000 // 400000
            full, part = divmod(eighths, 8)
            assert text.endswith("█" * full + (" ▏▎▍▌▋▊▉█"[part] if part else "") + " " * (rw - full - (1 if part else 0)))
            # the bid gap row 99.99 carries the cumulative depth of the levels above it (0.5)
            assert lad._rows[keys.index(9999)].bid_cum == 50000
            # spread rows have no bars
            assert lad._rows[keys.index(10001)].bid_cum == lad._rows[keys.index(10001)].ask_cum == 0

    run(go())


def test_grid_stays_fixed_while_the_book_changes_and_recentres_when_the_mid_leaves_the_band():
    async def go():
        lad = Ladder(auto_group=False)
        async with Harness(lad).run_test(size=(44, 21)) as pilot:
            lad.show(hand_view(**BOOK))
            await pilot.pause()
            before = [r.key for r in lad._rows]
            # a level vanishes, another appears, the mid moves by 2 ticks: same rows
            lad.show(hand_view(bids=[("100.02", "0.1"), ("99.98", "1")], asks=[("100.04", "0.2")], version=2))
            await pilot.pause()
            assert [r.key for r in lad._rows] == before
            # the mid jumps 20 ticks (beyond the middle half of 21 rows): recentred on it
            lad.show(hand_view(bids=[("100.20", "0.1")], asks=[("100.22", "0.2")], version=3))
            await pilot.pause()
            assert lad._rows[10].key == 10021

    run(go())


def test_own_orders_are_marked_on_their_side():
    async def go():
        lad = Ladder(auto_group=False)
        async with Harness(lad).run_test(size=(44, 11)) as pilot:
            lad.show(hand_view(**BOOK), own_orders={9998: 3, 10003: -2})
            await pilot.pause()
            keys = [r.key for r in lad._rows]
            bid_row = lad.row_text(keys.index(9998))
            ask_row = lad.row_text(keys.index(10003))
            assert "1.00000●" in bid_row
            assert "●0.75000" in ask_row
            assert "●" not in lad.row_text(keys.index(10000))

    run(go())


def test_changed_levels_flash_and_fade_on_the_clock():
    async def go():
        clock = FakeClock()
        lad = Ladder(auto_group=False, clock=clock)
        async with Harness(lad).run_test(size=(44, 11)) as pilot:
            lad.show(hand_view(**BOOK))
            await pilot.pause()
            keys = [r.key for r in lad._rows]
            y_up, y_down = keys.index(10000), keys.index(10003)
            up_bg = lad.get_component_rich_style("ladder--flash-up", partial=True).bgcolor
            base_bg = lad.rich_style.bgcolor
            assert lad._flash == {}  # the first snapshot does not flash everything
            changed = dict(BOOK, bids=[("100.00", "0.90000")] + BOOK["bids"][1:], asks=[("100.02", "0.25000"), ("100.03", "0.50000"), ("100.06", "3.00000")])
            lad.show(hand_view(**changed, version=2))

            def qty_bg(y: int, text: str):
                for seg in lad.render_line(y):
                    if seg.text.strip() == text:
                        return seg.style.bgcolor
                raise AssertionError(f"{text} not on row {y}")

            # full intensity right after the change: the flash colour itself
            assert qty_bg(y_up, "0.90000").get_truecolor() == up_bg.get_truecolor()
            assert lad._flash[("ask", 10003)][1] == -1  # smaller quantity: down colour
            # half-way: blended half-way into the background
            clock.t += FLASH_S * 0.5
            half = qty_bg(y_up, "0.90000").get_truecolor()
            assert half == blend_rgb(base_bg.get_truecolor(), up_bg.get_truecolor(), 0.5)
            # after the flash time, the timer's fade drops it
            clock.t += FLASH_S
            lad._fade()
            assert lad._flash == {}
            assert qty_bg(y_up, "0.90000").get_truecolor() == base_bg.get_truecolor()

    run(go())


def test_cursor_keys_home_and_grouping():
    async def go():
        lad = Ladder(auto_group=False)
        async with Harness(lad).run_test(size=(44, 11)) as pilot:
            lad.focus()
            lad.show(hand_view(**BOOK))
            await pilot.pause()
            assert lad.cursor_price == "100.01"  # starts on the mid
            await pilot.press("up", "up")
            assert lad.cursor_price == "100.03"
            await pilot.press("down")
            assert lad.cursor_price == "100.02"
            await pilot.press("pagedown")  # one page = height - 2 rows
            assert lad.cursor_price == "99.93"
            # the window followed the cursor out of view and stays put while browsing
            assert any(r.key == 9993 for r in lad._rows)
            lad.show(hand_view(**BOOK, version=2))
            assert any(r.key == 9993 for r in lad._rows)
            await pilot.press("home")
            assert lad.cursor_price == "100.01" and lad._rows[5].key == 10001
            await pilot.press("plus")  # 2 ticks per row
            assert lad.group == 2
            keys = [r.key for r in lad._rows]
            assert all(k % 2 == 0 for k in keys) and keys[0] - keys[1] == 2
            assert lad.cursor_price == "100.00"
            # grouped quantities: bids floor onto the step, asks ceil onto it
            assert lad._bids == {10000: 50000, 9998: 100000, 9994: 250000}
            assert lad._asks == {10002: 25000, 10004: 75000, 10006: 300000}
            await pilot.press("plus", "plus")
            assert lad.group == 10
            await pilot.press("minus")
            assert lad.group == 5

    run(go())


def test_live_sim_views_keep_rows_on_the_grid_and_a_full_frame_renders():
    async def go():
        state, market = sim_views(seed=3, steps=80)
        lad = Ladder()
        async with Harness(lad).run_test(size=(60, 30)) as pilot:
            for _ in range(5):
                view = state.view("BTC/USDT")
                lad.show(view)
                await pilot.pause()
                g = lad.group
                keys = [r.key for r in lad._rows]
                assert all(k % g == 0 for k in keys)
                assert [a - b for a, b in zip(keys, keys[1:])] == [g] * (len(keys) - 1)
                # every visible level's grouped quantity is on screen
                bb = view.bids[0].ticks // g * g
                row = lad.row_text(keys.index(bb))
                assert lad._grid.fmt_qty(lad._bids[bb]) in row
                advance(market, state, 10)

    run(go())


def test_a_theme_switch_recolours_on_the_next_paint():
    from textual.theme import Theme

    from tests.widgets.harness import TEST_THEME

    other = Theme(name="widget-test-2", primary="#000000", background="#ffffff", foreground="#000000", dark=False,
                  variables={**TEST_THEME.variables, "bid": "#0000ff"})

    async def go():
        lad = Ladder(auto_group=False)
        app = Harness(lad)
        app.register_theme(other)
        async with app.run_test(size=(44, 11)) as pilot:
            lad.show(hand_view(**BOOK))
            await pilot.pause()
            y = [r.key for r in lad._rows].index(10000)

            def bid_colour():
                seg = next(s for s in lad.render_line(y) if s.text.strip() == "0.50000")
                return seg.style.color.get_truecolor()

            assert bid_colour() == (0x2E, 0xCC, 0x71)
            app.theme = "widget-test-2"
            await pilot.pause()
            assert bid_colour() == (0, 0, 0xFF)

    run(go())


def test_a_level_sliding_past_the_view_depth_does_not_flash():
    async def go():
        clock = FakeClock()
        lad = Ladder(auto_group=False, clock=clock)
        async with Harness(lad).run_test(size=(44, 11)) as pilot:
            lad.show(hand_view(**BOOK))
            await pilot.pause()
            # a new best bid pushes the deepest (99.95) out of a depth-3 view: only 100.01 flashes
            deeper = dict(BOOK, bids=[("100.01", "0.10000")] + BOOK["bids"][:2])
            lad.show(hand_view(**deeper, version=2))
            assert set(lad._flash) == {("bid", 10001)}

    run(go())


def test_the_grouping_is_fitted_to_the_first_two_sided_book_not_an_empty_first_view():
    """A venue's first view can be empty; the automatic grouping waits for a spread (a wide
    one: 40 ticks on 12 rows needs 20 ticks a row to fit in a quarter of the rows)."""
    async def go():
        lad = Ladder()
        async with Harness(lad).run_test(size=(44, 12)) as pilot:
            lad.show(hand_view(bids=[], asks=[]))
            await pilot.pause()
            assert lad.group == 1
            lad.show(hand_view(bids=[("100.00", "1.00000")], asks=[("100.40", "1.00000")], version=2))
            await pilot.pause()
            assert lad.group == 20
            # later books never re-fit it, and the user's own choice sticks
            lad.set_group(5)
            lad.show(hand_view(bids=[("100.00", "1.00000")], asks=[("101.00", "1.00000")], version=3))
            await pilot.pause()
            assert lad.group == 5

    run(go())


def test_a_repaint_redraws_only_the_rows_that_changed():
    """The pump shows a view every tick: rows whose content did not change are not painted
    again, and a cursor move repaints just the row it left and the row it entered."""

    async def go():
        lad = Ladder(auto_group=False, clock=FakeClock())
        async with Harness(lad).run_test(size=(44, 11)) as pilot:
            lad.focus()
            lad.show(hand_view(**BOOK))
            await pilot.pause()
            painted: list[int] = []
            render_line = lad.render_line

            def counting(y: int):
                painted.append(y)
                return render_line(y)

            lad.render_line = counting  # Textual looks the method up on the instance
            lad.show(hand_view(**BOOK, version=2))  # same book again
            await pilot.pause()
            assert painted == []
            keys = [r.key for r in lad._rows]
            await pilot.press("up")
            assert sorted(painted) == sorted([keys.index(10001), keys.index(10002)])
            assert "100.02" in lad.row_text(keys.index(10002))
            painted.clear()
            # a changed quantity repaints its row; the empty spread row stays as painted
            more = dict(BOOK, asks=[("100.02", "0.25000"), ("100.03", "0.75000"), ("100.06", "3.50000")])
            lad.show(hand_view(**more, version=3))
            await pilot.pause()
            assert keys.index(10006) in painted
            assert keys.index(10001) not in painted

    run(go())
