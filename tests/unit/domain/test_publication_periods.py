"""Publication periods by regime version and automatic expiry (R53), credit repair (R54),
the annual statistics deadline (R61), the agency codes in published notices (R2)."""

from __future__ import annotations

from datetime import date

import pytest
from enforcement_world import SERVED_DOC, T, World, assert_refused

from domain.base import content_hash
from domain.errors import RuleViolation
from domain.inspection import Inspection
from domain.publicity import compute_publication_period, regime_version_on

ALL_MET = {"obligations_fulfilled": True, "harm_eliminated": True, "no_repeat_violation": True,
           "not_on_abnormal_lists": True}


def period_event(insp: Inspection) -> Inspection.PublicationPeriodSet:
    return next(e for e in reversed(insp.pending_events) if isinstance(e, Inspection.PublicationPeriodSet))


# ------------------------------------------------------------------ R53


def test_a_2025_publication_uses_ndrc_order_58_and_records_public_until(world: World) -> None:
    insp = world.given("served")
    world.publish(insp, at=T("2025-09-29 10:00"), credit_category="serious", period_months=12)
    event = period_event(insp)
    assert (event.regime_version, event.start_on, event.public_until) == ("ndrc_58_2023", "2025-09-26", "2026-09-26")
    assert isinstance(insp.pending_events[-1], Inspection.Published)
    assert insp.publication["public_until"] == "2026-09-26"


def test_from_2026_04_01_a_serious_entry_is_published_one_to_three_years(world: World) -> None:
    assert regime_version_on("credit_china", date(2026, 3, 31)).version == "ndrc_58_2023"
    assert regime_version_on("credit_china", date(2026, 4, 1)).version == "credit_repair_2026"
    period = compute_publication_period(regime="penalty_118", decided_on=date(2026, 4, 1),
                                        published_on=date(2026, 4, 3), penalty_kinds=("罚款",), fine_fen=1,
                                        category="serious")
    assert period.public_until == date(2029, 4, 1)
    assert period.repair_min_until == date(2027, 4, 1)
    with pytest.raises(RuleViolation) as info:
        compute_publication_period(regime="penalty_118", decided_on=date(2026, 4, 1), published_on=date(2026, 4, 3),
                                   penalty_kinds=("罚款",), fine_fen=1, category="serious", period_months=6)
    assert info.value.code == "E_PUBLICATION_PERIOD"


def test_under_the_2026_rules_a_minor_violation_is_not_published_unless_necessary() -> None:
    with pytest.raises(RuleViolation) as info:
        compute_publication_period(regime="penalty_118", decided_on=date(2026, 4, 1), published_on=date(2026, 4, 3),
                                   penalty_kinds=("罚款",), fine_fen=1, category="minor")
    assert info.value.code == "E_NOT_PUBLISHABLE"
    period = compute_publication_period(regime="penalty_118", decided_on=date(2026, 4, 1),
                                        published_on=date(2026, 4, 3), penalty_kinds=("罚款",), fine_fen=1,
                                        category="minor", necessity_reason="涉及公共安全")
    assert period.period_months == 3
    assert period.public_until == date(2026, 7, 1)


def test_samr_periods_run_from_publication_three_months_for_low_fines_three_years_otherwise() -> None:
    low = compute_publication_period(regime="samr_same_province", decided_on=date(2025, 9, 26),
                                     published_on=date(2025, 10, 9), penalty_kinds=("罚款",), fine_fen=200_000,
                                     category=None)
    assert (low.regime_version, low.category, low.public_until) == ("samr45_2021", "low", date(2026, 1, 9))
    high = compute_publication_period(regime="samr_same_province", decided_on=date(2025, 9, 26),
                                      published_on=date(2025, 10, 9), penalty_kinds=("罚款",), fine_fen=5_000_000,
                                      category=None)
    assert high.public_until == date(2028, 10, 9)
    restricted = compute_publication_period(regime="samr_same_province", decided_on=date(2025, 9, 26),
                                            published_on=date(2025, 10, 9), penalty_kinds=("限制从业",), fine_fen=0,
                                            category=None, restriction_months=60)
    assert restricted.public_until == date(2030, 10, 9)


def test_an_entry_is_hidden_after_public_until_and_its_expiry_is_recorded(world: World) -> None:
    insp = world.given("served")
    world.publish(insp, at=T("2025-09-29 10:00"), credit_category="general", period_months=3)
    insp.collect_events()
    assert insp.publication_visible_on(date(2025, 12, 26))
    assert not insp.publication_visible_on(date(2025, 12, 27))
    assert_refused("E_OUT_OF_ORDER", lambda: insp.expire_publication(at=T("2025-12-26 23:00"), actor="sys"), insp)
    insp.expire_publication(at=T("2025-12-27 00:01"), actor="sys")
    assert insp.publication["status"] == "expired"
    assert not insp.publication_visible_on(date(2025, 12, 27))


def test_a_period_outside_the_regime_range_is_refused(world: World) -> None:
    insp = world.given("served")
    assert_refused("E_PUBLICATION_PERIOD", lambda: world.publish(insp, at=T("2025-09-29 10:00"),
                                                                 credit_category="general", period_months=48), insp)
    assert_refused("E_PUBLICATION_PERIOD", lambda: world.publish(insp, at=T("2025-09-29 10:00"),
                                                                 credit_category="bad"), insp)


# ------------------------------------------------------------------ R54


