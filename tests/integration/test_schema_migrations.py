"""Schema migrations (issue 17 item 2, ADR 0006): every table comes from Alembic revisions in
api/migrations; a process refuses an older or a newer schema and names the command to run; an
upgrade never changes ledger rows. Run on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text

from api import schema
from api.bootstrap import bootstrap
from api.settings import Settings
from ledger.application import key_body
from ledger.audit import events_table, verify_database
from ledger.codec import to_micros
from ledger.merkle_audit import check_merkle
from ledger.signers import LocalSigner
from tests.fakes import ALICE, BOB, MALLORY, ROOT, T0, TEST_TYPES, StepClock, Ticket, make_ledger

ROOT_DIR = Path(__file__).resolve().parents[2]
FIRST = "0001"


def caseledger(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed ``caseledger`` command, as a user runs it."""
    exe = Path(sys.executable).with_name("caseledger")
    env = {k: v for k, v in os.environ.items() if k != "CASELEDGER_DB"}
    return subprocess.run([str(exe), *args], capture_output=True, text=True, check=False, cwd=ROOT_DIR, env=env,
                          timeout=120)


def ledger_rows(engine) -> tuple[list[tuple], list[tuple]]:
    """Every events row and every Merkle node, in order."""
    tbl = events_table(engine)
    with engine.connect() as conn:
        events = [tuple(r) for r in conn.execute(select(tbl).order_by(tbl.c.id))]
        nodes = [tuple(r) for r in conn.execute(text("SELECT * FROM merkle_nodes ORDER BY pos"))]
    return events, nodes


def seed_tickets(c) -> None:
    for i in range(3):
        t = Ticket(actor="alice", title=f"ticket {i}")
        t.note(actor="alice", text="noted", amount=i)
        c.app.save(t)


def test_a_new_database_is_created_at_the_newest_revision_with_every_table(db_url: str) -> None:
    c = make_ledger(db_url)
    s = schema.state(c.engine)
    assert s.current == schema.head() == s.head
    expected = {"ledger_events", *schema.code_metadata().tables}
    assert expected <= s.tables
    assert {"merkle_nodes", "checkpoints", "custodial_keys", "api_tokens", "api_idempotency", "api_feedback",
            "proj_failures", "proj_tracking", "proj_case_file"} <= s.tables


def test_a_ledger_written_at_the_first_revision_upgrades_to_head_with_its_rows_unchanged(db_url: str) -> None:
    signer = LocalSigner({"root": ROOT, "alice": ALICE, "bob": BOB, "mallory": MALLORY})
    old = bootstrap(Settings(db_url=db_url), signer=signer, clock=StepClock(), event_types=TEST_TYPES,
                    schema_revision=FIRST)
    assert schema.state(old.engine).current == FIRST
    assert not {"ix_proj_case_file_stage", "ix_proj_case_file_year"} & {
        ix["name"] for ix in inspect(old.engine).get_indexes("proj_case_file")}
    reg = old.app.open_ledger(ROOT, principal="root", at=T0)
    reg.register(actor="root", at=T0, key=key_body(ALICE, "alice", "officer", "custodial", to_micros(T0)))
    old.app.save(reg)
    seed_tickets(old)
    before = ledger_rows(old.engine)
    assert len(before[0]) > 3
    old.engine.dispose()

    with pytest.raises(schema.SchemaOutOfDate, match="caseledger db upgrade") as refused:
        bootstrap(Settings(db_url=db_url), signer=signer, clock=StepClock(), event_types=TEST_TYPES)
    assert refused.value.code == "E_SCHEMA_OLD"
    assert (refused.value.current, refused.value.head) == (FIRST, schema.head())

    engine = create_engine(db_url)
    try:
        assert schema.upgrade(engine) == (FIRST, schema.head())
        assert schema.state(engine).at_head
        assert {"ix_proj_case_file_stage", "ix_proj_case_file_year"} <= {
            ix["name"] for ix in inspect(engine).get_indexes("proj_case_file")}
        assert ledger_rows(engine) == before
        report = verify_database(engine, workers=1, merkle_check=check_merkle())
        assert report.ok, report.failure
        assert report.entries == report.leaves == len(before[0])
        assert schema.upgrade(engine) == (schema.head(), schema.head())  # a second run changes nothing
    finally:
        engine.dispose()
    new = bootstrap(Settings(db_url=db_url), signer=signer, clock=StepClock(), event_types=TEST_TYPES)
    seed_tickets(new)
    assert verify_database(new.engine, workers=1, merkle_check=check_merkle()).ok


def test_a_schema_newer_than_the_code_is_refused_and_nothing_is_written(db_url: str) -> None:
    c = make_ledger(db_url)
    before = ledger_rows(c.engine)
    with c.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    c.engine.dispose()
    with pytest.raises(schema.SchemaTooNew, match="newer version") as refused:
        make_ledger(db_url, open_registry=False)
    assert refused.value.code == "E_SCHEMA_NEW"
    engine = create_engine(db_url)
    try:
        with pytest.raises(schema.SchemaTooNew):
            schema.upgrade(engine)
        assert schema.state(engine).current == "9999"
        assert ledger_rows(engine) == before
    finally:
        engine.dispose()


