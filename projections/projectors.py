"""The five projections fed from the notification log.

``case_files``      case files (案卷) + deadlines + R37 role conflicts + the registers they cite
``public_notices``  双公示 notices: allow-listed cf_* fields, corrections, withdrawals
``audit_trail``     one row per entry: actor, role, key, signature status, positions, time gap, flags
``supervision``     inspection counts per enterprise-year vs the cap, feedback by prohibition code,
                    per-officer activity (counts of acts; never targets, R20)
``statistics``      annual counts by agency / type / mode / outcome (R61)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ledger.errors import KeyRegistryError
from ledger.keys import KEY_OPENED, KEY_REGISTRY_ID, KeyRing
from ledger.signing import ENTRY_CONTEXT, check_signature
from projections import casefile, notices, tables
from projections.base import (
    Counters,
    Hook,
    Projection,
    RowCache,
    chunks,
    replace_rows,
    stream_kind,
)
from projections.calendar_years import YEAR_ENTERED, CalendarState, cases_with_pending, load_calendar
from projections.casefile import day_of, short_type
from projections.source import Item, read_case


# =============================================================================== case_files
class CaseFiles(Projection):
    name = "case_files"
    version = 5
    tables = tables.TABLES["case_files"]

    def process(self, conn: Connection, items: Sequence[Item], start: int, hook: Hook = None) -> None:
        cases, regs = RowCache(tables.CASE_FILE, "case_id"), RowCache(tables.REGISTER, "stream_id")
        case_ids, reg_ids = set(), set()
        for it in items:
            k = stream_kind(it.type)
            if k == "inspection":
                case_ids.add(it.case)
            elif k in _REGISTER_KINDS:
                reg_ids.add(it.case)
            rel = casefile.related_case(it)
            if rel:
                case_ids.add(rel)
        calendar = load_calendar(conn, upto=start) if any(
            it.type == YEAR_ENTERED or stream_kind(it.type) == "inspection" for it in items) else None
        cases.load(conn, case_ids)
        regs.load(conn, reg_ids)
        docs: dict[str, dict[str, Any]] = {}

        def doc_for(cid: str) -> dict[str, Any]:
            d = docs.get(cid)
            if d is None:
                row = cases.get(cid)
                d = row["doc"] if row is not None else casefile.new_case_file(cid)
                docs[cid] = d
            return d

        for it in items:
            k = stream_kind(it.type)
            if k == "inspection":
                doc = doc_for(it.case)
                casefile.apply_entry_in_place(doc, it)
                if calendar is not None and casefile.has_pending(doc):
                    casefile.resolve_pending(doc, calendar.calendar())
            elif calendar is not None and calendar.apply(it):  # a calendar year: recompute every pending deadline
                pending = [c for c in cases_with_pending(conn) if c not in docs]
                cases.load(conn, pending)
                for cid in [*pending, *docs]:
                    doc = doc_for(cid)
                    if casefile.has_pending(doc):
                        casefile.resolve_pending(doc, calendar.calendar())
            elif k in _REGISTER_KINDS:
                row = regs.get(it.case)
                regs.put(it.case, _apply_register(row, it))
            rel = casefile.related_case(it)
            if rel:
                casefile.apply_related(doc_for(rel), it)
        for cid in sorted(docs):
            d = docs[cid]
            cases.put(cid, {"lead_agency": d["lead_agency"], "uscc": d["party"]["uscc"], "task_no": d["task_no"],
                            "case_no": (d["case"] or {}).get("case_no"),
                            "decision_no": (d["decision"] or {}).get("decision_no"), "year": d["year"],
                            "stage": d["stage"], "last_n": d["last_n"], "position": d["position"], "doc": d})
        cases.flush(conn, hook)
        regs.flush(conn, hook)
        touched = sorted(docs)
        replace_rows(conn, tables.DEADLINE, "case_id", touched,
                     [row for cid in touched for row in deadline_rows(cid, docs[cid])], hook)
        replace_rows(conn, tables.ROLE_CONFLICT, "case_id", touched, [
            {"case_id": cid, "agency_code": docs[cid]["lead_agency"], **c}
            for cid in touched for c in casefile.role_conflicts(docs[cid])], hook)


_REGISTER_KINDS = frozenset({"agency", "officer", "enterprise"})


def deadline_rows(cid: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``proj_deadline`` rows of one case file."""
    return [{"case_id": cid, "kind": dl["kind"], "set_n": dl["set_n"], "agency_code": doc["lead_agency"],
             "start_day": dl["start"], "due_day": None if dl["due"] is None else str(dl["due"]), "days": dl["days"],
             "unit": dl["unit"], "calendar_version": dl["calendar_version"], "tracked": bool(dl.get("tracked", True)),
             "met_n": dl["met_n"], "met_day": dl["met_day"], "late": dl["late"], "void_n": dl["void_n"],
             "missing_year": dl.get("missing_year")}
            for dl in doc["deadlines"]]


