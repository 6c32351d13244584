"""The vectors in docs/spec/vectors/ (merkle*, checkpoint*): reproducible, and our code agrees."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from ledger import checkpoint, merkle
from ledger.errors import EquivocationError, VerificationError
from tests.vectors import spec_vectors

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "spec" / "vectors"


def _load(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def _h(xs: list[str]) -> list[bytes]:
    return [bytes.fromhex(x) for x in xs]


@pytest.mark.parametrize("name", sorted(spec_vectors.FILES))
def test_committed_vectors_equal_the_independent_generator(name: str) -> None:
    assert (VECTORS / name).read_text(encoding="utf-8") == spec_vectors.render(spec_vectors.FILES[name]()), (
        f"{name} is stale: run python -m tests.vectors.spec_vectors"
    )


LEAVES = _load("merkle-leaves.json")["cases"]


@pytest.mark.parametrize("case", LEAVES, ids=[c["name"] for c in LEAVES])
def test_leaf_data_and_hash_match_vector(case: dict[str, Any]) -> None:
    args = (bytes.fromhex(case["entry_hash"]), bytes.fromhex(case["sig"]), case["recorded_at"], case["index"])
    assert merkle.leaf_data(*args).hex() == case["leaf_data"]
    assert merkle.compute_leaf_hash(*args).hex() == case["leaf_hash"]


TREES = _load("merkle-tree.json")["trees"]


@pytest.mark.parametrize("tree", TREES, ids=[t["name"] for t in TREES])
def test_roots_match_vector(tree: dict[str, Any]) -> None:
    hashes = [merkle.leaf_hash(x) for x in _h(tree["leaves"])]
    fetch = merkle.memory_fetcher(hashes)
    for size, want in enumerate(tree["roots"]):
        assert merkle.root_of(hashes[:size]).hex() == want
        assert merkle.root_at(size, fetch).hex() == want


PROOFS = _load("merkle-proofs.json")
INCL = PROOFS["inclusion"]
CONS = PROOFS["consistency"]


@pytest.mark.parametrize("case", INCL, ids=[c["name"] for c in INCL])
def test_inclusion_vector(case: dict[str, Any]) -> None:
    args = (case["index"], case["size"], bytes.fromhex(case["leaf_hash"]), _h(case["proof"]),
            bytes.fromhex(case["root"]))
    if case["want_step"] is None:
        merkle.verify_inclusion(*args)
    else:
        with pytest.raises(VerificationError) as e:
            merkle.verify_inclusion(*args)
        assert e.value.step == case["want_step"]


@pytest.mark.parametrize("case", CONS, ids=[c["name"] for c in CONS])
def test_consistency_vector(case: dict[str, Any]) -> None:
    args = (case["size1"], case["size2"], _h(case["proof"]), bytes.fromhex(case["root1"]), bytes.fromhex(case["root2"]))
    if case["want_step"] is None:
        merkle.verify_consistency(*args)
    else:
        with pytest.raises(VerificationError) as e:
            merkle.verify_consistency(*args)
        assert e.value.step == case["want_step"]


def test_generated_proofs_equal_the_vectors() -> None:
    tree = next(t for t in TREES if t["name"] == "ct_reference_8")
    fetch = merkle.memory_fetcher([merkle.leaf_hash(x) for x in _h(tree["leaves"])])
    for c in INCL:
        if c["name"].startswith("ct8_"):
            assert [h.hex() for h in merkle.inclusion_proof(c["index"], c["size"], fetch)] == c["proof"]
    for c in CONS:
        if c["name"].startswith("ct8_"):
            assert [h.hex() for h in merkle.consistency_proof(c["size1"], c["size2"], fetch)] == c["proof"]


CPS = _load("checkpoint-notes.json")


@pytest.mark.parametrize("case", CPS["cases"], ids=[c["name"] for c in CPS["cases"]])
def test_checkpoint_vector(case: dict[str, Any]) -> None:
    def run() -> checkpoint.VerifiedCheckpoint:
        return checkpoint.verify_checkpoint(
            case["note"], [CPS["log_vkey"]], origin=case.get("expected_origin", CPS["origin"]),
            witnesses=[CPS["witness_vkey"]], witness_quorum=case.get("witness_quorum", 0),
        )

    if case["want_step"] is None:
        cp = run()
        assert (cp.size, cp.root.hex()) == (case["size"], case["root"])
    else:
        with pytest.raises(VerificationError) as e:
            run()
        assert e.value.step == case["want_step"]


def test_checkpoint_signing_reproduces_the_vector_byte_for_byte() -> None:
    case = CPS["cases"][0]
    cp = checkpoint.verify_checkpoint(case["note"], [CPS["log_vkey"]])
    key = SigningKey(bytes.fromhex(CPS["log_seed"]))
    assert checkpoint.sign_checkpoint(cp.origin, cp.size, cp.root, CPS["origin"], key) == case["note"]
    assert checkpoint.NoteVerifier.from_signing_key(CPS["origin"], key).to_vkey() == CPS["log_vkey"]


def test_forked_checkpoint_vector_is_equivocation() -> None:
    f = CPS["forked_checkpoint"]
    a = checkpoint.verify_checkpoint(f["note_a"], [CPS["log_vkey"]])
    b = checkpoint.verify_checkpoint(f["note_b"], [CPS["log_vkey"]])
    with pytest.raises(EquivocationError) as e:
        checkpoint.check_equivocation(a, b)
    assert e.value.step == f["want_step"]


COS = _load("cosignatures.json")


@pytest.mark.parametrize("case", COS["cases"], ids=[c["name"] for c in COS["cases"]])
def test_cosignature_vector(case: dict[str, Any]) -> None:
    def run() -> checkpoint.VerifiedCheckpoint:
        return checkpoint.verify_checkpoint(case["note"], [COS["log_vkey"]], origin=COS["origin"],
                                            witnesses=[COS["cosigner_vkey"]], witness_quorum=1)

    if case["want_step"] is None:
        assert run().witnesses == (COS["cosigner_name"],)
    else:
        with pytest.raises(VerificationError) as e:
            run()
        assert e.value.step == case["want_step"]


def test_cosigning_with_pynacl_reproduces_the_openssl_vector_byte_for_byte() -> None:
    key = SigningKey(bytes.fromhex(COS["cosigner_seed"]))
    v = checkpoint.NoteVerifier.parse(COS["cosigner_vkey"])
    assert (v.alg, v.key_id.hex(), v.public_key.hex()) == (0x04, COS["cosigner_key_id"], COS["cosigner_public_key"])
    assert checkpoint.NoteVerifier.from_signing_key(COS["cosigner_name"], key, 0x04) == v
    note = COS["cases"][0]["note"]
    body = checkpoint.parse_note(note).body
    assert checkpoint.cosigned_message(body, 1679315147).decode() == COS["signed_message"]
    line = checkpoint.cosign(body, COS["cosigner_name"], key, 1679315147).line()
    assert line == COS["cosignature_line"]
