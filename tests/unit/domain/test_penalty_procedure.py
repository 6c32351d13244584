"""The penalty procedure: R30 extensions, R31 time bar, R32 no double fine, R33 prior
notice, R34 no heavier penalty after a defence, R35 hearings, R39 collective discussion,
R43 the decision document, R44 simple procedure, R47 payment and surcharge."""

from __future__ import annotations

from typing import Any

from enforcement_world import (
    DECISION_DOC,
    ENT,
    FINGERPRINT,
    HEAD,
    VIOLATION,
    H,
    T,
    World,
    assert_refused,
)

from domain.inspection import Inspection
from domain.penalty import FineRegister, in_hearing_list, is_heavier, late_surcharge
from domain.services import alter_decision, decide_case


def noticed(world: World, **kw: Any) -> Inspection:
    """A filed case whose party got the penalty notice on Wed 2025-09-10 (nothing else yet)."""
    insp = world.given("educated")
    world.notice(insp, at=T("2025-09-10 09:00"), **kw)
    insp.collect_events()
    return insp


def reviewed(world: World, insp: Inspection, at: str = "2025-09-20 09:00") -> Inspection:
    world.review(insp, at=T(at))
    insp.collect_events()
    return insp


# ------------------------------------------------------------------ R33 prior notice


def test_a_penalty_without_a_prior_notice_is_refused(world: World) -> None:
    insp = reviewed(world, world.given("educated"))
    assert_refused("E_NO_PRIOR_NOTICE", lambda: world.decide(insp, at=T("2025-09-26 10:00")), insp)


def test_a_penalty_while_the_statement_period_runs_and_the_party_is_unheard_is_refused(world: World) -> None:
    insp = reviewed(world, noticed(world), at="2025-09-12 09:00")
    assert insp.notices[-1]["statement_due"]["due"] == "2025-09-17"
    assert_refused("E_NO_PRIOR_NOTICE", lambda: world.decide(insp, at=T("2025-09-17 16:00")), insp)


def test_a_penalty_after_the_statement_period_expired_unanswered_is_accepted(world: World) -> None:
    insp = reviewed(world, noticed(world), at="2025-09-12 09:00")
    world.decide(insp, at=T("2025-09-18 09:00"))
    assert insp.decision["outcome"] == "penalty"


def test_a_penalty_after_the_statement_was_heard_is_accepted_and_the_notice_is_cited(world: World) -> None:
    insp = noticed(world)
    insp.hear_statement(kind="defence", statement_hash=H, adopted=False, at=T("2025-09-11 09:00"), actor="p1")
    reviewed(world, insp, at="2025-09-12 09:00")
    world.decide(insp, at=T("2025-09-12 10:00"))
    document_event, decided = insp.pending_events[-2:]
    assert isinstance(decided, Inspection.Decided)
    assert isinstance(document_event, Inspection.DecisionDocumentIssued)
    assert document_event.notice_seq == insp.notices[-1]["seq"]


def test_an_explicit_waiver_lets_the_decision_follow_at_once(world: World) -> None:
    insp = world.given("noticed")
    reviewed(world, insp)
    world.decide(insp, at=T("2025-09-20 10:00"))


def test_a_statement_without_a_notice_is_refused(world: World) -> None:
    insp = world.given("educated")
    assert_refused("E_NO_PRIOR_NOTICE", lambda: insp.hear_statement(
        kind="statement", statement_hash=H, adopted=True, at=T("2025-09-11 09:00"), actor="p1"), insp)


# ------------------------------------------------------------------ R34 no heavier penalty after a defence


def test_a_heavier_fine_after_the_defence_is_refused(world: World) -> None:
    insp = noticed(world)
    insp.hear_statement(kind="defence", statement_hash=H, adopted=False, at=T("2025-09-11 09:00"), actor="p1")
    reviewed(world, insp, at="2025-09-12 09:00")
    assert_refused("E_HEAVIER_AFTER_DEFENCE", lambda: world.decide(insp, at=T("2025-09-12 10:00"), fine_fen=300_000),
                   insp)
    assert_refused("E_HEAVIER_AFTER_DEFENCE", lambda: world.decide(
        insp, at=T("2025-09-12 10:00"), penalty_kinds=["罚款", "没收违法所得"]), insp)