def resolve_stored_pending(conn: Connection, calendar: CalendarState, hook: Hook = None) -> int:
    """Recompute the pending deadlines of every stored case file with ``calendar`` (after a bulk
    rebuild, whose folds leave them for this one pass with the final calendar). Returns the count."""
    ids = cases_with_pending(conn)
    cal = calendar.calendar()
    for part in chunks(ids):
        rows = conn.execute(select(tables.CASE_FILE.c.case_id, tables.CASE_FILE.c.doc)
                            .where(tables.CASE_FILE.c.case_id.in_(part))).all()
        for cid, doc in rows:
            casefile.resolve_pending(doc, cal)
            conn.execute(update(tables.CASE_FILE).where(tables.CASE_FILE.c.case_id == cid).values(doc=doc))
            replace_rows(conn, tables.DEADLINE, "case_id", [cid], deadline_rows(cid, doc), hook)
    return len(ids)


def _apply_register(row: dict[str, Any] | None, it: Item) -> dict[str, Any]:
    b, kind, t = it.body, stream_kind(it.type), short_type(it.type)
    doc: dict[str, Any] = dict(row["doc"]) if row else {"history": []}
    hist = {"n": it.n, "at": it.occurred_at, "type": it.type,
            **{k: v for k, v in b.items() if k in ("status", "head", "effective_at", "reason", "risk_class",
                                                   "on_list", "valid_from", "valid_until")}}
    doc["history"] = [*doc.get("history", []), hist]
    if t in {"registered", "certificate_issued"}:
        doc.update(dict(b.items()))
        doc.setdefault("status", "active")
    elif t == "head_appointed":
        doc["head"] = b["head"]
    elif t in ("status_changed", "certificate_status_changed"):
        doc["status"] = b["status"]
    elif t == "certificate_renewed":
        doc.update(valid_from=b["valid_from"], valid_until=b["valid_until"], categories=b["categories"])
    elif t == "risk_class_changed":
        doc["risk_class"] = b["risk_class"]
    elif t == "positive_list_changed":
        doc["positive_list"] = b["on_list"]
    elif t == "annual_statistics_published":  # R61, kept so reports can be compared with the projection
        doc["annual_statistics"] = {**doc.get("annual_statistics", {}), str(b["year"]): {
            "n": it.n, "at": it.occurred_at, "statistics": b.get("statistics"), "replay_hash": b.get("replay_hash"),
            "content_hash": b.get("content_hash"), "due": b.get("due"), "flags": list(b.get("flags") or ())}}
    key = {"agency": doc.get("agency_code"), "officer": doc.get("cert_no"), "enterprise": doc.get("uscc")}[kind]
    return {"kind": kind, "key": key or "", "name": doc.get("name"),
            "agency_code": doc.get("agency_code"), "doc": doc}


# =============================================================================== public_notices
_NOTICE_TYPES = frozenset({"dispatched", "decided", "decision_altered", "published", "publication_withdrawn",
                           "publication_corrected", "publication_period_set", "publication_expired",
                           "credit_repair_approved"})
#: Fields kept on a withdrawn notice to say which notice it was (the content itself is removed).
WITHDRAWN_KEEP = ("cf_wsh", "cf_cfjg", "cf_cfjgdm")


