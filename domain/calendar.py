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

Years the package does not cover come from signed calendar-year register entries
(:class:`OfficialYear`, entered by a registrar from the State Council notice);
:class:`LayeredCalendar` answers from both.  A deadline that *starts* while a year it
needs is missing is stored **pending** (:func:`deadline_or_pending`) rather than refusing
the step; a rule that must decide whether a step is allowed still fails closed
(:func:`require_due`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, runtime_checkable
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


#: Flag on a deadline record whose due day needs a calendar year not yet entered.
PENDING_FLAG = "W_CALENDAR_PENDING"


@dataclass(frozen=True, slots=True)
class Deadline:
    """A computed deadline and the calendar data it was computed with.

    A *pending* deadline (``due is None``) names the year whose calendar is missing.
    """

    start: date
    due: date | None
    days: int
    unit: str  # "working_days" | "natural_days"
    calendar_version: str | None
    missing_year: int | None = None

    def as_record(self) -> dict[str, str | int | None]:
        """The deadline as an event field value (primitive types only).

        A computed deadline keeps exactly the original five fields; a pending one has
        ``due`` and ``calendar_version`` nil plus ``missing_year`` and ``flag``.
        """
        if self.due is None:
            return {"start": iso_day(self.start), "due": None, "days": self.days, "unit": self.unit,
                    "calendar_version": None, "missing_year": self.missing_year, "flag": PENDING_FLAG}
        return {
            "start": iso_day(self.start),
            "due": iso_day(self.due),
            "days": self.days,
            "unit": self.unit,
            "calendar_version": self.calendar_version,
        }


def calendar_version(cal: HolidayCalendar, first: date, last: date) -> str:
    """The version of the data ``cal`` used for the days ``first``..``last``
    (a :class:`LayeredCalendar` names each signed year it used)."""
    version_for = getattr(cal, "version_for", None)
    return str(version_for(first, last)) if callable(version_for) else cal.version


def working_day_deadline(cal: HolidayCalendar, start: date, n: int) -> Deadline:
    """``add_wd`` wrapped with its calendar version (raises ``CalendarUnavailable``)."""
    due = add_wd(cal, start, n)
    return Deadline(start, due, n, "working_days", calendar_version(cal, start, due))


def natural_day_deadline(cal: HolidayCalendar, start: date, n: int) -> Deadline:
    """``add_natural_days`` wrapped with its calendar version (raises ``CalendarUnavailable``)."""
    due = add_natural_days(cal, start, n)
    return Deadline(start, due, n, "natural_days", calendar_version(cal, start, due))


_DEADLINE_BY_UNIT = {"working_days": working_day_deadline, "natural_days": natural_day_deadline}


def missing_year_of(e: CalendarUnavailable) -> int:
    """The year a ``CalendarUnavailable`` names."""
    year = e.details.get("year")
    if isinstance(year, int):
        return year
    return parse_day(str(e.details["day"])).year


def deadline_or_pending(cal: HolidayCalendar, start: date, n: int, unit: str = "working_days") -> Deadline:
    """A deadline a step *starts*: computed when the calendar covers it, else pending.

    The step is recorded either way; the pending deadline names its missing year and is
    computed once that year is entered (:func:`resolve_record`).
    """
    try:
        return _DEADLINE_BY_UNIT[unit](cal, start, n)
    except CalendarUnavailable as e:
        return Deadline(start, None, n, unit, None, missing_year_of(e))


def is_pending(record: Mapping[str, Any] | None) -> bool:
    """True for a deadline record whose due day is not computed yet."""
    return bool(record) and record is not None and record.get("due") is None


def resolve_record(record: Mapping[str, Any], cal: HolidayCalendar) -> dict[str, Any]:
    """A pending record computed with ``cal`` (raises ``CalendarUnavailable`` naming the
    year still missing). A computed record is returned unchanged."""
    if not is_pending(record):
        return dict(record)
    d = _DEADLINE_BY_UNIT[str(record["unit"])](cal, parse_day(str(record["start"])), int(record["days"]))
    return {**d.as_record(), "computed_from_pending": True}


def due_day(record: Mapping[str, Any] | None, cal: HolidayCalendar | None = None) -> date | None:
    """The due day of a deadline record; for a pending one, computed with ``cal`` when
    it can be, else ``None`` (not known yet)."""
    if not record:
        return None
    if not is_pending(record):
        return parse_day(str(record["due"]))
    if cal is None:
        return None
    try:
        return parse_day(str(resolve_record(record, cal)["due"]))
    except CalendarUnavailable:
        return None


def require_due(record: Mapping[str, Any], cal: HolidayCalendar | None) -> date:
    """The due day, for a rule that decides whether a step is *allowed*: a pending
    deadline that still cannot be computed refuses with ``E_CALENDAR_UNAVAILABLE``."""
    if not is_pending(record):
        return parse_day(str(record["due"]))
    if cal is None:
        raise CalendarUnavailable(f"the deadline needs the {record.get('missing_year')} calendar",
                                  year=record.get("missing_year"))
    return parse_day(str(resolve_record(record, cal)["due"]))


def is_after_deadline(
    record: Mapping[str, Any] | None, at: datetime, cal: HolidayCalendar | None = None,
) -> bool:
    """True if ``at``'s legal day is after the recorded deadline's due day.

    A period ends at 24:00 on its last day (CC art. 203), so an act on the due
    day itself is in time.  A pending deadline is judged with ``cal`` when the year
    it needs has been entered; otherwise it is not (yet) known to be late, and the
    projections flag the step once the year is entered.
    """
    due = due_day(record, cal)
    return due is not None and legal_day(at) > due


# ----------------------------------------------------------- signed calendar years
@dataclass(frozen=True, slots=True)
class OfficialYear:
    """One year's official arrangement as entered from the State Council notice.

    ``version`` names the signed entry (``calendar:<year>@<n>``) and is recorded with
    every deadline computed from it.
    """

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    version: str
    corrects_package: bool = False

    def is_workday(self, d: date) -> bool:
        """An adjusted workday (调休上班) works; a holiday rests; otherwise Monday–Friday."""
        if d in self.workdays:
            return True
        return d not in self.holidays and d.weekday() < 5  # noqa: PLR2004 - Saturday is 5


class LayeredCalendar:
    """The package's data for the years it covers, the signed years for the others.

    A signed year for a year the package covers wins only if it says it corrects the
    package; otherwise the package answers and :meth:`conflicts` reports the difference.
    """

    def __init__(
        self, package: HolidayCalendar,
        years: Mapping[int, OfficialYear] | Callable[[], Mapping[int, OfficialYear]],
    ) -> None:
        self.package = package
        self._years = years
        self._loaded: dict[int, OfficialYear] | None = None
        self._covered: dict[int, bool] = {}

    @property
    def years(self) -> dict[int, OfficialYear]:
        """The signed years (loaded on first use when given as a loader)."""
        if self._loaded is None:
            self._loaded = dict(self._years() if callable(self._years) else self._years)
        return self._loaded

    @property
    def version(self) -> str:
        """The package's version (the base data)."""
        return self.package.version

    def package_covers(self, year: int) -> bool:
        """Whether the package has data for ``year``."""
        if year not in self._covered:
            try:
                self.package.is_workday(date(year, 1, 1))
                self._covered[year] = True
            except CalendarUnavailable:
                self._covered[year] = False
        return self._covered[year]

    def signed_for(self, year: int) -> OfficialYear | None:
        """The signed year that answers for ``year``, if one does."""
        y = self.years.get(year)
        if y is not None and (y.corrects_package or not self.package_covers(year)):
            return y
        return None

    def is_workday(self, d: date) -> bool:
        """Official working day, from the signed year or the package (fail closed)."""
        y = self.signed_for(d.year)
        if y is not None:
            return y.is_workday(d)
        try:
            return self.package.is_workday(d)
        except CalendarUnavailable as e:
            raise CalendarUnavailable(
                f"no official calendar for {d.year}: enter the State Council notice"
                f" (caseledger calendar add)", day=d.isoformat(), year=d.year,
                calendar_version=self.package.version,
            ) from e

    def version_for(self, first: date, last: date) -> str:
        """``<package version>`` plus ``+calendar/<year>@<n>`` for each signed year used."""
        parts, package_used = [], False
        for year in range(first.year, last.year + 1):
            y = self.signed_for(year)
            if y is None:
                package_used = True
            else:
                parts.append(y.version)
        return "+".join([self.package.version] * package_used + parts)

    def conflicts(self) -> list[dict[str, Any]]:
        """Signed years that disagree with the package without saying they correct it."""
        out = []
        for year, y in sorted(self.years.items()):
            if y.corrects_package or not self.package_covers(year):
                continue
            day, differ = date(year, 1, 1), []
            while day.year == year:
                if y.is_workday(day) != self.package.is_workday(day):
                    differ.append(day.isoformat())
                day += timedelta(days=1)
            if differ:
                out.append({"year": year, "version": y.version, "days": differ})
        return out

    def missing_year(self, today: date) -> int | None:
        """From 1 November, next year if neither source covers it (an operator warning)."""
        if today.month < 11:  # noqa: PLR2004 - November
            return None
        nxt = today.year + 1
        return None if self.signed_for(nxt) is not None or self.package_covers(nxt) else nxt


__all__ = [
    "PENDING_FLAG",
    "SHANGHAI",
    "CalendarUnavailable",
    "Deadline",
    "HolidayCalendar",
    "LayeredCalendar",
    "OfficialYear",
    "add_natural_days",
    "add_wd",
    "calendar_version",
    "deadline_or_pending",
    "due_day",
    "from_micros",
    "is_after_deadline",
    "is_pending",
    "iso_day",
    "legal_day",
    "missing_year_of",
    "natural_day_deadline",
    "parse_day",
    "require_aware",
    "require_due",
    "resolve_record",
    "to_micros",
    "working_day_deadline",
]
