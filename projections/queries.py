"""The stable read API over the projection tables (for the HTTP API, web pages and the CLI).

Every method returns plain JSON-able values (dict / list / str / int / bool / None); times are
integer µs UTC unless the field name ends in ``_day`` (``YYYY-MM-DD``, legal day in Asia/Shanghai).
Bad input raises a ``projections.errors`` type: ``BadCursor``, ``BadAsOf``, ``BadQuery`` (→ 400)
and ``UnknownCaseFile`` (→ 404). Pages return ``(items, next_cursor)``; ``next_cursor`` is
``None`` on the last page and is an opaque string otherwise.

Queries read the tables as last committed by the runner; call :meth:`Projections.refresh` (or run
a worker) to bring them up to date. Only :meth:`Projections.refresh` writes, and only through
``projections.runner`` (exactly-once).
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, MetaData, and_, func, or_, select
from sqlalchemy.exc import NoSuchTableError, OperationalError, ProgrammingError

from domain.calendar import legal_day
from ledger.chain import ChainCursor, Entry, decode_record
from ledger.codec import to_micros
from ledger.errors import EncodingError
from ledger.hashing import entry_hash
from ledger.limits import DEFAULT_LIMITS, Limits
from ledger.signing import ENTRY_CONTEXT, check_signature
from projections import casefile, notices, statistics
from projections.calendar_years import REGISTER_ID, CalendarState, load_calendar
from projections.errors import BadAsOf, BadCursor, BadQuery, UnknownCaseFile
from projections.source import EVENTS, Item, read_case, read_positions
from projections.tables import (
    AUDIT,
    CASE_FILE,
    DEADLINE,
    ENTERPRISE_YEAR,
    FEEDBACK,
    METADATA,
    NOTICE,
    NOTICE_VERSION,
    OFFICER_ACTIVITY,
    REGISTER,
    ROLE_CONFLICT,
    TABLES,
    TRACKING,
)
from projections.visibility import Audience, entry_visible

MAX_LIMIT = 1000
#: Statuses shown on public lists; ``expired`` (R53) and ``repaired`` (R54) notices are not.
VISIBLE_STATUSES = ("published", "corrected", "withdrawn")
_STAR = "*"


# ----------------------------------------------------------------------------- helpers
def _case_id(case_id: object) -> str:
    try:
        return str(uuid.UUID(str(case_id)))
    except (ValueError, TypeError, AttributeError):
        msg = f"case id must be a UUID, got {str(case_id)[:80]!r}"
        raise BadQuery(msg, key=str(case_id)[:80]) from None


def _aware(at: datetime | None, what: str, error: type[BadQuery] = BadQuery) -> int | None:
    if at is None:
        return None
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        msg = f"{what} must be a timezone-aware datetime"
        raise error(msg)
    return to_micros(at)


def _today(now: datetime | None) -> date:
    if now is None:
        now = datetime.now(UTC)
    _aware(now, "now")
    return legal_day(now)


def _limit(limit: object) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        msg = f"limit must be an integer from 1 to {MAX_LIMIT}"
        raise BadQuery(msg)
    return limit


def _fingerprint(**filters: Any) -> str:
    raw = json.dumps(filters, sort_keys=True, default=str, ensure_ascii=False).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def _encode_cursor(kind: str, key: list[Any], fp: str) -> str:
    raw = json.dumps({"v": 1, "t": kind, "k": key, "f": fp}, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, kind: str, fp: str, shape: tuple[type, ...]) -> list[Any]:
    try:
        pad = "=" * (-len(cursor) % 4)
        m = json.loads(base64.urlsafe_b64decode(cursor + pad).decode())
        ok = (isinstance(m, dict) and m.get("v") == 1 and m.get("t") == kind and isinstance(m.get("k"), list)
              and len(m["k"]) == len(shape) and all(isinstance(x, t) and not isinstance(x, bool)
                                                    for x, t in zip(m["k"], shape, strict=True)))
    except (ValueError, TypeError, UnicodeDecodeError):
        ok = False
    if not ok:
        msg = "malformed cursor: pass back the next_cursor of a previous page unchanged"
        raise BadCursor(msg, cursor=str(cursor)[:80])
    if m.get("f") != fp:
        msg = "this cursor belongs to a query with different filters"
        raise BadCursor(msg, cursor=str(cursor)[:80])
    return list(m["k"])


def _like(q: str) -> str:
    return "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class Projections:
    """Queries over the projection tables on ``engine`` (the ledger's engine).

    ``metadata`` is accepted for symmetry with the container and not used: the projection tables
    live on ``projections.tables.METADATA``.
    """

    def __init__(self, engine: Engine, metadata: MetaData | None = None, *, limits: Limits = DEFAULT_LIMITS) -> None:
        self.engine = engine
        self.metadata = metadata
        self.limits = limits
        self._ready = False
        self._runner: Any = None

    # ----------------------------------------------------------------- maintenance
    def ensure_tables(self) -> None:
        """Create any missing projection table (idempotent)."""
        if not self._ready:
            METADATA.create_all(self.engine, checkfirst=True)
            self._ready = True

    def refresh(self, *, max_batches: int | None = None) -> int:
        """Bring every projection up to date in this process. Returns the notifications processed."""
        if self._runner is None:
            from projections.runner import ProjectionRunner  # noqa: PLC0415 - loaded only when a query catches up

            self._runner = ProjectionRunner(self.engine, limits=self.limits)
            self._runner.setup()
            self._ready = True
        return int(self._runner.run(max_batches=max_batches))

    def positions(self) -> dict[str, int]:
        """Tracked notification position per projection name."""
        self.ensure_tables()
        with self.engine.connect() as conn:
            rows = {r.name: int(r.position) for r in conn.execute(select(TRACKING.c.name, TRACKING.c.position))}
        return {n: rows.get(n, 0) for n in TABLES}

    def _rows(self, q: Any) -> list[Any]:
        self.ensure_tables()
        try:
            with self.engine.connect() as conn:
                return list(conn.execute(q))
        except (NoSuchTableError, OperationalError, ProgrammingError):
            self._ready = False
            raise

    # ----------------------------------------------------------------- registers
    def _registers(self, kind: str, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        keys = sorted({k for k in keys if k})
        if not keys:
            return {}
        rows = self._rows(select(REGISTER.c.key, REGISTER.c.doc).where(REGISTER.c.kind == kind,
                                                                        REGISTER.c.key.in_(keys)))
        return {r[0]: r[1] for r in rows}

    def _enrich(self, doc: dict[str, Any], today: date) -> dict[str, Any]:
        officers = self._registers("officer", [o["cert_no"] for o in doc["officers"]])
        agencies = self._registers("agency", doc["agencies"])
        ent = self._registers("enterprise", [doc["party"]["uscc"]]).get(doc["party"]["uscc"] or "", {})
        for o in doc["officers"]:
            reg = officers.get(o["cert_no"], {})
            o["name"] = reg.get("name")
            o["certificate"] = {k: reg.get(k) for k in ("valid_from", "valid_until", "categories", "status")}
        doc["party"] = {"uscc": doc["party"]["uscc"], **{k: ent.get(k) for k in (
            "name", "sector", "admin_division", "risk_class", "positive_list")}}
        doc["agency_names"] = {code: agencies.get(code, {}).get("name") for code in doc["agencies"]}
        for d in doc["deadlines"]:
            d["status"] = casefile.deadline_status(d, today)
        doc["flag_codes"] = sorted({f["flag"] for f in doc["flags"]})
        return doc

    # ----------------------------------------------------------------- case file (案卷)
    def case_file(self, case_id: str, *, now: datetime | None = None) -> dict[str, Any]:
        """The case file as projected (up to the tracked position).

        Keys: ``case_id, kind, stage, task_no, lead_agency, agencies, agency_names, inspection_type,
        mode, year, party{uscc,name,...}, officers[{cert_no, person_id, name, agency_code, shown_at,
        shown_n, certificate}], approvals, arrival, record, conclusion, notified, case,
        timeline[{n, position, leaf_index, type, actor, occurred_at, recorded_at, entry_hash, flags}],
        evidence[{evidence_id, evidence_type, sha256, size, media_type, source, capture, officers, lawful,
        admissible, post_decision, logged_at, n, flags}], decision_evidence_set{decision_n, relied_on,
        on_file}, reviews, education, decision, services, publication, publication_history,
        alterations, deadlines[{kind, set_n, start, due, days, unit, calendar_version, met_n, met_day,
        late, void_n, status}], flags[{n, type, flag, stream}], flag_codes, related, last_n, position``.
        Raises ``UnknownCaseFile``.
        """
        cid = _case_id(case_id)
        rows = self._rows(select(CASE_FILE.c.doc).where(CASE_FILE.c.case_id == cid))
        if not rows or rows[0][0].get("task_no") is None:
            msg = f"no case file {cid}"
            raise UnknownCaseFile(msg, key=cid)
        return self._enrich(rows[0][0], _today(now))

    def case_file_as_of(self, app: Any, case_id: str, *, n: int | None = None,
                        at: datetime | None = None, now: datetime | None = None,
                        occurred: datetime | None = None) -> dict[str, Any]:
        """The case file rebuilt by replaying the case's entries from the ledger.

        Up to entry ``n`` (inclusive); or, on the recorded clock, up to the last entry with
        ``recorded_at <= at`` (the ledger as it stood at that instant); or, on the occurred clock,
        the entries in order up to the first one whose ``occurred_at`` is after ``occurred`` (the
        steps that had happened by then); with none of them, the whole case. A time before the
        case's first entry raises ``BadAsOf`` saying when the case starts on both clocks. Entries of the enterprise-year
        counters that concern the case are folded in at their log positions. The chain links of
        the replayed entries are checked (``ledger.errors.ChainBreakError``). ``app`` may be None;
        if given, its limits are used. Raises ``BadAsOf`` and ``UnknownCaseFile``.
        """
        cid = _case_id(case_id)
        if sum(x is not None for x in (n, at, occurred)) > 1:
            msg = "give one of an entry number, a recorded instant or an occurred instant"
            raise BadAsOf(msg)
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
            msg = f"as-of entry number must be an integer >= 1, got {n!r}"
            raise BadAsOf(msg)
        at_us = _aware(at, "as-of instant", BadAsOf)
        occurred_us = _aware(occurred, "occurred-by instant", BadAsOf)
        limits = getattr(app, "limits", None) or self.limits
        with self.engine.connect() as conn:
            items = read_case(conn, cid, limits)
            if not items or casefile.stream_kind_of(items[0]) != "inspection":
                msg = f"no case {cid} in the ledger"
                raise UnknownCaseFile(msg, key=cid)
            if n is not None:
                if n > items[-1].n:
                    msg = f"case {cid} has {items[-1].n} entries; there is no entry {n}"
                    raise BadAsOf(msg, n=n, last_n=items[-1].n)
                items = items[:n]
            elif at_us is not None:
                kept = [it for it in items if it.recorded_at is not None and it.recorded_at <= at_us]
                if not kept:
                    raise _before_start(cid, items[0], "recorded", at)
                items = kept
            elif occurred_us is not None:
                cut_n = next((i for i, it in enumerate(items) if it.occurred_at > occurred_us), len(items))
                if cut_n == 0:
                    raise _before_start(cid, items[0], "occurred", occurred)
                items = items[:cut_n]
            cut = items[-1].position
            related = self._related_positions(cid)
            extra = [it for it in read_positions(conn, [p for p in related if p <= cut], limits)
                     if casefile.related_case(it) == cid]
            # The calendar as the ledger held it: at the instant, at the n-th entry, or now.
            years = [y for y in read_case(conn, REGISTER_ID, limits)
                     if ((y.recorded_at or 0) <= at_us if at_us is not None else n is None or y.position <= cut)]
        cursor = ChainCursor(cid)
        for it in items:
            cursor.advance(_as_entry(it), it.entry_hash)  # type: ignore[arg-type]
        doc = casefile.new_case_file(cid)
        calendar = CalendarState()
        for it in sorted([*items, *extra, *years], key=lambda x: x.position):
            if calendar.apply(it):
                if casefile.has_pending(doc):
                    casefile.resolve_pending(doc, calendar.calendar())
            elif it.case == cid:
                casefile.apply_entry_in_place(doc, it)
                if casefile.has_pending(doc):
                    casefile.resolve_pending(doc, calendar.calendar())
            else:
                casefile.apply_related(doc, it)
        basis = "recorded_at" if at_us is not None else "occurred_at" if occurred_us is not None else "n"
        doc["as_of"] = {"n": items[-1].n, "position": cut, "at": at_us if at_us is not None else occurred_us,
                        "basis": basis}
        return self._enrich(doc, _today(now))

    def _related_positions(self, cid: str) -> list[int]:
        rows = self._rows(select(CASE_FILE.c.doc).where(CASE_FILE.c.case_id == cid))
        if not rows:
            return []
        return [int(r["position"]) for r in rows[0][0].get("related", [])]

    # ----------------------------------------------------------------- public notices (双公示)
    def list_cases(self, *, agency: str | None = None, uscc: str | None = None, status: str | None = None,
                   year: int | None = None, cursor: str | None = None, limit: int = 50,
                   visible: Callable[[dict[str, Any]], bool] | None = None,
                   ) -> tuple[list[dict[str, Any]], str | None]:
        """Inspections in case-id order: ``case_id, task_no, agency`` (the lead agency), ``agencies``,
        ``enterprise`` (USCC), ``status`` (the stage), ``year`` and ``last_step`` (``n``, ``type``,
        ``occurred_at``, ``recorded_at`` of the latest entry). ``agency`` matches any agency on the
        case. ``visible`` (the caller's read scope) filters before the page is cut, so a page is
        never short because of rows the caller may not see.
        """
        limit = _limit(limit)
        for name, v in (("agency", agency), ("uscc", uscc), ("status", status)):
            if v is not None and (not isinstance(v, str) or not v or len(v) > 64):  # noqa: PLR2004 - input bounds
                msg = f"{name} must be a non-empty string of at most 64 characters"
                raise BadQuery(msg)
        if year is not None:
            year = _year(year)
        fp = _fingerprint(agency=agency, uscc=uscc, status=status, year=year)
        after = _decode_cursor(cursor, "cases", fp, (str,))[0] if cursor is not None else None
        stmt = select(CASE_FILE.c.case_id, CASE_FILE.c.doc)
        if uscc is not None:
            stmt = stmt.where(CASE_FILE.c.uscc == uscc)
        if status is not None:
            stmt = stmt.where(CASE_FILE.c.stage == status)
        if year is not None:
            stmt = stmt.where(CASE_FILE.c.year == year)
        out: list[dict[str, Any]] = []
        batch = max(limit + 1, 200)
        while len(out) <= limit:
            q = stmt if after is None else stmt.where(CASE_FILE.c.case_id > after)
            rows = self._rows(q.order_by(CASE_FILE.c.case_id).limit(batch))
            for r in rows:
                doc = r.doc
                after = r.case_id
                if doc.get("kind", "inspection") != "inspection":
                    continue
                if agency is not None and agency not in (doc.get("agencies") or [doc.get("lead_agency")]):
                    continue
                if visible is not None and not visible(doc):
                    continue
                out.append(_case_row(doc))
                if len(out) > limit:
                    break
            if len(rows) < batch:
                break
        nxt = _encode_cursor("cases", [out[limit - 1]["case_id"]], fp) if len(out) > limit else None
        return out[:limit], nxt

    def _notice_out(self, r: Any, today: date) -> dict[str, Any]:
        past = r.public_until is not None and today.isoformat() > r.public_until
        status = "expired" if past and r.status in VISIBLE_STATUSES else r.status
        expired = status in ("expired", "repaired")
        fields = {} if expired else dict(r.fields)
        out = {"case_id": r.case_id, "status": status, "agency_code": r.agency_code,
               "fields": {f: fields[f] for f in notices.PUBLIC_CF_FIELDS if f in fields},
               "published_at": r.published_at, "published_day": casefile.day_of(r.published_at),
               "public_until": r.public_until, "event_id": r.event_id, "content_hash": r.content_hash,
               "redaction_map_hash": r.redaction_map_hash, "regime_version": r.regime_version,
               "calendar_version": r.calendar_version, "withdrawal_reason": r.withdrawal_reason,
               "cause_event_id": r.cause_event_id, "n": r.n}
        if expired:
            out["content_hash"] = None
        return out

    def _visible(self, today: date) -> Any:
        return and_(NOTICE.c.status.in_(VISIBLE_STATUSES),
                    or_(NOTICE.c.public_until.is_(None), NOTICE.c.public_until >= today.isoformat()))

    def public_notices(self, *, q: str | None = None, agency: str | None = None, cursor: str | None = None,
                       limit: int = 20, now: datetime | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """Visible notices (not past ``public_until`` at ``now``), newest first.

        Each item: ``case_id, status (published|corrected|withdrawn), agency_code, fields`` (only
        allow-listed ``cf_*`` fields, in 信用中国 order) and the ledger fields of §2.1 L1/L2
        (``published_at, published_day, public_until, event_id, content_hash, redaction_map_hash,
        regime_version, calendar_version, withdrawal_reason, cause_event_id``). A withdrawn notice
        has its ``withdrawal_reason`` and only ``cf_wsh, cf_cfjg, cf_cfjgdm`` left of its content.
        ``q`` searches the public text (case-insensitive substring).
        """
        limit = _limit(limit)
        if q is not None and (not isinstance(q, str) or len(q) > 200):  # noqa: PLR2004 - input bounds of the query API
            msg = "q must be a string of at most 200 characters"
            raise BadQuery(msg)
        if agency is not None and not isinstance(agency, str):
            msg = "agency must be a string"
            raise BadQuery(msg)
        today = _today(now)
        fp = _fingerprint(q=q or None, agency=agency)
        stmt = select(NOTICE).where(self._visible(today))
        if q:
            stmt = stmt.where(NOTICE.c.search.like(_like(q), escape="\\"))
        if agency:
            stmt = stmt.where(NOTICE.c.agency_code == agency)
        if cursor is not None:
            pub, cid = _decode_cursor(cursor, "notices", fp, (int, str))
            stmt = stmt.where(or_(NOTICE.c.published_at < pub,
                                  and_(NOTICE.c.published_at == pub, NOTICE.c.case_id < cid)))
        stmt = stmt.order_by(NOTICE.c.published_at.desc(), NOTICE.c.case_id.desc()).limit(limit + 1)
        rows = self._rows(stmt)
        items = [self._notice_out(r, today) for r in rows[:limit]]
        nxt = None
        if len(rows) > limit:
            last = rows[limit - 1]
            nxt = _encode_cursor("notices", [int(last.published_at), last.case_id], fp)
        return items, nxt

    def notice(self, case_id: str, *, now: datetime | None = None) -> dict[str, Any]:
        """One notice, also an expired one (status ``expired``, no content), with its version history
        (``versions``: published / corrected / withdrawn, each with the entry's ``event_id``).
        Raises ``UnknownCaseFile``."""
        cid = _case_id(case_id)
        rows = self._rows(select(NOTICE).where(NOTICE.c.case_id == cid))
        if not rows:
            msg = f"no published notice for case {cid}"
            raise UnknownCaseFile(msg, key=cid)
        out = self._notice_out(rows[0], _today(now))
        vs = self._rows(select(NOTICE_VERSION.c.n, NOTICE_VERSION.c.event, NOTICE_VERSION.c.at,
                               NOTICE_VERSION.c.content_hash, NOTICE_VERSION.c.reason, NOTICE_VERSION.c.event_id)
                        .where(NOTICE_VERSION.c.case_id == cid).order_by(NOTICE_VERSION.c.n))
        out["versions"] = [{"n": v.n, "event": v.event, "at": v.at, "content_hash": v.content_hash,
                            "reason": v.reason, "event_id": v.event_id} for v in vs]
        return out

    def _all_visible(self, now: datetime | None) -> list[dict[str, Any]]:
        today = _today(now)
        rows = self._rows(select(NOTICE).where(self._visible(today))
                          .order_by(NOTICE.c.published_at.desc(), NOTICE.c.case_id.desc()))
        return [self._notice_out(r, today) for r in rows]

    def export_notices_csv(self, *, now: datetime | None = None) -> str:
        r"""Visible notices as CSV: header row, cf_* columns in 信用中国 order (the four never-public
        columns omitted), then the ledger columns (``notices.EXPORT_COLUMNS``); ``\r\n`` lines."""
        return notices.to_csv(self._export_rows(now))

    def export_notices_json(self, *, now: datetime | None = None) -> list[dict[str, Any]]:
        """Visible notices as a list of dicts whose keys are ``notices.EXPORT_COLUMNS`` in order."""
        return [notices.export_row(n) for n in self._export_rows(now)]

    def _export_rows(self, now: datetime | None) -> list[dict[str, Any]]:
        out = []
        for n in self._all_visible(now):
            n = dict(n)  # noqa: PLW2901 - a copy of the same row
            n["published_at"] = n["published_day"]
            out.append(n)
        return out

    # ----------------------------------------------------------------- audit trail
    def audit_trail(self, *, actor: str | None = None, agency: str | None = None, case: str | None = None,
                    type: str | None = None, since: datetime | None = None,  # noqa: A002 - the query API's parameter name
                    until: datetime | None = None, cursor: str | None = None,
                    limit: int = 100, verify_signatures: bool = True,
                    audience: Audience = Audience.STAFF) -> tuple[list[dict[str, Any]], str | None]:
        """Entries in log order, filtered (all filters combine with AND).

        ``audience`` applies the visibility policy (projections/visibility.py): an entry withheld
        from it is its hash and position only (``position, leaf_index, case_id, n, entry_hash,
        recorded_at, withheld``). The HTTP route serves auditors and agency heads, who read as staff.

        Each item: ``position, leaf_index, case_id, n, type, actor, key_id, key_role, acting_as,
        key_status, signature, entry_hash, occurred_at, recorded_at, gap_us (recorded_at −
        occurred_at), flags[], agency_code, stream_kind``.

        ``key_status`` is the registry's verdict on the key as of the entry (``valid``,
        ``unknown_key``, ``wrong_actor``, ``revoked``, ``key_not_valid``). ``signature`` is checked
        now, on the bytes in the store: ``valid``, ``invalid``, ``altered`` (the stored entry no longer
        hashes to what was projected), ``missing``, or the key status when that is not ``valid``;
        ``unchecked`` with ``verify_signatures=False``.
        ``type`` matches exactly, or as a prefix when it ends in ``*`` (``inspection.*``);
        ``since``/``until`` bound ``recorded_at`` (inclusive/exclusive).
        """
        limit = _limit(limit)
        for name, v in (("actor", actor), ("agency", agency), ("type", type)):
            if v is not None and (not isinstance(v, str) or not v or len(v) > 200):  # noqa: PLR2004 - input bounds of the query API
                msg = f"{name} must be a non-empty string"
                raise BadQuery(msg)
        cid = _case_id(case) if case is not None else None
        lo, hi = _aware(since, "since"), _aware(until, "until")
        fp = _fingerprint(actor=actor, agency=agency, case=cid, type=type, since=lo, until=hi)
        stmt = select(AUDIT)
        if actor:
            stmt = stmt.where(AUDIT.c.actor == actor)
        if agency:
            stmt = stmt.where(AUDIT.c.agency_code == agency)
        if cid:
            stmt = stmt.where(AUDIT.c.case_id == cid)
        if type:
            stmt = stmt.where(AUDIT.c.type.like(_like(type[:-1])[1:], escape="\\") if type.endswith("*")
                              else AUDIT.c.type == type)
        if lo is not None:
            stmt = stmt.where(AUDIT.c.recorded_at >= lo)
        if hi is not None:
            stmt = stmt.where(AUDIT.c.recorded_at < hi)
        if cursor is not None:
            (after,) = _decode_cursor(cursor, "audit", fp, (int,))
            stmt = stmt.where(AUDIT.c.position > after)
        rows = self._rows(stmt.order_by(AUDIT.c.position).limit(limit + 1))
        items = [{**dict(r._mapping), "flags": [f for f in r.flags.split(",") if f]}  # noqa: SLF001 - Row._mapping is SQLAlchemy's public API
                 for r in rows[:limit]]
        statuses = self._signatures(items) if verify_signatures else {}
        for it in items:
            it["signature"] = statuses.get(it["position"], "unchecked")
            del it["public_key"]
        if audience is not Audience.STAFF:
            items = [it if entry_visible(audience, it["type"], it) else
                     {k: it[k] for k in ("position", "leaf_index", "case_id", "n", "entry_hash", "recorded_at")}
                     | {"withheld": True} for it in items]
        nxt = _encode_cursor("audit", [int(rows[limit - 1].position)], fp) if len(rows) > limit else None
        return items, nxt

    def _signatures(self, items: list[dict[str, Any]]) -> dict[int, str]:
        """Check each entry's stored bytes now: same hash as when projected, and a valid signature."""
        positions = [it["position"] for it in items]
        stored = {int(r[0]): bytes(r[1]) for r in self._rows(select(EVENTS.c.id, EVENTS.c.state)
                                                             .where(EVENTS.c.id.in_(positions)))} if positions else {}
        out: dict[int, str] = {}
        for it in items:
            pos = it["position"]
            if it["key_status"] != "valid":
                out[pos] = it["key_status"]
                continue
            state = stored.get(pos)
            if state is None:
                out[pos] = "missing"
                continue
            try:
                data, sig = decode_record(state, limits=self.limits)
            except EncodingError:
                out[pos] = "altered"
                continue
            h = entry_hash(data)
            if h.hex() != it["entry_hash"]:
                out[pos] = "altered"
            elif not check_signature(bytes.fromhex(it["public_key"]), ENTRY_CONTEXT, h, sig):
                out[pos] = "invalid"
            else:
                out[pos] = "valid"
        return out

    # ----------------------------------------------------------------- supervision
    def supervision_deadlines(self, now: datetime, *, horizon_days: int = 7,
                              agency: str | None = None) -> dict[str, Any]:
        """``{"today", "overdue": [...], "upcoming": [...], "pending": [...], "calendar": {...}}``: open
        deadlines (not met, not void) past their due day at ``now``, those due within ``horizon_days``
        (most urgent first), the deadlines still waiting for a calendar year, and whether next year's
        official calendar is missing (from 1 November) or a signed year conflicts with the package."""
        if not isinstance(horizon_days, int) or isinstance(horizon_days, bool) or not 0 <= horizon_days <= 366:  # noqa: PLR2004 - input bounds of the query API
            msg = "horizon_days must be an integer from 0 to 366"
            raise BadQuery(msg)
        if now is None:
            msg = "now is required"
            raise BadQuery(msg)
        today = _today(now)
        end = (today + timedelta(days=horizon_days)).isoformat()
        stmt = (select(DEADLINE, CASE_FILE.c.task_no, CASE_FILE.c.case_no, CASE_FILE.c.uscc)
                .join(CASE_FILE, CASE_FILE.c.case_id == DEADLINE.c.case_id)
                .where(DEADLINE.c.tracked.is_(True), DEADLINE.c.met_n.is_(None), DEADLINE.c.void_n.is_(None),
                       DEADLINE.c.due_day <= end))
        if agency:
            stmt = stmt.where(DEADLINE.c.agency_code == agency)
        rows = self._rows(stmt.order_by(DEADLINE.c.due_day, DEADLINE.c.case_id, DEADLINE.c.kind))
        overdue: list[dict[str, Any]] = []
        upcoming: list[dict[str, Any]] = []
        t = today.isoformat()
        for r in rows:
            due = date.fromisoformat(r.due_day)
            item = {"case_id": r.case_id, "task_no": r.task_no, "case_no": r.case_no, "uscc": r.uscc,
                    "agency_code": r.agency_code, "kind": r.kind, "set_n": r.set_n, "start_day": r.start_day,
                    "due_day": r.due_day, "days": r.days, "unit": r.unit, "calendar_version": r.calendar_version,
                    "status": "overdue" if r.due_day < t else ("due_today" if r.due_day == t else "open"),
                    "days_left": (due - today).days}
            (overdue if r.due_day < t else upcoming).append(item)
        waiting = select(DEADLINE, CASE_FILE.c.task_no, CASE_FILE.c.case_no, CASE_FILE.c.uscc).join(
            CASE_FILE, CASE_FILE.c.case_id == DEADLINE.c.case_id).where(
            DEADLINE.c.due_day.is_(None), DEADLINE.c.void_n.is_(None))
        if agency:
            waiting = waiting.where(DEADLINE.c.agency_code == agency)
        pending = [{"case_id": r.case_id, "task_no": r.task_no, "case_no": r.case_no, "uscc": r.uscc,
                    "agency_code": r.agency_code, "kind": r.kind, "set_n": r.set_n, "start_day": r.start_day,
                    "days": r.days, "unit": r.unit, "missing_year": r.missing_year, "met_n": r.met_n,
                    "status": "pending"}
                   for r in self._rows(waiting.order_by(DEADLINE.c.start_day, DEADLINE.c.case_id, DEADLINE.c.kind))]
        return {"today": t, "overdue": overdue, "upcoming": upcoming, "pending": pending,
                "calendar": self.calendar_status(today)}

    def calendar_status(self, today: date) -> dict[str, Any]:
        """``{"missing_next_year", "conflicts", "signed_years"}``: the operator's calendar warnings."""
        with self.engine.connect() as conn:
            cal = load_calendar(conn, limits=self.limits).calendar()
        return {"missing_next_year": cal.missing_year(today), "conflicts": cal.conflicts(),
                "signed_years": {str(y): v.version for y, v in sorted(cal.years.items())}}

    def inspection_counts(self, year: int, *, agency: str | None = None) -> list[dict[str, Any]]:
        """Per enterprise and agency: ``uscc, name, agency_code, year, count, cap, cap_version,
        remaining, over_cap, flags`` (R12), most-inspected first, and ``tasks``: the tasks of the
        year by type, a 个案 task by its source (``{"routine": 2, "case:complaint_report": 1}``)."""
        year = _year(year)
        stmt = select(ENTERPRISE_YEAR).where(ENTERPRISE_YEAR.c.year == year)
        if agency:
            stmt = stmt.where(ENTERPRISE_YEAR.c.agency_code == agency)
        rows = self._rows(stmt.order_by(ENTERPRISE_YEAR.c.count.desc(), ENTERPRISE_YEAR.c.uscc,
                                        ENTERPRISE_YEAR.c.agency_code))
        names = self._registers("enterprise", [r.uscc for r in rows])
        tasks = self._tasks_by_source(year, agency)
        return [{"uscc": r.uscc, "name": names.get(r.uscc, {}).get("name"), "agency_code": r.agency_code,
                 "year": r.year, "count": r.count, "cap": r.cap, "cap_version": r.cap_version,
                 "remaining": None if r.cap is None else r.cap - r.count, "over_cap": bool(r.over_cap),
                 "flags": list(r.flags), "tasks": tasks.get((r.uscc, r.agency_code), {})} for r in rows]

    def _tasks_by_source(self, year: int, agency: str | None) -> dict[tuple[str, str], dict[str, int]]:
        """(uscc, agency) → tasks not cancelled, by type, a 个案 task by its source
        (``case:<kind>``, issue 18): what the count of R12 is made of."""
        stmt = select(CASE_FILE.c.uscc, CASE_FILE.c.doc).where(CASE_FILE.c.year == year)
        out: dict[tuple[str, str], dict[str, int]] = {}
        for r in self._rows(stmt):
            doc = r.doc
            if doc.get("stage") == "cancelled" or not doc.get("inspection_type"):
                continue
            source = doc.get("case_source")
            key = f"case:{source['kind']}" if source else str(doc["inspection_type"])
            for code in doc.get("agencies") or ():
                if agency and code != agency:
                    continue
                bucket = out.setdefault((r.uscc, code), {})
                bucket[key] = bucket.get(key, 0) + 1
        return out

    def role_conflicts(self, *, agency: str | None = None) -> list[dict[str, Any]]:
        """Cases where one person held two roles that R37 keeps apart (``rule`` is ``R37.reviewer``,
        ``R37.decider`` or ``R9.approver``): ``case_id, task_no, agency_code, rule, person, roles, n``."""
        stmt = (select(ROLE_CONFLICT, CASE_FILE.c.task_no)
                .join(CASE_FILE, CASE_FILE.c.case_id == ROLE_CONFLICT.c.case_id))
        if agency:
            stmt = stmt.where(ROLE_CONFLICT.c.agency_code == agency)
        rows = self._rows(stmt.order_by(ROLE_CONFLICT.c.case_id, ROLE_CONFLICT.c.rule, ROLE_CONFLICT.c.person))
        return [{"case_id": r.case_id, "task_no": r.task_no, "agency_code": r.agency_code, "rule": r.rule,
                 "person": r.person, "roles": list(r.roles), "n": r.n} for r in rows]

    def feedback_by_code(self, *, year: int | None = None, agency: str | None = None) -> list[dict[str, Any]]:
        """Enterprise feedback and complaints counted by ``prohibition_code`` (R20):
        ``code, kind, count`` (summed over agencies unless ``agency`` is given)."""
        stmt = select(FEEDBACK.c.code, FEEDBACK.c.kind, func.sum(FEEDBACK.c.count))
        if year is not None:
            stmt = stmt.where(FEEDBACK.c.year == _year(year))
        if agency:
            stmt = stmt.where(FEEDBACK.c.agency_code == agency)
        rows = self._rows(stmt.group_by(FEEDBACK.c.code, FEEDBACK.c.kind).order_by(FEEDBACK.c.code, FEEDBACK.c.kind))
        return [{"code": r[0], "kind": r[1], "count": int(r[2] or 0)} for r in rows]

    def officer_activity(self, *, year: int | None = None, agency: str | None = None) -> list[dict[str, Any]]:
        """Per officer (certificate number or principal) and year: counts of what they did
        (``activities``: inspections_assigned, arrivals, certificates_shown, evidence_logged, records_signed,
        inspections_concluded, legal_reviews, decisions_made, entries_signed). Never a target,
        a quota or an amount of fines (R20)."""
        stmt = select(OFFICER_ACTIVITY)
        if year is not None:
            stmt = stmt.where(OFFICER_ACTIVITY.c.year == _year(year))
        if agency:
            stmt = stmt.where(OFFICER_ACTIVITY.c.agency_code == agency)
        rows = self._rows(stmt.order_by(OFFICER_ACTIVITY.c.officer, OFFICER_ACTIVITY.c.year,
                                        OFFICER_ACTIVITY.c.agency_code, OFFICER_ACTIVITY.c.activity))
        names = self._registers("officer", [r.officer for r in rows])
        out: dict[tuple[str, int, str | None], dict[str, Any]] = {}
        for r in rows:
            k = (r.officer, r.year, r.agency_code)
            o = out.setdefault(k, {"officer": r.officer, "name": names.get(r.officer, {}).get("name"),
                                   "year": r.year, "agency_code": r.agency_code, "activities": {}})
            o["activities"][r.activity] = int(r.count)
        return list(out.values())

    # ----------------------------------------------------------------- statistics (R61)  # noqa: ERA001 - a section rule
    def annual_statistics(self, year: int, *, agency: str | None = None) -> dict[str, Any]:
        """Counts for ``year`` (``counts[metric]["all"]`` and per dim: inspections by type/mode,
        decisions by outcome, penalties by kind, cases by class, alterations by kind, ...), the same
        for ``year - 1`` (``previous``), ``change[metric] = {previous, current, percent, text}``, a
        ``summary`` like ``"inspections −44.2 %, ..., penalties +95 %"``, ``statistics`` (the same counts
        flat, ``{"inspections": n, "inspections.type.routine": n, ...}``, the shape
        ``publish_annual_statistics`` takes), ``as_of{position, log_size, log_root}`` and ``replay_hash``
        (see ``projections.statistics``). ``agency=None``: all agencies. With an agency, ``published``
        is its ``AnnualStatisticsPublished`` record for the year (or None), with ``statistics_match``."""
        year = _year(year)
        ag = agency or _STAR
        self.ensure_tables()
        with self.engine.connect() as conn:
            pos = conn.execute(select(TRACKING.c.position).where(TRACKING.c.name == "statistics")).scalar() or 0
            out = statistics.projected_report(conn, year, ag, int(pos))
        if agency:
            published = self._registers("agency", [agency]).get(agency, {}).get("annual_statistics", {}).get(str(year))
            if published is not None:
                published = {**published, "statistics_match": published.get("statistics") == out["statistics"]}
            out["published"] = published
        return out

    def verify_annual_statistics(self, year: int, *, agency: str | None = None) -> dict[str, Any]:
        """Replay the log up to the projection's position and compare the replay hash:
        ``{ok, projected_hash, replay_hash, as_of}``. Costs a full read of the log."""
        projected = self.annual_statistics(year, agency=agency)
        with self.engine.connect() as conn:
            replay = statistics.replay_report(conn, _year(year), agency or _STAR, projected["as_of"]["position"])
        return {"ok": replay["replay_hash"] == projected["replay_hash"], "projected_hash": projected["replay_hash"],
                "replay_hash": replay["replay_hash"], "as_of": projected["as_of"]}

    # ----------------------------------------------------------------- public verification page
    def inspection_public_facts(self, case_id: str) -> dict[str, Any]:
        """Facts of one inspection anyone may see: no person ids, no QR id, no evidence, no content.

        ``case_id, task_no, agency{code,name}, enterprise{uscc,name}, inspection_type, mode,
        dispatched_day, approved, arrived_day, certificates_shown[{cert_no, name, shown_day}],
        result, result_notified_day, case_filed, decided_day, publication_status, flag_codes,
        entries, position``. Raises ``UnknownCaseFile``.
        """
        doc = self.case_file(case_id)
        day = casefile.day_of
        return {
            "case_id": doc["case_id"], "task_no": doc["task_no"],
            "agency": {"code": doc["lead_agency"], "name": doc["agency_names"].get(doc["lead_agency"])},
            "enterprise": {"uscc": doc["party"]["uscc"], "name": doc["party"].get("name")},
            "inspection_type": doc["inspection_type"], "mode": doc["mode"],
            "dispatched_day": day(doc["dispatched_at"]) if doc["dispatched_at"] else None,
            "approved": bool(doc["approvals"]), "cancelled": doc["cancelled"] is not None,
            "arrived_day": day(doc["arrival"]["at"]) if doc["arrival"] else None,
            "certificates_shown": [{"cert_no": o["cert_no"], "name": o.get("name"),
                                    "shown_day": day(o["shown_at"]) if o["shown_at"] else None}
                                   for o in doc["officers"]],
            "result": (doc["conclusion"] or {}).get("result"),
            "result_notified_day": day(doc["notified"]["at"]) if doc["notified"] else None,
            "case_filed": doc["case"] is not None,
            "decided_day": (doc["decision"] or {}).get("decided_day"),
            "publication_status": (doc["publication"] or {}).get("status"),
            "flag_codes": doc["flag_codes"], "entries": doc["last_n"], "position": doc["position"],
        }


def _iso(us: int | None) -> str:
    return "unknown" if us is None else datetime.fromtimestamp(us / 1e6, UTC).isoformat().replace("+00:00", "Z")


def _before_start(cid: str, first: Item, clock: str, when: datetime | None) -> BadAsOf:
    """The error for a time before the case's first entry: when the case starts, on both clocks."""
    given = when.isoformat() if when is not None else "?"
    msg = (f"case {cid} has no entry {clock} at or before {given}: its first entry occurred at "
           f"{_iso(first.occurred_at)} and was recorded at {_iso(first.recorded_at)}")
    return BadAsOf(msg, occurred_at=first.occurred_at, recorded_at=first.recorded_at)


def _case_row(doc: dict[str, Any]) -> dict[str, Any]:
    """One line of :meth:`Projections.list_cases`."""
    timeline = doc.get("timeline") or []
    last = timeline[-1] if timeline else {}
    return {"case_id": doc["case_id"], "task_no": doc.get("task_no"), "agency": doc.get("lead_agency"),
            "agencies": list(doc.get("agencies") or []), "enterprise": (doc.get("party") or {}).get("uscc"),
            "status": doc.get("stage"), "year": doc.get("year"),
            "last_step": {k: last.get(k) for k in ("n", "type", "occurred_at", "recorded_at")} if last else None}


def _year(year: object) -> int:
    if not isinstance(year, int) or isinstance(year, bool) or not 1949 <= year <= 9999:  # noqa: PLR2004 - input bounds of the query API
        msg = f"year must be an integer from 1949 to 9999, got {year!r}"
        raise BadQuery(msg)
    return year


def _as_entry(it: Item) -> Any:

    return Entry(case=it.case, n=it.n, type=it.type, occurred_at=it.occurred_at, actor=it.actor, key=it.key,
                 prev=it.prev, body=it.body)
