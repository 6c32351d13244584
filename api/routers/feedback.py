"""R21: the enterprise's feedback on an inspection, submitted with the token it was given.

The result notice stores only the feedback invitation's id (``qr_id`` = the first 32 hex digits
of SHA-256(token)), so the token proves that the submitter received the result notice without
the server keeping the token. One feedback per inspection.

Accepted feedback becomes a signed entry of the inspection's stream
(``inspection.feedback_received.v1``: invitation id, rating, prohibition code, SHA-256 of the
comment), signed by the intake principal :data:`INTAKE_PRINCIPAL` with its custodial key; the
supervision projection counts it by prohibition code. The comment text, which may hold personal
data, is kept beside the ledger in ``api_feedback`` (with the rating, for averages); it is written
after the entry commits, so a crash in between leaves the entry with its hash and no text.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, cast
from uuid import UUID

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
)
from sqlalchemy.exc import IntegrityError

from api.bootstrap import INTAKE_PRINCIPAL
from api.deps import CONFLICT_RETRIES, ServicesDep, case_scope, parse_case_id
from api.errors import Conflict, TooManyRequests, Unavailable, Unprocessable
from api.guard import client_address
from domain.errors import RuleViolation
from ledger.errors import ConflictError, KeyRegistryError

router = APIRouter(prefix="/v1/feedback", tags=["feedback"])



def feedback_table(metadata: MetaData) -> Table:
    """The enterprise-feedback table, defined on ``metadata`` (once)."""
    existing = metadata.tables.get("api_feedback")
    return existing if existing is not None else Table(
        "api_feedback", metadata,
        Column("qr_id", String(64), primary_key=True),
        Column("case_id", String(36), nullable=False, index=True),
        Column("agency", String(18), nullable=False),
        Column("year", Integer, nullable=False),
        Column("rating", Integer, nullable=False),
        Column("prohibition_code", String(1), nullable=True),
        Column("comment", Text, nullable=False, default=""),
        Column("created_at", BigInteger, nullable=False),
    )


class FeedbackStore:
    def __init__(self, engine: Engine, metadata: MetaData) -> None:
        self.engine = engine
        self.table = feedback_table(metadata)

    def create_table(self) -> None:
        self.table.create(self.engine, checkfirst=True)

    def add(self, *, qr_id: str, case_id: str, agency: str, year: int, rating: int, prohibition_code: str | None,
            comment: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(self.table.insert().values(
                    qr_id=qr_id, case_id=case_id, agency=agency, year=year, rating=rating,
                    prohibition_code=prohibition_code, comment=comment, created_at=time.time_ns() // 1000))
        except IntegrityError:
            raise Conflict("feedback for this inspection was already given", code="E_FEEDBACK_EXISTS") from None

    def exists(self, case_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(self.table.c.qr_id).where(self.table.c.case_id == case_id)).first() is not None

    def by_code(self, *, year: int | None = None, agency: str | None = None) -> list[dict[str, Any]]:
        t = self.table
        q = select(t.c.prohibition_code, func.count(), func.avg(t.c.rating)).group_by(t.c.prohibition_code)
        if year is not None:
            q = q.where(t.c.year == year)
        if agency is not None:
            q = q.where(t.c.agency == agency)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [{"prohibition_code": code, "count": int(n), "average_rating": round(float(avg or 0), 2)}
                for code, n, avg in sorted(rows, key=lambda r: r[0] or "")]


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    case_id: str = Field(max_length=64)
    token: str = Field(min_length=1, max_length=128, description="the feedback token from the result notice")
    rating: int = Field(ge=1, le=5, description="1 (bad) to 5 (good)")
    prohibition_code: Annotated[str | None, Field(
        None, pattern=r"^[1-5a-h]$", description="a complaint under 五个严禁 (1-5) or 八个不得 (a-h)")] = None
    comment: str = Field("", max_length=1000)


def check_rate(services: Any, client: str, case_id: UUID) -> None:
    """429 when this client, or anyone for this case, has submitted too often in the window.

    Every attempt counts, accepted or not (a wrong token too), so a token cannot be guessed and
    the ledger cannot be flooded through the one endpoint that takes writes without a token."""
    for limiter, key, what in ((services.feedback_by_client, client, "from this address"),
                               (services.feedback_by_case, str(case_id), "for this inspection")):
        if limiter is None:
            continue
        wait = limiter.hit(key)
        if wait is not None:
            raise TooManyRequests(f"too many feedback submissions {what}; retry later", retry_after=wait)


def submit_feedback(services: Any, body: FeedbackBody, client: str) -> str:
    """Record the feedback as a signed ledger entry (the domain checks the token and that it is the
    first), then keep its comment text beside the ledger; returns the qr_id. ``client`` is the
    submitter's address, for the rate limit."""
    case_id = parse_case_id(body.case_id)
    check_rate(services, client, case_id)
    scope = case_scope(services, case_id)
    app = services.container.app
    try:
        app.signer.key_for(INTAKE_PRINCIPAL)
    except KeyRegistryError:
        raise Unavailable(f"feedback intake is not enrolled: principal {INTAKE_PRINCIPAL!r} has no signing key",
                          code="E_FEEDBACK_UNAVAILABLE") from None
    for attempt in range(CONFLICT_RETRIES + 1):
        try:
            qr_id = app.receive_feedback(inspection_id=scope.case_id, token=body.token, rating=body.rating,
                                         prohibition_code=body.prohibition_code, comment=body.comment,
                                         at=services.now(), actor=INTAKE_PRINCIPAL)
            break
        except RuleViolation as e:
            if e.code == "E_FEEDBACK_TOKEN":  # a wrong token is bad input, not a conflict with the case
                raise Unprocessable(e.message, code=e.code) from None
            raise
        except ConflictError:  # another entry of this case committed first: reload and decide again
            if attempt == CONFLICT_RETRIES:
                raise
    insp = app.get_inspection(scope.case_id)
    services.feedback.add(qr_id=qr_id, case_id=str(scope.case_id), agency=scope.lead_agency,
                          year=int(getattr(insp, "year", 0)), rating=body.rating,
                          prohibition_code=body.prohibition_code, comment=body.comment.strip())
    if services.config.after_write is not None:  # keep synchronous projections read-your-writes
        services.config.after_write()
    return cast("str", qr_id)


@router.post("", status_code=201, summary="R21: submit feedback with the token from the result notice",
             responses={404: {"description": "unknown inspection or no invitation"},
                        409: {"description": "already given"}, 413: {"description": "body over the public limit"},
                        422: {"description": "wrong token"},
                        429: {"description": "too many submissions from this address or for this inspection"}})
def post_feedback(body: FeedbackBody, services: ServicesDep, request: Request) -> dict[str, Any]:
    qr_id = submit_feedback(services, body, client_address(request))
    return {"ok": True, "qr_id": qr_id}
