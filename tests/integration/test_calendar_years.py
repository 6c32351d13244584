"""Calendar years as signed register entries (issue 14), on a SQLite file and on PostgreSQL.

The 2027 arrangement used here is TEST DATA (tests/fixtures/calendar-2027.TEST-DATA.json), made up
for the suite: no official 2027 calendar is shipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from domain.errors import DomainError
from ledger.audit import verify_database
from ledger.codec import from_micros
from ledger.merkle_audit import check_merkle
from projections.calendar_years import REGISTER_ID
from projections.queries import Projections
from projections.runner import ProjectionRunner
from projections.source import read_case
from tests.unit.projections.scenario import AGENCY, ENT, H, T, dispatch, to_decision, world

FIXTURE = json.loads((Path(__file__).parent.parent / "fixtures" / "calendar-2027.TEST-DATA.json").read_text())
YEAR_2027 = {k: v for k, v in FIXTURE.items() if not k.startswith("_")}


def concluded_in_late_december(app: Any) -> Any:
    """An inspection concluded on Tue 2026-12-29: its 3-working-day result notice runs into 2027."""
    app.publish_reference_list(kind="annual_plan", owner=AGENCY, scope="2026", entries=[{"item_code": "I1"}],
                               at=T("2026-01-02 09:00"), actor="reg")
    iid = dispatch(app, "T-DEC", T("2026-12-01 09:00"))
    app.approve_inspection(inspection_id=iid, agency_code=AGENCY, approver="head", at=T("2026-12-01 09:30"))
    app.record_arrival(inspection_id=iid, scan={"code_id": "Q", "uscc": ENT, "scanned_at": 1}, location="x",
                       at=T("2026-12-29 10:00"), actor="p1")
    for cert in ("C1", "C2"):
        app.show_certificate(inspection_id=iid, cert_no=cert, at=T("2026-12-29 10:05"), actor=cert)
    app.sign_inspection_record(inspection_id=iid, record_hash=H, cert_nos=["C1", "C2"], party_signature="s",
                               refusal_note=None, at=T("2026-12-29 11:00"), actor="p1")
    app.conclude_inspection(inspection_id=iid, result="no_issue", cert_nos=["C1", "C2"],
                            at=T("2026-12-29 11:30"), actor="p1")
    return iid


def result_notice(doc: dict[str, Any]) -> dict[str, Any]:
    return next(d for d in doc["deadlines"] if d["kind"] == "result_notice")


def derived(doc: dict[str, Any]) -> list[str]:
    return [f["flag"] for f in doc["flags"] if "derived_from" in f]


def test_a_december_conclusion_is_recorded_and_its_deadline_waits_for_the_2027_calendar(db_url: str) -> None:
    c = world(db_url)
    app, p = c.app, Projections(c.engine, c.metadata)
    iid = concluded_in_late_december(app)
    # The step happened in the real world: it is recorded, not refused.
    app.notify_result(inspection_id=iid, recipient="m", summary_hash=H, secret=b"s", at=T("2027-01-06 10:00"),
                      actor="p1")
    notified = list(app.case_records(iid))[-1][0]
    assert notified.type == "inspection.result_notified.v1"
    assert list(notified.body["flags"]) == []  # not known to be late yet
    p.refresh()
    before = p.case_file(str(iid), now=T("2027-01-06 12:00"))
    dl = result_notice(before)
    assert (dl["due"], dl["missing_year"], dl["status"]) == (None, 2027, "pending")
    pending_flags = [f for f in before["flags"] if f["flag"] == "W_CALENDAR_PENDING"]
    assert [(f["missing_year"], f["deadline"]) for f in pending_flags] == [(2027, "result_notice")]
    sup = p.supervision_deadlines(T("2026-12-30 09:00"))
    assert [(r["kind"], r["missing_year"]) for r in sup["pending"]] == [("result_notice", 2027)]
    assert sup["calendar"]["missing_next_year"] == 2027
    position_before_year = before["position"]

    app.enter_calendar_year(**YEAR_2027, at=T("2027-01-07 09:00"), actor="reg")
    p.refresh()
    after = p.case_file(str(iid), now=T("2027-01-07 12:00"))
    dl = result_notice(after)
    # Dec 30, Dec 31 (package), Jan 1 a holiday (signed 2027), Jan 4: the third working day.
    assert dl["due"] == "2027-01-04"
    assert dl["calendar_version"] == "chinesecalendar-1.11.0+calendar:2027@2"
    assert dl["late"] is True
    assert dl["status"] == "met_late"
    assert derived(after) == ["V_RESULT_NOT_NOTIFIED"]
    assert p.supervision_deadlines(T("2027-01-07 09:00"))["pending"] == []
    assert p.supervision_deadlines(T("2027-01-07 09:00"))["calendar"]["missing_next_year"] is None

    # Replay as of any position gives what the projection said then.
    then = p.case_file_as_of(app, str(iid), n=before["last_n"])
    assert then["as_of"]["position"] == position_before_year
    assert result_notice(then) == result_notice(before)  # the ledger at that entry: still pending
    recorded = from_micros(before["timeline"][-1]["recorded_at"])  # the ledger's clock, not the steps'
    assert result_notice(p.case_file_as_of(app, str(iid), at=recorded))["due"] is None
    now = p.case_file_as_of(app, str(iid))
    assert result_notice(now) == result_notice(after)
    assert derived(now) == derived(after)
    # A rebuild gives the same case file as the live projection.
    ProjectionRunner(c.engine).rebuild()
    rebuilt = Projections(c.engine, c.metadata).case_file(str(iid), now=T("2027-01-07 12:00"))
    assert rebuilt["deadlines"] == after["deadlines"]
    assert rebuilt["flags"] == after["flags"]
    assert verify_database(c.engine, workers=1, merkle_check=check_merkle()).ok


def test_a_step_after_the_year_is_entered_is_judged_by_the_command_itself(db_url: str) -> None:
    c = world(db_url)
    app = c.app
    iid = concluded_in_late_december(app)
    app.enter_calendar_year(**YEAR_2027, at=T("2027-01-05 09:00"), actor="reg")
    app.notify_result(inspection_id=iid, recipient="m", summary_hash=H, secret=b"s", at=T("2027-01-06 10:00"),
                      actor="p1")
    assert list(list(app.case_records(iid))[-1][0].body["flags"]) == ["V_RESULT_NOT_NOTIFIED"]
    p = Projections(c.engine, c.metadata)
    p.refresh()
    doc = p.case_file(str(iid), now=T("2027-01-07 12:00"))
    assert derived(doc) == []  # the entry carries the flag itself: no second, derived one
    assert [f["flag"] for f in doc["flags"]].count("V_RESULT_NOT_NOTIFIED") == 1


def test_a_corrected_year_changes_later_computations_and_earlier_ones_stay_reproducible(db_url: str) -> None:
    c = world(db_url)
    app, p = c.app, Projections(c.engine, c.metadata)
    iid = concluded_in_late_december(app)
    app.notify_result(inspection_id=iid, recipient="m", summary_hash=H, secret=b"s", at=T("2027-01-06 10:00"),
                      actor="p1")
    app.enter_calendar_year(**YEAR_2027, at=T("2027-01-07 09:00"), actor="reg")
    p.refresh()
    v1 = p.case_file(str(iid), now=T("2027-01-07 12:00"))
    corrected = {**YEAR_2027, "holidays": [*YEAR_2027["holidays"], "2027-01-04", "2027-01-05"]}
    with pytest.raises(DomainError) as info:  # a new version needs a reason
        app.enter_calendar_year(**corrected, at=T("2027-01-08 09:00"), actor="reg")
    assert info.value.code == "E_REASON_REQUIRED"
    entered = app.enter_calendar_year(**corrected, reason="更正：1月4日、5日调休", at=T("2027-01-08 09:00"),
                                      actor="reg")
    assert entered.version == "calendar:2027@3"
    p.refresh()
    v2 = p.case_file(str(iid), now=T("2027-01-08 12:00"))
    assert result_notice(v1)["due"] == "2027-01-04"
    assert result_notice(v2)["due"] == "2027-01-06"  # notified on its due day: in time after the correction
    assert result_notice(v2)["calendar_version"] == "chinesecalendar-1.11.0+calendar:2027@3"
    assert derived(v2) == []
    # As the ledger stood between the two versions, the first one's answer is reproduced.
    with c.engine.connect() as conn:
        v1_entry = read_case(conn, REGISTER_ID)[1]
    between = p.case_file_as_of(app, str(iid), at=from_micros(v1_entry.recorded_at))
    assert result_notice(between)["due"] == "2027-01-04"
    assert result_notice(between)["calendar_version"] == "chinesecalendar-1.11.0+calendar:2027@2"
    assert derived(between) == ["V_RESULT_NOT_NOTIFIED"]
    history = app.calendar_register().history(2027)
    assert [n for n, _ in history] == [2, 3]
    assert history[1][1].supersedes == 2
    ProjectionRunner(c.engine).rebuild()
    assert Projections(c.engine, c.metadata).case_file(str(iid))["deadlines"] == v2["deadlines"]


BAD_YEARS = [
    ("date_outside_year", {"holidays": ["2028-01-01"]}, "E_CALENDAR_DATE_OUTSIDE_YEAR"),
    ("both_holiday_and_workday", {"workdays": ["2027-02-06"], "holidays": ["2027-02-06"]},
     "E_CALENDAR_DATE_CONFLICT"),
    ("workday_on_a_weekday", {"workdays": ["2027-02-08"], "holidays": []}, "E_CALENDAR_WORKDAY_NOT_WEEKEND"),
    ("not_a_day", {"holidays": ["2027-02-30"]}, "E_CALENDAR_INVALID"),
    ("no_document_number", {"document": {"issuer": "x", "number": " ", "issued_on": "2026-11-30"}},
     "E_CALENDAR_INVALID"),
    ("bad_text_hash", {"text_sha256": "abc"}, "E_DIGEST_INVALID"),
    ("year_out_of_range", {"year": 99999, "holidays": [], "workdays": []}, "E_CALENDAR_INVALID"),
    ("package_year_without_correction", {"year": 2026, "holidays": [], "workdays": []},
     "E_CALENDAR_PACKAGE_COVERS"),
    ("correction_without_reason", {"year": 2026, "holidays": [], "workdays": [], "corrects_package": True},
     "E_REASON_REQUIRED"),
]


@pytest.mark.parametrize(("change", "code"), [(c, code) for _, c, code in BAD_YEARS], ids=[i for i, _, _ in BAD_YEARS])
def test_a_bad_calendar_year_is_refused_with_its_code_and_writes_nothing(
        db_url: str, change: dict[str, Any], code: str) -> None:
    c = world(db_url)
    before = c.app.recorder.max_notification_id()
    with pytest.raises(DomainError) as info:
        c.app.enter_calendar_year(**{**YEAR_2027, **change}, at=T("2026-12-01 09:00"), actor="reg")
    assert info.value.code == code
    assert c.app.recorder.max_notification_id() == before
    assert c.app.calendar_register() is None


def test_a_december_penalty_decision_is_recorded_with_its_service_and_publication_deadlines_pending(
        db_url: str) -> None:
    c = world(db_url)
    app = c.app
    app.publish_reference_list(kind="annual_plan", owner=AGENCY, scope="2026", entries=[{"item_code": "I1"}],
                               at=T("2026-01-02 09:00"), actor="reg")
    iid = to_decision(app, "T-PEN", "2026-12-")  # decided on 2026-12-26 (a Saturday), served the same day
    decided = next(e for e, _, _ in app.case_records(iid) if e.type == "inspection.decided.v1")
    publication = decided.body["publication_due"]
    assert (publication["due"], publication["missing_year"]) == (None, 2027)  # 20 working days: into 2027
    p = Projections(c.engine, c.metadata)
    p.refresh()
    pending = {d["kind"]: d["status"] for d in p.case_file(str(iid), now=T("2026-12-28 09:00"))["deadlines"]}
    assert pending["publication"] == "pending"
    app.enter_calendar_year(**YEAR_2027, at=T("2027-01-05 09:00"), actor="reg")
    p.refresh()
    after = {d["kind"]: d for d in p.case_file(str(iid), now=T("2027-01-05 12:00"))["deadlines"]}
    assert after["publication"]["due"] is not None
    assert after["publication"]["calendar_version"].endswith("+calendar:2027@2")
