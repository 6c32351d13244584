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

from tests.e2e.world import A0, A1, BY_ROLE, ENT0, ENT3, T, World

ROLES = list(BY_ROLE)
STAFF = {"officer", "legal_reviewer", "agency_head", "publisher", "auditor"}
EVERYONE = set(ROLES)
H = "ab" * 32
AT = T("2025-12-01 10:00").isoformat()


def _case(w: World, story: str) -> str:
    mine = set(w.cases[f"uscc/{ENT0}"])
    return next(c for c in w.cases[story] if c in mine)


#: Who may call each command (operation id), stated independently of the routers' own table.
COMMAND_ROLES: dict[str, set[str]] = {
    "dispatch_inspection": {"officer", "agency_head"}, "approve_inspection": {"agency_head"},
    "change_inspection_mode": {"officer", "agency_head"}, "cancel_inspection": {"agency_head"},
    "change_inspection_team": {"agency_head"}, "commit_draw_pool_by_hash": {"officer", "agency_head"},
    "record_arrival": {"officer"}, "show_certificate": {"officer"}, "log_evidence": {"officer"},
    "sign_inspection_record": {"officer"}, "conclude_inspection": {"officer"}, "notify_result": {"officer"},
    "file_case": {"officer"}, "record_violation": {"officer"}, "request_recusal": {"officer"},
    "decide_recusal": {"agency_head"}, "preserve_evidence": {"officer"},
    "decide_preservation": {"officer", "agency_head"}, "review_device_record": {"legal_reviewer", "agency_head"},
    "give_legal_review": {"legal_reviewer"}, "record_education": {"officer"}, "serve_penalty_notice": {"officer"},
    "hear_statement": {"officer"}, "waive_rights": {"officer"}, "request_hearing": {"officer"},
    "schedule_hearing": {"officer", "agency_head"}, "hold_hearing": {"officer", "legal_reviewer"},
    "hold_collective_discussion": {"agency_head"}, "approve_decision_extension": {"agency_head"},
    "decide": {"agency_head"}, "file_simple_decision": {"officer"}, "serve_decision": {"officer"},
    "record_payment": {"officer"}, "publish_decision": {"publisher"}, "alter_decision": {"agency_head"},
    "withdraw_publication": {"publisher"}, "correct_publication": {"publisher"}, "expire_publication": {"publisher"},
    "approve_credit_repair": {"agency_head"}, "record_overdue": {"officer", "agency_head"},
    "close_case": {"officer", "agency_head"}, "commit_draw_pool": {"officer", "agency_head"},
    "take_coercive_measure": {"officer"}, "approve_coercive_measure": {"agency_head"},
    "extend_coercive_measure": {"agency_head"}, "note_testing_period": {"officer"},
    "end_coercive_measure": {"officer", "agency_head"}, "record_measure_overdue": {"officer", "agency_head"},
    "publish_annual_statistics": {"agency_head", "publisher"},
    "perform_draw": {"officer", "agency_head"}, "assess_special_necessity": {"officer", "agency_head"},
    "approve_special_campaign": {"agency_head"}, "file_special_campaign": {"officer", "agency_head"},
    "register_device": {"registrar"}, "review_device": {"legal_reviewer"}, "publish_device_location": {"publisher"},
    "register_agency": {"registrar"}, "appoint_agency_head": {"registrar"}, "change_agency_status": {"registrar"},
    "issue_certificate": {"registrar"}, "change_certificate_status": {"registrar"}, "renew_certificate": {"registrar"},
    "register_enterprise": {"registrar"}, "change_risk_class": {"registrar"}, "set_positive_list": {"registrar"},
    "publish_reference_list": {"registrar"},
}
PATH_VALUES = {"agency_code": A0, "cert_no": "35010001", "uscc": ENT0, "draw_no": "D-1", "campaign_no": "SC-1",
               "device_id": "DEV-1", "measure_no": "M-1"}


def _example(schema: dict[str, Any], defs: dict[str, Any], name: str = "") -> Any:
    """A minimal instance of ``schema`` (required fields only) that validates."""
    if "$ref" in schema:
        return _example(defs[schema["$ref"].split("/")[-1]], defs, name)
    if "anyOf" in schema:
        return _example(next(s for s in schema["anyOf"] if s.get("type") != "null"), defs, name)
    t = schema.get("type")
    if t == "object":
        props = schema.get("properties", {})
        return {k: _example(props[k], defs, k) for k in schema.get("required", [])}
    if t == "array":
        return [_example(schema["items"], defs, name) for _ in range(schema.get("minItems", 0))]
    if t == "integer":
        return 0
    if t == "boolean":
        return False
    if schema.get("format") == "date-time":
        return AT
    if name in {"sha256", "draft_hash", "record_hash", "document_hash", "content_hash", "summary_hash"}:
        return H
    return {"agency_code": A0, "uscc": ENT0}.get(name, "x")


