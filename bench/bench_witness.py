"""A witness's cost per checkpoint vs verifying the checkpoint alone (issue 19, item 2).

python -m bench.bench_witness [--checkpoints 200] [--rounds 5]

The witness (ledger/witness.py, SQLite state file) is fed ``checkpoints`` checkpoints of a
growing in-memory log, each with its RFC 9162 consistency proof from the previous one; each
request is parsed, the log signature verified, the proof checked, the state updated in one
``BEGIN IMMEDIATE`` transaction and a cosignature/v1 signed. The baseline, in the same run and
alternating rounds, is ``verify_checkpoint`` of the same notes (parse and one Ed25519 check).
Reports medians of checkpoints per second and the ratio.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from pathlib import Path

from nacl.signing import SigningKey

from bench.common import median_of, write_result
from ledger import checkpoint, merkle
from ledger.witness import Witness, format_request

ORIGIN = "bench.example/ledger"
LOG = SigningKey(bytes([71]) * 32)


def workload(n: int, step: int = 37) -> list[tuple[bytes, str]]:
    """(add-checkpoint request, note) for sizes step, 2 step, ... n step."""
    leaves = [hashlib.sha256(b"%d" % i).digest() for i in range(n * step)]
    fetch = merkle.memory_fetcher(leaves)
    out, old = [], 0
    for k in range(1, n + 1):
        size = k * step
        note = checkpoint.sign_checkpoint(ORIGIN, size, merkle.root_of(leaves[:size]), ORIGIN, LOG)
        proof = [bytes(h) for h in merkle.consistency_proof(old, size, fetch)] if old else []
        out.append((format_request(old, proof, note), note))
        old = size
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--checkpoints", type=int, default=200)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    work = workload(args.checkpoints)
    log_v = checkpoint.NoteVerifier.from_signing_key(ORIGIN, LOG)

    def witness_run() -> float:
        with tempfile.TemporaryDirectory() as d:
            w = Witness("bench.example/w1", SigningKey(bytes([72]) * 32), [log_v], Path(d) / "w.db")
            start = time.perf_counter()
            for body, _ in work:
                w.add_checkpoint(body)
            return len(work) / (time.perf_counter() - start)

    def verify_run() -> float:
        start = time.perf_counter()
        for _, note in work:
            checkpoint.verify_checkpoint(note, [log_v])
        return len(work) / (time.perf_counter() - start)

    wit, verify = [], []
    for _ in range(args.rounds):  # alternate, so machine noise hits both alike
        wit.append(median_of(witness_run, 1)[0])
        verify.append(median_of(verify_run, 1)[0])
    w_med, v_med = statistics.median(wit), statistics.median(verify)
    result = {"checkpoints": args.checkpoints, "rounds": args.rounds, "witness_per_s": round(w_med, 1),
              "verify_per_s": round(v_med, 1), "ratio": round(w_med / v_med, 3)}
    print(result)
    write_result("witness", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
