"""`verify` checks the log against signed checkpoints: truncation and a dropped case are caught."""

from __future__ import annotations

import base64
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update

from ledger.audit import events_table, verify_database
from ledger.bundle import verify_bundle
from ledger.bundle_export import export_bundle, issue_checkpoint
from ledger.chain import decode_record
from ledger.checkpoint import sign_checkpoint, vkey
from ledger.errors import UsageError
from ledger.hashing import entry_hash
from ledger.merkle_audit import check_merkle, save_state
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


def cut_tail(c, size: int, cut: int, *, hide_checkpoints: bool = True) -> None:
    """The DBA drops the last ``cut`` entries and their leaves (and, by default, every stored checkpoint)."""
    store, tbl = c.merkle, events_table(c.engine)
    with c.engine.begin() as conn:
        nd = store.nodes
        tail = conn.execute(select(nd.c.notification_id).where(nd.c.pos >= 2 * (size - cut),
                                                               nd.c.notification_id.is_not(None))).scalars().all()
        assert len(tail) == cut
        conn.execute(delete(nd).where(nd.c.pos >= 2 * (size - cut)))
        conn.execute(delete(store.runs).where(store.runs.c.idx >= size - cut))
        conn.execute(delete(tbl).where(tbl.c.id.in_(tail)))
        if hide_checkpoints:
            conn.execute(delete(store.checkpoints))
    store.clear_cache()  # the DBA's own process has no memory of the old log


def test_tail_truncation_with_the_checkpoints_hidden_is_not_intact_under_a_trust_key(db_url: str,
                                                                                     tmp_path: Path) -> None:
    c = make_ledger(db_url)
    grow(c, 3, "a")
    latest = checkpoint(c, tmp_path, "latest.note")
    cut_tail(c, int(latest.read_text().splitlines()[1]), 2)
    report = verify(c, trust_file(tmp_path))
    assert not report.ok
    assert (report.failure.step, report.failure.code) == ("5.5.1", "E_NO_CHECKPOINT")
    assert check_merkle() is not None  # without a trust key there is nothing to demand a checkpoint from
    unchecked = verify_database(c.engine, workers=1, merkle_check=check_merkle())
    assert unchecked.ok
    assert any("no checkpoint" in n for n in unchecked.notes)


def test_tail_truncation_is_caught_by_an_older_checkpoint_even_after_a_fresh_one_is_signed(db_url: str,
                                                                                           tmp_path: Path) -> None:
    c = make_ledger(db_url)
    grow(c, 3, "a")
    latest = checkpoint(c, tmp_path, "latest.note")
    cut_tail(c, int(latest.read_text().splitlines()[1]), 2)
    checkpoint(c, tmp_path, "after-the-cut.note")  # an insider with the ledger key signs the shorter log
    report = verify(c, trust_file(tmp_path), latest)
    assert not report.ok
    assert (report.failure.step, report.failure.code) == ("5.6", "E_TRUNCATED")


def test_an_empty_log_with_no_checkpoint_is_intact_under_a_trust_key(db_url: str, tmp_path: Path) -> None:
    c = make_ledger(db_url, open_registry=False)
    report = verify(c, trust_file(tmp_path))
    assert report.ok, report.failure
    assert report.leaves == 0


def verify_with_state(c, trust: Path, state: Path):
    report = verify_database(c.engine, workers=1, merkle_check=check_merkle(trust=str(trust), state=str(state)))
    save_state(str(state), report)
    return report


