"""Typed dependencies of the routers, and the command pipeline every POST goes through.

The command pipeline (:class:`CommandContext.run`):

1. Parse the request's control headers: ``Idempotency-Key``, ``If-Match``, ``X-Key-Id`` and
   ``X-Signature`` (or the body fields ``key_id`` / ``signatures`` / ``signed_entries``).
2. ``?preview=true``: run the command in *preview* mode. The ledger builds the entries it would
   append (``LedgerApplication.preview``) and nothing is written; the response carries each
   entry's canonical bytes, its hash and the exact message to sign. Previews are not recorded
   under idempotency keys (they write nothing).
3. With an ``Idempotency-Key``: look ``(principal, key)`` up in ``api_idempotency``. A stored
   response for the same request hash is replayed byte for byte; the same key with another
   request is refused (422). Nothing is reserved.
4. Run the command (an ``EnforcementCommands`` method) with its save held back. The save hook
   checks ``If-Match`` against the version the command loaded (412). The response is built from
   the command's result, then the held-back save appends the entries and, in the same
   transaction, stores the response under the idempotency key (``IdempotencyStore.writer``
   through the recorder's ``also`` hook): a crash leaves both or neither, never a dead
   reservation. The request's signer is used: the client's signatures
   (``ledger.signers.ClientSignatures``) when given, otherwise the application's own signer (the
   custodial vault). A lost race on ``(case, n)`` is retried for custodial commands without
   ``If-Match``; a lost race on the idempotency key rolls the entries back and replays the winner.
5. A refused request writes nothing at all (no entries, no idempotency record).

The hook and the per-request signer are installed on the application instance by
:class:`CommandGate` (a ``contextvars`` variable selects the request's state, so concurrent
requests in the thread pool never see each other's signer).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

from fastapi import Depends, Header, Query, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    select,
)

from api.auth import PUBLIC, Authenticator, Principal, Role
from api.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    Unauthenticated,
    Unprocessable,
)
from api.guard import RateLimiter
from api.settings import HttpLimits
from ledger.codec import from_micros
from ledger.errors import ConflictError, KeyRegistryError, UsageError
from ledger.hashing import entry_hash
from ledger.signers import ClientSignatures
from ledger.signing import ENTRY_CONTEXT, signed_message
from projections.visibility import Audience

if TYPE_CHECKING:
    from api.blobs import BlobStore
    from api.bootstrap import Container

_HEX = re.compile(r"^[0-9a-fA-F]*$")
_IDEM_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
CONFLICT_RETRIES = 3  # a command that lost a version race is reloaded and re-run this many times


# =========================================================================== configuration

@dataclass
class ApiConfig:
    """Options of the HTTP layer (built by ``create_app`` from settings, overridable in tests)."""

    blob_dir: Path
    #: Body limits and the public feedback rate limits (``Settings.http``).
    http: HttpLimits = field(default_factory=HttpLimits)
    #: Verifier keys (note ``vkey`` lines) trusted for checkpoints on the verification page.
    trusted_vkeys: tuple[str, ...] = ()
    #: Secret for the R21 feedback token given to the enterprise (derived from the master secret).
    feedback_secret: bytes | None = None
    #: Absolute base URL put into 行政行为码 QR codes (``None``: the request's own base URL).
    public_base_url: str | None = None
    #: Called after every successful command (e.g. to bring the projections up to date).
    after_write: Callable[[], None] | None = None
    #: Sign a checkpoint every N seconds while the log grows (None: only on request).
    checkpoint_every: float | None = None
    #: How the projections follow the log: ``sync`` (after every command, before the response:
    #: read-your-writes; tests and single users), ``elect`` (``serve``'s default: each process
    #: offers a follower thread and one, elected by a database lock, follows; see
    #: ``projections/leader.py``), ``follow`` (a follower thread in every process), or ``off``
    #: (another process runs them, e.g. ``caseledger project --follow``).
    project: str = "sync"
    #: Host names a request may carry (``Host`` header); empty: any. ``serve`` refuses to start
    #: with neither this nor ``public_base_url`` outside the demo.
    allowed_hosts: tuple[str, ...] = ()

    @property
    def max_upload_bytes(self) -> int:
        return self.http.blob_bytes


@dataclass
class Services:
    """Everything the routers need, built once by ``create_app`` and kept on ``app.state``."""

    container: Container
    authenticator: Authenticator
    blobs: BlobStore
    idempotency: IdempotencyStore
    gate: CommandGate
    config: ApiConfig
    projections: Any
    feedback: Any  # api.routers.feedback.FeedbackStore
    runner: Any = None  # projections.runner.ProjectionRunner, or None when another process projects
    #: With ``project="elect"``: this process's ``projections.leader.Follower`` (``.elected`` while it follows).
    follower: Any = None
    started: float = field(default_factory=time.time)
    #: R21 feedback attempts per client address and per case (``HttpLimits.feedback_*``).
    feedback_by_client: RateLimiter | None = None
    feedback_by_case: RateLimiter | None = None
    #: Who each case belongs to. A case's agencies, lead and enterprise are fixed at dispatch, so
    #: they are cached for the life of the process (bounded).
    scopes: dict[UUID, CaseScope] = field(default_factory=dict)
    _events: Any = None

    def events_table(self) -> Any:
        if self._events is None:
            from ledger.audit import events_table  # noqa: PLC0415

            self._events = events_table(self.container.engine)
        return self._events

    def case_version(self, case_id: UUID) -> int:
        """The case's current version (its last entry number), from the ledger."""
        from sqlalchemy import func  # noqa: PLC0415

        t = self.events_table()
        with self.container.engine.connect() as conn:
            v = conn.execute(select(func.max(t.c.originator_version)).where(t.c.originator_id == case_id)).scalar()
        return int(v or 0)

    def now(self) -> datetime:
        return from_micros(self.container.app.clock())

    def catch_up(self) -> None:
        """Bring the projections up to the head of the log (no-op when another process projects)."""
        if self.runner is not None:
            self.runner.run()


