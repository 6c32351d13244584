"""A C2SP tlog-tiles client: proofs from tiles alone, checked against a signed checkpoint.

Reads a tiled log (``caseledger serve`` at its root URL, or a directory written by ``caseledger
tiles export``, or any C2SP tlog-tiles log whose leaves are CaseLedger leaves), verifies its
checkpoint with the trusted log key, and computes RFC 9162 inclusion and consistency proofs from
hash tiles, each checked against the checkpoint's root before it is returned. It needs no proof
endpoint and trusts nothing the server says beyond what the signature and the hashes prove.

Standalone, like :mod:`ledger.bundle`: the standard library (``urllib`` for HTTP), PyNaCl and the
ledger's pure modules only. Usage::

    python -m ledger.tile_client URL_OR_DIR --trust TRUSTFILE [--entry INDEX ...] [--from SIZE] [--json]
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ledger import merkle
from ledger.checkpoint import NoteVerifier, VerifiedCheckpoint
from ledger.errors import LedgerError, UsageError
from ledger.limits import DEFAULT_LIMITS
from ledger.tiles import TILE_WIDTH, Tile, TileError, TileHashes, decode_bundle, tile_width
from ledger.trust import TrustPolicy, as_policy, parse_policy

MAX_RESOURCE_BYTES = 1 << 24
"""Refuse any fetched resource over 16 MiB (a full entry bundle of 64 KiB entries is exactly 16 MiB + 512)."""


class TileSource(Protocol):
    """Where tiles come from: ``get("checkpoint")``, ``get("tile/0/x001/234")`` ... as bytes."""

    def get(self, path: str) -> bytes:
        """The resource's bytes; :class:`TileError` ``E_TILE_NOT_FOUND`` if it does not exist."""
        ...


class DirectorySource:
    """Tiles as files below a directory (``caseledger tiles export`` output, a mirror)."""

    def __init__(self, root: str | Path) -> None:
        """Read below ``root``."""
        self.root = Path(root)

    def get(self, path: str) -> bytes:
        """The file at ``root/path``."""
        p = self.root / path
        try:
            if p.stat().st_size > MAX_RESOURCE_BYTES:
                msg = f"{path} is larger than {MAX_RESOURCE_BYTES} bytes"
                raise TileError(msg, code="E_TILE_SHAPE")
            return p.read_bytes()
        except FileNotFoundError:
            msg = f"{path} is not in {self.root}"
            raise TileError(msg, code="E_TILE_NOT_FOUND") from None


class HttpSource:
    """Tiles over HTTP(S) below a URL prefix (``urllib``; gzip-encoded answers are decoded)."""

    def __init__(self, prefix: str, *, timeout: float = 30.0) -> None:
        """Fetch ``prefix/path``; ``prefix`` is the log's URL prefix (e.g. ``https://ledger.example``)."""
        if not prefix.startswith(("http://", "https://")):
            msg = f"not an http(s) URL: {prefix!r}"
            raise UsageError(msg)
        self.prefix = prefix.rstrip("/")
        self.timeout = timeout
        self.requests = 0

    def get(self, path: str) -> bytes:
        """GET ``prefix/path``; 404 is :class:`TileError` ``E_TILE_NOT_FOUND``."""
        import gzip  # noqa: PLC0415 - only for compressed answers

        req = urllib.request.Request(f"{self.prefix}/{path}",  # noqa: S310 - the scheme is checked in __init__
                                     headers={"Accept-Encoding": "gzip, identity"})
        self.requests += 1
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - the scheme is checked in __init__
                data = resp.read(MAX_RESOURCE_BYTES + 1)
                encoding = resp.headers.get("Content-Encoding", "identity")
        except urllib.error.HTTPError as e:
            code = "E_TILE_NOT_FOUND" if e.code == 404 else "E_TILE_FETCH"  # noqa: PLR2004 - HTTP 404
            msg = f"GET {self.prefix}/{path}: HTTP {e.code}"
            raise TileError(msg, code=code) from None
        except (urllib.error.URLError, OSError) as e:
            msg = f"GET {self.prefix}/{path}: {e}"
            raise TileError(msg, code="E_TILE_FETCH") from None
        if len(data) > MAX_RESOURCE_BYTES:
            msg = f"{path} is larger than {MAX_RESOURCE_BYTES} bytes"
            raise TileError(msg, code="E_TILE_SHAPE")
        return gzip.decompress(data) if encoding == "gzip" else data


