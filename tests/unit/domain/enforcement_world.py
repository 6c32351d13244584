"""A small, fully deterministic world for domain tests: registers, reference lists,
and helpers that walk an inspection to a given phase (given–when–then)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from domain.base import content_hash
from domain.calendar import SHANGHAI
from domain.errors import CalendarUnavailable
from domain.inspection import REVIEW_POINTS, Inspection
from domain.random_draw import RandomDraw
from domain.reference import (
    ANNUAL_PLAN,
    DISCRETION_BENCHMARK,
    FREQUENCY_CAPS,
    ITEM_LIST,
    ReferenceList,
)
from domain.registers import Agency, Enterprise, EnterpriseYear, Officer
from domain.services import (
    AgencyAssignment,
    DispatchResult,
    approve_dispatch,
    certificates_as_of,
    dispatch_inspection,
    resolve_benchmark,
)
from domain.special import SpecialCampaign
from domain.uscc import make_uscc
from ledger.holidays import ChineseCalendar

AGENCY = make_uscc("11350100MB0000001")
AGENCY2 = make_uscc("11350100MB0000002")
ENT = "91350100M000100Y43"  # rulebook §3 worked example
ENT2 = "91230500MA1B3N1N2M"  # rulebook §3, valid, outside the agencies' area
HEAD, HEAD2 = "head-1", "head-2"
REG = "registrar"
SECRET = b"feedback-secret"
H = "a" * 64  # a well-formed sha256 hex
#: A 个案 task's source (R9, R12; issue 18).
SOURCE = {"kind": "complaint_report", "ref": "12345-2025-0901"}
PHASES = (
    "dispatched", "approved", "arrived", "shown", "evidence", "recorded", "concluded",
    "notified", "filed", "educated", "noticed", "reviewed", "decided", "served", "published",
)
FINGERPRINT = "f" * 64  # the violation's fingerprint (R32)
VIOLATION = {"fingerprint": FINGERPRINT, "description_hash": "d" * 64, "violation_end_on": "2025-08-20",
             "discovered_on": "2025-09-02"}
DECISION_DOC = {
    "party": "某某食品有限公司，福州市鼓楼区某路1号",
    "facts_and_evidence": "经营超过保质期的食品；现场检查笔录、照片",
    "penalty_and_basis": "罚款人民币贰仟元；《食品安全法》第一百二十四条",
    "performance": "自收到本决定书之日起十五日内缴至指定银行",
    "remedy": "如不服本决定，可在收到本决定书之日起60日内申请行政复议，或者6个月内提起行政诉讼",
    "agency_and_date": "福州市市场监督管理局 2025年9月26日",
}
SEAL = "seal:福州市市场监督管理局"


def T(s: str) -> datetime:
    """A Shanghai wall-clock instant, e.g. T("2025-09-01 09:00")."""
    return datetime.fromisoformat(s).replace(tzinfo=SHANGHAI)


class FakeCalendar:
    """Fake holiday calendar: explicit workday set, raises outside ``years``."""

    version = "fake-1"

    def __init__(self, years: range = range(2025, 2027), holidays: frozenset[date] = frozenset()) -> None:
        self.years = years
        self.holidays = holidays

    def is_workday(self, d: date) -> bool:
        if d.year not in self.years:
            raise CalendarUnavailable(f"no data for {d}", day=d.isoformat())
        return d.weekday() < 5 and d not in self.holidays


SERVED_DOC = {
    "cf_xdr_mc": "某某食品有限公司",
    "cf_xdr_shxym": ENT,
    "cf_wsh": "榕市监罚〔2025〕1号",
    "cf_sy": "经营超过保质期的食品",
    "cf_fr_zjhm": "350100199001011234",
    "cf_nr_fk": "罚款人民币贰仟元",
}
REDACTIONS = {"cf_fr_zjhm": "personal information (OGI art. 15)"}
PUBLIC_DOC = {k: v for k, v in SERVED_DOC.items() if k not in REDACTIONS}


class World:
    def __init__(self, calendar: Any = None) -> None:
        self.cal = calendar or ChineseCalendar()
        t0 = T("2025-01-02 09:00")
        self.agency = Agency.register(agency_code=AGENCY, name="福州市市场监督管理局", kind="administrative_agency",
                                      jurisdiction=["3501"], at=t0, actor=REG)
        self.agency.appoint_head(head=HEAD, effective_at=t0, at=t0, actor=REG)
        self.agency2 = Agency.register(agency_code=AGENCY2, name="福州市生态环境局", kind="administrative_agency",
                                       jurisdiction=["3501"], at=t0, actor=REG)
        self.agency2.appoint_head(head=HEAD2, effective_at=t0, at=t0, actor=REG)
        self.officers = {
            cert: Officer.issue_certificate(cert_no=cert, person_id=person, name=person, agency_code=ag,
                                            categories=cats, valid_from="2024-01-01", valid_until="2027-12-31",
                                            at=t0, actor=REG)
            for cert, person, ag, cats in [
                ("C1", "p1", AGENCY, ["food", "market"]),
                ("C2", "p2", AGENCY, ["food", "market"]),
                ("C3", "p3", AGENCY, ["food"]),
                ("D1", "q1", AGENCY2, ["env"]),
                ("D2", "q2", AGENCY2, ["env"]),
            ]
        }
        self.enterprise = Enterprise.register(uscc=ENT, name="某某食品有限公司", sector="food", admin_division="350102",
                                              risk_class="B", positive_list=False, at=t0, actor=REG)
        self.items = self._list(ITEM_LIST, AGENCY, "", [
            {"code": "I1", "name": "食品经营检查", "category": "food"},
            {"code": "I2", "name": "标签检查", "category": "food", "offsite_capable": True},
            {"code": "I3", "name": "双随机抽查", "category": "market", "double_random": True},
            {"code": "I4", "name": "首违不罚事项", "category": "food", "no_penalty_listed": True},
        ], t0)
        self.items2 = self._list(ITEM_LIST, AGENCY2, "", [{"code": "E1", "name": "排污检查", "category": "env"}], t0)
        self.plan = self._list(ANNUAL_PLAN, AGENCY, "2025",
                               [{"item_code": c} for c in ("I1", "I2", "I3", "I4")], t0)
        self.plan2 = self._list(ANNUAL_PLAN, AGENCY2, "2025", [{"item_code": "E1"}], t0)
        self.caps = self._list(FREQUENCY_CAPS, AGENCY, "", [
            {"sector": "food", "risk_class": "B", "cap": 2},
            {"sector": "*", "risk_class": "B", "cap": 3},
        ], t0)
        self.caps2 = self._list(FREQUENCY_CAPS, AGENCY2, "", [{"sector": "*", "risk_class": "B", "cap": 5}], t0)
        self.benchmarks = self._list(DISCRETION_BENCHMARK, AGENCY, "",
                                     [{"code": "B1", "min_fen": 100_000, "max_fen": 500_000}], t0)
        self.years: dict[str, EnterpriseYear] = {}
        for agg in self.registers():
            agg.collect_events()

    def _list(self, kind: str, owner: str, scope: str, entries: list[dict[str, Any]], at: datetime) -> ReferenceList:
        lst = ReferenceList.open(kind=kind, owner=owner, scope=scope, at=at, actor=REG)
        lst.publish(entries=entries, at=at, actor=REG)
        return lst

    def registers(self) -> list[Any]:
        return [self.agency, self.agency2, *self.officers.values(), self.enterprise, self.items, self.items2,
                self.plan, self.plan2, self.caps, self.caps2, self.benchmarks]

    # ------------------------------------------------------------ dispatch
    def assignment(self, *, agency: str = AGENCY, items: tuple[str, ...] = ("I1",),
                   officers: tuple[str, ...] = ("C1", "C2"), **kw: Any) -> AgencyAssignment:
        a1 = agency == AGENCY
        return AgencyAssignment(
            agency=self.agency if a1 else self.agency2,
            item_codes=items,
            officers=tuple(self.officers[c] for c in officers),
            item_list=kw.pop("item_list", self.items if a1 else self.items2),
            caps=kw.pop("caps", self.caps if a1 else self.caps2),
            plan=kw.pop("plan", self.plan if a1 else self.plan2),
            enterprise_year=kw.pop("enterprise_year", self.years.get(agency)),
            **kw,
        )

    def dispatch(self, *, task_no: str = "T-1", at: datetime | None = None, inspection_type: str = "routine",
                 mode: str = "on_site", assignments: list[AgencyAssignment] | None = None,
                 enterprise: Enterprise | None = None, collect: bool = True, **kw: Any) -> DispatchResult:
        res = dispatch_inspection(
            task_no=task_no, inspection_type=inspection_type, mode=mode,
            enterprise=enterprise or self.enterprise,
            assignments=assignments or [self.assignment()],
            at=at or T("2025-09-01 09:00"), actor="dispatcher", **kw)
        for ey in res.enterprise_years:
            self.years[ey.agency_code] = ey
        if collect:
            for agg in res.aggregates:
                agg.collect_events()
        return res

    def draw(self, *, draw_no: str = "D-1", purpose: str = "targets", pool: tuple[str, ...] | None = None,
             seed: str = "上证综指 2025-08-29 收盘 3857.93", count: int = 1,
             at: datetime | None = None, agency: str = AGENCY) -> RandomDraw:
        """A performed draw (committed a day before the seed)."""
        at = at or T("2025-08-30 10:00")
        pool = pool or ((ENT, ENT2) if purpose == "targets" else ("C1", "C2", "C3"))
        draw = RandomDraw.commit_pool(agency_code=agency, draw_no=draw_no, purpose=purpose, pool=pool,
                                      seed_source="上证综指次日收盘点位", at=T("2025-08-29 09:00"), actor="dispatcher")
        draw.perform(pool_hash=draw.pool_hash, seed=seed, count=count, at=at, actor="dispatcher")
        draw.collect_events()
        return draw

    def campaign(self, *, filed: bool = True, at: datetime | None = None) -> SpecialCampaign:
        at = at or T("2025-08-20 09:00")
        c = SpecialCampaign.assess_necessity(agency_code=AGENCY, campaign_no="ZX-1", title="燃气安全专项检查",
                                             assessment_hash=H, conclusion="necessary", at=at, actor="p1")
        c.approve(approver=HEAD, approver_role="subject_head", approval_ref="批-1", at=at,
                  agency=self.agency.state_as_of(at))
        if filed:
            c.file_with_justice(receipt_ref="司法备-1", justice_office="福州市司法局", at=at, actor="p1")
        c.collect_events()
        return c

    def certs(self, at: datetime, *certs: str) -> tuple[Any, ...]:
        return certificates_as_of([self.officers[c] for c in (certs or ("C1", "C2"))], at)

    # ------------------------------------------------------------ lifecycle
    def given(self, phase: str, *, mode: str = "on_site", result: str = "case_filed", **kw: Any) -> Inspection:
        """An inspection walked up to and including ``phase``, with events collected."""
        res = self.dispatch(mode=mode, collect=False, **kw)
        for ey in res.enterprise_years:
            ey.collect_events()
        insp = res.inspection
        self.history: list[Any] = []
        stop = PHASES.index(phase)
        steps = [
            lambda: approve_dispatch(insp, self.agency, approver=HEAD, at=T("2025-09-01 09:30")),
            lambda: insp.arrive(certs=self.certs(T("2025-09-02 10:00")),
                                scan={"code_id": "QR-1", "uscc": ENT, "scanned_at": 1}, location="厂区",
                                at=T("2025-09-02 10:00"), actor="p1") if mode == "on_site" else None,
            lambda: [insp.show_certificate(cert=c, at=T("2025-09-02 10:05"), actor=c.person_id)
                     for c in self.certs(T("2025-09-02 10:05"))] if mode == "on_site" else None,
            lambda: self.log(insp, "EV-1", at=T("2025-09-02 10:30"),
                             source="on_site" if mode == "on_site" else "document_review"),
            lambda: insp.sign_record(record_hash=H, certs=self.certs(T("2025-09-02 11:00")), party_signature="sig",
                                     refusal_note=None, at=T("2025-09-02 11:00"), actor="p1"),
            lambda: insp.conclude(result=result, certs=self.certs(T("2025-09-02 11:30")), at=T("2025-09-02 11:30"),
                                  actor="p1", calendar=self.cal),
            lambda: insp.notify_result(recipient="manager", summary_hash=H, secret=SECRET,
                                       at=T("2025-09-02 12:00"), actor="p1"),
            lambda: insp.file_case(case_no="CASE-1", investigators=["p1", "p2"], case_class="ordinary",
                                   requires_legal_review=True, at=T("2025-09-03 09:00"), actor="p1",
                                   calendar=self.cal, violation=VIOLATION),
            lambda: insp.record_education(summary="普法教育", at=T("2025-09-05 09:00"), actor="p1"),
            lambda: self.notice(insp, at=T("2025-09-10 09:00"), waive_at=T("2025-09-11 09:00")),
            lambda: self.review(insp, at=T("2025-09-20 09:00")),
            lambda: self.decide(insp, at=T("2025-09-26 10:00")),
            lambda: self.serve(insp, at=T("2025-09-26 15:00")),
            lambda: self.publish(insp, at=T("2025-09-29 10:00")),
        ]
        for step in steps[:stop]:
            step()
        self.history.extend(insp.collect_events())
        return insp

    def log(self, insp: Inspection, evidence_id: str, *, at: datetime, source: str = "on_site",
            evidence_type: str = "书证", certs: tuple[str, ...] = ("C1", "C2"), **kw: Any) -> None:
        insp.log_evidence(evidence_id=evidence_id, evidence_type=evidence_type, sha256=kw.pop("sha256", H),
                          size=10, media_type="image/jpeg", source=source, capture=kw.pop("capture", {}),
                          certs=self.certs(at, *certs), at=at, actor="p1", **kw)

    def notice(self, insp: Inspection, *, at: datetime, waive_at: datetime | None = None, **kw: Any) -> None:
        """The prior penalty notice (R33) and, if ``waive_at``, the party's explicit waiver."""
        params: dict[str, Any] = {"notice_no": "告-1", "penalty_kinds": ["罚款"], "fine_fen": 200_000,
                                  "facts_hash": "e" * 64, "hearing_right": False}
        params.update(kw)
        insp.serve_penalty_notice(at=at, actor="p1", calendar=self.cal, **params)
        if waive_at is not None:
            insp.waive_rights(rights=["statement", "hearing"], waiver_ref="放弃陈述申辩权利声明-1", at=waive_at,
                              actor="party")

    def review(self, insp: Inspection, *, at: datetime, reviewer: str = "r1", draft_hash: str = "b" * 64,
               result: str = "pass", **kw: Any) -> None:
        insp.give_legal_review(reviewer=reviewer, draft_hash=draft_hash, result=result,
                               checklist=kw.pop("checklist", dict.fromkeys(REVIEW_POINTS, "ok")),
                               first_time=kw.pop("first_time", False), legal_qualification=True, at=at, **kw)

    def decide(self, insp: Inspection, *, at: datetime, **kw: Any) -> None:
        params: dict[str, Any] = {
            "decision_no": "榕市监罚〔2025〕1号", "outcome": "penalty", "draft_hash": "b" * 64,
            "decider": HEAD, "decider_role": "agency_head", "evidence_refs": ["EV-1"],
            "penalty_kinds": ["罚款"], "fine_fen": 200_000,
            "benchmark": resolve_benchmark(self.benchmarks, "B1", at),
            "document": DECISION_DOC, "seal_ref": SEAL,
        }
        params.update(kw)
        insp.decide(at=at, calendar=self.cal, **params)

    def serve(self, insp: Inspection, *, at: datetime, **kw: Any) -> None:
        params: dict[str, Any] = {"method": "direct", "documents": ["行政处罚决定书"],
                                  "document_hash": content_hash(SERVED_DOC), "publication_notice": True}
        params.update(kw)
        insp.serve(at=at, actor="p1", **params)

    def publish(self, insp: Inspection, *, at: datetime, **kw: Any) -> None:
        params: dict[str, Any] = {"served_document": SERVED_DOC, "redaction_map": REDACTIONS,
                                  "content_hash": content_hash(PUBLIC_DOC), "redaction_reviewer": "r1"}
        params.update(kw)
        insp.publish(at=at, actor="publisher", **params)


def assert_refused(code: str, fn: Any, *aggregates: Any) -> Any:
    """When ``fn()`` runs, it is refused with ``code`` and no aggregate gains an event."""
    import pytest

    from domain.errors import DomainError

    before = [(len(a.pending_events), a.version) for a in aggregates]
    with pytest.raises(DomainError) as info:
        fn()
    assert info.value.code == code, f"expected {code}, got {info.value.code}: {info.value}"
    assert [(len(a.pending_events), a.version) for a in aggregates] == before
    return info.value


def replay(events: list[Any]) -> Any:
    """Reconstruct an aggregate from its events (the projector eventsourcing uses)."""
    agg = None
    for e in events:
        agg = e.mutate(agg)
    return agg
