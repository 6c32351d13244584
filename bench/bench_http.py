"""HTTP load against ``caseledger serve`` on PostgreSQL with 2 uvicorn workers (issues 7 and 16).

python -m bench.bench_http [--pg URL] [--per-level 1:200,16:640,64:1280,256:2560] [--rounds 3]

1. Builds a fresh PostgreSQL schema with the e2e world (registers, custodial keys, published and
   withdrawn notices) and one prepared inspection per client slot (dispatched, approved, checked
   in, certificates shown), so that every measured request appends exactly one signed entry
   (``POST /v1/cases/{id}/evidence``) and clients never contend for the same case.
2. Measures the in-process append rate first: the same command through ``LedgerApplication`` in
   this process, single-threaded, on the same database.
3. Starts ``caseledger serve --workers 2`` (``api.serve.cmd_serve``; projections as
   ``--project``, default ``elect``: one elected follower woken by NOTIFY) in a child process on
   loopback, and drives it from this process with asyncio + httpx at 1, 16, 64 and 256
   concurrent clients: appends per second and p50 / p99 latency, a fixed number of requests per
   level; then public-notice reads (``GET /v1/notices?limit=20`` and its cursors) by 64 clients
   while 64 others append. Every round runs every phase (rounds interleaved); medians over rounds.
4. Projection lag during each phase: the age of the oldest entry not yet projected, sampled
   every 50 ms from a separate connection, and the seconds to catch up after the phase.

Results go to bench/out/http.json and are printed (docs/benchmarks.md quotes them).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Self

import httpx

from bench.common import (
    PG_DEFAULT,
    drop_pg_schema,
    fresh_pg_schema,
    percentile,
    write_result,
)

SECRET = b"bench-master-secret-0123456789abcdef"
CASE_ENTRIES = 24  # evidence entries per prepared case before a client moves to its next case


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(url: str, data_dir: Path, cases: int) -> dict[str, Any]:
    """Seed the world and ``cases`` inspections ready for evidence; return what the load needs."""
    from api.app import create_app, default_config
    from api.auth import Role
    from api.blobs import BlobStore
    from api.bootstrap import bootstrap
    from api.settings import Settings
    from domain.uscc import make_uscc
    from ledger.codec import to_micros
    from tests.e2e.world import A0, ENT0, ENT1, ENTERPRISES, T, seed

    settings = Settings(db_url=url, master_secret=SECRET, data_dir=data_dir)
    c = bootstrap(settings)
    seed(c, 12)
    app = create_app(c, config=default_config(c, project="sync"))  # creates the API tables
    tokens = app.state.tokens
    tokens.add_principal("p-lin", [Role.OFFICER], agency=A0, name="林执法")
    token = tokens.issue_token("p-lin", label="bench")
    blob = BlobStore(data_dir / "blobs").put_bytes(b"bench evidence photo " * 500)
    ents = [ENT0, ENT1, make_uscc(ENTERPRISES[5][0] + "0")]
    a = c.app
    ids = []
    base = T("2025-06-02 09:00")
    for i in range(cases):
        day = base + timedelta(minutes=3 * i)
        cid = a.dispatch_inspection(task_no=f"BENCH-{i:05d}", inspection_type="routine", mode="on_site",
                                    uscc=ents[i % 3], at=day, actor="p-lin",
                                    assignments=[{"agency_code": A0, "item_codes": ["I-食品"],
                                                  "cert_nos": ["35010001", "35010002"]}])
        a.approve_inspection(inspection_id=cid, agency_code=A0, approver="head-sj", at=day + timedelta(seconds=10))
        a.record_arrival(inspection_id=cid, scan={"code_id": f"Q{i}", "uscc": ents[i % 3],
                                                  "scanned_at": to_micros(day)},
                         location="现场", at=day + timedelta(seconds=20), actor="p-lin")
        a.show_certificate(inspection_id=cid, cert_no="35010001", at=day + timedelta(seconds=30), actor="p-lin")
        a.show_certificate(inspection_id=cid, cert_no="35010002", at=day + timedelta(seconds=40), actor="p-chen")
        ids.append(str(cid))
    app.state.services.catch_up()
    c.engine.dispose()
    return {"token": token, "sha256": blob.sha256, "cases": ids, "start": base + timedelta(days=1)}


def evidence_body(i: int, sha: str, at: datetime) -> dict[str, Any]:
    return {"at": at.isoformat(), "evidence_id": f"EV-{i}", "evidence_type": "书证", "sha256": sha,
            "media_type": "image/jpeg", "source": "on_site", "cert_nos": ["35010001", "35010002"],
            "capture": {"device": "bench"}}


def in_process_rate(url: str, data_dir: Path, cases: list[str], sha: str, start: datetime, n: int) -> dict[str, Any]:
    """The same append, called on LedgerApplication in this process, one at a time."""
    from uuid import UUID

    from api.bootstrap import bootstrap
    from api.settings import Settings

    c = bootstrap(Settings(db_url=url, master_secret=SECRET, data_dir=data_dir))
    lat = []
    t0 = time.perf_counter()
    for k in range(n):
        cid = UUID(cases[k // CASE_ENTRIES])
        s = time.perf_counter()
        c.app.log_evidence(inspection_id=cid, evidence_id=f"IP-{k}", evidence_type="书证", sha256=sha, size=10500,
                           media_type="image/jpeg", source="on_site", capture={"device": "bench"},
                           cert_nos=["35010001", "35010002"], at=start + timedelta(seconds=k % CASE_ENTRIES),
                           actor="p-lin")
        lat.append(time.perf_counter() - s)
    took = time.perf_counter() - t0
    c.engine.dispose()
    return {"appends": n, "seconds": round(took, 3), "per_second": round(n / took, 1),
            "p50_ms": round(percentile(lat, 50) * 1000, 2), "p99_ms": round(percentile(lat, 99) * 1000, 2)}


async def append_level(base: str, token: str, sha: str, cases: list[str], start: datetime, clients: int,
                       total: int, tag: str) -> dict[str, Any]:
    per_client = total // clients
    lat: list[float] = []
    errors: dict[int | str, int] = {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60,
                                 headers={"Authorization": f"Bearer {token}"}) as http:

        async def client(ci: int) -> None:
            slots = cases[ci::clients]
            for k in range(per_client):
                cid = slots[k // CASE_ENTRIES]
                body = evidence_body(k, sha, start + timedelta(seconds=k % CASE_ENTRIES))
                body["evidence_id"] = f"{tag}-{ci}-{k}"
                s = time.perf_counter()
                try:
                    r = await http.post(f"/v1/cases/{cid}/evidence", json=body)
                except httpx.TransportError as e:  # counted, not retried: it is a result too
                    errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
                    continue
                lat.append(time.perf_counter() - s)
                if r.status_code != 200:
                    errors[r.status_code] = errors.get(r.status_code, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(clients)))
        took = time.perf_counter() - t0
    n = per_client * clients
    return {"clients": clients, "appends": n, "seconds": round(took, 3), "per_second": round(n / took, 1),
            "p50_ms": round(percentile(lat, 50) * 1000, 2), "p99_ms": round(percentile(lat, 99) * 1000, 2),
            "errors": errors}


async def read_level(base: str, clients: int, total: int) -> dict[str, Any]:
    lat: list[float] = []
    errors: dict[int | str, int] = {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:

        async def client() -> None:
            cursor = None
            for _ in range(total // clients):
                s = time.perf_counter()
                try:
                    r = await http.get("/v1/notices", params={"limit": 20, **({"cursor": cursor} if cursor else {})})
                except httpx.TransportError as e:  # counted, not retried: it is a result too
                    errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
                    cursor = None
                    continue
                lat.append(time.perf_counter() - s)
                if r.status_code != 200:
                    errors[r.status_code] = errors.get(r.status_code, 0) + 1
                    cursor = None
                    continue
                cursor = r.json()["next_cursor"]

        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        took = time.perf_counter() - t0
    n = (total // clients) * clients
    return {"clients": clients, "reads": n, "seconds": round(took, 3), "per_second": round(n / took, 1),
            "p50_ms": round(percentile(lat, 50) * 1000, 2), "p99_ms": round(percentile(lat, 99) * 1000, 2),
            "errors": errors}


def start_server(url: str, data_dir: Path, port: int, workers: int, log: Path,
                 project: str = "elect") -> subprocess.Popen[bytes]:
    env = {**os.environ, "CASELEDGER_DB": url, "CASELEDGER_MASTER_SECRET": SECRET.decode(),
           "CASELEDGER_DATA_DIR": str(data_dir), "CASELEDGER_PROJECT": project,
           "PYTHONPATH": str(Path.cwd())}
    code = ("import argparse, sys; from api.serve import cmd_serve; "
            f"sys.exit(cmd_serve(argparse.Namespace(db={url!r}, host='127.0.0.1', port={port}, workers={workers}, "
            "log_level='info', public_url=None, checkpoint_every=0)))")
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(base: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    msg = f"server at {base} did not become ready"
    raise RuntimeError(msg)


def parse_levels(spec: str) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in (x.split(":") for x in spec.split(","))]


class LagSampler:
    """Projection lag while the load runs: every ``every`` s, the log's head (max notification id)
    and the projections' slowest position; the lag is the age of the oldest entry not yet
    projected (0 when caught up), in seconds."""

    def __init__(self, url: str, every: float = 0.05) -> None:
        from sqlalchemy import create_engine

        from api.settings import sqlalchemy_url

        self.engine = create_engine(sqlalchemy_url(url), pool_size=1)
        self.every = every
        self.seen: list[tuple[float, int]] = []  # (first time seen, head)
        self.lags: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> tuple[int, int]:
        with self.engine.connect() as conn:
            head = int(conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM ledger_events").scalar() or 0)
            pos = int(conn.exec_driver_sql("SELECT coalesce(min(position), 0) FROM proj_tracking").scalar() or 0)
        return head, pos

    def _run(self) -> None:
        while not self._stop.is_set():
            head, pos = self.sample()
            now = time.perf_counter()
            if not self.seen or head > self.seen[-1][1]:
                self.seen.append((now, head))
            oldest = next((t for t, h in self.seen if h > pos), None)
            self.lags.append(0.0 if oldest is None else now - oldest)
            self._stop.wait(self.every)

    def __enter__(self) -> Self:
        self.lags = []
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()

    def summary(self) -> dict[str, float]:
        xs = self.lags or [0.0]
        return {"p50_ms": round(percentile(xs, 50) * 1000, 1), "p99_ms": round(percentile(xs, 99) * 1000, 1),
                "max_ms": round(max(xs) * 1000, 1)}

    def catch_up_seconds(self, timeout: float = 120) -> float:
        """After the load: seconds until the projections reach the head."""
        t0 = time.perf_counter()
        head, pos = self.sample()
        while pos < head and time.perf_counter() - t0 < timeout:
            time.sleep(0.02)
            _, pos = self.sample()
        return round(time.perf_counter() - t0, 3)


async def mixed_level(base: str, token: str, sha: str, cases: list[str], start: datetime, appenders: int,
                      appends: int, readers: int, reads: int, tag: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Public notice reads by ``readers`` clients while ``appenders`` clients append."""
    w, r = await asyncio.gather(append_level(base, token, sha, cases, start, appenders, appends, tag),
                                read_level(base, readers, reads))
    return w, r


