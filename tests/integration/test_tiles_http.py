"""The log as C2SP tlog-tiles over HTTP and as exported files, on SQLite and PostgreSQL.

A ledger of a few thousand leaves with one signed checkpoint and more leaves after it: every tile of
the checkpoint's tree is served with the right headers and bytes, nothing beyond it is; malformed
paths are refused; the tile client's proofs equal the server's own proofs on every index and
size; ``caseledger tiles export`` writes the same bytes, incrementally, and the client verifies
the exported directory through a plain static HTTP server.
"""

from __future__ import annotations

import functools
import http.server
import random
import threading
import uuid
from base64 import b64decode
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from api.app import create_app
from api.cli import main as cli_main
from api.cmd_tiles import export_tiles
from ledger import merkle
from ledger.bundle_export import issue_checkpoint
from ledger.checkpoint import sign_checkpoint, vkey
from ledger.errors import UsageError
from ledger.tile_client import DirectorySource, HttpSource, TileClient
from ledger.tile_client import main as tile_client_main
from ledger.tiles import TILE_WIDTH, TileError, bundles_for_size, decode_bundle, parse_tile_path, tiles_for_size
from tests.conftest import pg_base_url
from tests.fakes import ALICE, ROOT, Ticket, make_ledger

ORIGIN = "tiles.example/log"
TRUST = [vkey(ORIGIN, bytes(ROOT.verify_key))]
IMMUTABLE = "public, max-age=31536000, immutable"


class ClientSource:
    """A tile source over the app's HTTP interface (TestClient); 404 is 'not found'."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def get(self, path: str) -> bytes:
        r = self.client.get("/" + path)
        if r.status_code == 404:
            raise TileError(path, code="E_TILE_NOT_FOUND")
        assert r.status_code == 200, r.text
        return r.content


def grow(c: Any, tickets: int) -> None:
    batch = []
    for i in range(tickets):
        t = Ticket(actor="alice", title=f"t{i}")
        t.note(actor="alice", text="x", amount=i)
        batch.append(t)
        if len(batch) == 100:
            c.app.save(*batch)
            batch = []
    if batch:
        c.app.save(*batch)


def checkpoint(c: Any) -> str:
    return issue_checkpoint(c, origin=ORIGIN, signing_key=ROOT, clock=c.app.clock).note


def size_of(c: Any) -> int:
    with c.engine.connect() as conn:
        return c.merkle.size(conn)


def app_for(c: Any) -> TestClient:
    return TestClient(create_app(c, projections=object()), raise_server_exceptions=False)


def _pg_url() -> Iterator[str]:
    base = pg_base_url()
    schema = "tiles_" + uuid.uuid4().hex[:12]
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A ledger of ~2,100 leaves, a checkpoint, then 300 more leaves; its app; the checkpoint."""
    gen = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('tiles') / 'ledger.db'}"
    else:
        gen = _pg_url()
        url = next(gen)
    c = make_ledger(url)
    grow(c, 1040)
    note = checkpoint(c)
    size = size_of(c)
    grow(c, 150)
    client = app_for(c)
    try:
        yield {"c": c, "client": client, "note": note, "size": size, "url": url}
    finally:
        c.engine.dispose()
        if gen is not None:
            for _ in gen:
                pass


def test_the_checkpoint_is_served_at_the_root_short_lived(served: dict[str, Any]) -> None:
    r = served["client"].get("/checkpoint")
    assert r.status_code == 200
    assert r.text == served["note"]
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert "max-age=5" in r.headers["cache-control"]
    assert "immutable" not in r.headers["cache-control"]


