"""Enforcement commands: load aggregates, call the pure domain, save atomically.

``EnforcementCommands`` is a mixin for the eventsourcing ``Application`` subclass
(``ledger.application.LedgerApplication``).  The host provides ``self.repository``,
``self.save(*aggregates)`` and ``self.calendar`` (a ``domain.calendar.HolidayCalendar``).

Every command takes an explicit, timezone-aware ``at`` (the event's occurred_at) and
the acting principal.  A refused command raises a ``domain.errors.DomainError`` with
its code and saves nothing; a dispatch saves the inspection and its enterprise-year
counters in one ``save`` so the yearly cap holds under concurrency (R12).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from domain import services
from domain.calendar import legal_day
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
from domain.inspection import Inspection
from domain.random_draw import RandomDraw
from domain.reference import (
    ANNUAL_PLAN,
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

class EnforcementCommands:
    """Command methods for registers, reference lists and the inspection lifecycle."""

    calendar: HolidayCalendar
    repository: Any

    if TYPE_CHECKING:  # provided by eventsourcing.application.Application

        def save(self, *aggregates: Any, **kwargs: Any) -> Any: ...

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
        return self._load(Agency.id_for(code), UnknownAgency, code)

    def _officer(self, cert_no: str) -> Officer:
        return self._load(Officer.id_for(cert_no), UnknownOfficer, cert_no)

    def _enterprise(self, uscc: str) -> Enterprise:
        validate_uscc(uscc)
        return self._load(Enterprise.id_for(uscc), UnknownEnterprise, uscc)

    def get_inspection(self, inspection_id: UUID) -> Inspection:
        return self._load(inspection_id, UnknownCase, str(inspection_id))

    def _certs(self, cert_nos: Iterable[str], at: datetime) -> tuple[Any, ...]:
        return services.certificates_as_of([self._officer(c) for c in cert_nos], at)

    def _on_inspection(self, inspection_id: UUID, fn: Any) -> Any:
        insp = self.get_inspection(inspection_id)
        result = fn(insp)
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
        self, *, agency_code: str, head: str, effective_at: datetime, at: datetime, actor: str
    ) -> None:
        agency = self._agency(agency_code)
        agency.appoint_head(head=head, effective_at=effective_at, at=at, actor=actor)
        self.save(agency)

    def change_agency_status(
        self, *, agency_code: str, status: str, effective_at: datetime, reason: str, at: datetime, actor: str
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
        self, *, cert_no: str, status: str, effective_at: datetime, reason: str, at: datetime, actor: str
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
        self, *, uscc: str, risk_class: str, effective_at: datetime, at: datetime, actor: str
    ) -> None:
        ent = self._enterprise(uscc)
        ent.change_risk_class(risk_class=risk_class, effective_at=effective_at, at=at, actor=actor)
        self.save(ent)

    def set_positive_list(
        self, *, uscc: str, on_list: bool, effective_at: datetime, reason: str, at: datetime, actor: str
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
        return version.version

    def get_reference_list(self, *, kind: str, owner: str, scope: str = "") -> ReferenceList:
        key = f"{kind}/{owner}/{scope}"
        return self._load(ReferenceList.id_for(kind, owner, scope), UnknownReferenceList, key)

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
                )
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
            inspection_id, lambda i: services.approve_dispatch(i, agency, approver=approver, at=at)
        )

    def change_inspection_mode(
        self, *, inspection_id: UUID, mode: str, reason: str, approved_by: str, at: datetime, actor: str
    ) -> None:
        self._on_inspection(
            inspection_id,
            lambda i: i.change_mode(mode=mode, reason=reason, approved_by=approved_by, at=at, actor=actor),
        )

    # ---------------------------------------------------------------- on site
    def record_arrival(
        self, *, inspection_id: UUID, scan: Mapping[str, Any] | None, location: str, at: datetime, actor: str
    ) -> None:
        self._on_inspection(inspection_id, lambda i: i.arrive(scan=scan, location=location, at=at, actor=actor))

    def show_certificate(self, *, inspection_id: UUID, cert_no: str, at: datetime, actor: str) -> None:
        cert = self._officer(cert_no).certificate_as_of(at)
        self._on_inspection(inspection_id, lambda i: i.show_certificate(cert=cert, at=at, actor=actor))

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
        certs = self._certs(cert_nos, at)
        self._on_inspection(
            inspection_id,
            lambda i: i.log_evidence(
                evidence_id=evidence_id, evidence_type=evidence_type, sha256=sha256, size=size,
                media_type=media_type, source=source, capture=capture, certs=certs, at=at, actor=actor,
                lawful=lawful,
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
        certs = self._certs(cert_nos, at)
        self._on_inspection(
            inspection_id,
            lambda i: i.sign_record(record_hash=record_hash, certs=certs, party_signature=party_signature,
                                    refusal_note=refusal_note, at=at, actor=actor, witness=witness),
        )

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
        certs = self._certs(cert_nos, at)
        self._on_inspection(
            inspection_id,
            lambda i: i.conclude(result=result, certs=certs, at=at, actor=actor, calendar=self.calendar,
                                 rectification_due=rectification_due),
        )

    def notify_result(
        self, *, inspection_id: UUID, recipient: str, summary_hash: str, secret: bytes, at: datetime, actor: str
    ) -> str:
        """Returns the feedback QR token to show the enterprise (R21)."""
        return self._on_inspection(
            inspection_id,
            lambda i: i.notify_result(recipient=recipient, summary_hash=summary_hash, secret=secret,
                                      at=at, actor=actor),
        )

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
    ) -> None:
        self._on_inspection(
            inspection_id,
            lambda i: i.file_case(case_no=case_no, investigators=investigators, case_class=case_class,
                                  requires_legal_review=requires_legal_review, at=at, actor=actor,
                                  calendar=self.calendar),
        )

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
        self._on_inspection(
            inspection_id,
            lambda i: i.give_legal_review(reviewer=reviewer, draft_hash=draft_hash, result=result,
                                          checklist=checklist, first_time=first_time,
                                          legal_qualification=legal_qualification, at=at),
        )

    def record_education(self, *, inspection_id: UUID, summary: str, at: datetime, actor: str) -> None:
        self._on_inspection(inspection_id, lambda i: i.record_education(summary=summary, at=at, actor=actor))

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
    ) -> None:
        insp = self.get_inspection(inspection_id)
        benchmarks = self._load_optional(ReferenceList.id_for(DISCRETION_BENCHMARK, insp.lead_agency))
        benchmark = services.resolve_benchmark(benchmarks, benchmark_code, at)
        insp.decide(
            decision_no=decision_no, outcome=outcome, draft_hash=draft_hash, decider=decider,
            decider_role=decider_role, evidence_refs=evidence_refs, at=at, calendar=self.calendar,
            regime=regime, penalty_kinds=penalty_kinds, fine_fen=fine_fen, benchmark=benchmark,
            no_penalty_conditions=no_penalty_conditions, justification=justification,
            requires_legal_review=requires_legal_review,
        )
        self.save(insp)

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
        self._on_inspection(
            inspection_id,
            lambda i: i.serve(method=method, documents=documents, document_hash=document_hash,
                              publication_notice=publication_notice, at=at, actor=actor,
                              consent_ref=consent_ref, sanshu_policy=sanshu_policy),
        )

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
    ) -> None:
        self._on_inspection(
            inspection_id,
            lambda i: i.publish(served_document=served_document, redaction_map=redaction_map,
                                content_hash=content_hash, redaction_reviewer=redaction_reviewer,
                                at=at, actor=actor),
        )

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
    ) -> None:
        self._on_inspection(
            inspection_id,
            lambda i: i.alter_decision(kind=kind, reason=reason, basis_ref=basis_ref, at=at, actor=actor,
                                       calendar=self.calendar, new_draft_hash=new_draft_hash),
        )

    def withdraw_publication(self, *, inspection_id: UUID, reason_text: str, at: datetime, actor: str) -> None:
        self._on_inspection(
            inspection_id, lambda i: i.withdraw_publication(reason_text=reason_text, at=at, actor=actor)
        )

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
        self._on_inspection(
            inspection_id,
            lambda i: i.correct_publication(reason=reason, served_document=served_document,
                                            redaction_map=redaction_map, content_hash=content_hash,
                                            redaction_reviewer=redaction_reviewer, at=at, actor=actor),
        )

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

    def perform_draw(
        self, *, agency_code: str, draw_no: str, pool_hash: str, seed: str, count: int, at: datetime, actor: str
    ) -> tuple[str, ...]:
        """双随机 step 2: the committed pool hash and the public seed give the selection (R14)."""
        draw = self.get_random_draw(agency_code=agency_code, draw_no=draw_no)
        selected = draw.perform(pool_hash=pool_hash, seed=seed, count=count, at=at, actor=actor)
        self.save(draw)
        return selected

    def get_random_draw(self, *, agency_code: str, draw_no: str) -> RandomDraw:
        ref = RandomDraw.ref_for(agency_code, draw_no)
        return self._load(RandomDraw.id_for(agency_code, draw_no), UnknownEntity, ref)

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
        return self._load(SpecialCampaign.id_for(agency_code, campaign_no), UnknownEntity,
                          f"{agency_code}/{campaign_no}")

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
        self, *, agency_code: str, campaign_no: str, receipt_ref: str, justice_office: str, at: datetime, actor: str
    ) -> None:
        campaign = self._campaign(agency_code, campaign_no)
        campaign.file_with_justice(receipt_ref=receipt_ref, justice_office=justice_office, at=at, actor=actor)
        self.save(campaign)
