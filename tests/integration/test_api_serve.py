"""`caseledger serve` as a real process: uvicorn workers on loopback, health and readiness,
problem+json over the wire, and one structured JSON log line per request."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_health_readiness_and_logs_json(db_url: str, tmp_path: Path) -> None:
    port = _port()
    workers = 1 if db_url.startswith("sqlite") else 2
    code = ("import argparse, sys; from api.serve import cmd_serve; "
            f"sys.exit(cmd_serve(argparse.Namespace(db={db_url!r}, host='127.0.0.1', port={port}, "
            f"workers={workers}, log_level='info', public_url=None, checkpoint_every=0)))")
    log = tmp_path / "serve.log"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT),
           "CASELEDGER_DATA_DIR": str(tmp_path / "data")}  # projections: the default, one elected follower
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def elected() -> int:
        return sum(1 for ln in log.read_text().splitlines() if '"elected projection follower"' in ln)

    try:
        deadline = time.time() + 60
        ready = None
        while time.time() < deadline:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert ready is not None and ready.status_code == 200, log.read_text()  # noqa: PT018 - one readiness condition
        assert ready.json()["status"] == "ready"
        # The first /v1/openapi.json builds the schema: seconds on a loaded machine.
        with httpx.Client(base_url=base, timeout=30) as http:
            assert http.get("/healthz").json() == {"status": "ok"}
            for _ in range(4):  # keep-alive requests reach both workers
                assert http.get("/healthz").status_code == 200
            bad = http.post("/v1/blobs", content=b"x", headers={"Authorization": "Bearer nope",
                                                                  "X-Request-Id": "req-42"})
            assert bad.status_code == 401
            assert bad.headers["content-type"] == "application/problem+json"
            assert bad.headers["x-request-id"] == "req-42"
            assert http.get("/v1/openapi.json").json()["info"]["title"] == "CaseLedger API"
        # Of the workers, exactly one follows the log (issue 16): the other keeps retrying the lock.
        deadline = time.time() + 30
        while not elected() and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(2.5)  # more than a retry period (projections.leader.RETRY)
        assert elected() == 1, log.read_text()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    lines = [json.loads(ln) for ln in log.read_text().splitlines() if ln.startswith("{")]
    requests = [ln for ln in lines if ln.get("msg") == "request"]
    assert any(r["request_id"] == "req-42" and r["status"] == 401 and r["path"] == "/v1/blobs" for r in requests)
    assert all({"ts", "level", "method", "path", "status", "duration_ms"} <= set(r) for r in requests)


def test_token_add_prints_a_token_that_authenticates_and_revoke_ends_it(tmp_path: Path, capsys) -> None:
    from sqlalchemy import MetaData, create_engine

    from api.auth import Role, TokenAuthenticator, TokenStore, cmd_token
    from api.clikit import Args
    from api.demo import AGENCIES

    a0 = AGENCIES[0][0]  # a valid agency code: token add checks it
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    options = {"role": [], "agency": None, "uscc": None, "name": None, "label": None, "db": db}
    assert cmd_token(Args(**{**options, "action": "add", "principal": "p-lin", "role": ["officer"], "agency": a0})) == 0
    token = capsys.readouterr().out.strip()
    auth = TokenAuthenticator(TokenStore(create_engine(db), MetaData()), cache_seconds=0)
    who = auth.authenticate(f"Bearer {token}")
    assert who is not None
    assert (who.id, who.roles, who.agency) == ("p-lin", frozenset({Role.OFFICER}), a0)
    assert cmd_token(Args(**{**options, "action": "revoke", "principal": token})) == 0
    assert auth.authenticate(f"Bearer {token}") is None
