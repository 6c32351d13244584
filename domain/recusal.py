"""回避 (R8, APL art. 43, art. 64(4)): a conflicted officer, reviewer or hearing host
recuses.  A party's request is decided by the agency head; the investigation goes on
while it is pending; after a granted recusal the person may not act on the case.

``Recusal`` is a mixin of :class:`domain.inspection.Inspection`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain.base import require, require_order, require_text
from domain.calendar import iso_day, legal_day
from domain.errors import RuleViolation
from domain.registers import SubjectState

REQUESTERS = frozenset({"party", "self", "agency"})


class Recusal:
    """Recusal requests and decisions, and the check every acting command makes."""

    if TYPE_CHECKING:  # provided by Inspection / eventsourcing
        recusals: dict[str, dict[str, Any]]
        RecusalRequested: Any
        RecusalDecided: Any

        def trigger_event(self, event_class: Any, **kwargs: Any) -> None: ...
        def _begin(self, at: datetime, actor: str | None = None) -> None: ...

    @property
    def recused(self) -> frozenset[str]:
        return frozenset(p for p, r in self.recusals.items() if r["status"] == "granted")

    def _require_not_recused(self, *persons: str | None) -> None:
        """R8: ``E_RECUSED_ACTOR`` if any of ``persons`` was granted recusal on this case."""
        hit = sorted({p for p in persons if p} & self.recused)
        if hit:
            raise RuleViolation("E_RECUSED_ACTOR", f"{hit} recused from this case and may not act on it (R8)",
                                persons=hit)

    def request_recusal(self, *, person_id: str, requested_by: str, reason: str, at: datetime, actor: str) -> None:
        self._begin(at)
        require_text(person_id, "person_id")
        require(requested_by in REQUESTERS, "E_OUT_OF_ORDER", f"requested_by must be one of {sorted(REQUESTERS)}")
        require_text(reason, "reason")
        current = self.recusals.get(person_id)
        require_order(current is None or current["status"] == "refused",
                      f"a recusal of {person_id} is already {current and current['status']}")
        self.trigger_event(self.RecusalRequested, timestamp=at, actor=actor, person_id=person_id,
                           requested_by=requested_by, reason=reason)

    def decide_recusal(
        self, *, person_id: str, granted: bool, reason: str, decider: str, agency: SubjectState, at: datetime,
    ) -> None:
        """The agency head (as of ``at``) decides; not the person concerned."""
        self._begin(at, decider)
        current = self.recusals.get(person_id)
        require_order(current is not None and current["status"] == "pending", f"no pending recusal of {person_id}")
        require(agency.head is not None and agency.head == decider and decider != person_id, "E_DECIDER_ROLE",
                f"{decider} is not the head of {agency.agency_code} on {iso_day(legal_day(at))}; the head decides"
                " recusals (R8)")
        require_text(reason, "reason")
        self.trigger_event(self.RecusalDecided, timestamp=at, actor=decider, person_id=person_id,
                           granted=bool(granted), decider=decider, decider_role="agency_head", reason=reason)
