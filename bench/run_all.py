"""Run every benchmark in its quick form (``make bench``); each writes bench/out/<name>.json.

The issue-sized runs (1,000,000 entries or leaves) are the modules' defaults; run them one by
one, e.g. ``python -m bench.bench_verify``, on a quiet machine.
"""

from __future__ import annotations

import subprocess
import sys

QUICK = [
    ["bench.bench_append", "--saves", "200", "--rounds", "5"],
    ["bench.bench_verify", "--entries", "100000", "--small", "10000", "--rounds", "3"],
    ["bench.bench_merkle", "--quick"],
    ["bench.bench_merkle_commit", "--commits", "1000"],
    ["bench.bench_bundle"],
    ["bench.bench_projections"],
    ["bench.bench_browser_verify", "--leaves", "10000", "--runs", "9", "--loads", "3"],
    ["bench.bench_witness"],
    ["bench.bench_tiles", "--entries", "5000", "--requests", "200", "--rounds", "3"],
]


def main() -> int:
    failed = 0
    for mod, *args in QUICK:
        print(f"== {mod} {' '.join(args)}", flush=True)
        failed += subprocess.run([sys.executable, "-m", mod, *args], check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
