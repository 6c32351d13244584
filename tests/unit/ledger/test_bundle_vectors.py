"""Court-bundle vectors (docs/spec/vectors/bundle.json) and the verifier's refusal of bad input.

The sample bundle is built here, deterministically and without a database: a tiny key registry
(the root key opening it, then alice registered), one case of three entries by alice, and filler
leaves from other cases, all in an RFC 9162 log of 11 leaves with a checkpoint signed by the root
key. Each negative vector is the sample with one attack applied, named after the attack, with the
step at which a verifier must refuse it (spec 05 §Verification). Vectors are never deleted.

Regenerate with ``python -m tests.unit.ledger.test_bundle_vectors`` (from the project root).
"""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from ledger import bundle, encoding, merkle
from ledger.bundle_export import assemble, item, withheld_item
from ledger.chain import Entry, encode_entry
from ledger.checkpoint import sign_checkpoint, vkey
from ledger.errors import VerificationError
from ledger.hashing import entry_hash, genesis_prev, key_id
from ledger.keys import KEY_OPENED, KEY_REGISTERED, KEY_REGISTRY_ID, KEY_REVOKED
from ledger.limits import Limits
from ledger.signing import ENTRY_CONTEXT, sign

ROOT_DIR = Path(__file__).resolve().parents[3]
VECTORS = ROOT_DIR / "docs" / "spec" / "vectors" / "bundle.json"
SPEC = ROOT_DIR / "docs" / "spec" / "05-bundles.md"

ORIGIN = "caseledger.test/log"
ROOT = SigningKey(bytes([0x11]) * 32)
ALICE = SigningKey(bytes([0x12]) * 32)
MALLORY = SigningKey(bytes([0x13]) * 32)
STRANGER = SigningKey(bytes([0x14]) * 32)
CASE = "0b6f4c1e-2d3a-4b5c-8d9e-0f1a2b3c4d5e"
T0 = 1_772_413_200_000_000  # 2026-03-02T01:00:00Z in µs
MIN = 60_000_000
TRUST = [vkey(ORIGIN, bytes(ROOT.verify_key))]
PHOTO = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
AUDIO = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"


def _key_body(sk: SigningKey, principal: str, role: str) -> dict[str, Any]:
    pub = bytes(sk.verify_key)
    return {"key_id": key_id(pub), "public_key": pub, "principal": principal, "role": role, "mode": "custodial",
            "valid_from": T0, "valid_until": None}


def _chain(case: str, specs: list[tuple[str, str, SigningKey, int, dict[str, Any]]]) -> list[tuple[bytes, bytes]]:
    """Signed, chained (entry bytes, signature) for one stream."""
    out, prev = [], genesis_prev(case)
    for n, (etype, actor, sk, at, body) in enumerate(specs, start=1):
        data = encode_entry(Entry(case=case, n=n, type=etype, occurred_at=at, actor=actor,
                                  key=key_id(bytes(sk.verify_key)), prev=prev, body=body))
        prev = entry_hash(data)
        out.append((data, bytes(sign(sk, ENTRY_CONTEXT, prev))))
    return out