def open_source(where: str) -> TileSource:
    """An :class:`HttpSource` for an http(s) URL, else a :class:`DirectorySource`."""
    if where.startswith(("http://", "https://")):
        return HttpSource(where)
    if not Path(where).is_dir():
        msg = f"{where} is neither an http(s) URL nor a directory"
        raise UsageError(msg)
    return DirectorySource(where)


@dataclass(frozen=True, slots=True)
class VerifiedEntry:
    """A leaf's data from its entry bundle, hashed into its tile and proven into the checkpoint."""

    index: int
    leaf_data: bytes
    leaf_hash: bytes
    proof: tuple[bytes, ...]


class TileClient:
    """Verify a tiled log's checkpoint, then answer proofs from its tiles (see the module docstring)."""

    def __init__(self, source: TileSource, trusted: TrustPolicy | Sequence[NoteVerifier | str], *,
                 origin: str | None = None) -> None:
        """Read ``source``; checkpoints must satisfy ``trusted`` (log keys, or a policy with a witness
        quorum, spec 04) and name ``origin``."""
        self.source = source
        self.trusted = as_policy(trusted)
        self.origin = origin
        self._tiles: dict[int, TileHashes] = {}

    def checkpoint(self) -> VerifiedCheckpoint:
        """Fetch and verify ``<prefix>/checkpoint`` (spec 06 steps 4.1-4.7)."""
        note = self.source.get("checkpoint")
        if len(note) > DEFAULT_LIMITS.max_note_bytes:
            msg = f"checkpoint is {len(note)} bytes, over {DEFAULT_LIMITS.max_note_bytes}"
            raise TileError(msg, code="E_TILE_SHAPE")
        return self.trusted.verify(note, origin=self.origin)

    def hashes(self, cp: VerifiedCheckpoint) -> TileHashes:
        """The tile reader for the tree ``cp`` names (one per size, tiles cached)."""
        if not isinstance(cp, VerifiedCheckpoint):
            msg = "pass a checkpoint from TileClient.checkpoint() or verify_checkpoint()"
            raise UsageError(msg)
        got = self._tiles.get(cp.size)
        if got is None:
            got = self._tiles[cp.size] = TileHashes(cp.size, lambda t: self.source.get(t.path))
        return got

    def inclusion_proof(self, cp: VerifiedCheckpoint, index: int, size: int | None = None) -> list[bytes]:
        """The inclusion proof of leaf ``index`` in the tree of ``size`` leaves (default: ``cp.size``).

        At ``cp.size`` the proof is checked against the checkpoint's root before it is returned
        (steps 3.1-3.5); for an older size the caller checks it against that size's root.
        """
        th = self.hashes(cp)
        size = cp.size if size is None else size
        proof: list[bytes] = list(th.inclusion_proof(index, size))
        if size == cp.size:
            merkle.verify_inclusion(index, size, th.leaf_hash(index), proof, cp.root)
        return proof

    def consistency_proof(self, cp: VerifiedCheckpoint, size1: int, size2: int | None = None) -> list[bytes]:
        """The consistency proof from ``size1`` to ``size2`` (default: ``cp.size``).

        At ``size2 == cp.size`` it is checked (steps 3.6-3.12) with the older root computed from the
        same tiles and the checkpoint's root; an older size pair is returned unchecked.
        """
        th = self.hashes(cp)
        size2 = cp.size if size2 is None else size2
        proof: list[bytes] = list(th.consistency_proof(size1, size2))
        if size2 == cp.size:
            merkle.verify_consistency(size1, size2, proof, th.root(size1), cp.root)
        return proof

    def root(self, cp: VerifiedCheckpoint, size: int | None = None) -> bytes:
        """The root of the first ``size`` leaves from tiles; at ``cp.size`` it must equal the checkpoint's."""
        th = self.hashes(cp)
        got: bytes = th.root(size)
        if (size is None or size == cp.size) and got != cp.root:
            msg = "the tiles do not hash to the checkpoint's root"
            raise TileError(msg, code="E_TILE_SHAPE")
        return got

    def entry(self, cp: VerifiedCheckpoint, index: int) -> VerifiedEntry:
        """Leaf ``index``'s data from its entry bundle, checked against its tile hash and proven into ``cp``."""
        th = self.hashes(cp)
        if not 0 <= index < cp.size:
            msg = f"leaf {index} is not in the checkpoint's tree of {cp.size} leaves"
            raise TileError(msg, code="E_TILE_NOT_FOUND")
        n, off = divmod(index, TILE_WIDTH)
        width = tile_width(0, n, cp.size)
        data = decode_bundle(self.source.get(Tile(None, n, width).path), width)[off]
        want = th.leaf_hash(index)
        got = merkle.leaf_hash(data)
        if got != want:
            msg = f"entry {index} of its bundle does not hash to its level-0 tile"
            raise TileError(msg, code="E_TILE_SHAPE")
        proof = self.inclusion_proof(cp, index)
        return VerifiedEntry(index, data, got, tuple(proof))


