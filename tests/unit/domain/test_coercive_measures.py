"""Coercive measures (查封/扣押): R3 not delegable, R25 audio-video coverage, R56 the
statutory steps and the 24-hour emergency approval, R57 documents, term and extension."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from enforcement_world import AGENCY, HEAD, REG, H, T, World, assert_refused

from domain.calendar import to_micros
from domain.coercion import CoerciveMeasure, av_gaps
from domain.inspection import Inspection
from domain.registers import Agency

START, DONE = T("2025-09-02 10:10"), T("2025-09-02 11:00")


def us(at: datetime) -> int:
    return to_micros(at)


def segments(*spans: tuple[datetime, datetime]) -> list[dict[str, Any]]:
    return [{"start_us": us(a), "end_us": us(b), "device_id": "执法记录仪-07", "sha256": H} for a, b in spans]


def params(world: World, **kw: Any) -> dict[str, Any]:
    p: dict[str, Any] = {
        "agency": world.agency.state_as_of(DONE), "measure_no": "M-1", "kind": "seize",
        "certs": world.certs(DONE), "items": [{"name": "过期食品", "quantity": 120}],
        "legal_basis": "《食品安全法》第一百一十条", "decision_doc_hash": H, "inventory_hash": "b" * 64,
        "documents_delivered": True, "party_present": True, "party_notified": True, "rights_stated": True,
        "statement_hash": "c" * 64, "record_hash": "d" * 64, "party_signature": "当事人签字", "refusal_note": None,
        "witness_signature": None, "approver": HEAD, "emergency": False, "started_at": START,
        "av_segments": segments((START, DONE)), "av_interruptions": [], "at": DONE, "actor": "p1",
        "calendar": world.cal,
    }
    p.update(kw)
    return p


def take(world: World, insp: Inspection, **kw: Any) -> CoerciveMeasure:
    cm = CoerciveMeasure.take(inspection=insp, **params(world, **kw))
    cm.collect_events()
    return cm


def test_a_seizure_with_every_statutory_step_records_its_30_day_term(world: World) -> None:
    insp = world.given("shown")
    cm = CoerciveMeasure.take(inspection=insp, **params(world))
    (event,) = cm.pending_events
    assert event.TYPE == "coercive.measure_taken.v2"
    assert event.av_tolerance == {"max_gap_us": 5_000_000, "source": None}  # the documented default (R25)
    assert event.officers == ("C1", "C2")
    assert event.term_due["due"] == "2025-10-09"
    assert event.term_due["unit"] == "natural_days"
    assert event.approval == {"approver": HEAD, "approver_role": "agency_head"}


def test_a_measure_without_prior_approval_and_no_emergency_is_refused(world: World) -> None:
    insp = world.given("shown")
    assert_refused("E_COERCIVE_PROCEDURE", lambda: take(world, insp, approver=None))
    assert_refused("E_COERCIVE_PROCEDURE", lambda: take(world, insp, approver="p1"))


def test_each_missing_statutory_step_is_refused(world: World) -> None:
    insp = world.given("shown")
    for missing in ({"party_notified": False}, {"rights_stated": False}, {"statement_hash": None},
                    {"party_signature": None}, {"party_present": False}):
        assert_refused("E_COERCIVE_PROCEDURE", lambda m=missing: take(world, insp, **m))


def test_with_the_party_absent_a_witness_signs(world: World) -> None:
    insp = world.given("shown")
    take(world, insp, party_present=False, statement_hash=None, party_signature=None, witness_signature="社区见证人")


def test_a_refusal_to_sign_is_noted_instead_of_the_signature(world: World) -> None:
    insp = world.given("shown")
    take(world, insp, party_signature=None, refusal_note="当事人拒绝签字，已注明")


def test_an_entrusted_organisation_may_not_take_coercive_measures(world: World) -> None:
    insp = world.given("shown")
    entrusted = Agency.register(agency_code=AGENCY, name="受委托组织", kind="entrusted_organisation",
                                jurisdiction=["3501"], at=T("2025-01-02 09:00"), actor=REG,
                                entrustment={"ref": "委托书-1", "published_on": "2025-01-01", "item_codes": ["I1"],
                                             "valid_until": "2026-12-31"})
    entrusted.appoint_head(head=HEAD, effective_at=T("2025-01-02 09:00"), at=T("2025-01-02 09:00"), actor=REG)
    assert_refused("E_COERCION_NOT_DELEGABLE", lambda: take(world, insp, agency=entrusted.state_as_of(DONE)))


def test_a_measure_before_the_certificates_were_shown_or_by_one_officer_is_refused(world: World) -> None:
    insp = world.given("arrived")
    assert_refused("E_CERT_NOT_SHOWN", lambda: take(world, insp))
    shown = World().given("shown")
    assert_refused("E_OFFICER_COUNT", lambda: take(world, shown, certs=world.certs(DONE, "C1")))


def test_a_measure_in_an_off_site_inspection_is_refused(world: World) -> None:
    insp = world.given("evidence", mode="off_site")
    assert_refused("E_NO_CHECKIN", lambda: take(world, insp))


# ------------------------------------------------------------------ R57 documents


def test_a_seizure_without_decision_and_inventory_delivered_on_site_is_refused(world: World) -> None:
    insp = world.given("shown")
    assert_refused("E_SEIZURE_DOCS", lambda: take(world, insp, documents_delivered=False))
    assert_refused("E_SEIZURE_DOCS", lambda: take(world, insp, inventory_hash="not-a-hash"))
    assert_refused("E_SEIZURE_DOCS", lambda: take(world, insp, items=[]))


# ------------------------------------------------------------------ R25 audio-video


def test_a_gap_in_the_audio_video_record_without_a_signed_interruption_is_refused(world: World) -> None:
    insp = world.given("shown")
    mid1, mid2 = T("2025-09-02 10:40"), T("2025-09-02 10:42")
    split = segments((START, mid1), (mid2, DONE))
    error = assert_refused("E_AV_MISSING", lambda: take(world, insp, av_segments=split))
    assert error.details["gaps"] == [[us(mid1), us(mid2)]]
    unsigned = [{"start_us": us(mid1), "end_us": us(mid2), "reason": "更换电池", "signed_by": ""}]
    assert_refused("E_AV_MISSING", lambda: take(world, insp, av_segments=split, av_interruptions=unsigned))
    signed = [{"start_us": us(mid1), "end_us": us(mid2), "reason": "更换电池", "signed_by": "C1"}]
    take(world, insp, av_segments=split, av_interruptions=signed)


def test_recording_that_starts_late_or_stops_early_is_refused(world: World) -> None:
    insp = world.given("shown")
    assert_refused("E_AV_MISSING", lambda: take(world, insp, av_segments=segments((T("2025-09-02 10:15"), DONE))))
    assert_refused("E_AV_MISSING", lambda: take(world, insp, av_segments=segments((START, T("2025-09-02 10:55")))))
    assert_refused("E_AV_MISSING", lambda: take(world, insp, av_segments=[]))


def test_gaps_within_the_tolerance_need_no_explanation() -> None:
    s = us(START)
    segs = segments((START, START + timedelta(minutes=10)),
                    (START + timedelta(minutes=10, seconds=4), START + timedelta(minutes=20)))
    assert av_gaps(s, s + 20 * 60_000_000, segs, [], 5_000_000) == []
    assert av_gaps(s, s + 20 * 60_000_000, segs, [], 3_000_000) != []


# ------------------------------------------------------------------ R56 emergency


def test_an_emergency_measure_approved_within_24_hours_is_regular(world: World) -> None:
    insp = world.given("shown")
    cm = take(world, insp, approver=None, emergency=True)
    at = DONE + timedelta(hours=23)
    cm.approve(agency=world.agency.state_as_of(at), approver=HEAD, at=at)
    assert cm.pending_events[-1].flags == ()


def test_an_emergency_measure_approved_after_24_hours_is_appended_and_flagged(world: World) -> None:
    insp = world.given("shown")
    cm = take(world, insp, approver=None, emergency=True)
    at = DONE + timedelta(hours=25)
    cm.approve(agency=world.agency.state_as_of(at), approver=HEAD, at=at)
    assert cm.pending_events[-1].flags == ("V_EMERGENCY_NOT_REGULARISED",)


def test_an_emergency_measure_never_approved_is_recorded_overdue_once(world: World) -> None:
    insp = world.given("shown")
    cm = take(world, insp, approver=None, emergency=True)
    assert_refused("E_OUT_OF_ORDER", lambda: cm.record_overdue(at=DONE + timedelta(hours=23), actor="audit"), cm)
    assert cm.record_overdue(at=DONE + timedelta(hours=25), actor="audit") == ("V_EMERGENCY_NOT_REGULARISED",)
    cm.collect_events()
    assert_refused("E_OUT_OF_ORDER", lambda: cm.record_overdue(at=DONE + timedelta(hours=26), actor="audit"), cm)


# ------------------------------------------------------------------ R57 term and extension


def test_one_extension_of_at_most_30_days_moves_the_term(world: World) -> None:
    insp = world.given("shown")
    cm = take(world, insp)
    at = T("2025-10-08 09:00")
    cm.extend(agency=world.agency.state_as_of(at), approver=HEAD, days=30, reason="情况复杂", notice_ref="延期告知书-1",
              at=at, calendar=world.cal)
    assert cm.term_due["due"] == "2025-11-10"  # 30 days after 10-09 is Sat 11-08: the period ends Monday


def test_a_second_extension_is_refused(world: World) -> None:
    insp = world.given("shown")
    cm = take(world, insp)
    at = T("2025-10-08 09:00")
    cm.extend(agency=world.agency.state_as_of(at), approver=HEAD, days=10, reason="r", notice_ref="n", at=at,
              calendar=world.cal)
    cm.collect_events()
    assert_refused("E_EXTENSION_LIMIT", lambda: cm.extend(
        agency=world.agency.state_as_of(at), approver=HEAD, days=10, reason="r", notice_ref="n2",
        at=T("2025-10-09 09:00"), calendar=world.cal), cm)


def test_an_extension_too_long_late_unapproved_or_unnotified_is_refused(world: World) -> None:
    insp = world.given("shown")
    cm = take(world, insp)
    at = T("2025-10-08 09:00")
    agency = world.agency.state_as_of(at)
    assert_refused("E_EXTENSION_LIMIT", lambda: cm.extend(agency=agency, approver=HEAD, days=31, reason="r",
                                                          notice_ref="n", at=at, calendar=world.cal), cm)
    assert_refused("E_COERCIVE_PROCEDURE", lambda: cm.extend(agency=agency, approver="p1", days=30, reason="r",
                                                             notice_ref="n", at=at, calendar=world.cal), cm)
    assert_refused("E_COERCIVE_PROCEDURE", lambda: cm.extend(agency=agency, approver=HEAD, days=30, reason="r",
                                                             notice_ref=" ", at=at, calendar=world.cal), cm)
    late = T("2025-10-10 09:00")
    assert_refused("E_EXTENSION_LIMIT", lambda: cm.extend(agency=world.agency.state_as_of(late), approver=HEAD,
                                                          days=30, reason="r", notice_ref="n", at=late,
                                                          calendar=world.cal), cm)


def test_a_stated_testing_period_does_not_count_towards_the_term(world: World) -> None:
    insp = world.given("shown")
    cm = take(world, insp)
    cm.note_testing_period(start_on="2025-09-10", end_on="2025-09-19", notice_ref="检测期间告知书",
                           at=T("2025-09-10 09:00"), actor="p1", calendar=world.cal)
    assert cm.term_due["due"] == "2025-10-20"  # 10 testing days added; Sun 10-19 rolls to Monday


def test_a_measure_ended_after_its_term_is_appended_and_flagged(world: World) -> None:
    insp = world.given("shown")
    cm = take(world, insp)
    cm.end(outcome="lifted", reason="违法事实不成立", decision_ref="解除决定书-1", at=T("2025-10-10 09:00"), actor="p1")
    assert cm.pending_events[-1].flags == ("V_SEIZURE_OVERDUE",)
    cm.collect_events()
    assert_refused("E_OUT_OF_ORDER", lambda: cm.end(outcome="lifted", reason="r", decision_ref="d",
                                                    at=T("2025-10-11 09:00"), actor="p1"), cm)


def test_a_measure_open_after_its_term_is_recorded_overdue(world: World) -> None:
    insp = world.given("shown")
    cm = take(world, insp)
    assert cm.record_overdue(at=T("2025-10-10 09:00"), actor="audit") == ("V_SEIZURE_OVERDUE",)


def test_a_measure_replays_to_the_same_state(world: World) -> None:
    from enforcement_world import replay

    insp = world.given("shown")
    cm = CoerciveMeasure.take(inspection=insp, **params(world))
    at = T("2025-10-08 09:00")
    cm.extend(agency=world.agency.state_as_of(at), approver=HEAD, days=30, reason="r", notice_ref="n", at=at,
              calendar=world.cal)
    cm.end(outcome="disposal_decided", reason="没收", decision_ref="处罚决定书", at=T("2025-10-20 09:00"), actor="p1")
    assert replay(cm.collect_events()) == cm


# ---------------------------------------------------------------- R25 tolerance from the signed list (issue 18 item 5)
def _policy(owner: str, seconds: int, at: datetime, scope: str = "") -> Any:
    from domain.reference import AV_POLICY, ReferenceList

    lst = ReferenceList.open(kind=AV_POLICY, owner=owner, scope=scope, at=at, actor=REG)
    lst.publish(entries=[{"max_gap_seconds": seconds}], at=at, actor=REG)
    return lst


def test_the_agencys_signed_tolerance_decides_the_coverage_check_and_is_recorded(world: World) -> None:
    from domain.coercion import av_tolerance_in_force

    insp = world.given("shown")
    mid = START + timedelta(minutes=20)
    gapped = segments((START, mid), (mid + timedelta(seconds=20), DONE))
    # The documented default (5 s) refuses a 20-second unexplained gap.
    assert_refused("E_AV_MISSING", lambda: take(world, insp, av_segments=gapped))
    agency_list = _policy(AGENCY, 30, T("2025-08-01 09:00"))
    province_list = _policy("national", 2, T("2025-08-01 09:00"), scope="province:35")
    tolerance, record = av_tolerance_in_force(agency_list, province_list, DONE)
    assert tolerance == timedelta(seconds=30)
    assert record["max_gap_us"] == 30_000_000
    assert (record["source"]["owner"], record["source"]["kind"], record["source"]["version"]) == (
        AGENCY, "av_policy", 1)
    cm = CoerciveMeasure.take(inspection=insp, **params(world, av_segments=gapped, av_tolerance=tolerance,
                                                       av_tolerance_record=record))
    (taken,) = cm.collect_events()
    assert taken.av_tolerance == record


def test_the_province_list_applies_when_the_agency_has_none_and_a_list_not_yet_in_force_does_not() -> None:
    from domain.coercion import DEFAULT_AV_TOLERANCE, av_tolerance_in_force

    province_list = _policy("national", 10, T("2025-08-01 09:00"), scope="province:35")
    assert av_tolerance_in_force(None, province_list, DONE)[0] == timedelta(seconds=10)
    later = _policy(AGENCY, 60, T("2025-12-01 09:00"))
    assert av_tolerance_in_force(later, None, DONE) == (DEFAULT_AV_TOLERANCE, {"max_gap_us": 5_000_000,
                                                                               "source": None})


def test_a_malformed_tolerance_list_is_refused() -> None:
    import pytest

    from domain.errors import UsageError
    from domain.reference import AV_POLICY, ReferenceList

    lst = ReferenceList.open(kind=AV_POLICY, owner=AGENCY, at=T("2025-08-01 09:00"), actor=REG)
    for entries in ([{"max_gap_seconds": -1}], [{"max_gap_seconds": 3601}], [{"max_gap_seconds": "5"}],
                    [{"max_gap_seconds": 5, "x": 1}], [{"max_gap_seconds": 5}, {"max_gap_seconds": 6}]):
        with pytest.raises(UsageError):
            lst.publish(entries=entries, at=T("2025-08-01 09:00"), actor=REG)
    assert lst.versions == ()


def test_a_recorded_tolerance_that_is_not_the_one_used_is_refused(world: World) -> None:
    insp = world.given("shown")
    assert_refused("E_AV_MISSING", lambda: take(world, insp, av_tolerance_record={"max_gap_us": 1, "source": None}))
