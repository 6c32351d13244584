"""The inspection lifecycle aggregate: from dispatch (派单) to publication and withdrawal.

One ``Inspection`` stream holds one inspection task and, if a case is filed from it,
the case that follows (review, decision, service, publication, withdrawal).  Command
methods check the rules and then trigger past-tense events; ``apply`` bodies only copy
event data into state, so history recorded under old rules always replays.

Rules that need other aggregates (certificates, subjects, item lists, caps) receive
their *state as of the event's occurred_at* from the caller (see ``domain.services``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.base import (
    check_time_not_before,
    content_hash,
    feedback_token,
    flags_of,
    freeze,
    is_sha256_hex,
    natural_id,
    require,
    require_digest,
    require_order,
    require_text,
    str_tuple,
)
from domain.calendar import (
    HolidayCalendar,
    deadline_or_pending,
    due_day,
    from_micros,
    is_after_deadline,
    iso_day,
    legal_day,
    to_micros,
)
from domain.errors import OutOfOrder, RoleConflict, RuleViolation, UnknownEntity
from domain.evidence import DeviceState, EvidenceProcedures, check_device_evidence
from domain.penalty import (
    PENALTY_KINDS,
    PenaltyProcedure,
    check_decision_document,
    decision_document_hash,
)
from domain.publicity import (
    DEFAULT_LOW_FINE_FEN,
    PublicationPeriods,
    compute_publication_period,
)
from domain.recusal import Recusal
from domain.registers import CertState, SubjectState
from domain.uscc import validate_uscc

INSPECTION_TYPES = frozenset({"routine", "case", "special"})  # 日常 / 个案 / 专项
MODES = frozenset({"on_site", "off_site"})
RESULTS = frozenset({"no_issue", "rectification_ordered", "case_filed", "referral"})
OUTCOMES = frozenset({"penalty", "no_penalty_minor", "no_penalty_unproven", "referral"})  # R40
#: Complaint codes (R20): the 五个严禁 1-5 and the 八个不得 a-h.
PROHIBITION_CODES = ("1", "2", "3", "4", "5", "a", "b", "c", "d", "e", "f", "g", "h")
MAX_FEEDBACK_COMMENT = 1000
DECIDER_ROLES = frozenset({"agency_head", "collective"})  # R37
CASE_CLASSES = frozenset({"ordinary", "complex", "major"})
#: R22 (APL art. 46): the eight statutory types; the eighth covers both kinds of 笔录.
EVIDENCE_TYPES = frozenset(
    {"书证", "物证", "视听资料", "电子数据", "证人证言", "当事人的陈述", "鉴定意见", "勘验笔录", "现场笔录"},
)
AV_TYPES = frozenset({"视听资料", "电子数据"})
AV_METADATA_KEYS = ("device_id", "captured_at", "maker", "purpose")  # R26
OFFSITE_SOURCES = frozenset({"document_review", "data_sharing", "remote_video", "online_monitoring"})
DEVICE_SOURCE = "device"  # R27: an electronic technical monitoring device (on- or off-site)
#: R20 严禁变相检查: activities that may not create inspection events (with English aliases).
DISGUISED_ACTIVITIES = frozenset(
    {"观摩", "督导", "考察", "评比", "observation", "supervision", "study_visit", "appraisal"},
)
#: R38: the eight points of a legal-review opinion.
REVIEW_POINTS = (
    "subject_legality",
    "officer_qualification",
    "procedure",
    "facts_and_evidence",
    "law_and_discretion",
    "competence",
    "documents_complete",
    "crime_referral",
)
#: R48: publication regimes and their deadlines in working days after the decision.
PUBLICATION_REGIMES: dict[str, int] = {
    "penalty_118": 7,  # licensing and penalty decisions (国办发〔2018〕118号)
    "other_decision": 20,  # other enforcement decisions (118号; OGI art. 26)
    "samr_same_province": 20,  # SAMR45 art. 9
    "samr_other_province": 10,  # SAMR45 art. 10 (push within 10 wd)
}
SERVICE_METHODS = frozenset(
    {"on_announcement", "direct", "left_at_premises", "post", "electronic", "public_notice"},
)
SANSHU = ("行政处罚决定书", "信用修复告知书", "行政合规建议书")  # R45 三书同达
#: R49: fields that are never public.
NEVER_PUBLIC_FIELDS = frozenset({"cf_fr_zjlx", "cf_fr_zjhm", "cf_xdr_zjlx", "cf_xdr_zjhm"})
ALTERATION_KINDS = frozenset({"changed", "revoked", "confirmed_illegal", "confirmed_void"})  # R51

SERVICE_WD = 7  # R46
WITHDRAWAL_WD = 3  # R51
DECISION_NATURAL_DAYS = 90  # R30
DEFAULT_RESULT_NOTICE_WD = 3  # R21 [U: no national period; configuration]
DEFAULT_EMERGENCY_WINDOW = timedelta(hours=24)  # R9 (configuration)
#: R24: the phases a closed case must show a record for.
RECORD_PHASES = ("opening", "investigation", "review", "decision", "service", "execution")


_digest = require_digest


class Inspection(PenaltyProcedure, Recusal, EvidenceProcedures, PublicationPeriods, Aggregate):
    """An inspection task and the case that may follow it.

    The mixins hold the commands of part 2 (penalty procedure, recusal, evidence
    procedures, publication periods); every event class is declared here.
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

    # ------------------------------------------------------------- queries
    @property
    def team(self) -> dict[str, dict[str, Any]]:
        """cert_no → {person_id, agency_code, categories}."""
        out: dict[str, dict[str, Any]] = {}
        for a in self.assignments:
            for o in a["officers"]:
                out[o["cert_no"]] = {
                    "person_id": o["person_id"],
                    "agency_code": a["agency_code"],
                    "categories": tuple(a["categories"]),
                }
        return out

    @property
    def person_ids(self) -> frozenset[str]:
        return frozenset(o["person_id"] for o in self.team.values())

    @property
    def fully_approved(self) -> bool:
        return all(a["agency_code"] in self.approvals for a in self.assignments)

    # ------------------------------------------------------------- creation
    @classmethod
    def dispatch(
        cls,
        *,
        task_no: str,
        lead_agency: str,
        inspection_type: str,
        mode: str,
        uscc: str,
        assignments: Sequence[Mapping[str, Any]],
        at: datetime,
        actor: str,
        plan: Mapping[str, Any] | None = None,
        special_approval: Mapping[str, Any] | None = None,
        random_draw_ref: str | None = None,
        emergency: bool = False,
        legal_rep_required: bool = False,
        legal_rep_basis: str | None = None,
        flags: Iterable[str] = (),
        flag_reason: str | None = None,
    ) -> Inspection:
        """Create the task. Cross-aggregate rules are checked by
        :func:`domain.services.dispatch_inspection`, which calls this."""
        require_text(task_no, "task_no")
        validate_uscc(lead_agency)
        validate_uscc(uscc)
        require(inspection_type in INSPECTION_TYPES, "E_OUT_OF_ORDER", f"bad type {inspection_type!r}")
        require(mode in MODES, "E_MODE_MISMATCH", f"bad mode {mode!r}")
        require(bool(assignments), "E_NO_DISPATCH", "a dispatch needs at least one agency")
        require(
            not legal_rep_required or bool(legal_rep_basis),
            "E_LEGAL_REP_REQUIRED",
            "requiring the legal representative's presence needs a statutory basis (R20)",
        )
        check_time_not_before(at, None)
        return cls._create(
            cls.Dispatched,
            id=cls.id_for(lead_agency, task_no),
            timestamp=at,
            actor=actor,
            task_no=task_no,
            lead_agency=lead_agency,
            inspection_type=inspection_type,
            mode=mode,
            uscc=uscc,
            year=legal_day(at).year,
            assignments=tuple(dict(a) for a in assignments),
            plan=dict(plan) if plan else None,
            special_approval=dict(special_approval) if special_approval else None,
            random_draw_ref=random_draw_ref,
            emergency=bool(emergency),
            legal_rep_required=bool(legal_rep_required),
            legal_rep_basis=legal_rep_basis,
            flags=str_tuple(flags),
            flag_reason=flag_reason,
        )

    # ------------------------------------------------------------- guards
    def _begin(self, at: datetime, actor: str | None = None) -> None:
        check_time_not_before(at, self.modified_on)
        require_order(not self.cancelled, "the inspection was cancelled")
        require_order(not self.closed, "the case is closed")
        self._require_not_recused(actor)

    def _check_team(
        self, certs: Sequence[CertState], at: datetime, *, need_shown: bool,
    ) -> tuple[str, ...]:
        """R5 (valid as of ``at``), R6 (≥2 distinct), R7 (shown first), R9 (on the task)."""
        team = self.team
        for cert in certs:
            member = team.get(cert.cert_no)
            require(
                member is not None and member["person_id"] == cert.person_id,
                "E_NO_DISPATCH",
                f"officer {cert.cert_no} is not on the dispatched task",
            )
            assert member is not None
            cert.check_valid(at, member["categories"])
        persons = {c.person_id for c in certs}
        numbers = {c.cert_no for c in certs}
        self._require_not_recused(*persons)
        require(
            min(len(persons), len(numbers)) >= 2,  # noqa: PLR2004 - two officers (R5)
            "E_OFFICER_COUNT",
            "at least two distinct certified officers must act (R6)",
        )
        if need_shown:
            missing = sorted(numbers - set(self.certs_shown))
            require(
                not missing,
                "E_CERT_NOT_SHOWN",
                f"certificates not shown before acting: {missing} (R7)",
            )
        return tuple(sorted(numbers))

    def check_acting_team(self, certs: Sequence[CertState], at: datetime) -> tuple[str, ...]:
        """R5–R9 for an act on site by ``certs`` (used by coercive measures): the task is
        approved (or an emergency), ≥2 certified officers of the task, each of whom
        showed the certificate and none recused. Returns the certificate numbers."""
        self._require_approved()
        return self._check_team(certs, at, need_shown=True)

    # ------------------------------------------------------------- commands: inspection
    def approve(
        self,
        *,
        agency: SubjectState,
        approver: str,
        at: datetime,
        emergency_window: timedelta = DEFAULT_EMERGENCY_WINDOW,
    ) -> None:
        """R9: approval by the head of the subject (as of ``at``)."""
        self._begin(at)
        require_order(self.conclusion is None, "the inspection is already concluded")
        require(
            agency.agency_code in {a["agency_code"] for a in self.assignments},
            "E_NO_DISPATCH",
            f"{agency.agency_code} is not on this task",
        )
        require_order(agency.agency_code not in self.approvals, "already approved")
        require(
            agency.head is not None and agency.head == approver,
            "E_NO_DISPATCH",
            f"{approver} is not the head of {agency.agency_code} on {iso_day(legal_day(at))}",
        )
        retroactive = self.arrival is not None or bool(self.evidence)
        late = to_micros(at) - self.dispatched_at > emergency_window // timedelta(microseconds=1)
        self.trigger_event(
            self.Approved,
            timestamp=at,
            actor=approver,
            agency_code=agency.agency_code,
            approver=approver,
            approver_role="subject_head",
            retroactive=retroactive,
            flags=flags_of((retroactive and late, "V_APPROVAL_NOT_REGULARISED")),
        )

    def _require_approved(self) -> None:
        require(
            self.fully_approved or self.emergency,
            "E_NO_DISPATCH",
            "no approval by the subject's head yet (无派单、不执法, R9)",
        )

    def change_mode(self, *, mode: str, reason: str, approved_by: str, at: datetime, actor: str) -> None:
        """R18: a change of mode is its own signed event, before anything on site."""
        self._begin(at)
        require(mode in MODES and mode != self.mode, "E_MODE_MISMATCH", f"cannot change to {mode!r}")
        require_text(reason, "reason")
        require_text(approved_by, "approved_by")
        require(
            self.arrival is None and not self.evidence and self.conclusion is None,
            "E_MODE_MISMATCH",
            "the mode cannot change after arrival or evidence",
        )
        self.trigger_event(
            self.ModeChanged, timestamp=at, actor=actor, mode=mode, reason=reason, approved_by=approved_by,
        )

    def cancel(self, *, reason: str, at: datetime, actor: str) -> None:
        self._begin(at)
        require_text(reason, "reason")
        require_order(
            self.arrival is None and not self.evidence and self.conclusion is None,
            "only a task not yet started can be cancelled",
        )
        self.trigger_event(self.Cancelled, timestamp=at, actor=actor, reason=reason)

    def arrive(self, *, scan: Mapping[str, Any] | None, location: str, at: datetime, actor: str) -> None:
        """R17 scan check-in; R18 an off-site task has no arrival; R9 approval first."""
        self._begin(at)
        require(
            self.mode == "on_site",
            "E_MODE_MISMATCH",
            "an off-site inspection cannot have an arrival; record a mode change first (R18)",
        )
        require_order(self.arrival is None, "already arrived")
        require_order(self.conclusion is None, "the inspection is already concluded")
        self._require_approved()
        if scan is None:
            require(self.emergency, "E_NO_CHECKIN", "arrival needs the scanned enterprise code (R17)")
        else:
            require(
                scan.get("uscc") == self.uscc and bool(scan.get("code_id")),
                "E_NO_CHECKIN",
                "the scanned code does not identify the inspected enterprise (R17)",
            )
            require(isinstance(scan.get("scanned_at"), int), "E_NO_CHECKIN", "scan.scanned_at (µs) missing")
        self.trigger_event(
            self.Arrived,
            timestamp=at,
            actor=actor,
            scan=dict(scan) if scan is not None else None,
            location=location,
            flags=(),
        )

    def show_certificate(self, *, cert: CertState, at: datetime, actor: str) -> None:
        """R7: each acting officer shows the certificate on site, valid as of ``at`` (R5)."""
        self._begin(at)
        require(self.mode == "on_site", "E_MODE_MISMATCH", "certificates are shown on site")
        require(self.arrival is not None, "E_NO_CHECKIN", "show certificates after checking in")
        require_order(self.conclusion is None, "the inspection is already concluded")
        member = self.team.get(cert.cert_no)
        require(
            member is not None and member["person_id"] == cert.person_id,
            "E_NO_DISPATCH",
            f"officer {cert.cert_no} is not on the dispatched task",
        )
        assert member is not None
        cert.check_valid(at, member["categories"])
        self._require_not_recused(cert.person_id)
        require_order(cert.cert_no not in self.certs_shown, "certificate already shown")
        self.trigger_event(
            self.CertificateShown,
            timestamp=at,
            actor=actor,
            cert_no=cert.cert_no,
            person_id=cert.person_id,
        )

    def log_evidence(
        self,
        *,
        evidence_id: str,
        evidence_type: str,
        sha256: str,
        size: int,
        media_type: str,
        source: str,
        capture: Mapping[str, Any],
        certs: Sequence[CertState],
        at: datetime,
        actor: str,
        lawful: bool = True,
        device: DeviceState | None = None,
    ) -> None:
        """R9, R17, R18, R5–R7, R22, R26, R27; after the decision it is flagged (R29).

        ``source == "device"``: captured by an electronic monitoring device, whose state
        as of ``at`` is ``device`` (R27)."""
        self._begin(at, actor)
        require_text(evidence_id, "evidence_id")
        require_order(evidence_id not in self.evidence, f"evidence {evidence_id!r} already logged")
        self._require_approved()
        if source == "on_site":
            require(self.mode == "on_site", "E_MODE_MISMATCH", "on-site evidence in an off-site inspection")
            require(self.arrival is not None, "E_NO_CHECKIN", "on-site evidence before check-in (R17)")
        elif source == DEVICE_SOURCE:
            check_device_evidence(device, capture.get("device_id"), (a["agency_code"] for a in self.assignments))
        else:
            require(
                source in OFFSITE_SOURCES,
                "E_MODE_MISMATCH",
                f"evidence source {source!r} is not on-site nor an off-site source (R18)",
            )
        officers = self._check_team(certs, at, need_shown=source == "on_site")
        require(evidence_type in EVIDENCE_TYPES, "E_EVIDENCE_TYPE", f"{evidence_type!r} is not a statutory type (R22)")
        require(is_sha256_hex(sha256), "E_AV_METADATA", "sha256 at capture must be 64 lowercase hex digits")
        require(isinstance(size, int) and size >= 0, "E_AV_METADATA", "size must be a non-negative int")
        if evidence_type in AV_TYPES:
            missing = [k for k in AV_METADATA_KEYS if not capture.get(k)]
            if capture.get("medium") == "audio" and not capture.get("transcript_ref"):
                missing.append("transcript_ref")
            require(not missing, "E_AV_METADATA", f"capture metadata missing: {missing} (R26)")
        post_decision = self.decision is not None
        self.trigger_event(
            self.EvidenceLogged,
            timestamp=at,
            actor=actor,
            evidence_id=evidence_id,
            evidence_type=evidence_type,
            sha256=sha256,
            size=size,
            media_type=media_type,
            source=source,
            capture=dict(capture),
            officers=officers,
            lawful=bool(lawful),
            admissible=bool(lawful),
            post_decision=post_decision,
            flags=(),
        )

    def sign_record(
        self,
        *,
        record_hash: str,
        certs: Sequence[CertState],
        party_signature: str | None,
        refusal_note: str | None,
        at: datetime,
        actor: str,
        witness: str | None = None,
    ) -> None:
        """R19: the record is signed by ≥2 officers and the party, or the refusal noted."""
        self._begin(at)
        require_order(self.conclusion is None, "the inspection is already concluded")
        require_order(self.record is None, "the record is already signed")
        if self.mode == "on_site":
            require(self.arrival is not None, "E_NO_CHECKIN", "no on-site record before check-in")
        self._require_approved()
        _digest(record_hash, "record_hash")
        officers = self._check_team(certs, at, need_shown=self.mode == "on_site")
        require(
            bool(party_signature) or bool(refusal_note),
            "E_NO_RECORD",
            "the record needs the party's signature or a note of refusal (R19)",
        )
        self.trigger_event(
            self.RecordSigned,
            timestamp=at,
            actor=actor,
            record_hash=record_hash,
            officers=officers,
            party_signature=party_signature,
            refusal_note=refusal_note,
            witness=witness,
        )

    def conclude(
        self,
        *,
        result: str,
        certs: Sequence[CertState],
        at: datetime,
        actor: str,
        calendar: HolidayCalendar,
        rectification_due: str | None = None,
        result_notice_wd: int = DEFAULT_RESULT_NOTICE_WD,
    ) -> None:
        """R19 (on-site needs the signed record), R5/R6; starts the R21 notice period."""
        self._begin(at)
        require_order(self.conclusion is None, "the inspection is already concluded")
        self._require_approved()
        require(result in RESULTS, "E_OUT_OF_ORDER", f"unknown result {result!r}")
        if self.mode == "on_site":
            require(self.record is not None, "E_NO_RECORD", "an on-site inspection ends with a signed record (R19)")
        officers = self._check_team(certs, at, need_shown=self.mode == "on_site")
        due = deadline_or_pending(calendar, legal_day(at), result_notice_wd)
        self.trigger_event(
            self.Concluded,
            timestamp=at,
            actor=actor,
            result=result,
            officers=officers,
            rectification_due=rectification_due,
            result_notice_due=due.as_record(),
        )

    def notify_result(
        self, *, recipient: str, summary_hash: str, secret: bytes, at: datetime, actor: str,
        calendar: HolidayCalendar | None = None,
    ) -> str:
        """R21: result + feedback invitation. Returns the QR token for the enterprise;
        the ledger stores only its id (a hash of it)."""
        self._begin(at)
        require_order(self.conclusion is not None, "notify the result after concluding")
        assert self.conclusion is not None
        require_order(self.notified is None, "the result was already notified")
        require_text(recipient, "recipient")
        _digest(summary_hash, "summary_hash")
        token = feedback_token(self.id, secret)
        qr_id = hashlib.sha256(token.encode()).hexdigest()[:32]
        late = is_after_deadline(self.conclusion["result_notice_due"], at, calendar)
        self.trigger_event(
            self.ResultNotified,
            timestamp=at,
            actor=actor,
            recipient=recipient,
            summary_hash=summary_hash,
            qr_id=qr_id,
            flags=flags_of((late, "V_RESULT_NOT_NOTIFIED")),
        )
        return token

    def receive_feedback(
        self, *, token: str, rating: int, prohibition_code: str | None, comment: str, at: datetime, actor: str,
    ) -> str:
        """R20/R21: the enterprise's feedback, once per inspection, with the token of its result
        notice. Returns the invitation id (``qr_id``). Unlike the enforcement steps it is accepted
        after the case is closed: the enterprise may answer late."""
        check_time_not_before(at, self.modified_on)
        notified = self.notified
        if notified is None:
            raise UnknownEntity("this inspection has no feedback invitation", code="E_NO_FEEDBACK_INVITATION")
        if not isinstance(token, str) or not token.strip():
            raise RuleViolation("E_FEEDBACK_TOKEN", "the feedback token is required")
        qr_id = hashlib.sha256(token.strip().encode()).hexdigest()[:32]
        if not hmac.compare_digest(qr_id, str(notified["qr_id"])):
            raise RuleViolation("E_FEEDBACK_TOKEN", "the feedback token does not belong to this inspection")
        if getattr(self, "feedback", None) is not None:
            raise RuleViolation("E_FEEDBACK_EXISTS", "feedback for this inspection was already given")
        if type(rating) is not int or not 1 <= rating <= 5:  # noqa: PLR2004 - the 1-5 scale
            raise RuleViolation("E_FEEDBACK_RATING", "the rating is an integer from 1 to 5")
        if prohibition_code is not None and prohibition_code not in PROHIBITION_CODES:
            raise RuleViolation("E_FEEDBACK_CODE", f"unknown prohibition code {prohibition_code!r}",
                                allowed=PROHIBITION_CODES)
        if not isinstance(comment, str) or len(comment) > MAX_FEEDBACK_COMMENT:
            raise RuleViolation("E_FEEDBACK_COMMENT",
                                f"the comment is text of at most {MAX_FEEDBACK_COMMENT} characters")
        text = comment.strip()
        self.trigger_event(
            self.FeedbackReceived,
            timestamp=at,
            actor=actor,
            qr_id=qr_id,
            rating=rating,
            prohibition_code=prohibition_code,
            comment_sha256=hashlib.sha256(text.encode()).hexdigest() if text else None,
        )
        return qr_id

    # ------------------------------------------------------------- commands: case
    def file_case(
        self,
        *,
        case_no: str,
        investigators: Iterable[str],
        case_class: str,
        requires_legal_review: bool,
        at: datetime,
        actor: str,
        calendar: HolidayCalendar,
        violation: Mapping[str, Any] | None = None,
    ) -> None:
        """R30: filing starts the 90-natural-day decision period.

        ``violation`` (optional here, required before a penalty) records the facts of
        R31/R32 in the same command: ``{"fingerprint", "description_hash",
        "violation_end_on", "discovered_on", "harm_kind"?, "continuing"?}``."""
        self._begin(at, actor)
        require_order(
            self.conclusion is not None and self.conclusion["result"] == "case_filed",
            "a case is filed from an inspection concluded with result 'case_filed'",
        )
        require_order(self.case is None, "the case is already filed")
        require_order(self.decision is None, "a decision was already made on the spot")
        require_text(case_no, "case_no")
        require(case_class in CASE_CLASSES, "E_OUT_OF_ORDER", f"bad case class {case_class!r}")
        due = deadline_or_pending(calendar, legal_day(at), DECISION_NATURAL_DAYS, "natural_days")
        facts = (
            self._violation_record(
                fingerprint=violation.get("fingerprint", ""),
                description_hash=violation.get("description_hash", ""),
                violation_end_on=violation.get("violation_end_on", ""),
                discovered_on=violation.get("discovered_on", ""),
                harm_kind=violation.get("harm_kind", "general"),
                continuing=bool(violation.get("continuing", False)),
                at=at,
            )
            if violation is not None
            else None
        )
        self.trigger_event(
            self.CaseFiled,
            timestamp=at,
            actor=actor,
            case_no=case_no,
            investigators=str_tuple(investigators),
            case_class=case_class,
            requires_legal_review=bool(requires_legal_review) or case_class != "ordinary",
            decision_due=due.as_record(),
        )
        if facts is not None:
            self.trigger_event(self.ViolationRecorded, timestamp=at, actor=actor, **facts)

    def give_legal_review(
        self,
        *,
        reviewer: str,
        draft_hash: str,
        result: str,
        checklist: Mapping[str, str],
        first_time: bool,
        legal_qualification: bool,
        at: datetime,
    ) -> None:
        """R36–R38: eight-point opinion by a qualified reviewer not acting on the case."""
        self._begin(at)
        require_order(self.case is not None, "legal review needs a filed case")
        assert self.case is not None
        require_order(self.decision is None, "the decision is already made")
        require_text(reviewer, "reviewer")
        _digest(draft_hash, "draft_hash")
        self._require_not_recused(reviewer)
        if reviewer in self.person_ids or reviewer in self.case["investigators"]:
            raise RoleConflict(
                f"{reviewer} is an officer or investigator on this case and may not review it (R37)",
                reviewer=reviewer,
            )
        require(result in {"pass", "fail"}, "E_REVIEW_INCOMPLETE", f"result must be pass or fail, not {result!r}")
        missing = [p for p in REVIEW_POINTS if not str(checklist.get(p, "")).strip()]
        require(not missing, "E_REVIEW_INCOMPLETE", f"checklist points without a verdict: {missing} (R38)")
        require(
            not first_time or legal_qualification,
            "E_REVIEWER_UNQUALIFIED",
            "a first-time reviewer needs the legal professional qualification (R36)",
        )
        self.trigger_event(
            self.LegalReviewGiven,
            timestamp=at,
            actor=reviewer,
            reviewer=reviewer,
            draft_hash=draft_hash,
            result=result,
            checklist={p: str(checklist[p]) for p in REVIEW_POINTS},
            first_time=bool(first_time),
            legal_qualification=bool(legal_qualification),
        )

    def record_education(self, *, summary: str, at: datetime, actor: str) -> None:
        """R41: the party is educated whenever it is not penalised."""
        self._begin(at)
        require_order(self.case is not None, "education is recorded on a filed case")
        require_text(summary, "summary")
        self.trigger_event(self.EducationRecorded, timestamp=at, actor=actor, summary=summary)

    def decide(
        self,
        *,
        decision_no: str,
        outcome: str,
        draft_hash: str,
        decider: str,
        decider_role: str,
        evidence_refs: Iterable[str],
        at: datetime,
        calendar: HolidayCalendar,
        regime: str = "penalty_118",
        penalty_kinds: Iterable[str] = (),
        fine_fen: int = 0,
        benchmark: Mapping[str, Any] | None = None,
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
        """R29, R36, R37, R40, R41, R42; for a penalty also R31, R33–R35 (normal
        procedure) or R44 (simple procedure), R39 and R43. Computes the R46/R48 deadlines
        (fail closed).

        ``benchmark`` is the benchmark entry as resolved by the service from the
        version in force: ``{"version", "content_hash", "code", "min_fen", "max_fen"}``.
        ``no_penalty_conditions`` says {first violation, corrected, harm ≤ minor} all hold.
        A penalty also records ``document`` (the six items of APL art. 59) and
        ``seal_ref`` in ``inspection.decision_document_issued.v1``. R32 (no double fine)
        needs the fine register: use :func:`domain.services.decide_case`.
        """
        self._begin(at, decider)
        simple = outcome == "penalty" and procedure == "simple"
        require_order(self.case is not None or simple, "a decision needs a filed case")
        require_order(self.decision is None, "the decision is already made")
        require_text(decision_no, "decision_no")
        _digest(draft_hash, "draft_hash")
        require(outcome in OUTCOMES, "E_OUTCOME_INVALID", f"outcome must be one of {sorted(OUTCOMES)} (R40)")
        require(
            decider_role in DECIDER_ROLES,
            "E_DECIDER_ROLE",
            f"a decision is made by the agency head or collectively, not {decider_role!r} (R37)",
        )
        require(regime in PUBLICATION_REGIMES, "E_OUT_OF_ORDER", f"unknown publication regime {regime!r}")
        if simple:
            require(self.mode == "on_site" and self.arrival is not None, "E_SIMPLE_PROCEDURE_LIMIT",
                    "an on-the-spot decision is made on site (R44)")
        case = self.case or {}
        # R36: legal review on the same draft (also after any hearing).
        review_seq: int | None = None
        hearing_held = any(r["kind"] == "hearing_held" for r in self.responses)
        if requires_legal_review or case.get("requires_legal_review") or hearing_held:
            require(bool(self.reviews), "E_NO_LEGAL_REVIEW", "this decision needs a legal review first (R36)")
            latest = self.reviews[-1]
            require(
                latest["result"] == "pass" and latest["draft_hash"] == draft_hash,
                "E_REVIEW_NOT_PASSED",
                "the latest legal review did not pass this draft (R36)",
            )
            review_seq = latest["seq"]
        # R39: complex and major cases are decided after a collective discussion of this draft.
        if case.get("case_class") in {"complex", "major"}:
            require(
                any(d["draft_hash"] == draft_hash for d in self.discussions),
                "E_NO_COLLECTIVE_DISCUSSION",
                "a complex or major case is decided after the heads' collective discussion of this draft (R39)",
            )
        # R29, R23, R27: evidence frozen at decision time.
        refs = str_tuple(evidence_refs)
        decided_us = to_micros(at)
        for ref in refs:
            ev = self.evidence.get(ref)
            if ev is None:
                raise UnknownEntity(f"no evidence {ref!r} in this case", key=ref, code="E_UNKNOWN_EVIDENCE")
            require(
                not ev["post_decision"] and ev["logged_at"] < decided_us,
                "E_EVIDENCE_AFTER_DECISION",
                f"evidence {ref!r} was logged after the decision (R29)",
            )
            require(ev["admissible"], "E_INADMISSIBLE_EVIDENCE", f"evidence {ref!r} is inadmissible (R23)")
            require(not ev.get("device") or bool(ev.get("device_reviewed")), "E_DEVICE_EVIDENCE",
                    f"device evidence {ref!r} needs a passing record review first (R27)")
        kinds = str_tuple(penalty_kinds)
        flags: list[str] = []
        document_fields: dict[str, Any] | None = None
        if outcome == "penalty":
            require(
                bool(kinds) and set(kinds) <= PENALTY_KINDS,
                "E_DECISION_INCOMPLETE",
                f"penalty kinds must be a non-empty subset of APL art. 9, got {list(kinds)}",
            )
            require(isinstance(fine_fen, int) and not isinstance(fine_fen, bool) and fine_fen >= 0,
                    "E_DECISION_INCOMPLETE", "fine_fen must be a non-negative integer (fen)")
            require(("罚款" in kinds) == (fine_fen > 0), "E_DECISION_INCOMPLETE", "a fine needs its amount")
            require(isinstance(confiscation_fen, int) and not isinstance(confiscation_fen, bool)
                    and confiscation_fen >= 0, "E_DECISION_INCOMPLETE", "confiscation_fen must be fen (int)")
            # R42: a published benchmark in force at the decision.
            require(
                benchmark is not None and benchmark.get("published_at", decided_us + 1) <= decided_us,
                "E_NO_BENCHMARK",
                "a penalty decision applies a discretion benchmark published before it (R42)",
            )
            assert benchmark is not None
            # R31, R33–R35, R44.
            notice_seq = self._check_penalty_procedure(
                kinds=kinds, fine_fen=fine_fen, confiscation_fen=confiscation_fen, procedure=procedure,
                party_kind=party_kind, form_serial=form_serial, certs_shown=self.certs_shown, at=at,
                calendar=calendar)
            # R43: the document's six items and the seal.
            doc = check_decision_document(document, seal_ref)
            assert self.violation is not None
            document_fields = {
                "decision_no": decision_no, "procedure": procedure, "party_kind": party_kind, "document": doc,
                "document_hash": decision_document_hash(doc), "seal_ref": str(seal_ref),
                "form_serial": form_serial, "confiscation_fen": int(confiscation_fen), "notice_seq": notice_seq,
                "violation_fingerprint": self.violation["fingerprint"],
            }
            # R41: penalty on a no-penalty-listed matter needs a justification.
            if no_penalty_conditions and self._no_penalty_listed():
                require(
                    bool(justification and justification.strip()),
                    "E_DECISION_INCOMPLETE",
                    "penalising a matter on the no-penalty list needs a justification (R41)",
                )
                flags.append("W_NO_PENALTY_LIST")
        else:
            require(not kinds and fine_fen == 0, "E_DECISION_INCOMPLETE", "no penalty kinds without a penalty")
            if outcome.startswith("no_penalty"):
                require(self.educated, "E_NO_EDUCATION", "record the education of the party first (R41)")
        if case and is_after_deadline(case["decision_due"], at, calendar):
            flags.append("V_DECISION_OVERDUE")
        day = legal_day(at)
        service_due = deadline_or_pending(calendar, day, SERVICE_WD)
        # SAMR45 art. 2 publishes normal-procedure penalties only, never warning-only ones.
        publishable = outcome == "penalty" and not simple and not (
            regime.startswith("samr") and set(kinds) == {"警告"}
        )
        publication_due = (
            deadline_or_pending(calendar, day, PUBLICATION_REGIMES[regime]).as_record()
            if publishable
            else None
        )
        if document_fields is not None:
            self.trigger_event(self.DecisionDocumentIssued, timestamp=at, actor=decider, **document_fields)
        self.trigger_event(
            self.Decided,
            timestamp=at,
            actor=decider,
            decision_no=decision_no,
            outcome=outcome,
            draft_hash=draft_hash,
            decider=decider,
            decider_role=decider_role,
            evidence_refs=refs,
            penalty_kinds=kinds,
            fine_fen=int(fine_fen),
            benchmark=dict(benchmark) if benchmark is not None else None,
            legal_review_seq=review_seq,
            regime=regime,
            publishable=publishable,
            service_due=service_due.as_record(),
            publication_due=publication_due,
            justification=justification,
            flags=tuple(flags),
        )

    def _no_penalty_listed(self) -> bool:
        return any(a.get("no_penalty_items") for a in self.assignments)

    def serve(
        self,
        *,
        method: str,
        documents: Iterable[str],
        document_hash: str,
        publication_notice: bool,
        at: datetime,
        actor: str,
        consent_ref: str | None = None,
        sanshu_policy: bool = False,
        calendar: HolidayCalendar | None = None,
    ) -> None:
        """R45 (三书同达 when the agency's policy is on), R46, R50."""
        self._begin(at)
        require_order(self.decision is not None, "serve after the decision")
        d = self.decision
        assert d is not None
        require_order(d["status"] in {"in_force", "changed"}, f"the decision is {d['status']}")
        require_order(
            not any(s["decision_version"] == d["version"] for s in self.services),
            "this decision version was already served",
        )
        require(method in SERVICE_METHODS, "E_OUT_OF_ORDER", f"unknown service method {method!r}")
        _digest(document_hash, "document_hash")
        docs = str_tuple(documents)
        require(
            method != "electronic" or bool(consent_ref),
            "E_ESERVICE_NO_CONSENT",
            "electronic service needs the party's signed consent (R46)",
        )
        require(
            not d["publishable"] or bool(publication_notice),
            "E_NO_PUBLICATION_NOTICE",
            "the party must be told in writing that the penalty will be published (R50)",
        )
        sanshu_missing = sanshu_policy and d["outcome"] == "penalty" and not set(SANSHU) <= set(docs)
        late = d["version"] == 1 and is_after_deadline(d["service_due"], at, calendar)
        self.trigger_event(
            self.Served,
            timestamp=at,
            actor=actor,
            method=method,
            documents=docs,
            document_hash=document_hash,
            consent_ref=consent_ref,
            publication_notice=bool(publication_notice),
            decision_version=d["version"],
            flags=flags_of((sanshu_missing, "W_SANSHU"), (late, "V_SERVICE_OVERDUE")),
        )

    def _redact(
        self,
        served_document: Mapping[str, str],
        redaction_map: Mapping[str, str],
        content_hash_claimed: str,
        redaction_reviewer: str,
    ) -> dict[str, str]:
        """R49: published = served document minus lawful redactions, hashes bound."""
        served = self.services[-1]
        require(
            content_hash(dict(served_document)) == served["document_hash"],
            "E_REDACTION",
            "the document to publish is not the document served on the party (R49)",
        )
        require(bool(redaction_reviewer), "E_REDACTION", "the redaction map must be signed by a reviewer")
        for code_field in ("cf_xdr_shxym", "cf_cfjgdm", "cf_sjlydm"):  # R1, R2
            if code_field in served_document:
                validate_uscc(served_document[code_field])
        unknown = set(redaction_map) - set(served_document)
        require(not unknown, "E_REDACTION", f"redaction map names fields not in the document: {sorted(unknown)}")
        require(
            all(isinstance(r, str) and r.strip() for r in redaction_map.values()),
            "E_REDACTION",
            "every redaction states its lawful reason",
        )
        content = {k: v for k, v in served_document.items() if k not in redaction_map}
        exposed = sorted(NEVER_PUBLIC_FIELDS & set(content))
        require(not exposed, "E_REDACTION", f"fields that are never public: {exposed}")
        require(
            content_hash(content) == content_hash_claimed,
            "E_REDACTION",
            "content_hash does not match the redacted served document",
        )
        return content

    def publish(
        self,
        *,
        served_document: Mapping[str, str],
        redaction_map: Mapping[str, str],
        content_hash: str,
        redaction_reviewer: str,
        at: datetime,
        actor: str,
        credit_category: str | None = "general",
        period_months: int | None = None,
        restriction_months: int = 0,
        necessity_reason: str | None = None,
        low_fine_fen: int = DEFAULT_LOW_FINE_FEN,
        calendar: HolidayCalendar | None = None,
    ) -> None:
        """R48 (deadline by regime, flag when late), R49, R51 (republish after change),
        R53 (the publication period of the regime version in force: ``public_until``,
        recorded in ``inspection.publication_period_set.v1``).

        ``credit_category`` (minor / general / serious) applies to the 信用中国 regimes
        and defaults to ``general`` [D]; ``period_months`` defaults to the regime's
        maximum for the category."""
        self._begin(at, actor)
        require_order(self.decision is not None, "publish after the decision")
        d = self.decision
        assert d is not None
        require(
            d["status"] in {"in_force", "changed"},
            "E_NOT_PUBLISHABLE",
            f"a {d['status']} decision is not published",
        )
        require(
            d["publishable"],
            "E_NOT_PUBLISHABLE",
            "this decision is not published (not a penalty, or a warning under SAMR45 art. 2)",
        )
        require_order(
            any(s["decision_version"] == d["version"] for s in self.services),
            "publish the decision after serving it",
        )
        require_order(
            self.publication is None or self.publication["status"] == "withdrawn",
            "already published; use a correction",
        )
        require_order(
            self.publication is None or self.publication["decision_version"] != d["version"],
            "this decision version was published and withdrawn",
        )
        content = self._redact(served_document, redaction_map, content_hash, redaction_reviewer)
        period = compute_publication_period(
            regime=d["regime"], decided_on=legal_day(from_micros(d["decided_at"])), published_on=legal_day(at),
            penalty_kinds=tuple(d["penalty_kinds"]), fine_fen=int(d.get("fine_fen", 0)), category=credit_category,
            period_months=period_months, restriction_months=restriction_months, necessity_reason=necessity_reason,
            low_fine_fen=low_fine_fen)
        late = is_after_deadline(d["publication_due"], at, calendar)
        self.trigger_event(self.PublicationPeriodSet, timestamp=at, actor=actor, necessity_reason=necessity_reason,
                           **period.as_fields())
        self.trigger_event(
            self.Published,
            timestamp=at,
            actor=actor,
            regime=d["regime"],
            content=content,
            content_hash=content_hash,
            redaction_map=dict(redaction_map),
            redaction_map_hash=_content_hash(dict(redaction_map)),
            redaction_reviewer=redaction_reviewer,
            served_document_hash=self.services[-1]["document_hash"],
            decision_version=d["version"],
            flags=flags_of((late, "V_PUBLICATION_OVERDUE")),
        )

    def alter_decision(
        self,
        *,
        kind: str,
        reason: str,
        basis_ref: str,
        at: datetime,
        actor: str,
        calendar: HolidayCalendar,
        new_draft_hash: str | None = None,
    ) -> None:
        """R51: change, revocation, confirmed illegality or voidness.

        If the decision is published, a withdrawal is due within 3 working days.
        """
        self._begin(at)
        require_order(self.decision is not None, "there is no decision to alter")
        assert self.decision is not None
        require_order(
            self.decision["status"] in {"in_force", "changed"},
            f"the decision is already {self.decision['status']}",
        )
        require(kind in ALTERATION_KINDS, "E_OUT_OF_ORDER", f"unknown alteration {kind!r}")
        require_text(reason, "reason")
        require_text(basis_ref, "basis_ref")
        if kind == "changed":
            _digest(new_draft_hash, "new_draft_hash")
        else:
            require(new_draft_hash is None, "E_OUT_OF_ORDER", "only a change has a new draft")
        day = legal_day(at)
        published = self.publication is not None and self.publication["status"] == "published"
        withdrawal_due = deadline_or_pending(calendar, day, WITHDRAWAL_WD).as_record() if published else None
        republication_due = (
            deadline_or_pending(calendar, day, PUBLICATION_REGIMES[self.decision["regime"]]).as_record()
            if kind == "changed" and self.decision["publishable"]
            else None
        )
        self.trigger_event(
            self.DecisionAltered,
            timestamp=at,
            actor=actor,
            kind=kind,
            reason=reason,
            basis_ref=basis_ref,
            new_draft_hash=new_draft_hash,
            withdrawal_due=withdrawal_due,
            republication_due=republication_due,
        )

    def withdraw_publication(self, *, reason_text: str, at: datetime, actor: str) -> None:
        """R51: withdrawal with public reasons; flagged when after the 3-wd deadline."""
        self._begin(at)
        require_order(
            self.publication is not None and self.publication["status"] == "published",
            "nothing is published",
        )
        pending = [a for a in self.alterations if not a["withdrawn"]]
        require_order(bool(pending), "a withdrawal follows a change, revocation, illegality or voidness")
        require_text(reason_text, "reason_text")
        cause = pending[-1]
        late = is_after_deadline(cause["withdrawal_due"], at)
        self.trigger_event(
            self.PublicationWithdrawn,
            timestamp=at,
            actor=actor,
            reason_text=reason_text,
            cause_seq=cause["seq"],
            flags=flags_of((late, "V_WITHDRAWAL_OVERDUE")),
        )

    def correct_publication(
        self,
        *,
        reason: str,
        served_document: Mapping[str, str],
        redaction_map: Mapping[str, str],
        content_hash: str,
        redaction_reviewer: str,
        at: datetime,
        actor: str,
    ) -> None:
        """R52: a correction supersedes the published content by a new event."""
        self._begin(at)
        require_order(
            self.publication is not None and self.publication["status"] == "published",
            "only a published notice can be corrected",
        )
        assert self.publication is not None
        require_text(reason, "reason")
        require_order(content_hash != self.publication["content_hash"], "the correction changes nothing")
        content = self._redact(served_document, redaction_map, content_hash, redaction_reviewer)
        self.trigger_event(
            self.PublicationCorrected,
            timestamp=at,
            actor=actor,
            supersedes_seq=self.publication["seq"],
            reason=reason,
            content=content,
            content_hash=content_hash,
            redaction_map=dict(redaction_map),
            redaction_map_hash=_content_hash(dict(redaction_map)),
            redaction_reviewer=redaction_reviewer,
        )


    # ------------------------------------------------------------- tracking and closing
    def _overdue_now(
        self, at: datetime, emergency_window: timedelta, calendar: HolidayCalendar | None = None,
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []

        def due(obligation: str, record: Mapping[str, Any] | None, flag: str) -> None:
            day = due_day(record, calendar)  # a pending deadline is overdue only once its year is known
            if day is not None and legal_day(at) > day:
                found.append({"obligation": obligation, "due": iso_day(day), "flag": flag})

        us = to_micros(at)
        if self.emergency and not self.fully_approved:
            limit = self.dispatched_at + emergency_window // timedelta(microseconds=1)
            if us > limit:
                found.append({"obligation": "emergency_approval", "due": iso_day(legal_day(from_micros(limit))),
                              "flag": "V_APPROVAL_NOT_REGULARISED"})
        if self.conclusion is not None and self.notified is None:
            due("result_notice", self.conclusion["result_notice_due"], "V_RESULT_NOT_NOTIFIED")
        if self.case is not None and self.decision is None:
            due("decision", self.case["decision_due"], "V_DECISION_OVERDUE")
        d = self.decision
        if d is not None and d["status"] in {"in_force", "changed"}:
            if d["version"] == 1 and not self.services:
                due("service", d["service_due"], "V_SERVICE_OVERDUE")
            pub = self.publication
            if d["publishable"] and (pub is None or (pub["status"] == "withdrawn"
                                                     and pub["decision_version"] != d["version"])):
                due(f"publication:v{d['version']}", d["publication_due"], "V_PUBLICATION_OVERDUE")
        for a in self.alterations:
            if not a["withdrawn"]:
                due(f"withdrawal:{a['seq']}", a["withdrawal_due"], "V_WITHDRAWAL_OVERDUE")
        for pid, p in self.preservations.items():
            if not p["decided"]:
                due(f"preservation:{pid}", p["decision_due"], "V_PRESERVATION_OVERDUE")
        return [o for o in found if o["obligation"] not in self.overdue]

    def record_overdue(
        self, *, at: datetime, actor: str, emergency_window: timedelta = DEFAULT_EMERGENCY_WINDOW,
        calendar: HolidayCalendar | None = None,
    ) -> tuple[str, ...]:
        """Append the obligations whose deadline passed without the act (R9, R21, R28, R30,
        R46, R48, R51), each once, with its ``V_*`` flag; refused if nothing is newly overdue."""
        self._begin(at)
        found = self._overdue_now(at, emergency_window, calendar)
        require_order(bool(found), "nothing is newly overdue")
        flags = tuple(dict.fromkeys(o["flag"] for o in found))
        self.trigger_event(self.OverdueRecorded, timestamp=at, actor=actor, obligations=tuple(found), flags=flags)
        return flags

    def close_case(self, *, at: datetime, actor: str, execution_ref: str | None = None) -> None:
        """结案 (R24): each phase reached has at least one record; otherwise ``E_RECORD_GAP``."""
        self._begin(at, actor)
        require_order(self.case is not None or self.decision is not None, "only a case is closed")
        d = self.decision
        require(d is not None, "E_RECORD_GAP", "a case is closed after its decision (R24)")
        assert d is not None
        phases = {
            "opening": 1 if self.case is not None else 0,
            "investigation": len(self.evidence),
            "review": len(self.reviews),
            "decision": 1,
            "service": len(self.services),
            "execution": len(self.payments) + (1 if execution_ref else 0),
        }
        needed = {"decision", "service", "investigation"}
        if self.case is not None:
            needed |= {"opening"}
            if self.case["requires_legal_review"]:
                needed |= {"review"}
        if d["outcome"] == "penalty" and d["status"] in {"in_force", "changed"} and d.get("fine_fen", 0) > 0:
            needed |= {"execution"}
        gaps = [p for p in RECORD_PHASES if p in needed and phases[p] == 0]
        require(not gaps, "E_RECORD_GAP", f"no record for phases {gaps} (R24)", phases=gaps)
        self.trigger_event(self.CaseClosed, timestamp=at, actor=actor, phases=phases, execution_ref=execution_ref)


_content_hash = content_hash

__all__ = ["Inspection", "OutOfOrder"]
