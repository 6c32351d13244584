"""Shared helpers for benchmarks: timing, medians, result files, a fast ledger generator."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent
from nacl.signing import SigningKey

from api.bootstrap import Container, bootstrap
from api.settings import Settings
from ledger.application import key_body
from ledger.chain import Entry, encode_entry, encode_record
from ledger.codec import to_micros
from ledger.hashing import entry_hash, genesis_prev, key_id
from ledger.signers import LocalSigner
from ledger.signing import ENTRY_CONTEXT, sign
from tests.fakes import T0, TEST_TYPES

OUT = Path(__file__).resolve().parent / "out"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def median_of(fn: Callable[[], float], rounds: int) -> tuple[float, list[float]]:
    xs = [fn() for _ in range(rounds)]
    return statistics.median(xs), xs


def percentile(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def write_result(name: str, data: dict[str, Any]) -> Path:
    OUT.mkdir(exist_ok=True)
    data = {"bench": name, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, **data}
    p = OUT / f"{name}.json"
    p.write_text(json.dumps(data, indent=1, default=str))
    return p


def fresh_pg_schema(base: str) -> str:
    """A PostgreSQL URL with its own empty schema (bench isolation)."""
    from sqlalchemy import create_engine, text

    schema = "bench_" + uuid.uuid4().hex[:10]
    eng = create_engine(base)
    with eng.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    eng.dispose()
    return f"{base}?options=-csearch_path%3D{schema}"


def drop_pg_schema(url: str) -> None:
    from sqlalchemy import create_engine, text

    base, _, opts = url.partition("?options=-csearch_path%3D")
    eng = create_engine(base)
    with eng.begin() as c:
        c.execute(text(f"DROP SCHEMA IF EXISTS {opts} CASCADE"))
    eng.dispose()


OFFICERS = [SigningKey(bytes([10 + i]) * 32) for i in range(8)]
ROOT = SigningKey(bytes([1]) * 32)


def ledger_with_officers(url: str) -> Container:
    signer = LocalSigner({"root": ROOT, **{f"officer{i}": k for i, k in enumerate(OFFICERS)}})
    c = bootstrap(Settings(db_url=url), signer=signer, event_types=TEST_TYPES,
                  clock=lambda: time.time_ns() // 1000)
    reg = c.app.open_ledger(ROOT, principal="root", at=T0)
    for i, k in enumerate(OFFICERS):
        reg.register(actor="root", at=T0, key=key_body(k, f"officer{i}", "officer", "custodial", to_micros(T0)))
    c.app.save(reg)
    return c


def bulk_fill(c: Container, n_entries: int, per_case: int = 10, batch: int = 2000,
              progress: Callable[[int], None] | None = None) -> None:
    """Append ``n_entries`` signed, chained entries fast (same bytes the application writes)."""
    t0 = to_micros(T0) + 60_000_000
    buf: list[StoredEvent] = []
    made = 0
    while made < n_entries:
        case = uuid.uuid4()
        prev = genesis_prev(str(case))
        k = made // per_case % len(OFFICERS)
        sk = OFFICERS[k]
        kid = key_id(bytes(sk.verify_key))
        for n in range(1, min(per_case, n_entries - made) + 1):
            etype = "test.ticket_opened.v1" if n == 1 else "test.ticket_noted.v1"
            body = {"title": f"case {made}"} if n == 1 else {"text": "现场检查记录 " * 4, "amount": n * 100}
            e = Entry(case=str(case), n=n, type=etype, occurred_at=t0 + made, actor=f"officer{k}", key=kid,
                      prev=prev, body=body)
            data = encode_entry(e)
            h = entry_hash(data)
            buf.append(StoredEvent(originator_id=case, originator_version=n, topic=etype,
                                   state=encode_record(data, sign(sk, ENTRY_CONTEXT, h))))
            prev = h
            made += 1
        if len(buf) >= batch or made >= n_entries:
            c.app.recorder.insert_events(buf)
            if progress:
                progress(len(buf))
            buf = []
