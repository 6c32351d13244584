"""ledger.checkpoint: signed notes, checkpoints, cosignatures, equivocation, bad input."""

from __future__ import annotations

import base64
import hashlib

import pytest
from nacl.signing import SigningKey

from ledger import checkpoint as cp
from ledger import merkle
from ledger.errors import CheckpointError, EquivocationError, ProofError, SignatureError, UsageError
from ledger.limits import Limits

LOG = SigningKey(bytes([7]) * 32)
WITNESS = SigningKey(bytes([8]) * 32)
WITNESS2 = SigningKey(bytes([9]) * 32)
STRANGER = SigningKey(bytes([10]) * 32)
ORIGIN = "caseledger.test/log"
LOG_V = cp.NoteVerifier.from_signing_key(ORIGIN, LOG)
W1 = cp.NoteVerifier.from_signing_key("w1.test", WITNESS, cp.ALG_COSIGNATURE_V1)
W2 = cp.NoteVerifier.from_signing_key("w2.test", WITNESS2, cp.ALG_COSIGNATURE_V1)
T = 1_700_000_000

HASHES = [hashlib.sha256(b"%d" % i).digest() for i in range(20)]
FETCH = merkle.memory_fetcher(HASHES)


def note_at(size: int, key: SigningKey = LOG, origin: str = ORIGIN) -> str:
    return cp.sign_checkpoint(origin, size, merkle.root_of(HASHES[:size]), origin, key)


def verified(size: int) -> cp.VerifiedCheckpoint:
    return cp.verify_checkpoint(note_at(size), [LOG_V], origin=ORIGIN)


# --- Go sumdb/note's documented example: key id, vkey and signature bytes -----------------------

GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_NOTE = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_key_id_and_signature_match_go_sumdb_note_example() -> None:
    v = cp.NoteVerifier.parse(GO_VKEY)
    key = SigningKey(GO_SEED)
    assert cp.NoteVerifier.from_signing_key("PeterNeumann", key) == v
    assert v.to_vkey() == GO_VKEY
    parsed = cp.parse_note(GO_NOTE)
    assert cp.Note(parsed.body, (cp.sign_note(parsed.body, "PeterNeumann", key),)).text() == GO_NOTE
    assert cp._verified_names(parsed, [v], "4.6") == ["PeterNeumann"]


# --- happy paths ------------------------------------------------------------------------------


def test_signed_checkpoint_verifies_and_round_trips() -> None:
    c = verified(13)
    assert (c.origin, c.size, c.root) == (ORIGIN, 13, merkle.root_of(HASHES[:13]))
    assert c.log_signers == (ORIGIN,)
    assert c.note == note_at(13)
    assert note_at(13).split("\n")[:3] == [ORIGIN, "13", base64.b64encode(c.root).decode()]


def test_trusted_keys_may_be_given_as_vkey_text_or_a_trust_file() -> None:
    keys = cp.parse_trust_file(f"# ledger key\n\n{LOG_V.to_vkey()}\n{W1.to_vkey()}\n")
    assert keys == [LOG_V, W1]
    assert cp.verify_checkpoint(note_at(3), [LOG_V.to_vkey()]).size == 3


def test_witness_cosignatures_meet_a_quorum() -> None:
    note = cp.add_cosignature(cp.add_cosignature(note_at(9), "w1.test", WITNESS, timestamp=T), "w2.test", WITNESS2,
                              timestamp=T + 1)
    c = cp.verify_checkpoint(note, [LOG_V], witnesses=[W1, W2], witness_quorum=2)
    assert c.witnesses == ("w1.test", "w2.test")


def test_a_cosignature_is_cosignature_v1_with_its_timestamp() -> None:
    note = cp.add_cosignature(note_at(9), "w1.test", WITNESS, timestamp=T)
    sig = cp.parse_note(note).signatures[-1]
    assert (sig.key_id, sig.timestamp, len(sig.signature)) == (W1.key_id, T, 72)
    body = cp.parse_note(note).body
    WITNESS.verify_key.verify(b"cosignature/v1\ntime %d\n" % T + body.encode(), sig.signature[8:])
    assert base64.b64decode(W1.to_vkey().split("+", 2)[2]) == b"\x04" + bytes(WITNESS.verify_key)
    assert cp.NoteVerifier.parse(W1.to_vkey()) == W1


