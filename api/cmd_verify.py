"""``caseledger verify``: every entry, chain link, key and the Merkle log checked (api/cli.py registers it).

Exit codes: 0 intact, 1 not intact (the first failing entry is printed, or an evidence blob problem
with ``--blobs``), 2 usage or connection error. Nothing else is exit 1.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from api.clikit import EXIT_BAD, EXIT_OK, EXIT_USAGE, Args, db_option, examples, json_option, progress, run


@click.command("verify", epilog=examples(
    "caseledger verify --db caseledger.db",
    "caseledger verify --db caseledger.db --trust .caseledger/trust.vkey --state verified.state",
    "caseledger verify --db postgresql+psycopg://caseledger@db/caseledger --json --blobs"))
@db_option
@json_option
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="signature-checking processes")
@click.option("--trust", default=None, metavar="FILE",
              help="trust file: the checkpoint verifier key(s), or a policy with witness keys and a quorum (spec 04)")
@click.option("--checkpoint", default=None, metavar="FILE", help="an older checkpoint note to check consistency from")
@click.option("--state", default=None, metavar="FILE",
              help="remember the latest verified checkpoint in FILE and, on later runs, check the log still "
                   "extends it (needs --trust)")
@click.option("--blobs", is_flag=False, flag_value="", default=None, metavar="[DIR]",
              help="also check evidence blobs exist and match (DIR defaults to <data dir>/blobs)")
def verify(**params: Any) -> int:
    """Verify every entry, chain link, key and the Merkle log.

    Exit 0: intact; 1: not intact (the first failing entry is printed); 2: usage or connection error.
    A progress bar is drawn on stderr when it is a terminal.
    """
    return run(cmd_verify, ledger="read", **params)


def register(cli: click.Group) -> None:
    cli.add_command(verify)


def cmd_verify(args: Args) -> int:
    """Verify every entry, chain link, key and the Merkle log of ``args.db``; print the report."""
    import dataclasses  # noqa: PLC0415

    from sqlalchemy import create_engine  # noqa: PLC0415
    from sqlalchemy.exc import NoSuchTableError, OperationalError  # noqa: PLC0415

    from api.settings import sqlalchemy_url  # noqa: PLC0415
    from ledger.audit import count_rows, events_table, stream_kinds, verify_database  # noqa: PLC0415

    try:
        engine = create_engine(sqlalchemy_url(args.db))
        total = count_rows(engine, events_table(engine))
    except (OperationalError, NoSuchTableError) as e:
        print(f"caseledger verify: cannot read ledger at {args.db}: {e.__class__.__name__}: {e}".splitlines()[0],
              file=sys.stderr)
        return EXIT_USAGE
    from ledger.errors import LedgerError  # noqa: PLC0415
    from ledger.merkle_audit import check_merkle  # noqa: PLC0415

    try:
        merkle_check = check_merkle(trust=args.trust, older=args.checkpoint, state=args.state)
    except (OSError, LedgerError, ValueError) as e:
        print(f"caseledger verify: cannot use --trust/--checkpoint/--state: {e}", file=sys.stderr)
        return EXIT_USAGE
    with progress(total, "verify") as advance:
        report = verify_database(engine, workers=args.workers, progress=advance, merkle_check=merkle_check)
    if args.state and report.ok:
        from ledger.merkle_audit import save_state  # noqa: PLC0415

        try:
            if save_state(args.state, report) and report.checkpoint_note is not None:
                size = report.checkpoint_note.split("\n", 2)[1]
                report.notes.append(f"remembered the checkpoint of size {size} in {args.state}")
        except OSError as e:
            print(f"caseledger verify: cannot write --state {args.state}: {e}", file=sys.stderr)
            return EXIT_USAGE
    if report.ok and report.checkpoint_size is not None and not args.trust:
        report.notes.append("the checkpoint's signature was NOT checked (no --trust): check it with "
                            "`caseledger verify --trust FILE`, FILE holding the ledger's verifier key "
                            "(<data dir>/trust.vkey from init or demo, or `caseledger checkpoint --print-vkey`)")
    inspections = stream_kinds(engine).get("inspection", 0) if report.ok else None
    calendar = _calendar_warnings(engine)
    report.notes.extend(f"warning: {w}" for w in calendar)
    blob_problems: list[dict[str, Any]] = []
    if args.blobs is not None:

        from api.blobs import verify_ledger_blobs  # noqa: PLC0415
        from api.settings import environment  # noqa: PLC0415

        root = args.blobs or environment().data_dir / "blobs"
        blobs = verify_ledger_blobs(engine, root)
        blob_problems = [dataclasses.asdict(p) for p in blobs.problems]
        report.notes.append(f"evidence blobs: {blobs.ok} of {blobs.checked} present and matching")
    out: dict[str, Any] = {
        "ok": report.ok, "entries": report.entries, "cases": report.cases, "inspections": inspections,
        "registers": None if inspections is None else report.cases - inspections, "keys": report.keys,
        "leaves": report.leaves, "root": report.root, "checkpoint_size": report.checkpoint_size,
        "remembered_checkpoint_size": report.remembered_size,
        "checkpoint_signature_checked": bool(args.trust) and report.checkpoint_size is not None,
        "notes": report.notes,
        "failure": report.failure.as_dict() if report.failure else None,
        "blob_problems": blob_problems, "calendar_warnings": calendar,
    }
    if args.json:
        print(json.dumps(out, ensure_ascii=False, default=str))
    elif report.ok and not blob_problems:
        print(f"OK: {report.entries} entries in {inspections} inspections and {report.cases - (inspections or 0)} "
              f"register streams, {report.keys} keys, {report.leaves} leaves; root {report.root or '-'}")
        for note in report.notes:
            print(f"note: {note}")
    elif report.ok:
        print(f"FAILED: {len(blob_problems)} evidence blob problem(s); the entries themselves are intact")
        for p in blob_problems:
            print(f"  case {p['case']} n {p['n']} evidence {p['evidence_id']}: {p['problem']} "
                  f"(expected {p['expected']}, actual {p['actual']})")
    else:
        f = report.failure
        assert f is not None
        print("FAILED: first failing entry")
        print(f"  case      {f.case}\n  n         {f.n}\n  position  {f.position}\n  step      {f.step} ({f.code})")
        print(f"  message   {f.message}\n  expected  {f.expected}\n  actual    {f.actual}")
    return EXIT_OK if report.ok and not blob_problems else EXIT_BAD


def _calendar_warnings(engine: Any) -> list[str]:
    """Next year's calendar missing (from 1 November) or a signed year conflicting with the package:
    reported, never a verification failure."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from domain.calendar import legal_day  # noqa: PLC0415
    from projections.calendar_years import calendar_report, load_calendar  # noqa: PLC0415

    with engine.connect() as conn:
        cal = load_calendar(conn).calendar()
    return list(calendar_report(cal, legal_day(datetime.now(UTC)))["warnings"])
