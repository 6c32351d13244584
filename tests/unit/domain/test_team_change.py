"""A team change during a task (issue 18 item 1; R5, R6, R9): approved and signed by the head who
may approve the dispatch, certificates of those joining checked at the change's instant, at least
two valid officers after it; later steps are judged against the new team, earlier ones stay."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from enforcement_world import AGENCY, ENT, HEAD, T, World, assert_refused

from domain.inspection import Inspection

SCAN_OK = {"code_id": "QR-1", "uscc": ENT, "scanned_at": 1}


def change(world: World, insp: Inspection, at: datetime, *, leaving: tuple[str, ...] = (),
           joining: tuple[str, ...] = (), reason: str = "张某因病离队", approver: str = HEAD,
           agency: Any = None) -> None:
    staying = [o["cert_no"] for a in insp.assignments if a["agency_code"] == AGENCY for o in a["officers"]
               if o["cert_no"] not in leaving]
    insp.change_team(agency=(agency or world.agency).state_as_of(at), leaving=leaving,
                     joining=world.certs(at, *joining) if joining else (),
                     staying=world.certs(at, *staying) if staying else (), reason=reason, approver=approver, at=at)


def test_a_team_change_names_who_leaves_who_joins_and_why_and_the_new_team_acts(world: World) -> None:
    insp = world.given("approved")
    at = T("2025-09-02 08:00")
    change(world, insp, at, leaving=("C2",), joining=("C3",))
    (changed,) = insp.collect_events()
    assert type(changed).TYPE == "inspection.team_changed.v1"
    assert changed.actor == HEAD
    assert changed.leaving == ({"cert_no": "C2", "person_id": "p2"},)
    assert changed.joining == ({"cert_no": "C3", "person_id": "p3"},)
    assert changed.reason == "张某因病离队"
    assert changed.officers_after == ("C1", "C3")
    assert set(insp.team) == {"C1", "C3"}
    # Steps after the change are judged against the new team (R5, R6, R9).
    later = T("2025-09-02 10:00")
    assert_refused("E_NO_DISPATCH", lambda: insp.arrive(certs=world.certs(later, "C1", "C2"), scan=SCAN_OK,
                                                        location="x", at=later, actor="p1"), insp)
    insp.arrive(certs=world.certs(later, "C1", "C3"), scan=SCAN_OK, location="x", at=later, actor="p1")
    assert insp.arrival is not None
    assert insp.arrival["officers"] == ("C1", "C3")


def test_steps_before_a_team_change_stay_valid_and_replay(world: World) -> None:
    insp = world.given("shown")
    before = list(world.history)
    change(world, insp, T("2025-09-02 10:20"), leaving=("C2",), joining=("C3",))
    assert insp.arrival is not None
    assert set(insp.certs_shown) >= {"C1", "C2"}
    # C3 joined on site: it shows its certificate before it acts (R7); C2 no longer acts.
    assert_refused("E_CERT_NOT_SHOWN", lambda: world.log(insp, "EV-9", at=T("2025-09-02 10:30"),
                                                         certs=("C1", "C3")), insp)
    assert_refused("E_NO_DISPATCH", lambda: world.log(insp, "EV-9", at=T("2025-09-02 10:30"),
                                                      certs=("C1", "C2")), insp)
    (c3,) = world.certs(T("2025-09-02 10:25"), "C3")
    insp.show_certificate(cert=c3, at=T("2025-09-02 10:25"), actor="p3")
    world.log(insp, "EV-9", at=T("2025-09-02 10:30"), certs=("C1", "C3"))
    assert before == world.history[:len(before)]


def test_a_joining_officer_whose_certificate_lapsed_by_the_change_is_refused(world: World) -> None:
    world.officers["C3"].renew(valid_from="2024-01-01", valid_until="2025-09-01", categories=["food"],
                               effective_at=T("2025-08-01 00:00"), at=T("2025-08-01 09:00"), actor="r")
    insp = world.given("approved")
    # 00:30 on 2 September in Shanghai: the certificate ended on 1 September (legal day, R5).
    assert_refused("E_CERT_INVALID", lambda: change(world, insp, T("2025-09-02 00:30"), joining=("C3",)), insp)
    change(world, insp, T("2025-09-01 23:30"), joining=("C3",))  # still valid that legal day


def test_a_change_leaving_fewer_than_two_valid_officers_is_refused(world: World) -> None:
    insp = world.given("approved")
    at = T("2025-09-02 08:00")
    assert_refused("E_OFFICER_COUNT", lambda: change(world, insp, at, leaving=("C2",)), insp)
    world.officers["C2"].change_status(status="suspended", effective_at=T("2025-09-02 07:00"), reason="停职",
                                       at=T("2025-09-02 07:00"), actor="r")
    # C2's certificate is suspended: C1 and C2 are not two valid officers, C1 and C3 are (R6).
    world.officers["C3"].change_status(status="suspended", effective_at=T("2025-09-02 07:00"), reason="停职",
                                       at=T("2025-09-02 07:00"), actor="r")
    assert_refused("E_CERT_INVALID", lambda: change(world, insp, at, joining=("C3",)), insp)
    world.officers["C3"].change_status(status="active", effective_at=T("2025-09-02 07:30"), reason="复职",
                                       at=T("2025-09-02 07:30"), actor="r")
    change(world, insp, at, joining=("C3",), reason="李某停职，王某加入")
    assert insp.collect_events()[0].officers_after == ("C1", "C3")


def test_a_change_approved_by_someone_other_than_the_head_is_refused(world: World) -> None:
    insp = world.given("approved")
    at = T("2025-09-02 08:00")
    assert_refused("E_NO_DISPATCH", lambda: change(world, insp, at, joining=("C3",), approver="p1"), insp)
    assert_refused("E_NO_DISPATCH", lambda: change(world, insp, at, joining=("C3",), agency=world.agency2,
                                                   approver="head-2"), insp)


def test_a_malformed_team_change_is_refused_and_appends_nothing(world: World) -> None:
    insp = world.given("approved")
    at = T("2025-09-02 08:00")
    assert_refused("E_REASON_REQUIRED", lambda: change(world, insp, at, joining=("C3",), reason=" "), insp)
    assert_refused("E_REASON_REQUIRED", lambda: change(world, insp, at), insp)
    assert_refused("E_NO_DISPATCH", lambda: change(world, insp, at, leaving=("C3",), joining=("C3",)), insp)
    assert_refused("E_OUT_OF_ORDER", lambda: change(world, insp, at, joining=("C1",)), insp)
    # A certificate of another agency cannot join this agency's team.
    assert_refused("E_CERT_INVALID", lambda: change(world, insp, at, joining=("D1",)), insp)


def test_a_change_before_approval_or_to_a_cancelled_or_concluded_task_is_refused(world: World) -> None:
    at = T("2025-09-03 08:00")
    dispatched = world.given("dispatched")
    assert_refused("E_NO_DISPATCH", lambda: change(world, dispatched, at, joining=("C3",)), dispatched)
    concluded = world.given("concluded", task_no="T-2")
    assert_refused("E_OUT_OF_ORDER", lambda: change(world, concluded, at, joining=("C3",)), concluded)


def test_a_change_to_a_cancelled_task_is_refused(world: World) -> None:
    at = T("2025-09-03 08:00")
    cancelled = world.given("approved")
    cancelled.cancel(reason="企业停业", at=T("2025-09-01 12:00"), actor=HEAD)
    cancelled.collect_events()
    assert_refused("E_OUT_OF_ORDER", lambda: change(world, cancelled, at, joining=("C3",)), cancelled)
