"""Issue 15 items 1 and 3: text and clock bounds on the write path, and projections that are total.

Every test runs on a SQLite file and on PostgreSQL (whose ``text`` and ``jsonb`` cannot hold U+0000).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from api.cli import main as cli_main
from domain.errors import TextInvalid, TimestampOutOfRange
from ledger.audit import verify_database
from ledger.chain import Entry, expected_prev
from ledger.codec import to_micros
from ledger.errors import TimestampInvalid
from ledger.merkle_audit import check_merkle
from projections.errors import ProjectionFailed
from projections.runner import ProjectionRunner, dump, parallel_rebuild
from projections.tables import CASE_FILE
from tests.e2e.world import A0, ENT0, T, World, build_world, dispatch_body
from tests.fakes import append_unchecked, captured_saves, commit_unchecked

NUL_TASK = "NUL-\u0000-task"
DAY = T("2025-06-02 09:00")


@pytest.fixture
def w(db_url: str, tmp_path: Path) -> Iterator[World]:
    world = build_world(db_url, tmp_path / "data", cases=2, checkpoint=False)
    yield world
    world.container.engine.dispose()


def dispatch(w: World, task_no: str, at: datetime = DAY) -> Any:
    return w.container.app.dispatch_inspection(
        task_no=task_no, inspection_type="routine", mode="on_site", uscc=ENT0,
        assignments=[{"agency_code": A0, "item_codes": ["I-食品"], "cert_nos": ["35010001", "35010002"]}],
        at=at, actor="p-lin")


def commit_dispatch_below_validation(w: World, task_no: str) -> None:
    """A dispatch whose entries carry ``task_no`` and are committed with no text check (as before the
    check existed). The domain now refuses such a natural key, so the events are made with a
    placeholder and their ``task_no`` field is set afterwards."""
    app = w.container.app
    saved = captured_saves(app)
    dispatch(w, "PLACEHOLDER-" + str(len(task_no)))
    del app.save
    for agg in saved:
        for ev in agg._pending_events:
            if getattr(ev, "task_no", None) is not None:
                object.__setattr__(ev, "task_no", task_no)
    commit_unchecked(app, *saved)


# ------------------------------------------------------------------------------------ boundary
@pytest.mark.parametrize(("task_no", "char"), [
    (NUL_TASK, "U+0000"), ("bell-\u0007", "U+0007"), ("del-\u007f", "U+007F"), ("c1-\u0085", "U+0085"),
    ("tab-\t-task", "U+0009"), ("rlo-\u202e-kcat", "U+202E"), ("iso-\u2066-task", "U+2066"),
    ("zw-\u200b-task", "U+200B"), ("half-\ud800-surrogate", "U+D800"),
], ids=["nul", "bell", "del", "c1_next_line", "tab_in_identifier", "bidi_override", "bidi_isolate",
        "zero_width_space", "lone_surrogate"])
def test_a_python_command_with_a_bad_character_in_an_identifier_is_refused_and_writes_nothing(
        w: World, task_no: str, char: str) -> None:
    with w.writes_nothing(), pytest.raises(TextInvalid) as ei:
        dispatch(w, task_no)
    assert (ei.value.code, ei.value.character) == ("E_TEXT_INVALID", char)
    assert ei.value.field in {"task_no", "inspection key"}


def test_an_http_dispatch_with_a_nul_task_number_is_refused_400_e_text_invalid_and_writes_nothing(w: World) -> None:
    with w.writes_nothing():
        r = w.client.post("/v1/cases", json=dispatch_body(NUL_TASK, DAY), headers=w.h("p-lin"))
    assert r.status_code == 400, r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "E_TEXT_INVALID"
    assert "U+0000" in r.json()["detail"]


def test_free_text_keeps_tab_and_newline_but_refuses_other_controls(w: World) -> None:
    cid = str(dispatch(w, "FREE-TEXT-1"))
    h = w.h("head-sj")
    assert w.client.post(f"/v1/cases/{cid}/approvals", json={"at": (DAY + timedelta(minutes=5)).isoformat()},
                         headers=h).status_code == 200
    arrive = DAY + timedelta(days=1)
    scan = {"code_id": "QR-TEXT", "uscc": ENT0, "scanned_at": to_micros(arrive)}
    with w.writes_nothing():
        r = w.client.post(f"/v1/cases/{cid}/arrival", headers=w.h("p-lin"),
                          json={"at": arrive.isoformat(), "location": "车间\u0000一楼", "scan": scan})
    assert (r.status_code, r.json()["code"]) == (400, "E_TEXT_INVALID"), r.json()
    r = w.client.post(f"/v1/cases/{cid}/arrival", headers=w.h("p-lin"),
                      json={"at": arrive.isoformat(), "location": "车间\t一楼\n东侧 \u202b(مخزن)\u202c", "scan": scan})
    assert r.status_code == 200, r.json()


# ------------------------------------------------------------------------------------ clock
def test_a_step_dated_beyond_the_allowed_skew_is_refused_e_future_timestamp_and_the_case_stays_open(w: World) -> None:
    app = w.container.app
    now = datetime.fromtimestamp(app.clock() / 1e6).astimezone()
    cid = str(dispatch(w, "CLOCK-1"))
    h = w.h("head-sj")
    with w.writes_nothing():
        r = w.client.post(f"/v1/cases/{cid}/approvals", json={"at": "2027-12-31T09:00:00+08:00"}, headers=h)
    assert (r.status_code, r.json()["code"]) == (400, "E_FUTURE_TIMESTAMP"), r.json()
    # A small skew (a device clock a minute fast) is accepted, and later steps are not frozen out.
    r = w.client.post(f"/v1/cases/{cid}/approvals", json={"at": (now + timedelta(minutes=1)).isoformat()}, headers=h)
    assert r.status_code == 200, r.json()


@pytest.mark.parametrize("at", ["9999-12-31T23:00:00+00:00", "9999-12-31T00:00:00+08:00",
                                "0001-01-01T00:00:00+00:00", "0001-01-01T00:00:00-05:00"])
def test_an_instant_at_the_edge_of_the_calendar_is_refused_400_e_timestamp_range(w: World, at: str) -> None:
    cid = str(dispatch(w, "EDGE-CASE"))
    with w.writes_nothing():
        r = w.client.post(f"/v1/cases/{cid}/approvals", json={"at": at}, headers=w.h("head-sj"))
        d = w.client.post("/v1/cases", json={**dispatch_body("EDGE-1", DAY), "at": at}, headers=w.h("p-lin"))
    for resp in (r, d):
        assert (resp.status_code, resp.json()["code"]) == (400, "E_TIMESTAMP_RANGE"), resp.json()


def test_python_commands_refuse_out_of_range_and_future_instants_with_typed_errors(w: World) -> None:
    cid = dispatch(w, "EDGE-PY")
    app = w.container.app
    with w.writes_nothing():
        with pytest.raises(TimestampOutOfRange):
            dispatch(w, "EDGE-PY-2", datetime(9999, 12, 31, 23, tzinfo=DAY.tzinfo))
        with pytest.raises(TimestampInvalid) as ei:
            app.approve_inspection(inspection_id=cid, agency_code=A0, approver="head-sj",
                                   at=datetime(2150, 1, 1, tzinfo=DAY.tzinfo))
        assert ei.value.code == "E_FUTURE_TIMESTAMP"


# ------------------------------------------------------------------------------------ projections
def test_an_entry_committed_with_a_nul_verifies_and_projects_with_the_nul_escaped(w: World) -> None:
    commit_dispatch_below_validation(w, NUL_TASK)
    c = w.container
    assert verify_database(c.engine, workers=1, merkle_check=check_merkle()).ok
    runner = ProjectionRunner(c.engine)
    runner.setup()
    runner.run()
    assert runner.failures() == {}
    assert set(runner.positions().values()) == {runner.head()}
    with c.engine.connect() as conn:
        tasks = {r[0] for r in conn.execute(select(CASE_FILE.c.task_no))}
    assert "NUL-\u2400-task" in tasks
    assert w.client.get("/readyz").status_code == 200
    assert w.client.get("/notices").status_code == 200
    # A full rebuild gives the same rows.
    before = dump(c.engine)
    ProjectionRunner(c.engine).rebuild()
    assert dump(c.engine) == before


def commit_unprojectable_entry(w: World) -> int:
    """A signed, chained entry of a registered type whose body no projector expects (a dispatch with
    no fields): it verifies, but projecting it fails. Returns its position."""
    app = w.container.app
    case = str(uuid.uuid4())
    key = app.signer.key_for("p-lin")
    append_unchecked(app, Entry(case=case, n=1, type="inspection.dispatched.v1", occurred_at=to_micros(DAY),
                                actor="p-lin", key=key, prev=expected_prev(case, 1, None), body={"odd": 1}))
    return int(app.recorder.max_notification_id())


def test_a_projector_failing_on_one_entry_stops_only_itself_and_is_reported_everywhere(
        w: World, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    c = w.container
    runner = ProjectionRunner(c.engine)
    runner.setup()
    runner.run()
    bad = commit_unprojectable_entry(w)
    dispatch(w, "AFTER-BAD-1")  # a good entry behind the bad one
    assert verify_database(c.engine, workers=1, merkle_check=check_merkle()).ok

    runner = ProjectionRunner(c.engine)
    runner.run()
    failed = runner.failures()
    assert failed, "the malformed dispatch must fail some projector"
    positions = runner.positions()
    for name, e in failed.items():
        assert (e.projection, e.position, positions[name]) == (name, bad, bad - 1)
    ok = set(positions) - set(failed)
    assert ok, "the other projections must go on"
    assert {positions[n] for n in ok} == {runner.head()}

    # /readyz: not ready, naming the projection and the position; the public pages keep serving.
    r = w.client.get("/readyz")
    assert (r.status_code, r.json()["code"]) == (503, "E_PROJECTION_FAILED")
    assert {n: p["position"] for n, p in r.json()["projections"].items()} == dict.fromkeys(failed, bad)
    assert w.client.get("/notices").status_code == 200

    # `caseledger project`: exit 1, the position, no traceback.
    capsys.readouterr()
    assert cli_main(["project", "--db", db_url]) == 1
    err = capsys.readouterr().err
    assert f"position {bad}" in err
    assert "Traceback" not in err

    # `rebuild`: the failing projection keeps the rows it had; the others are rebuilt.
    before = dump(c.engine, list(failed))
    with pytest.raises(ProjectionFailed) as ei:
        ProjectionRunner(c.engine).rebuild()
    assert ei.value.position == bad
    assert dump(c.engine, list(failed)) == before
    after = ProjectionRunner(c.engine)
    assert {after.positions()[n] for n in failed} == {bad - 1}
    assert {after.positions()[n] for n in ok} == {after.head()}
    assert cli_main(["rebuild", "--db", db_url]) == 1
    assert dump(c.engine, list(failed)) == before
    with pytest.raises(ProjectionFailed) as ei:  # the same in worker processes
        parallel_rebuild(db_url, jobs=2, batch_size=50, poll=0.05)
    assert ei.value.position == bad
    assert dump(c.engine, list(failed)) == before


def test_the_cli_refuses_a_principal_whose_id_no_entry_could_carry_and_stores_nothing(
        w: World, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    with w.writes_nothing():  # the footprint counts the token rows
        assert cli_main(["token", "add", "p-\u202eevil", "--role", "officer", "--db", db_url]) == 2
    out = capsys.readouterr()
    assert "U+202E" in out.err  # errors go to stderr (issue 17)
    assert "Traceback" not in out.out + out.err
    with w.container.engine.connect() as conn:
        assert conn.execute(select(w.app.state.tokens.principals).where(
            w.app.state.tokens.principals.c.id == "p-\u202eevil")).first() is None


@pytest.mark.parametrize("path", [
    "/v1/notices?q=%00", "/v1/notices?agency=%00", "/notices?q=%00", "/notices?agency=a%00",
    "/v1/supervision/deadlines?agency=%00", "/v1/statistics/annual?agency=%00&year=2025", "/v1/audit-trail?case=%00",
    "/v1/cases/%00", "/v/%00"])
def test_a_nul_in_a_read_filter_never_gives_a_5xx(w: World, path: str) -> None:
    """SQLite can compare U+0000 (200, nothing found); PostgreSQL cannot (400 E_BAD_QUERY)."""
    r = w.client.get(path, headers=w.h("auditor"))
    assert r.status_code < 500, (path, r.status_code, r.text[:200])
    if r.status_code >= 400 and path.startswith("/v1/"):
        assert r.headers["content-type"].startswith("application/problem+json")
