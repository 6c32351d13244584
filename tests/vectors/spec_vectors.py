"""Independent generator of docs/spec/vectors/merkle*.json, checkpoint*.json and cosignatures.json.

It does NOT use ledger.merkle or ledger.checkpoint: trees, paths and proofs are computed with
the recursive definitions of RFC 9162 §2.1 written out literally, and notes are assembled by
hand from hashlib, base64 and PyNaCl. tests/vectors/test_spec_vectors.py checks that the
committed files equal what this module produces and that the production code agrees with them.

Regenerate with ``python -m tests.vectors.spec_vectors`` (from the project root).
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import msgpack
from nacl.signing import SigningKey

OUT = Path(__file__).resolve().parents[2] / "docs" / "spec" / "vectors"


# --- RFC 9162 §2.1, literally -----------------------------------------------------------------


def sha(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def k_of(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    """MTH(D[n]) over leaf *inputs*."""
    n = len(d)
    if n == 0:
        return sha(b"")
    if n == 1:
        return sha(b"\x00" + d[0])
    k = k_of(n)
    return sha(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) (RFC 9162 §2.1.3.1)."""
    n = len(d)
    if n == 1:
        return []
    k = k_of(n)
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) (RFC 9162 §2.1.4.1)."""
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = k_of(n)
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def proof(m: int, d: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) for 0 < m <= n."""
    return subproof(m, d, True)


# --- leaves (spec 03 §Leaves), with an independent canonical msgpack map ---------------------


def leaf_input(entry_hash: bytes, sig: bytes, recorded_at: int, index: int) -> bytes:
    # Keys already in bytewise order; msgpack-python packs ints minimally and bytes as bin.
    return msgpack.packb(
        {"entry_hash": entry_hash, "index": index, "recorded_at": recorded_at, "sig": sig}, use_bin_type=True,
    )


# The eight leaf inputs of the CT/RFC 6962 reference test suite (hex).
CT_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]


def hx(b: bytes) -> str:
    return b.hex()


def build_merkle_leaves() -> dict[str, Any]:
    cases = []
    for i, (eh_seed, recorded_at, index) in enumerate(
        [(b"a", 0, 0), (b"b", 1_767_225_600_000_000, 1), (b"c", 2**32, 255), (b"d", 2**63 - 1, 2**32 + 7)],
    ):
        eh = sha(b"entry-" + eh_seed)
        sig = sha(b"sig1-" + eh_seed) + sha(b"sig2-" + eh_seed)
        data = leaf_input(eh, sig, recorded_at, index)
        cases.append({
            "name": f"leaf_{i}", "entry_hash": hx(eh), "sig": hx(sig), "recorded_at": recorded_at,
            "index": index, "leaf_data": hx(data), "leaf_hash": hx(sha(b"\x00" + data)),
        })
    return {"description": "Leaf data and leaf hashes (spec 03 §Leaves).", "cases": cases}


def build_merkle_tree() -> dict[str, Any]:
    leaves = [bytes.fromhex(x) for x in CT_LEAVES]
    big = [i.to_bytes(4, "big") for i in range(37)]
    return {
        "description": "Tree roots (spec 03 §Tree). 'leaves' are leaf inputs (hex); 'roots'[i] is MTH of the first i.",
        "trees": [
            {"name": "ct_reference_8", "leaves": CT_LEAVES, "roots": [hx(mth(leaves[:i])) for i in range(9)]},
            {"name": "uint32_be_37", "leaves": [hx(x) for x in big], "roots": [hx(mth(big[:i])) for i in range(38)]},
        ],
    }


