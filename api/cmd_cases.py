"""``caseledger cases``: find inspections (registered in api/cli.py).

Lists id, task number, agency, enterprise, status and last step from the case-file projection,
brought up to date first. Exit codes: 0 ok (also when nothing matches), 2 usage or connection error.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import click

from api.clikit import Args, db_option, examples, run

EXIT_OK, EXIT_USAGE = 0, 2
PAGE = 500


def _when(us: object) -> str:
    if not isinstance(us, int):
        return "-"
    return datetime.fromtimestamp(us / 1e6, UTC).strftime("%Y-%m-%d %H:%M")


def cmd_cases(args: Args) -> int:
    from sqlalchemy import create_engine  # noqa: PLC0415

    from api.settings import sqlalchemy_url  # noqa: PLC0415
    from projections.errors import BadQuery  # noqa: PLC0415
    from projections.queries import Projections  # noqa: PLC0415

    engine = create_engine(sqlalchemy_url(args.db))
    try:
        proj = Projections(engine)
        proj.refresh()
        items: list[dict[str, object]] = []
        cursor = None
        while True:
            page, cursor = proj.list_cases(agency=args.agency, uscc=args.enterprise, status=args.status,
                                           year=args.year, cursor=cursor, limit=PAGE)
            items += page
            if cursor is None:
                break
    except BadQuery as e:
        print(f"caseledger cases: {e}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps(items, ensure_ascii=False))
        return EXIT_OK
    if not items:
        print("no inspections match", file=sys.stderr)
        return EXIT_OK
    print(f"{'case id':36}  {'task no':14}  {'agency':18}  {'enterprise':18}  {'status':12}  last step")
    for it in items:
        last = it["last_step"] if isinstance(it["last_step"], dict) else {}
        step = f"{last.get('n')} {last.get('type')} (occurred {_when(last.get('occurred_at'))} UTC)" if last else "-"
        print(f"{it['case_id']!s:36}  {it['task_no'] or '-'!s:14}  {it['agency'] or '-'!s:18}  "
              f"{it['enterprise'] or '-'!s:18}  {it['status'] or '-'!s:12}  {step}")
    print(f"{len(items)} inspection(s)", file=sys.stderr)
    return EXIT_OK


@click.command("cases", epilog=examples(
    "caseledger cases --db caseledger.db",
    "caseledger cases --agency 11350100MB0321001G --status published",
    "caseledger cases --enterprise 91350100MA2XXXXXXX --year 2025 --json"))
@db_option
@click.option("--agency", default=None, metavar="CODE", help="only cases with this agency on them")
@click.option("--enterprise", default=None, metavar="USCC", help="only cases about this enterprise")
@click.option("--status", default=None, metavar="S",
              help="only cases at this stage (dispatched, concluded, filed, decided, published, closed, ...)")
@click.option("--year", type=int, default=None, metavar="Y", help="only cases of this plan year")
@click.option("--json", is_flag=True, default=False, help="print one JSON array")
def cases(**params: Any) -> int:
    """List inspections: id, task number, agency, enterprise, status, last step."""
    return run(cmd_cases, ledger="read", **params)


def register(cli: click.Group) -> None:
    cli.add_command(cases)
