"""Projection benchmark: full rebuild rate vs raw log read rate, and lag under a steady write load.

    python -m bench.bench_projections                          # 20,000 entries, SQLite file (quick)
    python -m bench.bench_projections --entries 1000000        # the issue's size
    python -m bench.bench_projections --db postgresql+psycopg://postgres@127.0.0.1:5432/test

Setup: a ledger (tests.fakes.make_enforcement_ledger: root + the actors' keys) whose log holds
``--entries`` signed, chained entries of realistic inspection lifecycles: registers, then cases
of 15 inspection entries (dispatch → approval → arrival → certificates → evidence → record →
conclusion → notice → filing → legal review → decision → service → publication, every 4th case
also corrected or revoked-and-withdrawn) plus the enterprise-year counter's 2 entries each,
interleaved 64 cases at a time like concurrent work. The bodies are the domain's event bodies
(the same wire format the commands write), signed with the actors' registered keys and inserted
through the ledger's recorder (which appends the Merkle leaves), in transactions of 2,000. The
build is done once per database file and reused.

Measured, each the median of ``--runs``:
* raw read: every notification read in id order, in pages of ``--batch`` (``SELECT id, state``
  joined with the Merkle leaf for ``recorded_at``, the runner's own query), bytes only;
* raw read + fast decode: the same plus the runner's msgpack decoding and entry hash;
* raw read + checked decode: the same with ``ledger.chain``'s canonical-form checks instead;
* ceilings: the fast-decode read is the most a one-process rebuild could reach (it must at least
  decode every entry); the same read split into ``--jobs`` processes as the partitioned rebuild
  splits it (each reads every row and decodes its own streams') is the partitioned rebuild's;
* full rebuild of all five projections as ``caseledger rebuild`` does it (``projections.bulk``:
  drop, create, fold from 0 with rows written once) in one process (the headline figure) and with
  the streams partitioned over ``--jobs`` processes (default 2), and of each projection alone with
  ``--per-projection``; with ``--incremental`` also once through the ordinary exactly-once batches
  of ``--batch`` (what a rebuild cost before the bulk path);
* lag under load: a writer appends ``--write-rate`` entries/s (transactions of 10) for
  ``--duration`` s while a worker process follows the log (``python -m projections.worker
  --follow``); sampled every 50 ms: entries behind (head − slowest position) and seconds behind
  (now − commit time of the oldest write not yet projected by every projection).

Results are printed and written to ``bench/out/projections.json`` (and ``projections-pg.json``).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent
from sqlalchemy import create_engine, inspect, select

from bench.common import drop_pg_schema, fresh_pg_schema, percentile, write_result
from domain.calendar import SHANGHAI
from ledger.chain import Entry, decode_entry, decode_record, encode_entry, encode_record
from ledger.codec import to_micros
from ledger.hashing import entry_hash, genesis_prev, key_id
from ledger.merkle_store import leaf_join_sql
from ledger.signing import ENTRY_CONTEXT, sign
from projections.bulk import oid_part
from projections.runner import ProjectionRunner, projection_names
from projections.source import EVENTS, LOG, decode_item, head_position, read_raw
from projections.tables import TRACKING
from tests.fakes import make_enforcement_ledger, seeded_key

HERE = Path(__file__).resolve().parent
AGENCY = "11350100MB00000012"
ACTORS = ["reg", "head", "p1", "C1", "C2", "dispatcher", "r1", "pub"]
NS = uuid.UUID("5b1d2a57-0000-4000-8000-00000000b0b0")
H = "a" * 64
DAY = 86_400_000_000
INTERLEAVE = 64
TXN = 2000


def log(msg: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def _due(start: str, due: str, days: int, unit: str = "working_days") -> dict[str, Any]:
    return {"start": start, "due": due, "days": days, "unit": unit, "calendar_version": "chinesecalendar-1.11.0"}


CONTENT = {
    "cf_xdr_mc": "某食品公司", "cf_xdr_lb": "法人及非法人组织", "cf_frdb": "张三", "cf_wsh": "榕市监罚〔2025〕1号",
    "cf_wfxw": "销售过期食品", "cf_sy": "经查，当事人销售超过保质期的食品。", "cf_yj": "《食品安全法》第一百二十四条",
    "cf_cflb": "罚款", "cf_nr": "罚款人民币贰仟元", "cf_nr_fk": "0.2", "cf_jdrq": "2025-09-26", "cf_yxq": "2026-09-26",
    "cf_gsjzq": "2026-09-26", "cf_cfjg": "市场监管局", "cf_cfjgdm": AGENCY, "cf_sjly": "市场监管局",
    "cf_sjlydm": AGENCY,
}


def lifecycle(j: int, uscc: str, case: str) -> list[tuple[str, str, int, dict[str, Any]]]:
    """(wire type, actor, minutes after dispatch, body) of one case's inspection entries."""
    officers = [{"cert_no": "C1", "person_id": "p1"}, {"cert_no": "C2", "person_id": "p2"}]
    asg = [{"agency_code": AGENCY, "item_codes": ["I1"], "categories": ["food"], "officers": officers,
            "frequency": {"ytd_before": 0, "cap": 50, "cap_version": 1, "sector": "food", "risk_class": "B"},
            "item_list": {"kind": "item_list", "version": 1, "content_hash": "sha256:" + H},
            "plan": None, "no_penalty_items": [], "assistance_request_ref": None}]
    content = {**CONTENT, "cf_xdr_shxym": uscc, "cf_wsh": f"榕市监罚〔2025〕{j}号"}
    pub = {"regime": "penalty_118", "content": content, "content_hash": "sha256:" + H, "redaction_map": {
        "cf_fr_zjhm": "个人信息"}, "redaction_map_hash": "sha256:" + H, "redaction_reviewer": "r1",
        "served_document_hash": "sha256:" + H, "decision_version": 1, "flags": []}
    steps: list[tuple[str, str, int, dict[str, Any]]] = [
        ("inspection.dispatched.v1", "dispatcher", 0, {
            "task_no": f"B-{j}", "lead_agency": AGENCY, "inspection_type": ("routine", "case", "special")[j % 3],
            "mode": "on_site", "uscc": uscc, "year": 0, "assignments": asg, "plan": None, "special_approval": None,
            "random_draw_ref": None, "emergency": False, "legal_rep_required": False, "legal_rep_basis": None,
            "flags": [], "flag_reason": None}),
        ("inspection.approved.v1", "head", 30, {"agency_code": AGENCY, "approver": "head",
                                                "approver_role": "subject_head", "retroactive": False, "flags": []}),
        ("inspection.arrived.v1", "p1", 1500, {"scan": {"code_id": "Q", "uscc": uscc, "scanned_at": 1},
                                               "location": "x", "flags": []}),
        ("inspection.certificate_shown.v1", "C1", 1505, {"cert_no": "C1", "person_id": "p1"}),
        ("inspection.certificate_shown.v1", "C2", 1505, {"cert_no": "C2", "person_id": "p2"}),
        ("inspection.evidence_logged.v1", "p1", 1530, {
            "evidence_id": "EV-1", "evidence_type": "书证", "sha256": H, "size": 1, "media_type": "image/jpeg",
            "source": "on_site", "capture": {"device_id": "cam-7"}, "officers": ["C1", "C2"], "lawful": True,
            "admissible": True, "post_decision": False, "flags": []}),
        ("inspection.record_signed.v1", "p1", 1560, {"record_hash": H, "officers": ["C1", "C2"],
                                                     "party_signature": "s", "refusal_note": None, "witness": None}),
        ("inspection.concluded.v1", "p1", 1590, {"result": "case_filed", "officers": ["C1", "C2"],
                                                 "rectification_due": None,
                                                 "result_notice_due": _due("2025-09-02", "2025-09-05", 3)}),
        ("inspection.result_notified.v1", "p1", 1620, {"recipient": "m", "summary_hash": H, "qr_id": "q" * 32,
                                                       "flags": []}),
        ("inspection.case_filed.v1", "p1", 2880, {"case_no": f"C-{j}", "investigators": ["p1"],
                                                  "case_class": "ordinary", "requires_legal_review": True,
                                                  "decision_due": _due("2025-09-03", "2025-12-02", 90,
                                                                       "natural_days")}),
        ("inspection.legal_review_given.v1", "r1", 27_000, {
            "reviewer": "r1", "draft_hash": "b" * 64, "result": "pass", "checklist": {"procedure": "ok"},
            "first_time": False, "legal_qualification": True}),
        ("inspection.decided.v1", "head", 36_000, {
            "decision_no": f"罚{j}", "outcome": "penalty", "draft_hash": "b" * 64, "decider": "head",
            "decider_role": "agency_head", "evidence_refs": ["EV-1"], "penalty_kinds": ["罚款"],
            "fine_fen": 200_000 + j % 7 * 10_000, "benchmark": None, "legal_review_seq": 11,
            "regime": "penalty_118", "publishable": True, "service_due": _due("2025-09-26", "2025-10-13", 7),
            "publication_due": _due("2025-09-26", "2025-10-13", 7), "justification": None, "flags": []}),
        ("inspection.served.v1", "p1", 36_300, {"method": "direct", "documents": ["行政处罚决定书"],
                                                "document_hash": "sha256:" + H, "consent_ref": None,
                                                "publication_notice": True, "decision_version": 1, "flags": []}),
        ("inspection.published.v1", "pub", 40_000, pub),
    ]
    if j % 4 == 1:
        steps.append(("inspection.publication_corrected.v1", "pub", 41_000, {
            **{k: v for k, v in pub.items() if k not in ("regime", "served_document_hash", "decision_version",
                                                         "flags")},
            "supersedes_seq": 14, "reason": "更正", "content_hash": "sha256:" + "c" * 64}))
    elif j % 4 == 3:
        steps.append(("inspection.decision_altered.v1", "head", 41_000, {
            "kind": "revoked", "reason": "复议撤销", "basis_ref": "复议-1", "new_draft_hash": None,
            "withdrawal_due": _due("2025-09-30", "2025-10-10", 3), "republication_due": None}))
        steps.append(("inspection.publication_withdrawn.v1", "pub", 42_000, {
            "reason_text": "已撤销", "cause_seq": 15, "flags": []}))
    _ = case
    return steps


