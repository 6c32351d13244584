"""`caseledger serve` as a real process, attacked: SIGKILL during appends with idempotency keys,
oversized bodies without a token, and a server with no configured public URL.

On a SQLite file and on PostgreSQL (the ``db_url`` fixture)."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from nacl.signing import SigningKey
from sqlalchemy import func, select

from api.auth import Role, TokenStore
from api.bootstrap import bootstrap
from api.demo import ROOT_PRINCIPAL, START, enroll
from api.serve import cmd_serve
from api.settings import Settings
from domain.uscc import make_uscc
from ledger.audit import events_table, verify_database
from ledger.codec import to_micros
from ledger.merkle_audit import check_merkle

ROOT = Path(__file__).resolve().parents[2]
SECRET = "crash-test-master-secret-0123456789"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed(db_url: str, data_dir: Path) -> str:
    """A ledger with a root key and an enrolled registrar; returns the registrar's token."""
    c = bootstrap(Settings(db_url=db_url, master_secret=SECRET.encode(), data_dir=data_dir))
    assert c.vault is not None
    root = SigningKey.generate()
    c.vault.store(ROOT_PRINCIPAL, root, to_micros(START))
    c.app.open_ledger(root, principal=ROOT_PRINCIPAL, at=START)
    enroll(c, [("registrar", "registrar")], START)
    store = TokenStore(c.engine, c.metadata)
    store.create_tables()
    store.add_principal("registrar", [Role.REGISTRAR], name="registrar")
    token = store.issue_token("registrar")
    c.engine.dispose()
    return token


class Server:
    """``caseledger serve`` in its own process group, on loopback."""

    def __init__(self, db_url: str, tmp: Path, **args: Any) -> None:
        self.port = _port()
        self.base = f"http://127.0.0.1:{self.port}"
        ns = {"db": db_url, "host": "127.0.0.1", "port": self.port, "workers": 1, "log_level": "warning",
              "public_url": None, "allowed_host": None, "checkpoint_every": 0, **args}
        code = ("import argparse, sys; from api.serve import cmd_serve; "
                f"sys.exit(cmd_serve(argparse.Namespace(**{ns!r})))")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT),
               "CASELEDGER_DATA_DIR": str(tmp / "data"), "CASELEDGER_PROJECT": "off",
               "CASELEDGER_MASTER_SECRET": SECRET}
        self.log = tmp / f"serve-{self.port}.log"
        self.proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp, env=env, stdout=self.log.open("wb"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        pytest.fail(self.log.read_text())

    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(20)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)


def _enterprise(i: int) -> dict[str, Any]:
    return {"uscc": make_uscc(f"91350100CR{i:07d}"), "name": f"崩溃测试企业{i}", "sector": "食品",
            "admin_division": "350102", "risk_class": "B", "positive_list": False,
            "at": "2025-03-01T09:00:00+08:00"}


def test_retries_after_a_sigkill_during_appends_replay_or_run_once_and_never_meet_a_dead_reservation(
        db_url: str, tmp_path: Path) -> None:
    token = _seed(db_url, tmp_path / "data")
    headers = {"Authorization": f"Bearer {token}"}
    n = 40
    first: dict[int, httpx.Response | None] = dict.fromkeys(range(n))
    server = Server(db_url, tmp_path)
    answered = threading.Semaphore(0)

    def send(i: int) -> None:
        try:
            first[i] = httpx.post(f"{server.base}/v1/enterprises", json=_enterprise(i), timeout=30,
                                  headers={**headers, "Idempotency-Key": f"crash-{i}"})
            answered.release()
        except httpx.HTTPError:
            first[i] = None

    with ThreadPoolExecutor(6) as pool:
        for i in range(n):
            pool.submit(send, i)
        for _ in range(8):  # let some commit, then kill the server with appends in flight
            assert answered.acquire(timeout=60)
        server.kill()
    before = [i for i, r in first.items() if r is not None]
    assert before, "no request finished before the kill"
    assert len(before) < n, "every request finished before the kill; nothing was interrupted"
    assert all(first[i].status_code == 201 for i in before)  # type: ignore[union-attr]

    server = Server(db_url, tmp_path)
    try:
        with httpx.Client(base_url=server.base, headers=headers, timeout=30) as http:
            for i in range(n):
                r = http.post("/v1/enterprises", json=_enterprise(i), headers={"Idempotency-Key": f"crash-{i}"})
                assert r.status_code == 201, (i, r.status_code, r.text)  # never 409: no dead reservation
                earlier = first[i]
                if earlier is not None:
                    assert r.headers["idempotency-replayed"] == "true"
                    assert r.content == earlier.content
            replays = [http.post("/v1/enterprises", json=_enterprise(i), headers={"Idempotency-Key": f"crash-{i}"})
                       for i in range(n)]
    finally:
        server.stop()
    assert all(r.status_code == 201 and r.headers["idempotency-replayed"] == "true" for r in replays)
    c = bootstrap(Settings(db_url=db_url, master_secret=SECRET.encode(), data_dir=tmp_path / "data"))
    try:
        events = events_table(c.engine)
        with c.engine.connect() as conn:  # every enterprise registered, each exactly once
            registered = conn.execute(select(func.count()).select_from(events).where(
                events.c.topic == "enterprise.registered.v1")).scalar()
        assert registered == n
        report = verify_database(c.engine, workers=1, merkle_check=check_merkle())
        assert report.ok, report.failure
    finally:
        c.engine.dispose()


