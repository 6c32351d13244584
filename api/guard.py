"""Request bounds enforced before a body is read, and the public feedback rate limit.

:class:`BodyGuard` is a pure ASGI middleware in front of the application. For every request that
carries a body (a ``Content-Length`` above zero, or any ``Transfer-Encoding``):

1. **Authenticate first.** Unless the path is one of the public write paths (``POST
   /v1/feedback`` and the feedback form ``POST /v/{case}/feedback``), a request without a valid
   bearer token is answered ``401`` before one byte of its body is read. The principal found is
   kept in the request's state, so the route's dependency does not look the token up again.
2. **Bound the body.** The limit depends on the route: evidence uploads ``HttpLimits.blob_bytes``,
   the public write paths ``public_body_bytes``, everything else ``json_body_bytes``. A declared
   ``Content-Length`` over the limit is answered ``413`` at once; a body streamed without one is
   counted as it arrives and cut off with ``413`` at the limit.

Either way the client gets ``application/problem+json`` and nothing is written. uvicorn stops
reading a connection whose application does not consume the body, so an oversized body costs
the server no more than its socket buffers.

:class:`RateLimiter` counts attempts in a sliding window per key (bounded memory). The feedback
endpoints use two: per client address and per case (``HttpLimits.feedback_per_*``).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from api.errors import BadRequest, PayloadTooLarge, Unauthenticated, problem_for

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from api.deps import Services

#: Paths that take a body from anyone (no token): R21 feedback, as JSON and as the page's form.
PUBLIC_WRITE = re.compile(r"^/(v1/feedback|v/[^/]+/feedback)/?$")
BLOB_UPLOAD = re.compile(r"^/v1/blobs/?$")


class BodyTooLarge(HTTPException):
    """A streamed body passed its limit (an ``HTTPException`` so FastAPI's body reader lets it through)."""

    def __init__(self, detail: str, code: str) -> None:
        super().__init__(413, detail)
        self.problem_code = code


class BodyGuard:
    """Authenticate before the body, and bound the body (see the module docstring)."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services

    def limit_for(self, method: str, path: str) -> tuple[int, bool]:
        """(body limit in bytes, whether a token is required) for a request."""
        http = self.services.config.http
        if method == "POST" and BLOB_UPLOAD.match(path):
            return self.services.blobs.max_bytes, True
        if method == "POST" and PUBLIC_WRITE.match(path):
            return http.public_body_bytes, False
        return http.json_body_bytes, True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length: int | None = None
        chunked = False
        authorization: str | None = None
        for k, v in scope.get("headers", ()):
            if k == b"content-length":
                try:
                    length = int(v)
                except ValueError:
                    length = None
            elif k == b"transfer-encoding":
                chunked = True
            elif k == b"authorization":
                authorization = v.decode("latin-1")
        if not chunked and not length:
            await self.app(scope, receive, send)
            return
        limit, needs_token = self.limit_for(scope.get("method", ""), scope.get("path", ""))
        code = "E_BLOB_TOO_LARGE" if BLOB_UPLOAD.match(scope.get("path", "")) else "E_BODY_TOO_LARGE"
        if needs_token:
            if authorization is None or not authorization.strip():
                await self._refuse(Unauthenticated(), scope, receive, send)
                return
            principal = await run_in_threadpool(self.services.authenticator.authenticate, authorization)
            if principal is None:
                await self._refuse(Unauthenticated("the bearer token is unknown, revoked or malformed"),
                                   scope, receive, send)
                return
            scope.setdefault("state", {})["principal"] = (authorization, principal)
        if length is not None and length > limit:
            await self._refuse(PayloadTooLarge(f"the request body is {length} bytes; the limit here is {limit}",
                                               code=code, limit=limit), scope, receive, send)
            return
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Raised inside the route's body read; FastAPI passes HTTPException through to
                    # api.errors, which answers problem+json.
                    raise BodyTooLarge(f"the request body is over the limit of {limit} bytes", code)
            return message

        await self.app(scope, bounded, send)

    @staticmethod
    async def _refuse(exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_for(exc)
        response.headers["Connection"] = "close"  # the unread body is never read
        await response(scope, receive, send)


class RateLimiter:
    """At most ``limit`` attempts per key in any ``window`` seconds (thread-safe, bounded memory)."""

    def __init__(self, limit: int, window: float, *, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> float | None:
        """Count one attempt; None if allowed, else the seconds until the next is allowed."""
        t = time.monotonic() if now is None else now
        with self._lock:
            q = self._hits.get(key)
            if q is None:
                q = self._hits[key] = deque()
                while len(self._hits) > self.max_keys:
                    self._hits.popitem(last=False)
            else:
                self._hits.move_to_end(key)
            while q and q[0] <= t - self.window:
                q.popleft()
            if len(q) >= self.limit:
                return max(q[0] + self.window - t, 0.001)
            q.append(t)
            return None


def client_address(scope_or_request: Any) -> str:
    """The client's address as the server saw it (``serve`` does not trust forwarding headers)."""
    client = getattr(scope_or_request, "client", None)
    return client.host if client is not None else "unknown"




class HostGuard:
    """Refuse a request whose ``Host`` is not one of ``allowed`` (400 problem+json).

    Pages put their own absolute URL into 行政行为码 QR codes; without a configured public URL that
    URL comes from the request, so the ``Host`` a client sends must be one the operator named.
    """

    def __init__(self, app: ASGIApp, allowed: tuple[str, ...]) -> None:
        self.app = app
        self.allowed = frozenset(h.lower() for h in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.allowed:
            await self.app(scope, receive, send)
            return
        host = ""
        for k, v in scope.get("headers", ()):
            if k == b"host":
                host = v.decode("latin-1")
                break
        if host_name(host) not in self.allowed:
            response = problem_for(BadRequest("the Host header names a host this server does not serve",
                                              code="E_HOST_NOT_ALLOWED"))
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def host_name(host: str) -> str:
    """``Host`` header → lower-case name without the port (``[::1]:8000`` → ``::1``)."""
    h = host.strip().lower()
    if h.startswith("["):
        return h[1:h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


__all__ = ["BLOB_UPLOAD", "PUBLIC_WRITE", "BodyGuard", "HostGuard", "RateLimiter", "client_address", "host_name"]


class WriteGate:
    """At most ``writers`` writing requests (any method but GET, HEAD, OPTIONS; evidence uploads to
    ``/v1/blobs``, which take no lock, excepted) of this worker run at once.

    Commands serialise on the log's lock in the database; a command waiting for it holds one of
    the worker's threads and a pooled connection. Without a bound, a burst of commands takes every
    thread and reads queue behind them for a thread that is only waiting for a lock they do not
    need. Writers beyond ``writers`` wait here, in the event loop, holding neither (issue 16,
    item 4; docs/operations/running.md "Threads and connections").
    """

    READS = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, app: ASGIApp, writers: int) -> None:
        self.app = app
        self.writers = writers
        self._gate: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope.get("method") in self.READS
                or str(scope.get("path", "")).startswith("/v1/blobs")):
            await self.app(scope, receive, send)
            return
        if self._gate is None:  # made in the server's event loop
            self._gate = asyncio.Semaphore(self.writers)
        async with self._gate:
            await self.app(scope, receive, send)
