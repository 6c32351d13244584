"""Tiles of the stored log (C2SP tlog-tiles; docs/spec/03-chain-and-log.md §Tiles).

Reads hash tiles and entry bundles from the Merkle tables (:mod:`ledger.merkle_store`) and the
events table, for the HTTP routes (``api/routers/tiles.py``) and ``caseledger tiles export``.
Tiles are served only inside the tree of the latest stored checkpoint: a client can check every
byte against that checkpoint, and nothing beyond it is published before it is signed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, Connection, LargeBinary, MetaData, Table, and_, select

from ledger import merkle
from ledger.chain import decode_record
from ledger.merkle_store import MerkleStore, StoredCheckpoint
from ledger.store import EVENTS_TABLE
from ledger.tiles import TILE_WIDTH, Tile, TileError, encode_bundle, tile_nodes, tile_width

_EVENTS = Table(EVENTS_TABLE, MetaData(), Column("id", BigInteger, primary_key=True), Column("state", LargeBinary))
"""The two columns of the events table an entry bundle needs (the record holds the signature)."""


@dataclass(frozen=True, slots=True)
class TileAnswer:
    """A tile's bytes and whether it is full (immutable) or partial."""

    data: bytes
    full: bool


class LedgerTiles:
    """Hash tiles and entry bundles of the log, bounded by a checkpoint's size."""

    def __init__(self, store: MerkleStore) -> None:
        """Read through ``store`` (its tables and node cache)."""
        self.store = store
        nd = store.nodes
        self._leaf_rows = (select(nd.c.pos, nd.c.hash, nd.c.recorded_at, nd.c.entry_hash, _EVENTS.c.state)
                           .select_from(nd.outerjoin(_EVENTS, _EVENTS.c.id == nd.c.notification_id)))

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
        nd = self.store.nodes
        if tile.level == 0:
            rows = conn.execute(select(nd.c.hash).where(and_(nd.c.pos >= 2 * start,
                                                             nd.c.pos <= 2 * (start + tile.width - 1),
                                                             nd.c.notification_id.is_not(None)))
                                .order_by(nd.c.pos)).scalars().all()
            hashes = [bytes(h) for h in rows]
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
        nd = self.store.nodes
        rows = conn.execute(self._leaf_rows.where(and_(nd.c.pos >= 2 * start, nd.c.pos <= 2 * (start + tile.width - 1),
                                                       nd.c.notification_id.is_not(None)))
                            .order_by(nd.c.pos)).all()
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
        """A hash tile or an entry bundle, inside the tree of ``size`` leaves."""
        data = self.entry_bundle(conn, tile, size) if tile.level is None else self.hash_tile(conn, tile, size)
        return TileAnswer(data, tile.full)


__all__ = ["LedgerTiles", "TileAnswer"]
