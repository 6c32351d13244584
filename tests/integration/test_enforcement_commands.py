"""``ledger.enforcement.EnforcementCommands`` on a plain eventsourcing Application
(in-memory POPO persistence): load by natural key, refuse with codes, save atomically,
and keep the yearly cap under concurrent dispatches (R12)."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import pytest
from eventsourcing.application import Application

from domain.base import content_hash
from domain.calendar import SHANGHAI, to_micros
from domain.errors import DomainError
from domain.inspection import REVIEW_POINTS, Inspection
from domain.registers import Agency, EnterpriseYear
from domain.uscc import make_uscc
from ledger.enforcement import EnforcementCommands
from ledger.holidays import ChineseCalendar

AGENCY = make_uscc("11350100MB0000001")
ENT = "91350100M000100Y43"
H = "a" * 64
VIOLATION = {"fingerprint": "f" * 64, "description_hash": "d" * 64, "violation_end_on": "2025-08-20",
             "discovered_on": "2025-09-02"}
DOC = {"party": "某食品公司，福州市", "facts_and_evidence": "过期食品；笔录",
       "penalty_and_basis": "罚款2000元；食品安全法",
       "performance": "十五日内缴纳", "remedy": "60日内申请行政复议或者6个月内提起行政诉讼",
       "agency_and_date": "市场监管局 2025-09-26"}


def T(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=SHANGHAI)


class App(EnforcementCommands, Application):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calendar = ChineseCalendar()


@pytest.fixture
def app() -> App:
    a = App(env={})
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
    return a


def dispatch(app: App, task_no: str, at: datetime, certs: tuple[str, ...] = ("C1", "C2")) -> Any:
    return app.dispatch_inspection(task_no=task_no, inspection_type="routine", mode="on_site", uscc=ENT,
                                   assignments=[{"agency_code": AGENCY, "item_codes": ["I1"], "cert_nos": list(certs)}],
                                   at=at, actor="dispatcher")


def test_a_whole_lifecycle_persists_and_reloads_to_the_same_state(app: App) -> None:
    iid = dispatch(app, "T-1", T("2025-09-01 09:00"))
    assert iid == Inspection.id_for(AGENCY, "T-1")
    app.approve_inspection(inspection_id=iid, agency_code=AGENCY, approver="head", at=T("2025-09-01 09:30"))
    app.record_arrival(inspection_id=iid, scan={"code_id": "Q", "uscc": ENT, "scanned_at": 1}, location="x",
                       at=T("2025-09-02 10:00"), actor="p1")
    for c in ("C1", "C2"):
        app.show_certificate(inspection_id=iid, cert_no=c, at=T("2025-09-02 10:05"), actor=c)
    app.log_evidence(inspection_id=iid, evidence_id="EV-1", evidence_type="书证", sha256=H, size=1,
                     media_type="image/jpeg", source="on_site", capture={}, cert_nos=["C1", "C2"],
                     at=T("2025-09-02 10:30"), actor="p1")
    app.sign_inspection_record(inspection_id=iid, record_hash=H, cert_nos=["C1", "C2"], party_signature="s",
                               refusal_note=None, at=T("2025-09-02 11:00"), actor="p1")
    app.conclude_inspection(inspection_id=iid, result="case_filed", cert_nos=["C1", "C2"], at=T("2025-09-02 11:30"),
                            actor="p1")
    token = app.notify_result(inspection_id=iid, recipient="m", summary_hash=H, secret=b"s",
                              at=T("2025-09-02 12:00"), actor="p1")
    assert len(token) == 64
    app.file_case(inspection_id=iid, case_no="C-1", investigators=["p1"], case_class="ordinary",
                  requires_legal_review=True, at=T("2025-09-03 09:00"), actor="p1", violation=VIOLATION)
    app.serve_penalty_notice(inspection_id=iid, notice_no="告-1", penalty_kinds=["罚款"], fine_fen=200_000,
                             facts_hash=H, hearing_right=False, at=T("2025-09-10 09:00"), actor="p1")
    app.waive_rights(inspection_id=iid, rights=["statement"], waiver_ref="声明-1", at=T("2025-09-11 09:00"),
                     actor="party")
    app.give_legal_review(inspection_id=iid, reviewer="r1", draft_hash="b" * 64, result="pass",
                          checklist=dict.fromkeys(REVIEW_POINTS, "ok"), first_time=False, legal_qualification=True,
                          at=T("2025-09-20 09:00"))
    app.decide(inspection_id=iid, decision_no="罚1", outcome="penalty", draft_hash="b" * 64, decider="head",
               decider_role="agency_head", evidence_refs=["EV-1"], at=T("2025-09-26 10:00"),
               penalty_kinds=["罚款"], fine_fen=200_000, benchmark_code="B1", document=DOC, seal_ref="seal-1")
    doc = {"cf_wsh": "罚1", "cf_xdr_zjhm": "secret-id"}
    app.serve_decision(inspection_id=iid, method="direct", documents=["行政处罚决定书"],
                       document_hash=content_hash(doc), publication_notice=True, at=T("2025-09-26 15:00"), actor="p1")
    app.publish_decision(inspection_id=iid, served_document=doc, redaction_map={"cf_xdr_zjhm": "个人信息"},
                         content_hash=content_hash({"cf_wsh": "罚1"}), redaction_reviewer="r1",
                         at=T("2025-09-29 10:00"), actor="pub")
    app.alter_decision(inspection_id=iid, kind="revoked", reason="复议撤销", basis_ref="复议-1",
                       at=T("2025-09-30 10:00"), actor="head")
    app.withdraw_publication(inspection_id=iid, reason_text="已撤销", at=T("2025-10-11 10:00"), actor="pub")
    insp = app.get_inspection(iid)
    assert insp.publication["status"] == "withdrawn"
    assert insp.decision["status"] == "revoked"
    events = list(app.events.get(iid))
    rebuilt = None
    for e in events:
        rebuilt = e.mutate(rebuilt)
    assert rebuilt == insp
    assert list(events[-1].flags) == []  # tuples come back from JSON storage as lists


def test_unknown_officers_agencies_enterprises_and_cases_are_refused_with_codes(app: App) -> None:
    with pytest.raises(DomainError) as info:
        dispatch(app, "T-1", T("2025-09-01 09:00"), certs=("C1", "NOPE"))
    assert info.value.code == "E_UNKNOWN_OFFICER"
    with pytest.raises(DomainError) as info:
        app.dispatch_inspection(task_no="T-1", inspection_type="routine", mode="on_site", uscc=ENT,
                                assignments=[{"agency_code": make_uscc("11350100MB0000009"), "item_codes": ["I1"],
                                              "cert_nos": ["C1", "C2"]}], at=T("2025-09-01 09:00"), actor="d")
    assert info.value.code == "E_UNKNOWN_AGENCY"
    with pytest.raises(DomainError) as info:
        app.dispatch_inspection(task_no="T-1", inspection_type="routine", mode="on_site", uscc="91230500MA1B3N1N2M",
                                assignments=[], at=T("2025-09-01 09:00"), actor="d")
    assert info.value.code == "E_UNKNOWN_ENTERPRISE"
    with pytest.raises(DomainError) as info:
        app.get_inspection(Inspection.id_for(AGENCY, "nope"))
    assert info.value.code == "E_UNKNOWN_CASE"
    with pytest.raises(DomainError) as info:
        app.issue_certificate(cert_no="X", person_id="x", name="x", agency_code=make_uscc("11350100MB0000009"),
                              categories=["food"], valid_from="2025-01-01", valid_until="2025-12-31",
                              at=T("2025-01-02 09:00"), actor="reg")
    assert info.value.code == "E_UNKNOWN_AGENCY"
    assert app.recorder.max_notification_id() == 13  # the fixture's entries only: refusals wrote nothing


def test_a_refused_command_writes_nothing(app: App) -> None:
    before = app.recorder.max_notification_id()
    with pytest.raises(DomainError) as info:
        app.dispatch_inspection(task_no="T-1", inspection_type="routine", mode="on_site", uscc=ENT,
                                assignments=[{"agency_code": AGENCY, "item_codes": ["NOPE"], "cert_nos": ["C1", "C2"]}],
                                at=T("2025-09-01 09:00"), actor="d")
    assert info.value.code == "E_ITEM_NOT_PUBLISHED"
    with pytest.raises(DomainError) as info:
        app.register_enterprise(uscc="91350100m000100Y43", name="x", sector="food", admin_division="3501",
                                risk_class="B", positive_list=False, at=T("2025-09-01 09:00"), actor="reg")
    assert info.value.code == "E_USCC_INVALID"
    with pytest.raises(DomainError) as info:
        dispatch(app, "T-1", T("2027-01-04 09:00"))
    assert info.value.code == "E_NOT_IN_PLAN"
    assert app.recorder.max_notification_id() == before


def test_redispatching_a_task_number_is_refused(app: App) -> None:
    dispatch(app, "T-1", T("2025-09-01 09:00"))
    with pytest.raises(DomainError) as info:
        dispatch(app, "T-1", T("2025-09-02 09:00"))
    assert info.value.code == "E_OUT_OF_ORDER"


def test_with_one_slot_left_exactly_one_of_20_parallel_dispatches_succeeds(app: App) -> None:
    dispatch(app, "T-1", T("2025-09-01 09:00"))
    dispatch(app, "T-2", T("2025-09-01 09:10"))  # cap 3: one slot left
    barrier = threading.Barrier(20)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            dispatch(app, f"P-{i}", T("2025-09-02 09:00"))
            result = "ok"
        except DomainError as e:
            result = e.code
        except Exception as e:  # noqa: BLE001 - the optimistic-concurrency conflict
            result = type(e).__name__
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1, outcomes
    assert app.repository.get(EnterpriseYear.id_for(ENT, AGENCY, 2025)).ytd == 3


# ------------------------------------------------------------------ issue 5: R14 verifiable random draws


def test_a_random_draw_with_a_mismatched_pool_hash_is_refused_and_writes_nothing(app: App) -> None:
    pool = [ENT, "91230500MA1B3N1N2M"]
    pool_hash = app.commit_draw_pool(agency_code=AGENCY, draw_no="D-1", purpose="targets", pool=pool,
                                     seed_source="上证综指次日收盘", at=T("2025-08-29 09:00"), actor="dispatcher")
    before = app.recorder.max_notification_id()
    with pytest.raises(DomainError) as info:
        app.perform_draw(agency_code=AGENCY, draw_no="D-1", pool_hash="sha256:" + "0" * 64, seed="3857.93",
                         count=1, at=T("2025-08-30 10:00"), actor="dispatcher")
    assert info.value.code == "E_RANDOM_POOL_MISMATCH"
    assert app.recorder.max_notification_id() == before
    selected = app.perform_draw(agency_code=AGENCY, draw_no="D-1", pool_hash=pool_hash, seed="3857.93", count=2,
                                at=T("2025-08-30 10:00"), actor="dispatcher")
    assert sorted(selected) == sorted(pool)
    reloaded = app.get_random_draw(agency_code=AGENCY, draw_no="D-1")
    assert reloaded.verify().selected == selected  # an auditor recomputes from the stored events alone


def test_a_dispatch_refers_to_a_performed_draw_by_reference(app: App) -> None:
    h = app.commit_draw_pool(agency_code=AGENCY, draw_no="D-2", purpose="targets", pool=[ENT], seed_source="s",
                             at=T("2025-08-29 09:00"), actor="dispatcher")
    app.perform_draw(agency_code=AGENCY, draw_no="D-2", pool_hash=h, seed="x", count=1, at=T("2025-08-30 10:00"),
                     actor="dispatcher")
    iid = app.dispatch_inspection(task_no="T-R", inspection_type="routine", mode="on_site", uscc=ENT,
                                  assignments=[{"agency_code": AGENCY, "item_codes": ["I1"], "cert_nos": ["C1", "C2"]}],
                                  at=T("2025-09-01 09:00"), actor="dispatcher", random_draw_ref=f"{AGENCY}/D-2")
    assert app.get_inspection(iid).assignments[0]["random_draw"]["pool_hash"] == h
    with pytest.raises(DomainError) as info:
        app.dispatch_inspection(task_no="T-S", inspection_type="routine", mode="on_site", uscc=ENT,
                                assignments=[{"agency_code": AGENCY, "item_codes": ["I1"], "cert_nos": ["C1", "C2"]}],
                                at=T("2025-09-01 09:00"), actor="dispatcher", random_draw_ref=f"{AGENCY}/nope")
    assert info.value.code == "E_RANDOM_DRAW_MISSING"


# ------------------------------------------------------------------ issue 5: part 2 through the command layer


def on_site(app: App, task_no: str, day: str = "2025-09-02") -> Any:
    """Dispatched, approved, checked in, certificates shown, evidence logged, record signed."""
    iid = dispatch(app, task_no, T("2025-09-01 09:00"))
    app.approve_inspection(inspection_id=iid, agency_code=AGENCY, approver="head", at=T("2025-09-01 09:30"))
    app.record_arrival(inspection_id=iid, scan={"code_id": "Q", "uscc": ENT, "scanned_at": 1}, location="x",
                       at=T(f"{day} 10:00"), actor="p1")
    for c in ("C1", "C2"):
        app.show_certificate(inspection_id=iid, cert_no=c, at=T(f"{day} 10:05"), actor=c)
    app.log_evidence(inspection_id=iid, evidence_id="EV-1", evidence_type="书证", sha256=H, size=1,
                     media_type="image/jpeg", source="on_site", capture={}, cert_nos=["C1", "C2"],
                     at=T(f"{day} 10:30"), actor="p1")
    app.sign_inspection_record(inspection_id=iid, record_hash=H, cert_nos=["C1", "C2"], party_signature="s",
                               refusal_note=None, at=T(f"{day} 11:00"), actor="p1")
    return iid


def filed(app: App, task_no: str, *, waive: bool = True, review_at: str = "2025-09-20 09:00") -> Any:
    iid = on_site(app, task_no)
    app.conclude_inspection(inspection_id=iid, result="case_filed", cert_nos=["C1", "C2"], at=T("2025-09-02 11:30"),
                            actor="p1")
    app.notify_result(inspection_id=iid, recipient="m", summary_hash=H, secret=b"s", at=T("2025-09-02 12:00"),
                      actor="p1")
    app.file_case(inspection_id=iid, case_no=f"C-{task_no}", investigators=["p1"], case_class="ordinary",
                  requires_legal_review=True, at=T("2025-09-03 09:00"), actor="p1", violation=VIOLATION)
    app.serve_penalty_notice(inspection_id=iid, notice_no="告-1", penalty_kinds=["罚款"], fine_fen=200_000,
                             facts_hash=H, hearing_right=False, at=T("2025-09-10 09:00"), actor="p1")
    if waive:
        app.waive_rights(inspection_id=iid, rights=["statement"], waiver_ref="声明-1", at=T("2025-09-11 09:00"),
                         actor="party")
    app.give_legal_review(inspection_id=iid, reviewer="r1", draft_hash="b" * 64, result="pass",
                          checklist=dict.fromkeys(REVIEW_POINTS, "ok"), first_time=False, legal_qualification=True,
                          at=T(review_at))
    return iid


def decide_fine(app: App, iid: Any, at: str = "2025-09-26 10:00", **kw: Any) -> None:
    params: dict[str, Any] = {"decision_no": "罚1", "outcome": "penalty", "draft_hash": "b" * 64, "decider": "head",
                              "decider_role": "agency_head", "evidence_refs": ["EV-1"], "penalty_kinds": ["罚款"],
                              "fine_fen": 200_000, "benchmark_code": "B1", "document": DOC, "seal_ref": "seal-1"}
    params.update(kw)
    app.decide(inspection_id=iid, at=T(at), **params)


def refused(app: App, code: str, fn: Any) -> None:
    """``fn()`` is refused with ``code`` and nothing is written."""
    before = app.recorder.max_notification_id()
    with pytest.raises(DomainError) as info:
        fn()
    assert info.value.code == code, info.value
    assert app.recorder.max_notification_id() == before


def test_an_on_the_spot_fine_above_the_limit_is_refused_and_writes_nothing(app: App) -> None:
    iid = on_site(app, "T-S")
    app.record_violation(inspection_id=iid, **VIOLATION, at=T("2025-09-02 11:10"), actor="p1")
    refused(app, "E_SIMPLE_PROCEDURE_LIMIT", lambda: decide_fine(app, iid, at="2025-09-02 11:20", procedure="simple",
                                                                 form_serial="No.1", fine_fen=300_100))
    decide_fine(app, iid, at="2025-09-02 11:20", procedure="simple", form_serial="No.1", fine_fen=300_000)
    app.file_simple_decision(inspection_id=iid, filing_ref="备案-1", at=T("2025-09-03 09:00"), actor="p1")
    assert app.get_inspection(iid).decision["filed_with_agency"]


def test_a_late_surcharge_above_the_fine_is_refused_and_writes_nothing(app: App) -> None:
    iid = filed(app, "T-P")
    decide_fine(app, iid)
    app.serve_decision(inspection_id=iid, method="direct", documents=["行政处罚决定书"], document_hash=H,
                       publication_notice=True, at=T("2025-09-26 15:00"), actor="p1")
    refused(app, "E_SURCHARGE_CAP", lambda: app.record_payment(
        inspection_id=iid, amount_fen=200_000, surcharge_fen=200_001, receipt_ref="r", at=T("2025-12-31 09:00"),
        actor="p1"))
    app.record_payment(inspection_id=iid, amount_fen=200_000, surcharge_fen=200_000, receipt_ref="r",
                       at=T("2025-12-31 09:00"), actor="p1")


def test_a_hearing_date_too_early_is_refused_and_writes_nothing(app: App) -> None:
    iid = on_site(app, "T-H")
    app.conclude_inspection(inspection_id=iid, result="case_filed", cert_nos=["C1", "C2"], at=T("2025-09-02 11:30"),
                            actor="p1")
    app.file_case(inspection_id=iid, case_no="C-H", investigators=["p1"], case_class="ordinary",
                  requires_legal_review=True, at=T("2025-09-03 09:00"), actor="p1", violation=VIOLATION)
    app.serve_penalty_notice(inspection_id=iid, notice_no="告-1", penalty_kinds=["吊销许可证件"], fine_fen=0,
                             facts_hash=H, hearing_right=True, at=T("2025-09-10 09:00"), actor="p1")
    app.request_hearing(inspection_id=iid, request_ref="申请-1", at=T("2025-09-12 09:00"), actor="party")
    refused(app, "E_HEARING_NOTICE_SHORT", lambda: app.schedule_hearing(
        inspection_id=iid, hearing_date="2025-09-26", place="听证室", host="h1", public=True, at=T("2025-09-18 09:00"),
        actor="p1"))
    app.schedule_hearing(inspection_id=iid, hearing_date="2025-09-28", place="听证室", host="h1", public=True,
                         at=T("2025-09-18 09:00"), actor="p1")


def test_a_second_decision_period_extension_is_refused_and_writes_nothing(app: App) -> None:
    iid = filed(app, "T-E")
    app.approve_decision_extension(inspection_id=iid, approver="head", basis="案情复杂", at=T("2025-11-20 09:00"))
    refused(app, "E_EXTENSION_LIMIT", lambda: app.approve_decision_extension(
        inspection_id=iid, approver="head", basis="仍复杂", at=T("2025-12-20 09:00")))


def test_credit_repair_before_the_minimum_period_is_refused_and_writes_nothing(app: App) -> None:
    iid = filed(app, "T-C")
    decide_fine(app, iid)
    doc = {"cf_wsh": "罚1"}
    app.serve_decision(inspection_id=iid, method="direct", documents=["行政处罚决定书"],
                       document_hash=content_hash(doc),
                       publication_notice=True, at=T("2025-09-26 15:00"), actor="p1")
    app.record_payment(inspection_id=iid, amount_fen=200_000, surcharge_fen=0, receipt_ref="r",
                       at=T("2025-09-28 09:00"), actor="p1")
    app.publish_decision(inspection_id=iid, served_document=doc, redaction_map={}, content_hash=content_hash(doc),
                         redaction_reviewer="r1", at=T("2025-09-29 10:00"), actor="pub", credit_category="general",
                         period_months=6)
    conditions = {"obligations_fulfilled": True, "harm_eliminated": True, "no_repeat_violation": True,
                  "not_on_abnormal_lists": True}
    refused(app, "E_REPAIR_NOT_ELIGIBLE", lambda: app.approve_credit_repair(
        inspection_id=iid, conditions=conditions, application_ref="a", approver="信用科", at=T("2025-12-01 09:00")))
    app.approve_credit_repair(inspection_id=iid, conditions=conditions, application_ref="a", approver="信用科",
                              at=T("2025-12-26 09:00"))
    assert app.get_inspection(iid).publication["status"] == "repaired"


def test_a_second_fine_for_the_same_violation_in_another_case_is_refused(app: App) -> None:
    first, second = filed(app, "T-1"), filed(app, "T-2")
    decide_fine(app, first)
    refused(app, "E_DOUBLE_FINE", lambda: decide_fine(app, second, at="2025-09-27 10:00"))
    app.alter_decision(inspection_id=first, kind="revoked", reason="复议撤销", basis_ref="复-1",
                       at=T("2025-09-28 10:00"), actor="head")
    decide_fine(app, second, at="2025-09-29 10:00")


def test_a_penalty_without_the_prior_notice_period_is_refused_and_writes_nothing(app: App) -> None:
    iid = filed(app, "T-N", waive=False, review_at="2025-09-12 09:00")
    refused(app, "E_NO_PRIOR_NOTICE", lambda: decide_fine(app, iid, at="2025-09-17 16:00"))  # period ends 09-17
    decide_fine(app, iid, at="2025-09-18 09:00")


def test_a_coercive_measure_persists_reloads_and_refuses_a_second_extension(app: App) -> None:
    iid = on_site(app, "T-M")
    start, done = T("2025-09-02 11:05"), T("2025-09-02 11:20")
    seg = [{"start_us": to_micros(start), "end_us": to_micros(done), "device_id": "cam", "sha256": H}]
    app.take_coercive_measure(
        inspection_id=iid, agency_code=AGENCY, measure_no="M-1", cert_nos=["C1", "C2"], at=done, actor="p1",
        kind="seal", items=[{"name": "生产线"}], legal_basis="b", decision_doc_hash=H, inventory_hash=H,
        documents_delivered=True, party_present=True, party_notified=True, rights_stated=True, statement_hash=H,
        record_hash=H, party_signature="s", refusal_note=None, witness_signature=None, approver="head",
        emergency=False, started_at=start, av_segments=seg, av_interruptions=[])
    app.extend_coercive_measure(inspection_id=iid, measure_no="M-1", approver="head", days=30, reason="复杂",
                                notice_ref="延期告知书", at=T("2025-09-30 09:00"))
    refused(app, "E_EXTENSION_LIMIT", lambda: app.extend_coercive_measure(
        inspection_id=iid, measure_no="M-1", approver="head", days=5, reason="r", notice_ref="n",
        at=T("2025-10-01 09:00")))
    cm = app.get_coercive_measure(inspection_id=iid, measure_no="M-1")
    # 30 days after 09-02 fall in the National Day holiday (→ 10-09); +30 is Sat 11-08 (→ Mon 11-10).
    assert cm.extensions == 1
    assert cm.term_due["due"] == "2025-11-10"


def test_a_special_inspection_dispatches_by_its_filed_campaign(app: App) -> None:
    app.assess_special_necessity(agency_code=AGENCY, campaign_no="ZX-1", title="专项", assessment_hash=H,
                                 conclusion="necessary", at=T("2025-08-20 09:00"), actor="p1")
    app.approve_special_campaign(agency_code=AGENCY, campaign_no="ZX-1", approver="head", approver_role="subject_head",
                                 approval_ref="批-1", at=T("2025-08-21 09:00"))
    kwargs = {"task_no": "T-Z", "inspection_type": "special", "mode": "on_site", "uscc": ENT,
              "assignments": [{"agency_code": AGENCY, "item_codes": ["I1"], "cert_nos": ["C1", "C2"]}],
              "at": T("2025-09-01 09:00"), "actor": "dispatcher", "special_campaign_ref": f"{AGENCY}/ZX-1"}
    refused(app, "E_SPECIAL_NOT_APPROVED", lambda: app.dispatch_inspection(**kwargs))
    app.file_special_campaign(agency_code=AGENCY, campaign_no="ZX-1", receipt_ref="司法备-1", justice_office="司法局",
                              at=T("2025-08-22 09:00"), actor="p1")
    iid = app.dispatch_inspection(**kwargs)
    assert app.get_inspection(iid).inspection_type == "special"


def test_annual_statistics_are_flagged_when_published_after_31_january(app: App) -> None:
    app.publish_annual_statistics(agency_code=AGENCY, year=2025, statistics={"inspections": 3}, replay_hash=H,
                                  at=T("2026-02-02 09:00"), actor="reg")
    events = list(app.events.get(Agency.id_for(AGENCY)))
    assert events[-1].TYPE == "agency.annual_statistics_published.v1"
    assert list(events[-1].flags) == ["V_ANNUAL_STATS_OVERDUE"]

