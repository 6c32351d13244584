"""Oversight reads: the audit trail, supervision views and annual statistics.

Auditors and agency heads only. A principal with an agency scope sees its own agency; the
``agency`` filter cannot widen that (asking for another agency is 403). An auditor with no
agency scope (a supervision body) sees all agencies.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from api.auth import Principal, Role
from api.deps import PrincipalDep, ServicesDep, require
from api.errors import Forbidden
from projections.visibility import Audience

router = APIRouter(prefix="/v1", tags=["oversight"])

Agency = Annotated[str | None, Query(max_length=32, description="filter by agency code")]
Year = Annotated[int, Query(ge=2000, le=2100)]
_RESP: dict[int | str, dict[str, Any]] = {401: {"description": "no token"}, 403: {"description": "not allowed"}}


def _agency(principal: Principal, wanted: str | None) -> str | None:
    require(principal, Role.AUDITOR, Role.AGENCY_HEAD)
    if principal.agency is None and principal.has(Role.AUDITOR):
        return wanted
    if principal.agency is None:
        raise Forbidden("an agency head without an agency sees nothing", code="E_FORBIDDEN_SCOPE")
    if wanted is not None and wanted != principal.agency:
        raise Forbidden("you may only see your own agency", code="E_FORBIDDEN_SCOPE")
    return principal.agency


@router.get("/audit-trail", tags=["oversight"], summary="entries in log order with signature status",
            responses=_RESP)
def audit_trail(
    services: ServicesDep, principal: PrincipalDep,
    agency: Agency = None,
    actor: Annotated[str | None, Query(max_length=128)] = None,
    case: Annotated[str | None, Query(max_length=64)] = None,
    type: Annotated[str | None, Query(max_length=128)] = None,  # noqa: A002
    since: Annotated[AwareDatetime | None, Query()] = None,
    until: Annotated[AwareDatetime | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    scoped = _agency(principal, agency)
    # Auditors and agency heads read the audit trail as staff (projections/visibility.py).
    items, nxt = services.projections.audit_trail(actor=actor, agency=scoped, case=case, type=type, since=since,
                                                  until=until, cursor=cursor, limit=limit, audience=Audience.STAFF)
    if scoped is not None:  # never show another agency's rows, whatever the projection stored
        items = [i for i in items if i.get("agency_code") == scoped]
    return {"items": items, "next_cursor": nxt}


@router.get("/supervision/deadlines", summary="overdue and upcoming statutory deadlines", responses=_RESP)
def deadlines(
    services: ServicesDep, principal: PrincipalDep, agency: Agency = None,
    horizon_days: Annotated[int, Query(ge=0, le=366)] = 7,
    now: Annotated[AwareDatetime | None, Query(description="default: now")] = None,
) -> dict[str, Any]:
    scoped = _agency(principal, agency)
    return cast("dict[str, Any]", services.projections.supervision_deadlines(
        now or services.now(), horizon_days=horizon_days, agency=scoped))


@router.get("/supervision/inspection-counts", summary="R12: inspections per enterprise against the yearly cap",
            responses=_RESP)
def inspection_counts(services: ServicesDep, principal: PrincipalDep, year: Year,
                      agency: Agency = None) -> dict[str, Any]:
    scoped = _agency(principal, agency)
    return {"year": year, "items": services.projections.inspection_counts(year, agency=scoped)}


@router.get("/supervision/role-conflicts", summary="R37: one person in two roles on a case", responses=_RESP)
def role_conflicts(services: ServicesDep, principal: PrincipalDep, agency: Agency = None) -> dict[str, Any]:
    scoped = _agency(principal, agency)
    return {"items": services.projections.role_conflicts(agency=scoped)}


@router.get("/supervision/officer-activity", summary="what each officer did (never a target or quota, R20)",
            responses=_RESP)
def officer_activity(services: ServicesDep, principal: PrincipalDep, agency: Agency = None,
                     year: Annotated[int | None, Query(ge=2000, le=2100)] = None) -> dict[str, Any]:
    scoped = _agency(principal, agency)
    return {"items": services.projections.officer_activity(year=year, agency=scoped)}


@router.get("/supervision/feedback", summary="R20/R21: enterprise feedback by prohibition code", responses=_RESP)
def feedback(services: ServicesDep, principal: PrincipalDep,
             year: Annotated[int | None, Query(ge=2000, le=2100)] = None) -> dict[str, Any]:
    scoped = _agency(principal, None)
    return {"submitted": services.feedback.by_code(year=year, agency=scoped),
            "ledger": services.projections.feedback_by_code(year=year, agency=scoped)}


@router.get("/statistics/annual", summary="R61: annual statistics with a reproducible replay hash",
            responses=_RESP)
def annual_statistics(services: ServicesDep, principal: PrincipalDep, year: Year,
                      agency: Agency = None) -> dict[str, Any]:
    scoped = _agency(principal, agency)
    return cast("dict[str, Any]", services.projections.annual_statistics(year, agency=scoped))
