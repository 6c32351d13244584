"""``caseledger db upgrade`` and ``caseledger db current`` (registered in api/cli.py): the schema's revision.

``upgrade`` runs the Alembic migrations in ``api/migrations`` up to the newest (ADR 0006); a database
made before migrations (tables, no ``alembic_version``) is adopted. Ledger rows are never changed.
``current`` prints the revision and whether it is the one this code needs. Neither creates a SQLite
file. Exit codes: 0 ok (``current``: at head), 1 ``current`` found an older schema, 2 usage or
connection error (a missing file, a schema newer than this code).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from api.clikit import Args, db_option, examples, json_option, run

EXIT_OK, EXIT_BEHIND, EXIT_USAGE = 0, 1, 2


def cmd_db(args: Args) -> int:
    """Run ``db upgrade`` or ``db current`` on ``args.db``."""
    from sqlalchemy import create_engine  # noqa: PLC0415

    from api import schema  # noqa: PLC0415
    from api.dburl import NoLedger, parse_db_url  # noqa: PLC0415
    from api.settings import sqlalchemy_url  # noqa: PLC0415

    db = parse_db_url(args.db)
    if db.sqlite_file is not None and not db.sqlite_file.exists():
        msg = (f"no database at {db.given}: the file {db.sqlite_file} does not exist; create a ledger with "
               f"`caseledger init --db {db.given}`")
        raise NoLedger(msg)
    engine = create_engine(sqlalchemy_url(db.url))
    try:
        if args.db_command == "upgrade":
            before, after = schema.upgrade(engine)
            if before == after:
                print(f"db upgrade: already at revision {after} (the newest)")
            else:
                was = "no migrations (tables made before them)" if before is None else f"revision {before}"
                print(f"db upgrade: {was} -> revision {after}; ledger rows unchanged")
            return EXIT_OK
        s = schema.state(engine)
    finally:
        engine.dispose()
    status = ("current" if s.at_head else "empty" if s.empty else "too-new" if not s.known else "behind")
    if args.json:
        print(json.dumps({"current": s.current, "head": s.head, "status": status}))
    else:
        print(f"revision {s.current or '(none)'}; this code needs {s.head}: {status}")
    if status in {"behind", "empty"}:
        print(f"caseledger db current: run `caseledger db upgrade --db {db.given}`", file=sys.stderr)
    if status == "too-new":
        return EXIT_USAGE
    return EXIT_OK if s.at_head else EXIT_BEHIND


@click.group("db", epilog=examples("caseledger db current --db caseledger.db",
                                   "caseledger db upgrade --db postgresql+psycopg://caseledger@db/caseledger"))
def db() -> None:
    """The database schema: `db upgrade` to the newest migration, `db current`."""


@db.command("upgrade", epilog=examples("caseledger db upgrade --db postgresql+psycopg://caseledger@db/caseledger"))
@db_option
def db_upgrade(**params: Any) -> int:
    """Bring the database's schema to the one this code needs (ledger rows never change)."""
    return run(cmd_db, ledger="open", db_command="upgrade", **params)


@db.command("current", epilog=examples("caseledger db current --db caseledger.db   # exit 1: run db upgrade"))
@db_option
@json_option
def db_current(**params: Any) -> int:
    """Print the schema revision and whether an upgrade is needed.

    Exit 0: current; 1: older than this code (run `caseledger db upgrade`); 2: newer than this code.
    """
    return run(cmd_db, ledger="open", db_command="current", **params)


def register(cli: click.Group) -> None:
    cli.add_command(db)
