"""Issue 15 over HTTP: bodies bounded before they are read, the public feedback rate limits, device
steps scoped to their agency, idempotency records that live in the command's own transaction,
and the Host header kept out of page URLs. On SQLite and PostgreSQL; every refusal writes nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app, default_config
from api.guard import RateLimiter, host_name
from api.serve import host_settings
from api.settings import HttpLimits, Settings
from domain.base import feedback_token
from ledger.errors import UsageError
from tests.e2e.world import A0, A1, DEMO_SECRET, ENT1, T, World, dispatch_body

PROBLEM = "application/problem+json"


def _app(w: World, **config: Any) -> TestClient:
    app = create_app(w.container, config=default_config(w.container, **config),
                     authenticator=w.app.state.services.authenticator, projections=w.app.state.services.projections)
    return TestClient(app, raise_server_exceptions=False)


# ----------------------------------------------------------------------------- item 5: devices

def _register_device(w: World, device_id: str, agency: str) -> None:
    r = w.client.post("/v1/devices", headers=w.h("registrar"), json={
        "device_id": device_id, "agency_code": agency, "kind": "camera", "location": "五一路口",
        "at": T("2025-02-03 09:00").isoformat()})
    assert r.status_code == 201, r.json()


def test_a_reviewer_and_a_publisher_cannot_act_on_another_agencys_device_and_nothing_is_written(
        world: World) -> None:
    w = world
    _register_device(w, "DEV-SCOPE-A1", A1)
    review = {"legal_ok": True, "technical_ok": True, "review_ref": "R-1", "at": T("2025-02-04 09:00").isoformat()}
    with w.writes_nothing():
        r = w.client.post("/v1/devices/DEV-SCOPE-A1/review", json=review, headers=w.h("reviewer-liu"))
    assert (r.status_code, r.json()["code"]) == (403, "E_FORBIDDEN_SCOPE")
    assert r.headers["content-type"] == PROBLEM
    with w.writes_nothing():
        r = w.client.post("/v1/devices/DEV-SCOPE-A1/location-publication", headers=w.h("publisher"),
                          json={"publication_ref": "P-1", "at": T("2025-02-05 09:00").isoformat()})
    assert (r.status_code, r.json()["code"]) == (403, "E_FORBIDDEN_SCOPE")
    with w.writes_nothing():
        r = w.client.post("/v1/devices/DEV-NOWHERE/review", json=review, headers=w.h("reviewer-liu"))
    assert r.status_code == 404


def test_the_registering_agencys_reviewer_and_publisher_act_on_its_device(world: World) -> None:
    w = world
    _register_device(w, "DEV-SCOPE-A0", A0)
    r = w.client.post("/v1/devices/DEV-SCOPE-A0/review", headers=w.h("reviewer-liu"), json={
        "legal_ok": True, "technical_ok": True, "review_ref": "R-2", "at": T("2025-02-04 09:00").isoformat()})
    assert r.status_code == 200, r.json()
    r = w.client.post("/v1/devices/DEV-SCOPE-A0/location-publication", headers=w.h("publisher"),
                      json={"publication_ref": "P-2", "at": T("2025-02-05 09:00").isoformat()})
    assert r.status_code == 200, r.json()


# ----------------------------------------------------------------------------- item 2: bodies

@pytest.fixture
def tight(world: World) -> Iterator[TestClient]:
    """The world's ledger behind an app with small body limits."""
    yield _app(world, http=HttpLimits(json_body_bytes=8 * 1024, public_body_bytes=2 * 1024,  # noqa: PT022 - a yield fixture, like its neighbours
                                      feedback_per_client=10**6, feedback_per_case=10**6))


def test_a_body_without_a_token_is_refused_401_before_its_size_or_content_matter(
        world: World, tight: TestClient) -> None:
    w = world
    with w.writes_nothing():
        r = tight.post("/v1/cases", content=b"{" * 100_000, headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["code"]) == (401, "E_UNAUTHENTICATED")
    assert r.headers["content-type"] == PROBLEM
    assert r.headers["www-authenticate"].startswith("Bearer")
    with w.writes_nothing():
        r = tight.post("/v1/cases", content=b"{}", headers={"Authorization": "Bearer clk_nope"})
    assert (r.status_code, r.json()["code"]) == (401, "E_UNAUTHENTICATED")


