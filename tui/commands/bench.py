"""``tickdesk bench matching``: the engine's book against a plain reference, in one process.

Figures only: the work and the checks live in ``core.bench`` (the trade tapes must match or
the command fails). Progress goes to stderr; ``--json`` prints one object on stdout.
"""

from __future__ import annotations

from typing import Annotated

import typer

from tui.cli import bench_app, emit_json, fail


def _log(message: str) -> None:
    typer.echo(f"bench: {message}", err=True)


@bench_app.command("matching")
def bench_matching(
    ops: Annotated[int, typer.Option("--ops", help="Number of ops in the flow (limit, market, cancel).")] = 200_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the deterministic flow.")] = 1,
    rounds: Annotated[int, typer.Option("--rounds", help="Timed rounds per implementation (alternating).")] = 3,
    full_ops: Annotated[
        int | None,
        typer.Option("--full-ops", help="Ops of the same flow run through the full engine path "
                     "(default: all of them; 0 skips the full path)."),
    ] = None,
    full_rounds: Annotated[int, typer.Option("--full-rounds", help="Passes of each full-path configuration.")] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Busy-venue flow through the engine's book and a SortedDict/deque reference; same tapes or fail."""
    if ops < 1:
        fail(f"--ops must be at least 1, got {ops}")
    if ops > 50_000_000:
        fail(f"--ops {ops} is too large (at most 50000000)")
    if rounds < 1 or rounds > 50:
        fail(f"--rounds must be between 1 and 50, got {rounds}")
    if full_ops is not None and full_ops < 0:
        fail(f"--full-ops must be 0 or more, got {full_ops}")
    if full_rounds < 1 or full_rounds > 20:
        fail(f"--full-rounds must be between 1 and 20, got {full_rounds}")

    from core.bench.matching import TapeMismatch, run_benchmark

    try:
        report = run_benchmark(
            ops=ops, seed=seed, rounds=rounds, full_ops=full_ops, full_rounds=full_rounds, log=_log
        )
    except TapeMismatch as exc:
        fail(f"engine and reference disagree: {exc}", code=1)
    if as_json:
        emit_json(report)
        return
    typer.echo(render(report))


def render(r: dict) -> str:
    """A small aligned table for humans."""
    mix = r["mix"]
    lines = [
        f"bench matching: {r['ops']:,} ops (seed {r['seed']}): {mix['limit']:,} limit "
        f"({mix['limit_marketable']:,} priced through the mid), {mix['market']:,} market, "
        f"{mix['cancel']:,} cancel ({mix['cancel_live']:,} hit a live order); "
        f"{r['trades']:,} trades, tapes equal: {'yes' if r['tapes_equal'] else 'NO'}",
        "",
        f"{'':30s}{'ops/s':>11s}{'p50 us':>9s}{'p99 us':>9s}{'p99.9 us':>10s}   repeatable p50/p99/p99.9 us",
    ]

    def row(name: str, d: dict) -> str:
        text = f"{name:30s}{d['ops_per_s']:>11,}{d['p50_us']:>9.2f}{d['p99_us']:>9.2f}{d['p999_us']:>10.2f}"
        rep = d.get("repeatable")
        if rep:
            text += f"   {rep['p50_us']:.2f} / {rep['p99_us']:.2f} / {rep['p999_us']:.2f}"
        return text

    lines.append(row("engine book (pure matching)", r["engine"]))
    lines.append(row("reference (SortedDict+deque)", r["reference"]))
    lines.append(f"{'ratio engine/reference':30s}{r['ratio']:>10.2f}x   (best whole runs: {r['ratio_wall']:.2f}x)")
    fp = r.get("full_path")
    if fp:
        label = "full path, journal on" if fp["journal"] else "full path, NO journal"
        lines.append(row(label, fp))
        if fp.get("without_journal"):
            lines.append(row("full path, no journal", fp["without_journal"]))
    nf = r["noise_floor"]
    lines.append(f"{'noise floor (fixed work)':30s}{'':>11s}{nf['p50_us']:>9.2f}{nf['p99_us']:>9.2f}{nf['p999_us']:>10.2f}")
    lines.append("")
    lines.append(
        f"timer overhead {r['timer_overhead_ns']} ns per op (included in latencies); {r['rounds']} rounds, "
        f"gc disabled in timed loops; Python {r['python']}, {r['cores']} cores, "
        f"load {r['loadavg_1m']['before']}->{r['loadavg_1m']['after']}"
    )
    if fp and not fp["journal"]:
        lines.append(fp.get("journal_note", "journal off"))
    return "\n".join(lines)
