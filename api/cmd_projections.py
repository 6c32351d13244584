"""``caseledger rebuild``, ``replay`` and ``project`` (registered in api/cli.py).

Exit codes: 0 ok, 1 the ledger failed a check (a broken chain during replay, an entry that cannot be
projected), 2 usage or connection error (unknown projection or case, bad ``--as-of``, no ledger).
"""

from __future__ import annotations

import json
import re
import sys
import time
from datetime import datetime
from typing import Any

import click

from api.clikit import Args, db_option, examples, progress, run

EXIT_OK, EXIT_BAD, EXIT_USAGE = 0, 1, 2


def _err(command: str, message: str) -> None:
    print(f"caseledger {command}: {message}", file=sys.stderr)


def _engine(command: str, db: str) -> Any:
    """An engine on an existing ledger, or None after printing why not."""
    from pathlib import Path

    from sqlalchemy import create_engine, inspect
    from sqlalchemy.exc import SQLAlchemyError

    from api.settings import sqlalchemy_url
    from ledger.store import EVENTS_TABLE

    if db.startswith("sqlite:///") and ":memory:" not in db:
        path = Path(db[len("sqlite:///"):].split("?", 1)[0])
        if not path.exists():
            _err(command, f"no ledger at {db} (file {path} does not exist)")
            return None
    try:
        engine = create_engine(sqlalchemy_url(db))
        if not inspect(engine).has_table(EVENTS_TABLE):
            _err(command, f"no ledger at {db} (table {EVENTS_TABLE} is missing)")
            return None
    except SQLAlchemyError as e:
        _err(command, f"cannot open the ledger at {db}: {type(e).__name__}: {e}".splitlines()[0])
        return None
    return engine


def cmd_rebuild(args: Args) -> int:
    """Drop and rebuild one projection (``args.name``) or all of them, with a progress bar on a tty.

    Uses the full-rebuild fast path (:mod:`projections.bulk`). ``args.batch`` (notifications read
    between two writes, default 50,000) and ``args.jobs`` (processes the streams are partitioned
    over, default 1) are optional."""
    from projections.errors import ProjectionError, ProjectionFailed
    from projections.runner import DEFAULT_BATCH, ProjectionRunner
    from projections.source import head_position

    engine = _engine("rebuild", args.db)
    if engine is None:
        return EXIT_USAGE
    names = [args.name] if getattr(args, "name", None) else None
    try:
        runner = ProjectionRunner(engine, names, batch_size=DEFAULT_BATCH)
        with engine.connect() as conn:
            head = head_position(conn)
        t0 = time.perf_counter()
        # The bulk path (projections.bulk): tables known empty, rows written once per window,
        # streams partitioned over --jobs processes. --batch sets the window.
        with progress(head, "rebuild " + (args.name or "all")) as advance:
            n = runner.rebuild(progress=advance, jobs=getattr(args, "jobs", None) or 1,
                               window=getattr(args, "batch", None))
        dt = time.perf_counter() - t0
    except ProjectionFailed as e:
        _err("rebuild", f"{e} (position {e.position})")
        return EXIT_BAD
    except ProjectionError as e:
        _err("rebuild", str(e))
        return EXIT_USAGE
    rate = n / dt if dt > 0 else 0.0
    print(f"rebuilt {', '.join(runner.names)}: {n} entries in {dt:.2f} s ({rate:,.0f} entries/s); "
          f"positions {json.dumps(runner.positions())}")
    return EXIT_OK


_INT = re.compile(r"^\d+$")


def parse_as_of(value: str | None) -> tuple[int | None, datetime | None]:
    """``"12"`` → entry 12; an ISO-8601 instant with a UTC offset → that instant."""
    from projections.errors import BadAsOf

    if value is None:
        return None, None
    v = value.strip()
    if _INT.match(v):
        return int(v), None
    try:
        at = datetime.fromisoformat(v)  # Python 3.11 accepts a trailing Z
    except ValueError:
        msg = f"--as-of must be an entry number or an ISO-8601 instant with an offset, got {value!r}"
        raise BadAsOf(msg) from None
    if at.tzinfo is None:
        msg = f"--as-of instant {value!r} has no UTC offset (write e.g. 2025-09-30T10:00+08:00)"
        raise BadAsOf(msg)
    return None, at


def parse_instant(option: str, value: str | None) -> datetime | None:
    """An ISO-8601 instant with a UTC offset for ``option``, or None."""
    from projections.errors import BadAsOf

    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        msg = f"{option} must be an ISO-8601 instant with an offset (e.g. 2025-09-30T10:00+08:00), got {value!r}"
        raise BadAsOf(msg) from None
    if at.tzinfo is None:
        msg = f"{option} {value!r} has no UTC offset (write e.g. 2025-09-30T10:00+08:00)"
        raise BadAsOf(msg)
    return at


