"""The case file (案卷) as a pure fold over a case's entries.

``apply_entry(doc, item)`` returns the case file after one more entry of an inspection stream;
``apply_related(doc, item)`` folds in an entry of another stream that concerns the case (the
enterprise-year counter that counted or released it, R12). The same functions feed the
``case_files`` projection (which stores the document) and ``case_file_as_of`` (which replays the
case's entries up to a point), so the two cannot disagree.

Everything in the document comes from signed entries or the ledger's attestations
(``position``, ``leaf_index``, ``recorded_at``); nothing reads a clock. Deadline *status* depends
on "today" and is therefore computed when read (:func:`deadline_status`), never stored.
"""

from __future__ import annotations

import copy
import functools
from datetime import date
from typing import Any

from domain.calendar import PENDING_FLAG, HolidayCalendar, legal_day, resolve_record
from domain.errors import CalendarUnavailable
from ledger.codec import from_micros
from projections.source import Item

INSPECTION = "inspection."
EY_COUNTED = "enterprise_year.inspection_counted.v1"
EY_RELEASED = "enterprise_year.inspection_released.v1"
#: Deadline kinds and the entry type (suffix) that meets each.
DEADLINE_KINDS = ("result_notice", "decision", "service", "publication", "withdrawal", "republication")


@functools.lru_cache(maxsize=1024)
def short_type(wire: str) -> str:
    """``inspection.case_filed.v1`` → ``case_filed``."""
    parts = wire.split(".")
    return parts[1] if len(parts) >= 3 else wire  # noqa: PLR2004 - domain.event.version


def stream_kind_of(it: Item) -> str:
    """``inspection`` for ``inspection.decided.v1``."""
    return it.type.split(".", 1)[0]


_HOUR = 3_600_000_000


