"""The full-rebuild fast path (projections.bulk) gives exactly the tables incremental processing gives.

Runs on a SQLite file and on PostgreSQL: one process, two partitions in worker processes, and tiny
windows and pages (so streams are written, evicted, read back and updated), each compared row by
row with the tables built incrementally in small batches. Also: a half-done bulk rebuild is left
alone by followers and thrown away by ``setup()``.
"""

from __future__ import annotations

from sqlalchemy import select, update

from projections.bulk import REBUILDING, bulk_rebuild
from projections.runner import ProjectionRunner, dump
from projections.source import head_position
from projections.tables import AUDIT, TRACKING
from tests.integration.test_projection_exactly_once import a_busy_ledger


def _incremental(engine) -> dict:
    r = ProjectionRunner(engine, batch_size=7)
    r.rebuild(fast=False, batch_size=7)
    return dump(engine)


def _tracking(engine) -> list[tuple]:
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(TRACKING)))


def test_the_bulk_rebuild_equals_incremental_processing(db_url: str) -> None:
    c = a_busy_ledger(db_url)
    want = _incremental(c.engine)
    want_tracking = _tracking(c.engine)
    with c.engine.connect() as conn:
        head = head_position(conn)
    assert want_tracking
    assert all(t[1] == head for t in want_tracking)

    n = ProjectionRunner(c.engine).rebuild(jobs=1)
    assert n == len(want["proj_audit"])
    assert dump(c.engine) == want
    assert _tracking(c.engine) == want_tracking

    ProjectionRunner(c.engine).rebuild(jobs=2)  # streams partitioned over two worker processes
    assert dump(c.engine) == want
    assert _tracking(c.engine) == want_tracking

    # Windows and pages of a few entries: streams go idle, are written, come back, are read back.
    runner = ProjectionRunner(c.engine)
    bulk_rebuild(c.engine, runner.names, {p.name: p.version for p in runner.projections}, jobs=1, window=3, page=2)
    assert dump(c.engine) == want
    bulk_rebuild(c.engine, runner.names, {p.name: p.version for p in runner.projections}, jobs=2, window=5, page=3)
    assert dump(c.engine) == want
    assert _tracking(c.engine) == want_tracking

    # One projection alone, the others untouched.
    ProjectionRunner(c.engine, ["public_notices"]).rebuild(jobs=2)
    assert dump(c.engine) == want
    c.engine.dispose()


def test_a_half_done_bulk_rebuild_is_left_alone_then_thrown_away(db_url: str) -> None:
    c = a_busy_ledger(db_url)
    want = _incremental(c.engine)
    with c.engine.begin() as conn:  # as if a bulk rebuild of audit_trail died half-way
        conn.execute(update(TRACKING).where(TRACKING.c.name == "audit_trail").values(position=0, version=REBUILDING))
        conn.execute(AUDIT.delete().where(AUDIT.c.position > 5))
    follower = ProjectionRunner(c.engine, ["audit_trail"])
    assert follower.run_once() == 0  # a follower does not touch a projection being bulk-rebuilt
    with c.engine.connect() as conn:
        assert conn.execute(select(TRACKING.c.version).where(TRACKING.c.name == "audit_trail")).scalar() == 0
    assert ProjectionRunner(c.engine).setup() == ["audit_trail"]  # stale: dropped, rebuilt from 0
    ProjectionRunner(c.engine).run()
    assert dump(c.engine) == want
    c.engine.dispose()
