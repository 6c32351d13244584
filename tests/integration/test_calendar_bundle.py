"""A court bundle carries the calendar register (issue 14): round trip, tamper, recomputed deadlines.

The 2027 arrangement is TEST DATA (tests/fixtures/calendar-2027.TEST-DATA.json)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import uuid
from pathlib import Path

from sqlalchemy import select, update

from ledger import bundle_deadlines
from ledger.bundle import load_verified_bundle, verify_bundle
from ledger.bundle_export import export_bundle, issue_checkpoint
from ledger.checkpoint import vkey
from ledger.keys import CALENDAR_REGISTER_ID
from projections.source import EVENTS
from tests.fakes import ROOT, StepClock
from tests.integration.test_calendar_years import YEAR_2027, concluded_in_late_december
from tests.unit.projections.scenario import H, T, to_decision, world

ORIGIN = "caseledger.test/ledger"
TRUST = [vkey(ORIGIN, bytes(ROOT.verify_key))]


def exported(db_url: str) -> tuple[object, str, bytes]:
    c = world(db_url)
    app = c.app
    iid = concluded_in_late_december(app)
    app.notify_result(inspection_id=iid, recipient="m", summary_hash=H, secret=b"s", at=T("2027-01-06 10:00"),
                      actor="p1")
    app.enter_calendar_year(**YEAR_2027, at=T("2027-01-07 09:00"), actor="reg")
    issue_checkpoint(c, origin=ORIGIN, signing_key=ROOT, clock=StepClock())
    return c, str(iid), export_bundle(c, str(iid), trusted=TRUST).data


def test_a_bundle_carries_the_calendar_register_and_its_deadlines_recompute_from_it(db_url: str) -> None:
    _, _, data = exported(db_url)
    report = verify_bundle(data, TRUST)
    assert report.ok, report.failure
    assert report.steps["7.8"][0] == "ok"
    vb = load_verified_bundle(data, TRUST)
    assert [e.type for e in vb.calendar] == ["calendar.register_opened.v1", "calendar.year_entered.v1"]
    [row] = bundle_deadlines.deadlines(vb)
    assert (row["deadline"], row["recorded_due"], row["missing_year"]) == ("result_notice", None, 2027)
    assert row["recomputed_due"] == "2027-01-04"  # Dec 30, Dec 31, (Jan 1 a holiday), Jan 4
    assert row["status"] == "computed from the bundle (recorded pending)"
    assert "result_notice" in bundle_deadlines.text([row])


def test_a_tampered_calendar_entry_fails_bundle_verification(db_url: str) -> None:
    c, iid, _ = exported(db_url)
    with c.engine.begin() as conn:  # a DBA edits a holiday out of the signed 2027 entry
        row = conn.execute(select(EVENTS.c.id, EVENTS.c.state).where(
            EVENTS.c.originator_id == uuid.UUID(CALENDAR_REGISTER_ID),
            EVENTS.c.originator_version == 2)).one()
        state = bytes(row.state).replace(b"2027-01-01", b"2027-01-11")
        assert state != bytes(row.state)
        conn.execute(update(EVENTS).where(EVENTS.c.id == row.id).values(state=state))
    data = export_bundle(c, iid).data
    report = verify_bundle(data, TRUST)
    assert not report.ok
    assert report.failure is not None
    assert report.failure.step.startswith("7.8.")


def test_the_bundle_report_lists_each_deadline_with_its_calendar_version(db_url: str, tmp_path: Path) -> None:
    from api.cmd_log import cmd_verify_bundle

    _, _, data = exported(db_url)
    (tmp_path / "b.bin").write_bytes(data)
    (tmp_path / "trust").write_text(TRUST[0] + "\n")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cmd_verify_bundle(argparse.Namespace(file=str(tmp_path / "b.bin"), trust=str(tmp_path / "trust"),
                                                  json=True))
    assert rc == 0
    got = json.loads(out.getvalue())
    assert got["ok"] is True
    assert [d["recomputed_due"] for d in got["deadlines"]] == ["2027-01-04"]
    # Issue 18: the report groups the case's evidence (none logged in this case).
    assert got["evidence_items"] == {"relied_on": [], "post_decision": [], "on_file": []}


def test_deadlines_computed_with_the_package_recompute_to_the_same_day(db_url: str) -> None:
    c = world(db_url)
    iid = str(to_decision(c.app))
    issue_checkpoint(c, origin=ORIGIN, signing_key=ROOT, clock=StepClock())
    rows = bundle_deadlines.deadlines(load_verified_bundle(export_bundle(c, iid).data, TRUST))
    assert {r["deadline"] for r in rows} >= {"result_notice", "decision", "service", "publication"}
    assert {r["status"] for r in rows} == {"agrees"}
    assert all(r["calendar_version"] == "chinesecalendar-1.11.0" for r in rows)
