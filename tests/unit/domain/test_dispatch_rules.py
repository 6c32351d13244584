"""Dispatch (派单): R3, R4, R5/R6 at dispatch, R9, R10–R16, R20, joint dispatch, R12 cap."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest
from enforcement_world import (
    AGENCY,
    AGENCY2,
    ENT,
    ENT2,
    HEAD,
    HEAD2,
    REG,
    SOURCE,
    H,
    T,
    World,
    assert_refused,
)

from domain.inspection import Inspection
from domain.reference import ITEM_LIST, ReferenceList
from domain.registers import Enterprise, EnterpriseYear
from domain.services import approve_dispatch, cancel_inspection
from domain.special import SpecialCampaign


def test_a_routine_on_site_dispatch_records_lists_officers_and_frequency(world: World) -> None:
    res = world.dispatch(collect=False)
    insp = res.inspection
    (event,) = insp.pending_events
    assert isinstance(event, Inspection.Dispatched)
    assert event.actor == "dispatcher"
    row = event.assignments[0]
    assert row["item_list"]["version"] == 1
    assert row["item_list"]["content_hash"].startswith("sha256:")
    assert row["plan"]["kind"] == "annual_plan"
    assert row["frequency"]["ytd_before"] == 0
    assert row["frequency"]["cap"] == 2
    assert [o["cert_no"] for o in row["officers"]] == ["C1", "C2"]
    assert insp.id == Inspection.id_for(AGENCY, "T-1")
    (ey,) = res.enterprise_years
    assert ey.id == EnterpriseYear.id_for(ENT, AGENCY, 2025)
    assert ey.ytd == 1


def test_dispatch_is_flagged_when_it_reaches_the_yearly_cap(world: World) -> None:
    world.dispatch(task_no="T-1")
    res = world.dispatch(task_no="T-2", at=T("2025-09-02 09:00"), collect=False)
    assert "W_FREQUENCY_AT_CAP" in res.inspection.pending_events[0].flags
    counted = res.enterprise_years[0].pending_events[-1]
    assert counted.flags == ("W_FREQUENCY_AT_CAP",)
    assert counted.ytd_before == 1


def test_dispatch_is_refused_when_yearly_cap_reached(world: World) -> None:
    world.dispatch(task_no="T-1")
    world.dispatch(task_no="T-2", at=T("2025-09-02 09:00"))
    ey = world.years[AGENCY]
    assert_refused("E_FREQUENCY_CAP", lambda: world.dispatch(task_no="T-3", at=T("2025-09-03 09:00")), ey)


def test_the_cap_counts_per_legal_year(world: World) -> None:
    world.dispatch(task_no="T-1")
    world.dispatch(task_no="T-2", at=T("2025-09-02 09:00"))
    # A new year: a new counter (and a 2026 plan is needed for routine checks).
    plan26 = ReferenceList.open(kind="annual_plan", owner=AGENCY, scope="2026", at=T("2026-01-02 09:00"), actor=REG)
    plan26.publish(entries=[{"item_code": "I1"}], at=T("2026-01-02 09:00"), actor=REG)
    res = world.dispatch(task_no="T-3", at=T("2026-01-05 09:00"),
                         assignments=[world.assignment(plan=plan26, enterprise_year=None)])
    assert res.enterprise_years[0].year == 2026


def test_cancelling_a_task_releases_its_slot(world: World) -> None:
    world.dispatch(task_no="T-1")
    res = world.dispatch(task_no="T-2", at=T("2025-09-02 09:00"))
    cancel_inspection(res.inspection, [world.years[AGENCY]], reason="企业停业", at=T("2025-09-02 10:00"), actor="d")
    assert world.years[AGENCY].ytd == 1
    world.dispatch(task_no="T-3", at=T("2025-09-03 09:00"))


def test_case_driven_checks_do_not_count_towards_the_cap_by_default(world: World) -> None:
    res = world.dispatch(inspection_type="case", case_source=SOURCE)
    assert res.enterprise_years == ()


def test_a_joint_dispatch_carries_each_agencys_items_officers_and_counter(world: World) -> None:
    res = world.dispatch(assignments=[world.assignment(), world.assignment(agency=AGENCY2, items=("E1",),
                                                                            officers=("D1", "D2"))], collect=False)
    rows = res.inspection.pending_events[0].assignments
    assert [r["agency_code"] for r in rows] == [AGENCY, AGENCY2]
    assert rows[1]["item_codes"] == ["E1"]
    assert rows[1]["categories"] == ["env"]
    assert {ey.agency_code for ey in res.enterprise_years} == {AGENCY, AGENCY2}
    insp = res.inspection
    approve_dispatch(insp, world.agency, approver=HEAD, at=T("2025-09-01 09:30"))
    assert not insp.fully_approved
    approve_dispatch(insp, world.agency2, approver=HEAD2, at=T("2025-09-01 09:40"))
    assert insp.fully_approved


def test_a_joint_dispatch_is_refused_entirely_when_one_agency_is_over_its_cap(world: World) -> None:
    world.dispatch(task_no="T-1")
    world.dispatch(task_no="T-2", at=T("2025-09-02 09:00"))
    ey1 = world.years[AGENCY]
    assert_refused("E_FREQUENCY_CAP", lambda: world.dispatch(
        task_no="T-3", at=T("2025-09-03 09:00"),
        assignments=[world.assignment(agency=AGENCY2, items=("E1",), officers=("D1", "D2")), world.assignment()]),
        ey1)


def test_an_unpublished_item_is_refused(world: World) -> None:
    assert_refused("E_ITEM_NOT_PUBLISHED", lambda: world.dispatch(assignments=[world.assignment(items=("NOPE",))]))


def test_an_item_list_published_after_the_dispatch_is_not_in_force(world: World) -> None:
    late = ReferenceList.open(kind=ITEM_LIST, owner=AGENCY, at=T("2025-10-01 09:00"), actor=REG)
    late.publish(entries=[{"code": "I1", "name": "x", "category": "food"}], at=T("2025-10-01 09:00"), actor=REG)
    assert_refused("E_ITEM_NOT_PUBLISHED", lambda: world.dispatch(assignments=[world.assignment(item_list=late)]))


def test_a_missing_item_list_is_refused(world: World) -> None:
    assert_refused("E_ITEM_NOT_PUBLISHED", lambda: world.dispatch(assignments=[world.assignment(item_list=None)]))


def test_a_routine_dispatch_without_the_plan_is_refused(world: World) -> None:
    assert_refused("E_NOT_IN_PLAN", lambda: world.dispatch(assignments=[world.assignment(plan=None)]))


def test_a_routine_dispatch_of_an_unplanned_item_is_refused(world: World) -> None:
    plan = ReferenceList.open(kind="annual_plan", owner=AGENCY, scope="2025", at=T("2025-01-02 09:00"), actor=REG)
    plan.publish(entries=[{"item_code": "I2"}], at=T("2025-01-02 09:00"), actor=REG)
    assert_refused("E_NOT_IN_PLAN", lambda: world.dispatch(assignments=[world.assignment(plan=plan)]))


def test_a_case_driven_dispatch_needs_no_plan(world: World) -> None:
    world.dispatch(inspection_type="case", case_source=SOURCE, assignments=[world.assignment(plan=None)])


def test_a_special_inspection_without_its_campaign_is_refused(world: World) -> None:
    assert_refused("E_SPECIAL_NOT_APPROVED", lambda: world.dispatch(
        inspection_type="special", special_approval={"necessity_assessment_ref": "A", "approval_ref": "B",
                                                     "justice_filing_receipt": "C"}))


def test_a_special_inspection_not_yet_filed_with_justice_is_refused(world: World) -> None:
    campaign = world.campaign(filed=False)
    assert_refused("E_SPECIAL_NOT_APPROVED", lambda: world.dispatch(inspection_type="special",
                                                                   special_campaign=campaign))


def test_a_special_inspection_filed_after_the_dispatch_instant_is_refused(world: World) -> None:
    campaign = world.campaign(at=T("2025-09-01 10:00"))
    assert_refused("E_SPECIAL_NOT_APPROVED", lambda: world.dispatch(inspection_type="special",
                                                                   special_campaign=campaign))


def test_a_special_inspection_with_assessment_approval_and_filing_records_their_refs(world: World) -> None:
    res = world.dispatch(inspection_type="special", special_campaign=world.campaign(), collect=False)
    sa = res.inspection.pending_events[0].special_approval
    assert sa["justice_filing_receipt"] == "司法备-1"
    assert sa["approver_role"] == "subject_head"
    assert sa["campaign_ref"] == f"{AGENCY}/ZX-1"


def test_special_campaign_approval_by_someone_other_than_the_head_is_refused(world: World) -> None:
    at = T("2025-08-20 09:00")
    c = SpecialCampaign.assess_necessity(agency_code=AGENCY, campaign_no="ZX-2", title="t", assessment_hash=H,
                                         conclusion="necessary", at=at, actor="p1")
    c.collect_events()
    assert_refused("E_SPECIAL_NOT_APPROVED", lambda: c.approve(
        approver="p1", approver_role="subject_head", approval_ref="a", at=at, agency=world.agency.state_as_of(at)), c)
    assert_refused("E_SPECIAL_NOT_APPROVED", lambda: c.approve(
        approver="p1", approver_role="section_chief", approval_ref="a", at=at), c)
    c.approve(approver="县政府", approver_role="county_government", approval_ref="县批-1", at=at)


def test_an_assessment_that_finds_no_necessity_cannot_start_a_campaign() -> None:
    assert_refused("E_SPECIAL_NOT_APPROVED", lambda: SpecialCampaign.assess_necessity(
        agency_code=AGENCY, campaign_no="ZX-3", title="t", assessment_hash=H, conclusion="unnecessary",
        at=T("2025-08-20 09:00"), actor="p1"))


def test_double_random_items_need_the_random_draw(world: World) -> None:
    assert_refused("E_RANDOM_DRAW_MISSING", lambda: world.dispatch(assignments=[world.assignment(items=("I3",))]))
    assert_refused("E_RANDOM_DRAW_MISSING", lambda: world.dispatch(assignments=[world.assignment(items=("I3",))],
                                                                  random_draw_ref="draw-1"))
    draw = world.draw(pool=(ENT,))
    res = world.dispatch(assignments=[world.assignment(items=("I3",))], random_draw=draw, collect=False)
    event = res.inspection.pending_events[0]
    assert event.random_draw_ref == f"{AGENCY}/D-1"
    assert event.assignments[0]["random_draw"]["pool_hash"] == draw.pool_hash


def test_an_on_site_check_of_an_offsite_capable_item_is_flagged(world: World) -> None:
    res = world.dispatch(assignments=[world.assignment(items=("I2",))], mode_reason="需现场核验", collect=False)
    ev = res.inspection.pending_events[0]
    assert "W_MERGE_OR_OFFSITE_POSSIBLE" in ev.flags
    assert ev.flag_reason == "需现场核验"


def test_an_enterprise_outside_the_jurisdiction_needs_an_assistance_request(world: World) -> None:
    far = Enterprise.register(uscc=ENT2, name="外地企业", sector="food", admin_division="230500", risk_class="B",
                              positive_list=False, at=T("2025-01-02 09:00"), actor=REG)
    assert_refused("E_OUT_OF_JURISDICTION", lambda: world.dispatch(enterprise=far))
    world.dispatch(enterprise=far, assignments=[world.assignment(assistance_request_ref="协助函-1",
                                                                 enterprise_year=None)])


def test_a_routine_on_site_check_of_a_positive_list_enterprise_is_refused(world: World) -> None:
    world.enterprise.set_positive_list(on_list=True, effective_at=T("2025-08-01 00:00"), reason="正面清单",
                                       at=T("2025-08-01 09:00"), actor=REG)
    assert_refused("E_POSITIVE_LIST", lambda: world.dispatch())  # noqa: PLW0108 - the call is made inside assert_refused
    world.dispatch(mode="off_site")
    # complaint-driven: allowed
    world.dispatch(task_no="T-2", inspection_type="case", case_source=SOURCE, at=T("2025-09-02 09:00"))


def test_requiring_the_legal_representative_without_a_basis_is_refused(world: World) -> None:
    assert_refused("E_LEGAL_REP_REQUIRED", lambda: world.dispatch(legal_rep_required=True))
    world.dispatch(legal_rep_required=True, legal_rep_basis="《某条例》第十条")


def test_observation_visits_cannot_create_inspections(world: World) -> None:
    for activity in ("观摩", "督导", "考察", "评比"):
        assert_refused("E_DISGUISED_INSPECTION", lambda a=activity: world.dispatch(activity=a))


def test_a_dispatch_with_one_officer_is_refused(world: World) -> None:
    assert_refused("E_OFFICER_COUNT", lambda: world.dispatch(assignments=[world.assignment(officers=("C1",))]))


def test_a_dispatch_listing_the_same_officer_twice_is_refused(world: World) -> None:
    assert_refused("E_OFFICER_COUNT", lambda: world.dispatch(assignments=[world.assignment(officers=("C1", "C1"))]))


def test_a_dispatch_with_an_officer_not_certified_for_the_category_is_refused(world: World) -> None:
    assert_refused("E_CERT_INVALID", lambda: world.dispatch(
        assignments=[world.assignment(items=("I3",), officers=("C1", "C3"))], random_draw=world.draw(pool=(ENT,))))


def test_a_dispatch_with_another_agencys_officer_is_refused(world: World) -> None:
    assert_refused("E_CERT_INVALID", lambda: world.dispatch(assignments=[world.assignment(officers=("C1", "D1"))]))


def test_a_dispatch_by_a_suspended_subject_is_refused(world: World) -> None:
    world.agency.change_status(status="suspended", effective_at=T("2025-08-01 00:00"), reason="r",
                               at=T("2025-08-01 09:00"), actor=REG)
    assert_refused("E_SUBJECT_NOT_QUALIFIED", lambda: world.dispatch())  # noqa: PLW0108 - the call is made inside assert_refused


def test_a_dispatch_without_a_published_cap_fails_closed(world: World) -> None:
    assert_refused("E_FREQUENCY_CAP", lambda: world.dispatch(assignments=[world.assignment(caps=None)]))


def test_the_dispatch_year_is_the_legal_year_in_shanghai(world: World) -> None:
    from datetime import datetime

    at = datetime(2025, 12, 31, 16, 30, tzinfo=UTC)  # 2026-01-01 00:30 in Shanghai
    res = world.dispatch(at=at, inspection_type="case", case_source=SOURCE, collect=False)
    assert res.inspection.year == 2026


def test_approval_by_someone_other_than_the_head_is_refused(world: World) -> None:
    insp = world.dispatch().inspection
    assert_refused("E_NO_DISPATCH", lambda: approve_dispatch(insp, world.agency, approver="p1",
                                                             at=T("2025-09-01 09:30")), insp)


def test_approval_by_an_agency_not_on_the_task_is_refused(world: World) -> None:
    insp = world.dispatch().inspection
    assert_refused("E_NO_DISPATCH", lambda: approve_dispatch(insp, world.agency2, approver=HEAD2,
                                                             at=T("2025-09-01 09:30")), insp)


def test_approval_twice_is_refused_as_out_of_order(world: World) -> None:
    insp = world.dispatch().inspection
    approve_dispatch(insp, world.agency, approver=HEAD, at=T("2025-09-01 09:30"))
    insp.collect_events()
    assert_refused("E_OUT_OF_ORDER", lambda: approve_dispatch(insp, world.agency, approver=HEAD,
                                                              at=T("2025-09-01 09:40")), insp)


def test_a_head_appointed_later_cannot_approve_earlier(world: World) -> None:
    world.agency.appoint_head(head="new-head", effective_at=T("2025-10-01 00:00"), at=T("2025-08-01 09:00"), actor=REG)
    insp = world.dispatch().inspection
    assert_refused("E_NO_DISPATCH", lambda: approve_dispatch(insp, world.agency, approver="new-head",
                                                             at=T("2025-09-01 09:30")), insp)


# ---------------------------------------------------------------- where a 个案 task comes from (issue 18 item 3)
def test_a_case_type_dispatch_records_its_source_and_reference_number(world: World) -> None:
    res = world.dispatch(inspection_type="case", case_source={"kind": "referral", "ref": "公安移送〔2025〕12号"},
                         collect=False)
    (dispatched,) = res.inspection.collect_events()
    assert type(dispatched).TYPE == "inspection.dispatched.v2"
    assert dispatched.case_source == {"kind": "referral", "ref": "公安移送〔2025〕12号"}
    assert res.inspection.case_source == {"kind": "referral", "ref": "公安移送〔2025〕12号"}
    assert world.dispatch(task_no="T-R").inspection.case_source is None


@pytest.mark.parametrize(
    "source",
    [None, {}, {"kind": "complaint_report"}, {"kind": "rumour", "ref": "R-1"}, {"kind": "referral", "ref": " "},
     {"kind": "referral", "ref": "x" * 129}, {"kind": "referral", "ref": 12},
     {"kind": "referral", "ref": "R-1", "x": 1},
     "complaint_report"],
    ids=["missing", "empty", "no_ref", "unknown_kind", "blank_ref", "long_ref", "ref_not_text", "extra_field",
         "not_a_map"],
)
def test_a_case_type_dispatch_without_a_well_formed_source_is_refused(world: World, source: Any) -> None:
    before = [len(ey.pending_events) for ey in world.years.values()]
    assert_refused("E_CASE_SOURCE_REQUIRED", lambda: world.dispatch(inspection_type="case", case_source=source))
    assert [len(ey.pending_events) for ey in world.years.values()] == before


@pytest.mark.parametrize("inspection_type", ["routine", "special"])
def test_a_source_reference_on_a_routine_or_special_task_is_refused(world: World, inspection_type: str) -> None:
    assert_refused("E_CASE_SOURCE_UNEXPECTED", lambda: world.dispatch(inspection_type=inspection_type,
                                                                      case_source=SOURCE))