def test_a_lighter_penalty_after_the_defence_is_accepted(world: World) -> None:
    insp = noticed(world)
    insp.hear_statement(kind="defence", statement_hash=H, adopted=True, at=T("2025-09-11 09:00"), actor="p1")
    reviewed(world, insp, at="2025-09-12 09:00")
    world.decide(insp, at=T("2025-09-12 10:00"), fine_fen=150_000)


def test_a_heavier_penalty_than_notified_without_a_defence_needs_a_new_notice(world: World) -> None:
    insp = world.given("noticed")
    reviewed(world, insp)
    assert_refused("E_NO_PRIOR_NOTICE", lambda: world.decide(insp, at=T("2025-09-20 10:00"), fine_fen=400_000), insp)


def test_a_new_heavier_notice_after_the_defence_needs_new_facts(world: World) -> None:
    insp = noticed(world)
    insp.hear_statement(kind="defence", statement_hash=H, adopted=False, at=T("2025-09-11 09:00"), actor="p1")
    insp.collect_events()
    assert_refused("E_HEAVIER_AFTER_DEFENCE", lambda: world.notice(
        insp, at=T("2025-09-12 09:00"), notice_no="告-2", fine_fen=400_000), insp)
    world.notice(insp, at=T("2025-09-12 09:00"), notice_no="告-2", fine_fen=400_000, new_facts=True,
                 waive_at=T("2025-09-12 10:00"))
    reviewed(world, insp, at="2025-09-13 09:00")
    world.decide(insp, at=T("2025-09-15 10:00"), fine_fen=400_000)


def test_severity_ranks_follow_apl_article_9() -> None:
    assert is_heavier(["罚款"], 2, 0, ["罚款"], 1, 0)
    assert is_heavier(["警告", "罚款"], 1, 0, ["罚款"], 1, 0) is False  # a warning is lighter than a fine
    assert is_heavier(["罚款"], 1, 0, ["警告"], 0, 0)
    assert not is_heavier(["罚款"], 100, 0, ["吊销许可证件"], 0, 0)
    assert is_heavier(["吊销许可证件"], 0, 0, ["罚款"], 100, 0)


# ------------------------------------------------------------------ R35 hearings


def test_a_licence_revocation_notice_without_the_hearing_right_is_refused(world: World) -> None:
    insp = world.given("educated")
    assert_refused("E_HEARING_RIGHT_NOT_NOTIFIED", lambda: world.notice(
        insp, at=T("2025-09-10 09:00"), penalty_kinds=["吊销许可证件"], fine_fen=0), insp)


def test_a_large_fine_carries_the_hearing_right_by_party_kind() -> None:
    assert in_hearing_list(["罚款"], 10_000_000, 0, "organisation")
    assert not in_hearing_list(["罚款"], 9_999_999, 0, "organisation")
    assert in_hearing_list(["罚款"], 1_000_000, 0, "natural_person")
    assert in_hearing_list(["没收违法所得"], 0, 10_000_000, "organisation")


def hearing_case(world: World) -> Inspection:
    insp = noticed(world, hearing_right=True, penalty_kinds=["责令停产停业"], fine_fen=0)
    insp.request_hearing(request_ref="听证申请-1", at=T("2025-09-12 09:00"), actor="party")
    insp.collect_events()
    return insp


def test_a_hearing_requested_in_time_must_be_held_before_the_decision(world: World) -> None:
    insp = reviewed(world, hearing_case(world), at="2025-09-13 09:00")
    assert_refused("E_HEARING_NOT_HELD", lambda: world.decide(insp, at=T("2025-09-20 10:00"),
                                                              penalty_kinds=["责令停产停业"], fine_fen=0), insp)


