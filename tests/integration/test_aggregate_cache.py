"""The aggregate cache (issue 16, item 1): shared, never-mutated state; invalidation across processes.

A command gets a shallow copy of the cached aggregate (``ledger/cache.py``), which is only safe
because no aggregate changes a value in place; the first test checks that for every value handed
out during a whole case. The second runs a second process against the same ledger and checks that
this process's cache never serves a version the other one has superseded - for the case itself,
for a register (an officer) and for the calendar register - and that a command built on a copy
loaded before the other process wrote is refused by the store (optimistic concurrency decides).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

import ledger.cache
from domain.errors import DomainError
from ledger.audit import verify_database
from ledger.errors import ConflictError
from ledger.merkle_audit import check_merkle
from tests.unit.projections.scenario import AGENCY, ENT, H, T, dispatch, publish, to_decision, world

ROOT_DIR = Path(__file__).resolve().parents[2]
YEAR_2027 = {k: v for k, v in json.loads((ROOT_DIR / "tests" / "fixtures" / "calendar-2027.TEST-DATA.json")
                                          .read_text()).items() if not k.startswith("_")}


def evidence(app: Any, iid: Any, eid: str, at: datetime, certs: tuple[str, ...] = ("C1", "C2")) -> None:
    app.log_evidence(inspection_id=iid, evidence_id=eid, evidence_type="书证", sha256=H, size=1,
                     media_type="image/jpeg", source="on_site", capture={}, cert_nos=list(certs), at=at, actor="p1")


def on_site(app: Any, task_no: str, day: str = "2025-09-02") -> Any:
    iid = dispatch(app, task_no, T("2025-09-01 09:00"))
    app.approve_inspection(inspection_id=iid, agency_code=AGENCY, approver="head", at=T("2025-09-01 09:30"))
    app.record_arrival(inspection_id=iid, scan={"code_id": "Q", "uscc": ENT, "scanned_at": 1}, location="x",
                       at=T(f"{day} 10:00"), actor="p1")
    for cert in ("C1", "C2"):
        app.show_certificate(inspection_id=iid, cert_no=cert, at=T(f"{day} 10:05"), actor=cert)
    return iid


def test_no_value_handed_out_from_the_cache_is_ever_changed_in_place(db_url: str, monkeypatch) -> None:
    handed: list[tuple[str, str, Any, Any]] = []
    real_share = ledger.cache.share

    def recording_share(aggregate: Any) -> Any:
        # Only copy-on-write aggregates are shared; the others are deep-copied (and need no check).
        assert getattr(type(aggregate), "copy_on_write", False) or type(aggregate).__name__ == "KeyRegistry", \
            f"{type(aggregate).__name__} is not marked domain.base.CopyOnWrite"
        if getattr(type(aggregate), "copy_on_write", False):
            for name, value in vars(aggregate).items():
                if name != "_pending_events":
                    handed.append((type(aggregate).__name__, name, value, copy.deepcopy(value)))
        return real_share(aggregate)

    monkeypatch.setattr(ledger.cache, "share", recording_share)
    c = world(db_url)
    app = c.app
    iid = to_decision(app, "T-COW")
    publish(app, iid, T("2025-09-27 09:00"))
    iid2 = on_site(app, "T-COW2")
    for k in range(3):
        evidence(app, iid2, f"EV-{k}", T(f"2025-09-02 10:3{k}"))
    kinds = {k for k, *_ in handed}
    assert {"Inspection", "Officer", "Agency", "Enterprise", "ReferenceList"} <= kinds, kinds
    changed = [(k, name) for k, name, value, snapshot in handed if value != snapshot]
    assert changed == []
    # The cached aggregates equal a replay from the store.
    for agg_id in (iid, iid2):
        cached = app.repository.get(agg_id)
        replayed = app.repository._reconstruct_aggregate(agg_id, None, ledger.cache.project_aggregate)
        assert {k: v for k, v in vars(cached).items() if k != "_pending_events"} == \
            {k: v for k, v in vars(replayed).items() if k != "_pending_events"}


def test_a_command_that_fails_half_way_leaves_the_cache_as_it_was(db_url: str) -> None:
    c = world(db_url)
    app = c.app
    iid = on_site(app, "T-FAIL")
    evidence(app, iid, "EV-1", T("2025-09-02 10:30"))
    before = dict(vars(app.repository.get(iid)))
    insp = app.get_inspection(iid)
    insp.log_evidence(evidence_id="EV-2", evidence_type="书证", sha256=H, size=1, media_type="image/jpeg",
                      source="on_site", capture={}, certs=app._certs(["C1", "C2"], T("2025-09-02 10:31")),
                      at=T("2025-09-02 10:31"), actor="p1", lawful=True, device=None)
    assert "EV-2" in insp.evidence  # applied to the command's copy, never saved
    with pytest.raises(DomainError):  # a later command refused: the copy with EV-2 was never saved
        evidence(app, iid, "EV-1", T("2025-09-02 10:32"))
    after = app.repository.get(iid)
    assert "EV-2" not in after.evidence
    assert after.version == before["_version"]
    assert {k: v for k, v in vars(after).items() if k != "_pending_events"} == \
        {k: v for k, v in before.items() if k != "_pending_events"}


def peer(url: str, *args: str) -> None:
    """Run one command in another process (tests/integration/cache_peer.py)."""
    out = subprocess.run([sys.executable, "-m", "tests.integration.cache_peer", url, *args], cwd=ROOT_DIR,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok", out.stderr


def test_cache_invalidation_across_two_processes(db_url: str) -> None:
    c = world(db_url)
    app = c.app
    iid = on_site(app, "T-2P")
    evidence(app, iid, "EV-A1", T("2025-09-02 10:30"))
    stale = app.get_inspection(iid)  # a command's copy, loaded before the other process writes
    assert app.repository.cache.get(iid) is not None  # cached here

    # The case: the other process appends; this process's next command builds on its entry.
    peer(db_url, "evidence", str(iid), "EV-B1", "2025-09-02T10:31:00+08:00")
    evidence(app, iid, "EV-A2", T("2025-09-02 10:32"))
    entries = [e for e, _, _ in app.case_records(iid)]
    assert [e.body.get("evidence_id") for e in entries[-3:]] == ["EV-A1", "EV-B1", "EV-A2"]
    assert [e.n for e in entries] == list(range(1, len(entries) + 1))
    assert set(app.get_inspection(iid).evidence) >= {"EV-A1", "EV-B1", "EV-A2"}

    # A copy loaded before the other process wrote: the store refuses it, nothing is written.
    count = len(entries)
    stale.log_evidence(evidence_id="EV-STALE", evidence_type="书证", sha256=H, size=1, media_type="image/jpeg",
                       source="on_site", capture={}, certs=app._certs(["C1", "C2"], T("2025-09-02 10:33")),
                       at=T("2025-09-02 10:33"), actor="p1", lawful=True, device=None)
    with pytest.raises(ConflictError):
        app.save(stale)
    assert len(list(app.case_records(iid))) == count

    # A register: the other process suspends officer C2; this process's cached officer is not used past it.
    assert app._officer("C2").status_history[-1][1] == "active"
    peer(db_url, "suspend", "C2", "2025-09-02T10:40:00+08:00")
    assert app._officer("C2").status_history[-1][1] == "suspended"
    with pytest.raises(DomainError) as refused:
        evidence(app, iid, "EV-A3", T("2025-09-02 10:45"))
    assert refused.value.code == "E_CERT_INVALID"  # C2 is suspended as of 10:40
    assert len(list(app.case_records(iid))) == count

    # The calendar register: read from the cache, and a year corrected elsewhere is seen by the next command.
    app.enter_calendar_year(**YEAR_2027, at=T("2027-01-07 09:00"), actor="reg")
    entered = app.signed_years()[2027]
    assert date(2027, 1, 4) not in entered.holidays
    assert app.calendar_register() is not None
    assert app.repository.cache.get(app.calendar_register_id())
    peer(db_url, "calendar", "2027-01-08T09:00:00+08:00")
    corrected = app.signed_years()[2027]
    assert date(2027, 1, 4) in corrected.holidays
    assert corrected.version != entered.version
    assert not app.calendar.is_workday(date(2027, 1, 4))

    report = verify_database(c.engine, workers=1, merkle_check=check_merkle())
    assert report.ok, report.failure