def test_the_state_file_remembers_the_last_checkpoint_and_catches_a_later_rollback(db_url: str,
                                                                                   tmp_path: Path) -> None:
    c = make_ledger(db_url)
    trust, state = trust_file(tmp_path), tmp_path / "audit.state"
    grow(c, 3, "a")
    first = checkpoint(c, tmp_path, "first.note")
    report = verify_with_state(c, trust, state)
    assert report.ok, report.failure
    assert any("first run" in n for n in report.notes)
    assert state.read_text() == first.read_text()
    grow(c, 2, "b")
    second = checkpoint(c, tmp_path, "second.note")
    report = verify_with_state(c, trust, state)
    assert report.ok, report.failure
    assert report.remembered_size == int(first.read_text().splitlines()[1])
    assert state.read_text() == second.read_text()  # the memory moved forward
    cut_tail(c, int(second.read_text().splitlines()[1]), 2)
    checkpoint(c, tmp_path, "after-the-cut.note")  # even a fresh checkpoint of the cut log does not hide it
    report = verify_with_state(c, trust, state)
    assert not report.ok
    assert (report.failure.step, report.failure.code) == ("5.8", "E_TRUNCATED")
    assert state.read_text() == second.read_text()  # a failed run leaves the memory alone


def test_the_state_file_never_moves_backwards_when_the_newest_checkpoint_is_hidden(db_url: str,
                                                                                    tmp_path: Path) -> None:
    c = make_ledger(db_url)
    trust, state = trust_file(tmp_path), tmp_path / "audit.state"
    grow(c, 2, "a")
    checkpoint(c, tmp_path, "first.note")
    grow(c, 2, "b")
    second = checkpoint(c, tmp_path, "second.note")
    state.write_text(second.read_text())
    with c.engine.begin() as conn:  # the newest stored checkpoint disappears; the log is untouched
        cps = c.merkle.checkpoints
        conn.execute(delete(cps).where(cps.c.size == int(second.read_text().splitlines()[1])))
    report = verify_with_state(c, trust, state)
    assert report.ok, report.failure
    assert state.read_text() == second.read_text()


def test_a_forged_or_foreign_remembered_checkpoint_is_refused_at_step_5_8(db_url: str, tmp_path: Path) -> None:
    c = make_ledger(db_url)
    trust, state = trust_file(tmp_path), tmp_path / "audit.state"
    grow(c, 2, "a")
    note = checkpoint(c, tmp_path, "cp.note").read_text()
    forged = note.replace(note.splitlines()[2], base64.b64encode(bytes(32)).decode(), 1)  # root edited, not re-signed
    state.write_text(forged)
    report = verify_with_state(c, trust, state)
    assert not report.ok
    assert report.failure.step == "5.8"
    assert report.failure.message.startswith("the remembered checkpoint is refused at step 4.6")
    assert state.read_text() == forged  # not overwritten by a failed run


def test_a_state_file_without_a_trust_key_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        check_merkle(state=str(tmp_path / "audit.state"))


def test_a_checkpoint_whose_origin_is_not_its_key_name_fails_verify(db_url: str, tmp_path: Path) -> None:
    c = make_ledger(db_url)
    grow(c, 2, "a")
    note = checkpoint(c, tmp_path, "cp.note").read_text()
    size, root = int(note.splitlines()[1]), base64.b64decode(note.splitlines()[2])
    evil = sign_checkpoint("evil.example/log", size, root, ORIGIN, ROOT)
    with c.engine.begin() as conn:
        conn.execute(update(c.merkle.checkpoints).values(note=evil))
    report = verify(c, trust_file(tmp_path))
    assert not report.ok
    assert (report.failure.step, report.failure.code) == ("4.5.1", "E_CHECKPOINT_ORIGIN")
    old = tmp_path / "evil.note"
    old.write_text(evil)
    with c.engine.begin() as conn:
        conn.execute(update(c.merkle.checkpoints).values(note=note))
    report = verify(c, trust_file(tmp_path), old)
    assert not report.ok
    assert (report.failure.step, report.failure.code) == ("5.6", "E_CHECKPOINT_ORIGIN")
    assert "4.5.1" in report.failure.message


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
    assert (report.failure.step, report.failure.code) == ("5.5.1", "E_NO_CHECKPOINT")  # no checkpoint commits it
    store.clear_cache()
    checkpoint(c, tmp_path, "rebuilt.note")  # an insider with the ledger key signs the rebuilt log
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
