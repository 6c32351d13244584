"""The case: R30 decision period, R36–R38 legal review, R37 roles, R40–R42 decision,
R45/R46/R50 service, R48/R49 publication, R51 withdrawal, R52 correction."""

from __future__ import annotations

import pytest
from enforcement_world import (
    HEAD,
    PUBLIC_DOC,
    SERVED_DOC,
    FakeCalendar,
    T,
    World,
    assert_refused,
)

from domain.base import content_hash
from domain.calendar import require_due
from domain.errors import CalendarUnavailable
from domain.inspection import REVIEW_POINTS, Inspection
from domain.services import resolve_benchmark


def test_filing_a_case_records_the_90_natural_day_deadline_with_its_calendar(world: World) -> None:
    insp = world.given("filed")
    assert insp.case["decision_due"] == {"start": "2025-09-03", "due": "2025-12-02", "days": 90,
                                         "unit": "natural_days", "calendar_version": "chinesecalendar-1.11.0"}


def test_a_case_cannot_be_filed_from_an_inspection_without_that_result(world: World) -> None:
    insp = world.given("notified", result="no_issue")
    assert_refused("E_OUT_OF_ORDER", lambda: insp.file_case(
        case_no="C", investigators=["p1"], case_class="ordinary", requires_legal_review=False,
        at=T("2025-09-03 09:00"), actor="p1", calendar=world.cal), insp)


def test_a_reviewer_who_is_also_the_case_officer_is_refused(world: World) -> None:
    insp = world.given("educated")
    assert_refused("E_ROLE_CONFLICT", lambda: world.review(insp, at=T("2025-09-20 09:00"), reviewer="p1"), insp)


def test_a_reviewer_who_is_an_investigator_is_refused(world: World) -> None:
    insp = world.given("notified")
    insp.file_case(case_no="C", investigators=["inv-9"], case_class="ordinary", requires_legal_review=True,
                   at=T("2025-09-03 09:00"), actor="p1", calendar=world.cal)
    insp.collect_events()
    assert_refused("E_ROLE_CONFLICT", lambda: world.review(insp, at=T("2025-09-20 09:00"), reviewer="inv-9"), insp)


def test_a_review_missing_a_checklist_point_is_refused(world: World) -> None:
    insp = world.given("educated")
    partial = dict.fromkeys(REVIEW_POINTS[:-1], "ok")
    assert_refused("E_REVIEW_INCOMPLETE", lambda: world.review(insp, at=T("2025-09-20 09:00"), checklist=partial),
                   insp)


def test_a_first_time_reviewer_without_qualification_is_refused(world: World) -> None:
    insp = world.given("educated")
    assert_refused("E_REVIEWER_UNQUALIFIED", lambda: insp.give_legal_review(
        reviewer="r2", draft_hash="b" * 64, result="pass", checklist=dict.fromkeys(REVIEW_POINTS, "ok"),
        first_time=True, legal_qualification=False, at=T("2025-09-20 09:00")), insp)


def test_a_decision_without_the_required_legal_review_is_refused(world: World) -> None:
    insp = world.given("educated")
    assert_refused("E_NO_LEGAL_REVIEW", lambda: world.decide(insp, at=T("2025-09-26 10:00")), insp)


def test_a_decision_on_a_different_draft_than_reviewed_is_refused(world: World) -> None:
    insp = world.given("reviewed")
    assert_refused("E_REVIEW_NOT_PASSED", lambda: world.decide(insp, at=T("2025-09-26 10:00"), draft_hash="c" * 64),
                   insp)


def test_a_decision_after_a_failed_review_is_refused(world: World) -> None:
    insp = world.given("educated")
    world.review(insp, at=T("2025-09-20 09:00"), result="fail")
    insp.collect_events()
    assert_refused("E_REVIEW_NOT_PASSED", lambda: world.decide(insp, at=T("2025-09-26 10:00")), insp)


def test_a_decision_by_a_case_officer_role_is_refused(world: World) -> None:
    insp = world.given("reviewed")
    assert_refused("E_DECIDER_ROLE", lambda: world.decide(insp, at=T("2025-09-26 10:00"), decider="p1",
                                                          decider_role="case_officer"), insp)


def test_a_decision_outcome_outside_the_four_is_refused(world: World) -> None:
    insp = world.given("reviewed")
    assert_refused("E_OUTCOME_INVALID", lambda: world.decide(insp, at=T("2025-09-26 10:00"), outcome="settled"), insp)


def test_a_penalty_without_a_published_benchmark_is_refused(world: World) -> None:
    insp = world.given("reviewed")
    assert_refused("E_NO_BENCHMARK", lambda: world.decide(insp, at=T("2025-09-26 10:00"), benchmark=None), insp)
    assert resolve_benchmark(world.benchmarks, "B1", T("2024-12-01 09:00")) is None  # not yet published
    assert resolve_benchmark(world.benchmarks, "NOPE", T("2025-09-26 10:00")) is None


