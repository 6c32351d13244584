"""Hypothesis state machine: random command sequences (valid and invalid) never reach a
state the rules forbid, refusals never leave pending events, and replaying the accepted
history always reproduces the same aggregate."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.base import content_hash
from domain.errors import DomainError
from domain.inspection import REVIEW_POINTS, Inspection
from domain.services import approve_dispatch

from enforcement_world import AGENCY, ENT, H, HEAD, PUBLIC_DOC, REDACTIONS, SECRET, SERVED_DOC, T, World, replay

CERTS = ("C1", "C2", "C3")


class LifecycleMachine(RuleBasedStateMachine):
    @initialize(mode=st.sampled_from(["on_site", "off_site"]), emergency=st.booleans())
    def start(self, mode: str, emergency: bool) -> None:
        self.world = World()
        self.now = T("2025-09-01 09:00")
        res = self.world.dispatch(mode=mode, emergency=emergency, collect=False)
        self.insp: Inspection = res.inspection
        self.history: list[Any] = list(self.insp.collect_events())
        for ey in res.enterprise_years:
            ey.collect_events()
        self.accepted_evidence: list[Any] = []
        self.tasks = 1

    # ---------------------------------------------------------------- helpers
    def tick(self, minutes: int) -> datetime:
        self.now = self.now + timedelta(minutes=minutes)
        return self.now

    def attempt(self, fn: Any) -> bool:
        before = self.insp.version
        try:
            fn()
        except DomainError:
            assert self.insp.pending_events == [], "a refused command left pending events"
            assert self.insp.version == before
            return False
        new = self.insp.collect_events()
        assert new, "an accepted command appended nothing"
        self.history.extend(new)
        for e in new:
            if isinstance(e, Inspection.EvidenceLogged):
                self.accepted_evidence.append(e)
        return True

    def certs(self, names: list[str]) -> tuple[Any, ...]:
        return self.world.certs(self.now, *names) if names else ()

    # ---------------------------------------------------------------- rules
    @rule(approver=st.sampled_from([HEAD, "p1"]), minutes=st.integers(0, 600))
    def approve(self, approver: str, minutes: int) -> None:
        at = self.tick(minutes)
        self.attempt(lambda: approve_dispatch(self.insp, self.world.agency, approver=approver, at=at))

    @rule(mode=st.sampled_from(["on_site", "off_site"]), minutes=st.integers(0, 600))
    def change_mode(self, mode: str, minutes: int) -> None:
        at = self.tick(minutes)
        self.attempt(lambda: self.insp.change_mode(mode=mode, reason="r", approved_by=HEAD, at=at, actor="p1"))

    @rule(scan_ok=st.booleans(), minutes=st.integers(0, 600))
    def arrive(self, scan_ok: bool, minutes: int) -> None:
        at = self.tick(minutes)
        scan = {"code_id": "QR", "uscc": ENT if scan_ok else "91230500MA1B3N1N2M", "scanned_at": 1}
        self.attempt(lambda: self.insp.arrive(scan=scan, location="x", at=at, actor="p1"))

    @rule(cert=st.sampled_from(CERTS), minutes=st.integers(0, 60))
    def show_certificate(self, cert: str, minutes: int) -> None:
        at = self.tick(minutes)
        (c,) = self.world.certs(at, cert)
        self.attempt(lambda: self.insp.show_certificate(cert=c, at=at, actor=c.person_id))

    @rule(officers=st.lists(st.sampled_from(CERTS), max_size=3), source=st.sampled_from(["on_site", "data_sharing"]),
          kind=st.sampled_from(["书证", "视听资料", "传闻"]), lawful=st.booleans(), minutes=st.integers(0, 600))
    def log_evidence(self, officers: list[str], source: str, kind: str, lawful: bool, minutes: int) -> None:
        at = self.tick(minutes)
        meta = {"device_id": "d", "captured_at": 1, "maker": "p1", "purpose": "x"}
        eid = f"EV-{len(self.history)}"
        self.attempt(lambda: self.insp.log_evidence(
            evidence_id=eid, evidence_type=kind, sha256=H, size=1, media_type="x", source=source, capture=meta,
            certs=self.certs(officers), at=at, actor="p1", lawful=lawful))

    @rule(party=st.booleans(), minutes=st.integers(0, 600))
    def sign_record(self, party: bool, minutes: int) -> None:
        at = self.tick(minutes)
        self.attempt(lambda: self.insp.sign_record(record_hash=H, certs=self.certs(["C1", "C2"]),
                                                   party_signature="s" if party else None, refusal_note=None,
                                                   at=at, actor="p1"))

    @rule(result=st.sampled_from(["case_filed", "no_issue"]), minutes=st.integers(0, 600))
    def conclude(self, result: str, minutes: int) -> None:
        at = self.tick(minutes)
        self.attempt(lambda: self.insp.conclude(result=result, certs=self.certs(["C1", "C2"]), at=at, actor="p1",
                                                calendar=self.world.cal))

    @rule(minutes=st.integers(0, 6000))
    def notify(self, minutes: int) -> None:
        at = self.tick(minutes)
        self.attempt(lambda: self.insp.notify_result(recipient="m", summary_hash=H, secret=SECRET, at=at,
                                                     actor="p1"))

    @rule(minutes=st.integers(0, 600))
    def file_case(self, minutes: int) -> None:
        at = self.tick(minutes)
        self.attempt(lambda: self.insp.file_case(case_no="C", investigators=["inv"], case_class="ordinary",
                                                 requires_legal_review=True, at=at, actor="p1",
                                                 calendar=self.world.cal))

    @rule(minutes=st.integers(0, 600))
    def educate(self, minutes: int) -> None:
        at = self.tick(minutes)
        self.attempt(lambda: self.insp.record_education(summary="s", at=at, actor="p1"))

    @rule(reviewer=st.sampled_from(["r1", "p1", "inv"]), passed=st.booleans(), minutes=st.integers(0, 600))
    def review(self, reviewer: str, passed: bool, minutes: int) -> None:
        at = self.tick(minutes)
        self.attempt(lambda: self.insp.give_legal_review(
            reviewer=reviewer, draft_hash="b" * 64, result="pass" if passed else "fail",
            checklist={p: "ok" for p in REVIEW_POINTS}, first_time=False, legal_qualification=True, at=at))

    @rule(outcome=st.sampled_from(["penalty", "no_penalty_minor", "referral"]), n_refs=st.integers(0, 3),
          minutes=st.integers(0, 6000))
    def decide(self, outcome: str, n_refs: int, minutes: int) -> None:
        at = self.tick(minutes)
        refs = [e.evidence_id for e in self.accepted_evidence][-n_refs:] if n_refs else []
        penalty = outcome == "penalty"
        self.attempt(lambda: self.world.decide(
            self.insp, at=at, outcome=outcome, evidence_refs=refs, penalty_kinds=["罚款"] if penalty else [],
            fine_fen=200_000 if penalty else 0))

    @rule(minutes=st.integers(0, 6000))
    def serve(self, minutes: int) -> None:
        at = self.tick(minutes)
        self.attempt(lambda: self.world.serve(self.insp, at=at))

    @rule(minutes=st.integers(0, 6000), leak=st.booleans())
    def publish(self, minutes: int, leak: bool) -> None:
        at = self.tick(minutes)
        redactions = {} if leak else REDACTIONS
        public = SERVED_DOC if leak else PUBLIC_DOC
        self.attempt(lambda: self.world.publish(self.insp, at=at, redaction_map=redactions,
                                                content_hash=content_hash(public)))

    @rule(kind=st.sampled_from(["revoked", "confirmed_void", "changed"]), minutes=st.integers(0, 6000))
    def alter(self, kind: str, minutes: int) -> None:
        at = self.tick(minutes)
        self.attempt(lambda: self.insp.alter_decision(
            kind=kind, reason="r", basis_ref="b", at=at, actor=HEAD, calendar=self.world.cal,
            new_draft_hash="c" * 64 if kind == "changed" else None))

    @rule(minutes=st.integers(0, 6000))
    def withdraw(self, minutes: int) -> None:
        at = self.tick(minutes)
        self.attempt(lambda: self.insp.withdraw_publication(reason_text="撤回", at=at, actor="p"))

    @rule(minutes=st.integers(1, 600))
    def backwards_in_time_is_refused(self, minutes: int) -> None:
        at = self.insp.modified_on - timedelta(minutes=minutes)
        assert not self.attempt(lambda: self.insp.record_education(summary="s", at=at, actor="p1"))

    @rule(minutes=st.integers(0, 600))
    def revoke_c2(self, minutes: int) -> None:
        at = self.tick(minutes)
        self.world.officers["C2"].change_status(status="revoked", effective_at=at, reason="r", at=at, actor="r")

    @rule(minutes=st.integers(0, 600))
    def dispatch_another(self, minutes: int) -> None:
        at = self.tick(minutes)
        self.tasks += 1
        try:
            self.world.dispatch(task_no=f"T-{self.tasks}", at=at)
        except DomainError as e:
            assert e.code in {"E_FREQUENCY_CAP", "E_CERT_INVALID", "E_OFFICER_COUNT"}

    def next_step(self, at: datetime, alteration: str) -> Any:  # noqa: C901, PLR0911
        """The next lawful step of the happy path (so random runs reach the late phases)."""
        insp, w = self.insp, self.world
        on_site = insp.mode == "on_site"
        if AGENCY not in insp.approvals:
            return lambda: approve_dispatch(insp, w.agency, approver=HEAD, at=at)
        if insp.conclusion is None:
            if on_site and insp.arrival is None:
                return lambda: insp.arrive(scan={"code_id": "Q", "uscc": ENT, "scanned_at": 1}, location="x",
                                           at=at, actor="p1")
            missing = [c for c in ("C1", "C2") if on_site and c not in insp.certs_shown]
            if missing:
                (cert,) = w.certs(at, missing[0])
                return lambda: insp.show_certificate(cert=cert, at=at, actor=cert.person_id)
            if not insp.evidence:
                src = "on_site" if on_site else "document_review"
                return lambda: w.log(insp, f"EV-{len(self.history)}", at=at, source=src)
            if on_site and insp.record is None:
                return lambda: insp.sign_record(record_hash=H, certs=w.certs(at), party_signature="s",
                                                refusal_note=None, at=at, actor="p1")
            return lambda: insp.conclude(result="case_filed", certs=w.certs(at), at=at, actor="p1", calendar=w.cal)
        if insp.notified is None:
            return lambda: insp.notify_result(recipient="m", summary_hash=H, secret=SECRET, at=at, actor="p1")
        if insp.case is None:
            return lambda: insp.file_case(case_no="C", investigators=["inv"], case_class="ordinary",
                                          requires_legal_review=True, at=at, actor="p1", calendar=w.cal)
        if not insp.educated:
            return lambda: insp.record_education(summary="s", at=at, actor="p1")
        if insp.decision is None:
            if not insp.reviews or insp.reviews[-1]["result"] != "pass" or insp.reviews[-1]["draft_hash"] != "b" * 64:
                return lambda: w.review(insp, at=at)
            refs = [k for k, v in insp.evidence.items() if v["admissible"]]
            return lambda: w.decide(insp, at=at, evidence_refs=refs)
        d = insp.decision
        if d["status"] in {"in_force", "changed"} and not any(
            s["decision_version"] == d["version"] for s in insp.services
        ):
            doc = SERVED_DOC if d["version"] == 1 else {**SERVED_DOC, "v": str(d["version"])}
            return lambda: w.serve(insp, at=at, document_hash=content_hash(doc))
        pub = insp.publication
        if pub is None or (pub["status"] == "withdrawn" and pub["decision_version"] != d["version"]):
            doc = SERVED_DOC if d["version"] == 1 else {**SERVED_DOC, "v": str(d["version"])}
            public = {k: v for k, v in doc.items() if k not in REDACTIONS}
            return lambda: w.publish(insp, at=at, served_document=doc, content_hash=content_hash(public))
        if any(not a["withdrawn"] for a in insp.alterations):
            return lambda: insp.withdraw_publication(reason_text="撤回", at=at, actor="p")
        return lambda: insp.alter_decision(kind=alteration, reason="r", basis_ref="b", at=at, actor=HEAD,
                                           calendar=w.cal,
                                           new_draft_hash="c" * 64 if alteration == "changed" else None)

    @rule(minutes=st.integers(0, 3000), alteration=st.sampled_from(["revoked", "changed", "confirmed_illegal"]))
    def advance(self, minutes: int, alteration: str) -> None:
        at = self.tick(minutes)
        self.attempt(self.next_step(at, alteration))

    @rule(minutes=st.integers(0, 120))
    def advance_quickly(self, minutes: int) -> None:
        at = self.tick(minutes)
        self.attempt(self.next_step(at, "changed"))

    @rule(minutes=st.integers(0, 120))
    def advance_again(self, minutes: int) -> None:
        at = self.tick(minutes)
        self.attempt(self.next_step(at, "revoked"))

    # ---------------------------------------------------------------- invariants
    @invariant()
    def the_rules_hold(self) -> None:
        insp = self.insp
        if insp.arrival is not None:
            assert insp.mode == "on_site"  # R18
        for e in self.accepted_evidence:
            assert len(set(e.officers)) >= 2  # R6
            assert e.evidence_type in {"书证", "视听资料"}  # R22
        if insp.decision is not None:
            for ref in insp.decision["evidence_refs"]:  # R29, R23
                ev = insp.evidence[ref]
                assert not ev["post_decision"] and ev["admissible"]
                assert ev["logged_at"] < insp.decision["decided_at"]
        if insp.publication is not None:
            assert insp.decision["publishable"]
        if insp.reviews:
            assert insp.case is not None
        assert self.world.years[AGENCY].ytd <= 2  # R12 (cap 2 for food/B)

    @invariant()
    def replay_reproduces_the_state(self) -> None:
        assert replay(self.history) == self.insp


LifecycleMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestLifecycle = LifecycleMachine.TestCase
