"""Full rebuild fast path: every projection folded from position 0 with the tables known empty.

Incremental processing (``runner.py``) pays, per batch, a ``SELECT`` of every row the batch
touches, a JSON round trip of every case file it touches, an ``UPDATE`` per changed row and
SQLAlchemy's per-row parameter processing. A full rebuild needs none of that: the tables start
empty and nothing else writes them, so

* rows stay in memory while their stream is active and are written **once**, when the stream has
  been idle for a whole window (``window`` entries) or at the end: a case file is JSON-encoded
  once, not once per batch that touched it (a stream that comes back after being written is
  read back and updated, which is rare and correct);
* append-only rows (``proj_audit``, ``proj_notice_version``) and the evicted rows are written per
  window with one ``executemany`` per table on the driver's cursor (values already in column
  order, JSON encoded with ``json.dumps`` as SQLAlchemy's ``JSON`` type does, ``None`` as
  ``'null'``);
* counters (``proj_stat``, ``proj_feedback``, ``proj_officer_activity``) are summed in memory
  and written at the end;
* secondary indexes are created after the rows are in (one sort instead of ~1M B-tree inserts);
* the log is read with the driver's cursor (``ledger_events`` ⋈ ``merkle_nodes``, in id order,
  pages of ``page``) and decoded by :func:`projections.source.decode_item` as usual.

With ``jobs > 1`` the streams are partitioned between worker processes by the last byte of the
stream id. Every worker reads the whole log but decodes and folds only its own streams, plus the
few entries every partition needs: the key registry's (each audit-trail partition replays the key
registry) and the enterprise-year entries that count or release an inspection (folded into that
inspection's case file by whichever worker owns it). Counters are returned to the parent and
summed. Every projection is a per-stream fold except the counters, which are sums, and the key
registry, which every partition replays in full, so the partitioned result is the same as the
serial one. A log whose entries do not agree with their stream (an entry's ``case`` not its
stream id, a ``topic`` that is not its type) cannot be partitioned safely; the rebuild then
starts again with one process.

Crash safety. While a bulk rebuild runs, the projections' tracking rows hold position 0 and
version :data:`REBUILDING` (0). Incremental runners leave such projections alone; ``setup()``
treats them as stale, so a rebuild that died half-way (crash, SIGKILL, power cut) is simply
dropped and started again from position 0 by the next ``setup()`` or ``caseledger rebuild``.
Every window's transaction first checks that its projections are still marked as rebuilding, so
a concurrent drop cannot be written into. The last transaction writes the counters, then moves
the tracking rows to the head read at the start and to the code's version: until that commit no
reader sees the projection as up to date. Because nothing of a half-done rebuild is ever used, the
SQLite connection of a bulk rebuild commits with ``synchronous=NORMAL`` (WAL) and a larger page
cache; the setting is restored before the connection returns to the pool.

Result: the same rows as incremental processing (tested on SQLite and PostgreSQL:
``tests/integration/test_projection_bulk.py`` and the hypothesis property test).
"""

from __future__ import annotations

import json
import multiprocessing
import operator
import os
import queue as _queue
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, delete, insert, select, update
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.types import TypeEngine

from ledger.errors import LedgerError
from ledger.keys import KEY_OPENED, KEY_REGISTRY_ID, KeyRing
from ledger.limits import DEFAULT_LIMITS, Limits
from ledger.merkle_store import leaf_join_sql
from projections import casefile, tables
from projections.base import stream_kind
from projections.calendar_years import load_calendar
from projections.casefile import EY_COUNTED, EY_RELEASED, short_type
from projections.errors import ProjectionFailed
from projections.projectors import (
    _NOTICE_TYPES,
    _REGISTER_KINDS,
    ACTING_AS,
    STAR,
    StatsFold,
    Supervision,
    _agency_of,
    _apply_key,
    _apply_register,
    _notice_apply,
    deadline_rows,
    key_status,
    officer_acts,
    resolve_stored_pending,
    stat_key,
)
from projections.source import EVENTS, LOG, Item, decode_item, head_position

#: Tracking version while a bulk rebuild is under way (real versions start at 1).
REBUILDING = 0
#: Notifications read between two writes; a stream idle for a whole window is written.
WINDOW = 50_000
#: Notifications read per query.
PAGE = 20_000
#: ``jobs=None``: one partition per CPU but one (the parent writes the counters and indexes, and
#: on 2 shared vCPUs two partitions measured slower than one), at most AUTO_JOBS, for logs of at
#: least AUTO_MIN_ENTRIES.
AUTO_JOBS = 4
AUTO_MIN_ENTRIES = 50_000

_dumps = json.dumps
_SHARED_TOPICS = frozenset({EY_COUNTED, EY_RELEASED})
_KEY_REGISTRY_UUID = uuid.UUID(KEY_REGISTRY_ID)
_HEX = frozenset("0123456789abcdefABCDEF")


