"""Building blocks shared by the projections: row caches and counters written once per batch.

A projection handles a whole batch at a time: it loads the rows the batch touches (one ``SELECT
... IN`` per table and chunk), folds the batch in memory, and writes each table with one
``executemany`` for new rows and one for changed rows. Nothing is cached across batches, so a
rolled-back batch leaves no trace in memory.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

from sqlalchemy import Connection, Table, bindparam, delete, insert, select, update

from projections.source import Item

CHUNK = 500
Hook = Callable[[str], None] | None


def chunks(xs: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(xs), size):
        yield xs[i:i + size]


class RowCache:
    """Rows of ``table`` keyed by its single-column primary key ``key``."""

    def __init__(self, table: Table, key: str) -> None:
        self.table, self.key = table, key
        self.rows: dict[Any, dict[str, Any]] = {}
        self._existing: set[Any] = set()
        self._loaded: set[Any] = set()
        self._dirty: set[Any] = set()

    def load(self, conn: Connection, keys: Iterable[Any]) -> None:
        need = sorted({k for k in keys if k not in self._loaded})
        col = self.table.c[self.key]
        for part in chunks(need):
            for r in conn.execute(select(self.table).where(col.in_(part))):
                d = dict(r._mapping)  # noqa: SLF001 - Row._mapping is SQLAlchemy's public API
                self.rows[d[self.key]] = d
                self._existing.add(d[self.key])
        self._loaded.update(need)

    def get(self, k: Any) -> dict[str, Any] | None:
        return self.rows.get(k)

    def put(self, k: Any, row: dict[str, Any]) -> None:
        row[self.key] = k
        self.rows[k] = row
        self._dirty.add(k)

    def touch(self, k: Any) -> None:
        self._dirty.add(k)

    @property
    def dirty(self) -> list[Any]:
        return sorted(self._dirty, key=str)

    def flush(self, conn: Connection, hook: Hook = None) -> None:
        new = [self.rows[k] for k in self.dirty if k not in self._existing]
        changed = [{**self.rows[k], "_k": k} for k in self.dirty if k in self._existing]
        if new:
            conn.execute(insert(self.table), new)
            if hook:
                hook(self.table.name)
        if changed:
            conn.execute(update(self.table).where(self.table.c[self.key] == bindparam("_k")), changed)
            if hook:
                hook(self.table.name)
        self._existing.update(k for k in self._dirty)
        self._dirty.clear()


class Counters:
    """Integer counters in a table keyed by a text ``key``; deltas are applied at flush."""

    def __init__(self, table: Table, value_col: str = "count") -> None:
        self.table, self.value_col = table, value_col
        self.deltas: dict[str, int] = {}
        self.templates: dict[str, dict[str, Any]] = {}

    def bump(self, key: str, template: dict[str, Any], delta: int = 1) -> None:
        self.deltas[key] = self.deltas.get(key, 0) + delta
        self.templates.setdefault(key, template)

    def flush(self, conn: Connection, hook: Hook = None) -> None:
        if not self.deltas:
            return
        cache = RowCache(self.table, "key")
        cache.load(conn, self.deltas)
        for k in sorted(self.deltas):
            row = cache.get(k)
            if row is None:
                row = {**self.templates[k], self.value_col: 0}
            row[self.value_col] = int(row[self.value_col]) + self.deltas[k]
            cache.put(k, row)
        cache.flush(conn, hook)
        self.deltas.clear()
        self.templates.clear()


def replace_rows(conn: Connection, table: Table, key_col: str, keys: Sequence[Any],
                 rows: list[dict[str, Any]], hook: Hook = None) -> None:
    """Delete every row whose ``key_col`` is in ``keys`` and insert ``rows`` (derived rows)."""
    col = table.c[key_col]
    for part in chunks(list(keys)):
        conn.execute(delete(table).where(col.in_(part)))
    if rows:
        conn.execute(insert(table), rows)
    if hook:
        hook(table.name)


class Projection:
    """One projection: a name, its tables, and a batch handler.

    ``process`` receives, in log order, the items after this projection's tracked position and
    writes through ``conn`` inside the runner's transaction; it must not commit. It must be a pure
    function of the log: no clock, no randomness, so that incremental processing in any batch
    split equals a full rebuild.
    """

    name: ClassVar[str]
    version: ClassVar[int] = 1
    tables: ClassVar[tuple[Table, ...]]

    def process(self, conn: Connection, items: Sequence[Item], start: int, hook: Hook = None) -> None:
        raise NotImplementedError

    def invalidate(self) -> None:
        """Forget in-memory state (called when a batch is rolled back)."""


@functools.lru_cache(maxsize=1024)
def stream_kind(wire_type: str) -> str:
    """``inspection.decided.v1`` → ``inspection``; ``key.registered.v1`` → ``key``."""
    return wire_type.split(".", 1)[0]
