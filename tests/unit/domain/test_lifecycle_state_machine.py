"""Hypothesis state machine: random command sequences (valid and invalid) never reach a
state the rules forbid, refusals never leave pending events, and replaying the accepted
history always reproduces the same aggregate.

Part 2 adds the penalty procedure (notice, statement, waiver, hearing, collective
discussion, extension, payment), recusal, preservation, publication expiry and credit
repair, overdue tracking and closing, and a coercive measure on the same inspection."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from enforcement_world import (
    AGENCY,
    ENT,
    HEAD,
    PUBLIC_DOC,
    REDACTIONS,
    SECRET,
    SERVED_DOC,
    VIOLATION,
    H,
    T,
    World,
    replay,
)
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.base import content_hash
from domain.calendar import (
    add_wd,
    from_micros,
    legal_day,
    natural_day_deadline,
    parse_day,
    to_micros,
)
from domain.coercion import CoerciveMeasure
from domain.errors import DomainError
from domain.inspection import REVIEW_POINTS, Inspection
from domain.penalty import is_heavier, late_surcharge
from domain.services import approve_dispatch

CERTS = ("C1", "C2", "C3")


class LifecycleMachine(RuleBasedStateMachine):
    @initialize(mode=st.sampled_from(["on_site", "off_site"]), emergency=st.booleans(), hearing_path=st.booleans(),
                want_measure=st.booleans())
    def start(self, mode: str, emergency: bool, hearing_path: bool, want_measure: bool) -> None:
        self.hearing_path = hearing_path
        self.want_measure = want_measure
        self.world = World()
        self.now = T("2025-09-01 09:00")
        res = self.world.dispatch(mode=mode, emergency=emergency, collect=False)
        self.insp: Inspection = res.inspection
        self.history: list[Any] = list(self.insp.collect_events())
        for ey in res.enterprise_years:
            ey.collect_events()
        self.accepted_evidence: list[Any] = []
        self.tasks = 1
        self.recused: set[str] = set()
        self.measure: CoerciveMeasure | None = None
        self.measure_history: list[Any] = []

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
            # R8: after a granted recusal the person never acts on the case again.
            acting = {e.actor, *getattr(e, "officers", ()), getattr(e, "reviewer", None), getattr(e, "host", None)}
            team = self.insp.team
            acting |= {team[c]["person_id"] for c in getattr(e, "officers", ()) if c in team}
            assert not (acting & self.recused), f"{type(e).__name__} by recused {acting & self.recused}"
            if isinstance(e, Inspection.EvidenceLogged):
                self.accepted_evidence.append(e)
            if isinstance(e, Inspection.RecusalDecided) and e.granted:
                self.recused.add(e.person_id)
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

    @rule(scan_ok=st.booleans(), officers=st.lists(st.sampled_from(CERTS), min_size=1, max_size=3),
          minutes=st.integers(0, 600))
    def arrive(self, scan_ok: bool, officers: list[str], minutes: int) -> None:
        at = self.tick(minutes)
        scan = {"code_id": "QR", "uscc": ENT if scan_ok else "91230500MA1B3N1N2M", "scanned_at": 1}
        self.attempt(lambda: self.insp.arrive(scan=scan, location="x", certs=self.certs(officers), at=at,
                                              actor="p1"))

    @rule(leaving=st.lists(st.sampled_from(CERTS), max_size=2, unique=True),
          joining=st.lists(st.sampled_from(CERTS), max_size=2, unique=True),
          approver=st.sampled_from([HEAD, "p1"]), minutes=st.integers(0, 600))
    def change_team(self, leaving: list[str], joining: list[str], approver: str, minutes: int) -> None:
        """Issue 18: a team change, lawful or not, at any point of the lifecycle."""
        at = self.tick(minutes)
        staying = [c for c in self.insp.team if c not in leaving]
        self.attempt(lambda: self.insp.change_team(
            agency=self.world.agency.state_as_of(at), leaving=leaving, joining=self.certs(joining),
            staying=self.certs(staying), reason="r", approver=approver, at=at))

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

    @rule(minutes=st.integers(0, 600), facts=st.sampled_from(["ok", "none", "barred"]),
          case_class=st.sampled_from(["ordinary", "ordinary", "major"]))
    def file_case(self, minutes: int, facts: str, case_class: str) -> None:
        at = self.tick(minutes)
        violation = {"ok": VIOLATION, "none": None, "barred": {**VIOLATION, "violation_end_on": "2020-01-01"}}[facts]
        self.attempt(lambda: self.insp.file_case(case_no="C", investigators=["inv"], case_class=case_class,
                                                 requires_legal_review=True, at=at, actor="p1",
                                                 calendar=self.world.cal, violation=violation))

    @rule(minutes=st.integers(0, 600))
    def educate(self, minutes: int) -> None:
        at = self.tick(minutes)
        self.attempt(lambda: self.insp.record_education(summary="s", at=at, actor="p1"))

    @rule(reviewer=st.sampled_from(["r1", "p1", "inv"]), passed=st.booleans(), minutes=st.integers(0, 600))
    def review(self, reviewer: str, passed: bool, minutes: int) -> None:
        at = self.tick(minutes)
        self.attempt(lambda: self.insp.give_legal_review(
            reviewer=reviewer, draft_hash="b" * 64, result="pass" if passed else "fail",
            checklist=dict.fromkeys(REVIEW_POINTS, "ok"), first_time=False, legal_qualification=True, at=at))

    @rule(outcome=st.sampled_from(["penalty", "no_penalty_minor", "referral"]), n_refs=st.integers(0, 3),
          minutes=st.integers(0, 6000), fine=st.sampled_from([100_000, 200_000, 400_000]),
          procedure=st.sampled_from(["normal", "normal", "simple"]), sealed=st.booleans())
    def decide(self, outcome: str, n_refs: int, minutes: int, fine: int, procedure: str, sealed: bool) -> None:
        at = self.tick(minutes)
        refs = [e.evidence_id for e in self.accepted_evidence][-n_refs:] if n_refs else []
        penalty = outcome == "penalty"
        self.attempt(lambda: self.world.decide(
            self.insp, at=at, outcome=outcome, evidence_refs=refs, penalty_kinds=["罚款"] if penalty else [],
            fine_fen=fine if penalty else 0, procedure=procedure, form_serial="No.1",
            seal_ref="seal" if sealed else None))

    # ------------------------------------------------------------ part 2: penalty procedure
    @rule(minutes=st.integers(0, 3000), fine=st.sampled_from([150_000, 200_000, 300_000]),
          kinds=st.sampled_from([("罚款",), ("责令停产停业",)]), hearing_right=st.booleans(), new_facts=st.booleans())
    def serve_notice(self, minutes: int, fine: int, kinds: tuple[str, ...], hearing_right: bool,
                     new_facts: bool) -> None:
        at = self.tick(minutes)
        self.attempt(lambda: self.world.notice(
            self.insp, at=at, notice_no=f"告-{len(self.history)}", penalty_kinds=list(kinds),
            fine_fen=fine if "罚款" in kinds else 0, hearing_right=hearing_right, new_facts=new_facts))

    @rule(minutes=st.integers(0, 3000), kind=st.sampled_from(["statement", "defence"]))
    def hear_statement(self, minutes: int, kind: str) -> None:
        at = self.tick(minutes)
        self.attempt(lambda: self.insp.hear_statement(kind=kind, statement_hash=H, adopted=False, at=at, actor="p1"))

    @rule(minutes=st.integers(0, 3000), rights=st.sampled_from([["statement"], ["hearing"], ["statement", "hearing"]]))
    def waive(self, minutes: int, rights: list[str]) -> None:
        at = self.tick(minutes)
        self.attempt(lambda: self.insp.waive_rights(rights=rights, waiver_ref="w", at=at, actor="party"))

    @rule(minutes=st.integers(0, 6000))
    def request_hearing(self, minutes: int) -> None:
        at = self.tick(minutes)
        self.attempt(lambda: self.insp.request_hearing(request_ref="r", at=at, actor="party"))

    @rule(minutes=st.integers(0, 3000), days_ahead=st.integers(0, 20), host=st.sampled_from(["h1", "inv", "p1"]))
    def schedule_hearing(self, minutes: int, days_ahead: int, host: str) -> None:
        at = self.tick(minutes)
        day = legal_day(at).toordinal() + days_ahead
        from datetime import date

        self.attempt(lambda: self.insp.schedule_hearing(
            hearing_date=date.fromordinal(day).isoformat(), place="p", host=host, public=True, at=at, actor="p1",
            calendar=self.world.cal))

    @rule(minutes=st.integers(0, 30000))
    def hold_hearing(self, minutes: int) -> None:
        at = self.tick(minutes)
        host = self.insp.hearing["host"] if self.insp.hearing else "h1"
        self.attempt(lambda: self.insp.hold_hearing(host=host, record_hash=H, party_signature="s", refusal_note=None,
                                                    at=at, actor=host))

    @rule(minutes=st.integers(0, 600), draft=st.sampled_from(["b", "c"]))
    def collective_discussion(self, minutes: int, draft: str) -> None:
        at = self.tick(minutes)
        self.attempt(lambda: self.insp.hold_collective_discussion(
            minutes_hash=H, attendees=[HEAD, "deputy"], draft_hash=draft * 64, conclusion="同意", at=at, actor=HEAD))

    @rule(minutes=st.integers(0, 60000), days=st.sampled_from([10, 30, 31]), approver=st.sampled_from([HEAD, "p1"]))
    def extend_decision_period(self, minutes: int, days: int, approver: str) -> None:
        at = self.tick(minutes)
        self.attempt(lambda: self.insp.approve_decision_extension(
            agency=self.world.agency.state_as_of(at), approver=approver, basis="复杂", at=at,
            calendar=self.world.cal, days=days))

    @rule(minutes=st.integers(0, 30000), surcharge=st.sampled_from([0, 6_000, 12_000, 400_001]))
    def pay(self, minutes: int, surcharge: int) -> None:
        at = self.tick(minutes)
        fine = (self.insp.decision or {}).get("fine_fen", 0)
        self.attempt(lambda: self.insp.record_payment(amount_fen=fine, surcharge_fen=surcharge, receipt_ref="r",
                                                      at=at, actor="bank", calendar=self.world.cal))

    @rule(minutes=st.integers(0, 600), person=st.sampled_from(["p2", "h1", "r1", "h1"]))
    def request_recusal(self, minutes: int, person: str) -> None:
        at = self.tick(minutes)
        self.attempt(lambda: self.insp.request_recusal(person_id=person, requested_by="party", reason="r", at=at,
                                                       actor="party"))

    @rule(minutes=st.integers(0, 600), person=st.sampled_from(["p2", "h1", "r1"]), granted=st.booleans(),
          decider=st.sampled_from([HEAD, "p1"]))
    def decide_recusal(self, minutes: int, person: str, granted: bool, decider: str) -> None:
        at = self.tick(minutes)
        self.attempt(lambda: self.insp.decide_recusal(person_id=person, granted=granted, reason="r", decider=decider,
                                                      agency=self.world.agency.state_as_of(at), at=at))

    @rule(minutes=st.integers(0, 600), approver=st.sampled_from([HEAD, "p1"]))
    def preserve(self, minutes: int, approver: str) -> None:
        at = self.tick(minutes)
        ids = list(self.insp.evidence)[:1]
        self.attempt(lambda: self.insp.preserve_evidence(
            preservation_id=f"P-{len(self.history)}", evidence_ids=ids, approver=approver,
            agency=self.world.agency.state_as_of(at), at=at, actor="p1", calendar=self.world.cal))

    @rule(minutes=st.integers(0, 20000))
    def decide_preservation(self, minutes: int) -> None:
        at = self.tick(minutes)
        open_ = [k for k, v in self.insp.preservations.items() if not v["decided"]]
        pid = open_[0] if open_ else "none"
        self.attempt(lambda: self.insp.decide_preservation(preservation_id=pid, outcome="returned", reason="r",
                                                           at=at, actor="p1"))

    @rule(minutes=st.integers(0, 150000))
    def expire_or_repair(self, minutes: int) -> None:
        at = self.tick(minutes)
        conditions = {"obligations_fulfilled": True, "harm_eliminated": True, "no_repeat_violation": True,
                      "not_on_abnormal_lists": True}
        self.attempt(lambda: self.insp.approve_credit_repair(conditions=conditions, application_ref="a",
                                                             approver="信用科", at=at))
        self.attempt(lambda: self.insp.expire_publication(at=at, actor="sys"))

    @rule(minutes=st.integers(0, 20000))
    def record_overdue(self, minutes: int) -> None:
        at = self.tick(minutes)
        self.attempt(lambda: self.insp.record_overdue(at=at, actor="audit"))

    @rule(minutes=st.integers(0, 6000), execution=st.booleans())
    def close(self, minutes: int, execution: bool) -> None:
        at = self.tick(minutes)
        self.attempt(lambda: self.insp.close_case(at=at, actor="p1", execution_ref="x" if execution else None))

    @rule(minutes=st.integers(1, 120), emergency=st.booleans(), gap=st.booleans())
    def seize(self, minutes: int, emergency: bool, gap: bool) -> None:
        if self.measure is not None:
            return
        start = self.now
        at = self.tick(minutes)
        mid = to_micros(start) + (to_micros(at) - to_micros(start)) // 2
        segs = [{"start_us": to_micros(start), "end_us": mid - (60_000_000 if gap else 0), "device_id": "d",
                 "sha256": H}, {"start_us": mid, "end_us": to_micros(at), "device_id": "d", "sha256": H}]
        try:
            self.measure = CoerciveMeasure.take(
                inspection=self.insp, agency=self.world.agency.state_as_of(at), measure_no="M-1", kind="seize",
                certs=self.certs(["C1", "C2"]), items=[{"name": "x"}], legal_basis="b", decision_doc_hash=H,
                inventory_hash=H, documents_delivered=True, party_present=True, party_notified=True,
                rights_stated=True, statement_hash=H, record_hash=H, party_signature="s", refusal_note=None,
                witness_signature=None, approver=None if emergency else HEAD, emergency=emergency, started_at=start,
                av_segments=segs, av_interruptions=[], at=at, actor="p1", calendar=self.world.cal)
        except DomainError:
            return
        assert not gap
        self.measure_history.extend(self.measure.collect_events())

    @rule(minutes=st.integers(0, 60000), action=st.sampled_from(["extend", "approve", "end", "overdue"]),
          days=st.sampled_from([10, 30, 40]))
    def measure_step(self, minutes: int, action: str, days: int) -> None:
        cm = self.measure
        if cm is None:
            return
        at = self.tick(minutes)
        agency = self.world.agency.state_as_of(at)
        steps = {
            "extend": lambda: cm.extend(agency=agency, approver=HEAD, days=days, reason="r", notice_ref="n", at=at,
                                        calendar=self.world.cal),
            "approve": lambda: cm.approve(agency=agency, approver=HEAD, at=at),
            "end": lambda: cm.end(outcome="lifted", reason="r", decision_ref="d", at=at, actor="p1"),
            "overdue": lambda: cm.record_overdue(at=at, actor="audit"),
        }
        try:
            steps[action]()
        except DomainError:
            assert cm.pending_events == []
            return
        self.measure_history.extend(cm.collect_events())

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

    @rule(kind=st.sampled_from(["revoked", "confirmed_void", "changed"]), minutes=st.integers(0, 6000),
          cite=st.integers(0, 3), latest_first=st.booleans())
    def alter(self, kind: str, minutes: int, cite: int, latest_first: bool) -> None:
        """A change may name its evidence set (issue 18), post-decision evidence included at random:
        the invariant below holds that no accepted decision relies on it (R29)."""
        at = self.tick(minutes)
        refs = sorted(self.insp.evidence, key=lambda e: self.insp.evidence[e]["logged_at"],
                      reverse=latest_first)[:cite]
        self.attempt(lambda: self.insp.alter_decision(
            kind=kind, reason="r", basis_ref="b", at=at, actor=HEAD, calendar=self.world.cal,
            new_draft_hash="c" * 64 if kind == "changed" else None, evidence_refs=refs))

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
            # the clock may have run into a year without a plan, or past the calendar's data
            assert e.code in {"E_FREQUENCY_CAP", "E_CERT_INVALID", "E_OFFICER_COUNT", "E_NOT_IN_PLAN",
                              "E_CALENDAR_UNAVAILABLE"}

    def hearing_step(self, at: datetime) -> Any:
        """The hearing path of the happy path: request, schedule 7 working days on, hold."""
        insp, w = self.insp, self.world
        notice = insp.notices[-1]
        requests = [r for r in insp.responses if r["notice_seq"] == notice["seq"] and r["kind"] == "hearing_request"]
        if not requests:
            return lambda: insp.request_hearing(request_ref="r", at=at, actor="party")
        if requests[-1]["late"]:
            return None
        if insp.hearing is None:
            day = add_wd(w.cal, legal_day(at), 7)
            return lambda: insp.schedule_hearing(hearing_date=day.isoformat(), place="p", host="h1", public=True,
                                                 at=at, actor="p1", calendar=w.cal)
        if not insp.hearing["held"]:
            when = max(at, T(insp.hearing["hearing_date"] + " 09:00"))
            self.now = when
            return lambda: insp.hold_hearing(host="h1", record_hash=H, party_signature="s", refusal_note=None,
                                             at=when, actor="h1")
        return None

    def next_step(self, at: datetime, alteration: str) -> Any:
        """The next lawful step of the happy path (so random runs reach the late phases)."""
        insp, w = self.insp, self.world
        on_site = insp.mode == "on_site"
        team = sorted(insp.team)  # after a team change the new team acts (issue 18)
        if AGENCY not in insp.approvals:
            return lambda: approve_dispatch(insp, w.agency, approver=HEAD, at=at)
        if insp.conclusion is None:
            if on_site and insp.arrival is None:
                return lambda: insp.arrive(scan={"code_id": "Q", "uscc": ENT, "scanned_at": 1}, location="x",
                                           certs=w.certs(at, *team), at=at, actor="p1")
            missing = [c for c in team if on_site and c not in insp.certs_shown]
            if missing:
                (cert,) = w.certs(at, missing[0])
                return lambda: insp.show_certificate(cert=cert, at=at, actor=cert.person_id)
            if not insp.evidence:
                src = "on_site" if on_site else "document_review"
                return lambda: w.log(insp, f"EV-{len(self.history)}", at=at, source=src, certs=tuple(team))
            if on_site and insp.record is None:
                return lambda: insp.sign_record(record_hash=H, certs=w.certs(at, *team), party_signature="s",
                                                refusal_note=None, at=at, actor="p1")
            return lambda: insp.conclude(result="case_filed", certs=w.certs(at, *team), at=at, actor="p1",
                                         calendar=w.cal)
        if insp.notified is None:
            return lambda: insp.notify_result(recipient="m", summary_hash=H, secret=SECRET, at=at, actor="p1")
        if insp.case is None:
            return lambda: insp.file_case(case_no="C", investigators=["inv"], case_class="ordinary",
                                          requires_legal_review=True, at=at, actor="p1", calendar=w.cal,
                                          violation=VIOLATION)
        if not insp.educated:
            return lambda: insp.record_education(summary="s", at=at, actor="p1")
        if insp.decision is None and insp.violation is None:
            return lambda: insp.record_violation(**VIOLATION, at=at, actor="p1")
        if insp.decision is None and not insp.notices:
            heavy = {"penalty_kinds": ["责令停产停业"], "fine_fen": 0,
                     "hearing_right": True} if self.hearing_path else {}
            return lambda: w.notice(insp, at=at, **heavy)
        if insp.decision is None and insp.notices[-1]["hearing_right"] and self.hearing_path:
            step = self.hearing_step(at)
            if step is not None:
                return step
        if insp.decision is None and not any(r["kind"] == "waiver" and r["notice_seq"] == insp.notices[-1]["seq"]
                                             for r in insp.responses):
            return lambda: insp.waive_rights(rights=["statement", "hearing"], waiver_ref="w", at=at, actor="party")
        if insp.decision is None and insp.case["case_class"] != "ordinary" and not insp.discussions:
            return lambda: insp.hold_collective_discussion(minutes_hash=H, attendees=[HEAD, "deputy"],
                                                           draft_hash="b" * 64, conclusion="同意", at=at, actor=HEAD)
        if insp.decision is None:
            if not insp.reviews or insp.reviews[-1]["result"] != "pass" or insp.reviews[-1]["draft_hash"] != "b" * 64:
                return lambda: w.review(insp, at=at)
            refs = [k for k, v in insp.evidence.items() if v["admissible"]]
            notice = insp.notices[-1]
            return lambda: w.decide(insp, at=at, evidence_refs=refs, penalty_kinds=list(notice["penalty_kinds"]),
                                    fine_fen=notice["fine_fen"])
        d = insp.decision
        if d["status"] in {"in_force", "changed"} and not any(
            s["decision_version"] == d["version"] for s in insp.services
        ):
            doc = SERVED_DOC if d["version"] == 1 else {**SERVED_DOC, "v": str(d["version"])}
            return lambda: w.serve(insp, at=at, document_hash=content_hash(doc))
        pub = insp.publication
        if d["outcome"] == "penalty" and d.get("fine_fen") and not insp.payments and insp.services:
            served_day = legal_day(from_micros(insp.services[0]["at"]))
            due = natural_day_deadline(w.cal, served_day, 15).due
            surcharge = late_surcharge(d["fine_fen"], (legal_day(at) - due).days)
            return lambda: insp.record_payment(amount_fen=d["fine_fen"], surcharge_fen=surcharge, receipt_ref="r",
                                               at=at, actor="bank", calendar=w.cal)
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

    @rule(steps=st.integers(1, 12), minutes=st.integers(0, 240))
    def advance_many(self, steps: int, minutes: int) -> None:
        for _ in range(steps):
            at = self.tick(minutes)
            if not self.attempt(self.next_step(at, "changed")):
                break
            shown = {"C1", "C2"} <= set(self.insp.certs_shown)
            if self.want_measure and self.measure is None and shown and self.insp.conclusion is None:
                self.seize(minutes=30, emergency=self.insp.emergency, gap=False)

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
            assert len(set(insp.arrival["officers"])) >= 2  # R5, R6: the team present at the arrival
        assert len(insp.team) >= 2  # R6 holds after every team change (issue 18)
        for e in self.accepted_evidence:
            assert len(set(e.officers)) >= 2  # R6
            assert e.evidence_type in {"书证", "视听资料"}  # R22
        if insp.decision is not None:
            for ref in insp.decision["evidence_refs"]:  # R29, R23
                ev = insp.evidence[ref]
                assert not ev["post_decision"]
                assert ev["admissible"]
                assert ev["logged_at"] < insp.decision["decided_at"]
        if insp.publication is not None:
            assert insp.decision["publishable"]
        if insp.reviews:
            assert insp.case is not None
        assert self.world.years[AGENCY].ytd <= 2  # R12 (cap 2 for food/B)
        self.part_two_rules_hold()

    def part_two_rules_hold(self) -> None:
        insp = self.insp
        decided = [e for e in self.history if isinstance(e, Inspection.Decided)]
        if decided and decided[0].outcome == "penalty":
            doc = next(e for e in self.history if isinstance(e, Inspection.DecisionDocumentIssued))
            assert doc.seal_ref
            assert doc.violation_fingerprint
            if doc.procedure == "normal":  # R33, R34: a notice precedes, and the decision is not heavier
                notices = [e for e in self.history if isinstance(e, Inspection.PenaltyNoticeServed)
                           and e.originator_version < decided[0].originator_version]
                assert notices
                last = notices[-1]
                assert not is_heavier(decided[0].penalty_kinds, decided[0].fine_fen, 0, last.penalty_kinds,
                                      last.fine_fen, last.confiscation_fen)
            else:  # R44
                assert decided[0].fine_fen <= 300_000
                assert set(decided[0].penalty_kinds) <= {"警告", "罚款"}
        if insp.case is not None:
            assert insp.case.get("extensions", 0) <= 1  # R30
        for e in self.history:
            if isinstance(e, Inspection.HearingScheduled):  # R35
                assert parse_day(e.hearing_date) >= parse_day(e.earliest["due"])
                assert e.host not in {"inv", "p1", "p2"}
            if isinstance(e, Inspection.FinePaid):  # R47
                assert 0 <= e.surcharge_fen <= e.amount_fen
            if isinstance(e, Inspection.ViolationRecorded):  # R31
                assert parse_day(e.discovered_on) <= parse_day(e.barred_after)
            if isinstance(e, Inspection.CreditRepairApproved):  # R54
                assert legal_day(e.timestamp) >= parse_day(e.repair_min_until)
        if self.measure is not None:  # R57
            assert self.measure.extensions <= 1
            assert replay(self.measure_history) == self.measure

    @invariant()
    def replay_reproduces_the_state(self) -> None:
        assert replay(self.history) == self.insp


LifecycleMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=60, deadline=None, suppress_health_check=[HealthCheck.too_slow],
)
TestLifecycle = LifecycleMachine.TestCase
