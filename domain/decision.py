"""The case: filing (立案, R30–R32), legal review (R38), education (R41), the decision (R33–R44).

``CaseDecision`` is a mixin of :class:`domain.inspection.Inspection`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from domain.base import (
    require,
    require_digest,
    require_order,
    require_text,
    str_tuple,
)
from domain.calendar import (
    HolidayCalendar,
    deadline_or_pending,
    is_after_deadline,
    legal_day,
    to_micros,
)
from domain.errors import RoleConflict, UnknownEntity
from domain.inspection_state import InspectionState
from domain.inspection_terms import (
    CASE_CLASSES,
    DECIDER_ROLES,
    DECISION_NATURAL_DAYS,
    OUTCOMES,
    PUBLICATION_REGIMES,
    REVIEW_POINTS,
    SERVICE_WD,
)
from domain.penalty import (
    PENALTY_KINDS,
    check_decision_document,
    decision_document_hash,
)


class CaseDecision(InspectionState):
    """Case filing, legal review, education and the decision."""

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
        require_digest(draft_hash, "draft_hash")
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
        require_digest(draft_hash, "draft_hash")
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
