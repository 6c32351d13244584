"""Ed25519 signatures with per-kind contexts (docs/spec/02-events.md §Signatures).

The message signed for an entry is ``PAE(ENTRY_CONTEXT, entry_hash)``; a bundle's manifest is
signed over ``PAE(BUNDLE_CONTEXT, sha256(manifest))``. Checkpoints use the C2SP signed-note
format instead (ledger/checkpoint.py).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NewType

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from ledger.hashing import KeyId, key_id, pae

Signature = NewType("Signature", bytes)

ENTRY_CONTEXT = b"CaseLedger/v1/entry-signature"
BUNDLE_CONTEXT = b"CaseLedger/v1/bundle-signature"


def signed_message(context: bytes, digest: bytes) -> bytes:
    """The bytes an Ed25519 signature covers: PAE(context, digest)."""
    return pae(context, digest)


def sign(signing_key: SigningKey, context: bytes, digest: bytes) -> Signature:
    """Sign PAE(context, digest) with ``signing_key``."""
    return Signature(signing_key.sign(signed_message(context, digest)).signature)


@lru_cache(maxsize=4096)
def verify_key_for(public_key: bytes) -> VerifyKey:
    """The (cached) nacl verify key for a raw public key."""
    return VerifyKey(public_key)


def check_signature(public_key: bytes, context: bytes, digest: bytes, signature: bytes) -> bool:
    """True if ``signature`` is a valid Ed25519 signature over PAE(context, digest)."""
    if len(public_key) != 32 or len(signature) != 64:  # noqa: PLR2004 - Ed25519 sizes
        return False
    try:
        verify_key_for(bytes(public_key)).verify(signed_message(context, digest), bytes(signature))
    except (BadSignatureError, ValueError):
        return False
    return True


def public_key_id(signing_key: SigningKey) -> KeyId:
    """The key id of the public half of ``signing_key``."""
    return key_id(bytes(signing_key.verify_key))
