"""A command's cost against the length of its case (issue 16, item 1): no replay per command.

Appends ``log_evidence`` to one inspection until it holds 10, 100 and 1,000 entries and times the
last appends at each length, with the aggregate cache (the default: a cached aggregate is
fast-forwarded from the store on every load, and handed to the command as a shallow copy of its
copy-on-write state: ``ledger/cache.py``) and without it (every command replays the case from its
first entry), and with the cache handing out deep copies (eventsourcing's default, before issue 16's
shallow copies), in the same run, rounds interleaved. The case is grown with the cache on; only the
timed appends run in the round's mode. Medians in ms.

    python -m bench.bench_case_length [--db URL] [--rounds 3] [--sample 9]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from typing import Any

import ledger.cache
from bench.common import drop_pg_schema, fresh_pg_schema, write_result
from tests.unit.projections.scenario import AGENCY, ENT, H, T, dispatch, world

LENGTHS = (10, 100, 1000)
SHARE = ledger.cache.share
MODES = ("cache", "deepcopy", "replay")


def one_round(url: str, *, cache: bool, sample: int, deep: bool = False) -> dict[int, float]:
    c = world(url)
    app = c.app
    cached = app.repository.cache
    iid = dispatch(app, "T-LEN", T("2025-09-01 09:00"))
    app.approve_inspection(inspection_id=iid, agency_code=AGENCY, approver="head", at=T("2025-09-01 09:30"))
    app.record_arrival(inspection_id=iid, scan={"code_id": "Q", "uscc": ENT, "scanned_at": 1}, location="x",
                       at=T("2025-09-02 10:00"), actor="p1")
    for cert in ("C1", "C2"):
        app.show_certificate(inspection_id=iid, cert_no=cert, at=T("2025-09-02 10:05"), actor=cert)
    at, n, out = T("2025-09-02 10:30"), len(list(app.case_records(iid))), {}
    for target in LENGTHS:
        times = []
        while n < target:
            at += timedelta(seconds=1)
            # The case grows with the cache on; the last ``sample`` appends at each length are timed
            # in the round's mode (without the cache: every command replays the case from entry 1).
            timed = target - n <= sample
            app.repository.cache = cached if cache or not timed else None
            ledger.cache.share = copy.deepcopy if deep and timed else SHARE
            t0 = time.perf_counter()
            app.log_evidence(inspection_id=iid, evidence_id=f"EV-{n}", evidence_type="书证", sha256=H, size=1,
                             media_type="image/jpeg", source="on_site", capture={}, cert_nos=["C1", "C2"], at=at,
                             actor="p1")
            times.append(time.perf_counter() - t0)
            n += 1
        out[target] = statistics.median(times[-sample:]) * 1000
    ledger.cache.share = SHARE
    c.engine.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", default=None, help="PostgreSQL base URL (default: a SQLite file)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--sample", type=int, default=15, help="appends timed at each length")
    args = p.parse_args(argv)
    runs: dict[str, list[dict[int, float]]] = {m: [] for m in MODES}
    for _ in range(args.rounds):
        for mode in MODES:  # interleaved
            url = fresh_pg_schema(args.db) if args.db else f"sqlite:///{tempfile.mkdtemp()}/ledger.db"
            try:
                runs[mode].append(one_round(url, cache=mode != "replay", deep=mode == "deepcopy", sample=args.sample))
            finally:
                if args.db:
                    drop_pg_schema(url)
    result: dict[str, Any] = {"backend": "postgresql" if args.db else "sqlite", "rounds": args.rounds}
    for mode, rs in runs.items():
        med = {n: statistics.median(r[n] for r in rs) for n in LENGTHS}
        result[mode] = {"ms": med, "ratio_1000_to_10": med[1000] / med[10]}
        print(f"{mode:>6}: " + "  ".join(f"{n:>5} entries {med[n]:7.2f} ms" for n in LENGTHS)
              + f"   1000/10 = {med[1000] / med[10]:.2f}x")
    result["speedup_at_1000"] = result["replay"]["ms"][1000] / result["cache"]["ms"][1000]
    print(f"cache vs replay at 1,000 entries: {result['speedup_at_1000']:.1f}x faster")
    result["speedup_vs_deepcopy_at_1000"] = result["deepcopy"]["ms"][1000] / result["cache"]["ms"][1000]
    print(f"shallow vs deep copy from the cache at 1,000 entries: {result['speedup_vs_deepcopy_at_1000']:.1f}x faster")
    print(write_result("case_length" + ("-pg" if args.db else ""), result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
