"""``caseledger tiles export DIR [--since CHECKPOINT]``: the log as static C2SP tlog-tiles files.

Writes ``DIR/tile/<L>/<N>[.p/<W>]``, ``DIR/tile/entries/<N>[.p/<W>]`` and, last, ``DIR/checkpoint``:
the same bytes ``caseledger serve`` answers at ``/tile/...`` and ``/checkpoint``, for the latest
stored checkpoint's tree, ready to copy to object storage (docs/operations/tiles.md).

Incremental: with ``--since OLD`` (the checkpoint file of an earlier export, e.g. ``DIR/checkpoint``
before this run) only the tiles that tree did not have are written: tiles that have become full
since, and each level's new partial tile. A full tile whose file exists is never rewritten, with
or without ``--since``. Every file is written to a temporary name and renamed, and the checkpoint
goes last, so a reader never sees a checkpoint whose tiles are missing.

Exit codes: 0 ok, 2 usage error (no checkpoint yet, ``--since`` not a checkpoint of this log, I/O).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from api.clikit import Args, db_option, examples, json_option, run

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from api.bootstrap import Container

EXIT_OK, EXIT_USAGE = 0, 2


@dataclass
class ExportResult:
    """What an export wrote."""

    size: int
    since: int
    written: list[str] = field(default_factory=list)
    kept: int = 0  # full tiles already present, not rewritten


def _write(path: Path, data: bytes) -> None:
    from api.cmd_log import _write_atomically  # noqa: PLC0415 - the one temp-file-and-rename writer

    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(path, data)


def _since_size(conn: Connection, container: Container, note: str, origin: str) -> int:
    """The size of an older checkpoint of *this* log (its root must be the log's root at its size)."""
    from ledger.checkpoint import parse_checkpoint_body, parse_note  # noqa: PLC0415
    from ledger.errors import LedgerError, UsageError  # noqa: PLC0415

    try:
        cp_origin, size, root, _ = parse_checkpoint_body(parse_note(note).body)
    except LedgerError as e:
        msg = f"--since is not a checkpoint note: {e}"
        raise UsageError(msg) from None
    if cp_origin != origin:
        msg = f"--since is a checkpoint of {cp_origin!r}, not of this log ({origin!r})"
        raise UsageError(msg)
    store = container.merkle
    if size > store.size(conn) or store.root(conn, size) != root:
        msg = f"--since names a tree of size {size} that this log does not have (another root): not exporting"
        raise UsageError(msg)
    return size


def export_tiles(container: Container, out: Path, *, since_note: str | None = None) -> ExportResult:
    """Write the tiles of the latest stored checkpoint's tree below ``out`` (see the module docstring).

    Raises:
        UsageError: no checkpoint yet, the checkpoint does not match the log, or ``since_note`` is
            not a checkpoint of this log at a size it has.
    """
    from ledger.errors import UsageError  # noqa: PLC0415
    from ledger.tile_store import LedgerTiles  # noqa: PLC0415
    from ledger.tiles import bundles_for_size, tiles_for_size  # noqa: PLC0415

    tiles = LedgerTiles(container.merkle)
    with container.engine.connect() as conn:
        cp = tiles.checkpoint(conn)
        if cp is None:
            msg = "no checkpoint has been signed yet: run `caseledger checkpoint` first"
            raise UsageError(msg)
        if container.merkle.size(conn) < cp.size or container.merkle.root(conn, cp.size) != cp.root:
            msg = "the latest stored checkpoint does not match the log: run `caseledger verify`"
            raise UsageError(msg)
        origin = cp.note.split("\n", 1)[0]
        since = 0 if since_note is None else _since_size(conn, container, since_note, origin)
        if since > cp.size:
            msg = f"--since names size {since}, beyond the latest checkpoint's {cp.size}"
            raise UsageError(msg)
        result = ExportResult(cp.size, since)
        for t in [*tiles_for_size(cp.size, since=since), *bundles_for_size(cp.size, since=since)]:
            path = out / t.path
            if t.full and path.exists():
                result.kept += 1
                continue
            _write(path, tiles.get(conn, t, cp.size).data)
            result.written.append(t.path)
        note = container.merkle.cosigned_note(conn, cp)  # with the witnesses' cosignatures (spec 04)
    _write(out / "checkpoint", note.encode("utf-8"))
    result.written.append("checkpoint")
    return result


def cmd_tiles(args: Args) -> int:
    from api.cmd_log import _container, _settings  # noqa: PLC0415
    from ledger.errors import UsageError  # noqa: PLC0415

    settings = _settings("tiles", args.db)
    container = None if settings is None else _container("tiles", settings)
    if container is None:
        return EXIT_USAGE
    try:
        since_note = None if args.since is None else Path(args.since).read_text(encoding="utf-8")
        result = export_tiles(container, Path(args.dir), since_note=since_note)
    except (OSError, UnicodeDecodeError) as e:
        print(f"caseledger tiles: {e}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as e:
        print(f"caseledger tiles: {e}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps({"size": result.size, "since": result.since, "written": result.written,
                          "kept": result.kept}))
    else:
        print(f"exported the tree of size {result.size} to {args.dir}: {len(result.written)} files written "
              f"(since size {result.since}), {result.kept} full tiles already present and kept")
    return EXIT_OK


@click.group("tiles", epilog=examples("caseledger tiles export ./tiles --db caseledger.db",
                                      "caseledger tiles export ./tiles --since ./last-exported.checkpoint"))
def tiles() -> None:
    """The log as static C2SP tlog-tiles files (docs/operations/tiles.md)."""


@tiles.command("export", epilog=examples("caseledger tiles export ./tiles --db caseledger.db",
                                         "caseledger tiles export ./tiles --since ./tiles/checkpoint --json"))
@click.argument("dir")
@click.option("--since", default=None, metavar="CHECKPOINT",
              help="a checkpoint note of an earlier export: write only what changed since that tree")
@db_option
@json_option
def export(**params: Any) -> int:
    """Write the log as static tiles (C2SP tlog-tiles) for object storage."""
    return run(cmd_tiles, ledger="read", **params)


def register(cli: click.Group) -> None:
    cli.add_command(tiles)
