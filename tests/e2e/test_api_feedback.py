"""R20/R21 over HTTP: feedback with the result notice's token becomes a signed entry of the case,
counted by prohibition code; refused submissions write nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from sqlalchemy import update

from api.bootstrap import INTAKE_PRINCIPAL
from domain.base import feedback_token
from tests.e2e.world import DEMO_SECRET, World


def _fresh_clean_case(w: World) -> str:
    """A clean demo case nobody else submits feedback for (the page test takes clean/0's first)."""
    taken = w.cases["clean/0"][0]
    cands = [c for k, v in sorted(w.cases.items()) if k.startswith("clean/") for c in v if c != taken]
    assert cands, w.cases.keys()
    return cands[-1]


def _ledger_count(w: World, code: str) -> int:
    r = w.client.get("/v1/supervision/feedback", headers=w.h("auditor"))
    assert r.status_code == 200, r.json()
    return sum(int(row["count"]) for row in r.json()["ledger"] if row["code"] == code)


def _submit(w: World, case: str, token: str, **body: Any) -> Any:
    return w.client.post("/v1/feedback", json={"case_id": case, "token": token, "rating": 3, **body})


def test_feedback_is_a_signed_entry_of_the_case_counted_by_code(world: World) -> None:
    w = world
    case = _fresh_clean_case(w)
    token = feedback_token(UUID(case), DEMO_SECRET)
    version = w.container.app.get_inspection(UUID(case)).version
    before = _ledger_count(w, "4")
    comment = "检查人员暗示使用指定中介"

    r = _submit(w, case, token, rating=1, prohibition_code="4", comment=comment)
    assert r.status_code == 201, r.json()
    qr_id = r.json()["qr_id"]
    assert qr_id == hashlib.sha256(token.encode()).hexdigest()[:32]

    insp = w.container.app.get_inspection(UUID(case))
    assert insp.version == version + 1
    assert insp.feedback == {"qr_id": qr_id, "rating": 1, "prohibition_code": "4"}
    rows = w.client.get("/v1/audit-trail", params={"case": case, "type": "inspection.feedback_received.v1"},
                        headers=w.h("auditor")).json()["items"]
    assert [(i["actor"], i["key_role"], i["signature"]) for i in rows] == [(INTAKE_PRINCIPAL, "feedback_intake",
                                                                           "valid")]
    cf = w.client.get(f"/v1/cases/{case}", headers=w.h("auditor")).json()
    assert cf["feedback"]["comment_sha256"] == hashlib.sha256(comment.encode()).hexdigest()
    assert comment not in str(cf)  # the text stays beside the ledger
    assert _ledger_count(w, "4") == before + 1

    with w.writes_nothing():
        again = _submit(w, case, token, rating=5)
    assert (again.status_code, again.json()["code"]) == (409, "E_FEEDBACK_EXISTS")


def test_a_wrong_token_or_a_case_without_a_notice_is_refused_and_writes_nothing(world: World) -> None:
    w = world
    case = _fresh_clean_case(w)
    with w.writes_nothing():
        r = _submit(w, case, "not-the-token")
    assert (r.status_code, r.json()["code"]) == (422, "E_FEEDBACK_TOKEN")
    with w.writes_nothing():
        r = _submit(w, "00000000-0000-4000-8000-000000000000", "t")
    assert (r.status_code, r.json()["code"]) == (404, "E_UNKNOWN_CASE")
    for bad in ({"rating": 0}, {"rating": 6}, {"prohibition_code": "9"}, {"comment": "x" * 1001}):
        with w.writes_nothing():
            r = _submit(w, case, "t", **bad)
        assert r.status_code == 422, (bad, r.json())


def _without_intake_key(w: World) -> Iterator[None]:
    vault = w.container.vault
    assert vault is not None
    with w.container.engine.begin() as conn:
        conn.execute(update(vault.keys).where(vault.keys.c.principal == INTAKE_PRINCIPAL).values(principal="parked"))
    vault._current.pop(INTAKE_PRINCIPAL, None)
    try:
        yield
    finally:
        with w.container.engine.begin() as conn:
            conn.execute(update(vault.keys).where(vault.keys.c.principal == "parked").values(
                principal=INTAKE_PRINCIPAL))


def test_without_an_enrolled_intake_key_feedback_is_unavailable_and_writes_nothing(world: World) -> None:
    w = world
    case = _fresh_clean_case(w)
    token = feedback_token(UUID(case), DEMO_SECRET)
    for _ in _without_intake_key(w):
        with w.writes_nothing():
            r = _submit(w, case, token)
        assert (r.status_code, r.json()["code"]) == (503, "E_FEEDBACK_UNAVAILABLE")