class PublicNotices(Projection):
    name = "public_notices"
    version = 2
    tables = tables.TABLES["public_notices"]

    def process(self, conn: Connection, items: Sequence[Item], start: int, hook: Hook = None) -> None:  # noqa: ARG002 - the Projector.process signature
        mine = [it for it in items if stream_kind(it.type) == "inspection" and short_type(it.type) in _NOTICE_TYPES]
        if not mine:
            return
        src, rows = RowCache(tables.NOTICE_SRC, "case_id"), RowCache(tables.NOTICE, "case_id")
        ids = {it.case for it in mine}
        src.load(conn, ids)
        rows.load(conn, {it.case for it in mine if short_type(it.type) != "dispatched"})
        versions: list[dict[str, Any]] = []
        for it in mine:
            s = src.get(it.case)
            state: dict[str, Any] = s["state"] if s else {"agency": None, "decision": None, "alterations": {}}
            row = rows.get(it.case)
            new_row = _notice_apply(state, row, it, versions)
            src.put(it.case, {"state": state})
            if new_row is not None:
                rows.put(it.case, new_row)
        src.flush(conn, hook)
        rows.flush(conn, hook)
        if versions:

            conn.execute(insert(tables.NOTICE_VERSION), versions)


def _search_text(fields: dict[str, str], reason: str | None = None) -> str:
    parts = [fields.get(f, "") for f in ("cf_xdr_mc", "cf_wsh", "cf_wfxw", "cf_cfjg", "cf_sy", "cf_nr", "cf_cflb")]
    if reason:
        parts.append(reason)
    return "\n".join(p for p in parts if p).lower()


def _filled(state: dict[str, Any], content: dict[str, Any], redaction_map: dict[str, Any]) -> dict[str, str]:
    """Allow-listed fields, with a few non-personal facts filled from the signed decision."""
    fields = notices.public_fields(content, redaction_map)
    d = state.get("decision") or {}
    fill = {"cf_wsh": d.get("decision_no"), "cf_jdrq": d.get("decided_day"),
            "cf_cflb": ";".join(d.get("penalty_kinds") or ()) or None,
            "cf_nr_fk": notices.fen_to_wan(d["fine_fen"]) if d.get("fine_fen") else None,
            "cf_cfjgdm": state.get("agency")}
    for k, v in fill.items():
        if v and k not in fields and k not in redaction_map:
            fields[k] = str(v)
    return {f: fields[f] for f in notices.PUBLIC_CF_FIELDS if f in fields}