def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(get_services)]


# =========================================================================== principals

_BEARER = HTTPBearer(auto_error=False, scheme_name="bearer",
                     description="An API token (`Authorization: Bearer <token>`); omit for public access.")


def current_principal(
    request: Request,
    services: ServicesDep,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)] = None,
) -> Principal:
    """The caller: the public when no ``Authorization`` header is sent, 401 for a bad token."""
    authorization = request.headers.get("authorization")
    if authorization is None or not authorization.strip():
        return PUBLIC
    seen = getattr(request.state, "principal", None)  # authenticated before the body (api/guard.py)
    if seen is not None and seen[0] == authorization:
        return seen[1]  # type: ignore[no-any-return]
    principal = services.authenticator.authenticate(authorization)
    if principal is None:
        raise Unauthenticated("the bearer token is unknown, revoked or malformed")
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require(principal: Principal, *roles: Role) -> Principal:
    """``principal`` if it holds one of ``roles``; 401 for the public, 403 otherwise."""
    if principal.has(*roles):
        return principal
    if principal.is_public:
        raise Unauthenticated
    raise Forbidden(f"this needs one of the roles {', '.join(sorted(roles))}",
                    code="E_FORBIDDEN_ROLE")


def roles(*allowed: Role) -> Any:
    """A dependency that admits only ``allowed`` roles."""

    def dep(principal: PrincipalDep) -> Principal:
        return require(principal, *allowed)

    return Depends(dep)


# =========================================================================== case scope

@dataclass(frozen=True, slots=True)
class CaseScope:
    """Who a case belongs to (from the ledger, so it never lags behind a projection)."""

    case_id: UUID
    agencies: frozenset[str]
    lead_agency: str
    uscc: str
    version: int


def parse_case_id(case_id: str) -> UUID:
    try:
        return UUID(case_id)
    except ValueError:
        raise NotFound(f"no case {case_id!r}", code="E_UNKNOWN_CASE") from None


_SCOPE_CACHE_MAX = 200_000