def _load_trust(path: str) -> TrustPolicy:
    return parse_policy(Path(path).read_text(encoding="utf-8"))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ledger.tile_client``: exit 0 when everything asked for verified, 1 otherwise."""
    p = argparse.ArgumentParser(prog="python -m ledger.tile_client",
                                description="verify a tiled log's checkpoint and compute proofs from its tiles")
    p.add_argument("where", help="the log's URL prefix (http[s]://...) or a directory of exported tiles")
    p.add_argument("--trust", required=True,
                   help="trust file: the log key, or a policy with witness keys and a quorum (spec 04)")
    p.add_argument("--entry", type=int, action="append", default=[], metavar="INDEX",
                   help="prove leaf INDEX into the checkpoint (from its entry bundle); repeatable")
    p.add_argument("--from", dest="older", type=int, default=None, metavar="SIZE",
                   help="prove the checkpoint's tree extends the tree of SIZE leaves")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    out: dict[str, Any] = {"ok": False}
    try:
        client = TileClient(open_source(args.where), _load_trust(args.trust))
        cp = client.checkpoint()
        out.update(origin=cp.origin, size=cp.size, root=base64.b64encode(cp.root).decode())
        if cp.size:
            client.root(cp)
        out["entries"] = [{"index": e.index, "leaf_hash": base64.b64encode(e.leaf_hash).decode(),
                           "leaf_data": base64.b64encode(e.leaf_data).decode()}
                          for e in (client.entry(cp, i) for i in args.entry)]
        if args.older is not None:
            out["consistency"] = {"from": args.older, "root": base64.b64encode(
                client.hashes(cp).root(args.older)).decode(), "proof": [
                base64.b64encode(h).decode() for h in client.consistency_proof(cp, args.older)]}
        out["ok"] = True
    except (LedgerError, UsageError, OSError) as e:
        out["error"] = {"code": getattr(e, "code", "E_USAGE"), "message": str(e)}
    if args.json:
        print(json.dumps(out, ensure_ascii=False))  # noqa: T201 - command-line output
    elif out["ok"]:
        print(f"OK: checkpoint of {out['origin']} at size {out['size']}, root {out['root']} "  # noqa: T201
              f"(signature and tiles verified); {len(out['entries'])} entries proven")
    else:
        print(f"FAILED: {out['error']['code']}: {out['error']['message']}", file=sys.stderr)  # noqa: T201
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["DirectorySource", "HttpSource", "TileClient", "TileSource", "VerifiedEntry", "main", "open_source"]
