"""Evidence after the decision (issue 18 item 4; R29, R60): no step makes it support the decision."""

from __future__ import annotations

from typing import Any

from enforcement_world import HEAD, T, World, assert_refused

from domain.inspection import Inspection

H2 = "c" * 64


def decided_with_late_evidence(world: World) -> Inspection:
    insp = world.given("decided")
    world.log(insp, "EV-LATE", at=T("2025-09-27 10:00"), source="on_site")
    insp.collect_events()
    return insp


def change(world: World, insp: Inspection, **kw: Any) -> None:
    args = {"kind": "changed", "reason": "复议变更", "basis_ref": "复议决定书-1", "new_draft_hash": H2, **kw}
    insp.alter_decision(at=T("2025-09-30 10:00"), actor=HEAD, calendar=world.cal, **args)


def test_a_changed_decision_citing_evidence_logged_after_the_decision_is_refused(world: World) -> None:
    insp = decided_with_late_evidence(world)
    assert_refused("E_EVIDENCE_AFTER_DECISION", lambda: change(world, insp, evidence_refs=["EV-LATE"]), insp)
    assert_refused("E_EVIDENCE_AFTER_DECISION", lambda: change(world, insp, evidence_refs=["EV-1", "EV-LATE"]), insp)


def test_a_changed_decision_may_name_evidence_logged_before_the_decision(world: World) -> None:
    insp = decided_with_late_evidence(world)
    change(world, insp, evidence_refs=["EV-1"])
    (altered,) = insp.collect_events()
    assert type(altered).TYPE == "inspection.decision_altered.v2"
    assert altered.evidence_refs == ("EV-1",)
    assert insp.decision is not None
    assert insp.decision["evidence_refs"] == ("EV-1",)


def test_a_change_without_an_evidence_set_keeps_the_v1_shape(world: World) -> None:
    insp = decided_with_late_evidence(world)
    change(world, insp)
    (altered,) = insp.collect_events()
    assert type(altered).TYPE == "inspection.decision_altered.v1"


def test_malformed_evidence_sets_on_an_alteration_are_refused(world: World) -> None:
    insp = decided_with_late_evidence(world)
    assert_refused("E_UNKNOWN_EVIDENCE", lambda: change(world, insp, evidence_refs=["EV-NOPE"]), insp)
    assert_refused("E_OUT_OF_ORDER", lambda: change(world, insp, evidence_refs=["EV-1", "EV-1"]), insp)
    assert_refused("E_OUT_OF_ORDER", lambda: change(world, insp, kind="revoked", new_draft_hash=None,
                                                    evidence_refs=["EV-1"]), insp)
