"""A seeded ledger behind the real HTTP app, and the principals and tokens of every role.

The ledger is ``caseledger demo``'s data set (two agencies, four officers, six enterprises,
inspections through the whole lifecycle including a revocation after publication), built with
the same ``bootstrap()`` the server uses, custodial keys sealed under a test master secret.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app, default_config
from api.auth import Role
from api.bootstrap import Container, bootstrap
from api.demo import AGENCIES, ENTERPRISES, HEADS, OFFICERS, enroll, sign_checkpoint
from api.settings import Settings
from domain.calendar import SHANGHAI
from domain.uscc import make_uscc

SECRET = b"e2e-master-secret-0123456789abcdef"
A0, A1 = AGENCIES[0][0], AGENCIES[1][0]
ENT0 = make_uscc(ENTERPRISES[0][0] + "0")  # sector 食品 → agency A0
ENT1 = make_uscc(ENTERPRISES[1][0] + "0")
ENT3 = make_uscc(ENTERPRISES[3][0] + "0")  # sector 排污 → agency A1

#: (principal id, roles, agency, uscc). Ids with a ledger key match the demo's principals.
PRINCIPALS: list[tuple[str, list[Role], str | None, str | None]] = [
    ("p-lin", [Role.OFFICER], A0, None),
    ("p-chen", [Role.OFFICER], A0, None),
    ("p-wang", [Role.OFFICER], A1, None),
    ("head-sj", [Role.AGENCY_HEAD], A0, None),
    ("head-hb", [Role.AGENCY_HEAD], A1, None),
    ("reviewer-liu", [Role.LEGAL_REVIEWER], A0, None),
    ("publisher", [Role.PUBLISHER], A0, None),
    ("auditor", [Role.AUDITOR], None, None),
    ("auditor-sj", [Role.AUDITOR], A0, None),
    ("registrar", [Role.REGISTRAR], None, None),
    ("ent-0", [Role.ENTERPRISE], None, ENT0),
    ("ent-3", [Role.ENTERPRISE], None, ENT3),
    ("citizen", [Role.PUBLIC], None, None),
]
#: One representative principal per role, for the access matrix.
BY_ROLE = {"officer": "p-lin", "legal_reviewer": "reviewer-liu", "agency_head": "head-sj",
           "publisher": "publisher", "auditor": "auditor-sj", "registrar": "registrar", "enterprise": "ent-0",
           "public": None}


def T(s: str) -> datetime:  # noqa: N802
    return datetime.fromisoformat(s).replace(tzinfo=SHANGHAI)


@dataclass
class World:
    container: Container
    app: FastAPI
    client: TestClient
    tokens: dict[str, str]
    data_dir: Path
    cases: dict[str, list[str]] = field(default_factory=dict)

    def h(self, who: str | None, **extra: str) -> dict[str, str]:
        """Headers for ``who`` (None: the public)."""
        out = dict(extra)
        if who is not None:
            out["Authorization"] = f"Bearer {self.tokens[who]}"
        return out

    # -- what a request may have written ------------------------------------------------------
    def footprint(self) -> dict[str, Any]:
        c = self.container
        services = self.app.state.services
        with c.engine.connect() as conn:
            size = c.merkle.size(conn)
            cps = conn.execute(select(func.count()).select_from(c.merkle.checkpoints)).scalar()
            fb = conn.execute(select(func.count()).select_from(services.feedback.table)).scalar()
            idem = conn.execute(select(func.count()).select_from(services.idempotency.table)).scalar()
            tok = conn.execute(select(func.count()).select_from(self.app.state.tokens.tokens)).scalar()
        blobs = sorted(str(p) for p in (self.data_dir / "blobs").rglob("*") if p.is_file())
        return {"events": c.app.recorder.max_notification_id(), "leaves": size, "checkpoints": cps,
                "feedback": fb, "idempotency": idem, "tokens": tok, "blobs": blobs}

    @contextmanager
    def writes_nothing(self) -> Iterator[None]:
        before = self.footprint()
        yield
        assert self.footprint() == before

    def case_of(self, story: str, agency_index: int = 0) -> str:
        return self.cases[f"{story}/{agency_index}"][0]


def _classify(c: Container) -> dict[str, list[str]]:
    """Demo cases by story and lead agency: clean, published, withdrawn, off_site, concluded."""
    from domain.inspection import Inspection  # noqa: PLC0415
    from ledger.audit import events_table  # noqa: PLC0415

    table = events_table(c.engine)
    with c.engine.connect() as conn:
        ids = [r[0] for r in conn.execute(select(table.c.originator_id).where(
            table.c.topic == "inspection.dispatched.v1").order_by(table.c.id))]
    out: dict[str, list[str]] = {}
    for raw in ids:
        insp = c.app.get_inspection(raw if not isinstance(raw, bytes) else uuid.UUID(bytes=raw))
        assert isinstance(insp, Inspection)
        if insp.publication and insp.publication["status"] == "withdrawn":
            story = "withdrawn"
        elif insp.publication:
            story = "published"
        elif insp.mode == "off_site":
            story = "off_site"
        else:
            story = "clean"
        ai = 0 if insp.lead_agency == A0 else 1
        out.setdefault(f"{story}/{ai}", []).append(str(insp.id))
        out.setdefault(f"uscc/{insp.uscc}", []).append(str(insp.id))
    return out


DEMO_SECRET = b"demo-feedback-secret"
DECISION_DOC = {
    "party": "福州榕城食品有限公司，福州市鼓楼区某路1号",
    "facts_and_evidence": "未按规定落实食品安全管理制度；现场检查笔录、照片",
    "penalty_and_basis": "罚款；《食品安全法》第一百二十六条",
    "performance": "自收到本决定书之日起十五日内缴纳",
    "remedy": "如不服本决定，可在收到本决定书之日起60日内申请行政复议，或者6个月内提起行政诉讼",
    "agency_and_date": "福州市市场监督管理局",
}


def seed(c: Container, cases: int) -> dict[str, int]:  # noqa: PLR0915 - one linear story, like the demo
    """The demo's world (agencies, officers, enterprises, lists) and inspections through the whole
    lifecycle under the current penalty procedure: clean, off-site, penalties published, and
    penalties revoked after publication and withdrawn."""
    from nacl.signing import SigningKey  # noqa: PLC0415

    from api.bootstrap import ROOT_PRINCIPAL  # noqa: PLC0415
    from domain.base import content_hash  # noqa: PLC0415
    from domain.inspection import REVIEW_POINTS  # noqa: PLC0415
    from ledger.codec import to_micros  # noqa: PLC0415

    app = c.app
    assert c.vault is not None
    start = T("2025-01-02 09:00")
    root = SigningKey.generate()
    c.vault.store(ROOT_PRINCIPAL, root, to_micros(start))
    app.open_ledger(root, principal=ROOT_PRINCIPAL, at=start)
    enroll(c, [(p, "officer") for p, *_ in OFFICERS] + [(h, "agency_head") for h in HEADS]
           + [("registrar", "registrar"), ("dispatcher", "dispatcher"), ("reviewer-liu", "legal_reviewer"),
              ("publisher", "publisher")], start)
    for (code, name, _cats), head in zip(AGENCIES, HEADS, strict=True):
        app.register_agency(agency_code=code, name=name, kind="administrative_agency", jurisdiction=["3501"],
                            at=start, actor="registrar")
        app.appoint_agency_head(agency_code=code, head=head, effective_at=start, at=start, actor="registrar")
    for person, name, cert, ai in OFFICERS:
        app.issue_certificate(cert_no=cert, person_id=person, name=name, agency_code=AGENCIES[ai][0],
                              categories=AGENCIES[ai][2], valid_from="2024-01-01", valid_until="2027-12-31",
                              at=start, actor="registrar")
    ents = []
    for prefix, name, sector, risk in ENTERPRISES:
        uscc = make_uscc(prefix + "0")
        ents.append((uscc, sector, name))
        app.register_enterprise(uscc=uscc, name=name, sector=sector, admin_division="350102", risk_class=risk,
                                positive_list=False, at=start, actor="registrar")
    for code, _n, cats in AGENCIES:
        app.publish_reference_list(kind="item_list", owner=code, at=start, actor="registrar",
                                   entries=[{"code": f"I-{x}", "name": f"{x}安全检查", "category": x} for x in cats])
        app.publish_reference_list(kind="annual_plan", owner=code, scope="2025", at=start, actor="registrar",
                                   entries=[{"item_code": f"I-{x}"} for x in cats])
        app.publish_reference_list(kind="frequency_caps", owner=code, at=start, actor="registrar",
                                   entries=[{"sector": x, "risk_class": r, "cap": 500} for x in cats for r in "ABCD"])
        app.publish_reference_list(kind="discretion_benchmark", owner=code, at=start, actor="registrar",
                                   entries=[{"code": "B-GEN", "min_fen": 100_000, "max_fen": 20_000_000}])
    stories = {"clean": 0, "penalty_published": 0, "revoked_after_publication": 0, "off_site": 0}
    for i in range(cases):
        uscc, sector, ent_name = ents[i % len(ents)]
        ai = 0 if sector in AGENCIES[0][2] else 1
        code, head = AGENCIES[ai][0], HEADS[ai]
        team = [o for o in OFFICERS if o[3] == ai][:2]
        certs = [o[2] for o in team]
        lead = team[0][0]
        day = datetime(2025, 3, 3, 9, 0, tzinfo=SHANGHAI) + timedelta(days=7 * i)
        story = ["clean", "penalty_published", "revoked_after_publication", "off_site"][i % 4] if i else \
            "penalty_published"
        stories[story] += 1
        mode = "off_site" if story == "off_site" else "on_site"
        iid = app.dispatch_inspection(task_no=f"2025-{ai + 1}-{i + 1:04d}", inspection_type="routine", mode=mode,
                                      uscc=uscc, at=day, actor="dispatcher",
                                      assignments=[{"agency_code": code, "item_codes": [f"I-{sector}"],
                                                    "cert_nos": certs}],
                                      **({"mode_reason": "书面核查"} if mode == "off_site" else {}))
        app.approve_inspection(inspection_id=iid, agency_code=code, approver=head, at=day + timedelta(minutes=30))
        h = hashlib.sha256(f"{iid}/{i}".encode()).hexdigest()
        if mode == "on_site":
            arrive = day + timedelta(days=1, hours=1)
            app.record_arrival(inspection_id=iid, scan={"code_id": f"QR-{i}", "uscc": uscc,
                                                        "scanned_at": to_micros(arrive)},
                               location="企业生产经营场所", at=arrive, actor=lead)
            for person, _n, cert, _a in team:
                app.show_certificate(inspection_id=iid, cert_no=cert, at=arrive + timedelta(minutes=5), actor=person)
            app.log_evidence(inspection_id=iid, evidence_id=f"EV-{i}-1", evidence_type="书证", sha256=h, size=20480,
                             media_type="image/jpeg", source="on_site",
                             capture={"device": "执法记录仪-07", "lat": "26.07", "lon": "119.30"},
                             cert_nos=certs, at=arrive + timedelta(minutes=30), actor=lead)
            app.sign_inspection_record(inspection_id=iid, record_hash=h, cert_nos=certs, party_signature="当事人签字",
                                       refusal_note=None, at=arrive + timedelta(hours=1), actor=lead)
            done = arrive + timedelta(hours=2)
        else:
            done = day + timedelta(days=2)
        result = "no_issue" if story in ("clean", "off_site") else "case_filed"
        app.conclude_inspection(inspection_id=iid, result=result, cert_nos=certs, at=done, actor=lead)
        app.notify_result(inspection_id=iid, recipient=uscc, summary_hash=h, secret=DEMO_SECRET,
                          at=done + timedelta(hours=1), actor=lead)
        if result == "no_issue":
            continue
        filed = done + timedelta(days=1)
        app.file_case(inspection_id=iid, case_no=f"榕市监立〔2025〕{i + 1}号", investigators=[lead],
                      case_class="ordinary", requires_legal_review=True, at=filed, actor=lead,
                      violation={"fingerprint": hashlib.sha256(f"v{i}".encode()).hexdigest(),
                                 "description_hash": h, "violation_end_on": (done - timedelta(days=10)).date().isoformat(),
                                 "discovered_on": done.date().isoformat()})
        fine = 500_000 + 100_000 * i
        app.serve_penalty_notice(inspection_id=iid, notice_no=f"榕市监告〔2025〕{i + 1}号", penalty_kinds=["罚款"],
                                 fine_fen=fine, facts_hash=h, hearing_right=False, at=filed + timedelta(days=2),
                                 actor=lead)
        app.waive_rights(inspection_id=iid, rights=["statement", "hearing"], waiver_ref=f"放弃声明-{i}",
                         at=filed + timedelta(days=3), actor=lead)
        draft = content_hash({"draft": i})
        app.give_legal_review(inspection_id=iid, reviewer="reviewer-liu", draft_hash=draft, result="pass",
                              checklist={p: "ok" for p in REVIEW_POINTS}, first_time=False, legal_qualification=True,
                              at=filed + timedelta(days=10))
        decided = filed + timedelta(days=14)
        no = f"榕市监罚〔2025〕{i + 1}号"
        app.decide(inspection_id=iid, decision_no=no, outcome="penalty", draft_hash=draft, decider=head,
                   decider_role="agency_head", evidence_refs=[f"EV-{i}-1"], at=decided, penalty_kinds=["罚款"],
                   fine_fen=fine, benchmark_code="B-GEN", document={**DECISION_DOC, "party": ent_name},
                   seal_ref=f"seal:{AGENCIES[ai][1]}")
        doc = {"cf_wsh": no, "cf_xdr_mc": ent_name, "cf_xdr_shxym": uscc, "cf_sy": "未按规定落实食品安全管理制度",
               "cf_cflb": "罚款", "cf_frdb": "张某", "cf_fr_zjhm": "350102198001010011", "cf_cfjg": AGENCIES[ai][1]}
        app.serve_decision(inspection_id=iid, method="direct", documents=["行政处罚决定书"],
                           document_hash=content_hash(doc), publication_notice=True,
                           at=decided + timedelta(hours=4), actor=lead)
        app.publish_decision(inspection_id=iid, served_document=doc, redaction_map={"cf_fr_zjhm": "个人身份证号"},
                             content_hash=content_hash({k: v for k, v in doc.items() if k != "cf_fr_zjhm"}),
                             redaction_reviewer="reviewer-liu", at=decided + timedelta(days=3), actor="publisher")
        if story == "revoked_after_publication":
            app.alter_decision(inspection_id=iid, kind="revoked", reason="行政复议决定撤销原处罚决定",
                               basis_ref="榕政复决〔2025〕9号", at=decided + timedelta(days=20), actor=head)
            app.withdraw_publication(inspection_id=iid, reason_text="原行政处罚决定已被行政复议撤销",
                                     at=decided + timedelta(days=21), actor="publisher")
    return stories


def build_world(db_url: str, data_dir: Path, *, cases: int = 12, checkpoint: bool = True) -> World:
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(db_url=db_url, master_secret=SECRET, data_dir=data_dir)
    c = bootstrap(settings)
    seed(c, cases)
    if checkpoint:
        sign_checkpoint(c)
        from ledger.checkpoint import vkey  # noqa: PLC0415

        (data_dir / "trust.vkey").write_text(vkey(settings.origin, bytes(c.ledger_key().verify_key)) + "\n")
    app = create_app(c, config=default_config(c))
    store = app.state.tokens
    tokens = {}
    for pid, roles, agency, uscc in PRINCIPALS:
        store.add_principal(pid, roles, agency=agency, uscc=uscc, name=pid)
        tokens[pid] = store.issue_token(pid)
    client = TestClient(app, raise_server_exceptions=False)
    return World(c, app, client, tokens, data_dir, _classify(c))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dispatch_body(task_no: str, at: datetime, *, uscc: str = ENT0, agency: str = A0,
                  certs: tuple[str, ...] = ("35010001", "35010002")) -> dict[str, Any]:
    item = "I-食品" if agency == A0 else "I-排污"
    return {"task_no": task_no, "inspection_type": "routine", "mode": "on_site", "uscc": uscc,
            "assignments": [{"agency_code": agency, "item_codes": [item], "cert_nos": list(certs)}],
            "at": at.isoformat()}


def later(at: datetime, minutes: int) -> str:
    return (at + timedelta(minutes=minutes)).isoformat()


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields the base URL."""
    import socket  # noqa: PLC0415
    import threading  # noqa: PLC0415
    import time  # noqa: PLC0415

    import uvicorn  # noqa: PLC0415

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.time() + 10
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        t.join(10)
