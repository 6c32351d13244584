"""One way to name the database: ``--db`` and ``CASELEDGER_DB`` go through :func:`parse_db_url`.

Accepted forms (anything else is a usage error, exit 2, naming them):

- ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``: an SQLite file;
- a bare file path (``caseledger.db``, ``/srv/ledger.db``): the same as ``sqlite:///`` + the path;
- ``postgresql+psycopg://user@host[:port]/db`` (``postgresql://`` and ``postgres://`` mean the same).

Commands that read a ledger never create a database: :func:`require_ledger` refuses a missing
SQLite file or a database without entries (exit 2) and names ``caseledger init`` and
``caseledger demo``, before anything opens a connection that would create the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ledger.errors import UsageError

DEFAULT_DB = "sqlite:///./caseledger.db"
ACCEPTED_FORMS = ("sqlite:///PATH (a relative path; sqlite:////PATH for an absolute one), a bare file path "
                  "(an SQLite file), or postgresql+psycopg://USER@HOST[:PORT]/DB")
#: The help text of every command's ``--db``.
DB_HELP = ("the database: sqlite:///PATH, a bare file path (SQLite) or postgresql+psycopg://USER@HOST/DB "
           "(default: $CASELEDGER_DB, else sqlite:///./caseledger.db)")
_PG_SCHEMES = ("postgresql+psycopg", "postgresql", "postgres")
_SQLITE_SCHEMES = ("sqlite", "sqlite+pysqlite")


class BadDatabaseUrl(UsageError):
    """``--db`` or ``CASELEDGER_DB`` is not one of the accepted forms."""

    code = "E_DB_URL"


class NoLedger(UsageError):
    """A command that reads a ledger was pointed at a missing file or a database without entries."""

    code = "E_NO_LEDGER"


class DatabaseUnreachable(UsageError):
    """The database named by ``--db`` cannot be opened (down, refused, not a database file)."""

    code = "E_DB_UNREACHABLE"


@dataclass(frozen=True, slots=True)
class DatabaseUrl:
    """A checked database name: ``url`` is what commands pass on; ``sqlite_file`` the file, if any."""

    given: str
    url: str
    sqlite_file: Path | None

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


def parse_db_url(given: str | None, environ: Mapping[str, str] | None = None) -> DatabaseUrl:
    """``given`` (``--db``), else ``CASELEDGER_DB``, else ``sqlite:///./caseledger.db``, checked.

    Raises :class:`BadDatabaseUrl` for an empty value, an unsupported scheme or a malformed URL.
    """
    env = os.environ if environ is None else environ
    raw = given if given is not None else env.get("CASELEDGER_DB") or DEFAULT_DB
    text = raw.strip()
    if not text:
        msg = f"the database name is empty; use {ACCEPTED_FORMS}"
        raise BadDatabaseUrl(msg)
    if "://" not in text:
        if ":" in text.split("/", 1)[0] and not Path(text).exists():
            msg = f"unsupported database URL {raw!r}; use {ACCEPTED_FORMS}"
            raise BadDatabaseUrl(msg)
        return DatabaseUrl(raw, "sqlite:///" + text, Path(text))
    scheme, rest = text.split("://", 1)
    scheme = scheme.lower()
    if scheme in _SQLITE_SCHEMES:
        if not rest.startswith("/"):
            msg = f"malformed SQLite URL {raw!r}: write three slashes, sqlite:///PATH; use {ACCEPTED_FORMS}"
            raise BadDatabaseUrl(msg)
        path = rest[1:].split("?", 1)[0]
        if not path:
            msg = f"the SQLite URL {raw!r} names no file; use {ACCEPTED_FORMS}"
            raise BadDatabaseUrl(msg)
        memory = path == ":memory:"
        return DatabaseUrl(raw, "sqlite://" + rest, None if memory else Path(path))
    if scheme in _PG_SCHEMES:
        url = "postgresql+psycopg://" + rest
        _check_sqlalchemy(raw, url)
        return DatabaseUrl(raw, url, None)
    msg = f"unsupported database URL {raw!r} (scheme {scheme}://); use {ACCEPTED_FORMS}"
    raise BadDatabaseUrl(msg)


def _check_sqlalchemy(raw: str, url: str) -> None:
    from sqlalchemy.engine import make_url  # noqa: PLC0415
    from sqlalchemy.exc import ArgumentError  # noqa: PLC0415

    try:
        u = make_url(url)
    except (ArgumentError, ValueError):
        msg = f"malformed database URL {raw!r}; use {ACCEPTED_FORMS}"
        raise BadDatabaseUrl(msg) from None
    if not u.host or not u.database:
        msg = f"the PostgreSQL URL {raw!r} needs a host and a database name; use {ACCEPTED_FORMS}"
        raise BadDatabaseUrl(msg)


def ledger_entries(db: DatabaseUrl | str) -> int:
    """How many entries the ledger at ``db`` holds: 0 for a missing SQLite file (never created here),
    a database without the ledger's tables, or an empty ledger.

    Raises :class:`DatabaseUnreachable` when the database cannot be opened or read.
    """
    from sqlalchemy import create_engine, func, inspect, select, table  # noqa: PLC0415
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    from api.settings import sqlalchemy_url  # noqa: PLC0415
    from ledger.store import EVENTS_TABLE  # noqa: PLC0415

    d = parse_db_url(db) if isinstance(db, str) else db
    if d.sqlite_file is not None and not d.sqlite_file.exists():
        return 0
    engine = create_engine(sqlalchemy_url(d.url))
    try:
        if not inspect(engine).has_table(EVENTS_TABLE):
            return 0
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table(EVENTS_TABLE))).scalar_one())
    except SQLAlchemyError as e:
        cause = getattr(e, "orig", None) or e
        first = f"{type(cause).__name__}: {cause}".splitlines()[0]
        msg = f"cannot open the database {d.given!r}: {first}"
        raise DatabaseUnreachable(msg) from None
    finally:
        engine.dispose()


def require_ledger(db: DatabaseUrl) -> int:
    """The number of entries of the ledger at ``db``; :class:`NoLedger` if there is none.

    Nothing is created: a missing SQLite file stays missing.
    """
    hint = f"create one with `caseledger init --db {db.given}` (or try `caseledger demo --db {db.given}`)"
    if db.sqlite_file is not None and not db.sqlite_file.exists():
        msg = f"no ledger at {db.given}: the file {db.sqlite_file} does not exist; {hint}"
        raise NoLedger(msg)
    n = ledger_entries(db)
    if n == 0:
        msg = f"no ledger at {db.given}: the database holds no ledger entries; {hint}"
        raise NoLedger(msg)
    return n


def require_schema(db: DatabaseUrl) -> None:
    """Refuse a ledger whose schema is older or newer than this code's (api/schema.py, ADR 0006)."""
    from sqlalchemy import create_engine  # noqa: PLC0415

    from api.schema import require_current  # noqa: PLC0415
    from api.settings import sqlalchemy_url  # noqa: PLC0415

    engine = create_engine(sqlalchemy_url(db.url))
    try:
        require_current(engine, db=db.given)
    finally:
        engine.dispose()


__all__ = [
    "ACCEPTED_FORMS", "DB_HELP", "DEFAULT_DB", "BadDatabaseUrl", "DatabaseUnreachable", "DatabaseUrl", "NoLedger",
    "ledger_entries", "parse_db_url", "require_ledger", "require_schema",
]
