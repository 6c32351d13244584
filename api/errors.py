"""Errors of the HTTP layer, and the one place where any error becomes an HTTP response.

The tree::

    ApiError                        (.status, .code: a stable E_* string)
    ├── Unauthenticated             401 E_UNAUTHENTICATED (no or bad bearer token)
    ├── Forbidden                   403 E_FORBIDDEN (the principal's roles do not allow this)
    ├── NotFound                    404 E_NOT_FOUND (also for cases outside the principal's scope)
    ├── PreconditionFailed          412 E_PRECONDITION_FAILED (If-Match names another case version)
    ├── PayloadTooLarge             413 E_BODY_TOO_LARGE / E_BLOB_TOO_LARGE (a body over its limit, api/guard.py)
    ├── Unprocessable               422 (bad Idempotency-Key reuse, unknown blob, bad signature header)
    ├── Conflict                    409 (stale checkpoint, concurrent write)
    ├── TooManyRequests             429 E_RATE_LIMITED (public feedback per client or per case; Retry-After)
    └── Unavailable                 503 (database down, no signing key configured)

Mapping of the lower layers' errors (style.md §3); nothing else in ``api/`` chooses a status:

==============================  ======  ==========================================
``domain.errors.RuleViolation``  409    ``code`` is the rulebook code
``domain.errors.UnknownEntity``  404    ``E_UNKNOWN_*``
``domain.errors.UsageError``     400    ``E_USAGE`` (e.g. a naive datetime), ``E_TIMESTAMP_RANGE``
``ledger.errors.EncodingError``  400    ``E_ENCODING`` / ``E_BODY_TOO_LARGE`` / ``E_TEXT_INVALID`` /
                                        ``E_FUTURE_TIMESTAMP`` / ``E_TIMESTAMP_RANGE`` ...
``ledger.errors.KeyRegistryError`` 422  ``E_KEY_*`` (unknown, revoked, wrong actor)
``ledger.errors.VerificationError`` 422 carries ``step``, ``expected``, ``actual``
``ledger.errors.ConflictError``  409    ``E_CONFLICT`` (lost the race for (case, n))
``ledger.errors.StorageError``   503    ``E_STORAGE``
``projections.errors.BadQuery``  400    ``E_BAD_QUERY`` / ``E_BAD_CURSOR`` / ``E_BAD_AS_OF``
``sqlalchemy.exc.DataError``     400    ``E_BAD_QUERY`` (U+0000 in a text filter on PostgreSQL, ...)
``projections...UnknownCaseFile`` 404   (it is a ``domain.errors.UnknownCase``)
``projections...ProjectionFailed`` 503  the read model could not be brought up to date
request validation               422    ``E_VALIDATION`` with ``errors``
anything else                    500    ``E_INTERNAL`` (logged with its traceback)
==============================  ======  ==========================================

Every error body is RFC 9457 ``application/problem+json`` with ``type``, ``title``, ``status``,
``detail`` and ``code``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from domain.errors import RuleViolation, UnknownEntity
from domain.errors import UsageError as DomainUsageError
from ledger.errors import (
    ConflictError,
    EncodingError,
    KeyRegistryError,
    LedgerError,
    StorageError,
    VerificationError,
)
from projections.errors import BadQuery, ProjectionError, ProjectionFailed

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("caseledger.api")


class ApiError(Exception):
    """An error raised by the HTTP layer itself."""

    status = 400
    code = "E_BAD_REQUEST"

    def __init__(self, detail: str, *, code: str | None = None, headers: Mapping[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.headers = dict(headers or {})
        self.extra = extra


class BadRequest(ApiError):
    status, code = 400, "E_BAD_REQUEST"


class Unauthenticated(ApiError):
    status, code = 401, "E_UNAUTHENTICATED"

    def __init__(self, detail: str = "a valid bearer token is required") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="caseledger"'})


class Forbidden(ApiError):
    status, code = 403, "E_FORBIDDEN"


class NotFound(ApiError):
    status, code = 404, "E_NOT_FOUND"


class Conflict(ApiError):
    status, code = 409, "E_CONFLICT"


class PreconditionFailed(ApiError):
    status, code = 412, "E_PRECONDITION_FAILED"


class PayloadTooLarge(ApiError):
    status, code = 413, "E_BLOB_TOO_LARGE"


class TooManyRequests(ApiError):
    status, code = 429, "E_RATE_LIMITED"

    def __init__(self, detail: str, *, retry_after: float) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, round(retry_after + 0.5)))})


class Unprocessable(ApiError):
    status, code = 422, "E_UNPROCESSABLE"


class Unavailable(ApiError):
    status, code = 503, "E_UNAVAILABLE"


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _jsonable(v: object) -> object:
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [_jsonable(x) for x in v]
    return str(v)


def problem(status: int, code: str, detail: str, *, title: str | None = None,
            headers: Mapping[str, str] | None = None, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem response."""
    body: dict[str, Any] = {
        "type": f"urn:caseledger:problem:{code}",
        "title": title or _title(status),
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update({k: _jsonable(v) for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {}))


def _internal(exc: BaseException) -> JSONResponse:
    log.error("unhandled error", exc_info=(type(exc), exc, exc.__traceback__))
    return problem(500, "E_INTERNAL", "internal error; the request was not completed")


def problem_for(exc: BaseException) -> JSONResponse:
    """The problem response for any exception (style.md §3). The only error→HTTP mapping."""
    if isinstance(exc, ApiError):
        return problem(exc.status, exc.code, exc.detail, headers=exc.headers, **exc.extra)
    if isinstance(exc, RuleViolation):
        return problem(409, exc.code, exc.message, title="Refused by rule", **_details(exc.details))
    if isinstance(exc, UnknownEntity):
        return problem(404, exc.code, exc.message, title="Unknown entity", key=exc.key or None)
    if isinstance(exc, DomainUsageError):
        return problem(400, exc.code, str(exc))
    if isinstance(exc, VerificationError):
        return problem(422, exc.code, exc.message, title="Verification failed", step=exc.step,
                       expected=exc.expected, actual=exc.actual)
    if isinstance(exc, EncodingError):
        return problem(400, exc.code, exc.message, title="Malformed input")
    if isinstance(exc, KeyRegistryError):
        return problem(422, exc.code, exc.message, title="Signing key refused")
    if isinstance(exc, ConflictError):
        return problem(409, exc.code, exc.message, title="Concurrent write")
    if isinstance(exc, StorageError):
        log.error("storage error", exc_info=(type(exc), exc, exc.__traceback__))
        return problem(503, exc.code, "the ledger store is unavailable; retry later", title="Storage unavailable")
    if isinstance(exc, DataError):
        # A value the database cannot hold or compare: U+0000 in a text filter on PostgreSQL, an
        # integer out of the column's range. The request's fault, and nothing was written.
        log.warning("database refused a value of the request: %s", str(exc).splitlines()[0])
        return problem(400, "E_BAD_QUERY", "a value of this request cannot be stored or compared by the database "
                       "(for example U+0000 in text, or an integer out of range)", title="Bad query")
    if isinstance(exc, OperationalError):
        log.error("database error", exc_info=(type(exc), exc, exc.__traceback__))
        return problem(503, "E_STORAGE", "the database is unavailable; retry later", title="Storage unavailable")
    if isinstance(exc, LedgerError):
        return problem(400, exc.code, exc.message)
    if isinstance(exc, BadQuery):
        return problem(400, exc.code, exc.message, title="Bad query")
    if isinstance(exc, ProjectionFailed):
        log.error("projection failed", exc_info=(type(exc), exc, exc.__traceback__))
        return problem(503, exc.code, "the read model is behind and could not be updated; retry later")
    if isinstance(exc, ProjectionError):
        return problem(400, exc.code, exc.message)
    if isinstance(exc, ClientDisconnect):
        return problem(400, "E_CLIENT_DISCONNECTED", "the client went away before the request body ended")
    return _internal(exc)


def _details(details: Mapping[str, Any]) -> dict[str, Any]:
    """Rule details worth showing a client (never an unbounded blob)."""
    out = {k: v for k, v in details.items() if k not in {"type", "title", "status", "detail", "code"}}
    return {"details": out} if out else {}


def _validation(exc: RequestValidationError, *, status: int = 422) -> JSONResponse:
    """422 for the API; the public pages answer a bad query parameter 400, as they do a bad cursor."""
    errors = []
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ())]
        errors.append({"loc": loc, "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))})
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    detail = f"{'.'.join(first['loc'])}: {first['msg']}" if first["loc"] else str(first["msg"])
    return problem(status, "E_VALIDATION", detail, title="Invalid request", errors=errors)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into problem+json."""

    async def on_api(_: Request, exc: Exception) -> JSONResponse:
        return problem_for(exc)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not request.url.path.startswith("/v1/"):
            page = getattr(request.app.state, "error_page", None)
            if page is not None:  # a public page: the same HTML error page as a bad cursor (400)
                return page(request, _validation(exc, status=400))  # type: ignore[no-any-return]
        return _validation(exc)

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = getattr(exc, "problem_code", None) or {
            404: "E_NOT_FOUND", 405: "E_METHOD_NOT_ALLOWED", 401: "E_UNAUTHENTICATED", 403: "E_FORBIDDEN",
            413: "E_BODY_TOO_LARGE", 415: "E_UNSUPPORTED_MEDIA_TYPE"}.get(exc.status_code, "E_HTTP")
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail, default=str)
        return problem(exc.status_code, code, detail, headers=getattr(exc, "headers", None))

    for cls in (ApiError, RuleViolation, UnknownEntity, DomainUsageError, LedgerError, DataError, OperationalError,
                ProjectionError, ClientDisconnect):
        app.add_exception_handler(cls, on_api)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_api)


__all__ = [
    "PROBLEM_JSON", "ApiError", "BadRequest", "Conflict", "Forbidden", "NotFound", "PayloadTooLarge",
    "PreconditionFailed", "TooManyRequests", "Unauthenticated", "Unavailable", "Unprocessable", "install", "problem",
    "problem_for",
]
