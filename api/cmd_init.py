"""``caseledger init`` (an empty ledger, ready for real data) and ``caseledger key add`` (registered in api/cli.py).

``init`` creates the schema, the ledger (root) key, the first registrar principal with its custodial
key and an API token, and the trust file with the ledger's verifier key; it seeds no demo data.
``key add`` gives one more principal a custodial key, registered in the key registry by the root
key. Exit codes: 0 ok, 2 usage or connection error (a database that already holds a ledger, a
master secret that cannot unseal the root key).
"""

from __future__ import annotations

import os
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from api.auth import Role
from api.clikit import Args, db_option, examples, run

EXIT_OK, EXIT_USAGE = 0, 2
#: Roles a signing key may carry (the registry's ``root`` is made by ``init`` only).
KEY_ROLES = ("officer", "agency_head", "legal_reviewer", "publisher", "registrar", "dispatcher", "feedback_intake")


def _err(command: str, message: str) -> None:
    print(f"caseledger {command}: {message}", file=sys.stderr)


def _master_secret(data_dir: Path) -> tuple[bytes, str | None]:
    """CASELEDGER_MASTER_SECRET, else ``<data dir>/master.secret``, else a new one written there (0600)."""
    env = os.environ.get("CASELEDGER_MASTER_SECRET")
    if env:
        return env.encode(), None
    path = data_dir / "master.secret"
    if path.exists():
        return path.read_text().strip().encode(), None
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    return path.read_text().strip().encode(), str(path)


def cmd_init(args: Args) -> int:
    """Create an empty ledger on ``args.db`` and print the next steps."""
    from nacl.signing import SigningKey  # noqa: PLC0415
    from sqlalchemy import MetaData  # noqa: PLC0415

    from api.auth import Role, TokenStore  # noqa: PLC0415
    from api.bootstrap import ROOT_PRINCIPAL, bootstrap, system_clock  # noqa: PLC0415
    from api.dburl import ledger_entries  # noqa: PLC0415
    from api.settings import Settings  # noqa: PLC0415
    from ledger.application import key_body  # noqa: PLC0415
    from ledger.bundle_export import issue_checkpoint  # noqa: PLC0415
    from ledger.checkpoint import vkey  # noqa: PLC0415

    if ledger_entries(args.db):
        _err("init", f"{args.db} already holds a ledger; init only creates a new one (verify it with "
                     "`caseledger verify`)")
        return EXIT_USAGE
    base = Settings.from_env(db_url=args.db)
    secret, wrote = _master_secret(base.data_dir)
    settings = Settings(**{**{f: getattr(base, f) for f in base.__slots__}, "master_secret": secret})
    settings.check()
    c = bootstrap(settings)
    assert c.vault is not None
    now_us = system_clock()
    at = datetime.fromtimestamp(now_us / 1e6, UTC)
    root = SigningKey.generate()
    c.vault.store(ROOT_PRINCIPAL, root, now_us)
    reg = c.app.open_ledger(root, principal=ROOT_PRINCIPAL, at=at)
    sk = SigningKey.generate()
    c.vault.store(args.registrar, sk, now_us)
    reg.register(actor=ROOT_PRINCIPAL, at=at, key=key_body(sk, args.registrar, "registrar", "custodial", now_us))
    c.app.save(reg)
    tokens = TokenStore(c.engine, MetaData())
    tokens.create_tables()
    tokens.add_principal(args.registrar, [Role.REGISTRAR], name=args.registrar)
    token = tokens.issue_token(args.registrar, label="created by caseledger init")
    cp = issue_checkpoint(c, origin=settings.origin, signing_key=root, clock=system_clock)
    trust = settings.data_dir / "trust.vkey"
    trust.parent.mkdir(parents=True, exist_ok=True)
    trust.write_text(vkey(settings.origin, bytes(root.verify_key)) + "\n")
    c.engine.dispose()
    print(f"init: created an empty ledger on {args.db}: root key, registrar {args.registrar!r}, "
          f"checkpoint of size {cp.size}")
    if wrote:
        print(f"init: wrote a new master secret to {wrote} (mode 0600); it seals every custodial key. Keep it "
              "safe and out of version control; in production set CASELEDGER_MASTER_SECRET from a secret store")
    print(f"init: verifier key in {trust}")
    print(f"registrar token (shown once): {token}")
    print("next steps:\n"
          f"  caseledger verify --db {args.db} --trust {trust}\n"
          f"  caseledger serve --db {args.db}\n"
          "  register agencies, officers and enterprises with the registrar token (docs/operations/running.md)\n"
          f"  caseledger key add PRINCIPAL --role officer --db {args.db}\n"
          f"  caseledger token add PRINCIPAL --role officer --agency CODE --db {args.db}")
    return EXIT_OK


