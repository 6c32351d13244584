"""Queries on one case: the case file (with its ETag), history as of a point, the signed entries
with their log positions, and the court bundle.

Staff of an agency on the case, an auditor without an agency scope, and the enterprise the case
is about may read it; to everyone else the case does not exist (404). What each of them sees is
the one visibility policy of ``projections/visibility.py``: the case file field by field, the
signed entries and the bundle entry by entry (a withheld entry is its hash and position).
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, cast
from uuid import UUID

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime
from sqlalchemy import select

from api.auth import Role
from api.deps import CaseScope, PrincipalDep, ServicesDep, audience_of, etag, may_read, readable_case, require
from api.errors import Conflict
from projections.visibility import Audience, case_file_for, entry_visible, withheld_stub

router = APIRouter(prefix="/v1/cases", tags=["cases"])

CaseId = Annotated[str, Path(description="the case (inspection stream) id, a UUID", max_length=64)]
_READ: dict[int | str, dict[str, Any]] = {401: {"description": "no token"},
                                          404: {"description": "unknown case, or not yours to see"}}

def _case_file(services: Any, scope: Any) -> dict[str, Any]:
    """The projected case file, caught up first if it lags behind the ledger (read-your-writes)."""
    from projections.errors import UnknownCaseFile  # noqa: PLC0415

    try:
        cf = services.projections.case_file(str(scope.case_id))
    except UnknownCaseFile:
        cf = {}
    if int(cf.get("last_n") or 0) < services.case_version(scope.case_id):
        services.catch_up()
        cf = services.projections.case_file(str(scope.case_id))
    return cast("dict[str, Any]", cf)


@router.get("", summary="inspections you may read (id, task number, agency, enterprise, status, last step)",
            responses={401: {"description": "no token"}, 403: {"description": "a role that reads no cases"},
                       400: {"description": "bad filter or cursor"}})
def list_cases(
    services: ServicesDep, principal: PrincipalDep,
    agency: Annotated[str | None, Query(max_length=32, description="an agency on the case")] = None,
    enterprise: Annotated[str | None, Query(max_length=32, description="the enterprise's USCC")] = None,
    status: Annotated[str | None, Query(max_length=32, description="the case's stage")] = None,
    year: Annotated[int | None, Query(ge=1949, le=9999, description="the plan year")] = None,
    cursor: Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Scoped as the case reads are: staff see their agencies' cases, an enterprise its own, an
    auditor without an agency every case; other cases are left out as if they did not exist."""
    require(principal, Role.OFFICER, Role.LEGAL_REVIEWER, Role.AGENCY_HEAD, Role.PUBLISHER, Role.AUDITOR,
            Role.ENTERPRISE)
    services.catch_up()

    def visible(doc: dict[str, Any]) -> bool:
        scope = CaseScope(UUID(doc["case_id"]), frozenset(doc.get("agencies") or ()), doc.get("lead_agency") or "",
                          (doc.get("party") or {}).get("uscc") or "", int(doc.get("last_n") or 0))
        return may_read(principal, scope)

    items, nxt = services.projections.list_cases(agency=agency, uscc=enterprise, status=status, year=year,
                                                 cursor=cursor, limit=limit, visible=visible)
    return {"items": items, "next_cursor": nxt}


@router.get("/{case_id}", summary="the case file (案卷); ETag is the case version", responses={**_READ, 304: {}})
def case_file(
    case_id: CaseId, services: ServicesDep, principal: PrincipalDep,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    scope = readable_case(services, principal, case_id)
    cf = _case_file(services, scope)
    version = int(cf["last_n"])
    tag = etag(version)
    if if_none_match is not None and tag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers={"ETag": tag})
    return JSONResponse(case_file_for(audience_of(principal, scope), cf),
                        headers={"ETag": tag, "Cache-Control": "private, no-cache"})


@router.get("/{case_id}/history", summary="the case file as of entry `n`, recorded instant `at` or occurred instant "
                                          "`occurred` (replayed from the ledger)",
            responses={**_READ, 400: {"description": "bad as-of point"}})
