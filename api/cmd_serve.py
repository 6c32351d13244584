"""``caseledger serve`` (registered in api/cli.py); the server itself is api/serve.py.

Exit codes: 0 after a clean shutdown, 2 usage or connection error (no ledger, a port in use, no
``--public-url``/``--allowed-host`` off loopback).
"""

from __future__ import annotations

from typing import Any

import click

from api.clikit import db_option, examples, finite, run


@click.command("serve", epilog=examples(
    "caseledger serve --db caseledger.db",
    "caseledger serve --db postgresql+psycopg://caseledger@db/caseledger --host 0.0.0.0 --workers 4 "
    "--public-url https://ledger.example.gov.cn",
    "caseledger serve --port 8001 --checkpoint-every 600"))
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="interface to listen on")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="TCP port")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="uvicorn worker processes (use PostgreSQL for more than 1)")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
@click.option("--public-url", default=None, metavar="URL",
              help="absolute base URL put into QR codes and links (required unless --allowed-host is given or "
                   "the server listens on loopback only)")
@click.option("--allowed-host", multiple=True, metavar="NAME",
              help="a Host name requests may carry (repeatable); others get 400. Default on loopback: "
                   "127.0.0.1, localhost, ::1")
@click.option("--checkpoint-every", type=click.FloatRange(min=0), default=0.0, callback=finite, metavar="SECONDS",
              help="sign a checkpoint every SECONDS when the log has grown (needs the master secret; 0: off)")
def serve(**params: Any) -> int:
    """Serve the HTTP API and the public pages (uvicorn)."""
    params["allowed_host"] = list(params["allowed_host"]) or None
    return run("api.serve:cmd_serve", ledger="read", **params)


def register(cli: click.Group) -> None:
    cli.add_command(serve)
