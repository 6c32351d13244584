"""Signed, chained, logged appends vs eventsourcing's NATIVE persistence (issues 2 and 16).

python -m bench.bench_append [--saves 300] [--rounds 5] [--writers 16] [--pg URL] [--no-pg]

Baseline: the same ``Ticket`` aggregate in a plain eventsourcing ``Application`` on the library's
own persistence modules, ``eventsourcing.sqlite`` (a SQLite file) and ``eventsourcing.postgres``
(the same PostgreSQL database, its own schema) -- not eventsourcing-sqlalchemy. For each backend
it times, in interleaved rounds (ledger, native, ledger, ...), medians reported:

- one writer, 1 and 10 events per save (``saves`` saves per round);
- ``writers`` threads saving concurrently, 1 event per save (``saves`` saves per round in all),
  where the ledger's group commit (ADR 0008) shares one transaction among the queued saves.

The ledger side also reports how many saves its batches carried (mean batch size).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from sqlalchemy.engine import make_url

from bench.common import PG_DEFAULT, drop_pg_schema, fresh_pg_schema, ledger_with_officers, write_result
from tests.fakes import Ticket


class Plain(Application[uuid.UUID]):
    """The baseline: eventsourcing with its native persistence module and default mapper."""

    name = "Plain"


def native_sqlite(path: Path) -> Plain:
    return Plain(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path),
                      "SQLITE_LOCK_TIMEOUT": "30"})


def native_postgres(url: str, writers: int) -> Plain:
    u = make_url(url.split("?", maxsplit=1)[0])
    schema = url.partition("?options=-csearch_path%3D")[2]
    return Plain(env={"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": u.database or "postgres",
                      "POSTGRES_HOST": u.host or "127.0.0.1", "POSTGRES_PORT": str(u.port or 5432),
                      "POSTGRES_USER": u.username or "postgres", "POSTGRES_PASSWORD": u.password or "",
                      "POSTGRES_SCHEMA": schema, "POSTGRES_POOL_SIZE": str(writers + 1),
                      "POSTGRES_MAX_OVERFLOW": "4", "CREATE_TABLE": "y"})


def _save(app: Any, actor: str, i: int, per_save: int) -> None:
    t = Ticket(actor=actor, title=f"t{i}")
    for k in range(per_save - 1):
        t.note(actor=actor, text="现场检查记录", amount=k)
    app.save(t)


def run_saves(app: Any, saves: int, per_save: int) -> float:
    """Events per second for ``saves`` saves of ``per_save`` events each, one writer."""
    start = time.perf_counter()
    for i in range(saves):
        _save(app, "officer0", i, per_save)
    return saves * per_save / (time.perf_counter() - start)


def run_concurrent(app: Any, saves: int, writers: int) -> float:
    """Events per second for ``saves`` one-event saves spread over ``writers`` threads."""
    each = saves // writers
    barrier = threading.Barrier(writers + 1)
    errors: list[BaseException] = []

    def work(w: int) -> None:
        barrier.wait()
        try:
            for i in range(each):
                _save(app, f"officer{w % 8}", i, 1)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return each * writers / elapsed


def _cell(name: str, label: str, led: list[float], nat: list[float], extra: str = "") -> dict[str, Any]:
    m_led, m_nat = statistics.median(led), statistics.median(nat)
    print(f"{name:8s} {label:12s} ledger {m_led:8.0f} ev/s  native {m_nat:8.0f} ev/s  ratio {m_led / m_nat:.2f}"
          f"{extra}", flush=True)
    return {"ledger_events_per_s": round(m_led), "native_events_per_s": round(m_nat),
            "ratio": round(m_led / m_nat, 3), "ledger_runs": [round(x) for x in led],
            "native_runs": [round(x) for x in nat]}


def bench_backend(name: str, ledger: Any, native: Any, saves: int, rounds: int, writers: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for per_save in (1, 10):
        run_saves(ledger, 20, per_save)  # warm up
        run_saves(native, 20, per_save)
        led, nat = [], []
        for _ in range(rounds):
            led.append(run_saves(ledger, saves, per_save))
            nat.append(run_saves(native, saves, per_save))
        out[f"{per_save}_per_save"] = _cell(name, f"1w {per_save}/save", led, nat)
    committer = ledger._committer  # noqa: SLF001 - the batch statistics
    run_concurrent(ledger, 4 * writers, writers)  # warm up (connections, threads)
    run_concurrent(native, 4 * writers, writers)
    led, nat = [], []
    before = dict(committer.batches) if committer is not None else {}
    for _ in range(rounds):
        led.append(run_concurrent(ledger, saves, writers))
        nat.append(run_concurrent(native, saves, writers))
    mean_batch = None
    if committer is not None:
        sizes = {s: k - before.get(s, 0) for s, k in committer.batches.items() if k - before.get(s, 0)}
        mean_batch = sum(s * k for s, k in sizes.items()) / max(1, sum(sizes.values()))
    out[f"{writers}_writers"] = _cell(name, f"{writers}w 1/save", led, nat,
                                      f"  (mean batch {mean_batch:.1f})" if mean_batch else "")
    out[f"{writers}_writers"]["ledger_mean_batch"] = mean_batch
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--saves", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--writers", type=int, default=16)
    ap.add_argument("--pg", default=os.environ.get("CASELEDGER_TEST_PG_URL", PG_DEFAULT))
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--no-sqlite", action="store_true")
    a = ap.parse_args()
    results: dict[str, Any] = {"saves_per_round": a.saves, "rounds": a.rounds, "writers": a.writers}
    if not a.no_sqlite:
        with tempfile.TemporaryDirectory() as d:
            ledger = ledger_with_officers(f"sqlite:///{Path(d) / 'l.db'}").app
            results["sqlite"] = bench_backend("sqlite", ledger, native_sqlite(Path(d) / "n.db"), a.saves, a.rounds,
                                              a.writers)
    if not a.no_pg:
        u1, u2 = fresh_pg_schema(a.pg), fresh_pg_schema(a.pg)
        try:
            ledger = ledger_with_officers(u1).app
            native = native_postgres(u2, a.writers)
            results["postgres"] = bench_backend("postgres", ledger, native, a.saves, a.rounds, a.writers)
            native.close()
            ledger.close()
        finally:
            drop_pg_schema(u1)
            drop_pg_schema(u2)
    print("wrote", write_result("append", results))


if __name__ == "__main__":
    main()
