"""The visibility policy table (projections/visibility.py): the whole role x entry type / flag /
case-field matrix, and the policy's agreement with docs/api.md §Visibility."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from domain.registry import EVENT_TYPES
from projections.visibility import (
    POLICY,
    Audience,
    case_file_for,
    entry_visible,
    flag_visible,
    withheld_fields,
    withheld_stub,
    withheld_types,
)

ROOT = Path(__file__).resolve().parents[3]
NOT_STAFF = [Audience.ENTERPRISE, Audience.PUBLIC]


@pytest.mark.parametrize("audience", list(Audience))
@pytest.mark.parametrize("entry_type", sorted(EVENT_TYPES))
def test_every_registered_entry_type_is_visible_unless_the_table_withholds_it(audience: Audience,
                                                                             entry_type: str) -> None:
    expected = audience is Audience.STAFF or entry_type not in withheld_types(audience)
    assert entry_visible(audience, entry_type, {}) is expected
    assert entry_visible(audience, entry_type, {"flags": ["V_SERVICE_OVERDUE"]}) is expected


def test_the_withheld_entry_types_are_registered_types_and_staff_see_them() -> None:
    for audience in NOT_STAFF:
        assert withheld_types(audience) == {"inspection.legal_review_given.v1",
                                            "inspection.collective_discussion_held.v1"}
        assert withheld_types(audience) <= set(EVENT_TYPES)
    assert withheld_types(Audience.STAFF) == frozenset()


@pytest.mark.parametrize("audience", list(Audience))
@pytest.mark.parametrize("flag", ["W_FREQUENCY_AT_CAP", "W_NO_PENALTY_LIST", "W_SANSHU", "V_SERVICE_OVERDUE",
                                  "V_DECISION_OVERDUE"])
def test_internal_warnings_are_staff_only_and_violations_are_shown_to_every_reader(audience: Audience,
                                                                                 flag: str) -> None:
    visible = audience is Audience.STAFF or not flag.startswith("W_")
    assert flag_visible(audience, flag) is visible
    assert entry_visible(audience, "inspection.dispatched.v1", {"flags": [flag]}) is visible


def test_every_row_of_the_policy_gives_a_legal_reason() -> None:
    for row in POLICY:
        assert row.kind in {"entry_type", "flag_prefix", "case_field"}
        assert Audience.STAFF not in row.audiences
        assert re.search(r"\b(APL|OGI) art\. \d+", row.reason), row


def test_docs_api_lists_every_withheld_item_with_its_reason() -> None:
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    section = text[text.index("## Visibility"):]
    section = section[:section.index("\n## ", 4)]
    for row in POLICY:
        assert f"`{row.item}" in section, row.item
    for law in ("OGI art. 16", "APL art. 58", "APL art. 57"):
        assert law in section


def _case_file() -> dict:
    return {
        "case_id": "c", "reviews": [{"n": 5, "reviewer": "liu"}], "flag_codes": ["V_X", "W_Y"],
        "flags": [{"n": 1, "type": "inspection.dispatched.v1", "flag": "W_Y", "stream": None},
                  {"n": 4, "type": "inspection.served.v1", "flag": "V_X", "stream": None}],
        "timeline": [
            {"n": 1, "position": 10, "leaf_index": 9, "type": "inspection.dispatched.v1", "actor": "lin",
             "occurred_at": 1, "recorded_at": 2, "entry_hash": "aa", "flags": ["W_Y"]},
            {"n": 5, "position": 14, "leaf_index": 13, "type": "inspection.legal_review_given.v1", "actor": "liu",
             "occurred_at": 3, "recorded_at": 4, "entry_hash": "bb", "flags": []},
        ],
        "evidence": [{"evidence_id": "e", "flags": ["W_Z", "V_Q"]}],
        "related": [{"case": "ey", "n": 1, "flags": ["W_FREQUENCY_AT_CAP"]}],
    }


def test_staff_get_the_case_file_unchanged() -> None:
    cf = _case_file()
    assert case_file_for(Audience.STAFF, cf) == cf


@pytest.mark.parametrize("audience", NOT_STAFF)
def test_the_case_file_is_redacted_field_by_field_for_readers_outside_the_agency(audience: Audience) -> None:
    cf = _case_file()
    before = copy.deepcopy(cf)
    out = case_file_for(audience, cf)
    assert cf == before  # the argument is not changed
    assert set(out) == set(cf) - withheld_fields(audience)
    assert "reviews" not in out
    assert out["flag_codes"] == ["V_X"]
    assert [f["flag"] for f in out["flags"]] == ["V_X"]
    assert out["timeline"][0]["flags"] == []
    assert out["timeline"][0]["actor"] == "lin"  # a visible entry's row keeps its fields
    assert out["timeline"][1] == {"n": 5, "position": 14, "withheld": True, "sha256": "bb", "leaf_index": 13,
                                  "recorded_at": 4}
    assert out["evidence"][0]["flags"] == ["V_Q"]
    assert out["related"][0]["flags"] == []


def test_a_withheld_stub_is_hash_and_position_only() -> None:
    assert withheld_stub(3, "ab", "cd", 7, 9) == {"n": 3, "withheld": True, "sha256": "ab", "sig": "cd",
                                                  "leaf_index": 7, "recorded_at": 9}
