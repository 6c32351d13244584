"""Errors raised by the domain layer.

The tree::

    DomainError
    ├── RuleViolation                 (.code: an E_* code from the rulebook; nothing is appended)
    │   ├── UsccInvalid               E_USCC_INVALID (.reason: length/charset/lowercase/...)
    │   ├── CalendarUnavailable       E_CALENDAR_UNAVAILABLE (fail closed outside covered years)
    │   ├── CertificateInvalid        E_CERT_INVALID
    │   ├── OutOfOrder                E_OUT_OF_ORDER and the rulebook's ordering codes
    │   └── RoleConflict              E_ROLE_CONFLICT
    └── UnknownEntity                 (.code: E_UNKNOWN_*; the referenced entity does not exist)
        ├── UnknownCase               E_UNKNOWN_CASE
        ├── UnknownOfficer            E_UNKNOWN_OFFICER
        ├── UnknownAgency             E_UNKNOWN_AGENCY
        ├── UnknownEnterprise         E_UNKNOWN_ENTERPRISE
        └── UnknownReferenceList      E_UNKNOWN_REFERENCE_LIST

    UsageError(RuntimeError)          caller misuse (naive datetimes, wrong argument types); .code E_USAGE
    ├── TimestampOutOfRange           E_TIMESTAMP_RANGE: an instant outside the years the domain computes with
    └── TextInvalid                   E_TEXT_INVALID: a control, lone-surrogate or (in an identifier)
                                      bidi/format character in a command's text (domain/text.py)

``RuleViolation`` is what the law forbids: the command is refused and no event is
appended.  Late or irregular facts are *not* errors: they are appended with ``V_*`` /
``W_*`` flags carried on the event itself.

The ``E_UNKNOWN_*``, ``E_OUT_OF_ORDER`` and ``E_OUTCOME_INVALID`` codes are
project-defined (the rulebook defines no code for them); every other code is the
rulebook's own.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class of every error the domain raises on purpose."""

    code: str = "E_DOMAIN"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        if code is not None:
            self.code = code
        self.message = message
        self.details = details
        super().__init__(f"{self.code}: {message}")


class RuleViolation(DomainError):
    """A command the rules forbid. Carries the rulebook ``E_*`` code."""

    code = "E_RULE"

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message, code=code, **details)


class UsccInvalid(RuleViolation):
    """A 统一社会信用代码 failed GB 32100 validation (R1, R2)."""

    def __init__(self, message: str, *, reason: str, value: str) -> None:
        super().__init__("E_USCC_INVALID", message, reason=reason, value=value)
        self.reason = reason
        self.value = value


class CalendarUnavailable(RuleViolation):
    """The holiday calendar has no data for the requested date: fail closed."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__("E_CALENDAR_UNAVAILABLE", message, **details)


class CertificateInvalid(RuleViolation):
    """An officer's certificate is not valid as of the event's occurred_at (R5)."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__("E_CERT_INVALID", message, **details)


class OutOfOrder(RuleViolation):
    """A lifecycle step was attempted in the wrong state."""

    def __init__(self, message: str, *, code: str = "E_OUT_OF_ORDER", **details: Any) -> None:
        super().__init__(code, message, **details)


class RoleConflict(RuleViolation):
    """One person holds two roles the law keeps apart on one case (R37)."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__("E_ROLE_CONFLICT", message, **details)


class UnknownEntity(DomainError):
    """A referenced entity (officer, agency, enterprise, list, case) does not exist."""

    code = "E_UNKNOWN_ENTITY"

    def __init__(self, message: str, *, key: str = "", **details: Any) -> None:
        super().__init__(message, key=key, **details)
        self.key = key


class UnknownCase(UnknownEntity):
    """No inspection/case with this id."""

    code = "E_UNKNOWN_CASE"


class UnknownOfficer(UnknownEntity):
    """No officer certificate with this number in the register."""

    code = "E_UNKNOWN_OFFICER"


class UnknownAgency(UnknownEntity):
    """No enforcement subject with this agency code in the register."""

    code = "E_UNKNOWN_AGENCY"


class UnknownEnterprise(UnknownEntity):
    """No enterprise with this USCC in the register."""

    code = "E_UNKNOWN_ENTERPRISE"


class UnknownReferenceList(UnknownEntity):
    """No published reference list (item list, plan, benchmark, caps) with this key."""

    code = "E_UNKNOWN_REFERENCE_LIST"


class UsageError(RuntimeError):
    """The caller misused the API (e.g. passed a naive datetime). Not a rule."""

    code: str = "E_USAGE"


class TimestampOutOfRange(UsageError):
    """An instant outside ``domain.calendar.MIN_YEAR``..``MAX_YEAR``: refused before any date arithmetic
    (which would overflow near year 1 or 9999)."""

    code = "E_TIMESTAMP_RANGE"


class TextInvalid(UsageError):
    """A command's text breaks the text policy (``domain.text``); nothing is written."""

    code = "E_TEXT_INVALID"

    def __init__(self, message: str, *, field: str, character: str) -> None:
        super().__init__(message)
        self.field = field
        self.character = character
