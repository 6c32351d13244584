"""`caseledger verify` throughput against a raw PyNaCl verify loop (issue 2).

python -m bench.bench_verify [--entries 1000000] [--small 100000] [--db URL]

Builds (or reuses) a SQLite ledger of ``--entries`` signed, chained entries, then measures in one
run: the raw PyNaCl verify rate on one core (same messages), pass 1 of verify with 1 and with 2
worker processes, and the full verify (pass 1 + Merkle pass 2). Peak RSS of the verifier and its
workers is compared between a ledger of ``--small`` entries and the big one.

Rates are reported per wall-clock second and per CPU-second (user + system time of the
verifier's process and its workers, or of the raw loop): on a shared machine the CPU-second
rates say what one core does whatever else is running, the wall-clock ones how long it took.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from nacl.signing import VerifyKey

from bench.common import OFFICERS, bulk_fill, ledger_with_officers, write_result
from ledger.chain import decode_record
from ledger.signing import ENTRY_CONTEXT, signed_message

HERE = Path(__file__).resolve().parent


def build(path: Path, n: int) -> str:
    url = f"sqlite:///{path}"
    if path.exists():
        return url
    t = time.perf_counter()
    c = ledger_with_officers(url)
    bulk_fill(c, n)
    print(f"built {n} entries in {time.perf_counter() - t:.0f}s", flush=True)
    return url


def raw_rate(url: str, sample: int) -> tuple[float, float]:
    """Entries/s of a bare PyNaCl verify loop over the ledger's own signed messages (one core):
    (per wall second, per CPU second of this process)."""
    from sqlalchemy import create_engine, text

    from ledger.chain import decode_entry
    from ledger.hashing import entry_hash, key_id

    by_kid = {key_id(bytes(k.verify_key)): VerifyKey(bytes(k.verify_key)) for k in OFFICERS}
    eng = create_engine(url)
    with eng.connect() as c:
        states = [bytes(r[0]) for r in c.execute(text(f"SELECT state FROM ledger_events LIMIT {sample}"))]
    msgs = []
    for s in states:
        data, sig = decode_record(s)
        vk = by_kid.get(decode_entry(data).key)
        if vk is not None:
            msgs.append((vk, signed_message(ENTRY_CONTEXT, entry_hash(data)), sig))
    t, cpu = time.perf_counter(), time.process_time()
    for vk, m, sig in msgs:
        vk.verify(m, sig)
    return len(msgs) / (time.perf_counter() - t), len(msgs) / (time.process_time() - cpu)


def run_verify(url: str, workers: int, *, merkle: bool) -> dict[str, Any]:
    """Run verify in a child process so that its peak RSS (and its workers') is its own."""
    code = f"""
import json, resource, time
from sqlalchemy import create_engine
from ledger.audit import verify_database
from ledger.merkle_audit import check_merkle
def cpu():
    return sum(getattr(resource.getrusage(w), f) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))
eng = create_engine({url!r})
t, c = time.perf_counter(), cpu()
r = verify_database(eng, workers={workers}, merkle_check={'check_merkle()' if merkle else 'None'})
dt, dc = time.perf_counter() - t, cpu() - c
print(json.dumps({{"ok": r.ok, "entries": r.entries, "seconds": dt, "rate": r.entries / dt,
  "cpu_seconds": dc, "rate_per_cpu_second": r.entries / dc,
  "rss_self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
  "rss_children_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=HERE.parent)
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--small", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default=str(HERE / "out"))
    a = ap.parse_args()
    d = Path(a.dir)
    d.mkdir(parents=True, exist_ok=True)
    big = build(d / f"verify_{a.entries}.db", a.entries)
    small = build(d / f"verify_{a.small}.db", a.small)
    res: dict[str, Any] = {"entries": a.entries, "small_entries": a.small, "rounds": a.rounds}
    raws, one, two, raws_cpu, one_cpu, two_cpu = [], [], [], [], [], []
    for _ in range(a.rounds):  # interleave so that noise hits every variant alike
        w, c = raw_rate(big, 50_000)
        raws.append(w)
        raws_cpu.append(c)
        for out, out_cpu, workers in ((one, one_cpu, 1), (two, two_cpu, 2)):
            r = run_verify(big, workers, merkle=False)
            out.append(r["rate"])
            out_cpu.append(r["rate_per_cpu_second"])
    raw, r1, r2 = statistics.median(raws), statistics.median(one), statistics.median(two)
    raw_c, r1_c, r2_c = statistics.median(raws_cpu), statistics.median(one_cpu), statistics.median(two_cpu)
    full = run_verify(big, 2, merkle=True)
    small_full = run_verify(small, 2, merkle=True)
    res.update({
        "raw_pynacl_per_s_1core": round(raw), "verify_1_worker_per_s": round(r1), "verify_2_workers_per_s": round(r2),
        "ratio_1_worker_vs_raw": round(r1 / raw, 3), "ratio_2_workers_vs_raw": round(r2 / raw, 3),
        "full_verify_with_merkle": full, "full_verify_small": small_full,
        # Per CPU-second of the verifier (parent + workers): what one core does, whatever else runs.
        "raw_pynacl_per_cpu_s": round(raw_c), "verify_1_worker_per_cpu_s": round(r1_c),
        "verify_2_workers_per_cpu_s": round(r2_c), "ratio_1_worker_vs_raw_cpu": round(r1_c / raw_c, 3),
        "ratio_2_workers_vs_raw_cpu": round(r2_c / raw_c, 3),
        "load_average": __import__("os").getloadavg(),
        "runs": {"raw": raws, "one": one, "two": two, "raw_cpu": raws_cpu, "one_cpu": one_cpu, "two_cpu": two_cpu},
    })
    print(f"raw PyNaCl 1 core {raw:9.0f}/s | verify 1 worker {r1:9.0f}/s ({r1 / raw:.2f}x) | "
          f"2 workers {r2:9.0f}/s ({r2 / raw:.2f}x, {r2 / r1:.2f}x one worker)")
    print(f"per CPU-second: raw {raw_c:9.0f} | verify 1 worker {r1_c:9.0f} ({r1_c / raw_c:.2f}x) | "
          f"2 workers {r2_c:9.0f} ({r2_c / raw_c:.2f}x)")
    print(f"full verify {a.entries}: {full['seconds']:.1f}s, peak RSS self {full['rss_self_kb'] / 1024:.0f} MiB, "
          f"workers {full['rss_children_kb'] / 1024:.0f} MiB; {a.small}: self "
          f"{small_full['rss_self_kb'] / 1024:.0f} MiB, workers {small_full['rss_children_kb'] / 1024:.0f} MiB")
    print("wrote", write_result("verify", res))


if __name__ == "__main__":
    main()
