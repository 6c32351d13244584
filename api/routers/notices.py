"""Public notices (双公示): unauthenticated, newest first, with cursor pagination and filters.

Only the allow-listed public fields of each notice are returned (the projection redacts); a
withdrawn notice shows its public reason and no content.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Path, Query

from api.deps import ServicesDep, parse_case_id

router = APIRouter(prefix="/v1/notices", tags=["public notices"])


@router.get("", summary="visible public notices, newest first")
def list_notices(
    services: ServicesDep,
    q: Annotated[str | None, Query(max_length=100, description="search in the public fields")] = None,
    agency: Annotated[str | None, Query(max_length=32, description="agency code")] = None,
    cursor: Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    items, nxt = services.projections.public_notices(q=q or None, agency=agency or None, cursor=cursor or None,
                                                     limit=limit)
    return {"items": items, "next_cursor": nxt}


@router.get("/{case_id}", summary="one notice (also a withdrawn or expired one, with its status)",
            responses={404: {"description": "no notice for this case"}})
def get_notice(case_id: Annotated[str, Path(max_length=64)], services: ServicesDep) -> dict[str, Any]:
    return cast("dict[str, Any]", services.projections.notice(str(parse_case_id(case_id))))