def cmd_key(args: Args) -> int:
    """``key add PRINCIPAL --role R``: a custodial key for PRINCIPAL, registered by the root key."""
    from nacl.signing import SigningKey  # noqa: PLC0415

    from api.bootstrap import ROOT_PRINCIPAL, bootstrap, system_clock  # noqa: PLC0415
    from api.settings import Settings  # noqa: PLC0415
    from ledger.application import key_body  # noqa: PLC0415
    from ledger.errors import KeyRegistryError  # noqa: PLC0415

    settings = Settings.from_env(db_url=args.db)
    if settings.master_secret is None:
        _err("key", "no master secret (CASELEDGER_MASTER_SECRET or <data dir>/master.secret): custodial keys "
                    "are sealed under it")
        return EXIT_USAGE
    c = bootstrap(settings)
    assert c.vault is not None
    try:
        c.vault.signing_key(ROOT_PRINCIPAL)  # the root key registers the new key: it must unseal
    except KeyRegistryError as e:
        _err("key", f"cannot unseal the root key with this master secret: {e}")
        return EXIT_USAGE
    try:
        c.vault.key_for(args.principal)
    except KeyRegistryError:
        pass  # no key yet: the usual case
    else:
        _err("key", f"{args.principal!r} already has a custodial key")
        return EXIT_USAGE
    now_us = system_clock()
    sk = SigningKey.generate()
    c.vault.store(args.principal, sk, now_us)
    reg = c.app.key_registry()
    reg.register(actor=ROOT_PRINCIPAL, at=datetime.fromtimestamp(now_us / 1e6, UTC),
                 key=key_body(sk, args.principal, args.role, "custodial", now_us))
    c.app.save(reg)
    print(f"key: registered a custodial {args.role} key for {args.principal!r}")
    return EXIT_OK


@click.command("init", epilog=examples("caseledger init --db postgresql+psycopg://caseledger@db/caseledger",
                                       "caseledger init --db ledger.db --registrar reg-wang"))
@db_option
@click.option("--registrar", default="registrar", show_default=True, metavar="NAME",
              help="the first registrar principal (gets a custodial key and an API token)")
def init(**params: Any) -> int:
    """Create an empty ledger: schema, root key, first registrar and token.

    Also writes the trust file (<data dir>/trust.vkey) and, if there is none, the master secret; seeds
    no demo data and prints the next steps. Exit 2 if the database already holds a ledger.
    """
    return run(cmd_init, ledger="open", **params)


@click.group("key", epilog=examples("caseledger key add p-lin --role officer --db caseledger.db"))
def key() -> None:
    """Give a principal a custodial signing key."""


@key.command("add", epilog=examples("caseledger key add p-lin --role officer",
                                    "caseledger key add p-zhao --role agency_head --db caseledger.db"))
@click.argument("principal")
@click.option("--role", required=True, type=click.Choice(KEY_ROLES), help="the role the key signs in")
@db_option
def key_add(**params: Any) -> int:
    """Give PRINCIPAL (the actor of the entries it signs) a custodial key, registered by the root key."""
    return run(cmd_key, ledger="read", key_command="add", **params)


@click.command("demo", epilog=examples("caseledger demo", "caseledger demo --db demo.db --cases 40"))
@db_option
@click.option("--cases", type=click.IntRange(min=1), default=12, show_default=True,
              help="how many inspections to seed")
def demo(**params: Any) -> int:
    """Seed a realistic demo ledger (and sign a checkpoint, writing <data dir>/trust.vkey)."""
    return run("api.demo:cmd_demo", ledger="open", **params)


@click.group("token", epilog=examples("caseledger token add p-lin --role officer --agency 11350100MB0321001G",
                                      "caseledger token revoke TOKEN"))
def token() -> None:
    """Add or revoke an API token."""


@token.command("add", epilog=examples(
    "caseledger token add p-lin --role officer --agency 11350100MB0321001G --db caseledger.db",
    "caseledger token add ent-1 --role enterprise --uscc 91350100MA2XXXXXXX --label 'portal login'"))
@click.argument("principal")
@db_option
@click.option("--role", multiple=True, type=click.Choice([r.value for r in Role]),
              help="the principal's role (repeatable; token add needs at least one)")
@click.option("--agency", default=None, metavar="CODE", help="agency code scoping the principal (a valid USCC)")
@click.option("--uscc", default=None, help="an enterprise principal's USCC")
@click.option("--name", default=None, help="the principal's display name")
@click.option("--label", default=None, help="what the token is for")
def token_add(**params: Any) -> int:
    """Print a new API token for PRINCIPAL (= ledger actor), creating the principal if needed.

    Needs at least one --role; --agency and --uscc must be valid codes. Exit 2 otherwise.
    """
    params["role"] = list(params["role"])
    return run("api.auth:cmd_token", ledger="read", action="add", **params)


@token.command("revoke", epilog=examples("caseledger token revoke 3q2x...token... --db caseledger.db"))
@click.argument("principal", metavar="TOKEN")
@db_option
def token_revoke(**params: Any) -> int:
    """Revoke TOKEN. Exit 1 if there is no such active token."""
    return run("api.auth:cmd_token", ledger="read", action="revoke", role=[], agency=None, uscc=None, name=None,
               label=None, **params)


def register(cli: click.Group) -> None:
    for command in (init, key, demo, token):
        cli.add_command(command)