class Signer:
    def __init__(self) -> None:
        self.keys = {a: seeded_key(a) for a in ACTORS}
        self.kids = {a: key_id(bytes(k.verify_key)) for a, k in self.keys.items()}

    def stored(self, case: uuid.UUID, n: int, wire: str, actor: str, at: int, body: dict[str, Any],
               prev: bytes) -> tuple[StoredEvent, bytes]:
        e = Entry(case=str(case), n=n, type=wire, occurred_at=at, actor=actor, key=self.kids[actor], prev=prev,
                  body=body)
        data = encode_entry(e)
        h = entry_hash(data)
        return StoredEvent(originator_id=case, originator_version=n, topic=wire,
                           state=encode_record(data, sign(self.keys[actor], ENTRY_CONTEXT, h))), h


def case_entries(signer: Signer, j: int) -> Iterator[StoredEvent]:
    """One case's entries in order: inspection stream interleaved with its enterprise-year stream."""
    case = uuid.uuid5(NS, f"case-{j}")
    ey = uuid.uuid5(NS, f"ey-{j}")
    uscc = f"91350100M{j:08d}X"[:18]
    base = to_micros(T0) + (j % 700) * DAY - 350 * DAY  # spread over two years
    year = (T0 + timedelta(microseconds=base - to_micros(T0))).astimezone(SHANGHAI).year
    prev, ey_prev = genesis_prev(str(case)), genesis_prev(str(ey))
    for n, (wire, actor, minutes, step_body) in enumerate(lifecycle(j, uscc, str(case)), start=1):
        at = base + minutes * 60_000_000
        body = {**step_body, "year": year} if n == 1 else step_body
        se, prev = signer.stored(case, n, wire, actor, at, body, prev)
        yield se
        if n == 1:
            se, ey_prev = signer.stored(ey, 1, "enterprise_year.opened.v1", "dispatcher", at,
                                        {"uscc": uscc, "agency_code": AGENCY, "year": year}, ey_prev)
            yield se
            se, ey_prev = signer.stored(ey, 2, "enterprise_year.inspection_counted.v1", "dispatcher", at,
                                        {"inspection_id": str(case), "ytd_before": 0, "cap": 50, "cap_version": 1,
                                         "flags": []}, ey_prev)
            yield se


