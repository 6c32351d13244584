"""``caseledger serve``: run the HTTP API and web pages under uvicorn.

With one worker the app is built here, from the parsed arguments. With several workers uvicorn
starts each in its own process and imports :func:`app_from_env`; the command line is handed to
them through ``CASELEDGER_*`` environment variables set here, explicitly, before uvicorn starts
(the only channel uvicorn offers to its worker processes).
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

EXIT_OK, EXIT_USAGE = 0, 2


def app_from_env() -> FastAPI:
    """The app for a uvicorn worker, from ``CASELEDGER_*`` variables (set by :func:`cmd_serve`).

    ``CASELEDGER_PROJECT``: ``elect`` (default: every worker offers to follow the log and one,
    elected by a database lock and woken by PostgreSQL ``NOTIFY``, does; ``projections/leader.py``),
    ``follow`` (every worker follows), ``off`` (a separate ``caseledger project --follow`` does it)
    or ``sync``.
    """
    from api.app import configure_logging, create_app, default_config  # noqa: PLC0415
    from api.bootstrap import bootstrap  # noqa: PLC0415
    from api.settings import Settings, environment  # noqa: PLC0415

    env = environment()
    configure_logging(env.log_level)
    public_url, hosts = host_settings(env.public_url, env.allowed_hosts)
    settings = Settings.from_env()
    container = bootstrap(settings)
    every = env.checkpoint_every
    cfg = default_config(container, public_base_url=public_url, allowed_hosts=hosts,
                         checkpoint_every=every or None,
                         project=env.project)
    return create_app(container, config=cfg)


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def host_settings(public_url: str | None, allowed_hosts: str | None) -> tuple[str | None, tuple[str, ...]]:
    """The checked public base URL and allowed ``Host`` names; at least one must be configured.

    Pages put an absolute URL into 行政行为码 QR codes. Taken from the request, it would be whatever
    ``Host`` a client sent, so a server must be told its public URL, or which hosts it serves.
    Raises ``UsageError`` otherwise, or for a public URL that is not an absolute http(s) URL.
    """
    from urllib.parse import urlsplit  # noqa: PLC0415

    from ledger.errors import UsageError  # noqa: PLC0415

    url = (public_url or "").strip() or None
    hosts = tuple(h.strip().lower() for h in (allowed_hosts or "").split(",") if h.strip())
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
            msg = f"--public-url must be an absolute http(s) URL without query or fragment, not {url!r}"
            raise UsageError(msg)
        url = url.rstrip("/")
    if url is None and not hosts:
        msg = ("set --public-url (the absolute URL put into QR codes) or --allowed-host NAME; without them a "
               "client's Host header would become the pages' URL. Only a server bound to loopback (the demo) "
               "defaults to the loopback names")
        raise UsageError(msg)
    return url, hosts


def cmd_serve(args: Any) -> int:
    import uvicorn  # noqa: PLC0415

    from api.settings import Settings, environment  # noqa: PLC0415
    from ledger.errors import UsageError  # noqa: PLC0415

    env = environment()
    db = args.db or env.db
    workers = max(1, int(getattr(args, "workers", 1) or 1))
    if workers > 1 and db.startswith("sqlite"):
        print("caseledger serve: several workers need PostgreSQL (SQLite allows one writer process); "
              "using --workers 1", file=sys.stderr)
        workers = 1
    allowed = list(getattr(args, "allowed_host", None) or [])
    allowed += [h for h in (env.allowed_hosts or "").split(",") if h.strip()]
    public_url = getattr(args, "public_url", None) or env.public_url or None
    if not allowed and not public_url and args.host in LOOPBACK_HOSTS:
        allowed = list(dict.fromkeys([*LOOPBACK_HOSTS, args.host]))  # the local demo: loopback names only
    try:
        Settings.from_env(db_url=db)
        host_settings(public_url, ",".join(allowed))
    except UsageError as e:
        print(f"caseledger serve: {e}", file=sys.stderr)
        return EXIT_USAGE
    os.environ["CASELEDGER_DB"] = db
    os.environ["CASELEDGER_LOG_LEVEL"] = getattr(args, "log_level", "info")
    if public_url:
        os.environ["CASELEDGER_PUBLIC_URL"] = public_url
    if allowed:
        os.environ["CASELEDGER_ALLOWED_HOSTS"] = ",".join(allowed)
    if getattr(args, "checkpoint_every", 0):
        os.environ["CASELEDGER_CHECKPOINT_EVERY"] = str(args.checkpoint_every)
    try:
        listener = _listener(args.host, args.port)
    except OSError as e:
        why = "is already in use" if e.errno == errno.EADDRINUSE else f"cannot be opened ({e.strerror})"
        print(f"caseledger serve: port {args.port} on {args.host} {why}; stop the other server or pick another "
              f"with --port (make run PORT=8001)", file=sys.stderr)
        return EXIT_USAGE
    base = f"http://{args.host}:{args.port}"
    print(f"CaseLedger on {db}\n  public notices      {base}/notices\n  API docs (OpenAPI)  {base}/v1/docs\n"
          f"  health              {base}/healthz  {base}/readyz", file=sys.stderr)
    config = uvicorn.Config("api.serve:app_from_env", factory=True, host=args.host, port=args.port,
                            workers=workers, log_config=None, access_log=False, proxy_headers=False,
                            server_header=False)
    if workers == 1:
        uvicorn.Server(config).run(sockets=[listener])
        return EXIT_OK
    from uvicorn.supervisors import Multiprocess  # noqa: PLC0415

    Multiprocess(config, sockets=[listener]).run()
    return EXIT_OK


def _listener(host: str, port: int) -> socket.socket:
    """The shared listening socket for the workers, created with ``proto=IPPROTO_TCP``.

    uvicorn's own ``Config.bind_socket`` leaves ``proto`` at 0; accepted sockets inherit it and
    asyncio then skips ``TCP_NODELAY``, so with ``--workers N`` every keep-alive response waits
    for the client's delayed ACK (about 40 ms on Linux; uvicorn issue #3149). Measured here:
    ``/healthz`` 45 ms with uvicorn's socket, 2 ms with this one.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


__all__ = ["LOOPBACK_HOSTS", "app_from_env", "cmd_serve", "host_settings"]