def _median_of(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {k: round(statistics.median(r[k] for r in rows), 2) for k in keys}
    out["rounds"] = [{k: r[k] for k in (*keys, "errors") if k in r} for r in rows]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg", default=os.environ.get("CASELEDGER_TEST_PG_URL", PG_DEFAULT))
    ap.add_argument("--per-level", default="1:200,16:640,64:1280,256:2560", help="clients:requests,...")
    ap.add_argument("--reads", type=int, default=3200, help="notice reads in the mixed phase")
    ap.add_argument("--readers", type=int, default=64)
    ap.add_argument("--mixed-appends", type=int, default=1280, help="appends (64 clients) during the reads")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--in-process", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--project", default=os.environ.get("BENCH_PROJECT", "elect"),
                    help="CASELEDGER_PROJECT for the server: elect (default), follow or off")
    args = ap.parse_args()
    levels = parse_levels(args.per_level)
    # Every phase of every round appends to the same prepared cases, each phase an hour after the last
    # (an inspection's entries go forward in time); a case's length does not change a command's cost.
    slots = max(*(clients for clients, _ in levels), 64)
    ip_cases = -(-args.in_process // CASE_ENTRIES)
    url = fresh_pg_schema(args.pg)
    tmp = Path(tempfile.mkdtemp(prefix="bench-http-"))
    proc = None
    try:
        t0 = time.perf_counter()
        prep = prepare(url, tmp, slots + ip_cases)
        print(f"prepared {slots + ip_cases} inspections in {time.perf_counter() - t0:.1f} s", flush=True)
        cases = prep["cases"]
        in_cases, cases = cases[:ip_cases], cases[ip_cases:]
        in_proc = in_process_rate(url, tmp, in_cases, prep["sha256"], prep["start"], args.in_process)
        print(f"in-process: {in_proc['per_second']} appends/s (p50 {in_proc['p50_ms']} ms)", flush=True)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        proc = start_server(url, tmp, port, args.workers, tmp / "server.log", args.project)
        wait_ready(base)
        lag = LagSampler(url)
        runs: dict[str, list[dict[str, Any]]] = {str(c): [] for c, _ in levels}
        mixed_w: list[dict[str, Any]] = []
        mixed_r: list[dict[str, Any]] = []
        phase = 0

        def at() -> datetime:
            return prep["start"] + timedelta(hours=phase)

        asyncio.run(append_level(base, prep["token"], prep["sha256"], cases, at(), slots, slots, "W"))  # warm-up
        for rnd in range(args.rounds):
            for clients, total in levels:  # rounds interleaved: every level once per round
                phase += 1
                with lag:
                    r = asyncio.run(append_level(base, prep["token"], prep["sha256"], cases, at(),
                                                 clients, total, f"L{rnd}-{clients}"))
                r["lag"] = lag.summary()
                r["catch_up_s"] = lag.catch_up_seconds()
                runs[str(clients)].append(r)
                print(f"round {rnd} HTTP {clients:>3} clients: {r['per_second']:>7} appends/s  p50 {r['p50_ms']:>7} ms"
                      f"  p99 {r['p99_ms']:>7} ms  errors {r['errors']}  projection lag p99 {r['lag']['p99_ms']} ms",
                      flush=True)
            phase += 1
            with lag:
                w, rd = asyncio.run(mixed_level(base, prep["token"], prep["sha256"], cases[:64], at(), 64,
                                                args.mixed_appends, args.readers, args.reads, f"M{rnd}"))
            w["lag"] = lag.summary()
            w["catch_up_s"] = lag.catch_up_seconds()
            mixed_w.append(w)
            mixed_r.append(rd)
            print(f"round {rnd} notices ({args.readers} clients, 64 appending): {rd['per_second']} reads/s  "
                  f"p50 {rd['p50_ms']} ms  p99 {rd['p99_ms']} ms  errors {rd['errors']}; appends {w['per_second']}/s "
                  f"p99 {w['p99_ms']} ms", flush=True)
        keys = ("per_second", "p50_ms", "p99_ms")
        results = []
        for clients, _ in levels:
            rows = runs[str(clients)]
            m = _median_of(rows, keys)
            m["clients"] = clients
            m["lag_p99_ms"] = statistics.median(r["lag"]["p99_ms"] for r in rows)
            m["lag_max_ms"] = statistics.median(r["lag"]["max_ms"] for r in rows)
            m["catch_up_s"] = statistics.median(r["catch_up_s"] for r in rows)
            results.append(m)
        reads = _median_of(mixed_r, keys)
        reads["clients"] = args.readers
        during = _median_of(mixed_w, keys)
        during["lag_p99_ms"] = statistics.median(r["lag"]["p99_ms"] for r in mixed_w)
        print("\nmedians over rounds")
        for m in results:
            print(f"HTTP {m['clients']:>3} clients: {m['per_second']:>7} appends/s  p50 {m['p50_ms']:>7} ms  "
                  f"p99 {m['p99_ms']:>7} ms  projection lag p99 {m['lag_p99_ms']} ms (max {m['lag_max_ms']} ms), "
                  f"caught up {m['catch_up_s']} s after the load")
        print(f"notices ({args.readers} clients while 64 append): {reads['per_second']} reads/s  p50 {reads['p50_ms']} "
              f"ms  p99 {reads['p99_ms']} ms; appends meanwhile {during['per_second']}/s p99 {during['p99_ms']} ms")
        out = {"backend": "postgresql", "workers": args.workers, "project": args.project, "rounds": args.rounds,
               "in_process": in_proc, "http_appends": results, "notice_reads_while_appending": reads,
               "appends_during_reads": during,
               "http_vs_in_process": {str(r["clients"]): round(r["per_second"] / in_proc["per_second"], 2)
                                      for r in results},
               "note": "each append = POST /v1/cases/{id}/evidence: bearer auth, case scope (cached), body validation, "
                       "custodial signing, one signed entry + its Merkle leaf in one transaction; projections "
                       f"kept current as CASELEDGER_PROJECT={args.project}; projection lag = age of the oldest "
                       "entry not yet projected, sampled every 50 ms"}
        path = write_result("http", out)
        print(f"wrote {path}")
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        drop_pg_schema(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
