"""Direct database tampering is detected and located, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import delete, select, update

from ledger.audit import events_table, verify_database
from ledger.chain import Entry, decode_entry, decode_record, encode_entry, encode_record
from ledger.hashing import entry_hash, key_id
from ledger.merkle_audit import check_merkle
from ledger.signing import ENTRY_CONTEXT, sign
from tests.fakes import BOB, Ticket, make_ledger

ROOT_DIR = Path(__file__).resolve().parents[2]


def seeded(url: str):
    """A ledger with two tickets of three entries each; returns (container, ticket, {n: row id})."""
    c = make_ledger(url)
    other = Ticket(actor="bob", title="other")
    other.note(actor="bob", text="o1", amount=1)
    c.app.save(other)
    t = Ticket(actor="alice", title="target")
    t.note(actor="alice", text="fine amount stands", amount=500)
    t.note(actor="alice", text="closing", amount=0)
    c.app.save(t)
    tbl = events_table(c.engine)
    with c.engine.connect() as conn:
        rows = conn.execute(select(tbl.c.id, tbl.c.originator_version).where(tbl.c.originator_id == t.id)).all()
    return c, t, {n: rid for rid, n in rows}


def state_of(c, rid: int) -> bytes:
    tbl = events_table(c.engine)
    with c.engine.connect() as conn:
        return bytes(conn.execute(select(tbl.c.state).where(tbl.c.id == rid)).scalar_one())


def set_state(c, rid: int, state: bytes) -> None:
    tbl = events_table(c.engine)
    with c.engine.begin() as conn:
        conn.execute(update(tbl).where(tbl.c.id == rid).values(state=state))


def first_failure(c):
    report = verify_database(c.engine, workers=2, merkle_check=check_merkle())
    assert not report.ok
    return report.failure


def test_intact_ledger_verifies(db_url: str) -> None:
    c, _, _ = seeded(db_url)
    report = verify_database(c.engine, workers=2, merkle_check=check_merkle())
    assert report.ok, report.failure
    assert report.entries == report.leaves == 8


def test_flipped_byte_in_a_body_is_located(db_url: str) -> None:
    c, t, ids = seeded(db_url)
    s = state_of(c, ids[2])
    i = s.index(b"fine amount")
    set_state(c, ids[2], s[:i] + b"F" + s[i + 1:])
    f = first_failure(c)
    assert (f.case, f.n, f.position, f.step, f.code) == (str(t.id), 2, ids[2], "1.4", "E_SIGNATURE")


def test_flipped_byte_in_a_signature_is_located(db_url: str) -> None:
    c, t, ids = seeded(db_url)
    s = state_of(c, ids[3])
    set_state(c, ids[3], s[:-1] + bytes([s[-1] ^ 0x01]))
    f = first_failure(c)
    assert (f.case, f.n, f.position, f.step) == (str(t.id), 3, ids[3], "1.4")
    assert f.actual == decode_record(s[:-1] + bytes([s[-1] ^ 0x01]))[1].hex()


def test_deleted_entry_is_located(db_url: str) -> None:
    c, _t, ids = seeded(db_url)
    tbl = events_table(c.engine)
    with c.engine.begin() as conn:
        conn.execute(delete(tbl).where(tbl.c.id == ids[2]))
    f = first_failure(c)
    assert (f.position, f.step, f.code) == (ids[2], "5.2", "E_ENTRY_MISSING")


def test_deleted_last_entry_of_a_case_is_located(db_url: str) -> None:
    c, _t, ids = seeded(db_url)
    tbl = events_table(c.engine)
    with c.engine.begin() as conn:
        conn.execute(delete(tbl).where(tbl.c.id == ids[3]))
    f = first_failure(c)
    assert (f.position, f.step) == (ids[3], "5.2")


def test_two_swapped_entries_are_located(db_url: str) -> None:
    c, t, ids = seeded(db_url)
    s2, s3 = state_of(c, ids[2]), state_of(c, ids[3])
    set_state(c, ids[2], s3)
    set_state(c, ids[3], s2)
    f = first_failure(c)
    assert (f.case, f.n, f.position, f.step) == (str(t.id), 2, ids[2], "1.3")
    assert (f.expected, f.actual) == (f"{t.id}#2", f"{t.id}#3")


def test_entry_inserted_with_a_valid_but_wrong_key_is_located(db_url: str) -> None:
    c, t, ids = seeded(db_url)
    last = decode_entry(decode_record(state_of(c, ids[3]))[0])
    forged = Entry(case=str(t.id), n=4, type="test.ticket_noted.v1", occurred_at=last.occurred_at + 1,
                   actor="alice", key=key_id(bytes(BOB.verify_key)),
                   prev=entry_hash(decode_record(state_of(c, ids[3]))[0]),
                   body={"text": "waived", "amount": 0})
    data = encode_entry(forged)
    tbl = events_table(c.engine)
    with c.engine.begin() as conn:
        conn.execute(tbl.insert().values(originator_id=t.id, originator_version=4, topic=forged.type,
                                         state=encode_record(data, sign(BOB, ENTRY_CONTEXT, entry_hash(data)))))
        new_id = conn.execute(select(tbl.c.id).where(tbl.c.originator_version == 4)).scalar_one()
    f = first_failure(c)
    assert (f.case, f.n, f.position, f.step, f.code) == (str(t.id), 4, new_id, "1.7", "E_KEY_WRONG_ACTOR")


def test_edit_rechained_without_the_actors_key_is_located(db_url: str) -> None:
    c, t, ids = seeded(db_url)
    bob_kid = key_id(bytes(BOB.verify_key))
    e2 = decode_entry(decode_record(state_of(c, ids[2]))[0])
    e3 = decode_entry(decode_record(state_of(c, ids[3]))[0])
    new2 = Entry(**{**{k: getattr(e2, k) for k in e2.__slots__}, "body": {**e2.body, "amount": 5}, "key": bob_kid})
    d2 = encode_entry(new2)
    new3 = Entry(**{**{k: getattr(e3, k) for k in e3.__slots__}, "prev": entry_hash(d2), "key": bob_kid})
    d3 = encode_entry(new3)
    set_state(c, ids[2], encode_record(d2, sign(BOB, ENTRY_CONTEXT, entry_hash(d2))))
    set_state(c, ids[3], encode_record(d3, sign(BOB, ENTRY_CONTEXT, entry_hash(d3))))
    f = first_failure(c)
    assert (f.case, f.n, f.position, f.step, f.code) == (str(t.id), 2, ids[2], "1.7", "E_KEY_WRONG_ACTOR")


def test_cli_reports_the_first_failing_entry_and_exits_1(db_url: str) -> None:
    c, t, ids = seeded(db_url)
    s = state_of(c, ids[2])
    i = s.index(b"fine amount")
    set_state(c, ids[2], s[:i] + b"F" + s[i + 1:])
    out = subprocess.run([sys.executable, "-m", "api.cli", "verify", "--db", db_url, "--json"],
                         capture_output=True, text=True, cwd=ROOT_DIR, check=False)
    assert out.returncode == 1, out.stderr
    import json

    rep = json.loads(out.stdout)
    assert rep["failure"]["position"] == ids[2]
    assert rep["failure"]["case"] == str(t.id)
    text = subprocess.run([sys.executable, "-m", "api.cli", "verify", "--db", db_url],
                          capture_output=True, text=True, cwd=ROOT_DIR, check=False).stdout
    assert text.count("FAILED") == 1
    assert f"position  {ids[2]}" in text


def test_cli_exits_0_on_an_intact_ledger_and_2_on_a_bad_address(db_url: str, tmp_path: Path) -> None:
    seeded(db_url)
    ok = subprocess.run([sys.executable, "-m", "api.cli", "verify", "--db", db_url],
                        capture_output=True, text=True, cwd=ROOT_DIR, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("OK: 8 entries")
    bad = subprocess.run([sys.executable, "-m", "api.cli", "verify", "--db", f"sqlite:///{tmp_path}/none.db"],
                         capture_output=True, text=True, cwd=ROOT_DIR, check=False)
    assert bad.returncode == 2
    assert "no ledger at" in bad.stderr  # and the name of `caseledger init`; the file is not created
    assert "caseledger init" in bad.stderr
    assert not (tmp_path / "none.db").exists()
    usage = subprocess.run([sys.executable, "-m", "api.cli", "verify", "--nonsense"],
                           capture_output=True, text=True, cwd=ROOT_DIR, check=False)
    assert usage.returncode == 2


WRITER = """
import sys, uuid
sys.path.insert(0, {root!r})
from tests.fakes import make_ledger, Ticket
c = make_ledger({url!r}, open_registry={open!r})
i = 0
while True:
    t = Ticket(actor="alice", title=f"t{{i}}")
    for k in range(5):
        t.note(actor="alice", text="n" * 200, amount=k)
    c.app.save(t)
    i += 1
    print(i, flush=True)
