"""C2SP tlog-tiles: paths, geometry, entry bundles, and proofs computed from tiles alone (ledger/tiles.py,
ledger/tile_client.py), against the in-memory reference, transparency-dev's vectors and a 1,000,000-leaf log."""

from __future__ import annotations

import base64
import hashlib
import json
import random
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from ledger import merkle
from ledger.checkpoint import sign_checkpoint, vkey
from ledger.errors import CheckpointError, ProofError, SignatureError
from ledger.tile_client import DirectorySource, TileClient
from ledger.tiles import (
    TILE_WIDTH,
    Tile,
    TileError,
    TileHashes,
    bundles_for_size,
    decode_bundle,
    encode_bundle,
    encode_index,
    entries_path,
    parse_tile_path,
    split_tile,
    tile_path,
    tile_width,
    tiles_for_size,
)

ORIGIN = "tiles.test/log"
KEY = SigningKey(hashlib.sha256(b"tiles-test-key").digest())
OTHER = SigningKey(hashlib.sha256(b"another-key").digest())
TRUST = [vkey(ORIGIN, bytes(KEY.verify_key))]
VECTORS = Path(__file__).resolve().parents[3].parent / "shared" / "vectors" / "transparency-dev-merkle"


# --------------------------------------------------------------------------------------------- paths


@pytest.mark.parametrize(("n", "text"), [
    (0, "000"), (5, "005"), (999, "999"), (1000, "x001/000"), (1234067, "x001/x234/067"),
    (10**9, "x001/x000/x000/000"),
])
def test_index_encoding_is_the_specs(n: int, text: str) -> None:
    assert encode_index(n) == text
    assert parse_tile_path(f"tile/3/{text}") == Tile(3, n, TILE_WIDTH)


def test_paths_of_full_and_partial_tiles_and_bundles() -> None:
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(2, 3, 17) == "tile/2/003.p/17"
    assert entries_path(1000, 255) == "tile/entries/x001/000.p/255"
    assert Tile(None, 7, 4).path == "tile/entries/007.p/4"
    for t in (Tile(0, 0, 1), Tile(63, 10**12, 256), Tile(None, 1234067, 200), Tile(1, 5, 255)):
        assert parse_tile_path(t.path) == t


@pytest.mark.parametrize("path", [
    "tile/0/5", "tile/0/0005", "tile/0/x1/234", "tile/0/001/234", "tile/0/x000/005", "tile/00/000",
    "tile/64/000", "tile/-1/000", "tile/0/000.p/0", "tile/0/000.p/256", "tile/0/000.p/017", "tile/0/000.p/",
    "tile/0/000.p", "tile/0/000/", "tile/entries/5", "tile/entries", "tiles/0/000", "tile/0/x001", "tile/x/000",
    "tile/0/000.p/1/2", "tile/0/+01", "tile/0/\u0660\u0660\u0660",
])
def test_malformed_paths_are_refused(path: str) -> None:
    with pytest.raises(TileError) as e:
        parse_tile_path(path)
    assert e.value.code == "E_TILE_PATH"


def test_bad_arguments_to_the_path_builders_are_refused() -> None:
    for bad in (lambda: encode_index(-1), lambda: tile_path(64, 0), lambda: tile_path(0, 0, 0),
                lambda: entries_path(0, 257)):
        with pytest.raises(TileError):
            bad()


# --------------------------------------------------------------------------------------------- geometry


def test_the_specs_example_of_a_tree_of_70000() -> None:
    tiles = list(tiles_for_size(70_000))
    assert sum(1 for t in tiles if t.level == 0 and t.full) == 273
    assert [t for t in tiles if not t.full] == [Tile(0, 273, 112), Tile(1, 1, 17), Tile(2, 0, 1)]
    assert [t for t in tiles if t.level == 1 and t.full] == [Tile(1, 0, 256)]
    assert list(tiles_for_size(256)) == [Tile(0, 0, 256), Tile(1, 0, 1)]
    assert list(tiles_for_size(0)) == []
    assert tile_width(0, 273, 70_000) == 112
    assert tile_width(0, 274, 70_000) == 0


def test_tiles_since_an_older_size_are_the_new_and_changed_ones_only() -> None:
    assert list(tiles_for_size(600, since=600)) == []
    assert list(tiles_for_size(600, since=300)) == [Tile(0, 1, 256), Tile(0, 2, 88), Tile(1, 0, 2)]
    assert list(tiles_for_size(300, since=290)) == [Tile(0, 1, 44)]
    assert list(bundles_for_size(600, since=300)) == [Tile(None, 1, 256), Tile(None, 2, 88)]
    for s0 in range(0, 700, 37):
        have = set(tiles_for_size(s0))
        new = set(tiles_for_size(700, since=s0))
        assert (have | new) >= set(tiles_for_size(700))
        assert not (new & {t for t in have if t.full})  # full tiles are never written twice
    with pytest.raises(TileError):
        list(tiles_for_size(5, since=6))


