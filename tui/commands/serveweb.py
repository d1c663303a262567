"""``tickdesk serve-web``: the workstation in a browser, through textual-serve.

textual-serve starts one ``tickdesk`` process per browser tab and speaks its own protocol over
a websocket; it has NO authentication. So it binds to loopback by default, and a non-loopback
``--host`` is refused unless ``--i-know-there-is-no-auth`` is given (then a warning is printed).
To reach it from another machine, tunnel: ``ssh -L 8000:127.0.0.1:8000 HOST`` and open
http://127.0.0.1:8000.
"""

from __future__ import annotations

import ipaddress
import shlex
import sys
from typing import Annotated, Optional

import typer

from tui.cli import app, fail

NO_AUTH_FLAG = "--i-know-there-is-no-auth"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def app_command(config: str | None, source: str) -> str:
    """The command each browser tab runs: this same tickdesk on ``source``."""
    parts = [sys.executable, "-m", "tui.cli"]
    if config:
        parts += ["--config", config]
    parts += ["--source", source]
    return " ".join(shlex.quote(p) for p in parts)


@app.command("serve-web")
def serve_web(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to bind (loopback unless you accept no auth).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    source: Annotated[
        Optional[str], typer.Option("--source", metavar="SPEC", help="Market source (default: the config's ui.source).", show_default=False)
    ] = None,
    no_auth_ok: Annotated[
        bool, typer.Option(NO_AUTH_FLAG, help="Allow a non-loopback --host although anyone who reaches it can trade.")
    ] = False,
) -> None:
    """Serve the workstation to a web browser (textual-serve); one app process per tab."""
    from tui.commands.root import get_settings
    from tui.sources.base import parse_spec

    settings = get_settings(ctx)
    spec = source or settings.ui.source
    try:
        parse_spec(spec)
    except ValueError as exc:
        fail(str(exc))
    if not is_loopback(host):
        if not no_auth_ok:
            fail(
                f"refusing to serve on {host}: textual-serve has no authentication, anyone who reaches it "
                f"can trade; bind to 127.0.0.1 and tunnel (ssh -L {port}:127.0.0.1:{port} HOST), or pass {NO_AUTH_FLAG}"
            )
        print(
            f"tickdesk: WARNING: serving on {host}:{port} WITHOUT authentication: anyone who can reach it "
            "controls your workstation",
            file=sys.stderr,
        )
    from textual_serve.server import Server

    config = ctx.find_root().params.get("config")
    command = app_command(str(config) if config else None, spec)
    print(f"tickdesk: serving http://{host}:{port} (each tab runs: {command}); Ctrl+C to stop", file=sys.stderr)
    Server(command, host=host, port=port, title="tickdesk").serve()
