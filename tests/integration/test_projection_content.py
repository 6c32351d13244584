"""Projection content, given–when–then, on a SQLite file and on PostgreSQL.

Given a ledger with a history written through the commands, when the projections catch up, then
the read API shows the facts, hides what must never be public, and refuses bad input clearly.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest

from domain.base import content_hash
from projections import notices
from projections.errors import BadAsOf, BadCursor, BadQuery, UnknownCaseFile
from projections.queries import Projections
from tests.unit.projections.scenario import (
    AGENCY,
    DRAFT,
    ENT,
    REDACTIONS,
    SECRET_ID,
    SERVED,
    T,
    dispatch,
    publish,
    published_content,
    to_decision,
    world,
)

NOW = T("2025-10-20 09:00")


def entry_of(cf: dict[str, Any], wire: str) -> dict[str, Any]:
    return next(e for e in cf["timeline"] if e["type"] == wire)


def given(db_url: str) -> tuple[Any, Projections]:
    c = world(db_url)
    return c, Projections(c.engine, c.metadata)


def everything_public(p: Projections, case_id: str, now: Any = NOW, *, facts: bool = True) -> str:
    """Every public surface about a notice (and the inspection's public facts), as one string."""
    items, _ = p.public_notices(now=now, limit=100)
    out: list[Any] = [items, p.notice(case_id, now=now), p.export_notices_json(now=now), p.export_notices_csv(now=now)]
    if facts:
        out.append(p.inspection_public_facts(case_id))
    return json.dumps(out, ensure_ascii=False)


# ----------------------------------------------------------------------------- case file
def test_case_file_shows_parties_officers_timeline_evidence_deadlines_and_flags(db_url: str) -> None:
    c, p = given(db_url)
    iid = to_decision(c.app)
    publish(c.app, iid, T("2025-09-29 10:00"))
    p.refresh()

    cf = p.case_file(str(iid), now=NOW)

    assert cf["party"]["uscc"] == ENT
    assert cf["party"]["name"] == "某食品公司"
    assert [(o["cert_no"], o["name"], o["shown_n"]) for o in cf["officers"]] == [("C1", "officer p1", 4),
                                                                                  ("C2", "officer p2", 5)]
    assert cf["officers"][0]["certificate"]["valid_until"] == "2027-12-31"
    assert [e["n"] for e in cf["timeline"]] == list(range(1, cf["last_n"] + 1))
    assert cf["timeline"][-1]["type"] == "inspection.published.v1"
    assert all(e["recorded_at"] and e["leaf_index"] is not None and len(e["entry_hash"]) == 64 for e in cf["timeline"])
    ev = cf["evidence"][0]
    assert (ev["evidence_id"], ev["sha256"], ev["capture"], ev["admissible"], ev["post_decision"]) == (
        "EV-1", "a" * 64, {"device_id": "cam-7"}, True, False)
    assert cf["decision_evidence_set"]["relied_on"][0]["evidence_id"] == "EV-1"
    assert cf["reviews"][0]["result"] == "pass"
    assert cf["decision"]["fine_fen"] == 200_000
    assert cf["services"][0]["method"] == "direct"
    assert cf["publication"]["status"] == "published"
    deadlines = {d["kind"]: d for d in cf["deadlines"]}
    assert {"result_notice", "decision", "statement", "service", "publication"} <= set(deadlines)
    assert all(d["status"] == "met" and d["calendar_version"] for d in deadlines.values())
    assert cf["publication"]["public_until"] == cf["publication_period"]["public_until"]
    assert cf["related"][0]["type"] == "enterprise_year.inspection_counted.v1"
    assert cf["flag_codes"] == sorted({f["flag"] for f in cf["flags"]})


def test_evidence_logged_after_the_decision_is_flagged_and_not_in_the_decision_set(db_url: str) -> None:
    c, p = given(db_url)
    iid = to_decision(c.app)
    c.app.log_evidence(inspection_id=iid, evidence_id="EV-LATE", evidence_type="书证", sha256="c" * 64, size=2,
                       media_type="application/pdf", source="document_review", capture={}, cert_nos=["C1", "C2"],
                       at=T("2025-09-27 10:00"), actor="p1")
    p.refresh()

    cf = p.case_file(str(iid), now=NOW)

    late = next(e for e in cf["evidence"] if e["evidence_id"] == "EV-LATE")
    assert late["post_decision"] is True
    assert "EV-LATE" not in cf["decision_evidence_set"]["on_file"]


def test_a_late_publication_carries_its_v_flag_and_an_open_deadline_turns_overdue(db_url: str) -> None:
    c, p = given(db_url)
    iid = to_decision(c.app)
    p.refresh()
    before = p.supervision_deadlines(T("2025-10-14 09:00"))
    assert [(d["kind"], d["status"]) for d in before["overdue"]] == [("publication", "overdue")]
    assert p.supervision_deadlines(T("2025-10-10 09:00"), horizon_days=5)["upcoming"][0]["kind"] == "publication"

    publish(c.app, iid, T("2025-10-20 10:00"))
    p.refresh()

    cf = p.case_file(str(iid), now=NOW)
    assert "V_PUBLICATION_OVERDUE" in cf["flag_codes"]
    assert next(d for d in cf["deadlines"] if d["kind"] == "publication")["status"] == "met_late"
    assert p.supervision_deadlines(T("2025-10-21 09:00"))["overdue"] == []
    audit, _ = p.audit_trail(case=str(iid), type="inspection.published.v1")
    assert audit[0]["flags"] == ["V_PUBLICATION_OVERDUE"]


def test_replay_as_of_an_entry_or_an_instant_shows_the_case_as_it_was(db_url: str) -> None:
    c, p = given(db_url)
    iid = to_decision(c.app)
    p.refresh()
    full = p.case_file(str(iid), now=NOW)

    at5 = p.case_file_as_of(c.app, str(iid), n=5, now=NOW)
    assert at5["last_n"] == 5
    assert at5["stage"] == "on_site"
    assert at5["decision"] is None
    assert [o["shown_n"] for o in at5["officers"]] == [4, 5]
    recorded_9 = full["timeline"][8]["recorded_at"]
    from ledger.codec import from_micros

    at_t = p.case_file_as_of(c.app, str(iid), at=from_micros(recorded_9), now=NOW)
    assert at_t["last_n"] == 9
    assert at_t["as_of"]["basis"] == "recorded_at"
    whole = p.case_file_as_of(c.app, str(iid), now=NOW)
    assert {k: v for k, v in whole.items() if k != "as_of"} == full


# ----------------------------------------------------------------------------- public notices
def test_a_notice_shows_only_allow_listed_fields_and_never_personal_ids(db_url: str) -> None:
    c, p = given(db_url)
    iid = to_decision(c.app)
    publish(c.app, iid, T("2025-09-29 10:00"))
    p.refresh()

    items, nxt = p.public_notices(now=NOW)

    assert nxt is None
    assert len(items) == 1
    n = items[0]
    assert list(n["fields"]) == [f for f in notices.PUBLIC_CF_FIELDS if f in n["fields"]]
    assert n["fields"]["cf_wsh"] == "榕市监罚〔2025〕1号"
    assert n["fields"]["cf_nr_fk"] == "0.2"
    cf = p.case_file(str(iid), now=NOW)
    assert n["status"] == "published"
    assert n["public_until"] == cf["publication_period"]["public_until"]
    assert n["fields"]["cf_gsjzq"] == n["public_until"]  # R53: the decided period, not the document's
    assert n["event_id"] == entry_of(cf, "inspection.published.v1")["entry_hash"]
    assert n["content_hash"] == content_hash(published_content())
    public = everything_public(p, str(iid))
    for secret in (SECRET_ID, "身份证", "internal_note", "承办人意见", "cf_fr_zjhm", "cf_fr_zjlx"):
        assert secret not in public


def test_an_identity_number_in_free_text_is_scrubbed_from_every_public_surface(db_url: str) -> None:
    c, p = given(db_url)
    valid_id = next(f"11010519491231002{ch}" for ch in "0123456789X"
                    if notices.is_resident_id(f"11010519491231002{ch}"))
    served = {**SERVED, "cf_sy": f"当事人（身份证号{valid_id}）销售过期食品。"}
    iid = _served_with(c.app, "T-2", served)
    publish(c.app, iid, T("2025-09-29 10:00"), served=served)
    p.refresh()

    public = everything_public(p, str(iid))

    assert valid_id not in public
    assert notices.SCRUBBED in public


def _served_with(app: Any, task_no: str, served: dict[str, str]) -> Any:
    iid = to_decision(app, task_no)
    # to_decision served SERVED; a changed decision is served again with ``served``.
    app.alter_decision(inspection_id=iid, kind="changed", reason="更正文书", basis_ref="更正-1",
                       new_draft_hash="d" * 64, at=T("2025-09-27 09:00"), actor="head")
    app.serve_decision(inspection_id=iid, method="direct", documents=["行政处罚决定书"],
                       document_hash=content_hash(served), publication_notice=True, at=T("2025-09-27 10:00"),
                       actor="p1")
    return iid


def test_a_withdrawn_notice_shows_its_reason_in_place_of_the_content(db_url: str) -> None:
    c, p = given(db_url)
    iid = to_decision(c.app)
    publish(c.app, iid, T("2025-09-29 10:00"))
    c.app.alter_decision(inspection_id=iid, kind="revoked", reason="复议撤销", basis_ref="复议-1",
                         at=T("2025-09-30 10:00"), actor="head")
    c.app.withdraw_publication(inspection_id=iid, reason_text="该处罚决定已被复议机关撤销", at=T("2025-10-09 10:00"),
                               actor="pub")
    p.refresh()

    n = p.notice(str(iid), now=NOW)

    assert n["status"] == "withdrawn"
    assert n["withdrawal_reason"] == "该处罚决定已被复议机关撤销"
    assert set(n["fields"]) == {"cf_wsh", "cf_cfjgdm", "cf_cfjg"}
    cf = p.case_file(str(iid), now=NOW)
    assert n["cause_event_id"] == entry_of(cf, "inspection.decision_altered.v1")["entry_hash"]
    assert [v["event"] for v in n["versions"]] == ["published", "withdrawn"]
    public = everything_public(p, str(iid), facts=False)  # the inspection page names the enterprise anyway
    for content in ("销售过期食品", "某食品公司", "经查", "张三"):
        assert content not in public
    row = next(csv.DictReader(io.StringIO(p.export_notices_csv(now=NOW))))
    assert row["status"] == "withdrawn"
    assert row["cf_sy"] == ""
    assert row["withdrawal_reason"]
    assert p.public_notices(q="过期", now=NOW)[0] == []
    assert p.public_notices(q="复议", now=NOW)[0][0]["case_id"] == str(iid)
    assert next(d for d in cf["deadlines"] if d["kind"] == "withdrawal")["status"] == "met"


def test_a_correction_supersedes_the_published_content(db_url: str) -> None:
    c, p = given(db_url)
    iid = to_decision(c.app)
    publish(c.app, iid, T("2025-09-29 10:00"))
    more = {**REDACTIONS, "cf_frdb": "个人信息"}
    c.app.correct_publication(inspection_id=iid, reason="法定代表人姓名不应公开", served_document=SERVED,
                              redaction_map=more, content_hash=content_hash(published_content(SERVED, more)),
                              redaction_reviewer="r1", at=T("2025-09-30 10:00"), actor="pub")
    p.refresh()

    n = p.notice(str(iid), now=NOW)

    assert n["status"] == "corrected"
    assert "cf_frdb" not in n["fields"]
    assert n["content_hash"] == content_hash(published_content(SERVED, more))
    assert [v["event"] for v in n["versions"]] == ["published", "corrected"]
    assert "张三" not in everything_public(p, str(iid))


def test_a_notice_disappears_after_public_until(db_url: str) -> None:
    c, p = given(db_url)
    iid = to_decision(c.app)
    publish(c.app, iid, T("2025-09-29 10:00"))
    p.refresh()

    until = p.notice(str(iid), now=NOW)["public_until"]
    last_day, day_after = T(until + " 23:00"), T(until + " 00:30") + timedelta(days=1)
    assert len(p.public_notices(now=last_day)[0]) == 1
    assert p.public_notices(now=day_after)[0] == []
    assert p.export_notices_json(now=day_after) == []
    expired = p.notice(str(iid), now=day_after)
    assert expired["status"] == "expired"
    assert expired["fields"] == {}


def test_the_exports_use_the_xinyong_china_column_order(db_url: str) -> None:
    c, p = given(db_url)
    for i in range(3):
        iid = to_decision(c.app, f"T-{i}")
        publish(c.app, iid, T("2025-09-29 10:00"))
    p.refresh()

    rows = list(csv.reader(io.StringIO(p.export_notices_csv(now=NOW))))
    js = p.export_notices_json(now=NOW)

    assert rows[0] == list(notices.EXPORT_COLUMNS)
    assert rows[0][:3] == ["cf_xdr_mc", "cf_xdr_lb", "cf_xdr_shxym"]
    assert rows[0][25] == "bz"
    assert not set(rows[0]) & notices.NEVER_PUBLIC
    assert len(rows) == 4
    assert all(list(r) == list(notices.EXPORT_COLUMNS) for r in js)
    assert js[0]["published_at"] == "2025-09-29"


def test_public_notices_page_with_a_cursor_and_filter_by_agency(db_url: str) -> None:
    c, p = given(db_url)
    for i in range(5):
        iid = to_decision(c.app, f"T-{i}")
        publish(c.app, iid, T(f"2025-09-29 1{i}:00"))
    p.refresh()

    seen, cursor = [], None
    while True:
        items, cursor = p.public_notices(limit=2, cursor=cursor, now=NOW, agency=AGENCY)
        seen += [i["case_id"] for i in items]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    assert p.public_notices(agency="91350100M000100Y43", now=NOW)[0] == []


# ----------------------------------------------------------------------------- audit trail
def test_the_audit_trail_has_actor_key_signature_positions_and_time_gap(db_url: str) -> None:
    c, p = given(db_url)
    iid = to_decision(c.app)
    p.refresh()

    everything, _ = p.audit_trail(limit=1000)
    mine, _ = p.audit_trail(case=str(iid), limit=1000)
    by_actor, _ = p.audit_trail(actor="head", limit=1000)
    decided, _ = p.audit_trail(type="inspection.decided.v1")
    insp, _ = p.audit_trail(type="inspection.*", agency=AGENCY, limit=1000)

    assert [e["position"] for e in everything] == sorted(e["position"] for e in everything)
    assert all(e["signature"] == "valid" for e in everything)
    last_n = p.case_file(str(iid), now=NOW)["last_n"]
    assert [e["n"] for e in mine] == list(range(1, last_n + 1))
    e = decided[0]
    assert (e["actor"], e["acting_as"], e["key_role"]) == ("head", "agency_head", "officer")
    assert e["gap_us"] == e["recorded_at"] - e["occurred_at"]
    assert len(e["key_id"]) == 64
    assert e["leaf_index"] is not None
    assert {x["actor"] for x in by_actor} == {"head"}
    assert len(insp) == last_n
    first = everything[0]
    t = first["recorded_at"]
    from ledger.codec import from_micros

    window, _ = p.audit_trail(since=from_micros(t), until=from_micros(t + 1), limit=1000)
    assert window
    assert all(x["recorded_at"] == t for x in window)


# ----------------------------------------------------------------------------- supervision and statistics
def test_supervision_counts_inspections_against_the_cap_and_lists_role_conflicts(db_url: str) -> None:
    c, p = given(db_url)
    iid = to_decision(c.app, "T-1")
    dispatch(c.app, "T-2", T("2025-10-01 09:00"))
    # The decider is the case's own investigator: R37 keeps these apart.
    iid3 = dispatch(c.app, "T-3", T("2025-10-02 09:00"))
    c.app.approve_inspection(inspection_id=iid3, agency_code=AGENCY, approver="head", at=T("2025-10-02 09:30"))
    p.refresh()

    counts = p.inspection_counts(2025)
    assert [(r["uscc"], r["count"], r["cap"], r["remaining"], r["over_cap"]) for r in counts] == [(ENT, 3, 50,
                                                                                                   47, False)]
    assert p.role_conflicts() == []
    activity = {a["officer"]: a["activities"] for a in p.officer_activity(year=2025)}
    assert activity["C1"]["inspections_assigned"] == 3
    assert activity["head"]["decisions_made"] == 1
    # Every act is counted for the officer who did it (R20: counts of acts, never targets).
    per_inspector = {"arrivals": 1, "certificates_shown": 1,
                     "entries_signed": 1, "evidence_logged": 1, "inspections_assigned": 3,
                     "inspections_concluded": 1, "records_signed": 1}
    assert activity == {"C1": per_inspector, "C2": per_inspector, "dispatcher": {"entries_signed": 3},
                        "head": {"decisions_made": 1, "entries_signed": 4}, "p1": {"entries_signed": 10},
                        "r1": {"entries_signed": 1, "legal_reviews": 1}}
    assert not any("target" in k or "fine" in k for a in activity.values() for k in a)
    assert p.feedback_by_code(year=2025) == []
    assert iid


def test_a_decider_who_investigated_the_case_is_a_role_conflict(db_url: str) -> None:
    c, p = given(db_url)
    app = c.app
    iid = to_decision(app, "T-1")
    app.alter_decision(inspection_id=iid, kind="revoked", reason="r", basis_ref="b", at=T("2025-09-27 09:00"),
                       actor="head")
    p.refresh()
    assert p.role_conflicts() == []
    # A second case decided by its investigator p1 (the domain checks the role name, not the person).
    iid2 = dispatch(app, "T-2", T("2025-09-01 09:00"))
    app.approve_inspection(inspection_id=iid2, agency_code=AGENCY, approver="head", at=T("2025-09-01 09:30"))
    app.record_arrival(inspection_id=iid2, scan={"code_id": "Q", "uscc": ENT, "scanned_at": 1}, location="x",
                       at=T("2025-09-02 10:00"), actor="p1")
    for cert in ("C1", "C2"):
        app.show_certificate(inspection_id=iid2, cert_no=cert, at=T("2025-09-02 10:05"), actor=cert)
    app.sign_inspection_record(inspection_id=iid2, record_hash="a" * 64, cert_nos=["C1", "C2"], party_signature="s",
                               refusal_note=None, at=T("2025-09-02 11:00"), actor="p1")
    app.conclude_inspection(inspection_id=iid2, result="case_filed", cert_nos=["C1", "C2"],
                            at=T("2025-09-02 11:30"), actor="p1")
    app.file_case(inspection_id=iid2, case_no="C-2", investigators=["p1"], case_class="ordinary",
                  requires_legal_review=False, at=T("2025-09-03 09:00"), actor="p1")
    app.record_education(inspection_id=iid2, summary="教育", at=T("2025-09-04 09:00"), actor="p1")
    app.decide(inspection_id=iid2, decision_no="不罚2", outcome="no_penalty_minor", draft_hash=DRAFT, decider="p1",
               decider_role="agency_head", evidence_refs=[], at=T("2025-09-05 10:00"))
    p.refresh()

    conflicts = p.role_conflicts(agency=AGENCY)

    assert [(x["case_id"], x["rule"], x["person"]) for x in conflicts] == [(str(iid2), "R37.decider", "p1")]
    assert conflicts[0]["roles"] == ["decider", "investigator", "officer"]


def test_annual_statistics_give_year_over_year_change_and_a_reproducible_replay_hash(db_url: str) -> None:
    c, p = given(db_url)
    for i in range(2):
        dispatch(c.app, f"A-{i}", T(f"2024-06-0{i + 3} 09:00"))
    iid = to_decision(c.app, "T-1")
    publish(c.app, iid, T("2025-09-29 10:00"))
    p.refresh()

    s = p.annual_statistics(2025)

    assert s["counts"]["inspections"]["all"] == 1
    assert s["previous"]["inspections"]["all"] == 2
    assert s["counts"]["inspections"]["type"] == {"routine": 1}
    assert s["counts"]["decisions"]["outcome"] == {"penalty": 1}
    assert s["counts"]["fines_fen"]["all"] == 200_000
    assert s["change"]["inspections"]["text"] == "inspections \u221250 %"
    assert s["summary"].startswith("inspections \u221250 %, cases new, penalties new")
    assert p.annual_statistics(2025, agency=AGENCY)["counts"] == s["counts"]
    assert p.verify_annual_statistics(2025)["ok"]
    again = p.annual_statistics(2025)
    assert again["replay_hash"] == s["replay_hash"]
    assert len(s["replay_hash"]) == 64
    assert s["statistics"]["inspections"] == 1
    assert s["statistics"]["inspections.type.routine"] == 1

    mine = p.annual_statistics(2025, agency=AGENCY)
    c.app.publish_annual_statistics(agency_code=AGENCY, year=2025, statistics=mine["statistics"],
                                    replay_hash=mine["replay_hash"], at=T("2026-01-20 09:00"), actor="head")
    p.refresh()

    published = p.annual_statistics(2025, agency=AGENCY)["published"]
    assert published["replay_hash"] == mine["replay_hash"]
    assert published["statistics_match"]
    assert p.annual_statistics(2024, agency=AGENCY)["published"] is None


# ----------------------------------------------------------------------------- errors
def test_bad_input_to_queries_raises_clear_typed_errors(db_url: str) -> None:
    c, p = given(db_url)
    iid = to_decision(c.app)
    publish(c.app, iid, T("2025-09-29 10:00"))
    to_decision(c.app, "T-2")
    p.refresh()
    _, audit_cursor = p.audit_trail(limit=1)
    assert audit_cursor is not None

    with pytest.raises(BadCursor):
        p.audit_trail(cursor="not-a-cursor")
    with pytest.raises(BadCursor):
        p.audit_trail(cursor=audit_cursor, actor="head")  # another query's cursor
    with pytest.raises(BadCursor):
        p.public_notices(cursor=audit_cursor, now=NOW)
    with pytest.raises(UnknownCaseFile) as unknown:
        p.case_file("00000000-0000-0000-0000-000000000000")
    assert unknown.value.code == "E_UNKNOWN_CASE"
    with pytest.raises(UnknownCaseFile):
        p.notice(str(dispatch(c.app, "T-3", T("2025-10-01 09:00"))))
    with pytest.raises(UnknownCaseFile):
        p.case_file_as_of(c.app, "00000000-0000-0000-0000-000000000000", n=1)
    with pytest.raises(BadQuery):
        p.case_file("not-a-uuid")
    with pytest.raises(BadAsOf):
        p.case_file_as_of(c.app, str(iid), n=0)
    with pytest.raises(BadAsOf):
        p.case_file_as_of(c.app, str(iid), n=99)
    with pytest.raises(BadAsOf):
        p.case_file_as_of(c.app, str(iid), at=T("2020-01-01 00:00"))
    with pytest.raises(BadAsOf):
        p.case_file_as_of(c.app, str(iid), at=T("2025-01-01 00:00").replace(tzinfo=None))
    with pytest.raises(BadQuery):
        p.public_notices(limit=0)
    with pytest.raises(BadQuery):
        p.annual_statistics("2025")  # type: ignore[arg-type]
    with pytest.raises(BadQuery):
        p.audit_trail(since=T("2025-01-01 00:00").replace(tzinfo=None))


def test_the_audit_trail_checks_signatures_on_the_stored_bytes_when_read(db_url: str) -> None:
    c, p = given(db_url)
    iid = to_decision(c.app)
    p.refresh()
    rows, _ = p.audit_trail(case=str(iid), limit=1000)
    a, b = rows[2]["position"], rows[3]["position"]
    from sqlalchemy import select, update

    from projections.source import EVENTS

    with c.engine.begin() as conn:  # an insider swaps two stored records
        sa = conn.execute(select(EVENTS.c.state).where(EVENTS.c.id == a)).scalar()
        conn.execute(update(EVENTS).where(EVENTS.c.id == b).values(state=sa))

    after, _ = p.audit_trail(case=str(iid), limit=1000)
    unchecked, _ = p.audit_trail(case=str(iid), limit=1000, verify_signatures=False)

    assert [r["signature"] for r in after if r["position"] == b] == ["altered"]
    assert all(r["signature"] == "valid" for r in after if r["position"] != b)
    assert {r["signature"] for r in unchecked} == {"unchecked"}
    assert {r["key_status"] for r in unchecked} == {"valid"}
