"""Group commit: concurrent saves in one process share one append transaction (ADR 0008).

Each save that reaches the store becomes a :class:`Pending` and joins a FIFO queue. The save at
the head of the queue is the *leader*: it takes up to ``max_batch`` queued saves (its own first),
hands them to the store's batch writer (one transaction: the database lock once, every save's
rows, their Merkle leaves, their ``also`` hooks, one NOTIFY, one commit), marks each one done
with its own outcome, and wakes the next head, which leads the next batch. The others wait on
their own condition; nobody polls. With one writer the leader's batch is its own save alone, on
the calling thread, so a lone writer pays no hand-off.

Saves queue while a batch is being written, so the batch grows with the load: at 16 concurrent
writers one commit carries up to 16 commands. The lock that orders appenders stays in the
database (PostgreSQL's table lock; SQLite's write lock), so several processes, each batching its
own saves, still append one transaction at a time.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import StoredEvent


@dataclass(eq=False)
class Pending:
    """One save waiting for the log: its records, their Merkle inputs and its ``also`` hook."""

    stored: Sequence[StoredEvent]
    leaf_inputs: Sequence[tuple[bytes, bytes]] | None = None
    also: Callable[[Any], None] | None = None
    #: Set by the writer: the records' notification ids (in order), or the save's own error.
    ids: Sequence[int] | None = None
    error: BaseException | None = None
    done: bool = False
    _cv: threading.Condition | None = field(default=None, repr=False)


class GroupCommitter:
    """Queues saves and lets the head of the queue write them in batches (see the module doc).

    ``write_batch(items)`` must set ``ids`` or ``error`` on every item it is given and must not
    raise; whatever it does raise is given to every item of the batch.
    """

    def __init__(self, write_batch: Callable[[list[Pending]], None], *, max_batch: int = 64) -> None:
        if max_batch < 1:
            msg = "max_batch must be at least 1"
            raise ValueError(msg)
        self._write_batch = write_batch
        self.max_batch = max_batch
        self._mutex = threading.Lock()
        self._queue: deque[Pending] = deque()
        #: Batch sizes written so far (for tests and the benchmark): count of batches by size.
        self.batches: dict[int, int] = {}

    def submit(self, item: Pending) -> Sequence[int]:
        """Append ``item``'s records (with the queue's others); its ids, or its own error raised."""
        with self._mutex:
            item._cv = threading.Condition(self._mutex)  # noqa: SLF001 - our own dataclass
            self._queue.append(item)
            while not item.done and self._queue[0] is not item:
                item._cv.wait()  # noqa: SLF001
            if not item.done:
                batch = [self._queue[i] for i in range(min(self.max_batch, len(self._queue)))]
        if not item.done:
            self._lead(batch)
        if item.error is not None:
            raise item.error
        assert item.ids is not None
        return item.ids

    def _lead(self, batch: list[Pending]) -> None:
        try:
            self._write_batch(batch)
        except BaseException as e:  # noqa: BLE001 - handed to every waiter, re-raised by each
            for it in batch:
                if it.ids is None and it.error is None:
                    it.error = e
        finally:
            with self._mutex:
                self.batches[len(batch)] = self.batches.get(len(batch), 0) + 1
                for it in batch:
                    if it.ids is None and it.error is None:  # a writer that forgot one: never hang it
                        it.error = RuntimeError("group commit: the batch writer gave this save no outcome")
                    self._queue.popleft()
                    it.done = True
                    assert it._cv is not None  # noqa: SLF001
                    it._cv.notify()  # noqa: SLF001
                if self._queue:
                    head = self._queue[0]._cv  # noqa: SLF001
                    assert head is not None
                    head.notify()
