"""Liveness (``/healthz``) and readiness (``/readyz``), and who the caller is (``/v1/me``)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from api.deps import PrincipalDep, ServicesDep
from api.errors import problem
from api.routers.calendar import calendar_report
from projections.runner import recorded_failures

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="the process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="the database answers, the log is readable and every projection can follow it",
            responses={503: {"description": "not ready: the database, or a projection stopped before an entry"}})
def readyz(services: ServicesDep) -> Any:
    c = services.container
    t0 = time.perf_counter()
    try:
        with c.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            size = c.merkle.size(conn)
            failed = recorded_failures(conn)
    except Exception as e:  # noqa: BLE001 - readiness reports any failure
        return problem(503, "E_NOT_READY", f"database not reachable: {type(e).__name__}")
    if failed:
        first = min(failed, key=lambda n: failed[n][0])
        return problem(503, "E_PROJECTION_FAILED",
                       f"projection {first} stopped before the entry at position {failed[first][0]}; "
                       "the read model serves what it had before it",
                       log_size=size, projections={n: {"position": p, "error": e} for n, (p, e) in failed.items()})
    # Still ready: a missing or conflicting calendar year is an operator's warning, not an outage.
    calendar = calendar_report(c.app, c.app.clock())
    return {"status": "ready", "log_size": size, "db_ms": round((time.perf_counter() - t0) * 1000, 2),
            "calendar": calendar, "warnings": calendar["warnings"]}


@router.get("/v1/me", tags=["operations"], summary="the authenticated principal")
def me(principal: PrincipalDep) -> dict[str, Any]:
    return {"id": principal.id, "roles": sorted(principal.roles), "agency": principal.agency,
            "uscc": principal.uscc, "name": principal.name}
