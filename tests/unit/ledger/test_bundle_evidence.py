"""The bundle's evidence report (issue 18 items 4 and 6; R29, R60, OLR art. 18): each item with its
capture hash, capture time, device and officers; post-decision evidence listed apart with its note."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from ledger.bundle_evidence import POST_DECISION_NOTE, evidence_items, text
from ledger.chain import Entry

CASE = "0b0a6a8e-8a43-5f4f-9d36-2f6e0f1c2a11"
US = 1_756_778_400_000_000  # 2025-09-02 10:00 Asia/Shanghai


def entry(n: int, type_: str, body: dict[str, Any], at: int = US) -> Entry:
    return Entry(case=CASE, n=n, type=type_, occurred_at=at + n, actor="p1", key=b"k" * 32, prev=b"p" * 32,
                 body=body)


def logged(n: int, ev: str, *, post: bool = False, capture: dict[str, Any] | None = None) -> Entry:
    return entry(n, "inspection.evidence_logged.v1", {
        "evidence_id": ev, "evidence_type": "视听资料", "sha256": f"{n:064x}", "source": "on_site",
        "capture": capture or {}, "officers": ["C1", "C2"], "post_decision": post})


def bundle(*entries: Entry) -> Any:
    return SimpleNamespace(entries=entries)


def test_the_report_separates_relied_on_post_decision_and_other_evidence() -> None:
    vb = bundle(
        logged(1, "EV-1", capture={"device_id": "执法记录仪-07", "captured_at": US - 600_000_000}),
        logged(2, "EV-2"),
        entry(3, "inspection.decided.v1", {"evidence_refs": ["EV-1"]}),
        logged(4, "EV-LATE", post=True),
    )
    groups = evidence_items(vb)
    assert [i["evidence_id"] for i in groups["relied_on"]] == ["EV-1"]
    assert [i["evidence_id"] for i in groups["on_file"]] == ["EV-2"]
    assert [i["evidence_id"] for i in groups["post_decision"]] == ["EV-LATE"]
    (late,) = groups["post_decision"]
    assert late["note"] == POST_DECISION_NOTE
    assert "R29" in late["note"]
    (ev1,) = groups["relied_on"]
    assert ev1["relied_on_by"] == [3]
    assert (ev1["sha256"], ev1["device"], ev1["officers"]) == (f"{1:064x}", "执法记录仪-07", ["C1", "C2"])
    assert ev1["captured_at"] == "2025-09-02T09:50:00+08:00"
    assert ev1["captured_at_recorded"] is True
    report = text(groups)
    assert "Evidence logged after the decision (cannot support it, R29)" in report
    assert "执法记录仪-07" in report
    assert "(logged)" in report  # EV-2 has no capture time: the logging instant is shown, and said to be


def test_a_changed_decision_naming_its_evidence_counts_as_relied_on() -> None:
    vb = bundle(logged(1, "EV-1"), logged(2, "EV-2"), entry(3, "inspection.decided.v1", {"evidence_refs": ["EV-1"]}),
                entry(4, "inspection.decision_altered.v2", {"evidence_refs": ["EV-2"]}),
                entry(5, "inspection.decision_altered.v1", {"evidence_refs": ["EV-9"]}))
    groups = evidence_items(vb)
    assert [(i["evidence_id"], i["relied_on_by"]) for i in groups["relied_on"]] == [("EV-1", [3]), ("EV-2", [4])]
    assert groups["post_decision"] == []


def test_a_case_without_evidence_reports_empty_groups() -> None:
    groups = evidence_items(bundle(entry(1, "inspection.dispatched.v2", {})))
    assert groups == {"relied_on": [], "post_decision": [], "on_file": []}
    assert "Evidence the decision relied on: 0" in text(groups)
