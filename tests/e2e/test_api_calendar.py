"""The calendar-year register over HTTP (issue 14): registrar only, typed refusals, reads, /readyz.

2099 is a clearly synthetic year (no official arrangement exists for it)."""

from __future__ import annotations

from typing import Any

from tests.e2e.world import World

SYNTHETIC_2099 = {
    "at": "2025-06-20T09:00:00+08:00", "year": 2099, "holidays": ["2099-01-01", "2099-01-02"],
    "workdays": ["2099-01-04"],
    "document": {"issuer": "SYNTHETIC TEST YEAR", "number": "TEST-2099", "issued_on": "2098-12-01"},
    "text_sha256": "a" * 64,
}


def post(w: World, who: str | None, body: dict[str, Any]) -> Any:
    return w.client.post("/v1/calendar/years", json=body, headers=w.h(who))


def test_only_a_registrar_enters_a_calendar_year_and_bad_years_are_refused_with_their_code(world: World) -> None:
    w = world
    with w.writes_nothing():
        assert post(w, "p-lin", SYNTHETIC_2099).status_code == 403
        assert post(w, None, SYNTHETIC_2099).status_code == 401
        r = post(w, "registrar", {**SYNTHETIC_2099, "workdays": ["2099-01-05"]})  # a Monday
        assert (r.status_code, r.json()["code"]) == (409, "E_CALENDAR_WORKDAY_NOT_WEEKEND")
        r = post(w, "registrar", {**SYNTHETIC_2099, "holidays": ["2099-01-04"]})
        assert (r.status_code, r.json()["code"]) == (409, "E_CALENDAR_DATE_CONFLICT")
        r = post(w, "registrar", {**SYNTHETIC_2099, "holidays": ["2100-01-01"]})
        assert (r.status_code, r.json()["code"]) == (409, "E_CALENDAR_DATE_OUTSIDE_YEAR")
        r = post(w, "registrar", {**SYNTHETIC_2099, "holidays": "2099-01-01"})
        assert r.status_code == 422
        r = post(w, "registrar", {**SYNTHETIC_2099, "year": 2025, "holidays": [], "workdays": []})
        assert (r.status_code, r.json()["code"]) == (409, "E_CALENDAR_PACKAGE_COVERS")
    if w.client.get("/v1/calendar/years/2099", headers=w.h("registrar")).status_code == 404:
        r = post(w, "registrar", SYNTHETIC_2099)
        assert r.status_code == 201, r.json()
        assert r.json()["year"] == 2099
        assert r.json()["version"].startswith("calendar:2099@")
    listed = w.client.get("/v1/calendar/years", headers=w.h("auditor")).json()
    assert 2099 in [i["year"] for i in listed["items"]]
    assert listed["signed_years"]["2099"].startswith("calendar:2099@")
    one = w.client.get("/v1/calendar/years/2099", headers=w.h("p-lin")).json()
    assert one["versions"][0]["document"]["number"] == "TEST-2099"
    assert one["versions"][0]["workdays"] == ["2099-01-04"]
    r = w.client.get("/v1/calendar/years/2098", headers=w.h("registrar"))
    assert (r.status_code, r.json()["code"]) == (404, "E_UNKNOWN_CALENDAR_YEAR")
    assert w.client.get("/v1/calendar/years").status_code == 200  # public data: anyone may read it
    ready = w.client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert "2099" in ready["calendar"]["signed_years"]
    assert isinstance(ready["warnings"], list)
