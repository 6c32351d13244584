"""Command endpoints: one ``POST`` per enforcement step, generated from a table of :class:`Spec`.

Each spec names an ``EnforcementCommands`` method, its path, the roles allowed to call it and
which of its parameters the caller's identity fills (``actor``, or the approver, reviewer or
decider when the step has no separate actor). The request body is a pydantic model built from
the method's own signature, so a parameter added to a command appears in the API and its
OpenAPI schema without another edit; the tables below add descriptions and the ``**options``
that a method forwards to the domain.

Every endpoint runs through ``api.deps.CommandContext.run``: idempotency keys, ``If-Match``,
``?preview=true`` for client signing, client or custodial signatures.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Union, get_args, get_origin
from uuid import UUID

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model

from api.auth import Role
from api.deps import (
    CaseScope,
    CommandBody,
    CommandContext,
    CommandDep,
    require,
    writable_case,
)
from api.errors import Forbidden, Unprocessable
from ledger.application import LedgerApplication

Short = Annotated[str, Field(max_length=128)]
Text = Annotated[str, Field(max_length=4000)]
Digest = Annotated[str, Field(max_length=71, description="SHA-256: 64 lower-case hex digits, or sha256:<hex>")]
Names = Annotated[list[Short], Field(max_length=64)]
Days = Annotated[list[Annotated[str, Field(max_length=10)]], Field(max_length=366, description="YYYY-MM-DD days")]
Scalar = Union[Short, int, bool, None]  # noqa: UP007 - pydantic needs the runtime union
JsonValue = Union[Text, int, bool, None, list[Scalar], dict[Short, Scalar]]  # noqa: UP007

OFFICER, REVIEWER, HEAD, PUBLISHER, REGISTRAR = (Role.OFFICER, Role.LEGAL_REVIEWER, Role.AGENCY_HEAD,
                                                 Role.PUBLISHER, Role.REGISTRAR)
#: Parameters filled from the principal when the method has no ``actor`` parameter.
ACTING = ("actor", "approver", "reviewer", "decider")
#: Parameters never taken from a request (server-held or configuration).
SERVER_ONLY = frozenset({"read_blob", "secret", "calendar", "counted_types", "statement_wd", "hearing_thresholds",
                         "low_fine_fen"})

FIELD_DOCS: dict[str, str] = {
    "inspection_type": "routine | case | special", "mode": "on_site | off_site",
    "uscc": "统一社会信用代码 (GB 32100)", "agency_code": "the enforcement subject's 统一社会信用代码",
    "result": "inspection: no_issue | rectification_ordered | case_filed | referral; review: pass | fail",
    "case_class": "ordinary | complex | major",
    "outcome": "penalty | no_penalty_minor | no_penalty_unproven | referral",
    "decider_role": "agency_head | collective", "kind": "see the rulebook for the step's kinds",
    "evidence_type": "one of the eight statutory types (R22)", "sha256": "hash of a blob uploaded with POST /v1/blobs",
    "fine_fen": "integer fen (1 yuan = 100 fen)", "checklist": "a verdict for each of the eight points (R38)",
    "scan": "the scanned enterprise code {code_id, uscc, scanned_at} (R17); only emergencies omit it",
    "effective_at": "when the change takes effect (timezone required)",
    "valid_from": "YYYY-MM-DD", "valid_until": "YYYY-MM-DD", "rectification_due": "YYYY-MM-DD",
    "violation_end_on": "YYYY-MM-DD", "discovered_on": "YYYY-MM-DD", "hearing_date": "YYYY-MM-DD",
    "size": "must equal the uploaded blob's size if given",
    "case_source": "个案 tasks only (R9, R12): {kind: complaint_report | referral | superior_assignment | "
                   "data_monitoring, ref: the source's reference number}",
}


class Assignment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agency_code: Short
    item_codes: Names
    cert_nos: Names
    assistance_request_ref: Short | None = None


class Scan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code_id: Short
    uscc: Short
    scanned_at: int = Field(ge=0, le=2**62, description="µs since the epoch")


@dataclass(frozen=True)
class Spec:
    """One command endpoint."""

    method: str
    path: str
    roles: tuple[Role, ...]
    summary: str
    #: Request fields a method takes through ``**options`` (name → (type, default)).
    options: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    #: Field types that override the ones derived from the signature.
    types: Mapping[str, Any] = field(default_factory=dict)
    status_code: int = 200
    #: The path parameter that must equal the caller's agency (agency-level commands).
    agency_param: str | None = None
    #: Called as ``prepare(ctx, scope, fields)`` before the command, to check or fill fields.
    prepare: Callable[[CommandContext, CaseScope | None, dict[str, Any]], None] | None = None
    #: Turns the method's return value into response fields.
    result: Callable[[Any, CommandContext, UUID | None], dict[str, Any]] | None = None


# ----------------------------------------------------------------------------- type mapping

def _field_type(tp: Any) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        inner = _field_type(args[0]) if len(args) == 1 else JsonValue
        return inner | None
    if tp is str:
        return Text
    if tp is bool:
        return bool
    if tp is int:
        return Annotated[int, Field(ge=-(2**62), le=2**62)]
    if tp is datetime:
        return AwareDatetime
    if tp is UUID:
        return UUID
    if origin in (Iterable, Sequence, list, tuple) or tp in (Iterable, Sequence):
        items = get_args(tp)
        if items and get_origin(items[0]) in (Mapping, dict):
            return Annotated[list[dict[Short, JsonValue]], Field(max_length=500)]
        return Names
    if origin in (Mapping, dict) or tp in (Mapping, dict):
        kv = get_args(tp)
        if kv and kv[1] is str:
            return Annotated[dict[Short, Text], Field(max_length=64)]
        if kv and kv[1] is int:
            return Annotated[dict[Short, Annotated[int, Field(ge=-(2**62), le=2**62)]], Field(max_length=256)]
        return Annotated[dict[Short, JsonValue], Field(max_length=64)]
    return JsonValue


def _bound(params: Sequence[str]) -> str | None:
    return next((p for p in ACTING if p in params), None)


def body_model(spec: Spec, path_params: Sequence[str]) -> type[CommandBody]:
    fn = getattr(LedgerApplication, spec.method)
    hints = typing.get_type_hints(fn)
    sig = inspect.signature(fn)
    names = [p for p in sig.parameters if p != "self"]
    skip = {"inspection_id", "at", _bound(names), *path_params, *SERVER_ONLY}
    fields: dict[str, Any] = {}
    for name, p in sig.parameters.items():
        if name == "self" or name in skip or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        tp = spec.types.get(name) or _field_type(hints.get(name, Any))
        default = p.default
        if default is inspect.Parameter.empty:
            default = None if get_origin(tp) in (Union, types.UnionType) and type(None) in get_args(tp) else ...
        elif isinstance(default, tuple | frozenset):
            default = list(default)
        fields[name] = (tp, Field(default, description=FIELD_DOCS.get(name)))
    for name, (tp, default) in spec.options.items():
        fields[name] = (tp, Field(default, description=FIELD_DOCS.get(name)))
    model_name = "".join(w.capitalize() for w in spec.method.split("_")) + "Body"
    return create_model(model_name, __base__=CommandBody, **fields)


# ----------------------------------------------------------------------------- special steps

def _check_blob(ctx: CommandContext, _: CaseScope | None, fields: dict[str, Any]) -> None:
    from api.blobs import normalise_digest  # noqa: PLC0415

    digest = normalise_digest(str(fields.get("sha256", "")))
    if digest is None:
        raise Unprocessable("sha256 must be a SHA-256 digest", code="E_DIGEST_INVALID")
    size = ctx.services.blobs.size_of(digest)
    if size is None:
        raise Unprocessable(f"no uploaded blob {digest}: upload it with POST /v1/blobs first", code="E_BLOB_UNKNOWN")
    if fields.get("size") is not None and fields["size"] != size:
        raise Unprocessable(f"the blob has {size} bytes, not {fields['size']}", code="E_BLOB_SIZE")
    fields.update(sha256=digest, size=size)


def _blob_reader(ctx: CommandContext, _: CaseScope | None, fields: dict[str, Any]) -> None:
    """R14 (issue 18): a pool committed by hash is read from the blob store."""
    from api.blobs import normalise_digest  # noqa: PLC0415

    store = ctx.services.blobs
    if "pool_blob" in fields:
        digest = normalise_digest(str(fields["pool_blob"]))
        if digest is None:
            raise Unprocessable("pool_blob must be a SHA-256 digest", code="E_DIGEST_INVALID")
        if store.size_of(digest) is None:
            raise Unprocessable(f"no uploaded blob {digest}: upload the pool with POST /v1/blobs first",
                                code="E_BLOB_UNKNOWN")
        fields["pool_blob"] = digest

    def read(sha256: str) -> bytes:
        if store.size_of(sha256) is None:
            raise Unprocessable(f"the pool blob {sha256} is missing from the blob store", code="E_BLOB_UNKNOWN")
        return b"".join(store.open(sha256))

    fields["read_blob"] = read


def _own_agency(ctx: CommandContext, _: CaseScope | None, fields: dict[str, Any]) -> None:
    code = fields.get("agency_code") or ctx.principal.agency
    if code != ctx.principal.agency:
        raise Forbidden("you act for your own agency only", code="E_FORBIDDEN_SCOPE")
    fields["agency_code"] = code


def _own_device(ctx: CommandContext, _: CaseScope | None, fields: dict[str, Any]) -> None:
    """Device steps are scoped like case steps: only the agency that registered the device acts on it."""
    device = ctx.services.container.app.get_device(str(fields["device_id"]))
    if device.agency_code != ctx.principal.agency:
        raise Forbidden("this device belongs to another agency", code="E_FORBIDDEN_SCOPE")


def _lead_is_own(ctx: CommandContext, _: CaseScope | None, fields: dict[str, Any]) -> None:
    if fields["assignments"][0]["agency_code"] != ctx.principal.agency:
        raise Forbidden("the lead agency must be your own agency", code="E_FORBIDDEN_SCOPE")
    for a in fields["assignments"]:
        if a.get("assistance_request_ref") is None:
            a.pop("assistance_request_ref", None)
    for k in [k for k, v in fields.items() if v is None and k.endswith("_ref")]:
        fields.pop(k)


def _feedback_secret(ctx: CommandContext, _: CaseScope | None, fields: dict[str, Any]) -> None:
    secret = ctx.services.config.feedback_secret
    assert secret is not None
    fields["secret"] = secret


def _feedback_link(token: Any, ctx: CommandContext, cid: UUID | None) -> dict[str, Any]:
    base = ctx.services.config.public_base_url or str(ctx.request.base_url).rstrip("/")
    return {"feedback_token": token, "feedback_url": f"{base}/v/{cid}?token={token}"}


def _value(v: Any, *_: Any) -> dict[str, Any]:
    if v is None:
        return {}
    if isinstance(v, UUID):
        return {"id": str(v)}
    if isinstance(v, int) and not isinstance(v, bool):
        return {"version": v}
    if isinstance(v, tuple | list):
        return {"result": [str(x) for x in v]}
    return {"result": str(v)}


def _case_created(v: Any, *_: Any) -> dict[str, Any]:
    return {"case_id": str(v)}


def _drop_nones(*keys: str) -> Callable[[CommandContext, CaseScope | None, dict[str, Any]], None]:
    def prep(_: CommandContext, __: CaseScope | None, fields: dict[str, Any]) -> None:
        for k in keys:
            if fields.get(k) is None:
                fields.pop(k, None)

    return prep


C = "/v1/cases/{case_id}"
DISPATCH_OPTIONS: dict[str, tuple[Any, Any]] = {
    "special_approval": (dict[Short, JsonValue] | None, None), "emergency": (bool, False),
    "legal_rep_required": (bool, False), "legal_rep_basis": (Text | None, None), "activity": (Short, "inspection"),
    "mode_reason": (Text | None, None), "merge_window_days": (Annotated[int, Field(ge=0, le=366)], 30),
    "random_draw_ref": (Short | None, None), "inspector_draw_ref": (Short | None, None),
    "special_campaign_ref": (Short | None, None),
    "case_source": (dict[Short, JsonValue] | None, None),
}

SPECS: list[Spec] = [
    # -- dispatch and the inspection ----------------------------------------------------------
    Spec("dispatch_inspection", "/v1/cases", (OFFICER, HEAD), "派单: dispatch an inspection (creates the case)",
         options=DISPATCH_OPTIONS, types={"assignments": Annotated[list[Assignment], Field(min_length=1,
                                                                                           max_length=8)]},
         status_code=201, prepare=_lead_is_own, result=_case_created),
    Spec("approve_inspection", f"{C}/approvals", (HEAD,), "R9: the agency head approves the dispatch",
         types={"agency_code": Short | None}, prepare=_own_agency),
    Spec("change_inspection_team", f"{C}/team-changes", (HEAD,),
         "R5, R6, R9: the agency head changes its team on an approved task (who leaves, who joins, why); "
         "certificates are checked as of the change",
         types={"agency_code": Short | None}, prepare=_own_agency),
    Spec("change_inspection_mode", f"{C}/mode-changes", (OFFICER, HEAD), "R18: change between on-site and off-site"),
    Spec("cancel_inspection", f"{C}/cancellation", (HEAD,), "cancel a task not yet started"),
    Spec("record_arrival", f"{C}/arrival", (OFFICER,),
         "R17, R5, R6: check in on site with the scanned enterprise code; the team "
         "present (cert_nos, default every officer of the task) is checked as of the arrival",
         types={"scan": Scan | None}),
    Spec("show_certificate", f"{C}/certificates-shown", (OFFICER,), "R7: an officer shows the enforcement certificate"),
    Spec("log_evidence", f"{C}/evidence", (OFFICER,), "R22-R27: log evidence by the hash of an uploaded blob",
         types={"sha256": Digest, "size": Annotated[int, Field(ge=0, le=2**62)] | None}, prepare=_check_blob),
    Spec("sign_inspection_record", f"{C}/record", (OFFICER,), "R19: the signed on-site record (笔录)"),
    Spec("conclude_inspection", f"{C}/conclusion", (OFFICER,), "conclude the inspection with its result"),
    Spec("notify_result", f"{C}/result-notice", (OFFICER,),
         "R21: tell the enterprise the result; returns its feedback token and link",
         prepare=_feedback_secret, result=_feedback_link),
    # -- the case -----------------------------------------------------------------------------
    Spec("file_case", f"{C}/filing", (OFFICER,), "R30: 立案, file a case from the inspection"),
    Spec("record_violation", f"{C}/violation", (OFFICER,), "R31, R32: the violation's end, discovery and fingerprint"),
    Spec("request_recusal", f"{C}/recusal-requests", (OFFICER,), "R8: a recusal request"),
    Spec("decide_recusal", f"{C}/recusal-decisions", (HEAD,), "R8: the head decides a recusal request"),
    Spec("preserve_evidence", f"{C}/evidence-preservations", (OFFICER,), "R28: 先行登记保存, approved by the head"),
    Spec("decide_preservation", f"{C}/preservation-decisions", (OFFICER, HEAD), "R28: decide on preserved evidence"),
    Spec("review_device_record", f"{C}/device-record-reviews", (REVIEWER, HEAD),
         "R27: review of a technical monitoring device's record"),
    Spec("give_legal_review", f"{C}/legal-reviews", (REVIEWER,), "R36-R38: 法制审核 by a legal reviewer"),
    Spec("record_education", f"{C}/education", (OFFICER,), "R41: record education of the party"),
    Spec("serve_penalty_notice", f"{C}/penalty-notice", (OFFICER,),
         "R33, R35: 事先告知, the notice of intended penalty",
         options={"confiscation_fen": (Annotated[int, Field(ge=0, le=10**15)], 0),
                  "party_kind": (Short, "organisation"), "new_facts": (bool, False)}),
    Spec("hear_statement", f"{C}/statements", (OFFICER,), "R34: the party's statement and defence (陈述申辩)"),
    Spec("waive_rights", f"{C}/rights-waivers", (OFFICER,), "R34: the party waives statement or hearing"),
    Spec("request_hearing", f"{C}/hearing-requests", (OFFICER,), "R35: the party requests a hearing"),
    Spec("schedule_hearing", f"{C}/hearing-schedule", (OFFICER, HEAD), "R35: schedule the hearing"),
    Spec("hold_hearing", f"{C}/hearings", (OFFICER, REVIEWER), "R35: the hearing record"),
    Spec("hold_collective_discussion", f"{C}/collective-discussions", (HEAD,), "R39: 集体讨论 of a major case"),
    Spec("approve_decision_extension", f"{C}/decision-extensions", (HEAD,), "R30: extend the decision period once"),
    Spec("decide", f"{C}/decision", (HEAD,), "R29, R36-R42: the decision, by the agency head"),
    Spec("file_simple_decision", f"{C}/simple-decision-filing", (OFFICER,), "R43: file a simple-procedure decision"),
    Spec("serve_decision", f"{C}/service", (OFFICER,), "R45, R46: 送达, serve the decision"),
    Spec("record_payment", f"{C}/payments", (OFFICER,), "R47: payment of the fine and any late surcharge"),
    Spec("publish_decision", f"{C}/publication", (PUBLISHER,), "R48, R49, R53: 公示 with a signed redaction map",
         options={"credit_category": (Short | None, "general"), "period_months": (Annotated[int, Field(ge=0, le=120)]
                                                                                  | None, None),
                  "restriction_months": (Annotated[int, Field(ge=0, le=120)], 0),
                  "necessity_reason": (Text | None, None)}),
    Spec("alter_decision", f"{C}/decision-alterations", (HEAD,),
         "R51: the decision was changed, revoked or found illegal or void"),
    Spec("withdraw_publication", f"{C}/publication-withdrawal", (PUBLISHER,),
         "R51: withdraw the public notice, with public reasons"),
    Spec("correct_publication", f"{C}/publication-corrections", (PUBLISHER,), "R52: correct the public notice"),
    Spec("expire_publication", f"{C}/publication-expiry", (PUBLISHER,), "R53: end publication after its period"),
    Spec("approve_credit_repair", f"{C}/credit-repair", (HEAD,), "R54: approve credit repair (early removal)"),
    Spec("record_overdue", f"{C}/overdue-checks", (OFFICER, HEAD), "append newly overdue obligations with V_* flags"),
    # -- coercive measures (查封/扣押) ------------------------------------------------------------
    Spec("take_coercive_measure", f"{C}/coercive-measures", (OFFICER,),
         "R3, R25, R56, R57: take a coercive measure (查封/扣押) with its record and AV segments",
         types={"agency_code": Short | None}, prepare=_own_agency, status_code=201),
    Spec("approve_coercive_measure", f"{C}/coercive-measures/{{measure_no}}/approval", (HEAD,),
         "R56: the head approves the measure (afterwards, in an emergency)"),
    Spec("extend_coercive_measure", f"{C}/coercive-measures/{{measure_no}}/extension", (HEAD,),
         "R57: extend the measure's period once"),
    Spec("note_testing_period", f"{C}/coercive-measures/{{measure_no}}/testing-period", (OFFICER,),
         "R57: a testing or appraisal period that does not count"),
    Spec("end_coercive_measure", f"{C}/coercive-measures/{{measure_no}}/end", (OFFICER, HEAD),
         "R57: lift the measure, or decide on the items"),
    Spec("record_measure_overdue", f"{C}/coercive-measures/{{measure_no}}/overdue-checks", (OFFICER, HEAD),
         "append the measure's newly overdue obligations"),
    Spec("close_case", f"{C}/closure", (OFFICER, HEAD), "R24: close the case (every phase recorded)"),
    # -- agency-level: random draws, special campaigns, devices -------------------------------
    Spec("commit_draw_pool", "/v1/agencies/{agency_code}/draws", (OFFICER, HEAD),
         "R14: commit the pool of a 双随机 draw (before the seed is known)", agency_param="agency_code",
         status_code=201),
    Spec("commit_draw_pool_by_hash", "/v1/agencies/{agency_code}/draws-by-hash", (OFFICER, HEAD),
         "R14: commit a pool of up to 1,000,000 members by the hash of its uploaded canonical list "
         "(one member per line, sorted by UTF-8 bytes)", agency_param="agency_code", status_code=201,
         types={"pool_blob": Digest}, prepare=_blob_reader),
    Spec("perform_draw", "/v1/agencies/{agency_code}/draws/{draw_no}/result", (OFFICER, HEAD),
         "R14: perform the committed draw with its public seed", agency_param="agency_code",
         prepare=_blob_reader),
    Spec("assess_special_necessity", "/v1/agencies/{agency_code}/special-campaigns", (OFFICER, HEAD),
         "R11: the necessity assessment of a special campaign", agency_param="agency_code", status_code=201),
    Spec("approve_special_campaign", "/v1/agencies/{agency_code}/special-campaigns/{campaign_no}/approval", (HEAD,),
         "R11: approve a special campaign", agency_param="agency_code"),
    Spec("file_special_campaign", "/v1/agencies/{agency_code}/special-campaigns/{campaign_no}/filing",
         (OFFICER, HEAD), "R11: file the campaign with the justice office", agency_param="agency_code"),
    Spec("publish_annual_statistics", "/v1/agencies/{agency_code}/annual-statistics", (HEAD, PUBLISHER),
         "R61: publish the agency's annual statistics with their replay hash", agency_param="agency_code",
         status_code=201),
    Spec("register_device", "/v1/devices", (REGISTRAR,), "R27: register a technical monitoring device",
         status_code=201),
    Spec("review_device", "/v1/devices/{device_id}/review", (REVIEWER,), "R27: legal and technical review of a device",
         prepare=_own_device),
    Spec("publish_device_location", "/v1/devices/{device_id}/location-publication", (PUBLISHER,),
         "R27: publish the device's location", prepare=_own_device),
    # -- registers ------------------------------------------------------------------------------
    Spec("register_agency", "/v1/agencies", (REGISTRAR,), "register an enforcement subject", status_code=201),
    Spec("appoint_agency_head", "/v1/agencies/{agency_code}/head", (REGISTRAR,), "appoint the agency head"),
    Spec("change_agency_status", "/v1/agencies/{agency_code}/status", (REGISTRAR,), "change an agency's status"),
    Spec("issue_certificate", "/v1/officers", (REGISTRAR,), "R5: issue an enforcement certificate", status_code=201),
    Spec("change_certificate_status", "/v1/officers/{cert_no}/status", (REGISTRAR,), "suspend or revoke a certificate"),
    Spec("renew_certificate", "/v1/officers/{cert_no}/renewal", (REGISTRAR,), "renew a certificate"),
    Spec("register_enterprise", "/v1/enterprises", (REGISTRAR,), "R1: register an enterprise", status_code=201),
    Spec("change_risk_class", "/v1/enterprises/{uscc}/risk-class", (REGISTRAR,), "R15: change the credit-risk class"),
    Spec("set_positive_list", "/v1/enterprises/{uscc}/positive-list", (REGISTRAR,),
         "R16: put on or take off the positive list"),
    Spec("publish_reference_list", "/v1/reference-lists", (REGISTRAR,), "publish a new version of a reference list",
         status_code=201),
    Spec("enter_calendar_year", "/v1/calendar/years", (REGISTRAR,),
         "enter one year's official holiday arrangement from the State Council notice (or a corrected version)",
         status_code=201, types={"holidays": Days, "workdays": Days, "year": Annotated[int, Field(ge=0, le=99_999)]},
         result=lambda y, *_: {"year": y.year, "version": y.version}),
]

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "appended (or, with ?preview=true, the entries to sign)"},
    400: {"description": "malformed input (problem+json)"},
    401: {"description": "no or bad token (decided before the body is read)"},
    403: {"description": "role or agency not allowed"},
    404: {"description": "unknown case, officer, agency or enterprise"},
    409: {"description": "refused by a rule (`code` is the rulebook code) or a concurrent write"},
    412: {"description": "If-Match names another case version"},
    413: {"description": "the body is over the JSON limit (`E_BODY_TOO_LARGE`), refused before it is read"},
    422: {"description": "invalid body, idempotency key reuse, or a bad client signature"},
}


def _path_params(path: str) -> list[str]:
    return [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]


def _endpoint(spec: Spec) -> Callable[..., Response]:
    path_params = _path_params(spec.path)
    model = body_model(spec, path_params)
    fn = getattr(LedgerApplication, spec.method)
    params = [p for p in inspect.signature(fn).parameters if p != "self"]
    bound = _bound(params)
    on_case = "inspection_id" in params
    extra_prepare = _drop_nones(*(k for k in spec.options if k.endswith("_ref"))) if spec.options else None

    def endpoint(ctx: CommandContext, body: CommandBody, **path: str) -> Response:
        scope: CaseScope | None = None
        if on_case:
            scope = writable_case(ctx.services, ctx.principal, path.pop("case_id"), *spec.roles)
        else:
            require(ctx.principal, *spec.roles)
            if spec.agency_param and path.get(spec.agency_param) != ctx.principal.agency:
                raise Forbidden("you act for your own agency only", code="E_FORBIDDEN_SCOPE")
        fields = {**body.command_fields(), **path}
        if extra_prepare is not None:
            extra_prepare(ctx, scope, fields)
        if spec.prepare is not None:
            spec.prepare(ctx, scope, fields)
        app = ctx.services.container.app
        who = ctx.principal.id
        case_id = scope.case_id if scope is not None else None

        def command(at: datetime) -> dict[str, Any]:
            kwargs = dict(fields, at=at)
            if bound is not None:
                kwargs[bound] = who
            if case_id is not None:
                kwargs["inspection_id"] = case_id
            out = getattr(app, spec.method)(**kwargs)
            return (spec.result or _value)(out, ctx, case_id)

        location = None
        if spec.method == "dispatch_inspection":
            location = lambda r: f"/v1/cases/{r['case_id']}"  # noqa: E731
        return ctx.run(command, body=body, case_id=case_id, status_code=spec.status_code, location=location)

    sig_params = [inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY,
                                    annotation=Annotated[str, Path(max_length=128)]) for p in path_params]
    sig_params += [inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=model),
                   inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=CommandDep)]

    def handler(**kwargs: Any) -> Response:
        ctx = kwargs.pop("ctx")
        body = kwargs.pop("body")
        return endpoint(ctx, body, **kwargs)

    handler.__signature__ = inspect.Signature(sig_params, return_annotation=Response)  # type: ignore[attr-defined]
    handler.__name__ = spec.method
    handler.__doc__ = (fn.__doc__ or "").strip() or spec.summary
    return handler


def build_router() -> APIRouter:
    router = APIRouter()
    for spec in SPECS:
        tag = ("case commands" if spec.path.startswith("/v1/cases") else
               "registers" if spec.roles == (REGISTRAR,) else "agency commands")
        router.add_api_route(spec.path, _endpoint(spec), methods=["POST"], summary=spec.summary,
                             status_code=spec.status_code, responses=_RESPONSES, tags=[tag],
                             operation_id=spec.method, response_class=Response)
    return router


__all__ = ["SPECS", "Spec", "body_model", "build_router"]
