"""Domain-separated SHA-256 hashes and PAE (docs/spec/02-events.md §Hashes)."""

from __future__ import annotations

import hashlib
import struct
from typing import NewType

Digest = NewType("Digest", bytes)
KeyId = NewType("KeyId", bytes)

ENTRY_PREFIX = b"CaseLedger/v1/entry\x00"
GENESIS_PREFIX = b"CaseLedger/v1/genesis\x00"
KEY_ID_PREFIX = b"CaseLedger/v1/key\x00"
BLOB_PREFIX = b""  # evidence blobs are plain SHA-256 of their bytes


def sha256(data: bytes) -> Digest:
    """SHA-256 of ``data``."""
    return Digest(hashlib.sha256(data).digest())


def entry_hash(canonical_entry: bytes) -> Digest:
    """SHA-256(ENTRY_PREFIX ‖ canonical entry bytes)."""
    return Digest(hashlib.sha256(ENTRY_PREFIX + canonical_entry).digest())


def genesis_prev(case_id: str) -> Digest:
    """The ``prev`` of a case's first entry: SHA-256(GENESIS_PREFIX ‖ UTF-8 case id)."""
    return Digest(hashlib.sha256(GENESIS_PREFIX + case_id.encode("utf-8")).digest())


def key_id(public_key: bytes) -> KeyId:
    """Key id of an Ed25519 public key: SHA-256(KEY_ID_PREFIX ‖ 32-byte key)."""
    return KeyId(hashlib.sha256(KEY_ID_PREFIX + public_key).digest())


def pae(*parts: bytes) -> bytes:
    """Pre-authentication encoding: LE64(count) ‖ for each part LE64(len) ‖ part."""
    out = [struct.pack("<Q", len(parts))]
    for p in parts:
        out.append(struct.pack("<Q", len(p)))
        out.append(p)
    return b"".join(out)
