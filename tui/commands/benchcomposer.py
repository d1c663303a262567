"""``tickdesk bench composer``: edit-to-chart latency of the composer's live preview.

The work lives in ``tui.composer.bench`` (imported, with textual, only when the command runs).
Progress on stderr; ``--json`` prints one object on stdout.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from tui.cli import bench_app, fail

DEFAULT_FILE = "andresciancio_binance_spot_BTC_USDT-1m_2023-03-16_2023-05-01.json.gz"


@bench_app.command("composer")
def bench_composer(
    ctx: typer.Context,
    data: Annotated[Path | None, typer.Option("--data", help="Candle file (default: the shared BTC/USDT 1m file).")] = None,
    bars: Annotated[int, typer.Option("--bars", help="Bars to preview (the first N of the file).")] = 50_000,
    edits: Annotated[int, typer.Option("--edits", help="Edits to time (median and max reported).")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Composer preview: sma_cross on N bars, a parameter edited with keys; evaluation and edit-to-chart times."""
    from tui.commands.root import get_settings

    if bars < 100 or edits < 1 or edits > 100:
        fail(f"--bars must be at least 100 and --edits 1..100, got {bars} and {edits}")
    source = data or Path(__file__).resolve().parents[2].parent / "shared" / "data" / "klines" / DEFAULT_FILE
    if not source.is_file():
        fail(f"data file {source} does not exist")
    settings = get_settings(ctx)
    typer.echo(f"bench composer: {bars:,} bars from {source.name}, {edits} edits…", err=True)
    from tui.composer.bench import run

    out = run(settings, source, bars, edits)
    if as_json:
        import orjson

        sys.stdout.write(orjson.dumps(out).decode() + "\n")
        return
    typer.echo(f"composer preview, {out['template']} on {out['bars']:,} bars, {out['edits']} edits by keys:")
    typer.echo(f"  evaluation (thread worker)   median {out['eval_median_s'] * 1000:8.1f} ms   max {out['eval_max_s'] * 1000:8.1f} ms")
    typer.echo(f"  edit -> chart repainted      median {out['edit_to_chart_median_s'] * 1000:8.1f} ms   max "
               f"{out['edit_to_chart_max_s'] * 1000:8.1f} ms   (includes the {out['debounce_s'] * 1000:.0f} ms debounce)")
