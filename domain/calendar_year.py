"""Official calendar years as signed register data (rulebook §0.3; issue 14).

One register stream holds every year (:class:`CalendarRegister`, like the other registers).
A registrar enters the State Council's arrangement for a year — the holidays, the adjusted
working days (调休上班), the issuing document and the SHA-256 of the notice's text as
entered — as ``calendar.year_entered.v1``. A correction is a later entry for the same year,
with a reason and the entry it ``supersedes``; the earlier version stays in the log. The
version in force is the latest: deadlines computed earlier keep the version they recorded
(``calendar:<year>@<n>``, ``n`` the entry's number in the register stream).

Validation at write time (``E_CALENDAR_*``; nothing is written when refused):
every date is a ``YYYY-MM-DD`` day of its year, no date is both a holiday and an adjusted
workday, an adjusted workday falls on a Saturday or Sunday (a holiday may fall on any day),
the document and the text hash are given, and a year the package covers may only be
entered with ``corrects_package`` and a reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.base import CopyOnWrite, check_time_not_before, is_sha256_hex, natural_id, require
from domain.calendar import OfficialYear, parse_day

#: Years the register accepts (the package's first year to a far, but finite, horizon).
FIRST_YEAR, LAST_YEAR = 2004, 2200
_DOCUMENT_FIELDS = ("issuer", "number", "issued_on")
_SATURDAY = 5


def year_version(year: int, n: int) -> str:
    """The calendar version a deadline records: year ``year`` as entered at entry ``n`` of
    the calendar register stream (:data:`CALENDAR_REGISTER_ID`)."""
    return f"calendar:{year}@{n}"


def _days(values: object, year: int, what: str) -> tuple[str, ...]:
    require(isinstance(values, (list, tuple)), "E_CALENDAR_INVALID", f"{what} must be a list of YYYY-MM-DD days")
    assert isinstance(values, (list, tuple))
    out: set[date] = set()
    for v in values:
        try:
            d = parse_day(v) if isinstance(v, str) and len(v) == 10 else None  # noqa: PLR2004 - YYYY-MM-DD
        except ValueError:
            d = None
        require(d is not None, "E_CALENDAR_INVALID", f"{what}: {v!r} is not a YYYY-MM-DD day", value=str(v)[:40])
        assert d is not None
        require(d.year == year, "E_CALENDAR_DATE_OUTSIDE_YEAR", f"{what}: {v} is not in {year}", day=v, year=year)
        require(d not in out, "E_CALENDAR_INVALID", f"{what}: {v} is listed twice", day=v)
        out.add(d)
    return tuple(sorted(d.isoformat() for d in out))


def check_year_entry(
    *, year: object, holidays: object, workdays: object, document: object, text_sha256: object,
) -> tuple[int, tuple[str, ...], tuple[str, ...], dict[str, str], str]:
    """Validate one year's arrangement; return it normalised (sorted days)."""
    require(isinstance(year, int) and not isinstance(year, bool) and FIRST_YEAR <= year <= LAST_YEAR,
            "E_CALENDAR_INVALID", f"year must be an integer {FIRST_YEAR}..{LAST_YEAR}, got {year!r}")
    assert isinstance(year, int)
    hol, work = _days(holidays, year, "holidays"), _days(workdays, year, "workdays")
    both = sorted(set(hol) & set(work))
    require(not both, "E_CALENDAR_DATE_CONFLICT", f"{both[0] if both else ''} is both a holiday and a workday",
            days=both)
    for d in work:
        require(parse_day(d).weekday() >= _SATURDAY, "E_CALENDAR_WORKDAY_NOT_WEEKEND",
                f"adjusted workday {d} is not a Saturday or Sunday", day=d)
    require(isinstance(document, Mapping), "E_CALENDAR_INVALID",
            "document must give issuer, number and issued_on")
    assert isinstance(document, Mapping)
    doc: dict[str, str] = {}
    for key in _DOCUMENT_FIELDS:
        value = document.get(key)
        require(isinstance(value, str) and bool(value.strip()), "E_CALENDAR_INVALID",
                f"document.{key} is required", field=key)
        doc[key] = str(value).strip()
    unknown = sorted(set(document) - set(_DOCUMENT_FIELDS))
    require(not unknown, "E_CALENDAR_INVALID", f"unknown document fields {unknown}")
    try:
        parse_day(doc["issued_on"])
    except ValueError:
        require(False, "E_CALENDAR_INVALID", f"document.issued_on {doc['issued_on']!r} is not YYYY-MM-DD")  # noqa: FBT003
    require(isinstance(text_sha256, str) and is_sha256_hex(text_sha256) and text_sha256 == text_sha256.lower(),
            "E_DIGEST_INVALID", "text_sha256 must be the notice text's SHA-256 (64 lowercase hex)")
    assert isinstance(text_sha256, str)
    return year, hol, work, doc, text_sha256


