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
from api.demo import AGENCIES, ENTERPRISES, FEEDBACK_SECRET, sign_checkpoint
from api.demo import seed as demo_seed
from api.settings import HttpLimits, Settings
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


def T(s: str) -> datetime:
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
    from domain.inspection import Inspection
    from ledger.audit import events_table

    table = events_table(c.engine)
    with c.engine.connect() as conn:
        ids = [r[0] for r in conn.execute(select(table.c.originator_id).where(
            table.c.topic.in_(("inspection.dispatched.v1", "inspection.dispatched.v2"))).order_by(table.c.id))]
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


DEMO_SECRET = FEEDBACK_SECRET
DECISION_DOC = {
    "party": "福州榕城食品有限公司，福州市鼓楼区某路1号",
    "facts_and_evidence": "未按规定落实食品安全管理制度；现场检查笔录、照片",
    "penalty_and_basis": "罚款；《食品安全法》第一百二十六条",
    "performance": "自收到本决定书之日起十五日内缴纳",
    "remedy": "如不服本决定，可在收到本决定书之日起60日内申请行政复议，或者6个月内提起行政诉讼",
    "agency_and_date": "福州市市场监督管理局",
}


def seed(c: Container, cases: int) -> dict[str, int]:
    """The demo's world and stories (``api.demo.seed``), with a yearly cap high enough that the
    tests' own dispatches never hit it."""
    return demo_seed(c, cases, yearly_cap=500)


def build_world(db_url: str, data_dir: Path, *, cases: int = 12, checkpoint: bool = True) -> World:
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(db_url=db_url, master_secret=SECRET, data_dir=data_dir)
    c = bootstrap(settings)
    seed(c, cases)
    if checkpoint:
        sign_checkpoint(c)
        from ledger.checkpoint import vkey

        (data_dir / "trust.vkey").write_text(vkey(settings.origin, bytes(c.ledger_key().verify_key)) + "\n")
    # Every test client shares one address: the feedback rate limits are tested on their own apps.
    app = create_app(c, config=default_config(c, http=HttpLimits(feedback_per_client=10**6, feedback_per_case=10**6)))
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
    import socket
    import threading
    import time

    import uvicorn

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