def build_merkle_proofs() -> dict[str, Any]:
    leaves = [bytes.fromhex(x) for x in CT_LEAVES]
    big = [i.to_bytes(4, "big") for i in range(13)]
    inclusion: list[dict[str, Any]] = []
    consistency: list[dict[str, Any]] = []
    for tree_name, d in (("ct8", leaves), ("u13", big)):
        for size in range(1, len(d) + 1):
            for i in range(size):
                inclusion.append({  # noqa: PERF401 - one vector per loop step
                    "name": f"{tree_name}_incl_{i}_of_{size}", "index": i, "size": size,
                    "leaf_hash": hx(sha(b"\x00" + d[i])), "root": hx(mth(d[:size])),
                    "proof": [hx(h) for h in path(i, d[:size])], "want_step": None,
                })
            for s1 in range(1, size + 1):
                consistency.append({  # noqa: PERF401 - one vector per loop step
                    "name": f"{tree_name}_cons_{s1}_to_{size}", "size1": s1, "size2": size,
                    "root1": hx(mth(d[:s1])), "root2": hx(mth(d[:size])),
                    "proof": [hx(h) for h in proof(s1, d[:size])], "want_step": None,
                })
    # Attacks, named after what they try; never delete one.
    root8 = mth(big[:8])
    p3 = [hx(h) for h in path(3, big[:8])]
    lh3 = hx(sha(b"\x00" + big[3]))
    lh7 = hx(sha(b"\x00" + big[7]))
    flipped = [p3[0][:-1] + ("0" if p3[0][-1] != "0" else "1"), *p3[1:]]
    bad_incl = [
        ("index_equals_size", 8, 8, lh7, p3, "3.1"),
        ("index_beyond_size", 9, 8, lh3, p3, "3.1"),
        ("negative_index", -1, 8, lh3, p3, "3.1"),
        ("short_leaf_hash", 3, 8, lh3[:-2], p3, "3.2"),
        ("short_proof_hash", 3, 8, lh3, [p3[0][:-2], *p3[1:]], "3.3"),
        ("extra_trailing_hash", 3, 8, lh3, [*p3, hx(root8)], "3.4"),
        ("extra_leading_hash", 3, 8, lh3, [hx(root8), *p3], "3.4"),
        ("truncated_proof", 3, 8, lh3, p3[:-1], "3.4"),
        ("wrong_tree_size", 3, 4, lh3, p3, "3.4"),
        ("moved_leaf_index", 2, 8, lh3, p3, "3.5"),
        ("flipped_bit", 3, 8, lh3, flipped, "3.5"),
        ("reordered_proof", 3, 8, lh3, [p3[1], p3[0], p3[2]], "3.5"),
    ]
    for name, i, size, lh, pr, step in bad_incl:
        inclusion.append({"name": name, "index": i, "size": size, "leaf_hash": lh, "root": hx(root8),
                          "proof": pr, "want_step": step})
    r3, r7 = hx(mth(big[:3])), hx(mth(big[:7]))
    c37 = [hx(h) for h in proof(3, big[:7])]
    bad_cons = [
        ("size1_greater_than_size2", 7, 3, r7, r3, c37, "3.6"),
        ("from_empty_tree", 0, 7, hx(sha(b"")), r7, [], "3.7"),
        ("short_proof_hash", 3, 7, r3, r7, [c37[0][:10], *c37[1:]], "3.8"),
        ("equal_sizes_nonempty_proof", 7, 7, r7, r7, [r7], "3.9"),
        ("extra_trailing_hash", 3, 7, r3, r7, [*c37, r7], "3.10"),
        ("truncated_proof", 3, 7, r3, r7, c37[:-1], "3.10"),
        ("truncated_log_wrong_old_root", 3, 7, r7, r7, c37, "3.11"),
        ("rewritten_history", 3, 7, hx(mth(big[1:4])), r7, c37, "3.11"),
        ("forked_newer_root", 3, 7, r3, hx(mth(big[1:8])), c37, "3.12"),
        ("equal_sizes_different_roots", 7, 7, r7, hx(root8), [], "3.12"),
    ]
    for name, s1, s2, a, b, pr, step in bad_cons:
        consistency.append({"name": name, "size1": s1, "size2": s2, "root1": a, "root2": b,
                            "proof": pr, "want_step": step})
    return {
        "description": "Inclusion and consistency proofs (spec 03 §Proofs) with negative cases "
                       "(want_step = the spec 06 step that must refuse them). Leaf inputs as in merkle-tree.json.",
        "inclusion": inclusion,
        "consistency": consistency,
    }


# --- checkpoints (spec 04), assembled by hand ----------------------------------------------------

LOG_SEED = sha(b"CaseLedger test vector: log key")
WITNESS_SEED = sha(b"CaseLedger test vector: witness key")
OTHER_SEED = sha(b"CaseLedger test vector: untrusted key")
ORIGIN = "caseledger.example/log/test"
EM = "\u2014 "


def _kid(name: str, pub: bytes) -> bytes:
    return sha(name.encode() + b"\n\x01" + pub)[:4]


def _vkey(name: str, sk: SigningKey) -> str:
    pub = bytes(sk.verify_key)
    b64 = base64.b64encode(b"\x01" + pub).decode()
    return f"{name}+{_kid(name, pub).hex()}+{b64}"


def _sigline(name: str, sk: SigningKey, body: str) -> str:
    pub = bytes(sk.verify_key)
    sig = sk.sign(body.encode()).signature
    return f"{EM}{name} {base64.b64encode(_kid(name, pub) + sig).decode()}\n"


