"""`caseledger checkpoint`, `export` and `verify-bundle` as a user runs them: subprocesses and exit codes.

Exit codes: 0 ok, 1 verification failed, 2 usage or connection error. The ledger here holds its
root key in the custodial vault, as a deployment does, so `checkpoint` needs
CASELEDGER_MASTER_SECRET.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from api.bootstrap import bootstrap
from api.cmd_log import cmd_checkpoint
from api.settings import Settings
from ledger import encoding
from ledger.application import key_body
from ledger.checkpoint import sign_checkpoint, vkey
from ledger.codec import to_micros
from tests.fakes import ALICE, MALLORY, ROOT, T0, TEST_TYPES, StepClock, Ticket

PROJECT = Path(__file__).resolve().parents[2]
SECRET = "correct horse battery staple 42"
ORIGIN = "caseledger.example/ledger"


def seed(url: str) -> str:
    """A ledger whose root and alice keys live in the vault; returns a case id."""
    c = bootstrap(Settings(db_url=url, master_secret=SECRET.encode()), clock=StepClock(), event_types=TEST_TYPES)
    assert c.vault is not None
    c.vault.store("root", ROOT, to_micros(T0))
    c.vault.store("alice", ALICE, to_micros(T0))
    reg = c.app.open_ledger(ROOT, principal="root", at=T0)
    reg.register(actor="root", at=T0, key=key_body(ALICE, "alice", "officer", "custodial", to_micros(T0)))
    c.app.save(reg)
    t = Ticket(actor="alice", title="检查")
    t.note(actor="alice", text="现场", amount=100)
    c.app.save(t)
    c.app.save(Ticket(actor="alice", title="another case"))
    c.engine.dispose()
    return str(t.id)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("CASELEDGER_")}
    e["CASELEDGER_MASTER_SECRET"] = SECRET
    e["CASELEDGER_DATA_DIR"] = str(tmp_path / "data")
    return e


def cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env={**env, "PYTHONPATH": str(PROJECT)},
                          cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def trust_file(tmp_path: Path) -> Path:
    p = tmp_path / "trust.vkey"
    p.write_text(f"# the ledger's checkpoint key\n{vkey(ORIGIN, bytes(ROOT.verify_key))}\n", encoding="utf-8")
    return p


def test_checkpoint_export_and_verify_bundle_end_to_end(db_url: str, env: dict[str, str], tmp_path: Path) -> None:
    case = seed(db_url)
    r = cli(env, tmp_path, "checkpoint", "--db", db_url)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{ORIGIN}\n5\n")
    assert "\ncaseledger-keys 2 " in r.stdout
    assert f"\n\u2014 {ORIGIN} " in r.stdout
    out = tmp_path / "case.bundle"
    r = cli(env, tmp_path, "export", case, "-o", str(out), "--db", db_url)
    assert r.returncode == 0, r.stderr
    assert "2 entries" in r.stdout
    assert "manifest signed" in r.stdout
    trust = trust_file(tmp_path)
    r = cli(env, tmp_path, "verify-bundle", str(out), "--trust", str(trust))
    assert r.returncode == 0, r.stdout + r.stderr
    for step in ("7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "7.7"):
        assert f"  {step} " in r.stdout
    assert "OK: case" in r.stdout


def test_verify_bundle_needs_no_database_and_runs_standalone(env: dict[str, str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    case = seed(url)
    assert cli(env, tmp_path, "checkpoint", "--db", url).returncode == 0
    out = tmp_path / "case.bundle"
    assert cli(env, tmp_path, "export", case, "-o", str(out), "--db", url).returncode == 0
    (tmp_path / "ledger.db").unlink()
    trust = trust_file(tmp_path)
    clean = {k: v for k, v in env.items() if not k.startswith("CASELEDGER_")}
    r = subprocess.run([sys.executable, "-m", "ledger.bundle", str(out), "--trust", str(trust)], env=clean,
                       cwd=PROJECT, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK: case" in r.stdout


def test_a_tampered_bundle_exits_1_naming_the_step(env: dict[str, str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    case = seed(url)
    assert cli(env, tmp_path, "checkpoint", "--db", url).returncode == 0
    out = tmp_path / "case.bundle"
    assert cli(env, tmp_path, "export", case, "-o", str(out), "--db", url).returncode == 0
    b = encoding.decode(out.read_bytes(), max_bytes=10**7)
    b["entries"] = b["entries"][::-1]
    bad = tmp_path / "reordered.bundle"
    bad.write_bytes(encoding.encode(b))
    r = cli(env, tmp_path, "verify-bundle", str(bad), "--trust", str(trust_file(tmp_path)))
    assert r.returncode == 1
    assert "FAILED at step 7.5.2" in r.stdout
    truncated = tmp_path / "truncated.bundle"
    truncated.write_bytes(out.read_bytes()[:-10])
    r = cli(env, tmp_path, "verify-bundle", str(truncated), "--trust", str(trust_file(tmp_path)))
    assert r.returncode == 1
    assert "FAILED at step 7.2" in r.stdout


def test_a_bundle_checked_against_another_key_exits_1_at_step_7_3(env: dict[str, str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    case = seed(url)
    assert cli(env, tmp_path, "checkpoint", "--db", url).returncode == 0
    out = tmp_path / "case.bundle"
    assert cli(env, tmp_path, "export", case, "-o", str(out), "--db", url).returncode == 0
    other = tmp_path / "other.vkey"
    other.write_text(vkey(ORIGIN, bytes(MALLORY.verify_key)) + "\n", encoding="utf-8")
    r = cli(env, tmp_path, "verify-bundle", str(out), "--trust", str(other))
    assert r.returncode == 1
    assert "FAILED at step 7.3" in r.stdout
    assert "not signed by a trusted key" in r.stdout


def test_usage_errors_exit_2(env: dict[str, str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    case = seed(url)
    r = cli(env, tmp_path, "export", case, "-o", str(tmp_path / "x"), "--db", url)
    assert r.returncode == 2
    assert "run `caseledger checkpoint` first" in r.stderr
    no_secret = {k: v for k, v in env.items() if k != "CASELEDGER_MASTER_SECRET"}
    r = cli(no_secret, tmp_path, "checkpoint", "--db", url)
    assert r.returncode == 2
    assert "CASELEDGER_MASTER_SECRET" in r.stderr
    r = cli(env, tmp_path, "checkpoint", "--db", f"sqlite:///{tmp_path / 'nothing.db'}")
    assert r.returncode == 2
    assert "no ledger" in r.stderr
    assert not (tmp_path / "nothing.db").exists()
    assert cli(env, tmp_path, "checkpoint", "--db", url).returncode == 0
    r = cli(env, tmp_path, "export", "not-a-uuid", "-o", str(tmp_path / "x"), "--db", url)
    assert (r.returncode, "not a case id" in r.stderr) == (2, True)
    r = cli(env, tmp_path, "verify-bundle", str(tmp_path / "missing.bundle"), "--trust", str(trust_file(tmp_path)))
    assert r.returncode == 2
    bad_trust = tmp_path / "bad.vkey"
    bad_trust.write_text("not a key\n", encoding="utf-8")
    (tmp_path / "b").write_bytes(b"\x80")
    r = cli(env, tmp_path, "verify-bundle", str(tmp_path / "b"), "--trust", str(bad_trust))
    assert r.returncode == 2
    r = cli(env, tmp_path, "checkpoint", "--db", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert r.returncode == 2


def test_checkpoint_exits_1_on_equivocation(env: dict[str, str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    seed(url)
    c = bootstrap(Settings(db_url=url, master_secret=SECRET.encode()), event_types=TEST_TYPES)
    with c.engine.begin() as conn:
        size = c.merkle.size(conn)
        c.merkle.add_checkpoint(conn, sign_checkpoint(ORIGIN, size, bytes(32), ORIGIN, ROOT), size, bytes(32), 1)
    c.engine.dispose()
    r = cli(env, tmp_path, "checkpoint", "--db", url)
    assert r.returncode == 1
    assert "EQUIVOCATION" in r.stderr


def test_print_vkey_gives_the_trust_file_line(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    seed(url)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("CASELEDGER_ORIGIN", raising=False)
    out = tmp_path / "written.vkey"
    assert cmd_checkpoint(argparse.Namespace(db=url, print_vkey=True, vkey_out=str(out))) == 0
    line = capsys.readouterr().out.strip()
    assert line == vkey(ORIGIN, bytes(ROOT.verify_key))
    assert line in out.read_text(encoding="utf-8").splitlines()
    c = bootstrap(Settings(db_url=url), event_types=TEST_TYPES)
    with c.engine.connect() as conn:
        assert c.merkle.latest_checkpoint(conn) is None  # --print-vkey signs nothing


def test_a_bundle_whose_checkpoint_names_another_origin_exits_1_at_step_7_3(env: dict[str, str],
                                                                           tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    case = seed(url)
    assert cli(env, tmp_path, "checkpoint", "--db", url).returncode == 0
    out = tmp_path / "case.bundle"
    assert cli(env, tmp_path, "export", case, "-o", str(out), "--db", url).returncode == 0
    b = encoding.decode(out.read_bytes(), max_bytes=10**7)
    body = b["checkpoint"].split("\n\n")[0].split("\n")
    b["checkpoint"] = sign_checkpoint("evil.example/log", int(body[1]), base64.b64decode(body[2]), ORIGIN, ROOT,
                                      extensions=body[3:])
    del b["sig"]  # the manifest signature is optional; the checkpoint is what is attacked
    bad = tmp_path / "evil.bundle"
    bad.write_bytes(encoding.encode(b))
    trust = trust_file(tmp_path)
    for argv in (["-m", "api.cli", "verify-bundle"], ["-m", "ledger.bundle"]):
        r = subprocess.run([sys.executable, *argv, str(bad), "--trust", str(trust)],
                           env={**env, "PYTHONPATH": str(PROJECT)}, cwd=PROJECT, capture_output=True, text=True,
                           timeout=60, check=False)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "FAILED at step 7.3" in r.stdout
        assert "4.5.1" in r.stdout


def test_verify_with_a_state_file_remembers_the_checkpoint_and_catches_the_rollback(
        env: dict[str, str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    seed(url)
    assert cli(env, tmp_path, "checkpoint", "--db", url).returncode == 0
    trust, state = trust_file(tmp_path), tmp_path / "audit.state"
    r = cli(env, tmp_path, "verify", "--db", url, "--trust", str(trust), "--state", str(state))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "remembered the checkpoint of size 5" in r.stdout
    r = cli(env, tmp_path, "verify", "--db", url, "--trust", str(trust), "--state", str(state), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["remembered_checkpoint_size"] == 5
    assert state.read_text(encoding="utf-8").startswith(f"{ORIGIN}\n5\n")
    c = bootstrap(Settings(db_url=url), event_types=TEST_TYPES)
    with c.engine.begin() as conn:  # the checkpoints are emptied and the last entry cut
        conn.execute(c.merkle.checkpoints.delete())
        nd = c.merkle.nodes
        conn.execute(nd.delete().where(nd.c.pos >= 2 * 4))
        conn.execute(text("DELETE FROM ledger_events WHERE id = (SELECT max(id) FROM ledger_events)"))
    c.engine.dispose()
    r = cli(env, tmp_path, "verify", "--db", url, "--trust", str(trust))
    assert r.returncode == 1, r.stdout
    assert "5.5.1 (E_NO_CHECKPOINT)" in r.stdout
    assert cli(env, tmp_path, "checkpoint", "--db", url).returncode == 0  # even re-signed, the memory catches it
    r = cli(env, tmp_path, "verify", "--db", url, "--trust", str(trust), "--state", str(state))
    assert r.returncode == 1, r.stdout
    assert "5.8 (E_TRUNCATED)" in r.stdout
    assert state.read_text(encoding="utf-8").startswith(f"{ORIGIN}\n5\n")


def test_verify_state_without_trust_is_a_usage_error_and_writes_nothing(env: dict[str, str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    seed(url)
    r = cli(env, tmp_path, "verify", "--db", url, "--state", str(tmp_path / "audit.state"))
    assert r.returncode == 2
    assert "--state needs --trust" in r.stderr
    assert not (tmp_path / "audit.state").exists()
