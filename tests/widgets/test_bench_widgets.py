"""``tickdesk bench widgets`` as a user runs it (a real subprocess)."""

from __future__ import annotations

import json


def test_bench_widgets_json(run_cli):
    code, out, err = run_cli("bench", "widgets", "--frames", "3", "--warmup", "20", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert list(data["widgets"]) == ["ladder", "tape", "candles_1s", "depth", "ticker"]
    for name, r in data["widgets"].items():
        w, h = map(int, r["size"].split("x"))
        assert r["lines"] == h, name
        assert 0 < r["frame_median_ms"] <= r["frame_max_ms"], name
        assert abs(r["per_line_us"] - r["frame_median_ms"] * 1000 / h) <= 0.5 / h + 0.05, name  # both rounded
    assert err.startswith("bench widgets: seed 1, 20 warm-up steps, 3 frames per widget")


def test_bench_widgets_bad_input_is_one_line(run_cli):
    code, out, err = run_cli("bench", "widgets", "--frames", "0")
    assert code != 0 and out == ""
    assert err.strip() == "tickdesk: error: --seed must be >= 0, --warmup at least 10 and --frames 1..10000, got 1, 3000 and 0"
