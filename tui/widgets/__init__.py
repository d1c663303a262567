"""Trade-screen widgets (Line API): ladder, tape, candles, depth, ticker.

Each widget takes its data through ``show(...)`` (assign, then refresh) from the UI pump; none
of them subscribes to market data or receives a message per tick. Colours come only from the
theme variables (``$bid``, ``$ask``, ``$flash-up``...) through component classes.
"""