def test_a_body_over_its_limit_is_413_problem_json_and_writes_nothing(world: World, tight: TestClient) -> None:
    w = world
    big = dispatch_body("API-BIG-1", T("2025-06-02 09:00"), uscc=ENT1)
    big["task_no"] = "x" * 9000  # over the 8 KiB JSON limit
    with w.writes_nothing():
        r = tight.post("/v1/cases", json=big, headers=w.h("p-lin"))
    assert (r.status_code, r.json()["code"]) == (413, "E_BODY_TOO_LARGE")
    assert r.headers["content-type"] == PROBLEM

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams
        yield b'{"task_no": "'
        for _ in range(10):
            yield b"y" * 1024
        yield b'"}'

    with w.writes_nothing():
        r = tight.post("/v1/cases", content=chunks(), headers=w.h("p-lin", **{"Content-Type": "application/json"}))
    assert (r.status_code, r.json()["code"]) == (413, "E_BODY_TOO_LARGE")
    with w.writes_nothing():  # the public feedback endpoint has its own, smaller limit
        r = tight.post("/v1/feedback", json={"case_id": "x", "token": "t", "rating": 3, "comment": "z" * 3000})
    assert (r.status_code, r.json()["code"]) == (413, "E_BODY_TOO_LARGE")
    with w.writes_nothing():
        r = tight.post(f"/v/{w.case_of('clean')}/feedback", data={"token": "t", "rating": "3", "comment": "z" * 3000})
    assert r.status_code == 413


def test_a_body_within_its_limit_still_goes_through_the_guard(world: World, tight: TestClient) -> None:
    w = world
    r = tight.post("/v1/cases", json=dispatch_body("API-SMALL-1", T("2025-06-03 09:00"), uscc=ENT1),
                   headers=w.h("p-lin"))
    assert r.status_code == 201, r.json()


def test_http_limits_below_one_are_refused_at_settings_time() -> None:
    with pytest.raises(UsageError, match="json_body_bytes"):
        Settings(http=HttpLimits(json_body_bytes=0)).check()
    with pytest.raises(UsageError, match="CASELEDGER_MAX_BLOB_BYTES"):
        Settings.from_env({"CASELEDGER_MAX_BLOB_BYTES": "lots"})
    assert Settings.from_env({"CASELEDGER_MAX_JSON_BYTES": "1024"}).http.json_body_bytes == 1024


# ----------------------------------------------------------------------------- item 2: rate limits

def test_feedback_attempts_are_limited_per_case_with_429_and_retry_after(world: World) -> None:
    w = world
    client = _app(w, http=HttpLimits(feedback_per_client=1000, feedback_per_case=2))
    case, other = w.cases["clean/0"][0], w.cases["clean/1"][0]
    for _ in range(2):
        with w.writes_nothing():
            r = client.post("/v1/feedback", json={"case_id": case, "token": "guess", "rating": 3})
        assert r.json()["code"] == "E_FEEDBACK_TOKEN"
    with w.writes_nothing():
        r = client.post("/v1/feedback", json={"case_id": case, "token": feedback_token(UUID(case), DEMO_SECRET),
                                              "rating": 3})
    assert (r.status_code, r.json()["code"]) == (429, "E_RATE_LIMITED")
    assert r.headers["content-type"] == PROBLEM
    assert int(r.headers["retry-after"]) >= 1
    with w.writes_nothing():  # the form is the same endpoint for the limit
        page = client.post(f"/v/{case}/feedback", data={"token": "guess", "rating": "3"})
    assert page.status_code == 429
    with w.writes_nothing():  # another case is not limited by this one
        r = client.post("/v1/feedback", json={"case_id": other, "token": "guess", "rating": 3})
    assert r.json()["code"] == "E_FEEDBACK_TOKEN"


def test_feedback_attempts_are_limited_per_client_across_cases(world: World) -> None:
    w = world
    client = _app(w, http=HttpLimits(feedback_per_client=3, feedback_per_case=1000))
    cases = sorted({c for k, v in w.cases.items() if not k.startswith("uscc/") for c in v})
    assert len(cases) > 3
    for case in cases[:3]:
        r = client.post("/v1/feedback", json={"case_id": case, "token": "guess", "rating": 3})
        assert r.status_code == 422
    with w.writes_nothing():
        r = client.post("/v1/feedback", json={"case_id": cases[-1], "token": "guess", "rating": 3})
    assert (r.status_code, r.json()["code"]) == (429, "E_RATE_LIMITED")


def test_the_rate_limiter_forgets_attempts_older_than_its_window() -> None:
    rl = RateLimiter(2, 60.0, max_keys=2)
    assert rl.hit("a", now=0.0) is None
    assert rl.hit("a", now=10.0) is None
    assert rl.hit("a", now=20.0) == pytest.approx(40.0)
    assert rl.hit("a", now=60.5) is None  # the first attempt left the window
    rl.hit("b", now=61.0)
    rl.hit("c", now=62.0)  # bounded memory: the least recently used key is dropped
    assert set(rl._hits) == {"b", "c"}