def case_scope(services: Services, case_id: UUID) -> CaseScope:
    """Who the case belongs to (cached: fixed at dispatch). ``version`` is as of the first lookup;
    use ``Services.case_version`` for the current one."""
    from domain.errors import UnknownCase  # noqa: PLC0415
    from domain.inspection import Inspection  # noqa: PLC0415

    hit = services.scopes.get(case_id)
    if hit is not None:
        return hit
    try:
        insp = services.container.app.get_inspection(case_id)
    except UnknownCase:
        raise NotFound(f"no case {case_id}", code="E_UNKNOWN_CASE") from None
    if not isinstance(insp, Inspection):
        raise NotFound(f"no case {case_id}", code="E_UNKNOWN_CASE")
    agencies = frozenset(a["agency_code"] for a in insp.assignments)
    scope = CaseScope(case_id, agencies, insp.lead_agency, insp.uscc, insp.version)
    if len(services.scopes) > _SCOPE_CACHE_MAX:
        services.scopes.clear()
    services.scopes[case_id] = scope
    return scope


def may_read(principal: Principal, scope: CaseScope) -> bool:
    if principal.has(Role.ENTERPRISE) and principal.uscc == scope.uscc:
        return True
    if principal.has(Role.AUDITOR) and principal.agency is None:
        return True
    staff = {Role.OFFICER, Role.LEGAL_REVIEWER, Role.AGENCY_HEAD, Role.PUBLISHER, Role.AUDITOR}
    return principal.has(*staff) and principal.agency in scope.agencies


def audience_of(principal: Principal, scope: CaseScope | None) -> Audience:
    """Which audience of the visibility policy (projections/visibility.py) ``principal`` reads ``scope`` as.

    Staff of an agency on the case and a global auditor read as staff; the enterprise the case
    is about (and no staff role there) as the enterprise; everyone else as the public.
    """
    if scope is not None:
        staff = {Role.OFFICER, Role.LEGAL_REVIEWER, Role.AGENCY_HEAD, Role.PUBLISHER, Role.AUDITOR}
        if (principal.has(Role.AUDITOR) and principal.agency is None) or (
                principal.has(*staff) and principal.agency in scope.agencies):
            return Audience.STAFF
        if principal.has(Role.ENTERPRISE) and principal.uscc == scope.uscc:
            return Audience.ENTERPRISE
    return Audience.PUBLIC


def readable_case(services: Services, principal: Principal, case_id: str) -> CaseScope:
    """The case's scope if ``principal`` may read it. Out of scope looks exactly like unknown (404)."""
    if principal.is_public:
        raise Unauthenticated
    scope = case_scope(services, parse_case_id(case_id))
    if not may_read(principal, scope):
        raise NotFound(f"no case {case_id}", code="E_UNKNOWN_CASE")
    return scope


def writable_case(services: Services, principal: Principal, case_id: str, *allowed: Role) -> CaseScope:
    """The case's scope if ``principal`` holds one of ``allowed`` roles in one of its agencies."""
    require(principal, *allowed)
    scope = case_scope(services, parse_case_id(case_id))
    if principal.agency not in scope.agencies:
        if may_read(principal, scope):
            raise Forbidden("this case belongs to another agency", code="E_FORBIDDEN_SCOPE")
        raise NotFound(f"no case {case_id}", code="E_UNKNOWN_CASE")
    return scope


# =========================================================================== idempotency

def idempotency_table(metadata: MetaData) -> Table:
    if "api_idempotency" in metadata.tables:
        return metadata.tables["api_idempotency"]
    return Table(
        "api_idempotency", metadata,
        Column("principal", String(128), primary_key=True),
        Column("key", String(255), primary_key=True),
        Column("request_sha256", LargeBinary(32), nullable=False),
        Column("status", Integer, nullable=True),  # NULL while the first request runs
        Column("body", LargeBinary, nullable=True),
        Column("headers", Text, nullable=True),
        Column("created_at", BigInteger, nullable=False),
    )


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: bytes
    headers: dict[str, str]


