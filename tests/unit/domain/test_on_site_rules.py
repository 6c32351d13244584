"""On site: R5–R7 certificates, R9 approval, R17 check-in, R18 mode, R19 record,
R21 result notice, R22/R26 evidence, R29 post-decision evidence, ordering."""

from __future__ import annotations

import hashlib

from enforcement_world import ENT, SECRET, H, T, World, assert_refused

from domain.base import feedback_token
from domain.inspection import Inspection

SCAN = {"code_id": "QR-1", "uscc": ENT, "scanned_at": 1}


def test_arrival_before_the_heads_approval_is_refused(world: World) -> None:
    insp = world.given("dispatched")
    assert_refused("E_NO_DISPATCH", lambda: insp.arrive(certs=world.certs(T("2025-09-02 10:00")),
                                                        scan=SCAN, location="x", at=T("2025-09-02 10:00"),
                                                        actor="p1"), insp)


def test_an_emergency_arrival_before_approval_is_appended_and_late_approval_flagged(world: World) -> None:
    insp = world.given("dispatched", emergency=True)
    insp.arrive(certs=world.certs(T("2025-09-01 10:00")), scan=None, location="x", at=T("2025-09-01 10:00"), actor="p1")
    from enforcement_world import HEAD

    from domain.services import approve_dispatch

    approve_dispatch(insp, world.agency, approver=HEAD, at=T("2025-09-03 10:00"))
    approved = insp.pending_events[-1]
    assert approved.retroactive
    assert approved.flags == ("V_APPROVAL_NOT_REGULARISED",)


def test_an_off_site_inspection_that_gets_an_arrival_is_refused(world: World) -> None:
    insp = world.given("approved", mode="off_site")
    assert_refused("E_MODE_MISMATCH", lambda: insp.arrive(certs=world.certs(T("2025-09-02 10:00")),
                                                          scan=SCAN, location="x", at=T("2025-09-02 10:00"),
                                                          actor="p1"), insp)


def test_a_signed_mode_change_before_arrival_allows_the_arrival(world: World) -> None:
    insp = world.given("approved", mode="off_site")
    assert_refused("E_REASON_REQUIRED", lambda: insp.change_mode(mode="on_site", reason=" ", approved_by="h",
                                                                 at=T("2025-09-02 09:00"), actor="p1"), insp)
    insp.change_mode(mode="on_site", reason="资料无法核实", approved_by="head-1", at=T("2025-09-02 09:00"), actor="p1")
    insp.arrive(certs=world.certs(T("2025-09-02 10:00")), scan=SCAN, location="x", at=T("2025-09-02 10:00"), actor="p1")
    assert insp.mode == "on_site"
    assert_refused("E_MODE_MISMATCH", lambda: insp.change_mode(mode="off_site", reason="r", approved_by="h",
                                                               at=T("2025-09-02 11:00"), actor="p1"), insp)


def test_arrival_with_another_enterprises_code_is_refused(world: World) -> None:
    insp = world.given("approved")
    assert_refused("E_NO_CHECKIN", lambda: insp.arrive(certs=world.certs(T("2025-09-02 10:00")),
                                                       scan={**SCAN, "uscc": "91230500MA1B3N1N2M"}, location="x",
                                                       at=T("2025-09-02 10:00"), actor="p1"), insp)
    assert_refused("E_NO_CHECKIN", lambda: insp.arrive(certs=world.certs(T("2025-09-02 10:00")),
                                                       scan=None, location="x", at=T("2025-09-02 10:00"),
                                                       actor="p1"), insp)


def test_on_site_evidence_before_check_in_is_refused(world: World) -> None:
    insp = world.given("approved")
    assert_refused("E_NO_CHECKIN", lambda: world.log(insp, "EV-9", at=T("2025-09-02 10:00")), insp)


def test_evidence_before_each_officer_showed_the_certificate_is_refused(world: World) -> None:
    insp = world.given("arrived")
    cert = world.certs(T("2025-09-02 10:05"), "C1")[0]
    insp.show_certificate(cert=cert, at=T("2025-09-02 10:05"), actor="p1")
    insp.collect_events()
    assert_refused("E_CERT_NOT_SHOWN", lambda: world.log(insp, "EV-9", at=T("2025-09-02 10:10")), insp)


