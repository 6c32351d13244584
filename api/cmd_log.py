"""``caseledger checkpoint``, ``export`` and ``verify-bundle`` (registered in api/cli.py).

Exit codes: 0 ok, 1 verification failed (or equivocation found), 2 usage or connection error.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from api.clikit import Args, db_option, examples, json_option, run

if TYPE_CHECKING:
    from nacl.signing import SigningKey

    from api.bootstrap import Container
    from api.settings import Settings

EXIT_OK, EXIT_BAD, EXIT_USAGE = 0, 1, 2


def _err(command: str, message: str) -> None:
    print(f"caseledger {command}: {message}", file=sys.stderr)


def _sqlite_path(db_url: str) -> Path | None:
    """The file behind a ``sqlite:///`` URL (None for other URLs and in-memory databases)."""
    if not db_url.startswith("sqlite:///") or ":memory:" in db_url:
        return None
    return Path(db_url[len("sqlite:///"):].split("?", 1)[0])


def _settings(command: str, db_url: str) -> Settings | None:
    from api.settings import Settings  # noqa: PLC0415 - pydantic: only when a command runs
    from ledger.errors import UsageError  # noqa: PLC0415

    path = _sqlite_path(db_url)
    if path is not None and not path.exists():
        _err(command, f"no ledger at {db_url} (file {path} does not exist)")
        return None
    try:
        return Settings.from_env(db_url=db_url)
    except UsageError as e:
        _err(command, str(e))
        return None


def _container(command: str, settings: Settings) -> Container | None:
    """The container, or None after printing why the ledger cannot be opened."""
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    from api.bootstrap import bootstrap  # noqa: PLC0415
    from ledger.errors import LedgerError, UsageError  # noqa: PLC0415

    try:
        return bootstrap(settings)
    except (SQLAlchemyError, LedgerError, UsageError) as e:
        _err(command, f"cannot open the ledger at {settings.db_url}: {type(e).__name__}: {e}".splitlines()[0])
        return None


def _no_secret(command: str) -> None:
    _err(command, "CASELEDGER_MASTER_SECRET is not set: the ledger (root) key that signs checkpoints is "
                  "held in the custodial vault, sealed under that secret")


def _ledger_key(command: str, container: Container) -> SigningKey | None:
    from ledger.errors import KeyRegistryError, UsageError  # noqa: PLC0415

    try:
        return container.ledger_key()
    except (UsageError, KeyRegistryError) as e:
        _err(command, f"cannot unseal the ledger key: {e}")
        return None


def cmd_checkpoint(args: Args) -> int:
    """Sign a checkpoint of the Merkle log now, store it and print the note.

    With ``--print-vkey`` print the ledger key's verifier key (the trust-file line) instead;
    with ``--vkey-out FILE`` also write it to FILE.
    """
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    from api.bootstrap import system_clock  # noqa: PLC0415
    from ledger.bundle_export import issue_checkpoint  # noqa: PLC0415
    from ledger.checkpoint import vkey  # noqa: PLC0415
    from ledger.errors import EquivocationError  # noqa: PLC0415

    settings = _settings("checkpoint", args.db)
    if settings is None:
        return EXIT_USAGE
    if settings.master_secret is None:
        _no_secret("checkpoint")
        return EXIT_USAGE
    container = _container("checkpoint", settings)
    key = None if container is None else _ledger_key("checkpoint", container)
    if container is None or key is None:
        return EXIT_USAGE
    trust_line = vkey(settings.origin, bytes(key.verify_key))
    vkey_out = getattr(args, "vkey_out", None)
    if vkey_out:
        Path(vkey_out).write_text(f"# CaseLedger checkpoint key of {settings.origin}\n{trust_line}\n", encoding="utf-8")
    if getattr(args, "print_vkey", False):
        print(trust_line)
        return EXIT_OK
    try:
        cp = issue_checkpoint(container, origin=settings.origin, signing_key=key, clock=system_clock)
    except EquivocationError as e:
        _err("checkpoint", f"EQUIVOCATION: {e} (expected root {e.expected}, log root {e.actual})")
        return EXIT_BAD
    except SQLAlchemyError as e:
        _err("checkpoint", f"database error: {e}".splitlines()[0])
        return EXIT_USAGE
    print(f"checkpoint of size {cp.size}{'' if cp.stored else ' (already stored)'}; verifier key: {trust_line}",
          file=sys.stderr)
    return _witness(container, getattr(args, "witnesses", None))


