"""Canonical msgpack profile (docs/spec/01-encoding.md).

Allowed types: nil, bool, int (-2**63 .. 2**64-1), str (UTF-8), bin, array, and map with str
keys. Maps are written with keys sorted bytewise by their UTF-8 encoding, every integer and
length header in its smallest form. Floats, ext types and duplicate keys are refused.
``decode(b)`` accepts ``b`` only if ``encode(decode(b)) == b``.
"""

from __future__ import annotations

from typing import Any

import msgpack

from ledger.errors import EncodingError
from ledger.limits import DEFAULT_LIMITS, Limits

_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


_SCALARS = (str, bytes, bool, type(None))


def _canonical(obj: Any, depth: int, limits: Limits) -> Any:
    """Return ``obj`` with maps rebuilt in sorted key order; refuse what the profile forbids."""
    if depth > limits.max_depth:
        msg = f"nesting deeper than {limits.max_depth}"
        raise EncodingError(msg, code="E_ENCODING_DEPTH")
    t = type(obj)
    if t in _SCALARS:
        return obj
    if t is int:
        if not _INT_MIN <= obj <= _INT_MAX:
            msg = f"integer {obj} outside the 64-bit range"
            raise EncodingError(msg, code="E_ENCODING_INT")
        return obj
    if t is dict:
        for k in obj:
            if type(k) is not str:
                msg = f"map key {k!r} is not a string"
                raise EncodingError(msg, code="E_ENCODING_KEY")
        # UTF-8 preserves code-point order, so sorting str keys sorts their UTF-8 bytes.
        keys = sorted(obj)
        return {k: _canonical(obj[k], depth + 1, limits) for k in keys}
    if t is list or t is tuple:
        return [_canonical(x, depth + 1, limits) for x in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, (str, bytes)):
        return obj
    if isinstance(obj, int):
        return _canonical(int(obj), depth, limits)
    if isinstance(obj, (bytearray, memoryview)):
        return bytes(obj)
    if isinstance(obj, (list, tuple)):
        return [_canonical(x, depth + 1, limits) for x in obj]
    if isinstance(obj, dict):
        return _canonical(dict(obj), depth, limits)
    if isinstance(obj, float):
        msg = "floats are not allowed (use integer fen or micro-units)"
        raise EncodingError(msg, code="E_ENCODING_FLOAT")
    msg = f"type {type(obj).__name__} is not allowed in canonical msgpack"
    raise EncodingError(msg, code="E_ENCODING_TYPE")


def encode(obj: Any, *, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """Encode ``obj`` to canonical msgpack bytes.

    Raises:
        EncodingError: the value holds a float, a non-string key, an unsupported type, an
            out-of-range integer, or nests too deep.
    """
    try:
        packed: bytes = msgpack.packb(_canonical(obj, 0, limits), use_bin_type=True, strict_types=False)
    except (ValueError, OverflowError, TypeError) as e:  # pragma: no cover - guarded above
        raise EncodingError(str(e)) from e
    return packed


def _no_ext(code: int, data: bytes) -> Any:  # noqa: ARG001 - msgpack's ext_hook signature
    msg = f"ext type {code} is not allowed"
    raise EncodingError(msg, code="E_ENCODING_EXT")


_FORBIDDEN = frozenset({float, msgpack.Timestamp})


def _check_scalar(v: Any) -> None:
    t = type(v)
    if t is float:
        msg = "floats are not allowed"
        raise EncodingError(msg, code="E_ENCODING_FLOAT")
    if t is msgpack.Timestamp:  # ext type -1, which msgpack decodes itself
        msg = "ext type -1 (timestamp) is not allowed"
        raise EncodingError(msg, code="E_ENCODING_EXT")


def _map_hook(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    """Refuse non-string, unsorted or duplicate keys as the map is read; keep encoded order."""
    prev: str | None = None
    for k, v in pairs:
        if type(k) is not str:
            msg = f"map key {k!r} is not a string"
            raise EncodingError(msg, code="E_ENCODING_KEY")
        if prev is not None and k <= prev:
            msg = f"map keys are not strictly sorted ({prev!r} then {k!r}): unsorted or duplicate"
            raise EncodingError(msg, code="E_ENCODING_NONCANONICAL")
        if type(v) in _FORBIDDEN:
            _check_scalar(v)
        prev = k
    return dict(pairs)


def _list_hook(items: list[Any]) -> list[Any]:
    for v in items:
        if type(v) in _FORBIDDEN:
            _check_scalar(v)
    return items


def decode(data: bytes, *, limits: Limits = DEFAULT_LIMITS, max_bytes: int | None = None) -> Any:
    """Decode canonical msgpack; refuse any input that does not re-encode to the same bytes.

    Map keys are checked for order and uniqueness, and values for floats and ext types, while
    reading; the value is then re-encoded (maps in their read order, which is the canonical
    order) and must equal the input byte for byte, which rules out non-minimal encodings.
    Nesting is bounded by msgpack's own stack limit and by the size limit.

    Raises:
        EncodingError: the input is too large, malformed, has trailing bytes, holds a float
            or ext type, has unsorted or duplicate keys, or uses a non-minimal encoding.
    """
    limit = limits.max_entry_bytes if max_bytes is None else max_bytes
    if len(data) > limit:
        msg = f"{len(data)} bytes exceeds the limit of {limit}"
        raise EncodingError(msg, code="E_ENCODING_SIZE")
    try:
        obj = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=False, ext_hook=_no_ext,
                              object_pairs_hook=_map_hook, list_hook=_list_hook)
    except EncodingError:
        raise
    except Exception as e:  # msgpack raises several unrelated types
        msg = f"malformed msgpack: {e!r}"
        raise EncodingError(msg, code="E_ENCODING_MALFORMED") from e
    _check_scalar(obj)
    if msgpack.packb(obj, use_bin_type=True) != bytes(data):
        msg = "bytes are not canonical (non-minimal integer, length or string header)"
        raise EncodingError(msg, code="E_ENCODING_NONCANONICAL")
    return obj
