"""Evidence procedures: electronic monitoring devices (R27) and preserved evidence
(先行登记保存, R28).

* ``MonitoringDevice`` is a register aggregate: a device's legal and technical review
  and the publication of its location are signed events, looked up *as of* the
  evidence's instant (like certificates, R5).
* ``EvidenceProcedures`` is a mixin of :class:`domain.inspection.Inspection`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.base import (
    CopyOnWrite,
    check_time_not_before,
    flags_of,
    natural_id,
    require,
    require_order,
    require_text,
    str_tuple,
)
from domain.calendar import (
    HolidayCalendar,
    deadline_or_pending,
    is_after_deadline,
    iso_day,
    legal_day,
    to_micros,
)
from domain.errors import UnknownEntity
from domain.registers import SubjectState
from domain.uscc import validate_uscc

PRESERVATION_WD = 7  # R28, APL arts. 56, 85
PRESERVATION_WARN_WD = 6  # R28: warning on day 6
PRESERVATION_OUTCOMES = frozenset({"returned", "seized", "confiscated", "transferred", "sent_for_testing"})


@dataclass(frozen=True, slots=True)
class DeviceState:
    """A monitoring device as of an instant (R27)."""

    device_id: str
    agency_code: str
    location: str
    approved: bool
    location_published: bool


def _as_of(history: tuple[tuple[int, Any], ...], us: int) -> Any:
    found: Any = None
    for t, v in history:
        if t <= us:
            found = v
    return found


class MonitoringDevice(CopyOnWrite, Aggregate):
    """An electronic technical monitoring device (电子技术监控设备, APL art. 41)."""

    class Event(Aggregate.Event):
        actor: str

    if TYPE_CHECKING:  # state set by the events' apply(); not dataclass fields
        device_id: str
        agency_code: str
        kind: str
        location: str
        review_history: tuple[tuple[int, bool], ...]
        published_history: tuple[tuple[int, str], ...]

    class Registered(Event, Aggregate.Created):
        TYPE: ClassVar[str] = "device.registered.v1"
        device_id: str
        agency_code: str
        kind: str
        location: str

        def apply(self, agg: MonitoringDevice) -> None:
            agg.device_id = self.device_id
            agg.agency_code = self.agency_code
            agg.kind = self.kind
            agg.location = self.location
            agg.review_history = ()
            agg.published_history = ()

    class Reviewed(Event):
        """Legal and technical review (法制和技术审核) of the device."""

        TYPE: ClassVar[str] = "device.reviewed.v1"
        legal_ok: bool
        technical_ok: bool
        reviewer: str
        review_ref: str

        def apply(self, agg: MonitoringDevice) -> None:
            ok = self.legal_ok and self.technical_ok
            agg.review_history = (*agg.review_history, (to_micros(self.timestamp), ok))

    class LocationPublished(Event):
        TYPE: ClassVar[str] = "device.location_published.v1"
        publication_ref: str

        def apply(self, agg: MonitoringDevice) -> None:
            agg.published_history = (*agg.published_history, (to_micros(self.timestamp), self.publication_ref))

    @staticmethod
    def id_for(device_id: str) -> UUID:
        return natural_id("device", device_id)

    @classmethod
    def register(
        cls, *, device_id: str, agency_code: str, kind: str, location: str, at: datetime, actor: str,
    ) -> MonitoringDevice:
        require_text(device_id, "device_id")
        validate_uscc(agency_code)
        require_text(kind, "kind")
        require_text(location, "location")
        check_time_not_before(at, None)
        return cls._create(cls.Registered, id=cls.id_for(device_id), timestamp=at, actor=actor, device_id=device_id,
                           agency_code=agency_code, kind=kind, location=location)

    def review(self, *, legal_ok: bool, technical_ok: bool, reviewer: str, review_ref: str, at: datetime) -> None:
        check_time_not_before(at, self.modified_on)
        require_text(reviewer, "reviewer")
        require_text(review_ref, "review_ref")
        self.trigger_event(self.Reviewed, timestamp=at, actor=reviewer, legal_ok=bool(legal_ok),
                           technical_ok=bool(technical_ok), reviewer=reviewer, review_ref=review_ref)

    def publish_location(self, *, publication_ref: str, at: datetime, actor: str) -> None:
        check_time_not_before(at, self.modified_on)
        require_text(publication_ref, "publication_ref")
        self.trigger_event(self.LocationPublished, timestamp=at, actor=actor, publication_ref=publication_ref)

    def state_as_of(self, at: datetime) -> DeviceState:
        us = to_micros(at)
        return DeviceState(
            device_id=self.device_id,
            agency_code=self.agency_code,
            location=self.location,
            approved=bool(_as_of(self.review_history, us)),
            location_published=_as_of(self.published_history, us) is not None,
        )


def check_device_evidence(device: DeviceState | None, capture_device_id: object, agencies: Iterable[str]) -> None:
    """R27 (APL art. 41(1)): the capturing device passed legal and technical review and
    its location was published, as of the evidence's instant."""
    require(device is not None, "E_DEVICE_EVIDENCE", "device evidence needs the device's register entry (R27)")
    assert device is not None
    require(device.device_id == capture_device_id, "E_DEVICE_EVIDENCE",
            f"capture.device_id {capture_device_id!r} is not device {device.device_id!r}")
    require(device.agency_code in set(agencies), "E_DEVICE_EVIDENCE",
            f"device {device.device_id} belongs to {device.agency_code}, not to an agency on this task")
    require(device.approved, "E_DEVICE_EVIDENCE",
            f"device {device.device_id} has not passed legal and technical review (R27)")
    require(device.location_published, "E_DEVICE_EVIDENCE",
            f"the location of device {device.device_id} was not published (R27)")


