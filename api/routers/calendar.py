"""The official calendar years (issue 14): read the signed years and the operator's warnings.

Entering a year is a command (``POST /v1/calendar/years``, registrar, in ``api.routers.commands``).
Anyone may read the years, the public included: they copy a public State Council notice.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from api.deps import PrincipalDep, ServicesDep
from api.errors import NotFound

router = APIRouter(prefix="/v1/calendar", tags=["registers"])
_RESP: dict[int | str, dict[str, Any]] = {404: {"description": "no such year entered"}}


def describe(n: int, ev: Any) -> dict[str, Any]:
    """One version of a year as the API and the CLI show it."""
    return {"n": n, "version": f"calendar:{ev.year}@{n}", "holidays": list(ev.holidays),
            "workdays": list(ev.workdays), "document": dict(ev.document), "text_sha256": ev.text_sha256,
            "corrects_package": ev.corrects_package, "reason": ev.reason, "supersedes": ev.supersedes,
            "entered_by": ev.actor, "entered_at": ev.timestamp.isoformat()}


def calendar_report(app: Any, today_us: int) -> dict[str, Any]:
    """The operator's calendar warnings for the application's calendar (``projections.calendar_years``)."""
    from domain.calendar import from_micros, legal_day  # noqa: PLC0415
    from projections.calendar_years import calendar_report as report  # noqa: PLC0415

    return report(app.calendar, legal_day(from_micros(today_us)))


@router.get("/years", summary="the signed calendar years and the calendar warnings", responses=_RESP)
def years(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    del principal  # anyone, the public included
    app = services.container.app
    reg = app.calendar_register()
    items = [] if reg is None else [{"year": y, "in_force": describe(*h[-1])} for y, h in sorted(reg.years.items())]
    return {"items": items, **calendar_report(app, app.clock())}


@router.get("/years/{year}", summary="every version of one signed calendar year", responses=_RESP)
def year(services: ServicesDep, principal: PrincipalDep,
         year: Annotated[int, Path(ge=2004, le=2200)]) -> dict[str, Any]:
    del principal
    reg = services.container.app.calendar_register()
    history = () if reg is None else reg.history(year)
    if not history:
        raise NotFound(f"no calendar entered for {year}", code="E_UNKNOWN_CALENDAR_YEAR")
    return {"year": year, "versions": [describe(n, ev) for n, ev in history]}
