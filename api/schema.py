"""The database schema's version: Alembic migrations in ``api/migrations`` (ADR 0006).

Every table (ledger events, Merkle log, checkpoints, custodial vault, API tables, projections) is
created and changed by a migration; nothing at startup calls ``create_all``. :func:`upgrade` runs the
migrations in process (one Alembic run per database, no subprocess, no ``env.py``), :func:`state`
reads where a database stands, and :func:`require_current` is the gate every process passes before it
touches the ledger: an older schema is refused with the command to run, a newer one (written by a
later version of this code) is refused too.

Errors (all ``UsageError``, so the CLI exits 2 with one line):

    SchemaError (E_SCHEMA)
     ├── SchemaOutOfDate (E_SCHEMA_OLD)      older revision, or tables made before migrations
     └── SchemaTooNew (E_SCHEMA_NEW)         a revision this code does not know
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData, inspect

from ledger.errors import UsageError

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory
    from sqlalchemy import Connection, Engine

MIGRATIONS = Path(__file__).with_name("migrations")
#: The table Alembic keeps the revision in.
VERSION_TABLE = "alembic_version"
#: Tables only a database made before migrations would hold: refused, never adopted.
_OLD_LAYOUT = "merkle_leaves"
#: The PostgreSQL advisory lock a migration run holds (an arbitrary constant: "CL" "DB" "06").
_PG_LOCK = 0x434C_4442_0006


class SchemaError(UsageError):
    """The database's schema does not match this code."""

    code = "E_SCHEMA"

    def __init__(self, message: str, *, current: str | None, head: str) -> None:
        super().__init__(message)
        self.current, self.head = current, head


class SchemaOutOfDate(SchemaError):
    """An older schema (or one made before migrations): ``caseledger db upgrade`` brings it to head."""

    code = "E_SCHEMA_OLD"


class SchemaTooNew(SchemaError):
    """A schema written by a newer version of CaseLedger."""

    code = "E_SCHEMA_NEW"


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Where a database stands: ``current`` is None when it has no ``alembic_version``."""

    current: str | None
    head: str
    tables: frozenset[str]

    @property
    def empty(self) -> bool:
        """No table at all: a new database, which :func:`upgrade` creates from scratch."""
        return not self.tables

    @property
    def unversioned(self) -> bool:
        """Tables made before migrations existed (``create_all``), without ``alembic_version``."""
        return self.current is None and bool(self.tables)

    @property
    def known(self) -> bool:
        """``current`` is a revision of this code (or None)."""
        return self.current is None or self.current in revisions()

    @property
    def at_head(self) -> bool:
        """The schema this code expects."""
        return self.current == self.head


@cache
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory  # noqa: PLC0415 - loaded once, when a schema is checked

    return ScriptDirectory(str(MIGRATIONS))


@cache
def revisions() -> frozenset[str]:
    """Every revision id this code knows."""
    return frozenset(r.revision for r in _script().walk_revisions())


def head() -> str:
    """The newest revision (the schema this code expects)."""
    h = _script().get_current_head()
    assert h is not None
    return h


@cache
def code_metadata() -> MetaData:
    """Every table other than the events table, as the code defines it (revision 0001 creates them)."""
    from api.auth import auth_tables  # noqa: PLC0415 - api tables; avoid import cycles at module load
    from api.deps import idempotency_table  # noqa: PLC0415
    from api.routers.feedback import feedback_table  # noqa: PLC0415
    from ledger.custody import vault_tables  # noqa: PLC0415
    from ledger.merkle_store import MerkleStore  # noqa: PLC0415
    from projections.tables import METADATA  # noqa: PLC0415

    md = MetaData()
    MerkleStore(md)
    vault_tables(md)
    auth_tables(md)
    idempotency_table(md)
    feedback_table(md)
    for t in METADATA.tables.values():
        t.to_metadata(md)
    return md


def _state(conn: Connection) -> SchemaState:
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415

    tables = frozenset(inspect(conn).get_table_names())
    current = MigrationContext.configure(conn).get_current_revision() if VERSION_TABLE in tables else None
    return SchemaState(current, head(), tables - {VERSION_TABLE})


def state(engine: Engine) -> SchemaState:
    """Read the database's revision and tables (creates nothing)."""
    with engine.connect() as conn:
        return _state(conn)