def case_history(
    case_id: CaseId, services: ServicesDep, principal: PrincipalDep,
    n: Annotated[int | None, Query(ge=0, le=2**31, description="up to this entry number (inclusive)")] = None,
    at: Annotated[AwareDatetime | None,
                  Query(description="recorded clock: the case as the ledger stood at this instant (entries "
                                    "recorded at or before it)")] = None,
    occurred: Annotated[AwareDatetime | None,
                        Query(description="occurred clock: the steps that had happened by this instant (entries "
                                          "in order up to the first whose occurred_at is after it)")] = None,
) -> dict[str, Any]:
    scope = readable_case(services, principal, case_id)
    if sum(x is not None for x in (n, at, occurred)) > 1:
        from api.errors import BadRequest  # noqa: PLC0415

        raise BadRequest("give one of n, at (recorded clock) or occurred (occurred clock)", code="E_BAD_AS_OF")
    cf = services.projections.case_file_as_of(services.container.app, str(scope.case_id), n=n, at=at,
                                              occurred=occurred)
    return case_file_for(audience_of(principal, scope), cf)


@router.get("/{case_id}/entries", summary="the case's signed entries with their leaf indexes", responses=_READ)
def case_entries(case_id: CaseId, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    from ledger.chain import decode_entry, decode_record  # noqa: PLC0415
    from ledger.hashing import entry_hash  # noqa: PLC0415

    scope = readable_case(services, principal, case_id)
    c = services.container
    table = services.events_table()
    nd = c.merkle.nodes
    q = (select(table.c.originator_version, table.c.state, c.merkle.leaf_index, nd.c.recorded_at)
         .select_from(table.join(nd, c.merkle.leaf_on(table.c.id)))
         .where(table.c.originator_id == scope.case_id).order_by(table.c.originator_version))
    out = []
    with c.engine.connect() as conn:
        rows = conn.execute(q).all()
        cp = c.merkle.latest_checkpoint(conn)
    audience = audience_of(principal, scope)
    for n, state, idx, rec in rows:
        data, sig = decode_record(bytes(state))
        e = decode_entry(data)
        h = bytes(entry_hash(data)).hex()
        if not entry_visible(audience, e.type, e.body):
            out.append(withheld_stub(int(n), h, sig.hex(), int(idx), int(rec)))
            continue
        out.append({"n": int(n), "type": e.type, "actor": e.actor, "occurred_at": e.occurred_at,
                    "key_id": e.key.hex(), "entry": data.hex(), "sha256": h,
                    "sig": sig.hex(), "leaf_index": int(idx), "recorded_at": int(rec)})
    return {"case_id": str(scope.case_id), "entries": out,
            "checkpoint_size": cp.size if cp else None}


@router.get("/{case_id}/bundle", summary="the court bundle (offline-verifiable, msgpack)",
            responses={**_READ, 200: {"content": {"application/vnd.caseledger.bundle+msgpack": {}}},
                       409: {"description": "the case has entries after the latest checkpoint"}})
def case_bundle(case_id: CaseId, services: ServicesDep, principal: PrincipalDep) -> Response:
    from ledger.bundle_export import export_bundle  # noqa: PLC0415
    from ledger.checkpoint import vkey  # noqa: PLC0415
    from ledger.errors import KeyRegistryError, UsageError  # noqa: PLC0415

    scope = readable_case(services, principal, case_id)
    c = services.container
    signer = None
    trusted: tuple[str, ...] = ()
    try:
        key = c.ledger_key()
        signer = (c.settings.origin, key)
        trusted = (vkey(c.settings.origin, bytes(key.verify_key)),)
    except (UsageError, KeyRegistryError):
        pass
    audience = audience_of(principal, scope)
    withhold = None if audience is Audience.STAFF else (lambda e: not entry_visible(audience, e.type, e.body))
    try:
        out = export_bundle(c, str(scope.case_id), signer=signer, trusted=trusted, limits=c.settings.limits,
                            withhold=withhold)
    except UsageError as e:
        raise Conflict(str(e), code="E_CHECKPOINT_STALE") from None
    name = f"case-{scope.case_id}.clbundle"
    return Response(out.data, media_type="application/vnd.caseledger.bundle+msgpack",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "X-Checkpoint-Size": str(out.checkpoint_size),
                             "X-Bundle-Sha256": hashlib.sha256(out.data).hexdigest()})