def test_no_penalty_without_education_is_refused(world: World) -> None:
    insp = world.given("notified")
    insp.file_case(case_no="C", investigators=["p1"], case_class="ordinary", requires_legal_review=False,
                   at=T("2025-09-03 09:00"), actor="p1", calendar=world.cal)
    insp.collect_events()
    assert_refused("E_NO_EDUCATION", lambda: world.decide(insp, at=T("2025-09-26 10:00"), outcome="no_penalty_minor",
                                                          penalty_kinds=[], fine_fen=0, benchmark=None), insp)
    insp.record_education(summary="教育", at=T("2025-09-26 10:00"), actor="p1")
    world.decide(insp, at=T("2025-09-26 10:00"), outcome="no_penalty_minor", penalty_kinds=[], fine_fen=0,
                 benchmark=None)
    assert insp.decision["publishable"] is False
    assert insp.decision["publication_due"] is None


def test_penalising_a_no_penalty_listed_first_violation_needs_a_justification_and_is_flagged(world: World) -> None:
    insp = world.given("reviewed", assignments=[world.assignment(items=("I4",))])
    assert_refused("E_DECISION_INCOMPLETE", lambda: world.decide(insp, at=T("2025-09-26 10:00"),
                                                                 no_penalty_conditions=True), insp)
    world.decide(insp, at=T("2025-09-26 10:00"), no_penalty_conditions=True, justification="造成危害后果")
    assert insp.pending_events[-1].flags == ("W_NO_PENALTY_LIST",)


def test_a_decision_relying_on_inadmissible_evidence_is_refused(world: World) -> None:
    insp = world.given("reviewed")
    world.log(insp, "EV-BAD", at=T("2025-09-21 10:40"), lawful=False)
    insp.collect_events()
    assert insp.evidence["EV-BAD"]["admissible"] is False
    assert_refused("E_INADMISSIBLE_EVIDENCE", lambda: world.decide(insp, at=T("2025-09-26 10:00"),
                                                                   evidence_refs=["EV-1", "EV-BAD"]), insp)


def test_a_decision_citing_unknown_evidence_is_refused(world: World) -> None:
    insp = world.given("reviewed")
    assert_refused("E_UNKNOWN_EVIDENCE", lambda: world.decide(insp, at=T("2025-09-26 10:00"),
                                                              evidence_refs=["EV-NONE"]), insp)


def test_a_decision_after_90_days_is_appended_and_flagged(world: World) -> None:
    insp = world.given("reviewed")
    world.decide(insp, at=T("2025-12-03 10:00"))
    assert "V_DECISION_OVERDUE" in insp.pending_events[-1].flags


def test_the_decision_records_service_and_publication_deadlines_across_national_day(world: World) -> None:
    insp = world.given("decided")
    assert insp.decision["publication_due"]["due"] == "2025-10-13"
    assert insp.decision["service_due"]["due"] == "2025-10-13"


def test_the_publication_deadline_across_spring_festival(world: World) -> None:
    insp = world.given("reviewed")
    world.decide(insp, at=T("2026-02-12 10:00"))
    assert insp.decision["publication_due"]["due"] == "2026-02-28"
    insp2 = World().given("reviewed")
    World.decide(world, insp2, at=T("2026-02-12 10:00"), regime="other_decision")
    assert insp2.decision["publication_due"]["due"] == "2026-03-18"


def test_a_decision_whose_deadlines_fall_outside_the_calendar_is_recorded_with_them_pending(world: World) -> None:
    insp = world.given("reviewed")
    world.decide(insp, at=T("2026-12-28 10:00"))
    for key in ("service_due", "publication_due"):
        record = insp.decision[key]
        assert record["due"] is None
        assert record["missing_year"] == 2027
        assert record["flag"] == "W_CALENDAR_PENDING"
        assert record["calendar_version"] is None
        assert record["start"] == "2026-12-28"
    assert insp.decision["service_due"]["days"] == 7


def test_a_rule_that_decides_whether_a_step_is_allowed_still_fails_closed_naming_the_year() -> None:
    fake = FakeCalendar(years=range(2025, 2026))
    with pytest.raises(CalendarUnavailable) as info:
        require_due({"start": "2025-12-29", "due": None, "days": 7, "unit": "working_days",
                     "calendar_version": None, "missing_year": 2026, "flag": "W_CALENDAR_PENDING"}, fake)
    assert info.value.code == "E_CALENDAR_UNAVAILABLE"
    assert "2026" in str(info.value)