def test_every_tile_and_bundle_of_the_checkpoint_is_served_with_its_bytes_and_headers(served: dict[str, Any]) -> None:
    c, client, size = served["c"], served["client"], served["size"]
    assert size > 2000
    conn = c.engine.connect()
    fetch = c.merkle.fetcher(conn)
    tiles = list(tiles_for_size(size))
    assert {t.level for t in tiles} == {0, 1}
    assert sum(not t.full for t in tiles) == 2
    for t in tiles:
        r = client.get("/" + t.path)
        assert r.status_code == 200, (t, r.text)
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.headers["cache-control"] == (IMMUTABLE if t.full else "public, max-age=60")
        nodes = [(8 * t.level, t.index * TILE_WIDTH + i) for i in range(t.width)]
        assert r.content == b"".join(fetch(nodes)[n] for n in nodes)
    conn.close()
    for b in bundles_for_size(size):
        r = client.get("/" + b.path)
        assert r.status_code == 200
        assert r.headers["cache-control"] == (IMMUTABLE if b.full else "public, max-age=60")
        entries = decode_bundle(r.content, b.width)
        leaf_tile = client.get(f"/tile/0/{b.path.split('/', 2)[2]}").content
        assert b"".join(merkle.leaf_hash(e) for e in entries) == leaf_tile
    # Entry bundles are gzip-encoded when the client accepts it (C2SP: SHOULD), identity otherwise.
    b = next(bundles_for_size(size))
    plain = client.get("/" + b.path, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"
    for _ in range(2):  # the second answer comes from memory
        zipped = client.get("/" + b.path, headers={"Accept-Encoding": "gzip, identity"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.content == plain.content  # decoded by the client
        assert int(zipped.headers["content-length"]) < len(plain.content)
    assert "content-encoding" not in client.get("/tile/0/000", headers={"Accept-Encoding": "gzip"}).headers
    # Each leaf's data is the spec's canonical map (spec 03 §Leaves), with the entry's signature.
    first = decode_bundle(client.get("/" + next(bundles_for_size(size)).path).content)[0]
    assert first.startswith(b"\x84\xaaentry_hash\xc4\x20")
    assert b"\xa5index\x00\xabrecorded_at" in first


def test_nothing_beyond_the_checkpoints_tree_is_served(served: dict[str, Any]) -> None:
    client, size = served["client"], served["size"]
    assert size_of(served["c"]) > size  # the log has grown past its checkpoint
    last = size // TILE_WIDTH
    width = size % TILE_WIDTH
    beyond = [f"/tile/0/{last:03d}.p/{width + 1}", f"/tile/0/{last + 1:03d}.p/1", f"/tile/0/{last:03d}",
              f"/tile/entries/{last:03d}.p/{width + 1}", f"/tile/entries/{last:03d}", f"/tile/1/000.p/{last + 1}",
              "/tile/1/001.p/1", "/tile/2/000.p/1", "/tile/63/000.p/1"]
    for path in beyond:
        r = served["client"].get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "E_TILE_NOT_FOUND"
    # A narrower partial tile than the checkpoint's is inside the tree: served (the tree of an older checkpoint).
    r = client.get(f"/tile/0/{last:03d}.p/1")
    assert r.status_code == 200
    assert len(r.content) == 32


@pytest.mark.parametrize("path", [
    "/tile/0/5", "/tile/0/0005", "/tile/0/x000/005", "/tile/00/000", "/tile/64/000", "/tile/0/000.p/0",
    "/tile/0/000.p/256", "/tile/0/000.p/07", "/tile/entries/1", "/tile/entries/000.p/300", "/tile/x/000",
    "/tile/0/001/234", "/tile/",
])
def test_malformed_tile_paths_are_400_problems(served: dict[str, Any], path: str) -> None:
    r = served["client"].get(path)
    assert r.status_code == 400, path
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "E_BAD_TILE_PATH"


def test_tiles_need_no_token_and_take_no_writes(served: dict[str, Any]) -> None:
    client = served["client"]
    assert client.post("/tile/0/000", content=b"x").status_code in {401, 405}
    assert client.put("/checkpoint", content=b"x").status_code in {401, 405}
    assert client.get("/tile/0/000", headers={"Authorization": "Bearer nonsense"}).status_code == 200


def test_client_proofs_from_tiles_equal_the_servers_proofs_on_every_index_and_size(served: dict[str, Any]) -> None:
    """Every size and index against the store's proof code (what the endpoints answer, in process, for
    speed); the tile edges and a sample of sizes through the proof endpoints themselves."""
    c, client, size = served["c"], served["client"], served["size"]
    store = c.merkle
    tc = TileClient(ClientSource(client), TRUST, origin=ORIGIN)
    cp = tc.checkpoint()
    assert cp.size == size
    assert tc.root(cp) == cp.root
    rng = random.Random(7)
    with c.engine.connect() as conn:
        for s in range(1, size + 1):
            # Every index at the checkpoint's size (leaf s - 1); the client checks it against the signed root.
            assert tc.inclusion_proof(cp, s - 1) == store.inclusion_proof(conn, s - 1, size)
            # Every size: consistency to the checkpoint, the root, and a random leaf's inclusion at that size.
            assert tc.consistency_proof(cp, s) == store.consistency_proof(conn, s, size)
            assert tc.root(cp, s) == store.root(conn, s)
            i = rng.randrange(s)
            assert tc.inclusion_proof(cp, i, s) == store.inclusion_proof(conn, i, s)
    edges = {1, 2, 3, 255, 256, 257, 511, 512, 513, 1024, size - 1, size}
    for s in sorted(edges | set(rng.sample(range(1, size + 1), 60))):
        got = client.get("/v1/log/proofs/inclusion", params={"index": s - 1, "size": size}).json()
        assert [b64decode(h) for h in got["proof"]] == tc.inclusion_proof(cp, s - 1)
        assert b64decode(got["leaf_hash"]) == tc.hashes(cp).leaf_hash(s - 1)
        got = client.get("/v1/log/proofs/consistency", params={"first": s, "second": size}).json()
        assert [b64decode(h) for h in got["proof"]] == tc.consistency_proof(cp, s)
        assert b64decode(got["first_root"]) == tc.root(cp, s)
        i = rng.randrange(s)
        got = client.get("/v1/log/proofs/inclusion", params={"index": i, "size": s}).json()
        assert [b64decode(h) for h in got["proof"]] == tc.inclusion_proof(cp, i, s)
    for i in (0, 255, 256, size - 1):
        e = tc.entry(cp, i)
        merkle.verify_inclusion(i, size, e.leaf_hash, list(e.proof), cp.root)


def test_a_checkpoint_is_needed_before_any_tile(db_url: str) -> None:
    c = make_ledger(db_url)
    client = app_for(c)
    for path in ("/checkpoint", "/tile/0/000.p/1", "/tile/entries/000.p/1"):
        r = client.get(path)
        assert r.status_code == 404
        assert r.json()["code"] == "E_NO_CHECKPOINT"
    c.engine.dispose()


def serve_dir(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


def test_export_writes_the_served_bytes_incrementally_and_a_static_server_is_a_tiled_log(
        db_url: str, tmp_path: Path) -> None:
    c = make_ledger(db_url)
    grow(c, 200)
    old = checkpoint(c)
    out = tmp_path / "tiles"
    first = export_tiles(c, out)
    client = app_for(c)
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == sorted(first.written)
    for f in files:
        assert (out / f).read_bytes() == client.get("/" + f).content, f
    assert (out / "checkpoint").read_text() == old
    # Grow, sign, export again since the old checkpoint: only new and changed tiles are written.
    grow(c, 300)
    checkpoint(c)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    old_size, new_size = first.size, size_of(c)
    again = export_tiles(c, out, since_note=(out / "checkpoint").read_text())
    want = [t.path for t in (*tiles_for_size(new_size, since=old_size), *bundles_for_size(new_size, since=old_size))]
    assert again.written == [*want, "checkpoint"]
    for p, ns in stamps.items():
        t = None if p.name == "checkpoint" else parse_tile_path(str(p.relative_to(out)))
        if t is not None and t.full:
            assert p.stat().st_mtime_ns == ns, p  # full tiles are never rewritten
    # Without --since, everything is considered but existing full tiles are kept.
    third = export_tiles(c, out)
    assert third.kept == sum(1 for t in (*tiles_for_size(new_size), *bundles_for_size(new_size)) if t.full)
    # The directory, read as files and through a plain static web server, is a verifiable tiled log.
    srv, base = serve_dir(out)
    try:
        for src in (DirectorySource(out), HttpSource(base)):
            tc = TileClient(src, TRUST)
            cp = tc.checkpoint()
            assert cp.size == new_size
            assert tc.root(cp) == cp.root
            for i in (0, old_size - 1, old_size, new_size - 1):
                tc.entry(cp, i)
            tc.consistency_proof(cp, old_size)
        with pytest.raises(TileError) as e:
            HttpSource(base).get("tile/0/999")
        assert e.value.code == "E_TILE_NOT_FOUND"
        # The client's command line: exit 0 when all verifies, 1 under another key.
        trust = tmp_path / "trust.vkey"
        trust.write_text("\n".join(TRUST) + "\n")
        assert tile_client_main([base, "--trust", str(trust), "--entry", "0", "--entry", str(new_size - 1),
                                 "--from", str(old_size), "--json"]) == 0
        assert tile_client_main([str(out), "--trust", str(trust)]) == 0
        trust.write_text(vkey(ORIGIN, bytes(ALICE.verify_key)) + "\n")
        assert tile_client_main([str(out), "--trust", str(trust)]) == 1
    finally:
        srv.shutdown()
        srv.server_close()
    c.engine.dispose()


def test_export_refuses_a_since_checkpoint_of_another_tree(db_url: str, tmp_path: Path) -> None:
    c = make_ledger(db_url)
    with pytest.raises(UsageError, match="no checkpoint"):
        export_tiles(c, tmp_path / "a")
    grow(c, 10)
    checkpoint(c)
    size = size_of(c)
    forged = sign_checkpoint(ORIGIN, size, bytes(32), ORIGIN, ROOT)
    other = sign_checkpoint("other/log", size, c.merkle.root(c.engine.connect(), size), "other/log", ROOT)
    later = sign_checkpoint(ORIGIN, size + 5, bytes(32), ORIGIN, ROOT)
    for note, why in ((forged, "another root"), (other, "not of this log"), (later, "another root"),
                      ("not a note", "not a checkpoint")):
        with pytest.raises(UsageError, match=why):
            export_tiles(c, tmp_path / "b", since_note=note)
        assert not (tmp_path / "b").exists()  # nothing written
    c.engine.dispose()


def test_the_tiles_export_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.chdir(tmp_path)
    c = make_ledger(url)
    assert cli_main(["tiles", "export", str(tmp_path / "t"), "--db", url]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    grow(c, 5)
    checkpoint(c)
    assert cli_main(["tiles", "export", str(tmp_path / "t"), "--db", url, "--json"]) == 0
    assert '"size": 13, "since": 0' in capsys.readouterr().out
    assert cli_main(["tiles", "export", str(tmp_path / "t"), "--db", url, "--since", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err
    assert cli_main(["tiles", "export", str(tmp_path / "t"), "--db", url, "--since",
                     str(tmp_path / "t" / "checkpoint")]) == 0
    assert "1 files written" in capsys.readouterr().out
    assert cli_main(["tiles", "export"]) == 2
    c.engine.dispose()


def test_only_full_tiles_are_kept_in_memory_within_the_bound(served: dict[str, Any]) -> None:
    from ledger.tile_store import LedgerTiles
    from ledger.tiles import Tile

    c, size = served["c"], served["size"]
    lt = LedgerTiles(c.merkle, cache_bytes=3 * 8192)
    assert lt.gzipped(Tile(0, 0, 1), b"x") != b"x"  # a partial tile is compressed but not kept
    assert lt.cached(Tile(0, 0, 1), "gzip") is None
    with c.engine.connect() as conn:
        for n in range(size // TILE_WIDTH):
            lt.get(conn, Tile(0, n, TILE_WIDTH), size)
        partial = Tile(0, size // TILE_WIDTH, size % TILE_WIDTH)
        lt.get(conn, partial, size)
    assert lt.cached(partial) is None
    kept = [n for n in range(size // TILE_WIDTH) if lt.cached(Tile(0, n, TILE_WIDTH)) is not None]
    assert kept == list(range(size // TILE_WIDTH - 3, size // TILE_WIDTH))  # the 3 most recent
    with c.engine.connect() as conn:
        assert lt.cached(Tile(0, kept[0], TILE_WIDTH)) == lt.hash_tile(conn, Tile(0, kept[0], TILE_WIDTH), size)


def test_the_root_checkpoint_and_an_export_carry_the_witnesses_cosignatures(db_url: str, tmp_path: Path) -> None:
    """/checkpoint serves what /v1/log/checkpoint serves: the note with every stored cosignature/v1 line,
    and `tiles export` writes the same, so a tlog-tiles client can apply a witness policy."""
    from nacl.signing import SigningKey

    from ledger.checkpoint import cosign, parse_note

    c = make_ledger(db_url)
    grow(c, 3)
    note = checkpoint(c)
    sig = cosign(parse_note(note).body, "witness.test/w1", SigningKey(b"\x07" * 32), 1_790_000_000)
    with c.engine.begin() as conn:
        cp = c.merkle.latest_checkpoint(conn)
        c.merkle.add_cosignature(conn, cp.id, sig.name, sig.key_id, 1_790_000_000, sig.line(), c.app.clock())
    served_note = app_for(c).get("/checkpoint").text
    assert served_note == note + sig.line()
    assert served_note == app_for(c).get("/v1/log/checkpoint").text
    export_tiles(c, tmp_path / "out")
    assert (tmp_path / "out" / "checkpoint").read_text(encoding="utf-8") == served_note
    c.engine.dispose()


def test_the_tile_client_applies_a_witness_quorum(tmp_path: Path) -> None:
    """A policy file (log key, witness keys, quorum; spec 04) given to the tile client: the exported
    checkpoint with one witness's cosignature meets quorum 1 and fails quorum 2 (exit 1)."""
    from nacl.signing import SigningKey

    from ledger.checkpoint import ALG_COSIGNATURE_V1, NoteVerifier, cosign, parse_note

    c = make_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    grow(c, 3)
    note = checkpoint(c)
    w1, w2 = SigningKey(b"\x07" * 32), SigningKey(b"\x08" * 32)
    sig = cosign(parse_note(note).body, "witness.test/w1", w1, 1_790_000_000)
    with c.engine.begin() as conn:
        cp = c.merkle.latest_checkpoint(conn)
        c.merkle.add_cosignature(conn, cp.id, sig.name, sig.key_id, 1_790_000_000, sig.line(), c.app.clock())
    export_tiles(c, tmp_path / "out")
    c.engine.dispose()
    wkeys = [NoteVerifier.from_signing_key(n, k, ALG_COSIGNATURE_V1).to_vkey()
             for n, k in (("witness.test/w1", w1), ("witness.test/w2", w2))]
    for quorum, code in ((1, 0), (2, 1)):
        policy = tmp_path / f"policy{quorum}.txt"
        policy.write_text(f"log {vkey(ORIGIN, bytes(ROOT.verify_key))}\n" + "".join(f"witness {k}\n" for k in wkeys)
                          + f"quorum {quorum}\n", encoding="utf-8")
        assert tile_client_main([str(tmp_path / "out"), "--trust", str(policy), "--json"]) == code