def _notice_apply(state: dict[str, Any], row: dict[str, Any] | None, it: Item,
                  versions: list[dict[str, Any]]) -> dict[str, Any] | None:
    b, t, eid = it.body, short_type(it.type), it.entry_hash.hex()
    if t == "dispatched":
        state["agency"] = b["lead_agency"]
        return None
    if t == "decided":
        state["decision"] = {"decision_no": b["decision_no"], "decided_day": day_of(it.occurred_at),
                             "penalty_kinds": list(b["penalty_kinds"]), "fine_fen": b["fine_fen"],
                             "regime": b["regime"],
                             "calendar_version": (b.get("publication_due") or {}).get("calendar_version")}
        return None
    if t == "decision_altered":
        state["alterations"][str(it.n)] = eid
        if b.get("republication_due"):
            (state.get("decision") or {})["calendar_version"] = b["republication_due"].get("calendar_version")
        return None
    if t == "publication_period_set":  # R53: the period as decided, stored as cf_gsjzq
        state["public_until"] = b.get("public_until")
        if row is None:
            return None
        fields = {**row["fields"], "cf_gsjzq": b["public_until"]} if row["status"] != "withdrawn" else row["fields"]
        return {**row, "public_until": b.get("public_until"), "fields": fields}
    if t == "published":
        fields = _filled(state, b["content"], b["redaction_map"])
        if state.get("public_until"):
            fields["cf_gsjzq"] = state["public_until"]
            fields = {f: fields[f] for f in notices.PUBLIC_CF_FIELDS if f in fields}
        versions.append({"case_id": it.case, "n": it.n, "event": "published", "at": it.occurred_at,
                         "fields": fields, "content_hash": b["content_hash"], "reason": None, "event_id": eid})
        return {"agency_code": state.get("agency"), "status": "published", "published_at": it.occurred_at,
                "public_until": state.get("public_until") or fields.get("cf_gsjzq"),
                "decision_no": (state.get("decision") or {}).get("decision_no"),
                "fields": fields, "search": _search_text(fields), "content_hash": b["content_hash"],
                "redaction_map_hash": b["redaction_map_hash"], "regime_version": b["regime"],
                "calendar_version": (state.get("decision") or {}).get("calendar_version"), "event_id": eid,
                "withdrawal_reason": None, "cause_event_id": None, "n": it.n, "position": it.position}
    if row is None:  # a withdrawal or correction of nothing projected: the domain forbids it
        return None
    if t in ("publication_expired", "credit_repair_approved"):  # R53 end of period, R54 early removal
        status = "expired" if t == "publication_expired" else "repaired"
        versions.append({"case_id": it.case, "n": it.n, "event": status, "at": it.occurred_at, "fields": None,
                         "content_hash": None, "reason": None, "event_id": eid})
        return {**row, "status": status, "fields": {}, "search": "", "cause_event_id": eid, "n": it.n,
                "position": it.position}
    if t == "publication_corrected":
        fields = _filled(state, b["content"], b["redaction_map"])
        if state.get("public_until"):
            fields["cf_gsjzq"] = state["public_until"]
            fields = {f: fields[f] for f in notices.PUBLIC_CF_FIELDS if f in fields}
        versions.append({"case_id": it.case, "n": it.n, "event": "corrected", "at": it.occurred_at,
                         "fields": fields, "content_hash": b["content_hash"], "reason": b["reason"], "event_id": eid})
        return {**row, "status": "corrected", "fields": fields, "search": _search_text(fields),
                "public_until": state.get("public_until") or fields.get("cf_gsjzq"), "content_hash": b["content_hash"],
                "redaction_map_hash": b["redaction_map_hash"], "event_id": eid, "cause_event_id": eid,
                "n": it.n, "position": it.position}
    if t == "publication_withdrawn":
        kept = {f: row["fields"][f] for f in WITHDRAWN_KEEP if f in row["fields"]}
        cause = state["alterations"].get(str(b["cause_seq"]))
        versions.append({"case_id": it.case, "n": it.n, "event": "withdrawn", "at": it.occurred_at, "fields": None,
                         "content_hash": None, "reason": b["reason_text"], "event_id": eid})
        return {**row, "status": "withdrawn", "fields": kept, "search": _search_text(kept, b["reason_text"]),
                "withdrawal_reason": b["reason_text"], "cause_event_id": cause, "event_id": eid,
                "n": it.n, "position": it.position}
    return None


# =============================================================================== audit_trail
#: What the actor acted as, by entry type (falls back to a body field, then the key's role).
ACTING_AS = {
    "dispatched": "dispatcher", "team_changed": "agency_head",
    "mode_changed": "officer", "cancelled": "dispatcher", "arrived": "officer",
    "certificate_shown": "officer", "evidence_logged": "officer", "record_signed": "officer",
    "concluded": "officer", "result_notified": "officer", "feedback_received": "feedback_intake",
    "case_filed": "investigator",
    "legal_review_given": "legal_reviewer", "education_recorded": "officer", "served": "officer",
    "published": "publisher", "publication_withdrawn": "publisher", "publication_corrected": "publisher",
    "decision_altered": "agency", "registry_opened": "root", "registered": "registrar",
    "revoked": "root", "rotated": "root", "inspection_counted": "dispatcher", "inspection_released": "dispatcher",
}


def signature_status(ring: KeyRing, it: Item) -> tuple[str, str | None]:
    """(status, key role) of an entry's signature against the key registry as of its position."""
    status, rec = key_status(ring, it)
    if status == "valid" and rec is not None and not check_signature(rec.public_key, ENTRY_CONTEXT,
                                                                     it.entry_hash, it.sig):
        return "invalid", rec.role
    return status, None if rec is None else rec.role


def key_status(ring: KeyRing, it: Item) -> tuple[str, Any]:
    """Whether the entry's key may sign for its actor at its ``occurred_at``, as of its position:
    ``valid``, ``unknown_key``, ``wrong_actor``, ``revoked`` or ``key_not_valid`` (and the key record)."""
    rec = ring.get(it.key)
    if rec is None:
        return "unknown_key", None
    if rec.principal != it.actor:
        return "wrong_actor", rec
    if rec.revoked_at is not None and it.occurred_at >= rec.revoked_at:
        return "revoked", rec
    if not rec.valid_at(it.occurred_at):
        return "key_not_valid", rec
    return "valid", rec


