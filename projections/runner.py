"""The projection runner: follows the notification log and applies it exactly once.

Exactly-once, per projection name:

1. Read the tracked positions (``proj_tracking``) and the next batch of notifications after the
   lowest of them, decoded, in log order.
2. In ONE transaction: move each projection's tracking row from the position it was read at to the
   batch's last position with ``UPDATE ... WHERE name = :name AND position = :read`` (an
   optimistic claim: if another runner moved it first the update matches no row, the transaction
   is rolled back and nothing is written), then let each projection write its rows for the items
   after its own position.
3. Commit. The rows and the new position become visible together, or neither does.

A crash (even SIGKILL) anywhere before the commit loses the whole batch and the next run reads it
again from the unchanged position; a crash after the commit loses nothing. Two runners never
apply the same batch twice: the second one's claim fails. Because every projection is a pure
function of the log, processing in any batch split gives the same tables as a full rebuild
(tested with hypothesis in tests/integration/test_projection_properties.py).

Positions are notification ids. The ledger's recorder appends under a table lock, so ids become
visible in id order and no notification can appear behind a position already passed.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from domain.text import escape_text
from ledger.limits import DEFAULT_LIMITS, Limits
from projections.base import Hook, Projection
from projections.bulk import REBUILDING, WINDOW, bulk_rebuild
from projections.errors import ProjectionFailed, StaleProjection, UnknownProjection
from projections.projectors import BY_NAME
from projections.source import Item, head_position, read_batch
from projections.tables import FAILURES, METADATA, TABLES, TRACKING

DEFAULT_BATCH = 1000
#: Seconds a runner waits before retrying a projection that failed on an entry.
RETRY_AFTER = 60.0
_MAX_ERROR = 500
log = logging.getLogger("caseledger.projections")


def _isolable(e: BaseException) -> bool:
    """A projector's failure on an entry (isolated to that projection), not the database going away
    or another runner winning the batch (which abort the whole batch, as before)."""
    return not isinstance(e, _Lost | OperationalError | InterfaceError)
REBUILD_BATCH = 5000


def _relax_sqlite_sync(conn: Connection) -> int | None:
    """On SQLite in WAL mode, commit this connection's projection batches with ``synchronous=NORMAL``.

    NORMAL in WAL mode survives a crash of the process (SIGKILL included) and loses, at worst, the
    last commits on an OS crash or power cut, and then the rows and their tracking position
    together (a WAL commit is atomic), so exactly-once still holds; the projection just replays
    those batches. The setting is per connection and is restored before the connection goes back
    to the pool, so the ledger's own writes on a shared engine keep their durability.
    Returns the previous setting, or None when nothing was changed.
    """
    if conn.dialect.name != "sqlite":
        return None
    if str(conn.exec_driver_sql("PRAGMA journal_mode").scalar()).lower() != "wal":
        return None
    old = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    if old is None or int(old) <= 1:
        return None
    conn.exec_driver_sql("PRAGMA synchronous=1")
    return int(old)


class _Lost(Exception):
    """Another runner advanced a tracking row first."""


def projection_names() -> list[str]:
    return list(BY_NAME)


def resolve(names: Iterable[str] | None) -> list[str]:
    out = list(names) if names else projection_names()
    unknown = [n for n in out if n not in BY_NAME]
    if unknown:
        msg = f"unknown projection {unknown[0]!r}; known: {', '.join(BY_NAME)}"
        raise UnknownProjection(msg, name=unknown[0])
    return out


class ProjectionRunner:
    """Runs the named projections (all by default) over the log on ``engine``.

    ``hook(stage)`` is called after each table write inside the transaction (tests use it to
    pause a worker mid-batch); ``batch_size`` bounds the notifications per transaction.
    """

    def __init__(self, engine: Engine, names: Iterable[str] | None = None, *, batch_size: int = DEFAULT_BATCH,
                 limits: Limits = DEFAULT_LIMITS, hook: Hook = None, strict: bool = False,
                 retry_after: float = RETRY_AFTER) -> None:
        self.engine = engine
        self.names = resolve(names)
        self.projections: list[Projection] = [BY_NAME[n]() for n in self.names]
        self.batch_size = batch_size
        self.limits = limits
        self.hook = hook
        self.strict = strict
        #: Seconds before a projection that failed on an entry is tried again by this runner.
        self.retry_after = retry_after
        self._failed: dict[str, tuple[ProjectionFailed, float]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ schema
    def setup(self, *, rebuild_stale: bool = True) -> list[str]:
        """Create missing tables and tracking rows. Tables built by another version of a projection are
        dropped and rebuilt from position 0 (``rebuild_stale``), or refused with ``StaleProjection``.
        Returns the names of the projections reset."""
        METADATA.create_all(self.engine, tables=[TRACKING, FAILURES], checkfirst=True)
        with self.engine.connect() as conn:
            have = {r.name: r for r in conn.execute(select(TRACKING))}
        stale = [p.name for p in self.projections if p.name in have and have[p.name].version != p.version]
        if stale and not rebuild_stale:
            row = have[stale[0]]
            msg = (f"projection {stale[0]} was built by version {row.version}, this code is version "
                   f"{BY_NAME[stale[0]].version}: run `caseledger rebuild {stale[0]}`")
            raise StaleProjection(msg, name=stale[0])
        if stale:
            ProjectionRunner(self.engine, stale).drop()
        METADATA.create_all(self.engine, tables=[t for n in self.names for t in TABLES[n]], checkfirst=True)
        for p in self.projections:
            try:
                with self.engine.begin() as conn:
                    if conn.execute(select(TRACKING.c.name).where(TRACKING.c.name == p.name)).first() is None:
                        conn.execute(insert(TRACKING).values(name=p.name, position=0, version=p.version))
            except IntegrityError:
                pass  # another process created it first
        return stale

    def drop(self) -> None:
        """Drop the tables of these projections and forget their positions."""
        METADATA.drop_all(self.engine, tables=[t for n in self.names for t in TABLES[n]], checkfirst=True)
        METADATA.create_all(self.engine, tables=[TRACKING, FAILURES], checkfirst=True)
        with self.engine.begin() as conn:
            conn.execute(delete(TRACKING).where(TRACKING.c.name.in_(self.names)))
            conn.execute(delete(FAILURES).where(FAILURES.c.name.in_(self.names)))
        self._failed.clear()
        for p in self.projections:
            p.invalidate()

    # ------------------------------------------------------------------ positions
    def positions(self, conn: Connection | None = None) -> dict[str, int]:
        if conn is None:
            with self.engine.connect() as c:
                return self.positions(c)
        rows = {r.name: int(r.position) for r in conn.execute(select(TRACKING.c.name, TRACKING.c.position))}
        return {n: rows.get(n, 0) for n in self.names}

    def _rebuilding(self, conn: Connection) -> set[str]:
        q = select(TRACKING.c.name).where(TRACKING.c.version == REBUILDING, TRACKING.c.name.in_(self.names))
        return {r[0] for r in conn.execute(q)}

    def head(self) -> int:
        with self.engine.connect() as conn:
            return head_position(conn)

    def lag(self) -> int:
        """Notifications between the slowest projection and the head of the log (by id)."""
        with self.engine.connect() as conn:
            return max(0, head_position(conn) - min(self.positions(conn).values(), default=0))

    # ------------------------------------------------------------------ processing
    def run_once(self) -> int:
        """Process one batch. Returns the number of notifications read (0: caught up or lost a race).

        Thread-safe: calls on one runner are serialised (the projections keep per-runner caches);
        separate runners and processes coordinate through the tracking rows."""
        with self._lock:
            return self._run_once()

    def _run_once(self) -> int:
        try:
            with self.engine.connect() as conn:
                relaxed = _relax_sqlite_sync(conn)
                conn.commit()  # end SQLAlchemy's autobegun transaction around the PRAGMAs
                try:
                    with conn.begin():
                        return self._batch(conn)
                finally:
                    if relaxed is not None:
                        conn.exec_driver_sql(f"PRAGMA synchronous={int(relaxed)}")
                        conn.commit()
        except _Lost:
            self._invalidate()
            return 0
        except BaseException:
            self._invalidate()
            raise

    def _batch(self, conn: Connection) -> int:
        pos = self.positions(conn)
        rebuilding = self._rebuilding(conn)
        skip = rebuilding | self._skipped()
        if skip:  # a bulk rebuild owns these projections until it finishes (projections.bulk)
            pos = {n: p for n, p in pos.items() if n not in skip}
            if not pos:
                return 0
        low = min(pos.values())
        items = read_batch(conn, low, self.batch_size, self.limits, strict=self.strict)
        if not items:
            return 0
        end = items[-1].position
        # Claim the batch: move every tracking row from where we read it, or give up.
        active = [p for p in self.projections if p.name in pos]
        for p in active:
            if pos[p.name] < end:
                r = conn.execute(update(TRACKING)
                                 .where(TRACKING.c.name == p.name, TRACKING.c.position == pos[p.name])
                                 .values(position=end))
                if r.rowcount != 1:
                    raise _Lost
        for p in active:
            mine = [it for it in items if it.position > pos[p.name]] if pos[p.name] > low else items
            if mine:
                self._apply(conn, p, pos[p.name], mine)
        if self.hook:
            self.hook("commit")
        return len(items)

    def _apply(self, conn: Connection, p: Projection, start: int, items: list[Item]) -> None:
        """Let ``p`` write its rows for ``items`` in a savepoint. If it fails, isolate the failure:
        keep what it can project before the failing entry, leave its tracking row just before that
        entry, record the failure (``proj_failures``) and let the other projections go on."""
        sp = conn.begin_nested()
        try:
            p.process(conn, items, start, self.hook)
        except Exception as e:
            if not _isolable(e):
                raise
            sp.rollback()
            p.invalidate()
            self._salvage(conn, p, start, items, e)
            return
        sp.commit()
        # Past a recorded failure (this runner's or another's): clear it.
        conn.execute(delete(FAILURES).where(FAILURES.c.name == p.name, FAILURES.c.position <= items[-1].position))
        self._failed.pop(p.name, None)

    def _salvage(self, conn: Connection, p: Projection, start: int, items: list[Item], first: Exception) -> None:
        """Re-apply ``items`` one by one up to the first that fails; record that one."""
        good = start
        for it in items:
            sp = conn.begin_nested()
            try:
                p.process(conn, [it], good, self.hook)
            except Exception as e:
                if not _isolable(e):
                    raise
                sp.rollback()
                p.invalidate()
                conn.execute(update(TRACKING).where(TRACKING.c.name == p.name).values(position=good))
                self._fail(conn, p.name, it, e)
                return
            sp.commit()
            good = it.position
        # Every entry projected on its own: the failure depended on the batch, not on an entry.
        log.warning("projection %s failed on a batch but projected each of its entries alone: %r", p.name, first)

    def _fail(self, conn: Connection, name: str, it: Item, e: Exception) -> None:
        detail = escape_text(f"{type(e).__name__}: {e}".splitlines()[0])[:_MAX_ERROR]
        msg = (f"projection {name} cannot project the entry at position {it.position} "
               f"(case {it.case}, n {it.n}, {it.type}): {detail}")
        conn.execute(delete(FAILURES).where(FAILURES.c.name == name))
        conn.execute(insert(FAILURES).values(name=name, position=it.position, error=msg))
        err = ProjectionFailed(msg, position=it.position, projection=name)
        err.__cause__ = e
        self._failed[name] = (err, time.monotonic())
        log.error("%s", msg)

    def _skipped(self) -> set[str]:
        """Projections that failed on an entry less than ``retry_after`` seconds ago (not retried yet)."""
        now = time.monotonic()
        return {n for n, (_, t) in self._failed.items() if now - t < self.retry_after}

    def failures(self) -> dict[str, ProjectionFailed]:
        """The projections this runner could not bring past an entry: name → error (with ``position``)."""
        return {n: e for n, (e, _) in self._failed.items()}

    def _invalidate(self) -> None:
        for p in self.projections:
            p.invalidate()

    def run(self, *, progress: Callable[[int], Any] | None = None, max_batches: int | None = None) -> int:
        """Process batches until caught up (or ``max_batches``). Returns the notifications processed."""
        total = 0
        batches = 0
        while max_batches is None or batches < max_batches:
            n = self.run_once()
            if n == 0:
                break
            total += n
            batches += 1
            if progress:
                progress(n)
        return total

    def follow(self, *, stop: Callable[[], bool], idle: float = 0.05) -> int:
        """Keep processing until ``stop()`` is true, sleeping ``idle`` seconds when caught up."""
        total = 0
        while not stop():
            n = self.run_once()
            total += n
            if n == 0:
                time.sleep(idle)
        return total

    def rebuild(self, *, progress: Callable[[int], Any] | None = None, batch_size: int | None = None,
                fast: bool = True, jobs: int | None = None, window: int | None = None) -> int:
        """Drop these projections' tables and rebuild them from position 0. Returns the position reached.

        ``fast`` (the default): the bulk path of :mod:`projections.bulk` (tables known empty, rows
        written once per ``window`` notifications, streams partitioned over ``jobs`` processes; by
        default one per CPU but one, up to 4, for logs of 50,000 entries or more), same rows as incremental
        processing. ``fast=False``, or when the bulk path fails: ordinary exactly-once batches of
        ``batch_size`` (default ``max(self.batch_size, REBUILD_BATCH)``), as a follower would process
        the log, each projection isolated from the others' failures.

        A rebuild never leaves a projection emptier than it found it: its rows and tracking row are
        copied aside first (:class:`_Backup`), and a projection that cannot project some entry gets
        them back; ``ProjectionFailed`` (with the first failing position) is raised after the others
        are rebuilt."""
        backup = _Backup.take(self.engine, self.names)
        try:
            n = self._rebuild(progress, batch_size, fast=fast, jobs=jobs, window=window)
            failed = self.failures()
            if failed:
                backup.restore(self.engine, list(failed))
                self._invalidate()
                self._raise_first(failed)
        except ProjectionFailed:
            raise
        except BaseException:
            try:
                backup.restore(self.engine, self.names)
            except Exception:
                log.exception("could not restore the projections after a failed rebuild")
            self._invalidate()
            raise
        finally:
            backup.drop(self.engine)
        return n

    @staticmethod
    def _raise_first(failed: dict[str, ProjectionFailed]) -> None:
        first = min(failed.values(), key=lambda e: e.position)
        msg = f"{first.message}; {', '.join(sorted(failed))} kept the rows they had before the rebuild"
        raise ProjectionFailed(msg, position=first.position, projection=first.projection) from first.__cause__

    def _rebuild(self, progress: Callable[[int], Any] | None, batch_size: int | None, *, fast: bool,
                 jobs: int | None, window: int | None) -> int:
        if fast and not self.strict and self.hook is None:
            n = self._bulk(progress, jobs, window)
            if n is not None:
                return n
        self.drop()
        self.setup()
        keep, keep_retry = self.batch_size, self.retry_after
        self.batch_size = batch_size or max(keep, REBUILD_BATCH)
        self.retry_after = float("inf")  # one attempt per projection during a rebuild
        try:
            return self.run(progress=progress)
        finally:
            self.batch_size, self.retry_after = keep, keep_retry

    def _bulk(self, progress: Callable[[int], Any] | None, jobs: int | None, window: int | None) -> int | None:
        """The bulk path; None if a projection failed on an entry there (the caller then isolates it)."""
        with self._lock:
            self._invalidate()
            try:
                n = bulk_rebuild(self.engine, self.names, {p.name: p.version for p in self.projections},
                                 jobs=jobs, window=window or WINDOW, progress=progress)
            except ProjectionFailed as e:
                log.warning("bulk rebuild failed (%s); rebuilding batch by batch to isolate it", e)
                return None
            finally:
                self._invalidate()
        with self.engine.begin() as conn:
            METADATA.create_all(conn, tables=[FAILURES], checkfirst=True)
            conn.execute(delete(FAILURES).where(FAILURES.c.name.in_(self.names)))
        self._failed.clear()
        return n


_BAK = "__bak"


class _Backup:
    """A copy of some projections' tables (``<table>__bak``) and tracking rows, taken before a rebuild."""

    def __init__(self, names: list[str], tables: list[str], tracking: dict[str, tuple[int, int]]) -> None:
        self.names, self.tables, self.tracking = names, tables, tracking

    @classmethod
    def take(cls, engine: Engine, names: Sequence[str]) -> _Backup:
        copied: list[str] = []
        with engine.begin() as conn:
            have = set(inspect(conn).get_table_names())
            for n in names:
                for t in TABLES[n]:
                    if t.name in have:
                        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {t.name}{_BAK}")
                        conn.exec_driver_sql(f"CREATE TABLE {t.name}{_BAK} AS SELECT * FROM {t.name}")  # noqa: S608 - our own table names
                        copied.append(t.name)
            tracking = {}
            if TRACKING.name in have:
                rows = conn.execute(select(TRACKING).where(TRACKING.c.name.in_(list(names))))
                tracking = {r.name: (int(r.position), int(r.version)) for r in rows}
        return cls(list(names), copied, tracking)

    def restore(self, engine: Engine, names: Sequence[str]) -> None:
        """Put the copied rows and tracking rows of ``names`` back (their tables were rebuilt or dropped)."""
        with engine.begin() as conn:
            METADATA.create_all(conn, tables=[TRACKING, FAILURES, *(t for n in names for t in TABLES[n])],
                                checkfirst=True)
            insp = inspect(conn)
            for n in names:
                for t in TABLES[n]:
                    conn.execute(delete(t))
                    if t.name in self.tables:
                        have = {c["name"] for c in insp.get_columns(f"{t.name}{_BAK}")}
                        cols = ", ".join(c.name for c in t.columns if c.name in have)
                        conn.exec_driver_sql(f"INSERT INTO {t.name} ({cols}) SELECT {cols} FROM {t.name}{_BAK}")  # noqa: S608 - our own table and column names
                conn.execute(delete(TRACKING).where(TRACKING.c.name == n))
                if n in self.tracking:
                    position, version = self.tracking[n]
                    conn.execute(insert(TRACKING).values(name=n, position=position, version=version))
                    # A failure recorded before the position it is back at no longer applies.
                    conn.execute(delete(FAILURES).where(FAILURES.c.name == n, FAILURES.c.position <= position))

    def drop(self, engine: Engine) -> None:
        with engine.begin() as conn:
            for name in self.tables:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}{_BAK}")


