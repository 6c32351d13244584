"""Special and exceptional inspections: R9 emergency regularisation, R13 merge/off-site
warnings, R15 jurisdiction and assistance, R16 positive list, R20 disguised inspections and
the legal representative, R55 the published officer roster."""

from __future__ import annotations

from enforcement_world import AGENCY, AGENCY2, ENT2, HEAD, REG, SOURCE, T, World, assert_refused

from domain.reference import OFFICER_ROSTER, ReferenceList
from domain.registers import Enterprise
from domain.services import approve_dispatch

# ------------------------------------------------------------------ R9 emergencies


def test_an_emergency_task_acts_before_approval_and_is_approved_within_the_window(world: World) -> None:
    insp = world.given("dispatched", emergency=True)
    insp.arrive(certs=world.certs(T("2025-09-01 09:20")),
                scan=None, location="事故现场", at=T("2025-09-01 09:20"), actor="p1")
    approve_dispatch(insp, world.agency, approver=HEAD, at=T("2025-09-01 20:00"))
    approved = insp.pending_events[-1]
    assert approved.retroactive
    assert approved.flags == ()


def test_an_emergency_task_never_approved_is_recorded_overdue_after_24_hours(world: World) -> None:
    insp = world.given("dispatched", emergency=True)
    insp.arrive(certs=world.certs(T("2025-09-01 09:20")),
                scan=None, location="事故现场", at=T("2025-09-01 09:20"), actor="p1")
    insp.collect_events()
    assert_refused("E_OUT_OF_ORDER", lambda: insp.record_overdue(at=T("2025-09-02 08:59"), actor="audit"), insp)
    assert insp.record_overdue(at=T("2025-09-02 09:01"), actor="audit") == ("V_APPROVAL_NOT_REGULARISED",)
    event = insp.pending_events[-1]
    assert event.obligations[0]["obligation"] == "emergency_approval"


def test_a_non_emergency_task_cannot_act_before_approval(world: World) -> None:
    insp = world.given("dispatched")
    assert_refused("E_NO_DISPATCH", lambda: insp.arrive(certs=world.certs(T("2025-09-01 10:00")),
        scan={"code_id": "Q", "uscc": insp.uscc, "scanned_at": 1}, location="x", at=T("2025-09-01 10:00"),
        actor="p1"), insp)


# ------------------------------------------------------------------ R13


def test_a_second_on_site_task_for_the_same_enterprise_within_30_days_is_flagged(world: World) -> None:
    world.dispatch(task_no="T-1", at=T("2025-09-01 09:00"))
    res = world.dispatch(task_no="T-2", at=T("2025-09-20 09:00"), collect=False)
    assert "W_MERGE_OR_OFFSITE_POSSIBLE" in res.inspection.pending_events[0].flags


def test_a_task_after_the_merge_window_is_not_flagged_for_merging(world: World) -> None:
    world.dispatch(task_no="T-1", at=T("2025-07-01 09:00"))
    res = world.dispatch(task_no="T-2", at=T("2025-09-20 09:00"), collect=False)
    assert "W_MERGE_OR_OFFSITE_POSSIBLE" not in res.inspection.pending_events[0].flags


def test_an_off_site_task_is_never_flagged_for_going_off_site(world: World) -> None:
    world.dispatch(task_no="T-1")
    res = world.dispatch(task_no="T-2", mode="off_site", at=T("2025-09-02 09:00"), collect=False)
    assert "W_MERGE_OR_OFFSITE_POSSIBLE" not in res.inspection.pending_events[0].flags


# ------------------------------------------------------------------ R15


