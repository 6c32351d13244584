"""The FastAPI application factory: ``create_app(container) -> FastAPI``.

Everything is built from the container that ``api.bootstrap.bootstrap`` returns (the single
composition root); nothing here runs at import time. The HTTP layer adds its own tables to the
ledger's database (``api_principals``, ``api_tokens``, ``api_idempotency``, ``api_feedback``)
and an evidence blob directory under the data directory.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from fastapi import FastAPI

from api import errors
from api.auth import Authenticator, TokenAuthenticator, TokenStore
from api.blobs import BlobStore
from api.deps import ApiConfig, CommandGate, IdempotencyStore, Services
from api.guard import BodyGuard, HostGuard, RateLimiter, WriteGate

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from api.bootstrap import Container

API_VERSION = "1.0.0"
log = logging.getLogger("caseledger.api")
access_log = logging.getLogger("caseledger.access")

DESCRIPTION = """\
CaseLedger: a tamper-evident, event-sourced ledger of administrative enforcement (涉企行政检查).

* **Commands** — one `POST` per enforcement step under `/v1/cases/{id}/…`. Every POST takes an
  `Idempotency-Key`; commands on a case take `If-Match` with the case ETag. Add `?preview=true`
  to get the entry bytes to sign on a device, then resend with `X-Key-Id` and `X-Signature`
  (client-signed); without signatures the server signs with the principal's custodial key.
* **Queries** — case file (ETag = version), history as of a point, audit trail, supervision,
  statistics, the signed checkpoint, inclusion and consistency proofs, and court bundles.
* **Public** — `/v1/notices` (no token), the disclosure page `/notices` and the per-inspection
  verification page `/v/{case_id}` reached from the 行政行为码 QR code.
* **Errors** — RFC 9457 `application/problem+json` with `code` (the rulebook code for refusals).
* **Auth** — `Authorization: Bearer <token>`; tokens are stored hashed; roles and agency scope.
"""


# ----------------------------------------------------------------------------- logging

class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, and any ``extra={"fields": {...}}``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(level: str = "info", stream: Any = None) -> None:
    """Structured JSON logs on stderr for the caseledger and uvicorn loggers."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("caseledger", "uvicorn", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.setLevel(level.upper())
        lg.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # our access log is structured


