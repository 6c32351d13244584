"""Key registry state rebuilt from key-registry entries (docs/spec/02-events.md §Key registry).

Pure: a verifier feeds it the decoded entries of the key-registry stream, in order, and then
asks whether a key may sign for an actor at an instant.

The key-registry stream has the fixed id ``KEY_REGISTRY_ID``. Its first entry
(``key.registry_opened.v1``) registers the root key and is signed by that key itself; every later
registry entry must be signed by a root key that is valid at the entry's ``occurred_at``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

from ledger.errors import KeyRegistryError
from ledger.hashing import key_id

KEY_REGISTRY_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "caseledger:key-registry"))
#: The calendar register's stream id (``domain.calendar_year.CalendarRegister.id_for()``; a test keeps them equal).
CALENDAR_REGISTER_ID = "6bc2411e-a375-58b2-af7c-c8f21d4315b7"
KEY_OPENED = "key.registry_opened.v1"
KEY_REGISTERED = "key.registered.v1"
KEY_REVOKED = "key.revoked.v1"
KEY_ROTATED = "key.rotated.v1"
KEY_TYPES = frozenset({KEY_OPENED, KEY_REGISTERED, KEY_REVOKED, KEY_ROTATED})
ROOT_ROLE = "root"
MODES = frozenset({"custodial", "client"})


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One registered key: who holds it, in which role, and when it is valid."""
    key_id: bytes
    public_key: bytes
    principal: str
    role: str
    mode: str
    valid_from: int
    valid_until: int | None = None
    revoked_at: int | None = None

    @property
    def end(self) -> int:
        """First instant the key is no longer valid: the earlier of ``valid_until`` and ``revoked_at``."""
        return min(x for x in (self.valid_until, self.revoked_at, 2**64) if x is not None)

    def valid_at(self, t: int) -> bool:
        """True if the key is valid at ``t`` (microseconds): from ``valid_from`` up to ``end``."""
        return self.valid_from <= t < self.end


def _record_from_body(b: dict[str, Any]) -> KeyRecord:
    try:
        rec = KeyRecord(
            key_id=b["key_id"], public_key=b["public_key"], principal=b["principal"], role=b["role"],
            mode=b["mode"], valid_from=b["valid_from"], valid_until=b.get("valid_until"),
        )
    except (KeyError, TypeError) as e:
        msg = f"malformed key registration: {e}"
        raise KeyRegistryError(msg, code="E_KEY_MALFORMED") from None
    if not (isinstance(rec.public_key, bytes) and len(rec.public_key) == 32) or key_id(rec.public_key) != rec.key_id:  # noqa: PLR2004
        msg = "key_id does not match the public key"
        raise KeyRegistryError(msg, code="E_KEY_MALFORMED")
    if rec.mode not in MODES or not isinstance(rec.valid_from, int):
        msg = f"bad mode or validity in key registration for {rec.principal}"
        raise KeyRegistryError(msg, code="E_KEY_MALFORMED")
    return rec


class KeyRing:
    """Keys known to the ledger, with their validity windows."""

    def __init__(self) -> None:
        self._keys: dict[bytes, KeyRecord] = {}
        self.version = 0  # number of registry entries applied

    def __len__(self) -> int:
        return len(self._keys)

    def get(self, kid: bytes) -> KeyRecord | None:
        """The record of ``kid``, or None."""
        return self._keys.get(kid)

    def records(self) -> list[KeyRecord]:
        """Every key record, in registration order."""
        return list(self._keys.values())

    def check(self, kid: bytes, actor: str, at: int) -> KeyRecord:
        """Return the key record if ``kid`` may sign for ``actor`` at ``at``; raise otherwise."""
        rec = self._keys.get(kid)
        if rec is None:
            msg = f"key {kid.hex()[:16]}… is not registered"
            raise KeyRegistryError(msg, code="E_KEY_UNKNOWN")
        if rec.revoked_at is not None and at >= rec.revoked_at:
            msg = f"key {kid.hex()[:16]}… was revoked at {rec.revoked_at}"
            raise KeyRegistryError(msg, code="E_KEY_REVOKED")
        if not rec.valid_at(at):
            msg = f"key {kid.hex()[:16]}… is not valid at {at}"
            raise KeyRegistryError(msg, code="E_KEY_NOT_VALID")
        if rec.principal != actor:
            msg = f"key {kid.hex()[:16]}… belongs to {rec.principal}, not {actor}"
            raise KeyRegistryError(msg, code="E_KEY_WRONG_ACTOR")
        return rec

    def authorise_registry_entry(self, n: int, kid: bytes, actor: str, at: int, etype: str, body: dict[str,
                                                                                                       Any]) -> None:
        """Check who may write registry entry ``n`` (spec 02 §Key registry)."""
        if etype not in KEY_TYPES:
            msg = f"{etype} is not a key-registry entry type"
            raise KeyRegistryError(msg, code="E_KEY_MALFORMED")
        if (n == 1) != (etype == KEY_OPENED):
            msg = "the registry opens with exactly one key.registry_opened.v1 entry, at n = 1"
            raise KeyRegistryError(msg, code="E_KEY_GENESIS")
        if n == 1:
            rec = _record_from_body(body)
            if rec.role != ROOT_ROLE or rec.key_id != kid or rec.principal != actor:
                msg = "the first registry entry must be the root key registering itself"
                raise KeyRegistryError(msg, code="E_KEY_GENESIS")
            return
        signer = self.check(kid, actor, at)
        if signer.role != ROOT_ROLE:
            msg = f"key of {actor} (role {signer.role}) may not change the key registry"
            raise KeyRegistryError(msg, code="E_KEY_NOT_AUTHORISED")

    def apply(self, etype: str, body: dict[str, Any]) -> None:
        """Apply one (already authorised) registry entry."""
        if etype in (KEY_OPENED, KEY_REGISTERED):
            rec = _record_from_body(body)
            if rec.key_id in self._keys:
                msg = "key is already registered"
                raise KeyRegistryError(msg, code="E_KEY_DUPLICATE")
            self._keys[rec.key_id] = rec
        elif etype == KEY_REVOKED:
            old = self._need(body.get("key_id"))
            self._keys[old.key_id] = replace(old, revoked_at=int(body["revoked_at"]))
        elif etype == KEY_ROTATED:
            old = self._need(body.get("old_key_id"))
            new = _record_from_body(body["new"])
            if new.key_id in self._keys:
                msg = "rotated-to key is already registered"
                raise KeyRegistryError(msg, code="E_KEY_DUPLICATE")
            self._keys[old.key_id] = replace(old, valid_until=new.valid_from)
            self._keys[new.key_id] = new
        else:
            msg = f"unknown key-registry entry type {etype}"
            raise KeyRegistryError(msg, code="E_KEY_MALFORMED")
        self.version += 1

    def _need(self, kid: object) -> KeyRecord:
        rec = self._keys.get(kid) if isinstance(kid, bytes) else None
        if rec is None:
            msg = "key-registry entry refers to an unknown key"
            raise KeyRegistryError(msg, code="E_KEY_UNKNOWN")
        return rec