class EvidenceProcedures:
    """R27 record review and R28 preservation, mixed into ``Inspection``."""

    if TYPE_CHECKING:  # provided by Inspection / eventsourcing
        evidence: dict[str, dict[str, Any]]
        preservations: dict[str, dict[str, Any]]
        assignments: tuple[dict[str, Any], ...]
        EvidencePreserved: Any
        PreservationDecided: Any
        DeviceRecordReviewed: Any

        def trigger_event(self, event_class: Any, **kwargs: Any) -> None: ...
        def _begin(self, at: datetime, actor: str | None = None) -> None: ...

    def review_device_record(
        self, *, evidence_id: str, ok: bool, reviewer: str, party_notified: bool, at: datetime,
    ) -> None:
        """R27 (APL art. 41(2)–(3)): the device record is reviewed; if it is to be used,
        the party has been told and can query it and make a statement."""
        self._begin(at, reviewer)
        ev = self.evidence.get(evidence_id)
        if ev is None:
            raise UnknownEntity(f"no evidence {evidence_id!r} in this case", key=evidence_id, code="E_UNKNOWN_EVIDENCE")
        require(ev.get("device", False), "E_DEVICE_EVIDENCE", f"{evidence_id} is not device evidence")
        require_order(not ev.get("device_reviewed", False), f"{evidence_id} was already reviewed")
        require_text(reviewer, "reviewer")
        require(not ok or party_notified, "E_DEVICE_EVIDENCE",
                "device evidence is used only after the party was told and could query it (R27)")
        self.trigger_event(self.DeviceRecordReviewed, timestamp=at, actor=reviewer, evidence_id=evidence_id,
                           ok=bool(ok), reviewer=reviewer, party_notified=bool(party_notified))

    def preserve_evidence(
        self,
        *,
        preservation_id: str,
        evidence_ids: Iterable[str],
        approver: str,
        agency: SubjectState,
        at: datetime,
        actor: str,
        calendar: HolidayCalendar,
    ) -> None:
        """先行登记保存 (R28): approved by the agency head; decided within 7 working days."""
        self._begin(at, actor)
        require_text(preservation_id, "preservation_id")
        require_order(preservation_id not in self.preservations, f"preservation {preservation_id!r} exists")
        ids = str_tuple(evidence_ids)
        require(bool(ids), "E_OUT_OF_ORDER", "a preservation lists the evidence it preserves")
        for eid in ids:
            if eid not in self.evidence:
                raise UnknownEntity(f"no evidence {eid!r} in this case", key=eid, code="E_UNKNOWN_EVIDENCE")
        require(agency.agency_code in {a["agency_code"] for a in self.assignments}, "E_PRESERVATION_NOT_APPROVED",
                f"{agency.agency_code} is not on this task")
        require(agency.head is not None and agency.head == approver, "E_PRESERVATION_NOT_APPROVED",
                f"{approver} is not the head of {agency.agency_code} on {iso_day(legal_day(at))} (R28)")
        day = legal_day(at)
        due = deadline_or_pending(calendar, day, PRESERVATION_WD)
        warn = deadline_or_pending(calendar, day, PRESERVATION_WARN_WD)
        self.trigger_event(self.EvidencePreserved, timestamp=at, actor=actor, preservation_id=preservation_id,
                           evidence_ids=ids, approver=approver, approver_role="agency_head",
                           decision_due=due.as_record(),
                           warn_on=iso_day(warn.due) if warn.due else None)

    def decide_preservation(
        self, *, preservation_id: str, outcome: str, reason: str, at: datetime, actor: str,
        calendar: HolidayCalendar | None = None,
    ) -> None:
        """R28: the handling decision; after the 7th working day it is flagged."""
        self._begin(at, actor)
        p = self.preservations.get(preservation_id)
        require_order(p is not None and not p["decided"], f"no undecided preservation {preservation_id!r}")
        assert p is not None
        require(outcome in PRESERVATION_OUTCOMES, "E_OUT_OF_ORDER",
                f"outcome must be one of {sorted(PRESERVATION_OUTCOMES)}")
        require_text(reason, "reason")
        late = is_after_deadline(p["decision_due"], at, calendar)
        self.trigger_event(self.PreservationDecided, timestamp=at, actor=actor, preservation_id=preservation_id,
                           outcome=outcome, reason=reason, flags=flags_of((late, "V_PRESERVATION_OVERDUE")))
