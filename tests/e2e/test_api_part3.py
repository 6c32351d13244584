"""Issue 18 (enforcement domain, part 3) over HTTP on SQLite and PostgreSQL: each new step's
endpoint accepts the lawful request and refuses a bad one with problem+json carrying its rule
code, writing nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.e2e.world import A0, ENT1, T, World, dispatch_body

PROBLEM = "application/problem+json"


def post(w: World, path: str, who: str | None, body: dict[str, Any]) -> Any:
    return w.client.post(path, json=body, headers=w.h(who))


def version(w: World, cid: str) -> str:
    """The case version (the case file's ETag)."""
    return str(w.client.get(f"/v1/cases/{cid}", headers=w.h("p-lin")).headers["etag"])


def refused(w: World, cid: str, path: str, who: str, body: dict[str, Any], code: str) -> None:
    before = version(w, cid)
    r = post(w, f"/v1/cases/{cid}/{path}", who, body)
    assert r.status_code in {400, 404, 409, 422}, r.json()
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["code"] == code, r.json()
    assert version(w, cid) == before


def test_an_arrival_of_one_officer_is_refused_and_of_the_team_is_recorded_with_its_officers(world: World) -> None:
    w = world
    d = T("2025-06-16 09:00")
    cid = post(w, "/v1/cases", "p-lin", dispatch_body("API-P3-ARR", d, uscc=ENT1)).json()["case_id"]
    assert post(w, f"/v1/cases/{cid}/approvals", "head-sj", {"at": (d + timedelta(minutes=5)).isoformat()}).is_success
    body = {"at": (d + timedelta(hours=1)).isoformat(), "location": "x",
            "scan": {"code_id": "Q", "uscc": ENT1, "scanned_at": 1}}
    refused(w, cid, "arrival", "p-lin", {**body, "cert_nos": ["35010001"]}, "E_OFFICER_COUNT")
    refused(w, cid, "arrival", "p-lin", {**body, "cert_nos": ["35010001", "NOPE-9"]}, "E_UNKNOWN_OFFICER")
    r = post(w, f"/v1/cases/{cid}/arrival", "p-lin", body)
    assert r.status_code == 200, r.json()
    case = w.client.get(f"/v1/cases/{cid}", headers=w.h("p-lin")).json()
    assert case["arrival"]["officers"] == ["35010001", "35010002"]


def test_a_case_type_dispatch_needs_its_source_and_the_views_show_it(world: World) -> None:
    w = world
    d = T("2025-06-17 09:00")
    body = {**dispatch_body("API-P3-SRC", d, uscc=ENT1), "inspection_type": "case"}
    r = post(w, "/v1/cases", "p-lin", body)
    assert r.status_code == 409, r.json()
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["code"] == "E_CASE_SOURCE_REQUIRED"
    r = post(w, "/v1/cases", "p-lin", {**body, "inspection_type": "routine",
                                       "case_source": {"kind": "referral", "ref": "移送-1"}})
    assert r.json()["code"] == "E_CASE_SOURCE_UNEXPECTED", r.json()
    r = post(w, "/v1/cases", "p-lin", {**body, "case_source": {"kind": "referral", "ref": "移送-1"}})
    assert r.status_code == 201, r.json()
    case = w.client.get(f"/v1/cases/{r.json()['case_id']}", headers=w.h("p-lin")).json()
    assert case["case_source"] == {"kind": "referral", "ref": "移送-1"}
    counts = w.client.get("/v1/supervision/inspection-counts?year=2025", headers=w.h("head-sj")).json()["items"]
    (row,) = [c for c in counts if c["uscc"] == ENT1 and c["agency_code"] == body["assignments"][0]["agency_code"]]
    assert row["tasks"].get("case:referral", 0) >= 1


def test_the_head_changes_the_team_and_the_case_file_audit_trail_and_verification_page_show_it(
    world: World,
) -> None:
    w = world
    d = T("2025-06-18 09:00")
    r = post(w, "/v1/officers", "registrar", {
        "cert_no": "35019901", "person_id": "p-xu", "name": "许执法", "agency_code": A0,
        "categories": ["食品", "特种设备"], "valid_from": "2024-01-01", "valid_until": "2027-12-31",
        "at": T("2025-06-01 09:00").isoformat()})
    assert r.status_code in {201, 409}, r.json()  # 409: issued by the other backend's run of this test
    cid = post(w, "/v1/cases", "p-lin", dispatch_body("API-P3-TEAM", d, uscc=ENT1)).json()["case_id"]
    assert post(w, f"/v1/cases/{cid}/approvals", "head-sj", {"at": (d + timedelta(minutes=5)).isoformat()}).is_success
    at = (d + timedelta(hours=1)).isoformat()
    change = {"at": at, "leaving": ["35010002"], "joining": ["35019901"], "reason": "陈某因病离队"}
    assert post(w, f"/v1/cases/{cid}/team-changes", "p-lin", change).status_code == 403  # officers do not approve
    refused(w, cid, "team-changes", "head-sj", {**change, "joining": []}, "E_OFFICER_COUNT")
    refused(w, cid, "team-changes", "head-sj", {**change, "reason": " "}, "E_REASON_REQUIRED")
    refused(w, cid, "team-changes", "head-sj", {**change, "joining": ["NOPE-1"]}, "E_UNKNOWN_OFFICER")
    r = post(w, f"/v1/cases/{cid}/team-changes", "head-sj", change)
    assert r.status_code == 200, r.json()
    case = w.client.get(f"/v1/cases/{cid}", headers=w.h("p-lin")).json()
    (tc,) = case["team_changes"]
    assert (tc["leaving"], tc["joining"], tc["reason"], tc["approver"]) == (
        ["35010002"], ["35019901"], "陈某因病离队", "head-sj")
    assert tc["officers_after"] == ["35010001", "35019901"]
    trail = w.client.get(f"/v1/audit-trail?case={cid}", headers=w.h("head-sj")).json()["items"]
    (row,) = [i for i in trail if i["type"] == "inspection.team_changed.v1"]
    assert row["actor"] == "head-sj"
    page = w.client.get(f"/v/{cid}")
    assert page.status_code == 200
    assert "变更执法人员" in page.text


def test_a_pool_uploaded_as_a_blob_is_committed_by_hash_and_drawn(world: World) -> None:
    import hashlib

    from domain.random_draw import canonical_pool, compute_selection, pool_blob_bytes
    from domain.uscc import make_uscc

    w = world
    pool = canonical_pool(make_uscc(f"91350100{i:09d}") for i in range(3000))
    blob = pool_blob_bytes(pool)
    up = w.client.post("/v1/blobs", content=blob, headers=w.h("p-lin", **{"Content-Type": "text/plain"}))
    assert up.status_code == 201, up.json()
    digest = hashlib.sha256(blob).hexdigest()
    base = f"/v1/agencies/{A0}"
    body = {"draw_no": f"API-P3-H-{w.client.base_url.host}", "purpose": "targets", "seed_source": "上证综指次日收盘",
            "at": T("2025-06-19 09:00").isoformat()}
    missing = post(w, f"{base}/draws-by-hash", "p-lin", {**body, "pool_blob": "ab" * 32})
    assert missing.status_code == 422, missing.json()
    assert missing.json()["code"] == "E_BLOB_UNKNOWN"
    r = post(w, f"{base}/draws-by-hash", "p-lin", {**body, "pool_blob": digest})
    if r.status_code == 409:  # the other backend's run of this session-wide world committed it first
        assert r.json()["code"] == "E_OUT_OF_ORDER"
        return
    assert r.status_code == 201, r.json()
    r = post(w, f"{base}/draws/{body['draw_no']}/result", "p-lin", {
        "pool_hash": "sha256:" + hashlib.sha256(b"caseledger.draw.pool.v1\n" + blob).hexdigest(),
        "seed": "3857.93", "count": 2, "at": T("2025-06-20 09:00").isoformat()})
    assert r.status_code == 200, r.json()
    assert r.text.count("91350100") >= 2
    assert set(compute_selection(pool, "3857.93", 2)) <= set(r.text.replace('"', " ").split())