class AccessLog:
    """Pure ASGI middleware: a request id on every response and one structured line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        rid = ""
        for k, v in scope.get("headers", ()):
            if k == b"x-request-id" and 0 < len(v) <= 64:  # noqa: PLR2004
                rid = v.decode("latin-1")
        rid = rid or uuid.uuid4().hex[:16]
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                access_log.info("request", extra={"fields": {
                    "request_id": rid, "method": scope.get("method"), "path": scope.get("path"),
                    "status": status, "duration_ms": round((time.perf_counter() - t0) * 1000, 2),
                    "client": (scope.get("client") or ("", 0))[0],
                }})


# ----------------------------------------------------------------------------- the factory

def _feedback_secret(container: Container) -> bytes:
    secret = container.settings.master_secret
    if secret is None:
        return secrets.token_bytes(32)  # tokens stay verifiable: the ledger keeps only their hash
    return hmac.new(secret, b"caseledger/v1/feedback-token-secret", hashlib.sha256).digest()


def _trusted_vkeys(container: Container) -> tuple[str, ...]:
    path = Path(container.settings.data_dir) / "trust.vkey"
    lines: list[str] = []
    if path.exists():
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()
                 if ln.strip() and not ln.startswith("#")]
    if not lines and container.vault is not None:
        from ledger.checkpoint import vkey  # noqa: PLC0415
        from ledger.errors import KeyRegistryError  # noqa: PLC0415

        try:
            lines = [vkey(container.settings.origin, bytes(container.ledger_key().verify_key))]
        except KeyRegistryError:
            lines = []
    return tuple(lines)


def default_config(container: Container, **overrides: Any) -> ApiConfig:
    data = Path(container.settings.data_dir)
    cfg = ApiConfig(blob_dir=data / "blobs", http=container.settings.http,
                    trusted_vkeys=_trusted_vkeys(container), feedback_secret=_feedback_secret(container))
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def _projections(container: Container, mode: str) -> tuple[Any, Any]:
    """The read API and, unless ``mode == "off"``, a runner that keeps its tables current."""
    from projections.queries import Projections  # noqa: PLC0415
    from projections.runner import ProjectionRunner  # noqa: PLC0415

    runner = None
    if mode != "off":
        runner = ProjectionRunner(container.engine, limits=container.settings.limits)
        runner.setup()
        runner.run()
    return Projections(container.engine, container.metadata), runner


def _follower(runner: Any, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            runner.follow(stop=stop.is_set, idle=0.2)
        except Exception:
            log.exception("projection runner failed; retrying in 5 s")
            stop.wait(5)


def _checkpointer(container: Container, every: float, stop: threading.Event) -> None:
    """Sign a checkpoint whenever the log has grown, every ``every`` seconds, until ``stop``."""
    from api.bootstrap import system_clock  # noqa: PLC0415
    from ledger.bundle_export import issue_checkpoint  # noqa: PLC0415

    while not stop.wait(every):
        try:
            with container.engine.connect() as conn:
                size = container.merkle.size(conn)
                cp = container.merkle.latest_checkpoint(conn)
            if size and (cp is None or cp.size < size):
                out = issue_checkpoint(container, origin=container.settings.origin,
                                       signing_key=container.ledger_key(), clock=system_clock)
                log.info("checkpoint signed", extra={"fields": {"size": out.size, "stored": out.stored}})
            if container.settings.witnesses is not None:  # new checkpoint, or witnesses that missed the last one
                from api.witness_client import submit_configured  # noqa: PLC0415

                for o in submit_configured(container, clock=system_clock):
                    if not o.cosigned:
                        log.warning("witness did not cosign", extra={"fields": {"witness": o.witness,
                                                                                 "detail": o.detail}})
        except Exception:
            log.exception("checkpointing failed")


def create_app(
    container: Container,
    *,
    authenticator: Authenticator | None = None,
    config: ApiConfig | None = None,
    projections: Any = None,
) -> FastAPI:
    """The HTTP API and web pages over ``container``.

    Args:
        container: from ``api.bootstrap.bootstrap``.
        authenticator: default: bearer tokens in ``api_tokens`` (``api.auth.TokenAuthenticator``).
        config: blob directory, body limits, allowed hosts, trusted checkpoint keys, feedback secret, hooks.
        projections: the read side (default: ``projections.queries.Projections`` on the engine).
    """
    from api import web  # noqa: PLC0415
    from api.routers import (  # noqa: PLC0415
        blobs,
        calendar,
        cases,
        commands,
        feedback,
        health,
        notices,
        oversight,
        tiles,
    )
    from api.routers import log as log_router  # noqa: PLC0415
    from api.routers.feedback import FeedbackStore  # noqa: PLC0415

    cfg = config or default_config(container)
    tokens = TokenStore(container.engine, container.metadata)
    tokens.create_tables()
    idem = IdempotencyStore(container.engine, container.metadata)
    idem.create_table()
    fb = FeedbackStore(container.engine, container.metadata)
    fb.create_table()
    runner = None
    if projections is None:
        projections, runner = _projections(container, cfg.project)
        if cfg.after_write is None and cfg.project == "sync" and runner is not None:
            cfg.after_write = runner.run
    gate = getattr(container.app, "_api_gate", None)
    if gate is None:
        gate = CommandGate(container.app)
        container.app._api_gate = gate  # type: ignore[attr-defined]  # noqa: SLF001
    services = Services(
        container=container,
        authenticator=authenticator or TokenAuthenticator(tokens),
        blobs=BlobStore(cfg.blob_dir, max_bytes=cfg.max_upload_bytes),
        idempotency=idem,
        gate=gate,
        config=cfg,
        projections=projections,
        feedback=fb,
        runner=runner,
        feedback_by_client=RateLimiter(cfg.http.feedback_per_client, cfg.http.feedback_window_seconds),
        feedback_by_case=RateLimiter(cfg.http.feedback_per_case, cfg.http.feedback_window_seconds),
    )
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        # Requests run at once on this worker's threads; each holds at most one pooled connection
        # (the pool is sized to match: api/settings.py, ledger/pool.py).
        anyio.to_thread.current_default_thread_limiter().total_tokens = container.settings.threads
        for warning in calendar.calendar_report(container.app, container.app.clock())["warnings"]:
            log.warning("calendar", extra={"fields": {"warning": warning}})  # also in /readyz and verify
        if runner is not None and cfg.project == "follow":
            threading.Thread(target=_follower, args=(runner, stop), name="caseledger-projections",
                             daemon=True).start()
        elif runner is not None and cfg.project == "elect":  # one follower per deployment (issue 16)
            from projections.leader import follow_elected  # noqa: PLC0415

            services.follower = follow_elected(container.engine, runner, stop)
        if cfg.checkpoint_every:
            threading.Thread(target=_checkpointer, args=(container, cfg.checkpoint_every, stop),
                             name="caseledger-checkpointer", daemon=True).start()
        try:
            yield
        finally:
            stop.set()

    app = FastAPI(title="CaseLedger API", version=API_VERSION, description=DESCRIPTION, lifespan=lifespan,
                  openapi_url="/v1/openapi.json", docs_url=None, redoc_url=None)
    _offline_docs(app)
    app.state.services = services
    app.state.tokens = tokens
    errors.install(app)
    for r in (health.router, commands.build_router(), cases.router, oversight.router, notices.router,
              log_router.router, blobs.router, feedback.router, calendar.router, tiles.router):
        app.include_router(r)
    web.install(app)
    # Outermost last: the access log sees every answer, the Host check runs before anything reads
    # the body, and the body guard authenticates and bounds bodies before a route reads them.
    app.add_middleware(WriteGate, writers=container.settings.write_slots)
    app.add_middleware(BodyGuard, services=services)
    app.add_middleware(HostGuard, allowed=cfg.allowed_hosts)
    app.add_middleware(AccessLog)
    return app


DOCS_ASSETS = "/v1/docs/assets"


def _offline_docs(app: FastAPI) -> None:
    """``/v1/docs``: Swagger UI with its script and style served from this server (the assets that
    the fastapi-offline package ships), so the page works without a CDN or any network beyond it."""
    from pathlib import Path  # noqa: PLC0415

    import fastapi_offline  # noqa: PLC0415
    from fastapi.openapi.docs import get_swagger_ui_html  # noqa: PLC0415
    from fastapi.staticfiles import StaticFiles  # noqa: PLC0415
    from starlette.requests import Request  # noqa: PLC0415
    from starlette.responses import HTMLResponse  # noqa: PLC0415

    assets = Path(fastapi_offline.__file__).parent / "static"

    async def docs(_: Request) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/v1/openapi.json", title="CaseLedger API",
                                   swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png")

    app.mount(DOCS_ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")
    app.add_route("/v1/docs", docs, include_in_schema=False)


__all__ = ["API_VERSION", "AccessLog", "JsonFormatter", "configure_logging", "create_app", "default_config"]