def interleaved(signer: Signer, first: int, count: int) -> Iterator[StoredEvent]:
    """Cases ``first .. first+count-1``, INTERLEAVE at a time, round-robin by step."""
    for g in range(first, first + count, INTERLEAVE):
        gens = [case_entries(signer, j) for j in range(g, min(g + INTERLEAVE, first + count))]
        while gens:
            nxt = []
            for gen in gens:
                se = next(gen, None)
                if se is not None:
                    yield se
                    nxt.append(gen)
            gens = nxt


T0 = __import__("datetime").datetime(2025, 3, 3, 9, 0, tzinfo=SHANGHAI)
MIN_PER_CASE = 12  # fewer entries than any case has: generating need / MIN_PER_CASE cases is enough


def build(url: str, entries: int) -> tuple[Any, int]:
    """The ledger with about ``entries`` entries (reused if the database already has them)."""
    probe = create_engine(url)
    exists = inspect(probe).has_table(EVENTS.name)
    probe.dispose()
    if exists:  # reuse: open without writing the key registry again
        from api.bootstrap import bootstrap, domain_event_types
        from api.settings import Settings
        from ledger.signers import LocalSigner

        c = bootstrap(Settings(db_url=url), signer=LocalSigner({a: seeded_key(a) for a in ACTORS}),
                      event_types=domain_event_types())
    else:
        c = make_enforcement_ledger(url, ACTORS)
    with c.engine.connect() as conn:
        have = head_position(conn)
    if have >= entries:
        log(f"reusing {have} entries in {url}")
        return c, 0
    signer = Signer()
    t = time.perf_counter()
    buf: list[StoredEvent] = []
    done = 0
    need = entries - have
    # Case numbers start at ``have`` so a top-up never reuses a case id; the last cases may stop
    # part-way through their lifecycle, like work in progress.
    # Generate more cases than the average needs (the average varies with the story mix); the
    # count check stops at exactly ``entries``.
    for k, se in enumerate(interleaved(signer, have, int(need / MIN_PER_CASE) + INTERLEAVE + 1)):
        if k >= need:
            break
        buf.append(se)
        if len(buf) >= TXN:
            c.app.recorder.insert_events(buf)
            done += len(buf)
            buf = []
            if done % 100_000 < TXN:
                log(f"built {done} entries ({done / (time.perf_counter() - t):,.0f}/s)")
    if buf:
        c.app.recorder.insert_events(buf)
        done += len(buf)
    secs = time.perf_counter() - t
    log(f"built {done} entries in {secs:.0f} s")
    return c, int(secs)


