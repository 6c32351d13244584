"""One projection follower per deployment (issue 16, item 3; projections/leader.py).

Several processes offer to follow the log; a database lock (PostgreSQL advisory lock, SQLite file
lock) elects one, and on PostgreSQL the elected follower is woken by the ledger's ``NOTIFY``. Two
followers here stand for two HTTP workers: they use separate connections and lock handles, as
separate processes would.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from projections.leader import Follower
from projections.runner import ProjectionRunner
from tests.unit.projections.scenario import T, dispatch, world


def wait_for(cond: Any, timeout: float = 10.0) -> float:
    """Seconds until ``cond()`` held (AssertionError after ``timeout``)."""
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, "timed out"
        time.sleep(0.02)
    return time.monotonic() - t0


def test_one_follower_is_elected_woken_by_notify_and_replaced_when_it_stops(db_url: str) -> None:
    c = world(db_url)
    pg = c.engine.dialect.name == "postgresql"
    # On PostgreSQL the followers would look only every 30 s: catching up at once proves the NOTIFY woke them.
    kw = {"retry": 0.1, "idle": 30.0 if pg else 0.05, "sqlite_idle": 0.05}
    followers = [Follower(c.engine, ProjectionRunner(c.engine), **kw) for _ in range(2)]
    followers[0].runner.setup()
    stops = [threading.Event() for _ in followers]
    threads = [threading.Thread(target=f.run, args=(s,), daemon=True) for f, s in zip(followers, stops, strict=True)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: any(f.elected for f in followers))
        time.sleep(0.3)  # several retry periods: the other must still not be elected
        assert sum(f.elected for f in followers) == 1
        first = next(f for f in followers if f.elected)
        runner = first.runner

        def caught_up() -> bool:
            return min(runner.positions().values()) == runner.head()

        wait_for(caught_up)
        dispatch(c.app, "T-F1", T("2025-09-01 09:00"))
        assert wait_for(caught_up, timeout=5) < 5
        # The elected follower stops (its process ends): the other takes over within a retry period.
        k = followers.index(first)
        stops[k].set()
        threads[k].join(timeout=35)
        other = followers[1 - k]
        wait_for(lambda: other.elected, timeout=5)
        assert not first.elected
        dispatch(c.app, "T-F2", T("2025-09-01 10:00"))
        assert wait_for(caught_up, timeout=5) < 5
    finally:
        for s in stops:
            s.set()
        for t in threads:
            t.join(timeout=35)


def test_project_follow_joins_the_election_and_keeps_the_projections_current(db_url: str) -> None:
    """``caseledger project --follow`` waits while another process follows, then takes over."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    c = world(db_url)
    runner = ProjectionRunner(c.engine)
    runner.setup()
    holder = Follower(c.engine, ProjectionRunner(c.engine), retry=0.1, sqlite_idle=0.05)
    stop = threading.Event()
    t = threading.Thread(target=holder.run, args=(stop,), daemon=True)
    t.start()
    wait_for(lambda: holder.elected)
    cli = Path(sys.executable).parent / "caseledger"
    proc = subprocess.Popen([str(cli), "project", "--follow", "--db", db_url], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        time.sleep(1.0)
        stop.set()  # this process's follower ends; the command is elected within its retry period
        t.join(timeout=10)
        dispatch(c.app, "T-CLI", T("2025-09-01 09:00"))
        wait_for(lambda: min(runner.positions().values()) == runner.head(), timeout=20)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        _out, err = proc.communicate(timeout=20)
    assert "waiting to be elected" in err
    assert "following the log (elected)" in err, err