def command_endpoints(w: World, cmd_case: str) -> list[tuple[str, str, Any, set[str], str]]:
    spec = w.client.get("/v1/openapi.json").json()
    defs = spec["components"]["schemas"]
    out = []
    for path, ops in spec["paths"].items():
        op = ops.get("post")
        if op is None or op["operationId"] not in COMMAND_ROLES:
            continue
        body_schema = op["requestBody"]["content"]["application/json"]["schema"]
        body = _example(body_schema, defs)
        if "at" in body_schema.get("properties", {}) or "$ref" in body_schema:
            body["at"] = AT
        concrete = path.replace("{case_id}", cmd_case)
        for k, v in PATH_VALUES.items():
            concrete = concrete.replace("{" + k + "}", v)
        out.append(("POST", concrete, body, COMMAND_ROLES[op["operationId"]], "command"))
    assert len(out) == len(COMMAND_ROLES), "a command in COMMAND_ROLES has no route"
    return out


def endpoints(w: World) -> list[tuple[str, str, Any, set[str], str]]:
    """(method, path, json body, roles allowed, kind) — kind: read | command | public."""
    read_case = _case(w, "published/0")   # the reads' case: never written by this test
    cmd_case = _case(w, "withdrawn/0")    # the commands' case: finished, so allowed calls are refused by rules
    rc = f"/v1/cases/{read_case}"
    case_readers = STAFF | {"enterprise"}
    oversight = {"auditor", "agency_head"}
    y = "year=2025"
    return [
        ("GET", rc, None, case_readers, "read"),
        ("GET", "/v1/cases?limit=5", None, case_readers, "read"),
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
        ("GET", "/checkpoint", None, EVERYONE, "public"),
        ("GET", "/tile/0/000.p/1", None, EVERYONE, "public"),
        ("GET", "/tile/entries/000.p/1", None, EVERYONE, "public"),
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
        *command_endpoints(w, cmd_case),
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
    if tp[-1].endswith(":path}"):  # a path parameter takes the rest of the path (/tile/{path:path})
        if len(pp) < len(tp):
            return False
        n = len(tp) - 1
        tp, pp = tp[:n], pp[:n]
    return len(tp) == len(pp) and all(t == p or t.startswith("{") for t, p in zip(tp, pp, strict=True))


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_its_endpoints_and_a_refusal_writes_nothing(world: World, role: str) -> None:
    w = world
    who = BY_ROLE[role]
    read_case = _case(w, "published/0")
    task_no = w.container.app.get_inspection(__import__("uuid").UUID(read_case)).task_no
    denied = []
    for method, path, body, allowed, kind in endpoints(w):
        if role not in allowed:
            denied.append((method, path, body))
            continue
        r = _call(w, who, method, path, body)
        assert r.status_code not in {401, 403}, (role, method, path, r.status_code, r.text[:300])
        if kind in {"read", "public"} and method == "GET":
            assert r.status_code in {200, 307}, (role, path, r.status_code, r.text[:300])
    with w.writes_nothing():  # not one refused request wrote anything
        for method, path, body in denied:
            r = _call(w, who, method, path, body)
            assert r.status_code in {401, 403, 404}, (role, method, path, r.status_code, r.text[:300])
            assert r.headers["content-type"] == "application/problem+json", (role, path)
            assert task_no not in r.text, (role, path)
            if who is None:
                assert r.status_code == 401
                assert r.headers["www-authenticate"].startswith("Bearer")


def test_a_reviewer_cannot_decide_and_an_officer_cannot_review(world: World) -> None:
    w = world
    cmd_case = _case(w, "withdrawn/0")
    bodies = {path.rsplit("/", 1)[1]: body for _m, path, body, *_ in command_endpoints(w, cmd_case)}
    with w.writes_nothing():
        r = w.client.post(f"/v1/cases/{cmd_case}/decision", json=bodies["decision"], headers=w.h("reviewer-liu"))
    assert (r.status_code, r.json()["code"]) == (403, "E_FORBIDDEN_ROLE")
    with w.writes_nothing():
        r = w.client.post(f"/v1/cases/{cmd_case}/legal-reviews", json=bodies["legal-reviews"], headers=w.h("p-lin"))
    assert (r.status_code, r.json()["code"]) == (403, "E_FORBIDDEN_ROLE")
    r = w.client.post(f"/v1/cases/{cmd_case}/legal-reviews", json=bodies["legal-reviews"], headers=w.h("reviewer-liu"))
    assert r.status_code == 409  # the reviewer may review; this case is past review


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
    assert trail
    assert {i["agency_code"] for i in trail} == {A0}


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
    from sqlalchemy import select

    w = world
    t = w.app.state.tokens.tokens
    with w.container.engine.connect() as conn:
        stored = {bytes(r[0]) for r in conn.execute(select(t.c.token_sha256))}
    import hashlib

    for token in w.tokens.values():
        assert hashlib.sha256(token.encode()).digest() in stored
        assert token.encode() not in b"".join(stored)