class IdempotencyKeyTaken(Exception):
    """Another request stored a response under this key first; the save is rolled back."""


class IdempotencyStore:
    """``Idempotency-Key`` → the first response, per principal, in the ledger's database.

    There are no reservations. A request looks its key up (:meth:`lookup`); when it is unknown,
    the command runs and its response is written by :meth:`writer` inside the very transaction
    that appends the command's entries (``LedgerRecorder``'s ``also`` hook). A crash therefore
    leaves either the entries and their response, or neither: a retry replays the response or
    runs the command once. Two concurrent requests with one key both run; the second to commit
    finds the key taken, its transaction (entries included) rolls back, and it replays the first.
    """

    def __init__(self, engine: Engine, metadata: MetaData) -> None:
        self.engine = engine
        self.table = idempotency_table(metadata)

    def create_table(self) -> None:
        self.table.create(self.engine, checkfirst=True)

    def lookup(self, principal: str, key: str, digest: bytes) -> StoredResponse | None:
        """The stored response of an earlier identical request, None if the key is unused, or 422
        for the same key with another request."""
        t = self.table
        with self.engine.begin() as conn:
            row = conn.execute(select(t).where(t.c.principal == principal, t.c.key == key)).first()
            if row is None:
                return None
            if row.status is None:
                # A reservation left by a version that reserved keys before running the command:
                # it holds no response and no entries depend on it.
                conn.execute(delete(t).where(t.c.principal == principal, t.c.key == key, t.c.status.is_(None)))
                return None
            if bytes(row.request_sha256) != digest:
                raise Unprocessable("this Idempotency-Key was used for a different request",
                                    code="E_IDEMPOTENCY_KEY_REUSED")
            return StoredResponse(int(row.status), bytes(row.body or b""), json.loads(row.headers or "{}"))

    def writer(self, principal: str, key: str, digest: bytes, resp: StoredResponse) -> Callable[[Any], None]:
        """A function that stores ``resp`` on a given connection (inside the command's transaction);
        it raises :class:`IdempotencyKeyTaken` when another request stored this key first."""
        values = {"principal": principal, "key": key, "request_sha256": digest, "status": resp.status,
                  "body": resp.body, "headers": json.dumps(resp.headers), "created_at": time.time_ns() // 1000}

        def write(conn: Any) -> None:
            if conn.dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert  # noqa: PLC0415
            else:
                from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]  # noqa: PLC0415
            stmt = insert(self.table).values(**values).on_conflict_do_nothing().returning(self.table.c.key)
            if conn.execute(stmt).first() is None:
                raise IdempotencyKeyTaken(key)

        return write

    def store(self, principal: str, key: str, digest: bytes, resp: StoredResponse) -> None:
        """Store ``resp`` on its own (a command that appended nothing)."""
        try:
            with self.engine.begin() as conn:
                self.writer(principal, key, digest, resp)(conn)
        except IdempotencyKeyTaken:
            pass  # an identical request stored its own response first; both wrote nothing

    def count(self) -> int:
        from sqlalchemy import func  # noqa: PLC0415

        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(self.table)).scalar() or 0)


# =========================================================================== signing and the save hook

class _Previewed(Exception):
    pass


@dataclass
class _Run:
    """The state of one command while it runs (in a ContextVar)."""

    case_id: UUID | None = None
    expect_version: int | None = None
    preview_key: bytes | None = None
    signer: Any = None
    previewed: list[bytes] = field(default_factory=list)
    versions: dict[UUID, int] = field(default_factory=dict)
    created: list[tuple[str, UUID]] = field(default_factory=list)
    #: Hold the command's save until the response is known (:meth:`CommandGate.commit`).
    defer: bool = False
    deferred: tuple[tuple[Any, ...], dict[str, Any]] | None = None


_RUN: ContextVar[_Run | None] = ContextVar("caseledger_command", default=None)


