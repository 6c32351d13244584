"""On site and off site: arrival (R17), certificates (R5, R7), evidence (R22, R26, R27, R29),
the record (R19), the conclusion and its notice (R21), the enterprise's feedback (R20).

``OnSite`` is a mixin of :class:`domain.inspection.Inspection`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from domain.base import (
    check_time_not_before,
    feedback_token,
    flags_of,
    is_sha256_hex,
    require,
    require_digest,
    require_order,
    require_text,
)
from domain.calendar import (
    HolidayCalendar,
    deadline_or_pending,
    is_after_deadline,
    legal_day,
)
from domain.errors import RuleViolation, UnknownEntity
from domain.evidence import DeviceState, check_device_evidence
from domain.inspection_state import InspectionState
from domain.inspection_terms import (
    AV_METADATA_KEYS,
    AV_TYPES,
    DEFAULT_RESULT_NOTICE_WD,
    DEVICE_SOURCE,
    EVIDENCE_TYPES,
    MAX_FEEDBACK_COMMENT,
    OFFSITE_SOURCES,
    PROHIBITION_CODES,
    RESULTS,
)
from domain.registers import CertState


class OnSite(InspectionState):
    """Arrival, certificates, evidence, record, conclusion, result notice and feedback."""

    def arrive(
        self, *, scan: Mapping[str, Any] | None, location: str, certs: Sequence[CertState], at: datetime, actor: str,
    ) -> None:
        """R17 scan check-in; R18 an off-site task has no arrival; R9 approval first; R5/R6: the
        team present (``certs``, each as of ``at``) are officers of the task with certificates
        valid on the arrival's legal day, at least two of them, none recused."""
        self._begin(at)
        require(
            self.mode == "on_site",
            "E_MODE_MISMATCH",
            "an off-site inspection cannot have an arrival; record a mode change first (R18)",
        )
        require_order(self.arrival is None, "already arrived")
        require_order(self.conclusion is None, "the inspection is already concluded")
        self._require_approved()
        if scan is None:
            require(self.emergency, "E_NO_CHECKIN", "arrival needs the scanned enterprise code (R17)")
        else:
            require(
                scan.get("uscc") == self.uscc and bool(scan.get("code_id")),
                "E_NO_CHECKIN",
                "the scanned code does not identify the inspected enterprise (R17)",
            )
            require(isinstance(scan.get("scanned_at"), int), "E_NO_CHECKIN", "scan.scanned_at (µs) missing")
        officers = self._check_team(certs, at, need_shown=False)
        require_text(location, "location")
        self.trigger_event(
            self.TeamArrived,
            timestamp=at,
            actor=actor,
            scan=dict(scan) if scan is not None else None,
            location=location,
            officers=officers,
            flags=(),
        )

    def show_certificate(self, *, cert: CertState, at: datetime, actor: str) -> None:
        """R7: each acting officer shows the certificate on site, valid as of ``at`` (R5)."""
        self._begin(at)
        require(self.mode == "on_site", "E_MODE_MISMATCH", "certificates are shown on site")
        require(self.arrival is not None, "E_NO_CHECKIN", "show certificates after checking in")
        require_order(self.conclusion is None, "the inspection is already concluded")
        member = self.team.get(cert.cert_no)
        require(
            member is not None and member["person_id"] == cert.person_id,
            "E_NO_DISPATCH",
            f"officer {cert.cert_no} is not on the dispatched task",
        )
        assert member is not None
        cert.check_valid(at, member["categories"])
        self._require_not_recused(cert.person_id)
        require_order(cert.cert_no not in self.certs_shown, "certificate already shown")
        self.trigger_event(
            self.CertificateShown,
            timestamp=at,
            actor=actor,
            cert_no=cert.cert_no,
            person_id=cert.person_id,
        )

    def log_evidence(
        self,
        *,
        evidence_id: str,
        evidence_type: str,
        sha256: str,
        size: int,
        media_type: str,
        source: str,
        capture: Mapping[str, Any],
        certs: Sequence[CertState],
        at: datetime,
        actor: str,
        lawful: bool = True,
        device: DeviceState | None = None,
    ) -> None:
        """R9, R17, R18, R5–R7, R22, R26, R27; after the decision it is flagged (R29).

        ``source == "device"``: captured by an electronic monitoring device, whose state
        as of ``at`` is ``device`` (R27)."""
        self._begin(at, actor)
        require_text(evidence_id, "evidence_id")
        require_order(evidence_id not in self.evidence, f"evidence {evidence_id!r} already logged")
        self._require_approved()
        if source == "on_site":
            require(self.mode == "on_site", "E_MODE_MISMATCH", "on-site evidence in an off-site inspection")
            require(self.arrival is not None, "E_NO_CHECKIN", "on-site evidence before check-in (R17)")
        elif source == DEVICE_SOURCE:
            check_device_evidence(device, capture.get("device_id"), (a["agency_code"] for a in self.assignments))
        else:
            require(
                source in OFFSITE_SOURCES,
                "E_MODE_MISMATCH",
                f"evidence source {source!r} is not on-site nor an off-site source (R18)",
            )
        officers = self._check_team(certs, at, need_shown=source == "on_site")
        require(evidence_type in EVIDENCE_TYPES, "E_EVIDENCE_TYPE", f"{evidence_type!r} is not a statutory type (R22)")
        require(is_sha256_hex(sha256), "E_AV_METADATA", "sha256 at capture must be 64 lowercase hex digits")
        require(isinstance(size, int) and size >= 0, "E_AV_METADATA", "size must be a non-negative int")
        if evidence_type in AV_TYPES:
            missing = [k for k in AV_METADATA_KEYS if not capture.get(k)]
            if capture.get("medium") == "audio" and not capture.get("transcript_ref"):
                missing.append("transcript_ref")
            require(not missing, "E_AV_METADATA", f"capture metadata missing: {missing} (R26)")
        post_decision = self.decision is not None
        self.trigger_event(
            self.EvidenceLogged,
            timestamp=at,
            actor=actor,
            evidence_id=evidence_id,
            evidence_type=evidence_type,
            sha256=sha256,
            size=size,
            media_type=media_type,
            source=source,
            capture=dict(capture),
            officers=officers,
            lawful=bool(lawful),
            admissible=bool(lawful),
            post_decision=post_decision,
            flags=(),
        )

    def sign_record(
        self,
        *,
        record_hash: str,
        certs: Sequence[CertState],
        party_signature: str | None,
        refusal_note: str | None,
        at: datetime,
        actor: str,
        witness: str | None = None,
    ) -> None:
        """R19: the record is signed by ≥2 officers and the party, or the refusal noted."""
        self._begin(at)
        require_order(self.conclusion is None, "the inspection is already concluded")
        require_order(self.record is None, "the record is already signed")
        if self.mode == "on_site":
            require(self.arrival is not None, "E_NO_CHECKIN", "no on-site record before check-in")
        self._require_approved()
        require_digest(record_hash, "record_hash")
        officers = self._check_team(certs, at, need_shown=self.mode == "on_site")
        require(
            bool(party_signature) or bool(refusal_note),
            "E_NO_RECORD",
            "the record needs the party's signature or a note of refusal (R19)",
        )
        self.trigger_event(
            self.RecordSigned,
            timestamp=at,
            actor=actor,
            record_hash=record_hash,
            officers=officers,
            party_signature=party_signature,
            refusal_note=refusal_note,
            witness=witness,
        )

    def conclude(
        self,
        *,
        result: str,
        certs: Sequence[CertState],
        at: datetime,
        actor: str,
        calendar: HolidayCalendar,
        rectification_due: str | None = None,
        result_notice_wd: int = DEFAULT_RESULT_NOTICE_WD,
    ) -> None:
        """R19 (on-site needs the signed record), R5/R6; starts the R21 notice period."""
        self._begin(at)
        require_order(self.conclusion is None, "the inspection is already concluded")
        self._require_approved()
        require(result in RESULTS, "E_OUT_OF_ORDER", f"unknown result {result!r}")
        if self.mode == "on_site":
            require(self.record is not None, "E_NO_RECORD", "an on-site inspection ends with a signed record (R19)")
        officers = self._check_team(certs, at, need_shown=self.mode == "on_site")
        due = deadline_or_pending(calendar, legal_day(at), result_notice_wd)
        self.trigger_event(
            self.Concluded,
            timestamp=at,
            actor=actor,
            result=result,
            officers=officers,
            rectification_due=rectification_due,
            result_notice_due=due.as_record(),
        )

    def notify_result(
        self, *, recipient: str, summary_hash: str, secret: bytes, at: datetime, actor: str,
        calendar: HolidayCalendar | None = None,
    ) -> str:
        """R21: result + feedback invitation. Returns the QR token for the enterprise;
        the ledger stores only its id (a hash of it)."""
        self._begin(at)
        require_order(self.conclusion is not None, "notify the result after concluding")
        assert self.conclusion is not None
        require_order(self.notified is None, "the result was already notified")
        require_text(recipient, "recipient")
        require_digest(summary_hash, "summary_hash")
        token = feedback_token(self.id, secret)
        qr_id = hashlib.sha256(token.encode()).hexdigest()[:32]
        late = is_after_deadline(self.conclusion["result_notice_due"], at, calendar)
        self.trigger_event(
            self.ResultNotified,
            timestamp=at,
            actor=actor,
            recipient=recipient,
            summary_hash=summary_hash,
            qr_id=qr_id,
            flags=flags_of((late, "V_RESULT_NOT_NOTIFIED")),
        )
        return token

    def receive_feedback(
        self, *, token: str, rating: int, prohibition_code: str | None, comment: str, at: datetime, actor: str,
    ) -> str:
        """R20/R21: the enterprise's feedback, once per inspection, with the token of its result
        notice. Returns the invitation id (``qr_id``). Unlike the enforcement steps it is accepted
        after the case is closed: the enterprise may answer late."""
        check_time_not_before(at, self.modified_on)
        notified = self.notified
        if notified is None:
            raise UnknownEntity("this inspection has no feedback invitation", code="E_NO_FEEDBACK_INVITATION")
        if not isinstance(token, str) or not token.strip():
            raise RuleViolation("E_FEEDBACK_TOKEN", "the feedback token is required")
        qr_id = hashlib.sha256(token.strip().encode()).hexdigest()[:32]
        if not hmac.compare_digest(qr_id, str(notified["qr_id"])):
            raise RuleViolation("E_FEEDBACK_TOKEN", "the feedback token does not belong to this inspection")
        if getattr(self, "feedback", None) is not None:
            raise RuleViolation("E_FEEDBACK_EXISTS", "feedback for this inspection was already given")
        if type(rating) is not int or not 1 <= rating <= 5:  # noqa: PLR2004 - the 1-5 scale
            raise RuleViolation("E_FEEDBACK_RATING", "the rating is an integer from 1 to 5")
        if prohibition_code is not None and prohibition_code not in PROHIBITION_CODES:
            raise RuleViolation("E_FEEDBACK_CODE", f"unknown prohibition code {prohibition_code!r}",
                                allowed=PROHIBITION_CODES)
        if not isinstance(comment, str) or len(comment) > MAX_FEEDBACK_COMMENT:
            raise RuleViolation("E_FEEDBACK_COMMENT",
                                f"the comment is text of at most {MAX_FEEDBACK_COMMENT} characters")
        text = comment.strip()
        self.trigger_event(
            self.FeedbackReceived,
            timestamp=at,
            actor=actor,
            qr_id=qr_id,
            rating=rating,
            prohibition_code=prohibition_code,
            comment_sha256=hashlib.sha256(text.encode()).hexdigest() if text else None,
        )
        return qr_id
