"""Evidence upload: streamed into the content-addressed store, hashed on the way, size-limited,
nothing partial left behind on abort; entries refer to blobs by hash; verify_blobs checks them."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app, default_config
from api.blobs import BlobStore, BlobTooLarge, verify_ledger_blobs
from api.settings import HttpLimits
from tests.e2e.world import ENT1, T, World, dispatch_body


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_an_upload_is_stored_under_its_sha256_and_deduplicated(world: World) -> None:
    w = world
    data = os.urandom(300_000)
    r = w.client.post("/v1/blobs", content=data, headers=w.h("p-lin", **{"Content-Type": "video/mp4"}))
    assert r.status_code == 201
    assert r.json() == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "media_type": "video/mp4",
                        "created": True}
    path = w.app.state.services.blobs.path_for(r.json()["sha256"])
    assert path.read_bytes() == data
    again = w.client.post("/v1/blobs", content=data, headers=w.h("p-chen"))
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert not w.app.state.services.blobs.temp_files()


def test_only_officers_upload_evidence(world: World) -> None:
    w = world
    for who in (None, "ent-0", "auditor", "publisher", "registrar"):
        with w.writes_nothing():
            r = w.client.post("/v1/blobs", content=b"x" * 10, headers=w.h(who))
        assert r.status_code in {401, 403}, who
        assert r.headers["content-type"] == "application/problem+json"


def test_a_mismatching_declared_hash_or_an_empty_body_keeps_nothing(world: World) -> None:
    w = world
    with w.writes_nothing():
        r = w.client.post("/v1/blobs", content=b"abc", headers=w.h("p-lin", **{"X-Content-Sha256": "0" * 64}))
    assert (r.status_code, r.json()["code"]) == (422, "E_BLOB_HASH_MISMATCH")
    with w.writes_nothing():
        r = w.client.post("/v1/blobs", content=b"", headers=w.h("p-lin"))
    assert (r.status_code, r.json()["code"]) == (400, "E_BLOB_EMPTY")


@pytest.fixture
def small_app(world: World, tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    blob_dir = tmp_path / "small-blobs"
    app = create_app(world.container, config=default_config(world.container, blob_dir=blob_dir,
                                                            http=HttpLimits(blob_bytes=64 * 1024)),
                     authenticator=world.app.state.services.authenticator)
    yield TestClient(app, raise_server_exceptions=False), blob_dir  # noqa: PT022 - a yield fixture, like its neighbours


def test_an_upload_over_the_limit_is_413_and_leaves_no_file(world: World, small_app: tuple[TestClient, Path]) -> None:
    client, blob_dir = small_app
    h = world.h("p-lin")
    r = client.post("/v1/blobs", content=b"x" * (64 * 1024 + 1), headers=h)
    assert (r.status_code, r.json()["code"]) == (413, "E_BLOB_TOO_LARGE")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while streaming
        for _ in range(100):
            yield b"y" * 4096

    r = client.post("/v1/blobs", content=chunks(), headers=h)
    assert (r.status_code, r.json()["code"]) == (413, "E_BLOB_TOO_LARGE")
    assert files_under(blob_dir) == []


def test_a_stream_that_fails_midway_leaves_no_partial_file(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "b", max_bytes=10_000)

    async def broken() -> AsyncIterator[bytes]:
        yield b"a" * 1000
        raise ConnectionResetError("client went away")

    async def too_big() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"b" * 1000

    with pytest.raises(ConnectionResetError):
        asyncio.run(store.put_stream(broken()))
    with pytest.raises(BlobTooLarge):
        asyncio.run(store.put_stream(too_big()))
    assert files_under(tmp_path / "b") == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_client_that_disconnects_mid_upload_leaves_no_partial_file(world: World, tmp_path: Path) -> None:
    blob_dir = tmp_path / "served-blobs"
    app = create_app(world.container, config=default_config(world.container, blob_dir=blob_dir),
                     authenticator=world.app.state.services.authenticator)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    try:
        deadline = time.time() + 10
        while not server.started and time.time() < deadline:
            time.sleep(0.02)
        with socket.create_connection(("127.0.0.1", port)) as s:
            head = (f"POST /v1/blobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {world.tokens['p-lin']}\r\n"
                    f"Content-Type: image/jpeg\r\nContent-Length: 1000000\r\n\r\n")
            s.sendall(head.encode() + b"z" * 200_000)
            deadline = time.time() + 10
            while not list((blob_dir / "tmp").glob("*")) and time.time() < deadline:
                time.sleep(0.02)
            assert len(list((blob_dir / "tmp").glob("*"))) == 1  # the upload is in flight
        deadline = time.time() + 5
        while files_under(blob_dir) and time.time() < deadline:
            time.sleep(0.05)
        assert files_under(blob_dir) == []
    finally:
        server.should_exit = True
        t.join(5)


def test_evidence_refers_to_an_uploaded_blob_and_verify_blobs_checks_it(world: World, tmp_path: Path) -> None:
    w = world
    d = T("2025-06-17 09:00")
    cid = w.client.post("/v1/cases", json=dispatch_body("API-BLOB-1", d, uscc=ENT1), headers=w.h("p-lin")).json()[
        "case_id"]
    for path, who, extra in (("approvals", "head-sj", {}),
                             ("arrival", "p-lin", {"location": "x", "scan": {"code_id": "Q", "uscc": ENT1,
                                                                              "scanned_at": 1}}),
                             ("certificates-shown", "p-lin", {"cert_no": "35010001"}),
                             ("certificates-shown", "p-chen", {"cert_no": "35010002"})):
        d += timedelta(minutes=10)
        assert w.client.post(f"/v1/cases/{cid}/{path}", json={"at": d.isoformat(), **extra},
                             headers=w.h(who)).status_code == 200
    ev = {"at": (d + timedelta(minutes=5)).isoformat(), "evidence_id": "EV-BLOB-1", "evidence_type": "视听资料",
          "media_type": "video/mp4", "source": "on_site", "cert_nos": ["35010001", "35010002"],
          "capture": {"device_id": "DV-1", "captured_at": "2025-06-17T09:45:00+08:00", "maker": "p-lin",
                      "purpose": "现场情况"}}
    with w.writes_nothing():
        r = w.client.post(f"/v1/cases/{cid}/evidence", json={**ev, "sha256": "ab" * 32}, headers=w.h("p-lin"))
    assert (r.status_code, r.json()["code"]) == (422, "E_BLOB_UNKNOWN")
    video = os.urandom(50_000)
    sha = w.client.post("/v1/blobs", content=video, headers=w.h("p-lin")).json()["sha256"]
    with w.writes_nothing():
        r = w.client.post(f"/v1/cases/{cid}/evidence", json={**ev, "sha256": sha, "size": 1}, headers=w.h("p-lin"))
    assert (r.status_code, r.json()["code"]) == (422, "E_BLOB_SIZE")
    r = w.client.post(f"/v1/cases/{cid}/evidence", json={**ev, "sha256": "sha256:" + sha}, headers=w.h("p-lin"))
    assert r.status_code == 200, r.json()
    entry = list(w.container.app.case_records(cid))[-1][0]
    assert (entry.body["sha256"], entry.body["size"]) == (sha, len(video))
    blob_root = w.app.state.services.blobs.root
    # The demo's evidence has no uploaded files: only this test's blob is checked to exist and match.
    report = verify_ledger_blobs(w.container.engine, blob_root)
    mine = [p for p in report.problems if p.evidence_id == "EV-BLOB-1"]
    assert mine == []
    assert {p.problem for p in report.problems} <= {"missing"}
    path = w.app.state.services.blobs.path_for(sha)
    path.chmod(0o644)
    path.write_bytes(b"tampered")
    bad = [p for p in verify_ledger_blobs(w.container.engine, blob_root).problems if p.evidence_id == "EV-BLOB-1"]
    assert [(p.problem, p.expected) for p in bad] == [("hash_mismatch", sha)]
    path.unlink()
    gone = [p for p in verify_ledger_blobs(w.container.engine, blob_root).problems if p.evidence_id == "EV-BLOB-1"]
    assert [p.problem for p in gone] == ["missing"]
