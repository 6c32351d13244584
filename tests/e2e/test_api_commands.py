"""Commands over HTTP against bootstrap(): the whole lifecycle, idempotency, If-Match, and
client-signed entries (preview, sign on the device, submit), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from nacl.signing import SigningKey

from api.demo import AGENCIES
from domain.base import content_hash
from domain.inspection import REVIEW_POINTS
from domain.uscc import make_uscc
from ledger.application import key_body
from ledger.audit import verify_database
from ledger.chain import decode_entry
from ledger.codec import to_micros
from ledger.hashing import key_id
from ledger.merkle_audit import check_merkle
from tests.e2e.world import A0, DECISION_DOC, ENT0, ENT1, T, World, dispatch_body

PROBLEM = "application/problem+json"


def post(w: World, path: str, who: str | None, body: dict[str, Any], **headers: str) -> Any:
    return w.client.post(path, json=body, headers=w.h(who, **headers))


def step(w: World, cid: str, path: str, who: str, at: datetime, version: int, **fields: Any) -> int:
    r = post(w, f"/v1/cases/{cid}/{path}", who, {"at": at.isoformat(), **fields}, **{"If-Match": f'"{version}"'})
    assert r.status_code == 200, (path, r.json())
    assert r.headers["etag"] == f'"{r.json()["version"]}"'
    return int(r.json()["version"])


def test_a_case_goes_from_dispatch_to_withdrawal_over_http_and_the_ledger_verifies(world: World) -> None:
    w = world
    d = T("2025-06-02 09:00")
    r = post(w, "/v1/cases", "p-lin", dispatch_body("API-LIFE-1", d), **{"Idempotency-Key": "life-1"})
    assert r.status_code == 201, r.json()
    cid, v = r.json()["case_id"], r.json()["version"]
    assert r.headers["location"] == f"/v1/cases/{cid}"
    v = step(w, cid, "approvals", "head-sj", d + timedelta(minutes=30), v)
    arrive = d + timedelta(days=1, hours=1)
    v = step(w, cid, "arrival", "p-lin", arrive, v, location="生产车间",
             scan={"code_id": "QR-API", "uscc": ENT0, "scanned_at": to_micros(arrive)})
    v = step(w, cid, "certificates-shown", "p-lin", arrive + timedelta(minutes=5), v, cert_no="35010001")
    v = step(w, cid, "certificates-shown", "p-chen", arrive + timedelta(minutes=6), v, cert_no="35010002")
    photo = "现场照片".encode() * 1000
    up = w.client.post("/v1/blobs", content=photo, headers=w.h("p-lin", **{"Content-Type": "image/jpeg"}))
    assert up.status_code == 201, up.json()
    blob = up.json()
    v = step(w, cid, "evidence", "p-lin", arrive + timedelta(minutes=30), v, evidence_id="EV-API-1",
             evidence_type="书证", sha256=blob["sha256"], media_type="image/jpeg", source="on_site",
             capture={"device": "执法记录仪-01"}, cert_nos=["35010001", "35010002"])
    v = step(w, cid, "record", "p-lin", arrive + timedelta(hours=1), v, record_hash=blob["sha256"],
             cert_nos=["35010001", "35010002"], party_signature="当事人签字")
    v = step(w, cid, "conclusion", "p-lin", arrive + timedelta(hours=2), v, result="case_filed",
             cert_nos=["35010001", "35010002"])
    r = post(w, f"/v1/cases/{cid}/result-notice", "p-lin",
             {"at": (arrive + timedelta(hours=3)).isoformat(), "recipient": ENT0, "summary_hash": blob["sha256"]})
    assert r.status_code == 200, r.json()
    assert len(r.json()["feedback_token"]) == 64
    assert r.json()["feedback_url"].endswith(f"/v/{cid}?token={r.json()['feedback_token']}")
    v = r.json()["version"]
    filed = arrive + timedelta(days=1)
    v = step(w, cid, "filing", "p-lin", filed, v, case_no="API立1号", investigators=["p-lin"], case_class="ordinary",
             requires_legal_review=True, violation={"fingerprint": "c" * 64, "description_hash": "d" * 64,
                                                    "violation_end_on": "2025-05-20", "discovered_on": "2025-06-03"})
    v = step(w, cid, "penalty-notice", "p-lin", filed + timedelta(days=2), v, notice_no="API告1号",
             penalty_kinds=["罚款"], fine_fen=500_000, facts_hash="e" * 64, hearing_right=False)
    v = step(w, cid, "rights-waivers", "p-lin", filed + timedelta(days=3), v, rights=["statement", "hearing"],
             waiver_ref="放弃声明-API")
    draft = content_hash({"draft": "api"})
    v = step(w, cid, "legal-reviews", "reviewer-liu", filed + timedelta(days=10), v, draft_hash=draft, result="pass",
             checklist=dict.fromkeys(REVIEW_POINTS, "ok"), first_time=False, legal_qualification=True)
    decided = filed + timedelta(days=14)
    v = step(w, cid, "decision", "head-sj", decided, v, decision_no="API罚1号", outcome="penalty", draft_hash=draft,
             decider_role="agency_head", evidence_refs=["EV-API-1"], penalty_kinds=["罚款"], fine_fen=500_000,
             benchmark_code="B-GEN", document=DECISION_DOC, seal_ref="seal:福州市市场监督管理局")
    doc = {"cf_wsh": "API罚1号", "cf_xdr_mc": "福州榕城食品有限公司", "cf_xdr_shxym": ENT0, "cf_sy": "未落实制度",
           "cf_fr_zjhm": "350102198001010011"}
    v = step(w, cid, "service", "p-lin", decided + timedelta(hours=4), v, method="direct",
             documents=["行政处罚决定书"], document_hash=content_hash(doc), publication_notice=True)
    public = {k: x for k, x in doc.items() if k != "cf_fr_zjhm"}
    v = step(w, cid, "publication", "publisher", decided + timedelta(days=3), v, served_document=doc,
             redaction_map={"cf_fr_zjhm": "个人身份证号"}, content_hash=content_hash(public),
             redaction_reviewer="reviewer-liu")
    v = step(w, cid, "decision-alterations", "head-sj", decided + timedelta(days=20), v, kind="revoked",
             reason="复议撤销", basis_ref="复议-API-1")
    v = step(w, cid, "publication-withdrawal", "publisher", decided + timedelta(days=21), v,
             reason_text="原处罚决定已撤销")
    insp = w.container.app.get_inspection(UUID(cid))
    assert insp.version == v
    assert insp.publication["status"] == "withdrawn"
    actors = {e.actor for e, _, _ in w.container.app.case_records(cid)}
    assert actors == {"p-lin", "p-chen", "head-sj", "reviewer-liu", "publisher"}
    report = verify_database(w.container.engine, workers=1, merkle_check=check_merkle())
    assert report.ok, report.failure


def test_the_same_idempotency_key_replays_the_first_response_byte_for_byte(world: World) -> None:
    w = world
    body = dispatch_body("API-IDEM-1", T("2025-06-03 09:00"), uscc=ENT1)
    first = post(w, "/v1/cases", "p-lin", body, **{"Idempotency-Key": "idem-1"})
    assert first.status_code == 201
    with w.writes_nothing():
        again = post(w, "/v1/cases", "p-lin", body, **{"Idempotency-Key": "idem-1"})
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["idempotency-replayed"] == "true"


def test_an_idempotency_key_reused_for_another_request_is_refused_and_writes_nothing(world: World) -> None:
    w = world
    post(w, "/v1/cases", "p-lin", dispatch_body("API-IDEM-2", T("2025-06-04 09:00"), uscc=ENT1),
         **{"Idempotency-Key": "idem-2"})
    with w.writes_nothing():
        r = post(w, "/v1/cases", "p-lin", dispatch_body("API-IDEM-3", T("2025-06-04 09:00"), uscc=ENT1),
                 **{"Idempotency-Key": "idem-2"})
    assert r.status_code == 422
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["code"] == "E_IDEMPOTENCY_KEY_REUSED"


def test_a_refused_command_releases_its_idempotency_key(world: World) -> None:
    w = world
    bad = dispatch_body("API-IDEM-4", T("2025-06-07 09:00"), uscc="91350100MA2XN7L0X9")  # bad check digit
    with w.writes_nothing():
        r = post(w, "/v1/cases", "p-lin", bad, **{"Idempotency-Key": "idem-4"})
    assert r.status_code in {404, 409}
    assert r.headers["content-type"] == PROBLEM


def test_if_match_with_a_stale_version_is_412_and_writes_nothing(world: World) -> None:
    w = world
    d = T("2025-06-09 09:00")
    r = post(w, "/v1/cases", "p-lin", dispatch_body("API-ETAG-1", d, uscc=ENT1))
    cid = r.json()["case_id"]
    with w.writes_nothing():
        stale = post(w, f"/v1/cases/{cid}/approvals", "head-sj", {"at": (d + timedelta(minutes=5)).isoformat()},
                     **{"If-Match": '"7"'})
    assert stale.status_code == 412
    assert stale.json()["code"] == "E_PRECONDITION_FAILED"
    with w.writes_nothing():
        garbled = post(w, f"/v1/cases/{cid}/approvals", "head-sj", {"at": (d + timedelta(minutes=5)).isoformat()},
                       **{"If-Match": "version seven"})
    assert (garbled.status_code, garbled.json()["code"]) == (422, "E_VALIDATION")
    ok = post(w, f"/v1/cases/{cid}/approvals", "head-sj", {"at": (d + timedelta(minutes=5)).isoformat()},
              **{"If-Match": r.headers["etag"]})
    assert ok.status_code == 200
    assert ok.headers["etag"] == '"2"'


def _client_key(w: World, who: str) -> SigningKey:
    """Register a client-held key for ``who`` (the root signs the registration)."""
    sk = SigningKey(bytes(range(32)) if who == "p-lin" else bytes(range(1, 33)))
    app = w.container.app
    reg = app.key_registry()
    if app.keyring.get(key_id(bytes(sk.verify_key))) is None:
        start = T("2025-01-02 09:00")
        reg.register(actor="root", at=start, key=key_body(sk, who, "officer", "client", to_micros(start)))
        app.save(reg)
    return sk


def _approved_case(w: World, task: str, d: datetime) -> str:
    cid = post(w, "/v1/cases", "p-lin", dispatch_body(task, d, uscc=ENT1)).json()["case_id"]
    assert post(w, f"/v1/cases/{cid}/approvals", "head-sj", {"at": (d + timedelta(minutes=5)).isoformat()}).is_success
    assert post(w, f"/v1/cases/{cid}/arrival", "p-lin",
                {"at": (d + timedelta(hours=1)).isoformat(), "location": "x",
                 "scan": {"code_id": "Q", "uscc": ENT1, "scanned_at": 1}}).is_success
    return cid


def test_a_client_signed_entry_is_previewed_signed_on_the_device_and_appended(world: World) -> None:
    w = world
    sk = _client_key(w, "p-lin")
    kid = key_id(bytes(sk.verify_key)).hex()
    d = T("2025-06-10 09:00")
    cid = _approved_case(w, "API-SIGN-1", d)
    body = {"at": (d + timedelta(hours=1, minutes=5)).isoformat(), "cert_no": "35010001"}
    with w.writes_nothing():
        pv = w.client.post(f"/v1/cases/{cid}/certificates-shown?preview=true", json=body,
                           headers=w.h("p-lin", **{"X-Key-Id": kid}))
    assert pv.status_code == 200, pv.json()
    entries = pv.json()["entries"]
    assert len(entries) == 1
    entry = decode_entry(bytes.fromhex(entries[0]["entry"]))
    assert (entry.actor, entry.key.hex(), entry.type) == ("p-lin", kid, "inspection.certificate_shown.v1")
    sig = sk.sign(bytes.fromhex(entries[0]["message"])).signature.hex()
    ok = w.client.post(
        f"/v1/cases/{cid}/certificates-shown", json=pv.json()["command"],
        headers=w.h("p-lin", **{"X-Key-Id": kid, "X-Signature": sig}))
    assert ok.status_code == 200, ok.json()
    last, data, stored_sig = list(w.container.app.case_records(cid))[-1]  # noqa: RUF059 - the shape of a case record, spelled out
    assert data.hex() == entries[0]["entry"]
    assert stored_sig.hex() == sig


def test_signed_entries_may_travel_in_the_body_instead_of_headers(world: World) -> None:
    w = world
    sk = _client_key(w, "p-lin")
    d = T("2025-06-11 09:00")
    cid = _approved_case(w, "API-SIGN-2", d)
    body = {"at": (d + timedelta(hours=1, minutes=5)).isoformat(), "cert_no": "35010001"}
    pv = w.client.post(f"/v1/cases/{cid}/certificates-shown?preview=true", json=body, headers=w.h("p-lin"))
    assert pv.status_code == 200  # no X-Key-Id: the principal's newest valid key
    e = pv.json()["entries"][0]
    signed = {**body, "signed_entries": [{"entry": e["entry"],
                                          "sig": sk.sign(bytes.fromhex(e["message"])).signature.hex()}]}
    ok = w.client.post(f"/v1/cases/{cid}/certificates-shown", json=signed, headers=w.h("p-lin"))
    assert ok.status_code == 200, ok.json()


def test_a_bad_client_signature_is_422_with_the_failing_step_and_writes_nothing(world: World) -> None:
    w = world
    sk = _client_key(w, "p-lin")
    kid = key_id(bytes(sk.verify_key)).hex()
    d = T("2025-06-12 09:00")
    cid = _approved_case(w, "API-SIGN-3", d)
    body = {"at": (d + timedelta(hours=1, minutes=5)).isoformat(), "cert_no": "35010001"}
    pv = w.client.post(f"/v1/cases/{cid}/certificates-shown?preview=true", json=body,
                       headers=w.h("p-lin", **{"X-Key-Id": kid}))
    wrong = SigningKey(bytes(32)).sign(bytes.fromhex(pv.json()["entries"][0]["message"])).signature.hex()
    with w.writes_nothing():
        r = w.client.post(f"/v1/cases/{cid}/certificates-shown", json=body,
                          headers=w.h("p-lin", **{"X-Key-Id": kid, "X-Signature": wrong}))
    assert r.status_code == 422
    assert r.headers["content-type"] == PROBLEM
    assert (r.json()["code"], r.json()["step"]) == ("E_SIGNATURE", "2.3")
    other = _client_key(w, "p-chen")
    with w.writes_nothing():
        r = w.client.post(f"/v1/cases/{cid}/certificates-shown", json=body,
                          headers=w.h("p-lin", **{"X-Key-Id": key_id(bytes(other.verify_key)).hex(),
                                                  "X-Signature": wrong}))
    assert r.status_code == 422
    assert r.json()["code"] == "E_KEY_WRONG_ACTOR"
    with w.writes_nothing():
        r = w.client.post(f"/v1/cases/{cid}/certificates-shown", json=body,
                          headers=w.h("p-lin", **{"X-Key-Id": kid, "X-Signature": "zz"}))
    assert (r.status_code, r.json()["code"]) == (422, "E_VALIDATION")


def test_a_principal_without_a_custodial_key_must_sign_on_the_device(world: World) -> None:
    w = world
    # The auditor has no key at all; give it an officer role in a throwaway principal.
    store = w.app.state.tokens
    if "keyless" not in w.tokens:
        store.add_principal("keyless", ["officer"], agency=A0)
        w.tokens["keyless"] = store.issue_token("keyless")
    with w.writes_nothing():
        r = post(w, "/v1/cases", "keyless", dispatch_body("API-NOKEY-1", T("2025-06-13 09:00"), uscc=ENT1))
    assert r.status_code == 422
    assert r.json()["code"] == "E_KEY_UNKNOWN"


def test_registers_are_kept_by_the_registrar_only(world: World) -> None:
    w = world
    body = {"at": T("2025-06-16 09:00").isoformat(), "uscc": make_uscc("91350100MA2XN7L90"), "name": "测试",
            "sector": "食品", "admin_division": "350102", "risk_class": "B", "positive_list": False}
    with w.writes_nothing():
        r = post(w, "/v1/enterprises", "p-lin", body)
    assert r.status_code == 403
    r = post(w, "/v1/reference-lists", "registrar",
             {"at": T("2025-06-16 09:00").isoformat(), "kind": "annual_plan", "owner": AGENCIES[0][0],
              "scope": "2026", "entries": [{"item_code": "I-食品"}]})
    assert r.status_code == 201, r.json()
    assert r.json()["version"] == 1


def test_every_enforcement_command_has_an_endpoint() -> None:
    import inspect

    from api.routers.commands import SPECS
    from ledger.calendar_register import CalendarCommands
    from ledger.enforcement import EnforcementCommands

    commands = {n for cls in (EnforcementCommands, CalendarCommands)
                for n, f in inspect.getmembers(cls, inspect.isfunction)
                if not n.startswith(("_", "get_")) and n != "save" and f.__qualname__.startswith(cls.__name__)
                and (cls is EnforcementCommands or n.startswith("enter_"))}
    # Feedback is the enterprise's, not an officer's command: it has its own public endpoint
    # (POST /v1/feedback, with the token of the result notice), signed by the intake principal.
    assert commands == {s.method for s in SPECS} | {"receive_feedback"}
