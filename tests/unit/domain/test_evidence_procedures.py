"""Evidence procedures: R27 electronic monitoring devices and their records, R28 preserved
evidence decided within 7 working days, and the R24 closing of a case."""

from __future__ import annotations

from enforcement_world import AGENCY, HEAD, H, T, World, assert_refused

from domain.evidence import MonitoringDevice
from domain.inspection import Inspection

META = {"device_id": "CAM-1", "captured_at": 1, "maker": "系统", "purpose": "超标排放"}


def device(*, reviewed: bool = True, published: bool = True, legal_ok: bool = True) -> MonitoringDevice:
    d = MonitoringDevice.register(device_id="CAM-1", agency_code=AGENCY, kind="视频监控", location="某路口",
                                  at=T("2025-01-02 09:00"), actor="reg")
    if reviewed:
        d.review(legal_ok=legal_ok, technical_ok=True, reviewer="法制科", review_ref="审-1", at=T("2025-01-03 09:00"))
    if published:
        d.publish_location(publication_ref="公告-1", at=T("2025-01-04 09:00"), actor="reg")
    d.collect_events()
    return d


def log_device(world: World, insp: Inspection, d: MonitoringDevice | None, at: str = "2025-09-02 10:30") -> None:
    world.log(insp, "EV-D", at=T(at), source="device", evidence_type="电子数据", capture=META,
              device=d.state_as_of(T(at)) if d else None)


# ------------------------------------------------------------------ R27


def test_evidence_from_an_unreviewed_device_is_refused(world: World) -> None:
    insp = world.given("approved", mode="off_site")
    assert_refused("E_DEVICE_EVIDENCE", lambda: log_device(world, insp, device(reviewed=False)), insp)
    assert_refused("E_DEVICE_EVIDENCE", lambda: log_device(world, insp, device(legal_ok=False)), insp)


def test_evidence_from_a_device_whose_location_was_not_published_is_refused(world: World) -> None:
    insp = world.given("approved", mode="off_site")
    assert_refused("E_DEVICE_EVIDENCE", lambda: log_device(world, insp, device(published=False)), insp)
    assert_refused("E_DEVICE_EVIDENCE", lambda: log_device(world, insp, None), insp)


def test_the_device_state_is_read_as_of_the_evidence_instant(world: World) -> None:
    d = device(published=False)
    d.publish_location(publication_ref="公告-2", at=T("2025-09-03 09:00"), actor="reg")
    insp = world.given("approved", mode="off_site")
    assert_refused("E_DEVICE_EVIDENCE", lambda: log_device(world, insp, d, at="2025-09-02 10:30"), insp)
    log_device(world, insp, d, at="2025-09-03 10:30")


def test_device_evidence_supports_a_decision_only_after_its_record_review(world: World) -> None:
    insp = world.given("approved", mode="off_site")
    log_device(world, insp, device())
    insp.collect_events()
    insp.conclude(result="case_filed", certs=world.certs(T("2025-09-02 11:30")), at=T("2025-09-02 11:30"),
                  actor="p1", calendar=world.cal)
    insp.notify_result(recipient="m", summary_hash=H, secret=b"s", at=T("2025-09-02 12:00"), actor="p1")
    from enforcement_world import VIOLATION

    insp.file_case(case_no="C", investigators=["p1", "p2"], case_class="ordinary", requires_legal_review=True,
                   at=T("2025-09-03 09:00"), actor="p1", calendar=world.cal, violation=VIOLATION)
    world.notice(insp, at=T("2025-09-10 09:00"), waive_at=T("2025-09-11 09:00"))
    world.review(insp, at=T("2025-09-20 09:00"))
    insp.collect_events()
    assert_refused("E_DEVICE_EVIDENCE", lambda: world.decide(insp, at=T("2025-09-26 10:00"),
                                                             evidence_refs=["EV-D"]), insp)
    assert_refused("E_DEVICE_EVIDENCE", lambda: insp.review_device_record(
        evidence_id="EV-D", ok=True, reviewer="法制科", party_notified=False, at=T("2025-09-21 09:00")), insp)
    insp.review_device_record(evidence_id="EV-D", ok=True, reviewer="法制科", party_notified=True,
                              at=T("2025-09-21 09:00"))
    insp.collect_events()
    world.decide(insp, at=T("2025-09-26 10:00"), evidence_refs=["EV-D"])