def _witness(container: Container, path: str | None) -> int:
    """Submit the latest checkpoint to the configured witnesses; print it with their cosignatures.

    Exit 1 if a witness did not cosign (it refused, e.g. a fork, or could not be reached): the
    checkpoint itself is stored either way.
    """
    from api.bootstrap import system_clock  # noqa: PLC0415
    from api.witness_client import submit_configured  # noqa: PLC0415
    from ledger.errors import UsageError  # noqa: PLC0415

    try:
        outcomes = submit_configured(container, clock=system_clock, path=path)
    except UsageError as e:
        _err("checkpoint", f"checkpoint stored, but {e}")
        return EXIT_USAGE
    with container.engine.connect() as conn:
        latest = container.merkle.latest_checkpoint(conn)
        assert latest is not None
        print(container.merkle.cosigned_note(conn, latest), end="")
    for o in outcomes:
        print(f"witness {o.witness}: {'cosigned' if o.cosigned else 'DID NOT COSIGN'}: {o.detail}", file=sys.stderr)
    return EXIT_OK if all(o.cosigned for o in outcomes) else EXIT_BAD


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path())
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cmd_export(args: Args) -> int:
    """Write the court bundle of ``args.case_id`` to ``args.output``.

    If CASELEDGER_MASTER_SECRET is set, the manifest is signed with the ledger key and the bundle
    is verified against that key before it is written.
    """
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    from ledger.bundle_export import export_bundle  # noqa: PLC0415
    from ledger.checkpoint import vkey  # noqa: PLC0415
    from ledger.errors import UsageError, VerificationError  # noqa: PLC0415

    settings = _settings("export", args.db)
    container = None if settings is None else _container("export", settings)
    if settings is None or container is None:
        return EXIT_USAGE
    signer: tuple[str, SigningKey] | None = None
    trusted: tuple[str, ...] = ()
    if settings.master_secret is not None:
        key = _ledger_key("export", container)
        if key is None:
            return EXIT_USAGE
        signer = (settings.origin, key)
        trusted = (vkey(settings.origin, bytes(key.verify_key)),)
    try:
        out = export_bundle(container, args.case_id, signer=signer, trusted=trusted)
    except UsageError as e:
        _err("export", str(e))
        return EXIT_USAGE
    except VerificationError as e:
        _err("export", f"refusing to export: {e} (expected {e.expected}, actual {e.actual})")
        return EXIT_BAD
    except SQLAlchemyError as e:
        _err("export", f"database error: {e}".splitlines()[0])
        return EXIT_USAGE
    try:
        _write_atomically(Path(args.output), out.data)
    except OSError as e:
        _err("export", f"cannot write {args.output}: {e}")
        return EXIT_USAGE
    print(f"wrote {args.output}: case {out.case}, {out.entries} entries, {out.keys} key-registry entries, "
          f"checkpoint size {out.checkpoint_size}, {len(out.data)} bytes"
          f"{', manifest signed' if out.signed else ', manifest unsigned (no CASELEDGER_MASTER_SECRET)'}")
    return EXIT_OK


def cmd_verify_bundle(args: Args) -> int:
    """Verify a bundle file offline against ``--trust``; print the numbered step report and, when it
    verifies, each deadline with the calendar behind it, recomputed from the bundle alone."""
    import json  # noqa: PLC0415

    from ledger import bundle, bundle_deadlines, bundle_evidence  # noqa: PLC0415
    from ledger.errors import UsageError  # noqa: PLC0415
    from ledger.limits import DEFAULT_LIMITS  # noqa: PLC0415
    from ledger.trust import parse_policy  # noqa: PLC0415

    try:
        with Path(args.file).open("rb") as f:  # no more than the verifier would accept
            data = f.read(DEFAULT_LIMITS.max_bundle_bytes + 1)
        trusted = parse_policy(Path(args.trust).read_text(encoding="utf-8"))
        report = bundle.verify_bundle(data, trusted)
    except (OSError, UnicodeDecodeError, UsageError) as e:
        _err("verify-bundle", str(e))
        return EXIT_USAGE
    verified = bundle.load_verified_bundle(data, trusted) if report.ok else None
    rows = bundle_deadlines.deadlines(verified) if verified is not None else []
    evidence = bundle_evidence.evidence_items(verified) if verified is not None else {}
    disagree = any(r["status"] == "DISAGREES" for r in rows)
    if getattr(args, "json", False):
        print(json.dumps({**report.as_dict(), "deadlines": rows, "evidence_items": evidence}, ensure_ascii=False,
                         default=str))
    else:
        print(report.text())
        if report.ok:
            print(bundle_deadlines.text(rows))
            print(bundle_evidence.text(evidence))
    return EXIT_OK if report.ok and not disagree else EXIT_BAD