# ----------------------------------------------------------------------------- measurements
def raw_read(engine: Any, batch: int, *, decode: str | None) -> tuple[float, int, float]:
    """(entries/s wall, entries, entries per CPU-second of this process)."""
    t, cpu = time.perf_counter(), time.process_time()
    n, pos = 0, 0
    with engine.connect() as conn:
        while True:
            rows = read_raw(conn, pos, batch)
            if not rows:
                break
            if decode == "checked":
                for r in rows:
                    data, _ = decode_record(bytes(r[1]))
                    decode_entry(data)
            elif decode == "fast":
                for r in rows:
                    decode_item(r[0], r[1], r[2], r[3])
            n += len(rows)
            pos = rows[-1][0]
    return n / (time.perf_counter() - t), n, n / max(1e-9, time.process_time() - cpu)


def _decode_part(url: str, part: int, parts: int, batch: int, out: Any) -> None:
    """One partition of :func:`decode_ceiling`: read every row, decode this partition's (child process)."""
    engine = create_engine(url)
    n, pos = 0, 0
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        while True:
            cur = raw.cursor()  # type: ignore[union-attr]
            cur.execute(_CEILING_SQL.format(ph="?" if url.startswith("sqlite") else "%s"), (pos, batch))
            rows = cur.fetchall()
            cur.close()
            if not rows:
                break
            for r in rows:
                if oid_part(r[4], parts) == part:
                    decode_item(r[0], r[1], r[2], r[3])
                    n += 1
            pos = rows[-1][0]
    engine.dispose()
    out.put(n)