def day_of(us: int) -> str:
    """The legal day (Asia/Shanghai) of an instant in µs, as ``YYYY-MM-DD``."""
    return _day_of_hour(us // _HOUR)


@functools.lru_cache(maxsize=65_536)
def _day_of_hour(hour: int) -> str:
    # Zone offsets are whole hours, so every instant of one UTC hour has the same legal day.
    return legal_day(from_micros(hour * _HOUR)).isoformat()


def new_case_file(case_id: str) -> dict[str, Any]:
    return {
        "case_id": case_id, "kind": "inspection", "stage": None, "task_no": None, "lead_agency": None,
        "agencies": [], "inspection_type": None, "mode": None, "year": None, "dispatched_at": None,
        "dispatched_by": None, "flag_reason": None, "case_source": None, "team_changes": [],
        "party": {"uscc": None}, "emergency": False,
        "legal_rep_required": False, "legal_rep_basis": None, "plan": None, "special_approval": None,
        "random_draw_ref": None,
        "assignments": [], "officers": [], "approvals": [], "mode_changes": [], "cancelled": None,
        "arrival": None, "record": None, "conclusion": None, "notified": None, "feedback": None, "case": None,
        "evidence": [], "reviews": [], "education": [], "decision": None, "decision_evidence_set": None,
        "services": [], "publication": None, "publication_history": [], "alterations": [],
        "publication_period": None, "closed": None, "deadlines": [], "flags": [], "timeline": [], "related": [],
        "last_n": 0, "position": 0,
    }


def _deadline(kind: str, record: dict[str, Any] | None, n: int) -> dict[str, Any] | None:
    if not record:
        return None
    return {"kind": kind, "set_n": n, "start": record.get("start"), "due": record.get("due"),
            "days": record.get("days"), "unit": record.get("unit"),
            "calendar_version": record.get("calendar_version"), "tracked": kind in TRACKED,
            "met_n": None, "met_at": None, "met_day": None, "met_type": None, "late": None, "void_n": None,
            "missing_year": record.get("missing_year")}


def _open(d: dict[str, Any]) -> bool:
    return d["met_n"] is None and d["void_n"] is None


def _meet(doc: dict[str, Any], kinds: tuple[str, ...], it: Item, *, set_n: int | None = None) -> None:
    day = day_of(it.occurred_at)
    for d in doc["deadlines"]:
        if d["kind"] in kinds and _open(d) and (set_n is None or d["set_n"] == set_n):
            d.update(met_n=it.n, met_at=it.occurred_at, met_day=day, met_type=it.type,
                     late=None if d["due"] is None else day > str(d["due"]))


def _void(doc: dict[str, Any], kinds: tuple[str, ...], n: int) -> None:
    for d in doc["deadlines"]:
        if d["kind"] in kinds and _open(d):
            d["void_n"] = n


def _add_deadline(doc: dict[str, Any], kind: str, record: dict[str, Any] | None, n: int) -> None:
    d = _deadline(kind, record, n)
    if d is not None:
        doc["deadlines"].append(d)
        if d["missing_year"] is not None:  # the step's own W_* flag: this deadline waits for a calendar year
            doc["flags"].append({"n": n, "type": None, "flag": str(record.get("flag") or PENDING_FLAG),  # type: ignore[union-attr]
                                 "stream": None, "deadline": kind, "missing_year": d["missing_year"]})


def _timeline_row(it: Item) -> dict[str, Any]:
    return {"n": it.n, "position": it.position, "leaf_index": it.leaf_index, "type": it.type, "actor": it.actor,
            "occurred_at": it.occurred_at, "recorded_at": it.recorded_at, "entry_hash": it.entry_hash.hex(),
            "flags": list(it.body.get("flags") or ())}


def apply_entry(doc: dict[str, Any] | None, it: Item) -> dict[str, Any]:
    """The case file after entry ``it`` of the case's own stream (a new dict; ``doc`` is not changed)."""
    doc = new_case_file(it.case) if doc is None else copy.deepcopy(doc)
    apply_entry_in_place(doc, it)
    return doc


def apply_entry_in_place(doc: dict[str, Any], it: Item) -> None:
    """As :func:`apply_entry`, mutating ``doc`` (the projection's fast path)."""
    b, n, at, kind = it.body, it.n, it.occurred_at, short_type(it.type)
    doc["timeline"].append(_timeline_row(it))
    doc["last_n"], doc["position"] = n, it.position
    doc["flags"].extend({"n": n, "type": it.type, "flag": f, "stream": None} for f in b.get("flags") or ())
    if kind == "dispatched":
        doc.update(
            stage="dispatched", task_no=b["task_no"], lead_agency=b["lead_agency"],
            agencies=[a["agency_code"] for a in b["assignments"]], inspection_type=b["inspection_type"],
            mode=b["mode"], year=b["year"], dispatched_at=at, dispatched_by=it.actor, party={"uscc": b["uscc"]},
            emergency=b["emergency"], legal_rep_required=b["legal_rep_required"],
            legal_rep_basis=b["legal_rep_basis"], plan=b["plan"], special_approval=b["special_approval"],
            random_draw_ref=b["random_draw_ref"], assignments=b["assignments"],
            flag_reason=b.get("flag_reason"),
            case_source=b.get("case_source"),  # v2: where a 个案 task comes from (R9, R12)
            officers=[{"cert_no": o["cert_no"], "person_id": o["person_id"], "agency_code": a["agency_code"],
                       "shown_at": None, "shown_n": None}
                      for a in b["assignments"] for o in a["officers"]],
        )
    elif kind == "approved":
        doc["approvals"].append({"n": n, "at": at, "agency_code": b["agency_code"], "approver": b["approver"],
                                 "approver_role": b["approver_role"], "retroactive": b["retroactive"]})
        if {a["agency_code"] for a in doc["approvals"]} >= set(doc["agencies"]) and doc["stage"] == "dispatched":
            doc["stage"] = "approved"
    elif kind == "team_changed":  # issue 18: who left, who joined, why (R5, R6, R9)
        gone = {o["cert_no"] for o in b["leaving"]}
        for o in doc["officers"]:
            if o["cert_no"] in gone and o.get("left_n") is None:
                o["left_n"] = n
        doc["officers"].extend({"cert_no": o["cert_no"], "person_id": o["person_id"], "agency_code": b["agency_code"],
                                "shown_at": None, "shown_n": None, "joined_n": n} for o in b["joining"])
        doc.setdefault("team_changes", []).append({
            "n": n, "at": at, "agency_code": b["agency_code"], "leaving": [o["cert_no"] for o in b["leaving"]],
            "joining": [o["cert_no"] for o in b["joining"]], "reason": b["reason"], "approver": b["approver"],
            "officers_after": list(b["officers_after"])})
    elif kind == "mode_changed":
        doc["mode_changes"].append({"n": n, "at": at, "from": doc["mode"], "to": b["mode"], "reason": b["reason"],
                                    "approved_by": b["approved_by"]})
        doc["mode"] = b["mode"]
    elif kind == "cancelled":
        doc["cancelled"] = {"n": n, "at": at, "reason": b["reason"], "by": it.actor}
        doc["stage"] = "cancelled"
        _void(doc, DEADLINE_KINDS, n)
    elif kind == "arrived":
        doc["arrival"] = {"n": n, "at": at, "location": b["location"], "scan": b["scan"], "by": it.actor,
                          "officers": list(b.get("officers") or ())}  # v2: the team present (R5, R6)
        doc["stage"] = "on_site"
    elif kind == "certificate_shown":
        for o in doc["officers"]:
            if o["cert_no"] == b["cert_no"] and o["shown_n"] is None:
                o.update(shown_at=at, shown_n=n)
                break
        else:
            doc["officers"].append({"cert_no": b["cert_no"], "person_id": b["person_id"], "agency_code": None,
                                    "shown_at": at, "shown_n": n})
    elif kind == "evidence_logged":
        doc["evidence"].append({
            "evidence_id": b["evidence_id"], "evidence_type": b["evidence_type"], "sha256": b["sha256"],
            "size": b["size"], "media_type": b["media_type"], "source": b["source"], "capture": b["capture"],
            "officers": b["officers"], "lawful": b["lawful"], "admissible": b["admissible"],
            "post_decision": b["post_decision"], "logged_at": at, "n": n, "by": it.actor,
            "flags": list(b.get("flags") or ()),
        })
    elif kind == "record_signed":
        doc["record"] = {"n": n, "at": at, **{k: b[k] for k in ("record_hash", "officers", "party_signature",
                                                                  "refusal_note", "witness")}}
    elif kind == "concluded":
        doc["conclusion"] = {"n": n, "at": at, "result": b["result"], "officers": b["officers"],
                             "rectification_due": b["rectification_due"]}
        doc["stage"] = "concluded"
        _add_deadline(doc, "result_notice", b["result_notice_due"], n)
    elif kind == "result_notified":
        doc["notified"] = {"n": n, "at": at, "recipient": b["recipient"], "summary_hash": b["summary_hash"],
                           "qr_id": b["qr_id"]}
        _meet(doc, ("result_notice",), it)
    elif kind == "feedback_received":
        doc["feedback"] = {"n": n, "at": at, "qr_id": b["qr_id"], "rating": b["rating"],
                           "prohibition_code": b["prohibition_code"], "comment_sha256": b["comment_sha256"]}
    elif kind == "case_filed":
        doc["case"] = {"n": n, "at": at, "case_no": b["case_no"], "investigators": b["investigators"],
                       "case_class": b["case_class"], "requires_legal_review": b["requires_legal_review"]}
        doc["stage"] = "case_filed"
        _add_deadline(doc, "decision", b["decision_due"], n)
    elif kind == "legal_review_given":
        doc["reviews"].append({"n": n, "at": at, **{k: b[k] for k in ("reviewer", "draft_hash", "result",
                                                                      "checklist", "first_time",
                                                                      "legal_qualification")}})
    elif kind == "education_recorded":
        doc["education"].append({"n": n, "at": at, "summary": b["summary"], "by": it.actor})
    elif kind == "decided":
        doc["decision"] = {**{k: v for k, v in b.items() if k != "flags"}, "n": n, "decided_at": at,
                           "decided_day": day_of(at), "version": 1, "status": "in_force"}
        refs = set(b["evidence_refs"])
        doc["decision_evidence_set"] = {
            "decision_n": n,
            "relied_on": [{"evidence_id": e["evidence_id"], "sha256": e["sha256"], "n": e["n"],
                           "logged_at": e["logged_at"], "admissible": e["admissible"]}
                          for e in doc["evidence"] if e["evidence_id"] in refs],
            "on_file": [e["evidence_id"] for e in doc["evidence"]],
        }
        doc["stage"] = "decided"
        _meet(doc, ("decision",), it)
        _add_deadline(doc, "service", b["service_due"], n)
        _add_deadline(doc, "publication", b["publication_due"], n)
    elif kind == "served":
        doc["services"].append({"n": n, "at": at, "by": it.actor, **{k: b[k] for k in (
            "method", "documents", "document_hash", "consent_ref", "publication_notice", "decision_version")}})
        if doc["stage"] == "decided":
            doc["stage"] = "served"
        _meet(doc, ("service",), it)
    elif kind == "published":
        doc["publication"] = {"status": "published", "n": n, "published_at": at, "content_hash": b["content_hash"],
                              "redaction_map": b["redaction_map"], "redaction_map_hash": b["redaction_map_hash"],
                              "redaction_reviewer": b["redaction_reviewer"], "regime": b["regime"],
                              "served_document_hash": b["served_document_hash"],
                              "decision_version": b["decision_version"], "withdrawal_reason": None,
                              "cause_n": None, "corrected_n": None,
                              "public_until": (doc.get("publication_period") or {}).get("public_until")}
        doc["publication_history"].append({"n": n, "at": at, "event": "published", "content_hash": b["content_hash"]})
        doc["stage"] = "published"
        _meet(doc, ("publication", "republication"), it)
    elif kind == "decision_altered":
        d = doc["decision"] or {}
        d["status"] = b["kind"]
        if b["kind"] == "changed":
            d["version"] = d.get("version", 1) + 1
            d["draft_hash"] = b["new_draft_hash"]
        doc["decision"] = d
        doc["alterations"].append({"n": n, "at": at, "by": it.actor, "withdrawn_n": None, **{k: b[k] for k in (
            "kind", "reason", "basis_ref", "new_draft_hash", "withdrawal_due", "republication_due")},
            "evidence_refs": list(b.get("evidence_refs") or ())})  # v2: a change's own evidence set (R29)
        _void(doc, ("service", "publication", "republication"), n)
        _add_deadline(doc, "withdrawal", b["withdrawal_due"], n)
        _add_deadline(doc, "republication", b["republication_due"], n)
        doc["stage"] = "altered"
    elif kind == "publication_withdrawn":
        p = doc["publication"] or {}
        p.update(status="withdrawn", withdrawal_reason=b["reason_text"], cause_n=b["cause_seq"], withdrawn_n=n,
                 withdrawn_at=at)
        doc["publication"] = p
        for a in doc["alterations"]:
            if a["n"] == b["cause_seq"]:
                a["withdrawn_n"] = n
        doc["publication_history"].append({"n": n, "at": at, "event": "withdrawn", "reason": b["reason_text"],
                                           "cause_n": b["cause_seq"]})
        doc["stage"] = "withdrawn"
        _meet(doc, ("withdrawal",), it, set_n=b["cause_seq"])
    elif kind == "publication_corrected":
        p = doc["publication"] or {}
        p.update(content_hash=b["content_hash"], redaction_map=b["redaction_map"],
                 redaction_map_hash=b["redaction_map_hash"], redaction_reviewer=b["redaction_reviewer"],
                 corrected_n=n)
        doc["publication"] = p
        doc["publication_history"].append({"n": n, "at": at, "event": "corrected", "reason": b["reason"],
                                           "supersedes_n": b["supersedes_seq"], "content_hash": b["content_hash"]})
    elif kind == "publication_period_set":
        doc["publication_period"] = {"n": n, **{k: b.get(k) for k in (
            "regime_version", "category", "start_on", "period_months", "public_until", "repair_min_until")}}
        if doc["publication"] is not None:
            doc["publication"]["public_until"] = b.get("public_until")
    elif kind in ("publication_expired", "credit_repair_approved"):
        status = "expired" if kind == "publication_expired" else "repaired"
        if doc["publication"] is not None:
            doc["publication"]["status"] = status
        doc["publication_history"].append({"n": n, "at": at, "event": status})
    elif kind == "case_closed":
        doc["stage"] = "closed"
        doc["closed"] = {"n": n, "at": at, "phases": b.get("phases"), "execution_ref": b.get("execution_ref")}
    if kind not in _EXPLICIT_DEADLINES and _due_keys(tuple(b)):
        _generic_deadlines(doc, it, kind)
    for met_kind in _MET_KINDS.get(kind, ()):
        _meet(doc, (met_kind,), it)


#: Entry types whose deadlines are handled explicitly above.
_EXPLICIT_DEADLINES = frozenset({"concluded", "case_filed", "decided", "decision_altered"})
#: Deadline kinds announced by other entries (``<kind>_due`` body fields), and what meets them.
MET_BY: dict[str, tuple[str, ...]] = {
    "decision": ("decided",),
    "statement": ("statement_heard", "rights_waived"),
    "hearing_request": ("hearing_requested", "rights_waived"),
    "payment": ("fine_paid",),
}
TRACKED = frozenset({*DEADLINE_KINDS, *MET_BY})
#: Entry type → the deadline kinds it meets through MET_BY, in MET_BY's order.
_MET_KINDS: dict[str, tuple[str, ...]] = {}
for _k, _by in MET_BY.items():
    for _t in _by:
        _MET_KINDS[_t] = (*_MET_KINDS.get(_t, ()), _k)


@functools.lru_cache(maxsize=4096)
def _due_keys(keys: tuple[str, ...]) -> bool:
    """Whether a body with these keys may hold a deadline record (a ``*_due`` key)."""
    return any(k.endswith("_due") and k != "previous_due" for k in keys)


def _generic_deadlines(doc: dict[str, Any], it: Item, kind: str) -> None:  # noqa: ARG001 - the deadline handlers' common signature
    """Any ``<kind>_due`` field holding a deadline record starts (or, when one of the same kind is
    open, supersedes) a deadline. Kinds with no known meeting entry are listed but not tracked."""
    for key, value in it.body.items():
        if key.endswith("_due") and key != "previous_due" and isinstance(value, dict) and "due" in value:
            dl_kind = key[:-4]
            if any(d["kind"] == dl_kind and d["set_n"] == it.n for d in doc["deadlines"]):
                continue
            _void(doc, (dl_kind,), it.n)
            _add_deadline(doc, dl_kind, value, it.n)


def apply_related(doc: dict[str, Any], it: Item) -> None:
    """Fold in an enterprise-year entry that counted or released this inspection (mutates ``doc``)."""
    row: dict[str, Any] = {"case": it.case, "n": it.n, "position": it.position, "type": it.type,
                           "occurred_at": it.occurred_at, "recorded_at": it.recorded_at}
    row.update({k: it.body[k] for k in ("ytd_before", "cap", "cap_version", "reason") if k in it.body})
    doc["related"].append(row)
    doc["flags"].extend({"n": it.n, "type": it.type, "flag": f, "stream": it.case} for f in it.body.get("flags") or ())


def related_case(it: Item) -> str | None:
    """The inspection an entry of another stream concerns, if any."""
    if it.type in (EY_COUNTED, EY_RELEASED):
        v = it.body.get("inspection_id")
        return str(v) if v else None
    return None


def deadline_status(d: dict[str, Any], today: date | str) -> str:
    """``void``, ``met``, ``met_late``, ``overdue``, ``due_today`` or ``open`` as of ``today``;
    ``recorded`` for a deadline of a kind whose meeting entry is not known to the projection;
    ``pending`` while the calendar year it needs has not been entered."""
    t = today if isinstance(today, str) else today.isoformat()
    if d.get("void_n") is not None:
        return "void"
    if d.get("due") is None:  # met or not, whether in time is not known yet
        return "pending"
    if d.get("met_n") is not None:
        return "met_late" if d.get("late") else "met"
    due = str(d["due"])
    if not d.get("tracked", True):
        return "recorded"
    if t > due:
        return "overdue"
    return "due_today" if t == due else "open"


def role_conflicts(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """R37: people who held two roles the rule keeps apart on this case (derived from the file)."""
    acting: dict[str, set[str]] = {}
    for o in doc["officers"]:
        for who in (o["person_id"], o["cert_no"]):
            acting.setdefault(who, set()).add("officer")
    for who in (doc["case"] or {}).get("investigators", ()):
        acting.setdefault(who, set()).add("investigator")
    out = []
    checks: list[tuple[str, str, str, int]] = [("R37.reviewer", r["reviewer"], "legal_reviewer", r["n"])
                                               for r in doc["reviews"]]
    if doc["decision"] and doc["decision"].get("decider"):
        checks.append(("R37.decider", doc["decision"]["decider"], "decider", doc["decision"]["n"]))
    checks.extend(("R9.approver", a["approver"], "approver", a["n"]) for a in doc["approvals"])
    seen = set()
    for rule, who, role, n in checks:
        roles = acting.get(who, set())
        if roles and (rule, who) not in seen:
            seen.add((rule, who))
            out.append({"rule": rule, "person": who, "roles": sorted({role, *roles}), "n": n})
    return out


# ------------------------------------------------------------------ pending deadlines (issue 14)
#: The flag the meeting step would have carried had its deadline been known when it was recorded.
LATE_FLAGS = {
    "result_notice": "V_RESULT_NOT_NOTIFIED", "decision": "V_DECISION_OVERDUE", "service": "V_SERVICE_OVERDUE",
    "publication": "V_PUBLICATION_OVERDUE", "republication": "V_PUBLICATION_OVERDUE",
    "withdrawal": "V_WITHDRAWAL_OVERDUE", "hearing_request": "W_HEARING_REQUEST_LATE",
}


def has_pending(doc: dict[str, Any]) -> bool:
    """Whether the case file holds a deadline that was recorded pending (computed or not since)."""
    return any(d.get("missing_year") is not None for d in doc["deadlines"])


def unresolved(doc: dict[str, Any]) -> bool:
    """Whether a deadline still waits for its calendar year."""
    return any(d.get("due") is None and d.get("missing_year") is not None for d in doc["deadlines"])


def resolve_pending(doc: dict[str, Any], cal: HolidayCalendar) -> None:
    """Compute every deadline recorded pending with ``cal`` (the calendar as of this log position).

    A pure function of the deadlines' signed start, length and unit, their meeting steps and
    ``cal``: recomputed in full on each call (a corrected year recomputes them), so the live
    projection, a rebuild and an as-of replay agree at every position. A step that met such a
    deadline late gets the flag it would have carried (``derived`` names the calendar version).
    """
    doc["flags"] = [f for f in doc["flags"] if "derived_from" not in f]
    for d in doc["deadlines"]:
        if d.get("missing_year") is None:
            continue
        record = {"start": d["start"], "due": None, "days": d["days"], "unit": d["unit"]}
        try:
            got = resolve_record(record, cal)
        except CalendarUnavailable as e:
            d.update(due=None, calendar_version=None, late=None)
            year = e.details.get("year")
            d["waiting_for"] = year if isinstance(year, int) else d["missing_year"]
            continue
        d.pop("waiting_for", None)
        d.update(due=got["due"], calendar_version=got["calendar_version"])
        if d["met_n"] is not None:
            d["late"] = str(d["met_day"]) > str(d["due"])
            flag = LATE_FLAGS.get(d["kind"])
            if d["late"] and flag and not _carries(doc, d["met_n"], flag):
                doc["flags"].append({"n": d["met_n"], "type": d.get("met_type"), "flag": flag, "stream": None,
                                     "derived_from": d["calendar_version"], "deadline": d["kind"]})


def _carries(doc: dict[str, Any], n: int, flag: str) -> bool:
    return any(f["n"] == n and f["flag"] == flag and f.get("stream") is None and "derived_from" not in f
               for f in doc["flags"])
