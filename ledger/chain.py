"""Entries, stored records and the per-case hash chain (docs/spec/02-events.md, 03-chain-and-log.md).

An *entry* is the canonical msgpack map an actor signs. A *record* is what the store keeps for
it: ``{"entry": bin, "sig": bin}``. The ledger's own attestations (``recorded_at``, the global
index) live in the Merkle leaf, outside the signed bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ledger import encoding
from ledger.errors import ChainBreakError, EncodingError
from ledger.hashing import Digest, entry_hash, genesis_prev
from ledger.limits import DEFAULT_LIMITS, Limits

FORMAT_VERSION = 1
ENTRY_FIELDS = frozenset({"v", "case", "n", "type", "occurred_at", "actor", "key", "prev", "body"})
RECORD_FIELDS = frozenset({"entry", "sig"})
_FIELDS_MSG = "set must be exactly " + ",".join(sorted(ENTRY_FIELDS))
_DIGEST_LEN = 32
_SIG_LEN = 64


@dataclass(frozen=True, slots=True)
class Entry:
    """One signed fact. Field meanings: docs/spec/02-events.md §Envelope."""

    case: str
    n: int
    type: str
    occurred_at: int
    actor: str
    key: bytes
    prev: bytes
    body: dict[str, Any] = field(default_factory=dict)
    v: int = FORMAT_VERSION

    def to_map(self) -> dict[str, Any]:
        """The entry as the map that is canonically encoded and signed."""
        return {
            "v": self.v,
            "case": self.case,
            "n": self.n,
            "type": self.type,
            "occurred_at": self.occurred_at,
            "actor": self.actor,
            "key": self.key,
            "prev": self.prev,
            "body": self.body,
        }


def encode_entry(entry: Entry, *, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """Canonical bytes of ``entry``; refuses an oversized body or entry."""
    data = encoding.encode(entry.to_map(), limits=limits)
    if len(data) > limits.max_body_bytes:  # only then can the body alone be over its limit
        body_len = len(encoding.encode(entry.body, limits=limits))
        if body_len > limits.max_body_bytes:
            msg = f"body of {body_len} bytes exceeds the limit of {limits.max_body_bytes}"
            raise EncodingError(msg, code="E_BODY_TOO_LARGE")
    if len(data) > limits.max_entry_bytes:
        msg = f"entry of {len(data)} bytes exceeds the limit of {limits.max_entry_bytes}"
        raise EncodingError(msg, code="E_ENTRY_TOO_LARGE")
    return data


def _expect(cond: bool, what: str) -> None:  # noqa: FBT001
    if not cond:
        msg = f"entry field {what}"
        raise EncodingError(msg, code="E_ENTRY_SCHEMA")


def entry_map(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Parse canonical entry bytes and check the envelope schema (spec 02 §Envelope); the map.

    The common case is checked in one expression; only a failing entry goes through the
    field-by-field checks that name what is wrong.
    """
    m: dict[str, Any] = encoding.decode(data, limits=limits)
    if not (type(m) is dict and m.keys() == ENTRY_FIELDS and m["v"] == FORMAT_VERSION
            and type(m["case"]) is str and 0 < len(m["case"]) <= 128  # noqa: PLR2004
            and type(m["n"]) is int and m["n"] >= 1
            and type(m["type"]) is str and 0 < len(m["type"]) <= 128  # noqa: PLR2004
            and type(m["occurred_at"]) is int and m["occurred_at"] >= 0
            and type(m["actor"]) is str and len(m["actor"]) > 0
            and type(m["key"]) is bytes and len(m["key"]) == _DIGEST_LEN
            and type(m["prev"]) is bytes and len(m["prev"]) == _DIGEST_LEN
            and type(m["body"]) is dict):
        _explain_schema(m)
    return m


def _explain_schema(m: Any) -> None:
    """Raise the error naming the first envelope field that is wrong."""
    _expect(isinstance(m, dict) and m.keys() == ENTRY_FIELDS, _FIELDS_MSG)
    _expect(m["v"] == FORMAT_VERSION, f"v must be {FORMAT_VERSION}")
    _expect(isinstance(m["case"], str) and 0 < len(m["case"]) <= 128, "case must be a non-empty string")  # noqa: PLR2004
    _expect(type(m["n"]) is int and m["n"] >= 1, "n must be an integer >= 1")
    _expect(isinstance(m["type"], str) and 0 < len(m["type"]) <= 128, "type must be a non-empty string")  # noqa: PLR2004
    _expect(type(m["occurred_at"]) is int and m["occurred_at"] >= 0, "occurred_at must be integer µs")
    _expect(isinstance(m["actor"], str) and len(m["actor"]) > 0, "actor must be a non-empty string")
    _expect(isinstance(m["key"], bytes) and len(m["key"]) == _DIGEST_LEN, "key must be 32 bytes")
    _expect(isinstance(m["prev"], bytes) and len(m["prev"]) == _DIGEST_LEN, "prev must be 32 bytes")
    _expect(isinstance(m["body"], dict), "body must be a map")


