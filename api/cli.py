"""The ``caseledger`` command, on Click (options, ranges, help) and Rich (the progress bar).

Exit codes, the same for every command: 0 ok; 1 a check failed (``verify``: the ledger is not intact;
``verify-bundle``, ``db current``, ``token revoke`` and ``project`` say in their help when); 2 usage or
connection error, one line on stderr with a hint, never a traceback. Errors go to stderr, results
to stdout.

How to add a command
--------------------
1. Write ``api/cmd_X.py`` with the implementation, ``cmd_X(args) -> int`` (exit code), reading its
   options from ``args`` (an :data:`api.clikit.Args`: ``args.db``, ``args.json``, ...). Import heavy
   modules inside it, so ``caseledger --help`` stays fast.
2. In the same module, declare it with Click and hand it to :func:`api.clikit.run`, which checks the
   environment and ``--db``, requires the ledger (``ledger="read"``, never creating a database), and
   turns usage and database errors into exit 2::

       @click.command("X", epilog=examples("caseledger X --db caseledger.db"))
       @db_option
       @click.option("--limit", type=click.IntRange(1, 1000), default=10, help="at most this many")
       def x(**params: Any) -> int:
           \"\"\"One line for the command list; more for its --help.\"\"\"
           return run(cmd_x, ledger="read", **params)

       def register(cli: click.Group) -> None:
           cli.add_command(x)

   A group (``token add``/``token revoke``) is a ``@click.group`` with commands added the same way.
   Numbers take ``click.IntRange``/``click.FloatRange`` (plus :func:`api.clikit.finite` for floats);
   every command has an ``Examples:`` epilog (:func:`api.clikit.examples`); the test walks the tree.
3. Add ``"api.cmd_X"`` to :data:`COMMAND_MODULES` below.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import click

from api.clikit import EXIT_OK, EXIT_USAGE, examples

#: The modules that declare the commands; each has ``register(cli)``.
COMMAND_MODULES = ("api.cmd_verify", "api.cmd_init", "api.cmd_serve", "api.cmd_cases", "api.cmd_db",
                   "api.cmd_projections", "api.cmd_calendar", "api.cmd_log", "api.cmd_tiles", "api.cmd_witness")
#: Exit code for an interrupt (Ctrl-C) that reaches the command line.
EXIT_INTERRUPTED = 130


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
             epilog=examples("caseledger init --db postgresql+psycopg://caseledger@db/caseledger",
                             "caseledger demo --db caseledger.db",
                             "caseledger verify --db caseledger.db --trust .caseledger/trust.vkey",
                             "caseledger COMMAND --help"))
def cli() -> None:
    """Tamper-evident enforcement case-file ledger.

    Every command takes --db URL (or $CASELEDGER_DB): sqlite:///PATH, a bare file path, or
    postgresql+psycopg://USER@HOST/DB. Exit codes: 0 ok, 1 a check failed (verify: not intact),
    2 usage or connection error.
    """


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(cli)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``caseledger`` on ``argv`` (default ``sys.argv[1:]``) and return its exit code."""
    try:
        rv = cli.main(args=list(sys.argv[1:] if argv is None else argv), prog_name="caseledger",
                      standalone_mode=False)
    except click.ClickException as e:  # bad option, value out of range, missing argument: usage, exit 2
        e.show()
        return EXIT_USAGE
    except click.Abort:
        click.echo("caseledger: interrupted", err=True)
        return EXIT_INTERRUPTED
    return EXIT_OK if rv is None else int(rv)


if __name__ == "__main__":
    sys.exit(main())