"""


def test_writer_killed_mid_append_leaves_no_partial_entry(db_url: str) -> None:
    make_ledger(db_url)  # opens the registry
    proc = subprocess.Popen([sys.executable, "-c", WRITER.format(root=str(ROOT_DIR), url=db_url, open=False)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT_DIR)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    seen = 0
    while seen < 25 and time.monotonic() < deadline:
        seen = int(proc.stdout.readline() or 0)
    time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert seen >= 25
    c = make_ledger(db_url, open_registry=False)
    report = verify_database(c.engine, workers=2, merkle_check=check_merkle())
    assert report.ok, report.failure
    assert report.entries == report.leaves
    assert (report.entries - 3) % 6 == 0  # whole saves only: 3 registry entries + 6 per ticket
    assert uuid  # keep import for WRITER parity


def test_verify_shows_a_progress_bar_on_a_terminal_only(sqlite_url: str) -> None:
    import pty

    seeded(sqlite_url)
    master, slave = pty.openpty()
    proc = subprocess.run([sys.executable, "-m", "api.cli", "verify", "--db", sqlite_url],
                          stdout=subprocess.PIPE, stderr=slave, cwd=ROOT_DIR, check=False, timeout=120)
    os.close(slave)
    tty_text = b""
    try:
        while chunk := os.read(master, 65536):
            tty_text += chunk
    except OSError:
        pass
    os.close(master)
    assert proc.returncode == 0
    assert b"verify" in tty_text
    assert b"entries" in tty_text  # the bar's unit, shown only on a terminal
    plain = subprocess.run([sys.executable, "-m", "api.cli", "verify", "--db", sqlite_url],
                           capture_output=True, cwd=ROOT_DIR, check=False)
    assert b"entries" not in plain.stderr


def test_a_tampered_run_index_is_located(db_url: str) -> None:
    c, _, _ = seeded(db_url)
    runs = c.merkle.runs
    with c.engine.begin() as conn:  # the first run now claims to start one leaf later
        conn.execute(update(runs).where(runs.c.idx == 0).values(idx=1))
    f = first_failure(c)
    assert (f.step, f.code) == ("5.1", "E_PROOF")
    assert "run index" in f.message


def test_a_leaf_moved_to_another_notification_id_is_located(db_url: str) -> None:
    c, _, ids = seeded(db_url)
    nd = c.merkle.nodes
    with c.engine.begin() as conn:  # the leaf of the case's entry 2 now points at entry 1's id
        conn.execute(update(nd).where(nd.c.notification_id == ids[2]).values(notification_id=ids[1]))
    f = first_failure(c)
    assert (f.step, f.code) == ("5.1", "E_PROOF")
    assert "do not rise" in f.message
