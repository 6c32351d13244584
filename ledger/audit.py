"""Reads a ledger database and feeds the pure verifier (ledger/verify.py).

Pass 1 walks the key registry, then every other case in (case, n) order, streaming from the
database. Pass 2 walks the Merkle leaves in index order, checks each against its entry, and
recomputes the root for comparison with the latest signed checkpoint.
"""

from __future__ import annotations

import multiprocessing as mp
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    LargeBinary,
    MetaData,
    Table,
    Text,
    and_,
    create_engine,
    func,
    inspect,
    select,
)
from sqlalchemy.exc import NoSuchTableError
from sqlalchemy.types import NullType
from sqlalchemy_utils.types.uuid import UUIDType

from ledger.keys import KEY_REGISTRY_ID, KeyRing
from ledger.store import EVENTS_TABLE
from ledger.verify import Failure, Row, VerificationReport, build_keyring, case_batches, check_cases, verify_cases

STREAM_BATCH = 5000


def _case_str(v: Any) -> str:
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, (bytes, memoryview)):
        return str(uuid.UUID(bytes=bytes(v)))
    return str(uuid.UUID(str(v)))


def _case_param(engine: Engine, case: uuid.UUID) -> Any:
    """A case id as the driver stores it: 16 bytes on SQLite (UUIDType's binary form), a UUID elsewhere."""
    return case.bytes if engine.dialect.name == "sqlite" else case


def events_table(engine: Engine) -> Table:
    """The events table as eventsourcing-sqlalchemy defines it (checked to exist)."""
    if not inspect(engine).has_table(EVENTS_TABLE):
        raise NoSuchTableError(EVENTS_TABLE)
    return Table(
        EVENTS_TABLE, MetaData(),
        Column("id", BigInteger, primary_key=True),
        Column("originator_id", UUIDType()),
        Column("originator_version", BigInteger),
        Column("topic", Text),
        Column("state", LargeBinary),
    )


def _raw_events_table() -> Table:
    """The events table with case id and record read as the driver returns them: no SQLAlchemy
    type processing on the verifier's hot path (``_rows`` makes case strings once per case)."""
    return Table(
        EVENTS_TABLE, MetaData(),
        Column("id", BigInteger, primary_key=True),
        Column("originator_id", NullType()),
        Column("originator_version", BigInteger),
        Column("state", NullType()),
    )


def _rows(result: Any) -> Iterator[Row]:
    """Driver rows as ``(position, case string, n, record bytes)``, streamed in partitions."""
    last: Any = None
    case = ""
    for part in result.partitions(STREAM_BATCH):
        for pos, oid, n, state in part:
            if oid != last:
                last, case = oid, _case_str(oid)
            yield pos, case, n, state if type(state) is bytes else bytes(state)


def _ordered(table: Table, cond: Any) -> Any:
    return (select(table.c.id, table.c.originator_id, table.c.originator_version, table.c.state)
            .where(cond).order_by(table.c.originator_id, table.c.originator_version))


def stream_rows(engine: Engine, table: Table, *, registry: bool) -> Iterator[Row]:
    """Rows of the key registry (``registry=True``) or of every other case, in (case, n) order.

    ``table`` (from :func:`events_table`) names the table that was checked to exist.
    """
    table = _raw_events_table()
    reg = _case_param(engine, uuid.UUID(KEY_REGISTRY_ID))
    cond = table.c.originator_id == reg if registry else table.c.originator_id != reg
    with engine.connect() as conn:
        yield from _rows(conn.execution_options(stream_results=True, yield_per=STREAM_BATCH)
                         .execute(_ordered(table, cond)))


def stream_kinds(engine: Engine) -> dict[str, int]:
    """How many streams of each kind the ledger holds (``inspection``, ``agency``, ``key``, ...): the
    wire type of each stream's first entry up to its first dot. Read after verification, for the summary."""
    table = events_table(engine)
    kinds: dict[str, int] = {}
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.topic, func.count()).where(table.c.originator_version == 1)
                            .group_by(table.c.topic))
        for topic, n in rows:
            kind = str(topic).split(".", 1)[0]
            kinds[kind] = kinds.get(kind, 0) + int(n)
    return kinds


def count_rows(engine: Engine, table: Table) -> int:
    """The number of rows in ``table``."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)


def shard_bounds(shards: int) -> list[tuple[uuid.UUID, uuid.UUID | None]]:
    """Split the UUID space into ``shards`` equal ranges [lo, hi); the last is open-ended."""
    step = 2**128 // shards
    return [(uuid.UUID(int=i * step), uuid.UUID(int=(i + 1) * step) if i + 1 < shards else None)
            for i in range(shards)]


Uses = dict[int, tuple[int, str, int]]


def _verify_shard(job: tuple[str, uuid.UUID, uuid.UUID | None, KeyRing]) -> tuple[int, int, Failure | None, Uses]:
    """Worker process: stream one range of cases from the database and check it (steps 1.1-1.7);
    also returns the entries signed by revoked keys, for step 5.7."""
    url, lo, hi, ring = job
    engine = create_engine(url)
    try:
        events_table(engine)  # exists
        table = _raw_events_table()
        oid = table.c.originator_id
        cond = and_(oid != _case_param(engine, uuid.UUID(KEY_REGISTRY_ID)), oid >= _case_param(engine, lo))
        if hi is not None:
            cond = and_(cond, oid < _case_param(engine, hi))
        entries = cases = 0
        worst: Failure | None = None
        uses: Uses = {}
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=STREAM_BATCH).execute(_ordered(table, cond))
            for batch in case_batches(_rows(result), STREAM_BATCH):
                e, c, f = check_cases(batch, ring, revoked_uses=uses)
                entries, cases = entries + e, cases + c
                if f is not None and (worst is None or (f.position or 0) < (worst.position or 0)):
                    worst = f
        return entries, cases, worst, uses
    finally:
        engine.dispose()


def verify_database(
    engine: Engine,
    *,
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
    merkle_check: Callable[[Engine, Table, VerificationReport], None] | None = None,
) -> VerificationReport:
    """Verify every entry (pass 1) and, if given, the Merkle log (pass 2).

    With ``workers > 1`` each worker process reads its own ranges of cases straight from the
    database (16 ranges per worker, for an even load and a moving progress bar), so the
    parent does no per-entry work; memory per process is bounded by the streaming batch.
    """
    report = VerificationReport()
    table = events_table(engine)
    registry_rows = 0

    def counted(rows: Iterable[Any]) -> Iterator[Any]:
        nonlocal registry_rows
        for row in rows:
            registry_rows += 1
            yield row

    ring = build_keyring(counted(stream_rows(engine, table, registry=True)), report)
    if progress is not None:  # the key registry's entries count too: an intact ledger's bar ends at 100 %
        progress(registry_rows)
    if report.failure is None and workers <= 1:
        verify_cases(stream_rows(engine, table, registry=False), ring, report, progress=progress)
    elif report.failure is None:
        url = engine.url.render_as_string(hide_password=False)
        jobs = [(url, lo, hi, ring) for lo, hi in shard_bounds(16 * workers)]
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        with ctx.Pool(workers) as pool:
            for entries, cases, failure, uses in pool.imap_unordered(_verify_shard, jobs):
                report.revoked_uses.update(uses)
                report.entries += entries
                report.cases += cases
                if failure is not None:
                    report.fail(failure)
                if progress is not None:
                    progress(entries)
    if merkle_check is not None:
        merkle_check(engine, table, report)
    return report
