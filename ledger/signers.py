"""Who signs an entry: the principal's own device (client-signed) or the server (custodial).

Both modes produce the same entry bytes; only where the private key lives differs
(architecture §4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from nacl.signing import SigningKey

from ledger.chain import decode_entry
from ledger.errors import KeyRegistryError, SignatureError
from ledger.hashing import KeyId, entry_hash, key_id
from ledger.signing import ENTRY_CONTEXT, Signature, sign


class Signer(Protocol):
    """Chooses the key for an actor and signs entry hashes with it."""

    #: True when signatures come from outside and must be checked before appending.
    untrusted: bool

    def key_for(self, actor: str) -> KeyId:
        """The id of the key that signs for ``actor``."""

    def sign(self, kid: KeyId, digest: bytes) -> Signature:
        """Sign an entry hash with key ``kid``."""


class LocalSigner:
    """Holds private keys in memory: demos, tests, and the ledger's own root key."""

    untrusted = False

    def __init__(self, keys: Mapping[str, SigningKey] | None = None) -> None:
        self._by_actor: dict[str, SigningKey] = {}
        self._by_kid: dict[bytes, SigningKey] = {}
        for actor, sk in (keys or {}).items():
            self.add(actor, sk)

    def add(self, actor: str, sk: SigningKey) -> KeyId:
        """Hold ``sk`` as ``actor``'s key; returns its key id."""
        kid = key_id(bytes(sk.verify_key))
        self._by_actor[actor] = sk
        self._by_kid[kid] = sk
        return kid

    def key_for(self, actor: str) -> KeyId:
        """The id of ``actor``'s key; ``KeyRegistryError`` if none is held."""
        try:
            return key_id(bytes(self._by_actor[actor].verify_key))
        except KeyError:
            msg = f"no signing key held for {actor}"
            raise KeyRegistryError(msg, code="E_KEY_UNKNOWN") from None

    def sign(self, kid: KeyId, digest: bytes) -> Signature:
        """Sign an entry hash with key ``kid``."""
        return sign(self._by_kid[kid], ENTRY_CONTEXT, digest)


class ClientSignatures:
    """Client-signed mode: the device sends the entries it signed, as canonical bytes, with signatures.

    The server re-runs the command and signs nothing itself: each entry it produces must be
    byte-identical to one the client signed, and the application checks every signature against
    the key registry before appending. Non-canonical or malformed client bytes are refused here.
    """

    untrusted = True

    def __init__(self, actor: str, kid: bytes, signed: Sequence[tuple[bytes, bytes]]) -> None:
        self.actor, self.kid = actor, KeyId(kid)
        self.signatures: dict[bytes, bytes] = {}
        for data, sig in signed:
            entry = decode_entry(data)  # raises EncodingError on non-canonical bytes
            if entry.key != kid or entry.actor != actor:
                msg = "a client-signed entry names another key or actor"
                raise KeyRegistryError(msg, code="E_KEY_WRONG_ACTOR")
            self.signatures[entry_hash(data)] = sig

    def key_for(self, actor: str) -> KeyId:
        """The client's key id; ``KeyRegistryError`` if ``actor`` is not the client."""
        if actor != self.actor:
            msg = f"client signature is for {self.actor}, not {actor}"
            raise KeyRegistryError(msg, code="E_KEY_WRONG_ACTOR")
        return self.kid

    def sign(self, kid: KeyId, digest: bytes) -> Signature:  # noqa: ARG002 - the Signer protocol's signature
        """The client's signature for ``digest``; ``SignatureError`` (step 2.3) if it sent none."""
        try:
            return Signature(self.signatures[digest])
        except KeyError:
            raise SignatureError(
                "2.3", "the client did not sign the entry this command produces (stale head?)",
                expected=digest.hex(), actual=None,
            ) from None
