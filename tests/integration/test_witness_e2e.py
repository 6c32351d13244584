"""Issue 19 item 2 end to end: two jurisdictions' ledgers on one machine witnessing each other over
real HTTP (uvicorn on loopback, in threads), C2SP cosignatures stored and carried by bundles,
verifiers holding a k-of-n trust policy, and a forked log (same origin and key, another history)
that the witness refuses. The commands run in process through ``api.cli.main``.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from nacl.signing import SigningKey

from api import cli
from api.app import create_app, default_config
from api.bootstrap import Container, bootstrap, system_clock
from api.cmd_witness import load_witness, make_app
from api.settings import Settings
from api.witness_client import submit_latest
from ledger import bundle
from ledger.application import key_body
from ledger.bundle_export import issue_checkpoint
from ledger.checkpoint import ALG_COSIGNATURE_V1, NoteVerifier, vkey
from ledger.codec import to_micros
from ledger.trust import parse_policy
from ledger.witness import Witness, WitnessRefusal
from tests.fakes import ALICE, ROOT, T0, TEST_TYPES, StepClock, Ticket

SECRET = "correct horse battery staple 42"
FJ, ZJ = "fj.example/ledger", "zj.example/ledger"
ROOT_ZJ = SigningKey(bytes([5]) * 32)


CASES: dict[str, str] = {}


def ledger(url: str, origin: str, root: SigningKey, cases: int = 2, data_dir: Path = Path(".caseledger")) -> Container:
    c = bootstrap(Settings(db_url=url, master_secret=SECRET.encode(), origin=origin, data_dir=data_dir),
                  clock=StepClock(), event_types=TEST_TYPES)
    assert c.vault is not None
    c.vault.store("root", root, to_micros(T0))
    c.vault.store("alice", ALICE, to_micros(T0))
    reg = c.app.open_ledger(root, principal="root", at=T0)
    reg.register(actor="root", at=T0, key=key_body(ALICE, "alice", "officer", "custodial", to_micros(T0)))
    c.app.save(reg)
    CASES[origin] = grow(c, "case", cases)
    return c


def grow(c: Container, title: str, n: int = 1) -> str:
    t = Ticket(actor="alice", title=title)
    c.app.save(t)
    for i in range(n - 1):
        c.app.save(Ticket(actor="alice", title=f"{title} {i}"))
    return str(t.id)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A witness served by uvicorn on a loopback port, in a thread."""

    def __init__(self, witness: Witness) -> None:
        self.port = _port()
        self.server = uvicorn.Server(uvicorn.Config(make_app(witness), host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started and time.time() < deadline:
            time.sleep(0.02)
        assert self.server.started
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], origin: str, data: Path,
        *args: str) -> tuple[int, str, str]:
    monkeypatch.setenv("CASELEDGER_MASTER_SECRET", SECRET)
    monkeypatch.setenv("CASELEDGER_ORIGIN", origin)
    monkeypatch.setenv("CASELEDGER_DATA_DIR", str(data))
    monkeypatch.delenv("CASELEDGER_WITNESSES", raising=False)
    capsys.readouterr()
    rc = cli.main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture
def two_jurisdictions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str]) -> Iterator[dict[str, object]]:
    """Fujian and Zhejiang: each runs a ledger and a witness for the other's ledger."""
    urls = {j: f"sqlite:///{tmp_path / f'{j}.db'}" for j in ("fj", "zj")}
    fj, zj = ledger(urls["fj"], FJ, ROOT), ledger(urls["zj"], ZJ, ROOT_ZJ)
    fj.engine.dispose()
    zj.engine.dispose()
    log_vkeys = {"fj": vkey(FJ, bytes(ROOT.verify_key)), "zj": vkey(ZJ, bytes(ROOT_ZJ.verify_key))}
    witness_vkeys, servers = {}, {}
    for j, other in (("fj", "zj"), ("zj", "fj")):
        key = tmp_path / f"{j}-witness.key"
        rc, out, err = run(monkeypatch, capsys, FJ, tmp_path, "witness", "keygen", f"witness.{j}.example/w1",
                           "--key", str(key))
        assert rc == 0, err
        witness_vkeys[j] = out.strip()
        assert NoteVerifier.parse(witness_vkeys[j]).alg == ALG_COSIGNATURE_V1
        logs = tmp_path / f"{j}-witness.logs"
        logs.write_text(f"# the logs this witness follows\nlog {log_vkeys[other]}\n", encoding="utf-8")
        servers[j] = Server(load_witness(str(key), str(logs), str(tmp_path / f"{j}-witness.db")))
    for j, other in (("fj", "zj"), ("zj", "fj")):  # each ledger submits to the other jurisdiction's witness
        (tmp_path / f"{j}.witnesses").write_text(
            f"log {log_vkeys[j]}\nwitness {witness_vkeys[other]} {servers[other].url}\nquorum 1\n", encoding="utf-8")
    try:
        yield {"urls": urls, "log_vkeys": log_vkeys, "witness_vkeys": witness_vkeys, "servers": servers}
    finally:
        for s in servers.values():
            s.stop()


