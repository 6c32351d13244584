"""``caseledger witness keygen | serve | status`` (wired in api/cli.py): a C2SP tlog-witness.

* ``keygen NAME --key FILE`` writes a new cosignature/v1 witness key (mode 0600) and prints its
  verifier key (type 0x04), the line other ledgers' trust files list.
* ``serve --key FILE --logs FILE --state FILE`` serves ``POST /add-checkpoint`` (ledger/witness.py)
  for the logs whose checkpoint keys FILE lists (a trust file: bare vkeys or ``log <vkey>`` lines).
* ``status --state FILE`` prints what the witness last cosigned per log, and refused requests.

Exit codes: 0 ok, 2 usage error (a missing or malformed key, logs or state file).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from api.clikit import Args, examples, json_option, run
from ledger.errors import UsageError

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from ledger.witness import Witness

EXIT_OK, EXIT_USAGE = 0, 2
_MAX_BODY = 64 * 1024


def load_witness(key: str, logs: str, state: str) -> Witness:
    """The witness of a key file, a logs trust file and a state file.

    Raises:
        UsageError: a file is missing or malformed (naming it).
    """
    from ledger.trust import parse_policy  # noqa: PLC0415
    from ledger.witness import Witness, load_witness_key  # noqa: PLC0415

    try:
        name, signing_key = load_witness_key(Path(key).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, UsageError) as e:
        msg = f"witness key file {key}: {e}"
        raise UsageError(msg) from None
    try:
        followed = parse_policy(Path(logs).read_text(encoding="utf-8")).log_keys
    except (OSError, UnicodeDecodeError, UsageError) as e:
        msg = f"logs file {logs}: {e}"
        raise UsageError(msg) from None
    return Witness(name, signing_key, followed, state)


def make_app(witness: Witness) -> Starlette:
    """The witness's HTTP interface: ``POST /add-checkpoint`` (C2SP tlog-witness) and ``GET /``."""
    from starlette.applications import Starlette  # noqa: PLC0415
    from starlette.concurrency import run_in_threadpool  # noqa: PLC0415
    from starlette.requests import Request  # noqa: PLC0415
    from starlette.responses import PlainTextResponse, Response  # noqa: PLC0415
    from starlette.routing import Route  # noqa: PLC0415

    from ledger.witness import SIZE_CONTENT_TYPE, WitnessRefusal  # noqa: PLC0415

    async def add_checkpoint(request: Request) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > _MAX_BODY:
                return PlainTextResponse("request body is too large\n", status_code=413)
        try:
            line = await run_in_threadpool(witness.add_checkpoint, body)
        except WitnessRefusal as r:
            if r.latest_size is not None and r.status == 409:  # noqa: PLR2004
                return Response(f"{r.latest_size}\n", status_code=409, media_type=SIZE_CONTENT_TYPE)
            return PlainTextResponse(r.reason + "\n", status_code=r.status)
        return PlainTextResponse(line)

    async def about(_request: Request) -> Response:
        logs = "".join(f"log {k.to_vkey()}\n" for k in witness.logs)
        return PlainTextResponse(f"C2SP tlog-witness\nwitness {witness.verifier.to_vkey()}\n{logs}")

    return Starlette(routes=[Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
                             Route("/", about, methods=["GET"])])


def _keygen(args: Args) -> int:
    from nacl.signing import SigningKey  # noqa: PLC0415

    from ledger.checkpoint import ALG_COSIGNATURE_V1, NoteVerifier, is_valid_key_name  # noqa: PLC0415
    from ledger.witness import format_witness_key  # noqa: PLC0415

    if not is_valid_key_name(args.name):
        msg = f"invalid witness name {args.name!r}: no spaces and no '+'"
        raise UsageError(msg)
    key = SigningKey.generate()
    try:
        fd = os.open(args.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        msg = f"{args.key} exists: refusing to overwrite a witness key"
        raise UsageError(msg) from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(format_witness_key(args.name, key) + "\n")
    print(NoteVerifier.from_signing_key(args.name, key, ALG_COSIGNATURE_V1).to_vkey())
    return EXIT_OK


def _status(args: Args) -> int:
    import sqlite3  # noqa: PLC0415

    if not Path(args.state).exists():
        msg = f"no witness state at {args.state}"
        raise UsageError(msg)
    db = sqlite3.connect(f"file:{args.state}?mode=ro", uri=True)
    try:
        logs = [{"origin": r[0], "size": r[1], "updated_at": r[2]} for r in
                db.execute("SELECT origin, size, updated_at FROM witness_logs ORDER BY origin")]
        refused = [{"origin": r[0], "at": r[1], "status": r[2], "reason": r[3]} for r in
                   db.execute("SELECT origin, at, status, reason FROM witness_refusals ORDER BY id")]
    except sqlite3.DatabaseError as e:
        msg = f"{args.state} is not a witness state file: {e}"
        raise UsageError(msg) from None
    finally:
        db.close()
    if args.json:
        print(json.dumps({"logs": logs, "refusals": refused}, ensure_ascii=False))
        return EXIT_OK
    for lg in logs:
        print(f"{lg['origin']}: cosigned size {lg['size']} at {lg['updated_at']}")
    for r in refused:
        print(f"refused {r['origin']} at {r['at']}: HTTP {r['status']}: {r['reason']}")
    return EXIT_OK


def _serve(args: Args) -> int:
    import uvicorn  # noqa: PLC0415

    witness = load_witness(args.key, args.logs, args.state)
    print(f"witness {witness.verifier.to_vkey()} following {len(witness.logs)} log(s) on "
          f"http://{args.host}:{args.port}/add-checkpoint", file=sys.stderr)
    uvicorn.run(make_app(witness), host=args.host, port=args.port, log_level="warning")
    return EXIT_OK


@click.group("witness", epilog=examples("caseledger witness keygen witness.fj.example/w1 --key w1.key",
                                        "caseledger witness serve --key w1.key --logs logs.trust --state w1.db",
                                        "caseledger witness status --state w1.db"))
def witness() -> None:
    """Run a C2SP tlog-witness for other ledgers: keygen, serve, status (docs/operations/witness.md)."""


@witness.command("keygen", epilog=examples("caseledger witness keygen witness.fj.example/w1 --key w1.key"))
@click.argument("name")
@click.option("--key", required=True, metavar="FILE", help="file to write the private key to (refuses to overwrite)")
def keygen(**params: Any) -> int:
    """Create a witness key (cosignature/v1, type 0x04) and print its verifier key."""
    return run(_keygen, ledger="none", **params)


@witness.command("serve", epilog=examples(
    "caseledger witness serve --key w1.key --logs logs.trust --state w1.db --port 8090"))
@click.option("--key", required=True, metavar="FILE", help="the witness's private key file (from keygen)")
@click.option("--logs", required=True, metavar="FILE",
              help="trust file of the logs to witness (their checkpoint vkeys)")
@click.option("--state", required=True, metavar="FILE", help="the witness's state file (SQLite; created if missing)")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", type=click.IntRange(1, 65535), default=8090, show_default=True, help="port to listen on")
def serve(**params: Any) -> int:
    """Serve the C2SP tlog-witness add-checkpoint endpoint; never cosigns a fork."""
    return run(_serve, ledger="none", **params)


@witness.command("status", epilog=examples("caseledger witness status --state w1.db --json"))
@click.option("--state", required=True, metavar="FILE", help="the witness's state file")
@json_option
def status(**params: Any) -> int:
    """Print the latest cosigned checkpoint per log, and refused requests."""
    return run(_status, ledger="none", **params)


def register(cli: click.Group) -> None:
    cli.add_command(witness)