def build_sample(*, alice_revoked_at: int | None = None) -> dict[str, Any]:
    """The sample log, checkpoint and bundle (everything fixed, so the bytes never change).

    With ``alice_revoked_at`` the registry also revokes alice's key from that instant (a third
    registry entry, at leaf 2) and the leaves are recorded five minutes apart instead of one, so
    that entry 3 (leaf 9) is recorded after the revocation although it claims an earlier time.
    """
    registry = [
        (KEY_OPENED, "root", ROOT, T0, _key_body(ROOT, "root", "root")),
        (KEY_REGISTERED, "root", ROOT, T0, _key_body(ALICE, "alice", "officer")),
    ]
    if alice_revoked_at is not None:
        registry.append((KEY_REVOKED, "root", ROOT, T0, {"key_id": key_id(bytes(ALICE.verify_key)),
                                                         "revoked_at": alice_revoked_at, "reason": "device stolen"}))
    keys = _chain(KEY_REGISTRY_ID, registry)
    entries = _chain(CASE, [
        ("inspection.opened.v1", "alice", ALICE, T0 + 10 * MIN, {"title": "检查 2026-001", "enterprise": "E-1"}),
        ("evidence.captured.v1", "alice", ALICE, T0 + 20 * MIN,
         {"evidence_id": "ev-1", "media_type": "image/jpeg", "sha256": PHOTO, "size": 123456}),
        ("inspection.noted.v1", "alice", ALICE, T0 + 30 * MIN,
         {"items": [{"capture_hash": AUDIO, "kind": "audio"}], "text": "现场记录"}),
    ])
    # Global log: registry at 0-1, the case at 4, 6 and 9, other cases' leaves in between.
    layout = {0: ("k", 0), 1: ("k", 1), 4: ("e", 0), 6: ("e", 1), 9: ("e", 2)}
    if alice_revoked_at is not None:
        layout[2] = ("k", 2)
    step = MIN if alice_revoked_at is None else 5 * MIN
    size = 11
    leaves, placed = [], {}
    for idx in range(size):
        if idx in layout:
            kind, i = layout[idx]
            data, sig = (keys if kind == "k" else entries)[i]
            rec_at = T0 + idx * step + 5
            leaves.append(merkle.compute_leaf_hash(entry_hash(data), sig, rec_at, idx))
            placed[(kind, i)] = (idx, rec_at)
        else:
            leaves.append(merkle.leaf_hash(b"another case's leaf %d" % idx))
    fetch = merkle.memory_fetcher(leaves)
    root = merkle.root_of(leaves)
    ext = f"{bundle.KEYS_EXTENSION} {len(keys)} {base64.b64encode(entry_hash(keys[-1][0])).decode()}"
    note = sign_checkpoint(ORIGIN, size, root, ORIGIN, ROOT, extensions=[ext])

    def items(kind: str, stream: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
        out = []
        for i, (data, sig) in enumerate(stream):
            idx, rec_at = placed[(kind, i)]
            out.append(item(data, sig, idx, rec_at, merkle.inclusion_proof(idx, size, fetch)))
        return out

    data = assemble(CASE, note, items("e", entries), items("k", keys), signer=(ORIGIN, ROOT))
    return {"bundle": data, "size": size, "root": root, "leaves": leaves, "note": note, "keys": keys,
            "entries": entries}


# --- Attacks: each takes the decoded sample bundle and returns the bytes to verify ------------


def _enc(b: dict[str, Any]) -> bytes:
    return encoding.encode(b)


def _swap(b: dict[str, Any]) -> bytes:
    b["entries"][0], b["entries"][1] = b["entries"][1], b["entries"][0]
    return _enc(b)


def _flip_entry_byte(b: dict[str, Any]) -> bytes:
    rec = b["entries"][2]["record"]
    i = rec["entry"].index("现场记录".encode())
    rec["entry"] = rec["entry"][:i] + bytes([rec["entry"][i] ^ 0x01]) + rec["entry"][i + 1:]
    return _enc(b)


def _resign_by(b: dict[str, Any], key: SigningKey) -> bytes:
    body = b["checkpoint"].split("\n\n")[0] + "\n"
    b["checkpoint"] = sign_checkpoint(*_cp_fields(body), ORIGIN, key, extensions=body.split("\n")[3:-1])
    return _enc(b)


def _reorigin(b: dict[str, Any], origin: str) -> bytes:
    """The checkpoint re-signed by the trusted key (named ORIGIN) over a body naming ``origin``."""
    body = b["checkpoint"].split("\n\n")[0] + "\n"
    _, size, root = _cp_fields(body)
    b["checkpoint"] = sign_checkpoint(origin, size, root, ORIGIN, ROOT, extensions=body.split("\n")[3:-1])
    return _enc(b)


def _cp_fields(body: str) -> tuple[str, int, bytes]:
    origin, size, root = body.split("\n")[:3]
    return origin, int(size), base64.b64decode(root)


def _foreign_key_entry(b: dict[str, Any]) -> bytes:
    """Entry 3 re-made and signed by an unregistered key (chained correctly)."""
    sample = build_sample()
    data2 = sample["entries"][1][0]
    e3 = sample["entries"][2][0]
    m = encoding.decode(e3)
    m["key"] = key_id(bytes(MALLORY.verify_key))
    m["prev"] = entry_hash(data2)
    data = encoding.encode(m)
    b["entries"][2]["record"] = {"entry": data, "sig": bytes(sign(MALLORY, ENTRY_CONTEXT, entry_hash(data)))}
    return _enc(b)


def _set(path: str, value: Any) -> Any:
    def go(b: dict[str, Any]) -> bytes:
        *head, last = path.split("/")
        node: Any = b
        for p in head:
            node = node[int(p)] if p.isdigit() else node[p]
        node[int(last) if last.isdigit() else last] = value(node[int(last) if last.isdigit() else last])
        return _enc(b)
    return go


def _raw(f: Any) -> Any:
    return lambda b, raw: f(raw)


ATTACKS: list[tuple[str, str, Any, str]] = [
    # (name, description, attack(decoded, raw) -> bytes, expected failing step)
    ("truncated_bundle", "the last 100 bytes are cut off", _raw(lambda r: r[:-100]), "7.2"),
    ("trailing_garbage", "one byte appended after the map", _raw(lambda r: r + b"\x00"), "7.2"),
    ("not_a_map", "an array instead of a map", _raw(lambda r: encoding.encode([1, 2])), "7.2"),
    ("non_canonical_bundle", "the top-level map's keys are not sorted",
     _raw(lambda r: __import__("msgpack").packb(dict(reversed(list(encoding.decode(r, max_bytes=len(r)).items()))),
                                                use_bin_type=True)), "7.2"),
    ("unknown_version", "v is 2", lambda b, r: _set("v", lambda v: 2)(b), "7.2"),
    ("untrusted_checkpoint_key", "the checkpoint is signed by a key the verifier does not trust",
     lambda b, r: _resign_by(b, STRANGER), "7.3"),
    ("checkpoint_origin_not_key_name",
     "the checkpoint names the log evil.example/log but is signed by the trusted key named after the real log",
     lambda b, r: _reorigin(b, "evil.example/log"), "7.3"),
    ("malformed_note", "the blank line between checkpoint body and signatures is missing",
     lambda b, r: _set("checkpoint", lambda t: t.replace("\n\n", "\n"))(b), "7.3"),
    ("checkpoint_size_edited", "the checkpoint size is changed without re-signing",
     lambda b, r: _set("checkpoint", lambda t: t.replace("\n11\n", "\n12\n"))(b), "7.3"),
    ("missing_key_registry_entry", "registry entry 1 (the root key opening the registry) is left out",
     lambda b, r: _set("keys", lambda k: k[1:])(b), "7.4.2"),
    ("omitted_trailing_key_entry", "the last registry entry is left out (as if hiding a revocation)",
     lambda b, r: _set("keys", lambda k: k[:1])(b), "7.4.8"),
    ("reordered_entries", "case entries 1 and 2 are swapped", lambda b, r: _swap(b), "7.5.2"),
    ("dropped_first_entry", "the case's first entry is left out", lambda b, r: _set("entries", lambda e: e[1:])(b),
     "7.5.2"),
    ("entry_signed_by_unregistered_key", "entry 3 re-signed by a key the registry never registered",
     lambda b, r: _foreign_key_entry(b), "7.5.4"),
    ("flipped_byte_in_entry", "one byte of entry 3's body text is flipped", lambda b, r: _flip_entry_byte(b), "7.5.5"),
    ("index_ge_size", "entry 3's leaf index is set to the checkpoint size",
     lambda b, r: _set("entries/2/leaf/index", lambda i: 11)(b), "7.5.6"),
    ("index_moved", "entry 3's leaf index is changed to another index below the size",
     lambda b, r: _set("entries/2/leaf/index", lambda i: 10)(b), "7.5.7"),
    ("recorded_at_edited", "entry 2's recorded_at is moved by 1 µs",
     lambda b, r: _set("entries/1/leaf/recorded_at", lambda t: t + 1)(b), "7.5.7"),
    ("proof_too_long", "an extra hash is appended to entry 1's proof",
     lambda b, r: _set("entries/0/proof", lambda p: [*p, p[0]])(b), "7.5.7"),
    ("proof_too_short", "the last hash of entry 1's proof is removed",
     lambda b, r: _set("entries/0/proof", lambda p: p[:-1])(b), "7.5.7"),
    ("proof_hash_flipped", "one bit of a proof hash is flipped",
     lambda b, r: _set("entries/1/proof/0", lambda h: bytes([h[0] ^ 1]) + h[1:])(b), "7.5.7"),
    ("evidence_hash_replaced", "the photo's capture hash in the evidence list is replaced",
     lambda b, r: _set("evidence/0/hash", lambda h: "0" * 64)(b), "7.6"),
    ("evidence_item_omitted", "the audio capture hash is left out of the evidence list",
     lambda b, r: _set("evidence", lambda e: e[:1])(b), "7.6"),
    ("manifest_signature_forged", "the manifest signature is by a key the verifier does not trust",
     lambda b, r: _set("sig/sig", lambda s: bytes(STRANGER.sign(b"x").signature))(b), "7.7"),
]


def withheld_sample() -> bytes:
    """The sample bundle with case entry 2 withheld, re-assembled and signed like the original."""
    sample = build_sample()
    b = encoding.decode(sample["bundle"], max_bytes=len(sample["bundle"]))
    e2 = b["entries"][1]
    e2["record"] = withheld_item(e2["record"]["entry"], e2["record"]["sig"], e2["leaf"]["index"],
                                 e2["leaf"]["recorded_at"], e2["proof"])["record"]
    return assemble(CASE, b["checkpoint"], b["entries"], b["keys"], signer=(ORIGIN, ROOT))


def _withhold_key(b: dict[str, Any]) -> bytes:
    rec = b["keys"][1]["record"]
    b["keys"][1]["record"] = {"withheld": entry_hash(rec["entry"]), "sig": rec["sig"]}
    return _enc(b)


WITHHELD_ATTACKS: list[tuple[str, str, Any, str]] = [
    ("withheld_entry_hash_forged", "the withheld entry 2 carries another entry hash",
     _set("entries/1/record/withheld", lambda h: bytes([h[0] ^ 1]) + h[1:]), "7.5.9"),
    ("withheld_registry_entry", "a key-registry item is withheld (only case entries may be)", _withhold_key, "7.2"),
]


def generate() -> dict[str, Any]:
    sample = build_sample()
    good = sample["bundle"]
    vectors: list[dict[str, Any]] = [{
        "name": "valid_bundle", "description": "a 3-entry case with 2 key-registry entries in a log of 11 leaves",
        "bundle": good.hex(), "trust": TRUST, "expect": {"ok": True, "entries": 3, "evidence": [
            {"n": 2, "path": "body.sha256", "hash": PHOTO}, {"n": 3, "path": "body.items.0.capture_hash",
                                                             "hash": AUDIO}]},
    }]
    for name, desc, attack, step in ATTACKS:
        data = attack(encoding.decode(good, max_bytes=len(good)), good)
        vectors.append({"name": name, "description": desc, "bundle": data.hex(), "trust": TRUST,
                        "expect": {"ok": False, "step": step}})
    # The sample exported for a reader who may not see entry 2 (spec 05 §Withheld entries).
    withheld = withheld_sample()
    vectors.append({"name": "valid_bundle_with_withheld_entry",
                    "description": "the sample with case entry 2 withheld (hash, signature, leaf and proof only), "
                                   "as exported for a reader the visibility policy does not show it to",
                    "bundle": withheld.hex(), "trust": TRUST,
                    "expect": {"ok": True, "entries": 2, "evidence": [{"n": 3, "path": "body.items.0.capture_hash",
                                                                       "hash": AUDIO}]}})
    for name, desc, attack, step in WITHHELD_ATTACKS:
        data = attack(encoding.decode(withheld, max_bytes=len(withheld)))
        vectors.append({"name": name, "description": desc, "bundle": data.hex(), "trust": TRUST,
                        "expect": {"ok": False, "step": step}})
    # Not a mutation of the sample: a whole log in which the registry revokes alice's key at
    # T0 + 35 min and her third entry (claiming T0 + 30 min) was recorded at T0 + 45 min.
    revoked = build_sample(alice_revoked_at=T0 + 35 * MIN)["bundle"]
    vectors.append({"name": "entry_recorded_after_its_key_was_revoked",
                    "description": "the registry revokes alice's key at T0 + 35 min; her entry 3 claims T0 + 30 min "
                                   "but its leaf was recorded at T0 + 45 min (a back-dated entry of a revoked key)",
                    "bundle": revoked.hex(), "trust": TRUST, "expect": {"ok": False, "step": "7.5.8"}})
    return {
        "description": "Court bundles (docs/spec/05-bundles.md). Verify each 'bundle' (hex) with the 'trust' "
                       "verifier keys; a negative vector must fail at exactly 'expect.step'.",
        "origin": ORIGIN, "checkpoint_size": sample["size"], "checkpoint_root": sample["root"].hex(),
        "vectors": vectors,
    }


def _load() -> dict[str, Any]:
    return json.loads(VECTORS.read_text(encoding="utf-8"))


def test_committed_vectors_equal_what_the_generator_produces() -> None:
    assert _load() == generate(), "regenerate with python -m tests.unit.ledger.test_bundle_vectors"


@pytest.mark.parametrize("vector", _load()["vectors"] if VECTORS.exists() else [], ids=lambda v: v["name"])
def test_bundle_vector(vector: dict[str, Any]) -> None:
    report = bundle.verify_bundle(bytes.fromhex(vector["bundle"]), vector["trust"])
    want = vector["expect"]
    if want["ok"]:
        assert report.ok, report.text()
        assert report.entries == want["entries"]
        assert report.evidence == want["evidence"]
        carries_calendar = "calendar" in encoding.decode(bytes.fromhex(vector["bundle"]), max_bytes=2**26)
        assert all(status == "ok" or (step == "7.8" and status == "absent" and not carries_calendar)
                   for step, (status, _) in report.steps.items())
    else:
        assert report.failure is not None, f"{vector['name']} was accepted"
        assert report.failure.step == want["step"], report.text()
        top = ".".join(want["step"].split(".")[:2])
        assert report.steps[top][0] == "FAILED"
        later = [s for s in bundle.STEPS if float(s[2:]) > float(top[2:])]
        assert all(report.steps[s][0] == "skipped" for s in later)
        assert f"step {want['step']}" in report.text()
        with pytest.raises(VerificationError) as ei:
            bundle.load_verified_bundle(bytes.fromhex(vector["bundle"]), vector["trust"])
        assert ei.value.step == want["step"]
        assert ei.value.expected is not None or ei.value.actual is not None or want["step"] in {"7.2", "7.3"}


# --- Bad input beyond the vectors ---------------------------------------------------------------


def test_oversized_bundle_is_refused_at_step_7_1_before_decoding() -> None:
    data = build_sample()["bundle"]
    report = bundle.verify_bundle(data + b"\x00" * (64 * 1024 * 1024), TRUST)
    assert report.failure is not None
    assert (report.failure.step, report.failure.code) == ("7.1", "E_BUNDLE_SIZE")
    small = bundle.verify_bundle(data, TRUST, limits=Limits(max_bundle_bytes=len(data) - 1))
    assert small.failure is not None
    assert small.failure.step == "7.1"
    assert small.failure.actual == len(data)


def test_empty_bundle_is_refused_at_step_7_1() -> None:
    report = bundle.verify_bundle(b"", TRUST)
    assert report.failure is not None
    assert report.failure.step == "7.1"


def test_every_truncation_of_the_bundle_is_refused() -> None:
    data = build_sample()["bundle"]
    for cut in range(1, len(data), 97):
        report = bundle.verify_bundle(data[:cut], TRUST)
        assert report.failure is not None
        assert report.failure.step == "7.2", cut


def test_untrusted_checkpoint_names_the_key_it_wanted() -> None:
    report = bundle.verify_bundle(build_sample()["bundle"], [vkey(ORIGIN, bytes(STRANGER.verify_key))])
    assert report.failure is not None
    assert report.failure.step == "7.3"
    assert report.failure.code == "E_CHECKPOINT_UNTRUSTED"
    assert "4.6" in report.failure.message


def test_proof_length_failure_reports_expected_and_actual_lengths() -> None:
    b = encoding.decode(build_sample()["bundle"], max_bytes=10**6)
    b["entries"][0]["proof"].append(b"\x00" * 32)
    report = bundle.verify_bundle(encoding.encode(b), TRUST)
    assert report.failure is not None
    assert report.failure.step == "7.5.7"
    assert "3.4" in report.failure.message
    assert report.failure.actual == report.failure.expected + 1


def test_a_bundle_without_manifest_signature_verifies_and_says_so() -> None:
    b = encoding.decode(build_sample()["bundle"], max_bytes=10**6)
    del b["sig"]
    report = bundle.verify_bundle(encoding.encode(b), TRUST)
    assert report.ok, report.text()
    assert report.steps["7.7"][0] == "absent"


def test_a_checkpoint_without_registry_head_still_verifies_with_a_note() -> None:
    sample = build_sample()
    b = encoding.decode(sample["bundle"], max_bytes=10**6)
    del b["sig"]
    b["checkpoint"] = sign_checkpoint(ORIGIN, sample["size"], sample["root"], ORIGIN, ROOT)
    b["keys"] = b["keys"][:1]  # without the head line, a dropped trailing entry is not detectable ...
    report = bundle.verify_bundle(encoding.encode(b), TRUST)
    assert report.failure is not None  # ... but alice's key is then unknown at step 7.5.4
    assert report.failure.step == "7.5.4"
    assert any("key-registry head" in n for n in report.notes)


def test_the_verified_bundle_carries_the_entries_and_the_checkpoint() -> None:
    sample = build_sample()
    vb = bundle.load_verified_bundle(sample["bundle"], TRUST)
    assert vb.case == CASE
    assert [e.n for e in vb.entries] == [1, 2, 3]
    assert (vb.checkpoint.size, vb.checkpoint.root) == (sample["size"], sample["root"])
    assert [x["hash"] for x in vb.evidence] == [PHOTO, AUDIO]


def test_evidence_keys_are_found_at_any_depth_in_canonical_order() -> None:
    e = Entry(case=CASE, n=4, type="t", occurred_at=0, actor="a", key=b"k" * 32, prev=b"p" * 32,
              body={"z_sha256": "1", "a": [{"blob_sha256": b"\x02"}, {"sha256": 3}], "capture_hash": "4"})
    assert bundle.evidence_of([e]) == [
        {"n": 4, "path": "body.a.0.blob_sha256", "hash": b"\x02"},
        {"n": 4, "path": "body.capture_hash", "hash": "4"},
        {"n": 4, "path": "body.z_sha256", "hash": "1"},
    ]


def test_step_ids_in_the_code_match_the_spec() -> None:
    code = Path(bundle.__file__).read_text(encoding="utf-8")
    in_code: set[str] = set()
    for m in re.finditer(r"# Step (7\.\d+(?:\.\d+)?)(?: and (7\.\d+\.\d+))?:", code):
        in_code.update(x for x in m.groups() if x)
    spec = SPEC.read_text(encoding="utf-8")
    in_spec = set(re.findall(r"^(?:#+ Step |- \*\*Step )(7\.\d+(?:\.\d+)?)\b", spec, re.MULTILINE))
    assert in_code, "no step comments found"
    assert in_code <= in_spec, f"steps in code but not in the spec: {sorted(in_code - in_spec)}"
    leaves_in_spec = {s for s in in_spec if not any(t.startswith(s + ".") for t in in_spec)}
    assert leaves_in_spec <= in_code, f"steps in the spec but not in the code: {sorted(leaves_in_spec - in_code)}"
    attacked = {step for _, _, _, step in ATTACKS}
    assert attacked <= in_spec | set(bundle.STEPS)


def test_the_worked_example_in_the_spec_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", SPEC.read_text(encoding="utf-8"), re.DOTALL)
    assert blocks
    monkeypatch.chdir(ROOT_DIR)
    for block in blocks:
        exec(compile(block, str(SPEC), "exec"), {})


def write() -> None:
    VECTORS.write_text(json.dumps(generate(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {VECTORS}", file=sys.stderr)


if __name__ == "__main__":
    write()
