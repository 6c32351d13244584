"""Registers: enforcement subjects (R3), officers with bitemporal certificates (R5),
enterprises (R1, R12, R16), and deterministic natural-key ids."""

from __future__ import annotations

from datetime import timedelta

import pytest
from enforcement_world import AGENCY, ENT, REG, T, World, assert_refused, replay

from domain.errors import CertificateInvalid, RuleViolation
from domain.registers import Agency, Enterprise, EnterpriseYear, Officer


def test_ids_are_deterministic_from_natural_keys(world: World) -> None:
    assert world.agency.id == Agency.id_for(AGENCY)
    assert world.enterprise.id == Enterprise.id_for(ENT)
    assert world.officers["C1"].id == Officer.id_for("C1")
    assert EnterpriseYear.id_for(ENT, AGENCY, 2025) == EnterpriseYear.id_for(ENT, AGENCY, 2025)
    assert EnterpriseYear.id_for(ENT, AGENCY, 2025) != EnterpriseYear.id_for(ENT, AGENCY, 2026)


def test_an_agency_with_an_invalid_agency_code_is_refused() -> None:
    assert_refused("E_USCC_INVALID", lambda: Agency.register(
        agency_code="11350100MB0000001X", name="x", kind="administrative_agency", jurisdiction=["35"],
        at=T("2025-01-02 09:00"), actor=REG))


def test_an_unknown_subject_kind_is_refused() -> None:
    assert_refused("E_SUBJECT_NOT_QUALIFIED", lambda: Agency.register(
        agency_code=AGENCY, name="x", kind="grid_worker", jurisdiction=["35"], at=T("2025-01-02 09:00"), actor=REG))


def test_a_testing_institute_is_registered_but_may_not_inspect(world: World) -> None:
    lab = Agency.register(agency_code=AGENCY, name="检测所", kind="testing_institute", jurisdiction=["35"],
                          at=T("2025-01-02 09:00"), actor=REG)
    with pytest.raises(RuleViolation) as info:
        lab.check_may_inspect(T("2025-09-01 09:00"), ["I1"])
    assert info.value.code == "E_SUBJECT_NOT_QUALIFIED"


def test_a_suspended_subject_may_not_inspect_from_the_effective_instant(world: World) -> None:
    world.agency.change_status(status="suspended", effective_at=T("2025-08-01 00:00"), reason="合并",
                               at=T("2025-08-02 09:00"), actor=REG)
    world.agency.check_may_inspect(T("2025-07-31 23:59"), ["I1"])
    with pytest.raises(RuleViolation) as info:
        world.agency.check_may_inspect(T("2025-08-01 00:00"), ["I1"])
    assert info.value.code == "E_SUBJECT_NOT_QUALIFIED"


def test_an_entrusted_subject_acts_only_within_its_published_entrustment() -> None:
    ent = Agency.register(
        agency_code=AGENCY, name="受委托组织", kind="entrusted_organisation", jurisdiction=["35"],
        at=T("2025-01-02 09:00"), actor=REG,
        entrustment={"ref": "委托书-1", "published_on": "2025-03-01", "item_codes": ["I1"],
                     "valid_until": "2025-12-31"},
    )
    ent.check_may_inspect(T("2025-09-01 09:00"), ["I1"])
    for at, items in [(T("2025-09-01 09:00"), ["I2"]), (T("2025-02-01 09:00"), ["I1"]), (T("2026-01-01 09:00"),
                                                                                         ["I1"])]:
        with pytest.raises(RuleViolation) as info:
            ent.check_may_inspect(at, items)
        assert info.value.code == "E_ENTRUSTMENT"


def test_a_certificate_that_expires_at_midnight_shanghai_is_valid_until_2400_only(world: World) -> None:
    officer = Officer.issue_certificate(cert_no="X1", person_id="x", name="x", agency_code=AGENCY,
                                        categories=["food"], valid_from="2025-01-01", valid_until="2025-06-30",
                                        at=T("2025-01-01 09:00"), actor=REG)
    officer.certificate_as_of(T("2025-06-30 23:59:59")).check_valid(T("2025-06-30 23:59:59"), ["food"])
    # 2025-07-01 00:00 Shanghai is still 2025-06-30 in UTC: the legal day decides.
    at = T("2025-07-01 00:00")
    with pytest.raises(CertificateInvalid) as info:
        officer.certificate_as_of(at).check_valid(at, ["food"])
    assert info.value.code == "E_CERT_INVALID"