def test_a_record_review_of_ordinary_evidence_is_refused(world: World) -> None:
    insp = world.given("evidence")
    assert_refused("E_DEVICE_EVIDENCE", lambda: insp.review_device_record(
        evidence_id="EV-1", ok=True, reviewer="r", party_notified=True, at=T("2025-09-03 09:00")), insp)


# ------------------------------------------------------------------ R28


def test_preservation_approved_by_someone_other_than_the_head_is_refused(world: World) -> None:
    insp = world.given("evidence")
    at = T("2025-09-02 10:40")
    assert_refused("E_PRESERVATION_NOT_APPROVED", lambda: insp.preserve_evidence(
        preservation_id="P-1", evidence_ids=["EV-1"], approver="p1", agency=world.agency.state_as_of(at), at=at,
        actor="p1", calendar=world.cal), insp)


def preserved(world: World) -> Inspection:
    insp = world.given("evidence")
    at = T("2025-09-26 10:40")  # Friday before National Day
    insp.preserve_evidence(preservation_id="P-1", evidence_ids=["EV-1"], approver=HEAD,
                           agency=world.agency.state_as_of(at), at=at, actor="p1", calendar=world.cal)
    return insp


def test_preservation_records_its_7_working_day_deadline_across_national_day(world: World) -> None:
    insp = preserved(world)
    event = insp.pending_events[-1]
    assert event.decision_due["due"] == "2025-10-13"
    assert event.warn_on == "2025-10-11"


def test_a_preservation_decided_after_7_working_days_is_appended_and_flagged(world: World) -> None:
    insp = preserved(world)
    insp.collect_events()
    insp.decide_preservation(preservation_id="P-1", outcome="seized", reason="依法扣押", at=T("2025-10-14 09:00"),
                             actor="p1")
    assert insp.pending_events[-1].flags == ("V_PRESERVATION_OVERDUE",)


def test_a_preservation_decided_in_time_is_not_flagged_and_only_once(world: World) -> None:
    insp = preserved(world)
    insp.decide_preservation(preservation_id="P-1", outcome="returned", reason="退还", at=T("2025-10-13 17:00"),
                             actor="p1")
    assert insp.pending_events[-1].flags == ()
    insp.collect_events()
    assert_refused("E_OUT_OF_ORDER", lambda: insp.decide_preservation(
        preservation_id="P-1", outcome="returned", reason="r", at=T("2025-10-14 09:00"), actor="p1"), insp)


def test_an_undecided_preservation_is_recorded_overdue(world: World) -> None:
    insp = preserved(world)
    insp.collect_events()
    assert insp.record_overdue(at=T("2025-10-14 09:00"), actor="audit") == ("V_PRESERVATION_OVERDUE",)


def test_preserving_unknown_evidence_is_refused(world: World) -> None:
    insp = world.given("evidence")
    at = T("2025-09-02 10:40")
    assert_refused("E_UNKNOWN_EVIDENCE", lambda: insp.preserve_evidence(
        preservation_id="P-1", evidence_ids=["NOPE"], approver=HEAD, agency=world.agency.state_as_of(at), at=at,
        actor="p1", calendar=world.cal), insp)


# ------------------------------------------------------------------ R24 closing


def test_a_fined_case_cannot_close_before_the_payment_or_enforcement_is_recorded(world: World) -> None:
    insp = world.given("published")
    error = assert_refused("E_RECORD_GAP", lambda: insp.close_case(at=T("2025-10-20 09:00"), actor="p1"), insp)
    assert error.details["phases"] == ["execution"]
    insp.close_case(at=T("2025-10-20 09:00"), actor="p1", execution_ref="法院强制执行裁定-1")
    assert insp.closed
    insp.collect_events()
    assert_refused("E_OUT_OF_ORDER", lambda: insp.record_education(summary="s", at=T("2025-10-21 09:00"),
                                                                   actor="p1"), insp)


def test_a_case_closes_after_payment_with_every_phase_recorded(world: World) -> None:
    insp = world.given("served")
    insp.record_payment(amount_fen=200_000, surcharge_fen=0, receipt_ref="回单", at=T("2025-10-09 09:00"),
                        actor="bank", calendar=world.cal)
    insp.close_case(at=T("2025-10-20 09:00"), actor="p1")
    assert insp.pending_events[-1].phases["execution"] == 1


def test_a_case_without_service_cannot_close(world: World) -> None:
    insp = world.given("decided")
    error = assert_refused("E_RECORD_GAP", lambda: insp.close_case(at=T("2025-10-20 09:00"), actor="p1",
                                                                   execution_ref="x"), insp)
    assert error.details["phases"] == ["service"]