class AuditTrail(Projection):
    """One row per entry. Stores the *key* status as of the entry's position (registry state) and the
    entry hash and public key; the signature itself is verified when rows are read
    (``Projections.audit_trail``), against the bytes in the store at that moment, so a rebuild does not
    pay one Ed25519 verification per entry and a record altered after projection shows as such."""

    name = "audit_trail"
    version = 2
    tables = tables.TABLES["audit_trail"]

    def __init__(self) -> None:
        self._ring: KeyRing | None = None
        self._ring_pos = -1

    def invalidate(self) -> None:
        self._ring, self._ring_pos = None, -1

    def _keyring(self, conn: Connection, start: int) -> KeyRing:
        if self._ring is None or self._ring_pos != start:
            ring = KeyRing()
            for it in read_case(conn, KEY_REGISTRY_ID, upto=start):
                _apply_key(ring, it)
            self._ring = ring
        self._ring_pos = start
        return self._ring

    def process(self, conn: Connection, items: Sequence[Item], start: int, hook: Hook = None) -> None:
        ring = self._keyring(conn, start)
        streams = RowCache(tables.AUDIT_STREAM, "case_id")
        streams.load(conn, {it.case for it in items})
        out = []
        try:
            for it in items:
                kind = stream_kind(it.type)
                if it.case == KEY_REGISTRY_ID and it.type == KEY_OPENED:
                    _apply_key(ring, it)  # the root key registers itself: check it against itself
                    status, rec = key_status(ring, it)
                elif it.case == KEY_REGISTRY_ID:
                    status, rec = key_status(ring, it)
                    _apply_key(ring, it)
                else:
                    status, rec = key_status(ring, it)
                role = None if rec is None else rec.role
                s = streams.get(it.case)
                if s is None or (s["agency_code"] is None and _agency_of(it)):
                    s = {"kind": kind, "agency_code": _agency_of(it)}
                    streams.put(it.case, s)
                t = short_type(it.type)
                acting = ACTING_AS.get(t) or it.body.get("decider_role") or role
                if t == "approved":
                    acting = it.body.get("approver_role") or acting
                elif t == "decided":
                    acting = it.body.get("decider_role") or acting
                flags = list(it.body.get("flags") or ()) if isinstance(it.body.get("flags"), list | tuple) else []
                out.append({
                    "position": it.position, "leaf_index": it.leaf_index, "case_id": it.case, "n": it.n,
                    "type": it.type, "actor": it.actor, "key_id": it.key.hex(), "key_role": role,
                    "acting_as": acting, "key_status": status,
                    "public_key": None if rec is None else bytes(rec.public_key).hex(),
                    "entry_hash": it.entry_hash.hex(), "occurred_at": it.occurred_at,
                    "recorded_at": it.recorded_at,
                    "gap_us": None if it.recorded_at is None else it.recorded_at - it.occurred_at,
                    "flags": ("," + ",".join(flags) + ",") if flags else "",
                    "agency_code": s["agency_code"], "stream_kind": kind,
                })
            if out:

                conn.execute(insert(tables.AUDIT), out)
                if hook:
                    hook(tables.AUDIT.name)
            streams.flush(conn, hook)
        except BaseException:
            self.invalidate()
            raise
        self._ring_pos = items[-1].position if items else start


def _apply_key(ring: KeyRing, it: Item) -> None:
    try:  # noqa: SIM105 - an unknown key is skipped, as the incremental fold does
        ring.apply(it.type, it.body)
    except KeyRegistryError:
        pass  # a malformed registry entry: the entries it would authorise show as unknown_key


def _agency_of(it: Item) -> str | None:
    b, kind = it.body, stream_kind(it.type)
    if kind == "inspection":
        return b.get("lead_agency")
    if kind in ("agency", "officer", "enterprise_year"):
        return b.get("agency_code")
    if kind == "reference":
        owner = b.get("owner")
        return owner if owner and owner != "national" else None
    return None


# =============================================================================== supervision
_OFFICER_ACTS = {
    "certificate_shown": "certificates_shown", "evidence_logged": "evidence_logged",
    "record_signed": "records_signed", "concluded": "inspections_concluded", "arrived": "arrivals",
}


