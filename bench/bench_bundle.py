"""Court-bundle benchmark: export and offline verification of a 50-entry case in a large log.

    python -m bench.bench_bundle                      # 100,000 other leaves, SQLite file
    python -m bench.bench_bundle --leaves 1000000     # the issue's size
    python -m bench.bench_bundle --db postgresql+psycopg://postgres@127.0.0.1:5432/test

Setup: a ledger (tests.fakes.make_ledger: root, alice, bob registered) whose Merkle log also
holds ``--leaves`` other leaves, bulk-appended through ``MerkleStore.append`` in transactions
of 10,000, each beside a placeholder row of the events table (a stream of its own, never read)
whose id is the leaf's notification id, as leaves' ids must rise with their index. The case's
50 entries are saved through the application one by one, spread evenly through the log, so
their inclusion proofs have the full log(n) length. Then a checkpoint is
signed and the case exported.

Measured (median of ``--runs``, after one warm-up):
* ``verify_bundle`` on the bundle bytes, in process (the court's verification, steps 7.1-7.7);
* the same through ``python -m ledger.bundle FILE --trust KEYFILE`` in a fresh interpreter
  (what an expert runs: includes interpreter start and imports);
* ``export_bundle`` from the database.

Results are printed and written to ``bench/out/bundle-<leaves>.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert

from bench.common import fresh_pg_schema, write_result
from ledger import merkle
from ledger.audit import events_table
from ledger.bundle import load_verified_bundle, verify_bundle
from ledger.bundle_export import export_bundle, issue_checkpoint
from ledger.checkpoint import vkey
from tests.fakes import ROOT, StepClock, Ticket, make_ledger

ORIGIN = "caseledger.bench/ledger"
CASE_ENTRIES = 50
BATCH = 10_000
FILLER_STREAM = uuid.UUID(int=1)  # the placeholder rows' originator id


def log(msg: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def filler(conn: Connection, start: int, n: int) -> list[tuple[int, int, bytes, bytes]]:
    """Leaves for ``n`` other entries, with a placeholder events row each for its notification id."""
    table = events_table(conn.engine)
    rows = [{"originator_id": FILLER_STREAM, "originator_version": i, "topic": "filler", "state": b""}
            for i in range(start, start + n)]
    ids = [int(r[0]) for r in conn.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)]
    return [(nid, 1_772_413_200_000_000 + i, hashlib.sha256(b"entry %d" % i).digest(),
             hashlib.sha512(b"sig %d" % i).digest()) for nid, i in zip(ids, range(start, start + n), strict=True)]


def build(url: str, leaves: int) -> tuple[Any, str]:
    """The ledger and the id of its 50-entry case."""
    c = make_ledger(url)
    case = Ticket(actor="alice", title="bench case")
    c.app.save(case)
    per_gap = leaves // (CASE_ENTRIES - 1)
    done = 0
    t0 = time.perf_counter()
    for k in range(1, CASE_ENTRIES):
        target = leaves if k == CASE_ENTRIES - 1 else k * per_gap
        while done < target:
            n = min(BATCH, target - done)
            with c.engine.begin() as conn:
                c.merkle.append(conn, filler(conn, done, n))
            done += n
        case.note(actor="alice" if k % 2 else "bob", text=f"step {k}", amount=k)
        c.app.save(case)
        if k % 10 == 0:
            log(f"  {done:,} other leaves, case entry {k + 1}")
    log(f"built the log: {done:,} other leaves + {CASE_ENTRIES} case entries in {time.perf_counter() - t0:.1f}s")
    return c, str(case.id)


def median_ms(fn: Any, runs: int) -> tuple[float, list[float]]:
    fn()  # warm-up
    xs = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        xs.append((time.perf_counter() - t) * 1000)
    return statistics.median(xs), xs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--leaves", type=int, default=100_000, help="other leaves in the log (default 100,000)")
    p.add_argument("--runs", type=int, default=21, help="timed runs per measurement (median reported)")
    p.add_argument("--cli-runs", type=int, default=5)
    p.add_argument("--db", default=None, help="PostgreSQL base URL (a fresh schema is used); default SQLite file")
    args = p.parse_args(argv)

    url = fresh_pg_schema(args.db) if args.db else None
    try:
        return run(args, url)
    finally:
        if url is not None:
            drop_pg_schema(args.db, url)


def drop_pg_schema(base: str, url: str) -> None:
    """Drop the schema that ``fresh_pg_schema`` made for this run."""
    from sqlalchemy import create_engine, text

    schema = url.rsplit("search_path%3D", 1)[1]
    eng = create_engine(base)
    with eng.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    eng.dispose()


def run(args: argparse.Namespace, pg_url: str | None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        url = pg_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        log(f"building a ledger with {args.leaves:,} other leaves on {url.split('?')[0]}")
        c, case_id = build(url, args.leaves)
        cp = issue_checkpoint(c, origin=ORIGIN, signing_key=ROOT, clock=StepClock())
        trust = [vkey(ORIGIN, bytes(ROOT.verify_key))]
        export_ms, _ = median_ms(lambda: export_bundle(c, case_id), max(3, args.runs // 4))
        out = export_bundle(c, case_id, signer=(ORIGIN, ROOT))
        data = out.data
        vb = load_verified_bundle(data, trust)
        assert len(vb.entries) == CASE_ENTRIES
        report = verify_bundle(data, trust)
        assert report.ok, report.text()
        verify_ms, xs = median_ms(lambda: verify_bundle(data, trust), args.runs)

        bundle_file, trust_file = Path(tmp) / "case.bundle", Path(tmp) / "trust.vkey"
        bundle_file.write_bytes(data)
        trust_file.write_text(trust[0] + "\n")
        cmd = [sys.executable, "-m", "ledger.bundle", str(bundle_file), "--trust", str(trust_file)]
        root_dir = Path(__file__).resolve().parents[1]

        def cli() -> None:
            subprocess.run(cmd, cwd=root_dir, check=True, capture_output=True)

        cli_ms, _ = median_ms(cli, args.cli_runs)
        imports_ms, _ = median_ms(lambda: subprocess.run([sys.executable, "-c", "import ledger.bundle"],
                                                         cwd=root_dir, check=True), args.cli_runs)
        proof_lens = sorted({len(merkle.inclusion_ranges(e["index"], cp.size)) for e in
                             ({"index": i["leaf"]["index"]} for i in _items(data))})
        c.engine.dispose()

    result = {
        "leaves_in_log": cp.size, "other_leaves": args.leaves, "case_entries": out.entries,
        "key_registry_entries": out.keys, "bundle_bytes": len(data), "proof_lengths": proof_lens,
        "backend": "postgresql" if args.db else "sqlite",
        "verify_ms_median": round(verify_ms, 3), "verify_ms_min": round(min(xs), 3),
        "verify_ms_max": round(max(xs), 3), "runs": args.runs,
        "cli_verify_ms_median": round(cli_ms, 1), "python_import_ms_median": round(imports_ms, 1),
        "export_ms_median": round(export_ms, 2),
    }
    path = write_result(f"bundle-{args.leaves}" + ("-pg" if args.db else ""), result)
    print(f"bundle of {out.entries} entries + {out.keys} key entries, {len(data):,} bytes, log of {cp.size:,} "
          f"leaves (proof lengths {proof_lens})")
    print(f"  verify_bundle (in process)      median {verify_ms:8.2f} ms  over {args.runs} runs")
    print(f"  python -m ledger.bundle (CLI)   median {cli_ms:8.1f} ms  (interpreter + imports {imports_ms:.1f} ms)")
    print(f"  export_bundle ({result['backend']})          median {export_ms:8.2f} ms")
    print(f"wrote {path}")
    return 0


def _items(data: bytes) -> list[dict[str, Any]]:
    from ledger import encoding

    b = encoding.decode(data, max_bytes=len(data))
    return [*b["entries"], *b["keys"]]


if __name__ == "__main__":
    sys.exit(main())
