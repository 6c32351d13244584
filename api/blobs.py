"""Content-addressed evidence blobs on the filesystem (architecture §5).

Layout: ``<root>/sha256/ab/cd/<64 hex>``; the name *is* the content's SHA-256, so a blob is
written once and never changes. Uploads stream into ``<root>/tmp/`` while being hashed, are
``fsync``-ed, and are then renamed into place atomically (same filesystem). An upload that
exceeds the size limit, is aborted by the client, or fails for any reason leaves no file
behind: the temporary file is removed in a ``finally``.

Ledger entries (``inspection.evidence_logged.v1``) hold the hash, size and media type, never
the bytes. :func:`verify_blobs` checks that every blob an entry names exists and still hashes
to its name and size; ``caseledger verify --blobs`` calls it.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
_CHUNK = 1024 * 1024
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
EVIDENCE_TYPE = "inspection.evidence_logged.v1"


class BlobTooLarge(Exception):
    """The upload exceeded the store's size limit (nothing was kept)."""


class BlobEmpty(Exception):
    """The upload had no bytes (nothing was kept)."""


@dataclass(frozen=True, slots=True)
class StoredBlob:
    sha256: str
    size: int
    created: bool  #: False when identical content was already stored


def normalise_digest(value: str) -> str | None:
    """``<hex>`` or ``sha256:<hex>`` → lower-case hex; None if it is not a SHA-256 digest."""
    v = value.removeprefix("sha256:")
    v = v.lower()
    return v if _HEX64.match(v) else None


class BlobStore:
    """Filesystem blob store keyed by SHA-256."""

    def __init__(self, root: Path | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self._tmp = self.root / "tmp"

    def path_for(self, sha256: str) -> Path:
        h = normalise_digest(sha256)
        if h is None:
            msg = f"not a SHA-256 digest: {sha256!r}"
            raise ValueError(msg)
        return self.root / "sha256" / h[:2] / h[2:4] / h

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def size_of(self, sha256: str) -> int | None:
        try:
            return self.path_for(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def open(self, sha256: str) -> Iterator[bytes]:
        with self.path_for(sha256).open("rb") as f:
            while chunk := f.read(_CHUNK):
                yield chunk

    def _begin(self) -> tuple[int, str]:
        self._tmp.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(prefix="upload-", dir=self._tmp)

    def _commit(self, tmp: str, digest: str) -> bool:
        dest = self.path_for(digest)
        if dest.exists():
            return False
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o444)  # noqa: PTH101
        os.replace(tmp, dest)  # atomic on one filesystem; identical content if raced  # noqa: PTH105 - tmp and dest are str paths; os.replace is the atomic rename
        return True

    async def put_stream(self, chunks: AsyncIterator[bytes], *, expected_sha256: str | None = None) -> StoredBlob:
        """Stream ``chunks`` into the store, hashing as they arrive.

        Raises:
            BlobTooLarge: more than ``max_bytes`` arrived (nothing is kept).
            ValueError: ``expected_sha256`` was given and the content hashes differently.
            Any error of the stream (e.g. the client disconnecting): nothing is kept.
        """
        fd, tmp = self._begin()
        h = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as f:
                async for chunk in chunks:
                    if not chunk:
                        continue
                    size += len(chunk)
                    if size > self.max_bytes:
                        msg = f"upload exceeds {self.max_bytes} bytes"
                        raise BlobTooLarge(msg)
                    h.update(chunk)
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            if size == 0:
                msg = "an evidence file cannot be empty"
                raise BlobEmpty(msg)
            digest = h.hexdigest()
            if expected_sha256 is not None and normalise_digest(expected_sha256) != digest:
                msg = f"content hashes to {digest}, not {expected_sha256}"
                raise ValueError(msg)
            created = self._commit(tmp, digest)
            return StoredBlob(digest, size, created)
        finally:
            Path(tmp).unlink(missing_ok=True)  # noqa: ASYNC240 - cleanup of a local temp file on the error path

    def put_bytes(self, data: bytes) -> StoredBlob:
        """Store ``data`` (tests, demo)."""
        if len(data) > self.max_bytes:
            msg = f"blob exceeds {self.max_bytes} bytes"
            raise BlobTooLarge(msg)
        fd, tmp = self._begin()
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            digest = hashlib.sha256(data).hexdigest()
            return StoredBlob(digest, len(data), self._commit(tmp, digest))
        finally:
            Path(tmp).unlink(missing_ok=True)

    def temp_files(self) -> list[Path]:
        return sorted(self._tmp.glob("*")) if self._tmp.exists() else []


# --------------------------------------------------------------------------- verification

@dataclass(frozen=True, slots=True)
class BlobProblem:
    case: str
    n: int
    evidence_id: str
    sha256: str
    problem: str  #: "missing", "size_mismatch", "hash_mismatch", "bad_digest"
    expected: str
    actual: str


@dataclass
class BlobReport:
    checked: int = 0
    ok: int = 0
    problems: list[BlobProblem] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def _hash_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def check_blob(store: BlobStore, sha256: str, size: int) -> tuple[str, str, str] | None:
    """None if the blob exists, hashes to ``sha256`` and has ``size`` bytes; else (problem, expected, actual)."""
    digest = normalise_digest(sha256)
    if digest is None:
        return ("bad_digest", "sha256 hex", sha256)
    path = store.path_for(digest)
    if not path.is_file():
        return ("missing", str(path), "no file")
    actual, actual_size = _hash_file(path)
    if actual != digest:
        return ("hash_mismatch", digest, actual)
    if actual_size != size:
        return ("size_mismatch", str(size), str(actual_size))
    return None


def verify_blobs(store: BlobStore, refs: Iterable[tuple[str, int, str, str, int]]) -> BlobReport:
    """Check every ``(case, n, evidence_id, sha256, size)`` reference against the store."""
    report = BlobReport()
    for case, n, evidence_id, sha256, size in refs:
        report.checked += 1
        bad = check_blob(store, sha256, size)
        if bad is None:
            report.ok += 1
        else:
            report.problems.append(BlobProblem(case, n, evidence_id, sha256, *bad))
    return report


def evidence_refs(engine: object) -> Iterator[tuple[str, int, str, str, int]]:
    """``(case, n, evidence_id, sha256, size)`` of every evidence entry in the ledger database."""
    from sqlalchemy import Engine  # noqa: PLC0415

    from ledger.audit import events_table, stream_rows  # noqa: PLC0415
    from ledger.chain import decode_entry, decode_record  # noqa: PLC0415

    assert isinstance(engine, Engine)
    table = events_table(engine)
    for _pos, case, n, state in stream_rows(engine, table, registry=False):
        data, _sig = decode_record(state)
        entry = decode_entry(data)
        if entry.type != EVIDENCE_TYPE:
            continue
        body = entry.body
        yield case, n, str(body.get("evidence_id", "")), str(body.get("sha256", "")), int(body.get("size", -1))


def verify_ledger_blobs(engine: object, root: Path | str) -> BlobReport:
    """What ``caseledger verify --blobs`` runs: every evidence entry's blob exists and matches."""
    return verify_blobs(BlobStore(root), evidence_refs(engine))


__all__ = ["DEFAULT_MAX_BYTES", "BlobEmpty", "BlobProblem", "BlobReport", "BlobStore", "BlobTooLarge", "StoredBlob",
           "check_blob", "evidence_refs", "normalise_digest", "verify_blobs", "verify_ledger_blobs"]
