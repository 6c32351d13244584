"""The evidence of a verified bundle, as a court first asks about it (docs/spec/05-bundles.md §Evidence report).

Beside the standalone verifier (ledger/bundle.py) and, like it, only the standard library and the
ledger's pure modules. For each evidence item the case logged (``inspection.evidence_logged.*``):
its capture hash, when it was captured (the capture metadata's ``captured_at`` where recorded,
else the instant it was logged), the capture device where recorded, and the officers present
(OLR art. 18; R26, R60). Items are listed in three groups:

* **relied on** — named by the decision (``inspection.decided.*``) or by a change of it that names
  its own evidence set (``inspection.decision_altered.v2``);
* **logged after the decision** — ``post_decision: true``, listed apart with the note that such
  evidence cannot support the decision (R29; AEV art. 60(1));
* **on file, not relied on** — the rest.

Usage::

    python -m ledger.bundle_evidence BUNDLE --trust KEYFILE [--json]
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.bundle import VerifiedBundle
from ledger.bundle_cli import run_report

EVIDENCE_TYPE = "inspection.evidence_logged."
DECIDED_TYPE = "inspection.decided."
CHANGED_WITH_EVIDENCE = "inspection.decision_altered.v2"
POST_DECISION_NOTE = ("R29 (AEV art. 60(1)): evidence collected after the decision cannot support that decision;"
                      " listed apart from the evidence the decision relied on")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SHANGHAI = timedelta(hours=8)


def _iso(us: object) -> str | None:
    """µs since the epoch as ISO 8601 in Asia/Shanghai (UTC+8, no DST since 1991)."""
    if not isinstance(us, int) or isinstance(us, bool):
        return None
    return (_EPOCH + timedelta(microseconds=us) + _SHANGHAI).replace(tzinfo=None).isoformat() + "+08:00"


def evidence_items(vb: VerifiedBundle) -> dict[str, list[dict[str, Any]]]:
    """``{"relied_on", "post_decision", "on_file"}``: the case's evidence items, each with
    ``evidence_id, n, evidence_type, sha256, captured_at, logged_at, device, officers, source``
    (and ``relied_on_by``: the entries that cite it, or ``note`` for post-decision items)."""
    items: dict[str, dict[str, Any]] = {}
    cited: dict[str, list[int]] = {}
    for e in vb.entries:
        body = e.body if isinstance(e.body, dict) else {}
        if e.type.startswith(EVIDENCE_TYPE):
            raw = body.get("capture")
            capture: dict[str, Any] = raw if isinstance(raw, dict) else {}
            captured = capture.get("captured_at")
            items[str(body.get("evidence_id"))] = {
                "evidence_id": body.get("evidence_id"), "n": e.n, "evidence_type": body.get("evidence_type"),
                "sha256": body.get("sha256"), "source": body.get("source"),
                "captured_at": _iso(captured) if isinstance(captured, int) else (captured or _iso(e.occurred_at)),
                "captured_at_recorded": captured is not None, "logged_at": _iso(e.occurred_at),
                "device": capture.get("device_id") or capture.get("device"),
                "officers": list(body.get("officers") or ()), "post_decision": bool(body.get("post_decision")),
            }
        elif e.type.startswith(DECIDED_TYPE) or e.type == CHANGED_WITH_EVIDENCE:
            for ref in body.get("evidence_refs") or ():
                cited.setdefault(str(ref), []).append(e.n)
    out: dict[str, list[dict[str, Any]]] = {"relied_on": [], "post_decision": [], "on_file": []}
    for ev_id, item in items.items():
        if item["post_decision"]:
            out["post_decision"].append({**item, "note": POST_DECISION_NOTE})
        elif ev_id in cited:
            out["relied_on"].append({**item, "relied_on_by": cited[ev_id]})
        else:
            out["on_file"].append(item)
    return out


def text(groups: dict[str, list[dict[str, Any]]]) -> str:
    """The evidence section of the bundle report."""
    titles = {"relied_on": "Evidence the decision relied on",
              "post_decision": "Evidence logged after the decision (cannot support it, R29)",
              "on_file": "Other evidence on file (not relied on)"}
    lines = ["Evidence (capture hash, capture time, device, officers present; OLR art. 18)"]
    for key, title in titles.items():
        rows = groups.get(key) or []
        lines.append(f"  {title}: {len(rows)}")
        for r in rows:
            when = r["captured_at"] if r["captured_at_recorded"] else f"{r['captured_at']} (logged)"
            lines.append(f"    n {r['n']:<3} {r['evidence_id']} [{r['evidence_type']}] sha256 {r['sha256']}")
            lines.append(f"          captured {when}; device {r['device'] or '-'};"
                         f" officers {', '.join(r['officers']) or '-'}")
            if key == "post_decision":
                lines.append(f"          note: {r['note']}")
    return "\n".join(lines)


def _report(vb: VerifiedBundle, *, as_json: bool) -> tuple[str, int]:
    groups = evidence_items(vb)
    return (json.dumps(groups, ensure_ascii=False) if as_json else text(groups)), 0


def main(argv: Sequence[str] | None = None) -> int:
    """Verify the bundle, then print its evidence report; exit 1 if the bundle fails."""
    return run_report("bundle_evidence", "The evidence report of a verified court bundle.", _report, argv)


if __name__ == "__main__":
    sys.exit(main())