_CEILING_SQL = (f"SELECT e.id, e.state, l.pos / 2, l.recorded_at, e.originator_id FROM {EVENTS.name} e "
                f"LEFT OUTER JOIN {LOG.nodes.name} l ON {leaf_join_sql('e', 'l', LOG.runs.name)} WHERE e.id > {{ph}} "
                f"ORDER BY e.id LIMIT {{ph}}")


def decode_ceiling(url: str, batch: int, jobs: int) -> float:
    """Entries/s of reading the log and decoding every entry, with no projection work, split into
    ``jobs`` processes as the partitioned rebuild splits it (each reads every row, decodes its own
    streams'). Any rebuild must at least do this, so this rate bounds the partitioned rebuild's."""
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    t = time.perf_counter()
    procs = [ctx.Process(target=_decode_part, args=(url, k, jobs, batch, q)) for k in range(jobs)]
    for p in procs:
        p.start()
    n = sum(q.get() for _ in procs)
    for p in procs:
        p.join()
    return n / (time.perf_counter() - t)


def rebuild(engine: Any, batch: int, names: list[str] | None = None, *, jobs: int | None = None,
            fast: bool = True) -> tuple[float, int, float]:
    """``caseledger rebuild``'s path (the bulk rebuild, ``jobs`` partitions; None = one per CPU), or with
    ``fast=False`` the ordinary exactly-once batches of ``batch``. CPU time is this process's only (the
    partitions' worker processes are not counted)."""
    t, cpu = time.perf_counter(), time.process_time()
    n = ProjectionRunner(engine, names, batch_size=batch).rebuild(batch_size=batch, jobs=jobs, fast=fast)
    return n / (time.perf_counter() - t), n, n / max(1e-9, time.process_time() - cpu)


