"""Entries, hashes, signatures and the chain, checked against docs/spec/vectors/entries.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from ledger.chain import ChainCursor, Entry, decode_entry, decode_record, encode_entry, encode_record
from ledger.errors import ChainBreakError, EncodingError
from ledger.hashing import entry_hash, genesis_prev, key_id, pae
from ledger.signing import ENTRY_CONTEXT, check_signature, sign

DOC = json.loads((Path(__file__).parents[3] / "docs/spec/vectors/entries.json").read_text())
VECS = DOC["vectors"]


def entry_of(v: dict[str, Any]) -> Entry:
    f = v["fields"]
    return Entry(case=f["case"], n=f["n"], type=f["type"], occurred_at=f["occurred_at"], actor=f["actor"],
                 key=bytes.fromhex(f["key"]), prev=bytes.fromhex(f["prev"]), body=f["body"], v=f["v"])


def test_genesis_prev_matches_the_vector() -> None:
    assert genesis_prev(DOC["genesis"]["case"]).hex() == DOC["genesis"]["prev"]


@pytest.mark.parametrize("v", VECS, ids=lambda v: v["name"])
def test_entry_bytes_hash_signature_and_record_match_the_vector(v: dict[str, Any]) -> None:
    sk = SigningKey(bytes.fromhex(v["signing_key_seed"]))
    assert bytes(sk.verify_key).hex() == v["public_key"]
    assert key_id(bytes(sk.verify_key)).hex() == v["key_id"]
    data = encode_entry(entry_of(v))
    assert data.hex() == v["entry_hex"]
    h = entry_hash(data)
    assert h.hex() == v["entry_hash"]
    assert pae(ENTRY_CONTEXT, h).hex() == v["signed_message_hex"]
    assert sign(sk, ENTRY_CONTEXT, h).hex() == v["signature"]
    assert encode_record(data, bytes.fromhex(v["signature"])).hex() == v["record_hex"]
    assert decode_entry(data) == entry_of(v)


def test_the_vector_chain_links_and_verifies() -> None:
    cur = ChainCursor(DOC["genesis"]["case"])
    for v in VECS:
        data, sig = decode_record(bytes.fromhex(v["record_hex"]))
        e = decode_entry(data)
        cur.advance(e, entry_hash(data))
        assert check_signature(bytes.fromhex(v["public_key"]), ENTRY_CONTEXT, entry_hash(data), sig)


def test_reordered_entries_break_the_chain() -> None:
    cur = ChainCursor(DOC["genesis"]["case"])
    first = decode_record(bytes.fromhex(VECS[0]["record_hex"]))[0]
    cur.advance(decode_entry(first), entry_hash(first))
    third = decode_record(bytes.fromhex(VECS[2]["record_hex"]))[0]
    with pytest.raises(ChainBreakError) as ei:
        cur.advance(decode_entry(third), entry_hash(third))
    assert ei.value.step == "1.5"


def test_signature_under_another_context_does_not_verify() -> None:
    v = VECS[0]
    sk = SigningKey(bytes.fromhex(v["signing_key_seed"]))
    h = bytes.fromhex(v["entry_hash"])
    assert not check_signature(bytes(sk.verify_key), ENTRY_CONTEXT, h, sign(sk, b"CaseLedger/v1/bundle-signature", h))


@pytest.mark.parametrize("mutate", [
    lambda m: m.pop("actor"),
    lambda m: m.__setitem__("extra", 1),
    lambda m: m.__setitem__("v", 2),
    lambda m: m.__setitem__("n", 0),
    lambda m: m.__setitem__("key", b"short"),
    lambda m: m.__setitem__("body", []),
], ids=["missing_field", "extra_field", "unknown_version", "n_zero", "short_key", "body_not_map"])
def test_malformed_envelopes_are_refused(mutate: Any) -> None:
    from ledger.encoding import encode

    m = entry_of(VECS[0]).to_map()
    mutate(m)
    with pytest.raises(EncodingError) as ei:
        decode_entry(encode(m))
    assert ei.value.code == "E_ENTRY_SCHEMA"


def test_record_layout_round_trips_and_refuses_other_shapes() -> None:
    from ledger.encoding import encode

    for size in (10, 300, 70000):
        entry = bytes(range(256)) * (size // 256) + bytes(size % 256)
        rec = encode_record(entry, b"\x07" * 64)
        assert rec == encode({"entry": entry, "sig": b"\x07" * 64})
        if size <= 65536 + 128:
            assert decode_record(rec) == (entry, b"\x07" * 64)
    good = encode_record(b"abc", b"\x01" * 64)
    bad_cases = {
        "trailing": good + b"\x00",
        "short_sig": encode({"entry": b"abc", "sig": b"\x01" * 63}),
        "extra_key": encode({"entry": b"abc", "sig": b"\x01" * 64, "x": 1}),
        "bin16_for_short": b"\x82\xa5entry\xc5\x00\x03abc" + good[-(5 + 64):],
        "truncated": good[:-1],
        "not_a_map": encode([b"abc", b"\x01" * 64]),
    }
    for name, data in bad_cases.items():
        with pytest.raises(EncodingError):
            decode_record(data)
        assert name


@given(entry=st.binary(max_size=70_000), sig=st.binary(min_size=64, max_size=64))
@settings(max_examples=60, deadline=None)
def test_record_written_by_layout_is_the_canonical_map_and_reads_back(entry: bytes, sig: bytes) -> None:
    from ledger import encoding

    rec = encode_record(entry, sig)
    assert rec == encoding.encode({"entry": entry, "sig": sig})
    assert decode_record(rec) == (entry, sig)


@pytest.mark.parametrize("n", [0, 63, 65])
def test_record_refuses_a_signature_that_is_not_64_bytes(n: int) -> None:
    with pytest.raises(EncodingError) as e:
        encode_record(b"x", b"s" * n)
    assert e.value.code == "E_RECORD_SCHEMA"
