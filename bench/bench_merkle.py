"""Merkle log benchmark: our SQLite store vs pymerkle 7 (in-memory and SQLite backends).

    python -m bench.bench_merkle --quick            # 100,000 leaves, a few minutes
    python -m bench.bench_merkle --leaves 1000000   # the issue's full size (see docs/benchmarks.md)

Same leaf bytes for everybody (``ledger.merkle.leaf_data`` of synthetic entries; pymerkle hashes
them with the same 0x00 prefix, so all three trees have the same root, which is checked).

Measured:
* **bulk build** of all but ``2 * --sample-commits`` leaves (ours: 10,000 leaves per
  transaction; pymerkle: ``append_entries``; in-memory: ``append_entries``, of all of them).
* **appends at the full size, one leaf per commit**, ``--sample-commits`` per side and scenario,
  in ``--blocks`` alternating blocks (ours, pymerkle, ours, ...) so that every side meets the
  same disk noise; each rate is the side's commits over its summed time:
  - *standalone* (the issue's target): the log's own transaction per leaf. Ours:
    ``MerkleStore.append`` in ``conn.begin()`` on one open SQLAlchemy connection; pymerkle
    SQLite: ``append_entry``, which commits each leaf on the one connection it keeps open.
  - *ledger entry and its leaf*: an application row and its leaf, per entry. Ours in one
    transaction, as the ledger commits an entry and its leaf; pymerkle cannot join a caller's
    transaction, so the row is committed on the application's own file and the leaf then by
    ``append_entry``. The time of ours's ``append`` call inside that transaction is recorded too.
  Both stores on SQLite files with the driver's default durability (journal_mode=DELETE,
  synchronous=FULL); the script reads both settings back from both connections, records them
  and refuses to run if they differ.
* **proof generation** p50/p99 over ``--queries`` random requests against the full tree:
  inclusion (random index, size N) and consistency (random size1 < N, size2 = N). Ours reads
  from the persistent store through one open connection, with its node cache of upper levels on
  (its default; ``ours_store_nocache`` is the same store with the cache off, for reference);
  pymerkle's own LRU subroot cache is left on (its default), and every implementation gets the
  same warm-up queries, once before any implementation is timed and again just before its own
  timing. Both database files are read through once before the proofs, so that no timing
  includes disk reads of pages the OS dropped from its cache after the build.

Results are printed and written to ``bench/out/merkle-<N>-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, create_engine

from ledger import merkle
from ledger.merkle_store import MerkleStore

OUT = Path(__file__).resolve().parent / "out"


def leaf_inputs(n: int, start: int = 0) -> list[tuple[int, int, bytes, bytes]]:
    out = []
    for i in range(start, start + n):
        eh = hashlib.sha256(b"entry %d" % i).digest()
        sig = hashlib.sha512(b"sig %d" % i).digest()
        out.append((1000 + i, 1_767_225_600_000_000 + i, eh, sig))
    return out


def leaf_bytes(leaves: list[tuple[int, int, bytes, bytes]], first: int) -> list[bytes]:
    return [merkle.leaf_data(eh, sig, ra, first + k) for k, (_nid, ra, eh, sig) in enumerate(leaves)]


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def timed(fn: Callable[[], Any], reps: list[Any]) -> dict[str, float]:
    lat = []
    for arg in reps:
        t = time.perf_counter()
        fn(arg)  # type: ignore[call-arg]
        lat.append(time.perf_counter() - t)
    return {"p50_us": pct(lat, 50) * 1e6, "p99_us": pct(lat, 99) * 1e6, "mean_us": statistics.fmean(lat) * 1e6}


def log(msg: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--leaves", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="100,000 leaves, 300 single commits, 500 queries")
    ap.add_argument("--sample-commits", type=int, default=1000, help="single-leaf transactions timed")
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--blocks", type=int, default=10, help="alternating blocks of single-leaf commits per side")
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--batch", type=int, default=10_000, help="leaves per transaction in the bulk build")
    ap.add_argument("--no-inmemory", action="store_true", help="skip pymerkle's in-memory tree")
    ap.add_argument("--dir", type=Path, default=None, help="where the SQLite files go (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the SQLite files (default: delete them at the end)")
    args = ap.parse_args(argv)
    if args.quick:
        args.leaves, args.sample_commits, args.queries = 100_000, 300, 500
    n, sample = args.leaves, min(args.sample_commits, args.leaves)
    import pymerkle

    t_all = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="bench-merkle-", dir=args.dir))
    res: dict[str, Any] = {
        "leaves": n, "sample_commits": sample, "queries": args.queries, "batch": args.batch,
        "python": sys.version.split()[0], "platform": platform.platform(), "pymerkle": pymerkle.__version__,
        "dir": str(workdir),
    }
    log(f"{n} leaves in {workdir}")

    # ---- both SQLite stores, same durability -----------------------------------------------------
    engine = create_engine(f"sqlite:///{workdir / 'ours.db'}")
    md = MetaData()
    store = MerkleStore(md)
    md.create_all(engine)
    ptree = pymerkle.SqliteTree(str(workdir / "pymerkle.db"))
    # Same durability on both sides: read the settings back from both connections.
    with engine.connect() as conn:
        ours_settings = {k: conn.exec_driver_sql(f"PRAGMA {k}").scalar() for k in ("journal_mode", "synchronous")}
    theirs_settings = {k: ptree.con.execute(f"PRAGMA {k}").fetchone() for k in ("journal_mode", "synchronous")}
    res["sqlite_settings"] = {"ours": ours_settings, "pymerkle": theirs_settings}
    if ours_settings != theirs_settings:
        msg = f"durability settings differ: {res['sqlite_settings']}"
        raise SystemExit(msg)

    # ---- bulk builds of all but the single-commit leaves ----------------------------------------
    bulk = max(0, n - 2 * sample)
    t = time.perf_counter()
    done = 0
    while done < bulk:
        b = min(args.batch, bulk - done)
        batch = leaf_inputs(b, done)
        with engine.begin() as conn:
            store.append(conn, batch)
        done += b
    dt = time.perf_counter() - t
    res["ours_bulk_leaves_per_s"] = bulk / dt if bulk else None
    log(f"ours: bulk build {bulk} leaves in {dt:.1f}s")
    t = time.perf_counter()
    done = 0
    while done < bulk:
        b = min(100_000, bulk - done)
        ptree.append_entries(leaf_bytes(leaf_inputs(b, done), done))
        done += b
    dt = time.perf_counter() - t
    res["pymerkle_sqlite_bulk_leaves_per_s"] = bulk / dt if bulk else None
    log(f"pymerkle sqlite: bulk build in {dt:.1f}s")

    # ---- appends at the full size, one leaf per commit: alternating blocks, so every side sees
    # the same disk noise. Both trees get the same leaves in the same order.
    # Standalone: the log's append and its commit, nothing else (ours: MerkleStore.append in
    # conn.begin(); pymerkle: append_entry, which commits on its one open connection).
    # Ledger entry: an application row and its leaf. Ours share one transaction (as the ledger
    # commits an entry and its leaf); pymerkle cannot join a caller's transaction, so the row
    # is committed on the application's own file and the leaf then by append_entry.
    held = engine.connect()  # one open connection, as pymerkle keeps its own
    held.exec_driver_sql("CREATE TABLE caller_rows (x INTEGER)")
    held.commit()
    app = sqlite3.connect(workdir / "app.db")  # pymerkle's caller: the application's database
    app.execute("CREATE TABLE caller_rows (x INTEGER)")
    app.commit()
    block = max(1, sample // args.blocks)
    dt = dict.fromkeys(("ours", "pymerkle", "ours_entry", "pymerkle_entry"), 0.0)
    in_txn: list[float] = []
    nxt = bulk
    for lo in range(0, sample, block):
        k = min(block, sample - lo)
        for scenario in ("standalone", "entry"):
            leaves = leaf_inputs(k, nxt)
            data = leaf_bytes(leaves, nxt)
            nxt += k
            if scenario == "standalone":
                t = time.perf_counter()
                for leaf in leaves:
                    with held.begin():
                        store.append(held, [leaf])
                dt["ours"] += time.perf_counter() - t
                t = time.perf_counter()
                for d in data:
                    ptree.append_entry(d)
                dt["pymerkle"] += time.perf_counter() - t
            else:
                t = time.perf_counter()
                for leaf in leaves:
                    with held.begin():
                        held.exec_driver_sql("INSERT INTO caller_rows (x) VALUES (1)")
                        t1 = time.perf_counter()
                        store.append(held, [leaf])
                        in_txn.append(time.perf_counter() - t1)
                dt["ours_entry"] += time.perf_counter() - t
                t = time.perf_counter()
                for d in data:
                    with app:
                        app.execute("INSERT INTO caller_rows (x) VALUES (1)")
                    ptree.append_entry(d)
                dt["pymerkle_entry"] += time.perf_counter() - t
    held.close()
    app.close()
    for side, secs in dt.items():
        res[f"{side}_append_per_commit_per_s"] = sample / secs
    res["ours_append_call_in_txn_us"] = {"p50": pct(in_txn, 50) * 1e6, "p99": pct(in_txn, 99) * 1e6}
    log(f"{sample} single-leaf commits per side at {bulk:,} leaves, in blocks of {block}: "
        + ", ".join(f"{side} {sample / secs:,.0f}/s" for side, secs in dt.items()))
    with engine.connect() as conn:
        our_root = store.root(conn)
    res["db_bytes_ours"] = (workdir / "ours.db").stat().st_size
    res["db_bytes_pymerkle"] = (workdir / "pymerkle.db").stat().st_size

    # ---- pymerkle in-memory --------------------------------------------------------------------
    mtree = None
    if not args.no_inmemory:
        mtree = pymerkle.InmemoryTree()
        t = time.perf_counter()
        done = 0
        while done < n:
            b = min(100_000, n - done)
            mtree.append_entries(leaf_bytes(leaf_inputs(b, done), done))
            done += b
        dt = time.perf_counter() - t
        res["pymerkle_inmemory_build_leaves_per_s"] = n / dt
        log(f"pymerkle in-memory: build in {dt:.1f}s")

    # ---- same tree everywhere ------------------------------------------------------------------
    t = time.perf_counter()
    assert ptree.get_root() == our_root, "pymerkle SQLite root differs"
    res["pymerkle_sqlite_root_s"] = time.perf_counter() - t
    if mtree is not None:
        assert mtree.get_root() == our_root, "pymerkle in-memory root differs"
    log("roots agree")

    # ---- proofs --------------------------------------------------------------------------------
    # Read both database files once so that neither side's timings include disk reads of pages
    # the OS dropped from its cache since the build (this machine's page cache is small).
    for f in ("ours.db", "pymerkle.db"):
        with (workdir / f).open("rb") as fh:
            while fh.read(1 << 20):
                pass
    rng = random.Random(20260302)
    warm_i = [rng.randrange(n) for _ in range(args.warmup)]
    warm_c = [rng.randrange(1, n) for _ in range(args.warmup)] if n > 1 else []
    q_i = [rng.randrange(n) for _ in range(args.queries)]
    q_c = [rng.randrange(1, n) for _ in range(args.queries)] if n > 1 else []
    proofs: dict[str, Any] = {}
    with engine.connect() as conn:
        # correctness of what we time
        for idx in q_i[:20]:
            merkle.verify_inclusion(idx, n, store.leaf(conn, idx).leaf_hash,  # type: ignore[union-attr]
                                    store.inclusion_proof(conn, idx, n), our_root)
        for s1 in q_c[:20]:
            merkle.verify_consistency(s1, n, store.consistency_proof(conn, s1, n), store.root(conn, s1), our_root)
        plain = MerkleStore(MetaData(), node_cache=0)
        impls: list[tuple[str, Callable[[int], Any], Callable[[int], Any]]] = [
            ("ours_store", lambda i: store.inclusion_proof(conn, i, n), lambda s: store.consistency_proof(conn, s, n)),
            ("ours_store_nocache", lambda i: plain.inclusion_proof(conn, i, n),
             lambda s: plain.consistency_proof(conn, s, n)),
            ("pymerkle_sqlite", lambda i: ptree.prove_inclusion(i + 1, n), lambda s: ptree.prove_consistency(s, n)),
        ]
        if mtree is not None:
            impls.append(("pymerkle_inmemory", lambda i: mtree.prove_inclusion(i + 1, n),
                          lambda s: mtree.prove_consistency(s, n)))
        # Warm every implementation before timing any: the first reader of the freshly built
        # files in this process otherwise pays one-off costs the others do not.
        for _name, incl, cons in impls:
            timed(incl, warm_i)
            timed(cons, warm_c)
        for name, incl, cons in impls:
            gc.collect()
            timed(incl, warm_i)
            timed(cons, warm_c)
            proofs[name] = {"inclusion": timed(incl, q_i), "consistency": timed(cons, q_c)}
            log(f"{name}: inclusion p50 {proofs[name]['inclusion']['p50_us']:.0f}us "
                f"p99 {proofs[name]['inclusion']['p99_us']:.0f}us; consistency p50 "
                f"{proofs[name]['consistency']['p50_us']:.0f}us p99 {proofs[name]['consistency']['p99_us']:.0f}us")
    res["proofs"] = proofs
    ptree.close()
    engine.dispose()
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)

    # ---- ratios against the targets ----------------------------------------------------
    ratios: dict[str, float] = {}
    for kind in ("inclusion", "consistency"):
        for p in ("p50_us", "p99_us"):
            ours = proofs["ours_store"][kind][p]
            ratios[f"{kind}_{p[:3]}_pymerkle_sqlite_over_ours"] = proofs["pymerkle_sqlite"][kind][p] / ours
            if "pymerkle_inmemory" in proofs:
                ratios[f"{kind}_{p[:3]}_ours_over_pymerkle_inmemory"] = ours / proofs["pymerkle_inmemory"][kind][p]
    ratios["append_per_commit_ours_over_pymerkle_sqlite"] = (
        res["ours_append_per_commit_per_s"] / res["pymerkle_append_per_commit_per_s"]
    )
    ratios["entry_and_leaf_per_commit_ours_over_pymerkle_sqlite"] = (
        res["ours_entry_append_per_commit_per_s"] / res["pymerkle_entry_append_per_commit_per_s"]
    )
    res["ratios"] = ratios
    res["targets"] = {
        "pymerkle_sqlite_over_ours >= 10": all(
            v >= 10 for k, v in ratios.items() if k.endswith("pymerkle_sqlite_over_ours")),
        "ours_over_pymerkle_inmemory <= 2": all(
            v <= 2 for k, v in ratios.items() if k.endswith("ours_over_pymerkle_inmemory")),
        "append ours >= pymerkle sqlite": ratios["append_per_commit_ours_over_pymerkle_sqlite"] >= 1,
    }
    res["total_s"] = time.perf_counter() - t_all

    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"merkle-{n}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")

    w = sys.stdout.write
    w(f"\nMerkle benchmark, {n:,} leaves ({res['total_s']:.0f}s total)\n")
    w(f"  append call inside the caller's transaction (ours, before its commit): p50 "
      f"{res['ours_append_call_in_txn_us']['p50']:.0f} us, p99 {res['ours_append_call_in_txn_us']['p99']:.0f} us\n")
    w(f"  append, 1 leaf per commit: ours {res['ours_append_per_commit_per_s']:,.0f}/s, "
      f"pymerkle SQLite {res['pymerkle_append_per_commit_per_s']:,.0f}/s "
      f"(x{ratios['append_per_commit_ours_over_pymerkle_sqlite']:.2f})\n")
    w(f"  ledger entry + its leaf per commit: ours {res['ours_entry_append_per_commit_per_s']:,.0f}/s, "
      f"pymerkle SQLite {res['pymerkle_entry_append_per_commit_per_s']:,.0f}/s "
      f"(x{ratios['entry_and_leaf_per_commit_ours_over_pymerkle_sqlite']:.2f})\n")
    if res["ours_bulk_leaves_per_s"]:
        w(f"  bulk build: ours {res['ours_bulk_leaves_per_s']:,.0f} leaves/s, pymerkle SQLite "
          f"{res['pymerkle_sqlite_bulk_leaves_per_s']:,.0f} leaves/s\n")
    w(f"  {'proof (us)':<26}{'incl p50':>10}{'incl p99':>10}{'cons p50':>10}{'cons p99':>10}\n")
    for name, pr in proofs.items():
        w(f"  {name:<26}{pr['inclusion']['p50_us']:>10.0f}{pr['inclusion']['p99_us']:>10.0f}"
          f"{pr['consistency']['p50_us']:>10.0f}{pr['consistency']['p99_us']:>10.0f}\n")
    for k, v in ratios.items():
        w(f"  {k}: {v:.2f}\n")
    for k, v in res["targets"].items():
        w(f"  target {k}: {'met' if v else 'NOT met'}\n")
    w(f"  written to {out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
