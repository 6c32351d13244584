"""Tiles of the stored log (C2SP tlog-tiles; docs/spec/03-chain-and-log.md §Tiles).

Reads hash tiles and entry bundles from the Merkle tables (:mod:`ledger.merkle_store`) and the
events table, for the HTTP routes (``api/routers/tiles.py``) and ``caseledger tiles export``.
Tiles are served only inside the tree of the latest stored checkpoint: a client can check every
byte against that checkpoint, and nothing beyond it is published before it is signed.
"""

from __future__ import annotations

import gzip
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from ledger import merkle
from ledger.chain import decode_record
from ledger.merkle_store import MerkleStore, StoredCheckpoint
from ledger.store import EVENTS_TABLE
from ledger.tiles import TILE_WIDTH, Tile, TileError, encode_bundle, tile_nodes, tile_width


@dataclass(frozen=True, slots=True)
class TileAnswer:
    """A tile's bytes and whether it is full (immutable) or partial."""

    data: bytes
    full: bool


class LedgerTiles:
    """Hash tiles and entry bundles of the log, bounded by a checkpoint's size.

    Full tiles never change, and once inside a checkpoint's tree they are inside every later one
    (checkpoints only grow: ``issue_checkpoint`` refuses to sign a fork), so the most recently used
    ones are kept in memory, up to ``cache_bytes`` (0: none): a cached full tile is served without
    touching the database. Like the store's node cache, this assumes the log is append-only.
    """

    def __init__(self, store: MerkleStore, *, cache_bytes: int = 32 << 20) -> None:
        """Read through ``store`` (its tables and node cache)."""
        self.store = store
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[tuple[Tile, str], bytes] = OrderedDict()
        self._cached = 0
        self._lock = threading.Lock()
        nd, ev = store.nodes.name, EVENTS_TABLE
        self._sql_hashes = (f"SELECT pos, hash FROM {nd} WHERE pos >= {{m}} AND pos <= {{m}} "  # noqa: S608 - our table names; values bound
                            "AND notification_id IS NOT NULL ORDER BY pos")
        self._sql_leaves = (f"SELECT n.pos, n.hash, n.recorded_at, n.entry_hash, e.state FROM {nd} n "  # noqa: S608 - our table names; values bound
                            f"LEFT JOIN {ev} e ON e.id = n.notification_id WHERE n.pos >= {{m}} AND n.pos <= {{m}} "
                            "AND n.notification_id IS NOT NULL ORDER BY n.pos")

    def cached(self, tile: Tile, encoding: str = "identity") -> bytes | None:
        """A full tile served before (so inside a checkpoint's tree), or None; ``encoding`` ``gzip``
        for its compressed form."""
        key = (tile, encoding)
        with self._lock:
            data = self._cache.get(key)
            if data is not None:
                self._cache.move_to_end(key)
            return data

    def gzipped(self, tile: Tile, data: bytes) -> bytes:
        """``data`` (the bytes of ``tile``) gzip-compressed, remembered for a full tile."""
        got = self.cached(tile, "gzip")
        if got is None:
            got = gzip.compress(data, compresslevel=6, mtime=0)
            self._remember(tile, got, "gzip")
        return got

    def _remember(self, tile: Tile, data: bytes, encoding: str = "identity") -> None:
        if not tile.full or len(data) > self.cache_bytes:
            return
        key = (tile, encoding)
        with self._lock:
            if key in self._cache:
                return
            self._cache[key] = data
            self._cached += len(data)
            while self._cached > self.cache_bytes:
                _, old = self._cache.popitem(last=False)
                self._cached -= len(old)

    @staticmethod
    def _rows(conn: Connection, sql: str, lo: int, hi: int) -> list[tuple[Any, ...]]:
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        return [tuple(r) for r in conn.exec_driver_sql(sql.format(m=mark), (lo, hi))]

    def checkpoint(self, conn: Connection) -> StoredCheckpoint | None:
        """The latest stored checkpoint (the one tiles are served for), or None."""
        return self.store.latest_checkpoint(conn)

    def check(self, tile: Tile, size: int) -> None:
        """Refuse a tile that is empty, or wider than the tree of ``size`` leaves holds (``E_TILE_NOT_FOUND``)."""
        have = tile_width(tile.level or 0, tile.index, size)
        if tile.width > have:
            what = "entry bundle" if tile.level is None else f"tile of level {tile.level}"
            msg = (f"{what} {tile.index} of width {tile.width} is beyond the latest checkpoint's tree of {size} "
                   f"leaves" + (f" (it has width {have} there)" if have else ""))
            raise TileError(msg, code="E_TILE_NOT_FOUND")

    def hash_tile(self, conn: Connection, tile: Tile, size: int) -> bytes:
        """The bytes of hash tile ``tile`` (``tile.width`` hashes of 32 bytes) inside a tree of ``size``."""
        assert tile.level is not None
        self.check(tile, size)
        start = tile.index * TILE_WIDTH
        if tile.level == 0:
            rows = self._rows(conn, self._sql_hashes, 2 * start, 2 * (start + tile.width - 1))
            hashes = [bytes(r[1]) for r in rows]
        else:
            nodes = tile_nodes(tile.level, tile.index, tile.width)
            got = self.store.fetcher(conn)(nodes)  # one SELECT by primary key, upper levels cached
            hashes = [bytes(got[n]) for n in nodes]
        if len(hashes) != tile.width:
            msg = f"the log holds {len(hashes)} of the {tile.width} hashes of {tile.path}"
            raise TileError(msg, code="E_TILE_NOT_FOUND")
        return b"".join(hashes)

    def entry_bundle(self, conn: Connection, tile: Tile, size: int) -> bytes:
        """The entry bundle ``tile``: each leaf's data (spec 03 §Leaves), uint16-length-prefixed.

        Each leaf's data is rebuilt from its stored row and its entry's signature and checked to
        hash to the stored leaf hash, so a bundle never disagrees with its level-0 tile.
        """
        assert tile.level is None
        self.check(tile, size)
        start = tile.index * TILE_WIDTH
        rows = self._rows(conn, self._sql_leaves, 2 * start, 2 * (start + tile.width - 1))
        if len(rows) != tile.width:
            msg = f"the log holds {len(rows)} of the {tile.width} leaves of {tile.path}"
            raise TileError(msg, code="E_TILE_NOT_FOUND")
        out = []
        for pos, lhash, recorded_at, ehash, state in rows:
            idx = int(pos) // 2
            if state is None:
                msg = f"leaf {idx} refers to an entry that is not in the events table"
                raise TileError(msg, code="E_TILE_SHAPE")
            _, sig = decode_record(bytes(state))
            data = merkle.leaf_data(bytes(ehash), sig, int(recorded_at), idx)
            if merkle.leaf_hash(data) != bytes(lhash):
                msg = f"leaf {idx} does not hash to its stored leaf hash"
                raise TileError(msg, code="E_TILE_SHAPE")
            out.append(data)
        return encode_bundle(out)

    def get(self, conn: Connection, tile: Tile, size: int) -> TileAnswer:
        """A hash tile or an entry bundle, inside the tree of ``size`` leaves (cached if full)."""
        data = self.cached(tile)
        if data is None:
            data = self.entry_bundle(conn, tile, size) if tile.level is None else self.hash_tile(conn, tile, size)
            self._remember(tile, data)
        return TileAnswer(data, tile.full)


__all__ = ["LedgerTiles", "TileAnswer"]
