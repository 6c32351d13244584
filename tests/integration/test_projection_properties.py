"""Property: for random event histories, incremental processing equals a full rebuild.

Hypothesis draws a sequence of lifecycle commands on up to three inspections, interleaved with
projection runs of random batch sizes (so the incremental build sees every partial history and
every batch split). Commands the domain refuses are simply skipped: what is tested is the read
side, over whatever history the write side accepted. At the end the projections catch up; their
tables must equal a rebuild from scratch in one batch, and the statistics replay hash must verify.
Runs on a SQLite file and on PostgreSQL, with few examples so the file stays well under a minute.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from domain.base import content_hash
from domain.errors import DomainError
from domain.inspection import REVIEW_POINTS
from ledger.errors import LedgerError
from projections.queries import Projections
from projections.runner import ProjectionRunner, dump
from tests.conftest import pg_base_url
from tests.unit.projections.scenario import (
    AGENCY,
    DRAFT,
    ENT,
    REDACTIONS,
    SERVED,
    H,
    T,
    decide_penalty,
    file_case,
    published_content,
    world,
)

OPS = ("dispatch", "approve", "arrive", "show", "evidence", "sign", "conclude", "notify", "file", "prior_notice",
       "waive", "review", "educate", "decide", "serve", "publish", "alter", "withdraw", "correct", "cancel", "mode",
       "project")
#: ``advance`` takes a case one step further along LIFECYCLE (then round TAIL), so histories get deep;
#: the other ops are noise in any order.
LIFECYCLE = ("dispatch", "approve", "arrive", "show", "show", "evidence", "sign", "conclude", "notify", "file",
             "prior_notice", "waive", "review", "decide", "serve", "publish")
TAIL = ("correct", "alter", "withdraw", "serve", "publish", "evidence", "alter", "withdraw")
op = st.sampled_from(("advance",) * 8 + ("project",) * 4 + OPS)
step = st.tuples(op, st.integers(0, 2), st.integers(1, 9))
histories = st.lists(step, min_size=10, max_size=50)


DEPTH: list[int] = []


class Sim:
    """Drives the commands; keeps time moving forward."""

    def __init__(self, app: Any, runner: ProjectionRunner) -> None:
        self.app, self.runner = app, runner
        self.t = T("2025-03-03 09:00")
        self.ids: dict[int, Any] = {}
        self.stage: dict[int, int] = {}
        self.n_evidence = 0

    def tick(self) -> Any:
        self.t += timedelta(hours=5)
        return self.t

    def do(self, name: str, k: int, x: int) -> None:
        if name == "advance":  # x steps along the lifecycle of case k
            for _ in range(x):
                i = self.stage.get(k, 0)
                self.stage[k] = i + 1
                step_name = LIFECYCLE[i] if i < len(LIFECYCLE) else TAIL[(i - len(LIFECYCLE)) % len(TAIL)]
                try:  # noqa: SIM105 - a refused command is an expected outcome of the property test
                    self.do(step_name, k, i if step_name == "show" else 1 + i % 8)
                except (DomainError, LedgerError):
                    pass
            return
        a, at = self.app, self.tick()
        if name == "project":
            self.runner.batch_size = x
            self.runner.run_once()
            return
        if name == "dispatch":
            self.ids[k] = a.dispatch_inspection(
                task_no=f"H-{k}-{x}", inspection_type="routine", mode="off_site" if x == 9 else "on_site", uscc=ENT,
                assignments=[{"agency_code": AGENCY, "item_codes": ["I1"], "cert_nos": ["C1", "C2"]}], at=at,
                actor="dispatcher")
            return
        iid = self.ids.get(k)
        if iid is None:
            return
        certs = ["C1", "C2"]
        if name == "approve":
            a.approve_inspection(inspection_id=iid, agency_code=AGENCY, approver="head", at=at)
        elif name == "arrive":
            a.record_arrival(inspection_id=iid, scan={"code_id": "Q", "uscc": ENT, "scanned_at": 1}, location="x",
                             at=at, actor="p1")
        elif name == "show":
            a.show_certificate(inspection_id=iid, cert_no=certs[x % 2], at=at, actor=certs[x % 2])
        elif name == "evidence":
            self.n_evidence += 1
            a.log_evidence(inspection_id=iid, evidence_id=f"EV-{self.n_evidence}", evidence_type="书证", sha256=H,
                           size=x, media_type="image/jpeg", source="on_site" if x % 2 else "document_review",
                           capture={}, cert_nos=certs, at=at, actor="p1")
        elif name == "sign":
            a.sign_inspection_record(inspection_id=iid, record_hash=H, cert_nos=certs, party_signature="s",
                                     refusal_note=None, at=at, actor="p1")
        elif name == "conclude":
            a.conclude_inspection(inspection_id=iid, result="no_issue" if x == 9 else "case_filed", cert_nos=certs,
                                  at=at, actor="p1")
        elif name == "notify":
            a.notify_result(inspection_id=iid, recipient="m", summary_hash=H, secret=b"s", at=at, actor="p1")
        elif name == "file":
            file_case(a, iid, f"{k}-{x}", at)
        elif name == "prior_notice":
            a.serve_penalty_notice(inspection_id=iid, notice_no=f"告-{k}", penalty_kinds=["罚款"],
                                   fine_fen=100_000 * x, facts_hash=H, hearing_right=False, at=at, actor="p1")
        elif name == "waive":
            a.waive_rights(inspection_id=iid, rights=["statement"], waiver_ref=f"声明-{k}", at=at, actor="p1")
        elif name == "review":
            a.give_legal_review(inspection_id=iid, reviewer="r1", draft_hash=DRAFT, result="fail" if x == 9 else "pass",
                                checklist=dict.fromkeys(REVIEW_POINTS, "ok"), first_time=False,
                                legal_qualification=True, at=at)
        elif name == "educate":
            a.record_education(inspection_id=iid, summary="教育", at=at, actor="p1")
        elif name == "decide":
            insp = a.get_inspection(iid)
            refs = [e for e, v in insp.evidence.items() if v["admissible"] and not v["post_decision"]][:1]
            if x != 9:
                notices = getattr(insp, "notices", ())
                fine = notices[-1]["fine_fen"] if notices else 100_000 * x
                decide_penalty(a, iid, f"罚{k}", at, fine_fen=fine, evidence_refs=tuple(refs))
            else:
                a.decide(inspection_id=iid, decision_no=f"不罚{k}", outcome="no_penalty_minor", draft_hash=DRAFT,
                         decider="head", decider_role="agency_head", evidence_refs=refs, at=at)
        elif name == "serve":
            a.serve_decision(inspection_id=iid, method="direct", documents=["行政处罚决定书"],
                             document_hash=content_hash(SERVED), publication_notice=True, at=at, actor="p1")
        elif name == "publish":
            a.publish_decision(inspection_id=iid, served_document=SERVED, redaction_map=REDACTIONS,
                               content_hash=content_hash(published_content()), redaction_reviewer="r1", at=at,
                               actor="pub")
        elif name == "alter":
            kind = "changed" if x % 2 else "revoked"
            a.alter_decision(inspection_id=iid, kind=kind, reason="复议", basis_ref="复议-1", at=at, actor="head",
                             new_draft_hash="e" * 64 if kind == "changed" else None)
        elif name == "withdraw":
            a.withdraw_publication(inspection_id=iid, reason_text="已撤销", at=at, actor="pub")
        elif name == "correct":
            more = {**REDACTIONS, "cf_frdb": "个人信息"}
            a.correct_publication(inspection_id=iid, reason="更正", served_document=SERVED, redaction_map=more,
                                  content_hash=content_hash(published_content(SERVED, more)),
                                  redaction_reviewer="r1", at=at, actor="pub")
        elif name == "cancel":
            a.cancel_inspection(inspection_id=iid, reason="取消", at=at, actor="dispatcher")
        elif name == "mode":
            a.change_inspection_mode(inspection_id=iid, mode="off_site", reason="改为非现场", approved_by="head",
                                     at=at, actor="dispatcher")


@contextmanager
def fresh_db(backend: str, tmp_path: Any) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / ('p' + uuid.uuid4().hex[:8] + '.db')}"
        return
    base = pg_base_url()
    schema = "h_" + uuid.uuid4().hex[:12]
    admin = create_engine(base)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
# No shrinking: a shrink of a 50-command history takes minutes; the failing history is printed as drawn.
@settings(max_examples=5, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(history=histories)
def test_incremental_processing_in_random_batches_equals_a_full_rebuild(backend: str, tmp_path: Any,
                                                                        history: list[tuple[str, int, int]]) -> None:
    with fresh_db(backend, tmp_path) as url:
        c = world(url)
        try:
            runner = ProjectionRunner(c.engine, batch_size=3)
            runner.setup()
            sim = Sim(c.app, runner)
            for name, k, x in history:
                try:  # noqa: SIM105 - a refused command is an expected outcome of the property test
                    sim.do(name, k, x)
                except (DomainError, LedgerError):
                    pass
            runner.batch_size = 4
            runner.run()
            incremental = dump(c.engine)
            DEPTH.append(len(incremental["proj_audit"]))

            ProjectionRunner(c.engine, batch_size=10_000).rebuild()

            assert dump(c.engine) == incremental
            assert Projections(c.engine).verify_annual_statistics(2025)["ok"]
        finally:
            c.engine.dispose()


def test_the_property_reaches_deep_into_the_lifecycle(tmp_path: Any) -> None:
    """A fixed history that the property's strategy can produce, checked to reach publication."""
    with fresh_db("sqlite", tmp_path) as url:
        c = world(url)
        runner = ProjectionRunner(c.engine, batch_size=2)
        runner.setup()
        sim = Sim(c.app, runner)
        script = ["dispatch", "approve", "arrive", "show", "project", "evidence", "sign", "conclude", "notify",
                  "file", "prior_notice", "waive", "project", "review", "decide", "serve", "publish", "project",
                  "correct", "alter",
                  "withdraw"]
        for name in script:
            sim.do(name, 0, 1 if name != "show" else 0)
            if name == "show":
                sim.do(name, 0, 1)
        sim.do("advance", 1, 9)
        sim.do("advance", 1, 9)
        runner.run()
        incremental = dump(c.engine)
        ProjectionRunner(c.engine).rebuild()
        assert dump(c.engine) == incremental
        n = Projections(c.engine).notice(str(sim.ids[0]), now=T("2025-06-01 09:00"))
        assert n["status"] == "withdrawn"
