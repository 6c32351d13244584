"""Issue 18 (enforcement domain, part 3) on the real signed ledger, SQLite file and PostgreSQL:
each new step is signed, chained and verified, and each bad input is refused with its typed
``E_*`` code and writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from domain.errors import DomainError
from ledger.audit import verify_database
from ledger.merkle_audit import check_merkle
from tests.integration.test_enforcement_part2_ledger import AGENCY, ENT, T, setup

SCAN = {"code_id": "Q", "uscc": ENT, "scanned_at": 1}


def refused(c: Any, code: str, fn: Callable[[], object]) -> None:
    """``fn()`` is refused with ``code`` and the ledger gains no entry."""
    before = c.app.recorder.max_notification_id()
    with pytest.raises(DomainError) as info:
        fn()
    assert info.value.code == code, f"expected {code}, got {info.value.code}: {info.value}"
    assert c.app.recorder.max_notification_id() == before


def approved_task(c: Any, task_no: str = "T-1", cert_nos: tuple[str, ...] = ("C1", "C2"), **kw: Any) -> Any:
    app = c.app
    iid = app.dispatch_inspection(task_no=task_no, inspection_type=kw.pop("inspection_type", "routine"),
                                  mode="on_site", uscc=ENT, at=kw.pop("at", T("2025-09-01 09:00")), actor="dispatcher",
                                  assignments=[{"agency_code": AGENCY, "item_codes": ["I3"],
                                                "cert_nos": list(cert_nos)}],
                                  random_draw_ref=kw.pop("random_draw_ref", None), **kw)
    app.approve_inspection(inspection_id=iid, agency_code=AGENCY, approver="head", at=T("2025-09-01 09:30"))
    return iid


def draw(c: Any) -> str:
    app = c.app
    pool = [ENT, "91230500MA1B3N1N2M"]
    pool_hash = app.commit_draw_pool(agency_code=AGENCY, draw_no="D-1", purpose="targets", pool=pool,
                                     seed_source="上证综指次日收盘", at=T("2025-08-29 09:00"), actor="dispatcher")
    app.perform_draw(agency_code=AGENCY, draw_no="D-1", pool_hash=pool_hash, seed="3857.93", count=2,
                     at=T("2025-08-30 10:00"), actor="dispatcher")
    return f"{AGENCY}/D-1"


# ---------------------------------------------------------------- item 2: certificates at arrival (R5, R6)
def test_an_arrival_checks_every_officer_of_the_task_and_is_signed_and_verified(db_url: str) -> None:
    c = setup(db_url)
    iid = approved_task(c, random_draw_ref=draw(c))
    c.app.record_arrival(inspection_id=iid, scan=SCAN, location="x", at=T("2025-09-02 10:00"), actor="p1")
    insp = c.app.get_inspection(iid)
    assert insp.arrival is not None
    assert insp.arrival["officers"] == ("C1", "C2")
    assert verify_database(c.engine, workers=1, merkle_check=check_merkle()).ok


def test_a_bad_arrival_is_refused_with_its_code_and_writes_nothing(db_url: str) -> None:
    c = setup(db_url)
    app = c.app
    iid = approved_task(c, random_draw_ref=draw(c))
    at = T("2025-09-02 10:00")

    def arrive(**kw: Any) -> Callable[[], object]:
        return lambda: app.record_arrival(inspection_id=iid, scan=SCAN, location="x", at=at, actor="p1", **kw)

    refused(c, "E_OFFICER_COUNT", arrive(cert_nos=["C1"]))
    refused(c, "E_UNKNOWN_OFFICER", arrive(cert_nos=["C1", "C9"]))
    app.change_certificate_status(cert_no="C2", status="suspended", effective_at=T("2025-09-02 08:00"),
                                  reason="停职", at=T("2025-09-02 08:00"), actor="reg")
    refused(c, "E_CERT_INVALID", arrive())
    refused(c, "E_CERT_INVALID", arrive(cert_nos=["C1", "C2"]))


# ---------------------------------------------------------------- item 3: where a 个案 task comes from (R9, R12)
SOURCE = {"kind": "complaint_report", "ref": "12345-2025-0901"}


def test_a_case_type_task_records_its_source_in_the_signed_dispatch(db_url: str) -> None:
    c = setup(db_url)
    iid = approved_task(c, inspection_type="case", case_source=SOURCE)
    assert c.app.get_inspection(iid).case_source == SOURCE
    assert verify_database(c.engine, workers=1, merkle_check=check_merkle()).ok


def test_a_dispatch_with_a_missing_or_misplaced_source_is_refused_and_writes_nothing(db_url: str) -> None:
    c = setup(db_url)
    app = c.app
    assignments = [{"agency_code": AGENCY, "item_codes": ["I3"], "cert_nos": ["C1", "C2"]}]

    def dispatch(inspection_type: str, **kw: Any) -> Callable[[], object]:
        return lambda: app.dispatch_inspection(task_no="T-9", inspection_type=inspection_type, mode="on_site",
                                               uscc=ENT, assignments=assignments, at=T("2025-09-01 09:00"),
                                               actor="dispatcher", **kw)

    refused(c, "E_CASE_SOURCE_REQUIRED", dispatch("case"))
    refused(c, "E_CASE_SOURCE_REQUIRED", dispatch("case", case_source={"kind": "rumour", "ref": "R-1"}))
    refused(c, "E_CASE_SOURCE_REQUIRED", dispatch("case", case_source={"kind": "referral", "ref": ""}))
    refused(c, "E_CASE_SOURCE_UNEXPECTED", dispatch("routine", case_source=SOURCE))


# ---------------------------------------------------------------- item 1: team change during a task (R5, R6, R9)
def issue_c3(c: Any, valid_until: str = "2027-12-31") -> None:
    c.app.issue_certificate(cert_no="C3", person_id="p3", name="p3", agency_code=AGENCY, categories=["market"],
                            valid_from="2024-01-01", valid_until=valid_until, at=T("2025-01-02 09:00"), actor="reg")


def test_a_team_change_is_signed_by_the_head_and_the_new_team_arrives(db_url: str) -> None:
    c = setup(db_url)
    issue_c3(c)
    app = c.app
    iid = approved_task(c, random_draw_ref=draw(c))
    app.change_inspection_team(inspection_id=iid, agency_code=AGENCY, leaving=["C2"], joining=["C3"],
                               reason="李某因病离队", approver="head", at=T("2025-09-02 08:00"))
    assert set(app.get_inspection(iid).team) == {"C1", "C3"}
    refused(c, "E_NO_DISPATCH", lambda: app.record_arrival(inspection_id=iid, scan=SCAN, location="x",
                                                           at=T("2025-09-02 10:00"), actor="p1",
                                                           cert_nos=["C1", "C2"]))
    app.record_arrival(inspection_id=iid, scan=SCAN, location="x", at=T("2025-09-02 10:00"), actor="p1")
    assert app.get_inspection(iid).arrival["officers"] == ("C1", "C3")
    assert verify_database(c.engine, workers=1, merkle_check=check_merkle()).ok


def test_a_bad_team_change_is_refused_with_its_code_and_writes_nothing(db_url: str) -> None:
    c = setup(db_url)
    issue_c3(c, valid_until="2025-09-01")
    app = c.app
    iid = approved_task(c, random_draw_ref=draw(c))
    at = T("2025-09-02 08:00")

    def change(**kw: Any) -> Callable[[], object]:
        args = {"leaving": [], "joining": ["C3"], "reason": "加入", "approver": "head", "agency_code": AGENCY, **kw}
        return lambda: app.change_inspection_team(inspection_id=iid, at=at, **args)

    refused(c, "E_CERT_INVALID", change())  # C3's certificate ended on 1 September (R5, legal day)
    refused(c, "E_UNKNOWN_OFFICER", change(joining=["C9"]))
    refused(c, "E_NO_DISPATCH", change(approver="p1"))
    refused(c, "E_NO_DISPATCH", change(leaving=["C9"], joining=[]))
    refused(c, "E_OFFICER_COUNT", change(leaving=["C2"], joining=[]))
    refused(c, "E_REASON_REQUIRED", change(reason=""))
    refused(c, "E_REASON_REQUIRED", change(joining=[]))
    refused(c, "E_UNKNOWN_AGENCY", change(agency_code="91350100M000100Y43"))
    app.cancel_inspection(inspection_id=iid, reason="企业停业", at=T("2025-09-01 12:00"), actor="head")
    refused(c, "E_OUT_OF_ORDER", change(leaving=["C2"], joining=["C1"]))


# ---------------------------------------------------------------- item 5: the AV tolerance from the signed list (R25)
def test_a_seizure_is_judged_by_the_agencys_signed_tolerance_which_it_records(db_url: str) -> None:
    from domain.calendar import to_micros
    from domain.errors import UsageError
    from tests.integration.test_enforcement_part2_ledger import H

    c = setup(db_url)
    app = c.app
    iid = approved_task(c, random_draw_ref=draw(c))
    app.record_arrival(inspection_id=iid, scan=SCAN, location="x", at=T("2025-09-02 10:00"), actor="p1")
    for cert in ("C1", "C2"):
        app.show_certificate(inspection_id=iid, cert_no=cert, at=T("2025-09-02 10:05"), actor=cert)
    start, mid, done = T("2025-09-02 10:35"), T("2025-09-02 10:40"), T("2025-09-02 10:50")
    gapped = [{"start_us": to_micros(start), "end_us": to_micros(mid), "device_id": "cam", "sha256": H},
              {"start_us": to_micros(mid) + 20_000_000, "end_us": to_micros(done), "device_id": "cam", "sha256": H}]

    def seize() -> object:
        return app.take_coercive_measure(
            inspection_id=iid, agency_code=AGENCY, measure_no="M-1", cert_nos=["C1", "C2"], at=done, actor="p1",
            kind="seize", items=[{"name": "过期食品", "quantity": 120}], legal_basis="食品安全法第一百一十条",
            decision_doc_hash=H, inventory_hash=H, documents_delivered=True, party_present=True,
            party_notified=True, rights_stated=True, statement_hash=H, record_hash=H, party_signature="s",
            refusal_note=None, witness_signature=None, approver="head", emergency=False, started_at=start,
            av_segments=gapped, av_interruptions=[])

    refused(c, "E_AV_MISSING", seize)  # the documented default: 5 seconds
    before = app.recorder.max_notification_id()
    with pytest.raises(UsageError):
        app.publish_reference_list(kind="av_policy", owner=AGENCY, entries=[{"max_gap_seconds": 99999}],
                                   at=T("2025-08-01 09:00"), actor="reg")
    assert app.recorder.max_notification_id() == before
    app.publish_reference_list(kind="av_policy", owner=AGENCY, entries=[{"max_gap_seconds": 30}],
                               at=T("2025-08-01 09:00"), actor="reg")
    seize()
    cm = app.get_coercive_measure(inspection_id=iid, measure_no="M-1")
    assert cm is not None
    assert verify_database(c.engine, workers=1, merkle_check=check_merkle()).ok


# ---------------------------------------------------------------- item 7: pools committed by hash (R14)
def test_a_pool_committed_by_hash_is_drawn_from_its_blob_and_a_bad_blob_writes_nothing(db_url: str) -> None:
    import hashlib

    from domain.random_draw import canonical_pool, compute_selection, pool_blob_bytes
    from domain.uscc import make_uscc

    c = setup(db_url)
    app = c.app
    pool = canonical_pool([ENT, *(make_uscc(f"91350100MA{i:07d}") for i in range(2500))])
    blobs = {hashlib.sha256(b).hexdigest(): b for b in (pool_blob_bytes(pool), b"\n".join([b"x", b"a"]))}
    good, bad = list(blobs)

    def commit(digest: str, draw_no: str = "D-H") -> Callable[[], object]:
        return lambda: app.commit_draw_pool_by_hash(
            agency_code=AGENCY, draw_no=draw_no, purpose="targets", pool_blob=digest, seed_source="上证综指次日收盘",
            at=T("2025-08-29 09:00"), actor="dispatcher", read_blob=blobs.__getitem__)

    refused(c, "E_RANDOM_POOL_INVALID", commit(bad))
    refused(c, "E_RANDOM_POOL_MISMATCH", lambda: app.commit_draw_pool_by_hash(
        agency_code=AGENCY, draw_no="D-H", purpose="targets", pool_blob=good, seed_source="s",
        at=T("2025-08-29 09:00"), actor="dispatcher", read_blob=lambda _: blobs[bad]))
    pool_hash = commit(good)()
    refused(c, "E_RANDOM_POOL_MISMATCH", lambda: app.perform_draw(
        agency_code=AGENCY, draw_no="D-H", pool_hash=pool_hash, seed="3857.93", count=3, at=T("2025-08-30 10:00"),
        actor="dispatcher"))
    selected = app.perform_draw(agency_code=AGENCY, draw_no="D-H", pool_hash=pool_hash, seed="3857.93", count=3,
                                at=T("2025-08-30 10:00"), actor="dispatcher", read_blob=blobs.__getitem__)
    assert selected == compute_selection(pool, "3857.93", 3)
    assert app.get_random_draw(agency_code=AGENCY, draw_no="D-H").pool_blob == good
    assert verify_database(c.engine, workers=1, merkle_check=check_merkle()).ok


def test_a_draw_is_exported_with_its_pool_and_recomputes_and_a_lost_or_altered_blob_is_reported(
    db_url: str, tmp_path: Any, monkeypatch: Any,
) -> None:
    import argparse
    import hashlib
    import json

    from api.blobs import BlobStore
    from api.cmd_log import cmd_export_draw
    from domain.random_draw import canonical_pool, pool_blob_bytes, verify_draw
    from domain.uscc import make_uscc

    monkeypatch.setenv("CASELEDGER_DATA_DIR", str(tmp_path / "data"))
    c = setup(db_url)
    app = c.app
    store = BlobStore(tmp_path / "data" / "blobs")
    pool = canonical_pool([ENT, *(make_uscc(f"91350100MA{i:07d}") for i in range(2100))])
    digest = store.put_bytes(pool_blob_bytes(pool)).sha256
    read = lambda d: b"".join(store.open(d))  # noqa: E731
    pool_hash = app.commit_draw_pool_by_hash(agency_code=AGENCY, draw_no="D-X", purpose="targets", pool_blob=digest,
                                             seed_source="s", at=T("2025-08-29 09:00"), actor="dispatcher",
                                             read_blob=read)
    app.perform_draw(agency_code=AGENCY, draw_no="D-X", pool_hash=pool_hash, seed="3857.93", count=4,
                     at=T("2025-08-30 10:00"), actor="dispatcher", read_blob=read)
    args = argparse.Namespace(db=db_url, agency_code=AGENCY, draw_no="D-X", output=str(tmp_path / "out"))
    assert cmd_export_draw(args) == 0
    record = json.loads((tmp_path / "out" / "draw.json").read_text(encoding="utf-8"))
    exported = (tmp_path / "out" / "pool.txt").read_bytes()
    assert hashlib.sha256(exported).hexdigest() == record["pool_blob"] == digest
    assert [e["type"] for e in record["entries"]] == ["random_draw.pool_committed_by_hash.v1",
                                                       "random_draw.performed.v1"]
    # Anyone recomputes the selection from the two files alone.
    verify_draw(pool=exported.decode().split("\n"), seed=record["seed"], count=record["count"],
                selected=record["selected"], pool_hash=record["pool_hash"])
    store.path_for(digest).write_bytes(exported + b"\n")  # the blob altered in the store
    assert cmd_export_draw(args) == 1
    store.path_for(digest).unlink()
    assert cmd_export_draw(args) == 1
