"""Persistence: eventsourcing-sqlalchemy recorders extended to keep the Merkle log in step.

The only module (with ledger/codec.py) that touches both eventsourcing and SQLAlchemy. Each
insert of stored events runs, in the same transaction and after the recorder's table lock, the
Merkle append: every committed entry becomes exactly one leaf, in commit order (ADR 0002).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, Mapper, PersistenceError, StoredEvent, Transcoder
from eventsourcing_sqlalchemy.factory import SQLAlchemyFactory
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder
from sqlalchemy import MetaData, inspect

from ledger.chain import decode_entry, decode_record
from ledger.errors import EncodingError, UsageError
from ledger.hashing import entry_hash

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.orm import Session

    from ledger.codec import EventCodec
    from ledger.group_commit import Pending
    from ledger.merkle_store import MerkleStore

EVENTS_TABLE = "ledger_events"


class LedgerRecorder(SQLAlchemyApplicationRecorder):
    """Application recorder that appends a Merkle leaf per inserted entry, atomically."""

    merkle: MerkleStore | None = None
    clock: Callable[[], int] | None = None
    metadata: MetaData | None = None
    _insert_stmt: tuple[str, str] | None = None  # the SQLite insert and id read, built once
    _pg_insert: str | None = None  # the PostgreSQL insert's text, built once

    def attach(self, merkle: MerkleStore, metadata: MetaData, clock: Callable[[], int]) -> None:
        """Attach the Merkle log, its table metadata and the clock that stamps ``recorded_at``."""
        self.merkle, self.metadata, self.clock = merkle, metadata, clock

    def create_table(self) -> None:
        """Create the events table and, with metadata attached, the Merkle tables."""
        super().create_table()
        if self.metadata is not None:
            assert self.datastore.engine is not None
            if inspect(self.datastore.engine).has_table("merkle_leaves", schema=self.schema_name or None):
                msg = ("this database keeps its Merkle log in the old layout (a merkle_leaves table, before "
                       "ADR 0002's single node table): export what you need and start a new database")
                raise UsageError(msg)
            self.metadata.create_all(self.datastore.engine, checkfirst=True)

    def _insert_stored_events(
        self,
        session: Session,
        stored_events: Sequence[StoredEvent],
        *,
        leaf_inputs: Sequence[tuple[bytes, bytes]] | None = None,
        also: Callable[[Connection], None] | None = None,
        **kwargs: Any,  # noqa: ARG002 - the eventsourcing method's signature
    ) -> Sequence[int]:
        """Insert the records, then their Merkle leaves, in the caller's transaction.

        ``leaf_inputs`` carries (entry hash, signature) per record from the application, which
        has just computed them; without it they are recomputed from the records. ``also`` (passed
        as ``app.save(..., also=fn)``) runs last on the same connection, so whatever it writes
        (the HTTP layer's idempotency record) commits or rolls back with the entries; an exception
        it raises rolls everything back and reaches the caller unchanged.
        """
        ids = self._insert_rows(session, stored_events)
        if self.merkle is None or not stored_events:
            self._notify_channel(session)
        else:
            assert self.clock is not None
            if leaf_inputs is None:
                leaf_inputs = []
                for se in stored_events:
                    data, sig = decode_record(se.state)
                    leaf_inputs.append((entry_hash(data), sig))
            recorded_at = self.clock()
            leaves = [(nid, recorded_at, eh, sig) for nid, (eh, sig) in zip(ids, leaf_inputs, strict=True)]
            # The NOTIFY that eventsourcing's subscribers listen for travels with the Merkle
            # statement on PostgreSQL (one round trip fewer); elsewhere there is none.
            self.merkle.append(session.connection(), leaves, notify=self.channel_name.lower())
        if also is not None:
            also(session.connection())
        return ids

    def insert_batch(self, items: list[Pending]) -> None:
        """Append several saves in one transaction (group commit, ADR 0008); set each one's outcome.

        One save alone goes through :meth:`insert_events` unchanged. Otherwise saves that claim a
        (case, n) an earlier save of the batch claims fail alone with ``IntegrityError`` (the
        optimistic-concurrency check, decided in the batch as the unique index would decide it);
        the rest are written as one: the lock once, all rows in queue order (so ids, and with them
        Merkle leaf indexes, rise in that order), all their leaves in one Merkle append, every
        ``also`` hook, one NOTIFY, one commit. If any statement fails before the commit (another
        process took a (case, n), an ``also`` hook refused), the transaction rolls back whole and
        each save of it runs again alone, so only the failing ones fail. If the commit itself
        fails, its outcome is unknown and every save of the batch gets that error.
        """
        if len(items) == 1:
            self._insert_alone(items[0])
            return
        claimed: set[tuple[Any, int]] = set()
        live: list[Pending] = []
        for it in items:
            keys = {(se.originator_id, se.originator_version) for se in it.stored}
            if len(keys) < len(it.stored) or keys & claimed:
                it.error = IntegrityError("another save in this batch appends at the same (case, n)")
                continue
            claimed |= keys
            live.append(it)
        if len(live) <= 1:
            for it in live:
                self._insert_alone(it)
            return
        stored = [se for it in live for se in it.stored]
        leaf_inputs: list[tuple[bytes, bytes]] | None = []
        for it in live:
            if it.leaf_inputs is None:
                leaf_inputs = None
                break
            assert leaf_inputs is not None
            leaf_inputs.extend(it.leaf_inputs)
        hooks = [it.also for it in live if it.also is not None]

        def also(conn: Connection) -> None:
            for hook in hooks:
                hook(conn)

        body_done = False
        try:
            with self.transaction(commit=True) as session:
                ids = self._insert_stored_events(session, stored, leaf_inputs=leaf_inputs,
                                                 also=also if hooks else None)
                body_done = True
        except Exception as e:  # noqa: BLE001 - sorted out below, per save
            if body_done:
                for it in live:
                    it.error = e
                return
            for it in live:
                self._insert_alone(it)
            return
        k = 0
        for it in live:
            it.ids = ids[k:k + len(it.stored)]
            k += len(it.stored)

    def _insert_alone(self, it: Pending) -> None:
        try:
            extra: dict[str, Any] = {"also": it.also} if it.also is not None else {}
            it.ids = self.insert_events(it.stored, leaf_inputs=it.leaf_inputs, **extra)
        except Exception as e:  # noqa: BLE001 - the save's own outcome, re-raised on its thread
            it.error = e

    def _pg_lock_and_insert(self, conn: Connection, sql: str, cols: tuple[list[Any], ...]) -> list[int]:
        """PostgreSQL: the transaction's BEGIN, the table lock and the insert in one round trip
        (psycopg's pipeline mode, as eventsourcing.postgres does), instead of three."""
        import psycopg  # noqa: PLC0415 - PostgreSQL only

        name = self.events_table_name
        if self.schema_name:
            name = f"{self.schema_name}.{name}"
        dconn = conn.connection.driver_connection
        assert isinstance(dconn, psycopg.Connection)
        try:
            with dconn.pipeline(), dconn.cursor() as cur:
                cur.execute(f"LOCK TABLE {name} IN EXCLUSIVE MODE")
                cur.execute(sql, cols)
                return [int(r[0]) for r in cur.fetchall()]
        except psycopg.IntegrityError as e:
            raise IntegrityError(e) from e
        except psycopg.Error as e:
            raise PersistenceError(e) from e

    def _insert_rows(self, session: Session, stored_events: Sequence[StoredEvent]) -> list[int]:
        """The parent recorder's insert (table lock, rows, their ids in row order; the caller sends
        the NOTIFY) in one statement instead of the ORM unit of work: on SQLite a Core
        ``INSERT ... RETURNING id`` (``sort_by_parameter_order``), on PostgreSQL the prepared
        statement below."""
        table = self.events_record_cls.__table__
        conn = session.connection()
        if not stored_events or conn.dialect.name != "postgresql":
            self._lock_table(session)  # on PostgreSQL with rows: pipelined with the insert, below
        if not stored_events:
            return []
        if conn.dialect.name == "postgresql":
            # One statement text for any batch size (prepared once by the driver): the rows as one
            # array per column, inserted in their order. Ids come from the table's sequence in
            # that order, so sorted ids are the rows' ids; SQLAlchemy's own "insertmanyvalues"
            # relies on the same (INSERT ... SELECT ... ORDER BY, then sort by primary key).
            sql = self._pg_insert
            if sql is None:
                name = f"{self.schema_name}.{table.name}" if self.schema_name else table.name
                sql = self._pg_insert = (
                    f"INSERT INTO {name} (originator_id, originator_version, topic, state) "  # noqa: S608 - the table name is ours; values are bound parameters
                    f"SELECT o, v, t, s FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[]) "
                    f"WITH ORDINALITY AS u(o, v, t, s, k) ORDER BY k RETURNING id")
            cols = ([e.originator_id for e in stored_events], [e.originator_version for e in stored_events],
                    [e.topic for e in stored_events], [e.state for e in stored_events])
            return sorted(self._pg_lock_and_insert(conn, sql, cols))
        # SQLite: one executemany of a plain insert (an ordered ``RETURNING`` would cost one
        # statement per row). The transaction holds SQLite's write lock from its first insert, and
        # the new rowid of an INTEGER PRIMARY KEY is above every existing one, so the save's rows
        # are the table's last ``len(stored_events)`` ids, in insert order.
        stmts = self._insert_stmt
        if stmts is None:
            stmts = self._insert_stmt = (
                f"INSERT INTO {table.name} (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",  # noqa: S608 - the table name is ours; values are bound parameters
                f"SELECT id FROM {table.name} ORDER BY id DESC LIMIT ?")  # noqa: S608 - the table name is ours
        conn.exec_driver_sql(stmts[0], [(UUID(str(e.originator_id)).bytes, e.originator_version, e.topic, e.state)
                                        for e in stored_events])
        return sorted(int(r[0]) for r in conn.exec_driver_sql(stmts[1], (len(stored_events),)))


class LedgerFactory(SQLAlchemyFactory):
    """Infrastructure factory selected by ``PERSISTENCE_MODULE=ledger.store:LedgerFactory``."""

    application_recorder_class = LedgerRecorder


class _NoTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:  # pragma: no cover - never used
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:  # pragma: no cover - never used
        raise NotImplementedError


class EntryMapper(Mapper[Any]):
    """Reads stored records back into domain events through the codec.

    Writing goes through ``LedgerApplication._record`` (which signs and chains); this mapper's
    ``to_stored_event`` is deliberately unusable so nothing can bypass signing.
    """

    def __init__(self, codec: EventCodec) -> None:
        super().__init__(transcoder=_NoTranscoder())
        self.codec = codec

    def to_stored_event(self, domain_event: Any) -> StoredEvent:  # noqa: ARG002 - the eventsourcing method's signature
        """Refuse: entries are written only by ``LedgerApplication``, signed and chained."""
        msg = "entries are written only by LedgerApplication (signed and chained)"
        raise EncodingError(msg, code="E_UNSIGNED_WRITE")

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        """The domain event a stored record holds."""
        data, _sig = decode_record(stored_event.state)
        return self.codec.to_event(decode_entry(data))
