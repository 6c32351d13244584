"""The Merkle log on SQLAlchemy Core, beside the events (docs/spec/03-chain-and-log.md, ADR 0002).

Tables (created on the ``MetaData`` passed in, so they share the events' schema and engine):

``merkle_nodes(pos, hash, notification_id, recorded_at, entry_hash)``
    Every node of the tree that is a *complete* perfect subtree, leaves included, keyed by its
    in-order position (:func:`ledger.merkle.inorder_position`: node ``(level, idx)``, covering
    leaves ``[idx << level, (idx + 1) << level)``, is at ``idx * 2**(level+1) + 2**level - 1``).
    Leaf ``i`` is the row at ``2 * i``; only leaf rows carry the last three columns (the event's
    id in the notification log, the time the log recorded it, its entry hash). A complete
    subtree never changes, so rows are only ever inserted: one per leaf and, on average, one
    inner node per leaf (``size - popcount(size)`` in all). The highest position is always the
    last leaf's.
``merkle_runs(notification_id, idx)``
    How to find a leaf by notification id without an index on it. Leaves' notification ids
    rise with their index but may skip values (PostgreSQL sequences skip the ids of rolled-back
    inserts). A *run* is a stretch of leaves whose ids go up by one; this table has one row per
    run, its first leaf's id and index. The leaf of id ``n`` is then at index ``idx + n -
    notification_id`` of the last run starting at or below ``n``, if that leaf's id is ``n``
    (:meth:`MerkleStore.leaf_on`). On SQLite, where ids do not skip, it holds one row.
``checkpoints(id, size, root, note, created_at)``
    Signed checkpoint notes as issued (spec 04). The store does not verify them.
``checkpoint_cosignatures(checkpoint_id, witness, key_id, timestamp, line, created_at)``
    Witness ``cosignature/v1`` lines obtained for a checkpoint (spec 04 §Witness protocol;
    revision 0003), verified by the submitter before they are stored.

There is no mutable state row: the size is ``max(pos) / 2 + 1`` and the frontier (the O(log n)
perfect subtrees that make up ``[0, size)``) is read back from the nodes, so every table is
insert-only and an append writes only new rows. Keeping leaves and inner nodes in one table, and
no secondary index, makes a single-leaf commit dirty one table page (ADR 0002).

Costs: on SQLite, ``append`` of one transaction is one guarded insert of its first leaf and the
nodes it closes (inserted only if the log's tail is the one the store remembers; otherwise the
tail and frontier are read back and the rows inserted plainly) and inserts of the rest
(``executemany``). Roots and proofs for any size up to the current one are folds of O(log n)
stored hashes read in one ``SELECT`` by primary key, with no tree rebuild. On SQLite the keys
are rowid aliases. The hot statements run on the DBAPI connection of the caller's connection
(SQLAlchemy's statement handling costs more than these primary-key reads and writes); driver
errors are re-raised wrapped as SQLAlchemy's ``DBAPIError`` subclasses, as before.

Node cache: the hashes of complete subtrees never change once committed, so the store keeps
the upper levels of the tree in memory (the levels that fit in half of ``node_cache`` entries
per database: at 2**17 and a million leaves, levels 5 and up) and a proof reads only the nodes
below them. The cache is filled only from reads in transactions that have
not appended to the log (any store instance's :meth:`MerkleStore.append` marks its transaction),
so a rolled-back append can never put an uncommitted hash into it. It assumes the log is
append-only: a process that deletes and rebuilds the Merkle tables must use a new store, or call
:meth:`MerkleStore.clear_cache`.

Concurrency: every method takes a :class:`~sqlalchemy.engine.Connection` that is already
inside the caller's transaction. Appends must be serialised by the caller: the ledger's
recorder holds its events-table lock (PostgreSQL ``LOCK TABLE ... IN EXCLUSIVE MODE``,
SQLite's single-writer lock) while it calls :meth:`MerkleStore.append`, so this module takes
no lock of its own (ADR 0002). Two unserialised appenders would both compute the same next
position and one would fail on the primary key, never fork the tree silently. Reads need no
lock: every row they use is immutable.
"""

from __future__ import annotations

import weakref
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ColumnElement,
    Connection,
    Engine,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    and_,
    exc,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.engine import RootTransaction

from ledger import merkle
from ledger.errors import UsageError
from ledger.hashing import Digest

_ID = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True, slots=True)
class MerkleLeaf:
    """One stored leaf."""

    idx: int
    notification_id: int
    recorded_at: int
    entry_hash: bytes
    leaf_hash: bytes


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """One stored checkpoint note (unverified: pass ``note`` to ``verify_checkpoint``)."""

    id: int
    size: int
    root: bytes
    note: str
    created_at: int


LeafInput = tuple[int, int, bytes, bytes]
"""``(notification_id, recorded_at, entry_hash, signature)`` for one committed entry."""


