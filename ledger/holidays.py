"""Adapter: the ``chinesecalendar`` package as a :class:`domain.calendar.HolidayCalendar`.

``chinese_calendar`` raises ``NotImplementedError`` for years it has no data for
(before 2004, after 2026 in 1.11.0).  This adapter turns that into the domain's
``CalendarUnavailable`` (``E_CALENDAR_UNAVAILABLE``) so every deadline fails closed.
It imports nothing outside the standard library, ``chinese_calendar`` and ``domain``.
"""

from __future__ import annotations

from datetime import date

import chinese_calendar

from domain.errors import CalendarUnavailable


class ChineseCalendar:
    """Official working days from the State Council holiday notices (via chinesecalendar).

    Attributes:
        version: ``"chinesecalendar-<package version>"``, recorded with every deadline.
    """

    def __init__(self) -> None:
        self._version = f"chinesecalendar-{chinese_calendar.__version__}"

    @property
    def version(self) -> str:
        """Identifier of the calendar data used."""
        return self._version

    def is_workday(self, d: date) -> bool:
        """True if ``d`` is an official working day (adjusted weekend workdays included).

        Raises:
            CalendarUnavailable: the package has no data for ``d.year``.
        """
        try:
            return bool(chinese_calendar.is_workday(d))
        except NotImplementedError as e:
            raise CalendarUnavailable(
                f"holiday calendar {self._version} has no data for {d.isoformat()}",
                day=d.isoformat(),
                calendar_version=self._version,
            ) from e