def test_electronic_service_without_consent_is_refused(world: World) -> None:
    insp = world.given("decided")
    assert_refused("E_ESERVICE_NO_CONSENT", lambda: world.serve(insp, at=T("2025-09-26 15:00"), method="electronic"),
                   insp)
    world.serve(insp, at=T("2025-09-26 15:00"), method="electronic", consent_ref="同意书-1")


def test_service_without_the_publication_notice_is_refused(world: World) -> None:
    insp = world.given("decided")
    assert_refused("E_NO_PUBLICATION_NOTICE", lambda: world.serve(insp, at=T("2025-09-26 15:00"),
                                                                  publication_notice=False), insp)


def test_service_without_the_three_documents_is_flagged_when_the_policy_is_on(world: World) -> None:
    insp = world.given("decided")
    world.serve(insp, at=T("2025-09-26 15:00"), sanshu_policy=True)
    assert insp.pending_events[-1].flags == ("W_SANSHU",)
    insp = world.given("decided", task_no="T-2")
    world.serve(insp, at=T("2025-09-26 15:00"), sanshu_policy=True,
                documents=["行政处罚决定书", "信用修复告知书", "行政合规建议书"])
    assert insp.pending_events[-1].flags == ()


def test_late_service_is_appended_and_flagged(world: World) -> None:
    insp = world.given("decided")
    world.serve(insp, at=T("2025-10-14 09:00"))
    assert insp.pending_events[-1].flags == ("V_SERVICE_OVERDUE",)


def test_service_before_the_decision_is_refused(world: World) -> None:
    insp = world.given("reviewed")
    assert_refused("E_OUT_OF_ORDER", lambda: world.serve(insp, at=T("2025-09-26 15:00")), insp)


def test_publication_before_service_is_refused(world: World) -> None:
    insp = world.given("decided")
    assert_refused("E_OUT_OF_ORDER", lambda: world.publish(insp, at=T("2025-09-29 10:00")), insp)


def test_publication_records_the_redaction_map_and_never_public_fields(world: World) -> None:
    insp = world.given("published" )
    event = world.history[-1]
    assert isinstance(event, Inspection.Published)
    assert "cf_fr_zjhm" not in event.content
    assert event.redaction_map == {"cf_fr_zjhm": "personal information (OGI art. 15)"}
    assert event.content_hash == content_hash(PUBLIC_DOC)
    assert event.flags == ()
    assert insp.publication["status"] == "published"


def test_publishing_an_id_number_is_refused(world: World) -> None:
    insp = world.given("served")
    assert_refused("E_REDACTION", lambda: world.publish(insp, at=T("2025-09-29 10:00"), redaction_map={},
                                                        content_hash=content_hash(SERVED_DOC)), insp)


def test_publishing_a_document_other_than_the_served_one_is_refused(world: World) -> None:
    insp = world.given("served")
    other = {**SERVED_DOC, "cf_sy": "改写的事实"}
    assert_refused("E_REDACTION", lambda: world.publish(insp, at=T("2025-09-29 10:00"), served_document=other), insp)


def test_publishing_with_a_wrong_content_hash_or_unsigned_map_is_refused(world: World) -> None:
    insp = world.given("served")
    assert_refused("E_REDACTION", lambda: world.publish(insp, at=T("2025-09-29 10:00"), content_hash="sha256:00"),
                   insp)
    assert_refused("E_REDACTION", lambda: world.publish(insp, at=T("2025-09-29 10:00"), redaction_reviewer=""), insp)


def test_late_publication_is_appended_and_flagged(world: World) -> None:
    insp = world.given("served")
    world.publish(insp, at=T("2025-10-14 09:00"))
    assert insp.pending_events[-1].flags == ("V_PUBLICATION_OVERDUE",)


def test_a_warning_only_penalty_under_samr_is_not_publishable(world: World) -> None:
    insp = world.given("reviewed")
    world.decide(insp, at=T("2025-09-26 10:00"), regime="samr_same_province", penalty_kinds=["警告"], fine_fen=0)
    world.serve(insp, at=T("2025-09-26 15:00"), publication_notice=False)
    assert_refused("E_NOT_PUBLISHABLE", lambda: world.publish(insp, at=T("2025-09-29 10:00")), insp)


def test_revocation_after_publication_requires_withdrawal_within_3_working_days(world: World) -> None:
    insp = world.given("published")
    insp.alter_decision(kind="revoked", reason="复议撤销", basis_ref="复议决定书-1", at=T("2025-09-30 10:00"),
                        actor=HEAD, calendar=world.cal)
    assert insp.alterations[-1]["withdrawal_due"]["due"] == "2025-10-11"  # an adjusted Saturday
    insp.withdraw_publication(reason_text="该决定已被复议机关撤销", at=T("2025-10-11 16:00"), actor="publisher")
    assert insp.pending_events[-1].flags == ()
    assert insp.publication["status"] == "withdrawn"
    insp.collect_events()
    assert_refused("E_NOT_PUBLISHABLE", lambda: world.publish(insp, at=T("2025-10-12 10:00")), insp)


