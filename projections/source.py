"""Reading the notification log for projections: decoded entries in log order.

A projection reads the ledger's own tables (``ledger_events`` and ``merkle_nodes``) with
SQLAlchemy Core on the same engine; it never writes them. An :class:`Item` is one notification:
the decoded, signed entry plus the ledger's attestations about it (notification id = position,
leaf index, ``recorded_at``), and the entry hash and signature so the audit trail can check them.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgpack
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
    select,
)
from sqlalchemy_utils.types.uuid import UUIDType

from domain.text import escape_for_projection
from ledger.chain import decode_entry, decode_record
from ledger.errors import EncodingError
from ledger.hashing import ENTRY_PREFIX, entry_hash
from ledger.limits import DEFAULT_LIMITS, Limits
from ledger.merkle_store import MerkleStore
from ledger.store import EVENTS_TABLE

_META = MetaData()
#: The events table as eventsourcing-sqlalchemy defines it (read only here).
EVENTS = Table(
    EVENTS_TABLE, _META,
    Column("id", BigInteger, primary_key=True),
    Column("originator_id", UUIDType()),
    Column("originator_version", BigInteger),
    Column("topic", Text),
    Column("state", LargeBinary),
)
#: The Merkle log's tables (ledger.merkle_store), for ``recorded_at`` and the leaf index.
LOG = MerkleStore(_META, node_cache=0)


_unpackb = msgpack.unpackb
_esc = escape_for_projection
_sha256 = hashlib.sha256


@dataclass(slots=True)
class Item:
    """One notification of the log, decoded. Treat as read-only (not frozen: a frozen dataclass costs
    about 1.3 µs more per entry to construct, a tenth of a full rebuild's budget per entry)."""

    position: int  # notification id: the log order
    leaf_index: int | None  # Merkle leaf index (None only if the log has no leaf for it)
    recorded_at: int | None  # µs UTC, the ledger's append time (from the leaf)
    case: str
    n: int
    type: str
    occurred_at: int
    actor: str
    key: bytes
    prev: bytes
    body: dict[str, Any]
    entry_hash: bytes
    sig: bytes


def decode_item(position: int, state: bytes, leaf_index: int | None, recorded_at: int | None,
                limits: Limits = DEFAULT_LIMITS, *, strict: bool = False) -> Item:
    """Decode one stored record.

    With ``strict`` the record and entry go through ``ledger.chain``'s checked decoders
    (canonical form, envelope schema; ``ledger.errors.EncodingError`` otherwise), about five times
    slower. Without it the bytes are unpacked with msgpack directly and only the fields the
    projections use are required: checking that stored bytes are canonical and signed is
    ``caseledger verify``'s job, and the audit trail re-checks hash and signature of every entry
    it shows when it is read (``Projections.audit_trail``). Either way ``entry_hash`` is computed
    from the stored bytes.

    Text is escaped for the read models (``domain.text.escape_for_projection``, docs/projections.md
    §Escaped text): a committed entry may hold U+0000, which PostgreSQL ``text``/``jsonb`` cannot
    store, so every control character but tab and line feed becomes its Control Picture in
    ``actor`` and ``body``. ``entry_hash`` and ``sig`` are of the stored, unescaped bytes.
    """
    if strict:
        data, sig = decode_record(bytes(state), limits=limits)
        e = decode_entry(data, limits=limits)
        return Item(position=int(position), leaf_index=None if leaf_index is None else int(leaf_index),
                    recorded_at=None if recorded_at is None else int(recorded_at), case=e.case, n=e.n,
                    type=e.type, occurred_at=e.occurred_at, actor=_esc(e.actor), key=e.key, prev=e.prev,
                    body=_esc(e.body), entry_hash=entry_hash(data), sig=sig)
    try:
        rec = _unpackb(state, raw=False)
        data, sig = rec["entry"], rec["sig"]
        m = _unpackb(data, raw=False)
        return Item(int(position), None if leaf_index is None else int(leaf_index),
                    None if recorded_at is None else int(recorded_at), m["case"], m["n"], m["type"],
                    m["occurred_at"], _esc(m["actor"]), m["key"], m["prev"], _esc(m["body"]),
                    _sha256(ENTRY_PREFIX + data).digest(), sig)
    except (ValueError, TypeError, KeyError, msgpack.UnpackException) as e:
        msg = f"notification {position} is not a ledger record: {e!r}"
        raise EncodingError(msg, code="E_RECORD_SCHEMA") from e


def _joined() -> Any:
    return (select(EVENTS.c.id, EVENTS.c.state, LOG.leaf_index, LOG.nodes.c.recorded_at)
            .select_from(EVENTS.outerjoin(LOG.nodes, LOG.leaf_on(EVENTS.c.id))))


def read_raw(conn: Connection, after: int, limit: int) -> list[Any]:
    """Up to ``limit`` raw rows ``(id, state, leaf idx, recorded_at)`` with ``id > after``, in order."""
    q = _joined().where(EVENTS.c.id > after).order_by(EVENTS.c.id).limit(limit)
    return list(conn.execute(q))


def read_batch(conn: Connection, after: int, limit: int, limits: Limits = DEFAULT_LIMITS, *,
               strict: bool = False) -> list[Item]:
    """Up to ``limit`` decoded items with position > ``after``, in log order."""
    return [decode_item(r[0], r[1], r[2], r[3], limits, strict=strict) for r in read_raw(conn, after, limit)]


def read_case(conn: Connection, case_id: str, limits: Limits = DEFAULT_LIMITS,
              *, upto: int | None = None, strict: bool = True) -> list[Item]:
    """Every item of one stream in order of ``n`` (optionally only positions ≤ ``upto``)."""
    q = _joined().where(EVENTS.c.originator_id == uuid.UUID(str(case_id)))
    if upto is not None:
        q = q.where(EVENTS.c.id <= upto)
    rows = conn.execute(q.order_by(EVENTS.c.originator_version))
    return [decode_item(r[0], r[1], r[2], r[3], limits, strict=strict) for r in rows]


def read_positions(conn: Connection, positions: list[int], limits: Limits = DEFAULT_LIMITS, *,
                   strict: bool = True) -> list[Item]:
    """The items at these notification positions, in log order."""
    if not positions:
        return []
    q = _joined().where(EVENTS.c.id.in_(sorted(set(positions)))).order_by(EVENTS.c.id)
    return [decode_item(r[0], r[1], r[2], r[3], limits, strict=strict) for r in conn.execute(q)]


def iter_log(conn: Connection, after: int = 0, batch: int = 5000,
             limits: Limits = DEFAULT_LIMITS, upto: int | None = None, *, strict: bool = False) -> Iterator[Item]:
    """Every item after ``after`` (and ≤ ``upto``), in log order, read in batches."""
    pos = after
    while True:
        items = read_batch(conn, pos, batch, limits, strict=strict)
        for it in items:
            if upto is not None and it.position > upto:
                return
            yield it
        if len(items) < batch:
            return
        pos = items[-1].position


def head_position(conn: Connection) -> int:
    """The highest notification id in the log (0 when empty)."""
    return int(conn.execute(select(func.coalesce(func.max(EVENTS.c.id), 0))).scalar() or 0)


def log_size_at(conn: Connection, position: int) -> int:
    """The number of Merkle leaves whose notification id is ≤ ``position``."""
    return LOG.size_at_notification(conn, position)