def cmd_export_draw(args: Args) -> int:
    """Write a 双随机 draw for anyone to recompute (R14; issue 18): ``draw.json`` (the record and the
    draw's signed entries) and ``pool.txt`` (the canonical list: one member per line, sorted by
    UTF-8 bytes — for a pool committed by hash, the blob it names). The selection is recomputed
    from them before they are written; exit 1 if it does not agree."""
    import hashlib  # noqa: PLC0415
    import json  # noqa: PLC0415

    from api.blobs import BlobStore  # noqa: PLC0415
    from domain.errors import DomainError  # noqa: PLC0415
    from domain.random_draw import pool_blob_bytes, pool_from_blob, verify_draw  # noqa: PLC0415
    from ledger.chain import decode_record  # noqa: PLC0415
    from ledger.hashing import entry_hash  # noqa: PLC0415

    settings = _settings("export-draw", args.db)
    container = None if settings is None else _container("export-draw", settings)
    if settings is None or container is None:
        return EXIT_USAGE
    app = container.app
    try:
        draw = app.get_random_draw(agency_code=args.agency_code, draw_no=args.draw_no)
    except DomainError as e:
        _err("export-draw", str(e))
        return EXIT_USAGE
    if draw.pool_blob is None:
        pool, blob = tuple(draw.pool), pool_blob_bytes(draw.pool)
    else:
        store = BlobStore(Path(settings.data_dir) / "blobs")
        if store.size_of(draw.pool_blob) is None:
            _err("export-draw", f"the pool blob {draw.pool_blob} is missing from {store.root}")
            return EXIT_BAD
        blob = b"".join(store.open(draw.pool_blob))
        if hashlib.sha256(blob).hexdigest() != draw.pool_blob:
            _err("export-draw", f"the stored pool blob does not hash to {draw.pool_blob}")
            return EXIT_BAD
        pool = pool_from_blob(blob)
    try:
        if draw.performed:
            assert draw.seed is not None
            verify_draw(pool=pool, seed=draw.seed, count=draw.count, selected=draw.selected, pool_hash=draw.pool_hash)
    except DomainError as e:
        _err("export-draw", f"the draw does not recompute: {e}")
        return EXIT_BAD
    entries = []
    for stored in app.recorder.select_events(draw.id):
        data, sig = decode_record(stored.state)
        entries.append({"n": stored.originator_version, "type": stored.topic, "entry_hash": entry_hash(data).hex(),
                        "entry": data.hex(), "sig": sig.hex()})
    record = {"agency_code": draw.agency_code, "draw_no": draw.draw_no, "purpose": draw.purpose,
              "algorithm": "caseledger.draw.sha256-ctr.v1", "pool_hash": draw.pool_hash, "pool_size": len(pool),
              "pool_blob": hashlib.sha256(blob).hexdigest(), "seed": draw.seed, "count": draw.count,
              "selected": list(draw.selected), "entries": entries}
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "pool.txt").write_bytes(blob)
    (out / "draw.json").write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"exported draw {draw.ref} to {out}: {len(pool)} members, "
          f"{'recomputed and agrees' if draw.performed else 'not yet performed'}")
    return EXIT_OK


@click.command("checkpoint", epilog=examples("caseledger checkpoint --db caseledger.db",
                                             "caseledger checkpoint --print-vkey",
                                             "caseledger checkpoint --vkey-out trust.vkey",
                                             "caseledger checkpoint --witnesses witnesses.trust"))
@db_option
@click.option("--print-vkey", is_flag=True, default=False, help="print the ledger's verifier key and exit")
@click.option("--vkey-out", default=None, metavar="FILE", help="also write the verifier key line to FILE")
@click.option("--witnesses", default=None, metavar="FILE",
              help="submit the checkpoint to the witnesses FILE lists (`witness <vkey> <url>` lines; "
                   "default: CASELEDGER_WITNESSES)")
def checkpoint(**params: Any) -> int:
    """Sign a new checkpoint of the Merkle log (needs the master secret) and submit it to the witnesses.

    Exit 1: equivocation found, or a witness did not cosign (the checkpoint is stored either way).
    """
    return run(cmd_checkpoint, ledger="read", **params)


@click.command("export", epilog=examples("caseledger export CASE -o case.bundle --db caseledger.db"))
@click.argument("case_id")
@db_option
@click.option("-o", "--output", required=True, metavar="FILE", help="the bundle file to write")
def export(**params: Any) -> int:
    """Export one case as an offline court bundle."""
    return run(cmd_export, ledger="read", **params)


@click.command("verify-bundle", epilog=examples("caseledger verify-bundle case.bundle --trust trust.vkey",
                                                "caseledger verify-bundle case.bundle --trust trust.vkey --json"))
@click.argument("file")
@click.option("--trust", required=True, metavar="FILE",
              help="trust file: the checkpoint verifier key(s), or a policy with witness keys and a quorum (spec 04)")
@json_option
def verify_bundle(**params: Any) -> int:
    """Verify a court bundle offline (no database). Exit 1: the bundle does not verify."""
    return run(cmd_verify_bundle, ledger="none", **params)


@click.command("export-draw", epilog=examples(
    "caseledger export-draw 11350100MB0321001G 2025-03 -o draw-2025-03/ --db caseledger.db"))
@click.argument("agency_code")
@click.argument("draw_no")
@db_option
@click.option("-o", "--output", required=True, metavar="DIR", help="directory for draw.json and pool.txt")
def export_draw(**params: Any) -> int:
    """Export a 双随机 draw and its canonical pool for recomputation. Exit 1: it does not recompute."""
    return run(cmd_export_draw, ledger="open", **params)


def register(cli: click.Group) -> None:
    for command in (checkpoint, export, verify_bundle, export_draw):
        cli.add_command(command)
