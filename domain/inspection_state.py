"""What the inspection's procedure mixins may rely on: its state and its event classes.

``Inspection`` (``domain.inspection``) is assembled from one mixin per procedure
(``domain.tasking``, ``domain.on_site``, ``domain.decision``, ``domain.disclosure``,
``domain.closing`` and the part-2 mixins). Each mixin subclasses ``InspectionState`` so that
mypy knows the state the events' ``apply()`` sets and the commands the other mixins provide;
at run time the class is empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from uuid import UUID

    from domain.registers import CertState


class InspectionState:
    """Type declarations only (provided by ``Inspection``, its mixins and eventsourcing)."""

    if TYPE_CHECKING:
        id: UUID
        version: int
        modified_on: datetime
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
        Dispatched: Any
        DispatchedWithSource: Any
        Approved: Any
        ModeChanged: Any
        TeamChanged: Any
        Cancelled: Any
        Arrived: Any
        TeamArrived: Any
        CertificateShown: Any
        EvidenceLogged: Any
        RecordSigned: Any
        Concluded: Any
        ResultNotified: Any
        FeedbackReceived: Any
        CaseFiled: Any
        LegalReviewGiven: Any
        EducationRecorded: Any
        Decided: Any
        Served: Any
        Published: Any
        DecisionAltered: Any
        DecisionChangedWithEvidence: Any
        PublicationWithdrawn: Any
        PublicationCorrected: Any
        ViolationRecorded: Any
        PenaltyNoticeServed: Any
        StatementHeard: Any
        RightsWaived: Any
        HearingRequested: Any
        HearingScheduled: Any
        HearingHeld: Any
        CollectiveDiscussionHeld: Any
        DecisionExtensionApproved: Any
        DecisionDocumentIssued: Any
        SimpleDecisionFiled: Any
        FinePaid: Any
        RecusalRequested: Any
        RecusalDecided: Any
        EvidencePreserved: Any
        PreservationDecided: Any
        DeviceRecordReviewed: Any
        PublicationPeriodSet: Any
        PublicationExpired: Any
        CreditRepairApproved: Any
        OverdueRecorded: Any
        CaseClosed: Any

        @property
        def team(self) -> dict[str, dict[str, Any]]: ...
        @property
        def person_ids(self) -> frozenset[str]: ...
        @property
        def fully_approved(self) -> bool: ...
        @property
        def recused(self) -> frozenset[str]: ...

        @staticmethod
        def id_for(lead_agency: str, task_no: str) -> UUID: ...
        @classmethod
        def _create(cls, event_class: Any, **kwargs: Any) -> Any: ...

        def trigger_event(self, event_class: Any, **kwargs: Any) -> None: ...
        def _begin(self, at: datetime, actor: str | None = None) -> None: ...
        def _require_not_recused(self, *persons: str | None) -> None: ...
        def _require_approved(self) -> None: ...
        def _check_team(
            self, certs: Sequence[CertState], at: datetime, *, need_shown: bool,
        ) -> tuple[str, ...]: ...
        def _violation_record(
            self,
            *,
            fingerprint: str,
            description_hash: str,
            violation_end_on: str,
            discovered_on: str,
            harm_kind: str,
            continuing: bool,
            at: datetime,
        ) -> dict[str, Any]: ...
        def _check_penalty_procedure(self, **kwargs: Any) -> Any: ...
