"""The operator's first hour, as a user runs it: the installed ``caseledger`` command in a subprocess.

Issue 17: ``init`` makes a real (empty) ledger; every command names its database one way (``--db``
or ``CASELEDGER_DB``, a bare path meaning an SQLite file); reading commands never create a
database; ``verify`` is honest about what it did not check; and the small traps (a port in use, a
gone master secret) are exit 2 with a clear message and no traceback.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, inspect, table
from sqlalchemy import select as sql_select

from api.dburl import ACCEPTED_FORMS

PROJECT = Path(__file__).resolve().parents[2]
CASELEDGER = Path(sys.executable).parent / "caseledger"
READING = ["verify", "replay", "rebuild", "project", "export", "checkpoint", "serve", "token", "cases"]
READING_ARGS = {"replay": ["00000000-0000-0000-0000-000000000001"], "export": ["x", "-o", "out.bundle"],
                "token": ["add", "p-lin", "--role", "officer"], "serve": ["--port", "1"], "cases": []}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("CASELEDGER_")}
    e["CASELEDGER_DATA_DIR"] = str(tmp_path / "data")
    return e


def caseledger(env: dict[str, str], cwd: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it."""
    assert CASELEDGER.exists(), f"the caseledger command is not installed next to {sys.executable}"
    return subprocess.run([str(CASELEDGER), *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)


def entries(url: str) -> int:
    """Rows in the ledger's events table (0 when it does not exist); never creates an SQLite file."""
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):].split("?", maxsplit=1)[0]).exists():
        return 0
    engine = create_engine(url)
    try:
        if not inspect(engine).has_table("ledger_events"):
            return 0
        with engine.connect() as c:
            return int(c.execute(sql_select(func.count()).select_from(table("ledger_events"))).scalar_one())
    finally:
        engine.dispose()