def build_checkpoints() -> dict[str, Any]:
    log, wit, other = SigningKey(LOG_SEED), SigningKey(WITNESS_SEED), SigningKey(OTHER_SEED)
    big = [i.to_bytes(4, "big") for i in range(37)]
    root = mth(big[:37])
    body = f"{ORIGIN}\n37\n{base64.b64encode(root).decode()}\n"
    ok = body + "\n" + _sigline(ORIGIN, log, body)
    cosigned = ok + _sigline("witness.example/w1", wit, body)
    body_ext = body + "extension line one\n"
    cases: list[dict[str, Any]] = [
        {"name": "signed_by_log", "note": ok, "want_step": None, "size": 37, "root": hx(root)},
        {"name": "cosigned_by_witness", "note": cosigned, "witness_quorum": 1, "want_step": None,
         "size": 37, "root": hx(root)},
        {"name": "with_extension_line", "note": body_ext + "\n" + _sigline(ORIGIN, log, body_ext),
         "want_step": None, "size": 37, "root": hx(root)},
        {"name": "unknown_key_signature_ignored", "note": ok + _sigline("stranger.example", other, body),
         "want_step": None, "size": 37, "root": hx(root)},
        {"name": "empty_tree", "note": (b0 := f"{ORIGIN}\n0\n{base64.b64encode(sha(b'')).decode()}\n") + "\n"
         + _sigline(ORIGIN, log, b0), "want_step": None, "size": 0, "root": hx(sha(b""))},
        # Attacks and malformed notes.
        {"name": "oversized_note", "note": ok + "#" * 17000,
         "want_step": "4.1"},
        {"name": "control_character", "note": ok.replace("\n37\n", "\n37\r\n"), "want_step": "4.1"},
        {"name": "no_blank_line", "note": body + _sigline(ORIGIN, log, body), "want_step": "4.2"},
        {"name": "missing_final_newline", "note": ok[:-1], "want_step": "4.2"},
        {"name": "no_signatures", "note": body + "\n", "want_step": "4.3"},
        {"name": "ascii_dash_signature", "note": ok.replace(EM, "-- ", 1), "want_step": "4.3"},
        {"name": "bad_base64_signature", "note": ok[:-3] + "!!\n", "want_step": "4.3"},
        {"name": "too_many_signatures", "note": ok + _sigline("stranger.example", other, body) * 64,
         "want_step": "4.3"},
        {"name": "size_with_leading_zero", "note": (b := body.replace("\n37\n", "\n037\n")) + "\n"
         + _sigline(ORIGIN, log, b), "want_step": "4.4"},
        {"name": "short_root", "note": (b := f"{ORIGIN}\n37\n{base64.b64encode(root[:31]).decode()}\n") + "\n"
         + _sigline(ORIGIN, log, b), "want_step": "4.4"},
        {"name": "missing_root_line", "note": (b := f"{ORIGIN}\n37\n") + "\n" + _sigline(ORIGIN, log, b),
         "want_step": "4.4"},
        {"name": "wrong_origin", "note": (b := body.replace(ORIGIN, "other.example/log", 1)) + "\n"
         + _sigline(ORIGIN, log, b), "want_step": "4.5"},
        {"name": "checkpoint_origin_not_key_name", "expected_origin": None,
         "note": (b := body.replace(ORIGIN, "evil.example/log", 1)) + "\n" + _sigline(ORIGIN, log, b),
         "want_step": "4.5.1"},
        {"name": "untrusted_key", "note": body + "\n" + _sigline(ORIGIN, other, body), "want_step": "4.6"},
        {"name": "bad_signature", "note": (body.replace("\n37\n", "\n38\n")) + "\n" + _sigline(ORIGIN, log, body),
         "want_step": "4.6"},
        {"name": "missing_witness_cosignature", "note": ok, "witness_quorum": 1, "want_step": "4.7"},
    ]
    forked_root = mth([*big[:36], b"forked"])
    fb = f"{ORIGIN}\n37\n{base64.b64encode(forked_root).decode()}\n"
    return {
        "description": "Signed checkpoint notes (spec 04). Verify with trusted_keys, origin (a case's "
                       "expected_origin, if present, replaces it; null = none) and witnesses; "
                       "want_step = the spec 06 step that must refuse the note.",
        "log_vkey": _vkey(ORIGIN, log),
        "log_seed": hx(LOG_SEED),
        "witness_vkey": _vkey("witness.example/w1", wit),
        "witness_seed": hx(WITNESS_SEED),
        "origin": ORIGIN,
        "cases": cases,
        "forked_checkpoint": {"name": "forked_checkpoint", "note_a": ok, "note_b": fb + "\n" + _sigline(ORIGIN,
                                                                                                        log, fb),
                              "want_step": "4.8"},
    }


# --- C2SP tlog-cosignature cosignature/v1, by a second Ed25519 implementation -------------------
# The signature is made with the `cryptography` package (OpenSSL), not PyNaCl (libsodium) as the
# ledger does; key id, message and the 8-byte timestamp are assembled from the spec's text.

