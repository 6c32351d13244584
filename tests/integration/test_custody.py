"""Custodial keys are sealed at rest and usable only with the master secret."""

from __future__ import annotations

import pytest
from nacl.signing import SigningKey
from sqlalchemy import MetaData, create_engine, select, update

from api.settings import sqlalchemy_url
from ledger.custody import KeyVault
from ledger.errors import KeyRegistryError, UsageError
from ledger.hashing import key_id
from ledger.signing import ENTRY_CONTEXT, check_signature

SECRET = b"correct horse battery staple"


def vault(url: str, secret: bytes = SECRET) -> KeyVault:
    engine = create_engine(sqlalchemy_url(url))
    md = MetaData()
    v = KeyVault(engine, md, secret)
    md.create_all(engine)
    return v


def test_a_stored_key_signs_for_its_principal_after_a_restart(db_url: str) -> None:
    sk = SigningKey(bytes([5]) * 32)
    kid = vault(db_url).store("p-lin", sk, 1)
    again = vault(db_url)
    assert again.key_for("p-lin") == kid == key_id(bytes(sk.verify_key))
    sig = again.sign(kid, b"\x01" * 32)
    assert check_signature(bytes(sk.verify_key), ENTRY_CONTEXT, b"\x01" * 32, sig)


def test_the_private_key_is_not_stored_in_clear(db_url: str) -> None:
    sk = SigningKey(bytes([6]) * 32)
    v = vault(db_url)
    v.store("p-chen", sk, 1)
    with v.engine.connect() as c:
        (ct,) = c.execute(select(v.keys.c.ciphertext)).one()
    assert bytes(sk) not in bytes(ct)


def test_a_wrong_master_secret_cannot_unseal(db_url: str) -> None:
    kid = vault(db_url).store("p-wang", SigningKey(bytes([7]) * 32), 1)
    with pytest.raises(KeyRegistryError) as ei:
        vault(db_url, b"another secret of enough length").sign(kid, b"\x00" * 32)
    assert ei.value.code == "E_KEY_SEALED"


def test_a_row_moved_to_another_principal_cannot_unseal(db_url: str) -> None:
    v = vault(db_url)
    kid = v.store("p-zhao", SigningKey(bytes([8]) * 32), 1)
    with v.engine.begin() as c:
        c.execute(update(v.keys).where(v.keys.c.key_id == kid).values(principal="mallory"))
    with pytest.raises(KeyRegistryError) as ei:
        vault(db_url).sign(kid, b"\x00" * 32)
    assert ei.value.code == "E_KEY_SEALED"


def test_unknown_principals_and_short_secrets_are_refused(db_url: str) -> None:
    with pytest.raises(KeyRegistryError) as ei:
        vault(db_url).key_for("nobody")
    assert ei.value.code == "E_KEY_UNKNOWN"
    with pytest.raises(UsageError):
        vault(db_url, b"short")
