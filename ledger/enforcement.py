"""Enforcement commands: load aggregates, call the pure domain, save atomically.

``EnforcementCommands`` is a mixin for the eventsourcing ``Application`` subclass
(``ledger.application.LedgerApplication``).  The host provides ``self.repository``,
``self.save(*aggregates)`` and ``self.calendar`` (a ``domain.calendar.HolidayCalendar``; the
official calendar of ``ledger.calendar_register``).

Every command takes an explicit, timezone-aware ``at`` (the event's occurred_at) and
the acting principal.  A refused command raises a ``domain.errors.DomainError`` with
its code and saves nothing; a dispatch saves the inspection and its enterprise-year
counters in one ``save`` so the yearly cap holds under concurrency (R12).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from domain import services
from domain.calendar import legal_day
from domain.coercion import CoerciveMeasure, av_tolerance_in_force
from domain.errors import (
    OutOfOrder,
    RuleViolation,
    UnknownAgency,
    UnknownCase,
    UnknownEnterprise,
    UnknownEntity,
    UnknownOfficer,
    UnknownReferenceList,
)
from domain.evidence import MonitoringDevice
from domain.inspection import Inspection
from domain.penalty import FineRegister
from domain.random_draw import RandomDraw, pool_from_blob
from domain.reference import (
    ANNUAL_PLAN,
    AV_POLICY,
    DISCRETION_BENCHMARK,
    FREQUENCY_CAPS,
    ITEM_LIST,
    OFFICER_ROSTER,
    ReferenceList,
)
from domain.registers import Agency, Enterprise, EnterpriseYear, Officer
from domain.special import SpecialCampaign
from domain.uscc import validate_uscc

if TYPE_CHECKING:
    from domain.calendar import HolidayCalendar


@dataclass(frozen=True, slots=True)
class InspectionStep:
    """How a ledger command runs one ``Inspection`` command: the common shape of the handlers.

    The handler's arguments (its signature is the API's request body) are passed on by name,
    after ``cert_nos`` became ``certs`` (each certificate as of ``at``, R5), ``cert_no`` became
    ``cert``, the lead agency's state as of ``at`` was added as ``agency`` (its head decides,
    R8, R28, R30) and the official calendar as ``calendar``; ``options`` names a ``**`` argument
    forwarded as keywords. The inspection is loaded after the certificates and saved alone.
    """

    method: str
    certs: bool = False
    cert: bool = False
    head: bool = False
    calendar: bool = False
    options: str | None = None


#: Ledger command → the ``Inspection`` command it runs (``EnforcementCommands._step``).
INSPECTION_STEPS: Mapping[str, InspectionStep] = MappingProxyType({
    "change_inspection_mode": InspectionStep("change_mode"),
    "show_certificate": InspectionStep("show_certificate", cert=True),
    "sign_inspection_record": InspectionStep("sign_record", certs=True),
    "conclude_inspection": InspectionStep("conclude", certs=True, calendar=True),
    "notify_result": InspectionStep("notify_result", calendar=True),
    "receive_feedback": InspectionStep("receive_feedback"),
    "file_case": InspectionStep("file_case", calendar=True),
    "give_legal_review": InspectionStep("give_legal_review"),
    "record_education": InspectionStep("record_education"),
    "serve_decision": InspectionStep("serve", calendar=True),
    "publish_decision": InspectionStep("publish", calendar=True, options="period"),
    "withdraw_publication": InspectionStep("withdraw_publication"),
    "correct_publication": InspectionStep("correct_publication"),
    "record_violation": InspectionStep("record_violation"),
    "serve_penalty_notice": InspectionStep("serve_penalty_notice", calendar=True, options="options"),
    "hear_statement": InspectionStep("hear_statement", calendar=True),
    "waive_rights": InspectionStep("waive_rights"),
    "request_hearing": InspectionStep("request_hearing", calendar=True),
    "schedule_hearing": InspectionStep("schedule_hearing", calendar=True),
    "hold_hearing": InspectionStep("hold_hearing"),
    "hold_collective_discussion": InspectionStep("hold_collective_discussion"),
    "approve_decision_extension": InspectionStep("approve_decision_extension", head=True, calendar=True),
    "file_simple_decision": InspectionStep("file_simple_decision"),
    "record_payment": InspectionStep("record_payment", calendar=True),
    "request_recusal": InspectionStep("request_recusal"),
    "decide_recusal": InspectionStep("decide_recusal", head=True),
    "review_device_record": InspectionStep("review_device_record"),
    "preserve_evidence": InspectionStep("preserve_evidence", head=True, calendar=True),
    "decide_preservation": InspectionStep("decide_preservation", calendar=True),
    "expire_publication": InspectionStep("expire_publication"),
    "approve_credit_repair": InspectionStep("approve_credit_repair"),
    "record_overdue": InspectionStep("record_overdue", calendar=True),
    "close_case": InspectionStep("close_case"),
})


class EnforcementCommands:
    """Command methods for registers, reference lists and the inspection lifecycle."""

    repository: Any

    if TYPE_CHECKING:  # provided by eventsourcing.application.Application and CalendarCommands

        def save(self, *aggregates: Any, **kwargs: Any) -> Any: ...

        @property
        def calendar(self) -> HolidayCalendar: ...

    # ---------------------------------------------------------------- loading
    def _load(self, agg_id: UUID, error: type[UnknownEntity], key: str) -> Any:
        try:
            return self.repository.get(agg_id)
        except AggregateNotFoundError:
            raise error(f"{key!r} not found", key=key) from None

    def _load_optional(self, agg_id: UUID) -> Any:
        try:
            return self.repository.get(agg_id)
        except AggregateNotFoundError:
            return None

    def _agency(self, code: str) -> Agency:
        return cast("Agency", self._load(Agency.id_for(code), UnknownAgency, code))

    def _officer(self, cert_no: str) -> Officer:
        return cast("Officer", self._load(Officer.id_for(cert_no), UnknownOfficer, cert_no))

    def _enterprise(self, uscc: str) -> Enterprise:
        validate_uscc(uscc)
        return cast("Enterprise", self._load(Enterprise.id_for(uscc), UnknownEnterprise, uscc))

    def get_inspection(self, inspection_id: UUID) -> Inspection:
        return cast("Inspection", self._load(inspection_id, UnknownCase, str(inspection_id)))

    def _certs(self, cert_nos: Iterable[str], at: datetime) -> tuple[Any, ...]:
        return services.certificates_as_of([self._officer(c) for c in cert_nos], at)

    def _on_inspection(self, inspection_id: UUID, fn: Any) -> Any:
        insp = self.get_inspection(inspection_id)
        result = fn(insp)
        self.save(insp)
        return result

    def _step(self, name: str, args: Mapping[str, Any]) -> Any:
        """Run the ``INSPECTION_STEPS`` row ``name`` with a handler's ``locals()``."""
        step = INSPECTION_STEPS[name]
        kwargs = {k: v for k, v in args.items() if k not in {"self", "inspection_id"}}
        if step.options is not None:
            kwargs.update(kwargs.pop(step.options))
        at = kwargs["at"]
        if step.certs:
            kwargs["certs"] = self._certs(kwargs.pop("cert_nos"), at)
        if step.cert:
            kwargs["cert"] = self._officer(kwargs.pop("cert_no")).certificate_as_of(at)
        if step.calendar:
            kwargs["calendar"] = self.calendar
        insp = self.get_inspection(args["inspection_id"])
        if step.head:
            kwargs["agency"] = self._agency(insp.lead_agency).state_as_of(at)
        result = getattr(insp, step.method)(**kwargs)
        self.save(insp)
        return result

    # ---------------------------------------------------------------- registers
    def register_agency(
        self,
        *,
        agency_code: str,
        name: str,
        kind: str,
        jurisdiction: Iterable[str],
        at: datetime,
        actor: str,
        entrustment: Mapping[str, Any] | None = None,
    ) -> UUID:
        agency = Agency.register(
            agency_code=agency_code, name=name, kind=kind, jurisdiction=jurisdiction,
            at=at, actor=actor, entrustment=dict(entrustment) if entrustment else None,
        )
        self.save(agency)
        return agency.id

    def appoint_agency_head(
        self, *, agency_code: str, head: str, effective_at: datetime, at: datetime, actor: str,
    ) -> None:
        agency = self._agency(agency_code)
        agency.appoint_head(head=head, effective_at=effective_at, at=at, actor=actor)
        self.save(agency)

    def change_agency_status(
        self, *, agency_code: str, status: str, effective_at: datetime, reason: str, at: datetime, actor: str,
    ) -> None:
        agency = self._agency(agency_code)
        agency.change_status(status=status, effective_at=effective_at, reason=reason, at=at, actor=actor)
        self.save(agency)

    def issue_certificate(
        self,
        *,
        cert_no: str,
        person_id: str,
        name: str,
        agency_code: str,
        categories: Iterable[str],
        valid_from: str,
        valid_until: str,
        at: datetime,
        actor: str,
    ) -> UUID:
        validate_uscc(agency_code)
        self._agency(agency_code)
        officer = Officer.issue_certificate(
            cert_no=cert_no, person_id=person_id, name=name, agency_code=agency_code,
            categories=categories, valid_from=valid_from, valid_until=valid_until, at=at, actor=actor,
        )
        self.save(officer)
        return officer.id

    def change_certificate_status(
        self, *, cert_no: str, status: str, effective_at: datetime, reason: str, at: datetime, actor: str,
    ) -> None:
        officer = self._officer(cert_no)
        officer.change_status(status=status, effective_at=effective_at, reason=reason, at=at, actor=actor)
        self.save(officer)

    def renew_certificate(
        self,
        *,
        cert_no: str,
        valid_from: str,
        valid_until: str,
        categories: Iterable[str],
        effective_at: datetime,
        at: datetime,
        actor: str,
    ) -> None:
        officer = self._officer(cert_no)
        officer.renew(valid_from=valid_from, valid_until=valid_until, categories=categories,
                      effective_at=effective_at, at=at, actor=actor)
        self.save(officer)

    def register_enterprise(
        self,
        *,
        uscc: str,
        name: str,
        sector: str,
        admin_division: str,
        risk_class: str,
        positive_list: bool,
        at: datetime,
        actor: str,
    ) -> UUID:
        ent = Enterprise.register(uscc=uscc, name=name, sector=sector, admin_division=admin_division,
                                  risk_class=risk_class, positive_list=positive_list, at=at, actor=actor)
        self.save(ent)
        return ent.id

    def change_risk_class(
        self, *, uscc: str, risk_class: str, effective_at: datetime, at: datetime, actor: str,
    ) -> None:
        ent = self._enterprise(uscc)
        ent.change_risk_class(risk_class=risk_class, effective_at=effective_at, at=at, actor=actor)
        self.save(ent)

    def set_positive_list(
        self, *, uscc: str, on_list: bool, effective_at: datetime, reason: str, at: datetime, actor: str,
    ) -> None:
        ent = self._enterprise(uscc)
        ent.set_positive_list(on_list=on_list, effective_at=effective_at, reason=reason, at=at, actor=actor)
        self.save(ent)

    def publish_reference_list(
        self,
        *,
        kind: str,
        owner: str,
        entries: Iterable[Mapping[str, Any]],
        at: datetime,
        actor: str,
        scope: str = "",
    ) -> int:
        """Publish a new version (opening the list on first use); returns its number."""
        if owner != "national":
            self._agency(owner)
        lst = self._load_optional(ReferenceList.id_for(kind, owner, scope))
        if lst is None:
            lst = ReferenceList.open(kind=kind, owner=owner, scope=scope, at=at, actor=actor)
        version = lst.publish(entries=entries, at=at, actor=actor)
        self.save(lst)
        return cast("int", version.version)

    def get_reference_list(self, *, kind: str, owner: str, scope: str = "") -> ReferenceList:
        key = f"{kind}/{owner}/{scope}"
        return cast("ReferenceList", self._load(ReferenceList.id_for(kind, owner, scope), UnknownReferenceList, key))

    # ---------------------------------------------------------------- dispatch
    def dispatch_inspection(
        self,
        *,
        task_no: str,
        inspection_type: str,
        mode: str,
        uscc: str,
        assignments: Sequence[Mapping[str, Any]],
        at: datetime,
        actor: str,
        **options: Any,
    ) -> UUID:
        """派单. ``assignments``: ``[{"agency_code", "item_codes", "cert_nos",
        "assistance_request_ref"?}, ...]``, lead agency first. ``options`` are passed to
        :func:`domain.services.dispatch_inspection` (special_approval, emergency,
        legal_rep_required, legal_rep_basis, activity, mode_reason, counted_types,
        merge_window_days). By reference, loaded here: ``random_draw_ref`` and
        ``inspector_draw_ref`` (``"<agency code>/<draw no>"``, R14) and
        ``special_campaign_ref`` (``"<agency code>/<campaign no>"``, R11)."""
        enterprise = self._enterprise(uscc)
        for key, target, agg_cls, code in (
            ("random_draw_ref", "random_draw", RandomDraw, "E_RANDOM_DRAW_MISSING"),
            ("inspector_draw_ref", "inspector_draw", RandomDraw, "E_RANDOM_DRAW_MISSING"),
            ("special_campaign_ref", "special_campaign", SpecialCampaign, "E_SPECIAL_NOT_APPROVED"),
        ):
            ref = options.pop(key, None)
            if ref:
                agency_code, _, number = str(ref).partition("/")
                loaded = self._load_optional(agg_cls.id_for(agency_code, number))
                if loaded is None:
                    raise RuleViolation(code, f"no {target.replace('_', ' ')} {ref!r}")
                options[target] = loaded
        if assignments:
            lead = validate_uscc(assignments[0]["agency_code"])
            if self._load_optional(Inspection.id_for(lead, task_no)) is not None:
                raise OutOfOrder(f"task {task_no!r} of {lead} was already dispatched")
        year = str(legal_day(at).year)
        rows = []
        for a in assignments:
            code = a["agency_code"]
            validate_uscc(code)
            rows.append(
                services.AgencyAssignment(
                    agency=self._agency(code),
                    item_codes=tuple(a["item_codes"]),
                    officers=tuple(self._officer(c) for c in a["cert_nos"]),
                    item_list=self._load_optional(ReferenceList.id_for(ITEM_LIST, code)),
                    caps=self._load_optional(ReferenceList.id_for(FREQUENCY_CAPS, code)),
                    plan=self._load_optional(ReferenceList.id_for(ANNUAL_PLAN, code, year)),
                    enterprise_year=self._load_optional(EnterpriseYear.id_for(uscc, code, int(year))),
                    assistance_request_ref=a.get("assistance_request_ref"),
                    roster=self._load_optional(ReferenceList.id_for(OFFICER_ROSTER, code)),
                ),
            )
        result = services.dispatch_inspection(
            task_no=task_no, inspection_type=inspection_type, mode=mode, enterprise=enterprise,
            assignments=rows, at=at, actor=actor, **options,
        )
        self.save(*result.aggregates)
        return result.inspection.id

    def cancel_inspection(self, *, inspection_id: UUID, reason: str, at: datetime, actor: str) -> None:
        insp = self.get_inspection(inspection_id)
        years = [
            ey
            for a in insp.assignments
            if (ey := self._load_optional(EnterpriseYear.id_for(insp.uscc, a["agency_code"], insp.year)))
        ]
        services.cancel_inspection(insp, years, reason=reason, at=at, actor=actor)
        self.save(insp, *years)

    def approve_inspection(self, *, inspection_id: UUID, agency_code: str, approver: str, at: datetime) -> None:
        agency = self._agency(agency_code)
        self._on_inspection(
            inspection_id, lambda i: services.approve_dispatch(i, agency, approver=approver, at=at),
        )

    def change_inspection_team(
        self,
        *,
        inspection_id: UUID,
        agency_code: str,
        leaving: Iterable[str],
        joining: Iterable[str],
        reason: str,
        approver: str,
        at: datetime,
    ) -> None:
        """Change ``agency_code``'s team on an approved task (R5, R6, R9; issue 18): ``leaving``
        and ``joining`` are certificate numbers; every certificate is read as of ``at``, the
        change's instant, and the agency's head as of ``at`` approves and signs."""
        insp = self.get_inspection(inspection_id)
        agency = self._agency(agency_code).state_as_of(at)
        gone = set(leaving := tuple(leaving))
        rows = [a for a in insp.assignments if a["agency_code"] == agency_code]
        staying = [o["cert_no"] for a in rows for o in a["officers"] if o["cert_no"] not in gone]
        insp.change_team(agency=agency, leaving=leaving, joining=self._certs(joining, at),
                         staying=self._certs(staying, at), reason=reason, approver=approver, at=at)
        self.save(insp)

    def change_inspection_mode(
        self, *, inspection_id: UUID, mode: str, reason: str, approved_by: str, at: datetime, actor: str,
    ) -> None:
        self._step("change_inspection_mode", locals())

    # ---------------------------------------------------------------- on site
    def record_arrival(
        self,
        *,
        inspection_id: UUID,
        scan: Mapping[str, Any] | None,
        location: str,
        at: datetime,
        actor: str,
        cert_nos: Iterable[str] | None = None,
    ) -> None:
        """扫码入企 (R17) by the team present: ``cert_nos`` (default: every officer named on the
        task), each certificate checked as of ``at`` (R5) and at least two valid (R6)."""
        insp = self.get_inspection(inspection_id)
        present = tuple(insp.team) if cert_nos is None else tuple(cert_nos)
        certs = self._certs(present, at)
        insp.arrive(scan=scan, location=location, certs=certs, at=at, actor=actor)
        self.save(insp)

    def show_certificate(self, *, inspection_id: UUID, cert_no: str, at: datetime, actor: str) -> None:
        self._step("show_certificate", locals())

    def log_evidence(
        self,
        *,
        inspection_id: UUID,
        evidence_id: str,
        evidence_type: str,
        sha256: str,
        size: int,
        media_type: str,
        source: str,
        capture: Mapping[str, Any],
        cert_nos: Iterable[str],
        at: datetime,
        actor: str,
        lawful: bool = True,
    ) -> None:
        """Evidence; ``source="device"`` loads the device named by ``capture["device_id"]`` (R27)."""
        certs = self._certs(cert_nos, at)
        device = None
        if source == "device" and capture.get("device_id"):
            found = self._load_optional(MonitoringDevice.id_for(str(capture["device_id"])))
            device = found.state_as_of(at) if found is not None else None
        self._on_inspection(
            inspection_id,
            lambda i: i.log_evidence(
                evidence_id=evidence_id, evidence_type=evidence_type, sha256=sha256, size=size,
                media_type=media_type, source=source, capture=capture, certs=certs, at=at, actor=actor,
                lawful=lawful, device=device,
            ),
        )

    def sign_inspection_record(
        self,
        *,
        inspection_id: UUID,
        record_hash: str,
        cert_nos: Iterable[str],
        party_signature: str | None,
        refusal_note: str | None,
        at: datetime,
        actor: str,
        witness: str | None = None,
    ) -> None:
        self._step("sign_inspection_record", locals())

    def conclude_inspection(
        self,
        *,
        inspection_id: UUID,
        result: str,
        cert_nos: Iterable[str],
        at: datetime,
        actor: str,
        rectification_due: str | None = None,
    ) -> None:
        self._step("conclude_inspection", locals())

    def notify_result(
        self, *, inspection_id: UUID, recipient: str, summary_hash: str, secret: bytes, at: datetime, actor: str,
    ) -> str:
        """Returns the feedback QR token to show the enterprise (R21)."""
        return cast("str", self._step("notify_result", locals()))

    def receive_feedback(
        self, *, inspection_id: UUID, token: str, rating: int, prohibition_code: str | None, comment: str,
        at: datetime, actor: str,
    ) -> str:
        """R20/R21: record the enterprise's feedback (signed by the intake principal); returns the qr_id."""
        return cast("str", self._step("receive_feedback", locals()))

    # ---------------------------------------------------------------- case
    def file_case(
        self,
        *,
        inspection_id: UUID,
        case_no: str,
        investigators: Iterable[str],
        case_class: str,
        requires_legal_review: bool,
        at: datetime,
        actor: str,
        violation: Mapping[str, Any] | None = None,
    ) -> None:
        """立案 (R30); ``violation`` records the R31/R32 facts in the same command."""
        self._step("file_case", locals())

    def give_legal_review(
        self,
        *,
        inspection_id: UUID,
        reviewer: str,
        draft_hash: str,
        result: str,
        checklist: Mapping[str, str],
        first_time: bool,
        legal_qualification: bool,
        at: datetime,
    ) -> None:
        self._step("give_legal_review", locals())

    def record_education(self, *, inspection_id: UUID, summary: str, at: datetime, actor: str) -> None:
        self._step("record_education", locals())

    def decide(
        self,
        *,
        inspection_id: UUID,
        decision_no: str,
        outcome: str,
        draft_hash: str,
        decider: str,
        decider_role: str,
        evidence_refs: Iterable[str],
        at: datetime,
        regime: str = "penalty_118",
        penalty_kinds: Iterable[str] = (),
        fine_fen: int = 0,
        benchmark_code: str | None = None,
        no_penalty_conditions: bool = False,
        justification: str | None = None,
        requires_legal_review: bool = False,
        document: Mapping[str, str] | None = None,
        seal_ref: str | None = None,
        procedure: str = "normal",
        party_kind: str = "organisation",
        form_serial: str | None = None,
        confiscation_fen: int = 0,
    ) -> None:
        """处理决定; a fine is saved with its violation's register in one save (R32)."""
        insp = self.get_inspection(inspection_id)
        benchmarks = self._load_optional(ReferenceList.id_for(DISCRETION_BENCHMARK, insp.lead_agency))
        benchmark = services.resolve_benchmark(benchmarks, benchmark_code, at)
        register = self._fine_register(insp)
        saved = services.decide_case(
            insp, register, at=at,
            decision_no=decision_no, outcome=outcome, draft_hash=draft_hash, decider=decider,
            decider_role=decider_role, evidence_refs=evidence_refs, calendar=self.calendar,
            regime=regime, penalty_kinds=penalty_kinds, fine_fen=fine_fen, benchmark=benchmark,
            no_penalty_conditions=no_penalty_conditions, justification=justification,
            requires_legal_review=requires_legal_review, document=document, seal_ref=seal_ref,
            procedure=procedure, party_kind=party_kind, form_serial=form_serial, confiscation_fen=confiscation_fen,
        )
        self.save(insp, *([saved] if saved is not None else []))

    def _fine_register(self, insp: Inspection) -> FineRegister | None:
        if insp.violation is None:
            return None
        fid = FineRegister.id_for(insp.uscc, insp.violation["fingerprint"])
        return cast("FineRegister | None", self._load_optional(fid))

    def serve_decision(
        self,
        *,
        inspection_id: UUID,
        method: str,
        documents: Iterable[str],
        document_hash: str,
        publication_notice: bool,
        at: datetime,
        actor: str,
        consent_ref: str | None = None,
        sanshu_policy: bool = False,
    ) -> None:
        self._step("serve_decision", locals())

    def publish_decision(
        self,
        *,
        inspection_id: UUID,
        served_document: Mapping[str, str],
        redaction_map: Mapping[str, str],
        content_hash: str,
        redaction_reviewer: str,
        at: datetime,
        actor: str,
        **period: Any,
    ) -> None:
        """公示 (R48, R49); ``period``: credit_category, period_months, restriction_months,
        necessity_reason, low_fine_fen (R53)."""
        self._step("publish_decision", locals())

    def alter_decision(
        self,
        *,
        inspection_id: UUID,
        kind: str,
        reason: str,
        basis_ref: str,
        at: datetime,
        actor: str,
        new_draft_hash: str | None = None,
        evidence_refs: Iterable[str] = (),
    ) -> None:
        """R51; a revoked, illegal or void decision's fine is released from its register (R32)."""
        insp = self.get_inspection(inspection_id)
        register = self._fine_register(insp)
        saved = services.alter_decision(insp, register, kind=kind, reason=reason, basis_ref=basis_ref, at=at,
                                        actor=actor, calendar=self.calendar, new_draft_hash=new_draft_hash,
                                        evidence_refs=evidence_refs)
        self.save(insp, *([saved] if saved is not None else []))

    def withdraw_publication(self, *, inspection_id: UUID, reason_text: str, at: datetime, actor: str) -> None:
        self._step("withdraw_publication", locals())

    def correct_publication(
        self,
        *,
        inspection_id: UUID,
        reason: str,
        served_document: Mapping[str, str],
        redaction_map: Mapping[str, str],
        content_hash: str,
        redaction_reviewer: str,
        at: datetime,
        actor: str,
    ) -> None:
        self._step("correct_publication", locals())

    # ---------------------------------------------------------------- R14 random draws
    def commit_draw_pool(
        self,
        *,
        agency_code: str,
        draw_no: str,
        purpose: str,
        pool: Iterable[str],
        seed_source: str,
        at: datetime,
        actor: str,
    ) -> str:
        """双随机 step 1: commit the pool; returns its pool hash (R14)."""
        self._agency(agency_code)
        if self._load_optional(RandomDraw.id_for(agency_code, draw_no)) is not None:
            raise OutOfOrder(f"draw {draw_no!r} of {agency_code} already exists")
        draw = RandomDraw.commit_pool(agency_code=agency_code, draw_no=draw_no, purpose=purpose, pool=pool,
                                      seed_source=seed_source, at=at, actor=actor)
        self.save(draw)
        return draw.pool_hash

    def commit_draw_pool_by_hash(
        self,
        *,
        agency_code: str,
        draw_no: str,
        purpose: str,
        pool_blob: str,
        seed_source: str,
        at: datetime,
        actor: str,
        read_blob: Callable[[str], bytes],
    ) -> str:
        """双随机 step 1 for a pool of up to 1,000,000 members (R14; issue 18): ``pool_blob`` is the
        SHA-256 of the uploaded canonical list (one member per line, sorted by UTF-8 bytes), read
        with ``read_blob``; the entry commits its hash, size and blob digest. Returns the pool hash."""
        self._agency(agency_code)
        if self._load_optional(RandomDraw.id_for(agency_code, draw_no)) is not None:
            raise OutOfOrder(f"draw {draw_no!r} of {agency_code} already exists")
        data = read_blob(pool_blob)
        if hashlib.sha256(data).hexdigest() != pool_blob:
            raise RuleViolation("E_RANDOM_POOL_MISMATCH", f"the blob read is not {pool_blob}")
        draw = RandomDraw.commit_pool_by_hash(agency_code=agency_code, draw_no=draw_no, purpose=purpose,
                                              pool=pool_from_blob(data), seed_source=seed_source, at=at,
                                              actor=actor)
        self.save(draw)
        return draw.pool_hash

    def perform_draw(
        self, *, agency_code: str, draw_no: str, pool_hash: str, seed: str, count: int, at: datetime, actor: str,
        read_blob: Callable[[str], bytes] | None = None,
    ) -> tuple[str, ...]:
        """双随机 step 2: the committed pool hash and the public seed give the selection (R14); a pool
        committed by hash is read back from its blob with ``read_blob``."""
        draw = self.get_random_draw(agency_code=agency_code, draw_no=draw_no)
        pool = None
        if draw.pool_blob is not None and read_blob is not None:
            pool = pool_from_blob(read_blob(draw.pool_blob))
        selected = draw.perform(pool_hash=pool_hash, seed=seed, count=count, at=at, actor=actor, pool=pool)
        self.save(draw)
        return selected

    def get_random_draw(self, *, agency_code: str, draw_no: str) -> RandomDraw:
        ref = RandomDraw.ref_for(agency_code, draw_no)
        return cast("RandomDraw", self._load(RandomDraw.id_for(agency_code, draw_no), UnknownEntity, ref))

    # ---------------------------------------------------------------- R11 special campaigns
    def assess_special_necessity(
        self,
        *,
        agency_code: str,
        campaign_no: str,
        title: str,
        assessment_hash: str,
        conclusion: str,
        at: datetime,
        actor: str,
    ) -> UUID:
        self._agency(agency_code)
        if self._load_optional(SpecialCampaign.id_for(agency_code, campaign_no)) is not None:
            raise OutOfOrder(f"campaign {campaign_no!r} of {agency_code} already exists")
        campaign = SpecialCampaign.assess_necessity(agency_code=agency_code, campaign_no=campaign_no, title=title,
                                                    assessment_hash=assessment_hash, conclusion=conclusion,
                                                    at=at, actor=actor)
        self.save(campaign)
        return campaign.id

    def _campaign(self, agency_code: str, campaign_no: str) -> SpecialCampaign:
        return cast("SpecialCampaign", self._load(SpecialCampaign.id_for(agency_code, campaign_no), UnknownEntity,
                                                  f"{agency_code}/{campaign_no}"))

    def approve_special_campaign(
        self, *, agency_code: str, campaign_no: str, approver: str, approver_role: str, approval_ref: str,
        at: datetime,
    ) -> None:
        campaign = self._campaign(agency_code, campaign_no)
        agency = self._agency(agency_code).state_as_of(at)
        campaign.approve(approver=approver, approver_role=approver_role, approval_ref=approval_ref, at=at,
                         agency=agency)
        self.save(campaign)

    def file_special_campaign(
        self, *, agency_code: str, campaign_no: str, receipt_ref: str, justice_office: str, at: datetime, actor: str,
    ) -> None:
        campaign = self._campaign(agency_code, campaign_no)
        campaign.file_with_justice(receipt_ref=receipt_ref, justice_office=justice_office, at=at, actor=actor)
        self.save(campaign)

    # ---------------------------------------------------------------- penalty procedure (R30–R35, R39, R44, R47)
    def record_violation(
        self,
        *,
        inspection_id: UUID,
        fingerprint: str,
        description_hash: str,
        violation_end_on: str,
        discovered_on: str,
        at: datetime,
        actor: str,
        harm_kind: str = "general",
        continuing: bool = False,
    ) -> None:
        """R31 time bar (refused with ``E_TIME_BARRED``); the fingerprint keys R32."""
        self._step("record_violation", locals())

    def serve_penalty_notice(
        self,
        *,
        inspection_id: UUID,
        notice_no: str,
        penalty_kinds: Iterable[str],
        fine_fen: int,
        facts_hash: str,
        hearing_right: bool,
        at: datetime,
        actor: str,
        **options: Any,
    ) -> None:
        """事先告知 (R33, R35). ``options``: confiscation_fen, party_kind, new_facts,
        statement_wd, hearing_thresholds."""
        self._step("serve_penalty_notice", locals())

    def hear_statement(
        self, *, inspection_id: UUID, kind: str, statement_hash: str, adopted: bool, at: datetime, actor: str,
    ) -> None:
        self._step("hear_statement", locals())

    def waive_rights(
        self, *, inspection_id: UUID, rights: Iterable[str], waiver_ref: str, at: datetime, actor: str,
    ) -> None:
        self._step("waive_rights", locals())

    def request_hearing(self, *, inspection_id: UUID, request_ref: str, at: datetime, actor: str) -> None:
        self._step("request_hearing", locals())

    def schedule_hearing(
        self,
        *,
        inspection_id: UUID,
        hearing_date: str,
        place: str,
        host: str,
        public: bool,
        at: datetime,
        actor: str,
        nonpublic_reason: str | None = None,
    ) -> None:
        self._step("schedule_hearing", locals())

    def hold_hearing(
        self,
        *,
        inspection_id: UUID,
        host: str,
        record_hash: str,
        party_signature: str | None,
        refusal_note: str | None,
        at: datetime,
        actor: str,
    ) -> None:
        self._step("hold_hearing", locals())

    def hold_collective_discussion(
        self,
        *,
        inspection_id: UUID,
        minutes_hash: str,
        attendees: Iterable[str],
        draft_hash: str,
        conclusion: str,
        at: datetime,
        actor: str,
    ) -> None:
        self._step("hold_collective_discussion", locals())

    def approve_decision_extension(
        self, *, inspection_id: UUID, approver: str, basis: str, at: datetime, days: int = 30,
    ) -> None:
        """R30: one extension, by the lead agency's head as of ``at``."""
        self._step("approve_decision_extension", locals())

    def file_simple_decision(self, *, inspection_id: UUID, filing_ref: str, at: datetime, actor: str) -> None:
        self._step("file_simple_decision", locals())

    def record_payment(
        self,
        *,
        inspection_id: UUID,
        amount_fen: int,
        surcharge_fen: int,
        receipt_ref: str,
        at: datetime,
        actor: str,
        suspended_days: int = 0,
        suspension_ref: str | None = None,
    ) -> None:
        """R47: payment and late surcharge (capped at the fine)."""
        self._step("record_payment", locals())

    # ---------------------------------------------------------------- recusal (R8)  # noqa: ERA001 - a section rule
    def request_recusal(
        self, *, inspection_id: UUID, person_id: str, requested_by: str, reason: str, at: datetime, actor: str,
    ) -> None:
        self._step("request_recusal", locals())

    def decide_recusal(
        self, *, inspection_id: UUID, person_id: str, granted: bool, reason: str, decider: str, at: datetime,
    ) -> None:
        self._step("decide_recusal", locals())

    # ---------------------------------------------------------------- evidence procedures (R27, R28)
    def register_device(
        self, *, device_id: str, agency_code: str, kind: str, location: str, at: datetime, actor: str,
    ) -> UUID:
        self._agency(agency_code)
        if self._load_optional(MonitoringDevice.id_for(device_id)) is not None:
            raise OutOfOrder(f"device {device_id!r} is already registered")
        device = MonitoringDevice.register(device_id=device_id, agency_code=agency_code, kind=kind,
                                           location=location, at=at, actor=actor)
        self.save(device)
        return device.id

    def get_device(self, device_id: str) -> MonitoringDevice:
        """The registered device (``UnknownEntity`` if none): callers check who may act on it."""
        return cast("MonitoringDevice", self._load(MonitoringDevice.id_for(device_id), UnknownEntity, device_id))

    def review_device(
        self, *, device_id: str, legal_ok: bool, technical_ok: bool, reviewer: str, review_ref: str, at: datetime,
    ) -> None:
        device = self.get_device(device_id)
        device.review(legal_ok=legal_ok, technical_ok=technical_ok, reviewer=reviewer, review_ref=review_ref, at=at)
        self.save(device)

    def publish_device_location(self, *, device_id: str, publication_ref: str, at: datetime, actor: str) -> None:
        device = self.get_device(device_id)
        device.publish_location(publication_ref=publication_ref, at=at, actor=actor)
        self.save(device)

    def review_device_record(
        self, *, inspection_id: UUID, evidence_id: str, ok: bool, reviewer: str, party_notified: bool, at: datetime,
    ) -> None:
        self._step("review_device_record", locals())

    def preserve_evidence(
        self,
        *,
        inspection_id: UUID,
        preservation_id: str,
        evidence_ids: Iterable[str],
        approver: str,
        at: datetime,
        actor: str,
    ) -> None:
        """先行登记保存 (R28), approved by the lead agency's head as of ``at``."""
        self._step("preserve_evidence", locals())

    def decide_preservation(
        self, *, inspection_id: UUID, preservation_id: str, outcome: str, reason: str, at: datetime, actor: str,
    ) -> None:
        self._step("decide_preservation", locals())

    # ---------------------------------------------------------------- publication periods (R53, R54)
    def expire_publication(self, *, inspection_id: UUID, at: datetime, actor: str) -> None:
        self._step("expire_publication", locals())

    def approve_credit_repair(
        self,
        *,
        inspection_id: UUID,
        conditions: Mapping[str, bool],
        application_ref: str,
        approver: str,
        at: datetime,
    ) -> None:
        self._step("approve_credit_repair", locals())

    # ---------------------------------------------------------------- tracking (R9, R21, R24, R28, R30, R46, R48, R51)  # noqa: ERA001 - a section rule
    def record_overdue(self, *, inspection_id: UUID, at: datetime, actor: str) -> tuple[str, ...]:
        """Append the newly overdue obligations of a case with their ``V_*`` flags."""
        return cast("tuple[str, ...]", self._step("record_overdue", locals()))

    def close_case(
        self, *, inspection_id: UUID, at: datetime, actor: str, execution_ref: str | None = None,
    ) -> None:
        self._step("close_case", locals())

    # ---------------------------------------------------------------- coercive measures (R25, R56, R57)
    def take_coercive_measure(
        self,
        *,
        inspection_id: UUID,
        agency_code: str,
        measure_no: str,
        kind: str,
        cert_nos: Iterable[str],
        items: Sequence[Mapping[str, Any]],
        legal_basis: str,
        decision_doc_hash: str,
        inventory_hash: str,
        documents_delivered: bool,
        party_present: bool,
        party_notified: bool,
        rights_stated: bool,
        statement_hash: str | None,
        record_hash: str,
        party_signature: str | None,
        refusal_note: str | None,
        witness_signature: str | None,
        approver: str | None,
        emergency: bool,
        started_at: datetime,
        av_segments: Sequence[Mapping[str, Any]],
        av_interruptions: Sequence[Mapping[str, Any]],
        at: datetime,
        actor: str,
    ) -> UUID:
        """查封/扣押 (R3, R25, R56, R57): see :meth:`domain.coercion.CoerciveMeasure.take`.
        ``at`` is the completion, ``started_at`` the start of the audio-video coverage."""
        insp = self.get_inspection(inspection_id)
        if self._load_optional(CoerciveMeasure.id_for(inspection_id, measure_no)) is not None:
            raise OutOfOrder(f"measure {measure_no!r} of this inspection already exists")
        agency = self._agency(agency_code).state_as_of(at)
        certs = self._certs(cert_nos, at)
        province = f"province:{agency.jurisdiction[0][:2]}" if agency.jurisdiction else ""
        tolerance, tolerance_record = av_tolerance_in_force(
            self._load_optional(ReferenceList.id_for(AV_POLICY, agency_code)),
            self._load_optional(ReferenceList.id_for(AV_POLICY, "national", province)) if province else None, at)
        cm = CoerciveMeasure.take(
            inspection=insp, agency=agency, measure_no=measure_no, kind=kind, certs=certs, items=items,
            legal_basis=legal_basis, decision_doc_hash=decision_doc_hash, inventory_hash=inventory_hash,
            documents_delivered=documents_delivered, party_present=party_present, party_notified=party_notified,
            rights_stated=rights_stated, statement_hash=statement_hash, record_hash=record_hash,
            party_signature=party_signature, refusal_note=refusal_note, witness_signature=witness_signature,
            approver=approver, emergency=emergency, started_at=started_at, av_segments=av_segments,
            av_interruptions=av_interruptions, at=at, actor=actor, calendar=self.calendar,
            av_tolerance=tolerance, av_tolerance_record=tolerance_record,
        )
        self.save(cm)
        return cm.id

    def get_coercive_measure(self, *, inspection_id: UUID, measure_no: str) -> CoerciveMeasure:
        cid = CoerciveMeasure.id_for(inspection_id, measure_no)
        return cast("CoerciveMeasure", self._load(cid, UnknownEntity, measure_no))

    def approve_coercive_measure(
        self, *, inspection_id: UUID, measure_no: str, approver: str, at: datetime,
    ) -> None:
        cm = self.get_coercive_measure(inspection_id=inspection_id, measure_no=measure_no)
        cm.approve(agency=self._agency(cm.agency_code).state_as_of(at), approver=approver, at=at)
        self.save(cm)

    def extend_coercive_measure(
        self,
        *,
        inspection_id: UUID,
        measure_no: str,
        approver: str,
        days: int,
        reason: str,
        notice_ref: str,
        at: datetime,
    ) -> None:
        cm = self.get_coercive_measure(inspection_id=inspection_id, measure_no=measure_no)
        cm.extend(agency=self._agency(cm.agency_code).state_as_of(at), approver=approver, days=days, reason=reason,
                  notice_ref=notice_ref, at=at, calendar=self.calendar)
        self.save(cm)

    def note_testing_period(
        self, *, inspection_id: UUID, measure_no: str, start_on: str, end_on: str, notice_ref: str, at: datetime,
        actor: str,
    ) -> None:
        cm = self.get_coercive_measure(inspection_id=inspection_id, measure_no=measure_no)
        cm.note_testing_period(start_on=start_on, end_on=end_on, notice_ref=notice_ref, at=at, actor=actor,
                               calendar=self.calendar)
        self.save(cm)

    def end_coercive_measure(
        self, *, inspection_id: UUID, measure_no: str, outcome: str, reason: str, decision_ref: str, at: datetime,
        actor: str,
    ) -> None:
        cm = self.get_coercive_measure(inspection_id=inspection_id, measure_no=measure_no)
        cm.end(outcome=outcome, reason=reason, decision_ref=decision_ref, at=at, actor=actor, calendar=self.calendar)
        self.save(cm)

    def record_measure_overdue(
        self, *, inspection_id: UUID, measure_no: str, at: datetime, actor: str,
    ) -> tuple[str, ...]:
        cm = self.get_coercive_measure(inspection_id=inspection_id, measure_no=measure_no)
        flags = cm.record_overdue(at=at, actor=actor, calendar=self.calendar)
        self.save(cm)
        return flags

    # ---------------------------------------------------------------- annual statistics (R61)
    def publish_annual_statistics(
        self, *, agency_code: str, year: int, statistics: Mapping[str, int], replay_hash: str, at: datetime,
        actor: str,
    ) -> None:
        agency = self._agency(agency_code)
        agency.publish_annual_statistics(year=year, statistics=dict(statistics), replay_hash=replay_hash, at=at,
                                         actor=actor)
        self.save(agency)