def test_a_hearing_date_less_than_7_working_days_after_the_notice_is_refused(world: World) -> None:
    insp = hearing_case(world)
    # Notified Thu 2025-09-18: the 7th working day after is Sun 2025-09-28 (an adjusted workday).
    for too_early in ("2025-09-25", "2025-09-26"):
        assert_refused("E_HEARING_NOTICE_SHORT", lambda d=too_early: insp.schedule_hearing(
            hearing_date=d, place="听证室", host="h1", public=True, at=T("2025-09-18 09:00"), actor="p1",
            calendar=world.cal), insp)
    insp.schedule_hearing(hearing_date="2025-09-28", place="听证室", host="h1", public=True,
                          at=T("2025-09-18 09:00"), actor="p1", calendar=world.cal)
    assert insp.pending_events[-1].earliest["due"] == "2025-09-28"


def test_an_investigator_may_not_host_the_hearing(world: World) -> None:
    insp = hearing_case(world)
    for host in ("p1", "p2"):
        assert_refused("E_HEARING_HOST_IS_INVESTIGATOR", lambda h=host: insp.schedule_hearing(
            hearing_date="2025-10-10", place="听证室", host=h, public=True, at=T("2025-09-18 09:00"), actor="p1",
            calendar=world.cal), insp)


def test_a_non_public_hearing_states_its_reason(world: World) -> None:
    insp = hearing_case(world)
    assert_refused("E_REASON_REQUIRED", lambda: insp.schedule_hearing(
        hearing_date="2025-10-10", place="听证室", host="h1", public=False, at=T("2025-09-18 09:00"), actor="p1",
        calendar=world.cal), insp)
    insp.schedule_hearing(hearing_date="2025-10-10", place="听证室", host="h1", public=False,
                          nonpublic_reason="涉及商业秘密", at=T("2025-09-18 09:00"), actor="p1", calendar=world.cal)


def test_a_held_hearing_allows_the_decision_and_requires_legal_review(world: World) -> None:
    insp = hearing_case(world)
    insp.schedule_hearing(hearing_date="2025-10-10", place="听证室", host="h1", public=True,
                          at=T("2025-09-18 09:00"), actor="p1", calendar=world.cal)
    insp.collect_events()
    assert_refused("E_HEARING_NOTICE_SHORT", lambda: insp.hold_hearing(
        host="h1", record_hash=H, party_signature="s", refusal_note=None, at=T("2025-10-09 09:00"), actor="h1"), insp)
    assert_refused("E_NO_RECORD", lambda: insp.hold_hearing(
        host="h1", record_hash=H, party_signature=None, refusal_note=None, at=T("2025-10-10 09:00"), actor="h1"), insp)
    insp.hold_hearing(host="h1", record_hash=H, party_signature="当事人签字", refusal_note=None,
                      at=T("2025-10-10 09:00"), actor="h1")
    insp.collect_events()
    assert_refused("E_NO_LEGAL_REVIEW", lambda: world.decide(insp, at=T("2025-10-15 10:00"),
                                                             penalty_kinds=["责令停产停业"], fine_fen=0), insp)
    reviewed(world, insp, at="2025-10-14 09:00")
    world.decide(insp, at=T("2025-10-15 10:00"), penalty_kinds=["责令停产停业"], fine_fen=0)


def test_a_late_hearing_request_is_recorded_as_late_and_does_not_block(world: World) -> None:
    insp = noticed(world, hearing_right=True, penalty_kinds=["责令停产停业"], fine_fen=0)
    insp.request_hearing(request_ref="迟到的申请", at=T("2025-09-18 09:00"), actor="party")
    event = insp.pending_events[-1]
    assert event.late
    assert event.flags == ("W_HEARING_REQUEST_LATE",)
    insp.collect_events()
    reviewed(world, insp, at="2025-09-19 09:00")
    world.decide(insp, at=T("2025-09-22 10:00"), penalty_kinds=["责令停产停业"], fine_fen=0)