def officer_acts(it: Item, t: str, agency: str | None) -> list[tuple[str, str, str | None]]:
    """``(officer, activity, agency)`` counted for one inspection entry of short type ``t``: the
    signer's entry, and the officers the entry names as assigned, present, reviewing or deciding."""
    b = it.body
    acts: list[tuple[str, str, str | None]] = [(it.actor, "entries_signed", agency)]
    if t == "dispatched":
        acts += [(o["cert_no"], "inspections_assigned", a["agency_code"]) for a in b["assignments"]
                 for o in a["officers"]]
    elif t in _OFFICER_ACTS and t != "certificate_shown":
        acts += [(cert, _OFFICER_ACTS[t], agency) for cert in b.get("officers") or ()]
    elif t == "certificate_shown":
        acts.append((b["cert_no"], "certificates_shown", agency))
    elif t == "legal_review_given":
        acts.append((b["reviewer"], "legal_reviews", agency))
    elif t == "decided":
        acts.append((b["decider"], "decisions_made", agency))
    return acts


class Supervision(Projection):
    name = "supervision"
    version = 1
    tables = tables.TABLES["supervision"]

    def process(self, conn: Connection, items: Sequence[Item], start: int, hook: Hook = None) -> None:  # noqa: ARG002 - the Projector.process signature
        eys, streams = RowCache(tables.ENTERPRISE_YEAR, "stream_id"), RowCache(tables.SUPERVISION_STREAM, "case_id")
        feedback, activity = Counters(tables.FEEDBACK), Counters(tables.OFFICER_ACTIVITY)
        eys.load(conn, {it.case for it in items if stream_kind(it.type) == "enterprise_year"})
        streams.load(conn, {it.case for it in items})
        for it in items:
            kind, t, b = stream_kind(it.type), short_type(it.type), it.body
            s = streams.get(it.case)
            if s is None or (s["agency_code"] is None and _agency_of(it)):
                s = {"kind": kind, "agency_code": _agency_of(it)}
                streams.put(it.case, s)
            year = int(day_of(it.occurred_at)[:4])
            agency = s["agency_code"]
            if kind == "enterprise_year":
                self._enterprise_year(eys, it)
            code = b.get("prohibition_code")
            if code:
                for c in code if isinstance(code, list | tuple) else [code]:
                    key = f"{year}|{agency}|{c}|{t}"
                    feedback.bump(key, {"key": key, "year": year, "agency_code": agency, "code": str(c), "kind": t})
            if kind != "inspection":
                continue

            for officer, activity_name, agency_code in officer_acts(it, t, agency):
                key = f"{officer}|{year}|{agency_code}|{activity_name}"
                activity.bump(key, {"key": key, "officer": officer, "year": year, "agency_code": agency_code,
                                    "activity": activity_name})
        eys.flush(conn, hook)
        streams.flush(conn, hook)
        feedback.flush(conn, hook)
        activity.flush(conn, hook)

    @staticmethod
    def _enterprise_year(eys: RowCache, it: Item) -> None:
        t, b = short_type(it.type), it.body
        row = eys.get(it.case)
        if t == "opened":
            row = {"uscc": b["uscc"], "agency_code": b["agency_code"], "year": b["year"], "count": 0, "cap": None,
                   "cap_version": None, "over_cap": False, "flags": []}
        elif row is None:
            return
        elif t == "inspection_counted":
            row = {**row, "count": row["count"] + 1, "cap": b["cap"], "cap_version": b["cap_version"],
                   "flags": [*row["flags"], *b.get("flags", ())]}
        elif t == "inspection_released":
            row = {**row, "count": row["count"] - 1}
        else:
            return
        row["over_cap"] = row["cap"] is not None and row["count"] > row["cap"]
        eys.put(it.case, row)


# =============================================================================== statistics
STAR = "*"