# ----------------------------------------------------------------------------- item 6: idempotency

def _rows(w: World, key: str) -> int:
    t = w.app.state.services.idempotency.table
    with w.container.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t).where(t.c.key == key)).scalar() or 0)


def test_a_reservation_left_by_an_older_version_does_not_block_the_key(world: World) -> None:
    w = world
    idem = w.app.state.services.idempotency
    with w.container.engine.begin() as conn:  # what the reserve-first pipeline left after a crash
        conn.execute(idem.table.insert().values(principal="p-lin", key="dead-1", request_sha256=b"\0" * 32,
                                                created_at=0))
    body = dispatch_body("API-DEAD-1", T("2025-06-05 09:00"), uscc=ENT1)
    r = w.client.post("/v1/cases", json=body, headers=w.h("p-lin", **{"Idempotency-Key": "dead-1"}))
    assert r.status_code == 201, r.json()
    again = w.client.post("/v1/cases", json=body, headers=w.h("p-lin", **{"Idempotency-Key": "dead-1"}))
    assert (again.status_code, again.headers["idempotency-replayed"]) == (201, "true")
    assert again.content == r.content


def test_concurrent_requests_with_one_key_append_once_and_all_get_the_same_response(world: World) -> None:
    w = world
    body = dispatch_body("API-RACE-1", T("2025-06-06 09:00"), uscc=ENT1)
    before = w.footprint()["events"]
    out: list[Any] = []
    gate = threading.Barrier(4)

    def send() -> None:
        gate.wait()
        out.append(w.client.post("/v1/cases", json=body, headers=w.h("p-lin", **{"Idempotency-Key": "race-1"})))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in out] == [201] * 4, [r.text for r in out]
    assert len({r.content for r in out}) == 1
    assert sorted(r.headers["idempotency-replayed"] for r in out).count("false") == 1
    assert _rows(w, "race-1") == 1
    case = UUID(out[0].json()["case_id"])
    assert w.container.app.get_inspection(case).version == out[0].json()["version"]
    dispatched = w.footprint()["events"] - before
    assert dispatched == out[0].json()["version"] + 1  # the case's entries and its enterprise-year, once


def test_a_refused_command_stores_no_idempotency_record(world: World) -> None:
    w = world
    bad = dispatch_body("API-REFUSED-1", T("2025-06-07 09:00"), uscc="91350100MA2XN7L0X9")
    with w.writes_nothing():
        r = w.client.post("/v1/cases", json=bad, headers=w.h("p-lin", **{"Idempotency-Key": "refused-1"}))
    assert r.status_code in {404, 409}
    assert _rows(w, "refused-1") == 0


# ----------------------------------------------------------------------------- item 9: Host

def test_with_allowed_hosts_another_host_header_is_refused_and_never_reaches_a_page(world: World) -> None:
    w = world
    client = _app(w, allowed_hosts=("ledger.example.gov.cn",))
    case = w.case_of("published")
    r = client.get(f"/v/{case}", headers={"Host": "evil.example"})
    assert (r.status_code, r.json()["code"]) == (400, "E_HOST_NOT_ALLOWED")
    assert r.headers["content-type"] == PROBLEM
    page = client.get(f"/v/{case}", headers={"Host": "ledger.example.gov.cn:443"})
    assert page.status_code == 200
    assert "evil.example" not in page.text


def test_with_a_public_url_the_page_and_its_qr_code_ignore_the_host_header(world: World) -> None:
    w = world
    client = _app(w, public_base_url="https://ledger.example.gov.cn")
    case = w.case_of("published")
    page = client.get(f"/v/{case}", headers={"Host": "evil.example"})
    assert page.status_code == 200
    assert "evil.example" not in page.text
    assert f"https://ledger.example.gov.cn/v/{case}" in page.text


def test_host_settings_need_a_public_url_or_allowed_hosts_and_check_the_url() -> None:
    with pytest.raises(UsageError, match="--public-url"):
        host_settings(None, None)
    with pytest.raises(UsageError, match="absolute"):
        host_settings("ledger.example/v", None)
    with pytest.raises(UsageError, match="absolute"):
        host_settings("https://ledger.example/?q=1", None)
    assert host_settings("https://ledger.example/", None) == ("https://ledger.example", ())
    assert host_settings(None, "A.example, b.example") == (None, ("a.example", "b.example"))
    assert [host_name(h) for h in ("A.example:8000", "[::1]:8000", "::1", "x")] == ["a.example", "::1", "::1", "x"]
