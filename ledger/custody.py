"""Custodial keys, encrypted at rest (architecture §4).

Private keys are sealed with AES-256-GCM under a key derived from the master secret with scrypt
(salt per vault, stored beside the keys). The associated data binds each ciphertext to its key
id and principal, so rows cannot be swapped between principals.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from nacl.signing import SigningKey
from sqlalchemy import BigInteger, Column, Connection, Engine, LargeBinary, MetaData, String, Table, select

from ledger.errors import KeyRegistryError, UsageError
from ledger.hashing import KeyId, key_id
from ledger.signing import ENTRY_CONTEXT, Signature, sign

_MIN_SECRET = 16


def vault_tables(metadata: MetaData) -> tuple[Table, Table]:
    """The sealed-key table and the vault-salt table, defined on ``metadata``."""
    keys = Table(
        "custodial_keys", metadata,
        Column("key_id", LargeBinary(32), primary_key=True),
        Column("principal", String(128), nullable=False, index=True),
        Column("nonce", LargeBinary(12), nullable=False),
        Column("ciphertext", LargeBinary, nullable=False),
        Column("created_at", BigInteger, nullable=False),
    )
    meta = Table(
        "custodial_vault", metadata,
        Column("name", String(32), primary_key=True),
        Column("value", LargeBinary, nullable=False),
    )
    return keys, meta


class KeyVault:
    """Stores and uses custodial signing keys; is itself a ``Signer``."""

    untrusted = False

    def __init__(self, engine: Engine, metadata: MetaData, master_secret: bytes) -> None:
        if len(master_secret) < _MIN_SECRET:
            msg = f"the custodial master secret must be at least {_MIN_SECRET} bytes"
            raise UsageError(msg)
        self.engine = engine
        self.keys, self.meta = vault_tables(metadata)
        self._secret = master_secret
        self._aead: AESGCM | None = None
        self._cache: dict[bytes, SigningKey] = {}
        self._current: dict[str, KeyId] = {}

    def _cipher(self, conn: Connection) -> AESGCM:
        if self._aead is None:
            salt = conn.execute(select(self.meta.c.value).where(self.meta.c.name == "salt")).scalar()
            if salt is None:
                salt = os.urandom(16)
                conn.execute(self.meta.insert().values(name="salt", value=salt))
            kek = Scrypt(salt=salt, length=32, n=2**14, r=8, p=1).derive(self._secret)
            self._aead = AESGCM(kek)
        return self._aead

    def store(self, principal: str, sk: SigningKey, created_at: int) -> KeyId:
        """Seal and store ``sk`` as ``principal``'s current custodial key."""
        kid = key_id(bytes(sk.verify_key))
        nonce = os.urandom(12)
        with self.engine.begin() as conn:
            ct = self._cipher(conn).encrypt(nonce, bytes(sk), kid + principal.encode())
            conn.execute(self.keys.insert().values(
                key_id=kid, principal=principal, nonce=nonce, ciphertext=ct, created_at=created_at))
        self._cache[kid] = sk
        self._current[principal] = kid
        return kid

    def key_for(self, actor: str) -> KeyId:
        """The id of ``actor``'s current custodial key."""
        kid = self._current.get(actor)
        if kid is None:
            with self.engine.connect() as conn:
                kid = conn.execute(
                    select(self.keys.c.key_id).where(self.keys.c.principal == actor)
                    .order_by(self.keys.c.created_at.desc()).limit(1),
                ).scalar()
            if kid is None:
                msg = f"no custodial key for {actor}"
                raise KeyRegistryError(msg, code="E_KEY_UNKNOWN")
            self._current[actor] = KeyId(kid)
        return KeyId(kid)

    def _load(self, kid: bytes) -> SigningKey:
        sk = self._cache.get(kid)
        if sk is not None:
            return sk
        with self.engine.begin() as conn:
            row = conn.execute(select(self.keys).where(self.keys.c.key_id == kid)).first()
            if row is None:
                msg = f"custodial key {kid.hex()[:16]}… not found"
                raise KeyRegistryError(msg, code="E_KEY_UNKNOWN")
            try:
                seed = self._cipher(conn).decrypt(row.nonce, row.ciphertext, kid + row.principal.encode())
            except InvalidTag:
                msg = "custodial key cannot be unsealed (wrong master secret or tampered row)"
                raise KeyRegistryError(msg, code="E_KEY_SEALED") from None
        sk = SigningKey(seed)
        self._cache[kid] = sk
        return sk

    def sign(self, kid: KeyId, digest: bytes) -> Signature:
        """Sign an entry hash with the custodial key ``kid``."""
        return sign(self._load(kid), ENTRY_CONTEXT, digest)

    def signing_key(self, principal: str) -> SigningKey:
        """The principal's current private key (used for the ledger's checkpoint signatures)."""
        return self._load(self.key_for(principal))
