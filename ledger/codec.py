"""Domain events ↔ canonical entries. One of the two modules that touch both worlds.

eventsourcing's own mapper never defines the evidence bytes: the entry (ledger/chain.py) does.
Wire type names come from the ``TYPE`` class attribute of each event class, collected in a
registry; Python topics never reach the ledger.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.chain import Entry
from ledger.errors import EncodingError

ENVELOPE_ATTRS = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic", "actor"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_micros(ts: datetime) -> int:
    """Integer µs since the Unix epoch, UTC. Naive datetimes are refused."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        msg = "timestamps must be timezone-aware"
        raise EncodingError(msg, code="E_ENCODING_TYPE")
    return (ts - _EPOCH) // _US


def from_micros(us: int) -> datetime:
    """The UTC datetime of ``us`` microseconds since the epoch."""
    return _EPOCH + timedelta(microseconds=us)


def _tuples(x: Any) -> Any:
    """Arrays decode as tuples so that replayed events equal the originals (events use tuples)."""
    if isinstance(x, list):
        return tuple(_tuples(i) for i in x)
    if isinstance(x, dict):
        return {k: _tuples(v) for k, v in x.items()}
    return x


class EventCodec:
    """Maps registered event classes to entries and back."""

    def __init__(self, types: Mapping[str, type[Any]]) -> None:
        self._by_name: dict[str, type[Any]] = dict(types)
        self._by_cls: dict[type[Any], str] = {}
        self._fields: dict[type[Any], tuple[str, ...]] = {}
        for name, cls in self._by_name.items():
            if getattr(cls, "TYPE", None) != name:
                msg = f"{cls.__qualname__}.TYPE must equal its registry name {name!r}"
                raise ValueError(msg)
            self._by_cls[cls] = name
            names = tuple(f.name for f in dataclasses.fields(cls))
            if "actor" not in names:
                msg = f"{cls.__qualname__} has no actor field"
                raise ValueError(msg)
            self._fields[cls] = tuple(n for n in names if n not in ENVELOPE_ATTRS)

    @property
    def type_names(self) -> frozenset[str]:
        """Every registered wire type name."""
        return frozenset(self._by_name)

    def type_of(self, event: object) -> str:
        """The wire type name of ``event``; ``EncodingError`` if its class is not registered."""
        try:
            return self._by_cls[type(event)]
        except KeyError:
            msg = f"event class {type(event).__qualname__} has no registered wire type"
            raise EncodingError(msg, code="E_UNKNOWN_EVENT_TYPE") from None

    def to_entry(self, event: Any, *, key: bytes, prev: bytes) -> Entry:
        """The entry for ``event``, signed by ``key`` and linked to ``prev``."""
        cls = type(event)
        wire = self.type_of(event)
        body = {name: getattr(event, name) for name in self._fields[cls]}
        return Entry(
            case=str(event.originator_id), n=event.originator_version, type=wire,
            occurred_at=to_micros(event.timestamp), actor=event.actor, key=key, prev=prev, body=body,
        )

    def event_class(self, wire: str) -> type[Any]:
        """The event class of wire type ``wire``; ``EncodingError`` if unknown."""
        try:
            return self._by_name[wire]
        except KeyError:
            msg = f"unknown event type {wire!r}"
            raise EncodingError(msg, code="E_UNKNOWN_EVENT_TYPE") from None

    def to_event(self, entry: Entry) -> Any:
        """The domain event an entry records; ``EncodingError`` if its body has the wrong fields."""
        cls = self.event_class(entry.type)
        expected = set(self._fields[cls])
        if set(entry.body) != expected:
            msg = f"body of {entry.type} must have fields {sorted(expected)}, got {sorted(entry.body)}"
            raise EncodingError(msg, code="E_BODY_SCHEMA")
        kwargs: dict[str, Any] = {k: _tuples(v) for k, v in entry.body.items()}
        kwargs.update(
            originator_id=uuid.UUID(entry.case), originator_version=entry.n,
            timestamp=from_micros(entry.occurred_at), actor=entry.actor,
        )
        if "originator_topic" in {f.name for f in dataclasses.fields(cls)}:
            outer = cls.__qualname__.rsplit(".", 1)[0]
            kwargs["originator_topic"] = f"{cls.__module__}:{outer}"
        return cls(**kwargs)
