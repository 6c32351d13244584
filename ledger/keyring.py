"""The key registry as an event-sourced aggregate: one stream, signed like every other.

Rules on who may write it are checked by ``ledger.keys.KeyRing`` when the application appends;
this aggregate only records the facts.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from eventsourcing.domain import Aggregate

from ledger.keys import KEY_OPENED, KEY_REGISTERED, KEY_REGISTRY_ID, KEY_REVOKED, KEY_ROTATED


class KeyRegistry(Aggregate):
    """Registered keys: key id → registration body (plus revocation)."""

    @staticmethod
    def registry_id() -> uuid.UUID:
        """The key registry's fixed aggregate id."""
        return uuid.UUID(KEY_REGISTRY_ID)

    class Opened(Aggregate.Created):
        """Genesis entry: the root key registers itself."""
        TYPE: ClassVar[str] = KEY_OPENED
        actor: str
        key_id: bytes
        public_key: bytes
        principal: str
        role: str
        mode: str
        valid_from: int
        valid_until: int | None

    @classmethod
    def open(cls, *, actor: str, at: datetime, key: dict[str, Any]) -> KeyRegistry:
        """Open the registry with its root key (the genesis entry)."""
        return cls._create(cls.Opened, id=cls.registry_id(), timestamp=at, actor=actor, **key)

    def __init__(self, *, actor: str, key_id: bytes, public_key: bytes, principal: str, role: str,  # noqa: ARG002 - eventsourcing passes every event field to __init__
                 mode: str, valid_from: int, valid_until: int | None) -> None:
        self.keys: dict[bytes, dict[str, Any]] = {}
        self._put(key_id, public_key, principal, role, mode, valid_from, valid_until)

    def _put(self, key_id: bytes, public_key: bytes, principal: str, role: str, mode: str,
             valid_from: int, valid_until: int | None) -> None:
        self.keys[key_id] = {
            "public_key": public_key, "principal": principal, "role": role, "mode": mode,
            "valid_from": valid_from, "valid_until": valid_until, "revoked_at": None,
        }

    class Registered(Aggregate.Event):
        """A key is registered for a principal."""
        TYPE: ClassVar[str] = KEY_REGISTERED
        actor: str
        key_id: bytes
        public_key: bytes
        principal: str
        role: str
        mode: str
        valid_from: int
        valid_until: int | None

        def apply(self, aggregate: KeyRegistry) -> None:
            """Add the key to the registry state."""
            aggregate._put(self.key_id, self.public_key, self.principal, self.role, self.mode,
                           self.valid_from, self.valid_until)

    def register(self, *, actor: str, at: datetime, key: dict[str, Any]) -> None:
        """Register a key (``key`` is a ``public_key_body``)."""
        self.trigger_event(self.Registered, timestamp=at, actor=actor, **key)

    class Revoked(Aggregate.Event):
        """A key is revoked from ``revoked_at`` on."""
        TYPE: ClassVar[str] = KEY_REVOKED
        actor: str
        key_id: bytes
        revoked_at: int
        reason: str

        def apply(self, aggregate: KeyRegistry) -> None:
            """Mark the key revoked."""
            aggregate.keys[self.key_id]["revoked_at"] = self.revoked_at

    def revoke(self, *, actor: str, at: datetime, key_id: bytes, revoked_at: int, reason: str) -> None:
        """Revoke ``key_id`` from ``revoked_at`` (microseconds) on."""
        self.trigger_event(self.Revoked, timestamp=at, actor=actor, key_id=key_id,
                           revoked_at=revoked_at, reason=reason)

    class Rotated(Aggregate.Event):
        """A principal's key is replaced: the old one ends where the new one starts."""
        TYPE: ClassVar[str] = KEY_ROTATED
        actor: str
        old_key_id: bytes
        new: dict[str, Any]

        def apply(self, aggregate: KeyRegistry) -> None:
            """End the old key and add the new one."""
            aggregate.keys[self.old_key_id]["valid_until"] = self.new["valid_from"]
            n = self.new
            aggregate._put(n["key_id"], n["public_key"], n["principal"], n["role"], n["mode"],
                           n["valid_from"], n.get("valid_until"))

    def rotate(self, *, actor: str, at: datetime, old_key_id: bytes, new: dict[str, Any]) -> None:
        """Replace ``old_key_id`` by the key ``new`` (a ``public_key_body``)."""
        self.trigger_event(self.Rotated, timestamp=at, actor=actor, old_key_id=old_key_id, new=new)


KEY_EVENT_TYPES: dict[str, type[Aggregate.Event]] = {
    c.TYPE: c for c in (KeyRegistry.Opened, KeyRegistry.Registered, KeyRegistry.Revoked, KeyRegistry.Rotated)
}