def published(world: World, months: int = 12) -> Inspection:
    insp = world.given("served")
    insp.record_payment(amount_fen=200_000, surcharge_fen=0, receipt_ref="回单", at=T("2025-09-28 09:00"),
                        actor="bank", calendar=world.cal)
    world.publish(insp, at=T("2025-09-29 10:00"), credit_category="general", period_months=months)
    insp.collect_events()
    return insp


def test_credit_repair_before_the_minimum_period_is_refused(world: World) -> None:
    insp = published(world)
    error = assert_refused("E_REPAIR_NOT_ELIGIBLE", lambda: insp.approve_credit_repair(
        conditions=ALL_MET, application_ref="修复申请-1", approver="信用科", at=T("2025-12-25 09:00")), insp)
    assert error.details["repair_min_until"] == "2025-12-26"


def test_credit_repair_after_the_minimum_period_with_all_conditions_removes_the_entry(world: World) -> None:
    insp = published(world)
    insp.approve_credit_repair(conditions=ALL_MET, application_ref="修复申请-1", approver="信用科",
                               at=T("2025-12-26 09:00"))
    assert insp.publication["status"] == "repaired"
    assert not insp.publication_visible_on(date(2025, 12, 26))


def test_credit_repair_with_an_unmet_condition_is_refused(world: World) -> None:
    insp = published(world)
    for key in ALL_MET:
        assert_refused("E_REPAIR_NOT_ELIGIBLE", lambda k=key: insp.approve_credit_repair(
            conditions={**ALL_MET, k: False}, application_ref="a", approver="信用科", at=T("2026-01-05 09:00")), insp)
    assert_refused("E_REPAIR_NOT_ELIGIBLE", lambda: insp.approve_credit_repair(
        conditions={"obligations_fulfilled": True}, application_ref="a", approver="信用科",
        at=T("2026-01-05 09:00")), insp)


def test_credit_repair_of_an_unpaid_fine_is_refused(world: World) -> None:
    insp = world.given("published")
    assert_refused("E_REPAIR_NOT_ELIGIBLE", lambda: insp.approve_credit_repair(
        conditions=ALL_MET, application_ref="a", approver="信用科", at=T("2026-06-01 09:00")), insp)


def test_a_suspension_of_production_is_never_repaired_early(world: World) -> None:
    insp = world.given("noticed")
    world.notice(insp, at=T("2025-09-12 09:00"), notice_no="告-2", penalty_kinds=["责令停产停业"], fine_fen=0,
                 hearing_right=True, waive_at=T("2025-09-12 10:00"))
    world.review(insp, at=T("2025-09-20 09:00"))
    world.decide(insp, at=T("2025-09-26 10:00"), penalty_kinds=["责令停产停业"], fine_fen=0)
    world.serve(insp, at=T("2025-09-26 15:00"))
    world.publish(insp, at=T("2025-09-29 10:00"))
    insp.collect_events()
    assert_refused("E_REPAIR_NOT_ELIGIBLE", lambda: insp.approve_credit_repair(
        conditions=ALL_MET, application_ref="a", approver="信用科", at=T("2026-09-01 09:00")), insp)


# ------------------------------------------------------------------ R61


def test_annual_statistics_by_31_january_are_on_time(world: World) -> None:
    world.agency.publish_annual_statistics(year=2025, statistics={"inspections": 120, "penalties": 9},
                                           replay_hash="a" * 64, at=T("2026-01-31 18:00"), actor="stat")
    event = world.agency.pending_events[-1]
    assert event.due == "2026-01-31"
    assert event.flags == ()
    assert event.content_hash.startswith("sha256:")


def test_annual_statistics_after_31_january_are_appended_and_flagged(world: World) -> None:
    world.agency.publish_annual_statistics(year=2025, statistics={"inspections": 120}, replay_hash="a" * 64,
                                           at=T("2026-02-01 09:00"), actor="stat")
    assert world.agency.pending_events[-1].flags == ("V_ANNUAL_STATS_OVERDUE",)


def test_statistics_for_an_unfinished_year_or_twice_are_refused(world: World) -> None:
    agency = world.agency
    assert_refused("E_OUT_OF_ORDER", lambda: agency.publish_annual_statistics(
        year=2025, statistics={"inspections": 1}, replay_hash="a" * 64, at=T("2025-12-31 09:00"), actor="s"), agency)
    agency.publish_annual_statistics(year=2025, statistics={"inspections": 1}, replay_hash="a" * 64,
                                     at=T("2026-01-10 09:00"), actor="s")
    agency.collect_events()
    assert_refused("E_OUT_OF_ORDER", lambda: agency.publish_annual_statistics(
        year=2025, statistics={"inspections": 2}, replay_hash="a" * 64, at=T("2026-01-11 09:00"), actor="s"), agency)


# ------------------------------------------------------------------ R2


def test_a_published_notice_with_an_invalid_agency_code_is_refused(world: World) -> None:
    bad = {**SERVED_DOC, "cf_cfjgdm": "91310115MA1H8R7C6D"}  # rulebook §3: an invalid check character
    insp = world.given("decided")
    world.serve(insp, at=T("2025-09-26 15:00"), document_hash=content_hash(bad))
    insp.collect_events()
    public = {k: v for k, v in bad.items() if k != "cf_fr_zjhm"}
    assert_refused("E_USCC_INVALID", lambda: world.publish(insp, at=T("2025-09-29 10:00"), served_document=bad,
                                                           content_hash=content_hash(public)), insp)