def test_a_joint_dispatch_needs_each_agency_within_its_jurisdiction_or_an_assistance_request(world: World) -> None:
    far = Enterprise.register(uscc=ENT2, name="外地企业", sector="food", admin_division="230500", risk_class="B",
                              positive_list=False, at=T("2025-01-02 09:00"), actor=REG)
    lead = world.assignment(assistance_request_ref="协助函-1", enterprise_year=None)
    second = world.assignment(agency=AGENCY2, items=("E1",), officers=("D1", "D2"), enterprise_year=None)
    assert_refused("E_OUT_OF_JURISDICTION", lambda: world.dispatch(enterprise=far, assignments=[lead, second]))
    second_ok = world.assignment(agency=AGENCY2, items=("E1",), officers=("D1", "D2"), enterprise_year=None,
                                 assistance_request_ref="协助函-2")
    res = world.dispatch(enterprise=far, assignments=[lead, second_ok], collect=False)
    rows = res.inspection.pending_events[0].assignments
    assert [r["assistance_request_ref"] for r in rows] == ["协助函-1", "协助函-2"]


# ------------------------------------------------------------------ R16


def test_a_positive_list_enterprise_gets_off_site_and_complaint_driven_checks_only(world: World) -> None:
    world.enterprise.set_positive_list(on_list=True, effective_at=T("2025-08-01 00:00"), reason="正面清单",
                                       at=T("2025-08-01 09:00"), actor=REG)
    assert_refused("E_POSITIVE_LIST", lambda: world.dispatch())  # noqa: PLW0108 - the call is made inside assert_refused
    world.dispatch(task_no="T-OFF", mode="off_site")
    world.dispatch(task_no="T-CASE", inspection_type="case", case_source=SOURCE, at=T("2025-09-02 09:00"))


def test_the_positive_list_is_read_as_of_the_dispatch_instant(world: World) -> None:
    world.enterprise.set_positive_list(on_list=True, effective_at=T("2025-10-01 00:00"), reason="正面清单",
                                       at=T("2025-08-01 09:00"), actor=REG)
    world.dispatch(at=T("2025-09-30 09:00"))
    assert_refused("E_POSITIVE_LIST", lambda: world.dispatch(task_no="T-2", at=T("2025-10-08 09:00")))


# ------------------------------------------------------------------ R20


def test_disguised_inspections_are_refused_in_chinese_or_english(world: World) -> None:
    for activity in ("观摩", "督导", "考察", "评比", "observation", "supervision", "study_visit", "appraisal"):
        assert_refused("E_DISGUISED_INSPECTION", lambda a=activity: world.dispatch(activity=a))


def test_the_legal_representative_may_be_required_only_with_a_statutory_basis(world: World) -> None:
    assert_refused("E_LEGAL_REP_REQUIRED", lambda: world.dispatch(legal_rep_required=True, legal_rep_basis=""))
    res = world.dispatch(legal_rep_required=True, legal_rep_basis="《安全生产法》第某条", collect=False)
    assert res.inspection.pending_events[0].legal_rep_basis == "《安全生产法》第某条"


# ------------------------------------------------------------------ R55


def roster(world: World, certs: list[str], at: str = "2025-01-02 09:00") -> ReferenceList:
    lst = ReferenceList.open(kind=OFFICER_ROSTER, owner=AGENCY, at=T(at), actor=REG)
    lst.publish(entries=[{"cert_no": c, "name": c} for c in certs], at=T(at), actor=REG)
    return lst


def test_officers_on_the_published_roster_are_not_flagged(world: World) -> None:
    res = world.dispatch(assignments=[world.assignment(roster=roster(world, ["C1", "C2", "C3"]))], collect=False)
    event = res.inspection.pending_events[0]
    assert "W_OFFICER_NOT_PUBLISHED" not in event.flags
    assert event.assignments[0]["roster"]["kind"] == OFFICER_ROSTER


def test_an_officer_missing_from_the_published_roster_is_flagged(world: World) -> None:
    res = world.dispatch(assignments=[world.assignment(roster=roster(world, ["C1"]))], collect=False)
    assert "W_OFFICER_NOT_PUBLISHED" in res.inspection.pending_events[0].flags


def test_a_roster_published_after_the_dispatch_does_not_count(world: World) -> None:
    late = roster(world, ["C1", "C2"], at="2025-09-05 09:00")
    res = world.dispatch(assignments=[world.assignment(roster=late)], collect=False)
    assert "W_OFFICER_NOT_PUBLISHED" in res.inspection.pending_events[0].flags