class RequestSigner:
    """The application's signer: the request's client signatures if any, else the default signer."""

    def __init__(self, default: Any) -> None:
        self.default = default

    def _active(self) -> Any:
        run = _RUN.get()
        return run.signer if run is not None and run.signer is not None else self.default

    @property
    def untrusted(self) -> bool:
        return bool(self._active().untrusted)

    def key_for(self, actor: str) -> Any:
        return self._active().key_for(actor)

    def sign(self, kid: Any, digest: bytes) -> Any:
        return self._active().sign(kid, digest)


class CommandGate:
    """Installs the per-request signer and the save hook on the ledger application."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._save = app.save
        self.signer = RequestSigner(app.signer)
        app.signer = self.signer
        app.save = self._hooked_save

    def _hooked_save(self, *objs: Any, **kwargs: Any) -> Any:
        run = _RUN.get()
        if run is None:
            return self._save(*objs, **kwargs)
        aggs = [o for o in objs if o is not None and hasattr(o, "pending_events")]
        if run.expect_version is not None and run.case_id is not None:
            for a in aggs:
                if a.id == run.case_id:
                    base = a.version - len(a.pending_events)
                    if base != run.expect_version:
                        raise PreconditionFailed(
                            f"the case is at version {base}, not {run.expect_version}",
                            current_version=base)
        if run.preview_key is not None:
            run.previewed = self.app.preview(*aggs, key=run.preview_key)
            raise _Previewed
        if run.defer:
            # The command's entries are appended by ``commit``, together with its response.
            if run.deferred is not None:
                msg = "a command saves once"
                raise UsageError(msg)
            run.deferred = (objs, kwargs)
            out = None
        else:
            out = self._save(*objs, **kwargs)
        for a in aggs:
            run.versions[a.id] = a.version
            run.created.append((type(a).__name__, a.id))
        return out

    def commit(self, run: _Run, also: Callable[[Any], None] | None) -> bool:
        """Append the entries a deferred command saved, running ``also`` in their transaction.

        Returns False when the command saved nothing (``also`` did not run)."""
        if run.deferred is None:
            return False
        objs, kwargs = run.deferred
        run.deferred = None
        with self.running(run):
            self._save(*objs, **kwargs, **({"also": also} if also is not None else {}))
        return True

    @contextmanager
    def running(self, run: _Run) -> Iterator[_Run]:
        token = _RUN.set(run)
        try:
            yield run
        finally:
            _RUN.reset(token)


# =========================================================================== command bodies

class SignedEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entry: str = Field(description="canonical entry bytes, hex", max_length=2 * 64 * 1024, pattern=r"^[0-9a-fA-F]*$")
    sig: str = Field(description="Ed25519 signature, hex (128 digits)", pattern=r"^[0-9a-fA-F]{128}$")


class CommandBody(BaseModel):
    """Fields every command accepts besides its own."""

    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime | None = Field(
        None, description="occurred_at claimed by the actor (timezone required); default: now. "
                          "A client-signed command must resend the `at` its preview returned.")
    key_id: str | None = Field(None, description="client-signed mode: the signing key id (hex), "
                                                 "instead of the X-Key-Id header", pattern=r"^[0-9a-fA-F]{64}$")
    signatures: list[str] | None = Field(
        None, max_length=16, description="client-signed mode: one hex signature per previewed entry, in order "
                                         "(instead of the X-Signature header)")
    signed_entries: list[SignedEntry] | None = Field(
        None, max_length=16, description="client-signed mode: the previewed entries with their signatures")

    def command_fields(self) -> dict[str, Any]:
        """The fields passed on to the command (everything but the control fields)."""
        return self.model_dump(exclude={"at", "key_id", "signatures", "signed_entries"})


def _hex(value: str, what: str, *, length: int | None = None) -> bytes:
    v = value.strip()
    if not _HEX.match(v) or len(v) % 2 or (length is not None and len(v) != 2 * length):
        size = f" of {length} bytes" if length else ""
        raise BadRequest(f"{what} must be hex{size}", code="E_BAD_HEADER")
    return bytes.fromhex(v)


def parse_if_match(value: str | None) -> int | None:
    """``If-Match: "7"`` → 7; ``*`` → None (any version)."""
    if value is None:
        return None
    v = value.strip()
    if v == "*":
        return None
    m = re.fullmatch(r'(?:W/)?"(\d{1,12})"', v)
    if m is None:
        raise BadRequest('If-Match must be a case ETag such as "7"', code="E_BAD_IF_MATCH")
    return int(m.group(1))


def etag(version: int) -> str:
    return f'"{version}"'


# =========================================================================== the command context

class CommandContext:
    """One POST's control headers and the pipeline that runs its command."""

    def __init__(
        self,
        request: Request,
        services: ServicesDep,
        principal: PrincipalDep,
        idempotency_key: Annotated[str | None, Header(
            alias="Idempotency-Key", pattern=r"^[\x21-\x7e]{1,255}$",
            description="replays the first response for the same key and request")] = None,
        if_match: Annotated[str | None, Header(
            alias="If-Match", pattern=r'^(\*|(W/)?"[0-9]{1,12}")$',
            description='the case ETag the command expects, e.g. "7" (412 otherwise)')] = None,
        x_key_id: Annotated[str | None, Header(
            alias="X-Key-Id", pattern=r"^[0-9a-fA-F]{64}$",
            description="client-signed mode: the signing key id (hex)")] = None,
        x_signature: Annotated[str | None, Header(
            alias="X-Signature", pattern=r"^[0-9a-fA-F]{128}(,[0-9a-fA-F]{128}){0,15}$",
            description="client-signed mode: hex signatures, comma-separated, one per previewed entry")] = None,
        preview: Annotated[bool, Query(description="return the entries this command would append, "  # noqa: FBT002 - a FastAPI query parameter
                                                   "for the client to sign; writes nothing")] = False,
    ) -> None:
        self.request = request
        self.services = services
        self.principal = principal
        self.idempotency_key = idempotency_key
        self.if_match = if_match
        self.x_key_id = x_key_id
        self.x_signature = x_signature
        self.preview = preview

    # -- helpers ---------------------------------------------------------------------------
    def _request_digest(self, body: BaseModel | None) -> bytes:
        data = body.model_dump(mode="json", exclude={"key_id", "signatures", "signed_entries"}) if body else None
        canon = json.dumps({"m": self.request.method, "p": self.request.url.path, "b": data},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canon.encode()).digest()

    def _key_id(self, body: CommandBody | None) -> bytes | None:
        raw = self.x_key_id or (body.key_id if body else None)
        return None if raw is None else _hex(raw, "X-Key-Id", length=32)

    def _default_client_key(self) -> bytes:
        """The principal's key valid now, client-held keys first (for previews without X-Key-Id)."""
        app = self.services.container.app
        now = app.clock()
        mine = [r for r in app.keyring.records() if r.principal == self.principal.id and r.valid_at(now)
                and r.revoked_at is None]
        if not mine:
            app.refresh_keys()
            mine = [r for r in app.keyring.records() if r.principal == self.principal.id and r.valid_at(now)
                    and r.revoked_at is None]
        if not mine:
            raise KeyRegistryError(f"{self.principal.id} has no registered key valid now; send X-Key-Id",
                                   code="E_KEY_UNKNOWN")
        return bytes(max(mine, key=lambda r: (r.mode == "client", r.valid_from)).key_id)

    def _signatures(self, body: CommandBody | None) -> list[bytes] | None:
        if self.x_signature is not None:
            parts = [p for p in self.x_signature.split(",") if p.strip()]
            if not parts or len(parts) > 16:  # noqa: PLR2004
                raise BadRequest("X-Signature must hold 1 to 16 comma-separated signatures", code="E_BAD_HEADER")
            return [_hex(p, "X-Signature", length=64) for p in parts]
        if body is not None and body.signatures is not None:
            return [_hex(p, "signatures[]", length=64) for p in body.signatures]
        return None

    # -- the pipeline ------------------------------------------------------------------------
    def run(
        self,
        command: Callable[[datetime], dict[str, Any] | None],
        *,
        body: CommandBody | None,
        case_id: UUID | None = None,
        status_code: int = 200,
        location: Callable[[dict[str, Any]], str] | None = None,
    ) -> Response:
        """Run ``command(at)`` through the pipeline; it returns extra response fields (or None)."""
        at = body.at if body is not None and body.at is not None else self.services.now()
        if at.tzinfo is None:
            raise BadRequest("at must carry a timezone", code="E_USAGE")
        expect = parse_if_match(self.if_match)
        if expect is not None and case_id is None:
            raise BadRequest("If-Match applies to commands on an existing case", code="E_BAD_IF_MATCH")
        key_id = self._key_id(body)
        sigs = self._signatures(body)
        signed_entries = body.signed_entries if body is not None else None
        if self.preview:
            return self._preview(command, at, body, case_id, expect, key_id or self._default_client_key())
        key = self.idempotency_key
        if key is not None and not _IDEM_KEY.match(key):
            raise BadRequest("Idempotency-Key must be 1-255 printable ASCII characters",
                             code="E_IDEMPOTENCY_KEY_INVALID")
        pid = self.principal.id
        digest = self._request_digest(body) if key is not None else b""

        def respond(result: dict[str, Any] | None, run_state: _Run) -> StoredResponse:
            payload: dict[str, Any] = {"ok": True, "at": at.isoformat(), **(result or {})}
            headers: dict[str, str] = {}
            version = run_state.versions.get(case_id) if case_id is not None else None
            if case_id is None:
                for kind, agg_id in run_state.created:
                    if kind == "Inspection":
                        payload.setdefault("case_id", str(agg_id))
                        version = run_state.versions.get(agg_id)
                        break
            if version is not None:
                payload["version"] = version
                headers["ETag"] = etag(version)
            if location is not None:
                headers["Location"] = location(payload)
            headers["Content-Type"] = "application/json"
            content = json.dumps(payload, ensure_ascii=False, default=str).encode()
            return StoredResponse(status_code, content, headers)

        idem = self.services.idempotency
        resp = None
        for _ in range(CONFLICT_RETRIES + 1):
            if key is not None:
                stored = idem.lookup(pid, key, digest)
                if stored is not None:
                    return Response(stored.body, status_code=stored.status,
                                    headers={**stored.headers, "Idempotency-Replayed": "true"})
            resp = StoredResponse(status_code, b"", {})

            def finish(result: dict[str, Any] | None, run_state: _Run) -> Callable[[Any], None] | None:
                nonlocal resp
                resp = respond(result, run_state)
                return None if key is None else idem.writer(pid, key, digest, resp)

            try:
                appended = self._execute(command, at, case_id, expect, key_id, sigs, signed_entries, finish)
            except IdempotencyKeyTaken:
                continue  # another request with this key committed first: replay it
            except Exception:
                # A concurrent request with this key may have committed while this one ran, and
                # this one was then refused because of it (the task exists, the version moved on):
                # the client asked for that request once, so it gets that request's response.
                stored = idem.lookup(pid, key, digest) if key is not None else None
                if stored is None:
                    raise
                return Response(stored.body, status_code=stored.status,
                                headers={**stored.headers, "Idempotency-Replayed": "true"})
            if key is not None and not appended:
                idem.store(pid, key, digest, resp)
            break
        else:
            raise Conflict("could not store the response under this Idempotency-Key; retry",
                           code="E_CONFLICT")
        after = self.services.config.after_write
        if after is not None:
            after()
        return Response(resp.body, status_code=resp.status,
                        headers={**resp.headers, **({"Idempotency-Replayed": "false"} if key else {})})

    def _preview(self, command: Callable[[datetime], Any], at: datetime, body: CommandBody | None,
                 case_id: UUID | None, expect: int | None, key_id: bytes) -> Response:
        run = _Run(case_id=case_id, expect_version=expect, preview_key=key_id)
        with self.services.gate.running(run):
            try:
                command(at)
            except _Previewed:
                pass
            else:
                raise Conflict("this command appends nothing", code="E_NOTHING_TO_SIGN")
        entries = []
        for data in run.previewed:
            h = entry_hash(data)
            entries.append({"entry": data.hex(), "sha256": bytes(h).hex(),
                            "message": signed_message(ENTRY_CONTEXT, h).hex()})
        cmd = body.model_dump(mode="json", exclude={"key_id", "signatures", "signed_entries"}) if body else {}
        cmd["at"] = at.isoformat()
        return JSONResponse({
            "preview": True, "key_id": key_id.hex(), "entries": entries, "command": cmd,
            "how_to_sign": "Ed25519 over `message` (= PAE(CaseLedger/v1/entry-signature, sha256)); POST `command` "
                           "again with X-Key-Id and X-Signature (hex, comma-separated, in this order)",
        })

    def _execute(
        self, command: Callable[[datetime], Any], at: datetime, case_id: UUID | None, expect: int | None,
        key_id: bytes | None, sigs: list[bytes] | None, signed_entries: list[SignedEntry] | None,
        finish: Callable[[Any, _Run], Callable[[Any], None] | None],
    ) -> bool:
        """Run the command with its save held back, build the response (``finish``), then append
        the entries and the idempotency record in one transaction. True if entries were appended."""
        gate = self.services.gate
        app = self.services.container.app
        client = sigs is not None or signed_entries is not None
        for attempt in range(CONFLICT_RETRIES + 1):
            run = _Run(case_id=case_id, expect_version=expect, defer=True)
            try:
                if client:
                    run.signer = self._client_signer(command, at, case_id, expect, key_id, sigs, signed_entries)
                with gate.running(run):
                    result = command(at)
                run.defer = False
                return gate.commit(run, finish(result, run))
            except ConflictError:
                if client or expect is not None or attempt == CONFLICT_RETRIES:
                    raise
            except KeyRegistryError as e:
                # Another process may have registered or rotated keys since this one loaded them.
                if attempt or e.code not in {"E_KEY_UNKNOWN", "E_KEY_NOT_VALID"}:
                    raise
                app.refresh_keys()
        raise AssertionError  # pragma: no cover

    def _client_signer(
        self, command: Callable[[datetime], Any], at: datetime, case_id: UUID | None, expect: int | None,
        key_id: bytes | None, sigs: list[bytes] | None, signed_entries: list[SignedEntry] | None,
    ) -> ClientSignatures:
        if signed_entries is not None:
            pairs = [(_hex(s.entry, "signed_entries[].entry"), _hex(s.sig, "signed_entries[].sig", length=64))
                     for s in signed_entries]
            if key_id is None:
                from ledger.chain import decode_entry  # noqa: PLC0415

                key_id = decode_entry(pairs[0][0]).key if pairs else None
            if key_id is None:
                raise Unprocessable("signed_entries is empty", code="E_SIGNATURE_COUNT")
            return ClientSignatures(self.principal.id, key_id, pairs)
        assert sigs is not None
        if key_id is None:
            raise BadRequest("client-signed mode needs X-Key-Id (or key_id)", code="E_BAD_HEADER")
        probe = _Run(case_id=case_id, expect_version=expect, preview_key=key_id)
        with self.services.gate.running(probe):
            try:  # noqa: SIM105 - the preview ends the transaction by raising; pass says so
                command(at)
            except _Previewed:
                pass
        if len(probe.previewed) != len(sigs):
            raise Unprocessable(f"this command appends {len(probe.previewed)} entries; {len(sigs)} signatures sent",
                                code="E_SIGNATURE_COUNT")
        return ClientSignatures(self.principal.id, key_id, list(zip(probe.previewed, sigs, strict=True)))


CommandDep = Annotated[CommandContext, Depends(CommandContext)]


def now_utc() -> datetime:
    return datetime.now(UTC)


__all__ = [
    "ApiConfig", "CaseScope", "CommandBody", "CommandContext", "CommandDep", "CommandGate", "IdempotencyStore",
    "PrincipalDep", "Services", "ServicesDep", "case_scope", "current_principal", "etag", "may_read",
    "parse_case_id", "parse_if_match", "readable_case", "require", "roles", "writable_case",
]