def recorded_failures(conn: Connection) -> dict[str, tuple[int, str]]:
    """Projections stopped before an entry they cannot project: name → (position, error).

    Read from ``proj_failures``, so any process (a server worker with no runner, ``/readyz``)
    sees what the runner that hit the entry recorded. Empty when the table does not exist yet."""
    if not inspect(conn).has_table(FAILURES.name):
        return {}
    return {r.name: (int(r.position), str(r.error)) for r in conn.execute(select(FAILURES).order_by(FAILURES.c.name))}


def dump(engine: Engine, names: Sequence[str] | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the named projections' tables, sorted (for comparing two builds)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for n in resolve(names):
            for t in TABLES[n]:
                rows = [tuple(json.dumps(v, sort_keys=True, ensure_ascii=False) if isinstance(v, dict | list) else v
                              for v in r) for r in conn.execute(select(t))]
                out[t.name] = sorted(rows, key=repr)
    return out


def parallel_rebuild(url: str, names: Iterable[str] | None = None, *, jobs: int = 2, batch_size: int = REBUILD_BATCH,
                     progress: Callable[[int], Any] | None = None, poll: float = 0.5) -> int:
    """Rebuild projections in ``jobs`` worker processes, each running a share of the projections.

    The projections are independent (own tables, own tracking row), so each worker reads the log
    itself and applies it to its share, exactly-once as usual; on a machine with spare cores the
    rebuild takes about as long as its slowest share. ``url`` must be the database URL (workers open
    their own engines). Returns the number of notifications in the log when the rebuild finished.
    """
    from projections.worker import engine_for  # noqa: PLC0415 - worker imports this module

    chosen = resolve(names)
    engine = engine_for(url)
    runner = ProjectionRunner(engine, chosen)
    backup = _Backup.take(engine, chosen)  # a projection that fails gets its rows back
    try:
        return _parallel(runner, url, chosen, backup, jobs, batch_size, progress, poll)
    finally:
        backup.drop(engine)
        engine.dispose()


def _parallel(runner: ProjectionRunner, url: str, chosen: list[str], backup: _Backup, jobs: int, batch_size: int,
              progress: Callable[[int], Any] | None, poll: float) -> int:
    engine = runner.engine
    runner.drop()
    runner.setup()
    shares: list[list[str]] = [chosen[i::max(1, jobs)] for i in range(max(1, jobs))]
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = []
    for share in (s for s in shares if s):
        args = [sys.executable, "-m", "projections.worker", "--db", url, "--batch", str(batch_size)]
        for n in share:
            args += ["--name", n]
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=root))  # noqa: S603 - runs this interpreter on our own module, no shell
    done = 0
    try:
        while any(p.poll() is None for p in procs):
            time.sleep(poll)
            low = min(runner.positions().values())
            if progress and low > done:
                progress(low - done)
                done = low
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    with engine.connect() as conn:
        stopped = {n: v for n, v in recorded_failures(conn).items() if n in chosen}
    if stopped:  # the failing projections get their rows back; the others are rebuilt
        backup.restore(engine, list(stopped))
        name = min(stopped, key=lambda n: stopped[n][0])
        msg = f"{stopped[name][1]}; {', '.join(sorted(stopped))} kept the rows they had before the rebuild"
        raise ProjectionFailed(msg, position=stopped[name][0], projection=name)
    failed = [p for p in procs if p.returncode != 0]
    if failed:
        backup.restore(engine, chosen)
        err = (failed[0].stderr.read().decode(errors="replace") if failed[0].stderr else "").strip().splitlines()
        msg = f"a rebuild worker failed: {err[-1] if err else failed[0].returncode}"
        raise ProjectionFailed(msg, position=min(runner.positions().values()), projection=",".join(chosen))
    low = min(runner.positions().values())
    if progress and low > done:
        progress(low - done)
    return low
