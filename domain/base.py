"""Small shared helpers for aggregates: deterministic ids, canonical hashes, flags.

Everything here is pure and deterministic: no clocks, no randomness.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, ClassVar
from uuid import UUID, uuid5

from domain.calendar import require_aware
from domain.errors import OutOfOrder, RuleViolation, TextInvalid
from domain.text import check_text

#: Namespace for every deterministic aggregate id (uuid5 over "<kind>:<natural key>").
NAMESPACE = UUID("6f1d3c1e-8a55-5b59-9a51-0c4e5e2d2a01")

_HEX = frozenset("0123456789abcdef")


class CopyOnWrite:
    """Marks an aggregate whose state is copy-on-write: no ``apply`` or command changes a value in place.

    Every ``apply`` binds a new value built from the old one (``agg.evidence = {**agg.evidence, k: v}``,
    ``agg.rows = (*agg.rows, row)``) and command methods only read state before triggering events.
    The ledger's aggregate cache then hands a command a shallow copy that shares those values, in
    time independent of the state's size (``ledger/cache.py``); an aggregate without the mark is
    deep-copied.
    """

    copy_on_write: ClassVar[bool] = True


def natural_id(kind: str, *parts: str) -> UUID:
    """Deterministic aggregate id from a kind and a natural key (``TextInvalid`` for a part that is no identifier)."""
    for part in parts:
        check_text(part, field=f"{kind} key")
    return uuid5(NAMESPACE, kind + ":" + "\x1f".join(parts))


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes (sorted keys, no whitespace, UTF-8) for domain hashes."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        ch = text[e.start]
        msg = f"U+{ord(ch):04X} (a lone surrogate) is not text and has no UTF-8 form"
        raise TextInvalid(msg, field="content", character=f"U+{ord(ch):04X}") from None


def content_hash(value: Any) -> str:
    """``sha256:<hex>`` of :func:`canonical_json`."""
    return "sha256:" + hashlib.sha256(canonical_json(value)).hexdigest()


def is_sha256_hex(value: object) -> bool:
    """True for a lowercase 64-digit hex SHA-256 digest."""
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX  # noqa: PLR2004 - SHA-256 in hex


def feedback_token(case_id: UUID, secret: bytes) -> str:
    """The QR feedback token for a case (R21): HMAC-SHA256(secret, case id), hex.

    Deterministic, so replay never needs randomness; unguessable without the secret.
    """
    return hmac.new(secret, b"feedback:" + str(case_id).encode(), hashlib.sha256).hexdigest()


def freeze(value: Any) -> Any:
    """Lists to tuples, recursively (event values may come back from storage as lists)."""
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, Mapping):
        return {k: freeze(v) for k, v in value.items()}
    return value


def flags_of(*pairs: tuple[bool, str]) -> tuple[str, ...]:
    """The codes whose condition holds, in order."""
    return tuple(code for cond, code in pairs if cond)


def require(cond: bool, code: str, message: str, **details: Any) -> None:  # noqa: FBT001
    """Raise ``RuleViolation(code)`` unless ``cond``."""
    if not cond:
        raise RuleViolation(code, message, **details)


def require_order(cond: bool, message: str, *, code: str = "E_OUT_OF_ORDER") -> None:  # noqa: FBT001
    """Raise ``OutOfOrder`` unless ``cond``."""
    if not cond:
        raise OutOfOrder(message, code=code)


def require_text(value: object, what: str) -> str:
    """A non-blank string, else ``E_REASON_REQUIRED``."""
    if not isinstance(value, str) or not value.strip():
        raise RuleViolation("E_REASON_REQUIRED", f"{what} is required")
    return value


def check_time_not_before(at: datetime, last: datetime | None) -> datetime:
    """Refuse an event claimed to occur before the stream's last event (E_OUT_OF_ORDER)."""
    require_aware(at)
    if last is not None and at < last:
        raise OutOfOrder(
            f"occurred_at {at.isoformat()} is before the previous event at {last.isoformat()}",
        )
    return at


def require_digest(value: object, what: str) -> str:
    """A SHA-256 digest (``<64 hex>`` or ``sha256:<64 hex>``), else ``E_DIGEST_INVALID``."""
    if not (
        isinstance(value, str)
        and (is_sha256_hex(value) or (value.startswith("sha256:") and is_sha256_hex(value[7:])))
    ):
        raise RuleViolation("E_DIGEST_INVALID", f"{what} must be a SHA-256 digest, got {value!r}")
    return value


def add_months(d: date, months: int) -> date:
    """``d`` plus ``months`` calendar months, clamped to the month's last day
    (2025-01-31 + 1 month = 2025-02-28)."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    for day in (d.day, 30, 29, 28):
        try:
            return d.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def require_bool_flags(flags: Any, keys: Iterable[str], code: str, what: str) -> dict[str, bool]:
    """Every key present and a real ``bool`` (``True``/``False``), else ``code``."""
    if not isinstance(flags, Mapping):
        raise RuleViolation(code, f"{what} must be a mapping of booleans")
    out: dict[str, bool] = {}
    for key in keys:
        value = flags.get(key)
        if not isinstance(value, bool):
            raise RuleViolation(code, f"{what}: {key!r} must be true or false, got {value!r}")
        out[key] = value
    return out


def str_tuple(values: Iterable[str]) -> tuple[str, ...]:
    """A tuple of strings (refuses a bare string, a common caller mistake)."""
    if isinstance(values, str):
        return (values,)
    return tuple(str(v) for v in values)
