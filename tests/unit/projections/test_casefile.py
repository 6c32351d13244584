"""The case-file fold and the statistics text, given–when–then on hand-made items (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from projections import casefile
from projections.source import Item
from projections.statistics import change_text

CASE = "15cfa9f8-52f1-5bf5-bbb1-be1e667abb56"
DUE = {"start": "2025-09-26", "due": "2025-10-13", "days": 7, "unit": "working_days", "calendar_version": "cal-1"}
DAY = 86_400_000_000
T0 = 1_758_852_000_000_000  # 2025-09-26 10:00 +08:00


def item(n: int, wire: str, at: int = T0, **body: Any) -> Item:
    return Item(position=100 + n, leaf_index=99 + n, recorded_at=at + 1000, case=CASE, n=n,
                type=f"inspection.{wire}.v1", occurred_at=at, actor="a", key=b"k" * 32, prev=b"p" * 32,
                body=body, entry_hash=bytes([n]) * 32, sig=b"s" * 64)


def given(*items: Item) -> dict[str, Any]:
    doc = None
    for it in items:
        doc = casefile.apply_entry(doc, it)
    assert doc is not None
    return doc


DECIDED = {"decision_no": "罚1", "outcome": "penalty", "evidence_refs": ["E1"], "penalty_kinds": ["罚款"],
           "fine_fen": 1, "service_due": DUE, "publication_due": DUE, "decider": "head", "flags": []}


def evidence(n: int, eid: str, at: int = T0 - DAY) -> Item:
    return item(n, "evidence_logged", at, evidence_id=eid, evidence_type="书证", sha256="a" * 64, size=1,
                media_type="x", source="on_site", capture={}, officers=["C1"], lawful=True, admissible=True,
                post_decision=False, flags=[])


def test_a_deadline_is_open_then_overdue_then_met_late() -> None:
    doc = given(item(1, "decided", **DECIDED))
    pub = next(d for d in doc["deadlines"] if d["kind"] == "publication")
    assert casefile.deadline_status(pub, "2025-10-13") == "due_today"
    assert casefile.deadline_status(pub, "2025-10-14") == "overdue"

    doc = casefile.apply_entry(doc, item(2, "published", T0 + 30 * DAY, content_hash="h", redaction_map={},
                                         redaction_map_hash="r", redaction_reviewer="r1", regime="penalty_118",
                                         served_document_hash="s", decision_version=1,
                                         flags=["V_PUBLICATION_OVERDUE"]))

    pub = next(d for d in doc["deadlines"] if d["kind"] == "publication")
    assert casefile.deadline_status(pub, "2026-01-01") == "met_late"
    assert [f["flag"] for f in doc["flags"]] == ["V_PUBLICATION_OVERDUE"]


def test_revoking_a_decision_voids_its_open_service_and_publication_deadlines() -> None:
    doc = given(item(1, "decided", **DECIDED),
                item(2, "decision_altered", kind="revoked", reason="r", basis_ref="b", new_draft_hash=None,
                     withdrawal_due=None, republication_due=None))
    assert {d["kind"]: casefile.deadline_status(d, "2030-01-01") for d in doc["deadlines"]} == {
        "service": "void", "publication": "void"}
    assert doc["decision"]["status"] == "revoked"


def test_the_evidence_set_at_decision_time_excludes_later_evidence() -> None:
    doc = given(evidence(1, "E1"), item(2, "decided", **DECIDED), evidence(3, "E2", T0 + DAY))
    assert doc["decision_evidence_set"]["on_file"] == ["E1"]
    assert [e["evidence_id"] for e in doc["decision_evidence_set"]["relied_on"]] == ["E1"]
    assert [e["evidence_id"] for e in doc["evidence"]] == ["E1", "E2"]


def test_apply_entry_does_not_change_its_input() -> None:
    doc = given(evidence(1, "E1"))
    before = repr(doc)
    casefile.apply_entry(doc, evidence(2, "E2"))
    assert repr(doc) == before


def test_a_reviewer_who_is_also_an_officer_is_a_role_conflict() -> None:
    doc = given(item(1, "legal_review_given", reviewer="p1", draft_hash="d", result="pass", checklist={},
                     first_time=False, legal_qualification=True))
    doc["officers"] = [{"cert_no": "C1", "person_id": "p1"}]
    assert casefile.role_conflicts(doc) == [{"rule": "R37.reviewer", "person": "p1",
                                             "roles": ["legal_reviewer", "officer"], "n": 1}]


@pytest.mark.parametrize(("prev", "cur", "text"), [
    (1000, 558, "inspections \u221244.2 %"), (20, 39, "inspections +95 %"), (5, 5, "inspections ±0 %"),
    (0, 3, "inspections new"), (0, 0, "inspections n/a"),
])
def test_year_over_year_change_reads_like_the_seed_reports(prev: int, cur: int, text: str) -> None:
    assert change_text("inspections", prev, cur)[1] == text


def test_a_new_due_date_of_the_same_kind_supersedes_the_open_one() -> None:
    filed = item(1, "case_filed", case_no="C-1", investigators=["p1"], case_class="ordinary",
                 requires_legal_review=False, decision_due=DUE)
    later = {**DUE, "due": "2025-11-13"}
    doc = given(filed, item(2, "decision_extension_approved", approver="head", approver_role="agency_head",
                            basis="复杂", days=30, previous_due=DUE, decision_due=later))
    assert [(d["set_n"], casefile.deadline_status(d, "2025-11-01")) for d in doc["deadlines"]] == [
        (1, "void"), (2, "open")]


def test_deadlines_announced_by_other_entries_are_met_by_their_answer_or_only_recorded() -> None:
    notice = item(1, "penalty_notice_served", statement_due=DUE, hearing_request_due=None, mystery_due=DUE)
    doc = given(notice, item(2, "statement_heard", T0 + DAY))
    status = {d["kind"]: casefile.deadline_status(d, "2030-01-01") for d in doc["deadlines"]}
    assert status == {"statement": "met", "mystery": "recorded"}


def test_a_publication_period_and_its_end_are_kept_on_the_file() -> None:
    doc = given(item(1, "publication_period_set", regime_version="samr45", category="general", start_on="2025-09-26",
                     period_months=36, public_until="2028-09-26", repair_min_until="2026-09-26"),
                item(2, "publication_expired", public_until="2028-09-26"))
    assert doc["publication_period"]["public_until"] == "2028-09-26"
    assert doc["publication_history"][-1]["event"] == "expired"
