"""LineCache: rows are built once per key, recent keys are found again, the cache stays bounded."""

from __future__ import annotations

from textual.strip import Strip

from tui.widgets.common import LineCache, line_regions


def test_a_key_is_built_once_and_the_cache_stays_within_two_generations():
    built: list[tuple] = []

    def build(key: tuple) -> Strip:
        built.append(key)
        return Strip.blank(4)

    cache = LineCache(build, limit=8)
    first = cache.strip(0, ("a",))
    assert cache.strip(1, ("a",)) is first and built == [("a",)]
    for i in range(100):  # a tape: every print is a new key
        cache.strip(i % 5, ("print", i))
        assert len(cache) <= 16
    # The rows painted last are still there (no rebuild), the long-gone ones are not.
    before = len(built)
    for i in range(95, 100):
        cache.strip(i % 5, ("print", i))
    assert len(built) == before
    cache.strip(0, ("print", 0))
    assert built[-1] == ("print", 0)


def test_line_regions_are_runs_of_consecutive_rows():
    regions = line_regions([0, 1, 2, 5, 7, 8], 10)
    assert [(r.y, r.height, r.width) for r in regions] == [(0, 3, 10), (5, 1, 10), (7, 2, 10)]
