"""专项检查 (special inspections, R11): necessity assessment, approval and the justice
filing receipt, each its own signed event, all before the first special dispatch.

SEED-000: assessment, approval by the principal head, filing with the justice
department. Wuxi [S]: approval by a county-level government or the next-higher
vertically managed agency. Which approver roles are accepted is configuration
(:data:`DEFAULT_APPROVER_ROLES`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.base import (
    CopyOnWrite,
    check_time_not_before,
    natural_id,
    require,
    require_digest,
    require_order,
    require_text,
)
from domain.calendar import iso_day, legal_day, to_micros
from domain.registers import SubjectState
from domain.uscc import validate_uscc

DEFAULT_APPROVER_ROLES = frozenset({"subject_head", "county_government", "superior_agency"})


class SpecialCampaign(CopyOnWrite, Aggregate):
    """One special inspection campaign (专项检查方案) of an agency."""

    class Event(Aggregate.Event):
        actor: str

    if TYPE_CHECKING:  # state set by the events' apply(); not dataclass fields
        agency_code: str
        campaign_no: str
        title: str
        assessed_at: int | None
        approved_at: int | None
        approval: dict[str, str] | None
        filed_at: int | None
        receipt_ref: str | None

    class NecessityAssessed(Event, Aggregate.Created):
        """必要性评估 (R11)."""

        TYPE: ClassVar[str] = "special.necessity_assessed.v1"
        agency_code: str
        campaign_no: str
        title: str
        assessment_hash: str
        conclusion: str

        def apply(self, agg: SpecialCampaign) -> None:
            agg.agency_code = self.agency_code
            agg.campaign_no = self.campaign_no
            agg.title = self.title
            agg.assessed_at = to_micros(self.timestamp)
            agg.approved_at = None
            agg.approval = None
            agg.filed_at = None
            agg.receipt_ref = None

    class Approved(Event):
        """Approval by a configured approver role (R11)."""

        TYPE: ClassVar[str] = "special.approved.v1"
        approver: str
        approver_role: str
        approval_ref: str

        def apply(self, agg: SpecialCampaign) -> None:
            agg.approved_at = to_micros(self.timestamp)
            agg.approval = {"approver": self.approver, "approver_role": self.approver_role,
                            "approval_ref": self.approval_ref}

    class FiledWithJustice(Event):
        """备案 with the justice department; ``receipt_ref`` is its receipt (R11)."""

        TYPE: ClassVar[str] = "special.filed_with_justice.v1"
        receipt_ref: str
        justice_office: str

        def apply(self, agg: SpecialCampaign) -> None:
            agg.filed_at = to_micros(self.timestamp)
            agg.receipt_ref = self.receipt_ref

    @staticmethod
    def id_for(agency_code: str, campaign_no: str) -> UUID:
        return natural_id("special_campaign", agency_code, campaign_no)

    @classmethod
    def assess_necessity(
        cls,
        *,
        agency_code: str,
        campaign_no: str,
        title: str,
        assessment_hash: str,
        conclusion: str,
        at: datetime,
        actor: str,
    ) -> SpecialCampaign:
        validate_uscc(agency_code)
        require_text(campaign_no, "campaign_no")
        require_text(title, "title")
        require_digest(assessment_hash, "assessment_hash")
        require(conclusion == "necessary", "E_SPECIAL_NOT_APPROVED",
                "a special inspection goes ahead only on an assessment that it is necessary (R11)")
        check_time_not_before(at, None)
        return cls._create(
            cls.NecessityAssessed,
            id=cls.id_for(agency_code, campaign_no),
            timestamp=at,
            actor=actor,
            agency_code=agency_code,
            campaign_no=campaign_no,
            title=title,
            assessment_hash=assessment_hash,
            conclusion=conclusion,
        )

    def approve(
        self,
        *,
        approver: str,
        approver_role: str,
        approval_ref: str,
        at: datetime,
        agency: SubjectState | None = None,
        allowed_roles: Iterable[str] = DEFAULT_APPROVER_ROLES,
    ) -> None:
        """Approval after the assessment; a ``subject_head`` must be the head as of ``at``."""
        check_time_not_before(at, self.modified_on)
        require_order(self.approval is None, "the campaign is already approved")
        require(approver_role in set(allowed_roles), "E_SPECIAL_NOT_APPROVED",
                f"{approver_role!r} may not approve special inspections here (R11)")
        require_text(approver, "approver")
        require_text(approval_ref, "approval_ref")
        if approver_role == "subject_head":
            require(
                agency is not None and agency.agency_code == self.agency_code and agency.head == approver,
                "E_SPECIAL_NOT_APPROVED",
                f"{approver} is not the head of {self.agency_code} on {iso_day(legal_day(at))}",
            )
        self.trigger_event(self.Approved, timestamp=at, actor=approver, approver=approver,
                           approver_role=approver_role, approval_ref=approval_ref)

    def file_with_justice(self, *, receipt_ref: str, justice_office: str, at: datetime, actor: str) -> None:
        check_time_not_before(at, self.modified_on)
        require_order(self.approval is not None, "file the campaign with justice after its approval")
        require_order(self.receipt_ref is None, "the campaign is already filed")
        require_text(receipt_ref, "receipt_ref")
        require_text(justice_office, "justice_office")
        self.trigger_event(self.FiledWithJustice, timestamp=at, actor=actor, receipt_ref=receipt_ref,
                           justice_office=justice_office)

    def check_ready(self, agency_code: str, at: datetime) -> dict[str, object]:
        """R11 at dispatch: assessed, approved and filed, all at or before ``at``."""
        us = to_micros(at)
        require(self.agency_code == agency_code, "E_SPECIAL_NOT_APPROVED",
                f"campaign {self.campaign_no} belongs to {self.agency_code}")
        missing = [
            name
            for name, t in (("necessity_assessment", self.assessed_at), ("approval", self.approved_at),
                            ("justice_filing", self.filed_at))
            if t is None or t > us
        ]
        require(not missing, "E_SPECIAL_NOT_APPROVED",
                f"special inspection lacks {missing} before the dispatch (R11)")
        assert self.approval is not None
        return {
            "campaign_ref": f"{self.agency_code}/{self.campaign_no}",
            "necessity_assessment_ref": f"{self.agency_code}/{self.campaign_no}#assessment",
            "approval_ref": self.approval["approval_ref"],
            "approver_role": self.approval["approver_role"],
            "justice_filing_receipt": self.receipt_ref,
        }
