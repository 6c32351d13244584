"""Part 2 on the real signed ledger (SQLite file and PostgreSQL): a draw, the penalty
procedure with a hearing, a seizure, payment, publication period, credit repair and the
no-double-fine register all encode canonically, sign, chain, verify and replay."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from domain.base import content_hash
from domain.calendar import SHANGHAI, to_micros
from domain.errors import DomainError
from domain.inspection import REVIEW_POINTS
from domain.penalty import FineRegister
from domain.random_draw import verify_draw
from domain.uscc import make_uscc
from ledger.audit import verify_database
from ledger.merkle_audit import check_merkle
from tests.fakes import make_enforcement_ledger

AGENCY = make_uscc("11350100MB0000001")
ENT = "91350100M000100Y43"
H = "a" * 64
ACTORS = ["reg", "head", "p1", "C1", "C2", "dispatcher", "r1", "pub", "party", "h1", "bank", "credit"]
VIOLATION = {"fingerprint": "f" * 64, "description_hash": "d" * 64, "violation_end_on": "2025-08-20",
             "discovered_on": "2025-09-02"}
DOC = {"party": "某食品公司，福州市", "facts_and_evidence": "过期食品；笔录",
       "penalty_and_basis": "罚款2000元；食品安全法",
       "performance": "十五日内缴纳", "remedy": "60日内申请行政复议或者6个月内提起行政诉讼",
       "agency_and_date": "市场监管局 2025-10-20"}


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
        a.issue_certificate(cert_no=cert, person_id=person, name=person, agency_code=AGENCY,
                            categories=["food", "market"], valid_from="2024-01-01", valid_until="2027-12-31", at=t0,
                            actor="reg")
    a.register_enterprise(uscc=ENT, name="某食品公司", sector="food", admin_division="350102", risk_class="B",
                          positive_list=False, at=t0, actor="reg")
    a.publish_reference_list(kind="item_list", owner=AGENCY, at=t0, actor="reg",
                             entries=[{"code": "I3", "name": "双随机", "category": "market", "double_random": True}])
    a.publish_reference_list(kind="annual_plan", owner=AGENCY, scope="2025", entries=[{"item_code": "I3"}], at=t0,
                             actor="reg")
    a.publish_reference_list(kind="frequency_caps", owner=AGENCY,
                             entries=[{"sector": "food", "risk_class": "B", "cap": 3}], at=t0, actor="reg")
    a.publish_reference_list(kind="discretion_benchmark", owner=AGENCY,
                             entries=[{"code": "B1", "min_fen": 1, "max_fen": 10_000_000}], at=t0, actor="reg")
    a.publish_reference_list(kind="officer_roster", owner=AGENCY, at=t0, actor="reg",
                             entries=[{"cert_no": "C1", "name": "p1"}, {"cert_no": "C2", "name": "p2"}])
    return c


def test_a_part_two_lifecycle_is_signed_chained_verified_and_replays(db_url: str) -> None:
    c = setup(db_url)
    app = c.app
    # R14: commit, draw, dispatch by the draw.
    pool = [ENT, "91230500MA1B3N1N2M"]
    pool_hash = app.commit_draw_pool(agency_code=AGENCY, draw_no="D-1", purpose="targets", pool=pool,
                                     seed_source="上证综指次日收盘", at=T("2025-08-29 09:00"), actor="dispatcher")
    app.perform_draw(agency_code=AGENCY, draw_no="D-1", pool_hash=pool_hash, seed="3857.93", count=2,
                     at=T("2025-08-30 10:00"), actor="dispatcher")
    iid = app.dispatch_inspection(task_no="T-1", inspection_type="routine", mode="on_site", uscc=ENT,
                                  assignments=[{"agency_code": AGENCY, "item_codes": ["I3"], "cert_nos": ["C1", "C2"]}],
                                  at=T("2025-09-01 09:00"), actor="dispatcher", random_draw_ref=f"{AGENCY}/D-1")
    app.approve_inspection(inspection_id=iid, agency_code=AGENCY, approver="head", at=T("2025-09-01 09:30"))
    app.record_arrival(inspection_id=iid, scan={"code_id": "Q", "uscc": ENT, "scanned_at": 1}, location="x",
                       at=T("2025-09-02 10:00"), actor="p1")
    for cert in ("C1", "C2"):
        app.show_certificate(inspection_id=iid, cert_no=cert, at=T("2025-09-02 10:05"), actor=cert)
    app.log_evidence(inspection_id=iid, evidence_id="EV-1", evidence_type="书证", sha256=H, size=1,
                     media_type="image/jpeg", source="on_site", capture={}, cert_nos=["C1", "C2"],
                     at=T("2025-09-02 10:30"), actor="p1")
    # R56, R25, R57: a seizure with its audio-video, then lifted.
    start, done = T("2025-09-02 10:35"), T("2025-09-02 10:50")
    app.take_coercive_measure(
        inspection_id=iid, agency_code=AGENCY, measure_no="M-1", cert_nos=["C1", "C2"], at=done, actor="p1",
        kind="seize", items=[{"name": "过期食品", "quantity": 120}], legal_basis="食品安全法第一百一十条",
        decision_doc_hash=H, inventory_hash=H, documents_delivered=True, party_present=True, party_notified=True,
        rights_stated=True, statement_hash=H, record_hash=H, party_signature="s", refusal_note=None,
        witness_signature=None, approver="head", emergency=False, started_at=start,
        av_segments=[{"start_us": to_micros(start), "end_us": to_micros(done), "device_id": "cam", "sha256": H}],
        av_interruptions=[])
    app.sign_inspection_record(inspection_id=iid, record_hash=H, cert_nos=["C1", "C2"], party_signature="s",
                               refusal_note=None, at=T("2025-09-02 11:00"), actor="p1")
    app.conclude_inspection(inspection_id=iid, result="case_filed", cert_nos=["C1", "C2"], at=T("2025-09-02 11:30"),
                            actor="p1")
    app.notify_result(inspection_id=iid, recipient="m", summary_hash=H, secret=b"s", at=T("2025-09-02 12:00"),
                      actor="p1")
    # R30, R31, R33, R35, R36.
    app.file_case(inspection_id=iid, case_no="C-1", investigators=["p1"], case_class="ordinary",
                  requires_legal_review=True, at=T("2025-09-03 09:00"), actor="p1", violation=VIOLATION)
    app.serve_penalty_notice(inspection_id=iid, notice_no="告-1", penalty_kinds=["罚款"], fine_fen=200_000,
                             facts_hash=H, hearing_right=True, at=T("2025-09-10 09:00"), actor="p1")
    app.hear_statement(inspection_id=iid, kind="defence", statement_hash=H, adopted=False, at=T("2025-09-11 09:00"),
                       actor="party")
    app.request_hearing(inspection_id=iid, request_ref="听证申请-1", at=T("2025-09-12 09:00"), actor="party")
    app.schedule_hearing(inspection_id=iid, hearing_date="2025-09-28", place="听证室", host="h1", public=True,
                         at=T("2025-09-18 09:00"), actor="p1")
    app.hold_hearing(inspection_id=iid, host="h1", record_hash=H, party_signature="s", refusal_note=None,
                     at=T("2025-09-28 09:00"), actor="h1")
    app.end_coercive_measure(inspection_id=iid, measure_no="M-1", outcome="disposal_decided", reason="依法处理",
                             decision_ref="处理决定-1", at=T("2025-09-29 09:00"), actor="p1")
    app.give_legal_review(inspection_id=iid, reviewer="r1", draft_hash="b" * 64, result="pass",
                          checklist=dict.fromkeys(REVIEW_POINTS, "ok"), first_time=False, legal_qualification=True,
                          at=T("2025-10-15 09:00"))
    with pytest.raises(DomainError) as info:  # R34: heavier after the defence
        app.decide(inspection_id=iid, decision_no="罚1", outcome="penalty", draft_hash="b" * 64, decider="head",
                   decider_role="agency_head", evidence_refs=["EV-1"], at=T("2025-10-20 10:00"),
                   penalty_kinds=["罚款"], fine_fen=250_000, benchmark_code="B1", document=DOC, seal_ref="seal-1")
    assert info.value.code == "E_HEAVIER_AFTER_DEFENCE"
    app.decide(inspection_id=iid, decision_no="罚1", outcome="penalty", draft_hash="b" * 64, decider="head",
               decider_role="agency_head", evidence_refs=["EV-1"], at=T("2025-10-20 10:00"), penalty_kinds=["罚款"],
               fine_fen=200_000, benchmark_code="B1", document=DOC, seal_ref="seal-1")
    doc = {"cf_wsh": "罚1", "cf_xdr_shxym": ENT, "cf_cfjgdm": AGENCY}
    app.serve_decision(inspection_id=iid, method="direct", documents=["行政处罚决定书"],
                       document_hash=content_hash(doc), publication_notice=True, at=T("2025-10-20 15:00"), actor="p1")
    app.publish_decision(inspection_id=iid, served_document=doc, redaction_map={}, content_hash=content_hash(doc),
                         redaction_reviewer="r1", at=T("2025-10-22 10:00"), actor="pub", credit_category="general",
                         period_months=6)
    app.record_payment(inspection_id=iid, amount_fen=200_000, surcharge_fen=0, receipt_ref="银行回单-1",
                       at=T("2025-10-30 09:00"), actor="bank")
    conditions = {"obligations_fulfilled": True, "harm_eliminated": True, "no_repeat_violation": True,
                  "not_on_abnormal_lists": True}
    app.approve_credit_repair(inspection_id=iid, conditions=conditions, application_ref="修复-1", approver="credit",
                              at=T("2026-01-21 09:00"))
    app.close_case(inspection_id=iid, at=T("2026-01-22 09:00"), actor="p1")

    insp = app.get_inspection(iid)
    assert insp.publication["status"] == "repaired"
    assert insp.closed
    assert insp.publication["public_until"] == "2026-04-20"
    types = [e.type for e, _, _ in app.case_records(iid)]
    for wire in ("inspection.violation_recorded.v1", "inspection.penalty_notice_served.v1",
                 "inspection.statement_heard.v1", "inspection.hearing_requested.v1", "inspection.hearing_scheduled.v1",
                 "inspection.hearing_held.v1", "inspection.decision_document_issued.v1", "inspection.fine_paid.v1",
                 "inspection.publication_period_set.v1", "inspection.credit_repair_approved.v1",
                 "inspection.case_closed.v1"):
        assert wire in types, wire
    rebuilt = None
    for e in app.events.get(iid):
        rebuilt = e.mutate(rebuilt)
    assert rebuilt == insp
    register = app.repository.get(FineRegister.id_for(ENT, "f" * 64))
    assert register.fines[str(iid)]["fine_fen"] == 200_000
    draw = app.get_random_draw(agency_code=AGENCY, draw_no="D-1")
    assert verify_draw(pool=pool, seed="3857.93", count=2, selected=draw.selected, pool_hash=pool_hash)
    measure = app.get_coercive_measure(inspection_id=iid, measure_no="M-1")
    assert measure.ended
    report = verify_database(c.engine, workers=2, merkle_check=check_merkle())
    assert report.ok, report.failure


def test_a_second_extension_of_a_seizure_writes_nothing_to_the_signed_ledger(db_url: str) -> None:
    c = setup(db_url)
    app = c.app
    iid = app.dispatch_inspection(task_no="T-2", inspection_type="case", mode="on_site", uscc=ENT,
                                  assignments=[{"agency_code": AGENCY, "item_codes": ["I3"], "cert_nos": ["C1", "C2"]}],
                                  at=T("2025-09-01 09:00"), actor="dispatcher",
                                  case_source={"kind": "complaint_report", "ref": "12345-2025-0901"})
    app.approve_inspection(inspection_id=iid, agency_code=AGENCY, approver="head", at=T("2025-09-01 09:30"))
    app.record_arrival(inspection_id=iid, scan={"code_id": "Q", "uscc": ENT, "scanned_at": 1}, location="x",
                       at=T("2025-09-02 10:00"), actor="p1")
    for cert in ("C1", "C2"):
        app.show_certificate(inspection_id=iid, cert_no=cert, at=T("2025-09-02 10:05"), actor=cert)
    start, done = T("2025-09-02 10:35"), T("2025-09-02 10:50")
    app.take_coercive_measure(
        inspection_id=iid, agency_code=AGENCY, measure_no="M-1", cert_nos=["C1", "C2"], at=done, actor="p1",
        kind="seal", items=[{"name": "仓库"}], legal_basis="b", decision_doc_hash=H, inventory_hash=H,
        documents_delivered=True, party_present=False, party_notified=True, rights_stated=True, statement_hash=None,
        record_hash=H, party_signature=None, refusal_note=None, witness_signature="见证人", approver=None,
        emergency=True, started_at=start,
        av_segments=[{"start_us": to_micros(start), "end_us": to_micros(done), "device_id": "cam", "sha256": H}],
        av_interruptions=[])
    app.approve_coercive_measure(inspection_id=iid, measure_no="M-1", approver="head", at=T("2025-09-03 12:00"))
    app.extend_coercive_measure(inspection_id=iid, measure_no="M-1", approver="head", days=30, reason="复杂",
                                notice_ref="延期告知书", at=T("2025-09-30 09:00"))
    before = app.recorder.max_notification_id()
    with pytest.raises(DomainError) as info:
        app.extend_coercive_measure(inspection_id=iid, measure_no="M-1", approver="head", days=10, reason="r",
                                    notice_ref="n", at=T("2025-10-01 09:00"))
    assert info.value.code == "E_EXTENSION_LIMIT"
    assert app.recorder.max_notification_id() == before
    measure = app.get_coercive_measure(inspection_id=iid, measure_no="M-1")
    records = list(app.case_records(measure.id))
    assert records[1][0].type == "coercive.measure_approved.v1"
    approved = app.repository.get(measure.id)
    assert approved.approved
    assert verify_database(c.engine, workers=1, merkle_check=check_merkle()).ok