def cmd_replay(args: Args) -> int:
    """Print the case file of ``args.case_id`` as of ``--entry N``, ``--recorded-by TIME`` (the ledger as it
    stood then) or ``--occurred-by TIME`` (the steps that had happened by then), as JSON."""
    from ledger.errors import VerificationError
    from projections.errors import BadAsOf, ProjectionError, UnknownCaseFile
    from projections.queries import Projections

    engine = _engine("replay", args.db)
    if engine is None:
        return EXIT_USAGE
    try:
        n, at = parse_as_of(getattr(args, "as_of", None))
        if at is not None:
            msg = ("--as-of TIME is ambiguous: say which clock, --recorded-by TIME (the ledger as it stood at TIME) "
                   "or --occurred-by TIME (the steps that had happened by TIME)")
            raise BadAsOf(msg)
        n = getattr(args, "entry", None) or n
        at = parse_instant("--recorded-by", getattr(args, "recorded_by", None))
        occurred = parse_instant("--occurred-by", getattr(args, "occurred_by", None))
        doc = Projections(engine).case_file_as_of(None, args.case_id, n=n, at=at, occurred=occurred)
    except UnknownCaseFile as e:
        _err("replay", str(e))
        return EXIT_USAGE
    except ProjectionError as e:
        _err("replay", str(e))
        return EXIT_USAGE
    except VerificationError as e:
        _err("replay", f"the case's chain is broken at step {e.step}: {e}")
        return EXIT_BAD
    print(json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=False, default=str))
    return EXIT_OK


def _follow_elected(engine: Any, runner: Any) -> int:
    """Follow the log as the deployment's one elected follower (``projections/leader.py``) until
    interrupted; while another process (a ``serve`` worker) holds the election, wait for it."""
    import threading

    from projections.leader import Follower

    stop = threading.Event()
    f = Follower(engine, runner, on_elected=lambda: print("following the log (elected)", file=sys.stderr,
                                                          flush=True))
    print("waiting to be elected projection follower (another process may hold it)", file=sys.stderr, flush=True)
    try:
        f.run(stop)
    except KeyboardInterrupt:
        stop.set()
    return 0


def cmd_project(args: Args) -> int:
    """Run the projections until caught up, or with ``--follow`` until interrupted."""
    from projections.errors import ProjectionError, ProjectionFailed
    from projections.runner import DEFAULT_BATCH, ProjectionRunner

    engine = _engine("project", args.db)
    if engine is None:
        return EXIT_USAGE
    try:
        runner = ProjectionRunner(engine, getattr(args, "name", None) and [args.name],
                                  batch_size=getattr(args, "batch", None) or DEFAULT_BATCH)
        runner.setup()
        n = _follow_elected(engine, runner) if getattr(args, "follow", False) else runner.run()
    except ProjectionFailed as e:
        _err("project", f"{e} (position {e.position})")
        return EXIT_BAD
    except ProjectionError as e:
        _err("project", str(e))
        return EXIT_USAGE
    print(f"processed {n} entries; positions {json.dumps(runner.positions())}")
    failed = runner.failures()
    for f in sorted(failed.values(), key=lambda f: f.position):
        _err("project", f"{f.message} (projection {f.projection}, position {f.position}); "
                        "the other projections are up to date")
    return EXIT_BAD if failed else EXIT_OK


@click.command("rebuild", epilog=examples("caseledger rebuild --db caseledger.db",
                                          "caseledger rebuild public_notices --jobs 2 --batch 20000"))
@click.argument("name", required=False, metavar="[NAME]")
@db_option
@click.option("--batch", type=click.IntRange(min=1), default=None, help="entries read between two writes")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="processes the streams are partitioned over")
def rebuild(**params: Any) -> int:
    """Drop and rebuild projections from the log.

    NAME: case_files, public_notices, audit_trail, supervision or statistics (default: all).
    """
    return run(cmd_rebuild, ledger="read", **params)


@click.command("replay", epilog=examples(
    "caseledger replay CASE --entry 5",
    "caseledger replay CASE --recorded-by 2025-09-30T10:00+08:00   # the ledger as it stood then",
    "caseledger replay CASE --occurred-by 2025-09-30T10:00+08:00   # the steps that had happened by then"))
@click.argument("case_id")
@db_option
@click.option("--entry", type=click.IntRange(min=1), default=None, metavar="N", help="up to entry N of the case")
@click.option("--recorded-by", default=None, metavar="TIME",
              help="the case as the ledger stood at instant TIME (entries recorded at or before it)")
@click.option("--occurred-by", default=None, metavar="TIME",
              help="the steps that had happened by TIME (entries whose occurred_at is at or before it)")
@click.option("--as-of", default=None, metavar="N",
              help="the same as --entry N (a time here is refused: say which clock)")
def replay(**params: Any) -> int:
    """Print a case file as of an entry, or an instant on either clock, as JSON.

    Times are ISO-8601 with a UTC offset. --entry, --recorded-by, --occurred-by and --as-of exclude each other.
    """
    given = [f"--{k.replace('_', '-')}" for k in ("entry", "recorded_by", "occurred_by", "as_of")
             if params[k] is not None]
    if len(given) > 1:
        msg = f"{given[1]} is not allowed with {given[0]}: give one of --entry, --recorded-by, --occurred-by, --as-of"
        raise click.UsageError(msg)
    return run(cmd_replay, ledger="read", **params)


@click.command("project", epilog=examples("caseledger project --db caseledger.db",
                                          "caseledger project --follow --db postgresql+psycopg://caseledger@db/caseledger"))
@click.argument("name", required=False, metavar="[NAME]")
@db_option
@click.option("--batch", type=click.IntRange(min=1), default=None, help="entries read per batch")
@click.option("--follow", is_flag=True, default=False, help="keep following the log until interrupted")
def project(**params: Any) -> int:
    """Bring projections up to date, or --follow the log.

    Exit 1 if an entry cannot be projected (the other projections are brought up to date).
    """
    return run(cmd_project, ledger="read", **params)


def register(cli: click.Group) -> None:
    for command in (rebuild, replay, project):
        cli.add_command(command)