def test_a_plain_note_signature_by_a_witness_key_is_not_a_cosignature() -> None:
    body = cp.parse_note(note_at(9)).body
    plain = cp.NoteSignature("w1.test", W1.key_id, WITNESS.sign(body.encode()).signature)
    with pytest.raises(SignatureError) as e:
        cp.verify_checkpoint(note_at(9) + plain.line(), [LOG_V], witnesses=[W1], witness_quorum=1)
    assert (e.value.step, e.value.code) == ("4.7", "E_CHECKPOINT_SIGNATURE")


def test_a_witness_key_is_refused_as_a_log_key() -> None:
    with pytest.raises(UsageError, match="type-0x04"):
        cp.verify_checkpoint(note_at(9), [W1])


@pytest.mark.parametrize("t", [-1, 2**63, 1.5])
def test_a_cosignature_timestamp_out_of_range_is_refused(t: object) -> None:
    with pytest.raises(UsageError):
        cp.cosign("x\n", "w1.test", WITNESS, t)  # type: ignore[arg-type]


def test_missing_witness_quorum_is_refused() -> None:
    note = cp.add_cosignature(note_at(9), "w1.test", WITNESS, timestamp=T)
    with pytest.raises(CheckpointError) as e:
        cp.verify_checkpoint(note, [LOG_V], witnesses=[W1, W2], witness_quorum=2)
    assert e.value.step == "4.7"


def test_witness_signature_alone_is_not_a_log_signature() -> None:
    body = cp.checkpoint_body(ORIGIN, 3, merkle.root_of(HASHES[:3]))
    note = cp.Note(body, (cp.sign_note(body, "w1.test", WITNESS),)).text()
    with pytest.raises(SignatureError) as e:
        cp.verify_checkpoint(note, [LOG_V], witnesses=[W1], witness_quorum=1)
    assert e.value.step == "4.6"


def test_cosigning_twice_with_one_key_is_refused() -> None:
    with pytest.raises(UsageError):
        cp.add_cosignature(cp.add_cosignature(note_at(3), "w1.test", WITNESS, timestamp=T), "w1.test", WITNESS,
                           timestamp=T)


def test_unknown_key_signatures_are_ignored() -> None:
    note = cp.add_cosignature(note_at(5), "stranger.test", STRANGER, timestamp=T)
    assert cp.verify_checkpoint(note, [LOG_V]).log_signers == (ORIGIN,)


def test_verified_checkpoint_cannot_be_forged_by_construction() -> None:
    with pytest.raises(UsageError):
        cp.VerifiedCheckpoint(ORIGIN, 1, merkle.EMPTY_ROOT, (), "", (), ())


# --- bad input: each kind of malformed note, named after the attack -----------------------------

GOOD = note_at(7)
BODY, _, SIGS = GOOD.partition("\n\n")


@pytest.mark.parametrize(
    ("note", "step"),
    [
        (GOOD + "x" * 16 * 1024, "4.1"),
        (GOOD.encode("utf-8")[:-3] + b"\xff\xfe\n", "4.1"),
        (GOOD.replace("\n7\n", "\n7\t\n"), "4.1"),
        (GOOD.replace("\n", "\r\n"), "4.1"),
        (BODY + "\n" + SIGS, "4.2"),
        (GOOD[:-1], "4.2"),
        (BODY + "\n\n", "4.3"),
        (GOOD.replace("\u2014 ", "- "), "4.3"),
        (GOOD.replace("\u2014 ", "\u2014  "), "4.3"),
        (GOOD.replace(f"\u2014 {ORIGIN} ", f"\u2014 {ORIGIN}+x "), "4.3"),
        (GOOD[:-5] + "@@@=\n", "4.3"),
        (GOOD[:-1] + " extra\n", "4.3"),
        (BODY + "\n\n\u2014 " + ORIGIN + " AAAA\n", "4.3"),
        (GOOD.replace("\n7\n", "\n+7\n"), "4.4"),
        (GOOD.replace("\n7\n", "\n07\n"), "4.4"),
        (GOOD.replace("\n7\n", "\n99999999999999999999\n"), "4.4"),
        (GOOD.replace("\n7\n", "\nseven\n"), "4.4"),
        (GOOD.replace(f"{ORIGIN}\n7\n", "\n7\n", 1), "4.4"),
    ],
    ids=[
        "oversized_note", "invalid_utf8", "tab_in_body", "crlf_line_endings", "no_blank_line",
        "missing_final_newline", "no_signature_lines", "ascii_dash", "double_space", "plus_in_key_name",
        "bad_base64", "extra_field_on_signature_line", "signature_too_short", "signed_size", "leading_zero_size",
        "size_overflow", "non_decimal_size", "empty_origin",
    ],
)
def test_malformed_note_is_refused_naming_the_step(note: str | bytes, step: str) -> None:
    with pytest.raises(CheckpointError) as e:
        cp.verify_checkpoint(note, [LOG_V])
    assert e.value.step == step
    assert e.value.code == "E_CHECKPOINT_MALFORMED"


