"""Export a case from a real ledger and verify the bundle offline, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from eventsourcing.domain import Aggregate, event
from sqlalchemy import update

from api.bootstrap import Container, bootstrap
from api.settings import Settings
from ledger import encoding
from ledger.application import key_body
from ledger.bundle import load_verified_bundle, verify_bundle
from ledger.bundle_export import export_bundle, issue_checkpoint
from ledger.checkpoint import parse_note, sign_checkpoint, verify_checkpoint, vkey
from ledger.codec import to_micros
from ledger.errors import CheckpointError, EquivocationError, SignatureError, UsageError
from ledger.keys import KEY_REGISTRY_ID
from ledger.signers import LocalSigner
from tests.fakes import ALICE, BOB, MALLORY, ROOT, T0, TEST_TYPES, StepClock, Ticket, at

ORIGIN = "caseledger.test/ledger"
TRUST = [vkey(ORIGIN, bytes(ROOT.verify_key))]
PHOTO = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
CLIP = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"


class Capture(Aggregate):
    """A case whose events name evidence capture hashes, as the domain's evidence events do."""

    class Opened(Aggregate.Created):
        TYPE: ClassVar[str] = "test.capture_opened.v1"
        actor: str
        title: str

    @event(Opened)
    def __init__(self, actor: str, title: str) -> None:
        self.title = title

    class Captured(Aggregate.Event):
        TYPE: ClassVar[str] = "test.evidence_captured.v1"
        actor: str
        sha256: str
        media: tuple[Any, ...]

    @event(Captured)
    def capture(self, actor: str, sha256: str, media: tuple[Any, ...]) -> None:
        pass


TYPES = {**TEST_TYPES, Capture.Opened.TYPE: Capture.Opened, Capture.Captured.TYPE: Capture.Captured}


def make(url: str) -> Container:
    """Like tests.fakes.make_ledger, with the evidence-carrying test aggregate registered too."""
    signer = LocalSigner({"root": ROOT, "alice": ALICE, "bob": BOB, "mallory": MALLORY})
    # The test aggregates' events carry the real time as occurred_at: the ledger's clock starts there too.
    c = bootstrap(Settings(db_url=url), signer=signer, clock=StepClock(datetime.now(UTC)), event_types=TYPES)
    reg = c.app.open_ledger(ROOT, principal="root", at=T0)
    for name, sk in (("alice", ALICE), ("bob", BOB)):
        reg.register(actor="root", at=T0, key=key_body(sk, name, "officer", "custodial", to_micros(T0)))
    c.app.save(reg)
    return c


def checkpoint(c: Container) -> str:
    return issue_checkpoint(c, origin=ORIGIN, signing_key=ROOT, clock=StepClock()).note


def busy_case(c: Container) -> Capture:
    """A case of three entries, interleaved with other cases' entries in the log."""
    case = Capture(actor="alice", title="现场检查")
    c.app.save(case)
    for i in range(3):
        c.app.save(Ticket(actor="bob", title=f"other {i}"))
    case.capture(actor="alice", sha256=PHOTO, media=({"kind": "video", "clip_sha256": CLIP},))
    c.app.save(case)
    c.app.save(Ticket(actor="alice", title="other again"))
    case.capture(actor="bob", sha256=PHOTO, media=())
    c.app.save(case)
    return case


def test_an_exported_case_verifies_offline_with_only_the_checkpoint_key(db_url: str) -> None:
    c = make(db_url)
    case = busy_case(c)
    checkpoint(c)
    out = export_bundle(c, str(case.id), signer=(ORIGIN, ROOT))
    report = verify_bundle(out.data, TRUST)
    assert report.ok, report.text()
    assert (out.entries, out.keys, report.entries) == (3, 3, 3)
    assert [st for st, _ in report.steps.values()] == ["ok"] * 7 + ["absent"]  # no calendar register in this ledger
    assert [(e["n"], e["path"], e["hash"]) for e in report.evidence] == [
        (2, "body.media.0.clip_sha256", CLIP), (2, "body.sha256", PHOTO), (3, "body.sha256", PHOTO)]
    vb = load_verified_bundle(out.data, TRUST)
    assert [e.type for e in vb.entries] == ["test.capture_opened.v1"] + ["test.evidence_captured.v1"] * 2
    assert vb.checkpoint.size == out.checkpoint_size == 10


def test_export_verifies_its_own_bundle_when_given_the_trusted_key(db_url: str) -> None:
    c = make(db_url)
    case = busy_case(c)
    checkpoint(c)
    export_bundle(c, str(case.id), trusted=TRUST)
    with pytest.raises(SignatureError) as ei:
        export_bundle(c, str(case.id), trusted=[vkey(ORIGIN, bytes(MALLORY.verify_key))])
    assert ei.value.step == "7.3"