def test_two_ledgers_witness_each_other_and_a_fork_is_refused(
        two_jurisdictions: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    urls: dict[str, str] = two_jurisdictions["urls"]  # type: ignore[assignment]
    wv: dict[str, str] = two_jurisdictions["witness_vkeys"]  # type: ignore[assignment]
    origins = {"fj": FJ, "zj": ZJ}
    policy = {j: tmp_path / f"{j}.witnesses" for j in origins}  # the same file serves the verifiers

    def cmd(j: str, *args: str) -> tuple[int, str, str]:
        return run(monkeypatch, capsys, origins[j], tmp_path / j, *args)

    # 1. Each ledger's checkpoint is cosigned by the other jurisdiction's witness.
    for j, other in (("fj", "zj"), ("zj", "fj")):
        rc, out, err = cmd(j, "checkpoint", "--db", urls[j], "--witnesses", str(policy[j]))
        assert rc == 0, err
        assert f"witness witness.{other}.example/w1: cosigned" in err
        assert f"\n\u2014 witness.{other}.example/w1 " in out
        assert parse_policy(policy[j].read_text()).verify(out).witnesses == (f"witness.{other}.example/w1",)
    # 2. Verifiers holding the policy accept; a policy needing two witnesses refuses at step 4.7.
    rc, out, err = cmd("fj", "verify", "--db", urls["fj"], "--trust", str(policy["fj"]), "--json")
    assert rc == 0, out + err
    two = tmp_path / "two.trust"
    two.write_text(policy["fj"].read_text().replace("quorum 1", f"witness {wv['fj']}\nquorum 2"), encoding="utf-8")
    rc, out, _ = cmd("fj", "verify", "--db", urls["fj"], "--trust", str(two), "--json")
    assert (rc, json.loads(out)["failure"]["step"]) == (1, "4.7")
    # 3. The bundle carries the cosignature; verify-bundle and the standalone verifier apply the policy.
    fj = bootstrap(Settings(db_url=urls["fj"], master_secret=SECRET.encode(), origin=FJ), event_types=TEST_TYPES)
    case = CASES[FJ]
    out_file = tmp_path / "case.bundle"
    rc, _, err = cmd("fj", "export", case, "-o", str(out_file), "--db", urls["fj"])
    assert rc == 0, err
    rc, out, _ = cmd("fj", "verify-bundle", str(out_file), "--trust", str(policy["fj"]))
    assert rc == 0, out
    assert "cosigned by witness.zj.example/w1" in out
    assert bundle.main([str(out_file), "--trust", str(policy["fj"])]) == 0
    assert bundle.main([str(out_file), "--trust", str(two), "--json"]) == 1
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["failure"]["step"] == "7.3"
    # 4. A fork: a copy of Fujian's database (same origin, same key) that records other entries.
    fj.engine.dispose()
    fork_url = f"sqlite:///{tmp_path / 'fork.db'}"
    shutil.copy(tmp_path / "fj.db", tmp_path / "fork.db")
    fj = bootstrap(Settings(db_url=urls["fj"], master_secret=SECRET.encode(), origin=FJ), event_types=TEST_TYPES)
    grow(fj, "honest")
    fj.engine.dispose()
    rc, _, err = cmd("fj", "checkpoint", "--db", urls["fj"], "--witnesses", str(policy["fj"]))
    assert rc == 0, err  # the honest log extends: cosigned from the last size, with a consistency proof
    fork = bootstrap(Settings(db_url=fork_url, master_secret=SECRET.encode(), origin=FJ), event_types=TEST_TYPES)
    grow(fork, "forged")  # the same size as the honest log, another root
    fork.engine.dispose()
    rc, out, err = cmd("fj", "checkpoint", "--db", fork_url, "--witnesses", str(policy["fj"]))
    assert rc == 1
    assert "witness witness.zj.example/w1: DID NOT COSIGN: refused with HTTP 409" in err
    assert "\u2014 witness.zj.example/w1 " not in out.split("\n\n", 1)[1].splitlines()[-1]
    fork = bootstrap(Settings(db_url=fork_url, master_secret=SECRET.encode(), origin=FJ), event_types=TEST_TYPES)
    grow(fork, "forged again")  # longer than the honest log: its consistency proof cannot verify
    fork.engine.dispose()
    rc, _, err = cmd("fj", "checkpoint", "--db", fork_url, "--witnesses", str(policy["fj"]))
    assert rc == 1
    assert "refused with HTTP 422" in err
    # The fork's own checkpoint is signed by the log key but fails the policy: a split view is caught.
    rc, out, _ = cmd("fj", "verify", "--db", fork_url, "--trust", str(policy["fj"]), "--json")
    assert (rc, json.loads(out)["failure"]["step"]) == (1, "4.7")
    # 5. The witness kept the honest state and the fork's checkpoints as evidence.
    rc, out, _ = cmd("zj", "witness", "status", "--state", str(tmp_path / "zj-witness.db"), "--json")
    status = json.loads(out)
    assert [(lg["origin"], lg["size"]) for lg in status["logs"]] == [(FJ, 5)]
    assert [r["status"] for r in status["refusals"]] == [409, 422]
    # 6. The honest ledger goes on being cosigned.
    fj = bootstrap(Settings(db_url=urls["fj"], master_secret=SECRET.encode(), origin=FJ), event_types=TEST_TYPES)
    grow(fj, "more", 3)
    fj.engine.dispose()
    rc, out, err = cmd("fj", "checkpoint", "--db", urls["fj"], "--witnesses", str(policy["fj"]))
    assert rc == 0, err
    assert out.startswith(f"{FJ}\n8\n")
    rc, _, _ = cmd("fj", "verify", "--db", urls["fj"], "--trust", str(policy["fj"]))
    assert rc == 0


def _in_process(witness: Witness):  # type: ignore[no-untyped-def]
    def post(_url: str, body: bytes, _timeout: float) -> tuple[int, str, bytes]:
        try:
            return 200, "text/plain", witness.add_checkpoint(body).encode()
        except WitnessRefusal as r:
            if r.status == 409:
                return 409, "text/x.tlog.size", f"{r.latest_size}\n".encode()
            return r.status, "text/plain", r.reason.encode()
    return post


def test_cosignatures_are_stored_and_catch_up_on_both_databases(db_url: str, tmp_path: Path) -> None:
    c = ledger(db_url, FJ, ROOT, data_dir=tmp_path / "data")
    wkey = SigningKey(bytes([6]) * 32)
    w = Witness("w.example/w1", wkey, [NoteVerifier.from_signing_key(FJ, ROOT)], tmp_path / "w.db")
    wv = NoteVerifier.from_signing_key("w.example/w1", wkey, ALG_COSIGNATURE_V1)
    post = _in_process(w)
    endpoints = [(wv, "http://unused")]
    issue_checkpoint(c, origin=FJ, signing_key=ROOT, clock=system_clock)
    [o] = submit_latest(c, endpoints, clock=system_clock, post=post)
    assert o.cosigned, o.detail
    [o] = submit_latest(c, endpoints, clock=system_clock, post=post)
    assert (o.cosigned, o.detail) == (True, "had already cosigned size 4")
    with c.engine.connect() as conn:
        cp = c.merkle.latest_checkpoint(conn)
        assert cp is not None
        assert c.merkle.last_cosigned_size(conn, wv.name, wv.key_id) == 4
        note = c.merkle.cosigned_note(conn, cp)
    pol = parse_policy(f"log {vkey(FJ, bytes(ROOT.verify_key))}\nwitness {wv.to_vkey()}\nquorum 1\n")
    assert pol.verify(note).witnesses == ("w.example/w1",)
    served = TestClient(create_app(c, config=default_config(c))).get("/v1/log/checkpoint")
    assert (served.status_code, served.text) == (200, note)  # served with the cosignature
    # The ledger forgets (a restored backup without the table's rows): the 409 tells it the witness's size.
    with c.engine.begin() as conn:
        conn.execute(c.merkle.cosignatures.delete())
    grow(c, "later", 2)
    issue_checkpoint(c, origin=FJ, signing_key=ROOT, clock=system_clock)
    [o] = submit_latest(c, endpoints, clock=system_clock, post=post)
    assert o.cosigned, o.detail
    state = w.state(FJ)
    assert state is not None
    assert state.size == 6
    # Unreachable, and an answer without a valid cosignature: reported, nothing stored.
    grow(c, "again")
    issue_checkpoint(c, origin=FJ, signing_key=ROOT, clock=system_clock)

    def down(_u: str, _b: bytes, _t: float) -> tuple[int, str, bytes]:
        raise ConnectionRefusedError(111, "Connection refused")

    def liar(_u: str, _b: bytes, _t: float) -> tuple[int, str, bytes]:
        return 200, "text/plain", f"\u2014 w.example/w1 {'A' * 96}\n".encode()

    assert "unreachable" in submit_latest(c, endpoints, clock=system_clock, post=down)[0].detail
    assert "without a valid cosignature" in submit_latest(c, endpoints, clock=system_clock, post=liar)[0].detail
    with c.engine.connect() as conn:
        cp = c.merkle.latest_checkpoint(conn)
        assert cp is not None
        assert c.merkle.cosignature_lines(conn, cp.id) == []
    c.engine.dispose()


def test_witness_and_policy_usage_errors_exit_2_writing_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'fj.db'}"
    ledger(url, FJ, ROOT).engine.dispose()
    key = tmp_path / "w.key"

    def cmd(*args: str) -> tuple[int, str]:
        rc, _, err = run(monkeypatch, capsys, FJ, tmp_path / "data", *args)
        return rc, err

    want = "caseledger witness: invalid witness name 'bad name': no spaces and no '+'\n"
    assert cmd("witness", "keygen", "bad name", "--key", str(key)) == (2, want)
    assert not key.exists()
    assert cmd("witness", "keygen", "w.example/w1", "--key", str(key))[0] == 0
    logs = tmp_path / "logs"
    logs.write_text(f"log {vkey(FJ, bytes(ROOT.verify_key))}\n", encoding="utf-8")
    rc, err = cmd("witness", "serve", "--key", str(logs), "--logs", str(logs), "--state", str(tmp_path / "s.db"))
    assert (rc, "witness key file" in err) == (2, True)
    rc, err = cmd("witness", "serve", "--key", str(key), "--logs", str(key), "--state", str(tmp_path / "s.db"))
    assert (rc, "logs file" in err) == (2, True)
    assert not (tmp_path / "s.db").exists()
    rc, err = cmd("witness", "status", "--state", str(tmp_path / "none.db"))
    assert (rc, "no witness state" in err) == (2, True)
    bad = tmp_path / "bad.policy"
    bad.write_text(f"log {vkey(FJ, bytes(ROOT.verify_key))}\nwitness {vkey(FJ, bytes(ROOT.verify_key))} http://x\n"
                   "quorum 1\n", encoding="utf-8")
    rc, err = cmd("checkpoint", "--db", url, "--witnesses", str(bad))
    assert (rc, "type-0x04" in err) == (2, True)
    rc, err = cmd("verify", "--db", url, "--trust", str(bad))
    assert (rc, "type-0x04" in err) == (2, True)
    rc, err = cmd("verify-bundle", str(bad), "--trust", str(bad))
    assert (rc, "type-0x04" in err) == (2, True)