class CalendarRegister(CopyOnWrite, Aggregate):
    """The official calendar years, one register stream for all years, versioned per year."""

    class Event(Aggregate.Event):
        actor: str

    if TYPE_CHECKING:  # state set by the events' apply()
        years: dict[int, tuple[tuple[int, CalendarRegister.YearEntered], ...]]

    class Opened(Event, Aggregate.Created):
        TYPE: ClassVar[str] = "calendar.register_opened.v1"

        def apply(self, agg: CalendarRegister) -> None:
            agg.years = {}

    class YearEntered(Event):
        """One version of one year; ``supersedes`` is the register entry it replaces."""

        TYPE: ClassVar[str] = "calendar.year_entered.v1"
        year: int
        holidays: tuple[str, ...]
        workdays: tuple[str, ...]
        document: dict[str, str]
        text_sha256: str
        corrects_package: bool
        reason: str | None
        supersedes: int | None

        def apply(self, agg: CalendarRegister) -> None:
            agg.years = {**agg.years, self.year: (*agg.years.get(self.year, ()), (self.originator_version, self))}

    @staticmethod
    def id_for() -> UUID:
        return natural_id("calendar_register", "official")

    @classmethod
    def open(cls, *, at: datetime, actor: str) -> CalendarRegister:
        check_time_not_before(at, None)
        return cls._create(cls.Opened, id=cls.id_for(), timestamp=at, actor=actor)

    def enter_year(
        self, *, year: int, holidays: Iterable[str], workdays: Iterable[str], document: Mapping[str, str],
        text_sha256: str, at: datetime, actor: str, package_covers: bool, corrects_package: bool = False,
        reason: str | None = None,
    ) -> OfficialYear:
        """Enter ``year`` (or a new version of it, which needs a reason); return it as in force."""
        check_time_not_before(at, self.modified_on)
        fields = _checked(year, holidays, workdays, document, text_sha256, package_covers=package_covers,
                          corrects_package=corrects_package, reason=reason)
        previous = self.years.get(fields["year"], ())
        if previous:
            n, current = previous[-1]
            require(fields["reason"] is not None, "E_REASON_REQUIRED",
                    f"{fields['year']} was entered at entry {n}: a new version needs a reason")
            changed = any(fields[k] != getattr(current, k)
                          for k in ("holidays", "workdays", "document", "text_sha256", "corrects_package"))
            require(changed, "E_CALENDAR_UNCHANGED", f"entry {n} already says this for {fields['year']}")
        supersedes = previous[-1][0] if previous else None
        self.trigger_event(self.YearEntered, timestamp=at, actor=actor, supersedes=supersedes, **fields)
        return self.official()[fields["year"]]

    def official(self) -> dict[int, OfficialYear]:
        """Each year's version in force (its latest entry) as the domain's calendar data."""
        return {year: official_year(ev, n) for year, versions in self.years.items() for n, ev in versions[-1:]}

    def history(self, year: int) -> tuple[tuple[int, CalendarRegister.YearEntered], ...]:
        """Every version of ``year`` as (register entry number, event), oldest first."""
        return self.years.get(year, ())


def official_year(ev: Any, n: int) -> OfficialYear:
    """An :class:`OfficialYear` from a year entry (an event, or an entry body as a mapping)."""
    def get(key: str) -> Any:
        return ev[key] if isinstance(ev, Mapping) else getattr(ev, key)

    year = int(get("year"))
    return OfficialYear(year=year, holidays=frozenset(parse_day(d) for d in get("holidays")),
                        workdays=frozenset(parse_day(d) for d in get("workdays")),
                        version=year_version(year, n), corrects_package=bool(get("corrects_package")))


def _checked(
    year: object, holidays: object, workdays: object, document: object, text_sha256: object, *,
    package_covers: bool, corrects_package: object, reason: object,
) -> dict[str, Any]:
    y, hol, work, doc, digest = check_year_entry(year=year, holidays=holidays, workdays=workdays,
                                                 document=document, text_sha256=text_sha256)
    require(isinstance(corrects_package, bool), "E_CALENDAR_INVALID", "corrects_package must be true or false")
    require(reason is None or isinstance(reason, str), "E_CALENDAR_INVALID", "reason must be text")
    if corrects_package or package_covers:
        require(corrects_package is True, "E_CALENDAR_PACKAGE_COVERS",
                f"the chinesecalendar package already covers {y}: enter it only as a correction"
                " (corrects_package with a reason)", year=y)
        require(isinstance(reason, str) and bool(reason.strip()), "E_REASON_REQUIRED",
                "a correction of the package's data needs a reason")
    return {"year": y, "holidays": hol, "workdays": work, "document": doc, "text_sha256": digest,
            "corrects_package": bool(corrects_package), "reason": reason.strip() if isinstance(reason, str) else None}