def test_export_without_a_checkpoint_says_to_run_caseledger_checkpoint(db_url: str) -> None:
    c = make(db_url)
    case = busy_case(c)
    with pytest.raises(UsageError, match="caseledger checkpoint"):
        export_bundle(c, str(case.id))


def test_export_refuses_a_case_with_entries_after_the_latest_checkpoint(db_url: str) -> None:
    c = make(db_url)
    case = busy_case(c)
    checkpoint(c)
    case.capture(actor="alice", sha256=CLIP, media=())
    c.app.save(case)
    with pytest.raises(UsageError, match=r"1 entries \(from n = 4\) after the latest checkpoint"):
        export_bundle(c, str(case.id))
    checkpoint(c)
    assert verify_bundle(export_bundle(c, str(case.id)).data, TRUST).entries == 4


def test_export_of_an_unknown_or_malformed_case_id_is_a_usage_error(db_url: str) -> None:
    c = make(db_url)
    checkpoint(c)
    with pytest.raises(UsageError, match="no entries"):
        export_bundle(c, str(uuid.uuid4()))
    with pytest.raises(UsageError, match="not a case id"):
        export_bundle(c, "case-1")
    with pytest.raises(UsageError, match="key registry"):
        export_bundle(c, KEY_REGISTRY_ID)


def test_a_bundle_against_an_older_checkpoint_stays_valid_as_the_log_grows(db_url: str) -> None:
    c = make(db_url)
    case = busy_case(c)
    checkpoint(c)
    old = export_bundle(c, str(case.id)).data
    for i in range(20):
        c.app.save(Ticket(actor="bob", title=f"later {i}"))
    checkpoint(c)
    new = export_bundle(c, str(case.id)).data
    assert verify_bundle(old, TRUST).ok
    r = verify_bundle(new, TRUST)
    assert r.ok, r.text()
    assert load_verified_bundle(new, TRUST).checkpoint.size == 30


def test_keys_rotated_and_revoked_after_signing_still_verify(db_url: str) -> None:
    c = make(db_url)
    case = busy_case(c)
    reg = c.app.key_registry()
    from nacl.signing import SigningKey

    new = SigningKey(bytes([7]) * 32)
    later = datetime.now(UTC) + timedelta(days=1)  # the test aggregates' events carry the real time
    reg.rotate(actor="root", at=at(600), old_key_id=c.app.signer.key_for("alice"),
               new=key_body(new, "alice", "officer", "custodial", to_micros(later)))
    reg.revoke(actor="root", at=at(600), key_id=c.app.signer.key_for("bob"), revoked_at=to_micros(later),
               reason="left the agency")
    c.app.save(reg)
    checkpoint(c)
    out = export_bundle(c, str(case.id))
    assert out.keys == 5
    report = verify_bundle(out.data, TRUST)
    assert report.ok, report.text()


def test_checkpoints_commit_the_key_registry_head_so_a_dropped_revocation_is_caught(db_url: str) -> None:
    c = make(db_url)
    case = busy_case(c)
    reg = c.app.key_registry()
    reg.revoke(actor="root", at=at(600), key_id=c.app.signer.key_for("bob"), revoked_at=to_micros(at(1)),
               reason="compromised")
    c.app.save(reg)
    note = checkpoint(c)
    assert verify_checkpoint(note, TRUST).extensions[0].startswith("caseledger-keys 4 ")
    b = encoding.decode(export_bundle(c, str(case.id)).data, max_bytes=10**7)
    report = verify_bundle(encoding.encode(b), TRUST)
    assert report.failure is not None  # bob's entry 3 was made after his key's revocation time
    assert report.failure.step == "7.5.4"
    b["keys"] = b["keys"][:3]  # hide the revocation ...
    report = verify_bundle(encoding.encode(b), TRUST)
    assert report.failure is not None  # ... and the checkpoint's registry head gives it away
    assert report.failure.step == "7.4.8"


def test_missing_or_reordered_registry_entries_are_refused(db_url: str) -> None:
    c = make(db_url)
    case = busy_case(c)
    checkpoint(c)
    b = encoding.decode(export_bundle(c, str(case.id)).data, max_bytes=10**7)
    for keys, step in ((b["keys"][:1] + b["keys"][2:], "7.4.2"), (b["keys"][:2], "7.4.8"),
                       ([b["keys"][0], b["keys"][2], b["keys"][1]], "7.4.2")):
        report = verify_bundle(encoding.encode({**b, "keys": keys}), TRUST)
        assert report.failure is not None
        assert report.failure.step == step