class MerkleStore:
    """The persistent Merkle log. All state lives in the tables.

    For speed, the store remembers the frontier it last computed, keyed by the last leaf's
    position, hash and notification id. Every append first checks the log's real tail in the
    caller's transaction and uses the remembered frontier only if the tail matches; a
    rolled-back append or another process's append changes the tail, and the frontier is then
    read back from the table.

    It also caches the hashes of committed complete subtrees of the upper levels, per
    database (engine), for proofs: at most ``node_cache`` entries per database, about 150 bytes
    each (0 turns the cache off).
    """

    def __init__(self, metadata: MetaData, *, node_cache: int = 1 << 17) -> None:
        """Define the tables on ``metadata`` (``metadata.create_all`` creates them)."""
        self.metadata = metadata
        self.nodes = Table(
            "merkle_nodes", metadata,
            Column("pos", _ID, primary_key=True, autoincrement=False),
            Column("hash", LargeBinary(32), nullable=False),
            Column("notification_id", BigInteger),
            Column("recorded_at", BigInteger),
            Column("entry_hash", LargeBinary(32)),
            # Leaf rows (even positions) carry all three leaf columns, inner nodes none.
            CheckConstraint("CASE WHEN pos % 2 = 0 THEN notification_id IS NOT NULL AND recorded_at IS NOT NULL "
                            "AND entry_hash IS NOT NULL ELSE notification_id IS NULL AND recorded_at IS NULL "
                            "AND entry_hash IS NULL END", name="merkle_nodes_leaf_columns"),
        )
        self.runs = Table(
            "merkle_runs", metadata,
            Column("notification_id", _ID, primary_key=True, autoincrement=False),
            Column("idx", BigInteger, nullable=False, unique=True),
        )
        self.checkpoints = Table(
            "checkpoints", metadata,
            Column("id", _ID, primary_key=True, autoincrement=True),
            Column("size", BigInteger, nullable=False, index=True),
            Column("root", LargeBinary(32), nullable=False),
            Column("note", Text, nullable=False),
            Column("created_at", BigInteger, nullable=False),
        )
        self.cosignatures = Table(
            "checkpoint_cosignatures", metadata,
            Column("checkpoint_id", _ID, ForeignKey("checkpoints.id"), primary_key=True, autoincrement=False),
            Column("witness", Text, primary_key=True),
            Column("key_id", LargeBinary(4), primary_key=True),
            Column("timestamp", BigInteger, nullable=False),
            Column("line", Text, nullable=False),
            Column("created_at", BigInteger, nullable=False),
        )
        #: A leaf row's index, for queries that select leaf rows of ``nodes``.
        self.leaf_index = (self.nodes.c.pos // 2).label("idx")
        self._q_size = select(func.max(self.nodes.c.pos))
        # (index, hash and notification id of the last leaf appended, the frontier's hashes after it)
        self._memo: tuple[int, bytes, tuple[bytes, ...], int] | None = None
        if node_cache < 0:
            msg = "node_cache must be >= 0"
            raise UsageError(msg)
        # At most 2**_cache_bits entries per database (node_cache rounded down to a power of 2).
        self._cache_bits = node_cache.bit_length() - 1
        # Per database: node hashes by in-order position, and folds of cut subtrees by their positions.
        self._caches: weakref.WeakKeyDictionary[Engine, dict[Any, bytes]] = weakref.WeakKeyDictionary()
        self._sql: dict[tuple[str, int], str] = {}
        self._guarded: dict[int, str] = {}
        self._dml: dict[str, tuple[str, str, str]] = {}
        self._pg_insert_if_tail: str | None = None

    def clear_cache(self) -> None:
        """Forget every cached node hash (for a process that rebuilt the Merkle tables)."""
        self._caches = weakref.WeakKeyDictionary()
        self._memo = None

    # -- finding leaves by notification id ---------------------------------------------------

    def leaf_on(self, nid: ColumnElement[Any]) -> ColumnElement[bool]:
        """Join condition on ``nodes``: the leaf row of the entry whose notification id is ``nid``.

        One lookup in ``merkle_runs`` and one by primary key per joined row (no index on the
        notification id; see the module docstring).
        """
        nd, r = self.nodes, self.runs
        at = (select((r.c.idx + nid - r.c.notification_id) * 2).where(r.c.notification_id <= nid)
              .order_by(r.c.notification_id.desc()).limit(1).scalar_subquery())
        return and_(nd.c.pos == at, nd.c.notification_id == nid)

    # -- writing ---------------------------------------------------------------------------

    def _frontier(self, conn: Connection, size: int | None = None) -> merkle.Frontier:
        if size is None:
            size = self.size(conn)
        pos = _perfect_positions(0, size)
        got = self._hashes(conn, pos, 2 * size)
        return merkle.Frontier(size, [Digest(got[p]) for p in pos])

    def append(self, conn: Connection, leaves: Sequence[LeafInput], *, notify: str | None = None) -> list[int]:
        """Append one leaf per committed entry, in the given order; return their indexes.

        Must run inside the transaction that inserts the entries, while the caller holds the
        lock that serialises appenders (ADR 0002).

        Args:
            conn: a connection inside the caller's transaction.
            leaves: ``(notification_id, recorded_at, entry_hash, signature)`` per entry;
                notification ids must rise with the leaf index.
            notify: PostgreSQL only: a channel to ``NOTIFY`` (delivered at commit, as the
                recorder's own NOTIFY is), sent with the append's statement to save a round trip.

        Returns:
            The leaf indexes assigned: the current size, size + 1, ...

        Raises:
            EncodingError: a field is malformed (see :func:`ledger.merkle.leaf_data`).
            UsageError: a notification id is not above the previous leaf's.
        """
        if not leaves:
            return []
        try:
            if conn.dialect.name == "postgresql":
                return self._append_pg(conn, leaves, notify)
            return self._append_sqlite(conn, leaves)
        finally:
            # Reads in this transaction may now see uncommitted nodes: keep them out of the cache.
            tx = conn.get_transaction()
            if tx is not None:
                _APPENDED[tx] = True

    def _statements(self, mark: str) -> tuple[str, str, str]:
        """(tail read, row insert, run insert) for a paramstyle; rows as :func:`_grow` makes them."""
        got = self._dml.get(mark)
        if got is None:
            nd, r = self.nodes.name, self.runs.name
            got = self._dml[mark] = (
                f"SELECT pos, hash, notification_id FROM {nd} ORDER BY pos DESC LIMIT 1",  # noqa: S608 - our table names; values bound
                f"INSERT INTO {nd} ({_COLS}) VALUES ({', '.join([mark] * 5)})",  # noqa: S608 - our table names; values bound
                f"INSERT INTO {r} (notification_id, idx) VALUES ({mark}, {mark})",  # noqa: S608 - our table names; values bound
            )
        return got

    def _guarded_insert(self, rows: int) -> str:
        """SQLite: insert ``rows`` rows, the first a leaf inserted only after the remembered tail.

        The leaf's hash is NULL (refused: NOT NULL) unless the leaf at the position given has
        that hash and notification id, and the primary key refuses the row if the next leaf
        exists; leaf positions have no gaps, so the rows go in only if the remembered leaf is
        the tail. A ``VALUES`` list reads the table without materialising the read first, as
        ``INSERT ... SELECT`` from it would.
        """
        sql = self._guarded.get(rows)
        if sql is None:
            tail = f"(SELECT ? FROM {self.nodes.name} WHERE pos = ? AND hash = ? AND notification_id = ?)"  # noqa: S608 - our table names; values bound
            values = [f"(?, {tail}, ?, ?, ?)"] + ["(?, ?, ?, ?, ?)"] * (rows - 1)
            sql = self._guarded[rows] = f"INSERT INTO {self.nodes.name} ({_COLS}) VALUES {', '.join(values)}"  # noqa: S608 - our table names; values bound
        return sql

    def _append_sqlite(self, conn: Connection, leaves: Sequence[LeafInput]) -> list[int]:
        memo = self._memo
        if memo is not None and conn.in_transaction() and leaves[0][0] > memo[3]:
            # Fast path: one statement inserts the first leaf, and the nodes it closes, only if the
            # log's tail is the remembered one; then the rest as usual.
            last = memo[0]
            if len(leaves) == 1:  # the common case, kept lean: one leaf, no run row unless ids skip
                params, frontier = _grow_one(memo, leaves[0])
                rows: list[_Row] = []
                runs = [] if leaves[0][0] == memo[3] + 1 else [(leaves[0][0], last + 1)]
                head = (len(params) - 8) // 5 + 1
            else:
                rows, runs, frontier = _grow(last + 1, memo[2], memo[3], leaves)
                head = 1
                while head < len(rows) and rows[head][2] is None:
                    head += 1
                first = rows[0]
                params = (first[0], first[1], 2 * last, memo[1], memo[3], *first[2:],
                          *(v for row in rows[1:head] for v in row))
            sql = self._guarded.get(head) or self._guarded_insert(head)
            dbc = conn.connection.dbapi_connection
            try:
                dbc.execute(sql, params)  # type: ignore[union-attr]
            except Exception as e:
                dbapi = conn.dialect.loaded_dbapi
                if not isinstance(e, dbapi.IntegrityError):
                    if isinstance(e, dbapi.Error):
                        _raise_wrapped(conn, e, sql, params, None, many=False)
                    raise
                # The tail is not the remembered one, or a row is refused on its own account:
                # read the tail back (the slow path raises the latter again).
            else:
                if head < len(rows) or runs:
                    _, ins_row, ins_run = self._statements("?")
                    if head < len(rows):
                        _run(conn, ins_row, rows[head:], many=True)
                    if runs:
                        _run(conn, ins_run, runs, many=True)
                self._memo = frontier
                return list(range(last + 1, frontier[0] + 1))
        return self._append_tail(conn, leaves, None)

    def _append_pg(self, conn: Connection, leaves: Sequence[LeafInput], notify: str | None) -> list[int]:
        memo = self._memo
        if memo is not None and leaves[0][0] > memo[3]:
            # Fast path: one statement that inserts only if the log's tail is the remembered one.
            rows, runs, frontier = _grow(memo[0] + 1, memo[2], memo[3], leaves)
            done = self._insert_if_tail(conn, memo, rows, runs, notify)
            if done:
                self._memo = frontier
                return list(range(memo[0] + 1, frontier[0] + 1))
            notify = None  # sent with the statement, whether the tail matched or not
        return self._append_tail(conn, leaves, notify)

    def _append_tail(self, conn: Connection, leaves: Sequence[LeafInput], notify: str | None) -> list[int]:
        """Append after reading the log's tail (and, unless it is the remembered one, the frontier)."""
        q_tail, ins_row, ins_run = self._statements(_mark(conn))
        tail = _run(conn, q_tail, (), fetch=True)
        memo = self._memo
        hashes: tuple[bytes, ...]
        last_nid: int | None
        if not tail:
            size, hashes, last_nid = 0, (), None
        else:
            pos, last_hash, last_nid = int(tail[0][0]), bytes(tail[0][1]), tail[0][2]
            if pos & 1 or last_nid is None:
                msg = f"the Merkle log's last row (position {pos}) is not a leaf"
                raise UsageError(msg)
            size = pos // 2 + 1
            if memo is not None and memo[0] == size - 1 and memo[1] == last_hash and memo[3] == last_nid:
                hashes = memo[2]
            else:
                hashes = tuple(self._frontier(conn, size).hashes)
        rows, runs, frontier = _grow(size, hashes, last_nid, leaves)
        _run(conn, ins_row, rows, many=True)
        if runs:
            _run(conn, ins_run, runs, many=True)
        if notify is not None:
            _run(conn, "SELECT 1 FROM pg_notify(%s, '')", (notify,), fetch=True)
        self._memo = frontier
        return list(range(size, frontier[0] + 1))

    def _insert_if_tail(self, conn: Connection, memo: _Memo, rows: list[_Row], runs: list[tuple[int, int]],
                        notify: str | None) -> bool:
        """PostgreSQL: insert rows and runs in one statement iff the tail is the remembered leaf,
        and ``pg_notify(notify)`` whether or not (the caller's transaction decides).

        The rows travel as one array per column, so the statement's text is the same for every
        batch size and the driver prepares it once.
        """
        sql = self._pg_insert_if_tail
        if sql is None:
            nd, r = self.nodes.name, self.runs.name
            sql = self._pg_insert_if_tail = (
                f"WITH ok AS (SELECT 1 FROM {nd} WHERE pos = %s AND hash = %s AND notification_id = %s "  # noqa: S608 - our table names; values bound
                f"AND NOT EXISTS (SELECT 1 FROM {nd} WHERE pos = %s)), "
                f"n AS (INSERT INTO {nd} ({_COLS}) "
                f"SELECT * FROM unnest(%s::bigint[], %s::bytea[], %s::bigint[], %s::bigint[], %s::bytea[]) "
                f"WHERE EXISTS (SELECT 1 FROM ok) RETURNING 1), "
                f"r AS (INSERT INTO {r} (notification_id, idx) SELECT * FROM unnest(%s::bigint[], %s::bigint[]) "
                f"WHERE EXISTS (SELECT 1 FROM ok) RETURNING 1) "
                f"SELECT (SELECT count(*) FROM n), (SELECT count(*) FROM r), "
                f"(SELECT count(*) FROM pg_notify(%s, '') WHERE %s)")
        cols = list(zip(*rows, strict=True))
        run_cols = list(zip(*runs, strict=True)) or [(), ()]
        last = 2 * memo[0]
        params = (last, memo[1], memo[3], last + 2, *(list(c) for c in cols), *(list(c) for c in run_cols),
                  notify or "", notify is not None)
        got = _run(conn, sql, params, fetch=True)
        return int(got[0][0]) == len(rows)

    # -- reading ---------------------------------------------------------------------------

    def size(self, conn: Connection) -> int:
        """The number of leaves committed (as seen by ``conn``'s transaction)."""
        top = conn.execute(self._q_size).scalar()
        return 0 if top is None else int(top) // 2 + 1

    def _hashes(self, conn: Connection, positions: Collection[int], scale: int) -> dict[int, bytes]:
        """Hashes of the nodes at these in-order positions (leaf ``i`` is ``2i``), cache first.

        ``scale`` is about twice the tree size the caller works on; it picks the levels cached.
        Raises :class:`UsageError` for a node the log does not have.
        """
        cache = self._caches.get(conn.engine) if self._cache_bits >= 0 else None
        got: dict[int, bytes] = {}
        want: list[int] = []
        for p in positions:
            h = None if cache is None else cache.get(p)
            if h is not None:
                got[p] = h
            else:
                want.append(p)
        if want:
            got.update(self._read(conn, want, scale))
        return got

    def _read(self, conn: Connection, want: list[int], scale: int) -> dict[int, bytes]:
        """Read node hashes by position in one ``SELECT``; fill the cache."""
        mark = _mark(conn)
        key = (mark, len(want))
        sql = self._sql.get(key)
        if sql is None:
            node = f"SELECT pos, hash FROM {self.nodes.name} WHERE pos "  # noqa: S608 - our table names; values bound
            if mark == "?" and len(want) <= _SHAPES:
                # SQLite: one primary-key lookup per hash beats an IN list, which it first builds
                # and sorts (and a compound SELECT has at most 500 terms).
                sql = " UNION ALL ".join([f"{node}= ?"] * len(want))
            else:
                sql = f"{node}IN ({', '.join([mark] * len(want))})"
            if len(want) <= _SHAPES:
                self._sql[key] = sql
        rows = _run(conn, sql, want, fetch=True)
        fresh = {int(p): h if type(h) is bytes else bytes(h) for p, h in rows}
        if len(fresh) != len(want):
            absent = set(want) - set(fresh)
            if absent:
                p = min(absent)
                level = (p ^ (p + 1)).bit_length() - 1
                msg = f"the log has no complete subtree {(level, p >> (level + 1))} (size beyond the log?)"
                raise UsageError(msg)
        if self._cache_bits >= 0 and fresh and _clean(conn):
            cache = self._caches.get(conn.engine)
            if cache is None:
                cache = self._caches.setdefault(conn.engine, {})
            # The levels >= low of a tree of scale / 2 leaves have at most
            # scale / 2**low <= cap / 2 nodes; the rest of the cap is slack.
            cap = 1 << self._cache_bits
            low = max(0, scale.bit_length() - self._cache_bits + 1)
            mask = (1 << low) - 1  # level >= low: p + 1 has at least low trailing zeros
            keep = [(p, h) for p, h in fresh.items() if not (p + 1) & mask]
            if len(cache) + len(keep) > cap:
                _prune(cache, low, cap - len(keep))
            cache.update(keep)
        return fresh

    def fetcher(self, conn: Connection) -> merkle.NodeFetcher:
        """A :class:`ledger.merkle.NodeFetcher` reading stored hashes through ``conn``.

        Each call is at most one ``SELECT`` (leaf hashes and node hashes by primary key), for
        the nodes the cache does not hold. A node that is absent (the size asked for exceeds
        the log) raises :class:`UsageError`.
        """

        def fetch(nodes: Collection[merkle.NodeId]) -> Mapping[merkle.NodeId, bytes]:
            want = {merkle.inorder_position(n): n for n in nodes}
            got = self._hashes(conn, want, max(want, default=0) + 1)
            return {n: got[p] for p, n in want.items()}

        return fetch

    def _prove(self, conn: Connection, plan: list[int | tuple[int, ...]], size: int) -> list[Digest]:
        # One pass over the plan against the cache, one SELECT for the rest. The cache also
        # keeps the folds of cut subtrees, keyed by their tuple of positions: proofs against
        # the same size share them.
        cache = self._caches.get(conn.engine, _NO_CACHE) if self._cache_bits >= 0 else _NO_CACHE
        get = cache.get
        out: list[Any] = [get(x) for x in plan]
        holes = [i for i, h in enumerate(out) if h is None]
        if not holes:
            return out
        cut: list[int] = []
        known: dict[int, bytes] = {}
        want: list[int] = []
        for i in holes:
            x = plan[i]
            if type(x) is int:
                want.append(x)
            else:
                cut.append(i)
                for p in x:  # type: ignore[union-attr]
                    hp = get(p)
                    if hp is not None:
                        known[p] = hp
                    else:
                        want.append(p)
        if want:
            known.update(self._read(conn, want, 2 * size))
        for i in holes:
            x = plan[i]
            if type(x) is int:
                out[i] = known[x]
        if cut:
            folds = []
            for i in cut:
                x = plan[i]
                out[i] = h = merkle.fold_nodes([known[p] for p in x])  # type: ignore[union-attr]
                folds.append((x, h))
            if self._cache_bits >= 0 and _clean(conn):
                held = self._caches.get(conn.engine)
                if held is not None and len(held) + len(folds) <= 1 << self._cache_bits:
                    held.update(folds)
        return out

    def root(self, conn: Connection, size: int | None = None) -> Digest:
        """The root at ``size`` (default: the current size); O(log n) reads for older sizes."""
        if size is None:
            return self._frontier(conn).root()
        if size < 0:
            msg = "size must be >= 0"
            raise UsageError(msg)
        pos = _perfect_positions(0, size)
        got = self._hashes(conn, pos, 2 * size) if pos else {}
        return merkle.fold_nodes([got[p] for p in pos])

    def _leaf_rows(self) -> Any:
        nd = self.nodes
        return select(self.leaf_index, nd.c.notification_id, nd.c.recorded_at, nd.c.entry_hash, nd.c.hash)

    def leaf(self, conn: Connection, idx: int) -> MerkleLeaf | None:
        """The leaf at ``idx``, or None."""
        row = conn.execute(self._leaf_rows().where(self.nodes.c.pos == 2 * idx)).first()
        return None if row is None else _leaf(row)

    def leaf_for_notification(self, conn: Connection, notification_id: int) -> MerkleLeaf | None:
        """The leaf of the event with this notification id, or None."""
        row = conn.execute(self._leaf_rows().where(self.leaf_on(literal(notification_id, BigInteger)))).first()
        return None if row is None else _leaf(row)

    def size_at_notification(self, conn: Connection, notification_id: int) -> int:
        """The number of leaves whose notification id is ``<= notification_id``."""
        r = self.runs
        later = select(func.min(r.c.idx)).where(r.c.notification_id > notification_id).scalar_subquery()
        row = conn.execute(select(r.c.idx + (notification_id - r.c.notification_id), later)
                           .where(r.c.notification_id <= notification_id)
                           .order_by(r.c.notification_id.desc()).limit(1)).first()
        if row is None:
            return 0
        # The run's leaves up to this id, unless the run (or the log) ends first.
        end = int(row[1]) if row[1] is not None else self.size(conn)
        return min(int(row[0]) + 1, end)

    def inclusion_proof(self, conn: Connection, index: int, size: int) -> list[Digest]:
        """RFC 9162 inclusion proof for leaf ``index`` in the tree of ``size`` leaves.

        Equal to :func:`ledger.merkle.inclusion_proof` over the same leaves (the node list is
        derived in closed form, as in transparency-dev/merkle, and tested against it).

        Raises:
            UsageError: ``index`` is not below ``size`` or ``size`` exceeds the log.
        """
        return self._prove(conn, inclusion_plan(index, size), size)

    def consistency_proof(self, conn: Connection, size1: int, size2: int) -> list[Digest]:
        """RFC 9162 consistency proof from ``size1`` to ``size2`` (``0 < size1 <= size2``).

        Raises:
            UsageError: the sizes are out of order or ``size2`` exceeds the log.
        """
        return self._prove(conn, consistency_plan(size1, size2), size2)

    def iter_leaves(self, conn: Connection, start: int = 0, batch: int = 10_000) -> Iterator[MerkleLeaf]:
        """Every leaf from ``start`` in index order, read ``batch`` rows at a time."""
        if batch < 1:
            msg = "batch must be >= 1"
            raise UsageError(msg)
        nd = self.nodes
        nxt = 2 * start
        while True:
            q = self._leaf_rows().where(nd.c.pos >= nxt, nd.c.notification_id.is_not(None)).order_by(nd.c.pos)
            rows = conn.execute(q.limit(batch)).all()
            for row in rows:
                yield _leaf(row)
            if len(rows) < batch:
                return
            nxt = 2 * int(rows[-1].idx) + 2

    # -- checkpoints -----------------------------------------------------------------------

    def add_checkpoint(self, conn: Connection, note: str, size: int, root: bytes, created_at: int) -> int:
        """Store a signed checkpoint note; return its id."""
        res = conn.execute(insert(self.checkpoints).values(note=note, size=size, root=root, created_at=created_at))
        pk = res.inserted_primary_key
        assert pk is not None
        return int(pk[0])

    def latest_checkpoint(self, conn: Connection) -> StoredCheckpoint | None:
        """The most recently stored checkpoint, or None."""
        cp = self.checkpoints
        row = conn.execute(select(cp).order_by(cp.c.id.desc()).limit(1)).first()
        return None if row is None else _checkpoint(row)

    def add_cosignature(self, conn: Connection, checkpoint_id: int, witness: str, key_id: bytes, timestamp: int,
                        line: str, created_at: int) -> bool:
        """Store a witness's (verified) cosignature line of a checkpoint; False if it has one already."""
        cs = self.cosignatures
        have = conn.execute(select(cs.c.line).where(cs.c.checkpoint_id == checkpoint_id, cs.c.witness == witness,
                                                    cs.c.key_id == key_id)).first()
        if have is not None:
            return False
        conn.execute(insert(cs).values(checkpoint_id=checkpoint_id, witness=witness, key_id=key_id,
                                       timestamp=timestamp, line=line, created_at=created_at))
        return True

    def cosignature_lines(self, conn: Connection, checkpoint_id: int) -> list[str]:
        """The stored cosignature lines of a checkpoint, in the order they were obtained."""
        cs = self.cosignatures
        q = select(cs.c.line).where(cs.c.checkpoint_id == checkpoint_id).order_by(cs.c.created_at, cs.c.witness)
        return [str(r[0]) for r in conn.execute(q)]

    def cosigned_note(self, conn: Connection, cp: StoredCheckpoint) -> str:
        """The checkpoint's note with every stored witness cosignature line appended (what is served)."""
        return cp.note + "".join(self.cosignature_lines(conn, cp.id))

    def last_cosigned_size(self, conn: Connection, witness: str, key_id: bytes) -> int:
        """The largest checkpoint size this witness key has cosigned for this log (0 if none)."""
        cs, cp = self.cosignatures, self.checkpoints
        q = select(func.max(cp.c.size)).select_from(cs.join(cp, cs.c.checkpoint_id == cp.c.id)).where(
            cs.c.witness == witness, cs.c.key_id == key_id)
        return int(conn.execute(q).scalar() or 0)

    def checkpoint_at(self, conn: Connection, size: int) -> StoredCheckpoint | None:
        """The most recently stored checkpoint of exactly ``size`` leaves, or None."""
        cp = self.checkpoints
        row = conn.execute(select(cp).where(cp.c.size == size).order_by(cp.c.id.desc()).limit(1)).first()
        return None if row is None else _checkpoint(row)


_COLS = "pos, hash, notification_id, recorded_at, entry_hash"

_Row = tuple[int, bytes, int | None, int | None, bytes | None]
"""A row of ``merkle_nodes``: ``(pos, hash, notification_id, recorded_at, entry_hash)``, the last
three None for an inner node."""

_Memo = tuple[int, bytes, tuple[bytes, ...], int]
"""The last leaf's index, hash and notification id, and the frontier's hashes after it."""


def _grow(size: int, hashes: tuple[bytes, ...], last_nid: int | None, leaves: Sequence[LeafInput],
          ) -> tuple[list[_Row], list[tuple[int, int]], _Memo]:
    """Rows for ``leaves`` appended to the tree of ``size`` leaves whose frontier is ``hashes``
    (:class:`ledger.merkle.Frontier`) and whose last leaf has notification id ``last_nid``: each
    leaf's row followed by the rows of the nodes it completes; the ``merkle_runs`` rows
    ``(notification_id, idx)`` of leaves that start a run; and the memo after them.
    """
    rows: list[_Row] = []
    runs: list[tuple[int, int]] = []
    memo: tuple[Any, ...] = (size - 1, b"", hashes, last_nid)
    for leaf in leaves:
        nid, prev = leaf[0], memo[3]
        if prev is None or nid != prev + 1:
            if prev is not None and not nid > prev:
                msg = f"notification id {nid} is not above the previous leaf's ({prev})"
                raise UsageError(msg)
            runs.append((nid, memo[0] + 1))
        params, memo = _grow_one(memo, leaf)
        rows.append((params[0], params[1], *params[5:8]))
        rows += [params[i:i + 5] for i in range(8, len(params), 5)]
    return rows, runs, memo


def _grow_one(memo: _Memo, leaf: LeafInput) -> tuple[tuple[Any, ...], _Memo]:
    """One leaf appended after the remembered tail: the parameters of
    :meth:`MerkleStore._guarded_insert` (the leaf, the tail it must follow, the nodes it closes),
    and the memo after it.

    A leaf completes one perfect subtree per trailing 1 bit of its index (levels 1, 2, ...,
    merging equal neighbours like a binary counter).
    """
    last, last_hash, hashes, last_nid = memo
    nid, recorded_at, ehash, sig = leaf
    idx = last + 1
    h = lh = merkle.compute_leaf_hash(ehash, sig, recorded_at, idx)
    params: tuple[Any, ...] = (2 * idx, lh, 2 * last, last_hash, last_nid, nid, recorded_at, ehash)
    keep = len(hashes)
    i, level = idx, 0
    while i & 1:
        keep -= 1
        h = merkle.node_hash(hashes[keep], h)
        level += 1
        i >>= 1
        params += ((i << (level + 1)) + (1 << level) - 1, h, None, None, None)  # node (level, i)
    return params, (idx, lh, (*hashes[:keep], h), nid)


def leaf_join_sql(events: str, leaf: str, runs: str = "merkle_runs") -> str:
    """:meth:`MerkleStore.leaf_on` as SQL text, for hand-written queries: ``leaf`` is an alias of
    ``merkle_nodes`` and ``events.id`` the notification id."""
    return (f"{leaf}.pos = 2 * (SELECT r.idx + {events}.id - r.notification_id FROM {runs} r "  # noqa: S608 - our table and alias names
            f"WHERE r.notification_id <= {events}.id ORDER BY r.notification_id DESC LIMIT 1) "
            f"AND {leaf}.notification_id = {events}.id")


_NO_CACHE: Mapping[Any, bytes] = {}

_SHAPES = 96
"""Statements for at most this many nodes are kept, one per shape (proofs need about 2 log n)."""

_APPENDED: weakref.WeakKeyDictionary[RootTransaction, bool] = weakref.WeakKeyDictionary()
"""Transactions in which some store appended: their reads may see uncommitted nodes."""


def _clean(conn: Connection) -> bool:
    """Whether no store appended in ``conn``'s transaction: all it reads is then committed."""
    tx = conn.get_transaction()
    return tx is None or tx not in _APPENDED


def _mark(conn: Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def _run(conn: Connection, sql: str, params: Sequence[Any], *, many: bool = False, fetch: bool = False) -> Any:
    """Run ``sql`` on the DBAPI cursor of ``conn``; rows as plain tuples.

    ``fetch`` reads the rows even before the cursor has described them (psycopg's pipeline mode).

    Inside a transaction, SQLAlchemy's execution machinery is skipped: it costs more than these
    primary-key statements. Outside one, ``exec_driver_sql`` runs it, so that SQLAlchemy begins
    the transaction as usual. Driver errors are raised as SQLAlchemy's wrapped exceptions.
    """
    if not conn.in_transaction():
        if many:
            conn.exec_driver_sql(sql, list(params))
            return None
        res = conn.exec_driver_sql(sql, tuple(params))
        return [tuple(r) for r in res] if res.returns_rows else None
    dbc = conn.connection.dbapi_connection
    if fetch and conn.dialect.name == "sqlite":
        try:  # sqlite3's Connection.execute makes and drops its cursor in C
            return dbc.execute(sql, params).fetchall()  # type: ignore[union-attr]
        except conn.dialect.loaded_dbapi.Error as e:
            _raise_wrapped(conn, e, sql, params, None, many=False)
    cur = dbc.cursor()  # type: ignore[union-attr]
    try:
        if many:
            cur.executemany(sql, params)
            return None
        cur.execute(sql, params)
        return cur.fetchall() if fetch or cur.description is not None else None
    except conn.dialect.loaded_dbapi.Error as e:
        _raise_wrapped(conn, e, sql, params, cur, many=many)
    finally:
        if not conn.invalidated:
            cur.close()


def _raise_wrapped(conn: Connection, e: Exception, sql: str, params: Sequence[Any], cur: Any, *,
                   many: bool) -> NoReturn:
    """Raise the driver error ``e`` as SQLAlchemy does for its own statements: wrapped in a
    ``DBAPIError`` subclass, and a lost connection invalidated (so that the pool does not hand
    it out again)."""
    lost = conn.dialect.is_disconnect(e, conn.connection.dbapi_connection, cur)  # type: ignore[arg-type]
    if lost:
        conn.invalidate(e)
    raise exc.DBAPIError.instance(sql, params, e, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect,
                                  ismulti=many, connection_invalidated=lost) from e


def _prune(cache: dict[Any, bytes], low: int, room: int) -> None:
    """Drop cached nodes below level ``low`` (the tree grew); everything if that is not enough."""
    for p in list(cache):  # a copy: other threads may use the cache meanwhile
        if type(p) is not int or (p ^ (p + 1)).bit_length() <= low:  # folds (tuple keys) go too
            cache.pop(p, None)
    if len(cache) > room:
        cache.clear()


def _perfect_positions(start: int, end: int) -> list[int]:
    """In-order positions of :func:`ledger.merkle.perfect_nodes` ``(start, end)``."""
    out = []
    while start < end:
        width = start & -start if start else 1 << ((end - start).bit_length() - 1)
        while start + width > end:
            width >>= 1
        out.append(2 * start + width - 1)
        start += width
    return out


def _path(plan: list[int | tuple[int, ...]], index: int, size: int, low: int, inner: int) -> None:
    """Append to ``plan`` the siblings of ``index``'s ancestors from level ``low`` up (RFC 9162 path).

    Below level ``inner`` (where ``index`` and the last leaf part) every sibling is a complete
    subtree except possibly the topmost, a right sibling cut by ``size``, whose hash is the fold
    of its perfect parts (a tuple of positions). Above it, the path has a left sibling at each
    level where ``index`` has a 1 bit, and nothing at the others.
    """
    if low < inner:
        # Below the top level the siblings lie in the same half as ``index``, wholly before the
        # last leaf: sibling (level, (index >> level) ^ 1) is complete.
        top = inner - 1
        plan += [(((index >> level) ^ 1) << (level + 1)) + (1 << level) - 1 for level in range(low, top)]
        width = 1 << top
        start = ((index >> top) ^ 1) << top
        if start + width <= size:
            plan.append(2 * start + width - 1)
        else:
            parts = _perfect_positions(start, size)
            plan.append(parts[0] if len(parts) == 1 else tuple(parts))
    idx, level = index >> inner, inner
    while idx:
        if idx & 1:
            start = (idx ^ 1) << level
            plan.append(2 * start + (1 << level) - 1)
        idx >>= 1
        level += 1


def inclusion_plan(index: int, size: int) -> list[int | tuple[int, ...]]:
    """Node positions of the inclusion proof for ``index`` in a tree of ``size`` leaves.

    One entry per proof hash, bottom up: an in-order position, or a tuple of positions whose
    hashes fold (:func:`ledger.merkle.fold_nodes`) into it. Same hashes as
    :func:`ledger.merkle.inclusion_proof`, computed in O(log n) integer steps.
    """
    if not 0 <= index < size:
        msg = f"no inclusion proof for index {index} in a tree of size {size}"
        raise UsageError(msg)
    plan: list[int | tuple[int, ...]] = []
    _path(plan, index, size, 0, (index ^ (size - 1)).bit_length())
    return plan


def consistency_plan(size1: int, size2: int) -> list[int | tuple[int, ...]]:
    """Node positions of the consistency proof from ``size1`` to ``size2`` (as :func:`inclusion_plan`).

    The proof is the inclusion path of the last leaf of the older tree, without the levels
    below the older tree's last perfect subtree (of ``2**shift`` leaves), which comes first
    unless it is the whole older tree (``size1`` a power of two).
    """
    if not 0 < size1 <= size2:
        msg = f"no consistency proof from size {size1} to size {size2}"
        raise UsageError(msg)
    if size1 == size2:
        return []
    index = size1 - 1
    shift = (size1 & -size1).bit_length() - 1
    plan: list[int | tuple[int, ...]] = []
    if size1 != 1 << shift:
        start = (index >> shift) << shift
        plan.append(2 * start + (1 << shift) - 1)
    _path(plan, index, size2, shift, (index ^ (size2 - 1)).bit_length())
    return plan


def _leaf(row: object) -> MerkleLeaf:
    r = row._mapping  # type: ignore[attr-defined]  # noqa: SLF001 - Row._mapping is SQLAlchemy's public API
    return MerkleLeaf(int(r["idx"]), int(r["notification_id"]), int(r["recorded_at"]),
                      bytes(r["entry_hash"]), bytes(r["hash"]))


def _checkpoint(row: object) -> StoredCheckpoint:
    r = row._mapping  # type: ignore[attr-defined]  # noqa: SLF001 - Row._mapping is SQLAlchemy's public API
    return StoredCheckpoint(int(r["id"]), int(r["size"]), bytes(r["root"]), str(r["note"]), int(r["created_at"]))


__all__ = ["LeafInput", "MerkleLeaf", "MerkleStore", "StoredCheckpoint", "consistency_plan", "inclusion_plan",
           "leaf_join_sql"]
