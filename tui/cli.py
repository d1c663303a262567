"""The ``tickdesk`` command line (Typer).

Every command prints machine JSON on stdout with ``--json`` and sends logs and progress to
stderr. Bad input gives a one-line error and a non-zero exit. Heavy imports (textual, duckdb,
numpy) happen inside the commands that need them so ``tickdesk --help`` stays fast.
"""

from __future__ import annotations

import sys

import typer

app = typer.Typer(
    name="tickdesk",
    help="tickdesk: a terminal trading workstation over an exact matching simulator.",
    no_args_is_help=False,
    add_completion=True,
    pretty_exceptions_show_locals=False,
)
sim_app = typer.Typer(help="The matching simulator and the simulated market.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks that print their figures beside a reference.", no_args_is_help=True)
journal_app = typer.Typer(help="The engine's durable journal (DuckDB): state, export, verify.", no_args_is_help=True)
app.add_typer(sim_app, name="sim")
app.add_typer(bench_app, name="bench")
app.add_typer(journal_app, name="journal")


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error on stderr and exit non-zero."""
    typer.echo(f"tickdesk: error: {message}", err=True)
    raise typer.Exit(code)


def emit_json(obj: object, default=None) -> None:
    """One JSON document on stdout (the ``--json`` output of every command; logs go to stderr)."""
    import orjson

    sys.stdout.write(orjson.dumps(obj, default=default).decode() + "\n")


def main() -> None:
    """Console-script entry point.

    Usage errors (unknown option, bad value, missing argument) become one line on stderr and
    a non-zero exit (2), like every other bad input, instead of a multi-line usage box.
    """
    from typer.exceptions import Abort, TyperException

    from tui import commands  # noqa: F401  (registers the commands on ``app``)

    try:
        code = app(prog_name="tickdesk", standalone_mode=False)
    except TyperException as exc:
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            typer.echo(ctx.get_help())  # a command group called bare: its help
            raise SystemExit(0) from None
        where = f"{ctx.command_path}: " if ctx is not None else ""
        message = " ".join(exc.format_message().split())
        typer.echo(f"tickdesk: error: {where}{message}", err=True)
        raise SystemExit(getattr(exc, "exit_code", 2) or 2) from None
    except Abort:
        typer.echo("tickdesk: aborted", err=True)
        raise SystemExit(130) from None
    raise SystemExit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    # ``python -m tui.cli``: commands register on the importable ``tui.cli.app``, not on this
    # ``__main__`` copy of the module, so run the real module's entry point.
    from tui.cli import main as _main

    sys.exit(_main())
