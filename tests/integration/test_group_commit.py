"""Group commit (issue 16 item 2, ADR 0008) on a SQLite file and on PostgreSQL.

Concurrent saves of one process share one append transaction; a save that breaks the
optimistic-concurrency check (inside its batch or against another process) or whose ``also``
hook refuses fails alone and writes nothing, the rest of its batch commits. Several processes,
each batching its own saves, append through the database's lock."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Self

import pytest
from sqlalchemy import func, select

from ledger.audit import events_table, verify_database
from ledger.errors import ConflictError, UsageError
from ledger.group_commit import GroupCommitter, Pending
from ledger.merkle_audit import check_merkle
from tests.fakes import Ticket, make_ledger


def count(c: Any) -> int:
    with c.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(events_table(c.engine))).scalar() or 0)


def verified(c: Any) -> Any:
    report = verify_database(c.engine, workers=1, merkle_check=check_merkle())
    assert report.ok, report.failure
    return report


def run_threads(n: int, fn: Callable[[int], None]) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def target(i: int) -> None:
        barrier.wait()
        try:
            fn(i)
        except BaseException as e:  # noqa: BLE001 - surfaced below
            errors.append(e)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors


def batched(c: Any) -> int:
    """How many saves were written in batches of more than one."""
    return sum(size * k for size, k in c.app._committer.batches.items() if size > 1)


class HeldLog:
    """Hold the log: a save whose ``also`` hook waits inside its transaction, so that saves made
    meanwhile queue and are then written as one batch."""

    def __init__(self, c: Any) -> None:
        self.c = c
        self.entered = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._save)

    def _hook(self, conn: Any) -> None:
        self.entered.set()
        assert self.release.wait(60)

    def _save(self) -> None:
        self.c.app.save(Ticket(actor="alice", title="holder"), also=self._hook)

    def __enter__(self) -> Self:
        self.thread.start()
        assert self.entered.wait(30)
        return self

    def wait_queued(self, n: int) -> None:
        """Until ``n`` saves wait behind the holder."""
        deadline = time.time() + 30
        while len(self.c.app._committer._queue) < n + 1:
            assert time.time() < deadline, "saves did not queue"
            time.sleep(0.005)

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.thread.join(30)


def test_many_threads_across_cases_all_land_in_shared_batches_and_verify(db_url: str) -> None:
    c = make_ledger(db_url)
    before = count(c)
    ids: list[uuid.UUID] = []

    def write(i: int) -> None:
        actor = "alice" if i % 2 else "bob"
        for k in range(6):
            t = Ticket(actor=actor, title=f"w{i}-{k}")
            t.note(actor=actor, text="现场", amount=k)
            c.app.save(t)
            ids.append(t.id)

    run_threads(16, write)
    assert count(c) == before + 16 * 6 * 2
    for tid in ids:
        assert [e.n for e, _, _ in c.app.case_records(tid)] == [1, 2]
    assert batched(c) > 0, c.app._committer.batches
    report = verified(c)
    assert report.leaves == report.entries == count(c)


def test_many_threads_on_one_case_each_acknowledged_note_is_there_once(db_url: str) -> None:
    c = make_ledger(db_url)
    t = Ticket(actor="alice", title="one case")
    c.app.save(t)
    acked: list[str] = []
    conflicts = [0]

    def write(i: int) -> None:
        for k in range(4):
            while True:
                agg = c.app.repository.get(t.id)
                agg.note(actor="alice", text=f"{i}-{k}", amount=k)
                try:
                    c.app.save(agg)
                except ConflictError:
                    conflicts[0] += 1
                    continue
                acked.append(f"{i}-{k}")
                break

    run_threads(8, write)
    notes = [e.body.get("text") for e, _, _ in c.app.case_records(t.id)][1:]
    assert sorted(notes) == sorted(acked)
    assert len(notes) == 8 * 4
    assert conflicts[0] > 0  # the writers did race
    verified(c)


def test_a_save_conflicting_inside_its_batch_fails_alone_and_the_batch_commits(db_url: str) -> None:
    c = make_ledger(db_url)
    t = Ticket(actor="alice", title="contested")
    c.app.save(t)
    a, b = c.app.repository.get(t.id), c.app.repository.get(t.id)
    a.note(actor="alice", text="first", amount=1)
    b.note(actor="bob", text="second", amount=2)  # both at n=2: only one can land
    others = [Ticket(actor="bob", title=f"other {i}") for i in range(3)]
    outcomes: dict[str, str] = {}

    def save(name: str, agg: Any) -> None:
        try:
            c.app.save(agg)
            outcomes[name] = "ok"
        except ConflictError as e:
            outcomes[name] = e.code

    before = count(c)
    with HeldLog(c) as held:
        threads = [threading.Thread(target=save, args=(name, agg)) for name, agg in
                   [("a", a), *((f"o{i}", o) for i, o in enumerate(others)), ("b", b)]]
        for th in threads:
            th.start()
            held.wait_queued(threads.index(th) + 1)  # queue in this order
    for th in threads:
        th.join(30)
    assert outcomes == {"a": "ok", "o0": "ok", "o1": "ok", "o2": "ok", "b": "E_CONFLICT"}
    assert c.app._committer.batches.get(5) == 1  # the five queued saves formed one batch
    assert [e.body.get("text") for e, _, _ in c.app.case_records(t.id)] == [None, "first"]
    assert count(c) == before + 1 + 1 + 3  # holder, a, others; nothing of b
    verified(c)


def test_a_stale_save_and_a_refusing_hook_fail_alone_when_another_process_won(db_url: str) -> None:
    c = make_ledger(db_url)
    other = make_ledger(db_url, open_registry=False)  # a second process's application
    t = Ticket(actor="alice", title="contested")
    c.app.save(t)
    stale = c.app.repository.get(t.id)
    stale.note(actor="alice", text="stale", amount=1)
    rival = other.app.repository.get(t.id)
    rival.note(actor="bob", text="rival", amount=2)
    other.app.save(rival)  # takes n=2 in the database; this process does not know
    good = [Ticket(actor="bob", title=f"good {i}") for i in range(3)]
    refused = Ticket(actor="alice", title="refused by its hook")

    class Refused(Exception):
        pass

    def refuse(conn: Any) -> None:
        raise Refused

    outcomes: dict[str, str] = {}

    def save(name: str, agg: Any, **kw: Any) -> None:
        try:
            c.app.save(agg, **kw)
            outcomes[name] = "ok"
        except ConflictError as e:
            outcomes[name] = e.code
        except Refused:
            outcomes[name] = "refused"

    before = count(c)
    jobs = [("g0", good[0], {}), ("stale", stale, {}), ("g1", good[1], {}), ("hook", refused, {"also": refuse}),
            ("g2", good[2], {})]
    with HeldLog(c) as held:
        threads = []
        for name, agg, kw in jobs:
            th = threading.Thread(target=save, args=(name, agg), kwargs=kw)
            th.start()
            threads.append(th)
            held.wait_queued(len(threads))
    for th in threads:
        th.join(30)
    assert outcomes == {"g0": "ok", "stale": "E_CONFLICT", "g1": "ok", "hook": "refused", "g2": "ok"}
    assert c.app._committer.batches.get(5) == 1  # one batch, rolled back, then each save alone
    assert [e.body.get("text") for e, _, _ in c.app.case_records(t.id)] == [None, "rival"]
    assert list(c.app.case_records(refused.id)) == []
    assert count(c) == before + 1 + 3
    for g in good:
        assert len(list(c.app.case_records(g.id))) == 1
    verified(c)
    other.engine.dispose()


def test_idempotency_hooks_commit_with_their_own_saves_in_a_batch(db_url: str) -> None:
    """Each save's ``also`` write lands with its entries; a hook that fails takes only its save down."""
    c = make_ledger(db_url)
    from sqlalchemy import Column, Integer, MetaData, String, Table

    md = MetaData()
    marks = Table("gc_marks", md, Column("id", Integer, primary_key=True), Column("name", String(40), unique=True))
    md.create_all(c.engine)

    def mark(name: str) -> Callable[[Any], None]:
        return lambda conn: conn.execute(marks.insert().values(name=name))

    results: dict[str, str] = {}
    tickets = {f"t{i}": Ticket(actor="alice", title=f"t{i}") for i in range(4)}

    def save(name: str, hook_name: str) -> None:
        try:
            c.app.save(tickets[name], also=mark(hook_name))
            results[name] = "ok"
        except Exception as e:  # noqa: BLE001 - recorded
            results[name] = type(e).__name__

    with HeldLog(c) as held:
        threads = []
        for name, hook_name in [("t0", "k0"), ("t1", "k1"), ("t2", "k0"), ("t3", "k3")]:  # t2 reuses k0
            th = threading.Thread(target=save, args=(name, hook_name))
            th.start()
            threads.append(th)
            held.wait_queued(len(threads))
    for th in threads:
        th.join(30)
    assert results["t0"] == results["t1"] == results["t3"] == "ok"
    assert results["t2"] != "ok"
    assert c.app._committer.batches.get(4) == 1
    with c.engine.connect() as conn:
        assert sorted(r[0] for r in conn.execute(select(marks.c.name))) == ["k0", "k1", "k3"]
    assert list(c.app.case_records(tickets["t2"].id)) == []
    verified(c)


