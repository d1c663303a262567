"""``tickdesk bench widgets``: what one pump tick costs each trade-screen widget.

The work lives in ``tui.widgets.bench`` (imported, with textual, only when the command runs).
Progress on stderr; ``--json`` prints one object on stdout.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tui.cli import bench_app, fail


@bench_app.command("widgets")
def bench_widgets(
    seed: Annotated[int, typer.Option("--seed", help="Simulated market seed.")] = 1,
    warmup: Annotated[int, typer.Option("--warmup", help="Market steps (100 ms each) before measuring.")] = 3000,
    frames: Annotated[int, typer.Option("--frames", help="Frames timed per widget (one market step each).")] = 60,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Ladder, tape, candles, depth, ticker: show(view) and full-frame render times (medians)."""
    if seed < 0 or warmup < 10 or not 1 <= frames <= 10_000:
        fail(f"--seed must be >= 0, --warmup at least 10 and --frames 1..10000, got {seed}, {warmup} and {frames}")
    typer.echo(f"bench widgets: seed {seed}, {warmup} warm-up steps, {frames} frames per widget…", err=True)
    from tui.widgets.bench import run

    out = run(seed, warmup, frames)
    if as_json:
        import orjson

        sys.stdout.write(orjson.dumps(out).decode() + "\n")
        return
    typer.echo(f"{'widget':12} {'size':>8} {'show ms':>9} {'frame ms':>9} {'max ms':>8} {'us/line':>8}")
    for name, r in out["widgets"].items():
        typer.echo(f"{name:12} {r['size']:>8} {r['show_median_ms']:>9.3f} {r['frame_median_ms']:>9.3f} "
                   f"{r['frame_max_ms']:>8.3f} {r['per_line_us']:>8.1f}")