def test_a_hearing_cannot_be_requested_when_no_hearing_right_was_notified(world: World) -> None:
    insp = noticed(world)
    assert_refused("E_HEARING_RIGHT_NOT_NOTIFIED", lambda: insp.request_hearing(
        request_ref="r", at=T("2025-09-11 09:00"), actor="party"), insp)


# ------------------------------------------------------------------ R39 collective discussion


def complex_case(world: World) -> Inspection:
    insp = world.given("notified")
    insp.file_case(case_no="C-X", investigators=["p1", "p2"], case_class="major", requires_legal_review=True,
                   at=T("2025-09-03 09:00"), actor="p1", calendar=world.cal, violation=VIOLATION)
    insp.collect_events()
    world.notice(insp, at=T("2025-09-10 09:00"), waive_at=T("2025-09-11 09:00"))
    insp.collect_events()
    return reviewed(world, insp)


def test_a_major_case_without_a_collective_discussion_is_refused(world: World) -> None:
    insp = complex_case(world)
    assert_refused("E_NO_COLLECTIVE_DISCUSSION", lambda: world.decide(insp, at=T("2025-09-26 10:00"),
                                                                      decider_role="collective"), insp)


def test_a_collective_discussion_of_another_draft_does_not_count(world: World) -> None:
    insp = complex_case(world)
    insp.hold_collective_discussion(minutes_hash=H, attendees=[HEAD, "deputy-1", "deputy-2"], draft_hash="c" * 64,
                                    conclusion="同意", at=T("2025-09-22 09:00"), actor=HEAD)
    insp.collect_events()
    assert_refused("E_NO_COLLECTIVE_DISCUSSION", lambda: world.decide(insp, at=T("2025-09-26 10:00")), insp)


def test_a_major_case_decided_after_the_discussion_of_its_draft_is_accepted(world: World) -> None:
    insp = complex_case(world)
    assert_refused("E_NO_COLLECTIVE_DISCUSSION", lambda: insp.hold_collective_discussion(
        minutes_hash=H, attendees=[HEAD], draft_hash="b" * 64, conclusion="同意", at=T("2025-09-22 09:00"),
        actor=HEAD), insp)
    insp.hold_collective_discussion(minutes_hash=H, attendees=[HEAD, "deputy-1"], draft_hash="b" * 64,
                                    conclusion="同意", at=T("2025-09-22 09:00"), actor=HEAD)
    world.decide(insp, at=T("2025-09-26 10:00"), decider_role="collective")


# ------------------------------------------------------------------ R30 decision period and extensions


def test_an_approved_extension_moves_the_decision_due_date(world: World) -> None:
    insp = world.given("noticed")
    insp.approve_decision_extension(agency=world.agency.state_as_of(T("2025-11-20 09:00")), approver=HEAD,
                                    basis="案情复杂，《市场监督管理行政处罚程序规定》第六十四条",
                                    at=T("2025-11-20 09:00"),
                                    calendar=world.cal)
    assert insp.case["decision_due"]["due"] == "2026-01-04"  # 2026-01-01 is a holiday
    insp.collect_events()
    reviewed(world, insp, at="2025-12-20 09:00")
    world.decide(insp, at=T("2025-12-22 10:00"))
    assert "V_DECISION_OVERDUE" not in insp.pending_events[-1].flags


def test_a_second_extension_is_refused(world: World) -> None:
    insp = world.given("noticed")
    at = T("2025-11-20 09:00")
    insp.approve_decision_extension(agency=world.agency.state_as_of(at), approver=HEAD, basis="复杂", at=at,
                                    calendar=world.cal)
    insp.collect_events()
    at2 = T("2025-12-20 09:00")
    assert_refused("E_EXTENSION_LIMIT", lambda: insp.approve_decision_extension(
        agency=world.agency.state_as_of(at2), approver=HEAD, basis="仍然复杂", at=at2, calendar=world.cal), insp)


