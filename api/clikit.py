"""What every ``caseledger`` command is made of (Click and Rich); api/cli.py says how to add a command.

- :data:`db_option` and :data:`json_option`: the ``--db`` and ``--json`` every command spells the same way;
- :func:`examples`: a command's ``--help`` epilog (every command has at least one example, tested);
- :func:`run`: the one way a command runs: the environment checked (``CASELEDGER_*``, pydantic-settings),
  ``--db`` parsed (api/dburl.py) and, for a command that reads a ledger, the ledger and its schema
  required; then the implementation, given the parsed options as an :data:`Args` namespace. A
  :class:`~ledger.errors.UsageError` or a database error becomes one line on stderr and exit 2;
- :func:`progress`: the one progress bar (Rich, on stderr, only when stderr is a terminal);
- :func:`finite`: an option callback refusing ``nan`` and ``inf`` (Click's ``FloatRange`` lets them through).

Numbers are range-checked by Click (``click.IntRange`` / ``click.FloatRange``): an out-of-range value is a
usage error (exit 2) naming the option, before anything is opened or written.
"""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, Literal

import click

from api.dburl import DB_HELP

EXIT_OK, EXIT_BAD, EXIT_USAGE = 0, 1, 2
#: The parsed options handed to a command's implementation (``args.db``, ``args.json``, ...).
Args = SimpleNamespace
#: What a command does with ``--db``: ``read`` an existing ledger (never creates a database: a missing
#: SQLite file or an empty database is exit 2 naming ``caseledger init``), ``open`` it as given (it
#: may create it: ``init``, ``demo``, ``db``), or take ``none``.
LedgerUse = Literal["read", "open", "none"]

#: ``--db URL`` (default ``$CASELEDGER_DB``, else ``sqlite:///./caseledger.db``).
db_option = click.option("--db", default=None, metavar="URL", help=DB_HELP)
#: ``--json``: print machine-readable output.
json_option = click.option("--json", is_flag=True, default=False, help="print JSON")


def examples(*lines: str) -> str:
    """The ``--help`` epilog listing ``lines`` as examples, kept as written (Click does not re-wrap it)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def finite(_ctx: click.Context, _param: click.Parameter, value: float | None) -> float | None:
    """An option callback: refuse ``nan`` and ``inf``, which pass every ``FloatRange``."""
    if value is not None and not math.isfinite(value):
        msg = f"{value} is not a finite number"
        raise click.BadParameter(msg)
    return value


def command_name(ctx: click.Context | None = None) -> str:
    """The top-level command being run (``calendar`` for ``caseledger calendar add``): error messages'
    ``caseledger NAME:`` prefix."""
    c = ctx or click.get_current_context()
    while c.parent is not None and c.parent.parent is not None:
        c = c.parent
    return c.info_name or "caseledger"


def run(impl: Callable[[Args], int] | str, *, ledger: LedgerUse = "read", **params: Any) -> int:
    """Run ``impl`` (a function, or ``"module:function"`` imported only now) on ``params``.

    Returns the exit code: the implementation's, or 2 (one line on stderr) for an invalid ``CASELEDGER_*``
    variable, a bad ``--db``, a missing or out-of-date ledger (``ledger="read"``), a usage error raised
    by the implementation, or a database that fails mid-command. No traceback reaches the user for these.
    """
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415 - `caseledger --help` stays fast

    from api.dburl import parse_db_url, require_ledger, require_schema  # noqa: PLC0415
    from api.settings import check_environment  # noqa: PLC0415
    from ledger.errors import UsageError  # noqa: PLC0415

    name = command_name()
    try:
        check_environment()
        if ledger != "none":
            db = parse_db_url(params.get("db"))
            params["db"] = db.url
            if ledger == "read":
                require_ledger(db)
                require_schema(db)
        if isinstance(impl, str):
            module, func = impl.split(":")
            impl = getattr(importlib.import_module(module), func)
            assert callable(impl)
        return int(impl(Args(command=name, **params)))
    except UsageError as e:
        click.echo(f"caseledger {name}: {e}", err=True)
        return EXIT_USAGE
    except SQLAlchemyError as e:  # a database that went away mid-command: never a traceback, never exit 1
        cause = getattr(e, "orig", None) or e
        click.echo(f"caseledger {name}: database error: {type(cause).__name__}: {cause}".splitlines()[0], err=True)
        return EXIT_USAGE


@contextmanager
def progress(total: int | None, description: str) -> Iterator[Callable[[int], None] | None]:
    """A Rich progress bar on stderr while the block runs, fed by the yielded ``advance(n)``; ``None``
    (no bar, no output) when stderr is not a terminal. The bar shows ``done/total entries`` and ends at
    100 % when the work covers ``total``."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console  # noqa: PLC0415
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(file=sys.stderr)
    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), MofNCompleteColumn(),
                  TextColumn("entries"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: int) -> None:
            bar.advance(task, n)

        yield advance


__all__ = ["EXIT_BAD", "EXIT_OK", "EXIT_USAGE", "Args", "LedgerUse", "command_name", "db_option", "examples",
           "finite", "json_option", "progress", "run"]
