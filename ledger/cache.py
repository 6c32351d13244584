"""The aggregate cache (issue 16, item 1): no replay per command, and no copy that grows with the case.

eventsourcing's ``Repository`` keeps aggregates in an LRU cache and brings a cached aggregate up to
date from the store on every load (fast-forward: one query for the entries after its version), so
another process's writes are always seen and the store's unique ``(case, n)`` index still decides
every race. It then hands out a ``copy.deepcopy`` of the cached aggregate, so that a command which
fails half-way cannot corrupt the cache; that copy walks the whole state, and the state grows with
the case (80 % of a ``log_evidence`` at 1,000 entries was the deep copy).

Our domain aggregates never change a value in place: every ``apply`` binds a new value (a new dict or
tuple built from the old one, ``{**agg.evidence, eid: {...}}``) and command methods only read state
before triggering events; they say so by deriving from ``domain.base.CopyOnWrite``
(``tests/integration/test_aggregate_cache.py`` checks it for the aggregates a full scenario
builds). For them a *shallow* copy - a new object whose attributes point to the same immutable-by-
convention values, with its own empty list of pending events - isolates a command from the cache
just as the deep copy did, in time independent of the state's size; any other aggregate (the
key registry, test fakes) is still deep-copied. ``SharingRepository`` does that, and copies under
the aggregate's fast-forward lock so a concurrent fast-forward (another thread of this process)
is never seen half-applied.

The cache holds derived data only: nothing in it is signed, stored or needed to verify.
"""

from __future__ import annotations

import copy
from typing import Any

from eventsourcing.application import AggregateNotFoundError, Repository, project_aggregate


def share(aggregate: Any) -> Any:
    """A copy of ``aggregate`` for one command: for a copy-on-write aggregate (``domain.base.CopyOnWrite``)
    a new object sharing its attribute values, with no pending events; for any other a deep copy."""
    if not getattr(type(aggregate), "copy_on_write", False):
        return copy.deepcopy(aggregate)
    out = copy.copy(aggregate)
    out._pending_events = []  # noqa: SLF001 - eventsourcing's Aggregate keeps its pending events here
    return out


class SharingRepository(Repository[Any]):
    """eventsourcing's repository with a fast-forwarded cache that hands out shallow copies."""

    def get(
        self,
        aggregate_id: Any,
        *,
        version: int | None = None,
        projector_func: Any = project_aggregate,
        fastforward_skipping: bool = False,  # noqa: ARG002 - the parent's signature; we always fast-forward
        deepcopy_from_cache: bool = True,
    ) -> Any:
        """The aggregate, brought up to date from the store (``AggregateNotFoundError`` if it has no entries).

        With no cache, or for an older ``version``, the parent replays from the store.
        """
        if self.cache is None or version is not None or not self.fastforward:
            return super().get(aggregate_id, version=version, projector_func=projector_func)
        lock = self._use_fastforward_lock(aggregate_id)
        try:
            with lock:
                try:
                    cached = self.cache.get(aggregate_id)
                except KeyError:
                    cached = self._reconstruct_aggregate(aggregate_id, None, projector_func)
                    self.cache.put(aggregate_id, cached)
                else:
                    new_events = self.event_store.get(originator_id=aggregate_id, gt=cached.version)
                    try:
                        cached = projector_func(cached, new_events)
                    except BaseException:
                        # A half-applied fast-forward must not stay in the cache.
                        self.cache.get(aggregate_id, evict=True)
                        raise
                    if cached is None:  # pragma: no cover - our streams are never discarded
                        self.cache.get(aggregate_id, evict=True)
                        raise AggregateNotFoundError(aggregate_id)
                return share(cached) if deepcopy_from_cache else cached
        finally:
            self._disuse_fastforward_lock(aggregate_id)
