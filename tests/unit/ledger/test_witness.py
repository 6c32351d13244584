"""ledger.witness (C2SP tlog-witness) and its HTTP face: every refusal with the status the spec names,
state kept per log, never a fork cosigned. In process: a real SQLite state file, Starlette's TestClient."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from nacl.signing import SigningKey

from api.cmd_witness import make_app
from ledger import checkpoint as cp
from ledger import merkle
from ledger.errors import UsageError
from ledger.witness import (
    MAX_PROOF_LINES,
    SIZE_CONTENT_TYPE,
    Witness,
    WitnessRefusal,
    format_request,
    format_witness_key,
    load_witness_key,
    parse_request,
)

LOG = SigningKey(bytes([31]) * 32)
OTHER = SigningKey(bytes([32]) * 32)
WKEY = SigningKey(bytes([33]) * 32)
ORIGIN = "fj.example/ledger"
LOG_V = cp.NoteVerifier.from_signing_key(ORIGIN, LOG)
W_V = cp.NoteVerifier.from_signing_key("w.example/w1", WKEY, cp.ALG_COSIGNATURE_V1)
LEAVES = [hashlib.sha256(b"leaf %d" % i).digest() for i in range(40)]
FORK = [*LEAVES[:10], *(hashlib.sha256(b"fork %d" % i).digest() for i in range(30))]


def note(size: int, leaves: list[bytes] = LEAVES, key: SigningKey = LOG, origin: str = ORIGIN) -> str:
    return cp.sign_checkpoint(origin, size, merkle.root_of(leaves[:size]), origin, key)


def proof(old: int, new: int, leaves: list[bytes] = LEAVES) -> list[bytes]:
    return [bytes(h) for h in merkle.consistency_proof(old, new, merkle.memory_fetcher(leaves[:new]))]


@pytest.fixture
def witness(tmp_path: Path) -> Witness:
    return Witness("w.example/w1", WKEY, [LOG_V], tmp_path / "w.db", clock=lambda: 1_700_000_000)


def add(w: Witness, old: int, new: int, leaves: list[bytes] = LEAVES) -> str:
    return w.add_checkpoint(format_request(old, proof(old, new, leaves) if 0 < old < new else [], note(new, leaves)))


def refusal(w: Witness, body: bytes) -> WitnessRefusal:
    with pytest.raises(WitnessRefusal) as e:
        w.add_checkpoint(body)
    return e.value


def test_first_checkpoint_then_extensions_are_cosigned_and_remembered(witness: Witness) -> None:
    line = add(witness, 0, 10)
    c = cp.verify_checkpoint(note(10) + line, [LOG_V], witnesses=[W_V], witness_quorum=1)
    assert c.witnesses == ("w.example/w1",)
    assert cp.parse_note(note(10) + line).signatures[-1].timestamp == 1_700_000_000
    add(witness, 10, 17)
    add(witness, 17, 17)  # the same checkpoint again: cosigned again
    state = witness.state(ORIGIN)
    assert state is not None
    assert (state.size, state.root) == (17, merkle.root_of(LEAVES[:17]))
    assert witness.refusals() == []


def test_old_size_other_than_the_last_cosigned_is_409_with_that_size(witness: Witness) -> None:
    add(witness, 0, 10)
    r = refusal(witness, format_request(0, [], note(12)))
    assert (r.status, r.latest_size) == (409, 10)
    r = refusal(witness, format_request(5, proof(5, 12), note(12)))
    assert (r.status, r.latest_size) == (409, 10)


def test_a_fork_is_never_cosigned(witness: Witness) -> None:
    add(witness, 0, 20)
    # Same size, another root (same origin and key: a split view).
    r = refusal(witness, format_request(20, [], note(20, FORK)))
    assert (r.status, r.latest_size) == (409, 20)
    # A longer forked tree: its consistency proof from 20 cannot lead from the cosigned root.
    r = refusal(witness, format_request(20, proof(20, 30, FORK), note(30, FORK)))
    assert r.status == 422
    # The honest log still extends.
    add(witness, 20, 30)
    state = witness.state(ORIGIN)
    assert state is not None
    assert state.root == merkle.root_of(LEAVES[:30])
    assert [s for _, s, _ in witness.refusals()] == [409, 422]


def test_a_wrong_proof_is_422_and_changes_nothing(witness: Witness) -> None:
    add(witness, 0, 10)
    good = proof(10, 20)
    for bad in ([*good[:-1], b"\x00" * 32], good[:-1], [*good, good[0]]):
        assert refusal(witness, format_request(10, bad, note(20))).status == 422
    assert refusal(witness, format_request(0, [], note(0))).status == 409
    state = witness.state(ORIGIN)
    assert state is not None
    assert state.size == 10


def test_a_proof_from_size_0_must_be_empty(witness: Witness) -> None:
    assert refusal(witness, format_request(0, [b"\x01" * 32], note(5))).status == 422
    assert witness.state(ORIGIN) is None


def test_unknown_log_is_404_and_untrusted_key_is_403(witness: Witness) -> None:
    assert refusal(witness, format_request(0, [], note(5, origin="zj.example/ledger"))).status == 404
    assert refusal(witness, format_request(0, [], note(5, key=OTHER))).status == 403
    body = note(5).replace("\n5\n", "\n6\n")  # the log's signature no longer verifies
    assert refusal(witness, format_request(0, [], body)).status == 403
    assert witness.state(ORIGIN) is None


@pytest.mark.parametrize(("body", "why"), [
    (b"old 01\n\n", "leading zero"),
    (b"old -1\n\n", "sign"),
    (b"old 1\n", "no blank line"),
    (b"new 1\n\nx", "no old line"),
    (b"old 1\nnot base64!\n\nx", "bad proof line"),
    (b"old 1\n" + b"AAAA\n" + b"\nx", "short hash"),
    (b"old 1\n" + b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n" * (MAX_PROOF_LINES + 1) + b"\nx", "64 lines"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_malformed_requests_are_400(body: bytes, why: str) -> None:
    with pytest.raises(WitnessRefusal) as e:
        parse_request(body)
    assert e.value.status == 400, why


def test_malformed_note_and_old_size_above_size_are_400(witness: Witness) -> None:
    assert refusal(witness, b"old 0\n\nnot a note\n").status == 400
    assert refusal(witness, format_request(9, [], note(5))).status == 400


def test_witness_key_file_round_trips_and_is_checked() -> None:
    text = format_witness_key("w.example/w1", WKEY)
    assert text.startswith("PRIVATE+KEY+w.example/w1+" + W_V.key_id.hex() + "+")
    name, key = load_witness_key(text + "\n")
    assert (name, bytes(key)) == ("w.example/w1", bytes(WKEY))
    for bad in ("", text.replace("w1+", "w2+"), text[:-4] + "AAA=", "PRIVATE+KEY+x+00000000+!!!"):
        with pytest.raises(UsageError):
            load_witness_key(bad)


def test_a_witness_follows_only_log_keys(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        Witness("w", WKEY, [W_V], tmp_path / "x.db")
    with pytest.raises(UsageError):
        Witness("w", WKEY, [], tmp_path / "x.db")


def test_http_interface_status_codes_and_409_body(witness: Witness) -> None:
    client = TestClient(make_app(witness))
    ok = client.post("/add-checkpoint", content=format_request(0, [], note(10)))
    assert ok.status_code == 200
    assert ok.text.startswith("\u2014 w.example/w1 ")
    assert ok.text.endswith("\n")
    stale = client.post("/add-checkpoint", content=format_request(0, [], note(12)))
    assert (stale.status_code, stale.text) == (409, "10\n")
    assert stale.headers["content-type"].startswith(SIZE_CONTENT_TYPE)
    assert client.post("/add-checkpoint", content=format_request(10, [b"\0" * 32], note(12))).status_code == 422
    assert client.post("/add-checkpoint", content=b"old x\n\n").status_code == 400
    assert client.post("/add-checkpoint", content=b"x" * (70 * 1024)).status_code == 413
    assert client.get("/add-checkpoint").status_code == 405
    assert W_V.to_vkey() in client.get("/").text
