"""C2SP tlog-tiles: the log as static tiles (docs/spec/03-chain-and-log.md §Tiles).

A tiled log serves, beside its signed checkpoint, every Merkle hash as *tiles*: tile ``n`` at level
``l`` holds the hashes of the perfect subtrees ``(8·l, n·256 + i)`` for ``i`` in ``0..255`` (the
256 leaf hashes of a level-0 tile, the roots of 256 full level-0 tiles at level 1, ...). Full tiles
never change; the rightmost tile of a level is *partial* (1-255 hashes) and named with its width.
Entry bundles hold the leaf data (spec 03 §Leaves) of a level-0 tile, each prefixed by its length
as a big-endian uint16.

This module is pure (standard library and the ledger's pure modules only): path names, tile
geometry, entry bundles, and the derivation of any perfect subtree's hash from tiles
(:class:`TileHashes`), which turns tiles into a :class:`ledger.merkle.NodeFetcher` so that
:func:`ledger.merkle.inclusion_proof` and :func:`ledger.merkle.consistency_proof` work from tiles
alone. The client that fetches and verifies tiles is :mod:`ledger.tile_client`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass

from ledger import merkle
from ledger.errors import LedgerError
from ledger.hashing import Digest

TILE_HEIGHT = 8
"""Levels of the Merkle tree per tile level (C2SP tlog-tiles: 8)."""
TILE_WIDTH = 1 << TILE_HEIGHT
"""Hashes in a full tile (256)."""
FULL_TILE_BYTES = TILE_WIDTH * merkle.HASH_SIZE
MAX_LEVEL = 63
"""Highest tile level a path may name (C2SP: 0..63)."""
MAX_ENTRY_BYTES = 0xFFFF
"""An entry in a bundle is prefixed by a uint16: at most 65,535 bytes."""


class TileError(LedgerError):
    """A tile path is malformed, a tile or bundle has the wrong shape, or a tile is not available.

    Codes: ``E_TILE_PATH`` (a malformed path), ``E_TILE_SHAPE`` (a tile or bundle of the wrong
    length, an entry that does not hash to its tile), ``E_TILE_NOT_FOUND`` (beyond the tree).
    """

    code = "E_TILE_PATH"


@dataclass(frozen=True, slots=True)
class Tile:
    """One tile: ``level`` (None for an entry bundle), index ``n`` and width (256 when full)."""

    level: int | None
    index: int
    width: int

    @property
    def full(self) -> bool:
        """Whether the tile holds 256 hashes (entries); full tiles never change."""
        return self.width == TILE_WIDTH

    @property
    def path(self) -> str:
        """The tile's path below the log's prefix, e.g. ``tile/0/x001/234`` or ``tile/entries/005.p/17``."""
        if self.level is None:
            return entries_path(self.index, self.width)
        return tile_path(self.level, self.index, self.width)


# ---------------------------------------------------------------------------------------------
# Paths (C2SP tlog-tiles §Merkle Tree, §Log entries)
# ---------------------------------------------------------------------------------------------


def encode_index(n: int) -> str:
    """``n`` as zero-padded 3-digit path elements, all but the last prefixed ``x``: 1234067 → ``x001/x234/067``."""
    if type(n) is not int or n < 0:
        msg = f"tile index must be a non-negative integer, not {n!r}"
        raise TileError(msg)
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def _suffix(width: int) -> str:
    if type(width) is not int or not 1 <= width <= TILE_WIDTH:
        msg = f"tile width must be in 1..{TILE_WIDTH}, not {width!r}"
        raise TileError(msg)
    return "" if width == TILE_WIDTH else f".p/{width}"


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """``tile/<L>/<N>[.p/<W>]`` of a hash tile."""
    if type(level) is not int or not 0 <= level <= MAX_LEVEL:
        msg = f"tile level must be in 0..{MAX_LEVEL}, not {level!r}"
        raise TileError(msg)
    return f"tile/{level}/{encode_index(index)}{_suffix(width)}"


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    """``tile/entries/<N>[.p/<W>]`` of an entry bundle."""
    return f"tile/entries/{encode_index(index)}{_suffix(width)}"


_LEVEL_RE = re.compile(r"0|[1-9][0-9]?")
_GROUP_RE = re.compile(r"x[0-9]{3}")
_LAST_RE = re.compile(r"[0-9]{3}")
_WIDTH_RE = re.compile(r"[1-9][0-9]{0,2}")


def parse_tile_path(path: str) -> Tile:
    """Parse ``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]`` strictly (one spelling per tile).

    Refused (``E_TILE_PATH``): a level outside 0..63 or with a leading zero; an index element that
    is not 3 digits (``x`` and 3 digits for all but the last); a leading ``x000`` element (the index
    has a shorter spelling); a width outside 1..255 or with a leading zero.
    """
    def bad(why: str) -> TileError:
        return TileError(f"malformed tile path {path!r}: {why}", code="E_TILE_PATH")

    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "tile":  # noqa: PLR2004 - tile/<L>/<N>
        raise bad("want tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]")
    level: int | None
    if parts[1] == "entries":
        level = None
    elif _LEVEL_RE.fullmatch(parts[1]) and int(parts[1]) <= MAX_LEVEL:
        level = int(parts[1])
    else:
        raise bad(f"level must be a decimal in 0..{MAX_LEVEL} without leading zeros")
    rest = parts[2:]
    width = TILE_WIDTH
    if len(rest) >= 2 and rest[-2].endswith(".p"):  # noqa: PLR2004 - <last group>.p/<W>
        if not _WIDTH_RE.fullmatch(rest[-1]) or not 1 <= int(rest[-1]) < TILE_WIDTH:
            raise bad(f"partial width must be a decimal in 1..{TILE_WIDTH - 1} without leading zeros")
        width = int(rest[-1])
        rest = [*rest[:-2], rest[-2][:-2]]
    *groups, last = rest
    if not _LAST_RE.fullmatch(last) or not all(_GROUP_RE.fullmatch(g) for g in groups):
        raise bad("index must be 3-digit elements, all but the last prefixed with x (e.g. x001/x234/067)")
    if groups and groups[0] == "x000":
        raise bad("index has a leading x000 element")
    index = int("".join(g[1:] for g in groups) + last)
    if index >= 1 << 63:
        raise bad("index is too large")
    return Tile(level, index, width)


# ---------------------------------------------------------------------------------------------
# Geometry (C2SP tlog-tiles §Partial Tiles)
# ---------------------------------------------------------------------------------------------


def tile_width(level: int, index: int, size: int) -> int:
    """Hashes tile ``index`` at ``level`` holds in a tree of ``size`` leaves (0: none, 256: full)."""
    count = size >> (TILE_HEIGHT * level)  # complete subtrees of height 8·level
    return max(0, min(TILE_WIDTH, count - index * TILE_WIDTH))


def tiles_for_size(size: int, *, since: int = 0) -> Iterator[Tile]:
    """The hash tiles that make up a tree of ``size`` leaves, level by level, left to right.

    With ``since``, only those that a tree of ``since`` leaves did not already have: tiles that
    have become full since, and each level's partial tile if its width changed.
    """
    if not 0 <= since <= size:
        msg = f"cannot list the tiles of size {size} since size {since}"
        raise TileError(msg, code="E_TILE_NOT_FOUND")
    level = 0
    while size >> (TILE_HEIGHT * level):
        count = size >> (TILE_HEIGHT * level)
        before = since >> (TILE_HEIGHT * level)
        full, part = divmod(count, TILE_WIDTH)
        for n in range(before // TILE_WIDTH, full):
            yield Tile(level, n, TILE_WIDTH)
        if part and count != before:
            yield Tile(level, full, part)
        level += 1


def bundles_for_size(size: int, *, since: int = 0) -> Iterator[Tile]:
    """The entry bundles of a tree of ``size`` leaves (as the level-0 tiles of :func:`tiles_for_size`)."""
    for t in tiles_for_size(size, since=since):
        if t.level != 0:
            return
        yield Tile(None, t.index, t.width)


def tile_nodes(level: int, index: int, width: int) -> list[merkle.NodeId]:
    """The perfect subtrees whose hashes tile ``index`` at ``level`` holds, in order."""
    start = index * TILE_WIDTH
    return [(TILE_HEIGHT * level, start + i) for i in range(width)]


# ---------------------------------------------------------------------------------------------
# Entry bundles (C2SP tlog-tiles §Log entries)
# ---------------------------------------------------------------------------------------------


def encode_bundle(entries: Sequence[bytes]) -> bytes:
    """Entries, each prefixed by its length as a big-endian uint16."""
    out = bytearray()
    for e in entries:
        if len(e) > MAX_ENTRY_BYTES:
            msg = f"an entry of {len(e)} bytes does not fit a uint16 length prefix"
            raise TileError(msg, code="E_TILE_SHAPE")
        out += len(e).to_bytes(2, "big") + e
    return bytes(out)


def decode_bundle(data: bytes, width: int | None = None) -> list[bytes]:
    """Split an entry bundle; with ``width``, it must hold exactly that many entries."""
    out: list[bytes] = []
    i = 0
    while i < len(data):
        if i + 2 > len(data):
            msg = "entry bundle ends inside a length prefix"
            raise TileError(msg, code="E_TILE_SHAPE")
        n = int.from_bytes(data[i:i + 2], "big")
        if i + 2 + n > len(data):
            msg = f"entry {len(out)} of the bundle is cut short"
            raise TileError(msg, code="E_TILE_SHAPE")
        out.append(bytes(data[i + 2:i + 2 + n]))
        i += 2 + n
    if width is not None and len(out) != width:
        msg = f"entry bundle holds {len(out)} entries, not {width}"
        raise TileError(msg, code="E_TILE_SHAPE")
    return out


def split_tile(data: bytes, width: int) -> list[bytes]:
    """The hashes of a tile of ``width`` hashes (refused unless exactly ``32·width`` bytes)."""
    if len(data) != width * merkle.HASH_SIZE:
        msg = f"tile of {len(data)} bytes is not {width} hashes of {merkle.HASH_SIZE} bytes"
        raise TileError(msg, code="E_TILE_SHAPE")
    return [bytes(data[i:i + merkle.HASH_SIZE]) for i in range(0, len(data), merkle.HASH_SIZE)]


# ---------------------------------------------------------------------------------------------
# Perfect subtrees from tiles
# ---------------------------------------------------------------------------------------------


TileLoader = Callable[[Tile], bytes]
"""Returns a hash tile's bytes (the caller checks nothing; :class:`TileHashes` checks the length)."""


