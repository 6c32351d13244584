"""A projection worker process: ``python -m projections.worker --db URL [--follow]``.

Runs the projection runner until the log is caught up (or, with ``--follow``, until SIGTERM or
SIGINT). Exactly-once is the runner's: the worker may be killed at any instant, SIGKILL included,
and a restart continues from the committed positions.

``--pause-ms`` sleeps after every table write inside each batch's transaction (for tests that
kill a worker mid-batch); it prints ``batch`` to stdout after each commit.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence

from sqlalchemy import Engine, create_engine


def engine_for(url: str) -> Engine:
    """An engine for ``url``; SQLite waits up to 30 s for the write lock."""
    if url.startswith("sqlite") and ":memory:" not in url:
        return create_engine(url, connect_args={"timeout": 30})
    return create_engine(url)


def main(argv: Sequence[str] | None = None) -> int:
    from projections.runner import DEFAULT_BATCH, ProjectionRunner  # noqa: PLC0415 - loaded once the arguments parse

    p = argparse.ArgumentParser(prog="python -m projections.worker")
    p.add_argument("--db", required=True)
    p.add_argument("--name", action="append", help="projection to run (repeatable; default all)")
    p.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    p.add_argument("--follow", action="store_true", help="keep following the log until SIGTERM")
    p.add_argument("--pause-ms", type=float, default=0.0, help="sleep after each write (tests)")
    args = p.parse_args(argv)
    pause = args.pause_ms / 1000

    def hook(stage: str) -> None:
        if stage == "commit":
            return
        if pause:
            time.sleep(pause)

    runner = ProjectionRunner(engine_for(args.db), args.name, batch_size=args.batch, hook=hook)
    runner.setup()
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    total = 0
    while not stopping:
        n = runner.run_once()
        total += n
        if n:
            print("batch", n, flush=True)
        elif not args.follow:
            break
        else:
            time.sleep(0.05)
    print("done", total, flush=True)
    for e in runner.failures().values():  # recorded in proj_failures; the others went on
        print(e.message, file=sys.stderr, flush=True)
    return 1 if runner.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
