"""统一社会信用代码 (USCC) validation per GB 32100-2015 (rulebook §3; R1, R2).

Input is never normalised silently: lowercase, full-width characters and whitespace
are refused with their own ``reason`` so the caller can tell the user what to fix.
"""

from __future__ import annotations

import unicodedata

from domain.errors import UsccInvalid

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VAL = {c: i for i, c in enumerate(CHARSET)}
_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))


def uscc_check_char(first17: str) -> str:
    """Return the GB 32100 check character for a 17-character prefix."""
    r = 31 - sum(_VAL[c] * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 31
    return CHARSET[0 if r == 31 else r]  # noqa: PLR2004 - GB 32100-2015: modulus 31, 18 characters


def validate_uscc(value: object) -> str:
    """Return ``value`` unchanged if it is a valid USCC, else raise ``UsccInvalid``.

    Reasons, checked in this order: ``type``, ``whitespace``, ``fullwidth``,
    ``lowercase``, ``length``, ``charset`` (I, O, Z, S, V and punctuation),
    ``check_digit``.
    """
    if not isinstance(value, str):
        raise UsccInvalid("USCC must be a string", reason="type", value=repr(value))
    if any(c.isspace() for c in value):
        raise UsccInvalid("USCC contains whitespace", reason="whitespace", value=value)
    if any(unicodedata.east_asian_width(c) in ("F", "W") for c in value):
        raise UsccInvalid(
            "USCC contains full-width characters", reason="fullwidth", value=value,
        )
    if any(c.islower() for c in value):
        raise UsccInvalid("USCC contains lowercase letters", reason="lowercase", value=value)
    if len(value) != 18:  # noqa: PLR2004 - GB 32100-2015: modulus 31, 18 characters
        raise UsccInvalid(
            f"USCC must have 18 characters, got {len(value)}", reason="length", value=value,
        )
    bad = [c for c in value if c not in _VAL]
    if bad:
        raise UsccInvalid(
            f"USCC contains characters outside the GB 32100 set: {''.join(bad)!r}",
            reason="charset",
            value=value,
        )
    expected = uscc_check_char(value[:17])
    if value[17] != expected:
        raise UsccInvalid(
            f"USCC check character is {value[17]!r}, expected {expected!r}",
            reason="check_digit",
            value=value,
        )
    return value


def is_valid_uscc(value: object) -> bool:
    """True if ``value`` passes :func:`validate_uscc`."""
    try:
        validate_uscc(value)
    except UsccInvalid:
        return False
    return True


def make_uscc(first17: str) -> str:
    """Complete a 17-character prefix with its check character (test and demo helper)."""
    return first17 + uscc_check_char(first17)
