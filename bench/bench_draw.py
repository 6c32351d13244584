"""双随机 draw benchmark at real size (issue 18 item 7): a pool of 1,000,000 enterprises committed by hash.

    python -m bench.bench_draw                       # 1,000,000 members, SQLite file
    python -m bench.bench_draw --members 100000 --db postgresql+psycopg://postgres@127.0.0.1:5432/test

Setup: a ledger (tests.fakes.make_enforcement_ledger) with one agency; ``--members`` valid USCCs
(check digits computed) of one supervision category. Measured, each the median of ``--runs``:

* blob: canonicalising the pool and building its blob (one member per line, sorted by UTF-8 bytes);
* commit: ``commit_draw_pool_by_hash`` — the blob read back, parsed, checked canonical, every USCC
  validated (R1), hashed and the signed entry appended;
* perform: ``perform_draw`` — the blob read back and hashed against the commitment, the seed's
  SHA-256 counter-mode scores of every member ranked, the signed selection appended;
* verify: an auditor's recomputation from the blob and the recorded seed (``RandomDraw.verify``).

Results are printed and written to ``bench/out/draw.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from domain.calendar import SHANGHAI
from domain.random_draw import canonical_pool, pool_blob_bytes, pool_from_blob
from domain.uscc import make_uscc
from tests.fakes import make_enforcement_ledger

AGENCY = make_uscc("11350100MB0000001")


def _t(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=SHANGHAI)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _once(pool: list[str], db: str | None, r: int, times: dict[str, list[float]]) -> int:
    """One measured run on a fresh ledger; returns the blob's size in bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        c = make_enforcement_ledger(db or f"sqlite:///{Path(tmp) / 'draw.db'}", ["reg", "dispatcher"])
        app = c.app
        t0 = _t("2025-01-02 09:00")
        app.register_agency(agency_code=AGENCY, name="市场监管局", kind="administrative_agency",
                            jurisdiction=["3501"], at=t0, actor="reg")
        dt, blob = _timed(lambda: pool_blob_bytes(canonical_pool(pool)))
        times["blob"].append(dt)
        store = {hashlib.sha256(blob).hexdigest(): blob}
        digest = next(iter(store))
        draw_no = f"D-{r}"
        dt, pool_hash = _timed(lambda: app.commit_draw_pool_by_hash(
            agency_code=AGENCY, draw_no=draw_no, purpose="targets", pool_blob=digest,
            seed_source="上证综指次日收盘", at=_t("2025-08-29 09:00"), actor="dispatcher",
            read_blob=store.__getitem__))
        times["commit"].append(dt)
        dt, selected = _timed(lambda: app.perform_draw(
            agency_code=AGENCY, draw_no=draw_no, pool_hash=pool_hash, seed="3857.93", count=50,
            at=_t("2025-08-30 10:00"), actor="dispatcher", read_blob=store.__getitem__))
        times["perform"].append(dt)
        draw = app.get_random_draw(agency_code=AGENCY, draw_no=draw_no)
        dt, verified = _timed(lambda: draw.verify(pool_from_blob(store[draw.pool_blob])))
        times["verify"].append(dt)
        assert verified.selected == selected
        return len(blob)


def run(members: int, db: str | None, runs: int) -> dict[str, Any]:
    pool = [make_uscc(f"91350100{i:09d}") for i in range(members)]
    times: dict[str, list[float]] = {"blob": [], "commit": [], "perform": [], "verify": []}
    blob_bytes = 0
    for r in range(runs):
        blob_bytes = _once(pool, db, r, times)
    return {"members": members, "blob_bytes": blob_bytes, "db": db or "sqlite file", "runs": runs,
            "seconds": {k: round(statistics.median(v), 2) for k, v in times.items()},
            "all_runs": {k: [round(x, 2) for x in v] for k, v in times.items()}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--members", type=int, default=1_000_000)
    p.add_argument("--db", default=None)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    result = run(args.members, args.db, args.runs)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / ("draw-pg.json" if args.db else "draw.json")).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
