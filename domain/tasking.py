"""The task and its team: dispatch (派单), approval (R9), mode change (R18), cancellation,
and the team checks every acting step makes (R5 certificates, R6 two officers, R7 shown, R8 recusal).

``Tasking`` is a mixin of :class:`domain.inspection.Inspection`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from domain.base import (
    check_time_not_before,
    flags_of,
    require,
    require_order,
    require_text,
    str_tuple,
)
from domain.calendar import (
    iso_day,
    legal_day,
    to_micros,
)
from domain.errors import CertificateInvalid
from domain.inspection_state import InspectionState
from domain.inspection_terms import (
    CASE_SOURCES,
    DEFAULT_EMERGENCY_WINDOW,
    INSPECTION_TYPES,
    MAX_SOURCE_REF,
    MODES,
)
from domain.registers import CertState, SubjectState
from domain.uscc import validate_uscc

if TYPE_CHECKING:
    from domain.inspection import Inspection


def check_case_source(inspection_type: str, case_source: Mapping[str, Any] | None) -> dict[str, str] | None:
    """R9, R12: a 个案 task names its source — ``{"kind": one of CASE_SOURCES, "ref": the source's
    reference number}`` — else ``E_CASE_SOURCE_REQUIRED``; a routine or special task names none
    (``E_CASE_SOURCE_UNEXPECTED``: its basis is the plan or the campaign). Returns the record."""
    if inspection_type != "case":
        require(case_source is None, "E_CASE_SOURCE_UNEXPECTED",
                f"a {inspection_type} task has no case source; only 个案 tasks record one (R9, R12)")
        return None
    require(isinstance(case_source, Mapping), "E_CASE_SOURCE_REQUIRED",
            "a case-type (个案) task records its source: {kind, ref} (R9, R12)")
    assert isinstance(case_source, Mapping)
    require(set(case_source) == {"kind", "ref"}, "E_CASE_SOURCE_REQUIRED",
            f"the case source has exactly the fields kind and ref, not {sorted(map(str, case_source))}")
    kind, ref = case_source["kind"], case_source["ref"]
    require(kind in CASE_SOURCES, "E_CASE_SOURCE_REQUIRED",
            f"case source kind {kind!r} is not one of {sorted(CASE_SOURCES)}")
    require(isinstance(ref, str) and bool(ref.strip()) and len(ref) <= MAX_SOURCE_REF and ref == ref.strip(),
            "E_CASE_SOURCE_REQUIRED",
            f"the case source needs its reference number (non-blank text of at most {MAX_SOURCE_REF} characters)")
    return {"kind": str(kind), "ref": str(ref)}


class Tasking(InspectionState):
    """Dispatch, approval, mode change, cancellation and the team checks."""

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
        case_source: Mapping[str, Any] | None = None,
    ) -> Inspection:
        """Create the task. Cross-aggregate rules are checked by
        :func:`domain.services.dispatch_inspection`, which calls this."""
        require_text(task_no, "task_no")
        validate_uscc(lead_agency)
        validate_uscc(uscc)
        require(inspection_type in INSPECTION_TYPES, "E_OUT_OF_ORDER", f"bad type {inspection_type!r}")
        require(mode in MODES, "E_MODE_MISMATCH", f"bad mode {mode!r}")
        source = check_case_source(inspection_type, case_source)
        require(bool(assignments), "E_NO_DISPATCH", "a dispatch needs at least one agency")
        require(
            not legal_rep_required or bool(legal_rep_basis),
            "E_LEGAL_REP_REQUIRED",
            "requiring the legal representative's presence needs a statutory basis (R20)",
        )
        check_time_not_before(at, None)
        return cast("Inspection", cls._create(
            cls.DispatchedWithSource,
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
            case_source=source,
        ))

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

    def change_team(
        self,
        *,
        agency: SubjectState,
        leaving: Iterable[str],
        joining: Sequence[CertState],
        staying: Sequence[CertState],
        reason: str,
        approver: str,
        at: datetime,
    ) -> None:
        """R5, R6, R9 (issue 18): change the team of ``agency`` on an approved task, approved (and
        signed) by whoever may approve the dispatch — its head as of ``at``. ``leaving`` are
        certificate numbers on the team, ``joining`` the new officers' certificates and
        ``staying`` those of everyone else of the agency's team, each as of ``at`` (the change's
        instant). Each joining officer holds a certificate of ``agency`` valid on the legal day for
        the task's categories; at least two distinct officers with valid certificates remain."""
        self._begin(at, approver)
        require_order(self.conclusion is None, "the inspection is already concluded; its team cannot change")
        self._require_approved()
        rows = [a for a in self.assignments if a["agency_code"] == agency.agency_code]
        require(bool(rows), "E_NO_DISPATCH", f"{agency.agency_code} is not on this task")
        row = rows[0]
        require(
            agency.head is not None and agency.head == approver,
            "E_NO_DISPATCH",
            f"{approver} is not the head of {agency.agency_code} on {iso_day(legal_day(at))}; the head who may"
            " approve the dispatch approves a change of its team (R9)",
        )
        require_text(reason, "reason")
        leaving_nos = str_tuple(leaving)
        joining_nos = tuple(c.cert_no for c in joining)
        require(bool(leaving_nos) or bool(joining_nos), "E_REASON_REQUIRED",
                "a team change names who leaves or who joins")
        current = {o["cert_no"]: o for o in row["officers"]}
        require(len(set(leaving_nos)) == len(leaving_nos) and set(leaving_nos) <= set(current), "E_NO_DISPATCH",
                f"officers leaving must be on {agency.agency_code}'s team: {sorted(set(leaving_nos) - set(current))}")
        require(len(set(joining_nos)) == len(joining_nos) and not set(joining_nos) & set(self.team), "E_OUT_OF_ORDER",
                f"officers joining must not be on the task already: {sorted(set(joining_nos) & set(self.team))}")
        expected = set(current) - set(leaving_nos)
        require({c.cert_no for c in staying} == expected and len(staying) == len(expected), "E_OUT_OF_ORDER",
                "the staying officers must be exactly the team without those leaving")
        categories = tuple(row["categories"])
        for cert in joining:
            require(cert.agency_code == agency.agency_code, "E_CERT_INVALID",
                    f"certificate {cert.cert_no} belongs to {cert.agency_code}, not {agency.agency_code}")
            cert.check_valid(at, categories)
        self._require_not_recused(*(c.person_id for c in joining))
        valid: list[CertState] = list(joining)
        for cert in staying:
            try:
                cert.check_valid(at, categories)
            except CertificateInvalid:
                continue
            valid.append(cert)
        persons = {c.person_id for c in valid} - self.recused
        require(
            min(len(persons), len({c.cert_no for c in valid if c.person_id in persons})) >= 2,  # noqa: PLR2004 - R6
            "E_OFFICER_COUNT",
            f"after the change {agency.agency_code} would have fewer than two officers with valid certificates (R6)",
        )
        self.trigger_event(
            self.TeamChanged,
            timestamp=at,
            actor=approver,
            agency_code=agency.agency_code,
            leaving=tuple({"cert_no": n, "person_id": current[n]["person_id"]} for n in leaving_nos),
            joining=tuple({"cert_no": c.cert_no, "person_id": c.person_id} for c in joining),
            reason=reason,
            approver=approver,
            approver_role="subject_head",
            officers_after=tuple(sorted(c.cert_no for c in valid if c.person_id in persons)),
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