def test_the_serve_loop_submits_its_periodic_checkpoints_to_the_witnesses(tmp_path: Path) -> None:
    from api.app import _checkpointer

    wkey = SigningKey(bytes([7]) * 32)
    w = Witness("w.example/w1", wkey, [NoteVerifier.from_signing_key(FJ, ROOT)], tmp_path / "w.db")
    server = Server(w)
    try:
        wv = NoteVerifier.from_signing_key("w.example/w1", wkey, ALG_COSIGNATURE_V1)
        (tmp_path / "witnesses").write_text(f"witness {wv.to_vkey()} {server.url}\n", encoding="utf-8")
        url = f"sqlite:///{tmp_path / 'fj.db'}"
        ledger(url, FJ, ROOT).engine.dispose()
        c = bootstrap(Settings(db_url=url, master_secret=SECRET.encode(), origin=FJ, data_dir=tmp_path / "data",
                               witnesses=tmp_path / "witnesses"), event_types=TEST_TYPES)
        stop = threading.Event()
        loop = threading.Thread(target=_checkpointer, args=(c, 0.05, stop), daemon=True)
        loop.start()
        deadline = time.time() + 30
        while (w.state(FJ) is None or w.state(FJ).size < 4) and time.time() < deadline:  # type: ignore[union-attr]
            time.sleep(0.05)
        grow(c, "later")
        while (state := w.state(FJ)) is not None and state.size < 5 and time.time() < deadline:
            time.sleep(0.05)
        stop.set()
        loop.join(10)
        assert state is not None
        assert state.size == 5
        with c.engine.connect() as conn:
            cp = c.merkle.latest_checkpoint(conn)
            assert cp is not None
            assert cp.size == 5
            assert len(c.merkle.cosignature_lines(conn, cp.id)) == 1
        c.engine.dispose()
    finally:
        server.stop()
