"""The Merkle log on SQLAlchemy Core, beside the events (docs/spec/03-chain-and-log.md, ADR 0002).

Tables (created on the ``MetaData`` passed in, so they share the events' schema and engine):

``merkle_leaves(idx, notification_id, recorded_at, entry_hash, leaf_hash)``
    One row per committed entry. ``idx`` is the leaf index (0, 1, 2 ... with no gaps);
    ``notification_id`` is the event's id in the notification log, kept separately because
    PostgreSQL sequences can skip values when a transaction rolls back.
``merkle_nodes(pos, hash)``
    The hash of every *complete* perfect subtree of level >= 1, keyed by its in-order position
    (:func:`ledger.merkle.inorder_position`: node ``(level, idx)``, covering leaves
    ``[idx << level, (idx + 1) << level)``, is at ``idx * 2**(level+1) + 2**level - 1``). A
    complete subtree never changes, so rows are only ever inserted. There are
    ``size - popcount(size)`` of them: about one per leaf.
``checkpoints(id, size, root, note, created_at)``
    Signed checkpoint notes as issued (spec 04). The store does not verify them.

There is no mutable state row: the size is ``max(idx) + 1`` and the frontier (the O(log n)
perfect subtrees that make up ``[0, size)``) is read back from the two tables, so every table
is insert-only and an append writes only new rows.

Costs: ``append`` does two indexed reads (size, frontier) and two ``executemany`` inserts per
*transaction*, writing one leaf row and on average one node row per *leaf*; roots and proofs
for any size up to the current one are folds of O(log n) stored hashes read in one ``SELECT``,
with no tree rebuild. On SQLite both keys are rowid aliases.

Concurrency: every method takes a :class:`~sqlalchemy.engine.Connection` that is already
inside the caller's transaction. Appends must be serialised by the caller: the ledger's
recorder holds its events-table lock (PostgreSQL ``LOCK TABLE ... IN EXCLUSIVE MODE``,
SQLite's single-writer lock) while it calls :meth:`MerkleStore.append`, so this module takes
no lock of its own (ADR 0002). Two unserialised appenders would both compute the same next
index and one would fail on the primary key, never fork the tree silently. Reads need no lock:
every row they use is immutable.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    bindparam,
    func,
    insert,
    select,
    text,
    union_all,
)

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
    index and hash. Every append first reads the log's real tail in the caller's transaction
    and uses the remembered frontier only if the tail matches; a rolled-back append or another
    process's append changes the tail, and the frontier is then read back from the tables.
    """

    def __init__(self, metadata: MetaData) -> None:
        """Define the four tables on ``metadata`` (``metadata.create_all`` creates them)."""
        self.metadata = metadata
        self.leaves = Table(
            "merkle_leaves", metadata,
            Column("idx", _ID, primary_key=True, autoincrement=False),
            Column("notification_id", BigInteger, nullable=False, unique=True),
            Column("recorded_at", BigInteger, nullable=False),
            Column("entry_hash", LargeBinary(32), nullable=False),
            Column("leaf_hash", LargeBinary(32), nullable=False),
        )
        self.nodes = Table(
            "merkle_nodes", metadata,
            Column("pos", _ID, primary_key=True, autoincrement=False),
            Column("hash", LargeBinary(32), nullable=False),
        )
        self.checkpoints = Table(
            "checkpoints", metadata,
            Column("id", _ID, primary_key=True, autoincrement=True),
            Column("size", BigInteger, nullable=False, index=True),
            Column("root", LargeBinary(32), nullable=False),
            Column("note", Text, nullable=False),
            Column("created_at", BigInteger, nullable=False),
        )
        lv, nd = self.leaves, self.nodes
        self._q_size = select(func.max(lv.c.idx))
        self._q_tail = select(lv.c.idx, lv.c.leaf_hash).order_by(lv.c.idx.desc()).limit(1)
        self._memo: tuple[int, bytes, merkle.Frontier] | None = None
        self._q_fetch = union_all(
            select(nd.c.pos, nd.c.hash).where(nd.c.pos.in_(bindparam("pos", expanding=True))),
            select((lv.c.idx * 2).label("pos"), lv.c.leaf_hash).where(lv.c.idx.in_(bindparam("idx", expanding=True))),
        )
        self._q_nodes = select(nd.c.pos, nd.c.hash).where(nd.c.pos.in_(bindparam("pos", expanding=True)))
        self._q_leaves = select(lv.c.idx, lv.c.leaf_hash).where(lv.c.idx.in_(bindparam("idx", expanding=True)))
        self._ins_leaves = insert(lv)
        self._ins_nodes = insert(nd)

    # -- writing ---------------------------------------------------------------------------

    def _frontier(self, conn: Connection) -> merkle.Frontier:
        size = self.size(conn)
        nodes = merkle.perfect_nodes(0, size)
        got = self.fetcher(conn)(nodes) if nodes else {}
        return merkle.Frontier(size, [Digest(got[n]) for n in nodes])

    def append(self, conn: Connection, leaves: Sequence[LeafInput]) -> list[int]:
        """Append one leaf per committed entry, in the given order; return their indexes.

        Must run inside the transaction that inserts the entries, while the caller holds the
        lock that serialises appenders (ADR 0002).

        Args:
            conn: a connection inside the caller's transaction.
            leaves: ``(notification_id, recorded_at, entry_hash, signature)`` per entry.

        Returns:
            The leaf indexes assigned: the current size, size + 1, ...

        Raises:
            EncodingError: a field is malformed (see :func:`ledger.merkle.leaf_data`).
        """
        if not leaves:
            return []
        memo = self._memo
        if memo is not None and conn.dialect.name == "postgresql":
            # Fast path: one statement that inserts only if the log's tail is the remembered one.
            frontier = merkle.Frontier(memo[2].size, list(memo[2].hashes))
            leaf_rows, node_rows = _rows(frontier, leaves)
            if self._insert_if_tail(conn, memo[0], memo[1], leaf_rows, node_rows):
                self._memo = (frontier.size - 1, leaf_rows[-1]["leaf_hash"], frontier)
                return list(range(memo[0] + 1, frontier.size))
        # Raw driver SQL on the hot path: SQLAlchemy's statement handling costs more than
        # these primary-key reads and inserts themselves.
        lv, nd = self.leaves.name, self.nodes.name
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        tail = conn.exec_driver_sql(f"SELECT idx, leaf_hash FROM {lv} ORDER BY idx DESC LIMIT 1").first()
        if tail is None:
            frontier = merkle.Frontier()
        elif memo is not None and memo[0] == tail[0] and memo[1] == bytes(tail[1]):
            frontier = merkle.Frontier(memo[2].size, list(memo[2].hashes))
        else:
            frontier = self._frontier(conn)
        first = frontier.size
        leaf_rows, node_rows = _rows(frontier, leaves)
        conn.exec_driver_sql(
            f"INSERT INTO {lv} (idx, notification_id, recorded_at, entry_hash, leaf_hash) "
            f"VALUES ({', '.join([mark] * 5)})",
            [(r["idx"], r["notification_id"], r["recorded_at"], r["entry_hash"], r["leaf_hash"]) for r in leaf_rows])
        if node_rows:
            conn.exec_driver_sql(f"INSERT INTO {nd} (pos, hash) VALUES ({mark}, {mark})",
                                 [(r["pos"], r["hash"]) for r in node_rows])
        self._memo = (frontier.size - 1, leaf_rows[-1]["leaf_hash"], frontier)
        return list(range(first, frontier.size))

    def _insert_if_tail(self, conn: Connection, last_idx: int, last_hash: bytes,
                        leaf_rows: list[dict[str, object]], node_rows: list[dict[str, object]]) -> bool:
        """PostgreSQL: insert leaves and nodes in one statement iff the tail is (last_idx, last_hash)."""
        params: dict[str, object] = {"ti": last_idx, "th": last_hash}
        vals = []
        for k, r in enumerate(leaf_rows):
            vals.append(f"(CAST(:i{k} AS BIGINT), CAST(:n{k} AS BIGINT), CAST(:r{k} AS BIGINT), "
                        f"CAST(:e{k} AS BYTEA), CAST(:l{k} AS BYTEA))")
            params.update({f"i{k}": r["idx"], f"n{k}": r["notification_id"], f"r{k}": r["recorded_at"],
                           f"e{k}": r["entry_hash"], f"l{k}": r["leaf_hash"]})
        lv, nd = self.leaves.name, self.nodes.name
        sql = (f"WITH ok AS (SELECT 1 FROM (SELECT idx, leaf_hash FROM {lv} ORDER BY idx DESC LIMIT 1) t "
               f"WHERE t.idx = :ti AND t.leaf_hash = :th), "
               f"l AS (INSERT INTO {lv} (idx, notification_id, recorded_at, entry_hash, leaf_hash) "
               f"SELECT v.* FROM (VALUES {', '.join(vals)}) AS v(a, b, c, d, e) WHERE EXISTS (SELECT 1 FROM ok) "
               f"RETURNING 1)")
        if node_rows:
            nvals = []
            for k, r in enumerate(node_rows):
                nvals.append(f"(CAST(:p{k} AS BIGINT), CAST(:h{k} AS BYTEA))")
                params.update({f"p{k}": r["pos"], f"h{k}": r["hash"]})
            sql += (f", n AS (INSERT INTO {nd} (pos, hash) SELECT v.* FROM (VALUES {', '.join(nvals)}) AS v(a, b) "
                    f"WHERE EXISTS (SELECT 1 FROM ok) RETURNING 1)")
        sql += " SELECT count(*) FROM l"
        return int(conn.execute(text(sql), params).scalar() or 0) == len(leaf_rows)

    # -- reading ---------------------------------------------------------------------------

    def size(self, conn: Connection) -> int:
        """The number of leaves committed (as seen by ``conn``'s transaction)."""
        top = conn.execute(self._q_size).scalar()
        return 0 if top is None else int(top) + 1

    def fetcher(self, conn: Connection) -> merkle.NodeFetcher:
        """A :class:`ledger.merkle.NodeFetcher` reading stored hashes through ``conn``.

        Each call is one ``SELECT`` (leaf hashes and node hashes by primary key). A node that
        is absent (the size asked for exceeds the log) raises :class:`UsageError`.
        """

        def fetch(nodes: Collection[merkle.NodeId]) -> Mapping[merkle.NodeId, bytes]:
            want = {merkle.inorder_position(n): n for n in nodes}
            leaf_ids = [i for lvl, i in want.values() if lvl == 0]
            inner = [p for p, (lvl, _) in want.items() if lvl > 0]
            # Raw driver SQL: this is the hot path of every proof, and compiling an expanding
            # IN clause through SQLAlchemy costs more than the indexed lookups themselves.
            mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            parts, params = [], []
            if inner:
                parts.append(f"SELECT pos, hash FROM {self.nodes.name} WHERE pos IN ({', '.join([mark] * len(inner))})")
                params.extend(inner)
            if leaf_ids:
                parts.append(f"SELECT idx * 2, leaf_hash FROM {self.leaves.name} "
                             f"WHERE idx IN ({', '.join([mark] * len(leaf_ids))})")
                params.extend(leaf_ids)
            rows = list(conn.exec_driver_sql(" UNION ALL ".join(parts), tuple(params))) if parts else []
            out = {want[int(pos)]: bytes(h) for pos, h in rows}
            if len(out) != len(want):
                missing = sorted(set(want.values()) - set(out))
                msg = f"the log has no complete subtree {missing[0]} (size beyond the log?)"
                raise UsageError(msg)
            return out

        return fetch

    def root(self, conn: Connection, size: int | None = None) -> Digest:
        """The root at ``size`` (default: the current size); O(log n) reads for older sizes."""
        if size is None:
            return self._frontier(conn).root()
        return merkle.root_at(size, self.fetcher(conn))

    def leaf(self, conn: Connection, idx: int) -> MerkleLeaf | None:
        """The leaf at ``idx``, or None."""
        lv = self.leaves
        row = conn.execute(select(lv).where(lv.c.idx == idx)).first()
        return None if row is None else _leaf(row)

    def leaf_for_notification(self, conn: Connection, notification_id: int) -> MerkleLeaf | None:
        """The leaf of the event with this notification id, or None."""
        lv = self.leaves
        row = conn.execute(select(lv).where(lv.c.notification_id == notification_id)).first()
        return None if row is None else _leaf(row)

    def inclusion_proof(self, conn: Connection, index: int, size: int) -> list[Digest]:
        """RFC 9162 inclusion proof for leaf ``index`` in the tree of ``size`` leaves.

        Raises:
            UsageError: ``index`` is not below ``size`` or ``size`` exceeds the log.
        """
        return merkle.inclusion_proof(index, size, self.fetcher(conn))

    def consistency_proof(self, conn: Connection, size1: int, size2: int) -> list[Digest]:
        """RFC 9162 consistency proof from ``size1`` to ``size2`` (``0 < size1 <= size2``).

        Raises:
            UsageError: the sizes are out of order or ``size2`` exceeds the log.
        """
        return merkle.consistency_proof(size1, size2, self.fetcher(conn))

    def iter_leaves(self, conn: Connection, start: int = 0, batch: int = 10_000) -> Iterator[MerkleLeaf]:
        """Every leaf from ``start`` in index order, read ``batch`` rows at a time."""
        if batch < 1:
            msg = "batch must be >= 1"
            raise UsageError(msg)
        lv = self.leaves
        nxt = start
        while True:
            rows = conn.execute(select(lv).where(lv.c.idx >= nxt).order_by(lv.c.idx).limit(batch)).all()
            for row in rows:
                yield _leaf(row)
            if len(rows) < batch:
                return
            nxt = int(rows[-1].idx) + 1

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

    def checkpoint_at(self, conn: Connection, size: int) -> StoredCheckpoint | None:
        """The most recently stored checkpoint of exactly ``size`` leaves, or None."""
        cp = self.checkpoints
        row = conn.execute(select(cp).where(cp.c.size == size).order_by(cp.c.id.desc()).limit(1)).first()
        return None if row is None else _checkpoint(row)