# --------------------------------------------------------------------------------------------- bundles


def test_entry_bundles_are_uint16_length_prefixed() -> None:
    entries = [b"", b"a", bytes(300), b"x" * 65535]
    data = encode_bundle(entries)
    assert data[:2] == b"\x00\x00"
    assert data[2:5] == b"\x00\x01a"
    assert data[5:7] == (300).to_bytes(2, "big")
    assert decode_bundle(data, 4) == entries
    with pytest.raises(TileError) as e:
        encode_bundle([b"x" * 65536])
    assert e.value.code == "E_TILE_SHAPE"
    for cut in (data[:1], data[:6], data + b"\x00"):
        with pytest.raises(TileError):
            decode_bundle(cut)
    with pytest.raises(TileError):
        decode_bundle(data, 3)
    with pytest.raises(TileError):
        split_tile(bytes(65), 2)


# --------------------------------------------------------------------------------------------- proofs from tiles


def levels_of(leaves: list[bytes] | bytes) -> list[bytes]:
    """Every level of the tree as one byte string of 32-byte hashes (level 0: the leaf hashes)."""
    cur = leaves if isinstance(leaves, bytes) else b"".join(leaves)
    out = [cur]
    sha = hashlib.sha256
    while len(cur) >= 64:
        cur = b"".join([sha(b"\x01" + cur[i:i + 64]).digest() for i in range(0, len(cur) - 63, 64)])
        out.append(cur)
    return out


class LevelsSource:
    """A tiled log built straight from the tree's levels, with a signed checkpoint and optional bundles."""

    def __init__(self, levels: list[bytes], size: int, note: str, leaf_data: list[bytes] | None = None) -> None:
        self.levels, self.size, self.note, self.leaf_data = levels, size, note, leaf_data
        self.paths: list[str] = []

    def get(self, path: str) -> bytes:
        self.paths.append(path)
        if path == "checkpoint":
            return self.note.encode()
        t = parse_tile_path(path)
        if t.width > tile_width(t.level or 0, t.index, self.size):
            raise TileError(f"{path} is beyond the tree", code="E_TILE_NOT_FOUND")
        start = t.index * TILE_WIDTH
        if t.level is None:
            assert self.leaf_data is not None
            return encode_bundle(self.leaf_data[start:start + t.width])
        lv = self.levels[8 * t.level]
        return lv[start * 32:(start + t.width) * 32]


def reference(levels: list[bytes]) -> merkle.NodeFetcher:
    def fetch(nodes):
        return {(k, j): levels[k][32 * j:32 * j + 32] for k, j in nodes}
    return fetch


def signed(size: int, root: bytes, key: SigningKey = KEY) -> str:
    return sign_checkpoint(ORIGIN, size, root, ORIGIN, key)


def test_every_proof_from_tiles_equals_the_reference_for_every_index_and_size() -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(300)]
    levels = levels_of(leaves)
    ref = reference(levels)
    for size in [*range(1, 130), 255, 256, 257, 300]:
        th = TileHashes(size, lambda t, size=size: LevelsSource(levels, size, "").get(t.path))
        root = merkle.root_at(size, ref)
        assert th.root() == root
        for i in range(size):
            proof = th.inclusion_proof(i)
            assert proof == merkle.inclusion_proof(i, size, ref)
            merkle.verify_inclusion(i, size, leaves[i], proof, root)
        for s1 in range(1, size + 1):
            assert th.consistency_proof(s1) == merkle.consistency_proof(s1, size, ref)


def rfc_leaves() -> list[bytes]:
    """The leaf data of transparency-dev/merkle's test tree (RFC 6962 test data), whose hashes its vectors use."""
    return [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                       "606162636465666768696a6b6c6d6e6f")]


def test_tiles_of_the_rfc_test_tree_reproduce_transparency_devs_happy_path_vectors() -> None:
    data = rfc_leaves()
    leaves = [merkle.leaf_hash(d) for d in data]
    levels = levels_of(leaves)
    checked = 0
    for kind in ("inclusion", "consistency"):
        for f in sorted((VECTORS / kind).glob("*/happy-path.json")):
            v = json.loads(f.read_text(encoding="utf-8"))
            want = [base64.b64decode(h) for h in v["proof"] or []]
            size = v["treeSize"] if kind == "inclusion" else v["size2"]
            root = base64.b64decode(v["root"] if kind == "inclusion" else v["root2"])
            src = LevelsSource(levels, size, signed(size, root), data)
            client = TileClient(src, TRUST)
            cp = client.checkpoint()
            if kind == "inclusion":
                entry = client.entry(cp, v["leafIdx"])
                assert entry.leaf_hash == base64.b64decode(v["leafHash"])
                assert list(entry.proof) == want
            else:
                assert client.consistency_proof(cp, v["size1"]) == want
                assert client.root(cp, v["size1"]) == base64.b64decode(v["root1"])
            checked += 1
    assert checked >= 8, f"too few happy-path vectors under {VECTORS}"


