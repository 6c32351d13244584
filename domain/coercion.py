"""Coercive measures: sealing (查封) and seizure (扣押) (R3, R19, R25, R56, R57).

One ``CoerciveMeasure`` stream per measure, keyed by (inspection, measure number).
Taking a measure is checked against the inspection it belongs to (on site, team
certified and certificates shown, R5–R7) and the acting subject as of the instant
(never an entrusted organisation, ACL art. 17).

* R56 (ACL arts. 18, 19): prior approval by the head, or in an emergency approval
  within 24 hours afterwards; ≥2 officers; the party notified to attend; reasons,
  basis, rights and remedies stated; the party's statement heard; the on-site record
  signed by the party (or the refusal noted) or, if absent, by a witness.
* R57 (ACL arts. 24, 25): decision and inventory delivered on site; a term of at most
  30 days, extended at most once by at most 30 days with the head's approval and a
  written notice; stated testing periods do not count.
* R25 (国办发〔2018〕118号): continuous audio-video from the start to the completion,
  each gap longer than the tolerance explained by a signed interruption.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.base import (
    CopyOnWrite,
    check_time_not_before,
    flags_of,
    is_sha256_hex,
    natural_id,
    require,
    require_digest,
    require_order,
    require_text,
)
from domain.calendar import (
    HolidayCalendar,
    deadline_or_pending,
    due_day,
    from_micros,
    is_after_deadline,
    iso_day,
    legal_day,
    parse_day,
    require_due,
    to_micros,
)
from domain.errors import RuleViolation, UsageError
from domain.reference import AV_POLICY, ReferenceList
from domain.registers import CertState, SubjectState

if TYPE_CHECKING:
    from domain.inspection import Inspection

MEASURE_KINDS = frozenset({"seal", "seize"})  # 查封, 扣押
TERM_DAYS = 30  # R57, ACL art. 25
MAX_EXTENSION_DAYS = 30
MAX_EXTENSIONS = 1
EMERGENCY_APPROVAL_WINDOW = timedelta(hours=24)  # R56, ACL art. 19
#: R25: the longest unexplained gap between audio-video segments (configuration).
DEFAULT_AV_TOLERANCE = timedelta(seconds=5)
END_OUTCOMES = frozenset({"lifted", "disposal_decided"})
_US = timedelta(microseconds=1)


def av_tolerance_in_force(
    agency_policy: ReferenceList | None, province_policy: ReferenceList | None, at: datetime,
) -> tuple[timedelta, dict[str, Any]]:
    """R25, R56 (issue 18): the allowed unexplained gap as of ``at`` — the agency's signed
    ``av_policy`` list in force, else its province's, else ``DEFAULT_AV_TOLERANCE`` — and the record
    the coverage check stores with it, so that replay reproduces the judgement."""
    for lst in (agency_policy, province_policy):
        version = lst.version_in_force(at) if lst is not None and lst.kind == AV_POLICY else None
        if version is not None:
            seconds = int(version.entries[0]["max_gap_seconds"])
            return timedelta(seconds=seconds), {"max_gap_us": seconds * 1_000_000, "source": {
                **version.ref(), "owner": version.owner, "scope": version.scope}}
    return DEFAULT_AV_TOLERANCE, {"max_gap_us": DEFAULT_AV_TOLERANCE // _US, "source": None}


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def av_gaps(
    start_us: int,
    end_us: int,
    segments: Sequence[Mapping[str, Any]],
    interruptions: Sequence[Mapping[str, Any]],
    tolerance_us: int,
) -> list[tuple[int, int]]:
    """R25: the gaps in ``[start_us, end_us]`` not covered by a segment, longer than the
    tolerance and not inside a signed, reasoned interruption.

    Segments are ``{"start_us", "end_us", "device_id", "sha256"}``; interruptions
    ``{"start_us", "end_us", "reason", "signed_by"}``. Malformed entries raise
    ``E_AV_MISSING``."""
    spans: list[tuple[int, int]] = []
    for seg in segments:
        ok = (
            _int(seg.get("start_us")) and _int(seg.get("end_us")) and seg["start_us"] < seg["end_us"]
            and bool(seg.get("device_id")) and is_sha256_hex(seg.get("sha256"))
        )
        require(ok, "E_AV_MISSING", f"malformed audio-video segment {dict(seg)!r} (R25)")
        spans.append((int(seg["start_us"]), int(seg["end_us"])))
    explained: list[tuple[int, int]] = []
    for gap in interruptions:
        ok = (
            _int(gap.get("start_us")) and _int(gap.get("end_us")) and gap["start_us"] <= gap["end_us"]
            and bool(str(gap.get("reason", "")).strip()) and bool(str(gap.get("signed_by", "")).strip())
        )
        require(ok, "E_AV_MISSING", f"an interruption needs start, end, a reason and a signature: {dict(gap)!r}")
        explained.append((int(gap["start_us"]), int(gap["end_us"])))
    holes: list[tuple[int, int]] = []
    cursor = start_us
    for s, e in sorted(spans):
        if s > cursor:
            holes.append((cursor, min(s, end_us)))
        cursor = max(cursor, e)
        if cursor >= end_us:
            break
    if cursor < end_us:
        holes.append((cursor, end_us))
    return [
        (s, e)
        for s, e in holes
        if e - s > tolerance_us and not any(a <= s and e <= b for a, b in explained)
    ]


class CoerciveMeasure(CopyOnWrite, Aggregate):
    """A sealing or seizure (行政强制措施) and its term."""

    class Event(Aggregate.Event):
        actor: str

    if TYPE_CHECKING:  # state set by the events' apply(); not dataclass fields
        inspection_id: str
        measure_no: str
        kind: str
        agency_code: str
        emergency: bool
        approved: bool
        taken_at: int
        term_due: dict[str, Any]
        extensions: int
        ended: bool
        overdue: tuple[str, ...]

    class Taken(Event, Aggregate.Created):
        """查封/扣押 taken with its statutory steps, documents and audio-video (R25, R56, R57)."""

        TYPE: ClassVar[str] = "coercive.measure_taken.v1"
        inspection_id: str
        measure_no: str
        kind: str
        agency_code: str
        officers: tuple[str, ...]
        items: tuple[dict[str, Any], ...]
        legal_basis: str
        decision_doc_hash: str
        inventory_hash: str
        documents_delivered: bool
        party_present: bool
        party_notified: bool
        rights_stated: bool
        statement_hash: str | None
        record_hash: str
        party_signature: str | None
        refusal_note: str | None
        witness_signature: str | None
        approval: dict[str, str] | None
        emergency: bool
        emergency_approval_due: int | None
        started_at: int
        av_segments: tuple[dict[str, Any], ...]
        av_interruptions: tuple[dict[str, Any], ...]
        term_due: dict[str, Any]

        def apply(self, agg: CoerciveMeasure) -> None:
            agg.inspection_id = self.inspection_id
            agg.measure_no = self.measure_no
            agg.kind = self.kind
            agg.agency_code = self.agency_code
            agg.emergency = self.emergency
            agg.approved = self.approval is not None
            agg.taken_at = to_micros(self.timestamp)
            agg.term_due = dict(self.term_due)
            agg.extensions = 0
            agg.ended = False
            agg.overdue = ()

    class TakenWithTolerance(Taken):
        """The measure taken, with the audio-video tolerance its coverage check used and where it
        came from (R25, R56; issue 18). Supersedes ``measure_taken.v1``."""

        TYPE: ClassVar[str] = "coercive.measure_taken.v2"
        av_tolerance: dict[str, Any]

    class Approved(Event):
        """The head's approval after an emergency measure (R56, ACL art. 19)."""

        TYPE: ClassVar[str] = "coercive.measure_approved.v1"
        approver: str
        approver_role: str
        retroactive: bool
        flags: tuple[str, ...]

        def apply(self, agg: CoerciveMeasure) -> None:
            agg.approved = True

    class Extended(Event):
        """The one extension of the term (R57, ACL art. 25)."""

        TYPE: ClassVar[str] = "coercive.measure_extended.v1"
        days: int
        approver: str
        reason: str
        notice_ref: str
        previous_due: dict[str, Any]
        term_due: dict[str, Any]

        def apply(self, agg: CoerciveMeasure) -> None:
            agg.term_due = dict(self.term_due)
            agg.extensions += 1

    class TestingPeriodNoted(Event):
        """A stated testing period (检测、检验、检疫、鉴定), notified in writing; not counted (R57)."""

        TYPE: ClassVar[str] = "coercive.testing_period_noted.v1"
        start_on: str
        end_on: str
        days: int
        notice_ref: str
        term_due: dict[str, Any]

        def apply(self, agg: CoerciveMeasure) -> None:
            agg.term_due = dict(self.term_due)

    class Ended(Event):
        """解除 or a disposal decision; flagged when after the term (R57)."""

        TYPE: ClassVar[str] = "coercive.measure_ended.v1"
        outcome: str
        reason: str
        decision_ref: str
        flags: tuple[str, ...]

        def apply(self, agg: CoerciveMeasure) -> None:
            agg.ended = True

    class OverdueRecorded(Event):
        """The term ran out, or the emergency approval did not come within 24 h."""

        TYPE: ClassVar[str] = "coercive.overdue_recorded.v1"
        obligations: tuple[dict[str, Any], ...]
        flags: tuple[str, ...]

        def apply(self, agg: CoerciveMeasure) -> None:
            agg.overdue = (*agg.overdue, *(o["obligation"] for o in self.obligations))

    @staticmethod
    def id_for(inspection_id: UUID | str, measure_no: str) -> UUID:
        return natural_id("coercive_measure", str(inspection_id), measure_no)

    @classmethod
    def take(
        cls,
        *,
        inspection: Inspection,
        agency: SubjectState,
        measure_no: str,
        kind: str,
        certs: Sequence[CertState],
        items: Iterable[Mapping[str, Any]],
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
        calendar: HolidayCalendar,
        av_tolerance: timedelta = DEFAULT_AV_TOLERANCE,
        av_tolerance_record: Mapping[str, Any] | None = None,
    ) -> CoerciveMeasure:
        """Take the measure at ``at`` (its completion), started at ``started_at``."""
        require_text(measure_no, "measure_no")
        require(kind in MEASURE_KINDS, "E_COERCIVE_PROCEDURE", f"kind must be one of {sorted(MEASURE_KINDS)}")
        # R3 / ACL art. 17: coercive powers are never entrusted.
        require(agency.kind != "entrusted_organisation", "E_COERCION_NOT_DELEGABLE",
                f"{agency.agency_code} is an entrusted organisation: coercive measures cannot be entrusted (R3)")
        require(agency.status == "active", "E_SUBJECT_NOT_QUALIFIED", f"{agency.agency_code} is {agency.status}")
        require(agency.agency_code in {a["agency_code"] for a in inspection.assignments}, "E_NO_DISPATCH",
                f"{agency.agency_code} is not on inspection {inspection.task_no}")
        # The inspection: on site, checked in, approved (or emergency), not over.
        check_time_not_before(at, inspection.modified_on)
        require_order(not inspection.cancelled and inspection.conclusion is None,
                      "a coercive measure is taken during an open inspection")
        require(inspection.mode == "on_site" and inspection.arrival is not None, "E_NO_CHECKIN",
                "a coercive measure is taken on site after check-in (R17)")
        # R5–R7, R8: two certified officers of the task who showed their certificates.
        officers = inspection.check_acting_team(certs, at)
        # R56: prior approval by the head, or an emergency approved within 24 h.
        approval = None
        if approver is not None:
            require(agency.head is not None and agency.head == approver, "E_COERCIVE_PROCEDURE",
                    f"{approver} is not the head of {agency.agency_code} on {iso_day(legal_day(at))} (R56)")
            approval = {"approver": approver, "approver_role": "agency_head"}
        else:
            require(bool(emergency), "E_COERCIVE_PROCEDURE",
                    "a coercive measure needs the head's prior approval, or an emergency (R56)")
        missing = [name for name, ok in (("party_notified", party_notified), ("rights_stated", rights_stated))
                   if not ok]
        require(not missing, "E_COERCIVE_PROCEDURE", f"statutory steps missing: {missing} (R56)")
        if party_present:
            require(statement_hash is not None, "E_COERCIVE_PROCEDURE",
                    "the party's statement and defence are heard (R56)")
            require(bool(party_signature) or bool(refusal_note), "E_COERCIVE_PROCEDURE",
                    "the record is signed by the party or the refusal noted (R19, R56)")
        else:
            require(bool(witness_signature), "E_COERCIVE_PROCEDURE",
                    "with the party absent a witness signs the record (R19, R56)")
        if statement_hash is not None:
            require_digest(statement_hash, "statement_hash")
        require_digest(record_hash, "record_hash")
        require_text(legal_basis, "legal_basis")
        # R57: decision and inventory delivered on site.
        rows = tuple(dict(i) for i in items)
        require(bool(rows) and all(str(r.get("name", "")).strip() for r in rows), "E_SEIZURE_DOCS",
                "the inventory lists each item taken (R57)")
        require(
            bool(documents_delivered) and is_sha256_hex(decision_doc_hash) and is_sha256_hex(inventory_hash),
            "E_SEIZURE_DOCS",
            "the decision and the inventory are delivered on site (R57, ACL art. 24)",
        )
        # R25: continuous audio-video from start to completion.
        start_us, end_us = to_micros(started_at), to_micros(at)
        require(start_us < end_us, "E_AV_MISSING", "the measure starts before it is completed")
        gaps = av_gaps(start_us, end_us, av_segments, av_interruptions, av_tolerance // _US)
        if gaps:
            raise RuleViolation(
                "E_AV_MISSING",
                f"{len(gaps)} unexplained gap(s) in the audio-video record, first"
                f" {from_micros(gaps[0][0]).isoformat()}..{from_micros(gaps[0][1]).isoformat()} (R25)",
                gaps=[list(g) for g in gaps],
            )
        term = deadline_or_pending(calendar, legal_day(at), TERM_DAYS, "natural_days")
        tolerance = dict(av_tolerance_record) if av_tolerance_record is not None else {
            "max_gap_us": av_tolerance // _US, "source": None}
        require(tolerance.get("max_gap_us") == av_tolerance // _US, "E_AV_MISSING",
                "the recorded tolerance must be the one the check used")
        return cls._create(
            cls.TakenWithTolerance,
            id=cls.id_for(inspection.id, measure_no),
            timestamp=at,
            actor=actor,
            inspection_id=str(inspection.id),
            measure_no=measure_no,
            kind=kind,
            agency_code=agency.agency_code,
            officers=officers,
            items=rows,
            legal_basis=legal_basis,
            decision_doc_hash=decision_doc_hash,
            inventory_hash=inventory_hash,
            documents_delivered=True,
            party_present=bool(party_present),
            party_notified=True,
            rights_stated=True,
            statement_hash=statement_hash,
            record_hash=record_hash,
            party_signature=party_signature,
            refusal_note=refusal_note,
            witness_signature=witness_signature,
            approval=approval,
            emergency=bool(emergency),
            emergency_approval_due=None if approval else end_us + EMERGENCY_APPROVAL_WINDOW // _US,
            started_at=start_us,
            av_segments=tuple(dict(s) for s in av_segments),
            av_interruptions=tuple(dict(i) for i in av_interruptions),
            term_due=term.as_record(),
            av_tolerance=tolerance,
        )

    def _begin(self, at: datetime) -> None:
        check_time_not_before(at, self.modified_on)
        require_order(not self.ended, f"measure {self.measure_no} has ended")

    def _head(self, agency: SubjectState, approver: str, at: datetime) -> None:
        require(agency.agency_code == self.agency_code and agency.head is not None and agency.head == approver,
                "E_COERCIVE_PROCEDURE",
                f"{approver} is not the head of {self.agency_code} on {iso_day(legal_day(at))} (R56, R57)")

    def approve(self, *, agency: SubjectState, approver: str, at: datetime) -> None:
        """R56: the emergency measure approved afterwards; late after 24 h."""
        self._begin(at)
        require_order(self.emergency and not self.approved, "no emergency measure awaiting approval")
        self._head(agency, approver, at)
        late = to_micros(at) - self.taken_at > EMERGENCY_APPROVAL_WINDOW // _US
        self.trigger_event(self.Approved, timestamp=at, actor=approver, approver=approver,
                           approver_role="agency_head", retroactive=True,
                           flags=flags_of((late, "V_EMERGENCY_NOT_REGULARISED")))

    def extend(
        self,
        *,
        agency: SubjectState,
        approver: str,
        days: int,
        reason: str,
        notice_ref: str,
        at: datetime,
        calendar: HolidayCalendar,
    ) -> None:
        """R57: one extension of at most 30 days, approved by the head before the term
        ends, notified to the party in writing; a second extension is refused."""
        self._begin(at)
        require(self.extensions < MAX_EXTENSIONS, "E_EXTENSION_LIMIT",
                f"measure {self.measure_no} was already extended once (R57)")
        require(_int(days) and 1 <= days <= MAX_EXTENSION_DAYS, "E_EXTENSION_LIMIT",
                f"an extension is 1..{MAX_EXTENSION_DAYS} days, not {days!r} (R57)")
        term_end = require_due(self.term_due, calendar)
        require(legal_day(at) <= term_end, "E_EXTENSION_LIMIT",
                f"the term ended on {iso_day(term_end)}; it can no longer be extended (R57)")
        self._head(agency, approver, at)
        require_text(reason, "reason")
        require(bool(str(notice_ref).strip()), "E_COERCIVE_PROCEDURE",
                "the extension is notified to the party in writing (R57)")
        new_due = deadline_or_pending(calendar, term_end, days, "natural_days")
        self.trigger_event(self.Extended, timestamp=at, actor=approver, days=days, approver=approver, reason=reason,
                           notice_ref=notice_ref, previous_due=dict(self.term_due), term_due=new_due.as_record())

    def note_testing_period(
        self, *, start_on: str, end_on: str, notice_ref: str, at: datetime, actor: str, calendar: HolidayCalendar,
    ) -> None:
        """R57: a stated testing period, notified in writing, is not counted in the term."""
        self._begin(at)
        term_end = require_due(self.term_due, calendar)
        require(legal_day(at) <= term_end, "E_EXTENSION_LIMIT", f"the term ended on {iso_day(term_end)}")
        require(bool(str(notice_ref).strip()), "E_COERCIVE_PROCEDURE",
                "the testing period is stated to the party in writing (R57)")
        try:
            s, e = parse_day(start_on), parse_day(end_on)
        except (TypeError, ValueError):
            raise UsageError("testing period dates must be YYYY-MM-DD") from None
        require(s <= e, "E_OUT_OF_ORDER", "the testing period ends after it starts")
        days = (e - s).days + 1
        new_due = deadline_or_pending(calendar, term_end, days, "natural_days")
        self.trigger_event(self.TestingPeriodNoted, timestamp=at, actor=actor, start_on=iso_day(s), end_on=iso_day(e),
                           days=days, notice_ref=notice_ref, term_due=new_due.as_record())

    def end(
        self, *, outcome: str, reason: str, decision_ref: str, at: datetime, actor: str,
        calendar: HolidayCalendar | None = None,
    ) -> None:
        """解除 or disposal; flagged ``V_SEIZURE_OVERDUE`` when after the term (R57)."""
        self._begin(at)
        require(outcome in END_OUTCOMES, "E_OUT_OF_ORDER", f"outcome must be one of {sorted(END_OUTCOMES)}")
        require_text(reason, "reason")
        require_text(decision_ref, "decision_ref")
        late = is_after_deadline(self.term_due, at, calendar)
        self.trigger_event(self.Ended, timestamp=at, actor=actor, outcome=outcome, reason=reason,
                           decision_ref=decision_ref, flags=flags_of((late, "V_SEIZURE_OVERDUE")))

    def record_overdue(
        self, *, at: datetime, actor: str, calendar: HolidayCalendar | None = None,
    ) -> tuple[str, ...]:
        """R56/R57 tracking: the term ran out with the measure open, or no approval came
        within 24 h of an emergency measure; each recorded once."""
        self._begin(at)
        found: list[dict[str, Any]] = []
        term_end = due_day(self.term_due, calendar)
        if term_end is not None and legal_day(at) > term_end:
            found.append({"obligation": "term", "due": iso_day(term_end), "flag": "V_SEIZURE_OVERDUE"})
        if self.emergency and not self.approved and to_micros(at) - self.taken_at > EMERGENCY_APPROVAL_WINDOW // _US:
            due = iso_day(legal_day(from_micros(self.taken_at + EMERGENCY_APPROVAL_WINDOW // _US)))
            found.append({"obligation": "emergency_approval", "due": due, "flag": "V_EMERGENCY_NOT_REGULARISED"})
        found = [o for o in found if o["obligation"] not in self.overdue]
        require_order(bool(found), "nothing is newly overdue")
        flags = tuple(o["flag"] for o in found)
        self.trigger_event(self.OverdueRecorded, timestamp=at, actor=actor, obligations=tuple(found), flags=flags)
        return flags