class StatsFold:
    """The statistics as a fold: ``apply(item)`` calls ``bump(year, agencies, metric, dim, value, delta)``.

    Shared by the ``statistics`` projection and :func:`projections.statistics.replay_counts`.
    """

    def __init__(self, state: Callable[[str], dict[str, Any] | None], put: Callable[[str, dict[str, Any]], None],
                 bump: Callable[[int, Sequence[str], str, str, str, int], None]) -> None:
        self.state, self.put, self.bump = state, put, bump

    def apply(self, it: Item) -> None:
        if stream_kind(it.type) != "inspection":
            return
        t, b = short_type(it.type), it.body
        s = self.state(it.case)
        if t == "dispatched":
            s = {"agencies": sorted({a["agency_code"] for a in b["assignments"]}), "lead": b["lead_agency"],
                 "year": b["year"], "type": b["inspection_type"], "mode": b["mode"], "cancelled": False}
            self._inspection(s, +1)
            self.put(it.case, s)
            return
        if s is None:
            return
        year, lead = int(day_of(it.occurred_at)[:4]), [s["lead"]]
        if t == "mode_changed" and not s["cancelled"]:
            self.bump(s["year"], s["agencies"], "inspections", "mode", s["mode"], -1)
            s["mode"] = b["mode"]
            self.bump(s["year"], s["agencies"], "inspections", "mode", s["mode"], +1)
            self.put(it.case, s)
        elif t == "cancelled":
            self._inspection(s, -1)
            s["cancelled"] = True
            self.bump(s["year"], s["agencies"], "cancelled", "all", "", +1)
            self.put(it.case, s)
        elif t == "concluded":
            self.bump(year, lead, "inspection_results", "result", b["result"], +1)
        elif t == "case_filed":
            self.bump(year, lead, "cases", "all", "", +1)
            self.bump(year, lead, "cases", "class", b["case_class"], +1)
        elif t == "decided":
            self.bump(year, lead, "decisions", "all", "", +1)
            self.bump(year, lead, "decisions", "outcome", b["outcome"], +1)
            if b["outcome"] == "penalty":
                self.bump(year, lead, "penalties", "all", "", +1)
                for k in b["penalty_kinds"]:
                    self.bump(year, lead, "penalties", "kind", k, +1)
                self.bump(year, lead, "fines_fen", "all", "", int(b["fine_fen"]))
        elif t == "decision_altered":
            self.bump(year, lead, "alterations", "kind", b["kind"], +1)
        elif t == "published":
            self.bump(year, lead, "publications", "all", "", +1)
        elif t == "publication_withdrawn":
            self.bump(year, lead, "withdrawals", "all", "", +1)
        elif t == "publication_corrected":
            self.bump(year, lead, "corrections", "all", "", +1)

    def _inspection(self, s: dict[str, Any], delta: int) -> None:
        y, ag = s["year"], s["agencies"]
        self.bump(y, ag, "inspections", "all", "", delta)
        self.bump(y, ag, "inspections", "type", s["type"], delta)
        self.bump(y, ag, "inspections", "mode", s["mode"], delta)


def stat_key(year: int, agency: str, metric: str, dim: str, value: str) -> str:
    return f"{year}|{agency}|{metric}|{dim}|{value}"


class Statistics(Projection):
    name = "statistics"
    version = 1
    tables = tables.TABLES["statistics"]

    def process(self, conn: Connection, items: Sequence[Item], start: int, hook: Hook = None) -> None:  # noqa: ARG002 - the Projector.process signature
        streams, counters = RowCache(tables.STAT_STREAM, "case_id"), Counters(tables.STAT)
        streams.load(conn, {it.case for it in items if stream_kind(it.type) == "inspection"})

        def state(cid: str) -> dict[str, Any] | None:
            r = streams.get(cid)
            return None if r is None else r["state"]

        def put(cid: str, s: dict[str, Any]) -> None:
            streams.put(cid, {"state": s})

        def bump(year: int, agencies: Sequence[str], metric: str, dim: str, value: str, delta: int) -> None:
            for ag in (*agencies, STAR):
                k = stat_key(year, ag, metric, dim, value)
                counters.bump(k, {"key": k, "year": year, "agency_code": ag, "metric": metric, "dim": dim,
                                  "value": value}, delta)

        fold = StatsFold(state, put, bump)
        for it in items:
            fold.apply(it)
        streams.flush(conn, hook)
        counters.flush(conn, hook)


#: Every projection, in processing order.
ALL: tuple[type[Projection], ...] = (CaseFiles, PublicNotices, AuditTrail, Supervision, Statistics)
BY_NAME: dict[str, type[Projection]] = {p.name: p for p in ALL}