def test_an_extension_by_someone_other_than_the_head_longer_than_30_days_or_late_is_refused(world: World) -> None:
    insp = world.given("noticed")
    at = T("2025-11-20 09:00")
    agency = world.agency.state_as_of(at)
    assert_refused("E_DECIDER_ROLE", lambda: insp.approve_decision_extension(
        agency=agency, approver="p1", basis="b", at=at, calendar=world.cal), insp)
    assert_refused("E_EXTENSION_LIMIT", lambda: insp.approve_decision_extension(
        agency=agency, approver=HEAD, basis="b", at=at, calendar=world.cal, days=31), insp)
    late = T("2025-12-03 09:00")
    assert_refused("E_EXTENSION_LIMIT", lambda: insp.approve_decision_extension(
        agency=world.agency.state_as_of(late), approver=HEAD, basis="b", at=late, calendar=world.cal), insp)


# ------------------------------------------------------------------ R31 time bar


def test_a_violation_discovered_more_than_two_years_after_it_ended_is_time_barred(world: World) -> None:
    insp = world.given("filed")
    assert_refused("E_TIME_BARRED", lambda: insp.record_violation(
        fingerprint="9" * 64, description_hash=H, violation_end_on="2023-08-31", discovered_on="2025-09-01",
        at=T("2025-09-04 09:00"), actor="p1"), insp)


def test_a_violation_discovered_on_the_last_day_of_two_years_is_not_barred(world: World) -> None:
    insp = world.given("filed")
    insp.record_violation(fingerprint="9" * 64, description_hash=H, violation_end_on="2023-09-01",
                          discovered_on="2025-09-01", at=T("2025-09-04 09:00"), actor="p1")
    assert insp.pending_events[-1].barred_after == "2025-09-01"


def test_harm_to_life_health_or_financial_safety_extends_the_bar_to_five_years(world: World) -> None:
    insp = world.given("filed")
    insp.record_violation(fingerprint="9" * 64, description_hash=H, violation_end_on="2021-09-01",
                          discovered_on="2025-09-01", harm_kind="life_health_harm", continuing=True,
                          at=T("2025-09-04 09:00"), actor="p1")
    assert insp.pending_events[-1].limit_years == 5


def test_a_time_barred_violation_is_refused_at_filing_and_nothing_is_appended(world: World) -> None:
    insp = world.given("notified")
    barred = {**VIOLATION, "violation_end_on": "2022-01-01"}
    assert_refused("E_TIME_BARRED", lambda: insp.file_case(
        case_no="C", investigators=["p1"], case_class="ordinary", requires_legal_review=False,
        at=T("2025-09-03 09:00"), actor="p1", calendar=world.cal, violation=barred), insp)
    assert insp.case is None


def test_a_penalty_without_recorded_violation_facts_is_refused(world: World) -> None:
    insp = world.given("notified")
    insp.file_case(case_no="C", investigators=["p1"], case_class="ordinary", requires_legal_review=False,
                   at=T("2025-09-03 09:00"), actor="p1", calendar=world.cal)
    insp.collect_events()
    world.notice(insp, at=T("2025-09-10 09:00"), waive_at=T("2025-09-11 09:00"))
    insp.collect_events()
    assert_refused("E_DECISION_INCOMPLETE", lambda: world.decide(insp, at=T("2025-09-26 10:00")), insp)


# ------------------------------------------------------------------ R32 no double fine


def test_the_same_violation_cannot_be_fined_twice(world: World) -> None:
    first = world.given("reviewed")
    register = decide_case(first, None, at=T("2025-09-26 10:00"), **penalty_params(world, T("2025-09-26 10:00")))
    assert register is not None
    assert register.id == FineRegister.id_for(ENT, FINGERPRINT)
    register.collect_events()
    second = world.given("reviewed", task_no="T-2")
    assert_refused("E_DOUBLE_FINE", lambda: decide_case(second, register, at=T("2025-09-27 10:00"),
                                                        **penalty_params(world, T("2025-09-27 10:00"))),
                   second, register)