def no_traceback(r: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in r.stderr + r.stdout, r.stderr


# ----------------------------------------------------------------------------- 1. init


def test_init_creates_an_empty_ledger_that_verifies_against_its_trust_file(db_url: str, env: dict[str, str],
                                                                          tmp_path: Path) -> None:
    r = caseledger(env, tmp_path, "init", "--db", db_url)
    assert r.returncode == 0, r.stderr
    assert "registrar token (shown once): clk_" in r.stdout
    assert "next steps:" in r.stdout
    assert "caseledger verify" in r.stdout
    data = tmp_path / "data"
    assert (data / "master.secret").stat().st_mode & 0o077 == 0
    assert (data / "trust.vkey").read_text().startswith("caseledger.example/ledger+")
    assert entries(db_url) == 2  # the root key and the registrar's key: no demo data
    ok = caseledger(env, tmp_path, "verify", "--db", db_url, "--trust", str(data / "trust.vkey"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "0 inspections and 0 register streams, 2 keys" in ok.stdout
    token = r.stdout.split("registrar token (shown once): ", 1)[1].split()[0]
    engine = create_engine(db_url)
    from sqlalchemy import MetaData

    from api.auth import Role, TokenStore

    principal = TokenStore(engine, MetaData()).principal_for_token(token)
    engine.dispose()
    assert principal is not None
    assert principal.roles == frozenset({Role.REGISTRAR})


def test_init_on_an_existing_ledger_is_refused_and_writes_nothing(db_url: str, env: dict[str, str],
                                                                  tmp_path: Path) -> None:
    assert caseledger(env, tmp_path, "init", "--db", db_url).returncode == 0
    trust = (tmp_path / "data" / "trust.vkey").read_text()
    again = caseledger(env, tmp_path, "init", "--db", db_url)
    assert again.returncode == 2
    assert "already holds a ledger" in again.stderr
    assert entries(db_url) == 2
    assert (tmp_path / "data" / "trust.vkey").read_text() == trust


def test_key_add_registers_a_custodial_key_once(db_url: str, env: dict[str, str], tmp_path: Path) -> None:
    assert caseledger(env, tmp_path, "init", "--db", db_url).returncode == 0
    r = caseledger(env, tmp_path, "key", "add", "p-lin", "--role", "officer", "--db", db_url)
    assert r.returncode == 0, r.stderr
    assert entries(db_url) == 3
    again = caseledger(env, tmp_path, "key", "add", "p-lin", "--role", "officer", "--db", db_url)
    assert again.returncode == 2
    assert "already has a custodial key" in again.stderr
    bad = caseledger(env, tmp_path, "key", "add", "p-x", "--role", "root", "--db", db_url)
    assert bad.returncode == 2
    assert entries(db_url) == 3


# ----------------------------------------------------------------------------- 3. one way to name the database


@pytest.mark.parametrize("bad", ["mysql://u@h/db", "", "sqlite://relative.db", "http://example.com/x",
                                 "postgresql://", "localhost:5432/db"])
def test_an_unsupported_database_name_is_a_usage_error_naming_the_accepted_forms(
        bad: str, env: dict[str, str], tmp_path: Path) -> None:
    for argv in (["verify", "--db", bad], ["init", "--db", bad]):
        r = caseledger(env, tmp_path, *argv)
        assert r.returncode == 2, r.stdout + r.stderr
        no_traceback(r)
        assert len(r.stderr.strip().splitlines()) == 1
        assert "postgresql+psycopg://" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_environment_goes_through_the_same_parser(env: dict[str, str], tmp_path: Path) -> None:
    r = caseledger({**env, "CASELEDGER_DB": "oracle://x/y"}, tmp_path, "verify")
    assert r.returncode == 2
    assert ACCEPTED_FORMS in r.stderr


def test_a_bare_file_path_means_that_sqlite_file(env: dict[str, str], tmp_path: Path) -> None:
    r = caseledger(env, tmp_path, "init", "--db", "mine.db")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "mine.db").exists()
    for db in ("mine.db", "sqlite:///mine.db", str(tmp_path / "mine.db")):
        v = caseledger(env, tmp_path, "verify", "--db", db)
        assert v.returncode == 0, v.stderr
        assert "2 keys" in v.stdout
    via_env = caseledger({**env, "CASELEDGER_DB": "mine.db"}, tmp_path, "verify")
    assert via_env.returncode == 0, via_env.stderr


@pytest.mark.parametrize("command", READING)
def test_a_reading_command_never_creates_a_missing_sqlite_file(command: str, env: dict[str, str],
                                                               tmp_path: Path) -> None:
    r = caseledger(env, tmp_path, command, *READING_ARGS.get(command, []), "--db", "absent.db")
    assert r.returncode == 2, r.stdout + r.stderr
    no_traceback(r)
    assert "caseledger init" in r.stderr
    assert "caseledger demo" in r.stderr
    assert not (tmp_path / "absent.db").exists()
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("command", ["verify", "replay", "token", "cases", "checkpoint"])
def test_a_reading_command_refuses_an_empty_database(command: str, db_url: str, env: dict[str, str],
                                                     tmp_path: Path) -> None:
    if db_url.startswith("sqlite"):
        Path(db_url[len("sqlite:///"):]).touch()  # an empty file: no tables
    r = caseledger(env, tmp_path, command, *READING_ARGS.get(command, []), "--db", db_url)
    assert r.returncode == 2, r.stdout + r.stderr
    no_traceback(r)
    assert "holds no ledger entries" in r.stderr
    assert "caseledger init" in r.stderr
    engine = create_engine(db_url)
    assert inspect(engine).get_table_names() == []  # nothing was created
    engine.dispose()


def test_an_unreachable_database_is_exit_2_not_a_failed_verification(env: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = caseledger(env, tmp_path, "verify", "--db", f"postgresql+psycopg://nobody@127.0.0.1:{port}/none")
    assert r.returncode == 2
    no_traceback(r)
    assert "cannot open the database" in r.stderr
    garbage = tmp_path / "not-a-db.db"
    garbage.write_bytes(b"this is not an SQLite database file" * 100)
    g = caseledger(env, tmp_path, "verify", "--db", str(garbage))
    assert g.returncode == 2
    no_traceback(g)


def test_every_command_documents_db_in_its_help(env: dict[str, str], tmp_path: Path) -> None:
    for argv in (["verify"], ["init"], ["demo"], ["serve"], ["token", "add"], ["token", "revoke"], ["replay"],
                 ["rebuild"], ["project"],
                 ["checkpoint"], ["export"], ["cases"], ["key", "add"], ["calendar", "show"]):
        r = caseledger(env, tmp_path, *argv, "--help")
        assert r.returncode == 0, argv
        assert "postgresql+psycopg://" in r.stdout.replace("\n", " "), argv


# ----------------------------------------------------------------------------- 6. honest verify output


def test_verify_without_trust_says_the_checkpoint_signature_was_not_checked(db_url: str, env: dict[str, str],
                                                                           tmp_path: Path) -> None:
    assert caseledger(env, tmp_path, "init", "--db", db_url).returncode == 0
    plain = caseledger(env, tmp_path, "verify", "--db", db_url)
    assert plain.returncode == 0
    assert "signature was NOT checked (no --trust)" in plain.stdout
    assert "--trust FILE" in plain.stdout
    trusted = caseledger(env, tmp_path, "verify", "--db", db_url, "--trust", str(tmp_path / "data" / "trust.vkey"))
    assert trusted.returncode == 0
    assert "NOT checked" not in trusted.stdout
    as_json = caseledger(env, tmp_path, "verify", "--db", db_url, "--json")
    assert json.loads(as_json.stdout)["checkpoint_signature_checked"] is False


def test_the_progress_bar_ends_at_100_percent_on_an_intact_ledger(env: dict[str, str], tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'l.db'}"
    assert caseledger(env, tmp_path, "init", "--db", db).returncode == 0
    assert caseledger(env, tmp_path, "key", "add", "p-lin", "--role", "officer", "--db", db).returncode == 0
    master, slave = pty.openpty()
    p = subprocess.Popen([str(CASELEDGER), "verify", "--db", db, "--workers", "1"], cwd=tmp_path, env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    err = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            err += chunk
        elif p.poll() is not None:
            break
    out = p.communicate(timeout=60)[0].decode()
    os.close(master)
    assert p.returncode == 0, out
    shown = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", err)  # the terminal's colours and cursor moves
    assert b"100%" in shown, err
    assert b"3/3 entries" in shown, err


# ----------------------------------------------------------------------------- 7. the CLI: Click, pydantic-settings


def test_an_invalid_environment_variable_is_exit_2_naming_it(env: dict[str, str], tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    r = caseledger({**env, "CASELEDGER_MAX_BLOB_BYTES": "lots"}, tmp_path, "init", "--db", str(db))
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith("caseledger init: invalid environment: CASELEDGER_MAX_BLOB_BYTES: "), r.stderr
    assert "Traceback" not in r.stderr
    assert r.stdout == ""
    assert not db.exists()
    r = caseledger(env, tmp_path, "serve", "--port", "70000")
    assert r.returncode == 2
    assert "Invalid value for '--port'" in r.stderr
    assert r.stdout == ""


# ----------------------------------------------------------------------------- 9. small traps


def test_the_master_secret_and_the_demo_database_are_ignored_by_git() -> None:
    git = shutil.which("git")
    assert git is not None
    r = subprocess.run([git, "check-ignore", "--no-index", ".caseledger/master.secret", ".caseledger/trust.vkey",
                        "caseledger.db"], cwd=PROJECT, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [".caseledger/master.secret", ".caseledger/trust.vkey", "caseledger.db"]


def test_make_run_takes_a_port() -> None:
    make = shutil.which("make")
    assert make is not None
    r = subprocess.run([make, "-n", "-W", "pyproject.toml", "-o", ".venv/.installed", "run", "PORT=8001"],
                       cwd=PROJECT, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert "--port 8001" in r.stdout
    assert "127.0.0.1:8001/notices" in r.stdout
    assert "8000" not in r.stdout


def test_serving_on_a_port_in_use_is_exit_2_with_a_clear_message(db_url: str, env: dict[str, str],
                                                                 tmp_path: Path) -> None:
    assert caseledger(env, tmp_path, "init", "--db", db_url).returncode == 0
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = caseledger(env, tmp_path, "serve", "--db", db_url, "--port", str(port), timeout=60)
    assert r.returncode == 2, r.stderr
    no_traceback(r)
    assert f"port {port} on 127.0.0.1 is already in use" in r.stderr
    assert "--port" in r.stderr


def test_demo_on_a_ledger_whose_master_secret_is_gone_says_so(db_url: str, env: dict[str, str],
                                                              tmp_path: Path) -> None:
    assert caseledger(env, tmp_path, "init", "--db", db_url).returncode == 0
    secret = tmp_path / "data" / "master.secret"
    secret.unlink()
    r = caseledger(env, tmp_path, "demo", "--db", db_url, "--cases", "1")
    assert r.returncode == 2, r.stdout + r.stderr
    no_traceback(r)
    assert "master secret is gone" in r.stderr
    assert not secret.exists()  # no new secret was made up for the old ledger
    assert entries(db_url) == 2
    wrong = caseledger({**env, "CASELEDGER_MASTER_SECRET": "another secret, 32 bytes long...."}, tmp_path,
                       "demo", "--db", db_url, "--cases", "1")
    assert wrong.returncode == 2, wrong.stdout + wrong.stderr
    no_traceback(wrong)
    assert "cannot unseal" in wrong.stderr
    assert entries(db_url) == 2


@pytest.mark.parametrize("argv", [["--role", "officer", "--agency", "123"], [],
                                  ["--role", "enterprise"], ["--role", "officer", "--uscc", "x"]],
                         ids=["bad agency code", "no role", "enterprise without uscc", "bad uscc"])
def test_token_add_refuses_a_missing_role_or_a_bad_code_and_writes_nothing(
        argv: list[str], db_url: str, env: dict[str, str], tmp_path: Path) -> None:
    assert caseledger(env, tmp_path, "init", "--db", db_url).returncode == 0
    engine = create_engine(db_url)
    with engine.connect() as c:
        before = c.execute(sql_select(func.count()).select_from(table("api_principals"))).scalar_one()
    r = caseledger(env, tmp_path, "token", "add", "p-lin", *argv, "--db", db_url)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stdout == ""
    with engine.connect() as c:
        after = c.execute(sql_select(func.count()).select_from(table("api_principals"))).scalar_one()
    engine.dispose()
    assert after == before