def test_a_database_made_before_migrations_is_refused_then_adopted_by_db_upgrade(db_url: str) -> None:
    c = make_ledger(db_url)
    seed_tickets(c)
    before = ledger_rows(c.engine)
    with c.engine.begin() as conn:  # what create_all left behind: no alembic_version, some tables missing
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text("DROP TABLE api_feedback"))
        conn.execute(text("DROP INDEX ix_proj_case_file_stage"))
    c.engine.dispose()
    with pytest.raises(schema.SchemaOutOfDate, match="before schema migrations"):
        make_ledger(db_url, open_registry=False)
    engine = create_engine(db_url)
    try:
        assert schema.upgrade(engine) == (None, schema.head())
        s = schema.state(engine)
        assert s.at_head
        assert "api_feedback" in s.tables
        assert "ix_proj_case_file_stage" in {ix["name"] for ix in inspect(engine).get_indexes("proj_case_file")}
        assert ledger_rows(engine) == before
        assert verify_database(engine, workers=1, merkle_check=check_merkle()).ok
    finally:
        engine.dispose()


def test_a_database_whose_events_table_is_not_ours_is_refused_and_nothing_is_written(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE ledger_events (id INTEGER PRIMARY KEY, body TEXT)"))
        with pytest.raises(schema.SchemaOutOfDate, match="not a CaseLedger database"):
            schema.upgrade(engine)
        assert schema.state(engine).tables == {"ledger_events"}
        assert schema.state(engine).current is None
    finally:
        engine.dispose()


def test_db_current_and_db_upgrade_on_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    c = make_ledger(f"sqlite:///{db}")
    seed_tickets(c)
    with c.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": FIRST})
    c.engine.dispose()

    cur = caseledger("db", "current", "--db", str(db), "--json")
    assert cur.returncode == 1, cur.stderr
    assert '"status": "behind"' in cur.stdout
    assert "caseledger db upgrade" in cur.stderr
    for command in (["verify", "--db", str(db)], ["cases", "--db", str(db)]):
        r = caseledger(*command)
        assert r.returncode == 2, (command, r.stdout, r.stderr)
        assert f"run `caseledger db upgrade --db {db}`" in r.stderr
        assert "Traceback" not in r.stderr
    up = caseledger("db", "upgrade", "--db", str(db))
    assert up.returncode == 0, up.stderr
    assert f"revision {FIRST} -> revision {schema.head()}; ledger rows unchanged" in up.stdout
    assert caseledger("db", "current", "--db", str(db)).returncode == 0
    ok = caseledger("verify", "--db", str(db))
    assert ok.returncode == 0, ok.stderr


def test_db_commands_refuse_a_missing_file_and_a_newer_schema_with_exit_2(tmp_path: Path) -> None:
    missing = caseledger("db", "upgrade", "--db", str(tmp_path / "nope.db"))
    assert missing.returncode == 2
    assert "caseledger init" in missing.stderr
    assert not (tmp_path / "nope.db").exists()
    db = tmp_path / "new.db"
    c = make_ledger(f"sqlite:///{db}")
    with c.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    c.engine.dispose()
    for args in (("db", "upgrade"), ("db", "current"), ("verify",)):
        r = caseledger(*args, "--db", str(db))
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr
    assert "9999" in caseledger("db", "upgrade", "--db", str(db)).stderr


def test_the_upgrade_block_of_running_md_upgrades_a_ledger_of_the_first_revision(db_url: str, tmp_path: Path) -> None:
    import re

    text_ = (ROOT_DIR / "docs" / "operations" / "running.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- upgrade -->\s*```sh\n(.*?)```\s*<!-- /upgrade -->", text_, re.DOTALL)
    assert m is not None, "running.md has no upgrade block"
    signer = LocalSigner({"root": ROOT, "alice": ALICE})
    old = bootstrap(Settings(db_url=db_url), signer=signer, clock=StepClock(), event_types=TEST_TYPES,
                    schema_revision=FIRST)
    reg = old.app.open_ledger(ROOT, principal="root", at=T0)
    reg.register(actor="root", at=T0, key=key_body(ALICE, "alice", "officer", "custodial", to_micros(T0)))
    old.app.save(reg)
    seed_tickets(old)
    before = ledger_rows(old.engine)
    old.engine.dispose()
    env = {**os.environ, "CASELEDGER_DB": db_url, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", m.group(1)], cwd=tmp_path, env=env, capture_output=True,
                       text=True, check=False, timeout=300)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert f"-> revision {schema.head()}" in r.stdout
    assert f"revision {schema.head()}; this code needs {schema.head()}: current" in r.stdout
    engine = create_engine(db_url)
    try:
        assert ledger_rows(engine) == before
    finally:
        engine.dispose()


def test_the_migrated_schema_is_the_code_s_schema(db_url: str) -> None:
    """No drift: after every revision, the database holds exactly the tables, columns and indexes the
    code defines (Alembic's compare_metadata finds nothing to add, drop or change), so a table or index
    added to the code without a revision fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(db_url)
    schema.upgrade(engine)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, schema.code_metadata())
    engine.dispose()
    # the events table (and its index) is eventsourcing-sqlalchemy's, written out in revision 0001, not in
    # code_metadata: it shows as "remove"; anything else is drift
    ours = [d for d in diff if getattr(d[1], "name", None) != "ledger_events"
            and getattr(getattr(d[1], "table", None), "name", None) != "ledger_events"]
    assert {d[0] for d in diff} - {"remove_table", "remove_index"} == set(), diff
    assert ours == []