def test_a_revoked_fine_releases_the_violation(world: World) -> None:
    first = world.given("reviewed")
    register = decide_case(first, None, at=T("2025-09-26 10:00"), **penalty_params(world, T("2025-09-26 10:00")))
    assert register is not None
    first.collect_events()
    register.collect_events()
    released = alter_decision(first, register, kind="revoked", reason="复议撤销", basis_ref="复-1",
                              at=T("2025-09-27 09:00"), actor=HEAD, calendar=world.cal)
    assert released is register
    assert register.fines == {}
    second = world.given("reviewed", task_no="T-2")
    decide_case(second, register, at=T("2025-09-28 10:00"), **penalty_params(world, T("2025-09-28 10:00")))


def penalty_params(world: World, at: Any) -> dict[str, Any]:
    from domain.services import resolve_benchmark

    return {"decision_no": "罚-1", "outcome": "penalty", "draft_hash": "b" * 64, "decider": HEAD,
            "decider_role": "agency_head", "evidence_refs": ["EV-1"], "penalty_kinds": ["罚款"], "fine_fen": 200_000,
            "benchmark": resolve_benchmark(world.benchmarks, "B1", at), "document": DECISION_DOC,
            "seal_ref": "seal-1", "calendar": world.cal}


# ------------------------------------------------------------------ R43 the decision document


def test_a_decision_document_missing_an_item_or_the_seal_is_refused(world: World) -> None:
    insp = reviewed(world, world.given("noticed"))
    for item in ("party", "remedy", "agency_and_date"):
        doc = {k: v for k, v in DECISION_DOC.items() if k != item}
        assert_refused("E_DECISION_INCOMPLETE", lambda d=doc: world.decide(insp, at=T("2025-09-26 10:00"),
                                                                           document=d), insp)
    assert_refused("E_DECISION_INCOMPLETE", lambda: world.decide(insp, at=T("2025-09-26 10:00"), seal_ref=None), insp)
    assert_refused("E_DECISION_INCOMPLETE", lambda: world.decide(insp, at=T("2025-09-26 10:00"), document=None), insp)


def test_the_remedy_text_states_60_days_review_and_6_months_litigation(world: World) -> None:
    insp = reviewed(world, world.given("noticed"))
    doc = {**DECISION_DOC, "remedy": "如不服，可申请行政复议或者提起行政诉讼"}
    assert_refused("E_DECISION_INCOMPLETE", lambda: world.decide(insp, at=T("2025-09-26 10:00"), document=doc), insp)


def test_the_decision_document_is_recorded_with_its_hash_and_seal(world: World) -> None:
    insp = reviewed(world, world.given("noticed"))
    world.decide(insp, at=T("2025-09-26 10:00"))
    doc_event = next(e for e in insp.pending_events if isinstance(e, Inspection.DecisionDocumentIssued))
    assert doc_event.seal_ref
    assert doc_event.document_hash.startswith("sha256:")
    assert doc_event.violation_fingerprint == FINGERPRINT
    assert doc_event.procedure == "normal"


# ------------------------------------------------------------------ R44 simple procedure


def on_site_with_violation(world: World) -> Inspection:
    insp = world.given("recorded")
    insp.record_violation(**VIOLATION, at=T("2025-09-02 11:10"), actor="p1")
    insp.collect_events()
    return insp


def test_an_on_the_spot_fine_above_3000_yuan_for_an_organisation_is_refused(world: World) -> None:
    insp = on_site_with_violation(world)
    assert_refused("E_SIMPLE_PROCEDURE_LIMIT", lambda: world.decide(
        insp, at=T("2025-09-02 11:20"), procedure="simple", form_serial="No.0001", fine_fen=300_001), insp)
    world.decide(insp, at=T("2025-09-02 11:20"), procedure="simple", form_serial="No.0001", fine_fen=300_000)
    assert insp.decision["procedure"] == "simple"
    assert not insp.decision["publishable"]


def test_an_on_the_spot_fine_above_200_yuan_for_a_natural_person_is_refused(world: World) -> None:
    insp = on_site_with_violation(world)
    assert_refused("E_SIMPLE_PROCEDURE_LIMIT", lambda: world.decide(
        insp, at=T("2025-09-02 11:20"), procedure="simple", form_serial="No.1", party_kind="natural_person",
        fine_fen=20_001), insp)


