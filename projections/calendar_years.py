"""The official calendar as the projections see it at a log position (issue 14).

The package's years (``ledger.holidays``) plus the calendar-year register entries recorded up to
that position. A deadline recorded *pending* is computed from this calendar by
``casefile.resolve_pending``; the live projection, a rebuild and an as-of replay all build it the
same way, so they agree at every position.
"""

from __future__ import annotations

import functools
from datetime import date
from typing import Any

from sqlalchemy import Connection, distinct, select

from domain.calendar import LayeredCalendar, OfficialYear
from domain.calendar_year import CalendarRegister, official_year
from ledger.holidays import ChineseCalendar
from ledger.limits import DEFAULT_LIMITS, Limits
from projections import tables
from projections.source import Item, read_case

YEAR_ENTERED = "calendar.year_entered.v1"
REGISTER_ID = str(CalendarRegister.id_for())


@functools.cache
def package_calendar() -> ChineseCalendar:
    """The package's calendar (one instance per process; it holds no state)."""
    return ChineseCalendar()


class CalendarState:
    """Signed years seen so far, and the calendar they make with the package."""

    def __init__(self) -> None:
        self.years: dict[int, OfficialYear] = {}
        self._cal: LayeredCalendar | None = None

    def apply(self, it: Item) -> bool:
        """Fold a calendar-year entry in; True if ``it`` was one."""
        if it.type != YEAR_ENTERED:
            return False
        self.years[int(it.body["year"])] = official_year(it.body, it.n)
        self._cal = None
        return True

    def calendar(self) -> LayeredCalendar:
        """The calendar as of the last entry applied."""
        if self._cal is None:
            self._cal = LayeredCalendar(package_calendar(), self.years)
        return self._cal


def load_calendar(conn: Connection, upto: int | None = None, limits: Limits = DEFAULT_LIMITS) -> CalendarState:
    """The calendar from the register entries at positions ≤ ``upto`` (all with ``None``)."""
    state = CalendarState()
    for it in read_case(conn, REGISTER_ID, limits, upto=upto):
        state.apply(it)
    return state


def cases_with_pending(conn: Connection) -> list[str]:
    """Cases holding a deadline recorded pending (computed since or not)."""
    rows = conn.execute(select(distinct(tables.DEADLINE.c.case_id)).where(tables.DEADLINE.c.missing_year.is_not(None)))
    return sorted(r[0] for r in rows)


def calendar_report(cal: LayeredCalendar, today: date) -> dict[str, Any]:
    """What an operator must know: the signed years in force, signed years that conflict with the
    package without saying they correct it, and (from 1 November) next year's calendar missing."""
    missing, conflicts = cal.missing_year(today), cal.conflicts()
    warnings = [f"the official calendar for {missing} has not been entered (caseledger calendar add)"] * bool(missing)
    warnings += [f"signed calendar year {x['year']} ({x['version']}) disagrees with {cal.package.version} on"
                 f" {len(x['days'])} day(s) without saying it corrects the package" for x in conflicts]
    return {"package": cal.package.version,
            "signed_years": {str(y): v.version for y, v in sorted(cal.years.items())},
            "conflicts": conflicts, "missing_next_year": missing, "warnings": warnings}