def test_sigkill_under_concurrent_load_loses_no_acknowledged_command_and_leaves_no_partial_batch(
        db_url: str, tmp_path: Path) -> None:
    """Group commit (ADR 0008) under load: 16 clients (two workers on PostgreSQL), SIGKILL mid-stream.
    Every 201 answered before the kill is in the ledger exactly once, the entries that are there
    form whole commands, every entry has its Merkle leaf, and ``verify`` passes."""
    token = _seed(db_url, tmp_path / "data")
    headers = {"Authorization": f"Bearer {token}"}
    n = 96
    first: dict[int, httpx.Response | None] = dict.fromkeys(range(n))
    workers = 2 if db_url.startswith("postgresql") else 1
    server = Server(db_url, tmp_path, workers=workers)
    answered = threading.Semaphore(0)

    def send(i: int) -> None:
        try:
            first[i] = httpx.post(f"{server.base}/v1/enterprises", json=_enterprise(1000 + i), timeout=30,
                                  headers={**headers, "Idempotency-Key": f"load-{i}"})
            answered.release()
        except httpx.HTTPError:
            first[i] = None

    with ThreadPoolExecutor(16) as pool:
        for i in range(n):
            pool.submit(send, i)
        for _ in range(24):
            assert answered.acquire(timeout=60)
        server.kill()
        pool.shutdown(cancel_futures=True)  # requests not yet sent never will be
    acked = [i for i, r in first.items() if r is not None and r.status_code == 201]
    assert all(r is None or r.status_code == 201 for r in first.values())
    assert 24 <= len(acked) < n, len(acked)

    c = bootstrap(Settings(db_url=db_url, master_secret=SECRET.encode(), data_dir=tmp_path / "data"))
    try:
        events = events_table(c.engine)
        with c.engine.connect() as conn:
            registered = [str(r[0]) for r in conn.execute(select(events.c.originator_id).where(
                events.c.topic == "enterprise.registered.v1"))]
            assert len(set(registered)) == len(registered)  # none twice
            total = conn.execute(select(func.count()).select_from(events)).scalar()
        for i in acked:  # each acknowledged registration is there, as answered
            assert first[i].json()["id"] in registered, i  # type: ignore[union-attr]
        report = verify_database(c.engine, workers=1, merkle_check=check_merkle())
        assert report.ok, report.failure
        assert report.leaves == report.entries == total
    finally:
        c.engine.dispose()


def _raw_post(port: int, path: str, length: int, sent: int, *, token: str | None = None) -> tuple[bytes, int]:
    """Send a request declaring ``length`` body bytes, then up to ``sent`` of them while watching
    for an early answer; returns (the answer's first bytes, body bytes sent before it came)."""
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n{auth}"
            f"Content-Length: {length}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head)
        s.setblocking(False)
        chunk = b"x" * 65536
        done = 0
        t0 = time.time()
        while done < sent and time.time() - t0 < 30:
            try:
                answer = s.recv(4096)
            except BlockingIOError:
                answer = b""
            if answer:
                return _rest(s, answer), done
            try:
                done += s.send(chunk)
            except BlockingIOError:
                time.sleep(0.01)
            except (BrokenPipeError, ConnectionResetError):
                break
        return _rest(s, b""), done


def _rest(s: socket.socket, answer: bytes) -> bytes:
    """``answer`` and whatever follows until the server closes the connection (it says it will)."""
    s.setblocking(True)
    s.settimeout(10)
    while True:
        try:
            more = s.recv(65536)
        except (TimeoutError, ConnectionResetError):
            return answer
        if not more:
            return answer
        answer += more


def test_a_100_mb_body_without_a_token_is_refused_before_it_is_read(db_url: str, tmp_path: Path) -> None:
    _seed(db_url, tmp_path / "data")
    server = Server(db_url, tmp_path)
    try:
        hundred_mb = 100 * 1024 * 1024
        answer, sent = _raw_post(server.port, "/v1/cases", hundred_mb, hundred_mb)
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert b"application/problem+json" in answer
        assert sent < hundred_mb // 4  # answered long before the body was sent
        answer, sent = _raw_post(server.port, "/v1/feedback", 400 * 1024 * 1024, hundred_mb)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        # The headers, at least: the server closes a connection whose body it never read, and
        # the kernel may reset it before the problem body arrives (its code: test_api_hardening).
        assert b"application/problem+json" in answer
        assert sent < hundred_mb // 4
        assert httpx.get(f"{server.base}/healthz").status_code == 200
    finally:
        server.stop()


def test_serve_refuses_to_start_on_a_public_interface_without_a_public_url_or_allowed_hosts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(db=f"sqlite:///{tmp_path / 'x.db'}", host="0.0.0.0", port=_port(),
                              workers=1, log_level="info", public_url=None, allowed_host=None, checkpoint_every=0)
    assert cmd_serve(args) == 2
    assert "--public-url" in capsys.readouterr().err
    args.public_url = "ftp://ledger.example"
    assert cmd_serve(args) == 2
    assert "absolute http(s) URL" in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists()  # nothing was created


def test_a_loopback_server_without_a_public_url_serves_only_loopback_host_names(db_url: str, tmp_path: Path) -> None:
    _seed(db_url, tmp_path / "data")
    server = Server(db_url, tmp_path)
    try:
        evil = httpx.get(f"{server.base}/notices", headers={"Host": "evil.example"})
        assert evil.status_code == 400
        assert evil.json()["code"] == "E_HOST_NOT_ALLOWED"
        assert httpx.get(f"{server.base}/notices", headers={"Host": f"localhost:{server.port}"}).status_code == 200
    finally:
        server.stop()