def test_an_on_the_spot_decision_is_only_a_warning_or_fine_on_a_numbered_form(world: World) -> None:
    insp = on_site_with_violation(world)
    assert_refused("E_SIMPLE_PROCEDURE_LIMIT", lambda: world.decide(
        insp, at=T("2025-09-02 11:20"), procedure="simple", form_serial="No.1", penalty_kinds=["没收违法所得"],
        fine_fen=0), insp)
    assert_refused("E_SIMPLE_PROCEDURE_LIMIT", lambda: world.decide(
        insp, at=T("2025-09-02 11:20"), procedure="simple", form_serial=None), insp)


def test_an_on_the_spot_decision_is_filed_with_the_agency(world: World) -> None:
    insp = on_site_with_violation(world)
    world.decide(insp, at=T("2025-09-02 11:20"), procedure="simple", form_serial="No.0001")
    insp.file_simple_decision(filing_ref="备案-1", at=T("2025-09-03 09:00"), actor="p1")
    assert insp.decision["filed_with_agency"]
    insp.collect_events()
    assert_refused("E_OUT_OF_ORDER", lambda: insp.file_simple_decision(filing_ref="again", at=T("2025-09-03 10:00"),
                                                                      actor="p1"), insp)


def test_an_off_site_inspection_cannot_decide_on_the_spot(world: World) -> None:
    insp = world.given("evidence", mode="off_site")
    insp.record_violation(**VIOLATION, at=T("2025-09-02 11:10"), actor="p1")
    insp.collect_events()
    assert_refused("E_SIMPLE_PROCEDURE_LIMIT", lambda: world.decide(
        insp, at=T("2025-09-02 11:20"), procedure="simple", form_serial="No.1"), insp)


# ------------------------------------------------------------------ R47 payment


def served(world: World) -> Inspection:
    insp = world.given("served")  # served Fri 2025-09-26; 15 days → Sat 2025-10-11 (an adjusted workday)
    return insp  # noqa: RET504 - names what the helper builds


def test_a_fine_paid_on_time_has_no_surcharge(world: World) -> None:
    insp = served(world)
    insp.record_payment(amount_fen=200_000, surcharge_fen=0, receipt_ref="银行回单-1", at=T("2025-10-11 15:00"),
                        actor="bank", calendar=world.cal)
    event = insp.pending_events[-1]
    assert event.payment_due["due"] == "2025-10-11"
    assert event.days_late == 0
    assert event.flags == ()


def test_a_late_payment_carries_3_percent_per_day(world: World) -> None:
    insp = served(world)
    assert_refused("E_PAYMENT_MISMATCH", lambda: insp.record_payment(
        amount_fen=200_000, surcharge_fen=0, receipt_ref="r", at=T("2025-10-13 10:00"), actor="bank",
        calendar=world.cal), insp)
    insp.record_payment(amount_fen=200_000, surcharge_fen=12_000, receipt_ref="r", at=T("2025-10-13 10:00"),
                        actor="bank", calendar=world.cal)
    assert insp.pending_events[-1].flags == ("W_PAYMENT_LATE",)


def test_a_surcharge_above_the_fine_is_refused(world: World) -> None:
    insp = served(world)
    assert_refused("E_SURCHARGE_CAP", lambda: insp.record_payment(
        amount_fen=200_000, surcharge_fen=200_001, receipt_ref="r", at=T("2025-12-31 10:00"), actor="bank",
        calendar=world.cal), insp)
    insp.record_payment(amount_fen=200_000, surcharge_fen=200_000, receipt_ref="r", at=T("2025-12-31 10:00"),
                        actor="bank", calendar=world.cal)


def test_days_of_review_or_litigation_do_not_accrue_surcharge(world: World) -> None:
    insp = served(world)
    assert_refused("E_REASON_REQUIRED", lambda: insp.record_payment(
        amount_fen=200_000, surcharge_fen=0, receipt_ref="r", at=T("2025-10-21 10:00"), actor="bank",
        calendar=world.cal, suspended_days=10), insp)
    insp.record_payment(amount_fen=200_000, surcharge_fen=0, receipt_ref="r", at=T("2025-10-21 10:00"),
                        actor="bank", calendar=world.cal, suspended_days=10, suspension_ref="复议-1")


