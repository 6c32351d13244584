"""Tile requests/s against proof requests/s on the same server (issue 19).

python -m bench.bench_tiles [--entries 100000] [--requests 2000] [--clients 8] [--rounds 5] [--pg URL]

1. Builds a ledger of ``--entries`` signed, chained entries (SQLite file, or a fresh PostgreSQL
   schema with ``--pg``) and signs one checkpoint.
2. Serves it with uvicorn (one worker, ``create_app``) in a child process on loopback.
3. Drives it from this process with asyncio + httpx at ``--clients`` concurrent clients, in rounds;
   each round runs every kind once, in a rotating order, ``--requests`` requests each:
   - ``tile``: a random full level-0 hash tile (``GET /tile/0/<N>``, 8,192 bytes);
   - ``bundle``: a random full entry bundle (``GET /tile/entries/<N>``, 256 leaves' data);
   - ``inclusion``: ``GET /v1/log/proofs/inclusion?index=<random>`` at the checkpoint's size;
   - ``consistency``: ``GET /v1/log/proofs/consistency?first=<random>&second=<size>``.
   A client that has the tiles computes any number of proofs from them without asking again: one
   tile request stands for the 256 leaves it covers.

Results (requests/s per kind, medians over rounds, and the ratios in the same run) go to
bench/out/tiles.json and are printed; docs/benchmarks.md quotes them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import PG_DEFAULT, bulk_fill, drop_pg_schema, fresh_pg_schema, ledger_with_officers, write_result

KINDS = ("tile", "bundle", "inclusion", "consistency")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(url: str, port: int) -> None:
    """Child process: serve the ledger at ``url`` on ``port`` (one uvicorn worker, no projections)."""
    import uvicorn

    from api.app import create_app
    from api.bootstrap import bootstrap
    from api.settings import Settings
    from tests.fakes import TEST_TYPES

    c = bootstrap(Settings(db_url=url), event_types=TEST_TYPES)
    uvicorn.run(create_app(c, projections=object()), host="127.0.0.1", port=port, log_level="warning",
                access_log=False)


def build(url: str, entries: int) -> int:
    from ledger.bundle_export import issue_checkpoint
    from tests.fakes import ROOT

    c = ledger_with_officers(url)
    bulk_fill(c, entries)
    cp = issue_checkpoint(c, origin="bench.example/log", signing_key=ROOT, clock=lambda: time.time_ns() // 1000)
    c.engine.dispose()
    return cp.size


def in_process(url: str, size: int, n: int, rounds: int) -> dict[str, float]:
    """Median µs per call of the work behind each kind of request, without HTTP: a cached full tile,
    an uncached hash tile and entry bundle read, and what the proof endpoints read and compute."""
    from api.bootstrap import bootstrap
    from api.settings import Settings
    from ledger.tile_store import LedgerTiles
    from ledger.tiles import Tile
    from tests.fakes import TEST_TYPES

    c = bootstrap(Settings(db_url=url), event_types=TEST_TYPES)
    store = c.merkle
    rng = random.Random(5)
    full = size // 256
    cached = LedgerTiles(store)
    cold = LedgerTiles(store, cache_bytes=0)
    out: dict[str, list[float]] = {k: [] for k in ("tile_cached", "tile_read", "bundle_read", "inclusion",
                                                  "consistency")}
    with c.engine.connect() as conn:
        cached.get(conn, Tile(0, 0, 256), size)
        for _ in range(rounds):
            def timed(fn: Any) -> float:
                t0 = time.perf_counter()
                for _ in range(n):
                    fn()
                return (time.perf_counter() - t0) / n * 1e6

            out["tile_cached"].append(timed(lambda: cached.get(conn, Tile(0, 0, 256), size)))
            out["tile_read"].append(timed(lambda: cold.get(conn, Tile(0, rng.randrange(full), 256), size)))
            out["bundle_read"].append(timed(lambda: cold.get(conn, Tile(None, rng.randrange(full), 256), size)))

            def inclusion() -> None:
                i = rng.randrange(size)
                store.latest_checkpoint(conn)
                store.size(conn)
                store.leaf(conn, i)
                store.inclusion_proof(conn, i, size)
                store.root(conn, size)

            def consistency() -> None:
                store.size(conn)
                first = rng.randint(1, size)
                store.consistency_proof(conn, first, size)
                store.root(conn, first)
                store.root(conn, size)

            out["inclusion"].append(timed(inclusion))
            out["consistency"].append(timed(consistency))
    c.engine.dispose()
    return {k: statistics.median(v) for k, v in out.items()}


def wait_ready(base: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/checkpoint", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    msg = f"server at {base} did not become ready"
    raise RuntimeError(msg)


def targets(kind: str, size: int, n: int, rng: random.Random) -> list[str]:
    from ledger.tiles import encode_index

    full = size // 256
    if kind == "tile":
        return [f"/tile/0/{encode_index(rng.randrange(full))}" for _ in range(n)]
    if kind == "bundle":
        return [f"/tile/entries/{encode_index(rng.randrange(full))}" for _ in range(n)]
    if kind == "inclusion":
        return [f"/v1/log/proofs/inclusion?index={rng.randrange(size)}&size={size}" for _ in range(n)]
    return [f"/v1/log/proofs/consistency?first={rng.randint(1, size)}&second={size}" for _ in range(n)]


async def drive(base: str, paths: list[str], clients: int) -> tuple[float, int]:
    """Requests per second for ``paths`` at ``clients`` concurrent clients; and the bytes received."""
    queue = list(reversed(paths))
    got = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal got
        while queue:
            path = queue.pop()
            r = await client.get(path)
            if r.status_code != 200:
                msg = f"GET {path}: {r.status_code} {r.text[:200]}"
                raise RuntimeError(msg)
            got += len(r.content)

    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        dt = time.perf_counter() - t0
    return len(paths) / dt, got


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--entries", type=int, default=100_000)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--pg", nargs="?", const=PG_DEFAULT, default=None, help="PostgreSQL base URL (default SQLite)")
    p.add_argument("--serve", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="bench-tiles-"))
    url = fresh_pg_schema(args.pg) if args.pg else f"sqlite:///{tmp / 'ledger.db'}"
    backend = "postgresql" if args.pg else "sqlite"
    t0 = time.perf_counter()
    size = build(url, args.entries)
    print(f"built {size} leaves on {backend} in {time.perf_counter() - t0:.1f} s", flush=True)
    work = in_process(url, size, 200, args.rounds)
    print("in process, median µs per call: " + ", ".join(f"{k} {v:,.0f}" for k, v in work.items()), flush=True)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.bench_tiles", "--serve", url, str(port)],
                            env={**os.environ, "PYTHONPATH": str(Path.cwd())}, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    rates: dict[str, list[float]] = {k: [] for k in KINDS}
    sizes: dict[str, float] = {}
    try:
        wait_ready(base)
        rng = random.Random(19)
        for kind in KINDS:  # warm-up: connections, statement caches, node cache
            asyncio.run(drive(base, targets(kind, size, 200, rng), args.clients))
        for r in range(args.rounds):
            order = KINDS[r % len(KINDS):] + KINDS[:r % len(KINDS)]
            for kind in order:
                rate, got = asyncio.run(drive(base, targets(kind, size, args.requests, rng), args.clients))
                rates[kind].append(rate)
                sizes[kind] = got / args.requests
            print(f"round {r + 1}: " + ", ".join(f"{k} {rates[k][-1]:,.0f}/s" for k in KINDS), flush=True)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        if args.pg:
            drop_pg_schema(url)
    med = {k: statistics.median(v) for k, v in rates.items()}
    out: dict[str, Any] = {
        "backend": backend, "leaves": size, "clients": args.clients, "requests": args.requests,
        "rounds": args.rounds, "per_round": rates, "median_rps": med, "bytes_per_response": sizes,
        "ratio_tile_to_inclusion": med["tile"] / med["inclusion"],
        "ratio_tile_to_consistency": med["tile"] / med["consistency"],
        "ratio_bundle_to_inclusion": med["bundle"] / med["inclusion"],
        "in_process_us": work,
    }
    path = write_result("tiles" if not args.pg else "tiles_pg", out)
    print(f"\n{backend}, {size:,} leaves, {args.clients} clients, medians of {args.rounds} rounds:")
    print("| kind | requests/s | bytes/response |\n|---|---|---|")
    for k in KINDS:
        print(f"| {k} | {med[k]:,.0f} | {sizes[k]:,.0f} |")
    print(f"tile / inclusion = {out['ratio_tile_to_inclusion']:.2f}, tile / consistency = "
          f"{out['ratio_tile_to_consistency']:.2f}, bundle / inclusion = {out['ratio_bundle_to_inclusion']:.2f}")
    print("in process (no HTTP), median µs per call: " + ", ".join(f"{k} {v:,.0f}" for k, v in work.items()))
    print(f"(written to {path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
