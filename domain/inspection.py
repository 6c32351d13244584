"""The inspection lifecycle aggregate: from dispatch (派单) to publication and withdrawal.

One ``Inspection`` stream holds one inspection task and, if a case is filed from it,
the case that follows (review, decision, service, publication, withdrawal).  Command
methods check the rules and then trigger past-tense events; ``apply`` bodies only copy
event data into state, so history recorded under old rules always replays.

Rules that need other aggregates (certificates, subjects, item lists, caps) receive
their *state as of the event's occurred_at* from the caller (see ``domain.services``).

This module declares the events (the wire types of spec 02) and assembles the aggregate from
one mixin per procedure; a rule's code is in the module of its procedure (``docs/rules.md``
gives each rule's location):

- ``domain.tasking`` — dispatch, approval, mode change, cancellation, team checks (R3–R9, R18);
- ``domain.on_site`` — arrival, certificates, evidence, record, conclusion, result notice,
  feedback (R17–R22, R26, R29);
- ``domain.decision`` — case filing, legal review, education, decision (R30–R44);
- ``domain.disclosure`` — service, publication, alteration, withdrawal, correction (R45–R51);
- ``domain.closing`` — overdue obligations and closing (R24, ``record_overdue``);
- ``domain.penalty``, ``domain.recusal``, ``domain.evidence``, ``domain.publicity`` — the
  penalty procedure, recusal, evidence procedures and publication periods (part 2);
- ``domain.inspection_terms`` — the vocabulary and statutory periods they share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.base import (
    CopyOnWrite,
    freeze,
    natural_id,
)
from domain.calendar import (
    to_micros,
)
from domain.closing import Closing
from domain.decision import CaseDecision
from domain.disclosure import Disclosure
from domain.errors import OutOfOrder
from domain.evidence import EvidenceProcedures
from domain.inspection_terms import (
    ALTERATION_KINDS,
    AV_METADATA_KEYS,
    AV_TYPES,
    CASE_CLASSES,
    DECIDER_ROLES,
    DECISION_NATURAL_DAYS,
    DEFAULT_EMERGENCY_WINDOW,
    DEFAULT_RESULT_NOTICE_WD,
    DEVICE_SOURCE,
    DISGUISED_ACTIVITIES,
    EVIDENCE_TYPES,
    INSPECTION_TYPES,
    MAX_FEEDBACK_COMMENT,
    MODES,
    NEVER_PUBLIC_FIELDS,
    OFFSITE_SOURCES,
    OUTCOMES,
    PROHIBITION_CODES,
    PUBLICATION_REGIMES,
    RECORD_PHASES,
    RESULTS,
    REVIEW_POINTS,
    SANSHU,
    SERVICE_METHODS,
    SERVICE_WD,
    WITHDRAWAL_WD,
)
from domain.on_site import OnSite
from domain.penalty import (
    PenaltyProcedure,
)
from domain.publicity import (
    PublicationPeriods,
)
from domain.recusal import Recusal
from domain.tasking import Tasking

__all__ = [
    "ALTERATION_KINDS",
    "AV_METADATA_KEYS",
    "AV_TYPES",
    "CASE_CLASSES",
    "DECIDER_ROLES",
    "DECISION_NATURAL_DAYS",
    "DEFAULT_EMERGENCY_WINDOW",
    "DEFAULT_RESULT_NOTICE_WD",
    "DEVICE_SOURCE",
    "DISGUISED_ACTIVITIES",
    "EVIDENCE_TYPES",
    "INSPECTION_TYPES",
    "MAX_FEEDBACK_COMMENT",
    "MODES",
    "NEVER_PUBLIC_FIELDS",
    "OFFSITE_SOURCES",
    "OUTCOMES",
    "PROHIBITION_CODES",
    "PUBLICATION_REGIMES",
    "RECORD_PHASES",
    "RESULTS",
    "REVIEW_POINTS",
    "SANSHU",
    "SERVICE_METHODS",
    "SERVICE_WD",
    "WITHDRAWAL_WD",
    "Inspection",
    "OutOfOrder",
]


class Inspection(
    Tasking, OnSite, CaseDecision, Disclosure, Closing,
    PenaltyProcedure, Recusal, EvidenceProcedures, PublicationPeriods, CopyOnWrite, Aggregate,
):
    """An inspection task and the case that may follow it.

    Every event class is declared here; the commands live in one mixin per procedure
    (see the module docstring).
    """

    class Event(Aggregate.Event):
        actor: str

    if TYPE_CHECKING:  # state set by the events' apply(); not dataclass fields
        task_no: str
        lead_agency: str
        inspection_type: str
        mode: str
        uscc: str
        year: int
        assignments: tuple[dict[str, Any], ...]
        emergency: bool
        dispatched_at: int
        approvals: dict[str, str]
        cancelled: bool
        arrival: dict[str, Any] | None
        certs_shown: tuple[str, ...]
        evidence: dict[str, dict[str, Any]]
        record: dict[str, Any] | None
        conclusion: dict[str, Any] | None
        notified: dict[str, Any] | None
        feedback: dict[str, Any] | None
        case: dict[str, Any] | None
        reviews: tuple[dict[str, Any], ...]
        educated: bool
        decision: dict[str, Any] | None
        services: tuple[dict[str, Any], ...]
        publication: dict[str, Any] | None
        alterations: tuple[dict[str, Any], ...]
        violation: dict[str, Any] | None
        notices: tuple[dict[str, Any], ...]
        responses: tuple[dict[str, Any], ...]
        hearing: dict[str, Any] | None
        discussions: tuple[dict[str, Any], ...]
        payments: tuple[dict[str, Any], ...]
        recusals: dict[str, dict[str, Any]]
        preservations: dict[str, dict[str, Any]]
        overdue: tuple[str, ...]
        closed: bool
        decision_document: dict[str, Any] | None
        publication_period: dict[str, Any] | None
        case_source: dict[str, Any] | None

    # ------------------------------------------------------------------ events
    class Dispatched(Event, Aggregate.Created):
        """派单: the task was dispatched (R1, R3, R4, R9–R16, R20)."""

        TYPE: ClassVar[str] = "inspection.dispatched.v1"
        task_no: str
        lead_agency: str
        inspection_type: str
        mode: str
        uscc: str
        year: int
        assignments: tuple[dict[str, Any], ...]
        plan: dict[str, Any] | None
        special_approval: dict[str, Any] | None
        random_draw_ref: str | None
        emergency: bool
        legal_rep_required: bool
        legal_rep_basis: str | None
        flags: tuple[str, ...]
        flag_reason: str | None

        def apply(self, agg: Inspection) -> None:
            agg.task_no = self.task_no
            agg.lead_agency = self.lead_agency
            agg.inspection_type = self.inspection_type
            agg.mode = self.mode
            agg.uscc = self.uscc
            agg.year = self.year
            agg.assignments = freeze(self.assignments)
            agg.emergency = self.emergency
            agg.dispatched_at = to_micros(self.timestamp)
            agg.approvals = {}
            agg.cancelled = False
            agg.arrival = None
            agg.certs_shown = ()
            agg.evidence = {}
            agg.record = None
            agg.conclusion = None
            agg.notified = None
            agg.feedback = None
            agg.case = None
            agg.reviews = ()
            agg.educated = False
            agg.decision = None
            agg.services = ()
            agg.publication = None
            agg.alterations = ()
            agg.violation = None
            agg.notices = ()
            agg.responses = ()
            agg.hearing = None
            agg.discussions = ()
            agg.payments = ()
            agg.recusals = {}
            agg.preservations = {}
            agg.overdue = ()
            agg.closed = False
            agg.decision_document = None
            agg.publication_period = None
            agg.case_source = None

    class DispatchedWithSource(Dispatched):
        """派单 recording where a 个案 task comes from (R9, R12; issue 18): ``case_source`` is
        ``{"kind", "ref"}`` for a case-type task and nil otherwise. Supersedes ``dispatched.v1``."""

        TYPE: ClassVar[str] = "inspection.dispatched.v2"
        case_source: dict[str, Any] | None

        def apply(self, agg: Inspection) -> None:
            super().apply(agg)
            agg.case_source = freeze(self.case_source)

    class Approved(Event):
        """The subject's head approved the task (R9)."""

        TYPE: ClassVar[str] = "inspection.approved.v1"
        agency_code: str
        approver: str
        approver_role: str
        retroactive: bool
        flags: tuple[str, ...]

        def apply(self, agg: Inspection) -> None:
            agg.approvals = {**agg.approvals, self.agency_code: self.approver}

    class TeamChanged(Event):
        """The team of one agency on an approved task changed (R5, R6, R9; issue 18): who leaves,
        who joins (certificates valid at the change's instant) and why, approved by the head
        who may approve the dispatch. Later steps are judged against the new team."""

        TYPE: ClassVar[str] = "inspection.team_changed.v1"
        agency_code: str
        leaving: tuple[dict[str, Any], ...]
        joining: tuple[dict[str, Any], ...]
        reason: str
        approver: str
        approver_role: str
        officers_after: tuple[str, ...]

        def apply(self, agg: Inspection) -> None:
            gone = {o["cert_no"] for o in self.leaving}
            rows = []
            for a in agg.assignments:
                if a["agency_code"] == self.agency_code:
                    kept = [o for o in a["officers"] if o["cert_no"] not in gone]
                    a = {**a, "officers": (*kept, *self.joining)}  # noqa: PLW2901 - the new row
                rows.append(a)
            agg.assignments = freeze(tuple(rows))

    class ModeChanged(Event):
        TYPE: ClassVar[str] = "inspection.mode_changed.v1"
        mode: str
        reason: str
        approved_by: str

        def apply(self, agg: Inspection) -> None:
            agg.mode = self.mode

    class Cancelled(Event):
        TYPE: ClassVar[str] = "inspection.cancelled.v1"
        reason: str

        def apply(self, agg: Inspection) -> None:
            agg.cancelled = True

    class Arrived(Event):
        """扫码入企: the team checked in by scanning the enterprise code (R17)."""

        TYPE: ClassVar[str] = "inspection.arrived.v1"
        scan: dict[str, Any] | None
        location: str
        flags: tuple[str, ...]

        def apply(self, agg: Inspection) -> None:
            agg.arrival = {"at": to_micros(self.timestamp), "scan": freeze(self.scan)}

    class TeamArrived(Arrived):
        """扫码入企 as a step of the team present: each officer's certificate was valid at the
        arrival instant and at least two remained (R5, R6, R17). Supersedes ``arrived.v1``."""

        TYPE: ClassVar[str] = "inspection.arrived.v2"
        officers: tuple[str, ...]

        def apply(self, agg: Inspection) -> None:
            agg.arrival = {"at": to_micros(self.timestamp), "scan": freeze(self.scan),
                           "officers": tuple(self.officers)}

    class CertificateShown(Event):
        """An acting officer showed the enforcement certificate (R5, R7)."""

        TYPE: ClassVar[str] = "inspection.certificate_shown.v1"
        cert_no: str
        person_id: str

        def apply(self, agg: Inspection) -> None:
            agg.certs_shown = (*agg.certs_shown, self.cert_no)

    class EvidenceLogged(Event):
        """Evidence with capture hash and metadata (R22, R26, R29)."""

        TYPE: ClassVar[str] = "inspection.evidence_logged.v1"
        evidence_id: str
        evidence_type: str
        sha256: str
        size: int
        media_type: str
        source: str
        capture: dict[str, Any]
        officers: tuple[str, ...]
        lawful: bool
        admissible: bool
        post_decision: bool
        flags: tuple[str, ...]

        def apply(self, agg: Inspection) -> None:
            agg.evidence = {
                **agg.evidence,
                self.evidence_id: {
                    "logged_at": to_micros(self.timestamp),
                    "admissible": self.admissible,
                    "post_decision": self.post_decision,
                    "sha256": self.sha256,
                    "device": self.source == DEVICE_SOURCE,
                    "device_reviewed": False,
                },
            }

    class RecordSigned(Event):
        """现场检查笔录 signed by the officers and the party, or a refusal noted (R19)."""

        TYPE: ClassVar[str] = "inspection.record_signed.v1"
        record_hash: str
        officers: tuple[str, ...]
        party_signature: str | None
        refusal_note: str | None
        witness: str | None

        def apply(self, agg: Inspection) -> None:
            agg.record = {"record_hash": self.record_hash}

    class Concluded(Event):
        TYPE: ClassVar[str] = "inspection.concluded.v1"
        result: str
        officers: tuple[str, ...]
        rectification_due: str | None
        result_notice_due: dict[str, Any]

        def apply(self, agg: Inspection) -> None:
            agg.conclusion = {
                "result": self.result,
                "at": to_micros(self.timestamp),
                "result_notice_due": freeze(self.result_notice_due),
            }

    class ResultNotified(Event):
        """The enterprise got the result and a feedback QR invitation (R21)."""

        TYPE: ClassVar[str] = "inspection.result_notified.v1"
        recipient: str
        summary_hash: str
        qr_id: str
        flags: tuple[str, ...]

        def apply(self, agg: Inspection) -> None:
            agg.notified = {"qr_id": self.qr_id}

    class FeedbackReceived(Event):
        """The enterprise's evaluation through its feedback invitation (R20, R21), signed on intake.

        The token proved the submitter received the result notice; the ledger keeps its invitation
        id, the rating, the complaint's prohibition code and the SHA-256 of the free-text comment
        (the text itself, which may hold personal data, stays beside the ledger)."""

        TYPE: ClassVar[str] = "inspection.feedback_received.v1"
        qr_id: str
        rating: int
        prohibition_code: str | None
        comment_sha256: str | None

        def apply(self, agg: Inspection) -> None:
            agg.feedback = {"qr_id": self.qr_id, "rating": self.rating, "prohibition_code": self.prohibition_code}

    class CaseFiled(Event):
        """立案 (R30): the 90-natural-day decision deadline starts."""

        TYPE: ClassVar[str] = "inspection.case_filed.v1"
        case_no: str
        investigators: tuple[str, ...]
        case_class: str
        requires_legal_review: bool
        decision_due: dict[str, Any]

        def apply(self, agg: Inspection) -> None:
            agg.case = {
                "case_no": self.case_no,
                "investigators": freeze(self.investigators),
                "case_class": self.case_class,
                "requires_legal_review": self.requires_legal_review,
                "decision_due": freeze(self.decision_due),
            }

    class LegalReviewGiven(Event):
        """法制审核 opinion bound to a draft hash (R36–R38)."""

        TYPE: ClassVar[str] = "inspection.legal_review_given.v1"
        reviewer: str
        draft_hash: str
        result: str
        checklist: dict[str, str]
        first_time: bool
        legal_qualification: bool

        def apply(self, agg: Inspection) -> None:
            agg.reviews = (
                *agg.reviews,
                {"draft_hash": self.draft_hash, "result": self.result, "seq": self.originator_version},
            )

    class EducationRecorded(Event):
        TYPE: ClassVar[str] = "inspection.education_recorded.v1"
        summary: str

        def apply(self, agg: Inspection) -> None:
            agg.educated = True

    class Decided(Event):
        """处理决定 (R29, R36, R37, R40–R42, R48)."""

        TYPE: ClassVar[str] = "inspection.decided.v1"
        decision_no: str
        outcome: str
        draft_hash: str
        decider: str
        decider_role: str
        evidence_refs: tuple[str, ...]
        penalty_kinds: tuple[str, ...]
        fine_fen: int
        benchmark: dict[str, Any] | None
        legal_review_seq: int | None
        regime: str
        publishable: bool
        service_due: dict[str, Any]
        publication_due: dict[str, Any] | None
        justification: str | None
        flags: tuple[str, ...]

        def apply(self, agg: Inspection) -> None:
            agg.decision = {
                "outcome": self.outcome,
                "draft_hash": self.draft_hash,
                "evidence_refs": freeze(self.evidence_refs),
                "penalty_kinds": freeze(self.penalty_kinds),
                "fine_fen": self.fine_fen,
                "decided_at": to_micros(self.timestamp),
                "regime": self.regime,
                "publishable": self.publishable,
                "service_due": freeze(self.service_due),
                "publication_due": freeze(self.publication_due),
                "version": 1,
                "status": "in_force",
                **(
                    {"procedure": agg.decision_document["procedure"], "filed_with_agency": False}
                    if agg.decision_document is not None
                    else {}
                ),
            }

    class Served(Event):
        """送达 (R45, R46, R50)."""

        TYPE: ClassVar[str] = "inspection.served.v1"
        method: str
        documents: tuple[str, ...]
        document_hash: str
        consent_ref: str | None
        publication_notice: bool
        decision_version: int
        flags: tuple[str, ...]

        def apply(self, agg: Inspection) -> None:
            agg.services = (
                *agg.services,
                {"document_hash": self.document_hash, "decision_version": self.decision_version,
                 "at": to_micros(self.timestamp)},
            )

    class Published(Event):
        """公示 with its signed redaction map (R48, R49)."""

        TYPE: ClassVar[str] = "inspection.published.v1"
        regime: str
        content: dict[str, str]
        content_hash: str
        redaction_map: dict[str, str]
        redaction_map_hash: str
        redaction_reviewer: str
        served_document_hash: str
        decision_version: int
        flags: tuple[str, ...]

        def apply(self, agg: Inspection) -> None:
            agg.publication = {
                "status": "published",
                "content_hash": self.content_hash,
                "seq": self.originator_version,
                "decision_version": self.decision_version,
                "published_at": to_micros(self.timestamp),
                **(agg.publication_period or {}),
            }
            agg.publication_period = None

    class DecisionAltered(Event):
        """The decision was changed, revoked, confirmed illegal or confirmed void (R51)."""

        TYPE: ClassVar[str] = "inspection.decision_altered.v1"
        kind: str
        reason: str
        basis_ref: str
        new_draft_hash: str | None
        withdrawal_due: dict[str, Any] | None
        republication_due: dict[str, Any] | None

        def apply(self, agg: Inspection) -> None:
            assert agg.decision is not None
            decision = dict(agg.decision)
            decision["status"] = self.kind
            if self.kind == "changed":
                decision["version"] += 1
                decision["draft_hash"] = self.new_draft_hash
                decision["publication_due"] = freeze(self.republication_due)
            agg.decision = decision
            agg.alterations = (
                *agg.alterations,
                {
                    "kind": self.kind,
                    "seq": self.originator_version,
                    "withdrawal_due": freeze(self.withdrawal_due),
                    "withdrawn": self.withdrawal_due is None,
                },
            )

    class DecisionChangedWithEvidence(DecisionAltered):
        """A changed decision that names its own evidence set (R29, R51; issue 18): every ref was
        logged before the original decision. Supersedes ``decision_altered.v1`` for such changes."""

        TYPE: ClassVar[str] = "inspection.decision_altered.v2"
        evidence_refs: tuple[str, ...]

        def apply(self, agg: Inspection) -> None:
            super().apply(agg)
            assert agg.decision is not None
            agg.decision = {**agg.decision, "evidence_refs": tuple(self.evidence_refs)}

    class PublicationWithdrawn(Event):
        """撤回公示 with public reasons (R51)."""

        TYPE: ClassVar[str] = "inspection.publication_withdrawn.v1"
        reason_text: str
        cause_seq: int
        flags: tuple[str, ...]

        def apply(self, agg: Inspection) -> None:
            assert agg.publication is not None
            agg.publication = {**agg.publication, "status": "withdrawn"}
            agg.alterations = tuple(
                {**a, "withdrawn": True} if a["seq"] == self.cause_seq else a
                for a in agg.alterations
            )

    class PublicationCorrected(Event):
        """更正 (R52): a new event superseding the published content."""

        TYPE: ClassVar[str] = "inspection.publication_corrected.v1"
        supersedes_seq: int
        reason: str
        content: dict[str, str]
        content_hash: str
        redaction_map: dict[str, str]
        redaction_map_hash: str
        redaction_reviewer: str

        def apply(self, agg: Inspection) -> None:
            assert agg.publication is not None
            agg.publication = {
                **agg.publication,
                "content_hash": self.content_hash,
                "seq": self.originator_version,
            }

    # ---------------------------------------------------------- events: part 2
    class ViolationRecorded(Event):
        """The violation's end, discovery and fingerprint; not time-barred (R31, R32)."""

        TYPE: ClassVar[str] = "inspection.violation_recorded.v1"
        fingerprint: str
        description_hash: str
        violation_end_on: str
        discovered_on: str
        harm_kind: str
        continuing: bool
        limit_years: int
        barred_after: str

        def apply(self, agg: Inspection) -> None:
            agg.violation = {"fingerprint": self.fingerprint, "barred_after": self.barred_after,
                             "discovered_on": self.discovered_on}

    class PenaltyNoticeServed(Event):
        """行政处罚事先告知 (R33, R35): the proposed penalty and the party's rights."""

        TYPE: ClassVar[str] = "inspection.penalty_notice_served.v1"
        notice_no: str
        penalty_kinds: tuple[str, ...]
        fine_fen: int
        confiscation_fen: int
        party_kind: str
        facts_hash: str
        new_facts: bool
        hearing_right: bool
        hearing_required: bool
        statement_due: dict[str, Any]
        hearing_request_due: dict[str, Any] | None

        def apply(self, agg: Inspection) -> None:
            agg.notices = (*agg.notices, {
                "seq": self.originator_version,
                "penalty_kinds": freeze(self.penalty_kinds),
                "fine_fen": self.fine_fen,
                "confiscation_fen": self.confiscation_fen,
                "hearing_right": self.hearing_right,
                "statement_due": freeze(self.statement_due),
                "hearing_request_due": freeze(self.hearing_request_due),
            })
            agg.hearing = None

    class StatementHeard(Event):
        """陈述、申辩 heard (R33, R34)."""

        TYPE: ClassVar[str] = "inspection.statement_heard.v1"
        kind: str
        statement_hash: str
        adopted: bool
        late: bool
        notice_seq: int

        def apply(self, agg: Inspection) -> None:
            agg.responses = (*agg.responses, {"kind": "statement", "notice_seq": self.notice_seq})

    class RightsWaived(Event):
        """An explicit waiver of the statement and/or hearing rights (R33)."""

        TYPE: ClassVar[str] = "inspection.rights_waived.v1"
        rights: tuple[str, ...]
        waiver_ref: str
        notice_seq: int

        def apply(self, agg: Inspection) -> None:
            agg.responses = (*agg.responses, {"kind": "waiver", "notice_seq": self.notice_seq,
                                              "rights": freeze(self.rights)})

    class HearingRequested(Event):
        """听证申请 (R35); ``late`` when after the 5-working-day period."""

        TYPE: ClassVar[str] = "inspection.hearing_requested.v1"
        request_ref: str
        late: bool
        notice_seq: int
        flags: tuple[str, ...]

        def apply(self, agg: Inspection) -> None:
            agg.responses = (*agg.responses, {"kind": "hearing_request", "notice_seq": self.notice_seq,
                                              "late": self.late})

    class HearingScheduled(Event):
        """听证通知: date, place, host, public or not (R35)."""

        TYPE: ClassVar[str] = "inspection.hearing_scheduled.v1"
        hearing_date: str
        place: str
        host: str
        public: bool
        nonpublic_reason: str | None
        earliest: dict[str, Any]
        notice_seq: int

        def apply(self, agg: Inspection) -> None:
            agg.hearing = {"hearing_date": self.hearing_date, "host": self.host, "held": False,
                           "notice_seq": self.notice_seq}

    class HearingHeld(Event):
        """听证 held; the record signed or the refusal noted (R35)."""

        TYPE: ClassVar[str] = "inspection.hearing_held.v1"
        host: str
        record_hash: str
        party_signature: str | None
        refusal_note: str | None
        notice_seq: int

        def apply(self, agg: Inspection) -> None:
            assert agg.hearing is not None
            agg.hearing = {**agg.hearing, "held": True}
            agg.responses = (*agg.responses, {"kind": "hearing_held", "notice_seq": self.notice_seq})

    class CollectiveDiscussionHeld(Event):
        """集体讨论 by the heads (R39)."""

        TYPE: ClassVar[str] = "inspection.collective_discussion_held.v1"
        minutes_hash: str
        attendees: tuple[str, ...]
        draft_hash: str
        conclusion: str

        def apply(self, agg: Inspection) -> None:
            agg.discussions = (*agg.discussions, {"draft_hash": self.draft_hash, "seq": self.originator_version})

    class DecisionExtensionApproved(Event):
        """The 90-day decision period extended once, by the head, on a basis (R30)."""

        TYPE: ClassVar[str] = "inspection.decision_extension_approved.v1"
        approver: str
        approver_role: str
        basis: str
        days: int
        previous_due: dict[str, Any]
        decision_due: dict[str, Any]

        def apply(self, agg: Inspection) -> None:
            assert agg.case is not None
            agg.case = {**agg.case, "decision_due": freeze(self.decision_due),
                        "extensions": agg.case.get("extensions", 0) + 1}

    class DecisionDocumentIssued(Event):
        """The penalty decision document: the six items, its hash and the seal (R43);
        procedure and form serial (R44); the notice it follows (R33).  Appended in the
        same command as, and immediately before, the ``inspection.decided.v1`` it documents."""

        TYPE: ClassVar[str] = "inspection.decision_document_issued.v1"
        decision_no: str
        procedure: str
        party_kind: str
        document: dict[str, str]
        document_hash: str
        seal_ref: str
        form_serial: str | None
        confiscation_fen: int
        notice_seq: int | None
        violation_fingerprint: str

        def apply(self, agg: Inspection) -> None:
            agg.decision_document = {"procedure": self.procedure, "document_hash": self.document_hash}

    class SimpleDecisionFiled(Event):
        """An on-the-spot decision filed with the agency (R44, APL art. 52)."""

        TYPE: ClassVar[str] = "inspection.simple_decision_filed.v1"
        filing_ref: str

        def apply(self, agg: Inspection) -> None:
            assert agg.decision is not None
            agg.decision = {**agg.decision, "filed_with_agency": True}

    class FinePaid(Event):
        """罚款缴纳 with any late surcharge (R47)."""

        TYPE: ClassVar[str] = "inspection.fine_paid.v1"
        amount_fen: int
        surcharge_fen: int
        payment_due: dict[str, Any]
        days_late: int
        suspended_days: int
        suspension_ref: str | None
        receipt_ref: str
        flags: tuple[str, ...]

        def apply(self, agg: Inspection) -> None:
            agg.payments = (*agg.payments, {"amount_fen": self.amount_fen, "surcharge_fen": self.surcharge_fen})

    class RecusalRequested(Event):
        """回避申请 (R8); the investigation goes on while it is pending."""

        TYPE: ClassVar[str] = "inspection.recusal_requested.v1"
        person_id: str
        requested_by: str
        reason: str

        def apply(self, agg: Inspection) -> None:
            agg.recusals = {**agg.recusals, self.person_id: {"status": "pending"}}

    class RecusalDecided(Event):
        """回避决定 by the agency head (R8)."""

        TYPE: ClassVar[str] = "inspection.recusal_decided.v1"
        person_id: str
        granted: bool
        decider: str
        decider_role: str
        reason: str

        def apply(self, agg: Inspection) -> None:
            agg.recusals = {**agg.recusals,
                            self.person_id: {"status": "granted" if self.granted else "refused"}}

    class EvidencePreserved(Event):
        """先行登记保存, approved by the head; decision due in 7 working days (R28)."""

        TYPE: ClassVar[str] = "inspection.evidence_preserved.v1"
        preservation_id: str
        evidence_ids: tuple[str, ...]
        approver: str
        approver_role: str
        decision_due: dict[str, Any]
        warn_on: str

        def apply(self, agg: Inspection) -> None:
            agg.preservations = {**agg.preservations, self.preservation_id: {
                "decided": False, "decision_due": freeze(self.decision_due)}}

    class PreservationDecided(Event):
        """The handling decision on preserved evidence (R28)."""

        TYPE: ClassVar[str] = "inspection.preservation_decided.v1"
        preservation_id: str
        outcome: str
        reason: str
        flags: tuple[str, ...]

        def apply(self, agg: Inspection) -> None:
            agg.preservations = {**agg.preservations, self.preservation_id: {
                **agg.preservations[self.preservation_id], "decided": True}}

    class DeviceRecordReviewed(Event):
        """The record of a monitoring device reviewed; the party told (R27)."""

        TYPE: ClassVar[str] = "inspection.device_record_reviewed.v1"
        evidence_id: str
        ok: bool
        reviewer: str
        party_notified: bool

        def apply(self, agg: Inspection) -> None:
            agg.evidence = {**agg.evidence, self.evidence_id: {
                **agg.evidence[self.evidence_id], "device_reviewed": self.ok}}

    class PublicationPeriodSet(Event):
        """公示期限: the regime version and ``public_until`` (cf_gsjzq) of the publication
        that immediately follows it in the same command (R53)."""

        TYPE: ClassVar[str] = "inspection.publication_period_set.v1"
        regime_version: str
        channel: str
        category: str
        start_on: str
        period_months: int
        public_until: str
        repair_min_until: str
        necessity_reason: str | None

        def apply(self, agg: Inspection) -> None:
            agg.publication_period = {"public_until": self.public_until, "repair_min_until": self.repair_min_until,
                                      "regime_version": self.regime_version}

    class PublicationExpired(Event):
        """The publication period ended; the entry is no longer shown (R53)."""

        TYPE: ClassVar[str] = "inspection.publication_expired.v1"
        public_until: str

        def apply(self, agg: Inspection) -> None:
            assert agg.publication is not None
            agg.publication = {**agg.publication, "status": "expired"}

    class CreditRepairApproved(Event):
        """信用修复: early removal after the minimum period (R54)."""

        TYPE: ClassVar[str] = "inspection.credit_repair_approved.v1"
        application_ref: str
        approver: str
        conditions: dict[str, bool]
        repair_min_until: str

        def apply(self, agg: Inspection) -> None:
            assert agg.publication is not None
            agg.publication = {**agg.publication, "status": "repaired"}

    class OverdueRecorded(Event):
        """Obligations whose deadline passed without the required act (V_* flags)."""

        TYPE: ClassVar[str] = "inspection.overdue_recorded.v1"
        obligations: tuple[dict[str, Any], ...]
        flags: tuple[str, ...]

        def apply(self, agg: Inspection) -> None:
            agg.overdue = (*agg.overdue, *(o["obligation"] for o in self.obligations))

    class CaseClosed(Event):
        """结案, with a record for each phase reached (R24)."""

        TYPE: ClassVar[str] = "inspection.case_closed.v1"
        phases: dict[str, int]
        execution_ref: str | None

        def apply(self, agg: Inspection) -> None:
            agg.closed = True

    # ------------------------------------------------------------- identity
    @staticmethod
    def id_for(lead_agency: str, task_no: str) -> UUID:
        return natural_id("inspection", lead_agency, task_no)