def test_the_surcharge_formula_caps_at_the_fine() -> None:
    assert late_surcharge(200_000, 1) == 6_000
    assert late_surcharge(200_000, 33) == 198_000
    assert late_surcharge(200_000, 34) == 200_000
    assert late_surcharge(200_000, -5) == 0


def test_payment_before_service_is_refused(world: World) -> None:
    insp = world.given("decided")
    assert_refused("E_OUT_OF_ORDER", lambda: insp.record_payment(
        amount_fen=200_000, surcharge_fen=0, receipt_ref="r", at=T("2025-09-26 12:00"), actor="bank",
        calendar=world.cal), insp)


# ------------------------------------------------------------------ R8 recusal


def test_a_granted_recusal_bars_the_person_from_acting_on_the_case(world: World) -> None:
    insp = world.given("shown")
    insp.request_recusal(person_id="p2", requested_by="party", reason="与当事人有亲属关系", at=T("2025-09-02 10:10"),
                         actor="party")
    insp.collect_events()
    world.log(insp, "EV-1", at=T("2025-09-02 10:20"))  # pending: the investigation goes on
    insp.collect_events()
    at = T("2025-09-02 10:25")
    insp.decide_recusal(person_id="p2", granted=True, reason="存在利害关系", decider=HEAD,
                        agency=world.agency.state_as_of(at), at=at)
    insp.collect_events()
    assert_refused("E_RECUSED_ACTOR", lambda: world.log(insp, "EV-2", at=T("2025-09-02 10:30")), insp)
    assert_refused("E_RECUSED_ACTOR", lambda: insp.sign_record(
        record_hash=H, certs=world.certs(T("2025-09-02 11:00")), party_signature="s", refusal_note=None,
        at=T("2025-09-02 11:00"), actor="p1"), insp)


def test_a_recusal_is_decided_by_the_agency_head_only(world: World) -> None:
    insp = world.given("shown")
    insp.request_recusal(person_id="p2", requested_by="party", reason="r", at=T("2025-09-02 10:10"), actor="party")
    insp.collect_events()
    at = T("2025-09-02 10:25")
    assert_refused("E_DECIDER_ROLE", lambda: insp.decide_recusal(
        person_id="p2", granted=True, reason="r", decider="p1", agency=world.agency.state_as_of(at), at=at), insp)


def test_a_recused_person_cannot_review_or_host_a_hearing(world: World) -> None:
    insp = hearing_case(world)
    insp.request_recusal(person_id="h1", requested_by="party", reason="r", at=T("2025-09-13 09:00"), actor="party")
    at = T("2025-09-13 10:00")
    insp.decide_recusal(person_id="h1", granted=True, reason="r", decider=HEAD, agency=world.agency.state_as_of(at),
                        at=at)
    insp.collect_events()
    assert_refused("E_RECUSED_ACTOR", lambda: insp.schedule_hearing(
        hearing_date="2025-10-10", place="p", host="h1", public=True, at=T("2025-09-18 09:00"), actor="p1",
        calendar=world.cal), insp)
    assert_refused("E_RECUSED_ACTOR", lambda: world.review(insp, at=T("2025-09-18 09:00"), reviewer="h1"), insp)


def test_a_refused_recusal_leaves_the_person_acting(world: World) -> None:
    insp = world.given("shown")
    insp.request_recusal(person_id="p2", requested_by="self", reason="r", at=T("2025-09-02 10:10"), actor="p2")
    at = T("2025-09-02 10:25")
    insp.decide_recusal(person_id="p2", granted=False, reason="无利害关系", decider=HEAD,
                        agency=world.agency.state_as_of(at), at=at)
    insp.collect_events()
    world.log(insp, "EV-1", at=T("2025-09-02 10:30"))