def test_showing_a_certificate_before_check_in_is_refused(world: World) -> None:
    insp = world.given("approved")
    cert = world.certs(T("2025-09-02 10:05"), "C1")[0]
    assert_refused("E_NO_CHECKIN", lambda: insp.show_certificate(cert=cert, at=T("2025-09-02 10:05"), actor="p1"),
                   insp)


def test_a_certificate_shown_by_an_officer_not_on_the_task_is_refused(world: World) -> None:
    insp = world.given("arrived")
    cert = world.certs(T("2025-09-02 10:05"), "C3")[0]
    assert_refused("E_NO_DISPATCH", lambda: insp.show_certificate(cert=cert, at=T("2025-09-02 10:05"), actor="p3"),
                   insp)


def test_a_certificate_revoked_before_the_visit_is_refused_even_if_recorded_later(world: World) -> None:
    insp = world.given("arrived")
    world.officers["C2"].change_status(status="revoked", effective_at=T("2025-09-02 08:00"), reason="违纪",
                                       at=T("2025-09-02 12:00"), actor="r")
    cert = world.certs(T("2025-09-02 10:05"), "C2")[0]
    assert_refused("E_CERT_INVALID", lambda: insp.show_certificate(cert=cert, at=T("2025-09-02 10:05"), actor="p2"),
                   insp)


def test_a_certificate_expiring_at_midnight_shanghai_is_refused_one_second_later(world: World) -> None:
    world.officers["C2"].renew(valid_from="2024-01-01", valid_until="2025-09-01", categories=["food", "market"],
                               effective_at=T("2025-08-01 00:00"), at=T("2025-08-01 09:00"), actor="r")
    insp = world.given("approved", emergency=False)
    insp.arrive(certs=world.certs(T("2025-09-01 23:00")), scan=SCAN, location="x", at=T("2025-09-01 23:00"), actor="p1")
    ok = world.certs(T("2025-09-01 23:59:59"), "C2")[0]
    insp.show_certificate(cert=ok, at=T("2025-09-01 23:59:59"), actor="p2")
    c1 = world.certs(T("2025-09-02 00:00"), "C1")[0]
    insp.show_certificate(cert=c1, at=T("2025-09-02 00:00"), actor="p1")
    insp.collect_events()
    # Evidence at 00:00:00 Shanghai (still 2025-09-01 in UTC) must not pass C2.
    assert_refused("E_CERT_INVALID", lambda: world.log(insp, "EV-9", at=T("2025-09-02 00:00")), insp)


def test_evidence_by_a_single_officer_is_refused(world: World) -> None:
    insp = world.given("shown")
    assert_refused("E_OFFICER_COUNT", lambda: world.log(insp, "EV-9", at=T("2025-09-02 10:30"), certs=("C1",)), insp)


def test_evidence_of_a_non_statutory_type_is_refused(world: World) -> None:
    insp = world.given("shown")
    assert_refused("E_EVIDENCE_TYPE", lambda: world.log(insp, "EV-9", at=T("2025-09-02 10:30"),
                                                        evidence_type="传闻"), insp)


def test_all_eight_statutory_evidence_types_are_accepted(world: World) -> None:
    insp = world.given("shown")
    meta = {"device_id": "cam-1", "captured_at": 1, "maker": "p1", "purpose": "现场情况"}
    for i, t in enumerate(["书证", "物证", "视听资料", "电子数据", "证人证言", "当事人的陈述", "鉴定意见", "现场笔录"]):
        world.log(insp, f"EV-{i}", at=T("2025-09-02 10:30"), evidence_type=t, capture=meta)
    assert len(insp.evidence) == 8


def test_audio_visual_evidence_without_capture_metadata_is_refused(world: World) -> None:
    insp = world.given("shown")
    assert_refused("E_AV_METADATA", lambda: world.log(insp, "EV-9", at=T("2025-09-02 10:30"),
                                                      evidence_type="视听资料", capture={"device_id": "cam"}), insp)
    meta = {"device_id": "rec", "captured_at": 1, "maker": "p1", "purpose": "询问", "medium": "audio"}
    assert_refused("E_AV_METADATA", lambda: world.log(insp, "EV-9", at=T("2025-09-02 10:30"),
                                                      evidence_type="视听资料", capture=meta), insp)
    world.log(insp, "EV-9", at=T("2025-09-02 10:30"), evidence_type="视听资料",
              capture={**meta, "transcript_ref": "tr-1"})


