"""A small enforcement world for projection tests: one agency, two officers, one enterprise,
and a lifecycle builder (the setup of tests/integration/test_enforcement_ledger.py)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from domain.base import content_hash
from domain.calendar import SHANGHAI, legal_day
from domain.inspection import REVIEW_POINTS
from domain.uscc import make_uscc
from tests.fakes import make_enforcement_ledger

AGENCY = make_uscc("11350100MB0000001")
ENT = "91350100M000100Y43"
H = "a" * 64
DRAFT = "b" * 64
ACTORS = ["reg", "head", "p1", "C1", "C2", "dispatcher", "r1", "pub"]
SECRET_ID = "350102199001011234"  # a personal ID number that must never be public

#: The served penalty decision (what the party received), in 信用中国 terms.
SERVED = {
    "cf_xdr_mc": "某食品公司", "cf_xdr_lb": "法人及非法人组织", "cf_xdr_shxym": ENT, "cf_frdb": "张三",
    "cf_fr_zjlx": "身份证", "cf_fr_zjhm": SECRET_ID, "cf_wsh": "榕市监罚〔2025〕1号", "cf_wfxw": "销售过期食品",
    "cf_sy": "经查，当事人销售超过保质期的食品。", "cf_yj": "《食品安全法》第一百二十四条",
    "cf_cflb": "罚款", "cf_nr": "罚款人民币贰仟元", "cf_nr_fk": "0.2", "cf_jdrq": "2025-09-26",
    "cf_yxq": "2026-09-26", "cf_gsjzq": "2026-09-26", "cf_cfjg": "市场监管局", "cf_cfjgdm": AGENCY,
    "cf_sjly": "市场监管局", "cf_sjlydm": AGENCY, "internal_note": "承办人意见：从重",
}
REDACTIONS = {"cf_fr_zjlx": "个人信息", "cf_fr_zjhm": "个人信息"}


def T(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=SHANGHAI)


def world(url: str) -> Any:
    c = make_enforcement_ledger(url, ACTORS)
    a = c.app
    t0 = T("2024-01-02 09:00")
    a.register_agency(agency_code=AGENCY, name="市场监管局", kind="administrative_agency", jurisdiction=["3501"],
                      at=t0, actor="reg")
    a.appoint_agency_head(agency_code=AGENCY, head="head", effective_at=t0, at=t0, actor="reg")
    for cert, person in [("C1", "p1"), ("C2", "p2")]:
        a.issue_certificate(cert_no=cert, person_id=person, name=f"officer {person}", agency_code=AGENCY,
                            categories=["food"], valid_from="2024-01-01", valid_until="2027-12-31", at=t0, actor="reg")
    a.register_enterprise(uscc=ENT, name="某食品公司", sector="food", admin_division="350102", risk_class="B",
                          positive_list=False, at=t0, actor="reg")
    a.publish_reference_list(kind="item_list", owner=AGENCY, entries=[{"code": "I1", "name": "n", "category": "food"}],
                             at=t0, actor="reg")
    for year in ("2024", "2025"):
        a.publish_reference_list(kind="annual_plan", owner=AGENCY, scope=year, entries=[{"item_code": "I1"}], at=t0,
                                 actor="reg")
    a.publish_reference_list(kind="frequency_caps", owner=AGENCY,
                             entries=[{"sector": "food", "risk_class": "B", "cap": 50}], at=t0, actor="reg")
    a.publish_reference_list(kind="discretion_benchmark", owner=AGENCY,
                             entries=[{"code": "B1", "min_fen": 1, "max_fen": 10_000_000}], at=t0, actor="reg")
    return c


def dispatch(app: Any, task_no: str, at: datetime, *, mode: str = "on_site", itype: str = "routine") -> Any:
    return app.dispatch_inspection(task_no=task_no, inspection_type=itype, mode=mode, uscc=ENT,
                                   assignments=[{"agency_code": AGENCY, "item_codes": ["I1"],
                                                 "cert_nos": ["C1", "C2"]}],
                                   at=at, actor="dispatcher")


def to_decision(app: Any, task_no: str = "T-1", day: str = "2025-09-") -> Any:
    """Dispatch → … → decision (a 2,000-yuan fine) → service. Returns the inspection id."""
    iid = dispatch(app, task_no, T(day + "01 09:00"))
    app.approve_inspection(inspection_id=iid, agency_code=AGENCY, approver="head", at=T(day + "01 09:30"))
    app.record_arrival(inspection_id=iid, scan={"code_id": "Q", "uscc": ENT, "scanned_at": 1}, location="x",
                       at=T(day + "02 10:00"), actor="p1")
    for cert in ("C1", "C2"):
        app.show_certificate(inspection_id=iid, cert_no=cert, at=T(day + "02 10:05"), actor=cert)
    app.log_evidence(inspection_id=iid, evidence_id="EV-1", evidence_type="书证", sha256=H, size=1,
                     media_type="image/jpeg", source="on_site", capture={"device_id": "cam-7"},
                     cert_nos=["C1", "C2"], at=T(day + "02 10:30"), actor="p1")
    app.sign_inspection_record(inspection_id=iid, record_hash=H, cert_nos=["C1", "C2"], party_signature="s",
                               refusal_note=None, at=T(day + "02 11:00"), actor="p1")
    app.conclude_inspection(inspection_id=iid, result="case_filed", cert_nos=["C1", "C2"],
                            at=T(day + "02 11:30"), actor="p1")
    app.notify_result(inspection_id=iid, recipient="m", summary_hash=H, secret=b"s", at=T(day + "02 12:00"),
                      actor="p1")
    file_case(app, iid, task_no, T(day + "03 09:00"))
    app.serve_penalty_notice(inspection_id=iid, notice_no="告-" + task_no, penalty_kinds=["罚款"], fine_fen=200_000,
                             facts_hash=H, hearing_right=False, at=T(day + "10 09:00"), actor="p1")
    app.waive_rights(inspection_id=iid, rights=["statement"], waiver_ref="声明-" + task_no,
                     at=T(day + "11 09:00"), actor="p1")
    app.give_legal_review(inspection_id=iid, reviewer="r1", draft_hash=DRAFT, result="pass",
                          checklist=dict.fromkeys(REVIEW_POINTS, "ok"), first_time=False, legal_qualification=True,
                          at=T(day + "20 09:00"))
    decide_penalty(app, iid, "罚" + task_no, T(day + "26 10:00"))
    app.serve_decision(inspection_id=iid, method="direct", documents=["行政处罚决定书"],
                       document_hash=content_hash(SERVED), publication_notice=True, at=T(day + "26 15:00"),
                       actor="p1")
    return iid


def violation(task_no: str, filed: datetime) -> dict[str, str]:
    """The R31/R32 facts recorded with the case filing (the fingerprint keys the fine register):
    found the day before filing, ended ten days before that."""
    found = legal_day(filed) - timedelta(days=1)
    return {"fingerprint": hashlib.sha256(task_no.encode()).hexdigest(), "description_hash": "d" * 64,
            "violation_end_on": (found - timedelta(days=10)).isoformat(), "discovered_on": found.isoformat()}


def file_case(app: Any, iid: Any, task_no: str, at: datetime, *, requires_legal_review: bool = True) -> None:
    app.file_case(inspection_id=iid, case_no="C-" + task_no, investigators=["p1"], case_class="ordinary",
                  requires_legal_review=requires_legal_review, at=at, actor="p1", violation=violation(task_no, at))


DOCUMENT = {"party": "某食品公司", "facts_and_evidence": "过期食品；笔录", "penalty_and_basis": "罚款；食品安全法",
            "performance": "十五日内缴纳", "remedy": "60日内申请行政复议或者6个月内提起行政诉讼",
            "agency_and_date": "市场监管局"}


def decide_penalty(app: Any, iid: Any, decision_no: str, at: datetime, *, fine_fen: int = 200_000,
                   evidence_refs: tuple[str, ...] = ("EV-1",), decider: str = "head") -> None:
    app.decide(inspection_id=iid, decision_no=decision_no, outcome="penalty", draft_hash=DRAFT, decider=decider,
               decider_role="agency_head", evidence_refs=list(evidence_refs), at=at, penalty_kinds=["罚款"],
               fine_fen=fine_fen, benchmark_code="B1", seal_ref="seal-1", document=DOCUMENT)


def published_content(served: dict[str, str] = SERVED, redactions: dict[str, str] = REDACTIONS) -> dict[str, str]:
    return {k: v for k, v in served.items() if k not in redactions}


def publish(app: Any, iid: Any, at: datetime, served: dict[str, str] = SERVED) -> None:
    app.publish_decision(inspection_id=iid, served_document=served, redaction_map=REDACTIONS,
                         content_hash=content_hash(published_content(served)), redaction_reviewer="r1",
                         at=at, actor="pub")