def lag_under_load(url: str, c: Any, rate: int, duration: float, batch: int, first_case: int) -> dict[str, Any]:
    """Writer thread at ``rate`` entries/s; a follower process; sample lag every 50 ms."""
    engine = c.engine
    ProjectionRunner(engine).run()  # start caught up
    signer = Signer()
    need = int(rate * duration) + 100
    log(f"pre-signing {need} entries for the write load")
    pending = list(interleaved(signer, first_case, int(need / MIN_PER_CASE) + 1))[:need]
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    follower = subprocess.Popen([sys.executable, "-m", "projections.worker", "--db", url, "--follow",
                                 "--batch", str(batch)], stdout=subprocess.DEVNULL, env=env, cwd=HERE.parent)
    stop = threading.Event()
    written = [0]
    committed: list[tuple[int, float]] = []  # (last notification id of a write, wall time after commit)

    def writer() -> None:
        per_txn = 10
        interval = per_txn / rate
        nxt = time.perf_counter()
        i = 0
        while not stop.is_set() and i < len(pending):
            ids = c.app.recorder.insert_events(pending[i:i + per_txn])
            committed.append((max(ids), time.time()))
            i += per_txn
            written[0] = i
            nxt += interval
            delay = nxt - time.perf_counter()
            if delay > 0:
                time.sleep(delay)

    time.sleep(1.0)  # let the follower start
    samples_n: list[int] = []
    samples_s: list[float] = []
    w = threading.Thread(target=writer)
    t0 = time.perf_counter()
    w.start()
    try:
        while time.perf_counter() - t0 < duration:
            time.sleep(0.05)
            with engine.connect() as conn:
                head = head_position(conn)
                low = conn.execute(select(TRACKING.c.position).order_by(TRACKING.c.position).limit(1)).scalar() or 0
            now = time.time()
            samples_n.append(max(0, head - low))
            # Seconds behind: since the commit of the oldest write the slowest projection has not finished.
            waiting = [t for last, t in list(committed) if last > low]
            samples_s.append(max(0.0, now - waiting[0]) if waiting else 0.0)
    finally:
        stop.set()
        w.join()
        follower.terminate()
        follower.wait(timeout=30)
    achieved = written[0] / (time.perf_counter() - t0)
    return {"write_rate_target": rate, "write_rate_achieved": round(achieved, 1), "duration_s": duration,
            "samples": len(samples_n),
            "lag_entries": {"median": statistics.median(samples_n), "p95": percentile(samples_n, 95),
                            "max": max(samples_n)},
            "lag_seconds": {"median": round(statistics.median(samples_s), 3),
                            "p95": round(percentile(samples_s, 95), 3), "max": round(max(samples_s), 3)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--entries", type=int, default=20_000)
    ap.add_argument("--db", default=None, help="database URL (default: SQLite file bench/out/projections-N.db); "
                                               "a PostgreSQL URL gets a fresh schema")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=5000, help="notifications per read page and per rebuild batch")
    ap.add_argument("--per-projection", action="store_true")
    ap.add_argument("--jobs", type=int, default=None, help="partitions for the partitioned rebuild (default 2)")
    ap.add_argument("--incremental", action="store_true",
                    help="also time one rebuild through the ordinary exactly-once batches (slow)")
    ap.add_argument("--write-rate", type=int, default=200)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema")
    args = ap.parse_args()
    pg = args.db is not None and args.db.startswith("postgresql")
    if pg:
        url = fresh_pg_schema(args.db)
    else:
        url = args.db or f"sqlite:///{HERE / 'out' / f'projections-{args.entries}.db'}"
        (HERE / "out").mkdir(exist_ok=True)
    try:
        c, build_s = build(url, args.entries)
        engine = create_engine(url, connect_args={"timeout": 30}) if url.startswith("sqlite") else c.engine
        with engine.connect() as conn:
            total = head_position(conn)
            cases = conn.execute(select(EVENTS.c.originator_id).distinct().limit(10**9)).rowcount
        result: dict[str, Any] = {"backend": "postgresql" if pg else "sqlite", "entries": total,
                                  "build_seconds": build_s, "batch": args.batch, "runs": args.runs}
        _ = cases
        raw, raw_fast, raw_dec, full, full1, ceil = [], [], [], [], [], []
        for r in range(args.runs):
            raw.append(raw_read(engine, args.batch, decode=None))
            raw_fast.append(raw_read(engine, args.batch, decode="fast"))
            raw_dec.append(raw_read(engine, args.batch, decode="checked"))
            ceil.append(decode_ceiling(url, args.batch, args.jobs or 2))
            full.append(rebuild(engine, args.batch, jobs=args.jobs or 2))
            full1.append(rebuild(engine, args.batch, jobs=1))
            log(f"run {r + 1}: raw read {raw[-1][0]:,.0f}/s (cpu {raw[-1][2]:,.0f}), +fast decode "
                f"{raw_fast[-1][0]:,.0f}/s, +checked decode {raw_dec[-1][0]:,.0f}/s "
                f"(cpu {raw_dec[-1][2]:,.0f}), read+fast decode in {args.jobs or 2} processes {ceil[-1]:,.0f}/s, "
                f"rebuild in one process {full1[-1][0]:,.0f}/s (cpu {full1[-1][2]:,.0f}) "
                f"({full1[-1][1]}), in {args.jobs or 2} partitions {full[-1][0]:,.0f}/s")

        def med(xs: list[tuple[float, int, float]], i: int) -> float:
            return statistics.median(x[i] for x in xs)

        result["raw_read_per_s"] = round(med(raw, 0))
        result["raw_read_fast_decode_per_s"] = round(med(raw_fast, 0))
        result["raw_read_decode_per_s"] = round(med(raw_dec, 0))
        # Ceilings: what a rebuild that decoded every entry and did nothing else would reach.
        result["ceiling_one_process_vs_raw_read"] = round(med(raw_fast, 0) / med(raw, 0), 3)
        result["raw_read_fast_decode_partitioned_per_s"] = round(statistics.median(ceil))
        result["ceiling_partitioned_vs_raw_read"] = round(statistics.median(ceil) / med(raw, 0), 3)
        # Headline: `caseledger rebuild` (bulk path, one process); also the same in partitions.
        result["rebuild_all_per_s"] = round(med(full1, 0))
        result["rebuild_partitions"] = args.jobs or 2
        result["rebuild_all_partitioned_per_s"] = round(med(full, 0))
        result["rebuild_partitioned_vs_raw_read"] = round(med(full, 0) / med(raw, 0), 3)
        result["rebuild_vs_raw_read"] = round(med(full1, 0) / med(raw, 0), 3)
        result["rebuild_vs_raw_read_decode"] = round(med(full1, 0) / med(raw_dec, 0), 3)
        result["rebuild_vs_raw_read_fast_decode"] = round(med(full1, 0) / med(raw_fast, 0), 3)
        result["per_cpu_second"] = {"raw_read": round(med(raw, 2)), "raw_read_fast_decode": round(med(raw_fast, 2)),
                                    "raw_read_decode": round(med(raw_dec, 2)),
                                    "rebuild_all_one_process": round(med(full1, 2))}
        result["load_average"] = os.getloadavg()
        if args.incremental:
            inc = rebuild(engine, args.batch, fast=False)
            result["rebuild_incremental_batches_per_s"] = round(inc[0])
            log(f"rebuild in exactly-once batches of {args.batch}: {inc[0]:,.0f}/s")
        if args.per_projection:
            per: dict[str, int] = {}
            for name in projection_names():
                rates = [rebuild(engine, args.batch, [name], jobs=1)[0] for _ in range(args.runs)]
                per[name] = round(statistics.median(rates))
                log(f"rebuild {name}: {per[name]:,}/s")
            result["rebuild_per_projection_per_s"] = per
        result["lag"] = lag_under_load(url, c, args.write_rate, args.duration, args.batch,
                                       first_case=10_000_000 + total)
        log(f"lag: {result['lag']}")
        out = write_result("projections-pg" if pg else "projections", result)
        print(f"entries {total}: raw read {result['raw_read_per_s']:,}/s, raw read+decode "
              f"{result['raw_read_decode_per_s']:,}/s, full rebuild {result['rebuild_all_per_s']:,}/s "
              f"({result['rebuild_vs_raw_read']:.0%} of raw read, {result['rebuild_vs_raw_read_decode']:.0%} of "
              f"read+decode; decoding alone reaches {result['ceiling_one_process_vs_raw_read']:.0%} in one process, "
              f"{result['ceiling_partitioned_vs_raw_read']:.0%} in {result['rebuild_partitions']}); "
              f"lag at {result['lag']['write_rate_achieved']}/s writes: median "
              f"{result['lag']['lag_entries']['median']} entries / {result['lag']['lag_seconds']['median']} s, "
              f"p95 {result['lag']['lag_entries']['p95']} / {result['lag']['lag_seconds']['p95']} s -> {out}")
    finally:
        if pg and not args.keep:
            drop_pg_schema(url)


if __name__ == "__main__":
    main()