def test_a_million_leaf_log_proves_random_points_from_tiles_against_its_signed_checkpoint() -> None:
    # About 4 s on a quiet 2-vCPU machine (the tree's 2,000,000 hashes built straight from leaf hashes).
    n = 1_000_000
    sha = hashlib.sha256
    leaves = b"".join([sha(b"\x00" + i.to_bytes(8, "big")).digest() for i in range(n)])
    levels = levels_of(leaves)
    ref = reference(levels)
    root = merkle.root_at(n, ref)
    src = LevelsSource(levels, n, signed(n, root))
    client = TileClient(src, TRUST)
    cp = client.checkpoint()
    assert cp.size == n
    assert client.root(cp) == root
    rng = random.Random(19)
    for _ in range(150):
        size = rng.randint(1, n)
        i = rng.randrange(size)
        assert client.inclusion_proof(cp, i, size) == merkle.inclusion_proof(i, size, ref)
        s1 = rng.randint(1, size)
        assert client.consistency_proof(cp, s1, size) == merkle.consistency_proof(s1, size, ref)
        # Checked against the signed root inside the client at the checkpoint's size.
        j = rng.randrange(n)
        proof = client.inclusion_proof(cp, j)
        merkle.verify_inclusion(j, n, leaves[32 * j:32 * j + 32], proof, cp.root)
        client.consistency_proof(cp, rng.randint(1, n))
    for edge in (0, 255, 256, 65535, 65536, n - 1):
        merkle.verify_inclusion(edge, n, leaves[32 * edge:32 * edge + 32], client.inclusion_proof(cp, edge), root)
    # Tiles of three levels were read, each once, none of them partial beyond the tree.
    assert {parse_tile_path(p).level for p in src.paths if p != "checkpoint"} == {0, 1, 2}
    assert len(src.paths) == len(set(src.paths))


def test_a_wrong_tile_or_checkpoint_is_caught() -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(600)]
    levels = levels_of(leaves)
    root = merkle.root_at(600, reference(levels))
    # A checkpoint signed by another key, or naming another root.
    with pytest.raises(SignatureError):
        TileClient(LevelsSource(levels, 600, signed(600, root, OTHER)), TRUST).checkpoint()
    with pytest.raises(CheckpointError):
        TileClient(LevelsSource(levels, 600, signed(600, root)), TRUST, origin="another/log").checkpoint()
    bad_root = TileClient(LevelsSource(levels, 600, signed(600, bytes(32))), TRUST)
    cp = bad_root.checkpoint()
    with pytest.raises(ProofError):
        bad_root.inclusion_proof(cp, 5)
    with pytest.raises(TileError):
        bad_root.root(cp)
    # A flipped byte in a level-0 tile: the proofs through it fail against the signed root.
    flipped = [bytearray(levels[0]), *levels[1:]]
    flipped[0][32 * 300] ^= 1
    client = TileClient(LevelsSource([bytes(flipped[0]), *levels[1:]], 600, signed(600, root)), TRUST)
    cp = client.checkpoint()
    with pytest.raises(ProofError):
        client.inclusion_proof(cp, 300)
    with pytest.raises(ProofError):
        client.inclusion_proof(cp, 301)  # its sibling
    client.inclusion_proof(cp, 5)  # another tile: fine
    # A tile of the wrong length.
    short = LevelsSource(levels, 600, signed(600, root))
    short.get = lambda path: b"\x00" * 31 if path.startswith("tile/") else signed(600, root).encode()  # type: ignore[method-assign]
    c2 = TileClient(short, TRUST)
    with pytest.raises(TileError) as e:
        c2.inclusion_proof(c2.checkpoint(), 1)
    assert e.value.code == "E_TILE_SHAPE"
    # A bundle entry that does not hash to its tile.
    data = [i.to_bytes(4, "big") for i in range(600)]
    wrong = [*data]
    wrong[7] = b"nope"
    c3 = TileClient(LevelsSource(levels, 600, signed(600, root), wrong), TRUST)
    with pytest.raises(TileError):
        c3.entry(c3.checkpoint(), 7)
    assert c3.entry(c3.checkpoint(), 8).leaf_data == data[8]


def test_a_directory_source_reads_files_and_says_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "checkpoint").write_text("x")
    src = DirectorySource(tmp_path)
    assert src.get("checkpoint") == b"x"
    with pytest.raises(TileError) as e:
        src.get("tile/0/000")
    assert e.value.code == "E_TILE_NOT_FOUND"
