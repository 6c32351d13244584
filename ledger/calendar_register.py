"""Calendar years as signed register entries (issue 14): the commands and the calendar the domain uses.

``CalendarCommands`` is a mixin for ``LedgerApplication``. ``enter_calendar_year`` appends one
year's official arrangement (or a new version of it) to the calendar register stream; the
application's ``calendar`` answers from the ``chinesecalendar`` package for the years it covers and
from the register for the others (``domain.calendar.LayeredCalendar``). The register is read once
per command that consults the calendar, so a year entered by another process is seen by the next
command.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.application import AggregateNotFoundError

from domain.calendar import HolidayCalendar, LayeredCalendar, OfficialYear
from domain.calendar_year import FIRST_YEAR, LAST_YEAR, CalendarRegister

if TYPE_CHECKING:
    from uuid import UUID


class CalendarCommands:
    """Entering and reading the official calendar years."""

    package_calendar: HolidayCalendar | None
    repository: Any

    if TYPE_CHECKING:  # provided by eventsourcing.application.Application

        def save(self, *aggregates: Any, **kwargs: Any) -> Any:
            """Save aggregates atomically (eventsourcing's Application)."""

    def calendar_register(self) -> CalendarRegister | None:
        """The calendar register aggregate (``None`` before the first year is entered)."""
        try:
            return self.repository.get(CalendarRegister.id_for())  # type: ignore[no-any-return]
        except AggregateNotFoundError:
            return None

    def signed_years(self) -> dict[int, OfficialYear]:
        """Each entered year's version in force."""
        reg = self.calendar_register()
        return reg.official() if reg is not None else {}

    @property
    def calendar(self) -> LayeredCalendar:
        """The official calendar: the package's years, then the signed years (read on first use)."""
        assert self.package_calendar is not None, "the application was built without a holiday calendar"
        return LayeredCalendar(self.package_calendar, self.signed_years)

    def enter_calendar_year(
        self, *, year: int, holidays: Iterable[str], workdays: Iterable[str], document: Mapping[str, str],
        text_sha256: str, at: datetime, actor: str, corrects_package: bool = False, reason: str | None = None,
    ) -> OfficialYear:
        """Append one year's arrangement (a later entry for the same year supersedes it; it needs a reason)."""
        reg = self.calendar_register()
        if reg is None:
            reg = CalendarRegister.open(at=at, actor=actor)
        in_range = isinstance(year, int) and not isinstance(year, bool) and FIRST_YEAR <= year <= LAST_YEAR
        covers = in_range and self.calendar.package_covers(year)
        entered = reg.enter_year(year=year, holidays=holidays, workdays=workdays, document=document,
                                 text_sha256=text_sha256, at=at, actor=actor, package_covers=covers,
                                 corrects_package=corrects_package, reason=reason)
        self.save(reg)
        return entered

    def calendar_register_id(self) -> UUID:
        """The register stream's id."""
        return CalendarRegister.id_for()

