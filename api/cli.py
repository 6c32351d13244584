"""The ``caseledger`` command. Exit codes: 0 intact/ok, 1 verification failed, 2 usage or connection error."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from api.dburl import DB_HELP

EXIT_OK, EXIT_BAD, EXIT_USAGE = 0, 1, 2
#: Commands that read an existing ledger: they never create a database (api/dburl.py, require_ledger).
READS_LEDGER = frozenset({"verify", "replay", "rebuild", "project", "export", "checkpoint", "serve", "token",
                          "calendar", "cases", "key", "tiles"})
#: Commands that take no database.
NO_DATABASE = frozenset({"verify-bundle", "witness"})


def number_in(kind: type[float], lo: float, hi: float | None = None) -> Any:
    """An argparse type: a finite ``kind`` (``int`` or ``float``) in ``lo .. hi``; anything else is
    a usage error (exit 2)."""
    noun = "an integer" if kind is int else "a number"

    def parse(text: str) -> float:
        try:
            v = kind(text)
        except ValueError:
            msg = f"{text!r} is not {noun}"
            raise argparse.ArgumentTypeError(msg) from None
        if not math.isfinite(v):
            msg = f"{text!r} is not a finite number"
            raise argparse.ArgumentTypeError(msg)
        if v < lo or (hi is not None and v > hi):
            msg = f"{text} is out of range: must be {lo} or more" if hi is None else f"{text} is not in {lo}..{hi}"
            raise argparse.ArgumentTypeError(msg)
        return v

    parse.__name__ = "integer" if kind is int else "number"
    return parse


def int_in(lo: int, hi: int | None = None) -> Any:
    """An argparse type: an integer in ``lo .. hi`` (:func:`number_in`)."""
    return number_in(int, lo, hi)


def _progress(total: int | None, desc: str) -> Any:
    """A tqdm bar on a terminal, nothing otherwise."""
    if not sys.stderr.isatty():
        return None
    import os  # noqa: PLC0415

    from tqdm import tqdm  # noqa: PLC0415

    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except OSError:
        size = os.terminal_size((0, 0))
    # A terminal that reports no size (some ptys) makes tqdm draw nothing: assume 80x24.
    sized = size.columns > 0 and size.lines > 0
    return tqdm(total=total, desc=desc, unit="entry", unit_scale=True, file=sys.stderr,
                ncols=None if sized else 80, nrows=None if sized else 24)


def cmd_verify(args: argparse.Namespace) -> int:
    import dataclasses  # noqa: PLC0415
    import os  # noqa: PLC0415

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
    bar = _progress(total, "verify")
    from ledger.errors import LedgerError  # noqa: PLC0415
    from ledger.merkle_audit import check_merkle  # noqa: PLC0415

    try:
        merkle_check = check_merkle(trust=args.trust, older=args.checkpoint, state=args.state)
    except (OSError, LedgerError, ValueError) as e:
        print(f"caseledger verify: cannot use --trust/--checkpoint/--state: {e}", file=sys.stderr)
        return EXIT_USAGE
    report = verify_database(engine, workers=args.workers, progress=bar.update if bar else None,
                             merkle_check=merkle_check)
    if bar:
        bar.close()
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
        from pathlib import Path  # noqa: PLC0415

        from api.blobs import verify_ledger_blobs  # noqa: PLC0415

        root = args.blobs or Path(os.environ.get("CASELEDGER_DATA_DIR", ".caseledger")) / "blobs"
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="caseledger", description="Tamper-evident enforcement case-file ledger")
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("verify", help="verify every entry, chain link, key and the Merkle log")
    v.add_argument("--db", default=None, help=DB_HELP)
    v.add_argument("--json", action="store_true", help="print a JSON report")
    v.add_argument("--workers", type=int_in(1), default=2, help="signature-checking processes (default 2)")
    v.add_argument("--trust", default=None, help="trust file: the checkpoint verifier key(s), or a policy with "
                                                 "witness keys and a quorum (docs/spec/04-checkpoints.md)")
    v.add_argument("--checkpoint", default=None, help="an older checkpoint note to check consistency from")
    v.add_argument("--state", default=None, metavar="FILE",
                   help="remember the latest verified checkpoint in FILE and, on later runs, check the log "
                        "still extends it (needs --trust)")
    v.add_argument("--blobs", nargs="?", const="", default=None, metavar="DIR",
                   help="also check evidence blobs exist and match (default DIR: <data dir>/blobs)")
    v.set_defaults(func=cmd_verify)

    from api.auth import add_token_arguments  # noqa: PLC0415 - light: stdlib and SQLAlchemy only
    from api.serve import add_arguments as serve_arguments  # noqa: PLC0415

    sv = sub.add_parser("serve", help="serve the HTTP API and the public pages (uvicorn)")
    serve_arguments(sv)
    sv.set_defaults(func=_lazy("api.serve", "cmd_serve"))
    tk = sub.add_parser("token", help="add or revoke an API token")
    add_token_arguments(tk)
    tk.set_defaults(func=_lazy("api.auth", "cmd_token"))

    from api.cmd_init import add_init_arguments, add_key_arguments  # noqa: PLC0415

    ini = sub.add_parser("init", help="create an empty ledger: schema, root key, first registrar and token",
                         description="Example: caseledger init --db postgresql+psycopg://caseledger@db/caseledger")
    add_init_arguments(ini)
    ini.set_defaults(func=_lazy("api.cmd_init", "cmd_init"))
    ky = sub.add_parser("key", help="give a principal a custodial signing key")
    add_key_arguments(ky)
    ky.set_defaults(func=_lazy("api.cmd_init", "cmd_key"), db=None)

    from api.cmd_cases import add_arguments as cases_arguments  # noqa: PLC0415

    cs = sub.add_parser("cases", help="list inspections: id, task number, agency, enterprise, status, last step",
                        description="Example: caseledger cases --agency 11350100MB0321001G --status published")
    cases_arguments(cs)
    cs.set_defaults(func=_lazy("api.cmd_cases", "cmd_cases"))

    from api.cmd_db import add_arguments as db_arguments  # noqa: PLC0415

    dbp = sub.add_parser("db", help="the database schema: `db upgrade` to the newest migration, `db current`",
                         description="Examples: caseledger db current --db caseledger.db; "
                                     "caseledger db upgrade --db caseledger.db")
    db_arguments(dbp)
    dbp.set_defaults(func=_lazy("api.cmd_db", "cmd_db"), db=None)

    d = sub.add_parser("demo", help="seed a realistic demo ledger")
    d.add_argument("--db", default=None, help=DB_HELP)
    d.add_argument("--cases", type=int_in(1), default=12)
    d.set_defaults(func=_lazy("api.demo", "cmd_demo"))

    r = sub.add_parser("rebuild", help="drop and rebuild projections from the log")
    r.add_argument("--db", default=None, help=DB_HELP)
    r.add_argument("name", nargs="?", help="case_files|public_notices|audit_trail|supervision|statistics")
    r.add_argument("--batch", type=int_in(1), default=None)
    r.add_argument("--jobs", type=int_in(1), default=1)
    r.set_defaults(func=_lazy("api.cmd_projections", "cmd_rebuild"))
    rp = sub.add_parser(
        "replay", help="print a case file as of an entry, or an instant on either clock",
        description="Times are ISO-8601 with an offset. Examples: caseledger replay CASE --entry 5; "
                    "caseledger replay CASE --recorded-by 2025-09-30T10:00+08:00 (the ledger as it stood then); "
                    "caseledger replay CASE --occurred-by 2025-09-30T10:00+08:00 (the steps that had happened by then)")
    rp.add_argument("--db", default=None, help=DB_HELP)
    rp.add_argument("case_id")
    when = rp.add_mutually_exclusive_group()
    when.add_argument("--entry", type=int_in(1), default=None, metavar="N", help="up to entry N of the case")
    when.add_argument("--recorded-by", dest="recorded_by", default=None, metavar="TIME",
                      help="the case as the ledger stood at instant TIME (entries recorded at or before it)")
    when.add_argument("--occurred-by", dest="occurred_by", default=None, metavar="TIME",
                      help="the steps that had happened by TIME (entries whose occurred_at is at or before it)")
    when.add_argument("--as-of", dest="as_of", default=None, metavar="N",
                      help="the same as --entry N (a time here is refused: say which clock)")
    rp.set_defaults(func=_lazy("api.cmd_projections", "cmd_replay"))
    pj = sub.add_parser("project", help="bring projections up to date, or --follow the log")
    pj.add_argument("--db", default=None, help=DB_HELP)
    pj.add_argument("name", nargs="?")
    pj.add_argument("--batch", type=int_in(1), default=None)
    pj.add_argument("--follow", action="store_true")
    pj.set_defaults(func=_lazy("api.cmd_projections", "cmd_project"))

    from api.cmd_calendar import add_arguments as calendar_arguments  # noqa: PLC0415

    cal = sub.add_parser("calendar", help="enter or show the official calendar years (State Council notices)")
    calendar_arguments(cal)
    cal.set_defaults(func=_lazy("api.cmd_calendar", "cmd_calendar"), db=None)

    from api.cmd_witness import add_arguments as witness_arguments  # noqa: PLC0415

    wt = sub.add_parser("witness", help="run a C2SP tlog-witness for other ledgers: keygen, serve, status")
    witness_arguments(wt)
    wt.set_defaults(func=_lazy("api.cmd_witness", "cmd_witness"))

    # C2SP tlog-tiles export (issue 19): its logic and arguments live in api/cmd_tiles.py.
    from api.cmd_tiles import add_arguments as tiles_arguments  # noqa: PLC0415

    tl = sub.add_parser("tiles", help="export the log as static C2SP tlog-tiles files for object storage")
    tiles_arguments(tl)
    tl.set_defaults(func=_lazy("api.cmd_tiles", "cmd_tiles"))

    for name, mod, helptext in (
        ("checkpoint", "api.cmd_log", "sign a new checkpoint of the Merkle log"),
        ("export", "api.cmd_log", "export one case as an offline court bundle"),
        ("verify-bundle", "api.cmd_log", "verify a court bundle offline"),
        ("export-draw", "api.cmd_log", "export a 双随机 draw and its canonical pool for recomputation"),
    ):
        sp = sub.add_parser(name, help=helptext)
        sp.add_argument("--db", default=None, help=DB_HELP)
        if name == "export":
            sp.add_argument("case_id")
            sp.add_argument("-o", "--output", required=True)
        if name == "export-draw":
            sp.add_argument("agency_code")
            sp.add_argument("draw_no")
            sp.add_argument("-o", "--output", required=True, help="directory for draw.json and pool.txt")
        if name == "verify-bundle":
            sp.add_argument("file")
            sp.add_argument("--trust", required=True, help="trust file: checkpoint verifier key(s), or a policy "
                                                           "with witness keys and a quorum")
            sp.add_argument("--json", action="store_true", help="print a JSON report")
        if name == "checkpoint":
            sp.add_argument("--print-vkey", action="store_true", help="print the ledger's verifier key and exit")
            sp.add_argument("--vkey-out", default=None, help="also write the verifier key line to this file")
            sp.add_argument("--witnesses", default=None, metavar="FILE",
                            help="submit the checkpoint to the witnesses FILE lists (`witness <vkey> <url>` lines; "
                                 "default: CASELEDGER_WITNESSES)")
        sp.set_defaults(func=_lazy(mod, "cmd_" + name.replace("-", "_")))
    return p


def _lazy(module: str, func: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        import importlib  # noqa: PLC0415

        return int(getattr(importlib.import_module(module), func)(args))

    return run


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return EXIT_USAGE if e.code not in (0, None) else EXIT_OK
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    from api.dburl import parse_db_url, require_ledger, require_schema  # noqa: PLC0415
    from ledger.errors import UsageError  # noqa: PLC0415

    try:
        if hasattr(args, "db") and args.command not in NO_DATABASE:
            db = parse_db_url(args.db)
            args.db = db.url
            if args.command in READS_LEDGER:
                require_ledger(db)
                require_schema(db)
        return int(args.func(args))
    except UsageError as e:
        print(f"caseledger {args.command}: {e}", file=sys.stderr)
        return EXIT_USAGE
    except SQLAlchemyError as e:  # a database that went away mid-command: never a traceback, never exit 1
        cause = getattr(e, "orig", None) or e
        print(f"caseledger {args.command}: database error: {type(cause).__name__}: {cause}".splitlines()[0],
              file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
