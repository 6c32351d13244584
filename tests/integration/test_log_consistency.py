"""`verify` checks the log against signed checkpoints: truncation and a dropped case are caught."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text

from ledger.audit import events_table, verify_database
from ledger.bundle import verify_bundle
from ledger.bundle_export import export_bundle, issue_checkpoint
from ledger.chain import decode_record
from ledger.checkpoint import vkey
from ledger.hashing import entry_hash
from ledger.merkle_audit import check_merkle
from tests.fakes import ROOT, Ticket, make_ledger

ORIGIN = "test.example/log"


def checkpoint(c, tmp: Path, name: str) -> Path:
    note = issue_checkpoint(c, origin=ORIGIN, signing_key=ROOT, clock=c.app.clock).note
    p = tmp / name
    p.write_text(note)
    return p


def grow(c, n: int, tag: str) -> list:
    out = []
    for i in range(n):
        t = Ticket(actor="alice", title=f"{tag}{i}")
        t.note(actor="alice", text="x", amount=i)
        c.app.save(t)
        out.append(t)
    return out


def verify(c, trust: Path, older: Path | None = None):
    check = check_merkle(trust=str(trust), older=str(older) if older else None)
    return verify_database(c.engine, workers=1, merkle_check=check)


def trust_file(tmp: Path) -> Path:
    p = tmp / "trust.vkey"
    p.write_text(vkey(ORIGIN, bytes(ROOT.verify_key)) + "\n")
    return p


def test_a_grown_log_is_consistent_with_an_older_checkpoint(db_url: str, tmp_path: Path) -> None:
    c = make_ledger(db_url)
    grow(c, 3, "a")
    old = checkpoint(c, tmp_path, "old.note")
    grow(c, 4, "b")
    checkpoint(c, tmp_path, "new.note")
    report = verify(c, trust_file(tmp_path), old)
    assert report.ok, report.failure
    assert report.checkpoint_size == report.leaves == 3 + 2 * 7


def test_tail_truncation_is_caught_by_the_checkpoint(db_url: str, tmp_path: Path) -> None:
    c = make_ledger(db_url)
    grow(c, 3, "a")
    latest = checkpoint(c, tmp_path, "latest.note")
    size = int(latest.read_text().splitlines()[1])
    store, tbl = c.merkle, events_table(c.engine)
    with c.engine.begin() as conn:  # the DBA drops the last two entries and their leaves
        nd = store.nodes
        tail = conn.execute(select(nd.c.notification_id).where(nd.c.pos >= 2 * (size - 2),
                                                               nd.c.notification_id.is_not(None))).scalars().all()
        assert len(tail) == 2
        conn.execute(delete(nd).where(nd.c.pos >= 2 * (size - 2)))
        conn.execute(delete(store.runs).where(store.runs.c.idx >= size - 2))
        conn.execute(delete(tbl).where(tbl.c.id.in_(tail)))
        conn.execute(delete(store.checkpoints))  # and hides the stored checkpoints
    report = verify(c, trust_file(tmp_path), latest)
    assert not report.ok
    assert (report.failure.step, report.failure.code) == ("5.6", "E_TRUNCATED")


def test_a_dropped_case_with_a_rebuilt_log_is_caught(db_url: str, tmp_path: Path) -> None:
    c = make_ledger(db_url)
    victims = grow(c, 3, "a")
    old = checkpoint(c, tmp_path, "old.note")
    grow(c, 2, "b")
    store, tbl = c.merkle, events_table(c.engine)
    with c.engine.begin() as conn:  # the DBA deletes one case and rebuilds a self-consistent log
        conn.execute(delete(tbl).where(tbl.c.originator_id == victims[1].id))
        kept = conn.execute(select(tbl.c.id, tbl.c.state).order_by(tbl.c.id)).all()
        nd = store.nodes
        times = dict(conn.execute(select(nd.c.notification_id, nd.c.recorded_at)
                                  .where(nd.c.notification_id.is_not(None))).all())
        conn.execute(delete(nd))
        conn.execute(delete(store.runs))
        conn.execute(delete(store.checkpoints))
    store._memo = None  # the DBA's own process has no memory of the old log
    with c.engine.begin() as conn:
        leaves = []
        for nid, state in kept:
            data, sig = decode_record(bytes(state))
            leaves.append((nid, times[nid], entry_hash(data), sig))
        store.append(conn, leaves)
    report = verify(c, trust_file(tmp_path), old)
    assert not report.ok
    assert report.failure.step == "5.6"
    assert report.failure.code == "E_INCONSISTENT"


@pytest.mark.postgres
def test_skipped_notification_ids_leave_verify_and_export_intact(pg_url: str, tmp_path: Path) -> None:
    # PostgreSQL sequences skip the ids of rolled-back inserts: leaves are then found through
    # more than one run of merkle_runs (spec 03 §Storage).
    c = make_ledger(pg_url)
    grow(c, 2, "a")
    for _ in range(2):  # two rolled-back inserts, each taking an id
        with c.engine.connect() as conn:
            conn.execute(text("SELECT nextval(pg_get_serial_sequence('ledger_events', 'id'))"))
            conn.rollback()
    after = grow(c, 2, "b")
    tbl, runs = events_table(c.engine), c.merkle.runs
    with c.engine.connect() as conn:
        ids = conn.execute(select(tbl.c.id).order_by(tbl.c.id)).scalars().all()
        starts = conn.execute(select(runs.c.notification_id).order_by(runs.c.notification_id)).scalars().all()
    assert [b - a for a, b in pairwise(ids)].count(3) == 1  # one gap of two ids
    assert len(starts) == 2
    checkpoint(c, tmp_path, "cp.note")
    report = verify(c, trust_file(tmp_path))
    assert report.ok, report.failure
    assert report.leaves == report.entries == len(ids)
    out = export_bundle(c, str(after[0].id))
    bundle = verify_bundle(out.data, [vkey(ORIGIN, bytes(ROOT.verify_key))])
    assert bundle.ok, bundle.text()
    assert out.entries == 2
