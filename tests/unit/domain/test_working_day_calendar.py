"""§0.3 and §4: working days with the official calendar, start day excluded, fail closed."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from enforcement_world import FakeCalendar

from domain.calendar import (
    HolidayCalendar,
    add_natural_days,
    add_wd,
    is_after_deadline,
    legal_day,
    natural_day_deadline,
    to_micros,
    working_day_deadline,
)
from domain.errors import CalendarUnavailable, UsageError
from ledger.holidays import ChineseCalendar

CAL = ChineseCalendar()


@pytest.mark.parametrize(
    ("start", "n", "due"),
    [
        (date(2025, 9, 26), 7, date(2025, 10, 13)),  # across National Day; 9-28 and 10-11 are workdays
        (date(2025, 9, 30), 3, date(2025, 10, 11)),  # withdrawal deadline on an adjusted Saturday
        (date(2025, 9, 26), 5, date(2025, 10, 10)),
        (date(2026, 2, 12), 7, date(2026, 2, 28)),  # across Spring Festival
        (date(2026, 2, 12), 20, date(2026, 3, 18)),
    ],
)
def test_working_day_deadlines_match_the_rulebooks_worked_numbers(start: date, n: int, due: date) -> None:
    assert add_wd(CAL, start, n) == due


def test_a_deadline_across_national_day_is_not_the_naive_weekday_count() -> None:
    naive = add_wd(FakeCalendar(), date(2025, 9, 26), 7)
    assert naive == date(2025, 10, 7)  # a holiday in reality
    assert add_wd(CAL, date(2025, 9, 26), 7) == date(2025, 10, 13)


def test_ninety_natural_days_from_filing_end_on_the_rulebooks_date() -> None:
    assert add_natural_days(CAL, date(2025, 7, 1), 90) == date(2025, 9, 29)


def test_a_natural_day_period_ending_on_a_holiday_moves_to_the_next_workday() -> None:
    # 2025-09-01 + 30 days = 2025-10-01 (National Day) -> first workday after the rest: 2025-10-09
    assert add_natural_days(CAL, date(2025, 9, 1), 30) == date(2025, 10, 9)


def test_the_start_day_is_never_counted_even_when_it_is_a_workday() -> None:
    assert add_wd(CAL, date(2025, 9, 1), 1) == date(2025, 9, 2)


def test_each_deadline_records_the_calendar_version_it_used() -> None:
    d = working_day_deadline(CAL, date(2025, 9, 26), 7).as_record()
    assert d == {"start": "2025-09-26", "due": "2025-10-13", "days": 7, "unit": "working_days",
                 "calendar_version": "chinesecalendar-1.11.0"}
    assert natural_day_deadline(CAL, date(2025, 7, 1), 90).as_record()["unit"] == "natural_days"


@pytest.mark.parametrize("start", [date(2027, 1, 4), date(2026, 12, 28), date(2003, 12, 31)])
def test_dates_outside_the_calendar_fail_closed(start: date) -> None:
    with pytest.raises(CalendarUnavailable) as info:
        add_wd(CAL, start, 7)
    assert info.value.code == "E_CALENDAR_UNAVAILABLE"


def test_natural_day_periods_ending_outside_the_calendar_fail_closed() -> None:
    with pytest.raises(CalendarUnavailable):
        add_natural_days(CAL, date(2026, 12, 1), 90)


def test_the_adapter_and_the_fake_satisfy_the_calendar_port() -> None:
    assert isinstance(CAL, HolidayCalendar)
    assert isinstance(FakeCalendar(), HolidayCalendar)
    assert CAL.version == "chinesecalendar-1.11.0"
    assert CAL.is_workday(date(2025, 9, 28))  # adjusted Sunday workday
    assert not CAL.is_workday(date(2025, 10, 1))


def test_legal_day_is_the_date_in_shanghai_not_utc() -> None:
    at = datetime(2025, 6, 30, 16, 0, tzinfo=UTC)  # 2025-07-01 00:00 in Shanghai
    assert legal_day(at) == date(2025, 7, 1)


def test_an_act_on_the_due_day_is_in_time_and_the_next_day_is_late() -> None:
    rec = {"due": "2025-10-13"}
    assert not is_after_deadline(rec, datetime(2025, 10, 13, 15, 59, tzinfo=UTC))
    assert is_after_deadline(rec, datetime(2025, 10, 13, 16, 0, tzinfo=UTC))


def test_naive_datetimes_are_a_usage_error() -> None:
    with pytest.raises(UsageError):
        legal_day(datetime(2025, 1, 1))  # noqa: DTZ001
    with pytest.raises(UsageError):
        to_micros(datetime(2025, 1, 1))  # noqa: DTZ001


def test_working_day_count_must_be_positive() -> None:
    with pytest.raises(UsageError):
        add_wd(CAL, date(2025, 1, 2), 0)