def test_evidence_with_a_malformed_capture_hash_is_refused(world: World) -> None:
    insp = world.given("shown")
    assert_refused("E_AV_METADATA", lambda: world.log(insp, "EV-9", at=T("2025-09-02 10:30"), sha256="ABC"), insp)


def test_the_same_evidence_id_twice_is_refused(world: World) -> None:
    insp = world.given("evidence")
    assert_refused("E_OUT_OF_ORDER", lambda: world.log(insp, "EV-1", at=T("2025-09-02 10:40")), insp)


def test_off_site_evidence_needs_an_off_site_source(world: World) -> None:
    insp = world.given("approved", mode="off_site")
    assert_refused("E_MODE_MISMATCH", lambda: world.log(insp, "EV-9", at=T("2025-09-02 10:30")), insp)
    assert_refused("E_MODE_MISMATCH", lambda: world.log(insp, "EV-9", at=T("2025-09-02 10:30"), source="hearsay"),
                   insp)
    world.log(insp, "EV-9", at=T("2025-09-02 10:30"), source="data_sharing")


def test_an_on_site_inspection_cannot_conclude_without_the_signed_record(world: World) -> None:
    insp = world.given("evidence")
    assert_refused("E_NO_RECORD", lambda: insp.conclude(result="no_issue", certs=world.certs(T("2025-09-02 11:30")),
                                                        at=T("2025-09-02 11:30"), actor="p1", calendar=world.cal),
                   insp)


def test_a_record_without_party_signature_or_refusal_note_is_refused(world: World) -> None:
    insp = world.given("evidence")
    assert_refused("E_NO_RECORD", lambda: insp.sign_record(record_hash=H, certs=world.certs(T("2025-09-02 11:00")),
                                                           party_signature=None, refusal_note=None,
                                                           at=T("2025-09-02 11:00"), actor="p1"), insp)
    insp.sign_record(record_hash=H, certs=world.certs(T("2025-09-02 11:00")), party_signature=None,
                     refusal_note="当事人拒绝签字", at=T("2025-09-02 11:00"), actor="p1", witness="w1")


def test_an_off_site_inspection_concludes_without_an_on_site_record(world: World) -> None:
    insp = world.given("concluded", mode="off_site", result="no_issue")
    assert insp.conclusion["result"] == "no_issue"


def test_the_result_notice_carries_a_deterministic_feedback_qr(world: World) -> None:
    insp = world.given("concluded")
    token = insp.notify_result(recipient="manager", summary_hash=H, secret=SECRET, at=T("2025-09-02 12:00"),
                               actor="p1")
    assert token == feedback_token(insp.id, SECRET)
    event = insp.pending_events[-1]
    assert event.qr_id == hashlib.sha256(token.encode()).hexdigest()[:32]
    assert token not in repr(event)
    assert event.flags == ()


def test_a_late_result_notice_is_appended_and_flagged(world: World) -> None:
    insp = world.given("concluded")
    insp.notify_result(recipient="manager", summary_hash=H, secret=SECRET, at=T("2025-09-10 12:00"), actor="p1")
    assert insp.pending_events[-1].flags == ("V_RESULT_NOT_NOTIFIED",)


def test_notifying_before_conclusion_or_twice_is_refused(world: World) -> None:
    insp = world.given("recorded")
    assert_refused("E_OUT_OF_ORDER", lambda: insp.notify_result(recipient="m", summary_hash=H, secret=SECRET,
                                                                at=T("2025-09-02 12:00"), actor="p1"), insp)
    insp = world.given("notified", task_no="T-2")
    assert_refused("E_OUT_OF_ORDER", lambda: insp.notify_result(recipient="m", summary_hash=H, secret=SECRET,
                                                                at=T("2025-09-02 12:30"), actor="p1"), insp)


def test_an_event_claimed_before_the_previous_one_is_refused(world: World) -> None:
    insp = world.given("shown")
    assert_refused("E_OUT_OF_ORDER", lambda: world.log(insp, "EV-9", at=T("2025-09-02 10:00")), insp)


def test_nothing_happens_on_a_cancelled_task(world: World) -> None:
    insp = world.given("approved")
    insp.cancel(reason="企业停业", at=T("2025-09-01 10:00"), actor="d")
    insp.collect_events()
    assert_refused("E_OUT_OF_ORDER", lambda: insp.arrive(certs=world.certs(T("2025-09-02 10:00")),
                                                         scan=SCAN, location="x", at=T("2025-09-02 10:00"),
                                                         actor="p1"), insp)