@pytest.mark.parametrize(
    "root_line",
    [base64.b64encode(bytes(31)).decode(), base64.b64encode(bytes(33)).decode(), "not base64!", ""],
    ids=["short_root", "long_root", "garbage_root", "empty_root"],
)
def test_bad_root_line_is_refused(root_line: str) -> None:
    body = f"{ORIGIN}\n7\n{root_line}\n"
    note = cp.Note(body, (cp.sign_note(body, ORIGIN, LOG),)).text()
    with pytest.raises(CheckpointError) as e:
        cp.verify_checkpoint(note, [LOG_V])
    assert e.value.step == "4.4"


def test_empty_extension_line_is_refused() -> None:
    body = cp.checkpoint_body(ORIGIN, 1, merkle.root_of(HASHES[:1])) + "ext\n"
    body = body.replace("ext\n", "ext\n\nmore\n")
    note = body + "\n" + cp.sign_note(body, ORIGIN, LOG).line()
    with pytest.raises(CheckpointError) as e:
        cp.verify_checkpoint(note, [LOG_V])
    assert e.value.step == "4.4"


def test_untrusted_key_is_refused() -> None:
    with pytest.raises(SignatureError) as e:
        cp.verify_checkpoint(note_at(4, key=STRANGER), [LOG_V])
    assert e.value.step == "4.6"
    assert e.value.code == "E_CHECKPOINT_UNTRUSTED"


def test_bad_signature_by_trusted_key_is_refused() -> None:
    forged = GOOD.replace("\n7\n", "\n8\n", 1)
    with pytest.raises(SignatureError) as e:
        cp.verify_checkpoint(forged, [LOG_V])
    assert e.value.step == "4.6"
    assert e.value.code == "E_CHECKPOINT_SIGNATURE"


def test_bad_signature_by_known_key_rejects_even_with_another_good_one() -> None:
    body = GOOD.split("\n\n")[0] + "\n"
    bad = cp.NoteSignature(ORIGIN, LOG_V.key_id, bytes(64))
    note = cp.Note(body, (bad, cp.sign_note(body, ORIGIN, LOG))).text()
    with pytest.raises(SignatureError):
        cp.verify_checkpoint(note, [LOG_V])


def test_wrong_origin_is_refused() -> None:
    with pytest.raises(CheckpointError) as e:
        cp.verify_checkpoint(note_at(4, origin="other.test/log"),
                             [cp.NoteVerifier.from_signing_key("other.test/log", LOG)],
                             origin=ORIGIN)
    assert e.value.step == "4.5"


def test_too_many_signatures_is_refused() -> None:
    note = GOOD
    for i in range(64):
        note = cp.add_cosignature(note, f"w{i}.test", SigningKey(bytes([i + 20]) * 32), timestamp=T,
                                  limits=Limits(max_note_signatures=100))
    with pytest.raises(CheckpointError) as e:
        cp.verify_checkpoint(note, [LOG_V])
    assert e.value.step == "4.3"


def test_note_limit_comes_from_limits() -> None:
    with pytest.raises(CheckpointError) as e:
        cp.verify_checkpoint(GOOD, [LOG_V], limits=Limits(max_note_bytes=len(GOOD.encode()) - 1))
    assert e.value.step == "4.1"


@pytest.mark.parametrize(
    "vkey",
    [
        LOG_V.to_vkey().replace("+", "-", 1),
        LOG_V.to_vkey()[: len(ORIGIN) + 1] + "00000000" + LOG_V.to_vkey()[len(ORIGIN) + 9 :],
        LOG_V.to_vkey()[:-4],
        f"{ORIGIN}+{LOG_V.key_id.hex()}+" + base64.b64encode(b"\x02" + LOG_V.public_key).decode(),
    ],
    ids=["no_separators", "wrong_key_id", "truncated_key", "wrong_algorithm"],
)
def test_malformed_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(UsageError):
        cp.NoteVerifier.parse(vkey)


# --- equivocation and consistency ----------------------------------------------------------------


def test_same_size_different_root_is_equivocation() -> None:
    a = verified(6)
    body = cp.checkpoint_body(ORIGIN, 6, merkle.root_of(HASHES[1:7]))
    b = cp.verify_checkpoint(cp.Note(body, (cp.sign_note(body, ORIGIN, LOG),)).text(), [LOG_V])
    with pytest.raises(EquivocationError) as e:
        cp.check_equivocation(a, b)
    assert e.value.step == "4.8"
    with pytest.raises(EquivocationError):
        cp.verify_consistency_between(a, b, [])
    cp.check_equivocation(a, verified(6))
    cp.check_equivocation(a, verified(9))


