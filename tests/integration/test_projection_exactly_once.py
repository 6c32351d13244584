"""Exactly-once projection processing: SIGKILL a worker mid-batch, restart, compare with a rebuild.

Runs on a SQLite file and on PostgreSQL. The worker is a real process
(``python -m projections.worker``) that pauses after every table write inside its transaction,
so a kill lands mid-batch.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

import projections
from projections.runner import ProjectionRunner, dump
from projections.source import head_position
from projections.tables import AUDIT
from tests.unit.projections.scenario import T, dispatch, publish, to_decision, world

ROOT = Path(projections.__file__).resolve().parents[1]


def a_busy_ledger(url: str) -> Any:
    c = world(url)
    for i in range(4):
        iid = to_decision(c.app, f"T-{i}")
        publish(c.app, iid, T("2025-09-29 10:00"))
    c.app.alter_decision(inspection_id=iid, kind="revoked", reason="复议撤销", basis_ref="复议-1",
                         at=T("2025-09-30 10:00"), actor="head")
    c.app.withdraw_publication(inspection_id=iid, reason_text="已撤销", at=T("2025-10-09 10:00"), actor="pub")
    for i in range(3):
        dispatch(c.app, f"D-{i}", T("2025-10-10 09:00"))
    return c


def worker(url: str, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "projections.worker", "--db", url, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def kill_mid_batch(url: str, batches_first: int) -> None:
    """Start a slow worker, let it commit ``batches_first`` batches, then SIGKILL it inside the next."""
    w = worker(url, "--batch", "7", "--pause-ms", "40")
    try:
        seen = 0
        assert w.stdout is not None
        while seen < batches_first:
            line = w.stdout.readline()
            assert line, w.stderr.read() if w.stderr else "worker exited"
            seen += line.startswith("batch")
        time.sleep(0.1)  # inside the next batch: several 40 ms pauses between its writes
        assert w.poll() is None, "the worker finished before it could be killed"
    finally:
        w.send_signal(signal.SIGKILL)
        w.wait(timeout=30)
    assert w.returncode == -signal.SIGKILL


def test_a_worker_killed_mid_batch_resumes_and_equals_a_clean_rebuild(db_url: str) -> None:
    c = a_busy_ledger(db_url)
    runner = ProjectionRunner(c.engine)
    runner.setup()

    kill_mid_batch(db_url, 2)
    after_first_kill = runner.positions()
    kill_mid_batch(db_url, 3)
    after_second_kill = runner.positions()
    done = worker(db_url, "--batch", "11")
    _out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err

    head = c.app.recorder.max_notification_id()
    # Every kill left each projection exactly at a committed batch boundary of 7 (or untouched).
    assert all(p % 7 == 0 and 0 < p < head for p in after_first_kill.values()), after_first_kill
    assert all(p % 7 == 0 and p < head for p in after_second_kill.values()), after_second_kill
    assert set(runner.positions().values()) == {head}
    incremental = dump(c.engine)
    with c.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AUDIT)).scalar() == head_position(conn) == head

    ProjectionRunner(c.engine, batch_size=5000).rebuild()

    assert dump(c.engine) == incremental


def test_two_runners_racing_apply_every_notification_once(db_url: str) -> None:
    c = a_busy_ledger(db_url)
    ProjectionRunner(c.engine).setup()
    errors: list[BaseException] = []

    def run(batch: int) -> None:
        try:
            ProjectionRunner(c.engine, batch_size=batch).run()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run, args=(b,)) for b in (3, 5, 8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    leftover = ProjectionRunner(c.engine).run()  # a runner that lost a race stops early; catch up
    incremental = dump(c.engine)
    assert leftover >= 0

    ProjectionRunner(c.engine, batch_size=5000).rebuild()

    assert dump(c.engine) == incremental


def test_rebuilding_one_projection_leaves_the_others_alone(db_url: str) -> None:
    c = a_busy_ledger(db_url)
    ProjectionRunner(c.engine).rebuild()
    before = dump(c.engine)

    ProjectionRunner(c.engine, ["public_notices"]).rebuild()

    assert dump(c.engine) == before
    assert ProjectionRunner(c.engine).positions()["public_notices"] == c.app.recorder.max_notification_id()


def test_tables_of_an_older_projection_version_are_rebuilt_on_setup(db_url: str) -> None:
    from sqlalchemy import update

    from projections.tables import TRACKING

    c = a_busy_ledger(db_url)
    ProjectionRunner(c.engine).rebuild()
    before = dump(c.engine)
    with c.engine.begin() as conn:
        conn.execute(update(TRACKING).where(TRACKING.c.name == "statistics").values(version=0))

    runner = ProjectionRunner(c.engine)
    reset = runner.setup()

    assert reset == ["statistics"]
    assert runner.positions()["statistics"] == 0
    runner.run()
    assert dump(c.engine) == before


def test_a_parallel_rebuild_in_worker_processes_equals_a_serial_one(db_url: str) -> None:
    from projections.runner import parallel_rebuild

    c = a_busy_ledger(db_url)
    ProjectionRunner(c.engine).rebuild()
    serial = dump(c.engine)

    n = parallel_rebuild(db_url, jobs=2, batch_size=50, poll=0.05)

    assert n == c.app.recorder.max_notification_id()
    assert dump(c.engine) == serial