def test_certificate_state_is_looked_up_as_of_the_events_instant_not_now(world: World) -> None:
    c1 = world.officers["C1"]
    c1.change_status(status="revoked", effective_at=T("2025-09-10 00:00"), reason="违纪",
                     at=T("2025-09-12 09:00"), actor=REG)
    assert c1.certificate_as_of(T("2025-09-09 12:00")).status == "active"
    assert c1.certificate_as_of(T("2025-09-10 00:00")).status == "revoked"
    # a retroactive reinstatement recorded later, effective earlier than a renewal, is ordered by valid time
    c1.renew(valid_from="2028-01-01", valid_until="2030-12-31", categories=["food"],
             effective_at=T("2027-12-01 00:00"), at=T("2025-09-13 09:00"), actor=REG)
    assert c1.certificate_as_of(T("2025-09-11 00:00")).valid_until == "2027-12-31"
    assert c1.certificate_as_of(T("2027-12-02 00:00")).valid_until == "2030-12-31"


def test_a_category_not_on_the_certificate_is_refused(world: World) -> None:
    cert = world.officers["C3"].certificate_as_of(T("2025-09-01 09:00"))
    with pytest.raises(CertificateInvalid):
        cert.check_valid(T("2025-09-01 09:00"), ["market"])


def test_a_certificate_is_not_valid_before_it_was_issued(world: World) -> None:
    cert = world.officers["C1"].certificate_as_of(T("2024-06-01 09:00"))
    with pytest.raises(CertificateInvalid):
        cert.check_valid(T("2024-06-01 09:00"))


def test_a_certificate_with_inverted_validity_is_refused() -> None:
    assert_refused("E_CERT_INVALID", lambda: Officer.issue_certificate(
        cert_no="X", person_id="x", name="x", agency_code=AGENCY, categories=["food"],
        valid_from="2026-01-01", valid_until="2025-01-01", at=T("2025-01-01 09:00"), actor=REG))


def test_enterprise_risk_class_and_positive_list_are_looked_up_as_of(world: World) -> None:
    e = world.enterprise
    e.change_risk_class(risk_class="D", effective_at=T("2025-10-01 00:00"), at=T("2025-09-01 08:00"), actor=REG)
    e.set_positive_list(on_list=True, effective_at=T("2025-11-01 00:00"), reason="正面清单",
                        at=T("2025-09-01 08:00"), actor=REG)
    assert e.state_as_of(T("2025-09-30 23:00")).risk_class == "B"
    assert e.state_as_of(T("2025-10-01 00:00")).risk_class == "D"
    assert not e.state_as_of(T("2025-10-31 00:00")).positive_list
    assert e.state_as_of(T("2025-11-01 00:00")).positive_list


def test_register_events_are_refused_when_time_runs_backwards(world: World) -> None:
    c1 = world.officers["C1"]
    c1.change_status(status="suspended", effective_at=T("2025-09-01 00:00"), reason="r", at=T("2025-09-02 09:00"),
                     actor=REG)
    c1.collect_events()
    assert_refused("E_OUT_OF_ORDER", lambda: c1.change_status(
        status="active", effective_at=T("2025-09-01 00:00"), reason="r", at=T("2025-09-01 09:00"), actor=REG), c1)


def test_registers_replay_to_the_same_state() -> None:
    t0 = T("2025-01-02 09:00")
    o = Officer.issue_certificate(cert_no="R1", person_id="r", name="r", agency_code=AGENCY, categories=["food"],
                                  valid_from="2025-01-01", valid_until="2025-12-31", at=t0, actor=REG)
    o.change_status(status="suspended", effective_at=t0 + timedelta(days=3), reason="r", at=t0 + timedelta(days=4),
                    actor=REG)
    o.renew(valid_from="2026-01-01", valid_until="2026-12-31", categories=["food"],
            effective_at=t0 + timedelta(days=5), at=t0 + timedelta(days=5), actor=REG)
    events = o.collect_events()
    assert replay(events) == o
