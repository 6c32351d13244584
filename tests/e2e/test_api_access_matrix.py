"""Every role against every endpoint: nothing leaks, and nothing is written by a refused caller.

The public sees only notices, the transparency log and the verification pages; an enterprise
sees only its own cases; staff see their own agency's cases; a reviewer cannot decide and an
officer cannot review. A case outside the caller's scope is indistinguishable from an unknown
one (404). The matrix must name every route of the app (a new endpoint fails this test until it
is classified).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute

from domain.inspection import REVIEW_POINTS
from tests.e2e.world import A0, A1, BY_ROLE, ENT0, ENT3, T, World, dispatch_body

ROLES = list(BY_ROLE)
STAFF = {"officer", "legal_reviewer", "agency_head", "publisher", "auditor"}
EVERYONE = set(ROLES)
H = "ab" * 32
AT = T("2025-12-01 10:00").isoformat()


def _case(w: World, story: str) -> str:
    mine = set(w.cases[f"uscc/{ENT0}"])
    return next(c for c in w.cases[story] if c in mine)


def endpoints(w: World) -> list[tuple[str, str, Any, set[str], str]]:
    """(method, path, json body, roles allowed, kind) — kind: read | command | public."""
    read_case = _case(w, "published/0")   # the reads' case: never written by this test
    cmd_case = _case(w, "withdrawn/0")    # the commands' case: finished, so allowed calls are refused by rules
    rc, cc = f"/v1/cases/{read_case}", f"/v1/cases/{cmd_case}"
    case_readers = STAFF | {"enterprise"}
    oversight = {"auditor", "agency_head"}
    y = "year=2025"
    return [
        ("GET", rc, None, case_readers, "read"),
        ("GET", f"{rc}/history?n=3", None, case_readers, "read"),
        ("GET", f"{rc}/entries", None, case_readers, "read"),
        ("GET", f"{rc}/bundle", None, case_readers, "read"),
        ("GET", "/v1/audit-trail?limit=5", None, oversight, "read"),
        ("GET", "/v1/supervision/deadlines", None, oversight, "read"),
        ("GET", f"/v1/supervision/inspection-counts?{y}", None, oversight, "read"),
        ("GET", "/v1/supervision/role-conflicts", None, oversight, "read"),
        ("GET", "/v1/supervision/officer-activity", None, oversight, "read"),
        ("GET", "/v1/supervision/feedback", None, oversight, "read"),
        ("GET", f"/v1/statistics/annual?{y}", None, oversight, "read"),
        ("GET", "/v1/notices", None, EVERYONE, "public"),
        ("GET", f"/v1/notices/{read_case}", None, EVERYONE, "public"),
        ("GET", "/v1/log/checkpoint", None, EVERYONE, "public"),
        ("GET", "/v1/log/size", None, EVERYONE, "public"),
        ("GET", "/v1/log/proofs/inclusion?index=0", None, EVERYONE, "public"),
        ("GET", "/v1/log/proofs/consistency?first=1", None, EVERYONE, "public"),
        ("GET", "/v1/me", None, EVERYONE, "public"),
        ("GET", "/healthz", None, EVERYONE, "public"),
        ("GET", "/readyz", None, EVERYONE, "public"),
        ("GET", "/v1/openapi.json", None, EVERYONE, "public"),
        ("GET", "/notices", None, EVERYONE, "public"),
        ("GET", "/", None, EVERYONE, "public"),
        ("GET", f"/v/{read_case}", None, EVERYONE, "public"),
        ("GET", f"/v/{read_case}/qr.svg", None, EVERYONE, "public"),
        ("GET", f"/v/{read_case}/qr.png", None, EVERYONE, "public"),
        ("POST", f"/v/{cmd_case}/feedback", None, EVERYONE, "public"),
        ("POST", "/v1/feedback", {"case_id": cmd_case, "token": "wrong", "rating": 3}, EVERYONE, "public"),
        ("POST", "/v1/log/checkpoints", None, {"auditor"}, "command"),
        ("POST", "/v1/blobs", b"evidence", {"officer"}, "command"),
        ("POST", "/v1/cases", dispatch_body("2025-1-0001", T("2025-03-03 09:00")), {"officer", "agency_head"},
         "command"),
        ("POST", f"{cc}/approvals", {"at": AT}, {"agency_head"}, "command"),
        ("POST", f"{cc}/mode-changes", {"at": AT, "mode": "off_site", "reason": "r", "approved_by": "head-sj"},
         {"officer", "agency_head"}, "command"),
        ("POST", f"{cc}/cancellation", {"at": AT, "reason": "r"}, {"agency_head"}, "command"),
        ("POST", f"{cc}/arrival", {"at": AT, "location": "x"}, {"officer"}, "command"),
        ("POST", f"{cc}/certificates-shown", {"at": AT, "cert_no": "35010001"}, {"officer"}, "command"),
        ("POST", f"{cc}/evidence", {"at": AT, "evidence_id": "E", "evidence_type": "书证", "sha256": H,
                                    "media_type": "image/jpeg", "source": "on_site", "cert_nos": ["35010001"]},
         {"officer"}, "command"),
        ("POST", f"{cc}/record", {"at": AT, "record_hash": H, "cert_nos": ["35010001"]}, {"officer"}, "command"),
        ("POST", f"{cc}/conclusion", {"at": AT, "result": "no_issue", "cert_nos": ["35010001"]}, {"officer"},
         "command"),
        ("POST", f"{cc}/result-notice", {"at": AT, "recipient": ENT0, "summary_hash": H}, {"officer"}, "command"),
        ("POST", f"{cc}/filing", {"at": AT, "case_no": "x", "investigators": ["p-lin"], "case_class": "ordinary"},
         {"officer"}, "command"),
        ("POST", f"{cc}/legal-reviews", {"at": AT, "draft_hash": H, "result": "pass",
                                         "checklist": {p: "ok" for p in REVIEW_POINTS}}, {"legal_reviewer"},
         "command"),
        ("POST", f"{cc}/education", {"at": AT, "summary": "s"}, {"officer"}, "command"),
        ("POST", f"{cc}/decision", {"at": AT, "decision_no": "x", "outcome": "penalty", "draft_hash": H,
                                    "evidence_refs": []}, {"agency_head"}, "command"),
        ("POST", f"{cc}/service", {"at": AT, "method": "direct", "documents": ["d"], "document_hash": H,
                                   "publication_notice": False}, {"officer"}, "command"),
        ("POST", f"{cc}/publication", {"at": AT, "served_document": {}, "redaction_map": {}, "content_hash": H,
                                       "redaction_reviewer": "r"}, {"publisher"}, "command"),
        ("POST", f"{cc}/decision-alterations", {"at": AT, "kind": "revoked", "reason": "r", "basis_ref": "b"},
         {"agency_head"}, "command"),
        ("POST", f"{cc}/publication-withdrawal", {"at": AT, "reason_text": "r"}, {"publisher"}, "command"),
        ("POST", f"{cc}/publication-corrections", {"at": AT, "reason": "r", "served_document": {},
                                                   "redaction_map": {}, "content_hash": H,
                                                   "redaction_reviewer": "r"}, {"publisher"}, "command"),
        ("POST", "/v1/agencies", {"at": AT, "agency_code": A0, "name": "n", "kind": "administrative_agency",
                                  "jurisdiction": ["3501"]}, {"registrar"}, "command"),
        ("POST", f"/v1/agencies/{A0}/head", {"at": AT, "head": "head-sj", "effective_at": "2024-01-01T00:00:00Z"},
         {"registrar"}, "command"),
        ("POST", f"/v1/agencies/{A0}/status", {"at": AT, "status": "bogus", "effective_at": AT, "reason": "r"},
         {"registrar"}, "command"),
        ("POST", "/v1/officers", {"at": AT, "cert_no": "35010001", "person_id": "p", "name": "n", "agency_code": A0,
                                  "categories": ["食品"], "valid_from": "2024-01-01", "valid_until": "2027-12-31"},
         {"registrar"}, "command"),
        ("POST", "/v1/officers/35010001/status", {"at": AT, "status": "bogus", "effective_at": AT, "reason": "r"},
         {"registrar"}, "command"),
        ("POST", "/v1/officers/35010001/renewal", {"at": AT, "valid_from": "bad", "valid_until": "bad",
                                                   "categories": [], "effective_at": AT}, {"registrar"}, "command"),
        ("POST", "/v1/enterprises", {"at": AT, "uscc": ENT0, "name": "n", "sector": "食品", "admin_division": "350102",
                                     "risk_class": "B"}, {"registrar"}, "command"),
        ("POST", f"/v1/enterprises/{ENT0}/risk-class", {"at": AT, "risk_class": "Z", "effective_at": AT},
         {"registrar"}, "command"),
        ("POST", f"/v1/enterprises/{ENT0}/positive-list", {"at": AT, "on_list": True, "effective_at": AT,
                                                           "reason": ""}, {"registrar"}, "command"),
        ("POST", "/v1/reference-lists", {"at": AT, "kind": "bogus", "owner": A0, "entries": []}, {"registrar"},
         "command"),
    ]


def _call(w: World, who: str | None, method: str, path: str, body: Any) -> Any:
    headers = w.h(who)
    if isinstance(body, bytes):
        return w.client.request(method, path, content=body, headers=headers)
    if path.endswith("/feedback") and path.startswith("/v/"):
        return w.client.post(path, data={"token": "wrong", "rating": "3"}, headers=headers)
    return w.client.request(method, path, json=body, headers=headers)


def test_the_matrix_names_every_route(world: World) -> None:
    named = {(m, p.split("?")[0]) for m, p, *_ in endpoints(world)}
    ids = {c for cs in world.cases.values() for c in cs}
    for r in world.app.routes:
        if not isinstance(r, APIRoute):
            continue
        for m in r.methods - {"HEAD"}:
            concrete = {(m, p) for m, p in named if _matches(r.path, p, ids)}
            assert concrete, f"{m} {r.path} is not in the access matrix"


def _matches(template: str, path: str, ids: set[str]) -> bool:
    tp, pp = template.strip("/").split("/"), path.strip("/").split("/")
    return len(tp) == len(pp) and all(t == p or t.startswith("{") for t, p in zip(tp, pp, strict=True))


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_its_endpoints_and_a_refusal_writes_nothing(world: World, role: str) -> None:
    w = world
    who = BY_ROLE[role]
    read_case = _case(w, "published/0")
    task_no = w.container.app.get_inspection(__import__("uuid").UUID(read_case)).task_no
    for method, path, body, allowed, kind in endpoints(w):
        if role in allowed:
            r = _call(w, who, method, path, body)
            assert r.status_code not in {401, 403}, (role, method, path, r.status_code, r.text[:300])
            if kind in {"read", "public"} and method == "GET":
                assert r.status_code in {200, 307}, (role, path, r.status_code, r.text[:300])
            continue
        with w.writes_nothing():
            r = _call(w, who, method, path, body)
        assert r.status_code in {401, 403, 404}, (role, method, path, r.status_code, r.text[:300])
        assert r.headers["content-type"] == "application/problem+json", (role, path)
        assert task_no not in r.text, (role, path)
        if who is None:
            assert r.status_code == 401
            assert r.headers["www-authenticate"].startswith("Bearer")


def test_a_reviewer_cannot_decide_and_an_officer_cannot_review(world: World) -> None:
    w = world
    cc = f"/v1/cases/{_case(w, 'withdrawn/0')}"
    with w.writes_nothing():
        r = w.client.post(f"{cc}/decision", json={"at": AT, "decision_no": "x", "outcome": "penalty", "draft_hash": H,
                                                   "evidence_refs": []}, headers=w.h("reviewer-liu"))
    assert (r.status_code, r.json()["code"]) == (403, "E_FORBIDDEN_ROLE")
    with w.writes_nothing():
        r = w.client.post(f"{cc}/legal-reviews", json={"at": AT, "draft_hash": H, "result": "pass",
                                                        "checklist": {p: "ok" for p in REVIEW_POINTS}},
                          headers=w.h("p-lin"))
    assert (r.status_code, r.json()["code"]) == (403, "E_FORBIDDEN_ROLE")


def test_an_enterprise_sees_only_its_own_cases(world: World) -> None:
    w = world
    own = w.cases[f"uscc/{ENT0}"]
    others = w.cases[f"uscc/{ENT3}"]
    for cid in own:
        assert w.client.get(f"/v1/cases/{cid}", headers=w.h("ent-0")).status_code == 200
        r = w.client.get(f"/v1/cases/{cid}", headers=w.h("ent-3"))
        assert (r.status_code, r.json()["code"]) == (404, "E_UNKNOWN_CASE")
    for cid in others:
        for path in (f"/v1/cases/{cid}", f"/v1/cases/{cid}/entries", f"/v1/cases/{cid}/bundle",
                     f"/v1/cases/{cid}/history?n=1"):
            assert w.client.get(path, headers=w.h("ent-0")).status_code == 404
    unknown = "00000000-0000-4000-8000-000000000000"
    a = w.client.get(f"/v1/cases/{others[0]}", headers=w.h("ent-0")).json()
    b = w.client.get(f"/v1/cases/{unknown}", headers=w.h("ent-0")).json()
    assert {k: v for k, v in a.items() if k != "detail"} == {k: v for k, v in b.items() if k != "detail"}


def test_staff_see_their_own_agency_and_a_global_auditor_sees_all(world: World) -> None:
    w = world
    a0 = _case(w, "published/0")
    a1 = w.cases["published/1"][0]
    assert w.client.get(f"/v1/cases/{a1}", headers=w.h("p-wang")).status_code == 200
    assert w.client.get(f"/v1/cases/{a0}", headers=w.h("p-wang")).status_code == 404
    assert w.client.get(f"/v1/cases/{a1}", headers=w.h("auditor-sj")).status_code == 404
    assert w.client.get(f"/v1/cases/{a1}", headers=w.h("auditor")).status_code == 200
    with w.writes_nothing():
        r = w.client.post(f"/v1/cases/{a0}/education", json={"at": AT, "summary": "s"}, headers=w.h("p-wang"))
    assert r.status_code == 404
    r = w.client.get(f"/v1/statistics/annual?year=2025&agency={A1}", headers=w.h("auditor-sj"))
    assert (r.status_code, r.json()["code"]) == (403, "E_FORBIDDEN_SCOPE")
    assert w.client.get(f"/v1/statistics/annual?year=2025&agency={A1}", headers=w.h("auditor")).status_code == 200
    trail = w.client.get("/v1/audit-trail?limit=500", headers=w.h("head-sj")).json()["items"]
    assert trail and {i["agency_code"] for i in trail} == {A0}


def test_a_revoked_or_unknown_token_is_401_and_writes_nothing(world: World) -> None:
    w = world
    store = w.app.state.tokens
    token = store.issue_token("p-chen", label="to revoke")
    w.app.state.services.authenticator.cache_seconds = 0
    try:
        ok = w.client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert ok.json()["id"] == "p-chen"
        assert store.revoke_token(token)
        for auth in (f"Bearer {token}", "Bearer nope", "Basic dXNlcjpwYXNz", "Bearer "):
            with w.writes_nothing():
                r = w.client.post("/v1/blobs", content=b"x", headers={"Authorization": auth})
            assert r.status_code == 401, auth
    finally:
        w.app.state.services.authenticator.cache_seconds = 30.0


def test_tokens_are_stored_only_as_sha256(world: World) -> None:
    from sqlalchemy import select  # noqa: PLC0415

    w = world
    t = w.app.state.tokens.tokens
    with w.container.engine.connect() as conn:
        stored = {bytes(r[0]) for r in conn.execute(select(t.c.token_sha256))}
    import hashlib  # noqa: PLC0415

    for token in w.tokens.values():
        assert hashlib.sha256(token.encode()).digest() in stored
        assert token.encode() not in b"".join(stored)