def test_a_late_withdrawal_is_appended_and_flagged(world: World) -> None:
    insp = world.given("published")
    insp.alter_decision(kind="confirmed_illegal", reason="判决确认违法", basis_ref="判决书-1",
                        at=T("2025-09-30 10:00"), actor=HEAD, calendar=world.cal)
    insp.withdraw_publication(reason_text="经判决确认违法", at=T("2025-10-13 09:00"), actor="publisher")
    assert insp.pending_events[-1].flags == ("V_WITHDRAWAL_OVERDUE",)


def test_a_withdrawal_needs_a_cause_and_a_public_reason(world: World) -> None:
    insp = world.given("published")
    assert_refused("E_OUT_OF_ORDER", lambda: insp.withdraw_publication(reason_text="r", at=T("2025-09-30 10:00"),
                                                                       actor="x"), insp)
    insp.alter_decision(kind="confirmed_void", reason="无效", basis_ref="判决书-2", at=T("2025-09-30 10:00"),
                        actor=HEAD, calendar=world.cal)
    insp.collect_events()
    assert_refused("E_REASON_REQUIRED", lambda: insp.withdraw_publication(reason_text=" ", at=T("2025-09-30 11:00"),
                                                                          actor="x"), insp)


def test_a_changed_decision_is_withdrawn_then_served_and_published_again(world: World) -> None:
    insp = world.given("published")
    insp.alter_decision(kind="changed", reason="变更罚款数额", basis_ref="变更决定-1", at=T("2025-09-30 10:00"),
                        actor=HEAD, calendar=world.cal, new_draft_hash="c" * 64)
    assert insp.decision["version"] == 2
    assert insp.decision["publication_due"]["due"] == "2025-10-16"
    insp.collect_events()
    assert_refused("E_OUT_OF_ORDER", lambda: world.publish(insp, at=T("2025-10-09 10:00")), insp)
    insp.withdraw_publication(reason_text="决定已变更", at=T("2025-10-09 10:00"), actor="p")
    changed = {**SERVED_DOC, "cf_nr_fk": "罚款人民币壹仟元"}
    world.serve(insp, at=T("2025-10-09 11:00"), document_hash=content_hash(changed))
    world.publish(insp, at=T("2025-10-09 12:00"), served_document=changed,
                  content_hash=content_hash({k: v for k, v in changed.items() if k != "cf_fr_zjhm"}))
    assert insp.publication == {**insp.publication, "status": "published", "decision_version": 2}


def test_altering_a_revoked_decision_again_is_refused(world: World) -> None:
    insp = world.given("decided")
    insp.alter_decision(kind="revoked", reason="r", basis_ref="b", at=T("2025-09-27 10:00"), actor=HEAD,
                        calendar=world.cal)
    assert insp.alterations[-1]["withdrawal_due"] is None  # nothing was published
    insp.collect_events()
    assert_refused("E_OUT_OF_ORDER", lambda: insp.alter_decision(kind="revoked", reason="r", basis_ref="b",
                                                                 at=T("2025-09-28 10:00"), actor=HEAD,
                                                                 calendar=world.cal), insp)


def test_a_correction_supersedes_the_published_content_by_a_new_event(world: World) -> None:
    insp = world.given("published")
    redactions = {"cf_fr_zjhm": "personal information", "cf_xdr_mc": "trade secret (OGI art. 14)"}
    public = {k: v for k, v in SERVED_DOC.items() if k not in redactions}
    insp.correct_publication(reason="更正", served_document=SERVED_DOC, redaction_map=redactions,
                             content_hash=content_hash(public), redaction_reviewer="r1", at=T("2025-09-30 10:00"),
                             actor="publisher")
    event = insp.pending_events[-1]
    assert isinstance(event, Inspection.PublicationCorrected)
    assert event.supersedes_seq == world.history[-1].originator_version
    assert insp.publication["content_hash"] == content_hash(public)


def test_a_correction_of_nothing_published_is_refused(world: World) -> None:
    insp = world.given("served")
    assert_refused("E_OUT_OF_ORDER", lambda: insp.correct_publication(
        reason="r", served_document=SERVED_DOC, redaction_map={"cf_fr_zjhm": "pi"},
        content_hash=content_hash(PUBLIC_DOC),
        redaction_reviewer="r1", at=T("2025-09-30 10:00"), actor="p"), insp)
