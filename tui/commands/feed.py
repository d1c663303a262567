"""``tickdesk feed ...``: market-data feeds (replay of recordings) and ``tickdesk bench feed``.

``feed replay FILE...`` runs recorded raw frames through the same parsers and book sync as a
live feed (:class:`feeds.session.FeedSession`) and prints per-symbol health. Files are read
together, merged by local receive time (a recording split over several files, such as the two
BTCUSDT 2024 files, continues from one file into the next); cryptofeed ``NAME.ws.*`` files
bring their ``NAME.http.*`` and ``NAME.<n>`` companions unless ``--no-companions``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from tui.cli import app, bench_app, emit_json, fail

feed_app = typer.Typer(help="Market-data feeds: run live consumers (or against the emulator), replay recordings, backfill klines.",
                       no_args_is_help=True)
app.add_typer(feed_app, name="feed")

_COLUMNS = ("events", "applied", "dropped", "gaps", "resyncs", "crossed", "top_checked", "top_mismatch",
            "checksum_ok", "checksum_bad")


def _log(message: str) -> None:
    typer.echo(f"feed: {message}", err=True)


@feed_app.command("replay")
def replay(
    files: Annotated[list[Path], typer.Argument(help="Recordings: tickdesk capture, hftbacktest or cryptofeed files.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    companions: Annotated[
        bool, typer.Option("--companions/--no-companions", help="Also read a cryptofeed file's .http/metadata siblings.")
    ] = True,
) -> None:
    """Replay recorded frames through the live parsers and book sync; per-symbol health."""
    from feeds.recordings import RecordingError, expand_paths, read_many, sniff_format
    from feeds.session import replay as run_replay

    for f in files:
        if not f.exists():
            fail(f"no such file: {f}")
        if not f.is_file():
            fail(f"not a file: {f}")
    paths = expand_paths(files, companions=companions)
    try:
        formats = {str(p): sniff_format(p) for p in paths}
    except (RecordingError, UnicodeDecodeError, OSError) as exc:
        fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    _log(f"replaying {len(paths)} file(s): " + ", ".join(f"{Path(p).name} ({fmt})" for p, fmt in formats.items()))
    t0 = time.perf_counter()
    try:
        session = run_replay(read_many(files, companions=companions))
    except (RecordingError, UnicodeDecodeError, OSError, EOFError) as exc:
        fail(f"reading the recording failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    seconds = time.perf_counter() - t0
    report = session.report()
    report["files"] = [{"path": p, "format": fmt} for p, fmt in formats.items()]
    report["seconds"] = round(seconds, 3)
    if as_json:
        emit_json(report)
        return
    typer.echo(render_replay(report))


def render_replay(r: dict) -> str:
    width = max([len(k) for k in r["symbols"]] + [6])
    head = f"{'symbol':{width}s} {'state':8s}" + "".join(f"{c:>13s}" for c in _COLUMNS)
    lines = [head]
    for key, d in r["symbols"].items():
        lines.append(f"{key:{width}s} {d['state']:8s}" + "".join(f"{d[c]:>13,}" for c in _COLUMNS))
    recs = r["records"]
    lines.append("")
    lines.append(f"{sum(v for k, v in recs.items() if k in ('ws', 'rest', 'sent', 'open', 'meta', 'close')):,} records "
                 f"({', '.join(f'{k} {v:,}' for k, v in recs.items())}) in {r['seconds']:.2f} s")
    for e in r.get("errors", [])[:5]:
        lines.append(f"parse error: {e}")
    return "\n".join(lines)


@bench_app.command("feed")
def bench_feed(
    data: Annotated[
        list[Path] | None,
        typer.Option("--data", help="Recording(s) with a Binance depth snapshot and depthUpdate frames "
                     "(default: ../shared/data/binance BTCUSDT 2024, both files)."),
    ] = None,
    rounds: Annotated[int, typer.Option("--rounds", help="Timed rounds per implementation (alternating).")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Binance depthUpdate parse + apply in exact ticks vs msgspec floats + SortedDict; books must match."""
    if rounds < 1 or rounds > 50:
        fail(f"--rounds must be between 1 and 50, got {rounds}")
    from feeds.bench import DEFAULT_FILES, BenchMismatch, run_benchmark

    if not data:
        root = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "binance"
        data = [root / f for f in DEFAULT_FILES]
        if not all(p.is_file() for p in data):
            fail(f"the default recording is not at {root} (pass --data FILE...)")
    for p in data:
        if not p.is_file():
            fail(f"no such file: {p}")
    try:
        report = run_benchmark(list(data), rounds=rounds, log=lambda m: typer.echo(f"bench: {m}", err=True))
    except BenchMismatch as exc:
        fail(f"tickdesk and the reference disagree: {exc}", code=1)
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        emit_json(report)
        return
    typer.echo(render_bench(report))


def render_bench(r: dict) -> str:
    w = r["workload"]
    lines = [
        f"bench feed: {w['frames']:,} depthUpdate frames of {w['symbol']} ({w['levels']:,} levels, "
        f"{w['levels_per_frame']} per frame), {w['rounds']} rounds; {w['tiling']}",
        f"grid: tick {w['grid']['tick']} lot {w['grid']['lot']} ({w['grid']['source']}); books equal: "
        f"{'yes' if r['books_equal'] else 'NO'}",
        "",
        f"{'':44s}{'msg/s':>10s}{'best':>10s}{'levels/s':>12s}{'us/msg':>9s}",
    ]

    def row(name: str, d: dict) -> str:
        return f"{name:44s}{d['msgs_per_s']:>10,}{d['msgs_per_s_best']:>10,}{d['levels_per_s']:>12,}{d['us_per_msg']:>9.2f}"

    lines.append(row(f"tickdesk (exact ticks, L2Book; {r.get('implementation', '?')})", r["tickdesk"]))
    lines.append(row("reference (msgspec floats + SortedDict)", r["reference"]))
    lines.append(row("tickdesk sync path (FeedSession)", r["sync_path"]))
    lines.append(row("decode only (orjson.loads, nothing else)", r["decode_only"]))
    lines.append(f"{'speedup tickdesk/reference':44s}{r['speedup']:>10.2f}x   (target {r['target_msgs_per_s']:,} msg/s)")
    env = r.get("environment")
    if env:
        lines.append(f"Python {env['python']}, {env['cores']} cores, load {env['loadavg_1m']['before']}->"
                     f"{env['loadavg_1m']['after']}, gc {env['gc']}")
    return "\n".join(lines)