COSIGNER_NAME = "witness.example/w1"
COSIGNER_SEED = sha(b"CaseLedger test vector: cosignature/v1 witness key")
COSIGN_TIME = 1679315147  # the timestamp of the spec's own example message


def _cosigner_pub() -> bytes:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return Ed25519PrivateKey.from_private_bytes(COSIGNER_SEED).public_key().public_bytes(Encoding.Raw,
                                                                                        PublicFormat.Raw)


def _cosign_line(name: str, body: str, t: int, *, alg: int = 4, sig_t: int | None = None) -> str:
    """``— name base64(SHA-256(name ‖ 0x0A ‖ alg ‖ pub)[:4] ‖ uint64be(t) ‖ Ed25519(message))``;
    ``sig_t``: the time in the signed message, if it differs from the one carried (a forgery)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pub = _cosigner_pub()
    kid = sha(name.encode() + b"\n" + bytes([alg]) + pub)[:4]
    message = b"cosignature/v1\n" + b"time " + str(t if sig_t is None else sig_t).encode() + b"\n" + body.encode()
    sig = Ed25519PrivateKey.from_private_bytes(COSIGNER_SEED).sign(message)
    return f"{EM}{name} {base64.b64encode(kid + t.to_bytes(8, 'big') + sig).decode()}\n"


def build_cosignatures() -> dict[str, Any]:
    log = SigningKey(LOG_SEED)
    big = [i.to_bytes(4, "big") for i in range(37)]
    body = f"{ORIGIN}\n37\n{base64.b64encode(mth(big)).decode()}\n"
    note = body + "\n" + _sigline(ORIGIN, log, body)
    pub = _cosigner_pub()
    kid = sha(COSIGNER_NAME.encode() + b"\n\x04" + pub)[:4]
    good = _cosign_line(COSIGNER_NAME, body, COSIGN_TIME)
    blob = base64.b64decode(good.split(" ")[-1])
    plain = f"{EM}{COSIGNER_NAME} {base64.b64encode(kid + blob[12:]).decode()}\n"  # no timestamp: 4 + 64 bytes
    cases: list[dict[str, Any]] = [
        {"name": "cosigned", "note": note + good, "want_step": None, "timestamp": COSIGN_TIME},
        {"name": "cosigned_at_time_zero", "note": note + _cosign_line(COSIGNER_NAME, body, 0), "want_step": None,
         "timestamp": 0},
        {"name": "timestamp_changed_after_signing", "want_step": "4.7",
         "note": note + _cosign_line(COSIGNER_NAME, body, COSIGN_TIME + 1, sig_t=COSIGN_TIME)},
        {"name": "timestamp_above_2_63_minus_1", "want_step": "4.7",
         "note": note + _cosign_line(COSIGNER_NAME, body, 2**63)},
        {"name": "signature_without_timestamp", "note": note + plain, "want_step": "4.7"},
        {"name": "key_id_of_type_0x01_is_another_key", "want_step": "4.7",
         "note": note + _cosign_line(COSIGNER_NAME, body, COSIGN_TIME, alg=1)},
        {"name": "cosignature_of_another_body", "want_step": "4.7",
         "note": note + _cosign_line(COSIGNER_NAME, body.replace("\n37\n", "\n36\n"), COSIGN_TIME)},
    ]
    return {
        "description": "C2SP tlog-cosignature cosignature/v1 (Ed25519, key type 0x04) over the checkpoint of "
                       "checkpoint-notes.json; signatures by OpenSSL (python `cryptography`), key ids and "
                       "messages assembled from the spec's text. Verify each note with log_vkey and witness "
                       "cosigner_vkey at quorum 1; want_step = the spec 06 step that must refuse it.",
        "log_vkey": _vkey(ORIGIN, log),
        "origin": ORIGIN,
        "cosigner_name": COSIGNER_NAME,
        "cosigner_seed": hx(COSIGNER_SEED),
        "cosigner_public_key": hx(pub),
        "cosigner_key_id": hx(kid),
        "cosigner_vkey": f"{COSIGNER_NAME}+{kid.hex()}+{base64.b64encode(bytes([4]) + pub).decode()}",
        "signed_message": f"cosignature/v1\ntime {COSIGN_TIME}\n{body}",
        "cosignature_line": good,
        "cases": cases,
    }


FILES = {
    "merkle-leaves.json": build_merkle_leaves,
    "merkle-tree.json": build_merkle_tree,
    "merkle-proofs.json": build_merkle_proofs,
    "checkpoint-notes.json": build_checkpoints,
    "cosignatures.json": build_cosignatures,
}


def render(obj: dict[str, Any]) -> str:
    return json.dumps(obj, indent=1, ensure_ascii=False) + "\n"


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, build in FILES.items():
        (OUT / name).write_text(render(build()), encoding="utf-8")
        sys.stdout.write(f"wrote {OUT / name}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
