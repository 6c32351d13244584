"""Commands on the registers: agencies (执法主体), officers' certificates, enterprises, reference lists.

Only a registrar keeps the registers. The entries are signed like every other entry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import AwareDatetime, Field

from api.auth import Role
from api.deps import CommandBody, CommandDep, require
from api.routers.case_commands import _COMMAND_RESPONSES, Names, Short, Text

router = APIRouter(prefix="/v1", tags=["registers"])
Code = Annotated[str, Path(max_length=64)]


def _run(ctx: CommandDep, body: CommandBody, call: Any, status_code: int = 200) -> Response:
    p = require(ctx.principal, Role.REGISTRAR)
    app = ctx.services.container.app

    def command(at: datetime) -> dict[str, Any] | None:
        return call(app, at, p.id)

    return ctx.run(command, body=body, status_code=status_code)


class AgencyBody(CommandBody):
    agency_code: Short
    name: Text
    kind: Short = Field(description="administrative_agency | authorised_organisation | entrusted_organisation")
    jurisdiction: Names
    entrustment: dict[Short, Text] | None = None


class HeadBody(CommandBody):
    head: Short = Field(description="the head's principal id")
    effective_at: AwareDatetime


class StatusBody(CommandBody):
    status: Short
    effective_at: AwareDatetime
    reason: Text


class CertificateBody(CommandBody):
    cert_no: Short
    person_id: Short
    name: Short
    agency_code: Short
    categories: Names
    valid_from: Short = Field(description="YYYY-MM-DD")
    valid_until: Short = Field(description="YYYY-MM-DD")


class RenewalBody(CommandBody):
    valid_from: Short
    valid_until: Short
    categories: Names
    effective_at: AwareDatetime


class EnterpriseBody(CommandBody):
    uscc: Short
    name: Text
    sector: Short
    admin_division: Short
    risk_class: Short = Field(description="A | B | C | D")
    positive_list: bool = False


class RiskClassBody(CommandBody):
    risk_class: Short
    effective_at: AwareDatetime


class PositiveListBody(CommandBody):
    on_list: bool
    effective_at: AwareDatetime
    reason: Text


class ReferenceListBody(CommandBody):
    kind: Short = Field(description="item_list | annual_plan | frequency_caps | discretion_benchmark")
    owner: Short = Field(description="an agency code, or `national`")
    scope: Short = ""
    entries: list[dict[Short, Text | int | bool | None]] = Field(max_length=500)


@router.post("/agencies", status_code=201, summary="register an enforcement subject", responses=_COMMAND_RESPONSES)
def register_agency(body: AgencyBody, ctx: CommandDep) -> Response:
    return _run(ctx, body, lambda app, at, actor: {"id": str(app.register_agency(
        at=at, actor=actor, **body.command_fields()))}, 201)


@router.post("/agencies/{agency_code}/head", summary="appoint the agency head", responses=_COMMAND_RESPONSES)
def appoint_head(agency_code: Code, body: HeadBody, ctx: CommandDep) -> Response:
    return _run(ctx, body, lambda app, at, actor: app.appoint_agency_head(
        agency_code=agency_code, at=at, actor=actor, **body.command_fields()))


@router.post("/agencies/{agency_code}/status", summary="change an agency's status", responses=_COMMAND_RESPONSES)
def agency_status(agency_code: Code, body: StatusBody, ctx: CommandDep) -> Response:
    return _run(ctx, body, lambda app, at, actor: app.change_agency_status(
        agency_code=agency_code, at=at, actor=actor, **body.command_fields()))


@router.post("/officers", status_code=201, summary="R5: issue an enforcement certificate",
             responses=_COMMAND_RESPONSES)
def issue_certificate(body: CertificateBody, ctx: CommandDep) -> Response:
    return _run(ctx, body, lambda app, at, actor: {"id": str(app.issue_certificate(
        at=at, actor=actor, **body.command_fields()))}, 201)


@router.post("/officers/{cert_no}/status", summary="suspend or revoke a certificate", responses=_COMMAND_RESPONSES)
def certificate_status(cert_no: Code, body: StatusBody, ctx: CommandDep) -> Response:
    return _run(ctx, body, lambda app, at, actor: app.change_certificate_status(
        cert_no=cert_no, at=at, actor=actor, **body.command_fields()))


@router.post("/officers/{cert_no}/renewal", summary="renew a certificate", responses=_COMMAND_RESPONSES)
def renew_certificate(cert_no: Code, body: RenewalBody, ctx: CommandDep) -> Response:
    return _run(ctx, body, lambda app, at, actor: app.renew_certificate(
        cert_no=cert_no, at=at, actor=actor, **body.command_fields()))


@router.post("/enterprises", status_code=201, summary="R1: register an enterprise", responses=_COMMAND_RESPONSES)
def register_enterprise(body: EnterpriseBody, ctx: CommandDep) -> Response:
    return _run(ctx, body, lambda app, at, actor: {"id": str(app.register_enterprise(
        at=at, actor=actor, **body.command_fields()))}, 201)


@router.post("/enterprises/{uscc}/risk-class", summary="R15: change the credit-risk class",
             responses=_COMMAND_RESPONSES)
def risk_class(uscc: Code, body: RiskClassBody, ctx: CommandDep) -> Response:
    return _run(ctx, body, lambda app, at, actor: app.change_risk_class(
        uscc=uscc, at=at, actor=actor, **body.command_fields()))


@router.post("/enterprises/{uscc}/positive-list", summary="R16: put on or take off the positive list",
             responses=_COMMAND_RESPONSES)
def positive_list(uscc: Code, body: PositiveListBody, ctx: CommandDep) -> Response:
    return _run(ctx, body, lambda app, at, actor: app.set_positive_list(
        uscc=uscc, at=at, actor=actor, **body.command_fields()))


@router.post("/reference-lists", status_code=201, summary="publish a new version of a reference list",
             responses=_COMMAND_RESPONSES)
def publish_reference_list(body: ReferenceListBody, ctx: CommandDep) -> Response:
    return _run(ctx, body, lambda app, at, actor: {"version": app.publish_reference_list(
        at=at, actor=actor, **body.command_fields())}, 201)
