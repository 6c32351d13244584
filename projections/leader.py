"""One projection follower per deployment (issue 16, item 3).

Every ``caseledger serve`` worker, and ``caseledger project --follow``, may offer to follow the log;
exactly one at a time does. The follower is elected by a lock that dies with its holder:

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection of its
  own, keyed by the ledger's schema, so ledgers in other schemas elect their own followers. The
  elected follower ``LISTEN``s on the ledger's channel (``ledger.notify``) and wakes on each
  commit's ``NOTIFY``; it also looks every ``idle`` seconds, so a lost notification costs at
  most that.
- SQLite: an exclusive ``flock`` on ``<database file>.projections.lock``; the follower looks for
  new entries every ``sqlite_idle`` seconds (SQLite has no notifications).

The others retry the lock every ``retry`` seconds, so when the follower's process dies (its
connection closes, its file lock is released) another takes over within that time. Exactly-once
is still the runner's (tracking rows), so two followers at once - the old one not yet dead, or a
``caseledger project`` run by hand - would only waste work, never double-apply an entry.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledger.notify import channel_for

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger("caseledger.projections")

#: Seconds between a non-elected process's attempts to take the lock.
RETRY = 2.0
#: Seconds the elected PostgreSQL follower waits for a NOTIFY before looking anyway.
IDLE = 1.0
#: Seconds between looks on SQLite.
SQLITE_IDLE = 0.1
#: The longest a follower waits before it looks at its stop event.
STOP_SLICE = 0.25


def lock_key(schema: str) -> int:
    """The advisory lock key (a signed 64-bit integer) for the projection follower of ``schema``."""
    digest = hashlib.sha256(b"caseledger.projections:" + schema.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Follower:
    """Offers to follow the log with ``runner`` until ``stop`` is set; follows while elected."""

    def __init__(self, engine: Engine, runner: Any, *, retry: float = RETRY, idle: float = IDLE,
                 sqlite_idle: float = SQLITE_IDLE, on_elected: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.runner = runner
        self.retry = retry
        self.idle = idle
        self.sqlite_idle = sqlite_idle
        self.on_elected = on_elected
        #: True while this process is the elected follower.
        self.elected = False

    def run(self, stop: threading.Event) -> None:
        """Until ``stop``: take the lock when free and follow while holding it."""
        while not stop.is_set():
            try:
                with self._election() as wait:
                    if wait is None:
                        stop.wait(self.retry)
                        continue
                    self.elected = True
                    log.info("elected projection follower", extra={"fields": {"pid": os.getpid()}})
                    if self.on_elected is not None:
                        self.on_elected()
                    self._follow(stop, wait)
            except Exception:
                log.exception("projection follower failed; retrying")
                stop.wait(self.retry)
            finally:
                self.elected = False

    def _follow(self, stop: threading.Event, wait: Callable[[float], bool]) -> None:
        idle = self.idle if self.engine.dialect.name == "postgresql" else self.sqlite_idle
        while not stop.is_set():
            while not stop.is_set() and self.runner.run_once():
                pass
            # Wait for news (or ``idle``), in slices so that ``stop`` is seen within STOP_SLICE.
            deadline = time.monotonic() + idle
            while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
                if wait(min(left, STOP_SLICE)):
                    break

    @contextlib.contextmanager
    def _election(self) -> Iterator[Callable[[float], bool] | None]:
        """Yields a ``wait(seconds)`` (returns early on news) if elected, else ``None``."""
        if self.engine.dialect.name == "postgresql":
            with self._pg_election() as wait:
                yield wait
        else:
            with self._file_election() as wait:
                yield wait

    @contextlib.contextmanager
    def _pg_election(self) -> Iterator[Callable[[float], bool] | None]:
        import psycopg  # noqa: PLC0415 - PostgreSQL only

        channel = channel_for(self.engine)
        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(url, autocommit=True) as conn:
            schema = conn.execute("SELECT current_schema()").fetchone()
            key = lock_key(str(schema[0] if schema else "public"))
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if not (row and row[0]):
                yield None
                return
            conn.execute(f'LISTEN "{channel}"')

            def wait(seconds: float) -> bool:
                news = any(True for _ in conn.notifies(timeout=seconds, stop_after=1))
                if news:  # drain what else arrived meanwhile: the next batches read them all
                    for _ in conn.notifies(timeout=0):
                        pass
                return news

            try:
                yield wait
            finally:
                with contextlib.suppress(Exception):
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    @contextlib.contextmanager
    def _file_election(self) -> Iterator[Callable[[float], bool] | None]:
        database = self.engine.url.database

        def wait(seconds: float) -> bool:  # SQLite has no notifications: look again after ``seconds``
            time.sleep(seconds)
            return False

        if not database or database == ":memory:":
            yield wait  # a private database: nobody else can follow it
            return
        path = Path(database + ".projections.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield None
                return
            yield wait
        finally:
            os.close(fd)  # releases the lock


def follow_elected(engine: Engine, runner: Any, stop: threading.Event, **kw: Any) -> Follower:
    """Start a daemon thread offering to be ``engine``'s projection follower; returns the ``Follower``."""
    f = Follower(engine, runner, **kw)
    threading.Thread(target=f.run, args=(stop,), name="caseledger-projections", daemon=True).start()
    return f