def _process_writer(url: str, worker: int, saves: int, threads: int, out: Any) -> None:
    c = make_ledger(url, open_registry=False)
    c.app.refresh_keys()
    done: list[str] = []

    def write(i: int) -> None:
        for k in range(saves):
            t = Ticket(actor="alice", title=f"p{worker}-{i}-{k}")
            c.app.save(t)
            done.append(str(t.id))

    run_threads(threads, write)
    out.put(done)
    c.engine.dispose()


def test_several_processes_each_batching_their_threads_append_one_verifiable_log(db_url: str) -> None:
    c = make_ledger(db_url)
    before = count(c)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_process_writer, args=(db_url, w, 5, 6, out)) for w in range(3)]
    for p in procs:
        p.start()
    acked = [tid for _ in procs for tid in out.get(timeout=180)]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(acked) == 3 * 6 * 5
    assert count(c) == before + len(acked)
    for tid in acked:
        assert len(list(c.app.case_records(tid))) == 1
    report = verified(c)
    assert report.leaves == report.entries


def test_a_writer_error_reaches_every_save_of_its_batch_and_the_queue_moves_on() -> None:
    calls: list[int] = []

    def write(items: list[Pending]) -> None:
        calls.append(len(items))
        if len(calls) == 1:
            raise OSError("disk gone")
        for it in items:
            it.ids = [7]

    gc = GroupCommitter(write, max_batch=4)
    with pytest.raises(OSError, match="disk gone"):
        gc.submit(Pending([]))
    assert gc.submit(Pending([])) == [7]
    with pytest.raises(ValueError, match="max_batch"):
        GroupCommitter(write, max_batch=0)


@pytest.mark.parametrize("value", ["0", "-3", "lots", "10001", ""])
def test_a_bad_max_batch_setting_is_refused_at_start(sqlite_url: str, value: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROUP_COMMIT_MAX_BATCH", value)
    with pytest.raises(UsageError, match="GROUP_COMMIT_MAX_BATCH") as info:
        make_ledger(sqlite_url, open_registry=False)
    assert info.value.code == "E_USAGE"


def test_max_batch_one_writes_each_save_alone(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROUP_COMMIT_MAX_BATCH", "1")
    c = make_ledger(sqlite_url)
    assert c.app._committer is None
    run_threads(4, lambda i: c.app.save(Ticket(actor="alice", title=f"alone {i}")))
    verified(c)
