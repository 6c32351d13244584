"""``caseledger demo``: seed a realistic ledger on the configured database (SQLite by default).

Two agencies, certified officers, enterprises with valid 统一社会信用代码, published reference
lists, and inspections through the whole lifecycle: clean inspections, penalties served and
published, one off-site inspection, and one penalty revoked after publication and withdrawn.
Every principal gets a custodial key sealed under the master secret; the root key signs a
checkpoint at the end and its verifier key is written to ``<data dir>/trust.vkey``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from api.blobs import BlobStore
from api.bootstrap import INTAKE_PRINCIPAL, ROOT_PRINCIPAL, Container, bootstrap
from api.settings import Settings
from domain.base import content_hash
from domain.calendar import SHANGHAI
from domain.inspection import REVIEW_POINTS
from domain.uscc import make_uscc
from ledger.application import key_body
from ledger.bundle_export import issue_checkpoint
from ledger.checkpoint import vkey
from ledger.codec import to_micros

START = datetime(2025, 1, 2, 9, 0, tzinfo=SHANGHAI)
AGENCIES = [
    (make_uscc("11350100MB0321001"), "福州市市场监督管理局", ["食品", "特种设备"]),
    (make_uscc("11350100MB0418002"), "福州市生态环境局", ["排污"]),
]
OFFICERS = [  # (person id, name, cert no, agency index)
    ("p-lin", "林执法", "35010001", 0), ("p-chen", "陈执法", "35010002", 0),
    ("p-wang", "王执法", "35010003", 1), ("p-zhao", "赵执法", "35010004", 1),
]
HEADS = ["head-sj", "head-hb"]
FEEDBACK_SECRET = b"demo-feedback-secret"  # keys the feedback QR tokens (R21); demo only
OTHERS = ["registrar", "dispatcher", "reviewer-liu", "publisher"]
ENTERPRISES = [
    ("91350100MA2XN7L0", "福州榕城食品有限公司", "食品", "B"),
    ("91350100MA3C8QK1", "福州闽江餐饮管理有限公司", "食品", "A"),
    ("91350100MA2YF3D4", "福建海峡特种设备检测有限公司", "特种设备", "C"),
    ("91350100MA31PW75", "福州东南化工有限公司", "排污", "B"),
    ("91350100MA2W9HJ8", "福州仓山印染有限公司", "排污", "C"),
    ("91350100MA33KT62", "福州鼓楼烘焙坊有限公司", "食品", "B"),
]


def secret_for(settings: Settings) -> bytes:
    """The master secret: from the environment, else a demo secret file (created once, 0600)."""
    if settings.master_secret is not None:
        return settings.master_secret
    path = settings.data_dir / "master.secret"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        print(f"demo: wrote a new master secret to {path} (demo only: set CASELEDGER_MASTER_SECRET in production)")
    return path.read_text().strip().encode()


def enroll(c: Container, principals: list[tuple[str, str]], at: datetime) -> None:
    """Give each (principal, role) a custodial key and register it in the key registry."""
    assert c.vault is not None
    reg = c.app.key_registry()
    for who, role in principals:
        sk = SigningKey.generate()
        c.vault.store(who, sk, to_micros(at))
        reg.register(actor=ROOT_PRINCIPAL, at=at, key=key_body(sk, who, role, "custodial", to_micros(at)))
    c.app.save(reg)


def seed(c: Container, cases: int, *, yearly_cap: int = 4) -> dict[str, Any]:
    """Seed the registers, reference lists and ``cases`` inspections; return how many of each story."""
    app = c.app
    blobs = BlobStore(Path(c.settings.data_dir) / "blobs")
    assert c.vault is not None
    root = SigningKey.generate()
    c.vault.store(ROOT_PRINCIPAL, root, to_micros(START))
    app.open_ledger(root, principal=ROOT_PRINCIPAL, at=START)
    enroll(c, [(p, "officer") for p, *_ in OFFICERS] + [(h, "agency_head") for h in HEADS]
           + [("registrar", "registrar"), ("dispatcher", "dispatcher"), ("reviewer-liu", "legal_reviewer"),
              ("publisher", "publisher"), (INTAKE_PRINCIPAL, "feedback_intake")], START)
    t = START
    for (code, name, _cats), head in zip(AGENCIES, HEADS, strict=True):
        app.register_agency(agency_code=code, name=name, kind="administrative_agency", jurisdiction=["3501"],
                            at=t, actor="registrar")
        app.appoint_agency_head(agency_code=code, head=head, effective_at=t, at=t, actor="registrar")
    for person, name, cert, ai in OFFICERS:
        app.issue_certificate(cert_no=cert, person_id=person, name=name, agency_code=AGENCIES[ai][0],
                              categories=AGENCIES[ai][2], valid_from="2024-01-01", valid_until="2027-12-31",
                              at=t, actor="registrar")
    ents = []
    for prefix, name, sector, risk in ENTERPRISES:
        uscc = make_uscc(prefix + "0")
        ents.append((uscc, sector))
        app.register_enterprise(uscc=uscc, name=name, sector=sector, admin_division="350102", risk_class=risk,
                                positive_list=False, at=t, actor="registrar")
    for code, _n, cats in AGENCIES:
        app.publish_reference_list(kind="item_list", owner=code, at=t, actor="registrar",
                                   entries=[{"code": f"I-{c}", "name": f"{c}安全检查", "category": c} for c in cats])
        app.publish_reference_list(kind="annual_plan", owner=code, scope="2025", at=t, actor="registrar",
                                   entries=[{"item_code": f"I-{c}"} for c in cats])
        app.publish_reference_list(kind="frequency_caps", owner=code, at=t, actor="registrar",
                                   entries=[{"sector": c, "risk_class": r,
                                             "cap": yearly_cap} for c in cats for r in "ABCD"])
        app.publish_reference_list(kind="discretion_benchmark", owner=code, at=t, actor="registrar",
                                   entries=[{"code": "B-GEN", "min_fen": 100_000, "max_fen": 20_000_000}])
    stories = {"clean": 0, "penalty_published": 0, "revoked_after_publication": 0, "off_site": 0}
    for i in range(cases):
        uscc, sector = ents[i % len(ents)]
        ai = 0 if sector in AGENCIES[0][2] else 1
        code, head = AGENCIES[ai][0], HEADS[ai]
        team = [o for o in OFFICERS if o[3] == ai][:2]
        certs = [o[2] for o in team]
        lead = team[0][0]
        day = datetime(2025, 3, 3, 9, 0, tzinfo=SHANGHAI) + timedelta(days=7 * i)
        story = ["clean", "penalty_published", "revoked_after_publication",
                 "off_site"][i % 4] if i else "penalty_published"
        stories[story] += 1
        mode = "off_site" if story == "off_site" else "on_site"
        iid = app.dispatch_inspection(task_no=f"2025-{ai + 1}-{i + 1:04d}", inspection_type="routine", mode=mode,
                                      uscc=uscc, at=day, actor="dispatcher",
                                      assignments=[{"agency_code": code, "item_codes": [f"I-{sector}"],
                                                    "cert_nos": certs}],
                                      **({"mode_reason": "书面核查"} if mode == "off_site" else {}))
        app.approve_inspection(inspection_id=iid, agency_code=code, approver=head, at=day + timedelta(minutes=30))
        h = hashlib.sha256(f"{iid}/{i}".encode()).hexdigest()  # stands in for a photo's SHA-256
        if mode == "on_site":
            arrive = day + timedelta(days=1, hours=1)
            app.record_arrival(inspection_id=iid, scan={"code_id": f"QR-{i}", "uscc": uscc,
                                                        "scanned_at": to_micros(arrive)},
                               location="企业生产经营场所", at=arrive, actor=lead)
            for person, _n, cert, _a in team:
                app.show_certificate(inspection_id=iid, cert_no=cert, at=arrive + timedelta(minutes=5), actor=person)
            photo = blobs.put_bytes(f"现场照片 {iid} {i}\n".encode() * 200)  # stands in for a real photo
            app.log_evidence(inspection_id=iid, evidence_id=f"EV-{i}-1", evidence_type="书证", sha256=photo.sha256,
                             size=photo.size,
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
        token = app.notify_result(inspection_id=iid, recipient=uscc, summary_hash=h, secret=FEEDBACK_SECRET,
                                  at=done + timedelta(hours=1), actor=lead)
        if result == "no_issue":
            if story == "off_site":  # the enterprise answers through its QR invitation (R21); one complains (R20)
                complains = i % 8 == 3  # noqa: PLR2004 - every eighth case of the demo complains
                app.receive_feedback(inspection_id=iid, token=token, rating=2 if complains else 5,
                                     prohibition_code="2" if complains else None,
                                     comment="检查时要求法定代表人到场" if complains else "",
                                     at=done + timedelta(days=1), actor=INTAKE_PRINCIPAL)
            continue
        filed = done + timedelta(days=1)
        fine = 500_000 + 100_000 * i
        app.file_case(inspection_id=iid, case_no=f"榕市监立〔2025〕{i + 1}号", investigators=[lead],
                      case_class="ordinary", requires_legal_review=True, at=filed, actor=lead,
                      violation={"fingerprint": hashlib.sha256(f"violation/{uscc}/{i}".encode()).hexdigest(),
                                 "description_hash": h,
                                 "violation_end_on": (done - timedelta(days=10)).date().isoformat(),
                                 "discovered_on": done.date().isoformat()})
        app.serve_penalty_notice(inspection_id=iid, notice_no=f"榕市监告〔2025〕{i + 1}号", penalty_kinds=["罚款"],
                                 fine_fen=fine, facts_hash=h, hearing_right=False, at=filed + timedelta(days=2),
                                 actor=lead)
        app.waive_rights(inspection_id=iid, rights=["statement", "hearing"], waiver_ref=f"放弃陈述申辩声明-{i + 1}",
                         at=filed + timedelta(days=3), actor=lead)
        draft = content_hash({"draft": i})
        app.give_legal_review(inspection_id=iid, reviewer="reviewer-liu", draft_hash=draft, result="pass",
                              checklist=dict.fromkeys(REVIEW_POINTS, "ok"), first_time=False, legal_qualification=True,
                              at=filed + timedelta(days=10))
        decided = filed + timedelta(days=14)
        no = f"榕市监罚〔2025〕{i + 1}号"
        app.decide(inspection_id=iid, decision_no=no, outcome="penalty", draft_hash=draft, decider=head,
                   decider_role="agency_head", evidence_refs=[f"EV-{i}-1"], at=decided, penalty_kinds=["罚款"],
                   fine_fen=fine, benchmark_code="B-GEN", seal_ref=f"seal:{AGENCIES[ai][1]}",
                   document={"party": ENTERPRISES[i % len(ENTERPRISES)][1] + "，福州市",
                             "facts_and_evidence": "未按规定落实食品安全管理制度；现场检查笔录",
                             "penalty_and_basis": f"罚款{fine // 100}元；《食品安全法》第一百二十六条",
                             "performance": "自收到本决定书之日起十五日内缴纳",
                             "remedy": "可于60日内申请行政复议，或者6个月内提起行政诉讼",
                             "agency_and_date": f"{AGENCIES[ai][1]} {decided.date().isoformat()}"})
        doc = {"cf_wsh": no, "cf_xdr_mc": ENTERPRISES[i % len(ENTERPRISES)][1], "cf_xdr_shxym": uscc,
               "cf_sy": "未按规定落实食品安全管理制度", "cf_cflb": "罚款", "cf_frdb": "张某",
               "cf_fr_zjhm": "350102198001010011", "cf_cfjg": AGENCIES[ai][1]}
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


def sign_checkpoint(c: Container) -> str:
    """Sign and store a checkpoint the way `caseledger checkpoint` does."""
    issued = issue_checkpoint(c, origin=c.settings.origin, signing_key=c.ledger_key(), clock=c.app.clock)
    return issued.note


def _secret_gone(settings: Settings, db: str) -> bool:
    """True (after saying so) when ``db`` already holds a ledger but no master secret is configured:
    its custodial keys, the root key among them, are sealed under a secret that is gone."""
    if settings.master_secret is not None:
        return False
    from api.dburl import ledger_entries  # noqa: PLC0415

    if not ledger_entries(settings.db_url):
        return False
    print(f"caseledger demo: {db} already holds a ledger, but its master secret is gone (no "
          f"CASELEDGER_MASTER_SECRET and no {settings.data_dir / 'master.secret'}): its custodial keys cannot be "
          "unsealed. Restore the secret, or point --db at a new file to seed a fresh demo", file=sys.stderr)
    return True


def cmd_demo(args: argparse.Namespace) -> int:
    from ledger.errors import KeyRegistryError  # noqa: PLC0415

    settings = Settings.from_env(db_url=args.db)
    if _secret_gone(settings, args.db):
        return 2
    settings = Settings(**{**{f: getattr(settings, f) for f in settings.__slots__},
                           "master_secret": secret_for(settings)})
    c = bootstrap(settings)
    if c.app.recorder.max_notification_id():
        print(f"demo: {args.db} already holds a ledger; leaving it as it is")
    else:
        stories = seed(c, args.cases)
        print(f"demo: seeded {args.cases} inspections: " + ", ".join(f"{k} {v}" for k, v in stories.items()))
    try:
        note = sign_checkpoint(c)
    except KeyRegistryError as e:
        print(f"caseledger demo: {args.db} already holds a ledger whose root key the master secret in use cannot "
              f"unseal ({e.code}): the secret it was sealed under is gone or was changed", file=sys.stderr)
        return 2
    trust = Path(settings.data_dir) / "trust.vkey"
    trust.parent.mkdir(parents=True, exist_ok=True)
    trust.write_text(vkey(settings.origin, bytes(c.ledger_key().verify_key)) + "\n")
    print(f"demo: signed checkpoint of {note.splitlines()[1]} entries; verifier key in {trust}")
    return 0