def _check_adoptable(s: SchemaState, conn: Connection) -> None:
    if _OLD_LAYOUT in s.tables:
        msg = ("this database keeps its Merkle log in the old layout (a merkle_leaves table, before ADR 0002's "
               "single node table): export what you need and start a new database")
        raise SchemaOutOfDate(msg, current=None, head=s.head)
    if "ledger_events" in s.tables:
        cols = {c["name"] for c in inspect(conn).get_columns("ledger_events")}
        want = {"id", "originator_id", "originator_version", "topic", "state"}
        if cols != want:
            msg = f"the table ledger_events has columns {sorted(cols)}, not {sorted(want)}: not a CaseLedger database"
            raise SchemaOutOfDate(msg, current=None, head=s.head)


def upgrade(engine: Engine, *, target: str = "head") -> tuple[str | None, str]:
    """Bring the schema to ``target``; returns (revision before, revision after).

    A database without ``alembic_version`` but with tables (made by ``create_all`` before migrations)
    is adopted: revision 0001 only adds missing tables, after the events table's columns are checked.
    Ledger rows are never changed. A revision this code does not know is refused (SchemaTooNew).
    """
    from alembic.operations import Operations  # noqa: PLC0415
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415

    script = _script()
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            # pysqlite runs DDL outside a transaction (one fsync per CREATE); one explicit transaction
            # makes the run atomic, as it is on PostgreSQL, and takes the write lock before reading.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:  # two processes on one new database: the second waits, then finds it at head
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK})")
        s = _state(conn)
        if not s.known:
            raise _too_new(s)
        if s.unversioned:
            _check_adoptable(s, conn)

        def fn(rev: Any, _context: Any) -> Any:
            return script._upgrade_revs(target, rev)  # noqa: SLF001 - what alembic's own `upgrade` command runs

        ctx = MigrationContext.configure(conn, opts={"script": script, "fn": fn, "transactional_ddl": True})
        with Operations.context(ctx):
            ctx.run_migrations()
        after = ctx.get_current_revision()
    assert after is not None
    return s.current, after


def _too_new(s: SchemaState) -> SchemaTooNew:
    msg = (f"the database's schema is at revision {s.current}, which this version of CaseLedger does not know "
           f"(its newest is {s.head}): it was written by a newer version; run that version, or restore a backup")
    return SchemaTooNew(msg, current=s.current, head=s.head)


def require_current(engine: Engine, *, db: str | None = None, create: bool = False,
                    expect: str | None = None) -> SchemaState:
    """Refuse to go on unless the schema is at ``expect`` (default: the newest revision, head).

    With ``create``, an empty database (no table at all) is created through the migrations first;
    that is how ``init``, ``demo`` and a fresh test database get their tables. Raises
    :class:`SchemaOutOfDate` (naming ``caseledger db upgrade``) or :class:`SchemaTooNew`.
    """
    want = expect or head()
    s = state(engine)
    if s.current == want:
        return s
    if create and s.empty:
        upgrade(engine, target=want)
        return state(engine)
    if not s.known:
        raise _too_new(s)
    where = f" --db {db}" if db else ""
    if s.unversioned:
        with engine.connect() as conn:
            _check_adoptable(s, conn)
        msg = (f"this database was created before schema migrations (tables, no {VERSION_TABLE}): run "
               f"`caseledger db upgrade{where}` to adopt it (ledger rows are not changed)")
        raise SchemaOutOfDate(msg, current=None, head=want)
    if s.current is not None and want in {r.revision for r in _script().iterate_revisions(s.current, "base")}:
        msg = (f"the database's schema is at revision {s.current}, newer than the revision {want} this process "
               "was started for")
        raise SchemaTooNew(msg, current=s.current, head=want)
    msg = (f"the database's schema is at revision {s.current}, this code needs {want}: run "
           f"`caseledger db upgrade{where}` (ledger rows are not changed)")
    raise SchemaOutOfDate(msg, current=s.current, head=want)


__all__ = [
    "SchemaError", "SchemaOutOfDate", "SchemaState", "SchemaTooNew", "code_metadata", "head", "require_current",
    "revisions", "state", "upgrade",
]
