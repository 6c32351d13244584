"""The layered official calendar and the calendar-year register (issue 14), with synthetic years."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from domain.calendar import (
    LayeredCalendar,
    OfficialYear,
    deadline_or_pending,
    due_day,
    is_after_deadline,
    working_day_deadline,
)
from domain.calendar_year import CalendarRegister
from domain.errors import CalendarUnavailable, RuleViolation


class Package:
    """A fake package calendar covering ``years``: Monday–Friday plus ``holidays``."""

    version = "pkg-1"

    def __init__(self, years: range, holidays: frozenset[date] = frozenset()) -> None:
        self.years, self.holidays = years, holidays

    def is_workday(self, d: date) -> bool:
        if d.year not in self.years:
            raise CalendarUnavailable(f"no data for {d}", day=d.isoformat())
        return d.weekday() < 5 and d not in self.holidays


Y2099 = OfficialYear(2099, holidays=frozenset({date(2099, 1, 1), date(2099, 1, 2)}),
                     workdays=frozenset({date(2099, 1, 4)}), version="calendar:2099@2")
AT = datetime(2098, 12, 1, tzinfo=UTC)


def test_a_signed_year_answers_for_a_year_the_package_does_not_cover() -> None:
    cal = LayeredCalendar(Package(range(2098, 2099)), {2099: Y2099})
    assert cal.is_workday(date(2099, 1, 4))  # an adjusted Sunday workday
    assert not cal.is_workday(date(2099, 1, 2))  # a Friday holiday
    d = working_day_deadline(cal, date(2098, 12, 31), 2)
    assert d.due == date(2099, 1, 5)  # Jan 1-2 holidays, Sat 3 rests, Sun 4 works (1), Mon 5 (2)
    assert d.calendar_version == "pkg-1+calendar:2099@2"
    assert working_day_deadline(cal, date(2099, 1, 5), 1).calendar_version == "calendar:2099@2"


def test_without_the_year_a_started_deadline_is_pending_and_names_the_year() -> None:
    cal = LayeredCalendar(Package(range(2098, 2099)), {})
    d = deadline_or_pending(cal, date(2098, 12, 30), 5)
    assert (d.due, d.missing_year) == (None, 2099)
    record = d.as_record()
    assert record["flag"] == "W_CALENDAR_PENDING"
    assert due_day(record, cal) is None
    assert not is_after_deadline(record, datetime(2099, 3, 1, tzinfo=UTC), cal)  # not known to be late
    later = LayeredCalendar(Package(range(2098, 2099)), {2099: Y2099})
    assert due_day(record, later) == date(2099, 1, 7)
    assert is_after_deadline(record, datetime(2099, 3, 1, tzinfo=UTC), later)


def test_the_package_wins_a_disagreement_unless_the_signed_year_says_it_corrects_it() -> None:
    package = Package(range(2098, 2100))
    conflicting = LayeredCalendar(package, {2099: Y2099})
    assert not conflicting.is_workday(date(2099, 1, 4))  # the package says Sunday rests
    [conflict] = conflicting.conflicts()
    assert conflict["year"] == 2099
    assert conflict["days"] == ["2099-01-01", "2099-01-02", "2099-01-04"]
    correcting = OfficialYear(2099, Y2099.holidays, Y2099.workdays, "calendar:2099@3", corrects_package=True)
    cal = LayeredCalendar(package, {2099: correcting})
    assert cal.is_workday(date(2099, 1, 4))
    assert cal.conflicts() == []


def test_next_years_missing_calendar_is_reported_from_the_first_of_november() -> None:
    cal = LayeredCalendar(Package(range(2098, 2099)), {})
    assert cal.missing_year(date(2098, 10, 31)) is None
    assert cal.missing_year(date(2098, 11, 1)) == 2099
    assert LayeredCalendar(Package(range(2098, 2099)), {2099: Y2099}).missing_year(date(2098, 11, 1)) is None


def test_the_register_keeps_every_version_and_the_latest_is_in_force() -> None:
    reg = CalendarRegister.open(at=AT, actor="reg")
    fields = {"year": 2099, "holidays": ["2099-01-01"], "workdays": [], "text_sha256": "b" * 64,
              "document": {"issuer": "SYNTHETIC", "number": "T-1", "issued_on": "2098-11-30"}}
    first = reg.enter_year(**fields, at=AT, actor="reg", package_covers=False)
    assert first.version == "calendar:2099@2"
    with pytest.raises(RuleViolation) as info:
        reg.enter_year(**fields, reason="same again", at=AT, actor="reg", package_covers=False)
    assert info.value.code == "E_CALENDAR_UNCHANGED"
    second = reg.enter_year(**{**fields, "holidays": ["2099-01-01", "2099-01-02"]}, reason="corrected", at=AT,
                            actor="reg", package_covers=False)
    assert second.version == "calendar:2099@3"
    assert [n for n, _ in reg.history(2099)] == [2, 3]
    assert reg.official()[2099].holidays == frozenset({date(2099, 1, 1), date(2099, 1, 2)})


def test_the_verifiers_calendar_register_id_is_the_domains() -> None:
    from ledger.keys import CALENDAR_REGISTER_ID

    assert str(CalendarRegister.id_for()) == CALENDAR_REGISTER_ID
