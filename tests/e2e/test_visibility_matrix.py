"""One visibility policy (projections/visibility.py) on every read path, for every reader.

A case of its own with a legal review (法制审核) and a dispatch carrying an internal ``W_*`` flag is
read by every kind of reader through the case file, its history, the signed entries, the court
bundle, the audit trail and the public verification page. Staff see everything; the enterprise
sees neither the review nor the warning, and gets withheld entries as their hash and position,
with which the chain and the inclusion proofs still verify; the public page names no withheld
entry type; readers outside the case get 404. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import itertools
import json
from datetime import timedelta
from typing import Any

import pytest

from domain.base import content_hash
from domain.inspection import REVIEW_POINTS
from ledger import merkle
from ledger.bundle import load_verified_bundle, verify_bundle
from ledger.chain import decode_entry
from ledger.codec import to_micros
from projections.visibility import Audience, case_file_for, entry_visible
from tests.e2e.world import ENT0, T, World, dispatch_body

REVIEW = "inspection.legal_review_given.v1"
STAFF = ["p-lin", "p-chen", "head-sj", "reviewer-liu", "publisher", "auditor", "auditor-sj"]
OUTSIDERS = ["p-wang", "head-hb", "ent-3"]
READS = ["", "/history", "/entries", "/bundle"]


def _step(w: World, cid: str, path: str, who: str, at: Any, version: int, **fields: Any) -> int:
    r = w.client.post(f"/v1/cases/{cid}/{path}", json={"at": at.isoformat(), **fields},
                      headers=w.h(who, **{"If-Match": f'"{version}"'}))
    assert r.status_code == 200, (path, r.json())
    return int(r.json()["version"])


@pytest.fixture(scope="module")
def case(world: World) -> dict[str, Any]:
    """A case whose dispatch carries W_MERGE_OR_OFFSITE_POSSIBLE (a second on-site task for the
    same enterprise within the merge window) and which has a legal review; then a checkpoint."""
    w = world
    d = T("2025-09-01 09:00")
    first = w.client.post("/v1/cases", json=dispatch_body("VIS-1", d), headers=w.h("p-lin"))
    assert first.status_code == 201, first.json()
    r = w.client.post("/v1/cases", json=dispatch_body("VIS-2", d + timedelta(hours=1)), headers=w.h("p-lin"))
    assert r.status_code == 201, r.json()
    cid, v = r.json()["case_id"], r.json()["version"]
    v = _step(w, cid, "approvals", "head-sj", d + timedelta(hours=2), v)
    arrive = d + timedelta(days=1)
    v = _step(w, cid, "arrival", "p-lin", arrive, v, location="车间",
              scan={"code_id": "QR-VIS", "uscc": ENT0, "scanned_at": to_micros(arrive)})
    v = _step(w, cid, "certificates-shown", "p-lin", arrive + timedelta(minutes=5), v, cert_no="35010001")
    v = _step(w, cid, "certificates-shown", "p-chen", arrive + timedelta(minutes=6), v, cert_no="35010002")
    up = w.client.post("/v1/blobs", content="可见性笔录".encode() * 100,
                       headers=w.h("p-lin", **{"Content-Type": "image/jpeg"}))
    assert up.status_code in {200, 201}, up.json()
    v = _step(w, cid, "record", "p-lin", arrive + timedelta(hours=1), v, record_hash=up.json()["sha256"],
              cert_nos=["35010001", "35010002"], party_signature="当事人签字")
    v = _step(w, cid, "conclusion", "p-lin", arrive + timedelta(hours=2), v, result="case_filed",
              cert_nos=["35010001", "35010002"])
    filed = arrive + timedelta(days=1)
    v = _step(w, cid, "filing", "p-lin", filed, v, case_no="VIS立1号", investigators=["p-lin"], case_class="ordinary",
              requires_legal_review=True, violation={"fingerprint": "c" * 64, "description_hash": "d" * 64,
                                                     "violation_end_on": "2025-08-20", "discovered_on": "2025-09-02"})
    v = _step(w, cid, "legal-reviews", "reviewer-liu", filed + timedelta(days=5), v,
              draft_hash=content_hash({"draft": "vis"}), result="pass", checklist=dict.fromkeys(REVIEW_POINTS, "ok"),
              first_time=False, legal_qualification=True)
    v = _step(w, cid, "education", "p-lin", filed + timedelta(days=6), v, summary="宣传教育")
    cp = w.client.post("/v1/log/checkpoints", headers=w.h("auditor"))
    assert cp.status_code in {200, 201}, cp.json()
    entries = w.client.get(f"/v1/cases/{cid}/entries", headers=w.h("auditor")).json()["entries"]
    decoded = {e["n"]: decode_entry(bytes.fromhex(e["entry"])) for e in entries}
    assert "W_MERGE_OR_OFFSITE_POSSIBLE" in decoded[1].body["flags"], "the fixture needs a W_* flag on dispatch"
    assert decoded[v - 1].type == REVIEW
    hidden = {n for n, e in decoded.items() if not entry_visible(Audience.ENTERPRISE, e.type, e.body)}
    assert {1, v - 1} <= hidden
    assert len(hidden) < len(decoded)
    return {"id": cid, "version": v, "entries": entries, "hidden": hidden}


def _trust(w: World) -> list[str]:
    return [ln for ln in (w.data_dir / "trust.vkey").read_text().splitlines() if ln and not ln.startswith("#")]


@pytest.mark.parametrize("who", STAFF)
def test_staff_of_the_case_see_every_entry_review_and_flag(world: World, case: dict[str, Any], who: str) -> None:
    w, cid = world, case["id"]
    cf = w.client.get(f"/v1/cases/{cid}", headers=w.h(who))
    assert cf.status_code == 200
    assert [r["reviewer"] for r in cf.json()["reviews"]] == ["reviewer-liu"]
    assert any(f["flag"].startswith("W_") for f in cf.json()["flags"])
    hist = w.client.get(f"/v1/cases/{cid}/history", headers=w.h(who)).json()
    assert hist["reviews"] == cf.json()["reviews"]
    entries = w.client.get(f"/v1/cases/{cid}/entries", headers=w.h(who)).json()["entries"]
    assert entries == case["entries"]
    assert not any(e.get("withheld") for e in entries)
    b = w.client.get(f"/v1/cases/{cid}/bundle", headers=w.h(who))
    assert b.status_code == 200
    report = verify_bundle(b.content, _trust(w))
    assert report.ok, report.text()
    assert report.entries == case["version"]


def test_the_enterprise_gets_withheld_entries_as_hash_and_position_only(world: World, case: dict[str, Any]) -> None:
    w, cid = world, case["id"]
    full = {e["n"]: e for e in case["entries"]}
    entries = w.client.get(f"/v1/cases/{cid}/entries", headers=w.h("ent-0")).json()["entries"]
    assert [e["n"] for e in entries] == sorted(full)
    for e in entries:
        f = full[e["n"]]
        if e["n"] in case["hidden"]:
            assert e == {"n": f["n"], "withheld": True, "sha256": f["sha256"], "sig": f["sig"],
                         "leaf_index": f["leaf_index"], "recorded_at": f["recorded_at"]}
        else:
            assert e == f
    text = json.dumps(entries)
    assert REVIEW not in text
    assert "W_" not in "".join(bytes.fromhex(e["entry"]).decode("utf-8", "replace") for e in entries if "entry" in e)


def test_withheld_entries_still_chain_and_prove_their_inclusion(world: World, case: dict[str, Any]) -> None:
    w, cid = world, case["id"]
    entries = w.client.get(f"/v1/cases/{cid}/entries", headers=w.h("ent-0")).json()["entries"]
    checkpoint = w.client.get("/v1/log/checkpoint").text
    size = int(checkpoint.splitlines()[1])
    root = base64.b64decode(checkpoint.splitlines()[2])
    for prev, e in itertools.pairwise(entries):
        if "entry" in e:  # the next visible entry's prev is the withheld entry's hash
            assert decode_entry(bytes.fromhex(e["entry"])).prev.hex() == prev["sha256"]
    for e in (e for e in entries if e.get("withheld")):
        p = w.client.get("/v1/log/proofs/inclusion", params={"index": e["leaf_index"], "size": size}).json()
        leaf = merkle.compute_leaf_hash(bytes.fromhex(e["sha256"]), bytes.fromhex(e["sig"]), e["recorded_at"],
                                        e["leaf_index"])
        merkle.verify_inclusion(e["leaf_index"], size, leaf, [base64.b64decode(h) for h in p["proof"]], root)


def test_the_enterprise_case_file_and_history_hide_reviews_and_internal_warnings(world: World,
                                                                                 case: dict[str, Any]) -> None:
    w, cid = world, case["id"]
    staff = w.client.get(f"/v1/cases/{cid}", headers=w.h("auditor")).json()
    for path in ("", "/history"):
        r = w.client.get(f"/v1/cases/{cid}{path}", headers=w.h("ent-0"))
        assert r.status_code == 200
        cf = r.json()
        assert "reviews" not in cf
        assert REVIEW not in r.text
        assert '"W_' not in r.text
        assert cf["flags"] == [f for f in staff["flags"] if not f["flag"].startswith("W_")]
        stub = next(t for t in cf["timeline"] if t.get("withheld"))
        real = next(t for t in staff["timeline"] if t["type"] == REVIEW)
        assert stub == {"n": real["n"], "position": real["position"], "withheld": True, "sha256": real["entry_hash"],
                        "leaf_index": real["leaf_index"], "recorded_at": real["recorded_at"]}
    assert w.client.get(f"/v1/cases/{cid}", headers=w.h("ent-0")).json() == case_file_for(Audience.ENTERPRISE, staff)


def test_the_enterprise_bundle_withholds_the_same_entries_and_still_verifies(world: World,
                                                                             case: dict[str, Any]) -> None:
    w, cid = world, case["id"]
    r = w.client.get(f"/v1/cases/{cid}/bundle", headers=w.h("ent-0"))
    assert r.status_code == 200
    report = verify_bundle(r.content, _trust(w))
    assert report.ok, report.text()
    assert report.entries == case["version"] - len(case["hidden"])
    assert f"{len(case['hidden'])} withheld" in report.steps["7.5"][1]
    verified = load_verified_bundle(r.content, _trust(w))
    assert {e.n for e in verified.entries} == set(range(1, case["version"] + 1)) - case["hidden"]
    assert REVIEW.encode() not in r.content
    assert b"W_MERGE" not in r.content


def test_the_public_page_names_no_withheld_entry_type(world: World, case: dict[str, Any]) -> None:
    w, cid = world, case["id"]
    page = w.client.get(f"/v/{cid}")
    assert page.status_code == 200
    assert "不公开的内部记录" in page.text
    assert "法制审核" not in page.text
    assert page.text.count("不公开的内部记录") == len(case["hidden"])
    assert "W_MERGE" not in page.text
    assert "W_OFFICER" not in page.text


def test_the_audit_trail_is_staff_only_and_shows_staff_everything(world: World, case: dict[str, Any]) -> None:
    w, cid = world, case["id"]
    items = w.client.get("/v1/audit-trail", params={"case": cid}, headers=w.h("auditor")).json()["items"]
    assert REVIEW in {i["type"] for i in items}
    assert any(f.startswith("W_") for i in items for f in i["flags"])
    for who in ("ent-0", "p-lin", "reviewer-liu", "publisher"):
        assert w.client.get("/v1/audit-trail", params={"case": cid}, headers=w.h(who)).status_code == 403
    assert w.client.get("/v1/audit-trail", params={"case": cid}).status_code == 401
    projected, _ = w.app.state.services.projections.audit_trail(case=cid, audience=Audience.ENTERPRISE)
    withheld = [i for i in projected if i.get("withheld")]
    assert {i["n"] for i in withheld} == case["hidden"]
    assert all(set(i) == {"position", "leaf_index", "case_id", "n", "entry_hash", "recorded_at", "withheld"}
               for i in withheld)


@pytest.mark.parametrize("who", OUTSIDERS)
@pytest.mark.parametrize("path", READS)
def test_readers_outside_the_case_see_nothing(world: World, case: dict[str, Any], who: str, path: str) -> None:
    r = world.client.get(f"/v1/cases/{case['id']}{path}", headers=world.h(who))
    assert r.status_code == 404
    assert r.json()["code"] == "E_UNKNOWN_CASE"


@pytest.mark.parametrize("path", READS)
def test_the_public_cannot_read_the_case_through_the_api(world: World, case: dict[str, Any], path: str) -> None:
    assert world.client.get(f"/v1/cases/{case['id']}{path}").status_code == 401