def test_reordered_and_edited_entries_from_a_real_export_are_refused(db_url: str) -> None:
    c = make(db_url)
    case = busy_case(c)
    checkpoint(c)
    b = encoding.decode(export_bundle(c, str(case.id)).data, max_bytes=10**7)
    e = b["entries"]
    swapped = verify_bundle(encoding.encode({**b, "entries": [e[0], e[2], e[1]]}), TRUST)
    assert swapped.failure is not None
    assert (swapped.failure.step, swapped.failure.expected) == ("7.5.2", f"{case.id}#2")
    rec = e[1]["record"]
    flipped = rec["entry"].replace(PHOTO.encode(), PHOTO.replace("9", "8", 1).encode())
    edited = [e[0], {**e[1], "record": {**rec, "entry": flipped}}, e[2]]
    report = verify_bundle(encoding.encode({**b, "entries": edited}), TRUST)
    assert report.failure is not None
    assert report.failure.step == "7.5.5"


def test_a_second_checkpoint_at_the_same_size_is_not_stored_twice(db_url: str) -> None:
    c = make(db_url)
    busy_case(c)
    first = issue_checkpoint(c, origin=ORIGIN, signing_key=ROOT, clock=StepClock())
    again = issue_checkpoint(c, origin=ORIGIN, signing_key=ROOT, clock=StepClock())
    assert first.stored
    assert not again.stored
    assert again.note == first.note


def test_a_stored_checkpoint_with_another_root_at_the_same_size_is_equivocation(db_url: str) -> None:
    c = make(db_url)
    busy_case(c)
    with c.engine.begin() as conn:
        size = c.merkle.size(conn)
        other = bytes(32)
        c.merkle.add_checkpoint(conn, sign_checkpoint(ORIGIN, size, other, ORIGIN, ROOT), size, other, 1)
    with pytest.raises(EquivocationError) as ei:
        checkpoint(c)
    assert ei.value.step == "4.8"
    assert ei.value.expected == other.hex()


def test_export_refuses_when_the_log_no_longer_matches_the_checkpoint(db_url: str) -> None:
    c = make(db_url)
    case = busy_case(c)
    checkpoint(c)
    with c.engine.begin() as conn:
        conn.execute(update(c.merkle.checkpoints).values(root=bytes(32)))
    with pytest.raises(CheckpointError) as ei:
        export_bundle(c, str(case.id))
    assert ei.value.step == "5.5"


def test_the_checkpoint_note_is_signed_by_the_origin_named_key(db_url: str) -> None:
    c = make(db_url)
    busy_case(c)
    note = parse_note(checkpoint(c))
    assert [s.name for s in note.signatures] == [ORIGIN]


def test_an_entry_a_stale_process_accepted_after_a_revocation_fails_verify_and_the_bundle(db_url: str) -> None:
    """Threat model: a process that has not reloaded the key registry accepts a revoked key's entry
    back-dated before the revocation. Its leaf's recorded_at is after revoked_at: step 5.7 of
    ``verify`` and step 7.5.8 of the bundle verifier refuse it."""
    from ledger.audit import verify_database
    from ledger.merkle_audit import check_merkle

    c = make(db_url)
    case = busy_case(c)
    now = datetime.now(UTC)  # the test aggregates' events carry the real time as occurred_at
    stale = bootstrap(Settings(db_url=db_url), clock=StepClock(now + timedelta(days=2)), event_types=TYPES,
                      signer=LocalSigner({"root": ROOT, "alice": ALICE, "bob": BOB, "mallory": MALLORY}))
    reg = c.app.key_registry()
    reg.revoke(actor="root", at=at(600), key_id=c.app.signer.key_for("bob"),
               revoked_at=to_micros(now + timedelta(days=1)),
               reason="device stolen")
    c.app.save(reg)
    assert verify_database(c.engine, workers=1, merkle_check=check_merkle()).ok  # bob's earlier entry stands

    late = stale.app.repository.get(case.id)
    late.capture(actor="bob", sha256=PHOTO, media=())  # occurred_at now, before revoked_at
    stale.app.save(late)  # accepted: this process never reloaded the registry
    for workers in (1, 2):
        report = verify_database(c.engine, workers=workers, merkle_check=check_merkle())
        f = report.failure
        assert f is not None
        assert (f.step, f.code, f.case, f.n) == ("5.7", "E_KEY_REVOKED", str(case.id), 4), f
    checkpoint(c)
    report = verify_bundle(export_bundle(c, str(case.id)).data, TRUST)
    assert not report.ok
    assert (report.failure.step, report.failure.code) == ("7.5.8", "E_KEY_REVOKED"), report.text()  # type: ignore[union-attr]