def test_a_started_task_cannot_be_cancelled(world: World) -> None:
    insp = world.given("arrived")
    assert_refused("E_OUT_OF_ORDER", lambda: insp.cancel(reason="r", at=T("2025-09-02 11:00"), actor="d"), insp)


def test_evidence_after_the_decision_is_appended_flagged_and_cannot_support_it(world: World) -> None:
    insp = world.given("decided")
    world.log(insp, "EV-LATE", at=T("2025-09-27 10:00"), source="on_site")
    event = insp.pending_events[-1]
    assert isinstance(event, Inspection.EvidenceLogged)
    assert event.post_decision
    assert "EV-LATE" not in insp.decision["evidence_refs"]


# ---------------------------------------------------------------- R5, R6 at the arrival (issue 18 item 2)
def test_an_arrival_records_the_team_present_with_certificates_valid_at_the_arrival_instant(world: World) -> None:
    insp = world.given("approved")
    insp.arrive(certs=world.certs(T("2025-09-02 10:00")), scan=SCAN, location="x", at=T("2025-09-02 10:00"),
                actor="p1")
    (arrived,) = insp.collect_events()
    assert type(arrived).TYPE == "inspection.arrived.v2"
    assert arrived.officers == ("C1", "C2")
    assert insp.arrival is not None
    assert insp.arrival["officers"] == ("C1", "C2")


def test_an_arrival_the_day_after_an_officers_certificate_expired_is_refused(world: World) -> None:
    world.officers["C2"].renew(valid_from="2024-01-01", valid_until="2025-09-01", categories=["food", "market"],
                               effective_at=T("2025-08-01 00:00"), at=T("2025-08-01 09:00"), actor="r")
    insp = world.given("approved")
    # 00:00 on 2 September in Shanghai is still 1 September in UTC: the legal day decides (R5).
    assert_refused("E_CERT_INVALID", lambda: insp.arrive(certs=world.certs(T("2025-09-02 00:00")), scan=SCAN,
                                                         location="x", at=T("2025-09-02 00:00"), actor="p1"), insp)


def test_an_arrival_with_fewer_than_two_valid_officers_is_refused(world: World) -> None:
    insp = world.given("approved")
    at = T("2025-09-02 10:00")
    assert_refused("E_OFFICER_COUNT", lambda: insp.arrive(certs=world.certs(at, "C1"), scan=SCAN, location="x",
                                                          at=at, actor="p1"), insp)
    assert_refused("E_OFFICER_COUNT", lambda: insp.arrive(certs=world.certs(at, "C1", "C1"), scan=SCAN,
                                                          location="x", at=at, actor="p1"), insp)
    assert_refused("E_OFFICER_COUNT", lambda: insp.arrive(certs=(), scan=SCAN, location="x", at=at, actor="p1"),
                   insp)


def test_an_arrival_with_a_revoked_certificate_in_a_team_of_three_is_refused_unless_that_officer_stays_away(
    world: World,
) -> None:
    insp = world.given("approved", assignments=[world.assignment(officers=("C1", "C2", "C3"))])
    world.officers["C3"].change_status(status="revoked", effective_at=T("2025-09-02 08:00"), reason="调离",
                                       at=T("2025-09-02 08:00"), actor="r")
    at = T("2025-09-02 10:00")
    assert_refused("E_CERT_INVALID", lambda: insp.arrive(certs=world.certs(at, "C1", "C2", "C3"), scan=SCAN,
                                                         location="x", at=at, actor="p1"), insp)
    insp.arrive(certs=world.certs(at, "C1", "C2"), scan=SCAN, location="x", at=at, actor="p1")
    assert insp.arrival is not None
    assert insp.arrival["officers"] == ("C1", "C2")


def test_an_arrival_naming_an_officer_not_on_the_task_or_without_a_location_is_refused(world: World) -> None:
    insp = world.given("approved")
    at = T("2025-09-02 10:00")
    assert_refused("E_NO_DISPATCH", lambda: insp.arrive(certs=world.certs(at, "C1", "C2", "C3"), scan=SCAN,
                                                        location="x", at=at, actor="p1"), insp)
    assert_refused("E_REASON_REQUIRED", lambda: insp.arrive(certs=world.certs(at), scan=SCAN, location=" ",
                                                            at=at, actor="p1"), insp)
