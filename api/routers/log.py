"""The transparency log: the latest signed checkpoint and RFC 9162 proofs.

These are verification material (hashes and signatures only, no case content), so the public
may read them: anyone can check that the log only grows and that an entry is in it.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, Response

from api.auth import Role
from api.deps import PrincipalDep, ServicesDep, require
from api.errors import BadRequest, NotFound, Unavailable

router = APIRouter(prefix="/v1/log", tags=["transparency log"])


def _b64(h: bytes) -> str:
    return base64.b64encode(bytes(h)).decode()


@router.get("/checkpoint", response_class=PlainTextResponse, summary="the latest signed checkpoint (C2SP note)",
            responses={200: {"content": {"text/plain": {}}}, 404: {"description": "no checkpoint yet"}})
def latest_checkpoint(services: ServicesDep) -> Response:
    c = services.container
    with c.engine.connect() as conn:
        cp = c.merkle.latest_checkpoint(conn)
        note = None if cp is None else c.merkle.cosigned_note(conn, cp)  # with witness cosignatures
    if cp is None or note is None:
        raise NotFound("no checkpoint has been signed yet", code="E_NO_CHECKPOINT")
    return PlainTextResponse(note, media_type="text/plain; charset=utf-8",
                             headers={"Cache-Control": "no-cache", "X-Tree-Size": str(cp.size)})


@router.get("/size", summary="the current number of leaves and the root at that size")
def log_size(services: ServicesDep) -> dict[str, Any]:
    c = services.container
    with c.engine.connect() as conn:
        size = c.merkle.size(conn)
        root = c.merkle.root(conn, size) if size else b""
    return {"size": size, "root": _b64(root) if size else None}


@router.get("/proofs/inclusion", summary="RFC 9162 inclusion proof of leaf `index` in the tree of `size` leaves")
def inclusion_proof(
    services: ServicesDep,
    index: Annotated[int, Query(ge=0, le=2**62)],
    size: Annotated[int | None, Query(ge=1, le=2**62, description="default: the latest checkpoint's size")] = None,
) -> dict[str, Any]:
    c = services.container
    with c.engine.connect() as conn:
        current = c.merkle.size(conn)
        if size is None:
            cp = c.merkle.latest_checkpoint(conn)
            if cp is None:
                raise NotFound("no checkpoint has been signed yet; pass size", code="E_NO_CHECKPOINT")
            size = cp.size
        if size > current:
            raise BadRequest(f"the log has {current} leaves, fewer than {size}", code="E_BAD_TREE_SIZE")
        if index >= size:
            raise BadRequest(f"index {index} is not below size {size}", code="E_BAD_LEAF_INDEX")
        leaf = c.merkle.leaf(conn, index)
        proof = c.merkle.inclusion_proof(conn, index, size)
        root = c.merkle.root(conn, size)
    assert leaf is not None
    return {"index": index, "size": size, "leaf_hash": _b64(leaf.leaf_hash), "entry_hash": _b64(leaf.entry_hash),
            "recorded_at": leaf.recorded_at, "root": _b64(root), "proof": [_b64(h) for h in proof]}


@router.get("/proofs/consistency", summary="RFC 9162 consistency proof from tree size `first` to `second`")
def consistency_proof(
    services: ServicesDep,
    first: Annotated[int, Query(ge=1, le=2**62)],
    second: Annotated[int | None, Query(ge=1, le=2**62, description="default: the current size")] = None,
) -> dict[str, Any]:
    c = services.container
    with c.engine.connect() as conn:
        current = c.merkle.size(conn)
        second = current if second is None else second
        if second > current:
            raise BadRequest(f"the log has {current} leaves, fewer than {second}", code="E_BAD_TREE_SIZE")
        if first > second:
            raise BadRequest("first must not exceed second", code="E_BAD_TREE_SIZE")
        proof = c.merkle.consistency_proof(conn, first, second)
        root1, root2 = c.merkle.root(conn, first), c.merkle.root(conn, second)
    return {"first": first, "second": second, "first_root": _b64(root1), "second_root": _b64(root2),
            "proof": [_b64(h) for h in proof]}


@router.post("/checkpoints", status_code=201, summary="sign a checkpoint of the log as it is now (auditor)",
             responses={401: {}, 403: {}, 409: {"description": "equivocation"}, 503: {"description": "no ledger key"}})
def issue_checkpoint(services: ServicesDep, principal: PrincipalDep) -> Response:
    from api.bootstrap import system_clock  # noqa: PLC0415
    from ledger.bundle_export import issue_checkpoint as issue  # noqa: PLC0415
    from ledger.errors import KeyRegistryError, UsageError  # noqa: PLC0415

    require(principal, Role.AUDITOR)
    c = services.container
    try:
        key = c.ledger_key()
    except (UsageError, KeyRegistryError) as e:
        raise Unavailable(f"this server cannot sign checkpoints: {e}", code="E_NO_LEDGER_KEY") from None
    cp = issue(c, origin=c.settings.origin, signing_key=key, clock=system_clock)
    return PlainTextResponse(cp.note, status_code=201 if cp.stored else 200,
                             media_type="text/plain; charset=utf-8", headers={"X-Tree-Size": str(cp.size)})
