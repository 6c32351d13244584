"""The penalty procedure (APL chapters V–VI): R30–R35, R39, R43, R44, R47, plus the
no-double-fine register (R32).

``PenaltyProcedure`` is a mixin of :class:`domain.inspection.Inspection`: its commands
check the rules and trigger the ``Inspection`` events declared there; the event
``apply`` bodies only copy data.  The numbers that the law leaves to provinces or
sector rules are configuration with the defaults below ([U] where unverified).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.base import (
    CopyOnWrite,
    add_months,
    content_hash,
    flags_of,
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
    from_micros,
    is_after_deadline,
    iso_day,
    legal_day,
    natural_day_deadline,
    parse_day,
    require_due,
    working_day_deadline,
)
from domain.errors import RuleViolation, UsageError
from domain.registers import SubjectState
from domain.uscc import validate_uscc

#: APL art. 9 penalty categories.
PENALTY_KINDS = frozenset(
    {
        "警告", "通报批评", "罚款", "没收违法所得", "没收非法财物", "暂扣许可证件", "降低资质等级",
        "吊销许可证件", "限制开展生产经营活动", "责令停产停业", "责令关闭", "限制从业", "行政拘留", "其他",
    },
)
#: R34 [D]: rank of each category, in the order of APL art. 9 (heavier = higher).
KIND_RANK: dict[str, int] = {
    "警告": 1, "通报批评": 1, "罚款": 2, "没收违法所得": 2, "没收非法财物": 2, "其他": 2,
    "暂扣许可证件": 3, "降低资质等级": 3, "限制开展生产经营活动": 3,
    "吊销许可证件": 4, "责令停产停业": 4, "责令关闭": 4, "限制从业": 4, "行政拘留": 5,
}
#: R35 (APL art. 63): categories that always carry the hearing right.
HEARING_KINDS = frozenset(
    {"降低资质等级", "吊销许可证件", "责令停产停业", "责令关闭", "限制从业", "限制开展生产经营活动"},
)
#: R35: "较大数额" fines and confiscations, in fen, by party kind.  Provincial and sector
#: configuration [U: SAMR 听证办法 values 1万 / 10万 元 assumed].
DEFAULT_HEARING_THRESHOLDS: dict[str, int] = {"natural_person": 1_000_000, "organisation": 10_000_000}
PARTY_KINDS = frozenset({"natural_person", "organisation"})
#: R44 (APL art. 51): on-the-spot limits in fen.
SIMPLE_FINE_LIMITS: dict[str, int] = {"natural_person": 20_000, "organisation": 300_000}
SIMPLE_KINDS = frozenset({"警告", "罚款"})
PROCEDURES = frozenset({"normal", "simple"})
#: R31 (APL art. 36): years after which an undiscovered violation is time-barred.
LIMITATION_YEARS: dict[str, int] = {"general": 2, "life_health_harm": 5, "financial_safety_harm": 5}
#: R33: the statement/defence period in working days [U: APL sets none; SAMR uses 5].
DEFAULT_STATEMENT_WD = 5
HEARING_REQUEST_WD = 5  # R35, APL art. 64(1)
HEARING_NOTICE_WD = 7  # R35, APL art. 64(2)
#: R30: one extension, at most this many natural days [U: sector rules; SAMR uses 30].
DEFAULT_MAX_EXTENSION_DAYS = 30
MAX_EXTENSIONS = 1
#: R43 (APL art. 59): the items a penalty decision document states.
DECISION_DOCUMENT_ITEMS = (
    "party",  # name and address
    "facts_and_evidence",
    "penalty_and_basis",
    "performance",  # manner and deadline of performance
    "remedy",  # channels and deadlines of review (60 days) and litigation (6 months)
    "agency_and_date",
)
_REVIEW_60 = ("60日", "六十日", "60天", "六十天")
_LITIGATION_6M = ("6个月", "六个月")
PAYMENT_DAYS = 15  # R47, APL art. 67 (natural days from receipt)
SURCHARGE_PERCENT_PER_DAY = 3  # R47, APL art. 72
WAIVABLE_RIGHTS = frozenset({"statement", "hearing"})
STATEMENT_KINDS = frozenset({"statement", "defence"})


# ------------------------------------------------------------------ pure rules


def in_hearing_list(
    kinds: Iterable[str],
    fine_fen: int,
    confiscation_fen: int,
    party_kind: str,
    thresholds: Mapping[str, int] = DEFAULT_HEARING_THRESHOLDS,
) -> bool:
    """R35: the proposed penalty carries the hearing right (APL art. 63)."""
    kinds = set(kinds)
    limit = thresholds[party_kind]
    return bool(kinds & HEARING_KINDS) or fine_fen >= limit or confiscation_fen >= limit


def is_heavier(
    final_kinds: Iterable[str],
    final_fine: int,
    final_confiscation: int,
    proposed_kinds: Iterable[str],
    proposed_fine: int,
    proposed_confiscation: int,
) -> bool:
    """R34 [D]: the final penalty adds a category at least as heavy as the heaviest
    proposed one, or raises a proposed fine or confiscation amount."""
    final, proposed = set(final_kinds), set(proposed_kinds)
    top = max((KIND_RANK[k] for k in proposed), default=0)
    if any(KIND_RANK[k] >= top for k in final - proposed):
        return True
    if "罚款" in proposed and "罚款" in final and final_fine > proposed_fine:
        return True
    confiscations = {"没收违法所得", "没收非法财物"}
    return bool(proposed & final & confiscations) and final_confiscation > proposed_confiscation


def time_bar(end_on: date, harm_kind: str) -> date:
    """R31: the last day on which the violation may still be discovered."""
    return add_months(end_on, 12 * LIMITATION_YEARS[harm_kind])


def late_surcharge(fine_fen: int, days_late: int) -> int:
    """R47 (APL arts. 72, 73): 3 % of the fine per day late, never above the fine."""
    return min(fine_fen, fine_fen * SURCHARGE_PERCENT_PER_DAY * max(0, days_late) // 100)


def check_decision_document(document: Mapping[str, str] | None, seal_ref: str | None) -> dict[str, str]:
    """R43: the six items of APL art. 59 and the seal, else ``E_DECISION_INCOMPLETE``."""
    require(document is not None, "E_DECISION_INCOMPLETE", "a penalty decision needs its document (R43)")
    assert document is not None
    missing = [k for k in DECISION_DOCUMENT_ITEMS if not str(document.get(k, "")).strip()]
    require(not missing, "E_DECISION_INCOMPLETE", f"the decision document lacks {missing} (R43)")
    remedy = str(document["remedy"])
    require(
        any(s in remedy for s in _REVIEW_60) and any(s in remedy for s in _LITIGATION_6M),
        "E_DECISION_INCOMPLETE",
        "the remedy text states review within 60 days and litigation within 6 months (R43)",
    )
    require(bool(seal_ref and str(seal_ref).strip()), "E_DECISION_INCOMPLETE",
            "the decision document bears the agency seal (R43)")
    for k, v in document.items():
        if not isinstance(v, str):
            raise UsageError(f"decision document item {k!r} must be text")
    return dict(document)


def _amount(value: object, what: str, code: str = "E_DECISION_INCOMPLETE") -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RuleViolation(code, f"{what} must be a non-negative integer (fen)")
    return value


# ------------------------------------------------------------------ R32 register


class FineRegister(CopyOnWrite, Aggregate):
    """Fines imposed for one violation of one party, across agencies (R32, APL art. 29).

    Keyed by (USCC, violation fingerprint) and saved atomically with the decision, so
    two agencies cannot both fine the same violation even concurrently.
    """

    class Event(Aggregate.Event):
        actor: str

    if TYPE_CHECKING:  # state set by the events' apply(); not dataclass fields
        uscc: str
        fingerprint: str
        fines: dict[str, dict[str, Any]]

    class Opened(Event, Aggregate.Created):
        TYPE: ClassVar[str] = "fine_register.opened.v1"
        uscc: str
        fingerprint: str

        def apply(self, agg: FineRegister) -> None:
            agg.uscc = self.uscc
            agg.fingerprint = self.fingerprint
            agg.fines = {}

    class FineRecorded(Event):
        TYPE: ClassVar[str] = "fine_register.fine_recorded.v1"
        inspection_id: str
        decision_no: str
        agency_code: str
        fine_fen: int

        def apply(self, agg: FineRegister) -> None:
            agg.fines = {**agg.fines, self.inspection_id: {"decision_no": self.decision_no,
                                                           "agency_code": self.agency_code,
                                                           "fine_fen": self.fine_fen}}

    class FineReleased(Event):
        """The decision was revoked, confirmed illegal or void: the fine no longer stands."""

        TYPE: ClassVar[str] = "fine_register.fine_released.v1"
        inspection_id: str
        reason: str

        def apply(self, agg: FineRegister) -> None:
            agg.fines = {k: v for k, v in agg.fines.items() if k != self.inspection_id}

    @staticmethod
    def id_for(uscc: str, fingerprint: str) -> UUID:
        return natural_id("fine_register", uscc, fingerprint)

    @classmethod
    def open(cls, *, uscc: str, fingerprint: str, at: datetime, actor: str) -> FineRegister:
        validate_uscc(uscc)
        require_digest(fingerprint, "violation fingerprint")
        return cls._create(cls.Opened, id=cls.id_for(uscc, fingerprint), timestamp=at, actor=actor, uscc=uscc,
                           fingerprint=fingerprint)

    def check_no_other_fine(self, inspection_id: str) -> None:
        """R32: no standing fine for this violation from another decision."""
        others = {k: v for k, v in self.fines.items() if k != inspection_id}
        if others:
            first = next(iter(others.values()))
            raise RuleViolation(
                "E_DOUBLE_FINE",
                f"this violation was already fined by {first['agency_code']} ({first['decision_no']}) (R32)",
                decision_no=first["decision_no"],
            )

    def record_fine(
        self, *, inspection_id: str, decision_no: str, agency_code: str, fine_fen: int, at: datetime, actor: str,
    ) -> None:
        self.check_no_other_fine(inspection_id)
        require_order(inspection_id not in self.fines, "this decision's fine is already recorded")
        self.trigger_event(self.FineRecorded, timestamp=at, actor=actor, inspection_id=inspection_id,
                           decision_no=decision_no, agency_code=agency_code, fine_fen=fine_fen)

    def release(self, *, inspection_id: str, reason: str, at: datetime, actor: str) -> None:
        require_order(inspection_id in self.fines, "no fine of this decision is recorded")
        self.trigger_event(self.FineReleased, timestamp=at, actor=actor, inspection_id=inspection_id,
                           reason=reason)


# ------------------------------------------------------------------ the mixin


class PenaltyProcedure:
    """Commands of the penalty procedure, mixed into ``Inspection``."""

    if TYPE_CHECKING:  # provided by Inspection / eventsourcing
        id: UUID
        case: dict[str, Any] | None
        decision: dict[str, Any] | None
        violation: dict[str, Any] | None
        notices: tuple[dict[str, Any], ...]
        responses: tuple[dict[str, Any], ...]
        hearing: dict[str, Any] | None
        discussions: tuple[dict[str, Any], ...]
        payments: tuple[dict[str, Any], ...]
        services: tuple[dict[str, Any], ...]
        version: int

        @property
        def person_ids(self) -> frozenset[str]: ...
        PenaltyNoticeServed: Any
        StatementHeard: Any
        RightsWaived: Any
        HearingRequested: Any
        HearingScheduled: Any
        HearingHeld: Any
        CollectiveDiscussionHeld: Any
        DecisionExtensionApproved: Any
        ViolationRecorded: Any
        SimpleDecisionFiled: Any
        FinePaid: Any

        def trigger_event(self, event_class: Any, **kwargs: Any) -> None: ...
        def _begin(self, at: datetime, actor: str | None = None) -> None: ...
        def _require_not_recused(self, *persons: str | None) -> None: ...

    # ---------------------------------------------------------------- R31
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
    ) -> dict[str, Any]:
        """Check the violation facts (R31) and return the event fields."""
        require_digest(fingerprint, "violation fingerprint")
        require_digest(description_hash, "description_hash")
        require(harm_kind in LIMITATION_YEARS, "E_TIME_BARRED",
                f"harm_kind must be one of {sorted(LIMITATION_YEARS)}")
        try:
            end, found = parse_day(violation_end_on), parse_day(discovered_on)
        except (TypeError, ValueError):
            raise UsageError("violation dates must be YYYY-MM-DD") from None
        require(end <= found <= legal_day(at), "E_OUT_OF_ORDER",
                "the violation ends before it is discovered, and is discovered by the filing day")
        last = time_bar(end, harm_kind)
        require(
            found <= last,
            "E_TIME_BARRED",
            f"discovered on {iso_day(found)}, more than {LIMITATION_YEARS[harm_kind]} years after the violation"
            f" ended on {iso_day(end)}: no penalty may be given (R31)",
        )
        return {
            "fingerprint": fingerprint,
            "description_hash": description_hash,
            "violation_end_on": iso_day(end),
            "discovered_on": iso_day(found),
            "harm_kind": harm_kind,
            "continuing": bool(continuing),
            "limit_years": LIMITATION_YEARS[harm_kind],
            "barred_after": iso_day(last),
        }

    def record_violation(
        self,
        *,
        fingerprint: str,
        description_hash: str,
        violation_end_on: str,
        discovered_on: str,
        harm_kind: str = "general",
        continuing: bool = False,
        at: datetime,
        actor: str,
    ) -> None:
        """R31 time bar; the fingerprint identifies the violation for R32.

        For a continuing violation ``violation_end_on`` is the day it ended.
        """
        self._begin(at, actor)
        require_order(self.decision is None, "the violation is recorded before the decision")
        fields = self._violation_record(fingerprint=fingerprint, description_hash=description_hash,
                                        violation_end_on=violation_end_on, discovered_on=discovered_on,
                                        harm_kind=harm_kind, continuing=continuing, at=at)
        self.trigger_event(self.ViolationRecorded, timestamp=at, actor=actor, **fields)

    # ---------------------------------------------------------------- R33–R35
    def _latest_notice(self) -> dict[str, Any] | None:
        return self.notices[-1] if self.notices else None

    def _responses_to(self, notice: dict[str, Any], kind: str) -> list[dict[str, Any]]:
        return [r for r in self.responses if r["notice_seq"] == notice["seq"] and r["kind"] == kind]

    def serve_penalty_notice(
        self,
        *,
        notice_no: str,
        penalty_kinds: Iterable[str],
        fine_fen: int,
        facts_hash: str,
        hearing_right: bool,
        at: datetime,
        actor: str,
        calendar: HolidayCalendar,
        confiscation_fen: int = 0,
        party_kind: str = "organisation",
        new_facts: bool = False,
        statement_wd: int = DEFAULT_STATEMENT_WD,
        hearing_thresholds: Mapping[str, int] = DEFAULT_HEARING_THRESHOLDS,
    ) -> None:
        """事先告知 (R33): proposed penalty, facts, and the rights to a statement, a
        defence and, for heavy penalties, a hearing (R35). A later notice after the party
        was heard may be heavier only on new facts (R34)."""
        self._begin(at, actor)
        require_order(self.case is not None, "a penalty notice is served on a filed case")
        require_order(self.decision is None, "the decision is already made")
        require_text(notice_no, "notice_no")
        require_digest(facts_hash, "facts_hash")
        require(party_kind in PARTY_KINDS, "E_DECISION_INCOMPLETE", f"party_kind must be one of {sorted(PARTY_KINDS)}")
        kinds = str_tuple(penalty_kinds)
        require(bool(kinds) and set(kinds) <= PENALTY_KINDS, "E_DECISION_INCOMPLETE",
                f"proposed penalty kinds must be a non-empty subset of APL art. 9, got {list(kinds)}")
        fine = _amount(fine_fen, "fine_fen")
        confiscation = _amount(confiscation_fen, "confiscation_fen")
        require(("罚款" in kinds) == (fine > 0), "E_DECISION_INCOMPLETE", "a proposed fine needs its amount")
        required = in_hearing_list(kinds, fine, confiscation, party_kind, hearing_thresholds)
        require(
            bool(hearing_right) or not required,
            "E_HEARING_RIGHT_NOT_NOTIFIED",
            "this proposed penalty carries the right to a hearing; the notice must say so (R35)",
        )
        previous = self._latest_notice()
        if previous is not None:
            heard = bool(self._responses_to(previous, "statement")) or bool(self._responses_to(previous,
                                                                                               "hearing_held"))
            heavier = is_heavier(kinds, fine, confiscation, previous["penalty_kinds"], previous["fine_fen"],
                                 previous["confiscation_fen"])
            require(
                not (heard and heavier and not new_facts),
                "E_HEAVIER_AFTER_DEFENCE",
                "after the party was heard, a heavier penalty needs a new notice based on new facts (R34)",
            )
        day = legal_day(at)
        statement_due = deadline_or_pending(calendar, day, statement_wd)
        hearing_due = deadline_or_pending(calendar, day, HEARING_REQUEST_WD) if hearing_right else None
        self.trigger_event(
            self.PenaltyNoticeServed,
            timestamp=at,
            actor=actor,
            notice_no=notice_no,
            penalty_kinds=kinds,
            fine_fen=fine,
            confiscation_fen=confiscation,
            party_kind=party_kind,
            facts_hash=facts_hash,
            new_facts=bool(new_facts),
            hearing_right=bool(hearing_right),
            hearing_required=required,
            statement_due=statement_due.as_record(),
            hearing_request_due=hearing_due.as_record() if hearing_due else None,
        )

    def hear_statement(
        self, *, kind: str, statement_hash: str, adopted: bool, at: datetime, actor: str,
        calendar: HolidayCalendar | None = None,
    ) -> None:
        """陈述、申辩 heard and recorded (R33). ``adopted``: whether the facts, reasons or
        evidence the party raised were accepted."""
        self._begin(at, actor)
        notice = self._latest_notice()
        require(notice is not None, "E_NO_PRIOR_NOTICE", "a statement answers a penalty notice (R33)")
        assert notice is not None
        require_order(self.decision is None, "the decision is already made")
        require(kind in STATEMENT_KINDS, "E_OUT_OF_ORDER", f"kind must be one of {sorted(STATEMENT_KINDS)}")
        require_digest(statement_hash, "statement_hash")
        late = is_after_deadline(notice["statement_due"], at, calendar)
        self.trigger_event(self.StatementHeard, timestamp=at, actor=actor, kind=kind, statement_hash=statement_hash,
                           adopted=bool(adopted), late=late, notice_seq=notice["seq"])

    def waive_rights(self, *, rights: Iterable[str], waiver_ref: str, at: datetime, actor: str) -> None:
        """An explicit, signed waiver of the statement and/or hearing rights (R33)."""
        self._begin(at, actor)
        notice = self._latest_notice()
        require(notice is not None, "E_NO_PRIOR_NOTICE", "a waiver answers a penalty notice (R33)")
        assert notice is not None
        require_order(self.decision is None, "the decision is already made")
        waived = str_tuple(rights)
        require(bool(waived) and set(waived) <= WAIVABLE_RIGHTS, "E_OUT_OF_ORDER",
                f"rights must be a non-empty subset of {sorted(WAIVABLE_RIGHTS)}")
        require_text(waiver_ref, "waiver_ref")
        self.trigger_event(self.RightsWaived, timestamp=at, actor=actor, rights=tuple(sorted(set(waived))),
                           waiver_ref=waiver_ref, notice_seq=notice["seq"])

    def request_hearing(
        self, *, request_ref: str, at: datetime, actor: str, calendar: HolidayCalendar | None = None,
    ) -> None:
        """听证申请 (R35): within 5 working days of the notice; a later request is
        recorded as late (the right has lapsed)."""
        self._begin(at, actor)
        notice = self._latest_notice()
        require(notice is not None and notice["hearing_right"], "E_HEARING_RIGHT_NOT_NOTIFIED",
                "no notified hearing right to exercise (R35)")
        assert notice is not None
        require_order(self.decision is None, "the decision is already made")
        require_order(not self._responses_to(notice, "hearing_request"), "a hearing was already requested")
        require_text(request_ref, "request_ref")
        late = is_after_deadline(notice["hearing_request_due"], at, calendar)
        self.trigger_event(self.HearingRequested, timestamp=at, actor=actor, request_ref=request_ref, late=late,
                           notice_seq=notice["seq"], flags=flags_of((late, "W_HEARING_REQUEST_LATE")))

    def _pending_hearing_request(self) -> dict[str, Any] | None:
        notice = self._latest_notice()
        if notice is None:
            return None
        reqs = [r for r in self._responses_to(notice, "hearing_request") if not r["late"]]
        return reqs[-1] if reqs else None

    def schedule_hearing(
        self,
        *,
        hearing_date: str,
        place: str,
        host: str,
        public: bool,
        at: datetime,
        actor: str,
        calendar: HolidayCalendar,
        nonpublic_reason: str | None = None,
    ) -> None:
        """听证通知 (R35): the party is told 7 working days before; the host is not an
        investigator (nor recused, R8); the hearing is public unless secrets or privacy."""
        self._begin(at, actor)
        require_order(self._pending_hearing_request() is not None, "no hearing was requested in time")
        require_order(self.decision is None, "the decision is already made")
        assert self.case is not None
        require_text(place, "place")
        require_text(host, "host")
        if host in self.case["investigators"] or host in self.person_ids:
            raise RuleViolation("E_HEARING_HOST_IS_INVESTIGATOR",
                                f"{host} investigates this case and may not host its hearing (R35)", host=host)
        self._require_not_recused(host)
        if not public:
            require_text(nonpublic_reason, "nonpublic_reason (state secret, trade secret or privacy)")
        try:
            day = parse_day(hearing_date)
        except (TypeError, ValueError):
            raise UsageError(f"hearing_date must be YYYY-MM-DD, got {hearing_date!r}") from None
        request = self._pending_hearing_request()
        assert request is not None
        earliest = working_day_deadline(calendar, legal_day(at), HEARING_NOTICE_WD)  # decides the step: fails closed
        assert earliest.due is not None
        require(
            day >= earliest.due,
            "E_HEARING_NOTICE_SHORT",
            f"a hearing notified on {iso_day(legal_day(at))} is held on or after {iso_day(earliest.due)}"
            f" (7 working days' notice, R35), not {hearing_date}",
        )
        self.trigger_event(self.HearingScheduled, timestamp=at, actor=actor, hearing_date=iso_day(day), place=place,
                           host=host, public=bool(public), nonpublic_reason=nonpublic_reason,
                           earliest=earliest.as_record(), notice_seq=request["notice_seq"])

    def hold_hearing(
        self,
        *,
        host: str,
        record_hash: str,
        party_signature: str | None,
        refusal_note: str | None,
        at: datetime,
        actor: str,
    ) -> None:
        """听证 held on the notified date by the notified host; the record is signed or
        the refusal noted (R35)."""
        self._begin(at, actor)
        hearing = self.hearing
        require_order(hearing is not None and not hearing["held"], "no scheduled hearing to hold")
        assert hearing is not None
        require(legal_day(at) >= parse_day(hearing["hearing_date"]), "E_HEARING_NOTICE_SHORT",
                f"the hearing was notified for {hearing['hearing_date']} (R35)")
        require(host == hearing["host"], "E_HEARING_HOST_IS_INVESTIGATOR", "the hearing is held by its notified host")
        self._require_not_recused(host)
        require_digest(record_hash, "record_hash")
        require(bool(party_signature) or bool(refusal_note), "E_NO_RECORD",
                "the hearing record is signed by the party or the refusal noted (R35)")
        self.trigger_event(self.HearingHeld, timestamp=at, actor=actor, host=host, record_hash=record_hash,
                           party_signature=party_signature, refusal_note=refusal_note,
                           notice_seq=hearing["notice_seq"])

    # ---------------------------------------------------------------- R39
    def hold_collective_discussion(
        self, *, minutes_hash: str, attendees: Iterable[str], draft_hash: str, conclusion: str, at: datetime,
        actor: str,
    ) -> None:
        """集体讨论 by the agency's heads (R39), on a given draft."""
        self._begin(at, actor)
        require_order(self.case is not None, "a collective discussion is held on a filed case")
        require_order(self.decision is None, "the decision is already made")
        require_digest(minutes_hash, "minutes_hash")
        require_digest(draft_hash, "draft_hash")
        people = str_tuple(attendees)
        require(len(set(people)) >= 2, "E_NO_COLLECTIVE_DISCUSSION",  # noqa: PLR2004 - collective discussion needs two people
                "a collective discussion has at least two heads attending (R39)")
        self._require_not_recused(*people)
        require_text(conclusion, "conclusion")
        self.trigger_event(self.CollectiveDiscussionHeld, timestamp=at, actor=actor, minutes_hash=minutes_hash,
                           attendees=tuple(sorted(set(people))), draft_hash=draft_hash, conclusion=conclusion)

    # ---------------------------------------------------------------- R30
    def approve_decision_extension(
        self,
        *,
        agency: SubjectState,
        approver: str,
        basis: str,
        at: datetime,
        calendar: HolidayCalendar,
        days: int = DEFAULT_MAX_EXTENSION_DAYS,
        max_days: int = DEFAULT_MAX_EXTENSION_DAYS,
    ) -> None:
        """R30: one extension of the 90-day period, approved by the head before it ends,
        on a cited basis; a second extension is refused."""
        self._begin(at, approver)
        require_order(self.case is not None, "an extension needs a filed case")
        require_order(self.decision is None, "the decision is already made")
        assert self.case is not None
        require_text(basis, "basis")
        require(agency.head is not None and agency.head == approver, "E_DECIDER_ROLE",
                f"{approver} is not the head of {agency.agency_code} on {iso_day(legal_day(at))} (R30)")
        require(self.case.get("extensions", 0) < MAX_EXTENSIONS, "E_EXTENSION_LIMIT",
                "the decision period was already extended once (R30)")
        require(isinstance(days, int) and not isinstance(days, bool) and 1 <= days <= max_days, "E_EXTENSION_LIMIT",
                f"an extension is 1..{max_days} days, not {days!r} (R30)")
        current = self.case["decision_due"]
        current_due = require_due(current, calendar)
        require(legal_day(at) <= current_due, "E_EXTENSION_LIMIT",
                f"the decision period ended on {iso_day(current_due)}; it can no longer be extended (R30)")
        new_due = deadline_or_pending(calendar, current_due, days, "natural_days")
        self.trigger_event(self.DecisionExtensionApproved, timestamp=at, actor=approver, approver=approver,
                           approver_role="agency_head", basis=basis, days=days, previous_due=dict(current),
                           decision_due=new_due.as_record())

    # ---------------------------------------------------------------- checks used by decide
    def _check_penalty_procedure(
        self,
        *,
        kinds: tuple[str, ...],
        fine_fen: int,
        confiscation_fen: int,
        procedure: str,
        party_kind: str,
        form_serial: str | None,
        certs_shown: tuple[str, ...],
        at: datetime,
        calendar: HolidayCalendar | None = None,
    ) -> int | None:
        """R31, R33, R34, R35, R44 for a penalty; returns the notice's sequence (normal
        procedure) or ``None`` (simple procedure)."""
        require(procedure in PROCEDURES, "E_DECISION_INCOMPLETE", f"procedure must be one of {sorted(PROCEDURES)}")
        require(party_kind in PARTY_KINDS, "E_DECISION_INCOMPLETE", f"party_kind must be one of {sorted(PARTY_KINDS)}")
        require(self.violation is not None, "E_DECISION_INCOMPLETE",
                "record the violation facts (end date, discovery, fingerprint) before a penalty (R31, R32)")
        if procedure == "simple":
            limit = SIMPLE_FINE_LIMITS[party_kind]
            require(
                set(kinds) <= SIMPLE_KINDS and fine_fen <= limit and confiscation_fen == 0,
                "E_SIMPLE_PROCEDURE_LIMIT",
                f"on the spot only a warning or a fine up to {limit // 100} yuan for a {party_kind} (R44)",
                limit_fen=limit,
            )
            require(bool(form_serial and form_serial.strip()), "E_SIMPLE_PROCEDURE_LIMIT",
                    "an on-the-spot decision uses a numbered pre-printed form (R44)")
            require(bool(certs_shown), "E_SIMPLE_PROCEDURE_LIMIT",
                    "an on-the-spot decision follows showing the certificate (R44)")
            return None
        notice = self._latest_notice()
        require(notice is not None, "E_NO_PRIOR_NOTICE", "a penalty decision needs a prior penalty notice (R33)")
        assert notice is not None
        day = legal_day(at)
        waived = {r for w in self._responses_to(notice, "waiver") for r in w["rights"]}
        statements = self._responses_to(notice, "statement")
        held = self._responses_to(notice, "hearing_held")
        pending = self._pending_hearing_request()
        statement_done = bool(statements) or bool(held) or "statement" in waived or (
            day > require_due(notice["statement_due"], calendar))
        if notice["hearing_right"]:
            require(pending is None or bool(held) or "hearing" in waived, "E_HEARING_NOT_HELD",
                    "the party requested a hearing in time; hold it before deciding (R35)")
            hearing_done = bool(held) or "hearing" in waived or pending is not None or (
                day > require_due(notice["hearing_request_due"], calendar))
        else:
            hearing_done = True
        require(
            statement_done and hearing_done,
            "E_NO_PRIOR_NOTICE",
            "the party has not been heard, has not waived, and the statement or hearing-request period"
            " is still running (R33, R35)",
        )
        heavier = is_heavier(kinds, fine_fen, confiscation_fen, notice["penalty_kinds"], notice["fine_fen"],
                             notice["confiscation_fen"])
        if heavier:
            heard = bool(statements) or bool(held)
            raise RuleViolation(
                "E_HEAVIER_AFTER_DEFENCE" if heard else "E_NO_PRIOR_NOTICE",
                "the decision is heavier than the notified penalty; serve a new notice on new facts (R33, R34)",
            )
        return int(notice["seq"])

    # ---------------------------------------------------------------- R44 filing
    def file_simple_decision(self, *, filing_ref: str, at: datetime, actor: str) -> None:
        """R44 (APL art. 52): an on-the-spot decision is filed with the agency."""
        self._begin(at, actor)
        d = self.decision
        require_order(d is not None and d.get("procedure") == "simple", "no on-the-spot decision to file")
        assert d is not None
        require_order(not d.get("filed_with_agency"), "the decision is already filed")
        require_text(filing_ref, "filing_ref")
        self.trigger_event(self.SimpleDecisionFiled, timestamp=at, actor=actor, filing_ref=filing_ref)

    # ---------------------------------------------------------------- R47
    def record_payment(
        self,
        *,
        amount_fen: int,
        surcharge_fen: int,
        receipt_ref: str,
        at: datetime,
        actor: str,
        calendar: HolidayCalendar,
        suspended_days: int = 0,
        suspension_ref: str | None = None,
    ) -> None:
        """R47: the fine is due 15 days after receipt (service); each day late adds 3 %
        of the fine, never more than the fine; days of review or litigation do not count.

        ``surcharge_fen`` is what was collected: above the fine → ``E_SURCHARGE_CAP``;
        otherwise it must equal the computed surcharge (``E_PAYMENT_MISMATCH``)."""
        self._begin(at, actor)
        d = self.decision
        require_order(d is not None and d["outcome"] == "penalty" and d["status"] in {"in_force", "changed"},
                      "no penalty decision in force")
        assert d is not None
        fine = int(d.get("fine_fen", 0))
        require_order(fine > 0, "the decision imposes no fine")
        require_order(not self.payments, "the fine is already paid")
        served = [s for s in self.services if s["decision_version"] == d["version"]]
        require_order(bool(served), "the fine is due after the decision is served")
        require_text(receipt_ref, "receipt_ref")
        surcharge = _amount(surcharge_fen, "surcharge_fen", "E_SURCHARGE_CAP")
        require(surcharge <= fine, "E_SURCHARGE_CAP",
                f"the late surcharge ({surcharge} fen) may not exceed the fine ({fine} fen) (R47)")
        require(_amount(amount_fen, "amount_fen", "E_PAYMENT_MISMATCH") == fine, "E_PAYMENT_MISMATCH",
                f"the amount paid ({amount_fen} fen) is not the fine ({fine} fen)")
        suspended = _amount(suspended_days, "suspended_days", "E_PAYMENT_MISMATCH")
        if suspended:
            require_text(suspension_ref, "suspension_ref (the review or litigation)")
        due = natural_day_deadline(calendar, legal_day(from_micros(served[0]["at"])), PAYMENT_DAYS)  # decides the sum
        assert due.due is not None
        days_late = max(0, (legal_day(at) - due.due).days - suspended)
        expected = late_surcharge(fine, days_late)
        require(surcharge == expected, "E_PAYMENT_MISMATCH",
                f"the surcharge for {days_late} days late is {expected} fen, not {surcharge} (R47)",
                expected=expected)
        self.trigger_event(self.FinePaid, timestamp=at, actor=actor, amount_fen=fine, surcharge_fen=surcharge,
                           payment_due=due.as_record(), days_late=days_late, suspended_days=suspended,
                           suspension_ref=suspension_ref, receipt_ref=receipt_ref,
                           flags=flags_of((days_late > 0, "W_PAYMENT_LATE")))


def decision_document_hash(document: Mapping[str, str]) -> str:
    """The hash recorded for a decision document (canonical JSON)."""
    return content_hash(dict(document))
