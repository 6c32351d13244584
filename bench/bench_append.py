"""Signed, chained appends vs plain eventsourcing on the same backend (issue 2).

python -m bench.bench_append [--saves 300] [--rounds 5] [--pg URL]

For each backend (SQLite file, PostgreSQL) and batch size (1 and 10 events per save), it times
``rounds`` runs of ``saves`` saves, alternating ledger and baseline runs so that machine noise hits
both alike, and reports medians of events per second and the ratio ledger / baseline.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from eventsourcing.application import Application

from bench.common import PG_DEFAULT, drop_pg_schema, fresh_pg_schema, ledger_with_officers, median_of, write_result
from tests.fakes import Ticket


class Plain(Application[uuid.UUID]):
    """The baseline: eventsourcing + eventsourcing-sqlalchemy with its default mapper."""

    name = "Plain"


def plain_app(url: str) -> Plain:
    return Plain(env={"PERSISTENCE_MODULE": "eventsourcing_sqlalchemy", "SQLALCHEMY_URL": url})


def run_saves(app: Any, saves: int, per_save: int) -> float:
    """Events per second for ``saves`` saves of ``per_save`` events each."""
    start = time.perf_counter()
    for i in range(saves):
        t = Ticket(actor="officer0", title=f"t{i}")
        for k in range(per_save - 1):
            t.note(actor="officer0", text="现场检查记录", amount=k)
        app.save(t)
    return saves * per_save / (time.perf_counter() - start)


def bench_backend(name: str, url_ledger: str, url_plain: str, saves: int, rounds: int) -> dict[str, Any]:
    ledger = ledger_with_officers(url_ledger).app
    plain = plain_app(url_plain)
    out: dict[str, Any] = {}
    for per_save in (1, 10):
        run_saves(ledger, 20, per_save)  # warm up
        run_saves(plain, 20, per_save)
        led, plain_x = [], []
        for _ in range(rounds):
            led.append(run_saves(ledger, saves, per_save))
            plain_x.append(run_saves(plain, saves, per_save))
        m_led, _ = median_of(iter(led).__next__, len(led))
        m_plain, _ = median_of(iter(plain_x).__next__, len(plain_x))
        out[f"{per_save}_per_save"] = {
            "ledger_events_per_s": round(m_led), "plain_events_per_s": round(m_plain),
            "ratio": round(m_led / m_plain, 3), "ledger_runs": [round(x) for x in led],
            "plain_runs": [round(x) for x in plain_x],
        }
        print(f"{name:8s} {per_save:2d}/save  ledger {m_led:8.0f} ev/s  plain {m_plain:8.0f} ev/s  "
              f"ratio {m_led / m_plain:.2f}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--saves", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pg", default=os.environ.get("CASELEDGER_TEST_PG_URL", PG_DEFAULT))
    ap.add_argument("--no-pg", action="store_true")
    a = ap.parse_args()
    results: dict[str, Any] = {"saves_per_round": a.saves, "rounds": a.rounds}
    with tempfile.TemporaryDirectory() as d:
        results["sqlite"] = bench_backend("sqlite", f"sqlite:///{Path(d) / 'l.db'}",
                                          f"sqlite:///{Path(d) / 'p.db'}", a.saves, a.rounds)
    if not a.no_pg:
        u1, u2 = fresh_pg_schema(a.pg), fresh_pg_schema(a.pg)
        try:
            results["postgres"] = bench_backend("postgres", u1, u2, a.saves, a.rounds)
        finally:
            drop_pg_schema(u1)
            drop_pg_schema(u2)
    print("wrote", write_result("append", results))


if __name__ == "__main__":
    main()