class TileHashes:
    """Hashes of perfect subtrees of a tree of ``size`` leaves, derived from its hash tiles.

    Node ``(k, j)`` (level ``k`` = 8·l + r) is the root of the ``2**r`` hashes ``j·2**r ..`` of
    tile level ``l``: one tile, read once and cached, and at most 127 hashes (each remembered). Tiles are read at the
    width they have at ``size`` (the partial tile of the checkpoint that names ``size``), so any
    proof inside ``[0, size)`` can be computed. Use :meth:`fetcher` with
    :func:`ledger.merkle.inclusion_proof` and :func:`ledger.merkle.consistency_proof`.
    """

    def __init__(self, size: int, load: TileLoader) -> None:
        """Tiles of a tree of ``size`` leaves, read through ``load``."""
        self.size = size
        self._load = load
        self._tiles: dict[tuple[int, int], list[bytes]] = {}
        self._nodes: dict[merkle.NodeId, bytes] = {}
        self.tiles_read = 0

    def tile(self, level: int, index: int) -> list[bytes]:
        """The hashes of tile ``index`` at ``level`` at this size (read once)."""
        key = (level, index)
        got = self._tiles.get(key)
        if got is None:
            width = tile_width(level, index, self.size)
            if not width:
                msg = f"tile {index} of level {level} is empty in a tree of {self.size} leaves"
                raise TileError(msg, code="E_TILE_NOT_FOUND")
            got = self._tiles[key] = split_tile(self._load(Tile(level, index, width)), width)
            self.tiles_read += 1
        return got

    def node(self, level: int, index: int) -> bytes:
        """The hash of the complete subtree ``(level, index)`` (inside ``[0, size)``)."""
        if (index + 1) << level > self.size:
            msg = f"subtree {(level, index)} is not complete in a tree of {self.size} leaves"
            raise TileError(msg, code="E_TILE_NOT_FOUND")
        tl, r = divmod(level, TILE_HEIGHT)
        first = index << r  # first hash of tile level tl under this node
        if not r:
            return self.tile(tl, first >> TILE_HEIGHT)[first & (TILE_WIDTH - 1)]
        got = self._nodes.get((level, index))
        if got is None:
            # The two halves, each from the same tile (remembered: proofs share their nodes).
            got = self._nodes[(level, index)] = merkle.node_hash(self.node(level - 1, 2 * index),
                                                                 self.node(level - 1, 2 * index + 1))
        return got

    def fetcher(self) -> merkle.NodeFetcher:
        """A :class:`ledger.merkle.NodeFetcher` over these tiles."""

        def fetch(nodes: Collection[merkle.NodeId]) -> Mapping[merkle.NodeId, bytes]:
            return {n: self.node(*n) for n in nodes}

        return fetch

    def root(self, size: int | None = None) -> Digest:
        """MTH of the first ``size`` leaves (default: this tree's size), from tiles."""
        return merkle.root_at(self.size if size is None else size, self.fetcher())

    def inclusion_proof(self, index: int, size: int | None = None) -> list[Digest]:
        """RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` (default: this) leaves."""
        size = self.size if size is None else size
        self._within(size)
        return merkle.inclusion_proof(index, size, self.fetcher())

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[Digest]:
        """RFC 9162 consistency proof from ``size1`` to ``size2`` (default: this tree's size)."""
        size2 = self.size if size2 is None else size2
        self._within(size2)
        return merkle.consistency_proof(size1, size2, self.fetcher())

    def leaf_hash(self, index: int) -> bytes:
        """The leaf hash at ``index``, from its level-0 tile."""
        return self.node(0, index)

    def _within(self, size: int) -> None:
        if size > self.size:
            msg = f"tree size {size} exceeds the tiles' size {self.size}"
            raise TileError(msg, code="E_TILE_NOT_FOUND")


__all__ = [
    "FULL_TILE_BYTES", "MAX_LEVEL", "TILE_HEIGHT", "TILE_WIDTH", "Tile", "TileError", "TileHashes", "TileLoader",
    "bundles_for_size", "decode_bundle", "encode_bundle", "encode_index", "entries_path", "parse_tile_path",
    "split_tile", "tile_nodes", "tile_path", "tile_width", "tiles_for_size",
]