class NotPartitionable(Exception):
    """The log has entries that disagree with their stream id or topic: rebuild with one process."""


def case_part(case: str, parts: int) -> int:
    """The partition of a stream id (its last byte, as in :func:`oid_part`)."""
    if parts == 1:
        return 0
    tail = case[-2:]
    if len(case) == 36 and len(tail) == 2 and tail[0] in _HEX and tail[1] in _HEX:  # noqa: PLR2004 - a UUID string is 36 characters; two hex digits; a (kind, value) message
        return int(tail, 16) % parts
    return 0


def oid_part(oid: Any, parts: int) -> int:
    """The partition of a stored ``originator_id`` (bytes on SQLite, ``uuid.UUID`` on PostgreSQL)."""
    if isinstance(oid, bytes | bytearray | memoryview):
        return bytes(oid)[-1] % parts
    if isinstance(oid, uuid.UUID):
        return (oid.int & 0xFF) % parts
    return case_part(str(oid), parts)


def _is_key_registry(oid: Any) -> bool:
    if isinstance(oid, uuid.UUID):
        return oid == _KEY_REGISTRY_UUID
    if isinstance(oid, bytes | bytearray | memoryview):
        return bytes(oid) == _KEY_REGISTRY_UUID.bytes
    return str(oid) == KEY_REGISTRY_ID


# ============================================================================ writing
def _is_json(t: TypeEngine[Any]) -> bool:
    """Whether a column type is stored as JSON (its affinity, so dialect variants count too)."""
    affinity = t._type_affinity  # noqa: SLF001 - SQLAlchemy's own name for the generic type
    assert affinity is not None  # every column type has one
    return affinity.__name__ == "JSON"


