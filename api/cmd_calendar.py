"""``caseledger calendar add FILE`` and ``caseledger calendar show [YEAR]`` (issue 14; wired in api/cli.py).

``add`` enters one year's official arrangement from the State Council notice as a signed
calendar-register entry, signed custodially for ``--as`` (default ``registrar``). The file is JSON
or TOML (by its suffix); see ``docs/operations/calendar.md``. Exit codes: 0 entered or shown,
2 usage error, a refused entry (with its ``E_*`` code) or a ledger that cannot be opened.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from api.clikit import Args, db_option, examples, json_option, run
from api.cmd_log import _container, _err, _settings

EXIT_OK, EXIT_USAGE = 0, 2
#: The keys a calendar file may hold (``_comment`` and other ``_*`` keys are ignored).
FILE_KEYS = frozenset({"year", "holidays", "workdays", "document", "text_sha256", "text_file", "corrects_package",
                       "reason"})


def read_year_file(path: Path) -> dict[str, Any]:
    """The command fields from a calendar file; ``UsageError`` for a file that cannot be used."""
    from ledger.errors import UsageError  # noqa: PLC0415

    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8")) if path.suffix == ".toml" else json.loads(raw)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        msg = f"cannot read {path}: {e}"
        raise UsageError(msg) from None
    if not isinstance(data, dict):
        msg = f"{path}: expected a table/object with year, holidays, workdays, document and text_sha256"
        raise UsageError(msg)
    fields = {k: v for k, v in data.items() if not k.startswith("_")}
    unknown = sorted(set(fields) - FILE_KEYS)
    if unknown:
        msg = f"{path}: unknown keys {unknown}; allowed: {sorted(FILE_KEYS)}"
        raise UsageError(msg)
    text_file = fields.pop("text_file", None)
    if text_file is not None:
        if "text_sha256" in fields:
            msg = f"{path}: give text_sha256 or text_file, not both"
            raise UsageError(msg)
        try:
            fields["text_sha256"] = hashlib.sha256((path.parent / str(text_file)).read_bytes()).hexdigest()
        except OSError as e:
            msg = f"cannot read the notice text {text_file}: {e}"
            raise UsageError(msg) from None
    fields.setdefault("holidays", [])
    fields.setdefault("workdays", [])
    return fields


def cmd_calendar(args: Args) -> int:
    from domain.errors import DomainError  # noqa: PLC0415

    settings = _settings("calendar", args.db)
    if settings is None:
        return EXIT_USAGE
    if args.calendar_command == "add":
        fields = read_year_file(Path(args.file))  # UsageError: exit 2 in api.cli.main
    c = _container("calendar", settings)
    if c is None:
        return EXIT_USAGE
    app = c.app
    if args.calendar_command == "show":
        return _show(app, args.year, as_json=args.json)
    try:
        entered = app.enter_calendar_year(**fields, at=datetime.now(UTC), actor=args.actor)
    except DomainError as e:
        _err("calendar", f"refused: {e.code}: {e.message}")
        return EXIT_USAGE
    print(f"entered {entered.year} as {entered.version}")
    return EXIT_OK


def _show(app: Any, year: int | None, *, as_json: bool) -> int:
    from api.routers.calendar import calendar_report, describe  # noqa: PLC0415

    reg = app.calendar_register()
    report = calendar_report(app, app.clock())
    if year is not None:
        history = () if reg is None else reg.history(year)
        if not history:
            _err("calendar", f"no calendar entered for {year}")
            return EXIT_USAGE
        out: dict[str, Any] = {"year": year, "versions": [describe(n, ev) for n, ev in history]}
    else:
        out = {"items": [] if reg is None else [{"year": y, "in_force": describe(*h[-1])}
                                                 for y, h in sorted(reg.years.items())], **report}
    if as_json:
        print(json.dumps(out, ensure_ascii=False))
        return EXIT_OK
    if year is not None:
        for v in out["versions"]:
            print(f"{v['version']}  entered {v['entered_at']} by {v['entered_by']}  {v['document']['number']}"
                  f"  holidays {len(v['holidays'])}  workdays {len(v['workdays'])}"
                  + (f"  supersedes entry {v['supersedes']}: {v['reason']}" if v["supersedes"] else ""))
        return EXIT_OK
    print(f"package data: {report['package']}")
    for item in out["items"]:
        v = item["in_force"]
        print(f"{item['year']}: {v['version']} ({v['document']['issuer']} {v['document']['number']})")
    for w in report["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    return EXIT_OK


@click.group("calendar", epilog=examples("caseledger calendar show", "caseledger calendar add 2027.toml"))
def calendar() -> None:
    """Enter or show the official calendar years (State Council notices)."""


@calendar.command("add", epilog=examples("caseledger calendar add 2027.toml --db caseledger.db",
                                         "caseledger calendar add 2027.json --as reg-wang"))
@click.argument("file")
@db_option
@click.option("--as", "actor", default="registrar", show_default=True,
              help="the registrar principal who signs (custodial)")
def calendar_add(**params: Any) -> int:
    """Enter one year's official holiday arrangement from FILE (JSON or TOML: year, holidays, workdays,
    document, text_sha256 or text_file)."""
    return run(cmd_calendar, ledger="read", calendar_command="add", **params)


@calendar.command("show", epilog=examples("caseledger calendar show", "caseledger calendar show 2026 --json"))
@click.argument("year", type=int, required=False)
@db_option
@json_option
def calendar_show(**params: Any) -> int:
    """The signed calendar years and the calendar warnings; with YEAR, every version of that year."""
    return run(cmd_calendar, ledger="read", calendar_command="show", **params)


def register(cli: click.Group) -> None:
    cli.add_command(calendar)