def test_consistency_between_checkpoints() -> None:
    old, new = verified(5), verified(19)
    cp.verify_consistency_between(old, new, merkle.consistency_proof(5, 19, FETCH))
    with pytest.raises(ProofError):
        cp.verify_consistency_between(old, new, merkle.consistency_proof(4, 19, FETCH))
    with pytest.raises(ProofError) as e:
        cp.verify_consistency_between(new, old, [])
    assert e.value.step == "3.6"


def test_truncated_log_is_detected_by_consistency() -> None:
    old = verified(12)
    # The log "loses" its tail and re-grows with other leaves: the new checkpoint is signed, but
    # no proof links it to the old one.
    rewritten = [*HASHES[:8], *(hashlib.sha256(b"x%d" % i).digest() for i in range(10))]
    body = cp.checkpoint_body(ORIGIN, 18, merkle.root_of(rewritten))
    new = cp.verify_checkpoint(cp.Note(body, (cp.sign_note(body, ORIGIN, LOG),)).text(), [LOG_V])
    proof = merkle.consistency_proof(12, 18, merkle.memory_fetcher(rewritten))
    with pytest.raises(ProofError) as e:
        cp.verify_consistency_between(old, new, proof)
    assert e.value.step == "3.11"


def test_consistency_from_an_empty_checkpoint() -> None:
    cp.verify_consistency_between(verified(0), verified(4), [])
    with pytest.raises(ProofError):
        cp.verify_consistency_between(verified(0), verified(4), [merkle.EMPTY_ROOT])


def test_different_logs_are_refused() -> None:
    other = cp.verify_checkpoint(note_at(5, origin="other.test/log"),
                                 [cp.NoteVerifier.from_signing_key("other.test/log", LOG)])
    with pytest.raises(CheckpointError) as e:
        cp.verify_consistency_between(verified(5), other, [])
    assert e.value.step == "4.9"
    with pytest.raises(UsageError):
        cp.check_equivocation(verified(5), other)


def test_later_steps_accept_only_verified_checkpoints() -> None:
    with pytest.raises(UsageError):
        cp.check_equivocation(note_at(5), verified(5))  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        cp.verify_consistency_between(verified(5), note_at(6), [])  # type: ignore[arg-type]


# --- the origin is the log key's name (spec 06 step 4.5.1) -----------------------------------------


def test_a_checkpoint_for_another_origin_signed_by_the_trusted_key_is_refused_even_without_an_expected_origin() -> None:
    evil = cp.sign_checkpoint("evil.example/log", 5, merkle.root_of(HASHES[:5]), ORIGIN, LOG)
    for origin in (None, "evil.example/log"):
        with pytest.raises(CheckpointError) as e:
            cp.verify_checkpoint(evil, [LOG_V], origin=origin)
        assert (e.value.step, e.value.code) == ("4.5.1", "E_CHECKPOINT_ORIGIN")
        assert (e.value.expected, e.value.actual) == ([ORIGIN], "evil.example/log")


def test_a_key_named_after_the_forged_origin_but_not_trusted_does_not_help() -> None:
    signed = cp.parse_note(cp.sign_checkpoint("evil.example/log", 5, merkle.root_of(HASHES[:5]), ORIGIN, LOG))
    evil = cp.Note(signed.body, (*signed.signatures, cp.sign_note(signed.body, "evil.example/log", STRANGER))).text()
    with pytest.raises(CheckpointError) as e:
        cp.verify_checkpoint(evil, [LOG_V])
    assert e.value.step == "4.5.1"


def test_with_two_trusted_logs_only_the_key_named_by_the_origin_counts() -> None:
    other_v = cp.NoteVerifier.from_signing_key("other.test/log", STRANGER)
    ours = note_at(5)
    assert cp.verify_checkpoint(ours, [other_v, LOG_V]).log_signers == (ORIGIN,)
    theirs_by_our_key = cp.sign_checkpoint("other.test/log", 5, merkle.root_of(HASHES[:5]), ORIGIN, LOG)
    with pytest.raises(SignatureError) as e:
        cp.verify_checkpoint(theirs_by_our_key, [other_v, LOG_V])
    assert (e.value.step, e.value.code) == ("4.6", "E_CHECKPOINT_UNTRUSTED")
