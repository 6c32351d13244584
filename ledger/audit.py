"""Reads a ledger database and feeds the pure verifier (ledger/verify.py).

Pass 1 walks the key registry, then every other case in (case, n) order, streaming from the
database. Pass 2 walks the Merkle leaves in index order, checks each against its entry, and
recomputes the root for comparison with the latest signed checkpoint.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import BigInteger, Column, Engine, LargeBinary, MetaData, Table, Text, func, inspect, select
from sqlalchemy.exc import NoSuchTableError
from sqlalchemy_utils.types.uuid import UUIDType

from ledger.keys import KEY_REGISTRY_ID
from ledger.store import EVENTS_TABLE
from ledger.verify import Row, VerificationReport, build_keyring, verify_cases

STREAM_BATCH = 5000


def _case_str(v: Any) -> str:
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, (bytes, memoryview)):
        return str(uuid.UUID(bytes=bytes(v)))
    return str(uuid.UUID(str(v)))


def _case_param(engine: Engine, case: str) -> Any:
    return uuid.UUID(case)


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


def stream_rows(engine: Engine, table: Table, *, registry: bool) -> Iterator[Row]:
    """Rows of the key registry (``registry=True``) or of every other case, in (case, n) order."""
    reg = _case_param(engine, KEY_REGISTRY_ID)
    cond = table.c.originator_id == reg if registry else table.c.originator_id != reg
    q = (select(table.c.id, table.c.originator_id, table.c.originator_version, table.c.state)
         .where(cond).order_by(table.c.originator_id, table.c.originator_version))
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=STREAM_BATCH).execute(q)
        for pos, oid, n, state in result:
            yield (pos, _case_str(oid), n, bytes(state))


def count_rows(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)


def verify_database(
    engine: Engine,
    *,
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
    merkle_check: Callable[[Engine, Table, VerificationReport], None] | None = None,
) -> VerificationReport:
    """Verify every entry (pass 1) and, if given, the Merkle log (pass 2)."""
    report = VerificationReport()
    table = events_table(engine)
    ring = build_keyring(stream_rows(engine, table, registry=True), report)
    if report.failure is None:
        verify_cases(stream_rows(engine, table, registry=False), ring, report,
                     workers=workers, progress=progress)
    if merkle_check is not None:
        merkle_check(engine, table, report)
    return report