def decode_entry(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> Entry:
    """Parse canonical entry bytes and check the envelope schema (spec 02 §Envelope)."""
    m = entry_map(data, limits=limits)
    return Entry(
        case=m["case"], n=m["n"], type=m["type"], occurred_at=m["occurred_at"], actor=m["actor"],
        key=m["key"], prev=m["prev"], body=m["body"], v=m["v"],
    )


def encode_record(entry_bytes: bytes, signature: bytes) -> bytes:
    """The canonical record ``{"entry": bin, "sig": bin}``, written by layout (see decode_record)."""
    n = len(entry_bytes)
    if len(signature) != _SIG_LEN:
        msg = f"a signature is {_SIG_LEN} bytes, not {len(signature)}"
        raise EncodingError(msg, code="E_RECORD_SCHEMA")
    if n <= 0xFF:  # noqa: PLR2004 - the shortest bin header, as canonical msgpack requires
        head = b"\xc4" + bytes((n,))
    elif n <= 0xFFFF:  # noqa: PLR2004
        head = b"\xc5" + n.to_bytes(2, "big")
    else:
        head = b"\xc6" + n.to_bytes(4, "big")
    return b"".join((_RECORD_HEAD, head, bytes(entry_bytes), _RECORD_SIG, bytes(signature)))


_RECORD_HEAD = b"\x82\xa5entry"
_RECORD_SIG = b"\xa3sig\xc4\x40"


def decode_record(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> tuple[bytes, bytes]:
    """Split a stored record into (entry bytes, signature).

    A record has exactly one canonical form, ``82 a5 "entry" <bin> a3 "sig" c4 40 <64 bytes>``
    with the shortest bin header, so it is parsed by layout; anything else is refused.
    """
    data = bytes(data)
    if len(data) > limits.max_entry_bytes + 128 or not data.startswith(_RECORD_HEAD):
        msg = "record must be a map with exactly entry and sig"
        raise EncodingError(msg, code="E_RECORD_SCHEMA")
    i = len(_RECORD_HEAD)
    tag = data[i] if len(data) > i else -1
    if tag == 0xC4 and len(data) > i + 1:  # noqa: PLR2004 - bin8
        n, i = data[i + 1], i + 2
        minimal = True
    elif tag == 0xC5 and len(data) > i + 2:  # noqa: PLR2004 - bin16
        n, i = int.from_bytes(data[i + 1:i + 3], "big"), i + 3
        minimal = n > 0xFF  # noqa: PLR2004
    elif tag == 0xC6 and len(data) > i + 4:  # noqa: PLR2004 - bin32
        n, i = int.from_bytes(data[i + 1:i + 5], "big"), i + 5
        minimal = n > 0xFFFF  # noqa: PLR2004
    else:
        msg = "record entry must be bin"
        raise EncodingError(msg, code="E_RECORD_SCHEMA")
    entry, rest = data[i:i + n], data[i + n:]
    if not minimal:
        msg = "record entry has a non-minimal bin header"
        raise EncodingError(msg, code="E_ENCODING_NONCANONICAL")
    if len(entry) != n or len(rest) != len(_RECORD_SIG) + _SIG_LEN or not rest.startswith(_RECORD_SIG):
        msg = "record must end with a 64-byte sig and nothing after it"
        raise EncodingError(msg, code="E_RECORD_SCHEMA")
    return entry, rest[len(_RECORD_SIG):]


def expected_prev(case: str, n: int, previous_hash: Digest | None) -> Digest:
    """The ``prev`` that entry ``n`` of ``case`` must carry (genesis value for n = 1)."""
    if n == 1:
        return genesis_prev(case)
    if previous_hash is None:
        msg = "previous hash is required for n > 1"
        raise ValueError(msg)
    return previous_hash


class Linked(Protocol):
    """What ChainCursor reads of an entry: its case, number and prev link."""

    @property
    def case(self) -> str: ...
    @property
    def n(self) -> int: ...
    @property
    def prev(self) -> bytes: ...


@dataclass(slots=True)
class ChainCursor:
    """Walks one case in order of ``n`` and checks each link (spec 06 steps 1.5-1.6)."""

    case: str
    n: int = 0
    head: Digest | None = None

    def advance(self, entry: Linked, ehash: Digest) -> None:
        """Accept ``entry`` (whose hash is ``ehash``) as the next link, or raise ChainBreakError."""
        # Step 1.5: entries of a case are numbered 1, 2, 3 ... with no gap or repeat.
        if entry.case != self.case or entry.n != self.n + 1:
            raise ChainBreakError(
                "1.5", "entry number does not follow its predecessor",
                expected=f"{self.case}#{self.n + 1}", actual=f"{entry.case}#{entry.n}",
            )
        # Step 1.6: prev equals the hash of entry n-1 (or the genesis value for n = 1).
        want = expected_prev(self.case, entry.n, self.head)
        if entry.prev != want:
            raise ChainBreakError("1.6", "prev does not match the previous entry's hash",
                                  expected=want.hex(), actual=entry.prev.hex())
        self.n = entry.n
        self.head = ehash


__all__ = [
    "FORMAT_VERSION",
    "ChainCursor",
    "Entry",
    "decode_entry",
    "decode_record",
    "encode_entry",
    "encode_record",
    "entry_hash",
    "entry_map",
    "expected_prev",
]
