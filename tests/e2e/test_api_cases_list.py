"""``GET /v1/cases``: finding inspections, scoped exactly as the case reads are, with cursor paging.

Also the public pages' bad parameters: ``/notices?cursor=bad`` answers like ``/notices?page=0``
(the HTML error page, 400), while the API keeps its problem+json answers.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from domain.inspection import Inspection
from ledger.audit import events_table
from tests.e2e.world import A0, ENT0, World


def _inspections(w: World) -> dict[str, Inspection]:
    """Every inspection in the ledger now (other tests may have dispatched more)."""
    c = w.container
    table = events_table(c.engine)
    with c.engine.connect() as conn:
        ids = [r[0] for r in conn.execute(select(table.c.originator_id).where(
            table.c.topic.like("inspection.dispatched.v%")))]  # v1 and v2 (issue 18)
    out = {}
    for raw in ids:
        insp = c.app.get_inspection(raw if not isinstance(raw, bytes) else uuid.UUID(bytes=raw))
        assert isinstance(insp, Inspection)
        out[str(insp.id)] = insp
    return out


def _all(w: World, who: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        q = {**params, "limit": 3, **({"cursor": cursor} if cursor else {})}
        r = w.client.get("/v1/cases", params=q, headers=w.h(who))
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) <= 3
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def test_an_officer_finds_exactly_the_cases_of_its_agency_page_by_page(world: World) -> None:
    w = world
    items = _all(w, "p-lin")
    ids = [i["case_id"] for i in items]
    assert len(ids) == len(set(ids))
    want = {cid for cid, insp in _inspections(w).items() if A0 in {a["agency_code"] for a in insp.assignments}}
    assert set(ids) == want
    one = items[0]
    insp = _inspections(w)[one["case_id"]]
    assert (one["task_no"], one["agency"], one["enterprise"]) == (insp.task_no, insp.lead_agency, insp.uscc)
    assert one["last_step"]["n"] == insp.version
    assert one["status"]


def test_an_auditor_without_an_agency_finds_every_case_and_an_enterprise_only_its_own(world: World) -> None:
    w = world
    everything = _inspections(w)
    assert {i["case_id"] for i in _all(w, "auditor")} == set(everything)
    own = {i["case_id"] for i in _all(w, "ent-0")}
    assert own == {cid for cid, insp in everything.items() if insp.uscc == ENT0}
    assert own


def test_filters_narrow_the_list_and_a_cursor_belongs_to_its_filters(world: World) -> None:
    w = world
    published = _all(w, "auditor", status="published")
    assert published
    assert {i["status"] for i in published} == {"published"}
    by_ent = _all(w, "auditor", enterprise=ENT0)
    assert {i["enterprise"] for i in by_ent} == {ENT0}
    assert _all(w, "auditor", year=1990) == []
    first = w.client.get("/v1/cases", params={"limit": 1}, headers=w.h("auditor")).json()
    assert first["next_cursor"]
    with w.writes_nothing():
        other = w.client.get("/v1/cases", params={"limit": 1, "status": "published", "cursor": first["next_cursor"]},
                             headers=w.h("auditor"))
        bad = w.client.get("/v1/cases", params={"cursor": "bad"}, headers=w.h("auditor"))
        zero = w.client.get("/v1/cases", params={"limit": 0}, headers=w.h("auditor"))
    assert (other.status_code, other.json()["code"]) == (400, "E_BAD_CURSOR")
    assert (bad.status_code, bad.json()["code"]) == (400, "E_BAD_CURSOR")
    assert (zero.status_code, zero.json()["code"]) == (422, "E_VALIDATION")


def test_roles_that_read_no_cases_are_refused(world: World) -> None:
    w = world
    with w.writes_nothing():
        public = w.client.get("/v1/cases")
        registrar = w.client.get("/v1/cases", headers=w.h("registrar"))
    assert public.status_code == 401
    assert (registrar.status_code, registrar.json()["code"]) == (403, "E_FORBIDDEN_ROLE")


def test_a_bad_cursor_on_the_notices_page_answers_like_the_other_bad_parameters(world: World) -> None:
    w = world
    for query in ("cursor=bad", "page=0", "size=99", "page=x"):
        r = w.client.get(f"/notices?{query}")
        assert r.status_code == 400, (query, r.status_code)
        assert r.headers["content-type"].startswith("text/html"), query
        assert 'id="problem" data-code="E_' in r.text, query
    api = w.client.get("/v1/notices", params={"limit": 0})
    assert (api.status_code, api.headers["content-type"]) == (422, "application/problem+json")
