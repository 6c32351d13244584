"""Errors raised by the read side (projections and their queries).

    ProjectionError                 (.code: a stable E_* string the API and CLI surface)
    ├── BadQuery                    E_BAD_QUERY      a filter, limit or year is malformed (→ 400)
    │   ├── BadCursor               E_BAD_CURSOR     a pagination cursor was not issued by us (→ 400)
    │   └── BadAsOf                 E_BAD_AS_OF      --as-of is neither an entry number nor an instant,
    │                                                or lies outside the case (→ 400)
    ├── UnknownCaseFile             E_UNKNOWN_CASE   no case file / notice with this id (→ 404);
    │                                                also a ``domain.errors.UnknownCase``
    ├── UnknownProjection           E_UNKNOWN_PROJECTION  ``rebuild NAME`` names no projection
    ├── StaleProjection             E_PROJECTION_STALE    tables built by another projection version;
                                                     run ``caseledger rebuild NAME``
    └── ProjectionFailed            E_PROJECTION_FAILED   an entry could not be projected; carries
                                                     the notification ``position`` and the cause
                                                     (``from e``); the batch is rolled back and the
                                                     tracking position is not advanced
    ledger.errors.UsageError        caller misuse (naive datetimes, wrong argument types)

``UnknownCaseFile`` subclasses both ``ProjectionError`` and ``domain.errors.UnknownCase`` so
``api/errors.py`` maps it to 404 with no special case.
"""

from __future__ import annotations

from typing import Any

from domain.errors import UnknownCase


class ProjectionError(Exception):
    """Base class of every error the read side raises on purpose."""

    code = "E_PROJECTION"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.details = details


class BadQuery(ProjectionError):
    """A query argument is malformed (unknown filter value, bad limit, bad year, naive time)."""

    code = "E_BAD_QUERY"


class BadCursor(BadQuery):
    """A pagination cursor that this server did not issue, or for a different query."""

    code = "E_BAD_CURSOR"


class BadAsOf(BadQuery):
    """An ``as of`` point that is not an entry number ≥ 0 or an aware instant, or lies past the case."""

    code = "E_BAD_AS_OF"


class UnknownCaseFile(ProjectionError, UnknownCase):
    """No case file, notice or inspection with this id in the projection."""

    code = "E_UNKNOWN_CASE"

    def __init__(self, message: str, *, key: str = "") -> None:
        UnknownCase.__init__(self, message, key=key)
        self.message = message
        self.details = {"key": key}


class UnknownProjection(ProjectionError):
    """``rebuild NAME`` with a name that is not a projection."""

    code = "E_UNKNOWN_PROJECTION"


class StaleProjection(ProjectionError):
    """The stored tables were built by a different version of the projection code."""

    code = "E_PROJECTION_STALE"


class ProjectionFailed(ProjectionError):
    """An entry could not be projected. Nothing of its batch was committed."""

    code = "E_PROJECTION_FAILED"

    def __init__(self, message: str, *, position: int, projection: str) -> None:
        super().__init__(message, position=position, projection=projection)
        self.position = position
        self.projection = projection


__all__ = [
    "BadAsOf", "BadCursor", "BadQuery", "ProjectionError", "ProjectionFailed", "StaleProjection", "UnknownCaseFile",
    "UnknownProjection",
]
