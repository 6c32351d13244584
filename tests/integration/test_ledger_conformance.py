"""One conformance suite for the signed, chained store, run on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import threading
import uuid

import pytest
from eventsourcing.domain import Aggregate
from nacl.signing import SigningKey
from sqlalchemy import func, select

from ledger.audit import events_table, verify_database
from ledger.chain import decode_entry
from ledger.codec import to_micros
from ledger.errors import ConflictError, EncodingError, KeyRegistryError, SignatureError
from ledger.hashing import entry_hash, genesis_prev
from ledger.merkle_audit import check_merkle
from ledger.signers import ClientSignatures, LocalSigner
from ledger.signing import ENTRY_CONTEXT, sign
from tests.fakes import ALICE, BOB, T0, Ticket, at, make_ledger


def count(c) -> int:
    with c.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(events_table(c.engine))).scalar() or 0)


def full_verify(c):
    return verify_database(c.engine, workers=2, merkle_check=check_merkle())


def _listen(c, channel: str):
    """On PostgreSQL, a connection LISTENing on ``channel`` (in the ledger's schema's database)."""
    if c.engine.dialect.name != "postgresql":
        return None
    import psycopg

    conn = psycopg.connect(c.engine.url.set(drivername="postgresql").render_as_string(hide_password=False),
                           autocommit=True)
    conn.execute(f'LISTEN "{channel}"')
    return conn


def test_saved_events_come_back_as_signed_chained_entries(db_url: str) -> None:
    c = make_ledger(db_url)
    t = Ticket(actor="alice", title="检查 1")
    t.note(actor="alice", text="hello", amount=100)
    c.app.save(t)
    records = list(c.app.case_records(t.id))
    assert [e.n for e, _, _ in records] == [1, 2]
    assert records[0][0].prev == genesis_prev(str(t.id))
    assert records[1][0].prev == entry_hash(records[0][1])
    assert records[0][0].type == "test.ticket_opened.v1"
    assert c.app.repository.get(t.id).notes == ["hello"]
    report = full_verify(c)
    assert report.ok, report.failure
    assert report.leaves == report.entries == count(c)


def test_a_multi_event_save_gets_its_notification_ids_and_leaves_in_event_order(db_url: str) -> None:
    c = make_ledger(db_url)
    tickets = [Ticket(actor="alice", title=f"t{i}") for i in range(3)]
    for k in range(8):
        tickets[k % 3].note(actor="alice", text=f"n{k}", amount=k)
    recordings = c.app.save(*tickets)
    ids = [r.notification.id for r in recordings]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids) == 11
    table = events_table(c.engine)
    with c.engine.connect() as conn:
        stored = {r.id: (str(r.originator_id), r.originator_version) for r in conn.execute(select(table))}
    assert [stored[r.notification.id] for r in recordings] == [
        (str(r.domain_event.originator_id), r.domain_event.originator_version) for r in recordings]
    with c.engine.connect() as conn:
        leaves = [c.merkle.leaf_for_notification(conn, i) for i in ids]
    assert [lf.idx for lf in leaves if lf is not None] == list(range(leaves[0].idx, leaves[0].idx + 11))
    report = full_verify(c)
    assert report.ok, report.failure


def test_two_ledger_processes_taking_turns_keep_one_log(db_url: str) -> None:
    """Each application remembers its own Merkle frontier; when the other one appended in between,
    the remembered tail is stale and the append reads the real one (on PostgreSQL inside the
    pipeline that also carries the NOTIFY)."""
    a = make_ledger(db_url)
    b = make_ledger(db_url, open_registry=False)
    channel = a.app.recorder.channel_name  # per schema (ledger/notify.py): other tests' ledgers are not heard
    assert channel == b.app.recorder.channel_name
    listener = _listen(a, channel)
    for k, app in enumerate([a.app, a.app, b.app, a.app, b.app, b.app, a.app]):
        t = Ticket(actor="alice", title=f"turn {k}")
        for j in range(k % 3):
            t.note(actor="alice", text=f"{k}.{j}", amount=j)
        app.save(t)
        if listener is not None:  # eventsourcing's subscribers hear of every commit, on either path
            assert [n.channel for n in listener.notifies(timeout=5, stop_after=1)] == [channel]
    report = full_verify(a)
    assert report.ok, report.failure
    assert report.leaves == report.entries == count(a)


def test_entries_record_the_claimed_occurred_at_in_microseconds(db_url: str) -> None:
    c = make_ledger(db_url)
    t = Ticket(actor="alice", title="x")
    c.app.save(t)
    (entry, _, _), = c.app.case_records(t.id)
    assert entry.occurred_at == to_micros(t.created_on)


def test_racing_writers_on_one_case_produce_one_winner_and_a_conflict(db_url: str) -> None:
    c = make_ledger(db_url)
    t = Ticket(actor="alice", title="race")
    c.app.save(t)
    copies = [c.app.repository.get(t.id) for _ in range(6)]
    for i, cp in enumerate(copies):
        cp.note(actor="alice", text=f"writer {i}", amount=i)
    outcomes: list[str] = []
    barrier = threading.Barrier(len(copies))

    def write(cp: Ticket) -> None:
        barrier.wait()
        try:
            c.app.save(cp)
            outcomes.append("ok")
        except ConflictError as e:
            assert e.code == "E_CONFLICT"
            outcomes.append("conflict")

    threads = [threading.Thread(target=write, args=(cp,)) for cp in copies]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert outcomes.count("ok") == 1
    assert outcomes.count("conflict") == 5
    assert [e.n for e, _, _ in c.app.case_records(t.id)] == [1, 2]
    assert full_verify(c).ok


def test_unknown_key_is_refused_and_nothing_is_written(db_url: str) -> None:
    c = make_ledger(db_url)
    before = count(c)
    with pytest.raises(KeyRegistryError) as ei:
        c.app.save(Ticket(actor="mallory", title="x"))
    assert ei.value.code == "E_KEY_UNKNOWN"
    assert count(c) == before


def test_key_not_yet_valid_at_occurred_at_is_refused(db_url: str) -> None:
    c = make_ledger(db_url)
    carol = SigningKey(bytes([9]) * 32)
    c.app.signer.add("carol", carol)
    reg = c.app.key_registry()
    from ledger.application import key_body

    reg.register(actor="root", at=T0, key=key_body(carol, "carol", "officer", "custodial", to_micros(at(60))))
    c.app.save(reg)
    before = count(c)
    t = Ticket._create(Ticket.Opened, id=uuid.uuid4(), timestamp=at(30), actor="carol", title="early")
    with pytest.raises(KeyRegistryError) as ei:
        c.app.save(t)
    assert ei.value.code == "E_KEY_NOT_VALID"
    assert count(c) == before


def test_revoked_key_is_refused_even_when_back_dated(db_url: str) -> None:
    c = make_ledger(db_url)
    reg = c.app.key_registry()
    bob_kid = c.app.signer.key_for("bob")
    reg.revoke(actor="root", at=at(10), key_id=bob_kid, revoked_at=to_micros(at(10)), reason="device lost")
    c.app.save(reg)
    c.app.clock.t = to_micros(at(15))  # type: ignore[attr-defined] - the ledger's now is past the revocation
    before = count(c)
    for when in (at(20), at(5)):
        t = Ticket._create(Ticket.Opened, id=uuid.uuid4(), timestamp=when, actor="bob", title="x")
        with pytest.raises(KeyRegistryError) as ei:
            c.app.save(t)
        assert ei.value.code == "E_KEY_REVOKED"
    assert count(c) == before


def test_rotated_key_replaces_the_old_one_from_its_valid_from(db_url: str) -> None:
    c = make_ledger(db_url)
    from ledger.application import key_body

    new = SigningKey(bytes([7]) * 32)
    reg = c.app.key_registry()
    reg.rotate(actor="root", at=at(10), old_key_id=c.app.signer.key_for("alice"),
               new=key_body(new, "alice", "officer", "custodial", to_micros(at(10))))
    c.app.save(reg)
    old_signer = c.app.signer
    t = Ticket._create(Ticket.Opened, id=uuid.uuid4(), timestamp=at(20), actor="alice", title="x")
    with pytest.raises(KeyRegistryError) as ei:
        c.app.save(t)
    assert ei.value.code == "E_KEY_NOT_VALID"
    old_signer.add("alice", new)
    c.app.save(t)
    assert full_verify(c).ok


class Stray(Aggregate):
    """An aggregate whose events have no registered wire type."""

    def __init__(self, actor: str) -> None:
        self.actor = actor


def test_unknown_event_type_is_refused_and_nothing_is_written(db_url: str) -> None:
    c = make_ledger(db_url)
    before = count(c)
    with pytest.raises(EncodingError) as ei:
        c.app.save(Stray(actor="alice"))
    assert ei.value.code == "E_UNKNOWN_EVENT_TYPE"
    assert count(c) == before


def test_oversized_body_is_refused_and_nothing_is_written(db_url: str) -> None:
    c = make_ledger(db_url)
    before = count(c)
    t = Ticket(actor="alice", title="x" * (c.app.limits.max_body_bytes + 1))
    with pytest.raises(EncodingError) as ei:
        c.app.save(t)
    assert ei.value.code == "E_BODY_TOO_LARGE"
    assert count(c) == before


def test_float_in_a_body_is_refused_and_nothing_is_written(db_url: str) -> None:
    c = make_ledger(db_url)
    before = count(c)
    t = Ticket(actor="alice", title="x")
    t.note(actor="alice", text="fine", amount=1.5)  # type: ignore[arg-type]
    with pytest.raises(EncodingError) as ei:
        c.app.save(t)
    assert ei.value.code == "E_ENCODING_FLOAT"
    assert count(c) == before


def test_client_signed_entries_are_appended_when_the_signature_verifies(db_url: str) -> None:
    c = make_ledger(db_url)
    kid = c.app.signer.key_for("alice")
    t = Ticket(actor="alice", title="signed on device")
    (data,) = c.app.preview(t, key=kid)
    sig = sign(ALICE, ENTRY_CONTEXT, entry_hash(data))
    c.app.signer, custodial = ClientSignatures("alice", kid, [(data, sig)]), c.app.signer
    c.app.save(t)
    c.app.signer = custodial
    (e, stored, stored_sig), = c.app.case_records(t.id)  # noqa: RUF059 - the shape of a case record, spelled out
    assert stored == data
    assert stored_sig == sig
    assert full_verify(c).ok


def test_client_signature_by_another_key_is_refused_and_nothing_is_written(db_url: str) -> None:
    c = make_ledger(db_url)
    kid = c.app.signer.key_for("alice")
    t = Ticket(actor="alice", title="forged")
    (data,) = c.app.preview(t, key=kid)
    before = count(c)
    c.app.signer = ClientSignatures("alice", kid, [(data, sign(BOB, ENTRY_CONTEXT, entry_hash(data)))])
    with pytest.raises(SignatureError) as ei:
        c.app.save(t)
    assert ei.value.code == "E_SIGNATURE"
    assert count(c) == before


def test_non_canonical_client_bytes_are_refused(db_url: str) -> None:
    c = make_ledger(db_url)
    kid = c.app.signer.key_for("alice")
    (data,) = c.app.preview(Ticket(actor="alice", title="x"), key=kid)
    # Re-encode the outer map's first key header as str8 instead of fixstr: same value, other bytes.
    m = data.index(b"\xa5actor")
    bad = data[:m] + b"\xd9\x05actor" + data[m + 6:]
    with pytest.raises(EncodingError) as ei:
        ClientSignatures("alice", kid, [(bad, b"\x00" * 64)])
    assert ei.value.code == "E_ENCODING_NONCANONICAL"


def test_stored_records_decode_to_entries_naming_the_registered_key(db_url: str) -> None:
    c = make_ledger(db_url)
    t = Ticket(actor="bob", title="x")
    c.app.save(t)
    (e, data, sig), = c.app.case_records(t.id)
    assert e.key == c.app.signer.key_for("bob")
    assert decode_entry(data) == e
    assert len(sig) == 64


def test_a_local_signer_without_the_actor_refuses(db_url: str) -> None:
    c = make_ledger(db_url, signer=LocalSigner({"root": __import__("tests.fakes").fakes.ROOT,
                                                 "alice": ALICE, "bob": BOB}))
    with pytest.raises(KeyRegistryError):
        c.app.save(Ticket(actor="zoe", title="x"))


def test_two_ledger_processes_alternating_appends_keep_one_consistent_log(db_url: str) -> None:
    a = make_ledger(db_url)
    b = make_ledger(db_url, open_registry=False)
    b.app.refresh_keys()
    for i in range(6):
        for c in (a, b, b, a):
            c.app.save(Ticket(actor="alice", title=f"{i}"))
    report = full_verify(a)
    assert report.ok, report.failure
    assert report.leaves == report.entries == count(a)


def test_each_schema_has_its_own_notify_channel() -> None:
    """Two ledgers in one PostgreSQL database (one schema each) do not wake each other's followers."""
    from ledger.notify import BASE_CHANNEL, channel_for_schema

    assert channel_for_schema("public") == BASE_CHANNEL == "ledger_events"
    a, b = channel_for_schema("t_0123456789ab"), channel_for_schema("t_0123456789ac")
    assert a != b
    assert a.startswith("ledger_events_")
    assert len(a) <= 63
    assert channel_for_schema("a" * 63 + "; DROP").isidentifier()
