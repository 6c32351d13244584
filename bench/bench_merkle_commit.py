"""Where a single-leaf commit's time goes: our store vs pymerkle's SQLite backend, taken apart.

    python -m bench.bench_merkle_commit                      # 3,000 commits per side, bench/out
    python -m bench.bench_merkle_commit --dir /dev/shm       # on tmpfs: no fsync, CPU only

Four sides, each on its own SQLite file in the same directory, each committing one leaf per
transaction, in alternating blocks so that all meet the same disk noise. Wall time and CPU time
(user + system of this process) per commit, medians over the blocks:

* ``pymerkle``: ``SqliteTree.append_entry`` (its insert and commit on raw ``sqlite3``);
* ``ours``: ``MerkleStore.append`` in ``Connection.begin()``, as ``bench_merkle`` times it;
* ``ours_sql_raw``: the very statements ``ours`` runs (the guarded insert of the leaf and the
  nodes it closes, parameters computed beforehand), on raw ``sqlite3`` with its commit: the cost
  of our storage layout alone;
* ``ours_sql_in_sa_txn``: the same statements inside SQLAlchemy's ``Connection.begin()``: adds
  SQLAlchemy's transaction handling.

So ``ours_sql_raw`` vs ``pymerkle`` compares the two storage layouts, ``ours_sql_in_sa_txn`` -
``ours_sql_raw`` is SQLAlchemy's transaction wrapper, and ``ours`` - ``ours_sql_in_sa_txn`` is
the store's Python (leaf and node hashes, the remembered frontier, parameters). Results are
printed and written to ``bench/out/merkle-commit-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, create_engine

from bench.bench_merkle import leaf_bytes, leaf_inputs
from bench.common import write_result
from ledger.merkle_store import MerkleStore, _grow_one

HERE = Path(__file__).resolve().parent


def _store(path: Path) -> tuple[Any, MerkleStore]:
    engine = create_engine(f"sqlite:///{path}")
    md = MetaData()
    store = MerkleStore(md)
    md.create_all(engine)
    return engine, store


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commits", type=int, default=3000, help="single-leaf commits per side")
    ap.add_argument("--block", type=int, default=100, help="commits per side per alternating block")
    ap.add_argument("--dir", type=Path, default=HERE / "out", help="where the SQLite files go")
    args = ap.parse_args(argv)
    import pymerkle

    args.dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-merkle-commit-", dir=args.dir))
    n = args.commits + 1
    leaves = leaf_inputs(n)
    data = leaf_bytes(leaves, 0)

    ptree = pymerkle.SqliteTree(str(work / "pymerkle.db"))
    engine, store = _store(work / "ours.db")
    held = engine.connect()
    # The statements and parameters `ours` runs for each leaf, computed once, for the two replays.
    with held.begin():
        store.append(held, [leaves[0]])
    memo = store._memo  # noqa: SLF001 - the remembered tail after leaf 0, to precompute the rest
    assert memo is not None
    replay: list[tuple[str, tuple[Any, ...]]] = []
    for leaf in leaves[1:]:
        params, memo = _grow_one(memo, leaf)
        replay.append((store._guarded_insert((len(params) - 8) // 5 + 1), params))  # noqa: SLF001
    raw_engine, raw_store = _store(work / "raw.db")
    sa_engine, sa_store = _store(work / "in_sa_txn.db")
    for e, s in ((raw_engine, raw_store), (sa_engine, sa_store)):
        with e.begin() as conn:
            s.append(conn, [leaves[0]])
    raw_engine.dispose()
    raw = sqlite3.connect(work / "raw.db")
    in_sa = sa_engine.connect()
    in_sa_dbapi = in_sa.connection.dbapi_connection
    assert in_sa_dbapi is not None
    ptree.append_entry(data[0])

    def pym(i: int) -> None:
        ptree.append_entry(data[i])

    def ours(i: int) -> None:
        with held.begin():
            store.append(held, [leaves[i]])

    def ours_sql_raw(i: int) -> None:
        raw.execute(*replay[i - 1])
        raw.commit()

    def ours_sql_in_sa_txn(i: int) -> None:
        with in_sa.begin():
            in_sa_dbapi.execute(*replay[i - 1])

    sides: dict[str, Callable[[int], None]] = {"pymerkle": pym, "ours": ours, "ours_sql_raw": ours_sql_raw,
                                               "ours_sql_in_sa_txn": ours_sql_in_sa_txn}
    wall: dict[str, list[float]] = {k: [] for k in sides}
    cpu: dict[str, list[float]] = {k: [] for k in sides}
    for lo in range(1, n, args.block):
        hi = min(n, lo + args.block)
        for name, fn in sides.items():
            t, c = time.perf_counter(), time.process_time()
            for i in range(lo, hi):
                fn(i)
            wall[name].append((time.perf_counter() - t) / (hi - lo) * 1e6)
            cpu[name].append((time.process_time() - c) / (hi - lo) * 1e6)
    held.close()
    in_sa.close()
    raw.close()
    want = ptree.get_root()  # every side wrote the same tree
    ptree.close()
    for path, s in ((work / "ours.db", store), (work / "raw.db", raw_store), (work / "in_sa_txn.db", sa_store)):
        e = create_engine(f"sqlite:///{path}")
        with e.connect() as conn:
            assert s.root(conn) == want, f"{path.name}: the tree differs from pymerkle's"
        e.dispose()
    res: dict[str, Any] = {"commits": args.commits, "block": args.block, "dir": str(args.dir), "sides": {
        k: {"wall_us": statistics.median(wall[k]), "cpu_us": statistics.median(cpu[k])} for k in sides}}
    r = res["sides"]
    res["pymerkle_over_ours_wall"] = r["pymerkle"]["wall_us"] / r["ours"]["wall_us"]
    res["pymerkle_over_ours_sql_raw_wall"] = r["pymerkle"]["wall_us"] / r["ours_sql_raw"]["wall_us"]
    res["sqlalchemy_txn_cpu_us"] = r["ours_sql_in_sa_txn"]["cpu_us"] - r["ours_sql_raw"]["cpu_us"]
    res["store_python_cpu_us"] = r["ours"]["cpu_us"] - r["ours_sql_in_sa_txn"]["cpu_us"]
    for k in sides:
        print(f"  {k:20s} wall {r[k]['wall_us']:7.1f} us   cpu {r[k]['cpu_us']:6.1f} us per commit")
    print(f"  pymerkle / ours (wall): {res['pymerkle_over_ours_wall']:.3f}; pymerkle / our statements raw: "
          f"{res['pymerkle_over_ours_sql_raw_wall']:.3f}; SQLAlchemy transaction {res['sqlalchemy_txn_cpu_us']:.1f} "
          f"us CPU, store Python {res['store_python_cpu_us']:.1f} us CPU")
    path = write_result(f"merkle-commit-{time.strftime('%Y%m%dT%H%M%S')}", res)
    print(f"  written to {path}")
    engine.dispose()
    sa_engine.dispose()
    for f in work.iterdir():
        f.unlink()
    work.rmdir()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
