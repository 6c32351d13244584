"""Evidence upload: the request body streams into the content-addressed blob store.

Send the raw bytes as the body (any ``Content-Type``, which is echoed back as the media type).
The SHA-256 is computed while the bytes arrive; an upload over the size limit is cut off with
413 and nothing is kept. Then log the evidence with ``POST /v1/cases/{id}/evidence`` naming the
hash: the ledger entry refers to the blob by hash and size, never holds the bytes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from api.auth import Role
from api.blobs import BlobEmpty, BlobTooLarge
from api.deps import PrincipalDep, ServicesDep, require
from api.errors import BadRequest, PayloadTooLarge, Unprocessable

router = APIRouter(prefix="/v1/blobs", tags=["evidence blobs"])


@router.post("", status_code=201, summary="upload an evidence file (streamed, hashed, content-addressed)",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                 "image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}},
             responses={201: {"description": "stored"}, 200: {"description": "identical content already stored"},
                        401: {}, 403: {}, 413: {"description": "over the size limit; nothing kept"},
                        422: {"description": "content does not match X-Content-Sha256"}})
async def upload_blob(
    request: Request, services: ServicesDep, principal: PrincipalDep,
    content_length: Annotated[int | None, Header(ge=0)] = None,
    x_content_sha256: Annotated[
        str | None,
        Header(alias="X-Content-Sha256", max_length=71, description="optional: refuse if the content hashes otherwise"),
    ] = None,
) -> Any:
    require(principal, Role.OFFICER)
    store = services.blobs
    if content_length is not None and content_length > store.max_bytes:
        raise PayloadTooLarge(f"the limit is {store.max_bytes} bytes")
    try:
        blob = await store.put_stream(request.stream(), expected_sha256=x_content_sha256)
    except BlobTooLarge as e:
        raise PayloadTooLarge(str(e)) from None
    except BlobEmpty as e:
        raise BadRequest(str(e), code="E_BLOB_EMPTY") from None
    except ValueError as e:
        raise Unprocessable(str(e), code="E_BLOB_HASH_MISMATCH") from None
    media = request.headers.get("content-type", "application/octet-stream")
    return JSONResponse({"sha256": blob.sha256, "size": blob.size, "media_type": media,
                         "created": blob.created}, status_code=201 if blob.created else 200,
                        headers={"Location": f"/v1/blobs/{blob.sha256}"})
