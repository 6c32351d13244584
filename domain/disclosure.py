"""After the decision: service (送达, R45–R47), publication (公示, R48–R50), alteration of the
decision and withdrawal or correction of its publication (R51).

``Disclosure`` is a mixin of :class:`domain.inspection.Inspection`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from domain.base import (
    content_hash,
    flags_of,
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
    legal_day,
)
from domain.errors import UnknownEntity
from domain.inspection_state import InspectionState
from domain.inspection_terms import (
    ALTERATION_KINDS,
    NEVER_PUBLIC_FIELDS,
    PUBLICATION_REGIMES,
    SANSHU,
    SERVICE_METHODS,
    WITHDRAWAL_WD,
)
from domain.publicity import (
    DEFAULT_LOW_FINE_FEN,
    compute_publication_period,
)
from domain.uscc import validate_uscc

_content_hash = content_hash  # the commands' ``content_hash`` parameter shadows the function


class Disclosure(InspectionState):
    """Service, publication, alteration, withdrawal and correction."""

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
        require_digest(document_hash, "document_hash")
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
        evidence_refs: Iterable[str] = (),
    ) -> None:
        """R51: change, revocation, confirmed illegality or voidness.

        If the decision is published, a withdrawal is due within 3 working days. A change may name
        its evidence set (``evidence_refs``); evidence logged after the decision cannot support it
        (R29, ``E_EVIDENCE_AFTER_DECISION``): a legal review comes only before a decision, so no
        change has the new review that could admit it.
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
            require_digest(new_draft_hash, "new_draft_hash")
        else:
            require(new_draft_hash is None, "E_OUT_OF_ORDER", "only a change has a new draft")
        refs = str_tuple(evidence_refs)
        require(not refs or kind == "changed", "E_OUT_OF_ORDER", "only a change names an evidence set")
        require(len(set(refs)) == len(refs), "E_OUT_OF_ORDER", "an evidence ref is named twice")
        decided_us = self.decision.get("decided_at")
        for ref in refs:
            ev = self.evidence.get(ref)
            if ev is None:
                raise UnknownEntity(f"no evidence {ref!r} in this case", key=ref, code="E_UNKNOWN_EVIDENCE")
            require(
                not ev["post_decision"] and (decided_us is None or ev["logged_at"] < decided_us),
                "E_EVIDENCE_AFTER_DECISION",
                f"evidence {ref!r} was logged after the decision and cannot support it, nor a change of it"
                " without a new review (R29)",
            )
            require(ev["admissible"], "E_INADMISSIBLE_EVIDENCE", f"evidence {ref!r} is inadmissible (R23)")
        day = legal_day(at)
        published = self.publication is not None and self.publication["status"] == "published"
        withdrawal_due = deadline_or_pending(calendar, day, WITHDRAWAL_WD).as_record() if published else None
        republication_due = (
            deadline_or_pending(calendar, day, PUBLICATION_REGIMES[self.decision["regime"]]).as_record()
            if kind == "changed" and self.decision["publishable"]
            else None
        )
        fields: dict[str, Any] = {"evidence_refs": refs} if refs else {}
        self.trigger_event(
            self.DecisionChangedWithEvidence if refs else self.DecisionAltered,
            timestamp=at,
            actor=actor,
            kind=kind,
            reason=reason,
            basis_ref=basis_ref,
            new_draft_hash=new_draft_hash,
            withdrawal_due=withdrawal_due,
            republication_due=republication_due,
            **fields,
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
