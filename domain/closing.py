"""Deadlines passed with no act (R9, R21, R30, R46, R51: ``record_overdue``) and closing the case (结案, R24).

``Closing`` is a mixin of :class:`domain.inspection.Inspection`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from domain.base import (
    require,
    require_order,
)
from domain.calendar import (
    HolidayCalendar,
    due_day,
    from_micros,
    iso_day,
    legal_day,
    to_micros,
)
from domain.inspection_state import InspectionState
from domain.inspection_terms import (
    DEFAULT_EMERGENCY_WINDOW,
    RECORD_PHASES,
)


class Closing(InspectionState):
    """Overdue obligations and closing the case."""

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
