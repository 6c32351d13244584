"""Commands on cases (inspections and the cases filed from them): one endpoint per enforcement step.

Each endpoint checks the caller's role and agency, then calls one ``EnforcementCommands``
method through the command pipeline (``api.deps.CommandContext``): idempotency, ``If-Match``,
preview for client signing, and custodial or client signatures. The principal is the entry's
actor (and the approver, reviewer or decider where the step names one).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Role
from api.deps import CaseScope, CommandBody, CommandDep, require, writable_case
from api.errors import Forbidden, Unprocessable

router = APIRouter(prefix="/v1/cases", tags=["case commands"])

CaseId = Annotated[str, Path(description="the case (inspection stream) id, a UUID", max_length=64)]
Text = Annotated[str, Field(max_length=2000)]
Short = Annotated[str, Field(max_length=128)]
Digest = Annotated[str, Field(max_length=71, description="SHA-256: 64 lower-case hex digits, or sha256:<hex>")]
Names = Annotated[list[Short], Field(max_length=32)]
Doc = Annotated[dict[Short, Text], Field(max_length=64)]

_COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "appended (or, with ?preview=true, the entries to sign)"},
    400: {"description": "malformed input (problem+json)"},
    401: {"description": "no or bad token"},
    403: {"description": "role or agency not allowed"},
    404: {"description": "unknown case, officer, agency or enterprise"},
    409: {"description": "refused by a rule (`code` is the rulebook code) or a concurrent write"},
    412: {"description": "If-Match names another case version"},
    422: {"description": "invalid body, idempotency key reuse, or a bad client signature"},
}


def _cmd(path: str, summary: str, status_code: int = 200) -> Any:
    return router.post(path, summary=summary, status_code=status_code, responses=_COMMAND_RESPONSES)


# ----------------------------------------------------------------------------- bodies

class Assignment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agency_code: Short
    item_codes: Names
    cert_nos: Names
    assistance_request_ref: Short | None = None


class DispatchBody(CommandBody):
    task_no: Short
    inspection_type: Short = Field(description="routine | case | special")
    mode: Short = Field(description="on_site | off_site")
    uscc: Short = Field(description="the enterprise's 统一社会信用代码")
    assignments: list[Assignment] = Field(min_length=1, max_length=8, description="lead agency first")
    special_approval: dict[Short, Text] | None = None
    random_draw_ref: Short | None = None
    emergency: bool = False
    legal_rep_required: bool = False
    legal_rep_basis: Text | None = None
    activity: Short = "inspection"
    mode_reason: Text | None = None


class ApproveBody(CommandBody):
    agency_code: Short | None = Field(None, description="default: the head's own agency")


class ModeChangeBody(CommandBody):
    mode: Short
    reason: Text
    approved_by: Short


class ReasonBody(CommandBody):
    reason: Text


class Scan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code_id: Short
    uscc: Short
    scanned_at: int = Field(ge=0, le=2**62, description="µs since the epoch")


class ArrivalBody(CommandBody):
    scan: Scan | None = Field(None, description="the scanned enterprise code (R17); only emergencies omit it")
    location: Text


class CertificateBody(CommandBody):
    cert_no: Short


class EvidenceBody(CommandBody):
    evidence_id: Short
    evidence_type: Short = Field(description="one of the eight statutory types (R22)")
    sha256: Digest = Field(description="hash of a blob uploaded with POST /v1/blobs")
    size: int | None = Field(None, ge=0, le=2**62, description="must equal the uploaded blob's size if given")
    media_type: Short
    source: Short = Field(description="on_site, or an off-site source (R18)")
    capture: dict[Short, Text | int | bool | None] = Field(default_factory=dict, max_length=32)
    cert_nos: Names
    lawful: bool = True


class RecordBody(CommandBody):
    record_hash: Digest
    cert_nos: Names
    party_signature: Text | None = None
    refusal_note: Text | None = None
    witness: Short | None = None


class ConclusionBody(CommandBody):
    result: Short = Field(description="no_issue | rectification_ordered | case_filed | referral")
    cert_nos: Names
    rectification_due: Short | None = Field(None, description="YYYY-MM-DD")


class ResultNoticeBody(CommandBody):
    recipient: Short
    summary_hash: Digest


class FilingBody(CommandBody):
    case_no: Short
    investigators: Names
    case_class: Short = Field(description="ordinary | complex | major")
    requires_legal_review: bool = False


class LegalReviewBody(CommandBody):
    draft_hash: Digest
    result: Short = Field(description="pass | fail")
    checklist: dict[Short, Text] = Field(max_length=16, description="a verdict for each of the eight points (R38)")
    first_time: bool = False
    legal_qualification: bool = False


class EducationBody(CommandBody):
    summary: Text


class DecisionBody(CommandBody):
    decision_no: Short
    outcome: Short = Field(description="penalty | no_penalty_minor | no_penalty_unproven | referral")
    draft_hash: Digest
    decider_role: Short = Field("agency_head", description="agency_head | collective")
    evidence_refs: Names
    regime: Short = "penalty_118"
    penalty_kinds: Names = Field(default_factory=list)
    fine_fen: int = Field(0, ge=0, le=10**15)
    benchmark_code: Short | None = None
    no_penalty_conditions: bool = False
    justification: Text | None = None
    requires_legal_review: bool = False


class ServiceBody(CommandBody):
    method: Short
    documents: Names
    document_hash: Digest
    publication_notice: bool
    consent_ref: Short | None = None
    sanshu_policy: bool = False


class PublicationBody(CommandBody):
    served_document: Doc
    redaction_map: Doc
    content_hash: Digest
    redaction_reviewer: Short


class AlterationBody(CommandBody):
    kind: Short = Field(description="changed | revoked | confirmed_illegal | confirmed_void")
    reason: Text
    basis_ref: Short
    new_draft_hash: Digest | None = None


class WithdrawalBody(CommandBody):
    reason_text: Text


class CorrectionBody(PublicationBody):
    reason: Text


# ----------------------------------------------------------------------------- helpers

def _case_cmd(ctx: CommandDep, case_id: str, roles: tuple[Role, ...], body: CommandBody,
              call: Any, scope: CaseScope | None = None) -> Response:
    scope = scope or writable_case(ctx.services, ctx.principal, case_id, *roles)
    app = ctx.services.container.app
    actor = ctx.principal.id

    def command(at: datetime) -> dict[str, Any] | None:
        return call(app, scope.case_id, at, actor)

    return ctx.run(command, body=body, case_id=scope.case_id)


# ----------------------------------------------------------------------------- dispatch

@_cmd("", "派单: dispatch an inspection (creates the case)", status_code=201)
def dispatch(body: DispatchBody, ctx: CommandDep) -> Response:
    p = require(ctx.principal, Role.OFFICER, Role.AGENCY_HEAD)
    if body.assignments[0].agency_code != p.agency:
        raise Forbidden("the lead agency must be your own agency", code="E_FORBIDDEN_SCOPE")
    app = ctx.services.container.app
    fields = body.command_fields()
    assignments = fields.pop("assignments")
    for a in assignments:
        if a.get("assistance_request_ref") is None:
            a.pop("assistance_request_ref", None)

    def command(at: datetime) -> dict[str, Any]:
        case = app.dispatch_inspection(assignments=assignments, at=at, actor=p.id, **fields)
        return {"case_id": str(case)}

    return ctx.run(command, body=body, status_code=201, location=lambda r: f"/v1/cases/{r['case_id']}")


@_cmd("/{case_id}/approvals", "R9: the agency head approves the dispatch")
def approve(case_id: CaseId, body: ApproveBody, ctx: CommandDep) -> Response:
    code = body.agency_code or ctx.principal.agency
    if code != ctx.principal.agency:
        raise Forbidden("a head approves for their own agency only", code="E_FORBIDDEN_SCOPE")
    return _case_cmd(ctx, case_id, (Role.AGENCY_HEAD,), body, lambda app, cid, at, actor: app.approve_inspection(
        inspection_id=cid, agency_code=code, approver=actor, at=at))


@_cmd("/{case_id}/mode-changes", "R18: change between on-site and off-site")
def change_mode(case_id: CaseId, body: ModeChangeBody, ctx: CommandDep) -> Response:
    return _case_cmd(ctx, case_id, (Role.OFFICER, Role.AGENCY_HEAD), body,
                     lambda app, cid, at, actor: app.change_inspection_mode(inspection_id=cid, at=at, actor=actor,
                                                                            **body.command_fields()))


@_cmd("/{case_id}/cancellation", "cancel a task not yet started")
def cancel(case_id: CaseId, body: ReasonBody, ctx: CommandDep) -> Response:
    return _case_cmd(ctx, case_id, (Role.AGENCY_HEAD,), body, lambda app, cid, at, actor: app.cancel_inspection(
        inspection_id=cid, reason=body.reason, at=at, actor=actor))


# ----------------------------------------------------------------------------- on site

@_cmd("/{case_id}/arrival", "R17: check in on site with the scanned enterprise code")
def arrive(case_id: CaseId, body: ArrivalBody, ctx: CommandDep) -> Response:
    return _case_cmd(ctx, case_id, (Role.OFFICER,), body, lambda app, cid, at, actor: app.record_arrival(
        inspection_id=cid, scan=body.scan.model_dump() if body.scan else None, location=body.location,
        at=at, actor=actor))


@_cmd("/{case_id}/certificates-shown", "R7: an officer shows the enforcement certificate")
def show_certificate(case_id: CaseId, body: CertificateBody, ctx: CommandDep) -> Response:
    return _case_cmd(ctx, case_id, (Role.OFFICER,), body, lambda app, cid, at, actor: app.show_certificate(
        inspection_id=cid, cert_no=body.cert_no, at=at, actor=actor))


@_cmd("/{case_id}/evidence", "R22-R27: log evidence by the hash of an uploaded blob")
def log_evidence(case_id: CaseId, body: EvidenceBody, ctx: CommandDep) -> Response:
    from api.blobs import normalise_digest  # noqa: PLC0415

    scope = writable_case(ctx.services, ctx.principal, case_id, Role.OFFICER)
    digest = normalise_digest(body.sha256)
    if digest is None:
        raise Unprocessable("sha256 must be a SHA-256 digest", code="E_DIGEST_INVALID")
    size = ctx.services.blobs.size_of(digest)
    if size is None:
        raise Unprocessable(f"no uploaded blob {digest}: upload it with POST /v1/blobs first",
                            code="E_BLOB_UNKNOWN")
    if body.size is not None and body.size != size:
        raise Unprocessable(f"the blob has {size} bytes, not {body.size}", code="E_BLOB_SIZE")
    fields = body.command_fields()
    fields.update(sha256=digest, size=size)
    return _case_cmd(ctx, case_id, (Role.OFFICER,), body, lambda app, cid, at, actor: app.log_evidence(
        inspection_id=cid, at=at, actor=actor, **fields), scope)


@_cmd("/{case_id}/record", "R19: the signed on-site record (笔录)")
def sign_record(case_id: CaseId, body: RecordBody, ctx: CommandDep) -> Response:
    return _case_cmd(ctx, case_id, (Role.OFFICER,), body, lambda app, cid, at, actor: app.sign_inspection_record(
        inspection_id=cid, at=at, actor=actor, **body.command_fields()))


@_cmd("/{case_id}/conclusion", "conclude the inspection with its result")
def conclude(case_id: CaseId, body: ConclusionBody, ctx: CommandDep) -> Response:
    return _case_cmd(ctx, case_id, (Role.OFFICER,), body, lambda app, cid, at, actor: app.conclude_inspection(
        inspection_id=cid, at=at, actor=actor, **body.command_fields()))


@_cmd("/{case_id}/result-notice", "R21: tell the enterprise the result; returns its feedback token and link")
def notify_result(case_id: CaseId, body: ResultNoticeBody, ctx: CommandDep) -> Response:
    secret = ctx.services.config.feedback_secret
    assert secret is not None
    base = ctx.services.config.public_base_url or str(ctx.request.base_url).rstrip("/")

    def call(app: Any, cid: UUID, at: datetime, actor: str) -> dict[str, Any]:
        token = app.notify_result(inspection_id=cid, at=at, actor=actor, secret=secret, **body.command_fields())
        return {"feedback_token": token, "feedback_url": f"{base}/v/{cid}?token={token}"}

    return _case_cmd(ctx, case_id, (Role.OFFICER,), body, call)


# ----------------------------------------------------------------------------- case

@_cmd("/{case_id}/filing", "R30: 立案, file a case from the inspection")
def file_case(case_id: CaseId, body: FilingBody, ctx: CommandDep) -> Response:
    return _case_cmd(ctx, case_id, (Role.OFFICER,), body, lambda app, cid, at, actor: app.file_case(
        inspection_id=cid, at=at, actor=actor, **body.command_fields()))


@_cmd("/{case_id}/legal-reviews", "R36-R38: 法制审核 by a legal reviewer")
def legal_review(case_id: CaseId, body: LegalReviewBody, ctx: CommandDep) -> Response:
    return _case_cmd(ctx, case_id, (Role.LEGAL_REVIEWER,), body, lambda app, cid, at, actor: app.give_legal_review(
        inspection_id=cid, reviewer=actor, at=at, **body.command_fields()))


@_cmd("/{case_id}/education", "R41: record education of the party")
def education(case_id: CaseId, body: EducationBody, ctx: CommandDep) -> Response:
    return _case_cmd(ctx, case_id, (Role.OFFICER,), body, lambda app, cid, at, actor: app.record_education(
        inspection_id=cid, summary=body.summary, at=at, actor=actor))


@_cmd("/{case_id}/decision", "R29, R36-R42: the decision, by the agency head")
def decide(case_id: CaseId, body: DecisionBody, ctx: CommandDep) -> Response:
    return _case_cmd(ctx, case_id, (Role.AGENCY_HEAD,), body, lambda app, cid, at, actor: app.decide(
        inspection_id=cid, decider=actor, at=at, **body.command_fields()))


@_cmd("/{case_id}/service", "R45, R46: 送达, serve the decision")
def serve(case_id: CaseId, body: ServiceBody, ctx: CommandDep) -> Response:
    return _case_cmd(ctx, case_id, (Role.OFFICER,), body, lambda app, cid, at, actor: app.serve_decision(
        inspection_id=cid, at=at, actor=actor, **body.command_fields()))


@_cmd("/{case_id}/publication", "R48, R49: 公示 with a signed redaction map")
def publish(case_id: CaseId, body: PublicationBody, ctx: CommandDep) -> Response:
    return _case_cmd(ctx, case_id, (Role.PUBLISHER,), body, lambda app, cid, at, actor: app.publish_decision(
        inspection_id=cid, at=at, actor=actor, **body.command_fields()))


@_cmd("/{case_id}/decision-alterations", "R51: the decision was changed, revoked or found illegal or void")
def alter_decision(case_id: CaseId, body: AlterationBody, ctx: CommandDep) -> Response:
    return _case_cmd(ctx, case_id, (Role.AGENCY_HEAD,), body, lambda app, cid, at, actor: app.alter_decision(
        inspection_id=cid, at=at, actor=actor, **body.command_fields()))


@_cmd("/{case_id}/publication-withdrawal", "R51: withdraw the public notice, with public reasons")
def withdraw_publication(case_id: CaseId, body: WithdrawalBody, ctx: CommandDep) -> Response:
    return _case_cmd(ctx, case_id, (Role.PUBLISHER,), body, lambda app, cid, at, actor: app.withdraw_publication(
        inspection_id=cid, reason_text=body.reason_text, at=at, actor=actor))


@_cmd("/{case_id}/publication-corrections", "R52: correct the public notice")
def correct_publication(case_id: CaseId, body: CorrectionBody, ctx: CommandDep) -> Response:
    return _case_cmd(ctx, case_id, (Role.PUBLISHER,), body, lambda app, cid, at, actor: app.correct_publication(
        inspection_id=cid, at=at, actor=actor, **body.command_fields()))
