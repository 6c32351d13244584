"""The enforcement commands on the real signed ledger, on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import pytest

from domain.base import content_hash
from domain.calendar import SHANGHAI
from domain.errors import DomainError
from domain.inspection import REVIEW_POINTS
from domain.registers import EnterpriseYear
from domain.uscc import make_uscc
from ledger.audit import verify_database
from ledger.errors import ConflictError
from ledger.merkle_audit import check_merkle
from tests.fakes import make_enforcement_ledger

AGENCY = make_uscc("11350100MB0000001")
ENT = "91350100M000100Y43"
H = "a" * 64
ACTORS = ["reg", "head", "p1", "C1", "C2", "dispatcher", "r1", "pub"]


def T(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=SHANGHAI)


def setup(url: str) -> Any:
    c = make_enforcement_ledger(url, ACTORS)
    a = c.app
    t0 = T("2025-01-02 09:00")
    a.register_agency(agency_code=AGENCY, name="市场监管局", kind="administrative_agency", jurisdiction=["3501"],
                      at=t0, actor="reg")
    a.appoint_agency_head(agency_code=AGENCY, head="head", effective_at=t0, at=t0, actor="reg")
    for cert, person in [("C1", "p1"), ("C2", "p2")]:
        a.issue_certificate(cert_no=cert, person_id=person, name=person, agency_code=AGENCY, categories=["food"],
                            valid_from="2024-01-01", valid_until="2027-12-31", at=t0, actor="reg")
    a.register_enterprise(uscc=ENT, name="某食品公司", sector="food", admin_division="350102", risk_class="B",
                          positive_list=False, at=t0, actor="reg")
    a.publish_reference_list(kind="item_list", owner=AGENCY, entries=[{"code": "I1", "name": "n", "category": "food"}],
                             at=t0, actor="reg")
    a.publish_reference_list(kind="annual_plan", owner=AGENCY, scope="2025", entries=[{"item_code": "I1"}], at=t0,
                             actor="reg")
    a.publish_reference_list(kind="frequency_caps", owner=AGENCY,
                             entries=[{"sector": "food", "risk_class": "B", "cap": 3}], at=t0, actor="reg")
    a.publish_reference_list(kind="discretion_benchmark", owner=AGENCY,
                             entries=[{"code": "B1", "min_fen": 1, "max_fen": 10_000_000}], at=t0, actor="reg")
    return c


def dispatch(app: Any, task_no: str, at: datetime) -> Any:
    return app.dispatch_inspection(task_no=task_no, inspection_type="routine", mode="on_site", uscc=ENT,
                                   assignments=[{"agency_code": AGENCY, "item_codes": ["I1"], "cert_nos": ["C1",
                                                                                                           "C2"]}],
                                   at=at, actor="dispatcher")


def test_a_whole_lifecycle_is_signed_chained_and_replays(db_url: str) -> None:
    c = setup(db_url)
    app = c.app
    iid = dispatch(app, "T-1", T("2025-09-01 09:00"))
    app.approve_inspection(inspection_id=iid, agency_code=AGENCY, approver="head", at=T("2025-09-01 09:30"))
    app.record_arrival(inspection_id=iid, scan={"code_id": "Q", "uscc": ENT, "scanned_at": 1}, location="x",
                       at=T("2025-09-02 10:00"), actor="p1")
    for cert in ("C1", "C2"):
        app.show_certificate(inspection_id=iid, cert_no=cert, at=T("2025-09-02 10:05"), actor=cert)
    app.log_evidence(inspection_id=iid, evidence_id="EV-1", evidence_type="书证", sha256=H, size=1,
                     media_type="image/jpeg", source="on_site", capture={}, cert_nos=["C1", "C2"],
                     at=T("2025-09-02 10:30"), actor="p1")
    app.sign_inspection_record(inspection_id=iid, record_hash=H, cert_nos=["C1", "C2"], party_signature="s",
                               refusal_note=None, at=T("2025-09-02 11:00"), actor="p1")
    app.conclude_inspection(inspection_id=iid, result="case_filed", cert_nos=["C1", "C2"], at=T("2025-09-02 11:30"),
                            actor="p1")
    app.notify_result(inspection_id=iid, recipient="m", summary_hash=H, secret=b"s", at=T("2025-09-02 12:00"),
                      actor="p1")
    app.file_case(inspection_id=iid, case_no="C-1", investigators=["p1"], case_class="ordinary",
                  requires_legal_review=True, at=T("2025-09-03 09:00"), actor="p1",
                  violation={"fingerprint": "f" * 64, "description_hash": "d" * 64,
                             "violation_end_on": "2025-08-20", "discovered_on": "2025-09-02"})
    app.serve_penalty_notice(inspection_id=iid, notice_no="告-1", penalty_kinds=["罚款"], fine_fen=200_000,
                             facts_hash=H, hearing_right=False, at=T("2025-09-10 09:00"), actor="p1")
    app.waive_rights(inspection_id=iid, rights=["statement"], waiver_ref="声明-1", at=T("2025-09-11 09:00"),
                     actor="p1")
    app.give_legal_review(inspection_id=iid, reviewer="r1", draft_hash="b" * 64, result="pass",
                          checklist=dict.fromkeys(REVIEW_POINTS, "ok"), first_time=False, legal_qualification=True,
                          at=T("2025-09-20 09:00"))
    app.decide(inspection_id=iid, decision_no="罚1", outcome="penalty", draft_hash="b" * 64, decider="head",
               decider_role="agency_head", evidence_refs=["EV-1"], at=T("2025-09-26 10:00"),
               penalty_kinds=["罚款"], fine_fen=200_000, benchmark_code="B1", seal_ref="seal-1",
               document={"party": "某食品公司", "facts_and_evidence": "过期食品；笔录",
                         "penalty_and_basis": "罚款；食品安全法",
                         "performance": "十五日内缴纳", "remedy": "60日内申请行政复议或者6个月内提起行政诉讼",
                         "agency_and_date": "市场监管局 2025-09-26"})
    doc = {"cf_wsh": "罚1", "cf_xdr_zjhm": "secret-id"}
    app.serve_decision(inspection_id=iid, method="direct", documents=["行政处罚决定书"],
                       document_hash=content_hash(doc), publication_notice=True, at=T("2025-09-26 15:00"), actor="p1")
    app.publish_decision(inspection_id=iid, served_document=doc, redaction_map={"cf_xdr_zjhm": "个人信息"},
                         content_hash=content_hash({"cf_wsh": "罚1"}), redaction_reviewer="r1",
                         at=T("2025-09-29 10:00"), actor="pub")
    # Issue 18 (R29): evidence logged after the decision cannot support a change of it; nothing is written.
    app.log_evidence(inspection_id=iid, evidence_id="EV-LATE", evidence_type="书证", sha256=H, size=1,
                     media_type="image/jpeg", source="on_site", capture={}, cert_nos=["C1", "C2"],
                     at=T("2025-09-29 11:00"), actor="p1")
    before = app.recorder.max_notification_id()
    with pytest.raises(DomainError) as info:
        app.alter_decision(inspection_id=iid, kind="changed", reason="复议变更", basis_ref="复议-0",
                           new_draft_hash="c" * 64, evidence_refs=["EV-1", "EV-LATE"], at=T("2025-09-29 12:00"),
                           actor="head")
    assert info.value.code == "E_EVIDENCE_AFTER_DECISION"
    assert app.recorder.max_notification_id() == before
    app.alter_decision(inspection_id=iid, kind="revoked", reason="复议撤销", basis_ref="复议-1",
                       at=T("2025-09-30 10:00"), actor="head")
    app.withdraw_publication(inspection_id=iid, reason_text="已撤销", at=T("2025-10-11 10:00"), actor="pub")
    insp = app.get_inspection(iid)
    assert insp.publication["status"] == "withdrawn"
    assert insp.decision["status"] == "revoked"
    records = list(app.case_records(iid))
    assert [e.type for e, _, _ in records][:2] == ["inspection.dispatched.v2", "inspection.approved.v1"]
    assert records[-1][0].type == "inspection.publication_withdrawn.v1"
    assert {e.actor for e, _, _ in records} >= {"dispatcher", "head", "p1", "C1", "C2", "r1", "pub"}
    rebuilt = None
    for e in app.events.get(iid):
        rebuilt = e.mutate(rebuilt)
    assert rebuilt == insp
    report = verify_database(c.engine, workers=2, merkle_check=check_merkle())
    assert report.ok, report.failure


def test_a_refused_command_writes_nothing_to_the_ledger(db_url: str) -> None:
    c = setup(db_url)
    before = c.app.recorder.max_notification_id()
    with pytest.raises(DomainError) as info:
        c.app.register_enterprise(uscc="91350100m000100Y43", name="x", sector="food", admin_division="3501",
                                  risk_class="B", positive_list=False, at=T("2025-09-01 09:00"), actor="reg")
    assert info.value.code == "E_USCC_INVALID"
    with pytest.raises(DomainError) as info:
        dispatch(c.app, "T-9", T("2027-01-04 09:00"))
    assert info.value.code in {"E_NOT_IN_PLAN", "E_CALENDAR_UNAVAILABLE"}
    assert c.app.recorder.max_notification_id() == before


def test_with_one_slot_left_exactly_one_of_20_parallel_dispatches_succeeds(db_url: str) -> None:
    c = setup(db_url)
    dispatch(c.app, "T-1", T("2025-09-01 09:00"))
    dispatch(c.app, "T-2", T("2025-09-01 09:10"))  # cap 3: one slot left
    barrier = threading.Barrier(20)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            dispatch(c.app, f"P-{i}", T("2025-09-02 09:00"))
            result = "ok"
        except (DomainError, ConflictError) as e:
            result = e.code
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1, outcomes
    assert set(outcomes) <= {"ok", "E_CONFLICT", "E_FREQUENCY_CAP"}, outcomes
    assert c.app.repository.get(EnterpriseYear.id_for(ENT, AGENCY, 2025)).ytd == 3
    assert verify_database(c.engine, workers=1, merkle_check=check_merkle()).ok