class Sink:
    """Writes through the driver's own cursor inside the connection's transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        self.ph = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        self._sql: dict[tuple[str, str], str] = {}
        self._json: dict[str, tuple[bool, ...]] = {}
        self._tuple: dict[str, Callable[[dict[str, Any]], tuple[Any, ...]]] = {}
        #: Writes queued by the folds' ``flush`` (rows already encoded), run by :meth:`run` under the
        #: write lock, so a partition holds SQLite's lock only while the driver writes.
        self.pending: list[Callable[[], None]] = []

    def run(self) -> None:
        for op in self.pending:
            op()
        self.pending = []

    def tuple_of(self, table: Table) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
        """Row dict → values in column order, JSON columns encoded as SQLAlchemy's JSON type does."""
        f = self._tuple.get(table.name)
        if f is None:

            names = [c.name for c in table.columns]
            js = [i for i, j in enumerate(self.json_flags(table)) if j]
            get = operator.itemgetter(*names)

            def f(row: dict[str, Any], get: Any = get, js: list[int] = js, t: Table = table) -> tuple[Any, ...]:
                try:
                    v = get(row)
                except KeyError:  # a column the row leaves out: NULL, as an INSERT without it
                    return row_tuple(t, row, self.json_flags(t))
                if js:
                    v = list(v)
                    for i in js:
                        v[i] = _dumps(v[i])
                    return tuple(v)
                return v  # type: ignore[no-any-return]

            self._tuple[table.name] = f
        return f
    @property
    def cursor(self) -> Any:
        return self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]

    def _cols(self, table: Table) -> list[str]:
        return [c.name for c in table.columns]

    def json_flags(self, table: Table) -> tuple[bool, ...]:
        f = self._json.get(table.name)
        if f is None:
            f = self._json[table.name] = tuple(_is_json(c.type) for c in table.columns)
        return f

    def _ph(self, table: Table, col: str) -> str:
        if not self.sqlite and _is_json(table.c[col].type):
            return self.ph + "::json"
        return self.ph

    def insert(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            self.pending.append(lambda: self._insert(table, rows))

    def _insert(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        sql = self._sql.get(("i", table.name))
        if sql is None:
            cols = self._cols(table)
            sql = (f"INSERT INTO {table.name} ({', '.join(cols)}) "  # noqa: S608 - table and column names are ours; values are bound parameters
                   f"VALUES ({', '.join(self._ph(table, c) for c in cols)})")
            self._sql[("i", table.name)] = sql
        cur = self.cursor
        cur.executemany(sql, rows)
        cur.close()

    def update(self, table: Table, key: str, rows: list[tuple[Any, ...]]) -> None:
        """``rows`` in column order; the key column is moved to the end for the ``WHERE``."""
        if rows:
            self.pending.append(lambda: self._update(table, key, rows))

    def _update(self, table: Table, key: str, rows: list[tuple[Any, ...]]) -> None:
        cols = self._cols(table)
        ki = cols.index(key)
        sql = self._sql.get(("u", table.name))
        if sql is None:
            sets = ", ".join(f"{c} = {self._ph(table, c)}" for c in cols if c != key)
            sql = f"UPDATE {table.name} SET {sets} WHERE {key} = {self.ph}"  # noqa: S608 - table and column names are ours; values are bound parameters
            self._sql[("u", table.name)] = sql
        cur = self.cursor
        cur.executemany(sql, [(*r[:ki], *r[ki + 1:], r[ki]) for r in rows])
        cur.close()

    def delete_in(self, table: Table, col: str, keys: Sequence[Any]) -> None:
        self.pending.append(lambda: self._delete_in(table, col, list(keys)))

    def _delete_in(self, table: Table, col: str, keys: Sequence[Any]) -> None:
        for i in range(0, len(keys), 500):
            self.conn.execute(delete(table).where(table.c[col].in_(list(keys[i:i + 500]))))

    def load(self, table: Table, key: str, k: Any) -> dict[str, Any] | None:
        r = self.conn.execute(select(table).where(table.c[key] == k)).first()
        return None if r is None else dict(r._mapping)  # noqa: SLF001 - Row._mapping is SQLAlchemy's public API


def row_tuple(table: Table, row: dict[str, Any], flags: tuple[bool, ...]) -> tuple[Any, ...]:
    return tuple(_dumps(row.get(c.name)) if j else row.get(c.name) for c, j in zip(table.columns, flags, strict=True))


class Rows:
    """Rows of a single-key table kept in memory while their stream is active (see module doc)."""

    def __init__(self, table: Table, key: str, unwrap: str | None = None) -> None:
        self.table, self.key, self.unwrap = table, key, unwrap
        self.rows: dict[Any, dict[str, Any]] = {}
        self.touched: set[Any] = set()
        self.dirty: set[Any] = set()
        self.in_db: set[Any] = set()
        self.sink: Sink | None = None

    def get(self, k: Any) -> dict[str, Any] | None:
        r = self.rows.get(k)
        if r is None and k in self.in_db:
            assert self.sink is not None
            r = self.sink.load(self.table, self.key, k)
            if r is not None and self.unwrap:
                r = r[self.unwrap]
            if r is not None:
                self.rows[k] = r
        if r is not None:
            self.touched.add(k)
        return r

    def put(self, k: Any, row: dict[str, Any]) -> None:
        row[self.key] = k
        self.rows[k] = row
        self.dirty.add(k)
        self.touched.add(k)

    def victims(self, final: bool) -> list[Any]:  # noqa: FBT001 - the streams' flush(sink, final) interface
        return list(self.rows) if final else [k for k in self.rows if k not in self.touched]

    def flush(self, sink: Sink, final: bool) -> None:  # noqa: FBT001 - the streams' flush(sink, final) interface
        out = self.victims(final)
        tup = sink.tuple_of(self.table)
        new: list[tuple[Any, ...]] = []
        changed: list[tuple[Any, ...]] = []
        for k in sorted(out, key=str):
            if k in self.dirty:
                (changed if k in self.in_db else new).append(tup(self.rows[k]))
        sink.insert(self.table, new)
        sink.update(self.table, self.key, changed)
        for k in out:
            if k in self.dirty:
                self.in_db.add(k)
                self.dirty.discard(k)
            del self.rows[k]
        self.touched = set()


class Counts:
    """Counters summed in memory: key → [first position, template, total]."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.c: dict[str, list[Any]] = {}

    def bump(self, key: str, template: Callable[[], dict[str, Any]], delta: int, pos: int) -> None:
        e = self.c.get(key)
        if e is None:
            self.c[key] = [pos, template(), delta]
        else:
            e[2] += delta


def merge_counts(parts: Iterable[dict[str, list[Any]]]) -> dict[str, list[Any]]:
    """Sum partitions' counters; the template is the one of the first bump in log order (as
    incremental processing keeps the row created by the first batch)."""
    out: dict[str, list[Any]] = {}
    for p in parts:
        for k, (pos, tpl, n) in p.items():
            e = out.get(k)
            if e is None:
                out[k] = [pos, tpl, n]
            else:
                if pos < e[0]:
                    e[0], e[1] = pos, tpl
                e[2] += n
    return out


def write_counts(sink: Sink, table: Table, counts: dict[str, list[Any]]) -> None:
    tup = sink.tuple_of(table)
    sink.insert(table, [tup({**counts[k][1], "key": k, "count": int(counts[k][2])}) for k in sorted(counts)])


# ============================================================================ the folds
class Fold:
    name: str

    def apply(self, it: Item, own: bool) -> None:  # noqa: FBT001 - the streams' flush(sink, final) interface
        raise NotImplementedError

    def flush(self, sink: Sink, final: bool) -> None:  # noqa: FBT001 - the streams' flush(sink, final) interface
        raise NotImplementedError

    def stores(self) -> list[Rows]:
        return []

    def counts(self) -> dict[str, dict[str, list[Any]]]:
        return {}


class CaseFilesFold(Fold):
    name = "case_files"

    def __init__(self, part: int, parts: int) -> None:
        self.part, self.parts = part, parts
        self.docs = Rows(tables.CASE_FILE, "case_id", unwrap="doc")  # rows are the documents themselves
        self.regs = Rows(tables.REGISTER, "stream_id")

    def stores(self) -> list[Rows]:
        return [self.docs, self.regs]

    def _doc(self, cid: str) -> dict[str, Any]:
        d = self.docs.get(cid)
        if d is None:
            d = casefile.new_case_file(cid)
        self.docs.put(cid, d)
        return d

    def apply(self, it: Item, own: bool) -> None:  # noqa: FBT001 - the streams' flush(sink, final) interface
        if own:
            k = stream_kind(it.type)
            if k == "inspection":
                casefile.apply_entry_in_place(self._doc(it.case), it)
            elif k in _REGISTER_KINDS:
                self.regs.put(it.case, _apply_register(self.regs.get(it.case), it))
        if it.type in _SHARED_TOPICS:
            rel = casefile.related_case(it)
            if rel and case_part(rel, self.parts) == self.part:
                casefile.apply_related(self._doc(rel), it)

    def flush(self, sink: Sink, final: bool) -> None:  # noqa: FBT001 - the streams' flush(sink, final) interface
        docs = self.docs
        out = sorted(docs.victims(final))
        fc, fd, fr = (sink.tuple_of(tables.CASE_FILE), sink.tuple_of(tables.DEADLINE),
                      sink.tuple_of(tables.ROLE_CONFLICT))
        new, changed, conflicts, again = [], [], [], []
        deadlines: list[tuple[Any, ...]] = []
        for cid in out:
            if cid not in docs.dirty:
                continue
            d = docs.rows[cid]
            row = {"case_id": cid, "lead_agency": d["lead_agency"], "uscc": d["party"]["uscc"],
                   "task_no": d["task_no"], "case_no": (d["case"] or {}).get("case_no"),
                   "decision_no": (d["decision"] or {}).get("decision_no"), "year": d["year"],
                   "stage": d["stage"], "last_n": d["last_n"], "position": d["position"], "doc": d}
            if cid in docs.in_db:
                changed.append(fc(row))
                again.append(cid)
            else:
                new.append(fc(row))
            agency = d["lead_agency"]
            deadlines.extend(fd(r) for r in deadline_rows(cid, d))
            for c in casefile.role_conflicts(d):
                conflicts.append(fr({"case_id": cid, "agency_code": agency, **c}))  # noqa: PERF401 - one append per deadline kind reads clearer
        sink.insert(tables.CASE_FILE, new)
        sink.update(tables.CASE_FILE, "case_id", changed)
        if again:
            sink.delete_in(tables.DEADLINE, "case_id", again)
            sink.delete_in(tables.ROLE_CONFLICT, "case_id", again)
        sink.insert(tables.DEADLINE, deadlines)
        sink.insert(tables.ROLE_CONFLICT, conflicts)
        for cid in out:
            if cid in docs.dirty:
                docs.in_db.add(cid)
                docs.dirty.discard(cid)
            del docs.rows[cid]
        docs.touched = set()
        self.regs.flush(sink, final)


class NoticesFold(Fold):
    name = "public_notices"

    def __init__(self) -> None:
        self.src, self.rows = Rows(tables.NOTICE_SRC, "case_id"), Rows(tables.NOTICE, "case_id")
        self.versions: list[dict[str, Any]] = []

    def stores(self) -> list[Rows]:
        return [self.src, self.rows]

    def apply(self, it: Item, own: bool) -> None:  # noqa: FBT001 - the streams' flush(sink, final) interface
        if not own or not it.type.startswith("inspection.") or short_type(it.type) not in _NOTICE_TYPES:
            return
        s = self.src.get(it.case)
        state = s["state"] if s else {"agency": None, "decision": None, "alterations": {}}
        new_row = _notice_apply(state, self.rows.get(it.case), it, self.versions)
        self.src.put(it.case, {"state": state})
        if new_row is not None:
            self.rows.put(it.case, new_row)

    def flush(self, sink: Sink, final: bool) -> None:  # noqa: FBT001 - the streams' flush(sink, final) interface
        self.src.flush(sink, final)
        self.rows.flush(sink, final)
        f = sink.tuple_of(tables.NOTICE_VERSION)
        sink.insert(tables.NOTICE_VERSION, [f(v) for v in self.versions])
        self.versions = []


class AuditFold(Fold):
    name = "audit_trail"

    def __init__(self) -> None:
        self.ring = KeyRing()
        self.streams = Rows(tables.AUDIT_STREAM, "case_id")
        self.out: list[tuple[Any, ...]] = []
        self._pk: dict[bytes, str] = {}

    def stores(self) -> list[Rows]:
        return [self.streams]

    def apply(self, it: Item, own: bool) -> None:  # noqa: FBT001 - the streams' flush(sink, final) interface
        ring = self.ring
        if it.case == KEY_REGISTRY_ID and it.type == KEY_OPENED:
            _apply_key(ring, it)
            status, rec = key_status(ring, it)
        elif it.case == KEY_REGISTRY_ID:
            status, rec = key_status(ring, it)
            _apply_key(ring, it)
        elif own:
            status, rec = key_status(ring, it)
        else:
            return
        if not own:
            return
        kind = stream_kind(it.type)
        role = None if rec is None else rec.role
        s = self.streams.get(it.case)
        if s is None or (s["agency_code"] is None and _agency_of(it)):
            s = {"kind": kind, "agency_code": _agency_of(it)}
            self.streams.put(it.case, s)
        t = short_type(it.type)
        b = it.body
        acting = ACTING_AS.get(t) or b.get("decider_role") or role
        if t == "approved":
            acting = b.get("approver_role") or acting
        elif t == "decided":
            acting = b.get("decider_role") or acting
        fl = b.get("flags")
        flags = list(fl or ()) if isinstance(fl, list | tuple) else []
        if rec is None:
            pk = None
        else:
            raw = bytes(rec.public_key)
            pk = self._pk.get(raw)
            if pk is None:
                pk = self._pk[raw] = raw.hex()
        ra = it.recorded_at
        # proj_audit column order
        self.out.append((it.position, it.leaf_index, it.case, it.n, it.type, it.actor, it.key.hex(), role, acting,
                         status, pk, it.entry_hash.hex(), it.occurred_at, ra,
                         None if ra is None else ra - it.occurred_at,
                         ("," + ",".join(flags) + ",") if flags else "", s["agency_code"], kind))

    def flush(self, sink: Sink, final: bool) -> None:  # noqa: FBT001 - the streams' flush(sink, final) interface
        sink.insert(tables.AUDIT, self.out)
        self.out = []
        self.streams.flush(sink, final)


_AUDIT_COLS = ("position", "leaf_index", "case_id", "n", "type", "actor", "key_id", "key_role", "acting_as",
               "key_status", "public_key", "entry_hash", "occurred_at", "recorded_at", "gap_us", "flags",
               "agency_code", "stream_kind")
assert tuple(c.name for c in tables.AUDIT.columns) == _AUDIT_COLS


class SupervisionFold(Fold):
    name = "supervision"

    def __init__(self) -> None:
        self.eys = Rows(tables.ENTERPRISE_YEAR, "stream_id")
        self.streams = Rows(tables.SUPERVISION_STREAM, "case_id")
        self.feedback, self.activity = Counts(tables.FEEDBACK), Counts(tables.OFFICER_ACTIVITY)

    def stores(self) -> list[Rows]:
        return [self.eys, self.streams]

    def counts(self) -> dict[str, dict[str, list[Any]]]:
        return {tables.FEEDBACK.name: self.feedback.c, tables.OFFICER_ACTIVITY.name: self.activity.c}

    def apply(self, it: Item, own: bool) -> None:  # noqa: FBT001 - the streams' flush(sink, final) interface
        if not own:
            return
        kind, t, b = stream_kind(it.type), short_type(it.type), it.body
        s = self.streams.get(it.case)
        if s is None or (s["agency_code"] is None and _agency_of(it)):
            s = {"kind": kind, "agency_code": _agency_of(it)}
            self.streams.put(it.case, s)
        year = int(casefile.day_of(it.occurred_at)[:4])
        agency = s["agency_code"]
        pos = it.position
        if kind == "enterprise_year":
            Supervision._enterprise_year(self.eys, it)  # type: ignore[arg-type]  # noqa: SLF001 - Row._mapping is SQLAlchemy's public API
        code = b.get("prohibition_code")
        if code:
            for c in code if isinstance(code, list | tuple) else [code]:
                key = f"{year}|{agency}|{c}|{t}"
                def template(key: str = key, c: Any = c) -> dict[str, Any]:
                    return {"key": key, "year": year, "agency_code": agency, "code": str(c), "kind": t}

                self.feedback.bump(key, template, 1, pos)
        if kind != "inspection":
            return
        activity = self.activity

        for officer, name, agency_code in officer_acts(it, t, agency):
            key = f"{officer}|{year}|{agency_code}|{name}"
            e = activity.c.get(key)
            if e is None:
                activity.c[key] = [pos, {"key": key, "officer": officer, "year": year, "agency_code": agency_code,
                                         "activity": name}, 1]
            else:
                e[2] += 1

    def flush(self, sink: Sink, final: bool) -> None:  # noqa: FBT001 - the streams' flush(sink, final) interface
        self.eys.flush(sink, final)
        self.streams.flush(sink, final)


class StatisticsFold(Fold):
    name = "statistics"

    def __init__(self) -> None:
        self.streams = Rows(tables.STAT_STREAM, "case_id")
        self.stats = Counts(tables.STAT)
        self.pos = 0
        c = self.stats.c

        def state(cid: str) -> dict[str, Any] | None:
            r = self.streams.get(cid)
            return None if r is None else r["state"]

        def put(cid: str, s: dict[str, Any]) -> None:
            self.streams.put(cid, {"state": s})

        def bump(year: int, agencies: Sequence[str], metric: str, dim: str, value: str, delta: int) -> None:
            for ag in (*agencies, STAR):
                k = stat_key(year, ag, metric, dim, value)
                e = c.get(k)
                if e is None:
                    c[k] = [self.pos, {"key": k, "year": year, "agency_code": ag, "metric": metric, "dim": dim,
                                       "value": value}, delta]
                else:
                    e[2] += delta

        self.fold = StatsFold(state, put, bump)

    def stores(self) -> list[Rows]:
        return [self.streams]

    def counts(self) -> dict[str, dict[str, list[Any]]]:
        return {tables.STAT.name: self.stats.c}

    def apply(self, it: Item, own: bool) -> None:  # noqa: FBT001 - the streams' flush(sink, final) interface
        if own and it.type.startswith("inspection."):
            self.pos = it.position
            self.fold.apply(it)

    def flush(self, sink: Sink, final: bool) -> None:  # noqa: FBT001 - the streams' flush(sink, final) interface
        self.streams.flush(sink, final)


def make_folds(names: Sequence[str], part: int, parts: int) -> list[Fold]:
    make: dict[str, Callable[[], Fold]] = {
        "case_files": lambda: CaseFilesFold(part, parts), "public_notices": NoticesFold,
        "audit_trail": AuditFold, "supervision": SupervisionFold, "statistics": StatisticsFold}
    return [make[n]() for n in names]


COUNTER_TABLES = {tables.STAT.name: tables.STAT, tables.FEEDBACK.name: tables.FEEDBACK,
                  tables.OFFICER_ACTIVITY.name: tables.OFFICER_ACTIVITY}


# ============================================================================ one partition
def _sqlite_tune(conn: Connection) -> list[str]:
    """Rebuild settings for a SQLite connection; returns the statements that restore it."""
    if conn.dialect.name != "sqlite":
        return []
    restore = []
    wal = str(conn.exec_driver_sql("PRAGMA journal_mode").scalar()).lower() == "wal"
    old_sync = int(conn.exec_driver_sql("PRAGMA synchronous").scalar() or 0)
    if wal and old_sync > 1:
        conn.exec_driver_sql("PRAGMA synchronous=1")
        restore.append(f"PRAGMA synchronous={old_sync}")
    old_cache = int(conn.exec_driver_sql("PRAGMA cache_size").scalar() or -2000)
    conn.exec_driver_sql("PRAGMA cache_size=-65536")
    restore.append(f"PRAGMA cache_size={old_cache}")
    conn.commit()
    return restore


def _still_rebuilding(conn: Connection, names: Sequence[str]) -> None:
    q = select(tables.TRACKING.c.name, tables.TRACKING.c.version).where(tables.TRACKING.c.name.in_(list(names)))
    if conn.dialect.name != "sqlite":
        q = q.with_for_update(read=True)  # FOR SHARE: partitions proceed together, a drop waits
    got = {r[0]: r[1] for r in conn.execute(q)}
    lost = [n for n in names if got.get(n) != REBUILDING]
    if lost:
        msg = f"projection {lost[0]} is no longer being rebuilt (dropped or rebuilt by another process)"
        raise ProjectionFailed(msg, position=0, projection=lost[0])


def _begin_write(conn: Connection) -> None:
    conn.commit()
    if conn.dialect.name == "sqlite":
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]


def run_partition(conn: Connection, names: Sequence[str], part: int, parts: int, head: int, *,
                  window: int = WINDOW, page: int = PAGE, limits: Limits = DEFAULT_LIMITS,
                  progress: Callable[[int], Any] | None = None) -> dict[str, Any]:
    """Fold and write partition ``part`` of ``parts`` of the log up to ``head``; returns the counters."""
    folds = make_folds(names, part, parts)
    sink = Sink(conn)
    for f in folds:
        for s in f.stores():
            s.sink = sink
    shared_needed = any(n in ("case_files", "audit_trail") for n in names)
    raw = conn.connection.driver_connection
    ph = sink.ph
    e, lv = EVENTS.name, LOG.nodes.name
    sql = (f"SELECT e.id, e.state, l.pos / 2, l.recorded_at, e.originator_id, e.topic FROM {e} e "  # noqa: S608 - table and column names are ours; values are bound parameters
           f"LEFT OUTER JOIN {lv} l ON {leaf_join_sql('e', 'l', LOG.runs.name)} WHERE e.id > {ph} AND e.id <= {ph} "
           f"ORDER BY e.id LIMIT {ph}")
    pos, since, decoded, read = 0, 0, 0, 0

    def write(final: bool) -> None:  # noqa: FBT001 - the streams' flush(sink, final) interface
        for f in folds:
            f.flush(sink, final)
        _begin_write(conn)
        _still_rebuilding(conn, names)
        sink.run()
        conn.commit()

    while pos < head:
        cur = raw.cursor()  # type: ignore[union-attr]
        cur.execute(sql, (pos, head, page))
        rows = cur.fetchall()
        cur.close()
        conn.commit()  # no read snapshot kept open between pages
        if not rows:
            break
        read += len(rows)
        for r in rows:
            if parts > 1:
                mine = oid_part(r[4], parts) == part
                shared = shared_needed and (r[5] in _SHARED_TOPICS or _is_key_registry(r[4]))
                if not mine and not shared:
                    continue
            else:
                mine, shared = True, False
            it = decode_item(r[0], r[1], r[2], r[3], limits)
            own = case_part(it.case, parts) == part
            if parts > 1 and (own != mine or (mine and not shared and (
                    it.type in _SHARED_TOPICS or it.case == KEY_REGISTRY_ID or r[5] != it.type))):
                msg = f"notification {it.position}: stream id or topic disagrees with the entry"
                raise NotPartitionable(msg)
            decoded += 1
            for f in folds:
                try:
                    f.apply(it, own)
                except (LedgerError, KeyError, TypeError, ValueError) as ex:
                    msg = f"projection {f.name} failed on notification {it.position}: {ex!r}"
                    raise ProjectionFailed(msg, position=it.position, projection=f.name) from ex
        pos = rows[-1][0]
        since += len(rows)
        if progress:
            progress(pos)
        if since >= window:
            write(False)  # noqa: FBT003 - final=False / final=True of the stream flush
            since = 0
    write(True)  # noqa: FBT003 - final=False / final=True of the stream flush
    counts: dict[str, dict[str, list[Any]]] = {}
    for f in folds:
        counts.update(f.counts())
    return {"counts": counts, "decoded": decoded, "read": read, "position": pos}


def _child(url: str, names: Sequence[str], part: int, parts: int, head: int, window: int, page: int,
           queue: Any) -> dict[str, Any]:
    engine = create_engine(url, connect_args={"timeout": 60}) if url.startswith("sqlite") else create_engine(url)
    try:
        with engine.connect() as conn:
            restore = _sqlite_tune(conn)
            try:
                return run_partition(conn, names, part, parts, head, window=window, page=page,
                                     progress=(lambda p: queue.put((part, p))) if queue is not None else None)
            finally:
                conn.rollback()
                for s in restore:
                    conn.exec_driver_sql(s)
                conn.commit()
    finally:
        engine.dispose()


# ============================================================================ the whole rebuild
def _can_fork_workers(engine: Engine) -> bool:
    url = engine.url
    if url.get_backend_name() == "sqlite":
        db = url.database or ""
        return bool(db) and db != ":memory:" and "mode=memory" not in str(url)
    return True


def prepare(engine: Engine, names: Sequence[str]) -> int:
    """Drop the tables, create them without secondary indexes, mark the projections as being rebuilt.
    Returns the head position the rebuild will stop at."""
    with engine.begin() as conn:
        tables.METADATA.create_all(conn, tables=[tables.TRACKING], checkfirst=True)
        ts = [t for n in names for t in tables.TABLES[n]]
        tables.METADATA.drop_all(conn, tables=ts, checkfirst=True)
        for t in ts:
            conn.execute(CreateTable(t))
        conn.execute(delete(tables.TRACKING).where(tables.TRACKING.c.name.in_(list(names))))
        conn.execute(insert(tables.TRACKING), [{"name": n, "position": 0, "version": REBUILDING} for n in names])
    with engine.connect() as conn:
        return head_position(conn)


def finish(engine: Engine, names: Sequence[str], versions: dict[str, int], head: int,
           counts: Iterable[dict[str, dict[str, list[Any]]]]) -> None:
    """Write the summed counters, create the indexes and move the tracking rows, in one transaction."""
    merged: dict[str, list[dict[str, list[Any]]]] = {}
    for c in counts:
        for t, v in c.items():
            merged.setdefault(t, []).append(v)
    with engine.connect() as conn:
        restore = _sqlite_tune(conn)
        try:
            _begin_write(conn)
            _still_rebuilding(conn, names)
            sink = Sink(conn)
            for t, parts in sorted(merged.items()):
                write_counts(sink, COUNTER_TABLES[t], merge_counts(parts))
            sink.run()
            if "case_files" in names:  # the folds leave pending deadlines to one pass with the final calendar
                resolve_stored_pending(conn, load_calendar(conn, upto=head))
            for n in names:
                for tbl in tables.TABLES[n]:
                    for ix in sorted(tbl.indexes, key=lambda i: str(i.name)):
                        conn.execute(CreateIndex(ix))
            for n in names:
                r = conn.execute(update(tables.TRACKING)
                                 .where(tables.TRACKING.c.name == n, tables.TRACKING.c.version == REBUILDING)
                                 .values(position=head, version=versions[n]))
                if r.rowcount != 1:
                    msg = f"projection {n} is no longer being rebuilt"
                    raise ProjectionFailed(msg, position=0, projection=n)
            conn.commit()
        finally:
            conn.rollback()
            for s in restore:
                conn.exec_driver_sql(s)
            conn.commit()


def bulk_rebuild(engine: Engine, names: Sequence[str], versions: dict[str, int], *, jobs: int | None = None,
                 window: int = WINDOW, page: int = PAGE, progress: Callable[[int], Any] | None = None) -> int:
    """Drop and rebuild ``names`` from position 0 (see the module doc). Returns the number of
    notifications in the log up to the head position it stopped at."""
    head = prepare(engine, names)
    if jobs is None:  # partitions pay a process start and a full read each: only for large logs
        jobs = max(1, min(AUTO_JOBS, (os.cpu_count() or 1) - 1)) if head >= AUTO_MIN_ENTRIES else 1
    jobs = max(1, int(jobs))
    if jobs > 1 and not _can_fork_workers(engine):
        jobs = 1
    done = [0]

    def report(p: int) -> None:
        if progress and p > done[0]:
            progress(p - done[0])
            done[0] = p

    if head == 0:
        finish(engine, names, versions, 0, [])
        return 0
    try:
        if jobs == 1:
            with engine.connect() as conn:
                restore = _sqlite_tune(conn)
                try:
                    res = [run_partition(conn, names, 0, 1, head, window=window, page=page, progress=report)]
                finally:
                    conn.rollback()
                    for s in restore:
                        conn.exec_driver_sql(s)
                    conn.commit()
        else:
            res = _in_processes(engine, names, jobs, head, window, page, report)
    except NotPartitionable:
        return bulk_rebuild(engine, names, versions, jobs=1, window=window, page=page, progress=progress)
    finish(engine, names, versions, head, [r["counts"] for r in res])
    report(head)
    return int(res[0]["read"])


def _proc_main(url: str, names: list[str], part: int, parts: int, head: int, window: int, page: int,
               q: Any) -> None:
    try:
        res = _child(url, names, part, parts, head, window, page, q)
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which re-raises it
        try:
            q.put(("error", part, e))
        except Exception:  # noqa: BLE001 - an exception that does not pickle
            q.put(("error", part, ProjectionFailed(repr(e), position=0, projection=",".join(names))))
        return
    q.put(("done", part, res))


def _in_processes(engine: Engine, names: Sequence[str], jobs: int, head: int, window: int, page: int,
                  report: Callable[[int], Any]) -> list[dict[str, Any]]:

    url = engine.url.render_as_string(hide_password=False)
    ctx: multiprocessing.context.ForkContext | multiprocessing.context.SpawnContext = (
        multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods()
        else multiprocessing.get_context("spawn")
    )
    engine.dispose()  # no pooled connection crosses the fork
    q = ctx.Queue()
    procs = [ctx.Process(target=_proc_main, args=(url, list(names), k, jobs, head, window, page, q), daemon=True)
             for k in range(jobs)]
    for p in procs:
        p.start()
    seen = dict.fromkeys(range(jobs), 0)
    results: dict[int, dict[str, Any]] = {}
    error: BaseException | None = None
    try:
        while len(results) < jobs and error is None:
            try:
                msg = q.get(timeout=1.0)
            except _queue.Empty:
                dead = [p for k, p in enumerate(procs) if k not in results and not p.is_alive()]
                if dead and q.empty():
                    msg = f"a rebuild worker died (exit code {dead[0].exitcode})"
                    error = ProjectionFailed(msg, position=0, projection=",".join(names))
                continue
            if isinstance(msg, tuple) and len(msg) == 2:  # noqa: PLR2004 - a UUID string is 36 characters; two hex digits; a (kind, value) message
                seen[msg[0]] = max(seen[msg[0]], msg[1])
                report(min(seen.values()))
            elif msg[0] == "done":
                results[msg[1]] = msg[2]
            else:
                error = msg[2]
    finally:
        for p in procs:
            if error is not None and p.is_alive():
                p.kill()
            p.join()
    if error is not None:
        raise error
    return [results[k] for k in range(jobs)]
