"""Status bar: state changes show on the tick they are seen; the live figures (clock, age,
pump time) repaint at most every ``LIVE_EVERY`` ticks and show the worst figures since."""

from __future__ import annotations

import asyncio

from tests.widgets.harness import Harness
from tui.widgets.status_bar import LIVE_EVERY, StatusBar, format_clock


def _show(bar: StatusBar, *, state: str = "ACTIVE", clock_s: int = 0, age: float = 10.0, force: bool = False) -> None:
    bar.show(
        source="sim",
        health={"sim:BTC/USDT": {"state": "live"}},
        trading_state=state,
        fee_tier="VIP0",
        clock_ns=clock_s * 1_000_000_000,
        age_ms=age,
        pump_ms=1.0,
        force=force,
    )


def test_clock_formats_to_the_second():
    assert format_clock(65_300_000_000) == "T+00:01:05"
    assert format_clock(1_700_000_000_123_000_000) == "22:13:20 UTC"


def test_live_figures_wait_for_their_slot_and_state_changes_do_not():
    async def go():
        bar = StatusBar()
        async with Harness(bar).run_test(size=(120, 3)) as pilot:
            painted: list[str] = []  # the text at each repaint that changed it
            original = bar.refresh

            def refresh(*args, **kwargs):
                if not painted or painted[-1] != bar.text():
                    painted.append(bar.text())
                return original(*args, **kwargs)

            bar.refresh = refresh
            _show(bar, clock_s=1)
            assert painted[-1].endswith("T+00:00:01 │ age 10ms pump 1.0ms")
            # Only the clock and the age move: nothing repaints until LIVE_EVERY ticks passed,
            # and then the worst age of the window is shown.
            for tick in range(2, LIVE_EVERY + 1):
                _show(bar, clock_s=tick, age=300.0 if tick == 3 else 10.0)
                assert len(painted) == 1
            _show(bar, clock_s=LIVE_EVERY + 1)
            assert len(painted) == 2
            assert painted[-1].endswith(f"T+00:00:{LIVE_EVERY + 1:02d} │ age 300ms pump 1.0ms")
            # A halt shows at once, with the bar's halted style.
            _show(bar, state="HALTED", clock_s=LIVE_EVERY + 2)
            assert len(painted) == 3 and "HALTED" in painted[-1] and bar.has_class("-halted")
            # An explicit tick (tests, stepping a replay) draws the live figures now.
            _show(bar, state="HALTED", clock_s=LIVE_EVERY + 3, force=True)
            assert len(painted) == 4 and f"T+00:00:{LIVE_EVERY + 3:02d}" in painted[-1]
            await pilot.pause()

    asyncio.run(go())
