"""Legal days, working days and deadlines (rulebook §0.3, §4).

The holiday calendar is a *port*: :class:`HolidayCalendar`.  The domain never imports a
calendar library; ``ledger.holidays`` adapts ``chinesecalendar`` to this protocol.  An
adapter must raise :class:`~domain.errors.CalendarUnavailable` for dates it does not
cover; there is deliberately no Monday–Friday fallback (fail closed).

Counting rules (CC arts. 201, 203; APL art. 85):

* the start day is never counted;
* ``add_wd(cal, start, n)`` is the n-th official working day after ``start``
  (adjusted weekend workdays count, holidays and in-lieu rest days do not);
* a natural-day period ends ``n`` days after ``start``; if that day is a rest day the
  period ends on the first working day after the rest;
* legal days are calendar dates in Asia/Shanghai.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from domain.errors import CalendarUnavailable, TimestampOutOfRange, UsageError

SHANGHAI = ZoneInfo("Asia/Shanghai")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Instants the domain computes with (legal days, deadlines); the ledger accepts a narrower range.
MIN_YEAR, MAX_YEAR = 1900, 2999


@runtime_checkable
class HolidayCalendar(Protocol):
    """The official holiday calendar (port).

    ``version`` identifies the calendar data (e.g. ``"chinesecalendar-1.11.0"``) and is
    recorded beside every computed deadline.
    """

    @property
    def version(self) -> str: ...

    def is_workday(self, d: date) -> bool:
        """True if ``d`` is an official working day; raise ``CalendarUnavailable``
        if the calendar has no data for ``d``'s year."""
        ...


def require_aware(at: datetime) -> datetime:
    """Return ``at`` if it is a timezone-aware datetime, else raise ``UsageError``."""
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise UsageError(f"expected a timezone-aware datetime, got {at!r}")
    if not MIN_YEAR <= at.year <= MAX_YEAR:
        msg = f"{at.isoformat()} is outside the years {MIN_YEAR}..{MAX_YEAR}"
        raise TimestampOutOfRange(msg)
    return at


def legal_day(at: datetime) -> date:
    """The legal day of an instant: its calendar date in Asia/Shanghai."""
    return require_aware(at).astimezone(SHANGHAI).date()


def to_micros(at: datetime) -> int:
    """An aware datetime as integer microseconds since the Unix epoch (UTC)."""
    delta = require_aware(at) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(us: int) -> datetime:
    """Inverse of :func:`to_micros` (UTC)."""
    return _EPOCH + timedelta(microseconds=us)


def iso_day(d: date) -> str:
    """``YYYY-MM-DD``."""
    return d.isoformat()


def parse_day(s: str) -> date:
    """Parse ``YYYY-MM-DD`` (the only date format used in events)."""
    return date.fromisoformat(s)


def add_wd(cal: HolidayCalendar, start: date, n: int) -> date:
    """The n-th working day after ``start`` (start day not counted). ``n`` ≥ 1."""
    if n < 1:
        raise UsageError(f"working-day count must be >= 1, got {n}")
    d = start
    # Touch the start day too: a start outside the calendar fails closed even if
    # the period would end inside it.
    cal.is_workday(start)
    counted = 0
    while counted < n:
        d += timedelta(days=1)
        if cal.is_workday(d):
            counted += 1
    return d


def add_natural_days(cal: HolidayCalendar, start: date, n: int) -> date:
    """End of an n natural-day period starting on ``start`` (CC arts. 201, 203)."""
    if n < 1:
        raise UsageError(f"day count must be >= 1, got {n}")
    cal.is_workday(start)
    d = start + timedelta(days=n)
    while not cal.is_workday(d):
        d += timedelta(days=1)
    return d


@dataclass(frozen=True, slots=True)
class Deadline:
    """A computed deadline and the calendar data it was computed with."""

    start: date
    due: date
    days: int
    unit: str  # "working_days" | "natural_days"
    calendar_version: str

    def as_record(self) -> dict[str, str | int]:
        """The deadline as an event field value (primitive types only)."""
        return {
            "start": iso_day(self.start),
            "due": iso_day(self.due),
            "days": self.days,
            "unit": self.unit,
            "calendar_version": self.calendar_version,
        }


def working_day_deadline(cal: HolidayCalendar, start: date, n: int) -> Deadline:
    """``add_wd`` wrapped with its calendar version."""
    return Deadline(start, add_wd(cal, start, n), n, "working_days", cal.version)


def natural_day_deadline(cal: HolidayCalendar, start: date, n: int) -> Deadline:
    """``add_natural_days`` wrapped with its calendar version."""
    return Deadline(start, add_natural_days(cal, start, n), n, "natural_days", cal.version)


def is_after_deadline(record: dict[str, str | int] | None, at: datetime) -> bool:
    """True if ``at``'s legal day is after the recorded deadline's due day.

    A period ends at 24:00 on its last day (CC art. 203), so an act on the due
    day itself is in time.
    """
    if not record:
        return False
    return legal_day(at) > parse_day(str(record["due"]))


__all__ = [
    "SHANGHAI",
    "CalendarUnavailable",
    "Deadline",
    "HolidayCalendar",
    "add_natural_days",
    "add_wd",
    "from_micros",
    "is_after_deadline",
    "iso_day",
    "legal_day",
    "natural_day_deadline",
    "parse_day",
    "require_aware",
    "to_micros",
    "working_day_deadline",
]