def _rows(frontier: merkle.Frontier, leaves: Sequence[LeafInput]) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Leaf rows and newly completed node rows for ``leaves`` appended to ``frontier`` (mutated)."""
    leaf_rows: list[dict[str, object]] = []
    node_rows: list[dict[str, object]] = []
    for nid, recorded_at, ehash, sig in leaves:
        idx = frontier.size
        lh = merkle.compute_leaf_hash(ehash, sig, recorded_at, idx)
        leaf_rows.append({"idx": idx, "notification_id": nid, "recorded_at": recorded_at,
                          "entry_hash": ehash, "leaf_hash": lh})
        for node, h in frontier.append(lh):
            node_rows.append({"pos": merkle.inorder_position(node), "hash": h})
    return leaf_rows, node_rows


def _leaf(row: object) -> MerkleLeaf:
    r = row._mapping  # type: ignore[attr-defined]
    return MerkleLeaf(int(r["idx"]), int(r["notification_id"]), int(r["recorded_at"]),
                      bytes(r["entry_hash"]), bytes(r["leaf_hash"]))


def _checkpoint(row: object) -> StoredCheckpoint:
    r = row._mapping  # type: ignore[attr-defined]
    return StoredCheckpoint(int(r["id"]), int(r["size"]), bytes(r["root"]), str(r["note"]), int(r["created_at"]))


__all__ = ["LeafInput", "MerkleLeaf", "MerkleStore", "StoredCheckpoint"]
